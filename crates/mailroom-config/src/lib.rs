//! Mailroom's settings, read from an optional TOML file and `MAILROOM_*` environment variables
//! (the environment wins). The crate does no I/O: the binary reads the file named by
//! [`CONFIG_FILE_ENV`] and passes its text and the environment to [`Config::load`], which checks
//! every setting and reports all problems at once.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use ipnet::IpNet;
use secrecy::SecretString;
use url::Url;

/// The variable holding the path of the config file. When it is unset the binary reads
/// `./mailroom.toml` if that file exists.
pub const CONFIG_FILE_ENV: &str = "MAILROOM_CONFIG";

/// One setting, as documented in `--help`: its file key, its variable and its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    pub about: &'static str,
}

const LISTEN: Setting = Setting {
    key: "listen",
    env: "MAILROOM_LISTEN",
    default: "127.0.0.1:8080",
    about: "address and port the web server listens on",
};
const PUBLIC_URL: Setting = Setting {
    key: "public_url",
    env: "MAILROOM_PUBLIC_URL",
    default: "http://<listen>",
    about: "URL users reach Mailroom at; https turns on secure cookies",
};
const DATA_DIR: Setting = Setting {
    key: "data_dir",
    env: "MAILROOM_DATA_DIR",
    default: "./mailroom-data",
    about: "directory for Mailroom's own files",
};
const DATABASE_URL: Setting = Setting {
    key: "database_url",
    env: "MAILROOM_DATABASE_URL",
    default: "sqlite:<data_dir>/mailroom.db",
    about: "`sqlite:PATH` or `postgres://USER:PASSWORD@HOST/DATABASE`",
};
const SECRET_KEY: Setting = Setting {
    key: "secret_key",
    env: "MAILROOM_SECRET_KEY",
    default: "(none)",
    about: "64 hexadecimal characters encrypting stored tokens; `openssl rand -hex 32`",
};
const LOG_FORMAT: Setting =
    Setting { key: "log_format", env: "MAILROOM_LOG_FORMAT", default: "text", about: "`text` or `json`" };
const GOOGLE_AUTH_URL: Setting = Setting {
    key: "google.auth_url",
    env: "MAILROOM_GOOGLE_AUTH_URL",
    default: "https://accounts.google.com/o/oauth2/v2/auth",
    about: "Google OAuth authorization endpoint",
};
const GOOGLE_TOKEN_URL: Setting = Setting {
    key: "google.token_url",
    env: "MAILROOM_GOOGLE_TOKEN_URL",
    default: "https://oauth2.googleapis.com/token",
    about: "Google OAuth token endpoint",
};
const GOOGLE_REVOKE_URL: Setting = Setting {
    key: "google.revoke_url",
    env: "MAILROOM_GOOGLE_REVOKE_URL",
    default: "https://oauth2.googleapis.com/revoke",
    about: "Google OAuth revocation endpoint",
};
const GOOGLE_API_URL: Setting = Setting {
    key: "google.api_url",
    env: "MAILROOM_GOOGLE_API_URL",
    default: "https://gmail.googleapis.com/",
    about: "base URL of the Gmail API",
};
const GOOGLE_USERINFO_URL: Setting = Setting {
    key: "google.userinfo_url",
    env: "MAILROOM_GOOGLE_USERINFO_URL",
    default: "https://openidconnect.googleapis.com/v1/userinfo",
    about: "Google OpenID Connect userinfo endpoint",
};
const MICROSOFT_AUTH_URL: Setting = Setting {
    key: "microsoft.auth_url",
    env: "MAILROOM_MICROSOFT_AUTH_URL",
    default: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
    about: "Microsoft authorization endpoint; `{tenant}` is replaced by the tenant",
};
const MICROSOFT_TOKEN_URL: Setting = Setting {
    key: "microsoft.token_url",
    env: "MAILROOM_MICROSOFT_TOKEN_URL",
    default: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
    about: "Microsoft token endpoint; `{tenant}` is replaced by the tenant",
};
const MICROSOFT_API_URL: Setting = Setting {
    key: "microsoft.api_url",
    env: "MAILROOM_MICROSOFT_API_URL",
    default: "https://graph.microsoft.com/v1.0/",
    about: "base URL of the Microsoft Graph API",
};
const GOOGLE_SCOPES: Setting = Setting {
    key: "google.scopes",
    env: "MAILROOM_GOOGLE_SCOPES",
    default: "openid email profile https://mail.google.com/ \
              https://www.googleapis.com/auth/gmail.settings.basic",
    about: "OAuth scopes asked of Google, separated by spaces",
};
const MICROSOFT_SCOPES: Setting = Setting {
    key: "microsoft.scopes",
    env: "MAILROOM_MICROSOFT_SCOPES",
    default: "openid profile email offline_access User.Read Mail.ReadWrite Mail.Send",
    about: "OAuth scopes asked of Microsoft, separated by spaces",
};
const SYNC_CONCURRENCY: Setting = Setting {
    key: "sync.concurrency",
    env: "MAILROOM_SYNC_CONCURRENCY",
    default: "4",
    about: "accounts one server process syncs at once (1 to 64)",
};
const SEND_UNDO_SECONDS: Setting = Setting {
    key: "send.undo_seconds",
    env: "MAILROOM_SEND_UNDO_SECONDS",
    default: "5",
    about: "seconds a message sent from the web page waits, so the sender can take it back (0 to 60)",
};
const GOOGLE_QUOTA_UNITS: Setting = Setting {
    key: "google.quota_units_per_minute",
    env: "MAILROOM_GOOGLE_QUOTA_UNITS_PER_MINUTE",
    default: "15000",
    about: "Gmail quota units each user may spend a minute (15000 for projects from before May 2026, 6000 after)",
};
const GOOGLE_QUOTA_COSTS: Setting = Setting {
    key: "google.quota_costs",
    env: "MAILROOM_GOOGLE_QUOTA_COSTS",
    default: "legacy",
    about: "Gmail's cost per method: `legacy` (messages.get 5 units) or `2026` (messages.get 20 units)",
};

