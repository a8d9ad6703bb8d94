//! The Microsoft Graph calls the sync engine needs: the folder tree, per-folder message delta
//! rounds (concepts/delta-query-messages.md) and a message's MIME; and [`Providers::graph_request`],
//! the one place every Graph request of this crate is built. It asks for immutable ids
//! (`Prefer: IdType="ImmutableId"`), so an id survives a move between folders: a call that
//! forgot would get (and store, or look up) ids that change on move.

use mailroom_domain::Provider;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::Providers;
use crate::actions::{WriteBody, execute};
use crate::api::{ApiError, join};

/// The `Prefer` preference every Graph request carries.
pub(crate) const IMMUTABLE_IDS: &str = "IdType=\"ImmutableId\"";
/// The well-known folders whose ids `graph_folders` resolves and marks, in the order a sync
/// imports them after the inbox.
pub const GRAPH_WELL_KNOWN_FOLDERS: [&str; 6] =
    ["inbox", "sentitems", "drafts", "archive", "junkemail", "deleteditems"];
/// Everything the store keeps of a message before its MIME arrives, so that one delta page is a
/// page of storable messages.
/// `changeKey` and `lastModifiedDateTime` tell whether a known message (a draft) changed since it
/// was stored.
const MESSAGE_SELECT: &str = "id,conversationId,internetMessageId,subject,from,sender,toRecipients,ccRecipients,\
bccRecipients,replyTo,receivedDateTime,sentDateTime,isRead,isDraft,flag,parentFolderId,hasAttachments,bodyPreview,body,\
changeKey,lastModifiedDateTime";
const FOLDER_SELECT: &str = "$select=id,displayName,parentFolderId,childFolderCount,totalItemCount&$top=100";

/// A mail folder, anywhere in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphFolder {
    pub id: String,
    pub display_name: String,
    pub parent_id: Option<String>,
    /// `inbox`, `sentitems`, `drafts`, `deleteditems`, `junkemail` or `archive` when the folder is
    /// that well-known folder.
    pub well_known_name: Option<String>,
    /// How many child folders it has; `None` when Graph did not say.
    pub child_folder_count: Option<u64>,
    /// How many messages it holds; `None` when Graph did not say.
    pub total_item_count: Option<u64>,
}

/// One page of a folder list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphFolderPage {
    pub folders: Vec<GraphFolder>,
    pub next_link: Option<String>,
}

/// A mailbox as Graph's recipient JSON gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphAddress {
    pub name: Option<String>,
    pub address: String,
}

/// A message body: `content_type` is `html` or `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphBody {
    pub content_type: String,
    pub content: String,
}

/// A message's properties as a delta entry or a GET carries them. Every property is optional:
/// an update entry of a delta round may carry only what changed (delta-query-messages.md), and
/// a property it lacks says nothing about the stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphMessageMeta {
    pub id: String,
    pub conversation_id: Option<String>,
    /// As Graph gives it, usually within angle brackets.
    pub internet_message_id: Option<String>,
    pub subject: Option<String>,
    pub from: Option<GraphAddress>,
    pub sender: Option<GraphAddress>,
    pub to: Option<Vec<GraphAddress>>,
    pub cc: Option<Vec<GraphAddress>>,
    pub bcc: Option<Vec<GraphAddress>>,
    pub reply_to: Option<Vec<GraphAddress>>,
    /// Unix seconds.
    pub received_at: Option<i64>,
    /// Unix seconds.
    pub sent_at: Option<i64>,
    pub is_read: Option<bool>,
    pub is_draft: Option<bool>,
    /// Whether `flag.flagStatus` is `flagged`.
    pub flagged: Option<bool>,
    pub folder_id: Option<String>,
    pub has_attachments: Option<bool>,
    pub body_preview: Option<String>,
    pub body: Option<GraphBody>,
    /// The version of the message: it changes whenever the message does.
    pub change_key: Option<String>,
    /// As Graph gives it (ISO 8601).
    pub last_modified: Option<String>,
}

impl GraphMessageMeta {
    /// What tells one version of the message from another: the `changeKey`, else the time of
    /// the last change.
    pub fn version(&self) -> Option<&str> {
        self.change_key.as_deref().or(self.last_modified.as_deref())
    }

    /// Whether the entry carries everything a stored message needs, rather than only some
    /// changed properties.
    pub fn is_complete(&self) -> bool {
        self.received_at.is_some()
            && self.subject.is_some()
            && self.is_read.is_some()
            && self.is_draft.is_some()
            && self.flagged.is_some()
            && self.body.is_some()
    }
}

