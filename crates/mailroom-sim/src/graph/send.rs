//! Writing mail: drafts, `sendMail` (JSON or base64 MIME), sending a draft, and the reply family.
//! Sent mail lands in Sent Items and in the inbox of every recipient who is a simulator user, at
//! Microsoft through the Graph mailbox and at Google through the Gmail one.

use axum::http::StatusCode;
use base64::Engine as _;
use serde_json::Value;

use super::api::{ApiRequest, Ctx, Reply};
use super::attachments::parse_file_attachment;
use super::compose::{self, DraftFields};
use super::errors::{GraphError, GraphResult};
use super::mailbox::{Mailbox, Message, Recipient};
use super::messages::{entity, find, parse_recipients};
use super::odata::format_time;

/// A base64 MIME body, as `sendMail`, create and reply take with `Content-Type: text/plain`.
fn decode_mime(request: &ApiRequest) -> GraphResult<Vec<u8>> {
    let text: String = String::from_utf8_lossy(&request.body).chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).ok().filter(|raw| !raw.is_empty()).ok_or_else(
        || {
            GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorMimeContentInvalidBase64String",
                "Invalid base64 string for MIME content.",
            )
        },
    )
}

/// A message the owner wrote as MIME; without a `From`, it is from the owner, and its MIME is
/// rebuilt to say so.
fn from_mime(mailbox: &mut Mailbox, raw: Vec<u8>, folder_id: &str, now_ms: i64) -> Message {
    let mut message = mailbox.message_from_raw(raw, folder_id, now_ms);
    if message.from.is_none() {
        let me = Recipient { name: mailbox.name.clone(), address: mailbox.email.clone() };
        message.from = Some(me.clone());
        message.sender = Some(me);
        message.raw = None;
    }
    message
}

/// A draft from a JSON message resource: content, importance, categories, custom headers and
/// file attachments.
fn message_from_json(mailbox: &mut Mailbox, json: &Value, folder_id: &str, now_ms: i64) -> GraphResult<Message> {
    let mut message = mailbox.blank(folder_id, now_ms);
    DraftFields::parse(json)?.apply(&mut message);
    if let Some(importance) = json["importance"].as_str() {
        message.importance = importance.to_ascii_lowercase();
    }
    if let Some(categories) = json["categories"].as_array() {
        message.categories = categories.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    }
    for header in json["internetMessageHeaders"].as_array().into_iter().flatten() {
        let (Some(name), Some(value)) = (header["name"].as_str(), header["value"].as_str()) else { continue };
        // Graph takes only custom headers here.
        if !name.to_ascii_lowercase().starts_with("x-") {
            return Err(GraphError::bad_request(format!(
                "The internet message header name '{name}' should start with 'x-' or 'X-'."
            ))
            .with_code("InvalidInternetMessageHeader"));
        }
        message.headers.push((name.to_owned(), value.to_owned()));
    }
    for attachment in json["attachments"].as_array().into_iter().flatten() {
        let attachment = parse_file_attachment(mailbox, attachment, now_ms)?;
        message.attachments.push(attachment);
    }
    Ok(message)
}

/// `POST /me/messages` (or a folder's messages): a new draft, from JSON or base64 MIME.
pub fn create_draft(ctx: &Ctx, request: &ApiRequest, folder: &str) -> GraphResult<Reply> {
    let raw = if request.is_mime() { Some(decode_mime(request)?) } else { None };
    let json = if raw.is_none() { request.json()? } else { Value::Null };
    let value = ctx.mailbox(|mailbox| {
        let folder_id = mailbox.folder_id(folder).ok_or_else(GraphError::not_found)?;
        let mut message = match raw {
            Some(raw) => from_mime(mailbox, raw, &folder_id, ctx.now_ms),
            None => message_from_json(mailbox, &json, &folder_id, ctx.now_ms)?,
        };
        message.is_draft = true;
        message.is_read = true;
        let index = mailbox.insert(message);
        Ok(entity(ctx, mailbox, index, None))
    })?;
    Ok(Reply::json(StatusCode::CREATED, value))
}

fn recipients(message: &Message) -> Vec<String> {
    let mut all: Vec<String> =
        message.to.iter().chain(&message.cc).chain(&message.bcc).map(|r| r.address.to_lowercase()).collect();
    all.sort();
    all.dedup();
    all
}

fn no_recipients() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "ErrorInvalidRecipients",
        "At least one recipient is not valid., Recipient is missing.",
    )
}