const TRUSTED_PROXIES: Setting = Setting {
    key: "trusted_proxies",
    env: "MAILROOM_TRUSTED_PROXIES",
    default: "(none)",
    about: "reverse proxies' addresses or networks (`10.0.0.0/8`), separated by commas: their X-Forwarded-For \
            names the client",
};
const METRICS_TOKEN: Setting = Setting {
    key: "metrics_token",
    env: "MAILROOM_METRICS_TOKEN",
    default: "(none)",
    about: "bearer token /metrics asks for; unset, /metrics answers only local requests that no proxy forwarded",
};

/// Every setting, in the order `--help` lists them.
pub const SETTINGS: &[Setting] = &[
    LISTEN,
    PUBLIC_URL,
    DATA_DIR,
    DATABASE_URL,
    SECRET_KEY,
    LOG_FORMAT,
    TRUSTED_PROXIES,
    METRICS_TOKEN,
    GOOGLE_AUTH_URL,
    GOOGLE_TOKEN_URL,
    GOOGLE_REVOKE_URL,
    GOOGLE_API_URL,
    GOOGLE_USERINFO_URL,
    GOOGLE_SCOPES,
    MICROSOFT_AUTH_URL,
    MICROSOFT_TOKEN_URL,
    MICROSOFT_API_URL,
    MICROSOFT_SCOPES,
    GOOGLE_QUOTA_UNITS,
    GOOGLE_QUOTA_COSTS,
    SYNC_CONCURRENCY,
    SEND_UNDO_SECONDS,
];

/// The settings a file may give as a TOML integer.
const NUMERIC: &[&str] = &[SYNC_CONCURRENCY.key, GOOGLE_QUOTA_UNITS.key, SEND_UNDO_SECONDS.key];

/// The file sections holding nested settings such as `google.auth_url`.
const SECTIONS: &[&str] = &["google", "microsoft", "sync", "send"];

const TENANT: &str = "{tenant}";

/// The checked settings. `Debug` shows neither the secret key nor a Postgres URL.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Stored without a trailing slash in its path, apart from the root's.
    pub public_url: Url,
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    /// 64 hexadecimal characters when set; only its shape is checked here.
    pub secret_key: Option<SecretString>,
    pub log_format: LogFormat,
    pub google: GoogleEndpoints,
    pub microsoft: MicrosoftEndpoints,
    pub sync: SyncSettings,
    /// How long a message sent from the web page can be taken back.
    pub undo_send_seconds: u32,
    /// The reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// What `/metrics` asks for as a bearer token, when set.
    pub metrics_token: Option<SecretString>,
}

/// How the sync engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSettings {
    /// Accounts one process syncs at once.
    pub concurrency: usize,
    /// Gmail quota units a user may spend in a minute.
    pub gmail_units_per_minute: u32,
    pub gmail_costs: GmailCostTable,
}

/// Which of Google's published cost tables applies to the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GmailCostTable {
    Legacy,
    Y2026,
}

