//! Gmail API and Microsoft Graph calls: for now, who the mailbox belongs to and which addresses
//! it sends as. Errors are read from Gmail's `{"error":{"code","message","errors":[{"reason"}]}}`
//! and Graph's `{"error":{"code","message"}}` bodies.

use std::time::Duration;

use mailroom_domain::Provider;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::{Providers, describe_transport_error, retry_after};

/// Who a connected mailbox belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxProfile {
    /// The provider's stable id of the account: Google's OpenID `sub`, Microsoft's user `id`.
    /// Addresses can change; this does not.
    pub remote_id: String,
    /// The mailbox's primary address.
    pub address: String,
    pub display_name: Option<String>,
    /// The addresses mail can be sent as; exactly one is the default when the list is not empty.
    pub identities: Vec<Identity>,
}

/// An address a mailbox can send as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub address: String,
    pub name: Option<String>,
    pub is_default: bool,
}

/// A failed Gmail or Graph call, sorted by what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: the access token expired or was revoked. Refresh it once and retry; if the refresh
    /// fails with [`crate::OAuthError::ReauthorizationRequired`], the user must connect again.
    #[error("the provider refused the access token")]
    Unauthorized,
    /// 403 for a reason other than a rate limit: a missing scope, a policy, a disabled API.
    #[error("the provider refused access: {message}")]
    Forbidden { message: String },
    #[error("the provider has no such item")]
    NotFound,
    /// A Graph delta link (or sync token) expired or is no longer valid: a 410, or any 4xx whose
    /// code says so (`syncStateNotFound`, `resyncRequired`, …; see [`GRAPH_CURSOR_CODES`]). Drop
    /// it and sync the folder again from scratch.
    #[error("the provider no longer knows the sync cursor; a full resync is needed")]
    CursorExpired,
    /// 429, or 403 with a Gmail rate-limit reason: wait (at least `retry_after` when given).
    #[error("the provider is rate limiting requests{}", retry_suffix(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, timeouts, broken connections: retry after `retry_after` when the answer gave one (a
    /// 503 may), with backoff otherwise.
    #[error("the provider is unavailable for now: {reason}")]
    Transient { reason: String, retry_after: Option<Duration> },
    /// Anything else: retrying will not help.
    #[error("the provider answered http {status}: {message}")]
    Permanent { status: u16, message: String },
}

fn retry_suffix(wait: &Option<Duration>) -> String {
    wait.map_or_else(String::new, |d| format!(" (retry after {} s)", d.as_secs()))
}

/// Gmail's reasons (B7) for a 403 that is a rate limit rather than a refusal.
const GMAIL_RATE_REASONS: &[&str] =
    &["rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded", "quotaExceeded", "RATE_LIMIT_EXCEEDED"];
/// Graph codes for a 403 that is a limit rather than a refusal.
const GRAPH_RATE_CODES: &[&str] = &["activityLimitReached", "ApplicationThrottled", "quotaLimitReached"];

/// Graph codes that say a delta link is no longer usable. The delta query overview (token
/// duration) documents "a 40X-series error with error codes such as syncStateNotFound", not one
/// status: Exchange answers 410 for mail, directory resources 400, so the code decides.
/// `syncStateInvalid` is the code of a token Graph cannot read.
pub const GRAPH_CURSOR_CODES: &[&str] = &["syncStateNotFound", "resyncRequired", "syncStateInvalid"];

#[derive(Debug, Default, Deserialize)]
struct ErrorEnvelope {
    error: Option<ErrorDetail>,
}

/// The union of Gmail's and Graph's error objects; each fills what it has.
#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    /// Gmail: the HTTP status as a number; Graph: a string code.
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    errors: Vec<GmailErrorItem>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct GmailErrorItem {
    #[serde(default)]
    reason: Option<String>,
}

