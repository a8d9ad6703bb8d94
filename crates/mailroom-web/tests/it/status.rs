//! The administrators' status page and the operator's figures in `/metrics`: mailboxes in trouble,
//! the queues towards the providers, recent sync errors, sync lag and provider refusals.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use mailroom_domain::AccountStatus;
use mailroom_providers::Providers;
use mailroom_sim::Faults;
use mailroom_store::{RunMode, RunOutcome, RunProgress, RunTrigger};
use mailroom_sync::{AccessTokens, Engine, Limits, Pacing, Scheduler, SchedulerConfig};

use crate::connect::connect;
use crate::harness::{Backend, Page, TestApp, sim_endpoints};
use crate::kill::ms;

crate::on_both_databases!(status:
    the_status_page_shows_mailboxes_in_trouble_with_their_errors,
    only_administrators_reach_the_status_page,
    metrics_carry_sync_lag_provider_refusals_and_queue_depths_after_a_sync,
);

const MEMBER_PASSWORD: &str = "member password 1";
const FAILURE: &str = "http 503: the backend is unavailable";

fn progress() -> RunProgress<'static> {
    RunProgress { phase: "done", ..RunProgress::default() }
}

async fn the_status_page_shows_mailboxes_in_trouble_with_their_errors(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let (ann, _) = app.member("ann@example.test", MEMBER_PASSWORD).await;
    let now = mailroom_store::now();

    let page = admin.get("/admin/status").await;
    page.assert_status(StatusCode::OK)
        .assert_contains("Every mailbox is in order.")
        .assert_contains("No sync has failed.")
        .assert_contains("more than 15 minutes ago")
        .assert_contains("id=\"writeback-pending\">0<")
        .assert_contains("id=\"outbox-pending\">0<");

    // One the provider no longer accepts, one whose last run failed, and one in good order.
    let revoked = app.connected_account(ann.id, "ann@example.test").await;
    let reason = "the provider no longer accepts this mailbox's grant (invalid_grant): it must be connected again";
    app.store.set_account_status(revoked.id, AccountStatus::ReauthorizationRequired, Some(reason), now).await.unwrap();
    let failing = app.connected_account(ann.id, "ann.work@example.test").await;
    let run = app.store.start_run(failing.id, RunMode::Incremental, RunTrigger::Schedule, now).await.unwrap();
    app.store.finish_run(run, progress(), RunOutcome::Failed, Some(FAILURE), now).await.unwrap();
    let fine = app.connected_account(ann.id, "ann.home@example.test").await;
    let run = app.store.start_run(fine.id, RunMode::Incremental, RunTrigger::Schedule, now).await.unwrap();
    app.store.finish_run(run, progress(), RunOutcome::Succeeded, None, now).await.unwrap();

    let page = admin.get("/admin/status").await;
    let trouble = section(&page, "trouble");
    assert!(trouble.contains("ann@example.test") && trouble.contains("Needs reconnecting"), "{trouble}");
    assert!(trouble.contains(&reason.replace('\'', "&#39;")), "{trouble}");
    // Connected long ago (the harness's accounts date from 1970) and never synced: behind as well.
    assert!(trouble.contains("ann.work@example.test") && trouble.contains("Last sync failed; Behind"), "{trouble}");
    assert!(trouble.contains(FAILURE), "{trouble}");
    assert!(!trouble.contains("ann.home@example.test"), "a mailbox in order is not listed: {trouble}");
    let errors = section(&page, "recent-errors");
    assert!(errors.contains("ann.work@example.test") && errors.contains(FAILURE), "{errors}");
    assert!(!errors.contains("ann.home@example.test"), "{errors}");

    admin.accept_language = Some("cs".to_owned());
    let page = admin.get("/admin/status").await;
    let trouble = section(&page, "trouble");
    assert!(trouble.contains("Je třeba znovu připojit"), "{trouble}");
    assert!(trouble.contains("Poslední synchronizace selhala; Pozadu"), "{trouble}");
    page.assert_contains("Poslední chyby synchronizace").assert_contains("nejméně však 15 minut");

    // A run that succeeds later takes the mailbox off the list; its failure stays in the history.
    let run = app.store.start_run(failing.id, RunMode::Incremental, RunTrigger::Manual, now).await.unwrap();
    app.store.finish_run(run, progress(), RunOutcome::Succeeded, None, now).await.unwrap();
    let page = admin.get("/admin/status").await;
    assert!(!section(&page, "trouble").contains("ann.work@example.test"));
    assert!(section(&page, "recent-errors").contains(FAILURE));
}

/// The text of the page's `<section>` with this id.
fn section<'a>(page: &'a Page, id: &str) -> &'a str {
    let start = page.body.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no section {id}: {}", page.body));
    let rest = &page.body[start..];
    &rest[..rest.find("</section>").unwrap()]
}

