//! Mail that once did not open, and input that once got a 500 or worse: each answers as a user
//! expects, on both databases.

use std::sync::Arc;

use axum::http::StatusCode;
use mailroom_providers::Providers;
use mailroom_sync::{AccessTokens, Engine, Limits, Mode, Pacing, Progress, sync_account};
use serde_json::{Value, json};

use crate::connect::{consent, press_connect};
use crate::harness::{Backend, Client, Page, TestApp, sim_endpoints};
use crate::workspace::{Setup, setup};

crate::on_both_databases!(robustness:
    fifty_mailboxes_connect_while_others_import,
    nul_in_any_input_is_refused_with_a_message_and_changes_nothing,
    a_back_address_with_line_breaks_is_refused_and_changes_nothing,
    a_link_from_another_site_changes_nothing,
);

/// The user's browser, signed in.
async fn browser(s: &Setup) -> Client {
    let mut browser = s.app.client();
    browser.login("user@example.test", "member password 1").await;
    browser
}

fn numbered_mail(n: usize, to: &str) -> Vec<u8> {
    format!(
        "From: Sender {n} <s{n}@example.org>\r\nTo: {to}\r\nSubject: Message {n}\r\n\
         Message-ID: <m{n}.{to}>\r\nDate: Tue, 1 Oct 2024 10:00:00 +0000\r\n\r\nBody {n}\r\n"
    )
    .into_bytes()
}

/// Connects the simulator's user `address` through the browser, as the OAuth flow goes.
async fn connect_as(browser: &mut Client, address: &str) -> crate::harness::Page {
    let authorize = press_connect(browser, "google").await;
    let callback = consent(&format!("{authorize}&login_hint={address}")).await;
    browser.get(&callback).await
}

/// Every OAuth callback stores its mailbox while the mailboxes connected before it import, as the
/// server's scheduler starts them: on SQLite, a connect's transaction that read before it wrote
/// was refused at once ("database is locked") whenever an import's write landed in between,
/// after the authorization code had been spent.
async fn fifty_mailboxes_connect_while_others_import(backend: Backend) {
    let Some((app, sim)) = TestApp::start_with_sim(backend).await else { return };
    const CONNECTS: usize = 50;
    const MESSAGES: usize = 60;
    let addresses: Vec<String> = (0..CONNECTS).map(|n| format!("join{n}@example.test")).collect();
    {
        let now = sim.state.clock().now_ms();
        for address in &addresses {
            sim.state.add_user(mailroom_sim::SimUser::parse(address).unwrap());
        }
        let mut world = sim.state.world();
        for address in &addresses {
            for n in 0..MESSAGES {
                let at = now - i64::try_from(n).unwrap() * 60_000;
                world.gmail(address).unwrap().deliver(numbered_mail(n, address), &["INBOX"], at);
            }
        }
    }
    let (user, mut browser) = app.member("user@example.test", "member password 1").await;
    let providers = Arc::new(Providers::new(sim_endpoints(&sim)));
    let tokens =
        AccessTokens::new(app.store.clone(), providers.clone(), "http://mailroom.test/oauth/callback".to_owned());
    let engine =
        Arc::new(Engine { store: app.store.clone(), providers, tokens, pacing: Pacing::new(Limits::default()) });
    let mut imports = tokio::task::JoinSet::new();
    let mut refused = Vec::new();
    for address in &addresses {
        let page = connect_as(&mut browser, address).await;
        if page.location() != Some("/accounts?notice=account_connected") {
            refused.push(format!("{address}: {} {}", page.status, page.body.chars().take(200).collect::<String>()));
            continue;
        }
        let accounts = app.store.accounts_of(user.id).await.unwrap();
        let account = accounts.into_iter().find(|a| &a.address == address).unwrap();
        let engine = engine.clone();
        imports.spawn(async move { sync_account(&engine, &account, Mode::Incremental, &Progress::new()).await });
    }
    assert!(refused.is_empty(), "{} of {CONNECTS} connects failed: {refused:#?}", refused.len());
    while let Some(import) = imports.join_next().await {
        import.unwrap().expect("every import succeeds");
    }
    assert_eq!(app.store.accounts_of(user.id).await.unwrap().len(), CONNECTS);
    let stored = app.raw_count("SELECT COUNT(*) FROM messages").await;
    assert_eq!(stored, i64::try_from(CONNECTS * MESSAGES).unwrap());
}

const NUL_MESSAGE: &str = "NUL character";

fn refused_page(page: &Page, what: &str) {
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{what}: {}", page.body);
    assert!(page.body.contains(NUL_MESSAGE), "{what}: {}", page.body);
}

fn refused_json(page: &Page, what: &str) {
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{what}: {}", page.body);
    let answer: Value = serde_json::from_str(&page.body).unwrap_or_else(|_| panic!("{what}: {}", page.body));
    assert_eq!(answer["error"]["code"], "bad_request", "{what}");
    assert!(answer["error"]["message"].as_str().unwrap().contains(NUL_MESSAGE), "{what}: {answer}");
}

