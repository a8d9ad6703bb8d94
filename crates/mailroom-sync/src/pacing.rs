//! Pacing: every call to a mailbox kept within the provider's published limits, and calls that
//! failed for a passing reason tried again.
//!
//! Gmail counts quota units per user in any minute (providers.md B6: 15,000 units a minute for
//! projects from before May 2026, 6,000 after, with a cost per method). A token bucket would
//! allow a minute's burst and then a steady trickle that a sliding-window quota refuses, so the
//! pacer keeps the same sliding window as the provider: it records what it spent and waits until a
//! call fits in the last minute, with a second of slack for the time a request takes to arrive.
//! Graph allows 10,000 requests per app and mailbox in ten minutes and 4 in flight; the pacer
//! holds a slot of 4 for the whole call and keeps the ten-minute window the same way.
//!
//! Retries: a 429 or a 5xx is tried again after the `Retry-After` the provider gave (Graph sends
//! one with every 429 and may with a 503), one without it after an exponential backoff with
//! jitter (Google: start at a second or more, cap at 32 to 64 s). The state is per account and shared by everything that calls the mailbox (sync, later write-back),
//! so all of them together stay within the limits.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mailroom_domain::AccountId;
use mailroom_providers::ApiError;
use rand::Rng as _;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// What one Gmail method costs in quota units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GmailCosts {
    pub get_profile: u32,
    pub labels_list: u32,
    pub messages_list: u32,
    pub messages_get: u32,
    pub history_list: u32,
}

impl GmailCosts {
    /// The table of projects that used the API before May 2026 (15,000 units per user a minute).
    pub const LEGACY: GmailCosts =
        GmailCosts { get_profile: 1, labels_list: 1, messages_list: 5, messages_get: 5, history_list: 2 };
    /// The table of projects created from May 2026 (6,000 units per user a minute).
    pub const Y2026: GmailCosts =
        GmailCosts { get_profile: 1, labels_list: 1, messages_list: 5, messages_get: 20, history_list: 2 };
}

/// The limits the pacer keeps and how it retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub gmail_units_per_minute: u32,
    pub gmail_costs: GmailCosts,
    pub graph_in_flight: usize,
    pub graph_requests_per_window: u32,
    pub graph_window: Duration,
    /// How many times a call is tried in all before its error is returned.
    pub attempts: u32,
    /// The first backoff; it doubles with each further attempt, up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Default for Limits {
    /// The published limits of projects that used Gmail before May 2026, and Graph's.
    fn default() -> Self {
        Limits {
            gmail_units_per_minute: 15_000,
            gmail_costs: GmailCosts::LEGACY,
            graph_in_flight: 4,
            graph_requests_per_window: 10_000,
            graph_window: Duration::from_secs(600),
            attempts: 8,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(32),
        }
    }
}

/// A sliding window of what was spent: (when, how much).
#[derive(Debug, Default)]
struct Window {
    spent: VecDeque<(Instant, u32)>,
    total: u64,
}

impl Window {
    /// Spends `amount` now if the window has room; else says how long until it may.
    fn try_spend(&mut self, amount: u32, limit: u32, span: Duration, now: Instant) -> Result<(), Duration> {
        while let Some(&(at, spent)) = self.spent.front() {
            if now.duration_since(at) < span {
                break;
            }
            self.spent.pop_front();
            self.total -= u64::from(spent);
        }
        // A call dearer than the whole limit could never fit: it waits for an empty window.
        let amount_in_limit = u64::from(amount.min(limit));
        if self.total + amount_in_limit <= u64::from(limit) {
            self.spent.push_back((now, amount));
            self.total += u64::from(amount);
            return Ok(());
        }
        let mut left = self.total;
        for &(at, spent) in &self.spent {
            left -= u64::from(spent);
            if left + amount_in_limit <= u64::from(limit) {
                return Err((at + span).saturating_duration_since(now));
            }
        }
        Err(span)
    }
}

/// The pacing state of one mailbox.
#[derive(Debug)]
struct Mailbox {
    gmail_units: Mutex<Window>,
    graph_requests: Mutex<Window>,
    graph_slots: Semaphore,
}

