//! The token endpoint (code exchange, refresh) and Google's revocation, with failures sorted by
//! what the caller must do next.

use std::time::Duration;

use mailroom_domain::Provider;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::{OAuthApp, Providers, describe_transport_error, retry_after};

/// Tokens from a code exchange or a refresh.
pub struct TokenSet {
    pub access_token: SecretString,
    /// The refresh token to keep. After a code exchange: the one issued, if any (Google issues one
    /// only with `access_type=offline`, Microsoft only with `offline_access`). After a refresh:
    /// always set, to the new one when the provider rotated it (Microsoft does every time: store
    /// it, the old one may stop working) or else to the one presented (Google keeps it).
    pub refresh_token: Option<SecretString>,
    /// When the access token expires, in unix seconds: `now` plus the provider's `expires_in`.
    pub expires_at: i64,
    /// The scopes granted, as the provider lists them (Microsoft answers with full
    /// `https://graph.microsoft.com/...` names). When the answer names none: the app's scopes.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[redacted]"))
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A failed token or revocation request, sorted by what to do about it. Messages never contain a
/// token, code, verifier or secret: the provider's own `error` and description are quoted, and
/// neither provider echoes credentials in them.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The grant is dead (Google `invalid_grant`; Microsoft `invalid_grant` with 70008, 700082,
    /// 700084, 50173, 70043, 50076, 50079 or 50078, or `interaction_required`): the user must
    /// connect the mailbox again. Only a refresh gives this; see [`Providers::exchange_code`].
    #[error("the provider no longer accepts this mailbox's grant ({error}{}): it must be connected again", codes_suffix(.codes))]
    ReauthorizationRequired { error: String, codes: Vec<u32> },
    /// Consent is missing or was declined (Microsoft 65001/65004, `consent_required`).
    #[error("consent for mailroom is missing or was declined ({error}{})", codes_suffix(.codes))]
    ConsentRequired { error: String, codes: Vec<u32> },
    /// The client id or secret was refused (`invalid_client`, `unauthorized_client`): the
    /// administrator must fix the app's settings.
    #[error("the provider refused the oauth client id or secret ({error})")]
    InvalidClient { error: String },
    /// A network error, timeout, 5xx, 429 or `temporarily_unavailable`: retry with backoff
    /// (waiting at least `retry_after` when given); never a reason to reauthorize.
    #[error("the provider is unavailable for now: {reason}")]
    Transient { reason: String, retry_after: Option<Duration> },
    /// Anything else the provider refused (`invalid_request`, `redirect_uri_mismatch`, a bad, used
    /// or expired code or a wrong PKCE verifier on exchange, ...).
    #[error("the provider rejected the request ({error}){}", description_suffix(.description))]
    Rejected { error: String, description: String },
}

fn codes_suffix(codes: &[u32]) -> String {
    if codes.is_empty() {
        String::new()
    } else {
        let codes: Vec<String> = codes.iter().map(|c| format!("AADSTS{c}")).collect();
        format!(", {}", codes.join(", "))
    }
}

fn description_suffix(description: &str) -> String {
    let description = description.trim_end_matches('.');
    if description.is_empty() { String::new() } else { format!(": {description}") }
}

/// Microsoft codes meaning the refresh token or the session behind it is dead.
const MICROSOFT_DEAD_GRANT: &[u32] = &[70008, 700082, 700084, 50173, 70043, 50076, 50079, 50078];
/// Microsoft codes meaning consent is missing (65001) or was declined (65004).
const MICROSOFT_CONSENT: &[u32] = &[65001, 65004];

/// Which call a token-endpoint answer came from: a dead grant on a code exchange only means the
/// code (or verifier) was bad, and the user simply tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Code,
    Refresh,
}

/// The error body both providers send (RFC 6749 §5.2), with Microsoft's `error_codes`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u32>,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    scope: Option<String>,
}

/// Sorts a token endpoint's refusal.
fn classify(grant: Grant, status: u16, retry_after: Option<Duration>, body: &[u8], provider: Provider) -> OAuthError {
    let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
    if status == 429 || status >= 500 {
        let what = parsed.as_ref().map_or_else(|| format!("http {status}"), |e| format!("http {status}, {}", e.error));
        return OAuthError::Transient { reason: what, retry_after };
    }
    let Some(body) = parsed else {
        return OAuthError::Rejected {
            error: format!("http {status}"),
            description: "the answer was not an oauth error".to_owned(),
        };
    };
    let error = body.error;
    let codes = body.error_codes;
    let has = |list: &[u32]| codes.iter().any(|c| list.contains(c));
    // Microsoft appends trace and correlation ids and a timestamp on further lines.
    let description = body.error_description.unwrap_or_default().lines().next().unwrap_or_default().trim().to_owned();
    match error.as_str() {
        "temporarily_unavailable" => OAuthError::Transient { reason: error, retry_after },
        "invalid_client" | "unauthorized_client" => OAuthError::InvalidClient { error },
        "consent_required" => OAuthError::ConsentRequired { error, codes },
        _ if has(MICROSOFT_CONSENT) => OAuthError::ConsentRequired { error, codes },
        "interaction_required" if grant == Grant::Refresh => OAuthError::ReauthorizationRequired { error, codes },
        "invalid_grant" if grant == Grant::Refresh => {
            let dead = match provider {
                Provider::Google => true,
                // A token server that sends no codes cannot say more than invalid_grant does.
                Provider::Microsoft => codes.is_empty() || has(MICROSOFT_DEAD_GRANT),
            };
            if dead {
                OAuthError::ReauthorizationRequired { error, codes }
            } else {
                OAuthError::Rejected { error, description }
            }
        }
        _ => OAuthError::Rejected { error, description },
    }
}

