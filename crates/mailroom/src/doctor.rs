//! `mailroom doctor`: checks an installation the way an administrator would, one line per
//! finding, each problem with what to do about it. Changes nothing: no folder, key file or
//! database is created, no migration is run.

use std::path::Path;

use mailroom_config::{Config, DatabaseUrl};
use mailroom_domain::Provider;
use mailroom_store::{Db, DbTarget, KeyInput, OpenError, Store};
use secrecy::{ExposeSecret, SecretString};

use crate::report;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warning,
    Problem,
}

/// The findings so far, printed as they come.
#[derive(Default)]
struct Findings {
    problems: usize,
    warnings: usize,
}

impl Findings {
    fn add(&mut self, level: Level, line: impl AsRef<str>) {
        let mark = match level {
            Level::Ok => "ok     ",
            Level::Warning => {
                self.warnings += 1;
                "warning"
            }
            Level::Problem => {
                self.problems += 1;
                "PROBLEM"
            }
        };
        report(&format!("{mark}  {}", line.as_ref()));
    }
}

/// Runs every check; fails when one of them found a problem.
pub async fn doctor(config: &Config) -> anyhow::Result<()> {
    let mut found = Findings::default();
    found.add(Level::Ok, "the configuration is valid");
    check_public_url(config, &mut found).await;
    check_endpoints(config, &mut found);
    let sqlite = match &config.database_url {
        DatabaseUrl::Sqlite(path) => Some(path.clone()),
        DatabaseUrl::Postgres(_) => None,
    };
    let key = KeyInput { given: config.secret_key.clone(), file: crate::key_file(&config.data_dir) };
    check_data_dir(&config.data_dir, sqlite.is_some() || key.given.is_none(), &mut found);
    check_key_file(&key, &mut found);
    if let Some(db) = check_database(config, sqlite.as_deref(), &mut found).await {
        check_secrets(config, db, key, &mut found).await;
    }
    report("");
    if found.problems > 0 {
        anyhow::bail!(
            "{} problem(s) and {} warning(s) found; see the lines marked PROBLEM",
            found.problems,
            found.warnings
        )
    }
    report(&format!("no problems found ({} warning(s))", found.warnings));
    Ok(())
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

async fn check_public_url(config: &Config, found: &mut Findings) {
    let base = config.base_url();
    let url = &config.public_url;
    if url.scheme() == "https" {
        found.add(Level::Ok, format!("public URL {base} is https"));
    } else if is_loopback(url) {
        found.add(
            Level::Warning,
            format!(
                "public URL {base} is plain http on this machine: fine for a trial; for real use put Mailroom \
                 behind a proxy with TLS and set public_url (MAILROOM_PUBLIC_URL) to its https address"
            ),
        );
    } else {
        found.add(
            Level::Problem,
            format!(
                "public URL {base} is plain http on another host: Google and Microsoft accept only https redirect \
                 URIs away from localhost, and sign-in cookies would travel unencrypted; serve it over https \
                 (see docs/deployment.md) and set public_url to the https address"
            ),
        );
    }
    if let Some(warning) = config.public_url_warning() {
        found.add(Level::Problem, warning);
    }
    found
        .add(Level::Ok, format!("the redirect URI to register with Google and Microsoft is {}", config.redirect_uri()));
    // Whether this address reaches a Mailroom now: a proxy that forwards elsewhere shows here.
    let health = format!("{base}/healthz");
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build();
    let answer = match client {
        Ok(client) => client.get(&health).send().await.map(|r| r.status()),
        Err(err) => {
            found.add(Level::Warning, format!("cannot make an HTTP client to try {health}: {err}"));
            return;
        }
    };
    match answer {
        Ok(status) if status.is_success() => found.add(Level::Ok, format!("{health} answers")),
        Ok(status) => found.add(
            Level::Warning,
            format!("{health} answers {status}: check that the proxy forwards the public URL to Mailroom"),
        ),
        Err(_) => found.add(
            Level::Warning,
            format!(
                "{health} does not answer from this machine: start Mailroom, or check the proxy and DNS if it runs"
            ),
        ),
    }
}

/// Provider addresses other than Google's and Microsoft's own are for the simulator or a test
/// proxy; over plain http they must stay on this machine.
fn check_endpoints(config: &Config, found: &mut Findings) {
    let defaults = Config::load(None, &Default::default()).ok();
    let google = [
        &config.google.auth_url,
        &config.google.token_url,
        &config.google.revoke_url,
        &config.google.api_url,
        &config.google.userinfo_url,
    ];
    let microsoft_templates = [&config.microsoft.auth_url, &config.microsoft.token_url];
    let mut microsoft: Vec<url::Url> = microsoft_templates
        .iter()
        .filter_map(|template| url::Url::parse(&template.replace("{tenant}", "common")).ok())
        .collect();
    microsoft.push(config.microsoft.api_url.clone());
    for (name, urls, own) in [
        (
            "Google",
            google.iter().map(|u| (*u).clone()).collect::<Vec<_>>(),
            defaults.as_ref().map(|d| &d.google) == Some(&config.google),
        ),
        ("Microsoft", microsoft, defaults.as_ref().map(|d| &d.microsoft) == Some(&config.microsoft)),
    ] {
        let insecure: Vec<String> =
            urls.iter().filter(|u| u.scheme() != "https" && !is_loopback(u)).map(url::Url::to_string).collect();
        if !insecure.is_empty() {
            found.add(
                Level::Problem,
                format!("{name} endpoints over plain http away from this machine: {}; use https", insecure.join(", ")),
            );
        } else if own {
            found.add(Level::Ok, format!("{name} endpoints are {name}'s own"));
        } else {
            let hosts: std::collections::BTreeSet<String> = urls
                .iter()
                .filter_map(|u| u.host_str().map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0))))
                .collect();
            found.add(
                Level::Warning,
                format!(
                    "{name} endpoints point at {} instead of {name}: right for the simulator or a test, not for real mail",
                    hosts.into_iter().collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
}

fn check_data_dir(dir: &Path, used: bool, found: &mut Findings) {
    if !used {
        return;
    }
    let Ok(meta) = std::fs::metadata(dir) else {
        found.add(
            Level::Ok,
            format!("the data directory {} does not exist yet; Mailroom creates it at first start", dir.display()),
        );
        return;
    };
    if !meta.is_dir() {
        found.add(Level::Problem, format!("the data directory {} is not a directory", dir.display()));
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            found.add(
                Level::Warning,
                format!(
                    "the data directory {} can be read by other users (mode {mode:o}); it holds everyone's mail: \
                     chmod 700 {}",
                    dir.display(),
                    dir.display()
                ),
            );
        }
    }
    // Writable by whoever runs this, checked by writing: mode bits alone miss read-only mounts.
    let probe = dir.join(format!(".mailroom-doctor-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            found.add(Level::Ok, format!("the data directory {} is writable", dir.display()));
        }
        Err(err) => found.add(
            Level::Problem,
            format!(
                "cannot write in the data directory {}: {err}; give it to the user Mailroom runs as",
                dir.display()
            ),
        ),
    }
}

fn check_key_file(key: &KeyInput, found: &mut Findings) {
    if key.given.is_some() {
        found.add(Level::Ok, "the secret key comes from MAILROOM_SECRET_KEY (keep a copy apart from backups)");
        return;
    }
    let Ok(meta) = std::fs::metadata(&key.file) else { return };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            found.add(
                Level::Problem,
                format!(
                    "the key file {} can be read by other users (mode {mode:o}): chmod 600 {}",
                    key.file.display(),
                    key.file.display()
                ),
            );
            return;
        }
    }
    let _ = meta;
    found.add(Level::Ok, format!("the key file {} is readable by its owner only", key.file.display()));
}

