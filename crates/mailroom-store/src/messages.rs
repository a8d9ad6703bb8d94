//! The mail store's write side for sync: provider folders, messages with their raw bytes and
//! parsed view, and the sync cursor, applied together in one transaction so that a cursor never
//! runs ahead of the changes it covers. Every write is keyed by account and remote id, so applying
//! the same changes twice leaves the same state.

use std::collections::{HashMap, HashSet};

use mailroom_domain::{AccountId, FolderKind, UserId};
use mailroom_mime::{ParsedMessage, Role};

use crate::db::{Backend, BeginWrite, with_pool};
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
    /// Whether it has attachments, when the provider says so and `parsed` cannot tell (Outlook
    /// before the MIME arrives); `None` takes it from `parsed`.
    pub has_attachments: Option<bool>,
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
    /// The provider's version of the message's content (Outlook's `changeKey`). When a stored
    /// version differs, the raw bytes kept are of an older content: they are dropped, for the
    /// MIME to be fetched again, and the change feed tells of a change. Versions are written
    /// after every other change of the write, in one statement, so that an import's batched
    /// upserts stay batched.
    Version { remote_id: &'a str, version: &'a str },
}

impl MessageChange<'_> {
    /// The message the change is about.
    pub fn remote_id(&self) -> &str {
        match self {
            MessageChange::Upsert(m) => m.remote_id,
            MessageChange::Flags { remote_id, .. }
            | MessageChange::Folders { remote_id, .. }
            | MessageChange::LeaveFolder { remote_id, .. }
            | MessageChange::Delete { remote_id }
            | MessageChange::Version { remote_id, .. } => remote_id,
        }
    }
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
/// The upsert of messages, written as `head VALUES (…), (…) tail` for a batch.
const UPSERT_MESSAGES_HEAD: &str = "INSERT INTO messages (user_id, account_id, remote_id, thread_remote_id, internet_message_id, \
     subject, from_address, from_name, snippet, sent_at, received_at, is_read, is_starred, is_draft, has_attachments, \
     has_text, has_html, size, parse_failed, updated_at) VALUES ";
const UPSERT_MESSAGES_COLUMNS: usize = 20;
// A whole batch of messages fits one statement.
const _: () = assert!(UPSERT_BATCH * UPSERT_MESSAGES_COLUMNS <= MAX_PARAMS);
const UPSERT_MESSAGES_TAIL: &str = " ON CONFLICT (account_id, remote_id) DO UPDATE SET \
     thread_remote_id = excluded.thread_remote_id, internet_message_id = excluded.internet_message_id, \
     subject = excluded.subject, from_address = excluded.from_address, from_name = excluded.from_name, \
     snippet = excluded.snippet, sent_at = excluded.sent_at, received_at = excluded.received_at, \
     is_read = excluded.is_read, is_starred = excluded.is_starred, is_draft = excluded.is_draft, \
     has_attachments = excluded.has_attachments, has_text = excluded.has_text, has_html = excluded.has_html, \
     size = excluded.size, parse_failed = excluded.parse_failed, \
     updated_at = excluded.updated_at \
     RETURNING id, remote_id";
const SET_FOLDERS_DELETE: &str = "DELETE FROM message_folders WHERE message_id = $1";
const ADD_FOLDER: &str = "INSERT INTO message_folders (message_id, folder_id) \
     SELECT $1, id FROM folders WHERE account_id = $2 AND remote_id = $3 ON CONFLICT DO NOTHING";
const MESSAGE_ID: &str = "SELECT id FROM messages WHERE account_id = $1 AND remote_id = $2";
const FOLDERS_OF: &str =
    "SELECT f.remote_id FROM message_folders mf JOIN folders f ON f.id = mf.folder_id WHERE mf.message_id = $1";
/// Takes the account's row lock without changing it, and reads whose it is: the first statement of
/// a sync write (see [`Store::apply_sync`]).
const LOCK_ACCOUNT: &str = "UPDATE accounts SET event_seq = event_seq WHERE id = $1 RETURNING user_id";
/// Hands out `count` sequence numbers of the account's change feed; the row lock it takes orders
/// concurrent writers of one account, so sequence order is commit order.
const TAKE_EVENT_SEQ: &str = "UPDATE accounts SET event_seq = event_seq + $2 WHERE id = $1 RETURNING event_seq";

/// Most parameters one batched statement binds, well within both backends' limits (SQLite
/// 32,766, PostgreSQL 65,535).
const MAX_PARAMS: usize = 8_000;
/// Most messages one batched upsert writes: its 20 columns stay under [`MAX_PARAMS`].
const UPSERT_BATCH: usize = 200;

/// The `n`th placeholder of a generated statement: `$n` for PostgreSQL; `?` for SQLite, which
/// numbers plain `?` in order and looks up every numbered name by a scan of all names when
/// values are bound, so that a statement of thousands of `$n` would bind in quadratic time.
fn placeholder(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Postgres => format!("${n}"),
        Backend::Sqlite => "?".to_owned(),
    }
}

