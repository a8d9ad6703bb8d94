//! A simulator on a free port with two Google users and one Microsoft user, registered clients,
//! and helpers that get tokens through the real OAuth flow.

use std::net::SocketAddr;

use base64::Engine as _;
use mailroom_sim::{ProviderKind, RunningSim, SimClient, SimConfig, SimState, SimUser};
use sha2::{Digest, Sha256};

pub const GOOGLE_CLIENT: &str = "test-client.apps.googleusercontent.com";
pub const GOOGLE_SECRET: &str = "GOCSPX-test-secret";
pub const MICROSOFT_CLIENT: &str = "11111111-2222-4333-8444-555555555555";
pub const MICROSOFT_SECRET: &str = "ms~test~secret";
pub const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";
pub const ANN: &str = "ann@example.test";
pub const BEN: &str = "ben@example.test";
pub const CARL: &str = "carl@contoso.onmicrosoft.com";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A file of the shared reference material, which sits beside the repository (`../shared`), or
/// in the folder `MAILROOM_SHARED_DIR` names.
pub fn shared_file(relative: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("MAILROOM_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let path = dir.join(relative);
    assert!(
        path.exists(),
        "{} is missing: the shared folder must sit beside the repository, or MAILROOM_SHARED_DIR name it",
        path.display()
    );
    path
}

pub struct Sim {
    pub running: RunningSim,
    pub http: reqwest::Client,
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
}

impl Sim {
    /// A simulator that consents at once (as `--auto-consent`), with Ann and Ben at Google and
    /// Carl at Microsoft.
    pub async fn start() -> Sim {
        Self::start_with(SimConfig { auto_consent: true, ..SimConfig::default() }).await
    }

    pub async fn start_with(config: SimConfig) -> Sim {
        let state = SimState::new(config);
        for user in [ANN, BEN, &format!("microsoft:{CARL}")] {
            state.add_user(SimUser::parse(user).unwrap());
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
        let running = RunningSim::start(SocketAddr::from(([127, 0, 0, 1], 0)), state).await.unwrap();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Sim { running, http }
    }

    pub fn state(&self) -> &SimState {
        &self.running.state
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    pub fn challenge() -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
    }

    /// Follows the authorization endpoint's redirect and returns the query parameters it carried.
    pub async fn authorize(&self, path: &str, params: &[(&str, &str)]) -> Vec<(String, String)> {
        let response = self.http.get(self.url(path)).query(params).send().await.unwrap();
        assert!(response.status().is_redirection(), "expected a redirect, got {}", response.status());
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(REDIRECT), "{location}");
        url::Url::parse(&location).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    pub async fn google_code(&self, email: &str) -> String {
        let challenge = Self::challenge();
        let params = [
            ("client_id", GOOGLE_CLIENT),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid email profile https://www.googleapis.com/auth/gmail.modify"),
            ("access_type", "offline"),
            ("prompt", "consent"),
            ("state", "xyz"),
            ("login_hint", email),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let query = self.authorize("/google/o/oauth2/v2/auth", &params).await;
        assert!(query.contains(&("state".into(), "xyz".into())));
        query.into_iter().find(|(k, _)| k == "code").map(|(_, v)| v).expect("a code")
    }

    pub async fn google_tokens(&self, email: &str) -> Tokens {
        let code = self.google_code(email).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", GOOGLE_CLIENT),
            ("client_secret", GOOGLE_SECRET),
            ("code_verifier", VERIFIER),
        ];
        let body: serde_json::Value =
            self.http.post(self.url("/google/token")).form(&form).send().await.unwrap().json().await.unwrap();
        Tokens {
            access: body["access_token"].as_str().expect("an access token").to_owned(),
            refresh: body["refresh_token"].as_str().map(str::to_owned),
        }
    }

    pub async fn microsoft_code(&self, email: &str) -> String {
        let challenge = Self::challenge();
        let params = [
            ("client_id", MICROSOFT_CLIENT),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("response_mode", "query"),
            ("scope", "openid profile email offline_access User.Read Mail.ReadWrite Mail.Send"),
            ("state", "xyz"),
            ("login_hint", email),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let query = self.authorize("/microsoft/common/oauth2/v2.0/authorize", &params).await;
        query.into_iter().find(|(k, _)| k == "code").map(|(_, v)| v).expect("a code")
    }

    pub async fn microsoft_tokens(&self, email: &str) -> Tokens {
        let code = self.microsoft_code(email).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", MICROSOFT_CLIENT),
            ("client_secret", MICROSOFT_SECRET),
            ("code_verifier", VERIFIER),
        ];
        let body: serde_json::Value = self
            .http
            .post(self.url("/microsoft/common/oauth2/v2.0/token"))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Tokens {
            access: body["access_token"].as_str().expect("an access token").to_owned(),
            refresh: body["refresh_token"].as_str().map(str::to_owned),
        }
    }

    /// A GET with a bearer token.
    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }
}
