//! One Graph request as the resources see it, the reply they give, and the route table. Requests
//! reach it from HTTP and from `$batch` parts alike, so routing is a plain `match` on method and
//! path segments rather than an axum router.

use axum::http::{HeaderMap, Method, StatusCode, header};
use serde_json::Value;

use super::errors::{GraphError, GraphResult};
use super::mailbox::Mailbox;
use super::{attachments, delta, folders, messages, send};
use crate::SimState;

pub struct ApiRequest {
    pub method: Method,
    /// The path after `/v1.0/`, as requested; next links repeat it.
    pub path: String,
    /// The path's segments, percent-decoded, with OData keys (`mailFolders('inbox')`) split off.
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl ApiRequest {
    pub fn new(method: Method, path: &str, query: Option<&str>, headers: HeaderMap, body: Vec<u8>) -> ApiRequest {
        let path = path.trim_start_matches('/').to_owned();
        let mut segments = Vec::new();
        for raw in path.split('/').filter(|s| !s.is_empty()) {
            let segment = percent_decode(raw);
            match segment.split_once('(') {
                Some((name, key)) if key.ends_with(')') => {
                    segments.push(name.to_owned());
                    segments.push(key.trim_end_matches(')').trim_matches('\'').to_owned());
                }
                _ => segments.push(segment),
            }
        }
        let query = query
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
            .unwrap_or_default();
        ApiRequest { method, path, segments, query, headers, body }
    }

    /// A query option; OData option names are case-insensitive.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether the body is base64 MIME (`Content-Type: text/plain`) rather than JSON.
    pub fn is_mime(&self) -> bool {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/plain"))
    }

    /// The JSON body; an empty body reads as `{}`.
    pub fn json(&self) -> GraphResult<Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(serde_json::Map::new()));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| GraphError::bad_request(format!("Unable to read JSON request payload: {e}")))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub enum Body {
    Empty,
    Json(Value),
    Bytes { content_type: String, bytes: Vec<u8> },
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Reply {
    pub fn json(status: StatusCode, value: Value) -> Reply {
        Reply { status, headers: Vec::new(), body: Body::Json(value) }
    }

    pub fn empty(status: StatusCode) -> Reply {
        Reply { status, headers: Vec::new(), body: Body::Empty }
    }

    pub fn bytes(content_type: &str, bytes: Vec<u8>) -> Reply {
        Reply {
            status: StatusCode::OK,
            headers: Vec::new(),
            body: Body::Bytes { content_type: content_type.to_owned(), bytes },
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn error(error: &GraphError, request_headers: &HeaderMap, now_ms: i64) -> Reply {
        let client_request_id = request_headers.get("client-request-id").and_then(|v| v.to_str().ok());
        let mut reply = Reply::json(error.status, error.body(client_request_id, now_ms));
        if let Some(seconds) = error.retry_after {
            reply.headers.push(("Retry-After".to_owned(), seconds.to_string()));
        }
        reply
    }
}

/// The `Prefer` header values Graph honours for mail.
#[derive(Debug, Clone, Copy, Default)]
pub struct Prefs {
    pub immutable_ids: bool,
    /// `Some(true)` for `outlook.body-content-type="text"`, `Some(false)` for `"html"`.
    pub text_body: Option<bool>,
    pub max_page_size: Option<usize>,
}

impl Prefs {
    pub fn parse(headers: &HeaderMap) -> Prefs {
        let mut prefs = Prefs::default();
        for value in headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()) {
            for item in value.split(',') {
                let Some((key, value)) = item.split_once('=') else { continue };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "idtype" => prefs.immutable_ids = value.eq_ignore_ascii_case("ImmutableId"),
                    "outlook.body-content-type" => prefs.text_body = Some(value.eq_ignore_ascii_case("text")),
                    "odata.maxpagesize" => prefs.max_page_size = value.parse().ok().filter(|&n| n > 0),
                    _ => {}
                }
            }
        }
        prefs
    }

    /// The preferences every message answer applies, for `Preference-Applied`.
    fn applied(&self) -> Vec<String> {
        let mut applied = Vec::new();
        if self.immutable_ids {
            applied.push("IdType=\"ImmutableId\"".to_owned());
        }
        match self.text_body {
            Some(true) => applied.push("outlook.body-content-type=\"text\"".to_owned()),
            Some(false) => applied.push("outlook.body-content-type=\"html\"".to_owned()),
            None => {}
        }
        applied
    }
}

/// Who is asking, with what preferences, and when.
pub struct Ctx<'a> {
    pub state: &'a SimState,
    pub email: String,
    /// The token's delegated permissions, by short name (`Mail.Read`).
    pub scopes: Vec<String>,
    pub prefs: Prefs,
    pub now_ms: i64,
}

