//! Connecting mailboxes through OAuth against the simulator: the full flows and their failures.

use axum::http::StatusCode;
use mailroom_domain::AccountStatus;

use crate::harness::{Backend, Client, TestApp};

crate::on_both_databases!(connect:
    a_user_connects_gmail_and_outlook_and_sees_both_active,
    connecting_the_same_mailbox_again_reconnects_it,
    a_denied_consent_or_a_replayed_state_stores_nothing,
    a_state_from_another_session_is_refused,
    a_provider_outage_during_the_exchange_stores_nothing,
    disconnecting_revokes_the_grant_and_removes_the_account,
    administrators_see_every_account_and_members_do_not,
    the_consent_page_of_the_provider_leads_back_and_connects,
    a_grant_without_a_refresh_token_is_refused_with_advice,
);

const PASSWORD: &str = "member password 1";

/// Presses a Connect button; returns the provider URL the browser is sent to.
pub(crate) async fn press_connect(browser: &mut Client, provider: &str) -> String {
    let page = browser.submit("/accounts", "/accounts/connect", &[("provider", provider), ("import_days", "30")]).await;
    assert!(page.status.is_redirection(), "{}: {}", page.status, page.body);
    page.location().expect("a redirect to the provider").to_owned()
}

/// Lets the simulator's consent page answer; returns the callback path with its query.
pub(crate) async fn consent(authorize_url: &str) -> String {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = http.get(authorize_url).send().await.unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    location.strip_prefix("http://mailroom.test").expect("back to Mailroom's redirect URI").to_owned()
}

pub(crate) async fn connect(browser: &mut Client, provider: &str) -> crate::harness::Page {
    let authorize = press_connect(browser, provider).await;
    let callback = consent(&authorize).await;
    browser.get(&callback).await
}

async fn a_user_connects_gmail_and_outlook_and_sees_both_active(backend: Backend) {
    let Some((app, sim)) = TestApp::start_with_sim(backend).await else { return };
    let (ann, mut browser) = app.member("ann@example.test", PASSWORD).await;
    let page = browser.get("/accounts").await;
    page.assert_contains("Connect Gmail")
        .assert_contains("Connect Outlook")
        .assert_contains("No mailboxes are connected.");
    // Browsers check the redirect after a form against the page's form-action.
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains(&format!("form-action 'self' {}", sim.base_url())), "{csp}");

    let authorize = press_connect(&mut browser, "google").await;
    for expected in [
        "access_type=offline",
        "prompt=consent",
        "include_granted_scopes=true",
        "code_challenge_method=S256",
        "https%3A%2F%2Fmail.google.com%2F",
    ] {
        assert!(authorize.contains(expected), "{expected} missing from {authorize}");
    }
    let callback = consent(&authorize).await;
    browser.get(&callback).await.assert_redirect("/accounts?notice=account_connected");
    connect(&mut browser, "microsoft").await.assert_redirect("/accounts?notice=account_connected");

    browser.get("/").await.assert_contains("You have 2 connected mailboxes.");
    let page = browser.get("/accounts?notice=account_connected").await;
    page.assert_contains("The mailbox was connected.")
        .assert_contains("ann@example.test")
        .assert_contains("carl@contoso.onmicrosoft.com");
    let accounts = app.store.accounts_of(ann.id).await.unwrap();
    assert_eq!(accounts.len(), 2);
    assert!(accounts.iter().all(|a| a.status == AccountStatus::Active && a.import_days == 30));
    let outlook = accounts.iter().find(|a| a.address == "carl@contoso.onmicrosoft.com").unwrap();
    let identities = app.store.identities(outlook.id).await.unwrap();
    assert!(identities.iter().any(|i| i.is_default && i.address == "carl@contoso.onmicrosoft.com"), "{identities:?}");
    let tokens = app.store.account_tokens(outlook).await.unwrap();
    assert!(tokens.refresh_token.is_some());
}

