//! Pacing: every call to a mailbox kept within what the provider allows, learned as it goes, and
//! calls that failed for a passing reason tried again.
//!
//! The configured limits are a ceiling, not a promise. Gmail counts quota units per user in any
//! minute (providers.md B6: 15,000 units a minute for projects from before May 2026, 6,000 after),
//! but administrators set the wrong table, Google lowers quotas for patterns it dislikes, and other
//! clients of the same user spend from the same minute. Graph allows 10,000 requests per app and
//! mailbox in ten minutes (C4) and throttles whatever else it likes. So each mailbox's rate is
//! learned: it starts at the ceiling (or at what was learned before). When the provider refuses
//! (Gmail's 429 or 403 rate limit, Graph's 429, a 503 with `Retry-After`) a good share of what the
//! mailbox was sent in the last window, or three calls in a row, its limit is reached, and the rate drops at once to nine
//! tenths of what it accepted in that window, which is what it allows; calls in flight are
//! halved. An odd refusal among answered calls says nothing of the rate and changes nothing. After
//! a whole window without a refusal the rate climbs a twentieth, back towards the ceiling, on
//! trial: a refusal before the next quiet window takes that step back, and the next raise then waits
//! for twice as many quiet windows (up to eight), so that a rate right at the provider's limit is
//! not pushed past it every window. A refusal lowers the rate
//! once per burst: refusals of calls sent before it was lowered say nothing new.
//!
//! A token bucket would allow a minute's burst and then a steady trickle that a sliding-window
//! quota refuses, so the pacer keeps the same sliding window as the provider: it records what it
//! sent and waits until a call fits in the last window, with a second of slack for the time a
//! request takes to arrive.
//!
//! Graph's four concurrent requests are "per app ID, regardless of whether the requests all
//! access the same mailbox" (providers.md C4, from Microsoft's throttling-limits page), so this
//! process holds at most that many Graph calls in flight across all its mailboxes, besides each
//! mailbox's own limit.
//!
//! Retries: a call refused for the rate is tried again, after the provider's `Retry-After` or
//! once the lowered rate has room, for as long as the mailbox makes progress: a run does not give
//! up on throttling while any of its calls are answered; only when none has been for
//! `Limits::give_up_after` does the refusal stand. Other passing failures (5xx, a dropped
//! connection) are tried `Limits::attempts` times in all, after the `Retry-After` given or an
//! exponential backoff with jitter (Google: start at a second or more, cap at 32 to 64 s). The
//! state is per account and shared by everything that calls the mailbox (sync, write-back, the
//! outbox), so all of them together stay within what it allows.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mailroom_domain::AccountId;
use mailroom_providers::ApiError;
use mailroom_store::WaitReason;
use rand::Rng as _;
use tokio::sync::{Notify, Semaphore};
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
    /// The most Gmail units a mailbox is sent a minute: the configured quota.
    pub gmail_units_per_minute: u32,
    pub gmail_costs: GmailCosts,
    /// The window Gmail counts units over: a minute. Tests shorten it, with the simulator's.
    pub gmail_window: Duration,
    /// Gmail calls (a batch counts as one) in flight per mailbox at most.
    pub gmail_in_flight: usize,
    /// Graph calls in flight per mailbox at most.
    pub graph_in_flight: usize,
    /// Graph calls in flight in this process at most, all mailboxes together (Graph's limit is
    /// per app).
    pub graph_in_flight_per_app: usize,
    pub graph_requests_per_window: u32,
    pub graph_window: Duration,
    /// How many times a call failing for a passing reason other than the rate is tried in all
    /// before its error is returned.
    pub attempts: u32,
    /// The first backoff; it doubles with each further attempt, up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How long a mailbox may be refused for the rate with no call answered before a refusal
    /// stands; while calls are answered, refused ones are tried again without end.
    pub give_up_after: Duration,
}

impl Default for Limits {
    /// The published limits of projects that used Gmail before May 2026, and Graph's.
    fn default() -> Self {
        Limits {
            gmail_units_per_minute: 15_000,
            gmail_costs: GmailCosts::LEGACY,
            gmail_window: MINUTE,
            gmail_in_flight: 2,
            graph_in_flight: 4,
            graph_in_flight_per_app: 4,
            graph_requests_per_window: 10_000,
            graph_window: Duration::from_secs(600),
            attempts: 8,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(32),
            give_up_after: Duration::from_secs(600),
        }
    }
}