/// Slack added to every window for the time a request takes to reach the provider.
const SLACK: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

/// The pacing of every mailbox this process calls. Cheap to share: clone the `Arc`.
#[derive(Debug)]
pub struct Pacing {
    limits: Limits,
    mailboxes: Mutex<HashMap<AccountId, Arc<Mailbox>>>,
}

impl Pacing {
    pub fn new(limits: Limits) -> Arc<Pacing> {
        Arc::new(Pacing { limits, mailboxes: Mutex::new(HashMap::new()) })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn mailbox(&self, account: AccountId) -> Arc<Mailbox> {
        let mut mailboxes = self.mailboxes.lock().unwrap_or_else(PoisonError::into_inner);
        mailboxes
            .entry(account)
            .or_insert_with(|| {
                Arc::new(Mailbox {
                    gmail_units: Mutex::new(Window::default()),
                    graph_requests: Mutex::new(Window::default()),
                    graph_slots: Semaphore::new(self.limits.graph_in_flight.max(1)),
                })
            })
            .clone()
    }

    /// Runs a Gmail call costing `units`, after the account's quota has room for it, and again
    /// while it fails for a passing reason.
    pub async fn gmail<T, F, Fut>(&self, account: AccountId, units: u32, mut call: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mailbox = self.mailbox(account);
        let mut attempt = 0;
        loop {
            wait_for_room(&mailbox.gmail_units, units, self.limits.gmail_units_per_minute, MINUTE + SLACK).await;
            let result = call().await;
            attempt += 1;
            match self.retry_delay(&result, attempt) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return result,
            }
        }
    }

    /// Runs a Graph call in one of the mailbox's slots, after its request window has room, and
    /// again while it fails for a passing reason.
    pub async fn graph<T, F, Fut>(&self, account: AccountId, mut call: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mailbox = self.mailbox(account);
        let mut attempt = 0;
        loop {
            let window = self.limits.graph_window + SLACK;
            wait_for_room(&mailbox.graph_requests, 1, self.limits.graph_requests_per_window, window).await;
            let result = {
                // The semaphore is never closed; a closed one would only mean no limit.
                let _slot = mailbox.graph_slots.acquire().await.ok();
                call().await
            };
            attempt += 1;
            match self.retry_delay(&result, attempt) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return result,
            }
        }
    }

    /// How long to wait before trying again, or `None` when the result is final.
    fn retry_delay<T>(&self, result: &Result<T, ApiError>, attempt: u32) -> Option<Duration> {
        let given = match result {
            Err(ApiError::RateLimited { retry_after } | ApiError::Transient { retry_after, .. }) => *retry_after,
            _ => return None,
        };
        if attempt >= self.limits.attempts {
            return None;
        }
        Some(given.unwrap_or_else(|| backoff(&self.limits, attempt)))
    }
}

/// The backoff after the `attempt`th failure: the base doubled per attempt up to the cap, of
/// which a random half to all is taken so that callers that failed together do not return together.
pub(crate) fn backoff(limits: &Limits, attempt: u32) -> Duration {
    let doubled = limits.backoff_base.saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX));
    let capped = doubled.min(limits.backoff_cap);
    capped.mul_f64(rand::rng().random_range(0.5..=1.0))
}

