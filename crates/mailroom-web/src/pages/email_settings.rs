//! The administrator's email settings: the Google and Microsoft OAuth clients and the general sync
//! settings. The client secret is write-only: the page says whether one is saved, never what it is.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailroom_domain::{ImportStart, MicrosoftTenant, OAuthClientId, SyncInterval};
use mailroom_store::{EmailSettings, ProviderSettings, ProviderUpdate};
use secrecy::SecretString;
use serde::Deserialize;

use super::{FieldErrors, see_other};
use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::i18n::Texts;
use crate::viewer::{Admin, Ctx};

/// Where Google's OAuth consent screen (its publishing status and user type) is set.
pub(crate) const GOOGLE_CONSENT_CONSOLE: &str = "https://console.cloud.google.com/apis/credentials/consent";
/// Where Microsoft's app registrations, and their client secrets, are managed.
pub(crate) const ENTRA_APP_REGISTRATIONS: &str =
    "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationsListBlade";

const DAY_SECS: i64 = 24 * 3600;

/// A warning that the Microsoft client secret expires soon or has expired. `strong` (a week or
/// less, or past) is shown as an error: once the secret lapses, no token refresh succeeds and
/// every Outlook mailbox stops syncing at once.
pub(crate) struct SecretExpiryWarning {
    pub strong: bool,
    pub text: String,
}

/// The warning for a secret expiring at `expires_at` (the start of its day, UTC), if it is due
/// within 30 days of `now`.
pub(crate) fn secret_expiry_warning(t: &Texts, expires_at: Option<i64>, now: i64) -> Option<SecretExpiryWarning> {
    let expires_at = expires_at?;
    let date = format_day(expires_at);
    let left = expires_at - now;
    let (strong, template) = if left <= 0 {
        (true, t.secret_expired)
    } else if left <= 7 * DAY_SECS {
        (true, t.secret_expires_this_week)
    } else if left <= 30 * DAY_SECS {
        (false, t.secret_expires_this_month)
    } else {
        return None;
    };
    Some(SecretExpiryWarning { strong, text: template.replace("{date}", &date) })
}

/// A day kept as the Unix time of its start, written as the date field takes it (`YYYY-MM-DD`).
fn format_day(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// The expiry date as typed: empty is none; else a real day `YYYY-MM-DD`, kept as its start in UTC.
fn parse_day(input: &str) -> Result<Option<i64>, ()> {
    let input = input.trim();
    if input.is_empty() {
        return Ok(None);
    }
    let day = chrono::NaiveDate::parse_from_str(input, "%Y-%m-%d").map_err(drop)?;
    // The date field's own range; a five-digit year is a typing mistake, not a date.
    if !(1970..=9999).contains(&chrono::Datelike::year(&day)) {
        return Err(());
    }
    Ok(Some(day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp()))
}

#[derive(Template, WebTemplate)]
#[template(path = "email_settings.html")]
struct SettingsPage {
    ctx: Ctx,
    saved: EmailSettings,
    form: SettingsForm,
    errors: FieldErrors,
    redirect_uri: String,
    /// The public URL is plain http on another machine: providers refuse its redirect URI.
    insecure_redirect: bool,
    google_console: &'static str,
    entra_console: &'static str,
    secret_expiry: Option<SecretExpiryWarning>,
}

/// One provider's section of the page.
struct ProviderView<'a> {
    key: &'static str,
    title: &'static str,
    enabled: bool,
    client_id: &'a str,
    has_secret: bool,
    /// Microsoft only.
    tenant: Option<&'a str>,
    guide: &'static [&'static str],
    enabled_field: &'static str,
    client_id_field: &'static str,
}

impl SettingsPage {
    fn providers(&self) -> [ProviderView<'_>; 2] {
        let (t, form) = (self.ctx.t, &self.form);
        [
            ProviderView {
                key: "google",
                title: t.google,
                enabled: form.google_enabled.is_some(),
                client_id: &form.google_client_id,
                has_secret: self.saved.google.has_secret,
                tenant: None,
                guide: t.google_guide,
                enabled_field: "google_enabled",
                client_id_field: "google_client_id",
            },
            ProviderView {
                key: "microsoft",
                title: t.microsoft,
                enabled: form.microsoft_enabled.is_some(),
                client_id: &form.microsoft_client_id,
                has_secret: self.saved.microsoft.has_secret,
                tenant: Some(&form.microsoft_tenant),
                guide: t.microsoft_guide,
                enabled_field: "microsoft_enabled",
                client_id_field: "microsoft_client_id",
            },
        ]
    }
}

/// The form as sent. Checkboxes are absent when unticked.
#[derive(Deserialize, Default)]
pub struct SettingsForm {
    #[serde(default)]
    google_enabled: Option<String>,
    #[serde(default)]
    google_client_id: String,
    #[serde(default)]
    google_client_secret: String,
    #[serde(default)]
    microsoft_enabled: Option<String>,
    #[serde(default)]
    microsoft_client_id: String,
    #[serde(default)]
    microsoft_client_secret: String,
    #[serde(default)]
    microsoft_tenant: String,
    /// `YYYY-MM-DD`, or empty.
    #[serde(default)]
    microsoft_secret_expires: String,
    #[serde(default)]
    sync_interval: String,
    #[serde(default)]
    import_days: String,
}

