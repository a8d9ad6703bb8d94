//! The change feed through the API against the simulator: a client that starts from now sees new
//! mail as added and actions as changed, pages through every entry once and in order, and sees
//! nothing of another user's mailboxes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::http::StatusCode;
use mailroom_providers::Providers;
use mailroom_store::Account;
use mailroom_sync::{AccessTokens, Engine, Limits, Mode, Pacing, Progress, sync_account};
use serde_json::{Value, json};

use crate::connect::connect;
use crate::harness::{Backend, Client, TestApp, sim_endpoints};

crate::on_both_databases!(changes:
    new_mail_and_actions_come_as_added_changed_and_removed_from_now,
    small_pages_return_every_entry_once_in_order_across_mailboxes,
    another_users_feed_is_empty_and_malformed_cursors_are_refused,
    a_cursor_naming_a_disconnected_mailbox_goes_on_with_the_others,
);

const ANN: &str = "ann@example.test";
const CARL: &str = "carl@contoso.onmicrosoft.com";

struct Setup {
    app: TestApp,
    sim: mailroom_sim::RunningSim,
    engine: Engine,
    /// The Gmail mailbox, then the Outlook one when connected.
    accounts: Vec<Account>,
    api: Client,
    user: mailroom_domain::UserId,
    delivered: usize,
}

fn mail(n: usize, to: &str) -> Vec<u8> {
    format!(
        "From: Sender {n} <s{n}@example.org>\r\nTo: {to}\r\nSubject: Message {n}\r\n\
         Message-ID: <m{n}@example.org>\r\nDate: Tue, 1 Oct 2024 10:00:00 +0000\r\n\r\nBody {n}\r\n"
    )
    .into_bytes()
}

/// A user with Ann's Gmail (and Carl's Outlook when `outlook`) connected holding `messages`
/// messages each, synced, and an API client with the user's token.
async fn setup(backend: Backend, messages: usize, outlook: bool) -> Option<Setup> {
    let (app, sim) = TestApp::start_with_sim(backend).await?;
    let (user, mut browser) = app.member("user@example.test", "member password 1").await;
    let providers = Arc::new(Providers::new(sim_endpoints(&sim)));
    let tokens =
        AccessTokens::new(app.store.clone(), providers.clone(), "http://mailroom.test/oauth/callback".to_owned());
    let engine = Engine { store: app.store.clone(), providers, tokens, pacing: Pacing::new(Limits::default()) };
    let token = app.store.create_api_token(user.id, "test", 1).await.unwrap().unwrap();
    let mut api = app.client();
    api.authorization = Some(format!("Bearer {}", token.expose()));
    let mut s = Setup { app, sim, engine, accounts: Vec::new(), api, user: user.id, delivered: 0 };
    s.deliver(messages, false);
    connect(&mut browser, "google").await.assert_redirect("/accounts?notice=account_connected");
    if outlook {
        s.deliver(messages, true);
        connect(&mut browser, "microsoft").await.assert_redirect("/accounts?notice=account_connected");
    }
    let mut accounts = s.app.store.accounts_of(s.user).await.unwrap();
    accounts.sort_by_key(|a| a.id.0);
    s.accounts = accounts;
    s.run().await;
    Some(s)
}

impl Setup {
    /// `count` new messages in Ann's Gmail inbox (or Carl's Outlook one); their remote ids, for
    /// Gmail.
    fn deliver(&mut self, count: usize, outlook: bool) -> Vec<String> {
        let now = self.sim.state.clock().now_ms();
        let mut world = self.sim.state.world();
        let mut ids = Vec::new();
        for _ in 0..count {
            let n = self.delivered;
            self.delivered += 1;
            if outlook {
                world.graph(CARL).unwrap().deliver(mail(n, CARL), "inbox", now);
            } else {
                ids.push(world.gmail(ANN).unwrap().deliver(mail(n, ANN), &["INBOX", "UNREAD"], now));
            }
        }
        ids
    }

