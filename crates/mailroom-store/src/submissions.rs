//! Outgoing mail: submissions and their lifecycle. A submission is stored `pending` with the
//! time it may go (`send_at`: the end of the undo window, or a scheduled time); a sender claims
//! it (`sending`) for a while, hands it to the provider, then records it `accepted` or `failed`,
//! or puts it back `pending` for a later try. The user can take it back (`cancelled`) while it is
//! pending. A claim that ran out belonged to a process that died mid-send: the next claimant
//! sees `attempts > 1` and first asks the provider whether the message already went.

use mailroom_domain::{AccountId, UserId};

use crate::db::{BeginWrite, with_pool};
use crate::drafts::DISCARD_SENT_DRAFT;
use crate::messages::REQUEST_RUN;
use crate::pieces::{FileContent, pieces};
use crate::{Result, Store};

/// Where a submission is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionStatus {
    Pending,
    Sending,
    Accepted,
    Failed,
    Cancelled,
}

impl SubmissionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionStatus::Pending => "pending",
            SubmissionStatus::Sending => "sending",
            SubmissionStatus::Accepted => "accepted",
            SubmissionStatus::Failed => "failed",
            SubmissionStatus::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> SubmissionStatus {
        match s {
            "sending" => SubmissionStatus::Sending,
            "accepted" => SubmissionStatus::Accepted,
            "failed" => SubmissionStatus::Failed,
            "cancelled" => SubmissionStatus::Cancelled,
            _ => SubmissionStatus::Pending,
        }
    }
}

/// A message to submit, built and checked by the caller.
#[derive(Debug, Clone)]
pub struct NewSubmission<'a> {
    pub user: UserId,
    pub account: AccountId,
    pub idempotency_key: &'a str,
    pub message_id: &'a str,
    pub raw: &'a [u8],
    pub thread_remote_id: Option<&'a str>,
    pub subject: &'a str,
    pub recipients: &'a [String],
    pub send_at: i64,
    /// The user's draft it was written in: deleted once the provider accepts the message.
    pub draft: Option<i64>,
    /// The batch of a message sent separately to each recipient.
    pub batch: Option<&'a str>,
    /// Files kept apart from `raw` (see [`SubmissionFile`]).
    pub files: &'a [NewFile<'a>],
}

/// A file of a new submission kept apart from its built message.
#[derive(Debug, Clone, Copy)]
pub struct NewFile<'a> {
    pub name: &'a str,
    pub content_type: &'a str,
    pub content: FileContent<'a>,
}

/// A file a submission keeps apart from its built message (`raw`), in pieces: the files of a
/// message whose files are large. The sender joins them to the message for Gmail, and uploads
/// each to an Outlook draft on its own.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubmissionFile {
    pub position: i64,
    pub name: String,
    pub content_type: String,
    pub size: i64,
}

/// A submission as its owner sees it in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub id: i64,
    pub account: AccountId,
    pub idempotency_key: String,
    pub message_id: String,
    pub status: SubmissionStatus,
    pub subject: String,
    pub recipients: Vec<String>,
    pub send_at: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub remote_id: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// The batch of a message sent separately to each recipient.
    pub batch: Option<String>,
}

/// A message sent separately to many, counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSummary {
    pub batch: String,
    pub subject: String,
    pub accepted: i64,
    pub failed: i64,
    pub waiting: i64,
}

/// A submission claimed for sending: what the sender needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedSubmission {
    pub id: i64,
    pub account: AccountId,
    pub message_id: String,
    pub raw: Vec<u8>,
    pub thread_remote_id: Option<String>,
    /// This claim's number; above 1, an earlier claimant may have reached the provider.
    pub attempts: i64,
    /// A draft an earlier try left at the provider while uploading large files.
    pub staged: Option<String>,
}

/// What [`Store::submit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    New(Submission),
    /// The user already submitted with this key: that submission, unchanged.
    Replayed(Submission),
}

impl Submitted {
    /// The submission, new or replayed.
    pub fn submission(&self) -> &Submission {
        match self {
            Submitted::New(submission) | Submitted::Replayed(submission) => submission,
        }
    }
}

type SubmissionRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<String>,
);

/// The columns of a [`SubmissionRow`].
macro_rules! columns {
    () => {
        "id, account_id, idempotency_key, message_id, status, subject, recipients, send_at, attempts, \
         last_error, remote_id, created_at, finished_at, batch"
    };
}

