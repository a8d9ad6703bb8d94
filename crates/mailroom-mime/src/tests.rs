use super::*;

fn parsed(raw: &str) -> ParsedMessage {
    match parse(raw.as_bytes()) {
        ParseOutcome::Parsed(m) => m,
        ParseOutcome::Unreadable(_) => panic!("expected a readable message:\n{raw}"),
    }
}

const MULTIPART: &str = "From: \"Jana Nováková\" <Jana.Novakova@Example.CZ>\r\n\
To: Bob <BOB@example.com>, carol@Example.org\r\n\
Cc: bob@example.com\r\n\
Reply-To: Jana <jana.novakova@example.cz>\r\n\
Subject: =?UTF-8?B?UMWZw61sb2hh?=\r\n\
Date: Tue, 3 Sep 2024 14:05:00 +0200\r\n\
Message-ID: <abc.123@example.cz>\r\n\
In-Reply-To: <parent@example.com>\r\n\
References: <root@example.com> <parent@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=\"inner\"\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello   Bob,\r\n\
  see the picture.\r\n\
--inner\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Hello <b>Bob</b>,</p><img src=\"cid:logo@example.cz\">\r\n\
--inner--\r\n\
--outer\r\n\
Content-Type: image/png; name=\"logo.png\"\r\n\
Content-Disposition: inline; filename=\"logo.png\"\r\n\
Content-ID: <logo@example.cz>\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
iVBORw0KGgo=\r\n\
--outer\r\n\
Content-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
\r\n\
%PDF-1.4\r\n\
--outer--\r\n";

#[test]
fn addresses_are_lowercased_and_names_kept() {
    let m = parsed(MULTIPART);
    let from = m.from.as_ref().expect("from");
    assert_eq!(from.address, "jana.novakova@example.cz");
    assert_eq!(from.name.as_deref(), Some("Jana Nováková"));
    assert_eq!(from.domain(), "example.cz");
    assert_eq!(m.to.len(), 2);
    assert_eq!(m.to[0].address, "bob@example.com");
    assert_eq!(m.to[0].name.as_deref(), Some("Bob"));
    assert_eq!(m.to[1].address, "carol@example.org");
    assert_eq!(m.to[1].name, None);
    assert_eq!(m.reply_to[0].address, "jana.novakova@example.cz");
}

#[test]
fn headers_ids_and_date_are_read() {
    let m = parsed(MULTIPART);
    assert_eq!(m.subject, "Příloha");
    assert_eq!(m.message_id.as_deref(), Some("abc.123@example.cz"));
    assert_eq!(m.in_reply_to, ["parent@example.com"]);
    assert_eq!(m.references, ["root@example.com", "parent@example.com"]);
    let date = m.date.expect("date");
    assert_eq!(date.to_rfc3339(), "2024-09-03T12:05:00+00:00");
    assert_eq!(m.size, MULTIPART.len() as u64);
}

#[test]
fn participants_cover_every_role_and_are_deduplicated_per_role_and_address() {
    let raw = "From: A <a@x.org>\r\nTo: b@y.org, B Again <B@Y.org>\r\nCc: b@y.org\r\nReply-To: a@x.org\r\n\r\nhi\r\n";
    let p = parsed(raw).participants();
    let summary: Vec<(Role, &str, &str)> = p.iter().map(|p| (p.role, p.address.as_str(), p.domain.as_str())).collect();
    assert_eq!(
        summary,
        [
            (Role::From, "a@x.org", "x.org"),
            (Role::To, "b@y.org", "y.org"),
            (Role::Cc, "b@y.org", "y.org"),
            (Role::ReplyTo, "a@x.org", "x.org"),
        ]
    );
    assert_eq!(p[0].name.as_deref(), Some("A"));
}

#[test]
fn group_addresses_are_flattened() {
    let raw = "From: a@x.org\r\nTo: Team: c@x.org, d@x.org;, e@x.org\r\n\r\nhi\r\n";
    let to: Vec<String> = parsed(raw).to.into_iter().map(|a| a.address).collect();
    assert_eq!(to, ["c@x.org", "d@x.org", "e@x.org"]);
}

#[test]
fn encoded_word_subjects_are_decoded() {
    let b = parsed("Subject: =?UTF-8?B?xb1sdcWlb3XEjWvDvSBrxa/FiA==?=\r\n\r\nx\r\n");
    assert_eq!(b.subject, "Žluťoučký kůň");
    let q = parsed("Subject: =?ISO-8859-2?Q?=AElu=BBou=E8k=FD_k=F9=F2?= =?UTF-8?Q?p=C4=9Bl?=\r\n\r\nx\r\n");
    assert_eq!(q.subject, "Žluťoučký kůňpěl");
}

