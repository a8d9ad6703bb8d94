//! Operations endpoints: liveness, readiness and metrics. Plain text, no session needed.

use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};

use crate::AppState;
use crate::errors::Verbatim;
use crate::viewer::Viewer;

fn verbatim(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    response.extensions_mut().insert(Verbatim);
    response
}

/// The process is up.
pub async fn healthz() -> Response {
    verbatim(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".to_owned())
}

/// The process can serve requests: the database answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.store.db().ping().await {
        verbatim(StatusCode::OK, "text/plain; charset=utf-8", "ready\n".to_owned())
    } else {
        verbatim(StatusCode::SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", "database unreachable\n".to_owned())
    }
}

/// The metrics, for Prometheus. They tell traffic and the database's state, so they are not for
/// anyone: with `metrics_token` set, the request must carry it as a bearer token; without, only a
/// request from this machine that no proxy forwarded is answered.
pub async fn metrics(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    headers: axum::http::HeaderMap,
) -> Response {
    let allowed = match &state.config.metrics_token {
        Some(token) => {
            let presented = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            // Digests compared, so the time taken says nothing about the token.
            Sha256::digest(presented.trim().as_bytes()) == Sha256::digest(token.expose_secret().as_bytes())
        }
        None => viewer.direct && viewer.client_ip.is_some_and(|ip| ip.is_loopback()),
    };
    if !allowed {
        let why = "metrics need the bearer token set as MAILROOM_METRICS_TOKEN, or a request from this machine\n";
        let mut response = verbatim(StatusCode::UNAUTHORIZED, "text/plain; charset=utf-8", why.to_owned());
        response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        return response;
    }
    verbatim(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", crate::telemetry::render(&state).await)
}
