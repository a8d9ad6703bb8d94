//! Personal access tokens: every user lists, creates and revokes their own. A new token is shown
//! in the answer to the form that made it, never again: the page is rendered, not redirected to,
//! and the store keeps only the token's hash.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mailroom_store::User;
use serde::Deserialize;

use super::{FieldErrors, see_other};
use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::viewer::{Ctx, SignedIn};

/// A token as a row of the list.
struct TokenRow {
    id: i64,
    name: String,
    created: String,
    last_used: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens.html")]
struct TokensPage {
    ctx: Ctx,
    tokens: Vec<TokenRow>,
    /// The token just made, shown this once.
    created: Option<String>,
    name: String,
    errors: FieldErrors,
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    #[serde(default)]
    name: String,
}

async fn page(state: &AppState, ctx: Ctx, user: &User) -> Result<TokensPage, ErrorKind> {
    let tokens = state
        .store
        .api_tokens(user.id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|token| TokenRow {
            id: token.id,
            name: token.name,
            created: ctx.clock.full(token.created_at),
            last_used: ctx.clock.when(token.last_used_at),
        })
        .collect();
    Ok(TokensPage { ctx, tokens, created: None, name: String::new(), errors: FieldErrors::default() })
}

pub async fn list(State(state): State<AppState>, SignedIn(me): SignedIn, ctx: Ctx) -> Result<Response, ErrorKind> {
    Ok(page(&state, ctx, &me).await?.into_response())
}

pub async fn create(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    ctx: Ctx,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, ErrorKind> {
    let t = ctx.t;
    let made = state.store.create_api_token(me.id, &form.name, mailroom_store::now()).await.map_err(internal)?;
    let mut page = page(&state, ctx, &me).await?;
    match made {
        Some(token) => {
            tracing::info!(user.id = %me.id, "API token created");
            page.created = Some(token.expose().to_owned());
            // The one answer that holds the token: no cache keeps a copy.
            Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
        }
        None => {
            page.name = form.name;
            page.errors.add("name", t.token_name_invalid);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

/// Another user's token, or one already revoked, is not found: the answer does not tell which.
pub async fn revoke(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, ErrorKind> {
    if !state.store.revoke_api_token(me.id, id).await.map_err(internal)? {
        return Err(ErrorKind::NotFound);
    }
    tracing::info!(user.id = %me.id, token.id = id, "API token revoked");
    Ok(see_other("/settings/tokens", "token_revoked"))
}
