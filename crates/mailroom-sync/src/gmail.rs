//! Gmail sync: the initial import, then history from the stored historyId, as Google's sync guide
//! describes. The historyId is read before the import starts and stored only after its last
//! message, so changes made during the import are picked up by the next run; each page of changes
//! is applied in one transaction, and a page applied twice changes nothing. A history that no
//! longer reaches back to the cursor (404) starts a full import again.

use futures_util::StreamExt as _;
use mailroom_domain::FolderKind;
use mailroom_mime::{ParseOutcome, parse};
use mailroom_providers::{ApiError, GmailRawMessage};
use mailroom_store::{Account, Cursor, IncomingMessage, MessageChange, RemoteFolder};
use secrecy::SecretString;

use crate::engine::with_access_token;
use crate::{Engine, Mode, Progress, SyncError, SyncReport};

/// Gmail's cursor is mailbox-wide.
const SCOPE: &str = "";
/// Ids listed per page (Gmail allows 500).
const PAGE: u32 = 500;
/// Calls per batch request (Google advises no more than 50).
///
/// Each call is `messages.get?format=raw`. `threads.get` would cost fewer units for threads of three
/// messages or more (10 units against 5 each in the earlier table, 40 against 20 in 2026's),
/// but it has no raw format (its `format` is full, metadata or minimal), and the store keeps the
/// message exactly as sent; rebuilding MIME from the parsed payload would not give the same bytes.
/// So the cheapest correct strategy is one raw get per message.
const BATCH: usize = 50;
/// Batch requests of an import in flight at once. Gmail publishes no concurrency limit (a
/// third-party note speaks of 50 requests in flight per mailbox); a few are enough for the
/// round trips to stop mattering next to the quota.
const BATCHES_IN_FLIGHT: usize = 4;

/// Syncs one Gmail account: a full import when asked, when it has no cursor or when its history
/// expired; else the changes since the cursor.
pub async fn sync_gmail(
    engine: &Engine,
    account: &Account,
    mode: Mode,
    progress: &Progress,
) -> Result<SyncReport, SyncError> {
    with_access_token(engine, account, |token| async move { run(engine, account, mode, progress, &token).await }).await
}

/// One mailbox's calls, paced to its quota and retried.
struct Calls<'a> {
    engine: &'a Engine,
    account: &'a Account,
    token: &'a SecretString,
}

