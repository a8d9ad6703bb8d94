//! Login sessions. The browser holds a random token; the database holds its SHA-256, the user and
//! the expiry. A session is valid only while its user is enabled.

use std::fmt;

use mailroom_domain::UserId;
use sha2::{Digest, Sha256};

use crate::db::with_pool;
use crate::users::{UserRow, user_columns};
use crate::{Result, Store, User};

/// The secret a browser presents to prove its session. Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    fn generate() -> SessionToken {
        SessionToken(crate::random_token())
    }

    /// Takes a token as it came from a cookie. Anything that is not the shape we issue is refused
    /// before it reaches the database.
    pub fn from_cookie(value: &str) -> Option<SessionToken> {
        (value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| SessionToken(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

impl Store {
    /// Starts a new session for `user` lasting `ttl_secs`, and clears expired ones.
    pub async fn create_session(&self, user: UserId, now: i64, ttl_secs: i64) -> Result<SessionToken> {
        let token = SessionToken::generate();
        let insert = "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
        let sweep = "DELETE FROM sessions WHERE expires_at <= $1";
        with_pool!(self.db, pool => {
            sqlx::query(sweep).bind(now).execute(pool).await?;
            sqlx::query(insert)
                .bind(token.hash())
                .bind(user.0)
                .bind(now)
                .bind(now.saturating_add(ttl_secs))
                .execute(pool)
                .await?;
        });
        Ok(token)
    }

    /// The enabled user whose unexpired session this is.
    pub async fn session_user(&self, token: &SessionToken, now: i64) -> Result<Option<User>> {
        let sql = concat!(
            "SELECT ",
            user_columns!("u"),
            " FROM sessions s JOIN users u ON u.id = s.user_id ",
            "WHERE s.token_hash = $1 AND s.expires_at > $2 AND NOT u.disabled"
        );
        let row: Option<UserRow> = with_pool!(self.db, pool => sqlx::query_as(sql)
            .bind(token.hash())
            .bind(now)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(User::from))
    }

    pub async fn delete_session(&self, token: &SessionToken) -> Result<()> {
        let sql = "DELETE FROM sessions WHERE token_hash = $1";
        with_pool!(self.db, pool => sqlx::query(sql).bind(token.hash()).execute(pool).await.map(drop))?;
        Ok(())
    }

    pub async fn count_sessions(&self, user: UserId) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM sessions WHERE user_id = $1";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).bind(user.0).fetch_one(pool).await)?)
    }
}
