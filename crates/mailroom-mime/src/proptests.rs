//! Property tests: no public function panics on any input, and what must hold for every input holds.
//!
//! Three kinds of input: arbitrary bytes; arbitrary Unicode built to be awkward (mixed scripts, combining
//! marks, emoji, right-to-left text, NUL, lone CR, long runs, the characters markup and mail treat
//! specially); and messages built like real mail but broken the ways real mail is (dates in every shape,
//! addresses quoted, grouped, encoded or raw 8-bit, multiparts nested, left open or mismatched, bodies in
//! random charsets and transfer encodings, truncated or followed by a footer).
//!
//! Failures are kept by proptest in `proptest-regressions/` and replayed first; each one found is also a
//! named test beside the code it concerns.

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use crate::compose::{self, Draft, Field, Mailbox, Outgoing};
use crate::{
    INDEXED_TEXT_BYTES, SanitizeOptions, attachment_data, bodies, escape_html, html_to_text, indexed_text,
    normalized_subject, parse, part_by_content_id, sanitize_html, text_to_html,
};

/// Cases for functions that take microseconds.
const CHEAP: u32 = 5000;
/// Cases for functions that parse a whole message or HTML document.
const COSTLY: u32 = 2000;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, ..ProptestConfig::default() }
}

// ---- Generators ----

/// Characters that are awkward somewhere: controls, white space of every kind, marks, joiners, direction
/// overrides, letters of many scripts, emoji.
const AWKWARD: &[char] = &[
    '\0',
    '\r',
    '\n',
    '\t',
    '\x0b',
    '\x0c',
    '\x1b',
    '\x7f',
    '\u{85}',
    '\u{a0}',
    '\u{ad}',
    '\u{200b}',
    '\u{200d}',
    '\u{200e}',
    '\u{200f}',
    '\u{202e}',
    '\u{2028}',
    '\u{2029}',
    '\u{feff}',
    '\u{fffd}',
    '\u{301}',
    '\u{308}',
    '\u{20dd}',
    'é',
    'ž',
    'ř',
    'ß',
    'ı',
    'İ',
    'Ω',
    'я',
    'א',
    'ש',
    'ش',
    'ك',
    '中',
    '語',
    '한',
    'ア',
    'ก',
    '\u{e31}',
    '😀',
    '🇨',
    '🏽',
    '𝔘',
    '\u{10ffff}',
    '\u{e000}',
];

/// Pieces that mean something to markup, addresses, links or MIME.
const MEANINGFUL: &[&str] = &[
    "<",
    ">",
    "&",
    "&amp;",
    "&#",
    "&#x",
    "&lt;script&gt;",
    ";",
    "\"",
    "'",
    "`",
    "@",
    "@@",
    "http://",
    "https://x.test/(a)",
    "mailto:",
    "javascript:",
    "=?utf-8?q?",
    "=?iso-8859-1?b?",
    "?=",
    "=",
    "==",
    "=\r\n",
    "\r\n",
    "\r",
    "--",
    "--b",
    "<script>",
    "</script>",
    "<p>",
    "</",
    "<!--",
    "-->",
    "<a href=\"",
    "\" onclick=\"",
    "<style>",
    "<head>",
    "<title>",
    "<pre>",
    "<table><tr><td>",
    "„",
    "“",
    "e\u{301}",
    "👨\u{200d}👩\u{200d}👧",
    "Re: ",
    "Fwd:",
    "RE[2]:",
    ":",
    ",",
    "<>",
    "\"a b\"@c.d",
    "x@y.z",
    "(",
    ")",
    "\\",
];

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<char>().prop_map(String::from),
        3 => prop::sample::select(AWKWARD).prop_map(String::from),
        3 => prop::sample::select(MEANINGFUL).prop_map(str::to_owned),
        3 => "[a-zA-Z0-9 .,;:@-]{1,12}",
        1 => (prop::sample::select(AWKWARD), 1..400usize).prop_map(|(c, n)| c.to_string().repeat(n)),
        1 => (prop::sample::select(MEANINGFUL), 1..100usize).prop_map(|(s, n)| s.repeat(n)),
    ]
}

/// Arbitrary Unicode, awkward on purpose.
fn unicode() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(piece(), 0..24).prop_map(|pieces| pieces.concat()),
        1 => any::<String>(),
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..600), unicode().prop_map(String::into_bytes),]
}

/// HTML as mail holds it: tags, attributes (dangerous ones too), text and entities, nested and unclosed.
fn html() -> impl Strategy<Value = String> {
    let tag = prop::sample::select(vec![
        "p", "div", "b", "a", "table", "tr", "td", "img", "script", "style", "head", "title", "body", "html", "svg",
        "math", "select", "option", "font", "span", "br", "pre", "iframe", "object", "noscript", "template", "form",
        "input", "textarea", "li", "ul",
    ]);
    let attribute = prop::sample::select(vec![
        " href=\"http://x.test/\"",
        " href=\"javascript:alert(1)\"",
        " href=java&#x09;script:x",
        " onclick=\"x()\"",
        " onerror=x",
        " src=\"cid:logo@x\"",
        " src=http://t.test/p.gif",
        " style=\"color:red;background:url(x)\"",
        " style=\"width:expression(x)\"",
        " border=0\"",
        " alt='a>b'",
        " class=x",
        "\"",
        " title=\"",
    ]);
    let element = (tag, prop::collection::vec(attribute, 0..3), unicode(), any::<bool>()).prop_map(
        |(tag, attributes, text, close)| {
            let close = if close { format!("</{tag}>") } else { String::new() };
            format!("<{tag}{}>{text}{close}", attributes.concat())
        },
    );
    prop::collection::vec(prop_oneof![element, unicode()], 0..12).prop_map(|pieces| pieces.concat())
}

