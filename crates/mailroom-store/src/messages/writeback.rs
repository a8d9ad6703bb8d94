//! Actions on messages and their write-back queue. An action changes the store at once, in the
//! same transaction that queues one job per changed message and asks for a sync run of its
//! account; the run replays the jobs at the provider in order before it pulls changes. A job the
//! provider refuses for good puts the message back as it was and stays, marked failed, for the
//! user to read why.

use mailroom_domain::{AccountId, ActionError, FolderKind, MailAction, MessageState, Provider, UserId, plan_action};

use std::collections::HashMap;

use super::{
    ADJUST_COUNTS, Contributions, EventKind, INSERT_EVENTS, MAX_PARAMS, TAKE_EVENT_SEQ, Tallies, contributions_sql,
    count_deltas, message_ids_sql, move_correspondents, placeholder, placeholder_list, placeholder_rows,
    rows_per_statement, tally_people,
};
use crate::db::{Backend, BeginWrite, with_pool};
use crate::{Result, Store};

/// Most messages one action takes at once.
pub const ACTION_LIMIT: usize = 1_000;
const _: () = assert!(ACTION_LIMIT < MAX_PARAMS);

/// Why an action was not taken. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionRefused {
    /// A message or the target folder is not the user's (or does not exist).
    #[error("no such message or folder")]
    NotFound,
    #[error("at most {ACTION_LIMIT} messages at once")]
    TooMany,
    #[error("the folder belongs to another account than the message")]
    TargetElsewhere,
    #[error(transparent)]
    Invalid(#[from] ActionError),
}

/// What an action did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acted {
    /// Messages whose state changed (the others already were as asked).
    pub changed: usize,
    /// Accounts with new write-back jobs: their sync should run now.
    pub accounts: Vec<AccountId>,
    /// The handle of the action's Undo, when it queued jobs that wait for the undo window.
    pub batch: Option<i64>,
}

/// Why an action could not be undone. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UndoRefused {
    /// No such action of the user's waits.
    #[error("no such action")]
    NotFound,
    /// Its window has passed (its jobs may be at the provider), or a later action on one of its
    /// messages came after it: undoing it now would undo that too.
    #[error("too late to undo")]
    TooLate,
}

/// Seconds before the end of an action's hold from which it can no longer be undone: the sync
/// that replays it must not read it while it is being undone.
pub const UNDO_MARGIN: i64 = 2;

/// A queued write-back job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritebackJob {
    pub id: i64,
    pub account: AccountId,
    pub remote_id: String,
    pub action: MailAction,
    /// The remote id of the folder or label the action names.
    pub target: Option<String>,
    /// The remote ids of the folders the message was in before the action (Gmail must untrash
    /// a message it moves out of the trash).
    pub was_in: Vec<String>,
    pub attempts: i64,
    /// Not to be replayed before this Unix time: the user may still undo it.
    pub hold_until: i64,
}

/// An action the provider refused for good, undone locally, shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedAction {
    pub id: i64,
    pub account: AccountId,
    pub subject: String,
    pub action: MailAction,
    pub error: String,
    pub failed_at: i64,
}

fn messages_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT m.id, m.account_id, a.provider, m.remote_id, m.subject, m.is_read, m.is_starred \
         FROM messages m JOIN accounts a ON a.id = m.account_id WHERE a.user_id = {} AND m.id IN ({})",
        placeholder(backend, 1),
        placeholder_list(backend, rows, 2)
    )
}

fn folders_sql(backend: Backend, rows: usize) -> String {
    format!(
        "SELECT mf.message_id, f.remote_id FROM message_folders mf JOIN folders f ON f.id = mf.folder_id \
         WHERE mf.message_id IN ({}) ORDER BY mf.message_id, f.remote_id",
        placeholder_list(backend, rows, 1)
    )
}

pub(super) const LOCK_USER_ACCOUNTS: &str = "UPDATE accounts SET event_seq = event_seq WHERE user_id = $1";
const TARGET: &str = "SELECT f.account_id, f.remote_id FROM folders f JOIN accounts a ON a.id = f.account_id \
     WHERE f.id = $1 AND a.user_id = $2";
