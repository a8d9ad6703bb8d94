//! `mailroom-bench attachment`: one large file sent from Mailroom through Gmail or Outlook, and
//! how much Mailroom's memory grows meanwhile. The simulator runs in a child process (as for
//! `sync`); this process is the whole server: the web app on a loopback port, the store, the
//! draft writer and the outbox that hands the message to the provider (Gmail: one media upload;
//! Outlook: a draft, the file through an upload session, then send).
//!
//! Two ways in, as `--via` says:
//! - `draft` (the compose page's way, and the API's for a large file): a draft is made, the file
//!   is posted to it as it is (`POST /api/v1/drafts/{id}/files`), the draft writer takes it to
//!   the provider's Drafts, and `POST /api/v1/messages/send` with the `draft_id` sends it;
//! - `json`: the file base64 in the JSON of `POST /api/v1/messages/send`.
//!
//! The figure is the peak resident memory above what the process held before the first
//! request, against the file's size; the target is at most twice the file.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use base64::Engine as _;
use mailroom_domain::Provider as Kind;
use mailroom_providers::{Endpoints, Providers};
use mailroom_store::{Db, DbTarget, KeyInput, Store, SubmissionStatus};
use mailroom_sync::{AccessTokens, Engine, Limits, Outbox, Pacing};
use tokio::sync::Notify;

use crate::memory::{self, megabytes};
use crate::sim_server::REDIRECT_URI;
use crate::sync::{SimProcess, SyncArgs, configure, connect};
use crate::{Provider, report};

#[derive(clap::Args)]
pub struct AttachmentArgs {
    /// The provider the message goes through.
    #[arg(long, value_enum)]
    provider: Provider,
    /// The file's size, in megabytes (10⁶ bytes).
    #[arg(long, default_value_t = 20)]
    megabytes: usize,
    /// How the file comes in.
    #[arg(long, value_enum, default_value_t = Via::Draft)]
    via: Via,
}

/// Messages sent in a run: the first and the last are reported.
const MESSAGES: usize = 5;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Via {
    /// Posted to a draft as it is, then the draft sent.
    Draft,
    /// Base64 in the JSON of the send call.
    Json,
}

pub async fn run(args: AttachmentArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=25).contains(&args.megabytes), "--megabytes: 1 to 25 (a message carries 25 MB at most)");
    let folder = tempfile::Builder::new().prefix("mailroom-bench-").tempdir()?;
    let mut sim = SimProcess::start(&SyncArgs::one_message(args.provider)).await?;
    let result = measure(&args, &sim.info.base_url, &sim.info.owner, folder.path()).await;
    sim.stop().await;
    let runs = result?;
    report(&format!(
        "attachment, {} MB file sent through {:?} by way of {:?} (SQLite)",
        args.megabytes, args.provider, args.via
    ));
    let last = format!("message {MESSAGES} (caches warm)");
    for (label, m) in ["first message (cold caches)", last.as_str()].iter().zip([&runs[0], &runs[runs.len() - 1]]) {
        let growth = m.peak.saturating_sub(m.before);
        let ratio = growth as f64 / (args.megabytes as f64 * 1e6);
        report(&format!("{label}:"));
        report(&format!("  request answered       {:.2} s", m.answered.as_secs_f64()));
        report(&format!("  handed to the provider {:.2} s after the first request", m.sent.as_secs_f64()));
        report(&format!("  memory before          {:.1} MB", megabytes(m.before)));
        for (step, peak) in &m.steps {
            report(&format!("  peak during {step:<21} +{:.1} MB", megabytes(peak.saturating_sub(m.before))));
        }
        report(&format!(
            "  growth                 {:.1} MB = {ratio:.1}× the file   target ≤ 2× ({:.0} MB)   {}",
            megabytes(growth),
            2.0 * args.megabytes as f64,
            if ratio <= 2.0 { "met" } else { "not met" }
        ));
    }
    Ok(())
}

struct Measured {
    /// The submission.
    id: i64,
    before: u64,
    peak: u64,
    /// Each step's name and the peak growth during it.
    steps: Vec<(&'static str, u64)>,
    answered: std::time::Duration,
    sent: std::time::Duration,
}

async fn measure(
    args: &AttachmentArgs,
    sim_url: &str,
    owner: &str,
    folder: &std::path::Path,
) -> anyhow::Result<Vec<Measured>> {
    let db = Db::connect(&DbTarget::Sqlite(folder.join("mailroom.db"))).await?;
    db.migrate().await?;
    let store = Store::unlock(db, KeyInput { given: None, file: folder.join("secret.key") }).await?;
    let env: HashMap<String, String> =
        mailroom_sim::mailroom_endpoints(sim_url).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let config = mailroom_config::Config::load(None, &env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let endpoints = Endpoints::from(&config);
    let providers = Arc::new(Providers::new(endpoints.clone()));
    configure(&store).await?;
    let kind = match args.provider {
        Provider::Gmail => Kind::Google,
        Provider::Outlook => Kind::Microsoft,
    };
    let account = connect(&store, &providers, &endpoints, kind, owner).await?;
    let token = store.create_api_token(account.user_id, "bench", mailroom_store::now()).await?.context("a token")?;

    let web = mailroom_web::WebConfig::new("http://127.0.0.1", false, endpoints.clone());
    let app = mailroom_web::router(mailroom_web::AppState::new(store.clone(), web));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server_task = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
    });
    let tokens = AccessTokens::new(store.clone(), providers.clone(), REDIRECT_URI.to_owned());
    let engine = Engine { store: store.clone(), providers, tokens, pacing: Pacing::new(Limits::default()) };
    let outbox_engine = engine.clone();
    let outbox = Outbox::new(engine, "bench-outbox".to_owned(), Arc::new(Notify::new()), Arc::new(Notify::new()));

