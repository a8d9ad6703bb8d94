//! Prometheus metrics: requests by route and status, a latency histogram, and the database pool.
//! The recorder is process-wide, so it is installed once and shared by every router in the process.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

const REQUESTS: &str = "mailroom_http_requests_total";
const DURATION: &str = "mailroom_http_request_duration_seconds";

/// Installs the process's metrics recorder (once) and returns the handle that renders it.
pub fn install_recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(DURATION.to_owned()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
                )
                .expect("the bucket list is not empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding program's); then ours still
            // renders what the middleware records through it.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub async fn track(State(_): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!(DURATION, "method" => method, "route" => route).record(started.elapsed().as_secs_f64());
    response
}

/// The metrics page: everything recorded, plus the pool's state read now.
pub fn render(state: &AppState) -> String {
    let (size, idle) = state.store.db().pool_usage();
    let backend = state.store.db().backend().as_str();
    metrics::gauge!("mailroom_db_pool_connections", "backend" => backend).set(f64::from(size));
    #[expect(clippy::cast_precision_loss, reason = "a pool never holds 2^52 connections")]
    metrics::gauge!("mailroom_db_pool_idle_connections", "backend" => backend).set(idle as f64);
    install_recorder().render()
}
