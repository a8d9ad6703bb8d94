//! Personal access tokens: how business code and scripts reach the HTTP API as a user. A token is
//! shown once, when it is made; the database keeps its SHA-256, its owner and a name the owner
//! chose. A token works only while its user is enabled, and is revoked by deleting it.

use std::fmt;

use mailroom_domain::UserId;
use sha2::{Digest, Sha256};

use crate::db::with_pool;
use crate::users::{UserRow, user_columns};
use crate::{Result, Store, User};

/// What every token starts with, so that a leaked one is easy to recognise (and to scan for).
const PREFIX: &str = "mr_";
/// Characters of a token's name at most.
pub const TOKEN_NAME_MAX: usize = 100;

/// A token as its holder presents it. Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    fn generate() -> ApiToken {
        ApiToken(format!("{PREFIX}{}", crate::random_token()))
    }

    /// Takes a token as it came in an `Authorization: Bearer` header. Anything that is not the
    /// shape we issue is refused before it reaches the database.
    pub fn parse(value: &str) -> Option<ApiToken> {
        let secret = value.strip_prefix(PREFIX)?;
        (secret.len() == 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| ApiToken(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

/// A token as its owner sees it in the list: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenInfo {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl Store {
    /// Makes a token for `user` named `name` (trimmed, 1 to [`TOKEN_NAME_MAX`] characters) and
    /// returns it: the only time it can be read.
    pub async fn create_api_token(&self, user: UserId, name: &str, now: i64) -> Result<Option<ApiToken>> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > TOKEN_NAME_MAX {
            return Ok(None);
        }
        let token = ApiToken::generate();
        let sql = "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)";
        with_pool!(self.db, pool => sqlx::query(sql)
            .bind(user.0)
            .bind(name)
            .bind(token.hash())
            .bind(now)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(Some(token))
    }

    /// The user's tokens, newest first.
    pub async fn api_tokens(&self, user: UserId) -> Result<Vec<ApiTokenInfo>> {
        let sql = "SELECT id, name, created_at, last_used_at FROM api_tokens WHERE user_id = $1 ORDER BY id DESC";
        let rows: Vec<(i64, String, i64, Option<i64>)> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(user.0).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(id, name, created_at, last_used_at)| ApiTokenInfo { id, name, created_at, last_used_at })
            .collect())
    }

    /// Revokes one of the user's tokens. False when the user has no token with this id, which
    /// includes another user's token.
    pub async fn revoke_api_token(&self, user: UserId, id: i64) -> Result<bool> {
        let sql = "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2";
        let deleted = with_pool!(self.db, pool => sqlx::query(sql)
            .bind(id)
            .bind(user.0)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(deleted > 0)
    }

    /// The enabled user who holds this token, noting when it was used.
    pub async fn api_token_user(&self, token: &ApiToken, now: i64) -> Result<Option<User>> {
        let sql = concat!(
            "SELECT ",
            user_columns!("u"),
            " FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND NOT u.disabled"
        );
        // Recorded at most once a minute per token, so reads do not each become a write.
        let touch = "UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1 \
                     AND (last_used_at IS NULL OR last_used_at < $2 - 60)";
        let hash = token.hash();
        let row: Option<UserRow> = with_pool!(self.db, pool => {
            let row: Option<UserRow> = sqlx::query_as(sql).bind(&hash).fetch_optional(pool).await?;
            if row.is_some() {
                sqlx::query(touch).bind(&hash).bind(now).execute(pool).await?;
            }
            row
        });
        Ok(row.map(User::from))
    }
}
