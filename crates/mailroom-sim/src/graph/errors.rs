//! Graph's error shape (concepts/errors.md): `{"error":{"code","message","innerError":{"date",
//! "request-id","client-request-id"}}}`. Outlook answers with Exchange-style codes such as
//! `ErrorItemNotFound`, so the codes here are whatever the documentation shows for each case.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for 429 answers.
    pub retry_after: Option<u64>,
}

pub type GraphResult<T> = Result<T, GraphError>;

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> GraphError {
        GraphError { status, code, message: message.into(), retry_after: None }
    }

    pub fn not_found() -> GraphError {
        GraphError::new(StatusCode::NOT_FOUND, "ErrorItemNotFound", "The specified object was not found in the store.")
    }

    pub fn bad_request(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn invalid_request(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "ErrorInvalidRequest", message)
    }

    pub fn unknown_segment(segment: &str) -> GraphError {
        GraphError::bad_request(format!("Resource not found for the segment '{segment}'."))
    }

    pub fn method_not_allowed() -> GraphError {
        GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "The specified HTTP method is not allowed for the request target.",
        )
    }

    pub fn throttled(message: &str, retry_after: u64) -> GraphError {
        GraphError {
            retry_after: Some(retry_after),
            ..GraphError::new(StatusCode::TOO_MANY_REQUESTS, "ApplicationThrottled", message)
        }
    }

    /// The same error under a more specific code.
    pub fn with_code(self, code: &'static str) -> GraphError {
        GraphError { code, ..self }
    }

    /// The body Graph sends, with a fresh request id; `client_request_id` echoes the caller's
    /// `client-request-id` header when it sent one.
    pub fn body(&self, client_request_id: Option<&str>, now_ms: i64) -> Value {
        let request_id = new_request_id();
        let date = chrono::DateTime::from_timestamp_millis(now_ms)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string())
            .unwrap_or_default();
        json!({"error": {"code": self.code, "message": self.message, "innerError": {
            "date": date,
            "request-id": request_id,
            "client-request-id": client_request_id.unwrap_or(&request_id),
        }}})
    }
}

/// A GUID-shaped id, unique within the process; Graph's request ids are GUIDs.
pub fn new_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("5e1f0c2a-{:04x}-4{:03x}-8{:03x}-{:012x}", (n >> 24) & 0xffff, (n >> 12) & 0xfff, n & 0xfff, n)
}
