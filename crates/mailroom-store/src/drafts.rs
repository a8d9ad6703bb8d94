//! Drafts: saved as the user types, then written to the provider by a writer that claims one
//! draft at a time (several server processes may run one each). A save counts up `revision`;
//! the writer records which revision the provider has. Before changing the provider's copy the
//! writer checks that it is still the one it wrote; when someone changed it there, the draft is
//! held in conflict with the provider's version kept until the user chooses.

use mailroom_domain::{AccountId, UserId};

use crate::db::{BeginWrite, with_pool};
use crate::pieces::{FileContent, pieces};
use crate::{Result, Store};

/// Deletes the draft a just-accepted submission was written in (bound: submission id, now).
pub(crate) const DISCARD_SENT_DRAFT: &str = "UPDATE drafts SET discarded = 1, conflict = 0, \
     revision = revision + 1, updated_at = $2 WHERE id = (SELECT draft_id FROM submissions WHERE id = $1)";

/// The fields of a draft as the user typed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftFields {
    pub account: AccountId,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub bcc: String,
    pub subject: String,
    pub body: String,
    /// The editor's HTML, cleaned (pasted images as data URLs).
    pub html: Option<String>,
    /// new, reply, all or forward.
    pub mode: String,
    pub original: Option<i64>,
}

/// A draft as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDraft {
    pub id: i64,
    pub user: UserId,
    pub fields: DraftFields,
    pub revision: i64,
    pub pushed_revision: i64,
    pub remote_id: Option<String>,
    pub remote_version: Option<String>,
    /// Changed at the provider since it was written there; the provider's copy as it is now.
    pub conflict: bool,
    pub theirs_version: Option<String>,
    pub theirs_raw: Option<Vec<u8>>,
    pub discarded: bool,
    pub updated_at: i64,
    /// Counts the changes to the draft's files; the provider's copy has `pushed_files_version`.
    pub files_version: i64,
    pub pushed_files_version: i64,
}

impl StoredDraft {
    /// Whether the provider has what the user last saved.
    pub fn is_pushed(&self) -> bool {
        self.pushed_revision >= self.revision
    }
}

#[derive(sqlx::FromRow)]
struct DraftRow {
    id: i64,
    user_id: i64,
    account_id: i64,
    from_address: String,
    to_text: String,
    cc_text: String,
    bcc_text: String,
    subject: String,
    body: String,
    html: Option<String>,
    mode: String,
    original_id: Option<i64>,
    revision: i64,
    pushed_revision: i64,
    remote_id: Option<String>,
    remote_version: Option<String>,
    conflict: i64,
    theirs_version: Option<String>,
    theirs_raw: Option<Vec<u8>>,
    discarded: i64,
    updated_at: i64,
    files_version: i64,
    pushed_files_version: i64,
}

const COLUMNS: &str = "id, user_id, account_id, from_address, to_text, cc_text, bcc_text, subject, body, html, mode, \
     original_id, revision, pushed_revision, remote_id, remote_version, conflict, theirs_version, theirs_raw, \
     discarded, updated_at, files_version, pushed_files_version";

fn draft(row: DraftRow) -> StoredDraft {
    StoredDraft {
        id: row.id,
        user: UserId(row.user_id),
        fields: DraftFields {
            account: AccountId(row.account_id),
            from: row.from_address,
            to: row.to_text,
            cc: row.cc_text,
            bcc: row.bcc_text,
            subject: row.subject,
            body: row.body,
            html: row.html,
            mode: row.mode,
            original: row.original_id,
        },
        revision: row.revision,
        pushed_revision: row.pushed_revision,
        remote_id: row.remote_id,
        remote_version: row.remote_version,
        conflict: row.conflict != 0,
        theirs_version: row.theirs_version,
        theirs_raw: row.theirs_raw,
        discarded: row.discarded != 0,
        updated_at: row.updated_at,
        files_version: row.files_version,
        pushed_files_version: row.pushed_files_version,
    }
}

/// How long a writer's claim lasts.
pub const DRAFT_CLAIM_SECS: i64 = 120;

