//! Drafts: the compose page saves what is written two seconds after typing stops and when the
//! page is left (`POST /mail/drafts/save`); the outbox's writer keeps each draft at the
//! provider. `/mail/drafts` lists them to resume or discard; a draft changed at the provider
//! meanwhile is shown beside the user's version for them to choose.

use askama_web::WebTemplate;
use axum::Form;
use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mailroom_domain::UserId;
use mailroom_store::{DraftFields, DraftFile, FileAdded};
use serde::Deserialize;

use super::compose::{read_form, theirs_fields};
use super::{json_error, see_other, size_text, wants_json};
use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::viewer::{Ctx, SignedIn};

/// `POST /mail/drafts/save`: the compose form as it is (its files go up on their own); answers
/// the draft's id and where it stands.
pub async fn save(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    multipart: Multipart,
) -> Result<Response, ErrorKind> {
    let (form, _files) = read_form(multipart).await?;
    let (id, fields) = form.into_draft().ok_or(ErrorKind::BadRequest)?;
    let saved = state.store.save_draft(me.id, id, &fields, mailroom_store::now()).await.map_err(internal)?;
    let draft = saved.ok_or(ErrorKind::NotFound)?;
    state.outbox_wake.notify_one();
    Ok(Json(serde_json::json!({"id": draft.id, "conflict": draft.conflict, "at_provider": draft.is_pushed()}))
        .into_response())
}

/// The most the files of one draft may hold together, and so one file: what a message carries
/// from every mailbox Mailroom sends from.
pub const DRAFT_FILES_LIMIT: usize = crate::send::ATTACHMENT_LIMIT;

/// Whether a request to `path` may carry files (an upload, or the compose form posted to take
/// a file off without script), and so be as large as the compose form.
/// Whether `path` is where the compose page's script posts a file to a draft.
pub fn is_file_upload(path: &str) -> bool {
    path.starts_with("/mail/drafts/") && path.ends_with("/files")
}

pub fn carries_files(path: &str) -> bool {
    path.starts_with("/mail/drafts/") && (path.ends_with("/files") || path.ends_with("/remove"))
}

/// A draft's file as the compose page and its script show it.
#[derive(Debug, serde::Serialize)]
pub struct FileView {
    pub id: i64,
    pub name: String,
    pub size: String,
    /// Where it is downloaded, and where it is taken off (POST).
    pub url: String,
    pub remove: String,
}

pub fn file_view(draft: i64, file: &DraftFile) -> FileView {
    FileView {
        id: file.id,
        name: file.name.clone(),
        size: size_text(file.size),
        url: format!("/mail/drafts/{draft}/files/{}", file.id),
        remove: format!("/mail/drafts/{draft}/files/{}/remove", file.id),
    }
}

/// A file's name as a message may carry it: no folders, no control characters.
pub(super) fn file_name(given: Option<&str>) -> String {
    let base = given.unwrap_or_default().rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).collect::<String>().trim().chars().take(200).collect();
    if clean.is_empty() { "file".to_owned() } else { clean }
}

/// Stores files with the user's draft; the first refusal (over the limit, or no such draft)
/// stops the rest. What was added, and the refusal's text.
pub(super) async fn store_files(
    state: &AppState,
    t: &crate::i18n::Texts,
    user: UserId,
    draft: i64,
    files: Vec<mailroom_mime::compose::OutgoingAttachment>,
) -> Result<(Vec<FileView>, Option<String>), ErrorKind> {
    let mut added = Vec::new();
    for file in files {
        if file.bytes.len() > DRAFT_FILES_LIMIT {
            return Ok((added, Some(t.file_too_large.replace("{name}", &file.name))));
        }
        let now = mailroom_store::now();
        let (name, content_type) = (file_name(Some(&file.name)), file.content_type);
        let stored = state
            .store
            .add_draft_file(user, draft, (&name, &content_type, &file.bytes), DRAFT_FILES_LIMIT, now)
            .await
            .map_err(internal)?;
        match stored {
            FileAdded::Added(file) => added.push(file_view(draft, &file)),
            FileAdded::NoDraft => return Err(ErrorKind::NotFound),
            FileAdded::OverLimit => return Ok((added, Some(t.files_over_limit.replace("{name}", &name)))),
        }
    }
    if !added.is_empty() {
        // The draft's writer takes the files to the provider's copy.
        state.outbox_wake.notify_one();
    }
    Ok((added, None))
}

