//! `mailroom-providers`: the OAuth 2.0 clients and the first provider API calls Mailroom needs to
//! connect a Gmail or Outlook mailbox. Google OAuth 2.0 + Gmail API v1, Microsoft identity
//! platform v2.0 + Microsoft Graph v1.0.
//!
//! The crate speaks HTTP and nothing else: it never touches a database. Callers keep the tokens
//! it returns, encrypted, and pass them back in.
//!
//! Errors are sorted by what the caller should do next:
//! [`OAuthError::ReauthorizationRequired`] (connect the mailbox again),
//! [`OAuthError::Transient`] (retry later), [`ApiError::Unauthorized`] (refresh once, retry), and
//! so on. No error's `Display` or `Debug` holds a token, code, verifier or client secret.
//!
//! # Why the token requests are written by hand
//!
//! The `oauth2` crate (5.0) was the stack's recommendation, but its `RequestTokenError` drops the
//! HTTP status and headers of a failed token request (`check_response_status` keeps only the
//! parsed body). Telling a 503 or 429 (retry, honouring `Retry-After`) from a 400 (give up) then
//! needs an HTTP client wrapper that smuggles the status out beside the crate. The two token
//! requests are plain form POSTs, so they are written here with reqwest, which also keeps
//! Microsoft's `error_codes` without a custom `ErrorResponse` type and spares the build the older
//! `rand` 0.8 and `sha2` 0.10 the crate pulls in. PKCE is 20 lines of `sha2` + `base64`.

mod actions;
mod api;
mod drafts;
mod gmail;
mod graph;
mod oauth;
mod send;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
pub use mailroom_config::{GoogleEndpoints, MicrosoftEndpoints};
use mailroom_domain::{MicrosoftTenant, Provider};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::Url;

/// The counter of provider answers that tell of trouble on the provider's side: refusals for rate
/// (429) and server errors (5xx), labelled by provider and `status` (`429` or `5xx`).
pub const ERROR_RESPONSES: &str = "mailroom_provider_error_responses_total";

/// Counts an answer of `provider` in [`ERROR_RESPONSES`] when it is a 429 or a 5xx. Called where
/// each answer's status is first read, a Gmail batch's parts included, since Google refuses the
/// calls of a batch one by one. Other statuses are the caller's business (a 404 is often expected).
pub(crate) fn count_response(provider: Provider, status: u16) {
    let class = match status {
        429 => "429",
        500..=599 => "5xx",
        _ => return,
    };
    metrics::counter!(ERROR_RESPONSES, "provider" => provider.as_str(), "status" => class).increment(1);
}

pub use api::{ApiError, GRAPH_CURSOR_CODES, Identity, MailboxProfile};
pub use drafts::{GraphDraftFields, RemoteDraft};
pub use gmail::{GmailHistoryPage, GmailHistoryRecord, GmailLabel, GmailPage, GmailRawMessage};
pub use graph::{
    GRAPH_WELL_KNOWN_FOLDERS, GraphAddress, GraphBody, GraphChange, GraphDeltaPage, GraphFolder, GraphFolderPage,
    GraphMessageMeta,
};
pub use oauth::{OAuthError, TokenSet};
pub use send::{
    GMAIL_SEND_LIMIT, GRAPH_MESSAGE_LIMIT, GRAPH_SEND_LIMIT, GRAPH_UPLOAD_CHUNK, GRAPH_UPLOAD_MIN, MediaUpload,
};

/// Where the providers live: their real addresses, or a simulator's.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub google: GoogleEndpoints,
    pub microsoft: MicrosoftEndpoints,
}

impl From<&mailroom_config::Config> for Endpoints {
    fn from(config: &mailroom_config::Config) -> Self {
        Endpoints { google: config.google.clone(), microsoft: config.microsoft.clone() }
    }
}

/// An OAuth app as the administrator registered it.
#[derive(Clone)]
pub struct OAuthApp {
    pub provider: Provider,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Used for Microsoft only.
    pub tenant: MicrosoftTenant,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("tenant", &self.tenant)
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The scopes Mailroom asks for: sign-in, reading and changing mail, sending, and (Gmail) the
/// send-as settings that list a mailbox's addresses. Gmail's full-access scope, not
/// `gmail.modify`, because only it may delete a message for good (`messages.delete`); both are
/// restricted scopes, so it costs an administrator no further review.
pub fn default_scopes(provider: Provider) -> Vec<String> {
    let scopes: &[&str] = match provider {
        Provider::Google => &[
            "openid",
            "email",
            "profile",
            "https://mail.google.com/",
            "https://www.googleapis.com/auth/gmail.settings.basic",
        ],
        Provider::Microsoft => {
            &["openid", "profile", "email", "offline_access", "User.Read", "Mail.ReadWrite", "Mail.Send"]
        }
    };
    scopes.iter().map(|s| (*s).to_owned()).collect()
}

/// A PKCE pair (RFC 7636, method S256): the verifier stays with Mailroom until the code exchange,
/// the challenge goes into the authorization URL.
pub struct Pkce {
    pub verifier: SecretString,
    pub challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce").field("verifier", &"[redacted]").field("challenge", &self.challenge).finish()
    }
}

