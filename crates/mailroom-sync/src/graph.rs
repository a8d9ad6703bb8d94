//! Outlook sync over Microsoft Graph: the folder tree, then one delta round per folder
//! (concepts/delta-query-messages.md: "Delta query is a per-folder operation"), the inbox first.
//!
//! A folder's pages must follow each other (each is asked by the previous one's next link), so
//! one folder alone keeps one of the mailbox's four request slots busy. Up to as many folders as
//! Graph allows requests in flight are therefore synced side by side, taken in import order so
//! the inbox starts first, and each folder asks for its next page while the current one is being
//! stored. The store still sees one page at a time: a page is planned and applied under the run's
//! write lock, so the outcome is that of some sequential order of the folders' pages, which the
//! per-folder model below already allows.
//!
//! Each folder's cursor is its `@odata.deltaLink`, stored under the folder's id in the same
//! transaction as the page that ended the round. Next links are not stored: a round cut short
//! (a killed process, an error) is asked again from the last delta link, and since every page is
//! applied by remote id, a page applied twice changes nothing. A round that starts from nothing
//! (first import, [`Mode::Full`], or an expired link) ends by taking out of the folder the local
//! messages of the import window it did not list.
//!
//! Graph ids are immutable (`Prefer: IdType="ImmutableId"`), and a message lives in exactly one
//! folder, so a move shows as `@removed` in one folder's delta and as an entry in another's. A
//! removal only takes the message out of that folder; once every folder has been synced, the
//! messages left in no folder are gone at the provider and are deleted. A move therefore keeps
//! the message (its raw bytes, notes and labels) whichever folder is synced first.
//!
//! The MIME (`$value`) is not part of the import: the delta pages carry every property the store
//! shows, and [`fetch_pending_mime`] fills in the raw bytes afterwards.

use std::collections::{HashMap, HashSet};

use futures_util::future::join_all;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use mailroom_domain::FolderKind;
use mailroom_mime::{Address, ParseOutcome, ParsedMessage, parse};
use mailroom_providers::{
    ApiError, GRAPH_WELL_KNOWN_FOLDERS, GraphAddress, GraphChange, GraphDeltaPage, GraphFolder, GraphMessageMeta,
};
use mailroom_store::{Account, Cursor, IncomingMessage, KnownMessage, MessageChange, RemoteFolder, RunKind};
use secrecy::SecretString;

use crate::engine::with_access_token;
use crate::{Engine, Mode, Progress, SyncError, SyncReport};

/// Messages asked per delta page (`Prefer: odata.maxpagesize`). Pages carry bodies, and Graph
/// warns that large pages with full payloads may time out (504), so a page stays at 100, well
/// within the 1 to 1,000 Graph allows for message pages. Public so that whoever computes what a
/// sync costs counts the same pages.
pub const PAGE: u32 = 100;
/// How many times a folder's round is started afresh after its links expired mid-round.
const FRESH_ATTEMPTS: u32 = 3;
/// MIME requests [`fetch_pending_mime`] keeps in flight: half of Graph's four per mailbox, the
/// other half left to sync and to a user who opens a message.
pub const MIME_IN_FLIGHT: usize = 2;
/// Characters of `bodyPreview` kept as the snippet, as the MIME parser keeps.
const SNIPPET: usize = 200;

/// Syncs one Outlook account: the folder tree, then each folder's changes since its delta link,
/// or a fresh round for a folder without one, with an expired one, or in [`Mode::Full`].
pub async fn sync_graph(
    engine: &Engine,
    account: &Account,
    mode: Mode,
    progress: &Progress,
) -> Result<SyncReport, SyncError> {
    with_access_token(engine, account, |token| async move { run(engine, account, mode, progress, &token).await }).await
}

