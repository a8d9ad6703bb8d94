//! Outlook sync when things go wrong: server errors, throttling, dropped connections and latency
//! from the simulator; the sync and the MIME fetch killed at any request and run again. Each test
//! ends with the store compared with the simulator's mailbox, message for message: ids,
//! conversations, read and flagged, folder.

use mailroom_sim::{Faults, SimConfig};
use mailroom_sync::{Limits, Mode, Progress, SyncReport, fetch_pending_mime, sync_graph};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::harness::{Backend, COUNT_WITHOUT_RAW};
use crate::kill::{self, kill_until_finished, killed_after, ms};
use crate::sync_graph::{CARL, Setup};

crate::on_both_databases!(sync_graph_faults:
    an_import_and_later_changes_converge_through_server_errors_and_throttling,
    a_sync_and_its_mime_fetch_killed_at_any_request_lose_and_duplicate_nothing,
    a_request_rate_at_a_fiftieth_of_the_limit_is_learned_and_the_mime_fetch_finishes,
);

/// The Graph API's requests, as the simulator logs them (token requests are not among them).
const API: &str = "/microsoft/v1.0/";

/// How the mailbox's mail is spread: the inbox needs three delta pages of 100, the others one.
const INBOX: usize = 220;
const ARCHIVE: usize = 60;
const PROJECTS: usize = 50;
const RECEIPTS: usize = 30;
const TOTAL: usize = INBOX + ARCHIVE + PROJECTS + RECEIPTS;

/// Graph gives no backoff of its own but `Retry-After`; the backoff after a server error without
/// one is shortened so that dozens of retries take milliseconds. A `Retry-After` is honoured as
/// given.
fn quick_limits() -> Limits {
    Limits { backoff_base: ms(2), backoff_cap: ms(20), ..Limits::default() }
}

/// Message `n`: every third starts a conversation, the next two reply to it, so that the mailbox
/// has conversations of one message and of several, some spread over folders.
fn mail(n: usize) -> Vec<u8> {
    let topic = n / 3;
    let (subject, reply) = match n % 3 {
        0 => (format!("Topic {topic}"), String::new()),
        _ => (
            format!("Re: Topic {topic}"),
            format!("In-Reply-To: <m{}@example.org>\r\nReferences: <m{}@example.org>\r\n", n - 1, n - 1),
        ),
    };
    format!(
        "From: Sender {n} <s{n}@example.org>\r\nTo: {CARL}\r\nSubject: {subject}\r\n\
         Message-ID: <m{n}@example.org>\r\n{reply}Date: Tue, 1 Oct 2024 10:00:00 +0000\r\n\r\nBody {n}\r\n"
    )
    .into_bytes()
}

/// Carl's mailbox with [`TOTAL`] messages over the inbox, the archive, `Projects` under the inbox
/// and `Receipts` at the top (every third read, every fourth flagged), and an empty request log.
async fn setup(backend: Backend) -> Option<Setup> {
    setup_with(backend, SimConfig::default(), quick_limits()).await
}

async fn setup_with(backend: Backend, config: SimConfig, limits: Limits) -> Option<Setup> {
    let config = SimConfig { auto_consent: true, ..config };
    let s = Setup::start(backend, config, limits).await?;
    let projects = s.graph_post("me/mailFolders/inbox/childFolders", json!({"displayName": "Projects"})).await;
    let receipts = s.graph_post("me/mailFolders", json!({"displayName": "Receipts"})).await;
    let (projects, receipts) = (projects["id"].as_str().unwrap(), receipts["id"].as_str().unwrap());
    {
        let now = s.sim.state.clock().now_ms();
        let mut world = s.sim.state.world();
        let mailbox = world.graph(CARL).unwrap();
        for n in 0..TOTAL {
            let folder = match n {
                n if n < INBOX => "inbox",
                n if n < INBOX + ARCHIVE => "archive",
                n if n < INBOX + ARCHIVE + PROJECTS => projects,
                _ => receipts,
            };
            let id = mailbox.deliver(mail(n), folder, now - i64::try_from(TOTAL - n).unwrap() * 60_000);
            mailbox.set_read(&id, n.is_multiple_of(3));
            mailbox.set_flagged(&id, n.is_multiple_of(4));
        }
    }
    // Only the sync's requests are counted.
    s.sim.state.world().log.clear();
    Some(s)
}

