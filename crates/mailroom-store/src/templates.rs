//! Message templates, one set per user, named uniquely within it.

use mailroom_domain::{Template, UserId};

use crate::db::with_pool;
use crate::{Result, Store};

/// A template as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredTemplate {
    pub id: i64,
    pub name: String,
    pub subject: String,
    pub body: String,
    pub updated_at: i64,
}

/// What saving a template did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateSaved {
    /// Saved under this id.
    Saved(i64),
    /// Another of the user's templates has the name; nothing changed.
    NameTaken,
    /// No such template of the user's; nothing changed.
    NotFound,
}

const COLUMNS: &str = "id, name, subject, body, updated_at";

impl Store {
    /// The user's templates by name.
    pub async fn templates(&self, user: UserId) -> Result<Vec<StoredTemplate>> {
        let sql = format!("SELECT {COLUMNS} FROM templates WHERE user_id = $1 ORDER BY name, id");
        Ok(
            with_pool!(self.db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(user.0).fetch_all(pool).await)?,
        )
    }

    /// One of the user's templates; `None` for another user's.
    pub async fn template(&self, user: UserId, id: i64) -> Result<Option<StoredTemplate>> {
        let sql = format!("SELECT {COLUMNS} FROM templates WHERE id = $1 AND user_id = $2");
        Ok(
            with_pool!(self.db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).bind(user.0).fetch_optional(pool).await)?,
        )
    }

    /// The user's template of this name.
    pub async fn template_named(&self, user: UserId, name: &str) -> Result<Option<StoredTemplate>> {
        let sql = format!("SELECT {COLUMNS} FROM templates WHERE user_id = $1 AND name = $2");
        Ok(
            with_pool!(self.db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(user.0).bind(name.trim()).fetch_optional(pool).await)?,
        )
    }

    /// Writes a new template (`id` `None`) or replaces one of the user's.
    pub async fn save_template(
        &self,
        user: UserId,
        id: Option<i64>,
        template: &Template,
        now: i64,
    ) -> Result<TemplateSaved> {
        let result: std::result::Result<Option<i64>, sqlx::Error> = match id {
            None => {
                let sql = "INSERT INTO templates (user_id, name, subject, body, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING id";
                with_pool!(self.db, pool => sqlx::query_scalar(sql)
                    .bind(user.0)
                    .bind(&template.name)
                    .bind(&template.subject)
                    .bind(&template.body)
                    .bind(now)
                    .fetch_optional(pool)
                    .await)
            }
            Some(id) => {
                let sql = "UPDATE templates SET name = $3, subject = $4, body = $5, updated_at = $6 \
                     WHERE id = $1 AND user_id = $2 RETURNING id";
                with_pool!(self.db, pool => sqlx::query_scalar(sql)
                    .bind(id)
                    .bind(user.0)
                    .bind(&template.name)
                    .bind(&template.subject)
                    .bind(&template.body)
                    .bind(now)
                    .fetch_optional(pool)
                    .await)
            }
        };
        match result {
            Ok(Some(id)) => Ok(TemplateSaved::Saved(id)),
            Ok(None) => Ok(TemplateSaved::NotFound),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(TemplateSaved::NameTaken),
            Err(error) => Err(error.into()),
        }
    }

    /// Deletes one of the user's templates; false when there is no such one.
    pub async fn delete_template(&self, user: UserId, id: i64) -> Result<bool> {
        let sql = "DELETE FROM templates WHERE id = $1 AND user_id = $2";
        let done = with_pool!(self.db, pool => sqlx::query(sql).bind(id).bind(user.0).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }
}