async fn nul_in_any_input_is_refused_with_a_message_and_changes_nothing(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 1).await else { return };
    let id = s.id_of("Message 0").await;
    let mut browser = browser(&s).await;
    let csrf = browser.get("/mail").await.csrf();

    // Pages: forms, a search, the login.
    let forms: [(&str, Vec<(&str, &str)>); 4] = [
        ("/mail/messages/ID/note", vec![("note", "a\0b"), ("back", "/mail")]),
        ("/settings/tokens", vec![("name", "token\0")]),
        ("/settings/signatures", vec![("account", "1"), ("address", "user@example.test"), ("body", "Jan\0")]),
        ("/mail/drafts/save", vec![("to", "x@example.org"), ("subject", "Hi"), ("body", "\0")]),
    ];
    for (path, mut fields) in forms {
        let path = path.replace("ID", &id.to_string());
        fields.push(("csrf_token", &csrf));
        refused_page(&browser.post_raw(&path, &fields).await, &path);
    }
    refused_page(&browser.get("/mail?q=a%00b").await, "the mail page's search");
    refused_page(&browser.get(&format!("/mail/messages/{id}/attachments/0%00")).await, "a path");
    let mut stranger = s.app.client();
    let csrf_anon = stranger.get("/login").await.csrf();
    let login = [("email", "user@example.test\0"), ("password", "member password 1"), ("csrf_token", &csrf_anon)];
    refused_page(&stranger.post_raw("/login", &login).await, "login");
    // The compose form uploads files: a file may hold NUL bytes, a text field may not.
    let form = format!(
        "--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n\
         --b\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\nHi\0\r\n--b--\r\n"
    );
    let page =
        browser.request("POST", "/mail/compose", Some(("multipart/form-data; boundary=b", form.into_bytes()))).await;
    refused_page(&page, "the compose form");

    // The API: JSON bodies and query strings.
    let api = [
        ("PUT", format!("/api/v1/messages/{id}/note"), Some(json!({"note": "a\u{0}b"}))),
        ("POST", "/api/v1/drafts".to_owned(), Some(json!({"to": ["x@example.org"], "text": "\u{0}"}))),
        ("POST", "/api/v1/tags".to_owned(), Some(json!({"name": "x\u{0}", "color": "red"}))),
        ("GET", "/api/v1/addresses?q=%00".to_owned(), None),
        ("GET", "/api/v1/search?q=a%00b".to_owned(), None),
        ("GET", "/api/v1/messages?participant=a%00".to_owned(), None),
    ];
    for (method, path, body) in api {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        refused_json(&s.api.request(method, &path, body).await, &path);
    }

    // Nothing changed.
    let message = s.get(&format!("/api/v1/messages/{id}")).await;
    assert!(message["note"].is_null() || message["note"] == "", "{message}");
    assert_eq!(s.get("/api/v1/drafts").await["data"].as_array().unwrap().len(), 0);
    assert_eq!(s.get("/api/v1/tags").await["data"].as_array().unwrap().len(), 0);
    assert_eq!(s.app.store.api_tokens(s.user).await.unwrap().len(), 1, "only the test's own token");
    // And the same text without NUL goes through.
    browser
        .post_raw(&format!("/mail/messages/{id}/note"), &[("note", "a b"), ("back", "/mail"), ("csrf_token", &csrf)])
        .await;
    assert_eq!(s.get(&format!("/api/v1/messages/{id}")).await["note"], "a b");
}

async fn a_back_address_with_line_breaks_is_refused_and_changes_nothing(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 1).await else { return };
    let id = s.id_of("Message 0").await;
    let mut browser = browser(&s).await;
    let csrf = browser.get("/mail").await.csrf();
    let id_text = id.to_string();
    for back in ["/mail\r\nSet-Cookie: x=1", "/mail?q=a\nb", "/mail\u{7f}"] {
        let fields = [("ids", id_text.as_str()), ("action", "star"), ("back", back), ("csrf_token", csrf.as_str())];
        let page = browser.post_raw("/mail/act", &fields).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{back:?}: {}", page.body);
        let note = [("note", "kept?"), ("back", back), ("csrf_token", csrf.as_str())];
        let page = browser.post_raw(&format!("/mail/messages/{id}/note"), &note).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{back:?}: {}", page.body);
    }
    let message = s.get(&format!("/api/v1/messages/{id}")).await;
    assert_eq!(message["message"]["starred"], false, "{message}");
    assert!(message["note"].is_null() || message["note"] == "", "{message}");
    // An ordinary one still leads back.
    let fields =
        [("ids", id_text.as_str()), ("action", "star"), ("back", "/mail?folder=inbox"), ("csrf_token", csrf.as_str())];
    let page = browser.post_raw("/mail/act", &fields).await;
    assert_eq!(page.location(), Some("/mail?folder=inbox&notice=action_done"));
}

async fn a_link_from_another_site_changes_nothing(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 2).await else { return };
    let (first, second) = (s.id_of("Message 0").await, s.id_of("Message 1").await);
    let unread = |m: &Value| m["message"]["unread"].as_bool().unwrap();
    // Another site's link, followed with the session cookie (SameSite=Lax allows it): the
    // message shows, and stays unread.
    let mut browser = browser(&s).await;
    for site in ["cross-site", "same-site"] {
        browser.headers = vec![("sec-fetch-site", site.to_owned())];
        browser.get(&format!("/mail?open={first}")).await.assert_status(StatusCode::OK).assert_contains("Message 0");
    }
    assert!(unread(&s.get(&format!("/api/v1/messages/{first}")).await));
    // The user's own click (same origin), or a typed address (none), reads it.
    browser.headers = vec![("sec-fetch-site", "same-origin".to_owned())];
    browser.get(&format!("/mail?open={first}")).await;
    assert!(!unread(&s.get(&format!("/api/v1/messages/{first}")).await));
    browser.headers = vec![("sec-fetch-site", "none".to_owned())];
    browser.get(&format!("/mail?open={second}")).await;
    assert!(!unread(&s.get(&format!("/api/v1/messages/{second}")).await));
}