const CHARSETS: &[&str] = &["utf-8", "iso-8859-1", "iso-8859-2", "windows-1252", "big5", "gbk", "euc-kr", "shift_jis"];

/// `text` in `charset`, as a sender would put it on the wire.
fn in_charset(charset: &str, text: &str) -> Vec<u8> {
    match encoding_rs::Encoding::for_label(charset.as_bytes()) {
        Some(encoding) => encoding.encode(text).0.into_owned(),
        None => text.as_bytes().to_vec(),
    }
}

fn quoted_printable(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 && i % 60 == 0 {
            out.extend_from_slice(b"=\n");
        }
        if b.is_ascii_graphic() && b != b'=' || b == b' ' {
            out.push(b);
        } else {
            out.extend_from_slice(format!("={b:02X}").as_bytes());
        }
    }
    out
}

fn base64(bytes: &[u8]) -> Vec<u8> {
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
    encoded.as_bytes().chunks(60).flat_map(|line| line.iter().copied().chain(*b"\n")).collect()
}

/// A leaf part: its header lines and body, the text in a random charset and transfer encoding, sometimes
/// damaged.
fn leaf() -> impl Strategy<Value = Vec<u8>> {
    let content_type = prop::sample::select(vec![
        Some("text/plain"),
        Some("text/html"),
        Some("TEXT"),
        Some("text/enriched"),
        Some("application/octet-stream; name=\"file.bin\""),
        Some("image/png"),
        Some("message/rfc822"),
        Some("html"),
        None,
    ]);
    let charset =
        prop::option::of(prop::sample::select([CHARSETS, &["us-ascii", "x-unknown", "\"UTF-8\"", "utf-16"]].concat()));
    let encoding = prop::option::of(prop::sample::select(vec![
        "7bit",
        "8bit",
        "base64",
        "quoted-printable",
        "BASE64",
        "base64 (x)",
        "\"base64\"",
        "Quoted-Printable;",
        "x-uue",
    ]));
    let damage = prop::sample::select(vec!["", "", "", "truncate", "footer", "equals", "junk", "no-blank-line"]);
    let disposition = prop::sample::select(vec![
        "",
        "",
        "Content-Disposition: inline\n",
        "Content-Disposition: attachment; filename=\"r\u{e9}sum\u{e9}.txt\"\n",
        "Content-ID: <img1@x>\n",
    ]);
    (content_type, charset, encoding, unicode(), damage, disposition, any::<prop::sample::Index>()).prop_map(
        |(content_type, charset, encoding, text, damage, disposition, cut)| {
            let mut out = Vec::new();
            if let Some(content_type) = content_type {
                let charset = charset.map(|c| format!("; charset={c}")).unwrap_or_default();
                out.extend_from_slice(format!("Content-Type: {content_type}{charset}\n").as_bytes());
            }
            if let Some(encoding) = encoding {
                out.extend_from_slice(format!("Content-Transfer-Encoding: {encoding}\n").as_bytes());
            }
            out.extend_from_slice(disposition.as_bytes());
            if damage != "no-blank-line" {
                out.push(b'\n');
            }
            let raw = in_charset(charset.map_or("utf-8", |c| c.trim_matches('"')), &text);
            let mut body = match encoding.map(str::to_ascii_lowercase) {
                Some(e) if e.contains("base64") => base64(&raw),
                Some(e) if e.contains("quoted") => quoted_printable(&raw),
                _ => raw,
            };
            match damage {
                "truncate" if !body.is_empty() => body.truncate(cut.index(body.len())),
                "footer" => body.extend_from_slice(b"\n-------------------\nlist footer, see http://x.test/\n"),
                "equals" => {
                    let at = cut.index(body.len() + 1);
                    body.splice(at..at, *b"==");
                }
                "junk" => {
                    let at = cut.index(body.len() + 1);
                    body.splice(at..at, *b"\xff<!>");
                }
                _ => {}
            }
            out.extend_from_slice(&body);
            out.push(b'\n');
            out
        },
    )
}

/// A multipart around `parts`, its boundary used, forgotten, misspelt or closed too early.
fn multipart(parts: impl Strategy<Value = Vec<Vec<u8>>>) -> impl Strategy<Value = Vec<u8>> {
    let subtype = prop::sample::select(vec!["mixed", "alternative", "related", "digest", "report", "signed"]);
    let boundary = prop::sample::select(vec!["b", "----=_Part_1", "=Multipart Boundary 1", "b2", "b\"q", ""]);
    let closing = prop::sample::select(vec!["close", "close", "missing", "misspelt", "early"]);
    (subtype, boundary, parts, closing, unicode()).prop_map(|(subtype, boundary, parts, closing, preamble)| {
        let mut out =
            format!("Content-Type: multipart/{subtype}; boundary=\"{boundary}\"\n\n{preamble}\n").into_bytes();
        let used = if closing == "misspelt" { format!("{boundary}x") } else { boundary.to_owned() };
        for (i, part) in parts.iter().enumerate() {
            if closing == "early" && i == 1 {
                out.extend_from_slice(format!("--{used}--\n").as_bytes());
            }
            out.extend_from_slice(format!("--{used}\n").as_bytes());
            out.extend_from_slice(part);
        }
        if closing != "missing" {
            out.extend_from_slice(format!("--{used}--\nepilogue\n").as_bytes());
        }
        out
    })
}