impl Pkce {
    /// A fresh verifier of 32 random bytes (43 base64url characters) and its S256 challenge.
    pub fn generate() -> Pkce {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system's random generator is unavailable");
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = Pkce::challenge_for(&verifier);
        Pkce { verifier: SecretString::from(verifier), challenge }
    }

    /// The S256 challenge of a verifier: base64url(SHA-256(verifier)), unpadded.
    pub fn challenge_for(verifier: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    }

    /// Whether `challenge` is the S256 challenge of `verifier`.
    pub fn matches(verifier: &SecretString, challenge: &str) -> bool {
        Pkce::challenge_for(verifier.expose_secret()) == challenge
    }
}

/// The URL to send the browser to.
///
/// Google: `response_type=code`, `access_type=offline` and `prompt=consent` (so a refresh token
/// comes back even when the user consented before), `include_granted_scopes=true`, `state`, the
/// S256 PKCE challenge and `login_hint` when given. Microsoft: the app's tenant in the path,
/// `response_type=code`, `response_mode=query`, `state`, PKCE and `login_hint`.
pub fn authorization_url(
    app: &OAuthApp,
    endpoints: &Endpoints,
    state: &str,
    pkce_challenge: &str,
    login_hint: Option<&str>,
) -> Url {
    let mut url = match app.provider {
        Provider::Google => endpoints.google.auth_url.clone(),
        // The template was checked as a URL with `common`, and a MicrosoftTenant is a keyword,
        // GUID or domain name, so the result is a URL too.
        Provider::Microsoft => Url::parse(&endpoints.microsoft.auth_url_for(app.tenant.as_str()))
            .expect("the checked template with a valid tenant is a URL"),
    };
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", &app.client_id)
            .append_pair("redirect_uri", &app.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", &app.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("code_challenge", pkce_challenge)
            .append_pair("code_challenge_method", "S256");
        match app.provider {
            Provider::Google => {
                query
                    .append_pair("access_type", "offline")
                    .append_pair("prompt", "consent")
                    .append_pair("include_granted_scopes", "true");
            }
            Provider::Microsoft => {
                query.append_pair("response_mode", "query");
            }
        }
        if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
            query.append_pair("login_hint", hint);
        }
    }
    url
}

/// The HTTP client and the endpoints: everything Mailroom says to Google and Microsoft goes
/// through here. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Providers {
    http: reqwest::Client,
    endpoints: Endpoints,
}

impl Providers {
    /// A client that follows no redirects (a token or API endpoint has no business sending us
    /// elsewhere, and following would carry credentials along), with a 10 s connect and 30 s
    /// request timeout and the user agent `mailroom/<version>`.
    pub fn new(endpoints: Endpoints) -> Providers {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("mailroom/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the TLS backend initialises");
        Providers { http, endpoints }
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }
}

/// `Retry-After` as seconds or an HTTP date, relative to now.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.timestamp() - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(u64::try_from(wait).unwrap_or(0)))
}

/// A transport failure in words, without the URL (reqwest puts it in its messages) and so
/// without anything a query string might carry.
pub(crate) fn describe_transport_error(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the connection broke while reading the answer"
    } else {
        "the request failed"
    };
    let mut reason = kind.to_owned();
    let error = error.without_url();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_challenge_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(Pkce::challenge_for(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn generated_verifiers_are_43_characters_and_differ() {
        let a = Pkce::generate();
        let b = Pkce::generate();
        assert_eq!(a.verifier.expose_secret().len(), 43);
        assert_ne!(a.verifier.expose_secret(), b.verifier.expose_secret());
        assert!(Pkce::matches(&a.verifier, &a.challenge));
        assert!(!format!("{a:?}").contains(a.verifier.expose_secret()));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().expect("a header value"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(reqwest::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("a header"));
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().expect("a header value"));
        assert_eq!(retry_after(&headers), None);
    }
}

#[cfg(test)]
mod scope_defaults {
    use super::*;

    #[test]
    fn the_configured_default_scopes_are_the_documented_ones() {
        let config = mailroom_config::Config::load(None, &std::collections::HashMap::new()).expect("defaults load");
        assert_eq!(config.google.scopes, default_scopes(Provider::Google));
        assert_eq!(config.microsoft.scopes, default_scopes(Provider::Microsoft));
    }
}