/// `(…), (…)`: placeholders for `rows` rows of `columns` values, numbered from `first`.
/// Batched statements are the one place the store builds SQL: a page of a hundred messages then
/// takes a handful of statements instead of over a thousand, which is what lets an import keep up
/// with the provider. Only placeholders are generated; every value is bound.
fn placeholder_rows(backend: Backend, rows: usize, columns: usize, first: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", placeholder_list(backend, columns, first + row * columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$first, …`: a list of `count` placeholders, for `IN (…)` or one row of values.
fn placeholder_list(backend: Backend, count: usize, first: usize) -> String {
    (first..first + count).map(|n| placeholder(backend, n)).collect::<Vec<_>>().join(", ")
}

/// Rows per statement for a table of `columns` columns.
fn rows_per_statement(columns: usize) -> usize {
    MAX_PARAMS / columns
}

/// What a batched upsert compares to decide whether a known message changed, for `rows` messages.
fn known_state_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT id, remote_id, is_read, is_starred, is_draft, \
         EXISTS (SELECT 1 FROM message_raw r WHERE r.message_id = messages.id) FROM messages \
         WHERE account_id = {} AND remote_id IN ({})",
        placeholder(backend, 1),
        placeholder_list(backend, rows, 2)
    )
}

fn folders_of_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT mf.message_id, f.remote_id FROM message_folders mf JOIN folders f ON f.id = mf.folder_id \
         WHERE mf.message_id IN ({})",
        placeholder_list(backend, rows, 1)
    )
}

fn known_drafts_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT remote_id, is_draft, remote_version FROM messages WHERE account_id = {} AND remote_id IN ({})",
        placeholder(backend, 1),
        placeholder_list(backend, rows, 2)
    )
}

fn known_versions_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT id, remote_id, remote_version, \
         EXISTS (SELECT 1 FROM message_raw r WHERE r.message_id = messages.id) FROM messages \
         WHERE account_id = {} AND remote_id IN ({})",
        placeholder(backend, 1),
        placeholder_list(backend, rows, 2)
    )
}

/// Sets the `remote_version` of `rows` messages: `(id, version)` pairs, then the ids again.
fn set_versions_sql(backend: Backend, rows: usize) -> String {
    let cases: String = (0..rows)
        .map(|row| format!(" WHEN {} THEN {}", placeholder(backend, 2 * row + 1), placeholder(backend, 2 * row + 2)))
        .collect();
    format!(
        "UPDATE messages SET remote_version = CASE id{cases} END WHERE id IN ({})",
        placeholder_list(backend, rows, 2 * rows + 1)
    )
}

fn folder_ids_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT id, remote_id FROM folders WHERE account_id = {} AND remote_id IN ({})",
        placeholder(backend, 1),
        placeholder_list(backend, rows, 2)
    )
}

fn upsert_messages_sql(backend: Backend, rows: usize) -> String {
    format!(
        "{UPSERT_MESSAGES_HEAD}{}{UPSERT_MESSAGES_TAIL}",
        placeholder_rows(backend, rows, UPSERT_MESSAGES_COLUMNS, 1)
    )
}

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

const INSERT_PARTICIPANTS: &str = "INSERT INTO participants (message_id, role, address, domain, name) VALUES ";
const INSERT_ATTACHMENTS: &str =
    "INSERT INTO attachments (message_id, position, name, content_type, size, content_id, inline) VALUES ";
const INSERT_MESSAGE_FOLDERS: &str = "INSERT INTO message_folders (message_id, folder_id) VALUES ";
const INSERT_EVENTS: &str = "INSERT INTO message_events (account_id, seq, remote_id, kind, at) VALUES ";
/// The parsed view and raw bytes of a known message, its flags, folders and thread kept.
const STORE_RAW: &str = "UPDATE messages SET internet_message_id = $3, subject = $4, from_address = $5, from_name = $6, \
     snippet = $7, sent_at = $8, has_attachments = $9, has_text = $10, has_html = $11, size = $12, \
     parse_failed = $13, updated_at = $14 WHERE account_id = $1 AND remote_id = $2 RETURNING id, received_at";
/// The raw bytes of messages; bytes given again replace those kept (an upsert without any keeps
/// them).
const UPSERT_RAW_HEAD: &str = "INSERT INTO message_raw (message_id, raw) VALUES ";
const UPSERT_RAW_TAIL: &str = " ON CONFLICT (message_id) DO UPDATE SET raw = excluded.raw";

/// Inserts `$rows` (a slice of tuples) through `$head (…), (…)$tail` in `$tx`, as many rows per
/// statement as the parameter limit allows; `$bind` binds one row's `$columns` values to `$q`.
macro_rules! insert_rows {
    ($tx:expr, $backend:expr, $head:expr, $tail:expr, $columns:expr, $rows:expr, |$q:ident, $row:pat_param| $bind:expr) => {{
        for chunk in $rows.chunks(rows_per_statement($columns)) {
            let sql = format!("{}{}{}", $head, placeholder_rows($backend, chunk.len(), $columns, 1), $tail);
            let mut $q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for $row in chunk {
                $q = $bind;
            }
            $q.execute(&mut *$tx).await?;
        }
    }};
}

/// Runs `$sql_for(n)` once per chunk of `$values`, the chunk bound after `$first` (bound first
/// when given), and gathers the rows it returns as `$row` tuples.
macro_rules! select_in {
    ($tx:expr, $backend:expr, $sql_for:expr, $values:expr, $row:ty $(, $first:expr)?) => {{
        let mut rows: Vec<$row> = Vec::new();
        for chunk in $values.chunks(MAX_PARAMS - 1) {
            let q = sqlx::query_as::<_, $row>(sqlx::AssertSqlSafe($sql_for($backend, chunk.len())))$(.bind($first))?;
            let q = chunk.iter().fold(q, |q, value| q.bind(*value));
            rows.extend(q.fetch_all(&mut *$tx).await?);
        }
        rows
    }};
}

