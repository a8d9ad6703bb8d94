//! Search: the full-text index that sync writes beside each message, and the search itself over
//! a [`Plan`] of the user's query.
//!
//! SQLite keeps the index in an FTS5 table whose rowid is the message's search key,
//! `(received_at << 31) | id`, so that the index lists its matches newest first and a page of
//! results reads a page of matches. PostgreSQL keeps a `tsvector` per message under a GIN index,
//! made here from [`text::words`] and matched by a `tsquery` made the same way.
//!
//! Results come best first: messages whose free words are in the subject, the people or the
//! file names (the plan's headline) before those with them in the body only, each tier newest
//! first; a conversation is shown once, by its best message.

use std::collections::HashMap;

use mailroom_domain::UserId;
use mailroom_domain::search::{Cond, Field, Flag, Plan, TextExpr, text};
use mailroom_mime::ParsedMessage;

use super::listing::{
    Bind, CONVERSATION_COLUMNS, MessageSummary, Query, SUMMARY_COLUMNS, Shape, bind_all, page_as_json, parse_page,
    push_kind, push_visible,
};
use super::{MAX_PARAMS, placeholder_list, placeholder_rows, rows_per_statement};
use crate::db::{Backend, BeginWrite, Pool, with_pool};
use crate::{Result, Store};

/// The search key of a message: its arrival time (kept within 0..2^32) above its id (below 2^31).
pub(crate) fn search_key(received_at: i64, id: i64) -> i64 {
    (received_at.clamp(0, 0xFFFF_FFFF) << 31) | (id & 0x7FFF_FFFF)
}

/// [`search_key`] in SQL, of the message `{x}`.
fn key_sql(x: &str) -> String {
    format!("((MAX(0, MIN({x}.received_at, 4294967295)) << 31) | {x}.id)")
}

pub(crate) const SQLITE_INSERT: &str =
    "INSERT INTO message_search (rowid, subject, sender, recipients, copied, people, files, body) VALUES ";
pub(crate) const SQLITE_UNINDEX_HEAD: &str = "DELETE FROM message_search WHERE rowid IN \
     (SELECT (MAX(0, MIN(received_at, 4294967295)) << 31) | id FROM messages WHERE id IN ";
pub(crate) const POSTGRES_INSERT_HEAD: &str = "INSERT INTO message_search (message_id, document, body) \
     SELECT v.id, CAST(v.document AS tsvector), v.body FROM (VALUES ";
pub(crate) const POSTGRES_INSERT_TAIL: &str = ") AS v (id, document, body)";

/// The text of a message in the index's fields.
pub(crate) struct IndexedText<'a> {
    pub subject: &'a str,
    /// From: names and addresses (a message may have several authors).
    pub sender: String,
    /// To.
    pub recipients: String,
    /// Cc.
    pub copied: String,
    /// Everyone else it names: Sender, Bcc, Reply-To.
    pub people: String,
    /// The attachments' names.
    pub files: String,
    pub body: &'a str,
}

