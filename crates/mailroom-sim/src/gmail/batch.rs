//! The batch endpoint (`POST /batch/gmail/v1`, and `POST /batch` as the discovery document's
//! `batchPath`): a `multipart/mixed` body whose parts are whole HTTP requests. Each part runs
//! through the same dispatcher as a call of its own, so it is authorized and charged on its own;
//! the answer is `multipart/mixed` with one `application/http` part per call, in order.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::errors::{ApiError, JSON_TYPE, Reply};
use super::methods::{Incoming, dispatch};
use super::multipart;
use crate::SimState;
use crate::state::{PartStatuses, Spent};

/// "You're limited to 100 calls in a single batch request."
const MAX_CALLS: usize = 100;

/// One call of a batch, as written.
#[derive(Debug, PartialEq, Eq)]
struct Part {
    content_id: Option<String>,
    method: String,
    /// Path and query, without the `/google/` prefix (`gmail/v1/users/me/…?format=raw`).
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// The path below `/google/` of a part's request target, which may be a path or a full URL.
fn target(url: &str) -> String {
    let path_and_query = match url::Url::parse(url) {
        Ok(parsed) => match parsed.query() {
            Some(query) => format!("{}?{query}", parsed.path()),
            None => parsed.path().to_owned(),
        },
        Err(_) => url.to_owned(),
    };
    let trimmed = path_and_query.trim_start_matches('/');
    trimmed.strip_prefix("google/").unwrap_or(trimmed).to_owned()
}

/// The calls of a batch body; `Err` (with the part's Content-ID) for a part that holds no HTTP
/// request line.
fn parse(body: &[u8], boundary: &str) -> Vec<Result<Part, Option<String>>> {
    multipart::parts(body, boundary)
        .into_iter()
        .map(|chunk| {
            let (part_headers, request) = multipart::split_head(chunk);
            let content_id = part_headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-id"))
                .map(|(_, v)| v.trim_matches(['<', '>']).to_owned());
            let start = request.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(request.len());
            let request = &request[start..];
            let line_end = request.iter().position(|b| *b == b'\n').unwrap_or(request.len());
            let line = String::from_utf8_lossy(&request[..line_end]);
            let mut words = line.split_whitespace();
            let (Some(method), Some(url)) = (words.next(), words.next()) else { return Err(content_id) };
            let (headers, body) = multipart::split_head(request.get(line_end + 1..).unwrap_or_default());
            Ok(Part { content_id, method: method.to_owned(), target: target(url), headers, body: body.to_vec() })
        })
        .collect()
}

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("")
}

fn response_part(out: &mut String, boundary: &str, content_id: &str, reply: &Reply) {
    let body = reply.body_text();
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <response-{content_id}>\r\n\r\n"
    ));
    out.push_str(&format!("HTTP/1.1 {} {}\r\n", reply.status.as_u16(), reason(reply.status)));
    if reply.body.is_some() {
        out.push_str(&format!("Content-Type: {JSON_TYPE}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}\r\n", body.len()));
}

/// Outer headers reach every part except the `Content-*` ones; a part's own headers win.
fn part_headers(outer: &HeaderMap, part: &Part) -> HeaderMap {
    let mut headers: HeaderMap = outer
        .iter()
        .filter(|(n, _)| !n.as_str().starts_with("content-"))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    for (name, value) in &part.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
            headers.insert(name, value);
        }
    }
    headers
}

pub async fn handle(State(state): State<SimState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(boundary) = multipart::boundary(&headers, "multipart/mixed") else {
        return Reply::from(ApiError::invalid_argument("A batch request must be multipart/mixed with a boundary"))
            .into_response();
    };
    let parts = parse(&body, &boundary);
    if parts.is_empty() {
        return Reply::from(ApiError::invalid_argument("A batch request must contain at least one request"))
            .into_response();
    }
    if parts.len() > MAX_CALLS {
        return Reply::from(ApiError::invalid_argument(format!(
            "A batch request cannot contain more than {MAX_CALLS} requests"
        )))
        .into_response();
    }
    let answer_boundary = format!("batch_{}", state.world().token("", 12).replace(['-', '_'], "0"));
    let mut out = String::new();
    let mut spent: Option<Spent> = None;
    let mut statuses = Vec::new();
    for (index, part) in parts.into_iter().enumerate() {
        let fallback_id = (index + 1).to_string();
        let (content_id, outcome) = match part {
            Err(content_id) => {
                let reply = Reply::from(ApiError::invalid_argument("A batch part must hold an HTTP request"));
                (content_id.unwrap_or(fallback_id), reply)
            }
            Ok(part) => {
                let headers = part_headers(&headers, &part);
                let (path, query) = part.target.split_once('?').unwrap_or((&part.target, ""));
                let incoming =
                    Incoming { method: &part.method, path, query, headers: &headers, body: &part.body, upload: false };
                // An injected rate limit refuses this call alone, as Google limits each call of a
                // batch on its own; a refused call spends no quota.
                let outcome = if crate::faults::roll_rate_limit(&state) {
                    super::methods::Outcome { reply: Reply::from(ApiError::rate_limited()), spent: None }
                } else {
                    dispatch(&state, &incoming)
                };
                if let Some(part_spent) = outcome.spent {
                    let total = spent.as_ref().map_or(0, |s| s.units) + part_spent.units;
                    let user = spent.take().map_or(part_spent.user, |s| s.user);
                    spent = Some(Spent { units: total, user });
                }
                (part.content_id.unwrap_or(fallback_id), outcome.reply)
            }
        };
        statuses.push(outcome.status.as_u16());
        response_part(&mut out, &answer_boundary, &content_id, &outcome);
    }
    out.push_str(&format!("--{answer_boundary}--\r\n"));
    let mut response = (StatusCode::OK, out).into_response();
    if let Ok(value) = HeaderValue::try_from(format!("multipart/mixed; boundary={answer_boundary}")) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    if let Some(spent) = spent {
        response.extensions_mut().insert(spent);
    }
    response.extensions_mut().insert(PartStatuses(statuses));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_read_with_their_ids_targets_and_bodies() {
        let body = "preamble\r\n--xyz\r\nContent-Type: application/http\r\nContent-ID: <item1>\r\n\r\n\
GET /gmail/v1/users/me/messages/abc?format=minimal HTTP/1.1\r\n\r\n\r\n--xyz\r\n\
Content-Type: application/http\r\n\r\nPOST https://gmail.googleapis.com/google/gmail/v1/users/me/labels\r\n\
Content-Type: application/json\r\n\r\n{\"name\":\"x\"}\r\n--xyz--\r\n";
        let parts = parse(body.as_bytes(), "xyz");
        assert_eq!(parts.len(), 2);
        let first = parts[0].as_ref().unwrap();
        assert_eq!(first.content_id.as_deref(), Some("item1"));
        assert_eq!(first.target, "gmail/v1/users/me/messages/abc?format=minimal");
        let second = parts[1].as_ref().unwrap();
        assert_eq!((second.method.as_str(), second.target.as_str()), ("POST", "gmail/v1/users/me/labels"));
        assert_eq!(second.body, b"{\"name\":\"x\"}");
        assert_eq!(second.headers, vec![("Content-Type".to_owned(), "application/json".to_owned())]);
    }
}
