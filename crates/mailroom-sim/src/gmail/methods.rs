//! The methods the emulator serves, as one table in the discovery document's terms (id, HTTP
//! method, path, query parameters, scopes, quota cost), and the dispatcher that every call goes
//! through, whether it arrives on its own or inside a batch: route, authenticate, check the
//! mailbox owner and the scopes, check the parameters, charge the quota, run.

use axum::http::{HeaderMap, HeaderValue, header};
use serde::de::DeserializeOwned;

use super::errors::{ApiError, ApiResult, Reply};
use super::{drafts, history, labels, messages, threads, upload, users};
use crate::state::{ProviderKind, Spent, World};
use crate::{SimState, gmail};

const FULL: &str = "https://mail.google.com/";
const MODIFY: &str = "https://www.googleapis.com/auth/gmail.modify";
const READONLY: &str = "https://www.googleapis.com/auth/gmail.readonly";
const METADATA: &str = "https://www.googleapis.com/auth/gmail.metadata";
const COMPOSE: &str = "https://www.googleapis.com/auth/gmail.compose";
const LABELS: &str = "https://www.googleapis.com/auth/gmail.labels";
const INSERT: &str = "https://www.googleapis.com/auth/gmail.insert";
const SEND: &str = "https://www.googleapis.com/auth/gmail.send";
const SETTINGS_BASIC: &str = "https://www.googleapis.com/auth/gmail.settings.basic";

/// Query parameters every method takes (the discovery document's top-level `parameters`). Apart
/// from `access_token`/`oauth_token` and `uploadType`, the emulator accepts and ignores them:
/// answers are always whole JSON.
pub const GLOBAL_PARAMETERS: &[&str] = &[
    "$.xgafv",
    "access_token",
    "alt",
    "callback",
    "fields",
    "key",
    "oauth_token",
    "prettyPrint",
    "quotaUser",
    "uploadType",
    "upload_protocol",
];

const LIST: &[&str] = &["includeSpamTrash", "labelIds", "maxResults", "pageToken", "q"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    GetProfile,
    LabelsList,
    LabelsGet,
    LabelsCreate,
    LabelsUpdate,
    LabelsPatch,
    LabelsDelete,
    MessagesList,
    MessagesGet,
    MessagesInsert,
    MessagesImport,
    MessagesSend,
    MessagesModify,
    MessagesBatchModify,
    MessagesBatchDelete,
    MessagesTrash,
    MessagesUntrash,
    MessagesDelete,
    AttachmentsGet,
    ThreadsList,
    ThreadsGet,
    ThreadsModify,
    ThreadsTrash,
    ThreadsUntrash,
    ThreadsDelete,
    DraftsList,
    DraftsGet,
    DraftsCreate,
    DraftsUpdate,
    DraftsSend,
    DraftsDelete,
    HistoryList,
    SendAsList,
}

/// One served method, in the discovery document's terms.
#[derive(Debug)]
pub struct MethodSpec {
    pub id: &'static str,
    pub http_method: &'static str,
    /// Relative to the API root (`{base}/google/`), with `{name}` placeholders.
    pub path: &'static str,
    /// Method-specific query parameters (besides [`GLOBAL_PARAMETERS`]).
    pub query: &'static [&'static str],
    /// Scopes that open the method (the document's list without the add-on scopes).
    pub scopes: &'static [&'static str],
    /// Quota units in the earlier table and in the 2026 one. Where the 2026 transcriptions name no
    /// figure for a method (labels.get/patch, threads.untrash, settings) it keeps its sibling's.
    pub units: u32,
    pub units_2026: u32,
    /// For methods that take a whole message (`raw`, or a media upload under `/upload/`): the
    /// largest message they accept, in bytes.
    pub upload_limit: Option<usize>,
    op: Op,
}

macro_rules! method {
    (@limit) => { None };
    (@limit $limit:expr) => { Some($limit) };
    ($op:ident, $id:literal, $http:literal, $path:literal, $query:expr, $scopes:expr, $units:literal, $units26:literal
        $(, upload = $limit:expr)?) => {
        MethodSpec {
            id: $id,
            http_method: $http,
            path: $path,
            query: $query,
            scopes: $scopes,
            units: $units,
            units_2026: $units26,
            upload_limit: method!(@limit $($limit)?),
            op: Op::$op,
        }
    };
}

