//! Failed-login counters, one row per key. The rules are `mailroom_domain::LoginPolicy`'s; this
//! only keeps the records, in the database so that every server process sees the same counts,
//! and changes each under a lock, so that guesses sent together are counted one after another.

use mailroom_domain::ThrottleRecord;

use crate::db::{BeginWrite, with_pool};
use crate::{Result, Store};

#[derive(sqlx::FromRow)]
struct Row {
    failures: i64,
    window_start: i64,
    locked_until: Option<i64>,
}

impl Store {
    /// Reads the record of `key` and writes what `decide` makes of it, as one step no other
    /// request can come between: `decide` gets the record (`None` when there is none yet) and
    /// returns its answer and the record to keep (`None` keeps the record as it is).
    pub async fn update_throttle_record<T>(
        &self,
        key: &str,
        now: i64,
        decide: impl FnOnce(Option<ThrottleRecord>) -> (T, Option<ThrottleRecord>),
    ) -> Result<T> {
        // The row is made first, empty, so that there is always a row to lock: two first attempts
        // would otherwise both find none. An empty record means what no record means.
        let ensure = "INSERT INTO login_throttle (key, failures, window_start, locked_until) VALUES ($1, 0, $2, NULL) \
                      ON CONFLICT (key) DO NOTHING";
        let update = "UPDATE login_throttle SET failures = $2, window_start = $3, locked_until = $4 WHERE key = $1";
        let answer = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(ensure).bind(key).bind(now).execute(&mut *tx).await?;
            // SQLite's write lock, taken by begin_write, already keeps every other writer out.
            let select = match self.db.backend() {
                crate::db::Backend::Sqlite => "SELECT failures, window_start, locked_until FROM login_throttle WHERE key = $1",
                crate::db::Backend::Postgres => {
                    "SELECT failures, window_start, locked_until FROM login_throttle WHERE key = $1 FOR UPDATE"
                }
            };
            let row: Row = sqlx::query_as(select).bind(key).fetch_one(&mut *tx).await?;
            let record = ThrottleRecord {
                failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
                window_start: row.window_start,
                locked_until: row.locked_until,
            };
            let empty = record.failures == 0 && record.locked_until.is_none();
            let (answer, next) = decide((!empty).then_some(record));
            if let Some(next) = &next {
                sqlx::query(update)
                    .bind(key)
                    .bind(i64::from(next.failures))
                    .bind(next.window_start)
                    .bind(next.locked_until)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            answer
        });
        Ok(answer)
    }

    /// The record of `key`, as it stands.
    pub async fn throttle_record(&self, key: &str) -> Result<Option<ThrottleRecord>> {
        let sql = "SELECT failures, window_start, locked_until FROM login_throttle WHERE key = $1";
        let row: Option<Row> = with_pool!(self.db, pool => sqlx::query_as(sql).bind(key).fetch_optional(pool).await)?;
        Ok(row.map(|row| ThrottleRecord {
            failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
            window_start: row.window_start,
            locked_until: row.locked_until,
        }))
    }

    pub async fn clear_throttle_record(&self, key: &str) -> Result<()> {
        let sql = "DELETE FROM login_throttle WHERE key = $1";
        with_pool!(self.db, pool => sqlx::query(sql).bind(key).execute(pool).await.map(drop))?;
        Ok(())
    }
}
