//! `mailroom-bench workspace`: how fast the mail workspace answers with a large store. A store is
//! filled with the corpus replicated to `--messages` messages (fresh Message-IDs, conversations of
//! one to three messages, places and flags as a mailbox has them), Mailroom's web server is started
//! on it in this process, and the inbox page and `GET /api/v1/messages` are timed one request at a
//! time (p50, p99) and under 8 concurrent clients (requests per second); so is opening a
//! conversation of twenty messages. The page's script and stylesheet are weighed as sent and
//! compressed, and with `--browser` Chromium (through its chromedriver) measures how soon an
//! action shows in the page after its key is pressed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mailroom_domain::{AccountId, FolderKind, UserId};
use mailroom_store::{DbTarget, IncomingMessage, KeyInput, MessageChange, RemoteFolder, Store};
use sqlx::Connection as _;

use crate::common::{endpoints, owner, percentile};
use crate::corpus::{read_corpus, with_message_id};
use crate::database::{Database, FreshPostgres};
use crate::{memory, report};

#[derive(clap::Args)]
pub struct WorkspaceArgs {
    /// The corpus to replicate: a .tar.gz of .eml files (the SpamAssassin corpus of the shared
    /// corpora, say).
    #[arg(long)]
    corpus: PathBuf,
    /// Messages in the store.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// `sqlite`, or a PostgreSQL server URL (`postgres://postgres@127.0.0.1:5432/postgres`) on
    /// which a database of the run's own is made and dropped.
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Requests timed one at a time per measured address.
    #[arg(long, default_value_t = 400)]
    samples: usize,
    /// Seconds the concurrent clients run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// After measuring, go on serving for this many seconds and print the address and a token,
    /// so that a load generator of its own process (`ab`, `wrk`) can measure the server alone.
    #[arg(long, default_value_t = 0)]
    serve_seconds: u64,
    /// Also measure in Debian's Chromium, through /usr/bin/chromedriver, how soon an archive shows
    /// in the page after `e` is pressed, and how soon the server has confirmed it.
    #[arg(long)]
    browser: bool,
}

/// Messages in the one long conversation the store gets, the newest of the mailbox.
const LONG_THREAD: usize = 20;

/// Messages written to the store per transaction while filling it.
const FILL_BATCH: usize = 500;
const LABEL: &str = "Label_1";
/// Seconds between two messages' arrival: 100,000 messages span about two years.
const SPACING: i64 = 600;

pub async fn run(args: WorkspaceArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.messages > 0, "--messages must be at least 1");
    let database = Database::parse(&args.database)?;
    let corpus = read_corpus(&args.corpus)?;
    anyhow::ensure!(!corpus.is_empty(), "no .eml file in {}", args.corpus.display());
    let folder = tempfile::Builder::new().prefix("mailroom-bench-").tempdir()?;
    let (target, fresh) = match &database {
        Database::Sqlite => (DbTarget::Sqlite(folder.path().join("mailroom.db")), None),
        Database::Postgres { server } => {
            let fresh = FreshPostgres::create(server).await?;
            (DbTarget::Postgres(fresh.url.clone()), Some(fresh))
        }
    };
    let result = measure(&args, &corpus, target, folder.path(), &database).await;
    if let Some(fresh) = fresh {
        fresh.drop_database().await;
    }
    result
}

