//! The Microsoft Graph calls the sync engine needs: the folder tree, per-folder message delta
//! rounds (concepts/delta-query-messages.md) and a message's MIME. Every call asks for immutable
//! ids (`Prefer: IdType="ImmutableId"`), so an id survives a move between folders.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::api::{ApiError, classify, join};
use crate::{Providers, describe_transport_error, retry_after};

const IMMUTABLE_IDS: &str = "IdType=\"ImmutableId\"";
/// The well-known folders whose ids `graph_folders` resolves and marks.
const WELL_KNOWN: [&str; 6] = ["inbox", "sentitems", "drafts", "deleteditems", "junkemail", "archive"];
const DELTA_SELECT: &str = "id,conversationId,receivedDateTime,isRead,isDraft,flag,parentFolderId";

/// A mail folder, anywhere in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphFolder {
    pub id: String,
    pub display_name: String,
    pub parent_id: Option<String>,
    /// `inbox`, `sentitems`, `drafts`, `deleteditems`, `junkemail` or `archive` when the folder is
    /// that well-known folder.
    pub well_known_name: Option<String>,
}

/// The sync-relevant properties of a message as a delta entry carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphMessageMeta {
    pub id: String,
    pub conversation_id: Option<String>,
    /// Unix seconds.
    pub received_at: Option<i64>,
    pub is_read: bool,
    pub is_draft: bool,
    pub flagged: bool,
    pub folder_id: Option<String>,
}

/// One entry of a delta page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphChange {
    /// The message arrived in or changed in the folder. Entries for updates may lack properties:
    /// missing booleans read as false.
    Upsert(GraphMessageMeta),
    /// The message left the folder (moved or deleted).
    Removed { id: String },
}

/// One page of a delta round: follow `next_link` until a page carries `delta_link`, which starts
/// the next round. A page has one or the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphDeltaPage {
    pub changes: Vec<GraphChange>,
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
}

#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    delta_link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FolderJson {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    parent_folder_id: Option<String>,
    #[serde(default)]
    child_folder_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeltaEntry {
    id: String,
    #[serde(rename = "@removed", default)]
    removed: Option<serde_json::Value>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    received_date_time: Option<String>,
    #[serde(default)]
    is_read: Option<bool>,
    #[serde(default)]
    is_draft: Option<bool>,
    #[serde(default)]
    flag: Option<FlagJson>,
    #[serde(default)]
    parent_folder_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FlagJson {
    #[serde(default)]
    flag_status: Option<String>,
}

impl DeltaEntry {
    fn into_change(self) -> GraphChange {
        if self.removed.is_some() {
            return GraphChange::Removed { id: self.id };
        }
        GraphChange::Upsert(GraphMessageMeta {
            id: self.id,
            conversation_id: self.conversation_id,
            received_at: self
                .received_date_time
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp()),
            is_read: self.is_read.unwrap_or(false),
            is_draft: self.is_draft.unwrap_or(false),
            flagged: self.flag.and_then(|f| f.flag_status).is_some_and(|s| s == "flagged"),
            folder_id: self.parent_folder_id,
        })
    }
}

/// `me/mailFolders/{id}` plus `rest`, with the id as one escaped path segment.
fn folder_url(api: &Url, id: &str, rest: &[&str]) -> Result<Url, ApiError> {
    let mut url = join(api, "me/mailFolders")?;
    url.path_segments_mut()
        .map_err(|()| ApiError::Permanent { status: 0, message: "bad api url: cannot be a base".to_owned() })?
        .push(id)
        .extend(rest);
    Ok(url)
}

/// A link the provider returned, which must point at the configured API.
fn parse_link(api: &Url, link: &str) -> Result<Url, ApiError> {
    let url = Url::parse(link)
        .map_err(|e| ApiError::Permanent { status: 0, message: format!("the link is not a url: {e}") })?;
    if url.origin() != api.origin() {
        return Err(ApiError::Permanent { status: 0, message: "the link points away from the api".to_owned() });
    }
    Ok(url)
}

impl Providers {
    /// Every mail folder, child folders included, with the well-known ones marked.
    ///
    /// Lists `me/mailFolders` and walks `childFolders`, following `@odata.nextLink`. Graph v1.0
    /// lists carry no well-known name, so each of inbox, sentitems, drafts, deleteditems,
    /// junkemail and archive is resolved with `GET me/mailFolders/{name}`; a mailbox without one
    /// (404) simply has no folder marked so.
    pub async fn graph_folders(&self, access_token: &SecretString) -> Result<Vec<GraphFolder>, ApiError> {
        let api = &self.endpoints.microsoft.api_url;
        let mut folders: Vec<GraphFolder> = Vec::new();
        let mut pending = vec![join(api, "me/mailFolders")?];
        while let Some(mut url) = pending.pop() {
            url.set_query(Some("$select=id,displayName,parentFolderId,childFolderCount&$top=100"));
            let mut next = Some(url);
            while let Some(url) = next.take() {
                let page: Page<FolderJson> = self.graph_json(url, access_token, None).await?;
                for folder in page.value {
                    if folder.child_folder_count.is_none_or(|n| n > 0) {
                        pending.push(folder_url(api, &folder.id, &["childFolders"])?);
                    }
                    if folders.iter().any(|f| f.id == folder.id) {
                        continue;
                    }
                    folders.push(GraphFolder {
                        id: folder.id,
                        display_name: folder.display_name.unwrap_or_default(),
                        parent_id: folder.parent_folder_id.filter(|p| !p.is_empty()),
                        well_known_name: None,
                    });
                }
                next = page.next_link.map(|link| parse_link(api, &link)).transpose()?;
            }
        }
        for name in WELL_KNOWN {
            let mut url = folder_url(api, name, &[])?;
            url.set_query(Some("$select=id"));
            let folder: FolderJson = match self.graph_json(url, access_token, None).await {
                Ok(folder) => folder,
                Err(ApiError::NotFound) => continue,
                Err(error) => return Err(error),
            };
            if let Some(known) = folders.iter_mut().find(|f| f.id == folder.id) {
                known.well_known_name = Some(name.to_owned());
            }
        }
        Ok(folders)
    }

