//! Online backup and restore of a SQLite database. A backup is one SQLite file written by
//! `VACUUM INTO`, which reads the database in a single transaction: a consistent snapshot taken
//! while the server goes on syncing and serving, with free pages left out. The secret key is
//! never in it: a stolen backup alone gives no tokens, and the key is kept somewhere else.
//! PostgreSQL has `pg_dump` for the same job.

use std::path::{Path, PathBuf};

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::db::with_pool;
use crate::{Db, KeyInput, OpenError, Store};

/// What a database holds, for the person who backs it up or restores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contents {
    pub users: i64,
    pub mailboxes: i64,
    pub messages: i64,
}

/// Why a backup or restore did not happen. Nothing was changed in either case.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("there is no database at {0}; check the data directory (--data-dir or MAILROOM_DATA_DIR)")]
    NoDatabase(PathBuf),
    #[error("{0} already exists; name a new file, or move that one away (nothing was written)")]
    TargetExists(PathBuf),
    #[error(
        "a database already exists at {0}; restore into an empty data directory, or move the database \
         (and its -wal and -shm files) away first (nothing was changed)"
    )]
    DatabaseExists(PathBuf),
    #[error("{path} is not a Mailroom backup: {why} (nothing was changed)")]
    NotABackup { path: PathBuf, why: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
}

impl Db {
    /// How many users, mailboxes and messages the database holds.
    pub async fn contents(&self) -> Result<Contents, sqlx::Error> {
        let count = |table: &'static str| async move {
            let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
            with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await)
        };
        Ok(Contents {
            users: count("users").await?,
            mailboxes: count("accounts").await?,
            messages: count("messages").await?,
        })
    }
}

/// Writes a consistent copy of the SQLite database at `database` to the new file `to` while the
/// database stays in use, readable by its owner only. The copy is made beside `to` under another
/// name and appears under its own only once complete.
pub async fn backup(database: &Path, to: &Path) -> Result<Contents, BackupError> {
    if !database.is_file() {
        return Err(BackupError::NoDatabase(database.to_owned()));
    }
    if to.exists() {
        return Err(BackupError::TargetExists(to.to_owned()));
    }
    let partial = partial_name(to);
    remove_partial(&partial);
    let made = async {
        let source = open_file(database).await?;
        let copied = sqlx::query("VACUUM INTO $1").bind(partial.to_string_lossy().as_ref()).execute(&source).await;
        source.close().await;
        copied?;
        restrict(&partial)?;
        let copy = open_file(&partial).await?;
        let contents = Db::from_sqlite(copy.clone()).contents().await;
        copy.close().await;
        let contents = contents?;
        // A hard link never replaces a file that appeared meanwhile, unlike a rename.
        std::fs::hard_link(&partial, to).map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => BackupError::TargetExists(to.to_owned()),
            _ => BackupError::Write { path: to.to_owned(), source },
        })?;
        Ok(contents)
    }
    .await;
    remove_partial(&partial);
    made
}

/// Puts the backup `from` in place as the SQLite database `database`, which must not exist yet,
/// after checking that it is an intact Mailroom database and that `key` opens its secrets. The
/// schema is brought up to date when the server next starts.
pub async fn restore(from: &Path, database: &Path, key: KeyInput) -> Result<Contents, BackupError> {
    if database.exists() {
        return Err(BackupError::DatabaseExists(database.to_owned()));
    }
    if !from.is_file() {
        return Err(BackupError::NotABackup { path: from.to_owned(), why: "there is no such file".to_owned() });
    }
    if let Some(parent) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::create_private_dir(parent).map_err(|source| OpenError::Folder { path: parent.to_owned(), source })?;
    }
    let partial = partial_name(database);
    remove_partial(&partial);
    let made = async {
        std::fs::copy(from, &partial).map_err(|source| BackupError::Write { path: partial.clone(), source })?;
        restrict(&partial)?;
        let not_a_backup = |why: &str| BackupError::NotABackup { path: from.to_owned(), why: why.to_owned() };
        let copy = open_file(&partial).await.map_err(|e| not_a_backup(&e.to_string()))?;
        let checked = async {
            let integrity: String = sqlx::query_scalar("PRAGMA quick_check")
                .fetch_one(&copy)
                .await
                .map_err(|e| not_a_backup(&e.to_string()))?;
            if integrity != "ok" {
                return Err(not_a_backup(&format!("SQLite finds it damaged ({integrity})")));
            }
            let tables: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('_sqlx_migrations', 'key_check', 'messages')",
            )
            .fetch_one(&copy)
            .await?;
            if tables != 3 {
                return Err(not_a_backup("it is a SQLite database, but not Mailroom's"));
            }
            // The key is checked against the backup's own key check: a backup restored without
            // the key it was made with would start with secrets that can never be opened.
            let store = Store::unlock(Db::from_sqlite(copy.clone()), key).await?;
            Ok(store.db().contents().await?)
        }
        .await;
        copy.close().await;
        let contents = checked?;
        std::fs::hard_link(&partial, database).map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => BackupError::DatabaseExists(database.to_owned()),
            _ => BackupError::Write { path: database.to_owned(), source },
        })?;
        Ok(contents)
    }
    .await;
    remove_partial(&partial);
    made
}

/// The name a file is written under until it is complete.
fn partial_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".partial-{}", std::process::id()));
    path.with_file_name(name)
}

/// Removes a partial file and the log files SQLite may have left beside it.
fn remove_partial(partial: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = partial.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

fn restrict(path: &Path) -> Result<(), BackupError> {
    crate::restrict_database_file(path).map_err(|source| BackupError::Write { path: path.to_owned(), source })
}

/// One connection to an existing SQLite file, its journal mode and settings left as they are.
async fn open_file(path: &Path) -> Result<sqlx::SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::new().filename(path).busy_timeout(std::time::Duration::from_secs(10));
    SqlitePoolOptions::new().max_connections(1).connect_with(options).await
}