#[derive(Clone)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    /// The full URL, kept secret because it may hold a password.
    Postgres(SecretString),
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            DatabaseUrl::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleEndpoints {
    pub auth_url: Url,
    pub token_url: Url,
    pub revoke_url: Url,
    /// Ends with `/`, so relative paths join onto it.
    pub api_url: Url,
    pub userinfo_url: Url,
    /// The scopes Mailroom asks Google for.
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MicrosoftEndpoints {
    /// Template containing `{tenant}`.
    pub auth_url: String,
    /// Template containing `{tenant}`.
    pub token_url: String,
    /// Ends with `/`, so relative paths join onto it.
    pub api_url: Url,
    /// The scopes Mailroom asks Microsoft for.
    pub scopes: Vec<String>,
}

impl MicrosoftEndpoints {
    /// The authorization URL for a tenant id, domain, `common` or `organizations`, inserted as is.
    pub fn auth_url_for(&self, tenant: &str) -> String {
        self.auth_url.replace(TENANT, tenant)
    }

    /// The token URL for a tenant, inserted as is.
    pub fn token_url_for(&self, tenant: &str) -> String {
        self.token_url.replace(TENANT, tenant)
    }
}

/// One invalid setting. `source` names the variable, or the file and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub source: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every invalid setting found, displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Checks the settings from `file` (its display name and text, when one was read) and `env`.
    pub fn load(file: Option<(&str, &str)>, env: &HashMap<String, String>) -> Result<Config, ConfigErrors> {
        let mut sources = Sources::new(file, env);
        let listen = sources.get(&LISTEN, parse_listen).unwrap_or(DEFAULT_LISTEN);
        let public_url = sources.get(&PUBLIC_URL, parse_public_url).unwrap_or_else(|| default_public_url(listen));
        let data_dir = sources.get_or_default(&DATA_DIR, |v| Ok(PathBuf::from(v)));
        let database_url = sources
            .get(&DATABASE_URL, parse_database_url)
            .unwrap_or_else(|| DatabaseUrl::Sqlite(data_dir.join("mailroom.db")));
        let config = Config {
            listen,
            public_url,
            data_dir,
            database_url,
            secret_key: sources.get(&SECRET_KEY, parse_secret_key),
            log_format: sources.get_or_default(&LOG_FORMAT, parse_log_format),
            google: GoogleEndpoints {
                auth_url: sources.get_or_default(&GOOGLE_AUTH_URL, parse_http_url),
                token_url: sources.get_or_default(&GOOGLE_TOKEN_URL, parse_http_url),
                revoke_url: sources.get_or_default(&GOOGLE_REVOKE_URL, parse_http_url),
                api_url: sources.get_or_default(&GOOGLE_API_URL, parse_api_url),
                userinfo_url: sources.get_or_default(&GOOGLE_USERINFO_URL, parse_http_url),
                scopes: sources.get_or_default(&GOOGLE_SCOPES, parse_scopes),
            },
            microsoft: MicrosoftEndpoints {
                auth_url: sources.get_or_default(&MICROSOFT_AUTH_URL, parse_tenant_template),
                token_url: sources.get_or_default(&MICROSOFT_TOKEN_URL, parse_tenant_template),
                api_url: sources.get_or_default(&MICROSOFT_API_URL, parse_api_url),
                scopes: sources.get_or_default(&MICROSOFT_SCOPES, parse_scopes),
            },
            sync: SyncSettings {
                concurrency: sources.get_or_default(&SYNC_CONCURRENCY, |v| parse_in(v, 1, 64)),
                gmail_units_per_minute: sources
                    .get_or_default(&GOOGLE_QUOTA_UNITS, |v| parse_in(v, 1, 1_000_000).map(|n| n as u32)),
                gmail_costs: sources.get_or_default(&GOOGLE_QUOTA_COSTS, parse_cost_table),
            },
            undo_send_seconds: sources.get_or_default(&SEND_UNDO_SECONDS, |v| parse_in(v, 0, 60).map(|n| n as u32)),
            trusted_proxies: sources.get(&TRUSTED_PROXIES, parse_networks).unwrap_or_default(),
            metrics_token: sources.get(&METRICS_TOKEN, parse_metrics_token),
        };
        if sources.errors.is_empty() { Ok(config) } else { Err(ConfigErrors(sources.errors)) }
    }

    /// A warning when the public URL cannot reach this server: it names this machine (a loopback
    /// address or `localhost`) but another port, or a loopback host while the server listens only
    /// elsewhere. Providers send users back to the public URL, so such a mismatch would surface
    /// as a failed connection; behind a proxy the public URL names the proxy and is not checked.
    /// Also when it is plain http on another machine (see [`plain_http_off_this_machine`]).
    pub fn public_url_warning(&self) -> Option<String> {
        if plain_http_off_this_machine(&self.public_url) {
            return Some(format!(
                "the public URL {} is plain http on another machine: Google and Microsoft accept only https \
                 redirect URIs there, and passwords and cookies would cross the network unencrypted; set \
                 MAILROOM_PUBLIC_URL to the https address users open (a reverse proxy terminates TLS)",
                self.base_url()
            ));
        }
        let host = self.public_url.host_str()?;
        if !is_this_machine(host) {
            return None;
        }
        let port = self.public_url.port_or_known_default()?;
        let listen_ip = self.listen.ip();
        let reachable_ip = listen_ip.is_loopback() || listen_ip.is_unspecified();
        if port != self.listen.port() || !reachable_ip {
            Some(format!(
                "the public URL {} does not reach the address Mailroom listens on ({}): the OAuth redirect URI \
                 {} will not come back here; set MAILROOM_PUBLIC_URL to the address users open",
                self.base_url(),
                self.listen,
                self.redirect_uri()
            ))
        } else {
            None
        }
    }

    /// Cookies get the `Secure` attribute only when users arrive over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The public URL without a trailing slash, ready for appending absolute paths.
    pub fn base_url(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    /// Where OAuth providers send users back to.
    pub fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.base_url())
    }
}

