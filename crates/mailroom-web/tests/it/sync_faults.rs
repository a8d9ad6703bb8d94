//! Gmail sync when things go wrong: server errors, rate limits, dropped connections and latency
//! from the simulator; the engine killed at any request and started again; and the whole real
//! corpus. Each test ends with the store compared with the simulator's mailbox, message for
//! message: ids, threads, labels, read and starred flags.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use mailroom_providers::Providers;
use mailroom_sim::{Faults, RunningSim, SimConfig, seed};
use mailroom_store::Account;
use mailroom_sync::{AccessTokens, Engine, Limits, Mode, Pacing, Progress, SyncReport, sync_gmail};
use serde_json::{Value, json};

use crate::connect::connect;
use crate::harness::{Backend, TestApp, shared_file, sim_endpoints};
use crate::kill::{self, kill_until_finished, killed_after, ms};

crate::on_both_databases!(sync_faults:
    an_import_and_later_changes_converge_through_server_errors_and_rate_limits,
    a_sync_killed_at_any_request_and_run_again_loses_and_duplicates_nothing,
    the_whole_corpus_imports_with_its_raw_bytes_and_broken_mail_is_kept,
    a_quota_at_a_fiftieth_of_the_setting_is_learned_and_the_import_finishes,
    an_import_cut_off_halfway_fetches_only_what_it_had_not_stored,
    a_quota_that_answers_nothing_for_long_stops_the_run_and_the_next_one_finishes,
);

const ANN: &str = "ann@example.test";

struct Setup {
    app: TestApp,
    sim: RunningSim,
    engine: Engine,
    account: Account,
    /// The user labels of the mailbox, by name.
    labels: BTreeMap<&'static str, String>,
}

/// Google asks for backoffs from a second up; these tests shorten them so that dozens of retries
/// take milliseconds. A `Retry-After` the simulator sends (with its 503s) is still honoured.
fn quick_limits() -> Limits {
    Limits { backoff_base: ms(2), backoff_cap: ms(20), ..Limits::default() }
}

async fn setup(backend: Backend, sim: SimConfig, limits: Limits) -> Option<Setup> {
    let config = SimConfig { auto_consent: true, ..sim };
    let (app, sim) = TestApp::start_with_sim_config(backend, config, |_| {}).await?;
    let (ann, mut browser) = app.member(ANN, "member password 1").await;
    connect(&mut browser, "google").await.assert_redirect("/accounts?notice=account_connected");
    let account = app.store.accounts_of(ann.id).await.unwrap().remove(0);
    let providers = Arc::new(Providers::new(sim_endpoints(&sim)));
    let tokens =
        AccessTokens::new(app.store.clone(), providers.clone(), "http://mailroom.test/oauth/callback".to_owned());
    let engine = Engine { store: app.store.clone(), providers, tokens, pacing: Pacing::new(limits) };
    let labels = {
        let mut world = sim.state.world();
        let mailbox = world.gmail(ANN).unwrap();
        ["Projects", "Receipts", "Family"]
            .into_iter()
            .map(|name| {
                let label = mailbox
                    .create_label(mailroom_sim::gmail::Label {
                        id: String::new(),
                        name: name.to_owned(),
                        system: false,
                        message_list_visibility: "show".to_owned(),
                        label_list_visibility: "labelShow".to_owned(),
                        color: None,
                    })
                    .unwrap_or_else(|_| panic!("label {name}"));
                (name, label.id)
            })
            .collect()
    };
    // Only the sync's requests are counted.
    sim.state.world().log.clear();
    Some(Setup { app, sim, engine, account, labels })
}

/// Message `n`: every third starts a conversation, the next two reply to it, so the mailbox has
/// threads of one message and of several.
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
        "From: Sender {n} <s{n}@example.org>\r\nTo: ann@example.test\r\nSubject: {subject}\r\n\
         Message-ID: <m{n}@example.org>\r\n{reply}Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\nBody {n}\r\n"
    )
    .into_bytes()
}

