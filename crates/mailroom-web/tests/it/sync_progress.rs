//! What the Mailboxes page and the sync log tell of a sync as it goes: the phases with a count
//! that moves, the waits on a provider's rate limit with the time they end, the first import named
//! as such, a "Sync now" followed to its own run and result, and a finished import shown as
//! finished.

use std::sync::Arc;
use std::time::Duration;

use mailroom_providers::Providers;
use mailroom_sim::{Faults, RunningSim, SimConfig};
use mailroom_store::{Account, RunMode, RunOutcome, RunProgress, RunTrigger};
use mailroom_sync::{AccessTokens, Engine, Limits, Pacing, Scheduler, SchedulerConfig};

use crate::connect::connect;
use crate::harness::{Backend, Client, Page, TestApp, sim_endpoints};

crate::on_both_databases!(sync_progress:
    a_small_import_shows_it_finished_and_names_the_first_import,
    a_run_left_by_a_process_that_died_is_not_shown_as_starting,
    an_import_tells_its_phases_as_it_goes,
    an_import_paced_to_gmails_limit_says_it_waits_and_until_when,
    an_outlook_import_throttled_by_graph_says_it_waits_and_until_when,
    sync_now_is_followed_to_its_own_run_and_result,
    sync_now_on_outlook_is_one_run_and_the_page_shows_it,
);

const ANN: &str = "ann@example.test";
const CARL: &str = "carl@contoso.onmicrosoft.com";

fn mail(n: usize) -> Vec<u8> {
    format!("From: Sender {n} <s{n}@example.org>\r\nTo: ann@example.test\r\nSubject: Message {n}\r\nMessage-ID: <p{n}@example.org>\r\n\r\nBody {n}\r\n").into_bytes()
}

struct Setup {
    app: TestApp,
    sim: RunningSim,
    browser: Client,
    account: Account,
}

/// Ann with `messages` messages in her Gmail (or Carl in his Outlook), connected; no scheduler.
async fn setup(backend: Backend, sim: SimConfig, provider: &str, messages: usize) -> Option<Setup> {
    let config = SimConfig { auto_consent: true, ..sim };
    let (app, sim) = TestApp::start_with_sim_config(backend, config, |_| {}).await?;
    {
        let now = sim.state.clock().now_ms();
        let mut world = sim.state.world();
        for n in 0..messages {
            let at = now - i64::try_from(n).unwrap() * 60_000;
            if provider == "google" {
                world.gmail(ANN).unwrap().deliver(mail(n), &["INBOX", "UNREAD"], at);
            } else {
                world.graph(CARL).unwrap().deliver(mail(n), "inbox", at);
            }
        }
    }
    let (ann, mut browser) = app.member(ANN, "member password 1").await;
    connect(&mut browser, provider).await.assert_redirect("/accounts?notice=account_connected");
    let account = app.store.accounts_of(ann.id).await.unwrap().remove(0);
    Some(Setup { app, sim, browser, account })
}

fn start_scheduler(s: &Setup, limits: Limits) -> tokio::task::JoinHandle<()> {
    let providers = Arc::new(Providers::new(sim_endpoints(&s.sim)));
    let tokens =
        AccessTokens::new(s.app.store.clone(), providers.clone(), "http://mailroom.test/oauth/callback".into());
    let engine = Engine { store: s.app.store.clone(), providers, tokens, pacing: Pacing::new(limits) };
    let config = SchedulerConfig {
        owner: "this-process".to_owned(),
        tick: Duration::from_millis(50),
        ..SchedulerConfig::new(2)
    };
    tokio::spawn(Scheduler::new(engine, config, s.app.sync_wake.clone()).run(std::future::pending()))
}

/// The sync column's text, tags taken out, spaces folded.
fn sync_state(page: &Page) -> String {
    let cell = page.body.split("class=\"sync-state\"").nth(1).and_then(|c| c.split("</td>").next()).unwrap_or("");
    let mut text = String::new();
    let mut in_tag = false;
    for c in cell.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace("&#39;", "'")
}

