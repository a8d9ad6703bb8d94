//! Figures for the operator: how much waits in the queues that carry users' changes and messages
//! to the providers. Read by the administrators' status page and by `/metrics` when scraped.

use crate::db::with_pool;
use crate::{Result, Store};

/// How many jobs wait in, or failed out of, the write-back queue and the outbox, over all users.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepths {
    /// Users' actions on messages not yet made at the provider.
    pub writeback_pending: i64,
    /// Actions the provider refused for good (undone, shown to their user until dismissed).
    pub writeback_failed: i64,
    /// Messages waiting to be sent, or being sent now.
    pub outbox_pending: i64,
    /// Messages that could not be sent, kept until their user retries them.
    pub outbox_failed: i64,
}

impl Store {
    pub async fn queue_depths(&self) -> Result<QueueDepths> {
        let sql = "SELECT \
                   (SELECT COUNT(*) FROM writeback_jobs WHERE failed_at IS NULL), \
                   (SELECT COUNT(*) FROM writeback_jobs WHERE failed_at IS NOT NULL), \
                   (SELECT COUNT(*) FROM submissions WHERE status IN ('pending', 'sending')), \
                   (SELECT COUNT(*) FROM submissions WHERE status = 'failed')";
        let (writeback_pending, writeback_failed, outbox_pending, outbox_failed): (i64, i64, i64, i64) =
            with_pool!(self.db, pool => sqlx::query_as(sql).fetch_one(pool).await)?;
        Ok(QueueDepths { writeback_pending, writeback_failed, outbox_pending, outbox_failed })
    }
}