/// A sliding window of amounts: (when, how much).
#[derive(Debug, Default)]
struct Window {
    spent: VecDeque<(Instant, u32)>,
    total: u64,
}

impl Window {
    fn expire(&mut self, span: Duration, now: Instant) {
        while let Some(&(at, spent)) = self.spent.front() {
            if now.duration_since(at) < span {
                break;
            }
            self.spent.pop_front();
            self.total -= u64::from(spent);
        }
    }

    fn record(&mut self, amount: u32, now: Instant) {
        self.record_at(amount, now);
    }

    /// Records `amount` at `at`, which may be earlier than what the window holds (a call answered
    /// after later ones were sent): kept in time order, so that it expires in its turn.
    fn record_at(&mut self, amount: u32, at: Instant) {
        let place = self.spent.iter().rposition(|(t, _)| *t <= at).map_or(0, |i| i + 1);
        self.spent.insert(place, (at, amount));
        self.total += u64::from(amount);
    }

    /// What the window holds now.
    fn total(&mut self, span: Duration, now: Instant) -> u64 {
        self.expire(span, now);
        self.total
    }

    /// How many amounts the window holds now.
    fn count(&mut self, span: Duration, now: Instant) -> usize {
        self.expire(span, now);
        self.spent.len()
    }

    /// Spends `amount` now if the window has room; else says how long until it may.
    fn try_spend(&mut self, amount: u32, limit: u32, span: Duration, now: Instant) -> Result<(), Duration> {
        self.expire(span, now);
        // A call dearer than the whole limit could never fit: it waits for an empty window.
        let amount_in_limit = u64::from(amount.min(limit));
        if self.total + amount_in_limit <= u64::from(limit) {
            self.record(amount, now);
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

/// What the pacer has learned of one mailbox's limit, to keep with the account.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learned {
    /// Units (Gmail) or requests (Graph) the mailbox is sent per window now.
    pub rate: u32,
    /// The configured ceiling it is learned under.
    pub ceiling: u32,
    /// The window: a minute for Gmail, ten minutes for Graph.
    pub window: Duration,
}

/// Reads a successful answer (a batch) for the amount accepted and any calls refused inside it.
type Judge<T> = dyn Fn(&T) -> (u32, Option<Refusal>) + Sync;

/// Calls refused for the rate in one request, and the wait the provider asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refusal {
    calls: u32,
    retry_after: Option<Duration>,
}

/// The learned limits and the traffic of one mailbox.
#[derive(Debug)]
struct Budget {
    /// What was sent in the last window, for pacing.
    sent: Window,
    /// What the provider accepted in the last window: what it allows, when it refuses.
    accepted: Window,
    /// What it refused for the rate in the last window.
    refused: Window,
    span: Duration,
    ceiling: u32,
    /// Units or requests per window allowed now.
    rate: f64,
    /// Calls in flight now, and at most.
    in_flight: usize,
    max_in_flight: usize,
    ceiling_in_flight: usize,
    /// When the rate was last lowered; refusals of calls sent before then are old news.
    lowered_at: Option<Instant>,
    /// Since when no refusal came: a whole quiet window raises the rate.
    quiet_since: Instant,
    /// The rate before the last raise, while that raise is on trial: a refusal soon after it
    /// means it went past what the provider allows, and the rate goes back.
    probe: Option<f64>,
    /// Quiet windows a raise waits for: one, doubled each time a raise is taken back (up to
    /// `MOST_QUIET`), so that a rate right at the provider's limit is not probed past it every
    /// window.
    quiet_windows: u32,
    /// No call starts before this (a `Retry-After`).
    paused_until: Option<Instant>,
    /// Since when calls have been refused with none answered.
    refused_since: Option<Instant>,
    /// Calls refused in a row, counting requests mostly refused: a provider past its quota
    /// refuses everything after the call that reached it, while passing refusals are scattered.
    streak: usize,
}

/// How much the rate climbs per quiet window, as a share of itself.
const INCREASE: f64 = 0.05;
/// What is kept of the provider's accepted traffic when it refuses: a little under it.
const BELOW_ACCEPTED: f64 = 0.9;
/// The share of the window's traffic refused that says the provider's limit is reached: past a
/// quota, it refuses everything until its window moves on; below it, refusals are odd ones (a
/// passing overload, another client's burst) that say nothing of the rate.
const DENSE: f64 = 0.25;
/// How many refusals a window (or a row of them) needs before they say anything of the rate: one or two refused
/// requests early in a window (a passing overload) would otherwise look like a tiny quota, and a
/// provider past its quota refuses every call in flight and every one after.
const FEW: usize = 3;
/// The share of the rate a window must have been sent for its quiet to justify a raise.
const USED: f64 = 0.8;
/// The most quiet windows a raise waits for after raises were taken back.
const MOST_QUIET: u32 = 8;

impl Budget {
    fn new(ceiling: u32, span: Duration, in_flight: usize, now: Instant) -> Budget {
        Budget {
            sent: Window::default(),
            accepted: Window::default(),
            refused: Window::default(),
            span,
            ceiling,
            rate: f64::from(ceiling),
            in_flight: 0,
            max_in_flight: in_flight.max(1),
            ceiling_in_flight: in_flight.max(1),
            lowered_at: None,
            quiet_since: now,
            probe: None,
            quiet_windows: 1,
            paused_until: None,
            refused_since: None,
            streak: 0,
        }
    }

