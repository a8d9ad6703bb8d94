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
    czech_text_before_an_address_opens_in_the_api_the_page_and_the_frame,
    fifty_mailboxes_connect_while_others_import,
    nul_in_any_input_is_refused_with_a_message_and_changes_nothing,
    a_back_address_with_line_breaks_is_refused_and_changes_nothing,
    a_link_from_another_site_changes_nothing,
    mail_is_never_kept_in_a_cache_and_file_names_cannot_hide_their_type,
    an_api_body_must_be_a_json_object,
    a_message_from_several_authors_shows_and_finds_them_all,
    a_whole_number_written_as_a_float_is_the_integer_and_a_fraction_is_refused,
    a_send_time_past_the_year_9999_is_refused_and_sends_nothing,
    an_idempotency_key_of_the_longest_length_sends_separately_too,
);

const ANN: &str = "ann@example.test";

/// Delivers `raw` to Ann's Inbox and syncs it; returns its id.
async fn delivered(s: &mut Setup, raw: &str, subject: &str) -> i64 {
    {
        let now = s.sim.state.clock().now_ms();
        let mut world = s.sim.state.world();
        world.gmail(ANN).unwrap().deliver(raw.as_bytes().to_vec(), &["INBOX"], now);
    }
    s.run().await;
    s.id_of(subject).await
}

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
    let back = page.location().unwrap();
    assert!(back.starts_with("/mail?folder=inbox&undo=") && back.ends_with("&notice=action_done"), "{back}");
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

async fn mail_is_never_kept_in_a_cache_and_file_names_cannot_hide_their_type(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 0).await else { return };
    let raw = "From: x@example.org\r\nTo: ann@example.test\r\nSubject: CV\r\nMessage-ID: <cv@example.org>\r\n\
               Date: Tue, 1 Oct 2024 10:00:00 +0000\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
               --b\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n--b\r\n\
               Content-Type: application/octet-stream\r\n\
               Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%80%AEgnp.exe\r\n\r\nMZ\r\n--b--\r\n";
    let id = delivered(&mut s, raw, "CV").await;
    let mut browser = browser(&s).await;
    let mut api = s.app.client();
    api.authorization = s.api.authorization.clone();
    for (is_api, path) in [
        (false, format!("/mail?open={id}")),
        (false, format!("/mail/messages/{id}/body")),
        (false, "/mail".to_owned()),
        (true, format!("/api/v1/messages/{id}")),
        (true, "/api/v1/messages".to_owned()),
    ] {
        let page = if is_api { api.get(&path).await } else { browser.get(&path).await };
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let cache = page.headers["cache-control"].to_str().unwrap();
        assert!(cache.contains("no-store"), "{path}: {cache}");
    }
    let css = browser.get("/static/app.css").await;
    assert!(css.headers["cache-control"].to_str().unwrap().starts_with("public"));
    // The override that would show the .exe as "exe.png" is neither shown nor saved.
    let page = browser.get(&format!("/mail?open={id}")).await;
    page.assert_contains("résumé gnp.exe").assert_lacks("\u{202e}");
    let file = browser.get(&format!("/mail/messages/{id}/attachments/0")).await;
    let disposition = file.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.contains("r%C3%A9sum%C3%A9%20gnp.exe") && !disposition.contains("%E2%80%AE"), "{disposition}");
}

