//! Connected mailboxes: the accounts page, the OAuth authorization (connect, callback), disconnect,
//! and the administrators' overview. The callback is the one page that waits on a provider.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use mailroom_domain::{AccountId, AccountStatus, ImportStart, Provider};
use mailroom_providers::{OAuthApp, OAuthError, Pkce, authorization_url};
use mailroom_store::{Account, Connection, Identity, RunKind, RunMode, RunOutcome, RunTrigger, StateProblem, SyncRun};
use serde::Deserialize;

use super::see_other;
use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::i18n::Texts;
use crate::progress;
use crate::time::Clock;
use crate::viewer::{Admin, Ctx, SignedIn, Viewer};

/// An account as the page shows it.
struct AccountView {
    account: Account,
    provider: &'static str,
    status: &'static str,
    needs_reconnect: bool,
    last_sync: String,
    sync: SyncView,
}

/// Where an account's sync stands, in words and, during an import, as a bar.
struct SyncView {
    /// What the run shown is, when that says something: "First import", "Sync now".
    label: Option<&'static str>,
    text: String,
    /// What a run going on waits for, or the time it has left.
    detail: Option<String>,
    /// A "Sync now" waiting for another run to end.
    note: Option<&'static str>,
    /// `(done, total)` while a run with an estimate goes on.
    progress: Option<(i64, i64)>,
    /// A run goes on or is about to start: the page refreshes itself.
    busy: bool,
    failed: bool,
}

impl SyncView {
    fn plain(text: String, busy: bool) -> SyncView {
        SyncView { label: None, text, detail: None, note: None, progress: None, busy, failed: false }
    }
}

fn provider_name(provider: Provider) -> &'static str {
    match provider {
        Provider::Google => "Gmail",
        Provider::Microsoft => "Outlook",
    }
}

fn status_text(t: &Texts, status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Active => t.account_active,
        AccountStatus::Syncing => t.account_syncing,
        AccountStatus::ReauthorizationRequired => t.account_reauthorization_required,
        AccountStatus::Disabled => t.account_disabled,
    }
}

/// A run going on: its phase with its count, and what it waits for or the time it has left.
fn running_view(clock: &Clock, t: &Texts, account: &Account, run: &SyncRun, now: i64) -> SyncView {
    let language = clock.language;
    let progress = run
        .estimated_total
        .filter(|total| *total > 0 && run.phase == "importing")
        .map(|total| (run.imported.min(total), total));
    SyncView {
        label: progress::run_label(t, run),
        text: progress::phase_progress(language, t, run),
        detail: progress::running_detail(language, t, account.provider, run, now),
        note: None,
        progress,
        busy: true,
        failed: false,
    }
}

/// A run that is over: its outcome, when, and what it changed.
fn finished_view(clock: &Clock, t: &Texts, run: &SyncRun) -> SyncView {
    let at = clock.when(run.finished_at);
    let (text, failed) = match run.outcome {
        Some(RunOutcome::Failed) => {
            (t.sync_failed.replace("{when}", &at).replace("{error}", run.error.as_deref().unwrap_or("")), true)
        }
        Some(RunOutcome::Interrupted) => (t.sync_interrupted.replace("{when}", &at), false),
        // Left open by a process that is gone: the next claim marks it interrupted.
        None => (t.sync_interrupted.replace("{when}", &clock.when(Some(run.started_at))), false),
        Some(RunOutcome::Succeeded) => {
            let (added, changed, removed) = counts(run);
            (
                t.sync_succeeded
                    .replace("{when}", &at)
                    .replace("{added}", &added)
                    .replace("{changed}", &changed)
                    .replace("{removed}", &removed),
                false,
            )
        }
    };
    SyncView { label: progress::run_label(t, run), text, detail: None, note: None, progress: None, busy: false, failed }
}