#[test]
fn quoted_printable_iso_8859_2_body_is_decoded() {
    let raw = "From: a@x.cz\r\nContent-Type: text/plain; charset=ISO-8859-2\r\n\
               Content-Transfer-Encoding: quoted-printable\r\n\r\n=AElu=BBou=E8k=FD k=F9=F2 =\r\np=ECl\r\n";
    let m = parsed(raw);
    assert!(m.snippet.starts_with("Žluťoučký kůň pěl"), "{}", m.snippet);
    assert!(m.has_text && !m.has_html);
}

#[test]
fn text_only_message_has_text_and_no_html() {
    let m = parsed("From: a@x.org\r\nSubject: t\r\n\r\nJust text.\r\n");
    assert!(m.has_text);
    assert!(!m.has_html);
    assert_eq!(m.snippet, "Just text.");
}

#[test]
fn html_only_message_has_html_and_no_text_and_a_snippet_without_tags() {
    let raw = "From: a@x.org\r\nContent-Type: text/html\r\n\r\n<html><head><style>b{}</style></head>\
               <body><p>Caf&eacute; &amp; <b>bar</b></p><div>next&nbsp;line</div></body></html>\r\n";
    let m = parsed(raw);
    assert!(m.has_html);
    assert!(!m.has_text);
    assert!(!m.snippet.contains('<') && !m.snippet.contains('>'), "{}", m.snippet);
    assert_eq!(m.snippet, "Café & bar next line");
}

#[test]
fn alternative_message_has_both_and_prefers_the_text_part_for_the_snippet() {
    let m = parsed(MULTIPART);
    assert!(m.has_text);
    assert!(m.has_html);
    assert_eq!(m.snippet, "Hello Bob, see the picture.");
}

#[test]
fn attachments_have_name_type_size_content_id_and_disposition() {
    let m = parsed(MULTIPART);
    assert_eq!(
        m.attachments,
        [
            AttachmentInfo {
                name: "logo.png".into(),
                content_type: "image/png".into(),
                size: 8,
                content_id: Some("logo@example.cz".into()),
                inline: true,
            },
            AttachmentInfo {
                name: "report.pdf".into(),
                content_type: "application/pdf".into(),
                size: 8,
                content_id: None,
                inline: false,
            },
        ]
    );
}

#[test]
fn bodies_and_attachment_bytes_are_read_back_by_position_and_content_id() {
    let raw = MULTIPART.as_bytes();
    let bodies = crate::bodies(raw);
    assert!(bodies.text.as_deref().is_some_and(|t| t.contains("Bob,")));
    assert!(bodies.html.as_deref().is_some_and(|h| h.contains("cid:logo@example.cz")));
    let logo = crate::attachment_data(raw, 0).expect("the first attachment");
    assert_eq!((logo.info.name.as_str(), logo.data.len()), ("logo.png", 8));
    assert_eq!(crate::part_by_content_id(raw, "logo@example.cz").map(|p| p.info.name), Some("logo.png".to_owned()));
    assert_eq!(crate::attachment_data(raw, 1).map(|p| p.info.content_type), Some("application/pdf".to_owned()));
    assert!(crate::attachment_data(raw, 2).is_none());
    assert!(crate::part_by_content_id(raw, "nothing@example.cz").is_none());
    assert_eq!(crate::bodies(b"\xff\x00"), crate::Bodies::default());
}

#[test]
fn an_attachment_without_a_name_gets_a_fallback_name() {
    let raw = "From: a@x.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nbody\r\n--b\r\n\
               Content-Type: application/octet-stream\r\nContent-Disposition: attachment\r\n\r\nxyz\r\n--b--\r\n";
    let m = parsed(raw);
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].name, "attachment");
    assert_eq!(m.attachments[0].content_type, "application/octet-stream");
}

#[test]
fn long_bodies_give_a_snippet_of_at_most_200_characters() {
    let body = "žluť ".repeat(200);
    let m = parsed(&format!("From: a@x.org\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"));
    assert_eq!(m.snippet.chars().count(), 200);
}

#[test]
fn a_missing_or_unreadable_date_is_none() {
    assert_eq!(parsed("From: a@x.org\r\n\r\nx\r\n").date, None);
    assert_eq!(parsed("From: a@x.org\r\nDate: sometime soon\r\n\r\nx\r\n").date, None);
}

#[test]
fn empty_input_is_unreadable_or_empty() {
    let outcome = parse(b"");
    let m = outcome.message();
    assert_eq!(m.size, 0);
    assert!(m.subject.is_empty() && m.from.is_none() && m.attachments.is_empty());
}

#[test]
fn garbage_bytes_never_panic_and_give_empty_fields() {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for len in [1, 2, 7, 100, 4096] {
        let m = parse(&garbage[..len]).into_message();
        assert_eq!(m.size, len as u64);
        assert!(m.from.is_none());
    }
    let m = parse(b"\xff\xfe\x00\x00:::\r\n\r\n\x80\x81").into_message();
    assert!(m.from.is_none() && m.to.is_empty());
}

