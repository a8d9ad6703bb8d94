use super::*;
use crate::{ParseOutcome, ParsedMessage, attachment_data, bodies, parse};

fn mailbox(address: &str) -> Mailbox {
    Mailbox::new(None, address, Field::To).unwrap()
}

fn from() -> Mailbox {
    Mailbox::new(Some("Jana Nováková"), "jana@example.com", Field::From).unwrap()
}

#[test]
fn address_fields_take_names_quotes_and_both_separators() {
    let list =
        parse_address_list(Field::To, r#"Petr Svoboda <petr@example.cz>; "Doe, John" <john@x.org>, a@b.co"#).unwrap();
    assert_eq!(
        list,
        vec![
            Mailbox { name: Some("Petr Svoboda".into()), address: "petr@example.cz".into() },
            Mailbox { name: Some("Doe, John".into()), address: "john@x.org".into() },
            Mailbox { name: None, address: "a@b.co".into() },
        ]
    );
    assert_eq!(parse_address_list(Field::Cc, "   ").unwrap(), Vec::new());
}

#[test]
fn a_bad_entry_is_named_and_the_field_refused() {
    let error = parse_address_list(Field::Cc, "ok@example.com, not an address").unwrap_err();
    assert_eq!(error, ComposeError::InvalidAddress { field: Field::Cc, value: "not an address".into() });
    assert_eq!(error.field(), Field::Cc);
    assert!(parse_address_list(Field::To, "a@b").is_err(), "a domain needs a dot");
    assert!(parse_address_list(Field::To, "a..b@example.com").is_err());
    assert!(parse_address_list(Field::To, "<>").is_err());
}

#[test]
fn line_breaks_never_reach_a_header() {
    let injected = "victim@example.com\r\nBcc: everyone@example.com";
    assert_eq!(
        parse_address_list(Field::To, injected).unwrap_err(),
        ComposeError::ControlCharacter { field: Field::To }
    );
    let draft = Draft {
        to: vec![mailbox("a@example.com")],
        subject: "Hello\r\nBcc: everyone@example.com".into(),
        ..Draft::default()
    };
    assert_eq!(Outgoing::new(from(), draft).unwrap_err(), ComposeError::ControlCharacter { field: Field::Subject });
    assert!(Mailbox::new(Some("Eve\nX-Evil: 1"), "eve@example.com", Field::From).is_err());
    let draft = Draft {
        to: vec![mailbox("a@example.com")],
        attachments: vec![OutgoingAttachment {
            name: "a\r\n.txt".into(),
            content_type: "text/plain".into(),
            bytes: b"x".to_vec(),
        }],
        ..Draft::default()
    };
    assert_eq!(Outgoing::new(from(), draft).unwrap_err(), ComposeError::ControlCharacter { field: Field::Attachment });
}

#[test]
fn no_recipient_no_message_and_at_most_a_hundred() {
    assert_eq!(Outgoing::new(from(), Draft::default()).unwrap_err(), ComposeError::NoRecipient);
    let many = (0..=MAX_RECIPIENTS).map(|i| mailbox(&format!("r{i}@example.com"))).collect();
    let draft = Draft { bcc: many, ..Draft::default() };
    assert_eq!(Outgoing::new(from(), draft).unwrap_err(), ComposeError::TooManyRecipients);
}

#[test]
fn built_mail_parses_back_with_czech_names_threading_and_attachments() {
    let draft = Draft {
        to: vec![Mailbox::new(Some("Petr Černý"), "petr@example.cz", Field::To).unwrap()],
        cc: vec![mailbox("cc@example.com")],
        bcc: vec![mailbox("hidden@example.com")],
        subject: "  Příliš žluťoučký kůň  ".into(),
        text: "Dobrý den,\npřílohy posílám.".into(),
        html: Some("<p>Dobrý den,<br>přílohy posílám.</p>".into()),
        in_reply_to: Some("parent@example.cz".into()),
        references: vec!["root@example.cz".into(), "parent@example.cz".into(), "bad id <x>".into()],
        attachments: vec![OutgoingAttachment {
            name: "přehled.pdf".into(),
            content_type: "application/pdf".into(),
            bytes: b"%PDF-1.4 tiny".to_vec(),
        }],
        inline: vec![],
    };
    let outgoing = Outgoing::new(from(), draft).unwrap();
    let raw = outgoing.build("abc123@example.com", 1_700_000_000);
    let ParseOutcome::Parsed(parsed) = parse(&raw) else { panic!("the built message does not parse") };
    assert_eq!(parsed.subject, "Příliš žluťoučký kůň");
    assert_eq!(parsed.from.as_ref().unwrap().name.as_deref(), Some("Jana Nováková"));
    assert_eq!(parsed.to[0].name.as_deref(), Some("Petr Černý"));
    assert_eq!(parsed.cc[0].address, "cc@example.com");
    assert_eq!(parsed.bcc[0].address, "hidden@example.com");
    assert_eq!(parsed.message_id.as_deref(), Some("abc123@example.com"));
    assert_eq!(parsed.in_reply_to, vec!["parent@example.cz"]);
    assert_eq!(parsed.references, vec!["root@example.cz", "parent@example.cz"]);
    assert_eq!(parsed.date.unwrap().timestamp(), 1_700_000_000);
    assert_eq!(parsed.attachments.len(), 1);
    assert_eq!(parsed.attachments[0].name, "přehled.pdf");
    assert_eq!(attachment_data(&raw, 0).unwrap().data, b"%PDF-1.4 tiny");
    let bodies = bodies(&raw);
    assert!(bodies.text.unwrap().contains("přílohy posílám"));
    assert!(bodies.html.unwrap().contains("<p>Dobrý den"));
    let headers = String::from_utf8_lossy(&raw[..raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap()]).into_owned();
    assert!(headers.is_ascii(), "non-ASCII is encoded in headers: {headers}");
}

#[test]
fn reply_and_forward_subjects_do_not_stack() {
    assert_eq!(reply_subject("Re: RE: Fwd: Offer"), "Re: Offer");
    assert_eq!(forward_subject("Re: Offer"), "Fwd: Offer");
    assert_eq!(reply_subject(""), "Re: ");
}

#[test]
fn a_reply_references_the_thread_then_its_parent_once() {
    let refs = reply_references("b@x", &["a@x".into(), "b@x".into()]);
    assert_eq!(refs, vec!["a@x", "b@x"]);
    assert_eq!(reply_references("a@x", &[]), vec!["a@x"]);
}

fn original(raw: &str) -> ParsedMessage {
    parse(raw.as_bytes()).into_message()
}

#[test]
fn a_reply_goes_to_reply_to_else_the_sender_and_to_all_without_oneself() {
    let own = vec!["me@example.com".to_owned()];
    let message = original(
        "From: Boss <boss@example.com>\r\nReply-To: list@example.com\r\nTo: me@example.com, Colleague <col@example.com>\r\n\
         Cc: other@example.com, ME@example.com\r\nSubject: Plan\r\n\r\nHi\r\n",
    );
    let (to, cc) = reply_recipients(&message, &own, false);
    assert_eq!(to.iter().map(|m| m.address.as_str()).collect::<Vec<_>>(), ["list@example.com"]);
    assert!(cc.is_empty());
    let (to, cc) = reply_recipients(&message, &own, true);
    assert_eq!(to.iter().map(|m| m.address.as_str()).collect::<Vec<_>>(), ["list@example.com", "col@example.com"]);
    assert_eq!(to[1].name.as_deref(), Some("Colleague"));
    assert_eq!(cc.iter().map(|m| m.address.as_str()).collect::<Vec<_>>(), ["other@example.com"]);
    let plain = original("From: Boss <boss@example.com>\r\nTo: me@example.com\r\nSubject: x\r\n\r\nHi\r\n");
    assert_eq!(reply_recipients(&plain, &own, false).0[0].address, "boss@example.com");
    // Replying to one's own message answers its recipients.
    let mine = original("From: me@example.com\r\nTo: client@example.org\r\nSubject: x\r\n\r\nHi\r\n");
    assert_eq!(reply_recipients(&mine, &own, false).0[0].address, "client@example.org");
}

#[test]
fn replies_quote_and_forwards_carry_the_original() {
    let body = quoted_reply("On Monday, Boss wrote:", "Line one\n\nLine two\n");
    assert_eq!(body, "\n\nOn Monday, Boss wrote:\n> Line one\n>\n> Line two\n");
    let body = forwarded_body(
        "Forwarded message",
        &[("From", "Boss <boss@example.com>".into()), ("Cc", String::new())],
        "Text",
    );
    assert_eq!(body, "\n\n---------- Forwarded message ----------\nFrom: Boss <boss@example.com>\n\nText\n");
}

#[test]
fn an_html_body_with_pasted_images_is_related_to_them_and_files_stay_attachments() {
    let png = vec![0x89, b'P', b'N', b'G', 9, 9];
    let data = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &png);
    let (html, inline) =
        crate::compose::editor_html(&format!("<p><b>Graf</b>: <img src=\"data:image/png;base64,{data}\"></p>"));
    let draft = Draft {
        to: vec![mailbox("petr@example.cz")],
        subject: "Graf".into(),
        text: "Graf:".into(),
        html: Some(html),
        attachments: vec![OutgoingAttachment {
            name: "data.csv".into(),
            content_type: "text/csv".into(),
            bytes: b"a,b".to_vec(),
        }],
        inline: inline.clone(),
        ..Draft::default()
    };
    let raw = Outgoing::new(from(), draft).unwrap().build("rich@example.com", 1_700_000_000);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("multipart/related"), "{text}");
    let part = crate::part_by_content_id(&raw, &inline[0].content_id).expect("the image by its cid");
    assert_eq!(part.data, png);
    let bodies = crate::bodies(&raw);
    assert!(bodies.html.unwrap().contains(&format!("cid:{}", inline[0].content_id)));
    assert_eq!(bodies.text.unwrap().trim_end(), "Graf:");
    let ParseOutcome::Parsed(parsed) = parse(&raw) else { panic!("the built message does not parse") };
    let names: Vec<&str> = parsed.attachments.iter().map(|a| a.name.as_str()).collect();
    assert!(names.contains(&"data.csv"), "{names:?}");
}

#[test]
fn a_reply_to_a_message_by_several_authors_goes_to_each_of_them() {
    let own = ["me@example.com".to_owned()];
    let message = original(
        "From: Ann <ann@example.com>, bob@example.org\r\nSender: ann@example.com\r\nTo: me@example.com\r\n\r\nHi\r\n",
    );
    let (to, _) = reply_recipients(&message, &own, false);
    assert_eq!(to.iter().map(|m| m.address.as_str()).collect::<Vec<_>>(), ["ann@example.com", "bob@example.org"]);
}

#[test]
fn a_subject_that_looks_like_an_encoded_word_reads_back_as_typed() {
    // Found by the property tests: readers decode `=?…?=` in a subject, so text shaped like one is encoded.
    for subject in ["=?utf-8?q??=", "About =?iso-8859-1?q?caf=E9?= and more", "=?"] {
        let draft = Draft { to: vec![mailbox("petr@example.cz")], subject: subject.into(), ..Draft::default() };
        let outgoing = Outgoing::new(mailbox("me@example.cz"), draft).expect("a valid draft");
        let raw = outgoing.build("id@example.cz", 1_700_000_000);
        assert_eq!(parse(&raw).into_message().subject, subject, "{}", String::from_utf8_lossy(&raw));
    }
}
