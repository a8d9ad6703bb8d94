//! The Gmail API v1 calls the sync engine needs: the mailbox's history id, its labels, message
//! listing, raw messages (one at a time or through the batch endpoint) and `history.list`.
//! Errors are classified by [`crate::api`], per call and, in a batch, per part.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::api::{ApiError, classify, join};
use crate::{Providers, describe_transport_error, retry_after};

/// The most calls sent in one batch request ("sending batches larger than 50 requests is not
/// recommended").
const BATCH_SIZE: usize = 50;

/// A Gmail label as `labels.list` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GmailLabel {
    pub id: String,
    pub name: String,
    /// `system` or `user`.
    pub label_type: String,
}

/// One page of `messages.list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GmailPage {
    /// `(id, thread_id)`, newest first.
    pub ids: Vec<(String, String)>,
    pub next_page_token: Option<String>,
    /// Gmail's estimate of how many messages the whole list has (`resultSizeEstimate`).
    pub result_size_estimate: Option<u64>,
}

/// A message as `messages.get?format=raw` gives it, with the raw bytes decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GmailRawMessage {
    pub id: String,
    pub thread_id: String,
    pub label_ids: Vec<String>,
    pub history_id: u64,
    pub internal_date_ms: i64,
    pub raw: Vec<u8>,
}

/// One page of `history.list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GmailHistoryPage {
    /// Oldest first.
    pub records: Vec<GmailHistoryRecord>,
    pub next_page_token: Option<String>,
    /// The mailbox's current history id: the cursor to keep once there is no next page.
    pub history_id: u64,
}

/// One history record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GmailHistoryRecord {
    pub id: u64,
    /// `(id, thread_id, label_ids)`.
    pub messages_added: Vec<(String, String, Vec<String>)>,
    pub messages_deleted: Vec<String>,
    /// `(message id, label ids added)`.
    pub labels_added: Vec<(String, Vec<String>)>,
    /// `(message id, label ids removed)`.
    pub labels_removed: Vec<(String, Vec<String>)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileJson {
    history_id: String,
}

#[derive(Deserialize)]
struct LabelsJson {
    #[serde(default)]
    labels: Vec<LabelJson>,
}

