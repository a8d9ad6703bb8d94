//! The sync engine's bookkeeping: who syncs which account when (the schedule and its lease), and
//! the record of every run with its progress.
//!
//! The lease is a row lock held by time, not by connection: a process claims an account's row by
//! writing its owner name and an expiry, renews it while the run goes on, and clears it at the end.
//! A process that dies leaves a lease that simply runs out, and another process takes the account
//! over; the runs it left behind are then marked interrupted.

use mailroom_domain::AccountId;

use crate::db::{BeginWrite, with_pool};
use crate::{Result, Store};

/// Whether a run starts from the stored cursors or lists everything again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    Incremental,
    Full,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Incremental => "incremental",
            RunMode::Full => "full",
        }
    }

    fn parse(value: &str) -> RunMode {
        if value == "full" { RunMode::Full } else { RunMode::Incremental }
    }
}

/// What a run turned out to be, whatever was asked for: the changes since the last run, or an
/// import of everything — the first, one asked for (a full resync), or one because the
/// provider's changes no longer reach back to the last run (its cursor expired).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunKind {
    #[default]
    Changes,
    FirstImport,
    FullResync,
    Reimport,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Changes => "changes",
            RunKind::FirstImport => "first_import",
            RunKind::FullResync => "full_resync",
            RunKind::Reimport => "reimport",
        }
    }

    fn parse(value: &str) -> RunKind {
        match value {
            "first_import" => RunKind::FirstImport,
            "full_resync" => RunKind::FullResync,
            "reimport" => RunKind::Reimport,
            _ => RunKind::Changes,
        }
    }
}

/// Why a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunTrigger {
    Schedule,
    /// A user asked for it ("Sync now", "Full resync").
    Manual,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            RunTrigger::Schedule => "schedule",
            RunTrigger::Manual => "manual",
        }
    }

    fn parse(value: &str) -> RunTrigger {
        if value == "manual" { RunTrigger::Manual } else { RunTrigger::Schedule }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Succeeded,
    Failed,
    /// The process running it stopped before it ended.
    Interrupted,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed => "failed",
            RunOutcome::Interrupted => "interrupted",
        }
    }

    fn parse(value: &str) -> RunOutcome {
        match value {
            "succeeded" => RunOutcome::Succeeded,
            "failed" => RunOutcome::Failed,
            _ => RunOutcome::Interrupted,
        }
    }
}

/// What a run waits for when it waits on the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// The mailbox's rate limit: paced to what it allows, or asked to wait (a 429, Graph's 503
    /// with `Retry-After`).
    RateLimit,
    /// A passing failure of the provider (a 5xx, a dropped connection): backing off before the
    /// call is tried again.
    ProviderError,
}

impl WaitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::RateLimit => "rate_limit",
            WaitReason::ProviderError => "provider_error",
        }
    }

    fn parse(value: &str) -> WaitReason {
        if value == "provider_error" { WaitReason::ProviderError } else { WaitReason::RateLimit }
    }
}

/// One sync run as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRun {
    pub id: i64,
    pub account_id: AccountId,
    pub mode: RunMode,
    pub trigger: RunTrigger,
    pub phase: String,
    pub imported: i64,
    pub deleted: i64,
    pub estimated_total: Option<i64>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// `None` while the run goes on.
    pub outcome: Option<RunOutcome>,
    pub error: Option<String>,
    /// What the run turned out to be; `None` for runs recorded before this was kept, or while a
    /// run does not know yet.
    pub kind: Option<RunKind>,
    /// Messages new, changed and removed in the store; `None` for runs recorded before.
    pub added: Option<i64>,
    pub changed: Option<i64>,
    pub removed: Option<i64>,
    /// When the run expects its current phase to end, from the rate so far; `None` until there is
    /// enough to go by.
    pub estimate_at: Option<i64>,
    /// Until when the run waits on the provider, and why; `None` when it does not wait.
    pub waiting_until: Option<i64>,
    pub waiting_for: Option<WaitReason>,
    /// The user's request ("Sync now", "Full resync") the run serves, by the schedule's request
    /// counter; `None` for a scheduled run.
    pub request_seq: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    account_id: i64,
    mode: String,
    trigger: String,
    phase: String,
    imported: i64,
    deleted: i64,
    estimated_total: Option<i64>,
    started_at: i64,
    finished_at: Option<i64>,
    outcome: Option<String>,
    error: Option<String>,
    kind: Option<String>,
    added: Option<i64>,
    changed: Option<i64>,
    removed: Option<i64>,
    estimate_at: Option<i64>,
    waiting_until: Option<i64>,
    waiting_for: Option<String>,
    request_seq: Option<i64>,
}

