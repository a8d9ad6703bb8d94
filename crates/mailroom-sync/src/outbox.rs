//! The outbox: sends every submission when it is due, once. A submission is claimed in the
//! store for one sender at a time (several server processes may run one each); the claim runs
//! out if this process dies, and whoever claims it next asks the provider first whether the
//! message already went (Gmail: `rfc822msgid:`; Graph: Sent Items by `internetMessageId`).
//! That question is asked on every try after the first, since a try that timed out or got a
//! 5xx may have reached the provider all the same; only a rate limit (the provider refused
//! before doing anything) is retried in place.

use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::Provider;
use mailroom_providers::ApiError;
use mailroom_store::{Account, ClaimedSubmission, SubmissionFile};
use tokio::sync::Notify;

use crate::engine::with_access_token;
use crate::joined::{Apart, Pieces, graph_attach_pieces, joined};
use crate::{Engine, SyncError, TokenError};

/// Quota units of Gmail's `messages.send`, and of the `messages.list` that looks for a message.
const GMAIL_SEND_UNITS: u32 = 100;
const GMAIL_LIST_UNITS: u32 = 5;
/// How long a claim lasts: longer than the slowest upload of the largest message.
const CLAIM_SECS: i64 = 300;
/// Tries before a submission that keeps failing for now is given up, and the longest wait
/// between two (Gmail's "Mail sending" limit can last hours; these add up to about six).
const MAX_ATTEMPTS: i64 = 15;
const LONGEST_WAIT_SECS: i64 = 3_600;
/// The longest sleep between two looks at the outbox: another process may add a submission
/// that this one was not woken for.
const IDLE_SECS: i64 = 5;

/// How one try ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider has it (sent now, or found there from an earlier try).
    Accepted { remote_id: Option<String> },
    /// Refused for good; the reason is shown to the user.
    Failed(String),
    /// Not now; try again not before the given Unix time.
    Later { reason: String, retry_at: i64 },
}

/// The process's sender.
pub struct Outbox {
    engine: Engine,
    owner: String,
    wake: Arc<Notify>,
    /// Wakes the sync scheduler after a send, so the sent message shows in Sent at once.
    sync_wake: Arc<Notify>,
}

impl Outbox {
    /// `owner` names this process in claims (the scheduler's lease owner will do).
    pub fn new(engine: Engine, owner: String, wake: Arc<Notify>, sync_wake: Arc<Notify>) -> Outbox {
        Outbox { engine, owner, wake, sync_wake }
    }

    /// Sends what is due until `shutdown` completes; a send under way then stops, and its claim
    /// runs out for the next process to find the message or send it.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let work = async {
                self.send_due().await;
                let now = mailroom_store::now();
                let next = match self.engine.store.next_submission_due().await {
                    Ok(next) => next.unwrap_or(now + IDLE_SECS),
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot read the outbox");
                        now + IDLE_SECS
                    }
                };
                let wait = (next - now).clamp(0, IDLE_SECS);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(wait.unsigned_abs()).max(Duration::from_millis(200))) => {}
                    () = self.wake.notified() => {}
                }
            };
            tokio::select! {
                () = work => {}
                () = &mut shutdown => break,
            }
        }
    }

    /// Sends every submission due now, then writes the drafts whose provider copy is behind
    /// (a sent message's draft is deleted there).
    pub async fn send_due(&self) {
        self.send_due_at(mailroom_store::now()).await;
        crate::push_drafts(&self.engine, &self.owner).await;
    }

    /// Sends every submission due at `now` (a Unix time; tests pass a later one rather than wait
    /// out an undo window).
    pub async fn send_due_at(&self, now: i64) {
        loop {
            let claim = match self.engine.store.claim_submission(&self.owner, now, CLAIM_SECS).await {
                Ok(Some(claim)) => claim,
                Ok(None) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot claim from the outbox");
                    return;
                }
            };
            if let Err(err) = self.send_claimed(&claim).await {
                tracing::warn!(submission = claim.id, error = %err, "cannot record a send");
            }
        }
    }

    async fn send_claimed(&self, claim: &ClaimedSubmission) -> Result<(), mailroom_store::StoreError> {
        let store = &self.engine.store;
        let Some(account) = store.account(claim.account).await? else {
            // The account was removed, and its submissions with it.
            return Ok(());
        };
        let outcome = send_as(&self.engine, &account, claim, &self.owner).await;
        let now = mailroom_store::now();
        match outcome {
            SendOutcome::Accepted { remote_id } => {
                tracing::info!(submission = claim.id, account.id = %account.id, "sent");
                store.submission_accepted(claim.id, &self.owner, remote_id.as_deref(), now).await?;
                self.sync_wake.notify_one();
            }
            SendOutcome::Failed(reason) => {
                tracing::warn!(submission = claim.id, account.id = %account.id, %reason, "the provider refused a message");
                store.submission_failed(claim.id, &self.owner, &reason, now).await?;
            }
            SendOutcome::Later { reason, retry_at } => {
                tracing::info!(submission = claim.id, account.id = %account.id, %reason, retry_at, "a send will be tried again");
                store.submission_later(claim.id, &self.owner, &reason, retry_at).await?;
            }
        }
        Ok(())
    }
}