    /// The smallest rate the pacer goes down to: a thousandth of the ceiling. A call dearer than
    /// the rate still goes, alone in an empty window, so progress never stops.
    fn floor(&self) -> f64 {
        f64::from((self.ceiling / 1000).max(1))
    }

    fn limit(&self) -> u32 {
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "the rate is within 1..=ceiling")]
        let limit = self.rate.round() as u32;
        limit.max(1)
    }

    /// Starts a call of `amount` now, or says how long to wait (`None`: until a call ends).
    fn try_start(&mut self, amount: u32, now: Instant) -> Result<(), Option<Duration>> {
        if let Some(until) = self.paused_until.filter(|until| *until > now) {
            return Err(Some(until - now));
        }
        if self.in_flight >= self.max_in_flight {
            return Err(None);
        }
        // A sixtieth of the window (a second of Gmail's minute) of slack for the time a request
        // takes to reach the provider.
        self.sent.try_spend(amount, self.limit(), self.span + self.span / 60, now).map_err(Some)?;
        self.in_flight += 1;
        Ok(())
    }

    /// A call sent at `sent_at` of `amount` ended: `accepted` of it answered, and, when (part of)
    /// it was refused for the rate, how many calls were and the wait the provider asked for.
    fn end(&mut self, sent_at: Instant, amount: u32, accepted: u32, refused: Option<Refusal>, now: Instant) {
        if accepted > 0 {
            // Counted when sent, as the provider counts calls when they arrive: counted when
            // answered, a window could hold calls from two of the provider's windows.
            self.accepted.record_at(accepted, sent_at);
            self.refused_since = None;
        }
        let Some(Refusal { calls, retry_after }) = refused else {
            self.streak = 0;
            self.raise_when_quiet(now);
            return;
        };
        // Each refused call of a batch is a refusal of its own: the provider judged each.
        let calls = calls.max(1);
        if accepted.saturating_mul(2) <= amount {
            self.streak += usize::try_from(calls).unwrap_or(usize::MAX);
        } else {
            self.streak = 0;
        }
        let each = amount.saturating_sub(accepted).max(calls) / calls;
        for _ in 0..calls {
            self.refused.record(each, now);
        }
        if accepted == 0 {
            self.refused_since.get_or_insert(now);
        }
        if let Some(wait) = retry_after {
            let until = now + wait;
            self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
        }
        self.quiet_since = now;
        if self.lowered_at.is_some_and(|lowered| sent_at < lowered) {
            // Sent before the rate was last lowered: no news.
            return;
        }
        let accepted_total = self.accepted.total(self.span, now);
        let refused_total = self.refused.total(self.span, now);
        #[expect(clippy::cast_precision_loss, reason = "a window's total is far below 2^52")]
        let dense = self.streak >= FEW
            || (self.refused.count(self.span, now) >= FEW
                && refused_total as f64 >= DENSE * (accepted_total + refused_total) as f64);
        if dense {
            // The provider's limit is reached: what it accepted in its window is what it allows.
            // When it accepted nothing, that says nothing of the rate (throttled for now, or
            // another client spent the quota): the pause or the backoff waits it out.
            if accepted_total > 0 {
                #[expect(clippy::cast_precision_loss, reason = "a window's total is far below 2^52")]
                let learned = accepted_total as f64 * BELOW_ACCEPTED;
                self.rate = learned.min(self.rate).max(self.floor());
            }
            self.max_in_flight = (self.max_in_flight / 2).max(1);
            self.lowered_at = Some(now);
            self.probe = None;
        } else if retry_after.is_some() {
            // A provider that says when to come back (Graph's 429) has reached its limit now,
            // however few refusals it sent: the pause keeps them few. The rate falls to what it
            // accepted, but at most by half per refusal, since one refusal may be a passing
            // overload; fewer calls go at once, since those in flight during a pause are refused.
            #[expect(clippy::cast_precision_loss, reason = "a window's total is far below 2^52")]
            let learned = accepted_total as f64 * BELOW_ACCEPTED;
            self.rate = self.rate.min(learned.max(self.rate / 2.0)).max(self.floor());
            self.max_in_flight = (self.max_in_flight / 2).max(1);
            self.lowered_at = Some(now);
            self.probe = None;
        } else if let Some(before) = self.probe.take() {
            // The last raise went past the limit: back to the rate before it, and the next raise
            // waits longer.
            self.rate = before.min(self.rate);
            self.lowered_at = Some(now);
            self.quiet_windows = (self.quiet_windows * 2).min(MOST_QUIET);
        }
    }

    /// After a whole window without a refusal, the rate climbs a twentieth (and one more call
    /// may be in flight), on trial: a refusal before the next quiet window takes it back.
    fn raise_when_quiet(&mut self, now: Instant) {
        if now.duration_since(self.quiet_since) < self.span * self.quiet_windows {
            return;
        }
        // A quiet window says the rate is allowed only if the mailbox was sent about that much:
        // a run that sent less (its last few calls, a pause) proves nothing of a higher rate.
        #[expect(clippy::cast_precision_loss, reason = "a window's total is far below 2^52")]
        let used = self.sent.total(self.span + self.span / 60, now) as f64;
        if used < USED * self.rate {
            return;
        }
        if self.probe.is_some() {
            // The last raise held through its quiet windows: the provider allows it.
            self.quiet_windows = 1;
        }
        let raised = (self.rate * (1.0 + INCREASE) + 1.0).min(f64::from(self.ceiling));
        self.probe = (raised > self.rate).then_some(self.rate);
        self.rate = raised;
        self.max_in_flight = (self.max_in_flight + 1).min(self.ceiling_in_flight);
        self.quiet_since = now;
    }

    /// Whether refusals have gone on, with nothing answered, for longer than `give_up_after`.
    fn stalled(&self, give_up_after: Duration, now: Instant) -> bool {
        self.refused_since.is_some_and(|since| now.duration_since(since) >= give_up_after)
    }

    /// The rate known to be allowed: the one before a raise still on trial.
    fn learned(&self) -> Learned {
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "the rate is within 1..=ceiling")]
        let rate = self.probe.map_or(self.limit(), |before| (before.round() as u32).max(1));
        Learned { rate, ceiling: self.ceiling, window: self.span }
    }
}

