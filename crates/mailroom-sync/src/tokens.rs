//! Access tokens that never silently die. An account's token is refreshed 60 seconds before it
//! expires, and once more when the provider answers 401 anyway. At most one refresh per account
//! runs at a time, across tasks and server processes: the refresher holds a lease in the database
//! (`Store::lease_refresh`), and the others wait for the tokens it saves. Microsoft's rotated
//! refresh token is saved in the same statement as the new access token. A dead grant puts the
//! account in `reauthorization_required`; outages are retried by the caller and never do.

use std::time::Duration;

use mailroom_domain::{AccountStatus, Provider};
use mailroom_providers::{Endpoints, OAuthApp, OAuthError, Providers};
use mailroom_store::{Account, Store, StoreError};
use secrecy::SecretString;

/// Refresh this long before the access token expires.
const REFRESH_MARGIN_SECS: i64 = 60;
/// How long a refresher may hold the lease; a crashed one frees it after this.
const LEASE_SECS: i64 = 30;
/// How often a task waiting for another's refresh looks for the new tokens.
const WAIT_STEP: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The provider refused the grant for good; the account now needs reconnecting. The text
    /// says so itself, as the user reads it on the Mailboxes page.
    #[error("{0}")]
    ReauthorizationRequired(String),
    /// The administrator's client settings were refused or are missing.
    #[error("the provider's client settings are not usable: {0}")]
    Client(String),
    /// The provider or the network failed for now; try again later.
    #[error("the provider is unavailable: {reason}")]
    Transient { reason: String, retry_after: Option<Duration> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The OAuth app of an enabled provider, from the administrator's settings and the configured
/// scopes; `None` when the provider is disabled or lacks a client ID or secret.
pub async fn oauth_app(
    store: &Store,
    endpoints: &Endpoints,
    provider: Provider,
    redirect_uri: &str,
) -> Result<Option<OAuthApp>, StoreError> {
    let settings = store.email_settings().await?;
    let saved = match provider {
        Provider::Google => settings.google,
        Provider::Microsoft => settings.microsoft,
    };
    let Some(client_id) = saved.client_id.filter(|_| saved.enabled) else { return Ok(None) };
    let Some(client_secret) = store.client_secret(provider).await? else { return Ok(None) };
    Ok(Some(OAuthApp {
        provider,
        client_id: client_id.as_str().to_owned(),
        client_secret,
        tenant: saved.tenant,
        redirect_uri: redirect_uri.to_owned(),
        scopes: match provider {
            Provider::Google => endpoints.google.scopes.clone(),
            Provider::Microsoft => endpoints.microsoft.scopes.clone(),
        },
    }))
}

/// Hands out live access tokens for accounts.
#[derive(Clone)]
pub struct AccessTokens {
    store: Store,
    providers: std::sync::Arc<Providers>,
    redirect_uri: String,
}

impl AccessTokens {
    pub fn new(store: Store, providers: std::sync::Arc<Providers>, redirect_uri: String) -> Self {
        AccessTokens { store, providers, redirect_uri }
    }

    /// A token good for at least a minute, refreshed first if needed.
    pub async fn access_token(&self, account: &Account) -> Result<SecretString, TokenError> {
        let tokens = self.store.account_tokens(account).await?;
        let now = mailroom_store::now();
        if tokens.expires_at.is_some_and(|at| at > now + REFRESH_MARGIN_SECS) {
            return Ok(tokens.access_token);
        }
        self.refresh(account, tokens.expires_at).await
    }

    /// A new token after the provider answered 401 to the stored one: refreshed once, whatever
    /// the stored expiry says, unless another task has refreshed meanwhile.
    pub async fn after_unauthorized(&self, account: &Account) -> Result<SecretString, TokenError> {
        let tokens = self.store.account_tokens(account).await?;
        self.refresh(account, tokens.expires_at).await
    }

    /// Refreshes the tokens, or waits for the task that holds the lease to do it. `seen` is the
    /// expiry of the tokens the caller found wanting: new tokens have another.
    async fn refresh(&self, account: &Account, seen: Option<i64>) -> Result<SecretString, TokenError> {
        loop {
            let now = mailroom_store::now();
            if self.store.lease_refresh(account.id, now, LEASE_SECS).await? {
                let tokens = self.store.account_tokens(account).await?;
                // Another task may have refreshed between our read and our lease.
                if tokens.expires_at != seen && tokens.expires_at.is_some_and(|at| at > now + REFRESH_MARGIN_SECS) {
                    self.store.release_refresh_lease(account.id).await?;
                    return Ok(tokens.access_token);
                }
                return self.refresh_holding_lease(account, tokens.refresh_token).await;
            }
            tokio::time::sleep(WAIT_STEP).await;
            let tokens = self.store.account_tokens(account).await?;
            if tokens.expires_at != seen {
                return Ok(tokens.access_token);
            }
            let current = self.store.account_of(account.user_id, account.id).await?;
            if current.is_some_and(|a| a.status == AccountStatus::ReauthorizationRequired) {
                return Err(TokenError::ReauthorizationRequired(
                    "the refresh in another task failed: the mailbox must be connected again".to_owned(),
                ));
            }
        }
    }

    async fn refresh_holding_lease(
        &self,
        account: &Account,
        refresh: Option<SecretString>,
    ) -> Result<SecretString, TokenError> {
        let now = mailroom_store::now();
        let Some(app) =
            oauth_app(&self.store, self.providers.endpoints(), account.provider, &self.redirect_uri).await?
        else {
            self.store.release_refresh_lease(account.id).await?;
            return Err(TokenError::Client("the provider is disabled in the email settings".to_owned()));
        };
        let Some(refresh) = refresh else {
            return self.needs_reconnect(account, "no refresh token is stored".to_owned()).await;
        };
        match self.providers.refresh(&app, &refresh, now).await {
            Ok(tokens) => {
                self.store
                    .save_refreshed_tokens(
                        account,
                        &tokens.access_token,
                        tokens.refresh_token.as_ref(),
                        tokens.expires_at,
                        now,
                    )
                    .await?;
                tracing::info!(account.id = %account.id, "access token refreshed");
                Ok(tokens.access_token)
            }
            Err(OAuthError::Transient { reason, retry_after }) => {
                self.store.release_refresh_lease(account.id).await?;
                tracing::warn!(account.id = %account.id, %reason, "token refresh failed for now");
                Err(TokenError::Transient { reason, retry_after })
            }
            Err(OAuthError::InvalidClient { error }) => {
                self.store.release_refresh_lease(account.id).await?;
                tracing::error!(account.id = %account.id, %error, "the provider refused the client settings");
                Err(TokenError::Client(error))
            }
            // A dead grant, missing consent, or a refresh token the provider does not know: only
            // connecting again helps.
            Err(err) => self.needs_reconnect(account, err.to_string()).await,
        }
    }

    async fn needs_reconnect(&self, account: &Account, reason: String) -> Result<SecretString, TokenError> {
        let now = mailroom_store::now();
        self.store.set_account_status(account.id, AccountStatus::ReauthorizationRequired, Some(&reason), now).await?;
        tracing::warn!(account.id = %account.id, %reason, "the account needs reconnecting");
        Err(TokenError::ReauthorizationRequired(reason))
    }
}
