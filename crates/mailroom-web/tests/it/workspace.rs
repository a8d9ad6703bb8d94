//! The mail workspace through the API against the simulator: lists and filters, one message, and
//! actions that change the store at once and reach the provider with the next sync run; a refused
//! action is undone and reported, another user's ids are not found.

use std::sync::Arc;

use mailroom_providers::Providers;
use mailroom_store::Account;
use mailroom_sync::{AccessTokens, Engine, Limits, Mode, Pacing, Progress, sync_account};
use serde_json::{Value, json};

use crate::connect::connect;
use crate::harness::{Backend, Client, TestApp, sim_endpoints};

crate::on_both_databases!(workspace:
    notes_tags_and_todos_kept_at_a_disconnect_come_back_when_the_mailbox_is_connected_again,
    gmail_actions_change_the_store_at_once_and_the_mailbox_with_the_next_run,
    outlook_actions_move_and_flag_at_the_provider,
    a_refused_action_is_undone_and_reported,
    messages_are_listed_by_filter_with_cursor_pages_and_shown_safely,
    another_users_ids_are_not_found_and_bad_requests_are_refused,
    the_mail_page_shows_hostile_mail_safely_and_acts_with_the_csrf_proof,
    conversations_are_listed_once_by_their_newest_message_across_pages,
    folder_counts_follow_sync_actions_and_undone_actions,
    outlook_folder_counts_follow_moves_at_the_provider,
    to_do_marks_and_notes_stay_in_mailroom_survive_a_full_sync_and_reach_the_feed,
    the_users_own_coloured_labels_tag_messages_and_stay_in_mailroom,
    an_action_the_provider_cannot_take_for_now_waits_and_goes_through_later,
    an_action_in_the_page_can_be_undone_and_the_provider_never_hears_of_it,
    a_held_action_reaches_the_provider_once_its_window_passes_and_not_before,
    the_open_conversation_shows_every_message_with_the_reply_in_sent,
);

const CARL: &str = "carl@contoso.onmicrosoft.com";

pub(crate) struct Setup {
    pub(crate) app: TestApp,
    pub(crate) sim: mailroom_sim::RunningSim,
    pub(crate) engine: Engine,
    pub(crate) account: Account,
    pub(crate) api: Client,
    pub(crate) user: mailroom_domain::UserId,
}

fn mail(n: usize, to: &str) -> Vec<u8> {
    format!(
        "From: Sender {n} <s{n}@client{}.example.org>\r\nTo: {to}\r\nSubject: Message {n}\r\n\
         Message-ID: <m{n}@example.org>\r\nDate: Tue, 1 Oct 2024 10:00:00 +0000\r\n\r\nBody {n}\r\n",
        n % 2
    )
    .into_bytes()
}

/// A user with one mailbox of `provider` holding `messages` unread messages in the inbox, synced,
/// and an API client with the user's token.
pub(crate) async fn setup(backend: Backend, provider: &str, messages: usize) -> Option<Setup> {
    let (app, sim) = TestApp::start_with_sim(backend).await?;
    let address = if provider == "google" { "ann@example.test" } else { CARL };
    {
        let now = sim.state.clock().now_ms();
        let mut world = sim.state.world();
        for n in 0..messages {
            let at = now - i64::try_from(n).unwrap() * 60_000;
            if provider == "google" {
                world.gmail(address).unwrap().deliver(mail(n, address), &["INBOX", "UNREAD"], at);
            } else {
                world.graph(address).unwrap().deliver(mail(n, address), "inbox", at);
            }
        }
        if provider == "google" {
            let label = mailroom_sim::gmail::Label {
                id: String::new(),
                name: "Clients".to_owned(),
                system: false,
                message_list_visibility: "show".to_owned(),
                label_list_visibility: "labelShow".to_owned(),
                color: None,
            };
            world.gmail(address).unwrap().create_label(label).ok().unwrap();
        }
    }
    let (user, mut browser) = app.member("user@example.test", "member password 1").await;
    connect(&mut browser, provider).await.assert_redirect("/accounts?notice=account_connected");
    let account = app.store.accounts_of(user.id).await.unwrap().remove(0);
    let providers = Arc::new(Providers::new(sim_endpoints(&sim)));
    let tokens =
        AccessTokens::new(app.store.clone(), providers.clone(), "http://mailroom.test/oauth/callback".to_owned());
    let engine = Engine { store: app.store.clone(), providers, tokens, pacing: Pacing::new(Limits::default()) };
    let token = app.store.create_api_token(user.id, "test", 1).await.unwrap().unwrap();
    let mut api = app.client();
    api.authorization = Some(format!("Bearer {}", token.expose()));
    let s = Setup { app, sim, engine, account, api, user: user.id };
    s.run().await;
    Some(s)
}

impl Setup {
    /// One sync run, as the scheduler makes it: the queued actions first, then the changes.
    pub(crate) async fn run(&self) {
        let account = self.app.store.account(self.account.id).await.unwrap().unwrap();
        sync_account(&self.engine, &account, Mode::Incremental, &Progress::new()).await.expect("the run succeeds");
    }

    pub(crate) async fn get(&mut self, path: &str) -> Value {
        let page = self.api.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        serde_json::from_str(&page.body).unwrap()
    }

    pub(crate) async fn post(&mut self, path: &str, body: Value) -> (u16, Value) {
        let page = self.api.request("POST", path, Some(("application/json", body.to_string().into_bytes()))).await;
        (page.status.as_u16(), serde_json::from_str(&page.body).unwrap_or(Value::Null))
    }

    async fn act(&mut self, ids: &[i64], action: &str, folder: Option<i64>) -> Value {
        let mut body = json!({"ids": ids, "action": action});
        if let Some(folder) = folder {
            body["folder"] = json!(folder);
        }
        let (status, answer) = self.post("/api/v1/messages/actions", body).await;
        assert_eq!(status, 200, "{action}: {answer}");
        answer
    }

    /// Subject → id of the listed messages.
    async fn subjects(&mut self, query: &str) -> Vec<String> {
        let list = self.get(&format!("/api/v1/messages{query}")).await;
        let mut subjects: Vec<String> =
            list["data"].as_array().unwrap().iter().map(|m| m["subject"].as_str().unwrap().to_owned()).collect();
        subjects.sort();
        subjects
    }

    pub(crate) async fn id_of(&mut self, subject: &str) -> i64 {
        let list = self.get("/api/v1/messages?limit=200").await;
        list["data"].as_array().unwrap().iter().find(|m| m["subject"] == subject).unwrap()["id"].as_i64().unwrap()
    }

    /// The ids of "Message 0" to "Message {count - 1}".
    async fn numbered(&mut self, count: usize) -> Vec<i64> {
        let mut ids = Vec::new();
        for n in 0..count {
            ids.push(self.id_of(&format!("Message {n}")).await);
        }
        ids
    }