#[test]
fn unparsed_view_is_empty_except_for_the_size() {
    let m = ParsedMessage::unparsed(42);
    assert_eq!(m.size, 42);
    assert_eq!(m, ParsedMessage { size: 42, ..ParsedMessage::default() });
    assert!(m.participants().is_empty());
}

#[test]
fn every_prefix_of_a_multipart_message_parses_without_panicking() {
    let raw = MULTIPART.as_bytes();
    for len in 0..=raw.len() {
        let m = parse(&raw[..len]).into_message();
        assert_eq!(m.size, len as u64);
        for p in m.participants() {
            assert!(p.address.contains('@') || p.domain.is_empty());
        }
    }
}

/// The instant `y-m-d h:mi:s` at the given offset east of UTC, in minutes.
fn instant(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32, east_minutes: i32) -> DateTime<Utc> {
    use chrono::TimeZone;
    let zone = chrono::FixedOffset::east_opt(east_minutes * 60).expect("offset");
    zone.with_ymd_and_hms(y, m, d, h, mi, s).single().expect("a valid local time").with_timezone(&Utc)
}

#[test]
fn a_date_without_a_zone_keeps_the_headers_after_it() {
    let m = parsed("Date: 27 Jun 01 3:36:25 AM\nFrom: Ann <ann@example.org>\nMessage-ID: <m1@example.org>\n\nx\n");
    assert_eq!(m.from.map(|a| a.address).as_deref(), Some("ann@example.org"));
    assert_eq!(m.message_id.as_deref(), Some("m1@example.org"));
    // No zone means -0000: the time is read as UTC.
    assert_eq!(m.date, Some(instant(2001, 6, 27, 3, 36, 25, 0)));
}

#[test]
fn a_date_in_the_obsolete_ut_zone_keeps_the_header_after_it() {
    let m = parsed("Date: Sat, 14 Sep 2002 06:00:48 UT\nFrom: ann@example.org\n\nx\n");
    assert_eq!(m.from.map(|a| a.address).as_deref(), Some("ann@example.org"));
    assert_eq!(m.date, Some(instant(2002, 9, 14, 6, 0, 48, 0)));
}

#[test]
fn a_date_that_cannot_be_read_is_none_and_takes_no_other_header_with_it() {
    let unreadable = [
        "sometime AM",
        "Mon, 32 Sep 2002 10:00:00 AM",
        "31 Feb 2002 10:00:00 UT",
        "17 Sep 2002 25:00:00 EST",
        "17 Foo 2002 10:00:00 +0000",
        "PM",
        "(unclosed comment",
        "EDT",
        "Z",
    ];
    for date in unreadable {
        let m = parsed(&format!("Date: {date}\nFrom: ann@example.org\nSubject: kept\n\nx\n"));
        assert_eq!(m.date, None, "{date}");
        assert_eq!(m.from.map(|a| a.address).as_deref(), Some("ann@example.org"), "{date}");
        assert_eq!(m.subject, "kept", "{date}");
    }
}

