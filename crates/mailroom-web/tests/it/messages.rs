//! The mail store's sync writes: idempotent upserts, flags, folders, deletes and the cursor in
//! one transaction.

use mailroom_domain::search::{Plan, Query};
use mailroom_domain::{FolderKind, Role};
use mailroom_mime::parse;
use mailroom_store::{Account, Cursor, EventKind, IncomingMessage, MessageChange, RemoteFolder};

use crate::harness::{Backend, TestApp};

crate::on_both_databases!(messages:
    applying_the_same_sync_twice_leaves_the_same_state,
    flags_folders_and_deletions_apply_and_unknown_messages_are_skipped,
    a_message_that_did_not_parse_is_kept_with_its_raw_bytes,
    disconnecting_an_account_removes_its_mail,
    a_long_run_of_upserts_is_written_whole_and_in_order,
    the_search_index_follows_a_run_with_repeats_deletions_and_new_times,
    mail_stored_by_an_older_reader_is_read_again_in_the_background,
);

const RAW: &[u8] = b"From: Jana <Jana@Firma.test>\r\nTo: ann@example.test, Petr <petr@dodavatel.test>\r\n\
Subject: Faktura\r\nMessage-ID: <f1@firma.test>\r\nDate: Tue, 01 Oct 2024 10:00:00 +0000\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nV priloze.\r\n\
--b\r\nContent-Type: application/pdf; name=\"f.pdf\"\r\nContent-Disposition: attachment; filename=\"f.pdf\"\r\n\r\nPDF\r\n--b--\r\n";

async fn account(app: &TestApp) -> Account {
    let ann = app.create_user("ann@example.test", "member password 1", Role::Member).await;
    app.connected_account(ann.id, "ann@example.test").await
}

fn folders() -> Vec<RemoteFolder> {
    [("INBOX", FolderKind::Inbox), ("Label_1", FolderKind::Custom), ("TRASH", FolderKind::Trash)]
        .into_iter()
        .map(|(id, kind)| RemoteFolder { remote_id: id.into(), name: id.into(), kind, parent_remote_id: None })
        .collect()
}

/// An unread message `RAW` with this remote id in these folders.
fn unread_message<'a>(
    remote_id: &'a str,
    folders: &'a [String],
    parsed: &'a mailroom_mime::ParsedMessage,
) -> IncomingMessage<'a> {
    IncomingMessage {
        remote_id,
        thread_remote_id: None,
        received_at: 1,
        is_read: false,
        is_starred: false,
        is_draft: false,
        folders,
        raw: Some(RAW),
        parsed,
        parse_failed: false,
        has_attachments: None,
    }
}

async fn applying_the_same_sync_twice_leaves_the_same_state(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let account = account(&app).await;
    let parsed = parse(RAW).into_message();
    let labels = vec!["INBOX".to_owned(), "Label_1".to_owned()];
    let message = || IncomingMessage {
        remote_id: "m1",
        thread_remote_id: Some("t1"),
        received_at: 1_727_776_800,
        is_read: false,
        is_starred: true,
        is_draft: false,
        folders: &labels,
        raw: Some(RAW),
        parsed: &parsed,
        parse_failed: false,
        has_attachments: None,
    };
    for round in 0..2 {
        let cursor = Cursor { scope: "", value: "1000" };
        app.store
            .apply_sync(account.id, &folders(), &[MessageChange::Upsert(message())], Some(cursor), 10 + round)
            .await
            .unwrap();
    }
    assert_eq!(app.store.message_count(account.id).await.unwrap(), 1);
    assert_eq!(app.store.message_folders(account.id, "m1").await.unwrap(), ["INBOX", "Label_1"]);
    assert_eq!(app.store.sync_cursor(account.id, "").await.unwrap().as_deref(), Some("1000"));
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM participants").await, 3, "from and two recipients, once each");
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM participants WHERE domain = 'firma.test'").await, 1);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM attachments").await, 1);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM folders").await, 3);
}

