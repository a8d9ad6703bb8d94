//! Access tokens kept fresh: refresh before expiry and after a 401, Microsoft's rotation, dead
//! grants, outages, and one refresh at a time.

use std::sync::Arc;

use mailroom_domain::AccountStatus;
use mailroom_providers::{ApiError, OAuthError, Providers};
use mailroom_store::Account;
use mailroom_sync::{AccessTokens, TokenError};
use secrecy::ExposeSecret;

use crate::connect::connect;
use crate::harness::{Backend, TestApp, sim_endpoints};

crate::on_both_databases!(tokens:
    a_token_is_used_until_a_minute_before_expiry_then_refreshed,
    a_401_gets_one_refresh_and_the_call_works_again,
    microsoft_rotation_saves_the_new_refresh_token_and_the_old_one_dies,
    a_revoked_grant_needs_reconnecting_and_reconnecting_restores_the_account,
    concurrent_refreshes_make_one_token_request,
    an_outage_during_a_refresh_leaves_the_account_active,
);

const PASSWORD: &str = "member password 1";

struct Setup {
    app: TestApp,
    sim: mailroom_sim::RunningSim,
    providers: Arc<Providers>,
    tokens: AccessTokens,
    account: Account,
}

async fn setup(backend: Backend, provider: &str) -> Option<Setup> {
    let (app, sim) = TestApp::start_with_sim(backend).await?;
    let (ann, mut browser) = app.member("ann@example.test", PASSWORD).await;
    connect(&mut browser, provider).await.assert_redirect("/accounts?notice=account_connected");
    let account = app.store.accounts_of(ann.id).await.unwrap().remove(0);
    let providers = Arc::new(Providers::new(sim_endpoints(&sim)));
    let tokens =
        AccessTokens::new(app.store.clone(), providers.clone(), "http://mailroom.test/oauth/callback".to_owned());
    Some(Setup { app, sim, providers, tokens, account })
}

/// Makes the stored access token look as if it expires in `secs`.
async fn expire_in(s: &Setup, secs: i64) {
    let now = mailroom_store::now();
    let current = s.app.store.account_tokens(&s.account).await.unwrap();
    s.app.store.save_refreshed_tokens(&s.account, &current.access_token, None, now + secs, now).await.unwrap();
}

fn token_requests(s: &Setup) -> usize {
    s.sim.state.world().log.iter().filter(|e| e.path.ends_with("/token") && e.status == 200).count()
}

async fn a_token_is_used_until_a_minute_before_expiry_then_refreshed(backend: Backend) {
    let Some(s) = setup(backend, "google").await else { return };
    let stored = s.app.store.account_tokens(&s.account).await.unwrap().access_token;
    let before = token_requests(&s);
    let token = s.tokens.access_token(&s.account).await.unwrap();
    assert_eq!(token.expose_secret(), stored.expose_secret(), "a fresh token is used as it is");
    assert_eq!(token_requests(&s), before);

    expire_in(&s, 59).await;
    let refreshed = s.tokens.access_token(&s.account).await.unwrap();
    assert_ne!(refreshed.expose_secret(), stored.expose_secret());
    assert_eq!(token_requests(&s), before + 1);
    let saved = s.app.store.account_tokens(&s.account).await.unwrap();
    assert_eq!(saved.access_token.expose_secret(), refreshed.expose_secret());
    assert!(saved.expires_at.unwrap() > mailroom_store::now() + 3000);
    s.providers.mailbox_profile(s.account.provider, &refreshed).await.expect("the new token works");
}

async fn a_401_gets_one_refresh_and_the_call_works_again(backend: Backend) {
    let Some(s) = setup(backend, "google").await else { return };
    // The provider ends the token early; our stored expiry still says it is good.
    s.sim.state.clock().advance(3_700);
    let token = s.tokens.access_token(&s.account).await.unwrap();
    assert!(matches!(s.providers.mailbox_profile(s.account.provider, &token).await, Err(ApiError::Unauthorized)));
    let fresh = s.tokens.after_unauthorized(&s.account).await.unwrap();
    s.providers.mailbox_profile(s.account.provider, &fresh).await.expect("works after one refresh");
}

