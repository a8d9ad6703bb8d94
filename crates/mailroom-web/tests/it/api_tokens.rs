//! Personal access tokens in the store: shown once, kept as a hash, owned, revocable, and dead
//! with a disabled user.

use axum::http::{StatusCode, header};
use mailroom_domain::Role;
use mailroom_store::ApiToken;

use crate::harness::{Backend, TestApp};

crate::on_both_databases!(api_tokens:
    a_token_is_kept_as_a_hash_and_finds_its_user,
    only_the_owner_revokes_a_token_and_a_disabled_user_has_none,
    bad_names_and_malformed_tokens_are_refused,
    the_tokens_page_shows_a_new_token_once_and_revokes_only_ones_own,
);

const PASSWORD: &str = "member password 1";

async fn a_token_is_kept_as_a_hash_and_finds_its_user(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let token = app.store.create_api_token(ann.id, "  CRM import  ", 1_000).await.unwrap().expect("a token");
    assert!(token.expose().starts_with("mr_") && token.expose().len() == 46, "{}", token.expose());
    // Neither the token nor any part of its secret is in the database.
    let stored = app.raw_strings("SELECT token_hash FROM api_tokens").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].len(), 64, "a SHA-256 in hex");
    assert!(!stored[0].contains(&token.expose()[3..13]));

    let user = app.store.api_token_user(&token, 2_000).await.unwrap().expect("the token's user");
    assert_eq!(user.id, ann.id);
    let listed = app.store.api_tokens(ann.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].created_at, listed[0].last_used_at),
        ("CRM import", 1_000, Some(2_000))
    );
    // Used again within the minute: not written again.
    app.store.api_token_user(&token, 2_030).await.unwrap().expect("still good");
    assert_eq!(app.store.api_tokens(ann.id).await.unwrap()[0].last_used_at, Some(2_000));

    let second = app.store.create_api_token(ann.id, "Reports", 3_000).await.unwrap().expect("another");
    assert_ne!(second, token);
    let names: Vec<String> = app.store.api_tokens(ann.id).await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["Reports", "CRM import"], "newest first");
}

async fn only_the_owner_revokes_a_token_and_a_disabled_user_has_none(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let ben = app.create_user("ben@example.test", PASSWORD, Role::Member).await;
    let token = app.store.create_api_token(ann.id, "CRM", 1).await.unwrap().unwrap();
    let id = app.store.api_tokens(ann.id).await.unwrap()[0].id;

    assert!(app.store.api_tokens(ben.id).await.unwrap().is_empty(), "another user's tokens are not listed");
    assert!(!app.store.revoke_api_token(ben.id, id).await.unwrap(), "another user cannot revoke it");
    assert!(app.store.api_token_user(&token, 2).await.unwrap().is_some());

    app.store.set_user_disabled(ann.id, true).await.unwrap();
    assert!(app.store.api_token_user(&token, 3).await.unwrap().is_none(), "a disabled user's token does nothing");
    app.store.set_user_disabled(ann.id, false).await.unwrap();

    assert!(app.store.revoke_api_token(ann.id, id).await.unwrap());
    assert!(app.store.api_token_user(&token, 4).await.unwrap().is_none(), "a revoked token does nothing");
    assert!(!app.store.revoke_api_token(ann.id, id).await.unwrap(), "revoked once");
}

async fn bad_names_and_malformed_tokens_are_refused(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    assert!(app.store.create_api_token(ann.id, "   ", 1).await.unwrap().is_none());
    assert!(app.store.create_api_token(ann.id, &"x".repeat(101), 1).await.unwrap().is_none());
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM api_tokens").await, 0, "nothing was made");

    let token = app.store.create_api_token(ann.id, &"x".repeat(100), 1).await.unwrap().unwrap();
    for bad in [
        "",
        "mr_",
        "mr_short",
        &token.expose()[3..],
        &format!("{}x", token.expose()),
        &token.expose().replace("mr_", "mx_"),
    ] {
        assert!(ApiToken::parse(bad).is_none(), "{bad:?} parsed");
    }
    assert_eq!(ApiToken::parse(token.expose()), Some(token.clone()));
    // Well formed but never issued.
    let unknown = ApiToken::parse(&format!("mr_{}", "a".repeat(43))).unwrap();
    assert!(app.store.api_token_user(&unknown, 2).await.unwrap().is_none());
}

async fn the_tokens_page_shows_a_new_token_once_and_revokes_only_ones_own(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.client().get("/settings/tokens").await.assert_redirect("/login");
    let (ann, mut browser) = app.member("ann@example.test", PASSWORD).await;
    browser.get("/settings/tokens").await.assert_status(StatusCode::OK).assert_contains("You have no tokens.");

    // Refused: no CSRF proof, then an empty name. Nothing is made.
    browser.post_raw("/settings/tokens", &[("name", "CRM")]).await.assert_status(StatusCode::FORBIDDEN);
    browser
        .submit("/settings/tokens", "/settings/tokens", &[("name", " ")])
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains(r#"role="alert""#)
        .assert_field_error(r#"id="name""#, "Give a name of 1 to 100 characters.");
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM api_tokens").await, 0);

    let page = browser.submit("/settings/tokens", "/settings/tokens", &[("name", "CRM import")]).await;
    page.assert_status(StatusCode::OK).assert_contains("Copy it now");
    assert_eq!(page.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    let shown = regex_lite::Regex::new(r"mr_[A-Za-z0-9_-]{43}")
        .unwrap()
        .find(&page.body)
        .expect("the token")
        .as_str()
        .to_owned();
    let token = ApiToken::parse(&shown).unwrap();
    assert_eq!(app.store.api_token_user(&token, mailroom_store::now()).await.unwrap().map(|u| u.id), Some(ann.id));
    // Listed by name from now on, never shown again.
    browser.get("/settings/tokens").await.assert_contains("CRM import").assert_lacks(&shown);

    // Another user can neither see nor revoke it.
    let id = app.store.api_tokens(ann.id).await.unwrap()[0].id;
    let (_, mut ben) = app.member("ben@example.test", PASSWORD).await;
    ben.get("/settings/tokens").await.assert_lacks("CRM import");
    let revoke = format!("/settings/tokens/{id}/revoke");
    ben.submit("/settings/tokens", &revoke, &[]).await.assert_status(StatusCode::NOT_FOUND);
    assert!(app.store.api_token_user(&token, mailroom_store::now()).await.unwrap().is_some());

    browser.post_raw(&revoke, &[]).await.assert_status(StatusCode::FORBIDDEN);
    browser.submit("/settings/tokens", &revoke, &[]).await.assert_redirect("/settings/tokens?notice=token_revoked");
    assert!(app.store.api_token_user(&token, mailroom_store::now()).await.unwrap().is_none());
    browser
        .get("/settings/tokens?notice=token_revoked")
        .await
        .assert_contains("The token was revoked")
        .assert_contains("You have no tokens.");
}