/// One entry of a delta page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphChange {
    /// The message arrived in or changed in the folder, with the properties the entry carried.
    Upsert(Box<GraphMessageMeta>),
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
    #[serde(default)]
    total_item_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageJson {
    id: String,
    #[serde(rename = "@removed", default)]
    removed: Option<serde_json::Value>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    internet_message_id: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    from: Option<RecipientJson>,
    #[serde(default)]
    sender: Option<RecipientJson>,
    #[serde(default)]
    to_recipients: Option<Vec<RecipientJson>>,
    #[serde(default)]
    cc_recipients: Option<Vec<RecipientJson>>,
    #[serde(default)]
    bcc_recipients: Option<Vec<RecipientJson>>,
    #[serde(default)]
    reply_to: Option<Vec<RecipientJson>>,
    #[serde(default)]
    received_date_time: Option<String>,
    #[serde(default)]
    sent_date_time: Option<String>,
    #[serde(default)]
    is_read: Option<bool>,
    #[serde(default)]
    is_draft: Option<bool>,
    #[serde(default)]
    flag: Option<FlagJson>,
    #[serde(default)]
    parent_folder_id: Option<String>,
    #[serde(default)]
    has_attachments: Option<bool>,
    #[serde(default)]
    body_preview: Option<String>,
    #[serde(default)]
    body: Option<BodyJson>,
    #[serde(default)]
    change_key: Option<String>,
    #[serde(default)]
    last_modified_date_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FlagJson {
    #[serde(default)]
    flag_status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecipientJson {
    #[serde(default)]
    email_address: Option<EmailAddressJson>,
}

#[derive(Deserialize)]
struct EmailAddressJson {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BodyJson {
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

impl RecipientJson {
    fn into_address(self) -> Option<GraphAddress> {
        let email = self.email_address?;
        let address = email.address.filter(|a| !a.trim().is_empty())?;
        Some(GraphAddress { name: email.name.filter(|n| !n.trim().is_empty()), address })
    }
}

fn addresses(list: Option<Vec<RecipientJson>>) -> Option<Vec<GraphAddress>> {
    list.map(|list| list.into_iter().filter_map(RecipientJson::into_address).collect())
}

fn unix_seconds(time: Option<&str>) -> Option<i64> {
    time.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp())
}

impl MessageJson {
    fn into_meta(self) -> GraphMessageMeta {
        GraphMessageMeta {
            id: self.id,
            conversation_id: self.conversation_id,
            internet_message_id: self.internet_message_id,
            subject: self.subject,
            from: self.from.and_then(RecipientJson::into_address),
            sender: self.sender.and_then(RecipientJson::into_address),
            to: addresses(self.to_recipients),
            cc: addresses(self.cc_recipients),
            bcc: addresses(self.bcc_recipients),
            reply_to: addresses(self.reply_to),
            received_at: unix_seconds(self.received_date_time.as_deref()),
            sent_at: unix_seconds(self.sent_date_time.as_deref()),
            is_read: self.is_read,
            is_draft: self.is_draft,
            // A flag object without a status says nothing either way.
            flagged: self.flag.and_then(|f| f.flag_status).map(|s| s == "flagged"),
            folder_id: self.parent_folder_id,
            has_attachments: self.has_attachments,
            body_preview: self.body_preview,
            body: self.body.map(|b| GraphBody {
                content_type: b.content_type.unwrap_or_else(|| "html".to_owned()).to_ascii_lowercase(),
                content: b.content.unwrap_or_default(),
            }),
            change_key: self.change_key.filter(|k| !k.is_empty()),
            last_modified: self.last_modified_date_time.filter(|t| !t.is_empty()),
        }
    }

    fn into_change(self) -> GraphChange {
        if self.removed.is_some() {
            return GraphChange::Removed { id: self.id };
        }
        GraphChange::Upsert(Box::new(self.into_meta()))
    }
}

fn bad_base() -> ApiError {
    ApiError::Permanent { status: 0, message: "bad api url: cannot be a base".to_owned() }
}

/// `me/mailFolders/{id}` plus `rest`, with the id as one escaped path segment.
fn folder_url(api: &Url, id: &str, rest: &[&str]) -> Result<Url, ApiError> {
    let mut url = join(api, "me/mailFolders")?;
    url.path_segments_mut().map_err(|()| bad_base())?.push(id).extend(rest);
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
    /// Every mail folder, child folders included, with the well-known ones marked: the pages of
    /// [`Providers::graph_folder_page`] walked down the tree, then
    /// [`Providers::graph_well_known_folder_id`] for each of [`GRAPH_WELL_KNOWN_FOLDERS`].
    pub async fn graph_folders(&self, access_token: &SecretString) -> Result<Vec<GraphFolder>, ApiError> {
        let mut folders: Vec<GraphFolder> = Vec::new();
        let mut pending: Vec<Option<String>> = vec![None];
        while let Some(parent) = pending.pop() {
            let mut link: Option<String> = None;
            loop {
                let page = self.graph_folder_page(access_token, parent.as_deref(), link.as_deref()).await?;
                for folder in page.folders {
                    if folders.iter().any(|f| f.id == folder.id) {
                        continue;
                    }
                    if folder.child_folder_count.is_none_or(|n| n > 0) {
                        pending.push(Some(folder.id.clone()));
                    }
                    folders.push(folder);
                }
                match page.next_link {
                    Some(next) => link = Some(next),
                    None => break,
                }
            }
        }
        for name in GRAPH_WELL_KNOWN_FOLDERS {
            if let Some(id) = self.graph_well_known_folder_id(access_token, name).await?
                && let Some(known) = folders.iter_mut().find(|f| f.id == id)
            {
                known.well_known_name = Some(name.to_owned());
            }
        }
        Ok(folders)
    }

    /// One page of the folders under `parent` (`me/mailFolders` for the top level, else
    /// `me/mailFolders/{parent}/childFolders`), or the page `link` (an `@odata.nextLink`) names.
    /// Graph v1.0 lists carry no well-known name: see [`Providers::graph_well_known_folder_id`].
    pub async fn graph_folder_page(
        &self,
        access_token: &SecretString,
        parent: Option<&str>,
        link: Option<&str>,
    ) -> Result<GraphFolderPage, ApiError> {
        let api = &self.endpoints.microsoft.api_url;
        let url = match (link, parent) {
            (Some(link), _) => parse_link(api, link)?,
            (None, parent) => {
                let mut url = match parent {
                    Some(parent) => folder_url(api, parent, &["childFolders"])?,
                    None => join(api, "me/mailFolders")?,
                };
                url.set_query(Some(FOLDER_SELECT));
                url
            }
        };
        let page: Page<FolderJson> = self.graph_json(url, access_token, None).await?;
        Ok(GraphFolderPage {
            folders: page
                .value
                .into_iter()
                .map(|folder| GraphFolder {
                    id: folder.id,
                    display_name: folder.display_name.unwrap_or_default(),
                    parent_id: folder.parent_folder_id.filter(|p| !p.is_empty()),
                    well_known_name: None,
                    child_folder_count: folder.child_folder_count,
                    total_item_count: folder.total_item_count,
                })
                .collect(),
            next_link: page.next_link,
        })
    }

    /// The id of the well-known folder `name` (`GET me/mailFolders/{name}`), or `None` when the
    /// mailbox has no such folder (404).
    pub async fn graph_well_known_folder_id(
        &self,
        access_token: &SecretString,
        name: &str,
    ) -> Result<Option<String>, ApiError> {
        let mut url = folder_url(&self.endpoints.microsoft.api_url, name, &[])?;
        url.set_query(Some("$select=id"));
        match self.graph_json::<FolderJson>(url, access_token, None).await {
            Ok(folder) => Ok(Some(folder.id)),
            Err(ApiError::NotFound) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// One page of a folder's message delta.
    ///
    /// Without `link`, starts a round: `me/mailFolders/{id}/messages/delta` selecting every
    /// property the store keeps, body included, filtered to `receivedDateTime ge {received_after}` when given. With `link`, GETs
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
                    query.append_pair("$select", MESSAGE_SELECT);
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
        let page: Page<MessageJson> = self.graph_json(url, access_token, Some(&page_size)).await?;
        Ok(GraphDeltaPage {
            changes: page.value.into_iter().map(MessageJson::into_change).collect(),
            next_link: page.next_link,
            delta_link: page.delta_link,
        })
    }

    /// One message with the properties a delta round selects: `GET me/messages/{id}`. For a
    /// delta entry that carried only some properties of a message the caller does not know yet.
    /// A message gone meanwhile is [`ApiError::NotFound`].
    pub async fn graph_message(&self, access_token: &SecretString, id: &str) -> Result<GraphMessageMeta, ApiError> {
        let mut url = join(&self.endpoints.microsoft.api_url, "me/messages")?;
        url.path_segments_mut().map_err(|()| bad_base())?.push(id);
        url.query_pairs_mut().append_pair("$select", MESSAGE_SELECT);
        let message: MessageJson = self.graph_json(url, access_token, None).await?;
        Ok(message.into_meta())
    }

    /// A message's full RFC 822 source: `GET me/messages/{id}/$value`.
    pub async fn graph_message_mime(&self, access_token: &SecretString, id: &str) -> Result<Vec<u8>, ApiError> {
        let mut url = join(&self.endpoints.microsoft.api_url, "me/messages")?;
        url.path_segments_mut().map_err(|()| bad_base())?.push(id).push("$value");
        self.graph_get(url, access_token, None, "*/*").await
    }

    /// A GET of JSON through [`Providers::graph_request`].
    pub(crate) async fn graph_json<T: DeserializeOwned>(
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

    /// A GET through [`Providers::graph_request`], its failures sorted by the shared classifier.
    async fn graph_get(
        &self,
        url: Url,
        token: &SecretString,
        prefer: Option<&str>,
        accept: &str,
    ) -> Result<Vec<u8>, ApiError> {
        execute(
            Provider::Microsoft,
            self.graph_request(reqwest::Method::GET, url, token, prefer).header(reqwest::header::ACCEPT, accept),
        )
        .await
    }

    /// A state-changing Graph call with `body`; the answer's body when it succeeded.
    pub(crate) async fn graph_write(
        &self,
        method: reqwest::Method,
        url: Url,
        token: &SecretString,
        body: impl Into<WriteBody>,
    ) -> Result<Vec<u8>, ApiError> {
        let request = self.graph_request(method, url, token, None).header(reqwest::header::ACCEPT, "application/json");
        execute(Provider::Microsoft, body.into().attach(request)).await
    }

    /// Every Graph API request starts here: the bearer token and `Prefer: IdType="ImmutableId"`,
    /// with `more` preferences (such as `odata.maxpagesize`) after it in the same header.
    pub(crate) fn graph_request(
        &self,
        method: reqwest::Method,
        url: Url,
        token: &SecretString,
        more: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let prefer = match more {
            Some(more) => format!("{IMMUTABLE_IDS}, {more}"),
            None => IMMUTABLE_IDS.to_owned(),
        };
        self.http.request(method, url).bearer_auth(token.expose_secret()).header("Prefer", prefer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::classify;

    #[test]
    fn removed_entries_and_sparse_updates_are_read() {
        let page: Page<MessageJson> = serde_json::from_str(
            r##"{"value":[
                {"@odata.type":"#microsoft.graph.message","id":"a","@removed":{"reason":"deleted"}},
                {"id":"b","isRead":true},
                {"id":"c","receivedDateTime":"2024-10-01T00:00:00Z","flag":{"flagStatus":"flagged"},"parentFolderId":"f"}
            ],"@odata.deltaLink":"https://graph.test/d"}"##,
        )
        .expect("a page");
        let changes: Vec<GraphChange> = page.value.into_iter().map(MessageJson::into_change).collect();
        assert_eq!(changes[0], GraphChange::Removed { id: "a".into() });
        // A sparse update says nothing of what it lacks.
        assert!(matches!(&changes[1], GraphChange::Upsert(m)
            if m.is_read == Some(true) && m.flagged.is_none() && m.received_at.is_none() && !m.is_complete()));
        assert!(matches!(&changes[2], GraphChange::Upsert(m)
            if m.flagged == Some(true) && m.is_read.is_none() && m.received_at == Some(1_727_740_800)
                && m.folder_id.as_deref() == Some("f")));
    }

    #[test]
    fn a_whole_message_is_read_with_its_addresses_and_body() {
        let json = r#"{"id":"m","subject":"Hi","isRead":false,"isDraft":false,"flag":{"flagStatus":"notFlagged"},
            "receivedDateTime":"2024-10-01T00:00:00Z","sentDateTime":"2024-09-30T23:59:00Z",
            "from":{"emailAddress":{"name":"Ann","address":"ann@example.org"}},"sender":null,
            "toRecipients":[{"emailAddress":{"address":"bob@example.org"}},{"emailAddress":{"name":"x"}}],
            "body":{"contentType":"HTML","content":"<p>Hi</p>"},"bodyPreview":"Hi",
            "changeKey":"CQAAABYAAAA","lastModifiedDateTime":"2024-10-01T00:00:05Z"}"#;
        let meta = serde_json::from_str::<MessageJson>(json).expect("a message").into_meta();
        assert!(meta.is_complete());
        assert_eq!(meta.version(), Some("CQAAABYAAAA"), "the changeKey is the version");
        assert_eq!(meta.from, Some(GraphAddress { name: Some("Ann".into()), address: "ann@example.org".into() }));
        assert_eq!(meta.sender, None);
        assert_eq!(meta.to.as_deref().map(<[GraphAddress]>::len), Some(1), "an entry without an address is left out");
        assert_eq!(meta.body.map(|b| b.content_type), Some("html".to_owned()));
        assert_eq!(meta.flagged, Some(false));
    }

    #[test]
    fn a_410_is_an_expired_cursor() {
        let body = br#"{"error":{"code":"syncStateNotFound","message":"The sync state generation is not found."}}"#;
        assert!(matches!(classify(410, None, body), ApiError::CursorExpired));
    }
}
