//! The address suggestions of the compose page: accents and case folded, people written to first,
//! groups written to together, only the user's own mail, and the counts kept true as mail is
//! stored, stored again, removed and disconnected.

use mailroom_domain::{AccountId, FolderKind, Role, UserId};
use mailroom_mime::{ParsedMessage, parse};
use mailroom_store::{Account, IncomingMessage, MessageChange, RemoteFolder, Suggestions};
use serde_json::Value;

use crate::harness::{Backend, TestApp};

crate::on_both_databases!(suggestions:
    suggestions_fold_case_and_accents_and_match_the_beginnings_of_words,
    people_written_to_come_first_then_by_recent_and_frequent_mail,
    people_written_to_together_twice_are_suggested_as_one_group,
    another_users_correspondents_are_never_suggested,
    a_prefix_most_people_match_is_answered_in_the_same_order,
    suggestions_follow_mail_stored_again_deleted_and_disconnected,
);

const DAY: i64 = 86_400;
/// A recent day, so that weights are near 1.
const NOW: i64 = 1_790_000_000;

/// A message as a provider would give it, and where it is.
struct Mail {
    id: String,
    raw: Vec<u8>,
    at: i64,
    folders: Vec<String>,
    parsed: ParsedMessage,
}

/// A message from `from` to `to` (and `cc`, when not empty), `days` ago; in Sent when it is from
/// the user (`ann@example.test`), else in the inbox.
fn mail(id: &str, days: i64, from: &str, to: &str, cc: &str) -> Mail {
    let cc = if cc.is_empty() { String::new() } else { format!("Cc: {cc}\r\n") };
    let raw = format!(
        "From: {from}\r\nTo: {to}\r\n{cc}Subject: {id}\r\nMessage-ID: <{id}@example.test>\r\n\
         Date: Tue, 01 Oct 2024 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n"
    )
    .into_bytes();
    let parsed = parse(&raw).into_message();
    let sent = from.contains("ann@example.test");
    Mail {
        id: id.to_owned(),
        raw,
        at: NOW - days * DAY,
        folders: vec![if sent { "SENT" } else { "INBOX" }.to_owned()],
        parsed,
    }
}

fn folders() -> Vec<RemoteFolder> {
    [("INBOX", FolderKind::Inbox), ("SENT", FolderKind::Sent)]
        .into_iter()
        .map(|(id, kind)| RemoteFolder { remote_id: id.into(), name: id.into(), kind, parent_remote_id: None })
        .collect()
}

fn incoming(m: &Mail) -> IncomingMessage<'_> {
    IncomingMessage {
        remote_id: &m.id,
        thread_remote_id: None,
        received_at: m.at,
        is_read: true,
        is_starred: false,
        is_draft: false,
        folders: &m.folders,
        raw: Some(&m.raw),
        parsed: &m.parsed,
        parse_failed: false,
        has_attachments: None,
    }
}

async fn store(app: &TestApp, account: AccountId, mails: &[Mail]) {
    let changes: Vec<MessageChange<'_>> = mails.iter().map(|m| MessageChange::Upsert(incoming(m))).collect();
    app.store.apply_sync(account, &folders(), &changes, None, NOW).await.unwrap();
}

async fn ann(app: &TestApp) -> Account {
    let ann = app.create_user("ann@example.test", "member password 1", Role::Member).await;
    app.connected_account(ann.id, "ann@example.test").await
}

async fn suggest(app: &TestApp, user: UserId, typed: &str) -> Suggestions {
    app.store.correspondents(user, typed, 20).await.unwrap()
}

async fn found(app: &TestApp, user: UserId, typed: &str) -> Vec<String> {
    suggest(app, user, typed).await.people.into_iter().map(|p| p.address).collect()
}

const JANA: &str = "Jana Nováková <jana.novakova@example.cz>";
const JANA_ADDRESS: &str = "jana.novakova@example.cz";

