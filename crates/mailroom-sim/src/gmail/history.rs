//! `users.history.list`: the mailbox's changes after `startHistoryId`, oldest first, one record
//! per change. Records older than the retention window are dropped; a start that needs them
//! gets 404, which tells the client to sync in full.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult, Reply};
use super::mailbox::{Change, HistoryRecord};
use super::methods::Call;
use crate::state::World;

/// The `historyTypes` a record is of.
fn kind(change: &Change) -> &'static str {
    match change {
        Change::Added => "messageAdded",
        Change::Deleted => "messageDeleted",
        Change::LabelsAdded(_) => "labelAdded",
        Change::LabelsRemoved(_) => "labelRemoved",
    }
}

/// The labels a record adds or removes.
fn changed_labels(change: &Change) -> Vec<&str> {
    match change {
        Change::LabelsAdded(ids) | Change::LabelsRemoved(ids) => ids.iter().map(String::as_str).collect(),
        Change::Added | Change::Deleted => Vec::new(),
    }
}

fn render(record: &HistoryRecord) -> Value {
    let brief = json!({"id": record.message_id, "threadId": record.thread_id});
    let mut with_labels = brief.clone();
    if !record.labels.is_empty() {
        with_labels["labelIds"] = json!(record.labels);
    }
    let mut value = json!({"id": record.id.to_string(), "messages": [brief]});
    match &record.change {
        Change::Added => value["messagesAdded"] = json!([{"message": with_labels}]),
        Change::Deleted => value["messagesDeleted"] = json!([{"message": brief}]),
        Change::LabelsAdded(ids) => value["labelsAdded"] = json!([{"message": with_labels, "labelIds": ids}]),
        Change::LabelsRemoved(ids) => value["labelsRemoved"] = json!([{"message": with_labels, "labelIds": ids}]),
    }
    value
}

/// The types asked for, in the document's spelling or the enum's (`MESSAGE_ADDED`).
fn history_types(call: &Call<'_>) -> Result<Vec<&'static str>, ApiError> {
    call.params
        .all("historyTypes")
        .iter()
        .map(|t| {
            let folded = t.replace('_', "").to_ascii_lowercase();
            ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"]
                .into_iter()
                .find(|k| k.to_ascii_lowercase() == folded)
                .ok_or_else(|| ApiError::invalid_argument(format!("Invalid value at 'history_types', \"{t}\"")))
        })
        .collect()
}

pub fn list(call: &Call<'_>, world: &mut World) -> ApiResult {
    let start = call
        .params
        .get("startHistoryId")
        .ok_or_else(|| ApiError::invalid_argument("Required parameter: startHistoryId"))?;
    let start: u64 = start.parse().map_err(|_| {
        ApiError::invalid_argument(format!("Invalid value at 'start_history_id' (TYPE_UINT64), \"{start}\""))
    })?;
    let types = history_types(call)?;
    let label = call.params.get("labelId");
    let max = call.params.max_results()?;
    let after = match call.params.get("pageToken").filter(|t| !t.is_empty()) {
        None => start,
        Some(token) => URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|after| *after >= start)
            .ok_or_else(|| ApiError::invalid_argument("Invalid pageToken"))?,
    };
    let retention = i64::try_from(call.state.config().gmail_history_retention.as_millis()).unwrap_or(i64::MAX);
    let mailbox = call.mailbox(world)?;
    mailbox.prune_history(call.now_ms, retention);
    if mailbox.history_since(start).is_err() {
        return Err(ApiError::not_found());
    }
    let mut records = mailbox.history_since(after).map_err(|_| ApiError::not_found())?.filter(|r| {
        (types.is_empty() || types.contains(&kind(&r.change)))
            && label.is_none_or(|l| r.labels.iter().any(|x| x == l) || changed_labels(&r.change).contains(&l))
    });
    let page: Vec<&HistoryRecord> = records.by_ref().take(max).collect();
    let more = records.next().is_some();
    let mut body = json!({"historyId": mailbox.history_id().to_string()});
    if let Some(last) = page.last().filter(|_| more) {
        body["nextPageToken"] = json!(URL_SAFE_NO_PAD.encode(last.id.to_string()));
    }
    if !page.is_empty() {
        body["history"] = Value::Array(page.into_iter().map(render).collect());
    }
    Ok(Reply::json(body))
}