    /// One sync run of every mailbox.
    async fn run(&self) {
        for account in &self.accounts {
            let account = self.app.store.account(account.id).await.unwrap().unwrap();
            sync_account(&self.engine, &account, Mode::Incremental, &Progress::new()).await.expect("the run succeeds");
        }
    }

    async fn get(&mut self, path: &str) -> Value {
        let page = self.api.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        serde_json::from_str(&page.body).unwrap()
    }

    /// The feed after `cursor` (from now when `None`).
    async fn changes(&mut self, cursor: Option<&str>, limit: Option<u32>) -> Value {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
        if let Some(limit) = limit {
            query.append_pair("limit", &limit.to_string());
        }
        self.get(&format!("/api/v1/changes?{}", query.finish())).await
    }

    async fn act(&mut self, ids: &[i64], action: &str) {
        let body = json!({"ids": ids, "action": action}).to_string().into_bytes();
        let page = self.api.request("POST", "/api/v1/messages/actions", Some(("application/json", body))).await;
        assert_eq!(page.status, StatusCode::OK, "{action}: {}", page.body);
    }

    /// Subject → id of the caller's listed messages.
    async fn ids(&mut self) -> BTreeMap<String, i64> {
        let list = self.get("/api/v1/messages?limit=200").await;
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["subject"].as_str().unwrap().to_owned(), m["id"].as_i64().unwrap()))
            .collect()
    }
}

fn entries(answer: &Value) -> &Vec<Value> {
    answer["data"].as_array().unwrap()
}

fn cursor(answer: &Value) -> String {
    answer["next_cursor"].as_str().unwrap().to_owned()
}

/// (kind, message id) of each entry.
fn kinds(answer: &Value) -> Vec<(String, Option<i64>)> {
    entries(answer).iter().map(|e| (e["kind"].as_str().unwrap().to_owned(), e["message_id"].as_i64())).collect()
}

async fn new_mail_and_actions_come_as_added_changed_and_removed_from_now(backend: Backend) {
    let Some(mut s) = setup(backend, 2, false).await else { return };
    let account = s.accounts[0].id.0;

    // Without a cursor: nothing, and a cursor at the end, so the two imported messages never show.
    let start = s.changes(None, None).await;
    assert_eq!((entries(&start).len(), start["more"].as_bool()), (0, Some(false)), "{start}");
    let now = cursor(&start);
    assert!(now.starts_with(&format!("{account}-")), "{now}");
    let quiet = s.changes(Some(&now), None).await;
    assert_eq!((entries(&quiet).len(), cursor(&quiet)), (0, now.clone()), "nothing happened since");

    // New mail and a sync: added, with the ids the message list gives.
    let remote_ids = s.deliver(2, false);
    s.run().await;
    let added = s.changes(Some(&now), None).await;
    let ids = s.ids().await;
    let (new2, new3) = (ids["Message 2"], ids["Message 3"]);
    let mut got = kinds(&added);
    got.sort();
    assert_eq!(got, [("added".to_owned(), Some(new2)), ("added".to_owned(), Some(new3))]);
    assert_eq!(added["more"], false);
    let entry_remote_ids: BTreeSet<&str> = entries(&added).iter().map(|e| e["remote_id"].as_str().unwrap()).collect();
    assert_eq!(entry_remote_ids, remote_ids.iter().map(String::as_str).collect());
    for entry in entries(&added) {
        assert_eq!(entry["account_id"], account);
        assert!(entry["seq"].as_i64().unwrap() > 0 && entry["at"].as_i64().unwrap() > 0, "{entry}");
    }
    let after_added = cursor(&added);
    assert_ne!(after_added, now);

    // An action through the API: changed, at once.
    s.act(&[new2], "star").await;
    let changed = s.changes(Some(&after_added), None).await;
    assert_eq!(kinds(&changed), [("changed".to_owned(), Some(new2))]);
    let after_changed = cursor(&changed);

    // Deleted for good: changed at once, removed once the provider confirms, and then no entry
    // has a message to point to.
    s.act(&[new3], "delete").await;
    let deleting = s.changes(Some(&after_changed), None).await;
    assert_eq!(kinds(&deleting), [("changed".to_owned(), Some(new3))]);
    s.run().await;
    let removed = s.changes(Some(&cursor(&deleting)), None).await;
    assert_eq!(kinds(&removed), [("removed".to_owned(), None)]);
    let gone = entries(&removed)[0]["remote_id"].as_str().unwrap().to_owned();
    assert!(remote_ids.contains(&gone), "{gone}");
    assert_eq!(
        kinds(&s.changes(Some(&after_changed), None).await),
        [("changed".to_owned(), None), ("removed".to_owned(), None)]
    );

    // Asking again with an old cursor gives the same entries again; with the newest, nothing.
    assert_eq!(s.changes(Some(&cursor(&deleting)), None).await, removed);
    assert!(entries(&s.changes(Some(&cursor(&removed)), None).await).is_empty());
}

