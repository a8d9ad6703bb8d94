//! Failures on demand, deterministic from a seed: a share of 500/503 answers, a share of API calls
//! refused as rate limited, added latency and dropped connections on the provider endpoints (never
//! on the control API).

use std::time::Duration;

use tokio::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::SimState;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Seed of the simulator's random choices (tokens, ids, faults).
    pub seed: u64,
    /// Share of provider requests answered with a server error (0.0 to 1.0), half 500 and half 503.
    pub error_rate: f64,
    /// The round trip of every provider request as the client sees it, in milliseconds (see
    /// [`Latency`]).
    pub latency_ms: u64,
    /// Share of provider requests whose connection is dropped before an answer (0.0 to 1.0).
    pub drop_rate: f64,
    /// Share of API calls refused as rate limited (0.0 to 1.0), as each provider refuses them: Gmail
    /// 429 `rateLimitExceeded` without `Retry-After` (the handle-errors guide says not to count on
    /// one), judged per call inside a batch since Google limits and charges each call of a batch on
    /// its own; Graph 429 `ApplicationThrottled` with `Retry-After`. Token endpoints are spared:
    /// they have no such quota.
    pub rate_limit_rate: f64,
}

/// Injected latency for a handler to spend where it matters (Graph: inside its concurrency
/// slot). It is a network's: half of the round trip passes before the request is handled, as if
/// on its way there, and the answer leaves when the whole round trip since the request arrived
/// has passed, so that the simulator's own work falls inside the round trip instead of adding to
/// it, as a provider's does (a page of a hundred messages takes the simulator a millisecond or
/// two, which on a 40-page folder would otherwise lengthen the benchmark's critical path).
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    arrived: Instant,
    round_trip: Duration,
}

impl Latency {
    fn new(round_trip: Duration) -> Latency {
        Latency { arrived: Instant::now(), round_trip }
    }

    /// Waits until the request has travelled to the server.
    pub async fn there(&self) {
        tokio::time::sleep_until(self.arrived + self.round_trip / 2).await;
    }

    /// Waits until the answer has travelled back.
    pub async fn back(&self) {
        tokio::time::sleep_until(self.arrived + self.round_trip).await;
    }
}

enum Roll {
    Pass,
    Error(StatusCode),
    RateLimited,
    Drop,
}

/// Whether a path is an API call that counts against a provider's rate limits on its own. A
/// Gmail batch is not: its calls are judged one by one (`gmail::batch`).
fn rate_limited_path(path: &str) -> bool {
    path.starts_with("/google/gmail/") || path.starts_with("/google/upload/") || path.starts_with("/microsoft/v1.0/")
}

/// Whether this call is to be refused as rate limited, by the faults in force.
pub(crate) fn roll_rate_limit(state: &SimState) -> bool {
    let rate = state.faults().rate_limit_rate;
    rate > 0.0 && state.world().rng.random_bool(rate.clamp(0.0, 1.0))
}

pub async fn inject(State(state): State<SimState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with("/_sim") {
        return next.run(request).await;
    }
    let faults = state.faults();
    let mut request = request;
    let mut latency = None;
    if faults.latency_ms > 0 {
        let round_trip = Latency::new(Duration::from_millis(faults.latency_ms));
        if path.starts_with("/microsoft/v1.0/") {
            // Graph spends the delay while holding one of the mailbox's concurrency slots, as a
            // slow server does; see `graph::api_request`.
            request.extensions_mut().insert(round_trip);
        } else {
            round_trip.there().await;
            latency = Some(round_trip);
        }
    }
    let roll = {
        let mut world = state.world();
        let drop = faults.drop_rate > 0.0 && world.rng.random_bool(faults.drop_rate.clamp(0.0, 1.0));
        let error = faults.error_rate > 0.0 && world.rng.random_bool(faults.error_rate.clamp(0.0, 1.0));
        let limited = faults.rate_limit_rate > 0.0
            && rate_limited_path(&path)
            && world.rng.random_bool(faults.rate_limit_rate.clamp(0.0, 1.0));
        match (drop, error, limited) {
            (true, _, _) => Roll::Drop,
            (false, true, _) if world.rng.random_bool(0.5) => Roll::Error(StatusCode::INTERNAL_SERVER_ERROR),
            (false, true, _) => Roll::Error(StatusCode::SERVICE_UNAVAILABLE),
            (false, false, true) => Roll::RateLimited,
            _ => Roll::Pass,
        }
    };
    let response = match roll {
        Roll::Pass => next.run(request).await,
        Roll::Error(status) => server_error(&path, status),
        Roll::RateLimited => rate_limited(&path),
        // A body that fails mid-stream makes the server abort the connection.
        Roll::Drop => Response::new(Body::from_stream(futures_fail())),
    };
    if let Some(latency) = latency {
        latency.back().await;
    }
    response
}

/// A body stream that fails at once: the server then aborts the connection.
pub(crate) fn futures_fail() -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    tokio_stream_once(Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "connection dropped by mailroom-sim",
    )))
}

/// A stream of one item, without pulling in a stream crate.
fn tokio_stream_once<T: Unpin>(item: T) -> impl futures_core::Stream<Item = T> {
    struct Once<T>(Option<T>);
    impl<T: Unpin> futures_core::Stream for Once<T> {
        type Item = T;
        fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>> {
            std::task::Poll::Ready(self.0.take())
        }
    }
    Once(Some(item))
}

/// A rate-limit refusal in the shape of the provider the path belongs to.
fn rate_limited(path: &str) -> Response {
    if path.starts_with("/microsoft/") {
        let body = serde_json::json!({"error": {"code": "ApplicationThrottled",
            "message": "Application is over its MailboxConcurrency limit.",
            "innerError": {"date": "", "request-id": ""}}});
        let mut response =
            (StatusCode::TOO_MANY_REQUESTS, [(header::CONTENT_TYPE, "application/json")], body.to_string())
                .into_response();
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        response
    } else {
        crate::gmail::rate_limited()
    }
}

/// A server error in the shape of the provider the path belongs to.
fn server_error(path: &str, status: StatusCode) -> Response {
    let body = if path.starts_with("/microsoft/v1.0") {
        let code = if status == StatusCode::SERVICE_UNAVAILABLE { "serviceNotAvailable" } else { "generalException" };
        serde_json::json!({"error": {"code": code, "message": "The service is temporarily unavailable.", "innerError": {"date": "", "request-id": ""}}})
    } else if path.starts_with("/microsoft/") {
        serde_json::json!({"error": "temporarily_unavailable", "error_description": "AADSTS50020: The service is temporarily unavailable.", "error_codes": [50020]})
    } else if path.starts_with("/google/token") {
        serde_json::json!({"error": "temporarily_unavailable", "error_description": "The service is temporarily unavailable."})
    } else {
        let (reason, message) = if status == StatusCode::SERVICE_UNAVAILABLE {
            ("backendError", "The service is currently unavailable.")
        } else {
            ("backendError", "Internal error encountered.")
        };
        serde_json::json!({"error": {"code": status.as_u16(), "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": if status == StatusCode::SERVICE_UNAVAILABLE { "UNAVAILABLE" } else { "INTERNAL" }}})
    };
    let mut response =
        (status, [(header::CONTENT_TYPE, "application/json; charset=UTF-8")], body.to_string()).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}
