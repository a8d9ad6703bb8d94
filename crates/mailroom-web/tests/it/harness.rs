//! The test application: the real router on a fresh database (a SQLite file in a temporary folder,
//! or a new PostgreSQL database per test), and browser-like clients with their own cookies.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use mailroom_domain::{DisplayName, EmailAddress, LoginPolicy, Password, Provider, Role, UserId};
use mailroom_store::{Account, Connection, Db, DbTarget, KeyInput, NewUser, SecretKey, Store, User};
use mailroom_web::{AppState, WebConfig};
use secrecy::SecretString;
use tower::ServiceExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of its own for one test. A PostgreSQL database is dropped when this is.
pub struct TestDb {
    pub target_url: Option<String>,
    pub dir: tempfile::TempDir,
    backend: Backend,
    pg_name: Option<String>,
}

fn postgres_admin_url() -> String {
    std::env::var("MAILROOM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

impl TestDb {
    /// A fresh, empty database; `None` when PostgreSQL is wanted but unreachable outside CI (the
    /// test then says it was skipped). In CI (`CI=true`) an unreachable PostgreSQL fails the test.
    pub async fn fresh(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("temporary folder");
        match backend {
            Backend::Sqlite => Some(TestDb { target_url: None, dir, backend, pg_name: None }),
            Backend::Postgres => {
                static COUNTER: AtomicU32 = AtomicU32::new(0);
                let admin_url = postgres_admin_url();
                let admin = match sqlx::PgPool::connect(&admin_url).await {
                    Ok(pool) => pool,
                    Err(err) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                        panic!("PostgreSQL at {admin_url} is required in CI: {err}")
                    }
                    Err(err) => {
                        eprintln!("skipped: PostgreSQL is not reachable at {admin_url} ({err})");
                        return None;
                    }
                };
                let name = format!(
                    "mailroom_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    &mailroom_store::random_token()[..8].to_lowercase().replace(['-', '_'], "x")
                );
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .expect("create the test database");
                admin.close().await;
                let mut url = url::Url::parse(&admin_url).expect("PostgreSQL URL");
                url.set_path(&name);
                Some(TestDb { target_url: Some(url.to_string()), dir, backend, pg_name: Some(name) })
            }
        }
    }

    pub fn target(&self) -> DbTarget {
        match self.backend {
            Backend::Sqlite => DbTarget::Sqlite(self.dir.path().join("mailroom.db")),
            Backend::Postgres => DbTarget::Postgres(self.target_url.clone().expect("PostgreSQL URL")),
        }
    }

    pub fn key_file(&self) -> std::path::PathBuf {
        self.dir.path().join("secret.key")
    }

    /// Connects and migrates.
    pub async fn open(&self) -> Db {
        let db = Db::connect(&self.target()).await.expect("connect");
        db.migrate().await.expect("migrate");
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else { return };
        // Drop runs inside the test's runtime, which cannot be blocked on; a thread of its own can.
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&postgres_admin_url()).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
                    admin.close().await;
                }
            });
        });
        let _ = handle.join();
    }
}

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

pub const SIM_GOOGLE_CLIENT: &str = "sim.apps.googleusercontent.com";
pub const SIM_GOOGLE_SECRET: &str = "GOCSPX-sim";
pub const SIM_MICROSOFT_CLIENT: &str = "0b8c2c8e-5d7a-4a3e-9a4e-3d9a1f2b7c6d";
pub const SIM_MICROSOFT_SECRET: &str = "ms~sim";
pub const ADMIN_EMAIL: &str = "admin@example.test";
pub const ADMIN_PASSWORD: &str = "correct horse battery";
/// Counts the messages whose raw bytes are not fetched yet (Outlook's MIME comes after the sync).
pub const COUNT_WITHOUT_RAW: &str =
    "SELECT COUNT(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM message_raw r WHERE r.message_id = m.id)";

/// The providers' real addresses; tests that reach a provider replace them with a simulator's.
pub fn default_endpoints() -> mailroom_providers::Endpoints {
    let config = mailroom_config::Config::load(None, &HashMap::new()).expect("the defaults are valid");
    mailroom_providers::Endpoints::from(&config)
}

/// The endpoints that point at a simulator.
pub fn sim_endpoints(sim: &mailroom_sim::RunningSim) -> mailroom_providers::Endpoints {
    let env: HashMap<String, String> =
        mailroom_sim::mailroom_endpoints(&sim.base_url()).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    mailroom_providers::Endpoints::from(&mailroom_config::Config::load(None, &env).expect("config"))
}

/// The application under test.
pub struct TestApp {
    pub router: Router,
    pub store: Store,
    pub db: TestDb,
    /// The web state's signal to the sync scheduler, for tests that run one.
    pub sync_wake: std::sync::Arc<tokio::sync::Notify>,
}

