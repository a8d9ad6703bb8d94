//! Messages in the API: lists by filter with cursor paging, one message with its bodies, its
//! attachments and original, actions on many at once, and the unread count.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailroom_domain::{AccountId, EmailAddress, FolderKind};
use mailroom_store::{
    ACTION_LIMIT, ActionRefused, ListCursor, MessageDetail, MessageFilter, MessageSummary, NOTE_LIMIT, Participant,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiError, ApiJson, ApiPath, ApiUser, cursor_number, cursor_time, limit_param, query_param};
use crate::AppState;
use crate::mail::{Requested, cid_links, download, eml_name, shown_body, take_action};

/// Messages a page holds unless the caller asks for fewer or more.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

#[derive(Serialize)]
struct PersonJson {
    address: String,
    name: Option<String>,
}

#[derive(Serialize)]
pub(super) struct MessageJson {
    id: i64,
    account_id: i64,
    thread_id: Option<String>,
    subject: String,
    from: Option<PersonJson>,
    snippet: String,
    sent_at: Option<i64>,
    received_at: i64,
    unread: bool,
    starred: bool,
    has_attachments: bool,
    /// The user's own to-do mark.
    todo: bool,
    folder_ids: Vec<i64>,
    /// The user's own tags on it.
    tag_ids: Vec<i64>,
}

impl From<MessageSummary> for MessageJson {
    fn from(m: MessageSummary) -> MessageJson {
        MessageJson {
            id: m.id,
            account_id: m.account.0,
            thread_id: m.thread,
            subject: m.subject,
            from: m.from_address.map(|address| PersonJson { address, name: m.from_name }),
            snippet: m.snippet,
            sent_at: m.sent_at,
            received_at: m.received_at,
            unread: !m.is_read,
            starred: m.is_starred,
            has_attachments: m.has_attachments,
            todo: m.todo,
            folder_ids: m.folders,
            tag_ids: m.tags,
        }
    }
}

/// A page of a list, serialised straight from its structs: through `json!` every message
/// would first become a map of values.
#[derive(Serialize)]
struct Page<T> {
    data: Vec<T>,
    next_cursor: Option<String>,
}

fn flag(query: Option<&str>, name: &str) -> Result<Option<bool>, ApiError> {
    match query_param(query, name)?.as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::bad_request("unread, starred and todo take true or false.")),
    }
}

fn id_param(query: Option<&str>, name: &str, message: &'static str) -> Result<Option<i64>, ApiError> {
    query_param(query, name)?.map(|raw| raw.parse::<i64>().map_err(|_| ApiError::bad_request(message))).transpose()
}

/// The filter a list's query string asks for, every id checked to be the caller's.
async fn filter_of(
    state: &AppState,
    user: &mailroom_store::User,
    query: Option<&str>,
) -> Result<MessageFilter, ApiError> {
    let mut filter = MessageFilter::default();
    if let Some(id) = id_param(query, "account", "account must be an account id.")? {
        state
            .store
            .account_of(user.id, AccountId(id))
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(ApiError::not_found)?;
        filter.account = Some(AccountId(id));
    }
    let folder = id_param(query, "folder", "folder must be a folder id.")?;
    let label = id_param(query, "label", "label must be a label id.")?;
    if folder.is_some() && label.is_some() {
        return Err(ApiError::bad_request("Give folder or label, not both."));
    }
    if let Some(id) = folder.or(label) {
        state.store.user_folder(user.id, id).await.map_err(ApiError::internal)?.ok_or_else(ApiError::not_found)?;
        filter.folder = Some(id);
    }
    if let Some(kind) = query_param(query, "kind")? {
        filter.kind = Some(FolderKind::parse(&kind).filter(|k| *k != FolderKind::Custom).ok_or_else(|| {
            ApiError::bad_request("kind must be inbox, starred, important, sent, drafts, archive, spam or trash.")
        })?);
    }
    filter.thread = query_param(query, "thread")?.filter(|t| !t.is_empty());
    filter.unread = flag(query, "unread")?;
    filter.starred = flag(query, "starred")?;
    filter.todo = flag(query, "todo")?;
    if let Some(id) = id_param(query, "tag", "tag must be a tag id.")? {
        let owned = state.store.tags(user.id).await.map_err(ApiError::internal)?.iter().any(|t| t.id == id);
        if !owned {
            return Err(ApiError::not_found());
        }
        filter.tag = Some(id);
    }
    if let Some(who) = query_param(query, "participant")? {
        filter.participant = Some(match who.strip_prefix('@') {
            Some(domain) if !domain.is_empty() && !domain.contains('@') && !domain.contains(char::is_whitespace) => {
                Participant::Domain(domain.to_lowercase())
            }
            Some(_) => return Err(ApiError::bad_request("participant must be an address or @domain.")),
            None => Participant::Address(
                EmailAddress::parse(&who)
                    .map_err(|_| ApiError::bad_request("participant must be an address or @domain."))?
                    .as_str()
                    .to_owned(),
            ),
        });
    }
    Ok(filter)
}

