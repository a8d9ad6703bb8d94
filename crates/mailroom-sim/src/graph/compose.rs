//! Messages written through the API rather than received: the JSON message fields a draft can
//! take, and the RFC 5322 bytes built from them for `$value` and for delivery to recipients.

use base64::Engine as _;
use serde_json::Value;

use super::errors::{GraphError, GraphResult};
use super::mailbox::{Message, Recipient};
use super::messages::parse_recipients;

/// The content fields of a message in a JSON request (`subject`, `body`, recipients), each
/// `None` when absent.
#[derive(Default)]
pub struct DraftFields {
    pub subject: Option<String>,
    /// `(is_html, content)`.
    pub body: Option<(bool, String)>,
    pub to: Option<Vec<Recipient>>,
    pub cc: Option<Vec<Recipient>>,
    pub bcc: Option<Vec<Recipient>>,
    pub reply_to: Option<Vec<Recipient>>,
}

impl DraftFields {
    pub fn parse(message: &Value) -> GraphResult<DraftFields> {
        let body = match &message["body"] {
            Value::Null => None,
            body => {
                let html = match body["contentType"].as_str().map(str::to_ascii_lowercase).as_deref() {
                    None | Some("text") => false,
                    Some("html") => true,
                    Some(other) => return Err(GraphError::bad_request(format!("Invalid body contentType '{other}'."))),
                };
                Some((html, body["content"].as_str().unwrap_or_default().to_owned()))
            }
        };
        Ok(DraftFields {
            subject: message["subject"].as_str().map(str::to_owned),
            body,
            to: parse_recipients(&message["toRecipients"])?,
            cc: parse_recipients(&message["ccRecipients"])?,
            bcc: parse_recipients(&message["bccRecipients"])?,
            reply_to: parse_recipients(&message["replyTo"])?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.subject.is_none()
            && self.body.is_none()
            && self.to.is_none()
            && self.cc.is_none()
            && self.bcc.is_none()
            && self.reply_to.is_none()
    }

    pub fn apply(&self, message: &mut Message) {
        if self.is_empty() {
            return;
        }
        if let Some(subject) = &self.subject {
            message.subject.clone_from(subject);
        }
        if let Some((html, content)) = &self.body {
            set_body(message, *html, content);
        }
        for (field, target) in [
            (&self.to, &mut message.to),
            (&self.cc, &mut message.cc),
            (&self.bcc, &mut message.bcc),
            (&self.reply_to, &mut message.reply_to),
        ] {
            if let Some(list) = field {
                target.clone_from(list);
            }
        }
        // The MIME is built from the fields from now on.
        message.raw = None;
    }
}

pub fn set_body(message: &mut Message, html: bool, content: &str) {
    if html {
        message.body_text = crate::mime::html_to_text(content);
        message.body_html = Some(content.to_owned());
    } else {
        message.body_text = content.to_owned();
        message.body_html = None;
    }
}

pub fn text_to_html(text: &str) -> String {
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!("<html><body><div>{}</div></body></html>", escaped.replace("\r\n", "\n").replace('\n', "<br>"))
}

fn address(r: &Recipient) -> String {
    if r.name.is_empty() || r.name == r.address {
        return r.address.clone();
    }
    let name = crate::mime::encode_word(&r.name);
    if name.starts_with("=?") {
        format!("{name} <{}>", r.address)
    } else {
        format!("\"{}\" <{}>", name.replace('\\', "\\\\").replace('"', "\\\""), r.address)
    }
}

fn base64_lines(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 38);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push_str("\r\n");
    }
    out
}

