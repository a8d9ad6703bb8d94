//! Connected mailboxes: the accounts with their sealed tokens and identities, and the OAuth
//! authorizations in progress (state and PKCE verifier).

use mailroom_domain::{AccountId, AccountStatus, Provider, UserId};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::db::{BeginWrite, with_pool};
use crate::{Result, SessionToken, Store};

/// How long an authorization may take, from the click to the callback.
pub const AUTHORIZATION_LIFETIME_SECS: i64 = 600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub user_id: UserId,
    pub provider: Provider,
    pub remote_id: String,
    pub address: String,
    pub display_name: Option<String>,
    pub status: AccountStatus,
    pub token_expires_at: Option<i64>,
    pub import_days: u32,
    pub last_sync_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub address: String,
    pub name: Option<String>,
    pub is_default: bool,
}

/// Longest signature, in characters.
pub const SIGNATURE_LIMIT: usize = 10_000;
/// Largest signature HTML, in bytes: room for a logo or two, pasted as data URLs.
pub const SIGNATURE_HTML_LIMIT: usize = 512 * 1024;

/// A mailbox just authorized, to store as a new account or to reconnect an existing one.
#[derive(Debug)]
pub struct Connection<'a> {
    pub user: UserId,
    pub provider: Provider,
    pub remote_id: &'a str,
    pub address: &'a str,
    pub display_name: Option<&'a str>,
    pub identities: &'a [Identity],
    pub access_token: &'a SecretString,
    pub refresh_token: &'a SecretString,
    pub expires_at: i64,
    pub scopes: &'a [String],
    pub import_days: u32,
}

/// An account's tokens, opened.
pub struct AccountTokens {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_at: Option<i64>,
}

/// An authorization in progress, as the callback finds it.
#[derive(Debug)]
pub struct PendingAuthorization {
    pub user: UserId,
    pub provider: Provider,
    pub verifier: SecretString,
    pub import_days: u32,
}

/// Why a callback's `state` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateProblem {
    /// Never issued, or already used.
    Unknown,
    /// Older than ten minutes.
    Expired,
    /// Issued to another session.
    Foreign,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: i64,
    user_id: i64,
    provider: String,
    remote_id: String,
    address: String,
    display_name: Option<String>,
    status: String,
    token_expires_at: Option<i64>,
    import_days: i64,
    last_sync_at: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Account {
            id: AccountId(row.id),
            user_id: UserId(row.user_id),
            // The columns' CHECK constraints admit only known values.
            provider: Provider::parse(&row.provider).unwrap_or(Provider::Google),
            remote_id: row.remote_id,
            address: row.address,
            display_name: row.display_name,
            status: AccountStatus::parse(&row.status).unwrap_or(AccountStatus::Disabled),
            token_expires_at: row.token_expires_at,
            import_days: u32::try_from(row.import_days).unwrap_or(0),
            last_sync_at: row.last_sync_at,
            last_error: row.last_error,
            created_at: row.created_at,
        }
    }
}

macro_rules! account_columns {
    () => {
        "id, user_id, provider, remote_id, address, display_name, status, token_expires_at, import_days, \
         last_sync_at, last_error, created_at"
    };
}

fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Associated data for an account's sealed token: which account and which token, so a sealed
/// token copied to another row or column does not open.
fn token_aad(user: UserId, provider: Provider, remote_id: &str, which: &str) -> Vec<u8> {
    format!("accounts:{user}:{provider}:{remote_id}:{which}").into_bytes()
}

