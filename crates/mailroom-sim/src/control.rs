//! The control API under `/_sim/`, for tests and demos; no provider has it. It adds users, clients
//! and mail, changes mailboxes "from another client", moves the clock, injects faults, revokes
//! grants, and shows the state and the request log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use crate::state::{Mailbox, ProviderKind, Quotas, SimClient, SimState, SimUser};
use crate::{Faults, gmail, graph};

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/_sim/state", get(show_state))
        .route("/_sim/users", post(add_user))
        .route("/_sim/users/{email}/revoke", post(revoke))
        .route("/_sim/users/{email}/messages", post(deliver))
        .route("/_sim/clients", post(add_client))
        .route("/_sim/clock/advance", post(advance_clock))
        .route("/_sim/faults", get(show_faults).put(set_faults))
        .route("/_sim/quotas", get(show_quotas).put(set_quotas))
        .route("/_sim/log", get(show_log).delete(clear_log))
        .nest("/_sim/gmail/{email}", gmail::control_router())
        .nest("/_sim/graph/{email}", graph::control_router())
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

async fn show_state(State(state): State<SimState>) -> Response {
    let world = state.world();
    let users: Vec<_> = world
        .users
        .values()
        .map(|entry| {
            let messages = match &entry.mailbox {
                Mailbox::Gmail(m) => m.message_count(),
                Mailbox::Graph(m) => m.message_count(),
            };
            json!({"email": entry.user.email, "name": entry.user.name, "provider": entry.user.provider, "messages": messages})
        })
        .collect();
    let clients: Vec<_> = world
        .clients
        .iter()
        .map(|c| json!({"provider": c.provider, "client_id": c.client_id, "redirect_uris": c.redirect_uris}))
        .collect();
    Json(json!({"base_url": state.base_url(), "now_ms": state.clock().now_ms(), "users": users, "clients": clients}))
        .into_response()
}

#[derive(Deserialize)]
struct NewUser {
    /// `a@x.test`, `google:a@x.test` or `microsoft:b@y.test`.
    user: String,
    name: Option<String>,
}

async fn add_user(State(state): State<SimState>, Json(body): Json<NewUser>) -> Response {
    let Some(mut user) = SimUser::parse(&body.user) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "user must be an address, optionally prefixed with google: or microsoft:",
        );
    };
    if let Some(name) = body.name {
        user.name = name;
    }
    state.add_user(user.clone());
    (StatusCode::CREATED, Json(json!({"email": user.email, "provider": user.provider, "name": user.name})))
        .into_response()
}

async fn revoke(State(state): State<SimState>, Path(email): Path<String>) -> Response {
    let mut world = state.world();
    if world.user(&email).is_none() {
        return problem(StatusCode::NOT_FOUND, "no such user");
    }
    world.revoke_grants(&email);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct Delivery {
    /// The message, base64 (standard) encoded.
    raw_base64: Option<String>,
    /// The message as text, when it is.
    raw: Option<String>,
    /// Gmail label ids (default `INBOX`, `UNREAD`).
    #[serde(default)]
    labels: Option<Vec<String>>,
    /// Graph folder id or well-known name (default `inbox`).
    folder: Option<String>,
}

async fn deliver(State(state): State<SimState>, Path(email): Path<String>, Json(body): Json<Delivery>) -> Response {
    let raw = match (body.raw_base64, body.raw) {
        (Some(b64), _) => match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
            Ok(bytes) => bytes,
            Err(_) => return problem(StatusCode::BAD_REQUEST, "raw_base64 is not base64"),
        },
        (None, Some(text)) => text.into_bytes(),
        (None, None) => return problem(StatusCode::BAD_REQUEST, "give raw or raw_base64"),
    };
    let now = state.clock().now_ms();
    let mut world = state.world();
    let id = match world.users.get_mut(&email.to_lowercase()).map(|u| &mut u.mailbox) {
        Some(Mailbox::Gmail(mailbox)) => {
            let labels = body.labels.unwrap_or_else(|| vec!["INBOX".into(), "UNREAD".into()]);
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            mailbox.deliver(raw, &labels, now)
        }
        Some(Mailbox::Graph(mailbox)) => mailbox.deliver(raw, body.folder.as_deref().unwrap_or("inbox"), now),
        None => return problem(StatusCode::NOT_FOUND, "no such user"),
    };
    (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
}

#[derive(Deserialize)]
struct NewClient {
    provider: ProviderKind,
    client_id: String,
    client_secret: String,
    redirect_uris: Vec<String>,
}

async fn add_client(State(state): State<SimState>, Json(body): Json<NewClient>) -> Response {
    state.add_client(SimClient {
        provider: body.provider,
        client_id: body.client_id,
        client_secret: body.client_secret,
        redirect_uris: body.redirect_uris,
    });
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct Advance {
    seconds: i64,
}

async fn advance_clock(State(state): State<SimState>, Json(body): Json<Advance>) -> Response {
    state.clock().advance(body.seconds);
    Json(json!({"now_ms": state.clock().now_ms()})).into_response()
}

async fn show_faults(State(state): State<SimState>) -> Response {
    Json(state.faults()).into_response()
}

async fn set_faults(State(state): State<SimState>, Json(faults): Json<Faults>) -> Response {
    let valid = |rate: f64| (0.0..=1.0).contains(&rate);
    if !valid(faults.error_rate) || !valid(faults.drop_rate) || !valid(faults.rate_limit_rate) {
        return problem(StatusCode::BAD_REQUEST, "rates are between 0.0 and 1.0");
    }
    state.set_faults(faults);
    StatusCode::NO_CONTENT.into_response()
}

async fn show_quotas(State(state): State<SimState>) -> Response {
    Json(state.quotas()).into_response()
}

async fn set_quotas(State(state): State<SimState>, Json(quotas): Json<Quotas>) -> Response {
    if quotas.gmail_user_units_per_minute == 0
        || quotas.graph_requests_per_10_minutes == 0
        || quotas.graph_concurrency == 0
        || quotas.gmail_window_ms < 1
        || quotas.graph_window_ms < 1
    {
        return problem(StatusCode::BAD_REQUEST, "every quota is at least 1");
    }
    state.set_quotas(quotas);
    StatusCode::NO_CONTENT.into_response()
}

async fn show_log(State(state): State<SimState>) -> Response {
    Json(json!({"requests": state.world().log})).into_response()
}

async fn clear_log(State(state): State<SimState>) -> Response {
    state.world().log.clear();
    StatusCode::NO_CONTENT.into_response()
}