/// `GET /api/v1/messages`: the caller's messages, newest first, `limit` at a time (default 50,
/// at most 200); `next_cursor` fetches the next page.
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.as_deref();
    let filter = filter_of(&state, &user, query).await?;
    let after = query_param(query, "cursor")?
        .map(|c| list_cursor(&c).ok_or_else(|| ApiError::bad_request("cursor is not one this API gave.")))
        .transpose()?;
    let limit = limit_param(query, DEFAULT_LIMIT, MAX_LIMIT)?;
    // One more than asked tells whether there is a next page.
    let mut page = state.store.list_messages(user.id, &filter, after, limit + 1).await.map_err(ApiError::internal)?;
    let more = page.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = if more { page.last().map(|m| m.cursor().encode()) } else { None };
    let data: Vec<MessageJson> = page.into_iter().map(MessageJson::from).collect();
    Ok(Json(Page { data, next_cursor }).into_response())
}

/// A cursor of the message list, `received_at.id`, exactly as the document's pattern says: any
/// such place is taken (the page after it), and nothing else is. The store's own reading would
/// also take signs and numbers past 18 digits.
fn list_cursor(text: &str) -> Option<ListCursor> {
    let (at, id) = text.split_once('.')?;
    Some(ListCursor { received_at: cursor_time(at)?, id: cursor_number(id)? })
}

async fn owned(state: &AppState, user: &mailroom_store::User, id: i64) -> Result<MessageDetail, ApiError> {
    state.store.message_detail(user.id, id).await.map_err(ApiError::internal)?.ok_or_else(ApiError::not_found)
}

fn people(detail: &MessageDetail, role: &str) -> Vec<PersonJson> {
    detail
        .people
        .iter()
        .filter(|p| p.role == role)
        .map(|p| PersonJson { address: p.address.clone(), name: p.name.clone() })
        .collect()
}

/// `GET /api/v1/messages/{id}`: one message with its people, bodies (the HTML sanitised, remote
/// content blocked unless the user allows its sender's) and attachments.
pub async fn show(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let detail = owned(&state, &user, id).await?;
    let base = format!("/api/v1/messages/{id}");
    let cid_base = format!("{base}/cid");
    // Remote content only from senders the user allowed on the mail page.
    let trusted = match &detail.summary.from_address {
        Some(address) => state.store.images_allowed_from(user.id, address).await.map_err(ApiError::internal)?,
        None => false,
    };
    let body = shown_body(&detail, &cid_links(&detail, &cid_base), trusted);
    let attachments: Vec<serde_json::Value> = detail
        .attachments
        .iter()
        .map(|a| {
            json!({
                "position": a.position, "name": a.name, "content_type": a.content_type, "size": a.size,
                "inline": a.inline, "content_id": a.content_id, "url": format!("{base}/attachments/{}", a.position),
            })
        })
        .collect();
    let value = json!({
        "message": MessageJson::from(detail.summary.clone()),
        "message_id": detail.internet_message_id,
        "from": people(&detail, "from"),
        "to": people(&detail, "to"),
        "cc": people(&detail, "cc"),
        "bcc": people(&detail, "bcc"),
        "reply_to": people(&detail, "reply_to"),
        "text": body.text,
        "html": body.html,
        "remote_content_blocked": body.blocked_remote,
        "attachments": attachments,
        "original_url": detail.raw.is_some().then(|| format!("{base}/original")),
        "note": detail.note,
    });
    Ok(Json(value).into_response())
}

