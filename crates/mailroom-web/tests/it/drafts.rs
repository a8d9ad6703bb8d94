//! Drafts against the simulator: saved from the compose form, written to the provider's drafts
//! (Gmail drafts, Outlook draft messages) and changed there in place, resumed, discarded, deleted
//! there once sent; a draft changed at the provider is never overwritten silently.

use axum::http::StatusCode;
use serde_json::Value;

use crate::harness::{Backend, Client, Page};
use crate::send::{ANN, CARL, body_of, compose, field, gmail_copies, multipart, outbox, signed_in, unescape};
use crate::workspace::{Setup, setup};

crate::on_both_databases!(drafts:
    a_draft_is_a_gmail_draft_changed_in_place_resumed_and_discarded,
    a_draft_is_an_outlook_draft_message_changed_in_place_and_discarded,
    a_draft_changed_in_gmail_is_not_overwritten_and_the_user_chooses,
    a_sent_drafts_copy_is_deleted_at_the_provider,
    drafts_are_written_updated_sent_and_discarded_through_the_api,
    a_draft_written_in_gmail_is_resumed_from_drafts_and_changed_in_place,
    the_compose_pages_discard_asks_and_removes_the_draft_here_and_in_gmail,
    files_stay_with_a_gmail_draft_through_an_error_a_resume_a_send_and_an_undo,
    files_stay_with_an_outlook_draft_through_an_error_a_resume_a_send_and_an_undo,
    a_drafts_files_are_added_read_removed_and_sent_through_the_api,
);