/// Another client of the same mailbox (Outlook on the web, a phone), through the simulator's
/// control API.
struct Other<'a> {
    s: &'a Setup,
    http: reqwest::Client,
}

impl Other<'_> {
    fn of(s: &Setup) -> Other<'_> {
        Other { s, http: reqwest::Client::new() }
    }

    async fn post(&self, path: &str, body: Value) {
        let url = format!("{}{path}", self.s.sim.base_url());
        let response = self.http.post(url).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
    }

    async fn deliver(&self, n: usize) {
        let raw = String::from_utf8(mail(n)).unwrap();
        self.post(&format!("/_sim/users/{CARL}/messages"), json!({"raw": raw, "folder": "inbox"})).await;
    }

    async fn expire_delta(&self) {
        self.s.control("expire-delta", json!({})).await;
    }

    /// A round of changes to `count` different messages picked by `round`: read and flag
    /// changes, moves to another folder, hard deletes, and new mail delivered to the inbox
    /// (numbered from `next`).
    async fn change(&self, round: usize, count: usize, next: &mut usize) {
        let state = self.s.state().await;
        let folders: Vec<&str> = ["Inbox", "Archive", "Projects", "Receipts", "Deleted Items"]
            .into_iter()
            .map(|name| state["folders"].as_array().unwrap().iter().find(|f| f["displayName"] == name).unwrap())
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        let mut messages: Vec<(&str, &str, bool)> = state["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["immutableId"].as_str().unwrap(), m["folderId"].as_str().unwrap(), m["isRead"] == true))
            .collect();
        messages.sort();
        assert!(count <= messages.len());
        for i in 0..count {
            let (id, folder, read) = messages[(round * 31 + i) % messages.len()];
            match i % 5 {
                0 => self.s.control("patch", json!({"id": id, "isRead": !read})).await,
                1 => {
                    self.s
                        .control("patch", json!({"id": id, "isRead": !read, "flagged": round.is_multiple_of(2)}))
                        .await
                }
                2 => {
                    let to = folders.iter().cycle().skip(round + i).find(|f| **f != folder).unwrap();
                    self.s.control("move", json!({"id": id, "destination": to})).await;
                }
                3 => self.s.control("delete", json!({"id": id})).await,
                _ => {
                    self.deliver(*next).await;
                    *next += 1;
                }
            }
        }
    }
}

/// The store holds exactly the simulator's mailbox, each message once: the same ids,
/// conversations, read and flagged states and folders.
async fn assert_store_matches_sim(s: &Setup) {
    let (stored, remote) = (s.stored().await, s.remote().await);
    let duplicates = s
        .app
        .raw_count(
            "SELECT COUNT(*) FROM (SELECT account_id, remote_id FROM messages \
             GROUP BY account_id, remote_id HAVING COUNT(*) > 1) AS duplicates",
        )
        .await;
    assert_eq!(duplicates, 0, "no (account, remote id) is stored twice");
    if stored != remote {
        let missing: Vec<_> = remote.iter().filter(|line| !stored.contains(line)).take(10).collect();
        let extra: Vec<_> = stored.iter().filter(|line| !remote.contains(line)).take(10).collect();
        panic!(
            "{} stored for {} at Outlook; missing from the store: {missing:?}; in the store but not at Outlook: \
             {extra:?}",
            stored.len(),
            remote.len()
        );
    }
}

/// The requests the sync made of a folder listing, given the mailbox's folders: one page of the
/// top-level folders, one of the children of each folder that has some, and one per well-known
/// name to mark them.
fn listing_requests(state: &Value) -> usize {
    let folders = state["folders"].as_array().unwrap();
    let parents: std::collections::BTreeSet<&str> =
        folders.iter().filter_map(|f| f["parentFolderId"].as_str()).collect();
    let root = folders.iter().find(|f| f["wellKnownName"] == "msgfolderroot").unwrap()["id"].as_str().unwrap();
    let with_children = folders.iter().filter(|f| f["id"] != root && parents.contains(f["id"].as_str().unwrap()));
    1 + with_children.count() + mailroom_providers::GRAPH_WELL_KNOWN_FOLDERS.len()
}