/// `POST /mail/drafts/{id}/files` with `file` parts: files picked or dropped on the compose page,
/// stored with the draft at once. Answers `{"files": [...]}`; a file over the limit is refused
/// with 413 and its name.
pub async fn upload(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    ctx: Ctx,
    Path(id): Path<i64>,
    mut multipart: Multipart,
) -> Result<Response, ErrorKind> {
    let mut added = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|_| ErrorKind::BadRequest)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = file_name(field.file_name());
        let content_type = field.content_type().unwrap_or("application/octet-stream").to_owned();
        let stored = store_streamed(&state, me.id, id, (&name, &content_type), field).await.map_err(internal)?;
        match stored {
            Streamed::Added(file) => added.push(file_view(id, &file)),
            Streamed::NoDraft => return Err(ErrorKind::NotFound),
            Streamed::Broken => return Err(ErrorKind::BadRequest),
            Streamed::TooLarge => {
                let text = ctx.t.file_too_large.replace("{name}", &name);
                return Ok(json_error(StatusCode::PAYLOAD_TOO_LARGE, &text));
            }
            Streamed::OverLimit => {
                let text = ctx.t.files_over_limit.replace("{name}", &name);
                return Ok(json_error(StatusCode::PAYLOAD_TOO_LARGE, &text));
            }
        }
    }
    if added.is_empty() {
        return Err(ErrorKind::BadRequest);
    }
    // The draft's writer takes the files to the provider's copy.
    state.outbox_wake.notify_one();
    Ok(Json(serde_json::json!({ "files": added })).into_response())
}

/// What storing a file as it came in did.
pub(crate) enum Streamed {
    Added(DraftFile),
    /// The draft is not the user's, or it is gone.
    NoDraft,
    /// By itself over [`DRAFT_FILES_LIMIT`].
    TooLarge,
    /// With it the draft's files would be over [`DRAFT_FILES_LIMIT`].
    OverLimit,
    /// The request was cut off.
    Broken,
}

/// Stores a file with the user's draft as it comes in, a piece at a time ([`mailroom_store::PIECE_BYTES`]):
/// the server holds about one piece of it, whatever its size, and it is one of the draft's files
/// only once it came whole and within the limit.
pub(crate) async fn store_streamed<E>(
    state: &AppState,
    user: UserId,
    draft: i64,
    (name, content_type): (&str, &str),
    mut chunks: impl futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
) -> Result<Streamed, mailroom_store::StoreError> {
    use futures_util::StreamExt as _;
    let store = &state.store;
    let now = mailroom_store::now();
    let Some(file) = store.start_draft_file(user, draft, (name, content_type), now).await? else {
        return Ok(Streamed::NoDraft);
    };
    let piece_bytes = mailroom_store::PIECE_BYTES;
    let mut piece = Vec::with_capacity(piece_bytes);
    let (mut seq, mut size) = (0i64, 0usize);
    let came = loop {
        let Some(chunk) = chunks.next().await else { break None };
        let Ok(chunk) = chunk else { break Some(Streamed::Broken) };
        size += chunk.len();
        if size > DRAFT_FILES_LIMIT {
            break Some(Streamed::TooLarge);
        }
        let mut rest: &[u8] = &chunk;
        while !rest.is_empty() {
            let take = (piece_bytes - piece.len()).min(rest.len());
            piece.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if piece.len() == piece_bytes {
                store.add_draft_file_piece(file, seq, &piece).await?;
                (seq, piece) = (seq + 1, Vec::with_capacity(piece_bytes));
            }
        }
    };
    if let Some(refused) = came {
        store.abandon_draft_file(file).await?;
        return Ok(refused);
    }
    if !piece.is_empty() {
        store.add_draft_file_piece(file, seq, &piece).await?;
    }
    let finished = store.finish_draft_file(user, (draft, file), size, DRAFT_FILES_LIMIT, mailroom_store::now()).await?;
    Ok(match finished {
        FileAdded::Added(file) => Streamed::Added(file),
        FileAdded::NoDraft => Streamed::NoDraft,
        FileAdded::OverLimit => Streamed::OverLimit,
    })
}

