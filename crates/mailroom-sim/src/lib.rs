//! `mailroom-sim`: stateful emulators of the services Mailroom talks to, which cannot be reached
//! from where Mailroom is built and tested. Google OAuth 2.0 + the Gmail API v1, and the Microsoft
//! identity platform v2.0 + Microsoft Graph v1.0 mail, as their public documentation describes
//! them: paths, parameters, JSON shapes, paging, error bodies and limits. Where our client and the
//! simulator disagree, the documentation decides.
//!
//! One HTTP server serves everything under one base URL:
//!
//! | prefix | emulates |
//! |---|---|
//! | `/google/o/oauth2/v2/auth`, `/google/token`, `/google/revoke`, `/google/v1/userinfo` | Google OAuth 2.0 |
//! | `/google/gmail/v1/…`, `/google/batch/gmail/v1` | Gmail API v1 (API base `{base}/google/`) |
//! | `/microsoft/{tenant}/oauth2/v2.0/authorize`, `…/token` | Microsoft identity platform v2.0 |
//! | `/microsoft/v1.0/…` | Microsoft Graph v1.0 mail (API base `{base}/microsoft/v1.0/`) |
//! | `/_sim/…` | the control API for tests and demos (not part of either provider) |
//!
//! Production code never uses this crate except `mailroom demo`.

mod control;
mod faults;
pub mod gmail;
pub mod graph;
pub mod mime;
mod oauth;
pub mod seed;
mod state;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;

pub use faults::Faults;
pub use state::{Clock, LogEntry, ProviderKind, Quotas, SimClient, SimState, SimUser};

/// How the simulator behaves. Defaults follow the providers' published figures.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Lifetime of access tokens (Google and Microsoft both say about an hour).
    pub access_token_lifetime: Duration,
    /// How long Gmail keeps history: older `startHistoryId`s get 404 ("typically valid for at
    /// least a week").
    pub gmail_history_retention: Duration,
    /// How long a Graph delta token stays valid before 410 `syncStateNotFound` (no fixed limit is
    /// published; a week is a conservative stand-in).
    pub graph_delta_retention: Duration,
    /// Gmail quota units per user per minute: 15,000 (projects before May 2026) or 6,000.
    pub gmail_user_units_per_minute: u32,
    /// Gmail per-method costs: the 2026 table when true, else the earlier one.
    pub gmail_costs_2026: bool,
    /// Graph: requests per app and mailbox in 10 minutes.
    pub graph_requests_per_10_minutes: u32,
    /// Graph: concurrent requests per mailbox.
    pub graph_concurrency: u32,
    /// The windows the quotas are counted over: Google's minute and Microsoft's ten minutes.
    /// Tests shorten them (with Mailroom's pacing windows) to see minutes of pacing in seconds.
    pub gmail_quota_window: Duration,
    pub graph_quota_window: Duration,
    /// Graph: the largest message a mailbox sends, its MIME as built, attachments included.
    /// Exchange Online's default is 35 MB ("By default, this message size limit is 35 MB",
    /// attachment-createuploadsession.md); administrators may raise it to 150 MB.
    pub graph_send_limit_bytes: usize,
    /// Consent pages redirect at once, for scripts.
    pub auto_consent: bool,
    /// Microsoft refresh tokens stop working once used (rotation enforced).
    pub microsoft_single_use_refresh_tokens: bool,
    /// Injected failures, deterministic from `Faults::seed`.
    pub faults: Faults,
    /// The request log keeps JSON request and response bodies too, for tests that check a
    /// client's requests and the simulator's answers against the providers' documents.
    pub record_bodies: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            access_token_lifetime: Duration::from_secs(3600),
            gmail_history_retention: Duration::from_secs(7 * 24 * 3600),
            graph_delta_retention: Duration::from_secs(7 * 24 * 3600),
            gmail_user_units_per_minute: 15_000,
            gmail_costs_2026: false,
            graph_requests_per_10_minutes: 10_000,
            graph_concurrency: 4,
            gmail_quota_window: Duration::from_secs(60),
            graph_quota_window: Duration::from_secs(600),
            graph_send_limit_bytes: 35 * 1024 * 1024,
            auto_consent: false,
            microsoft_single_use_refresh_tokens: true,
            faults: Faults::default(),
            record_bodies: false,
        }
    }
}

/// The whole simulator as one router.
pub fn router(state: SimState) -> Router {
    Router::new()
        .merge(oauth::router())
        .merge(gmail::router())
        .merge(graph::router())
        .merge(control::router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), faults::inject))
        .layer(axum::middleware::from_fn_with_state(state.clone(), state::log_request))
        .with_state(state)
}

/// A simulator running on a port of its own.
pub struct RunningSim {
    pub state: SimState,
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSim {
    /// Starts a simulator on `addr` (port 0 picks a free port) in the current runtime.
    pub async fn start(addr: SocketAddr, state: SimState) -> std::io::Result<RunningSim> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        state.set_base_url(format!("http://{addr}"));
        let app = router(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(RunningSim { state, addr, shutdown: Some(tx), task })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// The endpoint settings that point Mailroom at a simulator at `base`, as `MAILROOM_*` variables.
pub fn mailroom_endpoints(base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("MAILROOM_GOOGLE_AUTH_URL", format!("{base}/google/o/oauth2/v2/auth")),
        ("MAILROOM_GOOGLE_TOKEN_URL", format!("{base}/google/token")),
        ("MAILROOM_GOOGLE_REVOKE_URL", format!("{base}/google/revoke")),
        ("MAILROOM_GOOGLE_API_URL", format!("{base}/google/")),
        ("MAILROOM_GOOGLE_USERINFO_URL", format!("{base}/google/v1/userinfo")),
        ("MAILROOM_MICROSOFT_AUTH_URL", format!("{base}/microsoft/{{tenant}}/oauth2/v2.0/authorize")),
        ("MAILROOM_MICROSOFT_TOKEN_URL", format!("{base}/microsoft/{{tenant}}/oauth2/v2.0/token")),
        ("MAILROOM_MICROSOFT_API_URL", format!("{base}/microsoft/v1.0/")),
    ]
}
