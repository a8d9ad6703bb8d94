//! `mailroom-bench search`: Mailroom's search against notmuch's on the same mail. The corpus is
//! replicated to `--messages` messages in a Maildir (each copy with a Message-ID of its own, the
//! rest of it unchanged); Mailroom reads, parses and stores that Maildir as a sync would (parsing
//! on blocking threads while the store writes), and `notmuch new` indexes it; both are timed and
//! their peak memory read. Then 50 queries, each written in both languages, are timed: Mailroom's
//! `GET /api/v1/search` inside this process, and both from a command line, a process per request
//! (`curl` against the same server, `notmuch search`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mailroom_domain::{AccountId, FolderKind};
use mailroom_mime::{ParseOutcome, ParsedMessage};
use mailroom_store::{DbTarget, IncomingMessage, KeyInput, MessageChange, RemoteFolder, Store};
use sqlx::Connection as _;
use tokio::process::Command;

use crate::common::{endpoints, owner, percentile};
use crate::corpus::{read_corpus, with_message_id};
use crate::database::{Database, FreshPostgres};
use crate::{memory, report};

#[derive(clap::Args)]
pub struct SearchArgs {
    /// The corpus to replicate: a .tar.gz of .eml files (the SpamAssassin corpus of the shared
    /// corpora, say).
    #[arg(long)]
    corpus: PathBuf,
    /// Messages in the Maildir, the store and notmuch's database.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// `sqlite`, or a PostgreSQL server URL (`postgres://postgres@127.0.0.1:5432/postgres`) on
    /// which a database of the run's own is made and dropped.
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Timed requests per query and way of asking, after one warm-up.
    #[arg(long, default_value_t = 20)]
    samples: usize,
    /// Measure Mailroom alone (without notmuch installed, say).
    #[arg(long)]
    skip_notmuch: bool,
    /// Also time reading every stored message again, as a server does in the background after an
    /// upgrade whose reader is newer (`Store::start_reparse`, `Store::reparse_stored`).
    #[arg(long)]
    reparse: bool,
}

/// One search, as a person would type it in each program.
struct Query {
    mailroom: &'static str,
    notmuch: &'static str,
}

const fn q(mailroom: &'static str, notmuch: &'static str) -> Query {
    Query { mailroom, notmuch }
}