#[test]
fn obsolete_dates_are_read_as_rfc_5322_section_4_3_says() {
    let cases = [
        // Two-digit years: 00-49 are 20xx, 50-99 are 19xx; three-digit years add 1900.
        ("Fri, 21 Nov 97 09:55:06 GMT", instant(1997, 11, 21, 9, 55, 6, 0)),
        ("21 Nov 49 09:55:06 +0000", instant(2049, 11, 21, 9, 55, 6, 0)),
        ("21 Nov 50 09:55:06 +0000", instant(1950, 11, 21, 9, 55, 6, 0)),
        ("21 Nov 102 09:55:06 +0000", instant(2002, 11, 21, 9, 55, 6, 0)),
        // The named zones of RFC 822.
        ("Thu, 25 Jul 2002 15:39:47 EDT", instant(2002, 7, 25, 15, 39, 47, -4 * 60)),
        ("Thu, 25 Jul 2002 15:39:47 EST", instant(2002, 7, 25, 15, 39, 47, -5 * 60)),
        ("Thu, 25 Jul 2002 15:39:47 CDT", instant(2002, 7, 25, 15, 39, 47, -5 * 60)),
        ("Thu, 25 Jul 2002 15:39:47 CST", instant(2002, 7, 25, 15, 39, 47, -6 * 60)),
        ("Thu, 25 Jul 2002 15:39:47 MDT", instant(2002, 7, 25, 15, 39, 47, -6 * 60)),
        ("Thu, 25 Jul 2002 15:39:47 MST", instant(2002, 7, 25, 15, 39, 47, -7 * 60)),
        ("Sun, 29 Sep 2002 07:03:02 PDT", instant(2002, 9, 29, 7, 3, 2, -7 * 60)),
        ("Tue, 17 Sep 2002 09:15:32 pst", instant(2002, 9, 17, 9, 15, 32, -8 * 60)),
        // Military zones are -0000 (RFC 822 defined their signs backwards), as is no zone at all.
        ("Tue, 17 Sep 2002 09:15:32 A", instant(2002, 9, 17, 9, 15, 32, 0)),
        ("Tue, 17 Sep 2002 09:15:32 z", instant(2002, 9, 17, 9, 15, 32, 0)),
        ("Tue, 17 Sep 2002 09:15:32", instant(2002, 9, 17, 9, 15, 32, 0)),
        // Day names are optional, seconds too; comments and folding may sit anywhere between the parts.
        ("17 Sep 2002 09:15 +0200", instant(2002, 9, 17, 9, 15, 0, 120)),
        ("Tue (day) , 17 (d) Sep\r\n 2002 09:15:32 -0130 (local time)", instant(2002, 9, 17, 9, 15, 32, -90)),
        ("Mon, 16 Sep 2002 03:27:38 (GMT)", instant(2002, 9, 16, 3, 27, 38, 0)),
        // Twelve-hour clocks as some mailers write them.
        ("27 Jun 01 12:10:00 AM", instant(2001, 6, 27, 0, 10, 0, 0)),
        ("27 Jun 01 12:10:00 PM +0100", instant(2001, 6, 27, 12, 10, 0, 60)),
        ("Wed, 27 Jun 2001 3:36:25 pm EDT", instant(2001, 6, 27, 15, 36, 25, -4 * 60)),
        // Other shapes seen in real mail: asctime, numeric dates, a zone after GMT, a doubled sign.
        ("Sat Sep 21 08:18:08 2002", instant(2002, 9, 21, 8, 18, 8, 0)),
        ("2002/09/14 Sat 02:29:32 CDT", instant(2002, 9, 14, 2, 29, 32, -5 * 60)),
        ("Fri, 23 Aug 2002 22:46:34 GMT+1", instant(2002, 8, 23, 22, 46, 34, 60)),
        ("Tue, 24 Sep 2002 10:41:21 +-0500", instant(2002, 9, 24, 10, 41, 21, -5 * 60)),
        ("Fri, 30 Aug 02 21:48:08 Eastern Daylight Time", instant(2002, 8, 30, 21, 48, 8, -4 * 60)),
        ("Monday, 2 September 2002 10:00:00 +0000", instant(2002, 9, 2, 10, 0, 0, 0)),
    ];
    for (date, expected) in cases {
        let m = parsed(&format!("Date: {date}\r\nFrom: ann@example.org\r\n\r\nx\r\n"));
        assert_eq!(m.date, Some(expected), "{date:?}");
        assert!(m.from.is_some(), "{date:?} took the From header");
    }
}

fn addresses_of(list: &[Address]) -> Vec<&str> {
    list.iter().map(|a| a.address.as_str()).collect()
}

#[test]
fn every_to_and_cc_header_is_kept_in_order() {
    let m = parsed(
        "From: a@x.org\nTo: t1@x.org\nCc: c1@x.org\nTo: t2@x.org, T3 <t3@x.org>\nCc: c2@x.org\nCc: c3@x.org\n\nx\n",
    );
    assert_eq!(addresses_of(&m.to), ["t1@x.org", "t2@x.org", "t3@x.org"]);
    assert_eq!(addresses_of(&m.cc), ["c1@x.org", "c2@x.org", "c3@x.org"]);
}

#[test]
fn a_local_part_that_is_not_a_dot_atom_stays_quoted() {
    let m = parsed(concat!(
        "From: a@x.org\n",
        "To: \"undisclosed recipients\"@example.com, \"Smith, John\"@example.com,\n",
        " Named <\"a\\\\\\\"b\"@example.com>, \"plain\"@example.com, \"dotted.name\"@Example.com\n",
        "\nx\n"
    ));
    assert_eq!(
        addresses_of(&m.to),
        [
            "\"undisclosed recipients\"@example.com",
            "\"smith, john\"@example.com",
            "\"a\\\\\\\"b\"@example.com",
            // Quotes that a dot-atom does not need are not part of the address.
            "plain@example.com",
            "dotted.name@example.com",
        ]
    );
    assert_eq!(m.to[2].name.as_deref(), Some("Named"));
    assert_eq!(m.to[0].name, None);
}

#[test]
fn an_empty_group_gives_no_address() {
    for to in
        ["undisclosed-recipients:;", "undisclosed-recipient: ;", "<Undisclosed-Recipient:;>", "Friends: ;, b@x.org"]
    {
        let m = parsed(&format!("From: a@x.org\nTo: {to}\n\nx\n"));
        assert!(m.to.iter().all(|a| a.address == "b@x.org"), "{to}: {:?}", m.to);
        for p in m.participants() {
            assert!(p.address.contains('@') && !p.address.starts_with('@'), "{to}: {p:?}");
        }
    }
}

