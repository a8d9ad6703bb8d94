//! `mailroom-bench sync`: the initial sync of one mailbox, as a user who connects it would get it.
//!
//! The simulator runs in a child process ([`crate::sim_server`]) with the provider's published
//! limits and a fixed latency per request. This process is Mailroom's side: a fresh store (SQLite
//! in a temporary folder, or a fresh PostgreSQL database dropped afterwards), the administrator's
//! email settings, a user who connects the mailbox through the real OAuth code path (the
//! simulator consents at once), then the sync engine's own entry point. A watcher reads the store
//! every 20 ms for the inbox's message count, as the mail page would, to time the first 50. The
//! request log of the simulator gives the requests sent and the 429s; `/proc` gives both
//! processes' peak memory.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mailroom_domain::{
    AccountId, DisplayName, EmailAddress, FolderKind, ImportStart, MicrosoftTenant, OAuthClientId, Password,
    Provider as Kind, Role, SyncInterval,
};
use mailroom_providers::{Endpoints, Pkce, Providers};
use mailroom_store::{Account, Connection, Db, DbTarget, Identity, KeyInput, NewUser, ProviderUpdate, Store};
use mailroom_sync::{AccessTokens, Engine, Limits, Mode, Pacing, Progress};
use secrecy::SecretString;
use serde::Deserialize;
use tokio::io::AsyncBufReadExt as _;

use crate::ceiling::{self, Ceiling, GmailPlan, GraphPlan, MimePlan, thousands};
use crate::database::{Database, FreshPostgres};
use crate::memory::{self, megabytes};
use crate::sim_server::{self, REDIRECT_URI, SimInfo};
use crate::{Provider, Quota, report};

/// Graph's published limits per app and mailbox (providers.md C4), which the ceiling assumes.
const GRAPH_IN_FLIGHT: u64 = 4;
const GRAPH_REQUESTS_PER_WINDOW: u64 = 10_000;
const GRAPH_WINDOW: Duration = Duration::from_secs(600);
/// The inbox messages whose arrival is timed: a first screen of mail.
const FIRST_INBOX: i64 = 50;
const WATCH_EVERY: Duration = Duration::from_millis(20);
/// How often progress is written to standard error.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Messages whose MIME is fetched between two progress lines of the MIME phase.
const MIME_CHUNK: u32 = 500;

#[derive(clap::Args)]
pub struct SyncArgs {
    /// The provider whose sync is measured.
    #[arg(long, value_enum)]
    provider: Provider,
    /// Messages in the simulated mailbox.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// The round trip the simulator gives every request, in milliseconds (its own work included).
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// `sqlite` (a temporary file) or a PostgreSQL URL, on whose server a fresh database is
    /// created and dropped afterwards.
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Gmail's quota generation, for the simulator and Mailroom's pacing alike.
    #[arg(long, value_enum, default_value_t = Quota::Legacy)]
    quota: Quota,
    /// Outlook: after the sync, fetch every message's MIME (one request each) and time that too.
    /// 10,000 messages fill Graph's whole 10-minute request window, so it is not done by default.
    #[arg(long)]
    mime: bool,
    /// Gmail: the provider allows 6,000 units a minute while Mailroom is set to the quota's
    /// figure (15,000 for the legacy table), as when an administrator sets the wrong table or
    /// Google lowers a quota. Times how close the pacing, learning the real rate, comes to the
    /// ceiling of 6,000.
    #[arg(long)]
    quota_mismatch: bool,
}

impl SyncArgs {
    /// A mailbox of one message at `provider`, without latency: what `attachment` sends from.
    pub(crate) fn one_message(provider: Provider) -> SyncArgs {
        SyncArgs {
            provider,
            messages: 1,
            latency_ms: 0,
            database: "sqlite".to_owned(),
            quota: Quota::Legacy,
            mime: false,
            quota_mismatch: false,
        }
    }
}

/// What the provider allows when it is less than Mailroom's setting (`--quota-mismatch`).
const MISMATCHED_UNITS: u32 = 6_000;

impl SyncArgs {
    /// The units a minute the simulated Gmail allows.
    fn provider_units(&self) -> u32 {
        if self.quota_mismatch { MISMATCHED_UNITS } else { self.quota.units_per_minute() }
    }
}

