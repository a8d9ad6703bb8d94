//! Time as the user lives it: their time zone, from the browser at the first sign-in or from the
//! settings, in every time a page shows and in the time a message is scheduled for.

use axum::http::StatusCode;
use jiff::civil::date;
use jiff::tz::TimeZone;
use mailroom_domain::{FolderKind, Language, Role};
use mailroom_store::{IncomingMessage, MessageChange, RemoteFolder, User};

use crate::harness::{Backend, Client, TestApp};
use crate::send::{compose, field};

crate::on_both_databases!(time_zone:
    a_message_shows_its_time_in_the_users_zone_on_the_mail_page,
    a_time_scheduled_on_the_users_clock_stays_that_time_in_the_outbox,
    the_time_zone_form_saves_a_known_zone_and_refuses_anything_else,
    the_browsers_zone_is_kept_at_the_first_sign_in_only_when_it_is_valid,
    counts_are_said_in_the_languages_plural_forms,
    the_settings_page_holds_the_profile_and_leads_to_everything_of_the_users,
);

const PASSWORD: &str = "member password 1";

/// A member with a connected Gmail mailbox, signed in, with this time zone.
async fn member(app: &TestApp, zone: Option<&str>) -> (User, Client) {
    let (user, client) = app.member("ann@example.test", PASSWORD).await;
    app.connected_account(user.id, "ann@example.test").await;
    if let Some(zone) = zone {
        app.store.set_user_time_zone(user.id, zone).await.unwrap();
    }
    (user, client)
}

/// Unix seconds of a UTC date and time.
fn utc(year: i16, month: i8, day: i8, hour: i8, minute: i8) -> i64 {
    TimeZone::UTC.to_timestamp(date(year, month, day).at(hour, minute, 0, 0)).unwrap().as_second()
}

/// Unix seconds of a wall-clock time in a zone.
fn local(zone: &str, year: i16, month: i8, day: i8, hour: i8, minute: i8) -> i64 {
    TimeZone::get(zone).unwrap().to_timestamp(date(year, month, day).at(hour, minute, 0, 0)).unwrap().as_second()
}

async fn deliver(app: &TestApp, user: &User, remote_id: &str, subject: &str, received_at: i64) {
    let account = app.store.accounts_of(user.id).await.unwrap().remove(0);
    let raw = format!(
        "From: Jana <jana@firma.test>\r\nTo: ann@example.test\r\nSubject: {subject}\r\nMessage-ID: <{remote_id}@firma.test>\r\n\r\nHi\r\n"
    );
    let parsed = mailroom_mime::parse(raw.as_bytes()).into_message();
    let inbox = vec!["INBOX".to_owned()];
    let folders = [RemoteFolder {
        remote_id: "INBOX".into(),
        name: "INBOX".into(),
        kind: FolderKind::Inbox,
        parent_remote_id: None,
    }];
    let message = IncomingMessage {
        remote_id,
        thread_remote_id: None,
        received_at,
        is_read: false,
        is_starred: false,
        is_draft: false,
        folders: &inbox,
        raw: Some(raw.as_bytes()),
        parsed: &parsed,
        parse_failed: false,
        has_attachments: None,
    };
    app.store.apply_sync(account.id, &folders, &[MessageChange::Upsert(message)], None, 1).await.unwrap();
}

