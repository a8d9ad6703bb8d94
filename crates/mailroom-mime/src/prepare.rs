//! A repair pass over a message's raw bytes before mail-parser reads them.
//!
//! mail-parser is strict where mail is not: a part it cannot decode keeps its raw bytes and becomes an
//! attachment, and a header it cannot decode becomes replacement characters. Rather than second-guess its
//! reading afterwards (its part lists, offsets and decoded bodies all follow from the structure it saw), this
//! pass hands it well-formed bytes, so that everything after it — bodies, attachments, their positions and
//! sizes — comes from one reading. The pass is one scan of the lines, and the message is copied only when
//! something needs repair; most messages pass through untouched.
//!
//! What it repairs:
//! - header fields holding bytes that are not UTF-8 (raw Big5, GB2312, EUC-KR, Latin-1 sent without RFC 2047)
//!   are transcoded to UTF-8, from the charset the message declares (its own Content-Type's, else the first
//!   text part's), else from the charset chardetng detects in them;
//! - a header block that runs into its body without a blank line gets one where the first line that is not a
//!   header field starts;
//! - a multipart left open gets its closing delimiter, before the next delimiter of an enclosing multipart
//!   (RFC 2046 forbids those inside it) or at the end of the message;
//! - a multipart whose boundary never appears becomes text/plain, so that its text is shown;
//! - `Content-Type: text` without a subtype becomes text/plain (RFC 2045's default);
//! - a Content-Transfer-Encoding of base64 or quoted-printable in another spelling (`BASE64 (x)`, `"base64"`,
//!   `base64;`) is written plainly;
//! - a base64 or quoted-printable body that mail-parser would refuse (a mailing list's footer after the base64,
//!   `==` lines in quoted-printable) is decoded leniently and written again as base64.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use base64::Engine as _;
use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::Encoding;
use mail_parser::HeaderValue;
use mail_parser::parsers::MessageStream;

/// Multipart nesting followed; deeper multiparts are left to mail-parser as they are.
const MAX_DEPTH: usize = 64;

/// The bytes mail-parser should read: `raw` itself, or a repaired copy.
pub(crate) fn prepare(raw: &[u8]) -> Cow<'_, [u8]> {
    let mut scan = Scan::new(raw);
    let mut start = 0;
    while start < raw.len() {
        let end = raw[start..].iter().position(|&b| b == b'\n').map_or(raw.len(), |p| start + p + 1);
        scan.line(start, end);
        start = end;
    }
    let edits = scan.finish();
    if edits.is_empty() { Cow::Borrowed(raw) } else { Cow::Owned(apply(raw, edits)) }
}

/// Replace `remove` bytes at `at` with `insert`.
#[derive(Debug)]
struct Edit {
    at: usize,
    remove: usize,
    insert: Vec<u8>,
}

fn apply(raw: &[u8], mut edits: Vec<Edit>) -> Vec<u8> {
    // Stable: insertions at one place keep the order they were made in.
    edits.sort_by_key(|e| e.at);
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 16);
    let mut cursor = 0;
    for edit in edits {
        // Edits never overlap; one that would is dropped rather than trusted.
        if edit.at < cursor || edit.at + edit.remove > raw.len() {
            continue;
        }
        out.extend_from_slice(&raw[cursor..edit.at]);
        out.extend_from_slice(&edit.insert);
        cursor = edit.at + edit.remove;
    }
    out.extend_from_slice(&raw[cursor..]);
    out
}

/// A header field: all of its bytes (continuation lines included, the last line break not), and where its
/// value starts (after the colon).
#[derive(Debug, Clone)]
struct Field {
    bytes: Range<usize>,
    value_start: usize,
}

impl Field {
    fn value(&self) -> Range<usize> {
        self.value_start..self.bytes.end
    }
}

/// A transfer encoding mail-parser decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mechanism {
    Base64,
    QuotedPrintable,
}

