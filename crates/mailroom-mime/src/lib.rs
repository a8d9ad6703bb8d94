//! Mailroom's message parsing: raw RFC 5322 bytes in, a parsed view out.
//!
//! The crate does no I/O. Callers keep the raw bytes themselves; this view is what gets indexed and shown.
//! Parsing never panics: a message mail-parser cannot read at all still yields an (empty) view, so the
//! message can be stored and displayed from its raw bytes.

mod address;
pub mod apart;
pub mod compose;
mod date;
mod html;
mod nesting;
mod prepare;
mod sanitize;
mod subject;

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};

use chrono::{DateTime, Utc};
use mail_parser::{HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType};

pub use html::html_to_text;
pub use sanitize::{SanitizeOptions, SanitizedHtml, escape_html, sanitize_html, text_to_html};
pub use subject::{normalized_subject, subjects_match};

/// The longest snippet, in characters.
const SNIPPET_CHARS: usize = 200;
/// The version of the reading [`parse`] gives. Raise it with a change that reads some stored mail
/// differently (its people, subject, snippet, attachments or indexed text): stores then read the
/// messages they hold again, in the background, so that what is shown, listed and found agrees
/// with the raw bytes as this version reads them. 1 was the first reader; 2 repairs broken MIME,
/// reads dates, addresses and 8-bit headers itself and indexes the HTML's words.
pub const PARSER_VERSION: i64 = 2;

/// The most body text kept for the search index, in bytes: all of any message a person wrote,
/// while a huge generated one does not make the index grow without bound.
pub const INDEXED_TEXT_BYTES: usize = 128 * 1024;

/// A mailbox address with its display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub name: Option<String>,
    /// Lowercase, so that the same mailbox written differently is one participant.
    pub address: String,
}

impl Address {
    /// The part after the last '@'; empty when there is none.
    pub fn domain(&self) -> &str {
        self.address.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

/// An attachment as listed in a message, without its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    pub name: String,
    /// "type/subtype", lowercase.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: u64,
    /// Without the angle brackets, as `cid:` URLs in HTML bodies refer to it.
    pub content_id: Option<String>,
    /// Whether Content-Disposition says inline.
    pub inline: bool,
}

/// The header an address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    From,
    Sender,
    To,
    Cc,
    Bcc,
    ReplyTo,
}

/// One address in one role, flattened for storage and search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub role: Role,
    pub address: String,
    pub domain: String,
    pub name: Option<String>,
}

/// The parsed view of a message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedMessage {
    pub subject: String,
    /// The first address of the From header.
    pub from: Option<Address>,
    /// The From header's other addresses: a message by several authors names them all there
    /// (RFC 5322 section 3.6.2), and each is a participant.
    pub from_others: Vec<Address>,
    pub sender: Option<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub reply_to: Vec<Address>,
    /// From the Date header; `None` when absent or unreadable.
    pub date: Option<DateTime<Utc>>,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// Up to 200 characters of the text (HTML reduced to text when there is no text part), whitespace collapsed.
    pub snippet: String,
    /// The body as text (HTML reduced to text when there is no text part), up to
    /// [`INDEXED_TEXT_BYTES`], for the search index.
    pub text: String,
    /// Whether the message itself has a text/plain body part (mail-parser's synthesized ones do not count).
    pub has_text: bool,
    /// Whether the message itself has a text/html body part (mail-parser's synthesized ones do not count).
    pub has_html: bool,
    pub attachments: Vec<AttachmentInfo>,
    /// Length of the raw message in bytes.
    pub size: u64,
}

impl ParsedMessage {
    /// The view of a message that could not be read: every field empty except the size.
    pub fn unparsed(size: usize) -> Self {
        ParsedMessage { size: size as u64, ..Self::default() }
    }

