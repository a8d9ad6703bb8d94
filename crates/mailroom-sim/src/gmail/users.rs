//! `users.getProfile` and `users.settings.sendAs.list`.

use serde_json::json;

use super::errors::{ApiResult, Reply};
use super::methods::Call;
use crate::state::World;

pub fn get_profile(call: &Call<'_>, world: &mut World) -> ApiResult {
    let mailbox = call.mailbox(world)?;
    Ok(Reply::json(json!({
        "emailAddress": mailbox.email,
        "messagesTotal": mailbox.message_count(),
        "threadsTotal": mailbox.threads().len(),
        "historyId": mailbox.history_id().to_string(),
    })))
}

/// Only the primary address: the simulator has no aliases.
pub fn send_as_list(call: &Call<'_>, world: &mut World) -> ApiResult {
    let mailbox = call.mailbox(world)?;
    Ok(Reply::json(json!({"sendAs": [{
        "sendAsEmail": mailbox.email,
        "displayName": mailbox.display_name,
        "replyToAddress": "",
        "signature": "",
        "isPrimary": true,
        "isDefault": true,
        "treatAsAlias": false,
        "verificationStatus": "accepted",
    }]})))
}
