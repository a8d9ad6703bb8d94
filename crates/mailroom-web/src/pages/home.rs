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
    Ok(HomePage { ctx, welcome }.into_response())
}
