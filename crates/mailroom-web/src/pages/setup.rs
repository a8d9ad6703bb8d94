//! First start: create the first administrator. The page exists only while there are no users.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailroom_domain::{DisplayName, EmailAddress, Password, Role};
use mailroom_store::NewUser;
use serde::Deserialize;

use super::{FieldErrors, see_other};
use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::viewer::Ctx;

#[derive(Template, WebTemplate)]
#[template(path = "setup.html")]
struct SetupPage {
    ctx: Ctx,
    email: String,
    name: String,
    errors: FieldErrors,
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_repeat: String,
}

async fn setup_open(state: &AppState) -> Result<bool, ErrorKind> {
    Ok(state.store.count_users().await.map_err(internal)? == 0)
}

pub async fn show(State(state): State<AppState>, ctx: Ctx) -> Result<Response, ErrorKind> {
    if !setup_open(&state).await? {
        return Err(ErrorKind::NotFound);
    }
    Ok(SetupPage { ctx, email: String::new(), name: String::new(), errors: FieldErrors::default() }.into_response())
}

pub async fn submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<SetupForm>,
) -> Result<Response, ErrorKind> {
    if !setup_open(&state).await? {
        return Err(ErrorKind::NotFound);
    }
    let t = ctx.t;
    let mut errors = FieldErrors::default();
    let email = errors.check(t, "email", EmailAddress::parse(&form.email));
    let name = errors.check(t, "name", DisplayName::parse(&form.name));
    let password = errors.check(t, "password", Password::parse(&form.password));
    if password.is_some() && form.password != form.password_repeat {
        errors.add("password_repeat", t.passwords_differ);
    }
    let (Some(email), Some(name), Some(password), true) = (email, name, password, errors.is_empty()) else {
        let page = SetupPage { ctx, email: form.email, name: form.name, errors };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let new = NewUser { email, name, password, role: Role::Admin };
    match state.store.create_first_admin(&new).await.map_err(internal)? {
        Some(_) => Ok(see_other("/login", "setup_done")),
        // Somebody else finished setup first.
        None => Err(ErrorKind::NotFound),
    }
}