impl Mechanism {
    fn name(self) -> &'static str {
        match self {
            Mechanism::Base64 => "base64",
            Mechanism::QuotedPrintable => "quoted-printable",
        }
    }
}

/// What a header block says, read when it ends.
#[derive(Debug, Default)]
struct Header {
    /// The message's own header, not a part's.
    top: bool,
    /// A field has been seen.
    fields: bool,
    /// The field being read.
    field: Option<Field>,
    content_type: Option<Field>,
    transfer_encoding: Option<Field>,
}

/// A multipart whose delimiters are being looked for.
#[derive(Debug)]
struct Frame {
    boundary: Vec<u8>,
    /// Whether a delimiter line of it has been seen; a multipart never opened is shown as text.
    opened: bool,
    /// Its Content-Type field, rewritten when it is never opened.
    content_type: Field,
    /// A multipart/digest, whose parts are messages unless they say otherwise.
    digest: bool,
}

/// A leaf part's body whose encoding or charset is checked when it ends.
#[derive(Debug)]
struct Body {
    start: usize,
    /// Its transfer encoding, the Content-Transfer-Encoding field, and whether its value is written plainly
    /// already.
    encoding: Option<(Mechanism, Field, bool)>,
    /// For a text part whose charset says nothing about bytes above 127 (none, US-ASCII, an unknown one):
    /// where the charset is written once it is known.
    charset: Option<CharsetPlace>,
    /// Whether the part declares US-ASCII, which mail-parser reads as Latin-1, UTF-8 included; without a
    /// charset, or with one it does not know, it reads UTF-8.
    ascii: bool,
}

/// Where a text part's charset goes: into its Content-Type field, or a field of its own at the header's end.
#[derive(Debug)]
enum CharsetPlace {
    ContentType(Field),
    NewField(usize),
}

#[derive(Debug, PartialEq, Eq)]
enum Mode {
    Header,
    Body,
}

/// What the pass needs of a Content-Type, read by mail-parser.
#[derive(Debug)]
struct ContentType {
    /// Lowercase; `text` when there is none.
    kind: String,
    /// Lowercase; empty when there is none.
    subtype: String,
    boundary: Option<Vec<u8>>,
    charset: Option<String>,
}

impl ContentType {
    fn read(value: &[u8]) -> ContentType {
        let mut line = value.to_vec();
        line.push(b'\n');
        match MessageStream::new(&line).parse_content_type() {
            HeaderValue::ContentType(ct) => ContentType {
                kind: ct.ctype().to_ascii_lowercase(),
                subtype: ct.subtype().unwrap_or_default().to_ascii_lowercase(),
                boundary: ct.attribute("boundary").filter(|b| !b.is_empty()).map(|b| b.as_bytes().to_vec()),
                charset: ct.attribute("charset").map(|c| c.trim().to_owned()),
            },
            _ => ContentType { kind: "text".to_owned(), subtype: String::new(), boundary: None, charset: None },
        }
    }
}

struct Scan<'a> {
    raw: &'a [u8],
    /// The message's own line ending, for what is inserted.
    newline: &'static [u8],
    edits: Vec<Edit>,
    mode: Mode,
    header: Header,
    frames: Vec<Frame>,
    /// Each open boundary's place in `frames`.
    open: HashMap<Vec<u8>, usize>,
    body: Option<Body>,
    /// The charset of the message's Content-Type, and of its first text part.
    top_charset: Option<String>,
    part_charset: Option<String>,
    /// The message's header fields that are not UTF-8.
    undecoded: Vec<Range<usize>>,
    /// The message's From field, whose domain hints at the charset of undeclared bytes.
    from: Option<Field>,
}

