//! Drafts: the compose page saves what is written two seconds after typing stops and when the
//! page is left (`POST /mail/drafts/save`); the outbox's writer keeps each draft at the
//! provider. `/mail/drafts` lists them to resume or discard; a draft changed at the provider
//! meanwhile is shown beside the user's version for them to choose.

use askama_web::WebTemplate;
use axum::Form;
use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::response::{IntoResponse, Response};
use mailroom_store::DraftFields;
use serde::Deserialize;

use super::compose::{read_form, theirs_fields};
use super::see_other;
use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::viewer::{Ctx, SignedIn};

/// `POST /mail/drafts/save`: the compose form as it is (files apart); answers the draft's id and
/// where it stands.
pub async fn save(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    multipart: Multipart,
) -> Result<Response, ErrorKind> {
    let (form, _files, _) = read_form(multipart).await?;
    let (id, fields) = form.into_draft().ok_or(ErrorKind::BadRequest)?;
    let saved = state.store.save_draft(me.id, id, &fields, mailroom_store::now()).await.map_err(internal)?;
    let draft = saved.ok_or(ErrorKind::NotFound)?;
    state.outbox_wake.notify_one();
    Ok(Json(serde_json::json!({"id": draft.id, "conflict": draft.conflict, "at_provider": draft.is_pushed()}))
        .into_response())
}

struct DraftRow {
    id: i64,
    subject: String,
    to: String,
    when: String,
    state: &'static str,
}

#[derive(askama::Template, WebTemplate)]
#[template(path = "drafts.html")]
struct DraftsPage {
    ctx: Ctx,
    rows: Vec<DraftRow>,
}

/// `GET /mail/drafts`.
pub async fn list(State(state): State<AppState>, SignedIn(me): SignedIn, ctx: Ctx) -> Result<Response, ErrorKind> {
    let t = ctx.t;
    let rows = state
        .store
        .drafts(me.id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|d| DraftRow {
            id: d.id,
            state: if d.conflict {
                t.draft_conflict
            } else if d.is_pushed() {
                t.draft_at_provider
            } else {
                t.draft_saving
            },
            subject: if d.fields.subject.trim().is_empty() { t.no_subject.to_owned() } else { d.fields.subject },
            to: d.fields.to,
            when: ctx.clock.full(d.updated_at),
        })
        .collect();
    Ok(DraftsPage { ctx, rows }.into_response())
}

/// `POST /mail/drafts/{id}/discard`.
pub async fn discard(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, ErrorKind> {
    if !state.store.discard_draft(me.id, id, mailroom_store::now()).await.map_err(internal)? {
        return Err(ErrorKind::NotFound);
    }
    state.outbox_wake.notify_one();
    Ok(see_other("/mail/drafts", "draft_discarded"))
}

#[derive(Deserialize)]
pub struct Choice {
    keep: String,
}

/// `POST /mail/drafts/{id}/resolve`: `keep=mine` writes the user's version over the provider's;
/// `keep=theirs` takes the provider's.
pub async fn resolve(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    Path(id): Path<i64>,
    Form(choice): Form<Choice>,
) -> Result<Response, ErrorKind> {
    let draft = state.store.draft(me.id, id).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
    let theirs = match (choice.keep.as_str(), &draft.theirs_raw) {
        ("mine", _) => None,
        ("theirs", Some(raw)) => {
            let text = theirs_fields(raw);
            let f = &draft.fields;
            Some(DraftFields {
                to: text.to,
                cc: text.cc,
                bcc: text.bcc,
                subject: text.subject,
                body: text.body,
                ..f.clone()
            })
        }
        _ => return Err(ErrorKind::BadRequest),
    };
    let now = mailroom_store::now();
    if !state.store.resolve_draft(me.id, id, theirs.as_ref(), now).await.map_err(internal)? {
        return Err(ErrorKind::NotFound);
    }
    state.outbox_wake.notify_one();
    Ok(axum::response::Redirect::to(&format!("/mail/compose?draft={id}&notice=draft_resolved")).into_response())
}