impl Store {
    /// Saves a new draft (`id` `None`) or the user's draft `id`; the writer then takes it to the
    /// provider. `None` when the draft or the account is not the user's, or the draft is gone.
    pub async fn save_draft(
        &self,
        user: UserId,
        id: Option<i64>,
        fields: &DraftFields,
        now: i64,
    ) -> Result<Option<StoredDraft>> {
        let mine = "SELECT COUNT(*) FROM accounts WHERE id = $1 AND user_id = $2";
        let insert = "INSERT INTO drafts (user_id, account_id, from_address, to_text, cc_text, bcc_text, subject, \
             body, mode, original_id, revision, updated_at, html) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             (SELECT m.id FROM messages m WHERE m.id = $10 AND m.user_id = $1), 1, $11, $12) RETURNING id";
        // A draft moved to another account starts over there: the old copy is the old account's.
        let update = "UPDATE drafts SET account_id = $3, from_address = $4, to_text = $5, cc_text = $6, \
             bcc_text = $7, subject = $8, body = $9, revision = revision + 1, updated_at = $10, html = $11, \
             remote_id = CASE WHEN account_id = $3 THEN remote_id END, \
             remote_version = CASE WHEN account_id = $3 THEN remote_version END \
             WHERE id = $1 AND user_id = $2 AND discarded = 0 RETURNING id";
        let f = fields;
        let saved: Option<i64> = with_pool!(self.db, pool => {
            let found: i64 = sqlx::query_scalar(mine).bind(f.account.0).bind(user.0).fetch_one(pool).await?;
            if found == 0 {
                None
            } else {
                match id {
                    None => sqlx::query_scalar(insert)
                        .bind(user.0).bind(f.account.0).bind(&f.from).bind(&f.to).bind(&f.cc).bind(&f.bcc)
                        .bind(&f.subject).bind(&f.body).bind(&f.mode).bind(f.original).bind(now).bind(&f.html)
                        .fetch_optional(pool).await?,
                    Some(id) => sqlx::query_scalar(update)
                        .bind(id).bind(user.0).bind(f.account.0).bind(&f.from).bind(&f.to).bind(&f.cc)
                        .bind(&f.bcc).bind(&f.subject).bind(&f.body).bind(now).bind(&f.html)
                        .fetch_optional(pool).await?,
                }
            }
        });
        match saved {
            Some(id) => self.draft(user, id).await,
            None => Ok(None),
        }
    }

