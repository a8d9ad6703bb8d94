//! Messages: the resource's JSON, lists with query options, get, `$value`, update, move, copy
//! and delete.

use axum::http::StatusCode;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::api::{ApiRequest, Ctx, Reply, url_encode};
use super::errors::{GraphError, GraphResult};
use super::folders::next_link;
use super::mailbox::{Mailbox, Message, Recipient};
use super::odata::{self, ListOptions, format_time};
use super::{attachments, compose};

pub fn recipient_json(r: &Recipient) -> Value {
    json!({"emailAddress": {"name": r.name, "address": r.address}})
}

fn recipients_json(list: &[Recipient]) -> Value {
    Value::Array(list.iter().map(recipient_json).collect())
}

/// A recipient list from JSON (`[{"emailAddress":{"name","address"}}]`); `None` when absent.
pub fn parse_recipients(value: &Value) -> GraphResult<Option<Vec<Recipient>>> {
    let Some(list) = value.as_array() else {
        return if value.is_null() { Ok(None) } else { Err(GraphError::bad_request("Recipients must be an array.")) };
    };
    list.iter()
        .map(|r| {
            let address = r["emailAddress"]["address"].as_str().filter(|a| a.contains('@')).ok_or_else(|| {
                GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidRecipients",
                    "At least one recipient is not valid.",
                )
            })?;
            let name = r["emailAddress"]["name"].as_str().unwrap_or(address);
            Ok(Recipient { name: name.to_owned(), address: address.to_lowercase() })
        })
        .collect::<GraphResult<Vec<_>>>()
        .map(Some)
}

/// The message resource as Graph shows it. `internetMessageHeaders` appear only when selected.
/// Only the selected properties are computed: a delta page renders a hundred messages.
pub fn render(ctx: &Ctx, m: &Message, select: Option<&[String]>) -> Value {
    let id = m.id(ctx.prefs.immutable_ids);
    let body = || {
        if ctx.prefs.text_body == Some(true) {
            let text = if m.body_text.is_empty() {
                m.body_html.as_deref().map(crate::mime::html_to_text).unwrap_or_default()
            } else {
                m.body_text.clone()
            };
            json!({"contentType": "text", "content": text})
        } else {
            let html = m.body_html.clone().unwrap_or_else(|| compose::text_to_html(&m.body_text));
            json!({"contentType": "html", "content": html})
        }
    };
    let mut object = Map::new();
    let mut put = |key: &str, value: &dyn Fn() -> Value| {
        if odata::selected(key, select) {
            object.insert(key.to_owned(), value());
        }
    };
    put("@odata.etag", &|| Value::String(format!("W/\"{}\"", m.change_key())));
    put("id", &|| Value::String(id.to_owned()));
    put("createdDateTime", &|| Value::String(format_time(m.created_ms)));
    put("lastModifiedDateTime", &|| Value::String(format_time(m.modified_ms)));
    put("changeKey", &|| Value::String(m.change_key()));
    put("categories", &|| json!(m.categories));
    put("receivedDateTime", &|| Value::String(format_time(m.received_ms)));
    put("sentDateTime", &|| Value::String(format_time(m.sent_ms)));
    put("hasAttachments", &|| Value::Bool(m.has_attachments()));
    put("internetMessageId", &|| Value::String(format!("<{}>", m.internet_message_id)));
    put("subject", &|| Value::String(m.subject.clone()));
    put("bodyPreview", &|| Value::String(preview(m)));
    put("importance", &|| Value::String(m.importance.clone()));
    put("parentFolderId", &|| Value::String(m.folder_id.clone()));
    put("conversationId", &|| Value::String(m.conversation_id.clone()));
    put("conversationIndex", &|| {
        let index = Sha256::digest(m.conversation_id.as_bytes());
        Value::String(base64::engine::general_purpose::STANDARD.encode(&index[..22]))
    });
    put("isDeliveryReceiptRequested", &|| Value::Bool(false));
    put("isReadReceiptRequested", &|| Value::Bool(false));
    put("isRead", &|| Value::Bool(m.is_read));
    put("isDraft", &|| Value::Bool(m.is_draft));
    put("webLink", &|| {
        Value::String(format!(
            "https://outlook.office365.com/owa/?ItemID={}&exvsurl=1&viewmodel=ReadMessageItem",
            url_encode(&m.immutable_id)
        ))
    });
    put("inferenceClassification", &|| Value::String(m.inference_classification.clone()));
    put("body", &body);
    put("sender", &|| m.sender.as_ref().map_or(Value::Null, recipient_json));
    put("from", &|| m.from.as_ref().map_or(Value::Null, recipient_json));
    put("toRecipients", &|| recipients_json(&m.to));
    put("ccRecipients", &|| recipients_json(&m.cc));
    put("bccRecipients", &|| recipients_json(&m.bcc));
    put("replyTo", &|| recipients_json(&m.reply_to));
    put("flag", &|| json!({"flagStatus": m.flag_status}));
    if select.is_some() {
        put("internetMessageHeaders", &|| {
            Value::Array(m.headers.iter().map(|(name, value)| json!({"name": name, "value": value})).collect())
        });
    }
    Value::Object(object)
}

