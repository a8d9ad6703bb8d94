//! Outgoing mail: what a user or an API caller writes, checked field by field, then built into
//! RFC 5322 bytes with mail-builder (which encodes non-ASCII names, subjects and filenames).
//!
//! Nothing a caller types reaches a header unchecked: addresses are parsed and must be plain
//! `local@domain` mailboxes, and control characters (CR and LF above all) are refused in every
//! one-line field, so no input can add a header or end the header block.

use std::borrow::Cow;

use base64::Engine as _;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address as HeaderAddress;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use mail_parser::MessageParser;

use crate::{Address, ParsedMessage, normalized_subject};

mod editor;
pub use editor::{INLINE_IMAGE_LIMIT, editor_html, editor_html_kept};

/// Most recipients of one message (To, Cc and Bcc together).
pub const MAX_RECIPIENTS: usize = 100;
/// Longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 998;

/// A mailbox as written in an address header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

impl Mailbox {
    /// `address` checked; the name (if any) checked for control characters.
    pub fn new(name: Option<&str>, address: &str, field: Field) -> Result<Mailbox, ComposeError> {
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        if let Some(name) = name {
            single_line(field, name)?;
        }
        let address = address.trim();
        if !is_valid_address(address) {
            return Err(ComposeError::InvalidAddress { field, value: address.to_owned() });
        }
        Ok(Mailbox { name: name.map(str::to_owned), address: address.to_owned() })
    }

    /// `Name <address>`, or the bare address.
    pub fn display(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} <{}>", self.address),
            None => self.address.clone(),
        }
    }

    fn header(&self) -> HeaderAddress<'_> {
        HeaderAddress::new_address(self.name.as_deref().map(Cow::Borrowed), Cow::Borrowed(self.address.as_str()))
    }
}

/// An address header's value: the mailboxes as a list.
fn address_list(mailboxes: &[Mailbox]) -> HeaderAddress<'_> {
    HeaderAddress::new_list(mailboxes.iter().map(Mailbox::header).collect())
}

/// The field a problem is in, so that a form can show it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    From,
    To,
    Cc,
    Bcc,
    Subject,
    Attachment,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::From => "from",
            Field::To => "to",
            Field::Cc => "cc",
            Field::Bcc => "bcc",
            Field::Subject => "subject",
            Field::Attachment => "attachments",
        }
    }
}

/// Why a message cannot be built. The message names the field and, for an address, the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error("{} is not an email address", if value.is_empty() { "An empty entry" } else { value.as_str() })]
    InvalidAddress { field: Field, value: String },
    #[error("Line breaks and other control characters are not allowed here")]
    ControlCharacter { field: Field },
    #[error("Add at least one recipient")]
    NoRecipient,
    #[error("At most {MAX_RECIPIENTS} recipients in one message")]
    TooManyRecipients,
    #[error("The subject is longer than {MAX_SUBJECT_CHARS} characters")]
    SubjectTooLong,
}

impl ComposeError {
    pub fn field(&self) -> Field {
        match self {
            ComposeError::InvalidAddress { field, .. } | ComposeError::ControlCharacter { field } => *field,
            ComposeError::NoRecipient | ComposeError::TooManyRecipients => Field::To,
            ComposeError::SubjectTooLong => Field::Subject,
        }
    }
}

/// A file sent with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingAttachment {
    pub name: String,
    /// "type/subtype".
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A message ready to be built: its sender and its fields, checked by [`Outgoing::new`] (the
/// fields are private so that nothing unchecked can be built).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    from: Mailbox,
    message: Draft,
}

/// The fields of a message as a form or an API caller gave them; [`Outgoing::new`] checks them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub subject: String,
    /// The plain-text body (the alternative an HTML body needs).
    pub text: String,
    pub html: Option<String>,
    /// Message-IDs without angle brackets, as threading headers name them.
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub attachments: Vec<OutgoingAttachment>,
    /// Images the HTML body shows by `cid:` (pasted into the editor).
    pub inline: Vec<InlineImage>,
}

