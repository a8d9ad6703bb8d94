//! What the user added to a mailbox's mail (private notes, to-do marks, tags) kept across a
//! disconnect when they ask for it, and put back when the same address is connected again, as
//! each message arrives: matched by the provider's id, else by its Message-ID.

use mailroom_domain::{AccountId, UserId};

use crate::db::{BeginWrite, with_pool};
use crate::{Result, Store};

/// A message with something the user added: its id, Message-ID, provider id, note and to-do mark.
type Extras = (i64, Option<String>, String, Option<String>, bool);

impl Store {
    /// Disconnects the user's account `id`: deletes it with its copies of mail; with `keep`,
    /// first keeps the notes, to-do marks and tags on its messages for a later connection of the
    /// same address. How many messages' extras were kept; `None` when the account is not the
    /// user's (nothing changes then).
    pub async fn delete_account_keeping(
        &self,
        user: UserId,
        id: AccountId,
        keep: bool,
        now: i64,
    ) -> Result<Option<usize>> {
        let account = "SELECT LOWER(address) FROM accounts WHERE id = $1 AND user_id = $2";
        let extras = "SELECT m.id, m.internet_message_id, m.remote_id, n.body, m.todo FROM messages m \
             LEFT JOIN message_notes n ON n.message_id = m.id WHERE m.account_id = $1 \
             AND (m.todo OR n.body IS NOT NULL OR EXISTS (SELECT 1 FROM message_tags t WHERE t.message_id = m.id))";
        let tags = "SELECT t.message_id, t.tag_id FROM message_tags t JOIN messages m ON m.id = t.message_id \
             WHERE m.account_id = $1 ORDER BY t.message_id, t.tag_id";
        let insert = "INSERT INTO kept_extras (user_id, address, internet_message_id, remote_id, note, todo, tags, kept_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        let delete = "DELETE FROM accounts WHERE id = $1 AND user_id = $2";
        let kept = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let address: Option<String> =
                sqlx::query_scalar(account).bind(id.0).bind(user.0).fetch_optional(&mut *tx).await?;
            match address {
                None => None,
                Some(address) => {
                    let mut kept = 0;
                    if keep {
                        let rows: Vec<Extras> = sqlx::query_as(extras).bind(id.0).fetch_all(&mut *tx).await?;
                        let tagged: Vec<(i64, i64)> = sqlx::query_as(tags).bind(id.0).fetch_all(&mut *tx).await?;
                        for (message, message_id, remote_id, note, todo) in rows {
                            let tags: Vec<String> =
                                tagged.iter().filter(|(m, _)| *m == message).map(|(_, tag)| tag.to_string()).collect();
                            sqlx::query(insert)
                                .bind(user.0).bind(&address).bind(message_id).bind(remote_id).bind(note)
                                .bind(i64::from(todo)).bind(tags.join(",")).bind(now)
                                .execute(&mut *tx).await?;
                            kept += 1;
                        }
                    }
                    sqlx::query(delete).bind(id.0).bind(user.0).execute(&mut *tx).await?;
                    // Its mail went: the user's correspondents are counted again.
                    sqlx::query(crate::messages::MARK_STALE).bind(user.0).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Some(kept)
                }
            }
        });
        Ok(kept)
    }

    /// Puts back what was kept for the address of `account` on the messages a sync has brought
    /// (a note the message has meanwhile is left as it is; a tag deleted meanwhile is left out);
    /// what was put back is no longer kept. How many messages got theirs back.
    pub async fn restore_kept_extras(&self, account: AccountId) -> Result<usize> {
        let kept = "SELECT k.id, k.internet_message_id, k.remote_id, k.note, k.todo, k.tags, a.user_id \
             FROM kept_extras k JOIN accounts a ON a.user_id = k.user_id AND LOWER(a.address) = k.address \
             WHERE a.id = $1 ORDER BY k.id";
        let by_remote = "SELECT id FROM messages WHERE account_id = $1 AND remote_id = $2";
        let by_message_id =
            "SELECT id FROM messages WHERE account_id = $1 AND internet_message_id = $2 ORDER BY id LIMIT 1";
        let todo = "UPDATE messages SET todo = TRUE WHERE id = $1";
        let note = "INSERT INTO message_notes (message_id, body, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (message_id) DO NOTHING";
        let tag = "INSERT INTO message_tags (message_id, tag_id) SELECT $1, t.id FROM tags t \
             WHERE t.id = $2 AND t.user_id = $3 ON CONFLICT DO NOTHING";
        let done = "DELETE FROM kept_extras WHERE id = $1";
        type Kept = (i64, Option<String>, String, Option<String>, i64, String, i64);
        let restored = with_pool!(self.db, pool => {
            let rows: Vec<Kept> = sqlx::query_as(kept).bind(account.0).fetch_all(pool).await?;
            let mut restored = 0;
            if !rows.is_empty() {
                let mut tx = pool.begin_write().await?;
                let now = crate::now();
                for (kept_id, message_id, remote_id, body, to_do, tags, user) in rows {
                    let mut found: Option<i64> =
                        sqlx::query_scalar(by_remote).bind(account.0).bind(&remote_id).fetch_optional(&mut *tx).await?;
                    if found.is_none() && let Some(message_id) = &message_id {
                        found = sqlx::query_scalar(by_message_id)
                            .bind(account.0).bind(message_id).fetch_optional(&mut *tx).await?;
                    }
                    let Some(message) = found else { continue };
                    if to_do != 0 {
                        sqlx::query(todo).bind(message).execute(&mut *tx).await?;
                    }
                    if let Some(body) = &body {
                        sqlx::query(note).bind(message).bind(body).bind(now).execute(&mut *tx).await?;
                    }
                    for tag_id in tags.split(',').filter_map(|t| t.parse::<i64>().ok()) {
                        sqlx::query(tag).bind(message).bind(tag_id).bind(user).execute(&mut *tx).await?;
                    }
                    sqlx::query(done).bind(kept_id).execute(&mut *tx).await?;
                    restored += 1;
                }
                tx.commit().await?;
            }
            restored
        });
        Ok(restored)
    }
}