    /// One page of a folder's message delta.
    ///
    /// Without `link`, starts a round: `me/mailFolders/{id}/messages/delta` selecting the sync
    /// properties, filtered to `receivedDateTime ge {received_after}` when given. With `link`, GETs
    /// that `@odata.nextLink` or `@odata.deltaLink` as is. Every request asks for
    /// `odata.maxpagesize={page_size}`. An expired link is [`ApiError::CursorExpired`].
    pub async fn graph_delta(
        &self,
        access_token: &SecretString,
        folder_id: &str,
        link: Option<&str>,
        received_after: Option<i64>,
        page_size: u32,
    ) -> Result<GraphDeltaPage, ApiError> {
        let api = &self.endpoints.microsoft.api_url;
        let url = match link {
            Some(link) => parse_link(api, link)?,
            None => {
                let mut url = folder_url(api, folder_id, &["messages", "delta"])?;
                {
                    let mut query = url.query_pairs_mut();
                    query.append_pair("$select", DELTA_SELECT);
                    if let Some(after) = received_after {
                        let at = chrono::DateTime::from_timestamp(after, 0).ok_or_else(|| ApiError::Permanent {
                            status: 0,
                            message: format!("{after} is not a representable time"),
                        })?;
                        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                        query.append_pair("$filter", &format!("receivedDateTime ge {at}"));
                    }
                }
                url
            }
        };
        let page_size = format!("odata.maxpagesize={}", page_size.max(1));
        let page: Page<DeltaEntry> = self.graph_json(url, access_token, Some(&page_size)).await?;
        Ok(GraphDeltaPage {
            changes: page.value.into_iter().map(DeltaEntry::into_change).collect(),
            next_link: page.next_link,
            delta_link: page.delta_link,
        })
    }

    /// A message's full RFC 822 source: `GET me/messages/{id}/$value`.
    pub async fn graph_message_mime(&self, access_token: &SecretString, id: &str) -> Result<Vec<u8>, ApiError> {
        let mut url = join(&self.endpoints.microsoft.api_url, "me/messages")?;
        url.path_segments_mut()
            .map_err(|()| ApiError::Permanent { status: 0, message: "bad api url: cannot be a base".to_owned() })?
            .push(id)
            .push("$value");
        self.graph_get(url, access_token, None, "*/*").await
    }

    async fn graph_json<T: DeserializeOwned>(
        &self,
        url: Url,
        token: &SecretString,
        prefer: Option<&str>,
    ) -> Result<T, ApiError> {
        let body = self.graph_get(url, token, prefer, "application/json").await?;
        serde_json::from_slice(&body).map_err(|e| ApiError::Permanent {
            status: 200,
            message: format!("the answer does not have the expected shape: {e}"),
        })
    }

    /// A GET with immutable ids (and `prefer`, if any), its failures sorted by the shared
    /// classifier.
    async fn graph_get(
        &self,
        url: Url,
        token: &SecretString,
        prefer: Option<&str>,
        accept: &str,
    ) -> Result<Vec<u8>, ApiError> {
        let prefer = match prefer {
            Some(more) => format!("{IMMUTABLE_IDS}, {more}"),
            None => IMMUTABLE_IDS.to_owned(),
        };
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::ACCEPT, accept)
            .header("Prefer", prefer)
            .send()
            .await
            .map_err(|e| ApiError::Transient { reason: describe_transport_error(e) })?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let body = response.bytes().await.map_err(|e| ApiError::Transient { reason: describe_transport_error(e) })?;
        if !status.is_success() {
            let error = classify(status.as_u16(), wait, &body);
            tracing::debug!(status = status.as_u16(), %error, "graph call failed");
            return Err(error);
        }
        Ok(body.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_entries_and_sparse_updates_are_read() {
        let page: Page<DeltaEntry> = serde_json::from_str(
            r##"{"value":[
                {"@odata.type":"#microsoft.graph.message","id":"a","@removed":{"reason":"deleted"}},
                {"id":"b","isRead":true},
                {"id":"c","receivedDateTime":"2024-10-01T00:00:00Z","flag":{"flagStatus":"flagged"},"parentFolderId":"f"}
            ],"@odata.deltaLink":"https://graph.test/d"}"##,
        )
        .expect("a page");
        let changes: Vec<GraphChange> = page.value.into_iter().map(DeltaEntry::into_change).collect();
        assert_eq!(changes[0], GraphChange::Removed { id: "a".into() });
        assert!(matches!(&changes[1], GraphChange::Upsert(m) if m.is_read && !m.flagged && m.received_at.is_none()));
        assert!(matches!(&changes[2], GraphChange::Upsert(m)
            if m.flagged && !m.is_read && m.received_at == Some(1_727_740_800) && m.folder_id.as_deref() == Some("f")));
    }

    #[test]
    fn a_410_is_an_expired_cursor() {
        let body = br#"{"error":{"code":"syncStateNotFound","message":"The sync state generation is not found."}}"#;
        assert!(matches!(classify(410, None, body), ApiError::CursorExpired));
    }
}
