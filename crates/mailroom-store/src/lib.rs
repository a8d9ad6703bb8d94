//! Mailroom's storage: one API over SQLite (the embedded default) and PostgreSQL, the migrations
//! of both, and the sealing of secrets at rest. It knows nothing of HTTP or of providers' wire
//! formats.
//!
//! Opening is three steps, so that each can fail with its own clear error:
//! [`Db::connect`], [`Db::migrate`], then [`Store::unlock`] with the secret key.

mod accounts;
mod api_tokens;
pub mod backup;
mod crypto;
mod db;
mod drafts;
mod kept;
mod key;
mod messages;
mod overview;
mod password;
mod pieces;
mod sessions;
mod settings;
mod submissions;
mod sync_runs;
mod templates;
mod throttle;
mod users;

pub use accounts::{
    AUTHORIZATION_LIFETIME_SECS, Account, AccountTokens, Connection, Identity, PendingAuthorization,
    SIGNATURE_HTML_LIMIT, SIGNATURE_LIMIT, StateProblem,
};
pub use api_tokens::{ApiToken, ApiTokenInfo, TOKEN_NAME_MAX};
pub use crypto::{Cipher, CryptoError, SecretKey};
pub use db::{Backend, Db, DbTarget, SchemaState};
pub use drafts::{DRAFT_CLAIM_SECS, DraftFields, DraftFile, FileAdded, StoredDraft};
pub use key::{KeyInput, KeyOrigin};
pub use messages::{
    ACTION_LIMIT, Acted, ActionRefused, Applied, Correspondent, CorrespondentGroup, Cursor, EventKind, FailedAction,
    FeedEntry, FolderSummary, IncomingMessage, KnownMessage, ListCursor, MessageChange, MessageDetail, MessageEvent,
    MessageFilter, MessagePerson, MessageSummary, NOTE_LIMIT, Participant, RemoteFolder, SUGGESTION_LIMIT,
    SearchCursor, SearchHit, SearchPage, StoredAttachment, StoredState, Suggestions, Tag, UNDO_MARGIN, UndoRefused,
    WritebackJob,
};
pub use overview::QueueDepths;
pub use pieces::{FileContent, PIECE_BYTES, base64_size};
pub use sessions::SessionToken;
pub use settings::{EmailSettings, ProviderSettings, ProviderUpdate};
pub use submissions::{
    BatchSummary, ClaimedSubmission, NewFile, NewSubmission, Submission, SubmissionFile, SubmissionStatus, Submitted,
};
pub use sync_runs::{
    Claim, FailedRun, LearnedRate, RunKind, RunMode, RunOutcome, RunProgress, RunTrigger, SyncRun, SyncStatus,
    WaitReason,
};
pub use templates::{SharedTemplate, StoredTemplate, TemplateSaved};
pub use users::{NewUser, User};

use std::path::PathBuf;
use std::sync::Arc;

/// The store: the database and the cipher that seals the secrets kept in it. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    cipher: Arc<Cipher>,
    key: Arc<SecretKey>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.db.backend()).finish_non_exhaustive()
    }
}

/// Why the store could not be opened. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("cannot use the database: {0}")]
    Query(#[from] sqlx::Error),
    #[error("cannot create the folder {path}: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("cannot create or restrict the database file {path} to its owner: {source}")]
    DatabaseFile { path: PathBuf, source: std::io::Error },
    #[error("cannot read or create the key file {path}: {source}")]
    KeyFile { path: PathBuf, source: std::io::Error },
    #[error(
        "the key file {path} does not hold a key (64 hexadecimal characters); restore it from your backup \
         or set MAILROOM_SECRET_KEY to the original key"
    )]
    KeyFileMalformed { path: PathBuf },
    #[error(
        "this database holds encrypted secrets, but no secret key was found: set MAILROOM_SECRET_KEY to the \
         key they were encrypted with, or restore the key file {path} from your backup; nothing was changed"
    )]
    KeyMissing { path: PathBuf },
    #[error(
        "the secret key from {origin} is not the key this database's secrets were encrypted with: set \
         MAILROOM_SECRET_KEY to the original key, or restore the original key file; nothing was changed"
    )]
    WrongKey { origin: KeyOrigin },
}

/// A store operation failed. Internal detail for the log; the user sees a generic page.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot open a sealed secret: {0}")]
    Crypto(#[from] CryptoError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("a background task of the store failed: {0}")]
    Background(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl Store {
    /// Makes the store usable with the secret key: loads or creates it (see [`KeyInput`]) and
    /// checks it against the key check sealed in the database on first start. A database that
    /// holds secrets is never paired with a new key.
    pub async fn unlock(db: Db, key: KeyInput) -> Result<Store, OpenError> {
        let sealed_check = db.key_check().await?;
        let (secret_key, origin) = key.resolve(sealed_check.is_some())?;
        let cipher = Cipher::new(&secret_key);
        match sealed_check {
            Some(sealed) => {
                cipher.open(&sealed, KEY_CHECK_AAD).map_err(|_| OpenError::WrongKey { origin })?;
            }
            None => db.save_key_check(&cipher.seal(KEY_CHECK_PLAINTEXT, KEY_CHECK_AAD), now()).await?,
        }
        Ok(Store { db, cipher: Arc::new(cipher), key: Arc::new(secret_key) })
    }

    /// Checks `key` against the database without changing anything (no key file is created):
    /// `Ok(None)` when there is no key yet and the database holds no secrets, so that one is
    /// created at first start.
    pub async fn check_key(db: &Db, key: &KeyInput) -> Result<Option<KeyOrigin>, OpenError> {
        let sealed_check = db.key_check().await?;
        let has_key = key.given.is_some() || key.file.exists();
        if !has_key && sealed_check.is_none() {
            return Ok(None);
        }
        // With the database's check taken as present, a missing key is reported, never created.
        let (secret_key, origin) = key.resolve(true)?;
        if let Some(sealed) = sealed_check {
            Cipher::new(&secret_key)
                .open(&sealed, KEY_CHECK_AAD)
                .map_err(|_| OpenError::WrongKey { origin: origin.clone() })?;
        }
        Ok(Some(origin))
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// A key for a keyed hash (HMAC), derived from the secret key and bound to `purpose`, so that
    /// e.g. CSRF proofs survive restarts and are shared by every server process.
    pub fn derived_key(&self, purpose: &str) -> [u8; 32] {
        self.key.derive(purpose)
    }
}

const KEY_CHECK_AAD: &[u8] = b"mailroom key check";
const KEY_CHECK_PLAINTEXT: &[u8] = b"mailroom";

/// Creates `path` and its parents; a folder created here is readable by its owner only, since
/// it holds the database and the key file.
pub(crate) fn create_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Makes the SQLite database file readable by its owner only, creating it empty when missing,
/// and its write-ahead log and shared-memory files too when they exist (SQLite gives the files
/// it makes later the database file's permissions). The database holds everyone's mail.
pub(crate) fn restrict_database_file(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// 32 random bytes from the operating system, base64url-encoded (43 characters): for session
/// tokens, CSRF bindings, OAuth states.
pub fn random_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    crypto::fill_random(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}