/// An image inside the HTML body, which names it `cid:{content_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineImage {
    pub content_id: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Outgoing {
    /// Checks what only the message as a whole can say: a recipient at least, not too many,
    /// a subject on one line, attachment names on one line.
    pub fn new(from: Mailbox, draft: Draft) -> Result<Outgoing, ComposeError> {
        if draft.to.len() + draft.cc.len() + draft.bcc.len() == 0 {
            return Err(ComposeError::NoRecipient);
        }
        Outgoing::unsent(from, draft)
    }

    /// The same checks but the first: a draft kept at the provider may have no recipient yet.
    pub fn unsent(from: Mailbox, mut draft: Draft) -> Result<Outgoing, ComposeError> {
        let recipients = draft.to.len() + draft.cc.len() + draft.bcc.len();
        if recipients > MAX_RECIPIENTS {
            return Err(ComposeError::TooManyRecipients);
        }
        draft.subject = draft.subject.trim().to_owned();
        single_line(Field::Subject, &draft.subject)?;
        if draft.subject.chars().count() > MAX_SUBJECT_CHARS {
            return Err(ComposeError::SubjectTooLong);
        }
        for attachment in &draft.attachments {
            single_line(Field::Attachment, &attachment.name)?;
            single_line(Field::Attachment, &attachment.content_type)?;
        }
        draft.html = draft.html.filter(|h| !h.trim().is_empty());
        // Threading ids come from stored mail, not from a person typing: one that could not be
        // written into a header is dropped, as the message is still worth sending.
        draft.in_reply_to = draft.in_reply_to.filter(|id| is_message_id(id));
        draft.references.retain(|id| is_message_id(id));
        Ok(Outgoing { from, message: draft })
    }

    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// The subject, trimmed.
    pub fn subject(&self) -> &str {
        &self.message.subject
    }

    /// The message without its files of `min_size` bytes or more, and those files: for a
    /// provider that takes large files apart from the message (Graph's upload sessions).
    pub fn without_large_files(&self, min_size: usize) -> (Outgoing, Vec<OutgoingAttachment>) {
        let mut light = self.clone();
        let (large, small): (Vec<_>, Vec<_>) =
            std::mem::take(&mut light.message.attachments).into_iter().partition(|a| a.bytes.len() >= min_size);
        light.message.attachments = small;
        (light, large)
    }

    /// Every recipient's address, To then Cc then Bcc.
    pub fn recipients(&self) -> impl Iterator<Item = &Mailbox> {
        let m = &self.message;
        m.to.iter().chain(&m.cc).chain(&m.bcc)
    }

    /// The message as bytes, with `message_id` (without angle brackets) and `date` (Unix seconds).
    /// Bcc is written too: the provider reads it to deliver, and removes it from what the other
    /// recipients get.
    pub fn build(&self, message_id: &str, date: i64) -> Vec<u8> {
        let m = &self.message;
        let mut builder = MessageBuilder::new().from(self.from.header());
        builder = match literal_subject(&m.subject) {
            Some(encoded) => builder.header("Subject", Raw::new(encoded)),
            None => builder.subject(m.subject.as_str()),
        };
        builder = builder.message_id(message_id).date(date);
        if !m.to.is_empty() {
            builder = builder.to(address_list(&m.to));
        }
        if !m.cc.is_empty() {
            builder = builder.cc(address_list(&m.cc));
        }
        if !m.bcc.is_empty() {
            builder = builder.bcc(address_list(&m.bcc));
        }
        if let Some(parent) = &m.in_reply_to {
            builder = builder.in_reply_to(parent.as_str());
        }
        if !m.references.is_empty() {
            builder = builder.references(MessageId::new_list(m.references.iter().map(String::as_str)));
        }
        if let (Some(html), false) = (&m.html, m.inline.is_empty()) {
            // The HTML and its images belong together: multipart/related around the
            // alternative, then the files beside it.
            let alternative = MimePart::new(
                "multipart/alternative",
                vec![MimePart::new("text/plain", m.text.as_str()), MimePart::new("text/html", html.as_str())],
            );
            let images = m.inline.iter().map(|image| {
                MimePart::new(image.content_type.as_str(), image.bytes.as_slice())
                    .inline()
                    .cid(image.content_id.as_str())
            });
            let related =
                MimePart::new("multipart/related", std::iter::once(alternative).chain(images).collect::<Vec<_>>());
            let files = m
                .attachments
                .iter()
                .map(|a| MimePart::new(a.content_type.as_str(), a.bytes.as_slice()).attachment(a.name.as_str()));
            let body = match m.attachments.is_empty() {
                true => related,
                false => MimePart::new("multipart/mixed", std::iter::once(related).chain(files).collect::<Vec<_>>()),
            };
            return builder.body(body).write_to_vec().unwrap_or_default();
        }
        builder = builder.text_body(m.text.as_str());
        if let Some(html) = &m.html {
            builder = builder.html_body(html.as_str());
        }
        for attachment in &m.attachments {
            builder = builder.attachment(
                attachment.content_type.as_str(),
                attachment.name.as_str(),
                attachment.bytes.as_slice(),
            );
        }
        // Writing into a Vec cannot fail.
        builder.write_to_vec().unwrap_or_default()
    }
}