fn mime_part() -> impl Strategy<Value = Vec<u8>> {
    leaf().prop_recursive(3, 12, 4, |inner| multipart(prop::collection::vec(inner, 0..4)))
}

/// Date header values in the shapes mail has: RFC 5322, its obsolete syntax, and worse.
fn date_value() -> impl Strategy<Value = String> {
    let day_name = prop::sample::select(vec!["", "Mon, ", "Tue,", "Wednesday, ", "Thu ", "(x) Fri, "]);
    let month = prop::sample::select(vec!["Jan", "feb", "MAR", "April", "Sept", "Dec", "Foo", "13"]);
    let year = prop::sample::select(vec!["2002", "02", "98", "102", "49", "50", "1900", "3000", "0", "99999"]);
    let time =
        prop::sample::select(vec!["10:11:12", "3:36:25", "23:59", "24:00:00", "12:00:60", "1:2:3", "", "10:11:12.5"]);
    let meridiem = prop::sample::select(vec!["", "", " AM", " pm", "PM"]);
    let zone = prop::sample::select(vec![
        "",
        "+0200",
        "-0130",
        "+-0500",
        "UT",
        "GMT",
        "utc",
        "EDT",
        "pst",
        "Z",
        "A",
        "J",
        "GMT+1",
        "01800",
        "+9999",
        "(GMT)",
        "Eastern Daylight Time",
        "(unclosed",
    ]);
    let shaped = (day_name, 0u32..40, month, year, time, meridiem, zone).prop_map(
        |(day_name, day, month, year, time, meridiem, zone)| {
            format!("{day_name}{day} {month} {year} {time}{meridiem} {zone}")
        },
    );
    prop_oneof![
        4 => shaped,
        1 => prop::sample::select(vec!["Sat Sep 21 08:18:08 2002", "2002/09/14 Sat 13:06:03 GMT", "sometime AM", "", "AM"])
            .prop_map(str::to_owned),
        1 => unicode(),
    ]
}

/// Address header values: names quoted, encoded, raw 8-bit or commented; groups (empty ones too), routes,
/// quoted local parts, garbage.
fn address_value() -> impl Strategy<Value = Vec<u8>> {
    let one = prop::sample::select(vec![
        &b"Ann <ann@example.org>"[..],
        b"\"Smith, John\" <john@example.org>",
        b"=?utf-8?q?J=C3=A1n?= <jan@example.cz>",
        b"\"undisclosed recipients\"@example.com",
        b"undisclosed-recipients:;",
        b"Team: a@example.org, b@example.org;",
        b"<@relay.example:r@example.org>",
        b"c@example.org (Carol)",
        b"\xb3\xaf\xa4j\xa4\xe5 <chan@example.tw>",
        b"Jos\xe9 <jose@example.es>",
        b"<Undisclosed-Recipient:;>",
        b"\"a\\\"b\"@example.org",
        b"jim",
        b"@",
        b"<>",
    ]);
    prop_oneof![
        3 => prop::collection::vec(one, 1..4).prop_map(|list| list.join(&b", "[..])),
        1 => bytes(),
    ]
}

/// A whole message: header fields in random order and number, then a body from [`mime_part`].
fn message() -> impl Strategy<Value = Vec<u8>> {
    let subject = prop_oneof![
        unicode().prop_map(String::into_bytes),
        (prop::sample::select(CHARSETS), unicode()).prop_map(|(charset, text)| in_charset(charset, &text)),
        Just(b"=?utf-8?b?xb1sdcWlb3XEjWvDvQ==?= =?iso-8859-2?q?k=F9=F2?=".to_vec()),
    ];
    let fields = (
        prop::option::of(date_value()),
        prop::collection::vec(address_value(), 0..2),
        prop::collection::vec(address_value(), 0..3),
        prop::collection::vec(address_value(), 0..3),
        subject,
        prop::option::of(prop::sample::select(vec!["<a@b>", "<.x,y@z> (c)", "no brackets", "<>"])),
    );
    (fields, mime_part(), any::<bool>(), any::<bool>()).prop_map(
        |((date, from, to, cc, subject, id), body, crlf, mbox)| {
            let mut out = Vec::new();
            if mbox {
                out.extend_from_slice(b"From someone@example.org  Thu Aug 22 12:36:23 2002\n");
            }
            let mut field = |name: &str, value: &[u8]| {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
                out.push(b'\n');
            };
            if let Some(date) = date {
                field("Date", date.as_bytes());
            }
            from.iter().for_each(|a| field("From", a));
            to.iter().for_each(|a| field("To", a));
            cc.iter().for_each(|a| field("Cc", a));
            field("Subject", &subject);
            if let Some(id) = id {
                field("Message-ID", id.as_bytes());
            }
            field("MIME-Version", b"1.0");
            out.extend_from_slice(&body);
            if crlf {
                out = out.split(|&b| b == b'\n').collect::<Vec<_>>().join(&b"\r\n"[..]);
            }
            out
        },
    )
}

