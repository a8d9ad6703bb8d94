//! The `mailroom` binary: reads the configuration, opens the store and runs a subcommand. Wiring
//! only; the work is done by the library crates.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use mailroom_config::{CONFIG_FILE_ENV, Config, DatabaseUrl, LogFormat, SETTINGS};
use mailroom_domain::{DisplayName, EmailAddress, Password, Role};
use mailroom_store::{Db, DbTarget, KeyInput, NewUser, Store};
use secrecy::ExposeSecret;

mod demo;
mod doctor;

#[derive(Parser)]
#[command(
    name = "mailroom",
    version,
    about = "Self-hosted email manager for Gmail and Outlook mailboxes",
    long_about = "Self-hosted email manager for Gmail and Outlook mailboxes.\n\n\
                  With no subcommand, `serve` runs. Settings come from mailroom.toml (or the file named by \
                  MAILROOM_CONFIG) and MAILROOM_* environment variables; see the list below.",
    after_long_help = settings_help(),
)]
struct Cli {
    /// The folder for the SQLite database and the secret key (the `data_dir` setting); for every
    /// command but `demo` and `sim`, which keep nothing.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// The address and port to listen on (the `listen` setting), e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (the default). Migrates the database first; stops on SIGINT or SIGTERM
    /// after finishing the requests in flight.
    Serve(ServeArgs),
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Write a consistent copy of the SQLite database to a new file while Mailroom runs. The
    /// secret key is not in it: keep the key somewhere else. For PostgreSQL, use pg_dump.
    Backup {
        /// The file to write; must not exist yet.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Put a backup in place as the SQLite database of an empty data directory, after checking
    /// it and that the secret key (key file or MAILROOM_SECRET_KEY) opens it.
    Restore {
        /// The backup file written by `mailroom backup`.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Check the configuration, the data directory, the database, the key, the public URL and
    /// the OAuth apps, and say what to fix. Changes nothing; exits non-zero on a problem.
    Doctor,
    /// Manage users from the command line.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage personal access tokens for the HTTP API.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Run the simulator of Google (OAuth, Gmail API) and Microsoft (identity platform, Graph
    /// mail), for tests and trials without the real services. Listens on loopback only.
    Sim(demo::SimArgs),
    /// Try Mailroom without Google or Microsoft: runs the server and the simulator in one process,
    /// with both providers configured, a demo administrator and seeded mailboxes. Loopback only.
    Demo(demo::DemoArgs),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a token for a user and print it. It is shown this once; Mailroom keeps only a hash.
    Create {
        /// The email address of the user the token acts for.
        #[arg(long)]
        email: String,
        /// A name that says what the token is for (up to 100 characters), shown in the token list.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. Works at any time, also before the first administrator exists.
    Create {
        /// The user's email address, used to sign in.
        #[arg(long)]
        email: String,
        /// The password, at least 12 characters. Prefer MAILROOM_USER_PASSWORD to keep it out of
        /// the shell's history.
        #[arg(long, env = "MAILROOM_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// The name shown in the UI; the part of the email before the @ when omitted.
        #[arg(long)]
        name: Option<String>,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
    },
}

fn settings_help() -> String {
    let mut help = String::from("Settings (mailroom.toml key / environment variable, default):\n");
    for setting in SETTINGS {
        help.push_str(&format!(
            "  {:<22} {:<30} {}\n      {}\n",
            setting.key, setting.env, setting.default, setting.about
        ));
    }
    help
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));
    let mut flags = Vec::new();
    if let Some(dir) = cli.data_dir {
        if matches!(command, Command::Demo(_) | Command::Sim(_)) {
            eprintln!("mailroom: --data-dir: the demo and the simulator keep nothing; leave it out");
            return ExitCode::from(2);
        }
        let Some(dir) = dir.to_str() else {
            eprintln!("mailroom: --data-dir: the path must be UTF-8");
            return ExitCode::from(2);
        };
        flags.push(("MAILROOM_DATA_DIR", dir.to_owned()));
    }
    if let Command::Serve(ServeArgs { listen: Some(listen) }) = &command {
        flags.push(("MAILROOM_LISTEN", listen.to_string()));
    }
    let config = match load_config(&flags) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("mailroom: {message}");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.log_format);
    log_panics_without_their_messages();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("mailroom: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Serve(_) => serve(config).await,
            Command::Migrate => migrate(&config).await,
            Command::Backup { to } => backup(&config, &to).await,
            Command::Restore { from } => restore(&config, &from).await,
            Command::Doctor => doctor::doctor(&config).await,
            Command::User { command } => user(&config, command).await,
            Command::Token { command } => token(&config, command).await,
            Command::Sim(args) => demo::sim(args, shutdown_signal()).await,
            Command::Demo(args) => demo::demo(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mailroom: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the configuration file (if any), the environment and the command line's flags, each
/// overriding the one before. All problems are reported at once.
fn load_config(flags: &[(&str, String)]) -> Result<Config, String> {
    let mut env: HashMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("MAILROOM_")).collect();
    env.extend(flags.iter().map(|(name, value)| ((*name).to_owned(), value.clone())));
    let (path, required) = match env.get(CONFIG_FILE_ENV) {
        Some(path) => (PathBuf::from(path), true),
        None => (PathBuf::from("mailroom.toml"), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => None,
        Err(err) => {
            return Err(format!("cannot read the configuration file {}: {err}", path.display()));
        }
    };
    let name = path.display().to_string();
    Config::load(text.as_deref().map(|t| (name.as_str(), t)), &env)
        .map_err(|errors| format!("the configuration is invalid:\n{errors}"))
}

/// Panics are logged by where they happened only: a panic's message may quote the mail or the
/// input it choked on, and logs never carry mail. A request's panic is answered with a 500 that
/// names the request (see `mailroom_web`), and this line carries the same span.
fn log_panics_without_their_messages() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
        tracing::error!(location = location.as_deref().unwrap_or("unknown"), "panicked");
    }));
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // html5ever warns of every oddity of every HTML message it reads ("foster parenting not
        // implemented"): mail is full of them, and they say nothing an operator can act on.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn,html5ever=error"));
    // Colours only for a person at a terminal: journald and log files would show the escape codes.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn open_db(config: &Config) -> anyhow::Result<Db> {
    let target = match &config.database_url {
        DatabaseUrl::Sqlite(path) => DbTarget::Sqlite(path.clone()),
        DatabaseUrl::Postgres(url) => DbTarget::Postgres(url.expose_secret().to_owned()),
    };
    let db = Db::connect(&target).await?;
    db.migrate().await?;
    Ok(db)
}

pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let db = open_db(config).await?;
    let key = KeyInput { given: config.secret_key.clone(), file: key_file(&config.data_dir) };
    let store = Store::unlock(db, key).await?;
    Ok(store)
}

fn key_file(data_dir: &Path) -> PathBuf {
    data_dir.join("secret.key")
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = open_db(config).await?;
    tracing::info!(backend = db.backend().as_str(), "the database schema is up to date");
    db.close().await;
    Ok(())
}

/// The SQLite database's path, or the reason the command does not apply to PostgreSQL.
fn sqlite_path<'c>(config: &'c Config, postgres_advice: &str) -> anyhow::Result<&'c Path> {
    match &config.database_url {
        DatabaseUrl::Sqlite(path) => Ok(path),
        DatabaseUrl::Postgres(_) => {
            anyhow::bail!("the database is PostgreSQL: {postgres_advice} (see docs/deployment.md)")
        }
    }
}

fn describe(contents: &mailroom_store::backup::Contents) -> String {
    format!("{} user(s), {} mailbox(es) and {} message(s)", contents.users, contents.mailboxes, contents.messages)
}

async fn backup(config: &Config, to: &Path) -> anyhow::Result<()> {
    let database = sqlite_path(config, "back it up with pg_dump --format=custom, and keep the secret key apart")?;
    let contents = mailroom_store::backup::backup(database, to).await?;
    let size = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    let key = match &config.secret_key {
        Some(_) => "the value of MAILROOM_SECRET_KEY".to_owned(),
        None => format!("the key file {}", key_file(&config.data_dir).display()),
    };
    report(&format!(
        "backed up {} to {} ({:.1} MB)

         The secret key is not in the backup: keep a copy of {key} somewhere else. Without it the          backup's mailbox tokens and OAuth secrets cannot be opened; with it, anyone holding the backup can.",
        describe(&contents),
        to.display(),
        size as f64 / 1e6
    ));
    Ok(())
}

