//! A message whose large files are kept apart from it until it goes. The store keeps such a file
//! once, in pieces, rather than base64-encoded inside the built message; the sender joins them
//! when the provider takes the whole message (Gmail), reading one piece at a time, so that the
//! server never holds the file more than about once.
//!
//! The message built without its files (its "light" form) becomes the first part of a
//! `multipart/mixed` whose other parts are the files: its own `Content-*` fields move into that
//! first part, the others stay at the top. A light message that had small files keeps them,
//! one level down, which readers show the same.

use base64::Engine as _;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;

/// Base64 lines of 76 characters are 57 bytes of a file.
pub const LINE_BYTES: usize = 57;

/// The head of the whole message: the light message's top fields, the `multipart/mixed` that
/// holds it and the files, and its first part (the light message's own content) up to and
/// including the light body. What follows is one [`file_head`] and its content per file, then
/// [`end`].
pub fn head(light: &[u8], boundary: &str) -> Vec<u8> {
    let (fields, body) = match find(light, b"\r\n\r\n") {
        Some(at) => (&light[..at + 2], &light[at + 4..]),
        None => (light, &[][..]),
    };
    let mut top = Vec::with_capacity(fields.len() + 128);
    let mut content = Vec::new();
    let mut is_content = false;
    for line in fields.split_inclusive(|&b| b == b'\n') {
        // A line starting with white space continues the field before it (RFC 5322 2.2.3).
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            is_content = line.len() >= 8 && line[..8].eq_ignore_ascii_case(b"content-");
        }
        if is_content { content.extend_from_slice(line) } else { top.extend_from_slice(line) }
    }
    if content.is_empty() {
        content.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
    }
    let mut out = top;
    out.extend_from_slice(format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n").as_bytes());
    out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    out.extend_from_slice(&content);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// The delimiter and fields of a file's part; its content follows as [`Base64Lines`].
pub fn file_head(boundary: &str, name: &str, content_type: &str) -> Vec<u8> {
    let mut out = format!("\r\n--{boundary}\r\n").into_bytes();
    // mail-builder writes the fields as it does for a file it holds (names in RFC 2231 when
    // they need it); a Content-Transfer-Encoding given makes it write the (empty) body as it is.
    MimePart::new(content_type, &b""[..])
        .attachment(name)
        .header("Content-Transfer-Encoding", Raw::new("base64"))
        .write_part(&mut out);
    out
}

/// The close of the message, after its last file.
pub fn end(boundary: &str) -> Vec<u8> {
    format!("\r\n--{boundary}--\r\n").into_bytes()
}

/// The exact length of a file of `size` bytes as [`Base64Lines`] writes it.
pub fn lines_len(size: usize) -> usize {
    let rest = size % LINE_BYTES;
    size / LINE_BYTES * 78 + if rest > 0 { rest.div_ceil(3) * 4 + 2 } else { 0 }
}

/// How many bytes a file of `size` takes in the message: its base64 lines and part fields.
pub fn encoded_len(size: usize, name: &str) -> usize {
    let lines = size.div_ceil(LINE_BYTES);
    lines * 2 + size.div_ceil(3) * 4 + 2 * name.len() + 256
}

/// Base64 in lines of 76 characters, written as the pieces of a file come, whatever their sizes.
#[derive(Debug, Default)]
pub struct Base64Lines {
    carry: Vec<u8>,
}

impl Base64Lines {
    /// Encodes `piece` onto `out`, keeping back what does not fill a line.
    pub fn push(&mut self, mut piece: &[u8], out: &mut Vec<u8>) {
        if !self.carry.is_empty() {
            let wanted = (LINE_BYTES - self.carry.len()).min(piece.len());
            self.carry.extend_from_slice(&piece[..wanted]);
            piece = &piece[wanted..];
            if self.carry.len() < LINE_BYTES {
                return;
            }
            line(&std::mem::take(&mut self.carry), out);
        }
        let mut lines = piece.chunks_exact(LINE_BYTES);
        out.reserve(piece.len() / 3 * 4 + piece.len() / LINE_BYTES * 2 + 80);
        for whole in &mut lines {
            line(whole, out);
        }
        self.carry.extend_from_slice(lines.remainder());
    }

    /// Writes the last, shorter line.
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.carry.is_empty() {
            line(&self.carry, out);
        }
    }
}