impl Calls<'_> {
    fn costs(&self) -> crate::GmailCosts {
        self.engine.pacing.limits().gmail_costs
    }

    async fn history_id(&self) -> Result<u64, ApiError> {
        let (providers, token) = (&self.engine.providers, self.token);
        self.engine.pacing.gmail(self.account.id, self.costs().get_profile, || providers.gmail_history_id(token)).await
    }

    async fn folders(&self) -> Result<Vec<RemoteFolder>, ApiError> {
        let (providers, token) = (&self.engine.providers, self.token);
        let labels = self
            .engine
            .pacing
            .gmail(self.account.id, self.costs().labels_list, || providers.gmail_labels(token))
            .await?;
        Ok(labels
            .into_iter()
            .filter_map(|label| {
                let kind = FolderKind::of_gmail_label(&label.id)?;
                Some(RemoteFolder { remote_id: label.id, name: label.name, kind, parent_remote_id: None })
            })
            .collect())
    }

    async fn list(&self, query: &str, page_token: Option<&str>) -> Result<mailroom_providers::GmailPage, ApiError> {
        let (providers, token) = (&self.engine.providers, self.token);
        self.engine
            .pacing
            .gmail(self.account.id, self.costs().messages_list, || {
                providers.gmail_list_messages(token, query, page_token, PAGE)
            })
            .await
    }

    async fn history(
        &self,
        start: u64,
        page_token: Option<&str>,
    ) -> Result<mailroom_providers::GmailHistoryPage, ApiError> {
        let (providers, token) = (&self.engine.providers, self.token);
        self.engine
            .pacing
            .gmail(self.account.id, self.costs().history_list, || providers.gmail_history(token, start, page_token))
            .await
    }

    /// The raw messages for `ids`, in batches; ids deleted meanwhile are skipped. Calls of a
    /// batch that were rate limited or failed for now are asked again in a later batch, so a
    /// batch's partial failure costs only what failed.
    ///
    /// Each call is retried as `Pacing::gmail` retries a call of its own: up to `attempts` tries,
    /// after the `Retry-After` given or a backoff doubling per try. Counting failed rounds for
    /// the whole fetch and waiting the base backoff between them, as this did before, hammered
    /// a spent quota once a round and gave up after a fixed number of rounds, long before a
    /// minute's quota window has room again, while a single call would have waited it out.
    async fn fetch(&self, ids: &[String]) -> Result<Vec<GmailRawMessage>, SyncError> {
        let (providers, token) = (&self.engine.providers, self.token);
        let limits = self.engine.pacing.limits();
        let mut fetched = Vec::with_capacity(ids.len());
        // Each id with the tries it has had.
        let mut pending: std::collections::VecDeque<(String, u32)> = ids.iter().map(|id| (id.clone(), 0)).collect();
        while !pending.is_empty() {
            let chunk: Vec<(String, u32)> = pending.drain(..pending.len().min(BATCH)).collect();
            let chunk_ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
            let units = self.costs().messages_get * u32::try_from(chunk.len()).unwrap_or(u32::MAX);
            let results = self
                .engine
                .pacing
                .gmail(self.account.id, units, || providers.gmail_get_raw_batch(token, &chunk_ids))
                .await?;
            let mut wait: Option<std::time::Duration> = None;
            for ((id, tries), result) in chunk.into_iter().zip(results) {
                match result {
                    Ok(message) => fetched.push(message),
                    Err(ApiError::NotFound) => {}
                    Err(err @ (ApiError::RateLimited { .. } | ApiError::Transient { .. })) => {
                        let tries = tries + 1;
                        if tries >= limits.attempts {
                            return Err(err.into());
                        }
                        let delay = match err {
                            ApiError::RateLimited { retry_after: Some(after) }
                            | ApiError::Transient { retry_after: Some(after), .. } => after,
                            _ => crate::pacing::backoff(limits, tries),
                        };
                        wait = Some(wait.map_or(delay, |w| w.max(delay)));
                        pending.push_back((id, tries));
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            if let Some(wait) = wait {
                // The quota is per user: the whole mailbox waits, not only the calls refused.
                tokio::time::sleep(wait).await;
            }
        }
        Ok(fetched)
    }
}

async fn run(
    engine: &Engine,
    account: &Account,
    mode: Mode,
    progress: &Progress,
    token: &SecretString,
) -> Result<SyncReport, SyncError> {
    let calls = Calls { engine, account, token };
    if mode == Mode::Incremental
        && let Some(cursor) = engine.store.sync_cursor(account.id, SCOPE).await?
    {
        let start: u64 = cursor.parse().unwrap_or(0);
        match incremental(&calls, progress, start).await {
            Err(SyncError::Api(ApiError::NotFound)) => {
                tracing::info!(account.id = %account.id, "Gmail history expired; importing again");
            }
            other => return other,
        }
    }
    full(&calls, progress).await
}

/// Applies fetched messages as upserts, with the folders they name.
async fn store_messages(
    engine: &Engine,
    account: &Account,
    fetched: &[GmailRawMessage],
    folders: &[RemoteFolder],
) -> Result<(), SyncError> {
    let parsed: Vec<_> = fetched.iter().map(|m| (m, parse(&m.raw))).collect();
    let labels: Vec<Vec<String>> =
        fetched.iter().map(|m| m.label_ids.iter().filter(|l| *l != "UNREAD").cloned().collect()).collect();
    let changes: Vec<MessageChange<'_>> = parsed
        .iter()
        .zip(&labels)
        .map(|((m, outcome), folders)| {
            let ids: Vec<&str> = m.label_ids.iter().map(String::as_str).collect();
            MessageChange::Upsert(IncomingMessage {
                remote_id: &m.id,
                thread_remote_id: Some(&m.thread_id),
                received_at: m.internal_date_ms / 1000,
                is_read: !ids.contains(&"UNREAD"),
                is_starred: ids.contains(&"STARRED"),
                is_draft: ids.contains(&"DRAFT"),
                folders,
                raw: Some(&m.raw),
                parsed: outcome.message(),
                parse_failed: matches!(outcome, ParseOutcome::Unreadable(_)),
                has_attachments: None,
            })
        })
        .collect();
    engine.store.apply_sync(account.id, folders, &changes, None, mailroom_store::now()).await?;
    Ok(())
}

/// The full import: newest first, page by page, each page stored as it arrives so that the
/// first page of the inbox is readable within seconds.
async fn full(calls: &Calls<'_>, progress: &Progress) -> Result<SyncReport, SyncError> {
    let (engine, account) = (calls.engine, calls.account);
    progress.phase("importing");
    let start = calls.history_id().await?;
    let folders = calls.folders().await?;
    let since = match account.import_days {
        0 => None,
        days => Some(chrono::Utc::now().date_naive() - chrono::Duration::days(i64::from(days))),
    };
    let query = since.map(|day| format!("after:{}", day.format("%Y/%m/%d"))).unwrap_or_default();
    let mut report = SyncReport { full: true, ..SyncReport::default() };
    let mut page_token: Option<String> = None;
    let mut listed = std::collections::HashSet::new();
    loop {
        let page = calls.list(&query, page_token.as_deref()).await?;
        if page_token.is_none() {
            progress.expect(page.result_size_estimate.unwrap_or(page.ids.len() as u64));
        }
        let ids: Vec<String> = page.ids.into_iter().map(|(id, _)| id).collect();
        listed.extend(ids.iter().cloned());
        // Stored a batch at a time, in order: the newest mail is readable before the rest has
        // arrived. The next batches are asked for while one is stored; the quota's pacing, not
        // the round trips, then sets the pace.
        let fetches: Vec<_> = ids.chunks(BATCH).map(|chunk| calls.fetch(chunk)).collect();
        let mut batches = futures_util::stream::iter(fetches).buffered(BATCHES_IN_FLIGHT);
        let mut next = batches.next().await;
        while let Some(fetched) = next {
            let fetched = fetched?;
            let (stored, following) = tokio::join!(store_messages(engine, account, &fetched, &folders), batches.next());
            stored?;
            report.imported += fetched.len();
            progress.imported(fetched.len());
            next = following;
        }
        match page.next_page_token {
            Some(next) => page_token = Some(next),
            None => break,
        }
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
    engine
        .store
        .apply_sync(account.id, &[], &deletions, Some(Cursor { scope: SCOPE, value: &value }), mailroom_store::now())
        .await?;
    report.deleted = gone.len();
    progress.deleted(gone.len());
    Ok(report)
}

async fn incremental(calls: &Calls<'_>, progress: &Progress, start: u64) -> Result<SyncReport, SyncError> {
    let (engine, account) = (calls.engine, calls.account);
    progress.phase("changes");
    let folders = calls.folders().await?;
    let mut report = SyncReport::default();
    let mut page_token: Option<String> = None;
    loop {
        let page = calls.history(start, page_token.as_deref()).await?;
        let mut changed: Vec<String> = Vec::new();
        let mut deleted: Vec<String> = Vec::new();
        for record in &page.records {
            changed.extend(record.messages_added.iter().map(|(id, _, _)| id.clone()));
            changed.extend(record.labels_added.iter().chain(&record.labels_removed).map(|(id, _)| id.clone()));
            deleted.extend(record.messages_deleted.iter().cloned());
        }
        changed.retain(|id| !deleted.contains(id));
        changed.sort();
        changed.dedup();
        // A changed message is fetched whole: its labels and flags then come from one answer.
        let fetched = calls.fetch(&changed).await?;
        let deletions: Vec<MessageChange<'_>> =
            deleted.iter().map(|id| MessageChange::Delete { remote_id: id }).collect();
        let last = page.next_page_token.is_none();
        let value = page.history_id.to_string();
        let cursor = last.then_some(Cursor { scope: SCOPE, value: &value });
        store_messages(engine, account, &fetched, &folders).await?;
        engine.store.apply_sync(account.id, &[], &deletions, cursor, mailroom_store::now()).await?;
        report.imported += fetched.len();
        report.deleted += deleted.len();
        progress.imported(fetched.len());
        progress.deleted(deleted.len());
        match page.next_page_token {
            Some(next) => page_token = Some(next),
            None => break,
        }
    }
    Ok(report)
}
