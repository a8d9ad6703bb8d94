//! The sync engine as users meet it: the scheduler syncing new accounts by itself, "Sync now" and
//! "Full resync" from the accounts page, the recorded runs and the sync log, the change feed, and
//! the lease that lets one process at a time sync an account.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use mailroom_domain::AccountStatus;
use mailroom_providers::Providers;
use mailroom_store::{Account, EventKind, RunKind, RunMode, RunOutcome, RunTrigger, SyncRun};
use mailroom_sync::{AccessTokens, Engine, Limits, Mode, Pacing, Progress, Scheduler, SchedulerConfig};

use crate::connect::connect;
use crate::harness::{Backend, Client, TestApp, sim_endpoints};

crate::on_both_databases!(sync_engine:
    a_new_account_syncs_by_itself_and_sync_now_brings_new_mail,
    a_full_resync_lists_everything_again_and_the_change_feed_tells_only_real_changes,
    only_the_owner_may_ask_for_a_sync_or_read_its_log,
    one_process_at_a_time_syncs_an_account,
    accounts_synced_side_by_side_write_without_refusing_each_other,
    a_failed_run_is_recorded_and_shown_with_its_reason,
    the_rate_a_mailbox_allows_is_kept_across_processes_and_shown_on_its_log,
);

struct Setup {
    app: TestApp,
    sim: mailroom_sim::RunningSim,
    browser: Client,
    account: Account,
    _scheduler: tokio::task::JoinHandle<()>,
}

fn mail(n: usize) -> Vec<u8> {
    format!("From: Sender {n} <s{n}@example.org>\r\nTo: ann@example.test\r\nSubject: Message {n}\r\nMessage-ID: <m{n}@example.org>\r\n\r\nBody {n}\r\n").into_bytes()
}

/// Ann with `messages` messages in her Gmail, connected, and a scheduler running over the store.
async fn setup(backend: Backend, messages: usize) -> Option<Setup> {
    let (app, sim) = TestApp::start_with_sim(backend).await?;
    {
        let now = sim.state.clock().now_ms();
        let mut world = sim.state.world();
        let mailbox = world.gmail("ann@example.test").unwrap();
        for n in 0..messages {
            mailbox.deliver(mail(n), &["INBOX", "UNREAD"], now - i64::try_from(n).unwrap() * 60_000);
        }
    }
    let (ann, mut browser) = app.member("ann@example.test", "member password 1").await;
    connect(&mut browser, "google").await.assert_redirect("/accounts?notice=account_connected");
    let account = app.store.accounts_of(ann.id).await.unwrap().remove(0);
    let scheduler = start_scheduler(&app, &sim, "test-process");
    Some(Setup { app, sim, browser, account, _scheduler: scheduler })
}

/// A process's engine: its own pacing, the configured limits.
fn engine(app: &TestApp, sim: &mailroom_sim::RunningSim) -> Engine {
    let providers = Arc::new(Providers::new(sim_endpoints(sim)));
    let tokens = AccessTokens::new(app.store.clone(), providers.clone(), "http://mailroom.test/oauth/callback".into());
    Engine { store: app.store.clone(), providers, tokens, pacing: Pacing::new(Limits::default()) }
}

fn start_scheduler(app: &TestApp, sim: &mailroom_sim::RunningSim, owner: &str) -> tokio::task::JoinHandle<()> {
    let engine = engine(app, sim);
    let config =
        SchedulerConfig { owner: owner.to_owned(), tick: Duration::from_millis(50), ..SchedulerConfig::new(2) };
    let scheduler = Scheduler::new(engine, config, app.sync_wake.clone());
    tokio::spawn(scheduler.run(std::future::pending()))
}

