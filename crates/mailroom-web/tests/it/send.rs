//! Sending through the API against the simulator: the raw MIME that reached the provider is
//! parsed and checked; a retried call with the same idempotency key sends once; a send whose
//! process died after the provider took it is found there, not sent again; a pending send can
//! be taken back; bad input is refused with the field named and stores nothing.

use std::sync::Arc;

use base64::Engine as _;
use mailroom_store::SubmissionStatus;
use mailroom_sync::{Outbox, SendOutcome};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::harness::{Backend, Client, Page};
use crate::workspace::{Setup, setup};

crate::on_both_databases!(send:
    a_message_sent_through_the_api_reaches_gmail_once_with_its_headers_bodies_and_attachment,
    a_reply_stays_in_its_gmail_conversation_with_threading_headers,
    a_reply_under_a_new_subject_asks_gmail_for_no_conversation,
    outlook_sends_the_mime_and_keeps_it_in_sent_items,
    a_send_cut_off_after_gmail_took_it_is_found_there_not_sent_again,
    a_send_cut_off_after_outlook_took_it_is_found_there_not_sent_again,
    a_pending_send_is_taken_back_and_never_sent,
    a_reply_taken_back_in_its_undo_window_is_a_draft_again_with_all_it_held,
    bad_input_is_refused_with_the_field_named_and_nothing_is_stored,
    the_compose_page_replies_to_all_with_a_file_and_sends_once_after_the_undo_window,
    a_forward_carries_the_originals_attachments_and_a_scheduled_one_waits_its_time_or_is_taken_back,
    the_compose_form_shows_bad_input_at_its_field_and_needs_the_csrf_proof,
    the_editor_toolbars_buttons_are_named_by_their_labels_not_their_glyphs,
    a_signature_goes_under_new_messages_and_replies_and_only_known_addresses_send,
    a_reply_goes_out_as_the_alias_its_original_was_addressed_to,
    templates_are_written_started_from_and_filled_by_the_api,
    addresses_from_the_users_own_mail_are_suggested,
    a_message_sent_separately_goes_once_to_each_and_the_failed_ones_go_again,
    the_editors_formatting_and_pasted_image_arrive_as_html_with_an_inline_part,
    a_large_file_goes_to_outlook_through_an_upload_session_and_a_cut_off_try_leaves_no_draft,
    a_message_over_four_megabytes_of_small_files_goes_to_outlook_file_by_file,
    a_compose_panel_keeps_its_frame_through_an_error_and_hands_its_toast_to_the_mail_view,
    an_administrators_shared_template_is_offered_to_everyone_and_stays_theirs,
    a_formatted_signature_with_a_logo_starts_the_editor_and_goes_out_as_html,
    a_large_file_is_kept_apart_goes_whole_to_gmail_and_comes_back_when_taken_back,
    a_large_file_is_kept_apart_goes_whole_to_outlook_and_comes_back_when_taken_back,
);

pub(crate) const ANN: &str = "ann@example.test";
pub(crate) const CARL: &str = "carl@contoso.onmicrosoft.com";

pub(crate) fn outbox(s: &Setup) -> Outbox {
    Outbox::new(s.engine.clone(), "test-outbox".to_owned(), Arc::new(Notify::new()), s.app.sync_wake.clone())
}

/// The raw messages of Ann's Gmail mailbox with this Message-ID, and whether each is in SENT.
pub(crate) fn gmail_copies(s: &Setup, message_id: &str) -> Vec<(Vec<u8>, bool, String)> {
    let mut world = s.sim.state.world();
    let mailbox = world.gmail(ANN).unwrap();
    mailbox
        .messages()
        .filter(|m| m.summary.message_id.as_deref() == Some(message_id))
        .map(|m| (m.raw.clone(), m.has("SENT"), m.thread_id.clone()))
        .collect()
}

/// Sends `body` from the setup's mailbox, unless it names another.
async fn send(s: &mut Setup, mut body: Value) -> (u16, Value) {
    if body.get("account_id").is_none() {
        body["account_id"] = json!(s.account.id.0);
    }
    s.post("/api/v1/messages/send", body).await
}

async fn a_message_sent_through_the_api_reaches_gmail_once_with_its_headers_bodies_and_attachment(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 1).await else { return };
    let pdf = b"%PDF-1.4 a small report".to_vec();
    let body = json!({
        "idempotency_key": "order-42",
        "to": ["Petr Černý <petr@example.cz>"],
        "cc": ["cc@example.org"],
        "bcc": ["hidden@example.org"],
        "subject": "Přehled objednávky",
        "html": "<p>Dobrý den, <b>přílohy</b> posílám.</p>",
        "attachments": [{"name": "přehled.pdf", "content_type": "application/pdf",
                         "content_base64": base64::engine::general_purpose::STANDARD.encode(&pdf)}],
    });
    let (status, first) = send(&mut s, body.clone()).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["status"], "pending");
    // The same call again (a client that did not see the answer): the same submission.
    let (status, again) = send(&mut s, body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], first["id"]);

    outbox(&s).send_due().await;
    outbox(&s).send_due().await;
    let message_id = first["message_id"].as_str().unwrap();
    let copies = gmail_copies(&s, message_id);
    assert_eq!(copies.len(), 1, "sent once");
    let (raw, in_sent, _) = &copies[0];
    assert!(in_sent);
    let parsed = mailroom_mime::parse(raw).into_message();
    assert_eq!(parsed.subject, "Přehled objednávky");
    assert_eq!(parsed.from.as_ref().unwrap().address, ANN);
    assert_eq!(parsed.to[0].name.as_deref(), Some("Petr Černý"));
    assert_eq!(parsed.cc[0].address, "cc@example.org");
    assert_eq!(parsed.attachments[0].name, "přehled.pdf");
    assert_eq!(mailroom_mime::attachment_data(raw, 0).unwrap().data, pdf);
    let bodies = mailroom_mime::bodies(raw);
    assert!(bodies.html.unwrap().contains("<b>přílohy</b>"));
    assert!(bodies.text.unwrap().contains("přílohy posílám"), "the text alternative is made from the HTML");

    let shown = s.get(&format!("/api/v1/submissions/{}", first["id"])).await;
    assert_eq!(shown["status"], "accepted");
    assert!(shown["remote_id"].is_string());
    assert_eq!(shown["recipients"], json!(["Petr Černý <petr@example.cz>", "cc@example.org", "hidden@example.org"]));
    // The next run brings it into Sent.
    s.run().await;
    let sent = s.get("/api/v1/messages?kind=sent").await;
    let subjects: Vec<&str> = sent["data"].as_array().unwrap().iter().filter_map(|m| m["subject"].as_str()).collect();
    assert!(subjects.contains(&"Přehled objednávky"), "{sent}");
}

async fn a_reply_stays_in_its_gmail_conversation_with_threading_headers(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 2).await else { return };
    let parent = s.id_of("Message 1").await;
    let (status, submission) = send(
        &mut s,
        json!({"idempotency_key": "r1", "to": ["s1@client1.example.org"],
               "text": "Thanks!", "in_reply_to": parent}),
    )
    .await;
    assert_eq!(status, 202, "{submission}");
    assert_eq!(submission["subject"], "Re: Message 1");
    outbox(&s).send_due().await;
    let copies = gmail_copies(&s, submission["message_id"].as_str().unwrap());
    let (raw, _, thread) = &copies[0];
    let original_thread = {
        let mut world = s.sim.state.world();
        let mailbox = world.gmail(ANN).unwrap();
        mailbox
            .messages()
            .find(|m| m.summary.message_id.as_deref() == Some("m1@example.org"))
            .unwrap()
            .thread_id
            .clone()
    };
    assert_eq!(thread, &original_thread, "the reply is in the original's conversation");
    let parsed = mailroom_mime::parse(raw).into_message();
    assert_eq!(parsed.in_reply_to, vec!["m1@example.org"]);
    assert_eq!(parsed.references, vec!["m1@example.org"]);
    assert_eq!(parsed.subject, "Re: Message 1");
}

/// Gmail honours a `threadId` only when the subject is the conversation's (its `Message.threadId`
/// documentation): a reply that changes the subject is sent without one, one that keeps it (with
/// its "Re:") with the conversation's.
async fn a_reply_under_a_new_subject_asks_gmail_for_no_conversation(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 2).await else { return };
    let parent = s.id_of("Message 1").await;
    for (key, subject) in [("kept", "RE: message 1"), ("changed", "Invoice for March")] {
        let (status, submission) = send(
            &mut s,
            json!({"idempotency_key": key, "to": ["s1@client1.example.org"], "subject": subject,
                   "text": "Thanks!", "in_reply_to": parent}),
        )
        .await;
        assert_eq!(status, 202, "{submission}");
    }
    let original_thread = s
        .sim
        .state
        .world()
        .gmail(ANN)
        .unwrap()
        .messages()
        .find(|m| m.summary.message_id.as_deref() == Some("m1@example.org"))
        .unwrap()
        .thread_id
        .clone();
    let far = 4_000_000_000;
    let first = s.engine.store.claim_submission("test", far, 60).await.unwrap().unwrap();
    let second = s.engine.store.claim_submission("test", far, 60).await.unwrap().unwrap();
    assert_eq!(first.thread_remote_id.as_deref(), Some(original_thread.as_str()), "the subject was kept");
    assert_eq!(second.thread_remote_id, None, "Gmail would start a new conversation anyway");
    for claimed in [first, second] {
        let parsed = mailroom_mime::parse(&claimed.raw).into_message();
        assert_eq!(parsed.in_reply_to, vec!["m1@example.org"], "the headers still say what it answers");
    }
}

async fn outlook_sends_the_mime_and_keeps_it_in_sent_items(backend: Backend) {
    let Some(mut s) = setup(backend, "microsoft", 1).await else { return };
    let (status, submission) = send(
        &mut s,
        json!({"idempotency_key": "o1", "to": [ANN], "subject": "Ahoj Anno",
               "text": "Zpráva z Outlooku."}),
    )
    .await;
    assert_eq!(status, 202, "{submission}");
    outbox(&s).send_due().await;
    let message_id = submission["message_id"].as_str().unwrap();
    let mut world = s.sim.state.world();
    let mailbox = world.graph(CARL).unwrap();
    let sent = mailbox.well_known_id("sentitems");
    let copies: Vec<_> = mailbox.messages.iter().filter(|m| m.internet_message_id == message_id).collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].folder_id, sent);
    assert_eq!(copies[0].subject, "Ahoj Anno");
    // The recipient, a simulated Gmail user, got it.
    let inbox = world.gmail(ANN).unwrap();
    assert!(inbox.messages().any(|m| m.summary.message_id.as_deref() == Some(message_id) && m.has("INBOX")));
}