/// One try at a claimed submission.
pub async fn send(engine: &Engine, account: &Account, claim: &ClaimedSubmission) -> SendOutcome {
    send_as(engine, account, claim, "").await
}

/// One try, by the outbox `owner` (which records a draft it stages at the provider).
async fn send_as(engine: &Engine, account: &Account, claim: &ClaimedSubmission, owner: &str) -> SendOutcome {
    let result = with_access_token(engine, account, |token| async move {
        if claim.attempts > 1
            && let Some(id) = find(engine, account, &claim.message_id, &token).await?
        {
            return Ok(Some(id));
        }
        // A message with large files keeps them apart from its built form.
        let files = engine.store.submission_files(claim.id).await?;
        match (account.provider, files.is_empty()) {
            (_, true) => {}
            (Provider::Microsoft, false) => {
                return deliver_in_parts(engine, account, claim, &files, owner, &token).await.map(|()| None);
            }
            (Provider::Google, false) => return deliver_joined(engine, account, claim, &files, &token).await,
        }
        deliver(engine, account, claim, &token).await.map_err(SyncError::from)
    })
    .await;
    let now = mailroom_store::now();
    let later = |reason: String, given: Option<Duration>| {
        if claim.attempts >= MAX_ATTEMPTS {
            return SendOutcome::Failed(format!("gave up after {} tries: {reason}", claim.attempts));
        }
        let backoff = 15i64.saturating_mul(1 << (claim.attempts.clamp(1, 20) - 1)).min(LONGEST_WAIT_SECS);
        let wait = given.map_or(backoff, |d| i64::try_from(d.as_secs()).unwrap_or(LONGEST_WAIT_SECS).max(1));
        SendOutcome::Later { reason, retry_at: now + wait }
    };
    match result {
        Ok(remote_id) => SendOutcome::Accepted { remote_id },
        Err(SyncError::Api(error @ (ApiError::Permanent { .. } | ApiError::Forbidden { .. } | ApiError::NotFound))) => {
            SendOutcome::Failed(error.to_string())
        }
        Err(SyncError::Api(ApiError::RateLimited { retry_after })) => {
            later("the provider is limiting how much this mailbox sends".to_owned(), retry_after)
        }
        Err(SyncError::Api(ApiError::Transient { reason, retry_after })) => later(reason, retry_after),
        Err(SyncError::Token(TokenError::Transient { reason, retry_after })) => later(reason, retry_after),
        Err(error) => later(error.to_string(), None),
    }
}