    /// Every address of every role, deduplicated per (role, address), in header order.
    pub fn participants(&self) -> Vec<Participant> {
        let roles: [(Role, &[Address]); 7] = [
            (Role::From, self.from.as_slice()),
            (Role::From, &self.from_others),
            (Role::Sender, self.sender.as_slice()),
            (Role::To, &self.to),
            (Role::Cc, &self.cc),
            (Role::Bcc, &self.bcc),
            (Role::ReplyTo, &self.reply_to),
        ];
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (role, addresses) in roles {
            for a in addresses {
                if seen.insert((role, a.address.as_str())) {
                    out.push(Participant {
                        role,
                        address: a.address.clone(),
                        domain: a.domain().to_owned(),
                        name: a.name.clone(),
                    });
                }
            }
        }
        out
    }
}

/// The result of [`parse`]: either way there is a view to store.
#[derive(Debug, Clone, PartialEq)]
pub enum ParseOutcome {
    Parsed(ParsedMessage),
    /// mail-parser could not read the message at all; the view is [`ParsedMessage::unparsed`].
    Unreadable(ParsedMessage),
}

impl ParseOutcome {
    /// The view, whichever the outcome.
    pub fn message(&self) -> &ParsedMessage {
        match self {
            ParseOutcome::Parsed(m) | ParseOutcome::Unreadable(m) => m,
        }
    }

    /// The view, whichever the outcome.
    pub fn into_message(self) -> ParsedMessage {
        match self {
            ParseOutcome::Parsed(m) | ParseOutcome::Unreadable(m) => m,
        }
    }
}

/// Parses raw RFC 5322 bytes. Never panics. A message mail-parser cannot read at all gives
/// `ParsedMessage::unparsed(raw.len())` and `ParseOutcome::Unreadable`.
pub fn parse(raw: &[u8]) -> ParseOutcome {
    // mail-parser is well fuzzed, but one panic would abort an import of thousands of messages; a message
    // that trips it is treated like one it cannot read, and is still stored with its raw bytes.
    let parsed = panic::catch_unwind(AssertUnwindSafe(|| {
        let bytes = prepare::prepare(raw);
        parser().parse(&bytes[..]).map(|message| view(&message, raw.len()))
    }));
    match parsed {
        Ok(Some(view)) => ParseOutcome::Parsed(view),
        Ok(None) | Err(_) => ParseOutcome::Unreadable(ParsedMessage::unparsed(raw.len())),
    }
}

/// mail-parser set to read what Mailroom uses. Date headers are kept raw and read by [`date`]: mail-parser's
/// own date reader swallows the line after an alphabetic zone (`UT`, `AM`), and with it the next header.
/// Address headers are kept raw and read by [`address`], which keeps quoted local parts and reads groups. The
/// settings hold for messages inside messages too, which mail-parser reads with the same parser.
fn parser() -> MessageParser {
    let raw = [
        HeaderName::Date,
        HeaderName::ResentDate,
        HeaderName::From,
        HeaderName::Sender,
        HeaderName::ReplyTo,
        HeaderName::To,
        HeaderName::Cc,
        HeaderName::Bcc,
    ];
    raw.into_iter()
        .fold(MessageParser::new(), MessageParser::header_raw)
        .with_mime_headers()
        .with_message_ids()
        .header_text(HeaderName::Subject)
}

/// The mailboxes of every header called `name`, in order: a message may carry several Cc headers.
fn header_addresses(message: &Message<'_>, name: HeaderName<'static>) -> Vec<Address> {
    let mut out = Vec::new();
    for value in message.header_values(name) {
        if let HeaderValue::Text(text) = value {
            address::read_addresses(text, &mut out);
        }
    }
    out
}

/// The first Date header that names an instant.
fn message_date(message: &Message<'_>) -> Option<DateTime<Utc>> {
    message.header_values(HeaderName::Date).find_map(|value| match value {
        HeaderValue::Text(text) => date::read_date(text),
        _ => None,
    })
}

