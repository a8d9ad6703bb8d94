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

/// The primary address, then the verified aliases the mailbox was given.
pub fn send_as_list(call: &Call<'_>, world: &mut World) -> ApiResult {
    let mailbox = call.mailbox(world)?;
    let primary = json!({
        "sendAsEmail": mailbox.email,
        "displayName": mailbox.display_name,
        "replyToAddress": "",
        "signature": "",
        "isPrimary": true,
        "isDefault": true,
        "treatAsAlias": false,
        "verificationStatus": "accepted",
    });
    let aliases = mailbox.aliases.iter().map(|(address, name)| {
        json!({
            "sendAsEmail": address,
            "displayName": name,
            "replyToAddress": "",
            "signature": "",
            "isDefault": false,
            "treatAsAlias": true,
            "verificationStatus": "accepted",
        })
    });
    Ok(Reply::json(json!({"sendAs": std::iter::once(primary).chain(aliases).collect::<Vec<_>>()})))
}
