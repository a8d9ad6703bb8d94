//! Sending from code: `POST /api/v1/messages/send` submits a message (with an idempotency key,
//! so a retried call sends once), and the submissions say where each message is.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

use mailroom_domain::template::{self, Template};
use mailroom_domain::{AccountId, UserId};
use mailroom_mime::compose::{Draft, Field, Mailbox, parse_address_list};
use mailroom_store::{Submission, Submitted};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson, ApiPath, ApiUser, cursor_number, limit_param, query_param};
use crate::AppState;
use crate::send::{ATTACHMENT_LIMIT, Compose, ComposeFile, FileSource, SendRefused, submit, submit_separately};

/// The largest request body `messages/send` takes: a message at Gmail's limit, base64-encoded
/// in JSON.
pub const SEND_BODY_LIMIT: usize = 50 * 1024 * 1024;

/// The latest time a message may be scheduled for: the end of the year 9999, the last a Date
/// header writes in four digits. Any later is a mistake, and one near the end of `i64` overflowed
/// the times of a message sent separately.
const LATEST_SEND_AT: i64 = 253_402_300_799;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    account_id: i64,
    /// One of the account's identities (send-as addresses); its default when absent.
    #[serde(default)]
    from: Option<String>,
    idempotency_key: String,
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
    #[serde(default)]
    html: Option<String>,
    /// The id of the caller's message this one answers.
    #[serde(default)]
    in_reply_to: Option<i64>,
    /// Unix seconds; now when absent.
    #[serde(default)]
    send_at: Option<i64>,
    #[serde(default)]
    attachments: Vec<AttachmentBody>,
    /// The name of one of the caller's templates: its subject and body are used where `subject`
    /// and `text` (and `html`) are left out, with `values` put in for their placeholders.
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    values: BTreeMap<String, String>,
    /// The caller's draft this message was written in: deleted once the provider has it.
    #[serde(default)]
    draft_id: Option<i64>,
    /// One message to each `to` recipient (no cc or bcc), in a batch named by the key.
    #[serde(default)]
    separately: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentBody {
    name: String,
    content_type: String,
    /// The file, standard base64.
    content_base64: String,
}

/// A submission as the API shows it.
#[derive(Serialize)]
pub struct SubmissionJson {
    id: i64,
    account_id: i64,
    idempotency_key: String,
    message_id: String,
    status: &'static str,
    subject: String,
    recipients: Vec<String>,
    send_at: i64,
    attempts: i64,
    last_error: Option<String>,
    remote_id: Option<String>,
    created_at: i64,
    finished_at: Option<i64>,
    batch: Option<String>,
}

impl From<Submission> for SubmissionJson {
    fn from(s: Submission) -> SubmissionJson {
        SubmissionJson {
            id: s.id,
            account_id: s.account.0,
            idempotency_key: s.idempotency_key,
            message_id: s.message_id,
            status: s.status.as_str(),
            subject: s.subject,
            recipients: s.recipients,
            send_at: s.send_at,
            attempts: s.attempts,
            last_error: s.last_error,
            remote_id: s.remote_id,
            created_at: s.created_at,
            finished_at: s.finished_at,
            batch: s.batch,
        }
    }
}