/// The first 255 characters of the text, runs of white space made one space. Only as much of
/// the body is read as the preview needs: a delta page renders a hundred of them.
fn preview(m: &Message) -> String {
    const LENGTH: usize = 255;
    let text = if m.body_text.is_empty() {
        std::borrow::Cow::Owned(m.body_html.as_deref().map(crate::mime::html_to_text).unwrap_or_default())
    } else {
        std::borrow::Cow::Borrowed(m.body_text.as_str())
    };
    let mut preview = String::new();
    let mut length = 0;
    for word in text.split_whitespace() {
        if length > 0 {
            preview.push(' ');
            length += 1;
        }
        preview.push_str(word);
        length += word.chars().count();
        if length >= LENGTH {
            break;
        }
    }
    preview.chars().take(LENGTH).collect()
}

/// The `@odata.context` of a message collection, naming the selected properties.
fn collection_context(ctx: &Ctx, what: &str, select: Option<&[String]>) -> String {
    match select {
        Some(fields) => ctx.user_context(&format!("{what}({})", fields.join(","))),
        None => ctx.user_context(what),
    }
}

/// `GET /me/messages` (the whole mailbox) or `/me/mailFolders/{id}/messages`.
pub fn list(ctx: &Ctx, request: &ApiRequest, folder: Option<&str>) -> GraphResult<Reply> {
    let options = ListOptions::parse(request)?;
    let select = options.select.as_deref();
    let expand_attachments = expands_attachments(request)?;
    let (folder_id, page, total) = ctx.mailbox(|mailbox| {
        let folder_id = folder.map(|f| mailbox.folder_id(f).ok_or_else(GraphError::not_found)).transpose()?;
        let mut matching: Vec<&Message> = mailbox
            .messages
            .iter()
            .filter(|m| folder_id.as_ref().is_none_or(|f| &m.folder_id == f))
            .filter(|m| options.filter.iter().all(|c| c.matches(m)))
            .collect();
        matching.sort_by_key(|m| m.received_ms);
        if options.descending {
            matching.reverse();
        }
        let page: Vec<Value> = matching
            .iter()
            .skip(options.skip)
            .take(options.top)
            .map(|m| expand(render(ctx, m, select), m, expand_attachments))
            .collect();
        Ok((folder_id, page, matching.len()))
    })?;
    let what = match &folder_id {
        Some(id) => format!("mailFolders('{id}')/messages"),
        None => "messages".to_owned(),
    };
    let mut body = json!({"@odata.context": collection_context(ctx, &what, select)});
    if options.count {
        body["@odata.count"] = json!(total);
    }
    body["value"] = Value::Array(page);
    if options.skip + options.top < total {
        body["@odata.nextLink"] = Value::String(next_link(ctx, request, options.skip + options.top));
    }
    Ok(Reply::json(StatusCode::OK, body))
}

/// A message answer with its entity context.
pub fn entity(ctx: &Ctx, mailbox: &Mailbox, index: usize, select: Option<&[String]>) -> Value {
    let mut value = render(ctx, &mailbox.messages[index], select);
    value["@odata.context"] = Value::String(ctx.user_context("messages/$entity"));
    value
}

pub fn find(mailbox: &Mailbox, id: &str) -> GraphResult<usize> {
    mailbox.find(id).ok_or_else(GraphError::not_found)
}

pub fn get(ctx: &Ctx, request: &ApiRequest, id: &str) -> GraphResult<Reply> {
    let select = odata::parse_select(request);
    let expand_attachments = expands_attachments(request)?;
    let value = ctx.mailbox(|mailbox| {
        let index = find(mailbox, id)?;
        Ok(expand(entity(ctx, mailbox, index, select.as_deref()), &mailbox.messages[index], expand_attachments))
    })?;
    Ok(Reply::json(StatusCode::OK, value))
}

/// `$expand=attachments`, the one expansion messages offer here.
fn expands_attachments(request: &ApiRequest) -> GraphResult<bool> {
    match request.param("$expand") {
        None => Ok(false),
        Some(e) if e.trim().eq_ignore_ascii_case("attachments") => Ok(true),
        Some(e) => Err(GraphError::bad_request(format!("Could not find a property named '{e}' to expand."))),
    }
}

