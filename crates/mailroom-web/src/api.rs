//! The JSON API under `/api/v1`, for business applications and scripts. A caller is a user,
//! known by a personal access token (`Authorization: Bearer mr_…`) or by the session cookie of a
//! signed-in browser. Errors have one shape, `{"error": {"code", "message"}}`, and anything the
//! caller does not own is answered as not found, never as forbidden, so that an id reveals
//! nothing.

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use mailroom_domain::AccountId;
use mailroom_store::{ApiToken, User};
use serde::Serialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::errors::Verbatim;
use crate::viewer::Viewer;

mod changes;
mod drafts;
mod messages;
mod search;
mod send;
mod tags;

pub use send::SEND_BODY_LIMIT;

/// Over the limit on a draft's files, so that a file just over it reaches the handler and is
/// refused by name, not by the body limit.
const FILE_BODY_ROOM: usize = 1024 * 1024;

/// The largest body `POST /api/v1/drafts/{id}/files` takes.
pub const DRAFT_FILE_BODY_LIMIT: usize = crate::pages::drafts::DRAFT_FILES_LIMIT + FILE_BODY_ROOM;

fn file_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(DRAFT_FILE_BODY_LIMIT)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts", get(accounts))
        .route("/folders", get(folders))
        .route("/addresses", get(addresses))
        .route("/messages", get(messages::list))
        .route("/search", get(search::search))
        .route("/messages/actions", post(messages::act))
        .route("/messages/send", post(send::send).layer(DefaultBodyLimit::max(send::SEND_BODY_LIMIT)))
        .route("/submissions", get(send::list))
        .route("/submissions/retry", post(send::retry))
        .route("/submissions/{id}", get(send::show))
        .route("/submissions/{id}/cancel", post(send::cancel))
        .route("/templates", get(send::templates))
        .route("/drafts", get(drafts::list).post(drafts::create))
        .route("/drafts/{id}", get(drafts::show).put(drafts::update).delete(drafts::remove))
        .route("/drafts/{id}/files", get(drafts::files).post(drafts::add_file).layer(file_limit()))
        .route("/drafts/{id}/files/{file}", get(drafts::file).delete(drafts::remove_file))
        .route("/messages/{id}", get(messages::show))
        .route("/messages/{id}/attachments/{position}", get(messages::attachment))
        .route("/messages/{id}/cid/{content_id}", get(messages::inline_part))
        .route("/messages/{id}/original", get(messages::original))
        .route("/messages/{id}/note", put(messages::set_note))
        .route("/unread", get(messages::unread))
        .route("/tags", get(tags::list).post(tags::create))
        .route("/tags/{id}", delete(tags::remove))
        .route("/changes", get(changes::feed))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
}

/// A failed API call, as its JSON body says it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: std::borrow::Cow<'static, str>,
}

impl ApiError {
    fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "Give a personal access token as Authorization: Bearer, or sign in.".into(),
        }
    }

    fn bad_request(message: &'static str) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, code: "bad_request", message: message.into() }
    }

    fn not_found() -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, code: "not_found", message: "There is nothing here.".into() }
    }

    /// Not found, saying what: for a name in a body (an identity, a template) rather than an id.
    fn not_found_because(message: String) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, code: "not_found", message: message.into() }
    }

    /// An internal failure: logged once here; the caller learns only that it failed.
    fn internal(err: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "API request failed");
        ApiError::failed()
    }

    /// A failure the caller can do nothing about, already logged; the request's id lets an
    /// administrator find it in the logs.
    pub(crate) fn failed() -> ApiError {
        let message = match crate::panics::current_request_id() {
            Some(id) => format!("Something went wrong on the server (request id {id})."),
            None => "Something went wrong on the server.".to_owned(),
        };
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, code: "internal", message: message.into() }
    }

    /// A request whose content is wrong, with the reason (which may name the field).
    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, code: "bad_request", message: message.into().into() }
    }

    /// A request holding the NUL character, which no text may hold (see `input`).
    pub(crate) fn nul() -> ApiError {
        ApiError::invalid("Text may not hold the NUL character (U+0000).")
    }

    pub(crate) fn too_large(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::PAYLOAD_TOO_LARGE, code: "too_large", message: message.into().into() }
    }

    /// The request is fine but the thing it names is no longer in a state that allows it.
    fn conflict(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::CONFLICT, code: "conflict", message: message.into().into() }
    }

    /// Well formed, but not possible for these messages (an Outlook mailbox asked for a label).
    fn unprocessable(why: impl std::fmt::Display) -> ApiError {
        ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, code: "not_possible", message: why.to_string().into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"code": self.code, "message": self.message}}));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        // Not turned into an HTML error page on the way out.
        response.extensions_mut().insert(Verbatim);
        response
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// The OpenAPI 3.1 description of this router, written by hand; a test keeps its paths equal to
/// the routes above.
const OPENAPI: &str = include_str!("api/openapi.json");