impl<'a> IndexedText<'a> {
    pub(crate) fn of(p: &'a ParsedMessage) -> IndexedText<'a> {
        let people = |list: &mut dyn Iterator<Item = &mailroom_mime::Address>| {
            list.map(|a| match &a.name {
                Some(name) => format!("{name} {}", a.address),
                None => a.address.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
        };
        IndexedText {
            subject: &p.subject,
            sender: people(&mut p.from.iter().chain(&p.from_others)),
            recipients: people(&mut p.to.iter()),
            copied: people(&mut p.cc.iter()),
            people: people(&mut p.sender.iter().chain(&p.bcc).chain(&p.reply_to)),
            files: p.attachments.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", "),
            body: &p.text,
        }
    }
}

/// The tag of a field's words in the PostgreSQL document; free words are untagged.
fn tag(field: Field) -> &'static str {
    match field {
        Field::Any | Field::Headline => "",
        Field::Subject => "s.",
        Field::From => "f.",
        Field::To => "t.",
        Field::Cc => "c.",
        Field::Filename => "n.",
    }
}

/// The tags the headline covers: subject, every person, file names.
const HEADLINE_TAGS: [&str; 6] = ["s.", "f.", "t.", "c.", "p.", "n."];

/// PostgreSQL keeps positions up to this; later words share it.
const LAST_POSITION: usize = 16_383;
/// PostgreSQL keeps at most this many positions of one word.
const POSITIONS_PER_WORD: usize = 255;

/// The PostgreSQL document of a message, as `tsvector` input: every word plain, with its
/// positions, and the words of the subject, people and file names also tagged by field. A gap of
/// one position between fields keeps a phrase from running across two.
pub(crate) fn document(p: &ParsedMessage) -> String {
    let t = IndexedText::of(p);
    let fields: [(&str, &str); 7] = [
        ("s.", t.subject),
        ("f.", &t.sender),
        ("t.", &t.recipients),
        ("c.", &t.copied),
        ("p.", &t.people),
        ("n.", &t.files),
        ("", t.body),
    ];
    let mut lexemes: HashMap<String, Vec<usize>> = HashMap::new();
    let mut position = 0;
    for (field_tag, value) in fields {
        for word in text::words(value) {
            position = (position + 1).min(LAST_POSITION);
            if !field_tag.is_empty() {
                lexemes.entry(format!("{field_tag}{word}")).or_default().push(position);
            }
            lexemes.entry(word).or_default().push(position);
        }
        position = (position + 1).min(LAST_POSITION);
    }
    let mut out = String::new();
    for (lexeme, mut positions) in lexemes {
        positions.dedup();
        positions.truncate(POSITIONS_PER_WORD);
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&quote(&lexeme));
        out.push(':');
        out.push_str(&positions.iter().map(usize::to_string).collect::<Vec<_>>().join(","));
    }
    out
}

/// A lexeme quoted for `tsvector` and `tsquery` input.
fn quote(lexeme: &str) -> String {
    format!("'{}'", lexeme.replace('\\', "\\\\").replace('\'', "''"))
}

/// The expression as an FTS5 query.
fn fts5(expr: &TextExpr) -> String {
    match expr {
        TextExpr::Match { field, text } => {
            let phrase = format!("\"{}\"", text.replace('"', "\"\""));
            match field {
                Field::Any => phrase,
                Field::Subject => format!("subject : {phrase}"),
                Field::From => format!("sender : {phrase}"),
                Field::To => format!("recipients : {phrase}"),
                Field::Cc => format!("copied : {phrase}"),
                Field::Filename => format!("files : {phrase}"),
                Field::Headline => format!("{{subject sender recipients copied people files}} : {phrase}"),
            }
        }
        TextExpr::And(parts) => parts.iter().map(|p| format!("({})", fts5(p))).collect::<Vec<_>>().join(" AND "),
        TextExpr::Or(parts) => parts.iter().map(|p| format!("({})", fts5(p))).collect::<Vec<_>>().join(" OR "),
        TextExpr::AndNot(positive, negative) => {
            let left_out = negative.iter().map(|n| format!("({})", fts5(n))).collect::<Vec<_>>().join(" OR ");
            format!("({}) NOT ({left_out})", fts5(positive))
        }
    }
}

/// The expression as a PostgreSQL `tsquery`, over the document of [`document`].
fn tsquery(expr: &TextExpr) -> String {
    match expr {
        TextExpr::Match { field, text } => {
            let words = text::words(text);
            let phrase =
                |tag: &str| words.iter().map(|w| quote(&format!("{tag}{w}"))).collect::<Vec<_>>().join(" <-> ");
            match field {
                Field::Headline => {
                    HEADLINE_TAGS.iter().map(|t| format!("({})", phrase(t))).collect::<Vec<_>>().join(" | ")
                }
                field => phrase(tag(*field)),
            }
        }
        TextExpr::And(parts) => parts.iter().map(|p| format!("({})", tsquery(p))).collect::<Vec<_>>().join(" & "),
        TextExpr::Or(parts) => parts.iter().map(|p| format!("({})", tsquery(p))).collect::<Vec<_>>().join(" | "),
        TextExpr::AndNot(positive, negative) => {
            let mut out = format!("({})", tsquery(positive));
            for n in negative {
                out.push_str(&format!(" & !({})", tsquery(n)));
            }
            out
        }
    }
}

