//! Drafts from code: `GET/POST /api/v1/drafts`, `GET/PUT/DELETE /api/v1/drafts/{id}`. A draft
//! saved here is the same as one saved from the compose page: kept at the provider by the
//! outbox's writer, and sent with `POST /messages/send` and its `draft_id`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailroom_domain::AccountId;
use mailroom_mime::compose::{Field, parse_address_list};
use mailroom_store::{DraftFields, StoredDraft};
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