async fn connecting_the_same_mailbox_again_reconnects_it(backend: Backend) {
    let Some((app, _sim)) = TestApp::start_with_sim(backend).await else { return };
    let (ann, mut browser) = app.member("ann@example.test", PASSWORD).await;
    connect(&mut browser, "google").await.assert_redirect("/accounts?notice=account_connected");
    let first = app.store.accounts_of(ann.id).await.unwrap().remove(0);
    app.store
        .set_account_status(first.id, AccountStatus::ReauthorizationRequired, Some("invalid_grant"), 1)
        .await
        .unwrap();
    browser.get("/accounts").await.assert_contains("A mailbox needs reconnecting").assert_contains("Reconnect");
    connect(&mut browser, "google").await.assert_redirect("/accounts?notice=account_reconnected");
    let accounts = app.store.accounts_of(ann.id).await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!((accounts[0].id, accounts[0].status), (first.id, AccountStatus::Active));

    // The same mailbox connected by another user is theirs.
    let (ben, mut other) = app.member("ben@example.test", PASSWORD).await;
    connect(&mut other, "google").await.assert_redirect("/accounts?notice=account_connected");
    assert_eq!(app.store.accounts_of(ben.id).await.unwrap().len(), 1);
    assert_eq!(app.store.accounts_of(ann.id).await.unwrap().len(), 1);
}

async fn a_denied_consent_or_a_replayed_state_stores_nothing(backend: Backend) {
    let Some((app, _sim)) = TestApp::start_with_sim(backend).await else { return };
    let (ann, mut browser) = app.member("ann@example.test", PASSWORD).await;
    let authorize = press_connect(&mut browser, "google").await;
    let state = url::Url::parse(&authorize).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let page = browser.get(&format!("/oauth/callback?error=access_denied&state={state}")).await;
    page.assert_status(StatusCode::BAD_REQUEST)
        .assert_contains("You declined access at Gmail")
        .assert_contains("href=\"/accounts\"");
    assert!(app.store.accounts_of(ann.id).await.unwrap().is_empty());

    let callback = consent(&press_connect(&mut browser, "google").await).await;
    browser.get(&callback).await.assert_redirect("/accounts?notice=account_connected");
    let replay = browser.get(&callback).await;
    replay.assert_status(StatusCode::BAD_REQUEST).assert_contains("already used");
    browser
        .get("/oauth/callback?code=x&state=made-up")
        .await
        .assert_status(StatusCode::BAD_REQUEST)
        .assert_contains("already used");
    browser.get("/oauth/callback?code=x").await.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(app.store.accounts_of(ann.id).await.unwrap().len(), 1);
}

async fn a_state_from_another_session_is_refused(backend: Backend) {
    let Some((app, _sim)) = TestApp::start_with_sim(backend).await else { return };
    let (ann, mut browser) = app.member("ann@example.test", PASSWORD).await;
    let callback = consent(&press_connect(&mut browser, "microsoft").await).await;
    let (_, mut eve) = app.member("eve@example.test", PASSWORD).await;
    eve.get(&callback).await.assert_status(StatusCode::BAD_REQUEST).assert_contains("another session");
    assert!(app.store.all_accounts().await.unwrap().is_empty());
    // Signed out, the callback asks for a login and stores nothing.
    app.client().get(&callback).await.assert_redirect("/login");
    assert!(app.store.accounts_of(ann.id).await.unwrap().is_empty());
}

async fn a_provider_outage_during_the_exchange_stores_nothing(backend: Backend) {
    let Some((app, sim)) = TestApp::start_with_sim(backend).await else { return };
    let (ann, mut browser) = app.member("ann@example.test", PASSWORD).await;
    let callback = consent(&press_connect(&mut browser, "google").await).await;
    sim.state.set_faults(mailroom_sim::Faults { error_rate: 1.0, ..Default::default() });
    let page = browser.get(&callback).await;
    page.assert_status(StatusCode::BAD_GATEWAY).assert_contains("did not answer properly");
    assert!(app.store.accounts_of(ann.id).await.unwrap().is_empty());
    sim.state.set_faults(mailroom_sim::Faults::default());
    connect(&mut browser, "google").await.assert_redirect("/accounts?notice=account_connected");
}