impl<'a> Scan<'a> {
    fn new(raw: &'a [u8]) -> Self {
        let first_line_end = raw.iter().position(|&b| b == b'\n');
        let crlf = first_line_end.is_some_and(|p| p > 0 && raw[p - 1] == b'\r');
        Scan {
            raw,
            newline: if crlf { b"\r\n" } else { b"\n" },
            edits: Vec::new(),
            mode: Mode::Header,
            header: Header { top: true, ..Header::default() },
            frames: Vec::new(),
            open: HashMap::new(),
            body: None,
            top_charset: None,
            part_charset: None,
            undecoded: Vec::new(),
            from: None,
        }
    }

    /// One line, `start..end` with its line break.
    fn line(&mut self, start: usize, end: usize) {
        let line = &self.raw[start..end];
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        let content_end = start + content.len();
        if self.mode == Mode::Body {
            self.body_line(start, content);
            return;
        }
        if content.is_empty() {
            self.end_header(start, end, true);
        } else if matches!(content[0], b' ' | b'\t') {
            if let Some(field) = &mut self.header.field {
                field.bytes.end = content_end;
            }
        } else if let Some(colon) = field_name_end(content) {
            self.finish_field();
            self.header.fields = true;
            self.header.field = Some(Field { bytes: start..content_end, value_start: start + colon + 1 });
        } else if self.header.top && content.starts_with(b"From ") {
            // An mbox separator line: before the header, or after a field a tool put in front of it
            // (a Message-ID or Received added to a message as an mbox held it). It is never where
            // the body starts.
        } else if self.header.top && !self.header.fields {
            // Bytes that start with no header field at all are no message; mail-parser says so.
        } else {
            // The body starts here, without the blank line that should end the header: one is put in.
            self.edits.push(Edit { at: start, remove: 0, insert: self.newline.to_vec() });
            self.end_header(start, start, false);
            self.body_line(start, content);
        }
    }

    /// Ends the field being read and notes what the block needs of it.
    fn finish_field(&mut self) {
        let Some(field) = self.header.field.take() else { return };
        let name = self.raw[field.bytes.start..field.value_start - 1].trim_ascii_end();
        if name.eq_ignore_ascii_case(b"content-type") {
            self.header.content_type = Some(field);
        } else if name.eq_ignore_ascii_case(b"content-transfer-encoding") {
            self.header.transfer_encoding = Some(field);
        } else {
            if self.header.top && name.eq_ignore_ascii_case(b"from") {
                self.from = Some(field.clone());
            }
            if self.header.top && std::str::from_utf8(&self.raw[field.bytes.clone()]).is_err() {
                self.undecoded.push(field.bytes);
            }
        }
    }