/// `messages.send` and drafts: the discovery document's `maxSize` (35 MB).
const SEND_LIMIT: usize = 36_700_160;
/// `messages.insert` and `messages.import`: the `maxSize` of the discovery document we follow
/// (revision 20261005: 150 MB; the older revision 20240603 said 50 MB, see providers.md B8).
const INSERT_LIMIT: usize = 157_286_400;

/// Every method the emulator serves. Literal paths come before `{id}` ones so that, say,
/// `messages/send` is not read as a message id.
#[rustfmt::skip]
pub static METHODS: &[MethodSpec] = &[
    method!(GetProfile, "gmail.users.getProfile", "GET", "gmail/v1/users/{userId}/profile",
        &[], &[FULL, COMPOSE, METADATA, MODIFY, READONLY], 1, 1),
    method!(LabelsList, "gmail.users.labels.list", "GET", "gmail/v1/users/{userId}/labels",
        &[], &[FULL, LABELS, METADATA, MODIFY, READONLY], 1, 1),
    method!(LabelsCreate, "gmail.users.labels.create", "POST", "gmail/v1/users/{userId}/labels",
        &[], &[FULL, LABELS, MODIFY], 5, 5),
    method!(LabelsGet, "gmail.users.labels.get", "GET", "gmail/v1/users/{userId}/labels/{id}",
        &[], &[FULL, LABELS, METADATA, MODIFY, READONLY], 1, 1),
    method!(LabelsUpdate, "gmail.users.labels.update", "PUT", "gmail/v1/users/{userId}/labels/{id}",
        &[], &[FULL, LABELS, MODIFY], 5, 5),
    method!(LabelsPatch, "gmail.users.labels.patch", "PATCH", "gmail/v1/users/{userId}/labels/{id}",
        &[], &[FULL, LABELS, MODIFY], 5, 5),
    method!(LabelsDelete, "gmail.users.labels.delete", "DELETE", "gmail/v1/users/{userId}/labels/{id}",
        &[], &[FULL, LABELS, MODIFY], 5, 5),
    method!(MessagesList, "gmail.users.messages.list", "GET", "gmail/v1/users/{userId}/messages",
        LIST, &[FULL, METADATA, MODIFY, READONLY], 5, 5),
    method!(MessagesInsert, "gmail.users.messages.insert", "POST", "gmail/v1/users/{userId}/messages",
        &["deleted", "internalDateSource"], &[FULL, INSERT, MODIFY], 25, 25, upload = INSERT_LIMIT),
    method!(MessagesImport, "gmail.users.messages.import", "POST", "gmail/v1/users/{userId}/messages/import",
        &["deleted", "internalDateSource", "neverMarkSpam", "processForCalendar"], &[FULL, INSERT, MODIFY],
        25, 25, upload = INSERT_LIMIT),
    method!(MessagesSend, "gmail.users.messages.send", "POST", "gmail/v1/users/{userId}/messages/send",
        &[], &[FULL, COMPOSE, MODIFY, SEND], 100, 100, upload = SEND_LIMIT),
    method!(MessagesBatchModify, "gmail.users.messages.batchModify", "POST",
        "gmail/v1/users/{userId}/messages/batchModify", &[], &[FULL, MODIFY], 50, 50),
    method!(MessagesBatchDelete, "gmail.users.messages.batchDelete", "POST",
        "gmail/v1/users/{userId}/messages/batchDelete", &[], &[FULL], 50, 50),
    method!(MessagesGet, "gmail.users.messages.get", "GET", "gmail/v1/users/{userId}/messages/{id}",
        &["format", "metadataHeaders"], &[FULL, METADATA, MODIFY, READONLY], 5, 20),
    method!(MessagesDelete, "gmail.users.messages.delete", "DELETE", "gmail/v1/users/{userId}/messages/{id}",
        &[], &[FULL], 10, 10),
    method!(MessagesModify, "gmail.users.messages.modify", "POST", "gmail/v1/users/{userId}/messages/{id}/modify",
        &[], &[FULL, MODIFY], 5, 5),
    method!(MessagesTrash, "gmail.users.messages.trash", "POST", "gmail/v1/users/{userId}/messages/{id}/trash",
        &[], &[FULL, MODIFY], 5, 20),
    method!(MessagesUntrash, "gmail.users.messages.untrash", "POST", "gmail/v1/users/{userId}/messages/{id}/untrash",
        &[], &[FULL, MODIFY], 5, 5),
    method!(AttachmentsGet, "gmail.users.messages.attachments.get", "GET",
        "gmail/v1/users/{userId}/messages/{messageId}/attachments/{id}", &[], &[FULL, MODIFY, READONLY], 5, 20),
    method!(ThreadsList, "gmail.users.threads.list", "GET", "gmail/v1/users/{userId}/threads",
        LIST, &[FULL, METADATA, MODIFY, READONLY], 10, 10),
    method!(ThreadsGet, "gmail.users.threads.get", "GET", "gmail/v1/users/{userId}/threads/{id}",
        &["format", "metadataHeaders"], &[FULL, METADATA, MODIFY, READONLY], 10, 40),
    method!(ThreadsDelete, "gmail.users.threads.delete", "DELETE", "gmail/v1/users/{userId}/threads/{id}",
        &[], &[FULL], 20, 20),
    method!(ThreadsModify, "gmail.users.threads.modify", "POST", "gmail/v1/users/{userId}/threads/{id}/modify",
        &[], &[FULL, MODIFY], 10, 10),
    method!(ThreadsTrash, "gmail.users.threads.trash", "POST", "gmail/v1/users/{userId}/threads/{id}/trash",
        &[], &[FULL, MODIFY], 10, 20),
    method!(ThreadsUntrash, "gmail.users.threads.untrash", "POST", "gmail/v1/users/{userId}/threads/{id}/untrash",
        &[], &[FULL, MODIFY], 10, 20),
    method!(DraftsList, "gmail.users.drafts.list", "GET", "gmail/v1/users/{userId}/drafts",
        &["includeSpamTrash", "maxResults", "pageToken", "q"], &[FULL, COMPOSE, MODIFY, READONLY], 5, 5),
    method!(DraftsCreate, "gmail.users.drafts.create", "POST", "gmail/v1/users/{userId}/drafts",
        &[], &[FULL, COMPOSE, MODIFY], 10, 10, upload = SEND_LIMIT),
    method!(DraftsSend, "gmail.users.drafts.send", "POST", "gmail/v1/users/{userId}/drafts/send",
        &[], &[FULL, COMPOSE, MODIFY], 100, 100, upload = SEND_LIMIT),
    method!(DraftsGet, "gmail.users.drafts.get", "GET", "gmail/v1/users/{userId}/drafts/{id}",
        &["format"], &[FULL, COMPOSE, MODIFY, READONLY], 5, 20),
    method!(DraftsUpdate, "gmail.users.drafts.update", "PUT", "gmail/v1/users/{userId}/drafts/{id}",
        &[], &[FULL, COMPOSE, MODIFY], 15, 15, upload = SEND_LIMIT),
    method!(DraftsDelete, "gmail.users.drafts.delete", "DELETE", "gmail/v1/users/{userId}/drafts/{id}",
        &[], &[FULL, COMPOSE, MODIFY], 10, 10),
    method!(HistoryList, "gmail.users.history.list", "GET", "gmail/v1/users/{userId}/history",
        &["historyTypes", "labelId", "maxResults", "pageToken", "startHistoryId"], &[FULL, METADATA, MODIFY, READONLY],
        2, 2),
    method!(SendAsList, "gmail.users.settings.sendAs.list", "GET", "gmail/v1/users/{userId}/settings/sendAs",
        &[], &[FULL, MODIFY, READONLY, SETTINGS_BASIC], 1, 1),
];

