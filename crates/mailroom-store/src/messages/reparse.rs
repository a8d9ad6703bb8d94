//! Stored mail read again when the reader improves. Each message's parsed view — its columns,
//! people, attachments and search entry — was read from its raw bytes by the `mailroom_mime`
//! of its day; a newer reader may read some mail differently (a broken multipart, a date, an
//! address), and a view left from the old one would list attachments at positions the new one
//! does not serve and miss words it shows. On start, a version whose reader is newer than the one
//! the store was last read with ([`Store::start_reparse`]) has every message read again in the
//! background, a batch per transaction ([`Store::reparse_stored`]), as the search backfill does.

use std::collections::HashMap;

use mailroom_domain::AccountId;
use mailroom_mime::ParsedMessage;

use super::{
    EventKind, INSERT_ATTACHMENTS, INSERT_EVENTS, INSERT_PARTICIPANTS, MAX_PARAMS, TAKE_EVENT_SEQ, move_correspondents,
    placeholder_list, placeholder_rows, role_name, rows_per_statement, tally_people,
};
use crate::db::{Backend, BeginWrite, with_pool};
use crate::{Result, Store};

/// A stored message as the read-again sees it: its raw bytes and what its view says now.
#[derive(sqlx::FromRow)]
struct Stored {
    id: i64,
    account_id: i64,
    remote_id: String,
    received_at: i64,
    updated_at: i64,
    raw: Vec<u8>,
    subject: String,
    from_address: Option<String>,
    from_name: Option<String>,
    snippet: String,
    has_attachments: bool,
}

/// The parsed columns of a message by id, written only when the message has not changed since it
/// was read (`updated_at`): a change made meanwhile wrote a view of its own.
const REWRITE: &str = "UPDATE messages SET internet_message_id = $2, subject = $3, from_address = $4, from_name = $5, \
     snippet = $6, sent_at = $7, has_attachments = $8, has_text = $9, has_html = $10, size = $11, parse_failed = $12, \
     updated_at = $13 WHERE id = $1 AND updated_at = $14";

impl Store {
    /// Has every stored message read again when this version's reader
    /// (`mailroom_mime::PARSER_VERSION`) is newer than the one the store was last read with, or
    /// the store was never marked; returns whether a read-again was started. Several processes
    /// may start at once: one statement decides.
    pub async fn start_reparse(&self) -> Result<bool> {
        let parser = mailroom_mime::PARSER_VERSION;
        // `WHERE 1 = 1`: SQLite would read the ON of the upsert as a join's without a WHERE.
        let sql = "INSERT INTO reparse (id, parser, next, up_to) \
                   SELECT 1, $1, COALESCE(MIN(id), 0), COALESCE(MAX(id), -1) FROM messages WHERE 1 = 1 \
                   ON CONFLICT (id) DO UPDATE SET parser = excluded.parser, next = excluded.next, up_to = excluded.up_to \
                   WHERE reparse.parser < excluded.parser";
        let changed =
            with_pool!(self.db, pool => sqlx::query(sql).bind(parser).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(changed > 0)
    }

    /// Reads up to `batch` messages of the read-again range again, in one transaction; returns
    /// whether some are left. A message's view is replaced whole: columns, people, attachments
    /// and search entry; the change feed gets an entry when what lists show changed.
    pub async fn reparse_stored(&self, batch: i64) -> Result<bool> {
        let backend = self.db.backend();
        let range: Option<(i64, i64)> = with_pool!(self.db, pool =>
            sqlx::query_as("SELECT next, up_to FROM reparse WHERE next <= up_to").fetch_optional(pool).await)?;
        let Some((next, up_to)) = range else { return Ok(false) };
        let batch = batch.max(1);
        let sql = "SELECT m.id, m.account_id, m.remote_id, m.received_at, m.updated_at, r.raw, m.subject, \
                   m.from_address, m.from_name, m.snippet, m.has_attachments \
                   FROM messages m JOIN message_raw r ON r.message_id = m.id \
                   WHERE m.id >= $1 AND m.id <= $2 ORDER BY m.id LIMIT $3";
        let rows: Vec<Stored> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(next).bind(up_to).bind(batch).fetch_all(pool).await)?;
        let done = rows.len() < usize::try_from(batch).unwrap_or(usize::MAX);
        let last = if done { up_to } else { rows.last().map_or(up_to, |r| r.id) };
        // Parsing is CPU work: off the async threads, so that requests are not kept waiting.
        let (rows, views) = tokio::task::spawn_blocking(move || {
            let views: Vec<(ParsedMessage, bool)> = rows
                .iter()
                .map(|row| match mailroom_mime::parse(&row.raw) {
                    mailroom_mime::ParseOutcome::Parsed(view) => (view, false),
                    mailroom_mime::ParseOutcome::Unreadable(view) => (view, true),
                })
                .collect();
            (rows, views)
        })
        .await
        .map_err(|e| crate::StoreError::Background(e.to_string()))?;
        let now = crate::now();
        with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let read: Vec<i64> = rows.iter().map(|row| row.id).collect();
            let people_before = tally_people!(tx, backend, &read);
            let mut rewritten: Vec<(i64, i64, &ParsedMessage)> = Vec::new();
            let mut events: HashMap<i64, Vec<(&str, EventKind)>> = HashMap::new();
            for (row, (view, failed)) in rows.iter().zip(&views) {
                let written = sqlx::query(REWRITE)
                    .bind(row.id)
                    .bind(view.message_id.as_deref())
                    .bind(&view.subject)
                    .bind(view.from.as_ref().map(|a| a.address.as_str()))
                    .bind(view.from.as_ref().and_then(|a| a.name.as_deref()))
                    .bind(&view.snippet)
                    .bind(view.date.map(|d| d.timestamp()))
                    .bind(!view.attachments.is_empty())
                    .bind(view.has_text)
                    .bind(view.has_html)
                    .bind(i64::try_from(view.size).unwrap_or(i64::MAX))
                    .bind(*failed)
                    .bind(now)
                    .bind(row.updated_at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if written == 0 {
                    continue;
                }
                rewritten.push((row.id, row.received_at, view));
                let shown_before = (&row.subject, &row.from_address, &row.from_name, &row.snippet, row.has_attachments);
                let shown_now = (
                    &view.subject,
                    &view.from.as_ref().map(|a| a.address.clone()),
                    &view.from.as_ref().and_then(|a| a.name.clone()),
                    &view.snippet,
                    !view.attachments.is_empty(),
                );
                if shown_before != shown_now {
                    events.entry(row.account_id).or_default().push((row.remote_id.as_str(), EventKind::Changed));
                }
            }
            let ids: Vec<i64> = rewritten.iter().map(|(id, _, _)| *id).collect();
            delete_for_messages!(tx, backend, "participants", &ids);
            delete_for_messages!(tx, backend, "attachments", &ids);
            unindex!(tx, backend, &ids);
            let views: Vec<(i64, &ParsedMessage)> = rewritten.iter().map(|(id, _, view)| (*id, *view)).collect();
            insert_views!(tx, backend, &views);
            index_views!(tx, backend, &rewritten);
            let people_after = tally_people!(tx, backend, &read);
            move_correspondents!(tx, backend, people_before, people_after);
            for (account, entries) in &events {
                let account = AccountId(*account);
                append_events!(tx, backend, account, entries, now);
            }
            sqlx::query("UPDATE reparse SET next = $1 WHERE next < $1").bind(last + 1).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(!done)
    }
}