impl From<SubmissionRow> for Submission {
    fn from(row: SubmissionRow) -> Submission {
        let (id, account, idempotency_key, message_id, status, subject, recipients, send_at, attempts) =
            (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8);
        Submission {
            id,
            account: AccountId(account),
            idempotency_key,
            message_id,
            status: SubmissionStatus::parse(&status),
            subject,
            recipients: recipients.lines().map(str::to_owned).collect(),
            send_at,
            attempts,
            last_error: row.9,
            remote_id: row.10,
            created_at: row.11,
            finished_at: row.12,
            batch: row.13,
        }
    }
}

/// The condition of a submission that may be claimed at `$1`: due and pending, or claimed by a
/// process whose claim ran out.
macro_rules! claimable {
    () => {
        "((status = 'pending' AND send_at <= $1) OR (status = 'sending' AND claimed_until < $1))"
    };
}

impl Store {
    /// Stores a submission, or returns the one the user already made with the same key.
    pub async fn submit(&self, new: &NewSubmission<'_>, now: i64) -> Result<Submitted> {
        let insert = "INSERT INTO submissions (user_id, account_id, idempotency_key, message_id, status, raw, \
             thread_remote_id, subject, recipients, send_at, created_at, draft_id, batch) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, \
             (SELECT id FROM drafts WHERE id = $11 AND user_id = $1), $12) \
             ON CONFLICT (user_id, idempotency_key) DO NOTHING RETURNING id";
        let recipients = new.recipients.join("\n");
        let files = "INSERT INTO submission_files (submission_id, position, name, content_type, size) \
             VALUES ($1, $2, $3, $4, $5)";
        let piece = "INSERT INTO submission_file_chunks (submission_id, position, seq, data) VALUES ($1, $2, $3, $4)";
        // A draft's file is copied piece by piece in the database, and only the user's own.
        let copy = "INSERT INTO submission_file_chunks (submission_id, position, seq, data) \
             SELECT $1, $2, c.seq, c.data FROM draft_file_chunks c JOIN draft_files f ON f.id = c.file_id \
             JOIN drafts d ON d.id = f.draft_id WHERE c.file_id = $3 AND d.user_id = $4";
        let draft_size = "SELECT f.size FROM draft_files f JOIN drafts d ON d.id = f.draft_id \
             WHERE f.id = $1 AND d.user_id = $2 AND f.pending = 0";
        // The files go in with the submission or not at all: a message never leaves without them.
        let inserted: Option<i64> = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let inserted: Option<i64> = sqlx::query_scalar(insert)
            .bind(new.user.0)
            .bind(new.account.0)
            .bind(new.idempotency_key)
            .bind(new.message_id)
            .bind(new.raw)
            .bind(new.thread_remote_id)
            .bind(new.subject)
            .bind(&recipients)
            .bind(new.send_at)
            .bind(now)
            .bind(new.draft)
            .bind(new.batch)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = inserted {
                for (position, file) in new.files.iter().enumerate() {
                    let position = i64::try_from(position).unwrap_or(i64::MAX);
                    let size: i64 = match file.content {
                        FileContent::DraftFile(draft_file) => sqlx::query_scalar(draft_size)
                            .bind(draft_file).bind(new.user.0).fetch_optional(&mut *tx).await?
                            .ok_or(sqlx::Error::RowNotFound)?,
                        _ => 0,
                    };
                    sqlx::query(files)
                        .bind(id).bind(position).bind(file.name).bind(file.content_type).bind(size)
                        .execute(&mut *tx)
                        .await?;
                    if let FileContent::DraftFile(draft_file) = file.content {
                        sqlx::query(copy).bind(id).bind(position).bind(draft_file).bind(new.user.0)
                            .execute(&mut *tx).await?;
                        continue;
                    }
                    let mut size = 0i64;
                    for (seq, data) in pieces(file.content).enumerate() {
                        size += data.len() as i64;
                        sqlx::query(piece).bind(id).bind(position).bind(seq as i64).bind(data.as_ref())
                            .execute(&mut *tx).await?;
                    }
                    let sized = "UPDATE submission_files SET size = $3 WHERE submission_id = $1 AND position = $2";
                    sqlx::query(sized).bind(id).bind(position).bind(size).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            inserted
        });
        let found = self.submission_by_key(new.user, new.idempotency_key).await?;
        let submission = found.ok_or_else(|| sqlx::Error::RowNotFound)?;
        Ok(if inserted.is_some() { Submitted::New(submission) } else { Submitted::Replayed(submission) })
    }