async fn restore(config: &Config, from: &Path) -> anyhow::Result<()> {
    let database = sqlite_path(config, "restore a pg_dump archive with pg_restore into an empty database")?;
    let key = KeyInput { given: config.secret_key.clone(), file: key_file(&config.data_dir) };
    let contents = mailroom_store::backup::restore(from, database, key).await?;
    report(&format!(
        "restored {} into {}; start Mailroom as usual (it brings the schema up to date at start)",
        describe(&contents),
        database.display()
    ));
    Ok(())
}

async fn user(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    let UserCommand::Create { email, password, name, admin } = command;
    let email = EmailAddress::parse(&email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let password = Password::parse(&password).map_err(|e| anyhow::anyhow!("--password: {e}"))?;
    let name = name.unwrap_or_else(|| email.as_str().split('@').next().unwrap_or_default().to_owned());
    let name = DisplayName::parse(&name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let role = if admin { Role::Admin } else { Role::Member };
    let store = open_store(config).await?;
    let created = store.create_user(&NewUser { email: email.clone(), name, password, role }).await?;
    store.db().close().await;
    let user = created.with_context(|| format!("a user with the email {email} already exists"))?;
    report(&format!("created {} {} (id {})", role.as_str(), user.email, user.id));
    Ok(())
}

async fn token(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
    let TokenCommand::Create { email, name } = command;
    let email = EmailAddress::parse(&email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let name = name.trim().to_owned();
    anyhow::ensure!(
        !name.is_empty() && name.chars().count() <= mailroom_store::TOKEN_NAME_MAX,
        "--name: give 1 to {} characters",
        mailroom_store::TOKEN_NAME_MAX
    );
    let store = open_store(config).await?;
    let made = async {
        let user = store.user_by_email(&email).await?.with_context(|| format!("no user has the email {email}"))?;
        let token = store.create_api_token(user.id, &name, mailroom_store::now()).await?;
        token.context("the token name was refused")
    }
    .await;
    store.db().close().await;
    report(made?.expose());
    Ok(())
}

/// A command's result for the person who ran it, on standard output (logs go to standard error).
#[expect(clippy::print_stdout, reason = "this is the command's output")]
pub(crate) fn report(line: &str) {
    println!("{line}");
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    run_server(config, store).await
}

/// Serves the web UI over an opened store until SIGINT or SIGTERM.
async fn run_server(config: Config, store: Store) -> anyhow::Result<()> {
    let endpoints = mailroom_providers::Endpoints::from(&config);
    let mut web = mailroom_web::WebConfig::new(config.base_url(), config.secure_cookies(), endpoints);
    web.undo_send_seconds = config.undo_send_seconds;
    web.trusted_proxies = config.trusted_proxies.clone();
    web.metrics_token = config.metrics_token.clone();
    mailroom_web::install_recorder();
    let state = mailroom_web::AppState::new(store.clone(), web);
    let (scheduler, outbox) = sync_workers(&config, &store, &state);
    let app = mailroom_web::router(state);
    let signal = shutdown_signal();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        public_url = %config.base_url(),
        database = store.db().backend().as_str(),
        "Mailroom is running"
    );
    if let Some(warning) = config.public_url_warning() {
        tracing::warn!("{warning}");
    }
    if store.count_users().await? == 0 {
        tracing::info!("no users yet: open {}/setup to create the first administrator", config.base_url());
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let outbox = tokio::spawn(outbox.run(until_stopped(stopped.clone())));
    let scheduler = tokio::spawn(scheduler.run(until_stopped(stopped.clone())));
    let indexer = tokio::spawn(index_upkeep(store.clone(), until_stopped(stopped)));
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move {
            signal.await;
            let _ = stop.send(true);
        })
        .await
        .context("the server stopped");
    // Runs under way stop where they are; what they stored stays, and the next run goes on.
    let _ = scheduler.await;
    let _ = outbox.await;
    let _ = indexer.await;
    served?;
    store.db().close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Keeps stored mail and its search index in shape beside the server: when this version reads mail
/// better than the one that stored it, every message is read again, a batch at a time; the mail
/// stored before the index existed goes into it; then, every minute, the address suggestions of
/// users marked stale are counted again and the index's segments are merged while there is
/// merging to do. A failure is retried a minute later.
async fn index_upkeep(store: Store, stopped: impl std::future::Future<Output = ()>) {
    let work = async {
        match store.start_reparse().await {
            Ok(true) => tracing::info!("stored mail is read again by this version's reader, in the background"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot start reading stored mail again; stored views stay as they were")
            }
        }
        loop {
            match store.reparse_stored(200).await {
                Ok(true) => {
                    tokio::task::yield_now().await;
                    continue;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "reading stored mail again failed; trying again in a minute"),
            }
            match store.backfill_search(200).await {
                Ok(true) => {
                    tokio::task::yield_now().await;
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "indexing earlier mail for search failed; trying again in a minute")
                }
            }
            // The address suggestions' counts of users whose own addresses changed, whose
            // mailbox went, or who had mail before the counts existed; a suggestion would count
            // them itself, at the cost of that suggestion's wait.
            if let Err(e) = store.refresh_correspondents().await {
                tracing::warn!(error = %e, "counting the address suggestions again failed; trying again in a minute");
            }
            loop {
                match store.tidy_search_index().await {
                    Ok(true) => tokio::task::yield_now().await,
                    Ok(false) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "tidying the search index failed; trying again in a minute");
                        break;
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        }
    };
    tokio::select! {
        () = stopped => {}
        () = work => {}
    }
}

/// The sync scheduler and the outbox of this process, sharing the web state's providers and
/// wake-up signals.
fn sync_workers(
    config: &Config,
    store: &Store,
    state: &mailroom_web::AppState,
) -> (mailroom_sync::Scheduler, mailroom_sync::Outbox) {
    let tokens = mailroom_sync::AccessTokens::new(store.clone(), state.providers.clone(), state.config.redirect_uri());
    let sync = &config.sync;
    let limits = mailroom_sync::Limits {
        gmail_units_per_minute: sync.gmail_units_per_minute,
        gmail_costs: match sync.gmail_costs {
            mailroom_config::GmailCostTable::Legacy => mailroom_sync::GmailCosts::LEGACY,
            mailroom_config::GmailCostTable::Y2026 => mailroom_sync::GmailCosts::Y2026,
        },
        ..mailroom_sync::Limits::default()
    };
    let engine = mailroom_sync::Engine {
        store: store.clone(),
        providers: state.providers.clone(),
        tokens,
        pacing: mailroom_sync::Pacing::new(limits),
    };
    let scheduler_config = mailroom_sync::SchedulerConfig::new(sync.concurrency);
    let outbox = mailroom_sync::Outbox::new(
        engine.clone(),
        scheduler_config.owner.clone(),
        state.outbox_wake.clone(),
        state.sync_wake.clone(),
    );
    (mailroom_sync::Scheduler::new(engine, scheduler_config, state.sync_wake.clone()), outbox)
}

/// Takes SIGINT and SIGTERM over at once and resolves when one arrives. The handlers are installed
/// when this is called, not when the future is first polled: a signal sent the moment the server
/// says it is running must stop it gracefully, not kill it with the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (mut terminate, mut interrupt) = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            tokio::select! {
                () = received(terminate.as_mut()) => {}
                () = received(interrupt.as_mut()) => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    }
}

/// Resolves when `signal` arrives; never when it could not be taken over.
#[cfg(unix)]
async fn received(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}
