//! The whole SpamAssassin corpus must import: every message parses without panicking, and nearly all of them
//! give the fields the mailbox view needs; and each reads as Python's email package reads it, or the difference
//! is listed with its reason in mime-differences.txt.

use std::io::Read;
use std::path::PathBuf;

use mail_parser::{MessageParser, PartType};
use mailroom_mime::{ParseOutcome, SanitizeOptions, parse, sanitize_html};

const EXPECTED_MESSAGES: usize = 3_250;

fn corpus_path() -> PathBuf {
    match std::env::var_os("MAILROOM_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir).join("corpora/spamassassin.tar.gz"),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpora/spamassassin.tar.gz")),
    }
}

/// Every `.eml` in the archive as (path, raw bytes), read straight from the tarball so nothing is unpacked.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let path = corpus_path();
    assert!(
        path.is_file(),
        "the SpamAssassin corpus is missing at {} (set MAILROOM_SHARED_DIR to the folder holding corpora/)",
        path.display()
    );
    let file = std::fs::File::open(&path).expect("open the corpus");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut messages = Vec::new();
    for entry in archive.entries().expect("read the corpus archive") {
        let mut entry = entry.expect("read a corpus entry");
        let name = entry.path().expect("entry path").to_string_lossy().into_owned();
        if !name.ends_with(".eml") {
            continue;
        }
        let mut raw = Vec::new();
        entry.read_to_end(&mut raw).expect("read a corpus message");
        messages.push((name, raw));
    }
    messages
}

#[test]
fn every_corpus_message_parses_and_nearly_all_have_subject_sender_and_date() {
    let messages = corpus();
    assert_eq!(messages.len(), EXPECTED_MESSAGES, "unexpected number of messages in the corpus");

    let mut parsed = 0;
    let mut unreadable = 0;
    let mut complete = 0;
    let mut bad_participants = Vec::new();
    for (name, raw) in &messages {
        let message = match parse(raw) {
            ParseOutcome::Parsed(m) => {
                parsed += 1;
                m
            }
            ParseOutcome::Unreadable(m) => {
                unreadable += 1;
                m
            }
        };
        assert_eq!(message.size, raw.len() as u64, "{name}: size");
        assert!(message.snippet.chars().count() <= 200, "{name}: snippet too long");
        if !message.subject.is_empty() && message.from.is_some() && message.date.is_some() {
            complete += 1;
        }
        for p in message.participants() {
            if !p.address.contains('@') {
                bad_participants.push(format!("{name}: {:?} {:?}", p.role, p.address));
            }
            assert_eq!(p.address, p.address.to_lowercase(), "{name}: address not lowercase");
        }
    }

    assert_eq!(parsed + unreadable, EXPECTED_MESSAGES);
    assert!(parsed >= 3_200, "only {parsed} parsed, {unreadable} unreadable");
    assert!(complete >= 3_000, "only {complete} of {parsed} have a subject, a from address and a date");
    // mail-parser keeps whatever stood in an address header; a bare word there is reported, not hidden.
    assert!(
        bad_participants.len() <= 10,
        "{} participant addresses without '@':\n{}",
        bad_participants.len(),
        bad_participants.join("\n")
    );
}

/// Whether a start tag in serialised HTML carries an `on…=` event handler (the text of `<style>` skipped).
fn has_event_handler(html: &str) -> bool {
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt..];
        let gt = rest.find('>').unwrap_or(rest.len() - 1);
        let tag = rest[..=gt].to_ascii_lowercase();
        rest = &rest[gt + 1..];
        if tag.starts_with("<style") {
            rest = &rest[rest.find("</style>").unwrap_or(rest.len())..];
        }
        let handler = tag.match_indices(" on").any(|(i, _)| {
            let name = &tag[i + 3..];
            let len = name.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(name.len());
            len > 0 && name[len..].starts_with('=')
        });
        if handler {
            return true;
        }
    }
    false
}