async fn disconnecting_revokes_the_grant_and_removes_the_account(backend: Backend) {
    let Some((app, sim)) = TestApp::start_with_sim(backend).await else { return };
    let (ann, mut browser) = app.member("ann@example.test", PASSWORD).await;
    connect(&mut browser, "google").await;
    let account = app.store.accounts_of(ann.id).await.unwrap().remove(0);
    // The button asks first, and says what goes with the mailbox.
    browser.get("/accounts").await.assert_contains(
        "data-confirm=\"Disconnect this mailbox? Mailroom deletes its copy of the mailbox&#39;s mail; the mail at Gmail or Outlook is not touched",
    );
    let (_, mut ben) = app.member("ben@example.test", PASSWORD).await;
    let path = format!("/accounts/{}/disconnect", account.id);
    ben.submit("/accounts", &path, &[]).await.assert_status(StatusCode::NOT_FOUND);
    browser.submit("/accounts", &path, &[]).await.assert_redirect("/accounts?notice=account_disconnected");
    assert!(app.store.accounts_of(ann.id).await.unwrap().is_empty());
    let world = sim.state.world();
    assert!(
        world.refresh_tokens.values().filter(|t| t.email == "ann@example.test").all(|t| t.dead.is_some()),
        "the grant was revoked"
    );
}

async fn administrators_see_every_account_and_members_do_not(backend: Backend) {
    let Some((app, _sim)) = TestApp::start_with_sim(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let (_, mut browser) = app.member("ann@example.test", PASSWORD).await;
    connect(&mut browser, "microsoft").await;
    browser.get("/admin/accounts").await.assert_status(StatusCode::FORBIDDEN);
    let page = admin.get("/admin/accounts").await;
    page.assert_status(StatusCode::OK)
        .assert_contains("ann@example.test")
        .assert_contains("carl@contoso.onmicrosoft.com")
        .assert_contains("Outlook");
}

async fn the_consent_page_of_the_provider_leads_back_and_connects(backend: Backend) {
    let Some((app, _sim)) = TestApp::start_with_sim_and(backend, false, |_| {}).await else { return };
    let (ann, mut browser) = app.member("ann@example.test", PASSWORD).await;
    let authorize = press_connect(&mut browser, "microsoft").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(&authorize).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Allow as Carl") && page.contains("Deny"), "{page}");
    // Submit the consent form as the browser would: its action, its hidden fields, the user's button.
    let action = regex_lite::Regex::new(r#"<form method="post" action="([^"]+)""#).unwrap().captures(&page).unwrap()[1]
        .to_owned();
    let hidden = regex_lite::Regex::new(r#"<input type="hidden" name="([^"]+)" value="([^"]*)">"#).unwrap();
    let unescape = |v: &str| {
        v.replace("&#x2f;", "/")
            .replace("&#x2F;", "/")
            .replace("&#38;", "&")
            .replace("&amp;", "&")
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
    };
    let mut form: Vec<(String, String)> =
        hidden.captures_iter(&page).map(|c| (c[1].to_owned(), unescape(&c[2]))).collect();
    form.push(("user".into(), "carl@contoso.onmicrosoft.com".into()));
    let response = http.post(unescape(&action)).form(&form).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let callback = location.strip_prefix("http://mailroom.test").expect("back to Mailroom").to_owned();
    browser.get(&callback).await.assert_redirect("/accounts?notice=account_connected");
    assert_eq!(app.store.accounts_of(ann.id).await.unwrap()[0].address, "carl@contoso.onmicrosoft.com");
}

async fn a_grant_without_a_refresh_token_is_refused_with_advice(backend: Backend) {
    // Without offline_access Microsoft issues no refresh token, and the mailbox could not be kept
    // in sync.
    let scopes = ["openid", "profile", "email", "User.Read", "Mail.ReadWrite"].map(str::to_owned).to_vec();
    let Some((app, _sim)) = TestApp::start_with_sim_and(backend, true, |c| c.endpoints.microsoft.scopes = scopes).await
    else {
        return;
    };
    let (ann, mut browser) = app.member("ann@example.test", PASSWORD).await;
    let page = connect(&mut browser, "microsoft").await;
    page.assert_status(StatusCode::BAD_GATEWAY).assert_contains("did not grant lasting access");
    assert!(app.store.accounts_of(ann.id).await.unwrap().is_empty());
}