/// Saves the compose form of `page_path` with `changes`, as the page's script does.
async fn save(browser: &mut Client, page_path: &str, changes: &[(&str, &str)]) -> (u16, Value) {
    let page = browser.get(page_path).await;
    page.assert_status(StatusCode::OK);
    let mut fields: Vec<(String, String)> = vec![("csrf_token".into(), page.csrf())];
    for hidden in ["key", "mode", "draft"] {
        fields.push((hidden.into(), field(&page, hidden)));
    }
    let sender = regex_lite::Regex::new(r#"<option value="([^"]+)" selected>"#).unwrap();
    fields.push(("from".into(), sender.captures(&page.body).expect("an identity is chosen")[1].to_owned()));
    for shown in ["to", "cc", "bcc", "subject"] {
        fields.push((shown.into(), unescape(&field(&page, shown))));
    }
    fields.push(("body".into(), unescape(&body_of(&page))));
    for (name, value) in changes {
        fields.retain(|(k, _)| k != name);
        fields.push(((*name).into(), (*value).into()));
    }
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (content_type, body) = multipart(&borrowed, &[]);
    let answer = browser.request("POST", "/mail/drafts/save", Some((&content_type, body))).await;
    let json = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    (answer.status.as_u16(), json)
}

async fn push(s: &Setup) {
    mailroom_sync::push_drafts(&s.engine, "test-drafts").await;
}

/// The writer's round once a discarded draft's Undo has passed.
async fn push_after_undo(s: &Setup) {
    let later = mailroom_store::now() + mailroom_web::DISCARD_UNDO_SECS + 1;
    mailroom_sync::push_drafts_at(&s.engine, "test-drafts", Some(later)).await;
}

/// Ann's Gmail drafts: (draft id, message id, parsed message).
fn gmail_drafts(s: &Setup) -> Vec<(String, String, mailroom_mime::ParsedMessage, String)> {
    let mut world = s.sim.state.world();
    let mailbox = world.gmail(ANN).unwrap();
    let drafts: Vec<(String, String)> = mailbox.drafts().map(|(d, m)| (d.clone(), m.clone())).collect();
    drafts
        .into_iter()
        .map(|(draft, message)| {
            let raw = mailbox.message(&message).unwrap().raw.clone();
            let text = mailroom_mime::bodies(&raw).text.unwrap_or_default();
            (draft, message, mailroom_mime::parse(&raw).into_message(), text)
        })
        .collect()
}

async fn a_draft_is_a_gmail_draft_changed_in_place_resumed_and_discarded(backend: Backend) {
    let Some(s) = setup(backend, "google", 1).await else { return };
    let mut browser = signed_in(&s).await;
    // A From the mailbox does not send as is not written into the provider's copy.
    let foreign = format!("{}:boss@example.org", s.account.id.0);
    let changes = [
        ("from", foreign.as_str()),
        ("to", "Petr Černý <petr@example.cz>, not an address"),
        ("subject", "Plán"),
        ("body", "Ahoj"),
        ("html", "<div><b>Ahoj</b></div><script>x()</script>"),
    ];
    let (status, saved) = save(&mut browser, "/mail/compose", &changes).await;
    assert_eq!(status, 200, "{saved}");
    let id = saved["id"].as_i64().unwrap();
    assert_eq!(saved["at_provider"], false);
    push(&s).await;
    let drafts = gmail_drafts(&s);
    assert_eq!(drafts.len(), 1);
    let (draft_id, first_message, parsed, text) = &drafts[0];
    assert_eq!(parsed.subject, "Plán");
    assert_eq!(parsed.to[0].address, "petr@example.cz", "the field is kept at the provider as far as it parses");
    assert_eq!(parsed.from.as_ref().unwrap().address, ANN);
    assert_eq!(text.trim_end(), "Ahoj");
    let html = {
        let mut world = s.sim.state.world();
        let raw = world.gmail(ANN).unwrap().message(first_message).unwrap().raw.clone();
        mailroom_mime::bodies(&raw).html.unwrap_or_default()
    };
    assert!(html.contains("<b>Ahoj</b>") && !html.contains("script"), "the formatting is kept there: {html}");

    // Resumed: the page holds the draft as typed; saved again, the same Gmail draft changes.
    let path = format!("/mail/compose?draft={id}");
    let page = browser.get(&path).await;
    assert_eq!(unescape(&field(&page, "to")), "Petr Černý <petr@example.cz>, not an address");
    assert_eq!(field(&page, "draft"), id.to_string());
    assert_eq!(unescape(&field(&page, "html")), "<div><b>Ahoj</b></div>", "the editor gets its formatting back");
    let (_, again) = save(&mut browser, &path, &[("to", "petr@example.cz"), ("subject", "Plán v2")]).await;
    assert_eq!(again["id"], id);
    push(&s).await;
    let drafts = gmail_drafts(&s);
    assert_eq!(drafts.len(), 1);
    assert_eq!(&drafts[0].0, draft_id, "the same draft");
    assert_ne!(&drafts[0].1, first_message, "with a new message");
    assert_eq!(drafts[0].2.subject, "Plán v2");
    let listed = browser.get("/mail/drafts").await;
    listed.assert_contains("Plán v2").assert_contains("Saved in the mailbox");

    // Another user can neither change, open nor discard it.
    let (_, mut other) = s.app.member("other@example.test", "member password 2").await;
    other.get(&path).await.assert_status(StatusCode::NOT_FOUND);
    let csrf = other.get("/mail/drafts").await.csrf();
    let proof = format!("csrf_token={csrf}");
    let form = "application/x-www-form-urlencoded";
    let answer = other.request("POST", &format!("/mail/drafts/{id}/discard"), Some((form, proof.into_bytes()))).await;
    answer.assert_status(StatusCode::NOT_FOUND);
    let fields = [("csrf_token", csrf.as_str()), ("mode", "new"), ("draft", &id.to_string()), ("from", "1:x")];
    let (content_type, body) = multipart(&fields, &[]);
    let answer = other.request("POST", "/mail/drafts/save", Some((&content_type, body))).await;
    answer.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(s.app.store.draft(s.user, id).await.unwrap().unwrap().fields.subject, "Plán v2");

    // Discarded: gone from the list at once, and from Gmail once written.
    let csrf = browser.get("/mail/drafts").await.csrf();
    let proof = format!("csrf_token={csrf}");
    let answer = browser.request("POST", &format!("/mail/drafts/{id}/discard"), Some((form, proof.into_bytes()))).await;
    answer.assert_redirect(&format!("/mail/drafts?notice=draft_discarded&discarded={id}"));
    browser.get("/mail/drafts").await.assert_contains("No drafts.");
    push_after_undo(&s).await;
    assert!(gmail_drafts(&s).is_empty());
    assert!(s.app.store.drafts(s.user).await.unwrap().is_empty());
}

async fn a_draft_is_an_outlook_draft_message_changed_in_place_and_discarded(backend: Backend) {
    let Some(s) = setup(backend, "microsoft", 1).await else { return };
    let drafts = |s: &Setup| -> Vec<(String, String, String, String)> {
        let mut world = s.sim.state.world();
        let mailbox = world.graph(CARL).unwrap();
        let folder = mailbox.well_known_id("drafts");
        mailbox
            .messages
            .iter()
            .filter(|m| m.folder_id == folder && m.is_draft)
            .map(|m| {
                let to = m.to.iter().map(|r| r.address.clone()).collect::<Vec<_>>().join(",");
                (m.id(true).to_owned(), m.subject.clone(), m.body_text.clone(), to)
            })
            .collect()
    };
    let mut browser = signed_in(&s).await;
    let changes = [("to", "dana@example.org"), ("subject", "Nabídka"), ("body", "První verze")];
    let (status, saved) = save(&mut browser, "/mail/compose", &changes).await;
    assert_eq!(status, 200, "{saved}");
    let id = saved["id"].as_i64().unwrap();
    push(&s).await;
    let first = drafts(&s);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!((first[0].1.as_str(), first[0].3.as_str()), ("Nabídka", "dana@example.org"));
    assert!(first[0].2.contains("První verze"), "{first:?}");

    let path = format!("/mail/compose?draft={id}");
    save(&mut browser, &path, &[("to", "dana@example.org, eva@example.org"), ("body", "Druhá verze")]).await;
    push(&s).await;
    let second = drafts(&s);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].0, first[0].0, "the same draft message");
    assert_eq!(second[0].3, "dana@example.org,eva@example.org");
    assert_eq!(second[0].2.trim_end(), "Druhá verze");

    let csrf = browser.get("/mail/drafts").await.csrf();
    let form = "application/x-www-form-urlencoded";
    let proof = format!("csrf_token={csrf}").into_bytes();
    browser
        .request("POST", &format!("/mail/drafts/{id}/discard"), Some((form, proof)))
        .await
        .assert_redirect(&format!("/mail/drafts?notice=draft_discarded&discarded={id}"));
    push_after_undo(&s).await;
    assert!(drafts(&s).is_empty(), "gone from Drafts");
    assert!(s.app.store.drafts(s.user).await.unwrap().is_empty());
}

