//! The Microsoft Graph v1.0 mail emulator: the mailbox model and the REST resources under
//! `/microsoft/v1.0/`, plus `$batch`.
//!
//! Every API request goes through [`api_request`]: it authenticates the bearer token, admits the
//! request against the mailbox's limits, and hands it to the route table in `api`, which `$batch`
//! parts reach the same way.

mod api;
mod attachments;
mod batch;
mod compose;
mod control;
mod delta;
mod errors;
mod folders;
mod mailbox;
mod messages;
mod odata;
pub mod openapi;
mod send;
mod throttle;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;

pub use api::served;
pub use mailbox::Mailbox;

use crate::SimState;
use crate::state::{AuthFailure, ProviderKind, Spent};
use api::{ApiRequest, Ctx, Reply};
use errors::GraphError;

/// The largest body the upload URL takes: a chunk is asked to stay under 4 MB, but the URL is
/// not the API and the simulator is lenient there.
const MAX_BODY: usize = 64 * 1024 * 1024;
/// The largest body of an API request: "the total request size … 4 MB" (a JSON message with
/// its `contentBytes`, base64 MIME, a `$batch`). A larger message is built up as a draft,
/// attachment by attachment, and the draft is sent (outlook-large-attachments.md).
pub const REQUEST_LIMIT: usize = 4 * 1024 * 1024;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/microsoft/v1.0/{*path}", any(api_request))
        .route("/microsoft/uploads/{email}/{token}", any(attachments::upload))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// Control operations on Graph mailboxes, mounted under `/_sim/graph/{email}`.
pub fn control_router() -> Router<SimState> {
    control::router()
}

async fn api_request(
    State(state): State<SimState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    latency: Option<axum::Extension<crate::faults::Latency>>,
    body: Body,
) -> Response {
    let now = state.clock().now_ms();
    let caller = match state.authenticate(&headers, ProviderKind::Microsoft) {
        Ok(caller) => caller,
        Err(failure) => {
            let message = match failure {
                AuthFailure::Missing => "Access token is empty.",
                AuthFailure::Invalid => "IDX14100: JWT is not well formed, there are no dots (.).",
                AuthFailure::Expired => "Lifetime validation failed, the token is expired.",
            };
            let error = GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message);
            return Reply::error(&error, &headers, now).into_http();
        }
    };
    // Held until the answer is ready, so a slow body or a slow answer occupies its slot.
    let reply = match throttle::admit(&state, &caller.email) {
        Err(error) => Reply::error(&error, &headers, now),
        Ok(_slot) => {
            let latency = latency.map(|axum::Extension(latency)| latency);
            if let Some(latency) = latency {
                latency.there().await;
            }
            let reply = match axum::body::to_bytes(body, REQUEST_LIMIT).await {
                Err(_) => Reply::error(
                    &GraphError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "RequestEntityTooLarge",
                        "The request body is larger than 4 MB; attach large files to a draft one by one.",
                    ),
                    &headers,
                    now,
                ),
                Ok(bytes) => {
                    let path = uri.path().strip_prefix("/microsoft/v1.0/").unwrap_or_default();
                    let request = ApiRequest::new(method, path, uri.query(), headers, bytes.to_vec());
                    let ctx = Ctx::new(&state, &caller.email, &caller.scopes, &request.headers);
                    if path.eq_ignore_ascii_case("$batch") {
                        batch::run(&ctx, &request).unwrap_or_else(|e| Reply::error(&e, &request.headers, ctx.now_ms))
                    } else {
                        api::respond(&ctx, &request)
                    }
                }
            };
            if let Some(latency) = latency {
                latency.back().await;
            }
            reply
        }
    };
    let mut response = reply.into_http();
    response.extensions_mut().insert(Spent { units: 0, user: caller.email });
    response
}
