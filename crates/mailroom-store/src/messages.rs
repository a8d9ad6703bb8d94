//! The mail store's write side for sync: provider folders, messages with their raw bytes and
//! parsed view, and the sync cursor, applied together in one transaction so that a cursor never
//! runs ahead of the changes it covers. Every write is keyed by account and remote id, so applying
//! the same changes twice leaves the same state.

use std::collections::HashMap;

use mailroom_domain::{AccountId, FolderKind};
use mailroom_mime::{ParsedMessage, Role};

use crate::db::with_pool;
use crate::{Result, Store};

/// A Gmail label or an Outlook folder as the provider describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFolder {
    pub remote_id: String,
    pub name: String,
    pub kind: FolderKind,
    pub parent_remote_id: Option<String>,
}

/// A message as sync found it at the provider.
#[derive(Debug)]
pub struct IncomingMessage<'a> {
    pub remote_id: &'a str,
    pub thread_remote_id: Option<&'a str>,
    /// When the provider received it, Unix seconds.
    pub received_at: i64,
    pub is_read: bool,
    pub is_starred: bool,
    pub is_draft: bool,
    /// The remote ids of the folders or labels it is in.
    pub folders: &'a [String],
    pub raw: Option<&'a [u8]>,
    pub parsed: &'a ParsedMessage,
    /// The raw bytes did not parse; `parsed` is then empty but for the size.
    pub parse_failed: bool,
}

/// One change to apply.
#[derive(Debug)]
pub enum MessageChange<'a> {
    /// A new message, or everything about a known one.
    Upsert(IncomingMessage<'a>),
    /// Read and starred flags changed. A flag given as `None` keeps its stored value: an
    /// Outlook update may carry only the properties that changed.
    Flags { remote_id: &'a str, is_read: Option<bool>, is_starred: Option<bool> },
    /// The message moved or its labels changed: these are now all its folders.
    Folders { remote_id: &'a str, folders: &'a [String] },
    /// The message left one folder (an Outlook delta `@removed`: moved or deleted). It stays,
    /// maybe in no folder, until [`Store::remove_unfiled`] says otherwise, so that a move seen
    /// as a removal before its arrival keeps the message and what hangs on it.
    LeaveFolder { remote_id: &'a str, folder: &'a str },
    /// Gone at the provider.
    Delete { remote_id: &'a str },
}

/// Where a sync run stands: the scope's cursor after the changes.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    pub scope: &'a str,
    pub value: &'a str,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::From => "from",
        Role::Sender => "sender",
        Role::To => "to",
        Role::Cc => "cc",
        Role::Bcc => "bcc",
        Role::ReplyTo => "reply_to",
    }
}

const UPSERT_FOLDER: &str = "INSERT INTO folders (account_id, remote_id, name, kind, parent_remote_id) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (account_id, remote_id) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
     parent_remote_id = excluded.parent_remote_id";
/// A folder a message names before sync has described it: kept as a custom folder named by its id
/// until the folder list says more.
const ENSURE_FOLDER: &str = "INSERT INTO folders (account_id, remote_id, name, kind) VALUES ($1, $2, $2, 'custom') \
     ON CONFLICT (account_id, remote_id) DO NOTHING";
const UPSERT_MESSAGE: &str = "INSERT INTO messages (account_id, remote_id, thread_remote_id, internet_message_id, subject, \
     from_address, from_name, snippet, sent_at, received_at, is_read, is_starred, is_draft, has_attachments, has_text, \
     has_html, size, raw, parse_failed, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
     ON CONFLICT (account_id, remote_id) DO UPDATE SET thread_remote_id = excluded.thread_remote_id, \
     internet_message_id = excluded.internet_message_id, subject = excluded.subject, from_address = excluded.from_address, \
     from_name = excluded.from_name, snippet = excluded.snippet, sent_at = excluded.sent_at, \
     received_at = excluded.received_at, is_read = excluded.is_read, is_starred = excluded.is_starred, \
     is_draft = excluded.is_draft, has_attachments = excluded.has_attachments, has_text = excluded.has_text, \
     has_html = excluded.has_html, size = excluded.size, raw = COALESCE(excluded.raw, messages.raw), \
     parse_failed = excluded.parse_failed, updated_at = excluded.updated_at \
     RETURNING id";
