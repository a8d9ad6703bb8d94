//! The administrator's email settings: one row per provider (the client secret sealed) and the
//! general settings as key/value rows.

use mailroom_domain::{ImportStart, MicrosoftTenant, OAuthClientId, Provider, SyncInterval};
use secrecy::{ExposeSecret, SecretString};

use crate::db::{BeginWrite, with_pool};
use crate::{Result, Store, now};

/// One provider's settings as the page shows them: whether a secret is set, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    pub provider: Provider,
    pub enabled: bool,
    pub client_id: Option<OAuthClientId>,
    pub has_secret: bool,
    pub tenant: MicrosoftTenant,
    /// When the client secret expires (the Unix time of that day's start, UTC), as the
    /// administrator entered it; the store cannot know it otherwise.
    pub secret_expires_at: Option<i64>,
    pub updated_at: Option<i64>,
}

impl ProviderSettings {
    fn unset(provider: Provider) -> Self {
        ProviderSettings {
            provider,
            enabled: false,
            client_id: None,
            has_secret: false,
            tenant: MicrosoftTenant::common(),
            secret_expires_at: None,
            updated_at: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    pub google: ProviderSettings,
    pub microsoft: ProviderSettings,
    pub sync_interval: SyncInterval,
    pub import_start: ImportStart,
}

/// What to save for one provider. `new_secret: None` keeps the secret already saved.
#[derive(Debug)]
pub struct ProviderUpdate {
    pub enabled: bool,
    pub client_id: Option<OAuthClientId>,
    pub new_secret: Option<SecretString>,
    pub tenant: MicrosoftTenant,
    /// When the client secret expires (Unix time of the day's start, UTC); replaces what was
    /// saved, so `None` clears it.
    pub secret_expires_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ProviderRow {
    provider: String,
    enabled: bool,
    client_id: Option<String>,
    has_secret: bool,
    tenant: Option<String>,
    client_secret_expires_at: Option<i64>,
    updated_at: i64,
}

const SYNC_INTERVAL: &str = "sync_interval_minutes";
const IMPORT_START: &str = "initial_import_days";

fn secret_aad(provider: Provider) -> Vec<u8> {
    format!("provider_settings:{provider}:client_secret").into_bytes()
}

impl Store {
    pub async fn email_settings(&self) -> Result<EmailSettings> {
        let sql = "SELECT provider, enabled, client_id, client_secret IS NOT NULL AS has_secret, tenant, \
                   client_secret_expires_at, updated_at FROM provider_settings";
        let rows: Vec<ProviderRow> = with_pool!(self.db, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        let mut settings = EmailSettings {
            google: ProviderSettings::unset(Provider::Google),
            microsoft: ProviderSettings::unset(Provider::Microsoft),
            sync_interval: SyncInterval::DEFAULT,
            import_start: ImportStart::DEFAULT,
        };
        for row in rows {
            let Some(provider) = Provider::parse(&row.provider) else {
                continue;
            };
            let slot = match provider {
                Provider::Google => &mut settings.google,
                Provider::Microsoft => &mut settings.microsoft,
            };
            *slot = ProviderSettings {
                provider,
                enabled: row.enabled,
                client_id: row.client_id.as_deref().and_then(|id| OAuthClientId::parse(id).ok()),
                has_secret: row.has_secret,
                tenant: row
                    .tenant
                    .as_deref()
                    .and_then(|t| MicrosoftTenant::parse(t).ok())
                    .unwrap_or_else(MicrosoftTenant::common),
                secret_expires_at: row.client_secret_expires_at,
                updated_at: Some(row.updated_at),
            };
        }
        if let Some(minutes) = self.setting(SYNC_INTERVAL).await?.and_then(|v| v.parse().ok()) {
            settings.sync_interval = SyncInterval::from_minutes(minutes).unwrap_or(SyncInterval::DEFAULT);
        }
        if let Some(days) = self.setting(IMPORT_START).await?.and_then(|v| v.parse().ok()) {
            settings.import_start = ImportStart::from_days(days).unwrap_or(ImportStart::DEFAULT);
        }
        Ok(settings)
    }

    /// Saves all email settings in one transaction: either everything is saved or nothing.
    pub async fn save_email_settings(
        &self,
        google: &ProviderUpdate,
        microsoft: &ProviderUpdate,
        sync_interval: SyncInterval,
        import_start: ImportStart,
    ) -> Result<()> {
        let upsert = "INSERT INTO provider_settings \
                      (provider, enabled, client_id, client_secret, tenant, client_secret_expires_at, updated_at) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7) \
                      ON CONFLICT (provider) DO UPDATE SET enabled = excluded.enabled, client_id = excluded.client_id, \
                      client_secret = COALESCE(excluded.client_secret, provider_settings.client_secret), \
                      tenant = excluded.tenant, client_secret_expires_at = excluded.client_secret_expires_at, \
                      updated_at = excluded.updated_at";
        let setting = "INSERT INTO settings (key, value) VALUES ($1, $2) \
                       ON CONFLICT (key) DO UPDATE SET value = excluded.value";
        let now = now();
        let updates = [(Provider::Google, google), (Provider::Microsoft, microsoft)];
        let sealed: Vec<Option<Vec<u8>>> = updates
            .iter()
            .map(|(provider, update)| {
                update
                    .new_secret
                    .as_ref()
                    .map(|secret| self.cipher.seal(secret.expose_secret().as_bytes(), &secret_aad(*provider)))
            })
            .collect();
        with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            for ((provider, update), sealed) in updates.iter().zip(&sealed) {
                sqlx::query(upsert)
                    .bind(provider.as_str())
                    .bind(update.enabled)
                    .bind(update.client_id.as_ref().map(OAuthClientId::as_str))
                    .bind(sealed.as_deref())
                    .bind(update.tenant.as_str())
                    .bind(update.secret_expires_at)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(setting).bind(SYNC_INTERVAL).bind(sync_interval.minutes().to_string()).execute(&mut *tx).await?;
            sqlx::query(setting).bind(IMPORT_START).bind(import_start.as_days().to_string()).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The provider's client secret, opened. Only the OAuth client needs it.
    pub async fn client_secret(&self, provider: Provider) -> Result<Option<SecretString>> {
        let sql = "SELECT client_secret FROM provider_settings WHERE provider = $1";
        let sealed: Option<Option<Vec<u8>>> =
            with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(provider.as_str()).fetch_optional(pool).await)?;
        let Some(sealed) = sealed.flatten() else {
            return Ok(None);
        };
        let opened = self.cipher.open(&sealed, &secret_aad(provider))?;
        Ok(Some(SecretString::from(String::from_utf8_lossy(&opened).into_owned())))
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        let sql = "SELECT value FROM settings WHERE key = $1";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(key).fetch_optional(pool).await)?)
    }
}