fn view(message: &Message<'_>, size: usize) -> ParsedMessage {
    let layout = Layout::of(message);
    let text = layout.text();
    let (snippet_source, body_text) = body_text(text.as_deref(), layout.html());
    let mut from_others = header_addresses(message, HeaderName::From);
    let from = (!from_others.is_empty()).then(|| from_others.remove(0));
    ParsedMessage {
        subject: message.subject().unwrap_or_default().trim().to_owned(),
        from,
        from_others,
        sender: header_addresses(message, HeaderName::Sender).into_iter().next(),
        to: header_addresses(message, HeaderName::To),
        cc: header_addresses(message, HeaderName::Cc),
        bcc: header_addresses(message, HeaderName::Bcc),
        reply_to: header_addresses(message, HeaderName::ReplyTo),
        date: message_date(message),
        message_id: message.message_id().and_then(message_id),
        in_reply_to: id_list(message.in_reply_to()),
        references: id_list(message.references()),
        snippet: snippet(&snippet_source),
        text: indexed_text(body_text),
        has_text: text.is_some(),
        has_html: layout.html.is_some(),
        attachments: layout.attachments.iter().map(|part| attachment(part)).collect(),
        size: size as u64,
    }
}

/// What the snippet is taken from, and the body text for the search index: what the reader shows.
///
/// A text part is what the sender wrote for plain readers, and it comes first. Then come the lines of the HTML
/// part's text that the text part does not say: all of them after a stub ("This is a multi-part message in MIME
/// format", "view this mail in HTML"), a summary or a text part written separately; the odd line where the two
/// say the same thing differently ("Click here to unsubscribe" in the HTML, a bare link in the text); none when
/// they say the same thing, the usual case, so such mail is indexed once. A line is said when every pair of
/// neighbouring words in it (or its one word) stands side by side in the text part too, so that a phrase found
/// in what either reader shows is found by search; the comparison is linear (a set of the text part's word
/// pairs). The snippet comes from the text part unless it holds under a quarter of the HTML's words: then it is
/// a stub, and the HTML says what the message says.
fn body_text(text: Option<&str>, html: Option<&str>) -> (String, String) {
    let text = text.filter(|t| !t.trim().is_empty());
    match (text, html) {
        (Some(text), Some(html)) => {
            let html_text = html_to_text(html);
            let (missing, distinct) = words_missing(text, &html_text);
            let stub = (distinct - missing) * 4 < distinct;
            let snippet_source = if stub { html_text.clone() } else { text.to_owned() };
            let unsaid = unsaid_lines(text, &html_text);
            let body = if unsaid.is_empty() { text.to_owned() } else { format!("{text}\n\n{}", unsaid.join("\n")) };
            (snippet_source, body)
        }
        (Some(text), None) => (text.to_owned(), text.to_owned()),
        (None, Some(html)) => {
            let html_text = html_to_text(html);
            (html_text.clone(), html_text)
        }
        (None, None) => (String::new(), String::new()),
    }
}

/// Runs of letters and digits, lowercased.
fn lowercase_words(s: &str) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| if w.chars().any(char::is_uppercase) { Cow::Owned(w.to_lowercase()) } else { Cow::Borrowed(w) })
}

/// The lines of `other` whose words `text` does not say in the same order (see [`body_text`]).
fn unsaid_lines<'o>(text: &str, other: &'o str) -> Vec<&'o str> {
    let words: Vec<_> = lowercase_words(text).collect();
    let singles: HashSet<&str> = words.iter().map(|w| w.as_ref()).collect();
    let pairs: HashSet<(&str, &str)> = words.windows(2).map(|w| (w[0].as_ref(), w[1].as_ref())).collect();
    other
        .lines()
        .filter(|line| {
            let line_words: Vec<_> = lowercase_words(line).collect();
            match line_words.as_slice() {
                [] => false,
                [one] => !singles.contains(one.as_ref()),
                many => many.windows(2).any(|w| !pairs.contains(&(w[0].as_ref(), w[1].as_ref()))),
            }
        })
        .collect()
}

/// How many of `other`'s distinct words (runs of letters and digits, lowercased) `text` lacks, and how many
/// distinct words `other` has.
fn words_missing(text: &str, other: &str) -> (usize, usize) {
    let known: HashSet<_> = lowercase_words(text).collect();
    let distinct: HashSet<_> = lowercase_words(other).collect();
    let missing = distinct.iter().filter(|w| !known.contains(*w)).count();
    (missing, distinct.len())
}

