//! Mail that once did not open, and input that once got a 500 or worse: each answers as a user
//! expects, on both databases.

use std::sync::Arc;

use mailroom_providers::Providers;
use mailroom_sync::{AccessTokens, Engine, Limits, Mode, Pacing, Progress, sync_account};

use crate::connect::{consent, press_connect};
use crate::harness::{Backend, Client, TestApp, sim_endpoints};

crate::on_both_databases!(robustness:
    fifty_mailboxes_connect_while_others_import,
);

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
