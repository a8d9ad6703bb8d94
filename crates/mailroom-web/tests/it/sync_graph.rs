//! Outlook sync against the simulator's Graph: the initial import compared set for set with the
//! mailbox, changes from another client, expired delta links, folders that come and go, a full
//! sync, and the MIME fetched afterwards.

use std::collections::HashMap;
use std::sync::Arc;

use mailroom_providers::Providers;
use mailroom_sim::SimConfig;
use mailroom_store::{Account, IncomingMessage, MessageChange};
use mailroom_sync::{
    AccessTokens, Engine, Limits, Mode, Pacing, Progress, SyncReport, fetch_mime_now, fetch_pending_mime, sync_graph,
};
use secrecy::ExposeSecret;

use crate::connect::connect;
use crate::harness::{Backend, COUNT_WITHOUT_RAW, TestApp, sim_endpoints};

crate::on_both_databases!(sync_graph:
    the_initial_import_matches_the_mailbox_set_for_set,
    changes_from_another_client_arrive_with_the_next_sync,
    an_expired_delta_link_resyncs_the_folder_and_converges,
    a_delta_link_refused_with_400_sync_state_not_found_resyncs_the_folder,
    new_folders_get_a_round_and_removed_folders_go,
    a_full_sync_converges_whatever_the_store_held,
    the_mime_follows_in_the_background_with_its_parsed_view,
    a_draft_listed_again_keeps_its_id_and_what_the_user_added_and_an_edit_updates_it_in_place,
);

pub(crate) const CARL: &str = "carl@contoso.onmicrosoft.com";

/// Carl's Outlook account connected, and an engine to sync it; shared with the robustness tests.
pub(crate) struct Setup {
    pub(crate) app: TestApp,
    pub(crate) sim: mailroom_sim::RunningSim,
    pub(crate) engine: Engine,
    pub(crate) account: Account,
    http: reqwest::Client,
}

fn mail(n: usize) -> Vec<u8> {
    format!(
        "From: Sender {n} <S{n}@Example.org>\r\nTo: carl@contoso.onmicrosoft.com\r\nSubject: Message {n}\r\n\
         Message-ID: <m{n}@example.org>\r\nDate: Tue, 1 Oct 2024 10:00:00 +0000\r\n\r\nBody {n}\r\n"
    )
    .into_bytes()
}

/// Carl's mailbox: `inbox` messages in the inbox (every third read, every fourth flagged), one in
/// the archive, and two in a custom folder `Projects` under the inbox.
async fn setup(backend: Backend, inbox: usize) -> Option<Setup> {
    let s = Setup::start(backend, SimConfig { auto_consent: true, ..SimConfig::default() }, Limits::default()).await?;
    let projects =
        s.graph_post("me/mailFolders/inbox/childFolders", serde_json::json!({"displayName": "Projects"})).await;
    let projects = projects["id"].as_str().unwrap().to_owned();
    {
        let now = s.sim.state.clock().now_ms();
        let mut world = s.sim.state.world();
        let mailbox = world.graph(CARL).unwrap();
        let minutes = |n: usize| now - i64::try_from(n).unwrap() * 60_000;
        for n in 0..inbox {
            let id = mailbox.deliver(mail(n), "inbox", minutes(n));
            if n % 3 == 0 {
                mailbox.set_read(&id, true);
            }
            if n % 4 == 0 {
                mailbox.set_flagged(&id, true);
            }
        }
        mailbox.deliver(mail(100), "archive", minutes(100));
        mailbox.deliver(mail(101), &projects, minutes(101));
        mailbox.deliver(mail(102), &projects, minutes(102));
    }
    Some(s)
}

