//! The scheduler: syncs every active account at the configured interval, and at once when a user
//! asks. Each account is synced by one worker at a time, through a lease in the database, so
//! several server processes on one PostgreSQL share the accounts; a semaphore limits how many
//! accounts this process syncs at once.
//!
//! A run is recorded from its start: its progress is written to its row when its phase changes and
//! every second (with the time it expects to take and any wait on the provider), the lease
//! renewed while it goes on, and its outcome written at the end. A failed run is tried again
//! sooner than the interval (30 s, then doubling), so a passing outage heals by itself.

use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::Provider;
use mailroom_store::{Account, Claim, RunMode, RunOutcome, RunProgress, RunTrigger, WaitReason};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::{Engine, Mode, Progress, ProgressState, SyncError, SyncReport, sync_gmail};

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// This process's name in leases: unique per process.
    pub owner: String,
    /// Accounts synced at once by this process.
    pub concurrency: usize,
    /// How often the schedule is read when nobody wakes the scheduler.
    pub tick: Duration,
    /// How long a lease lasts unless renewed; a crashed process's accounts are free after this.
    pub lease: Duration,
}

impl SchedulerConfig {
    pub fn new(concurrency: usize) -> SchedulerConfig {
        SchedulerConfig {
            owner: format!("{}-{}", std::process::id(), mailroom_store::random_token()),
            concurrency: concurrency.max(1),
            tick: Duration::from_secs(5),
            lease: Duration::from_secs(30),
        }
    }
}

/// Syncs one account by its provider, after replaying the user's actions there, so that the
/// changes pulled include them.
pub async fn sync_account(
    engine: &Engine,
    account: &Account,
    mode: Mode,
    progress: &Progress,
) -> Result<SyncReport, SyncError> {
    let gmail = account.provider == Provider::Google;
    // A rate learned before, by this process or another, is where the pacer starts.
    let stored = engine.store.learned_rate(account.id).await?;
    if let Some(learned) = &stored {
        engine.pacing.start_from(account.id, gmail, u32::try_from(learned.rate).unwrap_or(u32::MAX));
    }
    let result = sync_with_writebacks(engine, account, mode, progress).await;
    // A mailbox connected again gets back what the user kept of it at the disconnect, on each
    // message this run (or an earlier one) brought.
    if result.is_ok() {
        match engine.store.restore_kept_extras(account.id).await {
            Ok(0) => {}
            Ok(restored) => tracing::info!(account.id = %account.id, restored, "notes, to-dos and tags put back"),
            Err(err) => tracing::warn!(error = %err, "cannot put back what was kept at a disconnect"),
        }
    }
    // What the pacer learned is kept with the account, whether the run ended well or not; most
    // runs learn nothing new, and write nothing.
    let learned = engine
        .pacing
        .learned(account.id)
        .map(|l| (i64::from(l.rate), i64::try_from(l.window.as_secs()).unwrap_or(i64::MAX)));
    if learned != stored.map(|s| (s.rate, s.window_secs))
        && let Err(err) = engine.store.save_learned_rate(account.id, learned, mailroom_store::now()).await
    {
        tracing::warn!(error = %err, "cannot keep the rate learned for the mailbox");
    }
    result
}

async fn sync_with_writebacks(
    engine: &Engine,
    account: &Account,
    mode: Mode,
    progress: &Progress,
) -> Result<SyncReport, SyncError> {
    crate::push_writebacks(engine, account, progress).await?;
    match account.provider {
        Provider::Google => sync_gmail(engine, account, mode, progress).await,
        Provider::Microsoft => crate::sync_graph(engine, account, mode, progress).await,
    }
}

/// The scheduler of this process. `wake` makes it look at the schedule at once (a user asked for
/// a run).
pub struct Scheduler {
    engine: Engine,
    config: SchedulerConfig,
    wake: Arc<Notify>,
}

impl Scheduler {
    pub fn new(engine: Engine, config: SchedulerConfig, wake: Arc<Notify>) -> Scheduler {
        Scheduler { engine, config, wake }
    }