async fn small_pages_return_every_entry_once_in_order_across_mailboxes(backend: Backend) {
    let Some(mut s) = setup(backend, 3, true).await else { return };
    assert_eq!(s.accounts.len(), 2);
    let start = cursor(&s.changes(None, None).await);
    s.deliver(4, false);
    s.deliver(3, true);
    s.run().await;
    let first = s.ids().await["Message 0"];
    s.act(&[first], "read").await;

    // All at once, then two at a time: the same entries, each once.
    let whole = s.changes(Some(&start), Some(1000)).await;
    assert_eq!(whole["more"], false);
    let all = entries(&whole).clone();
    assert_eq!(all.len(), 4 + 3 + 1, "{whole}");
    let mut paged = Vec::new();
    let mut at = start.clone();
    loop {
        let page = s.changes(Some(&at), Some(2)).await;
        assert!(entries(&page).len() <= 2);
        paged.extend(entries(&page).iter().cloned());
        at = cursor(&page);
        if page["more"] == false {
            break;
        }
        assert_eq!(entries(&page).len(), 2, "a page short of the limit has nothing after it");
    }
    assert_eq!(paged, all);
    assert_eq!(at, cursor(&whole), "the last page ends where the whole answer does");
    assert!(entries(&s.changes(Some(&at), Some(2)).await).is_empty());

    // In order of time, then account, then seq; each account's seqs rise one by one.
    let key = |e: &Value| (e["at"].as_i64().unwrap(), e["account_id"].as_i64().unwrap(), e["seq"].as_i64().unwrap());
    assert!(all.windows(2).all(|w| key(&w[0]) < key(&w[1])), "{all:?}");
    for account in &s.accounts {
        let seqs: Vec<i64> = all.iter().filter(|e| e["account_id"] == account.id.0).map(|e| key(e).2).collect();
        assert!(!seqs.is_empty() && seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    }

    // A cursor without a mailbox reads that mailbox from its start: here, the Outlook import too.
    let gmail_only = start.split('.').next().unwrap().to_owned();
    assert!(gmail_only.starts_with(&format!("{}-", s.accounts[0].id.0)), "{start}");
    let outlook = s.changes(Some(&gmail_only), Some(1000)).await;
    let outlook_added =
        entries(&outlook).iter().filter(|e| e["account_id"] == s.accounts[1].id.0 && e["kind"] == "added").count();
    assert_eq!(outlook_added, 3 + 3);
}

async fn another_users_feed_is_empty_and_malformed_cursors_are_refused(backend: Backend) {
    let Some(mut s) = setup(backend, 2, false).await else { return };
    let ann = cursor(&s.changes(None, None).await);
    let ben = s.app.create_user("ben@example.test", "member password 2", mailroom_domain::Role::Member).await;
    let token = s.app.store.create_api_token(ben.id, "test", 1).await.unwrap().unwrap();
    let mut other = s.app.client();
    other.authorization = Some(format!("Bearer {}", token.expose()));

    // Ben has no mailbox: his feed is empty from now and from the start.
    let page = other.get("/api/v1/changes").await;
    page.assert_status(StatusCode::OK);
    let answer: Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(answer, json!({"data": [], "next_cursor": "", "more": false}));
    let page = other.get("/api/v1/changes?cursor=").await;
    page.assert_status(StatusCode::OK);
    assert_eq!(serde_json::from_str::<Value>(&page.body).unwrap()["data"], json!([]));

    // A cursor naming the user's mailbox, from any position, shows Ben nothing of it, and his
    // next cursor leaves it out, as a mailbox he does not have.
    let theirs = format!("{}-0", s.accounts[0].id.0);
    for foreign in [ann.as_str(), theirs.as_str()] {
        let page = other.get(&format!("/api/v1/changes?cursor={foreign}")).await;
        page.assert_status(StatusCode::OK);
        let answer: Value = serde_json::from_str(&page.body).unwrap();
        assert_eq!(answer, json!({"data": [], "next_cursor": "", "more": false}), "{foreign}");
    }

    // Malformed cursors and limits are refused; no credentials is unauthorized.
    let too_long = format!("{}-{}", s.accounts[0].id.0, "1".repeat(19));
    for bad in ["abc", "1-", "-1", "1-x", "1.2", "+1-2", "1-2.", too_long.as_str()] {
        let page = s.api.get(&format!("/api/v1/changes?cursor={bad}")).await;
        page.assert_status(StatusCode::BAD_REQUEST);
        assert!(page.body.contains("cursor is not one this API gave."), "{bad}: {}", page.body);
    }
    for bad in ["limit=0", "limit=1001", "limit=x", &format!("cursor={ann}&cursor={ann}")] {
        let page = s.api.get(&format!("/api/v1/changes?{bad}")).await;
        page.assert_status(StatusCode::BAD_REQUEST);
        assert!(page.body.contains("bad_request"), "{bad}: {}", page.body);
    }
    s.app.client().get("/api/v1/changes").await.assert_status(StatusCode::UNAUTHORIZED);
    // The user's own cursor still works after all that.
    s.get(&format!("/api/v1/changes?cursor={ann}&limit=1000")).await;
}

async fn a_cursor_naming_a_disconnected_mailbox_goes_on_with_the_others(backend: Backend) {
    let Some(mut s) = setup(backend, 1, true).await else { return };
    let start = cursor(&s.changes(None, None).await);
    let (gmail, outlook) = (s.accounts[0].id, s.accounts[1].id);
    assert!(start.contains(&format!("{}-", outlook.0)), "{start}");

    // Carl's Outlook goes; the client still holds a cursor naming it.
    assert!(s.app.store.delete_account(s.user, outlook).await.unwrap());
    s.accounts.truncate(1);
    s.deliver(2, false);
    s.run().await;
    let after = s.changes(Some(&start), None).await;
    let added: BTreeSet<i64> = entries(&after).iter().map(|e| e["account_id"].as_i64().unwrap()).collect();
    assert_eq!(added, BTreeSet::from([gmail.0]), "{after}");
    assert_eq!(entries(&after).len(), 2, "{after}");
    let next = cursor(&after);
    assert!(next.starts_with(&format!("{}-", gmail.0)) && !next.contains('.'), "the gone mailbox is left out: {next}");
    assert!(entries(&s.changes(Some(&next), None).await).is_empty());

    // A mailbox named twice is read from its earlier position: nothing after either is missed.
    let twice = format!("{next}.{}", start.split('.').next().unwrap());
    assert_eq!(entries(&s.changes(Some(&twice), None).await).len(), 2);
}