    /// One of the user's drafts (not one being discarded); `None` for another user's.
    pub async fn draft(&self, user: UserId, id: i64) -> Result<Option<StoredDraft>> {
        let sql = format!("SELECT {COLUMNS} FROM drafts WHERE id = $1 AND user_id = $2 AND discarded = 0");
        let row: Option<DraftRow> = with_pool!(self.db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id).bind(user.0).fetch_optional(pool).await)?;
        Ok(row.map(draft))
    }

    /// The user's drafts, last changed first.
    pub async fn drafts(&self, user: UserId) -> Result<Vec<StoredDraft>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM drafts WHERE user_id = $1 AND discarded = 0 ORDER BY updated_at DESC, id DESC"
        );
        let rows: Vec<DraftRow> = with_pool!(self.db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(user.0).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(draft).collect())
    }

    /// The user's draft whose copy at the provider is the message `remote` of `account` (a Graph
    /// draft message's id, or the id of a Gmail draft's message).
    pub async fn draft_for_message(
        &self,
        user: UserId,
        account: AccountId,
        remote: &str,
    ) -> Result<Option<StoredDraft>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM drafts WHERE user_id = $1 AND account_id = $2 AND discarded = 0 \
             AND (remote_id = $3 OR remote_version = $3) ORDER BY id LIMIT 1"
        );
        let row: Option<DraftRow> = with_pool!(self.db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(user.0).bind(account.0).bind(remote).fetch_optional(pool).await)?;
        Ok(row.map(draft))
    }

    /// Takes in a draft written elsewhere (found in the mailbox's Drafts): a draft with `fields`,
    /// linked to its copy at the provider, which holds this content already. Graph names the
    /// copy by `remote_id`; for Gmail `remote_version` is its message, and the writer finds the
    /// draft's id when it first writes. `None` when the account is not the user's.
    pub async fn adopt_draft(
        &self,
        user: UserId,
        fields: &DraftFields,
        remote_id: Option<&str>,
        remote_version: Option<&str>,
        now: i64,
    ) -> Result<Option<StoredDraft>> {
        let insert = "INSERT INTO drafts (user_id, account_id, from_address, to_text, cc_text, bcc_text, subject, \
             body, mode, original_id, revision, pushed_revision, remote_id, remote_version, updated_at) \
             SELECT $1, a.id, $3, $4, $5, $6, $7, $8, 'new', NULL, 1, 1, $9, $10, $11 FROM accounts a \
             WHERE a.id = $2 AND a.user_id = $1 RETURNING id";
        let f = fields;
        let id: Option<i64> = with_pool!(self.db, pool => sqlx::query_scalar(insert)
            .bind(user.0).bind(f.account.0).bind(&f.from).bind(&f.to).bind(&f.cc).bind(&f.bcc).bind(&f.subject)
            .bind(&f.body).bind(remote_id).bind(remote_version).bind(now)
            .fetch_optional(pool).await)?;
        match id {
            Some(id) => self.draft(user, id).await,
            None => Ok(None),
        }
    }

    /// Discards the user's draft: gone from the user's lists at once, and from the provider when
    /// the writer has deleted its copy there — not before `hold_until` when given, so that the
    /// user's Undo ([`Store::restore_draft`]) can bring it back whole until then. False when
    /// there is no such draft of the user's.
    pub async fn discard_draft(&self, user: UserId, id: i64, now: i64, hold_until: Option<i64>) -> Result<bool> {
        // Nothing at the provider yet (no draft id, nor a Gmail message of one taken in), and
        // nothing to undo: gone at once.
        let never_written = "DELETE FROM drafts WHERE id = $1 AND user_id = $2 AND remote_id IS NULL \
             AND remote_version IS NULL AND claimed_by IS NULL";
        // A writer holding it keeps its claim; the hold then ends with that claim.
        let discard = "UPDATE drafts SET discarded = 1, conflict = 0, revision = revision + 1, updated_at = $3, \
             claimed_until = CASE WHEN claimed_by IS NULL THEN CAST($4 AS BIGINT) ELSE claimed_until END \
             WHERE id = $1 AND user_id = $2 AND discarded = 0";
        let done = with_pool!(self.db, pool => {
            let deleted = match hold_until {
                Some(_) => 0,
                None => sqlx::query(never_written).bind(id).bind(user.0).execute(pool).await?.rows_affected(),
            };
            if deleted == 1 {
                1
            } else {
                sqlx::query(discard).bind(id).bind(user.0).bind(now).bind(hold_until).execute(pool).await?.rows_affected()
            }
        });
        Ok(done == 1)
    }

    /// Undoes the discarding of the user's draft while the writer has not deleted it yet: the
    /// draft is back as it was, files and all. False when it is too late or not the user's.
    pub async fn restore_draft(&self, user: UserId, id: i64, now: i64) -> Result<bool> {
        let sql = "UPDATE drafts SET discarded = 0, revision = revision + 1, claimed_until = NULL, updated_at = $3 \
             WHERE id = $1 AND user_id = $2 AND discarded = 1 AND claimed_by IS NULL";
        let done = with_pool!(self.db, pool => sqlx::query(sql)
            .bind(id).bind(user.0).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// The user's choice for a draft changed at the provider: keep theirs (`fields` then hold
    /// the provider's version, which is what the provider has) or keep what they wrote (written
    /// over the provider's version next). False when the draft is not the user's or not in
    /// conflict.
    pub async fn resolve_draft(&self, user: UserId, id: i64, theirs: Option<&DraftFields>, now: i64) -> Result<bool> {
        let keep_mine = "UPDATE drafts SET conflict = 0, remote_version = theirs_version, theirs_version = NULL, \
             theirs_raw = NULL, revision = revision + 1, updated_at = $3 \
             WHERE id = $1 AND user_id = $2 AND conflict = 1 AND discarded = 0";
        let take_theirs = "UPDATE drafts SET conflict = 0, remote_version = theirs_version, theirs_version = NULL, \
             theirs_raw = NULL, to_text = $4, cc_text = $5, bcc_text = $6, subject = $7, body = $8, html = NULL, \
             revision = revision + 1, pushed_revision = revision + 1, updated_at = $3 \
             WHERE id = $1 AND user_id = $2 AND conflict = 1 AND discarded = 0";
        let done = with_pool!(self.db, pool => match theirs {
            None => sqlx::query(keep_mine).bind(id).bind(user.0).bind(now).execute(pool).await?,
            Some(f) => sqlx::query(take_theirs)
                .bind(id).bind(user.0).bind(now).bind(&f.to).bind(&f.cc).bind(&f.bcc).bind(&f.subject).bind(&f.body)
                .execute(pool).await?,
        }
        .rows_affected());
        Ok(done == 1)
    }

    /// Claims for `owner` a draft whose provider copy is behind (or which is to be deleted
    /// there), if there is one and no one else has it.
    pub async fn claim_draft(&self, owner: &str, now: i64) -> Result<Option<StoredDraft>> {
        let claimable = "revision > pushed_revision AND conflict = 0 AND (claimed_until IS NULL OR claimed_until < $1)";
        let sql = format!(
            "UPDATE drafts SET claimed_by = $2, claimed_until = $3 WHERE id = (SELECT id FROM drafts WHERE \
             {claimable} ORDER BY updated_at, id LIMIT 1) AND {claimable} RETURNING {COLUMNS}"
        );
        let row: Option<DraftRow> = with_pool!(self.db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(now).bind(owner).bind(now + DRAFT_CLAIM_SECS).fetch_optional(pool).await)?;
        Ok(row.map(draft))
    }

    /// The provider has `revision` of the draft (and `files_version` of its files), as
    /// `remote_id` at `remote_version`; a draft being discarded is deleted now that its copy
    /// there is gone.
    pub async fn draft_pushed(
        &self,
        id: i64,
        owner: &str,
        (revision, files_version): (i64, i64),
        remote_id: Option<&str>,
        remote_version: Option<&str>,
    ) -> Result<()> {
        let delete = "DELETE FROM drafts WHERE id = $1 AND claimed_by = $2 AND discarded = 1";
        let update = "UPDATE drafts SET pushed_revision = $3, remote_id = $4, remote_version = $5, \
             pushed_files_version = $6, claimed_by = NULL, claimed_until = NULL WHERE id = $1 AND claimed_by = $2";
        with_pool!(self.db, pool => {
            let deleted = sqlx::query(delete).bind(id).bind(owner).execute(pool).await?.rows_affected();
            if deleted == 0 {
                sqlx::query(update)
                    .bind(id).bind(owner).bind(revision).bind(remote_id).bind(remote_version).bind(files_version)
                    .execute(pool).await?;
            }
        });
        Ok(())
    }

    /// Someone changed the draft at the provider: it waits for the user, with the provider's
    /// version kept.
    pub async fn draft_conflict(&self, id: i64, owner: &str, theirs_version: &str, theirs_raw: &[u8]) -> Result<()> {
        let sql = "UPDATE drafts SET conflict = 1, theirs_version = $3, theirs_raw = $4, \
             claimed_by = NULL, claimed_until = NULL WHERE id = $1 AND claimed_by = $2";
        with_pool!(self.db, pool => sqlx::query(sql)
            .bind(id).bind(owner).bind(theirs_version).bind(theirs_raw).execute(pool).await.map(drop))?;
        Ok(())
    }

    /// The provider could not take the draft now: tried again not before `retry_at`.
    pub async fn draft_later(&self, id: i64, owner: &str, retry_at: i64) -> Result<()> {
        let sql = "UPDATE drafts SET claimed_by = NULL, claimed_until = $3 WHERE id = $1 AND claimed_by = $2";
        with_pool!(self.db, pool => sqlx::query(sql).bind(id).bind(owner).bind(retry_at).execute(pool).await.map(drop))?;
        Ok(())
    }
}

/// A file attached to a draft, as lists show it (its content apart).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DraftFile {
    pub id: i64,
    pub name: String,
    pub content_type: String,
    pub size: i64,
}