/// Deletes the rows of `$table` that belong to the messages `$ids`, in `$tx`.
macro_rules! delete_for_messages {
    ($tx:expr, $backend:expr, $table:literal, $ids:expr) => {{
        let ids: &[i64] = $ids;
        for chunk in ids.chunks(MAX_PARAMS) {
            let sql = format!(
                concat!("DELETE FROM ", $table, " WHERE message_id IN ({})"),
                placeholder_list($backend, chunk.len(), 1)
            );
            let q = chunk.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, id| q.bind(*id));
            q.execute(&mut *$tx).await?;
        }
    }};
}

/// Appends `(remote_id, kind)` entries to the account's change feed, in `$tx`.
macro_rules! append_events {
    ($tx:expr, $backend:expr, $account:expr, $events:expr, $now:expr) => {{
        let events: &[(&str, EventKind)] = $events;
        if !events.is_empty() {
            let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
            let last: i64 =
                sqlx::query_scalar(TAKE_EVENT_SEQ).bind($account.0).bind(count).fetch_one(&mut *$tx).await?;
            let rows: Vec<(i64, &str, EventKind)> =
                (last - count + 1..).zip(events).map(|(seq, (remote_id, kind))| (seq, *remote_id, *kind)).collect();
            insert_rows!($tx, $backend, INSERT_EVENTS, "", 5, rows, |q, (seq, remote_id, kind)| q
                .bind($account.0)
                .bind(*seq)
                .bind(*remote_id)
                .bind(kind.as_str())
                .bind($now));
        }
    }};
}

/// Inserts the participants and attachments of the parsed views `$views` (`(message id,
/// &ParsedMessage)` pairs) in `$tx`; the messages must have none stored.
macro_rules! insert_views {
    ($tx:expr, $backend:expr, $views:expr) => {{
        let views: &[(i64, &ParsedMessage)] = $views;
        let people: Vec<(i64, mailroom_mime::Participant)> =
            views.iter().flat_map(|(id, p)| p.participants().into_iter().map(move |person| (*id, person))).collect();
        insert_rows!($tx, $backend, INSERT_PARTICIPANTS, " ON CONFLICT DO NOTHING", 5, people, |q, (id, person)| q
            .bind(*id)
            .bind(role_name(person.role))
            .bind(&person.address)
            .bind(&person.domain)
            .bind(person.name.as_deref()));
        let files: Vec<(i64, i64, &mailroom_mime::AttachmentInfo)> = views
            .iter()
            .flat_map(|(id, p)| (0i64..).zip(&p.attachments).map(move |(position, a)| (*id, position, a)))
            .collect();
        insert_rows!($tx, $backend, INSERT_ATTACHMENTS, "", 7, files, |q, (id, position, a)| q
            .bind(*id)
            .bind(*position)
            .bind(&a.name)
            .bind(&a.content_type)
            .bind(i64::try_from(a.size).unwrap_or(i64::MAX))
            .bind(a.content_id.as_deref())
            .bind(a.inline));
    }};
}

/// Writes the search index entries of the parsed views `$views` (`(message id, received_at,
/// &ParsedMessage)` triples) in `$tx`; the messages must have none (see [`unindex!`]).
macro_rules! index_views {
    ($tx:expr, $backend:expr, $views:expr) => {{
        let views: &[(i64, i64, &ParsedMessage)] = $views;
        match $backend {
            Backend::Sqlite => {
                let mut rows: Vec<(i64, $crate::messages::search::IndexedText)> = views
                    .iter()
                    .map(|(id, at, p)| {
                        ($crate::messages::search::search_key(*at, *id), $crate::messages::search::IndexedText::of(p))
                    })
                    .collect();
                // In ascending keys: FTS5 writes out what it holds in memory whenever a key
                // comes lower than the one before, and a batch in the provider's order (newest
                // first, or a Maildir's file order) made a segment of every few messages, which
                // it then spent most of the import merging.
                rows.sort_unstable_by_key(|(key, _)| *key);
                insert_rows!($tx, $backend, $crate::messages::search::SQLITE_INSERT, "", 8, rows, |q, (key, t)| q
                    .bind(*key)
                    .bind(&t.subject)
                    .bind(&t.sender)
                    .bind(&t.recipients)
                    .bind(&t.copied)
                    .bind(&t.people)
                    .bind(&t.files)
                    .bind(t.body));
            }
            Backend::Postgres => {
                let rows: Vec<(i64, String, &str)> = views
                    .iter()
                    .map(|(id, _, p)| (*id, $crate::messages::search::document(p), p.text.as_str()))
                    .collect();
                insert_rows!(
                    $tx,
                    $backend,
                    $crate::messages::search::POSTGRES_INSERT_HEAD,
                    $crate::messages::search::POSTGRES_INSERT_TAIL,
                    3,
                    rows,
                    |q, (id, document, body)| q.bind(*id).bind(document).bind(*body)
                );
            }
        }
    }};
}

/// Writes the index entries that wait in `$unindexed` (see [`upsert_batch!`]) and forgets which
/// messages they were, `$waiting`.
macro_rules! index_waiting {
    ($tx:expr, $backend:expr, $unindexed:expr, $waiting:expr) => {{
        if !$unindexed.is_empty() {
            index_views!($tx, $backend, &$unindexed);
            $unindexed.clear();
        }
        $waiting.clear();
    }};
}