/// `GET /api/v1/openapi.json`: open to anyone, since it describes the API and holds no data.
async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The user an API call acts for: the bearer token's, or else the session's. A token that is
/// malformed, unknown, revoked or of a disabled user is refused even when a session would do:
/// a caller that gives a token means that token.
pub struct ApiUser(pub User);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .and_then(|v| ApiToken::parse(v.trim()))
                .ok_or_else(ApiError::unauthorized)?;
            let user = state.store.api_token_user(&token, mailroom_store::now()).await.map_err(ApiError::internal)?;
            return user.map(ApiUser).ok_or_else(ApiError::unauthorized);
        }
        match parts.extensions.get::<Viewer>().and_then(|v| v.user.clone()) {
            Some(user) => Ok(ApiUser(user)),
            None => Err(ApiError::unauthorized()),
        }
    }
}

/// A JSON body of the API: an object (serde would read a struct from an array too, so that
/// `["x"]` passed for `{"batch": "x"}`), sent as JSON, within the route's limit. What is wrong is
/// said in the API's error shape.
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large("The request body is larger than this call takes.")
            } else {
                ApiError::invalid(rejection.body_text())
            }
        })?;
        if !json {
            return Err(ApiError::invalid("The body must be JSON, sent with Content-Type: application/json."));
        }
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::invalid("The body must be a JSON object."));
        }
        let Distinct(value) = serde_json::from_slice(&bytes)
            .map_err(|error| ApiError::invalid(format!("The body is not what this call takes: {error}.")))?;
        serde_json::from_value(value)
            .map(ApiJson)
            .map_err(|error| ApiError::invalid(format!("The body is not what this call takes: {error}.")))
    }
}

/// A JSON body as a value, read more strictly than `serde_json::Value` is and as the API's
/// document (JSON Schema) has it, before it becomes the call's struct:
///
/// - a key given twice in an object is refused: `Value` keeps the last, where reading into a
///   struct refuses it, and a body that says two things is refused, not guessed at;
/// - a number written with a fraction or an exponent that is a whole number (`2.0`, `1e3`) is that
///   integer: JSON has one kind of number, JSON Schema holds `2.0` to be the integer 2, and many
///   JSON writers spell every number as a float, where serde would refuse it for an `i64`. Past
///   2^53 a float cannot tell neighbouring integers apart, so such a number stays a float, which an
///   integer field refuses.
struct Distinct(Value);

/// Past this magnitude a JSON number read as a float no longer spells every whole number.
const EXACT_FLOAT_INTEGERS: f64 = 9_007_199_254_740_992.0;

impl<'de> serde::Deserialize<'de> for Distinct {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Distinct, D::Error> {
        deserializer.deserialize_any(DistinctVisitor).map(Distinct)
    }
}

struct DistinctVisitor;

impl<'de> serde::de::Visitor<'de> for DistinctVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        if value.fract() == 0.0 && value.abs() <= EXACT_FLOAT_INTEGERS {
            // Exact: a whole number within 2^53 is an i64 of the same value.
            return Ok(Value::from(value as i64));
        }
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Distinct(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            let Distinct(value) = map.next_value()?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

/// A path parameter of the API. One that does not parse (`/messages/abc`) names nothing the
/// caller owns, so it is not found, in the API's error shape.
pub struct ApiPath<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(_) => Err(ApiError::not_found()),
        }
    }
}

/// A connected mailbox as the API shows it.
#[derive(Serialize)]
struct AccountJson {
    id: i64,
    provider: &'static str,
    address: String,
    display_name: Option<String>,
    status: &'static str,
    last_sync_at: Option<i64>,
    created_at: i64,
}

/// `GET /api/v1/accounts`: the caller's connected mailboxes.
async fn accounts(State(state): State<AppState>, ApiUser(user): ApiUser) -> Result<Response, ApiError> {
    let accounts = state.store.accounts_of(user.id).await.map_err(ApiError::internal)?;
    let data: Vec<AccountJson> = accounts
        .into_iter()
        .map(|a| AccountJson {
            id: a.id.0,
            provider: a.provider.as_str(),
            address: a.address,
            display_name: a.display_name,
            status: a.status.as_str(),
            last_sync_at: a.last_sync_at,
            created_at: a.created_at,
        })
        .collect();
    Ok(Json(json!({ "data": data })).into_response())
}