async fn wait_for_room(window: &Mutex<Window>, amount: u32, limit: u32, span: Duration) {
    loop {
        let wait = window.lock().unwrap_or_else(PoisonError::into_inner).try_spend(amount, limit, span, Instant::now());
        match wait {
            Ok(()) => return,
            Err(wait) => tokio::time::sleep(wait.max(Duration::from_millis(1))).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn quick() -> Limits {
        Limits { backoff_base: Duration::from_millis(10), backoff_cap: Duration::from_millis(80), ..Limits::default() }
    }

    #[test]
    fn the_window_refuses_what_does_not_fit_and_says_how_long_to_wait() {
        let start = Instant::now();
        let mut window = Window::default();
        assert!(window.try_spend(600, 1000, MINUTE, start).is_ok());
        assert!(window.try_spend(400, 1000, MINUTE, start + Duration::from_secs(10)).is_ok());
        // Full: the first spend must leave the window before 250 more fit.
        let wait = window.try_spend(250, 1000, MINUTE, start + Duration::from_secs(20)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(40));
        assert!(window.try_spend(250, 1000, MINUTE, start + Duration::from_secs(60)).is_ok());
        // The second spend (400 at 10 s) is still in the window: 600 + 250 fit, no more.
        assert!(window.try_spend(351, 1000, MINUTE, start + Duration::from_secs(61)).is_err());
        assert!(window.try_spend(350, 1000, MINUTE, start + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn a_call_dearer_than_the_limit_waits_for_an_empty_window() {
        let start = Instant::now();
        let mut window = Window::default();
        assert!(window.try_spend(5, 100, MINUTE, start).is_ok());
        assert_eq!(window.try_spend(500, 100, MINUTE, start).unwrap_err(), MINUTE);
        assert!(window.try_spend(500, 100, MINUTE, start + MINUTE).is_ok());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let limits = Limits::default();
        for attempt in 1..12 {
            let full = Duration::from_secs(1 << (attempt - 1).min(5));
            let wait = backoff(&limits, attempt);
            assert!(wait <= full && wait >= full / 2, "attempt {attempt}: {wait:?} for {full:?}");
        }
    }

    #[tokio::test]
    async fn passing_failures_are_retried_and_final_ones_are_not() {
        let pacing = Pacing::new(quick());
        let calls = AtomicU32::new(0);
        let result = pacing
            .gmail(AccountId(1), 5, || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(ApiError::Transient { reason: "503".into(), retry_after: None }),
                    1 => Err(ApiError::RateLimited { retry_after: Some(Duration::from_millis(5)) }),
                    _ => Ok("done"),
                }
            })
            .await;
        assert_eq!(result.unwrap(), "done");
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let result: Result<(), _> = pacing
            .graph(AccountId(1), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(ApiError::NotFound)
            })
            .await;
        assert!(matches!(result, Err(ApiError::NotFound)));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a final error is not retried");
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_is_waited_for_on_a_server_error_as_on_a_rate_limit() {
        // The backoff alone would retry within 80 ms; the answers asked for 3 s and then 2 s.
        let pacing = Pacing::new(quick());
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let result = pacing
            .graph(AccountId(3), || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(ApiError::Transient { reason: "503".into(), retry_after: Some(Duration::from_secs(3)) }),
                    1 => Err(ApiError::RateLimited { retry_after: Some(Duration::from_secs(2)) }),
                    _ => Ok(Instant::now()),
                }
            })
            .await;
        let waited = result.unwrap() - start;
        assert!(waited >= Duration::from_secs(5) && waited < Duration::from_secs(6), "{waited:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retries_stop_after_the_configured_attempts() {
        let pacing = Pacing::new(Limits { attempts: 3, ..quick() });
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = pacing
            .graph(AccountId(2), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(ApiError::Transient { reason: "500".into(), retry_after: None })
            })
            .await;
        assert!(matches!(result, Err(ApiError::Transient { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn graph_keeps_at_most_four_calls_in_flight_per_mailbox() {
        let pacing = Pacing::new(quick());
        let in_flight = AtomicU32::new(0);
        let most = AtomicU32::new(0);
        let call = |account| {
            let pacing = &pacing;
            let (in_flight, most) = (&in_flight, &most);
            async move {
                pacing
                    .graph(AccountId(account), || async {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, ApiError>(())
                    })
                    .await
            }
        };
        let calls: Vec<_> = (0..12).map(|_| call(7)).collect();
        for result in futures_join_all(calls).await {
            result.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 4);
    }

    /// Polls the futures together on this task.
    async fn futures_join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
        let mut set = Vec::new();
        for future in futures {
            set.push(Box::pin(future));
        }
        let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (future, output) in set.iter_mut().zip(outputs.iter_mut()) {
                if output.is_none() {
                    match future.as_mut().poll(cx) {
                        std::task::Poll::Ready(value) => *output = Some(value),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
        })
        .await;
        outputs.into_iter().flatten().collect()
    }
}
