//! The simulator's state: users and their mailboxes, registered OAuth clients, codes and tokens,
//! the clock and the request log. One mutex guards it all; handlers lock, change, unlock, and never
//! hold it across an await, which keeps every answer consistent and the code simple.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::{SimConfig, gmail, graph};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Google,
    Microsoft,
}

/// A person with a mailbox at one provider.
#[derive(Debug, Clone, Serialize)]
pub struct SimUser {
    pub email: String,
    pub name: String,
    pub provider: ProviderKind,
}

impl SimUser {
    /// Parses `google:a@x.test`, `microsoft:b@y.test` or a bare address; a bare address belongs to
    /// Microsoft when its domain is one of Microsoft's consumer domains or a tenant domain, else to
    /// Google.
    pub fn parse(spec: &str) -> Option<SimUser> {
        let (provider, email) = match spec.trim().split_once(':') {
            Some(("google", email)) => (Some(ProviderKind::Google), email),
            Some(("microsoft", email)) => (Some(ProviderKind::Microsoft), email),
            Some(_) => return None,
            None => (None, spec.trim()),
        };
        let email = email.trim().to_lowercase();
        let (local, domain) = email.split_once('@')?;
        if local.is_empty() || domain.is_empty() {
            return None;
        }
        let microsoft_domain = ["outlook.com", "hotmail.com", "live.com", "msn.com"].contains(&domain)
            || domain.ends_with(".onmicrosoft.com")
            || domain.starts_with("outlook.");
        let provider =
            provider.unwrap_or(if microsoft_domain { ProviderKind::Microsoft } else { ProviderKind::Google });
        let name = local
            .split(['.', '_', '-'])
            .filter(|p| !p.is_empty())
            .map(|p| {
                let mut chars = p.chars();
                chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ");
        Some(SimUser { email, name, provider })
    }
}

/// An OAuth client registered with a provider, as an administrator registers Mailroom.
#[derive(Debug, Clone, Serialize)]
pub struct SimClient {
    pub provider: ProviderKind,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
}

/// The simulator's clock: real time plus an offset tests can advance.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        real + self.offset_ms.load(Ordering::Relaxed)
    }

    pub fn now_secs(&self) -> i64 {
        self.now_ms() / 1000
    }

    pub fn advance(&self, secs: i64) {
        self.offset_ms.fetch_add(secs * 1000, Ordering::Relaxed);
    }
}

/// A user's mailbox, in the provider's own model.
pub enum Mailbox {
    Gmail(gmail::Mailbox),
    Graph(graph::Mailbox),
}

pub struct UserEntry {
    pub user: SimUser,
    pub mailbox: Mailbox,
}

pub struct AuthCode {
    pub provider: ProviderKind,
    pub email: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    /// `(challenge, method)` when the request used PKCE.
    pub pkce: Option<(String, String)>,
    /// Whether a refresh token is issued with the tokens (Google: `access_type=offline`;
    /// Microsoft: the `offline_access` scope).
    pub offline: bool,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub provider: ProviderKind,
    pub email: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub provider: ProviderKind,
    pub email: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// Set when the token was used (Microsoft rotation) or the grant revoked; why, for the error.
    pub dead: Option<DeadReason>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadReason {
    Used,
    Revoked,
}

/// One request as the simulator saw it, for tests and demos.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    /// The query string as sent, so that tests can check the options a client asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The `Prefer` header as sent (Graph's preferences, such as `IdType="ImmutableId"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefer: Option<String>,
    pub status: u16,
    /// Gmail quota units the request cost (0 elsewhere).
    pub units: u32,
    pub user: Option<String>,
    /// The status of each call of a Gmail batch request, in order (empty for other requests): a
    /// batch answers 200 even when calls inside it were refused, and Google counts each call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<u16>,
    /// The request's JSON body, when [`SimConfig::record_bodies`] is on and it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<serde_json::Value>,
    /// The answer's JSON body, likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<serde_json::Value>,
}