async fn a_draft_changed_in_gmail_is_not_overwritten_and_the_user_chooses(backend: Backend) {
    let Some(s) = setup(backend, "google", 1).await else { return };
    let mut browser = signed_in(&s).await;
    let (_, saved) = save(&mut browser, "/mail/compose", &[("to", "petr@example.cz"), ("subject", "Mine")]).await;
    let id = saved["id"].as_i64().unwrap();
    push(&s).await;
    let draft_id = gmail_drafts(&s)[0].0.clone();
    // Someone edits the draft in Gmail.
    let edit_in_gmail = |subject: &str| {
        let now = s.sim.state.clock().now_ms();
        let mut world = s.sim.state.world();
        let mailbox = world.gmail(ANN).unwrap();
        let raw = format!(
            "From: ann@example.test\r\nTo: zdenek@example.org\r\nSubject: {subject}\r\n\r\nWritten in Gmail\r\n"
        );
        let message = mailbox.add(raw.into_bytes(), &["DRAFT".to_owned()], now, None, now);
        mailbox.replace_draft(&draft_id, message, now);
    };
    edit_in_gmail("Theirs");
    let path = format!("/mail/compose?draft={id}");
    save(&mut browser, &path, &[("subject", "Mine, later")]).await;
    push(&s).await;
    let kept = gmail_drafts(&s);
    assert_eq!(kept[0].2.subject, "Theirs", "not overwritten");
    let stored = s.app.store.draft(s.user, id).await.unwrap().unwrap();
    assert!(stored.conflict && !stored.is_pushed());
    // Saving again while it waits does not write over it either.
    save(&mut browser, &path, &[("subject", "Mine, even later")]).await;
    push(&s).await;
    assert_eq!(gmail_drafts(&s)[0].2.subject, "Theirs");

    // The page shows both; the user takes theirs.
    let page = browser.get(&path).await;
    page.assert_contains("was changed in the mailbox").assert_contains("Written in Gmail");
    assert_eq!(unescape(&field(&page, "subject")), "Mine, even later");
    browser.get("/mail/drafts").await.assert_contains("Changed in the mailbox too");
    let form = "application/x-www-form-urlencoded";
    let choose = |csrf: &str, keep: &str| format!("csrf_token={csrf}&keep={keep}").into_bytes();
    let csrf = page.csrf();
    let resolve = format!("/mail/drafts/{id}/resolve");
    // An answer that is neither is refused, and the draft still waits.
    let answer = browser.request("POST", &resolve, Some((form, choose(&csrf, "both")))).await;
    answer.assert_status(StatusCode::BAD_REQUEST);
    assert!(s.app.store.draft(s.user, id).await.unwrap().unwrap().conflict);
    browser
        .request("POST", &resolve, Some((form, choose(&csrf, "theirs"))))
        .await
        .assert_redirect(&format!("/mail/compose?draft={id}&notice=draft_resolved"));
    let page = browser.get(&path).await;
    assert_eq!(unescape(&field(&page, "subject")), "Theirs");
    assert_eq!(unescape(&field(&page, "to")), "zdenek@example.org");
    assert!(unescape(&body_of(&page)).starts_with("Written in Gmail"));
    push(&s).await;
    assert_eq!(gmail_drafts(&s)[0].2.subject, "Theirs");
    // Nothing left to choose: a second answer is refused.
    let answer = browser.request("POST", &resolve, Some((form, choose(&csrf, "mine")))).await;
    answer.assert_status(StatusCode::NOT_FOUND);

    // Changed there again; this time the user keeps their own version.
    edit_in_gmail("Theirs again");
    save(&mut browser, &path, &[("subject", "Mine at last")]).await;
    push(&s).await;
    assert_eq!(gmail_drafts(&s)[0].2.subject, "Theirs again");
    browser.request("POST", &resolve, Some((form, choose(&csrf, "mine")))).await;
    push(&s).await;
    let drafts = gmail_drafts(&s);
    assert_eq!(drafts.len(), 1);
    assert_eq!((drafts[0].0.as_str(), drafts[0].2.subject.as_str()), (draft_id.as_str(), "Mine at last"));
    assert!(s.app.store.draft(s.user, id).await.unwrap().unwrap().is_pushed());
}

async fn a_sent_drafts_copy_is_deleted_at_the_provider(backend: Backend) {
    let Some(s) = setup(backend, "google", 1).await else { return };
    let mut browser = signed_in(&s).await;
    let (_, saved) = save(&mut browser, "/mail/compose", &[("to", "petr@example.cz"), ("subject", "Ready")]).await;
    let id = saved["id"].as_i64().unwrap().to_string();
    push(&s).await;
    assert_eq!(gmail_drafts(&s).len(), 1);
    let (_, answer) = compose(&mut browser, &format!("/mail/compose?draft={id}"), &[("draft", &id)], &[]).await;
    crate::send::assert_sent(&answer);
    // Waiting out the undo window, the draft stays; once the message went, it goes.
    push(&s).await;
    assert_eq!(gmail_drafts(&s).len(), 1);
    outbox(&s).send_due_at(mailroom_store::now() + 10).await;
    push(&s).await;
    assert!(gmail_drafts(&s).is_empty());
    assert!(s.app.store.drafts(s.user).await.unwrap().is_empty());
    let sent = s.app.store.submissions(s.user, None, 1).await.unwrap().remove(0);
    assert_eq!(sent.subject, "Ready");
}