fn line(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + bytes.len().div_ceil(3) * 4, 0);
    // The room was made for exactly this much.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(bytes, &mut out[start..]);
    out.extend_from_slice(b"\r\n");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The whole message from its light form and its files (name, content type, content) at once:
/// what the sender writes piece by piece, for tests and small messages.
pub fn join(light: &[u8], boundary: &str, files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut out = head(light, boundary);
    for (name, content_type, bytes) in files {
        out.extend_from_slice(&file_head(boundary, name, content_type));
        let mut lines = Base64Lines::default();
        lines.push(bytes, &mut out);
        lines.finish(&mut out);
    }
    out.extend_from_slice(&end(boundary));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::{Draft, Field, Mailbox, Outgoing, OutgoingAttachment};

    fn outgoing(html: Option<&str>, small: Vec<OutgoingAttachment>) -> Outgoing {
        let from = Mailbox::new(Some("Ann Example"), "ann@example.test", Field::From).unwrap();
        let to = Mailbox::new(Some("Jana Nováková"), "jana@example.org", Field::To).unwrap();
        let draft = Draft {
            to: vec![to],
            subject: "Plány na příští rok".to_owned(),
            text: "The plans are attached.\n".to_owned(),
            html: html.map(str::to_owned),
            attachments: small,
            ..Draft::default()
        };
        Outgoing::new(from, draft).unwrap()
    }

    fn file(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn a_joined_message_reads_back_with_its_text_its_fields_and_every_file_whole() {
        let small =
            OutgoingAttachment { name: "note.txt".into(), content_type: "text/plain".into(), bytes: b"hi".to_vec() };
        for (html, smalls) in [
            (None, vec![]),
            (Some("<p>The <b>plans</b></p>"), vec![]),
            (None, vec![small.clone()]),
            (Some("<p>x</p>"), vec![small]),
        ] {
            let light = outgoing(html, smalls.clone()).build("abc@example.test", 1_700_000_000);
            let big = file(200_001, 7);
            let odd = file(57 * 3 + 1, 9);
            let whole = join(
                &light,
                "mailroom-files-x1",
                &[("plány 2027.pdf", "application/pdf", &big), ("a.bin", "application/octet-stream", &odd)],
            );
            let parsed = crate::parse(&whole).into_message();
            assert_eq!(parsed.subject, "Plány na příští rok");
            assert_eq!(parsed.message_id.as_deref(), Some("abc@example.test"));
            let bodies = crate::bodies(&whole);
            assert!(bodies.text.as_deref().unwrap_or_default().contains("The plans are attached."), "{parsed:?}");
            assert_eq!(bodies.html.is_some(), html.is_some());
            let names: Vec<&str> = parsed.attachments.iter().map(|a| a.name.as_str()).collect();
            let mut expected = smalls.iter().map(|a| a.name.as_str()).collect::<Vec<_>>();
            expected.extend(["plány 2027.pdf", "a.bin"]);
            assert_eq!(names, expected);
            let count = parsed.attachments.len();
            assert_eq!(crate::attachment_data(&whole, count - 2).unwrap().data, big);
            assert_eq!(crate::attachment_data(&whole, count - 1).unwrap().data, odd);
        }
    }

    #[test]
    fn pieces_of_any_size_make_the_same_lines_as_the_whole() {
        let data = file(10_000, 3);
        let mut whole = Vec::new();
        let mut lines = Base64Lines::default();
        lines.push(&data, &mut whole);
        lines.finish(&mut whole);
        for size in [1, 2, 56, 57, 58, 1000, 9999] {
            let mut pieces = Vec::new();
            let mut lines = Base64Lines::default();
            for piece in data.chunks(size) {
                lines.push(piece, &mut pieces);
            }
            lines.finish(&mut pieces);
            assert_eq!(pieces, whole, "pieces of {size}");
        }
        assert!(whole.split(|&b| b == b'\n').all(|l| l.len() <= 77));
        for size in [0, 1, 2, 3, 56, 57, 58, 114, 115, 10_000] {
            let mut out = Vec::new();
            let mut lines = Base64Lines::default();
            lines.push(&data[..size], &mut out);
            lines.finish(&mut out);
            assert_eq!(lines_len(size), out.len(), "{size} bytes");
        }
        assert!(encoded_len(data.len(), "x") >= whole.len());
    }
}
