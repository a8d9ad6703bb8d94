//! The user's own coloured labels ("tags"): made, listed and deleted by their owner, put on and
//! taken off the owner's messages with the change feed told. They never go to the provider.

use mailroom_domain::{AccountId, TagColor, TagName, UserId};

use super::writeback::LOCK_USER_ACCOUNTS;
use super::{
    EventKind, INSERT_EVENTS, TAKE_EVENT_SEQ, placeholder, placeholder_list, placeholder_rows, rows_per_statement,
};
use crate::db::{Backend, BeginWrite, with_pool};
use crate::{ACTION_LIMIT, ActionRefused, Result, Store};

/// A tag with how many messages carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub id: i64,
    pub name: String,
    pub color: TagColor,
    pub count: i64,
}

fn owned_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT m.id, m.account_id, m.remote_id, EXISTS (SELECT 1 FROM message_tags mt WHERE mt.message_id = m.id \
         AND mt.tag_id = {}) FROM messages m WHERE m.user_id = {} AND m.id IN ({})",
        placeholder(backend, 1),
        placeholder(backend, 2),
        placeholder_list(backend, rows, 3)
    )
}

impl Store {
    /// The user's tags by name, with their message counts.
    pub async fn tags(&self, user: UserId) -> Result<Vec<Tag>> {
        let sql = "SELECT t.id, t.name, t.color, COUNT(mt.message_id) FROM tags t \
                   LEFT JOIN message_tags mt ON mt.tag_id = t.id WHERE t.user_id = $1 \
                   GROUP BY t.id, t.name, t.color ORDER BY t.name, t.id";
        let rows: Vec<(i64, String, String, i64)> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(user.0).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(id, name, color, count)| Tag {
                id,
                name,
                color: TagColor::parse(&color).unwrap_or(TagColor::Gray),
                count,
            })
            .collect())
    }

    /// Makes a tag; `None` when the user has one of that name already.
    pub async fn create_tag(&self, user: UserId, name: &TagName, color: TagColor, now: i64) -> Result<Option<i64>> {
        let sql = "INSERT INTO tags (user_id, name, color, created_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (user_id, name) DO NOTHING RETURNING id";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql)
            .bind(user.0)
            .bind(name.as_str())
            .bind(color.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await)?)
    }

    /// Deletes the user's tag (from every message too); `false` when it is not theirs.
    pub async fn delete_tag(&self, user: UserId, id: i64) -> Result<bool> {
        let sql = "DELETE FROM tags WHERE id = $1 AND user_id = $2";
        let done = with_pool!(self.db, pool => sqlx::query(sql).bind(id).bind(user.0).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Puts the user's tag `tag` on their messages `ids`, or takes it off. The tag and every
    /// message must be the user's, or nothing changes. Returns how many changed.
    pub async fn set_tag(
        &self,
        user: UserId,
        ids: &[i64],
        tag: i64,
        on: bool,
        now: i64,
    ) -> Result<Result<usize, ActionRefused>> {
        if ids.len() > ACTION_LIMIT {
            return Ok(Err(ActionRefused::TooMany));
        }
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let backend = self.db.backend();
        with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(LOCK_USER_ACCOUNTS).bind(user.0).execute(&mut *tx).await?;
            let owns_tag: Option<i64> = sqlx::query_scalar("SELECT id FROM tags WHERE id = $1 AND user_id = $2")
                .bind(tag)
                .bind(user.0)
                .fetch_optional(&mut *tx)
                .await?;
            if owns_tag.is_none() || ids.is_empty() {
                return Ok(if owns_tag.is_none() { Err(ActionRefused::NotFound) } else { Ok(0) });
            }
            let q = sqlx::query_as::<_, (i64, i64, String, bool)>(sqlx::AssertSqlSafe(owned_sql(backend, ids.len())))
                .bind(tag)
                .bind(user.0);
            let rows = ids.iter().fold(q, |q, id| q.bind(*id)).fetch_all(&mut *tx).await?;
            if rows.len() != ids.len() {
                return Ok(Err(ActionRefused::NotFound));
            }
            let mut changed = 0;
            for (id, account, remote_id, _) in rows.iter().filter(|r| r.3 != on) {
                let sql = if on {
                    "INSERT INTO message_tags (message_id, tag_id) VALUES ($1, $2)"
                } else {
                    "DELETE FROM message_tags WHERE message_id = $1 AND tag_id = $2"
                };
                sqlx::query(sql).bind(*id).bind(tag).execute(&mut *tx).await?;
                append_events!(tx, backend, AccountId(*account), &[(remote_id.as_str(), EventKind::Changed)], now);
                changed += 1;
            }
            tx.commit().await?;
            Ok(Ok(changed))
        })
    }
}