async fn drafts_are_written_updated_sent_and_discarded_through_the_api(backend: Backend) {
    let Some(mut s) = setup(backend, "microsoft", 1).await else { return };
    let account = s.account.id.0;
    let parent = s.id_of("Message 0").await;
    let body = serde_json::json!({"account_id": account, "to": ["Dana <dana@example.org>", "not yet"],
        "subject": "Odpověď", "text": "Koncept", "in_reply_to": parent});
    let (status, created) = s.post("/api/v1/drafts", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["to"], serde_json::json!(["Dana <dana@example.org>", "not yet"]));
    assert_eq!((created["in_reply_to"].as_i64(), created["at_provider"].as_bool()), (Some(parent), Some(false)));
    push(&s).await;
    let shown = s.get(&format!("/api/v1/drafts/{id}")).await;
    assert_eq!(shown["at_provider"], true);

    // Changed: a reply stays a reply; bad input changes nothing.
    let change = serde_json::json!({"account_id": account, "to": ["dana@example.org"], "subject": "Odpověď 2"});
    let changed = s
        .api
        .request("PUT", &format!("/api/v1/drafts/{id}"), Some(("application/json", change.to_string().into_bytes())))
        .await;
    changed.assert_status(StatusCode::OK);
    let changed: Value = serde_json::from_str(&changed.body).unwrap();
    assert_eq!((changed["subject"].as_str(), changed["in_reply_to"].as_i64()), (Some("Odpověď 2"), Some(parent)));
    let bad = serde_json::json!({"account_id": account, "subject": "a\r\nBcc: x@example.org"});
    let refused = s
        .api
        .request("PUT", &format!("/api/v1/drafts/{id}"), Some(("application/json", bad.to_string().into_bytes())))
        .await;
    refused.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(s.get(&format!("/api/v1/drafts/{id}")).await["subject"], "Odpověď 2");

    // Sent from code with its draft: the draft goes once the message went.
    let send = serde_json::json!({"account_id": account, "idempotency_key": "d1", "to": ["dana@example.org"],
        "subject": "Odpověď 2", "text": "Hotovo", "in_reply_to": parent, "draft_id": id});
    let (status, sent) = s.post("/api/v1/messages/send", send).await;
    assert_eq!(status, 202, "{sent}");
    outbox(&s).send_due_at(mailroom_store::now() + 10).await;
    push(&s).await;
    assert!(s.get("/api/v1/drafts").await["data"].as_array().unwrap().is_empty());
    let gone = s.api.get(&format!("/api/v1/drafts/{id}")).await;
    gone.assert_status(StatusCode::NOT_FOUND);

    // Another draft, deleted: 204, then 404.
    let (_, other) = s.post("/api/v1/drafts", serde_json::json!({"account_id": account, "subject": "x"})).await;
    let path = format!("/api/v1/drafts/{}", other["id"]);
    s.api.request("DELETE", &path, None).await.assert_status(StatusCode::NO_CONTENT);
    s.api.request("DELETE", &path, None).await.assert_status(StatusCode::NOT_FOUND);
    // A draft in a mailbox that is not the caller's, or sent with another's draft: 404.
    let (status, _) = s.post("/api/v1/drafts", serde_json::json!({"account_id": account + 100})).await;
    assert_eq!(status, 404);
    let answering = serde_json::json!({"account_id": account, "in_reply_to": parent + 100_000});
    assert_eq!(s.post("/api/v1/drafts", answering).await.0, 404, "an answer to a message not the caller's");
    let send = serde_json::json!({"account_id": account, "idempotency_key": "d2", "to": ["x@example.org"],
        "text": "x", "draft_id": id + 100});
    assert_eq!(s.post("/api/v1/messages/send", send).await.0, 404);
}

async fn a_draft_written_in_gmail_is_resumed_from_drafts_and_changed_in_place(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 1).await else { return };
    let draft_id = {
        let now = s.sim.state.clock().now_ms();
        let mut world = s.sim.state.world();
        let mailbox = world.gmail(ANN).unwrap();
        let raw = "From: ann@example.test\r\nTo: Olga <olga@example.org>\r\nSubject: Started on the phone\r\n\r\nFirst lines\r\n";
        let message = mailbox.add(raw.as_bytes().to_vec(), &["DRAFT".to_owned()], now, None, now);
        mailbox.new_draft(message)
    };
    s.run().await;
    let id = s.id_of("Started on the phone").await;
    let mut browser = signed_in(&s).await;
    let opened = format!("/mail?open={id}");
    browser.get(&opened).await.assert_contains("action=\"/mail/compose/resume\"");
    let inbox_message = s.id_of("Message 0").await;
    let refused = browser.submit(&opened, "/mail/compose/resume", &[("message", &inbox_message.to_string())]).await;
    refused.assert_status(StatusCode::BAD_REQUEST);
    let (_, mut other) = s.app.member("other@example.test", "member password 2").await;
    other
        .submit("/mail", "/mail/compose/resume", &[("message", &id.to_string())])
        .await
        .assert_status(StatusCode::NOT_FOUND);
    // A link takes nothing in: it leads to the message, whose page has the form.
    browser.get(&format!("/mail/compose?resume={id}")).await.assert_redirect(&opened);
    assert_eq!(s.get("/api/v1/drafts").await["data"].as_array().unwrap().len(), 0);

    // Taken in once: asked again, the same draft.
    let message = id.to_string();
    let answer = browser.submit(&opened, "/mail/compose/resume", &[("message", &message)]).await;
    let location = answer.headers["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/mail/compose?draft="), "{location}");
    let again = browser.submit(&opened, "/mail/compose/resume", &[("message", &message)]).await;
    assert_eq!(again.headers["location"].to_str().unwrap(), location);
    let page = browser.get(&location).await;
    assert_eq!(unescape(&field(&page, "subject")), "Started on the phone");
    assert_eq!(unescape(&field(&page, "to")), "Olga <olga@example.org>");
    assert!(unescape(&body_of(&page)).starts_with("First lines"));
    push(&s).await;
    assert_eq!(gmail_drafts(&s)[0].2.subject, "Started on the phone", "nothing to write yet");

    // Changed here: the same Gmail draft changes.
    save(&mut browser, &location, &[("body", "First lines, finished here.")]).await;
    push(&s).await;
    let drafts = gmail_drafts(&s);
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].0, draft_id);
    assert_eq!(drafts[0].3.trim_end(), "First lines, finished here.");
    assert_eq!(drafts[0].2.to[0].address, "olga@example.org");

    // Another one begun in Gmail, taken in and discarded untouched: gone from Gmail too.
    let other = {
        let now = s.sim.state.clock().now_ms();
        let mut world = s.sim.state.world();
        let mailbox = world.gmail(ANN).unwrap();
        let raw = "From: ann@example.test\r\nTo: petr@example.cz\r\nSubject: Never mind\r\n\r\nx\r\n";
        let message = mailbox.add(raw.as_bytes().to_vec(), &["DRAFT".to_owned()], now, None, now);
        mailbox.new_draft(message)
    };
    s.run().await;
    let never = s.id_of("Never mind").await;
    let location =
        browser.submit("/mail", "/mail/compose/resume", &[("message", &never.to_string())]).await.headers["location"]
            .clone();
    let taken = location.to_str().unwrap().trim_start_matches("/mail/compose?draft=").to_owned();
    let csrf = browser.get("/mail/drafts").await.csrf();
    let proof = format!("csrf_token={csrf}").into_bytes();
    let form = "application/x-www-form-urlencoded";
    let answer = browser.request("POST", &format!("/mail/drafts/{taken}/discard"), Some((form, proof))).await;
    answer.assert_redirect(&format!("/mail/drafts?notice=draft_discarded&discarded={taken}"));
    push_after_undo(&s).await;
    let left: Vec<String> = gmail_drafts(&s).into_iter().map(|d| d.0).collect();
    assert_eq!(left, [draft_id], "{other} is deleted in Gmail");
}

