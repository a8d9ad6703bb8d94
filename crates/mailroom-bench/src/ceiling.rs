//! The ceiling: the least time the providers' published limits allow for an initial sync by the
//! cheapest correct strategy, so that a run can say how close to it Mailroom came.
//!
//! Gmail (providers.md B6): every call costs quota units and a user may spend `U` units in any
//! 60 seconds. The cheapest way to keep each message's raw bytes is `messages.list` (500 ids a
//! page) and `messages.get?format=raw` per message, batched 50 to an HTTP request (a batch costs
//! what its calls cost); `threads.get` has no raw format (its `format` is full, metadata or
//! minimal), so it cannot replace them. A sliding window, unlike a token bucket, gives back a
//! minute's units only a full minute after they were spent: whatever the pacing, no more than
//! `U · (k + 1)` units fit before `60 · k` seconds have passed. So `W` units need the last call
//! to leave at `60 · (⌈W / U⌉ − 1)` seconds at the earliest and its answer one round trip later.
//! Gmail publishes no limit on concurrent requests, so the only calls that must wait for each
//! other are the list pages (each needs the previous page's token) and the last batch, which
//! needs the last page: `(pages + 1)` round trips.
//!
//! Graph (providers.md C2, C4): the initial sync reads each folder's message delta, `P` messages
//! a page with the body selected; pages of one folder follow each other's `nextLink`, at most 4
//! requests are in flight per mailbox, and a mailbox takes 10,000 requests in 10 minutes. The
//! MIME of each message (`/$value`) is fetched afterwards and is not part of the initial sync.

use std::time::Duration;

/// Gmail's published figures for one user, and what the run asks for.
#[derive(Debug, Clone, Copy)]
pub struct GmailPlan {
    pub messages: u64,
    pub units_per_minute: u64,
    /// Units of `messages.get`.
    pub get_cost: u64,
    /// Units of `messages.list`.
    pub list_cost: u64,
    /// Units of `getProfile` plus `labels.list`.
    pub setup_cost: u64,
    pub latency: Duration,
}

/// Ids per `messages.list` page and calls per batch request, the most Google allows (500) and
/// advises (50).
pub const GMAIL_PAGE: u64 = 500;
pub const GMAIL_BATCH: u64 = 50;
const MINUTE: Duration = Duration::from_secs(60);

/// The ceiling and how it was reached, for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Ceiling {
    pub time: Duration,
    /// The computation in words and numbers, one line each.
    pub explanation: Vec<String>,
}

impl GmailPlan {
    pub fn pages(&self) -> u64 {
        self.messages.div_ceil(GMAIL_PAGE).max(1)
    }

    pub fn units(&self) -> u64 {
        self.messages * self.get_cost + self.pages() * self.list_cost + self.setup_cost
    }

    pub fn ceiling(&self) -> Ceiling {
        let (units, pages, per_minute) = (self.units(), self.pages(), self.units_per_minute.max(1));
        let minutes = units.div_ceil(per_minute).saturating_sub(1);
        let quota_floor = MINUTE * u32::try_from(minutes).unwrap_or(u32::MAX) + self.latency;
        let latency_floor = self.latency * u32::try_from(pages + 1).unwrap_or(u32::MAX);
        let time = quota_floor.max(latency_floor);
        let smooth = Duration::from_secs_f64(units.saturating_sub(per_minute) as f64 * 60.0 / per_minute as f64);
        let explanation = vec![
            format!(
                "quota units: {} messages.get × {} + {} messages.list × {} + getProfile and labels.list {} = {}",
                thousands(self.messages),
                self.get_cost,
                pages,
                self.list_cost,
                self.setup_cost,
                thousands(units)
            ),
            format!(
                "quota floor: {} units per user in any 60 s; ⌈{} / {}⌉ = {} minutes' worth, so the last call \
                 leaves after {} s at the earliest, plus one {} ms round trip = {:.2} s",
                thousands(per_minute),
                thousands(units),
                thousands(per_minute),
                minutes + 1,
                minutes * 60,
                self.latency.as_millis(),
                quota_floor.as_secs_f64()
            ),
            format!(
                "latency floor: {} list pages one after another, then the last of {} batch requests of {}: {} round \
                 trips = {:.2} s (Gmail publishes no concurrency limit)",
                pages,
                thousands(self.messages.div_ceil(GMAIL_BATCH)),
                GMAIL_BATCH,
                pages + 1,
                latency_floor.as_secs_f64()
            ),
            format!(
                "ceiling: the larger, {:.2} s = {:.1} messages/s (a token bucket refilled evenly would allow \
                 {:.1} s, but the window slides: units come back a full minute after they were spent)",
                time.as_secs_f64(),
                rate(self.messages, time),
                smooth.as_secs_f64()
            ),
        ];
        Ceiling { time, explanation }
    }
}