/// `GET /api/v1/messages/{id}/attachments/{position}`: the attachment's bytes, as a download.
pub async fn attachment(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath((id, position)): ApiPath<(i64, usize)>,
) -> Result<Response, ApiError> {
    let detail = owned(&state, &user, id).await?;
    let part = detail.raw.as_deref().and_then(|raw| mailroom_mime::attachment_data(raw, position));
    let part = part.ok_or_else(ApiError::not_found)?;
    Ok(download(part.data, &part.info.content_type, &part.info.name))
}

/// `GET /api/v1/messages/{id}/cid/{content_id}`: an inline part a `cid:` image names.
pub async fn inline_part(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath((id, content_id)): ApiPath<(i64, String)>,
) -> Result<Response, ApiError> {
    let detail = owned(&state, &user, id).await?;
    let part = detail.raw.as_deref().and_then(|raw| mailroom_mime::part_by_content_id(raw, &content_id));
    let part = part.ok_or_else(ApiError::not_found)?;
    Ok(crate::mail::inline_image(part.data, &part.info.content_type))
}

/// `GET /api/v1/messages/{id}/original`: the message as the provider gave it, as an `.eml`.
pub async fn original(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let detail = owned(&state, &user, id).await?;
    let raw = detail.raw.ok_or(ApiError {
        status: StatusCode::CONFLICT,
        code: "not_fetched",
        message: "The original has not been fetched from the provider yet; try again shortly.".into(),
    })?;
    Ok(download(raw, "message/rfc822", &eml_name(&detail.summary.subject)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    ids: Vec<i64>,
    action: String,
    /// The folder or label a move or label action names.
    folder: Option<i64>,
    /// The user's own tag a tag or untag action names.
    tag: Option<i64>,
}

/// `POST /api/v1/messages/actions` with `{"ids": […], "action": "…", "folder": id}`: the action
/// on every message at once, written back to the provider after. All the messages must be the
/// caller's, or nothing changes.
pub async fn act(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(body): ApiJson<ActionBody>,
) -> Result<Response, ApiError> {
    let action = Requested::parse(&body.action).ok_or_else(|| {
        ApiError::bad_request(
            "action must be read, unread, star, unstar, archive, trash, restore, delete, spam, not_spam, move, add_label, remove_label, todo, untodo, tag or untag.",
        )
    })?;
    if body.ids.is_empty() {
        return Err(ApiError::bad_request("ids must name at least one message."));
    }
    if body.ids.len() > ACTION_LIMIT {
        return Err(ApiError::bad_request("ids may name at most 1000 messages."));
    }
    if action.needs_target() != body.folder.is_some() {
        return Err(ApiError::bad_request(
            "folder is given with move, add_label and remove_label, and only with them.",
        ));
    }
    if action.needs_tag() != body.tag.is_some() {
        return Err(ApiError::bad_request("tag is given with tag and untag, and only with them."));
    }
    let acted =
        take_action(&state, user.id, &body.ids, action, body.folder, body.tag).await.map_err(ApiError::internal)?;
    match acted {
        Ok(changed) => Ok(Json(json!({ "changed": changed })).into_response()),
        Err(ActionRefused::NotFound) => Err(ApiError::not_found()),
        Err(ActionRefused::TooMany) => Err(ApiError::bad_request("ids may name at most 1000 messages.")),
        Err(ActionRefused::TargetElsewhere) => {
            Err(ApiError::bad_request("The folder belongs to another account than some of the messages."))
        }
        Err(ActionRefused::Invalid(why)) => Err(ApiError::unprocessable(why)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    note: String,
}

/// `PUT /api/v1/messages/{id}/note` with `{"note": "…"}`: the caller's private note on the
/// message, never sent to the provider; an empty note removes it.
pub async fn set_note(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NoteBody>,
) -> Result<Response, ApiError> {
    if body.note.chars().count() > NOTE_LIMIT {
        return Err(ApiError::bad_request("A note has at most 10,000 characters."));
    }
    if !state.store.set_note(user.id, id, &body.note, mailroom_store::now()).await.map_err(ApiError::internal)? {
        return Err(ApiError::not_found());
    }
    let note = Some(body.note.trim()).filter(|n| !n.is_empty());
    Ok(Json(json!({ "note": note })).into_response())
}

/// `GET /api/v1/unread`: unread messages in the caller's inboxes.
pub async fn unread(State(state): State<AppState>, ApiUser(user): ApiUser) -> Result<Response, ApiError> {
    let count = state.store.inbox_unread(user.id).await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "inbox_unread": count })).into_response())
}
