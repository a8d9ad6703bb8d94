//! File attachments: list, get, `$value`, add (under 3 MB) and delete, and upload sessions for
//! larger files: `createUploadSession` gives a pre-authenticated URL on the simulator that takes
//! the file in `PUT` chunks with `Content-Range`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::api::{ApiRequest, Ctx, Reply, url_encode};
use super::errors::{GraphError, GraphResult};
use super::mailbox::{ATTACHMENT_ID, Attachment, Mailbox};
use super::messages::find;
use super::odata::format_time;
use crate::SimState;

/// Attachments below this go in one request. The documents say "under 3 MB" for one and
/// "between 3 MB and 150 MB" for upload sessions without saying which megabyte: a direct add is
/// taken below 3 MiB and a session from 3,000,000 bytes, so that a client reading "MB" either way
/// is served. (A direct add near 3 MiB still has to fit the 4 MB request once base64-encoded.)
const DIRECT_LIMIT: usize = 3 * 1024 * 1024;
/// The smallest attachment an upload session takes.
const SESSION_MIN: usize = 3_000_000;
/// The largest attachment an upload session takes.
const SESSION_LIMIT: usize = 150 * 1024 * 1024;
const SESSION_LIFETIME_MS: i64 = 6 * 3600 * 1000;

/// An upload in progress, until its last byte arrives.
#[derive(Debug)]
pub struct UploadSession {
    message_id: String,
    name: String,
    content_type: String,
    size: usize,
    is_inline: bool,
    content_id: Option<String>,
    received: Vec<u8>,
    expires_ms: i64,
}

pub fn render(a: &Attachment, with_bytes: bool) -> Value {
    let mut object = Map::new();
    object.insert("@odata.type".to_owned(), json!("#microsoft.graph.fileAttachment"));
    object.insert("@odata.mediaContentType".to_owned(), json!(a.content_type));
    object.insert("id".to_owned(), json!(a.id));
    object.insert("lastModifiedDateTime".to_owned(), json!(format_time(a.modified_ms)));
    object.insert("name".to_owned(), json!(a.name));
    object.insert("contentType".to_owned(), json!(a.content_type));
    object.insert("size".to_owned(), json!(a.bytes.len()));
    object.insert("isInline".to_owned(), json!(a.is_inline));
    object.insert("contentId".to_owned(), json!(a.content_id));
    object.insert("contentLocation".to_owned(), Value::Null);
    if with_bytes {
        object.insert("contentBytes".to_owned(), json!(base64::engine::general_purpose::STANDARD.encode(&a.bytes)));
    }
    Value::Object(object)
}

fn too_large() -> GraphError {
    GraphError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "ErrorRequestEntityTooLarge",
        "The attachment is 3 MB or larger; use an upload session (createUploadSession).",
    )
}

/// A `#microsoft.graph.fileAttachment` from JSON; other attachment types are not supported.
pub fn parse_file_attachment(mailbox: &mut Mailbox, value: &Value, now_ms: i64) -> GraphResult<Attachment> {
    let kind = value["@odata.type"].as_str().unwrap_or("#microsoft.graph.fileAttachment");
    if !kind.eq_ignore_ascii_case("#microsoft.graph.fileAttachment") {
        return Err(GraphError::bad_request(format!("Attachments of type '{kind}' are not supported.")));
    }
    let name = value["name"].as_str().ok_or_else(|| GraphError::invalid_request("The name property is required."))?;
    let bytes = value["contentBytes"]
        .as_str()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .ok_or_else(|| GraphError::invalid_request("The contentBytes property must be base64."))?;
    if bytes.len() >= DIRECT_LIMIT {
        return Err(too_large());
    }
    Ok(Attachment {
        id: mailbox.mint(ATTACHMENT_ID),
        name: name.to_owned(),
        content_type: value["contentType"].as_str().unwrap_or("application/octet-stream").to_owned(),
        content_id: value["contentId"].as_str().map(str::to_owned),
        is_inline: value["isInline"].as_bool().unwrap_or(false),
        bytes,
        modified_ms: now_ms,
    })
}

