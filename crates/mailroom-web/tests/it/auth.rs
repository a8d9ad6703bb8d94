//! Setup, login, logout, sessions, throttling, CSRF and language.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use mailroom_domain::{LoginPolicy, Role};

use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestApp};

crate::on_both_databases!(auth:
    setup_creates_the_first_administrator_then_disappears,
    setup_refuses_bad_input_and_creates_nothing,
    setup_without_a_valid_csrf_proof_is_refused,
    login_starts_a_session_and_logout_ends_it,
    login_renews_the_session_id,
    wrong_password_is_refused_with_a_clear_message,
    session_cookie_is_secure_behind_https,
    failed_logins_are_slowed_then_refused_with_429,
    thirty_guesses_sent_together_check_at_most_ten_passwords,
    a_right_password_forgives_its_own_address_but_not_the_clients,
    behind_a_trusted_proxy_each_client_is_counted_apart,
    language_follows_the_browser_then_the_users_choice,
);

async fn setup_creates_the_first_administrator_then_disappears(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let mut browser = app.client();
    browser.get("/").await.assert_redirect("/setup");
    browser.get("/login").await.assert_redirect("/setup");
    let page = browser.get("/setup").await;
    page.assert_status(StatusCode::OK).assert_contains("Create the first administrator");

    let fields = [
        ("email", "Ann@Example.test"),
        ("name", "Ann Lee"),
        ("password", ADMIN_PASSWORD),
        ("password_repeat", ADMIN_PASSWORD),
    ];
    browser.submit("/setup", "/setup", &fields).await.assert_redirect("/login?notice=setup_done");

    let users = app.store.users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].email, "ann@example.test");
    assert_eq!(users[0].role, Role::Admin);

    let gone = browser.get("/setup").await;
    gone.assert_status(StatusCode::NOT_FOUND);
    assert!(gone.is_html(), "the 404 is a page");
    gone.assert_contains("href=\"/\"");
    // Posting again changes nothing, even with a valid proof.
    let csrf = browser.get("/login").await.csrf();
    let again = [
        ("email", "eve@example.test"),
        ("name", "Eve"),
        ("password", ADMIN_PASSWORD),
        ("password_repeat", ADMIN_PASSWORD),
        ("csrf_token", &csrf),
    ];
    browser.post_raw("/setup", &again).await.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(app.store.count_users().await.unwrap(), 1);

    browser.login("ann@example.test", ADMIN_PASSWORD).await.assert_redirect("/");
    browser
        .get("/")
        .await
        .assert_contains("Welcome, Ann Lee.")
        .assert_contains("start by entering the Google and Microsoft");
}