/// Waits until the account has `count` finished runs and no request waits; returns the newest.
async fn finished_run(app: &TestApp, account: &Account, count: usize) -> SyncRun {
    for _ in 0..600 {
        let runs = app.store.runs_of(account.id, 100).await.unwrap();
        let finished: Vec<_> = runs.iter().filter(|r| r.outcome.is_some()).collect();
        // The request is cleared when the lease is released, a moment after the run's row ends.
        let served = app.store.sync_requested(account.id).await.unwrap().is_none();
        if finished.len() >= count && runs.iter().all(|r| r.outcome.is_some()) && served {
            return finished[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the account never had {count} finished sync runs");
}

async fn deliver(s: &Setup, n: usize) {
    let raw = String::from_utf8(mail(n)).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/_sim/users/ann@example.test/messages", s.sim.base_url()))
        .json(&serde_json::json!({"raw": raw}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
}

async fn press(s: &mut Setup, mode: &str) -> crate::harness::Page {
    let action = format!("/accounts/{}/sync", s.account.id);
    s.browser.submit("/accounts", &action, &[("mode", mode)]).await
}

async fn a_new_account_syncs_by_itself_and_sync_now_brings_new_mail(backend: Backend) {
    let Some(mut s) = setup(backend, 5).await else { return };
    let first = finished_run(&s.app, &s.account, 1).await;
    assert_eq!(
        (first.trigger, first.mode, first.outcome),
        (RunTrigger::Schedule, RunMode::Incremental, Some(RunOutcome::Succeeded))
    );
    assert_eq!((first.imported, first.estimated_total), (5, Some(5)));
    assert_eq!(
        (first.kind, first.added, first.changed, first.removed),
        (Some(RunKind::FirstImport), Some(5), Some(0), Some(0))
    );
    assert_eq!(s.app.store.message_count(s.account.id).await.unwrap(), 5);

    deliver(&s, 99).await;
    press(&mut s, "now").await.assert_redirect("/accounts?notice=sync_requested");
    let second = finished_run(&s.app, &s.account, 2).await;
    assert_eq!((second.trigger, second.imported, second.outcome), (RunTrigger::Manual, 1, Some(RunOutcome::Succeeded)));
    assert_eq!((second.kind, second.added, second.changed), (Some(RunKind::Changes), Some(1), Some(0)));
    assert_eq!(s.app.store.message_count(s.account.id).await.unwrap(), 6);
    assert_eq!(s.app.store.sync_requested(s.account.id).await.unwrap(), None, "the request was served");
    let account = s.app.store.account(s.account.id).await.unwrap().unwrap();
    assert!(account.last_sync_at.is_some() && account.last_error.is_none());

    let page = s.browser.get("/accounts").await;
    page.assert_status(StatusCode::OK).assert_contains("Succeeded").assert_contains("1 new, 0 changed, 0 removed");
    page.assert_contains(&format!("/accounts/{}/sync-log", s.account.id)).assert_lacks("data-refresh");
    let log = s.browser.get(&format!("/accounts/{}/sync-log", s.account.id)).await;
    // The first run was a first import, not "changes", though the scheduler asked for changes.
    log.assert_status(StatusCode::OK)
        .assert_contains("Changes (asked for)")
        .assert_contains("First import (automatic)");
    log.assert_lacks("Changes (automatic)");
}

async fn a_full_resync_lists_everything_again_and_the_change_feed_tells_only_real_changes(backend: Backend) {
    let Some(mut s) = setup(backend, 4).await else { return };
    finished_run(&s.app, &s.account, 1).await;
    let events = s.app.store.events_since(s.account.id, 0, 100).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert!(events.iter().all(|e| e.kind == EventKind::Added));

    press(&mut s, "full").await.assert_redirect("/accounts?notice=full_sync_requested");
    let full = finished_run(&s.app, &s.account, 2).await;
    assert_eq!((full.mode, full.outcome), (RunMode::Full, Some(RunOutcome::Succeeded)));
    // An unchanged mailbox: the resync compared ids and labels and changed nothing.
    assert_eq!(
        (full.kind, full.added, full.changed, full.removed),
        (Some(RunKind::FullResync), Some(0), Some(0), Some(0))
    );
    assert!(s.app.store.events_since(s.account.id, 4, 100).await.unwrap().is_empty(), "nothing changed, nothing told");

    // Another client reads one message and deletes another.
    let http = reqwest::Client::new();
    let control = |path: &str| format!("{}/_sim/gmail/ann@example.test/{path}", s.sim.base_url());
    let read = events[0].remote_id.clone();
    let gone = events[1].remote_id.clone();
    let modify = serde_json::json!({"id": read, "removeLabelIds": ["UNREAD"]});
    assert!(http.post(control("modify")).json(&modify).send().await.unwrap().status().is_success());
    let delete = serde_json::json!({"id": gone});
    assert!(http.post(control("delete")).json(&delete).send().await.unwrap().status().is_success());
    press(&mut s, "now").await;
    finished_run(&s.app, &s.account, 3).await;
    let mut news: Vec<_> = s
        .app
        .store
        .events_since(s.account.id, 4, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.kind, e.remote_id))
        .collect();
    news.sort_by_key(|(_, kind, _)| kind.as_str());
    assert_eq!(news.len(), 2, "{news:?}");
    assert_eq!(news[0].1, EventKind::Changed);
    assert_eq!(news[0].2, read);
    assert_eq!(news[1].1, EventKind::Removed);
    assert_eq!(news[1].2, gone);
    let mut seqs: Vec<i64> = news.iter().map(|(seq, ..)| *seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [5, 6], "the feed goes on without gaps");
}

async fn only_the_owner_may_ask_for_a_sync_or_read_its_log(backend: Backend) {
    let Some(mut s) = setup(backend, 1).await else { return };
    finished_run(&s.app, &s.account, 1).await;
    let (_, mut ben) = s.app.member("ben@example.test", "member password 2").await;
    let log = format!("/accounts/{}/sync-log", s.account.id);
    ben.get(&log).await.assert_status(StatusCode::NOT_FOUND);
    let action = format!("/accounts/{}/sync", s.account.id);
    ben.submit("/accounts", &action, &[("mode", "full")]).await.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(s.app.store.sync_requested(s.account.id).await.unwrap(), None, "nothing was asked for");

    // Without the form's proof, and with a mode that does not exist, nothing is asked for either.
    s.browser.post_raw(&action, &[("mode", "now")]).await.assert_status(StatusCode::FORBIDDEN);
    press(&mut s, "everything").await.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(s.app.store.sync_requested(s.account.id).await.unwrap(), None);
    s.browser.get("/accounts/999999/sync-log").await.assert_status(StatusCode::NOT_FOUND);
}

async fn one_process_at_a_time_syncs_an_account(backend: Backend) {
    // No scheduler here: the store's claims are driven by hand, as two processes would.
    let Some((app, _sim)) = TestApp::start_with_sim(backend).await else { return };
    let (ann, mut browser) = app.member("ann@example.test", "member password 1").await;
    connect(&mut browser, "google").await;
    let account = app.store.accounts_of(ann.id).await.unwrap().remove(0);
    assert_eq!(account.status, AccountStatus::Active);
    let store = &app.store;
    let now = 1_000_000;

    let claim = store.claim_due_sync("a", now, now + 30).await.unwrap().expect("a new account is due at once");
    assert_eq!((claim.account, claim.requested), (account.id, None));
    assert!(store.claim_due_sync("b", now + 1, now + 31).await.unwrap().is_none(), "a holds the lease");
    let run = store.start_run(account.id, RunMode::Incremental, RunTrigger::Schedule, now).await.unwrap();
    assert!(store.renew_sync_lease(account.id, "a", now + 40).await.unwrap());

    // A crashes; its lease runs out and b takes over, closing the run a left open.
    let later = now + 41;
    let taken = store.claim_due_sync("b", later, later + 30).await.unwrap().expect("the lease ran out");
    assert_eq!(taken.account, account.id);
    let runs = store.runs_of(account.id, 10).await.unwrap();
    assert_eq!((runs[0].id, runs[0].outcome), (run, Some(RunOutcome::Interrupted)));
    assert!(!store.renew_sync_lease(account.id, "a", later + 50).await.unwrap(), "a lost the lease");

    // A user asks for a full resync while b runs: b's release keeps the request for the next claim.
    store.request_sync(account.id, RunMode::Full).await.unwrap();
    store.request_sync(account.id, RunMode::Incremental).await.unwrap();
    store.release_sync(&taken, "b", later + 300, true).await.unwrap();
    let next = store.claim_due_sync("c", later + 1, later + 31).await.unwrap().expect("the request is due at once");
    assert_eq!(next.requested, Some(RunMode::Full), "a full resync asked for stays full");
    // The full resync fails: it stays asked for, and is what the next run does after the backoff.
    store.release_sync(&next, "c", later + 300, false).await.unwrap();
    assert_eq!(store.sync_requested(account.id).await.unwrap(), Some(RunMode::Full));
    assert_eq!(store.sync_failures(account.id).await.unwrap(), 1);
    assert!(store.claim_due_sync("d", later + 2, later + 32).await.unwrap().is_none(), "not due before its time");
    let retried = store.claim_due_sync("d", later + 300, later + 330).await.unwrap().expect("due after the backoff");
    assert_eq!(retried.requested, Some(RunMode::Full), "the failed full resync is done again, not dropped");
    store.release_sync(&retried, "d", later + 600, true).await.unwrap();
    assert_eq!(store.sync_requested(account.id).await.unwrap(), None, "served once a run of it succeeded");
}

async fn accounts_synced_side_by_side_write_without_refusing_each_other(backend: Backend) {
    // Two mailboxes written at once, each write beginning with reads: SQLite must not refuse one
    // ("database is locked") because the other committed meanwhile, and each feed stays gapless.
    let Some((app, _sim)) = TestApp::start_with_sim(backend).await else { return };
    let (ann, mut browser) = app.member("ann@example.test", "member password 1").await;
    connect(&mut browser, "google").await;
    connect(&mut browser, "microsoft").await;
    let accounts = app.store.accounts_of(ann.id).await.unwrap();
    assert_eq!(accounts.len(), 2);
    let mut writers = Vec::new();
    for (a, account) in accounts.iter().enumerate() {
        for task in 0..4 {
            let (store, id) = (app.store.clone(), account.id);
            writers.push(tokio::spawn(async move {
                for n in 0..10 {
                    let remote_id = format!("m-{a}-{task}-{n}");
                    let raw = mail(a * 1000 + task * 100 + n);
                    let parsed = mailroom_mime::parse(&raw).into_message();
                    let folders = vec!["INBOX".to_owned()];
                    let change = mailroom_store::MessageChange::Upsert(mailroom_store::IncomingMessage {
                        remote_id: &remote_id,
                        thread_remote_id: None,
                        received_at: 1_000,
                        is_read: false,
                        is_starred: false,
                        is_draft: false,
                        folders: &folders,
                        raw: Some(&raw),
                        parsed: &parsed,
                        parse_failed: false,
                        has_attachments: None,
                    });
                    store.apply_sync(id, &[], &[change], None, 1_000).await.expect("a write of its own");
                }
            }));
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }
    for account in &accounts {
        assert_eq!(app.store.message_count(account.id).await.unwrap(), 40);
        let seqs: Vec<i64> = app.store.events_since(account.id, 0, 100).await.unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=40).collect::<Vec<i64>>());
    }
}

async fn a_failed_run_is_recorded_and_shown_with_its_reason(backend: Backend) {
    let Some(mut s) = setup(backend, 2).await else { return };
    finished_run(&s.app, &s.account, 1).await;
    // The user removes Mailroom's access at Google: the next run cannot get a token.
    let revoked = reqwest::Client::new()
        .post(format!("{}/_sim/users/ann@example.test/revoke", s.sim.base_url()))
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    press(&mut s, "now").await.assert_redirect("/accounts?notice=sync_requested");
    let failed = finished_run(&s.app, &s.account, 2).await;
    assert_eq!(failed.outcome, Some(RunOutcome::Failed));
    let reason = failed.error.expect("a failed run says why");
    assert_eq!(
        reason,
        "the provider no longer accepts this mailbox's grant (invalid_grant): it must be connected again"
    );
    let account = s.app.store.account(s.account.id).await.unwrap().unwrap();
    assert_eq!(account.status, AccountStatus::ReauthorizationRequired);
    assert_eq!(account.last_error.as_deref(), Some(reason.as_str()));
    assert_eq!(s.app.store.sync_failures(s.account.id).await.unwrap(), 1);
    // An account that must be reconnected is not synced again, however late it gets.
    assert!(s.app.store.claim_due_sync("elsewhere", i64::MAX / 2, i64::MAX / 2 + 30).await.unwrap().is_none());

    let page = s.browser.get("/accounts").await;
    // The page shows the reason as text: the apostrophe is escaped.
    let shown = reason.replace('\'', "&#39;");
    page.assert_contains("Failed").assert_contains(&shown).assert_contains("Reconnect");
    page.assert_lacks("value=\"now\"");
    let log = s.browser.get(&format!("/accounts/{}/sync-log", s.account.id)).await;
    log.assert_contains("Failed").assert_contains(&shown).assert_contains("href=\"/accounts\"");
}

async fn the_rate_a_mailbox_allows_is_kept_across_processes_and_shown_on_its_log(backend: Backend) {
    let Some(mut s) = setup(backend, 2).await else { return };
    finished_run(&s.app, &s.account, 1).await;
    let log = format!("/accounts/{}/sync-log", s.account.id);
    s.browser.get(&log).await.assert_lacks("quota units a minute");
    // Another process learned that Gmail allows this mailbox 300 units a minute.
    s.app.store.save_learned_rate(s.account.id, Some((300, 60)), mailroom_store::now()).await.unwrap();
    // A process that has not called the mailbox yet starts from it, and keeps it.
    let fresh = engine(&s.app, &s.sim);
    mailroom_sync::sync_account(&fresh, &s.account, Mode::Incremental, &Progress::new()).await.unwrap();
    assert_eq!(fresh.pacing.learned(s.account.id).map(|l| l.rate), Some(300));
    assert_eq!(s.app.store.learned_rate(s.account.id).await.unwrap().map(|l| l.rate), Some(300));
    s.browser.get(&log).await.assert_contains("Gmail allows this mailbox about 300 quota units a minute");
    // A rate at the ceiling is nothing learned: the settings hold again, and the log says nothing.
    s.app.store.save_learned_rate(s.account.id, Some((15_000, 60)), mailroom_store::now()).await.unwrap();
    let later = engine(&s.app, &s.sim);
    mailroom_sync::sync_account(&later, &s.account, Mode::Incremental, &Progress::new()).await.unwrap();
    assert_eq!(s.app.store.learned_rate(s.account.id).await.unwrap(), None);
    s.browser.get(&log).await.assert_lacks("quota units a minute");
}
