//! `mailroom-sync`: the engine between the store and the providers. It keeps each account's
//! access token fresh ([`AccessTokens`]), paces every provider call ([`Pacing`]) and syncs Gmail
//! ([`sync_gmail`]) and Outlook ([`sync_graph`], with the MIME after it: [`fetch_pending_mime`]),
//! replays the user's actions at the provider before each run ([`push_writebacks`]), and runs every
//! account at its time ([`Scheduler`]); it sends the outbox ([`Outbox`]). It renders no HTML.

mod drafts;
mod engine;
mod gmail;
mod graph;
mod joined;
mod outbox;
mod pacing;
mod scheduler;
mod tokens;
mod writeback;

pub use drafts::{push_drafts, push_drafts_at};
pub use engine::{Engine, Mode, Progress, ProgressState, SyncError, SyncReport, estimate_left};
pub use gmail::sync_gmail;
pub use graph::{PAGE as GRAPH_PAGE, fetch_mime_now, fetch_pending_mime, sync_graph};
pub use outbox::{Outbox, SendOutcome, send};
pub use pacing::{GmailCosts, Limits, Pacing, Wait};
pub use scheduler::{Scheduler, SchedulerConfig, sync_account};
pub use tokens::{AccessTokens, TokenError, oauth_app};
pub use writeback::push_writebacks;