/// The body as JSON when `headers` say it is JSON and it parses.
fn json_body(headers: &HeaderMap, bytes: &[u8]) -> Option<serde_json::Value> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    if !content_type.to_ascii_lowercase().contains("json") {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

/// Set by handlers on their response: the quota units spent and the user they were spent for.
#[derive(Debug, Clone)]
pub struct Spent {
    pub units: u32,
    pub user: String,
}

/// Set by the batch handler on its response: the status of each call, for the log.
#[derive(Debug, Clone)]
pub struct PartStatuses(pub Vec<u16>);

pub struct World {
    pub users: BTreeMap<String, UserEntry>,
    pub clients: Vec<SimClient>,
    pub codes: HashMap<String, AuthCode>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    pub log: Vec<LogEntry>,
    pub rng: StdRng,
    /// Users who have consented to a client: `(email, client_id)`. Google issues a refresh token
    /// only on a user's first consent to a client, or again with `prompt=consent`.
    pub consents: std::collections::HashSet<(String, String)>,
}

impl World {
    /// A random token of `bytes` bytes, base64url, with a provider-like prefix.
    pub fn token(&mut self, prefix: &str, bytes: usize) -> String {
        use base64::Engine as _;
        let mut buf = vec![0u8; bytes];
        self.rng.fill(buf.as_mut_slice());
        format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
    }

    pub fn user(&self, email: &str) -> Option<&UserEntry> {
        self.users.get(&email.to_lowercase())
    }

    pub fn gmail(&mut self, email: &str) -> Option<&mut gmail::Mailbox> {
        match self.users.get_mut(&email.to_lowercase()).map(|u| &mut u.mailbox) {
            Some(Mailbox::Gmail(mailbox)) => Some(mailbox),
            _ => None,
        }
    }

    pub fn graph(&mut self, email: &str) -> Option<&mut graph::Mailbox> {
        match self.users.get_mut(&email.to_lowercase()).map(|u| &mut u.mailbox) {
            Some(Mailbox::Graph(mailbox)) => Some(mailbox),
            _ => None,
        }
    }

    /// Ends every token of a user at a provider: the user revoked Mailroom's access.
    pub fn revoke_grants(&mut self, email: &str) {
        let email = email.to_lowercase();
        self.access_tokens.retain(|_, t| t.email != email);
        for token in self.refresh_tokens.values_mut().filter(|t| t.email == email) {
            token.dead = Some(DeadReason::Revoked);
        }
    }
}

struct Inner {
    config: SimConfig,
    faults: Mutex<crate::Faults>,
    quotas: Mutex<Quotas>,
    clock: Clock,
    base_url: Mutex<String>,
    world: Mutex<World>,
}

/// The limits each provider keeps, changeable while the simulator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quotas {
    /// Gmail quota units per user per minute.
    pub gmail_user_units_per_minute: u32,
    /// Graph requests per app and mailbox in 10 minutes.
    pub graph_requests_per_10_minutes: u32,
    /// Graph requests in flight per mailbox.
    pub graph_concurrency: u32,
    /// The window Gmail's units are counted over, in milliseconds: a minute.
    #[serde(default = "minute_ms")]
    pub gmail_window_ms: i64,
    /// The window Graph's requests are counted over, in milliseconds: ten minutes.
    #[serde(default = "ten_minutes_ms")]
    pub graph_window_ms: i64,
}

fn minute_ms() -> i64 {
    60_000
}

fn ten_minutes_ms() -> i64 {
    600_000
}

fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Quotas {
    fn of(config: &SimConfig) -> Quotas {
        Quotas {
            gmail_user_units_per_minute: config.gmail_user_units_per_minute,
            graph_requests_per_10_minutes: config.graph_requests_per_10_minutes,
            graph_concurrency: config.graph_concurrency,
            gmail_window_ms: millis(config.gmail_quota_window),
            graph_window_ms: millis(config.graph_quota_window),
        }
    }
}

/// The simulator's shared state. Cheap to clone.
#[derive(Clone)]
pub struct SimState(Arc<Inner>);

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Invalid,
    Expired,
}

/// Who an API request acts for.
#[derive(Debug, Clone)]
pub struct Caller {
    pub email: String,
    pub scopes: Vec<String>,
}