/// A wait of a mailbox's calls worth telling its user about: until when, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub until: Instant,
    pub reason: WaitReason,
}

/// Waits shorter than this are the pacing's ordinary rhythm, not news: a run paced to its
/// mailbox's rate waits a little before most calls.
const NOTABLE_WAIT: Duration = Duration::from_secs(1);

/// The notable waits going on, each with a number to take it back by.
#[derive(Debug, Default)]
struct Waits {
    next: u64,
    current: Vec<(u64, Wait)>,
}

/// The pacing state of one mailbox: its budget, a signal for calls waiting for a slot, and the
/// waits going on.
#[derive(Debug)]
struct Mailbox {
    budget: Mutex<Budget>,
    slot_freed: Notify,
    waits: Mutex<Waits>,
}

impl Mailbox {
    fn new(budget: Budget) -> Mailbox {
        Mailbox { budget: Mutex::new(budget), slot_freed: Notify::new(), waits: Mutex::new(Waits::default()) }
    }

    fn budget(&self) -> std::sync::MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn waits(&self) -> std::sync::MutexGuard<'_, Waits> {
        self.waits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps `wait` for `reason`; a wait long enough to notice is told while it lasts (and
    /// forgotten when the sleep ends or is dropped).
    async fn sleep(&self, wait: Duration, reason: WaitReason) {
        let _told = (wait >= NOTABLE_WAIT).then(|| Told::new(self, Wait { until: Instant::now() + wait, reason }));
        tokio::time::sleep(wait).await;
    }

    /// The wait that ends first among those going on.
    fn waiting(&self) -> Option<Wait> {
        let now = Instant::now();
        self.waits().current.iter().map(|(_, wait)| *wait).filter(|wait| wait.until > now).min_by_key(|wait| wait.until)
    }
}

/// A wait told while it lasts.
struct Told<'a> {
    mailbox: &'a Mailbox,
    id: u64,
}

