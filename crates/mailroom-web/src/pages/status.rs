//! The administrators' status page: what needs them, in one place. Mailboxes in trouble (to be
//! reconnected, last run failed, or behind their schedule), the queues towards the providers,
//! the latest failed runs with their reasons, and a Microsoft client secret about to expire.
//! `/metrics` carries the same figures for a monitoring system (`telemetry::render`).

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use mailroom_domain::{AccountStatus, SyncInterval};
use mailroom_store::{Account, QueueDepths, RunOutcome};

use super::email_settings::{ENTRA_APP_REGISTRATIONS, SecretExpiryWarning, secret_expiry_warning};
use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::viewer::{Admin, Ctx};

/// The fewest seconds a mailbox may go without a successful sync before it counts as behind: a
/// first import or a slow provider takes minutes even when the interval is one.
const BEHIND_FLOOR_SECS: i64 = 15 * 60;

/// How long since its last successful sync a mailbox counts as behind: three intervals, so that
/// one run that failed and was retried after a backoff is not yet trouble, and at least
/// [`BEHIND_FLOOR_SECS`].
pub(crate) fn behind_after_secs(interval: SyncInterval) -> i64 {
    (3 * i64::from(interval.minutes()) * 60).max(BEHIND_FLOOR_SECS)
}

/// Seconds since the account's last successful sync, or since it was connected if it has none;
/// `None` for a disabled account, which is not synced on purpose.
pub(crate) fn sync_lag_secs(account: &Account, now: i64) -> Option<i64> {
    (account.status != AccountStatus::Disabled)
        .then(|| (now - account.last_sync_at.unwrap_or(account.created_at)).max(0))
}

/// A mailbox in trouble as the table shows it.
struct TroubleRow {
    owner: String,
    address: String,
    problems: Vec<&'static str>,
    last_sync: String,
    error: Option<String>,
}

/// A failed run as the table shows it.
struct ErrorRow {
    address: String,
    at: String,
    error: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_status.html")]
struct StatusPage {
    ctx: Ctx,
    behind_rule: String,
    trouble: Vec<TroubleRow>,
    queues: QueueDepths,
    errors: Vec<ErrorRow>,
    secret_expiry: Option<SecretExpiryWarning>,
    entra_console: &'static str,
}

/// How many failed runs the page lists.
const RECENT_ERRORS: i64 = 20;

pub async fn show(State(state): State<AppState>, _: Admin, ctx: Ctx) -> Result<Response, ErrorKind> {
    let t = ctx.t;
    let now = mailroom_store::now();
    let settings = state.store.email_settings().await.map_err(internal)?;
    let behind_after = behind_after_secs(settings.sync_interval);
    let owners: HashMap<_, _> =
        state.store.users().await.map_err(internal)?.into_iter().map(|u| (u.id, u.email)).collect();
    let last_runs: HashMap<_, _> = state
        .store
        .latest_finished_runs()
        .await
        .map_err(internal)?
        .into_iter()
        .map(|run| (run.account_id, run))
        .collect();
    let mut trouble = Vec::new();
    for account in state.store.all_accounts().await.map_err(internal)? {
        let last_run = last_runs.get(&account.id);
        let failed = last_run.filter(|run| run.outcome == Some(RunOutcome::Failed));
        let reconnect = account.status == AccountStatus::ReauthorizationRequired;
        let mut problems = Vec::new();
        if reconnect {
            problems.push(t.account_reauthorization_required);
        }
        if failed.is_some() {
            problems.push(t.trouble_last_run_failed);
        }
        // One that waits to be reconnected is behind by its nature; saying so twice adds nothing.
        if !reconnect && sync_lag_secs(&account, now).is_some_and(|lag| lag > behind_after) {
            problems.push(t.trouble_behind);
        }
        if problems.is_empty() {
            continue;
        }
        trouble.push(TroubleRow {
            owner: owners.get(&account.user_id).cloned().unwrap_or_default(),
            problems,
            last_sync: ctx.clock.when(account.last_sync_at),
            error: failed.and_then(|run| run.error.clone()).or_else(|| account.last_error.clone()),
            address: account.address,
        });
    }
    let errors = state
        .store
        .recent_failed_runs(RECENT_ERRORS)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|run| ErrorRow { address: run.address, at: ctx.clock.full(run.finished_at), error: run.error })
        .collect();
    let page = StatusPage {
        behind_rule: t.status_behind_rule.replace("{minutes}", &(behind_after / 60).to_string()),
        trouble,
        queues: state.store.queue_depths().await.map_err(internal)?,
        errors,
        secret_expiry: secret_expiry_warning(t, settings.microsoft.secret_expires_at, now),
        entra_console: ENTRA_APP_REGISTRATIONS,
        ctx,
    };
    Ok(page.into_response())
}