#[test]
fn sanitising_every_corpus_html_part_yields_no_script_handlers_or_script_urls() {
    let cid_url = |id: &str| Some(format!("/cid/{id}"));
    let (mut parts, mut blocked) = (0, 0);
    for (name, raw) in corpus() {
        let Some(message) = MessageParser::default().parse(&raw) else { continue };
        for part in &message.parts {
            let PartType::Html(html) = &part.body else { continue };
            parts += 1;
            for allow_remote in [false, true] {
                let out = sanitize_html(html, &SanitizeOptions { allow_remote, cid_url: &cid_url });
                let lower = out.html.to_ascii_lowercase();
                assert!(!lower.contains("<script"), "{name}: <script in {}", out.html);
                assert!(!lower.contains("javascript:"), "{name}: javascript: in {}", out.html);
                assert!(!has_event_handler(&out.html), "{name}: event handler in {}", out.html);
                assert!(allow_remote || !lower.contains("src=\"http"), "{name}: remote image in {}", out.html);
                blocked += usize::from(!allow_remote && out.blocked_remote);
            }
        }
    }
    assert!(parts > 300, "only {parts} HTML parts in the corpus");
    assert!(blocked > 100, "only {blocked} HTML parts had remote content blocked");
}

// ---- The differential test against Python's email package ----

/// The fields compared, in the order their agreement is printed.
const FIELDS: [&str; 10] =
    ["message_id", "subject", "from", "to", "cc", "date", "has_text", "has_html", "attachments", "body"];

/// The share of messages on which every field must agree with the reference.
const REQUIRED_AGREEMENT: f64 = 0.995;

/// One message's fields, normalised the same way on both sides, as strings to compare and show.
type Fields = std::collections::BTreeMap<&'static str, String>;

/// A message's fields as read, and the same with only their ASCII characters. Where Python could not decode
/// a header or a body (raw 8-bit bytes without a charset, a charset it does not know), it shows U+FFFD; a
/// character decoded cannot be compared with one that was not, so such a field is compared on what both
/// sides read alike, its ASCII characters (its structure, its transfer decoding, its words in ASCII).
struct Reading {
    fields: Fields,
    ascii: Fields,
}

/// `text` without its characters beyond ASCII (C1 controls read as windows-1252 first, as everywhere).
fn ascii_only(text: &str) -> String {
    c1_as_windows_1252(text).chars().filter(char::is_ascii).collect()
}

/// White space collapsed and trimmed, and C1 control characters read as windows-1252: the WHATWG Encoding
/// Standard (which mail-parser follows) reads the label iso-8859-1 as windows-1252, Python as ISO-8859-1,
/// whose C1 controls no text means (`\u{92}` for `’`).
fn collapsed(text: &str) -> String {
    c1_as_windows_1252(text).split_whitespace().collect::<Vec<_>>().join(" ")
}

fn c1_as_windows_1252(text: &str) -> String {
    text.chars()
        .map(|c| match u8::try_from(u32::from(c)) {
            Ok(byte @ 0x80..=0x9f) => {
                encoding_rs::WINDOWS_1252.decode_without_bom_handling(&[byte]).0.chars().next().unwrap_or(c)
            }
            _ => c,
        })
        .collect()
}

/// Addresses trimmed and lowercased, in order; an entry without '@' is no mailbox (Python lists what it
/// could not read as one, mailroom-mime leaves it out) and is dropped on both sides.
fn addresses<'a>(list: impl IntoIterator<Item = &'a str>) -> String {
    let kept: Vec<String> =
        list.into_iter().map(|a| a.trim().to_lowercase()).filter(|a| a.contains('@') && !a.starts_with('@')).collect();
    kept.join(", ")
}

/// A body's first hundred characters that are not white space: the two sides break lines and space
/// HTML differently, and neither is wrong.
fn body_start(text: &str) -> String {
    c1_as_windows_1252(text).chars().filter(|c| !c.is_whitespace()).take(100).collect()
}