impl Setup {
    /// Carl's account connected through a simulator configured by `config`, with an engine
    /// pacing by `limits`, and an empty mailbox.
    pub(crate) async fn start(backend: Backend, config: SimConfig, limits: Limits) -> Option<Setup> {
        let (app, sim) = TestApp::start_with_sim_config(backend, config, |_| {}).await?;
        let (carl, mut browser) = app.member("carl@example.test", "member password 1").await;
        connect(&mut browser, "microsoft").await.assert_redirect("/accounts?notice=account_connected");
        let account = app.store.accounts_of(carl.id).await.unwrap().remove(0);
        let providers = Arc::new(Providers::new(sim_endpoints(&sim)));
        let tokens =
            AccessTokens::new(app.store.clone(), providers.clone(), "http://mailroom.test/oauth/callback".to_owned());
        let engine = Engine { store: app.store.clone(), providers, tokens, pacing: Pacing::new(limits) };
        Some(Setup { app, sim, engine, account, http: reqwest::Client::new() })
    }

    pub(crate) async fn sync(&self, mode: Mode) -> SyncReport {
        sync_graph(&self.engine, &self.account, mode, &Progress::new()).await.expect("sync runs")
    }

    /// A call to the simulator's Graph as another client of the same mailbox.
    pub(crate) async fn graph_post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let token = self.engine.tokens.access_token(&self.account).await.unwrap();
        let response = self
            .http
            .post(format!("{}/microsoft/v1.0/{path}", self.sim.base_url()))
            .bearer_auth(token.expose_secret())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    async fn graph_delete(&self, path: &str) {
        let token = self.engine.tokens.access_token(&self.account).await.unwrap();
        let response = self
            .http
            .delete(format!("{}/microsoft/v1.0/{path}", self.sim.base_url()))
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
    }

    pub(crate) async fn control(&self, action: &str, body: serde_json::Value) {
        let url = format!("{}/_sim/graph/{CARL}/{action}", self.sim.base_url());
        let response = self.http.post(url).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{action}: {}", response.status());
    }

    pub(crate) async fn state(&self) -> serde_json::Value {
        let url = format!("{}/_sim/graph/{CARL}", self.sim.base_url());
        self.http.get(url).send().await.unwrap().json().await.unwrap()
    }