impl Store {
    /// Records an authorization about to start and returns the `state` to send with it.
    pub async fn begin_authorization(
        &self,
        user: UserId,
        session: &SessionToken,
        provider: Provider,
        verifier: &SecretString,
        import_days: u32,
        now: i64,
    ) -> Result<String> {
        let state = crate::random_token();
        let state_hash = sha256_hex(&state);
        let sealed =
            self.cipher.seal(verifier.expose_secret().as_bytes(), format!("oauth_states:{state_hash}").as_bytes());
        let sweep = "DELETE FROM oauth_states WHERE expires_at <= $1";
        let insert = "INSERT INTO oauth_states (state_hash, session_hash, user_id, provider, verifier, import_days, \
                      created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        with_pool!(self.db, pool => {
            sqlx::query(sweep).bind(now).execute(pool).await?;
            sqlx::query(insert)
                .bind(&state_hash)
                .bind(sha256_hex(session.expose()))
                .bind(user.0)
                .bind(provider.as_str())
                .bind(&sealed)
                .bind(i64::from(import_days))
                .bind(now)
                .bind(now + AUTHORIZATION_LIFETIME_SECS)
                .execute(pool)
                .await?;
        });
        Ok(state)
    }

    /// Takes the authorization a callback's `state` belongs to. The row is deleted whatever the
    /// outcome, so a state works once.
    pub async fn take_authorization(
        &self,
        state: &str,
        session: &SessionToken,
        now: i64,
    ) -> Result<std::result::Result<PendingAuthorization, StateProblem>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            session_hash: String,
            user_id: i64,
            provider: String,
            verifier: Vec<u8>,
            import_days: i64,
            expires_at: i64,
        }
        let state_hash = sha256_hex(state);
        let sql = "DELETE FROM oauth_states WHERE state_hash = $1 \
                   RETURNING session_hash, user_id, provider, verifier, import_days, expires_at";
        let row: Option<Row> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(&state_hash).fetch_optional(pool).await)?;
        let Some(row) = row else { return Ok(Err(StateProblem::Unknown)) };
        if row.session_hash != sha256_hex(session.expose()) {
            return Ok(Err(StateProblem::Foreign));
        }
        if row.expires_at <= now {
            return Ok(Err(StateProblem::Expired));
        }
        let verifier = self.cipher.open(&row.verifier, format!("oauth_states:{state_hash}").as_bytes())?;
        Ok(Ok(PendingAuthorization {
            user: UserId(row.user_id),
            provider: Provider::parse(&row.provider).unwrap_or(Provider::Google),
            verifier: SecretString::from(String::from_utf8_lossy(&verifier).into_owned()),
            import_days: u32::try_from(row.import_days).unwrap_or(0),
        }))
    }

    /// Stores a newly authorized mailbox, or, when the user already has it, gives it the new
    /// tokens and makes it active again, keeping its data. Identities are replaced. One
    /// transaction: the account never exists without its tokens. Returns the account and whether
    /// it was a reconnect.
    pub async fn connect_account(&self, c: &Connection<'_>, now: i64) -> Result<(Account, bool)> {
        let seal = |which: &str, secret: &SecretString| {
            self.cipher.seal(secret.expose_secret().as_bytes(), &token_aad(c.user, c.provider, c.remote_id, which))
        };
        let access = seal("access_token", c.access_token);
        let refresh = seal("refresh_token", c.refresh_token);
        let existing = "SELECT id FROM accounts WHERE user_id = $1 AND provider = $2 AND remote_id = $3";
        let insert = concat!(
            "INSERT INTO accounts (user_id, provider, remote_id, address, display_name, status, access_token, ",
            "refresh_token, token_expires_at, scopes, import_days, created_at, updated_at) ",
            "VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $9, $10, $11, $11) RETURNING ",
            account_columns!()
        );
        let update = concat!(
            "UPDATE accounts SET address = $2, display_name = $3, status = 'active', access_token = $4, ",
            "refresh_token = $5, token_expires_at = $6, scopes = $7, last_error = NULL, refresh_lease_until = NULL, ",
            "updated_at = $8 WHERE id = $1 RETURNING ",
            account_columns!()
        );
        let scopes = c.scopes.join(" ");
        let (row, reconnected): (AccountRow, bool) = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let id: Option<i64> = sqlx::query_scalar(existing)
                .bind(c.user.0)
                .bind(c.provider.as_str())
                .bind(c.remote_id)
                .fetch_optional(&mut *tx)
                .await?;
            let result = match id {
                Some(id) => {
                    let row: AccountRow = sqlx::query_as(update)
                        .bind(id)
                        .bind(c.address)
                        .bind(c.display_name)
                        .bind(&access)
                        .bind(&refresh)
                        .bind(c.expires_at)
                        .bind(&scopes)
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?;
                    (row, true)
                }
                None => {
                    let row: AccountRow = sqlx::query_as(insert)
                        .bind(c.user.0)
                        .bind(c.provider.as_str())
                        .bind(c.remote_id)
                        .bind(c.address)
                        .bind(c.display_name)
                        .bind(&access)
                        .bind(&refresh)
                        .bind(c.expires_at)
                        .bind(&scopes)
                        .bind(i64::from(c.import_days))
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?;
                    (row, false)
                }
            };
            let account_id: i64 = result.0.id;
            sqlx::query("DELETE FROM identities WHERE account_id = $1").bind(account_id).execute(&mut *tx).await?;
            for identity in c.identities {
                sqlx::query(
                    "INSERT INTO identities (account_id, address, name, is_default) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (account_id, address) DO NOTHING",
                )
                .bind(account_id)
                .bind(identity.address.to_lowercase())
                .bind(identity.name.as_deref())
                .bind(identity.is_default)
                .execute(&mut *tx)
                .await?;
            }
            // The user's own addresses may have changed, and who is a correspondent with them.
            sqlx::query(crate::messages::MARK_STALE).bind(c.user.0).execute(&mut *tx).await?;
            tx.commit().await?;
            result
        });
        Ok((row.into(), reconnected))
    }

    /// The user's accounts, by address.
    pub async fn accounts_of(&self, user: UserId) -> Result<Vec<Account>> {
        let sql = concat!("SELECT ", account_columns!(), " FROM accounts WHERE user_id = $1 ORDER BY address, id");
        let rows: Vec<AccountRow> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(user.0).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(Account::from).collect())
    }

    /// Every account, for administrators: no tokens, no mail.
    pub async fn all_accounts(&self) -> Result<Vec<Account>> {
        let sql = concat!("SELECT ", account_columns!(), " FROM accounts ORDER BY user_id, address, id");
        let rows: Vec<AccountRow> = with_pool!(self.db, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(Account::from).collect())
    }

    /// The account by id, for the engine that syncs it; routes use [`Store::account_of`].
    pub async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        let sql = concat!("SELECT ", account_columns!(), " FROM accounts WHERE id = $1");
        let row: Option<AccountRow> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(id.0).fetch_optional(pool).await)?;
        Ok(row.map(Account::from))
    }

    /// The account, if it belongs to `user`: every route reaches accounts through this.
    pub async fn account_of(&self, user: UserId, id: AccountId) -> Result<Option<Account>> {
        let sql = concat!("SELECT ", account_columns!(), " FROM accounts WHERE id = $1 AND user_id = $2");
        let row: Option<AccountRow> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(id.0).bind(user.0).fetch_optional(pool).await)?;
        Ok(row.map(Account::from))
    }

    pub async fn identities(&self, id: AccountId) -> Result<Vec<Identity>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            address: String,
            name: Option<String>,
            is_default: bool,
        }
        let sql =
            "SELECT address, name, is_default FROM identities WHERE account_id = $1 ORDER BY is_default DESC, address";
        let rows: Vec<Row> = with_pool!(self.db, pool => sqlx::query_as(sql).bind(id.0).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|r| Identity { address: r.address, name: r.name, is_default: r.is_default }).collect())
    }

    /// The signature the user wrote for sending as `address` from the account, if any.
    pub async fn signature(&self, id: AccountId, address: &str) -> Result<Option<String>> {
        let sql = "SELECT body FROM signatures WHERE account_id = $1 AND address = $2";
        Ok(
            with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(id.0).bind(address.to_lowercase()).fetch_optional(pool).await)?,
        )
    }

    /// The HTML of the signature for sending as `address` from the account, when it was written
    /// with the editor.
    pub async fn signature_html(&self, id: AccountId, address: &str) -> Result<Option<String>> {
        let sql = "SELECT html FROM signatures WHERE account_id = $1 AND address = $2";
        let html: Option<Option<String>> = with_pool!(self.db, pool => sqlx::query_scalar(sql)
            .bind(id.0).bind(address.to_lowercase()).fetch_optional(pool).await)?;
        Ok(html.flatten())
    }

    /// Sets the signature for sending as `address` from the user's account `id` (an empty one
    /// removes it). False when the account is not the user's, the address not one of its
    /// identities, or the signature longer than [`SIGNATURE_LIMIT`]; nothing changes then.
    pub async fn set_signature(
        &self,
        user: UserId,
        id: AccountId,
        address: &str,
        body: &str,
        now: i64,
    ) -> Result<bool> {
        self.set_rich_signature(user, id, address, (body, None), now).await
    }

    /// [`Store::set_signature`] with the editor's HTML (cleaned by the caller) beside the text;
    /// the HTML is refused over [`SIGNATURE_HTML_LIMIT`] bytes.
    pub async fn set_rich_signature(
        &self,
        user: UserId,
        id: AccountId,
        address: &str,
        (body, html): (&str, Option<&str>),
        now: i64,
    ) -> Result<bool> {
        let body = body.trim_end();
        if body.chars().count() > SIGNATURE_LIMIT || html.is_some_and(|h| h.len() > SIGNATURE_HTML_LIMIT) {
            return Ok(false);
        }
        let address = address.to_lowercase();
        let known = "SELECT COUNT(*) FROM accounts a WHERE a.id = $1 AND a.user_id = $2 AND (LOWER(a.address) = $3 \
             OR EXISTS (SELECT 1 FROM identities i WHERE i.account_id = a.id AND LOWER(i.address) = $3))";
        let upsert = "INSERT INTO signatures (account_id, address, body, updated_at, html) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account_id, address) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at, \
             html = excluded.html";
        let remove = "DELETE FROM signatures WHERE account_id = $1 AND address = $2";
        let saved = with_pool!(self.db, pool => {
            let found: i64 = sqlx::query_scalar(known).bind(id.0).bind(user.0).bind(&address).fetch_one(pool).await?;
            if found == 0 {
                false
            } else {
                if body.is_empty() {
                    sqlx::query(remove).bind(id.0).bind(&address).execute(pool).await?;
                } else {
                    sqlx::query(upsert).bind(id.0).bind(&address).bind(body).bind(now).bind(html).execute(pool).await?;
                }
                true
            }
        });
        Ok(saved)
    }

    /// The account's tokens, opened.
    pub async fn account_tokens(&self, account: &Account) -> Result<AccountTokens> {
        #[derive(sqlx::FromRow)]
        struct Row {
            access_token: Option<Vec<u8>>,
            refresh_token: Option<Vec<u8>>,
            token_expires_at: Option<i64>,
        }
        let sql = "SELECT access_token, refresh_token, token_expires_at FROM accounts WHERE id = $1";
        let row: Row = with_pool!(self.db, pool => sqlx::query_as(sql).bind(account.id.0).fetch_one(pool).await)?;
        let open = |sealed: Option<Vec<u8>>, which: &str| -> Result<Option<SecretString>> {
            let Some(sealed) = sealed else { return Ok(None) };
            let aad = token_aad(account.user_id, account.provider, &account.remote_id, which);
            let plain = self.cipher.open(&sealed, &aad)?;
            Ok(Some(SecretString::from(String::from_utf8_lossy(&plain).into_owned())))
        };
        Ok(AccountTokens {
            access_token: open(row.access_token, "access_token")?.unwrap_or_else(|| SecretString::from(String::new())),
            refresh_token: open(row.refresh_token, "refresh_token")?,
            expires_at: row.token_expires_at,
        })
    }

    /// Saves refreshed tokens, the rotated refresh token (Microsoft) with them in the same
    /// statement, and ends the refresh lease.
    pub async fn save_refreshed_tokens(
        &self,
        account: &Account,
        access_token: &SecretString,
        refresh_token: Option<&SecretString>,
        expires_at: i64,
        now: i64,
    ) -> Result<()> {
        let seal = |which: &str, secret: &SecretString| {
            let aad = token_aad(account.user_id, account.provider, &account.remote_id, which);
            self.cipher.seal(secret.expose_secret().as_bytes(), &aad)
        };
        let access = seal("access_token", access_token);
        let refresh = refresh_token.map(|r| seal("refresh_token", r));
        let sql = "UPDATE accounts SET access_token = $2, refresh_token = COALESCE($3, refresh_token), \
                   token_expires_at = $4, refresh_lease_until = NULL, updated_at = $5 WHERE id = $1";
        with_pool!(self.db, pool => sqlx::query(sql)
            .bind(account.id.0)
            .bind(&access)
            .bind(refresh.as_deref())
            .bind(expires_at)
            .bind(now)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// Takes the right to refresh the account's tokens for `lease_secs`, unless another task or
    /// process holds it: one conditional UPDATE, atomic on both databases, so at most one refresh
    /// per account runs at a time.
    pub async fn lease_refresh(&self, id: AccountId, now: i64, lease_secs: i64) -> Result<bool> {
        let sql = "UPDATE accounts SET refresh_lease_until = $2 \
                   WHERE id = $1 AND (refresh_lease_until IS NULL OR refresh_lease_until <= $3)";
        let taken = with_pool!(self.db, pool => sqlx::query(sql)
            .bind(id.0)
            .bind(now + lease_secs)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(taken == 1)
    }

    /// Gives the refresh lease back without new tokens (the refresh failed for now).
    pub async fn release_refresh_lease(&self, id: AccountId) -> Result<()> {
        let sql = "UPDATE accounts SET refresh_lease_until = NULL WHERE id = $1";
        with_pool!(self.db, pool => sqlx::query(sql).bind(id.0).execute(pool).await.map(drop))?;
        Ok(())
    }

    pub async fn set_account_status(
        &self,
        id: AccountId,
        status: AccountStatus,
        error: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let sql = "UPDATE accounts SET status = $2, last_error = $3, refresh_lease_until = NULL, updated_at = $4 WHERE id = $1";
        with_pool!(self.db, pool => sqlx::query(sql)
            .bind(id.0)
            .bind(status.as_str())
            .bind(error)
            .bind(now)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// Removes the account, its tokens and its identities; `false` when it is not the user's. Its
    /// mail goes with it, and the user's correspondents are counted again before the next
    /// suggestion (see `Store::refresh_correspondents`).
    pub async fn delete_account(&self, user: UserId, id: AccountId) -> Result<bool> {
        let sql = "DELETE FROM accounts WHERE id = $1 AND user_id = $2";
        let deleted = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let deleted = sqlx::query(sql).bind(id.0).bind(user.0).execute(&mut *tx).await?.rows_affected();
            if deleted == 1 {
                sqlx::query(crate::messages::MARK_STALE).bind(user.0).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            deleted
        });
        Ok(deleted == 1)
    }
}