    async fn folder_id(&mut self, name: &str) -> i64 {
        let folders = self.get("/api/v1/folders").await;
        folders["data"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap()["id"].as_i64().unwrap()
    }

    async fn sim_state(&self, provider: &str, address: &str) -> Value {
        reqwest::get(format!("{}/_sim/{provider}/{address}", self.sim.base_url())).await.unwrap().json().await.unwrap()
    }

    /// Subject → the Gmail labels the simulator's mailbox has on it.
    async fn gmail_labels(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        let state = self.sim_state("gmail", "ann@example.test").await;
        state["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let labels = m["labelIds"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_owned()).collect();
                (m["subject"].as_str().unwrap().to_owned(), labels)
            })
            .collect()
    }
}

async fn gmail_actions_change_the_store_at_once_and_the_mailbox_with_the_next_run(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 5).await else { return };
    assert_eq!(s.subjects("?kind=inbox").await.len(), 5);
    let m = s.numbered(5).await;
    let clients = s.folder_id("Clients").await;
    assert_eq!(s.act(&[m[0]], "read", None).await["changed"], 1);
    s.act(&[m[0]], "trash", None).await;
    s.act(&[m[1]], "star", None).await;
    s.act(&[m[2]], "archive", None).await;
    s.act(&[m[3]], "add_label", Some(clients)).await;
    s.act(&[m[4]], "move", Some(clients)).await;
    // Asking again for what already holds changes nothing and queues nothing.
    assert_eq!(s.act(&[m[1]], "star", None).await["changed"], 0);

    // The store shows it at once.
    assert_eq!(s.subjects("?kind=inbox").await, ["Message 1", "Message 3"]);
    assert_eq!(s.subjects("?kind=trash").await, ["Message 0"]);
    assert_eq!(s.subjects("?starred=true").await, ["Message 1"]);
    assert_eq!(s.subjects(&format!("?label={clients}")).await, ["Message 3", "Message 4"]);
    assert_eq!(s.subjects("?kind=archive").await, ["Message 2", "Message 4"]);
    assert_eq!(s.app.store.pending_writeback_count(s.account.id).await.unwrap(), 6);
    // The mailbox has not changed yet.
    assert!(s.gmail_labels().await.values().all(|labels| labels == &["INBOX", "UNREAD"]));

    s.run().await;
    assert_eq!(s.app.store.pending_writeback_count(s.account.id).await.unwrap(), 0);
    let labels = s.gmail_labels().await;
    assert_eq!(labels["Message 0"], ["INBOX", "TRASH"], "read and trashed");
    assert_eq!(labels["Message 1"], ["INBOX", "STARRED", "UNREAD"]);
    assert_eq!(labels["Message 2"], ["UNREAD"], "archived");
    assert_eq!(labels["Message 3"], ["INBOX", "Label_1", "UNREAD"]);
    assert_eq!(labels["Message 4"], ["Label_1", "UNREAD"], "moved");
    // The pull after the push agrees with what the store showed.
    assert_eq!(s.subjects("?kind=inbox").await, ["Message 1", "Message 3"]);
    assert_eq!(s.subjects("?unread=true").await, ["Message 1", "Message 2", "Message 3", "Message 4"]);

    // Restore, then delete for good.
    s.act(&[m[0]], "restore", None).await;
    s.run().await;
    assert_eq!(s.gmail_labels().await["Message 0"], ["INBOX"]);
    s.act(&[m[0]], "delete", None).await;
    assert_eq!(s.subjects("?kind=inbox").await, ["Message 1", "Message 3"], "gone from every view at once");
    s.run().await;
    assert!(!s.gmail_labels().await.contains_key("Message 0"), "deleted at the provider");
    assert_eq!(s.app.store.message_count(s.account.id).await.unwrap(), 4);
    assert_eq!(s.api.get(&format!("/api/v1/messages/{}", m[0])).await.status, 404);
}

async fn outlook_actions_move_and_flag_at_the_provider(backend: Backend) {
    let Some(mut s) = setup(backend, "microsoft", 3).await else { return };
    let m = s.numbered(3).await;
    s.act(&[m[0]], "star", None).await;
    s.act(&[m[1]], "read", None).await;
    s.act(&[m[2]], "archive", None).await;
    s.act(&[m[1]], "trash", None).await;
    assert_eq!(s.subjects("?kind=inbox").await, ["Message 0"]);
    // Outlook has folders, not labels.
    let inbox = s.folder_id("Inbox").await;
    let (status, answer) =
        s.post("/api/v1/messages/actions", json!({"ids": [m[0]], "action": "add_label", "folder": inbox})).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("not_possible")));

    s.run().await;
    let state = s.sim_state("graph", CARL).await;
    let remote =
        |subject: &str| state["messages"].as_array().unwrap().iter().find(|m| m["subject"] == subject).cloned();
    let first = remote("Message 0").unwrap();
    assert_eq!((first["flagStatus"].as_str(), first["folder"].as_str()), (Some("flagged"), Some("inbox")));
    let second = remote("Message 1").unwrap();
    assert_eq!((second["isRead"].as_bool(), second["folder"].as_str()), (Some(true), Some("deleteditems")));
    assert_eq!(remote("Message 2").unwrap()["folder"], "archive");
    assert_eq!(s.subjects("?kind=inbox").await, ["Message 0"]);
    assert_eq!(s.subjects("?kind=archive").await, ["Message 2"]);

    // From Deleted Items, deleting is for good.
    s.act(&[m[1]], "delete", None).await;
    s.run().await;
    let state = s.sim_state("graph", CARL).await;
    assert!(state["messages"].as_array().unwrap().iter().all(|m| m["subject"] != "Message 1"));
    assert_eq!(s.subjects("").await, ["Message 0", "Message 2"]);
}

async fn a_refused_action_is_undone_and_reported(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 2).await else { return };
    let first = s.id_of("Message 0").await;
    let clients = s.folder_id("Clients").await;
    // The label goes at the provider before Mailroom hears of it.
    {
        let now = s.sim.state.clock().now_ms();
        s.sim.state.world().gmail("ann@example.test").unwrap().delete_label("Label_1", now);
    }
    s.act(&[first], "add_label", Some(clients)).await;
    s.act(&[first], "star", None).await;
    assert_eq!(s.subjects(&format!("?label={clients}")).await, ["Message 0"]);
    s.run().await;
    // Gmail refused the unknown label: undone here, reported, and the next action still went;
    // the label, gone at Gmail, is gone from the folders too.
    let folders = s.get("/api/v1/folders").await;
    assert!(folders["data"].as_array().unwrap().iter().all(|f| f["name"] != "Clients"), "{folders}");
    assert_eq!(s.gmail_labels().await["Message 0"], ["INBOX", "STARRED", "UNREAD"]);
    let failed = s.app.store.failed_actions(s.user).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].subject.as_str(), failed[0].action.as_str()), ("Message 0", "add_label"));
    assert!(!failed[0].error.is_empty());
    assert_eq!(s.app.store.pending_writeback_count(s.account.id).await.unwrap(), 0);
    s.app.store.dismiss_failed_actions(s.user).await.unwrap();
    assert!(s.app.store.failed_actions(s.user).await.unwrap().is_empty());
}

