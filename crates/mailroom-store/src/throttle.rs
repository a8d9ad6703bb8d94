//! Failed-login counters, one row per key. The rules are `mailroom_domain::LoginPolicy`'s; this
//! only keeps the records, in the database so that every server process sees the same counts.

use mailroom_domain::ThrottleRecord;

use crate::db::with_pool;
use crate::{Result, Store};

#[derive(sqlx::FromRow)]
struct Row {
    failures: i64,
    window_start: i64,
    locked_until: Option<i64>,
}

impl Store {
    pub async fn throttle_record(&self, key: &str) -> Result<Option<ThrottleRecord>> {
        let sql = "SELECT failures, window_start, locked_until FROM login_throttle WHERE key = $1";
        let row: Option<Row> = with_pool!(self.db, pool => sqlx::query_as(sql).bind(key).fetch_optional(pool).await)?;
        Ok(row.map(|row| ThrottleRecord {
            failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
            window_start: row.window_start,
            locked_until: row.locked_until,
        }))
    }

    pub async fn save_throttle_record(&self, key: &str, record: &ThrottleRecord) -> Result<()> {
        let sql = "INSERT INTO login_throttle (key, failures, window_start, locked_until) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, \
                   window_start = excluded.window_start, locked_until = excluded.locked_until";
        with_pool!(self.db, pool => sqlx::query(sql)
            .bind(key)
            .bind(i64::from(record.failures))
            .bind(record.window_start)
            .bind(record.locked_until)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    pub async fn clear_throttle_record(&self, key: &str) -> Result<()> {
        let sql = "DELETE FROM login_throttle WHERE key = $1";
        with_pool!(self.db, pool => sqlx::query(sql).bind(key).execute(pool).await.map(drop))?;
        Ok(())
    }
}
