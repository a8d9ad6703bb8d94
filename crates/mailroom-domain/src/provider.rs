use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Invalid;

/// The mail providers Mailroom connects to through OAuth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Google,
    Microsoft,
}

impl Provider {
    pub const ALL: [Provider; 2] = [Provider::Google, Provider::Microsoft];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Microsoft => "microsoft",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "google" => Some(Provider::Google),
            "microsoft" => Some(Provider::Microsoft),
            _ => None,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth client id as issued by Google Cloud Console or Microsoft Entra: printable, no spaces.
/// Its exact shape differs by provider, so beyond that it is the provider who judges it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClientId(String);

impl OAuthClientId {
    pub const MAX_LEN: usize = 255;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let value = input.trim();
        if value.is_empty() {
            return Err(Invalid::Required);
        }
        if value.len() > Self::MAX_LEN {
            return Err(Invalid::TooLong(Self::MAX_LEN));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Invalid::Whitespace);
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which Microsoft accounts may sign in: the tenant segment of the identity platform's URLs.
/// `common` (work, school and personal accounts), `organizations`, `consumers`, a tenant id (GUID)
/// or a tenant's domain name (e.g. `contoso.onmicrosoft.com`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MicrosoftTenant(String);

impl MicrosoftTenant {
    pub fn common() -> Self {
        Self("common".to_owned())
    }

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let value = input.trim().to_ascii_lowercase();
        if value.is_empty() {
            return Err(Invalid::Required);
        }
        let keyword = matches!(value.as_str(), "common" | "organizations" | "consumers");
        if keyword || is_guid(&value) || is_domain(&value) { Ok(Self(value)) } else { Err(Invalid::Tenant) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups
            .iter()
            .zip(lengths)
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_domain(value: &str) -> bool {
    let labels: Vec<&str> = value.split('.').collect();
    value.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Minutes between automatic syncs of a mailbox: 1 to 1,440 (a day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncInterval(u32);

impl SyncInterval {
    pub const MIN: u32 = 1;
    pub const MAX: u32 = 1440;
    pub const DEFAULT: SyncInterval = SyncInterval(5);

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        parse_in_range(input, Self::MIN, Self::MAX).map(Self)
    }

    pub fn from_minutes(minutes: u32) -> Option<Self> {
        (Self::MIN..=Self::MAX).contains(&minutes).then_some(Self(minutes))
    }

    pub fn minutes(self) -> u32 {
        self.0
    }
}

/// Where the initial import of a newly connected mailbox starts, as a number of days back from the
/// day it is connected; 0 means all mail. At most 100 years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportStart(u32);

impl ImportStart {
    pub const MAX_DAYS: u32 = 36_500;
    pub const DEFAULT: ImportStart = ImportStart(30);

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        parse_in_range(input, 0, Self::MAX_DAYS).map(Self)
    }

    pub fn from_days(days: u32) -> Option<Self> {
        (days <= Self::MAX_DAYS).then_some(Self(days))
    }

    /// Days back from today; `None` for all mail.
    pub fn days_back(self) -> Option<u32> {
        (self.0 > 0).then_some(self.0)
    }

    pub fn as_days(self) -> u32 {
        self.0
    }
}

fn parse_in_range(input: &str, min: u32, max: u32) -> Result<u32, Invalid> {
    let value = input.trim();
    if value.is_empty() {
        return Err(Invalid::Required);
    }
    value.parse::<u32>().ok().filter(|n| (min..=max).contains(n)).ok_or(Invalid::Range { min, max })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_accepts_keywords_ids_and_domains() {
        for good in ["common", "Organizations", "consumers", "contoso.onmicrosoft.com"] {
            assert!(MicrosoftTenant::parse(good).is_ok(), "{good}");
        }
        let id = MicrosoftTenant::parse("72F988BF-86F1-41AF-91AB-2D7CD011DB47").unwrap();
        assert_eq!(id.as_str(), "72f988bf-86f1-41af-91ab-2d7cd011db47");
    }

    #[test]
    fn tenant_refuses_paths_and_junk() {
        for bad in ["common/../x", "x", "72f988bf-86f1-41af-91ab", "a b.com", "-a.com", "a..com"] {
            assert_eq!(MicrosoftTenant::parse(bad), Err(Invalid::Tenant), "{bad}");
        }
        assert_eq!(MicrosoftTenant::parse(""), Err(Invalid::Required));
    }

    #[test]
    fn client_id_refuses_whitespace_inside() {
        assert_eq!(OAuthClientId::parse("abc def"), Err(Invalid::Whitespace));
        assert_eq!(
            OAuthClientId::parse("  abc.apps.googleusercontent.com ").unwrap().as_str(),
            "abc.apps.googleusercontent.com"
        );
        assert_eq!(OAuthClientId::parse(""), Err(Invalid::Required));
    }

    #[test]
    fn sync_interval_is_at_least_one_minute() {
        assert_eq!(SyncInterval::parse("0"), Err(Invalid::Range { min: 1, max: 1440 }));
        assert_eq!(SyncInterval::parse("five"), Err(Invalid::Range { min: 1, max: 1440 }));
        assert_eq!(SyncInterval::parse(" 15 ").unwrap().minutes(), 15);
        assert_eq!(SyncInterval::DEFAULT.minutes(), 5);
    }

    #[test]
    fn import_start_zero_means_all_mail() {
        assert_eq!(ImportStart::parse("0").unwrap().days_back(), None);
        assert_eq!(ImportStart::DEFAULT.days_back(), Some(30));
        assert!(ImportStart::parse("-1").is_err());
        assert!(ImportStart::parse("36501").is_err());
    }
}

/// A connected mailbox's id in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountId(pub i64);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a connected mailbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Tokens work; sync runs on schedule.
    Active,
    /// A sync is running now.
    Syncing,
    /// The provider refused the grant for good: sync is paused until the user connects again.
    ReauthorizationRequired,
    /// Switched off by the user or an administrator.
    Disabled,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Syncing => "syncing",
            AccountStatus::ReauthorizationRequired => "reauthorization_required",
            AccountStatus::Disabled => "disabled",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "active" => Some(AccountStatus::Active),
            "syncing" => Some(AccountStatus::Syncing),
            "reauthorization_required" => Some(AccountStatus::ReauthorizationRequired),
            "disabled" => Some(AccountStatus::Disabled),
            _ => None,
        }
    }
}
