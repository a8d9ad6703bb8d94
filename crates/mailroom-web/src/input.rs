//! Input no handler should ever see. The NUL character has no place in any text a person types
//! or a program sends, PostgreSQL refuses it in text columns (a 500 where a note, a draft or a
//! token name held one) and SQLite's full-text queries end a string at it. It is refused here,
//! at the edge, once for every route: in the path, the query string, and the fields of a form or
//! a JSON body (files uploaded in a multipart form may hold any bytes and are left alone).

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::api::ApiError;
use crate::errors::ErrorKind;

pub async fn refuse_nul(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let refuse = || if api { ApiError::nul().into_response() } else { ErrorKind::Nul.into_response() };
    if path_has_nul(request.uri().path()) || request.uri().query().is_some_and(form_has_nul) {
        return refuse();
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let kind = if content_type.starts_with("application/x-www-form-urlencoded") {
        Kind::Form
    } else if content_type.starts_with("application/json") || content_type.contains("+json") {
        Kind::Json
    } else if let Ok(boundary) = multer::parse_boundary(&content_type) {
        Kind::Multipart(boundary)
    } else {
        return next.run(request).await;
    };
    // A file posted to a draft is the body's only part: its name, the one text in it, is cleaned
    // of control characters by the handler; reading it here would hold the whole file once more.
    if matches!(kind, Kind::Multipart(_)) && crate::pages::drafts::is_file_upload(request.uri().path()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let limit = crate::csrf::body_limit(&state, parts.uri.path(), &content_type);
    let Ok(bytes) = read_body(body, limit, length_of(&parts.headers)).await else {
        return if api {
            ApiError::too_large("The request body is too large.").into_response()
        } else {
            ErrorKind::TooLarge.into_response()
        };
    };
    let found = match kind {
        Kind::Form => form_has_nul_bytes(&bytes),
        Kind::Json => json_has_nul(&bytes),
        Kind::Multipart(boundary) => multipart_text_has_nul(bytes.clone(), boundary).await,
    };
    if found {
        return refuse();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The request's declared length, if any.
pub fn length_of(headers: &axum::http::HeaderMap) -> Option<usize> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// A body read whole, refused past `limit` bytes, into one buffer made as large as the declared
/// `length` at once: collecting the pieces and joining them would hold the body twice.
pub async fn read_body(body: Body, limit: usize, length: Option<usize>) -> Result<Bytes, BodyRefused> {
    use futures_util::StreamExt as _;
    if length.is_some_and(|length| length > limit) {
        return Err(BodyRefused);
    }
    let mut stream = body.into_data_stream();
    let mut buffer = Vec::with_capacity(length.unwrap_or(0));
    while let Some(data) = stream.next().await {
        let data = data.map_err(|_| BodyRefused)?;
        if buffer.len() + data.len() > limit {
            return Err(BodyRefused);
        }
        buffer.extend_from_slice(&data);
    }
    Ok(Bytes::from(buffer))
}

/// A body over its limit, or cut off.
#[derive(Debug)]
pub struct BodyRefused;

enum Kind {
    Form,
    Json,
    Multipart(String),
}

fn has_nul(text: &str) -> bool {
    text.contains('\0')
}

/// In a path every `%` starts an escape, so NUL is there exactly when `%00` is.
fn path_has_nul(path: &str) -> bool {
    path.contains("%00")
}

fn form_has_nul(query: &str) -> bool {
    form_has_nul_bytes(query.as_bytes())
}

fn form_has_nul_bytes(body: &[u8]) -> bool {
    body.contains(&0) || url::form_urlencoded::parse(body).any(|(k, v)| has_nul(&k) || has_nul(&v))
}

/// Whether a JSON text holds NUL: raw (which JSON does not allow anyway) or as the escape
/// `\u0000`. An escape is one when an odd number of backslashes stands before the `u`: `\\u0000`
/// is a backslash followed by the text "u0000".
fn json_has_nul(body: &[u8]) -> bool {
    if body.contains(&0) {
        return true;
    }
    const ESCAPE: &[u8] = b"u0000";
    body.windows(ESCAPE.len())
        .enumerate()
        .any(|(at, window)| window == ESCAPE && body[..at].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1)
}

/// Whether a text field of a multipart form (one without a file name) holds NUL.
async fn multipart_text_has_nul(body: Bytes, boundary: String) -> bool {
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    while let Ok(Some(mut field)) = multipart.next_field().await {
        if field.name().is_some_and(has_nul) {
            return true;
        }
        let is_file = field.file_name().is_some();
        // Read a piece at a time, so that a file is looked at but never copied.
        while let Ok(Some(chunk)) = field.chunk().await {
            if !is_file && chunk.contains(&0) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_however_it_is_written() {
        assert!(form_has_nul("q=a%00b"));
        assert!(form_has_nul("a%00=1"));
        assert!(!form_has_nul("q=100%25&r=%2500"));
        assert!(json_has_nul(br#"{"note": "a\u0000b"}"#));
        assert!(json_has_nul(br#"{"note": "a\\\u0000b"}"#));
        assert!(!json_has_nul(br#"{"note": "a\\u0000b"}"#));
        assert!(!json_has_nul(br#"{"note": "\\\\u0000"}"#));
        assert!(json_has_nul(b"{\"note\": \"a\0\"}"));
        assert!(path_has_nul("/api/v1/messages/1/cid/a%00b"));
        assert!(!path_has_nul("/api/v1/messages/1/cid/a+b%2500"));
    }

    #[tokio::test]
    async fn a_file_may_hold_nul_but_a_text_field_may_not() {
        let body = |field: &str| {
            Bytes::from(format!(
                "--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x.bin\"\r\n\r\n\0\0\r\n\
                 --b\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\n{field}\r\n--b--\r\n"
            ))
        };
        assert!(!multipart_text_has_nul(body("hello"), "b".to_owned()).await);
        assert!(multipart_text_has_nul(body("hel\0lo"), "b".to_owned()).await);
    }
}