fn expand(mut value: Value, m: &Message, attachments: bool) -> Value {
    if attachments {
        value["attachments"] = Value::Array(m.attachments.iter().map(|a| attachments::render(a, true)).collect());
    }
    value
}

/// `GET /me/messages/{id}/$value`: the MIME, as `text/plain` like Graph.
pub fn mime(ctx: &Ctx, id: &str) -> GraphResult<Reply> {
    let raw = ctx.mailbox(|mailbox| {
        let message = &mailbox.messages[find(mailbox, id)?];
        Ok(message.raw.clone().unwrap_or_else(|| compose::build(message, true)))
    })?;
    Ok(Reply::bytes("text/plain", raw))
}

fn one_of(value: &Value, name: &str, allowed: &[&str]) -> GraphResult<Option<String>> {
    match value.as_str() {
        None if value.is_null() => Ok(None),
        Some(v) if allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) => Ok(Some(v.to_ascii_lowercase())),
        _ => Err(GraphError::bad_request(format!("Invalid value for property '{name}'."))),
    }
}

/// `PATCH /me/messages/{id}`: state any message has; content only while it is a draft.
pub fn update(ctx: &Ctx, request: &ApiRequest, id: &str) -> GraphResult<Reply> {
    let body = request.json()?;
    let importance = one_of(&body["importance"], "importance", &["low", "normal", "high"])?;
    let inference = one_of(&body["inferenceClassification"], "inferenceClassification", &["focused", "other"])?;
    let flag = one_of(&body["flag"]["flagStatus"], "flag", &["notFlagged", "flagged", "complete"])?;
    let categories = match &body["categories"] {
        Value::Null => None,
        Value::Array(list) => Some(list.iter().filter_map(Value::as_str).map(str::to_owned).collect::<Vec<_>>()),
        _ => return Err(GraphError::bad_request("Invalid value for property 'categories'.")),
    };
    let is_read = match &body["isRead"] {
        Value::Null => None,
        Value::Bool(b) => Some(*b),
        _ => return Err(GraphError::bad_request("Invalid value for property 'isRead'.")),
    };
    let draft = compose::DraftFields::parse(&body)?;
    let value = ctx.mailbox(|mailbox| {
        let index = find(mailbox, id)?;
        let message = &mut mailbox.messages[index];
        if !draft.is_empty() && !message.is_draft {
            return Err(GraphError::bad_request("Update operation is invalid for property of a sent message.")
                .with_code("ErrorInvalidPropertyUpdateSentMessage"));
        }
        draft.apply(message);
        if let Some(read) = is_read {
            message.is_read = read;
        }
        if let Some(flag) = flag {
            message.flag_status = match flag.as_str() {
                "flagged" => "flagged",
                "complete" => "complete",
                _ => "notFlagged",
            }
            .to_owned();
        }
        if let Some(categories) = categories {
            message.categories = categories;
        }
        if let Some(importance) = importance {
            message.importance = importance;
        }
        if let Some(inference) = inference {
            message.inference_classification = inference;
        }
        mailbox.touch(index, ctx.now_ms);
        Ok(entity(ctx, mailbox, index, None))
    })?;
    Ok(Reply::json(StatusCode::OK, value))
}

/// `DELETE /me/messages/{id}` and `POST …/permanentDelete`: 204, and the message is gone from
/// every folder a client can list. message-delete.md says the message is deleted, nothing of
/// Deleted Items (a client that wants the trash moves it to `deleteditems`); permanentDelete
/// differs only in where Exchange keeps it for recovery (Purges rather than Recoverable Items
/// Deletions), neither of which is a mail folder here.
pub fn delete(ctx: &Ctx, id: &str) -> GraphResult<Reply> {
    ctx.mailbox(|mailbox| {
        let index = find(mailbox, id)?;
        mailbox.remove(index);
        Ok(())
    })?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

/// `POST …/move` or `…/copy` with `{"destinationId"}` (an id or well-known name): 201 and the
/// message in its new place, with its new id.
pub fn move_or_copy(ctx: &Ctx, request: &ApiRequest, id: &str, copy: bool) -> GraphResult<Reply> {
    let body = request.json()?;
    let destination = body["destinationId"]
        .as_str()
        .ok_or_else(|| GraphError::invalid_request("The destinationId parameter is required."))?;
    let value = ctx.mailbox(|mailbox| {
        let index = find(mailbox, id)?;
        let folder = mailbox.folder_id(destination).ok_or_else(GraphError::not_found)?;
        let index = if copy {
            mailbox.copy_to(index, &folder, ctx.now_ms)
        } else {
            mailbox.move_to(index, &folder, ctx.now_ms);
            index
        };
        Ok(entity(ctx, mailbox, index, None))
    })?;
    Ok(Reply::json(StatusCode::CREATED, value))
}