    /// The header block ended at `header_end`, at a blank line when `blank`, with its body starting at
    /// `body_start`: what follows depends on its Content-Type.
    fn end_header(&mut self, header_end: usize, body_start: usize, blank: bool) {
        self.finish_field();
        let header = std::mem::take(&mut self.header);
        self.mode = Mode::Body;
        let content_type = header.content_type.as_ref().map(|f| ContentType::read(&self.raw[f.value()]));
        let (kind, subtype) = content_type
            .as_ref()
            .map_or((String::from("text"), String::new()), |ct| (ct.kind.clone(), ct.subtype.clone()));
        if let (Some(field), Some(ct)) = (&header.content_type, &content_type) {
            if kind == "text" && subtype.is_empty() {
                // After the word `text` (the value's first token that is no comment or space).
                let value = &self.raw[field.value()];
                if let Some(at) = value.windows(4).position(|w| w.eq_ignore_ascii_case(b"text")) {
                    self.edits.push(Edit { at: field.value_start + at + 4, remove: 0, insert: b"/plain".to_vec() });
                }
            }
            if let Some(charset) = ct.charset.clone().filter(|c| !c.is_empty()) {
                if header.top {
                    self.top_charset = Some(charset);
                } else if self.part_charset.is_none() && kind == "text" {
                    self.part_charset = Some(charset);
                }
            }
        }
        let mechanism = header.transfer_encoding.as_ref().and_then(|field| {
            let (mechanism, plain) = read_mechanism(&self.raw[field.value()])?;
            Some((mechanism, field.clone(), plain))
        });
        let boundary = content_type.as_ref().and_then(|ct| ct.boundary.clone());
        let says_nothing =
            content_type.as_ref().is_none_or(|ct| ct.charset.as_deref().is_none_or(charset_says_nothing));
        let declares_ascii = content_type.as_ref().and_then(|ct| ct.charset.as_deref()).is_some_and(is_ascii_label);
        // In a digest a part without a Content-Type is a message, not text.
        let in_digest = !header.top && self.frames.last().is_some_and(|frame| frame.digest);
        match (kind.as_str(), boundary, header.content_type) {
            ("multipart", Some(boundary), Some(field)) => {
                if self.frames.len() < MAX_DEPTH && !self.open.contains_key(&boundary) {
                    self.open.insert(boundary.clone(), self.frames.len());
                    let digest = subtype == "digest";
                    self.frames.push(Frame { boundary, opened: false, content_type: field, digest });
                }
            }
            // A message inside: its own header follows, unless this header's end was a guess.
            ("message", _, _) if blank && mechanism.is_none() && matches!(subtype.as_str(), "rfc822" | "global") => {
                self.mode = Mode::Header;
            }
            (kind, _, content_type) => {
                let charset = match content_type {
                    Some(field) if kind == "text" && says_nothing => Some(CharsetPlace::ContentType(field)),
                    // A field of its own only where the header ended at its blank line, before which it goes.
                    None if blank && !in_digest => Some(CharsetPlace::NewField(header_end)),
                    _ => None,
                };
                if mechanism.is_some() || charset.is_some() {
                    self.body = Some(Body { start: body_start, encoding: mechanism, charset, ascii: declares_ascii });
                }
            }
        }
    }

    /// A line of a body: a delimiter of an open multipart, or content.
    fn body_line(&mut self, start: usize, content: &[u8]) {
        let Some(rest) = content.strip_prefix(b"--") else { return };
        if self.open.is_empty() {
            return;
        }
        // Transport padding (RFC 2046) may follow a delimiter.
        let rest = rest.trim_ascii_end();
        let found = match self.open.get(rest) {
            Some(&index) => Some((index, false)),
            None => rest.strip_suffix(b"--").and_then(|b| self.open.get(b)).map(|&index| (index, true)),
        };
        let Some((index, closing)) = found else { return };
        self.end_body(self.before_line_break(start));
        self.close_inner(index, start);
        if closing {
            if let Some(frame) = self.frames.pop() {
                self.open.remove(&frame.boundary);
            }
            self.mode = Mode::Body;
        } else {
            if let Some(frame) = self.frames.get_mut(index) {
                frame.opened = true;
            }
            self.mode = Mode::Header;
            self.header = Header::default();
        }
    }

    /// Where a body ends whose next line starts at `line_start`: the line break before a delimiter
    /// belongs to the delimiter.
    fn before_line_break(&self, line_start: usize) -> usize {
        let before = &self.raw[..line_start];
        let before = before.strip_suffix(b"\n").unwrap_or(before);
        before.strip_suffix(b"\r").unwrap_or(before).len()
    }

    /// Closes the multiparts inside the one at `index`, innermost first, by delimiters inserted at `at`.
    fn close_inner(&mut self, index: usize, at: usize) {
        while self.frames.len() > index + 1 {
            let Some(frame) = self.frames.pop() else { break };
            self.open.remove(&frame.boundary);
            self.close(frame, at, false);
        }
    }

    /// A multipart that was left open: its closing delimiter inserted at `at`; or one never opened: made text.
    fn close(&mut self, frame: Frame, at: usize, line_break_first: bool) {
        if frame.opened {
            let mut insert = Vec::with_capacity(frame.boundary.len() + 6);
            if line_break_first {
                insert.extend_from_slice(self.newline);
            }
            insert.extend_from_slice(b"--");
            insert.extend_from_slice(&frame.boundary);
            insert.extend_from_slice(b"--");
            insert.extend_from_slice(self.newline);
            self.edits.push(Edit { at, remove: 0, insert });
        } else {
            let value = frame.content_type.value();
            self.edits.push(Edit { at: value.start, remove: value.len(), insert: b" text/plain".to_vec() });
        }
    }

