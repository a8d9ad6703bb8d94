//! The read side of the mail store for the UI and the API: lists of a user's messages by the
//! filters both offer, newest first with keyset paging, and one message with what showing it
//! needs. Every read is scoped to the user, so another user's ids find nothing.

use mailroom_domain::{AccountId, FolderKind, UserId};

use super::placeholder;
use crate::db::{Backend, with_pool};
use crate::{Result, Store};

/// Which of the user's messages to list. Filters combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    pub account: Option<AccountId>,
    /// A folder or label, by id.
    pub folder: Option<i64>,
    /// A unified folder across accounts (Inbox, Sent...). Archive also takes Gmail messages in no
    /// place but All Mail.
    pub kind: Option<FolderKind>,
    /// A provider thread (Gmail threadId, Graph conversationId).
    pub thread: Option<String>,
    pub unread: Option<bool>,
    pub starred: Option<bool>,
    /// The user's own to-do mark.
    pub todo: Option<bool>,
    /// One of the user's own tags, by id.
    pub tag: Option<i64>,
    pub participant: Option<Participant>,
}

/// Mail with someone: an exact address, or everyone at a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Participant {
    Address(String),
    Domain(String),
}

/// Where a page of a list starts: after this message in newest-first order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    pub received_at: i64,
    pub id: i64,
}

impl ListCursor {
    /// The cursor as an opaque token for a URL.
    pub fn encode(self) -> String {
        format!("{}.{}", self.received_at, self.id)
    }

    pub fn decode(token: &str) -> Option<ListCursor> {
        let (at, id) = token.split_once('.')?;
        Some(ListCursor { received_at: at.parse().ok()?, id: id.parse().ok()? })
    }
}

/// A message as lists show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSummary {
    pub id: i64,
    pub account: AccountId,
    pub remote_id: String,
    pub thread: Option<String>,
    pub subject: String,
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    pub snippet: String,
    pub sent_at: Option<i64>,
    pub received_at: i64,
    pub is_read: bool,
    pub is_starred: bool,
    pub has_attachments: bool,
    /// The user's own to-do mark (never sent to the provider).
    pub todo: bool,
    /// In a list of conversations, how many messages the conversation has (1 otherwise).
    pub thread_count: i64,
    /// In a list of conversations, whether any of its messages is unread (else `!is_read`).
    pub thread_unread: bool,
    /// The ids of its folders and labels.
    pub folders: Vec<i64>,
    /// The ids of the user's own tags on it.
    pub tags: Vec<i64>,
}

impl MessageSummary {
    pub fn cursor(&self) -> ListCursor {
        ListCursor { received_at: self.received_at, id: self.id }
    }
}

/// One person a message names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePerson {
    /// `from`, `sender`, `to`, `cc`, `bcc` or `reply_to`.
    pub role: String,
    pub address: String,
    pub name: Option<String>,
}

/// An attachment as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    pub position: i64,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub content_id: Option<String>,
    pub inline: bool,
}

/// A message with what showing it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDetail {
    pub summary: MessageSummary,
    pub internet_message_id: Option<String>,
    pub people: Vec<MessagePerson>,
    pub attachments: Vec<StoredAttachment>,
    /// The raw bytes, when fetched (an Outlook message's arrive after its sync).
    pub raw: Option<Vec<u8>>,
    /// The user's private note on it.
    pub note: Option<String>,
    pub parse_failed: bool,
}

pub(super) const SUMMARY_COLUMNS: &str = "m.id, m.account_id, m.remote_id, m.thread_remote_id, m.subject, m.from_address, \
     m.from_name, m.snippet, m.sent_at, m.received_at, m.is_read, m.is_starred, m.has_attachments, m.todo";
/// The conversation's columns of a row that stands for itself alone.
const SINGLE_MESSAGE: &str = "CAST(1 AS BIGINT) AS thread_count, NOT m.is_read AS thread_unread";

