//! Gmail sync against the simulator: the initial import, changes from another client, and a full
//! import again when history has expired.

use std::sync::Arc;

use mailroom_providers::Providers;
use mailroom_store::Account;
use mailroom_sync::{AccessTokens, Engine, Limits, Mode, Pacing, Progress, sync_gmail};

use crate::connect::connect;
use crate::harness::{Backend, TestApp, sim_endpoints};

crate::on_both_databases!(sync_gmail:
    the_initial_import_brings_every_message_with_its_labels_and_flags,
    changes_from_another_client_arrive_with_the_next_sync,
    expired_history_starts_a_full_import_that_converges,
    a_label_deleted_in_gmail_disappears_and_its_messages_keep_their_other_labels,
    a_change_of_labels_alone_downloads_no_message,
);

pub(crate) struct Setup {
    pub(crate) app: TestApp,
    pub(crate) sim: mailroom_sim::RunningSim,
    pub(crate) engine: Engine,
    pub(crate) account: Account,
}

fn mail(n: usize) -> Vec<u8> {
    format!("From: Sender {n} <s{n}@example.org>\r\nTo: ann@example.test\r\nSubject: Message {n}\r\nMessage-ID: <m{n}@example.org>\r\n\r\nBody {n}\r\n").into_bytes()
}

/// Ann's Gmail mailbox at the simulator with `messages` messages, connected and not yet synced.
pub(crate) async fn setup(backend: Backend, messages: usize) -> Option<Setup> {
    let (app, sim) = TestApp::start_with_sim(backend).await?;
    {
        let now = sim.state.clock().now_ms();
        let mut world = sim.state.world();
        let mailbox = world.gmail("ann@example.test").unwrap();
        for n in 0..messages {
            let labels: &[&str] = if n % 2 == 0 { &["INBOX", "UNREAD"] } else { &["INBOX", "STARRED"] };
            mailbox.deliver(mail(n), labels, now - i64::try_from(n).unwrap() * 60_000);
        }
    }
    let (ann, mut browser) = app.member("ann@example.test", "member password 1").await;
    connect(&mut browser, "google").await.assert_redirect("/accounts?notice=account_connected");
    let account = app.store.accounts_of(ann.id).await.unwrap().remove(0);
    let providers = Arc::new(Providers::new(sim_endpoints(&sim)));
    let tokens =
        AccessTokens::new(app.store.clone(), providers.clone(), "http://mailroom.test/oauth/callback".to_owned());
    let engine = Engine { store: app.store.clone(), providers, tokens, pacing: Pacing::new(Limits::default()) };
    Some(Setup { app, sim, engine, account })
}

async fn sync(s: &Setup) -> mailroom_sync::SyncReport {
    sync_gmail(&s.engine, &s.account, Mode::Incremental, &Progress::new()).await.expect("sync runs")
}

