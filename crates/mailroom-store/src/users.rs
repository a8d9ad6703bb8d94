use mailroom_domain::{DisplayName, EmailAddress, Language, Password, Role, UserId};

use crate::db::{BeginWrite, with_pool};
use crate::{Result, Store, now, password};

/// A Mailroom user, without the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub language: Option<Language>,
    /// An IANA time-zone name, as the web layer checked it; `None` until known.
    pub time_zone: Option<String>,
    pub created_at: i64,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    email: String,
    name: String,
    role: String,
    disabled: bool,
    language: Option<String>,
    time_zone: Option<String>,
    created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: UserId(row.id),
            email: row.email,
            name: row.name,
            // The column's CHECK constraint admits only the two roles; anything else is read as the
            // lesser one.
            role: Role::parse(&row.role).unwrap_or(Role::Member),
            disabled: row.disabled,
            language: row.language.as_deref().and_then(Language::parse),
            time_zone: row.time_zone,
            created_at: row.created_at,
        }
    }
}

/// The columns `UserRow` reads, as a macro so that queries stay `&'static str` (sqlx refuses
/// SQL built at run time unless it is marked as audited).
macro_rules! user_columns {
    () => {
        "id, email, name, role, disabled, language, time_zone, created_at"
    };
    ($alias:literal) => {
        concat!(
            $alias,
            ".id, ",
            $alias,
            ".email, ",
            $alias,
            ".name, ",
            $alias,
            ".role, ",
            $alias,
            ".disabled, ",
            $alias,
            ".language, ",
            $alias,
            ".time_zone, ",
            $alias,
            ".created_at"
        )
    };
}
pub(crate) use user_columns;

/// A user to create.
#[derive(Debug)]
pub struct NewUser {
    pub email: EmailAddress,
    pub name: DisplayName,
    pub password: Password,
    pub role: Role,
}

impl Store {
    pub async fn count_users(&self) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM users";
        Ok(with_pool!(self.db, pool => sqlx::query_scalar(sql).fetch_one(pool).await)?)
    }

    /// Creates the first administrator, only while there are no users at all; `None` when
    /// somebody else was first. One statement, so two people racing through setup cannot both win.
    pub async fn create_first_admin(&self, new: &NewUser) -> Result<Option<User>> {
        let hash = password::hash(&new.password).await?;
        let sql = concat!(
            "INSERT INTO users (email, name, password_hash, role, disabled, created_at) ",
            "SELECT $1, $2, $3, 'admin', FALSE, $4 WHERE NOT EXISTS (SELECT 1 FROM users) RETURNING ",
            user_columns!()
        );
        let row: Option<UserRow> = with_pool!(self.db, pool => sqlx::query_as(sql)
            .bind(new.email.as_str())
            .bind(new.name.as_str())
            .bind(&hash)
            .bind(now())
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(User::from))
    }

    /// Creates a user; `Ok(None)` when the email address is taken.
    pub async fn create_user(&self, new: &NewUser) -> Result<Option<User>> {
        let hash = password::hash(&new.password).await?;
        let sql = concat!(
            "INSERT INTO users (email, name, password_hash, role, disabled, created_at) ",
            "VALUES ($1, $2, $3, $4, FALSE, $5) RETURNING ",
            user_columns!()
        );
        let result: Result<UserRow, sqlx::Error> = with_pool!(self.db, pool => sqlx::query_as(sql)
            .bind(new.email.as_str())
            .bind(new.name.as_str())
            .bind(&hash)
            .bind(new.role.as_str())
            .bind(now())
            .fetch_one(pool)
            .await);
        match result {
            Ok(row) => Ok(Some(row.into())),
            Err(sqlx::Error::Database(err)) if err.is_unique_violation() => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
        let row: Option<UserRow> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(id.0).fetch_optional(pool).await)?;
        Ok(row.map(User::from))
    }

    /// The user who signs in with this address (addresses are stored as parsed, lowercase).
    pub async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1");
        let row: Option<UserRow> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(email.as_str()).fetch_optional(pool).await)?;
        Ok(row.map(User::from))
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users ORDER BY email");
        let rows: Vec<UserRow> = with_pool!(self.db, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    /// The enabled user with this email address and password. A wrong password, an unknown
    /// address and a disabled user all give `None`, after the same work.
    pub async fn check_login(&self, email: &EmailAddress, password: &str) -> Result<Option<User>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let sql = concat!("SELECT ", user_columns!(), ", password_hash FROM users WHERE email = $1");
        let row: Option<Row> =
            with_pool!(self.db, pool => sqlx::query_as(sql).bind(email.as_str()).fetch_optional(pool).await)?;
        let Some(row) = row else {
            password::verify(password, password::decoy_hash().await?).await;
            return Ok(None);
        };
        let matches = password::verify(password, row.password_hash).await;
        let user = User::from(row.user);
        Ok((matches && !user.disabled).then_some(user))
    }

    /// Disables or enables a user. Disabling ends all their sessions in the same transaction, so
    /// no request is served for them afterwards. `false` when there is no such user.
    pub async fn set_user_disabled(&self, id: UserId, disabled: bool) -> Result<bool> {
        let changed = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                .bind(disabled)
                .bind(id.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if disabled {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id.0).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            changed
        });
        Ok(changed == 1)
    }

    /// Sets a new password and ends the user's sessions, so whoever knew the old one is out.
    pub async fn set_password(&self, id: UserId, new: &Password) -> Result<bool> {
        let hash = password::hash(new).await?;
        let changed = with_pool!(self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(&hash)
                .bind(id.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id.0).execute(&mut *tx).await?;
            tx.commit().await?;
            changed
        });
        Ok(changed == 1)
    }

    /// Sets the name the user goes by, one the caller has checked.
    pub async fn set_user_name(&self, id: UserId, name: &str) -> Result<()> {
        let sql = "UPDATE users SET name = $1 WHERE id = $2";
        with_pool!(self.db, pool => sqlx::query(sql).bind(name).bind(id.0).execute(pool).await.map(drop))?;
        Ok(())
    }

    pub async fn set_user_language(&self, id: UserId, language: Language) -> Result<()> {
        let sql = "UPDATE users SET language = $1 WHERE id = $2";
        with_pool!(self.db, pool => sqlx::query(sql).bind(language.code()).bind(id.0).execute(pool).await.map(drop))?;
        Ok(())
    }

    /// Sets the user's time zone, an IANA name the caller has checked.
    pub async fn set_user_time_zone(&self, id: UserId, zone: &str) -> Result<()> {
        let sql = "UPDATE users SET time_zone = $1 WHERE id = $2";
        with_pool!(self.db, pool => sqlx::query(sql).bind(zone).bind(id.0).execute(pool).await.map(drop))?;
        Ok(())
    }

    /// Sets the user's time zone only while it is not known, so what the browser reports at a
    /// sign-in never overrides the user's own choice; whether it was set.
    pub async fn set_user_time_zone_if_unknown(&self, id: UserId, zone: &str) -> Result<bool> {
        let sql = "UPDATE users SET time_zone = $1 WHERE id = $2 AND time_zone IS NULL";
        let changed = with_pool!(self.db, pool => sqlx::query(sql)
            .bind(zone)
            .bind(id.0)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(changed == 1)
    }
}