/// Submits, then plays a process that claimed the message, handed it to the provider and died
/// before recording it; the next claim after the first ran out must find it at the provider.
async fn cut_off_after_the_provider_took_it(s: &mut Setup) -> (String, SendOutcome) {
    let (status, submission) = send(
        s,
        json!({"idempotency_key": "c1", "to": ["x@example.org"], "subject": "Once",
               "text": "Only once."}),
    )
    .await;
    assert_eq!(status, 202, "{submission}");
    let store = &s.app.store;
    let now = mailroom_store::now();
    let first = store.claim_submission("dead-process", now, 300).await.unwrap().unwrap();
    assert_eq!(first.attempts, 1);
    assert!(store.claim_submission("other", now, 300).await.unwrap().is_none(), "one claimant at a time");
    let account = store.account(s.account.id).await.unwrap().unwrap();
    let token = s.engine.tokens.access_token(&account).await.unwrap();
    match account.provider {
        mailroom_domain::Provider::Google => {
            s.engine.providers.gmail_send(&token, &first.raw, None).await.unwrap();
        }
        mailroom_domain::Provider::Microsoft => s.engine.providers.graph_send_mime(&token, &first.raw).await.unwrap(),
    }
    // The claim runs out; the next process claims it and asks the provider first.
    let second = store.claim_submission("next-process", now + 301, 300).await.unwrap().unwrap();
    assert_eq!((second.id, second.attempts), (first.id, 2));
    let outcome = mailroom_sync::send(&s.engine, &account, &second).await;
    store.submission_accepted(second.id, "next-process", None, now).await.unwrap();
    let id = submission["id"].as_i64().unwrap();
    assert_eq!(store.submission(s.user, id).await.unwrap().unwrap().status, SubmissionStatus::Accepted);
    (submission["message_id"].as_str().unwrap().to_owned(), outcome)
}

async fn a_send_cut_off_after_gmail_took_it_is_found_there_not_sent_again(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 0).await else { return };
    let (message_id, outcome) = cut_off_after_the_provider_took_it(&mut s).await;
    let copies = gmail_copies(&s, &message_id);
    assert_eq!(copies.len(), 1, "sent once");
    let SendOutcome::Accepted { remote_id: Some(_) } = outcome else { panic!("found at Gmail: {outcome:?}") };
}

async fn a_send_cut_off_after_outlook_took_it_is_found_there_not_sent_again(backend: Backend) {
    let Some(mut s) = setup(backend, "microsoft", 0).await else { return };
    let (message_id, outcome) = cut_off_after_the_provider_took_it(&mut s).await;
    let mut world = s.sim.state.world();
    let mailbox = world.graph(CARL).unwrap();
    assert_eq!(mailbox.messages.iter().filter(|m| m.internet_message_id == message_id).count(), 1, "sent once");
    let SendOutcome::Accepted { remote_id: Some(_) } = outcome else { panic!("found in Sent Items: {outcome:?}") };
}

async fn a_pending_send_is_taken_back_and_never_sent(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 0).await else { return };
    let later = mailroom_store::now() + 3_600;
    let (status, submission) = send(
        &mut s,
        json!({"idempotency_key": "s1", "to": ["x@example.org"], "text": "Later",
               "send_at": later}),
    )
    .await;
    assert_eq!(status, 202, "{submission}");
    assert_eq!(submission["send_at"], later);
    let id = submission["id"].as_i64().unwrap();
    outbox(&s).send_due().await;
    assert_eq!(s.get(&format!("/api/v1/submissions/{id}")).await["status"], "pending", "not before its time");
    let (status, cancelled) = s.post(&format!("/api/v1/submissions/{id}/cancel"), json!({})).await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")));
    let (status, again) = s.post(&format!("/api/v1/submissions/{id}/cancel"), json!({})).await;
    assert_eq!((status, again["error"]["code"].as_str()), (409, Some("conflict")));
    // Even once its time has come, nothing claims it.
    assert!(s.app.store.claim_submission("any", later + 1, 300).await.unwrap().is_none());
    assert!(gmail_copies(&s, submission["message_id"].as_str().unwrap()).is_empty());
    let listed = s.get("/api/v1/submissions").await;
    assert_eq!(listed["data"][0]["status"], "cancelled");
    assert_eq!(listed["next_cursor"], Value::Null);
}

async fn a_reply_taken_back_in_its_undo_window_is_a_draft_again_with_all_it_held(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 0).await else { return };
    {
        let now = s.sim.state.clock().now_ms();
        let raw = "From: Jana <jana@example.org>\r\nTo: ann@example.test\r\nSubject: Prices\r\n\
                   Message-ID: <prices@example.org>\r\n\r\nWhat are your prices?\r\n";
        s.sim.state.world().gmail(ANN).unwrap().deliver(raw.as_bytes().to_vec(), &["INBOX"], now);
    }
    s.run().await;
    let original = s.id_of("Prices").await;
    let mut browser = signed_in(&s).await;
    let path = format!("/mail/compose?mode=reply&reply={original}");
    let changes = [("cc", "boss@example.test"), ("bcc", "files@example.test")];
    let (_, answer) = compose(&mut browser, &path, &changes, &[]).await;
    assert_sent(&answer);
    let queued = s.app.store.submissions(s.user, None, 10).await.unwrap().remove(0);
    // "Undo" while the undo window lasts: nothing goes, and everything comes back to be changed.
    let csrf = browser.get("/mail/outbox").await.csrf();
    let back = browser.post_raw(&format!("/mail/outbox/{}/cancel", queued.id), &[("csrf_token", &csrf)]).await;
    let back = back.location().unwrap().to_owned();
    assert!(back.starts_with("/mail/compose?draft=") && back.ends_with("&notice=send_taken_back"), "{back}");
    let drafts = s.app.store.drafts(s.user).await.unwrap();
    assert_eq!(drafts.len(), 1);
    let draft = &drafts[0].fields;
    assert_eq!((draft.mode.as_str(), draft.original), ("reply", Some(original)), "still the answer to Jana");
    assert_eq!(draft.subject, "Re: Prices");
    assert!(draft.to.contains("jana@example.org"), "{}", draft.to);
    assert_eq!((draft.cc.as_str(), draft.bcc.as_str()), ("boss@example.test", "files@example.test"));
    let page = browser.get(&back).await;
    page.assert_contains("Taken back: the message is in Drafts again");
    assert_eq!(field(&page, "cc"), "boss@example.test");
    outbox(&s).send_due_at(mailroom_store::now() + 60).await;
    assert!(gmail_copies(&s, &queued.message_id).is_empty(), "never sent");
}

async fn bad_input_is_refused_with_the_field_named_and_nothing_is_stored(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 0).await else { return };
    let account = s.account.id.0;
    let base = |extra: Value| {
        let mut body = json!({"account_id": account, "idempotency_key": "k", "to": ["a@example.org"], "text": "x"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 25 * 1024 * 1024 + 1]);
    let cases = [
        (base(json!({"to": []})), 400, "Add at least one recipient"),
        (base(json!({"to": ["not an address"]})), 400, "to: not an address is not an email address"),
        (base(json!({"cc": ["a@example.org, b@example.org"]})), 400, "cc: give one address per entry"),
        (base(json!({"to": ["a@example.org\r\nBcc: all@example.org"]})), 400, "to: Line breaks"),
        (base(json!({"subject": "Hi\r\nBcc: all@example.org"})), 400, "subject: Line breaks"),
        (base(json!({"idempotency_key": ""})), 400, "idempotency key"),
        (
            base(json!({"attachments": [{"name": "a.txt", "content_type": "text/plain", "content_base64": "***"}]})),
            400,
            "not valid base64",
        ),
        (
            base(
                json!({"attachments": [{"name": "big.bin", "content_type": "application/octet-stream", "content_base64": big}]}),
            ),
            413,
            "larger than 25 MiB",
        ),
        (base(json!({"account_id": account + 1000})), 404, "There is nothing here"),
        (base(json!({"in_reply_to": 999_999})), 404, "There is nothing here"),
        (base(json!({"unknown": 1})), 400, "unknown field"),
    ];
    for (body, status, message) in cases {
        let (got, answer) = send(&mut s, body.clone()).await;
        assert_eq!(got, status, "{answer}");
        let text = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "expected {message:?} in {answer}");
    }
    assert!(s.app.store.submissions(s.user, None, 10).await.unwrap().is_empty(), "nothing was stored");
    let listed = s.get("/api/v1/submissions").await;
    assert_eq!(listed["data"], json!([]));
}

/// The compose form's answer to a message sent: back in the mail view, its toast naming the
/// message (which Undo takes back). The submission's id.
pub(crate) fn assert_sent(answer: &Page) -> i64 {
    answer.assert_status(axum::http::StatusCode::SEE_OTHER);
    let location = answer.location().expect("a redirect");
    assert!(location.starts_with("/mail?"), "{location}");
    let sent = url::form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "sent")
        .unwrap_or_else(|| panic!("no sent= in {location}"));
    sent.1.parse().unwrap()
}

/// A `multipart/form-data` body as a browser sends it: text fields, then files.
pub(crate) fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----mailroomtestboundary7MA4YWxk";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    for (name, content_type, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"{name}\"\r\n\
                 Content-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The value of the form field `name` on `page`.