/// What adding a file to a draft did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAdded {
    Added(DraftFile),
    /// The draft is not the user's, or it is gone.
    NoDraft,
    /// With it the draft's files would be larger than the limit given.
    OverLimit,
}

/// A draft of the user's, still being written (bound: draft id, user id).
const LIVE_DRAFT: &str = "SELECT COUNT(*) FROM drafts WHERE id = $1 AND user_id = $2 AND discarded = 0";
/// What the draft's files hold together, whole ones only (bound: draft id). PostgreSQL sums
/// BIGINTs as NUMERIC: cast back.
const HELD: &str = "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM draft_files WHERE draft_id = $1 AND pending = 0";
/// How long a file may take to come in; one still pending after that was cut off.
const PENDING_SECS: i64 = 3_600;
/// One piece of a draft's file (bound: file id, its number, its bytes).
const PIECE: &str = "INSERT INTO draft_file_chunks (file_id, seq, data) VALUES ($1, $2, $3)";
/// A change to the draft's files is a new revision: the writer takes it to the provider.
const FILES_CHANGED: &str =
    "UPDATE drafts SET revision = revision + 1, files_version = files_version + 1, updated_at = $2 WHERE id = $1";

impl Store {
    /// Attaches a file (name, content type, content) to the user's draft, unless the draft's files would then be more than
    /// `total_limit` bytes.
    pub async fn add_draft_file(
        &self,
        user: UserId,
        draft: i64,
        (name, content_type, data): (&str, &str, &[u8]),
        total_limit: usize,
        now: i64,
    ) -> Result<FileAdded> {
        let size = i64::try_from(data.len()).unwrap_or(i64::MAX);
        let limit = i64::try_from(total_limit).unwrap_or(i64::MAX);
        let held = HELD;
        let insert = "INSERT INTO draft_files (draft_id, name, content_type, size, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id, name, content_type, size";
        let added = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let live: i64 = sqlx::query_scalar(LIVE_DRAFT).bind(draft).bind(user.0).fetch_one(&mut *tx).await?;
            if live == 0 {
                FileAdded::NoDraft
            } else {
                let held: i64 = sqlx::query_scalar(held).bind(draft).fetch_one(&mut *tx).await?;
                if held.saturating_add(size) > limit {
                    FileAdded::OverLimit
                } else {
                    let file: DraftFile = sqlx::query_as(insert)
                        .bind(draft).bind(name).bind(content_type).bind(size).bind(now)
                        .fetch_one(&mut *tx).await?;
                    for (seq, piece) in pieces(FileContent::Bytes(data)).enumerate() {
                        sqlx::query(PIECE).bind(file.id).bind(seq as i64).bind(piece.as_ref()).execute(&mut *tx).await?;
                    }
                    sqlx::query(FILES_CHANGED).bind(draft).bind(now).execute(&mut *tx).await?;
                    tx.commit().await?;
                    FileAdded::Added(file)
                }
            }
        });
        Ok(added)
    }

    /// Starts a file of the user's draft that comes in piece by piece ([`Store::add_draft_file_piece`],
    /// then [`Store::finish_draft_file`]): none of the draft's files until it is finished. `None`
    /// when the draft is not the user's or is gone. Files of the draft left pending by a request
    /// cut off long ago go.
    pub async fn start_draft_file(
        &self,
        user: UserId,
        draft: i64,
        (name, content_type): (&str, &str),
        now: i64,
    ) -> Result<Option<i64>> {
        let stale = "DELETE FROM draft_files WHERE draft_id = $1 AND pending = 1 AND created_at < $2";
        let insert = "INSERT INTO draft_files (draft_id, name, content_type, size, created_at, pending) \
             VALUES ($1, $2, $3, 0, $4, 1) RETURNING id";
        let started = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let live: i64 = sqlx::query_scalar(LIVE_DRAFT).bind(draft).bind(user.0).fetch_one(&mut *tx).await?;
            if live == 0 {
                None
            } else {
                sqlx::query(stale).bind(draft).bind(now - PENDING_SECS).execute(&mut *tx).await?;
                let id: i64 = sqlx::query_scalar(insert)
                    .bind(draft).bind(name).bind(content_type).bind(now).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                Some(id)
            }
        });
        Ok(started)
    }

    /// Piece `seq` of a file started with [`Store::start_draft_file`] (at most [`crate::PIECE_BYTES`]).
    pub async fn add_draft_file_piece(&self, file: i64, seq: i64, data: &[u8]) -> Result<()> {
        let sql = "INSERT INTO draft_file_chunks (file_id, seq, data) \
             SELECT id, $2, $3 FROM draft_files WHERE id = $1 AND pending = 1";
        with_pool!(self.db, pool => sqlx::query(sql).bind(file).bind(seq).bind(data).execute(pool).await.map(drop))?;
        Ok(())
    }

    /// Makes a started file, of `size` bytes in all, one of the draft's files, unless the draft's
    /// files would then be more than `total_limit` bytes (the file is then dropped).
    pub async fn finish_draft_file(
        &self,
        user: UserId,
        (draft, file): (i64, i64),
        size: usize,
        total_limit: usize,
        now: i64,
    ) -> Result<FileAdded> {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let limit = i64::try_from(total_limit).unwrap_or(i64::MAX);
        let finish = "UPDATE draft_files SET pending = 0, size = $2 WHERE id = $1 AND pending = 1 \
             RETURNING id, name, content_type, size";
        let added = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let live: i64 = sqlx::query_scalar(LIVE_DRAFT).bind(draft).bind(user.0).fetch_one(&mut *tx).await?;
            let held: i64 = sqlx::query_scalar(HELD).bind(draft).fetch_one(&mut *tx).await?;
            let added = if live == 0 {
                FileAdded::NoDraft
            } else if held.saturating_add(size) > limit {
                FileAdded::OverLimit
            } else {
                match sqlx::query_as::<_, DraftFile>(finish).bind(file).bind(size).fetch_optional(&mut *tx).await? {
                    Some(file) => {
                        sqlx::query(FILES_CHANGED).bind(draft).bind(now).execute(&mut *tx).await?;
                        FileAdded::Added(file)
                    }
                    None => FileAdded::NoDraft,
                }
            };
            if !matches!(added, FileAdded::Added(_)) {
                sqlx::query("DELETE FROM draft_files WHERE id = $1 AND pending = 1").bind(file).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            added
        });
        Ok(added)
    }

    /// Drops a started file that did not come whole.
    pub async fn abandon_draft_file(&self, file: i64) -> Result<()> {
        let sql = "DELETE FROM draft_files WHERE id = $1 AND pending = 1";
        with_pool!(self.db, pool => sqlx::query(sql).bind(file).execute(pool).await.map(drop))?;
        Ok(())
    }

    /// The files of the user's draft, in the order they were added; none for another user's.
    pub async fn draft_files(&self, user: UserId, draft: i64) -> Result<Vec<DraftFile>> {
        let sql = "SELECT f.id, f.name, f.content_type, f.size FROM draft_files f \
             JOIN drafts d ON d.id = f.draft_id WHERE f.draft_id = $1 AND d.user_id = $2 AND f.pending = 0 \
             ORDER BY f.id";
        Ok(with_pool!(self.db, pool => sqlx::query_as(sql).bind(draft).bind(user.0).fetch_all(pool).await)?)
    }

    /// The files of the user's draft with their content, in the order they were added.
    pub async fn draft_files_with_data(&self, user: UserId, draft: i64) -> Result<Vec<(DraftFile, Vec<u8>)>> {
        let mut files = Vec::new();
        for file in self.draft_files(user, draft).await? {
            let data = self.draft_file_data(&file).await?;
            files.push((file, data));
        }
        Ok(files)
    }

    /// One file of the user's draft with its content.
    pub async fn draft_file(&self, user: UserId, draft: i64, file: i64) -> Result<Option<(DraftFile, Vec<u8>)>> {
        let sql = "SELECT f.id, f.name, f.content_type, f.size FROM draft_files f \
             JOIN drafts d ON d.id = f.draft_id WHERE f.id = $1 AND f.draft_id = $2 AND d.user_id = $3 \
             AND f.pending = 0";
        let found: Option<DraftFile> = with_pool!(self.db, pool => sqlx::query_as(sql)
            .bind(file).bind(draft).bind(user.0).fetch_optional(pool).await)?;
        let Some(file) = found else { return Ok(None) };
        let data = self.draft_file_data(&file).await?;
        Ok(Some((file, data)))
    }

    /// A draft file's content, read a piece at a time into one buffer.
    async fn draft_file_data(&self, file: &DraftFile) -> Result<Vec<u8>> {
        let mut data = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
        for seq in 0i64.. {
            match self.draft_file_piece(file.id, seq).await? {
                Some(piece) => data.extend_from_slice(&piece),
                None => break,
            }
        }
        Ok(data)
    }

    /// Piece `seq` of draft file `file` (see [`crate::PIECE_BYTES`]); `None` past the last. For
    /// the draft's writer, which has the draft already.
    pub async fn draft_file_piece(&self, file: i64, seq: i64) -> Result<Option<Vec<u8>>> {
        let sql = "SELECT data FROM draft_file_chunks WHERE file_id = $1 AND seq = $2";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(file).bind(seq).fetch_optional(pool).await)?)
    }

    /// Takes a file off the user's draft. False when there is no such file of the user's.
    pub async fn remove_draft_file(&self, user: UserId, draft: i64, file: i64, now: i64) -> Result<bool> {
        let delete = "DELETE FROM draft_files WHERE id = $1 AND draft_id = $2";
        let removed = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let live: i64 = sqlx::query_scalar(LIVE_DRAFT).bind(draft).bind(user.0).fetch_one(&mut *tx).await?;
            let removed = live == 1 && sqlx::query(delete).bind(file).bind(draft).execute(&mut *tx).await?.rows_affected() == 1;
            if removed {
                sqlx::query(FILES_CHANGED).bind(draft).bind(now).execute(&mut *tx).await?;
                tx.commit().await?;
            }
            removed
        });
        Ok(removed)
    }

    /// Gives the user's draft exactly these files (name, content type, content), in this order:
    /// how a message taken back from the outbox gets its files again. False when there is no
    /// such draft of the user's.
    pub async fn replace_draft_files(
        &self,
        user: UserId,
        draft: i64,
        files: &[(String, String, Vec<u8>)],
        now: i64,
    ) -> Result<bool> {
        let clear = "DELETE FROM draft_files WHERE draft_id = $1";
        let insert = "INSERT INTO draft_files (draft_id, name, content_type, size, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let replaced = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let live: i64 = sqlx::query_scalar(LIVE_DRAFT).bind(draft).bind(user.0).fetch_one(&mut *tx).await?;
            if live == 1 {
                sqlx::query(clear).bind(draft).execute(&mut *tx).await?;
                for (name, content_type, data) in files {
                    let size = i64::try_from(data.len()).unwrap_or(i64::MAX);
                    let id: i64 = sqlx::query_scalar(insert)
                        .bind(draft).bind(name).bind(content_type).bind(size).bind(now)
                        .fetch_one(&mut *tx).await?;
                    for (seq, piece) in pieces(FileContent::Bytes(data)).enumerate() {
                        sqlx::query(PIECE).bind(id).bind(seq as i64).bind(piece.as_ref()).execute(&mut *tx).await?;
                    }
                }
                sqlx::query(FILES_CHANGED).bind(draft).bind(now).execute(&mut *tx).await?;
                tx.commit().await?;
            }
            live == 1
        });
        Ok(replaced)
    }
}

