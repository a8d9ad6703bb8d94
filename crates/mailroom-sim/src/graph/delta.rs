//! Message delta per folder (concepts/delta-query-messages.md). A round starts from nothing (every
//! message now in the folder) or from a delta token (what changed in the folder since), is cut in
//! pages linked by `$skiptoken`, and its last page carries the `$deltatoken` of the next round.
//! Query options of the first request are kept with the tokens. A message that left the folder
//! (moved or deleted) comes back as `@removed`; one that arrived or changed comes back whole.
//! Tokens older than the retention, or dropped through the control API, get 410
//! `syncStateNotFound`, or the 4xx and code the control API chose (see [`ExpiredAnswer`]).

use std::collections::{HashMap, VecDeque};

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::api::{ApiRequest, Ctx, Reply};
use super::errors::{GraphError, GraphResult};
use super::mailbox::{Mailbox, Message};
use super::messages::render;
use super::odata::{self, Clause, Cmp};

/// The query options a round was started with.
#[derive(Debug, Clone)]
pub struct DeltaQuery {
    select: Option<Vec<String>>,
    top: Option<usize>,
    received: Option<Clause>,
}

impl DeltaQuery {
    fn parse(request: &ApiRequest) -> GraphResult<DeltaQuery> {
        let received = match request.param("$filter").map(odata::parse_filter).transpose()? {
            None => None,
            Some(clauses) => match clauses.as_slice() {
                [clause @ Clause::Received(Cmp::Ge | Cmp::Gt, _)] => Some(clause.clone()),
                _ => {
                    return Err(GraphError::bad_request(
                        "Delta queries on messages support only $filter=receivedDateTime ge|gt {value}.",
                    ));
                }
            },
        };
        if request.param("$orderby").is_some_and(|o| !o.eq_ignore_ascii_case("receivedDateTime desc")) {
            return Err(GraphError::bad_request(
                "Delta queries on messages support only $orderby=receivedDateTime desc.",
            ));
        }
        Ok(DeltaQuery { select: odata::parse_select(request), top: odata::parse_top(request)?, received })
    }
}

/// Where the next round of a folder starts.
#[derive(Debug)]
pub struct DeltaCursor {
    folder_id: String,
    since_seq: u64,
    query: DeltaQuery,
    issued_ms: i64,
}

/// The pages of a round not yet fetched.
#[derive(Debug)]
pub struct DeltaRound {
    folder_id: String,
    entries: VecDeque<Entry>,
    end_seq: u64,
    query: DeltaQuery,
    issued_ms: i64,
}

#[derive(Debug)]
struct Entry {
    immutable_id: String,
    /// For a removal, the REST id the message had in the folder.
    removed_rest_id: Option<String>,
}

/// How the mailbox answers an expired or dropped token. Exchange answers 410 for mail; the delta
/// query overview promises only "a 40X-series error with error codes such as
/// syncStateNotFound", and directory resources answer 400, so the control API can pick another
/// status and code to hold a client to the documented promise.
#[derive(Debug, Clone, Copy)]
pub struct ExpiredAnswer {
    pub status: StatusCode,
    /// `syncStateNotFound` or `resyncRequired`.
    pub code: &'static str,
}

impl Default for ExpiredAnswer {
    fn default() -> Self {
        ExpiredAnswer { status: StatusCode::GONE, code: "syncStateNotFound" }
    }
}

impl ExpiredAnswer {
    /// The answer for a documented code, at `status` (a 4xx); `None` for anything else.
    pub fn new(status: u16, code: &str) -> Option<ExpiredAnswer> {
        let status = StatusCode::from_u16(status).ok().filter(StatusCode::is_client_error)?;
        let code = ["syncStateNotFound", "resyncRequired"].into_iter().find(|c| c.eq_ignore_ascii_case(code))?;
        Some(ExpiredAnswer { status, code })
    }
}

pub fn expired(answer: ExpiredAnswer) -> GraphError {
    let message = match answer.code {
        "resyncRequired" => "The delta token is no longer valid, and the app must reset the sync state.",
        _ => "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
    };
    GraphError::new(answer.status, answer.code, message)
}

/// Messages now in the folder, newest first: the first round.
fn initial(mailbox: &Mailbox, folder_id: &str, query: &DeltaQuery) -> VecDeque<Entry> {
    let mut present: Vec<_> = mailbox
        .messages
        .iter()
        .filter(|m| m.folder_id == folder_id && query.received.as_ref().is_none_or(|c| c.matches(m)))
        .collect();
    present.sort_by_key(|m| std::cmp::Reverse(m.received_ms));
    present.into_iter().map(|m| Entry { immutable_id: m.immutable_id.clone(), removed_rest_id: None }).collect()
}