/// Reads the Mailboxes page as its script does while a run goes on (every 2 s there; here more
/// often), until it stops refreshing; returns every different sync text it showed, in order, and
/// the last page.
async fn follow(s: &mut Setup, every: Duration) -> (Vec<String>, Page) {
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..3000 {
        let page = s.browser.get("/accounts").await;
        let text = sync_state(&page);
        if seen.last() != Some(&text) {
            seen.push(text);
        }
        let runs = s.app.store.runs_of(s.account.id, 10).await.unwrap();
        if !page.body.contains("data-refresh") && !runs.is_empty() && runs.iter().all(|r| r.outcome.is_some()) {
            return (seen, page);
        }
        tokio::time::sleep(every).await;
    }
    panic!("the page never stopped refreshing: {seen:?}");
}

async fn a_small_import_shows_it_finished_and_names_the_first_import(backend: Backend) {
    let Some(mut s) = setup(backend, SimConfig::default(), "google", 5).await else { return };
    let _scheduler = start_scheduler(&s, Limits::default());
    let (seen, page) = follow(&mut s, Duration::from_millis(20)).await;
    // Done is done: the page says so, names the import, and stops refreshing.
    let last = seen.last().unwrap();
    assert!(last.starts_with("First import Succeeded"), "{seen:?}");
    assert!(last.contains("5 new, 0 changed, 0 removed"), "{seen:?}");
    page.assert_lacks("Starting").assert_lacks("so far").assert_lacks("data-refresh");
    // However early the page was read, it never said the import was starting with nothing done
    // once it had been named.
    let named = seen.iter().position(|t| t.starts_with("First import")).expect("the first import was named");
    assert!(seen[named..].iter().all(|t| !t.contains("Starting")), "{seen:?}");

    // The sync log names the first import; a later run asked for is the changes.
    s.sim.state.world().gmail(ANN).unwrap().deliver(mail(99), &["INBOX", "UNREAD"], s.sim.state.clock().now_ms());
    let action = format!("/accounts/{}/sync", s.account.id);
    s.browser.submit("/accounts", &action, &[("mode", "now")]).await.assert_redirect("/accounts?notice=sync_requested");
    let mut shown = String::new();
    for _ in 0..600 {
        let page = s.browser.get("/accounts").await;
        shown = sync_state(&page);
        if !page.body.contains("data-refresh") && shown.starts_with("Sync now") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(shown.starts_with("Sync now Succeeded") && shown.contains("1 new, 0 changed"), "{shown}");
    let log = s.browser.get(&format!("/accounts/{}/sync-log", s.account.id)).await;
    log.assert_contains("First import (automatic)").assert_contains("Changes (asked for)");
    assert_eq!(log.body.matches("First import").count(), 1, "only the first run was the first import");
    log.assert_lacks("data-refresh");
}

async fn a_run_left_by_a_process_that_died_is_not_shown_as_starting(backend: Backend) {
    let Some(mut s) = setup(backend, SimConfig::default(), "google", 1).await else { return };
    let store = &s.app.store;
    // A process claimed the new account and recorded a run, then died: its lease ran out.
    let now = mailroom_store::now();
    let claim = store.claim_due_sync("gone", now - 100, now - 70).await.unwrap().expect("due");
    assert_eq!(claim.account, s.account.id);
    store.start_run(s.account.id, RunMode::Incremental, RunTrigger::Schedule, now - 100).await.unwrap();
    let page = s.browser.get("/accounts").await;
    let text = sync_state(&page);
    assert!(text.starts_with("Interrupted"), "{text}");
    page.assert_lacks("Starting").assert_lacks("data-refresh");

    // While a live process holds the account, the same open run is one going on.
    let now = mailroom_store::now();
    let claim = store.claim_due_sync("alive", now, now + 30).await.unwrap().expect("the lease ran out");
    let run = store.start_run(claim.account, RunMode::Incremental, RunTrigger::Schedule, now).await.unwrap();
    store.update_run(run, RunProgress { phase: "listing", ..RunProgress::default() }).await.unwrap();
    let page = s.browser.get("/accounts").await;
    assert_eq!(sync_state(&page), "Listing folders and labels Sync log");
    page.assert_contains("data-refresh");
}

async fn an_import_tells_its_phases_as_it_goes(backend: Backend) {
    // Each call takes 300 ms, so that every phase lasts long enough to be read.
    let sim = SimConfig { faults: Faults { latency_ms: 300, ..Faults::default() }, ..SimConfig::default() };
    let Some(mut s) = setup(backend, sim, "google", 120).await else { return };
    let _scheduler = start_scheduler(&s, Limits::default());
    let (seen, _) = follow(&mut s, Duration::from_millis(20)).await;
    let listing = seen.iter().position(|t| t == "First import Listing folders and labels Sync log");
    let importing =
        seen.iter().position(|t| t.starts_with("First import Importing: ") && t.contains("of about 120 messages"));
    let done = seen.iter().position(|t| t.starts_with("First import Succeeded"));
    assert!(listing.is_some() && importing.is_some() && done.is_some(), "{seen:?}");
    assert!(listing < importing && importing < done, "in order: {seen:?}");
    // The count moved while the messages came, a batch of 50 at a time.
    let counts: Vec<&String> =
        seen.iter().filter(|t| t.contains("Importing: ") && !t.contains("Importing: 0 ")).collect();
    assert!(!counts.is_empty(), "{seen:?}");
}

/// Whether the texts include the wait on `provider`'s rate limit with a time in seconds.
fn waited(seen: &[String], prefix: &str) -> bool {
    seen.iter().any(|t| {
        t.split(prefix).nth(1).is_some_and(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            !digits.is_empty() && rest[digits.len()..].starts_with(" s")
        })
    })
}