/// `GET /mail/drafts/{id}/files/{file}`: the file as it was attached.
pub async fn file(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    Path((id, file)): Path<(i64, i64)>,
) -> Result<Response, ErrorKind> {
    let found = state.store.draft_file(me.id, id, file).await.map_err(internal)?;
    let (file, data) = found.ok_or(ErrorKind::NotFound)?;
    Ok(crate::mail::download(data, &file.content_type, &file.name))
}

/// `POST /mail/drafts/{id}/files/{file}/remove`: takes a file off the draft. The page's script
/// asks for JSON; without script the whole compose form comes, and what it holds is saved
/// first (files picked meanwhile too), so that nothing typed is lost, then the page again.
pub async fn remove_file(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, file)): Path<(i64, i64)>,
    request: axum::extract::Request,
) -> Result<Response, ErrorKind> {
    use axum::extract::FromRequest as _;
    let now = mailroom_store::now();
    let mut panel = false;
    let is_form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !wants_json(&headers) && is_form {
        let multipart = Multipart::from_request(request, &state).await.map_err(|_| ErrorKind::BadRequest)?;
        let (form, files) = read_form(multipart).await?;
        panel = form.is_panel();
        let (_, fields) = form.into_draft().ok_or(ErrorKind::BadRequest)?;
        state.store.save_draft(me.id, Some(id), &fields, now).await.map_err(internal)?.ok_or(ErrorKind::NotFound)?;
        // A file over the limit is left out here; the page says so when the message is sent.
        store_files(&state, ctx.t, me.id, id, files).await?;
    }
    if !state.store.remove_draft_file(me.id, id, file, now).await.map_err(internal)? {
        return Err(ErrorKind::NotFound);
    }
    state.outbox_wake.notify_one();
    if wants_json(&headers) {
        return Ok(Json(serde_json::json!({ "removed": file })).into_response());
    }
    let panel = if panel { "&panel=1" } else { "" };
    Ok(axum::response::Redirect::to(&format!("/mail/compose?draft={id}{panel}")).into_response())
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
    /// The draft just discarded, for its Undo.
    discarded: Option<i64>,
}

#[derive(Deserialize)]
pub struct DraftsQuery {
    discarded: Option<i64>,
}

/// `GET /mail/drafts`.
pub async fn list(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    ctx: Ctx,
    axum::extract::Query(query): axum::extract::Query<DraftsQuery>,
) -> Result<Response, ErrorKind> {
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
    Ok(DraftsPage { ctx, rows, discarded: query.discarded }.into_response())
}

/// How long a discarded draft is kept for its Undo before the writer deletes it (the toast's
/// ten seconds, and a margin).
pub const DISCARD_UNDO_SECS: i64 = 12;

/// `POST /mail/drafts/{id}/discard`: back to the list, which offers Undo.
pub async fn discard(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, ErrorKind> {
    let now = mailroom_store::now();
    if !state.store.discard_draft(me.id, id, now, Some(now + DISCARD_UNDO_SECS)).await.map_err(internal)? {
        return Err(ErrorKind::NotFound);
    }
    state.outbox_wake.notify_one();
    Ok(axum::response::Redirect::to(&format!("/mail/drafts?notice=draft_discarded&discarded={id}")).into_response())
}

/// `POST /mail/drafts/{id}/restore`: Undo of a discard, while the draft is kept; it opens again
/// in the compose page, files and all.
pub async fn restore(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, ErrorKind> {
    if !state.store.restore_draft(me.id, id, mailroom_store::now()).await.map_err(internal)? {
        return Ok(see_other("/mail/drafts", "draft_restore_too_late"));
    }
    state.outbox_wake.notify_one();
    Ok(axum::response::Redirect::to(&format!("/mail/compose?draft={id}&notice=draft_restored")).into_response())
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