/// Whether `host` names this machine: `localhost` or a loopback address.
fn is_this_machine(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a public URL is plain http on a host other than this machine. Google and Microsoft
/// refuse an http redirect URI except on a loopback host, so connecting a mailbox fails at the
/// provider's sign-in; and the session cookie and passwords would cross the network unencrypted.
pub fn plain_http_off_this_machine(url: &Url) -> bool {
    url.scheme() == "http" && url.host_str().is_some_and(|host| !is_this_machine(host))
}

const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));

/// The raw values of both sources, and the errors found so far.
struct Sources<'a> {
    file_name: &'a str,
    file: HashMap<String, String>,
    env: &'a HashMap<String, String>,
    errors: Vec<ConfigError>,
}

impl<'a> Sources<'a> {
    fn new(file: Option<(&'a str, &str)>, env: &'a HashMap<String, String>) -> Self {
        let mut sources =
            Sources { file_name: file.map_or("", |(name, _)| name), file: HashMap::new(), env, errors: Vec::new() };
        if let Some((_, text)) = file {
            sources.read_file(text);
        }
        sources
    }

    fn read_file(&mut self, text: &str) {
        let table = match text.parse::<toml::Table>() {
            Ok(table) => table,
            Err(error) => {
                // toml's own rendering quotes the offending line, which may hold the secret key
                let position = error.span().map_or_else(String::new, |span| {
                    let before = text.get(..span.start).unwrap_or_default();
                    let line = before.matches('\n').count() + 1;
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    format!(" at line {line}, column {column}")
                });
                let message = format!("invalid TOML{position}: {}", error.message().trim_end());
                self.errors.push(ConfigError { source: self.file_name.to_owned(), message });
                return;
            }
        };
        for (key, value) in table {
            match value {
                toml::Value::Table(section) if SECTIONS.contains(&key.as_str()) => {
                    for (name, value) in section {
                        self.add_file_value(format!("{key}.{name}"), value);
                    }
                }
                value => self.add_file_value(key, value),
            }
        }
    }

    fn add_file_value(&mut self, key: String, value: toml::Value) {
        let message = match value {
            value if SECTIONS.contains(&key.as_str()) => {
                format!("must be a table, found {}", value.type_str())
            }
            _ if !SETTINGS.iter().any(|s| s.key == key) => "unknown setting".to_owned(),
            toml::Value::String(value) => {
                self.file.insert(key, value);
                return;
            }
            // Counts read naturally as numbers in a file; the setting's parser checks the range.
            toml::Value::Integer(n) if NUMERIC.contains(&key.as_str()) => {
                self.file.insert(key, n.to_string());
                return;
            }
            value => format!("must be a string, found {}", value.type_str()),
        };
        self.errors.push(ConfigError { source: self.file_key(&key), message });
    }

    fn file_key(&self, key: &str) -> String {
        format!("{} key `{key}`", self.file_name)
    }

    /// The value set for `setting`, the variable winning over the file; `None` when it is unset
    /// or invalid, the latter recorded as an error.
    fn get<T>(&mut self, setting: &Setting, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let (source, value) = match self.env.get(setting.env) {
            Some(value) => (setting.env.to_owned(), value.as_str()),
            None => (self.file_key(setting.key), self.file.get(setting.key)?.as_str()),
        };
        let parsed = if value.is_empty() { Err("is empty".to_owned()) } else { parse(value) };
        parsed.map_err(|message| self.errors.push(ConfigError { source, message })).ok()
    }

    /// Like [`Sources::get`], falling back to the setting's documented default.
    fn get_or_default<T>(&mut self, setting: &Setting, parse: impl Fn(&str) -> Result<T, String>) -> T {
        self.get(setting, &parse).unwrap_or_else(|| {
            // the tests load every default, so this cannot fail at run time
            parse(setting.default).expect("built-in defaults are valid")
        })
    }
}

fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    value
        .parse()
        .map_err(|_| format!("`{value}` is not an IP address and port such as `127.0.0.1:8080` or `[::]:8080`"))
}