async fn messages_are_listed_by_filter_with_cursor_pages_and_shown_safely(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 5).await else { return };
    // Pages of two, newest first, until the cursor runs out.
    let mut seen = Vec::new();
    let mut path = "/api/v1/messages?limit=2".to_owned();
    loop {
        let page = s.get(&path).await;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|m| m["subject"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/messages?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["Message 0", "Message 1", "Message 2", "Message 3", "Message 4"]);
    // With a customer: an exact address, or a whole domain.
    assert_eq!(s.subjects("?participant=s1@client1.example.org").await, ["Message 1"]);
    assert_eq!(s.subjects("?participant=@client0.example.org").await, ["Message 0", "Message 2", "Message 4"]);
    assert_eq!(s.subjects("?participant=@CLIENT1.example.org&unread=true").await, ["Message 1", "Message 3"]);
    let unread = s.get("/api/v1/unread").await;
    assert_eq!(unread["inbox_unread"], 5);

    let id = s.id_of("Message 2").await;
    let shown = s.get(&format!("/api/v1/messages/{id}")).await;
    assert_eq!(shown["message"]["subject"], "Message 2");
    assert_eq!(shown["to"][0]["address"], "ann@example.test");
    assert!(shown["html"].as_str().unwrap().contains("Body 2"));
    let original = s.api.get(&format!("/api/v1/messages/{id}/original")).await;
    assert_eq!(original.status, 200);
    assert_eq!(original.headers["content-type"], "message/rfc822");
    assert!(original.headers["content-disposition"].to_str().unwrap().contains("Message 2.eml"));
    assert!(original.body.contains("Subject: Message 2"));
}

async fn another_users_ids_are_not_found_and_bad_requests_are_refused(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 2).await else { return };
    let id = s.id_of("Message 0").await;
    let clients = s.folder_id("Clients").await;
    let (ben, _) = s.app.member("ben@example.test", "member password 2").await;
    let token = s.app.store.create_api_token(ben.id, "ben", 1).await.unwrap().unwrap();
    let mut other = s.app.client();
    other.authorization = Some(format!("Bearer {}", token.expose()));
    for path in [
        format!("/api/v1/messages/{id}"),
        format!("/api/v1/messages/{id}/original"),
        format!("/api/v1/messages/{id}/attachments/0"),
        format!("/api/v1/messages?folder={clients}"),
        format!("/api/v1/messages?account={}", s.account.id.0),
        "/api/v1/messages/abc".to_owned(),
        format!("/api/v1/messages/{id}/attachments/x"),
    ] {
        let page = other.get(&path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(page.body.contains("\"not_found\""), "{path}: {}", page.body);
    }
    let body = json!({"ids": [id], "action": "trash"}).to_string().into_bytes();
    let page = other.request("POST", "/api/v1/messages/actions", Some(("application/json", body))).await;
    assert_eq!(page.status, 404);
    // Ann's message and Ben's nothing: nothing changes.
    assert_eq!(s.subjects("?kind=trash").await, Vec::<String>::new());
    for (body, code) in [
        (json!({"ids": [id], "action": "explode"}), 400),
        (json!({"ids": [], "action": "trash"}), 400),
        (json!({"ids": [id], "action": "move"}), 400),
        (json!({"ids": [id], "action": "trash", "folder": clients}), 400),
        (json!({"ids": [id, 999_999], "action": "trash"}), 404),
    ] {
        let (status, answer) = s.post("/api/v1/messages/actions", body.clone()).await;
        assert_eq!(status, code, "{body}: {answer}");
        assert!(answer["error"]["message"].is_string());
    }
    for bad in ["?unread=maybe", "?participant=nobody", "?cursor=abc", "?limit=0", "?folder=1&label=1", "?kind=custom"]
    {
        let page = s.api.get(&format!("/api/v1/messages{bad}")).await;
        assert_eq!(page.status, 400, "{bad}");
    }
    assert_eq!(s.subjects("?kind=trash").await, Vec::<String>::new());
    // A browser session without the CSRF proof cannot act; a bearer token needs none.
    let mut browser = s.app.client();
    browser.login("user@example.test", "member password 1").await;
    let body = json!({"ids": [id], "action": "trash"}).to_string().into_bytes();
    let page = browser.request("POST", "/api/v1/messages/actions", Some(("application/json", body))).await;
    assert_eq!(page.status, 403);
}

/// Mail written to hurt: scripts, handlers, `javascript:` links, SVG with script, CSS expressions,
/// a form, meta refresh, a base tag, a tracking pixel, a `cid:` image and an HTML attachment.
const HOSTILE: &str = "From: Mallory <mallory@evil.example>\r\nTo: ann@example.test\r\nSubject: Hostile\r\n\
Message-ID: <hostile@evil.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n\
--outer\r\nContent-Type: multipart/related; boundary=inner\r\n\r\n\
--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><head><meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/\"><base href=\"https://evil.example/\">\
<script>alert('head')</script></head><body onload=\"steal()\">\
<p style=\"color: red; background: url(https://evil.example/bg.png); width: expression(alert(1))\">Visible text</p>\
<script>alert(1)</script><img src=\"x\" onerror=\"alert(2)\"><a href=\"javascript:alert(3)\">click</a>\
<a href=\"https://example.org/page\">a fine link</a>\
<svg><script>alert(4)</script></svg><form action=\"https://evil.example/\"><input name=\"password\"></form>\
<iframe src=\"https://evil.example/\"></iframe><img src=\"https://tracker.example/pixel.gif\" width=\"1\" height=\"1\">\
<img src=\"cid:logo@evil.example\" alt=\"logo\"><blockquote>Earlier words</blockquote></body></html>\r\n\
--inner\r\nContent-Type: image/png\r\nContent-ID: <logo@evil.example>\r\nContent-Disposition: inline; filename=\"logo.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--inner--\r\n\
--outer\r\nContent-Type: text/html; name=\"evil.html\"\r\nContent-Disposition: attachment; filename=\"../evil.html\"\r\n\r\n\
<script>alert('attached')</script>\r\n--outer--\r\n";