impl Ctx<'_> {
    pub fn new<'a>(state: &'a SimState, email: &str, scopes: &[String], headers: &HeaderMap) -> Ctx<'a> {
        let scopes = scopes.iter().map(|s| s.trim_start_matches("https://graph.microsoft.com/").to_owned()).collect();
        Ctx { state, email: email.to_owned(), scopes, prefs: Prefs::parse(headers), now_ms: state.clock().now_ms() }
    }

    /// Whether the token carries one of these permissions (or `.default`, which is all the
    /// app was granted).
    fn permits(&self, any_of: &[&str]) -> bool {
        self.scopes.iter().any(|s| s == ".default" || any_of.iter().any(|p| s.eq_ignore_ascii_case(p)))
    }

    /// `{base}/microsoft/v1.0`, where next and delta links point.
    pub fn api_base(&self) -> String {
        format!("{}/microsoft/v1.0", self.state.base_url())
    }

    /// An `@odata.context` for something under the user.
    pub fn user_context(&self, rest: &str) -> String {
        format!("{}/$metadata#users('{}')/{rest}", self.api_base(), url_encode(&self.email))
    }

    /// Runs `f` on the caller's mailbox, under the world lock.
    pub fn mailbox<T>(&self, f: impl FnOnce(&mut Mailbox) -> GraphResult<T>) -> GraphResult<T> {
        let mut world = self.state.world();
        let mailbox = world.graph(&self.email).ok_or_else(GraphError::not_found)?;
        f(mailbox)
    }
}

pub fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Answers one request: the resource's reply, or its error in Graph's shape.
pub fn respond(ctx: &Ctx, request: &ApiRequest) -> Reply {
    match dispatch(ctx, request) {
        Ok(mut reply) => {
            let mut applied = ctx.prefs.applied();
            if let Some(i) = reply.headers.iter().position(|(n, _)| n == "Preference-Applied") {
                applied.push(reply.headers.remove(i).1);
            }
            if !applied.is_empty() {
                reply.headers.push(("Preference-Applied".to_owned(), applied.join(", ")));
            }
            reply
        }
        Err(error) => Reply::error(&error, &request.headers, ctx.now_ms),
    }
}

/// The message routes, under `/me/messages/{message-id}` and under a folder's messages alike.
macro_rules! message_routes {
    ($base:literal) => {
        [
            ("GET", concat!($base, "")),
            ("PATCH", concat!($base, "")),
            ("DELETE", concat!($base, "")),
            ("GET", concat!($base, "/$value")),
            ("POST", concat!($base, "/move")),
            ("POST", concat!($base, "/copy")),
            ("POST", concat!($base, "/permanentDelete")),
            ("POST", concat!($base, "/send")),
            ("POST", concat!($base, "/reply")),
            ("POST", concat!($base, "/replyAll")),
            ("POST", concat!($base, "/forward")),
            ("POST", concat!($base, "/createReply")),
            ("POST", concat!($base, "/createReplyAll")),
            ("POST", concat!($base, "/createForward")),
            ("GET", concat!($base, "/attachments")),
            ("POST", concat!($base, "/attachments")),
            ("POST", concat!($base, "/attachments/createUploadSession")),
            ("GET", concat!($base, "/attachments/{attachment-id}")),
            ("DELETE", concat!($base, "/attachments/{attachment-id}")),
            ("GET", concat!($base, "/attachments/{attachment-id}/$value")),
        ]
    };
}

const MESSAGE_ROUTES: [(&str, &str); 20] = message_routes!("/me/messages/{message-id}");
const FOLDER_MESSAGE_ROUTES: [(&str, &str); 20] =
    message_routes!("/me/mailFolders/{mailFolder-id}/messages/{message-id}");