impl Providers {
    fn token_url(&self, app: &OAuthApp) -> String {
        match app.provider {
            Provider::Google => self.endpoints.google.token_url.to_string(),
            Provider::Microsoft => self.endpoints.microsoft.token_url_for(app.tenant.as_str()),
        }
    }

    /// Trades the authorization code (and the PKCE verifier) for tokens.
    ///
    /// Errors: a bad, used or expired code or a wrong verifier is [`OAuthError::Rejected`] (Google
    /// and Microsoft both say `invalid_grant`, but nothing is lost: the user starts the flow
    /// again); a refused client is [`OAuthError::InvalidClient`].
    pub async fn exchange_code(
        &self,
        app: &OAuthApp,
        code: &str,
        verifier: &SecretString,
        now: i64,
    ) -> Result<TokenSet, OAuthError> {
        let scope = app.scopes.join(" ");
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", app.redirect_uri.as_str()),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.expose_secret()),
            ("code_verifier", verifier.expose_secret()),
        ];
        if app.provider == Provider::Microsoft {
            form.push(("scope", scope.as_str()));
        }
        let tokens = self.token_request(app, Grant::Code, &form, now).await?;
        tracing::debug!(provider = %app.provider, refresh = tokens.refresh_token.is_some(), "authorization code exchanged");
        Ok(tokens)
    }

    /// A new access token from a refresh token. The returned [`TokenSet::refresh_token`] is
    /// always set: store it (Microsoft rotates refresh tokens on every use).
    pub async fn refresh(
        &self,
        app: &OAuthApp,
        refresh_token: &SecretString,
        now: i64,
    ) -> Result<TokenSet, OAuthError> {
        let scope = app.scopes.join(" ");
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.expose_secret()),
        ];
        if app.provider == Provider::Microsoft {
            // Microsoft wants the scopes again (equal to or a subset of those consented to).
            form.push(("scope", scope.as_str()));
        }
        let mut tokens = self.token_request(app, Grant::Refresh, &form, now).await?;
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.clone());
        }
        Ok(tokens)
    }

    /// Ends the grant behind `token` (access or refresh token) at Google. A token Google no longer
    /// knows (`invalid_token`) counts as revoked.
    ///
    /// Microsoft has no per-app revocation endpoint (Graph's `revokeSignInSessions` signs the
    /// user out of every app, and needs an admin permission), so for Microsoft this returns
    /// `Ok(())` without a request: disconnecting means deleting the stored tokens.
    pub async fn revoke(&self, app: &OAuthApp, token: &SecretString) -> Result<(), OAuthError> {
        if app.provider == Provider::Microsoft {
            return Ok(());
        }
        let response = self
            .http
            .post(self.endpoints.google.revoke_url.clone())
            .form(&[("token", token.expose_secret())])
            .send()
            .await
            .map_err(transient)?;
        let status = response.status();
        crate::count_response(app.provider, status.as_u16());
        if status.is_success() {
            return Ok(());
        }
        let wait = retry_after(response.headers());
        let body = response.bytes().await.map_err(transient)?;
        match classify(Grant::Refresh, status.as_u16(), wait, &body, app.provider) {
            OAuthError::Rejected { error, .. } if error == "invalid_token" => Ok(()),
            other => Err(other),
        }
    }

    async fn token_request(
        &self,
        app: &OAuthApp,
        grant: Grant,
        form: &[(&str, &str)],
        now: i64,
    ) -> Result<TokenSet, OAuthError> {
        let response = self
            .http
            .post(self.token_url(app))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .map_err(transient)?;
        let status = response.status();
        crate::count_response(app.provider, status.as_u16());
        let wait = retry_after(response.headers());
        let body = response.bytes().await.map_err(transient)?;
        if !status.is_success() {
            let error = classify(grant, status.as_u16(), wait, &body, app.provider);
            tracing::info!(provider = %app.provider, status = status.as_u16(), %error, "token request refused");
            return Err(error);
        }
        let parsed: TokenBody = serde_json::from_slice(&body).map_err(|_| OAuthError::Rejected {
            error: "invalid_response".to_owned(),
            description: "the token endpoint's answer is not json".to_owned(),
        })?;
        let access_token = parsed.access_token.filter(|t| !t.is_empty()).ok_or_else(|| OAuthError::Rejected {
            error: "invalid_response".to_owned(),
            description: "the token endpoint's answer has no access_token".to_owned(),
        })?;
        // Some Microsoft endpoints send expires_in as a string.
        let expires_in = match parsed.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .unwrap_or(3600);
        let scopes = match parsed.scope {
            Some(scope) if !scope.trim().is_empty() => scope.split_whitespace().map(str::to_owned).collect(),
            _ => app.scopes.clone(),
        };
        Ok(TokenSet {
            access_token: SecretString::from(access_token),
            refresh_token: parsed.refresh_token.filter(|t| !t.is_empty()).map(SecretString::from),
            expires_at: now.saturating_add(expires_in),
            scopes,
        })
    }
}