async fn measure(
    args: &WorkspaceArgs,
    corpus: &[Vec<u8>],
    target: DbTarget,
    folder: &Path,
    database: &Database,
) -> anyhow::Result<()> {
    let db = mailroom_store::Db::connect(&target).await?;
    db.migrate().await?;
    let store = Store::unlock(db, KeyInput { given: None, file: folder.join("secret.key") }).await?;
    let (user, account) = owner(&store).await?;
    let started = Instant::now();
    fill(&store, account, corpus, args.messages).await?;
    let fill_time = started.elapsed();
    if let DbTarget::Postgres(url) = &target {
        // What autovacuum does soon after a bulk load: without statistics of the new rows, the
        // planner would take the mailbox for empty.
        let mut connection = sqlx::PgConnection::connect(url).await?;
        sqlx::query("ANALYZE").execute(&mut connection).await?;
    }

    let config = mailroom_web::WebConfig::new("http://127.0.0.1", false, endpoints()?);
    let app = mailroom_web::router(mailroom_web::AppState::new(store.clone(), config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
    });
    let session = store.create_session(user, mailroom_store::now(), 3600).await?;
    let token = store.create_api_token(user, "bench", mailroom_store::now()).await?.context("a token")?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.clients * 2).build()?;
    let cookie = format!("mailroom_session={}", session.expose());
    let bearer = format!("Bearer {}", token.expose());
    let signed_in =
        |path: String| Request { http: http.clone(), url: format!("{base}{path}"), header: ("cookie", cookie.clone()) };
    let with_token = |path: String| Request {
        http: http.clone(),
        url: format!("{base}{path}"),
        header: ("authorization", bearer.clone()),
    };
    let page = signed_in("/mail".to_owned());
    let api = with_token("/api/v1/messages?kind=inbox".to_owned());
    // Deep in the inbox: the cursor 20 pages down.
    let deep = signed_in(format!("/mail?kind=inbox&cursor={}", cursor_after(&store, user, 20 * 50).await?));
    let customer = with_token(format!("/api/v1/messages?participant=%40{}", busiest_domain(&store, user).await?));
    // The long conversation, opened from the inbox (the first opening reads it; the rest show it).
    let long = store
        .list_messages(
            user,
            &mailroom_store::MessageFilter { thread: Some("tlong".to_owned()), ..Default::default() },
            None,
            1,
        )
        .await?;
    let long = long.first().context("the long conversation")?;
    let conversation = signed_in(format!("/mail?kind=inbox&open={}", long.id));
    let assets = asset_sizes(&http, &base).await?;
    // Warm caches (and check every address answers) before anything is timed.
    for request in [&page, &api, &deep, &customer, &conversation] {
        request.once().await?;
    }
    let shown = conversation.body().await?;
    anyhow::ensure!(
        shown.matches("<li class=\"msg").count() == LONG_THREAD,
        "the conversation page shows {} messages, not {LONG_THREAD}",
        shown.matches("<li class=\"msg").count()
    );
    memory::reset_peak();
    let page_times = page.timed(args.samples).await?;
    let deep_times = deep.timed(args.samples).await?;
    let api_times = api.timed(args.samples).await?;
    let customer_times = customer.timed(args.samples).await?;
    let conversation_times = conversation.timed(args.samples).await?;
    let api_rate = api.throughput(args.clients, Duration::from_secs(args.seconds)).await?;
    let page_rate = page.throughput(args.clients, Duration::from_secs(args.seconds)).await?;
    let peak = memory::peak(None);
    let in_browser =
        if args.browser { Some(crate::browser::action_shown(&base, session.expose()).await?) } else { None };
    if args.serve_seconds > 0 {
        report(&format!("  serving {base} for {} s; API token {}", args.serve_seconds, token.expose()));
        tokio::time::sleep(Duration::from_secs(args.serve_seconds)).await;
    }
    server.abort();

    let database_name = match database {
        Database::Sqlite => "SQLite".to_owned(),
        Database::Postgres { .. } => "PostgreSQL".to_owned(),
    };
    report(&format!(
        "Workspace benchmark: {} messages on {database_name}, 2 cores shared by server and clients",
        args.messages
    ));
    report(&format!(
        "  store filled in {:.1} s ({:.0} messages/s)",
        fill_time.as_secs_f64(),
        args.messages as f64 / fill_time.as_secs_f64()
    ));
    for (name, times) in [
        ("inbox page (GET /mail)", &page_times),
        ("inbox page 21 (cursor)", &deep_times),
        ("GET /api/v1/messages?kind=inbox", &api_times),
        ("GET /api/v1/messages?participant=@domain", &customer_times),
        ("open a conversation of 20 (GET /mail?open=)", &conversation_times),
    ] {
        report(&format!(
            "  {name:<42} p50 {:>6.2} ms  p95 {:>6.2} ms  p99 {:>6.2} ms",
            percentile(times, 0.50),
            percentile(times, 0.95),
            percentile(times, 0.99)
        ));
    }
    report(&format!("  script and stylesheet: {} bytes as sent, {} bytes gzip-compressed", assets.0, assets.1));
    if let Some(times) = &in_browser {
        report(&format!(
            "  archive shown after `e` (Chromium, next frame)  p50 {:>6.1} ms  p95 {:>6.1} ms; confirmed by the server p50 {:>6.1} ms  p95 {:>6.1} ms",
            percentile(&times.0, 0.50),
            percentile(&times.0, 0.95),
            percentile(&times.1, 0.50),
            percentile(&times.1, 0.95)
        ));
    }
    report(&format!(
        "  {:<42} {api_rate:>8.0} requests/s with {} clients",
        "GET /api/v1/messages?kind=inbox", args.clients
    ));
    report(&format!("  {:<42} {page_rate:>8.0} requests/s with {} clients", "inbox page (GET /mail)", args.clients));
    if let Some(peak) = peak {
        report(&format!(
            "  peak memory while serving: {:.1} MB (server and clients in one process)",
            memory::megabytes(peak)
        ));
    }
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    report(&format!(
        "  target page p99 < 25 ms: {}; target API > 2,000 requests/s: {}",
        verdict(percentile(&page_times, 0.99) < 25.0),
        verdict(api_rate > 2_000.0)
    ));
    report(&format!(
        "  target conversation of 20 p95 <= 50 ms: {}; target script and stylesheet < 100 KB compressed: {}{}",
        verdict(percentile(&conversation_times, 0.95) <= 50.0),
        verdict(assets.1 < 100_000),
        in_browser.map_or(String::new(), |times| format!(
            "; target action shown < 100 ms: {}",
            verdict(percentile(&times.0, 0.95) < 100.0)
        ))
    ));
    Ok(())
}