async fn flags_folders_and_deletions_apply_and_unknown_messages_are_skipped(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let account = account(&app).await;
    let parsed = parse(RAW).into_message();
    let inbox = vec!["INBOX".to_owned()];
    let incoming = unread_message("m1", &inbox, &parsed);
    app.store.apply_sync(account.id, &folders(), &[MessageChange::Upsert(incoming)], None, 1).await.unwrap();
    assert_eq!(app.store.sync_cursor(account.id, "").await.unwrap(), None, "no cursor given, none stored");

    let trash = vec!["TRASH".to_owned(), "Label_9".to_owned()];
    let changes = [
        MessageChange::Flags { remote_id: "m1", is_read: Some(true), is_starred: Some(true) },
        MessageChange::Folders { remote_id: "m1", folders: &trash },
        MessageChange::Flags { remote_id: "gone", is_read: Some(true), is_starred: Some(false) },
        MessageChange::Delete { remote_id: "never-seen" },
    ];
    app.store.apply_sync(account.id, &[], &changes, Some(Cursor { scope: "", value: "2000" }), 2).await.unwrap();
    assert_eq!(
        app.store.message_folders(account.id, "m1").await.unwrap(),
        ["Label_9", "TRASH"],
        "an unknown label is kept as custom"
    );
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM messages WHERE is_read AND is_starred").await, 1);
    assert_eq!(app.store.sync_cursor(account.id, "").await.unwrap().as_deref(), Some("2000"));

    app.store.apply_sync(account.id, &[], &[MessageChange::Delete { remote_id: "m1" }], None, 3).await.unwrap();
    assert_eq!(app.store.message_count(account.id).await.unwrap(), 0);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM participants").await, 0, "its index entries went with it");
}

async fn a_message_that_did_not_parse_is_kept_with_its_raw_bytes(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let account = account(&app).await;
    let garbage: &[u8] = b"\xff\xfe not a message";
    let outcome = parse(garbage);
    let failed = matches!(outcome, mailroom_mime::ParseOutcome::Unreadable(_));
    let parsed = outcome.into_message();
    let incoming = IncomingMessage {
        remote_id: "odd",
        thread_remote_id: None,
        received_at: 5,
        is_read: true,
        is_starred: false,
        is_draft: false,
        folders: &[],
        raw: Some(garbage),
        parsed: &parsed,
        parse_failed: failed,
        has_attachments: None,
    };
    app.store.apply_sync(account.id, &[], &[MessageChange::Upsert(incoming)], None, 5).await.unwrap();
    assert_eq!(app.store.message_count(account.id).await.unwrap(), 1);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM message_raw").await, 1);
}

async fn disconnecting_an_account_removes_its_mail(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let account = account(&app).await;
    let parsed = parse(RAW).into_message();
    let inbox = vec!["INBOX".to_owned()];
    let incoming = unread_message("m1", &inbox, &parsed);
    app.store
        .apply_sync(
            account.id,
            &folders(),
            &[MessageChange::Upsert(incoming)],
            Some(Cursor { scope: "", value: "1" }),
            1,
        )
        .await
        .unwrap();
    assert!(app.store.delete_account(account.user_id, account.id).await.unwrap());
    for sql in [
        "SELECT COUNT(*) FROM messages",
        "SELECT COUNT(*) FROM folders",
        "SELECT COUNT(*) FROM participants",
        "SELECT COUNT(*) FROM sync_state",
    ] {
        assert_eq!(app.raw_count(sql).await, 0, "{sql}");
    }
}