/// `GET /api/v1/addresses?q=`: people in the caller's mail with a word of their name or address
/// beginning with each word of `q` (case and accents folded), those the caller writes to first,
/// then by the recency and number of their messages, and in `groups` the sets of people the
/// caller has written to together at least twice with one of the best 20 people found: what
/// the compose page suggests as the user types.
async fn addresses(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let typed = query_param(query.as_deref(), "q")?.unwrap_or_default();
    if typed.chars().count() > 200 {
        return Err(ApiError::bad_request("q must be at most 200 characters."));
    }
    let limit = limit_param(query.as_deref(), 8, mailroom_store::SUGGESTION_LIMIT)?;
    let found = state.store.correspondents(user.id, &typed, limit).await.map_err(ApiError::internal)?;
    let data: Vec<Value> = found
        .people
        .into_iter()
        .map(|c| json!({"address": c.address, "name": c.name, "messages": c.messages, "sent": c.sent, "last_at": c.last_at}))
        .collect();
    let groups: Vec<Value> = found
        .groups
        .into_iter()
        .map(|g| {
            let members: Vec<Value> =
                g.members.into_iter().map(|(address, name)| json!({"address": address, "name": name})).collect();
            json!({"members": members, "messages": g.messages})
        })
        .collect();
    Ok(Json(json!({ "data": data, "groups": groups })).into_response())
}

/// A folder or label as the API shows it.
#[derive(Serialize)]
struct FolderJson {
    id: i64,
    account_id: i64,
    remote_id: String,
    name: String,
    kind: &'static str,
    parent_remote_id: Option<String>,
    total: i64,
    unread: i64,
}

/// The page size a query string asks for: `default` when it names none, else a number from 1 to
/// `max`; anything else is refused with a message that says so.
fn limit_param(query: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    match query_param(query, "limit")? {
        None => Ok(default),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::invalid(format!("limit must be a number from 1 to {max}."))),
    }
}

/// A `true`/`false` parameter of a query string; anything else is refused.
fn bool_param(query: Option<&str>, name: &str) -> Result<Option<bool>, ApiError> {
    match query_param(query, name)?.as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid(format!("{name} takes true or false."))),
    }
}

/// Most digits a number in a cursor has: every such number fits an `i64`, so a cursor the document's
/// pattern describes (`[0-9]{1,18}`) always reads, and one that does not is refused.
const CURSOR_DIGITS: usize = 18;

/// A number of a cursor: 1 to 18 ASCII digits, nothing else (no sign, no spaces).
fn cursor_number(text: &str) -> Option<i64> {
    let digits = (1..=CURSOR_DIGITS).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten()
}

/// A time of a cursor: a cursor number, or one with a minus sign (a message dated before 1970).
fn cursor_time(text: &str) -> Option<i64> {
    match text.strip_prefix('-') {
        Some(magnitude) => cursor_number(magnitude).map(|n| -n),
        None => cursor_number(text),
    }
}

/// The value of `name` in a query string; a parameter given twice is refused, not guessed at.
fn query_param(query: Option<&str>, name: &str) -> Result<Option<String>, ApiError> {
    let mut values = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).filter(|(k, _)| k == name);
    let first = values.next().map(|(_, v)| v.into_owned());
    if values.next().is_some() {
        return Err(ApiError::bad_request("A query parameter was given more than once."));
    }
    Ok(first)
}

/// `GET /api/v1/folders[?account=ID]`: the folders and labels of the caller's mailboxes, with
/// their message and unread counts. Another user's account is not found.
async fn folders(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let account = match query_param(query.as_deref(), "account")? {
        None => None,
        Some(raw) => {
            let id = raw.parse().map(AccountId).map_err(|_| ApiError::bad_request("account must be an account id."))?;
            state.store.account_of(user.id, id).await.map_err(ApiError::internal)?.ok_or_else(ApiError::not_found)?;
            Some(id)
        }
    };
    let folders = state.store.folder_summaries(user.id, account).await.map_err(ApiError::internal)?;
    let data: Vec<FolderJson> = folders
        .into_iter()
        .map(|f| FolderJson {
            id: f.id,
            account_id: f.account.0,
            remote_id: f.remote_id,
            name: f.name,
            kind: f.kind.as_str(),
            parent_remote_id: f.parent_remote_id,
            total: f.total,
            unread: f.unread,
        })
        .collect();
    Ok(Json(json!({ "data": data })).into_response())
}