pub fn list(ctx: &Ctx, request: &ApiRequest, id: &str) -> GraphResult<Reply> {
    let with_bytes = request.param("$select").is_none_or(|s| s.to_ascii_lowercase().contains("contentbytes"));
    let (message_id, values) = ctx.mailbox(|mailbox| {
        let message = &mailbox.messages[find(mailbox, id)?];
        let values: Vec<Value> = message.attachments.iter().map(|a| render(a, with_bytes)).collect();
        Ok((message.id(ctx.prefs.immutable_ids).to_owned(), values))
    })?;
    let context = ctx.user_context(&format!("messages('{message_id}')/attachments"));
    Ok(Reply::json(StatusCode::OK, json!({"@odata.context": context, "value": values})))
}

/// `GET …/attachments/{id}` (JSON with `contentBytes`) or `…/$value` (the bytes).
pub fn get(ctx: &Ctx, id: &str, attachment_id: &str, raw: bool) -> GraphResult<Reply> {
    let attachment = ctx.mailbox(|mailbox| {
        let message = &mailbox.messages[find(mailbox, id)?];
        message.attachments.iter().find(|a| a.id == attachment_id).cloned().ok_or_else(GraphError::not_found)
    })?;
    if raw {
        return Ok(Reply::bytes(&attachment.content_type, attachment.bytes));
    }
    let mut value = render(&attachment, true);
    value["@odata.context"] = json!(ctx.user_context("messages/attachments/$entity"));
    Ok(Reply::json(StatusCode::OK, value))
}

/// `POST …/attachments` with a fileAttachment under 3 MB: 201 and the attachment.
pub fn add(ctx: &Ctx, request: &ApiRequest, id: &str) -> GraphResult<Reply> {
    let body = request.json()?;
    let value = ctx.mailbox(|mailbox| {
        let index = find(mailbox, id)?;
        let attachment = parse_file_attachment(mailbox, &body, ctx.now_ms)?;
        let value = render(&attachment, true);
        mailbox.messages[index].attachments.push(attachment);
        mailbox.messages[index].raw = None;
        mailbox.touch(index, ctx.now_ms);
        Ok(value)
    })?;
    Ok(Reply::json(StatusCode::CREATED, value))
}

pub fn delete(ctx: &Ctx, id: &str, attachment_id: &str) -> GraphResult<Reply> {
    ctx.mailbox(|mailbox| {
        let index = find(mailbox, id)?;
        let message = &mut mailbox.messages[index];
        let position =
            message.attachments.iter().position(|a| a.id == attachment_id).ok_or_else(GraphError::not_found)?;
        message.attachments.remove(position);
        message.raw = None;
        mailbox.touch(index, ctx.now_ms);
        Ok(())
    })?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

/// `POST …/attachments/createUploadSession` with `{"AttachmentItem":{"attachmentType":"file",
/// "name","size","isInline"?,"contentId"?}}`: 201 and the session.
pub fn create_upload_session(ctx: &Ctx, request: &ApiRequest, id: &str) -> GraphResult<Reply> {
    let body = request.json()?;
    let item = if body["AttachmentItem"].is_object() { &body["AttachmentItem"] } else { &body["attachmentItem"] };
    if item["attachmentType"].as_str().is_some_and(|t| !t.eq_ignore_ascii_case("file")) {
        return Err(GraphError::bad_request("Only file attachments can be uploaded in a session."));
    }
    let name = item["name"].as_str().ok_or_else(|| GraphError::invalid_request("The name property is required."))?;
    let size = item["size"]
        .as_u64()
        .and_then(|s| usize::try_from(s).ok())
        .ok_or_else(|| GraphError::invalid_request("The size property is required."))?;
    if size < SESSION_MIN {
        return Err(GraphError::bad_request("Attachment size must be greater than the minimum size.")
            .with_code("ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"));
    }
    if size > SESSION_LIMIT {
        return Err(GraphError::bad_request("The attachment exceeds the maximum supported size.")
            .with_code("ErrorAttachmentSizeExceedsMaximumSize"));
    }
    let expires_ms = ctx.now_ms + SESSION_LIFETIME_MS;
    let token = ctx.mailbox(|mailbox| {
        let message_id = mailbox.messages[find(mailbox, id)?].immutable_id.clone();
        let token = mailbox.mint("upload");
        let session = UploadSession {
            message_id,
            name: name.to_owned(),
            content_type: item["contentType"].as_str().unwrap_or("application/octet-stream").to_owned(),
            size,
            is_inline: item["isInline"].as_bool().unwrap_or(false),
            content_id: item["contentId"].as_str().map(str::to_owned),
            received: Vec::with_capacity(size),
            expires_ms,
        };
        mailbox.sessions.uploads.insert(token.clone(), session);
        Ok(token)
    })?;
    let upload_url = format!("{}/microsoft/uploads/{}/{token}", ctx.state.base_url(), url_encode(&ctx.email));
    Ok(Reply::json(
        StatusCode::CREATED,
        json!({
            "@odata.context": format!("{}/$metadata#microsoft.graph.uploadSession", ctx.api_base()),
            "uploadUrl": upload_url,
            "expirationDateTime": format_time(expires_ms),
            "nextExpectedRanges": ["0-"],
        }),
    ))
}

/// `bytes {start}-{end}/{total}`.
fn content_range(headers: &HeaderMap) -> Option<(usize, usize, usize)> {
    let value = headers.get(header::CONTENT_RANGE)?.to_str().ok()?.trim().strip_prefix("bytes ")?;
    let (range, total) = value.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, end.trim().parse().ok()?, total.trim().parse().ok()?))
}

