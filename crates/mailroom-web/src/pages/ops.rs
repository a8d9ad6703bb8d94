//! Operations endpoints: liveness, readiness and metrics. Plain text, no session needed.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::errors::Verbatim;

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

pub async fn metrics(State(state): State<AppState>) -> Response {
    verbatim(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", crate::telemetry::render(&state))
}