async fn an_import_paced_to_gmails_limit_says_it_waits_and_until_when(backend: Backend) {
    // Mailroom allows itself 100 units in every 3 s: 40 messages (200 units) wait for the
    // window twice or more.
    let Some(mut s) = setup(backend, SimConfig::default(), "google", 40).await else { return };
    let limits = Limits { gmail_units_per_minute: 100, gmail_window: Duration::from_secs(3), ..Limits::default() };
    let _scheduler = start_scheduler(&s, limits);
    let (seen, page) = follow(&mut s, Duration::from_millis(100)).await;
    assert!(waited(&seen, "Waiting for Gmail's rate limit, resumes in "), "{seen:?}");
    // The wait goes with the import's count, and ends with the run.
    assert!(seen.iter().any(|t| t.contains("Importing: ") && t.contains("Waiting for Gmail's rate limit")), "{seen:?}");
    page.assert_lacks("Waiting for");
    assert!(seen.last().unwrap().contains("40 new"), "{seen:?}");
    let run = s.app.store.runs_of(s.account.id, 1).await.unwrap().remove(0);
    assert_eq!((run.outcome, run.waiting_until, run.estimate_at), (Some(RunOutcome::Succeeded), None, None));
}

async fn an_outlook_import_throttled_by_graph_says_it_waits_and_until_when(backend: Backend) {
    // Graph allows the mailbox 6 requests in 5 s and answers the rest 429 with Retry-After.
    let sim = SimConfig {
        graph_requests_per_10_minutes: 6,
        graph_quota_window: Duration::from_secs(5),
        ..SimConfig::default()
    };
    let Some(mut s) = setup(backend, sim, "microsoft", 5).await else { return };
    let _scheduler = start_scheduler(&s, Limits::default());
    let (seen, _) = follow(&mut s, Duration::from_millis(100)).await;
    assert!(waited(&seen, "Waiting for Outlook's rate limit (Microsoft Graph), resumes in "), "{seen:?}");
    assert!(seen.last().unwrap().starts_with("First import Succeeded"), "{seen:?}");
}