/// `POST /api/v1/messages/send`: 202 with the new submission, or 200 with the one this key
/// already made.
pub async fn send(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(body): ApiJson<SendBody>,
) -> Result<Response, ApiError> {
    let (subject, text) = match &body.template {
        Some(name) => from_template(&state, user.id, name, &body).await?,
        None => (body.subject, body.text),
    };
    if let Some(id) = body.draft_id
        && state.store.draft(user.id, id).await.map_err(ApiError::internal)?.is_none()
    {
        return Err(ApiError::not_found());
    }
    let (draft, mut files) = draft_of(body.to, body.cc, body.bcc, subject, text, body.html, body.attachments)?;
    // The files kept with the draft go with it.
    if let Some(id) = body.draft_id {
        let kept = state.store.draft_files(user.id, id).await.map_err(ApiError::internal)?;
        files.extend(kept.into_iter().map(|f| ComposeFile {
            size: usize::try_from(f.size).unwrap_or(0),
            name: f.name,
            content_type: f.content_type,
            source: FileSource::Draft { draft: id, file: f.id },
        }));
    }
    if body.send_at.is_some_and(|at| at > LATEST_SEND_AT) {
        return Err(ApiError::bad_request("send_at must be at most 253402300799, the end of the year 9999."));
    }
    let now = mailroom_store::now();
    let compose = Compose {
        account: AccountId(body.account_id),
        from: body.from,
        idempotency_key: body.idempotency_key,
        draft,
        reply_to: body.in_reply_to,
        send_at: body.send_at.unwrap_or(now).max(now),
        saved_draft: body.draft_id,
        files,
    };
    if body.separately {
        let submitted = submit_separately(&state, user.id, compose).await.map_err(ApiError::internal)?;
        let all = submitted.map_err(refusal)?;
        let new = all.iter().any(|s| matches!(s, Submitted::New(_)));
        let batch = all.first().and_then(|s| submission_of(s).batch.clone());
        let data: Vec<SubmissionJson> =
            all.into_iter().map(|s| SubmissionJson::from(submission_of(&s).clone())).collect();
        let status = if new { StatusCode::ACCEPTED } else { StatusCode::OK };
        return Ok((status, Json(serde_json::json!({"batch": batch, "data": data}))).into_response());
    }
    match submit(&state, user.id, compose).await.map_err(ApiError::internal)? {
        Ok(Submitted::New(submission)) => {
            Ok((StatusCode::ACCEPTED, Json(SubmissionJson::from(submission))).into_response())
        }
        Ok(Submitted::Replayed(submission)) => Ok(Json(SubmissionJson::from(submission)).into_response()),
        Err(refused) => Err(refusal(refused)),
    }
}

fn submission_of(submitted: &Submitted) -> &Submission {
    match submitted {
        Submitted::New(s) | Submitted::Replayed(s) => s,
    }
}