async fn the_compose_pages_discard_asks_and_removes_the_draft_here_and_in_gmail(backend: Backend) {
    let Some(s) = setup(backend, "google", 0).await else { return };
    let mut browser = signed_in(&s).await;
    let (status, saved) = save(&mut browser, "/mail/compose", &[("to", "petr@example.cz"), ("subject", "Maybe")]).await;
    assert_eq!(status, 200, "{saved}");
    let id = saved["id"].as_i64().unwrap();
    push(&s).await;
    assert_eq!(gmail_drafts(&s).len(), 1);
    // The button asks before it acts, and posts the draft's id without the files.
    let page = browser.get(&format!("/mail/compose?draft={id}")).await;
    page.assert_contains("formaction=\"/mail/compose/discard\"")
        .assert_contains("formenctype=\"application/x-www-form-urlencoded\"")
        .assert_contains("data-confirm=\"Discard this message?");
    // Another user cannot discard it; a bad id is refused; both change nothing.
    let (_, mut ben) = s.app.member("ben@example.test", "member password 2").await;
    let id_text = id.to_string();
    ben.submit("/mail", "/mail/compose/discard", &[("draft", &id_text)]).await.assert_status(StatusCode::NOT_FOUND);
    browser.submit("/mail", "/mail/compose/discard", &[("draft", "x")]).await.assert_status(StatusCode::BAD_REQUEST);
    assert!(s.app.store.draft(s.user, id).await.unwrap().is_some());
    // The user discards it: gone here at once; the mail view's toast offers Undo, and until its
    // time has passed the copy in Gmail stays.
    let back = browser.submit("/mail", "/mail/compose/discard", &[("draft", &id_text)]).await;
    back.assert_redirect(&format!("/mail?discarded={id}"));
    assert!(s.app.store.draft(s.user, id).await.unwrap().is_none());
    assert!(s.app.store.drafts(s.user).await.unwrap().is_empty());
    browser
        .get(back.location().unwrap())
        .await
        .assert_contains("The draft is discarded.")
        .assert_contains(&format!(r#"action="/mail/drafts/{id}/restore" data-toast-undo"#));
    push(&s).await;
    assert_eq!(gmail_drafts(&s).len(), 1, "kept for the Undo");
    // Another user cannot bring it back.
    ben.submit("/mail", &format!("/mail/drafts/{id}/restore"), &[])
        .await
        .assert_redirect("/mail/drafts?notice=draft_restore_too_late");
    // Undo: back as it was, and opened to go on.
    browser
        .submit("/mail", &format!("/mail/drafts/{id}/restore"), &[])
        .await
        .assert_redirect(&format!("/mail/compose?draft={id}&notice=draft_restored"));
    assert_eq!(s.app.store.draft(s.user, id).await.unwrap().unwrap().fields.subject, "Maybe");
    push(&s).await;
    let drafts = gmail_drafts(&s);
    assert_eq!((drafts.len(), drafts[0].2.subject.as_str()), (1, "Maybe"));
    // Discarded from the list of drafts: its Undo is there; once the hold has passed, the writer
    // deletes Gmail's copy, and the Undo is too late.
    let back = browser.submit("/mail/drafts", &format!("/mail/drafts/{id}/discard"), &[]).await;
    back.assert_redirect(&format!("/mail/drafts?notice=draft_discarded&discarded={id}"));
    browser.get(back.location().unwrap()).await.assert_contains(&format!(r#"action="/mail/drafts/{id}/restore""#));
    push_after_undo(&s).await;
    assert!(gmail_drafts(&s).is_empty(), "gone from Gmail's drafts");
    browser
        .submit("/mail", &format!("/mail/drafts/{id}/restore"), &[])
        .await
        .assert_redirect("/mail/drafts?notice=draft_restore_too_late");
    // Nothing saved yet: leaving is all there is to do.
    browser
        .submit("/mail", "/mail/compose/discard", &[("draft", "")])
        .await
        .assert_redirect("/mail?notice=draft_discarded");
}

/// Uploads a file to a draft as the compose page's script does: one `file` part.
async fn upload(browser: &mut Client, draft: i64, csrf: &str, name: &str, bytes: &[u8]) -> (u16, Value) {
    let boundary = "----mailroomuploadboundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let answer = by_script(browser, csrf, &format!("/mail/drafts/{draft}/files"), Some((&content_type, body))).await;
    (answer.status.as_u16(), serde_json::from_str(&answer.body).unwrap_or(Value::Null))
}

/// A POST made the way the page's script makes it: JSON asked for, the proof in a header.
async fn by_script(browser: &mut Client, csrf: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Page {
    browser.headers.push(("x-csrf-token", csrf.to_owned()));
    browser.headers.push(("accept", "application/json".to_owned()));
    let answer = browser.request("POST", path, body).await;
    browser.headers.truncate(browser.headers.len() - 2);
    answer
}

/// The names of the files the provider's copy of the user's only draft carries.
fn files_at_provider(s: &Setup, provider: &str) -> Vec<String> {
    if provider == "google" {
        let drafts = gmail_drafts(s);
        assert_eq!(drafts.len(), 1, "one draft in Gmail");
        return drafts[0].2.attachments.iter().map(|a| a.name.clone()).collect();
    }
    let mut world = s.sim.state.world();
    let mailbox = world.graph(CARL).unwrap();
    let folder = mailbox.well_known_id("drafts");
    let drafts: Vec<_> = mailbox.messages.iter().filter(|m| m.folder_id == folder && m.is_draft).collect();
    assert_eq!(drafts.len(), 1, "one draft in Outlook");
    drafts[0].attachments.iter().filter(|a| !a.is_inline).map(|a| a.name.clone()).collect()
}

async fn files_stay_with_a_gmail_draft_through_an_error_a_resume_a_send_and_an_undo(backend: Backend) {
    // Boxed: the whole run, sync writes included, is a large future.
    Box::pin(files_stay_with_the_draft(backend, "google")).await;
}

async fn files_stay_with_an_outlook_draft_through_an_error_a_resume_a_send_and_an_undo(backend: Backend) {
    // Boxed: the whole run, sync writes included, is a large future.
    Box::pin(files_stay_with_the_draft(backend, "microsoft")).await;
}

/// Nothing the user attached is lost: a file stays with its draft through a form error, a
/// resumed draft, the provider's copy, a send and its Undo, and goes out with the message.
async fn files_stay_with_the_draft(backend: Backend, provider: &str) {
    let Some(s) = setup(backend, provider, 1).await else { return };
    let mut browser = signed_in(&s).await;
    let names = |files: &[mailroom_store::DraftFile]| files.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
    // Picked without the page's script, in a form that comes back with an error: the file is kept
    // with a draft, and the page lists it.
    let offer: (&str, &str, &[u8]) = ("nabídka.pdf", "application/pdf", b"%PDF offer");
    let (_, answer) =
        compose(&mut browser, "/mail/compose", &[("to", "nobody"), ("subject", "Nabídka")], &[offer]).await;
    answer.assert_status(StatusCode::UNPROCESSABLE_ENTITY).assert_contains("nabídka.pdf");
    let draft: i64 = field(&answer, "draft").parse().expect("the form now names its draft");
    let kept = s.app.store.draft_files(s.user, draft).await.unwrap();
    assert_eq!(names(&kept), ["nabídka.pdf"]);
    assert_eq!(s.app.store.draft(s.user, draft).await.unwrap().unwrap().fields.subject, "Nabídka", "and the text");

    // Resumed: listed, and it downloads as it was.
    let path = format!("/mail/compose?draft={draft}");
    let page = browser.get(&path).await;
    page.assert_contains("nabídka.pdf").assert_contains("Up to 25 MB in all");
    assert_eq!(browser.get(&format!("/mail/drafts/{draft}/files/{}", kept[0].id)).await.body, "%PDF offer");

    // Picked with the page's script: each goes up at once. One over the limit is refused by
    // name, and so is one that would take the draft's files over it; nothing of theirs is kept.
    let csrf = page.csrf();
    let (status, added) = upload(&mut browser, draft, &csrf, "ceník.xlsx", b"prices").await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(
        (added["files"][0]["name"].as_str(), added["files"][0]["size"].as_str()),
        (Some("ceník.xlsx"), Some("6 B"))
    );
    let (status, refused) = upload(&mut browser, draft, &csrf, "video.mp4", &vec![0; 25 * 1024 * 1024 + 1]).await;
    assert_eq!(status, 413);
    assert!(refused["error"].as_str().unwrap().contains("video.mp4 is larger than 25 MB"), "{refused}");
    let (status, big) = upload(&mut browser, draft, &csrf, "plán.dwg", &vec![7; 20 * 1024 * 1024]).await;
    assert_eq!(status, 200, "{big}");
    let (status, refused) = upload(&mut browser, draft, &csrf, "fotky.zip", &vec![1; 6 * 1024 * 1024]).await;
    assert_eq!(status, 413);
    assert!(refused["error"].as_str().unwrap().contains("fotky.zip"), "{refused}");
    assert_eq!(
        names(&s.app.store.draft_files(s.user, draft).await.unwrap()),
        ["nabídka.pdf", "ceník.xlsx", "plán.dwg"]
    );
    // Taken off again.
    let remove = big["files"][0]["remove"].as_str().unwrap().to_owned();
    by_script(&mut browser, &csrf, &remove, None).await.assert_status(StatusCode::OK);
    assert_eq!(names(&s.app.store.draft_files(s.user, draft).await.unwrap()), ["nabídka.pdf", "ceník.xlsx"]);

    // Another user can neither fetch, add nor take off a file of this draft.
    let (_, mut other) = s.app.member("other@example.test", "member password 2").await;
    let other_csrf = other.get("/mail/drafts").await.csrf();
    other.get(&format!("/mail/drafts/{draft}/files/{}", kept[0].id)).await.assert_status(StatusCode::NOT_FOUND);
    let (status, _) = upload(&mut other, draft, &other_csrf, "virus.exe", b"MZ").await;
    assert_eq!(status, 404);
    let remove_offer = format!("/mail/drafts/{draft}/files/{}/remove", kept[0].id);
    by_script(&mut other, &other_csrf, &remove_offer, None).await.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(names(&s.app.store.draft_files(s.user, draft).await.unwrap()), ["nabídka.pdf", "ceník.xlsx"]);

    // The provider's copy of the draft carries them.
    push(&s).await;
    assert_eq!(files_at_provider(&s, provider), ["nabídka.pdf", "ceník.xlsx"]);

    // Sent from the draft: the files go with the message. Undo: the same draft again, with
    // its recipients, text and files.
    let draft_field = draft.to_string();
    let changes = [("to", "jana@example.org"), ("draft", draft_field.as_str()), ("body", "Posílám nabídku.")];
    let (_, answer) = compose(&mut browser, &path, &changes, &[]).await;
    crate::send::assert_sent(&answer);
    let queued = s.app.store.submissions(s.user, None, 10).await.unwrap().remove(0);
    let raw = s.app.store.submission_raw(s.user, queued.id).await.unwrap().unwrap();
    let sent: Vec<String> = mailroom_mime::parse(&raw).into_message().attachments.into_iter().map(|a| a.name).collect();
    assert_eq!(sent, ["nabídka.pdf", "ceník.xlsx"]);
    let csrf = browser.get("/mail/outbox").await.csrf();
    let back = browser.post_raw(&format!("/mail/outbox/{}/cancel", queued.id), &[("csrf_token", &csrf)]).await;
    back.assert_redirect(&format!("/mail/compose?draft={draft}&notice=send_taken_back"));
    let drafts = s.app.store.drafts(s.user).await.unwrap();
    assert_eq!(drafts.len(), 1, "one draft, not a copy");
    assert_eq!(
        (drafts[0].fields.to.as_str(), drafts[0].fields.body.trim_end()),
        ("jana@example.org", "Posílám nabídku.")
    );
    let files = s.app.store.draft_files_with_data(s.user, draft).await.unwrap();
    let kept: Vec<(&str, &[u8])> = files.iter().map(|(f, data)| (f.name.as_str(), data.as_slice())).collect();
    assert_eq!(kept, [("nabídka.pdf", b"%PDF offer".as_slice()), ("ceník.xlsx", b"prices".as_slice())]);
    let page = browser.get(&path).await;
    page.assert_contains("nabídka.pdf").assert_contains("ceník.xlsx");

    // Taken off without the page's script: the form goes to the file's own address, and what
    // was typed meanwhile is saved with it.
    let offer_file = files[0].0.id;
    let csrf = page.csrf();
    let sender = format!("{}:{}", s.account.id.0, s.account.address);
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("mode", "new"),
        ("draft", draft_field.as_str()),
        ("from", sender.as_str()),
        ("to", "jana@example.org"),
        ("subject", "Nabídka v2"),
        ("body", "Posílám ceník."),
    ];
    let (content_type, body) = multipart(&fields, &[]);
    let removed = browser
        .request("POST", &format!("/mail/drafts/{draft}/files/{offer_file}/remove"), Some((&content_type, body)))
        .await;
    removed.assert_redirect(&format!("/mail/compose?draft={draft}"));
    let kept = s.app.store.draft(s.user, draft).await.unwrap().unwrap();
    assert_eq!((kept.fields.subject.as_str(), kept.fields.body.as_str()), ("Nabídka v2", "Posílám ceník."));
    assert_eq!(names(&s.app.store.draft_files(s.user, draft).await.unwrap()), ["ceník.xlsx"]);
    push(&s).await;
    assert_eq!(files_at_provider(&s, provider), ["ceník.xlsx"], "taken off at the provider too");

    // Sent again, it goes once, with its file.
    let (_, answer) = compose(&mut browser, &path, &[("draft", draft_field.as_str())], &[]).await;
    crate::send::assert_sent(&answer);
    let queued = s.app.store.submissions(s.user, None, 10).await.unwrap().remove(0);
    outbox(&s).send_due_at(mailroom_store::now() + 60).await;
    let raw = s.app.store.submission_raw(s.user, queued.id).await.unwrap().unwrap();
    let sent: Vec<String> = mailroom_mime::parse(&raw).into_message().attachments.into_iter().map(|a| a.name).collect();
    assert_eq!(sent, ["ceník.xlsx"]);
    let status = s.app.store.submission(s.user, queued.id).await.unwrap().unwrap().status;
    assert_eq!(status, mailroom_store::SubmissionStatus::Accepted);
    push(&s).await;
    assert!(s.app.store.drafts(s.user).await.unwrap().is_empty(), "the sent draft is gone, files and all");
}

/// Files kept with a draft through the API, as a program attaches a large one: the body is the
/// file itself. Listed, read back, one removed, bad input refused without change, and the rest
/// sent with the draft.
async fn a_drafts_files_are_added_read_removed_and_sent_through_the_api(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 0).await else { return };
    let account = s.account.id.0;
    let (_, created) = s.post("/api/v1/drafts", serde_json::json!({"account_id": account, "subject": "Plány"})).await;
    let id = created["id"].as_i64().unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| ((i * 11 + 3) % 251) as u8).collect();
    let add = async |s: &mut Setup, draft: i64, name: &str, content_type: &str, bytes: Vec<u8>| {
        let path = format!("/api/v1/drafts/{draft}/files?name={}", urlencoding(name));
        let page = s.api.request("POST", &path, Some((content_type, bytes))).await;
        (page.status.as_u16(), serde_json::from_str::<Value>(&page.body).unwrap_or(Value::Null))
    };
    let (status, file) = add(&mut s, id, "plány 2027.pdf", "application/pdf", big.clone()).await;
    assert_eq!(status, 201, "{file}");
    assert_eq!((file["name"].as_str(), file["size"].as_i64()), (Some("plány 2027.pdf"), Some(3_000_000)));
    let (status, note) = add(&mut s, id, "note.txt", "text/plain; charset=utf-8", b"hello".to_vec()).await;
    assert_eq!((status, note["content_type"].as_str()), (201, Some("text/plain")));

    // Refused, and nothing changes: no name, another draft, over the 25 MiB of a draft's files.
    let (status, _) = add(&mut s, id, "", "text/plain", b"x".to_vec()).await;
    assert_eq!(status, 400);
    let (status, _) = add(&mut s, id, "empty.txt", "text/plain", Vec::new()).await;
    assert_eq!(status, 400, "an empty body is a file left out");
    let (status, _) = add(&mut s, id + 1000, "a.txt", "text/plain", b"x".to_vec()).await;
    assert_eq!(status, 404);
    let (status, refused) = add(&mut s, id, "velký.bin", "application/octet-stream", vec![7; 23 * 1024 * 1024]).await;
    assert_eq!(status, 413, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("velký.bin"), "{refused}");
    let listed = s.get(&format!("/api/v1/drafts/{id}/files")).await;
    let names: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["plány 2027.pdf", "note.txt"]);

    // A file still coming in is none of the draft's files; one cut off is dropped, and one
    // that ends over the limit too.
    let store = &s.app.store;
    let now = mailroom_store::now();
    let coming = store.start_draft_file(s.user, id, ("coming.bin", "application/octet-stream"), now).await.unwrap();
    let coming = coming.unwrap();
    store.add_draft_file_piece(coming, 0, b"part").await.unwrap();
    assert_eq!(store.draft_files(s.user, id).await.unwrap().len(), 2, "not listed while it comes");
    store.abandon_draft_file(coming).await.unwrap();
    let over = store.start_draft_file(s.user, id, ("over.bin", "application/octet-stream"), now).await.unwrap();
    let added = store.finish_draft_file(s.user, (id, over.unwrap()), 23 * 1024 * 1024, 25 * 1024 * 1024, now);
    assert_eq!(added.await.unwrap(), mailroom_store::FileAdded::OverLimit);
    assert_eq!(store.start_draft_file(s.user, id + 1000, ("x", "text/plain"), now).await.unwrap(), None);
    assert_eq!(store.draft_files(s.user, id).await.unwrap().len(), 2);

    // Read back whole; the small one taken off (then it is gone).
    let fetched = s.api.get(&format!("/api/v1/drafts/{id}/files/{}", file["id"])).await;
    fetched.assert_status(StatusCode::OK);
    assert_eq!(file["content_type"], "application/pdf");
    assert!(fetched.body == String::from_utf8_lossy(&big), "the file as it was added");
    let note_path = format!("/api/v1/drafts/{id}/files/{}", note["id"]);
    assert_eq!(s.api.request("DELETE", &note_path, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(s.api.request("DELETE", &note_path, None).await.status, StatusCode::NOT_FOUND);
    s.api.get(&note_path).await.assert_status(StatusCode::NOT_FOUND);

    // Sent with the draft: the file goes whole, and the draft with its files goes.
    let send = serde_json::json!({"account_id": account, "idempotency_key": "files1", "to": ["dana@example.org"],
        "subject": "Plány", "text": "V příloze.", "draft_id": id});
    let (status, sent) = s.post("/api/v1/messages/send", send).await;
    assert_eq!(status, 202, "{sent}");
    outbox(&s).send_due_at(mailroom_store::now() + 10).await;
    let copies = gmail_copies(&s, sent["message_id"].as_str().unwrap());
    assert_eq!(copies.len(), 1);
    let raw = &copies[0].0;
    let names: Vec<String> = mailroom_mime::parse(raw).into_message().attachments.into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["plány 2027.pdf"]);
    assert!(mailroom_mime::attachment_data(raw, 0).unwrap().data == big);
    s.api.get(&format!("/api/v1/drafts/{id}/files")).await.assert_status(StatusCode::NOT_FOUND);
}

/// `name` as a query value.
fn urlencoding(name: &str) -> String {
    url::form_urlencoded::byte_serialize(name.as_bytes()).collect()
}