impl TestApp {
    pub async fn start(backend: Backend) -> Option<TestApp> {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts with a simulator of Google and Microsoft that consents at once, Mailroom's endpoints
    /// pointed at it, both providers enabled in the email settings, and the simulator's users
    /// `ann@example.test` (Google) and `carl@contoso.onmicrosoft.com` (Microsoft).
    pub async fn start_with_sim(backend: Backend) -> Option<(TestApp, mailroom_sim::RunningSim)> {
        Self::start_with_sim_and(backend, true, |_| {}).await
    }

    /// As [`TestApp::start_with_sim`], with the simulator's consent page shown or skipped, and the
    /// web configuration adjusted after it points at the simulator.
    pub async fn start_with_sim_and(
        backend: Backend,
        auto_consent: bool,
        adjust: impl FnOnce(&mut WebConfig),
    ) -> Option<(TestApp, mailroom_sim::RunningSim)> {
        let config = mailroom_sim::SimConfig { auto_consent, ..mailroom_sim::SimConfig::default() };
        Self::start_with_sim_config(backend, config, adjust).await
    }

    /// As [`TestApp::start_with_sim_and`], with the simulator configured by `config` (its quotas,
    /// say).
    pub async fn start_with_sim_config(
        backend: Backend,
        config: mailroom_sim::SimConfig,
        adjust: impl FnOnce(&mut WebConfig),
    ) -> Option<(TestApp, mailroom_sim::RunningSim)> {
        use mailroom_sim::{ProviderKind, RunningSim, SimClient, SimState, SimUser};
        let state = SimState::new(config);
        for user in ["ann@example.test", "microsoft:carl@contoso.onmicrosoft.com"] {
            state.add_user(SimUser::parse(user).expect("user"));
        }
        for (provider, id, secret) in [
            (ProviderKind::Google, SIM_GOOGLE_CLIENT, SIM_GOOGLE_SECRET),
            (ProviderKind::Microsoft, SIM_MICROSOFT_CLIENT, SIM_MICROSOFT_SECRET),
        ] {
            state.add_client(SimClient {
                provider,
                client_id: id.to_owned(),
                client_secret: secret.to_owned(),
                redirect_uris: vec!["http://mailroom.test/oauth/callback".to_owned()],
            });
        }
        let sim = RunningSim::start(SocketAddr::from(([127, 0, 0, 1], 0)), state).await.expect("simulator");
        let env: HashMap<String, String> =
            mailroom_sim::mailroom_endpoints(&sim.base_url()).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let endpoints =
            mailroom_providers::Endpoints::from(&mailroom_config::Config::load(None, &env).expect("config"));
        let app = Self::start_with(backend, |c| {
            c.endpoints = endpoints;
            adjust(c);
        })
        .await?;
        let update = |id: &str, secret: &str| mailroom_store::ProviderUpdate {
            enabled: true,
            client_id: Some(mailroom_domain::OAuthClientId::parse(id).expect("client id")),
            new_secret: Some(SecretString::from(secret.to_owned())),
            tenant: mailroom_domain::MicrosoftTenant::common(),
            secret_expires_at: None,
        };
        app.store
            .save_email_settings(
                &update(SIM_GOOGLE_CLIENT, SIM_GOOGLE_SECRET),
                &update(SIM_MICROSOFT_CLIENT, SIM_MICROSOFT_SECRET),
                mailroom_domain::SyncInterval::DEFAULT,
                mailroom_domain::ImportStart::DEFAULT,
            )
            .await
            .expect("settings");
        Some((app, sim))
    }

    /// Starts with a configuration adjusted by `adjust`. Login slowing is shortened so tests stay fast.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut WebConfig)) -> Option<TestApp> {
        let db = TestDb::fresh(backend).await?;
        let key = KeyInput { given: None, file: db.key_file() };
        let store = Store::unlock(db.open().await, key).await.expect("unlock");
        let mut config = WebConfig::new("http://mailroom.test", false, default_endpoints());
        config.login_policy = LoginPolicy { delay_step: Duration::from_millis(50), ..LoginPolicy::default() };
        adjust(&mut config);
        mailroom_web::install_recorder();
        let state = AppState::new(store.clone(), config);
        let sync_wake = state.sync_wake.clone();
        let router = mailroom_web::router(state);
        Some(TestApp { router, store, db, sync_wake })
    }

    /// A browser with no cookies, connecting from 127.0.0.1.
    pub fn client(&self) -> Client {
        Client {
            router: self.router.clone(),
            cookies: HashMap::new(),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            accept_language: None,
            authorization: None,
            headers: Vec::new(),
        }
    }