/// The expression in the backend's query language.
fn index_query(backend: Backend, expr: &TextExpr) -> String {
    match backend {
        Backend::Sqlite => fts5(expr),
        Backend::Postgres => tsquery(expr),
    }
}

/// A condition that the message `{x}` matches `query` (in [`index_query`]'s language).
fn matches_sql(backend: Backend, x: &str) -> String {
    match backend {
        Backend::Sqlite => format!("EXISTS (SELECT 1 FROM message_search(?) ms WHERE ms.rowid = {})", key_sql(x)),
        Backend::Postgres => format!(
            "EXISTS (SELECT 1 FROM message_search ms WHERE ms.message_id = {x}.id AND ms.document @@ CAST(? AS tsquery))"
        ),
    }
}

/// Appends ` AND <cond on {x}>`.
fn push_cond(q: &mut Query, cond: &Cond, x: &str) {
    q.push(" AND ", Vec::new());
    push_cond_expr(q, cond, x);
}

/// Appends the condition as one parenthesised expression.
fn push_cond_expr(q: &mut Query, cond: &Cond, x: &str) {
    let folder_named = |q: &mut Query, name: &str| {
        q.push(
            &format!(
                "EXISTS (SELECT 1 FROM message_folders mf JOIN folders f ON f.id = mf.folder_id \
                 WHERE mf.message_id = {x}.id AND LOWER(f.name) = LOWER(?))"
            ),
            vec![Bind::Text(name.to_owned())],
        );
    };
    match cond {
        Cond::Text(expr) => {
            let backend = q.backend;
            q.push(&matches_sql(backend, x), vec![Bind::Text(index_query(backend, expr))]);
        }
        Cond::HasAttachment => q.push(&format!("{x}.has_attachments"), Vec::new()),
        Cond::Is(Flag::Unread) => q.push(&format!("NOT {x}.is_read"), Vec::new()),
        Cond::Is(Flag::Read) => q.push(&format!("{x}.is_read"), Vec::new()),
        Cond::Is(Flag::Starred) => q.push(&format!("{x}.is_starred"), Vec::new()),
        Cond::In(place) => {
            let place = place.to_lowercase();
            let kind = match place.as_str() {
                "anywhere" => None,
                "bin" => mailroom_domain::FolderKind::parse("trash"),
                "junk" => mailroom_domain::FolderKind::parse("spam"),
                other => {
                    mailroom_domain::FolderKind::parse(other).filter(|k| *k != mailroom_domain::FolderKind::Custom)
                }
            };
            match (place.as_str(), kind) {
                ("anywhere", _) => q.push("1 = 1", Vec::new()),
                // A star is a flag in either kind of mailbox (Outlook has no Starred folder).
                ("starred", _) => q.push(&format!("{x}.is_starred"), Vec::new()),
                (_, Some(kind)) => {
                    // The kind's condition, and a folder or label of that name besides.
                    q.push("(1 = 1", Vec::new());
                    push_kind(q, kind, x);
                    q.push(" OR ", Vec::new());
                    folder_named(q, &place);
                    q.push(")", Vec::new());
                }
                (_, None) => folder_named(q, &place),
            }
        }
        Cond::Label(name) => {
            q.push("(", Vec::new());
            folder_named(q, name);
            q.push(
                &format!(
                    " OR EXISTS (SELECT 1 FROM message_tags mt JOIN tags tg ON tg.id = mt.tag_id \
                     WHERE mt.message_id = {x}.id AND LOWER(tg.name) = LOWER(?)))"
                ),
                vec![Bind::Text(name.clone())],
            );
        }
        Cond::Account(address) => q.push(
            &format!("{x}.account_id IN (SELECT ac.id FROM accounts ac WHERE ac.address = ?)"),
            vec![Bind::Text(address.trim().to_lowercase())],
        ),
        Cond::Before(date) => {
            q.push(&format!("{x}.received_at < ?"), vec![Bind::Int(date.days_since_epoch() * 86_400)]);
        }
        Cond::After(date) => {
            q.push(&format!("{x}.received_at >= ?"), vec![Bind::Int(date.days_since_epoch() * 86_400)]);
        }
        Cond::Larger(bytes) => {
            q.push(&format!("{x}.size > ?"), vec![Bind::Int(i64::try_from(*bytes).unwrap_or(i64::MAX))])
        }
        Cond::Smaller(bytes) => {
            q.push(&format!("{x}.size < ?"), vec![Bind::Int(i64::try_from(*bytes).unwrap_or(i64::MAX))]);
        }
        Cond::And(parts) | Cond::Or(parts) => {
            let joiner = if matches!(cond, Cond::And(_)) { " AND " } else { " OR " };
            q.push("(", Vec::new());
            for (n, part) in parts.iter().enumerate() {
                if n > 0 {
                    q.push(joiner, Vec::new());
                }
                push_cond_expr(q, part, x);
            }
            q.push(")", Vec::new());
        }
        Cond::Not(inner) => {
            q.push("NOT (", Vec::new());
            push_cond_expr(q, inner, x);
            q.push(")", Vec::new());
        }
    }
}