impl<'a> Told<'a> {
    fn new(mailbox: &'a Mailbox, wait: Wait) -> Told<'a> {
        let mut waits = mailbox.waits();
        let id = waits.next;
        waits.next += 1;
        waits.current.push((id, wait));
        Told { mailbox, id }
    }
}

impl Drop for Told<'_> {
    fn drop(&mut self) {
        self.mailbox.waits().current.retain(|(id, _)| *id != self.id);
    }
}

/// A call's slot among the mailbox's calls in flight, given back when the call ends or when its
/// future is dropped (a run cancelled or killed mid-call), so that no slot is lost for good.
struct InFlight<'a> {
    mailbox: &'a Mailbox,
    ended: bool,
}

impl InFlight<'_> {
    fn end(mut self) {
        self.give_back();
        self.ended = true;
    }

    fn give_back(&self) {
        let mut budget = self.mailbox.budget();
        budget.in_flight = budget.in_flight.saturating_sub(1);
        drop(budget);
        self.mailbox.slot_freed.notify_waiters();
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.give_back();
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);

/// How a call ended, for the pacer.
enum Verdict {
    /// Answered: final, success or not.
    Answered,
    /// Refused for the rate: try again, after the wait given when there is one.
    Throttled(Option<Duration>),
    /// Failed for a passing reason: try again, a limited number of times.
    Passing(Option<Duration>),
}

fn verdict<T>(result: &Result<T, ApiError>, kind: Kind) -> Verdict {
    match result {
        Err(ApiError::RateLimited { retry_after }) => Verdict::Throttled(*retry_after),
        // Graph throttles with a 503 and `Retry-After` as well as with a 429 (C4): the same as a
        // rate limit. Gmail's 503 is a backend error (B7): a passing failure, after the wait given.
        Err(ApiError::Transient { retry_after: Some(after), .. }) if kind == Kind::Graph => {
            Verdict::Throttled(Some(*after))
        }
        Err(ApiError::Transient { retry_after, .. }) => Verdict::Passing(*retry_after),
        _ => Verdict::Answered,
    }
}

/// The pacing of every mailbox this process calls. Cheap to share: clone the `Arc`.
#[derive(Debug)]
pub struct Pacing {
    limits: Limits,
    mailboxes: Mutex<HashMap<AccountId, Arc<Mailbox>>>,
    graph_app_slots: Semaphore,
}

/// Which provider's budget a mailbox keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gmail,
    Graph,
}

