//! Google's JSON error shape (the v1 error format of the handle-errors guide, with the `status`
//! field newer endpoints add), and the answer type every Gmail method returns.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A failed call, rendered as `{"error":{"code","message","errors":[…],"status"}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: StatusCode,
    pub message: String,
    pub reason: &'static str,
    pub domain: &'static str,
    pub status: &'static str,
    /// The request header the error points at (`location`, with `locationType` `header`).
    pub location: Option<&'static str>,
    /// The short message of the `errors` item, where Google words it apart from the main one.
    pub short: Option<&'static str>,
}

impl ApiError {
    fn new(code: StatusCode, message: impl Into<String>, reason: &'static str, status: &'static str) -> ApiError {
        ApiError { code, message: message.into(), reason, domain: "global", status, location: None, short: None }
    }

    pub fn unauthenticated() -> ApiError {
        ApiError {
            location: Some("Authorization"),
            short: Some("Invalid Credentials"),
            ..ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or \
                 other valid authentication credential. See \
                 https://developers.google.com/identity/sign-in/web/devconsole-project.",
                "authError",
                "UNAUTHENTICATED",
            )
        }
    }

    pub fn insufficient_scope() -> ApiError {
        ApiError {
            short: Some("Insufficient Permission"),
            ..ApiError::new(
                StatusCode::FORBIDDEN,
                "Request had insufficient authentication scopes.",
                "insufficientPermissions",
                "PERMISSION_DENIED",
            )
        }
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message, "forbidden", "PERMISSION_DENIED")
    }

    pub fn delegation_denied(caller: &str) -> ApiError {
        ApiError::forbidden(format!("Delegation denied for {caller}"))
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "Requested entity was not found.", "notFound", "NOT_FOUND")
    }

    pub fn invalid_argument(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message, "invalidArgument", "INVALID_ARGUMENT")
    }

    /// A query parameter no method of the API has, as Google's front end words it.
    pub fn unknown_parameter(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query parameter. Field \
                 '{name}' could not be found in request message."
            ),
            "invalid",
            "INVALID_ARGUMENT",
        )
    }

    /// A body over a method's `maxSize`: Google's front end answers 400 with this wording.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Request payload size exceeds the limit: {limit} bytes."),
            "badRequest",
            "INVALID_ARGUMENT",
        )
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message, "duplicate", "ALREADY_EXISTS")
    }

    /// The per-user per-minute quota is spent. The handle-errors guide documents both a 403
    /// `userRateLimitExceeded` and a 429 `rateLimitExceeded` (domain `usageLimits`); the quota page
    /// of today words the per-user limit "per minute per user", and Google's newer quota surface
    /// answers it with 429, so we answer 429 `rateLimitExceeded`, `RESOURCE_EXHAUSTED`.
    pub fn rate_limited() -> ApiError {
        ApiError {
            domain: "usageLimits",
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "User-rate limit exceeded. Retry after the per-user quota of units per minute has room again.",
                "rateLimitExceeded",
                "RESOURCE_EXHAUSTED",
            )
        }
    }

    pub fn body(&self) -> Value {
        let short = self.short.map_or(self.message.as_str(), |s| s);
        let mut item = json!({"message": short, "domain": self.domain, "reason": self.reason});
        if let Some(location) = self.location {
            item["location"] = json!(location);
            item["locationType"] = json!("header");
        }
        json!({"error": {"code": self.code.as_u16(), "message": self.message, "errors": [item], "status": self.status}})
    }
}

/// What a Gmail method answers: a status and, unless it is 204, a JSON body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(body: Value) -> Reply {
        Reply { status: StatusCode::OK, body: Some(body) }
    }

    pub fn no_content() -> Reply {
        Reply { status: StatusCode::NO_CONTENT, body: None }
    }

    /// The body as sent on the wire.
    pub fn body_text(&self) -> String {
        self.body.as_ref().map(|b| b.to_string()).unwrap_or_default()
    }
}

impl From<ApiError> for Reply {
    fn from(error: ApiError) -> Reply {
        Reply { status: error.code, body: Some(error.body()) }
    }
}

pub const JSON_TYPE: &str = "application/json; charset=UTF-8";

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let text = self.body_text();
        let mut response = (self.status, text).into_response();
        if self.body.is_some() {
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_TYPE));
        }
        response
    }
}

pub type ApiResult = Result<Reply, ApiError>;