/// Graph's published figures for one mailbox, and what the run asks for.
#[derive(Debug, Clone)]
pub struct GraphPlan {
    /// Messages in each folder.
    pub folders: Vec<u64>,
    /// Messages per delta page (`Prefer: odata.maxpagesize`).
    pub page: u64,
    pub in_flight: u64,
    pub requests_per_window: u64,
    pub window: Duration,
    pub latency: Duration,
}

#[cfg_attr(not(test), expect(dead_code, reason = "the Outlook run uses it once mailroom-sync has sync_graph"))]
impl GraphPlan {
    pub fn messages(&self) -> u64 {
        self.folders.iter().sum()
    }

    /// Delta pages of each folder: at least one, which carries the deltaLink.
    fn pages(&self) -> Vec<u64> {
        self.folders.iter().map(|n| n.div_ceil(self.page.max(1)).max(1)).collect()
    }

    pub fn ceiling(&self) -> Ceiling {
        let pages = self.pages();
        let total_pages: u64 = pages.iter().sum();
        // The folder tree is one request before the folders' deltas can start.
        let requests = total_pages + 1;
        let longest = pages.iter().copied().max().unwrap_or(0);
        let slots = self.in_flight.max(1);
        let round_trips = 1 + longest.max(total_pages.div_ceil(slots));
        let latency_floor = self.latency * u32::try_from(round_trips).unwrap_or(u32::MAX);
        let windows = requests.div_ceil(self.requests_per_window.max(1)).saturating_sub(1);
        let request_floor = self.window * u32::try_from(windows).unwrap_or(u32::MAX) + self.latency;
        let time = latency_floor.max(request_floor);
        let explanation = vec![
            format!(
                "requests: the folder tree, then {} delta pages of up to {} messages over {} folders = {}",
                thousands(total_pages),
                self.page,
                self.folders.len(),
                thousands(requests)
            ),
            format!(
                "latency floor: at most {} requests in flight; a folder's pages follow each other (longest {}): \
                 1 + max({}, ⌈{} / {}⌉) = {} round trips of {} ms = {:.2} s",
                slots,
                longest,
                longest,
                total_pages,
                slots,
                round_trips,
                self.latency.as_millis(),
                latency_floor.as_secs_f64()
            ),
            format!(
                "request floor: {} requests per mailbox in {} s = {:.2} s",
                thousands(self.requests_per_window),
                self.window.as_secs(),
                request_floor.as_secs_f64()
            ),
            format!(
                "ceiling: the larger, {:.2} s = {:.1} messages/s (each message's MIME, one request apiece, comes \
                 after the initial sync and is not counted)",
                time.as_secs_f64(),
                rate(self.messages(), time)
            ),
        ];
        Ceiling { time, explanation }
    }
}

pub fn rate(messages: u64, time: Duration) -> f64 {
    if time.is_zero() { 0.0 } else { messages as f64 / time.as_secs_f64() }
}

/// `12345` as `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gmail(messages: u64, units_per_minute: u64, get_cost: u64) -> GmailPlan {
        GmailPlan {
            messages,
            units_per_minute,
            get_cost,
            list_cost: 5,
            setup_cost: 2,
            latency: Duration::from_millis(50),
        }
    }

    #[test]
    fn gmail_ten_thousand_messages_on_the_legacy_quota_take_three_whole_minutes() {
        let plan = gmail(10_000, 15_000, 5);
        assert_eq!(plan.pages(), 20);
        assert_eq!(plan.units(), 50_102);
        // 50,102 units are four minutes' worth: the last leave after three.
        assert_eq!(plan.ceiling().time, Duration::from_millis(180_050));
    }

    #[test]
    fn gmail_on_the_2026_quota_is_bound_by_its_dearer_gets() {
        let plan = gmail(1_000, 6_000, 20);
        assert_eq!(plan.units(), 20_012);
        assert_eq!(plan.ceiling().time, Duration::from_millis(180_050));
    }

    #[test]
    fn a_mailbox_within_one_minute_of_quota_is_bound_by_latency() {
        let plan = gmail(2_000, 15_000, 5);
        assert_eq!(plan.units(), 10_022);
        assert_eq!(plan.ceiling().time, Duration::from_millis(250), "4 pages then the last batch");
    }

    #[test]
    fn graph_is_bound_by_its_four_slots_and_each_folders_chain_of_pages() {
        let plan = GraphPlan {
            folders: vec![6_000, 2_000, 1_000, 500, 500],
            page: 100,
            in_flight: 4,
            requests_per_window: 10_000,
            window: Duration::from_secs(600),
            latency: Duration::from_millis(50),
        };
        // 100 pages; the inbox's 60 follow each other, longer than 100 / 4.
        assert_eq!(plan.ceiling().time, Duration::from_millis(50 * 61));
        let small_pages = GraphPlan { page: 1, ..plan };
        // 10,001 requests: the last one waits for the first window to pass.
        assert_eq!(small_pages.ceiling().time, Duration::from_millis(600_050));
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(50_102), "50,102");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