    /// The mailbox as the simulator has it: one line per message, as [`Setup::stored`] has them.
    pub(crate) async fn remote(&self) -> Vec<String> {
        let state = self.state().await;
        let mut lines: Vec<String> = state["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}|{}|{}|{}|{}",
                    m["immutableId"].as_str().unwrap(),
                    m["conversationId"].as_str().unwrap(),
                    if m["isRead"].as_bool().unwrap() { "read" } else { "unread" },
                    if m["flagStatus"] == "flagged" { "flagged" } else { "-" },
                    m["folderId"].as_str().unwrap(),
                )
            })
            .collect();
        lines.sort();
        lines
    }

    /// The store's messages: id, conversation, read, flagged, folders (one line per folder).
    pub(crate) async fn stored(&self) -> Vec<String> {
        self.app
            .raw_strings(
                "SELECT m.remote_id || '|' || COALESCE(m.thread_remote_id, '') || '|' || \
                 CASE WHEN m.is_read THEN 'read' ELSE 'unread' END || '|' || \
                 CASE WHEN m.is_starred THEN 'flagged' ELSE '-' END || '|' || COALESCE(f.remote_id, '') \
                 FROM messages m LEFT JOIN message_folders mf ON mf.message_id = m.id \
                 LEFT JOIN folders f ON f.id = mf.folder_id",
            )
            .await
    }

    pub(crate) async fn assert_converged(&self) {
        assert_eq!(self.stored().await, self.remote().await);
    }

    /// The ids of the simulator's messages in a folder given by well-known or display name.
    pub(crate) async fn ids_in(&self, folder: &str) -> Vec<String> {
        let state = self.state().await;
        state["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["folder"] == folder)
            .map(|m| m["immutableId"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The id of Carl's inbox at the simulator.
    pub(crate) async fn inbox_id(&self) -> String {
        let state = self.state().await;
        let folders = state["folders"].as_array().unwrap();
        folders.iter().find(|f| f["wellKnownName"] == "inbox").unwrap()["id"].as_str().unwrap().to_owned()
    }

    /// The store's row id of each message, by remote id.
    async fn row_ids(&self) -> HashMap<String, String> {
        let rows = self.app.raw_strings("SELECT remote_id || '=' || CAST(id AS TEXT) FROM messages").await;
        rows.into_iter()
            .map(|row| {
                let (remote, id) = row.split_once('=').unwrap();
                (remote.to_owned(), id.to_owned())
            })
            .collect()
    }
}

async fn the_initial_import_matches_the_mailbox_set_for_set(backend: Backend) {
    let Some(s) = setup(backend, 7).await else { return };
    let progress = Progress::new();
    let report = sync_graph(&s.engine, &s.account, Mode::Incremental, &progress).await.unwrap();
    assert!(report.full);
    assert_eq!((report.imported, report.deleted), (10, 0));
    assert_eq!(progress.snapshot().imported, 10);
    assert!(progress.snapshot().estimated_total.is_some_and(|n| n >= 10), "{:?}", progress.snapshot());
    s.assert_converged().await;
    assert_eq!(s.app.store.message_count(s.account.id).await.unwrap(), 10);

    // Every listed folder is stored with its kind and parent, and has its delta link.
    let state = s.state().await;
    let folders = state["folders"].as_array().unwrap();
    let listed: Vec<&serde_json::Value> = folders.iter().filter(|f| f["wellKnownName"] != "msgfolderroot").collect();
    assert_eq!(s.app.store.folder_remote_ids(s.account.id).await.unwrap().len(), listed.len());
    for folder in &listed {
        let id = folder["id"].as_str().unwrap();
        let cursor = s.app.store.sync_cursor(s.account.id, id).await.unwrap();
        assert!(cursor.is_some_and(|c| c.contains("deltatoken")), "no delta link for {folder}");
    }
    let kinds = s.app.raw_strings("SELECT name || ':' || kind FROM folders").await;
    for expected in ["Inbox:inbox", "Sent Items:sent", "Deleted Items:trash", "Junk Email:spam", "Projects:custom"] {
        assert!(kinds.iter().any(|k| k == expected), "{expected} missing from {kinds:?}");
    }
    let inbox = folders.iter().find(|f| f["wellKnownName"] == "inbox").unwrap()["id"].as_str().unwrap();
    let projects_parent = s.app.raw_strings("SELECT parent_remote_id FROM folders WHERE name = 'Projects'").await;
    assert_eq!(projects_parent, [inbox]);
    // The view from Graph's JSON is there before any MIME.
    assert_eq!(s.app.raw_count(COUNT_WITHOUT_RAW).await, 10);
    let subjects = s.app.raw_strings("SELECT subject || ' ' || from_address || ' ' || snippet FROM messages").await;
    assert!(subjects.contains(&"Message 3 s3@example.org Body 3".to_owned()), "{subjects:?}");
    assert_eq!(
        s.app
            .raw_count(
                "SELECT COUNT(*) FROM participants WHERE role = 'to' AND address = 'carl@contoso.onmicrosoft.com'"
            )
            .await,
        10
    );

    let again = s.sync(Mode::Incremental).await;
    assert_eq!(again, SyncReport::default(), "nothing changed, nothing imported");
    s.assert_converged().await;
}

async fn changes_from_another_client_arrive_with_the_next_sync(backend: Backend) {
    let Some(s) = setup(backend, 6).await else { return };
    s.sync(Mode::Incremental).await;
    // The MIME of what is there already is fetched, so a move can be seen to keep it.
    assert_eq!(fetch_pending_mime(&s.engine, &s.account, 100).await.unwrap(), 9);
    let before = s.row_ids().await;
    let inbox = s.ids_in("inbox").await;
    let (patched, moved, deleted) = (&inbox[0], &inbox[1], &inbox[2]);
    s.control("patch", serde_json::json!({"id": patched, "isRead": false, "flagged": true})).await;
    s.control("patch", serde_json::json!({"id": moved, "isRead": true})).await;
    s.control("move", serde_json::json!({"id": moved, "destination": "archive"})).await;
    s.control("delete", serde_json::json!({"id": deleted})).await;
    {
        let now = s.sim.state.clock().now_ms();
        let mut world = s.sim.state.world();
        world.graph(CARL).unwrap().deliver(mail(50), "inbox", now);
    }

    let report = s.sync(Mode::Incremental).await;
    assert!(!report.full);
    assert_eq!((report.imported, report.deleted), (3, 1), "{report:?}");
    s.assert_converged().await;
    let after = s.row_ids().await;
    assert_eq!(after.get(moved), before.get(moved), "a move keeps the stored message");
    assert!(!after.contains_key(deleted.as_str()));
    assert_eq!(s.app.raw_count(COUNT_WITHOUT_RAW).await, 1, "only the new message waits for its MIME");
    assert_eq!(s.sync(Mode::Incremental).await, SyncReport::default());
}

async fn an_expired_delta_link_resyncs_the_folder_and_converges(backend: Backend) {
    let Some(s) = setup(backend, 5).await else { return };
    s.sync(Mode::Incremental).await;
    let inbox = s.ids_in("inbox").await;
    s.control("delete", serde_json::json!({"id": inbox[0]})).await;
    s.control("move", serde_json::json!({"id": inbox[1], "destination": "junkemail"})).await;
    s.control("patch", serde_json::json!({"id": inbox[2], "isRead": true, "flagged": true})).await;
    {
        let now = s.sim.state.clock().now_ms();
        let mut world = s.sim.state.world();
        world.graph(CARL).unwrap().deliver(mail(60), "inbox", now);
    }
    s.control("expire-delta", serde_json::json!({})).await;

    let report = s.sync(Mode::Incremental).await;
    assert!(report.full, "expired links mean fresh rounds");
    assert_eq!(report.deleted, 1, "{report:?}");
    s.assert_converged().await;
    let again = s.sync(Mode::Incremental).await;
    assert_eq!(again, SyncReport::default(), "the fresh rounds stored new delta links");
}

/// The delta query overview promises "a 40X-series error with error codes such as
/// syncStateNotFound", not a 410: a 400 with that code must restart the folder, not stop sync
/// until someone presses Full resync.
async fn a_delta_link_refused_with_400_sync_state_not_found_resyncs_the_folder(backend: Backend) {
    let Some(s) = setup(backend, 4).await else { return };
    let first = s.sync(Mode::Incremental).await;
    assert_eq!((first.kind, first.applied.added), (mailroom_store::RunKind::FirstImport, first.imported));
    assert!(first.imported >= 4);
    let inbox = s.ids_in("inbox").await;
    s.control("delete", serde_json::json!({"id": inbox[0]})).await;
    s.control("patch", serde_json::json!({"id": inbox[1], "isRead": true, "flagged": true})).await;
    s.control("expire-delta", serde_json::json!({"status": 400, "code": "syncStateNotFound"})).await;

    let report = s.sync(Mode::Incremental).await;
    assert!(report.full, "the refused links were dropped and the folders synced afresh");
    assert_eq!(report.deleted, 1, "{report:?}");
    // Logged as an import again, with what really changed: one read and flagged, one gone.
    assert_eq!(report.kind, mailroom_store::RunKind::Reimport);
    assert_eq!((report.applied.added, report.applied.changed, report.applied.removed), (0, 1, 1), "{report:?}");
    s.assert_converged().await;
    let before = s.app.store.sync_cursor(s.account.id, &s.inbox_id().await).await.unwrap();
    assert_eq!(s.sync(Mode::Incremental).await, SyncReport::default(), "new delta links were stored");
    let after = s.app.store.sync_cursor(s.account.id, &s.inbox_id().await).await.unwrap();
    assert!(before.is_some_and(|b| b.contains("deltatoken")) && after.is_some(), "{after:?}");

    // `resyncRequired` says the same.
    s.control("expire-delta", serde_json::json!({"status": 400, "code": "resyncRequired"})).await;
    assert!(s.sync(Mode::Incremental).await.full);
    s.assert_converged().await;
}

async fn new_folders_get_a_round_and_removed_folders_go(backend: Backend) {
    let Some(s) = setup(backend, 3).await else { return };
    s.sync(Mode::Incremental).await;
    let receipts = s.graph_post("me/mailFolders", serde_json::json!({"displayName": "Receipts"})).await;
    let receipts = receipts["id"].as_str().unwrap().to_owned();
    let moved = s.ids_in("inbox").await.remove(0);
    s.control("move", serde_json::json!({"id": moved, "destination": receipts})).await;
    // Deleting a folder moves it under Deleted Items; deleting it there removes it with its mail.
    let state = s.state().await;
    let projects = state["folders"].as_array().unwrap().iter().find(|f| f["displayName"] == "Projects").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.graph_delete(&format!("me/mailFolders/{projects}")).await;
    s.graph_delete(&format!("me/mailFolders/{projects}")).await;

    let report = s.sync(Mode::Incremental).await;
    assert_eq!(report.deleted, 2, "the removed folder's messages went with it: {report:?}");
    s.assert_converged().await;
    let folders = s.app.store.folder_remote_ids(s.account.id).await.unwrap();
    assert!(folders.contains(&receipts));
    assert!(!folders.contains(&projects));
    assert_eq!(s.app.store.sync_cursor(s.account.id, &projects).await.unwrap(), None, "its cursor went too");
    assert_eq!(s.app.store.message_folders(s.account.id, &moved).await.unwrap(), [receipts]);
    assert_eq!(s.sync(Mode::Incremental).await, SyncReport::default());
}

async fn a_full_sync_converges_whatever_the_store_held(backend: Backend) {
    let Some(s) = setup(backend, 4).await else { return };
    s.sync(Mode::Incremental).await;
    let inbox = s.ids_in("inbox").await;
    let inbox_id =
        s.state().await["folders"].as_array().unwrap().iter().find(|f| f["wellKnownName"] == "inbox").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
    // The store lost one message and holds one the mailbox never had; a flag drifted.
    let parsed = mailroom_mime::parse(&mail(77)).into_message();
    let folders = vec![inbox_id];
    let phantom = IncomingMessage {
        remote_id: "AAkALgAAAAAAphantom",
        thread_remote_id: None,
        received_at: mailroom_store::now(),
        is_read: false,
        is_starred: false,
        is_draft: false,
        folders: &folders,
        raw: None,
        parsed: &parsed,
        parse_failed: false,
        has_attachments: None,
    };
    let changes = [
        MessageChange::Delete { remote_id: &inbox[0] },
        MessageChange::Upsert(phantom),
        MessageChange::Flags { remote_id: &inbox[1], is_read: Some(true), is_starred: Some(true) },
    ];
    s.app.store.apply_sync(s.account.id, &[], &changes, None, mailroom_store::now()).await.unwrap();
    assert_ne!(s.stored().await, s.remote().await);

    let report = s.sync(Mode::Full).await;
    assert!(report.full);
    assert_eq!(report.deleted, 1, "{report:?}");
    s.assert_converged().await;
    assert_eq!(s.sync(Mode::Incremental).await, SyncReport::default());
}

async fn the_mime_follows_in_the_background_with_its_parsed_view(backend: Backend) {
    let Some(s) = setup(backend, 4).await else { return };
    // One more, with a PDF attached: the delta page says so before the MIME can.
    let attached = b"From: Dana <dana@example.org>\r\nTo: carl@contoso.onmicrosoft.com\r\nSubject: Offer\r\n\
Message-ID: <offer@example.org>\r\nDate: Tue, 1 Oct 2024 09:00:00 +0000\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n\
--b\r\nContent-Type: application/pdf; name=\"offer.pdf\"\r\nContent-Disposition: attachment; filename=\"offer.pdf\"\r\n\r\nPDF\r\n--b--\r\n";
    {
        let at = s.sim.state.clock().now_ms() - 200 * 60_000;
        s.sim.state.world().graph(CARL).unwrap().deliver(attached.to_vec(), "archive", at);
    }
    s.sync(Mode::Incremental).await;
    let with_attachments = "SELECT COUNT(*) FROM messages WHERE has_attachments";
    assert_eq!(s.app.raw_count(with_attachments).await, 1, "hasAttachments before the MIME");
    assert_eq!(s.app.raw_count("SELECT COUNT(*) FROM attachments").await, 0, "names come with the MIME");
    let flagged = s.app.raw_count("SELECT COUNT(*) FROM messages WHERE is_starred").await;
    // Graph shows bodies as HTML; the MIME says they are plain text.
    assert_eq!(s.app.raw_count("SELECT COUNT(*) FROM messages WHERE has_html AND NOT has_text").await, 8);
    let oldest = s.ids_in("Projects").await;
    s.control("delete", serde_json::json!({"id": oldest[0]})).await;

    assert_eq!(fetch_pending_mime(&s.engine, &s.account, 2).await.unwrap(), 2);
    let newest = s
        .app
        .raw_bytes("SELECT r.raw FROM messages m JOIN message_raw r ON r.message_id = m.id ORDER BY m.received_at DESC")
        .await;
    assert_eq!(newest, [mail(0), mail(1)], "newest first, byte for byte");

    assert_eq!(fetch_pending_mime(&s.engine, &s.account, 100).await.unwrap(), 5, "the deleted one is skipped");
    assert_eq!(s.app.raw_count(COUNT_WITHOUT_RAW).await, 1);
    assert_eq!(s.app.raw_count(with_attachments).await, 1);
    assert_eq!(s.app.raw_strings("SELECT name FROM attachments").await, ["offer.pdf"]);
    assert_eq!(
        s.app
            .raw_count(
                "SELECT COUNT(*) FROM messages m JOIN message_raw r ON r.message_id = m.id \
                 WHERE m.has_text AND NOT m.has_html AND NOT m.parse_failed"
            )
            .await,
        7
    );
    let dates = s
        .app
        .raw_count(
            "SELECT COUNT(*) FROM messages m JOIN message_raw r ON r.message_id = m.id WHERE m.sent_at = 1727776800",
        )
        .await;
    assert_eq!(dates, 6, "the Date header is read from the MIME");
    assert_eq!(s.app.raw_count("SELECT COUNT(*) FROM messages WHERE is_starred").await, flagged, "flags stay");
    s.assert_converged_but(&oldest[0]).await;

    let projects = s.ids_in("Projects").await;
    assert!(fetch_mime_now(&s.engine, &s.account, &projects[0]).await.unwrap());
    assert!(!fetch_mime_now(&s.engine, &s.account, &oldest[0]).await.unwrap(), "gone at the provider");
    assert_eq!(s.app.raw_count(COUNT_WITHOUT_RAW).await, 1);
}

impl Setup {
    /// As [`Setup::assert_converged`], with one message deleted at the provider and not yet synced.
    async fn assert_converged_but(&self, deleted: &str) {
        let stored: Vec<String> = self.stored().await.into_iter().filter(|l| !l.starts_with(deleted)).collect();
        assert_eq!(stored, self.remote().await);
    }
}

/// A draft is listed again by every fresh round (a Full resync, an expired cursor) and by every
/// round after someone edits it. It must stay the same stored message: same id, the user's note,
/// tag and to-do kept, no removal in the change feed, its MIME fetched again only when its
/// content changed.
async fn a_draft_listed_again_keeps_its_id_and_what_the_user_added_and_an_edit_updates_it_in_place(backend: Backend) {
    let Some(s) = setup(backend, 2).await else { return };
    s.graph_post(
        "me/messages",
        serde_json::json!({"subject": "Plan A", "body": {"contentType": "text", "content": "First idea."},
            "toRecipients": [{"emailAddress": {"address": "dana@example.org"}}]}),
    )
    .await;
    // Sync keeps immutable ids.
    let state = s.state().await;
    let draft = state["messages"].as_array().unwrap().iter().find(|m| m["subject"] == "Plan A").unwrap();
    let remote = draft["immutableId"].as_str().unwrap().to_owned();
    s.sync(Mode::Incremental).await;
    fetch_pending_mime(&s.engine, &s.account, 100).await.unwrap();
    assert_eq!(s.app.raw_count(COUNT_WITHOUT_RAW).await, 0);
    let id: i64 = s.row_ids().await[&remote].parse().unwrap();
    let user = s.account.user_id;
    let store = &s.app.store;
    assert!(store.set_note(user, id, "Ask Dana first", 10).await.unwrap());
    store.set_todo(user, &[id], true, 10).await.unwrap().unwrap();
    let name = mailroom_domain::TagName::parse("Plans").unwrap();
    let tag = store.create_tag(user, &name, mailroom_domain::TagColor::Green, 10).await.unwrap().unwrap();
    store.set_tag(user, &[id], tag, true, 10).await.unwrap().unwrap();
    let seq = store.events_since(s.account.id, 0, 10_000).await.unwrap().last().unwrap().seq;

    // Listed again as it was: nothing to do, the MIME kept.
    s.sync(Mode::Full).await;
    s.control("expire-delta", serde_json::json!({})).await;
    s.sync(Mode::Incremental).await;
    assert_eq!(draft_rows(&s).await, [format!("{id}|Plan A|Ask Dana first|todo|{tag}")]);
    assert_eq!(s.app.raw_count(COUNT_WITHOUT_RAW).await, 0, "nothing to download again");
    let events = store.events_since(s.account.id, seq, 100).await.unwrap();
    assert!(events.iter().all(|e| e.remote_id != remote), "{events:?}");

    // Edited in Outlook: the same message, with the new content, and the new MIME follows.
    let token = s.engine.tokens.access_token(&s.account).await.unwrap();
    let edited = s
        .http
        .patch(format!("{}/microsoft/v1.0/me/messages/{remote}", s.sim.base_url()))
        .bearer_auth(secrecy::ExposeSecret::expose_secret(&token))
        .json(&serde_json::json!({"subject": "Plan B", "body": {"contentType": "text", "content": "Better idea."}}))
        .send()
        .await
        .unwrap();
    assert!(edited.status().is_success(), "{}", edited.status());
    s.sync(Mode::Incremental).await;
    assert_eq!(draft_rows(&s).await, [format!("{id}|Plan B|Ask Dana first|todo|{tag}")]);
    let events = store.events_since(s.account.id, seq, 100).await.unwrap();
    let kinds: Vec<&str> = events.iter().filter(|e| e.remote_id == remote).map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["changed"], "{events:?}");
    assert_eq!(s.app.raw_count(COUNT_WITHOUT_RAW).await, 1, "the older MIME was dropped");
    assert_eq!(fetch_pending_mime(&s.engine, &s.account, 100).await.unwrap(), 1);
    let raw = s
        .app
        .raw_bytes("SELECT r.raw FROM messages m JOIN message_raw r ON r.message_id = m.id WHERE m.is_draft")
        .await;
    assert!(String::from_utf8_lossy(&raw[0]).contains("Plan B"), "the new MIME");
    assert_eq!(draft_rows(&s).await, [format!("{id}|Plan B|Ask Dana first|todo|{tag}")]);
    assert_eq!(s.sync(Mode::Incremental).await, SyncReport::default());
}

/// The stored drafts: id, subject, note, to-do and tag, one line each.
async fn draft_rows(s: &Setup) -> Vec<String> {
    s.app
        .raw_strings(
            "SELECT CAST(m.id AS TEXT) || '|' || m.subject || '|' || n.body || '|' || \
             CASE WHEN m.todo THEN 'todo' ELSE '-' END || '|' || CAST(t.tag_id AS TEXT) \
             FROM messages m JOIN message_notes n ON n.message_id = m.id \
             JOIN message_tags t ON t.message_id = m.id WHERE m.is_draft",
        )
        .await
}
