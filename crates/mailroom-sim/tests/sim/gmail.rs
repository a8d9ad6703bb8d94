//! Gmail API v1: behaviour and conformance to the discovery document.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mailroom_sim::SimConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

const API: &str = "/google/gmail/v1/users/me";
const FULL_SCOPE: &str = "https://mail.google.com/";

fn discovery() -> Value {
    let path = crate::support::shared_file("reference/gmail.v1.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("the discovery document")).unwrap()
}

/// A simple message; `extra` holds more header lines, each ending in CRLF.
fn mail(from: &str, to: &str, subject: &str, extra: &str, body: &str) -> String {
    format!("From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}\r\n{body}\r\n")
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// A client of one user's Gmail through real HTTP.
struct Gmail<'a> {
    sim: &'a Sim,
    token: String,
}

impl<'a> Gmail<'a> {
    async fn new(sim: &'a Sim, email: &str) -> Gmail<'a> {
        Gmail { sim, token: sim.google_tokens(email).await.access }
    }

    /// A client whose token carries exactly `scope` (plus identity scopes).
    async fn with_scope(sim: &'a Sim, email: &str, scope: &str) -> Gmail<'a> {
        let challenge = Sim::challenge();
        let scope = format!("openid email {scope}");
        let params = [
            ("client_id", GOOGLE_CLIENT),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", scope.as_str()),
            ("login_hint", email),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let query = sim.authorize("/google/o/oauth2/v2/auth", &params).await;
        let code = query.into_iter().find(|(k, _)| k == "code").map(|(_, v)| v).unwrap();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", GOOGLE_CLIENT),
            ("client_secret", GOOGLE_SECRET),
            ("code_verifier", VERIFIER),
        ];
        let body: Value =
            sim.http.post(sim.url("/google/token")).form(&form).send().await.unwrap().json().await.unwrap();
        Gmail { sim, token: body["access_token"].as_str().unwrap().to_owned() }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let path = if path.starts_with('/') { path.to_owned() } else { format!("{API}/{path}") };
        let mut request = self.sim.http.request(method, self.sim.url(&path)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.call(Method::POST, path, Some(body)).await;
        assert!(status.is_success(), "POST {path}: {status} {answer}");
        answer
    }

    /// The ids a list answer names, in order.
    async fn ids(&self, path: &str) -> Vec<String> {
        let body = self.get(path).await;
        let key = ["messages", "threads", "drafts"].into_iter().find(|k| body.get(k).is_some()).unwrap_or("messages");
        body[key]
            .as_array()
            .map(|a| a.iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }

    async fn labels_of(&self, id: &str) -> Vec<String> {
        let message = self.get(&format!("messages/{id}?format=minimal")).await;
        message["labelIds"]
            .as_array()
            .map(|a| a.iter().map(|l| l.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }

    async fn history_id(&self) -> String {
        self.get("profile").await["historyId"].as_str().unwrap().to_owned()
    }
}

/// Delivers a message through the control API, as mail arriving from outside.
async fn deliver(sim: &Sim, email: &str, raw: &str, labels: &[&str]) -> String {
    let response = sim
        .http
        .post(sim.url(&format!("/_sim/users/{email}/messages")))
        .json(&json!({"raw": raw, "labels": labels}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

async fn control(sim: &Sim, path: &str, body: Value) -> StatusCode {
    sim.http.post(sim.url(&format!("/_sim/gmail/{ANN}/{path}"))).json(&body).send().await.unwrap().status()
}

// Conformance.

/// Every method the emulator is meant to serve.
const SERVED: &[&str] = &[
    "gmail.users.getProfile",
    "gmail.users.labels.list",
    "gmail.users.labels.get",
    "gmail.users.labels.create",
    "gmail.users.labels.update",
    "gmail.users.labels.patch",
    "gmail.users.labels.delete",
    "gmail.users.messages.list",
    "gmail.users.messages.get",
    "gmail.users.messages.insert",
    "gmail.users.messages.import",
    "gmail.users.messages.send",
    "gmail.users.messages.modify",
    "gmail.users.messages.batchModify",
    "gmail.users.messages.batchDelete",
    "gmail.users.messages.trash",
    "gmail.users.messages.untrash",
    "gmail.users.messages.delete",
    "gmail.users.messages.attachments.get",
    "gmail.users.threads.list",
    "gmail.users.threads.get",
    "gmail.users.threads.modify",
    "gmail.users.threads.trash",
    "gmail.users.threads.untrash",
    "gmail.users.threads.delete",
    "gmail.users.drafts.list",
    "gmail.users.drafts.get",
    "gmail.users.drafts.create",
    "gmail.users.drafts.update",
    "gmail.users.drafts.send",
    "gmail.users.drafts.delete",
    "gmail.users.history.list",
    "gmail.users.settings.sendAs.list",
];

/// The discovery document's method with this id.
fn doc_method<'d>(doc: &'d Value, id: &str) -> Option<&'d Value> {
    fn walk<'d>(resource: &'d Value, id: &str) -> Option<&'d Value> {
        if let Some(found) = resource["methods"].as_object().and_then(|m| m.values().find(|m| m["id"] == id)) {
            return Some(found);
        }
        resource["resources"].as_object()?.values().find_map(|r| walk(r, id))
    }
    walk(doc, id)
}

#[test]
fn every_served_method_has_the_discovery_documents_verb_path_parameters_and_scopes() {
    let doc = discovery();
    let served: BTreeSet<&str> = mailroom_sim::gmail::METHODS.iter().map(|m| m.id).collect();
    assert_eq!(served, SERVED.iter().copied().collect::<BTreeSet<_>>());
    for spec in mailroom_sim::gmail::METHODS {
        let method = doc_method(&doc, spec.id).unwrap_or_else(|| panic!("{} is not in the document", spec.id));
        assert_eq!(method["httpMethod"], spec.http_method, "{}", spec.id);
        assert_eq!(method["path"], spec.path, "{}", spec.id);
        for name in spec.query {
            let parameter = &method["parameters"][name];
            assert_eq!(parameter["location"], "query", "{} has no query parameter {name}", spec.id);
        }
        let scopes: Vec<&str> = method["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        for scope in spec.scopes {
            assert!(scopes.contains(scope), "{} does not take {scope}", spec.id);
        }
        assert!(spec.units > 0 && spec.units_2026 > 0);
        let media = &method["mediaUpload"];
        assert_eq!(spec.upload_limit.is_some(), media.is_object(), "{} takes uploads", spec.id);
        if let Some(limit) = spec.upload_limit {
            assert_eq!(media["protocols"]["simple"]["path"], format!("/upload/{}", spec.path));
            let documented: usize = media["maxSize"].as_str().unwrap().parse().unwrap();
            // insert/import keep the 50 MB of the issue; newer revisions allow more, never less.
            assert!(limit <= documented, "{}: {limit} > {documented}", spec.id);
        }
    }
    for name in mailroom_sim::gmail::GLOBAL_PARAMETERS {
        assert!(doc["parameters"].get(name).is_some(), "{name} is not a global parameter");
    }
}

/// Checks `value` against a discovery schema; unknown properties are errors.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(name) = schema["$ref"].as_str() {
        return validate(doc, &doc["schemas"][name], value, at, errors);
    }
    let mut fail = |what: String| errors.push(format!("{at}: {what} in {value}"));
    match schema["type"].as_str() {
        Some("string") => {
            let Some(text) = value.as_str() else { return fail("not a string".into()) };
            match schema["format"].as_str() {
                Some("int64") if text.parse::<i64>().is_err() => fail("not an int64 string".into()),
                Some("uint64") if text.parse::<u64>().is_err() => fail("not a uint64 string".into()),
                Some("byte") if URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).is_err() => {
                    fail("not base64url".into())
                }
                _ => {}
            }
            if let Some(allowed) = schema["enum"].as_array()
                && !allowed.contains(value)
            {
                fail("not one of the enum values".into());
            }
        }
        Some("integer") if !(value.is_i64() || value.is_u64()) => fail("not an integer".into()),
        Some("boolean") if !value.is_boolean() => fail("not a boolean".into()),
        Some("array") => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    validate(doc, &schema["items"], item, &format!("{at}[{i}]"), errors);
                }
            }
            None => fail("not an array".into()),
        },
        Some("object") => {
            let Some(object) = value.as_object() else { return fail("not an object".into()) };
            for (key, item) in object {
                match schema["properties"].get(key) {
                    Some(property) => validate(doc, property, item, &format!("{at}.{key}"), errors),
                    None => errors.push(format!("{at}: unknown property {key}")),
                }
            }
        }
        _ => {}
    }
}