#[test]
fn every_from_address_is_a_participant_and_the_first_is_the_from() {
    let m = parsed("From: Ann <ann@x.org>, bob@y.org (Bob), \"Carol\" <carol@z.org>\nSender: ann@x.org\n\nx\n");
    assert_eq!(m.from.as_ref().map(|a| a.address.as_str()), Some("ann@x.org"));
    assert_eq!(addresses_of(&m.from_others), ["bob@y.org", "carol@z.org"]);
    let from: Vec<String> = m.participants().into_iter().filter(|p| p.role == Role::From).map(|p| p.address).collect();
    assert_eq!(from, ["ann@x.org", "bob@y.org", "carol@z.org"]);
}

#[test]
fn display_names_are_decoded_unquoted_and_taken_from_comments() {
    let m = parsed(concat!(
        "From: =?UTF-8?Q?Jan_Nov=C3=A1k?= <jan@x.cz>\n",
        "To: \"Smith, John\" <john@x.org>, bob@x.org (Bob Jones), \"=?utf-8?b?xb1sdcWlb3XEjWvDvQ==?=\" <z@x.cz>,\n",
        " Route <@relay.example:r@x.org>, group: g1@x.org, G Two <g2@x.org>;\n",
        "\nx\n"
    ));
    assert_eq!(m.from.and_then(|a| a.name).as_deref(), Some("Jan Novák"));
    let names: Vec<Option<&str>> = m.to.iter().map(|a| a.name.as_deref()).collect();
    assert_eq!(names, [Some("Smith, John"), Some("Bob Jones"), Some("Žluťoučký"), Some("Route"), None, Some("G Two")]);
    assert_eq!(addresses_of(&m.to), ["john@x.org", "bob@x.org", "z@x.cz", "r@x.org", "g1@x.org", "g2@x.org"]);
}

/// `text` in the encoding `label` names, as a sender without RFC 2047 would put it in a header.
fn encoded(label: &str, text: &str) -> Vec<u8> {
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes()).expect("a known encoding");
    let (bytes, _, unmappable) = encoding.encode(text);
    assert!(!unmappable, "{text} is not in {label}");
    bytes.into_owned()
}

fn message_bytes(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn raw_header_bytes_are_read_in_the_charset_the_message_declares() {
    let subject = "會員專屬優惠，今天就加入我們";
    let name = "陳大文";
    let raw = message_bytes(&[
        b"From: ",
        &encoded("big5", name),
        b" <chan@example.tw>\r\nSubject: ",
        &encoded("big5", subject),
        b"\r\nContent-Type: text/plain; charset=big5\r\n\r\n",
        &encoded("big5", "內文"),
        b"\r\n",
    ]);
    let m = parse(&raw).into_message();
    assert_eq!(m.subject, subject);
    assert_eq!(m.from.and_then(|a| a.name).as_deref(), Some(name));
    assert!(m.text.contains("內文"), "{}", m.text);
}

#[test]
fn raw_header_bytes_follow_the_first_text_part_when_the_message_declares_no_charset() {
    let subject = "안녕하세요, 회원님께 드리는 특별한 소식입니다";
    let raw = message_bytes(&[
        b"From: a@example.kr\nSubject: ",
        &encoded("euc-kr", subject),
        b"\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain; charset=\"EUC-KR\"\n\nx\n--b--\n",
    ]);
    assert_eq!(parse(&raw).into_message().subject, subject);
}

#[test]
fn raw_header_bytes_without_a_usable_charset_are_detected() {
    let subject = "中华人民共和国的经济发展和社会进步取得了举世瞩目的成就";
    // us-ascii says nothing about bytes above 127; neither does a body in UTF-8.
    for declared in ["", "Content-Type: text/plain; charset=us-ascii\n", "Content-Type: text/plain; charset=utf-8\n"] {
        let raw = message_bytes(&[
            b"From: a@example.cn\nSubject: ",
            &encoded("gb2312", subject),
            b"\n",
            declared.as_bytes(),
            b"\nx\n",
        ]);
        assert_eq!(parse(&raw).into_message().subject, subject, "{declared:?}");
    }
    let latin = |text: &str| encoded("iso-8859-1", text);
    let raw = message_bytes(&[
        b"From: ",
        &latin("José Müller"),
        b" <jose@example.de>\nSubject: ",
        &latin("Grüße aus Köln, schöne Straße"),
        b"\n\nx\n",
    ]);
    let m = parse(&raw).into_message();
    assert_eq!(m.from.and_then(|a| a.name).as_deref(), Some("José Müller"));
    assert_eq!(m.subject, "Grüße aus Köln, schöne Straße");
}

#[test]
fn headers_in_utf_8_are_kept_whatever_the_declared_charset() {
    let raw = "From: Jiří Novák <jiri@example.cz>\nSubject: Žluťoučký kůň\nContent-Type: text/plain; charset=iso-8859-2\n\nx\n";
    let m = parsed(raw);
    assert_eq!(m.subject, "Žluťoučký kůň");
    assert_eq!(m.from.and_then(|a| a.name).as_deref(), Some("Jiří Novák"));
}

fn base64_of(text: &str) -> String {
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, text);
    // Wrapped as mailers wrap it.
    encoded.as_bytes().chunks(60).map(|line| String::from_utf8_lossy(line).into_owned() + "\n").collect()
}

