//! One module per page or group of pages; one template struct per template.

pub mod accounts;
pub mod assets;
pub mod compose;
pub mod drafts;
pub mod email_settings;
pub mod home;
pub mod language;
pub mod login;
pub mod mail;
pub mod ops;
pub mod settings;
pub mod setup;
pub mod signatures;
pub mod status;
pub mod templates;
pub mod time_zone;
pub mod tokens;
pub mod users;

use axum::response::{IntoResponse, Response};
use mailroom_domain::Invalid;

use crate::errors::ErrorKind;
use crate::i18n::Texts;

pub async fn not_found() -> Response {
    ErrorKind::NotFound.into_response()
}

/// Errors next to form fields, by field name, in the viewer's language.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, message)| message.as_str())
    }

    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keeps the parsed value, or records why the field was refused.
    pub fn check<T>(&mut self, t: &Texts, field: &'static str, parsed: Result<T, Invalid>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(invalid) => {
                self.add(field, t.invalid(invalid));
                None
            }
        }
    }
}

/// A redirect after a successful POST, with a notice for the next page (POST-redirect-GET).
pub fn see_other(path: &str, notice: &str) -> Response {
    axum::response::Redirect::to(&format!("{path}?notice={notice}")).into_response()
}

/// A refusal the page's script shows (in a toast, beside a file), as it is: not made into an
/// error page.
pub(crate) fn json_error(status: axum::http::StatusCode, text: &str) -> Response {
    let mut response = (status, axum::Json(serde_json::json!({ "error": text }))).into_response();
    response.extensions_mut().insert(crate::errors::Verbatim);
    response
}

/// Whether the request asks for JSON rather than a page.
pub(crate) fn wants_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// A file's size as people read it.
pub(crate) fn size_text(bytes: i64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{} kB", b >> 10),
        b => format!("{b} B"),
    }
}