/// What a message shows, from mail-parser's reading: its text body, its HTML body and its attachments.
struct Layout<'m> {
    /// The message's inline text/plain parts: the first is the body, the others (a list's footer, a second
    /// note) are shown after it.
    text: Vec<&'m str>,
    /// The first text/html part.
    html: Option<&'m str>,
    /// mail-parser's attachments, then the parts it keeps as bodies that are none here (a named inline text
    /// file after the body, an alternative that says it is an attachment): so that nothing a message holds is
    /// out of reach, and the positions of mail-parser's own attachments stay what they were.
    attachments: Vec<&'m MessagePart<'m>>,
}

impl<'m> Layout<'m> {
    fn of(message: &'m Message<'m>) -> Self {
        let mut attachments: Vec<&'m MessagePart<'m>> = message.attachments().collect();
        let mut text = Vec::new();
        // mail-parser takes a multipart/alternative's text parts for bodies even when they say they are
        // attachments; those are attachments here.
        let attached = |part: &MessagePart<'_>| part.content_disposition().is_some_and(|cd| cd.is_attachment());
        for part in real_bodies(message, &message.text_body, "plain") {
            match body_of(part) {
                Some(body) if !attached(part) && (text.is_empty() || part.attachment_name().is_none()) => {
                    text.push(body)
                }
                _ => attachments.push(part),
            }
        }
        let mut html = None;
        for part in real_bodies(message, &message.html_body, "html") {
            match body_of(part) {
                Some(body) if html.is_none() && !attached(part) => html = Some(body),
                _ => attachments.push(part),
            }
        }
        // Text meant to be read (inline, without a file name) that mail-parser files as an attachment, such as a
        // multipart/related's parts after its root: shown after the body, as mail clients show inline text
        // parts, and still listed where it was, so that attachment positions do not move.
        for part in message.attachments() {
            let (kind, subtype) = mime_type(part);
            if kind != "text" || attached(part) || part.attachment_name().is_some() {
                continue;
            }
            match (subtype.as_str(), body_of(part)) {
                ("plain", Some(body)) => text.push(body),
                ("html", Some(body)) if html.is_none() => html = Some(body),
                _ => {}
            }
        }
        Layout { text, html, attachments }
    }

    /// The text body: the inline text/plain parts, one after the other.
    fn text(&self) -> Option<std::borrow::Cow<'m, str>> {
        match self.text.as_slice() {
            [] => None,
            [only] => Some(std::borrow::Cow::Borrowed(only)),
            parts => Some(std::borrow::Cow::Owned(parts.iter().map(|p| p.trim_end()).collect::<Vec<_>>().join("\n\n"))),
        }
    }

    fn html(&self) -> Option<&'m str> {
        self.html
    }
}

/// The body parts of the given text subtype that are really in the message, each once. mail-parser adds the
/// HTML part to `text_body` (and the text part to `html_body`) when the other alternative is missing,
/// converting on read; checking the part's own content type tells the real parts from those stand-ins.
fn real_bodies<'m>(
    message: &'m Message<'m>,
    ids: &'m [u32],
    subtype: &'m str,
) -> impl Iterator<Item = &'m MessagePart<'m>> {
    ids.iter()
        .filter_map(|&id| message.part(id))
        .filter(move |part| mime_type(part) == ("text".to_owned(), subtype.to_owned()))
}

fn body_of<'m>(part: &'m MessagePart<'_>) -> Option<&'m str> {
    match &part.body {
        PartType::Text(t) | PartType::Html(t) => Some(t.as_ref()),
        _ => None,
    }
}

/// A part's (type, subtype), lowercase; text/plain when it has no Content-Type, as RFC 2045 says.
fn mime_type(part: &MessagePart<'_>) -> (String, String) {
    match part.content_type() {
        Some(ct) => (ct.ctype().to_ascii_lowercase(), ct.subtype().map(str::to_ascii_lowercase).unwrap_or_default()),
        None => ("text".to_owned(), "plain".to_owned()),
    }
}

