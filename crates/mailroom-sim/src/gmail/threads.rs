//! `users.threads.*`: a thread is the messages sharing a `threadId`.

use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult, Reply};
use super::listing::{self, Filter};
use super::mailbox::{Mailbox, Message};
use super::messages::{self, Format, LabelChange};
use super::methods::Call;
use crate::state::World;

fn history_id(messages: &[&Message]) -> String {
    messages.iter().map(|m| m.history_id).max().unwrap_or_default().to_string()
}

/// The ids of a thread's messages, oldest first; 404 when there is no such thread.
fn message_ids(mailbox: &Mailbox, thread_id: &str) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> = mailbox.thread(thread_id).iter().map(|m| m.id.clone()).collect();
    if ids.is_empty() { Err(ApiError::not_found()) } else { Ok(ids) }
}

/// The thread with its messages as `{id, threadId, labelIds}`, as writes answer.
fn labelled(mailbox: &Mailbox, thread_id: &str) -> Value {
    let messages = mailbox.thread(thread_id);
    json!({"id": thread_id, "historyId": history_id(&messages),
        "messages": messages.iter().map(|m| messages::labelled(m)).collect::<Vec<_>>()})
}

/// A thread is listed when any of its messages passes the filters; threads are ordered by their
/// newest message.
pub fn list(call: &Call<'_>, world: &mut World) -> ApiResult {
    let filter = Filter::from_call(call)?;
    let mailbox = call.mailbox(world)?;
    let items = mailbox
        .threads()
        .into_iter()
        .filter(|(_, messages)| messages.iter().any(|m| filter.matches(mailbox, m, call.now_ms)))
        .filter_map(|(id, messages)| {
            let newest = messages.last()?;
            let item = json!({"id": id, "snippet": newest.summary.snippet(), "historyId": history_id(&messages)});
            Some(((newest.internal_date_ms, id.to_owned()), item))
        })
        .collect();
    let page = listing::page(items, call)?;
    let mut body = json!({"resultSizeEstimate": page.total});
    if !page.items.is_empty() {
        body["threads"] = Value::Array(page.items);
    }
    if let Some(token) = page.next_page_token {
        body["nextPageToken"] = json!(token);
    }
    Ok(Reply::json(body))
}

pub fn get(call: &Call<'_>, world: &mut World) -> ApiResult {
    let format = Format::from_call(call, false)?;
    let headers = call.params.all("metadataHeaders");
    let mailbox = call.mailbox(world)?;
    let messages = mailbox.thread(call.id());
    if messages.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(Reply::json(json!({
        "id": call.id(),
        "historyId": history_id(&messages),
        "messages": messages.iter().map(|m| messages::render(m, format, &headers)).collect::<Vec<_>>(),
    })))
}

pub fn modify(call: &Call<'_>, world: &mut World) -> ApiResult {
    let change: LabelChange = call.json()?;
    let mailbox = call.mailbox(world)?;
    let ids = message_ids(mailbox, call.id())?;
    change.check(mailbox)?;
    for id in ids {
        mailbox.change_labels(&id, &change.add_label_ids, &change.remove_label_ids, call.now_ms);
    }
    Ok(Reply::json(labelled(mailbox, call.id())))
}

/// `threads.trash` (`to_trash` true) and `threads.untrash`: every message of the thread.
pub fn trash(call: &Call<'_>, world: &mut World, to_trash: bool) -> ApiResult {
    let mailbox = call.mailbox(world)?;
    for id in message_ids(mailbox, call.id())? {
        if to_trash {
            mailbox.trash(&id, call.now_ms);
        } else {
            mailbox.untrash(&id, call.now_ms);
        }
    }
    Ok(Reply::json(labelled(mailbox, call.id())))
}

pub fn delete(call: &Call<'_>, world: &mut World) -> ApiResult {
    let mailbox = call.mailbox(world)?;
    for id in message_ids(mailbox, call.id())? {
        mailbox.delete(&id, call.now_ms);
    }
    Ok(Reply::no_content())
}