async fn ids_in(s: &Setup, label: &str) -> Vec<String> {
    let state: serde_json::Value =
        reqwest::get(format!("{}/_sim/gmail/ann@example.test", s.sim.base_url())).await.unwrap().json().await.unwrap();
    state["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["labelIds"].as_array().unwrap().iter().any(|l| l == label))
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_initial_import_brings_every_message_with_its_labels_and_flags(backend: Backend) {
    let Some(s) = setup(backend, 7).await else { return };
    let report = sync(&s).await;
    assert_eq!((report.imported, report.full), (7, true));
    assert_eq!(s.app.store.message_count(s.account.id).await.unwrap(), 7);
    assert!(
        s.app.store.sync_cursor(s.account.id, "").await.unwrap().is_some(),
        "the historyId is stored after the import"
    );
    let starred = ids_in(&s, "STARRED").await;
    assert_eq!(s.app.store.message_folders(s.account.id, &starred[0]).await.unwrap(), ["INBOX", "STARRED"]);

    let again = sync(&s).await;
    assert_eq!((again.imported, again.full), (0, false), "nothing changed, nothing imported");
    assert_eq!(s.app.store.message_count(s.account.id).await.unwrap(), 7);
}

async fn changes_from_another_client_arrive_with_the_next_sync(backend: Backend) {
    let Some(s) = setup(backend, 4).await else { return };
    sync(&s).await;
    let unread = ids_in(&s, "UNREAD").await;
    let http = reqwest::Client::new();
    let control = |path: &str| format!("{}/_sim/gmail/ann@example.test/{path}", s.sim.base_url());
    let modify = serde_json::json!({"id": unread[0], "addLabelIds": ["TRASH"], "removeLabelIds": ["UNREAD", "INBOX"]});
    assert!(http.post(control("modify")).json(&modify).send().await.unwrap().status().is_success());
    assert!(
        http.post(control("delete"))
            .json(&serde_json::json!({"id": unread[1]}))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let raw = String::from_utf8(mail(99)).unwrap();
    http.post(format!("{}/_sim/users/ann@example.test/messages", s.sim.base_url()))
        .json(&serde_json::json!({"raw": raw}))
        .send()
        .await
        .unwrap();

    let report = sync(&s).await;
    assert!(!report.full);
    assert_eq!(report.deleted, 1);
    assert_eq!(s.app.store.message_count(s.account.id).await.unwrap(), 4, "one deleted, one new");
    let folders = s.app.store.message_folders(s.account.id, &unread[0]).await.unwrap();
    assert_eq!(folders, ["TRASH"]);
}

async fn expired_history_starts_a_full_import_that_converges(backend: Backend) {
    let Some(s) = setup(backend, 3).await else { return };
    sync(&s).await;
    let http = reqwest::Client::new();
    // Deleted while the history that would have said so expires.
    let doomed = ids_in(&s, "INBOX").await.remove(0);
    let delete = serde_json::json!({"id": doomed});
    let deleted =
        http.post(format!("{}/_sim/gmail/ann@example.test/delete", s.sim.base_url())).json(&delete).send().await;
    assert!(deleted.unwrap().status().is_success());
    let raw = String::from_utf8(mail(50)).unwrap();
    http.post(format!("{}/_sim/users/ann@example.test/messages", s.sim.base_url()))
        .json(&serde_json::json!({"raw": raw}))
        .send()
        .await
        .unwrap();
    http.post(format!("{}/_sim/gmail/ann@example.test/expire-history", s.sim.base_url())).send().await.unwrap();
    let from = s.sim.state.world().log.len();
    let report = sync(&s).await;
    assert!(report.full, "an expired history means a full import");
    assert_eq!(report.deleted, 1, "the message deleted meanwhile goes");
    // The run says what it was and what really changed: one new, one gone, the rest untouched,
    // and only the new one downloaded.
    assert_eq!(report.kind, mailroom_store::RunKind::Reimport);
    assert_eq!(report.applied, mailroom_store::Applied { added: 1, changed: 0, removed: 1 });
    assert_eq!(crate::kill::gmail_fetches_since(&s.sim, from), 1);
    assert_eq!(s.app.store.message_count(s.account.id).await.unwrap(), 3);
    let again = sync(&s).await;
    assert!(!again.full && again.imported == 0);
}

async fn a_label_deleted_in_gmail_disappears_and_its_messages_keep_their_other_labels(backend: Backend) {
    let Some(s) = setup(backend, 2).await else { return };
    let (label, tagged) = {
        let now = s.sim.state.clock().now_ms();
        let mut world = s.sim.state.world();
        let mailbox = world.gmail("ann@example.test").unwrap();
        let label = mailbox
            .create_label(mailroom_sim::gmail::Label {
                id: String::new(),
                name: "Projects".to_owned(),
                system: false,
                message_list_visibility: "show".to_owned(),
                label_list_visibility: "labelShow".to_owned(),
                color: None,
            })
            .unwrap();
        let tagged = mailbox.messages().find(|m| m.has("UNREAD")).unwrap().id.clone();
        mailbox.change_labels(&tagged, std::slice::from_ref(&label.id), &[], now);
        (label.id, tagged)
    };
    sync(&s).await;
    assert!(s.app.store.folder_remote_ids(s.account.id).await.unwrap().contains(&label));
    assert!(s.app.store.message_folders(s.account.id, &tagged).await.unwrap().contains(&label));

    // Deleted in Gmail's web app: gone from the folders after the next sync, with changes...
    let now = s.sim.state.clock().now_ms();
    s.sim.state.world().gmail("ann@example.test").unwrap().delete_label(&label, now);
    sync(&s).await;
    assert!(!s.app.store.folder_remote_ids(s.account.id).await.unwrap().contains(&label), "the label is gone");
    assert_eq!(s.app.store.message_folders(s.account.id, &tagged).await.unwrap(), ["INBOX"], "its other labels stay");
    // ...and after a full resync, which does not bring it back.
    sync_gmail(&s.engine, &s.account, Mode::Full, &Progress::new()).await.unwrap();
    assert!(!s.app.store.folder_remote_ids(s.account.id).await.unwrap().contains(&label));
    assert_eq!(s.app.store.message_count(s.account.id).await.unwrap(), 2);
}

async fn a_change_of_labels_alone_downloads_no_message(backend: Backend) {
    let Some(s) = setup(backend, 3).await else { return };
    sync(&s).await;
    let unread = ids_in(&s, "UNREAD").await.remove(0);
    let http = reqwest::Client::new();
    let modify = serde_json::json!({"id": unread, "addLabelIds": ["STARRED"], "removeLabelIds": ["UNREAD", "INBOX"]});
    let control = format!("{}/_sim/gmail/ann@example.test/modify", s.sim.base_url());
    assert!(http.post(control).json(&modify).send().await.unwrap().status().is_success());
    let from = s.sim.state.world().log.len();
    let report = sync(&s).await;
    assert_eq!(report.kind, mailroom_store::RunKind::Changes);
    assert_eq!(report.applied, mailroom_store::Applied { added: 0, changed: 1, removed: 0 });
    assert_eq!(crate::kill::gmail_fetches_since(&s.sim, from), 0, "the history record carries the labels");
    assert_eq!(s.app.store.message_folders(s.account.id, &unread).await.unwrap(), ["STARRED"]);
    let detail = s.app.store.stored_states(s.account.id, &[unread.as_str()]).await.unwrap();
    let state = &detail[&unread];
    assert!(state.is_read && state.is_starred);
}