/// What people search their mail for, in the SpamAssassin corpus (2002 mailing lists and spam):
/// common and rare words, phrases, senders, subjects, date ranges, negation, OR and mixtures.
/// notmuch's default operator is AND like Mailroom's, but its OR does not bind tighter than the
/// implicit AND, so mixtures are parenthesised for it.
const QUERIES: [Query; 50] = [
    // Words, common to rare (messages of the 3,250 that hold them).
    q("linux", "linux"),
    q("python", "python"),
    q("perl", "perl"),
    q("kernel", "kernel"),
    q("mortgage", "mortgage"),
    q("microsoft", "microsoft"),
    q("spamassassin", "spamassassin"),
    q("encryption", "encryption"),
    q("free money", "free money"),
    q("spam filter", "spam filter"),
    q("telescope", "telescope"),
    q("vaccine", "vaccine"),
    q("diploma", "diploma"),
    q("pizza", "pizza"),
    q("guitar", "guitar"),
    q("hurricane", "hurricane"),
    q("bluetooth", "bluetooth"),
    q("napster", "napster"),
    q("recieve", "recieve"),
    // Phrases.
    q("\"mailing list\"", "\"mailing list\""),
    q("\"open source\"", "\"open source\""),
    q("\"credit card\"", "\"credit card\""),
    q("\"red hat\"", "\"red hat\""),
    q("\"click here\"", "\"click here\""),
    q("\"new york\"", "\"new york\""),
    // Senders and recipients: address, domain, name.
    q("from:tim.one@comcast.net", "from:tim.one@comcast.net"),
    q("from:perl.org", "from:perl.org"),
    q("from:\"Tim Peters\"", "from:\"Tim Peters\""),
    q("from:hotmail.com", "from:hotmail.com"),
    q("from:guardian", "from:guardian"),
    q("from:matthias", "from:matthias"),
    q("to:ilug@linux.ie", "to:ilug@linux.ie"),
    // Subjects.
    q("subject:razor", "subject:razor"),
    q("subject:perl", "subject:perl"),
    q("subject:\"selling wedded bliss\"", "subject:\"selling wedded bliss\""),
    q("subject:bug", "subject:bug"),
    // Dates (Mailroom's before: is strictly before the day; notmuch's range includes its end day).
    q("after:2002-08-01 before:2002-09-01", "date:2002-08-01..2002-08-31"),
    q("before:2002-08-01", "date:..2002-07-31"),
    q("linux after:2002-09-01 before:2002-10-01", "linux date:2002-09-01..2002-09-30"),
    q("subject:razor after:2002-10-01", "subject:razor date:2002-10-01.."),
    // Negation.
    q("linux -redhat", "linux NOT redhat"),
    q("perl -python", "perl NOT python"),
    q("news -from:rssfeeds@spamassassin.taint.org", "news NOT from:rssfeeds@spamassassin.taint.org"),
    // OR.
    q("python OR perl", "python OR perl"),
    q("viagra OR mortgage OR lottery", "viagra OR mortgage OR lottery"),
    q("from:matthias@egwn.net OR from:matthias@rpmforge.net", "from:matthias@egwn.net OR from:matthias@rpmforge.net"),
    // Mixtures.
    q("(python OR perl) -java", "(python OR perl) NOT java"),
    q("\"red hat\" (kernel OR rpm)", "\"red hat\" AND (kernel OR rpm)"),
    q("has:attachment", "tag:attachment"),
    q("is:unread from:fork_list@hotmail.com", "tag:unread AND from:fork_list@hotmail.com"),
];

/// Messages parsed and written to the store per transaction, as an import from files would write
/// them (Gmail's sync writes a batch of 50 as it arrives, to show the newest mail soonest).
const BATCH: usize = 500;
/// The received time of a message whose Date header does not parse: 2002-09-01, the corpus's
/// middle.
const FALLBACK_RECEIVED: i64 = 1_030_838_400;
/// Results asked for per search, a page of the UI.
const LIMIT: usize = 50;
/// Time a query is timed for at most per way of asking, after its warm-up (see [`sampled`]).
const QUERY_BUDGET: Duration = Duration::from_secs(20);

pub async fn run(args: SearchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.messages > 0, "--messages must be at least 1");
    anyhow::ensure!(args.samples > 0, "--samples must be at least 1");
    let database = Database::parse(&args.database)?;
    let folder = tempfile::Builder::new().prefix("mailroom-bench-search-").tempdir()?;
    let maildir = folder.path().join("mail");
    {
        let corpus = read_corpus(&args.corpus)?;
        anyhow::ensure!(!corpus.is_empty(), "no .eml file in {}", args.corpus.display());
        let (maildir, messages) = (maildir.clone(), args.messages);
        tracing::warn!(messages, "writing the Maildir");
        tokio::task::spawn_blocking(move || write_maildir(&corpus, &maildir, messages)).await??;
    }
    let (target, fresh) = match &database {
        Database::Sqlite => (DbTarget::Sqlite(folder.path().join("mailroom.db")), None),
        Database::Postgres { server } => {
            let fresh = FreshPostgres::create(server).await?;
            (DbTarget::Postgres(fresh.url.clone()), Some(fresh))
        }
    };
    let result = measure(&args, target, folder.path(), &maildir).await;
    if let Some(fresh) = fresh {
        fresh.drop_database().await;
    }
    result
}

