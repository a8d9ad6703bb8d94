//! Backup and restore of a SQLite store (`mailroom backup` / `mailroom restore`): a snapshot taken
//! while a mailbox imports is consistent, and restored into an empty data directory every message
//! and every sealed token in it reads back. PostgreSQL is backed up with `pg_dump`.

use mailroom_store::backup::{BackupError, backup, restore};
use mailroom_store::{Db, DbTarget, KeyInput, OpenError, Store};
use mailroom_sync::{Mode, Progress, sync_gmail};

use crate::harness::Backend;
use crate::sync_gmail::setup;

/// Every message of the store at `database`, read whole through the store.
async fn every_message_reads(store: &Store, user: mailroom_domain::UserId, database: &std::path::Path) -> usize {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", database.display())).await.unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM messages").fetch_all(&pool).await.unwrap();
    pool.close().await;
    for id in &ids {
        let detail = store.message_detail(user, *id).await.unwrap().expect("the message is there");
        let raw = detail.raw.expect("its bytes are there");
        assert!(String::from_utf8_lossy(&raw).contains("Subject: Message "), "message {id} reads whole");
    }
    ids.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_mail_imports_restores_with_every_message_and_token_readable() {
    const MESSAGES: usize = 600;
    let s = setup(Backend::Sqlite, MESSAGES).await.expect("SQLite is always there");
    let (app, engine, account) = (&s.app, &s.engine, &s.account);
    let ann = account.user_id;

    // The import runs while the backup is taken, part-way through.
    let importing = {
        let (engine, account) = (engine.clone(), account.clone());
        tokio::spawn(async move { sync_gmail(&engine, &account, Mode::Incremental, &Progress::new()).await })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while app.store.message_count(account.id).await.unwrap() == 0 {
        assert!(std::time::Instant::now() < deadline, "the import did not begin");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let database = app.db.dir.path().join("mailroom.db");
    let elsewhere = tempfile::tempdir().unwrap();
    let file = elsewhere.path().join("mailroom-backup.db");
    let contents = backup(&database, &file).await.expect("backup");
    importing.await.unwrap().expect("the import finishes");
    assert_eq!(app.store.message_count(account.id).await.unwrap(), i64::try_from(MESSAGES).unwrap());
    assert!(contents.messages > 0, "{contents:?}");
    assert_eq!((contents.users, contents.mailboxes), (1, 1));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // A second backup never replaces the first.
    assert!(matches!(backup(&database, &file).await, Err(BackupError::TargetExists(_))));

    // Into an empty data directory: without the key nothing happens; with it, all is there.
    let restored = tempfile::tempdir().unwrap();
    let target = restored.path().join("data/mailroom.db");
    let key_file = restored.path().join("data/secret.key");
    let no_key = restore(&file, &target, KeyInput { given: None, file: key_file.clone() }).await;
    assert!(matches!(no_key, Err(BackupError::Open(OpenError::KeyMissing { .. }))), "{no_key:?}");
    assert!(!target.exists() && !key_file.exists(), "a refused restore leaves nothing behind");
    let entries: Vec<_> = std::fs::read_dir(restored.path().join("data")).unwrap().collect();
    assert!(entries.is_empty(), "{entries:?}");

    let other_key = KeyInput { given: Some(secrecy::SecretString::from("cd".repeat(32))), file: key_file.clone() };
    let wrong_key = restore(&file, &target, other_key).await;
    assert!(matches!(wrong_key, Err(BackupError::Open(OpenError::WrongKey { .. }))), "{wrong_key:?}");
    assert!(!target.exists(), "a restore with another key leaves nothing behind");

    std::fs::copy(app.db.key_file(), &key_file).unwrap();
    let again = restore(&file, &target, KeyInput { given: None, file: key_file.clone() }).await.expect("restore");
    assert_eq!(again, contents);
    assert!(matches!(
        restore(&file, &target, KeyInput { given: None, file: key_file.clone() }).await,
        Err(BackupError::DatabaseExists(_))
    ));

    let db = Db::connect(&DbTarget::Sqlite(target.clone())).await.unwrap();
    db.migrate().await.unwrap();
    let store = Store::unlock(db, KeyInput { given: None, file: key_file }).await.expect("the key opens it");
    assert_eq!(store.message_count(account.id).await.unwrap(), contents.messages);
    assert_eq!(every_message_reads(&store, ann, &target).await, usize::try_from(contents.messages).unwrap());
    let restored_account = store.account(account.id).await.unwrap().expect("the mailbox is there");
    let sealed = store.account_tokens(&restored_account).await.expect("the mailbox's tokens open");
    let original = app.store.account_tokens(account).await.unwrap();
    use secrecy::ExposeSecret as _;
    let refresh = |t: &mailroom_store::AccountTokens| t.refresh_token.as_ref().map(|r| r.expose_secret().to_owned());
    assert!(refresh(&original).is_some());
    assert_eq!(refresh(&sealed), refresh(&original));
    assert_eq!(sealed.access_token.expose_secret(), original.access_token.expose_secret());
    assert!(store.client_secret(mailroom_domain::Provider::Google).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_backup_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"this is not a database").unwrap();
    let target = dir.path().join("data/mailroom.db");
    let key = || KeyInput { given: None, file: dir.path().join("data/secret.key") };
    let refused = restore(&junk, &target, key()).await;
    assert!(matches!(refused, Err(BackupError::NotABackup { .. })), "{refused:?}");
    let missing = restore(&dir.path().join("nowhere.db"), &target, key()).await;
    assert!(matches!(missing, Err(BackupError::NotABackup { .. })), "{missing:?}");
    // A SQLite database of something else.
    let other = dir.path().join("other.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", other.display())).await.unwrap();
    sqlx::query("CREATE TABLE notes (text TEXT)").execute(&pool).await.unwrap();
    pool.close().await;
    let foreign = restore(&other, &target, key()).await;
    assert!(
        matches!(&foreign, Err(BackupError::NotABackup { why, .. }) if why.contains("not Mailroom's")),
        "{foreign:?}"
    );
    assert!(!target.exists() && !dir.path().join("data/secret.key").exists());
    assert!(matches!(
        backup(&dir.path().join("absent.db"), &dir.path().join("b.db")).await,
        Err(BackupError::NoDatabase(_))
    ));
}
