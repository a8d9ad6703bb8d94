//! Sending a message Mailroom built, and finding it again by its Message-ID: Gmail's
//! `messages.send` (a multipart media upload: JSON metadata with the `threadId`, then the
//! message as `message/rfc822`) and `messages.list?q=rfc822msgid:`; Graph's `sendMail` with the
//! MIME as standard base64 in a `text/plain` body, and Sent Items filtered by
//! `internetMessageId`.

use base64::Engine as _;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;

use crate::Providers;
use crate::actions::WriteBody;
use crate::api::{ApiError, join};

/// Gmail's limit on a message sent through `messages.send` (its discovery document's `maxSize`).
pub const GMAIL_SEND_LIMIT: usize = 36_700_160;
/// Graph's limit on a request body: `sendMail` with MIME carries the message base64-encoded,
/// four bytes for every three.
pub const GRAPH_SEND_LIMIT: usize = 4 * 1024 * 1024 * 3 / 4;

#[derive(Deserialize)]
struct SentJson {
    id: String,
}

#[derive(Deserialize)]
struct IdsJson {
    #[serde(default)]
    value: Vec<SentJson>,
}

/// From this size a file goes to an Outlook draft through an upload session; a smaller one in
/// one `POST me/messages/{id}/attachments` (outlook-large-attachments.md: "If the file size is
/// under 3 MB, do a single POST"). 3 MB read as 3,000,000 bytes: base64 makes that 4,000,000,
/// which with the JSON around it stays under the 4 MB request limit whichever megabyte is meant.
pub const GRAPH_UPLOAD_MIN: usize = 3_000_000;
/// A message to Outlook, large files included: Exchange Online's default limit.
pub const GRAPH_MESSAGE_LIMIT: usize = 35 * 1024 * 1024;
/// One chunk of an upload: a multiple of 320 KiB under 4 MB, as Graph asks.
pub const GRAPH_UPLOAD_CHUNK: usize = 12 * 320 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadSessionJson {
    upload_url: String,
}

impl Providers {
    /// Attaches a file to Outlook draft `message_id`, each file on its own as Graph asks
    /// ("choose the approach for each file based on its file size and attach the files
    /// individually"): under [`GRAPH_UPLOAD_MIN`] in one request, else through an upload session.
    pub async fn graph_attach_file(
        &self,
        access_token: &SecretString,
        message_id: &str,
        name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<(), ApiError> {
        if bytes.len() >= GRAPH_UPLOAD_MIN {
            return self.graph_upload_file(access_token, message_id, name, content_type, bytes).await;
        }
        let mut url = join(&self.endpoints().microsoft.api_url, "me/messages")?;
        url.path_segments_mut().map_err(|()| ApiError::NotFound)?.push(message_id).push("attachments");
        let attachment = json!({"@odata.type": "#microsoft.graph.fileAttachment", "name": name,
            "contentType": content_type, "contentBytes": base64::engine::general_purpose::STANDARD.encode(bytes)});
        self.graph_write(reqwest::Method::POST, url, access_token, Some(attachment)).await.map(drop)
    }

    /// Attaches `bytes` (of [`GRAPH_UPLOAD_MIN`] or more) to Outlook draft `message_id` through an
    /// upload session: the session, then the file in chunks to its pre-authenticated URL (which
    /// takes no token).
    pub async fn graph_upload_file(
        &self,
        access_token: &SecretString,
        message_id: &str,
        name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<(), ApiError> {
        let session = self.graph_upload_session(access_token, message_id, name, content_type, bytes.len()).await?;
        for (n, chunk) in bytes.chunks(GRAPH_UPLOAD_CHUNK).enumerate() {
            self.graph_upload_chunk(&session, n * GRAPH_UPLOAD_CHUNK, chunk.to_vec(), bytes.len()).await?;
        }
        Ok(())
    }

    /// An upload session for a file of `size` bytes to Outlook draft `message_id`: the URL its
    /// chunks go to ([`Providers::graph_upload_chunk`]), for a caller that reads the file a
    /// chunk at a time.
    pub async fn graph_upload_session(
        &self,
        access_token: &SecretString,
        message_id: &str,
        name: &str,
        content_type: &str,
        size: usize,
    ) -> Result<url::Url, ApiError> {
        let mut url = join(&self.endpoints().microsoft.api_url, "me/messages")?;
        url.path_segments_mut()
            .map_err(|()| ApiError::NotFound)?
            .push(message_id)
            .push("attachments")
            .push("createUploadSession");
        let item = json!({"AttachmentItem": {"attachmentType": "file", "name": name, "size": size,
            "contentType": content_type}});
        let answer = self.graph_write(reqwest::Method::POST, url, access_token, Some(item)).await?;
        let session: UploadSessionJson = serde_json::from_slice(&answer).map_err(|e| ApiError::Permanent {
            status: 201,
            message: format!("the answer does not have the expected shape: {e}"),
        })?;
        url::Url::parse(&session.upload_url)
            .map_err(|_| ApiError::Permanent { status: 201, message: "the upload session has no valid URL".to_owned() })
    }

    /// One chunk of a file of `size` bytes, from byte `start`, to its upload session: of
    /// [`GRAPH_UPLOAD_CHUNK`] bytes but the last.
    pub async fn graph_upload_chunk(
        &self,
        session: &url::Url,
        start: usize,
        chunk: Vec<u8>,
        size: usize,
    ) -> Result<(), ApiError> {
        let range = format!("bytes {start}-{}/{size}", start + chunk.len() - 1);
        self.put_chunk(session.clone(), &range, chunk).await
    }

    async fn put_chunk(&self, url: url::Url, range: &str, chunk: Vec<u8>) -> Result<(), ApiError> {
        let response = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_RANGE, range)
            .body(chunk)
            .send()
            .await
            .map_err(|e| ApiError::Transient { reason: crate::describe_transport_error(e), retry_after: None })?;
        let status = response.status();
        crate::count_response(mailroom_domain::Provider::Microsoft, status.as_u16());
        let wait = crate::retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| ApiError::Transient { reason: crate::describe_transport_error(e), retry_after: None })?;
        if status.is_success() { Ok(()) } else { Err(crate::api::classify(status.as_u16(), wait, &body)) }
    }