pub async fn run(args: SyncArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.mime || args.provider == Provider::Outlook,
        "--mime is for Outlook: Gmail syncs the raw bytes"
    );
    anyhow::ensure!(args.messages > 0, "--messages must be at least 1");
    anyhow::ensure!(
        !args.quota_mismatch || (args.provider == Provider::Gmail && args.quota == Quota::Legacy),
        "--quota-mismatch is for Gmail with the legacy quota: the provider allows 6,000 units, Mailroom is set to 15,000"
    );
    let database = Database::parse(&args.database)?;
    let folder = tempfile::Builder::new().prefix("mailroom-bench-").tempdir()?;
    let mut sim = SimProcess::start(&args).await?;
    let (target, fresh) = match &database {
        Database::Sqlite => (DbTarget::Sqlite(folder.path().join("mailroom.db")), None),
        Database::Postgres { server } => {
            let fresh = FreshPostgres::create(server).await?;
            (DbTarget::Postgres(fresh.url.clone()), Some(fresh))
        }
    };
    let result = measure(&args, &sim.info, target, folder.path()).await;
    let sim_peak = memory::peak(sim.child.id());
    sim.stop().await;
    if let Some(fresh) = fresh {
        fresh.drop_database().await;
    }
    let measured = result?;
    print(&args, &sim.info, &database, &measured, sim_peak);
    Ok(())
}

/// The simulator's child process.
pub(crate) struct SimProcess {
    pub(crate) child: tokio::process::Child,
    pub(crate) info: SimInfo,
}