/// Refuses a message larger than the mailbox sends: a draft may grow past the 4 MB request by
/// its attachments, but not past the mailbox's limit.
fn within_send_limit(ctx: &Ctx, message: &Message) -> GraphResult<()> {
    let limit = ctx.state.config().graph_send_limit_bytes;
    let size = match &message.raw {
        Some(raw) => raw.len(),
        None => compose::build(message, true).len(),
    };
    if size > limit {
        return Err(GraphError::bad_request(format!(
            "The message is {size} bytes, larger than the maximum message size of {limit} bytes."
        ))
        .with_code("ErrorMessageSizeExceeded"));
    }
    Ok(())
}

/// Marks a message sent now, and gives the bytes its recipients get.
fn seal(message: &mut Message, now_ms: i64) -> Vec<u8> {
    message.is_draft = false;
    message.is_read = true;
    message.sent_ms = now_ms;
    message.received_ms = now_ms;
    message.bump(now_ms);
    match &message.raw {
        Some(raw) => compose::strip_bcc(raw),
        None => compose::build(message, false),
    }
}

/// Hands a sent message to every recipient who is a simulator user; others are outside.
fn deliver(ctx: &Ctx, raw: &[u8], addresses: &[String]) {
    let mut world = ctx.state.world();
    for address in addresses {
        if let Some(mailbox) = world.graph(address) {
            mailbox.deliver(raw.to_vec(), "inbox", ctx.now_ms);
        } else if let Some(mailbox) = world.gmail(address) {
            mailbox.deliver(raw.to_vec(), &["INBOX", "UNREAD"], ctx.now_ms);
        }
    }
}