async fn sync_view(state: &AppState, t: &Texts, clock: &Clock, account: &Account) -> Result<SyncView, ErrorKind> {
    let now = mailroom_store::now();
    let status = state.store.sync_status(account.id, now).await.map_err(internal)?;
    if status.requested.is_some() {
        // A user's request is followed to the run that serves it and to that run's result; an
        // earlier run, or one that does not serve it, is not its answer.
        let serves = |run: &SyncRun| run.request_seq == Some(status.request_seq);
        return Ok(match (&status.running, &status.last) {
            (Some(run), _) if serves(run) => running_view(clock, t, account, run, now),
            (Some(run), _) => {
                SyncView { note: Some(t.sync_requested_after_run), ..running_view(clock, t, account, run, now) }
            }
            // Its run is over; the request is cleared a moment later, when the account is released.
            (None, Some(run)) if serves(run) => finished_view(clock, t, run),
            _ => SyncView::plain(t.sync_requested.to_owned(), true),
        });
    }
    if let Some(run) = &status.running {
        return Ok(running_view(clock, t, account, run, now));
    }
    match &status.last {
        Some(run) => Ok(finished_view(clock, t, run)),
        // A new account's first run is due at once.
        None => Ok(SyncView::plain(t.sync_never.to_owned(), account.status == AccountStatus::Active)),
    }
}