/// Removes the search index entries of the messages `$ids`, in `$tx`.
macro_rules! unindex {
    ($tx:expr, $backend:expr, $ids:expr) => {{
        let ids: &[i64] = $ids;
        match $backend {
            Backend::Sqlite => {
                for chunk in ids.chunks(MAX_PARAMS) {
                    let sql = format!(
                        "{}({}))",
                        $crate::messages::search::SQLITE_UNINDEX_HEAD,
                        placeholder_list($backend, chunk.len(), 1)
                    );
                    let q = chunk.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, id| q.bind(*id));
                    q.execute(&mut *$tx).await?;
                }
            }
            Backend::Postgres => delete_for_messages!($tx, $backend, "message_search", ids),
        }
    }};
}

/// The ids of the account's folders `$remote_ids`, each created as a custom folder first when
/// the store does not know it yet (see [`ENSURE_FOLDER`]), in `$tx`.
/// What the messages `rows` (ids) add to their folders' counts: per folder, the messages and the
/// unread ones that the folder's list shows (a message in the trash or spam counts there only).
fn contributions_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT mf.folder_id, COUNT(*), CAST(SUM(CASE WHEN m.is_read THEN 0 ELSE 1 END) AS BIGINT) \
         FROM message_folders mf JOIN messages m ON m.id = mf.message_id JOIN folders f ON f.id = mf.folder_id \
         WHERE mf.message_id IN ({}) AND (f.kind IN ('trash', 'spam') OR NOT EXISTS (SELECT 1 FROM message_folders bf \
         JOIN folders b ON b.id = bf.folder_id WHERE bf.message_id = m.id AND b.kind IN ('trash', 'spam'))) \
         GROUP BY mf.folder_id",
        placeholder_list(backend, rows, 1)
    )
}

fn message_ids_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT id FROM messages WHERE account_id = {} AND remote_id IN ({})",
        placeholder(backend, 1),
        placeholder_list(backend, rows, 2)
    )
}

/// Every folder of the account counted from scratch, by the rule of [`contributions_sql`].
pub(crate) const RECOUNT_FOLDERS: &str = "UPDATE folders SET \
     total_count = (SELECT COUNT(*) FROM message_folders mf JOIN messages m ON m.id = mf.message_id \
     WHERE mf.folder_id = folders.id AND (folders.kind IN ('trash', 'spam') OR NOT EXISTS (SELECT 1 FROM message_folders bf \
     JOIN folders b ON b.id = bf.folder_id WHERE bf.message_id = m.id AND b.kind IN ('trash', 'spam')))), \
     unread_count = (SELECT COUNT(*) FROM message_folders mf JOIN messages m ON m.id = mf.message_id \
     WHERE mf.folder_id = folders.id AND NOT m.is_read AND (folders.kind IN ('trash', 'spam') OR NOT EXISTS \
     (SELECT 1 FROM message_folders bf JOIN folders b ON b.id = bf.folder_id WHERE bf.message_id = m.id \
     AND b.kind IN ('trash', 'spam')))) WHERE account_id = $1";

const ADJUST_COUNTS: &str =
    "UPDATE folders SET total_count = total_count + $2, unread_count = unread_count + $3 WHERE id = $1";

/// Per folder, (messages, unread) of a set of messages.
type Contributions = HashMap<i64, (i64, i64)>;

/// What changed between two [`Contributions`] of the same messages, per folder, zeros left out.
fn count_deltas(before: &Contributions, after: &Contributions) -> Vec<(i64, i64, i64)> {
    let mut folders: Vec<i64> = before.keys().chain(after.keys()).copied().collect();
    folders.sort_unstable();
    folders.dedup();
    folders
        .into_iter()
        .filter_map(|folder| {
            let (b, a) =
                (before.get(&folder).copied().unwrap_or_default(), after.get(&folder).copied().unwrap_or_default());
            let delta = (a.0 - b.0, a.1 - b.1);
            (delta != (0, 0)).then_some((folder, delta.0, delta.1))
        })
        .collect()
}

/// The [`Contributions`] of the messages `$ids`, in `$tx`.
macro_rules! contributions {
    ($tx:expr, $backend:expr, $ids:expr) => {{
        let ids: &[i64] = $ids;
        let mut out: Contributions = HashMap::new();
        for (folder, total, unread) in select_in!($tx, $backend, contributions_sql, ids, (i64, i64, i64)) {
            let entry = out.entry(folder).or_default();
            entry.0 += total;
            entry.1 += unread;
        }
        out
    }};
}

/// The ids of the account's messages among `$remote_ids`, in `$tx`.
macro_rules! message_ids {
    ($tx:expr, $backend:expr, $account:expr, $remote_ids:expr) => {{
        let remote_ids: &[&str] = $remote_ids;
        let account: AccountId = $account;
        select_in!($tx, $backend, message_ids_sql, remote_ids, (i64,), account.0)
            .into_iter()
            .map(|(id,)| id)
            .collect::<Vec<i64>>()
    }};
}

/// Moves the folders' kept counts by what a write did to the messages whose counts were
/// `$before` and are now `$after`: the counts follow every change in the transaction that makes
/// it, so reading them costs nothing however large the folder.
macro_rules! adjust_counts {
    ($tx:expr, $before:expr, $after:expr) => {{
        for (folder, total, unread) in count_deltas(&$before, &$after) {
            sqlx::query(ADJUST_COUNTS).bind(folder).bind(total).bind(unread).execute(&mut *$tx).await?;
        }
    }};
}

