//! What both emulators need to know of a raw RFC 5322 message, read with mail-parser: the
//! headers that threading, listing and searching use, the bodies and the attachments. A message
//! that does not parse still has its bytes; every field here then has an empty value.

use mail_parser::{Address, MessageParser, MimeHeaders};

#[derive(Debug, Clone, Default)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

#[derive(Debug, Clone, Default)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub content_id: Option<String>,
    pub inline: bool,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub subject: String,
    pub from: Option<Mailbox>,
    pub sender: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    /// The Date header, Unix milliseconds.
    pub date_ms: Option<i64>,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Every header as `(name, raw value)`, in order.
    pub headers: Vec<(String, String)>,
}

impl Summary {
    /// Up to 200 characters of the text body on one line, as providers show in lists.
    pub fn snippet(&self) -> String {
        let text = self.text.clone().or_else(|| self.html.as_deref().map(html_to_text)).unwrap_or_default();
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        flat.chars().take(200).collect()
    }
}

/// The text of an HTML body on one line: tags dropped, the common entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let text = out.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"");
    text.replace("&amp;", "&").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An RFC 2047 encoded word (UTF-8, base64) when a header value is not plain printable ASCII.
pub fn encode_word(value: &str) -> String {
    use base64::Engine as _;
    if value.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        value.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(value))
    }
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let Some(address) = address else { return Vec::new() };
    address
        .iter()
        .filter_map(|a| Some(Mailbox { name: a.name().map(str::to_owned), address: a.address()?.to_lowercase() }))
        .collect()
}

fn ids(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    match value {
        mail_parser::HeaderValue::Text(id) => vec![id.to_string()],
        mail_parser::HeaderValue::TextList(list) => list.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    }
}

pub fn summarize(raw: &[u8]) -> Summary {
    let Some(message) = MessageParser::default().parse(raw) else { return Summary::default() };
    let headers = message.headers_raw().map(|(name, value)| (name.to_owned(), value.trim().to_owned())).collect();
    let attachments = message
        .attachments()
        .map(|part| Attachment {
            name: part.attachment_name().unwrap_or("attachment").to_owned(),
            content_type: part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            content_id: part.content_id().map(|id| id.trim_matches(['<', '>']).to_owned()),
            inline: part.content_disposition().is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline")),
            bytes: part.contents().to_vec(),
        })
        .collect();
    Summary {
        subject: message.subject().unwrap_or_default().to_owned(),
        from: mailboxes(message.from()).into_iter().next(),
        sender: mailboxes(message.sender()).into_iter().next(),
        to: mailboxes(message.to()),
        cc: mailboxes(message.cc()),
        bcc: mailboxes(message.bcc()),
        reply_to: mailboxes(message.reply_to()),
        date_ms: message.date().map(|d| d.to_timestamp() * 1000),
        message_id: message.message_id().map(str::to_owned),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        text: message.body_text(0).map(|t| t.into_owned()),
        html: message.body_html(0).map(|t| t.into_owned()),
        attachments,
        headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reads_threading_headers_and_bodies() {
        let raw = b"From: Ann <Ann@Example.test>\r\nTo: bob@example.test, Carl <carl@example.test>\r\n\
Subject: Re: plans\r\nMessage-ID: <b@example.test>\r\nIn-Reply-To: <a@example.test>\r\n\
References: <a@example.test>\r\nDate: Tue, 01 Oct 2024 10:00:00 +0000\r\n\r\nSee   you\r\nsoon.\r\n";
        let s = summarize(raw);
        assert_eq!(s.subject, "Re: plans");
        assert_eq!(s.from.as_ref().unwrap().address, "ann@example.test");
        assert_eq!(s.to.len(), 2);
        assert_eq!(s.message_id.as_deref(), Some("b@example.test"));
        assert_eq!(s.in_reply_to, vec!["a@example.test"]);
        assert_eq!(s.references, vec!["a@example.test"]);
        assert_eq!(s.date_ms, Some(1_727_776_800_000));
        assert_eq!(s.snippet(), "See you soon.");
    }

    #[test]
    fn garbage_gives_an_empty_summary() {
        let s = summarize(b"");
        assert!(s.subject.is_empty() && s.from.is_none());
    }
}