/// What changed in the folder after `since`: each message once, as its last change left it.
fn changes(mailbox: &Mailbox, folder_id: &str, since: u64) -> VecDeque<Entry> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    let relevant: Vec<_> = mailbox.changes.iter().filter(|c| c.seq > since && c.folder_id == folder_id).collect();
    for (i, change) in relevant.iter().enumerate() {
        last.insert(change.immutable_id.as_str(), i);
    }
    relevant
        .iter()
        .enumerate()
        .filter(|(i, c)| last.get(c.immutable_id.as_str()) == Some(i))
        .map(|(_, c)| Entry {
            immutable_id: c.immutable_id.clone(),
            removed_rest_id: c.removed.then(|| c.rest_id.clone()),
        })
        .collect()
}

/// One entry of a delta page, as the mailbox had it when the page was cut.
enum PageItem {
    /// The id of a message that left the folder.
    Removed(String),
    Message(Box<Message>),
}

/// `GET /me/mailFolders/{id}/messages/delta`, with `$deltatoken` or `$skiptoken` on later calls.
pub fn messages(ctx: &Ctx, request: &ApiRequest, folder: &str) -> GraphResult<Reply> {
    let retention_ms = i64::try_from(ctx.state.config().graph_delta_retention.as_millis()).unwrap_or(i64::MAX);
    let link_base = format!("{}/{}", ctx.api_base(), request.path);
    let (values, link, select) = ctx.mailbox(|mailbox| {
        let answer = mailbox.sessions.expired_answer;
        let expired = || expired(answer);
        let folder_id = mailbox.folder_id(folder).ok_or_else(GraphError::not_found)?;
        let mut round = if let Some(token) = request.param("$skiptoken") {
            mailbox.sessions.delta_rounds.remove(token).filter(|r| r.folder_id == folder_id).ok_or_else(expired)?
        } else if let Some(token) = request.param("$deltatoken") {
            let cursor =
                mailbox.sessions.delta_cursors.get(token).filter(|c| c.folder_id == folder_id).ok_or_else(expired)?;
            if ctx.now_ms - cursor.issued_ms > retention_ms {
                mailbox.sessions.delta_cursors.remove(token);
                return Err(expired());
            }
            DeltaRound {
                folder_id: folder_id.clone(),
                entries: changes(mailbox, &folder_id, cursor.since_seq),
                end_seq: mailbox.last_seq(),
                query: cursor.query.clone(),
                issued_ms: ctx.now_ms,
            }
        } else {
            let query = DeltaQuery::parse(request)?;
            DeltaRound {
                folder_id: folder_id.clone(),
                entries: initial(mailbox, &folder_id, &query),
                end_seq: mailbox.last_seq(),
                query,
                issued_ms: ctx.now_ms,
            }
        };
        if ctx.now_ms - round.issued_ms > retention_ms {
            return Err(expired());
        }
        let page_size = ctx.prefs.max_page_size.or(round.query.top).unwrap_or(odata::DEFAULT_PAGE);
        let round_select = round.query.select.clone();
        let mut values = Vec::new();
        while values.len() < page_size {
            let Some(entry) = round.entries.pop_front() else { break };
            if let Some(rest_id) = entry.removed_rest_id {
                let id = if ctx.prefs.immutable_ids { entry.immutable_id } else { rest_id };
                values.push(PageItem::Removed(id));
                continue;
            }
            // A message that moved on after the round began shows up as removed next round.
            let Some(message) = mailbox.find(&entry.immutable_id).map(|i| &mailbox.messages[i]) else { continue };
            if message.folder_id != folder_id || round.query.received.as_ref().is_some_and(|c| !c.matches(message)) {
                continue;
            }
            values.push(PageItem::Message(Box::new(message.without_content())));
        }
        let link = if round.entries.is_empty() {
            let token = mailbox.mint("");
            let cursor = DeltaCursor { folder_id, since_seq: round.end_seq, query: round.query, issued_ms: ctx.now_ms };
            mailbox.sessions.delta_cursors.insert(token.clone(), cursor);
            ("@odata.deltaLink", format!("{link_base}?$deltatoken={token}"))
        } else {
            let token = mailbox.mint("");
            mailbox.sessions.delta_rounds.insert(token.clone(), round);
            ("@odata.nextLink", format!("{link_base}?$skiptoken={token}"))
        };
        Ok((values, link, round_select))
    })?;
    // Rendered after the mailbox is let go, so that requests of other folders need not wait
    // for this page's hundred messages.
    let values: Vec<Value> = values
        .into_iter()
        .map(|entry| match entry {
            PageItem::Removed(id) => {
                json!({"@odata.type": "#microsoft.graph.message", "id": id, "@removed": {"reason": "deleted"}})
            }
            PageItem::Message(message) => render(ctx, &message, select.as_deref()),
        })
        .collect();
    let mut body = json!({
        "@odata.context": format!("{}/$metadata#Collection(message)", ctx.api_base()),
        "value": values,
    });
    body[link.0] = Value::String(link.1);
    let mut reply = Reply::json(StatusCode::OK, body);
    if let Some(size) = ctx.prefs.max_page_size {
        reply = reply.with_header("Preference-Applied", format!("odata.maxpagesize={size}"));
    }
    Ok(reply)
}
