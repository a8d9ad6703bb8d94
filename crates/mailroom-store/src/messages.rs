//! The mail store's write side for sync: provider folders, messages with their raw bytes and
//! parsed view, and the sync cursor, applied together in one transaction so that a cursor never
//! runs ahead of the changes it covers. Every write is keyed by account and remote id, so applying
//! the same changes twice leaves the same state.

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
    /// Read and starred flags changed.
    Flags { remote_id: &'a str, is_read: bool, is_starred: bool },
    /// The message moved or its labels changed: these are now all its folders.
    Folders { remote_id: &'a str, folders: &'a [String] },
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
                        sqlx::query("DELETE FROM participants WHERE message_id = $1").bind(id).execute(&mut *tx).await?;
                        for person in p.participants() {
                            sqlx::query(
                                "INSERT INTO participants (message_id, role, address, domain, name) VALUES ($1, $2, $3, $4, $5) \
                                 ON CONFLICT DO NOTHING",
                            )
                            .bind(id)
                            .bind(role_name(person.role))
                            .bind(&person.address)
                            .bind(&person.domain)
                            .bind(person.name.as_deref())
                            .execute(&mut *tx)
                            .await?;
                        }
                        sqlx::query("DELETE FROM attachments WHERE message_id = $1").bind(id).execute(&mut *tx).await?;
                        for (position, a) in (0i64..).zip(&p.attachments) {
                            sqlx::query(
                                "INSERT INTO attachments (message_id, position, name, content_type, size, content_id, inline) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                            )
                            .bind(id)
                            .bind(position)
                            .bind(&a.name)
                            .bind(&a.content_type)
                            .bind(i64::try_from(a.size).unwrap_or(i64::MAX))
                            .bind(a.content_id.as_deref())
                            .bind(a.inline)
                            .execute(&mut *tx)
                            .await?;
                        }
                        sqlx::query(SET_FOLDERS_DELETE).bind(id).execute(&mut *tx).await?;
                        for folder in m.folders {
                            sqlx::query(ENSURE_FOLDER).bind(account.0).bind(folder).execute(&mut *tx).await?;
                            sqlx::query(ADD_FOLDER).bind(id).bind(account.0).bind(folder).execute(&mut *tx).await?;
                        }
                    }
                    MessageChange::Flags { remote_id, is_read, is_starred } => {
                        sqlx::query(
                            "UPDATE messages SET is_read = $3, is_starred = $4, updated_at = $5 \
                             WHERE account_id = $1 AND remote_id = $2",
                        )
                        .bind(account.0)
                        .bind(*remote_id)
                        .bind(*is_read)
                        .bind(*is_starred)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    MessageChange::Folders { remote_id, folders } => {
                        let id: Option<i64> =
                            sqlx::query_scalar(MESSAGE_ID).bind(account.0).bind(*remote_id).fetch_optional(&mut *tx).await?;
                        if let Some(id) = id {
                            sqlx::query(SET_FOLDERS_DELETE).bind(id).execute(&mut *tx).await?;
                            for folder in *folders {
                                sqlx::query(ENSURE_FOLDER).bind(account.0).bind(folder).execute(&mut *tx).await?;
                                sqlx::query(ADD_FOLDER).bind(id).bind(account.0).bind(folder).execute(&mut *tx).await?;
                            }
                        }
                    }
                    MessageChange::Delete { remote_id } => {
                        sqlx::query("DELETE FROM messages WHERE account_id = $1 AND remote_id = $2")
                            .bind(account.0)
                            .bind(*remote_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
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
}