/// A list's row as the page's JSON array holds it: [`SUMMARY_COLUMNS`], the conversation's
/// message count and whether any of its messages is unread, then the message's folder ids and
/// tag ids. Serde reads a struct from a JSON array field by field, in this order.
#[derive(serde::Deserialize)]
struct ListRow {
    id: i64,
    account_id: i64,
    remote_id: String,
    thread_remote_id: Option<String>,
    subject: String,
    from_address: Option<String>,
    from_name: Option<String>,
    snippet: String,
    sent_at: Option<i64>,
    received_at: i64,
    #[serde(deserialize_with = "sql_bool")]
    is_read: bool,
    #[serde(deserialize_with = "sql_bool")]
    is_starred: bool,
    #[serde(deserialize_with = "sql_bool")]
    has_attachments: bool,
    #[serde(deserialize_with = "sql_bool")]
    todo: bool,
    thread_count: i64,
    #[serde(deserialize_with = "sql_bool")]
    thread_unread: bool,
    folders: Vec<i64>,
    tags: Vec<i64>,
}

/// A truth value as the database writes it into JSON: `true`/`false` from PostgreSQL, `1`/`0`
/// from SQLite, which has no boolean type.
fn sql_bool<'de, D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<bool, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Truth {
        Bool(bool),
        Int(i64),
    }
    Ok(match serde::Deserialize::deserialize(deserializer)? {
        Truth::Bool(b) => b,
        Truth::Int(n) => n != 0,
    })
}

/// The messages of a page [`page_as_json`] selected, in `shape`'s order, each with its folder
/// and tag ids in ascending order.
pub(super) fn parse_page(page: &str, shape: Shape) -> Result<Vec<MessageSummary>> {
    let rows: Vec<ListRow> = serde_json::from_str(page).map_err(|e| sqlx::Error::Decode(e.into()))?;
    let mut list: Vec<MessageSummary> = rows.into_iter().map(summary).collect();
    list.sort_unstable_by_key(|m| (m.received_at, m.id));
    if shape != Shape::OldestFirst {
        list.reverse();
    }
    for m in &mut list {
        m.folders.sort_unstable();
        m.tags.sort_unstable();
    }
    Ok(list)
}

fn summary(row: ListRow) -> MessageSummary {
    MessageSummary {
        id: row.id,
        account: AccountId(row.account_id),
        remote_id: row.remote_id,
        thread: row.thread_remote_id,
        subject: row.subject,
        from_address: row.from_address,
        from_name: row.from_name,
        snippet: row.snippet,
        sent_at: row.sent_at,
        received_at: row.received_at,
        is_read: row.is_read,
        is_starred: row.is_starred,
        has_attachments: row.has_attachments,
        todo: row.todo,
        thread_count: row.thread_count,
        thread_unread: row.thread_unread,
        folders: row.folders,
        tags: row.tags,
    }
}

/// The page that `list`, a list query, selects, as one JSON array of [`ListRow`]s.
///
/// One row for the whole page, folders and tags included, rather than a row per message and two
/// more queries for folders and tags: the SQLite driver hands every row from its connection's
/// thread to the caller's and copies every value, and that cost several times the query itself.
/// The aggregates are left unordered (an ORDER BY in them costs a sort each): [`parse_page`] puts
/// the page and the ids in order.
pub(super) fn page_as_json(backend: Backend, list: &str) -> String {
    const ROW: &str = "l.id, l.account_id, l.remote_id, l.thread_remote_id, l.subject, l.from_address, \
         l.from_name, l.snippet, l.sent_at, l.received_at, l.is_read, l.is_starred, l.has_attachments, l.todo, \
         l.thread_count, l.thread_unread";
    match backend {
        // json() keeps the inner arrays arrays rather than strings holding them.
        Backend::Sqlite => format!(
            "SELECT json_group_array(json_array({ROW}, \
             json((SELECT json_group_array(folder_id) FROM message_folders WHERE message_id = l.id)), \
             json((SELECT json_group_array(tag_id) FROM message_tags WHERE message_id = l.id)))) FROM ({list}) l"
        ),
        Backend::Postgres => format!(
            "SELECT CAST(COALESCE(json_agg(json_build_array({ROW}, \
             COALESCE((SELECT json_agg(folder_id) FROM message_folders WHERE message_id = l.id), '[]'), \
             COALESCE((SELECT json_agg(tag_id) FROM message_tags WHERE message_id = l.id), '[]'))), '[]') AS TEXT) \
             FROM ({list}) l"
        ),
    }
}