fn default_public_url(listen: SocketAddr) -> Url {
    let host = match listen.ip() {
        ip if ip.is_unspecified() => "localhost".to_owned(),
        IpAddr::V4(ip) => ip.to_string(),
        // formatted without the scope id, which URLs cannot carry
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let url = format!("http://{host}:{}/", listen.port());
    Url::parse(&url).expect("an ip address and port form a valid url")
}

fn parse_http_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("`{value}` is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{value}` is not an http or https URL"));
    }
    // credentials would leak through `Debug` and logs; no endpoint needs them in the URL
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a username or password".into());
    }
    Ok(url)
}

/// An http(s) URL other paths are appended to, so a query or fragment makes no sense.
fn parse_base_url(value: &str) -> Result<Url, String> {
    let url = parse_http_url(value)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{value}` must not have a query or fragment"));
    }
    Ok(url)
}

fn parse_public_url(value: &str) -> Result<Url, String> {
    let mut url = parse_base_url(value)?;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

fn parse_api_url(value: &str) -> Result<Url, String> {
    let mut url = parse_base_url(value)?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn parse_scopes(value: &str) -> Result<Vec<String>, String> {
    let scopes: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
    if scopes.is_empty() {
        return Err("needs at least one scope".to_owned());
    }
    if scopes.iter().any(|s| s.chars().any(|c| c.is_control() || c == '"' || c == '\\')) {
        return Err("scopes are names or URLs separated by spaces".to_owned());
    }
    Ok(scopes)
}

fn parse_tenant_template(value: &str) -> Result<String, String> {
    if !value.contains(TENANT) {
        return Err(format!("`{value}` must contain the placeholder `{TENANT}`"));
    }
    parse_http_url(&value.replace(TENANT, "common"))
        .map_err(|e| format!("with `{TENANT}` replaced by `common`, {e}"))?;
    Ok(value.to_owned())
}

// errors never quote the value: a postgres URL may hold a password
fn parse_database_url(value: &str) -> Result<DatabaseUrl, String> {
    if let Some(rest) = value.strip_prefix("sqlite:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        return match path {
            "" => Err("must name a database file after `sqlite:`".into()),
            ":memory:" => Err("must name a file: an in-memory database loses all data".into()),
            // the store sets the sqlite options itself and opens `path` as a file name
            _ if path.contains('?') => Err("must not pass sqlite options after `?`".into()),
            _ => Ok(DatabaseUrl::Sqlite(PathBuf::from(path))),
        };
    }
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        let url = Url::parse(value).map_err(|e| format!("is not a valid postgres URL: {e}"))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must name a host in the postgres URL".into());
        }
        return Ok(DatabaseUrl::Postgres(SecretString::from(value)));
    }
    Err("must be `sqlite:PATH`, `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DATABASE`".into())
}

// never quotes the value, which is a secret
fn parse_secret_key(value: &str) -> Result<SecretString, String> {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(SecretString::from(value))
    } else {
        Err("must be 64 hexadecimal characters (32 bytes), \
             for example the output of `openssl rand -hex 32`"
            .into())
    }
}

/// Addresses (`192.0.2.1`, `::1`) and networks (`10.0.0.0/8`), separated by commas or spaces.
fn parse_networks(value: &str) -> Result<Vec<IpNet>, String> {
    value
        .split([',', ' '])
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<IpNet>()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{part}` is not an IP address or a network such as `10.0.0.0/8`"))
        })
        .collect()
}

// errors never quote the value: it is a secret
fn parse_metrics_token(value: &str) -> Result<SecretString, String> {
    if value.len() >= 16 && value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(SecretString::from(value))
    } else {
        Err("must be at least 16 printable characters without spaces, for example `openssl rand -hex 32`".into())
    }
}

/// A whole number from `min` to `max`.
fn parse_in(value: &str, min: usize, max: usize) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("`{value}` is not a whole number from {min} to {max}")),
    }
}

fn parse_cost_table(value: &str) -> Result<GmailCostTable, String> {
    match value.trim() {
        "legacy" => Ok(GmailCostTable::Legacy),
        "2026" => Ok(GmailCostTable::Y2026),
        _ => Err(format!("`{value}` is neither `legacy` nor `2026`")),
    }
}

