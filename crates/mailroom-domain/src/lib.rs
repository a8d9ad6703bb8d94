//! Mailroom's vocabulary: values parsed at the edge into types that cannot hold nonsense, and the
//! pure rules that decide things (login throttling, what kind of place a provider's folder or
//! label is). Nothing here does I/O.

mod account;
mod action;
mod language;
mod mailbox;
mod provider;
pub mod search;
mod tag;
pub mod template;
mod throttle;

pub use account::{DisplayName, EmailAddress, Password, Role, UserId};
pub use action::{ActionError, MailAction, MessageState, SpecialFolders, plan_action};
pub use language::Language;
pub use mailbox::{FolderKind, gmail_is_archived};
pub use provider::{AccountId, AccountStatus, ImportStart, MicrosoftTenant, OAuthClientId, Provider, SyncInterval};
pub use tag::{TAG_NAME_MAX, TagColor, TagName};
pub use template::{Template, TemplateError};
pub use throttle::{LoginPolicy, LoginVerdict, ThrottleRecord};

/// Why a value was refused. The web layer turns each kind into a sentence in the user's language,
/// so the variants carry the numbers a message needs and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("this field is required")]
    Required,
    #[error("must be at least {0} characters")]
    TooShort(usize),
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("not a valid email address")]
    Email,
    #[error("must not contain spaces or control characters")]
    Whitespace,
    #[error("must be a whole number from {min} to {max}")]
    Range { min: u32, max: u32 },
    #[error("must be common, organizations, consumers, a tenant id or a domain")]
    Tenant,
    #[error("not a known choice")]
    Choice,
}