// ---- Invariants ----

/// What holds for every message, whatever its bytes.
fn check_message(raw: &[u8]) -> Result<(), TestCaseError> {
    let m = parse(raw).into_message();
    prop_assert_eq!(m.size, raw.len() as u64);
    prop_assert!(m.snippet.chars().count() <= 200);
    prop_assert!(m.text.len() <= INDEXED_TEXT_BYTES);
    for p in m.participants() {
        let (local, domain) = p.address.rsplit_once('@').unwrap_or_default();
        prop_assert!(!local.is_empty() && !domain.is_empty(), "{:?}", p);
        prop_assert_eq!(&p.address, &p.address.to_lowercase());
        prop_assert_eq!(p.domain.as_str(), domain);
    }
    let shown = bodies(raw);
    prop_assert_eq!(shown.text.is_some(), m.has_text);
    prop_assert_eq!(shown.html.is_some(), m.has_html);
    // The attachments listed are the ones read back, position by position.
    for (position, info) in m.attachments.iter().enumerate() {
        let data = attachment_data(raw, position);
        prop_assert_eq!(data.as_ref().map(|d| &d.info), Some(info));
        if let Some(id) = &info.content_id {
            prop_assert!(part_by_content_id(raw, id).is_some(), "cid {:?}", id);
        }
    }
    prop_assert!(attachment_data(raw, m.attachments.len()).is_none());
    Ok(())
}

/// `html` with its entities and the tags [`text_to_html`] writes undone.
fn unescaped(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        text.push_str(&rest[..lt]);
        rest = &rest[lt..];
        let gt = rest.find('>').map_or(rest.len(), |p| p + 1);
        rest = &rest[gt..];
    }
    text.push_str(rest);
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

/// Whether serialised HTML (html5ever's: every attribute value double-quoted, `"` escaped inside it) holds a
/// script element, an event handler, or a URL attribute that runs script.
fn holds_script(html: &str) -> bool {
    let lower = html.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        let name_end = rest.find([' ', '>']).unwrap_or(rest.len());
        let name = &rest[..name_end];
        rest = &rest[name_end..];
        if name == "script" {
            return true;
        }
        // The attributes: ` name="value"` each, up to the `>`.
        while let Some(after) = rest.strip_prefix(' ') {
            let Some((attribute, value_and_rest)) = after.split_once("=\"") else { break };
            let (value, after_value) = value_and_rest.split_once('"').unwrap_or((value_and_rest, ""));
            let value = value.replace("&amp;", "&");
            let runs_script =
                ["javascript:", "vbscript:", "data:text"].iter().any(|s| value.trim_start().starts_with(s));
            if attribute.starts_with("on")
                || (matches!(attribute, "href" | "src" | "action" | "background") && runs_script)
            {
                return true;
            }
            rest = after_value;
        }
        if name == "style" {
            rest = &rest[rest.find("</style>").unwrap_or(rest.len())..];
        }
    }
    false
}

fn no_cid(_: &str) -> Option<String> {
    None
}

fn cid(id: &str) -> Option<String> {
    Some(format!("/cid/{id}"))
}

proptest! {
    #![proptest_config(config(COSTLY))]

    #[test]
    fn arbitrary_bytes_parse_without_panicking_and_keep_the_invariants(raw in bytes()) {
        check_message(&raw)?;
        let _ = part_by_content_id(&raw, "img1@x");
    }

    #[test]
    fn broken_mime_parses_without_panicking_and_keeps_the_invariants(raw in message()) {
        check_message(&raw)?;
    }

    #[test]
    fn sanitised_html_never_holds_script(html in prop_oneof![html(), unicode()], allow_remote in any::<bool>()) {
        for cid_url in [&no_cid as &dyn Fn(&str) -> Option<String>, &cid] {
            let out = sanitize_html(&html, &SanitizeOptions { allow_remote, cid_url });
            prop_assert!(!holds_script(&out.html), "{}", out.html);
        }
    }

    #[test]
    fn html_to_text_never_panics_and_gives_tidy_lines(html in prop_oneof![html(), unicode()]) {
        let text = html_to_text(&html);
        prop_assert!(text.lines().all(|line| !line.is_empty() && line.trim() == line), "{:?}", text);
    }

    #[test]
    fn the_editors_html_leaves_with_no_script_and_its_images_named(html in prop_oneof![html(), unicode()]) {
        let (out, images) = compose::editor_html(&html);
        prop_assert!(!holds_script(&out), "{}", out);
        for image in images {
            let cid_reference = format!("cid:{}", image.content_id);
            prop_assert!(out.contains(&cid_reference), "{} not in {}", image.content_id, out);
        }
        prop_assert!(!holds_script(&compose::editor_html_kept(&html)));
    }
}

