//! Drafts at the provider. Gmail: `users.drafts` with the message as base64url `raw`; a draft
//! keeps its id while each update gives it a new message, whose id tells whether someone else
//! changed it. Graph: a draft message created from MIME in Drafts, updated with its JSON fields
//! (Graph takes MIME only when creating), its `changeKey` telling the same.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Providers;
use crate::actions::WriteBody;
use crate::api::{ApiError, join};

/// A draft at the provider: its id and the version written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteDraft {
    /// Gmail's draft id, or the Graph message id.
    pub id: String,
    /// Gmail's id of the draft's message, or Graph's `changeKey`.
    pub version: String,
}

/// The fields Graph updates a draft with.
#[derive(Debug, Clone, Default)]
pub struct GraphDraftFields {
    pub subject: String,
    pub text: String,
    /// The HTML body, when the draft is formatted (sent instead of the text).
    pub html: Option<String>,
    /// `(name, address)` each.
    pub to: Vec<(Option<String>, String)>,
    pub cc: Vec<(Option<String>, String)>,
    pub bcc: Vec<(Option<String>, String)>,
}

#[derive(Deserialize)]
struct GmailDraftJson {
    id: String,
    message: GmailDraftMessage,
}

#[derive(Deserialize)]
struct GmailDraftMessage {
    id: String,
    #[serde(default)]
    raw: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GmailDraftPage {
    #[serde(default)]
    drafts: Vec<GmailDraftJson>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphDraftJson {
    id: String,
    change_key: String,
}

fn bad_shape(e: &serde_json::Error) -> ApiError {
    ApiError::Permanent { status: 200, message: format!("the answer does not have the expected shape: {e}") }
}

fn recipients(list: &[(Option<String>, String)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(name, address)| match name {
                Some(name) => json!({"emailAddress": {"name": name, "address": address}}),
                None => json!({"emailAddress": {"address": address}}),
            })
            .collect(),
    )
}

impl Providers {
    fn gmail_drafts_url(&self, id: Option<&str>) -> Result<url::Url, ApiError> {
        let mut url = join(&self.endpoints().google.api_url, "gmail/v1/users/me/drafts")?;
        if let Some(id) = id {
            url.path_segments_mut().map_err(|()| ApiError::NotFound)?.push(id);
        }
        Ok(url)
    }

    /// Creates a Gmail draft (in the conversation `thread_id` when given), or replaces the
    /// message of draft `id`: a media upload, as a draft with its files may be up to 35 MB.
    pub async fn gmail_draft_write(
        &self,
        access_token: &SecretString,
        id: Option<&str>,
        raw: &[u8],
        thread_id: Option<&str>,
    ) -> Result<RemoteDraft, ApiError> {
        self.gmail_draft_write_upload(access_token, id, crate::MediaUpload::from(raw), thread_id).await
    }

    /// [`Providers::gmail_draft_write`] of a message the caller wrote into `upload`.
    pub async fn gmail_draft_write_upload(
        &self,
        access_token: &SecretString,
        id: Option<&str>,
        upload: crate::MediaUpload,
        thread_id: Option<&str>,
    ) -> Result<RemoteDraft, ApiError> {
        let mut message = json!({});
        if let Some(thread) = thread_id {
            message["threadId"] = json!(thread);
        }
        let (method, metadata) = match id {
            None => (reqwest::Method::POST, json!({ "message": message })),
            Some(id) => (reqwest::Method::PUT, json!({ "id": id, "message": message })),
        };
        let mut url = join(&self.endpoints().google.api_url, "upload/gmail/v1/users/me/drafts")?;
        if let Some(id) = id {
            url.path_segments_mut().map_err(|()| ApiError::NotFound)?.push(id);
        }
        url.set_query(Some("uploadType=multipart"));
        let answer = self.write(method, url, access_token, upload.into_body(&metadata)).await?;
        let draft: GmailDraftJson = serde_json::from_slice(&answer).map_err(|e| bad_shape(&e))?;
        Ok(RemoteDraft { id: draft.id, version: draft.message.id })
    }