const OTHER_ROUTES: [(&str, &str); 15] = [
    ("POST", "/$batch"),
    ("GET", "/me"),
    ("GET", "/me/mailFolders"),
    ("POST", "/me/mailFolders"),
    ("GET", "/me/mailFolders/delta()"),
    ("GET", "/me/mailFolders/{mailFolder-id}"),
    ("PATCH", "/me/mailFolders/{mailFolder-id}"),
    ("DELETE", "/me/mailFolders/{mailFolder-id}"),
    ("GET", "/me/mailFolders/{mailFolder-id}/childFolders"),
    ("POST", "/me/mailFolders/{mailFolder-id}/childFolders"),
    ("GET", "/me/mailFolders/{mailFolder-id}/messages"),
    ("POST", "/me/mailFolders/{mailFolder-id}/messages"),
    ("GET", "/me/mailFolders/{mailFolder-id}/messages/delta()"),
    ("GET", "/me/messages"),
    ("POST", "/me/messages"),
];
const SEND_MAIL: [(&str, &str); 1] = [("POST", "/me/sendMail")];

/// Every route the Graph emulator serves, as the Graph mail OpenAPI document writes its paths
/// (each is also served under `/users/{user-id}` for the caller). [`dispatch`] refuses anything
/// else before it looks further, so this table is what the conformance test checks against the
/// document.
pub fn served() -> impl Iterator<Item = (&'static str, &'static str)> {
    OTHER_ROUTES.into_iter().chain(SEND_MAIL).chain(MESSAGE_ROUTES).chain(FOLDER_MESSAGE_ROUTES)
}

/// Whether `segments` (lower case, after `/me`) fit the route template `path`: literal segments
/// equal (`delta()` written `delta` too, as Graph takes both), `{…}` segments anything.
fn fits(path: &str, segments: &[&str]) -> bool {
    let template: Vec<&str> = path.strip_prefix("/me").unwrap_or(path).split('/').filter(|s| !s.is_empty()).collect();
    template.len() == segments.len()
        && template.iter().zip(segments).all(|(t, s)| {
            (t.starts_with('{') && t.ends_with('}'))
                || t.eq_ignore_ascii_case(s)
                || t.strip_suffix("()").is_some_and(|t| t.eq_ignore_ascii_case(s))
        })
}