macro_rules! folder_ids {
    ($tx:expr, $backend:expr, $account:expr, $remote_ids:expr) => {{
        let wanted: &[&str] = $remote_ids;
        let account: AccountId = $account;
        let mut ids: HashMap<String, i64> = select_in!($tx, $backend, folder_ids_sql, wanted, (i64, String), account.0)
            .into_iter()
            .map(|(id, r)| (r, id))
            .collect();
        let missing: Vec<&str> = wanted.iter().copied().filter(|r| !ids.contains_key(*r)).collect();
        if !missing.is_empty() {
            for folder in &missing {
                sqlx::query(ENSURE_FOLDER).bind(account.0).bind(*folder).execute(&mut *$tx).await?;
            }
            ids.extend(
                select_in!($tx, $backend, folder_ids_sql, missing, (i64, String), account.0)
                    .into_iter()
                    .map(|(id, r)| (r, id)),
            );
        }
        ids
    }};
}

/// Upserts `$batch`, messages with distinct remote ids, with their parsed views and folders, in
/// `$tx`, and pushes to `$events` what the change feed should tell of them: added, or changed
/// when flags, folders or the presence of raw bytes differ from what the store had. Their search
/// index entries are pushed to `$unindexed`, for [`index_views!`] to write: the messages must
/// have none in the index until then.
macro_rules! upsert_batch {
    ($tx:expr, $backend:expr, $owner:expr, $account:expr, $batch:expr, $now:expr, $events:expr, $unindexed:expr) => {{
        let batch: &[&IncomingMessage<'_>] = $batch;
        let account: AccountId = $account;
        let remote_ids: Vec<&str> = batch.iter().map(|m| m.remote_id).collect();
        let before: HashMap<String, (i64, bool, bool, bool, bool)> =
            select_in!($tx, $backend, known_state_sql, remote_ids, (i64, String, bool, bool, bool, bool), account.0)
                .into_iter()
                .map(|(id, remote_id, read, starred, draft, had_raw)| (remote_id, (id, read, starred, draft, had_raw)))
                .collect();
        let known_ids: Vec<i64> = before.values().map(|b| b.0).collect();
        let mut folders_before: HashMap<i64, Vec<String>> = HashMap::new();
        if !known_ids.is_empty() {
            for (id, folder) in select_in!($tx, $backend, folders_of_sql, known_ids, (i64, String)) {
                folders_before.entry(id).or_default().push(folder);
            }
            // The parsed view and the folders are replaced whole.
            delete_for_messages!($tx, $backend, "participants", &known_ids);
            delete_for_messages!($tx, $backend, "attachments", &known_ids);
            delete_for_messages!($tx, $backend, "message_folders", &known_ids);
            unindex!($tx, $backend, &known_ids);
        }
        let sql = upsert_messages_sql($backend, batch.len());
        let mut q = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql));
        for m in batch {
            let p = m.parsed;
            q = q
                .bind($owner)
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
                .bind(m.has_attachments.unwrap_or(!p.attachments.is_empty()))
                .bind(p.has_text)
                .bind(p.has_html)
                .bind(i64::try_from(p.size).unwrap_or(i64::MAX))
                .bind(m.parse_failed)
                .bind($now);
        }
        let returned: HashMap<String, i64> = q.fetch_all(&mut *$tx).await?.into_iter().map(|(id, r)| (r, id)).collect();
        // The upsert returns a row for every message; one missing would be a broken database.
        let ids: Vec<i64> = batch
            .iter()
            .map(|m| returned.get(m.remote_id).copied().ok_or(sqlx::Error::RowNotFound))
            .collect::<std::result::Result<_, _>>()?;
        let raws: Vec<(i64, &[u8])> = ids.iter().zip(batch).filter_map(|(id, m)| Some((*id, m.raw?))).collect();
        insert_rows!($tx, $backend, UPSERT_RAW_HEAD, UPSERT_RAW_TAIL, 2, raws, |q, (id, raw)| q.bind(*id).bind(*raw));
        let views: Vec<(i64, &ParsedMessage)> = ids.iter().zip(batch).map(|(id, m)| (*id, m.parsed)).collect();
        insert_views!($tx, $backend, &views);
        $unindexed.extend(ids.iter().zip(batch).map(|(id, m)| (*id, m.received_at, m.parsed)));
        let mut wanted: Vec<&str> = batch.iter().flat_map(|m| m.folders.iter().map(String::as_str)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let folder_ids = folder_ids!($tx, $backend, account, &wanted);
        let placed: Vec<(i64, i64)> = ids
            .iter()
            .zip(batch)
            .flat_map(|(id, m)| {
                m.folders.iter().filter_map(|f| folder_ids.get(f.as_str())).map(|folder| (*id, *folder))
            })
            .collect();
        insert_rows!($tx, $backend, INSERT_MESSAGE_FOLDERS, " ON CONFLICT DO NOTHING", 2, placed, |q, pair| q
            .bind(pair.0)
            .bind(pair.1));
        // Sync applies the same message again on every full import; only a real difference
        // reaches the change feed.
        for m in batch {
            match before.get(m.remote_id) {
                None => $events.push((m.remote_id, EventKind::Added)),
                Some(&(id, read, starred, draft, had_raw)) => {
                    let changed = (read, starred, draft) != (m.is_read, m.is_starred, m.is_draft)
                        || (!had_raw && m.raw.is_some())
                        || !same_set(folders_before.remove(&id).unwrap_or_default(), m.folders);
                    if changed {
                        $events.push((m.remote_id, EventKind::Changed));
                    }
                }
            }
        }
    }};
}

/// A folder or label with its counts, for the folder lists of the UI and the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderSummary {
    pub id: i64,
    pub account: AccountId,
    pub remote_id: String,
    pub name: String,
    pub kind: FolderKind,
    pub parent_remote_id: Option<String>,
    /// Messages in the folder.
    pub total: i64,
    pub unread: i64,
}

