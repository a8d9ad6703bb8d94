//! The JSON API's door: who may call it, and the shape of what it answers.

use axum::http::{StatusCode, header};
use mailroom_domain::{FolderKind, Role};
use mailroom_store::{IncomingMessage, MessageChange, RemoteFolder};

use crate::harness::{Backend, Client, Page, TestApp};

crate::on_both_databases!(api:
    a_bearer_token_or_a_session_lets_a_user_in_and_nothing_else_does,
    every_error_is_json_and_unknown_paths_are_not_found,
    folders_come_with_their_counts_and_only_the_callers,
);

const PASSWORD: &str = "member password 1";

/// A message `remote_id` in `folders`, read or not.
fn message<'a>(
    remote_id: &'a str,
    folders: &'a [String],
    is_read: bool,
    parsed: &'a mailroom_mime::ParsedMessage,
) -> IncomingMessage<'a> {
    IncomingMessage {
        remote_id,
        thread_remote_id: None,
        received_at: 1,
        is_read,
        is_starred: false,
        is_draft: false,
        folders,
        raw: None,
        parsed,
        parse_failed: false,
        has_attachments: None,
    }
}

fn json(page: &Page) -> serde_json::Value {
    let kind = page.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(kind.starts_with("application/json"), "{kind}: {}", page.body);
    serde_json::from_str(&page.body).unwrap()
}