const SET_FOLDERS_DELETE: &str = "DELETE FROM message_folders WHERE message_id = $1";
const ADD_FOLDER: &str = "INSERT INTO message_folders (message_id, folder_id) \
     SELECT $1, id FROM folders WHERE account_id = $2 AND remote_id = $3 ON CONFLICT DO NOTHING";
const MESSAGE_ID: &str = "SELECT id FROM messages WHERE account_id = $1 AND remote_id = $2";
/// What an upsert compares to decide whether a known message changed.
const MESSAGE_STATE: &str = "SELECT id, is_read, is_starred, is_draft, raw IS NOT NULL FROM messages \
     WHERE account_id = $1 AND remote_id = $2";
const FOLDERS_OF: &str =
    "SELECT f.remote_id FROM message_folders mf JOIN folders f ON f.id = mf.folder_id WHERE mf.message_id = $1";
/// Hands out `count` sequence numbers of the account's change feed; the row lock it takes orders
/// concurrent writers of one account, so sequence order is commit order.
const LOCK_ACCOUNT: &str = "UPDATE accounts SET event_seq = event_seq WHERE id = $1";
const TAKE_EVENT_SEQ: &str = "UPDATE accounts SET event_seq = event_seq + $2 WHERE id = $1 RETURNING event_seq";
const INSERT_EVENT: &str =
    "INSERT INTO message_events (account_id, seq, remote_id, kind, at) VALUES ($1, $2, $3, $4, $5)";

/// What happened to a message, as the change feed tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Changed,
    Removed,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "added",
            EventKind::Changed => "changed",
            EventKind::Removed => "removed",
        }
    }

    fn parse(value: &str) -> EventKind {
        match value {
            "added" => EventKind::Added,
            "removed" => EventKind::Removed,
            _ => EventKind::Changed,
        }
    }
}

/// One entry of an account's change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEvent {
    pub seq: i64,
    pub remote_id: String,
    pub kind: EventKind,
    pub at: i64,
}

fn same_set(mut a: Vec<String>, b: &[String]) -> bool {
    let mut b = b.to_vec();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    a == b
}

const DELETE_PARTICIPANTS: &str = "DELETE FROM participants WHERE message_id = $1";
const INSERT_PARTICIPANT: &str = "INSERT INTO participants (message_id, role, address, domain, name) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
const DELETE_ATTACHMENTS: &str = "DELETE FROM attachments WHERE message_id = $1";
const INSERT_ATTACHMENT: &str = "INSERT INTO attachments (message_id, position, name, content_type, size, content_id, \
     inline) VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// The parsed view and raw bytes of a known message, its flags, folders and thread kept.
const STORE_RAW: &str = "UPDATE messages SET internet_message_id = $3, subject = $4, from_address = $5, from_name = $6, \
     snippet = $7, sent_at = $8, has_attachments = $9, has_text = $10, has_html = $11, size = $12, raw = $13, \
     parse_failed = $14, updated_at = $15 WHERE account_id = $1 AND remote_id = $2 RETURNING id";

/// Appends `(remote_id, kind)` entries to the account's change feed, in `$tx`.
macro_rules! append_events {
    ($tx:expr, $account:expr, $events:expr, $now:expr) => {{
        let events: &[(&str, EventKind)] = $events;
        if !events.is_empty() {
            let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
            let last: i64 =
                sqlx::query_scalar(TAKE_EVENT_SEQ).bind($account.0).bind(count).fetch_one(&mut *$tx).await?;
            for (seq, (remote_id, kind)) in (last - count + 1..).zip(events) {
                sqlx::query(INSERT_EVENT)
                    .bind($account.0)
                    .bind(seq)
                    .bind(*remote_id)
                    .bind(kind.as_str())
                    .bind($now)
                    .execute(&mut *$tx)
                    .await?;
            }
        }
    }};
}

