//! The OAuth flows and profile calls against the real simulator on a free port: two Google users
//! and Carl at Microsoft, one registered client at each provider.

use std::collections::HashMap;
use std::net::SocketAddr;

use mailroom_domain::{MicrosoftTenant, Provider};
use mailroom_providers::{
    ApiError, Endpoints, OAuthApp, OAuthError, Pkce, Providers, TokenSet, authorization_url, default_scopes,
};
use mailroom_sim::{ProviderKind, RunningSim, SimClient, SimConfig, SimState, SimUser};
use secrecy::{ExposeSecret, SecretString};

const GOOGLE_CLIENT: &str = "test-client.apps.googleusercontent.com";
const GOOGLE_SECRET: &str = "GOCSPX-test-secret";
const MICROSOFT_CLIENT: &str = "11111111-2222-4333-8444-555555555555";
const MICROSOFT_SECRET: &str = "ms~test~secret";
const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";
const ANN: &str = "ann@example.test";
const BEN: &str = "ben@example.test";
const CARL: &str = "carl@contoso.onmicrosoft.com";

struct Sim {
    running: RunningSim,
    endpoints: Endpoints,
    providers: Providers,
    browser: reqwest::Client,
}

impl Sim {
    async fn start() -> Sim {
        // Bodies recorded, for the check of every Graph request against the OpenAPI document.
        let state = SimState::new(SimConfig { auto_consent: true, record_bodies: true, ..SimConfig::default() });
        for user in [ANN, BEN, &format!("microsoft:{CARL}")] {
            state.add_user(SimUser::parse(user).expect("a user spec"));
        }
        state.add_client(SimClient {
            provider: ProviderKind::Google,
            client_id: GOOGLE_CLIENT.into(),
            client_secret: GOOGLE_SECRET.into(),
            redirect_uris: vec![REDIRECT.into()],
        });
        state.add_client(SimClient {
            provider: ProviderKind::Microsoft,
            client_id: MICROSOFT_CLIENT.into(),
            client_secret: MICROSOFT_SECRET.into(),
            redirect_uris: vec![REDIRECT.into()],
        });
        let running = RunningSim::start(SocketAddr::from(([127, 0, 0, 1], 0)), state).await.expect("the simulator");
        let endpoints = endpoints_at(&running.base_url());
        let providers = Providers::new(endpoints.clone());
        let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a client");
        Sim { running, endpoints, providers, browser }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    /// Plays the browser: opens the authorization URL and returns the `code` the redirect
    /// carries, after checking it also carries our `state`.
    async fn authorize(&self, app: &OAuthApp, pkce: &Pkce, email: &str) -> String {
        let url = authorization_url(app, &self.endpoints, "state-123", &pkce.challenge, Some(email));
        let response = self.browser.get(url).send().await.expect("the authorization endpoint answers");
        assert!(response.status().is_redirection(), "expected a redirect, got {}", response.status());
        let location = response.headers()["location"].to_str().expect("an ascii location").to_owned();
        assert!(location.starts_with(REDIRECT), "{location}");
        let query: HashMap<String, String> = url::Url::parse(&location)
            .expect("a url")
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(query.get("state").map(String::as_str), Some("state-123"), "{location}");
        query.get("code").cloned().unwrap_or_else(|| panic!("no code in {location}"))
    }

    /// The whole flow: authorize as `email`, then exchange the code.
    async fn connect(&self, app: &OAuthApp, email: &str) -> TokenSet {
        let pkce = Pkce::generate();
        let code = self.authorize(app, &pkce, email).await;
        self.providers.exchange_code(app, &code, &pkce.verifier, now()).await.expect("the exchange succeeds")
    }

    async fn set_faults(&self, faults: serde_json::Value) {
        let response = self.browser.put(self.url("/_sim/faults")).json(&faults).send().await.expect("control api");
        assert!(response.status().is_success(), "{}", response.status());
    }

    async fn revoke_grants(&self, email: &str) {
        let response =
            self.browser.post(self.url(&format!("/_sim/users/{email}/revoke"))).send().await.expect("control api");
        assert!(response.status().is_success(), "{}", response.status());
    }
}

/// The endpoints as Mailroom's configuration reads them from the simulator's `MAILROOM_*` pairs.
fn endpoints_at(base: &str) -> Endpoints {
    let env: HashMap<String, String> =
        mailroom_sim::mailroom_endpoints(base).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let config = mailroom_config::Config::load(None, &env).expect("the simulator's endpoints are valid settings");
    Endpoints::from(&config)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn google_app() -> OAuthApp {
    OAuthApp {
        provider: Provider::Google,
        client_id: GOOGLE_CLIENT.into(),
        client_secret: SecretString::from(GOOGLE_SECRET),
        tenant: MicrosoftTenant::common(),
        redirect_uri: REDIRECT.into(),
        scopes: default_scopes(Provider::Google),
    }
}

fn microsoft_app() -> OAuthApp {
    OAuthApp {
        provider: Provider::Microsoft,
        client_id: MICROSOFT_CLIENT.into(),
        client_secret: SecretString::from(MICROSOFT_SECRET),
        tenant: MicrosoftTenant::parse("contoso.onmicrosoft.com").expect("a tenant"),
        redirect_uri: REDIRECT.into(),
        scopes: default_scopes(Provider::Microsoft),
    }
}

fn query_of(url: &url::Url) -> HashMap<String, String> {
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn refresh_token(tokens: &TokenSet) -> SecretString {
    tokens.refresh_token.clone().expect("a refresh token")
}

#[test]
fn the_google_authorization_url_asks_for_offline_access_consent_and_pkce() {
    let endpoints = endpoints_at("http://sim.test");
    let url = authorization_url(&google_app(), &endpoints, "s t/ate", "challenge-abc", Some(ANN));
    assert!(url.as_str().starts_with("http://sim.test/google/o/oauth2/v2/auth?"), "{url}");
    let query = query_of(&url);
    let expected = [
        ("client_id", GOOGLE_CLIENT),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("include_granted_scopes", "true"),
        ("state", "s t/ate"),
        ("code_challenge", "challenge-abc"),
        ("code_challenge_method", "S256"),
        ("login_hint", ANN),
    ];
    for (key, value) in expected {
        assert_eq!(query.get(key).map(String::as_str), Some(value), "{key} in {url}");
    }
    assert_eq!(query["scope"], default_scopes(Provider::Google).join(" "));
    assert!(query["scope"].contains("https://www.googleapis.com/auth/gmail.settings.basic"));
    assert!(!query.contains_key("response_mode"));
}

#[test]
fn the_microsoft_authorization_url_uses_the_apps_tenant_and_the_query_response_mode() {
    let endpoints = endpoints_at("http://sim.test");
    let url = authorization_url(&microsoft_app(), &endpoints, "xyz", "challenge-abc", None);
    assert!(
        url.as_str().starts_with("http://sim.test/microsoft/contoso.onmicrosoft.com/oauth2/v2.0/authorize?"),
        "{url}"
    );
    let query = query_of(&url);
    let expected = [
        ("client_id", MICROSOFT_CLIENT),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("response_mode", "query"),
        ("state", "xyz"),
        ("code_challenge", "challenge-abc"),
        ("code_challenge_method", "S256"),
        ("scope", "openid profile email offline_access User.Read Mail.ReadWrite Mail.Send"),
    ];
    for (key, value) in expected {
        assert_eq!(query.get(key).map(String::as_str), Some(value), "{key} in {url}");
    }
    assert!(!query.contains_key("login_hint"));
    assert!(!query.contains_key("access_type"));
}

#[test]
fn the_default_endpoints_are_the_real_providers() {
    let config = mailroom_config::Config::load(None, &HashMap::new()).expect("the defaults are valid");
    let url = authorization_url(&microsoft_app(), &Endpoints::from(&config), "s", "c", None);
    assert_eq!(url.host_str(), Some("login.microsoftonline.com"));
    assert!(url.path().starts_with("/contoso.onmicrosoft.com/"));
}

#[tokio::test]
async fn a_google_code_exchange_gives_an_access_token_a_refresh_token_and_the_scopes() {
    let sim = Sim::start().await;
    let before = now();
    let tokens = sim.connect(&google_app(), ANN).await;
    assert!(tokens.access_token.expose_secret().starts_with("ya29."));
    assert!(tokens.refresh_token.is_some());
    assert!((before + 3590..=now() + 3600).contains(&tokens.expires_at), "{}", tokens.expires_at);
    assert_eq!(tokens.scopes, default_scopes(Provider::Google));
    assert!(!format!("{tokens:?}").contains(tokens.access_token.expose_secret()));
}

#[tokio::test]
async fn a_microsoft_code_exchange_gives_tokens_with_the_full_graph_scope_names() {
    let sim = Sim::start().await;
    let tokens = sim.connect(&microsoft_app(), CARL).await;
    assert!(!tokens.access_token.expose_secret().is_empty());
    assert!(tokens.refresh_token.is_some());
    assert!(tokens.scopes.contains(&"https://graph.microsoft.com/Mail.ReadWrite".to_owned()), "{:?}", tokens.scopes);
    assert!(tokens.scopes.contains(&"offline_access".to_owned()));
}

#[tokio::test]
async fn the_google_profile_names_the_account_and_its_verified_send_as_addresses() {
    let sim = Sim::start().await;
    let tokens = sim.connect(&google_app(), BEN).await;
    let profile = sim.providers.mailbox_profile(Provider::Google, &tokens.access_token).await.expect("a profile");
    assert_eq!(profile.address, BEN);
    assert_eq!(profile.display_name.as_deref(), Some("Ben"));
    assert!(!profile.remote_id.is_empty() && profile.remote_id.chars().all(|c| c.is_ascii_digit()), "{profile:?}");
    assert_eq!(
        profile.identities,
        vec![mailroom_providers::Identity { address: BEN.into(), name: Some("Ben".into()), is_default: true }]
    );
    // The subject is stable across connections.
    let again = sim.connect(&google_app(), BEN).await;
    let second = sim.providers.mailbox_profile(Provider::Google, &again.access_token).await.expect("a profile");
    assert_eq!(second.remote_id, profile.remote_id);
}

#[tokio::test]
async fn the_microsoft_profile_lists_the_proxy_addresses_with_the_primary_as_default() {
    let sim = Sim::start().await;
    let tokens = sim.connect(&microsoft_app(), CARL).await;
    let profile = sim.providers.mailbox_profile(Provider::Microsoft, &tokens.access_token).await.expect("a profile");
    assert_eq!(profile.address, CARL);
    assert_eq!(profile.display_name.as_deref(), Some("Carl"));
    assert_eq!(profile.remote_id.len(), 36, "a GUID: {}", profile.remote_id);
    let addresses: Vec<(&str, bool)> = profile.identities.iter().map(|i| (i.address.as_str(), i.is_default)).collect();
    assert_eq!(addresses, vec![(CARL, true), ("carl@contoso.mail.onmicrosoft.com", false)]);
    assert!(profile.identities.iter().all(|i| i.name.as_deref() == Some("Carl")));
}

#[tokio::test]
async fn a_google_refresh_keeps_the_refresh_token_which_keeps_working() {
    let sim = Sim::start().await;
    let app = google_app();
    let first = sim.connect(&app, ANN).await;
    let original = refresh_token(&first);
    let refreshed = sim.providers.refresh(&app, &original, now()).await.expect("a refresh");
    assert_ne!(refreshed.access_token.expose_secret(), first.access_token.expose_secret());
    assert_eq!(refresh_token(&refreshed).expose_secret(), original.expose_secret());
    let again = sim.providers.refresh(&app, &original, now()).await.expect("a second refresh");
    let profile = sim.providers.mailbox_profile(Provider::Google, &again.access_token).await.expect("a profile");
    assert_eq!(profile.address, ANN);
}

#[tokio::test]
async fn a_microsoft_refresh_rotates_the_refresh_token_and_the_old_one_then_needs_reauthorization() {
    let sim = Sim::start().await;
    let app = microsoft_app();
    let first = sim.connect(&app, CARL).await;
    let old = refresh_token(&first);
    let refreshed = sim.providers.refresh(&app, &old, now()).await.expect("a refresh");
    let new = refresh_token(&refreshed);
    assert_ne!(new.expose_secret(), old.expose_secret());
    let error = sim.providers.refresh(&app, &old, now()).await.expect_err("the old token is used up");
    assert!(
        matches!(&error, OAuthError::ReauthorizationRequired { error, codes } if error == "invalid_grant" && codes == &[70008]),
        "{error:?}"
    );
    let third = sim.providers.refresh(&app, &new, now()).await.expect("the new token works");
    let profile = sim.providers.mailbox_profile(Provider::Microsoft, &third.access_token).await.expect("a profile");
    assert_eq!(profile.address, CARL);
}

#[tokio::test]
async fn a_grant_revoked_at_the_provider_needs_reauthorization_on_refresh() {
    let sim = Sim::start().await;
    let google = sim.connect(&google_app(), ANN).await;
    let microsoft = sim.connect(&microsoft_app(), CARL).await;
    sim.revoke_grants(ANN).await;
    sim.revoke_grants(CARL).await;
    let error = sim.providers.refresh(&google_app(), &refresh_token(&google), now()).await.expect_err("revoked");
    assert!(
        matches!(&error, OAuthError::ReauthorizationRequired { error, .. } if error == "invalid_grant"),
        "{error:?}"
    );
    let error = sim.providers.refresh(&microsoft_app(), &refresh_token(&microsoft), now()).await.expect_err("revoked");
    assert!(matches!(&error, OAuthError::ReauthorizationRequired { codes, .. } if codes == &[50173]), "{error:?}");
}

#[tokio::test]
async fn revoking_ends_a_google_grant_and_is_a_no_op_for_microsoft() {
    let sim = Sim::start().await;
    let app = google_app();
    let tokens = sim.connect(&app, ANN).await;
    let refresh = refresh_token(&tokens);
    sim.providers.revoke(&app, &refresh).await.expect("revoked");
    let error = sim.providers.refresh(&app, &refresh, now()).await.expect_err("the grant is gone");
    assert!(matches!(error, OAuthError::ReauthorizationRequired { .. }), "{error:?}");
    // A token Google no longer knows counts as revoked.
    sim.providers.revoke(&app, &refresh).await.expect("already revoked is fine");

    let microsoft = sim.connect(&microsoft_app(), CARL).await;
    sim.providers.revoke(&microsoft_app(), &refresh_token(&microsoft)).await.expect("nothing to call");
    sim.providers.refresh(&microsoft_app(), &refresh_token(&microsoft), now()).await.expect("still alive");
}

#[tokio::test]
async fn a_wrong_client_secret_is_an_invalid_client_for_both_providers() {
    let sim = Sim::start().await;
    for (app, email) in [(google_app(), ANN), (microsoft_app(), CARL)] {
        let pkce = Pkce::generate();
        let code = sim.authorize(&app, &pkce, email).await;
        let wrong = OAuthApp { client_secret: SecretString::from("not-the-secret"), ..app.clone() };
        let error = sim.providers.exchange_code(&wrong, &code, &pkce.verifier, now()).await.expect_err("refused");
        assert!(matches!(&error, OAuthError::InvalidClient { error } if error == "invalid_client"), "{error:?}");
        let tokens = sim.connect(&app, email).await;
        let error = sim.providers.refresh(&wrong, &refresh_token(&tokens), now()).await.expect_err("refused");
        assert!(matches!(error, OAuthError::InvalidClient { .. }), "{error:?}");
    }
}

#[tokio::test]
async fn a_pkce_verifier_mismatch_on_exchange_is_rejected_not_a_reauthorization() {
    let sim = Sim::start().await;
    for (app, email) in [(google_app(), ANN), (microsoft_app(), CARL)] {
        let pkce = Pkce::generate();
        let code = sim.authorize(&app, &pkce, email).await;
        let other = Pkce::generate();
        let error = sim.providers.exchange_code(&app, &code, &other.verifier, now()).await.expect_err("mismatch");
        assert!(matches!(&error, OAuthError::Rejected { error, .. } if error == "invalid_grant"), "{error:?}");
        // The code was used up by the failed attempt: retrying it is rejected too.
        let error = sim.providers.exchange_code(&app, &code, &pkce.verifier, now()).await.expect_err("used");
        assert!(matches!(error, OAuthError::Rejected { .. }), "{error:?}");
    }
}

#[tokio::test]
async fn asking_microsoft_for_scopes_never_consented_to_requires_consent() {
    let sim = Sim::start().await;
    let app = microsoft_app();
    let tokens = sim.connect(&app, CARL).await;
    let mut wider = app.clone();
    wider.scopes.push("Calendars.Read".into());
    let error = sim.providers.refresh(&wider, &refresh_token(&tokens), now()).await.expect_err("no consent");
    assert!(matches!(&error, OAuthError::ConsentRequired { codes, .. } if codes == &[65001]), "{error:?}");
}

#[tokio::test]
async fn server_errors_are_transient_on_token_and_api_calls() {
    let sim = Sim::start().await;
    let google = sim.connect(&google_app(), ANN).await;
    let microsoft = sim.connect(&microsoft_app(), CARL).await;
    sim.set_faults(serde_json::json!({"error_rate": 1.0})).await;
    for (app, tokens) in [(google_app(), &google), (microsoft_app(), &microsoft)] {
        let error = sim.providers.refresh(&app, &refresh_token(tokens), now()).await.expect_err("a server error");
        assert!(matches!(error, OAuthError::Transient { .. }), "{error:?}");
        let error = sim.providers.mailbox_profile(app.provider, &tokens.access_token).await.expect_err("5xx");
        assert!(matches!(error, ApiError::Transient { .. }), "{error:?}");
    }
    // The simulator answers half of them 503 with `Retry-After: 1`, which comes through.
    let mut waits = Vec::new();
    for _ in 0..20 {
        match sim.providers.refresh(&google_app(), &refresh_token(&google), now()).await {
            Err(OAuthError::Transient { retry_after, .. }) => waits.push(retry_after),
            other => panic!("expected a transient error, got {other:?}"),
        }
    }
    assert!(waits.contains(&Some(std::time::Duration::from_secs(1))), "{waits:?}");
    sim.set_faults(serde_json::json!({})).await;
    sim.providers.refresh(&google_app(), &refresh_token(&google), now()).await.expect("the grant survived");
}

#[tokio::test]
async fn a_dropped_connection_is_transient() {
    let sim = Sim::start().await;
    let google = sim.connect(&google_app(), ANN).await;
    let microsoft = sim.connect(&microsoft_app(), CARL).await;
    sim.set_faults(serde_json::json!({"drop_rate": 1.0})).await;
    for (app, tokens) in [(google_app(), &google), (microsoft_app(), &microsoft)] {
        let pkce = Pkce::generate();
        let error = sim.providers.exchange_code(&app, "some-code", &pkce.verifier, now()).await.expect_err("dropped");
        assert!(matches!(error, OAuthError::Transient { retry_after: None, .. }), "{error:?}");
        let error = sim.providers.refresh(&app, &refresh_token(tokens), now()).await.expect_err("dropped");
        assert!(matches!(error, OAuthError::Transient { .. }), "{error:?}");
        let error = sim.providers.mailbox_profile(app.provider, &tokens.access_token).await.expect_err("dropped");
        assert!(matches!(error, ApiError::Transient { .. }), "{error:?}");
    }
}

#[tokio::test]
async fn an_unreachable_provider_is_transient() {
    // A port nothing listens on: bind one, learn its number, close it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    drop(listener);
    let providers = Providers::new(endpoints_at(&base));
    let error = providers.refresh(&google_app(), &SecretString::from("1//token"), now()).await.expect_err("refused");
    assert!(
        matches!(&error, OAuthError::Transient { reason, .. } if reason.starts_with("could not connect")),
        "{error:?}"
    );
    assert!(!error.to_string().contains(&base), "{error}");
}

#[tokio::test]
async fn an_expired_access_token_makes_the_profile_unauthorized_until_refreshed() {
    let sim = Sim::start().await;
    let google = sim.connect(&google_app(), ANN).await;
    let microsoft = sim.connect(&microsoft_app(), CARL).await;
    sim.running.state.clock().advance(3700);
    for (app, tokens) in [(google_app(), &google), (microsoft_app(), &microsoft)] {
        let error = sim.providers.mailbox_profile(app.provider, &tokens.access_token).await.expect_err("expired");
        assert!(matches!(error, ApiError::Unauthorized), "{error:?}");
        let fresh = sim.providers.refresh(&app, &refresh_token(tokens), now()).await.expect("a refresh");
        sim.providers.mailbox_profile(app.provider, &fresh.access_token).await.expect("a profile");
    }
}

/// Every variant, made from real answers where the simulator gives them, shows neither the
/// tokens, the code, the verifier nor the secrets; messages are lowercase without a final period.
#[tokio::test]
async fn no_error_message_contains_a_token_code_verifier_or_secret() {
    let sim = Sim::start().await;
    let app = microsoft_app();
    let tokens = sim.connect(&app, CARL).await;
    let pkce = Pkce::generate();
    let code = sim.authorize(&app, &pkce, CARL).await;
    let wrong = OAuthApp { client_secret: SecretString::from("wrong-secret-value"), ..app.clone() };
    let mut secrets = vec![
        tokens.access_token.expose_secret().to_owned(),
        refresh_token(&tokens).expose_secret().to_owned(),
        code.clone(),
        pkce.verifier.expose_secret().to_owned(),
        MICROSOFT_SECRET.to_owned(),
        GOOGLE_SECRET.to_owned(),
        "wrong-secret-value".to_owned(),
    ];
    let mut oauth_errors = vec![
        sim.providers.exchange_code(&wrong, &code, &pkce.verifier, now()).await.expect_err("invalid client"),
        sim.providers.exchange_code(&app, &code, &Pkce::generate().verifier, now()).await.expect_err("wrong verifier"),
    ];
    let refreshed = sim.providers.refresh(&app, &refresh_token(&tokens), now()).await.expect("a refresh");
    secrets.push(refreshed.access_token.expose_secret().to_owned());
    secrets.push(refresh_token(&refreshed).expose_secret().to_owned());
    oauth_errors.push(sim.providers.refresh(&app, &refresh_token(&tokens), now()).await.expect_err("used up"));
    let mut wider = app.clone();
    wider.scopes.push("Calendars.Read".into());
    oauth_errors.push(sim.providers.refresh(&wider, &refresh_token(&refreshed), now()).await.expect_err("consent"));
    sim.set_faults(serde_json::json!({"error_rate": 1.0})).await;
    oauth_errors.push(sim.providers.refresh(&app, &refresh_token(&refreshed), now()).await.expect_err("transient"));
    let mut api_errors =
        vec![sim.providers.mailbox_profile(Provider::Microsoft, &refreshed.access_token).await.expect_err("5xx")];
    sim.set_faults(serde_json::json!({})).await;
    sim.running.state.clock().advance(3700);
    api_errors
        .push(sim.providers.mailbox_profile(Provider::Microsoft, &refreshed.access_token).await.expect_err("401"));
    api_errors.extend([
        ApiError::Forbidden { message: "Request had insufficient authentication scopes".into() },
        ApiError::NotFound,
        ApiError::RateLimited { retry_after: Some(std::time::Duration::from_secs(30)) },
        ApiError::Permanent { status: 400, message: "bad request".into() },
    ]);
    let kinds = |e: &OAuthError| match e {
        OAuthError::ReauthorizationRequired { .. } => 0,
        OAuthError::ConsentRequired { .. } => 1,
        OAuthError::InvalidClient { .. } => 2,
        OAuthError::Transient { .. } => 3,
        OAuthError::Rejected { .. } => 4,
    };
    let mut seen: Vec<u8> = oauth_errors.iter().map(kinds).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, vec![0, 1, 2, 3, 4], "{oauth_errors:?}");
    let messages: Vec<String> = oauth_errors
        .iter()
        .map(|e| format!("{e} / {e:?}"))
        .chain(api_errors.iter().map(|e| format!("{e} / {e:?}")))
        .collect();
    for message in &messages {
        for secret in &secrets {
            assert!(!message.contains(secret.as_str()), "{message} contains a secret");
        }
    }
    for error in oauth_errors.iter().map(ToString::to_string).chain(api_errors.iter().map(ToString::to_string)) {
        assert!(error.starts_with(|c: char| c.is_lowercase()), "{error}");
        assert!(!error.ends_with('.'), "{error}");
    }
}

// ---- Gmail sync calls ----

fn gmail_message(subject: &str) -> Vec<u8> {
    format!(
        "From: Zed <zed@example.test>\r\nTo: {ANN}\r\nSubject: {subject}\r\nMessage-ID: <{}@example.test>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nHello about {subject}.\r\n",
        subject.replace(' ', "-")
    )
    .into_bytes()
}

impl Sim {
    /// Puts a message straight into a Gmail mailbox, received at `at_ms`.
    fn deliver_gmail(&self, email: &str, raw: Vec<u8>, labels: &[&str], at_ms: i64) -> String {
        self.running.state.world().gmail(email).expect("a Gmail user").deliver(raw, labels, at_ms)
    }

    fn sim_now_ms(&self) -> i64 {
        self.running.state.clock().now_ms()
    }

    async fn control_post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self.browser.post(self.url(path)).json(&body).send().await.expect("control api");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(serde_json::Value::Null)
    }
}

#[tokio::test]
async fn gmail_labels_include_the_inbox_as_a_system_label() {
    let sim = Sim::start().await;
    let tokens = sim.connect(&google_app(), ANN).await;
    let labels = sim.providers.gmail_labels(&tokens.access_token).await.expect("labels");
    let inbox = labels.iter().find(|l| l.id == "INBOX").unwrap_or_else(|| panic!("no INBOX in {labels:?}"));
    assert_eq!((inbox.name.as_str(), inbox.label_type.as_str()), ("INBOX", "system"));
    assert!(labels.iter().all(|l| l.label_type == "system" || l.label_type == "user"), "{labels:?}");
}

#[tokio::test]
async fn listing_gmail_messages_after_a_date_pages_through_only_the_newer_ones() {
    let sim = Sim::start().await;
    let tokens = sim.connect(&google_app(), ANN).await;
    let now_ms = sim.sim_now_ms();
    let ten_days_ms = 10 * 86_400_000;
    for n in 0..2 {
        sim.deliver_gmail(ANN, gmail_message(&format!("old {n}")), &["INBOX"], now_ms - ten_days_ms + n);
    }
    let mut expected: Vec<String> =
        (0..5).map(|n| sim.deliver_gmail(ANN, gmail_message(&format!("new {n}")), &["INBOX"], now_ms - n)).collect();
    let query = format!("after:{}", now_ms / 1000 - 86_400);
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut page_token: Option<String> = None;
    loop {
        let page = sim
            .providers
            .gmail_list_messages(&tokens.access_token, &query, None, page_token.as_deref(), 2)
            .await
            .expect("a page");
        sizes.push(page.ids.len());
        assert!(page.ids.iter().all(|(_, thread)| !thread.is_empty()), "{page:?}");
        seen.extend(page.ids.into_iter().map(|(id, _)| id));
        match page.next_page_token {
            Some(token) => page_token = Some(token),
            None => break,
        }
    }
    assert_eq!(sizes, vec![2, 2, 1]);
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_raw_gmail_message_comes_back_with_the_exact_bytes_delivered() {
    let sim = Sim::start().await;
    let tokens = sim.connect(&google_app(), ANN).await;
    let raw = "From: Zed <zed@example.test>\r\nTo: ann@example.test\r\nSubject: caf\u{e9} ??>>\r\n\r\nBody ~~~?\r\n";
    let created = sim
        .control_post(&format!("/_sim/users/{ANN}/messages"), serde_json::json!({"raw": raw, "labels": ["INBOX"]}))
        .await;
    let id = created["id"].as_str().expect("an id").to_owned();
    let message = sim.providers.gmail_get_raw(&tokens.access_token, &id).await.expect("the message");
    assert_eq!(message.id, id);
    assert_eq!(message.raw, raw.as_bytes());
    assert_eq!(message.label_ids, vec!["INBOX".to_owned()]);
    assert!(!message.thread_id.is_empty() && message.history_id > 0, "{message:?}");
    assert!((sim.sim_now_ms() - message.internal_date_ms).abs() < 60_000, "{message:?}");
    let missing = sim.providers.gmail_get_raw(&tokens.access_token, "ffffffffffffffff").await.expect_err("no such id");
    assert!(matches!(missing, ApiError::NotFound), "{missing:?}");
}

#[tokio::test]
async fn a_gmail_batch_with_one_unknown_id_gives_two_messages_and_one_not_found_in_order() {
    let sim = Sim::start().await;
    let tokens = sim.connect(&google_app(), ANN).await;
    let now_ms = sim.sim_now_ms();
    let first_raw = gmail_message("first");
    let second_raw = gmail_message("second");
    let first = sim.deliver_gmail(ANN, first_raw.clone(), &["INBOX"], now_ms);
    let second = sim.deliver_gmail(ANN, second_raw.clone(), &["INBOX", "STARRED"], now_ms);
    let ids = vec![first.clone(), "0123456789abcdef".to_owned(), second.clone()];
    let results = sim.providers.gmail_get_raw_batch(&tokens.access_token, &ids).await.expect("the batch");
    assert_eq!(results.len(), 3);
    let got = results[0].as_ref().expect("the first message");
    assert_eq!((got.id.as_str(), got.raw.as_slice()), (first.as_str(), first_raw.as_slice()));
    assert!(matches!(results[1], Err(ApiError::NotFound)), "{:?}", results[1]);
    let got = results[2].as_ref().expect("the second message");
    assert_eq!((got.id.as_str(), got.raw.as_slice()), (second.as_str(), second_raw.as_slice()));
    assert!(got.label_ids.contains(&"STARRED".to_owned()), "{got:?}");
}

#[tokio::test]
async fn gmail_history_from_a_stored_id_shows_labels_added_by_another_client() {
    let sim = Sim::start().await;
    let tokens = sim.connect(&google_app(), ANN).await;
    let id = sim.deliver_gmail(ANN, gmail_message("to star"), &["INBOX"], sim.sim_now_ms());
    let start = sim.providers.gmail_history_id(&tokens.access_token).await.expect("a history id");
    sim.control_post(&format!("/_sim/gmail/{ANN}/modify"), serde_json::json!({"id": id, "addLabelIds": ["STARRED"]}))
        .await;
    let page = sim.providers.gmail_history(&tokens.access_token, start, None).await.expect("history");
    assert!(page.history_id > start, "{page:?}");
    assert_eq!(page.next_page_token, None);
    let added: Vec<&(String, Vec<String>)> = page.records.iter().flat_map(|r| &r.labels_added).collect();
    assert_eq!(added, vec![&(id.clone(), vec!["STARRED".to_owned()])], "{page:?}");
    assert!(page.records.iter().all(|r| r.id > start), "{page:?}");
    let now = sim.providers.gmail_history_id(&tokens.access_token).await.expect("a history id");
    let empty = sim.providers.gmail_history(&tokens.access_token, now, None).await.expect("history");
    assert!(empty.records.is_empty(), "{empty:?}");
}

#[tokio::test]
async fn gmail_history_from_an_expired_id_is_not_found() {
    let sim = Sim::start().await;
    let tokens = sim.connect(&google_app(), ANN).await;
    sim.deliver_gmail(ANN, gmail_message("before"), &["INBOX"], sim.sim_now_ms());
    let start = sim.providers.gmail_history_id(&tokens.access_token).await.expect("a history id");
    sim.deliver_gmail(ANN, gmail_message("after"), &["INBOX"], sim.sim_now_ms());
    sim.control_post(&format!("/_sim/gmail/{ANN}/expire-history"), serde_json::json!({})).await;
    let error = sim.providers.gmail_history(&tokens.access_token, start, None).await.expect_err("expired");
    assert!(matches!(error, ApiError::NotFound), "{error:?}");
}

#[tokio::test]
async fn gmail_sync_calls_with_an_expired_access_token_are_unauthorized() {
    let sim = Sim::start().await;
    let tokens = sim.connect(&google_app(), ANN).await;
    let id = sim.deliver_gmail(ANN, gmail_message("late"), &["INBOX"], sim.sim_now_ms());
    sim.running.state.clock().advance(3700);
    let token = &tokens.access_token;
    let errors = vec![
        sim.providers.gmail_history_id(token).await.expect_err("expired"),
        sim.providers.gmail_labels(token).await.expect_err("expired"),
        sim.providers.gmail_list_messages(token, "", None, None, 10).await.expect_err("expired"),
        sim.providers.gmail_get_raw(token, &id).await.expect_err("expired"),
        sim.providers.gmail_history(token, 1, None).await.expect_err("expired"),
    ];
    for error in &errors {
        assert!(matches!(error, ApiError::Unauthorized), "{errors:?}");
    }
    let batch = sim.providers.gmail_get_raw_batch(token, std::slice::from_ref(&id)).await;
    assert!(
        matches!(&batch, Err(ApiError::Unauthorized)) || matches!(batch.as_deref(), Ok([Err(ApiError::Unauthorized)])),
        "{batch:?}"
    );
}

/// The simulator refuses more than 100 calls in one batch, so 120 ids only work when split.
#[tokio::test]
async fn a_gmail_batch_of_more_than_fifty_ids_is_split_and_keeps_the_order() {
    let sim = Sim::start().await;
    let tokens = sim.connect(&google_app(), ANN).await;
    let now_ms = sim.sim_now_ms();
    let mut ids: Vec<String> =
        (0..119).map(|n| sim.deliver_gmail(ANN, gmail_message(&format!("bulk {n}")), &["INBOX"], now_ms)).collect();
    ids.insert(60, "0123456789abcdef".to_owned());
    let results = sim.providers.gmail_get_raw_batch(&tokens.access_token, &ids).await.expect("the batches");
    assert_eq!(results.len(), ids.len());
    for (index, (id, result)) in ids.iter().zip(&results).enumerate() {
        match result {
            Ok(message) => assert_eq!(&message.id, id, "at {index}"),
            Err(ApiError::NotFound) => assert_eq!(index, 60),
            Err(error) => panic!("at {index}: {error:?}"),
        }
    }
}

// ---- Graph sync calls ----

/// A plain message numbered `n`, as it arrives at Carl's mailbox.
fn graph_raw(n: u32) -> Vec<u8> {
    format!(
        "From: Dora <dora@example.test>\r\nTo: Carl <{CARL}>\r\nSubject: Graph sync {n}\r\n\
         Message-ID: <graph-sync-{n}@example.test>\r\nDate: Fri, 27 Nov 2026 10:00:0{} +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBody number {n}.\r\n",
        n % 10
    )
    .into_bytes()
}

/// Delivers messages `1..=count` to Carl's inbox, one second apart, the last one now.
fn graph_deliver(sim: &Sim, count: u32) -> Vec<Vec<u8>> {
    let now_ms = sim.running.state.clock().now_ms();
    let mut world = sim.running.state.world();
    let mailbox = world.graph(CARL).expect("carl's mailbox");
    (1..=count)
        .map(|n| {
            let raw = graph_raw(n);
            mailbox.deliver(raw.clone(), "inbox", now_ms - i64::from(count - n) * 1000);
            raw
        })
        .collect()
}

async fn graph_control(sim: &Sim, action: &str, body: serde_json::Value) {
    let url = sim.url(&format!("/_sim/graph/{CARL}/{action}"));
    let response = sim.browser.post(url).json(&body).send().await.expect("control api");
    assert!(response.status().is_success(), "{action}: {}", response.status());
}

/// A whole delta round of a folder: the changes of every page, the delta link it ended with,
/// and how many pages it took.
async fn graph_round(
    sim: &Sim,
    token: &SecretString,
    folder: &str,
    link: Option<&str>,
    page_size: u32,
) -> (Vec<mailroom_providers::GraphChange>, String, usize) {
    let mut changes = Vec::new();
    let mut page = sim.providers.graph_delta(token, folder, link, None, page_size).await.expect("a delta page");
    let mut pages = 1;
    loop {
        assert!(page.changes.len() <= page_size as usize, "{page:?}");
        changes.extend(page.changes);
        match (page.next_link, page.delta_link) {
            (Some(next), None) => {
                page = sim.providers.graph_delta(token, folder, Some(&next), None, page_size).await.expect("a page");
                pages += 1;
            }
            (None, Some(delta)) => return (changes, delta, pages),
            other => panic!("a page must carry exactly one link: {other:?}"),
        }
    }
}

fn graph_folder_id(folders: &[mailroom_providers::GraphFolder], well_known: &str) -> String {
    folders
        .iter()
        .find(|f| f.well_known_name.as_deref() == Some(well_known))
        .unwrap_or_else(|| panic!("no {well_known} in {folders:?}"))
        .id
        .clone()
}

fn graph_upsert(change: &mailroom_providers::GraphChange) -> &mailroom_providers::GraphMessageMeta {
    match change {
        mailroom_providers::GraphChange::Upsert(meta) => meta,
        other => panic!("expected an upsert, got {other:?}"),
    }
}

#[tokio::test]
async fn the_graph_folder_list_includes_child_folders_and_marks_the_well_known_ones() {
    let sim = Sim::start().await;
    let tokens = sim.connect(&microsoft_app(), CARL).await;
    let response = sim
        .browser
        .post(sim.url("/microsoft/v1.0/me/mailFolders/inbox/childFolders"))
        .bearer_auth(tokens.access_token.expose_secret())
        .json(&serde_json::json!({"displayName": "Receipts"}))
        .send()
        .await
        .expect("graph answers");
    assert_eq!(response.status(), 201);
    let folders = sim.providers.graph_folders(&tokens.access_token).await.expect("the folders");
    for (name, display) in [
        ("inbox", "Inbox"),
        ("sentitems", "Sent Items"),
        ("drafts", "Drafts"),
        ("deleteditems", "Deleted Items"),
        ("junkemail", "Junk Email"),
        ("archive", "Archive"),
    ] {
        let folder = folders.iter().find(|f| f.id == graph_folder_id(&folders, name)).expect("the folder");
        assert_eq!(folder.display_name, display);
        assert!(folder.parent_id.is_some(), "{folder:?}");
    }
    let inbox = graph_folder_id(&folders, "inbox");
    let receipts = folders.iter().find(|f| f.display_name == "Receipts").expect("the child folder");
    assert_eq!(receipts.parent_id.as_deref(), Some(inbox.as_str()));
    assert_eq!(receipts.well_known_name, None);
    let outbox = folders.iter().find(|f| f.display_name == "Outbox").expect("the outbox is listed");
    assert_eq!(outbox.well_known_name, None);
    assert_eq!(folders.iter().filter(|f| f.well_known_name.is_some()).count(), 6, "{folders:?}");
}

#[tokio::test]
async fn a_first_graph_delta_round_pages_through_next_links_and_ends_with_a_delta_link_holding_every_message() {
    let sim = Sim::start().await;
    let tokens = sim.connect(&microsoft_app(), CARL).await;
    graph_deliver(&sim, 5);
    let folders = sim.providers.graph_folders(&tokens.access_token).await.expect("the folders");
    let inbox = graph_folder_id(&folders, "inbox");
    let (changes, delta_link, pages) = graph_round(&sim, &tokens.access_token, &inbox, None, 2).await;
    assert_eq!(pages, 3);
    assert!(delta_link.contains("deltatoken"), "{delta_link}");
    assert_eq!(changes.len(), 5, "{changes:?}");
    let mut ids: Vec<&str> = Vec::new();
    for change in &changes {
        let meta = graph_upsert(change);
        assert_eq!(meta.folder_id.as_deref(), Some(inbox.as_str()));
        assert!(meta.conversation_id.is_some() && meta.received_at.is_some(), "{meta:?}");
        assert!(meta.is_complete(), "{meta:?}");
        assert_eq!((meta.is_read, meta.is_draft, meta.flagged), (Some(false), Some(false), Some(false)), "{meta:?}");
        ids.push(&meta.id);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    // Nothing changed since: the next round is empty.
    let (again, _, _) = graph_round(&sim, &tokens.access_token, &inbox, Some(&delta_link), 2).await;
    assert!(again.is_empty(), "{again:?}");
}

#[tokio::test]
async fn a_graph_delta_round_from_a_received_after_time_leaves_older_messages_out() {
    let sim = Sim::start().await;
    let tokens = sim.connect(&microsoft_app(), CARL).await;
    graph_deliver(&sim, 5);
    let cutoff = sim.running.state.clock().now_secs() - 1;
    let page = sim
        .providers
        .graph_delta(&tokens.access_token, "inbox", None, Some(cutoff), 10)
        .await
        .expect("a filtered delta page");
    assert_eq!(page.changes.len(), 2, "{page:?}");
    assert!(page.changes.iter().all(|c| graph_upsert(c).received_at.is_some_and(|t| t >= cutoff)));
    assert!(page.delta_link.is_some() && page.next_link.is_none());
}

#[tokio::test]
async fn after_a_patch_and_a_move_the_next_graph_delta_round_shows_an_update_and_a_removal_and_the_target_an_add() {
    let sim = Sim::start().await;
    let token = sim.connect(&microsoft_app(), CARL).await.access_token;
    graph_deliver(&sim, 3);
    let folders = sim.providers.graph_folders(&token).await.expect("the folders");
    let (inbox, archive) = (graph_folder_id(&folders, "inbox"), graph_folder_id(&folders, "archive"));
    let (first, inbox_link, _) = graph_round(&sim, &token, &inbox, None, 10).await;
    let (archived, archive_link, _) = graph_round(&sim, &token, &archive, None, 10).await;
    assert!(archived.is_empty());
    let patched = graph_upsert(&first[0]).id.clone();
    let moved = graph_upsert(&first[1]).id.clone();
    graph_control(&sim, "patch", serde_json::json!({"id": patched, "isRead": true, "flagged": true})).await;
    graph_control(&sim, "move", serde_json::json!({"id": moved, "destination": "archive"})).await;

    let (changes, next_link, _) = graph_round(&sim, &token, &inbox, Some(&inbox_link), 10).await;
    assert_eq!(changes.len(), 2, "{changes:?}");
    let update = changes.iter().find(|c| matches!(c, mailroom_providers::GraphChange::Upsert(_))).expect("an update");
    let update = graph_upsert(update);
    assert_eq!(update.id, patched);
    assert_eq!((update.is_read, update.flagged, update.is_draft), (Some(true), Some(true), Some(false)), "{update:?}");
    assert!(changes.contains(&mailroom_providers::GraphChange::Removed { id: moved.clone() }), "{changes:?}");
    assert_ne!(next_link, inbox_link);

    let (added, _, _) = graph_round(&sim, &token, &archive, Some(&archive_link), 10).await;
    assert_eq!(added.len(), 1, "{added:?}");
    let added = graph_upsert(&added[0]);
    // Immutable ids survive the move.
    assert_eq!(added.id, moved);
    assert_eq!(added.folder_id.as_deref(), Some(archive.as_str()));
}

#[tokio::test]
async fn graph_mime_bytes_are_exactly_what_was_delivered() {
    let sim = Sim::start().await;
    let token = sim.connect(&microsoft_app(), CARL).await.access_token;
    let delivered = graph_deliver(&sim, 3);
    let (changes, _, _) = graph_round(&sim, &token, "inbox", None, 10).await;
    let mut fetched = Vec::new();
    for change in &changes {
        fetched.push(sim.providers.graph_message_mime(&token, &graph_upsert(change).id).await.expect("the mime"));
    }
    fetched.sort();
    let mut delivered = delivered;
    delivered.sort();
    assert_eq!(fetched, delivered);
    let error = sim.providers.graph_message_mime(&token, "AAkALgAAAAAAnonexistent").await.expect_err("no such message");
    assert!(matches!(error, ApiError::NotFound), "{error:?}");
}

#[tokio::test]
async fn an_expired_graph_delta_link_is_a_cursor_expired_error() {
    let sim = Sim::start().await;
    let token = sim.connect(&microsoft_app(), CARL).await.access_token;
    graph_deliver(&sim, 3);
    let (_, delta_link, _) = graph_round(&sim, &token, "inbox", None, 10).await;
    let half = sim.providers.graph_delta(&token, "inbox", None, None, 2).await.expect("a first page");
    let next_link = half.next_link.expect("a next link");
    graph_control(&sim, "expire-delta", serde_json::json!({})).await;
    for link in [delta_link, next_link] {
        let error = sim.providers.graph_delta(&token, "inbox", Some(&link), None, 10).await.expect_err("expired");
        assert!(matches!(error, ApiError::CursorExpired), "{error:?}");
        assert_eq!(error.to_string(), "the provider no longer knows the sync cursor; a full resync is needed");
    }
    // The caller resyncs the folder from scratch.
    let (changes, _, _) = graph_round(&sim, &token, "inbox", None, 10).await;
    assert_eq!(changes.len(), 3);
}

#[tokio::test]
async fn an_expired_access_token_makes_every_graph_sync_call_unauthorized() {
    let sim = Sim::start().await;
    let token = sim.connect(&microsoft_app(), CARL).await.access_token;
    graph_deliver(&sim, 1);
    let (changes, delta_link, _) = graph_round(&sim, &token, "inbox", None, 10).await;
    let id = graph_upsert(&changes[0]).id.clone();
    sim.running.state.clock().advance(3700);
    let errors = [
        sim.providers.graph_folders(&token).await.expect_err("expired"),
        sim.providers.graph_delta(&token, "inbox", None, None, 10).await.expect_err("expired"),
        sim.providers.graph_delta(&token, "inbox", Some(&delta_link), None, 10).await.expect_err("expired"),
        sim.providers.graph_message_mime(&token, &id).await.expect_err("expired"),
    ];
    for error in errors {
        assert!(matches!(error, ApiError::Unauthorized), "{error:?}");
    }
}

/// Every Graph API request the client makes, as the simulator's request log shows them.
async fn graph_requests(sim: &Sim) -> Vec<serde_json::Value> {
    let log: serde_json::Value =
        sim.browser.get(sim.url("/_sim/log")).send().await.expect("control api").json().await.expect("the log");
    log["requests"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/microsoft/v1.0/")))
        .cloned()
        .collect()
}

/// Every Graph call the client has, once each, from the profile to a sent draft.
async fn every_graph_call(sim: &Sim, token: &SecretString) {
    let token = token.clone();
    graph_deliver(sim, 2);
    let p = &sim.providers;
    p.mailbox_profile(Provider::Microsoft, &token).await.expect("the profile");
    p.graph_folders(&token).await.expect("the folders");
    let (changes, _, _) = graph_round(sim, &token, "inbox", None, 10).await;
    let (first, second) = (graph_upsert(&changes[0]).id.clone(), graph_upsert(&changes[1]).id.clone());
    p.graph_message(&token, &first).await.expect("a message");
    p.graph_message_mime(&token, &first).await.expect("its mime");
    p.graph_update(&token, &first, Some(true), Some(true)).await.expect("an update");
    p.graph_move(&token, &first, "archive").await.expect("a move");
    p.graph_delete(&token, &second).await.expect("a delete");
    let raw = format!("From: {CARL}\r\nTo: dora@example.test\r\nSubject: Draft\r\n\r\nLater.\r\n");
    let draft = p.graph_draft_create(&token, raw.as_bytes()).await.expect("a draft");
    let fields = mailroom_providers::GraphDraftFields {
        subject: "Draft 2".into(),
        text: "Sooner.".into(),
        to: vec![(None, "dora@example.test".into())],
        ..Default::default()
    };
    p.graph_draft_update(&token, &draft.id, &fields).await.expect("an update");
    p.graph_draft_version(&token, &draft.id).await.expect("a version").expect("the draft is there");
    p.graph_attach_file(&token, &draft.id, "small.txt", "text/plain", b"small").await.expect("a small file");
    let file = vec![7u8; mailroom_providers::GRAPH_UPLOAD_MIN];
    p.graph_attach_file(&token, &draft.id, "big.bin", "application/octet-stream", &file).await.expect("an upload");
    p.graph_send_draft(&token, &draft.id).await.expect("sent");
    p.graph_send_mime(&token, raw.as_bytes()).await.expect("sent");
    p.graph_find_sent(&token, "nobody@example.test").await.expect("looked for");
}

#[tokio::test]
async fn every_graph_request_asks_for_immutable_ids() {
    let sim = Sim::start().await;
    let token = sim.connect(&microsoft_app(), CARL).await.access_token;
    every_graph_call(&sim, &token).await;
    let requests = graph_requests(&sim).await;
    // The draft's version and the sent message's lookup are among them.
    for (option, value) in [("$select", "id,changeKey"), ("$filter", "internetMessageId eq '<nobody@example.test>'")] {
        let asked = requests.iter().any(|r| {
            r["query"]
                .as_str()
                .is_some_and(|q| url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == option && v == value))
        });
        assert!(asked, "no request with {option}={value} in {requests:#?}");
    }
    let without: Vec<&serde_json::Value> = requests
        .iter()
        .filter(|r| !r["prefer"].as_str().is_some_and(|p| p.contains("IdType=\"ImmutableId\"")))
        .collect();
    assert!(requests.len() > 15, "{requests:#?}");
    assert!(without.is_empty(), "requests without immutable ids: {without:#?}");
}

/// The client's Graph requests, and the simulator's answers to them, as the Graph mail OpenAPI
/// document describes them: operations, query options, request and answer bodies, statuses.
#[tokio::test]
async fn every_graph_request_fits_the_openapi_document() {
    let path = std::env::var_os("MAILROOM_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("reference/graph-mail-openapi.json");
    let doc = mailroom_sim::graph::openapi::GraphOpenApi::load(&path).expect("the OpenAPI document");
    let sim = Sim::start().await;
    let token = sim.connect(&microsoft_app(), CARL).await.access_token;
    sim.running.state.world().log.clear();
    every_graph_call(&sim, &token).await;
    let log = sim.running.state.world().log.clone();
    let api: Vec<_> = log.iter().filter(|e| e.path.starts_with("/microsoft/v1.0/")).collect();
    assert!(api.len() > 15 && api.iter().any(|e| e.request_body.is_some()), "bodies are recorded: {api:#?}");
    let errors: Vec<String> = api.iter().flat_map(|e| doc.check(e)).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}
