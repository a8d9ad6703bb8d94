//! Gmail sync: an import of the mailbox, then history from the stored historyId, as Google's sync
//! guide describes. The historyId is read before an import starts and stored only after its last
//! message, so changes made during the import are picked up by the next run; each page of changes
//! is applied in one transaction, and a page applied twice changes nothing. A history that no
//! longer reaches back to the cursor (404) imports again.
//!
//! No call is spent twice. A Gmail message never changes once it exists; only its labels do. So
//! an import lists the ids first and fetches whole only the messages the store does not have: a
//! first import fetches everything, an import broken off (a failure, a restart, a process killed)
//! goes on where it stopped, and a full resync of an unchanged mailbox fetches nothing. The
//! labels of the messages the store has are read by listing each label's messages (a page of
//! 500 ids for 5 units, where fetching them would cost 5 or 20 units each) and compared. History
//! records that only change labels, the echo of Mailroom's own write-back among them, are applied
//! to the stored labels without fetching the message.
//!
//! Labels deleted in Gmail are removed at every run (their messages keep their other labels).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use futures_util::StreamExt as _;
use mailroom_domain::FolderKind;
use mailroom_mime::{ParseOutcome, parse};
use mailroom_providers::{ApiError, GmailHistoryPage, GmailPage, GmailRawMessage};
use mailroom_store::{Account, Applied, Cursor, IncomingMessage, MessageChange, RemoteFolder, RunKind, StoredState};
use secrecy::SecretString;

use crate::engine::with_access_token;
use crate::{Engine, Mode, Progress, SyncError, SyncReport};

/// Gmail's cursor is mailbox-wide.
const SCOPE: &str = "";
/// Ids listed per page (Gmail allows 500).
const PAGE: u32 = 500;
/// Calls per batch request at most (Google advises no more than 50); fewer when the mailbox's
/// learned rate is low (`Pacing::gmail_batch_size`).
///
/// Each call is `messages.get?format=raw`. `threads.get` would cost fewer units for threads of three
/// messages or more (10 units against 5 each in the earlier table, 40 against 20 in 2026's),
/// but it has no raw format (its `format` is full, metadata or minimal), and the store keeps the
/// message exactly as sent; rebuilding MIME from the parsed payload would not give the same bytes.
/// So the cheapest correct strategy is one raw get per message.
const BATCH: usize = 50;
/// Batch requests of an import in flight at once; the pacer may allow fewer. Gmail publishes no
/// concurrency limit (a third-party note speaks of 50 requests in flight per mailbox); a few are
/// enough for the round trips to stop mattering next to the quota.
const BATCHES_IN_FLIGHT: usize = 4;
/// The label that is a flag, not a place.
const UNREAD: &str = "UNREAD";
const STARRED: &str = "STARRED";

/// Syncs one Gmail account: an import when asked, when it has no cursor or when its history
/// expired; else the changes since the cursor.
pub async fn sync_gmail(
    engine: &Engine,
    account: &Account,
    mode: Mode,
    progress: &Progress,
) -> Result<SyncReport, SyncError> {
    with_access_token(engine, account, |token| async move {
        let calls = Calls { engine, account, token: Mutex::new(token) };
        run(&calls, mode, progress).await
    })
    .await
}

/// One mailbox's calls, paced to what it allows and retried; a token the provider refuses is
/// refreshed once and the call tried again, so an expiry in the middle of an import costs one call.
struct Calls<'a> {
    engine: &'a Engine,
    account: &'a Account,
    token: Mutex<SecretString>,
}