/// Opens the database without creating or migrating it, and says how its schema compares.
async fn check_database(config: &Config, sqlite: Option<&Path>, found: &mut Findings) -> Option<Db> {
    let target = match (sqlite, &config.database_url) {
        (Some(path), _) => {
            if !path.exists() {
                found.add(
                    Level::Ok,
                    format!("no database at {} yet; Mailroom creates it at first start", path.display()),
                );
                return None;
            }
            DbTarget::Sqlite(path.to_owned())
        }
        (None, DatabaseUrl::Postgres(url)) => DbTarget::Postgres(url.expose_secret().to_owned()),
        (None, DatabaseUrl::Sqlite(_)) => return None,
    };
    let db = match Db::connect(&target).await {
        Ok(db) => db,
        Err(err) => {
            found.add(Level::Problem, format!("cannot open the database: {err}"));
            return None;
        }
    };
    let what = db.backend().as_str();
    match db.schema_state().await {
        Ok(state) if state.unknown > 0 => {
            found.add(
                Level::Problem,
                format!(
                    "the {what} database was brought up to date by a newer Mailroom ({} migration(s) this version \
                     does not know): run that version, or restore the backup made before the upgrade",
                    state.unknown
                ),
            );
            None
        }
        Ok(state) if state.applied == 0 => {
            found.add(Level::Ok, format!("the {what} database is empty; Mailroom sets it up at first start"));
            None
        }
        Ok(state) => {
            let note = if state.pending > 0 {
                format!("; {} migration(s) run at the next start (back up first)", state.pending)
            } else {
                String::new()
            };
            found.add(Level::Ok, format!("the {what} database answers{note}"));
            Some(db)
        }
        Err(err) => {
            found.add(Level::Problem, format!("cannot read the {what} database: {err}"));
            None
        }
    }
}