/// What the store knows of a message sync is about to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownMessage {
    pub is_draft: bool,
    /// The provider's version of its content, when the provider has one (see
    /// [`MessageChange::Version`]).
    pub remote_version: Option<String>,
}

/// What a sync write changed, as the change feed counts it: a change that changed nothing, or a
/// deletion of a message the store did not have, is no change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
}

impl Applied {
    /// Messages, not entries: a message added and changed in one write is one added message.
    fn of(events: &[(&str, EventKind)]) -> Applied {
        let ids = |kind: EventKind| -> HashSet<&str> {
            events.iter().filter(|(_, k)| *k == kind).map(|(id, _)| *id).collect()
        };
        let (added, removed) = (ids(EventKind::Added), ids(EventKind::Removed));
        let changed = ids(EventKind::Changed).into_iter().filter(|id| !added.contains(id) && !removed.contains(id));
        Applied { added: added.len(), changed: changed.count(), removed: removed.len() }
    }

    /// `count` messages counted as changed when they left their last folder, then deleted for
    /// being in none (`Store::remove_unfiled`): removed, not changed.
    pub fn unfiled(&mut self, count: usize) {
        self.changed = self.changed.saturating_sub(count);
        self.removed += count;
    }
}

impl std::ops::AddAssign for Applied {
    fn add_assign(&mut self, other: Applied) {
        self.added += other.added;
        self.changed += other.changed;
        self.removed += other.removed;
    }
}