/// Upserts are written in batches: a run longer than one batch, a message given twice in it (the
/// later version wins), a folder only messages name, and known messages among new ones all come
/// out as if applied one by one, with one change-feed entry per real change.
async fn a_long_run_of_upserts_is_written_whole_and_in_order(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let account = account(&app).await;
    let parsed = parse(RAW).into_message();
    let inbox = vec!["INBOX".to_owned()];
    let both = vec!["INBOX".to_owned(), "Label_new".to_owned()];
    app.store.apply_sync(account.id, &folders(), &[], None, 1).await.unwrap();
    // Two known messages before the run: one it leaves as it is, one it changes.
    let known = [unread_message("m0", &inbox, &parsed), unread_message("m1", &inbox, &parsed)];
    app.store.apply_sync(account.id, &[], &known.map(MessageChange::Upsert), None, 2).await.unwrap();
    let after_known = app.store.events_since(account.id, 0, 1_000).await.unwrap().len();

    let ids: Vec<String> = (0..450).map(|n| format!("m{n}")).collect();
    let mut changes: Vec<MessageChange<'_>> =
        ids.iter().map(|id| MessageChange::Upsert(unread_message(id, &inbox, &parsed))).collect();
    // m1 read now, and m7 again later in the run, starred and with a label the store never saw.
    if let MessageChange::Upsert(m) = &mut changes[1] {
        m.is_read = true;
    }
    let mut again = unread_message("m7", &both, &parsed);
    again.is_starred = true;
    changes.insert(300, MessageChange::Upsert(again));
    app.store.apply_sync(account.id, &[], &changes, None, 3).await.unwrap();

    assert_eq!(app.store.message_count(account.id).await.unwrap(), 450);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM participants").await, 450 * 3);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM attachments").await, 450);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM message_folders").await, 451);
    assert_eq!(app.store.message_folders(account.id, "m7").await.unwrap(), ["INBOX", "Label_new"]);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM messages WHERE is_starred").await, 1);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM messages WHERE is_read").await, 1);
    let events = app.store.events_since(account.id, 0, 1_000).await.unwrap();
    let run: Vec<(String, EventKind)> = events[after_known..].iter().map(|e| (e.remote_id.clone(), e.kind)).collect();
    // In the order of the changes: m0 unchanged, nothing; m1 read, changed; m2…m299 added; m7
    // changed where it came again; m300…m449 added.
    assert_eq!(run.len(), 1 + 448 + 1);
    assert_eq!(run[0], ("m1".to_owned(), EventKind::Changed));
    assert_eq!(run[1], ("m2".to_owned(), EventKind::Added));
    assert_eq!(run[298], ("m299".to_owned(), EventKind::Added));
    assert_eq!(run[299], ("m7".to_owned(), EventKind::Changed));
    assert_eq!(run[300], ("m300".to_owned(), EventKind::Added));
    assert_eq!(run[449], ("m449".to_owned(), EventKind::Added));
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "one sequence without gaps");
}

/// The index entries of a sync run are written together at its end: a message upserted twice in
/// the run is found by its later version only, one upserted and then deleted is not found, one
/// whose arrival time changed is found under its new time, and every message has one entry.
async fn the_search_index_follows_a_run_with_repeats_deletions_and_new_times(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let account = account(&app).await;
    let inbox = vec!["INBOX".to_owned()];
    let titled = |subject: &str| {
        let mut parsed = parse(RAW).into_message();
        parsed.subject = subject.to_owned();
        parsed
    };
    let (faktura, alpha, bravo, charlie, delta) =
        (titled("faktura"), titled("alpha"), titled("bravo"), titled("charlie"), titled("delta"));
    app.store.apply_sync(account.id, &folders(), &[], None, 1).await.unwrap();
    app.store
        .apply_sync(account.id, &[], &[MessageChange::Upsert(unread_message("m1", &inbox, &faktura))], None, 2)
        .await
        .unwrap();
    let mut m1_later = unread_message("m1", &inbox, &bravo);
    m1_later.received_at = 500;
    let changes = [
        MessageChange::Upsert(unread_message("m2", &inbox, &alpha)),
        MessageChange::Upsert(m1_later),
        MessageChange::Upsert(unread_message("m2", &inbox, &charlie)),
        MessageChange::Upsert(unread_message("m3", &inbox, &delta)),
        MessageChange::Delete { remote_id: "m3" },
        MessageChange::Upsert(unread_message("m4", &inbox, &alpha)),
    ];
    app.store.apply_sync(account.id, &[], &changes, None, 3).await.unwrap();

    let found = |query: &'static str| {
        let plan = Plan::new(&Query::parse(query).unwrap());
        let store = app.store.clone();
        async move {
            let page = store.search(account.user_id, &plan, None, 50).await.unwrap();
            let mut hits: Vec<(String, i64)> =
                page.hits.into_iter().map(|h| (h.summary.remote_id, h.summary.received_at)).collect();
            hits.sort();
            (hits, store.search_count(account.user_id, &plan).await.unwrap())
        }
    };
    assert_eq!(found("subject:alpha").await, (vec![("m4".to_owned(), 1)], 1), "m2's first version is gone");
    assert_eq!(found("subject:charlie").await, (vec![("m2".to_owned(), 1)], 1));
    assert_eq!(found("subject:bravo").await, (vec![("m1".to_owned(), 500)], 1), "under its new time");
    assert_eq!(found("subject:faktura").await, (Vec::new(), 0));
    assert_eq!(found("subject:delta").await, (Vec::new(), 0), "deleted in the run");
    assert_eq!(found("priloze").await.1, 3, "one entry a message");
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM message_search").await, 3);
}