/// A value a generated list query binds, in placeholder order.
pub(super) enum Bind {
    Int(i64),
    Text(String),
    Bool(bool),
}

/// A query put together from fixed fragments, each `?` of a fragment standing for the next
/// placeholder, with the values to bind in order. No value is put in the text but the limit, a
/// number the store clamps.
pub(super) struct Query {
    pub(super) backend: Backend,
    pub(super) sql: String,
    pub(super) binds: Vec<Bind>,
}

impl Query {
    pub(super) fn push(&mut self, fragment: &str, values: Vec<Bind>) {
        let mut pieces = fragment.split('?');
        self.sql.push_str(pieces.next().unwrap_or_default());
        for piece in pieces {
            self.sql.push_str(&placeholder(self.backend, self.binds.len() + 1));
            self.sql.push_str(piece);
            self.binds.push(Bind::Int(0));
        }
        let first = self.binds.len() - values.len();
        for (slot, value) in self.binds[first..].iter_mut().zip(values) {
            *slot = value;
        }
    }
}

/// How a list is put together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// Every matching message, newest first.
    Messages,
    /// Every matching message, oldest first (a thread read top to bottom).
    OldestFirst,
    /// One row per conversation: its newest matching message, newest first.
    Conversations,
}

/// The conversation's columns of a message's row: how many messages the conversation has, and
/// whether any is unread; counted rather than asked with EXISTS, which PostgreSQL answers for a
/// page by hashing every unread message.
pub(super) const CONVERSATION_COLUMNS: &str = "(SELECT COUNT(*) FROM messages t WHERE t.account_id = m.account_id \
     AND t.thread_remote_id = m.thread_remote_id) AS thread_count, (SELECT COUNT(*) FROM messages t \
     WHERE t.account_id = m.account_id AND t.thread_remote_id = m.thread_remote_id AND NOT t.is_read) > 0 \
     AS thread_unread";

/// The list query for `filter`, after `after`, at most `limit` rows.
fn list_sql(
    backend: Backend,
    user: UserId,
    filter: &MessageFilter,
    after: Option<ListCursor>,
    limit: i64,
    shape: Shape,
) -> Query {
    let mut q = Query { backend, sql: String::new(), binds: Vec::new() };
    let thread_columns = match shape {
        Shape::Conversations => CONVERSATION_COLUMNS,
        _ => SINGLE_MESSAGE,
    };
    q.push(
        &format!("SELECT {SUMMARY_COLUMNS}, {thread_columns} FROM messages m WHERE m.user_id = ?"),
        vec![Bind::Int(user.0)],
    );
    push_filter(&mut q, filter, "m");
    if shape == Shape::Conversations {
        // Only the newest matching message of its conversation stands for it, so that a
        // conversation is on one page only, whichever page its older messages would fall on.
        // The unary `+` keeps the planner on the thread index: a conversation has a few messages,
        // the account many newer ones.
        q.push(
            " AND (m.thread_remote_id IS NULL OR NOT EXISTS (SELECT 1 FROM messages n \
             WHERE n.account_id = m.account_id AND n.thread_remote_id = m.thread_remote_id \
             AND (+n.received_at > m.received_at OR (+n.received_at = m.received_at AND +n.id > m.id))",
            Vec::new(),
        );
        push_filter(&mut q, filter, "n");
        q.push("))", Vec::new());
    }
    let oldest_first = shape == Shape::OldestFirst;
    if let Some(after) = after {
        // A row value, which both databases compare as a range of the (received_at, id) index.
        let fragment =
            if oldest_first { " AND (m.received_at, m.id) > (?, ?)" } else { " AND (m.received_at, m.id) < (?, ?)" };
        q.push(fragment, vec![Bind::Int(after.received_at), Bind::Int(after.id)]);
    }
    let order = if oldest_first { "ASC" } else { "DESC" };
    // The limit is written into the statement rather than bound: SQLite plans a LIMIT it can see,
    // and re-prepares a statement each time a value its plan looked at is bound again, which
    // cost more than the query itself. `limit` is a number, so nothing can be injected.
    q.push(&format!(" ORDER BY m.received_at {order}, m.id {order} LIMIT {limit}"), Vec::new());
    q
}

