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

/// Begins a transaction that writes. Every transaction of the store does, so every one begins
/// here. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), waiting out the busy
/// timeout for it: a plain `BEGIN` reads first and asks for the lock at its first write, and in
/// WAL mode SQLite refuses that at once, busy timeout or not, when another write landed since
/// the read began ("database is locked"), which failed half the OAuth connects made while other
/// mailboxes imported. PostgreSQL's row locks need nothing of the kind.
pub(crate) trait BeginWrite {
    type Database: sqlx::Database;

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Database>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// The database's schema against this binary's migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaState {
    /// Migrations applied so far.
    pub applied: usize,
    /// Migrations of this binary not applied yet: they run when the server starts.
    pub pending: usize,
    /// Migrations applied that this binary does not know: a newer version ran on this database.
    pub unknown: usize,
}

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
                crate::restrict_database_file(path)
                    .map_err(|source| OpenError::DatabaseFile { path: path.clone(), source })?;
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
                    // A transaction's statement journals (kept so that one failing statement
                    // rolls back alone) in memory instead of temporary files created and deleted
                    // for every batch of a sync.
                    .pragma("temp_store", "memory")
                    // 16 MiB of pages per connection instead of 2: a sync's transaction spilled
                    // its pages to the log halfway and read the indexes' pages back from the file.
                    .pragma("cache_size", "-16384")
                    // The log is copied into the database file once it holds 128 MiB instead of
                    // 4: a sync's transactions outgrew 4 MiB, so every commit copied and flushed
                    // to disk, pages that the next one changed again included.
                    .pragma("wal_autocheckpoint", "32768");
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options)
                    .await
                    .map_err(OpenError::Connect)?;
                Pool::Sqlite(pool)
            }
            DbTarget::Postgres(url) => {
                // Every statement planned for its own values: a cached generic plan, made while
                // the mail tables were small, kept scanning whole tables for batched lookups
                // (`remote_id IN (…)`) as they grew, eight times slower than a plan for the values.
                let options = PgConnectOptions::from_str(url)
                    .map_err(OpenError::Connect)?
                    .options([("plan_cache_mode", "force_custom_plan")]);
                let server = (options.get_host().to_owned(), options.get_port());
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(move |_, _| {
                        let server = server.clone();
                        Box::pin(async move {
                            no_delay::for_connections_to(&server.0, server.1).await;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(OpenError::Connect)?;
                Pool::Postgres(pool)
            }
        };
        Ok(Db { pool })
    }

    /// A database over a pool opened elsewhere (a backup's file, say).
    pub(crate) fn from_sqlite(pool: SqlitePool) -> Db {
        Db { pool: Pool::Sqlite(pool) }
    }

    /// Applies the migrations this binary carries that the database lacks.
    pub async fn migrate(&self) -> Result<(), OpenError> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await,
            Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
        }
        .map_err(OpenError::Migrate)
    }

    /// How the database's schema compares with this binary's migrations, without changing it.
    pub async fn schema_state(&self) -> Result<SchemaState, sqlx::Error> {
        let migrator = match &self.pool {
            Pool::Sqlite(_) => sqlx::migrate!("./migrations/sqlite"),
            Pool::Postgres(_) => sqlx::migrate!("./migrations/postgres"),
        };
        let known: Vec<i64> =
            migrator.iter().filter(|m| m.migration_type.is_up_migration()).map(|m| m.version).collect();
        let exists = match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sqlite_master WHERE name = '_sqlx_migrations'")
                    .fetch_one(pool)
                    .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pg_tables WHERE tablename = '_sqlx_migrations'")
                    .fetch_one(pool)
                    .await?
            }
        } > 0;
        let applied: Vec<i64> = if exists {
            let sql = "SELECT version FROM _sqlx_migrations WHERE success";
            with_pool!(self, pool => sqlx::query_scalar(sql).fetch_all(pool).await)?
        } else {
            Vec::new()
        };
        Ok(SchemaState {
            pending: known.iter().filter(|v| !applied.contains(v)).count(),
            unknown: applied.iter().filter(|v| !known.contains(v)).count(),
            applied: applied.len(),
        })
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