fn dispatch(ctx: &Ctx, request: &ApiRequest) -> GraphResult<Reply> {
    let segments = &request.segments;
    let first = segments.first().map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    // `/users/{id or address}` is `/me` when it names the caller.
    let rest = match first.as_str() {
        "me" => &segments[1..],
        "users"
            if segments
                .get(1)
                .is_some_and(|u| u.eq_ignore_ascii_case(&ctx.email) || *u == folders::user_id(&ctx.email)) =>
        {
            &segments[2..]
        }
        "users" => return Err(GraphError::not_found()),
        _ => return Err(GraphError::unknown_segment(segments.first().map_or("", String::as_str))),
    };
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let method = &request.method;
    let routes = || served().filter(|(_, path)| path.starts_with("/me") && fits(path, &lower));
    if !routes().any(|(verb, _)| verb == method.as_str()) {
        return Err(match routes().next() {
            Some(_) => GraphError::method_not_allowed(),
            None => GraphError::unknown_segment(rest.last().map_or("", String::as_str)),
        });
    }
    if !ctx.permits(permissions(method, &lower)) {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        ));
    }
    match lower.as_slice() {
        [] => only(method, Method::GET).and_then(|()| folders::me(ctx, request)),
        ["mailfolders"] => match *method {
            Method::GET => folders::list(ctx, request, None),
            Method::POST => folders::create(ctx, request, None),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["mailfolders", "delta"] => only(method, Method::GET).and_then(|()| folders::delta(ctx, request)),
        ["mailfolders", _] => match *method {
            Method::GET => folders::get(ctx, request, &rest[1]),
            Method::PATCH => folders::update(ctx, request, &rest[1]),
            Method::DELETE => folders::delete(ctx, &rest[1]),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["mailfolders", _, "childfolders"] => match *method {
            Method::GET => folders::list(ctx, request, Some(&rest[1])),
            Method::POST => folders::create(ctx, request, Some(&rest[1])),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["mailfolders", _, "messages"] => match *method {
            Method::GET => messages::list(ctx, request, Some(&rest[1])),
            Method::POST => send::create_draft(ctx, request, &rest[1]),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["mailfolders", _, "messages", "delta"] => {
            only(method, Method::GET).and_then(|()| delta::messages(ctx, request, &rest[1]))
        }
        ["mailfolders", _, "messages", _, ..] => message(ctx, request, &rest[3], &lower[4..], &rest[4..]),
        ["messages"] => match *method {
            Method::GET => messages::list(ctx, request, None),
            Method::POST => send::create_draft(ctx, request, "drafts"),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["messages", _, ..] => message(ctx, request, &rest[1], &lower[2..], &rest[2..]),
        ["sendmail"] => only(method, Method::POST).and_then(|()| send::send_mail(ctx, request)),
        _ => Err(GraphError::unknown_segment(rest.last().map_or("", String::as_str))),
    }
}

/// The delegated permissions any one of which a request needs, per the API pages' tables.
fn permissions(method: &Method, path: &[&str]) -> &'static [&'static str] {
    const SEND: &[&str] = &["Mail.Send"];
    const WRITE: &[&str] = &["Mail.ReadWrite"];
    const READ: &[&str] = &["Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"];
    match path.last().copied() {
        None => &["User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All"],
        Some("sendmail" | "send" | "reply" | "replyall" | "forward") => SEND,
        _ if *method == Method::GET => READ,
        _ => WRITE,
    }
}

/// Routes under `/me/messages/{id}`.
fn message(ctx: &Ctx, request: &ApiRequest, id: &str, lower: &[&str], rest: &[String]) -> GraphResult<Reply> {
    let method = &request.method;
    let post = || only(method, Method::POST);
    match lower {
        [] => match *method {
            Method::GET => messages::get(ctx, request, id),
            Method::PATCH => messages::update(ctx, request, id),
            Method::DELETE => messages::delete(ctx, id),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["$value"] => only(method, Method::GET).and_then(|()| messages::mime(ctx, id)),
        ["permanentdelete"] => post().and_then(|()| messages::delete(ctx, id)),
        ["move"] => post().and_then(|()| messages::move_or_copy(ctx, request, id, false)),
        ["copy"] => post().and_then(|()| messages::move_or_copy(ctx, request, id, true)),
        ["send"] => post().and_then(|()| send::send_draft(ctx, id)),
        ["reply"] => post().and_then(|()| send::respond_to(ctx, request, id, send::Kind::Reply, false)),
        ["replyall"] => post().and_then(|()| send::respond_to(ctx, request, id, send::Kind::ReplyAll, false)),
        ["forward"] => post().and_then(|()| send::respond_to(ctx, request, id, send::Kind::Forward, false)),
        ["createreply"] => post().and_then(|()| send::respond_to(ctx, request, id, send::Kind::Reply, true)),
        ["createreplyall"] => post().and_then(|()| send::respond_to(ctx, request, id, send::Kind::ReplyAll, true)),
        ["createforward"] => post().and_then(|()| send::respond_to(ctx, request, id, send::Kind::Forward, true)),
        ["attachments"] => match *method {
            Method::GET => attachments::list(ctx, request, id),
            Method::POST => attachments::add(ctx, request, id),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["attachments", "createuploadsession"] => {
            post().and_then(|()| attachments::create_upload_session(ctx, request, id))
        }
        ["attachments", _] => match *method {
            Method::GET => attachments::get(ctx, id, &rest[1], false),
            Method::DELETE => attachments::delete(ctx, id, &rest[1]),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["attachments", _, "$value"] => {
            only(method, Method::GET).and_then(|()| attachments::get(ctx, id, &rest[1], true))
        }
        _ => Err(GraphError::unknown_segment(rest.last().map_or("", String::as_str))),
    }
}

fn only(method: &Method, expected: Method) -> GraphResult<()> {
    if *method == expected { Ok(()) } else { Err(GraphError::method_not_allowed()) }
}

impl Reply {
    pub fn into_http(self) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        let mut response = match self.body {
            Body::Empty => self.status.into_response(),
            Body::Json(value) => (
                self.status,
                [(header::CONTENT_TYPE, "application/json; odata.metadata=minimal; charset=utf-8")],
                value.to_string(),
            )
                .into_response(),
            Body::Bytes { content_type, bytes } => {
                (self.status, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
            }
        };
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) =
                (axum::http::HeaderName::from_bytes(name.as_bytes()), axum::http::HeaderValue::from_str(&value))
            {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}