fn transient(error: reqwest::Error) -> OAuthError {
    OAuthError::Transient { reason: describe_transport_error(error), retry_after: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(grant: Grant, status: u16, body: &str) -> OAuthError {
        classify(grant, status, None, body.as_bytes(), Provider::Microsoft)
    }

    #[test]
    fn microsoft_dead_grant_codes_need_reauthorization_on_refresh_only() {
        for code in MICROSOFT_DEAD_GRANT {
            let body =
                format!(r#"{{"error":"invalid_grant","error_description":"AADSTS{code}: x","error_codes":[{code}]}}"#);
            let error = ms(Grant::Refresh, 400, &body);
            assert!(
                matches!(&error, OAuthError::ReauthorizationRequired { codes, .. } if codes == &[*code]),
                "{error:?}"
            );
            assert!(matches!(ms(Grant::Code, 400, &body), OAuthError::Rejected { .. }));
        }
        let body = r#"{"error":"interaction_required","error_codes":[50058]}"#;
        assert!(matches!(ms(Grant::Refresh, 400, body), OAuthError::ReauthorizationRequired { .. }));
        let body = r#"{"error":"invalid_grant","error_codes":[9002313]}"#;
        assert!(matches!(ms(Grant::Refresh, 400, body), OAuthError::Rejected { .. }));
    }

    #[test]
    fn consent_codes_and_errors_ask_for_consent() {
        let body = r#"{"error":"invalid_grant","error_codes":[65001]}"#;
        assert!(matches!(ms(Grant::Refresh, 400, body), OAuthError::ConsentRequired { .. }));
        let body = r#"{"error":"invalid_grant","error_codes":[65004]}"#;
        assert!(matches!(ms(Grant::Code, 400, body), OAuthError::ConsentRequired { .. }));
        let body = r#"{"error":"consent_required"}"#;
        assert!(matches!(ms(Grant::Refresh, 400, body), OAuthError::ConsentRequired { .. }));
    }

    #[test]
    fn server_trouble_is_transient_and_keeps_retry_after() {
        let wait = Some(Duration::from_secs(3));
        let error = classify(Grant::Refresh, 429, wait, b"{}", Provider::Google);
        assert!(matches!(error, OAuthError::Transient { retry_after: Some(d), .. } if d.as_secs() == 3));
        assert!(matches!(ms(Grant::Refresh, 502, "<html>bad gateway</html>"), OAuthError::Transient { .. }));
        let body = r#"{"error":"temporarily_unavailable"}"#;
        assert!(matches!(ms(Grant::Refresh, 400, body), OAuthError::Transient { .. }));
    }

    #[test]
    fn client_errors_and_the_rest() {
        let body = r#"{"error":"unauthorized_client","error_codes":[700016]}"#;
        assert!(matches!(ms(Grant::Code, 400, body), OAuthError::InvalidClient { .. }));
        let error = classify(Grant::Code, 400, None, br#"{"error":"redirect_uri_mismatch"}"#, Provider::Google);
        assert!(matches!(error, OAuthError::Rejected { .. }));
        let error = classify(Grant::Refresh, 400, None, br#"{"error":"invalid_grant"}"#, Provider::Google);
        assert!(matches!(error, OAuthError::ReauthorizationRequired { .. }));
        assert!(matches!(ms(Grant::Refresh, 400, "not json"), OAuthError::Rejected { .. }));
    }

    #[test]
    fn descriptions_keep_only_their_first_line() {
        let body = r#"{"error":"invalid_scope","error_description":"AADSTS70011: bad scope.\r\nTrace ID: 1\r\nCorrelation ID: 2","error_codes":[70011]}"#;
        let error = ms(Grant::Code, 400, body);
        assert_eq!(error.to_string(), "the provider rejected the request (invalid_scope): AADSTS70011: bad scope");
    }
}
