#![allow(clippy::unwrap_used, reason = "a test that cannot go on should stop loudly")]

//! Integration tests through the real router, each on SQLite and on PostgreSQL.

mod harness;
mod kill;

mod accounts;
mod admin;
mod api;
mod api_tokens;
mod auth;
mod backup;
mod changes;
mod connect;
mod drafts;
mod messages;
mod ops;
mod robustness;
mod schemathesis;
mod search;
mod search_agreement;
mod send;
mod settings;
mod status;
mod suggestions;
mod sync_engine;
mod sync_faults;
mod sync_gmail;
mod sync_graph;
mod sync_graph_faults;
mod sync_progress;
mod time_zone;
mod tokens;
mod workspace;

/// Runs each listed `async fn(Backend)` as two tests, `sqlite::name` and `postgres::name`.
macro_rules! on_both_databases {
    ($module:ident: $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::harness::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::harness::Backend::Postgres).await
                }
            )*
        }
    };
}
pub(crate) use on_both_databases;
