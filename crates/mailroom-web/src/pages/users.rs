//! User management for administrators: list, create, disable/enable, reset password.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailroom_domain::{DisplayName, EmailAddress, Password, Role, UserId};
use mailroom_store::{NewUser, User};
use serde::Deserialize;

use super::{FieldErrors, see_other};
use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::viewer::{Admin, Ctx};

#[derive(Template, WebTemplate)]
#[template(path = "users.html")]
struct UsersPage {
    ctx: Ctx,
    me: User,
    users: Vec<User>,
    form: NewUserForm,
    errors: FieldErrors,
    /// The user whose password reset was refused, and why.
    reset_error: Option<(UserId, String)>,
}

impl UsersPage {
    fn reset_error_for(&self, id: &UserId) -> Option<&str> {
        self.reset_error.as_ref().filter(|(user, _)| user == id).map(|(_, message)| message.as_str())
    }
}

#[derive(Deserialize, Default)]
pub struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

async fn page(
    state: &AppState,
    ctx: Ctx,
    me: User,
    form: NewUserForm,
    errors: FieldErrors,
) -> Result<UsersPage, ErrorKind> {
    let users = state.store.users().await.map_err(internal)?;
    Ok(UsersPage { ctx, me, users, form, errors, reset_error: None })
}

pub async fn list(State(state): State<AppState>, Admin(me): Admin, ctx: Ctx) -> Result<Response, ErrorKind> {
    let form = NewUserForm { role: Role::Member.as_str().to_owned(), ..NewUserForm::default() };
    Ok(page(&state, ctx, me, form, FieldErrors::default()).await?.into_response())
}

pub async fn create(
    State(state): State<AppState>,
    Admin(me): Admin,
    ctx: Ctx,
    Form(form): Form<NewUserForm>,
) -> Result<Response, ErrorKind> {
    let t = ctx.t;
    let mut errors = FieldErrors::default();
    let email = errors.check(t, "email", EmailAddress::parse(&form.email));
    let name = errors.check(t, "name", DisplayName::parse(&form.name));
    let password = errors.check(t, "password", Password::parse(&form.password));
    let role = errors.check(t, "role", Role::parse(&form.role));
    if let (Some(email), Some(name), Some(password), Some(role)) = (email, name, password, role) {
        let new = NewUser { email, name, password, role };
        if let Some(user) = state.store.create_user(&new).await.map_err(internal)? {
            tracing::info!(user.id = %user.id, by = %me.id, "user created");
            return Ok(see_other("/admin/users", "user_created"));
        }
        errors.add("email", t.email_taken);
    }
    let page = page(&state, ctx, me, NewUserForm { password: String::new(), ..form }, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

pub async fn disable(
    State(state): State<AppState>,
    Admin(me): Admin,
    Path(id): Path<i64>,
) -> Result<Response, ErrorKind> {
    let id = UserId(id);
    let target = state.store.user(id).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
    // Only an active administrator gets here, so refusing to disable oneself also keeps at least
    // one administrator.
    if target.id == me.id {
        return Ok(see_other("/admin/users", "cannot_disable_self"));
    }
    state.store.set_user_disabled(id, true).await.map_err(internal)?;
    tracing::info!(user.id = %id, by = %me.id, "user disabled");
    Ok(see_other("/admin/users", "user_disabled"))
}

pub async fn enable(
    State(state): State<AppState>,
    Admin(me): Admin,
    Path(id): Path<i64>,
) -> Result<Response, ErrorKind> {
    let id = UserId(id);
    if !state.store.set_user_disabled(id, false).await.map_err(internal)? {
        return Err(ErrorKind::NotFound);
    }
    tracing::info!(user.id = %id, by = %me.id, "user enabled");
    Ok(see_other("/admin/users", "user_enabled"))
}

pub async fn reset_password(
    State(state): State<AppState>,
    Admin(me): Admin,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(form): Form<PasswordForm>,
) -> Result<Response, ErrorKind> {
    let id = UserId(id);
    state.store.user(id).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
    match Password::parse(&form.password) {
        Ok(password) => {
            state.store.set_password(id, &password).await.map_err(internal)?;
            tracing::info!(user.id = %id, by = %me.id, "password reset");
            Ok(see_other("/admin/users", "password_reset"))
        }
        Err(invalid) => {
            let message = ctx.t.invalid(invalid);
            let form = NewUserForm { role: Role::Member.as_str().to_owned(), ..NewUserForm::default() };
            let mut page = page(&state, ctx, me, form, FieldErrors::default()).await?;
            page.reset_error = Some((id, message));
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}