    async fn submission_by_key(&self, user: UserId, key: &str) -> Result<Option<Submission>> {
        let sql = concat!("SELECT ", columns!(), " FROM submissions WHERE user_id = $1 AND idempotency_key = $2");
        let row: Option<SubmissionRow> = with_pool!(self.db, pool => sqlx::query_as(sql)
            .bind(user.0)
            .bind(key)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(Submission::from))
    }

    /// One of the user's submissions; `None` for another user's.
    pub async fn submission(&self, user: UserId, id: i64) -> Result<Option<Submission>> {
        let sql = concat!("SELECT ", columns!(), " FROM submissions WHERE id = $1 AND user_id = $2");
        let row: Option<SubmissionRow> = with_pool!(self.db, pool => sqlx::query_as(sql)
            .bind(id)
            .bind(user.0)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(Submission::from))
    }

    /// The user's submissions, newest first, `limit` at most, before the id `before`.
    pub async fn submissions(&self, user: UserId, before: Option<i64>, limit: i64) -> Result<Vec<Submission>> {
        let limit = limit.clamp(1, 500);
        // The limit is a clamped number, written into the statement as the lists do.
        let sql = format!(
            "SELECT {} FROM submissions WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT {limit}",
            columns!()
        );
        let rows: Vec<SubmissionRow> = with_pool!(self.db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(user.0)
            .bind(before.unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(Submission::from).collect())
    }

    /// The user's latest batches (messages sent separately), newest first: each with the
    /// subject of its first message and how many of its messages were accepted, failed, or wait.
    pub async fn batches(&self, user: UserId, limit: i64) -> Result<Vec<BatchSummary>> {
        let limit = limit.clamp(1, 100);
        // The limit is a clamped number, written into the statement as the lists do.
        let sql = format!(
            "SELECT batch, \
             (SELECT s2.subject FROM submissions s2 WHERE s2.user_id = $1 AND s2.batch = s.batch ORDER BY s2.id LIMIT 1), \
             SUM(CASE WHEN status = 'accepted' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN status IN ('pending', 'sending') THEN 1 ELSE 0 END) \
             FROM submissions s WHERE user_id = $1 AND batch IS NOT NULL \
             GROUP BY batch ORDER BY MAX(id) DESC LIMIT {limit}"
        );
        let rows: Vec<(String, String, i64, i64, i64)> = with_pool!(self.db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(user.0).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(batch, subject, accepted, failed, waiting)| BatchSummary {
                batch,
                subject,
                accepted,
                failed,
                waiting,
            })
            .collect())
    }