/// File names, trimmed, sorted; unnamed parts are not compared.
fn names<'a>(list: impl IntoIterator<Item = &'a str>) -> String {
    let mut names: Vec<String> = list.into_iter().map(collapsed).filter(|n| !n.is_empty()).collect();
    names.sort();
    names.join(" | ")
}

fn message_id(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').trim().to_owned()
}

/// The fields of a reading; `text` maps each piece of text before it is normalised (the identity, or
/// [`ascii_only`]).
struct Raw<'a> {
    message_id: String,
    subject: String,
    from: Vec<&'a str>,
    to: Vec<&'a str>,
    cc: Vec<&'a str>,
    date: String,
    has_text: bool,
    has_html: bool,
    attachments: Vec<&'a str>,
    body: String,
}

impl Raw<'_> {
    fn fields(&self, text: impl Fn(&str) -> String) -> Fields {
        let list = |list: &[&str]| list.iter().map(|a| text(a)).collect::<Vec<_>>();
        let mut f = Fields::new();
        f.insert("message_id", message_id(&self.message_id));
        f.insert("subject", collapsed(&text(&self.subject)));
        f.insert("from", addresses(list(&self.from).iter().map(String::as_str)));
        f.insert("to", addresses(list(&self.to).iter().map(String::as_str)));
        f.insert("cc", addresses(list(&self.cc).iter().map(String::as_str)));
        f.insert("date", self.date.clone());
        f.insert("has_text", self.has_text.to_string());
        f.insert("has_html", self.has_html.to_string());
        f.insert("attachments", names(self.attachments.iter().copied()));
        f.insert("body", body_start(&text(&self.body)));
        f
    }

    fn reading(&self) -> Reading {
        Reading { fields: self.fields(str::to_owned), ascii: self.fields(ascii_only) }
    }
}

fn reference_reading_of(json: &serde_json::Value) -> Reading {
    let text = |key: &str| json[key].as_str().unwrap_or_default().to_owned();
    let list = |key: &str| json[key].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect::<Vec<_>>();
    Raw {
        message_id: text("message_id"),
        subject: text("subject"),
        from: list("from"),
        to: list("to"),
        cc: list("cc"),
        date: json["date"].as_i64().map(|d| d.to_string()).unwrap_or_default(),
        has_text: json["has_text"].as_bool().unwrap_or_default(),
        has_html: json["has_html"].as_bool().unwrap_or_default(),
        attachments: list("attachments"),
        body: text("body"),
    }
    .reading()
}

/// mailroom-mime's reading, its body read the way the reference chose (the text part, or the HTML reduced
/// to text), so that the same thing is compared.
fn mailroom_reading(raw: &[u8], reference_body_type: Option<&str>) -> Reading {
    let m = parse(raw).into_message();
    let bodies = mailroom_mime::bodies(raw);
    let body = match reference_body_type {
        Some("html") => bodies.html.as_deref().map(mailroom_mime::html_to_text).unwrap_or_default(),
        Some(_) => bodies.text.unwrap_or_default(),
        None => bodies.text.or(bodies.html.as_deref().map(mailroom_mime::html_to_text)).unwrap_or_default(),
    };
    Raw {
        message_id: m.message_id.clone().unwrap_or_default(),
        subject: m.subject.clone(),
        from: m.from.iter().chain(&m.from_others).map(|a| a.address.as_str()).collect(),
        to: m.to.iter().map(|a| a.address.as_str()).collect(),
        cc: m.cc.iter().map(|a| a.address.as_str()).collect(),
        date: m.date.map(|d| d.timestamp().to_string()).unwrap_or_default(),
        has_text: m.has_text,
        has_html: m.has_html,
        // "attachment" is the name mailroom-mime gives a part without one.
        attachments: m.attachments.iter().map(|a| a.name.as_str()).filter(|n| *n != "attachment").collect(),
        body,
    }
    .reading()
}