/// Message `n` of the Maildir: the corpus message `n % len`, with the Message-ID
/// `<copy.n.original-id>`, so that copies are distinct messages and the ingest can still tell the
/// conversation each copy belongs to. Every third message is unread (no `S` flag).
fn write_maildir(corpus: &[Vec<u8>], maildir: &Path, messages: usize) -> anyhow::Result<()> {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    let originals: Vec<String> = corpus
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            mailroom_mime::parse(raw)
                .into_message()
                .message_id
                .filter(|id| !id.is_empty() && !id.contains(['<', '>', ' ', '\r', '\n']))
                .unwrap_or_else(|| format!("corpus-{i}@mailroom.test"))
        })
        .collect();
    let cur = maildir.join("cur");
    for n in 0..messages {
        let (copy, i) = (n / corpus.len(), n % corpus.len());
        let raw = with_message_id(&corpus[i], &format!("{copy}.{n}.{}", originals[i]));
        let flags = if n.is_multiple_of(3) { "" } else { "S" };
        std::fs::write(cur.join(format!("{n}.mailroom-bench:2,{flags}")), raw)?;
    }
    Ok(())
}

async fn measure(args: &SearchArgs, target: DbTarget, folder: &Path, maildir: &Path) -> anyhow::Result<()> {
    let db = mailroom_store::Db::connect(&target).await?;
    db.migrate().await?;
    let store = Store::unlock(db, KeyInput { given: None, file: folder.join("secret.key") }).await?;
    let (user, account) = owner(&store).await?;
    store
        .apply_sync(
            account,
            &[RemoteFolder {
                remote_id: "INBOX".to_owned(),
                name: "INBOX".to_owned(),
                kind: FolderKind::Inbox,
                parent_remote_id: None,
            }],
            &[],
            None,
            mailroom_store::now(),
        )
        .await?;

    tracing::warn!("Mailroom: ingesting the Maildir");
    let resettable = memory::reset_peak();
    let started = Instant::now();
    let ingested = ingest(&store, account, maildir).await?;
    let mailroom_time = started.elapsed();
    let mailroom_peak = memory::peak(None).filter(|_| resettable);
    anyhow::ensure!(
        ingested.stored == args.messages,
        "Mailroom stored {} messages of {}",
        ingested.stored,
        args.messages
    );
    // What the server's upkeep task does in the background after writes: SQLite's index merged
    // down (PostgreSQL has nothing to do). Timed apart from the ingest.
    let tidy_started = Instant::now();
    let mut tidy_steps = 0u32;
    while store.tidy_search_index().await? {
        tidy_steps += 1;
    }
    let tidy_time = tidy_started.elapsed();
    let reparse_time = if args.reparse {
        tracing::warn!("Mailroom: reading every stored message again");
        let started = Instant::now();
        store.start_reparse().await?;
        while store.reparse_stored(200).await? {}
        while store.tidy_search_index().await? {}
        Some(started.elapsed())
    } else {
        None
    };
    if let DbTarget::Postgres(url) = &target {
        // What autovacuum does soon after a bulk load.
        let mut connection = sqlx::PgConnection::connect(url).await?;
        sqlx::query("ANALYZE").execute(&mut connection).await?;
    }
    let notmuch = if args.skip_notmuch {
        None
    } else {
        tracing::warn!("notmuch: indexing the Maildir");
        Some(Notmuch::index(folder, maildir, args.messages).await?)
    };

    let database_name = match target {
        DbTarget::Sqlite(_) => "SQLite",
        DbTarget::Postgres(_) => "PostgreSQL",
    };
    let versus = notmuch.as_ref().map_or(String::new(), |n| format!(" and {}", n.version));
    report(&format!(
        "Search benchmark: {} messages (the corpus replicated, fresh Message-IDs) in a Maildir; Mailroom on \
         {database_name}{versus}; {} cores",
        args.messages,
        std::thread::available_parallelism().map_or(1, usize::from)
    ));
    report(&format!("  {:<28} {:>11} {:>10} {:>12}", "ingest", "messages/s", "time", "peak memory"));
    let ingest_line = |name: &str, time: Duration, peak: Option<u64>| {
        report(&format!(
            "  {name:<28} {:>11.0} {:>8.1} s {:>12}",
            args.messages as f64 / time.as_secs_f64(),
            time.as_secs_f64(),
            peak.map_or("?".to_owned(), |p| format!("{:.1} MB", memory::megabytes(p)))
        ));
    };
    ingest_line("Mailroom (read, parse, store)", mailroom_time, mailroom_peak);
    if let Some(notmuch) = &notmuch {
        ingest_line("notmuch new", notmuch.index_time, notmuch.index_peak);
        let memory_ratio = match (mailroom_peak, notmuch.index_peak) {
            (Some(m), Some(n)) if n > 0 => format!("{:>11.2}x", m as f64 / n as f64),
            _ => format!("{:>12}", "?"),
        };
        report(&format!(
            "  {:<28} {:>10.2}x {:>10} {memory_ratio}",
            "Mailroom / notmuch",
            notmuch.index_time.as_secs_f64() / mailroom_time.as_secs_f64(),
            ""
        ));
    }

    report(&format!(
        "  Mailroom's time in Store::apply_sync: {:.1} s of {:.1} s (reading and parsing overlap the writes)",
        ingested.writing.as_secs_f64(),
        mailroom_time.as_secs_f64()
    ));
    report(&format!(
        "  then the index tidied as the server does in the background (Store::tidy_search_index): {:.1} s, {tidy_steps} steps",
        tidy_time.as_secs_f64()
    ));
    if let Some(time) = reparse_time {
        report(&format!(
            "  every message read again, as after an upgrade with a newer reader (Store::reparse_stored, 200 a \
             transaction, then the index tidied): {:.1} s, {:.0} messages/s",
            time.as_secs_f64(),
            args.messages as f64 / time.as_secs_f64()
        ));
    }

    let config = mailroom_web::WebConfig::new("http://127.0.0.1", false, endpoints()?);
    let app = mailroom_web::router(mailroom_web::AppState::new(store.clone(), config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
    });
    let token = store.create_api_token(user, "bench", mailroom_store::now()).await?.context("a token")?;
    let search = Search { http: reqwest::Client::new(), base, bearer: format!("Bearer {}", token.expose()) };
    let result = time_queries(args, &search, notmuch.as_ref()).await;
    server.abort();
    result
}

