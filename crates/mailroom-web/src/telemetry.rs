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
            // Provider trouble is counted from zero, so that a rate over it exists before the first.
            for provider in [mailroom_domain::Provider::Google, mailroom_domain::Provider::Microsoft] {
                for status in ["429", "5xx"] {
                    metrics::counter!(mailroom_providers::ERROR_RESPONSES, "provider" => provider.as_str(), "status" => status)
                        .increment(0);
                }
            }
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

/// The metrics page: everything recorded, plus the pool's state and the store's figures read now.
pub async fn render(state: &AppState) -> String {
    let (size, idle) = state.store.db().pool_usage();
    let backend = state.store.db().backend().as_str();
    metrics::gauge!("mailroom_db_pool_connections", "backend" => backend).set(f64::from(size));
    #[expect(clippy::cast_precision_loss, reason = "a pool never holds 2^52 connections")]
    metrics::gauge!("mailroom_db_pool_idle_connections", "backend" => backend).set(idle as f64);
    let mut text = install_recorder().render();
    match store_figures(state).await {
        Ok(figures) => text.push_str(&figures),
        // The rest still tells something; /readyz says whether the database answers.
        Err(err) => tracing::warn!(error = %err, "the store's figures are left out of the metrics"),
    }
    text
}

/// Gauges read from the store at each scrape, written out here rather than through the recorder:
/// the recorder is process-wide and keeps a series after its account is gone, while these must
/// say what this store holds now.
async fn store_figures(state: &AppState) -> Result<String, mailroom_store::StoreError> {
    use std::fmt::Write as _;
    let now = mailroom_store::now();
    let accounts = state.store.all_accounts().await?;
    let queues = state.store.queue_depths().await?;
    let mut text = String::new();
    // Labelled by account id, never the address: addresses stay out of the monitoring system.
    let _ = writeln!(
        text,
        "# HELP mailroom_sync_lag_seconds Seconds since the account's last successful sync (since it was \
         connected, when none has succeeded); disabled accounts are left out.\n\
         # TYPE mailroom_sync_lag_seconds gauge"
    );
    for account in &accounts {
        if let Some(lag) = crate::pages::status::sync_lag_secs(account, now) {
            let _ = writeln!(text, "mailroom_sync_lag_seconds{{account=\"{}\"}} {lag}", account.id);
        }
    }
    let _ = writeln!(
        text,
        "# HELP mailroom_writeback_queue_depth Users' actions on messages waiting to reach the provider \
         (pending), or refused by it (failed).\n\
         # TYPE mailroom_writeback_queue_depth gauge\n\
         mailroom_writeback_queue_depth{{state=\"pending\"}} {}\n\
         mailroom_writeback_queue_depth{{state=\"failed\"}} {}",
        queues.writeback_pending, queues.writeback_failed
    );
    let _ = writeln!(
        text,
        "# HELP mailroom_outbox_queue_depth Messages waiting to be sent or being sent (pending), or that \
         could not be sent (failed).\n\
         # TYPE mailroom_outbox_queue_depth gauge\n\
         mailroom_outbox_queue_depth{{state=\"pending\"}} {}\n\
         mailroom_outbox_queue_depth{{state=\"failed\"}} {}",
        queues.outbox_pending, queues.outbox_failed
    );
    Ok(text)
}
