//! What every sync run needs, and what it tells the world while it runs.

use std::sync::{Arc, Mutex, PoisonError};

use mailroom_providers::{ApiError, Providers};
use mailroom_store::{Account, Applied, RunKind, Store};
use secrecy::SecretString;

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
/// row every second or so). Sync code only adds to it.
#[derive(Debug, Default)]
pub struct Progress {
    inner: Mutex<ProgressState>,
}

/// A snapshot of [`Progress`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProgressState {
    /// `listing`, `importing`, `changes`, `finishing` ...: what the run is doing now.
    pub phase: &'static str,
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

    pub fn phase(&self, phase: &'static str) {
        self.update(|s| s.phase = phase);
    }

    pub fn imported(&self, count: usize) {
        self.update(|s| s.imported += count as u64);
    }

    pub fn deleted(&self, count: usize) {
        self.update(|s| s.deleted += count as u64);
    }

    /// The run knows what it is: a first import, a full resync, an import again, or changes.
    pub fn kind(&self, kind: RunKind) {
        self.update(|s| s.kind = Some(kind));
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
    }

    pub fn snapshot(&self) -> ProgressState {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}
