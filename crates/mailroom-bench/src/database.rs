//! Where a benchmark's store lives: SQLite in the run's folder, or a database of the run's own
//! on a PostgreSQL server, made at the start and dropped at the end.

use anyhow::Context as _;
use sqlx::Connection as _;

/// Where the store lives for the run.
pub enum Database {
    Sqlite,
    Postgres { server: String },
}

impl Database {
    pub fn parse(input: &str) -> anyhow::Result<Database> {
        match input {
            "sqlite" => Ok(Database::Sqlite),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Database::Postgres { server: url.to_owned() })
            }
            _ => anyhow::bail!("--database takes sqlite or a postgres:// URL"),
        }
    }
}

/// A database of its own on a PostgreSQL server, for one run.
pub struct FreshPostgres {
    server: String,
    name: String,
    pub url: String,
}

impl FreshPostgres {
    pub async fn create(server: &str) -> anyhow::Result<FreshPostgres> {
        let name = format!("mailroom_bench_{}_{}", std::process::id(), rand::random::<u32>());
        let mut admin = sqlx::PgConnection::connect(server).await.context("cannot reach the PostgreSQL server")?;
        let sql = format!("CREATE DATABASE {name}");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.context("cannot create a database")?;
        admin.close().await?;
        let mut url = url::Url::parse(server)?;
        url.set_path(&format!("/{name}"));
        Ok(FreshPostgres { server: server.to_owned(), name, url: url.to_string() })
    }

    pub async fn drop_database(self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.server).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            if let Err(err) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await {
                tracing::warn!(error = %err, database = %self.name, "the benchmark's database could not be dropped");
            }
            let _ = admin.close().await;
        }
    }
}