/// The subject as RFC 2047 encoded words when mail-builder would write it as it is and a reader would decode
/// part of it: readers decode `=?…?=` in a subject (RFC 2047 section 5), so typed text of that shape is encoded
/// itself, and reads back as typed.
fn literal_subject(subject: &str) -> Option<String> {
    if !subject.is_ascii() || !subject.contains("=?") {
        return None;
    }
    // Encoded words are at most 75 characters: 45 bytes of text are 60 of base64 and 12 of markers.
    let words: Vec<String> = subject
        .as_bytes()
        .chunks(45)
        .map(|chunk| format!("=?utf-8?b?{}?=", base64::engine::general_purpose::STANDARD.encode(chunk)))
        .collect();
    Some(words.join(" "))
}

/// Parses what a person typed in an address field: `Name <a@b>, c@d; "Last, First" <e@f>`.
/// Every entry must be a valid address; an empty field is an empty list.
pub fn parse_address_list(field: Field, input: &str) -> Result<Vec<Mailbox>, ComposeError> {
    single_line(field, input)?;
    if input.trim().is_empty() {
        return Ok(Vec::new());
    }
    // Semicolons separate addresses in Outlook; the header grammar wants commas.
    let header = format!("To: {}\r\n\r\n", input.replace(';', ","));
    let parsed = MessageParser::new().parse(header.as_bytes());
    let entries: Vec<(Option<String>, String)> = parsed
        .as_ref()
        .and_then(|m| m.to())
        .map(|to| {
            to.iter().map(|a| (a.name().map(str::to_owned), a.address().unwrap_or_default().to_owned())).collect()
        })
        .unwrap_or_default();
    // Each comma-separated piece the person wrote must have become an address: the parser
    // skips what it cannot read, which would send to fewer people than the field shows.
    if entries.is_empty() || entries.len() < count_entries(input) {
        let bad = first_bad_entry(input, &entries);
        return Err(ComposeError::InvalidAddress { field, value: bad });
    }
    entries
        .iter()
        .map(|(name, address)| match Mailbox::new(name.as_deref(), address, field) {
            // A piece with no address in it comes back as a name alone: show what was typed.
            Err(ComposeError::InvalidAddress { .. }) if address.trim().is_empty() => {
                Err(ComposeError::InvalidAddress {
                    field,
                    value: name.clone().unwrap_or_else(|| first_bad_entry(input, &entries)),
                })
            }
            other => other,
        })
        .collect()
}

/// How many entries `input` holds: its commas and semicolons outside quotes and angle brackets,
/// plus one, not counting empty pieces.
fn count_entries(input: &str) -> usize {
    let (mut count, mut quoted, mut angle, mut piece_has_text) = (0, false, false, false);
    for c in input.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' | ';' if !quoted && !angle => {
                count += usize::from(piece_has_text);
                piece_has_text = false;
                continue;
            }
            _ => {}
        }
        piece_has_text |= !c.is_whitespace();
    }
    count + usize::from(piece_has_text)
}

/// The piece of `input` to show as the bad one: the first whose address was not understood.
fn first_bad_entry(input: &str, understood: &[(Option<String>, String)]) -> String {
    input
        .split([',', ';'])
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
        .find(|piece| !understood.iter().any(|(_, address)| !address.is_empty() && piece.contains(address.as_str())))
        .unwrap_or(input.trim())
        .to_owned()
}