async fn only_administrators_reach_the_status_page(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let (_, mut member) = app.member("ben@example.test", MEMBER_PASSWORD).await;
    admin.get("/").await.assert_contains("href=\"/admin/status\"");
    member.get("/").await.assert_lacks("href=\"/admin/status\"");
    let page = member.get("/admin/status").await;
    page.assert_status(StatusCode::FORBIDDEN).assert_contains("You do not have access to this page.");
    page.assert_lacks("Recent sync errors");
    app.client().get("/admin/status").await.assert_redirect("/login");
}

/// The value of the Prometheus series `series` (name and labels, exactly), or 0 when absent.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

const GOOGLE_429: &str = "mailroom_provider_error_responses_total{provider=\"google\",status=\"429\"}";

async fn metrics_carry_sync_lag_provider_refusals_and_queue_depths_after_a_sync(backend: Backend) {
    let Some((app, sim)) = TestApp::start_with_sim(backend).await else { return };
    {
        let now = sim.state.clock().now_ms();
        let mut world = sim.state.world();
        let mailbox = world.gmail("ann@example.test").unwrap();
        for n in 0..20_i64 {
            let raw = format!(
                "From: s{n}@example.org\r\nTo: ann@example.test\r\nSubject: Message {n}\r\nMessage-ID: <m{n}@example.org>\r\n\r\nBody {n}\r\n"
            );
            mailbox.deliver(raw.into_bytes(), &["INBOX"], now - n * 60_000);
        }
    }
    let (ann, mut browser) = app.member("ann@example.test", MEMBER_PASSWORD).await;
    connect(&mut browser, "google").await.assert_redirect("/accounts?notice=account_connected");
    let account = app.store.accounts_of(ann.id).await.unwrap().remove(0);
    // From now on a third of Gmail's calls are refused with 429.
    sim.state.set_faults(Faults { seed: 7, rate_limit_rate: 0.3, ..Faults::default() });
    let mut prometheus = app.client();
    let before = prometheus.get("/metrics").await;
    before.assert_status(StatusCode::OK);
    // Counted from zero before any refusal.
    before.assert_contains(GOOGLE_429);
    let refused_before = sample(&before.body, GOOGLE_429);

    let providers = Arc::new(Providers::new(sim_endpoints(&sim)));
    let tokens = AccessTokens::new(app.store.clone(), providers.clone(), "http://mailroom.test/oauth/callback".into());
    let limits = Limits { backoff_base: ms(2), backoff_cap: ms(20), ..Limits::default() };
    let engine = Engine { store: app.store.clone(), providers, tokens, pacing: Pacing::new(limits) };
    let config = SchedulerConfig { tick: Duration::from_millis(50), ..SchedulerConfig::new(1) };
    let scheduler = tokio::spawn(Scheduler::new(engine, config, app.sync_wake.clone()).run(std::future::pending()));
    let mut finished = None;
    for _ in 0..600 {
        let last = app.store.sync_status(account.id, mailroom_store::now()).await.unwrap().last;
        if last.is_some() {
            finished = last;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    scheduler.abort();
    let run = finished.expect("the sync ran");
    assert_eq!(run.outcome, Some(RunOutcome::Succeeded), "{:?}", run.error);
    assert_eq!(app.store.message_count(account.id).await.unwrap(), 20);

    let metrics = prometheus.get("/metrics").await;
    metrics.assert_status(StatusCode::OK);
    assert!(sample(&metrics.body, GOOGLE_429) > refused_before, "the refusals were counted:\n{}", metrics.body);
    let lag = format!("mailroom_sync_lag_seconds{{account=\"{}\"}}", account.id);
    metrics.assert_contains(&lag).assert_contains("# TYPE mailroom_sync_lag_seconds gauge");
    assert!(sample(&metrics.body, &lag) < 120.0, "just synced:\n{}", metrics.body);
    metrics
        .assert_contains("mailroom_writeback_queue_depth{state=\"pending\"} 0")
        .assert_contains("mailroom_outbox_queue_depth{state=\"pending\"} 0")
        .assert_lacks("ann@example.test");

    // A mailbox never synced since it was connected, long ago, lags by all that time.
    let old = app.connected_account(ann.id, "ann.old@example.test").await;
    let metrics = prometheus.get("/metrics").await;
    let old_lag = format!("mailroom_sync_lag_seconds{{account=\"{}\"}}", old.id);
    assert!(sample(&metrics.body, &old_lag) > 1e9, "{}", metrics.body);
    // A disconnected one is gone from the figures at once.
    assert!(app.store.delete_account(ann.id, old.id).await.unwrap());
    prometheus.get("/metrics").await.assert_lacks(&old_lag);
}
