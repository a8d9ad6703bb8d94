//! The whole SpamAssassin corpus must import: every message parses without panicking, and nearly all of them
//! give the fields the mailbox view needs.

use std::io::Read;
use std::path::PathBuf;

use mailroom_mime::{ParseOutcome, parse};

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
