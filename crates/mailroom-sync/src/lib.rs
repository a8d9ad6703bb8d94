//! `mailroom-sync`: the engine between the store and the providers. For now it keeps each
//! account's access token fresh ([`AccessTokens`]); the scheduler, sync runs and write-back jobs
//! join it as they are built. It renders no HTML.

mod gmail;
mod tokens;

pub use gmail::{SyncError, SyncReport, sync_gmail};
pub use tokens::{AccessTokens, TokenError, oauth_app};