/// What the ingest did: messages stored, and the time spent in `apply_sync`.
struct Ingested {
    stored: usize,
    writing: Duration,
}

/// Reads, parses and stores every message of the Maildir, the parsing on blocking threads (one
/// fewer than there are cores) while the store writes the batches already parsed.
async fn ingest(store: &Store, account: AccountId, maildir: &Path) -> anyhow::Result<Ingested> {
    let files = Arc::new(maildir_files(maildir)?);
    let next = Arc::new(AtomicUsize::new(0));
    // A core is left to the store's writes (SQLite's worker thread, or PostgreSQL): parsing takes a
    // fraction of the time writing does.
    let workers = std::thread::available_parallelism().map_or(1, |n| usize::from(n).saturating_sub(1).max(1));
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Batch>(2 * workers);
    let mut parsers = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (files, next, sender) = (Arc::clone(&files), Arc::clone(&next), sender.clone());
        parsers.spawn_blocking(move || -> anyhow::Result<()> {
            loop {
                let start = next.fetch_add(1, Ordering::Relaxed) * BATCH;
                if start >= files.len() {
                    return Ok(());
                }
                let batch = Batch::read(&files[start..(start + BATCH).min(files.len())])?;
                if sender.blocking_send(batch).is_err() {
                    // The writer stopped, with an error of its own.
                    return Ok(());
                }
            }
        });
    }
    drop(sender);
    let inbox = vec!["INBOX".to_owned()];
    let mut stored = 0;
    let mut writing = Duration::ZERO;
    while let Some(batch) = receiver.recv().await {
        let write = Instant::now();
        let changes: Vec<MessageChange<'_>> = (0..batch.ids.len())
            .map(|i| {
                MessageChange::Upsert(IncomingMessage {
                    remote_id: &batch.ids[i],
                    thread_remote_id: Some(&batch.threads[i]),
                    received_at: batch.received[i],
                    is_read: batch.read[i],
                    is_starred: false,
                    is_draft: false,
                    folders: &inbox,
                    raw: Some(&batch.raws[i]),
                    parsed: &batch.parsed[i].0,
                    parse_failed: batch.parsed[i].1,
                    has_attachments: None,
                })
            })
            .collect();
        store.apply_sync(account, &[], &changes, None, mailroom_store::now()).await?;
        writing += write.elapsed();
        let before = stored;
        stored += batch.ids.len();
        if stored / 10_000 != before / 10_000 {
            tracing::warn!(stored, "Mailroom: ingesting");
        }
    }
    while let Some(parser) = parsers.join_next().await {
        parser??;
    }
    Ok(Ingested { stored, writing })
}