async fn setup_refuses_bad_input_and_creates_nothing(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let mut browser = app.client();
    let fields = [("email", "not-an-address"), ("name", ""), ("password", "short"), ("password_repeat", "short")];
    let page = browser.submit("/setup", "/setup", &fields).await;
    page.assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("This is not a valid email address.")
        .assert_contains("This field is required.")
        .assert_contains("Must be at least 12 characters.")
        .assert_contains("value=\"not-an-address\"");
    // Said at once to a screen reader, and each error read with its field.
    page.assert_contains(r#"<p class="error" role="alert">Nothing was saved. Correct the marked fields.</p>"#)
        .assert_field_error(r#"id="email""#, "This is not a valid email address.")
        .assert_field_error(r#"id="name""#, "This field is required.")
        .assert_field_error(r#"id="password""#, "Must be at least 12 characters.");
    assert!(!page.field_tag(r#"id="password_repeat""#).contains("aria-"), "a field without an error is not marked");

    let fields = [
        ("email", "ann@example.test"),
        ("name", "Ann"),
        ("password", ADMIN_PASSWORD),
        ("password_repeat", "something else entirely"),
    ];
    browser
        .submit("/setup", "/setup", &fields)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_field_error(r#"id="password_repeat""#, "The passwords do not match.");
    assert_eq!(app.store.count_users().await.unwrap(), 0);
}

async fn setup_without_a_valid_csrf_proof_is_refused(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let mut browser = app.client();
    browser.get("/setup").await;
    let fields = [
        ("email", "ann@example.test"),
        ("name", "Ann"),
        ("password", ADMIN_PASSWORD),
        ("password_repeat", ADMIN_PASSWORD),
    ];
    let missing = browser.post_raw("/setup", &fields).await;
    missing.assert_status(StatusCode::FORBIDDEN).assert_contains("The form expired or was sent from another site");

    // A proof made for another visitor is worth nothing here.
    let mut other = app.client();
    let foreign = other.get("/setup").await.csrf();
    let mut forged = fields.to_vec();
    forged.push(("csrf_token", &foreign));
    browser.post_raw("/setup", &forged).await.assert_status(StatusCode::FORBIDDEN);
    forged.pop();
    forged.push(("csrf_token", "AAAA"));
    browser.post_raw("/setup", &forged).await.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(app.store.count_users().await.unwrap(), 0);
}

async fn login_starts_a_session_and_logout_ends_it(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.create_user(ADMIN_EMAIL, ADMIN_PASSWORD, Role::Admin).await;
    let mut browser = app.client();
    browser.get("/").await.assert_redirect("/login");
    let page = browser.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    page.assert_redirect("/");
    let cookie = page.set_cookies().into_iter().find(|c| c.starts_with("mailroom_session=")).expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http gets no Secure: {cookie}");
    let token = browser.cookies["mailroom_session"].clone();
    browser.get("/").await.assert_status(StatusCode::OK).assert_contains("Sign out");

    browser.submit("/", "/logout", &[]).await.assert_redirect("/login?notice=signed_out");
    assert!(!browser.cookies.contains_key("mailroom_session"));
    browser.get("/login?notice=signed_out").await.assert_contains("You have signed out.");

    // The old token is dead on the server too, not just forgotten by the browser.
    let mut replay = app.client();
    replay.cookies.insert("mailroom_session".into(), token);
    replay.get("/").await.assert_redirect("/login");
}

async fn login_renews_the_session_id(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (admin, mut browser) = app.admin().await;
    let first = browser.cookies["mailroom_session"].clone();
    browser.submit("/", "/login", &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)]).await.assert_redirect("/");
    let second = browser.cookies["mailroom_session"].clone();
    assert_ne!(first, second);
    assert_eq!(app.store.count_sessions(admin.id).await.unwrap(), 1, "the session from before is gone");
    let mut replay = app.client();
    replay.cookies.insert("mailroom_session".into(), first);
    replay.get("/").await.assert_redirect("/login");
}

async fn wrong_password_is_refused_with_a_clear_message(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.create_user(ADMIN_EMAIL, ADMIN_PASSWORD, Role::Admin).await;
    let mut browser = app.client();
    let page = browser.login(ADMIN_EMAIL, "wrong password here").await;
    page.assert_status(StatusCode::UNAUTHORIZED).assert_contains("Wrong email or password.");
    assert!(!browser.cookies.contains_key("mailroom_session"));
    // An unknown address gets the same answer.
    browser
        .login("nobody@example.test", ADMIN_PASSWORD)
        .await
        .assert_status(StatusCode::UNAUTHORIZED)
        .assert_contains("Wrong email or password.");
}

async fn session_cookie_is_secure_behind_https(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.secure_cookies = true).await else { return };
    app.create_user(ADMIN_EMAIL, ADMIN_PASSWORD, Role::Admin).await;
    let mut browser = app.client();
    let page = browser.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cookie = page.set_cookies().into_iter().find(|c| c.starts_with("mailroom_session=")).expect("a session cookie");
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
}

async fn failed_logins_are_slowed_then_refused_with_429(backend: Backend) {
    let policy =
        LoginPolicy { slow_after: 2, lock_after: 4, delay_step: Duration::from_millis(400), ..LoginPolicy::default() };
    let Some(app) = TestApp::start_with(backend, |c| c.login_policy = policy).await else { return };
    app.create_user(ADMIN_EMAIL, ADMIN_PASSWORD, Role::Admin).await;
    let mut browser = app.client();
    for _ in 0..2 {
        browser.login(ADMIN_EMAIL, "wrong password here").await.assert_status(StatusCode::UNAUTHORIZED);
    }
    let started = Instant::now();
    browser.login(ADMIN_EMAIL, "wrong password here").await.assert_status(StatusCode::UNAUTHORIZED);
    assert!(started.elapsed() >= Duration::from_millis(400), "the third failure is slowed");
    browser.login(ADMIN_EMAIL, "wrong password here").await.assert_status(StatusCode::UNAUTHORIZED);

    // Locked: even the right password is refused, from another address too.
    let mut elsewhere = app.client();
    elsewhere.ip = "192.0.2.7".parse().unwrap();
    let page = elsewhere.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    page.assert_status(StatusCode::TOO_MANY_REQUESTS).assert_contains("Too many failed attempts");
    let retry_after: u64 = page.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert!(!elsewhere.cookies.contains_key("mailroom_session"));

    // The client address is locked too: another account from it is refused.
    app.create_user("ben@example.test", ADMIN_PASSWORD, Role::Member).await;
    browser.login("ben@example.test", ADMIN_PASSWORD).await.assert_status(StatusCode::TOO_MANY_REQUESTS);
    // Another account from a clean address is not affected.
    let mut clean = app.client();
    clean.ip = "198.51.100.9".parse().unwrap();
    clean.login("ben@example.test", ADMIN_PASSWORD).await.assert_redirect("/");
}

async fn thirty_guesses_sent_together_check_at_most_ten_passwords(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.create_user(ADMIN_EMAIL, ADMIN_PASSWORD, Role::Admin).await;
    let mut guesses = tokio::task::JoinSet::new();
    let mut ready = Vec::new();
    for n in 0..30 {
        let mut browser = app.client();
        let csrf = browser.get("/login").await.csrf();
        ready.push((browser, csrf, format!("wrong password {n}")));
    }
    for (mut browser, csrf, password) in ready {
        guesses.spawn(async move {
            let fields = [("email", ADMIN_EMAIL), ("password", password.as_str()), ("csrf_token", csrf.as_str())];
            browser.post_raw("/login", &fields).await.status
        });
    }
    let (mut checked, mut refused) = (0, 0);
    while let Some(status) = guesses.join_next().await {
        match status.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(checked <= 10, "{checked} passwords were checked, {refused} guesses refused");
    assert_eq!(checked + refused, 30);
    // Locked now: the right password is refused too.
    app.client().login(ADMIN_EMAIL, ADMIN_PASSWORD).await.assert_status(StatusCode::TOO_MANY_REQUESTS);
}

async fn a_right_password_forgives_its_own_address_but_not_the_clients(backend: Backend) {
    let policy = LoginPolicy { slow_after: 10, lock_after: 4, ..LoginPolicy::default() };
    let Some(app) = TestApp::start_with(backend, |c| c.login_policy = policy).await else { return };
    app.create_user(ADMIN_EMAIL, ADMIN_PASSWORD, Role::Admin).await;
    let mut browser = app.client();
    // Three guesses at other addresses from this client, then the admin's own right password.
    for n in 0..3 {
        browser
            .login(&format!("guess{n}@example.test"), "wrong password here")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    browser.login(ADMIN_EMAIL, "wrong password here").await.assert_status(StatusCode::UNAUTHORIZED);
    let mut own = app.client();
    own.ip = "192.0.2.50".parse().unwrap();
    // The admin's address had one failure; a right password from elsewhere clears it.
    own.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.assert_redirect("/");
    assert_eq!(app.store.throttle_record(&format!("email:{ADMIN_EMAIL}")).await.unwrap(), None);
    // The client that guessed keeps its four failures: it is locked, right password or not.
    let mut again = app.client();
    again.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.assert_status(StatusCode::TOO_MANY_REQUESTS);
    // A client with three failures that signs in rightly keeps its three, not zero.
    let mut second = app.client();
    second.ip = "192.0.2.60".parse().unwrap();
    for n in 0..3 {
        second
            .login(&format!("other{n}@example.test"), "wrong password here")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    second.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.assert_redirect("/");
    let record = app.store.throttle_record("ip:192.0.2.60").await.unwrap().unwrap();
    assert_eq!(record.failures, 3);
}

async fn behind_a_trusted_proxy_each_client_is_counted_apart(backend: Backend) {
    let policy = LoginPolicy { slow_after: 10, lock_after: 2, ..LoginPolicy::default() };
    let proxied = |c: &mut mailroom_web::WebConfig| {
        c.login_policy = policy;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    };
    let Some(app) = TestApp::start_with(backend, proxied).await else { return };
    app.create_user(ADMIN_EMAIL, ADMIN_PASSWORD, Role::Admin).await;
    let via_proxy = |client: &str| {
        let mut browser = app.client();
        browser.headers.push(("x-forwarded-for", client.to_owned()));
        browser
    };
    let mut guesser = via_proxy("198.51.100.1");
    for n in 0..2 {
        guesser
            .login(&format!("guess{n}@example.test"), "wrong password here")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    guesser.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert!(app.store.throttle_record("ip:198.51.100.1").await.unwrap().is_some());
    // Another client behind the same proxy is not locked out with the guesser.
    via_proxy("198.51.100.2").login(ADMIN_EMAIL, ADMIN_PASSWORD).await.assert_redirect("/");
    // A client that writes the header itself, not through the proxy, is not believed.
    let mut direct = app.client();
    direct.ip = "203.0.113.5".parse().unwrap();
    direct.headers.push(("x-forwarded-for", "198.51.100.3".to_owned()));
    direct.login("guess9@example.test", "wrong password here").await.assert_status(StatusCode::UNAUTHORIZED);
    assert!(app.store.throttle_record("ip:203.0.113.5").await.unwrap().is_some());
    assert_eq!(app.store.throttle_record("ip:198.51.100.3").await.unwrap(), None);
}

async fn language_follows_the_browser_then_the_users_choice(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.create_user(ADMIN_EMAIL, ADMIN_PASSWORD, Role::Admin).await;
    let mut browser = app.client();
    browser.accept_language = Some("cs-CZ,cs;q=0.9,en;q=0.5".into());
    browser.get("/login").await.assert_contains("<html lang=\"cs\" data-zone=\"UTC\">").assert_contains("Přihlásit se");

    browser.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.assert_redirect("/");
    browser.submit("/", "/language", &[("lang", "en"), ("back", "/admin/users")]).await.assert_redirect("/admin/users");
    browser.cookies.remove("mailroom_lang");
    // The preference is the user's, kept in the database, and beats the browser's header.
    browser.get("/").await.assert_contains("<html lang=\"en\" data-zone=\"UTC\">").assert_contains("Sign out");
    let user = app.store.users().await.unwrap().remove(0);
    assert_eq!(user.language, Some(mailroom_domain::Language::En));

    // An unknown language and a foreign redirect target are refused or ignored.
    browser.submit("/", "/language", &[("lang", "xx"), ("back", "/")]).await.assert_status(StatusCode::BAD_REQUEST);
    browser.submit("/", "/language", &[("lang", "cs"), ("back", "//evil.test/")]).await.assert_redirect("/");
}
