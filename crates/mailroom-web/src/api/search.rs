//! `GET /api/v1/search`: the search box's language over the caller's mail, conversations best
//! first with the matched words marked, and how many messages match.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use mailroom_domain::search::{Plan, Query, text::Piece};
use mailroom_store::SearchCursor;
use serde::Serialize;

use super::messages::MessageJson;
use super::{ApiError, ApiUser, bool_param, cursor_number, cursor_time, limit_param, query_param};
use crate::AppState;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;
/// Longest query, in characters: far more than anyone types, and a bound on the work one query asks.
const QUERY_MAX: usize = 1000;

#[derive(Serialize)]
struct HitJson {
    #[serde(flatten)]
    message: MessageJson,
    /// Messages in the conversation.
    conversation_size: i64,
    /// The subject and a piece of the body, HTML-escaped, with the matched words in `<mark>`.
    subject_html: String,
    snippet_html: String,
    /// 1 when the words are in the subject, the people or the file names; 2 when only in the body.
    tier: u8,
}

#[derive(Serialize)]
struct SearchJson {
    /// The query as understood, written back in the language.
    query: String,
    /// Messages matching (a conversation may hold several), when asked for with `count=true`:
    /// counting every match costs more than a page.
    total: Option<i64>,
    conversations: Vec<HitJson>,
    next_cursor: Option<String>,
}

/// Pieces as HTML: every piece escaped, the matched ones in `<mark>`.
pub(crate) fn marked_html(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| {
            let text = mailroom_mime::escape_html(&p.text);
            if p.matched { format!("<mark>{text}</mark>") } else { text }
        })
        .collect()
}

/// A cursor of search results, `tier.received_at.id`, exactly as the document's pattern says: any
/// such place is taken (the results after it), and nothing else is.
fn search_cursor(text: &str) -> Option<SearchCursor> {
    let mut parts = text.split('.');
    let tier = match parts.next()? {
        "1" => 1,
        "2" => 2,
        _ => return None,
    };
    let received_at = cursor_time(parts.next()?)?;
    let id = cursor_number(parts.next()?)?;
    parts.next().is_none().then_some(SearchCursor { tier, received_at, id })
}

pub async fn search(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.as_deref();
    let typed = query_param(query, "q")?.ok_or_else(|| ApiError::bad_request("q is required."))?;
    if typed.chars().count() > QUERY_MAX {
        return Err(ApiError::bad_request("q must be at most 1000 characters."));
    }
    let parsed = Query::parse(&typed).map_err(|e| ApiError::invalid(format!("The query cannot be read: {e}.")))?;
    let after = query_param(query, "cursor")?
        .map(|c| search_cursor(&c).ok_or_else(|| ApiError::bad_request("cursor is not one this API gave.")))
        .transpose()?;
    let limit = limit_param(query, DEFAULT_LIMIT, MAX_LIMIT)?;
    let plan = Plan::new(&parsed);
    let page = state.store.search(user.id, &plan, after, limit).await.map_err(ApiError::internal)?;
    let count = bool_param(query, "count")?.unwrap_or(false);
    let total =
        if count { Some(state.store.search_count(user.id, &plan).await.map_err(ApiError::internal)?) } else { None };
    let conversations = page
        .hits
        .into_iter()
        .map(|hit| HitJson {
            conversation_size: hit.summary.thread_count,
            subject_html: marked_html(&hit.subject),
            snippet_html: marked_html(&hit.snippet),
            tier: hit.tier,
            message: MessageJson::from(hit.summary),
        })
        .collect();
    Ok(Json(SearchJson {
        query: parsed.to_string(),
        total,
        conversations,
        next_cursor: page.next.map(SearchCursor::encode),
    })
    .into_response())
}