fn parse_log_format(value: &str) -> Result<LogFormat, String> {
    match value.to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("`{value}` is neither `text` nor `json`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

    fn load(file: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let env = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(Some(("mailroom.toml", file)), &env.collect())
    }

    fn load_ok(file: &str, vars: &[(&str, &str)]) -> Config {
        load(file, vars).unwrap_or_else(|e| panic!("config should load: {e}"))
    }

    fn errors(file: &str, vars: &[(&str, &str)]) -> Vec<ConfigError> {
        load(file, vars).err().map(|e| e.0).unwrap_or_default()
    }

    fn messages(file: &str, vars: &[(&str, &str)]) -> Vec<String> {
        errors(file, vars).iter().map(ToString::to_string).collect()
    }

    fn database(value: &str) -> Result<DatabaseUrl, Vec<ConfigError>> {
        let loaded = load("", &[("MAILROOM_DATABASE_URL", value)]);
        loaded.map(|c| c.database_url).map_err(|e| e.0)
    }

    #[test]
    fn empty_input_gives_the_documented_defaults() {
        let config = Config::load(None, &HashMap::new()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.listen.to_string(), LISTEN.default);
        assert_eq!(config.base_url(), "http://127.0.0.1:8080");
        assert!(!config.secure_cookies());
        assert_eq!(config.data_dir, PathBuf::from(DATA_DIR.default));
        let db = PathBuf::from("./mailroom-data/mailroom.db");
        assert!(matches!(&config.database_url, DatabaseUrl::Sqlite(p) if *p == db));
        assert!(config.secret_key.is_none());
        assert_eq!(config.log_format, LogFormat::Text);
        let google = &config.google;
        assert_eq!(google.auth_url.as_str(), GOOGLE_AUTH_URL.default);
        assert_eq!(google.token_url.as_str(), GOOGLE_TOKEN_URL.default);
        assert_eq!(google.revoke_url.as_str(), GOOGLE_REVOKE_URL.default);
        assert_eq!(google.api_url.as_str(), GOOGLE_API_URL.default);
        assert_eq!(google.userinfo_url.as_str(), GOOGLE_USERINFO_URL.default);
        let microsoft = &config.microsoft;
        assert_eq!(microsoft.auth_url, MICROSOFT_AUTH_URL.default);
        assert_eq!(microsoft.token_url, MICROSOFT_TOKEN_URL.default);
        assert_eq!(microsoft.api_url.as_str(), MICROSOFT_API_URL.default);
    }

    #[test]
    fn every_setting_has_a_variable_named_after_its_key() {
        for setting in SETTINGS {
            let expected = format!("MAILROOM_{}", setting.key.to_uppercase().replace('.', "_"));
            assert_eq!(setting.env, expected);
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = "listen = \"0.0.0.0:1\"\nlog_format = \"json\"\n[google]\napi_url = \"http://g/a\"";
        let vars = [("MAILROOM_LISTEN", "127.0.0.1:9"), ("MAILROOM_TEST_X", "")];
        let config = load_ok(file, &vars);
        assert_eq!(config.listen.port(), 9);
        assert_eq!(config.log_format, LogFormat::Json);
        // api base urls gain a trailing slash so relative paths join under them
        assert_eq!(config.google.api_url.as_str(), "http://g/a/");
    }

    #[test]
    fn every_error_is_reported_at_once_naming_its_source() {
        let file = "lisen = \"x\"\n[google]\nauth_url = \"ftp://g.test\"\n";
        let vars = [("MAILROOM_LISTEN", "nowhere"), ("MAILROOM_LOG_FORMAT", "xml")];
        let sources: Vec<String> = errors(file, &vars).into_iter().map(|e| e.source).collect();
        let expected = [
            "mailroom.toml key `lisen`",
            "MAILROOM_LISTEN",
            "MAILROOM_LOG_FORMAT",
            "mailroom.toml key `google.auth_url`",
        ];
        assert_eq!(sources, expected);
        let display = load(file, &vars).err().map(|e| e.to_string());
        let display = display.unwrap_or_default();
        assert_eq!(display.lines().count(), 4);
        assert!(display.starts_with("mailroom.toml key `lisen`: unknown setting\n"));
    }

    #[test]
    fn file_errors_cover_syntax_types_sections_and_empty_values() {
        let syntax = messages("listen = \n", &[]);
        assert!(syntax[0].starts_with("mailroom.toml: invalid TOML at line 1"));

        let file = "listen = 8080\ngoogle = \"x\"\ndata_dir = \"\"\n";
        let expected = [
            "mailroom.toml key `google`: must be a table, found string",
            "mailroom.toml key `listen`: must be a string, found integer",
            "MAILROOM_PUBLIC_URL: is empty",
            "mailroom.toml key `data_dir`: is empty",
        ];
        assert_eq!(messages(file, &[("MAILROOM_PUBLIC_URL", "")]), expected);
    }

    #[test]
    fn sync_settings_have_published_defaults_and_checked_ranges() {
        let config = load_ok("", &[]);
        assert_eq!(
            config.sync,
            SyncSettings { concurrency: 4, gmail_units_per_minute: 15_000, gmail_costs: GmailCostTable::Legacy }
        );
        let config =
            load_ok("[sync]\nconcurrency = 2\n[google]\nquota_units_per_minute = 6000\nquota_costs = \"2026\"\n", &[]);
        assert_eq!(
            config.sync,
            SyncSettings { concurrency: 2, gmail_units_per_minute: 6000, gmail_costs: GmailCostTable::Y2026 }
        );
        let vars = [("MAILROOM_SYNC_CONCURRENCY", "0"), ("MAILROOM_GOOGLE_QUOTA_COSTS", "cheap")];
        assert_eq!(
            messages("", &vars),
            [
                "MAILROOM_SYNC_CONCURRENCY: `0` is not a whole number from 1 to 64",
                "MAILROOM_GOOGLE_QUOTA_COSTS: `cheap` is neither `legacy` nor `2026`",
            ]
        );
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        assert!(load_ok("", &[]).trusted_proxies.is_empty());
        let config = load_ok("trusted_proxies = \"10.0.0.0/8, 192.0.2.7 ::1\"\n", &[]);
        let proxies: Vec<String> = config.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(proxies, ["10.0.0.0/8", "192.0.2.7/32", "::1/128"]);
        assert!(config.trusted_proxies[0].contains(&"10.1.2.3".parse::<IpAddr>().unwrap()));
        assert_eq!(
            messages("", &[("MAILROOM_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")]),
            ["MAILROOM_TRUSTED_PROXIES: `proxy.local` is not an IP address or a network such as `10.0.0.0/8`"]
        );
    }

    #[test]
    fn the_metrics_token_is_long_enough_and_never_echoed() {
        let token = "a-long-metrics-token-1234";
        let config = load_ok("", &[("MAILROOM_METRICS_TOKEN", token)]);
        assert!(config.metrics_token.is_some());
        assert!(!format!("{config:?}").contains(token));
        let short = messages("metrics_token = \"short one\"\n", &[]);
        assert_eq!(short.len(), 1);
        assert!(!short[0].contains("short one"), "{}", short[0]);
    }

    #[test]
    fn secret_key_is_never_echoed() {
        let config = load_ok("", &[("MAILROOM_SECRET_KEY", KEY)]);
        assert!(config.secret_key.is_some());
        assert!(!format!("{config:?}").contains(KEY));

        let bad = format!("{}g", &KEY[..63]);
        let invalid = messages(&format!("secret_key = \"{bad}\"\n"), &[]);
        assert_eq!(invalid.len(), 1);
        assert!(!invalid[0].contains(&bad));
        assert!(invalid[0].contains("`openssl rand -hex 32`"));

        // a syntax error on the secret's line must not quote the line either
        let unquoted = messages(&format!("secret_key = {bad}\n"), &[]);
        assert!(!unquoted[0].contains(&bad), "{}", unquoted[0]);
    }

    #[test]
    fn database_url_accepts_sqlite_paths_and_postgres_urls() {
        let sqlite = |v| match database(v) {
            Ok(DatabaseUrl::Sqlite(path)) => path,
            other => panic!("{v}: {other:?}"),
        };
        assert_eq!(sqlite("sqlite:./x.db"), PathBuf::from("./x.db"));
        assert_eq!(sqlite("sqlite://x.db"), PathBuf::from("x.db"));
        assert_eq!(sqlite("sqlite:///srv/m.db"), PathBuf::from("/srv/m.db"));

        let postgres = database("postgres://mailroom:hunter2@db.test/mailroom");
        let debug = postgres.map(|db| format!("{db:?}"));
        assert_eq!(debug.as_deref(), Ok("Postgres(..)"));
        let postgresql = database("postgresql://db.test/m");
        assert!(matches!(postgresql, Ok(DatabaseUrl::Postgres(_))));

        let bad = ["sqlite:", "sqlite:x?mode=rwc", "postgres:///m", "mysql://u:hunter2@h/m"];
        for bad in bad {
            let errors = database(bad).err().unwrap_or_default();
            assert_eq!(errors.len(), 1, "{bad}");
            assert_eq!(errors[0].source, "MAILROOM_DATABASE_URL");
            assert!(!errors[0].message.contains("hunter2"));
        }
        let memory = database("sqlite::memory:").err().unwrap_or_default();
        assert!(memory[0].message.contains("loses all data"), "{}", memory[0]);
    }

    #[test]
    fn public_url_defaults_to_localhost_when_listening_on_every_address() {
        let v4 = load_ok("listen = \"0.0.0.0:3000\"", &[]);
        assert_eq!(v4.public_url.as_str(), "http://localhost:3000/");
        let v6 = load_ok("", &[("MAILROOM_LISTEN", "[::]:3001")]);
        assert_eq!(v6.base_url(), "http://localhost:3001");
        let loopback = load_ok("", &[("MAILROOM_LISTEN", "[::1]:3002")]);
        assert_eq!(loopback.base_url(), "http://[::1]:3002");
    }

    #[test]
    fn redirect_uri_ignores_a_trailing_slash_in_the_public_url() {
        for (public, redirect) in [
            ("https://m.test", "https://m.test/oauth/callback"),
            ("https://m.test/", "https://m.test/oauth/callback"),
            ("https://m.test/mail/", "https://m.test/mail/oauth/callback"),
            ("http://m.test/mail", "http://m.test/mail/oauth/callback"),
        ] {
            let config = load_ok("", &[("MAILROOM_PUBLIC_URL", public)]);
            assert_eq!(config.redirect_uri(), redirect);
            assert_eq!(config.secure_cookies(), public.starts_with("https:"));
        }
        let bad = ["ftp://m", "https://m/?a", "https://m/#a", "m.test", "http://u:p@m"];
        for bad in bad {
            let errors = errors("", &[("MAILROOM_PUBLIC_URL", bad)]);
            assert_eq!(errors.len(), 1, "{bad}");
        }
    }

    #[test]
    fn microsoft_templates_need_the_tenant_placeholder_and_a_valid_url() {
        let file = "[microsoft]\nauth_url = \"http://ms.test/{tenant}/authorize\"\n";
        let config = load_ok(file, &[("MAILROOM_MICROSOFT_API_URL", "http://ms.test/g")]);
        let microsoft = &config.microsoft;
        assert_eq!(microsoft.auth_url_for("c"), "http://ms.test/c/authorize");
        let token_url = "https://login.microsoftonline.com/common/oauth2/v2.0/token";
        assert_eq!(microsoft.token_url_for("common"), token_url);
        assert_eq!(microsoft.api_url.as_str(), "http://ms.test/g/");

        let vars = [
            ("MAILROOM_MICROSOFT_AUTH_URL", "https://ms.test/authorize"),
            ("MAILROOM_MICROSOFT_TOKEN_URL", "ldap://{tenant}/token"),
        ];
        let errors = messages("", &vars);
        assert_eq!(errors.len(), 2);
        assert!(errors[0].contains("must contain the placeholder `{tenant}`"));
        assert!(errors[1].starts_with("MAILROOM_MICROSOFT_TOKEN_URL: with `{tenant}` replaced"));
    }

    #[test]
    fn scopes_come_from_the_environment_and_may_not_be_empty() {
        let config = load_ok("", &[("MAILROOM_MICROSOFT_SCOPES", "openid  offline_access Mail.Read")]);
        assert_eq!(config.microsoft.scopes, ["openid", "offline_access", "Mail.Read"]);
        assert!(config.google.scopes.contains(&"https://mail.google.com/".to_owned()));
        let found = errors("[google]\nscopes = \"  \"\n", &[]);
        assert!(found.iter().any(|e| e.source.contains("google.scopes")), "{found:?}");
    }

    #[test]
    fn a_public_url_on_this_machine_but_another_port_is_warned_about() {
        assert!(load_ok("", &[]).public_url_warning().is_none());
        let wrong_port = load_ok("", &[("MAILROOM_PUBLIC_URL", "http://localhost:9999")]);
        assert!(wrong_port.public_url_warning().is_some_and(|w| w.contains("MAILROOM_PUBLIC_URL")));
        let proxy = load_ok("", &[("MAILROOM_PUBLIC_URL", "https://mail.example.com")]);
        assert!(proxy.public_url_warning().is_none(), "a proxy's URL is not checked");
    }

    #[test]
    fn a_plain_http_public_url_on_another_machine_is_warned_about() {
        let plain = load_ok("", &[("MAILROOM_PUBLIC_URL", "http://mail.example.com")]);
        assert!(plain.public_url_warning().is_some_and(|w| w.contains("https")));
        for local in ["http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080"] {
            let url = Url::parse(local).unwrap();
            assert!(!plain_http_off_this_machine(&url), "{local} is this machine");
        }
        assert!(plain_http_off_this_machine(&Url::parse("http://192.0.2.7").unwrap()));
        assert!(!plain_http_off_this_machine(&Url::parse("https://mail.example.com").unwrap()));
    }
}
