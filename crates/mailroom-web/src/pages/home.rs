use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use crate::AppState;
use crate::errors::internal;
use crate::viewer::Ctx;

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
struct HomePage {
    ctx: Ctx,
    welcome: String,
    /// "Connected mailboxes: n", or `None` when there are none.
    mailboxes: Option<String>,
    /// An administrator who has not enabled any provider yet is pointed to the email settings.
    show_admin_hint: bool,
}

/// The start page; before the first administrator exists it leads to setup, and anonymous
/// visitors to the login page.
pub async fn show(State(state): State<AppState>, ctx: Ctx) -> Result<Response, crate::errors::ErrorKind> {
    let Some(user) = &ctx.user else {
        let users = state.store.count_users().await.map_err(internal)?;
        let to = if users == 0 { "/setup" } else { "/login" };
        return Ok(Redirect::to(to).into_response());
    };
    let welcome = ctx.t.home_welcome.replace("{name}", &user.name);
    let count = state.store.accounts_of(user.id).await.map_err(internal)?.len();
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    let mailboxes = (count > 0).then(|| ctx.count(&ctx.t.count_mailboxes, count));
    let settings = state.store.email_settings().await.map_err(internal)?;
    let show_admin_hint = user.is_admin() && !settings.google.enabled && !settings.microsoft.enabled;
    Ok(HomePage { ctx, welcome, mailboxes, show_admin_hint }.into_response())
}