async fn view(state: &AppState, t: &Texts, clock: &Clock, account: Account) -> Result<AccountView, ErrorKind> {
    Ok(AccountView {
        provider: provider_name(account.provider),
        status: status_text(t, account.status),
        needs_reconnect: account.status == AccountStatus::ReauthorizationRequired,
        last_sync: clock.when(account.last_sync_at),
        sync: sync_view(state, t, clock, &account).await?,
        account,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts.html")]
struct AccountsPage {
    ctx: Ctx,
    accounts: Vec<AccountView>,
    /// The providers the administrator enabled, as `(form value, button label)`.
    connectable: Vec<(&'static str, &'static str)>,
    import_days: String,
    import_error: Option<String>,
}

impl AccountsPage {
    fn any_needs_reconnect(&self) -> bool {
        self.accounts.iter().any(|a| a.needs_reconnect)
    }

    /// Whether a sync goes on or is about to: the page then refreshes itself.
    fn any_busy(&self) -> bool {
        self.accounts.iter().any(|a| a.sync.busy)
    }
}

async fn accounts_page(
    state: &AppState,
    ctx: Ctx,
    user: mailroom_domain::UserId,
    import: Option<(String, String)>,
) -> Result<AccountsPage, ErrorKind> {
    let t = ctx.t;
    let mut accounts = Vec::new();
    for account in state.store.accounts_of(user).await.map_err(internal)? {
        accounts.push(view(state, t, &ctx.clock, account).await?);
    }
    let settings = state.store.email_settings().await.map_err(internal)?;
    let mut connectable = Vec::new();
    if settings.google.enabled {
        connectable.push(("google", t.connect_gmail));
    }
    if settings.microsoft.enabled {
        connectable.push(("microsoft", t.connect_outlook));
    }
    let (import_days, import_error) = match import {
        Some((value, error)) => (value, Some(error)),
        None => (settings.import_start.as_days().to_string(), None),
    };
    Ok(AccountsPage { ctx, accounts, connectable, import_days, import_error })
}

pub async fn list(State(state): State<AppState>, SignedIn(user): SignedIn, ctx: Ctx) -> Result<Response, ErrorKind> {
    let page = accounts_page(&state, ctx, user.id, None).await?;
    Ok(with_provider_form_action(&state, page.into_response()))
}

/// The accounts page's Connect forms end in a redirect to the provider's authorization page;
/// browsers check that redirect against the page's `form-action`, so it names the providers.
fn with_provider_form_action(state: &AppState, mut response: Response) -> Response {
    let endpoints = &state.config.endpoints;
    let origins: Vec<String> = [endpoints.google.auth_url.to_string(), endpoints.microsoft.auth_url_for("common")]
        .iter()
        .filter_map(|u| url::Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization())
        .collect();
    let policy = crate::CONTENT_SECURITY_POLICY
        .replace("form-action 'self'", &format!("form-action 'self' {}", origins.join(" ")));
    if let Ok(value) = axum::http::HeaderValue::from_str(&policy) {
        response.headers_mut().insert(axum::http::header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

#[derive(Deserialize)]
pub struct ConnectForm {
    provider: String,
    #[serde(default)]
    import_days: String,
}

/// A page that says what went wrong with a connection and leads back to the accounts.
#[derive(Template, WebTemplate)]
#[template(path = "problem.html")]
struct ProblemPage {
    ctx: Ctx,
    title: &'static str,
    message: String,
}

fn problem(ctx: Ctx, status: StatusCode, message: impl Into<String>) -> Response {
    let title = ctx.t.connect_problem_title;
    (status, ProblemPage { ctx, title, message: message.into() }).into_response()
}

/// The OAuth app of an enabled provider, with the redirect URI the settings page shows.
async fn oauth_app(state: &AppState, provider: Provider) -> Result<Option<OAuthApp>, ErrorKind> {
    mailroom_sync::oauth_app(&state.store, &state.config.endpoints, provider, &state.config.redirect_uri())
        .await
        .map_err(internal)
}

/// Starts an authorization: a single-use state bound to this session, a PKCE verifier kept sealed
/// in the store, and the browser sent to the provider.
pub async fn connect(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    SignedIn(user): SignedIn,
    ctx: Ctx,
    Form(form): Form<ConnectForm>,
) -> Result<Response, ErrorKind> {
    let provider = Provider::parse(&form.provider).ok_or(ErrorKind::BadRequest)?;
    let import = match ImportStart::parse(&form.import_days) {
        Ok(import) => import,
        Err(invalid) => {
            let message = ctx.t.invalid(invalid);
            let page = accounts_page(&state, ctx, user.id, Some((form.import_days, message))).await?;
            return Ok(with_provider_form_action(&state, (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()));
        }
    };
    let Some(app) = oauth_app(&state, provider).await? else {
        let message = ctx.t.oauth_provider_disabled;
        return Ok(problem(ctx, StatusCode::BAD_REQUEST, message));
    };
    let session = viewer.session.ok_or(ErrorKind::Forbidden)?;
    let pkce = Pkce::generate();
    let now = mailroom_store::now();
    let oauth_state = state
        .store
        .begin_authorization(user.id, &session, provider, &pkce.verifier, import.as_days(), now)
        .await
        .map_err(internal)?;
    let url = authorization_url(&app, &state.config.endpoints, &oauth_state, &pkce.challenge, None);
    Ok(Redirect::to(url.as_str()).into_response())
}

/// The provider sends the browser back here with a code, or with an error. Every failure shows a
/// page that says what happened and what to do, and stores nothing.
pub async fn callback(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    SignedIn(user): SignedIn,
    ctx: Ctx,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ErrorKind> {
    let t = ctx.t;
    let session = viewer.session.ok_or(ErrorKind::Forbidden)?;
    let Some(oauth_state) = params.get("state") else {
        return Ok(problem(ctx, StatusCode::BAD_REQUEST, t.oauth_state_unknown));
    };
    let now = mailroom_store::now();
    let pending = match state.store.take_authorization(oauth_state, &session, now).await.map_err(internal)? {
        Ok(pending) if pending.user == user.id => pending,
        Ok(_) | Err(StateProblem::Foreign) => return Ok(problem(ctx, StatusCode::BAD_REQUEST, t.oauth_state_foreign)),
        Err(StateProblem::Unknown) => return Ok(problem(ctx, StatusCode::BAD_REQUEST, t.oauth_state_unknown)),
        Err(StateProblem::Expired) => return Ok(problem(ctx, StatusCode::BAD_REQUEST, t.oauth_state_expired)),
    };
    let provider = provider_name(pending.provider);
    if let Some(error) = params.get("error") {
        let message = if error == "access_denied" {
            t.oauth_denied.replace("{provider}", provider)
        } else {
            t.oauth_provider_error.replace("{provider}", provider).replace("{error}", error)
        };
        return Ok(problem(ctx, StatusCode::BAD_REQUEST, message));
    }
    let Some(code) = params.get("code") else {
        return Ok(problem(ctx, StatusCode::BAD_REQUEST, t.oauth_state_unknown));
    };
    let Some(app) = oauth_app(&state, pending.provider).await? else {
        return Ok(problem(ctx, StatusCode::BAD_REQUEST, t.oauth_provider_disabled));
    };
    let tokens = match state.providers.exchange_code(&app, code, &pending.verifier, now).await {
        Ok(tokens) => tokens,
        Err(err) => {
            tracing::warn!(error = %err, provider = pending.provider.as_str(), "code exchange failed");
            let message = match err {
                OAuthError::InvalidClient { .. } => t.oauth_invalid_client.replace("{provider}", provider),
                OAuthError::Transient { .. } => t.oauth_transient.replace("{provider}", provider),
                _ => t.oauth_rejected.replace("{provider}", provider),
            };
            return Ok(problem(ctx, StatusCode::BAD_GATEWAY, message));
        }
    };
    let Some(refresh_token) = tokens.refresh_token.as_ref() else {
        return Ok(problem(ctx, StatusCode::BAD_GATEWAY, t.oauth_no_refresh_token.replace("{provider}", provider)));
    };
    let profile = match state.providers.mailbox_profile(pending.provider, &tokens.access_token).await {
        Ok(profile) => profile,
        Err(err) => {
            tracing::warn!(error = %err, provider = pending.provider.as_str(), "reading the mailbox profile failed");
            return Ok(problem(ctx, StatusCode::BAD_GATEWAY, t.oauth_transient.replace("{provider}", provider)));
        }
    };
    let identities: Vec<Identity> = profile
        .identities
        .iter()
        .map(|i| Identity { address: i.address.clone(), name: i.name.clone(), is_default: i.is_default })
        .collect();
    let connection = Connection {
        user: user.id,
        provider: pending.provider,
        remote_id: &profile.remote_id,
        address: &profile.address,
        display_name: profile.display_name.as_deref(),
        identities: &identities,
        access_token: &tokens.access_token,
        refresh_token,
        expires_at: tokens.expires_at,
        scopes: &tokens.scopes,
        import_days: pending.import_days,
    };
    let (account, reconnected) = state.store.connect_account(&connection, now).await.map_err(internal)?;
    tracing::info!(account.id = %account.id, user.id = %user.id, reconnected, "mailbox connected");
    // A new mailbox is due at once, and a reconnected one goes on where it stopped: either way the
    // scheduler need not wait for its next look at the schedule.
    state.sync_wake.notify_one();
    Ok(see_other("/accounts", if reconnected { "account_reconnected" } else { "account_connected" }))
}

#[derive(Deserialize)]
pub struct DisconnectForm {
    /// "1" to keep the user's notes, to-dos and tags of this mailbox for a later connection.
    #[serde(default)]
    keep: String,
}

/// Disconnects a mailbox: revokes Mailroom's access at the provider where it can (Google), then
/// deletes the account and its tokens, keeping the user's own notes, to-dos and tags when asked.
/// Mail at the provider is never touched.
pub async fn disconnect(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
    Form(form): Form<DisconnectForm>,
) -> Result<Response, ErrorKind> {
    let account = state.store.account_of(user.id, AccountId(id)).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
    if let Some(app) = oauth_app(&state, account.provider).await? {
        let tokens = state.store.account_tokens(&account).await.map_err(internal)?;
        if let Some(refresh) = tokens.refresh_token {
            // Revocation is a courtesy to the user; the account goes whether or not it succeeds.
            if let Err(err) = state.providers.revoke(&app, &refresh).await {
                tracing::warn!(error = %err, account.id = %account.id, "revocation at the provider failed");
            }
        }
    }
    let keep = form.keep == "1";
    let kept = state.store.delete_account_keeping(user.id, account.id, keep, mailroom_store::now()).await;
    let kept = kept.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
    tracing::info!(account.id = %account.id, user.id = %user.id, kept, "mailbox disconnected");
    Ok(see_other("/accounts", "account_disconnected"))
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_accounts.html")]
struct AdminAccountsPage {
    ctx: Ctx,
    rows: Vec<(String, AccountView)>,
}

/// Every account with its owner, status and last error; no tokens and no mail.
pub async fn admin_list(State(state): State<AppState>, _: Admin, ctx: Ctx) -> Result<Response, ErrorKind> {
    let owners: HashMap<_, _> =
        state.store.users().await.map_err(internal)?.into_iter().map(|u| (u.id, u.email)).collect();
    let t = ctx.t;
    let mut rows = Vec::new();
    for account in state.store.all_accounts().await.map_err(internal)? {
        let owner = owners.get(&account.user_id).cloned().unwrap_or_default();
        rows.push((owner, view(&state, t, &ctx.clock, account).await?));
    }
    Ok(AdminAccountsPage { ctx, rows }.into_response())
}

#[derive(Deserialize)]
pub struct SyncForm {
    /// `now` or `full`.
    mode: String,
}

/// "Sync now" and "Full resync": records the request and wakes the scheduler; the run itself
/// happens in the background, and the accounts page follows it.
pub async fn request_sync(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
    Form(form): Form<SyncForm>,
) -> Result<Response, ErrorKind> {
    let account = state.store.account_of(user.id, AccountId(id)).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
    let (mode, notice) = match form.mode.as_str() {
        "now" => (RunMode::Incremental, "sync_requested"),
        "full" => (RunMode::Full, "full_sync_requested"),
        _ => return Err(ErrorKind::BadRequest),
    };
    state.store.request_sync(account.id, mode).await.map_err(internal)?;
    state.sync_wake.notify_one();
    tracing::info!(account.id = %account.id, mode = mode.as_str(), "sync asked for");
    Ok(see_other("/accounts", notice))
}

/// What a run changed: new, changed and removed messages. A run recorded before these were kept
/// counted only what it fetched ("new or changed") and removed; its changed is unknown.
fn counts(run: &SyncRun) -> (String, String, String) {
    match (run.added, run.changed, run.removed) {
        (Some(added), Some(changed), Some(removed)) => (added.to_string(), changed.to_string(), removed.to_string()),
        _ => (run.imported.to_string(), "–".to_owned(), run.deleted.to_string()),
    }
}

/// A sync run as the log shows it.
struct RunView {
    started: String,
    kind: String,
    duration: String,
    added: String,
    changed: String,
    removed: String,
    outcome: &'static str,
    failed: bool,
    error: Option<String>,
    /// A run going on: its phase, count, and wait or time left.
    progress: Option<String>,
}

fn run_view(t: &Texts, clock: &Clock, provider: Provider, run: SyncRun, now: i64) -> RunView {
    // What the run turned out to be; what was asked for, for runs recorded before that was kept.
    let mode = match run.kind {
        Some(RunKind::FirstImport) => t.kind_first_import,
        Some(RunKind::FullResync) => t.kind_full_resync,
        Some(RunKind::Reimport) => t.kind_reimport,
        Some(RunKind::Changes) => t.mode_incremental,
        None if run.mode == RunMode::Full => t.mode_full,
        None => t.mode_incremental,
    };
    let trigger = if run.trigger == RunTrigger::Manual { t.trigger_manual } else { t.trigger_schedule };
    let seconds = run.finished_at.unwrap_or(now).saturating_sub(run.started_at).max(0);
    let duration =
        if seconds >= 60 { format!("{} min {} s", seconds / 60, seconds % 60) } else { format!("{seconds} s") };
    let (added, changed, removed) = counts(&run);
    let progress = run.outcome.is_none().then(|| {
        let language = clock.language;
        let text = progress::phase_progress(language, t, &run);
        match progress::running_detail(language, t, provider, &run, now) {
            Some(detail) => format!("{text} · {detail}"),
            None => text,
        }
    });
    RunView {
        started: clock.full(run.started_at),
        kind: format!("{mode} ({trigger})"),
        duration,
        added,
        changed,
        removed,
        outcome: match run.outcome {
            None => t.outcome_running,
            Some(RunOutcome::Succeeded) => t.outcome_succeeded,
            Some(RunOutcome::Failed) => t.outcome_failed,
            Some(RunOutcome::Interrupted) => t.outcome_interrupted,
        },
        failed: run.outcome == Some(RunOutcome::Failed),
        error: run.error,
        progress,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "sync_log.html")]
struct SyncLogPage {
    ctx: Ctx,
    intro: String,
    /// What was learned of the mailbox's limit, when the provider allows less than the settings.
    learned: Option<String>,
    runs: Vec<RunView>,
}

impl SyncLogPage {
    /// Whether a run goes on: the log then refreshes itself, as the accounts page does.
    fn any_running(&self) -> bool {
        self.runs.iter().any(|r| r.progress.is_some())
    }
}

/// The account's last 100 sync runs.
pub async fn sync_log(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
    ctx: Ctx,
) -> Result<Response, ErrorKind> {
    let account = state.store.account_of(user.id, AccountId(id)).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
    let now = mailroom_store::now();
    let t = ctx.t;
    let runs = state
        .store
        .runs_of(account.id, 100)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|r| run_view(t, &ctx.clock, account.provider, r, now))
        .collect();
    let intro = t.sync_log_intro.replace("{address}", &account.address);
    let learned = state.store.learned_rate(account.id).await.map_err(internal)?.map(|learned| {
        let text = if account.provider == Provider::Google { t.learned_gmail } else { t.learned_graph };
        text.replace("{rate}", &learned.rate.to_string()).replace("{when}", &ctx.clock.full(learned.learned_at))
    });
    Ok(SyncLogPage { ctx, intro, learned, runs }.into_response())
}