/// Where a page of search results starts: after this message of this tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchCursor {
    /// 1 for the headline tier, 2 for the rest (1 when a search has one tier).
    pub tier: u8,
    pub received_at: i64,
    pub id: i64,
}

impl SearchCursor {
    /// The cursor as an opaque token for a URL.
    pub fn encode(self) -> String {
        format!("{}.{}.{}", self.tier, self.received_at, self.id)
    }

    pub fn decode(token: &str) -> Option<SearchCursor> {
        let mut parts = token.split('.');
        let tier: u8 = parts.next()?.parse().ok()?;
        let received_at = parts.next()?.parse().ok()?;
        let id = parts.next()?.parse().ok()?;
        (parts.next().is_none() && matches!(tier, 1 | 2)).then_some(SearchCursor { tier, received_at, id })
    }
}

/// One result: a conversation, by its best matching message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub summary: MessageSummary,
    /// The subject with the query's words marked.
    pub subject: Vec<text::Piece>,
    /// A piece of the body around the first match with the query's words marked, or the
    /// message's snippet when its body does not have them.
    pub snippet: Vec<text::Piece>,
    pub tier: u8,
}

/// A page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    /// Where the next page starts, when there may be one.
    pub next: Option<SearchCursor>,
}

/// One statement of a search: the tier's messages, best first.
struct Tier<'a> {
    number: u8,
    /// What the index must find, in its language; `None` walks the mail by date.
    matching: Option<String>,
    /// What a sibling must match to stand for the conversation instead: the full query, and
    /// either this (a better tier), when given, or being newer and in this tier.
    better: Option<&'a str>,
    /// What a newer sibling must match to be in this tier, when the full query does not say so:
    /// the headline for the first of two tiers. Without it, a newer reply matching only in its
    /// body hid the conversation's headline match here, and was itself hidden in the second
    /// tier by that better match, so the conversation was found by neither.
    same_tier: Option<&'a str>,
}

/// Characters of a result's snippet.
const SNIPPET_WIDTH: usize = 200;