/// The condition that the message `{x}` is in a folder of `kind`. Archive also takes Gmail
/// messages in no place but All Mail.
pub(super) fn push_kind(q: &mut Query, kind: FolderKind, x: &str) {
    if kind == FolderKind::Archive {
        q.push(
            &format!(
                " AND (EXISTS (SELECT 1 FROM message_folders mf JOIN folders f ON f.id = mf.folder_id \
                 WHERE mf.message_id = {x}.id AND f.kind = 'archive') OR ((SELECT provider FROM accounts pa \
                 WHERE pa.id = {x}.account_id) = 'google' AND NOT EXISTS \
                 (SELECT 1 FROM message_folders mf JOIN folders f ON f.id = mf.folder_id WHERE mf.message_id = {x}.id \
                 AND f.kind IN ('inbox', 'sent', 'drafts', 'trash', 'spam'))))"
            ),
            Vec::new(),
        );
    } else {
        q.push(
            &format!(
                " AND EXISTS (SELECT 1 FROM message_folders mf JOIN folders f ON f.id = mf.folder_id \
                 WHERE mf.message_id = {x}.id AND f.kind = ?)"
            ),
            vec![Bind::Text(kind.as_str().to_owned())],
        );
    }
}

/// Whether the message `{x}` is in the trash or spam.
pub(super) fn binned(x: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM message_folders bf JOIN folders b ON b.id = bf.folder_id \
         WHERE bf.message_id = {x}.id AND b.kind IN ('trash', 'spam'))"
    )
}

/// Leaves out what lists never show: a message deleted for good, at once, before the provider
/// confirms; and unless `binned_too`, as in Gmail, a message in the trash or spam, which shows
/// there and nowhere else (Gmail keeps its other labels for a restore; Outlook's messages are in
/// one folder anyway).
pub(super) fn push_visible(q: &mut Query, x: &str, binned_too: bool) {
    q.push(
        &format!(
            " AND NOT EXISTS (SELECT 1 FROM writeback_jobs w WHERE w.account_id = {x}.account_id \
             AND w.remote_id = {x}.remote_id AND w.action = 'delete' AND w.failed_at IS NULL)"
        ),
        Vec::new(),
    );
    if !binned_too {
        q.push(&format!(" AND NOT {}", binned(x)), Vec::new());
    }
}

/// The conditions `filter` puts on the message `{x}`.
fn push_filter(q: &mut Query, filter: &MessageFilter, x: &str) {
    if let Some(account) = filter.account {
        q.push(&format!(" AND {x}.account_id = ?"), vec![Bind::Int(account.0)]);
    }
    if let Some(folder) = filter.folder {
        q.push(
            &format!(
                " AND EXISTS (SELECT 1 FROM message_folders mf WHERE mf.message_id = {x}.id AND mf.folder_id = ?)"
            ),
            vec![Bind::Int(folder)],
        );
    }
    if let Some(kind) = filter.kind {
        push_kind(q, kind, x);
    }
    match (filter.kind, filter.folder) {
        (Some(FolderKind::Trash | FolderKind::Spam), _) => push_visible(q, x, true),
        (_, Some(folder)) => {
            push_visible(q, x, true);
            q.push(
                &format!(
                    " AND (NOT {} OR EXISTS (SELECT 1 FROM folders tf WHERE tf.id = ? AND tf.kind IN ('trash', 'spam')))",
                    binned(x)
                ),
                vec![Bind::Int(folder)],
            );
        }
        _ => push_visible(q, x, false),
    }
    if let Some(thread) = &filter.thread {
        q.push(&format!(" AND {x}.thread_remote_id = ?"), vec![Bind::Text(thread.clone())]);
    }
    if let Some(unread) = filter.unread {
        q.push(&format!(" AND {x}.is_read = ?"), vec![Bind::Bool(!unread)]);
    }
    if let Some(starred) = filter.starred {
        q.push(&format!(" AND {x}.is_starred = ?"), vec![Bind::Bool(starred)]);
    }
    if let Some(todo) = filter.todo {
        q.push(&format!(" AND {x}.todo = ?"), vec![Bind::Bool(todo)]);
    }
    if let Some(tag) = filter.tag {
        q.push(
            &format!(" AND EXISTS (SELECT 1 FROM message_tags mt WHERE mt.message_id = {x}.id AND mt.tag_id = ?)"),
            vec![Bind::Int(tag)],
        );
    }
    match &filter.participant {
        Some(Participant::Address(address)) => q.push(
            &format!(" AND {x}.id IN (SELECT p.message_id FROM participants p WHERE p.address = ?)"),
            vec![Bind::Text(address.to_lowercase())],
        ),
        Some(Participant::Domain(domain)) => q.push(
            &format!(" AND {x}.id IN (SELECT p.message_id FROM participants p WHERE p.domain = ?)"),
            vec![Bind::Text(domain.to_lowercase())],
        ),
        None => {}
    }
}

macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for value in $binds {
            q = match value {
                Bind::Int(v) => q.bind(*v),
                Bind::Text(v) => q.bind(v.as_str()),
                Bind::Bool(v) => q.bind(*v),
            };
        }
        q
    }};
}
pub(super) use bind_all;

impl Store {
    /// A page of the user's messages matching `filter`, newest first, starting after `after`.
    pub async fn list_messages(
        &self,
        user: UserId,
        filter: &MessageFilter,
        after: Option<ListCursor>,
        limit: i64,
    ) -> Result<Vec<MessageSummary>> {
        self.messages_where(user, filter, after, limit, Shape::Messages).await
    }

    /// A page of the user's conversations with a message matching `filter`, each shown by its
    /// newest matching message, newest first, starting after `after`.
    pub async fn list_conversations(
        &self,
        user: UserId,
        filter: &MessageFilter,
        after: Option<ListCursor>,
        limit: i64,
    ) -> Result<Vec<MessageSummary>> {
        self.messages_where(user, filter, after, limit, Shape::Conversations).await
    }

    /// The user's message of `account` with this Message-ID (without angle brackets), if stored.
    pub async fn message_with_id(&self, user: UserId, account: AccountId, message_id: &str) -> Result<Option<i64>> {
        let sql = "SELECT m.id FROM messages m JOIN accounts a ON a.id = m.account_id \
                   WHERE m.account_id = $1 AND a.user_id = $2 AND m.internet_message_id = $3 ORDER BY m.id LIMIT 1";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql)
            .bind(account.0)
            .bind(user.0)
            .bind(message_id)
            .fetch_optional(pool)
            .await)?)
    }

    /// The messages of a thread, oldest first.
    pub async fn thread_messages(&self, user: UserId, account: AccountId, thread: &str) -> Result<Vec<MessageSummary>> {
        let filter =
            MessageFilter { account: Some(account), thread: Some(thread.to_owned()), ..MessageFilter::default() };
        self.messages_where(user, &filter, None, 500, Shape::OldestFirst).await
    }

    async fn messages_where(
        &self,
        user: UserId,
        filter: &MessageFilter,
        after: Option<ListCursor>,
        limit: i64,
        shape: Shape,
    ) -> Result<Vec<MessageSummary>> {
        let backend = self.db.backend();
        let Query { sql, binds, .. } = list_sql(backend, user, filter, after, limit.clamp(1, 500), shape);
        let sql = page_as_json(backend, &sql);
        let page: String = with_pool!(self.db, pool => {
            let q = bind_all!(sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)), &binds);
            q.fetch_one(pool).await
        })?;
        parse_page(&page, shape)
    }

    /// One of the user's messages with its people, attachments and raw bytes.
    pub async fn message_detail(&self, user: UserId, id: i64) -> Result<Option<MessageDetail>> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, {SINGLE_MESSAGE} FROM messages m \
             JOIN accounts a ON a.id = m.account_id WHERE a.user_id = $1 AND m.id = $2"
        );
        let sql = page_as_json(self.db.backend(), &sql);
        let page: String = with_pool!(self.db, pool =>
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(user.0).bind(id).fetch_one(pool).await)?;
        let Some(summary) = parse_page(&page, Shape::Messages)?.pop() else { return Ok(None) };
        let content: Option<(Option<String>, Option<Vec<u8>>, bool)> = with_pool!(self.db, pool => sqlx::query_as(
            "SELECT m.internet_message_id, r.raw, m.parse_failed FROM messages m \
             LEFT JOIN message_raw r ON r.message_id = m.id WHERE m.id = $1")
            .bind(id).fetch_optional(pool).await)?;
        // Deleted between the two reads: gone.
        let Some((internet_message_id, raw, parse_failed)) = content else { return Ok(None) };
        let note: Option<String> = with_pool!(self.db, pool => sqlx::query_scalar(
            "SELECT body FROM message_notes WHERE message_id = $1").bind(id).fetch_optional(pool).await)?;
        let people: Vec<(String, String, Option<String>)> = with_pool!(self.db, pool => sqlx::query_as(
            "SELECT role, address, name FROM participants WHERE message_id = $1 ORDER BY role, address")
            .bind(id).fetch_all(pool).await)?;
        let attachments: Vec<(i64, String, String, i64, Option<String>, bool)> = with_pool!(self.db, pool => sqlx::query_as(
            "SELECT position, name, content_type, size, content_id, inline FROM attachments WHERE message_id = $1 ORDER BY position")
            .bind(id).fetch_all(pool).await)?;
        Ok(Some(MessageDetail {
            summary,
            internet_message_id,
            people: people.into_iter().map(|(role, address, name)| MessagePerson { role, address, name }).collect(),
            attachments: attachments
                .into_iter()
                .map(|(position, name, content_type, size, content_id, inline)| StoredAttachment {
                    position,
                    name,
                    content_type,
                    size,
                    content_id,
                    inline,
                })
                .collect(),
            raw,
            parse_failed,
            note,
        }))
    }

    /// Remote images of mail from `address` show without asking, for this user.
    pub async fn allow_images_from(&self, user: UserId, address: &str, now: i64) -> Result<()> {
        let sql = "INSERT INTO image_senders (user_id, address, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
        with_pool!(self.db, pool => sqlx::query(sql).bind(user.0).bind(address.to_lowercase()).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Whether the user lets mail from `address` show its remote images.
    pub async fn images_allowed_from(&self, user: UserId, address: &str) -> Result<bool> {
        let sql = "SELECT COUNT(*) FROM image_senders WHERE user_id = $1 AND address = $2";
        let n: i64 = with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(user.0).bind(address.to_lowercase()).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    /// The user's folder or label `id`: its account and kind.
    pub async fn user_folder(&self, user: UserId, id: i64) -> Result<Option<(AccountId, FolderKind)>> {
        let sql = "SELECT f.account_id, f.kind FROM folders f JOIN accounts a ON a.id = f.account_id \
                   WHERE f.id = $1 AND a.user_id = $2";
        let row: Option<(i64, String)> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(id).bind(user.0).fetch_optional(pool).await)?;
        Ok(row.map(|(account, kind)| (AccountId(account), FolderKind::parse(&kind).unwrap_or(FolderKind::Custom))))
    }

    /// Unread messages in the user's inboxes: the badge.
    pub async fn inbox_unread(&self, user: UserId) -> Result<i64> {
        let sql = "SELECT CAST(COALESCE(SUM(f.unread_count), 0) AS BIGINT) FROM folders f \
                   JOIN accounts a ON a.id = f.account_id WHERE a.user_id = $1 AND f.kind = 'inbox'";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(user.0).fetch_one(pool).await)?)
    }
}