impl SimProcess {
    pub(crate) async fn start(args: &SyncArgs) -> anyhow::Result<SimProcess> {
        let exe = std::env::current_exe().context("cannot find this program to start the simulator")?;
        let mut child = tokio::process::Command::new(exe)
            .arg("sim-server")
            .args(["--provider", provider_arg(args.provider)])
            .args(["--messages", &args.messages.to_string()])
            .args(["--latency-ms", &args.latency_ms.to_string()])
            .args(["--quota", args.quota.name()])
            .args(["--units-per-minute", &args.provider_units().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the simulator")?;
        let stdout = child.stdout.take().context("the simulator has no output")?;
        let mut line = String::new();
        tokio::io::BufReader::new(stdout).read_line(&mut line).await?;
        let info: SimInfo =
            serde_json::from_str(&line).context("the simulator did not start (its errors are above)")?;
        Ok(SimProcess { child, info })
    }

    /// Closes the simulator's standard input, which ends it, and waits for it.
    pub(crate) async fn stop(&mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

fn provider_arg(provider: Provider) -> &'static str {
    match provider {
        Provider::Gmail => "gmail",
        Provider::Outlook => "outlook",
    }
}

/// What a run measured.
struct Measured {
    total: Duration,
    first_inbox: Option<Duration>,
    imported: usize,
    stored: i64,
    stored_inbox: i64,
    requests: Requests,
    /// Mailroom's peak memory during the sync, and whether it was counted from the sync's start
    /// (else from the process's).
    peak: Option<u64>,
    peak_from_sync: bool,
    /// The MIME phase after an Outlook sync, when asked for.
    mime: Option<MimeMeasured>,
}

/// The MIME phase: every message's raw bytes fetched and stored after the sync.
struct MimeMeasured {
    total: Duration,
    stored: usize,
    /// From the sync's start to the MIME's, for the request window they share.
    since_sync_start: Duration,
    requests: Requests,
    peak: Option<u64>,
}

/// The simulator's request log, summed.
#[derive(Debug, Default)]
struct Requests {
    http: u64,
    /// Calls, counting each call of a batch request as Google does.
    calls: u64,
    rate_limited: u64,
    units: u64,
}

async fn measure(
    args: &SyncArgs,
    sim: &SimInfo,
    target: DbTarget,
    folder: &std::path::Path,
) -> anyhow::Result<Measured> {
    let db = Db::connect(&target).await?;
    db.migrate().await?;
    let store = Store::unlock(db, KeyInput { given: None, file: folder.join("secret.key") }).await?;
    let env: HashMap<String, String> =
        mailroom_sim::mailroom_endpoints(&sim.base_url).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let config = mailroom_config::Config::load(None, &env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let endpoints = Endpoints::from(&config);
    let providers = Arc::new(Providers::new(endpoints.clone()));
    configure(&store).await?;
    let kind = match args.provider {
        Provider::Gmail => Kind::Google,
        Provider::Outlook => Kind::Microsoft,
    };
    let account = connect(&store, &providers, &endpoints, kind, &sim.owner).await?;

    let limits = Limits {
        gmail_units_per_minute: args.quota.units_per_minute(),
        gmail_costs: args.quota.costs(),
        ..Limits::default()
    };
    let tokens = AccessTokens::new(store.clone(), providers.clone(), REDIRECT_URI.to_owned());
    let engine = Engine { store: store.clone(), providers, tokens, pacing: Pacing::new(limits) };
    let http = reqwest::Client::new();
    // Connecting made requests of its own; the figures are the sync's.
    http.delete(format!("{}/_sim/log", sim.base_url)).send().await?.error_for_status()?;

    let progress = Arc::new(Progress::new());
    let peak_from_sync = memory::reset_peak();
    let start = Instant::now();
    let watcher = tokio::spawn(watch_inbox(store.clone(), account.id, start));
    let ticker = tokio::spawn(show_progress(progress.clone(), start));
    let result = match args.provider {
        Provider::Gmail => mailroom_sync::sync_gmail(&engine, &account, Mode::Incremental, &progress).await,
        Provider::Outlook => mailroom_sync::sync_graph(&engine, &account, Mode::Incremental, &progress).await,
    };
    let total = start.elapsed();
    let peak = memory::peak(None);
    ticker.abort();
    let first_inbox = if watcher.is_finished() {
        watcher.await.ok()
    } else {
        watcher.abort();
        // The 50th may have landed with the last batch, after the watcher's last look.
        (store.message_count_in(account.id, FolderKind::Inbox).await? >= FIRST_INBOX).then_some(total)
    };
    let report = result.context("the sync failed")?;
    let requests = requests(&http, &sim.base_url).await?;
    let stored = store.message_count(account.id).await?;
    let stored_inbox = store.message_count_in(account.id, FolderKind::Inbox).await?;
    let mime = if args.mime { Some(measure_mime(&engine, &account, &http, &sim.base_url, start).await?) } else { None };
    store.db().close().await;
    Ok(Measured {
        total,
        first_inbox,
        imported: report.imported,
        stored,
        stored_inbox,
        requests,
        peak,
        peak_from_sync,
        mime,
    })
}

/// Fetches the MIME of every message the sync stored without it, as the engine does after an
/// Outlook sync, in chunks so that progress shows.
async fn measure_mime(
    engine: &Engine,
    account: &Account,
    http: &reqwest::Client,
    base_url: &str,
    sync_start: Instant,
) -> anyhow::Result<MimeMeasured> {
    http.delete(format!("{base_url}/_sim/log")).send().await?.error_for_status()?;
    memory::reset_peak();
    let start = Instant::now();
    let since_sync_start = start - sync_start;
    let mut stored = 0;
    loop {
        let chunk = mailroom_sync::fetch_pending_mime(engine, account, MIME_CHUNK).await.context("the MIME failed")?;
        if chunk == 0 {
            break;
        }
        stored += chunk;
        eprintln!("  {:>6.1} s  mime: {} messages", start.elapsed().as_secs_f64(), thousands(stored as u64));
    }
    let total = start.elapsed();
    let peak = memory::peak(None);
    let requests = requests(http, base_url).await?;
    Ok(MimeMeasured { total, stored, since_sync_start, requests, peak })
}

/// The administrator's email settings: both providers enabled with the simulator's clients.
pub(crate) async fn configure(store: &Store) -> anyhow::Result<()> {
    let invalid = |e| anyhow::anyhow!("{e:?}");
    let update = |id: &str, secret: &str| -> anyhow::Result<ProviderUpdate> {
        Ok(ProviderUpdate {
            enabled: true,
            client_id: Some(OAuthClientId::parse(id).map_err(invalid)?),
            new_secret: Some(SecretString::from(secret.to_owned())),
            tenant: MicrosoftTenant::common(),
            secret_expires_at: None,
        })
    };
    store
        .save_email_settings(
            &update(sim_server::GOOGLE_CLIENT_ID, sim_server::GOOGLE_CLIENT_SECRET)?,
            &update(sim_server::MICROSOFT_CLIENT_ID, sim_server::MICROSOFT_CLIENT_SECRET)?,
            SyncInterval::DEFAULT,
            ImportStart::DEFAULT,
        )
        .await?;
    Ok(())
}

/// A user connects the mailbox the way the Mailboxes page does it: an authorization URL with
/// PKCE, the provider's consent (given at once by the simulator), the code exchanged, the profile
/// read and the account stored, importing all mail.
pub(crate) async fn connect(
    store: &Store,
    providers: &Providers,
    endpoints: &Endpoints,
    provider: Kind,
    owner: &str,
) -> anyhow::Result<Account> {
    let invalid = |e| anyhow::anyhow!("{e:?}");
    let user = NewUser {
        email: EmailAddress::parse("bench@mailroom.test").map_err(invalid)?,
        name: DisplayName::parse("Benchmark").map_err(invalid)?,
        password: Password::parse(&mailroom_store::random_token()).map_err(invalid)?,
        role: Role::Member,
    };
    let user = store.create_user(&user).await?.context("the benchmark's user exists already")?;
    let app = mailroom_sync::oauth_app(store, endpoints, provider, REDIRECT_URI)
        .await?
        .context("the provider is not configured")?;
    let pkce = Pkce::generate();
    let state = mailroom_store::random_token();
    let url = mailroom_providers::authorization_url(&app, endpoints, &state, &pkce.challenge, Some(owner));
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let consent = browser.get(url).send().await?;
    let location = consent
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .context("the provider's consent did not redirect back")?;
    let callback = url::Url::parse(location)?;
    let param = |name: &str| callback.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    anyhow::ensure!(param("state").as_deref() == Some(state.as_str()), "the callback's state is not ours");
    let code = param("code").context("the provider answered without a code")?;
    let now = mailroom_store::now();
    let tokens = providers.exchange_code(&app, &code, &pkce.verifier, now).await?;
    let refresh_token = tokens.refresh_token.as_ref().context("the provider gave no refresh token")?;
    let profile = providers.mailbox_profile(provider, &tokens.access_token).await?;
    let identities: Vec<Identity> = profile
        .identities
        .iter()
        .map(|i| Identity { address: i.address.clone(), name: i.name.clone(), is_default: i.is_default })
        .collect();
    let connection = Connection {
        user: user.id,
        provider,
        remote_id: &profile.remote_id,
        address: &profile.address,
        display_name: profile.display_name.as_deref(),
        identities: &identities,
        access_token: &tokens.access_token,
        refresh_token,
        expires_at: tokens.expires_at,
        scopes: &tokens.scopes,
        // All mail, whatever its age: the benchmark is the whole mailbox.
        import_days: 0,
    };
    let (account, _) = store.connect_account(&connection, now).await?;
    Ok(account)
}

/// The time until the inbox holds its first messages, read as a page would read them.
async fn watch_inbox(store: Store, account: AccountId, start: Instant) -> Duration {
    loop {
        if store.message_count_in(account, FolderKind::Inbox).await.unwrap_or(0) >= FIRST_INBOX {
            return start.elapsed();
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

async fn show_progress(progress: Arc<Progress>, start: Instant) {
    let mut ticks = tokio::time::interval(PROGRESS_EVERY);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let now = progress.snapshot();
        let total = now.estimated_total.map_or_else(String::new, |t| format!(" of about {}", thousands(t)));
        eprintln!(
            "  {:>6.1} s  {}: {} messages{total}",
            start.elapsed().as_secs_f64(),
            now.phase,
            thousands(now.imported)
        );
    }
}

#[derive(Deserialize)]
struct Log {
    requests: Vec<LogEntry>,
}

#[derive(Deserialize)]
struct LogEntry {
    status: u16,
    #[serde(default)]
    units: u64,
    #[serde(default)]
    parts: Vec<u16>,
}

async fn requests(http: &reqwest::Client, base_url: &str) -> anyhow::Result<Requests> {
    let log: Log = http.get(format!("{base_url}/_sim/log")).send().await?.error_for_status()?.json().await?;
    let mut sum = Requests::default();
    for entry in &log.requests {
        sum.http += 1;
        sum.units += entry.units;
        if entry.parts.is_empty() {
            sum.calls += 1;
            sum.rate_limited += u64::from(entry.status == 429);
        } else {
            sum.calls += entry.parts.len() as u64;
            sum.rate_limited += entry.parts.iter().filter(|s| **s == 429).count() as u64;
        }
    }
    Ok(sum)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn print(args: &SyncArgs, sim: &SimInfo, database: &Database, m: &Measured, sim_peak: Option<u64>) {
    let n = sim.messages;
    let ceiling: Ceiling = match args.provider {
        Provider::Gmail => {
            let costs = args.quota.costs();
            GmailPlan {
                messages: n,
                units_per_minute: u64::from(args.provider_units()),
                get_cost: u64::from(costs.messages_get),
                list_cost: u64::from(costs.messages_list),
                setup_cost: u64::from(costs.get_profile + costs.labels_list),
                latency: Duration::from_millis(args.latency_ms),
            }
            .ceiling()
        }
        Provider::Outlook => graph_plan(args, sim).ceiling(),
    };
    // Outlook's folders, empty ones included, since the ceiling counts each of them.
    let places: Vec<String> = if sim.folders.is_empty() {
        sim.places.iter().map(|(place, count)| format!("{place} {}", thousands(*count))).collect()
    } else {
        sim.folders.iter().map(|(folder, count)| format!("{folder} {}", thousands(*count))).collect()
    };
    let database = match database {
        Database::Sqlite => "SQLite",
        Database::Postgres { .. } => "PostgreSQL",
    };
    let quota = match (args.provider, args.quota) {
        (Provider::Gmail, _) if args.quota_mismatch => {
            "Gmail allows 6,000 units per user a minute, Mailroom is set to 15,000 (messages.get 5 units)"
        }
        (Provider::Gmail, Quota::Legacy) => "legacy quota: 15,000 units per user a minute, messages.get 5 units",
        (Provider::Gmail, Quota::Y2026) => "2026 quota: 6,000 units per user a minute, messages.get 20 units",
        (Provider::Outlook, _) => "Graph limits: 4 requests in flight, 10,000 per mailbox in 10 minutes",
    };
    let rate = ceiling::rate(n, m.total);
    let ceiling_rate = ceiling::rate(n, ceiling.time);
    let ratio = if m.total.is_zero() { 0.0 } else { ceiling.time.as_secs_f64() / m.total.as_secs_f64() };
    let share_429 = if m.requests.calls == 0 { 0.0 } else { m.requests.rate_limited as f64 / m.requests.calls as f64 };
    let first = m.first_inbox.map_or_else(|| "never".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
    let first_met = m.first_inbox.is_some_and(|d| d <= Duration::from_secs(10));
    let peak = m.peak.map_or_else(|| "unknown".to_owned(), |b| format!("{:.1} MB", megabytes(b)));
    let peak_met = m.peak.is_some_and(|b| b < 200_000_000);
    let peak_note = if m.peak_from_sync { "during the sync" } else { "whole process" };
    let sim_peak = sim_peak.map_or_else(|| "unknown".to_owned(), |b| format!("{:.1} MB", megabytes(b)));
    // Learning a quota below the setting costs a few refusals and some slack below it.
    let (ratio_target, share_target) = if args.quota_mismatch { (0.85, 0.05) } else { (0.9, 0.01) };
    let lines = [
        format!(
            "mailroom-bench sync: {} with {} messages ({:.1} MB; {}), {} ms per request, {quota}, {database}",
            match args.provider {
                Provider::Gmail => "Gmail",
                Provider::Outlook => "Outlook",
            },
            thousands(n),
            megabytes(sim.bytes),
            places.join(", "),
            args.latency_ms
        ),
        String::new(),
        format!(
            "stored                    {} of {} messages, {} in the inbox (imported {})",
            thousands(m.stored.max(0) as u64),
            thousands(n),
            thousands(m.stored_inbox.max(0) as u64),
            thousands(m.imported as u64)
        ),
        format!("total time                {:.2} s", m.total.as_secs_f64()),
        format!("messages per second       {rate:.1}"),
        format!("first {FIRST_INBOX} inbox messages   {first:<18} target ≤ 10 s      {}", verdict(first_met)),
        format!("ceiling                   {:.2} s = {ceiling_rate:.1} messages/s", ceiling.time.as_secs_f64()),
        format!(
            "ratio to the ceiling      {:<18} target ≥ {:.0} %      {}",
            format!("{:.1} %", ratio * 100.0),
            ratio_target * 100.0,
            verdict(ratio >= ratio_target)
        ),
        match args.provider {
            Provider::Gmail => format!(
                "requests                  {} HTTP requests carrying {} calls, {} quota units",
                thousands(m.requests.http),
                thousands(m.requests.calls),
                thousands(m.requests.units)
            ),
            Provider::Outlook => format!("requests                  {}", thousands(m.requests.http)),
        },
        format!(
            "answered 429              {:<18} target < {:.0} %       {}",
            format!("{} ({:.2} %)", thousands(m.requests.rate_limited), share_429 * 100.0),
            share_target * 100.0,
            verdict(share_429 < share_target)
        ),
        format!("peak memory, Mailroom     {peak:<18} target < 200 MB    {} ({peak_note})", verdict(peak_met)),
        format!("peak memory, simulator    {sim_peak} (its own process, not Mailroom's)"),
        String::new(),
        "How the ceiling is computed (the fastest the published limits allow the cheapest correct strategy):"
            .to_owned(),
    ];
    for line in lines.iter().chain(ceiling.explanation.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().iter()) {
        report(line);
    }
    match args.provider {
        Provider::Gmail => report(
            "  ratio = ceiling time / total time; calls inside batch requests count one each, as Google counts them",
        ),
        Provider::Outlook => {
            report("  ratio = ceiling time / total time; requests as Graph counts them, one per HTTP request")
        }
    }
    match &m.mime {
        Some(mime) => print_mime(args, m, mime),
        None if args.provider == Provider::Outlook => {
            report("");
            report("MIME ($value, one request a message) not fetched: --mime times it");
        }
        None => {}
    }
}

/// The delta plan of the seeded mailbox, with the folder tree as the published API needs it: one
/// list of the top-level folders (a page holds 100; the seeded folders have no children, else
/// each parent's list would follow its own) and one lookup per well-known folder that Mailroom
/// names, independent of each other, so in flight together.
fn graph_plan(args: &SyncArgs, sim: &SimInfo) -> GraphPlan {
    let lists = (sim.folders.len() as u64).div_ceil(100).max(1);
    let tree_requests = lists + mailroom_providers::GRAPH_WELL_KNOWN_FOLDERS.len() as u64;
    GraphPlan {
        folders: sim.folders.iter().map(|(_, count)| *count).collect(),
        tree_requests,
        tree_round_trips: tree_requests.div_ceil(GRAPH_IN_FLIGHT),
        page: u64::from(mailroom_sync::GRAPH_PAGE),
        in_flight: GRAPH_IN_FLIGHT,
        requests_per_window: GRAPH_REQUESTS_PER_WINDOW,
        window: GRAPH_WINDOW,
        latency: Duration::from_millis(args.latency_ms),
    }
}

fn print_mime(args: &SyncArgs, m: &Measured, mime: &MimeMeasured) {
    let n = mime.stored as u64;
    let ceiling = MimePlan {
        messages: n,
        earlier_requests: m.requests.http,
        earlier_since: mime.since_sync_start,
        in_flight: GRAPH_IN_FLIGHT,
        requests_per_window: GRAPH_REQUESTS_PER_WINDOW,
        window: GRAPH_WINDOW,
        latency: Duration::from_millis(args.latency_ms),
    }
    .ceiling();
    let ratio = if mime.total.is_zero() { 0.0 } else { ceiling.time.as_secs_f64() / mime.total.as_secs_f64() };
    let share_429 =
        if mime.requests.http == 0 { 0.0 } else { mime.requests.rate_limited as f64 / mime.requests.http as f64 };
    let peak = mime.peak.map_or_else(|| "unknown".to_owned(), |b| format!("{:.1} MB", megabytes(b)));
    let lines = [
        String::new(),
        "MIME after the sync (fetch_pending_mime, $value, one request a message)".to_owned(),
        format!("stored                    {} raw messages", thousands(n)),
        format!("total time                {:.2} s", mime.total.as_secs_f64()),
        format!("messages per second       {:.1}", ceiling::rate(n, mime.total)),
        format!(
            "ceiling                   {:.2} s = {:.1} messages/s",
            ceiling.time.as_secs_f64(),
            ceiling::rate(n, ceiling.time)
        ),
        format!("ratio to the ceiling      {:.1} %", ratio * 100.0),
        format!("requests                  {}", thousands(mime.requests.http)),
        format!("answered 429              {} ({:.2} %)", thousands(mime.requests.rate_limited), share_429 * 100.0),
        format!("peak memory, Mailroom     {peak} (during the MIME)"),
        "How its ceiling is computed:".to_owned(),
    ];
    for line in lines.iter().chain(ceiling.explanation.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().iter()) {
        report(line);
    }
}