/// Fetches the raw MIME of up to `limit` messages that do not have it yet, newest first, and
/// stores it with the parsed view read from it (flags and folders stay). Returns how many were
/// stored; a message deleted at the provider meanwhile (404) is skipped, for the next delta to
/// remove. [`MIME_IN_FLIGHT`] requests at a time, so that sync and a user waiting for a message
/// keep the other slots of the mailbox's four.
pub async fn fetch_pending_mime(engine: &Engine, account: &Account, limit: u32) -> Result<usize, SyncError> {
    let pending = engine.store.messages_without_raw(account.id, limit).await?;
    let mut token = engine.tokens.access_token(account).await?;
    let mut refreshed = false;
    let mut stored = 0;
    for chunk in pending.chunks(MIME_IN_FLIGHT) {
        let answers = loop {
            let answers = join_all(chunk.iter().map(|remote_id| mime(engine, account, &token, remote_id))).await;
            // The token expired under the requests: refresh once and ask again.
            if !refreshed && answers.iter().any(|a| matches!(a, Err(ApiError::Unauthorized))) {
                refreshed = true;
                token = engine.tokens.after_unauthorized(account).await?;
                continue;
            }
            break answers;
        };
        for (remote_id, answer) in chunk.iter().zip(answers) {
            if let Some(raw) = answer?
                && store_mime(engine, account, remote_id, &raw).await?
            {
                stored += 1;
            }
        }
    }
    Ok(stored)
}

/// Fetches and stores one message's raw MIME now, for a user who opened it. Returns false when
/// the message is gone at the provider or from the store.
pub async fn fetch_mime_now(engine: &Engine, account: &Account, remote_id: &str) -> Result<bool, SyncError> {
    let raw =
        with_access_token(engine, account, |token| async move { Ok(mime(engine, account, &token, remote_id).await?) })
            .await?;
    match raw {
        Some(raw) => store_mime(engine, account, remote_id, &raw).await,
        None => Ok(false),
    }
}