/// One address asked for again and again, with the header that signs the request in.
#[derive(Clone)]
struct Request {
    http: reqwest::Client,
    url: String,
    header: (&'static str, String),
}

impl Request {
    /// The page's text.
    async fn body(&self) -> anyhow::Result<String> {
        Ok(self
            .http
            .get(&self.url)
            .header(self.header.0, &self.header.1)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?)
    }

    async fn once(&self) -> anyhow::Result<()> {
        let response = self.http.get(&self.url).header(self.header.0, &self.header.1).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        anyhow::ensure!(status.is_success(), "{} answered {status}: {}", self.url, String::from_utf8_lossy(&body));
        Ok(())
    }

    /// Milliseconds of `samples` requests one after the other, sorted.
    async fn timed(&self, samples: usize) -> anyhow::Result<Vec<f64>> {
        let mut times = Vec::with_capacity(samples);
        for _ in 0..samples {
            let start = Instant::now();
            self.once().await?;
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        Ok(times)
    }

    /// Requests per second of `clients` clients, each asking one request after the other, for
    /// `length`.
    async fn throughput(&self, clients: usize, length: Duration) -> anyhow::Result<f64> {
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..clients {
            let request = self.clone();
            tasks.spawn(async move {
                let mut count = 0u64;
                while start.elapsed() < length {
                    request.once().await?;
                    count += 1;
                }
                anyhow::Ok(count)
            });
        }
        let mut done = 0;
        while let Some(count) = tasks.join_next().await {
            done += count??;
        }
        Ok(done as f64 / start.elapsed().as_secs_f64())
    }
}

/// The bytes of the page's script and stylesheet as the server sends them, and gzip-compressed
/// (as a compressing proxy in front would send them).
async fn asset_sizes(http: &reqwest::Client, base: &str) -> anyhow::Result<(usize, usize)> {
    use std::io::Write as _;
    let (mut sent, mut compressed) = (0, 0);
    for path in ["/static/app.js", "/static/app.css"] {
        let bytes = http.get(format!("{base}{path}")).send().await?.error_for_status()?.bytes().await?;
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(&bytes)?;
        sent += bytes.len();
        compressed += gzip.finish()?.len();
    }
    Ok((sent, compressed))
}

/// The corpus message `n` with a Message-ID of its own.
fn replica(corpus: &[Vec<u8>], n: usize) -> Vec<u8> {
    with_message_id(&corpus[n % corpus.len()], &format!("bench-{n}@mailroom.test"))
}

/// Where message `n` is: 65 % inbox, 23 % archived, 7 % spam, 5 % trash; one in six of the inbox
/// and archive also labelled; every third unread, every seventh starred.
fn places(n: usize) -> (Vec<String>, bool, bool) {
    let mut folders = Vec::new();
    match n % 100 {
        0..65 => folders.push("INBOX".to_owned()),
        65..88 => {}
        88..95 => folders.push("SPAM".to_owned()),
        _ => folders.push("TRASH".to_owned()),
    }
    if n % 100 < 88 && n.is_multiple_of(6) {
        folders.push(LABEL.to_owned());
    }
    let starred = n.is_multiple_of(7);
    if starred {
        folders.push("STARRED".to_owned());
    }
    (folders, !n.is_multiple_of(3), starred)
}

async fn fill(store: &Store, account: AccountId, corpus: &[Vec<u8>], count: usize) -> anyhow::Result<()> {
    let folders: Vec<RemoteFolder> = [
        ("INBOX", "INBOX", FolderKind::Inbox),
        ("SENT", "SENT", FolderKind::Sent),
        ("SPAM", "SPAM", FolderKind::Spam),
        ("TRASH", "TRASH", FolderKind::Trash),
        ("STARRED", "STARRED", FolderKind::Starred),
        (LABEL, "Projects", FolderKind::Custom),
    ]
    .into_iter()
    .map(|(id, name, kind)| RemoteFolder {
        remote_id: id.to_owned(),
        name: name.to_owned(),
        kind,
        parent_remote_id: None,
    })
    .collect();
    store.apply_sync(account, &folders, &[], None, mailroom_store::now()).await?;
    let now = mailroom_store::now();
    let mut start = 0;
    while start < count {
        let end = (start + FILL_BATCH).min(count);
        let raws: Vec<Vec<u8>> = (start..end).map(|n| replica(corpus, n)).collect();
        let parsed: Vec<(mailroom_mime::ParsedMessage, bool)> = raws
            .iter()
            .map(|raw| match mailroom_mime::parse(raw) {
                mailroom_mime::ParseOutcome::Parsed(m) => (m, false),
                mailroom_mime::ParseOutcome::Unreadable(m) => (m, true),
            })
            .collect();
        let ids: Vec<String> = (start..end).map(|n| format!("m{n:08}")).collect();
        // Conversations of three: the newest message of each arrives last.
        // And the newest twenty make one long conversation.
        let threads: Vec<String> = (start..end)
            .map(|n| if n + LONG_THREAD >= count { "tlong".to_owned() } else { format!("t{:08}", n / 3) })
            .collect();
        // The long conversation is all in the inbox (a binned message is not shown in its thread).
        let places: Vec<(Vec<String>, bool, bool)> = (start..end)
            .map(|n| {
                if n + LONG_THREAD >= count {
                    (vec!["INBOX".to_owned()], !n.is_multiple_of(3), false)
                } else {
                    places(n)
                }
            })
            .collect();
        let changes: Vec<MessageChange<'_>> = (0..end - start)
            .map(|i| {
                let n = start + i;
                MessageChange::Upsert(IncomingMessage {
                    remote_id: &ids[i],
                    thread_remote_id: Some(&threads[i]),
                    received_at: now - i64::try_from(count - n).unwrap_or(0) * SPACING,
                    is_read: places[i].1,
                    is_starred: places[i].2,
                    is_draft: false,
                    folders: &places[i].0,
                    raw: Some(&raws[i]),
                    parsed: &parsed[i].0,
                    parse_failed: parsed[i].1,
                    has_attachments: None,
                })
            })
            .collect();
        store.apply_sync(account, &[], &changes, None, now).await?;
        start = end;
        if start.is_multiple_of(10_000) {
            tracing::warn!(stored = start, "filling the store");
        }
    }
    Ok(())
}

/// The cursor after the first `skip` conversations of the inbox.
async fn cursor_after(store: &Store, user: UserId, skip: i64) -> anyhow::Result<String> {
    let filter = mailroom_store::MessageFilter { kind: Some(FolderKind::Inbox), ..Default::default() };
    let mut after = None;
    let mut left = skip;
    while left > 0 {
        let page = store.list_conversations(user, &filter, after, left.min(500)).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.cursor());
        left -= i64::try_from(page.len()).unwrap_or(left);
    }
    Ok(after.map(|c| c.encode()).unwrap_or_default())
}

/// The domain most of the store's mail is from: "all mail with this customer".
async fn busiest_domain(store: &Store, user: UserId) -> anyhow::Result<String> {
    let sample = store.list_messages(user, &mailroom_store::MessageFilter::default(), None, 500).await?;
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for m in sample {
        if let Some(domain) = m.from_address.as_deref().and_then(|a| a.rsplit_once('@')).map(|(_, d)| d.to_owned()) {
            *counts.entry(domain).or_default() += 1;
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(d, _)| d).context("no sender in the store")
}