/// A stored message's place and flags, as a sync compares them with the provider's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    /// The remote ids of its folders or labels.
    pub folders: Vec<String>,
    pub is_read: bool,
    pub is_starred: bool,
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
    ) -> Result<Applied> {
        let backend = self.db.backend();
        let applied = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            // A write first: SQLite then takes its write lock now (waiting its busy timeout for
            // another writer) instead of failing when a transaction that began by reading tries
            // to write after another committed; PostgreSQL takes the account's row lock, which
            // the change feed would take anyway, so writers of one account go one at a time.
            // No row: the account is gone, and the foreign keys refuse what follows.
            let owner: i64 = sqlx::query_scalar(LOCK_ACCOUNT).bind(account.0).fetch_optional(&mut *tx).await?.unwrap_or(0);
            let touched: Vec<&str> = changes.iter().map(MessageChange::remote_id).collect();
            let known_before = message_ids!(tx, backend, account, &touched);
            let counted_before = contributions!(tx, backend, &known_before);
            // The people of the messages whose content this write replaces or removes, so that
            // the correspondents move by what it changed (flags and folders change no one).
            let content: Vec<&str> = changes
                .iter()
                .filter(|c| matches!(c, MessageChange::Upsert(_) | MessageChange::Delete { .. }))
                .map(MessageChange::remote_id)
                .collect();
            let people_before = if content.is_empty() {
                Tallies::default()
            } else {
                let ids = message_ids!(tx, backend, account, &content);
                tally_people!(tx, backend, &ids)
            };
            let mut events: Vec<(&str, EventKind)> = Vec::new();
            // The search index entries of the upserts, written together: FTS5 writes a segment
            // for each statement that follows its writes in a transaction, so entries written
            // batch by batch made several segments a transaction, which it then merged.
            let mut unindexed: Vec<(i64, i64, &ParsedMessage)> = Vec::new();
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
            // Upserts that follow each other are written together; a batch ends before a change
            // of another kind, or a second change to one of its messages, so changes still
            // apply in the order given. The index entries wait for a deletion (whose trigger
            // removes an entry), a second upsert of a message, or the end.
            let mut batch: Vec<&IncomingMessage<'_>> = Vec::new();
            let mut waiting: HashSet<&str> = HashSet::new();
            for change in changes {
                if let MessageChange::Upsert(m) = change {
                    if waiting.contains(m.remote_id) {
                        if !batch.is_empty() {
                            upsert_batch!(tx, backend, owner, account, &batch, now, events, unindexed);
                            batch.clear();
                        }
                        index_waiting!(tx, backend, unindexed, waiting);
                    } else if batch.len() == UPSERT_BATCH {
                        upsert_batch!(tx, backend, owner, account, &batch, now, events, unindexed);
                        batch.clear();
                    }
                    waiting.insert(m.remote_id);
                    batch.push(m);
                    continue;
                }
                if !batch.is_empty() {
                    upsert_batch!(tx, backend, owner, account, &batch, now, events, unindexed);
                    batch.clear();
                }
                if matches!(change, MessageChange::Delete { .. }) {
                    index_waiting!(tx, backend, unindexed, waiting);
                }
                match change {
                    MessageChange::Upsert(_) => unreachable!("upserts are batched above"),
                    MessageChange::Version { .. } => {} // Written after the loop.
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
            if !batch.is_empty() {
                upsert_batch!(tx, backend, owner, account, &batch, now, events, unindexed);
            }
            index_waiting!(tx, backend, unindexed, waiting);
            if !content.is_empty() {
                let upserted: Vec<&str> = changes
                    .iter()
                    .filter_map(|c| match c {
                        MessageChange::Upsert(m) => Some(m.remote_id),
                        _ => None,
                    })
                    .collect();
                let ids = message_ids!(tx, backend, account, &upserted);
                let people_after = tally_people!(tx, backend, &ids);
                move_correspondents!(tx, backend, people_before, people_after);
            }
            let versions: Vec<(&str, &str)> = changes
                .iter()
                .filter_map(|c| match c {
                    MessageChange::Version { remote_id, version } => Some((*remote_id, *version)),
                    _ => None,
                })
                .collect();
            if !versions.is_empty() {
                let remote_ids: Vec<&str> = versions.iter().map(|(r, _)| *r).collect();
                let stored: HashMap<String, (i64, Option<String>, bool)> =
                    select_in!(tx, backend, known_versions_sql, remote_ids, (i64, String, Option<String>, bool), account.0)
                        .into_iter()
                        .map(|(id, remote_id, version, has_raw)| (remote_id, (id, version, has_raw)))
                        .collect();
                // The last version given for a message wins, as a later change would.
                let mut wanted: HashMap<i64, (&str, &str)> = HashMap::new();
                for (remote_id, version) in &versions {
                    if let Some((id, _, _)) = stored.get(*remote_id) {
                        wanted.insert(*id, (*remote_id, *version));
                    }
                }
                let mut newer: Vec<(i64, &str)> = Vec::new();
                let mut stale: Vec<i64> = Vec::new();
                for (id, (remote_id, version)) in wanted {
                    let Some((_, before, has_raw)) = stored.get(remote_id) else { continue };
                    if before.as_deref() == Some(version) {
                        continue;
                    }
                    newer.push((id, version));
                    // Raw bytes kept under another version (or under none, from before versions
                    // were kept) may be of an older content.
                    if *has_raw {
                        stale.push(id);
                    }
                    if before.is_some() || *has_raw {
                        events.push((remote_id, EventKind::Changed));
                    }
                }
                delete_for_messages!(tx, backend, "message_raw", &stale);
                for chunk in newer.chunks(rows_per_statement(3)) {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(set_versions_sql(backend, chunk.len())));
                    for (id, version) in chunk {
                        q = q.bind(*id).bind(*version);
                    }
                    for (id, _) in chunk {
                        q = q.bind(*id);
                    }
                    q.execute(&mut *tx).await?;
                }
            }
            let known_after = message_ids!(tx, backend, account, &touched);
            let counted_after = contributions!(tx, backend, &known_after);
            adjust_counts!(tx, counted_before, counted_after);
            append_events!(tx, backend, account, &events, now);
            let applied = Applied::of(&events);
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
            applied
        });
        Ok(applied)
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

    /// Whether the account has any cursor: a mailbox without one has never been synced whole.
    pub async fn has_sync_cursor(&self, account: AccountId) -> Result<bool> {
        let sql = "SELECT COUNT(*) FROM sync_state WHERE account_id = $1";
        let count: i64 = with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(account.0).fetch_one(pool).await)?;
        Ok(count > 0)
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

    /// Which of `remote_ids` the store has, whether each is a draft, and its provider version.
    pub async fn known_messages(
        &self,
        account: AccountId,
        remote_ids: &[&str],
    ) -> Result<HashMap<String, KnownMessage>> {
        let backend = self.db.backend();
        let rows = with_pool!(self.db, pool => {
            let mut conn = pool.acquire().await?;
            select_in!(conn, backend, known_drafts_sql, remote_ids, (String, bool, Option<String>), account.0)
        });
        Ok(rows
            .into_iter()
            .map(|(remote_id, is_draft, remote_version)| (remote_id, KnownMessage { is_draft, remote_version }))
            .collect())
    }

    /// The folders and flags of the account's messages `remote_ids` that the store has.
    pub async fn stored_states(&self, account: AccountId, remote_ids: &[&str]) -> Result<HashMap<String, StoredState>> {
        let backend = self.db.backend();
        let (rows, places) = with_pool!(self.db, pool => {
            let mut conn = pool.acquire().await?;
            let rows = select_in!(conn, backend, known_state_sql, remote_ids, (i64, String, bool, bool, bool, bool), account.0);
            let ids: Vec<i64> = rows.iter().map(|row| row.0).collect();
            let places = select_in!(conn, backend, folders_of_sql, ids.as_slice(), (i64, String));
            (rows, places)
        });
        let mut folders: HashMap<i64, Vec<String>> = HashMap::new();
        for (id, folder) in places {
            folders.entry(id).or_default().push(folder);
        }
        Ok(rows
            .into_iter()
            .map(|(id, remote_id, is_read, is_starred, _, _)| {
                let mut folders = folders.remove(&id).unwrap_or_default();
                folders.sort();
                (remote_id, StoredState { folders, is_read, is_starred })
            })
            .collect())
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

    /// The folders of the user's accounts (of one account, when given) with how many messages
    /// each holds and how many of those are unread, per account in [`FolderKind::list_position`]
    /// order, then by name.
    pub async fn folder_summaries(&self, user: UserId, account: Option<AccountId>) -> Result<Vec<FolderSummary>> {
        let sql = "SELECT f.id, f.account_id, f.remote_id, f.name, f.kind, f.parent_remote_id, f.total_count, \
                   f.unread_count FROM folders f JOIN accounts a ON a.id = f.account_id \
                   WHERE a.user_id = $1 AND ($2 IS NULL OR f.account_id = $2) ORDER BY f.account_id, f.name, f.id";
        type Row = (i64, i64, String, String, String, Option<String>, i64, i64);
        let rows: Vec<Row> = with_pool!(self.db, pool => sqlx::query_as(sql)
            .bind(user.0)
            .bind(account.map(|a| a.0))
            .fetch_all(pool)
            .await)?;
        let mut folders: Vec<FolderSummary> = rows
            .into_iter()
            .map(|(id, account_id, remote_id, name, kind, parent_remote_id, total, unread)| FolderSummary {
                id,
                account: AccountId(account_id),
                remote_id,
                name,
                kind: FolderKind::parse(&kind).unwrap_or(FolderKind::Custom),
                parent_remote_id,
                total,
                unread,
            })
            .collect();
        // Stable: within a kind, by name as the query gave them.
        folders.sort_by_key(|f| (f.account.0, f.kind.list_position()));
        Ok(folders)
    }

    /// The remote id of the account's folder of `kind` (the first, if it has several).
    pub async fn folder_of_kind(&self, account: AccountId, kind: FolderKind) -> Result<Option<String>> {
        let sql = "SELECT remote_id FROM folders WHERE account_id = $1 AND kind = $2 ORDER BY id LIMIT 1";
        Ok(
            with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(account.0).bind(kind.as_str()).fetch_optional(pool).await)?,
        )
    }

    /// Counts the account's folders again from scratch. The counts are kept by every write, so
    /// this changes nothing unless they drifted; tests compare the two.
    pub async fn recount_folders(&self, account: AccountId) -> Result<()> {
        with_pool!(self.db, pool => sqlx::query(RECOUNT_FOLDERS).bind(account.0).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
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
            let mut tx = pool.begin_write().await?;
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
            // Rare, and a trash or spam folder going changes what every other folder counts.
            sqlx::query(RECOUNT_FOLDERS).bind(account.0).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes the account's messages that are in no folder and returns their remote ids. For
    /// Outlook, where a message is in exactly one folder: once every folder's changes are in, a
    /// message no folder holds is gone at the provider. (Never for Gmail, where a message with no
    /// label is archived.)
    pub async fn remove_unfiled(&self, account: AccountId) -> Result<Vec<String>> {
        const UNFILED: &str = "SELECT id FROM messages WHERE account_id = $1 \
                               AND NOT EXISTS (SELECT 1 FROM message_folders mf WHERE mf.message_id = messages.id)";
        let sql = "DELETE FROM messages WHERE account_id = $1 \
                   AND NOT EXISTS (SELECT 1 FROM message_folders mf WHERE mf.message_id = messages.id) \
                   RETURNING remote_id";
        let now = crate::now();
        let backend = self.db.backend();
        Ok(with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let going: Vec<i64> = sqlx::query_scalar(UNFILED).bind(account.0).fetch_all(&mut *tx).await?;
            let people_before = tally_people!(tx, backend, &going);
            let gone: Vec<String> = sqlx::query_scalar(sql).bind(account.0).fetch_all(&mut *tx).await?;
            move_correspondents!(tx, backend, people_before, Tallies::default());
            let events: Vec<(&str, EventKind)> = gone.iter().map(|id| (id.as_str(), EventKind::Removed)).collect();
            append_events!(tx, backend, account, &events, now);
            tx.commit().await?;
            gone
        }))
    }

    /// Up to `limit` remote ids of the account's messages whose raw bytes are not fetched yet,
    /// newest first.
    pub async fn messages_without_raw(&self, account: AccountId, limit: u32) -> Result<Vec<String>> {
        let sql = "SELECT remote_id FROM messages m WHERE account_id = $1 \
                   AND NOT EXISTS (SELECT 1 FROM message_raw r WHERE r.message_id = m.id) \
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
        let backend = self.db.backend();
        let stored = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let known = message_ids!(tx, backend, account, &[remote_id]);
            let people_before = tally_people!(tx, backend, &known);
            let row: Option<(i64, i64)> = sqlx::query_as(STORE_RAW)
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
                .bind(parse_failed)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some((id, received_at)) = row {
                insert_rows!(tx, backend, UPSERT_RAW_HEAD, UPSERT_RAW_TAIL, 2, [(id, raw)], |q, (id, raw)| q
                    .bind(*id)
                    .bind(*raw));
                delete_for_messages!(tx, backend, "participants", &[id]);
                delete_for_messages!(tx, backend, "attachments", &[id]);
                unindex!(tx, backend, &[id]);
                insert_views!(tx, backend, &[(id, p)]);
                index_views!(tx, backend, &[(id, received_at, p)]);
                let people_after = tally_people!(tx, backend, &[id]);
                move_correspondents!(tx, backend, people_before, people_after);
                append_events!(tx, backend, account, &[(remote_id, EventKind::Changed)], now);
            }
            tx.commit().await?;
            row.is_some()
        });
        Ok(stored)
    }
}