async fn the_mail_page_shows_hostile_mail_safely_and_acts_with_the_csrf_proof(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 2).await else { return };
    {
        let now = s.sim.state.clock().now_ms();
        s.sim.state.world().gmail("ann@example.test").unwrap().deliver(
            HOSTILE.as_bytes().to_vec(),
            &["INBOX", "UNREAD"],
            now,
        );
    }
    s.run().await;
    let id = s.id_of("Hostile").await;
    let mut browser = s.app.client();
    browser.login("user@example.test", "member password 1").await;
    let page = browser.get("/mail").await;
    page.assert_status(axum::http::StatusCode::OK).assert_contains("Hostile").assert_contains("Message 1");
    assert!(page.body.contains("(3) "), "the unread count is in the title");

    // Opening reads it; the content is only in the frame.
    let page = browser.get(&format!("/mail?kind=inbox&open={id}")).await;
    page.assert_contains(&format!("/mail/messages/{id}/body"))
        .assert_contains("sandbox=\"allow-same-origin allow-popups allow-popups-to-escape-sandbox\"");
    page.assert_lacks("alert(").assert_lacks("<p style").assert_contains("evil.html").assert_contains("Show images");
    let list = s.get("/api/v1/messages?unread=true").await;
    assert!(list["data"].as_array().unwrap().iter().all(|m| m["id"] != id), "opened, so read");

    let frame = browser.get(&format!("/mail/messages/{id}/body")).await;
    frame.assert_status(axum::http::StatusCode::OK).assert_contains("Visible text").assert_contains("a fine link");
    let policy = frame.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'none'") && policy.contains("sandbox") && policy.contains("img-src data:;"));
    assert_eq!(frame.headers["x-frame-options"], "SAMEORIGIN");
    let lower = frame.body.to_lowercase();
    for bad in [
        "<script",
        "onerror",
        "onload",
        "javascript:",
        "<svg",
        "<form",
        "<input",
        "<iframe",
        "http-equiv",
        "<base",
        "expression",
        "tracker.example",
        "evil.example/bg",
    ] {
        assert!(!lower.contains(bad), "{bad} survived: {}", frame.body);
    }
    assert!(frame.body.contains("data:image/png;base64,"), "the cid: image is inlined");
    assert!(frame.body.contains("rel=\"noopener noreferrer\""));
    assert!(
        frame.body.contains("<details class=\"quote\"><summary>…</summary><blockquote>Earlier words"),
        "quotes fold"
    );
    let with_images = browser.get(&format!("/mail/messages/{id}/body?images=1")).await;
    assert!(with_images.body.contains("tracker.example"), "shown once the user asks");
    assert!(with_images.headers["content-security-policy"].to_str().unwrap().contains("img-src data: https:"));

    // "Always show images from" this sender: from now on without asking, for this user only.
    let allow = [("message", id.to_string()), ("back", format!("/mail?kind=inbox&open={id}"))];
    let allow: Vec<(&str, &str)> = allow.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post_raw("/mail/images/allow", &allow).await.assert_status(axum::http::StatusCode::FORBIDDEN);
    browser.submit("/mail", "/mail/images/allow", &allow).await.assert_redirect(&format!("/mail?kind=inbox&open={id}"));
    assert!(browser.get(&format!("/mail/messages/{id}/body")).await.body.contains("tracker.example"));
    browser.get(&format!("/mail?kind=inbox&open={id}")).await.assert_lacks("Show images");
    let (_, mut carol) = s.app.member("carol@example.test", "member password 3").await;
    carol.submit("/mail", "/mail/images/allow", &allow).await.assert_status(axum::http::StatusCode::NOT_FOUND);

    // The HTML attachment downloads as bytes under a safe name.
    let attachment = browser.get(&format!("/mail/messages/{id}/attachments/1")).await;
    assert_eq!(attachment.headers["content-type"], "application/octet-stream");
    let disposition = attachment.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;") && !disposition.contains('/'), "{disposition}");

    // Acting needs the proof.
    let fields = [("ids", id.to_string()), ("action", "archive".to_owned()), ("back", "/mail?kind=inbox".to_owned())];
    let plain: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post_raw("/mail/act", &plain).await.assert_status(axum::http::StatusCode::FORBIDDEN);
    assert_eq!(s.subjects("?kind=archive").await, Vec::<String>::new());
    let done = browser.submit("/mail", "/mail/act", &plain).await;
    let back = done.location().unwrap();
    assert!(back.starts_with("/mail?kind=inbox&undo=") && back.ends_with("&notice=action_done"), "{back}");
    assert_eq!(s.subjects("?kind=archive").await, ["Hostile"]);
    // An address elsewhere is not a way out.
    let elsewhere =
        [("ids", id.to_string()), ("action", "star".to_owned()), ("back", "https://evil.example/".to_owned())];
    let elsewhere: Vec<(&str, &str)> = elsewhere.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let back = browser.submit("/mail", "/mail/act", &elsewhere).await.location().unwrap().to_owned();
    assert!(back.starts_with("/mail?undo=") && back.ends_with("&notice=action_done"), "{back}");

    // Another user finds none of it.
    let (_, mut ben) = s.app.member("ben@example.test", "member password 2").await;
    let folder = s.folder_id("Clients").await;
    for path in [
        format!("/mail?open={id}"),
        format!("/mail?folder={folder}"),
        format!("/mail/messages/{id}/body"),
        format!("/mail/messages/{id}/attachments/0"),
        format!("/mail/messages/{id}/original"),
    ] {
        ben.get(&path).await.assert_status(axum::http::StatusCode::NOT_FOUND);
    }
    let ben_fields = [("ids", id.to_string()), ("action", "trash".to_owned())];
    let ben_fields: Vec<(&str, &str)> = ben_fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ben.submit("/mail", "/mail/act", &ben_fields).await.assert_status(axum::http::StatusCode::NOT_FOUND);
    assert_eq!(s.subjects("?kind=trash").await, Vec::<String>::new());
}

async fn conversations_are_listed_once_by_their_newest_message_across_pages(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 4).await else { return };
    // Two replies to Message 3 (the oldest) arrive: the conversation moves to the top, once.
    {
        let now = s.sim.state.clock().now_ms();
        let mut world = s.sim.state.world();
        let mailbox = world.gmail("ann@example.test").unwrap();
        for (n, minutes) in [(1, 2), (2, 1)] {
            let reply = format!(
                "From: Sender 3 <s3@client1.example.org>\r\nTo: ann@example.test\r\nSubject: Re: Message 3\r\n\
                 Message-ID: <reply{n}@example.org>\r\nIn-Reply-To: <m3@example.org>\r\nReferences: <m3@example.org>\r\n\r\nReply {n}\r\n"
            );
            mailbox.deliver(reply.into_bytes(), &["INBOX"], now + minutes * 60_000);
        }
    }
    s.run().await;
    let filter = mailroom_store::MessageFilter { kind: Some(mailroom_domain::FolderKind::Inbox), ..Default::default() };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.app.store.list_conversations(s.user, &filter, after, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|m| m.cursor());
        seen.extend(page.into_iter().map(|m| (m.subject, m.thread_count, m.thread_unread)));
    }
    assert_eq!(
        seen,
        [
            ("Re: Message 3".to_owned(), 3, true),
            ("Message 0".to_owned(), 1, true),
            ("Message 1".to_owned(), 1, true),
            ("Message 2".to_owned(), 1, true),
        ],
        "the newest reply stands for its conversation, which is on one page only"
    );
    // Read it all but the oldest message: the conversation is still unread; the page says 3.
    let replies: Vec<i64> = s.get("/api/v1/messages?limit=200").await["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["subject"] == "Re: Message 3")
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    s.act(&replies, "read", None).await;
    let top = s.app.store.list_conversations(s.user, &filter, None, 1).await.unwrap();
    assert_eq!((top[0].thread_count, top[0].thread_unread, top[0].is_read), (3, true, true));
    // Archiving the replies leaves the first message in the inbox: it stands for the conversation there.
    s.act(&replies, "archive", None).await;
    let inbox = s.app.store.list_conversations(s.user, &filter, None, 10).await.unwrap();
    assert_eq!(
        inbox.iter().map(|m| m.subject.as_str()).collect::<Vec<_>>(),
        ["Message 0", "Message 1", "Message 2", "Message 3"]
    );
}