/// The reference reading: one JSON object per message from tests/reference_parser.py, or `None` when
/// python3 is not there (outside CI).
fn reference_reading() -> Option<Vec<serde_json::Value>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference_parser.py");
    let output = match std::process::Command::new("python3").arg(script).arg(corpus_path()).output() {
        Ok(output) => output,
        Err(error) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipped: the differential test needs python3 ({error})");
            return None;
        }
        Err(error) => panic!("the differential test needs python3 on CI: {error}"),
    };
    assert!(output.status.success(), "reference_parser.py failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout)
        .unwrap_or_else(|e| panic!("the reference printed no UTF-8: {}", e.utf8_error()));
    Some(stdout.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect())
}

/// The differences mime-differences.txt lists, as (path, field).
fn listed_differences() -> std::collections::BTreeSet<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mime-differences.txt");
    let text = std::fs::read_to_string(path).expect("read tests/mime-differences.txt");
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut words = line.split_whitespace();
            let (Some(path), Some(field), Some(_reason)) = (words.next(), words.next(), words.next()) else {
                panic!("mime-differences.txt: {line:?} is not `path field reason`");
            };
            assert!(FIELDS.contains(&field), "mime-differences.txt: unknown field in {line:?}");
            (path.to_owned(), field.to_owned())
        })
        .collect()
}

#[test]
fn every_corpus_message_reads_as_pythons_email_package_reads_it_or_the_difference_is_listed() {
    let Some(reference) = reference_reading() else { return };
    let messages: std::collections::HashMap<String, Vec<u8>> = corpus().into_iter().collect();
    assert_eq!(reference.len(), messages.len(), "the reference read another number of messages");
    let listed = listed_differences();
    let mut found = std::collections::BTreeMap::new();
    for json in &reference {
        let path = json["path"].as_str().expect("a path").to_owned();
        let raw = &messages[&path];
        let theirs = reference_reading_of(json);
        let ours = mailroom_reading(raw, json["body_type"].as_str());
        for field in FIELDS {
            let undecoded = theirs.fields[field].contains('\u{fffd}');
            let (theirs, ours) = if undecoded { (&theirs.ascii, &ours.ascii) } else { (&theirs.fields, &ours.fields) };
            if theirs[field] != ours[field] {
                found.insert((path.clone(), field.to_owned()), (ours[field].clone(), theirs[field].clone()));
            }
        }
    }
    let total = reference.len() as f64;
    let mut report = String::from("agreement with Python's email package, per field:\n");
    let mut short = Vec::new();
    for field in FIELDS {
        let differing = found.keys().filter(|(_, f)| f == field).count();
        let agreement = 1.0 - differing as f64 / total;
        report.push_str(&format!("  {field:<12} {:>7.2} % ({differing} differ)\n", agreement * 100.0));
        if agreement < REQUIRED_AGREEMENT {
            short.push(field);
        }
    }
    report.push_str(&format!("  {} differences, {} listed in tests/mime-differences.txt\n", found.len(), listed.len()));
    eprint!("{report}");
    let unlisted: Vec<String> = found
        .iter()
        .filter(|(key, _)| !listed.contains(*key))
        .map(|((path, field), (ours, theirs))| {
            format!("{path} {field}\n    mailroom: {ours:?}\n    python:   {theirs:?}")
        })
        .collect();
    let gone: Vec<String> =
        listed.iter().filter(|key| !found.contains_key(*key)).map(|(path, field)| format!("{path} {field}")).collect();
    assert!(
        unlisted.is_empty() && gone.is_empty() && short.is_empty(),
        "{report}fields agreeing on fewer than 99.5 % of messages: {short:?}\n\
         differences not listed in tests/mime-differences.txt (fix mailroom-mime, or list them with the \
         reason):\n{}\nlisted differences that no longer occur (remove them):\n{}",
        unlisted.join("\n"),
        gone.join("\n")
    );
}
