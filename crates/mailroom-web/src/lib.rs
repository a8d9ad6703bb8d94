//! Mailroom's HTTP face: server-rendered pages, sessions, CSRF, the administrator's pages and the
//! operations endpoints. Pages read and write through `mailroom_store::Store`; nothing here calls
//! a mail provider.
//!
//! Every request passes, from the outside in: security headers, its request id ([`panics::tag`]),
//! tracing, metrics ([`telemetry::track`]), the viewer ([`viewer::resolve`]: session, language,
//! CSRF binding), error pages ([`errors::render`]), the CSRF check ([`csrf::verify`]), the refusal
//! of the NUL character in any input ([`input::refuse_nul`]), a guard
//! that turns a handler's panic into a 500 ([`panics`]) and then the route's handler.

mod api;
mod csrf;
mod errors;
mod i18n;
mod input;
mod mail;
mod pages;
mod panics;
mod plural;
mod progress;
mod send;
mod telemetry;
mod time;
mod viewer;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use mailroom_domain::LoginPolicy;
use mailroom_providers::{Endpoints, Providers};
use mailroom_store::Store;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use pages::drafts::DISCARD_UNDO_SECS;
pub use telemetry::install_recorder;

/// What the web layer needs to know about its deployment.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The address users reach Mailroom at, without a trailing slash, e.g. `https://mail.example.com`.
    pub base_url: String,
    /// Whether cookies get the `Secure` attribute (the public URL is https).
    pub secure_cookies: bool,
    /// How failed logins are slowed and refused.
    pub login_policy: LoginPolicy,
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Where Google and Microsoft are (a simulator's addresses in tests and the demo).
    pub endpoints: Endpoints,
    /// How long a message sent from the compose page waits, so that it can be taken back.
    pub undo_send_seconds: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client (see [`viewer::client_ip`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The bearer token `/metrics` asks for; without one it answers only local requests that no
    /// proxy forwarded.
    pub metrics_token: Option<secrecy::SecretString>,
}

impl WebConfig {
    pub fn new(base_url: impl Into<String>, secure_cookies: bool, endpoints: Endpoints) -> Self {
        WebConfig {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            secure_cookies,
            endpoints,
            login_policy: LoginPolicy::default(),
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            body_limit: 1024 * 1024,
            undo_send_seconds: 5,
            trusted_proxies: Vec::new(),
            metrics_token: None,
        }
    }

    /// The OAuth redirect URI to register with the providers.
    pub fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.base_url)
    }

    /// Whether the public URL is plain http on another machine, where the providers refuse its
    /// redirect URI: the email settings page warns the administrator (see
    /// [`mailroom_config::plain_http_off_this_machine`]).
    pub fn public_url_is_plain_http(&self) -> bool {
        url::Url::parse(&self.base_url).is_ok_and(|url| mailroom_config::plain_http_off_this_machine(&url))
    }
}

/// Shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<WebConfig>,
    /// The OAuth clients and provider APIs; only the OAuth callback waits on them.
    pub providers: Arc<Providers>,
    /// Wakes this process's sync scheduler when a user asks for a run.
    pub sync_wake: Arc<tokio::sync::Notify>,
    /// Wakes this process's outbox when a message is submitted or taken back.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    csrf_key: Arc<[u8; 32]>,
}

impl AppState {
    pub fn new(store: Store, config: WebConfig) -> Self {
        let csrf_key = Arc::new(store.derived_key("csrf"));
        let providers = Arc::new(Providers::new(config.endpoints.clone()));
        AppState {
            store,
            config: Arc::new(config),
            providers,
            sync_wake: Arc::new(tokio::sync::Notify::new()),
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
            csrf_key,
        }
    }
}