impl Pacing {
    pub fn new(limits: Limits) -> Arc<Pacing> {
        let graph_app_slots = Semaphore::new(limits.graph_in_flight_per_app.max(1));
        Arc::new(Pacing { limits, mailboxes: Mutex::new(HashMap::new()), graph_app_slots })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn mailbox(&self, account: AccountId, kind: Kind) -> Arc<Mailbox> {
        let mut mailboxes = self.mailboxes.lock().unwrap_or_else(PoisonError::into_inner);
        mailboxes
            .entry(account)
            .or_insert_with(|| {
                let budget = match kind {
                    Kind::Gmail => Budget::new(
                        self.limits.gmail_units_per_minute,
                        self.limits.gmail_window,
                        self.limits.gmail_in_flight,
                        Instant::now(),
                    ),
                    Kind::Graph => Budget::new(
                        self.limits.graph_requests_per_window,
                        self.limits.graph_window,
                        self.limits.graph_in_flight,
                        Instant::now(),
                    ),
                };
                Arc::new(Mailbox::new(budget))
            })
            .clone()
    }

    /// Starts the account from a rate learned before (kept with the account), when this process
    /// has learned nothing of it yet: a mailbox that allows a fiftieth of the ceiling is not
    /// taught so again at every start.
    pub fn start_from(&self, account: AccountId, gmail: bool, rate: u32) {
        let kind = if gmail { Kind::Gmail } else { Kind::Graph };
        let fresh = !self.mailboxes.lock().unwrap_or_else(PoisonError::into_inner).contains_key(&account);
        let mailbox = self.mailbox(account, kind);
        if fresh {
            let mut budget = mailbox.budget();
            budget.rate = f64::from(rate.clamp(1, budget.ceiling));
        }
    }

    /// What has been learned of the account's limit, when it is below the ceiling.
    pub fn learned(&self, account: AccountId) -> Option<Learned> {
        let mailbox = self.mailboxes.lock().unwrap_or_else(PoisonError::into_inner).get(&account).cloned()?;
        let learned = mailbox.budget().learned();
        (learned.rate < learned.ceiling).then_some(learned)
    }

    /// Whether the account's calls wait now, long enough to tell (paced to its rate, asked to
    /// wait by the provider, or backing off after a failure), and until when: the wait that
    /// ends first.
    pub fn waiting(&self, account: AccountId) -> Option<Wait> {
        let mailbox = self.mailboxes.lock().unwrap_or_else(PoisonError::into_inner).get(&account).cloned()?;
        mailbox.waiting()
    }

    /// Backs off `wait` before the account's calls that failed for a passing reason are asked
    /// again by their caller (those inside a Gmail batch), told as such while it lasts.
    pub async fn back_off(&self, account: AccountId, wait: Duration) {
        let mailbox = self.mailboxes.lock().unwrap_or_else(PoisonError::into_inner).get(&account).cloned();
        match mailbox {
            Some(mailbox) => mailbox.sleep(wait, WaitReason::ProviderError).await,
            None => tokio::time::sleep(wait).await,
        }
    }

    /// How many Gmail calls of `cost` units go in one batch request now: fewer as the learned rate
    /// falls, so that a batch is never a large part of what a minute allows and a refusal refuses
    /// few calls.
    pub fn gmail_batch_size(&self, account: AccountId, cost: u32, most: usize) -> usize {
        let limit = self.mailbox(account, Kind::Gmail).budget().limit();
        let calls = limit / (4 * cost.max(1));
        usize::try_from(calls).unwrap_or(usize::MAX).clamp(1, most.max(1))
    }

    /// Waits until the mailbox may be sent a call of `amount`; returns when it was sent.
    async fn start(&self, mailbox: &Mailbox, amount: u32) -> Instant {
        loop {
            let now = Instant::now();
            let wait = mailbox.budget().try_start(amount, now);
            match wait {
                Ok(()) => return now,
                // The window is full, or the provider asked for a pause: the mailbox's rate limit.
                Err(Some(wait)) => mailbox.sleep(wait.max(Duration::from_millis(1)), WaitReason::RateLimit).await,
                // A slot frees when a call ends; the timeout covers a wake-up that came between
                // the check and the wait.
                Err(None) => {
                    let _ = tokio::time::timeout(Duration::from_millis(200), mailbox.slot_freed.notified()).await;
                }
            }
        }
    }

    /// Tells the mailbox's budget how a call ended; its slot is already given back.
    fn end(&self, mailbox: &Mailbox, sent_at: Instant, amount: u32, accepted: u32, refused: Option<Refusal>) {
        mailbox.budget().end(sent_at, amount, accepted, refused, Instant::now());
        mailbox.slot_freed.notify_waiters();
    }

    /// Runs a Gmail call costing `units` once the mailbox may be sent it, and again while it
    /// fails for a passing reason.
    pub async fn gmail<T, F, Fut>(&self, account: AccountId, units: u32, call: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mailbox = self.mailbox(account, Kind::Gmail);
        self.paced(&mailbox, Kind::Gmail, units, None, call).await
    }

    /// A Gmail batch request of calls costing `cost` units each: paced as one call of their sum,
    /// and its calls refused for the rate told to the pacer as the provider's refusal, so that
    /// the rate is learned from inside batches too. Returns each call's result.
    pub async fn gmail_batch<T, F, Fut>(
        &self,
        account: AccountId,
        cost: u32,
        calls: usize,
        call: F,
    ) -> Result<Vec<Result<T, ApiError>>, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Vec<Result<T, ApiError>>, ApiError>>,
    {
        let mailbox = self.mailbox(account, Kind::Gmail);
        let units = cost.saturating_mul(u32::try_from(calls).unwrap_or(u32::MAX));
        let judge = move |results: &Vec<Result<T, ApiError>>| {
            let mut refused = None;
            let mut answered = 0u32;
            for result in results {
                match verdict(result, Kind::Gmail) {
                    Verdict::Throttled(after) => {
                        let calls = refused.map_or(0, |r: Refusal| r.calls) + 1;
                        let retry_after = refused.and_then(|r| r.retry_after).max(after);
                        refused = Some(Refusal { calls, retry_after });
                    }
                    _ => answered += 1,
                }
            }
            (answered.saturating_mul(cost), refused)
        };
        self.paced(&mailbox, Kind::Gmail, units, Some(&judge), call).await
    }

    /// Runs a Graph call in one of the app's and the mailbox's slots, once the mailbox may be sent
    /// it, and again while it fails for a passing reason.
    pub async fn graph<T, F, Fut>(&self, account: AccountId, mut call: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mailbox = self.mailbox(account, Kind::Graph);
        let slots = &self.graph_app_slots;
        self.paced(&mailbox, Kind::Graph, 1, None, || {
            let call = call();
            async move {
                // The semaphore is never closed; a closed one would only mean no limit.
                let _slot = slots.acquire().await.ok();
                call.await
            }
        })
        .await
    }

    /// The retry loop around one call: started when the mailbox has room, its outcome told to
    /// the mailbox's budget, tried again while refused for the rate (as long as the mailbox makes
    /// progress) or failed for a passing reason (a limited number of times). `judge` reads the
    /// accepted amount and any refusal from a successful answer (a batch).
    async fn paced<T, F, Fut>(
        &self,
        mailbox: &Mailbox,
        kind: Kind,
        amount: u32,
        judge: Option<&Judge<T>>,
        mut call: F,
    ) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut passing_failures = 0;
        loop {
            let sent_at = self.start(mailbox, amount).await;
            let in_flight = InFlight { mailbox, ended: false };
            let result = call().await;
            in_flight.end();
            match verdict(&result, kind) {
                Verdict::Answered => {
                    let (accepted, refused) = match (&result, judge) {
                        (Ok(value), Some(judge)) => judge(value),
                        _ => (amount, None),
                    };
                    self.end(mailbox, sent_at, amount, accepted, refused);
                    return result;
                }
                Verdict::Throttled(retry_after) => {
                    self.end(mailbox, sent_at, amount, 0, Some(Refusal { calls: 1, retry_after }));
                    if mailbox.budget().stalled(self.limits.give_up_after, Instant::now()) {
                        return result;
                    }
                    // The lowered rate, or the pause the provider asked for, holds the next try
                    // back in `start`; without either, a short backoff keeps it from spinning.
                    if retry_after.is_none() {
                        mailbox.sleep(self.limits.backoff_base, WaitReason::RateLimit).await;
                    }
                }
                Verdict::Passing(retry_after) => {
                    self.end(mailbox, sent_at, amount, 0, None);
                    passing_failures += 1;
                    if passing_failures >= self.limits.attempts {
                        return result;
                    }
                    let wait = retry_after.unwrap_or_else(|| backoff(&self.limits, passing_failures));
                    mailbox.sleep(wait, WaitReason::ProviderError).await;
                }
            }
        }
    }

    /// Whether the account has gone `give_up_after` refused for the rate with nothing answered:
    /// then the calls a caller asks again itself (those refused inside a batch) stop too.
    pub fn stalled(&self, account: AccountId) -> bool {
        let mailbox = self.mailboxes.lock().unwrap_or_else(PoisonError::into_inner).get(&account).cloned();
        mailbox.is_some_and(|m| m.budget().stalled(self.limits.give_up_after, Instant::now()))
    }
}

/// The backoff after the `attempt`th failure: the base doubled per attempt up to the cap, of
/// which a random half to all is taken so that callers that failed together do not return together.
pub(crate) fn backoff(limits: &Limits, attempt: u32) -> Duration {
    let doubled = limits.backoff_base.saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX));
    let capped = doubled.min(limits.backoff_cap);
    capped.mul_f64(rand::rng().random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests;