/// The labels message `n` is delivered with: a mix of read and unread, starred, important, user
/// labels, archived and spam.
fn labels_of(s: &Setup, n: usize) -> Vec<String> {
    let mut labels = Vec::new();
    match n % 17 {
        0 => labels.push("SPAM".to_owned()),
        5 | 11 => {}
        _ => labels.push("INBOX".to_owned()),
    }
    if n.is_multiple_of(2) {
        labels.push("UNREAD".to_owned());
    }
    if n.is_multiple_of(5) {
        labels.push("STARRED".to_owned());
    }
    if n.is_multiple_of(7) {
        labels.push("IMPORTANT".to_owned());
    }
    if let Some(name) = ["Projects", "Receipts", "Family"].get(n % 4) {
        labels.push(s.labels[name].clone());
    }
    labels
}

/// Delivers messages `from..from + count`, newest last, a minute apart.
fn fill(s: &Setup, from: usize, count: usize) {
    let now = s.sim.state.clock().now_ms();
    let mut world = s.sim.state.world();
    let mailbox = world.gmail(ANN).unwrap();
    for n in from..from + count {
        let labels = labels_of(s, n);
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let age = i64::try_from(from + count - n).unwrap() * 60_000;
        mailbox.deliver(mail(n), &labels, now - age);
    }
}

/// Another client of the same mailbox (the Gmail web app, a phone), through the simulator's
/// control API.
struct Other {
    http: reqwest::Client,
    base: String,
}

impl Other {
    fn of(s: &Setup) -> Other {
        Other { http: reqwest::Client::new(), base: s.sim.base_url() }
    }

    async fn post(&self, path: &str, body: Value) {
        let response = self.http.post(format!("{}{path}", self.base)).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
    }

    async fn modify(&self, id: &str, add: &[&str], remove: &[&str]) {
        let body = json!({"id": id, "addLabelIds": add, "removeLabelIds": remove});
        self.post(&format!("/_sim/gmail/{ANN}/modify"), body).await;
    }

    async fn trash(&self, id: &str) {
        self.post(&format!("/_sim/gmail/{ANN}/trash"), json!({"id": id})).await;
    }

    async fn delete(&self, id: &str) {
        self.post(&format!("/_sim/gmail/{ANN}/delete"), json!({"id": id})).await;
    }

    async fn deliver(&self, n: usize) {
        let raw = String::from_utf8(mail(n)).unwrap();
        self.post(&format!("/_sim/users/{ANN}/messages"), json!({"raw": raw, "labels": ["INBOX", "UNREAD"]})).await;
    }

    /// The mailbox as the simulator holds it.
    async fn state(&self) -> Value {
        self.http.get(format!("{}/_sim/gmail/{ANN}", self.base)).send().await.unwrap().json().await.unwrap()
    }