/// The folder counts kept by every write, compared with the folders counted from scratch.
async fn assert_counts_kept(s: &Setup, when: &str) {
    let kept = s.app.store.folder_summaries(s.user, None).await.unwrap();
    s.app.store.recount_folders(s.account.id).await.unwrap();
    let counted = s.app.store.folder_summaries(s.user, None).await.unwrap();
    assert_eq!(kept, counted, "kept counts drifted {when}");
}

async fn folder_counts_follow_sync_actions_and_undone_actions(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 8).await else { return };
    assert_counts_kept(&s, "after the import").await;
    let inbox =
        s.get("/api/v1/folders").await["data"].as_array().unwrap().iter().find(|f| f["kind"] == "inbox").cloned();
    assert_eq!((inbox.as_ref().unwrap()["total"].as_i64(), inbox.unwrap()["unread"].as_i64()), (Some(8), Some(8)));
    let m = s.numbered(8).await;
    let clients = s.folder_id("Clients").await;
    s.act(&[m[0], m[1]], "read", None).await;
    s.act(&[m[1]], "star", None).await;
    s.act(&[m[2]], "trash", None).await;
    s.act(&[m[3]], "spam", None).await;
    s.act(&[m[4]], "add_label", Some(clients)).await;
    s.act(&[m[5]], "move", Some(clients)).await;
    s.act(&[m[6]], "delete", None).await;
    assert_counts_kept(&s, "after actions").await;
    let unread = s.get("/api/v1/unread").await["inbox_unread"].as_i64();
    assert_eq!(unread, Some(2), "Messages 4 and 7 are unread in the inbox");

    // Changes from another client and new mail, then the run that replays the actions.
    let http = reqwest::Client::new();
    let remote = s.sim_state("gmail", "ann@example.test").await;
    let id_of = |subject: &str| {
        remote["messages"].as_array().unwrap().iter().find(|x| x["subject"] == subject).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let control = format!("{}/_sim/gmail/ann@example.test", s.sim.base_url());
    let modify = json!({"id": id_of("Message 7"), "addLabelIds": ["TRASH"], "removeLabelIds": ["UNREAD"]});
    assert!(http.post(format!("{control}/modify")).json(&modify).send().await.unwrap().status().is_success());
    {
        let now = s.sim.state.clock().now_ms();
        s.sim.state.world().gmail("ann@example.test").unwrap().deliver(
            mail(20, "ann@example.test"),
            &["INBOX", "UNREAD"],
            now,
        );
    }
    s.run().await;
    assert_counts_kept(&s, "after a run").await;

    // An action the provider refuses is undone, and so is what it did to the counts.
    {
        let now = s.sim.state.clock().now_ms();
        s.sim.state.world().gmail("ann@example.test").unwrap().delete_label("Label_1", now);
    }
    s.act(&[m[7]], "add_label", Some(clients)).await;
    s.run().await;
    assert_eq!(s.app.store.failed_actions(s.user).await.unwrap().len(), 1);
    assert_counts_kept(&s, "after an undone action").await;
    s.act(&[m[2]], "restore", None).await;
    s.act(&[m[3]], "not_spam", None).await;
    s.run().await;
    assert_counts_kept(&s, "after restoring").await;
}

async fn outlook_folder_counts_follow_moves_at_the_provider(backend: Backend) {
    let Some(mut s) = setup(backend, "microsoft", 5).await else { return };
    assert_counts_kept(&s, "after the import").await;
    let m = s.numbered(5).await;
    s.act(&[m[0]], "archive", None).await;
    s.act(&[m[1]], "read", None).await;
    let state = s.sim_state("graph", CARL).await;
    let remote = state["messages"].as_array().unwrap().iter().find(|x| x["subject"] == "Message 4").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let control = format!("{}/_sim/graph/{CARL}", s.sim.base_url());
    let moved = http
        .post(format!("{control}/move"))
        .json(&json!({"id": remote, "destination": "junkemail"}))
        .send()
        .await
        .unwrap();
    assert!(moved.status().is_success());
    s.run().await;
    assert_counts_kept(&s, "after moves here and there").await;
    assert_eq!(s.get("/api/v1/unread").await["inbox_unread"].as_i64(), Some(2));
}