/// A Maildir message: its number (from the file name), path and whether it has been seen.
struct MaildirFile {
    number: usize,
    path: PathBuf,
    seen: bool,
}

/// The messages of `cur/` and `new/`, in their numbers' order.
fn maildir_files(maildir: &Path) -> anyhow::Result<Vec<MaildirFile>> {
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        for entry in std::fs::read_dir(maildir.join(sub))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let (unique, info) = name.split_once(':').unwrap_or((&name, ""));
            let number = unique.split('.').next().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
            let seen = sub == "cur" && info.strip_prefix("2,").is_some_and(|flags| flags.contains('S'));
            files.push(MaildirFile { number, path: entry.path(), seen });
        }
    }
    files.sort_by_key(|f| f.number);
    Ok(files)
}

/// Messages read and parsed, ready to be written in one transaction.
struct Batch {
    ids: Vec<String>,
    threads: Vec<String>,
    raws: Vec<Vec<u8>>,
    parsed: Vec<(ParsedMessage, bool)>,
    received: Vec<i64>,
    read: Vec<bool>,
}

impl Batch {
    fn read(files: &[MaildirFile]) -> anyhow::Result<Batch> {
        let mut batch = Batch {
            ids: Vec::with_capacity(files.len()),
            threads: Vec::with_capacity(files.len()),
            raws: Vec::with_capacity(files.len()),
            parsed: Vec::with_capacity(files.len()),
            received: Vec::with_capacity(files.len()),
            read: Vec::with_capacity(files.len()),
        };
        for file in files {
            let raw = std::fs::read(&file.path).with_context(|| format!("cannot read {}", file.path.display()))?;
            let (parsed, failed) = match mailroom_mime::parse(&raw) {
                ParseOutcome::Parsed(m) => (m, false),
                ParseOutcome::Unreadable(m) => (m, true),
            };
            let id = format!("m{:08}", file.number);
            batch.threads.push(conversation(&parsed).unwrap_or_else(|| id.clone()));
            batch.received.push(parsed.date.map_or(FALLBACK_RECEIVED, |d| d.timestamp()));
            batch.ids.push(id);
            batch.raws.push(raw);
            batch.parsed.push((parsed, failed));
            batch.read.push(file.seen);
        }
        Ok(batch)
    }
}

/// The conversation of a copy, as a provider's thread id: the copy number and the first message
/// the copy refers to (or its own original Message-ID), so that the copies of a thread form one
/// conversation per copy of the corpus.
fn conversation(parsed: &ParsedMessage) -> Option<String> {
    let mut parts = parsed.message_id.as_deref()?.splitn(3, '.');
    let (copy, _number, original) = (parts.next()?, parts.next()?, parts.next()?);
    let root = parsed.references.first().or(parsed.in_reply_to.first()).map_or(original, String::as_str);
    Some(format!("{copy}.{root}"))
}