impl SettingsForm {
    fn from_saved(saved: &EmailSettings) -> Self {
        let client_id =
            |p: &ProviderSettings| p.client_id.as_ref().map(|id| id.as_str().to_owned()).unwrap_or_default();
        SettingsForm {
            google_enabled: saved.google.enabled.then(|| "on".to_owned()),
            google_client_id: client_id(&saved.google),
            google_client_secret: String::new(),
            microsoft_enabled: saved.microsoft.enabled.then(|| "on".to_owned()),
            microsoft_client_id: client_id(&saved.microsoft),
            microsoft_client_secret: String::new(),
            microsoft_tenant: saved.microsoft.tenant.as_str().to_owned(),
            microsoft_secret_expires: saved.microsoft.secret_expires_at.map(format_day).unwrap_or_default(),
            sync_interval: saved.sync_interval.minutes().to_string(),
            import_days: saved.import_start.as_days().to_string(),
        }
    }
}

impl SettingsPage {
    fn new(state: &AppState, ctx: Ctx, saved: EmailSettings, form: SettingsForm, errors: FieldErrors) -> Self {
        // The warning follows what is saved, not what a refused form said.
        let secret_expiry = secret_expiry_warning(ctx.t, saved.microsoft.secret_expires_at, mailroom_store::now());
        SettingsPage {
            ctx,
            saved,
            form,
            errors,
            redirect_uri: state.config.redirect_uri(),
            insecure_redirect: state.config.public_url_is_plain_http(),
            google_console: GOOGLE_CONSENT_CONSOLE,
            entra_console: ENTRA_APP_REGISTRATIONS,
            secret_expiry,
        }
    }
}

pub async fn show(State(state): State<AppState>, _: Admin, ctx: Ctx) -> Result<Response, ErrorKind> {
    let saved = state.store.email_settings().await.map_err(internal)?;
    let form = SettingsForm::from_saved(&saved);
    Ok(SettingsPage::new(&state, ctx, saved, form, FieldErrors::default()).into_response())
}

pub async fn save(
    State(state): State<AppState>,
    Admin(me): Admin,
    ctx: Ctx,
    Form(form): Form<SettingsForm>,
) -> Result<Response, ErrorKind> {
    let saved = state.store.email_settings().await.map_err(internal)?;
    let t = ctx.t;
    let mut errors = FieldErrors::default();

    let mut provider = |prefix: &'static str,
                        enabled: bool,
                        id: &str,
                        secret: &str,
                        had_secret: bool,
                        tenant: MicrosoftTenant| {
        // An empty client ID is allowed while the provider is disabled: it clears it.
        let client_id = if id.trim().is_empty() && !enabled {
            Some(None)
        } else {
            let field = if prefix == "google" { "google_client_id" } else { "microsoft_client_id" };
            errors.check(t, field, OAuthClientId::parse(id)).map(Some)
        };
        let new_secret = (!secret.trim().is_empty()).then(|| SecretString::from(secret.trim().to_owned()));
        if enabled && (id.trim().is_empty() || (new_secret.is_none() && !had_secret)) {
            errors.add(
                if prefix == "google" { "google_enabled" } else { "microsoft_enabled" },
                t.enable_needs_credentials,
            );
        }
        client_id.map(|client_id| ProviderUpdate { enabled, client_id, new_secret, tenant, secret_expires_at: None })
    };
    let google = provider(
        "google",
        form.google_enabled.is_some(),
        &form.google_client_id,
        &form.google_client_secret,
        saved.google.has_secret,
        MicrosoftTenant::common(),
    );
    let tenant = MicrosoftTenant::parse(&form.microsoft_tenant);
    let microsoft = provider(
        "microsoft",
        form.microsoft_enabled.is_some(),
        &form.microsoft_client_id,
        &form.microsoft_client_secret,
        saved.microsoft.has_secret,
        tenant.clone().unwrap_or_else(|_| MicrosoftTenant::common()),
    );
    let tenant = errors.check(t, "microsoft_tenant", tenant);
    let secret_expires = parse_day(&form.microsoft_secret_expires)
        .map_err(|()| errors.add("microsoft_secret_expires", t.invalid_secret_expiry))
        .ok();
    let interval = errors.check(t, "sync_interval", SyncInterval::parse(&form.sync_interval));
    let import = errors.check(t, "import_days", ImportStart::parse(&form.import_days));

    if let (Some(google), Some(mut microsoft), Some(_), Some(secret_expires_at), Some(interval), Some(import), true) =
        (google, microsoft, tenant, secret_expires, interval, import, errors.is_empty())
    {
        microsoft.secret_expires_at = secret_expires_at;
        state.store.save_email_settings(&google, &microsoft, interval, import).await.map_err(internal)?;
        tracing::info!(by = %me.id, "email settings saved");
        return Ok(see_other("/admin/settings/email", "settings_saved"));
    }
    // Secrets typed into a refused form are not sent back to the browser.
    let form = SettingsForm { google_client_secret: String::new(), microsoft_client_secret: String::new(), ..form };
    let page = SettingsPage::new(&state, ctx, saved, form, errors);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