const SPECIAL: &str = "SELECT kind, remote_id FROM folders WHERE account_id = $1 AND kind <> 'custom' ORDER BY id";
const SET_FLAGS: &str = "UPDATE messages SET is_read = $2, is_starred = $3, updated_at = $4 WHERE id = $1";
const CLEAR_FOLDERS: &str = "DELETE FROM message_folders WHERE message_id = $1";
const ADD_FOLDER: &str = "INSERT INTO message_folders (message_id, folder_id) \
     SELECT $1, id FROM folders WHERE account_id = $2 AND remote_id = $3 ON CONFLICT DO NOTHING";
const INSERT_JOB: &str = "INSERT INTO writeback_jobs (account_id, user_id, remote_id, subject, action, target, \
     was_read, was_starred, was_folders, created_at, hold_until, batch) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";
/// Asks for a sync run of the account `$1` (an incremental one, unless a full one is asked).
pub(crate) const REQUEST_RUN: &str = "UPDATE sync_schedule SET request_seq = request_seq + 1, \
     requested = CASE WHEN requested = 'full' THEN 'full' ELSE 'incremental' END WHERE account_id = $1";

/// Puts the message `$id` of `$account` back as a job found it: its flags and its folders.
macro_rules! put_back {
    ($tx:expr, $id:expr, $account:expr, $was_read:expr, $was_starred:expr, $was_folders:expr, $now:expr) => {{
        sqlx::query(SET_FLAGS).bind($id).bind($was_read).bind($was_starred).bind($now).execute(&mut *$tx).await?;
        sqlx::query(CLEAR_FOLDERS).bind($id).execute(&mut *$tx).await?;
        for folder in split_folders($was_folders) {
            sqlx::query(ADD_FOLDER).bind($id).bind($account).bind(folder).execute(&mut *$tx).await?;
        }
    }};
}

/// The message of `$account` at the provider id `$remote_id`, if it is still stored.
const MESSAGE_ID: &str = "SELECT id FROM messages WHERE account_id = $1 AND remote_id = $2";

/// Makes the account's next run due at `$2` at the latest.
const RUN_AT: &str =
    "UPDATE sync_schedule SET next_at = CASE WHEN next_at > $2 THEN $2 ELSE next_at END WHERE account_id = $1";

type MessageRow = (i64, i64, String, String, String, bool, bool);
/// A job as read: id, remote id, action, target, was_folders, attempts, hold_until.
type JobRow = (i64, String, String, Option<String>, String, i64, i64);

/// Folder remote ids, one per line, as `was_folders` keeps them.
fn join_folders(folders: &[String]) -> String {
    folders.join("\n")
}