    /// The body being checked ends at `end`: a transfer encoding mail-parser would refuse is repaired, and a
    /// text part's charset that says nothing about its bytes above 127 is found.
    fn end_body(&mut self, end: usize) {
        let Some(body) = self.body.take() else { return };
        let content = &self.raw[body.start..end.max(body.start)];
        let mut decoded = None;
        if let Some((mechanism, field, plain)) = &body.encoding {
            let decodable = match mechanism {
                Mechanism::Base64 => is_clean_base64(content),
                Mechanism::QuotedPrintable => is_clean_quoted_printable(content),
            };
            let value = field.value();
            if decodable && !plain {
                let insert = format!(" {}", mechanism.name()).into_bytes();
                self.edits.push(Edit { at: value.start, remove: value.len(), insert });
            }
            if !decodable || body.charset.is_some() {
                decoded = Some(match mechanism {
                    Mechanism::Base64 => lenient_base64(content),
                    Mechanism::QuotedPrintable => lenient_quoted_printable(content),
                });
            }
            if let (false, Some(decoded)) = (decodable, &decoded) {
                self.edits.push(Edit { at: value.start, remove: value.len(), insert: b" base64".to_vec() });
                self.edits.push(Edit {
                    at: body.start,
                    remove: content.len(),
                    insert: wrapped_base64(decoded, self.newline),
                });
            }
        }
        let Some(place) = body.charset else { return };
        let text = decoded.as_deref().unwrap_or(content);
        if text.is_ascii() {
            return;
        }
        let encoding = match std::str::from_utf8(text) {
            Ok(_) if !body.ascii => return,
            Ok(_) => encoding_rs::UTF_8,
            Err(_) => self.detect(text),
        };
        match place {
            CharsetPlace::ContentType(field) => {
                let value = field.value();
                let edit = match charset_value(&self.raw[value.clone()]) {
                    Some(old) => Edit {
                        at: value.start + old.start,
                        remove: old.len(),
                        insert: format!("\"{}\"", encoding.name()).into_bytes(),
                    },
                    None => Edit {
                        at: value.end,
                        remove: 0,
                        insert: format!("; charset=\"{}\"", encoding.name()).into_bytes(),
                    },
                };
                self.edits.push(edit);
            }
            CharsetPlace::NewField(at) => {
                let mut field = format!("Content-Type: text/plain; charset=\"{}\"", encoding.name()).into_bytes();
                field.extend_from_slice(self.newline);
                self.edits.push(Edit { at, remove: 0, insert: field });
            }
        }
    }