    // Messages one after the other: the first meets empty caches, as only the first after a
    // start does (SQLite keeps up to 16 MiB of pages per connection, and the pool's connections
    // fill theirs in turn; the allocator keeps what it was given); the last is any later one.
    let server =
        Server { http: reqwest::Client::new(), address, token: token.expose().to_owned(), account: account.id.0 };
    let mut runs = Vec::new();
    for n in 1..=MESSAGES {
        let m = one(args, &server, n, &outbox, &outbox_engine).await?;
        let status = store.submission(account.user_id, m.id).await?.context("the submission")?.status;
        anyhow::ensure!(status == SubmissionStatus::Accepted, "the provider did not take the message: {status:?}");
        runs.push(m);
    }
    server_task.abort();
    Ok(runs)
}

/// The bench's own server, as an API client sees it.
struct Server {
    http: reqwest::Client,
    address: std::net::SocketAddr,
    token: String,
    account: i64,
}

/// One message with its file, from the first request until the provider has it.
async fn one(
    args: &AttachmentArgs,
    server: &Server,
    n: usize,
    outbox: &Outbox,
    engine: &Engine,
) -> anyhow::Result<Measured> {
    // The requests' bodies as an application builds them, made before the measure starts: they
    // are the client's memory, not the server's.
    let size = args.megabytes * 1_000_000;
    let file: Vec<u8> = (0..size).map(|i| u8::try_from((i + n) % 251).unwrap_or(0)).collect();
    let http = &server.http;
    let token = server.token.as_str();
    let api = |path: &str| format!("http://{}/api/v1/{path}", server.address);
    let mut message = serde_json::json!({
        "account_id": server.account, "idempotency_key": format!("bench-attachment-{n}"),
        "to": ["partner@example.org"], "subject": "Plans", "text": "The plans are attached.",
    });
    let mut upload = None;
    match args.via {
        Via::Json => {
            message["attachments"] = serde_json::json!([{"name": "plans.pdf", "content_type": "application/pdf",
                "content_base64": base64::engine::general_purpose::STANDARD.encode(&file)}]);
            drop(file);
        }
        Via::Draft => {
            let draft = serde_json::json!({"account_id": server.account, "subject": "Plans"});
            let answer = http.post(api("drafts")).bearer_auth(token).json(&draft).send().await?;
            anyhow::ensure!(answer.status().as_u16() == 201, "the draft was refused: {}", answer.text().await?);
            let draft: serde_json::Value = answer.json().await?;
            let id = draft["id"].as_i64().context("the answer names the draft")?;
            message["draft_id"] = serde_json::json!(id);
            upload = Some((api(&format!("drafts/{id}/files?name=plans.pdf")), file));
        }
    }
    let message = message.to_string();
    let before = memory::current().context("this system does not tell a process's memory")?;
    memory::reset_peak();
    let start = Instant::now();
    let mut steps = Vec::new();
    // The peak of the step just done, and a new start for the next (the highest is kept).
    let mut step = |name: &'static str| {
        steps.push((name, memory::peak(None).unwrap_or(0)));
        memory::reset_peak();
    };
    if let Some((url, file)) = upload {
        let answer =
            http.post(url).bearer_auth(token).header("content-type", "application/pdf").body(file).send().await?;
        anyhow::ensure!(answer.status().as_u16() == 201, "the file was refused: {}", answer.text().await?);
        step("the upload");
        // The draft writer takes the draft with its file to the provider, as the server does
        // while the user writes.
        mailroom_sync::push_drafts(engine, "bench-outbox").await;
        step("the draft's writing");
    }
    let answer = http
        .post(api("messages/send"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(message)
        .send()
        .await?;
    anyhow::ensure!(answer.status().as_u16() == 202, "the send was refused: {}", answer.text().await?);
    let submission: serde_json::Value = answer.json().await?;
    let answered = start.elapsed();
    step("the send request");
    let id = submission["id"].as_i64().context("the answer names the submission")?;
    outbox.send_due_at(mailroom_store::now() + 60).await;
    let sent = start.elapsed();
    step("the handing over");
    let peak =
        steps.iter().map(|(_, peak)| *peak).max().context("this system does not tell a process's peak memory")?;
    Ok(Measured { id, before, peak, steps, answered, sent })
}