impl Calls<'_> {
    fn costs(&self) -> crate::GmailCosts {
        self.engine.pacing.limits().gmail_costs
    }

    fn token(&self) -> SecretString {
        self.token.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A fresh token after `refused` was refused: the one another call refreshed meanwhile, or a
    /// new one.
    async fn refreshed(&self, refused: &SecretString) -> Result<SecretString, SyncError> {
        use secrecy::ExposeSecret as _;
        let current = self.token();
        if current.expose_secret() != refused.expose_secret() {
            return Ok(current);
        }
        let fresh = self.engine.tokens.after_unauthorized(self.account).await?;
        *self.token.lock().unwrap_or_else(PoisonError::into_inner) = fresh.clone();
        Ok(fresh)
    }

    /// Runs a paced call with the token; a 401 refreshes it once and runs the call again.
    async fn authorized<T, F, Fut>(&self, units: u32, call: F) -> Result<T, SyncError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let pacing = &self.engine.pacing;
        let token = self.token();
        match pacing.gmail(self.account.id, units, || call(token.clone())).await {
            Err(ApiError::Unauthorized) => {
                let fresh = self.refreshed(&token).await?;
                Ok(pacing.gmail(self.account.id, units, || call(fresh.clone())).await?)
            }
            other => Ok(other?),
        }
    }

    async fn history_id(&self) -> Result<u64, SyncError> {
        let providers = &self.engine.providers;
        self.authorized(self.costs().get_profile, |token| async move { providers.gmail_history_id(&token).await }).await
    }

    /// The mailbox's labels, as folders (all but UNREAD, which is a flag).
    async fn folders(&self) -> Result<Vec<RemoteFolder>, SyncError> {
        let providers = &self.engine.providers;
        let labels = self
            .authorized(self.costs().labels_list, |token| async move { providers.gmail_labels(&token).await })
            .await?;
        Ok(labels
            .into_iter()
            .filter_map(|label| {
                let kind = FolderKind::of_gmail_label(&label.id)?;
                Some(RemoteFolder { remote_id: label.id, name: label.name, kind, parent_remote_id: None })
            })
            .collect())
    }

    async fn list(&self, query: &str, label: Option<&str>, page_token: Option<&str>) -> Result<GmailPage, SyncError> {
        let providers = &self.engine.providers;
        self.authorized(self.costs().messages_list, |token| async move {
            providers.gmail_list_messages(&token, query, label, page_token, PAGE).await
        })
        .await
    }

    async fn history(&self, start: u64, page_token: Option<&str>) -> Result<GmailHistoryPage, SyncError> {
        let providers = &self.engine.providers;
        self.authorized(self.costs().history_list, |token| async move {
            providers.gmail_history(&token, start, page_token).await
        })
        .await
    }

    /// The raw messages for `ids`, in batches; ids deleted meanwhile are skipped. Calls of a
    /// batch refused for the rate, or failed for now, are asked again in a later batch, so a
    /// batch's partial failure costs only what failed: those refused for the rate for as long as
    /// the mailbox makes progress (the pacer learns the rate from them and holds the next batch
    /// back), the others up to `attempts` times; a refused token is refreshed and its calls asked
    /// again, not the whole import.
    async fn fetch(&self, ids: &[String]) -> Result<Vec<GmailRawMessage>, SyncError> {
        let providers = &self.engine.providers;
        let pacing = &self.engine.pacing;
        let limits = pacing.limits();
        let cost = self.costs().messages_get;
        let mut fetched = Vec::with_capacity(ids.len());
        // Each id with the passing failures it has had.
        let mut pending: VecDeque<(String, u32)> = ids.iter().map(|id| (id.clone(), 0)).collect();
        while !pending.is_empty() {
            let size = pacing.gmail_batch_size(self.account.id, cost, BATCH);
            let chunk: Vec<(String, u32)> = pending.drain(..pending.len().min(size)).collect();
            let chunk_ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
            let token = self.token();
            let results = pacing
                .gmail_batch(self.account.id, cost, chunk.len(), || providers.gmail_get_raw_batch(&token, &chunk_ids))
                .await;
            let results = match results {
                Err(ApiError::Unauthorized) => {
                    self.refreshed(&token).await?;
                    pending.extend(chunk);
                    continue;
                }
                other => other?,
            };
            let mut wait: Option<std::time::Duration> = None;
            for ((id, failures), result) in chunk.into_iter().zip(results) {
                match result {
                    Ok(message) => fetched.push(message),
                    Err(ApiError::NotFound) => {}
                    Err(ApiError::Unauthorized) => {
                        self.refreshed(&token).await?;
                        pending.push_back((id, failures));
                    }
                    Err(err @ ApiError::RateLimited { .. }) => {
                        if pacing.stalled(self.account.id) {
                            return Err(err.into());
                        }
                        pending.push_back((id, failures));
                    }
                    Err(err @ ApiError::Transient { .. }) => {
                        let failures = failures + 1;
                        if failures >= limits.attempts {
                            return Err(err.into());
                        }
                        let delay = match err {
                            ApiError::Transient { retry_after: Some(after), .. } => after,
                            _ => crate::pacing::backoff(limits, failures),
                        };
                        wait = Some(wait.map_or(delay, |w| w.max(delay)));
                        pending.push_back((id, failures));
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            if let Some(wait) = wait {
                pacing.back_off(self.account.id, wait).await;
            }
        }
        Ok(fetched)
    }
}

async fn run(calls: &Calls<'_>, mode: Mode, progress: &Progress) -> Result<SyncReport, SyncError> {
    let (engine, account) = (calls.engine, calls.account);
    let cursor = engine.store.sync_cursor(account.id, SCOPE).await?;
    // What the run is, as far as it is known before the first call: a history that expired makes
    // changes an import again later.
    progress.kind(match (mode, &cursor) {
        (Mode::Full, _) => RunKind::FullResync,
        (Mode::Incremental, None) => RunKind::FirstImport,
        (Mode::Incremental, Some(_)) => RunKind::Changes,
    });
    progress.phase("listing");
    let folders = calls.folders().await?;
    remove_deleted_labels(calls, &folders).await?;
    let kind = match (mode, &cursor) {
        (Mode::Full, _) => RunKind::FullResync,
        (Mode::Incremental, None) => RunKind::FirstImport,
        (Mode::Incremental, Some(cursor)) => {
            let start: u64 = cursor.parse().unwrap_or(0);
            match incremental(calls, progress, &folders, start).await {
                Err(SyncError::Api(ApiError::NotFound)) => {
                    tracing::info!(account.id = %account.id, "Gmail history expired; importing again");
                    RunKind::Reimport
                }
                other => return other,
            }
        }
    };
    import(calls, progress, &folders, kind).await
}

/// Removes the labels the store has that Gmail no longer lists: deleted there. Their messages
/// keep their other labels.
async fn remove_deleted_labels(calls: &Calls<'_>, folders: &[RemoteFolder]) -> Result<(), SyncError> {
    let store = &calls.engine.store;
    let listed: HashSet<&str> = folders.iter().map(|f| f.remote_id.as_str()).collect();
    for stored in store.folder_remote_ids(calls.account.id).await? {
        if !listed.contains(stored.as_str()) {
            tracing::info!(account.id = %calls.account.id, "a Gmail label was deleted; removing it");
            store.remove_folder(calls.account.id, &stored).await?;
        }
    }
    Ok(())
}

/// Adds what a write changed to the run's report and progress.
fn note(report: &mut SyncReport, progress: &Progress, applied: Applied) {
    report.applied += applied;
    progress.applied(applied);
}

/// The folders (labels but UNREAD) and flags a set of Gmail label ids stands for.
fn state_of(labels: &BTreeSet<String>) -> StoredState {
    StoredState {
        folders: labels.iter().filter(|l| *l != UNREAD).cloned().collect(),
        is_read: !labels.contains(UNREAD),
        is_starred: labels.contains(STARRED),
    }
}

/// The label ids a stored state stands for.
fn labels_of(state: &StoredState) -> BTreeSet<String> {
    let mut labels: BTreeSet<String> = state.folders.iter().cloned().collect();
    if !state.is_read {
        labels.insert(UNREAD.to_owned());
    }
    labels
}

/// The changes that bring a stored message to `labels`, when they differ.
fn relabel<'a>(remote_id: &'a str, stored: &StoredState, labels: &'a StoredState) -> Vec<MessageChange<'a>> {
    let mut changes = Vec::new();
    if stored.folders != labels.folders {
        changes.push(MessageChange::Folders { remote_id, folders: &labels.folders });
    }
    if stored.is_read != labels.is_read || stored.is_starred != labels.is_starred {
        changes.push(MessageChange::Flags {
            remote_id,
            is_read: Some(labels.is_read),
            is_starred: Some(labels.is_starred),
        });
    }
    changes
}

/// Applies fetched messages as upserts, with the folders they name.
async fn store_messages(
    engine: &Engine,
    account: &Account,
    fetched: &[GmailRawMessage],
    folders: &[RemoteFolder],
) -> Result<Applied, SyncError> {
    let parsed: Vec<_> = fetched.iter().map(|m| (m, parse(&m.raw))).collect();
    let labels: Vec<Vec<String>> =
        fetched.iter().map(|m| m.label_ids.iter().filter(|l| *l != UNREAD).cloned().collect()).collect();
    let changes: Vec<MessageChange<'_>> = parsed
        .iter()
        .zip(&labels)
        .map(|((m, outcome), folders)| {
            let ids: Vec<&str> = m.label_ids.iter().map(String::as_str).collect();
            MessageChange::Upsert(IncomingMessage {
                remote_id: &m.id,
                thread_remote_id: Some(&m.thread_id),
                received_at: m.internal_date_ms / 1000,
                is_read: !ids.contains(&UNREAD),
                is_starred: ids.contains(&STARRED),
                is_draft: ids.contains(&"DRAFT"),
                folders,
                raw: Some(&m.raw),
                parsed: outcome.message(),
                parse_failed: matches!(outcome, ParseOutcome::Unreadable(_)),
                has_attachments: None,
            })
        })
        .collect();
    Ok(engine.store.apply_sync(account.id, folders, &changes, None, mailroom_store::now()).await?)
}

/// The day an import starts from, when the account's import window has one.
fn import_start(account: &Account) -> Option<chrono::NaiveDate> {
    match account.import_days {
        0 => None,
        days => Some(chrono::Utc::now().date_naive() - chrono::Duration::days(i64::from(days))),
    }
}

/// An import: newest first, page by page. Each page's new messages are fetched and stored as they
/// arrive, so that the first page of the inbox is readable within seconds; the messages the store
/// has already are only compared, by their labels, at the end.
async fn import(
    calls: &Calls<'_>,
    progress: &Progress,
    folders: &[RemoteFolder],
    kind: RunKind,
) -> Result<SyncReport, SyncError> {
    let (engine, account) = (calls.engine, calls.account);
    progress.phase("importing");
    progress.kind(kind);
    let start = calls.history_id().await?;
    let since = import_start(account);
    let query = since.map(|day| format!("after:{}", day.format("%Y/%m/%d"))).unwrap_or_default();
    let mut report = SyncReport { full: true, kind, ..SyncReport::default() };
    let mut page_token: Option<String> = None;
    let mut listed = HashSet::new();
    let mut known: Vec<String> = Vec::new();
    loop {
        let page = calls.list(&query, None, page_token.as_deref()).await?;
        if page_token.is_none() {
            progress.expect(page.result_size_estimate.unwrap_or(page.ids.len() as u64));
        }
        let ids: Vec<String> = page.ids.into_iter().map(|(id, _)| id).collect();
        listed.extend(ids.iter().cloned());
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let stored = engine.store.known_messages(account.id, &refs).await?;
        let (had, new): (Vec<String>, Vec<String>) = ids.into_iter().partition(|id| stored.contains_key(id));
        progress.already_stored(had.len());
        known.extend(had);
        // Stored a batch at a time, in order: the newest mail is readable before the rest has
        // arrived. The next batches are asked for while one is stored; the pacing, not the round
        // trips, then sets the pace. A batch is what one request asks for at the mailbox's rate,
        // so that under a low quota the messages are stored, and counted, as they come rather
        // than fifty at a time minutes apart.
        let size = engine.pacing.gmail_batch_size(account.id, calls.costs().messages_get, BATCH);
        let fetches: Vec<_> = new.chunks(size).map(|chunk| calls.fetch(chunk)).collect();
        let mut batches = futures_util::stream::iter(fetches).buffered(BATCHES_IN_FLIGHT);
        let mut next = batches.next().await;
        while let Some(fetched) = next {
            let fetched = fetched?;
            let (stored, following) = tokio::join!(store_messages(engine, account, &fetched, folders), batches.next());
            note(&mut report, progress, stored?);
            report.imported += fetched.len();
            progress.imported(fetched.len());
            next = following;
        }
        match page.next_page_token {
            Some(next) => page_token = Some(next),
            None => break,
        }
    }
    if !known.is_empty() {
        progress.phase("comparing");
        let compared = compare_labels(calls, folders, &query, &known).await?;
        note(&mut report, progress, compared);
    }
    progress.phase("finishing");
    // What the store has from the same window but Gmail no longer lists is gone at the provider
    // (deleted while history could not tell us): it goes, with the cursor, in one transaction.
    // Gmail's `after:` counts whole days in its own time zone; the store compares from a day earlier
    // so that nothing at the window's edge is removed by mistake.
    let window_start = since.map_or(i64::MIN, |day| {
        (day - chrono::Duration::days(1)).and_hms_opt(0, 0, 0).map_or(i64::MIN, |t| t.and_utc().timestamp())
    });
    let gone: Vec<String> = engine
        .store
        .remote_ids_since(account.id, window_start)
        .await?
        .into_iter()
        .filter(|id| !listed.contains(id))
        .collect();
    let deletions: Vec<MessageChange<'_>> = gone.iter().map(|id| MessageChange::Delete { remote_id: id }).collect();
    let value = start.to_string();
    let applied = engine
        .store
        .apply_sync(account.id, &[], &deletions, Some(Cursor { scope: SCOPE, value: &value }), mailroom_store::now())
        .await?;
    note(&mut report, progress, applied);
    report.deleted = applied.removed;
    progress.deleted(applied.removed);
    Ok(report)
}

/// Brings the labels and flags of the stored messages `known` to what Gmail says, without
/// fetching them: each label's messages in the window are listed, and each message's labels are
/// the labels that list it.
async fn compare_labels(
    calls: &Calls<'_>,
    folders: &[RemoteFolder],
    query: &str,
    known: &[String],
) -> Result<Applied, SyncError> {
    let (engine, account) = (calls.engine, calls.account);
    let wanted: HashSet<&str> = known.iter().map(String::as_str).collect();
    let mut labels: HashMap<&str, BTreeSet<String>> = known.iter().map(|id| (id.as_str(), BTreeSet::new())).collect();
    let label_ids = folders.iter().map(|f| f.remote_id.as_str()).chain(std::iter::once(UNREAD));
    for label in label_ids {
        let mut page_token: Option<String> = None;
        loop {
            let page = calls.list(query, Some(label), page_token.as_deref()).await?;
            for (id, _) in page.ids {
                if let Some(set) = wanted.get(id.as_str()).and_then(|id| labels.get_mut(id)) {
                    set.insert(label.to_owned());
                }
            }
            match page.next_page_token {
                Some(next) => page_token = Some(next),
                None => break,
            }
        }
    }
    let mut applied = Applied::default();
    for chunk in known.chunks(500) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let stored = engine.store.stored_states(account.id, &refs).await?;
        let wanted: Vec<(&str, StoredState)> =
            refs.iter().filter_map(|id| labels.get(id).map(|set| (*id, state_of(set)))).collect();
        let changes: Vec<MessageChange<'_>> = wanted
            .iter()
            .filter_map(|(id, state)| stored.get(*id).map(|before| relabel(id, before, state)))
            .flatten()
            .collect();
        if !changes.is_empty() {
            applied += engine.store.apply_sync(account.id, &[], &changes, None, mailroom_store::now()).await?;
        }
    }
    Ok(applied)
}

async fn incremental(
    calls: &Calls<'_>,
    progress: &Progress,
    folders: &[RemoteFolder],
    start: u64,
) -> Result<SyncReport, SyncError> {
    let (engine, account) = (calls.engine, calls.account);
    progress.phase("changes");
    progress.kind(RunKind::Changes);
    let mut report = SyncReport::default();
    let mut page_token: Option<String> = None;
    loop {
        let page = calls.history(start, page_token.as_deref()).await?;
        let (fetch, changes, deleted) = plan_history(engine, account, &page).await?;
        let fetched = calls.fetch(&fetch).await?;
        let last = page.next_page_token.is_none();
        let value = page.history_id.to_string();
        let cursor = last.then_some(Cursor { scope: SCOPE, value: &value });
        let stored = store_messages(engine, account, &fetched, folders).await?;
        note(&mut report, progress, stored);
        let mut writes: Vec<MessageChange<'_>> =
            changes.iter().flat_map(|(id, (before, after))| relabel(id, before, after)).collect();
        writes.extend(deleted.iter().map(|id| MessageChange::Delete { remote_id: id }));
        let applied = engine.store.apply_sync(account.id, &[], &writes, cursor, mailroom_store::now()).await?;
        note(&mut report, progress, applied);
        report.imported += fetched.len();
        report.deleted += applied.removed;
        progress.imported(fetched.len());
        progress.deleted(applied.removed);
        match page.next_page_token {
            Some(next) => page_token = Some(next),
            None => break,
        }
    }
    Ok(report)
}

/// What a page of history asks for: the messages to fetch (new to the store), the new labels of
/// the stored ones (stored state, then the state after the page's records, in order), and the
/// messages deleted.
async fn plan_history(
    engine: &Engine,
    account: &Account,
    page: &GmailHistoryPage,
) -> Result<(Vec<String>, HashMap<String, (StoredState, StoredState)>, Vec<String>), SyncError> {
    let mut deleted: Vec<String> = Vec::new();
    let mut touched: Vec<&str> = Vec::new();
    for record in &page.records {
        touched.extend(record.messages_added.iter().map(|(id, _, _)| id.as_str()));
        touched.extend(record.labels_added.iter().chain(&record.labels_removed).map(|(id, _)| id.as_str()));
        deleted.extend(record.messages_deleted.iter().cloned());
    }
    touched.sort_unstable();
    touched.dedup();
    let stored = engine.store.stored_states(account.id, &touched).await?;
    // The labels of every stored message the page touches, as the records leave them, in order.
    let mut labels: HashMap<&str, BTreeSet<String>> = HashMap::new();
    let mut fetch: BTreeSet<String> = BTreeSet::new();
    for record in &page.records {
        for (id, _, label_ids) in &record.messages_added {
            match stored.get(id) {
                // A message new to the store is fetched whole: its labels come with it.
                None => {
                    fetch.insert(id.clone());
                }
                Some(_) => {
                    labels.insert(id, label_ids.iter().cloned().collect());
                }
            }
        }
        for (id, added) in &record.labels_added {
            if let Some(before) = stored.get(id) {
                labels.entry(id).or_insert_with(|| labels_of(before)).extend(added.iter().cloned());
            } else {
                fetch.insert(id.clone());
            }
        }
        for (id, removed) in &record.labels_removed {
            if let Some(before) = stored.get(id) {
                let set = labels.entry(id).or_insert_with(|| labels_of(before));
                for label in removed {
                    set.remove(label);
                }
            } else {
                fetch.insert(id.clone());
            }
        }
    }
    let gone: HashSet<&str> = deleted.iter().map(String::as_str).collect();
    fetch.retain(|id| !gone.contains(id.as_str()));
    let changes = labels
        .into_iter()
        .filter(|(id, _)| !gone.contains(id))
        .filter_map(|(id, set)| stored.get(id).map(|before| (id.to_owned(), (before.clone(), state_of(&set)))))
        .collect();
    Ok((fetch.into_iter().collect(), changes, deleted))
}