fn refusal(refused: SendRefused) -> ApiError {
    match refused {
        SendRefused::NotFound => ApiError::not_found(),
        // An identity is the account's, as a draft or a message is the caller's: one the account
        // does not have is not found, like an id of another user's.
        error @ SendRefused::UnknownSender(_) => ApiError::not_found_because(format!("from: {error}")),
        error @ SendRefused::TooLarge { .. } => ApiError::too_large(error.to_string()),
        SendRefused::Invalid(error) => ApiError::invalid(format!("{}: {error}", error.field().as_str())),
        error => ApiError::invalid(error.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    batch: String,
}

/// `POST /api/v1/submissions/retry`: the failed messages of a batch sent separately go again
/// (each looked for at the provider first, so none goes twice).
pub async fn retry(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(body): ApiJson<RetryBody>,
) -> Result<Response, ApiError> {
    let retried =
        state.store.retry_failed(user.id, &body.batch, mailroom_store::now()).await.map_err(ApiError::internal)?;
    state.outbox_wake.notify_one();
    Ok(Json(serde_json::json!({"retried": retried})).into_response())
}

/// The subject and text of a message from the caller's template `name`: each filled from
/// `values` unless the body gives it. A template the caller does not have is not found, as
/// anything else a call names that is not the caller's; a placeholder left without a value is
/// refused.
async fn from_template(
    state: &AppState,
    user: UserId,
    name: &str,
    body: &SendBody,
) -> Result<(String, String), ApiError> {
    let Some(template) = state.store.template_named(user, name).await.map_err(ApiError::internal)? else {
        return Err(ApiError::not_found_because(format!("template: you have no template named {name:?}")));
    };
    let fill = |given: &str, from: &str| match given.is_empty() {
        true => template::fill(from, &body.values).map_err(|error| ApiError::invalid(format!("template: {error}"))),
        false => Ok(given.to_owned()),
    };
    let subject = fill(&body.subject, &template.subject)?;
    // An HTML body given by the caller stands for the text too (its text alternative is made from it).
    let text = if body.html.is_some() { body.text.clone() } else { fill(&body.text, &template.body)? };
    Ok((subject, text))
}

/// The caller's templates and the placeholders each needs.
#[derive(Serialize)]
pub struct TemplateJson {
    id: i64,
    name: String,
    subject: String,
    body: String,
    placeholders: Vec<String>,
    updated_at: i64,
}

/// `GET /api/v1/templates`: the caller's templates by name.
pub async fn templates(State(state): State<AppState>, ApiUser(user): ApiUser) -> Result<Response, ApiError> {
    let stored = state.store.templates(user.id).await.map_err(ApiError::internal)?;
    let data: Vec<TemplateJson> = stored
        .into_iter()
        .map(|t| {
            let checked = Template { name: t.name, subject: t.subject, body: t.body };
            TemplateJson {
                id: t.id,
                placeholders: checked.placeholders(),
                name: checked.name,
                subject: checked.subject,
                body: checked.body,
                updated_at: t.updated_at,
            }
        })
        .collect();
    Ok(Json(serde_json::json!({ "data": data })).into_response())
}

/// The draft the API fields make; each address entry must be exactly one address.
fn draft_of(
    to: Vec<String>,
    cc: Vec<String>,
    bcc: Vec<String>,
    subject: String,
    text: String,
    html: Option<String>,
    attachments: Vec<AttachmentBody>,
) -> Result<(Draft, Vec<ComposeFile>), ApiError> {
    let field = |field: Field, entries: Vec<String>| -> Result<Vec<Mailbox>, ApiError> {
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let mut parsed = parse_address_list(field, &entry)
                .map_err(|error| ApiError::invalid(format!("{}: {error}", field.as_str())))?;
            if parsed.len() != 1 {
                return Err(ApiError::invalid(format!("{}: give one address per entry", field.as_str())));
            }
            out.append(&mut parsed);
        }
        Ok(out)
    };
    let mut files = Vec::with_capacity(attachments.len());
    for attachment in attachments {
        // Checked a piece at a time, and kept as base64 until it is stored: a large file is never
        // held decoded beside its base64.
        let size = mailroom_store::base64_size(attachment.content_base64.as_bytes())
            .ok_or_else(|| ApiError::invalid(format!("attachments: {} is not valid base64", attachment.name)))?;
        if size > ATTACHMENT_LIMIT {
            return Err(ApiError::too_large(format!("attachments: {} is larger than 25 MiB", attachment.name)));
        }
        if attachment.name.trim().is_empty() || !attachment.content_type.contains('/') {
            return Err(ApiError::invalid("attachments: each needs a name and a type/subtype content_type"));
        }
        files.push(ComposeFile {
            name: attachment.name,
            content_type: attachment.content_type,
            size,
            source: FileSource::Base64(Bytes::from(attachment.content_base64)),
        });
    }
    let draft = Draft {
        to: field(Field::To, to)?,
        cc: field(Field::Cc, cc)?,
        bcc: field(Field::Bcc, bcc)?,
        subject,
        text,
        html,
        in_reply_to: None,
        references: Vec::new(),
        attachments: Vec::new(),
        inline: Vec::new(),
    };
    Ok((draft, files))
}

/// `GET /api/v1/submissions`: the caller's submissions, newest first, by pages.
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    // The id of the submission the page follows, exactly as the document's pattern says.
    let cursor = match query_param(query.as_deref(), "cursor")? {
        Some(cursor) => Some(cursor_number(&cursor).ok_or_else(|| ApiError::bad_request("cursor is not valid."))?),
        None => None,
    };
    let limit = limit_param(query.as_deref(), 50, 200)?;
    let page = state.store.submissions(user.id, cursor, limit).await.map_err(ApiError::internal)?;
    let next_cursor = (page.len() as i64 == limit).then(|| page.last().map(|s| s.id.to_string())).flatten();
    let data: Vec<SubmissionJson> = page.into_iter().map(SubmissionJson::from).collect();
    Ok(Json(serde_json::json!({ "data": data, "next_cursor": next_cursor })).into_response())
}

/// `GET /api/v1/submissions/{id}`.
pub async fn show(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let submission = state.store.submission(user.id, id).await.map_err(ApiError::internal)?;
    let submission = submission.ok_or_else(ApiError::not_found)?;
    Ok(Json(SubmissionJson::from(submission)).into_response())
}

/// `POST /api/v1/submissions/{id}/cancel`: takes back a message not yet sent (undo, or a
/// scheduled send called off); 409 once it is on its way or done.
pub async fn cancel(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let cancelled =
        state.store.cancel_submission(user.id, id, mailroom_store::now()).await.map_err(ApiError::internal)?;
    let submission = state.store.submission(user.id, id).await.map_err(ApiError::internal)?;
    let submission = submission.ok_or_else(ApiError::not_found)?;
    if !cancelled {
        return Err(ApiError::conflict(format!(
            "The message is {} and can no longer be taken back.",
            submission.status.as_str()
        )));
    }
    Ok(Json(SubmissionJson::from(submission)).into_response())
}