async fn microsoft_rotation_saves_the_new_refresh_token_and_the_old_one_dies(backend: Backend) {
    let Some(s) = setup(backend, "microsoft").await else { return };
    let old_refresh = s.app.store.account_tokens(&s.account).await.unwrap().refresh_token.unwrap();
    expire_in(&s, 10).await;
    s.tokens.access_token(&s.account).await.unwrap();
    let new_refresh = s.app.store.account_tokens(&s.account).await.unwrap().refresh_token.unwrap();
    assert_ne!(new_refresh.expose_secret(), old_refresh.expose_secret(), "the rotated refresh token is saved");
    let app = mailroom_sync::oauth_app(
        &s.app.store,
        s.providers.endpoints(),
        s.account.provider,
        "http://mailroom.test/oauth/callback",
    )
    .await
    .unwrap()
    .unwrap();
    let old = s.providers.refresh(&app, &old_refresh, mailroom_store::now()).await;
    assert!(matches!(old, Err(OAuthError::ReauthorizationRequired { .. })), "the old refresh token no longer works");
    expire_in(&s, 10).await;
    s.tokens.access_token(&s.account).await.expect("the saved one does");
}

async fn a_revoked_grant_needs_reconnecting_and_reconnecting_restores_the_account(backend: Backend) {
    let Some(s) = setup(backend, "google").await else { return };
    s.sim.state.world().revoke_grants("ann@example.test");
    expire_in(&s, 10).await;
    let result = s.tokens.access_token(&s.account).await;
    assert!(matches!(result, Err(TokenError::ReauthorizationRequired(_))), "{:?}", result.err());
    let account = s.app.store.account_of(s.account.user_id, s.account.id).await.unwrap().unwrap();
    assert_eq!(account.status, AccountStatus::ReauthorizationRequired);
    assert!(account.last_error.is_some());

    let mut browser = s.app.client();
    browser.login("ann@example.test", PASSWORD).await;
    browser
        .get("/accounts")
        .await
        .assert_contains("A mailbox needs reconnecting")
        .assert_contains("Needs reconnecting");
    connect(&mut browser, "google").await.assert_redirect("/accounts?notice=account_reconnected");
    let account = s.app.store.account_of(s.account.user_id, s.account.id).await.unwrap().unwrap();
    assert_eq!(account.status, AccountStatus::Active);
    s.tokens.access_token(&account).await.expect("tokens work again");
}

async fn concurrent_refreshes_make_one_token_request(backend: Backend) {
    let Some(s) = setup(backend, "microsoft").await else { return };
    expire_in(&s, 10).await;
    let before = token_requests(&s);
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let tokens = s.tokens.clone();
            let account = s.account.clone();
            tokio::spawn(async move { tokens.access_token(&account).await.map(|t| t.expose_secret().to_owned()) })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap().expect("every task gets a token"));
    }
    assert_eq!(token_requests(&s), before + 1, "one token request for five tasks");
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "they all got the same token");
}

async fn an_outage_during_a_refresh_leaves_the_account_active(backend: Backend) {
    let Some(s) = setup(backend, "google").await else { return };
    expire_in(&s, 10).await;
    s.sim.state.set_faults(mailroom_sim::Faults { error_rate: 1.0, ..Default::default() });
    let result = s.tokens.access_token(&s.account).await;
    assert!(matches!(result, Err(TokenError::Transient { .. })), "{:?}", result.err());
    let account = s.app.store.account_of(s.account.user_id, s.account.id).await.unwrap().unwrap();
    assert_eq!(account.status, AccountStatus::Active, "an outage never forces reconnecting");
    s.sim.state.set_faults(mailroom_sim::Faults::default());
    s.tokens.access_token(&s.account).await.expect("the lease was given back, so the next try refreshes");
}