fn assert_valid(doc: &Value, schema: &str, value: &Value) {
    let mut errors = Vec::new();
    validate(doc, &json!({"$ref": schema}), value, schema, &mut errors);
    assert!(errors.is_empty(), "{schema}: {errors:#?}");
}

const WITH_ATTACHMENT: &str = "From: Carol <carol@example.test>\r\nTo: ann@example.test\r\nSubject: Report\r\n\
Message-ID: <report@example.test>\r\nDate: Tue, 01 Oct 2024 10:00:00 +0000\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
--b\r\nContent-Type: application/pdf; name=report.pdf\r\nContent-Disposition: attachment; filename=report.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n--b--\r\n";

#[tokio::test]
async fn every_answer_validates_against_the_discovery_schemas() {
    let doc = discovery();
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let start = gmail.history_id().await;
    let id = deliver(&sim, ANN, WITH_ATTACHMENT, &["INBOX", "UNREAD"]).await;
    let label = gmail
        .post("labels", json!({"name": "Work", "color": {"textColor": "#000000", "backgroundColor": "#ffffff"}}))
        .await;
    gmail.post(&format!("messages/{id}/modify"), json!({"addLabelIds": [label["id"]]})).await;
    let draft = gmail.post("drafts", json!({"message": {"raw": b64(&mail(ANN, BEN, "Draft", "", "Later."))}})).await;

    assert_valid(&doc, "Profile", &gmail.get("profile").await);
    assert_valid(&doc, "ListLabelsResponse", &gmail.get("labels").await);
    assert_valid(&doc, "Label", &gmail.get("labels/INBOX").await);
    assert_valid(&doc, "Label", &gmail.get(&format!("labels/{}", label["id"].as_str().unwrap())).await);
    assert_valid(&doc, "ListMessagesResponse", &gmail.get("messages").await);
    for format in ["full", "metadata", "minimal", "raw"] {
        assert_valid(&doc, "Message", &gmail.get(&format!("messages/{id}?format={format}")).await);
    }
    let full = gmail.get(&format!("messages/{id}?format=full")).await;
    let attachment_id = full["payload"]["parts"][1]["body"]["attachmentId"].as_str().unwrap();
    let attachment = gmail.get(&format!("messages/{id}/attachments/{attachment_id}")).await;
    assert_valid(&doc, "MessagePartBody", &attachment);
    assert_valid(&doc, "ListThreadsResponse", &gmail.get("threads").await);
    for format in ["full", "metadata", "minimal"] {
        assert_valid(&doc, "Thread", &gmail.get(&format!("threads/{id}?format={format}")).await);
    }
    assert_valid(&doc, "ListHistoryResponse", &gmail.get(&format!("history?startHistoryId={start}")).await);
    assert_valid(&doc, "ListDraftsResponse", &gmail.get("drafts").await);
    assert_valid(&doc, "Draft", &gmail.get(&format!("drafts/{}", draft["id"].as_str().unwrap())).await);
    assert_valid(&doc, "Draft", &draft);
    assert_valid(&doc, "ListSendAsResponse", &gmail.get("settings/sendAs").await);
}

// Messages.

