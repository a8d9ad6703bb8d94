//! `users.drafts.*`: a draft is a message with the `DRAFT` label and a draft id that stays put
//! while updates replace its message.

use serde::Deserialize;
use serde_json::{Value, json};

use super::compose::{self, MessageBody};
use super::errors::{ApiError, ApiResult, Reply};
use super::listing::{self, Filter};
use super::mailbox::Message;
use super::messages::{self, Format};
use super::methods::Call;
use crate::state::World;

#[derive(Debug, Default, Deserialize)]
struct DraftBody {
    id: Option<String>,
    message: Option<MessageBody>,
}

fn draft(id: &str, message: &Message) -> Value {
    json!({"id": id, "message": messages::labelled(message)})
}

fn new_content(call: &Call<'_>, body: &DraftBody) -> Result<(Vec<u8>, Option<String>), ApiError> {
    let message = body.message.as_ref().ok_or_else(|| ApiError::invalid_argument("Missing draft message"))?;
    Ok((message.raw(call.upload_limit)?, message.thread_id.clone()))
}

pub fn create(call: &Call<'_>, world: &mut World) -> ApiResult {
    let body: DraftBody = call.json()?;
    let (raw, thread_id) = new_content(call, &body)?;
    let mailbox = call.mailbox(world)?;
    let message_id = mailbox.add(raw, &["DRAFT".to_owned()], call.now_ms, thread_id.as_deref(), call.now_ms);
    let draft_id = mailbox.new_draft(message_id);
    let message = mailbox.draft_message(&draft_id).ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(draft(&draft_id, message)))
}

pub fn get(call: &Call<'_>, world: &mut World) -> ApiResult {
    let format = Format::from_call(call, true)?;
    let mailbox = call.mailbox(world)?;
    let message = mailbox.draft_message(call.id()).ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(json!({"id": call.id(), "message": messages::render(message, format, &[])})))
}

pub fn list(call: &Call<'_>, world: &mut World) -> ApiResult {
    let filter = Filter::from_call(call)?;
    let mailbox = call.mailbox(world)?;
    let items = mailbox
        .drafts()
        .filter_map(|(draft_id, message_id)| {
            let message = mailbox.message(message_id).filter(|m| filter.matches(mailbox, m, call.now_ms))?;
            let item = json!({"id": draft_id, "message": messages::brief(message)});
            Some(((message.internal_date_ms, draft_id.clone()), item))
        })
        .collect();
    let page = listing::page(items, call)?;
    let mut body = json!({"resultSizeEstimate": page.total});
    if !page.items.is_empty() {
        body["drafts"] = Value::Array(page.items);
    }
    if let Some(token) = page.next_page_token {
        body["nextPageToken"] = json!(token);
    }
    Ok(Reply::json(body))
}

pub fn update(call: &Call<'_>, world: &mut World) -> ApiResult {
    let body: DraftBody = call.json()?;
    let (raw, thread_id) = new_content(call, &body)?;
    let mailbox = call.mailbox(world)?;
    mailbox.draft_message(call.id()).ok_or_else(ApiError::not_found)?;
    let message_id = mailbox.add(raw, &["DRAFT".to_owned()], call.now_ms, thread_id.as_deref(), call.now_ms);
    mailbox.replace_draft(call.id(), message_id, call.now_ms);
    let message = mailbox.draft_message(call.id()).ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(draft(call.id(), message)))
}

/// Sends a draft (with new content, when the body brings some): the draft and its message go,
/// and the sent message is a new one, as in Gmail's history.
pub fn send(call: &Call<'_>, world: &mut World) -> ApiResult {
    let body: DraftBody = call.json()?;
    let draft_id = body.id.clone().ok_or_else(|| ApiError::invalid_argument("Missing draft ID"))?;
    let mailbox = call.mailbox(world)?;
    let current = mailbox.draft_message(&draft_id).ok_or_else(ApiError::not_found)?;
    let (raw, thread_id) = match body.message.as_ref().filter(|m| m.raw.is_some()) {
        Some(_) => new_content(call, &body)?,
        None => (current.raw.clone(), Some(current.thread_id.clone())),
    };
    mailbox.delete_draft(&draft_id, call.now_ms);
    let id = compose::send(call, world, raw, thread_id.as_deref())?;
    let message = call.mailbox(world)?.message(&id).ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(messages::labelled(message)))
}

pub fn delete(call: &Call<'_>, world: &mut World) -> ApiResult {
    if !call.mailbox(world)?.delete_draft(call.id(), call.now_ms) {
        return Err(ApiError::not_found());
    }
    Ok(Reply::no_content())
}