    /// Sends Outlook draft `id` (`POST me/messages/{id}/send`); Graph keeps it in Sent Items.
    pub async fn graph_send_draft(&self, access_token: &SecretString, id: &str) -> Result<(), ApiError> {
        let mut url = join(&self.endpoints().microsoft.api_url, "me/messages")?;
        url.path_segments_mut().map_err(|()| ApiError::NotFound)?.push(id).push("send");
        self.graph_write(reqwest::Method::POST, url, access_token, WriteBody::Empty).await.map(drop)
    }

    /// Sends `raw` from the account, in the conversation `thread_id` when given; returns the
    /// sent message's id.
    pub async fn gmail_send(
        &self,
        access_token: &SecretString,
        raw: &[u8],
        thread_id: Option<&str>,
    ) -> Result<String, ApiError> {
        self.gmail_send_upload(access_token, MediaUpload::from(raw), thread_id).await
    }

    /// [`Providers::gmail_send`] of a message the caller wrote into `upload`.
    pub async fn gmail_send_upload(
        &self,
        access_token: &SecretString,
        upload: MediaUpload,
        thread_id: Option<&str>,
    ) -> Result<String, ApiError> {
        let mut url = join(&self.endpoints().google.api_url, "upload/gmail/v1/users/me/messages/send")?;
        url.set_query(Some("uploadType=multipart"));
        let metadata = match thread_id {
            Some(thread) => json!({ "threadId": thread }),
            None => json!({}),
        };
        let answer = self.write(reqwest::Method::POST, url, access_token, upload.into_body(&metadata)).await?;
        let sent: SentJson = serde_json::from_slice(&answer).map_err(|e| ApiError::Permanent {
            status: 200,
            message: format!("the answer does not have the expected shape: {e}"),
        })?;
        Ok(sent.id)
    }

    /// The id of the account's message with this Message-ID (without angle brackets), if Gmail
    /// has one: how a sender that may have been cut off learns whether the message went.
    pub async fn gmail_find_by_message_id(
        &self,
        access_token: &SecretString,
        message_id: &str,
    ) -> Result<Option<String>, ApiError> {
        let page =
            self.gmail_list_messages(access_token, &format!("rfc822msgid:<{message_id}>"), None, None, 10).await?;
        Ok(page.ids.into_iter().next().map(|(id, _thread)| id))
    }

