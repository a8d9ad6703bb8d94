//! Signatures: every user writes one per identity of each of their mailboxes; the compose page
//! puts it under a new message or a reply.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use mailroom_domain::AccountId;
use serde::Deserialize;

use super::see_other;
use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::viewer::{Ctx, SignedIn};

/// One identity's signature, as a form on the page.
struct SignatureRow {
    account: i64,
    address: String,
    label: String,
    body: String,
    /// The editor's HTML, when it was written formatted.
    html: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "signatures.html")]
struct SignaturesPage {
    ctx: Ctx,
    rows: Vec<SignatureRow>,
    limit: usize,
}

/// `GET /settings/signatures`.
pub async fn show(State(state): State<AppState>, SignedIn(me): SignedIn, ctx: Ctx) -> Result<Response, ErrorKind> {
    let mut rows = Vec::new();
    for account in state.store.accounts_of(me.id).await.map_err(internal)? {
        let mut addresses: Vec<(String, Option<String>)> = state
            .store
            .identities(account.id)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|i| (i.address, i.name))
            .collect();
        if addresses.is_empty() {
            addresses.push((account.address.clone(), account.display_name.clone()));
        }
        for (address, name) in addresses {
            let body = state.store.signature(account.id, &address).await.map_err(internal)?.unwrap_or_default();
            let html = state.store.signature_html(account.id, &address).await.map_err(internal)?.unwrap_or_default();
            let label = match name {
                Some(name) => format!("{name} <{address}>"),
                None => address.clone(),
            };
            rows.push(SignatureRow { account: account.id.0, address, label, body, html });
        }
    }
    Ok(SignaturesPage { ctx, rows, limit: mailroom_store::SIGNATURE_LIMIT }.into_response())
}

#[derive(Deserialize)]
pub struct SignatureForm {
    account: i64,
    address: String,
    #[serde(default)]
    body: String,
    /// The editor's HTML, taken only when the editor ran (`rich`): without script the plain
    /// text is what the user changed.
    #[serde(default)]
    html: String,
    #[serde(default)]
    rich: String,
}

/// `POST /settings/signatures`: saves one identity's signature (empty removes it).
pub async fn save(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    Form(form): Form<SignatureForm>,
) -> Result<Response, ErrorKind> {
    let body = form.body.replace("\r\n", "\n");
    let html = (form.rich == "1")
        .then(|| mailroom_mime::compose::editor_html_kept(&form.html))
        .filter(|html| !html.trim().is_empty() && !body.trim().is_empty());
    let saved = state
        .store
        .set_rich_signature(
            me.id,
            AccountId(form.account),
            &form.address,
            (&body, html.as_deref()),
            mailroom_store::now(),
        )
        .await
        .map_err(internal)?;
    if !saved {
        // Another user's mailbox, an address that is not one of its identities, or too long.
        let mine = state.store.account_of(me.id, AccountId(form.account)).await.map_err(internal)?;
        return match mine {
            None => Err(ErrorKind::NotFound),
            Some(_) => Ok(see_other("/settings/signatures", "signature_invalid")),
        };
    }
    Ok(see_other("/settings/signatures", "signature_saved"))
}
