//! Write-back: replays the user's queued actions at the provider, oldest first, at the start of
//! every sync run of the account (so the pull that follows sees the provider with them). A job the
//! provider takes, or whose message is gone there, is done; one it refuses for good is undone
//! locally and kept for the user to read why; one that fails for now stops the replay, and the
//! run fails and is retried with the scheduler's backoff.

use mailroom_domain::{MailAction, Provider};
use mailroom_providers::ApiError;
use mailroom_store::{Account, WritebackJob};
use secrecy::SecretString;

use crate::engine::with_access_token;
use crate::{Engine, Progress, SyncError};

/// Quota units of Gmail's `messages.modify`, `trash` and `untrash`, and of `messages.delete`
/// (the Gmail API's usage limits table).
const GMAIL_MODIFY_UNITS: u32 = 5;
const GMAIL_DELETE_UNITS: u32 = 10;
/// Jobs read from the store at a time.
const STEP: i64 = 100;

/// The longest a run waits for an action's undo window to pass; a hold further away than that
/// (the clock was set back since) is not waited for.
const LONGEST_HOLD_WAIT: i64 = 30;

/// Replays the account's pending jobs; returns how many the provider took. A job the user may
/// still undo is waited for (the window is seconds long), and so is every later job on its
/// message: the pull that follows must see the provider with all of them.
pub async fn push_writebacks(engine: &Engine, account: &Account, progress: &Progress) -> Result<usize, SyncError> {
    let mut done = 0;
    loop {
        let jobs = engine.store.pending_writebacks(account.id, STEP).await?;
        if jobs.is_empty() {
            return Ok(done);
        }
        progress.phase("writing back");
        let now = mailroom_store::now();
        let mut held: Vec<&str> = Vec::new();
        let mut wake_at: Option<i64> = None;
        for job in &jobs {
            let in_window = job.hold_until > now && job.hold_until <= now + LONGEST_HOLD_WAIT;
            if in_window || held.contains(&job.remote_id.as_str()) {
                held.push(&job.remote_id);
                if in_window {
                    wake_at = Some(wake_at.map_or(job.hold_until, |at| at.min(job.hold_until)));
                }
                continue;
            }
            let result =
                with_access_token(
                    engine,
                    account,
                    |token| async move { Ok(replay(engine, account, job, &token).await?) },
                )
                .await;
            let now = mailroom_store::now();
            match result {
                // A message gone at the provider has nothing left to change; the pull removes it.
                Ok(()) | Err(SyncError::Api(ApiError::NotFound)) => {
                    engine.store.writeback_done(job, now).await?;
                    done += 1;
                }
                Err(SyncError::Api(error @ (ApiError::Permanent { .. } | ApiError::Forbidden { .. }))) => {
                    tracing::warn!(account.id = %account.id, action = job.action.as_str(), %error, "the provider refused an action; it is undone");
                    engine.store.writeback_failed(job, &error.to_string(), now).await?;
                }
                Err(error) => {
                    engine.store.writeback_later(job, &error.to_string()).await?;
                    return Err(error);
                }
            }
        }
        if let Some(at) = wake_at {
            let wait = (at - mailroom_store::now()).clamp(0, LONGEST_HOLD_WAIT);
            // Whole seconds: the hold is in Unix seconds, and a job is due once its second passed.
            tokio::time::sleep(std::time::Duration::from_secs(u64::try_from(wait).unwrap_or(0) + 1)).await;
        }
    }
}

/// One job's calls.
async fn replay(engine: &Engine, account: &Account, job: &WritebackJob, token: &SecretString) -> Result<(), ApiError> {
    let (providers, pacing, id) = (&engine.providers, &engine.pacing, job.remote_id.as_str());
    let target = job.target.as_deref().unwrap_or_default();
    match account.provider {
        Provider::Google => {
            let modify = |add: &'static [&'static str], remove: &'static [&'static str]| {
                pacing.gmail(account.id, GMAIL_MODIFY_UNITS, move || providers.gmail_modify(token, id, add, remove))
            };
            match job.action {
                MailAction::MarkRead => modify(&[], &["UNREAD"]).await,
                MailAction::MarkUnread => modify(&["UNREAD"], &[]).await,
                MailAction::Star => modify(&["STARRED"], &[]).await,
                MailAction::Unstar => modify(&[], &["STARRED"]).await,
                MailAction::Archive => modify(&[], &["INBOX"]).await,
                MailAction::Spam => modify(&["SPAM"], &["INBOX"]).await,
                MailAction::NotSpam => modify(&["INBOX"], &["SPAM"]).await,
                MailAction::Trash | MailAction::Restore => {
                    let to_trash = job.action == MailAction::Trash;
                    pacing.gmail(account.id, GMAIL_MODIFY_UNITS, || providers.gmail_trash(token, id, to_trash)).await
                }
                MailAction::Delete => {
                    pacing.gmail(account.id, GMAIL_DELETE_UNITS, || providers.gmail_delete(token, id)).await
                }
                MailAction::Move => {
                    // Out of the inbox, trash and spam, as `plan_action` did locally; a message
                    // in the trash is untrashed first, which Gmail requires of a TRASH label.
                    if job.was_in.iter().any(|f| f == "TRASH") {
                        pacing
                            .gmail(account.id, GMAIL_MODIFY_UNITS, || providers.gmail_trash(token, id, false))
                            .await?;
                    }
                    let (add, remove) = ([target], ["INBOX", "SPAM"]);
                    pacing
                        .gmail(account.id, GMAIL_MODIFY_UNITS, || providers.gmail_modify(token, id, &add, &remove))
                        .await
                }
                MailAction::AddLabel | MailAction::RemoveLabel => {
                    let (add, remove): (&[&str], &[&str]) =
                        if job.action == MailAction::AddLabel { (&[target], &[]) } else { (&[], &[target]) };
                    pacing
                        .gmail(account.id, GMAIL_MODIFY_UNITS, || providers.gmail_modify(token, id, add, remove))
                        .await
                }
            }
        }
        Provider::Microsoft => {
            let update = |read: Option<bool>, flagged: Option<bool>| {
                pacing.graph(account.id, move || providers.graph_update(token, id, read, flagged))
            };
            let move_to = |destination: String| async move {
                pacing.graph(account.id, || providers.graph_move(token, id, &destination)).await
            };
            match job.action {
                MailAction::MarkRead => update(Some(true), None).await,
                MailAction::MarkUnread => update(Some(false), None).await,
                MailAction::Star => update(None, Some(true)).await,
                MailAction::Unstar => update(None, Some(false)).await,
                MailAction::Archive => move_to("archive".to_owned()).await,
                MailAction::Trash => move_to("deleteditems".to_owned()).await,
                MailAction::Spam => move_to("junkemail".to_owned()).await,
                MailAction::Restore | MailAction::NotSpam => move_to("inbox".to_owned()).await,
                MailAction::Move => move_to(target.to_owned()).await,
                // Graph's DELETE removes the message from wherever it is (message-delete.md);
                // the trash is the move to `deleteditems` above.
                MailAction::Delete => pacing.graph(account.id, || providers.graph_delete(token, id)).await,
                MailAction::AddLabel | MailAction::RemoveLabel => Err(ApiError::Permanent {
                    status: 400,
                    message: "Outlook mailboxes have folders, not labels".to_owned(),
                }),
            }
        }
    }
}