async fn to_do_marks_and_notes_stay_in_mailroom_survive_a_full_sync_and_reach_the_feed(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 3).await else { return };
    let m = s.numbered(3).await;
    let feed = s.get("/api/v1/changes").await["next_cursor"].as_str().unwrap().to_owned();
    let labels_before = s.gmail_labels().await;
    assert_eq!(s.act(&[m[0], m[1]], "todo", None).await["changed"], 2);
    assert_eq!(s.act(&[m[1]], "untodo", None).await["changed"], 1);
    assert_eq!(s.subjects("?todo=true").await, ["Message 0"]);
    let (status, _) = s.post("/api/v1/messages/actions", json!({"ids": [m[0]], "action": "todo", "folder": 1})).await;
    assert_eq!(status, 400, "a to-do names no folder");

    let note = |text: &str| json!({"note": text}).to_string().into_bytes();
    let page = s
        .api
        .request(
            "PUT",
            &format!("/api/v1/messages/{}/note", m[0]),
            Some(("application/json", note("Call <Jana> back"))),
        )
        .await;
    assert_eq!((page.status.as_u16(), page.body.as_str()), (200, r#"{"note":"Call <Jana> back"}"#));
    assert_eq!(s.get(&format!("/api/v1/messages/{}", m[0])).await["note"], "Call <Jana> back");
    let long = "x".repeat(10_001);
    let page =
        s.api.request("PUT", &format!("/api/v1/messages/{}/note", m[0]), Some(("application/json", note(&long)))).await;
    assert_eq!(page.status, 400);
    let (ben, _) = s.app.member("ben@example.test", "member password 2").await;
    let mut other = s.app.client();
    other.authorization =
        Some(format!("Bearer {}", s.app.store.create_api_token(ben.id, "b", 1).await.unwrap().unwrap().expose()));
    let page = other
        .request("PUT", &format!("/api/v1/messages/{}/note", m[0]), Some(("application/json", note("mine"))))
        .await;
    assert_eq!(page.status, 404);
    let body = json!({"ids": [m[0]], "action": "untodo"}).to_string().into_bytes();
    assert_eq!(other.request("POST", "/api/v1/messages/actions", Some(("application/json", body))).await.status, 404);

    // Nothing of it goes to the provider, and a full sync keeps it.
    assert_eq!(s.app.store.pending_writeback_count(s.account.id).await.unwrap(), 0);
    let account = s.app.store.account(s.account.id).await.unwrap().unwrap();
    sync_account(&s.engine, &account, Mode::Full, &Progress::new()).await.unwrap();
    assert_eq!(s.gmail_labels().await, labels_before);
    assert_eq!(s.subjects("?todo=true").await, ["Message 0"]);
    assert_eq!(s.get(&format!("/api/v1/messages/{}", m[0])).await["note"], "Call <Jana> back");
    // API clients following the feed hear of both.
    let changes = s.get(&format!("/api/v1/changes?cursor={feed}")).await;
    let changed: Vec<i64> = changes["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "changed")
        .map(|e| e["message_id"].as_i64().unwrap())
        .collect();
    assert!(changed.contains(&m[0]) && changed.contains(&m[1]), "{changes}");

    // On the mail page: the To-do list, the buttons and the note, escaped.
    let mut browser = s.app.client();
    browser.login("user@example.test", "member password 1").await;
    browser.get("/mail?todo=1").await.assert_contains("Message 0").assert_lacks("Message 2");
    let open = format!("/mail?todo=1&open={}", m[0]);
    browser.get(&open).await.assert_contains("Call &#60;Jana&#62; back").assert_contains("value=\"untodo\"");
    let fields = [("note", "Sent the offer".to_owned()), ("back", open.clone())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser
        .submit(&open, &format!("/mail/messages/{}/note", m[0]), &fields)
        .await
        .assert_redirect(&format!("{open}&notice=note_saved"));
    assert_eq!(s.get(&format!("/api/v1/messages/{}", m[0])).await["note"], "Sent the offer");
    let done = [("ids", m[0].to_string()), ("action", "untodo".to_owned()), ("back", "/mail?todo=1".to_owned())];
    let done: Vec<(&str, &str)> = done.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.submit(&open, "/mail/act", &done).await.assert_redirect("/mail?todo=1&notice=action_done");
    assert_eq!(s.subjects("?todo=true").await, Vec::<String>::new());
}

async fn the_users_own_coloured_labels_tag_messages_and_stay_in_mailroom(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 3).await else { return };
    let m = s.numbered(3).await;
    let labels_before = s.gmail_labels().await;
    let (status, tag) = s.post("/api/v1/tags", json!({"name": " Clients ", "color": "teal"})).await;
    assert_eq!((status, tag["name"].as_str(), tag["color"].as_str()), (201, Some("Clients"), Some("teal")));
    let tag = tag["id"].as_i64().unwrap();
    assert_eq!(s.post("/api/v1/tags", json!({"name": "Clients", "color": "red"})).await.0, 409);
    assert_eq!(s.post("/api/v1/tags", json!({"name": "X", "color": "#ff0000"})).await.0, 400);
    assert_eq!(s.post("/api/v1/tags", json!({"name": "", "color": "red"})).await.0, 400);
    let (status, _) = s.post("/api/v1/messages/actions", json!({"ids": [m[0]], "action": "tag"})).await;
    assert_eq!(status, 400, "tag names its tag");
    let (status, _) =
        s.post("/api/v1/messages/actions", json!({"ids": [m[0], m[2]], "action": "tag", "tag": tag})).await;
    assert_eq!(status, 200);
    assert_eq!(s.subjects(&format!("?tag={tag}")).await, ["Message 0", "Message 2"]);
    let listed = s.get(&format!("/api/v1/messages/{}", m[0])).await;
    assert_eq!(listed["message"]["tag_ids"], json!([tag]));
    assert_eq!(s.get("/api/v1/tags").await["data"][0]["count"], 2);
    s.post("/api/v1/messages/actions", json!({"ids": [m[2]], "action": "untag", "tag": tag})).await;
    assert_eq!(s.subjects(&format!("?tag={tag}")).await, ["Message 0"]);
    // Never at the provider.
    s.run().await;
    assert_eq!(s.gmail_labels().await, labels_before);

    // Another user can neither see nor use it.
    let (ben, _) = s.app.member("ben@example.test", "member password 2").await;
    let mut other = s.app.client();
    other.authorization =
        Some(format!("Bearer {}", s.app.store.create_api_token(ben.id, "b", 1).await.unwrap().unwrap().expose()));
    assert_eq!(other.get(&format!("/api/v1/messages?tag={tag}")).await.status, 404);
    assert_eq!(other.request("DELETE", &format!("/api/v1/tags/{tag}"), None).await.status, 404);

    // On the mail page: made, applied, listed, deleted.
    let mut browser = s.app.client();
    browser.login("user@example.test", "member password 1").await;
    let made = browser.submit("/mail", "/mail/tags", &[("name", "Urgent"), ("color", "red")]).await;
    let location = made.location().unwrap().to_owned();
    assert!(location.starts_with("/mail?tag=") && location.ends_with("&notice=tag_created"), "{location}");
    let urgent: i64 = location.trim_start_matches("/mail?tag=").split('&').next().unwrap().parse().unwrap();
    browser
        .submit("/mail", "/mail/tags", &[("name", "Urgent"), ("color", "blue")])
        .await
        .assert_redirect("/mail?notice=tag_invalid");
    let open = format!("/mail?kind=inbox&open={}", m[1]);
    let fields = [
        ("ids", m[1].to_string()),
        ("action", "tag".to_owned()),
        ("tag", urgent.to_string()),
        ("folder", String::new()),
        ("back", open.clone()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.submit(&open, "/mail/act", &fields).await.assert_redirect(&format!("{open}&notice=action_done"));
    let page = browser.get(&format!("/mail?tag={urgent}")).await;
    page.assert_contains("Message 1").assert_lacks("Message 0").assert_contains("c-red");
    browser.get(&format!("/mail?tag={tag}")).await.assert_contains("Clients").assert_contains("Message 0");
    browser
        .submit("/mail", &format!("/mail/tags/{urgent}/delete"), &[])
        .await
        .assert_redirect("/mail?notice=tag_deleted");
    browser.get(&format!("/mail?tag={urgent}")).await.assert_status(axum::http::StatusCode::NOT_FOUND);
    let mut ben_browser = s.app.client();
    ben_browser.login("ben@example.test", "member password 2").await;
    ben_browser.get(&format!("/mail?tag={tag}")).await.assert_status(axum::http::StatusCode::NOT_FOUND);
    ben_browser
        .submit("/mail", &format!("/mail/tags/{tag}/delete"), &[])
        .await
        .assert_status(axum::http::StatusCode::NOT_FOUND);
    assert_eq!(s.get("/api/v1/tags").await["data"].as_array().unwrap().len(), 1);
}

async fn an_action_the_provider_cannot_take_for_now_waits_and_goes_through_later(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 2).await else { return };
    // Tried twice, a millisecond apart, before the run gives up: the scheduler's backoff retries.
    let limits = Limits {
        attempts: 2,
        backoff_base: std::time::Duration::from_millis(1),
        backoff_cap: std::time::Duration::from_millis(2),
        ..Limits::default()
    };
    s.engine.pacing = Pacing::new(limits);
    let first = s.id_of("Message 0").await;
    s.act(&[first], "star", None).await;
    s.sim.state.set_faults(mailroom_sim::Faults { error_rate: 1.0, ..Default::default() });
    let account = s.app.store.account(s.account.id).await.unwrap().unwrap();
    let failed = sync_account(&s.engine, &account, Mode::Incremental, &Progress::new()).await;
    assert!(failed.is_err(), "the run fails while the provider does");
    // Kept, not undone, and not reported as refused.
    let pending = s.app.store.pending_writebacks(s.account.id, 10).await.unwrap();
    assert_eq!((pending.len(), pending[0].attempts), (1, 1));
    assert!(s.app.store.failed_actions(s.user).await.unwrap().is_empty());
    assert_eq!(s.subjects("?starred=true").await, ["Message 0"]);
    assert!(!s.gmail_labels().await["Message 0"].contains(&"STARRED".to_owned()));

    s.sim.state.set_faults(mailroom_sim::Faults::default());
    s.run().await;
    assert_eq!(s.app.store.pending_writeback_count(s.account.id).await.unwrap(), 0);
    assert!(s.gmail_labels().await["Message 0"].contains(&"STARRED".to_owned()));
}

/// Posts the mail page's action form as its script does, asking for JSON.
async fn act_in_page(browser: &mut Client, fields: &[(&str, &str)]) -> crate::harness::Page {
    let csrf = browser.get("/mail").await.csrf();
    let mut fields = fields.to_vec();
    fields.push(("csrf_token", &csrf));
    browser.headers = vec![("accept", "application/json".to_owned())];
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
    let page =
        browser.request("POST", "/mail/act", Some(("application/x-www-form-urlencoded", body.into_bytes()))).await;
    browser.headers.clear();
    page
}

async fn an_action_in_the_page_can_be_undone_and_the_provider_never_hears_of_it(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 3).await else { return };
    // A reply to Message 1 makes a conversation of two in the inbox.
    {
        let now = s.sim.state.clock().now_ms();
        let reply = "From: Sender 1 <s1@client1.example.org>\r\nTo: ann@example.test\r\nSubject: Re: Message 1\r\n\
                     Message-ID: <r1@example.org>\r\nIn-Reply-To: <m1@example.org>\r\nReferences: <m1@example.org>\r\n\r\nAgain\r\n";
        s.sim.state.world().gmail("ann@example.test").unwrap().deliver(
            reply.as_bytes().to_vec(),
            &["INBOX", "UNREAD"],
            now,
        );
    }
    s.run().await;
    let reply = s.id_of("Re: Message 1").await;
    let mut browser = s.app.client();
    browser.login("user@example.test", "member password 1").await;

    // Nothing selected: said so, nothing changes.
    let page = act_in_page(&mut browser, &[("action", "archive"), ("scope", "conversation")]).await;
    page.assert_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY).assert_contains("Select a conversation first");
    let csrf = browser.get("/mail").await.csrf();
    let plain = [("action", "archive"), ("back", "/mail?kind=inbox"), ("csrf_token", csrf.as_str())];
    browser.post_raw("/mail/act", &plain).await.assert_redirect("/mail?kind=inbox&notice=nothing_selected");
    assert_eq!(s.subjects("?kind=inbox").await.len(), 4);

    // Archiving the conversation's row archives both of its messages, at once, in the store.
    let id = reply.to_string();
    let page = act_in_page(&mut browser, &[("ids", &id), ("action", "archive"), ("scope", "conversation")]).await;
    page.assert_status(axum::http::StatusCode::OK);
    let done: Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!((done["changed"].as_i64(), done["text"].as_str()), (Some(2), Some("Archived")));
    assert_eq!(s.subjects("?kind=inbox").await, ["Message 0", "Message 2"]);
    let batch = done["undo"].as_i64().expect("an Undo handle");
    // The provider has not heard of it: its jobs wait for the window.
    let pending = s.app.store.pending_writebacks(s.account.id, 10).await.unwrap();
    assert_eq!(pending.len(), 2);
    assert!(pending.iter().all(|job| job.hold_until > mailroom_store::now() + mailroom_store::UNDO_MARGIN));

    // Undo: both come back, the jobs go, and a sync leaves the mailbox as it was.
    let csrf = browser.get("/mail").await.csrf();
    let batch_text = batch.to_string();
    browser.headers = vec![("accept", "application/json".to_owned())];
    let undone = browser.post_raw("/mail/undo", &[("batch", &batch_text), ("csrf_token", &csrf)]).await;
    browser.headers.clear();
    undone.assert_status(axum::http::StatusCode::OK).assert_contains("Action undone");
    assert_eq!(s.subjects("?kind=inbox").await.len(), 4);
    assert_eq!(s.app.store.pending_writeback_count(s.account.id).await.unwrap(), 0);
    assert_counts_kept(&s, "after an undo").await;
    s.run().await;
    let labels = s.gmail_labels().await;
    assert!(labels["Message 1"].contains(&"INBOX".to_owned()) && labels["Re: Message 1"].contains(&"INBOX".to_owned()));
    // Undone once; a second time, or another user's, is not found.
    browser
        .post_raw("/mail/undo", &[("batch", &batch_text), ("csrf_token", &csrf)])
        .await
        .assert_status(axum::http::StatusCode::NOT_FOUND);

    // Without script: the notice comes with an Undo button that works the same way.
    let zero = s.id_of("Message 0").await.to_string();
    let fields =
        [("ids", zero.as_str()), ("action", "trash"), ("back", "/mail?kind=inbox"), ("csrf_token", csrf.as_str())];
    let back = browser.post_raw("/mail/act", &fields).await.location().unwrap().to_owned();
    let page = browser.get(&back).await;
    page.assert_contains("action=\"/mail/undo\"").assert_contains("Done.");
    let batch = back.split("undo=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let (_, mut ben) = s.app.member("ben@example.test", "member password 2").await;
    ben.submit("/mail", "/mail/undo", &[("batch", &batch)]).await.assert_status(axum::http::StatusCode::NOT_FOUND);
    let fields = [("batch", batch.as_str()), ("back", "/mail?kind=inbox")];
    browser.submit("/mail", "/mail/undo", &fields).await.assert_redirect("/mail?kind=inbox&notice=undone");
    assert_eq!(s.subjects("?kind=trash").await, Vec::<String>::new());

    // A later action on the same message stands in the way: undoing the first would undo it too.
    let first = act_in_page(&mut browser, &[("ids", &zero), ("action", "archive")]).await;
    let first: Value = serde_json::from_str(&first.body).unwrap();
    act_in_page(&mut browser, &[("ids", &zero), ("action", "star")]).await.assert_status(axum::http::StatusCode::OK);
    let refused = s.app.store.undo(s.user, first["undo"].as_i64().unwrap(), mailroom_store::now()).await.unwrap();
    assert_eq!(refused, Err(mailroom_store::UndoRefused::TooLate));
    // And once the window is all but over, it is too late.
    let late = mailroom_store::now() + 30;
    let refused = s.app.store.undo(s.user, first["undo"].as_i64().unwrap() + 1, late).await.unwrap();
    assert_eq!(refused, Err(mailroom_store::UndoRefused::TooLate));
    assert_eq!(s.subjects("?kind=archive").await, ["Message 0"]);
}

async fn a_held_action_reaches_the_provider_once_its_window_passes_and_not_before(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 2).await else { return };
    let first = s.id_of("Message 0").await;
    let now = mailroom_store::now();
    // The schedule as a scheduler leaves it: nothing asked for, the next run an hour away.
    let store = &s.app.store;
    while let Some(claim) = store.claim_due_sync("test", now, now + 30).await.unwrap() {
        store.release_sync(&claim, "test", now + 3600, true).await.unwrap();
    }
    let acted = store.act_held(s.user, &[first], mailroom_domain::MailAction::Archive, None, now, now + 3).await;
    let batch = acted.unwrap().unwrap().batch.expect("a batch");
    // The account's run is due when the hold ends, not at once: a run now would only wait.
    assert_eq!(store.claim_due_sync("test", now, now + 30).await.unwrap(), None);
    let claim = store.claim_due_sync("test", now + 3, now + 30).await.unwrap().expect("due at the hold's end");
    store.release_sync(&claim, "test", now + 3600, true).await.unwrap();
    // Within the margin it can no longer be undone: the run may be about to send it.
    assert_eq!(s.app.store.undo(s.user, batch, now + 1).await.unwrap(), Err(mailroom_store::UndoRefused::TooLate));
    let started = std::time::Instant::now();
    s.run().await;
    assert!(started.elapsed() >= std::time::Duration::from_secs(2), "the run waited for the window");
    assert_eq!(s.gmail_labels().await["Message 0"], ["UNREAD"], "archived at the provider after the window");
    assert_eq!(s.app.store.pending_writeback_count(s.account.id).await.unwrap(), 0);
    assert_eq!(
        s.app.store.undo(s.user, batch, mailroom_store::now()).await.unwrap(),
        Err(mailroom_store::UndoRefused::NotFound)
    );
}

async fn the_open_conversation_shows_every_message_with_the_reply_in_sent(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 2).await else { return };
    {
        let now = s.sim.state.clock().now_ms();
        let reply = "From: ann@example.test\r\nTo: Sender 1 <s1@client1.example.org>\r\nSubject: Re: Message 1\r\n\
                     Message-ID: <mine@example.org>\r\nIn-Reply-To: <m1@example.org>\r\nReferences: <m1@example.org>\r\n\r\nMy answer\r\n";
        s.sim.state.world().gmail("ann@example.test").unwrap().deliver(reply.as_bytes().to_vec(), &["SENT"], now);
    }
    s.run().await;
    let original = s.id_of("Message 1").await;
    let mine = s.id_of("Re: Message 1").await;
    let mut browser = s.app.client();
    browser.login("user@example.test", "member password 1").await;
    let page = browser.get(&format!("/mail?kind=inbox&open={original}")).await;
    // Both messages, oldest first, the reply where it is (Sent) and open as the newest.
    page.assert_contains(&format!("id=\"msg-{original}\"")).assert_contains(&format!("id=\"msg-{mine}\""));
    let (at_original, at_mine) =
        (page.body.find(&format!("msg-{original}")).unwrap(), page.body.find(&format!("msg-{mine}")).unwrap());
    assert!(at_original < at_mine, "oldest first");
    let mine_part = &page.body[at_mine..];
    assert!(
        mine_part.contains("<details open") && mine_part.contains(">Sent<"),
        "the reply is open and said to be in Sent"
    );
    assert!(mine_part.contains(&format!("/mail/messages/{mine}/body")), "its content is in a frame of its own");
    // Each message has its own reply.
    page.assert_contains(&format!("reply={original}")).assert_contains(&format!("reply={mine}"));
    // The toolbar: icons with names and keys, one Label as menu, no system label offered by its id.
    page.assert_contains("aria-label=\"Archive\"").assert_contains("title=\"Archive (e)\"").assert_contains("Label as");
    page.assert_lacks(">INBOX<").assert_lacks(">UNREAD<").assert_lacks("📎").assert_lacks("★");
}

