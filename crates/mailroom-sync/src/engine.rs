//! What every sync run needs, and what it tells the world while it runs.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mailroom_providers::{ApiError, Providers};
use mailroom_store::{Account, Applied, RunKind, Store};
use secrecy::SecretString;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::{AccessTokens, Pacing, TokenError};

/// The parts a sync run works with. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub store: Store,
    pub providers: Arc<Providers>,
    pub tokens: AccessTokens,
    pub pacing: Arc<Pacing>,
}

/// Runs `work` with the account's access token; when the provider refuses the token anyway (it
/// died between our check and the call), refreshes it once and runs `work` again.
///
/// `work` takes the token by value: an async closure borrowing it would not be `Send`.
pub(crate) async fn with_access_token<T, F, Fut>(engine: &Engine, account: &Account, work: F) -> Result<T, SyncError>
where
    F: Fn(SecretString) -> Fut,
    Fut: std::future::Future<Output = Result<T, SyncError>>,
{
    let token = engine.tokens.access_token(account).await?;
    match work(token).await {
        Err(SyncError::Api(ApiError::Unauthorized)) => work(engine.tokens.after_unauthorized(account).await?).await,
        other => other,
    }
}

/// Whether a run starts from the stored cursors or from nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// From the stored cursors; a full import where there are none or they expired.
    Incremental,
    /// A full import whatever the cursors say: everything listed again and compared. Local notes,
    /// labels and to-dos are kept, as they belong to the message and the message stays.
    Full,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the provider refused a call: {0}")]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] mailroom_store::StoreError),
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Messages fetched whole from the provider and stored.
    pub imported: usize,
    pub deleted: usize,
    /// Whether the run was (or fell back to) a full import.
    pub full: bool,
    /// What the run changed in the store, message by message, as the change feed counts it.
    pub applied: Applied,
    /// What the run turned out to be: a first import, a full resync, an import again because the
    /// provider's changes no longer reached back, or the changes since the last run.
    pub kind: RunKind,
}

/// A run's progress as it goes, read by whoever records it (the scheduler writes it to the run's
/// row as it changes, a few times a second at most). Sync code only adds to it.
#[derive(Debug, Default)]
pub struct Progress {
    inner: Mutex<ProgressState>,
    /// Told when the phase, the kind or the count changes: news for the run's row.
    changed: Notify,
}

/// A snapshot of [`Progress`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProgressState {
    /// `writing back`, `listing`, `importing`, `comparing`, `changes`, `finishing`: what the run is
    /// doing now.
    pub phase: &'static str,
    /// When the phase began.
    pub phase_started: Option<Instant>,
    /// Messages fetched from the provider in this phase: the work that takes time, from which the
    /// time left is estimated (messages the store had are counted in `imported` at once).
    pub fetched_in_phase: u64,
    pub imported: u64,
    pub deleted: u64,
    /// How many messages the import expects in all, when the provider said.
    pub estimated_total: Option<u64>,
    /// What the run turned out to be, once it knows.
    pub kind: Option<RunKind>,
    /// What the run changed in the store so far.
    pub applied: Applied,
}

impl Progress {
    pub fn new() -> Progress {
        Progress::default()
    }

