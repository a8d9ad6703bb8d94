//! Message templates, one set per user, named uniquely within it. An administrator's template
//! may be shared: every user can start from it; only its owner changes it.

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
    /// Offered to every user.
    pub shared: bool,
}

/// A template another user shares, as the users it is offered to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedTemplate {
    pub template: StoredTemplate,
    /// Its owner's name.
    pub by: String,
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

const COLUMNS: &str = "id, name, subject, body, updated_at, shared <> 0 AS shared";

impl Store {
    /// The user's templates by name.
    pub async fn templates(&self, user: UserId) -> Result<Vec<StoredTemplate>> {
        let sql = format!("SELECT {COLUMNS} FROM templates WHERE user_id = $1 ORDER BY name, id");
        Ok(
            with_pool!(self.db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(user.0).fetch_all(pool).await)?,
        )
    }

    /// One of the user's templates, or one another user shares; `None` for another user's own.
    pub async fn template(&self, user: UserId, id: i64) -> Result<Option<StoredTemplate>> {
        let sql = format!("SELECT {COLUMNS} FROM templates WHERE id = $1 AND (user_id = $2 OR shared <> 0)");
        Ok(
            with_pool!(self.db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).bind(user.0).fetch_optional(pool).await)?,
        )
    }

    /// The templates other users share, by name.
    pub async fn shared_templates(&self, user: UserId) -> Result<Vec<SharedTemplate>> {
        let sql = "SELECT t.id, t.name, t.subject, t.body, t.updated_at, u.name FROM templates t \
             JOIN users u ON u.id = t.user_id WHERE t.shared <> 0 AND t.user_id <> $1 ORDER BY t.name, t.id";
        let rows: Vec<(i64, String, String, String, i64, String)> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(user.0).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(id, name, subject, body, updated_at, by)| SharedTemplate {
                template: StoredTemplate { id, name, subject, body, updated_at, shared: true },
                by,
            })
            .collect())
    }

    /// Shares one of the user's templates with every user, or stops sharing it (the caller
    /// checks that the user may); false when there is no such template of the user's.
    pub async fn set_template_shared(&self, user: UserId, id: i64, shared: bool) -> Result<bool> {
        let sql = "UPDATE templates SET shared = $3 WHERE id = $1 AND user_id = $2";
        let done = with_pool!(self.db, pool => sqlx::query(sql)
            .bind(id).bind(user.0).bind(i64::from(shared)).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
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