/// Sends a message not yet stored: into Sent Items when `save`, then to its recipients.
fn send_new(ctx: &Ctx, mut message: Message, save: bool) -> GraphResult<Reply> {
    let addresses = recipients(&message);
    if addresses.is_empty() {
        return Err(no_recipients());
    }
    within_send_limit(ctx, &message)?;
    let raw = seal(&mut message, ctx.now_ms);
    if save {
        ctx.mailbox(|mailbox| {
            message.folder_id = mailbox.well_known_id("sentitems");
            mailbox.insert(message);
            Ok(())
        })?;
    }
    deliver(ctx, &raw, &addresses);
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

/// `POST /me/sendMail`: `{"message", "saveToSentItems"}` or base64 MIME; 202 with no body.
pub fn send_mail(ctx: &Ctx, request: &ApiRequest) -> GraphResult<Reply> {
    if request.is_mime() {
        let raw = decode_mime(request)?;
        let message = ctx.mailbox(|mailbox| {
            let sent = mailbox.well_known_id("sentitems");
            Ok(from_mime(mailbox, raw, &sent, ctx.now_ms))
        })?;
        return send_new(ctx, message, true);
    }
    let body = request.json()?;
    if !body["message"].is_object() {
        return Err(GraphError::invalid_request("Empty Payload. JSON content expected."));
    }
    let save = body["saveToSentItems"].as_bool().unwrap_or(true);
    let message = ctx.mailbox(|mailbox| {
        let sent = mailbox.well_known_id("sentitems");
        message_from_json(mailbox, &body["message"], &sent, ctx.now_ms)
    })?;
    send_new(ctx, message, save)
}

/// `POST /me/messages/{id}/send`: the draft goes to Sent Items (with a new id, as any move) and
/// out to its recipients.
pub fn send_draft(ctx: &Ctx, id: &str) -> GraphResult<Reply> {
    let (raw, addresses) = ctx.mailbox(|mailbox| {
        let index = find(mailbox, id)?;
        if !mailbox.messages[index].is_draft {
            return Err(GraphError::bad_request("Only drafts can be sent.").with_code("ErrorInvalidOperation"));
        }
        let addresses = recipients(&mailbox.messages[index]);
        if addresses.is_empty() {
            return Err(no_recipients());
        }
        within_send_limit(ctx, &mailbox.messages[index])?;
        let raw = seal(&mut mailbox.messages[index], ctx.now_ms);
        let sent = mailbox.well_known_id("sentitems");
        mailbox.move_to(index, &sent, ctx.now_ms);
        Ok((raw, addresses))
    })?;
    deliver(ctx, &raw, &addresses);
    Ok(Reply::empty(StatusCode::ACCEPTED))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Reply,
    ReplyAll,
    Forward,
}

/// The quoted original under a reply or forward, as Outlook writes it.
fn quoted(original: &Message, comment: &str) -> String {
    let from = original.from.as_ref().map_or(String::new(), |f| format!("{} &lt;{}&gt;", f.name, f.address));
    let original_html = original.body_html.clone().unwrap_or_else(|| compose::text_to_html(&original.body_text));
    format!(
        "<html><body><div>{}</div><hr><div><b>From:</b> {from}<br><b>Sent:</b> {}<br><b>Subject:</b> {}</div>{original_html}</body></html>",
        comment.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"),
        format_time(original.sent_ms),
        original.subject.replace('<', "&lt;"),
    )
}

/// A reply or forward of `original` by the mailbox's owner, before the caller's own fields.
fn response_draft(mailbox: &mut Mailbox, original: &Message, kind: Kind, comment: &str, now_ms: i64) -> Message {
    let drafts = mailbox.well_known_id("drafts");
    let mut draft = mailbox.blank(&drafts, now_ms);
    let me = mailbox.email.to_lowercase();
    let prefix = if kind == Kind::Forward { "FW: " } else { "RE: " };
    let already = original.subject.to_ascii_uppercase().starts_with(prefix.trim_end());
    draft.subject = if already { original.subject.clone() } else { format!("{prefix}{}", original.subject) };
    if kind != Kind::Forward {
        let author = if original.reply_to.is_empty() {
            original.from.iter().cloned().collect()
        } else {
            original.reply_to.clone()
        };
        draft.to = author;
        if kind == Kind::ReplyAll {
            let others = |list: &[Recipient], taken: &[Recipient]| -> Vec<Recipient> {
                list.iter()
                    .filter(|r| r.address != me && !taken.iter().any(|t| t.address == r.address))
                    .cloned()
                    .collect()
            };
            let more = others(&original.to, &draft.to);
            draft.to.extend(more);
            draft.cc = others(&original.cc, &draft.to);
        }
    } else {
        draft.attachments.clone_from(&original.attachments);
    }
    draft.in_reply_to = vec![original.internet_message_id.clone()];
    draft.references = original.references.iter().cloned().chain([original.internet_message_id.clone()]).collect();
    draft.conversation_id.clone_from(&original.conversation_id);
    compose::set_body(&mut draft, true, &quoted(original, comment));
    draft
}

/// `reply`, `replyAll`, `forward` (202, sent at once) and `createReply`, `createReplyAll`,
/// `createForward` (201, a draft in Drafts). The body takes a `comment` or a `message` with a
/// body, not both.
pub fn respond_to(ctx: &Ctx, request: &ApiRequest, id: &str, kind: Kind, create: bool) -> GraphResult<Reply> {
    if request.is_mime() {
        return respond_with_mime(ctx, request, id, create);
    }
    let body = request.json()?;
    let comment = body["comment"].as_str();
    if comment.is_some() && !body["message"]["body"].is_null() {
        return Err(GraphError::invalid_request("Specifying both a comment and a message body is not allowed."));
    }
    let fields = DraftFields::parse(&body["message"])?;
    let forward_to = parse_recipients(&body["toRecipients"])?;
    let draft = ctx.mailbox(|mailbox| {
        let original = mailbox.messages[find(mailbox, id)?].clone();
        let mut draft = response_draft(mailbox, &original, kind, comment.unwrap_or_default(), ctx.now_ms);
        if let Some(to) = forward_to {
            draft.to = to;
        }
        fields.apply(&mut draft);
        for attachment in body["message"]["attachments"].as_array().into_iter().flatten() {
            let attachment = parse_file_attachment(mailbox, attachment, ctx.now_ms)?;
            draft.attachments.push(attachment);
        }
        if !create {
            return Ok(Outcome::Send(Box::new(draft)));
        }
        let index = mailbox.insert(draft);
        Ok(Outcome::Created(entity(ctx, mailbox, index, None)))
    })?;
    match draft {
        Outcome::Created(created) => Ok(Reply::json(StatusCode::CREATED, created)),
        Outcome::Send(draft) => send_new(ctx, *draft, true),
    }
}

/// A reply or forward given whole as base64 MIME: the caller wrote the headers and quoting.
fn respond_with_mime(ctx: &Ctx, request: &ApiRequest, id: &str, create: bool) -> GraphResult<Reply> {
    let raw = decode_mime(request)?;
    let outcome = ctx.mailbox(|mailbox| {
        find(mailbox, id)?;
        let folder = mailbox.well_known_id(if create { "drafts" } else { "sentitems" });
        let mut message = from_mime(mailbox, raw, &folder, ctx.now_ms);
        if !create {
            return Ok(Outcome::Send(Box::new(message)));
        }
        message.is_draft = true;
        message.is_read = true;
        let index = mailbox.insert(message);
        Ok(Outcome::Created(entity(ctx, mailbox, index, None)))
    })?;
    match outcome {
        Outcome::Created(created) => Ok(Reply::json(StatusCode::CREATED, created)),
        Outcome::Send(message) => send_new(ctx, *message, true),
    }
}

enum Outcome {
    Created(Value),
    Send(Box<Message>),
}