proptest! {
    #![proptest_config(config(CHEAP))]

    #[test]
    fn text_to_html_escapes_everything_but_its_own_links(text in unicode()) {
        let html = text_to_html(&text);
        let tags_are_links = html.match_indices('<').all(|(i, _)| html[i..].starts_with("<a href=\"") || html[i..].starts_with("</a>"));
        prop_assert!(tags_are_links, "{}", html);
        prop_assert!(!html.to_ascii_lowercase().contains("<script"));
        prop_assert_eq!(unescaped(&html), text);
    }

    #[test]
    fn escaped_html_holds_no_markup_and_unescapes_to_the_text(text in unicode()) {
        let html = escape_html(&text);
        prop_assert!(!html.contains(['<', '>', '"', '\'']), "{}", html);
        prop_assert_eq!(unescaped(&html), text);
    }

    #[test]
    fn text_without_markup_is_its_own_text_tidied(text in unicode()) {
        // Characters the HTML parser itself drops or rewrites before any markup: NUL, a leading byte order
        // mark; and what the text of a page shows as a space: no-break spaces.
        let text: String = text.chars().filter(|c| !matches!(c, '<' | '&' | '\0')).collect();
        let expected = text.strip_prefix('\u{feff}').unwrap_or(&text).replace('\u{a0}', " ");
        let expected = expected.split_whitespace().collect::<Vec<_>>().join(" ");
        prop_assert_eq!(html_to_text(&text), expected);
    }

    #[test]
    fn a_subject_normalised_once_stays_so(subject in unicode()) {
        let once = normalized_subject(&subject);
        prop_assert_eq!(normalized_subject(&once), once.clone());
        prop_assert!(compose::reply_subject(&subject).starts_with("Re: "));
        prop_assert!(compose::forward_subject(&subject).starts_with("Fwd: "));
    }

    #[test]
    fn indexed_text_is_a_prefix_within_the_limit(text in unicode(), repeat in 1..60usize) {
        let text = text.repeat(repeat);
        let indexed = indexed_text(text.clone());
        prop_assert!(indexed.len() <= INDEXED_TEXT_BYTES && text.starts_with(&indexed));
        prop_assert!(text.len() > INDEXED_TEXT_BYTES || indexed == text);
    }

    #[test]
    fn every_address_a_person_types_and_we_accept_can_be_written_back(input in prop_oneof![
        unicode(),
        address_value().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]) {
        if let Ok(list) = compose::parse_address_list(Field::To, &input) {
            for mailbox in list {
                prop_assert!(compose::is_valid_address(&mailbox.address), "{:?}", mailbox);
                prop_assert!(!mailbox.name.as_deref().unwrap_or_default().chars().any(char::is_control));
            }
        }
        let _ = Mailbox::new(Some(&input), &input, Field::Cc);
        let _ = compose::quoted_reply(&input, &input);
        let _ = compose::forwarded_body(&input, &[("From", input.clone())], &input);
    }

    #[test]
    fn address_headers_give_only_lowercase_mailboxes(value in address_value()) {
        let mut raw = b"From: ".to_vec();
        raw.extend_from_slice(&value);
        raw.extend_from_slice(b"\nCc: ");
        raw.extend_from_slice(&value);
        raw.extend_from_slice(b"\n\nx\n");
        check_message(&raw)?;
    }

    #[test]
    fn any_date_header_gives_a_date_or_none_and_takes_no_other_header(value in date_value()) {
        let raw = format!("Date: {}\nFrom: ann@example.org\nSubject: kept\n\nx\n", value.replace(['\r', '\n'], " "));
        let m = parse(raw.as_bytes()).into_message();
        let from = m.from.map(|a| a.address);
        prop_assert_eq!(from.as_deref(), Some("ann@example.org"));
        prop_assert_eq!(m.subject.as_str(), "kept");
    }

    #[test]
    fn dates_round_trip_in_every_form_rfc_5322_allows(
        instant in 0i64..4_102_444_800,
        zone in prop::sample::select(vec![
            ("+0000", 0), ("-0000", 0), ("+0200", 120), ("-0130", -90), ("+1345", 825), ("UT", 0), ("GMT", 0),
            ("EST", -300), ("EDT", -240), ("CST", -360), ("CDT", -300), ("MST", -420), ("MDT", -360), ("PST", -480),
            ("PDT", -420), ("Z", 0), ("a", 0), ("", 0),
        ]),
        day_name in any::<bool>(),
        two_digit_year in any::<bool>(),
        twelve_hour in any::<bool>(),
        comment in prop::sample::select(vec!["", " (local)", "\r\n (folded)"]),
    ) {
        let (zone, east_minutes) = zone;
        let local = Utc.timestamp_opt(instant + i64::from(east_minutes) * 60, 0).single().expect("in range");
        let year = if two_digit_year && (1950..2050).contains(&chrono::Datelike::year(&local)) {
            local.format("%y").to_string()
        } else {
            local.format("%Y").to_string()
        };
        let time = if twelve_hour { local.format("%I:%M:%S %p").to_string() } else { local.format("%H:%M:%S").to_string() };
        let name = if day_name { local.format("%a, ").to_string() } else { String::new() };
        let value = format!("{name}{} {} {year} {time} {zone}{comment}", local.format("%-d"), local.format("%b"));
        let m = parse(format!("Date: {value}\r\nFrom: a@example.org\r\n\r\nx\r\n").as_bytes()).into_message();
        let expected: Option<DateTime<Utc>> = Utc.timestamp_opt(instant, 0).single();
        prop_assert_eq!(m.date, expected, "{}", value);
    }

    #[test]
    fn a_message_built_reads_back_as_written(
        to in prop::collection::vec("[a-z]{1,8}@[a-z]{1,8}\\.(cz|org|com)", 1..4),
        names in prop::collection::vec(prop::option::of(unicode()), 4),
        subject in unicode(),
        text in unicode(),
        html in prop::option::of(html()),
    ) {
        let to: Vec<Mailbox> = to.iter().zip(&names).filter_map(|(a, n)| Mailbox::new(n.as_deref(), a, Field::To).ok()).collect();
        let from = Mailbox::new(names[3].as_deref(), "me@example.org", Field::From);
        let draft = Draft { to: to.clone(), subject: subject.clone(), text, html, ..Draft::default() };
        let Ok(outgoing) = from.and_then(|from| Outgoing::new(from, draft)) else { return Ok(()) };
        let raw = outgoing.build("id.1@example.org", 1_700_000_000);
        check_message(&raw)?;
        let m = parse(&raw).into_message();
        prop_assert_eq!(m.subject.as_str(), outgoing.subject());
        let written: Vec<String> = to.iter().map(|t| t.address.to_lowercase()).collect();
        let read: Vec<String> = m.to.iter().map(|a| a.address.clone()).collect();
        prop_assert_eq!(read, written);
        prop_assert_eq!(m.message_id.as_deref(), Some("id.1@example.org"));
        prop_assert_eq!(m.date.map(|d| d.timestamp()), Some(1_700_000_000));
    }
}

