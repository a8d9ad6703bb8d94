//! CSRF protection for every state-changing request. The proof is an HMAC, under a key derived
//! from the secret key, of what the viewer's requests are bound to (the session, or the anonymous
//! cookie before login). It needs no server-side state, works across server processes, and a new
//! session after login makes old proofs useless. SameSite=Lax cookies are the second line.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::AppState;
use crate::errors::ErrorKind;
use crate::viewer::Viewer;

/// The form field, and the header for scripts, that carry the proof.
pub const FIELD: &str = "csrf_token";
pub const HEADER: &str = "x-csrf-token";

pub fn token(state: &AppState, binding: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(state, binding).finalize().into_bytes())
}

fn mac(state: &AppState, binding: &str) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(state.csrf_key.as_slice()).expect("HMAC takes any key length");
    mac.update(binding.as_bytes());
    mac
}

fn is_valid(state: &AppState, binding: &str, presented: &str) -> bool {
    let Ok(presented) = URL_SAFE_NO_PAD.decode(presented.trim()) else {
        return false;
    };
    // verify_slice compares in constant time.
    mac(state, binding).verify_slice(&presented).is_ok()
}

pub async fn verify(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    // An API call with a bearer token carries its own proof: a browser never adds the header to
    // a request another site makes, and the API refuses the call unless the token is good.
    if request.uri().path().starts_with("/api/") && request.headers().contains_key(header::AUTHORIZATION) {
        return next.run(request).await;
    }
    let Some(binding) = request.extensions().get::<Viewer>().map(|v| v.csrf_binding.clone()) else {
        return ErrorKind::Csrf.into_response();
    };
    // A script's request carries the proof in its header: the body (a file, maybe) is left to
    // its handler, unread.
    if let Some(presented) = request.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        if is_valid(&state, &binding, presented) {
            return next.run(request).await;
        }
        tracing::warn!(path = %request.uri().path(), "refused a request without a valid CSRF proof");
        return ErrorKind::Csrf.into_response();
    }
    let (parts, body) = request.into_parts();
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).ok();
    let limit = body_limit(&state, parts.uri.path(), content_type);
    // The body is read here, within the limit, to find the form field; it is handed on unchanged.
    let bytes = match crate::input::read_body(body, limit, crate::input::length_of(&parts.headers)).await {
        Ok(bytes) => bytes,
        Err(_) => return ErrorKind::TooLarge.into_response(),
    };
    let from_form = if content_type.starts_with("application/x-www-form-urlencoded") {
        url::form_urlencoded::parse(&bytes).find(|(k, _)| k == FIELD).map(|(_, v)| v.into_owned())
    } else if let Some(boundary) = boundary {
        multipart_field(bytes.clone(), boundary).await
    } else {
        None
    };
    let presented = from_form;
    if !presented.is_some_and(|p| is_valid(&state, &binding, &p)) {
        tracing::warn!(path = %parts.uri.path(), "refused a request without a valid CSRF proof");
        return ErrorKind::Csrf.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The largest body a request to `path` may carry: the compose form's with its files, the API's
/// send with its attachments, else the configured limit. The layers that read a body before its
/// handler read it within this, as the route's own limit would.
pub fn body_limit(state: &AppState, path: &str, content_type: &str) -> usize {
    let multipart = multer::parse_boundary(content_type).is_ok();
    match path {
        "/mail/compose" if multipart => crate::pages::compose::COMPOSE_BODY_LIMIT,
        path if multipart && crate::pages::drafts::carries_files(path) => crate::pages::compose::COMPOSE_BODY_LIMIT,
        "/api/v1/messages/send" => crate::api::SEND_BODY_LIMIT,
        path if path.starts_with("/api/v1/drafts/") && path.ends_with("/files") => crate::api::DRAFT_FILE_BODY_LIMIT,
        _ => state.config.body_limit,
    }
}

/// The proof in a `multipart/form-data` body (the compose form, which uploads files).
async fn multipart_field(body: axum::body::Bytes, boundary: String) -> Option<String> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some(FIELD) {
            return field.text().await.ok();
        }
    }
    None
}
