//! `mailroom-bench attachment`: one large file sent from Mailroom through Gmail or Outlook, and
//! how much Mailroom's memory grows meanwhile. The simulator runs in a child process (as for
//! `sync`); this process is the whole server: the web app on a loopback port, given the message
//! by the HTTP API (`POST /api/v1/messages/send`, the file base64 in the JSON as an application
//! sends it), the store, and the outbox that builds the message and hands it to the provider
//! (Gmail: one media upload; Outlook: a draft, the file through an upload session, then send).
//! The figure is the peak resident memory above what the process held before the request,
//! against the file's size; the target is at most twice the file.

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
}

pub async fn run(args: AttachmentArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=25).contains(&args.megabytes), "--megabytes: 1 to 25 (a message carries 25 MB at most)");
    let folder = tempfile::Builder::new().prefix("mailroom-bench-").tempdir()?;
    let mut sim = SimProcess::start(&SyncArgs::one_message(args.provider)).await?;
    let result = measure(&args, &sim.info.base_url, &sim.info.owner, folder.path()).await;
    sim.stop().await;
    let m = result?;
    let file = args.megabytes as f64;
    let growth = m.peak.saturating_sub(m.before);
    let ratio = growth as f64 / (args.megabytes as f64 * 1e6);
    report(&format!("attachment, {} MB file sent through {:?} (SQLite)", args.megabytes, args.provider));
    report(&format!("request answered      {:.2} s", m.answered.as_secs_f64()));
    report(&format!("handed to the provider {:.2} s after the request", m.sent.as_secs_f64()));
    report(&format!("memory before         {:.1} MB", megabytes(m.before)));
    report(&format!("peak memory           {:.1} MB", megabytes(m.peak)));
    report(&format!(
        "growth                {:.1} MB = {ratio:.1}× the file   target ≤ 2× ({:.0} MB)   {}",
        megabytes(growth),
        2.0 * file,
        if ratio <= 2.0 { "met" } else { "not met" }
    ));
    Ok(())
}

struct Measured {
    before: u64,
    peak: u64,
    answered: std::time::Duration,
    sent: std::time::Duration,
}

async fn measure(
    args: &AttachmentArgs,
    sim_url: &str,
    owner: &str,
    folder: &std::path::Path,
) -> anyhow::Result<Measured> {
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
    let server = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
    });
    let tokens = AccessTokens::new(store.clone(), providers.clone(), REDIRECT_URI.to_owned());
    let engine = Engine { store: store.clone(), providers, tokens, pacing: Pacing::new(Limits::default()) };
    let outbox = Outbox::new(engine, "bench-outbox".to_owned(), Arc::new(Notify::new()), Arc::new(Notify::new()));

    // The request as an application builds it, made before the measure starts: it is the
    // client's memory, not the server's.
    let size = args.megabytes * 1_000_000;
    let file: Vec<u8> = (0..size).map(|i| u8::try_from(i % 251).unwrap_or(0)).collect();
    let body = serde_json::json!({
        "account_id": account.id.0, "idempotency_key": "bench-attachment", "to": ["partner@example.org"],
        "subject": "Plans", "text": "The plans are attached.",
        "attachments": [{"name": "plans.pdf", "content_type": "application/pdf",
            "content_base64": base64::engine::general_purpose::STANDARD.encode(&file)}],
    })
    .to_string();
    drop(file);
    let http = reqwest::Client::new();
    let before = memory::current().context("this system does not tell a process's memory")?;
    memory::reset_peak();
    let start = Instant::now();
    let answer = http
        .post(format!("http://{address}/api/v1/messages/send"))
        .bearer_auth(token.expose())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(answer.status().as_u16() == 202, "the send was refused: {}", answer.text().await?);
    let submission: serde_json::Value = answer.json().await?;
    let answered = start.elapsed();
    let id = submission["id"].as_i64().context("the answer names the submission")?;
    outbox.send_due_at(mailroom_store::now() + 60).await;
    let sent = start.elapsed();
    let peak = memory::peak(None).context("this system does not tell a process's peak memory")?;
    let status = store.submission(account.user_id, id).await?.context("the submission")?.status;
    anyhow::ensure!(status == SubmissionStatus::Accepted, "the provider did not take the message: {status:?}");
    server.abort();
    Ok(Measured { before, peak, answered, sent })
}