/// The upload URL: `PUT` a chunk (200 with the next expected range, or 201 with `Location` for
/// the last), `DELETE` to cancel. It needs no token: the URL is the credential.
pub async fn upload(
    State(state): State<SimState>,
    Path((email, token)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.clock().now_ms();
    let base = state.base_url();
    let reply = {
        let mut world = state.world();
        match world.graph(&email) {
            Some(mailbox) => upload_chunk(mailbox, &base, &token, &method, &headers, &body, now),
            None => Err(GraphError::not_found()),
        }
    };
    reply.unwrap_or_else(|e| Reply::error(&e, &headers, now)).into_http()
}

fn upload_chunk(
    mailbox: &mut Mailbox,
    base: &str,
    token: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> GraphResult<Reply> {
    let session =
        mailbox.sessions.uploads.get_mut(token).filter(|s| s.expires_ms > now).ok_or_else(GraphError::not_found)?;
    if *method == Method::DELETE {
        mailbox.sessions.uploads.remove(token);
        return Ok(Reply::empty(StatusCode::NO_CONTENT));
    }
    if *method != Method::PUT {
        return Err(GraphError::method_not_allowed());
    }
    let (start, end, total) = content_range(headers)
        .ok_or_else(|| GraphError::invalid_request("A valid Content-Range header is required."))?;
    if total != session.size || end < start || end >= total {
        return Err(GraphError::invalid_request("The Content-Range does not match the upload session."));
    }
    if start != session.received.len() {
        return Err(GraphError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "invalidRange",
            "Uploaded fragment overlaps with existing data.",
        ));
    }
    if end - start + 1 != body.len() {
        return Err(GraphError::invalid_request("The body length does not match the Content-Range."));
    }
    session.received.extend_from_slice(body);
    if session.received.len() < session.size {
        let next = session.received.len();
        return Ok(Reply::json(
            StatusCode::OK,
            json!({"expirationDateTime": format_time(session.expires_ms), "nextExpectedRanges": [next.to_string()]}),
        ));
    }
    let Some(session) = mailbox.sessions.uploads.remove(token) else { return Err(GraphError::not_found()) };
    let index = find(mailbox, &session.message_id)?;
    let attachment_id = mailbox.mint(ATTACHMENT_ID);
    mailbox.messages[index].attachments.push(Attachment {
        id: attachment_id.clone(),
        name: session.name,
        content_type: session.content_type,
        content_id: session.content_id,
        is_inline: session.is_inline,
        bytes: session.received,
        modified_ms: now,
    });
    mailbox.messages[index].raw = None;
    mailbox.touch(index, now);
    let location = format!(
        "{base}/microsoft/v1.0/users('{}')/messages('{}')/attachments('{attachment_id}')",
        url_encode(&mailbox.email),
        mailbox.messages[index].rest_id
    );
    Ok(Reply::empty(StatusCode::CREATED).with_header("Location", location))
}