/// notmuch's database of the Maildir.
struct Notmuch {
    config: PathBuf,
    version: String,
    index_time: Duration,
    index_peak: Option<u64>,
}

impl Notmuch {
    /// Configures notmuch for the Maildir and times `notmuch new`, reading the peak memory of the
    /// process every 20 ms.
    async fn index(folder: &Path, maildir: &Path, messages: usize) -> anyhow::Result<Notmuch> {
        let config = folder.join("notmuch-config");
        std::fs::write(
            &config,
            format!(
                "[database]\npath={}\n\n[user]\nname=Bench\nprimary_email=bench@mailroom.test\n\n[new]\ntags=inbox\n\n\
                 [search]\nexclude_tags=\n\n[maildir]\nsynchronize_flags=true\n",
                maildir.display()
            ),
        )?;
        let version =
            String::from_utf8_lossy(&output(Command::new("notmuch").arg("--version")).await?.stdout).trim().to_owned();
        let mut notmuch = Notmuch { config, version, index_time: Duration::ZERO, index_peak: None };
        let started = Instant::now();
        let mut child = notmuch
            .command()
            .args(["new", "--quiet"])
            .stdin(Stdio::null())
            .spawn()
            .context("cannot start notmuch (is it installed? --skip-notmuch measures Mailroom alone)")?;
        let pid = child.id().context("notmuch's process id")?;
        let status = loop {
            if let Some(peak) = memory::peak(Some(pid)) {
                notmuch.index_peak = notmuch.index_peak.max(Some(peak));
            }
            if let Ok(status) = tokio::time::timeout(Duration::from_millis(20), child.wait()).await {
                break status?;
            }
        };
        notmuch.index_time = started.elapsed();
        anyhow::ensure!(status.success(), "notmuch new failed: {status}");
        let count = notmuch.count("*").await?;
        anyhow::ensure!(count == messages as u64, "notmuch counts {count} messages, not {messages}");
        Ok(notmuch)
    }

    fn command(&self) -> Command {
        let mut command = Command::new("notmuch");
        command.env("NOTMUCH_CONFIG", &self.config);
        command
    }

    async fn count(&self, query: &str) -> anyhow::Result<u64> {
        let out = output(self.command().args(["count", query])).await?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim().parse().with_context(|| format!("notmuch count {query:?} printed {text:?}"))
    }

    fn search(&self, query: &str) -> Command {
        let mut command = self.command();
        command.args(["search", "--format=json", &format!("--limit={LIMIT}"), query]);
        command
    }
}