/// The synced folders (all but the root) and the messages in each.
fn folder_sizes(state: &Value) -> Vec<usize> {
    let folders = state["folders"].as_array().unwrap();
    let messages = state["messages"].as_array().unwrap();
    folders
        .iter()
        .filter(|f| f["wellKnownName"] != "msgfolderroot")
        .map(|f| messages.iter().filter(|m| m["folderId"] == f["id"]).count())
        .collect()
}

async fn an_import_and_later_changes_converge_through_server_errors_and_throttling(backend: Backend) {
    let Some(s) = setup(backend).await else { return };
    let state = s.state().await;
    let listing = listing_requests(&state);
    let sizes = folder_sizes(&state);
    // One request in ten a server error (half of them 503), one API call in ten throttled with
    // 429 and `Retry-After: 1`, one connection in fifty dropped, and every request a little late.
    // The simulator's Retry-After is always a second, which the client must honour as given and
    // Graph's documentation allows no shorter; so every 429 costs the test a second. A sync of
    // this mailbox takes a few dozen requests: about four 429s, four seconds.
    s.sim.state.set_faults(Faults { seed: 5, error_rate: 0.1, rate_limit_rate: 0.1, drop_rate: 0.02, latency_ms: 2 });

    let report = s.sync(Mode::Incremental).await;
    assert!(report.full);
    assert_eq!((report.imported, report.deleted), (TOTAL, 0));
    assert_store_matches_sim(&s).await;

    // Another client changes 40 messages: read, flagged, moved, deleted, and new mail.
    let mut next = TOTAL;
    Other::of(&s).change(1, 40, &mut next).await;
    let report = s.sync(Mode::Incremental).await;
    assert!(!report.full, "the changes come from the delta links");
    assert_store_matches_sim(&s).await;

    // Without faults the import is the folder listing and a delta page per 100 messages of each
    // folder (an empty folder still has one); the changes are the listing again and one page per
    // folder (no folder has 100 changes). A fifth of the requests failing (server error, 429,
    // dropped) makes 1.26 tries per request on average, some 45 for an ideal 36. Twice the ideal
    // leaves room for bad luck and still catches retries that multiply: a round started over for
    // one failed page, a failed call tried again by two layers.
    let import: usize = sizes.iter().map(|n| n.div_ceil(100).max(1)).sum();
    let ideal = (listing + import) + (listing + sizes.len());
    let made = kill::requests(&s.sim, API);
    assert!(made <= ideal * 2, "{made} requests for an ideal {ideal}");
    let log: Vec<u16> = s.sim.state.world().log.iter().filter(|e| e.path.starts_with(API)).map(|e| e.status).collect();
    let throttled = log.iter().filter(|status| **status == 429).count();
    let failed = log.iter().filter(|status| **status >= 500).count();
    assert!(throttled > 0 && failed > 0 && made > ideal, "the faults were in force: {throttled} 429s and {failed} 5xx");

    // Converged: with the faults gone, nothing is left to fetch.
    s.sim.state.set_faults(Faults::default());
    assert_eq!(s.sync(Mode::Incremental).await, SyncReport::default());
}

/// Kills syncs after 1, 2, 3 ... API requests until one finishes, each kill followed by changes
/// from another client and, at kill `expire_at`, by every delta link expiring. Returns how many
/// were killed.
async fn kill_syncs_until_one_finishes(s: &Setup, next: &mut usize, expire_at: Option<usize>) -> usize {
    let other = Other::of(s);
    kill_until_finished(
        async |after, delay| {
            let (engine, account) = (s.engine.clone(), s.account.clone());
            let work = async move { sync_graph(&engine, &account, Mode::Incremental, &Progress::new()).await };
            killed_after(&s.sim, API, after, delay, work).await.map(|result| result.expect("sync runs")).is_some()
        },
        async |killed| {
            other.change(killed, 5, next).await;
            if expire_at == Some(killed) {
                other.expire_delta().await;
            }
        },
    )
    .await
}