    fn update(&self, change: impl FnOnce(&mut ProgressState)) {
        change(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// The run does something else now. The same phase again (Outlook's folders each begin an
    /// import) goes on with the same clock.
    pub fn phase(&self, phase: &'static str) {
        let mut new = false;
        self.update(|s| {
            if s.phase != phase {
                s.phase = phase;
                s.phase_started = Some(Instant::now());
                s.fetched_in_phase = 0;
                new = true;
            }
        });
        if new {
            self.changed.notify_one();
        }
    }

    /// `count` messages fetched from the provider and stored.
    pub fn imported(&self, count: usize) {
        self.update(|s| {
            s.imported += count as u64;
            s.fetched_in_phase += count as u64;
        });
        self.changed.notify_one();
    }

    /// `count` messages an import listed that the store has already: done without fetching.
    pub fn already_stored(&self, count: usize) {
        self.update(|s| s.imported += count as u64);
        self.changed.notify_one();
    }

    /// Waits until the phase, the kind or the count changes.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    pub fn deleted(&self, count: usize) {
        self.update(|s| s.deleted += count as u64);
    }

    /// The run knows what it is: a first import, a full resync, an import again, or changes.
    pub fn kind(&self, kind: RunKind) {
        let mut new = false;
        self.update(|s| {
            new = s.kind != Some(kind);
            s.kind = Some(kind);
        });
        if new {
            self.changed.notify_one();
        }
    }

    /// Adds what a write changed in the store.
    pub fn applied(&self, applied: Applied) {
        self.update(|s| s.applied += applied);
    }

    /// `count` messages that left their last folder in this run, counted as changed then, were
    /// deleted: they count as removed instead.
    pub fn unfiled(&self, count: usize) {
        self.update(|s| s.applied.unfiled(count));
    }

    /// Adds to the estimated total (folders are estimated one by one).
    pub fn expect(&self, count: u64) {
        self.update(|s| s.estimated_total = Some(s.estimated_total.unwrap_or(0) + count));
        self.changed.notify_one();
    }

    pub fn snapshot(&self) -> ProgressState {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl ProgressState {
    /// How long the import has left at `now`, at the rate it has fetched so far; `None` outside an
    /// import, without an estimated total, or before there is enough to go by.
    pub fn time_left(&self, now: Instant) -> Option<Duration> {
        if self.phase != "importing" {
            return None;
        }
        let total = self.estimated_total?;
        // The provider's estimate fell short: how much is left is not known.
        let left = total.checked_sub(self.imported).filter(|left| *left > 0)?;
        estimate_left(self.fetched_in_phase, left, now.saturating_duration_since(self.phase_started?))
    }
}

/// Estimates need this long of a phase behind them, and this many messages fetched in it: the
/// first seconds of an import (its first page listed, its first batch in flight) say little of
/// its rate.
const ESTIMATE_AFTER: Duration = Duration::from_secs(5);
const ESTIMATE_MIN_DONE: u64 = 10;

/// The time `left` messages take at the rate of `done` in `elapsed`; `None` before enough is done
/// to tell (see `ESTIMATE_AFTER`, `ESTIMATE_MIN_DONE`). Waits for the provider's limit are part
/// of the rate: an import paced to a mailbox's limit goes on at that pace.
pub fn estimate_left(done: u64, left: u64, elapsed: Duration) -> Option<Duration> {
    if elapsed < ESTIMATE_AFTER || done < ESTIMATE_MIN_DONE {
        return None;
    }
    #[expect(clippy::cast_precision_loss, reason = "message counts are far below 2^52")]
    let seconds = elapsed.as_secs_f64() * left as f64 / done as f64;
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_left_follows_the_rate_so_far_once_there_is_enough_of_it() {
        // 100 fetched in 50 s: 2 a second, so 300 more take 150 s.
        assert_eq!(estimate_left(100, 300, Duration::from_secs(50)), Some(Duration::from_secs(150)));
        assert_eq!(estimate_left(10, 0, Duration::from_secs(5)), Some(Duration::ZERO));
        // Too early, or too little done, to say.
        assert_eq!(estimate_left(100, 300, Duration::from_secs(4)), None);
        assert_eq!(estimate_left(9, 300, Duration::from_secs(60)), None);
        assert_eq!(estimate_left(0, 300, Duration::from_secs(60)), None);
    }

    #[test]
    fn only_an_import_with_a_total_and_messages_left_has_a_time_left() {
        let progress = Progress::new();
        progress.phase("importing");
        progress.expect(400);
        // Messages the store had count as done at once but say nothing of the rate.
        progress.already_stored(100);
        progress.imported(100);
        let state = progress.snapshot();
        let started = state.phase_started.unwrap();
        assert_eq!(state.time_left(started + Duration::from_secs(50)), Some(Duration::from_secs(100)));
        assert_eq!(state.time_left(started + Duration::from_secs(1)), None, "too early");
        // Gmail's estimate fell short of what was imported: nothing is known of what is left.
        progress.imported(300);
        assert_eq!(progress.snapshot().time_left(started + Duration::from_secs(50)), None);
        // Another phase starts its own clock and has no estimate.
        progress.phase("finishing");
        assert_eq!(progress.snapshot().time_left(started + Duration::from_secs(50)), None);
    }
}
