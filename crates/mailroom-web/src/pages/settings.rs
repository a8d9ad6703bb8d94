//! `/settings`: one place for what is the user's own: the name they go by, the language and
//! time zone pages are shown in, and the way to their signatures, templates, mailboxes and API
//! tokens, each with what it holds.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailroom_domain::{DisplayName, UserId};
use serde::Deserialize;

use super::{FieldErrors, see_other};
use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::viewer::{Ctx, SignedIn};

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
struct SettingsPage {
    ctx: Ctx,
    /// The name as shown in the form: the stored one, or what was typed when it was refused.
    name: String,
    email: String,
    zone: String,
    mailboxes: usize,
    templates: usize,
    tokens: usize,
    errors: FieldErrors,
}

async fn page(
    state: &AppState,
    ctx: Ctx,
    user: UserId,
    name: String,
    errors: FieldErrors,
) -> Result<SettingsPage, ErrorKind> {
    let store = &state.store;
    let mailboxes = store.accounts_of(user).await.map_err(internal)?.len();
    let templates = store.templates(user).await.map_err(internal)?.len();
    let tokens = store.api_tokens(user).await.map_err(internal)?.len();
    let email = ctx.user.as_ref().map(|u| u.email.clone()).unwrap_or_default();
    let zone = ctx.clock.zone_name().to_owned();
    Ok(SettingsPage { ctx, name, email, zone, mailboxes, templates, tokens, errors })
}

/// `GET /settings`.
pub async fn show(State(state): State<AppState>, SignedIn(me): SignedIn, ctx: Ctx) -> Result<Response, ErrorKind> {
    Ok(page(&state, ctx, me.id, me.name.clone(), FieldErrors::default()).await?.into_response())
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    name: String,
}

/// `POST /settings/profile`: the name the user goes by; a name that is empty or holds control
/// characters is refused at its field and changes nothing.
pub async fn save_profile(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    ctx: Ctx,
    Form(form): Form<ProfileForm>,
) -> Result<Response, ErrorKind> {
    let mut errors = FieldErrors::default();
    let Some(name) = errors.check(ctx.t, "name", DisplayName::parse(&form.name)) else {
        let page = page(&state, ctx, me.id, form.name, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    state.store.set_user_name(me.id, name.as_str()).await.map_err(internal)?;
    Ok(see_other("/settings", "profile_saved"))
}