#[test]
fn a_multipart_whose_closing_boundary_is_missing_still_has_its_body() {
    let html = "<html><body><p>Spring offers for our members</p></body></html>";
    let raw = format!(
        "From: a@x.org\nContent-Type: multipart/mixed; boundary=\"----=_Part\"\n\n------=_Part\n\
         Content-Type: text/html; charset=\"iso-8859-1\"\nContent-Transfer-Encoding: base64\n\n{}",
        base64_of(html)
    );
    let bodies = bodies(raw.as_bytes());
    assert_eq!(bodies.html.as_deref().map(str::trim), Some(html));
    let m = parsed(&raw);
    assert!(m.has_html && m.attachments.is_empty(), "{:?}", m.attachments);
    assert!(m.text.contains("Spring offers"), "{}", m.text);
}

#[test]
fn an_inner_multipart_left_open_ends_at_the_next_outer_boundary() {
    let raw = "From: a@x.org\nContent-Type: multipart/mixed; boundary=outer\n\n--outer\n\
               Content-Type: multipart/alternative; boundary=inner\n\n--inner\nContent-Type: text/plain\n\n\
               Plain words\n--inner\nContent-Type: text/html\n\n<p>Rich words</p>\n--outer\n\
               Content-Type: application/pdf; name=report.pdf\nContent-Disposition: attachment; filename=report.pdf\n\
               Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--outer--\n";
    let bodies = bodies(raw.as_bytes());
    assert_eq!(bodies.text.as_deref().map(str::trim), Some("Plain words"));
    assert_eq!(bodies.html.as_deref().map(str::trim), Some("<p>Rich words</p>"));
    let m = parsed(raw);
    let names: Vec<&str> = m.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["report.pdf"]);
    assert_eq!(attachment_data(raw.as_bytes(), 0).map(|a| a.data), Some(b"%PDF-1.4\n".to_vec()));
}

#[test]
fn a_single_html_part_with_a_footer_after_its_base64_is_decoded_with_the_footer() {
    let html = "<html><body><p>Degerli SMSTR kullanicimiz</p></body></html>";
    let raw = format!(
        "From: a@x.org\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n{}\n\n\
         -------------------------------------------------------\nThis list is sponsored by ThinkGeek\n",
        base64_of(html)
    );
    let shown = bodies(raw.as_bytes()).html.unwrap_or_default();
    assert!(shown.contains(html) && shown.contains("sponsored by ThinkGeek"), "{shown}");
    let m = parsed(&raw);
    assert!(m.attachments.is_empty(), "{:?}", m.attachments);
    assert!(m.text.contains("Degerli SMSTR"), "{}", m.text);
}

#[test]
fn a_body_written_without_a_blank_line_after_the_headers_keeps_its_text() {
    let part = "From: a@x.org\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\
                Hello there, friend\nsecond line\n\nthird line\n--b--\n";
    let text = bodies(part.as_bytes()).text.unwrap_or_default();
    assert!(["Hello there, friend", "second line", "third line"].iter().all(|l| text.contains(l)), "{text:?}");
    let whole = "From: a@x.org\nSubject: s\n<html><body>Hello world</body></html>\nmore\n";
    let m = parsed(whole);
    assert_eq!(m.subject, "s");
    assert!(m.text.contains("Hello world") && m.text.contains("more"), "{:?}", m.text);
}

#[test]
fn a_content_type_of_text_without_a_subtype_is_plain_text() {
    let single = "From: a@x.org\nContent-Type: text; charset=utf-8\n\nŽluťoučký kůň\n";
    assert_eq!(bodies(single.as_bytes()).text.as_deref().map(str::trim), Some("Žluťoučký kůň"));
    let alternative = "From: a@x.org\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: TEXT\n\n\
                       Plain words\n--b\nContent-Type: text/html\n\n<p>Rich words</p>\n--b--\n";
    let m = parsed(alternative);
    assert!(m.has_text && m.attachments.is_empty(), "{:?}", m.attachments);
    assert_eq!(bodies(alternative.as_bytes()).text.as_deref().map(str::trim), Some("Plain words"));
}

#[test]
fn a_base64_body_is_decoded_however_its_encoding_is_spelt() {
    for encoding in ["BASE64", "  Base64  ", "base64 (encoded)", "\"base64\"", "base64;", "(x) base64", "base64\n "] {
        let raw = format!(
            "From: a@x.org\nContent-Type: text/plain\nContent-Transfer-Encoding: {encoding}\n\nSGVsbG8gd29ybGQ=\n"
        );
        assert_eq!(bodies(raw.as_bytes()).text.as_deref().map(str::trim), Some("Hello world"), "{encoding:?}");
    }
}