    /// Puts the failed submissions of the user's batch back in the outbox, due at `now`. Each is
    /// tried as one that may have reached the provider before (it is looked for there first),
    /// so none goes twice. The number put back.
    pub async fn retry_failed(&self, user: UserId, batch: &str, now: i64) -> Result<u64> {
        let sql = "UPDATE submissions SET status = 'pending', send_at = $3, attempts = 1, finished_at = NULL \
             WHERE user_id = $1 AND batch = $2 AND status = 'failed'";
        Ok(with_pool!(self.db, pool => sqlx::query(sql)
            .bind(user.0)
            .bind(batch)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?)
    }

    /// Takes a pending submission back (undo send, or a scheduled send called off). False when
    /// it is not the user's or no longer pending (a sender has it, or it went).
    /// The message of the user's submission `id` as it was built (RFC 5322 bytes).
    pub async fn submission_raw(&self, user: UserId, id: i64) -> Result<Option<Vec<u8>>> {
        let sql = "SELECT raw FROM submissions WHERE id = $1 AND user_id = $2";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(id).bind(user.0).fetch_optional(pool).await)?)
    }

    pub async fn cancel_submission(&self, user: UserId, id: i64, now: i64) -> Result<bool> {
        let sql = "UPDATE submissions SET status = 'cancelled', finished_at = $3 \
             WHERE id = $1 AND user_id = $2 AND status = 'pending'";
        let changed = with_pool!(self.db, pool => sqlx::query(sql)
            .bind(id)
            .bind(user.0)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(changed > 0)
    }

    /// When the next pending submission is due, if any: the sender sleeps until then.
    pub async fn next_submission_due(&self) -> Result<Option<i64>> {
        let sql = "SELECT MIN(send_at) FROM submissions WHERE status = 'pending'";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).fetch_one(pool).await)?)
    }

    /// Claims the submission due first for `owner` until `now + lease_secs`, if one is due.
    /// Only one claimant wins a submission: the update checks again that it is claimable.
    pub async fn claim_submission(&self, owner: &str, now: i64, lease_secs: i64) -> Result<Option<ClaimedSubmission>> {
        let sql = concat!(
            "UPDATE submissions SET status = 'sending', claimed_by = $2, claimed_until = $3, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM submissions WHERE ",
            claimable!(),
            " ORDER BY send_at, id LIMIT 1) AND ",
            claimable!(),
            " RETURNING id, account_id, message_id, raw, thread_remote_id, attempts, remote_id"
        );
        type Row = (i64, i64, String, Vec<u8>, Option<String>, i64, Option<String>);
        let row: Option<Row> = with_pool!(self.db, pool => sqlx::query_as(sql)
            .bind(now)
            .bind(owner)
            .bind(now + lease_secs)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(|(id, account, message_id, raw, thread_remote_id, attempts, staged)| ClaimedSubmission {
            id,
            account: AccountId(account),
            message_id,
            raw,
            thread_remote_id,
            attempts,
            staged,
        }))
    }

    /// The files a submission keeps apart from its built message, in order (none for most).
    pub async fn submission_files(&self, id: i64) -> Result<Vec<SubmissionFile>> {
        let sql = "SELECT position, name, content_type, size FROM submission_files \
             WHERE submission_id = $1 ORDER BY position";
        Ok(with_pool!(self.db, pool => sqlx::query_as(sql).bind(id).fetch_all(pool).await)?)
    }

    /// Piece `seq` of a submission's file (see [`crate::PIECE_BYTES`]); `None` past the last.
    pub async fn submission_file_piece(&self, id: i64, position: i64, seq: i64) -> Result<Option<Vec<u8>>> {
        let sql = "SELECT data FROM submission_file_chunks WHERE submission_id = $1 AND position = $2 AND seq = $3";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(id).bind(position).bind(seq)
            .fetch_optional(pool).await)?)
    }

    /// Records the draft a claimed submission is being put together in at the provider, so that a
    /// later try, should this one be cut off, deletes it rather than leave it behind.
    pub async fn submission_staged(&self, id: i64, owner: &str, draft: &str) -> Result<()> {
        let sql = "UPDATE submissions SET remote_id = $3 WHERE id = $1 AND claimed_by = $2 AND status = 'sending'";
        with_pool!(self.db, pool => sqlx::query(sql).bind(id).bind(owner).bind(draft).execute(pool).await.map(drop))?;
        Ok(())
    }

    /// The provider has the message: done, and the account's sync runs now so that the sent
    /// message shows in Sent.
    pub async fn submission_accepted(&self, id: i64, owner: &str, remote_id: Option<&str>, now: i64) -> Result<()> {
        self.finish_submission(id, owner, "accepted", remote_id, None, now).await
    }

    /// The provider refused for good; `reason` is shown to the user.
    pub async fn submission_failed(&self, id: i64, owner: &str, reason: &str, now: i64) -> Result<()> {
        self.finish_submission(id, owner, "failed", None, Some(reason), now).await
    }

    async fn finish_submission(
        &self,
        id: i64,
        owner: &str,
        status: &str,
        remote_id: Option<&str>,
        reason: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let update = "UPDATE submissions SET status = $3, remote_id = $4, last_error = COALESCE($5, last_error), \
             finished_at = $6, claimed_by = NULL, claimed_until = NULL \
             WHERE id = $1 AND claimed_by = $2 AND status = 'sending' RETURNING account_id";
        with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let account: Option<i64> = sqlx::query_scalar(update)
                .bind(id)
                .bind(owner)
                .bind(status)
                .bind(remote_id)
                .bind(reason)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            if let (Some(account), "accepted") = (account, status) {
                sqlx::query(REQUEST_RUN).bind(account).execute(&mut *tx).await?;
                sqlx::query(DISCARD_SENT_DRAFT).bind(id).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The provider could not take it now: pending again, not before `retry_at`.
    pub async fn submission_later(&self, id: i64, owner: &str, reason: &str, retry_at: i64) -> Result<()> {
        let sql = "UPDATE submissions SET status = 'pending', send_at = $3, last_error = $4, \
             claimed_by = NULL, claimed_until = NULL WHERE id = $1 AND claimed_by = $2 AND status = 'sending'";
        with_pool!(self.db, pool => sqlx::query(sql)
            .bind(id)
            .bind(owner)
            .bind(retry_at)
            .bind(reason)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }
}
