//! The simulator in a child process: `sync` starts the bench binary again with this hidden
//! subcommand, so that the simulator's memory (every message of the mailbox, held in its world)
//! is not counted as Mailroom's, and its work shares the machine the way a remote provider's
//! does not. It fills one mailbox, listens on a free loopback port, writes one line of JSON
//! ([`SimInfo`]) to standard output and runs until its standard input closes, which also ends it
//! when the parent dies.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::Context as _;
use mailroom_sim::{ProviderKind, RunningSim, SimClient, SimConfig, SimState, SimUser};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;

use crate::mail::{self, Place, USER_LABELS};
use crate::{Provider, Quota};

pub const OWNER: &str = "owner@example.test";
pub const OUTLOOK_OWNER: &str = "owner@contoso.onmicrosoft.com";
pub const GOOGLE_CLIENT_ID: &str = "mailroom-bench.apps.googleusercontent.com";
pub const GOOGLE_CLIENT_SECRET: &str = "GOCSPX-mailroom-bench";
pub const MICROSOFT_CLIENT_ID: &str = "7d4c1f9e-3a52-4b8e-9c61-2f0e8a7b5d34";
pub const MICROSOFT_CLIENT_SECRET: &str = "mailroom~bench";
pub const REDIRECT_URI: &str = "http://127.0.0.1:8080/oauth/callback";
/// The seed of the mailbox's content and of the simulator's ids and tokens.
const SEED: u64 = 1;
/// Minutes between two messages' arrivals.
const SPACING_MINUTES: i64 = 20;

#[derive(clap::Args)]
pub struct SimServerArgs {
    #[arg(long, value_enum)]
    provider: Provider,
    #[arg(long)]
    messages: usize,
    #[arg(long)]
    latency_ms: u64,
    #[arg(long, value_enum)]
    quota: Quota,
    /// The units a minute Gmail allows, when not the quota table's own.
    #[arg(long)]
    units_per_minute: Option<u32>,
}

/// What the simulator tells the benchmark once it listens.
#[derive(Debug, Serialize, Deserialize)]
pub struct SimInfo {
    pub base_url: String,
    pub owner: String,
    pub messages: u64,
    /// The raw messages' bytes in all.
    pub bytes: u64,
    /// Messages per place (`inbox`, `archive`, `sent`, `spam`, `trash`).
    pub places: BTreeMap<String, u64>,
    /// Outlook only: every folder a sync reads (the root's descendants, by display name, empty
    /// ones included, since each still takes a delta request) and its messages.
    #[serde(default)]
    pub folders: Vec<(String, u64)>,
}

pub fn owner(provider: Provider) -> &'static str {
    match provider {
        Provider::Gmail => OWNER,
        Provider::Outlook => OUTLOOK_OWNER,
    }
}

pub async fn run(args: SimServerArgs) -> anyhow::Result<()> {
    let config = SimConfig {
        auto_consent: true,
        gmail_user_units_per_minute: args.units_per_minute.unwrap_or(args.quota.units_per_minute()),
        gmail_costs_2026: args.quota == Quota::Y2026,
        faults: mailroom_sim::Faults { seed: SEED, latency_ms: args.latency_ms, ..Default::default() },
        ..SimConfig::default()
    };
    let state = SimState::new(config);
    let owner = owner(args.provider);
    let provider = match args.provider {
        Provider::Gmail => ProviderKind::Google,
        Provider::Outlook => ProviderKind::Microsoft,
    };
    state.add_user(SimUser { email: owner.to_owned(), name: "Mailbox Owner".to_owned(), provider });
    for (provider, client_id, client_secret) in [
        (ProviderKind::Google, GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET),
        (ProviderKind::Microsoft, MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET),
    ] {
        state.add_client(SimClient {
            provider,
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
        });
    }
    let (bytes, places) = fill(&state, args.provider, owner, args.messages)?;
    let folders = graph_folders(&state, owner);
    let running = RunningSim::start(SocketAddr::from(([127, 0, 0, 1], 0)), state)
        .await
        .context("the simulator cannot listen on a loopback port")?;
    let info = SimInfo {
        base_url: running.base_url(),
        owner: owner.to_owned(),
        messages: args.messages as u64,
        bytes,
        places,
        folders,
    };
    crate::report(&serde_json::to_string(&info)?);
    // Whatever stdin brings, its end (the parent closed it or died) is the signal to stop.
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    running.stop().await;
    Ok(())
}

/// The folders under the Outlook mailbox's root with their messages, in the mailbox's order.
fn graph_folders(state: &SimState, owner: &str) -> Vec<(String, u64)> {
    let mut world = state.world();
    let Some(mailbox) = world.graph(owner) else { return Vec::new() };
    let Some(root) = mailbox.folder_id("msgfolderroot") else { return Vec::new() };
    let mut under: Vec<String> = vec![root.clone()];
    let mut folders = Vec::new();
    while let Some(parent) = under.pop() {
        for folder in mailbox.folders.iter().filter(|f| f.parent_id == parent) {
            let count = mailbox.messages.iter().filter(|m| m.folder_id == folder.id).count() as u64;
            folders.push((folder.display_name.clone(), count));
            under.push(folder.id.clone());
        }
    }
    folders
}

/// Fills the owner's mailbox; returns the bytes and the messages per place.
fn fill(
    state: &SimState,
    provider: Provider,
    owner: &str,
    count: usize,
) -> anyhow::Result<(u64, BTreeMap<String, u64>)> {
    let now = state.clock().now_ms();
    let messages = mail::mailbox(SEED, count, owner);
    let mut bytes = 0u64;
    let mut places: BTreeMap<String, u64> = Place::ALL.iter().map(|p| (p.name().to_owned(), 0)).collect();
    let mut world = state.world();
    match provider {
        Provider::Gmail => {
            let mailbox = world.gmail(owner).context("the owner has no Gmail mailbox")?;
            let mut label_ids = Vec::new();
            for name in USER_LABELS {
                let label = mailroom_sim::gmail::Label {
                    id: String::new(),
                    name: name.to_owned(),
                    system: false,
                    message_list_visibility: "show".to_owned(),
                    label_list_visibility: "labelShow".to_owned(),
                    color: None,
                };
                let created = mailbox.create_label(label).map_err(|_| anyhow::anyhow!("label {name} is taken"))?;
                label_ids.push(created.id);
            }
            for (index, message) in (0i64..).zip(messages) {
                let mut labels: Vec<&str> = message.place.gmail_label().into_iter().collect();
                labels.extend(message.user_label.map(|i| label_ids[i].as_str()));
                if message.unread {
                    labels.push("UNREAD");
                }
                if message.starred {
                    labels.push("STARRED");
                }
                bytes += message.raw.len() as u64;
                *places.entry(message.place.name().to_owned()).or_default() += 1;
                let received = now - (count as i64 - index) * SPACING_MINUTES * 60_000;
                mailbox.deliver(message.raw, &labels, received);
            }
        }
        Provider::Outlook => {
            let mailbox = world.graph(owner).context("the owner has no Outlook mailbox")?;
            for (index, message) in (0i64..).zip(messages) {
                bytes += message.raw.len() as u64;
                *places.entry(message.place.name().to_owned()).or_default() += 1;
                let received = now - (count as i64 - index) * SPACING_MINUTES * 60_000;
                let id = mailbox.deliver(message.raw, message.place.graph_folder(), received);
                mailbox.set_read(&id, !message.unread);
                if message.starred {
                    mailbox.set_flagged(&id, true);
                }
            }
        }
    }
    Ok((bytes, places))
}