/// A message to Outlook too large for one request: the message without its files goes up as a
/// draft, then each file on its own (a small one in one request, a large one through an upload
/// session), then the draft is sent. The draft is recorded first, so that a try cut off midway
/// leaves nothing behind: the next deletes it.
async fn deliver_in_parts(
    engine: &Engine,
    account: &Account,
    claim: &ClaimedSubmission,
    files: &[SubmissionFile],
    owner: &str,
    token: &secrecy::SecretString,
) -> Result<(), SyncError> {
    let (providers, pacing, id) = (&engine.providers, &engine.pacing, account.id);
    if let Some(staged) = &claim.staged {
        match pacing.graph(id, || providers.graph_delete(token, staged)).await {
            Ok(()) | Err(ApiError::NotFound) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let draft = pacing.graph(id, || providers.graph_draft_create(token, &claim.raw)).await?;
    engine.store.submission_staged(claim.id, owner, &draft.id).await?;
    for file in files {
        let apart = Apart {
            name: file.name.clone(),
            content_type: file.content_type.clone(),
            size: file.size,
            pieces: Pieces::Submission { id: claim.id, position: file.position },
        };
        graph_attach_pieces(engine, id, token, &draft.id, &apart).await?;
    }
    // Only an answer that says nothing was done is retried in place (see `deliver`).
    let once = |result: Result<(), ApiError>| match result {
        Err(error @ ApiError::Transient { .. }) => Ok(Err(error)),
        other => other.map(Ok),
    };
    pacing.graph(id, || async { once(providers.graph_send_draft(token, &draft.id).await) }).await??;
    Ok(())
}

/// A message to Gmail whose files are kept apart: joined as it is uploaded, each file read a
/// piece at a time (see [`crate::joined`]), anew for each try.
async fn deliver_joined(
    engine: &Engine,
    account: &Account,
    claim: &ClaimedSubmission,
    files: &[SubmissionFile],
    token: &secrecy::SecretString,
) -> Result<Option<String>, SyncError> {
    let (providers, pacing) = (&engine.providers, &engine.pacing);
    let thread = claim.thread_remote_id.as_deref();
    let apart: Vec<Apart> = files
        .iter()
        .map(|f| Apart {
            name: f.name.clone(),
            content_type: f.content_type.clone(),
            size: f.size,
            pieces: Pieces::Submission { id: claim.id, position: f.position },
        })
        .collect();
    let sent = pacing
        .gmail(account.id, GMAIL_SEND_UNITS, || async {
            let upload = joined(engine.store.clone(), &claim.raw, apart.clone());
            // Only an answer that says nothing was done goes back to the pacer (see `deliver`).
            match providers.gmail_send_upload(token, upload, thread).await {
                Err(error @ ApiError::Transient { .. }) => Ok(Err(error)),
                other => other.map(|id| Ok(Some(id))),
            }
        })
        .await??;
    Ok(sent)
}

/// The provider's id of the account's message with this Message-ID, if it has one.
async fn find(
    engine: &Engine,
    account: &Account,
    message_id: &str,
    token: &secrecy::SecretString,
) -> Result<Option<String>, ApiError> {
    let (providers, pacing) = (&engine.providers, &engine.pacing);
    match account.provider {
        Provider::Google => {
            pacing.gmail(account.id, GMAIL_LIST_UNITS, || providers.gmail_find_by_message_id(token, message_id)).await
        }
        Provider::Microsoft => pacing.graph(account.id, || providers.graph_find_sent(token, message_id)).await,
    }
}

/// Hands the message to the provider. A rate limit is waited out and retried here; any other
/// failure for now is returned, as the provider may have taken the message all the same.
async fn deliver(
    engine: &Engine,
    account: &Account,
    claim: &ClaimedSubmission,
    token: &secrecy::SecretString,
) -> Result<Option<String>, ApiError> {
    let (providers, pacing, raw) = (&engine.providers, &engine.pacing, claim.raw.as_slice());
    let thread = claim.thread_remote_id.as_deref();
    // Only an answer that says nothing was done goes back to the pacer to retry.
    let once = |result: Result<Option<String>, ApiError>| match result {
        Err(error @ ApiError::Transient { .. }) => Ok(Err(error)),
        other => other.map(Ok),
    };
    match account.provider {
        Provider::Google => {
            pacing
                .gmail(account.id, GMAIL_SEND_UNITS, || async {
                    once(providers.gmail_send(token, raw, thread).await.map(Some))
                })
                .await?
        }
        Provider::Microsoft => {
            pacing
                .graph(account.id, || async { once(providers.graph_send_mime(token, raw).await.map(|()| None)) })
                .await?
        }
    }
}