/// sqlx 0.9.0 leaves Nagle's algorithm on for its TCP connections (transact-rs/sqlx#4335; the fix,
/// #4336, is not released yet). A statement longer than one TCP segment, such as a batch of
/// messages, then waits for the server's delayed acknowledgement, 40 ms on Linux, which made a
/// 10,000-message import five times slower on PostgreSQL than on SQLite. Until a release carries
/// the fix, every new connection gets `TCP_NODELAY` here. sqlx does not hand out its socket, so
/// the process's sockets connected to the database server are looked up in `/proc/self/fd` and
/// reached through a pidfd (`pidfd_getfd` gives a duplicate of the descriptor, which shares the
/// socket), all without unsafe code. Where that is not possible (not Linux, or a sandbox that
/// refuses the calls) connections work as before, only slower.
mod no_delay {
    #[cfg(target_os = "linux")]
    pub(super) async fn for_connections_to(host: &str, port: u16) {
        use std::net::SocketAddr;

        use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};

        let servers: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
            Ok(addresses) => addresses.collect(),
            // A Unix socket path, or a name that no longer resolves: nothing to do.
            Err(_) => return,
        };
        let Ok(pidfd) = pidfd_open(getpid(), PidfdFlags::empty()) else { return };
        let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return };
        for entry in entries.flatten() {
            let Some(number) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else { continue };
            let is_socket =
                std::fs::read_link(entry.path()).is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
            if !is_socket {
                continue;
            }
            let Ok(socket) = pidfd_getfd(&pidfd, number, PidfdGetfdFlags::empty()) else { continue };
            let peer =
                rustix::net::getpeername(&socket).ok().flatten().and_then(|peer| SocketAddr::try_from(peer).ok());
            if peer.is_some_and(|peer| servers.contains(&peer))
                && rustix::net::sockopt::tcp_nodelay(&socket).is_ok_and(|on| !on)
                && let Err(error) = rustix::net::sockopt::set_tcp_nodelay(&socket, true)
            {
                tracing::debug!(%error, "TCP_NODELAY could not be set on a database connection");
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) async fn for_connections_to(_host: &str, _port: u16) {}
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::net::SocketAddr;

    use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};

    use super::*;

    /// Whether each of this process's TCP sockets connected to `server` has TCP_NODELAY.
    fn no_delay_of_sockets_to(server: SocketAddr) -> Vec<bool> {
        let pidfd = pidfd_open(getpid(), PidfdFlags::empty()).expect("a pidfd of this process");
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").flatten() {
            let Some(number) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else { continue };
            let Ok(socket) = pidfd_getfd(&pidfd, number, PidfdGetfdFlags::empty()) else { continue };
            let peer = rustix::net::getpeername(&socket).ok().flatten().and_then(|p| SocketAddr::try_from(p).ok());
            if peer == Some(server) {
                found.push(rustix::net::sockopt::tcp_nodelay(&socket).expect("a TCP socket"));
            }
        }
        found
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_sqlite_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("data/mailroom.db");
        let db = Db::connect(&DbTarget::Sqlite(path.clone())).await.unwrap();
        db.migrate().await.unwrap();
        for file in ["mailroom.db", "mailroom.db-wal", "mailroom.db-shm"] {
            assert_eq!(mode(&folder.path().join("data").join(file)), 0o600, "{file}");
        }
        db.close().await;
        // A database made by an older version, readable by everyone, is restricted when opened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let db = Db::connect(&DbTarget::Sqlite(path.clone())).await.unwrap();
        assert_eq!(mode(&path), 0o600);
        db.close().await;
    }

    #[tokio::test]
    async fn postgresql_connections_send_without_waiting_for_acknowledgements() {
        let url = std::env::var("MAILROOM_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let db = match Db::connect(&DbTarget::Postgres(url.clone())).await {
            Ok(db) => db,
            Err(err) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("PostgreSQL at {url} is required in CI: {err}")
            }
            Err(_) => return eprintln!("skipped: no PostgreSQL at {url}"),
        };
        let Pool::Postgres(pool) = db.pool() else { unreachable!("a PostgreSQL target") };
        let first = pool.acquire().await.unwrap();
        let second = pool.acquire().await.unwrap();
        let options = PgConnectOptions::from_str(&url).unwrap();
        let server = tokio::net::lookup_host((options.get_host(), options.get_port())).await.unwrap().next().unwrap();
        let sockets = no_delay_of_sockets_to(server);
        assert!(sockets.len() >= 2, "the pool's connections are found: {sockets:?}");
        assert!(sockets.iter().all(|on| *on), "every connection has TCP_NODELAY: {sockets:?}");
        drop((first, second));
        db.close().await;
    }
}