/// Disconnecting with "Keep my notes, tags and to-dos" ticked deletes the mail's copies but
/// keeps what the user added; connected again, each comes back on its message as the sync brings
/// it. Unticked, they go with the mail. Another user can neither disconnect nor get them.
async fn notes_tags_and_todos_kept_at_a_disconnect_come_back_when_the_mailbox_is_connected_again(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 3).await else { return };
    let store = s.app.store.clone();
    let (first, second) = (s.id_of("Message 0").await, s.id_of("Message 1").await);
    let now = mailroom_store::now();
    let name = mailroom_domain::TagName::parse("Klienti").unwrap();
    let tag = store.create_tag(s.user, &name, mailroom_domain::TagColor::Green, now).await.unwrap().unwrap();
    store.set_note(s.user, first, "Zavolat ve středu", now).await.unwrap();
    store.set_todo(s.user, &[first], true, now).await.unwrap().unwrap();
    store.set_tag(s.user, &[first, second], tag, true, now).await.unwrap().unwrap();
    let mut browser = s.app.client();
    browser.login("user@example.test", "member password 1").await;
    let page = browser.get("/accounts").await;
    page.assert_contains(r#"<input type="checkbox" name="keep" value="1" checked> Keep my notes, tags and to-dos"#);
    let path = format!("/accounts/{}/disconnect", s.account.id);
    let (_, mut other) = s.app.member("other@example.test", "member password 2").await;
    other.submit("/accounts", &path, &[("keep", "1")]).await.assert_status(axum::http::StatusCode::NOT_FOUND);
    browser.submit("/accounts", &path, &[("keep", "1")]).await.assert_redirect("/accounts?notice=account_disconnected");
    assert_eq!(s.app.raw_count("SELECT COUNT(*) FROM messages").await, 0, "the mail's copies are gone");
    assert_eq!(s.app.raw_count("SELECT COUNT(*) FROM kept_extras").await, 2);

    // Connected again: the first sync brings the mail, and with it what the user had added.
    crate::connect::connect(&mut browser, "google").await.assert_redirect("/accounts?notice=account_connected");
    s.account = store.accounts_of(s.user).await.unwrap().remove(0);
    s.run().await;
    let (first, second) = (s.id_of("Message 0").await, s.id_of("Message 1").await);
    let detail = s.get(&format!("/api/v1/messages/{first}")).await;
    assert_eq!(detail["note"], "Zavolat ve středu", "{detail}");
    assert_eq!(detail["message"]["todo"], true, "{detail}");
    let tagged = s.get(&format!("/api/v1/messages?tag={tag}")).await;
    let mut ids: Vec<i64> = tagged["data"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    let mut expected = vec![first, second];
    expected.sort_unstable();
    assert_eq!(ids, expected, "{tagged}");
    assert_eq!(s.app.raw_count("SELECT COUNT(*) FROM kept_extras").await, 0, "put back, no longer kept");

    // Unticked: they go with the mail, and a new connection starts without them.
    let path = format!("/accounts/{}/disconnect", s.account.id);
    browser.submit("/accounts", &path, &[]).await.assert_redirect("/accounts?notice=account_disconnected");
    assert_eq!(s.app.raw_count("SELECT COUNT(*) FROM kept_extras").await, 0);
    assert_eq!(s.app.raw_count("SELECT COUNT(*) FROM message_notes").await, 0);
}
