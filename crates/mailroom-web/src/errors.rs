//! Every error is a page. Handlers and extractors answer an error with a bare status (and an
//! [`ErrorKind`] when the status alone is ambiguous); [`render`] turns any error response that is
//! not already a page into one, in the viewer's language. That also covers the framework's own
//! refusals: unknown routes, wrong methods, malformed forms, bodies over the limit.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::i18n::texts;
use crate::viewer::{Ctx, Viewer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    /// Input holding the NUL character (see `input`).
    Nul,
    Forbidden,
    /// A missing or forged CSRF proof.
    Csrf,
    NotFound,
    TooLarge,
    Internal,
    Unavailable,
}

/// Marks a response whose body must go out as it is (health checks, metrics).
#[derive(Debug, Clone, Copy)]
pub struct Verbatim;

/// An internal failure: logged once here, shown as the generic error page.
pub fn internal(err: impl std::fmt::Display) -> ErrorKind {
    tracing::error!(error = %err, "request failed");
    ErrorKind::Internal
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    ctx: Ctx,
    status: u16,
    message: &'static str,
    /// Shown for a failure on the server, so that the administrator can find it in the logs.
    request_id: Option<String>,
}

pub async fn render(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let viewer = request.extensions().get::<Viewer>().cloned();
    let request_id = request.extensions().get::<crate::panics::RequestId>().map(|id| id.0.clone());
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.extensions().get::<Verbatim>().is_some() {
        return response;
    }
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_page {
        return response;
    }
    let Some(viewer) = viewer else {
        return response;
    };
    let t = texts(viewer.language);
    let kind = response.extensions().get::<ErrorKind>().copied();
    let message = match (kind, status) {
        (Some(ErrorKind::Csrf), _) => t.error_csrf,
        (Some(ErrorKind::Nul), _) => t.error_nul,
        (_, StatusCode::BAD_REQUEST) => t.error_bad_request,
        (_, StatusCode::FORBIDDEN) => t.error_forbidden,
        (_, StatusCode::NOT_FOUND) => t.error_not_found,
        (_, StatusCode::METHOD_NOT_ALLOWED) => t.error_method,
        (_, StatusCode::PAYLOAD_TOO_LARGE) => t.error_too_large,
        (_, StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::UNPROCESSABLE_ENTITY) => t.error_malformed,
        (_, StatusCode::TOO_MANY_REQUESTS) => t.error_too_many,
        (_, StatusCode::SERVICE_UNAVAILABLE) => t.error_unavailable,
        _ if status.is_client_error() => t.error_bad_request,
        _ => t.error_internal,
    };
    let ctx = Ctx {
        language: viewer.language,
        t,
        csrf: crate::csrf::token(&state, &viewer.csrf_binding),
        clock: crate::time::Clock::of(viewer.user.as_ref(), viewer.language),
        user: viewer.user,
        path,
        notice: None,
    };
    let request_id = request_id.filter(|_| status.is_server_error());
    let mut page = (status, ErrorPage { ctx, status: status.as_u16(), message, request_id }).into_response();
    for name in [header::RETRY_AFTER, header::ALLOW] {
        if let Some(value) = response.headers().get(&name) {
            page.headers_mut().insert(name, value.clone());
        }
    }
    page
}
