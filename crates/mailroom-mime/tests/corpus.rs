//! The whole SpamAssassin corpus must import: every message parses without panicking, and nearly all of them
//! give the fields the mailbox view needs.

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