async fn an_api_body_must_be_a_json_object(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 1).await else { return };
    let id = s.id_of("Message 0").await;
    let cases: [(&str, String, &str, &str); 7] = [
        ("POST", "/api/v1/submissions/retry".to_owned(), "application/json", r#"["x"]"#),
        ("POST", "/api/v1/tags".to_owned(), "application/json", r#"["Clients", "red"]"#),
        ("PUT", format!("/api/v1/messages/{id}/note"), "application/json", r#""a note""#),
        ("PUT", format!("/api/v1/messages/{id}/note"), "text/plain", r#"{"note": "a note"}"#),
        ("POST", "/api/v1/messages/actions".to_owned(), "application/json", r#"{"ids": [1], "action": 5}"#),
        // A key given twice says two things; neither is guessed at.
        ("POST", "/api/v1/tags".to_owned(), "application/json", r#"{"name": "A", "name": "B", "color": "red"}"#),
        ("PUT", format!("/api/v1/messages/{id}/note"), "application/json", r#"{"note": "a", "note": "b"}"#),
    ];
    for (method, path, content_type, body) in cases {
        let page = s.api.request(method, &path, Some((content_type, body.as_bytes().to_vec()))).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path} {body}: {}", page.body);
        let answer: Value = serde_json::from_str(&page.body).unwrap();
        assert_eq!(answer["error"]["code"], "bad_request");
    }
    assert_eq!(s.get("/api/v1/tags").await["data"].as_array().unwrap().len(), 0);
    assert!(s.get(&format!("/api/v1/messages/{id}")).await["note"].is_null());
    let (status, answer) = s.post("/api/v1/submissions/retry", json!({"batch": "x"})).await;
    assert_eq!((status, answer), (200, json!({"retried": 0})));
}

async fn czech_text_before_an_address_opens_in_the_api_the_page_and_the_frame(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 0).await else { return };
    let raw = "From: Jana <jana@firma.cz>\r\nTo: ann@example.test\r\nSubject: Kontakt\r\n\
               Message-ID: <kontakt@firma.cz>\r\nDate: Tue, 1 Oct 2024 10:00:00 +0000\r\n\
               Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
               Napište na „jan@firma.cz“.\r\nNebo caféx@example.com.\r\n";
    let id = delivered(&mut s, raw, "Kontakt").await;

    let message: Value = s.get(&format!("/api/v1/messages/{id}")).await;
    assert!(message["text"].as_str().unwrap().contains("Napište na „jan@firma.cz“."), "{message}");
    let html = message["html"].as_str().unwrap_or_default();
    assert!(html.contains("href=\"mailto:jan@firma.cz\""), "{html}");

    let mut browser = browser(&s).await;
    browser.get(&format!("/mail?open={id}")).await.assert_status(axum::http::StatusCode::OK).assert_contains("Kontakt");
    browser
        .get(&format!("/mail/messages/{id}/body"))
        .await
        .assert_status(axum::http::StatusCode::OK)
        .assert_contains("mailto:jan@firma.cz");
}

async fn a_message_from_several_authors_shows_and_finds_them_all(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 0).await else { return };
    let raw = "From: Ann Author <ann@firma.cz>, Bob Coauthor <bob@other.example>\r\nSender: ann@firma.cz\r\n\
               To: ann@example.test\r\nCc: one@example.org\r\nCc: two@example.org\r\nSubject: Joint letter\r\n\
               Message-ID: <joint@firma.cz>\r\nDate: 27 Jun 01 3:36:25 AM\r\n\r\nSigned by both of us.\r\n";
    let id = delivered(&mut s, raw, "Joint letter").await;
    let mut browser = browser(&s).await;
    let page = browser.get(&format!("/mail?open={id}")).await;
    page.assert_contains("Ann Author &#60;ann@firma.cz&#62;, Bob Coauthor &#60;bob@other.example&#62;")
        .assert_contains("one@example.org, two@example.org");
    let found = s.get("/api/v1/search?q=from%3Acoauthor&count=true").await;
    assert_eq!(found["total"], 1, "{found}");
    let message = s.get(&format!("/api/v1/messages/{id}")).await;
    let from: Vec<&str> = message["from"].as_array().unwrap().iter().map(|p| p["address"].as_str().unwrap()).collect();
    assert_eq!(from, ["ann@firma.cz", "bob@other.example"], "every author");
    let cc: Vec<&str> = message["cc"].as_array().unwrap().iter().map(|p| p["address"].as_str().unwrap()).collect();
    assert_eq!(cc, ["one@example.org", "two@example.org"], "both Cc headers are kept");
    // A date without a zone is read (as UTC), and the header after it is not lost.
    assert!(message["message"]["sent_at"].is_i64(), "{message}");
    assert_eq!(message["message_id"], "joint@firma.cz");
}

/// JSON has one kind of number, and the API's document (JSON Schema) holds `2.0` to be the integer
/// 2: many JSON writers spell every number so. Such a number is taken where an integer is; one
/// with a fraction, or too large for a float to name one integer, is refused and changes nothing.
async fn a_whole_number_written_as_a_float_is_the_integer_and_a_fraction_is_refused(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 2).await else { return };
    let (first, second) = (s.id_of("Message 0").await, s.id_of("Message 1").await);
    let act = |body: String| ("application/json", body.into_bytes());
    for refused in [format!("{first}.5"), format!("{first}e-1"), "1e300".to_owned(), "18014398509481984.0".to_owned()] {
        let page = s
            .api
            .request(
                "POST",
                "/api/v1/messages/actions",
                Some(act(format!(r#"{{"ids": [{refused}], "action": "star"}}"#))),
            )
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{refused}: {}", page.body);
        assert_eq!(serde_json::from_str::<Value>(&page.body).unwrap()["error"]["code"], "bad_request");
    }
    assert_eq!(s.get("/api/v1/messages?starred=true").await["data"], json!([]), "nothing was starred");

    let body = format!(r#"{{"ids": [{first}.0, {second}e0], "action": "star"}}"#);
    let page = s.api.request("POST", "/api/v1/messages/actions", Some(act(body))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(serde_json::from_str::<Value>(&page.body).unwrap(), json!({"changed": 2}));
    assert_eq!(s.get("/api/v1/messages?starred=true").await["data"].as_array().unwrap().len(), 2);
}

/// A message sent separately to each recipient once got a 500 for a time near the end of `i64`,
/// whose pacing overflowed. Any time past the year 9999 is refused, alone or separately, and
/// nothing is submitted; the last second of 9999 is taken.
async fn a_send_time_past_the_year_9999_is_refused_and_sends_nothing(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 0).await else { return };
    let account = s.account.id.0;
    for (separately, send_at) in [(false, 253_402_300_800_i64), (true, 253_402_300_800), (true, i64::MAX)] {
        let body = json!({"account_id": account, "idempotency_key": format!("late {send_at}"),
            "to": ["a@example.org", "b@example.org"], "text": "hi", "send_at": send_at, "separately": separately});
        let (status, answer) = s.post("/api/v1/messages/send", body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("send_at"), "{answer}");
    }
    assert_eq!(s.get("/api/v1/submissions").await["data"], json!([]), "nothing was submitted");

    let body = json!({"account_id": account, "idempotency_key": "last", "to": ["a@example.org", "b@example.org"],
        "text": "hi", "send_at": 253_402_300_799_i64, "separately": true});
    let (status, answer) = s.post("/api/v1/messages/send", body).await;
    assert_eq!(status, 202, "{answer}");
    let times: Vec<i64> = answer["data"].as_array().unwrap().iter().map(|s| s["send_at"].as_i64().unwrap()).collect();
    assert_eq!(times, [253_402_300_799, 253_402_300_801], "two seconds apart, the second past the first");
}

/// A message sent separately is one submission per recipient, keyed by the caller's key and
/// `/n`: a key of the longest length the API takes (200 characters) is taken for it too.
async fn an_idempotency_key_of_the_longest_length_sends_separately_too(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 0).await else { return };
    let account = s.account.id.0;
    let key = "k".repeat(200);
    let body = json!({"account_id": account, "idempotency_key": key, "to": ["a@example.org", "b@example.org"],
        "text": "hi", "separately": true});
    let (status, answer) = s.post("/api/v1/messages/send", body.clone()).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["data"].as_array().unwrap().len(), 2);
    // Sent again with the same key: the same submissions, none new.
    let (status, again) = s.post("/api/v1/messages/send", body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(s.get("/api/v1/submissions").await["data"].as_array().unwrap().len(), 2);
    let longer = json!({"account_id": account, "idempotency_key": "k".repeat(201), "to": ["a@example.org"],
        "text": "hi", "separately": true});
    assert_eq!(s.post("/api/v1/messages/send", longer).await.0, 400);
}