/// `local@domain`: a local part of the characters RFC 5322 allows unquoted, a domain of
/// letters, digits and hyphens in dot-separated labels with at least one dot. Stricter than the
/// RFCs on purpose: what passes here can be written into a header as it is.
pub fn is_valid_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else { return false };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// A Message-ID without angle brackets: `left@right`, printable ASCII, no spaces or brackets.
fn is_message_id(id: &str) -> bool {
    id.contains('@') && id.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'(' | b')' | b','))
}

fn single_line(field: Field, value: &str) -> Result<(), ComposeError> {
    if value.chars().any(char::is_control) {
        return Err(ComposeError::ControlCharacter { field });
    }
    Ok(())
}

/// "Re: " and the subject without its reply and forward prefixes, so they never stack.
pub fn reply_subject(subject: &str) -> String {
    format!("Re: {}", normalized_subject(subject))
}

/// "Fwd: " and the subject without its reply and forward prefixes.
pub fn forward_subject(subject: &str) -> String {
    format!("Fwd: {}", normalized_subject(subject))
}

/// The References of a reply to a message with `message_id` and `references`: theirs, then the
/// message itself (RFC 5322 section 3.6.4).
pub fn reply_references(message_id: &str, references: &[String]) -> Vec<String> {
    let mut out: Vec<String> = references.iter().filter(|id| id.as_str() != message_id).cloned().collect();
    out.push(message_id.to_owned());
    out
}

/// Who a reply to `original` goes to, as (To, Cc). A reply goes to the Reply-To addresses when
/// there are any, else to the sender (each of them, when the From header names several); a reply to one's own message goes to its recipients, as
/// Gmail does. A reply to all adds the other To and Cc addresses. `own` (the sender's addresses,
/// lowercase) never appear, and no address appears twice.
pub fn reply_recipients(original: &ParsedMessage, own: &[String], all: bool) -> (Vec<Mailbox>, Vec<Mailbox>) {
    let is_own = |a: &Address| own.iter().any(|o| o.eq_ignore_ascii_case(&a.address));
    let from_me = original.from.as_ref().is_some_and(is_own);
    let mut to: Vec<&Address> = if from_me {
        original.to.iter().collect()
    } else if !original.reply_to.is_empty() {
        original.reply_to.iter().collect()
    } else {
        // Every author: RFC 5322 section 3.6.3 sends a reply to the mailboxes of the From field.
        original.from.iter().chain(&original.from_others).collect()
    };
    let mut cc: Vec<&Address> = Vec::new();
    if all {
        to.extend(original.to.iter());
        cc.extend(original.cc.iter());
    }
    let mut seen: Vec<String> = own.iter().map(|o| o.to_lowercase()).collect();
    let mut keep = |list: Vec<&Address>| -> Vec<Mailbox> {
        list.into_iter()
            .filter(|a| {
                let new = !seen.contains(&a.address);
                seen.push(a.address.clone());
                new
            })
            .filter_map(|a| Mailbox::new(a.name.as_deref(), &a.address, Field::To).ok())
            .collect()
    };
    let to = keep(to);
    let cc = keep(cc);
    (to, cc)
}

/// The body of a reply: the user's text, then an attribution line and the original quoted.
pub fn quoted_reply(attribution: &str, original_text: &str) -> String {
    let quoted: Vec<String> = original_text
        .trim_end()
        .lines()
        .map(|line| if line.is_empty() { ">".to_owned() } else { format!("> {line}") })
        .collect();
    format!("\n\n{attribution}\n{}\n", quoted.join("\n"))
}

/// The body of a forward: the user's text, then the original's headers and its text.
pub fn forwarded_body(heading: &str, headers: &[(&str, String)], original_text: &str) -> String {
    let mut out = format!("\n\n---------- {heading} ----------\n");
    for (name, value) in headers.iter().filter(|(_, value)| !value.is_empty()) {
        out.push_str(&format!("{name}: {value}\n"));
    }
    out.push('\n');
    out.push_str(original_text.trim_end());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests;