mod correspondents;
mod listing;
mod local;
mod reparse;
mod search;
mod tags;
mod writeback;
pub(crate) use correspondents::MARK_STALE;
pub use correspondents::{Correspondent, CorrespondentGroup, SUGGESTION_LIMIT, Suggestions};
use correspondents::{Tallies, move_correspondents, tally_people};
pub use listing::{
    FeedEntry, ListCursor, MessageDetail, MessageFilter, MessagePerson, MessageSummary, Participant, StoredAttachment,
};
pub use local::NOTE_LIMIT;
pub use search::{SearchCursor, SearchHit, SearchPage};
pub use tags::Tag;
pub(crate) use writeback::REQUEST_RUN;
pub use writeback::{ACTION_LIMIT, Acted, ActionRefused, FailedAction, UNDO_MARGIN, UndoRefused, WritebackJob};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgresql_and_plain_for_sqlite() {
        assert_eq!(placeholder_rows(Backend::Postgres, 2, 3, 1), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholder_rows(Backend::Sqlite, 2, 3, 1), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(placeholder_list(Backend::Postgres, 3, 2), "$2, $3, $4");
        assert_eq!(
            known_state_sql(Backend::Sqlite, 2).rsplit_once("WHERE").unwrap().1,
            " account_id = ? AND remote_id IN (?, ?)"
        );
    }
}