pub(crate) fn field(page: &Page, name: &str) -> String {
    let re = regex_lite::Regex::new(&format!(r#"name="{name}"[^>]*? value="([^"]*)""#)).unwrap();
    re.captures(&page.body).map(|c| c[1].to_owned()).unwrap_or_else(|| panic!("no field {name} in {}", page.body))
}

/// Opens the compose page at `path` and posts its form with `changes` (and the page's hidden
/// fields, CSRF proof first, as a browser orders them).
pub(crate) async fn compose(
    browser: &mut Client,
    path: &str,
    changes: &[(&str, &str)],
    files: &[(&str, &str, &[u8])],
) -> (Page, Page) {
    let page = browser.get(path).await;
    page.assert_status(axum::http::StatusCode::OK);
    let csrf = page.csrf();
    let mut fields: Vec<(String, String)> = vec![("csrf_token".into(), csrf)];
    for hidden in ["key", "mode"] {
        fields.push((hidden.into(), field(&page, hidden)));
    }
    let sender = regex_lite::Regex::new(r#"<option value="([^"]+)" selected>"#).unwrap();
    fields.push(("from".into(), sender.captures(&page.body).expect("an identity is chosen")[1].to_owned()));
    for hidden in ["original", "draft"] {
        if page.body.contains(&format!(r#"name="{hidden}""#)) {
            fields.push((hidden.into(), field(&page, hidden)));
        }
    }
    // What the page filled in, as the browser would send it back.
    for shown in ["to", "cc", "bcc", "subject"] {
        fields.push((shown.into(), unescape(&field(&page, shown))));
    }
    fields.push(("body".into(), unescape(&body_of(&page))));
    if page.body.contains(r#"name="keep_attachments" value="1" checked"#) {
        fields.push(("keep_attachments".into(), "1".into()));
    }
    for (name, value) in changes {
        fields.retain(|(k, _)| k != name);
        fields.push(((*name).into(), (*value).into()));
    }
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (content_type, body) = multipart(&borrowed, files);
    let answer = browser.request("POST", "/mail/compose", Some((&content_type, body))).await;
    (page, answer)
}

pub(crate) async fn signed_in(s: &Setup) -> Client {
    let mut browser = s.app.client();
    browser.login("user@example.test", "member password 1").await;
    browser
}

/// Text as the page escaped it, back as typed.
pub(crate) fn unescape(html: &str) -> String {
    [("&#60;", "<"), ("&#62;", ">"), ("&#34;", "\""), ("&#39;", "'"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\"")]
        .iter()
        .fold(html.to_owned(), |text, (entity, c)| text.replace(entity, c))
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// The text area's content on a compose page.
pub(crate) fn body_of(page: &Page) -> String {
    let start = page.body.find("<textarea id=\"body\" name=\"body\" rows=\"16\">").unwrap();
    let rest = &page.body[start..];
    let open = rest.find('>').unwrap() + 1;
    rest[open..rest.find("</textarea>").unwrap()].to_owned()
}

async fn the_compose_page_replies_to_all_with_a_file_and_sends_once_after_the_undo_window(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 2).await else { return };
    let parent = s.id_of("Message 1").await;
    let mut browser = signed_in(&s).await;
    let path = format!("/mail/compose?mode=all&reply={parent}");
    let notes = b"meeting notes".to_vec();
    let reply = "Děkuji, posílám poznámky.";
    let prefilled = unescape(&body_of(&browser.get(&path).await));
    let written = format!("{reply}{prefilled}");
    let (page, answer) =
        compose(&mut browser, &path, &[("body", &written)], &[("poznámky.txt", "text/plain", &notes)]).await;
    // Prefilled: the sender (the user's own address left out), the subject, the quoted original.
    assert_eq!(unescape(&field(&page, "to")), "Sender 1 <s1@client1.example.org>");
    assert_eq!(field(&page, "subject"), "Re: Message 1");
    assert!(unescape(&body_of(&page)).contains("> Body 1"), "{}", body_of(&page));
    assert_sent(&answer);
    // The form sent again (a double click, a reload): still one message.
    let (content_type, body) = multipart(
        &[
            ("csrf_token", &page.csrf()),
            ("key", &field(&page, "key")),
            ("mode", "all"),
            ("from", &format!("{}:{ANN}", s.account.id.0)),
            ("original", &parent.to_string()),
            ("to", "s1@client1.example.org"),
            ("body", reply),
        ],
        &[],
    );
    let answer = browser.request("POST", "/mail/compose", Some((&content_type, body))).await;
    let sent = assert_sent(&answer);
    let submissions = s.app.store.submissions(s.user, None, 10).await.unwrap();
    assert_eq!(submissions.len(), 1);
    assert_eq!(submissions[0].id, sent);
    // Back in the conversation answered, where the toast says it is going and offers Undo.
    let location = answer.location().unwrap().to_owned();
    assert!(location.starts_with("/mail?open="), "{location}");
    let view = browser.get(&location).await;
    view.assert_contains("Sending…").assert_contains(&format!(r#"action="/mail/outbox/{sent}/cancel""#));
    view.assert_contains(r#"<a href="/mail/outbox">View message</a>"#);
    // Another user's message is not told of.
    let (_, mut other) = s.app.member("other@example.test", "member password 2").await;
    other.get(&format!("/mail?sent={sent}")).await.assert_lacks("/cancel").assert_lacks("Sending…");
    let outbox_page = browser.get("/mail/outbox?notice=message_queued").await;
    outbox_page.assert_contains("Re: Message 1").assert_contains("Take back").assert_contains("data-refresh");

    // Within the undo window nothing goes; after it, once.
    outbox(&s).send_due().await;
    assert!(gmail_copies(&s, &submissions[0].message_id).is_empty(), "not during the undo window");
    outbox(&s).send_due_at(mailroom_store::now() + 10).await;
    let copies = gmail_copies(&s, &submissions[0].message_id);
    assert_eq!(copies.len(), 1);
    let parsed = mailroom_mime::parse(&copies[0].0).into_message();
    assert_eq!(parsed.in_reply_to, vec!["m1@example.org"]);
    assert_eq!(parsed.to[0].address, "s1@client1.example.org");
    assert_eq!(parsed.attachments[0].name, "poznámky.txt");
    assert!(mailroom_mime::bodies(&copies[0].0).text.unwrap().starts_with(reply));
    browser.get("/mail/outbox").await.assert_contains("Sent").assert_lacks("Take back");
}

async fn a_forward_carries_the_originals_attachments_and_a_scheduled_one_waits_its_time_or_is_taken_back(
    backend: Backend,
) {
    let Some(mut s) = setup(backend, "google", 0).await else { return };
    {
        let now = s.sim.state.clock().now_ms();
        let raw = "From: Client <client@example.org>\r\nTo: ann@example.test\r\nSubject: Contract\r\n\
                   Message-ID: <contract@example.org>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
                   --b\r\nContent-Type: text/plain\r\n\r\nThe contract is attached.\r\n\
                   --b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=contract.pdf\r\n\r\n\
                   %PDF contract\r\n\
                   --b\r\nContent-Type: image/png\r\nContent-ID: <seal@example.org>\r\n\
                   Content-Disposition: inline; filename=seal.png\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                   iVBORw0K\r\n--b--\r\n";
        s.sim.state.world().gmail(ANN).unwrap().deliver(raw.as_bytes().to_vec(), &["INBOX"], now);
    }
    s.run().await;
    let original = s.id_of("Contract").await;
    let mut browser = signed_in(&s).await;
    let path = format!("/mail/compose?mode=forward&reply={original}");
    let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
    let at = tomorrow.format("%Y-%m-%dT%H:%M").to_string();
    // Picked by a user in Prague: the time is on Prague's clock, whatever the browser's is.
    s.app.store.set_user_time_zone(s.user, "Europe/Prague").await.unwrap();
    let changes = [("to", "lawyer@example.com"), ("send_at", &at)];
    let (page, answer) = compose(&mut browser, &path, &changes, &[]).await;
    assert_eq!(field(&page, "subject"), "Fwd: Contract");
    page.assert_contains("contract.pdf");
    assert!(body_of(&page).contains("The contract is attached."));
    assert_sent(&answer);
    // The mail view says when it goes, on the user's clock.
    browser.get(answer.location().unwrap()).await.assert_contains("Scheduled for");
    let scheduled = s.app.store.submissions(s.user, None, 10).await.unwrap().remove(0);
    let prague = jiff::tz::TimeZone::get("Europe/Prague").unwrap();
    let picked = prague.to_timestamp(jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M", &at).unwrap()).unwrap();
    assert_eq!(scheduled.send_at, picked.as_second(), "10:00 in Prague is 09:00 UTC in winter, 08:00 in summer");
    // Taken back from the outbox page: the message is a draft again, opened to be changed, with
    // its recipients, subject, text, files and its time, to keep or change.
    let outbox_page = browser.get("/mail/outbox").await;
    let csrf = outbox_page.csrf();
    let back = browser.post_raw(&format!("/mail/outbox/{}/cancel", scheduled.id), &[("csrf_token", &csrf)]).await;
    let back = back.location().unwrap().to_owned();
    assert!(back.starts_with("/mail/compose?draft=") && back.ends_with("&notice=send_taken_back"), "{back}");
    let draft_page = browser.get(&back).await;
    draft_page.assert_contains("contract.pdf").assert_contains("seal.png");
    assert_eq!(field(&draft_page, "send_at"), at, "the time it was scheduled for");
    assert_eq!(field(&draft_page, "subject"), "Fwd: Contract");
    assert_eq!(field(&draft_page, "to"), "lawyer@example.com");
    assert!(body_of(&draft_page).contains("The contract is attached."));
    let drafts = s.app.store.drafts(s.user).await.unwrap();
    assert_eq!(drafts.len(), 1, "in Drafts");
    assert_eq!(drafts[0].fields.subject, "Fwd: Contract");
    let files = s.app.store.draft_files_with_data(s.user, drafts[0].id).await.unwrap();
    let files: Vec<(&str, &[u8])> = files.iter().map(|(f, data)| (f.name.as_str(), data.as_slice())).collect();
    assert_eq!(files[0], ("contract.pdf", b"%PDF contract".as_slice()));
    assert_eq!(files[1].0, "seal.png");
    browser
        .post_raw(&format!("/mail/outbox/{}/cancel", scheduled.id), &[("csrf_token", &csrf)])
        .await
        .assert_redirect("/mail/outbox?notice=send_too_late");
    outbox(&s).send_due_at(scheduled.send_at + 1).await;
    assert!(gmail_copies(&s, &scheduled.message_id).is_empty());

    // Forwarded now, the original's file goes along.
    let (_, answer) = compose(&mut browser, &path, &[("to", "lawyer@example.com")], &[]).await;
    assert_sent(&answer);
    let sent = s.app.store.submissions(s.user, None, 10).await.unwrap().remove(0);
    outbox(&s).send_due_at(mailroom_store::now() + 10).await;
    let copies = gmail_copies(&s, &sent.message_id);
    let raw = &copies[0].0;
    let parsed = mailroom_mime::parse(raw).into_message();
    assert_eq!(parsed.subject, "Fwd: Contract");
    // The original's files and its inline image go along.
    let names: Vec<&str> = parsed.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["contract.pdf", "seal.png"]);
    assert_eq!(mailroom_mime::attachment_data(raw, 1).unwrap().data, [0x89, b'P', b'N', b'G', 0x0d, 0x0a]);
    assert_eq!(mailroom_mime::attachment_data(raw, 0).unwrap().data, b"%PDF contract");
    assert!(parsed.in_reply_to.is_empty(), "a forward starts its own conversation");

    // Scheduled with a file of its own and left to go: not a minute early, then at its time,
    // and in Sent after the next run.
    let changes = [("to", "notary@example.com"), ("subject", "Smlouva k podpisu"), ("send_at", &at)];
    let (_, answer) = compose(&mut browser, &path, &changes, &[("podpis.txt", "text/plain", b"sign here")]).await;
    assert_sent(&answer);
    let scheduled = s.app.store.submissions(s.user, None, 10).await.unwrap().remove(0);
    outbox(&s).send_due_at(scheduled.send_at - 60).await;
    assert!(gmail_copies(&s, &scheduled.message_id).is_empty(), "not before its time");
    outbox(&s).send_due_at(scheduled.send_at).await;
    let copies = gmail_copies(&s, &scheduled.message_id);
    assert_eq!(copies.len(), 1);
    let names: Vec<String> =
        mailroom_mime::parse(&copies[0].0).into_message().attachments.into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["podpis.txt", "contract.pdf", "seal.png"]);
    s.run().await;
    let sent = s.get("/api/v1/messages?kind=sent").await;
    assert!(sent["data"].as_array().unwrap().iter().any(|m| m["subject"] == "Smlouva k podpisu"), "{sent}");
}

async fn the_compose_form_shows_bad_input_at_its_field_and_needs_the_csrf_proof(backend: Backend) {
    let Some(s) = setup(backend, "google", 1).await else { return };
    let mut browser = signed_in(&s).await;
    let (_, answer) =
        compose(&mut browser, "/mail/compose", &[("to", "ok@example.org, nobody"), ("cc", "x@y")], &[]).await;
    answer.assert_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    answer.assert_contains("Not an email address: nobody").assert_contains("Not an email address: x@y");
    assert_eq!(field(&answer, "to"), "ok@example.org, nobody", "what was typed stays");
    // Said at once to a screen reader, and each error read with its field (To keeps its hint).
    answer
        .assert_contains(r#"<p class="error" role="alert">The message was not sent. Correct the marked fields.</p>"#)
        .assert_field_error(r#"id="to""#, "Not an email address: nobody")
        .assert_field_error(r#"id="cc""#, "Not an email address: x@y");
    assert!(answer.field_tag(r#"id="to""#).contains(r#"aria-describedby="to-error addresses-hint""#));
    assert!(!answer.field_tag(r#"id="subject""#).contains("aria-invalid"), "a field without an error is not marked");
    let (_, answer) =
        compose(&mut browser, "/mail/compose", &[("to", "ok@example.org"), ("send_at", "2001-01-01T10:00")], &[]).await;
    answer
        .assert_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY)
        .assert_field_error(r#"id="send_at""#, "Pick a time in the future.");
    let (_, answer) = compose(&mut browser, "/mail/compose", &[], &[]).await;
    answer.assert_field_error(r#"id="to""#, "Add at least one recipient.");
    // Without the proof, or with another's message, nothing happens.
    let (content_type, body) =
        multipart(&[("key", "k"), ("to", "ok@example.org"), ("from", &format!("{}:{ANN}", s.account.id.0))], &[]);
    let page = browser.request("POST", "/mail/compose", Some((&content_type, body))).await;
    page.assert_status(axum::http::StatusCode::FORBIDDEN);
    let (stranger, mut other) = s.app.member("other@example.test", "member password 2").await;
    let _ = stranger;
    let id = s.app.store.list_messages(s.user, &mailroom_store::MessageFilter::default(), None, 1).await.unwrap()[0].id;
    other.get(&format!("/mail/compose?mode=reply&reply={id}")).await.assert_status(axum::http::StatusCode::NOT_FOUND);
    assert!(s.app.store.submissions(s.user, None, 10).await.unwrap().is_empty());
}

/// Screen readers say each button's label, and the glyph that stands for it (B for bold) is hidden
/// from them, so that the name is the label alone; the numbered list's is drawn, not the text
/// "1.", which would be a visible label missing from the name (WCAG 2.5.3). The label stays a
/// tooltip for sighted users.
async fn the_editor_toolbars_buttons_are_named_by_their_labels_not_their_glyphs(backend: Backend) {
    let Some(s) = setup(backend, "google", 1).await else { return };
    let mut browser = signed_in(&s).await;
    let page = browser.get("/mail/compose").await;
    let buttons = regex_lite::Regex::new(
        r#"<button type="button" data-command="[^"]+"[^>]* title="([^"]+)" aria-label="([^"]+)">(.*?)</button>"#,
    )
    .unwrap();
    let glyph = regex_lite::Regex::new(r#"^<(?:b|i|u|span) aria-hidden="true">[^<]+</(?:b|i|u|span)>$"#).unwrap();
    let found: Vec<(String, String, String)> =
        buttons.captures_iter(&page.body).map(|c| (c[1].to_owned(), c[2].to_owned(), c[3].to_owned())).collect();
    assert_eq!(found.len(), 9, "{found:?}");
    for (title, label, content) in &found {
        assert_eq!(title, label);
        let drawn = content.starts_with(r#"<svg aria-hidden="true""#) && !content.contains("<text");
        assert!(
            content == label || glyph.is_match(content) || drawn,
            "{label}: {content} is not the label, nor hidden"
        );
    }
    assert!(found.iter().any(|(_, label, content)| label == "Numbered list" && content.starts_with("<svg")));
    assert!(found.iter().any(|(_, label, content)| label == "Link" && content == "Link"));
}

async fn a_signature_goes_under_new_messages_and_replies_and_only_known_addresses_send(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 1).await else { return };
    let mut browser = signed_in(&s).await;
    let page = browser.get("/settings/signatures").await;
    page.assert_contains(ANN);
    let account = s.account.id.0.to_string();
    let form = "application/x-www-form-urlencoded";
    let encode = |csrf: &str, address: &str, body: &str| {
        let fields = [("csrf_token", csrf), ("account", account.as_str()), ("address", address), ("body", body)];
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish().into_bytes()
    };
    let csrf = page.csrf();
    let signature = "Ann Example\r\nSales, Example Ltd.";
    browser
        .request("POST", "/settings/signatures", Some((form, encode(&csrf, ANN, signature))))
        .await
        .assert_redirect("/settings/signatures?notice=signature_saved");
    browser.get("/settings/signatures").await.assert_contains("Sales, Example Ltd.");
    // Too long, or an address the mailbox does not send from: nothing saved.
    for (address, body) in [(ANN, "x".repeat(10_001)), ("someone@example.org", "Other".to_owned())] {
        browser
            .request("POST", "/settings/signatures", Some((form, encode(&csrf, address, &body))))
            .await
            .assert_redirect("/settings/signatures?notice=signature_invalid");
    }
    assert_eq!(s.app.store.signature(s.account.id, "someone@example.org").await.unwrap(), None);

    // Under a new message, and above the quote of a reply.
    let new = unescape(&body_of(&browser.get("/mail/compose").await));
    assert_eq!(new, "\n\n-- \nAnn Example\nSales, Example Ltd.");
    let parent = s.id_of("Message 0").await;
    let reply = unescape(&body_of(&browser.get(&format!("/mail/compose?mode=reply&reply={parent}")).await));
    assert!(reply.starts_with("\n\n-- \nAnn Example\nSales, Example Ltd.\n\nOn "), "{reply:?}");

    // Another user cannot write a signature for Ann's mailbox.
    let (_, mut other) = s.app.member("other@example.test", "member password 2").await;
    let other_csrf = other.get("/settings/signatures").await.csrf();
    let page = other.request("POST", "/settings/signatures", Some((form, encode(&other_csrf, ANN, "Mine")))).await;
    page.assert_status(axum::http::StatusCode::NOT_FOUND);
    let kept = s.app.store.signature(s.account.id, ANN).await.unwrap();
    assert_eq!(kept.as_deref(), Some("Ann Example\nSales, Example Ltd."));

    // The API sends as a known identity only: another is not found, as another user's id is.
    let body = json!({"idempotency_key": "f1", "to": ["x@example.org"], "text": "x", "from": "boss@example.org"});
    let (status, answer) = send(&mut s, body).await;
    assert_eq!(status, 404, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("boss@example.org is not an address this mailbox sends from"), "{message}");
    let body = json!({"idempotency_key": "f2", "to": ["x@example.org"], "text": "x", "from": "ANN@example.test"});
    let (status, answer) = send(&mut s, body).await;
    assert_eq!(status, 202, "{answer}");
}

async fn a_reply_goes_out_as_the_alias_its_original_was_addressed_to(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 1).await else { return };
    const SALES: &str = "sales@example.test";
    {
        let now = s.sim.state.clock().now_ms();
        let mut world = s.sim.state.world();
        let mailbox = world.gmail(ANN).unwrap();
        mailbox.aliases.push((SALES.to_owned(), "Example Sales".to_owned()));
        let raw = "From: Buyer <buyer@example.org>\r\nTo: Example Sales <sales@example.test>\r\n\
                   Subject: Price list\r\nMessage-ID: <price@example.org>\r\n\
                   Date: Tue, 1 Oct 2024 11:00:00 +0000\r\n\r\nYour prices, please.\r\n";
        mailbox.deliver(raw.as_bytes().to_vec(), &["INBOX", "UNREAD"], now);
    }
    // Connecting again brings the alias among the mailbox's identities.
    let mut browser = signed_in(&s).await;
    crate::connect::connect(&mut browser, "google").await.assert_redirect("/accounts?notice=account_reconnected");
    s.run().await;
    let identities = s.app.store.identities(s.account.id).await.unwrap();
    assert!(identities.iter().any(|i| i.address == SALES && !i.is_default), "{identities:?}");
    s.app.store.set_signature(s.user, s.account.id, SALES, "Example Sales team", 1).await.unwrap();

    let account = s.account.id.0;
    let selected = |page: &Page| {
        let found = regex_lite::Regex::new(r#"<option value="([^"]+)" selected>"#).unwrap();
        found.captures(&page.body).map(|c| c[1].to_owned())
    };
    // The buyer wrote to the alias: the reply, reply all and forward go out as the alias, signed
    // as the alias.
    let price = s.id_of("Price list").await;
    for mode in ["reply", "all", "forward"] {
        let page = browser.get(&format!("/mail/compose?mode={mode}&reply={price}")).await;
        assert_eq!(selected(&page).as_deref(), Some(format!("{account}:{SALES}").as_str()), "{mode}");
        assert!(unescape(&body_of(&page)).starts_with("\n\n-- \nExample Sales team\n"), "{mode}");
    }
    // Mail to the primary address is answered from it; a new message starts from the default.
    let other = s.id_of("Message 0").await;
    let page = browser.get(&format!("/mail/compose?mode=reply&reply={other}")).await;
    assert_eq!(selected(&page).as_deref(), Some(format!("{account}:{ANN}").as_str()));
    let page = browser.get("/mail/compose").await;
    assert_eq!(selected(&page).as_deref(), Some(format!("{account}:{ANN}").as_str()));

    // Sent from the page as it was filled, the reply leaves as the alias.
    let (_, done) = compose(&mut browser, &format!("/mail/compose?mode=reply&reply={price}"), &[], &[]).await;
    assert_sent(&done);
    let submission = s.app.store.submissions(s.user, None, 10).await.unwrap().remove(0);
    outbox(&s).send_due_at(mailroom_store::now() + 10).await;
    let copies = gmail_copies(&s, &submission.message_id);
    assert_eq!(copies.len(), 1);
    let parsed = mailroom_mime::parse(&copies[0].0).into_message();
    let from = parsed.from.unwrap();
    assert_eq!((from.name.as_deref(), from.address.as_str()), (Some("Example Sales"), SALES));
    assert_eq!(parsed.to[0].address, "buyer@example.org");
}

async fn templates_are_written_started_from_and_filled_by_the_api(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 1).await else { return };
    let mut browser = signed_in(&s).await;
    let form = "application/x-www-form-urlencoded";
    let encode = |csrf: &str, id: &str, name: &str, subject: &str, body: &str| {
        let fields = [("csrf_token", csrf), ("id", id), ("name", name), ("subject", subject), ("body", body)];
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish().into_bytes()
    };
    let csrf = browser.get("/settings/templates").await.csrf();
    let (subject, body) = ("Order {{order}} shipped", "Dear {{ name }},\r\nyour order {{order}} is on its way.");
    browser
        .request("POST", "/settings/templates", Some((form, encode(&csrf, "", "Shipped", subject, body))))
        .await
        .assert_redirect("/settings/templates?notice=template_saved");
    let page = browser.get("/settings/templates").await;
    page.assert_contains("Shipped").assert_contains("{{order}} {{name}}");
    // A broken placeholder, or a name already used: shown at the form, nothing stored.
    for (name, body, error, field) in [
        ("Broken", "Hi {{name", "{{name}} is not closed", r#"id="body-new""#),
        ("Shipped", "Other", "You already have a template of this name.", r#"id="name-new""#),
    ] {
        let refused =
            browser.request("POST", "/settings/templates", Some((form, encode(&csrf, "", name, "", body)))).await;
        refused.assert_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(unescape(&refused.body).contains(error), "{error}");
        // Read with the field it is about.
        refused.assert_contains(r#"role="alert""#).assert_field_error(field, error.trim_start_matches("{{name}}"));
    }
    let stored = s.app.store.templates(s.user).await.unwrap();
    assert_eq!(stored.len(), 1);
    let id = stored[0].id;
    assert_eq!(stored[0].body, "Dear {{ name }},\nyour order {{order}} is on its way.");

    // A new message starts from it, its placeholders left to fill.
    let page = browser.get(&format!("/mail/compose?template={id}")).await;
    assert_eq!(unescape(&field(&page, "subject")), "Order {{order}} shipped");
    assert!(unescape(&body_of(&page)).starts_with("Dear {{ name }},\nyour order"), "{}", body_of(&page));
    page.assert_contains("data-unfilled");

    // The API lists it with its placeholders, and fills it from the caller's values.
    let listed = s.get("/api/v1/templates").await;
    assert_eq!(listed["data"][0]["name"], "Shipped");
    assert_eq!(listed["data"][0]["placeholders"], json!(["order", "name"]));
    let values = json!({"name": "Petr Černý", "order": "42 {{name}}"});
    let (status, first) = send(
        &mut s,
        json!({"idempotency_key": "t1", "to": ["petr@example.cz"],
        "template": "Shipped", "values": values}),
    )
    .await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["subject"], "Order 42 {{name}} shipped");
    // Without a value, with a value that would break the subject, or with no such template (not
    // found, as anything named that is not the caller's): refused, nothing stored.
    for (template, values, expected, error) in [
        ("Shipped", json!({"name": "Petr"}), 400, "template: no value was given for {{order}}"),
        ("Shipped", json!({"name": "Petr", "order": "1\r\nBcc: x@example.org"}), 400, "subject"),
        ("Nope", json!({}), 404, "template: you have no template named \"Nope\""),
    ] {
        let (status, answer) = send(
            &mut s,
            json!({"idempotency_key": "t2", "to": ["petr@example.cz"],
            "template": template, "values": values}),
        )
        .await;
        assert_eq!(status, expected, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(error), "{message}");
    }
    assert_eq!(s.app.store.submissions(s.user, None, 10).await.unwrap().len(), 1);
    outbox(&s).send_due_at(mailroom_store::now() + 10).await;
    let copies = gmail_copies(&s, first["message_id"].as_str().unwrap());
    assert_eq!(copies.len(), 1);
    let bodies = mailroom_mime::bodies(&copies[0].0);
    assert_eq!(bodies.text.unwrap().trim_end(), "Dear Petr Černý,\r\nyour order 42 {{name}} is on its way.");

    // Another user can neither start from it nor delete it.
    let (_, mut other) = s.app.member("other@example.test", "member password 2").await;
    other.get(&format!("/mail/compose?template={id}")).await.assert_status(axum::http::StatusCode::NOT_FOUND);
    let other_csrf = other.get("/settings/templates").await.csrf();
    let delete = format!("/settings/templates/{id}/delete");
    let proof = url::form_urlencoded::Serializer::new(String::new()).append_pair("csrf_token", &other_csrf).finish();
    let answer = other.request("POST", &delete, Some((form, proof.into_bytes()))).await;
    answer.assert_status(axum::http::StatusCode::NOT_FOUND);
    let answer = other
        .request("POST", "/settings/templates", Some((form, encode(&other_csrf, &id.to_string(), "Mine", "", ""))))
        .await;
    answer.assert_status(axum::http::StatusCode::NOT_FOUND);
    assert_eq!(s.app.store.templates(s.user).await.unwrap()[0].name, "Shipped");
    // Its owner deletes it.
    let proof = url::form_urlencoded::Serializer::new(String::new()).append_pair("csrf_token", &csrf).finish();
    browser
        .request("POST", &delete, Some((form, proof.into_bytes())))
        .await
        .assert_redirect("/settings/templates?notice=template_deleted");
    assert!(s.app.store.templates(s.user).await.unwrap().is_empty());
}

async fn addresses_from_the_users_own_mail_are_suggested(backend: Backend) {
    // Three messages: from s0@client0, s1@client1 and s2@client0.example.org, to Ann.
    let Some(mut s) = setup(backend, "google", 3).await else { return };
    fn addresses(answer: &Value) -> Vec<String> {
        answer["data"].as_array().unwrap().iter().map(|p| p["address"].as_str().unwrap().to_owned()).collect()
    }
    let found = s.get("/api/v1/addresses?q=S").await;
    assert_eq!(addresses(&found), ["s0@client0.example.org", "s1@client1.example.org", "s2@client0.example.org"]);
    assert_eq!(found["data"][0]["name"], "Sender 0");
    assert_eq!(found["data"][0]["messages"], 1);
    assert_eq!(found["data"][0]["sent"], 0);
    assert!(found["groups"].as_array().unwrap().is_empty());
    // By the words of the name, each typed word beginning one; the user's own address is never
    // suggested; `%` and `_` are no wildcards, and the middle of a word is no beginning.
    assert_eq!(addresses(&s.get("/api/v1/addresses?q=sender%201").await), ["s1@client1.example.org"]);
    assert_eq!(addresses(&s.get("/api/v1/addresses?q=SENDER%20CLIENT1").await), ["s1@client1.example.org"]);
    assert!(addresses(&s.get("/api/v1/addresses?q=nder").await).is_empty());
    assert!(addresses(&s.get("/api/v1/addresses?q=ann").await).is_empty());
    for nothing in ["%25", "_", "%20%20", "", "s_nder", "%25nder"] {
        let answer = s.get(&format!("/api/v1/addresses?q={nothing}")).await;
        assert!(addresses(&answer).is_empty(), "{nothing}: {answer}");
    }
    assert_eq!(addresses(&s.get("/api/v1/addresses?q=s&limit=1").await).len(), 1);
    for bad in ["/api/v1/addresses?q=s&limit=0", &format!("/api/v1/addresses?q={}", "x".repeat(201))] {
        let answer = s.api.get(bad).await;
        answer.assert_status(axum::http::StatusCode::BAD_REQUEST);
    }
    // Another user's mail suggests nothing here, and the page asks for suggestions.
    let (_, mut other) = s.app.member("other@example.test", "member password 2").await;
    let answer = other.get("/api/v1/addresses?q=s").await;
    answer.assert_status(axum::http::StatusCode::OK);
    assert!(answer.body.contains(r#""data":[]"#), "{}", answer.body);
    let mut browser = signed_in(&s).await;
    browser.get("/mail/compose").await.assert_contains(r#"id="to" name="to""#).assert_contains("data-suggest");
}

async fn a_message_sent_separately_goes_once_to_each_and_the_failed_ones_go_again(backend: Backend) {
    let Some(mut s) = setup(backend, "google", 1).await else { return };
    let mut browser = signed_in(&s).await;
    let to = "a@example.org, Bára <b@example.org>, \"Cyril & syn\" <c@example.org>";
    // With a copy: refused at the field, nothing stored.
    let fields = [("to", to), ("cc", "boss@example.org"), ("subject", "Pozvánka"), ("separately", "1")];
    let (_, refused) = compose(&mut browser, "/mail/compose", &fields, &[]).await;
    refused.assert_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_contains("leave Cc and Bcc empty");
    assert!(s.app.store.submissions(s.user, None, 10).await.unwrap().is_empty());
    let fields = [
        ("to", to),
        ("subject", "Pozvánka"),
        ("body", "Milá {{first_name}}, přijďte. {{later}}"),
        ("html", "<p>Milá <b>{{name}}</b></p>"),
        ("separately", "1"),
    ];
    let (page, done) = compose(&mut browser, "/mail/compose", &fields, &[]).await;
    done.assert_redirect("/mail/outbox?notice=message_queued");
    let key = field(&page, "key");
    let mut batch = s.app.store.submissions(s.user, None, 10).await.unwrap();
    batch.reverse();
    assert_eq!(batch.len(), 3);
    for (n, (submission, recipient)) in
        batch.iter().zip(["a@example.org", "Bára <b@example.org>", "Cyril & syn <c@example.org>"]).enumerate()
    {
        assert_eq!(submission.recipients, [recipient]);
        assert_eq!(submission.batch.as_deref(), Some(key.as_str()));
        assert_eq!(submission.idempotency_key, format!("{key}/{}", n + 1));
    }
    assert_eq!(batch[1].send_at - batch[0].send_at, 2, "paced");

    // The first goes; then every call to the provider is cut off until the others are given up.
    outbox(&s).send_due_at(batch[0].send_at).await;
    let quick = mailroom_sync::Limits {
        backoff_base: std::time::Duration::from_millis(1),
        backoff_cap: std::time::Duration::from_millis(2),
        ..mailroom_sync::Limits::default()
    };
    let mut engine = s.engine.clone();
    engine.pacing = mailroom_sync::Pacing::new(quick);
    let failing = Outbox::new(engine, "test-outbox".to_owned(), Arc::new(Notify::new()), s.app.sync_wake.clone());
    s.sim.state.set_faults(mailroom_sim::Faults { drop_rate: 1.0, ..mailroom_sim::Faults::default() });
    for round in 1..=16 {
        failing.send_due_at(mailroom_store::now() + round * 100_000).await;
    }
    s.sim.state.set_faults(mailroom_sim::Faults::default());
    let statuses = |list: &[mailroom_store::Submission]| list.iter().map(|s| s.status).collect::<Vec<_>>();
    let mut now = s.app.store.submissions(s.user, None, 10).await.unwrap();
    now.reverse();
    assert_eq!(statuses(&now), [SubmissionStatus::Accepted, SubmissionStatus::Failed, SubmissionStatus::Failed]);
    let outbox_page = browser.get("/mail/outbox").await;
    outbox_page.assert_contains("sent separately").assert_contains("1 sent, 2 failed, 0 waiting");

    // Another user's retry of this batch finds nothing of theirs, and changes nothing.
    let (_, mut other) = s.app.member("other@example.test", "member password 2").await;
    let other_csrf = other.get("/mail/outbox").await.csrf();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("csrf_token", other_csrf.as_str()), ("batch", key.as_str())])
        .finish();
    other
        .request("POST", "/mail/outbox/retry", Some(("application/x-www-form-urlencoded", form.into_bytes())))
        .await
        .assert_redirect("/mail/outbox?notice=nothing_to_retry");
    assert_eq!(
        s.app
            .store
            .submissions(s.user, None, 10)
            .await
            .unwrap()
            .iter()
            .filter(|s| s.status == SubmissionStatus::Failed)
            .count(),
        2
    );

    // Retry failed: each is looked for at Gmail first, then sent; every recipient has one copy.
    let csrf = outbox_page.csrf();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("csrf_token", csrf.as_str()), ("batch", key.as_str())])
        .finish();
    let answer = browser
        .request("POST", "/mail/outbox/retry", Some(("application/x-www-form-urlencoded", form.into_bytes())))
        .await;
    answer.assert_redirect("/mail/outbox?notice=retrying");
    outbox(&s).send_due_at(mailroom_store::now() + 10).await;
    let mut after = s.app.store.submissions(s.user, None, 10).await.unwrap();
    after.reverse();
    assert_eq!(statuses(&after), [SubmissionStatus::Accepted; 3]);
    for (submission, (address, greeting, html_name)) in after.iter().zip([
        ("a@example.org", "a", "a"),
        ("b@example.org", "Bára", "Bára"),
        ("c@example.org", "Cyril", "Cyril &amp; syn"),
    ]) {
        let copies = gmail_copies(&s, &submission.message_id);
        assert_eq!(copies.len(), 1, "{address} got one");
        let text = mailroom_mime::bodies(&copies[0].0).text.unwrap();
        assert_eq!(
            text.trim_end(),
            format!("Milá {greeting}, přijďte. {{{{later}}}}"),
            "each greeted, the rest as written"
        );
        let html = mailroom_mime::bodies(&copies[0].0).html.unwrap();
        assert!(html.contains(&format!("<p>Milá <b>{html_name}</b></p>")), "the name escaped in HTML: {html}");
        let parsed = mailroom_mime::parse(&copies[0].0).into_message();
        let to: Vec<&str> = parsed.to.iter().map(|m| m.address.as_str()).collect();
        assert_eq!(to, [address], "nobody sees the others");
        assert_eq!(parsed.subject, "Pozvánka");
    }

    // The API: the same, answered as a batch; a retried call sends nothing more; retry of
    // another user's batch finds nothing.
    let body = json!({"idempotency_key": "news", "to": ["x@example.org", "y@example.org"], "text": "Hi",
        "subject": "News", "separately": true});
    let (status, first) = send(&mut s, body.clone()).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["batch"], "news");
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert_eq!(first["data"][1]["idempotency_key"], "news/2");
    let (status, again) = send(&mut s, body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["data"][0]["id"], first["data"][0]["id"]);
    let (status, answer) = send(
        &mut s,
        json!({"idempotency_key": "n2", "to": ["x@example.org"],
        "bcc": ["z@example.org"], "text": "Hi", "separately": true}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let (_, retried) = s.post("/api/v1/submissions/retry", json!({"batch": key})).await;
    assert_eq!(retried["retried"], 0, "nothing failed any more");
    // The Outbox counts each batch, newest first.
    let page = browser.get("/mail/outbox").await;
    let news = page.body.find("0 sent, 0 failed, 2 waiting").expect("the API's batch, waiting");
    let first = page.body.find("3 sent, 0 failed, 0 waiting").expect("the first batch, all sent");
    assert!(news < first, "newest first");
}

async fn the_editors_formatting_and_pasted_image_arrive_as_html_with_an_inline_part(backend: Backend) {
    let Some(s) = setup(backend, "google", 1).await else { return };
    let mut browser = signed_in(&s).await;
    let png = vec![0x89, b'P', b'N', b'G', 0, 1, 2, 3];
    let data = base64::engine::general_purpose::STANDARD.encode(&png);
    let html = format!(
        "<div><b>Důležité</b>: <img src=\"data:image/png;base64,{data}\"></div><script>steal()</script>\
         <div onmouseover=\"x()\">konec</div>"
    );
    let fields = [("to", "petr@example.cz"), ("subject", "Graf"), ("body", "Důležité:\nkonec"), ("html", &html)];
    let (_, done) = compose(&mut browser, "/mail/compose", &fields, &[]).await;
    assert_sent(&done);
    let submission = s.app.store.submissions(s.user, None, 1).await.unwrap().remove(0);
    outbox(&s).send_due_at(mailroom_store::now() + 10).await;
    let copies = gmail_copies(&s, &submission.message_id);
    assert_eq!(copies.len(), 1);
    let raw = &copies[0].0;
    let bodies = mailroom_mime::bodies(raw);
    let sent_html = bodies.html.unwrap();
    assert!(sent_html.contains("<b>Důležité</b>"), "{sent_html}");
    assert!(!sent_html.contains("steal") && !sent_html.contains("onmouseover"), "{sent_html}");
    let cid = regex_lite::Regex::new(r#"src="cid:([^"]+)""#).unwrap().captures(&sent_html).unwrap()[1].to_owned();
    assert_eq!(mailroom_mime::part_by_content_id(raw, &cid).unwrap().data, png);
    assert_eq!(bodies.text.unwrap().replace("\r\n", "\n").trim_end(), "Důležité:\nkonec");

    // A pasted image over 10 MiB is refused at the body, nothing sent.
    let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 10 * 1024 * 1024 + 1]);
    let html = format!("<img src=\"data:image/png;base64,{big}\">");
    let (_, refused) = compose(&mut browser, "/mail/compose", &[("to", "petr@example.cz"), ("html", &html)], &[]).await;
    refused.assert_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_contains("larger than 10 MiB");
    assert_eq!(s.app.store.submissions(s.user, None, 10).await.unwrap().len(), 1);
}

async fn a_large_file_goes_to_outlook_through_an_upload_session_and_a_cut_off_try_leaves_no_draft(backend: Backend) {
    let Some(mut s) = setup(backend, "microsoft", 1).await else { return };
    // 5 MB: over Graph's 4 MB request, so the message goes up without it and it follows.
    let big: Vec<u8> = (0..5 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let body = json!({"idempotency_key": "big1", "to": [ANN], "subject": "Výkresy", "text": "V příloze.",
    "attachments": [
        {"name": "výkres.pdf", "content_type": "application/pdf", "content_base64": b64(&big)},
        {"name": "poznámka.txt", "content_type": "text/plain", "content_base64": b64(b"small")},
    ]});
    let (status, submission) = send(&mut s, body).await;
    assert_eq!(status, 202, "{submission}");
    let id = submission["id"].as_i64().unwrap();
    let files = s.app.store.submission_files(id).await.unwrap();
    assert_eq!(files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["výkres.pdf", "poznámka.txt"]);

    // A try cut off after it staged its draft at Outlook: the next deletes that draft first.
    let store = &s.app.store;
    let now = mailroom_store::now();
    let first = store.claim_submission("dead-process", now, 1).await.unwrap().unwrap();
    let account = store.account(s.account.id).await.unwrap().unwrap();
    let token = s.engine.tokens.access_token(&account).await.unwrap();
    let staged = s.engine.providers.graph_draft_create(&token, &first.raw).await.unwrap();
    store.submission_staged(first.id, "dead-process", &staged.id).await.unwrap();
    outbox(&s).send_due_at(now + 10).await;

    let message_id = submission["message_id"].as_str().unwrap();
    let shown = s.get(&format!("/api/v1/submissions/{id}")).await;
    assert_eq!(shown["status"], "accepted", "{shown}");
    let mut world = s.sim.state.world();
    let mailbox = world.graph(CARL).unwrap();
    let (sent, drafts) = (mailbox.well_known_id("sentitems"), mailbox.well_known_id("drafts"));
    let deleted = mailbox.well_known_id("deleteditems");
    let copies: Vec<_> = mailbox.messages.iter().filter(|m| m.internet_message_id == message_id).collect();
    // Sent once; the staged draft was deleted, which at Graph removes it outright.
    let places: Vec<&str> = copies.iter().map(|m| m.folder_id.as_str()).collect();
    assert_eq!(places, [sent.as_str()], "{places:?}");
    assert!(mailbox.messages.iter().all(|m| m.folder_id != deleted), "nothing left in Deleted Items");
    assert!(mailbox.messages.iter().all(|m| m.folder_id != drafts), "no draft left behind");
    let copies: Vec<_> = copies.into_iter().filter(|m| m.folder_id == sent).collect();
    let mut names: Vec<(&str, usize)> =
        copies[0].attachments.iter().map(|a| (a.name.as_str(), a.bytes.len())).collect();
    names.sort();
    assert_eq!(names, [("poznámka.txt", 5), ("výkres.pdf", big.len())]);
    // The recipient got the file whole.
    let raw = world
        .gmail(ANN)
        .unwrap()
        .messages()
        .find(|m| m.summary.message_id.as_deref() == Some(message_id))
        .map(|m| m.raw.clone())
        .expect("delivered");
    let parsed = mailroom_mime::parse(&raw).into_message();
    let position = parsed.attachments.iter().position(|a| a.name == "výkres.pdf").unwrap();
    assert_eq!(mailroom_mime::attachment_data(&raw, position).unwrap().data, big);
}

/// Two 1.8 MB files: each is under 3 MB, together over Graph's 4 MB request. The message goes up
/// as a draft without them, each follows in a request of its own, and the draft is sent; the
/// recipient gets both whole. (This was refused as "this mailbox sends at most 3145728".)
async fn a_message_over_four_megabytes_of_small_files_goes_to_outlook_file_by_file(backend: Backend) {
    let Some(mut s) = setup(backend, "microsoft", 1).await else { return };
    let file = |seed: u32| -> Vec<u8> { (0..1_800_000u32).map(|i| ((i * 7 + seed) % 251) as u8).collect() };
    let (first, second) = (file(1), file(2));
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let body = json!({"idempotency_key": "two-files", "to": [ANN], "subject": "Fotky", "text": "Dvě fotky.",
    "attachments": [
        {"name": "a.jpg", "content_type": "image/jpeg", "content_base64": b64(&first)},
        {"name": "b.jpg", "content_type": "image/jpeg", "content_base64": b64(&second)},
    ]});
    let (status, submission) = send(&mut s, body).await;
    assert_eq!(status, 202, "{submission}");
    let id = submission["id"].as_i64().unwrap();
    s.sim.state.world().log.clear();
    outbox(&s).send_due_at(mailroom_store::now() + 10).await;

    let shown = s.get(&format!("/api/v1/submissions/{id}")).await;
    assert_eq!(shown["status"], "accepted", "{shown}");
    let message_id = submission["message_id"].as_str().unwrap();
    let requests: Vec<(String, String, u16)> = s
        .sim
        .state
        .world()
        .log
        .iter()
        .filter(|r| r.path.starts_with("/microsoft/v1.0/"))
        .map(|r| (r.method.clone(), r.path.rsplit('/').next().unwrap_or_default().to_owned(), r.status))
        .collect();
    let attached = requests.iter().filter(|r| (r.0.as_str(), r.1.as_str(), r.2) == ("POST", "attachments", 201));
    assert_eq!(attached.count(), 2, "one request per file: {requests:?}");
    assert!(requests.iter().all(|r| r.1 != "createUploadSession"), "no file needed a session: {requests:?}");
    assert!(requests.iter().any(|r| (r.0.as_str(), r.1.as_str(), r.2) == ("POST", "send", 202)), "{requests:?}");
    let raw = s
        .sim
        .state
        .world()
        .gmail(ANN)
        .unwrap()
        .messages()
        .find(|m| m.summary.message_id.as_deref() == Some(message_id))
        .map(|m| m.raw.clone())
        .expect("delivered");
    for (position, bytes) in [first, second].iter().enumerate() {
        assert_eq!(&mailroom_mime::attachment_data(&raw, position).unwrap().data, bytes, "file {position}");
    }
}

/// The compose page in a panel over the mail view (`panel=1`): without the page's frame, kept so
/// through a form error; sent or discarded, it ends on a page holding only the toast (with its
/// Undo) that the mail view takes over.
async fn a_compose_panel_keeps_its_frame_through_an_error_and_hands_its_toast_to_the_mail_view(backend: Backend) {
    let Some(s) = setup(backend, "google", 1).await else { return };
    let mut browser = signed_in(&s).await;
    let page = browser.get("/mail/compose?panel=1").await;
    page.assert_contains(r#"<body class="in-panel">"#)
        .assert_contains(r#"<input type="hidden" name="panel" value="1">"#);
    // Cc, Bcc and the send options are there for the page's script to fold away.
    page.assert_contains(r#"data-show-field="cc""#).assert_contains(r#"<details class="send-options">"#);
    // Framed by Mailroom's own pages only; the page on its own by none.
    let policy = |page: &Page| page.headers["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy(&page).contains("frame-ancestors 'self'"), "{}", policy(&page));
    assert_eq!(page.headers["x-frame-options"], "SAMEORIGIN");
    let whole = browser.get("/mail/compose").await;
    whole.assert_lacks("in-panel").assert_lacks(r#"name="panel""#);
    assert!(policy(&whole).contains("frame-ancestors 'none'"));
    assert_eq!(whole.headers["x-frame-options"], "DENY");
    let (_, error) = compose(&mut browser, "/mail/compose?panel=1", &[("to", "nobody"), ("panel", "1")], &[]).await;
    error.assert_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY).assert_contains(r#"<body class="in-panel">"#);
    // A time asked for opens the send options, so the user sees it.
    let (_, error) = compose(
        &mut browser,
        "/mail/compose?panel=1",
        &[("to", "a@example.org"), ("send_at", "2001-01-01T10:00"), ("panel", "1")],
        &[],
    )
    .await;
    error.assert_contains(r#"<details class="send-options" open>"#);

    let (_, sent) = compose(
        &mut browser,
        "/mail/compose?panel=1",
        &[("to", "petr@example.org"), ("subject", "Z panelu"), ("panel", "1")],
        &[],
    )
    .await;
    let location = sent.location().unwrap().to_owned();
    let id = s.app.store.submissions(s.user, None, 1).await.unwrap().remove(0).id;
    assert_eq!(location, format!("/mail/compose/closed?sent={id}"));
    let closed = browser.get(&location).await;
    closed
        .assert_contains("Sending…")
        .assert_contains(&format!(r#"action="/mail/outbox/{id}/cancel" data-toast-undo"#));
    // Another user learns nothing of it.
    let (_, mut other) = s.app.member("other@example.test", "member password 2").await;
    other
        .get(&location)
        .await
        .assert_status(axum::http::StatusCode::OK)
        .assert_lacks("Sending…")
        .assert_lacks("/cancel");

    // Discarded from a panel: the same, with the draft's Undo.
    let (_, saved) = {
        let page = browser.get("/mail/compose?panel=1").await;
        let from = format!("{}:{ANN}", s.account.id.0);
        let fields =
            [("csrf_token", page.csrf()), ("mode", "new".into()), ("from", from), ("to", "x@example.org".into())];
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (content_type, body) = multipart(&borrowed, &[]);
        let answer = browser.request("POST", "/mail/drafts/save", Some((&content_type, body))).await;
        (answer.status, serde_json::from_str::<Value>(&answer.body).unwrap())
    };
    let draft = saved["id"].as_i64().unwrap().to_string();
    let gone = browser.submit("/mail", "/mail/compose/discard", &[("draft", &draft), ("panel", "1")]).await;
    gone.assert_redirect(&format!("/mail/compose/closed?discarded={draft}"));
    browser
        .get(gone.location().unwrap())
        .await
        .assert_contains("The draft is discarded.")
        .assert_contains(&format!(r#"action="/mail/drafts/{draft}/restore""#));
}

/// A template an administrator shares is offered to every user, on the templates page and in
/// compose, and a message starts from it; only its owner changes it, and only an administrator
/// shares.
async fn an_administrators_shared_template_is_offered_to_everyone_and_stays_theirs(backend: Backend) {
    let Some(s) = setup(backend, "google", 1).await else { return };
    let (admin, mut boss) = s.app.admin().await;
    let fields = [
        ("id", ""),
        ("name", "Nabídka"),
        ("subject", "Nabídka pro {{company}}"),
        ("body", "Dobrý den,"),
        ("shared", "1"),
    ];
    boss.submit("/settings/templates", "/settings/templates", &fields)
        .await
        .assert_redirect("/settings/templates?notice=template_saved");
    let id = s.app.store.templates(admin.id).await.unwrap()[0].id;
    boss.get("/settings/templates").await.assert_contains(r#"name="shared" value="1" checked"#);

    let mut browser = signed_in(&s).await;
    let list = browser.get("/settings/templates").await;
    list.assert_contains("Shared with everyone")
        .assert_contains(&format!("by {}", admin.name))
        .assert_lacks(r#"name="shared""#);
    browser.get("/mail/compose").await.assert_contains(&format!(r#"href="/mail/compose?template={id}">Nabídka</a>"#));
    let started = browser.get(&format!("/mail/compose?template={id}")).await;
    assert_eq!(unescape(&field(&started, "subject")), "Nabídka pro {{company}}");
    assert!(body_of(&started).starts_with("Dobrý den,"));

    // It stays the administrator's: a member can neither change nor delete it, nor share one.
    let edit = [("id", id.to_string()), ("name", "Mine now".into()), ("subject", "x".into()), ("body", "y".into())];
    let edit: Vec<(&str, &str)> = edit.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser
        .submit("/settings/templates", "/settings/templates", &edit)
        .await
        .assert_status(axum::http::StatusCode::NOT_FOUND);
    browser
        .submit("/settings/templates", &format!("/settings/templates/{id}/delete"), &[])
        .await
        .assert_status(axum::http::StatusCode::NOT_FOUND);
    let share = [("id", ""), ("name", "Everyone's"), ("subject", "s"), ("body", "b"), ("shared", "1")];
    browser
        .submit("/settings/templates", "/settings/templates", &share)
        .await
        .assert_status(axum::http::StatusCode::FORBIDDEN);
    assert!(s.app.store.templates(s.user).await.unwrap().is_empty(), "nothing made");
    assert_eq!(s.app.store.template(admin.id, id).await.unwrap().unwrap().name, "Nabídka");

    // No longer shared: no longer offered.
    let unshare = [("id", id.to_string()), ("name", "Nabídka".into()), ("subject", "s".into()), ("body", "b".into())];
    let unshare: Vec<(&str, &str)> = unshare.iter().map(|(k, v)| (*k, v.as_str())).collect();
    boss.submit("/settings/templates", "/settings/templates", &unshare)
        .await
        .assert_redirect("/settings/templates?notice=template_saved");
    browser.get(&format!("/mail/compose?template={id}")).await.assert_status(axum::http::StatusCode::NOT_FOUND);
    browser.get("/settings/templates").await.assert_lacks("Shared with everyone");
}

/// A signature written with the editor keeps its formatting and its pasted logo: a new message's
/// editor starts with it (kept apart from the form, so the page without script sends the text),
/// and the message sent carries it as HTML with the logo as an inline part. Without the editor,
/// the plain text saved replaces the formatted one.
async fn a_formatted_signature_with_a_logo_starts_the_editor_and_goes_out_as_html(backend: Backend) {
    let Some(s) = setup(backend, "google", 1).await else { return };
    let mut browser = signed_in(&s).await;
    let page = browser.get("/settings/signatures").await;
    page.assert_contains("data-rich").assert_contains(r#"class="editor-toolbar""#);
    let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let logo = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png));
    let html = format!(r#"<div><b>Ann Example</b></div><div><img src="{logo}"></div><script>steal()</script>"#);
    let account = s.account.id.0.to_string();
    let fields =
        [("account", account.as_str()), ("address", ANN), ("body", "Ann Example"), ("html", &html), ("rich", "1")];
    browser
        .submit("/settings/signatures", "/settings/signatures", &fields)
        .await
        .assert_redirect("/settings/signatures?notice=signature_saved");
    let kept = s.app.store.signature_html(s.account.id, ANN).await.unwrap().expect("kept formatted");
    assert!(
        kept.contains("<b>Ann Example</b>") && kept.contains("data:image/png") && !kept.contains("script"),
        "{kept}"
    );

    let compose_page = browser.get("/mail/compose").await;
    compose_page.assert_contains(r#"<template class="initial-html">"#).assert_contains("<b>Ann Example</b>");
    assert_eq!(field(&compose_page, "html"), "", "the form itself holds no HTML");
    assert_eq!(unescape(&body_of(&compose_page)), "\n\n-- \nAnn Example");

    // Sent as the editor leaves it: the HTML with the logo, which goes as an inline part.
    let editor = format!(r#"<div>Hello</div><div>-- </div><div><b>Ann Example</b></div><div><img src="{logo}"></div>"#);
    let changes =
        [("to", "petr@example.org"), ("subject", "Logo"), ("body", "Hello\n-- \nAnn Example"), ("html", &editor)];
    let (_, answer) = compose(&mut browser, "/mail/compose", &changes, &[]).await;
    assert_sent(&answer);
    let submission = s.app.store.submissions(s.user, None, 1).await.unwrap().remove(0);
    let raw = s.app.store.submission_raw(s.user, submission.id).await.unwrap().unwrap();
    let sent_html = mailroom_mime::bodies(&raw).html.unwrap_or_default();
    assert!(sent_html.contains("<b>Ann Example</b>") && sent_html.contains("cid:"), "{sent_html}");
    assert_eq!(mailroom_mime::attachment_data(&raw, 0).unwrap().data, png);

    // Saved without the editor (no script): the text is what the user changed; no stale HTML.
    let plain = [("account", account.as_str()), ("address", ANN), ("body", "Ann"), ("html", &html)];
    browser.submit("/settings/signatures", "/settings/signatures", &plain).await;
    assert_eq!(s.app.store.signature_html(s.account.id, ANN).await.unwrap(), None);
    browser.get("/mail/compose").await.assert_lacks("initial-html");
}

async fn a_large_file_is_kept_apart_goes_whole_to_gmail_and_comes_back_when_taken_back(backend: Backend) {
    Box::pin(large_file_round_trip(backend, "google")).await;
}

async fn a_large_file_is_kept_apart_goes_whole_to_outlook_and_comes_back_when_taken_back(backend: Backend) {
    Box::pin(large_file_round_trip(backend, "microsoft")).await;
}

/// A 3 MB file (over `APART_MIN`) sent from the compose page: the submission keeps it once,
/// apart from the built message; Undo gives it back whole with the text; sent again, the
/// provider gets the message with the file whole beside a small one.
async fn large_file_round_trip(backend: Backend, provider: &str) {
    let Some(s) = setup(backend, provider, 0).await else { return };
    let big: Vec<u8> = (0..3_000_001u32).map(|i| ((i * 13 + 5) % 251) as u8).collect();
    let mut browser = signed_in(&s).await;
    let files: [(&str, &str, &[u8]); 2] =
        [("plány 2027.pdf", "application/pdf", &big), ("poznámka.txt", "text/plain", b"small")];
    let changes = [("to", "partner@example.org"), ("subject", "Plány"), ("body", "Plány jsou v příloze.")];
    let (_, answer) = compose(&mut browser, "/mail/compose", &changes, &files).await;
    let id = assert_sent(&answer);
    let store = &s.app.store;
    let raw = store.submission_raw(s.user, id).await.unwrap().unwrap();
    assert!(raw.len() < 10_000, "the built message holds no file: {} bytes", raw.len());
    let apart = store.submission_files(id).await.unwrap();
    let apart: Vec<(&str, i64)> = apart.iter().map(|f| (f.name.as_str(), f.size)).collect();
    assert_eq!(apart, [("plány 2027.pdf", 3_000_001), ("poznámka.txt", 5)]);

    // Undo: the draft it was written in has its text and both files whole, once each.
    let csrf = browser.get("/mail/outbox").await.csrf();
    let back = browser.post_raw(&format!("/mail/outbox/{id}/cancel"), &[("csrf_token", &csrf)]).await;
    let back = back.location().unwrap().to_owned();
    let draft_page = browser.get(&back).await;
    draft_page.assert_contains("plány 2027.pdf").assert_contains("poznámka.txt");
    assert!(body_of(&draft_page).contains("Plány jsou v příloze."));
    let drafts = store.drafts(s.user).await.unwrap();
    assert_eq!(drafts.len(), 1);
    let kept = store.draft_files_with_data(s.user, drafts[0].id).await.unwrap();
    let kept: Vec<(&str, &[u8])> = kept.iter().map(|(f, data)| (f.name.as_str(), data.as_slice())).collect();
    assert_eq!(kept, [("plány 2027.pdf", big.as_slice()), ("poznámka.txt", b"small".as_slice())]);

    // Sent again from the draft, and let go.
    let (_, answer) = compose(&mut browser, &back, &[], &[]).await;
    let id = assert_sent(&answer);
    let sent = store.submission(s.user, id).await.unwrap().unwrap();
    outbox(&s).send_due_at(mailroom_store::now() + 10).await;
    let sent = store.submission(s.user, sent.id).await.unwrap().unwrap();
    assert_eq!(sent.status, SubmissionStatus::Accepted, "{sent:?}");
    let message_id = sent.message_id.as_str();
    let raw = match provider {
        "google" => {
            let copies = gmail_copies(&s, message_id);
            assert_eq!(copies.len(), 1, "sent once");
            copies[0].0.clone()
        }
        _ => {
            let mut world = s.sim.state.world();
            let mailbox = world.graph(CARL).unwrap();
            let sent_items = mailbox.well_known_id("sentitems");
            let copies: Vec<_> = mailbox.messages.iter().filter(|m| m.internet_message_id == message_id).collect();
            assert_eq!(copies.len(), 1, "sent once, no draft left");
            assert_eq!(copies[0].folder_id, sent_items);
            let mut names: Vec<(&str, usize)> =
                copies[0].attachments.iter().map(|a| (a.name.as_str(), a.bytes.len())).collect();
            names.sort();
            assert_eq!(names, [("plány 2027.pdf", big.len()), ("poznámka.txt", 5)]);
            assert!(copies[0].attachments.iter().any(|a| a.bytes == big), "the file whole");
            Vec::new()
        }
    };
    if provider == "google" {
        let parsed = mailroom_mime::parse(&raw).into_message();
        assert_eq!(parsed.subject, "Plány");
        assert!(mailroom_mime::bodies(&raw).text.unwrap_or_default().contains("Plány jsou v příloze."));
        let names: Vec<&str> = parsed.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["plány 2027.pdf", "poznámka.txt"]);
        assert_eq!(mailroom_mime::attachment_data(&raw, 0).unwrap().data, big);
        assert_eq!(mailroom_mime::attachment_data(&raw, 1).unwrap().data, b"small");
    }
    assert!(store.drafts(s.user).await.unwrap().is_empty(), "the draft went with the message");
}