#[cfg(test)]
mod migration_tests {
    use sqlx::migrate::Migrator;

    use super::*;

    /// The migrations up to `last` (by version), as a store made by an older version had them.
    fn migrations_up_to(last: i64) -> Migrator {
        let all = sqlx::migrate!("./migrations/sqlite");
        let kept: Vec<_> = all.iter().filter(|m| m.version <= last).cloned().collect();
        Migrator { migrations: std::borrow::Cow::Owned(kept), ..all }
    }

    #[tokio::test]
    async fn raw_bytes_move_apart_with_every_message_keeping_its_own() {
        let folder = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(folder.path().join("old.db"));
        let old = Db::connect(&target).await.unwrap();
        let Pool::Sqlite(pool) = old.pool() else { unreachable!("a SQLite target") };
        migrations_up_to(18).run(pool).await.unwrap();
        for sql in [
            "INSERT INTO users (email, name, password_hash, role, created_at) VALUES ('a@b.test', 'A', 'x', 'admin', 0)",
            "INSERT INTO accounts (user_id, provider, remote_id, address, status, scopes, import_days, created_at, \
             updated_at) VALUES (1, 'google', 'r', 'a@b.test', 'active', '', 0, 0, 0)",
        ] {
            sqlx::query(sql).execute(pool).await.unwrap();
        }
        let raws: [Option<&[u8]>; 3] = [Some(b"Subject: one\r\n\r\nfirst"), None, Some(b"Subject: three\r\n\r\nthird")];
        for (n, raw) in raws.iter().enumerate() {
            sqlx::query(
                "INSERT INTO messages (user_id, account_id, remote_id, subject, snippet, received_at, is_read, \
                 is_starred, is_draft, has_attachments, has_text, has_html, size, raw, parse_failed, updated_at) \
                 VALUES (1, 1, $1, 's', '', 0, 0, 0, 0, 0, 1, 0, 10, $2, 0, 0)",
            )
            .bind(format!("m{n}"))
            .bind(*raw)
            .execute(pool)
            .await
            .unwrap();
        }
        // The new version starts as a server does: it connects and migrates before anything else.
        old.close().await;
        let db = Db::connect(&target).await.unwrap();
        db.migrate().await.unwrap();
        let Pool::Sqlite(pool) = db.pool() else { unreachable!("a SQLite target") };
        let moved: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT m.remote_id, r.raw FROM message_raw r JOIN messages m ON m.id = r.message_id ORDER BY m.remote_id",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let expected: Vec<(String, Vec<u8>)> =
            raws.iter().enumerate().filter_map(|(n, raw)| Some((format!("m{n}"), (*raw)?.to_vec()))).collect();
        assert_eq!(moved, expected);
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('messages')").fetch_all(pool).await.unwrap();
        assert!(!columns.iter().any(|c| c == "raw"), "the column is gone: {columns:?}");
        // A message's deletion takes its bytes with it.
        sqlx::query("DELETE FROM messages WHERE remote_id = 'm0'").execute(pool).await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM message_raw").fetch_one(pool).await.unwrap();
        assert_eq!(left, 1);
        db.close().await;
    }
}