    /// Runs until `shutdown` completes; runs under way then stop where they are (every step they
    /// stored is kept, and the next run goes on from there).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        let mut runs = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            while let Ok(slot) = slots.clone().try_acquire_owned() {
                let now = mailroom_store::now();
                let lease_until = now + lease_secs(&self.config);
                match self.engine.store.claim_due_sync(&self.config.owner, now, lease_until).await {
                    Ok(Some(claim)) => {
                        let (engine, config) = (self.engine.clone(), self.config.clone());
                        runs.spawn(async move {
                            run_claim(&engine, &config, claim).await;
                            drop(slot);
                        });
                    }
                    Ok(None) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot read the sync schedule");
                        break;
                    }
                }
            }
            // Finished runs are collected so the set does not grow.
            while runs.try_join_next().is_some() {}
            tokio::select! {
                () = tokio::time::sleep(self.config.tick) => {}
                () = self.wake.notified() => {}
                Some(_) = runs.join_next(), if !runs.is_empty() => {}
                () = &mut shutdown => break,
            }
        }
        runs.shutdown().await;
    }
}

fn lease_secs(config: &SchedulerConfig) -> i64 {
    i64::try_from(config.lease.as_secs()).unwrap_or(30).max(1)
}

/// Runs one claimed account and records it.
async fn run_claim(engine: &Engine, config: &SchedulerConfig, claim: Claim) {
    let store = &engine.store;
    let account = match store.account(claim.account).await {
        Ok(Some(account)) => account,
        Ok(None) => return,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the account to sync");
            return;
        }
    };
    let (mode, trigger) = match claim.requested {
        Some(RunMode::Full) => (Mode::Full, RunTrigger::Manual),
        Some(RunMode::Incremental) => (Mode::Incremental, RunTrigger::Manual),
        None => (Mode::Incremental, RunTrigger::Schedule),
    };
    let run_mode = if mode == Mode::Full { RunMode::Full } else { RunMode::Incremental };
    // A user's request is followed to the run that serves it, by its number.
    let serves = claim.requested.map(|_| claim.request_seq);
    let run = match store.start_run_for(account.id, run_mode, trigger, serves, mailroom_store::now()).await {
        Ok(run) => run,
        Err(err) => {
            tracing::warn!(error = %err, "cannot record the sync run");
            return;
        }
    };
    let progress = Progress::new();
    let started = std::time::Instant::now();
    let result = {
        let sync = sync_account(engine, &account, mode, &progress);
        let watch = watch(engine, config, &claim, run, &progress);
        tokio::pin!(sync);
        tokio::pin!(watch);
        tokio::select! {
            result = &mut sync => Some(result),
            () = &mut watch => None,
        }
    };
    let state = progress.snapshot();
    let (outcome, error) = match &result {
        Some(Ok(_)) => (RunOutcome::Succeeded, None),
        Some(Err(err)) => (RunOutcome::Failed, Some(err.to_string())),
        None => (RunOutcome::Interrupted, Some("another process took the account over".to_owned())),
    };
    tracing::info!(
        account.id = %account.id,
        mode = run_mode.as_str(),
        outcome = outcome.as_str(),
        imported = state.imported,
        deleted = state.deleted,
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error = error.as_deref().unwrap_or(""),
        "sync run ended"
    );
    let now = mailroom_store::now();
    let phase = if outcome == RunOutcome::Succeeded { "done" } else { state.phase };
    if let Err(err) = store.finish_run(run, figures(&state, phase, None, None), outcome, error.as_deref(), now).await {
        tracing::warn!(error = %err, "cannot record the end of the sync run");
    }

    let mut next_at = next_run_at(engine, &claim, outcome == RunOutcome::Succeeded, now).await;
    if outcome == RunOutcome::Succeeded && account.provider == Provider::Microsoft {
        let more = fetch_mime(engine, config, &claim, &account).await;
        if more {
            // The claim's share is done; the account is due again at once to go on with the rest.
            next_at = now;
        }
    }
    if let Err(err) = store.release_sync(&claim, &config.owner, next_at, outcome == RunOutcome::Succeeded).await {
        tracing::warn!(error = %err, "cannot release the sync lease");
    }
}