impl Store {
    /// Adds to the user's draft the files the user's submission `submission` kept apart from its
    /// built message, copied in the database: how a message taken back gets its large files
    /// again. False when there is no such draft or submission of the user's.
    pub async fn add_submission_files_to_draft(
        &self,
        user: UserId,
        draft: i64,
        submission: i64,
        now: i64,
    ) -> Result<bool> {
        let owned = "SELECT COUNT(*) FROM submissions WHERE id = $1 AND user_id = $2";
        let files = "SELECT position, name, content_type, size FROM submission_files WHERE submission_id = $1 ORDER BY position";
        let insert = "INSERT INTO draft_files (draft_id, name, content_type, size, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let copy = "INSERT INTO draft_file_chunks (file_id, seq, data) \
             SELECT $1, seq, data FROM submission_file_chunks WHERE submission_id = $2 AND position = $3";
        let added = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let live: i64 = sqlx::query_scalar(LIVE_DRAFT).bind(draft).bind(user.0).fetch_one(&mut *tx).await?;
            let owned: i64 = sqlx::query_scalar(owned).bind(submission).bind(user.0).fetch_one(&mut *tx).await?;
            if live == 1 && owned == 1 {
                let rows: Vec<(i64, String, String, i64)> =
                    sqlx::query_as(files).bind(submission).fetch_all(&mut *tx).await?;
                for (position, name, content_type, size) in &rows {
                    let id: i64 = sqlx::query_scalar(insert)
                        .bind(draft).bind(name).bind(content_type).bind(size).bind(now)
                        .fetch_one(&mut *tx).await?;
                    sqlx::query(copy).bind(id).bind(submission).bind(position).execute(&mut *tx).await?;
                }
                if !rows.is_empty() {
                    sqlx::query(FILES_CHANGED).bind(draft).bind(now).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            live == 1 && owned == 1
        });
        Ok(added)
    }

    /// The user's draft submission `id` was written in, while it is still being kept.
    pub async fn submission_draft(&self, user: UserId, id: i64) -> Result<Option<i64>> {
        let sql = "SELECT d.id FROM submissions s JOIN drafts d ON d.id = s.draft_id \
             WHERE s.id = $1 AND s.user_id = $2 AND d.user_id = $2 AND d.discarded = 0";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(id).bind(user.0).fetch_optional(pool).await)?)
    }
}
