//! The connection pool for either backend. Most SQL is written once and runs on both (numbered
//! `$n` parameters, `ON CONFLICT ... DO UPDATE`, `RETURNING`, Unix-second integers); the
//! [`with_pool!`] macro compiles such a query once per backend. Where the dialects differ, the
//! query module says so and holds one string per backend.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::OpenError;

/// Where the data lives.
pub enum DbTarget {
    /// A SQLite file, created if missing.
    Sqlite(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of either backend.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db.pool() {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// A pool of connections to the database.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
}

impl Db {
    pub async fn connect(target: &DbTarget) -> Result<Db, OpenError> {
        let pool = match target {
            DbTarget::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    crate::create_private_dir(parent)
                        .map_err(|source| OpenError::Folder { path: parent.to_owned(), source })?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options)
                    .await
                    .map_err(OpenError::Connect)?;
                Pool::Sqlite(pool)
            }
            DbTarget::Postgres(url) => {
                let options = PgConnectOptions::from_str(url).map_err(OpenError::Connect)?;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .map_err(OpenError::Connect)?;
                Pool::Postgres(pool)
            }
        };
        Ok(Db { pool })
    }

    /// Applies the migrations this binary carries that the database lacks.
    pub async fn migrate(&self) -> Result<(), OpenError> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await,
            Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
        }
        .map_err(OpenError::Migrate)
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.is_ok())
    }

    /// Open connections and how many of them are idle, for the metrics page.
    pub fn pool_usage(&self) -> (u32, usize) {
        with_pool!(self, pool => (pool.size(), pool.num_idle()))
    }

    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }

    pub(crate) async fn key_check(&self) -> Result<Option<Vec<u8>>, sqlx::Error> {
        let sql = "SELECT sealed FROM key_check WHERE id = 1";
        with_pool!(self, pool => sqlx::query_scalar(sql).fetch_optional(pool).await)
    }

    pub(crate) async fn save_key_check(&self, sealed: &[u8], now: i64) -> Result<(), sqlx::Error> {
        let sql = "INSERT INTO key_check (id, sealed, created_at) VALUES (1, $1, $2)";
        with_pool!(self, pool => sqlx::query(sql).bind(sealed).bind(now).execute(pool).await.map(drop))?;
        Ok(())
    }
}
