//! Control operations on one Graph mailbox, under `/_sim/graph/{email}`: changes "from another
//! client" (recorded for delta like the API's own), dropping every delta token, and a look at
//! the mailbox.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::delta::ExpiredAnswer;
use super::mailbox::Mailbox;
use crate::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/", get(show))
        .route("/patch", post(patch))
        .route("/move", post(move_message))
        .route("/delete", post(delete))
        .route("/expire-delta", post(expire_delta))
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

/// Runs `f` on the mailbox named in the path.
fn with_mailbox(
    state: &SimState,
    params: &HashMap<String, String>,
    f: impl FnOnce(&mut Mailbox, i64) -> Response,
) -> Response {
    let now = state.clock().now_ms();
    let email = params.get("email").map(String::as_str).unwrap_or_default();
    match state.world().graph(email) {
        Some(mailbox) => f(mailbox, now),
        None => problem(StatusCode::NOT_FOUND, "no such Microsoft user"),
    }
}

async fn show(State(state): State<SimState>, Path(params): Path<HashMap<String, String>>) -> Response {
    with_mailbox(&state, &params, |mailbox, _| {
        let folders: Vec<_> = mailbox
            .folders
            .iter()
            .map(|f| json!({"id": f.id, "displayName": f.display_name, "wellKnownName": f.well_known, "parentFolderId": f.parent_id}))
            .collect();
        let messages: Vec<_> = mailbox
            .messages
            .iter()
            .map(|m| {
                let folder = mailbox.folder(&m.folder_id).map(|f| f.well_known.unwrap_or(&f.display_name).to_owned());
                json!({"id": m.rest_id, "immutableId": m.immutable_id, "folder": folder, "folderId": m.folder_id,
                    "isRead": m.is_read, "isDraft": m.is_draft, "flagStatus": m.flag_status, "subject": m.subject,
                    "conversationId": m.conversation_id})
            })
            .collect();
        Json(json!({"email": mailbox.email, "folders": folders, "messages": messages})).into_response()
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Patch {
    id: String,
    is_read: Option<bool>,
    flagged: Option<bool>,
}

async fn patch(
    State(state): State<SimState>,
    Path(params): Path<HashMap<String, String>>,
    Json(body): Json<Patch>,
) -> Response {
    with_mailbox(&state, &params, |mailbox, now| {
        let Some(index) = mailbox.find(&body.id) else { return problem(StatusCode::NOT_FOUND, "no such message") };
        let message = &mut mailbox.messages[index];
        if let Some(read) = body.is_read {
            message.is_read = read;
        }
        if let Some(flagged) = body.flagged {
            message.flag_status = if flagged { "flagged" } else { "notFlagged" }.to_owned();
        }
        mailbox.touch(index, now);
        StatusCode::NO_CONTENT.into_response()
    })
}

#[derive(Deserialize)]
struct Move {
    id: String,
    destination: String,
}

async fn move_message(
    State(state): State<SimState>,
    Path(params): Path<HashMap<String, String>>,
    Json(body): Json<Move>,
) -> Response {
    with_mailbox(&state, &params, |mailbox, now| {
        let Some(index) = mailbox.find(&body.id) else { return problem(StatusCode::NOT_FOUND, "no such message") };
        let Some(folder) = mailbox.folder_id(&body.destination) else {
            return problem(StatusCode::NOT_FOUND, "no such folder");
        };
        mailbox.move_to(index, &folder, now);
        let message = &mailbox.messages[index];
        Json(json!({"id": message.rest_id, "immutableId": message.immutable_id})).into_response()
    })
}

#[derive(Deserialize)]
struct Delete {
    id: String,
}

/// Removes a message for good, as a hard delete in another client.
async fn delete(
    State(state): State<SimState>,
    Path(params): Path<HashMap<String, String>>,
    Json(body): Json<Delete>,
) -> Response {
    with_mailbox(&state, &params, |mailbox, _| {
        let Some(index) = mailbox.find(&body.id) else { return problem(StatusCode::NOT_FOUND, "no such message") };
        mailbox.remove(index);
        StatusCode::NO_CONTENT.into_response()
    })
}

/// How `expire-delta` answers the dropped tokens: 410 `syncStateNotFound` unless told otherwise.
#[derive(Deserialize, Default)]
struct ExpireDelta {
    /// A 4xx status.
    status: Option<u16>,
    /// `syncStateNotFound` or `resyncRequired`.
    code: Option<String>,
}

/// Every delta token of the mailbox is dropped, as when Exchange drops its cache: 410
/// `syncStateNotFound` from now on, or the 4xx `status` and `code` given (the documented "40X
/// with error codes such as syncStateNotFound").
async fn expire_delta(
    State(state): State<SimState>,
    Path(params): Path<HashMap<String, String>>,
    body: Option<Json<ExpireDelta>>,
) -> Response {
    let Json(body) = body.unwrap_or_default();
    let answer = match (body.status, body.code.as_deref()) {
        (None, None) => ExpiredAnswer::default(),
        (status, code) => match ExpiredAnswer::new(status.unwrap_or(410), code.unwrap_or("syncStateNotFound")) {
            Some(answer) => answer,
            None => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "status must be a 4xx, code syncStateNotFound or resyncRequired",
                );
            }
        },
    };
    with_mailbox(&state, &params, |mailbox, _| {
        mailbox.sessions.expired_answer = answer;
        mailbox.sessions.delta_cursors.clear();
        mailbox.sessions.delta_rounds.clear();
        mailbox.sessions.folder_snapshots.clear();
        StatusCode::NO_CONTENT.into_response()
    })
}