    /// Sends `raw` from the account (`POST me/sendMail` with the MIME); Graph keeps a copy in
    /// Sent Items and answers 202 without an id.
    pub async fn graph_send_mime(&self, access_token: &SecretString, raw: &[u8]) -> Result<(), ApiError> {
        let url = join(&self.endpoints().microsoft.api_url, "me/sendMail")?;
        let bytes = base64::engine::general_purpose::STANDARD.encode(raw).into_bytes();
        let body = WriteBody::Bytes { content_type: "text/plain".to_owned(), bytes };
        self.graph_write(reqwest::Method::POST, url, access_token, body).await.map(drop)
    }

    /// The id of the message in Sent Items with this Message-ID (without angle brackets), if any.
    pub async fn graph_find_sent(
        &self,
        access_token: &SecretString,
        message_id: &str,
    ) -> Result<Option<String>, ApiError> {
        let mut url = join(&self.endpoints().microsoft.api_url, "me/mailFolders/sentitems/messages")?;
        // An OData string literal doubles its single quotes.
        let literal = format!("<{message_id}>").replace('\'', "''");
        url.query_pairs_mut()
            .append_pair("$filter", &format!("internetMessageId eq '{literal}'"))
            .append_pair("$select", "id")
            .append_pair("$top", "1");
        let found: IdsJson = self.graph_json(url, access_token, None).await?;
        Ok(found.value.into_iter().next().map(|m| m.id))
    }
}

/// A Gmail media upload (`uploadType=multipart`): a `multipart/related` body, the JSON metadata
/// first, then the message as `message/rfc822`. Messages and drafts up to 35 MB go this way; a
/// JSON body with the message in `raw` is for small ones. A large message is streamed: written
/// as it goes, a piece at a time, with its exact length given beforehand, so that the server
/// never holds it whole.
pub struct MediaUpload(Message);

enum Message {
    Whole(Vec<u8>),
    Streamed { length: u64, pieces: BoxStream<'static, std::io::Result<Vec<u8>>> },
}

impl MediaUpload {
    /// A message of exactly `length` bytes, written by `pieces` as the request goes (a failed
    /// piece aborts the request).
    pub fn streamed(length: u64, pieces: BoxStream<'static, std::io::Result<Vec<u8>>>) -> MediaUpload {
        MediaUpload(Message::Streamed { length, pieces })
    }

    /// The body to send, with `metadata`.
    pub(crate) fn into_body(self, metadata: &serde_json::Value) -> WriteBody {
        let boundary = format!("mailroom-{}", crate::gmail::random_suffix());
        let head = format!(
            "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n\
             --{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
        )
        .into_bytes();
        let tail = format!("\r\n--{boundary}--\r\n").into_bytes();
        let content_type = format!("multipart/related; boundary={boundary}");
        match self.0 {
            Message::Whole(raw) => {
                let mut bytes = Vec::with_capacity(head.len() + raw.len() + tail.len());
                for part in [&head, &raw, &tail] {
                    bytes.extend_from_slice(part);
                }
                WriteBody::Bytes { content_type, bytes }
            }
            Message::Streamed { length, pieces } => {
                let length = head.len() as u64 + length + tail.len() as u64;
                let body =
                    futures_util::stream::iter([Ok(head)]).chain(pieces).chain(futures_util::stream::iter([Ok(tail)]));
                WriteBody::Stream { content_type, length, body: reqwest::Body::wrap_stream(body) }
            }
        }
    }
}

impl From<&[u8]> for MediaUpload {
    fn from(raw: &[u8]) -> MediaUpload {
        MediaUpload(Message::Whole(raw.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_goes_around_the_message() {
        let raw = b"Subject: x\r\n\r\nbody".as_slice();
        let WriteBody::Bytes { content_type, bytes } = MediaUpload::from(raw).into_body(&json!({"threadId": "t1"}))
        else {
            panic!("bytes");
        };
        let boundary = content_type.strip_prefix("multipart/related; boundary=").unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let expected = format!(
            "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{{\"threadId\":\"t1\"}}\r\n\
             --{boundary}\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\nbody\r\n--{boundary}--\r\n"
        );
        assert_eq!(text, expected);
    }
}