// ---- What must not be lost ----

/// A word the text part of a generated message carries, to be found again.
const MARKER: &str = "wombatmarker";

/// Plain words, from a small alphabet so that none is a header field or markup.
fn words() -> impl Strategy<Value = String> {
    "[a-z]{1,9}( [a-z]{1,9}){0,12}"
}

/// A text leaf carrying [`MARKER`]: plain or HTML, its type bare or missing, its charset random, its transfer
/// encoding spelt oddly or damaged (a footer after base64, `==` in quoted-printable), its header sometimes run
/// into its body; nothing that takes the marker itself away.
fn marked_text_leaf() -> impl Strategy<Value = Vec<u8>> {
    let content_type = prop::sample::select(vec![
        Some("text/plain"),
        Some("text/plain; charset=iso-8859-1"),
        Some("text/plain; charset=\"us-ascii\""),
        Some("text"),
        Some("TEXT/PLAIN; charset=utf-8"),
        Some("text/html"),
        None,
    ]);
    let encoding = prop::sample::select(vec![
        None,
        Some("8bit"),
        Some("base64"),
        Some("BASE64 (encoded)"),
        Some("\"base64\""),
        Some("quoted-printable"),
        Some(" Quoted-Printable"),
    ]);
    let damage = prop::sample::select(vec!["", "", "footer", "equals", "no-blank-line"]);
    (content_type, encoding, damage, words(), words()).prop_map(|(content_type, encoding, damage, before, after)| {
        let html = content_type == Some("text/html");
        let text = if html {
            format!("<html><body><p>{before}</p><p>{MARKER} {after}</p></body></html>")
        } else {
            format!("{MARKER} {before}\n{after}\n")
        };
        let mut out = Vec::new();
        if let Some(content_type) = content_type {
            out.extend_from_slice(format!("Content-Type: {content_type}\n").as_bytes());
        }
        if let Some(encoding) = encoding {
            out.extend_from_slice(format!("Content-Transfer-Encoding: {encoding}\n").as_bytes());
        }
        if damage != "no-blank-line" {
            out.push(b'\n');
        }
        let lowercase = encoding.map(str::to_ascii_lowercase).unwrap_or_default();
        let mut body = if lowercase.contains("base64") {
            base64(text.as_bytes())
        } else if lowercase.contains("quoted") {
            quoted_printable(text.as_bytes())
        } else {
            text.into_bytes()
        };
        match damage {
            "footer" => body.extend_from_slice(b"\n---------------------------\nThis list is sponsored by x.test\n"),
            "equals" => body.extend_from_slice(b"\n== end ==\n"),
            _ => {}
        }
        out.extend_from_slice(&body);
        out
    })
}

/// Parts that are no body: files, and an HTML alternative without the marker.
fn other_part() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        &b"Content-Type: application/pdf; name=\"a.pdf\"\nContent-Disposition: attachment; filename=\"a.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n"[..],
        b"Content-Type: image/png\nContent-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n",
        b"Content-Type: text/plain; name=\"notes.txt\"\nContent-Disposition: attachment; filename=\"notes.txt\"\n\nnotes\n",
        // A text alternative that is a stub: the marker, when in the HTML, must still be indexed.
        b"Content-Type: text/plain\n\nThis is a multi-part message in MIME format.\n",
    ])
    .prop_map(<[u8]>::to_vec)
}