#[test]
fn quoted_printable_with_stray_equals_signs_is_decoded_around_them() {
    let raw = "From: a@x.org\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n\
               Rule: 2 == 2, x=y\nCaf=E9 au =\nlait =3D good\n";
    let text = bodies(raw.as_bytes()).text.unwrap_or_default();
    assert!(text.contains("Rule: 2 == 2, x=y\n") && text.contains("Café au lait = good"), "{text:?}");
}

#[test]
fn a_multipart_whose_boundary_never_appears_is_shown_as_text() {
    let raw = "From: a@x.org\nContent-Type: multipart/alternative; boundary=\"=Multipart Boundary 0925021429\"\n\n\
               --= Multipart Boundary 0925021429\nContent-Type: text/plain\n\nThe offer\n\
               --= Multipart Boundary 0925021429--\n";
    let m = parsed(raw);
    assert!(m.text.contains("The offer"), "{:?}", m.text);
    assert!(m.attachments.is_empty(), "{:?}", m.attachments);
}

fn alternative(text: &str, html: &str) -> String {
    format!(
        "From: a@x.org\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain; charset=utf-8\n\n\
         {text}\n--b\nContent-Type: text/html; charset=utf-8\n\n{html}\n--b--\n"
    )
}

const ARTICLE: &str = "<html><body><h1>Wombats of Tasmania</h1><p>The common wombat digs burrows with its strong \
                       claws and sleeps through the warm part of the day.</p><p>Rangers counted forty burrows along \
                       the northern ridge this spring.</p></body></html>";

#[test]
fn a_stub_text_alternative_leaves_the_html_words_searchable_and_out_of_the_snippet() {
    for stub in ["This is a multi-part message in MIME format.", "View this mail in HTML.", ""] {
        let m = parsed(&alternative(stub, ARTICLE));
        assert!(m.text.contains("burrows along the northern ridge"), "{stub:?}: {}", m.text);
        assert!(m.snippet.starts_with("Wombats of Tasmania"), "{stub:?}: {}", m.snippet);
    }
}

#[test]
fn alternatives_that_say_the_same_thing_are_indexed_once() {
    let text = "Wombats of Tasmania\n\nThe common wombat digs burrows with its strong claws and sleeps through the \
                warm part of the day.\n\nRangers counted forty burrows along the northern ridge this spring.\n\n\
                Unsubscribe: https://x.test/u";
    let m = parsed(&alternative(text, ARTICLE));
    assert_eq!(m.text.matches("northern ridge").count(), 1, "{}", m.text);
    assert!(m.snippet.starts_with("Wombats of Tasmania The common wombat"), "{}", m.snippet);
}

#[test]
fn a_phrase_only_the_html_says_is_indexed_while_the_rest_is_not_repeated() {
    let text = "Wombats of Tasmania\n\nThe common wombat digs burrows with its strong claws and sleeps through the \
                warm part of the day.\n\nRangers counted forty burrows along the northern ridge this spring.\n\n\
                To be removed: https://x.test/u";
    let html = ARTICLE.replace("</body>", "<p><a href=\"https://x.test/u\">Click here</a> to be removed.</p></body>");
    let m = parsed(&alternative(text, &html));
    assert!(m.text.contains("Click here to be removed."), "{}", m.text);
    assert_eq!(m.text.matches("northern ridge").count(), 1, "{}", m.text);
}

#[test]
fn a_text_alternative_that_says_less_than_the_html_is_indexed_with_it() {
    let text = "Wombats of Tasmania\n\nThe common wombat digs burrows with its strong claws.";
    let m = parsed(&alternative(text, ARTICLE));
    assert!(m.text.starts_with(text), "{}", m.text);
    assert!(m.text.contains("Rangers counted forty burrows"), "{}", m.text);
    // What the sender wrote for plain readers is real text, and still what the snippet shows.
    assert_eq!(m.snippet, "Wombats of Tasmania The common wombat digs burrows with its strong claws.");
}

#[test]
fn inline_text_parts_after_the_body_are_shown_or_listed_never_lost() {
    let raw = "From: a@x.org\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\
               Content-Disposition: inline\n\nHere is the patch.\n--b\nContent-Type: text/plain\n\
               Content-Disposition: inline; filename=\"fix.patch\"\n\n--- a/spec\n+++ b/spec\n--b\n\
               Content-Type: text/plain\n\n_______________\nlist footer\n--b--\n";
    let m = parsed(raw);
    let names: Vec<&str> = m.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["fix.patch"]);
    assert_eq!(attachment_data(raw.as_bytes(), 0).map(|a| a.data), Some(b"--- a/spec\n+++ b/spec".to_vec()));
    let text = bodies(raw.as_bytes()).text.unwrap_or_default();
    assert!(text.contains("Here is the patch.") && text.contains("list footer"), "{text:?}");
    assert!(!text.contains("+++ b/spec"), "{text:?}");
    assert!(m.text.contains("list footer"), "{}", m.text);
}