#[track_caller]
fn assert_unauthorized(page: &Page) {
    page.assert_status(StatusCode::UNAUTHORIZED);
    assert_eq!(page.headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(json(page)["error"]["code"], "unauthorized");
}

fn addresses(page: &Page) -> Vec<String> {
    page.assert_status(StatusCode::OK);
    json(page)["data"].as_array().unwrap().iter().map(|a| a["address"].as_str().unwrap().to_owned()).collect()
}

async fn a_bearer_token_or_a_session_lets_a_user_in_and_nothing_else_does(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (ann, mut browser) = app.member("ann@example.test", PASSWORD).await;
    let ben = app.create_user("ben@example.test", PASSWORD, Role::Member).await;
    app.connected_account(ann.id, "ann@example.test").await;
    app.connected_account(ben.id, "ben@example.test").await;
    let token = app.store.create_api_token(ann.id, "CRM", 1).await.unwrap().unwrap();

    // No credentials, then credentials that are not a token we issued.
    let mut anonymous = app.client();
    assert_unauthorized(&anonymous.get("/api/v1/accounts").await);
    for bad in ["Bearer", "Bearer nonsense", "Basic YW5uOnB3", &format!("Bearer mr_{}", "a".repeat(43))] {
        anonymous.authorization = Some(bad.to_owned());
        assert_unauthorized(&anonymous.get("/api/v1/accounts").await);
    }

    // The token: Ann's mailboxes, never Ben's.
    let mut crm: Client = app.client();
    crm.authorization = Some(format!("Bearer {}", token.expose()));
    let page = crm.get("/api/v1/accounts").await;
    assert_eq!(addresses(&page), ["ann@example.test"]);
    let account = &json(&page)["data"][0];
    assert_eq!((account["provider"].as_str(), account["status"].as_str()), (Some("google"), Some("active")));
    assert!(page.body.find("\"a\"").is_none() && !page.body.contains("token"), "no secret in {}", page.body);

    // The session of a signed-in browser works too; a wrong token next to it does not.
    assert_eq!(addresses(&browser.get("/api/v1/accounts").await), ["ann@example.test"]);
    browser.authorization = Some("Bearer nonsense".to_owned());
    assert_unauthorized(&browser.get("/api/v1/accounts").await);

    // A disabled user's token, and a revoked one, stop working.
    app.store.set_user_disabled(ann.id, true).await.unwrap();
    assert_unauthorized(&crm.get("/api/v1/accounts").await);
    app.store.set_user_disabled(ann.id, false).await.unwrap();
    assert_eq!(addresses(&crm.get("/api/v1/accounts").await), ["ann@example.test"]);
    let id = app.store.api_tokens(ann.id).await.unwrap()[0].id;
    app.store.revoke_api_token(ann.id, id).await.unwrap();
    assert_unauthorized(&crm.get("/api/v1/accounts").await);
}

async fn every_error_is_json_and_unknown_paths_are_not_found(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let token = app.store.create_api_token(ann.id, "CRM", 1).await.unwrap().unwrap();
    let mut crm = app.client();
    crm.authorization = Some(format!("Bearer {}", token.expose()));
    assert!(addresses(&crm.get("/api/v1/accounts").await).is_empty());
    for path in ["/api/v1/nothing", "/api/v1/accounts/1/nothing"] {
        let page = crm.get(path).await;
        page.assert_status(StatusCode::NOT_FOUND);
        assert_eq!(json(&page)["error"]["code"], "not_found", "{path}");
    }
}

async fn folders_come_with_their_counts_and_only_the_callers(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let ben = app.create_user("ben@example.test", PASSWORD, Role::Member).await;
    let account = app.connected_account(ann.id, "ann@example.test").await;
    let bens = app.connected_account(ben.id, "ben@example.test").await;
    let folders: Vec<RemoteFolder> = [
        ("Label_7", "Clients", FolderKind::Custom),
        ("TRASH", "Trash", FolderKind::Trash),
        ("INBOX", "Inbox", FolderKind::Inbox),
    ]
    .into_iter()
    .map(|(id, name, kind)| RemoteFolder { remote_id: id.into(), name: name.into(), kind, parent_remote_id: None })
    .collect();
    let parsed = mailroom_mime::parse(b"From: a@example.org\r\nSubject: Hi\r\n\r\nHello\r\n").into_message();
    let (inbox, both) = (vec!["INBOX".to_owned()], vec!["INBOX".to_owned(), "Label_7".to_owned()]);
    let changes = [
        message("m1", &inbox, false, &parsed),
        message("m2", &both, false, &parsed),
        message("m3", &both, true, &parsed),
    ]
    .map(MessageChange::Upsert);
    app.store.apply_sync(account.id, &folders, &changes, None, 1).await.unwrap();
    app.store.apply_sync(bens.id, &folders, &[], None, 1).await.unwrap();

    let token = app.store.create_api_token(ann.id, "CRM", 1).await.unwrap().unwrap();
    let mut crm = app.client();
    crm.authorization = Some(format!("Bearer {}", token.expose()));
    let page = crm.get("/api/v1/folders").await;
    page.assert_status(StatusCode::OK);
    let listed: Vec<(String, String, i64, i64)> = json(&page)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["account_id"], account.id.0);
            (
                f["name"].as_str().unwrap().to_owned(),
                f["kind"].as_str().unwrap().to_owned(),
                f["total"].as_i64().unwrap(),
                f["unread"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected = [("Inbox", "inbox", 3, 2), ("Trash", "trash", 0, 0), ("Clients", "custom", 2, 1)];
    let expected: Vec<(String, String, i64, i64)> =
        expected.iter().map(|(n, k, t, u)| ((*n).to_owned(), (*k).to_owned(), *t, *u)).collect();
    assert_eq!(listed, expected, "the inbox first, empty folders counted as empty, only Ann's");

    let own = format!("/api/v1/folders?account={}", account.id.0);
    assert_eq!(json(&crm.get(&own).await)["data"].as_array().unwrap().len(), 3);
    let other = format!("/api/v1/folders?account={}", bens.id.0);
    let page = crm.get(&other).await;
    page.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(json(&page)["error"]["code"], "not_found", "another user's account is not found, not forbidden");
    for bad in ["/api/v1/folders?account=abc", &format!("{own}&account={}", account.id.0)] {
        let page = crm.get(bad).await;
        page.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(json(&page)["error"]["code"], "bad_request", "{bad}");
    }
}