impl SimState {
    pub fn new(config: SimConfig) -> SimState {
        let rng = StdRng::seed_from_u64(config.faults.seed);
        let world = World {
            users: BTreeMap::new(),
            clients: Vec::new(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            log: Vec::new(),
            rng,
            consents: std::collections::HashSet::new(),
        };
        SimState(Arc::new(Inner {
            faults: Mutex::new(config.faults.clone()),
            quotas: Mutex::new(Quotas::of(&config)),
            config,
            clock: Clock::default(),
            base_url: Mutex::new("http://127.0.0.1".to_owned()),
            world: Mutex::new(world),
        }))
    }

    pub fn config(&self) -> &SimConfig {
        &self.0.config
    }

    /// The quotas in force now: the configuration's at first; the control API can change them
    /// while running, as a provider lowers a project's quota or throttles a mailbox.
    pub fn quotas(&self) -> Quotas {
        *self.0.quotas.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set_quotas(&self, quotas: Quotas) {
        *self.0.quotas.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = quotas;
    }

    /// The faults in force now; the control API can change them while running.
    pub fn faults(&self) -> crate::Faults {
        self.0.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn set_faults(&self, faults: crate::Faults) {
        *self.0.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = faults;
    }

    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// The world, locked. A panic elsewhere while it was held does not make it unusable: the
    /// simulator keeps answering, which is what a test of our client needs.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.0.world.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn base_url(&self) -> String {
        self.0.base_url.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub(crate) fn set_base_url(&self, url: String) {
        *self.0.base_url.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = url;
    }

    /// Adds a user with an empty mailbox of their provider's kind. Adding an existing address
    /// changes nothing.
    pub fn add_user(&self, user: SimUser) {
        let now_ms = self.clock().now_ms();
        let mut world = self.world();
        let key = user.email.to_lowercase();
        if world.users.contains_key(&key) {
            return;
        }
        let mailbox = match user.provider {
            ProviderKind::Google => Mailbox::Gmail(gmail::Mailbox::new(&user, now_ms)),
            ProviderKind::Microsoft => Mailbox::Graph(graph::Mailbox::new(&user, now_ms)),
        };
        world.users.insert(key, UserEntry { user, mailbox });
    }

    pub fn add_client(&self, client: SimClient) {
        let mut world = self.world();
        world.clients.retain(|c| !(c.provider == client.provider && c.client_id == client.client_id));
        world.clients.push(client);
    }

    /// The user an API request with these headers acts for, if its bearer token is a live access
    /// token of `provider`.
    pub fn authenticate(&self, headers: &HeaderMap, provider: ProviderKind) -> Result<Caller, AuthFailure> {
        let token = bearer(headers).ok_or(AuthFailure::Missing)?;
        let now = self.clock().now_secs();
        let world = self.world();
        let access = world.access_tokens.get(token).filter(|t| t.provider == provider).ok_or(AuthFailure::Invalid)?;
        if access.expires_at <= now {
            return Err(AuthFailure::Expired);
        }
        Ok(Caller { email: access.email.clone(), scopes: access.scopes.clone() })
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

/// Records every request in the log, with the quota units its handler reported.
pub async fn log_request(State(state): State<SimState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let prefer = request.headers().get_all("prefer").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
    let prefer = (!prefer.is_empty()).then(|| prefer.join(", "));
    let record = state.config().record_bodies && !path.starts_with("/_sim/");
    let (request, request_body) = match record {
        false => (request, None),
        true => {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let json = json_body(&parts.headers, &bytes);
            (Request::from_parts(parts, axum::body::Body::from(bytes)), json)
        }
    };
    let response = next.run(request).await;
    if path.starts_with("/_sim/") {
        return response;
    }
    let (response, response_body) = match record {
        false => (response, None),
        true => {
            let (parts, body) = response.into_parts();
            match axum::body::to_bytes(body, usize::MAX).await {
                Ok(bytes) => {
                    let json = json_body(&parts.headers, &bytes);
                    (Response::from_parts(parts, axum::body::Body::from(bytes)), json)
                }
                // A dropped connection stays dropped.
                Err(_) => {
                    let failing = axum::body::Body::from_stream(crate::faults::futures_fail());
                    (Response::from_parts(parts, failing), None)
                }
            }
        }
    };
    let spent = response.extensions().get::<Spent>().cloned();
    let parts = response.extensions().get::<PartStatuses>().map(|p| p.0.clone()).unwrap_or_default();
    let entry = LogEntry {
        at_ms: state.clock().now_ms(),
        method,
        path,
        query,
        prefer,
        status: response.status().as_u16(),
        units: spent.as_ref().map_or(0, |s| s.units),
        user: spent.map(|s| s.user),
        parts,
        request_body,
        response_body,
    };
    state.world().log.push(entry);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_specs_pick_the_provider() {
        let ann = SimUser::parse("ann.lee@example.test").unwrap();
        assert_eq!((ann.provider, ann.name.as_str()), (ProviderKind::Google, "Ann Lee"));
        assert_eq!(SimUser::parse("bob@outlook.com").unwrap().provider, ProviderKind::Microsoft);
        assert_eq!(SimUser::parse("microsoft:Carl@Example.test").unwrap().email, "carl@example.test");
        assert!(SimUser::parse("yahoo:x@y.test").is_none());
        assert!(SimUser::parse("nobody").is_none());
    }
}
