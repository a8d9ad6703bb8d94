//! Outlook's limits per app and mailbox (throttling-limits.md): a number of requests in a sliding
//! 10-minute window and a number of requests in flight at once. Over either, Graph answers 429
//! `ApplicationThrottled` with `Retry-After` seconds.

use std::collections::VecDeque;

use super::errors::{GraphError, GraphResult};
use crate::SimState;

/// A mailbox's recent requests and the ones in flight.
#[derive(Debug, Default)]
pub struct Usage {
    recent: VecDeque<i64>,
    in_flight: u32,
}

impl Usage {
    /// Counts one request against the 10-minute window, or says how long to wait.
    pub fn admit_rate(&mut self, limit: u32, window_ms: i64, now_ms: i64) -> GraphResult<()> {
        while self.recent.front().is_some_and(|&t| t <= now_ms - window_ms) {
            self.recent.pop_front();
        }
        if self.recent.len() >= limit as usize {
            let oldest = self.recent.front().copied().unwrap_or(now_ms);
            let wait_ms = oldest + window_ms - now_ms;
            let seconds = u64::try_from(wait_ms.max(0)).unwrap_or(0).div_ceil(1000).max(1);
            return Err(GraphError::throttled("Application is over its MailboxRequestRate limit.", seconds));
        }
        self.recent.push_back(now_ms);
        Ok(())
    }
}

/// A request's place among the mailbox's concurrent requests, given back when dropped.
pub struct InFlight {
    state: SimState,
    email: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(mailbox) = self.state.world().graph(&self.email) {
            mailbox.sessions.usage.in_flight = mailbox.sessions.usage.in_flight.saturating_sub(1);
        }
    }
}

/// Admits a request for `email`'s mailbox against both limits.
pub fn admit(state: &SimState, email: &str) -> GraphResult<InFlight> {
    let now = state.clock().now_ms();
    let quotas = state.quotas();
    let mut world = state.world();
    let Some(mailbox) = world.graph(email) else {
        return Err(GraphError::not_found());
    };
    if mailbox.sessions.usage.in_flight >= quotas.graph_concurrency {
        return Err(GraphError::throttled("Application is over its MailboxConcurrency limit.", 1));
    }
    mailbox.sessions.usage.admit_rate(quotas.graph_requests_per_10_minutes, quotas.graph_window_ms, now)?;
    mailbox.sessions.usage.in_flight += 1;
    Ok(InFlight { state: state.clone(), email: email.to_owned() })
}