async fn a_message_shows_its_time_in_the_users_zone_on_the_mail_page(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (user, mut browser) = member(&app, Some("Europe/Prague")).await;
    // 13:05 UTC on a Saturday in December: 14:05 in Prague, 08:05 in New York.
    deliver(&app, &user, "m1", "Winter", utc(2025, 12, 6, 13, 5)).await;
    // 23:30 UTC on 6 July: already 01:30 on 7 July in Prague, still 19:30 on the 6th in New York.
    deliver(&app, &user, "m2", "Summer night", utc(2025, 7, 6, 23, 30)).await;
    let page = browser.get("/mail").await;
    page.assert_status(StatusCode::OK)
        .assert_contains(r#"title="Sat, Dec 6, 2025, 2:05 PM">Dec 6, 2025<"#)
        .assert_contains(r#"title="Mon, Jul 7, 2025, 1:30 AM">Jul 7, 2025<"#)
        .assert_contains(r#"data-zone="Europe/Prague""#)
        .assert_lacks("UTC<");

    // In Czech, the same instants are written the Czech way.
    app.store.set_user_language(user.id, Language::Cs).await.unwrap();
    browser
        .get("/mail")
        .await
        .assert_contains(r#"title="so 6. 12. 2025 14:05">6. 12. 2025<"#)
        .assert_contains(r#"title="po 7. 7. 2025 1:30">7. 7. 2025<"#);

    app.store.set_user_language(user.id, Language::En).await.unwrap();
    app.store.set_user_time_zone(user.id, "America/New_York").await.unwrap();
    let page = browser.get("/mail").await;
    page.assert_contains(r#"title="Sat, Dec 6, 2025, 8:05 AM">Dec 6, 2025<"#)
        .assert_contains(r#"title="Sun, Jul 6, 2025, 7:30 PM">Jul 6, 2025<"#);
    // The opened message's header says the whole time.
    let id = app.store.list_messages(user.id, &mailroom_store::MessageFilter::default(), None, 10).await.unwrap();
    let winter = id.iter().find(|m| m.subject == "Winter").unwrap().id;
    browser.get(&format!("/mail?open={winter}")).await.assert_contains("<dd>Sat, Dec 6, 2025, 8:05 AM</dd>");

    // A message that came a moment ago is listed by its time on the user's clock.
    let now = mailroom_store::now();
    let zone = TimeZone::get("America/New_York").unwrap();
    let at = zone.to_datetime(jiff::Timestamp::from_second(now - 1).unwrap());
    if at.date() == zone.to_datetime(jiff::Timestamp::from_second(now).unwrap()).date() {
        deliver(&app, &user, "m3", "Just now", now - 1).await;
        let (hour, half) = match at.hour() {
            0 => (12, "AM"),
            h @ 1..=11 => (h, "AM"),
            12 => (12, "PM"),
            h => (h - 12, "PM"),
        };
        browser.get("/mail").await.assert_contains(&format!(">{hour}:{:02} {half}</time>", at.minute()));
    }
}

/// Schedules a message from the compose page for this wall-clock time; what the outbox shows.
async fn schedule(browser: &mut Client, at: &str) -> crate::harness::Page {
    let changes = [("to", "petr@example.org"), ("subject", "Later"), ("body", "Hi"), ("send_at", at)];
    let (page, answer) = compose(browser, "/mail/compose", &changes, &[]).await;
    assert!(field(&page, "send_at").is_empty());
    crate::send::assert_sent(&answer);
    browser.get("/mail/outbox").await
}

async fn a_time_scheduled_on_the_users_clock_stays_that_time_in_the_outbox(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (user, mut browser) = member(&app, Some("Europe/Prague")).await;
    let year = TimeZone::UTC.to_datetime(jiff::Timestamp::now()).year() + 1;
    let compose_page = browser.get("/mail/compose").await;
    compose_page.assert_contains("In your time zone, Europe/Prague.");

    // 09:00 in Prague in winter is 08:00 UTC, and the outbox says 09:00.
    let outbox = schedule(&mut browser, &format!("{year}-01-15T09:00")).await;
    let sent = app.store.submissions(user.id, None, 10).await.unwrap().remove(0);
    assert_eq!(sent.send_at, utc(year, 1, 15, 8, 0));
    assert_eq!(sent.send_at, local("Europe/Prague", year, 1, 15, 9, 0));
    outbox.assert_contains(&format!("Jan 15, {year}, 9:00 AM")).assert_lacks(&format!("Jan 15, {year}, 8:00 AM"));
    // In summer Prague is two hours ahead: still 09:00 on the page.
    let outbox = schedule(&mut browser, &format!("{year}-07-15T09:00")).await;
    let sent = app.store.submissions(user.id, None, 10).await.unwrap().remove(0);
    assert_eq!(sent.send_at, utc(year, 7, 15, 7, 0));
    outbox.assert_contains(&format!("Jul 15, {year}, 9:00 AM"));

    // The same in New York, five hours behind UTC in winter.
    app.store.set_user_time_zone(user.id, "America/New_York").await.unwrap();
    let outbox = schedule(&mut browser, &format!("{year}-01-15T09:00")).await;
    let sent = app.store.submissions(user.id, None, 10).await.unwrap().remove(0);
    assert_eq!(sent.send_at, utc(year, 1, 15, 14, 0));
    outbox.assert_contains(&format!("Jan 15, {year}, 9:00 AM"));
    // The Prague messages are now shown on New York's clock: 03:00 and 03:00.
    outbox.assert_contains(&format!("Jan 15, {year}, 3:00 AM")).assert_contains(&format!("Jul 15, {year}, 3:00 AM"));

    // A user whose zone is not known yet schedules in UTC.
    let (other, mut theirs) = app.member("bob@example.test", PASSWORD).await;
    app.connected_account(other.id, "bob@example.test").await;
    theirs.get("/mail/compose").await.assert_contains("In your time zone, UTC.");
    schedule(&mut theirs, &format!("{year}-01-15T09:00")).await.assert_contains(&format!("Jan 15, {year}, 9:00 AM"));
    let sent = app.store.submissions(other.id, None, 10).await.unwrap().remove(0);
    assert_eq!(sent.send_at, utc(year, 1, 15, 9, 0));
}

async fn the_time_zone_form_saves_a_known_zone_and_refuses_anything_else(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (user, mut browser) = member(&app, Some("Europe/Prague")).await;
    let page = browser.get("/settings/time").await;
    page.assert_status(StatusCode::OK)
        .assert_contains(r#"<option value="Europe/Prague" selected>"#)
        .assert_contains(r#"<option value="America/New_York">"#)
        .assert_contains(r#"href="/settings""#);
    let zone = || async { app.store.user(user.id).await.unwrap().unwrap().time_zone };

    for bad in ["Mars/Olympus_Mons", "", "Europe/Prague; DROP TABLE users", "+01:00"] {
        let answer = browser.submit("/settings/time", "/settings/time", &[("time_zone", bad)]).await;
        answer
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_field_error(
                r#"id="time_zone""#,
                "Choose a time zone from the list, such as Europe/Prague. Nothing was changed.",
            )
            .assert_contains(r#"<option value="Europe/Prague" selected>"#);
        assert_eq!(zone().await.as_deref(), Some("Europe/Prague"), "{bad:?} changed nothing");
    }
    // Without the CSRF proof, nothing happens.
    browser.post_raw("/settings/time", &[("time_zone", "Asia/Tokyo")]).await.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(zone().await.as_deref(), Some("Europe/Prague"));

    // A known zone is saved as the database spells it.
    let answer = browser.submit("/settings/time", "/settings/time", &[("time_zone", "america/new_york")]).await;
    answer.assert_redirect("/settings/time?notice=time_zone_saved");
    assert_eq!(zone().await.as_deref(), Some("America/New_York"));
    browser
        .get("/settings/time?notice=time_zone_saved")
        .await
        .assert_contains("Your time zone was saved.")
        .assert_contains(r#"<option value="America/New_York" selected>"#)
        .assert_contains(r#"data-zone="America/New_York""#);

    // In Czech too.
    app.store.set_user_language(user.id, Language::Cs).await.unwrap();
    browser
        .submit("/settings/time", "/settings/time", &[("time_zone", "Nowhere")])
        .await
        .assert_contains("Vyberte časové pásmo ze seznamu");
    // Anonymous visitors are sent to sign in.
    app.client().get("/settings/time").await.assert_redirect("/login");
}

async fn the_browsers_zone_is_kept_at_the_first_sign_in_only_when_it_is_valid(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let zone = |id| {
        let store = app.store.clone();
        async move { store.user(id).await.unwrap().unwrap().time_zone }
    };
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let mut browser = app.client();
    let login = browser.get("/login").await;
    login.assert_contains(r#"name="time_zone""#);
    // A name the database does not know is ignored: the sign-in works, and the zone stays unknown.
    for bad in ["Mars/Olympus_Mons", "", "Europe/Atlantis"] {
        let fields = [("email", "ann@example.test"), ("password", PASSWORD), ("time_zone", bad)];
        browser.submit("/login", "/login", &fields).await.assert_redirect("/");
        assert_eq!(zone(ann.id).await, None, "{bad:?}");
        browser.submit("/", "/logout", &[]).await;
    }
    // A sign-in without the field (no script) works too.
    browser.login("ann@example.test", PASSWORD).await.assert_redirect("/");
    assert_eq!(zone(ann.id).await, None);
    browser.submit("/", "/logout", &[]).await;

    // The first valid one is kept, as the database spells it.
    let fields = [("email", "ann@example.test"), ("password", PASSWORD), ("time_zone", "europe/prague")];
    browser.submit("/login", "/login", &fields).await.assert_redirect("/");
    assert_eq!(zone(ann.id).await.as_deref(), Some("Europe/Prague"));
    browser.get("/").await.assert_contains(r#"data-zone="Europe/Prague""#);
    browser.submit("/", "/logout", &[]).await;
    // A later sign-in from another zone does not replace it: the user changes it in the settings.
    let fields = [("email", "ann@example.test"), ("password", PASSWORD), ("time_zone", "America/New_York")];
    browser.submit("/login", "/login", &fields).await.assert_redirect("/");
    assert_eq!(zone(ann.id).await.as_deref(), Some("Europe/Prague"));

    // A failed sign-in stores nothing.
    let bob = app.create_user("bob@example.test", PASSWORD, Role::Member).await;
    let fields = [("email", "bob@example.test"), ("password", "wrong password 12"), ("time_zone", "Asia/Tokyo")];
    app.client().submit("/login", "/login", &fields).await.assert_status(StatusCode::UNAUTHORIZED);
    assert_eq!(zone(bob.id).await, None);
}

async fn counts_are_said_in_the_languages_plural_forms(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (user, mut browser) = member(&app, None).await;
    browser.get("/").await.assert_contains("You have 1 connected mailbox.");
    for n in 0..2 {
        deliver(&app, &user, &format!("u{n}"), &format!("Unread {n}"), utc(2025, 12, 6, 13, n)).await;
    }
    browser.get("/mail").await.assert_contains(r#">, 2 unread<"#);
    app.store.set_user_language(user.id, Language::Cs).await.unwrap();
    browser.get("/mail").await.assert_contains(r#">, 2 nepřečtené<"#);
    browser.get("/").await.assert_contains("Máte 1 připojenou schránku.");
    app.connected_account(user.id, "ann.second@example.test").await;
    browser.get("/").await.assert_contains("Máte 2 připojené schránky.");
    for n in 2..5 {
        deliver(&app, &user, &format!("u{n}"), &format!("Unread {n}"), utc(2025, 12, 6, 13, n)).await;
    }
    browser.get("/mail").await.assert_contains(r#">, 5 nepřečtených<"#);
}

/// `/settings`: the user's name (checked, refused at its field with nothing changed), language
/// and zone, and the way to signatures, templates, mailboxes and tokens; in the main menu.
async fn the_settings_page_holds_the_profile_and_leads_to_everything_of_the_users(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (user, mut client) = member(&app, Some("Europe/Prague")).await;
    let home = client.get("/mail").await;
    home.assert_contains(r#"<a href="/settings">Settings</a>"#);
    let page = client.get("/settings").await;
    page.assert_status(StatusCode::OK).assert_contains("Europe/Prague").assert_contains("ann@example.test");
    for link in ["/settings/signatures", "/settings/templates", "/accounts", "/settings/tokens", "/settings/time"] {
        page.assert_contains(&format!(r#"href="{link}""#));
    }
    let saved = client.submit("/settings", "/settings/profile", &[("name", "  Anna Nováková ")]).await;
    saved.assert_redirect("/settings?notice=profile_saved");
    assert_eq!(app.store.user(user.id).await.unwrap().unwrap().name, "Anna Nováková");
    client
        .get("/settings?notice=profile_saved")
        .await
        .assert_contains("Your profile is saved.")
        .assert_contains("Anna Nováková");
    let refusals =
        [("", "This field is required."), ("   ", "This field is required."), ("Anna\u{7}", "control characters")];
    for (bad, why) in refusals {
        let refused = client.submit("/settings", "/settings/profile", &[("name", bad)]).await;
        refused.assert_status(StatusCode::UNPROCESSABLE_ENTITY).assert_field_error(r#"id="name""#, why);
    }
    assert_eq!(app.store.user(user.id).await.unwrap().unwrap().name, "Anna Nováková", "nothing changed");
    // Without the proof, nothing changes either.
    client.post_raw("/settings/profile", &[("name", "Mallory")]).await.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(app.store.user(user.id).await.unwrap().unwrap().name, "Anna Nováková");
    // In Czech.
    client.accept_language = Some("cs".into());
    let czech = client.get("/settings").await;
    czech.assert_contains("Nastavení").assert_contains("Psaní");
}