    /// The version (message id) of Gmail draft `id`, and its message; `None` when it is gone.
    pub async fn gmail_draft_read(
        &self,
        access_token: &SecretString,
        id: &str,
    ) -> Result<Option<(String, Vec<u8>)>, ApiError> {
        let mut url = self.gmail_drafts_url(Some(id))?;
        url.set_query(Some("format=raw"));
        match self.get_json::<GmailDraftJson>(url, access_token).await {
            Ok(draft) => {
                let raw = crate::gmail::decode_raw(draft.message.raw.as_deref().unwrap_or_default())?;
                Ok(Some((draft.message.id, raw)))
            }
            Err(ApiError::NotFound) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The id of the Gmail draft whose message is `message_id`, if there is one.
    pub async fn gmail_draft_of_message(
        &self,
        access_token: &SecretString,
        message_id: &str,
    ) -> Result<Option<String>, ApiError> {
        let mut page_token: Option<String> = None;
        loop {
            let mut url = self.gmail_drafts_url(None)?;
            url.query_pairs_mut().append_pair("maxResults", "500");
            if let Some(token) = &page_token {
                url.query_pairs_mut().append_pair("pageToken", token);
            }
            let page: GmailDraftPage = self.get_json(url, access_token).await?;
            if let Some(found) = page.drafts.into_iter().find(|d| d.message.id == message_id) {
                return Ok(Some(found.id));
            }
            match page.next_page_token {
                Some(next) => page_token = Some(next),
                None => return Ok(None),
            }
        }
    }

    /// Deletes Gmail draft `id`; one already gone is no error.
    pub async fn gmail_draft_delete(&self, access_token: &SecretString, id: &str) -> Result<(), ApiError> {
        let url = self.gmail_drafts_url(Some(id))?;
        match self.write(reqwest::Method::DELETE, url, access_token, None).await {
            Ok(_) | Err(ApiError::NotFound) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Creates a draft in Outlook's Drafts from the MIME (`POST me/messages`, base64 text).
    pub async fn graph_draft_create(&self, access_token: &SecretString, raw: &[u8]) -> Result<RemoteDraft, ApiError> {
        let url = join(&self.endpoints().microsoft.api_url, "me/messages")?;
        let body = WriteBody::Bytes { content_type: "text/plain".to_owned(), bytes: STANDARD.encode(raw).into_bytes() };
        let answer = self.graph_write(reqwest::Method::POST, url, access_token, body).await?;
        let draft: GraphDraftJson = serde_json::from_slice(&answer).map_err(|e| bad_shape(&e))?;
        Ok(RemoteDraft { id: draft.id, version: draft.change_key })
    }

    /// Writes the fields of Outlook draft `id`; its new `changeKey`.
    pub async fn graph_draft_update(
        &self,
        access_token: &SecretString,
        id: &str,
        fields: &GraphDraftFields,
    ) -> Result<String, ApiError> {
        let mut url = join(&self.endpoints().microsoft.api_url, "me/messages")?;
        url.path_segments_mut().map_err(|()| ApiError::NotFound)?.push(id);
        let body = json!({
            "subject": fields.subject,
            "body": match &fields.html {
                Some(html) => json!({"contentType": "html", "content": html}),
                None => json!({"contentType": "text", "content": fields.text}),
            },
            "toRecipients": recipients(&fields.to),
            "ccRecipients": recipients(&fields.cc),
            "bccRecipients": recipients(&fields.bcc),
        });
        let answer = self.graph_write(reqwest::Method::PATCH, url, access_token, Some(body)).await?;
        let draft: GraphDraftJson = serde_json::from_slice(&answer).map_err(|e| bad_shape(&e))?;
        Ok(draft.change_key)
    }

    /// The `changeKey` of Outlook draft `id`; `None` when it is gone.
    pub async fn graph_draft_version(&self, access_token: &SecretString, id: &str) -> Result<Option<String>, ApiError> {
        let mut url = join(&self.endpoints().microsoft.api_url, "me/messages")?;
        url.path_segments_mut().map_err(|()| ApiError::NotFound)?.push(id);
        url.query_pairs_mut().append_pair("$select", "id,changeKey");
        match self.graph_json::<GraphDraftJson>(url, access_token, None).await {
            Ok(draft) => Ok(Some(draft.change_key)),
            Err(ApiError::NotFound) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// A file attached to an Outlook draft, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphAttachment {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub size: i64,
    /// An image the HTML shows (`cid:`), not a file the user attached.
    #[serde(default)]
    pub is_inline: bool,
}

#[derive(Deserialize)]
struct GraphAttachmentPage {
    #[serde(default)]
    value: Vec<GraphAttachment>,
}

impl Providers {
    /// The attachments of Outlook message `id` (`GET me/messages/{id}/attachments`), without
    /// their content.
    pub async fn graph_attachments(
        &self,
        access_token: &SecretString,
        id: &str,
    ) -> Result<Vec<GraphAttachment>, ApiError> {
        let mut url = join(&self.endpoints().microsoft.api_url, "me/messages")?;
        url.path_segments_mut().map_err(|()| ApiError::NotFound)?.push(id).push("attachments");
        url.query_pairs_mut().append_pair("$select", "id,name,size,isInline");
        let page: GraphAttachmentPage = self.graph_json(url, access_token, None).await?;
        Ok(page.value)
    }

    /// Removes attachment `attachment` from Outlook draft `id`; one already gone is no error.
    pub async fn graph_detach(&self, access_token: &SecretString, id: &str, attachment: &str) -> Result<(), ApiError> {
        let mut url = join(&self.endpoints().microsoft.api_url, "me/messages")?;
        url.path_segments_mut().map_err(|()| ApiError::NotFound)?.push(id).push("attachments").push(attachment);
        match self.graph_write(reqwest::Method::DELETE, url, access_token, WriteBody::Empty).await {
            Ok(_) | Err(ApiError::NotFound) => Ok(()),
            Err(error) => Err(error),
        }
    }
}