/// `leaf` in multiparts up to three deep, each with other parts around it, each closed, or left open (the
/// next outer delimiter, or the end, closing it).
fn marked_message() -> impl Strategy<Value = Vec<u8>> {
    let level = (
        prop::sample::select(vec!["mixed", "alternative", "related", "signed"]),
        prop::sample::select(vec!["b1", "----=_NextPart_000_00B2", "b1.b1"]),
        prop::collection::vec(other_part(), 0..3),
        any::<bool>(),
        any::<bool>(),
    );
    (marked_text_leaf(), prop::collection::vec(level, 0..3), prop::option::of(date_value()), any::<bool>()).prop_map(
        |(leaf, levels, date, crlf)| {
            let mut part = leaf;
            for (depth, (subtype, boundary, others, leaf_first, closed)) in levels.into_iter().enumerate() {
                let boundary = format!("{boundary}_{depth}");
                let mut out =
                    format!("Content-Type: multipart/{subtype}; boundary=\"{boundary}\"\n\npreamble\n").into_bytes();
                let mut children = others;
                let at = if leaf_first { 0 } else { children.len() };
                children.insert(at, part);
                for child in children {
                    out.extend_from_slice(format!("\n--{boundary}\n").as_bytes());
                    out.extend_from_slice(&child);
                }
                if closed {
                    out.extend_from_slice(format!("\n--{boundary}--\n").as_bytes());
                }
                part = out;
            }
            let mut out = b"From: a@example.org\nSubject: marked\n".to_vec();
            if let Some(date) = date {
                out.extend_from_slice(format!("Date: {}\n", date.replace(['\r', '\n'], " ")).as_bytes());
            }
            out.extend_from_slice(b"MIME-Version: 1.0\n");
            out.extend_from_slice(&part);
            if crlf {
                out = out.split(|&b| b == b'\n').collect::<Vec<_>>().join(&b"\r\n"[..]);
            }
            out
        },
    )
}

/// Text the reader shows, with the words that must be there and those that must not.
fn visible_and_hidden_html() -> impl Strategy<Value = (String, Vec<String>, Vec<String>)> {
    let segment = (0..14usize, 0..1000u32).prop_map(|(kind, n)| {
        let (visible, hidden) = (format!("vis{n}"), format!("hid{n}"));
        let (html, shown) = match kind {
            0 => (format!("<p class=\"x\">{visible}</p>"), true),
            1 => (format!("<div>{visible} "), true),
            2 => (format!("<a href=\"http://x.test/\"\">{visible}</a> "), true),
            3 => (format!("<table border=0\"><tr><td>{visible}</td></tr></table>"), true),
            4 => (format!("<font face=\"Arial\"\" size=2>{visible}</font> "), true),
            5 => (format!(" {visible} "), true),
            6 => (format!("<b><i>{visible}</b></i> "), true),
            7 => (format!("<script>var {hidden};</script>"), false),
            8 => (format!("<style>.{hidden} {{ color: red }}</style>"), false),
            9 => (format!("<title>{hidden}</title>"), false),
            10 => (format!("<template>{hidden}</template><noscript>{hidden}</noscript>"), false),
            11 => (format!("<select><option>{hidden}</option></select>"), false),
            12 => ("<head>".to_owned(), false),
            _ => ("<!-- a comment --><br>".to_owned(), false),
        };
        let word = if shown { visible } else { hidden };
        (html, shown, word)
    });
    (any::<bool>(), prop::collection::vec(segment, 1..20)).prop_map(|(document, segments)| {
        let mut html = if document { "<html><body>".to_owned() } else { String::new() };
        let (mut visible, mut hidden) = (Vec::new(), Vec::new());
        for (piece, shown, word) in segments {
            html.push_str(&piece);
            if piece.contains(&word) {
                if shown { visible.push(word) } else { hidden.push(word) }
            }
        }
        (html, visible, hidden)
    })
}

/// Text in a charset's own repertoire, so that nothing is unmappable, with ASCII words between.
fn text_in(charset: &'static str) -> impl Strategy<Value = String> {
    let alphabet: &'static str = match charset {
        "big5" | "gbk" => "中文大小上下人天日月山水火木金土您好朋友",
        "euc-kr" => "안녕하세요회원님특별한소식입니다",
        "shift_jis" => "こんにちは新しいサービスご案内",
        "iso-8859-2" => "Příliš žluťoučký kůň úpěl ďábelské ódy",
        "koi8-r" => "Привет мир Съешь же ещё этих мягких булок",
        _ => "Grüße aus Köln schöne Straße José Müller",
    };
    let letters: Vec<char> = alphabet.chars().collect();
    prop::collection::vec(prop_oneof![3 => prop::sample::select(letters), 1 => Just(' '), 1 => Just('a')], 1..30)
        .prop_map(|chars| chars.into_iter().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" "))
        .prop_filter("a subject with text", |s| !s.is_empty())
}