    /// The charset `bytes` (not UTF-8) are most likely in, the sender's country domain a hint.
    fn detect(&self, bytes: &[u8]) -> &'static Encoding {
        // chardetng is linear, but a sample says as much as a whole attachment.
        let sample = &bytes[..bytes.len().min(64 * 1024)];
        let tld = self.from.as_ref().and_then(|from| country_domain(&self.raw[from.value()]));
        let tld = tld.as_deref().map(str::as_bytes);
        let mut detector = EncodingDetector::new(Iso2022JpDetection::Allow);
        detector.feed(sample, true);
        let guess = detector.guess(tld, Utf8Detection::Deny);
        // A byte or two cannot tell single-byte charsets apart (chardetng reads "£80m" in windows-1252 as
        // "Ł80m" in windows-1250): then windows-1252, what most mail clients fall back to, unless the
        // sender's country domain gave chardetng a reason for its choice.
        let sparse = sample.iter().filter(|b| !b.is_ascii()).count() < 4;
        if sparse && guess.is_single_byte() && !EncodingDetector::tld_may_affect_guess(tld) {
            encoding_rs::WINDOWS_1252
        } else {
            guess
        }
    }

    /// The end of the message: open bodies and multiparts end here; the edits, with the header transcoding.
    fn finish(mut self) -> Vec<Edit> {
        if self.mode == Mode::Header {
            self.finish_field();
        }
        self.end_body(self.raw.len());
        let mut line_break_first = !self.raw.is_empty() && !self.raw.ends_with(b"\n");
        while let Some(frame) = self.frames.pop() {
            let opened = frame.opened;
            self.close(frame, self.raw.len(), line_break_first);
            line_break_first &= !opened;
        }
        self.transcode_header();
        self.edits
    }

    /// The message's header fields that are not UTF-8, in UTF-8.
    fn transcode_header(&mut self) {
        if self.undecoded.is_empty() {
            return;
        }
        let declared = [&self.top_charset, &self.part_charset].into_iter().flatten().find_map(|label| {
            // UTF-8 says nothing about bytes that are not UTF-8 either.
            let encoding = Encoding::for_label(label.as_bytes()).filter(|_| !charset_says_nothing(label))?;
            (encoding != encoding_rs::UTF_8).then_some(encoding)
        });
        let encoding = declared.unwrap_or_else(|| {
            let bytes: Vec<u8> = self.undecoded.iter().flat_map(|r| self.raw[r.clone()].iter().copied()).collect();
            self.detect(&bytes)
        });
        for range in std::mem::take(&mut self.undecoded) {
            let text = encoding.decode_without_bom_handling(&self.raw[range.clone()]).0;
            self.edits.push(Edit { at: range.start, remove: range.len(), insert: text.into_owned().into_bytes() });
        }
    }
}

/// Whether a declared charset says nothing of the bytes above 127: US-ASCII (mail-parser reads them as
/// Latin-1), a label no decoder knows, or one that cannot be meant (UTF-16 for ASCII field names and text).
fn charset_says_nothing(label: &str) -> bool {
    is_ascii_label(label)
        || Encoding::for_label(label.trim().trim_matches('"').as_bytes())
            .is_none_or(|e| !e.is_ascii_compatible() || e == encoding_rs::REPLACEMENT)
}

fn is_ascii_label(label: &str) -> bool {
    let label = label.trim().trim_matches('"');
    ["us-ascii", "ascii", "us_ascii", "ansi_x3.4-1968"].iter().any(|l| label.eq_ignore_ascii_case(l))
}

/// Where the value of a `charset` parameter is in a Content-Type value (its quotes included).
fn charset_value(value: &[u8]) -> Option<Range<usize>> {
    let name = value.windows(7).position(|w| w.eq_ignore_ascii_case(b"charset"))?;
    let mut at = name + 7;
    let skip_spaces = |at: &mut usize| {
        while value.get(*at).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
            *at += 1;
        }
    };
    skip_spaces(&mut at);
    if value.get(at) != Some(&b'=') {
        return None;
    }
    at += 1;
    skip_spaces(&mut at);
    let start = at;
    let end = if value.get(at) == Some(&b'"') {
        value[at + 1..].iter().position(|&b| b == b'"').map_or(value.len(), |p| at + 1 + p + 1)
    } else {
        at + value[at..].iter().take_while(|b| !matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n' | b'(')).count()
    };
    Some(start..end)
}

/// The top-level domain of the last address in a From value, lowercase, as chardetng takes it (`cz`, `tw`).
fn country_domain(from: &[u8]) -> Option<String> {
    let at = from.iter().rposition(|&b| b == b'@')?;
    let domain_len =
        from[at + 1..].iter().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')).count();
    let domain = &from[at + 1..at + 1 + domain_len];
    let label = domain.rsplit(|&b| b == b'.').next()?;
    (label.len() >= 2 && label.iter().all(u8::is_ascii_alphabetic))
        .then(|| String::from_utf8_lossy(label).to_ascii_lowercase())
}

/// Where the name of a header field on `line` ends (its colon), or `None` when the line is no field: a
/// field name is printable ASCII without colon or space (RFC 5322 section 3.6.8), spaces before the colon
/// being obsolete syntax (section 4.5).
fn field_name_end(line: &[u8]) -> Option<usize> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line[..colon].trim_ascii_end();
    (!name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b))).then_some(colon)
}