async fn sync_now_is_followed_to_its_own_run_and_result(backend: Backend) {
    // No scheduler: the store's bookkeeping is driven by hand, as the scheduler would.
    let Some(mut s) = setup(backend, SimConfig::default(), "google", 1).await else { return };
    let (store, id) = (s.app.store.clone(), s.account.id);
    let finish = |added: i64| RunProgress { phase: "done", added, ..RunProgress::default() };
    let now = mailroom_store::now();
    let first = store.claim_due_sync("p", now, now + 30).await.unwrap().unwrap();
    let run = store.start_run_for(id, RunMode::Incremental, RunTrigger::Schedule, None, now).await.unwrap();
    store.finish_run(run, finish(5), RunOutcome::Succeeded, None, now).await.unwrap();
    store.release_sync(&first, "p", now + 300, true).await.unwrap();
    let page = s.browser.get("/accounts").await;
    assert!(sync_state(&page).contains("5 new"), "{}", sync_state(&page));

    // Asked for: the earlier run's result is not the answer.
    let action = format!("/accounts/{id}/sync");
    s.browser.submit("/accounts", &action, &[("mode", "now")]).await.assert_redirect("/accounts?notice=sync_requested");
    let page = s.browser.get("/accounts").await;
    assert_eq!(sync_state(&page), "Waiting to start Sync log");
    page.assert_contains("data-refresh");

    // The run that serves it is shown as it goes, named for the request.
    let claim = store.claim_due_sync("p", now + 1, now + 31).await.unwrap().expect("the request is due");
    assert_eq!(claim.requested, Some(RunMode::Incremental));
    let run =
        store.start_run_for(id, RunMode::Incremental, RunTrigger::Manual, Some(claim.request_seq), now).await.unwrap();
    store.update_run(run, RunProgress { phase: "changes", imported: 1, ..RunProgress::default() }).await.unwrap();
    assert_eq!(sync_state(&s.browser.get("/accounts").await), "Sync now Fetching changes: 1 message so far Sync log");

    // Its run is over though the account is not released yet (an Outlook claim goes on fetching
    // MIME): the page shows that run's result, not "Waiting to start".
    store.finish_run(run, finish(1), RunOutcome::Succeeded, None, now + 2).await.unwrap();
    let page = s.browser.get("/accounts").await;
    let text = sync_state(&page);
    assert!(text.starts_with("Sync now Succeeded") && text.contains("1 new"), "{text}");
    page.assert_lacks("data-refresh");
    store.release_sync(&claim, "p", now + 300, true).await.unwrap();
    assert_eq!(sync_state(&s.browser.get("/accounts").await), text);

    // Asked for while a scheduled run goes on: that run is shown, and that the request waits for it.
    let scheduled = store.claim_due_sync("p", now + 300, now + 330).await.unwrap().expect("due");
    assert_eq!(scheduled.requested, None);
    let run = store.start_run_for(id, RunMode::Incremental, RunTrigger::Schedule, None, now + 300).await.unwrap();
    store.update_run(run, RunProgress { phase: "changes", ..RunProgress::default() }).await.unwrap();
    s.browser.submit("/accounts", &action, &[("mode", "now")]).await;
    let text = sync_state(&s.browser.get("/accounts").await);
    assert_eq!(text, "Fetching changes: 0 messages so far Your sync starts when this run ends. Sync log");
    // When it ends, the request still waits for its own run.
    store.finish_run(run, finish(0), RunOutcome::Succeeded, None, now + 301).await.unwrap();
    assert_eq!(sync_state(&s.browser.get("/accounts").await), "Waiting to start Sync log");
    // The next claim serves it, though another process made it.
    store.release_sync(&scheduled, "p", now + 600, true).await.unwrap();
    assert!(store.sync_requested_after(id, scheduled.request_seq).await.unwrap(), "asked for after the claim");
    let served = store.claim_due_sync("q", now + 302, now + 332).await.unwrap().expect("the request is due");
    assert!(!store.sync_requested_after(id, served.request_seq).await.unwrap(), "the claim serves the request");
}

async fn sync_now_on_outlook_is_one_run_and_the_page_shows_it(backend: Backend) {
    // After an Outlook run the claim goes on fetching MIME; the request it served, still recorded
    // until the account is released, once made it stop and start another run at once.
    let Some(mut s) = setup(backend, SimConfig::default(), "microsoft", 3).await else { return };
    let _scheduler = start_scheduler(&s, Limits::default());
    let (seen, _) = follow(&mut s, Duration::from_millis(20)).await;
    assert!(seen.last().unwrap().starts_with("First import Succeeded"), "{seen:?}");
    s.sim.state.world().graph(CARL).unwrap().deliver(mail(50), "inbox", s.sim.state.clock().now_ms());
    let action = format!("/accounts/{}/sync", s.account.id);
    s.browser.submit("/accounts", &action, &[("mode", "now")]).await.assert_redirect("/accounts?notice=sync_requested");
    let mut shown = String::new();
    for _ in 0..600 {
        let page = s.browser.get("/accounts").await;
        shown = sync_state(&page);
        if !page.body.contains("data-refresh") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(shown.starts_with("Sync now Succeeded") && shown.contains("1 new"), "{shown}");
    // The scheduler looks at the schedule every 50 ms here: a run due at once would have begun.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let runs = s.app.store.runs_of(s.account.id, 10).await.unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(s.app.store.sync_requested(s.account.id).await.unwrap(), None, "the request was served");
    assert_eq!(sync_state(&s.browser.get("/accounts").await), shown);
}