impl Store {
    /// A page of the user's conversations matching `plan`, best first (see the module's
    /// documentation), starting after `after`.
    pub async fn search(
        &self,
        user: UserId,
        plan: &Plan,
        after: Option<SearchCursor>,
        limit: i64,
    ) -> Result<SearchPage> {
        let backend = self.db.backend();
        let limit = limit.clamp(1, 200);
        let full = plan.text.as_ref().map(|t| index_query(backend, t));
        let headline = plan.headline.as_ref().map(|h| index_query(backend, h));
        let tiers: Vec<Tier<'_>> = match (&full, &headline) {
            (Some(full), Some(headline)) => {
                let rest = match backend {
                    Backend::Sqlite => format!("({full}) NOT ({headline})"),
                    Backend::Postgres => format!("({full}) & !({headline})"),
                };
                vec![
                    Tier { number: 1, matching: Some(headline.clone()), better: None, same_tier: Some(headline) },
                    Tier { number: 2, matching: Some(rest), better: Some(headline), same_tier: None },
                ]
            }
            (full, _) => vec![Tier { number: 1, matching: full.clone(), better: None, same_tier: None }],
        };
        // One more than asked tells whether there is a next page.
        let wanted = limit + 1;
        let mut hits: Vec<(MessageSummary, u8)> = Vec::new();
        for tier in &tiers {
            let start = match after {
                Some(c) if c.tier > tier.number => continue,
                Some(c) if c.tier == tier.number => Some((c.received_at, c.id)),
                _ => None,
            };
            let missing = wanted - i64::try_from(hits.len()).unwrap_or(i64::MAX);
            if missing <= 0 {
                break;
            }
            let q = tier_sql(backend, user, plan, full.as_deref(), tier, start, missing);
            let sql = page_as_json(backend, &q.sql);
            let page: String = with_pool!(self.db, pool => {
                let q = bind_all!(sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)), &q.binds);
                q.fetch_one(pool).await
            })?;
            hits.extend(parse_page(&page, Shape::Conversations)?.into_iter().map(|m| (m, tier.number)));
        }
        let more = hits.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        hits.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = if more {
            hits.last().map(|(m, tier)| SearchCursor { tier: *tier, received_at: m.received_at, id: m.id })
        } else {
            None
        };
        let bodies = self.indexed_bodies(hits.iter().map(|(m, _)| (m.id, m.received_at)).collect()).await?;
        let hits = hits
            .into_iter()
            .map(|(summary, tier)| {
                let plain = |t: &str| vec![text::Piece { text: t.to_owned(), matched: false }];
                let subject =
                    text::highlight(&summary.subject, &plan.marks, 1_000).unwrap_or_else(|| plain(&summary.subject));
                let snippet = bodies
                    .get(&summary.id)
                    .and_then(|body| text::highlight(body, &plan.marks, SNIPPET_WIDTH))
                    .unwrap_or_else(|| plain(&summary.snippet));
                SearchHit { summary, subject, snippet, tier }
            })
            .collect();
        Ok(SearchPage { hits, next })
    }

    /// How many of the user's messages match `plan` (messages, not conversations).
    pub async fn search_count(&self, user: UserId, plan: &Plan) -> Result<i64> {
        let backend = self.db.backend();
        let mut q = Query { backend, sql: String::new(), binds: Vec::new() };
        match (&plan.text, backend) {
            (Some(expr), Backend::Sqlite) => {
                q.push(
                    "SELECT COUNT(*) FROM message_search(?) s CROSS JOIN messages m ON m.id = (s.rowid & 2147483647) \
                     WHERE m.user_id = ?",
                    vec![Bind::Text(fts5(expr)), Bind::Int(user.0)],
                );
                push_key_range(&mut q, plan);
            }
            (Some(expr), Backend::Postgres) => q.push(
                "SELECT COUNT(*) FROM message_search s JOIN messages m ON m.id = s.message_id \
                 WHERE s.document @@ CAST(? AS tsquery) AND m.user_id = ?",
                vec![Bind::Text(tsquery(expr)), Bind::Int(user.0)],
            ),
            (None, _) => q.push("SELECT COUNT(*) FROM messages m WHERE m.user_id = ?", vec![Bind::Int(user.0)]),
        }
        push_conditions(&mut q, plan, "m");
        let count: i64 = with_pool!(self.db, pool => {
            let query = bind_all!(sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(q.sql)), &q.binds);
            query.fetch_one(pool).await
        })?;
        Ok(count)
    }

    /// The indexed body text of the messages `(id, received_at)`.
    async fn indexed_bodies(&self, messages: Vec<(i64, i64)>) -> Result<HashMap<i64, String>> {
        if messages.is_empty() {
            return Ok(HashMap::new());
        }
        let backend = self.db.backend();
        let list = placeholder_list(backend, messages.len(), 1);
        let (sql, values): (String, Vec<i64>) = match backend {
            Backend::Sqlite => (
                format!("SELECT rowid & 2147483647, body FROM message_search WHERE rowid IN ({list})"),
                messages.iter().map(|(id, at)| search_key(*at, *id)).collect(),
            ),
            Backend::Postgres => (
                format!("SELECT message_id, body FROM message_search WHERE message_id IN ({list})"),
                messages.iter().map(|(id, _)| *id).collect(),
            ),
        };
        let rows: Vec<(i64, String)> = with_pool!(self.db, pool => {
            let q = values.iter().fold(sqlx::query_as(sqlx::AssertSqlSafe(sql)), |q, v| q.bind(*v));
            q.fetch_all(pool).await
        })?;
        Ok(rows.into_iter().collect())
    }
}