async fn suggestions_fold_case_and_accents_and_match_the_beginnings_of_words(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let account = ann(&app).await;
    let user = account.user_id;
    let mails = [
        mail("m1", 3, JANA, "Ann <ann@example.test>", ""),
        mail("m2", 2, "Petr Svoboda <petr@svoboda.cz>", "ann@example.test", "\"Žofie Šťastná\" <zofie@example.cz>"),
    ];
    store(&app, account.id, &mails).await;
    for typed in
        ["novakova", "NOVÁKOVÁ", "nováková", "jana nov", "jana.n", "Jana.Novakova@Example", "nov jan", "  jAnA  "]
    {
        assert_eq!(found(&app, user, typed).await, [JANA_ADDRESS], "{typed:?}");
    }
    let jana = &suggest(&app, user, "nov").await.people[0];
    assert_eq!((jana.name.as_deref(), jana.messages, jana.sent), (Some("Jana Nováková"), 1, 0));
    assert_eq!(found(&app, user, "zofie stastna").await, ["zofie@example.cz"]);
    assert_eq!(found(&app, user, "ŠŤ").await, ["zofie@example.cz"]);
    // A domain's word finds everyone there; the middle of a word finds no one; every typed word
    // must begin a word of the same person.
    assert_eq!(found(&app, user, "example.cz").await.len(), 2);
    assert!(found(&app, user, "ovakova").await.is_empty());
    assert!(found(&app, user, "jana svoboda").await.is_empty());
    // The user's own address is never suggested, though it is in all the mail.
    assert!(found(&app, user, "ann").await.is_empty());
    assert!(found(&app, user, "example.test").await.is_empty());
    // Nothing typed, or nothing but punctuation and wildcards, finds nothing.
    for typed in ["", "   ", "%", "_", "%%", "@.", "j%a", "n_v"] {
        let none = suggest(&app, user, typed).await;
        assert!(none.people.is_empty() && none.groups.is_empty(), "{typed:?}: {none:?}");
    }
    // `j%a` is read as the words `j` and `a`, which do not both begin words of anyone here.
    assert!(found(&app, user, "j%a").await.is_empty());
    assert_eq!(found(&app, user, "j%n").await, [JANA_ADDRESS]);
}

async fn people_written_to_come_first_then_by_recent_and_frequent_mail(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let account = ann(&app).await;
    let user = account.user_id;
    let mut mails = vec![
        // Written to once, two years ago.
        mail("sent", 730, "Ann <ann@example.test>", "Jan Novák <jan.novak@example.cz>", ""),
        // Received from once, two years ago; once, yesterday; five times this month.
        mail("old", 730, "Janek Starý <janek@example.cz>", "ann@example.test", ""),
        mail("new", 1, "Jaroslav <jaroslav@example.cz>", "ann@example.test", ""),
    ];
    for n in 0..5 {
        mails.push(mail(&format!("jana{n}"), 5 + n, JANA, "ann@example.test", ""));
    }
    store(&app, account.id, &mails).await;
    assert_eq!(
        found(&app, user, "ja").await,
        ["jan.novak@example.cz", JANA_ADDRESS, "jaroslav@example.cz", "janek@example.cz"]
    );
    let first = &suggest(&app, user, "jan").await.people[0];
    assert_eq!((first.address.as_str(), first.sent, first.messages), ("jan.novak@example.cz", 1, 1));
    assert_eq!(suggest(&app, user, "nov").await.people[1].messages, 5);
    // Recency: one message from yesterday outranks one from two years ago.
    assert_eq!(found(&app, user, "ja example").await[2..], ["jaroslav@example.cz", "janek@example.cz"]);
    // A received message does not make its sender written to; a message the user sends does.
    store(&app, account.id, &[mail("reply", 0, "ann@example.test", "Janek <janek@example.cz>", "")]).await;
    assert_eq!(found(&app, user, "ja").await[..2], ["janek@example.cz", "jan.novak@example.cz"]);
    assert_eq!(suggest(&app, user, "janek").await.people[0].name.as_deref(), Some("Janek"), "the newest name");
    // The limit takes the best.
    let two = app.store.correspondents(user, "ja", 2).await.unwrap();
    assert_eq!(two.people.len(), 2);
}

