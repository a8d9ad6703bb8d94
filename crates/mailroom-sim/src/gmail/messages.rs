//! `users.messages.*` and `users.messages.attachments.get`, and the `Message` resource in each
//! `format`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::compose::{self, MessageBody};
use super::errors::{ApiError, ApiResult, Reply};
use super::listing::{self, Filter};
use super::mailbox::{Mailbox, Message};
use super::methods::Call;
use super::payload;
use crate::state::World;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Minimal,
    Full,
    Raw,
    Metadata,
}

impl Format {
    /// The `format` parameter (default `full`); threads have no `raw`, and the metadata scope
    /// allows neither `raw` nor `full`.
    pub fn from_call(call: &Call<'_>, raw_allowed: bool) -> Result<Format, ApiError> {
        let format = match call.params.get("format").map(str::to_ascii_lowercase).as_deref() {
            None | Some("full") => Format::Full,
            Some("minimal") => Format::Minimal,
            Some("metadata") => Format::Metadata,
            Some("raw") if raw_allowed => Format::Raw,
            Some(other) => {
                return Err(ApiError::invalid_argument(format!(
                    "Invalid value at 'format' (type.googleapis.com/google.apps.gmail.v1.Format), \"{other}\""
                )));
            }
        };
        if call.metadata_only && matches!(format, Format::Full | Format::Raw) {
            return Err(ApiError::forbidden(format!(
                "Metadata scope doesn't allow format {}",
                if format == Format::Raw { "RAW" } else { "FULL" }
            )));
        }
        Ok(format)
    }
}

/// `{id, threadId}`, as lists and history show messages.
pub fn brief(m: &Message) -> Value {
    json!({"id": m.id, "threadId": m.thread_id})
}

/// `{id, threadId, labelIds}`, as writes answer.
pub fn labelled(m: &Message) -> Value {
    let mut value = brief(m);
    if !m.labels.is_empty() {
        value["labelIds"] = json!(m.label_ids());
    }
    value
}

/// The `Message` resource in a format. Empty repeated fields are left out, as Google leaves them.
pub fn render(m: &Message, format: Format, metadata_headers: &[String]) -> Value {
    let mut value = labelled(m);
    value["snippet"] = json!(m.summary.snippet());
    value["sizeEstimate"] = json!(m.raw.len());
    value["historyId"] = json!(m.history_id.to_string());
    value["internalDate"] = json!(m.internal_date_ms.to_string());
    match format {
        Format::Minimal => {}
        Format::Full => value["payload"] = payload::full(&m.id, &m.raw),
        Format::Metadata => value["payload"] = payload::metadata(&m.raw, metadata_headers),
        Format::Raw => value["raw"] = json!(payload::encode(&m.raw)),
    }
    value
}

fn find<'m>(mailbox: &'m Mailbox, id: &str) -> Result<&'m Message, ApiError> {
    mailbox.message(id).ok_or_else(ApiError::not_found)
}

pub fn list(call: &Call<'_>, world: &mut World) -> ApiResult {
    let filter = Filter::from_call(call)?;
    let mailbox = call.mailbox(world)?;
    let items = mailbox
        .messages()
        .filter(|m| filter.matches(mailbox, m, call.now_ms))
        .map(|m| ((m.internal_date_ms, m.id.clone()), brief(m)))
        .collect();
    let page = listing::page(items, call)?;
    let mut body = json!({"resultSizeEstimate": page.total});
    if !page.items.is_empty() {
        body["messages"] = Value::Array(page.items);
    }
    if let Some(token) = page.next_page_token {
        body["nextPageToken"] = json!(token);
    }
    Ok(Reply::json(body))
}

pub fn get(call: &Call<'_>, world: &mut World) -> ApiResult {
    let format = Format::from_call(call, true)?;
    let mailbox = call.mailbox(world)?;
    let message = find(mailbox, call.id())?;
    Ok(Reply::json(render(message, format, &call.params.all("metadataHeaders"))))
}