async fn a_sync_and_its_mime_fetch_killed_at_any_request_lose_and_duplicate_nothing(backend: Backend) {
    let Some(s) = setup(backend).await else { return };
    s.sim.state.set_faults(Faults { latency_ms: 1, ..Faults::default() });
    let state = s.state().await;
    let listing = listing_requests(&state);
    let folders = folder_sizes(&state).len();
    let other = Other::of(&s);
    let mut next = TOTAL;

    // The initial import: a folder's delta link is stored with the last page of its round, so a
    // restart starts again the rounds that were cut short and only asks the others for changes.
    let killed = kill_syncs_until_one_finishes(&s, &mut next, None).await;
    // A run that finishes makes the listing and a delta request per folder at least: every
    // request count below that was killed twice.
    assert!(killed >= 2 * (listing + folders - 1), "only {killed} kills");
    for folder in state["folders"].as_array().unwrap().iter().filter(|f| f["wellKnownName"] != "msgfolderroot") {
        let cursor = s.app.store.sync_cursor(s.account.id, folder["id"].as_str().unwrap()).await.unwrap();
        assert!(cursor.is_some(), "no delta link for {folder}");
    }
    assert_store_matches_sim(&s).await;

    // Changes enough for two delta pages of the inbox, and some in every other folder; then the
    // incremental sync killed the same way. Once some folders have moved on, every delta link
    // expires: the rest of the runs start every folder's round afresh over a store that holds
    // it, and are killed in the middle of those too.
    let inbox: Vec<String> = s.ids_in("inbox").await;
    for id in inbox.iter().take(150) {
        s.control("patch", json!({"id": id, "flagged": true})).await;
    }
    other.change(100, 60, &mut next).await;
    let killed = kill_syncs_until_one_finishes(&s, &mut next, Some(2 * (listing + 3))).await;
    assert!(killed >= 2 * (listing + folders - 1), "only {killed} kills");
    assert_store_matches_sim(&s).await;
    let again = s.sync(Mode::Incremental).await;
    assert_eq!(again, SyncReport::default());
    assert_store_matches_sim(&s).await;

    // The MIME, fetched two messages at a time after the sync: killed after the first request,
    // then after every 37th, each kill followed by changes (a deletion whose MIME is still to
    // come, a move of one that has it, new mail) and now and then a sync, until a fetch finishes.
    let mut killed: usize = 0;
    let mut fetched = 0;
    loop {
        let (engine, account) = (s.engine.clone(), s.account.clone());
        let work = async move { fetch_pending_mime(&engine, &account, 10_000).await };
        let after = if killed == 0 { 1 } else { 37 };
        let delay = ms(if killed.is_multiple_of(2) { 0 } else { 4 });
        if let Some(result) = killed_after(&s.sim, API, after, delay, work).await {
            fetched += result.expect("the MIME is fetched");
            break;
        }
        killed += 1;
        assert!(killed < 50, "the MIME fetch never finishes");
        other.change(killed, 5, &mut next).await;
        if killed.is_multiple_of(3) {
            s.sync(Mode::Incremental).await;
        }
    }
    assert!(killed >= 5, "only {killed} kills");
    // The last changes, synced, and the MIME of the mail they brought.
    s.sync(Mode::Incremental).await;
    fetched += fetch_pending_mime(&s.engine, &s.account, 10_000).await.unwrap();
    assert!(fetched > 0);
    assert_eq!(s.app.raw_count(COUNT_WITHOUT_RAW).await, 0, "every MIME is in");
    assert_store_matches_sim(&s).await;
    assert_raw_bytes_match_sim(&s).await;
    assert_eq!(s.sync(Mode::Incremental).await, SyncReport::default(), "the MIME changed nothing to sync");
}