/// One entry of a user's change feed: an event of one of their accounts, with the message's local
/// id while the message still exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    pub account: AccountId,
    pub seq: i64,
    pub kind: super::EventKind,
    pub remote_id: String,
    /// `None` once the message is gone.
    pub message_id: Option<i64>,
    pub at: i64,
}

const FEED_HEADS: &str = "SELECT id, event_seq FROM accounts WHERE user_id = $1 ORDER BY id";
const ACCOUNT_FEED: &str = "SELECT e.seq, e.kind, e.remote_id, m.id, e.at FROM message_events e \
     LEFT JOIN messages m ON m.account_id = e.account_id AND m.remote_id = e.remote_id \
     WHERE e.account_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3";

impl Store {
    /// Where the change feed of each of the user's accounts stands now: the last seq handed out.
    pub async fn feed_heads(&self, user: UserId) -> Result<Vec<(AccountId, i64)>> {
        let rows: Vec<(i64, i64)> =
            with_pool!(self.db, pool => sqlx::query_as(FEED_HEADS).bind(user.0).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(account, seq)| (AccountId(account), seq)).collect())
    }

    /// The change feed of all the user's accounts after the given positions (an account not in
    /// `after` from its start; accounts of other users in `after` are ignored), ordered by time,
    /// account and seq, at most `limit` entries, with each account's new position.
    ///
    /// Each account's entries are taken in seq order and merged, so that a time that goes back
    /// within an account (a clock step) reorders the answer a little but never skips an entry:
    /// the position of an account is the last seq it returned, and everything before it was
    /// returned.
    pub async fn changes_since(
        &self,
        user: UserId,
        after: &[(AccountId, i64)],
        limit: i64,
    ) -> Result<(Vec<FeedEntry>, Vec<(AccountId, i64)>)> {
        let limit = limit.max(0);
        let mut positions = Vec::new();
        let mut streams: Vec<std::collections::VecDeque<FeedEntry>> = Vec::new();
        for (account, head) in self.feed_heads(user).await? {
            let from = after.iter().find(|(a, _)| *a == account).map_or(0, |(_, seq)| *seq);
            positions.push((account, from));
            // An account with nothing new costs no query.
            if head <= from || limit == 0 {
                streams.push(Default::default());
                continue;
            }
            let rows: Vec<(i64, String, String, Option<i64>, i64)> = with_pool!(self.db, pool =>
                sqlx::query_as(ACCOUNT_FEED).bind(account.0).bind(from).bind(limit).fetch_all(pool).await)?;
            streams.push(
                rows.into_iter()
                    .map(|(seq, kind, remote_id, message_id, at)| FeedEntry {
                        account,
                        seq,
                        kind: super::EventKind::parse(&kind),
                        remote_id,
                        message_id,
                        at,
                    })
                    .collect(),
            );
        }
        let mut entries = Vec::new();
        while entries.len() < usize::try_from(limit).unwrap_or(usize::MAX) {
            let next = streams
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.front().map(|e| (i, (e.at, e.account.0, e.seq))))
                .min_by_key(|(_, key)| *key);
            let Some(entry) = next.and_then(|(i, _)| streams[i].pop_front()) else { break };
            if let Some(position) = positions.iter_mut().find(|(a, _)| *a == entry.account) {
                position.1 = entry.seq;
            }
            entries.push(entry);
        }
        Ok((entries, positions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &str =
        r#"[ID, 1, "r", null, "s", "a@example.com", null, "x", null, AT, FLAG, 0, 1, 0, 1, FLAG, [3, 1], [9, 2]]"#;

    fn row(id: i64, at: i64, flag: &str) -> String {
        ROW.replace("ID", &id.to_string()).replace("AT", &at.to_string()).replace("FLAG", flag)
    }

    #[test]
    fn a_page_reads_both_databases_truth_values_and_comes_in_order() {
        // PostgreSQL writes true/false, SQLite 1/0; the aggregate's order is not relied on.
        let page = format!("[{}, {}, {}]", row(1, 100, "true"), row(3, 300, "1"), row(2, 100, "false"));
        let newest_first = parse_page(&page, Shape::Messages).unwrap();
        let ids: Vec<i64> = newest_first.iter().map(|m| m.id).collect();
        assert_eq!(ids, [3, 2, 1]);
        assert!(newest_first[0].is_read && !newest_first[1].is_read && newest_first[2].is_read);
        assert!(newest_first[0].thread_unread && !newest_first[1].thread_unread);
        assert!(!newest_first[0].is_starred && newest_first[0].has_attachments);
        assert_eq!(newest_first[0].folders, [1, 3]);
        assert_eq!(newest_first[0].tags, [2, 9]);
        let oldest_first = parse_page(&page, Shape::OldestFirst).unwrap();
        assert_eq!(oldest_first.iter().map(|m| m.id).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(parse_page("[]", Shape::Messages).unwrap().is_empty());
    }

    #[test]
    fn a_page_that_is_not_a_list_of_rows_is_an_error() {
        assert!(parse_page("[[1, 2]]", Shape::Messages).is_err());
        assert!(parse_page(&format!("[{}]", row(1, 1, "\"yes\"")), Shape::Messages).is_err());
    }
}
