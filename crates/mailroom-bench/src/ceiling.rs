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
//! requests are in flight per mailbox, and a mailbox takes 10,000 requests in 10 minutes. Before
//! the first delta comes the folder tree: the folder lists, and one request per well-known folder
//! (v1.0 lists carry no well-known name, and the inbox must be known to come first). The MIME of
//! each message (`/$value`, one request apiece) is fetched afterwards and is timed on its own.

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
    /// Messages in each folder, empty folders included: each still takes a delta request.
    pub folders: Vec<u64>,
    /// Requests that read the folder tree before the first delta: the folder lists, and one
    /// lookup per well-known folder, since v1.0 lists do not say which folder is the inbox.
    pub tree_requests: u64,
    /// Round trips those take at the least (lists of child folders wait for their parent's).
    pub tree_round_trips: u64,
    /// Messages per delta page (`Prefer: odata.maxpagesize`).
    pub page: u64,
    pub in_flight: u64,
    pub requests_per_window: u64,
    pub window: Duration,
    pub latency: Duration,
}

impl GraphPlan {
    pub fn messages(&self) -> u64 {
        self.folders.iter().sum()
    }

    /// Delta pages of each folder: at least one, which carries the deltaLink.
    fn pages(&self) -> Vec<u64> {
        self.folders.iter().map(|n| n.div_ceil(self.page.max(1)).max(1)).collect()
    }

    pub fn requests(&self) -> u64 {
        self.tree_requests + self.pages().iter().sum::<u64>()
    }

    pub fn ceiling(&self) -> Ceiling {
        let pages = self.pages();
        let total_pages: u64 = pages.iter().sum();
        let requests = self.requests();
        let longest = pages.iter().copied().max().unwrap_or(0);
        let slots = self.in_flight.max(1);
        let round_trips = self.tree_round_trips + longest.max(total_pages.div_ceil(slots));
        let latency_floor = self.latency * u32::try_from(round_trips).unwrap_or(u32::MAX);
        let windows = requests.div_ceil(self.requests_per_window.max(1)).saturating_sub(1);
        let request_floor = self.window * u32::try_from(windows).unwrap_or(u32::MAX) + self.latency;
        let time = latency_floor.max(request_floor);
        let explanation = vec![
            format!(
                "requests: the folder tree in {} (the folder lists and one lookup per well-known folder, which \
                 v1.0 lists do not name), then {} delta pages of up to {} messages over {} folders, empty ones \
                 included = {}",
                self.tree_requests,
                thousands(total_pages),
                self.page,
                self.folders.len(),
                thousands(requests)
            ),
            format!(
                "latency floor: at most {} requests in flight; the tree takes {} round trips, then a folder's \
                 pages follow each other (longest {}): {} + max({}, ⌈{} / {}⌉) = {} round trips of {} ms = {:.2} s",
                slots,
                self.tree_round_trips,
                longest,
                self.tree_round_trips,
                longest,
                total_pages,
                slots,
                round_trips,
                self.latency.as_millis(),
                latency_floor.as_secs_f64()
            ),
            format!(
                "request floor: {} requests per mailbox in {} s; ⌈{} / {}⌉ − 1 = {} full windows to wait, plus \
                 one round trip = {:.2} s",
                thousands(self.requests_per_window),
                self.window.as_secs(),
                thousands(requests),
                thousands(self.requests_per_window),
                windows,
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

/// Fetching each message's MIME (`GET …/messages/{id}/$value`) after the initial sync: one request
/// a message, at most `in_flight` at once, and the mailbox's request window, which still holds
/// the requests the sync made just before.
#[derive(Debug, Clone)]
pub struct MimePlan {
    pub messages: u64,
    /// Requests of the sync before, and how long before the MIME's start the first of them left.
    pub earlier_requests: u64,
    pub earlier_since: Duration,
    pub in_flight: u64,
    pub requests_per_window: u64,
    pub window: Duration,
    pub latency: Duration,
}

impl MimePlan {
    pub fn ceiling(&self) -> Ceiling {
        let slots = self.in_flight.max(1);
        let round_trips = self.messages.div_ceil(slots);
        let latency_floor = self.latency * u32::try_from(round_trips).unwrap_or(u32::MAX);
        let all = self.earlier_requests + self.messages;
        let windows = all.div_ceil(self.requests_per_window.max(1)).saturating_sub(1);
        // Counted from the sync's first request, then from the MIME's start.
        let request_floor = (self.window * u32::try_from(windows).unwrap_or(u32::MAX) + self.latency)
            .saturating_sub(self.earlier_since);
        let time = latency_floor.max(request_floor);
        let explanation = vec![
            format!(
                "latency floor: {} requests, {} in flight: ⌈{} / {}⌉ = {} round trips of {} ms = {:.2} s",
                thousands(self.messages),
                slots,
                thousands(self.messages),
                slots,
                thousands(round_trips),
                self.latency.as_millis(),
                latency_floor.as_secs_f64()
            ),
            format!(
                "request floor: with the sync's {} requests, {} in the window; ⌈{} / {}⌉ − 1 = {} full windows \
                 of {} s from the sync's first request, {:.2} s before the MIME started, plus one round trip = {:.2} s",
                thousands(self.earlier_requests),
                thousands(all),
                thousands(all),
                thousands(self.requests_per_window),
                windows,
                self.window.as_secs(),
                self.earlier_since.as_secs_f64(),
                request_floor.as_secs_f64()
            ),
            format!("ceiling: the larger, {:.2} s = {:.1} messages/s", time.as_secs_f64(), rate(self.messages, time)),
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
            tree_requests: 1,
            tree_round_trips: 1,
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
    fn graph_counts_the_folder_tree_and_every_empty_folder() {
        let plan = GraphPlan {
            folders: vec![100, 0, 0],
            tree_requests: 7,
            tree_round_trips: 2,
            page: 100,
            in_flight: 4,
            requests_per_window: 10_000,
            window: Duration::from_secs(600),
            latency: Duration::from_millis(50),
        };
        assert_eq!(plan.requests(), 10);
        // Two round trips for the tree, then the three one-page folders side by side.
        assert_eq!(plan.ceiling().time, Duration::from_millis(150));
    }

    #[test]
    fn the_mime_shares_its_window_with_the_sync_before_it() {
        let plan = MimePlan {
            messages: 10_000,
            earlier_requests: 120,
            earlier_since: Duration::from_secs(5),
            in_flight: 4,
            requests_per_window: 10_000,
            window: Duration::from_secs(600),
            latency: Duration::from_millis(50),
        };
        // 10,120 requests: the last waits for the sync's first to leave the window.
        assert_eq!(plan.ceiling().time, Duration::from_millis(595_050));
        let alone = MimePlan { messages: 2_000, ..plan };
        assert_eq!(alone.ceiling().time, Duration::from_millis(25_000), "500 round trips of 4");
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
