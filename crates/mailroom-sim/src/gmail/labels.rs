//! `users.labels.*`. System labels are fixed; user labels get ids `Label_1`, `Label_2`, ….

use serde::Deserialize;
use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult, Reply};
use super::mailbox::{Label, LabelColor, LabelError};
use super::methods::Call;
use crate::state::World;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LabelBody {
    name: Option<String>,
    message_list_visibility: Option<String>,
    label_list_visibility: Option<String>,
    color: Option<ColorBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ColorBody {
    text_color: Option<String>,
    background_color: Option<String>,
}

/// A label as `labels.list` shows it.
fn item(label: &Label) -> Value {
    let mut value = json!({
        "id": label.id,
        "name": label.name,
        "type": if label.system { "system" } else { "user" },
        "messageListVisibility": label.message_list_visibility,
        "labelListVisibility": label.label_list_visibility,
    });
    if let Some(color) = &label.color {
        value["color"] = json!({"textColor": color.text_color, "backgroundColor": color.background_color});
    }
    value
}

pub fn list(call: &Call<'_>, world: &mut World) -> ApiResult {
    let mailbox = call.mailbox(world)?;
    Ok(Reply::json(json!({"labels": mailbox.labels().iter().map(item).collect::<Vec<_>>()})))
}

pub fn get(call: &Call<'_>, world: &mut World) -> ApiResult {
    let mailbox = call.mailbox(world)?;
    let label = mailbox.label(call.id()).ok_or_else(ApiError::not_found)?;
    let (messages_total, messages_unread, threads_total, threads_unread) = mailbox.label_counts(&label.id);
    let mut value = item(label);
    value["messagesTotal"] = json!(messages_total);
    value["messagesUnread"] = json!(messages_unread);
    value["threadsTotal"] = json!(threads_total);
    value["threadsUnread"] = json!(threads_unread);
    Ok(Reply::json(value))
}

/// `body` laid over `base`, with the enum fields checked.
fn merged(base: Label, body: LabelBody) -> Result<Label, ApiError> {
    let label = Label {
        name: body.name.map(|n| n.trim().to_owned()).unwrap_or(base.name),
        message_list_visibility: body.message_list_visibility.unwrap_or(base.message_list_visibility),
        label_list_visibility: body.label_list_visibility.unwrap_or(base.label_list_visibility),
        color: match body.color {
            Some(color) => Some(LabelColor {
                text_color: color.text_color.unwrap_or_default(),
                background_color: color.background_color.unwrap_or_default(),
            }),
            None => base.color,
        },
        ..base
    };
    if label.name.is_empty() {
        return Err(ApiError::invalid_argument("Invalid label name"));
    }
    if !["show", "hide"].contains(&label.message_list_visibility.as_str()) {
        return Err(ApiError::invalid_argument("Invalid messageListVisibility"));
    }
    if !["labelShow", "labelShowIfUnread", "labelHide"].contains(&label.label_list_visibility.as_str()) {
        return Err(ApiError::invalid_argument("Invalid labelListVisibility"));
    }
    Ok(label)
}

fn label_error(error: LabelError) -> ApiError {
    match error {
        LabelError::NameTaken => ApiError::conflict("Label name exists or conflicts"),
        LabelError::NotFound => ApiError::not_found(),
    }
}

pub fn create(call: &Call<'_>, world: &mut World) -> ApiResult {
    let body: LabelBody = call.json()?;
    if body.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ApiError::invalid_argument("Invalid label name"));
    }
    let base = Label {
        id: String::new(),
        name: String::new(),
        system: false,
        message_list_visibility: "show".to_owned(),
        label_list_visibility: "labelShow".to_owned(),
        color: None,
    };
    let label = merged(base, body)?;
    let mailbox = call.mailbox(world)?;
    let created = mailbox.create_label(label).map_err(label_error)?;
    Ok(Reply::json(item(&created)))
}

/// `labels.update` (PUT: `name` required) and `labels.patch` (only the fields given change).
pub fn update(call: &Call<'_>, world: &mut World, patch: bool) -> ApiResult {
    let body: LabelBody = call.json()?;
    let mailbox = call.mailbox(world)?;
    let current = mailbox.label(call.id()).ok_or_else(ApiError::not_found)?.clone();
    if current.system {
        return Err(ApiError::invalid_argument(format!("Invalid update request: {} is a system label", current.id)));
    }
    if !patch && body.name.is_none() {
        return Err(ApiError::invalid_argument("Invalid label name"));
    }
    let label = merged(current, body)?;
    let updated = mailbox.update_label(label).map_err(label_error)?;
    Ok(Reply::json(item(&updated)))
}

pub fn delete(call: &Call<'_>, world: &mut World) -> ApiResult {
    let mailbox = call.mailbox(world)?;
    let label = mailbox.label(call.id()).ok_or_else(ApiError::not_found)?;
    if label.system {
        return Err(ApiError::invalid_argument(format!("Invalid delete request: {} is a system label", label.id)));
    }
    mailbox.delete_label(call.id(), call.now_ms);
    Ok(Reply::no_content())
}