#[derive(Deserialize)]
struct LabelJson {
    id: String,
    name: String,
    #[serde(default, rename = "type")]
    label_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListJson {
    #[serde(default)]
    messages: Vec<MessageRefJson>,
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    result_size_estimate: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageRefJson {
    id: String,
    #[serde(default)]
    thread_id: String,
    #[serde(default)]
    label_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawJson {
    id: String,
    #[serde(default)]
    thread_id: String,
    #[serde(default)]
    label_ids: Vec<String>,
    history_id: String,
    internal_date: String,
    raw: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryJson {
    #[serde(default)]
    history: Vec<HistoryRecordJson>,
    #[serde(default)]
    next_page_token: Option<String>,
    history_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryRecordJson {
    id: String,
    #[serde(default)]
    messages_added: Vec<Wrapped>,
    #[serde(default)]
    messages_deleted: Vec<Wrapped>,
    #[serde(default)]
    labels_added: Vec<Wrapped>,
    #[serde(default)]
    labels_removed: Vec<Wrapped>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wrapped {
    message: MessageRefJson,
    #[serde(default)]
    label_ids: Vec<String>,
}

fn bad_shape(what: &str) -> ApiError {
    ApiError::Permanent { status: 200, message: format!("the answer does not have the expected shape: {what}") }
}

fn parse_u64(value: &str, what: &str) -> Result<u64, ApiError> {
    value.trim().parse().map_err(|_| bad_shape(what))
}

/// base64url, padded or not.
pub(crate) fn decode_raw(value: &str) -> Result<Vec<u8>, ApiError> {
    let value = value.trim();
    URL_SAFE
        .decode(value)
        .or_else(|_| URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')))
        .map_err(|_| bad_shape("raw is not base64url"))
}

impl TryFrom<RawJson> for GmailRawMessage {
    type Error = ApiError;

    fn try_from(json: RawJson) -> Result<Self, ApiError> {
        Ok(GmailRawMessage {
            history_id: parse_u64(&json.history_id, "historyId is not a number")?,
            internal_date_ms: json.internal_date.trim().parse().map_err(|_| bad_shape("internalDate"))?,
            raw: decode_raw(&json.raw)?,
            id: json.id,
            thread_id: json.thread_id,
            label_ids: json.label_ids,
        })
    }
}

impl Providers {
    fn gmail_url(&self, path: &str) -> Result<Url, ApiError> {
        join(&self.endpoints().google.api_url, &format!("gmail/v1/users/me/{path}"))
    }

    /// The mailbox's current history id (`users.getProfile`).
    pub async fn gmail_history_id(&self, access_token: &SecretString) -> Result<u64, ApiError> {
        let profile: ProfileJson = self.get_json(self.gmail_url("profile")?, access_token).await?;
        parse_u64(&profile.history_id, "historyId is not a number")
    }

    /// Every label of the mailbox (`labels.list`).
    pub async fn gmail_labels(&self, access_token: &SecretString) -> Result<Vec<GmailLabel>, ApiError> {
        let labels: LabelsJson = self.get_json(self.gmail_url("labels")?, access_token).await?;
        Ok(labels
            .labels
            .into_iter()
            .map(|l| GmailLabel { id: l.id, name: l.name, label_type: l.label_type.unwrap_or_else(|| "user".into()) })
            .collect())
    }

    /// One page of the messages matching `query`, spam and trash included, only those with `label`
    /// when one is given (`messages.list`, `labelIds`).
    pub async fn gmail_list_messages(
        &self,
        access_token: &SecretString,
        query: &str,
        label: Option<&str>,
        page_token: Option<&str>,
        max_results: u32,
    ) -> Result<GmailPage, ApiError> {
        let mut url = self.gmail_url("messages")?;
        {
            let mut pairs = url.query_pairs_mut();
            if !query.is_empty() {
                pairs.append_pair("q", query);
            }
            if let Some(label) = label {
                pairs.append_pair("labelIds", label);
            }
            pairs.append_pair("includeSpamTrash", "true").append_pair("maxResults", &max_results.to_string());
            if let Some(token) = page_token.filter(|t| !t.is_empty()) {
                pairs.append_pair("pageToken", token);
            }
        }
        let list: ListJson = self.get_json(url, access_token).await?;
        Ok(GmailPage {
            ids: list.messages.into_iter().map(|m| (m.id, m.thread_id)).collect(),
            next_page_token: list.next_page_token.filter(|t| !t.is_empty()),
            result_size_estimate: list.result_size_estimate,
        })
    }

    /// One message with its raw bytes (`messages.get?format=raw`).
    pub async fn gmail_get_raw(&self, access_token: &SecretString, id: &str) -> Result<GmailRawMessage, ApiError> {
        let mut url = self.gmail_url(&format!("messages/{}", path_segment(id)))?;
        url.set_query(Some("format=raw"));
        let json: RawJson = self.get_json(url, access_token).await?;
        GmailRawMessage::try_from(json)
    }

    /// Many messages with their raw bytes through the batch endpoint, at most 50 calls a batch.
    /// The outer `Result` fails when a batch request itself fails; the inner ones, in the order
    /// of `ids`, are each call's own outcome.
    pub async fn gmail_get_raw_batch(
        &self,
        access_token: &SecretString,
        ids: &[String],
    ) -> Result<Vec<Result<GmailRawMessage, ApiError>>, ApiError> {
        let mut results = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_SIZE) {
            results.extend(self.gmail_batch_chunk(access_token, chunk).await?);
        }
        Ok(results)
    }

    async fn gmail_batch_chunk(
        &self,
        access_token: &SecretString,
        ids: &[String],
    ) -> Result<Vec<Result<GmailRawMessage, ApiError>>, ApiError> {
        let url = join(&self.endpoints().google.api_url, "batch/gmail/v1")?;
        let boundary = format!("mailroom_batch_{}", random_suffix());
        let mut body = String::new();
        for (index, id) in ids.iter().enumerate() {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{index}>\r\n\r\n\
                 GET /gmail/v1/users/me/messages/{}?format=raw\r\n\r\n",
                path_segment(id)
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        let response = self
            .http
            .post(url)
            .bearer_auth(access_token.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, format!("multipart/mixed; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .map_err(|e| ApiError::Transient { reason: describe_transport_error(e), retry_after: None })?;
        let status = response.status();
        crate::count_response(mailroom_domain::Provider::Google, status.as_u16());
        let wait = retry_after(response.headers());
        let content_type =
            response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ApiError::Transient { reason: describe_transport_error(e), retry_after: None })?;
        if !status.is_success() {
            return Err(classify(status.as_u16(), wait, &bytes));
        }
        let answer_boundary = content_type
            .as_deref()
            .and_then(boundary_of)
            .ok_or_else(|| bad_shape("the batch answer is not multipart/mixed"))?;
        let mut slots: Vec<Option<Result<GmailRawMessage, ApiError>>> = (0..ids.len()).map(|_| None).collect();
        for (position, part) in multipart_parts(&bytes, &answer_boundary).into_iter().enumerate() {
            let (part_headers, http) = split_head(part);
            let index = part_headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-id"))
                .and_then(|(_, v)| v.trim_matches(['<', '>']).strip_prefix("response-item")?.parse::<usize>().ok())
                .unwrap_or(position);
            if let Some(slot) = slots.get_mut(index) {
                *slot = Some(read_part(http));
            }
        }
        Ok(slots
            .into_iter()
            .map(|slot| slot.unwrap_or_else(|| Err(bad_shape("the batch answer has no part for this call"))))
            .collect())
    }

    /// The changes after `start_history_id` (`history.list`); 404 ([`ApiError::NotFound`]) means
    /// the start is too old and the mailbox needs a full sync.
    pub async fn gmail_history(
        &self,
        access_token: &SecretString,
        start_history_id: u64,
        page_token: Option<&str>,
    ) -> Result<GmailHistoryPage, ApiError> {
        let mut url = self.gmail_url("history")?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("startHistoryId", &start_history_id.to_string());
            for kind in ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"] {
                pairs.append_pair("historyTypes", kind);
            }
            if let Some(token) = page_token.filter(|t| !t.is_empty()) {
                pairs.append_pair("pageToken", token);
            }
        }
        let json: HistoryJson = self.get_json(url, access_token).await?;
        let records = json
            .history
            .into_iter()
            .map(|r| {
                Ok(GmailHistoryRecord {
                    id: parse_u64(&r.id, "a history record id is not a number")?,
                    messages_added: r
                        .messages_added
                        .into_iter()
                        .map(|w| (w.message.id, w.message.thread_id, w.message.label_ids))
                        .collect(),
                    messages_deleted: r.messages_deleted.into_iter().map(|w| w.message.id).collect(),
                    labels_added: r.labels_added.into_iter().map(|w| (w.message.id, w.label_ids)).collect(),
                    labels_removed: r.labels_removed.into_iter().map(|w| (w.message.id, w.label_ids)).collect(),
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(GmailHistoryPage {
            records,
            next_page_token: json.next_page_token.filter(|t| !t.is_empty()),
            history_id: parse_u64(&json.history_id, "historyId is not a number")?,
        })
    }
}

/// A message id as one path segment (ids are hex, but a stray character must not change the path).
fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>().replace('+', "%20")
}

pub(crate) fn random_suffix() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the operating system's random generator is unavailable");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The boundary of a `multipart/mixed` content type.
fn boundary_of(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn strip_line_break_start(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\r\n").or_else(|| bytes.strip_prefix(b"\n")).unwrap_or(bytes)
}

fn strip_line_break_end(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(b"\r\n").or_else(|| bytes.strip_suffix(b"\n")).unwrap_or(bytes)
}

/// The parts between the delimiters of a multipart body.
fn multipart_parts<'b>(body: &'b [u8], boundary: &str) -> Vec<&'b [u8]> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut starts = Vec::new();
    let mut from = 0;
    while let Some(at) = find(&body[from..], &delimiter) {
        starts.push(from + at);
        from += at + delimiter.len();
    }
    starts
        .windows(2)
        .map(|w| strip_line_break_end(strip_line_break_start(&body[w[0] + delimiter.len()..w[1]])))
        .collect()
}

/// A block's header fields and what follows the first empty line.
fn split_head(block: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    if let Some(rest) = block.strip_prefix(b"\r\n").or_else(|| block.strip_prefix(b"\n")) {
        return (Vec::new(), rest);
    }
    let crlf = find(block, b"\r\n\r\n").map(|at| (at, at + 4));
    let lf = find(block, b"\n\n").map(|at| (at, at + 2));
    let (head, rest) = match (crlf, lf) {
        (Some(a), Some(b)) if b.0 < a.0 => (&block[..b.0], &block[b.1..]),
        (Some(a), _) => (&block[..a.0], &block[a.1..]),
        (None, Some(b)) => (&block[..b.0], &block[b.1..]),
        (None, None) => (block, &block[block.len()..]),
    };
    let headers = String::from_utf8_lossy(head)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    (headers, rest)
}

/// One `application/http` answer of a batch: status line, headers, body.
fn read_part(http: &[u8]) -> Result<GmailRawMessage, ApiError> {
    let http = &http[http.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(http.len())..];
    let line_end = http.iter().position(|b| *b == b'\n').unwrap_or(http.len());
    let status_line = String::from_utf8_lossy(&http[..line_end]);
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad_shape("a batch part has no status line"))?;
    let (headers, body) = split_head(http.get(line_end + 1..).unwrap_or_default());
    let body = strip_line_break_end(body);
    crate::count_response(mailroom_domain::Provider::Google, status);
    if !(200..300).contains(&status) {
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in &headers {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::try_from(name.as_str()),
                reqwest::header::HeaderValue::try_from(value.as_str()),
            ) {
                map.insert(name, value);
            }
        }
        return Err(classify(status, retry_after(&map), body));
    }
    let json: RawJson = serde_json::from_slice(body).map_err(|e| bad_shape(&e.to_string()))?;
    GmailRawMessage::try_from(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bytes_decode_padded_and_unpadded() {
        assert_eq!(decode_raw("aGk_").expect("unpadded"), b"hi?");
        assert_eq!(decode_raw("aGk=").expect("padded"), b"hi");
        assert_eq!(decode_raw("aGk").expect("unpadded"), b"hi");
    }

    #[test]
    fn a_batch_part_with_an_error_status_is_classified() {
        let part = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":404}}\r\n";
        assert!(matches!(read_part(part), Err(ApiError::NotFound)));
        let part = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n\r\n{}";
        assert!(matches!(read_part(part), Err(ApiError::RateLimited { retry_after: Some(_) })));
    }
}
