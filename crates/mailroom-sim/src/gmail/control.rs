//! The Gmail part of the control API, under `/_sim/gmail/{email}`: changes "from another
//! client" (recorded in history like any change), forgetting history, and the mailbox as it is.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::Mailbox;
use crate::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/", get(show))
        .route("/modify", post(modify))
        .route("/trash", post(trash))
        .route("/delete", post(delete))
        .route("/expire-history", post(expire_history))
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

/// Runs `change` on the mailbox of the path's `{email}`.
fn with_mailbox(
    state: &SimState,
    path: &HashMap<String, String>,
    change: impl FnOnce(&mut Mailbox, i64) -> Response,
) -> Response {
    let now = state.clock().now_ms();
    let email = path.get("email").map(String::as_str).unwrap_or_default();
    match state.world().gmail(email) {
        Some(mailbox) => change(mailbox, now),
        None => problem(StatusCode::NOT_FOUND, "no such Gmail user"),
    }
}

async fn show(State(state): State<SimState>, Path(path): Path<HashMap<String, String>>) -> Response {
    with_mailbox(&state, &path, |mailbox, _| {
        let messages: Vec<_> = mailbox
            .messages()
            .map(|m| {
                json!({"id": m.id, "threadId": m.thread_id, "labelIds": m.label_ids(), "subject": m.summary.subject})
            })
            .collect();
        let labels: Vec<_> = mailbox.labels().iter().map(|l| json!({"id": l.id, "name": l.name})).collect();
        let history_id = mailbox.history_id().to_string();
        Json(json!({"email": mailbox.email, "historyId": history_id, "messages": messages, "labels": labels}))
            .into_response()
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Modify {
    id: String,
    #[serde(default)]
    add_label_ids: Vec<String>,
    #[serde(default)]
    remove_label_ids: Vec<String>,
}

/// Unlike the API, another client (say, the Gmail web app) may move mail in and out of any label.
async fn modify(
    State(state): State<SimState>,
    Path(path): Path<HashMap<String, String>>,
    Json(body): Json<Modify>,
) -> Response {
    with_mailbox(&state, &path, |mailbox, now| {
        if let Some(bad) = body.add_label_ids.iter().chain(&body.remove_label_ids).find(|l| mailbox.label(l).is_none())
        {
            return problem(StatusCode::BAD_REQUEST, &format!("no label {bad}"));
        }
        if mailbox.change_labels(&body.id, &body.add_label_ids, &body.remove_label_ids, now) {
            StatusCode::NO_CONTENT.into_response()
        } else {
            problem(StatusCode::NOT_FOUND, "no such message")
        }
    })
}

#[derive(Deserialize)]
struct Target {
    id: String,
}

async fn trash(
    State(state): State<SimState>,
    Path(path): Path<HashMap<String, String>>,
    Json(body): Json<Target>,
) -> Response {
    with_mailbox(&state, &path, |mailbox, now| {
        if mailbox.trash(&body.id, now) {
            StatusCode::NO_CONTENT.into_response()
        } else {
            problem(StatusCode::NOT_FOUND, "no such message")
        }
    })
}

async fn delete(
    State(state): State<SimState>,
    Path(path): Path<HashMap<String, String>>,
    Json(body): Json<Target>,
) -> Response {
    with_mailbox(&state, &path, |mailbox, now| {
        if mailbox.delete(&body.id, now) {
            StatusCode::NO_CONTENT.into_response()
        } else {
            problem(StatusCode::NOT_FOUND, "no such message")
        }
    })
}

async fn expire_history(State(state): State<SimState>, Path(path): Path<HashMap<String, String>>) -> Response {
    with_mailbox(&state, &path, |mailbox, _| {
        mailbox.expire_history();
        Json(json!({"historyId": mailbox.history_id().to_string()})).into_response()
    })
}