#[test]
fn a_byte_or_two_of_undeclared_latin_text_reads_as_the_senders_country_writes_it() {
    // Too little to tell single-byte charsets apart: windows-1252, what most mail clients fall back to,
    // unless the sender's country domain says otherwise.
    let pound = message_bytes(&[
        b"From: news@example.org\nSubject: Robbie's ",
        &encoded("windows-1252", "£80m deal"),
        b"\n\nx\n",
    ]);
    assert_eq!(parse(&pound).into_message().subject, "Robbie's £80m deal");
    let czech = message_bytes(&[b"From: jan@firma.cz\nSubject: ", &encoded("windows-1250", "Příloha"), b"\n\nx\n"]);
    assert_eq!(parse(&czech).into_message().subject, "Příloha");
}

#[test]
fn an_eight_bit_body_without_a_usable_charset_is_read_in_the_detected_one() {
    let thai = "ตัวอย่างข้อความภาษาไทยสำหรับการทดสอบการตรวจจับชุดอักขระของข้อความ";
    let korean = "안녕하세요, 회원님께 드리는 특별한 소식입니다. 지금 바로 확인하세요.";
    let japanese = "お客様各位、新しいサービスのご案内をお送りいたします。ぜひご覧ください。";
    let cases = [
        ("Content-Type: text/plain; charset=\"us-ascii\"\nContent-Transfer-Encoding: 8bit\n", "windows-874", thai),
        ("", "euc-kr", korean),
        ("Content-Type: text/plain\nContent-Transfer-Encoding: 7bit\n", "shift_jis", japanese),
    ];
    for (header, charset, text) in cases {
        let raw = message_bytes(&[
            b"From: a@example.com\nSubject: s\n",
            header.as_bytes(),
            b"\n",
            &encoded(charset, text),
            b"\n",
        ]);
        assert_eq!(bodies(&raw).text.as_deref().map(str::trim), Some(text), "{charset}");
    }
    let qp_html = message_bytes(&[
        b"From: a@example.com\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n<p>",
        &encoded("gbk", "中华人民共和国的经济发展和社会进步取得了举世瞩目的成就")
            .iter()
            .map(|b| format!("={b:02X}"))
            .collect::<String>()
            .into_bytes(),
        b"</p>\n",
    ]);
    let html = bodies(&qp_html).html.unwrap_or_default();
    assert!(html.contains("中华人民共和国的经济发展"), "{html}");
    // A UTF-8 body declared US-ASCII is UTF-8.
    let utf8 = "From: a@x.org\nContent-Type: text/plain; charset=US-ASCII\n\nŽluťoučký kůň\n";
    assert_eq!(bodies(utf8.as_bytes()).text.as_deref().map(str::trim), Some("Žluťoučký kůň"));
}

// Found by the property tests (src/proptests.rs).

#[test]
fn a_readable_text_part_is_shown_even_where_no_body_is_expected() {
    // A multipart/related whose root is a file: its text part is no body by RFC 2387, yet it is meant to be
    // read.
    let raw = "From: a@x.org\nContent-Type: multipart/related; boundary=b\n\n--b\nContent-Type: application/pdf; \
               name=\"a.pdf\"\nContent-Disposition: attachment; filename=\"a.pdf\"\n\n%PDF\n--b\n\
               Content-Type: text/plain\n\nThe words to read\n--b--\n";
    let m = parsed(raw);
    assert!(m.text.contains("The words to read"), "{:?}", m.text);
    assert_eq!(bodies(raw.as_bytes()).text.as_deref().map(str::trim), Some("The words to read"));
    // It stays listed where it was, so that attachment positions do not move.
    assert_eq!(m.attachments.len(), 2);
}

#[test]
fn an_alternative_that_says_it_is_an_attachment_is_no_body() {
    let raw = "From: a@x.org\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain; \
               name=\"notes.txt\"\nContent-Disposition: attachment; filename=\"notes.txt\"\n\nnotes\n--b\n\
               Content-Type: text/html\n\n<p>The message</p>\n--b--\n";
    let m = parsed(raw);
    assert!(!m.has_text && m.has_html);
    assert_eq!(m.attachments.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["notes.txt"]);
    assert_eq!(m.snippet, "The message");
}

#[test]
fn an_mbox_separator_after_a_field_put_in_front_does_not_end_the_header() {
    let raw = "Message-ID: <copy@x.test>\nFrom pudge@perl.org  Mon Aug 19 11:29:50 2002\nReturn-Path: <pudge@perl.org>\n\
               From: pudge@perl.org\nSubject: [use Perl] Stories\n\nThe stories.\n";
    let m = parsed(raw);
    assert_eq!(m.subject, "[use Perl] Stories");
    assert_eq!(m.from.map(|a| a.address).as_deref(), Some("pudge@perl.org"));
    assert_eq!(m.message_id.as_deref(), Some("copy@x.test"));
    assert_eq!(m.text.trim(), "The stories.");
}
