//! What a user keeps on their messages that never goes to the provider: the to-do mark and a
//! private note. Written in one transaction with the change feed, so API clients following the
//! feed see them too; sync never touches them.

use mailroom_domain::{AccountId, UserId};

use super::writeback::LOCK_USER_ACCOUNTS;
use super::{
    EventKind, INSERT_EVENTS, TAKE_EVENT_SEQ, placeholder, placeholder_list, placeholder_rows, rows_per_statement,
};
use crate::db::{Backend, BeginWrite, with_pool};
use crate::{ACTION_LIMIT, ActionRefused, Result, Store};

/// Longest note, in characters.
pub const NOTE_LIMIT: usize = 10_000;

fn owned_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT m.id, m.account_id, m.remote_id, m.todo FROM messages m \
         WHERE m.user_id = {} AND m.id IN ({})",
        placeholder(backend, 1),
        placeholder_list(backend, rows, 2)
    )
}

impl Store {
    /// Marks the user's messages `ids` as to-do, or done. Every message must be the user's, or
    /// nothing changes. Returns how many changed.
    pub async fn set_todo(
        &self,
        user: UserId,
        ids: &[i64],
        todo: bool,
        now: i64,
    ) -> Result<Result<usize, ActionRefused>> {
        if ids.len() > ACTION_LIMIT {
            return Ok(Err(ActionRefused::TooMany));
        }
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Ok(0));
        }
        let backend = self.db.backend();
        with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(LOCK_USER_ACCOUNTS).bind(user.0).execute(&mut *tx).await?;
            let q = sqlx::query_as::<_, (i64, i64, String, bool)>(sqlx::AssertSqlSafe(owned_sql(backend, ids.len()))).bind(user.0);
            let rows = ids.iter().fold(q, |q, id| q.bind(*id)).fetch_all(&mut *tx).await?;
            if rows.len() != ids.len() {
                return Ok(Err(ActionRefused::NotFound));
            }
            let mut changed = 0;
            for (id, account, remote_id, _) in rows.iter().filter(|r| r.3 != todo) {
                sqlx::query("UPDATE messages SET todo = $2 WHERE id = $1").bind(*id).bind(todo).execute(&mut *tx).await?;
                append_events!(tx, backend, AccountId(*account), &[(remote_id.as_str(), EventKind::Changed)], now);
                changed += 1;
            }
            tx.commit().await?;
            Ok(Ok(changed))
        })
    }

    /// Sets the user's private note on their message `id`; an empty note removes it. `false`
    /// when the message is not the user's. A note longer than [`NOTE_LIMIT`] is refused by the
    /// caller, never cut here.
    pub async fn set_note(&self, user: UserId, id: i64, note: &str, now: i64) -> Result<bool> {
        let note = note.trim();
        let backend = self.db.backend();
        with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(LOCK_USER_ACCOUNTS).bind(user.0).execute(&mut *tx).await?;
            let owned: Option<(i64, String)> =
                sqlx::query_as("SELECT account_id, remote_id FROM messages WHERE id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(user.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((account, remote_id)) = owned else { return Ok(false) };
            if note.is_empty() {
                sqlx::query("DELETE FROM message_notes WHERE message_id = $1").bind(id).execute(&mut *tx).await?;
            } else {
                sqlx::query(
                    "INSERT INTO message_notes (message_id, body, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (message_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                )
                .bind(id)
                .bind(note)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            append_events!(tx, backend, AccountId(account), &[(remote_id.as_str(), EventKind::Changed)], now);
            tx.commit().await?;
            Ok(true)
        })
    }
}