impl Store {
    /// Does a step of merging the SQLite index's segments (FTS5 `merge`, down to two per level,
    /// see the migration); returns whether there was work. Run in the background after writes:
    /// every sync commit adds a segment, and a search reads every segment of each of its terms.
    /// PostgreSQL's GIN index needs nothing of the kind.
    pub async fn tidy_search_index(&self) -> Result<bool> {
        let Pool::Sqlite(pool) = self.db.pool() else { return Ok(false) };
        let mut connection = pool.acquire().await?;
        let before: i64 = sqlx::query_scalar("SELECT total_changes()").fetch_one(&mut *connection).await?;
        sqlx::query("INSERT INTO message_search (message_search, rank) VALUES ('merge', 500)")
            .execute(&mut *connection)
            .await?;
        let after: i64 = sqlx::query_scalar("SELECT total_changes()").fetch_one(&mut *connection).await?;
        // FTS5's documentation: a change count that moved by less than two means nothing was left.
        Ok(after - before >= 2)
    }
}

/// A message stored before the index existed, as the backfill reads it.
#[derive(sqlx::FromRow)]
struct Unindexed {
    id: i64,
    received_at: i64,
    updated_at: i64,
    raw: Option<Vec<u8>>,
    subject: String,
    from_address: Option<String>,
    from_name: Option<String>,
    snippet: String,
}

impl Unindexed {
    /// The parsed view to index: from the raw bytes, or, before they are fetched (Outlook), from
    /// what the row keeps.
    fn view(&self) -> ParsedMessage {
        match &self.raw {
            Some(raw) => mailroom_mime::parse(raw).into_message(),
            None => ParsedMessage {
                subject: self.subject.clone(),
                from: self
                    .from_address
                    .clone()
                    .map(|address| mailroom_mime::Address { name: self.from_name.clone(), address }),
                text: self.snippet.clone(),
                ..ParsedMessage::default()
            },
        }
    }
}

impl Store {
    /// Indexes up to `batch` of the messages stored before the search index existed (recorded
    /// in `search_backfill` by the migration that made it); returns whether some are left. Each
    /// batch is one transaction; a message that changed since it was read was indexed by that
    /// change and is left alone. Several processes may run it at once: writing an entry twice
    /// gives the same entry.
    pub async fn backfill_search(&self, batch: i64) -> Result<bool> {
        let backend = self.db.backend();
        let range: Option<(i64, i64)> = with_pool!(self.db, pool =>
            sqlx::query_as("SELECT next, up_to FROM search_backfill").fetch_optional(pool).await)?;
        let Some((next, up_to)) = range else { return Ok(false) };
        let sql = "SELECT m.id, m.received_at, m.updated_at, r.raw, m.subject, m.from_address, m.from_name, m.snippet \
                   FROM messages m LEFT JOIN message_raw r ON r.message_id = m.id \
                   WHERE m.id >= $1 AND m.id <= $2 ORDER BY m.id LIMIT $3";
        let rows: Vec<Unindexed> = with_pool!(self.db, pool =>
            sqlx::query_as(sql).bind(next).bind(up_to).bind(batch.max(1)).fetch_all(pool).await)?;
        let views: Vec<(i64, i64, i64, ParsedMessage)> =
            rows.iter().map(|r| (r.id, r.received_at, r.updated_at, r.view())).collect();
        let last = rows.last().map_or(up_to, |r| r.id);
        let done = last >= up_to || rows.len() < usize::try_from(batch.max(1)).unwrap_or(usize::MAX);
        with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let ids: Vec<i64> = views.iter().map(|v| v.0).collect();
            let mut current: HashMap<i64, i64> = HashMap::new();
            for chunk in ids.chunks(1_000) {
                let sql = format!(
                    "SELECT id, updated_at FROM messages WHERE id IN ({})",
                    placeholder_list(backend, chunk.len(), 1)
                );
                let q = chunk.iter().fold(sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql)), |q, id| q.bind(*id));
                current.extend(q.fetch_all(&mut *tx).await?);
            }
            let unchanged: Vec<(i64, i64, &ParsedMessage)> = views
                .iter()
                .filter(|(id, _, updated_at, _)| current.get(id) == Some(updated_at))
                .map(|(id, received_at, _, view)| (*id, *received_at, view))
                .collect();
            let unchanged_ids: Vec<i64> = unchanged.iter().map(|v| v.0).collect();
            unindex!(tx, backend, &unchanged_ids);
            index_views!(tx, backend, &unchanged);
            if done {
                sqlx::query("DELETE FROM search_backfill").execute(&mut *tx).await?;
            } else {
                sqlx::query("UPDATE search_backfill SET next = $1 WHERE next < $1").bind(last + 1).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(!done)
    }
}