/// The key against the database, then each enabled provider's OAuth client against the
/// provider's token endpoint: a refresh with a made-up token is refused as `invalid_grant` when
/// the client ID and secret are right, and as `invalid_client` when they are not.
async fn check_secrets(config: &Config, db: Db, key: KeyInput, found: &mut Findings) {
    match Store::check_key(&db, &key).await {
        Ok(Some(origin)) => found.add(Level::Ok, format!("the secret key from {origin} opens the database's secrets")),
        Ok(None) => {
            found.add(Level::Ok, "no secret key yet and no secrets stored; Mailroom creates the key at first start");
            db.close().await;
            return;
        }
        Err(err @ (OpenError::KeyMissing { .. } | OpenError::WrongKey { .. } | OpenError::KeyFileMalformed { .. })) => {
            found.add(Level::Problem, err.to_string());
            db.close().await;
            return;
        }
        Err(err) => {
            found.add(Level::Problem, format!("cannot check the secret key: {err}"));
            db.close().await;
            return;
        }
    }
    let store = match Store::unlock(db, key).await {
        Ok(store) => store,
        Err(err) => {
            found.add(Level::Problem, err.to_string());
            return;
        }
    };
    let endpoints = mailroom_providers::Endpoints::from(config);
    let providers = mailroom_providers::Providers::new(endpoints.clone());
    let settings = match store.email_settings().await {
        Ok(settings) => settings,
        Err(err) => {
            found.add(Level::Problem, format!("cannot read the email settings: {err}"));
            store.db().close().await;
            return;
        }
    };
    for (provider, saved) in [(Provider::Google, &settings.google), (Provider::Microsoft, &settings.microsoft)] {
        let name = match provider {
            Provider::Google => "Google",
            Provider::Microsoft => "Microsoft",
        };
        if !saved.enabled {
            found.add(Level::Ok, format!("{name} mailboxes are not enabled (Email settings)"));
            continue;
        }
        let app = match mailroom_sync::oauth_app(&store, &endpoints, provider, &config.redirect_uri()).await {
            Ok(Some(app)) => app,
            Ok(None) => {
                found.add(
                    Level::Problem,
                    format!("{name} is enabled without a client ID and secret: enter them on the Email settings page"),
                );
                continue;
            }
            Err(err) => {
                found.add(Level::Problem, format!("cannot open the {name} client secret: {err}"));
                continue;
            }
        };
        let made_up = SecretString::from("mailroom-doctor-made-up-refresh-token".to_owned());
        match providers.refresh(&app, &made_up, mailroom_store::now()).await {
            Err(mailroom_providers::OAuthError::InvalidClient { error }) => found.add(
                Level::Problem,
                format!(
                    "{name} refuses the client ID or secret ({error}): copy them again from the provider's console \
                     onto the Email settings page{}",
                    if provider == Provider::Microsoft {
                        "; Microsoft secrets expire, so it may need a new one"
                    } else {
                        ""
                    }
                ),
            ),
            Err(mailroom_providers::OAuthError::Transient { reason, .. }) => {
                found.add(Level::Warning, format!("cannot reach {name}'s token endpoint now: {reason}"))
            }
            // Refused for the made-up token, which means the client itself was accepted.
            Err(_) | Ok(_) => found.add(Level::Ok, format!("{name} accepts the client ID and secret")),
        }
    }
    store.db().close().await;
}