fn split_folders(folders: &str) -> Vec<String> {
    folders.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

impl Store {
    /// Takes `action` on the user's messages `ids`, with `target` the id of a folder or label of
    /// theirs when the action names one. Every message must be the user's, and the target on
    /// the message's account; otherwise nothing changes.
    pub async fn act(
        &self,
        user: UserId,
        ids: &[i64],
        action: MailAction,
        target: Option<i64>,
        now: i64,
    ) -> Result<Result<Acted, ActionRefused>> {
        self.act_held(user, ids, action, target, now, 0).await
    }

    /// [`Store::act`], its jobs held until `hold_until` so that the user can undo it until then
    /// ([`Store::undo`]): the provider hears of it only after.
    pub async fn act_held(
        &self,
        user: UserId,
        ids: &[i64],
        action: MailAction,
        target: Option<i64>,
        now: i64,
        hold_until: i64,
    ) -> Result<Result<Acted, ActionRefused>> {
        if ids.len() > ACTION_LIMIT {
            return Ok(Err(ActionRefused::TooMany));
        }
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let backend = self.db.backend();
        with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            // A write first (see `apply_sync`): the user's accounts are locked for the change feed.
            sqlx::query(LOCK_USER_ACCOUNTS).bind(user.0).execute(&mut *tx).await?;
            let rows: Vec<MessageRow> = if ids.is_empty() {
                Vec::new()
            } else {
                let q = sqlx::query_as::<_, MessageRow>(sqlx::AssertSqlSafe(messages_sql(backend, ids.len()))).bind(user.0);
                ids.iter().fold(q, |q, id| q.bind(*id)).fetch_all(&mut *tx).await?
            };
            if rows.len() != ids.len() {
                return Ok(Err(ActionRefused::NotFound));
            }
            let target: Option<(i64, String)> = match target {
                Some(folder) => match sqlx::query_as(TARGET).bind(folder).bind(user.0).fetch_optional(&mut *tx).await? {
                    Some(found) => Some(found),
                    None => return Ok(Err(ActionRefused::NotFound)),
                },
                None => None,
            };
            if let Some((account, _)) = &target
                && rows.iter().any(|r| r.1 != *account)
            {
                return Ok(Err(ActionRefused::TargetElsewhere));
            }
            let mut folders: Vec<(i64, String)> = Vec::new();
            if !ids.is_empty() {
                let q = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(folders_sql(backend, ids.len())));
                folders = ids.iter().fold(q, |q, id| q.bind(*id)).fetch_all(&mut *tx).await?;
            }
            let mut special: Vec<(i64, Vec<(String, String)>)> = Vec::new();
            let mut planned = Vec::with_capacity(rows.len());
            for (id, account, provider, remote_id, subject, is_read, is_starred) in &rows {
                if !special.iter().any(|(a, _)| a == account) {
                    let kinds: Vec<(String, String)> = sqlx::query_as(SPECIAL).bind(*account).fetch_all(&mut *tx).await?;
                    special.push((*account, kinds));
                }
                let kinds = &special.iter().find(|(a, _)| a == account).expect("loaded above").1;
                let lookup = |kind: FolderKind| kinds.iter().find(|(k, _)| k == kind.as_str()).map(|(_, r)| r.clone());
                let before = MessageState {
                    is_read: *is_read,
                    is_starred: *is_starred,
                    folders: folders.iter().filter(|(m, _)| m == id).map(|(_, f)| f.clone()).collect(),
                };
                let provider = Provider::parse(provider).unwrap_or(Provider::Google);
                let after = match plan_action(provider, action, target.as_ref().map(|t| t.1.as_str()), &before, &lookup) {
                    Ok(after) => after,
                    Err(refused) => return Ok(Err(refused.into())),
                };
                planned.push((*id, *account, remote_id, subject, before, after));
            }
            let mut acted = Acted::default();
            let counted_before = contributions!(tx, backend, &ids);
            for (id, account, remote_id, subject, before, after) in &planned {
                // Deleting is always queued: the message leaves every view now, and its row goes
                // when the provider confirms.
                if before == after && action != MailAction::Delete {
                    continue;
                }
                sqlx::query(SET_FLAGS).bind(*id).bind(after.is_read).bind(after.is_starred).bind(now).execute(&mut *tx).await?;
                if before.folders != after.folders {
                    sqlx::query(CLEAR_FOLDERS).bind(*id).execute(&mut *tx).await?;
                    for folder in &after.folders {
                        sqlx::query(ADD_FOLDER).bind(*id).bind(*account).bind(folder).execute(&mut *tx).await?;
                    }
                }
                let job: i64 = sqlx::query_scalar(INSERT_JOB)
                    .bind(*account)
                    .bind(user.0)
                    .bind(remote_id.as_str())
                    .bind(subject.as_str())
                    .bind(action.as_str())
                    .bind(target.as_ref().map(|t| t.1.as_str()))
                    .bind(before.is_read)
                    .bind(before.is_starred)
                    .bind(join_folders(&before.folders))
                    .bind(now)
                    .bind(hold_until)
                    .bind(acted.batch)
                    .fetch_one(&mut *tx)
                    .await?;
                if acted.batch.is_none() {
                    // The first job names the batch.
                    sqlx::query("UPDATE writeback_jobs SET batch = id WHERE id = $1").bind(job).execute(&mut *tx).await?;
                    acted.batch = Some(job);
                }
                append_events!(tx, backend, AccountId(*account), &[(remote_id.as_str(), EventKind::Changed)], now);
                acted.changed += 1;
                if !acted.accounts.contains(&AccountId(*account)) {
                    acted.accounts.push(AccountId(*account));
                }
            }
            let counted_after = contributions!(tx, backend, &ids);
            adjust_counts!(tx, counted_before, counted_after);
            for account in &acted.accounts {
                // A held action is due when its hold ends: a run asked for now would only wait.
                if hold_until > now {
                    sqlx::query(RUN_AT).bind(account.0).bind(hold_until).execute(&mut *tx).await?;
                } else {
                    sqlx::query(REQUEST_RUN).bind(account.0).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(Ok(acted))
        })
    }

    /// The account's jobs still to replay at the provider, oldest first, held ones too (see
    /// [`WritebackJob::hold_until`]).
    pub async fn pending_writebacks(&self, account: AccountId, limit: i64) -> Result<Vec<WritebackJob>> {
        let sql = "SELECT id, remote_id, action, target, was_folders, attempts, hold_until FROM writeback_jobs \
                   WHERE account_id = $1 AND failed_at IS NULL ORDER BY id LIMIT $2";
        let rows: Vec<JobRow> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(account.0).bind(limit).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, remote_id, action, target, was, attempts, hold_until)| {
                Some(WritebackJob {
                    id,
                    account,
                    remote_id,
                    action: MailAction::parse(&action)?,
                    target,
                    was_in: split_folders(&was),
                    attempts,
                    hold_until,
                })
            })
            .collect())
    }

    /// Undoes the user's action `batch` while its jobs still wait: each message is put back as it
    /// was before and the jobs go, so the provider never hears of it. Refused once the window has
    /// passed or when a later action on one of its messages waits behind it.
    pub async fn undo(&self, user: UserId, batch: i64, now: i64) -> Result<Result<Acted, UndoRefused>> {
        let backend = self.db.backend();
        with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(LOCK_USER_ACCOUNTS).bind(user.0).execute(&mut *tx).await?;
            let jobs: Vec<(i64, i64, String, bool, bool, String, i64)> = sqlx::query_as(
                "SELECT id, account_id, remote_id, was_read, was_starred, was_folders, hold_until FROM writeback_jobs \
                 WHERE user_id = $1 AND batch = $2 AND failed_at IS NULL ORDER BY id",
            )
            .bind(user.0)
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
            if jobs.is_empty() {
                return Ok(Err(UndoRefused::NotFound));
            }
            if jobs.iter().any(|job| job.6 <= now + UNDO_MARGIN) {
                return Ok(Err(UndoRefused::TooLate));
            }
            // Each job's message, found once; a later action on one of them stands in the way.
            let mut found = Vec::with_capacity(jobs.len());
            for (job, account, remote_id, was_read, was_starred, was_folders, _) in &jobs {
                let later: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM writeback_jobs WHERE account_id = $1 AND remote_id = $2 AND id > $3 \
                     AND failed_at IS NULL AND (batch IS NULL OR batch <> $4)",
                )
                .bind(*account)
                .bind(remote_id)
                .bind(*job)
                .bind(batch)
                .fetch_one(&mut *tx)
                .await?;
                if later > 0 {
                    return Ok(Err(UndoRefused::TooLate));
                }
                let id: Option<i64> =
                    sqlx::query_scalar(MESSAGE_ID).bind(*account).bind(remote_id).fetch_optional(&mut *tx).await?;
                if let Some(id) = id {
                    found.push((id, *account, remote_id.as_str(), *was_read, *was_starred, was_folders.as_str()));
                }
            }
            let messages: Vec<i64> = found.iter().map(|m| m.0).collect();
            let counted_before = contributions!(tx, backend, &messages);
            let mut acted = Acted::default();
            for &(id, account, remote_id, was_read, was_starred, was_folders) in &found {
                put_back!(tx, id, account, was_read, was_starred, was_folders, now);
                append_events!(tx, backend, AccountId(account), &[(remote_id, EventKind::Changed)], now);
                acted.changed += 1;
                if !acted.accounts.contains(&AccountId(account)) {
                    acted.accounts.push(AccountId(account));
                }
            }
            let counted_after = contributions!(tx, backend, &messages);
            adjust_counts!(tx, counted_before, counted_after);
            sqlx::query("DELETE FROM writeback_jobs WHERE user_id = $1 AND batch = $2").bind(user.0).bind(batch).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Ok(acted))
        })
    }

    /// The provider has the job's change: the job goes, and a deleted message's row with it.
    pub async fn writeback_done(&self, job: &WritebackJob, now: i64) -> Result<()> {
        let backend = self.db.backend();
        with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM writeback_jobs WHERE id = $1").bind(job.id).execute(&mut *tx).await?;
            if job.action == MailAction::Delete {
                // A pull since the action may have filed it again: what it counts goes with it.
                let ids = message_ids!(tx, backend, job.account, &[job.remote_id.as_str()]);
                let counted = contributions!(tx, backend, &ids);
                adjust_counts!(tx, counted, Contributions::new());
                let people_before = tally_people!(tx, backend, &ids);
                let gone = sqlx::query("DELETE FROM messages WHERE account_id = $1 AND remote_id = $2")
                    .bind(job.account.0)
                    .bind(&job.remote_id)
                    .execute(&mut *tx)
                    .await?;
                move_correspondents!(tx, backend, people_before, Tallies::default());
                if gone.rows_affected() > 0 {
                    append_events!(tx, backend, job.account, &[(job.remote_id.as_str(), EventKind::Removed)], now);
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The provider could not take the job now: it stays, with the reason, for the next run.
    pub async fn writeback_later(&self, job: &WritebackJob, error: &str) -> Result<()> {
        let sql = "UPDATE writeback_jobs SET attempts = attempts + 1, last_error = $2 WHERE id = $1";
        with_pool!(self.db, pool => sqlx::query(sql).bind(job.id).bind(error).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The provider refused the job for good: the message is put back as it was before the
    /// action, and the job stays, failed, for the user to see why.
    pub async fn writeback_failed(&self, job: &WritebackJob, error: &str, now: i64) -> Result<()> {
        let backend = self.db.backend();
        with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE accounts SET event_seq = event_seq WHERE id = $1").bind(job.account.0).execute(&mut *tx).await?;
            let was: Option<(bool, bool, String)> =
                sqlx::query_as("SELECT was_read, was_starred, was_folders FROM writeback_jobs WHERE id = $1")
                    .bind(job.id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let message: Option<i64> =
                sqlx::query_scalar(MESSAGE_ID).bind(job.account.0).bind(&job.remote_id).fetch_optional(&mut *tx).await?;
            if let (Some((was_read, was_starred, was_folders)), Some(id)) = (was, message) {
                let counted_before = contributions!(tx, backend, &[id]);
                put_back!(tx, id, job.account.0, was_read, was_starred, &was_folders, now);
                let counted_after = contributions!(tx, backend, &[id]);
                adjust_counts!(tx, counted_before, counted_after);
                append_events!(tx, backend, job.account, &[(job.remote_id.as_str(), EventKind::Changed)], now);
            }
            sqlx::query("UPDATE writeback_jobs SET attempts = attempts + 1, last_error = $2, failed_at = $3 WHERE id = $1")
                .bind(job.id)
                .bind(error)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The user's actions the provider refused, newest first.
    pub async fn failed_actions(&self, user: UserId) -> Result<Vec<FailedAction>> {
        let sql = "SELECT id, account_id, subject, action, COALESCE(last_error, ''), failed_at FROM writeback_jobs \
                   WHERE user_id = $1 AND failed_at IS NOT NULL ORDER BY id DESC LIMIT 20";
        let rows: Vec<(i64, i64, String, String, String, i64)> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(user.0).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, account, subject, action, error, failed_at)| {
                Some(FailedAction {
                    id,
                    account: AccountId(account),
                    subject,
                    action: MailAction::parse(&action)?,
                    error,
                    failed_at,
                })
            })
            .collect())
    }

    /// The user has read about their failed actions.
    pub async fn dismiss_failed_actions(&self, user: UserId) -> Result<()> {
        let sql = "DELETE FROM writeback_jobs WHERE user_id = $1 AND failed_at IS NOT NULL";
        with_pool!(self.db, pool => sqlx::query(sql).bind(user.0).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// How many of the account's jobs wait for the provider.
    pub async fn pending_writeback_count(&self, account: AccountId) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM writeback_jobs WHERE account_id = $1 AND failed_at IS NULL";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(account.0).fetch_one(pool).await)?)
    }
}