/// The plan's conditions on the message `{x}`, and what lists never show.
fn push_conditions(q: &mut Query, plan: &Plan, x: &str) {
    for cond in &plan.conditions {
        push_cond(q, cond, x);
    }
    push_visible(q, x, plan.anywhere);
}

/// Where the SQLite index drives, the query's own dates as a range of search keys, which the
/// index seeks to rather than reading every newer match (the same conditions on the messages
/// stay, and decide).
fn push_key_range(q: &mut Query, plan: &Plan) {
    for cond in &plan.conditions {
        match cond {
            Cond::After(date) => {
                q.push(" AND s.rowid >= ?", vec![Bind::Int(search_key(date.days_since_epoch() * 86_400, 0))]);
            }
            Cond::Before(date) => {
                q.push(" AND s.rowid < ?", vec![Bind::Int(search_key(date.days_since_epoch() * 86_400, 0))]);
            }
            _ => {}
        }
    }
}

/// Appends ` AND ` and the condition that the message `{n}` comes after `{m}` in a search's
/// order: by search key where the SQLite index drives, else by (received_at, id).
fn push_newer(q: &mut Query, keyed: bool, n: &str, m: &str) {
    if keyed {
        q.push(&format!(" AND {} > {}", key_sql(n), key_sql(m)), Vec::new());
    } else {
        q.push(
            &format!(
                " AND ({n}.received_at > {m}.received_at OR ({n}.received_at = {m}.received_at AND {n}.id > {m}.id))"
            ),
            Vec::new(),
        );
    }
}