    /// The ids of the mailbox's messages, sorted.
    async fn ids(&self) -> Vec<String> {
        let state = self.state().await;
        let mut ids: Vec<String> =
            state["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
        ids.sort();
        ids
    }

    /// A round of changes to `count` different messages picked by `round`: labels added and
    /// removed, read, starred, trashed, deleted, and new mail delivered (numbered from `next`).
    async fn change(&self, s: &Setup, round: usize, count: usize, next: &mut usize) {
        let ids = self.ids().await;
        assert!(count <= ids.len());
        let projects = s.labels["Projects"].as_str();
        let family = s.labels["Family"].as_str();
        for i in 0..count {
            let id = &ids[(round * 31 + i) % ids.len()];
            match i % 6 {
                0 => self.modify(id, &[projects, "STARRED"], &["UNREAD"]).await,
                1 => self.modify(id, &["UNREAD"], &["INBOX", "STARRED"]).await,
                2 => self.modify(id, &[family], &[projects]).await,
                3 => self.trash(id).await,
                4 => self.delete(id).await,
                _ => {
                    self.deliver(*next).await;
                    *next += 1;
                }
            }
        }
    }
}

/// A message as the store must hold it, in one line: id, thread, read, starred.
const STORED_MESSAGES: &str = "SELECT remote_id || ' ' || COALESCE(thread_remote_id, '-') || ' ' || \
     CASE WHEN is_read THEN 'read' ELSE 'unread' END || ' ' || \
     CASE WHEN is_starred THEN 'starred' ELSE 'plain' END FROM messages";
const STORED_LABELS: &str = "SELECT m.remote_id || ' ' || f.remote_id FROM message_folders mf \
     JOIN messages m ON m.id = mf.message_id JOIN folders f ON f.id = mf.folder_id";
const DUPLICATE_REMOTE_IDS: &str = "SELECT COUNT(*) FROM (SELECT account_id, remote_id FROM messages \
     GROUP BY account_id, remote_id HAVING COUNT(*) > 1) AS duplicates";
const STORED_MESSAGE_IDS: &str = "SELECT internet_message_id FROM messages WHERE internet_message_id IS NOT NULL";

/// What differs between two sets, both ways, for a readable failure.
fn difference(expected: &BTreeSet<String>, got: &BTreeSet<String>) -> String {
    let missing: Vec<_> = expected.difference(got).take(10).collect();
    let extra: Vec<_> = got.difference(expected).take(10).collect();
    format!("missing from the store: {missing:?}; in the store but not at Gmail: {extra:?}")
}

/// The store holds exactly the simulator's mailbox: the same messages, each once, in the same
/// threads, with the same labels and flags; and no Message-ID more often than Gmail has it.
async fn assert_store_matches_sim(s: &Setup) {
    let state = Other::of(s).state().await;
    let mut messages = BTreeSet::new();
    let mut labels = BTreeSet::new();
    for m in state["messages"].as_array().unwrap() {
        let id = m["id"].as_str().unwrap();
        let ids: Vec<&str> = m["labelIds"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        let read = if ids.contains(&"UNREAD") { "unread" } else { "read" };
        let starred = if ids.contains(&"STARRED") { "starred" } else { "plain" };
        messages.insert(format!("{id} {} {read} {starred}", m["threadId"].as_str().unwrap()));
        // Unread is a flag in the store, not a folder.
        labels.extend(ids.iter().filter(|l| **l != "UNREAD").map(|l| format!("{id} {l}")));
    }
    let stored = s.app.raw_strings(STORED_MESSAGES).await;
    let stored_count = stored.len();
    let stored: BTreeSet<String> = stored.into_iter().collect();
    assert_eq!(stored_count, stored.len(), "a message is stored twice");
    assert_eq!(stored, messages, "{}", difference(&messages, &stored));
    let stored_labels: BTreeSet<String> = s.app.raw_strings(STORED_LABELS).await.into_iter().collect();
    assert_eq!(stored_labels, labels, "{}", difference(&labels, &stored_labels));
    assert_eq!(s.app.raw_count(DUPLICATE_REMOTE_IDS).await, 0, "no (account, remote id) is stored twice");

    let normal = |id: &str| id.trim().trim_matches(['<', '>']).to_owned();
    let mut at_gmail: BTreeMap<String, usize> = BTreeMap::new();
    {
        let mut world = s.sim.state.world();
        for m in world.gmail(ANN).unwrap().messages() {
            if let Some(id) = &m.summary.message_id {
                *at_gmail.entry(normal(id)).or_default() += 1;
            }
        }
    }
    let mut in_store: BTreeMap<String, usize> = BTreeMap::new();
    for id in s.app.raw_strings(STORED_MESSAGE_IDS).await {
        *in_store.entry(normal(&id)).or_default() += 1;
    }
    for (id, count) in in_store {
        let allowed = at_gmail.get(&id).copied().unwrap_or(1);
        assert!(count <= allowed, "Message-ID {id} is stored {count} times, Gmail has it {allowed} times");
    }
}

/// The provider requests the simulator logged since the setup: every try, failed or not.
fn requests(s: &Setup) -> usize {
    kill::requests(&s.sim, "/google/")
}

async fn sync(s: &Setup) -> SyncReport {
    sync_gmail(&s.engine, &s.account, Mode::Incremental, &Progress::new()).await.expect("sync runs")
}

async fn an_import_and_later_changes_converge_through_server_errors_and_rate_limits(backend: Backend) {
    let Some(s) = setup(backend, SimConfig::default(), quick_limits()).await else { return };
    const MESSAGES: usize = 300;
    fill(&s, 0, MESSAGES);
    // One request in ten a server error (half of them 503 with Retry-After: 1), one call in ten
    // refused with Gmail's 429 (in batches, call by call), one connection in fifty dropped, and
    // every request a little late.
    s.sim.state.set_faults(Faults { seed: 11, error_rate: 0.1, rate_limit_rate: 0.1, drop_rate: 0.02, latency_ms: 2 });

    let report = sync(&s).await;
    assert!(report.full);
    assert_eq!(report.imported, MESSAGES);
    assert_store_matches_sim(&s).await;

    // Another client changes the mailbox: 35 messages relabelled, trashed or new, and 7 deleted,
    // which is one page of history and one batch of messages to fetch.
    let other = Other::of(&s);
    let mut next = MESSAGES;
    other.change(&s, 1, 42, &mut next).await;
    let report = sync(&s).await;
    assert!(!report.full, "the changes come from history");
    assert_store_matches_sim(&s).await;

    // Without faults the import is one getProfile, one labels.list, one messages.list page (500
    // ids) and a batch per 50 messages; the changes are one labels.list, one history.list page
    // and one batch. With a fifth of the requests failing, a call takes 1.25 tries on average;
    // a batch of 50 calls with one in ten refused almost always needs a second, small batch and
    // now and then a third, about 2.5 requests in all, or 2.8 with its own failures. That makes
    // about twice the ideal count; four times leaves room for bad luck while still catching
    // retries that multiply (a whole batch asked again for one refused call, retries of
    // retries).
    let ideal = (1 + 1 + MESSAGES.div_ceil(500) + MESSAGES.div_ceil(50)) + (1 + 1 + 1);
    let made = requests(&s);
    assert!(made <= ideal * 4, "{made} requests for an ideal {ideal}");
    // Requests that failed whole, and calls refused inside batches, which answer 200. The
    // batches go out several at a time, so which requests draw which fault varies from run to
    // run; both kinds together are all but certain.
    let (failed, refused) = {
        let world = s.sim.state.world();
        let failed = world.log.iter().filter(|e| e.status >= 400).count();
        let refused = world.log.iter().flat_map(|e| &e.parts).filter(|status| **status >= 400).count();
        (failed, refused)
    };
    assert!(
        failed + refused > 0 && made > ideal,
        "the faults were in force: {failed} requests failed and {refused} calls were refused, of {made} requests"
    );

    // Converged: with the faults gone, nothing is left to fetch.
    s.sim.state.set_faults(Faults::default());
    let again = sync(&s).await;
    assert_eq!((again.imported, again.deleted, again.full), (0, 0, false));
}

/// Kills syncs after 1, 2, 3 ... requests, each killed one followed by changes from another
/// client, until a sync finishes before it is killed. Returns how many were killed.
async fn kill_until_a_sync_finishes(s: &Setup, next: &mut usize) -> usize {
    let other = Other::of(s);
    kill_until_finished(
        async |after, delay| {
            let (engine, account) = (s.engine.clone(), s.account.clone());
            let work = async move { sync_gmail(&engine, &account, Mode::Incremental, &Progress::new()).await };
            killed_after(&s.sim, "/google/", after, delay, work)
                .await
                .map(|result| result.expect("sync runs"))
                .is_some()
        },
        async |killed| other.change(s, killed, 6, next).await,
    )
    .await
}

async fn a_sync_killed_at_any_request_and_run_again_loses_and_duplicates_nothing(backend: Backend) {
    // The import is replayed dozens of times within seconds, far more than a mailbox is synced in
    // a minute: the per-user quota is raised on both sides so that the test does not wait for it.
    let sim = SimConfig {
        gmail_user_units_per_minute: 1_000_000,
        faults: Faults { latency_ms: 2, ..Faults::default() },
        ..SimConfig::default()
    };
    let limits = Limits { gmail_units_per_minute: 1_000_000, ..quick_limits() };
    let Some(s) = setup(backend, sim, limits).await else { return };
    const MESSAGES: usize = 160;
    fill(&s, 0, MESSAGES);
    let mut next = MESSAGES;

    // The initial import: no cursor until it finishes, so every restart imports again.
    let killed = kill_until_a_sync_finishes(&s, &mut next).await;
    // getProfile, labels.list, messages.list and four batches: the first six at least were cut
    // twice each (the last may finish before its kill lands).
    assert!(killed >= 12, "only {killed} kills");
    assert!(s.app.store.sync_cursor(s.account.id, "").await.unwrap().is_some());
    assert_store_matches_sim(&s).await;

    // Changes enough for several pages of history (Gmail gives 100 records a page), then the
    // incremental sync killed the same way.
    let other = Other::of(&s);
    other.change(&s, 100, 100, &mut next).await;
    other.change(&s, 200, 100, &mut next).await;
    let killed = kill_until_a_sync_finishes(&s, &mut next).await;
    // labels.list, two pages of history or more and a batch for each.
    assert!(killed >= 6, "only {killed} kills");
    assert_store_matches_sim(&s).await;

    let again = sync(&s).await;
    assert_eq!((again.imported, again.deleted, again.full), (0, 0, false));
    assert_store_matches_sim(&s).await;
}

async fn the_whole_corpus_imports_with_its_raw_bytes_and_broken_mail_is_kept(backend: Backend) {
    // The corpus costs more quota units than one user may spend in a minute (3,250 messages.get
    // at 5 units against 15,000 a minute): paced to the real quota the test would wait a minute
    // and test nothing more, since the pacing has tests of its own. Both sides allow more.
    let sim = SimConfig { gmail_user_units_per_minute: 1_000_000, ..SimConfig::default() };
    let limits = Limits { gmail_units_per_minute: 1_000_000, ..quick_limits() };
    let Some(mut s) = setup(backend, sim, limits).await else { return };
    let corpus = seed::read_emls(&shared_file("corpora/spamassassin.tar.gz")).unwrap();
    let corpus_size = corpus.len();
    let seeded = seed::seed(&s.sim.state, &[ANN.to_owned()], corpus).unwrap();
    assert_eq!(seeded.messages, corpus_size);
    let broken: [&[u8]; 3] = [
        // Not mail at all.
        b"\xff\xfe\x00\x01\x02 garbage \x80\x81\r\n\xc3\x28",
        // A multipart message cut off in the middle of its first part.
        b"From: a@example.org\r\nSubject: cut\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/pl",
        // Nothing: no parser can read it, and it must still be kept.
        b"",
    ];
    let unreadable = {
        let now = s.sim.state.clock().now_ms();
        let mut world = s.sim.state.world();
        let mailbox = world.gmail(ANN).unwrap();
        let ids: Vec<String> = broken.iter().map(|raw| mailbox.deliver(raw.to_vec(), &["INBOX"], now)).collect();
        ids[2].clone()
    };
    // The seeder spreads the corpus an hour apart over months: the whole mailbox is imported.
    s.account.import_days = 0;

    let report = sync(&s).await;
    assert_eq!(report.imported, corpus_size + broken.len());

    let expected: BTreeMap<String, Vec<u8>> = {
        let mut world = s.sim.state.world();
        world.gmail(ANN).unwrap().messages().map(|m| (m.id.clone(), m.raw.clone())).collect()
    };
    // `raw_strings` sorts; Gmail's ids are lowercase hexadecimal, so every collation orders them alike.
    let ids = s.app.raw_strings("SELECT remote_id FROM messages").await;
    let raws = s
        .app
        .raw_bytes("SELECT r.raw FROM messages m JOIN message_raw r ON r.message_id = m.id ORDER BY m.remote_id")
        .await;
    assert_eq!(ids.len(), expected.len(), "every message is stored, once");
    let stored: BTreeMap<String, Vec<u8>> = ids.into_iter().zip(raws).collect();
    assert_eq!(stored.len(), expected.len(), "no message is stored twice");
    for (id, raw) in &expected {
        let kept = stored.get(id).unwrap_or_else(|| panic!("message {id} is missing"));
        assert!(kept == raw, "message {id} is stored with other bytes ({} for {})", kept.len(), raw.len());
    }
    let failed: Vec<String> = s.app.raw_strings("SELECT remote_id FROM messages WHERE parse_failed").await;
    assert_eq!(failed, [unreadable], "only the message nothing can read is marked, and it is kept");
}

/// The calls of the sim's log since `from`: (when, refused for the rate), a batch counting as its
/// calls (Google counts each), other requests as one.
fn calls_since(s: &Setup, from: usize) -> Vec<(i64, bool)> {
    let world = s.sim.state.world();
    world.log[from..]
        .iter()
        .filter(|e| e.path.contains("/google/"))
        .flat_map(|e| {
            let statuses = if e.parts.is_empty() { vec![e.status] } else { e.parts.clone() };
            statuses.into_iter().map(move |status| (e.at_ms, status == 429))
        })
        .collect()
}

fn fetches_since(s: &Setup, from: usize) -> usize {
    kill::gmail_fetches_since(&s.sim, from)
}

/// Gmail allows a fiftieth of what Mailroom is set to (another project's quota table, a quota
/// Google lowered): the pacer learns the real rate from the refusals, and a first import and a
/// full resync both finish, with few calls refused once it has. Both sides count their quota
/// over two seconds instead of a minute, so that minutes of pacing take seconds (long enough that
/// a loaded machine's delays stay small beside the window).
async fn a_quota_at_a_fiftieth_of_the_setting_is_learned_and_the_import_finishes(backend: Backend) {
    const QUOTA: u32 = 200;
    let window = std::time::Duration::from_secs(2);
    let sim = SimConfig { gmail_user_units_per_minute: QUOTA, gmail_quota_window: window, ..SimConfig::default() };
    let limits = Limits { gmail_units_per_minute: QUOTA * 50, gmail_window: window, ..quick_limits() };
    let Some(s) = setup(backend, sim, limits).await else { return };
    const MESSAGES: usize = 120;
    fill(&s, 0, MESSAGES);

    let report = sync(&s).await;
    assert_eq!((report.imported, report.kind), (MESSAGES, mailroom_store::RunKind::FirstImport));
    assert_store_matches_sim(&s).await;
    let learned = s.engine.pacing.learned(s.account.id).expect("a rate below the setting was learned");
    // Far below the setting, near what Gmail allows or under it (how far under depends on the
    // machine's delays when the refusals came; the benchmark measures the pace).
    assert!(learned.rate <= QUOTA * 2, "{learned:?}");
    // A full resync of the unchanged mailbox under the same quota: ids and labels are compared,
    // no message is fetched again, nothing changes, and it finishes.
    let from = s.sim.state.world().log.len();
    let report = sync_gmail(&s.engine, &s.account, Mode::Full, &Progress::new()).await.expect("the resync runs");
    assert_eq!(report.kind, mailroom_store::RunKind::FullResync);
    assert_eq!(report.applied, mailroom_store::Applied::default(), "nothing changed");
    assert_eq!(fetches_since(&s, from), 0, "no message was fetched again");
    // Once the rate is learned (a window after the first refusal), the rest of the import and
    // the resync have almost nothing refused.
    let calls = calls_since(&s, 0);
    let first_refusal = calls.iter().find(|(_, refused)| *refused).map(|(at, _)| *at).expect("the quota refused");
    let after: Vec<bool> = calls.iter().filter(|(at, _)| *at >= first_refusal + 2000).map(|(_, r)| *r).collect();
    let refused = after.iter().filter(|r| **r).count();
    assert!(after.len() > 100, "the import went on after learning: {} calls", after.len());
    assert!(refused * 20 < after.len(), "{refused} of {} calls refused after the rate was learned", after.len());
    assert_store_matches_sim(&s).await;
}

/// An import cut off halfway (the process killed) goes on where it stopped: the next run fetches
/// only the messages the store does not have, and nothing is stored twice.
async fn an_import_cut_off_halfway_fetches_only_what_it_had_not_stored(backend: Backend) {
    // One batch of 50 at a time, each 50 ms away, and the quota raised on both sides: the import
    // takes about half a second, so that the cut lands midway even on a loaded machine.
    let sim = SimConfig {
        gmail_user_units_per_minute: 1_000_000,
        faults: Faults { latency_ms: 50, ..Faults::default() },
        ..SimConfig::default()
    };
    let limits = Limits { gmail_units_per_minute: 1_000_000, gmail_in_flight: 1, ..quick_limits() };
    let Some(s) = setup(backend, sim, limits).await else { return };
    const MESSAGES: usize = 400;
    fill(&s, 0, MESSAGES);
    let (engine, account) = (s.engine.clone(), s.account.clone());
    let task = tokio::spawn(async move { sync_gmail(&engine, &account, Mode::Incremental, &Progress::new()).await });
    let store = s.app.store.clone();
    loop {
        let stored = store.message_count(s.account.id).await.unwrap();
        assert!(!task.is_finished(), "the import ended before it was cut off");
        if stored >= 60 {
            break;
        }
        tokio::time::sleep(ms(2)).await;
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // A COMMIT already sent when the task was dropped still lands (PostgreSQL finishes it): the
    // count is read once it has settled.
    let mut stored = store.message_count(s.account.id).await.unwrap();
    loop {
        tokio::time::sleep(ms(200)).await;
        let now = store.message_count(s.account.id).await.unwrap();
        if now == stored {
            break;
        }
        stored = now;
    }
    let stored = usize::try_from(stored).unwrap();
    assert!(stored < MESSAGES && s.app.store.sync_cursor(s.account.id, "").await.unwrap().is_none());

    let from = s.sim.state.world().log.len();
    let report = sync(&s).await;
    assert_eq!(report.kind, mailroom_store::RunKind::FirstImport);
    assert_eq!(fetches_since(&s, from), MESSAGES - stored, "only what was not stored is fetched");
    assert_eq!(report.applied.added, MESSAGES - stored);
    assert_store_matches_sim(&s).await;
}

/// A quota spent by someone else with nothing answered for `give_up_after`: the run stops with
/// the refusal rather than asking for ever, and keeps what it had; the next run, once Gmail
/// allows it again, brings the rest.
async fn a_quota_that_answers_nothing_for_long_stops_the_run_and_the_next_one_finishes(backend: Backend) {
    let window = std::time::Duration::from_secs(1);
    // Enough for getProfile and labels.list, never for a messages.list.
    let sim = SimConfig { gmail_user_units_per_minute: 4, gmail_quota_window: window, ..SimConfig::default() };
    let limits = Limits {
        gmail_units_per_minute: 5_000,
        gmail_window: window,
        give_up_after: std::time::Duration::from_secs(3),
        ..quick_limits()
    };
    let Some(s) = setup(backend, sim, limits).await else { return };
    fill(&s, 0, 20);
    let result = sync_gmail(&s.engine, &s.account, Mode::Incremental, &Progress::new()).await;
    assert!(
        matches!(result, Err(mailroom_sync::SyncError::Api(mailroom_providers::ApiError::RateLimited { .. }))),
        "{result:?}"
    );
    // Refused calls were tried again at the learned pace, not hammered.
    let tries = calls_since(&s, 0).len();
    assert!(tries < 40, "{tries} calls in three seconds");
    assert!(s.app.store.sync_cursor(s.account.id, "").await.unwrap().is_none(), "nothing is taken as done");

    let mut quotas = s.sim.state.quotas();
    quotas.gmail_user_units_per_minute = 15_000;
    s.sim.state.set_quotas(quotas);
    let report = sync(&s).await;
    assert_eq!((report.imported, report.full), (20, true));
    assert_store_matches_sim(&s).await;
}