/// Replaces a message's participants and attachments with those of its parsed view, in `$tx`.
macro_rules! replace_view {
    ($tx:expr, $id:expr, $parsed:expr) => {{
        let (id, p): (i64, &ParsedMessage) = ($id, $parsed);
        sqlx::query(DELETE_PARTICIPANTS).bind(id).execute(&mut *$tx).await?;
        for person in p.participants() {
            sqlx::query(INSERT_PARTICIPANT)
                .bind(id)
                .bind(role_name(person.role))
                .bind(&person.address)
                .bind(&person.domain)
                .bind(person.name.as_deref())
                .execute(&mut *$tx)
                .await?;
        }
        sqlx::query(DELETE_ATTACHMENTS).bind(id).execute(&mut *$tx).await?;
        for (position, a) in (0i64..).zip(&p.attachments) {
            sqlx::query(INSERT_ATTACHMENT)
                .bind(id)
                .bind(position)
                .bind(&a.name)
                .bind(&a.content_type)
                .bind(i64::try_from(a.size).unwrap_or(i64::MAX))
                .bind(a.content_id.as_deref())
                .bind(a.inline)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// What the store knows of a message sync is about to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownMessage {
    pub is_draft: bool,
}

impl Store {
    /// Applies a sync run's folders, message changes and new cursor in one transaction. Changes
    /// to messages the store does not have (a flag change for a message deleted since) are
    /// skipped: the provider's state is what the store converges to.
    pub async fn apply_sync(
        &self,
        account: AccountId,
        folders: &[RemoteFolder],
        changes: &[MessageChange<'_>],
        cursor: Option<Cursor<'_>>,
        now: i64,
    ) -> Result<()> {
        with_pool!(self.db, pool => {
            let mut tx = pool.begin().await?;
            // A write first: SQLite then takes its write lock now (waiting its busy timeout for
            // another writer) instead of failing when a transaction that began by reading tries
            // to write after another committed; PostgreSQL takes the account's row lock, which
            // the change feed would take anyway, so writers of one account go one at a time.
            sqlx::query(LOCK_ACCOUNT).bind(account.0).execute(&mut *tx).await?;
            let mut events: Vec<(&str, EventKind)> = Vec::new();
            for folder in folders {
                sqlx::query(UPSERT_FOLDER)
                    .bind(account.0)
                    .bind(&folder.remote_id)
                    .bind(&folder.name)
                    .bind(folder.kind.as_str())
                    .bind(folder.parent_remote_id.as_deref())
                    .execute(&mut *tx)
                    .await?;
            }
            for change in changes {
                match change {
                    MessageChange::Upsert(m) => {
                        let p = m.parsed;
                        let before: Option<(i64, bool, bool, bool, bool)> = sqlx::query_as(MESSAGE_STATE)
                            .bind(account.0)
                            .bind(m.remote_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let folders_before: Vec<String> = match before {
                            Some((id, ..)) => sqlx::query_scalar(FOLDERS_OF).bind(id).fetch_all(&mut *tx).await?,
                            None => Vec::new(),
                        };
                        let id: i64 = sqlx::query_scalar(UPSERT_MESSAGE)
                            .bind(account.0)
                            .bind(m.remote_id)
                            .bind(m.thread_remote_id)
                            .bind(p.message_id.as_deref())
                            .bind(&p.subject)
                            .bind(p.from.as_ref().map(|a| a.address.as_str()))
                            .bind(p.from.as_ref().and_then(|a| a.name.as_deref()))
                            .bind(&p.snippet)
                            .bind(p.date.map(|d| d.timestamp()))
                            .bind(m.received_at)
                            .bind(m.is_read)
                            .bind(m.is_starred)
                            .bind(m.is_draft)
                            .bind(!p.attachments.is_empty())
                            .bind(p.has_text)
                            .bind(p.has_html)
                            .bind(i64::try_from(p.size).unwrap_or(i64::MAX))
                            .bind(m.raw)
                            .bind(m.parse_failed)
                            .bind(now)
                            .fetch_one(&mut *tx)
                            .await?;
                        // The parsed view is replaced whole: participants and attachments follow it.
                        replace_view!(tx, id, p);
                        sqlx::query(SET_FOLDERS_DELETE).bind(id).execute(&mut *tx).await?;
                        for folder in m.folders {
                            sqlx::query(ENSURE_FOLDER).bind(account.0).bind(folder).execute(&mut *tx).await?;
                            sqlx::query(ADD_FOLDER).bind(id).bind(account.0).bind(folder).execute(&mut *tx).await?;
                        }
                        // Sync applies the same message again on every full import; only a real
                        // difference reaches the change feed.
                        match before {
                            None => events.push((m.remote_id, EventKind::Added)),
                            Some((_, read, starred, draft, had_raw)) => {
                                let changed = (read, starred, draft) != (m.is_read, m.is_starred, m.is_draft)
                                    || (!had_raw && m.raw.is_some())
                                    || !same_set(folders_before, m.folders);
                                if changed {
                                    events.push((m.remote_id, EventKind::Changed));
                                }
                            }
                        }
                    }
                    MessageChange::Flags { remote_id, is_read, is_starred } => {
                        let done = sqlx::query(
                            "UPDATE messages SET is_read = COALESCE($3, is_read), \
                             is_starred = COALESCE($4, is_starred), updated_at = $5 \
                             WHERE account_id = $1 AND remote_id = $2 \
                             AND (is_read <> COALESCE($3, is_read) OR is_starred <> COALESCE($4, is_starred))",
                        )
                        .bind(account.0)
                        .bind(*remote_id)
                        .bind(*is_read)
                        .bind(*is_starred)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        if done.rows_affected() > 0 {
                            events.push((*remote_id, EventKind::Changed));
                        }
                    }
                    MessageChange::Folders { remote_id, folders } => {
                        let id: Option<i64> =
                            sqlx::query_scalar(MESSAGE_ID).bind(account.0).bind(*remote_id).fetch_optional(&mut *tx).await?;
                        if let Some(id) = id {
                            let before: Vec<String> = sqlx::query_scalar(FOLDERS_OF).bind(id).fetch_all(&mut *tx).await?;
                            if !same_set(before, folders) {
                                events.push((*remote_id, EventKind::Changed));
                            }
                            sqlx::query(SET_FOLDERS_DELETE).bind(id).execute(&mut *tx).await?;
                            for folder in *folders {
                                sqlx::query(ENSURE_FOLDER).bind(account.0).bind(folder).execute(&mut *tx).await?;
                                sqlx::query(ADD_FOLDER).bind(id).bind(account.0).bind(folder).execute(&mut *tx).await?;
                            }
                        }
                    }
                    MessageChange::LeaveFolder { remote_id, folder } => {
                        let done = sqlx::query(
                            "DELETE FROM message_folders \
                             WHERE message_id = (SELECT id FROM messages WHERE account_id = $1 AND remote_id = $2) \
                             AND folder_id = (SELECT id FROM folders WHERE account_id = $1 AND remote_id = $3)",
                        )
                        .bind(account.0)
                        .bind(*remote_id)
                        .bind(*folder)
                        .execute(&mut *tx)
                        .await?;
                        if done.rows_affected() > 0 {
                            events.push((*remote_id, EventKind::Changed));
                        }
                    }
                    MessageChange::Delete { remote_id } => {
                        let done = sqlx::query("DELETE FROM messages WHERE account_id = $1 AND remote_id = $2")
                            .bind(account.0)
                            .bind(*remote_id)
                            .execute(&mut *tx)
                            .await?;
                        if done.rows_affected() > 0 {
                            events.push((*remote_id, EventKind::Removed));
                        }
                    }
                }
            }
            append_events!(tx, account, &events, now);
            if let Some(cursor) = cursor {
                sqlx::query(
                    "INSERT INTO sync_state (account_id, scope, cursor, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (account_id, scope) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                )
                .bind(account.0)
                .bind(cursor.scope)
                .bind(cursor.value)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The account's change feed after `after_seq`, oldest first, at most `limit` entries.
    pub async fn events_since(&self, account: AccountId, after_seq: i64, limit: i64) -> Result<Vec<MessageEvent>> {
        let sql = "SELECT seq, remote_id, kind, at FROM message_events WHERE account_id = $1 AND seq > $2 \
                   ORDER BY seq LIMIT $3";
        let rows: Vec<(i64, String, String, i64)> = with_pool!(self.db, pool => sqlx::query_as(sql).bind(account.0).bind(after_seq).bind(limit).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(seq, remote_id, kind, at)| MessageEvent { seq, remote_id, kind: EventKind::parse(&kind), at })
            .collect())
    }

    /// The cursor sync stored for this scope.
    pub async fn sync_cursor(&self, account: AccountId, scope: &str) -> Result<Option<String>> {
        let sql = "SELECT cursor FROM sync_state WHERE account_id = $1 AND scope = $2";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(account.0).bind(scope).fetch_optional(pool).await)?)
    }

    /// The remote ids of the account's messages received at or after `since` (Unix seconds).
    pub async fn remote_ids_since(&self, account: AccountId, since: i64) -> Result<Vec<String>> {
        let sql = "SELECT remote_id FROM messages WHERE account_id = $1 AND received_at >= $2";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(account.0).bind(since).fetch_all(pool).await)?)
    }

    /// How many messages the account has in the store.
    pub async fn message_count(&self, account: AccountId) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM messages WHERE account_id = $1";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(account.0).fetch_one(pool).await)?)
    }

    /// How many of the account's messages are in a folder of this kind (the inbox, say).
    pub async fn message_count_in(&self, account: AccountId, kind: FolderKind) -> Result<i64> {
        let sql = "SELECT COUNT(DISTINCT mf.message_id) FROM message_folders mf JOIN folders f ON f.id = mf.folder_id \
                   WHERE f.account_id = $1 AND f.kind = $2";
        Ok(
            with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(account.0).bind(kind.as_str()).fetch_one(pool).await)?,
        )
    }

    /// The remote ids of the folders a message is in, sorted.
    pub async fn message_folders(&self, account: AccountId, remote_id: &str) -> Result<Vec<String>> {
        let sql = "SELECT f.remote_id FROM message_folders mf JOIN folders f ON f.id = mf.folder_id \
                   JOIN messages m ON m.id = mf.message_id WHERE m.account_id = $1 AND m.remote_id = $2 ORDER BY f.remote_id";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(account.0).bind(remote_id).fetch_all(pool).await)?)
    }

    /// Which of `remote_ids` the store has, and whether each is a draft.
    pub async fn known_messages(
        &self,
        account: AccountId,
        remote_ids: &[&str],
    ) -> Result<HashMap<String, KnownMessage>> {
        let sql = "SELECT is_draft FROM messages WHERE account_id = $1 AND remote_id = $2";
        let mut known = HashMap::new();
        with_pool!(self.db, pool => {
            let mut conn = pool.acquire().await?;
            for remote_id in remote_ids {
                let is_draft: Option<bool> =
                    sqlx::query_scalar(sql).bind(account.0).bind(*remote_id).fetch_optional(&mut *conn).await?;
                if let Some(is_draft) = is_draft {
                    known.insert((*remote_id).to_owned(), KnownMessage { is_draft });
                }
            }
        });
        Ok(known)
    }

    /// The remote ids of the messages in `folder` received at or after `since` (Unix seconds).
    pub async fn folder_remote_ids_since(&self, account: AccountId, folder: &str, since: i64) -> Result<Vec<String>> {
        let sql = "SELECT m.remote_id FROM messages m JOIN message_folders mf ON mf.message_id = m.id \
                   JOIN folders f ON f.id = mf.folder_id \
                   WHERE m.account_id = $1 AND f.remote_id = $2 AND m.received_at >= $3";
        Ok(
            with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(account.0).bind(folder).bind(since).fetch_all(pool).await)?,
        )
    }

    /// The remote ids of the account's folders.
    pub async fn folder_remote_ids(&self, account: AccountId) -> Result<Vec<String>> {
        let sql = "SELECT remote_id FROM folders WHERE account_id = $1 ORDER BY remote_id";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(account.0).fetch_all(pool).await)?)
    }

    /// Removes a folder that is gone at the provider, with its cursor, in one transaction. Its
    /// messages stay, in no folder if it was their only one, for [`Store::remove_unfiled`].
    pub async fn remove_folder(&self, account: AccountId, remote_id: &str) -> Result<()> {
        with_pool!(self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM folders WHERE account_id = $1 AND remote_id = $2")
                .bind(account.0)
                .bind(remote_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM sync_state WHERE account_id = $1 AND scope = $2")
                .bind(account.0)
                .bind(remote_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes the account's messages that are in no folder and returns their remote ids. For
    /// Outlook, where a message is in exactly one folder: once every folder's changes are in, a
    /// message no folder holds is gone at the provider. (Never for Gmail, where a message with no
    /// label is archived.)
    pub async fn remove_unfiled(&self, account: AccountId) -> Result<Vec<String>> {
        let sql = "DELETE FROM messages WHERE account_id = $1 \
                   AND NOT EXISTS (SELECT 1 FROM message_folders mf WHERE mf.message_id = messages.id) \
                   RETURNING remote_id";
        let now = crate::now();
        Ok(with_pool!(self.db, pool => {
            let mut tx = pool.begin().await?;
            let gone: Vec<String> = sqlx::query_scalar(sql).bind(account.0).fetch_all(&mut *tx).await?;
            let events: Vec<(&str, EventKind)> = gone.iter().map(|id| (id.as_str(), EventKind::Removed)).collect();
            append_events!(tx, account, &events, now);
            tx.commit().await?;
            gone
        }))
    }

    /// Up to `limit` remote ids of the account's messages whose raw bytes are not fetched yet,
    /// newest first.
    pub async fn messages_without_raw(&self, account: AccountId, limit: u32) -> Result<Vec<String>> {
        let sql = "SELECT remote_id FROM messages WHERE account_id = $1 AND raw IS NULL \
                   ORDER BY received_at DESC, id DESC LIMIT $2";
        Ok(with_pool!(self.db, pool =>
            sqlx::query_scalar(sql).bind(account.0).bind(i64::from(limit)).fetch_all(pool).await)?)
    }

    /// Stores a message's raw bytes and the parsed view read from them, with its participants
    /// and attachments, in one transaction; flags, folders and thread stay. Returns false when
    /// the store no longer has the message.
    pub async fn store_raw(
        &self,
        account: AccountId,
        remote_id: &str,
        raw: &[u8],
        parsed: &ParsedMessage,
        parse_failed: bool,
        now: i64,
    ) -> Result<bool> {
        let p = parsed;
        let stored = with_pool!(self.db, pool => {
            let mut tx = pool.begin().await?;
            let id: Option<i64> = sqlx::query_scalar(STORE_RAW)
                .bind(account.0)
                .bind(remote_id)
                .bind(p.message_id.as_deref())
                .bind(&p.subject)
                .bind(p.from.as_ref().map(|a| a.address.as_str()))
                .bind(p.from.as_ref().and_then(|a| a.name.as_deref()))
                .bind(&p.snippet)
                .bind(p.date.map(|d| d.timestamp()))
                .bind(!p.attachments.is_empty())
                .bind(p.has_text)
                .bind(p.has_html)
                .bind(i64::try_from(p.size).unwrap_or(i64::MAX))
                .bind(raw)
                .bind(parse_failed)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(id) = id {
                replace_view!(tx, id, p);
                append_events!(tx, account, &[(remote_id, EventKind::Changed)], now);
            }
            tx.commit().await?;
            id.is_some()
        });
        Ok(stored)
    }
}