/// Every stored message's raw bytes are what Graph's `$value` gives for it, byte for byte.
async fn assert_raw_bytes_match_sim(s: &Setup) {
    // Rows are paired by their row id: an order the same on every database, unlike text
    // collation of the mixed-case ids.
    let mut ids: Vec<(i64, String)> = s
        .app
        .raw_strings("SELECT CAST(id AS TEXT) || ' ' || remote_id FROM messages")
        .await
        .into_iter()
        .map(|row| {
            let (id, remote) = row.split_once(' ').unwrap();
            (id.parse().unwrap(), remote.to_owned())
        })
        .collect();
    ids.sort();
    let raws =
        s.app.raw_bytes("SELECT r.raw FROM messages m JOIN message_raw r ON r.message_id = m.id ORDER BY m.id").await;
    assert_eq!(ids.len(), raws.len());
    let token = s.engine.tokens.access_token(&s.account).await.unwrap();
    let http = reqwest::Client::new();
    for ((_, remote_id), raw) in ids.iter().zip(&raws) {
        let url = format!("{}{API}me/messages/{remote_id}/$value", s.sim.base_url());
        let response = http.get(url).bearer_auth(token.expose_secret()).send().await.unwrap();
        assert!(response.status().is_success(), "$value of {remote_id}: {}", response.status());
        let value = response.bytes().await.unwrap();
        assert!(
            raw.as_slice() == value.as_ref(),
            "message {remote_id} is stored with other bytes ({} for {})",
            raw.len(),
            value.len()
        );
    }
}

/// Graph allows a fiftieth of the requests Mailroom is set to (another app of the tenant spends
/// the rest, or Microsoft throttles the mailbox): the pacer learns the rate from the 429s, honours
/// each `Retry-After`, and the sync and the MIME fetch finish with few requests refused once it
/// has. Both sides count over two seconds instead of ten minutes, so that the test takes seconds.
async fn a_request_rate_at_a_fiftieth_of_the_limit_is_learned_and_the_mime_fetch_finishes(backend: Backend) {
    const RATE: u32 = 80;
    let window = std::time::Duration::from_secs(2);
    let config = SimConfig { graph_requests_per_10_minutes: RATE, graph_quota_window: window, ..SimConfig::default() };
    let limits = Limits { graph_requests_per_window: RATE * 50, graph_window: window, ..quick_limits() };
    let Some(s) = setup_with(backend, config, limits).await else { return };
    let report = s.sync(Mode::Incremental).await;
    assert_eq!(report.imported, TOTAL);
    assert_store_matches_sim(&s).await;
    // Every message's MIME: what is fetched after the rate is learned must be enough to show the
    // learned pace holds, however late the first refusal came on a busy machine.
    let mut fetched = 0;
    loop {
        let chunk = fetch_pending_mime(&s.engine, &s.account, 50).await.expect("the MIME is fetched");
        if chunk == 0 {
            break;
        }
        fetched += chunk;
    }
    assert!(fetched >= 200, "{fetched} messages' MIME fetched");
    let left = s.engine.store.messages_without_raw(s.account.id, 10).await.unwrap();
    assert!(left.is_empty(), "messages are left without MIME: {left:?}");
    let learned = s.engine.pacing.learned(s.account.id).expect("a rate below the limit was learned");
    // Halved at each throttling, towards what Graph accepted; the Retry-After pauses do the rest,
    // so how far it fell depends on how often Graph had to say so.
    assert!(learned.rate < RATE * 50 / 2, "{learned:?}");
    let log: Vec<(i64, bool)> = s
        .sim
        .state
        .world()
        .log
        .iter()
        .filter(|e| e.path.starts_with(API))
        .map(|e| (e.at_ms, e.status == 429))
        .collect();
    let first = log.iter().find(|(_, throttled)| *throttled).map(|(at, _)| *at).expect("Graph throttled");
    let after: Vec<bool> = log.iter().filter(|(at, _)| *at >= first + 2000).map(|(_, t)| *t).collect();
    let throttled = after.iter().filter(|t| **t).count();
    assert!(after.len() > 100, "the fetch went on after learning: {} requests", after.len());
    assert!(throttled * 20 < after.len(), "{throttled} of {} requests throttled after learning", after.len());
}
