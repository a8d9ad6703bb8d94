//! Connected accounts in the store: authorizations in progress, connecting and reconnecting,
//! sealed tokens, the refresh lease. (The pages and the OAuth flow build on these.)

use mailroom_domain::{AccountStatus, Provider, Role};
use mailroom_store::{Connection, Identity, StateProblem};
use secrecy::{ExposeSecret, SecretString};

use crate::harness::{Backend, TestApp};

crate::on_both_databases!(accounts:
    an_authorization_state_works_once_for_its_own_session_only,
    connecting_twice_reconnects_and_another_user_gets_their_own_account,
    tokens_and_verifiers_are_sealed_in_the_database,
    only_one_refresh_lease_is_granted_at_a_time,
    refreshed_tokens_replace_the_old_ones_and_accounts_belong_to_their_owner,
);

const PASSWORD: &str = "correct horse battery";

fn connection<'a>(
    user: mailroom_domain::UserId,
    access: &'a SecretString,
    refresh: &'a SecretString,
    identities: &'a [Identity],
    scopes: &'a [String],
) -> Connection<'a> {
    Connection {
        user,
        provider: Provider::Google,
        remote_id: "104620345",
        address: "ann@example.test",
        display_name: Some("Ann"),
        identities,
        access_token: access,
        refresh_token: refresh,
        expires_at: 5_000,
        scopes,
        import_days: 30,
    }
}

async fn an_authorization_state_works_once_for_its_own_session_only(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let session = app.store.create_session(ann.id, 1_000, 3_600).await.unwrap();
    let other = app.store.create_session(ann.id, 1_000, 3_600).await.unwrap();
    let verifier = SecretString::from("v".repeat(64));
    let state =
        app.store.begin_authorization(ann.id, &session, Provider::Microsoft, &verifier, 7, 1_000).await.unwrap();

    let taken = app.store.take_authorization(&state, &session, 1_100).await.unwrap().expect("the state is good");
    assert_eq!((taken.user, taken.provider, taken.import_days), (ann.id, Provider::Microsoft, 7));
    assert_eq!(taken.verifier.expose_secret(), verifier.expose_secret());
    assert_eq!(
        app.store.take_authorization(&state, &session, 1_100).await.unwrap().unwrap_err(),
        StateProblem::Unknown,
        "single use"
    );

    let state = app.store.begin_authorization(ann.id, &session, Provider::Google, &verifier, 7, 1_000).await.unwrap();
    assert_eq!(app.store.take_authorization(&state, &other, 1_100).await.unwrap().unwrap_err(), StateProblem::Foreign);
    assert_eq!(
        app.store.take_authorization(&state, &session, 1_100).await.unwrap().unwrap_err(),
        StateProblem::Unknown,
        "a foreign try uses it up"
    );

    let state = app.store.begin_authorization(ann.id, &session, Provider::Google, &verifier, 7, 1_000).await.unwrap();
    assert_eq!(
        app.store.take_authorization(&state, &session, 1_600).await.unwrap().unwrap_err(),
        StateProblem::Expired
    );
    assert_eq!(
        app.store.take_authorization("made-up", &session, 1_000).await.unwrap().unwrap_err(),
        StateProblem::Unknown
    );
}

async fn connecting_twice_reconnects_and_another_user_gets_their_own_account(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let ben = app.create_user("ben@example.test", PASSWORD, Role::Member).await;
    let (access, refresh) = (SecretString::from("access-1"), SecretString::from("refresh-1"));
    let scopes = vec!["openid".to_owned(), "email".to_owned()];
    let identities = vec![
        Identity { address: "ann@example.test".into(), name: Some("Ann".into()), is_default: true },
        Identity { address: "Ann.Alias@Example.test".into(), name: None, is_default: false },
    ];
    let (first, reconnected) =
        app.store.connect_account(&connection(ann.id, &access, &refresh, &identities, &scopes), 1_000).await.unwrap();
    assert!(!reconnected);
    assert_eq!(
        (first.status, first.address.as_str(), first.import_days),
        (AccountStatus::Active, "ann@example.test", 30)
    );
    let found: Vec<String> = app.store.identities(first.id).await.unwrap().into_iter().map(|i| i.address).collect();
    assert_eq!(found, ["ann@example.test", "ann.alias@example.test"]);

    app.store
        .set_account_status(first.id, AccountStatus::ReauthorizationRequired, Some("invalid_grant"), 1_500)
        .await
        .unwrap();
    let (access2, refresh2) = (SecretString::from("access-2"), SecretString::from("refresh-2"));
    let fewer = &identities[..1];
    let (again, reconnected) =
        app.store.connect_account(&connection(ann.id, &access2, &refresh2, fewer, &scopes), 2_000).await.unwrap();
    assert!(reconnected);
    assert_eq!(again.id, first.id, "a reconnect keeps the account and its data");
    assert_eq!((again.status, again.last_error.as_deref()), (AccountStatus::Active, None));
    assert_eq!(app.store.identities(first.id).await.unwrap().len(), 1);
    let tokens = app.store.account_tokens(&again).await.unwrap();
    assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "refresh-2");

    let (bens, reconnected) =
        app.store.connect_account(&connection(ben.id, &access, &refresh, &identities, &scopes), 3_000).await.unwrap();
    assert!(!reconnected);
    assert_ne!(bens.id, first.id, "the same mailbox connected by another user is their own account");
    assert_eq!(app.store.accounts_of(ann.id).await.unwrap().len(), 1);
    assert_eq!(app.store.all_accounts().await.unwrap().len(), 2);
}

