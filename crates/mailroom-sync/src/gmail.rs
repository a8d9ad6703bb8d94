//! Gmail sync: the initial import, then history from the stored historyId, as Google's sync guide
//! describes. The historyId is read before the import starts and stored only after its last
//! message, so changes made during the import are picked up by the next run; each page of changes
//! is applied in one transaction, and a page applied twice changes nothing. A history that no
//! longer reaches back to the cursor (404) starts a full import again.

use mailroom_domain::FolderKind;
use mailroom_mime::{ParseOutcome, parse};
use mailroom_providers::{ApiError, GmailRawMessage, Providers};
use mailroom_store::{Account, Cursor, IncomingMessage, MessageChange, RemoteFolder, Store};
use secrecy::SecretString;

use crate::{AccessTokens, TokenError};

/// Gmail's cursor is mailbox-wide.
const SCOPE: &str = "";
/// Ids listed per page (Gmail allows 500).
const PAGE: u32 = 500;

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
    pub imported: usize,
    pub deleted: usize,
    pub full: bool,
}

/// Syncs one Gmail account: a full import when it has no cursor or its history expired, else the
/// changes since the cursor.
pub async fn sync_gmail(
    store: &Store,
    providers: &Providers,
    tokens: &AccessTokens,
    account: &Account,
) -> Result<SyncReport, SyncError> {
    let token = tokens.access_token(account).await?;
    let result = run(store, providers, account, &token).await;
    match result {
        // The token died between our check and the call: refresh once and run again.
        Err(SyncError::Api(ApiError::Unauthorized)) => {
            let token = tokens.after_unauthorized(account).await?;
            run(store, providers, account, &token).await
        }
        other => other,
    }
}

async fn run(
    store: &Store,
    providers: &Providers,
    account: &Account,
    token: &SecretString,
) -> Result<SyncReport, SyncError> {
    if let Some(cursor) = store.sync_cursor(account.id, SCOPE).await? {
        let start: u64 = cursor.parse().unwrap_or(0);
        match incremental(store, providers, account, token, start).await {
            Err(SyncError::Api(ApiError::NotFound)) => {
                tracing::info!(account.id = %account.id, "Gmail history expired; importing again");
            }
            other => return other,
        }
    }
    full(store, providers, account, token).await
}

async fn folders(providers: &Providers, token: &SecretString) -> Result<Vec<RemoteFolder>, ApiError> {
    Ok(providers
        .gmail_labels(token)
        .await?
        .into_iter()
        .filter_map(|label| {
            let kind = FolderKind::of_gmail_label(&label.id)?;
            Some(RemoteFolder { remote_id: label.id, name: label.name, kind, parent_remote_id: None })
        })
        .collect())
}

/// Applies fetched messages as upserts.
async fn store_messages(
    store: &Store,
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
            })
        })
        .collect();
    store.apply_sync(account.id, folders, &changes, None, mailroom_store::now()).await?;
    Ok(())
}

/// Fetches the raw messages for `ids`; ids deleted meanwhile are skipped.
async fn fetch(providers: &Providers, token: &SecretString, ids: &[String]) -> Result<Vec<GmailRawMessage>, SyncError> {
    let mut fetched = Vec::with_capacity(ids.len());
    for result in providers.gmail_get_raw_batch(token, ids).await? {
        match result {
            Ok(message) => fetched.push(message),
            Err(ApiError::NotFound) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(fetched)
}

async fn full(
    store: &Store,
    providers: &Providers,
    account: &Account,
    token: &SecretString,
) -> Result<SyncReport, SyncError> {
    let start = providers.gmail_history_id(token).await?;
    let folders = folders(providers, token).await?;
    let since = match account.import_days {
        0 => None,
        days => Some(chrono::Utc::now().date_naive() - chrono::Duration::days(i64::from(days))),
    };
    let query = since.map(|day| format!("after:{}", day.format("%Y/%m/%d"))).unwrap_or_default();
    let mut report = SyncReport { full: true, ..SyncReport::default() };
    let mut page_token: Option<String> = None;
    let mut listed = std::collections::HashSet::new();
    loop {
        let page = providers.gmail_list_messages(token, &query, page_token.as_deref(), PAGE).await?;
        let ids: Vec<String> = page.ids.into_iter().map(|(id, _)| id).collect();
        listed.extend(ids.iter().cloned());
        let fetched = fetch(providers, token, &ids).await?;
        store_messages(store, account, &fetched, &folders).await?;
        report.imported += fetched.len();
        match page.next_page_token {
            Some(next) => page_token = Some(next),
            None => break,
        }
    }
    // What the store has from the same window but Gmail no longer lists is gone at the provider
    // (deleted while history could not tell us): it goes, with the cursor, in one transaction.
    // Gmail's `after:` counts whole days in its own time zone; the store compares from a day earlier
    // so that nothing at the window's edge is removed by mistake.
    let window_start = since.map_or(i64::MIN, |day| {
        (day - chrono::Duration::days(1)).and_hms_opt(0, 0, 0).map_or(i64::MIN, |t| t.and_utc().timestamp())
    });
    let gone: Vec<String> =
        store.remote_ids_since(account.id, window_start).await?.into_iter().filter(|id| !listed.contains(id)).collect();
    let deletions: Vec<MessageChange<'_>> = gone.iter().map(|id| MessageChange::Delete { remote_id: id }).collect();
    let value = start.to_string();
    store
        .apply_sync(account.id, &[], &deletions, Some(Cursor { scope: SCOPE, value: &value }), mailroom_store::now())
        .await?;
    report.deleted = gone.len();
    Ok(report)
}

async fn incremental(
    store: &Store,
    providers: &Providers,
    account: &Account,
    token: &SecretString,
    start: u64,
) -> Result<SyncReport, SyncError> {
    let folders = folders(providers, token).await?;
    let mut report = SyncReport::default();
    let mut page_token: Option<String> = None;
    loop {
        let page = providers.gmail_history(token, start, page_token.as_deref()).await?;
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
        let fetched = fetch(providers, token, &changed).await?;
        store_messages(store, account, &fetched, &folders).await?;
        let deletions: Vec<MessageChange<'_>> =
            deleted.iter().map(|id| MessageChange::Delete { remote_id: id }).collect();
        let last = page.next_page_token.is_none();
        let value = page.history_id.to_string();
        let cursor = last.then_some(Cursor { scope: SCOPE, value: &value });
        store.apply_sync(account.id, &[], &deletions, cursor, mailroom_store::now()).await?;
        report.imported += fetched.len();
        report.deleted += deleted.len();
        match page.next_page_token {
            Some(next) => page_token = Some(next),
            None => break,
        }
    }
    Ok(report)
}