async fn mime(
    engine: &Engine,
    account: &Account,
    token: &SecretString,
    remote_id: &str,
) -> Result<Option<Vec<u8>>, ApiError> {
    let providers = &engine.providers;
    match engine.pacing.graph(account.id, || providers.graph_message_mime(token, remote_id)).await {
        Ok(raw) => Ok(Some(raw)),
        Err(ApiError::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

async fn store_mime(engine: &Engine, account: &Account, remote_id: &str, raw: &[u8]) -> Result<bool, SyncError> {
    let outcome = parse(raw);
    let failed = matches!(outcome, ParseOutcome::Unreadable(_));
    Ok(engine.store.store_raw(account.id, remote_id, raw, outcome.message(), failed, mailroom_store::now()).await?)
}

/// One mailbox's calls, each through the mailbox's pacing, and the run's store writes.
struct Calls<'a> {
    engine: &'a Engine,
    account: &'a Account,
    token: &'a SecretString,
    /// Held while a page is planned against the store and applied, so that pages of folders
    /// synced side by side reach the store one at a time.
    writes: tokio::sync::Mutex<()>,
}

impl Calls<'_> {
    /// The whole folder tree with the well-known folders marked, one paced call per request.
    /// The well-known folders are looked up while the tree is listed: neither needs the other.
    async fn folders(&self) -> Result<Vec<GraphFolder>, ApiError> {
        let (providers, token, pacing, id) = (&self.engine.providers, self.token, &self.engine.pacing, self.account.id);
        let mut lookups = Vec::with_capacity(GRAPH_WELL_KNOWN_FOLDERS.len());
        for name in GRAPH_WELL_KNOWN_FOLDERS {
            lookups.push(async move {
                let known = pacing.graph(id, || providers.graph_well_known_folder_id(token, name)).await?;
                Ok::<_, ApiError>(known.map(|known| (name, known)))
            });
        }
        let (mut folders, known) = tokio::try_join!(self.tree(), futures_util::future::try_join_all(lookups))?;
        for (name, known) in known.into_iter().flatten() {
            if let Some(folder) = folders.iter_mut().find(|f| f.id == known) {
                folder.well_known_name = Some(name.to_owned());
            }
        }
        Ok(folders)
    }

    /// Every folder under the root, each level's lists after its parent's.
    async fn tree(&self) -> Result<Vec<GraphFolder>, ApiError> {
        let (providers, token, pacing, id) = (&self.engine.providers, self.token, &self.engine.pacing, self.account.id);
        let mut folders: Vec<GraphFolder> = Vec::new();
        let mut pending: Vec<Option<String>> = vec![None];
        while let Some(parent) = pending.pop() {
            let mut link: Option<String> = None;
            loop {
                let page =
                    pacing.graph(id, || providers.graph_folder_page(token, parent.as_deref(), link.as_deref())).await?;
                for folder in page.folders {
                    if folders.iter().any(|f| f.id == folder.id) {
                        continue;
                    }
                    if folder.child_folder_count.is_none_or(|n| n > 0) {
                        pending.push(Some(folder.id.clone()));
                    }
                    folders.push(folder);
                }
                match page.next_link {
                    Some(next) => link = Some(next),
                    None => break,
                }
            }
        }
        Ok(folders)
    }

    async fn delta(&self, folder: &str, link: Option<&str>, since: Option<i64>) -> Result<GraphDeltaPage, ApiError> {
        let (providers, token) = (&self.engine.providers, self.token);
        self.engine.pacing.graph(self.account.id, || providers.graph_delta(token, folder, link, since, PAGE)).await
    }

    /// The whole message, or `None` when it is gone.
    /// `meta` when it carries every property the store needs, else the whole message asked for;
    /// `None` when it was deleted meanwhile.
    async fn whole(&self, meta: Box<GraphMessageMeta>) -> Result<Option<Box<GraphMessageMeta>>, ApiError> {
        if meta.is_complete() {
            return Ok(Some(meta));
        }
        Ok(self.message(&meta.id).await?.map(Box::new))
    }

    async fn message(&self, id: &str) -> Result<Option<GraphMessageMeta>, ApiError> {
        let (providers, token) = (&self.engine.providers, self.token);
        match self.engine.pacing.graph(self.account.id, || providers.graph_message(token, id)).await {
            Ok(message) => Ok(Some(message)),
            Err(ApiError::NotFound) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// The inbox first, so its newest page is readable within seconds, then the other well-known
/// folders, then the rest in the provider's order.
fn import_order(mut folders: Vec<GraphFolder>) -> Vec<GraphFolder> {
    folders.sort_by_key(|f| {
        f.well_known_name
            .as_deref()
            .and_then(|name| GRAPH_WELL_KNOWN_FOLDERS.iter().position(|known| *known == name))
            .unwrap_or(GRAPH_WELL_KNOWN_FOLDERS.len())
    });
    folders
}

/// Unix seconds of the import window's start: midnight UTC `import_days` ago, or none for all mail.
fn import_start(account: &Account) -> Option<i64> {
    match account.import_days {
        0 => None,
        days => {
            let day = chrono::Utc::now().date_naive() - chrono::Duration::days(i64::from(days));
            day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp())
        }
    }
}

async fn run(
    engine: &Engine,
    account: &Account,
    mode: Mode,
    progress: &Progress,
    token: &SecretString,
) -> Result<SyncReport, SyncError> {
    let calls = Calls { engine, account, token, writes: tokio::sync::Mutex::new(()) };
    // What the run is, as far as it is known before the folders are listed: a mailbox with no
    // delta link at all has its first import ahead.
    if mode == Mode::Full {
        progress.kind(RunKind::FullResync);
    } else if !engine.store.has_sync_cursor(account.id).await? {
        progress.kind(RunKind::FirstImport);
    }
    progress.phase("listing");
    let folders = import_order(calls.folders().await?);
    let ids: HashSet<&str> = folders.iter().map(|f| f.id.as_str()).collect();
    let remote: Vec<RemoteFolder> = folders
        .iter()
        .map(|f| RemoteFolder {
            remote_id: f.id.clone(),
            name: f.display_name.clone(),
            kind: FolderKind::of_graph_folder(f.well_known_name.as_deref()),
            // The root the top-level folders hang from is not itself listed.
            parent_remote_id: f.parent_id.clone().filter(|p| ids.contains(p.as_str())),
        })
        .collect();
    engine.store.apply_sync(account.id, &remote, &[], None, mailroom_store::now()).await?;
    for local in engine.store.folder_remote_ids(account.id).await? {
        if !ids.contains(local.as_str()) {
            engine.store.remove_folder(account.id, &local).await?;
        }
    }

    let since = import_start(account);
    // A first import when no folder has been synced yet; a folder new at the provider later on is
    // part of the changes.
    let mut any_cursor = false;
    for folder in &folders {
        if engine.store.sync_cursor(account.id, &folder.id).await?.is_some() {
            any_cursor = true;
            break;
        }
    }
    let kind = match mode {
        Mode::Full => RunKind::FullResync,
        Mode::Incremental if !any_cursor => RunKind::FirstImport,
        Mode::Incremental => RunKind::Changes,
    };
    progress.kind(kind);
    let mut report = SyncReport { kind, ..SyncReport::default() };
    progress.phase(if kind == RunKind::Changes { "changes" } else { "importing" });
    // In import order, so the inbox's round starts first; the first error ends the run, and
    // the rounds still going are dropped, which leaves only whole pages stored.
    let side_by_side = engine.pacing.limits().graph_in_flight.max(1);
    let mut waiting = folders.iter();
    let mut rounds = FuturesUnordered::new();
    for folder in waiting.by_ref().take(side_by_side) {
        rounds.push(folder_rounds(&calls, folder, mode, since, progress));
    }
    while let Some(folder) = rounds.next().await {
        let folder = folder?;
        report.imported += folder.imported;
        report.deleted += folder.deleted;
        report.full |= folder.full;
        report.applied += folder.applied;
        if folder.kind == RunKind::Reimport && report.kind == RunKind::Changes {
            report.kind = RunKind::Reimport;
            progress.kind(RunKind::Reimport);
        }
        if let Some(next) = waiting.next() {
            rounds.push(folder_rounds(&calls, next, mode, since, progress));
        }
    }
    drop(rounds);

    progress.phase("finishing");
    // Every folder's changes are in: a message in no folder left the last one it was in.
    let gone = engine.store.remove_unfiled(account.id).await?;
    report.deleted += gone.len();
    report.applied.unfiled(gone.len());
    progress.unfiled(gone.len());
    progress.deleted(gone.len());
    Ok(report)
}

/// One folder's changes: a round from its stored delta link, or a fresh one when it has none,
/// when the link expired, or in [`Mode::Full`].
async fn folder_rounds(
    calls: &Calls<'_>,
    folder: &GraphFolder,
    mode: Mode,
    since: Option<i64>,
    progress: &Progress,
) -> Result<SyncReport, SyncError> {
    let (engine, account) = (calls.engine, calls.account);
    let mut report = SyncReport::default();
    let cursor = match mode {
        Mode::Incremental => engine.store.sync_cursor(account.id, &folder.id).await?,
        Mode::Full => None,
    };
    if let Some(link) = cursor {
        match round(calls, folder, Some(link), since, progress, &mut report).await {
            Err(SyncError::Api(ApiError::CursorExpired)) => {
                tracing::info!(account.id = %account.id, "a Graph delta link expired; the folder is synced afresh");
                // Marks the folder's report for the run's kind: its changes no longer reached back.
                report.kind = RunKind::Reimport;
            }
            other => return other.map(|()| report),
        }
    }
    report.full = true;
    progress.phase("importing");
    progress.expect(folder.total_item_count.unwrap_or(0));
    let mut attempt = 1;
    loop {
        match round(calls, folder, None, since, progress, &mut report).await {
            // The round's own next link expired under it: start it once more.
            Err(SyncError::Api(ApiError::CursorExpired)) if attempt < FRESH_ATTEMPTS => attempt += 1,
            other => return other.map(|()| report),
        }
    }
}

/// What one delta entry does to the store, owning what the change borrows.
enum Plan {
    Leave(String),
    Flags {
        id: String,
        is_read: Option<bool>,
        flagged: Option<bool>,
    },
    /// The message stored whole from the entry: a new one, or a known draft whose content
    /// changed at the provider, updated in place (its id, and what hangs on it, kept; its
    /// version recorded, which drops raw bytes of the older content).
    Store {
        meta: Box<GraphMessageMeta>,
        parsed: Box<ParsedMessage>,
    },
}

/// One delta round of a folder: from `link` (a stored delta link), or fresh without one. Each
/// page is applied in one transaction, the last with the new delta link; the next page is asked
/// for while the current one is stored, and pages are applied in the order they came.
async fn round(
    calls: &Calls<'_>,
    folder: &GraphFolder,
    link: Option<String>,
    since: Option<i64>,
    progress: &Progress,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let fresh = link.is_none();
    // A fresh round lists everything in the folder, so what the folder held locally when the
    // round began and the round did not list has left it. Read now rather than at the end, the
    // end being on the critical path of an import; nothing but this round files messages here
    // meanwhile.
    let earlier: HashSet<String> = match fresh {
        true => calls
            .engine
            .store
            .folder_remote_ids_since(calls.account.id, &folder.id, since.unwrap_or(i64::MIN))
            .await?
            .into_iter()
            .collect(),
        false => HashSet::new(),
    };
    let mut listed: HashSet<String> = HashSet::new();
    let mut page = calls.delta(&folder.id, link.as_deref(), if fresh { since } else { None }).await?;
    loop {
        let next = match (&page.next_link, &page.delta_link) {
            (_, Some(_)) => None,
            (Some(next), None) => Some(next.clone()),
            (None, None) => {
                return Err(SyncError::Api(ApiError::Permanent {
                    status: 200,
                    message: "a delta page carried neither a next nor a delta link".to_owned(),
                }));
            }
        };
        let fetch_next = async {
            match &next {
                Some(next) => Some(calls.delta(&folder.id, Some(next), None).await),
                None => None,
            }
        };
        let store = apply_page(calls, folder, page, fresh, &earlier, &mut listed, progress, report);
        let (stored, fetched) = tokio::join!(store, fetch_next);
        stored?;
        match fetched {
            Some(fetched) => page = fetched?,
            None => return Ok(()),
        }
    }
}

/// Plans one delta page against the store and applies it in one transaction, with the delta
/// link when the page carries one. `listed` gathers the messages a fresh round has listed, and
/// `earlier` holds what the folder had before it.
#[expect(clippy::too_many_arguments, reason = "one page of a round, with the round's state")]
async fn apply_page(
    calls: &Calls<'_>,
    folder: &GraphFolder,
    page: GraphDeltaPage,
    fresh: bool,
    earlier: &HashSet<String>,
    listed: &mut HashSet<String>,
    progress: &Progress,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let (engine, account) = (calls.engine, calls.account);
    let here = vec![folder.id.clone()];
    let _writing = calls.writes.lock().await;
    let ids: Vec<&str> = page
        .changes
        .iter()
        .filter_map(|c| match c {
            GraphChange::Upsert(meta) => Some(meta.id.as_str()),
            GraphChange::Removed { .. } => None,
        })
        .collect();
    let mut known: HashMap<String, KnownMessage> = engine.store.known_messages(account.id, &ids).await?;
    let mut plans = Vec::with_capacity(page.changes.len());
    for change in page.changes {
        let meta = match change {
            GraphChange::Removed { id } => {
                listed.remove(&id);
                plans.push(Plan::Leave(id));
                continue;
            }
            GraphChange::Upsert(meta) => meta,
        };
        listed.insert(meta.id.clone());
        match known.get(&meta.id) {
            // Only a draft's content changes, and only when its version did: a draft listed again
            // as it was (a Full resync, an expired cursor, a flag change elsewhere in the folder)
            // is left as stored, raw bytes included. Anything else known changes in flags and
            // place only.
            Some(k) if k.is_draft && meta.version().is_some() && meta.version() != k.remote_version.as_deref() => {
                // A sparse entry says the draft changed, not to what: ask for all of it.
                let Some(meta) = calls.whole(meta).await? else { continue };
                plans.push(Plan::Store { parsed: Box::new(parsed_view(&meta)), meta });
            }
            Some(_) => plans.push(Plan::Flags { id: meta.id, is_read: meta.is_read, flagged: meta.flagged }),
            None => {
                // An entry with only some properties of a message we never saw: ask for all.
                let Some(meta) = calls.whole(meta).await? else { continue };
                let known_now = KnownMessage {
                    is_draft: meta.is_draft.unwrap_or(false),
                    remote_version: meta.version().map(str::to_owned),
                };
                known.insert(meta.id.clone(), known_now);
                plans.push(Plan::Store { parsed: Box::new(parsed_view(&meta)), meta });
            }
        }
    }
    // A fresh round lists everything in the folder: what it did not list left it.
    let unlisted: Vec<&String> = match (&page.delta_link, fresh) {
        (Some(_), true) => earlier.iter().filter(|id| !listed.contains(*id)).collect(),
        _ => Vec::new(),
    };
    let mut changes: Vec<MessageChange<'_>> = Vec::with_capacity(plans.len() * 2 + unlisted.len());
    let mut stored = 0;
    for plan in &plans {
        match plan {
            Plan::Leave(id) => changes.push(MessageChange::LeaveFolder { remote_id: id, folder: &folder.id }),
            Plan::Flags { id, is_read, flagged } => {
                changes.push(MessageChange::Flags { remote_id: id, is_read: *is_read, is_starred: *flagged });
                changes.push(MessageChange::Folders { remote_id: id, folders: &here });
                stored += 1;
            }
            Plan::Store { meta, parsed } => {
                changes.push(MessageChange::Upsert(incoming(meta, parsed, &here)));
                stored += 1;
            }
        }
    }
    // After the upserts, so that a page's new messages are written in one batch.
    changes.extend(plans.iter().filter_map(|plan| match plan {
        Plan::Store { meta, .. } => {
            meta.version().map(|version| MessageChange::Version { remote_id: &meta.id, version })
        }
        _ => None,
    }));
    changes.extend(unlisted.iter().map(|id| MessageChange::LeaveFolder { remote_id: id, folder: &folder.id }));
    let cursor = page.delta_link.as_deref().map(|value| Cursor { scope: &folder.id, value });
    let applied = engine.store.apply_sync(account.id, &[], &changes, cursor, mailroom_store::now()).await?;
    report.applied += applied;
    progress.applied(applied);
    report.imported += stored;
    progress.imported(stored);
    Ok(())
}

fn incoming<'a>(meta: &'a GraphMessageMeta, parsed: &'a ParsedMessage, folders: &'a [String]) -> IncomingMessage<'a> {
    IncomingMessage {
        remote_id: &meta.id,
        thread_remote_id: meta.conversation_id.as_deref(),
        received_at: meta.received_at.or(meta.sent_at).unwrap_or(0),
        is_read: meta.is_read.unwrap_or(false),
        is_starred: meta.flagged.unwrap_or(false),
        is_draft: meta.is_draft.unwrap_or(false),
        folders,
        // The MIME follows later (`fetch_pending_mime`), and with it the attachments.
        raw: None,
        parsed,
        parse_failed: false,
        has_attachments: meta.has_attachments,
    }
}

fn address(a: &GraphAddress) -> Address {
    Address { name: a.name.clone(), address: a.address.trim().to_lowercase() }
}

fn addresses(list: Option<&Vec<GraphAddress>>) -> Vec<Address> {
    list.into_iter().flatten().map(address).collect()
}

/// The parsed view of a message from Graph's JSON, until its MIME arrives and replaces it.
/// Attachments are unknown until then, and the size is an estimate: Graph v1.0 has no size.
fn parsed_view(meta: &GraphMessageMeta) -> ParsedMessage {
    let snippet: String = meta
        .body_preview
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(SNIPPET)
        .collect();
    let body = meta.body.as_ref();
    let to = addresses(meta.to.as_ref());
    let cc = addresses(meta.cc.as_ref());
    let bcc = addresses(meta.bcc.as_ref());
    let reply_to = addresses(meta.reply_to.as_ref());
    let subject = meta.subject.clone().unwrap_or_default();
    // Headers take roughly a kilobyte, each address a line of its own.
    let recipients = to.len() + cc.len() + bcc.len() + reply_to.len();
    let size = body.map_or(0, |b| b.content.len()) + subject.len() + 64 * recipients + 1024;
    ParsedMessage {
        subject,
        from: meta.from.as_ref().map(address),
        sender: meta.sender.as_ref().map(address),
        to,
        cc,
        bcc,
        reply_to,
        date: meta.sent_at.and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
        message_id: meta
            .internet_message_id
            .as_deref()
            .map(|id| id.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
            .filter(|id| !id.is_empty()),
        snippet,
        // The body Graph gave, for the search index until the MIME replaces it.
        text: mailroom_mime::indexed_text(match body {
            Some(b) if b.content_type == "html" => mailroom_mime::html_to_text(&b.content),
            Some(b) => b.content.clone(),
            None => String::new(),
        }),
        has_text: body.is_some_and(|b| b.content_type == "text"),
        has_html: body.is_some_and(|b| b.content_type == "html"),
        size: size as u64,
        ..ParsedMessage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(id: &str, well_known: Option<&str>) -> GraphFolder {
        GraphFolder {
            id: id.to_owned(),
            display_name: id.to_owned(),
            parent_id: None,
            well_known_name: well_known.map(str::to_owned),
            child_folder_count: Some(0),
            total_item_count: None,
        }
    }

    #[test]
    fn the_inbox_comes_first_then_the_well_known_folders_then_the_rest() {
        let order = import_order(vec![
            folder("projects", None),
            folder("trash", Some("deleteditems")),
            folder("inbox", Some("inbox")),
            folder("sent", Some("sentitems")),
        ]);
        let ids: Vec<&str> = order.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["inbox", "sent", "trash", "projects"]);
    }

    #[test]
    fn the_view_from_json_has_addresses_lowercased_and_the_message_id_bare() {
        let meta = GraphMessageMeta {
            id: "m".into(),
            subject: Some("Hello".into()),
            internet_message_id: Some("<a@b.example>".into()),
            from: Some(GraphAddress { name: Some("Ann".into()), address: "Ann@Example.org".into() }),
            body_preview: Some("  Hi\n\n there ".into()),
            body: Some(mailroom_providers::GraphBody { content_type: "html".into(), content: "<p>Hi</p>".into() }),
            sent_at: Some(1_727_740_800),
            ..GraphMessageMeta::default()
        };
        let view = parsed_view(&meta);
        assert_eq!(view.from.as_ref().map(|a| a.address.as_str()), Some("ann@example.org"));
        assert_eq!(view.message_id.as_deref(), Some("a@b.example"));
        assert_eq!(view.snippet, "Hi there");
        assert!(view.has_html && !view.has_text);
        assert_eq!(view.date.map(|d| d.timestamp()), Some(1_727_740_800));
    }
}