impl From<RunRow> for SyncRun {
    fn from(r: RunRow) -> Self {
        SyncRun {
            id: r.id,
            account_id: AccountId(r.account_id),
            mode: RunMode::parse(&r.mode),
            trigger: RunTrigger::parse(&r.trigger),
            phase: r.phase,
            imported: r.imported,
            deleted: r.deleted,
            estimated_total: r.estimated_total,
            started_at: r.started_at,
            finished_at: r.finished_at,
            outcome: r.outcome.as_deref().map(RunOutcome::parse),
            error: r.error,
            kind: r.kind.as_deref().map(RunKind::parse),
            added: r.added,
            changed: r.changed,
            removed: r.removed,
            estimate_at: r.estimate_at,
            waiting_until: r.waiting_until,
            waiting_for: r.waiting_for.as_deref().map(WaitReason::parse),
            request_seq: r.request_seq,
        }
    }
}

/// An account claimed for a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub account: AccountId,
    /// What a user asked for, if anything; `None` for a scheduled run.
    pub requested: Option<RunMode>,
    /// The request counter at the claim: the request is cleared at the end only if no newer one came.
    pub request_seq: i64,
}

/// Progress figures written to a running run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunProgress<'a> {
    pub phase: &'a str,
    pub imported: i64,
    pub deleted: i64,
    pub estimated_total: Option<i64>,
    /// What the run turned out to be, once it knows.
    pub kind: Option<RunKind>,
    /// Messages new, changed and removed in the store so far.
    pub added: i64,
    pub changed: i64,
    pub removed: i64,
    /// When the current phase is expected to end, once there is enough to estimate.
    pub estimate_at: Option<i64>,
    /// Until when, and why, the run waits on the provider.
    pub waiting: Option<(i64, WaitReason)>,
}

/// Where an account's sync stands, as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    /// The run going on: open, and its account leased by a live process.
    pub running: Option<SyncRun>,
    /// The latest run that is over: finished, or left open by a process that is gone (its lease
    /// ran out; `outcome` is then `None`, and the next claim marks it interrupted).
    pub last: Option<SyncRun>,
    /// A run a user asked for that has not been served yet.
    pub requested: Option<RunMode>,
    /// The schedule's request counter: the latest request's number.
    pub request_seq: i64,
}

macro_rules! runs_query {
    ($tail:literal) => {
        concat!(
            "SELECT id, account_id, mode, trigger, phase, imported, deleted, estimated_total, started_at, finished_at, \
             outcome, error, kind, added, changed, removed, estimate_at, waiting_until, waiting_for, request_seq \
             FROM sync_runs ",
            $tail
        )
    };
}