    /// A Gmail mailbox `address` of `user`, connected straight in the store (tokens that no
    /// provider would take), for tests of what comes after connecting.
    pub async fn connected_account(&self, user: UserId, address: &str) -> Account {
        let (access, refresh) = (SecretString::from("a"), SecretString::from("r"));
        let connection = Connection {
            user,
            provider: Provider::Google,
            remote_id: address,
            address,
            display_name: None,
            identities: &[],
            access_token: &access,
            refresh_token: &refresh,
            expires_at: 0,
            scopes: &[],
            import_days: 30,
        };
        self.store.connect_account(&connection, 1).await.expect("connect").0
    }

    pub async fn create_user(&self, email: &str, password: &str, role: Role) -> User {
        let new = NewUser {
            email: EmailAddress::parse(email).expect("email"),
            name: DisplayName::parse(email.split('@').next().unwrap_or("user")).expect("name"),
            password: Password::parse(password).expect("password"),
            role,
        };
        self.store.create_user(&new).await.expect("create user").expect("email is free")
    }

    /// The administrator, created directly, and a client signed in as them.
    pub async fn admin(&self) -> (User, Client) {
        let user = self.create_user(ADMIN_EMAIL, ADMIN_PASSWORD, Role::Admin).await;
        let mut client = self.client();
        client.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.assert_redirect("/");
        (user, client)
    }

    /// A member with a client signed in as them.
    pub async fn member(&self, email: &str, password: &str) -> (User, Client) {
        let user = self.create_user(email, password, Role::Member).await;
        let mut client = self.client();
        client.login(email, password).await.assert_redirect("/");
        (user, client)
    }

    /// The first column of every row `sql` returns, read straight from the database as anyone
    /// holding a copy of it could.
    pub async fn raw_bytes(&self, sql: &'static str) -> Vec<Vec<u8>> {
        match self.db.target() {
            DbTarget::Sqlite(file) => {
                let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", file.display())).await.expect("sqlite");
                sqlx::query_scalar(sql).fetch_all(&pool).await.expect("raw query")
            }
            DbTarget::Postgres(url) => {
                let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
                sqlx::query_scalar(sql).fetch_all(&pool).await.expect("raw query")
            }
        }
    }

    /// The text values of a one-column query, read straight from the database, sorted.
    pub async fn raw_strings(&self, sql: &'static str) -> Vec<String> {
        let mut values: Vec<String> = match self.db.target() {
            DbTarget::Sqlite(file) => {
                let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", file.display())).await.expect("sqlite");
                sqlx::query_scalar(sql).fetch_all(&pool).await.expect("raw query")
            }
            DbTarget::Postgres(url) => {
                let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
                sqlx::query_scalar(sql).fetch_all(&pool).await.expect("raw query")
            }
        };
        values.sort();
        values
    }

    /// Runs a statement straight on the database, as an older version of Mailroom or an
    /// administrator's tool would.
    pub async fn raw_execute(&self, sql: &'static str) {
        match self.db.target() {
            DbTarget::Sqlite(file) => {
                let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", file.display())).await.expect("sqlite");
                sqlx::query(sql).execute(&pool).await.expect("raw statement");
            }
            DbTarget::Postgres(url) => {
                let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
                sqlx::query(sql).execute(&pool).await.expect("raw statement");
            }
        }
    }

    /// The single number a `SELECT COUNT(*) ...` returns, read straight from the database.
    pub async fn raw_count(&self, sql: &'static str) -> i64 {
        match self.db.target() {
            DbTarget::Sqlite(file) => {
                let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", file.display())).await.expect("sqlite");
                sqlx::query_scalar(sql).fetch_one(&pool).await.expect("raw query")
            }
            DbTarget::Postgres(url) => {
                let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
                sqlx::query_scalar(sql).fetch_one(&pool).await.expect("raw query")
            }
        }
    }

    /// Opens the same database with another key, as a restart with a different key would.
    pub async fn reopen_with_key(
        &self,
        key: Option<&SecretKey>,
        key_file: std::path::PathBuf,
    ) -> Result<Store, mailroom_store::OpenError> {
        let given = key.map(|k| SecretString::from(k.to_hex().to_string()));
        Store::unlock(self.db.open().await, KeyInput { given, file: key_file }).await
    }
}