#[tokio::test]
async fn messages_come_with_ids_dates_sizes_snippets_and_a_payload_tree() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let id = deliver(&sim, ANN, WITH_ATTACHMENT, &["INBOX", "UNREAD"]).await;
    assert!(id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{id}");
    let message = gmail.get(&format!("messages/{id}")).await;
    assert_eq!(message["threadId"], id.as_str());
    assert_eq!(message["snippet"], "See attached.");
    assert_eq!(message["sizeEstimate"], WITH_ATTACHMENT.len());
    assert!(message["internalDate"].as_str().unwrap().parse::<i64>().unwrap() > 1_700_000_000_000);
    let payload = &message["payload"];
    assert_eq!(payload["mimeType"], "multipart/mixed");
    assert!(payload["headers"].as_array().unwrap().contains(&json!({"name": "Subject", "value": "Report"})));
    assert_eq!(payload["parts"][0]["partId"], "0");
    assert_eq!(payload["parts"][1]["filename"], "report.pdf");
    assert!(payload["parts"][1]["body"].get("data").is_none(), "attachments come by id");
    let attachment_id = payload["parts"][1]["body"]["attachmentId"].as_str().unwrap();
    let attachment = gmail.get(&format!("messages/{id}/attachments/{attachment_id}")).await;
    let data = URL_SAFE_NO_PAD.decode(attachment["data"].as_str().unwrap().trim_end_matches('=')).unwrap();
    assert_eq!(data, b"%PDF-1.4");

    let metadata =
        gmail.get(&format!("messages/{id}?format=metadata&metadataHeaders=Subject&metadataHeaders=From")).await;
    assert_eq!(metadata["payload"]["headers"].as_array().unwrap().len(), 2);
    let raw = gmail.get(&format!("messages/{id}?format=raw")).await;
    let bytes = URL_SAFE_NO_PAD.decode(raw["raw"].as_str().unwrap().trim_end_matches('=')).unwrap();
    assert_eq!(bytes, WITH_ATTACHMENT.as_bytes());
    assert!(raw.get("payload").is_none());
    let (status, body) = gmail.call(Method::GET, "messages/ffffffffffffffff", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["errors"][0]["reason"], "notFound");
    let (status, _) = gmail.call(Method::GET, &format!("threads/{id}?format=raw"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "threads have no raw format");
}

#[tokio::test]
async fn lists_page_with_page_tokens_newest_first() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let mut delivered = Vec::new();
    for i in 0..7 {
        delivered.push(deliver(&sim, ANN, &mail(BEN, ANN, &format!("n{i}"), "", "x"), &["INBOX"]).await);
        sim.state().clock().advance(1);
    }
    delivered.reverse();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let body = gmail.get(&format!("messages?maxResults=3&pageToken={token}")).await;
        assert_eq!(body["resultSizeEstimate"], 7);
        seen.extend(body["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()));
        match body["nextPageToken"].as_str() {
            Some(next) => token = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, delivered);
    assert_eq!(gmail.ids("threads?maxResults=2").await.len(), 2);
    let (status, _) = gmail.call(Method::GET, "messages?pageToken=%%%", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = gmail.call(Method::GET, "messages?sortOrder=asc", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown parameters are refused");
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn search_operators_filter_by_date_folder_state_and_headers() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let import = |raw: String, labels: Value| {
        let gmail = &gmail;
        async move {
            gmail.post("messages/import", json!({"raw": b64(&raw), "labelIds": labels})).await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let old = import(
        mail("carol@example.test", ANN, "Old news", "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n", "from long ago"),
        json!(["INBOX"]),
    )
    .await;
    let new = import(
        mail(BEN, ANN, "Fresh plans", "Date: Mon, 01 Jul 2024 12:00:00 +0000\r\n", "see you"),
        json!(["INBOX", "UNREAD", "STARRED"]),
    )
    .await;
    let archived = import(
        mail(BEN, "dave@example.test", "Archived", "Date: Mon, 01 Apr 2024 12:00:00 +0000\r\n", "kept"),
        json!([]),
    )
    .await;
    let attached = deliver(&sim, ANN, WITH_ATTACHMENT, &["INBOX"]).await;
    let q = |q: &str| format!("messages?q={}", url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>());
    assert_eq!(gmail.ids(&q("after:2024/03/01 before:2024/12/31")).await, vec![new.clone(), archived.clone()]);
    assert_eq!(gmail.ids(&q("before:1704153600")).await, vec![old.clone()]);
    assert_eq!(gmail.ids(&q("in:inbox is:unread")).await, vec![new.clone()]);
    assert_eq!(gmail.ids(&q(&format!("from:{BEN}"))).await, vec![new.clone(), archived.clone()]);
    assert_eq!(gmail.ids(&q("to:dave")).await, vec![archived.clone()]);
    assert_eq!(gmail.ids(&q("subject:\"old news\"")).await, vec![old.clone()]);
    assert_eq!(gmail.ids(&q("is:starred")).await, vec![new.clone()]);
    assert_eq!(gmail.ids(&q("has:attachment")).await, vec![attached.clone()]);
    assert_eq!(gmail.ids(&q("label:inbox -from:ben")).await, vec![attached.clone(), old.clone()]);
    assert_eq!(gmail.ids(&q("subject:old OR subject:archived")).await, vec![archived, old]);
    assert_eq!(gmail.ids(&q("plans")).await, vec![new]);
}

#[tokio::test]
async fn spam_and_trash_stay_out_of_lists_unless_asked_for() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let inbox = deliver(&sim, ANN, &mail(BEN, ANN, "ham", "", "x"), &["INBOX"]).await;
    let spam = deliver(&sim, ANN, &mail(BEN, ANN, "spam", "", "x"), &["SPAM"]).await;
    let trashed = deliver(&sim, ANN, &mail(BEN, ANN, "old", "", "x"), &["INBOX"]).await;
    gmail.post(&format!("messages/{trashed}/trash"), json!({})).await;
    assert_eq!(gmail.ids("messages").await, vec![inbox.clone()]);
    assert_eq!(gmail.ids("messages?includeSpamTrash=true").await.len(), 3);
    assert_eq!(gmail.ids("messages?labelIds=SPAM").await, vec![spam]);
    assert_eq!(gmail.ids("messages?q=in:trash").await, vec![trashed.clone()]);
    assert_eq!(gmail.ids("threads").await, vec![inbox]);
    gmail.post(&format!("messages/{trashed}/untrash"), json!({})).await;
    assert_eq!(gmail.ids("messages").await.len(), 2);
}

#[tokio::test]
async fn label_ids_must_all_match() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let both = deliver(&sim, ANN, &mail(BEN, ANN, "a", "", "x"), &["INBOX", "STARRED"]).await;
    deliver(&sim, ANN, &mail(BEN, ANN, "b", "", "x"), &["INBOX"]).await;
    deliver(&sim, ANN, &mail(BEN, ANN, "c", "", "x"), &["STARRED"]).await;
    assert_eq!(gmail.ids("messages?labelIds=INBOX&labelIds=STARRED").await, vec![both]);
    assert_eq!(gmail.ids("messages?labelIds=INBOX").await.len(), 2);
}

#[tokio::test]
async fn labels_are_created_counted_renamed_and_deleted_and_sent_is_not_modifiable() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let labels = gmail.get("labels").await;
    let ids: Vec<&str> = labels["labels"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap()).collect();
    for system in
        ["INBOX", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT", "SENT", "DRAFT", "CATEGORY_PERSONAL", "CHAT"]
    {
        assert!(ids.contains(&system), "{system}");
    }
    let label = gmail
        .post("labels", json!({"name": "Work", "labelListVisibility": "labelShow", "messageListVisibility": "show"}))
        .await;
    assert_eq!((label["id"].as_str(), label["type"].as_str()), (Some("Label_1"), Some("user")));
    let (status, _) = gmail.call(Method::POST, "labels", Some(json!({"name": "work"}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let id = deliver(&sim, ANN, &mail(BEN, ANN, "a", "", "x"), &["INBOX", "UNREAD"]).await;
    let modified = gmail
        .post(&format!("messages/{id}/modify"), json!({"addLabelIds": ["Label_1"], "removeLabelIds": ["INBOX"]}))
        .await;
    assert_eq!(modified["labelIds"], json!(["Label_1", "UNREAD"]));
    let counted = gmail.get("labels/Label_1").await;
    assert_eq!((counted["messagesTotal"].as_u64(), counted["messagesUnread"].as_u64()), (Some(1), Some(1)));
    assert_eq!((counted["threadsTotal"].as_u64(), counted["threadsUnread"].as_u64()), (Some(1), Some(1)));
    assert_eq!(gmail.ids("messages?q=label:work").await, vec![id.clone()]);
    let (status, renamed) = gmail.call(Method::PATCH, "labels/Label_1", Some(json!({"name": "Job"}))).await;
    assert_eq!((status, renamed["name"].as_str()), (StatusCode::OK, Some("Job")));
    let (status, _) =
        gmail.call(Method::PUT, "labels/Label_1", Some(json!({"labelListVisibility": "labelHide"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "update needs a name");
    for label in ["SENT", "DRAFT", "Label_9"] {
        let (status, body) =
            gmail.call(Method::POST, &format!("messages/{id}/modify"), Some(json!({"addLabelIds": [label]}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{label}: {body}");
    }
    let (status, _) = gmail.call(Method::DELETE, "labels/INBOX", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = gmail.call(Method::DELETE, "labels/Label_1", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(gmail.labels_of(&id).await, vec!["UNREAD"]);
    let (status, body) = gmail.call(Method::GET, "labels/Label_1", None).await;
    assert_eq!((status, body["error"]["code"].as_u64()), (StatusCode::NOT_FOUND, Some(404)));
}

// History.

/// `(kind, message id, label ids)` of each history record, in order.
fn changes(history: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for record in history["history"].as_array().into_iter().flatten() {
        for kind in ["messagesAdded", "messagesDeleted", "labelsAdded", "labelsRemoved"] {
            for item in record[kind].as_array().into_iter().flatten() {
                let labels = item["labelIds"].as_array().into_iter().flatten().map(|l| l.as_str().unwrap().to_owned());
                out.push((kind.to_owned(), item["message"]["id"].as_str().unwrap().to_owned(), labels.collect()));
            }
        }
    }
    out
}

#[tokio::test]
async fn history_lists_every_change_in_order_across_pages() {
    let sim = Sim::start().await;
    let gmail = Gmail::with_scope(&sim, ANN, FULL_SCOPE).await;
    let start = gmail.history_id().await;
    let a = deliver(&sim, ANN, &mail(BEN, ANN, "a", "", "x"), &["INBOX", "UNREAD"]).await;
    let b = deliver(&sim, ANN, &mail(BEN, ANN, "b", "", "x"), &["INBOX"]).await;
    gmail.post(&format!("messages/{a}/modify"), json!({"removeLabelIds": ["UNREAD"]})).await;
    gmail.post(&format!("messages/{b}/trash"), json!({})).await;
    gmail.post(&format!("messages/{b}/untrash"), json!({})).await;
    assert_eq!(control(&sim, "modify", json!({"id": a, "addLabelIds": ["STARRED"]})).await, StatusCode::NO_CONTENT);
    let (status, _) = gmail.call(Method::DELETE, &format!("messages/{a}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let mut records = Vec::new();
    let mut ids = Vec::new();
    let mut token = String::new();
    loop {
        let page = gmail.get(&format!("history?startHistoryId={start}&maxResults=2&pageToken={token}")).await;
        records.extend(changes(&page));
        ids.extend(
            page["history"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().parse::<u64>().unwrap()),
        );
        match page["nextPageToken"].as_str() {
            Some(next) => token = next.to_owned(),
            None => {
                assert_eq!(page["historyId"].as_str().unwrap(), gmail.history_id().await);
                break;
            }
        }
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "chronological: {ids:?}");
    let brief: Vec<(&str, &str)> = records.iter().map(|(k, id, _)| (k.as_str(), id.as_str())).collect();
    assert_eq!(
        brief,
        vec![
            ("messagesAdded", a.as_str()),
            ("messagesAdded", b.as_str()),
            ("labelsRemoved", a.as_str()),
            ("labelsAdded", b.as_str()),
            ("labelsRemoved", b.as_str()),
            ("labelsAdded", a.as_str()),
            ("messagesDeleted", a.as_str()),
        ]
    );
    assert_eq!(records[2].2, vec!["UNREAD"]);
    assert_eq!(records[3].2, vec!["TRASH"]);
    let only_deleted = gmail.get(&format!("history?startHistoryId={start}&historyTypes=messageDeleted")).await;
    assert_eq!(changes(&only_deleted).len(), 1);
    let starred = gmail.get(&format!("history?startHistoryId={start}&labelId=STARRED")).await;
    let starred = changes(&starred);
    assert_eq!(starred[0], ("labelsAdded".to_owned(), a.clone(), vec!["STARRED".to_owned()]));
    assert_eq!(starred.len(), 2, "and the deletion of the starred message: {starred:?}");
}

#[tokio::test]
async fn history_is_gone_after_expiry_or_the_retention_window() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let start = gmail.history_id().await;
    deliver(&sim, ANN, &mail(BEN, ANN, "a", "", "x"), &["INBOX"]).await;
    gmail.get(&format!("history?startHistoryId={start}")).await;
    assert_eq!(control(&sim, "expire-history", json!({})).await, StatusCode::OK);
    let (status, body) = gmail.call(Method::GET, &format!("history?startHistoryId={start}"), None).await;
    assert_eq!((status, body["error"]["status"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND")));

    let start = gmail.history_id().await;
    assert!(gmail.get(&format!("history?startHistoryId={start}")).await.get("history").is_none());
    deliver(&sim, ANN, &mail(BEN, ANN, "b", "", "x"), &["INBOX"]).await;
    sim.state().clock().advance(8 * 24 * 3600);
    let gmail = Gmail::new(&sim, ANN).await; // the old access token has long expired
    let (status, _) = gmail.call(Method::GET, &format!("history?startHistoryId={start}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let current = gmail.history_id().await;
    gmail.get(&format!("history?startHistoryId={current}")).await;
}

// Threads, sending and drafts.

#[tokio::test]
async fn a_reply_joins_the_thread_it_answers_when_the_subject_matches() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let first =
        deliver(&sim, ANN, &mail(BEN, ANN, "Lunch?", "Message-ID: <lunch@example.test>\r\n", "Noon?"), &["INBOX"])
            .await;
    let reply_headers = "In-Reply-To: <lunch@example.test>\r\nReferences: <lunch@example.test>\r\n";
    let reply = gmail
        .post(
            "messages/send",
            json!({"raw": b64(&mail(ANN, BEN, "Re: Lunch?", reply_headers, "Yes.")), "threadId": first}),
        )
        .await;
    assert_eq!(reply["threadId"], first.as_str());
    let other = gmail
        .post("messages/send", json!({"raw": b64(&mail(ANN, BEN, "Dinner", reply_headers, "No.")), "threadId": first}))
        .await;
    assert_ne!(other["threadId"], first.as_str(), "a different subject starts a thread");
    let thread = gmail.get(&format!("threads/{first}")).await;
    let ids: Vec<&str> = thread["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![first.as_str(), reply["id"].as_str().unwrap()]);
    let incoming =
        deliver(&sim, ANN, &mail(BEN, ANN, "RE: lunch?", "In-Reply-To: <lunch@example.test>\r\n", "Great"), &["INBOX"])
            .await;
    assert_eq!(gmail.get(&format!("messages/{incoming}?format=minimal")).await["threadId"], first.as_str());

    let modified = gmail.post(&format!("threads/{first}/modify"), json!({"addLabelIds": ["STARRED"]})).await;
    assert_eq!(modified["messages"].as_array().unwrap().len(), 3);
    assert!(gmail.labels_of(&incoming).await.contains(&"STARRED".to_owned()));
    gmail.post(&format!("threads/{first}/trash"), json!({})).await;
    assert!(gmail.labels_of(&first).await.contains(&"TRASH".to_owned()));
    gmail.post(&format!("threads/{first}/untrash"), json!({})).await;
    assert!(!gmail.labels_of(&first).await.contains(&"TRASH".to_owned()));
}

#[tokio::test]
async fn sending_marks_sent_for_ann_and_delivers_to_ben_and_carl() {
    let sim = Sim::start().await;
    let ann = Gmail::new(&sim, ANN).await;
    let ben = Gmail::new(&sim, BEN).await;
    let raw = mail(ANN, &format!("Ben <{BEN}>"), "Hello", &format!("Bcc: {CARL}\r\n"), "Hi Ben.");
    let sent = ann.post("messages/send", json!({"raw": b64(&raw)})).await;
    assert_eq!(sent["labelIds"], json!(["SENT"]));
    assert_eq!(ann.ids("messages?q=in:sent").await, vec![sent["id"].as_str().unwrap().to_owned()]);
    let inbox = ben.ids("messages?labelIds=INBOX&labelIds=UNREAD").await;
    assert_eq!(inbox.len(), 1);
    let received = ben.get(&format!("messages/{}?format=raw", inbox[0])).await;
    let bytes = URL_SAFE_NO_PAD.decode(received["raw"].as_str().unwrap().trim_end_matches('=')).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("Message-ID:") && !text.contains("Bcc:"), "{text}");
    let state: Value = sim.http.get(sim.url("/_sim/state")).send().await.unwrap().json().await.unwrap();
    let carl = state["users"].as_array().unwrap().iter().find(|u| u["email"] == CARL).unwrap();
    assert_eq!(carl["messages"], 1, "the Outlook user got the Bcc copy");

    let (status, body) = ann.call(Method::POST, "messages/send", Some(json!({"threadId": "x"}))).await;
    assert_eq!((status, body["error"]["code"].as_u64()), (StatusCode::BAD_REQUEST, Some(400)));
}

#[tokio::test]
async fn oversized_messages_are_refused_with_the_documented_limit() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let huge = "a".repeat(36_700_160 / 3 * 4 + 8);
    let (status, body) = gmail.call(Method::POST, "messages/send", Some(json!({"raw": huge}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("36700160"), "{body}");
}

#[tokio::test]
async fn drafts_are_created_listed_updated_sent_and_deleted() {
    let sim = Sim::start().await;
    let ann = Gmail::new(&sim, ANN).await;
    let ben = Gmail::new(&sim, BEN).await;
    let draft = ann.post("drafts", json!({"message": {"raw": b64(&mail(ANN, BEN, "Plan", "", "v1"))}})).await;
    let draft_id = draft["id"].as_str().unwrap().to_owned();
    assert_eq!(draft["message"]["labelIds"], json!(["DRAFT"]));
    assert_eq!(ann.ids("drafts").await, vec![draft_id.clone()]);
    let (status, updated) = ann
        .call(
            Method::PUT,
            &format!("drafts/{draft_id}"),
            Some(json!({"message": {"raw": b64(&mail(ANN, BEN, "Plan", "", "v2"))}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["id"], draft_id.as_str());
    assert_ne!(updated["message"]["id"], draft["message"]["id"]);
    let fetched = ann.get(&format!("drafts/{draft_id}?format=full")).await;
    assert_eq!(fetched["message"]["snippet"], "v2");
    let sent = ann.post("drafts/send", json!({"id": draft_id})).await;
    assert_eq!(sent["labelIds"], json!(["SENT"]));
    assert!(ann.ids("drafts").await.is_empty());
    assert_eq!(ben.ids("messages?q=subject:plan").await.len(), 1);
    let (status, _) = ann.call(Method::GET, &format!("drafts/{draft_id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let other = ann.post("drafts", json!({"message": {"raw": b64(&mail(ANN, BEN, "Scrap", "", "x"))}})).await;
    let (status, _) = ann.call(Method::DELETE, &format!("drafts/{}", other["id"].as_str().unwrap()), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(ann.ids("messages?q=in:drafts").await.is_empty());
}

#[tokio::test]
async fn batch_modify_and_batch_delete_take_many_ids() {
    let sim = Sim::start().await;
    let gmail = Gmail::with_scope(&sim, ANN, FULL_SCOPE).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(deliver(&sim, ANN, &mail(BEN, ANN, &format!("m{i}"), "", "x"), &["INBOX", "UNREAD"]).await);
    }
    let (status, _) =
        gmail.call(Method::POST, "messages/batchModify", Some(json!({"ids": ids, "removeLabelIds": ["UNREAD"]}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(gmail.ids("messages?q=is:unread").await.is_empty());
    let too_many: Vec<String> = (0..1001).map(|i| format!("{i:016x}")).collect();
    let (status, _) = gmail
        .call(Method::POST, "messages/batchModify", Some(json!({"ids": too_many, "addLabelIds": ["STARRED"]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = gmail.call(Method::POST, "messages/batchDelete", Some(json!({"ids": ids[..2]}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(gmail.ids("messages").await, vec![ids[2].clone()]);
}

// Batch.

fn batch_body(boundary: &str, requests: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (i, (method, path)) in requests.iter().enumerate() {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{i}>\r\n\r\n\
             {method} {path} HTTP/1.1\r\n\r\n\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    body
}

#[tokio::test]
async fn a_batch_answers_each_call_in_its_own_part() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let id = deliver(&sim, ANN, &mail(BEN, ANN, "a", "", "x"), &["INBOX"]).await;
    let body = batch_body(
        "END_OF_PART",
        &[
            ("GET", &format!("/gmail/v1/users/me/messages/{id}?format=minimal")),
            ("GET", "/gmail/v1/users/me/messages/0000000000000000"),
            ("GET", "/gmail/v1/users/me/labels/INBOX"),
        ],
    );
    sim.http.delete(sim.url("/_sim/log")).send().await.unwrap();
    let response = sim
        .http
        .post(sim.url("/google/batch/gmail/v1"))
        .bearer_auth(&gmail.token)
        .header("content-type", "multipart/mixed; boundary=END_OF_PART")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    let boundary = content_type.split("boundary=").nth(1).unwrap().to_owned();
    let text = response.text().await.unwrap();
    let parts: Vec<&str> = text.split(&format!("--{boundary}")).skip(1).filter(|p| !p.starts_with("--")).collect();
    assert_eq!(parts.len(), 3);
    assert!(parts[0].contains("Content-ID: <response-item0>") && parts[0].contains("HTTP/1.1 200 OK"));
    assert!(parts[0].contains(&format!("\"id\":\"{id}\"")));
    assert!(parts[1].contains("HTTP/1.1 404 Not Found") && parts[1].contains("notFound"));
    assert!(parts[2].contains("Content-ID: <response-item2>") && parts[2].contains("\"messagesTotal\":1"));
    let log: Value = sim.http.get(sim.url("/_sim/log")).send().await.unwrap().json().await.unwrap();
    assert_eq!(log["requests"][0]["units"], 11, "each part pays its own units");
    assert_eq!(log["requests"][0]["parts"], json!([200, 404, 200]), "each part's status is logged");

    let paths: Vec<(&str, String)> = (0..101).map(|_| ("GET", "/gmail/v1/users/me/profile".to_owned())).collect();
    let paths: Vec<(&str, &str)> = paths.iter().map(|(m, p)| (*m, p.as_str())).collect();
    let response = sim
        .http
        .post(sim.url("/google/batch"))
        .bearer_auth(&gmail.token)
        .header("content-type", "multipart/mixed; boundary=b")
        .body(batch_body("b", &paths))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 400);
}

#[tokio::test]
async fn injected_rate_limits_refuse_calls_one_by_one_with_google_s_429() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let faults = json!({"seed": 3, "rate_limit_rate": 1.0});
    assert_eq!(
        sim.http.put(sim.url("/_sim/faults")).json(&faults).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let response = sim.get(&format!("{API}/profile"), &gmail.token).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_none(), "Google does not promise a Retry-After");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["errors"][0]["reason"], "rateLimitExceeded");
    assert_eq!(body["error"]["errors"][0]["domain"], "usageLimits");

    // In a batch, each call is refused in its own part and the batch itself is answered.
    let body = batch_body("b", &[("GET", "/gmail/v1/users/me/profile"), ("GET", "/gmail/v1/users/me/labels/INBOX")]);
    let response = sim
        .http
        .post(sim.url("/google/batch/gmail/v1"))
        .bearer_auth(&gmail.token)
        .header("content-type", "multipart/mixed; boundary=b")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert_eq!(text.matches("HTTP/1.1 429 Too Many Requests").count(), 2, "{text}");

    // The token endpoint has no such quota and the control API is spared.
    let response = sim.http.post(sim.url("/google/token")).form(&[("grant_type", "x")]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let bad = json!({"rate_limit_rate": 1.5});
    assert_eq!(
        sim.http.put(sim.url("/_sim/faults")).json(&bad).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
}

// Authorization and quota.

#[tokio::test]
async fn a_bad_token_gets_401_with_the_auth_error_body() {
    let sim = Sim::start().await;
    let response = sim.get(&format!("{API}/profile"), "not-a-token").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 401);
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("Request had invalid authentication credentials"));
    assert_eq!(
        body["error"]["errors"][0],
        json!({"message": "Invalid Credentials", "domain": "global", "reason": "authError",
            "location": "Authorization", "locationType": "header"})
    );
    let response = sim.http.get(sim.url(&format!("{API}/labels"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "no token at all");
    let microsoft = sim.microsoft_tokens(CARL).await;
    assert_eq!(sim.get(&format!("{API}/profile"), &microsoft.access).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_users_mailbox_is_forbidden_but_ones_own_address_works() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let (status, body) = gmail.call(Method::GET, &format!("/google/gmail/v1/users/{BEN}/profile"), None).await;
    assert_eq!((status, body["error"]["status"].as_str()), (StatusCode::FORBIDDEN, Some("PERMISSION_DENIED")));
    let own = gmail.get(&format!("/google/gmail/v1/users/{ANN}/profile")).await;
    assert_eq!(own["emailAddress"], ANN);
    let send_as = gmail.get("settings/sendAs").await;
    assert_eq!(send_as["sendAs"][0]["sendAsEmail"], ANN);
    assert_eq!(
        (send_as["sendAs"][0]["isPrimary"].as_bool(), send_as["sendAs"][0]["isDefault"].as_bool()),
        (Some(true), Some(true))
    );
}

#[tokio::test]
async fn permanent_deletion_needs_the_full_mail_scope() {
    let sim = Sim::start().await;
    let modify = Gmail::new(&sim, ANN).await;
    let id = deliver(&sim, ANN, &mail(BEN, ANN, "a", "", "x"), &["INBOX"]).await;
    for (method, path, body) in [
        (Method::DELETE, format!("messages/{id}"), None),
        (Method::POST, "messages/batchDelete".to_owned(), Some(json!({"ids": [id]}))),
        (Method::DELETE, format!("threads/{id}"), None),
    ] {
        let (status, answer) = modify.call(method, &path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(answer["error"]["errors"][0]["reason"], "insufficientPermissions");
    }
    let readonly = Gmail::with_scope(&sim, ANN, "https://www.googleapis.com/auth/gmail.readonly").await;
    readonly.get("messages").await;
    let (status, _) = readonly.call(Method::POST, &format!("messages/{id}/trash"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "read-only tokens cannot write");
    let full = Gmail::with_scope(&sim, ANN, FULL_SCOPE).await;
    let (status, _) = full.call(Method::DELETE, &format!("threads/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(full.ids("messages?includeSpamTrash=true").await.is_empty());
}

#[tokio::test]
async fn the_per_user_quota_gives_429_until_the_minute_has_passed() {
    let sim =
        Sim::start_with(SimConfig { auto_consent: true, gmail_user_units_per_minute: 20, ..Default::default() }).await;
    let ann = Gmail::new(&sim, ANN).await;
    let ben = Gmail::new(&sim, BEN).await;
    for _ in 0..4 {
        ann.get("messages").await;
    }
    let (status, body) = ann.call(Method::GET, "messages", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(body["error"]["errors"][0]["domain"], "usageLimits");
    assert_eq!(body["error"]["errors"][0]["reason"], "rateLimitExceeded");
    ben.get("messages").await;
    sim.state().clock().advance(61);
    ann.get("messages").await;
    let log: Value = sim.http.get(sim.url("/_sim/log")).send().await.unwrap().json().await.unwrap();
    let spent: Vec<u64> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == format!("{API}/messages"))
        .map(|r| r["units"].as_u64().unwrap())
        .collect();
    assert_eq!(spent, vec![5, 5, 5, 5, 0, 5, 5]);
}

#[tokio::test]
async fn the_control_api_lowers_and_raises_the_quota_while_the_simulator_runs() {
    let sim = Sim::start_with(SimConfig { auto_consent: true, ..Default::default() }).await;
    let ann = Gmail::new(&sim, ANN).await;
    ann.get("messages").await;
    let quotas: Value = sim.http.get(sim.url("/_sim/quotas")).send().await.unwrap().json().await.unwrap();
    assert_eq!(quotas["gmail_user_units_per_minute"], 15_000);
    let lowered =
        json!({"gmail_user_units_per_minute": 12, "graph_requests_per_10_minutes": 10000, "graph_concurrency": 4});
    let answer = sim.http.put(sim.url("/_sim/quotas")).json(&lowered).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    // 5 units were spent before: one more list fits in 12, the next does not.
    ann.get("messages").await;
    assert_eq!(ann.call(Method::GET, "messages", None).await.0, StatusCode::TOO_MANY_REQUESTS);
    let raised =
        json!({"gmail_user_units_per_minute": 15000, "graph_requests_per_10_minutes": 10000, "graph_concurrency": 4});
    sim.http.put(sim.url("/_sim/quotas")).json(&raised).send().await.unwrap();
    ann.get("messages").await;
    let zero =
        json!({"gmail_user_units_per_minute": 0, "graph_requests_per_10_minutes": 10000, "graph_concurrency": 4});
    assert_eq!(
        sim.http.put(sim.url("/_sim/quotas")).json(&zero).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
}

// The control API.

#[tokio::test]
async fn the_control_api_changes_mail_as_another_client_and_history_shows_it() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let a = deliver(&sim, ANN, &mail(BEN, ANN, "first", "", "x"), &["INBOX", "UNREAD"]).await;
    let b = deliver(&sim, ANN, &mail(BEN, ANN, "second", "", "x"), &["INBOX"]).await;
    let start = gmail.history_id().await;
    assert_eq!(control(&sim, "modify", json!({"id": a, "removeLabelIds": ["UNREAD"]})).await, StatusCode::NO_CONTENT);
    assert_eq!(control(&sim, "trash", json!({"id": a})).await, StatusCode::NO_CONTENT);
    assert_eq!(control(&sim, "delete", json!({"id": b})).await, StatusCode::NO_CONTENT);
    assert_eq!(control(&sim, "delete", json!({"id": b})).await, StatusCode::NOT_FOUND);
    let kinds: Vec<String> =
        changes(&gmail.get(&format!("history?startHistoryId={start}")).await).into_iter().map(|c| c.0).collect();
    assert_eq!(kinds, ["labelsRemoved", "labelsAdded", "messagesDeleted"]);

    let state: Value = sim.http.get(sim.url(&format!("/_sim/gmail/{ANN}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(state["historyId"].as_str().unwrap(), gmail.history_id().await);
    assert_eq!(
        state["messages"],
        json!([{"id": a, "threadId": a, "labelIds": ["INBOX", "TRASH"], "subject": "first"}])
    );
    assert!(state["labels"].as_array().unwrap().iter().any(|l| l["id"] == "INBOX"));
    let missing = sim.http.get(sim.url(&format!("/_sim/gmail/{CARL}"))).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND, "Carl has no Gmail mailbox");
}

#[tokio::test]
async fn messages_can_be_uploaded_as_media_or_multipart_and_tokens_can_come_in_the_query() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let raw = mail(ANN, BEN, "Uploaded", "", "as media");
    let response = sim
        .http
        .post(sim.url("/google/upload/gmail/v1/users/me/messages/send?uploadType=media"))
        .bearer_auth(&gmail.token)
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let sent: Value = response.json().await.unwrap();
    assert_eq!(sent["labelIds"], json!(["SENT"]));

    let body = format!(
        "--rel\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{{\"message\": {{\"threadId\": \"{}\"}}}}\r\n\
--rel\r\nContent-Type: message/rfc822\r\n\r\n{}\r\n--rel--\r\n",
        sent["threadId"].as_str().unwrap(),
        mail(ANN, BEN, "Re: Uploaded", "", "a draft reply")
    );
    let response =
        sim.http
            .post(sim.url(&format!(
                "/google/upload/gmail/v1/users/me/drafts?uploadType=multipart&access_token={}",
                gmail.token
            )))
            .header("content-type", "multipart/related; boundary=rel")
            .body(body)
            .send()
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let draft: Value = response.json().await.unwrap();
    assert_eq!(draft["message"]["threadId"], sent["threadId"], "the reply joined the thread");
    let fetched = gmail.get(&format!("drafts/{}", draft["id"].as_str().unwrap())).await;
    assert_eq!(fetched["message"]["snippet"], "a draft reply");

    let response = sim
        .http
        .post(sim.url("/google/upload/gmail/v1/users/me/labels?uploadType=media"))
        .bearer_auth(&gmail.token)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "labels take no uploads");
}

#[tokio::test]
async fn insert_dates_by_receipt_import_by_the_date_header_and_both_join_threads_by_id() {
    let sim = Sim::start().await;
    let gmail = Gmail::new(&sim, ANN).await;
    let dated = mail(BEN, ANN, "Minutes", "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n", "notes");
    let inserted = gmail.post("messages", json!({"raw": b64(&dated), "labelIds": ["INBOX"]})).await;
    let inserted = gmail.get(&format!("messages/{}?format=minimal", inserted["id"].as_str().unwrap())).await;
    assert!(inserted["internalDate"].as_str().unwrap().parse::<i64>().unwrap() > 1_704_110_400_000);
    let imported = gmail
        .post("messages/import", json!({"raw": b64(&dated), "threadId": inserted["threadId"], "labelIds": ["INBOX"]}))
        .await;
    let imported = gmail.get(&format!("messages/{}?format=minimal", imported["id"].as_str().unwrap())).await;
    assert_eq!(imported["internalDate"], "1704110400000");
    assert_eq!(imported["threadId"], inserted["threadId"], "same subject, thread asked for");
    let (status, _) =
        gmail.call(Method::POST, "messages", Some(json!({"raw": b64(&dated), "labelIds": ["NOPE"]}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = gmail.call(Method::POST, "messages?deleted=true", Some(json!({"raw": b64(&dated)}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
