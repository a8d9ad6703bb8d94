//! The `payload` of a message: its MIME tree as `MessagePart`s, built from the raw message with
//! mail-parser. Parts with a filename carry an `attachmentId` instead of inline data, as Gmail's
//! do; `messages.attachments.get` finds them again by that id.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use mail_parser::{Header, HeaderValue, MessageParser, MimeHeaders, PartType};
use serde_json::{Value, json};

/// Bytes as the API carries them: base64url (RFC 4648 §5), padded.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

/// Reads base64url with or without padding (and tolerates the standard alphabet too, which some
/// clients send).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(cleaned).ok()
}

fn header_value(raw: &[u8], header: &Header<'_>) -> String {
    let start = usize::try_from(header.offset_start).unwrap_or_default();
    let end = usize::try_from(header.offset_end).unwrap_or_default();
    let text = String::from_utf8_lossy(raw.get(start..end).unwrap_or_default());
    // Encoded words are shown decoded, as Gmail shows them; everything else as written, unfolded.
    if text.contains("=?")
        && let HeaderValue::Text(decoded) = &header.value
    {
        return decoded.to_string();
    }
    text.replace("\r\n", "").replace('\n', "").trim().to_owned()
}

fn headers_json<'h>(raw: &[u8], headers: impl Iterator<Item = &'h Header<'h>>) -> Vec<Value> {
    headers.map(|h| json!({"name": h.name.as_str(), "value": header_value(raw, h)})).collect()
}

fn mime_type(part: &mail_parser::MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_lowercase(),
            None => ct.ctype().to_lowercase(),
        },
        None if part.is_message() => "message/rfc822".to_owned(),
        None => "text/plain".to_owned(),
    }
}

fn child_id(parent: &str, index: usize) -> String {
    if parent.is_empty() { index.to_string() } else { format!("{parent}.{index}") }
}

pub fn attachment_id(message_id: &str, part_id: &str) -> String {
    format!("ANGjdJ_{}", URL_SAFE_NO_PAD.encode(format!("{message_id}/{part_id}")))
}

/// Visits every part with its Gmail part id (`""` for the root, then `0`, `1`, `1.0`, …).
fn walk<'m>(
    message: &'m mail_parser::Message<'m>,
    index: usize,
    part_id: String,
    visit: &mut dyn FnMut(&str, &'m mail_parser::MessagePart<'m>, Vec<String>),
) {
    let Some(part) = message.parts.get(index) else { return };
    let children: Vec<(String, usize)> = match &part.body {
        PartType::Multipart(ids) => {
            ids.iter().enumerate().map(|(i, id)| (child_id(&part_id, i), usize::try_from(*id).unwrap_or(0))).collect()
        }
        _ => Vec::new(),
    };
    visit(&part_id, part, children.iter().map(|(id, _)| id.clone()).collect());
    for (id, child) in children {
        walk(message, child, id, visit);
    }
}

/// The whole `MessagePart` tree (`format=full`).
pub fn full(message_id: &str, raw: &[u8]) -> Value {
    let Some(parsed) = MessageParser::default().parse(raw) else {
        return json!({"partId": "", "mimeType": "text/plain", "filename": "", "headers": [],
            "body": {"size": raw.len(), "data": encode(raw)}});
    };
    let mut nodes: Vec<(String, Value, Vec<String>)> = Vec::new();
    walk(&parsed, 0, String::new(), &mut |part_id, part, children| {
        let filename = part.attachment_name().unwrap_or_default();
        let contents = part.contents();
        let body = match &part.body {
            PartType::Multipart(_) => json!({"size": 0}),
            _ if !filename.is_empty() => {
                json!({"attachmentId": attachment_id(message_id, part_id), "size": contents.len()})
            }
            _ if contents.is_empty() => json!({"size": 0}),
            _ => json!({"size": contents.len(), "data": encode(contents)}),
        };
        let node = json!({"partId": part_id, "mimeType": mime_type(part), "filename": filename,
            "headers": headers_json(raw, part.headers.iter()), "body": body});
        nodes.push((part_id.to_owned(), node, children));
    });
    assemble(&mut nodes, "").unwrap_or(Value::Null)
}

/// Puts the flat list of visited parts back into a tree.
fn assemble(nodes: &mut Vec<(String, Value, Vec<String>)>, part_id: &str) -> Option<Value> {
    let position = nodes.iter().position(|(id, _, _)| id == part_id)?;
    let (_, mut node, children) = nodes.swap_remove(position);
    if !children.is_empty() {
        let parts: Vec<Value> = children.iter().filter_map(|child| assemble(nodes, child)).collect();
        node["parts"] = Value::Array(parts);
    }
    Some(node)
}

/// The top-level part's type and headers only (`format=metadata`), limited to `wanted` header
/// names when any are given.
pub fn metadata(raw: &[u8], wanted: &[String]) -> Value {
    let Some(parsed) = MessageParser::default().parse(raw) else {
        return json!({"mimeType": "text/plain", "headers": []});
    };
    let Some(root) = parsed.parts.first() else { return json!({"mimeType": "text/plain", "headers": []}) };
    let headers = root
        .headers
        .iter()
        .filter(|h| wanted.is_empty() || wanted.iter().any(|w| w.eq_ignore_ascii_case(h.name.as_str())));
    json!({"mimeType": mime_type(root), "headers": headers_json(raw, headers)})
}

/// The decoded contents of the part an attachment id names, if it belongs to this message.
pub fn attachment(message_id: &str, raw: &[u8], attachment: &str) -> Option<Vec<u8>> {
    let encoded = attachment.strip_prefix("ANGjdJ_")?;
    let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()?;
    let (owner, wanted) = decoded.split_once('/')?;
    if owner != message_id {
        return None;
    }
    let parsed = MessageParser::default().parse(raw)?;
    let mut found = None;
    walk(&parsed, 0, String::new(), &mut |part_id, part, _| {
        if part_id == wanted && !matches!(part.body, PartType::Multipart(_)) {
            found = Some(part.contents().to_vec());
        }
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &[u8] =
        b"From: a@x.test\r\nSubject: =?UTF-8?Q?caf=C3=A9?=\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\n\
Content-Disposition: attachment; filename=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b--\r\n";

    #[test]
    fn the_tree_has_part_ids_bodies_and_attachment_ids() {
        let tree = full("m1", RAW);
        assert_eq!(tree["mimeType"], "multipart/mixed");
        assert_eq!(tree["partId"], "");
        assert_eq!(tree["headers"][1]["value"], "café");
        let parts = tree["parts"].as_array().unwrap();
        assert_eq!(parts[0]["partId"], "0");
        assert_eq!(decode(parts[0]["body"]["data"].as_str().unwrap()).unwrap(), b"hello");
        assert_eq!(parts[1]["filename"], "a.pdf");
        let id = parts[1]["body"]["attachmentId"].as_str().unwrap();
        assert_eq!(attachment("m1", RAW, id).unwrap(), b"%PDF");
        assert!(attachment("m2", RAW, id).is_none());
    }

    #[test]
    fn metadata_keeps_only_the_wanted_headers() {
        let meta = metadata(RAW, &["subject".to_owned()]);
        assert_eq!(meta["headers"].as_array().unwrap().len(), 1);
    }
}
