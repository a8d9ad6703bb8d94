use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Invalid;

/// A user's id in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An email address as a person types it: trimmed and lowercased, so that `Ann@X.test` and
/// `ann@x.test` are the same login. Deliberately modest: one `@`, a local part and a domain with no
/// spaces, at most 254 characters (RFC 5321's path limit).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub const MAX_LEN: usize = 254;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let value = input.trim();
        if value.is_empty() {
            return Err(Invalid::Required);
        }
        if value.len() > Self::MAX_LEN {
            return Err(Invalid::TooLong(Self::MAX_LEN));
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(Invalid::Email);
        };
        let domain_ok = !domain.is_empty()
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        let local_ok = !local.is_empty() && local.chars().all(|c| !c.is_whitespace() && !c.is_control() && c != '@');
        if !domain_ok || !local_ok {
            return Err(Invalid::Email);
        }
        Ok(Self(value.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's name as shown in the UI: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let value = input.trim();
        if value.is_empty() {
            return Err(Invalid::Required);
        }
        if value.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::TooLong(Self::MAX_CHARS));
        }
        if value.chars().any(char::is_control) {
            return Err(Invalid::Whitespace);
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password. Length is the only rule (NIST SP 800-63B): at least 12 characters, and at most
/// 1,000 so that hashing cannot be turned into a denial of service. The value is never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 1000;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let count = input.chars().count();
        if count == 0 {
            return Err(Invalid::Required);
        }
        if count < Self::MIN_CHARS {
            return Err(Invalid::TooShort(Self::MIN_CHARS));
        }
        if count > Self::MAX_CHARS {
            return Err(Invalid::TooLong(Self::MAX_CHARS));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// What a user may do: administrators manage users and the email settings; members use mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        match input {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            _ => Err(Invalid::Choice),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        let email = EmailAddress::parse("  Ann.Lee@Example.TEST ").unwrap();
        assert_eq!(email.as_str(), "ann.lee@example.test");
        assert_eq!(email.domain(), "example.test");
    }

    #[test]
    fn email_without_at_or_parts_is_refused() {
        for bad in ["ann", "@x.test", "ann@", "ann@x..test", "a b@x.test", "ann@x_y.test", "ann@.x"] {
            assert_eq!(EmailAddress::parse(bad), Err(Invalid::Email), "{bad}");
        }
        assert_eq!(EmailAddress::parse("   "), Err(Invalid::Required));
    }

    #[test]
    fn password_needs_twelve_characters_counted_as_characters() {
        assert_eq!(Password::parse("short").err(), Some(Invalid::TooShort(12)));
        assert_eq!(Password::parse("").err(), Some(Invalid::Required));
        // Twelve two-byte characters are twelve characters, not twenty-four.
        assert!(Password::parse("ěščřžýáíéúůň").is_ok());
        assert!(Password::parse("ěščřžýáíéúů").is_err());
    }

    #[test]
    fn password_debug_hides_the_value() {
        let password = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn display_name_refuses_empty_and_control_characters() {
        assert_eq!(DisplayName::parse("  "), Err(Invalid::Required));
        assert_eq!(DisplayName::parse("a\u{7}b"), Err(Invalid::Whitespace));
        assert_eq!(DisplayName::parse(" Ann Lee ").unwrap().as_str(), "Ann Lee");
    }

    proptest! {
        #[test]
        fn parsed_email_parses_again_to_itself(local in "[a-zA-Z0-9._+-]{1,20}", domain in "[a-zA-Z0-9-]{1,20}\\.[a-z]{2,6}") {
            let email = EmailAddress::parse(&format!("{local}@{domain}")).unwrap();
            prop_assert_eq!(EmailAddress::parse(email.as_str()).unwrap(), email.clone());
            prop_assert_eq!(email.as_str(), email.as_str().to_lowercase());
        }

        #[test]
        fn email_parse_never_panics(input in "\\PC{0,80}") {
            let _ = EmailAddress::parse(&input);
        }
    }
}