/// The statement of one tier: its conversations' best messages, after `start`, newest first.
fn tier_sql(
    backend: Backend,
    user: UserId,
    plan: &Plan,
    full: Option<&str>,
    tier: &Tier<'_>,
    start: Option<(i64, i64)>,
    limit: i64,
) -> Query {
    let mut q = Query { backend, sql: String::new(), binds: Vec::new() };
    // On SQLite the index drives, in its own order: CROSS JOIN keeps the planner from walking the
    // messages by date (or by a date range of the query) and asking the index about each, which
    // took seconds on a large store.
    let keyed = backend == Backend::Sqlite && tier.matching.is_some();
    match (&tier.matching, backend) {
        (Some(matching), Backend::Sqlite) => q.push(
            &format!(
                "SELECT {SUMMARY_COLUMNS}, {CONVERSATION_COLUMNS} FROM message_search(?) s \
                 CROSS JOIN messages m ON m.id = (s.rowid & 2147483647) WHERE m.user_id = ?"
            ),
            vec![Bind::Text(matching.clone()), Bind::Int(user.0)],
        ),
        (Some(matching), Backend::Postgres) => q.push(
            &format!(
                "SELECT {SUMMARY_COLUMNS}, {CONVERSATION_COLUMNS} FROM messages m \
                 JOIN message_search s ON s.message_id = m.id \
                 WHERE s.document @@ CAST(? AS tsquery) AND m.user_id = ?"
            ),
            vec![Bind::Text(matching.clone()), Bind::Int(user.0)],
        ),
        (None, _) => q.push(
            &format!("SELECT {SUMMARY_COLUMNS}, {CONVERSATION_COLUMNS} FROM messages m WHERE m.user_id = ?"),
            vec![Bind::Int(user.0)],
        ),
    }
    push_conditions(&mut q, plan, "m");
    if keyed {
        push_key_range(&mut q, plan);
    }
    if let Some((received_at, id)) = start {
        if keyed {
            q.push(" AND s.rowid < ?", vec![Bind::Int(search_key(received_at, id))]);
        } else {
            q.push(" AND (m.received_at, m.id) < (?, ?)", vec![Bind::Int(received_at), Bind::Int(id)]);
        }
    }
    // A conversation is shown once, by its best message: no other message of it matches and
    // comes before this one (a better tier, or the same tier and newer). A conversation has a few
    // messages: SQLite is held to the thread index, which it left for the date index when the
    // query had dates (reading a month of mail for every result).
    let thread_index = if backend == Backend::Sqlite { " INDEXED BY messages_thread" } else { "" };
    q.push(
        &format!(
            " AND (m.thread_remote_id IS NULL OR NOT EXISTS (SELECT 1 FROM messages n{thread_index} \
             WHERE n.account_id = m.account_id AND n.thread_remote_id = m.thread_remote_id AND +n.id <> m.id"
        ),
        Vec::new(),
    );
    push_conditions(&mut q, plan, "n");
    // Newer in this tier, or in a better tier; the comparison first, so that an older message of
    // the conversation is not looked up in the index when no better tier can hold it.
    q.push(" AND ((1 = 1", Vec::new());
    push_newer(&mut q, keyed, "n", "m");
    if let Some(same_tier) = tier.same_tier {
        q.push(&format!(" AND {}", matches_sql(backend, "n")), vec![Bind::Text(same_tier.to_owned())]);
    }
    q.push(")", Vec::new());
    if let Some(better) = tier.better {
        q.push(&format!(" OR {}", matches_sql(backend, "n")), vec![Bind::Text(better.to_owned())]);
    }
    q.push(")", Vec::new());
    if let Some(full) = full {
        q.push(&format!(" AND {}", matches_sql(backend, "n")), vec![Bind::Text(full.to_owned())]);
    }
    q.push("))", Vec::new());
    let order = if keyed { "s.rowid DESC".to_owned() } else { "m.received_at DESC, m.id DESC".to_owned() };
    // The limit is written into the statement, as in the lists: a number, so nothing is injected.
    q.push(&format!(" ORDER BY {order} LIMIT {limit}"), Vec::new());
    q
}

#[cfg(test)]
mod tests {
    use mailroom_domain::search::Query as Search;

    use super::*;

    fn expr(q: &str) -> TextExpr {
        Plan::new(&Search::parse(q).unwrap()).text.unwrap()
    }

    #[test]
    fn keys_order_by_arrival_then_id() {
        assert!(search_key(100, 5) > search_key(99, 2_000_000));
        assert!(search_key(100, 6) > search_key(100, 5));
        assert_eq!(search_key(100, 5) & 0x7FFF_FFFF, 5);
        assert_eq!(search_key(-5, 1), search_key(0, 1));
    }

    #[test]
    fn queries_in_each_index_language() {
        assert_eq!(fts5(&expr("invoice from:ann")), r#"("invoice") AND (sender : "ann")"#);
        assert_eq!(fts5(&expr(r#""say hi" -spam"#)), r#"("say hi") NOT (("spam"))"#);
        assert_eq!(
            tsquery(&expr("Přílohy from:ann@example.org")),
            "('prilohy') & ('f.ann' <-> 'f.example' <-> 'f.org')"
        );
        assert_eq!(tsquery(&expr("a OR b -c")), "(('a') | ('b')) & !('c')");
    }

    #[test]
    fn a_document_tags_fields_and_keeps_phrases_within_one() {
        let parsed = ParsedMessage {
            subject: "Přílohy".to_owned(),
            from: Some(mailroom_mime::Address { name: Some("Ann".to_owned()), address: "ann@example.org".to_owned() }),
            text: "it's here".to_owned(),
            ..ParsedMessage::default()
        };
        let mut lexemes: Vec<String> = document(&parsed).split(' ').map(str::to_owned).collect();
        lexemes.sort();
        assert_eq!(
            lexemes,
            [
                "'ann':3,4",
                "'example':5",
                "'f.ann':3,4",
                "'f.example':5",
                "'f.org':6",
                "'here':14",
                "'it':12",
                "'org':6",
                "'prilohy':1",
                "'s':13",
                "'s.prilohy':1"
            ]
        );
    }
}