/// The message as RFC 5322 bytes. `Bcc` is written only for the sender's own copy.
pub fn build(m: &Message, include_bcc: bool) -> Vec<u8> {
    let mut head = String::new();
    let mut header = |name: &str, value: String| {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(&value);
        head.push_str("\r\n");
    };
    let list = |rs: &[Recipient]| rs.iter().map(address).collect::<Vec<_>>().join(", ");
    if let Some(from) = &m.from {
        header("From", address(from));
    }
    for (name, rs, wanted) in
        [("To", &m.to, true), ("Cc", &m.cc, true), ("Bcc", &m.bcc, include_bcc), ("Reply-To", &m.reply_to, true)]
    {
        if wanted && !rs.is_empty() {
            header(name, list(rs));
        }
    }
    header("Subject", crate::mime::encode_word(&m.subject));
    let date = chrono::DateTime::from_timestamp_millis(m.sent_ms).unwrap_or_default();
    header("Date", date.to_rfc2822());
    header("Message-ID", format!("<{}>", m.internet_message_id));
    if let Some(parent) = m.in_reply_to.first() {
        header("In-Reply-To", format!("<{parent}>"));
    }
    if !m.references.is_empty() {
        header("References", m.references.iter().map(|r| format!("<{r}>")).collect::<Vec<_>>().join(" "));
    }
    if m.importance != "normal" {
        header("Importance", m.importance.clone());
    }
    // Headers of the original MIME that the fields above do not already carry.
    for (name, value) in m.headers.iter().filter(|(name, _)| !is_structural(name)) {
        header(name, value.clone());
    }
    header("MIME-Version", "1.0".to_owned());
    let (body_type, body) = match &m.body_html {
        Some(html) => ("text/html", html.as_str()),
        None => ("text/plain", m.body_text.as_str()),
    };
    let body_part = format!(
        "Content-Type: {body_type}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        base64_lines(body.as_bytes())
    );
    let mut out = head;
    if m.attachments.is_empty() {
        out.push_str(&body_part);
        return out.into_bytes();
    }
    let boundary = format!("=_mailroom_sim_{}", m.version);
    out.push_str(&format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n{body_part}"));
    for a in &m.attachments {
        let disposition = if a.is_inline { "inline" } else { "attachment" };
        let name = crate::mime::encode_word(&a.name).replace('"', "'");
        out.push_str(&format!("--{boundary}\r\nContent-Type: {}; name=\"{name}\"\r\n", a.content_type));
        out.push_str(&format!("Content-Disposition: {disposition}; filename=\"{name}\"\r\n"));
        if let Some(cid) = &a.content_id {
            out.push_str(&format!("Content-ID: <{cid}>\r\n"));
        }
        out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        out.push_str(&base64_lines(&a.bytes));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out.into_bytes()
}

/// Headers that `build` writes from the message's fields, or that describe the MIME structure.
fn is_structural(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("content-")
        || [
            "from",
            "sender",
            "to",
            "cc",
            "bcc",
            "reply-to",
            "subject",
            "date",
            "message-id",
            "in-reply-to",
            "references",
            "importance",
            "mime-version",
        ]
        .contains(&name.as_str())
}

/// The message without its `Bcc` header, as recipients get it.
pub fn strip_bcc(raw: &[u8]) -> Vec<u8> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 2);
    let Some(end) = end.or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 1)) else {
        return raw.to_vec();
    };
    let mut out = Vec::with_capacity(raw.len());
    let mut skipping = false;
    for line in raw[..end].split_inclusive(|&b| b == b'\n') {
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            skipping = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"bcc:");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(&raw[end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimUser;
    use crate::graph::Mailbox;
    use crate::graph::mailbox::Attachment;

    #[test]
    fn built_messages_read_back_with_their_fields_and_attachments() {
        let user = SimUser::parse("microsoft:carl@contoso.onmicrosoft.com").unwrap();
        let mut mailbox = Mailbox::new(&user, 0);
        let mut message = mailbox.blank("drafts", 1_727_776_800_000);
        message.subject = "Grüße".to_owned();
        message.to = vec![Recipient { name: "Ben \"B\"".to_owned(), address: "ben@example.test".to_owned() }];
        message.bcc = vec![Recipient { name: String::new(), address: "hidden@example.test".to_owned() }];
        set_body(&mut message, true, "<p>Hi &amp; bye</p>");
        message.attachments.push(Attachment {
            id: "a".to_owned(),
            name: "notes.txt".to_owned(),
            content_type: "text/plain".to_owned(),
            content_id: None,
            is_inline: false,
            bytes: b"notes".to_vec(),
            modified_ms: 0,
        });
        let summary = crate::mime::summarize(&build(&message, true));
        assert_eq!(summary.subject, "Grüße");
        assert_eq!(summary.to[0].name.as_deref(), Some("Ben \"B\""));
        assert_eq!(summary.bcc[0].address, "hidden@example.test");
        assert_eq!(summary.html.as_deref(), Some("<p>Hi &amp; bye</p>"));
        assert_eq!(summary.attachments[0].bytes, b"notes");
        assert_eq!(message.body_text, "Hi & bye");

        message.headers = vec![("Subject".to_owned(), "stale".to_owned()), ("X-Tag".to_owned(), "kept".to_owned())];
        let rebuilt = crate::mime::summarize(&build(&message, true));
        assert_eq!(rebuilt.subject, "Grüße", "fields win over the original headers");
        assert!(rebuilt.headers.iter().any(|(n, v)| n == "X-Tag" && v == "kept"));

        let delivered = crate::mime::summarize(&strip_bcc(&build(&message, true)));
        assert!(delivered.bcc.is_empty());
        assert_eq!(delivered.subject, "Grüße");
    }
}