/// The mechanism a Content-Transfer-Encoding value names when mail-parser decodes it, and whether the value
/// says so plainly enough for mail-parser (which compares the whole value).
fn read_mechanism(value: &[u8]) -> Option<(Mechanism, bool)> {
    let text = String::from_utf8_lossy(value);
    let mut token = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            '"' | '\'' => {}
            c if c.is_whitespace() || c == ';' => {
                if !token.is_empty() {
                    break;
                }
            }
            c => token.push(c.to_ascii_lowercase()),
        }
    }
    let mechanism = match token.as_str() {
        "base64" => Mechanism::Base64,
        "quoted-printable" => Mechanism::QuotedPrintable,
        _ => return None,
    };
    let plain = text.trim().eq_ignore_ascii_case(mechanism.name());
    Some((mechanism, plain))
}

fn base64_value(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Whether mail-parser decodes `body` as base64: the alphabet, padding, spaces, line breaks, and single
/// dashes (which it skips); anything else, or two dashes, and it keeps the raw bytes.
fn is_clean_base64(body: &[u8]) -> bool {
    body.iter().all(|&b| base64_value(b).is_some() || matches!(b, b'=' | b' ' | b'\t' | b'\r' | b'\n' | b'-'))
        && !body.windows(2).any(|w| w == b"--")
}

/// Whether mail-parser decodes `body` as quoted-printable: it refuses an `=` that comes while it is reading
/// the two hex digits of another (`==`, `=A=`, `= =`).
fn is_clean_quoted_printable(body: &[u8]) -> bool {
    #[derive(PartialEq)]
    enum State {
        Text,
        Equals,
        FirstDigit,
    }
    let mut state = State::Text;
    for &b in body {
        state = match (b, state) {
            (b'=', State::Text) => State::Equals,
            (b'=', _) => return false,
            (b'\n', State::Equals) => State::Text,
            (b'\n' | b'\r', state) => state,
            (b, State::Equals) if b.is_ascii_hexdigit() => State::FirstDigit,
            (b, State::Equals) if b.is_ascii_whitespace() => State::Equals,
            _ => State::Text,
        };
    }
    true
}

/// Base64 decoded as far as it goes: the lines of base64 are decoded, and from the first line that is not
/// base64 on (a footer a mailing list added), the rest is kept as it is. A body whose
/// first line is not base64 was never encoded, whatever its header says, and is kept whole.
fn lenient_base64(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0u8);
    let flush = |out: &mut Vec<u8>, bits: &mut u32, count: &mut u8| {
        // Two or three leftover characters still carry one or two bytes.
        match *count {
            2 => out.push((*bits >> 4) as u8),
            3 => out.extend_from_slice(&[(*bits >> 10) as u8, (*bits >> 2) as u8]),
            _ => {}
        }
        (*bits, *count) = (0, 0);
    };
    let mut started = false;
    let mut offset = 0;
    for line in body.split_inclusive(|&b| b == b'\n') {
        let data = line.trim_ascii();
        // Strict here, as the lines are told apart: words with spaces between them are no base64.
        let is_base64 = data.iter().all(|&b| base64_value(b).is_some() || b == b'=');
        if !is_base64 {
            flush(&mut out, &mut bits, &mut count);
            if !started {
                return body.to_vec();
            }
            out.extend_from_slice(&body[offset..]);
            return out;
        }
        started |= !data.is_empty();
        for &b in data {
            if let Some(value) = base64_value(b) {
                bits = (bits << 6) | value;
                count += 1;
                if count == 4 {
                    out.extend_from_slice(&[(bits >> 16) as u8, (bits >> 8) as u8, bits as u8]);
                    (bits, count) = (0, 0);
                }
            } else if b == b'=' {
                flush(&mut out, &mut bits, &mut count);
            }
        }
        offset += line.len();
    }
    flush(&mut out, &mut bits, &mut count);
    out
}