/// A mailbox as written in a header, and the address it names in its canonical form: a local part that is
/// no dot-atom stays quoted (RFC 5322 section 3.4.1), one that is loses its quotes.
fn written_mailbox() -> impl Strategy<Value = (String, String)> {
    let dot_atom = "[a-z0-9!#$%&'*+/=?^_`{|}~-]{1,8}(\\.[a-z0-9_-]{1,5}){0,2}";
    let local = prop_oneof![
        dot_atom.prop_map(|l| (l.clone(), l)),
        "[ -~]{1,10}".prop_map(|l| {
            let escaped: String =
                l.chars().flat_map(|c| if matches!(c, '"' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
            let is_dot_atom = !l.is_empty()
                && l.split('.').all(|run| {
                    !run.is_empty()
                        && run.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c))
                });
            let canonical = if is_dot_atom { l.clone() } else { format!("\"{escaped}\"") };
            (format!("\"{escaped}\""), canonical)
        }),
    ];
    let domain = "[a-z0-9]{1,10}(\\.[a-z]{2,5}){1,2}";
    let name = prop::sample::select(vec![
        "",
        "Ann ",
        "\"Smith, John\" ",
        "=?utf-8?q?J=C3=A1n_Nov=C3=A1k?= ",
        "\"a \\\"b\\\"\" ",
    ]);
    (local, domain, name, any::<bool>()).prop_map(|((written, canonical), domain, name, angle)| {
        let address = format!("{written}@{domain}");
        let written = if !name.is_empty() || angle { format!("{name}<{address}>") } else { address };
        (written, format!("{canonical}@{domain}").to_lowercase())
    })
}

proptest! {
    #![proptest_config(config(COSTLY))]

    #[test]
    fn the_text_of_a_message_survives_broken_structure_and_encodings(raw in marked_message()) {
        let m = parse(&raw).into_message();
        prop_assert!(m.text.contains(MARKER), "lost from the index:\n{}", String::from_utf8_lossy(&raw));
        let shown = bodies(&raw);
        let in_text = shown.text.as_deref().is_some_and(|t| t.contains(MARKER));
        let in_html = shown.html.as_deref().is_some_and(|h| html_to_text(h).contains(MARKER));
        prop_assert!(in_text || in_html, "not shown:\n{}", String::from_utf8_lossy(&raw));
        prop_assert_eq!(m.from.map(|a| a.address).unwrap_or_default(), "a@example.org");
        prop_assert_eq!(m.subject.as_str(), "marked");
    }

    #[test]
    fn html_to_text_keeps_every_visible_word_and_no_hidden_one(case in visible_and_hidden_html()) {
        let (html, visible, hidden) = case;
        let text = html_to_text(&html);
        let words: std::collections::HashSet<&str> = text.split(|c: char| !c.is_alphanumeric()).collect();
        for word in &visible {
            prop_assert!(words.contains(word.as_str()), "{} lost from {:?} of {}", word, text, html);
        }
        for word in &hidden {
            prop_assert!(!words.contains(word.as_str()), "{} shown in {:?} of {}", word, text, html);
        }
        // What the reader shows reads as the same text.
        let shown = sanitize_html(&html, &SanitizeOptions { allow_remote: false, cid_url: &no_cid });
        prop_assert_eq!(html_to_text(&shown.html), text);
    }
}

proptest! {
    #![proptest_config(config(CHEAP))]

    #[test]
    fn raw_header_text_in_the_declared_charset_reads_back(
        (charset, subject, name) in prop::sample::select(vec!["big5", "gbk", "euc-kr", "shift_jis", "iso-8859-2", "koi8-r", "windows-1252"])
            .prop_flat_map(|charset| (Just(charset), text_in(charset), text_in(charset))),
        in_part in any::<bool>(),
    ) {
        let declared = format!("Content-Type: text/plain; charset={charset}\n");
        let (top, part) = if in_part {
            ("Content-Type: multipart/mixed; boundary=b\n".to_owned(), format!("--b\n{declared}\nx\n--b--\n"))
        } else {
            (declared, "x\n".to_owned())
        };
        let raw = [
            &b"From: "[..], &in_charset(charset, &name), b" <a@example.org>\nSubject: ", &in_charset(charset, &subject),
            b"\n", top.as_bytes(), b"\n", part.as_bytes(),
        ].concat();
        // Mail clients read header bytes that form UTF-8 as UTF-8, whatever the message declares; short CJK text
        // sometimes does by chance.
        let read = |text: &str| {
            let bytes = in_charset(charset, text);
            String::from_utf8(bytes).map_or_else(|_| text.to_owned(), |utf8| utf8.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        let m = parse(&raw).into_message();
        prop_assert_eq!(m.subject, read(&subject));
        let from_name = m.from.and_then(|a| a.name);
        prop_assert_eq!(from_name, Some(read(&name)).filter(|n| !n.is_empty()));
    }

    #[test]
    fn every_mailbox_of_every_address_header_is_read_in_order(
        headers in prop::collection::vec(prop::collection::vec(written_mailbox(), 0..4), 1..4),
        group in any::<bool>(),
        fold in any::<bool>(),
    ) {
        let separator = if fold { ",\r\n " } else { ", " };
        let mut raw = String::from("From: a@example.org\r\n");
        let mut expected = Vec::new();
        for mailboxes in &headers {
            let written: Vec<&str> = mailboxes.iter().map(|(w, _)| w.as_str()).collect();
            let list = written.join(separator);
            let value = if group { format!("Friends: {list};, undisclosed-recipients:;") } else { list };
            raw.push_str(&format!("Cc: {value}\r\n"));
            expected.extend(mailboxes.iter().map(|(_, canonical)| canonical.clone()));
        }
        raw.push_str("\r\nx\r\n");
        let m = parse(raw.as_bytes()).into_message();
        let read: Vec<String> = m.cc.iter().map(|a| a.address.clone()).collect();
        prop_assert_eq!(read, expected, "{}", raw);
    }
}
