//! The corpus the store benchmarks replicate: every `.eml` of a `.tar.gz`, and a message given a
//! Message-ID of its own so that copies of it are distinct messages.

use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;

/// Every `.eml` of a `.tar.gz`.
pub fn read_corpus(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut messages = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.path()?.to_string_lossy().ends_with(".eml") {
            continue;
        }
        let mut raw = Vec::new();
        entry.read_to_end(&mut raw)?;
        messages.push(raw);
    }
    Ok(messages)
}

/// `raw` with `Message-ID: <id>` as its first header instead of its own Message-ID (if it had
/// one), ended as the message's first line is; everything else is kept byte for byte.
pub fn with_message_id(raw: &[u8], id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + id.len() + 16);
    let crlf = raw.iter().position(|b| *b == b'\n').is_none_or(|i| i > 0 && raw[i - 1] == b'\r');
    out.extend_from_slice(format!("Message-ID: <{id}>{}", if crlf { "\r\n" } else { "\n" }).as_bytes());
    let mut rest: &[u8] = raw;
    // Drop the original Message-ID header line (and its folded continuation lines).
    let mut skipping = false;
    while !rest.is_empty() {
        let end = rest.iter().position(|b| *b == b'\n').map_or(rest.len(), |i| i + 1);
        let line = &rest[..end];
        if line == b"\r\n" || line == b"\n" {
            out.extend_from_slice(rest);
            break;
        }
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !folded {
            skipping = line.len() >= 11 && line[..11].eq_ignore_ascii_case(b"message-id:");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_message_id_and_keeps_the_rest() {
        let raw = b"From: a@b.test\r\nMessage-ID:\r\n <old@b.test>\r\nSubject: hi\r\n\r\nMessage-ID: body\r\n";
        let out = with_message_id(raw, "new@b.test");
        assert_eq!(
            out,
            b"Message-ID: <new@b.test>\r\nFrom: a@b.test\r\nSubject: hi\r\n\r\nMessage-ID: body\r\n".to_vec()
        );
        let none = with_message_id(b"Subject: x\n\nbody", "n@b.test");
        assert_eq!(none, b"Message-ID: <n@b.test>\nSubject: x\n\nbody".to_vec());
    }
}