/// A message mail-parser once read as an empty body and an "attachment" of type text/html: its
/// multipart was never closed.
const UNCLOSED: &[u8] = b"From: Jana <jana@firma.test>\r\nTo: ann@example.test\r\nSubject: Wombats\r\n\
Message-ID: <w1@firma.test>\r\nDate: Tue, 01 Oct 2024 10:00:00 +0000\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n\
<p>The wombat digs.</p>\r\n--b\r\nContent-Type: application/pdf; name=\"map.pdf\"\r\n\
Content-Disposition: attachment; filename=\"map.pdf\"\r\n\r\nPDF\r\n";

async fn mail_stored_by_an_older_reader_is_read_again_in_the_background(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let account = account(&app).await;
    // What an older reader made of the message: no body, its HTML listed as a file.
    let old = mailroom_mime::ParsedMessage {
        subject: "Wombats".into(),
        from: Some(mailroom_mime::Address { name: None, address: "jana@firma.test".into() }),
        snippet: String::new(),
        attachments: vec![mailroom_mime::AttachmentInfo {
            name: "attachment".into(),
            content_type: "text/html".into(),
            size: 22,
            content_id: None,
            inline: false,
        }],
        size: UNCLOSED.len() as u64,
        ..mailroom_mime::ParsedMessage::default()
    };
    let current = parse(RAW).into_message();
    let inbox = vec!["INBOX".to_owned()];
    let changes = [
        MessageChange::Upsert(IncomingMessage { raw: Some(UNCLOSED), ..unread_message("old", &inbox, &old) }),
        MessageChange::Upsert(unread_message("current", &inbox, &current)),
        MessageChange::Upsert(IncomingMessage { raw: None, ..unread_message("no-raw", &inbox, &old) }),
    ];
    app.store.apply_sync(account.id, &folders(), &changes, None, 1).await.unwrap();
    let seq_before = app.store.events_since(account.id, 0, 100).await.unwrap().last().unwrap().seq;
    let user = account.user_id;
    let old_id = app.raw_count("SELECT id FROM messages WHERE remote_id = 'old'").await;
    let no_raw_id = app.raw_count("SELECT id FROM messages WHERE remote_id = 'no-raw'").await;
    let search = |q: &str| Plan::new(&Query::parse(q).unwrap());
    assert_eq!(app.store.search_count(user, &search("wombat")).await.unwrap(), 0, "the old view lacks the body");

    assert!(app.store.start_reparse().await.unwrap());
    let mut batches = 0;
    while app.store.reparse_stored(1).await.unwrap() {
        batches += 1;
        assert!(batches < 10, "the read-again ends");
    }
    let detail = app.store.message_detail(user, old_id).await.unwrap().unwrap();
    let names: Vec<&str> = detail.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["map.pdf"], "the HTML is the body now, and the file keeps its position 0");
    assert_eq!(mailroom_mime::attachment_data(UNCLOSED, 0).unwrap().info.name, "map.pdf");
    assert_eq!(detail.summary.snippet, "The wombat digs.");
    assert_eq!(app.store.search_count(user, &search("wombat")).await.unwrap(), 1);
    assert_eq!(app.store.search_count(user, &search("filename:map")).await.unwrap(), 1);
    // The change feed says which message changed; one read the same way, or without raw bytes, is
    // left alone.
    let events = app.store.events_since(account.id, seq_before, 100).await.unwrap();
    let changed: Vec<&str> = events.iter().map(|e| e.remote_id.as_str()).collect();
    assert_eq!(changed, ["old"]);
    let untouched = app.store.message_detail(user, no_raw_id).await.unwrap().unwrap();
    assert_eq!(untouched.attachments.len(), 1);
    // The same version does not start again.
    assert!(!app.store.start_reparse().await.unwrap());
    assert!(!app.store.reparse_stored(1).await.unwrap());
}