/// The whole application as one router.
pub fn router(state: AppState) -> Router {
    let pages = Router::new()
        .route("/", get(pages::home::show))
        .route("/setup", get(pages::setup::show).post(pages::setup::submit))
        .route("/login", get(pages::login::show).post(pages::login::submit))
        .route("/logout", post(pages::login::logout))
        .route("/language", post(pages::language::choose))
        .route("/admin/users", get(pages::users::list).post(pages::users::create))
        .route("/admin/users/{id}/disable", post(pages::users::disable))
        .route("/admin/users/{id}/enable", post(pages::users::enable))
        .route("/admin/users/{id}/password", post(pages::users::reset_password))
        .route("/admin/settings/email", get(pages::email_settings::show).post(pages::email_settings::save))
        .route("/admin/accounts", get(pages::accounts::admin_list))
        .route("/admin/status", get(pages::status::show))
        .route("/accounts", get(pages::accounts::list))
        .route("/accounts/connect", post(pages::accounts::connect))
        .route("/accounts/{id}/disconnect", post(pages::accounts::disconnect))
        .route("/accounts/{id}/sync", post(pages::accounts::request_sync))
        .route("/accounts/{id}/sync-log", get(pages::accounts::sync_log))
        .route("/oauth/callback", get(pages::accounts::callback))
        .route("/mail", get(pages::mail::show))
        .route("/mail/act", post(pages::mail::act))
        .route("/mail/undo", post(pages::mail::undo))
        .route(
            "/mail/compose",
            get(pages::compose::show)
                .post(pages::compose::submit_form)
                .layer(DefaultBodyLimit::max(pages::compose::COMPOSE_BODY_LIMIT)),
        )
        .route("/mail/compose/resume", post(pages::compose::resume))
        .route("/mail/compose/discard", post(pages::compose::discard))
        .route("/mail/compose/closed", get(pages::compose::closed))
        .route("/mail/outbox", get(pages::compose::outbox))
        .route("/mail/drafts", get(pages::drafts::list))
        .route("/mail/drafts/save", post(pages::drafts::save))
        .route("/mail/drafts/{id}/discard", post(pages::drafts::discard))
        .route("/mail/drafts/{id}/restore", post(pages::drafts::restore))
        .route(
            "/mail/drafts/{id}/files",
            post(pages::drafts::upload).layer(DefaultBodyLimit::max(pages::compose::COMPOSE_BODY_LIMIT)),
        )
        .route("/mail/drafts/{id}/files/{file}", get(pages::drafts::file))
        .route(
            "/mail/drafts/{id}/files/{file}/remove",
            post(pages::drafts::remove_file).layer(DefaultBodyLimit::max(pages::compose::COMPOSE_BODY_LIMIT)),
        )
        .route("/mail/drafts/{id}/resolve", post(pages::drafts::resolve))
        .route("/mail/outbox/{id}/cancel", post(pages::compose::cancel))
        .route("/mail/outbox/retry", post(pages::compose::retry))
        .route("/mail/failures/dismiss", post(pages::mail::dismiss_failures))
        .route("/mail/images/allow", post(pages::mail::allow_images))
        .route("/mail/messages/{id}/note", post(pages::mail::save_note))
        .route("/mail/tags", post(pages::mail::create_tag))
        .route("/mail/tags/{id}/delete", post(pages::mail::delete_tag))
        .route("/mail/messages/{id}/body", get(pages::mail::body))
        .route("/mail/messages/{id}/attachments/{position}", get(pages::mail::attachment))
        .route("/mail/messages/{id}/original", get(pages::mail::original))
        .route("/settings", get(pages::settings::show))
        .route("/settings/profile", post(pages::settings::save_profile))
        .route("/settings/signatures", get(pages::signatures::show).post(pages::signatures::save))
        .route("/settings/templates", get(pages::templates::show).post(pages::templates::save))
        .route("/settings/templates/{id}/delete", post(pages::templates::delete))
        .route("/settings/tokens", get(pages::tokens::list).post(pages::tokens::create))
        .route("/settings/tokens/{id}/revoke", post(pages::tokens::revoke))
        .route("/settings/time", get(pages::time_zone::show).post(pages::time_zone::save))
        .route("/healthz", get(pages::ops::healthz))
        .route("/readyz", get(pages::ops::readyz))
        .route("/metrics", get(pages::ops::metrics))
        .route("/static/app.css", get(pages::assets::css))
        .route("/static/app.js", get(pages::assets::js))
        .route("/static/favicon.svg", get(pages::assets::favicon))
        .route("/favicon.ico", get(pages::assets::favicon))
        .nest("/api/v1", api::router().layer(panics::api_layer()))
        .fallback(pages::not_found);

    pages
        .layer(panics::page_layer())
        .layer(from_fn_with_state(state.clone(), input::refuse_nul))
        .layer(from_fn_with_state(state.clone(), csrf::verify))
        .layer(from_fn_with_state(state.clone(), errors::render))
        .layer(from_fn_with_state(state.clone(), viewer::resolve))
        .layer(from_fn_with_state(state.clone(), telemetry::track))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            // The path only: query strings may carry codes and tokens (the OAuth callback).
            let id = request.extensions().get::<panics::RequestId>().map_or("", |id| id.0.as_str());
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(panics::last_resort_layer())
        .layer(axum::middleware::from_fn(panics::tag))
        .layer(security_header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security_header(header::REFERRER_POLICY, "same-origin"))
        .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
        // Pages and API answers hold mail and are the user's alone: no cache, shared or the
        // browser's own, keeps them (the back button after signing out shows nothing). Static
        // files and inline images say otherwise themselves.
        .layer(security_header(header::CACHE_CONTROL, "no-store"))
        .with_state(state)
}

/// The pages' Content-Security-Policy. A page whose form leads to a provider widens `form-action`
/// (see `pages::accounts`), since browsers apply it to the redirect after the form too.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of a page shown in a frame of Mailroom's own (the compose page in a panel over the
/// mail view): as [`CONTENT_SECURITY_POLICY`], but its own pages may frame it.
pub(crate) const FRAMED_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'";

/// Lets Mailroom's own pages (and no other site) frame `response`.
pub(crate) fn framed_by_own_pages(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(FRAMED_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    response
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}
