//! Messages written through the API: reading the `raw` field, the size limits, and sending —
//! storing the sender's copy with `SENT` and delivering copies to recipients who live in the
//! simulator (Gmail users get `INBOX`+`UNREAD`, Microsoft users an Inbox message).

use serde::Deserialize;

use super::errors::ApiError;
use super::methods::Call;
use super::payload;
use crate::state::World;

/// The fields of a `Message` a client may write.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageBody {
    pub raw: Option<String>,
    pub thread_id: Option<String>,
    #[serde(default)]
    pub label_ids: Vec<String>,
}

impl MessageBody {
    /// The decoded `raw` message, which must be there and fit in `limit` bytes.
    pub fn raw(&self, limit: usize) -> Result<Vec<u8>, ApiError> {
        let text = self.raw.as_deref().filter(|r| !r.is_empty()).ok_or_else(|| {
            ApiError::invalid_argument(
                "'raw' RFC822 payload message string or uploading message via /upload/* URL required",
            )
        })?;
        // Base64 grows by a third; anything longer than that cannot decode within the limit.
        if text.len() / 4 * 3 > limit + 3 {
            return Err(ApiError::too_large(limit));
        }
        let bytes = payload::decode(text).ok_or_else(|| ApiError::invalid_argument("Invalid value for ByteString"))?;
        if bytes.len() > limit {
            return Err(ApiError::too_large(limit));
        }
        Ok(bytes)
    }
}

fn header_end(raw: &[u8]) -> usize {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2);
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 1);
    crlf.into_iter().chain(lf).min().unwrap_or(raw.len())
}

fn has_header(raw: &[u8], name: &str) -> bool {
    let head = String::from_utf8_lossy(&raw[..header_end(raw)]).to_ascii_lowercase();
    head.lines().any(|line| line.starts_with(&format!("{}:", name.to_ascii_lowercase())))
}

/// The message without one header field (with its folded lines).
fn without_header(raw: &[u8], name: &str) -> Vec<u8> {
    let end = header_end(raw);
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let mut out = Vec::with_capacity(raw.len());
    let mut skipping = false;
    for line in raw[..end].split_inclusive(|b| *b == b'\n') {
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            skipping = String::from_utf8_lossy(line).to_ascii_lowercase().starts_with(&prefix);
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(&raw[end..]);
    out
}

/// Adds what Gmail adds to an outgoing message that lacks it: `From`, `Date`, `Message-ID`.
fn complete(raw: Vec<u8>, from: &str, now_ms: i64, world: &mut World) -> Vec<u8> {
    let mut added = String::new();
    if !has_header(&raw, "from") {
        added.push_str(&format!("From: {from}\r\n"));
    }
    if !has_header(&raw, "date") {
        let date = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
        added.push_str(&format!("Date: {}\r\n", date.to_rfc2822()));
    }
    if !has_header(&raw, "message-id") {
        added.push_str(&format!("Message-ID: <{}@mail.gmail.com>\r\n", world.token("CA", 24)));
    }
    let mut out = added.into_bytes();
    out.extend(raw);
    out
}

/// Sends `raw` as `call.user`: stores the sender's copy (threaded, `SENT`) and delivers to
/// recipients in the simulator. Returns the sender's message id.
pub fn send(call: &Call<'_>, world: &mut World, raw: Vec<u8>, thread_hint: Option<&str>) -> Result<String, ApiError> {
    let raw = complete(raw, &call.user, call.now_ms, world);
    let summary = crate::mime::summarize(&raw);
    let mut recipients: Vec<String> =
        summary.to.iter().chain(&summary.cc).chain(&summary.bcc).map(|a| a.address.clone()).collect();
    recipients.sort();
    recipients.dedup();
    let to_self = recipients.iter().any(|r| r.eq_ignore_ascii_case(&call.user));
    let mut labels = vec!["SENT".to_owned()];
    if to_self {
        labels.push("INBOX".to_owned());
    }
    let id = call.mailbox(world)?.add(raw.clone(), &labels, call.now_ms, thread_hint, call.now_ms);
    // Recipients never see the Bcc line.
    let delivered = without_header(&raw, "bcc");
    for recipient in recipients.iter().filter(|r| !r.eq_ignore_ascii_case(&call.user)) {
        if let Some(mailbox) = world.gmail(recipient) {
            mailbox.deliver(delivered.clone(), &["INBOX", "UNREAD"], call.now_ms);
        } else if let Some(mailbox) = world.graph(recipient) {
            mailbox.deliver(delivered.clone(), "inbox", call.now_ms);
        }
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_found_and_removed_with_their_folds() {
        let raw = b"To: a@x\r\nBcc: b@x,\r\n c@x\r\nSubject: s\r\n\r\nBcc: body";
        assert!(has_header(raw, "BCC"));
        assert_eq!(without_header(raw, "bcc"), b"To: a@x\r\nSubject: s\r\n\r\nBcc: body");
    }
}