async fn tokens_and_verifiers_are_sealed_in_the_database(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let session = app.store.create_session(ann.id, 1_000, 3_600).await.unwrap();
    let verifier = SecretString::from("verifier-plaintext-0123456789-abcdefghijklmnopqrstuv".to_owned());
    app.store.begin_authorization(ann.id, &session, Provider::Google, &verifier, 30, 1_000).await.unwrap();
    let (access, refresh) = (SecretString::from("ya29.access-plaintext"), SecretString::from("1//refresh-plaintext"));
    let scopes = vec!["email".to_owned()];
    app.store.connect_account(&connection(ann.id, &access, &refresh, &[], &scopes), 1_000).await.unwrap();

    let mut sealed = app.raw_bytes("SELECT verifier FROM oauth_states").await;
    sealed.extend(app.raw_bytes("SELECT access_token FROM accounts").await);
    sealed.extend(app.raw_bytes("SELECT refresh_token FROM accounts").await);
    assert_eq!(sealed.len(), 3);
    for value in sealed {
        let text = String::from_utf8_lossy(&value);
        assert!(!text.contains("plaintext"), "a secret is stored in plain text");
    }
}

async fn only_one_refresh_lease_is_granted_at_a_time(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let (access, refresh) = (SecretString::from("a"), SecretString::from("r"));
    let (account, _) =
        app.store.connect_account(&connection(ann.id, &access, &refresh, &[], &[]), 1_000).await.unwrap();

    // Eight tasks race for the lease; exactly one wins.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = app.store.clone();
            tokio::spawn(async move { store.lease_refresh(account.id, 2_000, 30).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.unwrap());
    }
    assert_eq!(won, 1);
    assert!(!app.store.lease_refresh(account.id, 2_029, 30).await.unwrap(), "held until it expires");
    assert!(app.store.lease_refresh(account.id, 2_030, 30).await.unwrap(), "an expired lease can be taken");
    app.store.save_refreshed_tokens(&account, &SecretString::from("a2"), None, 9_000, 2_031).await.unwrap();
    assert!(app.store.lease_refresh(account.id, 2_032, 30).await.unwrap(), "saving tokens ends the lease");
}

async fn refreshed_tokens_replace_the_old_ones_and_accounts_belong_to_their_owner(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let ben = app.create_user("ben@example.test", PASSWORD, Role::Member).await;
    let (access, refresh) = (SecretString::from("a1"), SecretString::from("r1"));
    let (account, _) =
        app.store.connect_account(&connection(ann.id, &access, &refresh, &[], &[]), 1_000).await.unwrap();

    app.store.save_refreshed_tokens(&account, &SecretString::from("a2"), None, 8_000, 2_000).await.unwrap();
    let tokens = app.store.account_tokens(&account).await.unwrap();
    assert_eq!(
        (
            tokens.access_token.expose_secret(),
            tokens.refresh_token.as_ref().unwrap().expose_secret(),
            tokens.expires_at
        ),
        ("a2", "r1", Some(8_000))
    );
    // Microsoft rotates: the new refresh token is saved with the new access token.
    app.store
        .save_refreshed_tokens(&account, &SecretString::from("a3"), Some(&SecretString::from("r2")), 9_000, 3_000)
        .await
        .unwrap();
    let tokens = app.store.account_tokens(&account).await.unwrap();
    assert_eq!(
        (tokens.access_token.expose_secret(), tokens.refresh_token.as_ref().unwrap().expose_secret()),
        ("a3", "r2")
    );

    assert!(app.store.account_of(ben.id, account.id).await.unwrap().is_none(), "ben cannot reach ann's account");
    assert!(!app.store.delete_account(ben.id, account.id).await.unwrap());
    assert!(app.store.account_of(ann.id, account.id).await.unwrap().is_some());
    assert!(app.store.delete_account(ann.id, account.id).await.unwrap());
    assert!(app.store.accounts_of(ann.id).await.unwrap().is_empty());
}