/// Runs a command to its end, failing unless it succeeds.
async fn output(command: &mut Command) -> anyhow::Result<std::process::Output> {
    let out = command.stdin(Stdio::null()).output().await.with_context(|| format!("cannot run {command:?}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{command:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(out)
}

/// Runs a command to its end, failing unless it succeeds (the command's own future, for timing).
async fn run_command(mut command: Command) -> anyhow::Result<std::process::Output> {
    output(&mut command).await
}

/// Milliseconds of timed calls of `once`, one after the other, sorted: `samples` of them, or as
/// many as [`QUERY_BUDGET`] holds (at least one) when the warm-up took `warm_up`, so that a query
/// far slower than the rest does not hold the run for hours.
async fn sampled<T, F, Fut>(samples: usize, warm_up: Duration, mut once: F) -> anyhow::Result<Vec<f64>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let fit = (QUERY_BUDGET.as_secs_f64() / warm_up.as_secs_f64().max(1e-9)) as usize;
    let samples = fit.clamp(1, samples);
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let call = once();
        let start = Instant::now();
        call.await?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// The warm-up call of a query's timing: its result and how long it took.
async fn warm_up<T>(call: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<(T, Duration)> {
    let start = Instant::now();
    let result = call.await?;
    Ok((result, start.elapsed()))
}

/// Mailroom's search API in this process's server.
struct Search {
    http: reqwest::Client,
    base: String,
    bearer: String,
}

impl Search {
    /// The address of a page of results, and with `count` of the number of matching messages.
    fn url(&self, query: &str, count: bool) -> String {
        let q: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let count = if count { "&count=true" } else { "" };
        format!("{}/api/v1/search?q={q}&limit={LIMIT}{count}", self.base)
    }

    /// The JSON answer to a search: a page of conversations, with `count` the number of matching
    /// messages too.
    async fn once(&self, query: &str, count: bool) -> anyhow::Result<serde_json::Value> {
        let response = self.http.get(self.url(query, count)).header("authorization", &self.bearer).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            anyhow::bail!(
                "GET /api/v1/search answered {status}: this Mailroom has no search API (mailroom-web), so the \
                 queries cannot be measured"
            );
        }
        anyhow::ensure!(status.is_success(), "search {query:?} answered {status}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).with_context(|| format!("search {query:?} answered no JSON"))
    }

    /// `curl` asking for a search, as a script would.
    fn curl(&self, query: &str) -> Command {
        let mut command = Command::new("curl");
        command.args(["-s", "-H", &format!("Authorization: {}", self.bearer), &self.url(query, false)]);
        command
    }
}

/// The number of matching messages in a search's answer.
fn total(answer: &serde_json::Value, query: &str) -> anyhow::Result<u64> {
    answer["total"].as_u64().with_context(|| format!("the answer to {query:?} has no \"total\": {answer}"))
}

/// The figures of one query.
struct Timings {
    mailroom_total: u64,
    server: Vec<f64>,
    curl: Vec<f64>,
    notmuch: Option<(u64, Vec<f64>)>,
}

async fn time_queries(args: &SearchArgs, search: &Search, notmuch: Option<&Notmuch>) -> anyhow::Result<()> {
    // The first answer says whether there is a search API at all.
    search.once(QUERIES[0].mailroom, false).await?;
    let mut timings = Vec::with_capacity(QUERIES.len());
    for (i, query) in QUERIES.iter().enumerate() {
        if i % 10 == 0 {
            tracing::warn!(query = i + 1, of = QUERIES.len(), "timing the queries");
        }
        // Counted once, as `notmuch count` counts; the timed requests ask for a page, as the
        // search box and `notmuch search` do.
        let answer = search.once(query.mailroom, true).await?;
        let mailroom_total = total(&answer, query.mailroom)?;
        let (_, warm) = warm_up(search.once(query.mailroom, false)).await?;
        let slowest = warm;
        let server = sampled(args.samples, warm, || search.once(query.mailroom, false)).await?;
        let (out, warm) = warm_up(run_command(search.curl(query.mailroom))).await?;
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("curl for {:?} printed no JSON", query.mailroom))?;
        anyhow::ensure!(answer["conversations"].is_array(), "curl for {:?} printed {answer}", query.mailroom);
        let slowest = slowest.max(warm);
        let curl = sampled(args.samples, warm, || run_command(search.curl(query.mailroom))).await?;
        let notmuch = match notmuch {
            Some(notmuch) => {
                let count = notmuch.count(query.notmuch).await?;
                let (out, warm) = warm_up(run_command(notmuch.search(query.notmuch))).await?;
                serde_json::from_slice::<serde_json::Value>(&out.stdout)
                    .with_context(|| format!("notmuch search {:?} printed no JSON", query.notmuch))?;
                let times = sampled(args.samples, warm, || run_command(notmuch.search(query.notmuch))).await?;
                Some((count, times))
            }
            None => None,
        };
        if slowest > Duration::from_secs(1) {
            tracing::warn!(query = i + 1, seconds = slowest.as_secs_f64(), "a slow query");
        }
        timings.push(Timings { mailroom_total, server, curl, notmuch });
    }

    report("");
    report(&format!(
        "Queries: {} samples each after a warm-up, a page of {LIMIT} conversations (threads) asked for; in the \
         server: GET /api/v1/search from this process; command line: a process per request (curl -s against the same \
         server, notmuch search --format=json --limit={LIMIT}); matching messages counted apart (count=true, \
         notmuch count)",
        args.samples
    ));
    report(&format!(
        "  {:>2} {:<52} {:>8} {:>8} {:>10} {:>9} {:>9}   {}",
        "#", "query (Mailroom)", "Mailroom", "notmuch", "server p50", "curl p50", "nm p50", "notmuch query"
    ));
    let ms = |v: f64| format!("{v:.2}");
    for (i, (query, t)) in QUERIES.iter().zip(&timings).enumerate() {
        let (count, nm) = t
            .notmuch
            .as_ref()
            .map_or(("-".to_owned(), "-".to_owned()), |(count, times)| (count.to_string(), ms(percentile(times, 0.5))));
        let notmuch_query = if query.notmuch == query.mailroom { "" } else { query.notmuch };
        report(&format!(
            "  {:>2} {:<52} {:>8} {count:>8} {:>10} {:>9} {nm:>9}   {notmuch_query}",
            i + 1,
            query.mailroom,
            t.mailroom_total,
            ms(percentile(&t.server, 0.5)),
            ms(percentile(&t.curl, 0.5)),
        ));
    }
    for (i, t) in timings.iter().enumerate() {
        let taken = |times: &[f64]| times.len().to_string();
        let notmuch = t.notmuch.as_ref().map_or(args.samples, |(_, times)| times.len());
        if t.server.len().min(t.curl.len()).min(notmuch) < args.samples {
            report(&format!(
                "  #{} was timed fewer times, {} s at most each way: {} in the server, {} with curl, {} with notmuch",
                i + 1,
                QUERY_BUDGET.as_secs(),
                taken(&t.server),
                taken(&t.curl),
                t.notmuch.as_ref().map_or("-".to_owned(), |(_, times)| taken(times)),
            ));
        }
    }
    // Every query weighs the same: one timed fewer times counts its samples over again.
    let all = |pick: &dyn Fn(&Timings) -> Option<&Vec<f64>>| -> Vec<f64> {
        let mut all: Vec<f64> = timings
            .iter()
            .filter_map(pick)
            .flat_map(|times| times.iter().cycle().take(args.samples.max(times.len())))
            .copied()
            .collect();
        all.sort_by(f64::total_cmp);
        all
    };
    let server = all(&|t| Some(&t.server));
    let curl = all(&|t| Some(&t.curl));
    let nm = all(&|t| t.notmuch.as_ref().map(|(_, times)| times));
    report("");
    report(&format!("  {:<38} {:>10} {:>10}", "all samples of all queries", "p50 ms", "p95 ms"));
    let line = |name: &str, times: &[f64]| {
        report(&format!("  {name:<38} {:>10.2} {:>10.2}", percentile(times, 0.5), percentile(times, 0.95)));
    };
    line("Mailroom in the server", &server);
    line("Mailroom, command line (curl)", &curl);
    if !nm.is_empty() {
        line("notmuch, command line (notmuch search)", &nm);
        report(&format!(
            "  {:<38} {:>9.2}x {:>9.2}x",
            "command line, Mailroom / notmuch",
            percentile(&curl, 0.5) / percentile(&nm, 0.5),
            percentile(&curl, 0.95) / percentile(&nm, 0.95)
        ));
        report(&format!(
            "  {:<38} {:>9.2}x {:>9.2}x",
            "Mailroom in the server / notmuch",
            percentile(&server, 0.5) / percentile(&nm, 0.5),
            percentile(&server, 0.95) / percentile(&nm, 0.95)
        ));
    }
    Ok(())
}