/// A response, read whole.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn assert_redirect(&self, to: &str) -> &Self {
        assert!(self.status.is_redirection(), "expected a redirect to {to}, got {}: {}", self.status, self.body);
        assert_eq!(self.location(), Some(to));
        self
    }

    #[track_caller]
    pub fn assert_status(&self, status: StatusCode) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.body);
        self
    }

    #[track_caller]
    pub fn assert_contains(&self, text: &str) -> &Self {
        assert!(self.body.contains(text), "expected {text:?} in:\n{}", self.body);
        self
    }

    #[track_caller]
    pub fn assert_lacks(&self, text: &str) -> &Self {
        assert!(!self.body.contains(text), "did not expect {text:?} in:\n{}", self.body);
        self
    }

    /// The start tag of the one form field (`input`, `select` or `textarea`) whose tag holds
    /// `field`, such as `id="email"`.
    #[track_caller]
    pub fn field_tag(&self, field: &str) -> &str {
        let tags = regex_lite::Regex::new(r"<(?:input|select|textarea)\b[^>]*>").expect("regex");
        let found: Vec<&str> =
            tags.find_iter(&self.body).map(|m| m.as_str()).filter(|tag| tag.contains(field)).collect();
        assert_eq!(found.len(), 1, "expected one field with {field:?}, found {found:?} in:\n{}", self.body);
        found[0]
    }

    /// Asserts that `message` is shown as the error of the field whose tag holds `field`, tied to
    /// it as assistive technology reads it: the field is `aria-invalid` and its `aria-describedby`
    /// names the error's paragraph, whose id is the page's only one of that name.
    #[track_caller]
    pub fn assert_field_error(&self, field: &str, message: &str) -> &Self {
        let errors =
            regex_lite::Regex::new(r#"<p class="(?:field-)?error" id="([^"]+)"[^>]*>([^<]*)</p>"#).expect("regex");
        let id = errors
            .captures_iter(&self.body)
            .find(|c| c[2].contains(message))
            .map(|c| c[1].to_owned())
            .unwrap_or_else(|| panic!("expected a field error with an id saying {message:?} in:\n{}", self.body));
        assert_eq!(self.body.matches(&format!("id=\"{id}\"")).count(), 1, "the id {id:?} is not unique");
        let tag = self.field_tag(field);
        assert!(tag.contains(r#" aria-invalid="true""#), "{tag} is not marked invalid");
        let described = regex_lite::Regex::new(r#" aria-describedby="([^"]*)""#).expect("regex");
        let names = described.captures(tag).map(|c| c[1].to_owned()).unwrap_or_default();
        assert!(names.split(' ').any(|name| name == id), "{tag} is not described by {id:?}");
        self
    }

    pub fn is_html(&self) -> bool {
        self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html"))
    }

    /// The CSRF proof of the page's forms.
    pub fn csrf(&self) -> String {
        let re = regex_lite::Regex::new(r#"name="csrf_token" value="([^"]+)""#).expect("regex");
        re.captures(&self.body).map(|c| c[1].to_owned()).expect("the page has a form with a CSRF proof")
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    }
}

/// A browser: keeps cookies between requests.
pub struct Client {
    router: Router,
    pub cookies: HashMap<String, String>,
    pub ip: IpAddr,
    pub accept_language: Option<String>,
    /// Sent as the `Authorization` header (an API client's bearer token).
    pub authorization: Option<String>,
    /// Further headers sent with every request (a proxy's `X-Forwarded-For`, say).
    pub headers: Vec<(&'static str, String)>,
}

impl Client {
    pub async fn request(&mut self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Page {
        let mut builder = Request::builder().method(method).uri(path);
        if !self.cookies.is_empty() {
            let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            builder = builder.header(header::COOKIE, cookie);
        }
        if let Some(authorization) = &self.authorization {
            builder = builder.header(header::AUTHORIZATION, authorization);
        }
        if let Some(language) = &self.accept_language {
            builder = builder.header(header::ACCEPT_LANGUAGE, language);
        }
        for (name, value) in &self.headers {
            builder = builder.header(*name, value);
        }
        let request = match body {
            Some((content_type, bytes)) => builder.header(header::CONTENT_TYPE, content_type).body(Body::from(bytes)),
            None => builder.body(Body::empty()),
        };
        let mut request = request.expect("request");
        request.extensions_mut().insert(ConnectInfo(SocketAddr::new(self.ip, 40000)));
        let response = self.router.clone().oneshot(request).await.expect("the router answers");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        let page =
            Page { status: parts.status, headers: parts.headers, body: String::from_utf8_lossy(&bytes).into_owned() };
        for set in page.set_cookies() {
            let cookie = cookie::Cookie::parse(set).expect("Set-Cookie parses");
            let removed = cookie.max_age().is_some_and(|age| age.is_zero()) || cookie.value().is_empty();
            if removed {
                self.cookies.remove(cookie.name());
            } else {
                self.cookies.insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.request("GET", path, None).await
    }

    /// Posts a form exactly as given (no CSRF proof added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        self.request("POST", path, Some(("application/x-www-form-urlencoded", body.into_bytes()))).await
    }

    /// Opens `page`, then posts a form to `action` with the page's CSRF proof, as a person would.
    pub async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(page).await.csrf();
        let mut fields = fields.to_vec();
        fields.push(("csrf_token", &csrf));
        self.post_raw(action, &fields).await
    }

    pub async fn login(&mut self, email: &str, password: &str) -> Page {
        self.submit("/login", "/login", &[("email", email), ("password", password)]).await
    }
}