impl Store {
    /// Gives every active account a schedule row, due at once when new.
    async fn ensure_schedules(&self) -> Result<()> {
        let sql = "INSERT INTO sync_schedule (account_id, next_at) SELECT id, 0 FROM accounts WHERE status = 'active' \
                   ON CONFLICT (account_id) DO NOTHING";
        with_pool!(self.db, pool => sqlx::query(sql).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Claims one active account that is due (asked for by a user, or its next run's time has
    /// come) and not leased by anyone, for `owner` until `lease_until`. Requests go first.
    pub async fn claim_due_sync(&self, owner: &str, now: i64, lease_until: i64) -> Result<Option<Claim>> {
        self.ensure_schedules().await?;
        // The inner SELECT picks a candidate; the outer WHERE checks the lease again, so that of
        // two processes picking the same row only one updates it (PostgreSQL re-reads the row
        // after the lock; SQLite writes one at a time).
        let sql = "UPDATE sync_schedule SET lease_owner = $1, lease_until = $2 \
                   WHERE account_id = (SELECT s.account_id FROM sync_schedule s JOIN accounts a ON a.id = s.account_id \
                       WHERE a.status = 'active' AND ((s.requested IS NOT NULL AND s.failures = 0) OR s.next_at <= $3) \
                       AND (s.lease_until IS NULL OR s.lease_until < $3) \
                       ORDER BY CASE WHEN s.requested IS NULL THEN 1 ELSE 0 END, s.next_at LIMIT 1) \
                   AND (lease_until IS NULL OR lease_until < $3) \
                   RETURNING account_id, requested, request_seq";
        let row: Option<(i64, Option<String>, i64)> = with_pool!(self.db, pool =>
            sqlx::query_as(sql).bind(owner).bind(lease_until).bind(now).fetch_optional(pool).await)?;
        let Some((account, requested, request_seq)) = row else { return Ok(None) };
        // Runs that a dead process left open end here as interrupted.
        let sql = "UPDATE sync_runs SET outcome = 'interrupted', finished_at = $2 \
                   WHERE account_id = $1 AND outcome IS NULL";
        with_pool!(self.db, pool => sqlx::query(sql).bind(account).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(Some(Claim {
            account: AccountId(account),
            requested: requested.as_deref().map(RunMode::parse),
            request_seq,
        }))
    }

    /// Extends the lease; `false` when `owner` no longer holds it.
    pub async fn renew_sync_lease(&self, account: AccountId, owner: &str, lease_until: i64) -> Result<bool> {
        let sql = "UPDATE sync_schedule SET lease_until = $3 WHERE account_id = $1 AND lease_owner = $2";
        let done = with_pool!(self.db, pool =>
            sqlx::query(sql).bind(account.0).bind(owner).bind(lease_until).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Ends a claim: frees the lease, sets the next automatic run, clears the user's request if
    /// no newer one came meanwhile, and counts failures in a row (reset by a success).
    pub async fn release_sync(&self, claim: &Claim, owner: &str, next_at: i64, succeeded: bool) -> Result<()> {
        // A full resync asked for stays asked for until a run of it succeeds: cut off by a
        // failure, it is what the next run does, after the failure's backoff, not a run of changes.
        // A "sync now" is served by the run that tried it: the schedule tries changes again anyway.
        let sql = "UPDATE sync_schedule SET lease_owner = NULL, lease_until = NULL, next_at = $3, \
                   requested = CASE WHEN request_seq = $4 AND ($5 OR requested <> 'full') THEN NULL \
                   ELSE requested END, \
                   failures = CASE WHEN $5 THEN 0 ELSE failures + 1 END \
                   WHERE account_id = $1 AND lease_owner = $2";
        with_pool!(self.db, pool => sqlx::query(sql)
            .bind(claim.account.0)
            .bind(owner)
            .bind(next_at)
            .bind(claim.request_seq)
            .bind(succeeded)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Failed runs in a row for the account.
    pub async fn sync_failures(&self, account: AccountId) -> Result<i64> {
        let sql = "SELECT failures FROM sync_schedule WHERE account_id = $1";
        let failures: Option<i64> =
            with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(account.0).fetch_optional(pool).await)?;
        Ok(failures.unwrap_or(0))
    }

    /// A user asks for a run now. A full resync asked for stays full when a plain one is asked after.
    /// Asking clears the backoff of failed runs: the user's run goes at once.
    pub async fn request_sync(&self, account: AccountId, mode: RunMode) -> Result<()> {
        self.ensure_schedules().await?;
        let sql = "UPDATE sync_schedule SET request_seq = request_seq + 1, failures = 0, \
                   requested = CASE WHEN requested = 'full' THEN 'full' ELSE $2 END WHERE account_id = $1";
        with_pool!(self.db, pool => sqlx::query(sql).bind(account.0).bind(mode.as_str()).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Whether a run was asked for and has not started yet.
    pub async fn sync_requested(&self, account: AccountId) -> Result<Option<RunMode>> {
        let sql = "SELECT requested FROM sync_schedule WHERE account_id = $1";
        let requested: Option<Option<String>> =
            with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(account.0).fetch_optional(pool).await)?;
        Ok(requested.flatten().as_deref().map(RunMode::parse))
    }

    /// Records the start of a run.
    pub async fn start_run(&self, account: AccountId, mode: RunMode, trigger: RunTrigger, now: i64) -> Result<i64> {
        self.start_run_for(account, mode, trigger, None, now).await
    }

    /// Records the start of a run that serves the user's request numbered `request_seq` (the
    /// claim's), so that the page can follow that request to its run and its result.
    pub async fn start_run_for(
        &self,
        account: AccountId,
        mode: RunMode,
        trigger: RunTrigger,
        request_seq: Option<i64>,
        now: i64,
    ) -> Result<i64> {
        let sql = "INSERT INTO sync_runs (account_id, mode, trigger, phase, started_at, request_seq) \
                   VALUES ($1, $2, $3, 'starting', $4, $5) RETURNING id";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql)
            .bind(account.0)
            .bind(mode.as_str())
            .bind(trigger.as_str())
            .bind(now)
            .bind(request_seq)
            .fetch_one(pool)
            .await)?)
    }

    /// Whether a user asked for a run after the request numbered `seq` (a claim's): a request
    /// made while the claim's run went on, which the claim does not serve.
    pub async fn sync_requested_after(&self, account: AccountId, seq: i64) -> Result<bool> {
        let sql =
            "SELECT COUNT(*) FROM sync_schedule WHERE account_id = $1 AND requested IS NOT NULL AND request_seq > $2";
        let count: i64 =
            with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(account.0).bind(seq).fetch_one(pool).await)?;
        Ok(count > 0)
    }

    /// Writes a running run's progress.
    pub async fn update_run(&self, run: i64, progress: RunProgress<'_>) -> Result<()> {
        let sql = "UPDATE sync_runs SET phase = $2, imported = $3, deleted = $4, estimated_total = $5, kind = $6, \
                   added = $7, changed = $8, removed = $9, estimate_at = $10, waiting_until = $11, waiting_for = $12 \
                   WHERE id = $1 AND outcome IS NULL";
        with_pool!(self.db, pool => sqlx::query(sql)
            .bind(run)
            .bind(progress.phase)
            .bind(progress.imported)
            .bind(progress.deleted)
            .bind(progress.estimated_total)
            .bind(progress.kind.map(RunKind::as_str))
            .bind(progress.added)
            .bind(progress.changed)
            .bind(progress.removed)
            .bind(progress.estimate_at)
            .bind(progress.waiting.map(|(until, _)| until))
            .bind(progress.waiting.map(|(_, reason)| reason.as_str()))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Records how a run ended, with its last figures, and the account's last sync and error. An
    /// ended run neither waits nor expects anything.
    pub async fn finish_run(
        &self,
        run: i64,
        progress: RunProgress<'_>,
        outcome: RunOutcome,
        error: Option<&str>,
        now: i64,
    ) -> Result<()> {
        with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let account: Option<i64> = sqlx::query_scalar(
                "UPDATE sync_runs SET phase = $2, imported = $3, deleted = $4, estimated_total = $5, outcome = $6, \
                 error = $7, finished_at = $8, kind = $9, added = $10, changed = $11, removed = $12, \
                 estimate_at = NULL, waiting_until = NULL, waiting_for = NULL \
                 WHERE id = $1 RETURNING account_id",
            )
            .bind(run)
            .bind(progress.phase)
            .bind(progress.imported)
            .bind(progress.deleted)
            .bind(progress.estimated_total)
            .bind(outcome.as_str())
            .bind(error)
            .bind(now)
            .bind(progress.kind.map(RunKind::as_str))
            .bind(progress.added)
            .bind(progress.changed)
            .bind(progress.removed)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(account) = account {
                sqlx::query("UPDATE accounts SET last_sync_at = CASE WHEN $2 THEN $3 ELSE last_sync_at END, last_error = $4 WHERE id = $1")
                    .bind(account)
                    .bind(outcome == RunOutcome::Succeeded)
                    .bind(now)
                    .bind(error)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The account's latest runs, newest first.
    pub async fn runs_of(&self, account: AccountId, limit: i64) -> Result<Vec<SyncRun>> {
        let sql = runs_query!("WHERE account_id = $1 ORDER BY id DESC LIMIT $2");
        let rows: Vec<RunRow> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(account.0).bind(limit).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(SyncRun::from).collect())
    }

    /// Where the account's sync stands at `now`: the run going on, the latest one over, and the
    /// user's request. A run is going on only while a process holds the account's lease: a run
    /// left open by a process that died is over, though no claim has marked it interrupted yet.
    pub async fn sync_status(&self, account: AccountId, now: i64) -> Result<SyncStatus> {
        let running = runs_query!(
            "WHERE account_id = $1 AND outcome IS NULL AND EXISTS (SELECT 1 FROM sync_schedule s \
             WHERE s.account_id = $1 AND s.lease_until >= $2) ORDER BY id DESC LIMIT 1"
        );
        let over = runs_query!(
            "WHERE account_id = $1 AND (outcome IS NOT NULL OR NOT EXISTS (SELECT 1 FROM sync_schedule s \
             WHERE s.account_id = $1 AND s.lease_until >= $2)) ORDER BY id DESC LIMIT 1"
        );
        let running: Option<RunRow> =
            with_pool!(self.db, pool => sqlx::query_as(running).bind(account.0).bind(now).fetch_optional(pool).await)?;
        let last: Option<RunRow> =
            with_pool!(self.db, pool => sqlx::query_as(over).bind(account.0).bind(now).fetch_optional(pool).await)?;
        let sql = "SELECT requested, request_seq FROM sync_schedule WHERE account_id = $1";
        let request: Option<(Option<String>, i64)> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(account.0).fetch_optional(pool).await)?;
        let (requested, request_seq) = request.unwrap_or((None, 0));
        Ok(SyncStatus {
            running: running.map(SyncRun::from),
            last: last.map(SyncRun::from),
            requested: requested.as_deref().map(RunMode::parse),
            request_seq,
        })
    }

    /// Every account's latest finished run, for the operator's view of mailboxes whose last run
    /// failed.
    pub async fn latest_finished_runs(&self) -> Result<Vec<SyncRun>> {
        let sql = runs_query!(
            "WHERE id IN (SELECT MAX(id) FROM sync_runs WHERE outcome IS NOT NULL GROUP BY account_id) ORDER BY id"
        );
        let rows: Vec<RunRow> = with_pool!(self.db, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(SyncRun::from).collect())
    }

    /// The latest failed runs of all accounts, newest first, each with its mailbox's address.
    pub async fn recent_failed_runs(&self, limit: i64) -> Result<Vec<FailedRun>> {
        let sql = "SELECT r.account_id, a.address, r.finished_at, r.error FROM sync_runs r \
                   JOIN accounts a ON a.id = r.account_id WHERE r.outcome = 'failed' ORDER BY r.id DESC LIMIT $1";
        let rows: Vec<(i64, String, Option<i64>, Option<String>)> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(limit).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(account, address, finished_at, error)| FailedRun {
                account_id: AccountId(account),
                address,
                finished_at: finished_at.unwrap_or_default(),
                error: error.unwrap_or_default(),
            })
            .collect())
    }

    /// What the pacer learned of the account's limit, when it learned one.
    pub async fn learned_rate(&self, account: AccountId) -> Result<Option<LearnedRate>> {
        let sql = "SELECT rate, window_secs, learned_at FROM learned_rates WHERE account_id = $1";
        let row: Option<(i64, i64, i64)> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(account.0).fetch_optional(pool).await)?;
        Ok(row.map(|(rate, window_secs, learned_at)| LearnedRate { rate, window_secs, learned_at }))
    }

    /// Keeps what the pacer learned of the account's limit; `None` when the settings hold again.
    /// The time is kept from when the rate was first learned while it stays the same.
    pub async fn save_learned_rate(&self, account: AccountId, learned: Option<(i64, i64)>, now: i64) -> Result<()> {
        match learned {
            Some((rate, window_secs)) => {
                let sql = "INSERT INTO learned_rates (account_id, rate, window_secs, learned_at) VALUES ($1, $2, $3, $4) \
                           ON CONFLICT (account_id) DO UPDATE SET rate = excluded.rate, window_secs = excluded.window_secs, \
                           learned_at = CASE WHEN learned_rates.rate = excluded.rate THEN learned_rates.learned_at \
                           ELSE excluded.learned_at END";
                with_pool!(self.db, pool => sqlx::query(sql).bind(account.0).bind(rate).bind(window_secs).bind(now)
                    .execute(pool).await.map(|r| r.rows_affected()))?;
            }
            None => {
                let sql = "DELETE FROM learned_rates WHERE account_id = $1";
                with_pool!(self.db, pool => sqlx::query(sql).bind(account.0).execute(pool).await.map(|r| r.rows_affected()))?;
            }
        }
        Ok(())
    }
}

/// What the pacer learned of an account's limit: `rate` units or requests per `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LearnedRate {
    pub rate: i64,
    pub window_secs: i64,
    pub learned_at: i64,
}

/// A failed run as the operator's view lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRun {
    pub account_id: AccountId,
    pub address: String,
    pub finished_at: i64,
    pub error: String,
}