/// The query string of a call, decoded, in order.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: &str) -> Params {
        Params(url::form_urlencoded::parse(query.as_bytes()).into_owned().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A repeated parameter, all its values (`labelIds=A&labelIds=B`).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ApiError::invalid_argument(format!("Invalid value at '{name}' (TYPE_BOOL), \"{v}\""))),
        }
    }

    /// `maxResults`: default 100, at most 500 (larger values are clamped, as Gmail does).
    pub fn max_results(&self) -> Result<usize, ApiError> {
        match self.get("maxResults") {
            None => Ok(100),
            Some(v) => v.parse::<usize>().map(|n| n.clamp(1, 500)).map_err(|_| {
                ApiError::invalid_argument(format!("Invalid value at 'max_results' (TYPE_UINT32), \"{v}\""))
            }),
        }
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

/// One call, routed and authorized, as a method handler sees it.
pub struct Call<'a> {
    pub state: &'a SimState,
    /// The mailbox owner (the caller).
    pub user: String,
    /// Path values after `{userId}`, in order (`{id}`, or `{messageId}` then `{id}`).
    pub ids: Vec<String>,
    pub params: Params,
    pub body: &'a [u8],
    /// The method's [`MethodSpec::upload_limit`] (0 for methods that take no message).
    pub upload_limit: usize,
    pub now_ms: i64,
    /// The caller holds only `gmail.metadata` among this method's scopes: no bodies, no `q`.
    pub metadata_only: bool,
}

