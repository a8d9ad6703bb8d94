//! Drafts from code: `GET/POST /api/v1/drafts`, `GET/PUT/DELETE /api/v1/drafts/{id}`. A draft
//! saved here is the same as one saved from the compose page: kept at the provider by the
//! outbox's writer, and sent with `POST /messages/send` and its `draft_id`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailroom_domain::AccountId;
use mailroom_mime::compose::{Field, parse_address_list};
use mailroom_store::{DraftFields, DraftFile, StoredDraft};

use crate::pages::drafts::Streamed;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson, ApiPath, ApiUser};
use crate::AppState;

/// Longest draft body the API takes, in characters (a message's text, not its files).
const BODY_MAX: usize = 1_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftBody {
    account_id: i64,
    /// One of the account's identities; its default when absent.
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    cc: Vec<String>,
    #[serde(default)]
    bcc: Vec<String>,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text: String,
    /// The caller's message this draft answers.
    #[serde(default)]
    in_reply_to: Option<i64>,
}

#[derive(Serialize)]
pub struct DraftJson {
    id: i64,
    account_id: i64,
    from: String,
    to: Vec<String>,
    cc: Vec<String>,
    bcc: Vec<String>,
    subject: String,
    text: String,
    in_reply_to: Option<i64>,
    /// Whether the provider has this version.
    at_provider: bool,
    /// Changed at the provider since Mailroom wrote it: nothing is overwritten until the user
    /// chooses on the compose page.
    conflict: bool,
    updated_at: i64,
}

/// A field as typed, one address per entry (entries that do not parse are kept as typed).
fn entries(text: &str) -> Vec<String> {
    match parse_address_list(Field::To, text) {
        Ok(list) => list.iter().map(mailroom_mime::compose::Mailbox::display).collect(),
        Err(_) => text.split([',', ';']).map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect(),
    }
}

impl From<StoredDraft> for DraftJson {
    fn from(d: StoredDraft) -> DraftJson {
        let at_provider = d.is_pushed();
        let f = d.fields;
        DraftJson {
            id: d.id,
            account_id: f.account.0,
            from: f.from,
            to: entries(&f.to),
            cc: entries(&f.cc),
            bcc: entries(&f.bcc),
            subject: f.subject,
            text: f.body,
            in_reply_to: f.original.filter(|_| f.mode == "reply" || f.mode == "all"),
            at_provider,
            conflict: d.conflict,
            updated_at: d.updated_at,
        }
    }
}

fn fields(ApiJson(body): ApiJson<DraftBody>) -> Result<DraftFields, ApiError> {
    if body.text.chars().count() > BODY_MAX {
        return Err(ApiError::too_large("text: a draft's text is at most 1,000,000 characters"));
    }
    if body.subject.chars().any(char::is_control) {
        return Err(ApiError::invalid("subject: must be one line without control characters"));
    }
    for (name, list) in [("to", &body.to), ("cc", &body.cc), ("bcc", &body.bcc)] {
        if list.iter().any(|entry| entry.chars().any(char::is_control)) {
            return Err(ApiError::invalid(format!("{name}: must not contain control characters")));
        }
    }
    Ok(DraftFields {
        account: AccountId(body.account_id),
        from: body.from.unwrap_or_default(),
        to: body.to.join(", "),
        cc: body.cc.join(", "),
        bcc: body.bcc.join(", "),
        subject: body.subject,
        body: body.text,
        html: None,
        mode: if body.in_reply_to.is_some() { "reply" } else { "new" }.to_owned(),
        original: body.in_reply_to,
    })
}

/// `GET /api/v1/drafts`: the caller's drafts, last changed first.
pub async fn list(State(state): State<AppState>, ApiUser(user): ApiUser) -> Result<Response, ApiError> {
    let drafts = state.store.drafts(user.id).await.map_err(ApiError::internal)?;
    let data: Vec<DraftJson> = drafts.into_iter().map(DraftJson::from).collect();
    Ok(Json(serde_json::json!({ "data": data })).into_response())
}

/// `GET /api/v1/drafts/{id}`.
pub async fn show(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let draft = state.store.draft(user.id, id).await.map_err(ApiError::internal)?.ok_or_else(ApiError::not_found)?;
    Ok(Json(DraftJson::from(draft)).into_response())
}

/// `POST /api/v1/drafts`: 201 with the new draft; 404 for another user's account or message.
pub async fn create(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    body: ApiJson<DraftBody>,
) -> Result<Response, ApiError> {
    let fields = fields(body)?;
    if let Some(original) = fields.original
        && state.store.message_detail(user.id, original).await.map_err(ApiError::internal)?.is_none()
    {
        return Err(ApiError::not_found());
    }
    let now = mailroom_store::now();
    let saved = state.store.save_draft(user.id, None, &fields, now).await.map_err(ApiError::internal)?;
    let draft = saved.ok_or_else(ApiError::not_found)?;
    state.outbox_wake.notify_one();
    Ok((StatusCode::CREATED, Json(DraftJson::from(draft))).into_response())
}