/// `messages.insert` (`import` false) and `messages.import`: the message goes into this mailbox
/// only, with the labels asked for. The simulator never classifies mail, so `neverMarkSpam` and
/// `processForCalendar` change nothing; `deleted=true` (a message only Vault would see) is refused
/// rather than silently stored.
pub fn insert(call: &Call<'_>, world: &mut World, import: bool) -> ApiResult {
    call.params.flag("neverMarkSpam")?;
    call.params.flag("processForCalendar")?;
    if call.params.flag("deleted")? {
        return Err(ApiError::invalid_argument("deleted=true (messages only Vault sees) is not emulated"));
    }
    let body: MessageBody = call.json()?;
    let raw = body.raw(call.upload_limit)?;
    let mailbox = call.mailbox(world)?;
    if let Some(bad) = body.label_ids.iter().find(|l| mailbox.label(l).is_none()) {
        return Err(ApiError::invalid_argument(format!("Invalid label: {bad}")));
    }
    let source = call.params.get("internalDateSource").unwrap_or(if import { "dateHeader" } else { "receivedTime" });
    let internal_date = match source {
        "receivedTime" => call.now_ms,
        "dateHeader" => crate::mime::summarize(&raw).date_ms.unwrap_or(call.now_ms),
        other => {
            return Err(ApiError::invalid_argument(format!("Invalid value at 'internal_date_source', \"{other}\"")));
        }
    };
    let id = mailbox.add(raw, &body.label_ids, internal_date, body.thread_id.as_deref(), call.now_ms);
    Ok(Reply::json(labelled(find(mailbox, &id)?)))
}

pub fn send(call: &Call<'_>, world: &mut World) -> ApiResult {
    let body: MessageBody = call.json()?;
    let raw = body.raw(call.upload_limit)?;
    let id = compose::send(call, world, raw, body.thread_id.as_deref())?;
    Ok(Reply::json(labelled(find(call.mailbox(world)?, &id)?)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelChange {
    #[serde(default)]
    pub ids: Vec<String>,
    #[serde(default)]
    pub add_label_ids: Vec<String>,
    #[serde(default)]
    pub remove_label_ids: Vec<String>,
}

impl LabelChange {
    pub fn check(&self, mailbox: &Mailbox) -> Result<(), ApiError> {
        mailbox.check_modify(&self.add_label_ids, &self.remove_label_ids).map_err(ApiError::invalid_argument)
    }
}

pub fn modify(call: &Call<'_>, world: &mut World) -> ApiResult {
    let change: LabelChange = call.json()?;
    let mailbox = call.mailbox(world)?;
    find(mailbox, call.id())?;
    change.check(mailbox)?;
    mailbox.change_labels(call.id(), &change.add_label_ids, &change.remove_label_ids, call.now_ms);
    Ok(Reply::json(labelled(find(mailbox, call.id())?)))
}

/// The batch methods' documented limit of ids per request.
const BATCH_IDS: usize = 1000;

fn check_ids(ids: &[String]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Err(ApiError::invalid_argument("ids must not be empty"));
    }
    if ids.len() > BATCH_IDS {
        return Err(ApiError::invalid_argument(format!("Too many ids: at most {BATCH_IDS} per request")));
    }
    Ok(())
}

/// Unknown ids are passed over, as with `batchDelete`, whose documentation promises nothing
/// about ids that do not exist.
pub fn batch_modify(call: &Call<'_>, world: &mut World) -> ApiResult {
    let change: LabelChange = call.json()?;
    check_ids(&change.ids)?;
    let mailbox = call.mailbox(world)?;
    change.check(mailbox)?;
    for id in &change.ids {
        mailbox.change_labels(id, &change.add_label_ids, &change.remove_label_ids, call.now_ms);
    }
    Ok(Reply::no_content())
}

pub fn batch_delete(call: &Call<'_>, world: &mut World) -> ApiResult {
    let change: LabelChange = call.json()?;
    check_ids(&change.ids)?;
    let mailbox = call.mailbox(world)?;
    for id in &change.ids {
        mailbox.delete(id, call.now_ms);
    }
    Ok(Reply::no_content())
}

/// `messages.trash` (`to_trash` true) and `messages.untrash`.
pub fn trash(call: &Call<'_>, world: &mut World, to_trash: bool) -> ApiResult {
    let mailbox = call.mailbox(world)?;
    let done = if to_trash { mailbox.trash(call.id(), call.now_ms) } else { mailbox.untrash(call.id(), call.now_ms) };
    if !done {
        return Err(ApiError::not_found());
    }
    Ok(Reply::json(labelled(find(mailbox, call.id())?)))
}

pub fn delete(call: &Call<'_>, world: &mut World) -> ApiResult {
    if !call.mailbox(world)?.delete(call.id(), call.now_ms) {
        return Err(ApiError::not_found());
    }
    Ok(Reply::no_content())
}

pub fn attachment(call: &Call<'_>, world: &mut World) -> ApiResult {
    let message_id = call.ids.first().map_or("", String::as_str);
    let mailbox = call.mailbox(world)?;
    let message = find(mailbox, message_id)?;
    let data = payload::attachment(&message.id, &message.raw, call.id()).ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(json!({"size": data.len(), "data": payload::encode(&data)})))
}