/// Quoted-printable decoded with its mistakes kept as text: `=` followed by two hex digits is a byte, at
/// the end of a line a soft line break, and anything else itself.
fn lenient_quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b != b'=' {
            out.push(b);
            i += 1;
            continue;
        }
        let hex = |at: usize| body.get(at).and_then(|&d| (d as char).to_digit(16));
        if let (Some(high), Some(low)) = (hex(i + 1), hex(i + 2)) {
            out.push((high * 16 + low) as u8);
            i += 3;
            continue;
        }
        // A soft line break: `=`, perhaps spaces, then the line break.
        let after = body[i + 1..].iter().position(|&c| !matches!(c, b' ' | b'\t')).map_or(body.len(), |p| i + 1 + p);
        match body.get(after..) {
            Some([b'\r', b'\n', ..]) => i = after + 2,
            Some([b'\n', ..]) => i = after + 1,
            Some([]) => i = after,
            _ => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    out
}

/// `bytes` as base64 in lines of 76 characters, each ended by `newline`.
fn wrapped_base64(bytes: &[u8], newline: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 76 * newline.len() + newline.len());
    for line in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(newline);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_message_is_not_copied() {
        let raw = b"From: a@x.org\r\nSubject: =?utf-8?q?=C5=BDlu=C5=A5ou=C4=8Dk=C3=BD?= k\xc5\xaf\xc5\x88\r\n\
                    Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\
                    Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8=\r\n--b\r\nContent-Type: text/html\r\n\
                    Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>Caf=C3=A9 =\r\nx</p>\r\n--b--\r\n";
        assert!(matches!(prepare(raw), Cow::Borrowed(_)));
    }

    #[test]
    fn inserted_lines_follow_the_message_line_endings() {
        let crlf = prepare(b"From: a@x.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx");
        assert!(crlf.ends_with(b"x\r\n--b--\r\n"), "{:?}", String::from_utf8_lossy(&crlf));
        let lf = prepare(b"From: a@x.org\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n");
        assert!(lf.ends_with(b"x\n--b--\n"), "{:?}", String::from_utf8_lossy(&lf));
    }

    #[test]
    fn the_transfer_encoding_is_read_through_comments_quotes_and_case() {
        assert_eq!(read_mechanism(b" base64"), Some((Mechanism::Base64, true)));
        assert_eq!(read_mechanism(b" Quoted-Printable "), Some((Mechanism::QuotedPrintable, true)));
        assert_eq!(read_mechanism(b" (why) \"BASE64\"; x"), Some((Mechanism::Base64, false)));
        assert_eq!(read_mechanism(b" 8bit"), None);
        assert_eq!(read_mechanism(b" base-64"), None);
    }

    #[test]
    fn lenient_decoders_keep_what_is_not_encoding_as_text() {
        assert_eq!(lenient_base64(b"SGVs\nbG8=\n\n-- \nfooter\n"), b"Hello-- \nfooter\n");
        assert_eq!(lenient_base64(b"<p>not base64 at all</p>\n"), b"<p>not base64 at all</p>\n");
        assert_eq!(lenient_base64(b"SGVsbG8\n"), b"Hello");
        assert_eq!(lenient_quoted_printable(b"a == b =3D c=\r\nd =\n"), b"a == b = cd ");
        assert!(!is_clean_quoted_printable(b"a == b") && is_clean_quoted_printable(b"a =3D b =\n"));
        assert!(!is_clean_base64(b"SGVs\n--\n") && is_clean_base64(b"SG-Vs\r\nbG8=\r\n"));
    }
}
