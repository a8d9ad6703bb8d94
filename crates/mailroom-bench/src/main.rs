//! `mailroom-bench`: Mailroom's benchmarks, as programs that print figures rather than tests
//! that assert them. `sync` measures the initial sync of one mailbox from the simulator under the
//! providers' published limits; `workspace` how fast the inbox page and the message API answer
//! with a large store; `search` Mailroom's ingest and search against notmuch's on the same mail.

mod attachment;
mod browser;
mod ceiling;
mod common;
mod corpus;
mod database;
mod mail;
mod memory;
mod search;
mod sim_server;
mod suggest;
mod sync;
mod workspace;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "mailroom-bench", version, about = "Benchmarks of Mailroom that print their figures")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The initial sync of one simulated mailbox, timed against the ceiling the provider's
    /// published limits allow.
    Sync(sync::SyncArgs),
    /// The mail workspace's answers (inbox page, message list API) with a large store.
    Workspace(workspace::WorkspaceArgs),
    /// Ingest and search of a replicated corpus, in Mailroom and in notmuch.
    Search(search::SearchArgs),
    /// One large file sent through Gmail or Outlook, and the server's memory growth meanwhile.
    Attachment(attachment::AttachmentArgs),
    /// The compose page's address suggestions with 100,000 messages among 20,000 people.
    Suggest(suggest::SuggestArgs),
    /// The simulator in a process of its own, for `sync`; not for people to run.
    #[command(hide = true)]
    SimServer(sim_server::SimServerArgs),
}

/// The provider whose sync is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Provider {
    Gmail,
    Outlook,
}

/// Gmail's quota generation (providers.md B6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Quota {
    /// Projects that used the API before May 2026: 15,000 units per user a minute, messages.get 5.
    Legacy,
    /// Projects created from May 2026: 6,000 units per user a minute, messages.get 20.
    #[value(name = "2026")]
    Y2026,
}

impl Quota {
    pub fn units_per_minute(self) -> u32 {
        match self {
            Quota::Legacy => 15_000,
            Quota::Y2026 => 6_000,
        }
    }

    pub fn costs(self) -> mailroom_sync::GmailCosts {
        match self {
            Quota::Legacy => mailroom_sync::GmailCosts::LEGACY,
            Quota::Y2026 => mailroom_sync::GmailCosts::Y2026,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Quota::Legacy => "legacy",
            Quota::Y2026 => "2026",
        }
    }
}

/// A line of the benchmark's result on standard output (progress and logs go to standard error).
#[expect(clippy::print_stdout, reason = "this is the program's output")]
pub fn report(line: &str) {
    println!("{line}");
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,html5ever=error".into()),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Sync(args) => runtime.block_on(sync::run(args)),
        Command::Workspace(args) => runtime.block_on(workspace::run(args)),
        Command::Search(args) => runtime.block_on(search::run(args)),
        Command::Attachment(args) => runtime.block_on(attachment::run(args)),
        Command::Suggest(args) => runtime.block_on(suggest::run(args)),
        Command::SimServer(args) => runtime.block_on(sim_server::run(args)),
    }
}