/// Sorts a failed API answer.
pub(crate) fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> ApiError {
    let detail = serde_json::from_slice::<ErrorEnvelope>(body).ok().and_then(|e| e.error).unwrap_or_default();
    let mut reasons: Vec<&str> = detail.errors.iter().filter_map(|e| e.reason.as_deref()).collect();
    if let Some(serde_json::Value::String(code)) = &detail.code {
        reasons.push(code);
    }
    if let Some(status) = &detail.status {
        reasons.push(status);
    }
    let message = detail.message.as_deref().map(str::trim).filter(|m| !m.is_empty()).map_or_else(
        || reasons.first().map_or_else(|| format!("http {status}"), |r| (*r).to_owned()),
        |m| m.trim_end_matches('.').to_owned(),
    );
    let rate_limited = reasons.iter().any(|r| GMAIL_RATE_REASONS.contains(r) || GRAPH_RATE_CODES.contains(r));
    let cursor_gone = reasons.iter().any(|r| GRAPH_CURSOR_CODES.iter().any(|c| c.eq_ignore_ascii_case(r)));
    match status {
        400..=499 if cursor_gone => ApiError::CursorExpired,
        401 => ApiError::Unauthorized,
        429 => ApiError::RateLimited { retry_after },
        403 if rate_limited => ApiError::RateLimited { retry_after },
        403 => ApiError::Forbidden { message },
        404 => ApiError::NotFound,
        410 => ApiError::CursorExpired,
        408 | 500..=599 => ApiError::Transient { reason: format!("http {status}: {message}"), retry_after },
        _ => ApiError::Permanent { status, message },
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GmailProfile {
    email_address: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendAsList {
    #[serde(default)]
    send_as: Vec<SendAs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendAs {
    send_as_email: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    is_primary: bool,
    #[serde(default)]
    is_default: bool,
    #[serde(default)]
    verification_status: Option<String>,
}

#[derive(Deserialize)]
struct UserInfo {
    sub: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphUser {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    mail: Option<String>,
    #[serde(default)]
    user_principal_name: Option<String>,
    #[serde(default)]
    proxy_addresses: Vec<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl Providers {
    /// Who the mailbox belongs to and the addresses it sends as.
    ///
    /// Google: `users.getProfile` (the address), `users.settings.sendAs.list` (the addresses
    /// whose `verificationStatus` is `accepted`, and the primary one) and OpenID userinfo (the
    /// stable `sub` and the name). Microsoft: `GET /me` with `proxyAddresses`; the addresses are
    /// `mail` and every `smtp:` proxy address, `SMTP:` (upper case) marking the primary one.
    pub async fn mailbox_profile(
        &self,
        provider: Provider,
        access_token: &SecretString,
    ) -> Result<MailboxProfile, ApiError> {
        match provider {
            Provider::Google => self.google_profile(access_token).await,
            Provider::Microsoft => self.microsoft_profile(access_token).await,
        }
    }

    async fn google_profile(&self, token: &SecretString) -> Result<MailboxProfile, ApiError> {
        let api = &self.endpoints.google.api_url;
        let profile_url = join(api, "gmail/v1/users/me/profile")?;
        let send_as_url = join(api, "gmail/v1/users/me/settings/sendAs")?;
        let (profile, send_as, user) = tokio::try_join!(
            self.get_json::<GmailProfile>(profile_url, token),
            self.get_json::<SendAsList>(send_as_url, token),
            self.get_json::<UserInfo>(self.endpoints.google.userinfo_url.clone(), token),
        )?;
        let address = profile.email_address;
        let primary_name = send_as
            .send_as
            .iter()
            .find(|s| s.is_primary || s.send_as_email.eq_ignore_ascii_case(&address))
            .and_then(|s| non_empty(s.display_name.clone()));
        let display_name = non_empty(user.name).or(primary_name);
        let mut identities: Vec<Identity> = send_as
            .send_as
            .into_iter()
            .filter(|s| s.is_primary || s.verification_status.as_deref() == Some("accepted"))
            .map(|s| Identity {
                address: s.send_as_email,
                name: non_empty(s.display_name).or_else(|| display_name.clone()),
                is_default: s.is_default,
            })
            .collect();
        if !identities.iter().any(|i| i.address.eq_ignore_ascii_case(&address)) {
            identities.insert(0, Identity { address: address.clone(), name: display_name.clone(), is_default: false });
        }
        ensure_one_default(&mut identities, &address);
        Ok(MailboxProfile { remote_id: user.sub, address, display_name, identities })
    }

    async fn microsoft_profile(&self, token: &SecretString) -> Result<MailboxProfile, ApiError> {
        let mut url = join(&self.endpoints.microsoft.api_url, "me")?;
        url.set_query(Some("$select=id,displayName,mail,userPrincipalName,proxyAddresses"));
        let user: GraphUser = self.graph_json(url, token, None).await?;
        let mail = non_empty(user.mail);
        let address = mail.clone().or_else(|| non_empty(user.user_principal_name)).ok_or_else(|| {
            ApiError::Permanent { status: 200, message: "the user has neither mail nor userPrincipalName".to_owned() }
        })?;
        let display_name = non_empty(user.display_name);
        let mut identities: Vec<Identity> = Vec::new();
        for proxy in &user.proxy_addresses {
            let Some((scheme, proxy_address)) = proxy.split_once(':') else { continue };
            if !scheme.eq_ignore_ascii_case("smtp") || proxy_address.trim().is_empty() {
                continue;
            }
            let proxy_address = proxy_address.trim();
            if identities.iter().any(|i| i.address.eq_ignore_ascii_case(proxy_address)) {
                continue;
            }
            identities.push(Identity {
                address: proxy_address.to_owned(),
                name: display_name.clone(),
                is_default: scheme == "SMTP",
            });
        }
        if let Some(mail) = &mail
            && !identities.iter().any(|i| i.address.eq_ignore_ascii_case(mail))
        {
            identities.insert(0, Identity { address: mail.clone(), name: display_name.clone(), is_default: false });
        }
        ensure_one_default(&mut identities, &address);
        // The default first, the rest in the provider's order.
        identities.sort_by_key(|i| !i.is_default);
        Ok(MailboxProfile { remote_id: user.id, address, display_name, identities })
    }

    /// A GET of a Google API (Gmail, userinfo) answering JSON; Graph's go through `graph_get`.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, url: Url, token: &SecretString) -> Result<T, ApiError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| ApiError::Transient { reason: describe_transport_error(e), retry_after: None })?;
        let status = response.status();
        crate::count_response(Provider::Google, status.as_u16());
        let wait = retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| ApiError::Transient { reason: describe_transport_error(e), retry_after: None })?;
        if !status.is_success() {
            let error = classify(status.as_u16(), wait, &body);
            tracing::debug!(status = status.as_u16(), %error, "api call failed");
            return Err(error);
        }
        serde_json::from_slice(&body).map_err(|e| ApiError::Permanent {
            status: status.as_u16(),
            message: format!("the answer does not have the expected shape: {e}"),
        })
    }
}

pub(crate) fn join(base: &Url, path: &str) -> Result<Url, ApiError> {
    base.join(path).map_err(|e| ApiError::Permanent { status: 0, message: format!("bad api url: {e}") })
}

/// Exactly one default: the provider's if it named one, else the primary address.
fn ensure_one_default(identities: &mut [Identity], primary: &str) {
    let mut seen = false;
    for identity in identities.iter_mut() {
        if identity.is_default {
            identity.is_default = !seen;
            seen = true;
        }
    }
    if !seen {
        let index = identities.iter().position(|i| i.address.eq_ignore_ascii_case(primary)).unwrap_or(0);
        if let Some(identity) = identities.get_mut(index) {
            identity.is_default = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_rate_limit_reasons_on_403_are_rate_limits() {
        let body = br#"{"error":{"errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded","message":"User Rate Limit Exceeded"}],"code":403,"message":"User Rate Limit Exceeded"}}"#;
        assert!(matches!(classify(403, None, body), ApiError::RateLimited { retry_after: None }));
        let body = br#"{"error":{"errors":[{"domain":"global","reason":"insufficientPermissions"}],"code":403,"message":"Request had insufficient authentication scopes."}}"#;
        let error = classify(403, None, body);
        assert!(
            matches!(&error, ApiError::Forbidden { message } if message == "Request had insufficient authentication scopes")
        );
    }

    #[test]
    fn graph_errors_are_sorted_by_status_and_code() {
        let body = br#"{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}"#;
        let wait = Some(Duration::from_secs(2));
        assert!(matches!(classify(429, wait, body), ApiError::RateLimited { retry_after: Some(_) }));
        let body = br#"{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired."}}"#;
        assert!(matches!(classify(401, None, body), ApiError::Unauthorized));
        let body =
            br#"{"error":{"code":"ErrorItemNotFound","message":"The specified object was not found in the store."}}"#;
        assert!(matches!(classify(404, None, body), ApiError::NotFound));
        let body = br#"{"error":{"code":"serviceNotAvailable","message":"The service is temporarily unavailable."}}"#;
        assert!(matches!(classify(503, None, body), ApiError::Transient { retry_after: None, .. }));
        // A 503 may say when to come back.
        assert!(
            matches!(classify(503, wait, body), ApiError::Transient { retry_after: Some(d), .. } if d.as_secs() == 2)
        );
        let body = br#"{"error":{"code":"InefficientFilter","message":"The restriction or sort order is too complex for this operation."}}"#;
        let error = classify(400, None, body);
        assert!(matches!(error, ApiError::Permanent { status: 400, .. }));
        assert_eq!(
            error.to_string(),
            "the provider answered http 400: The restriction or sort order is too complex for this operation"
        );
        assert!(matches!(classify(502, None, b"<html>"), ApiError::Transient { .. }));
    }

    #[test]
    fn an_expired_delta_link_is_known_by_its_code_whatever_the_4xx_status() {
        for (status, code) in [(410, "syncStateNotFound"), (400, "syncStateNotFound"), (400, "resyncRequired")] {
            let body = format!(r#"{{"error":{{"code":"{code}","message":"The delta token is expired."}}}}"#);
            assert!(matches!(classify(status, None, body.as_bytes()), ApiError::CursorExpired), "{status} {code}");
        }
        let body = br#"{"error":{"code":"syncStateInvalid","message":"Invalid sync state."}}"#;
        assert!(matches!(classify(400, None, body), ApiError::CursorExpired));
        // Any 410 still is, and a 400 for another reason is not.
        assert!(matches!(classify(410, None, b""), ApiError::CursorExpired));
        let body = br#"{"error":{"code":"BadRequest","message":"Unsupported query."}}"#;
        assert!(matches!(classify(400, None, body), ApiError::Permanent { status: 400, .. }));
        // A 5xx that names the code is still an outage to retry, not a reason to resync.
        let body = br#"{"error":{"code":"syncStateNotFound","message":"x"}}"#;
        assert!(matches!(classify(503, None, body), ApiError::Transient { .. }));
    }

    #[test]
    fn one_identity_is_the_default() {
        let id = |address: &str, is_default| Identity { address: address.into(), name: None, is_default };
        let mut list = vec![id("a@x.test", false), id("b@x.test", false)];
        ensure_one_default(&mut list, "b@x.test");
        assert_eq!(list.iter().filter(|i| i.is_default).count(), 1);
        assert!(list[1].is_default);
        let mut list = vec![id("a@x.test", true), id("b@x.test", true)];
        ensure_one_default(&mut list, "b@x.test");
        assert!(list[0].is_default && !list[1].is_default);
    }
}