/// Outlook's raw MIME, which the sync leaves for later: fetched after a successful run, while the
/// account is still leased, newest first, until none is missing, a user asks for a run, or the
/// claim's share is done. Returns whether some is still missing.
async fn fetch_mime(engine: &Engine, config: &SchedulerConfig, claim: &Claim, account: &Account) -> bool {
    let mut fetched = 0;
    while fetched < MIME_PER_CLAIM {
        // A request made since the claim (the one it served, if any, is still recorded until the
        // claim is released) goes first.
        if engine.store.sync_requested_after(account.id, claim.request_seq).await.unwrap_or(false) {
            return true;
        }
        let until = mailroom_store::now() + lease_secs(config);
        if !engine.store.renew_sync_lease(claim.account, &config.owner, until).await.unwrap_or(false) {
            return false;
        }
        match crate::fetch_pending_mime(engine, account, MIME_STEP).await {
            Ok(0) => return false,
            Ok(n) => fetched += n,
            Err(err) => {
                tracing::warn!(account.id = %account.id, error = %err, "fetching Outlook MIME failed; it goes on later");
                return false;
            }
        }
    }
    true
}

/// The least time between two writes of a run's progress.
const PROGRESS_GAP: Duration = Duration::from_millis(250);

/// Messages whose MIME one claim fetches at most, and per step between lease renewals.
const MIME_PER_CLAIM: usize = 2_000;
const MIME_STEP: u32 = 25;

fn figures<'a>(
    state: &ProgressState,
    phase: &'a str,
    estimate_at: Option<i64>,
    waiting: Option<(i64, WaitReason)>,
) -> RunProgress<'a> {
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    RunProgress {
        phase,
        imported: i64::try_from(state.imported).unwrap_or(i64::MAX),
        deleted: i64::try_from(state.deleted).unwrap_or(i64::MAX),
        estimated_total: state.estimated_total.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
        kind: state.kind,
        added: count(state.applied.added),
        changed: count(state.applied.changed),
        removed: count(state.applied.removed),
        estimate_at,
        waiting,
    }
}

/// Unix seconds `after` from now, rounded up: a wait of 0.2 s is not over at the second it began.
fn unix_after(after: Duration) -> i64 {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    mailroom_store::now().saturating_add(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Writes the run's progress as it changes (a few times a second at most) and every second (what
/// it waits for, the time it has left), and renews the lease; returns only if the lease is lost
/// (another process holds the account now), which stops the run. The row says what the run does
/// now: written only every second, a small import that ended within its first second was shown
/// "Starting: 0 messages so far" however much it had stored, until its end was written.
async fn watch(engine: &Engine, config: &SchedulerConfig, claim: &Claim, run: i64, progress: &Progress) {
    let renew_every = (config.lease / 3).max(Duration::from_secs(1));
    let mut last_renewal = tokio::time::Instant::now();
    let mut written: Option<RunProgress<'static>> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = progress.changed() => {}
        }
        let state = progress.snapshot();
        let now = tokio::time::Instant::now();
        let phase = if state.phase.is_empty() { "starting" } else { state.phase };
        let estimate_at = state.time_left(now).map(unix_after);
        let waiting = engine
            .pacing
            .waiting(claim.account)
            .map(|wait| (unix_after(wait.until.saturating_duration_since(now)), wait.reason));
        let figures = figures(&state, phase, estimate_at, waiting);
        if written != Some(figures) {
            match engine.store.update_run(run, figures).await {
                Ok(()) => written = Some(figures),
                Err(err) => tracing::warn!(error = %err, "cannot record the sync progress"),
            }
            // An import counts every batch: its row is written a few times a second, not at each.
            tokio::time::sleep(PROGRESS_GAP).await;
        }
        if last_renewal.elapsed() >= renew_every {
            let until = mailroom_store::now() + lease_secs(config);
            match engine.store.renew_sync_lease(claim.account, &config.owner, until).await {
                Ok(true) => last_renewal = tokio::time::Instant::now(),
                Ok(false) => return,
                Err(err) => tracing::warn!(error = %err, "cannot renew the sync lease"),
            }
        }
    }
}

/// When the account's next automatic run is due: the configured interval after a success; after
/// failures in a row, 30 s doubling each time, never later than the interval.
async fn next_run_at(engine: &Engine, claim: &Claim, succeeded: bool, now: i64) -> i64 {
    let interval = match engine.store.email_settings().await {
        Ok(settings) => i64::from(settings.sync_interval.minutes()) * 60,
        Err(_) => i64::from(mailroom_domain::SyncInterval::DEFAULT.minutes()) * 60,
    };
    if succeeded {
        return now + interval;
    }
    let failures = engine.store.sync_failures(claim.account).await.unwrap_or(0).clamp(0, 10);
    now + (30_i64 << failures).min(interval)
}