impl Call<'_> {
    pub fn id(&self) -> &str {
        self.ids.last().map_or("", String::as_str)
    }

    /// The JSON body; an empty body reads as `{}`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let body = if self.body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { self.body };
        serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid_argument(format!("Invalid JSON payload received. {e}")))
    }

    pub fn mailbox<'w>(&self, world: &'w mut World) -> Result<&'w mut gmail::Mailbox, ApiError> {
        world.gmail(&self.user).ok_or_else(ApiError::not_found)
    }
}

/// A call as it came in: method, path below `/google/` (`gmail/v1/users/…`, or below
/// `/google/upload/` for a media upload), query, headers, body.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// Came in under `/upload/`: the body is the message, not JSON.
    pub upload: bool,
}

/// A call's answer and the quota it spent.
pub struct Outcome {
    pub reply: Reply,
    pub spent: Option<Spent>,
}

impl axum::response::IntoResponse for Outcome {
    fn into_response(self) -> axum::response::Response {
        let mut response = self.reply.into_response();
        if let Some(spent) = self.spent {
            response.extensions_mut().insert(spent);
        }
        response
    }
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The served method a request names, with the path's `{…}` values in order.
fn route(method: &str, path: &str) -> Option<(&'static MethodSpec, Vec<String>)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    METHODS.iter().filter(|spec| spec.http_method.eq_ignore_ascii_case(method)).find_map(|spec| {
        let template: Vec<&str> = spec.path.split('/').collect();
        if template.len() != segments.len() {
            return None;
        }
        let mut values = Vec::new();
        for (want, have) in template.iter().zip(&segments) {
            if want.starts_with('{') {
                values.push(percent_decode(have));
            } else if want != have {
                return None;
            }
        }
        Some((spec, values))
    })
}

/// Runs one Gmail call. Synchronous: it locks the world once, briefly, and never awaits.
pub fn dispatch(state: &SimState, incoming: &Incoming<'_>) -> Outcome {
    let fail = |error: ApiError, spent: Option<Spent>| Outcome { reply: error.into(), spent };
    let Some((spec, mut values)) = route(incoming.method, incoming.path) else {
        return fail(ApiError::not_found(), None);
    };
    let upload_limit = spec.upload_limit.unwrap_or_default();
    if incoming.upload && upload_limit == 0 {
        return fail(ApiError::not_found(), None);
    }
    let params = Params::parse(incoming.query);
    let Ok(caller) = state.authenticate(&with_query_token(incoming.headers, &params), ProviderKind::Google) else {
        return fail(ApiError::unauthenticated(), None);
    };
    let free = Some(Spent { units: 0, user: caller.email.clone() });
    let user_id = values.remove(0);
    if user_id != "me" && !user_id.eq_ignore_ascii_case(&caller.email) {
        return fail(ApiError::delegation_denied(&caller.email), free);
    }
    let granted: Vec<&str> = spec.scopes.iter().copied().filter(|s| caller.scopes.iter().any(|c| c == s)).collect();
    if granted.is_empty() {
        return fail(ApiError::insufficient_scope(), free);
    }
    if let Some(unknown) = params.names().find(|n| !spec.query.contains(n) && !GLOBAL_PARAMETERS.contains(n)) {
        return fail(ApiError::unknown_parameter(unknown), free);
    }
    let converted;
    let body = if incoming.upload {
        let draft = spec.id.starts_with("gmail.users.drafts.");
        match upload::as_json(&params, incoming.headers, incoming.body, draft) {
            Ok(json) => converted = json,
            Err(error) => return fail(error, free),
        }
        converted.as_slice()
    } else {
        incoming.body
    };
    let units = if state.config().gmail_costs_2026 { spec.units_2026 } else { spec.units };
    let call = Call {
        state,
        user: caller.email.clone(),
        ids: values,
        params,
        body,
        upload_limit,
        now_ms: state.clock().now_ms(),
        metadata_only: granted == [METADATA],
    };
    let mut world = state.world();
    let Some(mailbox) = world.gmail(&caller.email) else { return fail(ApiError::not_found(), free) };
    let quotas = state.quotas();
    if !mailbox.quota.try_spend(units, quotas.gmail_user_units_per_minute, quotas.gmail_window_ms, call.now_ms) {
        return fail(ApiError::rate_limited(), free);
    }
    let result = run(spec.op, &call, &mut world);
    Outcome { reply: result.unwrap_or_else(Reply::from), spent: Some(Spent { units, user: caller.email }) }
}

