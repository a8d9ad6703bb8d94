//! The Gmail API v1 emulator: the mailbox model and the REST methods under `/google/gmail/v1/`,
//! media uploads under `/google/upload/gmail/v1/`, and the batch endpoint.
//!
//! Every call, alone or in a batch, goes through [`methods::dispatch`], which routes it by the
//! method table ([`METHODS`], checked against the discovery document by the tests),
//! authenticates it, checks the mailbox owner, the scopes and the parameters, charges the quota
//! and runs the handler of its resource module.

mod batch;
mod compose;
mod control;
mod drafts;
mod errors;
mod history;
mod labels;
mod listing;
mod mailbox;
mod messages;
mod methods;
mod multipart;
mod payload;
mod quota;
mod search;
mod threads;
mod upload;
mod users;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};

pub use mailbox::{Label, LabelColor, Mailbox};
pub use methods::{GLOBAL_PARAMETERS, METHODS, MethodSpec};

use crate::SimState;

/// Room for a 150 MB `messages.insert` once base64 has grown it by a third, plus JSON.
const MAX_BODY: usize = 210 * 1024 * 1024;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/google/gmail/v1/{*rest}", any(api))
        .route("/google/upload/gmail/v1/{*rest}", any(upload))
        .route("/google/batch/gmail/v1", post(batch::handle))
        .route("/google/batch", post(batch::handle))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

async fn api(state: State<SimState>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    serve(state, method, uri, headers, body, false)
}

/// A media upload: the same methods, with the message as the body.
async fn upload(state: State<SimState>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    serve(state, method, uri, headers, body, true)
}

fn serve(
    State(state): State<SimState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    upload: bool,
) -> Response {
    let path = uri.path().strip_prefix(if upload { "/google/upload/" } else { "/google/" }).unwrap_or_default();
    let query = uri.query().unwrap_or_default();
    let incoming = methods::Incoming { method: method.as_str(), path, query, headers: &headers, body: &body, upload };
    methods::dispatch(&state, &incoming).into_response()
}

/// The answer to a call over the user's quota, for the fault injector.
pub(crate) fn rate_limited() -> Response {
    errors::Reply::from(errors::ApiError::rate_limited()).into_response()
}

/// Control operations on Gmail mailboxes, mounted under `/_sim/gmail/{email}`.
pub fn control_router() -> Router<SimState> {
    control::router()
}
