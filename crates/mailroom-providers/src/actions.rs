//! The calls that write a user's actions back to the provider: Gmail's label changes, trash and
//! delete (`messages.modify`, `trash`, `untrash`, `delete`), and Graph's message update, move and
//! delete. Each succeeds or fails as a whole; a message already gone is [`ApiError::NotFound`].

use mailroom_domain::Provider;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use crate::api::{ApiError, classify, join};
use crate::{Providers, describe_transport_error, retry_after};

impl Providers {
    /// Adds and removes labels (`POST messages/{id}/modify`).
    pub async fn gmail_modify(
        &self,
        access_token: &SecretString,
        id: &str,
        add: &[&str],
        remove: &[&str],
    ) -> Result<(), ApiError> {
        let url = self.gmail_message_url(id, Some("modify"))?;
        let body = json!({ "addLabelIds": add, "removeLabelIds": remove });
        self.write(reqwest::Method::POST, url, access_token, Some(body)).await.map(drop)
    }

    /// Moves a message to the trash or out of it (`POST messages/{id}/trash` or `untrash`).
    pub async fn gmail_trash(&self, access_token: &SecretString, id: &str, to_trash: bool) -> Result<(), ApiError> {
        let url = self.gmail_message_url(id, Some(if to_trash { "trash" } else { "untrash" }))?;
        self.write(reqwest::Method::POST, url, access_token, None).await.map(drop)
    }

    /// Deletes a message for good (`DELETE messages/{id}`).
    pub async fn gmail_delete(&self, access_token: &SecretString, id: &str) -> Result<(), ApiError> {
        let url = self.gmail_message_url(id, None)?;
        self.write(reqwest::Method::DELETE, url, access_token, None).await.map(drop)
    }

    /// Sets the read state and the flag (`PATCH me/messages/{id}`); `None` leaves one as it is.
    pub async fn graph_update(
        &self,
        access_token: &SecretString,
        id: &str,
        is_read: Option<bool>,
        flagged: Option<bool>,
    ) -> Result<(), ApiError> {
        let mut body = serde_json::Map::new();
        if let Some(read) = is_read {
            body.insert("isRead".into(), Value::Bool(read));
        }
        if let Some(flagged) = flagged {
            body.insert("flag".into(), json!({ "flagStatus": if flagged { "flagged" } else { "notFlagged" } }));
        }
        let url = self.graph_message_url(id, None)?;
        self.graph_write(reqwest::Method::PATCH, url, access_token, Some(Value::Object(body))).await.map(drop)
    }

    /// Moves a message to a folder, by id or well-known name (`POST me/messages/{id}/move`).
    pub async fn graph_move(&self, access_token: &SecretString, id: &str, destination: &str) -> Result<(), ApiError> {
        let url = self.graph_message_url(id, Some("move"))?;
        let body = json!({ "destinationId": destination });
        self.graph_write(reqwest::Method::POST, url, access_token, Some(body)).await.map(drop)
    }

    /// `DELETE me/messages/{id}`: the message is removed from the mailbox (message-delete.md),
    /// wherever it was; it does not go to Deleted Items. To put a message in the trash, move it
    /// to `deleteditems` ([`Providers::graph_move`]).
    pub async fn graph_delete(&self, access_token: &SecretString, id: &str) -> Result<(), ApiError> {
        let url = self.graph_message_url(id, None)?;
        self.graph_write(reqwest::Method::DELETE, url, access_token, None).await.map(drop)
    }

    fn gmail_message_url(&self, id: &str, verb: Option<&str>) -> Result<Url, ApiError> {
        let mut url = join(&self.endpoints().google.api_url, "gmail/v1/users/me/messages")?;
        {
            let mut segments = url.path_segments_mut().map_err(|()| not_a_base())?;
            segments.push(id);
            if let Some(verb) = verb {
                segments.push(verb);
            }
        }
        Ok(url)
    }

    fn graph_message_url(&self, id: &str, verb: Option<&str>) -> Result<Url, ApiError> {
        let mut url = join(&self.endpoints().microsoft.api_url, "me/messages")?;
        {
            let mut segments = url.path_segments_mut().map_err(|()| not_a_base())?;
            segments.push(id);
            if let Some(verb) = verb {
                segments.push(verb);
            }
        }
        Ok(url)
    }

    /// A state-changing Gmail call; the answer's body when it succeeded. Graph calls go through
    /// [`Providers::graph_write`], which adds what every Graph request carries.
    pub(crate) async fn write(
        &self,
        method: reqwest::Method,
        url: Url,
        token: &SecretString,
        body: impl Into<WriteBody>,
    ) -> Result<Vec<u8>, ApiError> {
        let request = self
            .http
            .request(method, url)
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json");
        execute(Provider::Google, body.into().attach(request)).await
    }
}

/// Sends a request and sorts a failed answer; the answer's body when it succeeded.
pub(crate) async fn execute(provider: Provider, request: reqwest::RequestBuilder) -> Result<Vec<u8>, ApiError> {
    let response = request
        .send()
        .await
        .map_err(|e| ApiError::Transient { reason: describe_transport_error(e), retry_after: None })?;
    let status = response.status();
    crate::count_response(provider, status.as_u16());
    let wait = retry_after(response.headers());
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ApiError::Transient { reason: describe_transport_error(e), retry_after: None })?;
    if !status.is_success() {
        let error = classify(status.as_u16(), wait, &bytes);
        tracing::debug!(status = status.as_u16(), %error, "provider call failed");
        return Err(error);
    }
    Ok(bytes.to_vec())
}

/// What a state-changing call sends.
pub(crate) enum WriteBody {
    Empty,
    Json(Value),
    Bytes {
        content_type: String,
        bytes: Vec<u8>,
    },
    /// Written as it goes, `length` bytes in all.
    Stream {
        content_type: String,
        length: u64,
        body: reqwest::Body,
    },
}

impl WriteBody {
    /// The body on `request`, with its content type.
    pub(crate) fn attach(self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            WriteBody::Json(body) => request.json(&body),
            WriteBody::Bytes { content_type, bytes } => {
                request.header(reqwest::header::CONTENT_TYPE, content_type).body(bytes)
            }
            WriteBody::Stream { content_type, length, body } => request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .header(reqwest::header::CONTENT_LENGTH, length)
                .body(body),
            // Gmail's trash and untrash take no body but, as POSTs, a length.
            WriteBody::Empty => request.header(reqwest::header::CONTENT_LENGTH, "0"),
        }
    }
}

impl From<Option<Value>> for WriteBody {
    fn from(body: Option<Value>) -> WriteBody {
        body.map_or(WriteBody::Empty, WriteBody::Json)
    }
}

fn not_a_base() -> ApiError {
    ApiError::Permanent { status: 0, message: "bad api url: cannot be a base".to_owned() }
}