/// The headers with the token of an `access_token` (or `oauth_token`) query parameter as the
/// bearer, when no Authorization header came: Google accepts either.
fn with_query_token(headers: &HeaderMap, params: &Params) -> HeaderMap {
    let mut headers = headers.clone();
    let token = params.get("access_token").or_else(|| params.get("oauth_token"));
    if let Some(token) = token
        && !headers.contains_key(header::AUTHORIZATION)
        && let Ok(value) = HeaderValue::try_from(format!("Bearer {token}"))
    {
        headers.insert(header::AUTHORIZATION, value);
    }
    headers
}

fn run(op: Op, call: &Call<'_>, world: &mut World) -> ApiResult {
    match op {
        Op::GetProfile => users::get_profile(call, world),
        Op::SendAsList => users::send_as_list(call, world),
        Op::LabelsList => labels::list(call, world),
        Op::LabelsGet => labels::get(call, world),
        Op::LabelsCreate => labels::create(call, world),
        Op::LabelsUpdate => labels::update(call, world, false),
        Op::LabelsPatch => labels::update(call, world, true),
        Op::LabelsDelete => labels::delete(call, world),
        Op::MessagesList => messages::list(call, world),
        Op::MessagesGet => messages::get(call, world),
        Op::MessagesInsert => messages::insert(call, world, false),
        Op::MessagesImport => messages::insert(call, world, true),
        Op::MessagesSend => messages::send(call, world),
        Op::MessagesModify => messages::modify(call, world),
        Op::MessagesBatchModify => messages::batch_modify(call, world),
        Op::MessagesBatchDelete => messages::batch_delete(call, world),
        Op::MessagesTrash => messages::trash(call, world, true),
        Op::MessagesUntrash => messages::trash(call, world, false),
        Op::MessagesDelete => messages::delete(call, world),
        Op::AttachmentsGet => messages::attachment(call, world),
        Op::ThreadsList => threads::list(call, world),
        Op::ThreadsGet => threads::get(call, world),
        Op::ThreadsModify => threads::modify(call, world),
        Op::ThreadsTrash => threads::trash(call, world, true),
        Op::ThreadsUntrash => threads::trash(call, world, false),
        Op::ThreadsDelete => threads::delete(call, world),
        Op::DraftsList => drafts::list(call, world),
        Op::DraftsGet => drafts::get(call, world),
        Op::DraftsCreate => drafts::create(call, world),
        Op::DraftsUpdate => drafts::update(call, world),
        Op::DraftsSend => drafts::send(call, world),
        Op::DraftsDelete => drafts::delete(call, world),
        Op::HistoryList => history::list(call, world),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_paths_win_over_ids() {
        let (spec, ids) = route("POST", "gmail/v1/users/me/messages/send").unwrap();
        assert_eq!((spec.id, ids), ("gmail.users.messages.send", vec!["me".to_owned()]));
        let (spec, ids) = route("GET", "gmail/v1/users/a%40b.test/messages/m1/attachments/x").unwrap();
        assert_eq!(spec.id, "gmail.users.messages.attachments.get");
        assert_eq!(ids, ["a@b.test", "m1", "x"]);
        assert!(route("GET", "gmail/v1/users/me/nothing").is_none());
    }
}
