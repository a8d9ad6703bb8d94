//! The Microsoft Graph v1.0 mail emulator: the mailbox model and the REST resources under
//! `/microsoft/v1.0/`, plus `$batch`.

mod mailbox;

use axum::Router;

pub use mailbox::Mailbox;

use crate::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
}

/// Control operations on Graph mailboxes, mounted under `/_sim/graph/{email}`.
pub fn control_router() -> Router<SimState> {
    Router::new()
}