async fn people_written_to_together_twice_are_suggested_as_one_group(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let account = ann(&app).await;
    let user = account.user_id;
    let me = "Ann <ann@example.test>";
    let mails = [
        mail("g1", 10, me, &format!("{JANA}, Petr Svoboda <petr@svoboda.cz>"), ""),
        mail("g2", 3, me, "petr@svoboda.cz", JANA),
        // Once only with Eva: no group.
        mail("e1", 2, me, "Eva <eva@example.cz>, petr@svoboda.cz", ""),
        // Received together is not written together.
        mail("r1", 1, "Eva <eva@example.cz>", "ann@example.test, petr@svoboda.cz", ""),
        mail("r2", 1, "Eva <eva@example.cz>", "ann@example.test, petr@svoboda.cz", ""),
    ];
    store(&app, account.id, &mails).await;
    for typed in ["petr", "NOVÁK", "jana"] {
        let groups = suggest(&app, user, typed).await.groups;
        assert_eq!(groups.len(), 1, "{typed}: {groups:?}");
        assert_eq!(
            groups[0].members,
            [
                (JANA_ADDRESS.to_owned(), Some("Jana Nováková".to_owned())),
                ("petr@svoboda.cz".to_owned(), Some("Petr Svoboda".to_owned()))
            ]
        );
        assert_eq!(groups[0].messages, 2);
    }
    assert!(suggest(&app, user, "eva").await.groups.is_empty());
    assert!(suggest(&app, user, "zzz").await.groups.is_empty());
    // Through the API, as the compose page asks: every member's address, to put in at once.
    let (_, mut browser) = app.member("browser@example.test", "member password 2").await;
    let answer = browser.get("/api/v1/addresses?q=jana").await;
    assert!(answer.body.contains(r#""groups":[]"#), "another user sees no group: {}", answer.body);
    let token = app.store.create_api_token(user, "test", 1).await.unwrap().unwrap();
    let mut api = app.client();
    api.authorization = Some(format!("Bearer {}", token.expose()));
    let answer: Value = serde_json::from_str(&api.get("/api/v1/addresses?q=svob").await.body).unwrap();
    assert_eq!(answer["data"][0]["address"], "petr@svoboda.cz");
    assert_eq!(answer["data"][0]["sent"], 3);
    let group = &answer["groups"][0];
    assert_eq!(group["messages"], 2);
    assert_eq!(group["members"][0]["address"], JANA_ADDRESS);
    assert_eq!(group["members"][0]["name"], "Jana Nováková");
    assert_eq!(group["members"][1]["address"], "petr@svoboda.cz");
}

async fn another_users_correspondents_are_never_suggested(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let account = ann(&app).await;
    let bob = app.create_user("bob@example.test", "member password 2", Role::Member).await;
    let bobs = app.connected_account(bob.id, "bob@example.test").await;
    store(&app, account.id, &[mail("a1", 1, JANA, "ann@example.test", "")]).await;
    store(&app, bobs.id, &[mail("b1", 1, "Petr Svoboda <petr@svoboda.cz>", "bob@example.test", "ann@example.test")])
        .await;
    assert_eq!(found(&app, account.user_id, "e").await, [JANA_ADDRESS]);
    assert!(found(&app, account.user_id, "petr").await.is_empty());
    // Bob's mail names Ann: she is his correspondent, and Jana is not.
    assert_eq!(found(&app, bob.id, "petr").await, ["petr@svoboda.cz"]);
    assert_eq!(found(&app, bob.id, "ann").await, ["ann@example.test"]);
    assert!(found(&app, bob.id, "jana").await.is_empty());
    let (_, mut browser) = app.member("carol@example.test", "member password 3").await;
    let answer = browser.get("/api/v1/addresses?q=e").await;
    answer.assert_status(axum::http::StatusCode::OK);
    assert!(answer.body.contains(r#""data":[]"#), "{}", answer.body);
}

async fn a_prefix_most_people_match_is_answered_in_the_same_order(backend: Backend) {
    // 260 people with five words beginning with `e` each: `e` begins 1,300 words, and the lookup
    // reads the people in the ranking's order instead of every match; `ev` begins 260 of them.
    let Some(app) = TestApp::start(backend).await else { return };
    let account = ann(&app).await;
    let user = account.user_id;
    let mut mails: Vec<Mail> = (0..260)
        .map(|n| {
            mail(&format!("r{n}"), 400 - n, &format!("Ema Eliška Evans <e{n}@example.cz>"), "ann@example.test", "")
        })
        .collect();
    mails.push(mail("s1", 300, "ann@example.test", "e7@example.cz", ""));
    mails.push(mail("y3", 1, "e3@example.cz", "ann@example.test", ""));
    store(&app, account.id, &mails).await;
    let dense = found(&app, user, "e").await;
    assert_eq!(dense.len(), 20);
    // Written to first; then the one with mail yesterday; then the newest.
    assert_eq!(dense[..4], ["e7@example.cz", "e3@example.cz", "e259@example.cz", "e258@example.cz"]);
    assert_eq!(found(&app, user, "ev").await, dense);
    assert_eq!(found(&app, user, "É").await, dense);
    assert_eq!(found(&app, user, "e ema").await, dense);
    assert_eq!(
        found(&app, user, "e e25").await,
        [
            "e259@example.cz",
            "e258@example.cz",
            "e257@example.cz",
            "e256@example.cz",
            "e255@example.cz",
            "e254@example.cz",
            "e253@example.cz",
            "e252@example.cz",
            "e251@example.cz",
            "e250@example.cz",
            "e25@example.cz"
        ]
    );
    assert!(found(&app, user, "e x").await.is_empty());
}

/// The user's rows as the tallies keep them, to compare with the rows counted from scratch.
async fn rows(app: &TestApp) -> Vec<String> {
    let mut rows = app
        .raw_strings(
            "SELECT address || '|' || COALESCE(name, '') || '|' || CAST(name_at AS TEXT) || '|' || CAST(seen_count AS TEXT) || '|' || \
             CAST(sent_count AS TEXT) || '|' || CAST(last_at AS TEXT) || '|' || words || '|' || \
             CAST(CAST(weight / 1000 AS BIGINT) AS TEXT) FROM correspondents ORDER BY address",
        )
        .await;
    rows.extend(app.raw_strings("SELECT word || '>' || address FROM correspondent_words ORDER BY word, address").await);
    rows.extend(
        app.raw_strings(
            "SELECT members || '|' || CAST(sent_count AS TEXT) \
             FROM correspondent_groups ORDER BY members",
        )
        .await,
    );
    rows.extend(
        app.raw_strings("SELECT address || '>' || members FROM correspondent_group_members ORDER BY address, members")
            .await,
    );
    rows
}

/// The rows kept so far are what counting the user's mail from scratch gives.
async fn assert_counted_true(app: &TestApp, user: UserId) {
    let kept = rows(app).await;
    app.raw_execute(
        "INSERT INTO correspondents_stale (user_id) SELECT id FROM users WHERE true ON CONFLICT DO NOTHING",
    )
    .await;
    assert!(app.store.refresh_correspondents().await.unwrap() >= 1);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM correspondents_stale").await, 0);
    assert_eq!(kept, rows(app).await, "user {user:?}");
}

async fn suggestions_follow_mail_stored_again_deleted_and_disconnected(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let account = ann(&app).await;
    let user = account.user_id;
    let me = "Ann <ann@example.test>";
    let both = format!("{JANA}, Petr Svoboda <petr@svoboda.cz>");
    let mails = [
        mail("g1", 10, me, &both, ""),
        mail("g2", 3, me, &both, ""),
        mail("j1", 2, "Jana N. <jana.novakova@example.cz>", "ann@example.test", ""),
        mail("e1", 1, "Eva <eva@example.cz>", "ann@example.test", ""),
    ];
    store(&app, account.id, &mails).await;
    assert_counted_true(&app, user).await;
    let jana = suggest(&app, user, "jana").await;
    assert_eq!((jana.people[0].messages, jana.people[0].sent), (3, 2));
    assert_eq!(jana.people[0].name.as_deref(), Some("Jana N."), "the newest message's name");
    assert_eq!(jana.groups.len(), 1);

    // The same mail again (a full resync) changes nothing.
    store(&app, account.id, &mails).await;
    assert_eq!(suggest(&app, user, "jana").await, jana);
    assert_counted_true(&app, user).await;

    // A message stored again with other people moves them.
    let changed =
        mail("j1", 2, "Jana Nováková <jana.novakova@example.cz>", "ann@example.test", "Olga <olga@example.cz>");
    store(&app, account.id, &[changed]).await;
    assert_eq!(found(&app, user, "olga").await, ["olga@example.cz"]);
    assert_eq!(suggest(&app, user, "jana").await.people[0].name.as_deref(), Some("Jana Nováková"));
    assert_counted_true(&app, user).await;

    // Deleted: Eva's only message takes her with it; a group sent to once is no group.
    let deletions = [MessageChange::Delete { remote_id: "e1" }, MessageChange::Delete { remote_id: "g2" }];
    app.store.apply_sync(account.id, &[], &deletions, None, NOW).await.unwrap();
    assert!(found(&app, user, "eva").await.is_empty());
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM correspondent_words WHERE word = 'eva'").await, 0);
    let jana = suggest(&app, user, "jana").await;
    assert_eq!((jana.people[0].messages, jana.people[0].sent), (2, 1));
    assert!(jana.groups.is_empty());
    assert_counted_true(&app, user).await;

    // The raw bytes fetched later (Outlook's way) are a message stored again.
    let later = mail("g1", 10, me, "Petr Svoboda <petr@svoboda.cz>", "");
    assert!(app.store.store_raw(account.id, "g1", &later.raw, &later.parsed, false, NOW).await.unwrap());
    assert_eq!(suggest(&app, user, "jana").await.people[0].sent, 0);
    assert_counted_true(&app, user).await;

    // A mailbox disconnected takes its people with it; another one's stay.
    let other = app.connected_account(user, "ann.work@example.test").await;
    store(&app, other.id, &[mail("w1", 1, "Karel <karel@example.cz>", "ann.work@example.test", "")]).await;
    assert_eq!(found(&app, user, "karel").await, ["karel@example.cz"]);
    // As the Mailboxes page disconnects, keeping the user's notes and tags or not.
    assert_eq!(app.store.delete_account_keeping(user, account.id, true, NOW).await.unwrap(), Some(0));
    assert!(found(&app, user, "jana").await.is_empty());
    assert!(found(&app, user, "petr").await.is_empty());
    assert_eq!(found(&app, user, "karel").await, ["karel@example.cz"]);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM correspondents").await, 1);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM correspondent_groups").await, 0);
    assert_counted_true(&app, user).await;
}
