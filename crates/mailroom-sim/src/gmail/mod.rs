//! The Gmail API v1 emulator: the mailbox model and the REST methods under `/google/gmail/v1/`,
//! plus the batch endpoint.

mod mailbox;

use axum::Router;

pub use mailbox::Mailbox;

use crate::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
}

/// Control operations on Gmail mailboxes, mounted under `/_sim/gmail/{email}`.
pub fn control_router() -> Router<SimState> {
    Router::new()
}