/// `PUT /api/v1/drafts/{id}`: the draft's new content.
pub async fn update(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<DraftBody>,
) -> Result<Response, ApiError> {
    // What a draft answers is fixed when it is made: the store keeps it (a reply stays a reply).
    let fields = fields(body)?;
    let now = mailroom_store::now();
    let saved = state.store.save_draft(user.id, Some(id), &fields, now).await.map_err(ApiError::internal)?;
    let draft = saved.ok_or_else(ApiError::not_found)?;
    state.outbox_wake.notify_one();
    Ok(Json(DraftJson::from(draft)).into_response())
}

/// `DELETE /api/v1/drafts/{id}`: discarded here at once, at the provider by the writer.
pub async fn remove(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let done = state.store.discard_draft(user.id, id, mailroom_store::now(), None).await.map_err(ApiError::internal)?;
    if !done {
        return Err(ApiError::not_found());
    }
    state.outbox_wake.notify_one();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A file kept with a draft, as the API shows it.
#[derive(Serialize)]
pub struct DraftFileJson {
    id: i64,
    name: String,
    content_type: String,
    size: i64,
}

impl From<DraftFile> for DraftFileJson {
    fn from(f: DraftFile) -> DraftFileJson {
        DraftFileJson { id: f.id, name: f.name, content_type: f.content_type, size: f.size }
    }
}

/// `GET /api/v1/drafts/{id}/files`: the files kept with the draft, in the order they were added.
pub async fn files(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    state.store.draft(user.id, id).await.map_err(ApiError::internal)?.ok_or_else(ApiError::not_found)?;
    let files = state.store.draft_files(user.id, id).await.map_err(ApiError::internal)?;
    let data: Vec<DraftFileJson> = files.into_iter().map(DraftFileJson::from).collect();
    Ok(Json(serde_json::json!({ "data": data })).into_response())
}

#[derive(Deserialize)]
pub struct FileQuery {
    name: Option<String>,
}

/// `POST /api/v1/drafts/{id}/files?name=…`: the body is the file itself, its type the request's
/// `Content-Type`. Kept with the draft (and taken to the provider's copy), then sent with it by
/// `messages/send` and the `draft_id`. The way for a large file: it is not base64-encoded, and
/// the server holds about a megabyte of it at a time on its way to the provider.
pub async fn add_file(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<i64>,
    axum::extract::Query(query): axum::extract::Query<FileQuery>,
    headers: axum::http::HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    // What the caller does not own is not found, whatever else is wrong with the request.
    state.store.draft(user.id, id).await.map_err(ApiError::internal)?.ok_or_else(ApiError::not_found)?;
    let name = query.name.unwrap_or_default();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > FILE_NAME_MAX || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("name: the file's name, one line of at most 255 characters"));
    }
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .filter(|v| v.contains('/') && !v.chars().any(|c| c.is_control() || c.is_whitespace()))
        .unwrap_or("application/octet-stream")
        .to_owned();
    // Stored as it comes, a piece at a time: the file is never held whole.
    let stream = request.into_body().into_data_stream();
    let stored = crate::pages::drafts::store_streamed(&state, user.id, id, (name, &content_type), stream)
        .await
        .map_err(ApiError::internal)?;
    match stored {
        // An empty body is a file left out, not an empty file.
        Streamed::Added(file) if file.size == 0 => {
            let now = mailroom_store::now();
            state.store.remove_draft_file(user.id, id, file.id, now).await.map_err(ApiError::internal)?;
            Err(ApiError::invalid("The body must be the file, and not empty."))
        }
        Streamed::Added(file) => {
            state.outbox_wake.notify_one();
            Ok((StatusCode::CREATED, Json(DraftFileJson::from(file))).into_response())
        }
        Streamed::NoDraft => Err(ApiError::not_found()),
        Streamed::Broken => Err(ApiError::invalid("The file did not come whole.")),
        Streamed::TooLarge => Err(ApiError::too_large(format!("{name}: larger than 25 MiB"))),
        Streamed::OverLimit => Err(ApiError::too_large(format!("{name}: a draft's files together are at most 25 MiB"))),
    }
}

/// Longest file name, in characters.
const FILE_NAME_MAX: usize = 255;

/// `GET /api/v1/drafts/{id}/files/{file}`: the file as it was added.
pub async fn file(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath((id, file)): ApiPath<(i64, i64)>,
) -> Result<Response, ApiError> {
    let found = state.store.draft_file(user.id, id, file).await.map_err(ApiError::internal)?;
    let (file, data) = found.ok_or_else(ApiError::not_found)?;
    Ok(crate::mail::download(data, &file.content_type, &file.name))
}

/// `DELETE /api/v1/drafts/{id}/files/{file}`: takes the file off the draft.
pub async fn remove_file(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath((id, file)): ApiPath<(i64, i64)>,
) -> Result<Response, ApiError> {
    let removed =
        state.store.remove_draft_file(user.id, id, file, mailroom_store::now()).await.map_err(ApiError::internal)?;
    if !removed {
        return Err(ApiError::not_found());
    }
    state.outbox_wake.notify_one();
    Ok(StatusCode::NO_CONTENT.into_response())
}