fn message_id(id: &str) -> Option<String> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>').trim();
    (!id.is_empty()).then(|| id.to_owned())
}

fn id_list(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    match value {
        mail_parser::HeaderValue::Text(id) => message_id(id).into_iter().collect(),
        mail_parser::HeaderValue::TextList(ids) => ids.iter().filter_map(|id| message_id(id)).collect(),
        _ => Vec::new(),
    }
}

fn snippet(text: &str) -> String {
    let mut out = String::new();
    for (count, word) in text.split_whitespace().enumerate() {
        if count > 0 {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() >= SNIPPET_CHARS {
            break;
        }
    }
    out.chars().take(SNIPPET_CHARS).collect()
}

/// `text` cut to [`INDEXED_TEXT_BYTES`] at a character boundary.
pub fn indexed_text(mut text: String) -> String {
    if text.len() > INDEXED_TEXT_BYTES {
        let end = (0..=INDEXED_TEXT_BYTES).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(end);
    }
    text
}

/// A message's own text and HTML bodies, for showing it; `None` where it has no such part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bodies {
    pub text: Option<String>,
    pub html: Option<String>,
}

/// The bodies of raw message bytes; empty when they do not parse.
pub fn bodies(raw: &[u8]) -> Bodies {
    guarded(|| {
        let bytes = prepare::prepare(raw);
        let message = parser().parse(&bytes[..])?;
        let layout = Layout::of(&message);
        Some(Bodies { text: layout.text().map(|t| t.into_owned()), html: layout.html().map(str::to_owned) })
    })
    .unwrap_or_default()
}

/// An attachment with its decoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentData {
    pub info: AttachmentInfo,
    pub data: Vec<u8>,
}

/// The attachment at `position` of [`ParsedMessage::attachments`].
pub fn attachment_data(raw: &[u8], position: usize) -> Option<AttachmentData> {
    guarded(|| {
        let bytes = prepare::prepare(raw);
        let message = parser().parse(&bytes[..])?;
        let part = *Layout::of(&message).attachments.get(position)?;
        Some(AttachmentData { info: attachment(part), data: part.contents().to_vec() })
    })
}

/// The attachment whose Content-ID is `content_id` (without angle brackets): the target of a
/// `cid:` reference in the HTML body.
pub fn part_by_content_id(raw: &[u8], content_id: &str) -> Option<AttachmentData> {
    guarded(|| {
        let bytes = prepare::prepare(raw);
        let message = parser().parse(&bytes[..])?;
        let layout = Layout::of(&message);
        let part = layout
            .attachments
            .into_iter()
            .find(|p| p.content_id().and_then(message_id).as_deref() == Some(content_id))?;
        Some(AttachmentData { info: attachment(part), data: part.contents().to_vec() })
    })
}

/// Runs a read of a message, a panic in the parser counting as nothing found (see [`parse`]).
fn guarded<T>(read: impl FnOnce() -> Option<T>) -> Option<T> {
    panic::catch_unwind(AssertUnwindSafe(read)).ok().flatten()
}

fn attachment(part: &MessagePart<'_>) -> AttachmentInfo {
    let name = part.attachment_name().map(str::trim).filter(|n| !n.is_empty()).unwrap_or("attachment").to_owned();
    let content_type = match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            // A bare type ("image") says too little to act on; treat it as opaque bytes.
            None => "application/octet-stream".to_owned(),
        },
        None if part.is_message() => "message/rfc822".to_owned(),
        // Without a Content-Type nothing safe can be assumed about an attachment's bytes.
        None => "application/octet-stream".to_owned(),
    };
    AttachmentInfo {
        name,
        content_type,
        size: part.len() as u64,
        content_id: part.content_id().and_then(message_id),
        inline: part.content_disposition().is_some_and(|cd| cd.is_inline()),
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
