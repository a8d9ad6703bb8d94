//! Microsoft Graph v1.0 mail, as documented: shapes, paging, delta, ids, sending, attachments,
//! `$batch`, limits and errors.

use std::io::Write as _;
use std::time::Duration;

use base64::Engine as _;
use mailroom_sim::SimConfig;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::support::*;

const API: &str = "/microsoft/v1.0";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn send(
    sim: &Sim,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let url = if path.starts_with("http") { path.to_owned() } else { sim.url(&format!("{API}{path}")) };
    let mut request = sim.http.request(method.parse().unwrap(), url).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer { status, headers, body }
}

async fn get(sim: &Sim, token: &str, path: &str) -> Answer {
    send(sim, token, "GET", path, None, &[]).await
}

async fn post(sim: &Sim, token: &str, path: &str, body: Value) -> Answer {
    send(sim, token, "POST", path, Some(body), &[]).await
}

async fn post_mime(sim: &Sim, token: &str, path: &str, base64: String) -> Answer {
    let response = sim
        .http
        .post(sim.url(&format!("{API}{path}")))
        .bearer_auth(token)
        .header("Content-Type", "text/plain")
        .body(base64)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    Answer { status, headers, body: response.json().await.unwrap_or(Value::Null) }
}

async fn control(sim: &Sim, action: &str, body: Value) -> Value {
    let url = sim.url(&format!("/_sim/graph/{CARL}/{action}"));
    let response = sim.http.post(url).json(&body).send().await.unwrap();
    assert!(response.status().is_success(), "control {action}: {}", response.status());
    response.json().await.unwrap_or(Value::Null)
}

fn raw_message(subject: &str, date: &str) -> Vec<u8> {
    let id: String = subject.chars().filter(char::is_ascii_alphanumeric).collect();
    format!(
        "From: Ann Lee <ann@example.test>\r\nTo: Carl <{CARL}>\r\nSubject: {subject}\r\nMessage-ID: <{id}@example.test>\r\n\
         Date: {date}\r\nX-Custom: yes\r\n\r\nHello Carl, this is {subject}.\r\n"
    )
    .into_bytes()
}

/// Puts a message in Carl's `folder`, received `minutes_ago`; returns its id.
fn deliver(sim: &Sim, folder: &str, subject: &str, minutes_ago: i64) -> String {
    let received = sim.state().clock().now_ms() - minutes_ago * 60_000;
    sim.state().world().graph(CARL).unwrap().deliver(
        raw_message(subject, "Tue, 01 Oct 2024 10:00:00 +0000"),
        folder,
        received,
    )
}

fn error_code(answer: &Answer) -> &str {
    answer.body["error"]["code"].as_str().unwrap_or_default()
}

fn subjects(answer: &Answer) -> Vec<String> {
    answer.body["value"].as_array().unwrap().iter().map(|m| m["subject"].as_str().unwrap().to_owned()).collect()
}

async fn start() -> (Sim, String) {
    let sim = Sim::start().await;
    let token = sim.microsoft_tokens(CARL).await.access;
    (sim, token)
}

#[tokio::test]
async fn me_shows_the_user_and_proxy_addresses_when_selected() {
    let (sim, token) = start().await;
    let me = get(&sim, &token, "/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["mail"], CARL);
    assert_eq!(me.body["userPrincipalName"], CARL);
    assert_eq!(me.body["displayName"], "Carl");
    assert!(me.body["id"].as_str().unwrap().len() == 36);
    assert!(me.body["@odata.context"].as_str().unwrap().ends_with("$metadata#users/$entity"));
    assert!(me.body.get("proxyAddresses").is_none(), "not a default property");

    let me = get(&sim, &token, "/me?$select=mail,proxyAddresses").await;
    let proxies = me.body["proxyAddresses"].as_array().unwrap();
    assert_eq!(proxies[0], format!("SMTP:{CARL}"));
    assert_eq!(proxies[1], "smtp:carl@contoso.mail.onmicrosoft.com");
    assert!(me.body.get("displayName").is_none());
}

#[tokio::test]
async fn well_known_names_stand_for_folder_ids_and_folders_can_be_created() {
    let (sim, token) = start().await;
    deliver(&sim, "inbox", "one", 1);
    let folders = get(&sim, &token, "/me/mailFolders").await;
    assert_eq!(folders.status, StatusCode::OK);
    let names: Vec<&str> =
        folders.body["value"].as_array().unwrap().iter().map(|f| f["displayName"].as_str().unwrap()).collect();
    for name in ["Inbox", "Drafts", "Sent Items", "Deleted Items", "Archive", "Junk Email", "Outbox"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let inbox = get(&sim, &token, "/me/mailFolders/inbox").await;
    for key in
        ["id", "displayName", "parentFolderId", "childFolderCount", "totalItemCount", "unreadItemCount", "isHidden"]
    {
        assert!(inbox.body.get(key).is_some(), "{key}");
    }
    assert_eq!((inbox.body["totalItemCount"].as_u64(), inbox.body["unreadItemCount"].as_u64()), (Some(1), Some(1)));
    let by_id = get(&sim, &token, &format!("/me/mailFolders/{}", inbox.body["id"].as_str().unwrap())).await;
    assert_eq!(by_id.body["displayName"], "Inbox");
    let root = get(&sim, &token, "/me/mailFolders/msgfolderroot").await;
    assert_eq!(inbox.body["parentFolderId"], root.body["id"]);

    let created = post(&sim, &token, "/me/mailFolders/inbox/childFolders", json!({"displayName": "Receipts"})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["parentFolderId"], inbox.body["id"]);
    let again = post(&sim, &token, "/me/mailFolders/inbox/childFolders", json!({"displayName": "Receipts"})).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let children = get(&sim, &token, "/me/mailFolders/inbox/childFolders").await;
    assert_eq!(children.body["value"][0]["displayName"], "Receipts");
    assert_eq!(get(&sim, &token, "/me/mailFolders/inbox").await.body["childFolderCount"], 1);
    let top = post(&sim, &token, "/me/mailFolders", json!({"displayName": "Projects"})).await;
    assert_eq!(top.body["parentFolderId"], root.body["id"]);
    let missing = get(&sim, &token, "/me/mailFolders/nosuchfolder").await;
    assert_eq!((missing.status, error_code(&missing)), (StatusCode::NOT_FOUND, "ErrorItemNotFound"));

    let top_id = top.body["id"].as_str().unwrap().to_owned();
    let renamed =
        send(&sim, &token, "PATCH", &format!("/me/mailFolders/{top_id}"), Some(json!({"displayName": "Work"})), &[])
            .await;
    assert_eq!((renamed.status, renamed.body["displayName"].as_str()), (StatusCode::OK, Some("Work")));
    let refused = send(&sim, &token, "DELETE", "/me/mailFolders/inbox", None, &[]).await;
    assert_eq!((refused.status, error_code(&refused)), (StatusCode::BAD_REQUEST, "ErrorDeleteDistinguishedFolder"));
    assert_eq!(
        send(&sim, &token, "DELETE", &format!("/me/mailFolders/{top_id}"), None, &[]).await.status,
        StatusCode::NO_CONTENT
    );
    let trash = get(&sim, &token, "/me/mailFolders/deleteditems/childFolders").await;
    assert_eq!(trash.body["value"][0]["displayName"], "Work", "deleted folders go to Deleted Items first");
    assert_eq!(
        send(&sim, &token, "DELETE", &format!("/me/mailFolders/{top_id}"), None, &[]).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(get(&sim, &token, &format!("/me/mailFolders/{top_id}")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn lists_page_with_top_and_skip_through_absolute_next_links() {
    let (sim, token) = start().await;
    for i in 0..25 {
        deliver(&sim, "inbox", &format!("message {i:02}"), 100 - i);
    }
    deliver(&sim, "archive", "archived", 500);
    let first = get(&sim, &token, "/me/mailFolders/inbox/messages").await;
    assert_eq!(first.body["value"].as_array().unwrap().len(), 10, "the default page is 10");
    assert_eq!(subjects(&first)[0], "message 24", "newest first");
    assert!(first.body["@odata.context"].as_str().unwrap().contains("/messages"));

    let page = get(&sim, &token, "/me/mailFolders/inbox/messages?$top=20&$select=subject").await;
    assert_eq!(page.body["value"].as_array().unwrap().len(), 20);
    assert!(page.body["value"][0].get("body").is_none(), "$select keeps the rest out");
    assert!(page.body["value"][0]["@odata.etag"].is_string());
    let next = page.body["@odata.nextLink"].as_str().unwrap();
    assert!(next.starts_with(&sim.url(API)), "{next}");
    let rest = get(&sim, &token, next).await;
    assert_eq!(rest.body["value"].as_array().unwrap().len(), 5);
    assert!(rest.body.get("@odata.nextLink").is_none());

    let skipped = get(&sim, &token, "/me/mailFolders/inbox/messages?$top=3&$skip=22").await;
    assert_eq!(subjects(&skipped), ["message 02", "message 01", "message 00"]);
    let all = get(&sim, &token, "/me/messages?$top=1000&$count=true").await;
    assert_eq!(all.body["@odata.count"], 26, "the whole mailbox");
    let bad = get(&sim, &token, "/me/messages?$top=1001").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn filters_sort_and_refuse_an_orderby_that_does_not_lead_the_filter() {
    let (sim, token) = start().await;
    for (i, subject) in ["old", "middle", "new"].iter().enumerate() {
        let id = deliver(&sim, "inbox", subject, 300 - 100 * i64::try_from(i).unwrap());
        if *subject == "middle" {
            sim.state().world().graph(CARL).unwrap().set_read(&id, true);
        }
    }
    let since = chrono::DateTime::from_timestamp_millis(sim.state().clock().now_ms() - 250 * 60_000).unwrap();
    let since = since.format("%Y-%m-%dT%H:%M:%SZ");
    let path =
        format!("/me/mailFolders/inbox/messages?$filter=receivedDateTime ge {since}&$orderby=receivedDateTime asc");
    let recent = get(&sim, &token, &path).await;
    assert_eq!(recent.status, StatusCode::OK, "{}", recent.body);
    assert_eq!(subjects(&recent), ["middle", "new"]);

    let unread = get(&sim, &token, "/me/messages?$filter=isRead eq false").await;
    assert_eq!(subjects(&unread), ["new", "old"]);
    let both =
        get(&sim, &token, &format!("/me/messages?$filter=receivedDateTime gt {since} and isRead eq false")).await;
    assert_eq!(subjects(&both), ["new"]);

    let inefficient = get(
        &sim,
        &token,
        "/me/messages?$filter=isRead eq false and receivedDateTime ge 2020-01-01&$orderby=receivedDateTime desc",
    )
    .await;
    assert_eq!((inefficient.status, error_code(&inefficient)), (StatusCode::BAD_REQUEST, "InefficientFilter"));
    assert!(inefficient.body["error"]["innerError"]["request-id"].is_string());
    assert!(inefficient.body["error"]["innerError"]["date"].is_string());
}

#[tokio::test]
async fn a_message_has_the_documented_properties_and_its_mime() {
    let (sim, token) = start().await;
    let id = deliver(&sim, "inbox", "Quarterly report", 5);
    let message = get(&sim, &token, &format!("/me/messages/{id}")).await;
    assert_eq!(message.status, StatusCode::OK);
    let m = &message.body;
    for key in [
        "id",
        "@odata.etag",
        "changeKey",
        "createdDateTime",
        "lastModifiedDateTime",
        "receivedDateTime",
        "sentDateTime",
        "hasAttachments",
        "internetMessageId",
        "subject",
        "bodyPreview",
        "body",
        "importance",
        "parentFolderId",
        "conversationId",
        "conversationIndex",
        "isRead",
        "isDraft",
        "webLink",
        "inferenceClassification",
        "sender",
        "from",
        "toRecipients",
        "ccRecipients",
        "bccRecipients",
        "replyTo",
        "flag",
        "categories",
    ] {
        assert!(m.get(key).is_some(), "{key} missing from {m}");
    }
    assert_eq!(m["from"]["emailAddress"], json!({"name": "Ann Lee", "address": "ann@example.test"}));
    assert_eq!(m["toRecipients"][0]["emailAddress"]["address"], CARL);
    assert_eq!(m["internetMessageId"], "<Quarterlyreport@example.test>");
    assert_eq!(m["sentDateTime"], "2024-10-01T10:00:00Z");
    assert_eq!(m["flag"]["flagStatus"], "notFlagged");
    assert_eq!(m["body"]["contentType"], "html");
    assert!(m.get("internetMessageHeaders").is_none());
    assert!(message.headers.get("preference-applied").is_none());

    let text = send(
        &sim,
        &token,
        "GET",
        &format!("/me/messages/{id}"),
        None,
        &[("Prefer", "outlook.body-content-type=\"text\"")],
    )
    .await;
    assert_eq!(
        text.body["body"],
        json!({"contentType": "text", "content": "Hello Carl, this is Quarterly report.\r\n"})
    );
    assert_eq!(text.headers["preference-applied"], "outlook.body-content-type=\"text\"");

    let headers = get(&sim, &token, &format!("/me/messages/{id}?$select=internetMessageHeaders")).await;
    let list = headers.body["internetMessageHeaders"].as_array().unwrap();
    assert!(list.contains(&json!({"name": "X-Custom", "value": "yes"})), "{list:?}");

    let mime =
        sim.http.get(sim.url(&format!("{API}/me/messages/{id}/$value"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(mime.status(), StatusCode::OK);
    assert!(mime.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(mime.bytes().await.unwrap(), raw_message("Quarterly report", "Tue, 01 Oct 2024 10:00:00 +0000"));

    let missing = get(&sim, &token, "/me/messages/AAMkNoSuchMessage").await;
    assert_eq!((missing.status, error_code(&missing)), (StatusCode::NOT_FOUND, "ErrorItemNotFound"));
}

/// Follows a delta round to its end; returns every item and the delta link.
async fn delta_round(sim: &Sim, token: &str, first: &str, page_size: usize) -> (Vec<Value>, String) {
    let prefer = format!("odata.maxpagesize={page_size}");
    let mut url = first.to_owned();
    let mut items = Vec::new();
    loop {
        let page = send(sim, token, "GET", &url, None, &[("Prefer", &prefer)]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let value = page.body["value"].as_array().unwrap();
        assert!(value.len() <= page_size);
        items.extend(value.iter().cloned());
        let next = page.body.get("@odata.nextLink").and_then(Value::as_str);
        let delta = page.body.get("@odata.deltaLink").and_then(Value::as_str);
        match (next, delta) {
            (Some(next), None) => url = next.to_owned(),
            (None, Some(delta)) => return (items, delta.to_owned()),
            _ => panic!("a page has a next link or a delta link, never both or neither: {}", page.body),
        }
    }
}

#[tokio::test]
async fn delta_pages_by_max_page_size_then_reports_changes_from_other_clients() {
    let (sim, token) = start().await;
    let mut inbox = Vec::new();
    for i in 0..5 {
        inbox.push(deliver(&sim, "inbox", &format!("m{i}"), 10 - i));
    }
    let (items, delta) =
        delta_round(&sim, &token, "/me/mailFolders/inbox/messages/delta?$select=subject,isRead", 2).await;
    assert_eq!(items.len(), 5);
    assert!(items.iter().all(|m| m.get("body").is_none() && m["isRead"] == false));
    let (_, archive_delta) = delta_round(&sim, &token, "/me/mailFolders/archive/messages/delta", 10).await;

    control(&sim, "patch", json!({"id": inbox[0], "isRead": true})).await;
    let moved = control(&sim, "move", json!({"id": inbox[1], "destination": "archive"})).await;
    control(&sim, "delete", json!({"id": inbox[2]})).await;
    let added = deliver(&sim, "inbox", "fresh", 0);

    let (items, _) = delta_round(&sim, &token, &delta, 2).await;
    let find = |id: &str| items.iter().find(|m| m["id"] == id).cloned();
    assert_eq!(find(&inbox[0]).unwrap()["isRead"], true, "updates come again");
    for gone in [&inbox[1], &inbox[2]] {
        assert_eq!(
            find(gone).unwrap(),
            json!({"@odata.type": "#microsoft.graph.message", "id": gone, "@removed": {"reason": "deleted"}})
        );
    }
    assert_eq!(find(&added).unwrap()["subject"], "fresh");
    assert_eq!(items.len(), 4);

    let state: Value =
        sim.http.get(sim.url(&format!("/_sim/graph/{CARL}"))).send().await.unwrap().json().await.unwrap();
    let shown = state["messages"].as_array().unwrap().iter().find(|m| m["id"] == moved["id"]).unwrap().clone();
    assert_eq!((shown["folder"].as_str(), shown["subject"].as_str()), (Some("archive"), Some("m1")));
    assert_eq!(state["messages"].as_array().unwrap().len(), 5, "the deleted one is gone");

    let (archived, _) = delta_round(&sim, &token, &archive_delta, 10).await;
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0]["id"], moved["id"], "a moved message arrives in its new folder with its new id");
    assert_ne!(moved["id"], inbox[1]);
}

#[tokio::test]
async fn delta_tokens_expire_on_request_and_after_the_retention() {
    let (sim, token) = start().await;
    deliver(&sim, "inbox", "one", 1);
    let (_, delta) = delta_round(&sim, &token, "/me/mailFolders/inbox/messages/delta", 10).await;
    let (_, delta) = delta_round(&sim, &token, &delta, 10).await;
    control(&sim, "expire-delta", json!({})).await;
    let gone = get(&sim, &token, &delta).await;
    assert_eq!((gone.status, error_code(&gone)), (StatusCode::GONE, "syncStateNotFound"));

    // "A 40X-series error with error codes such as syncStateNotFound": the control API picks one.
    for (status, code) in [(400, "syncStateNotFound"), (400, "resyncRequired")] {
        let (_, delta) = delta_round(&sim, &token, "/me/mailFolders/inbox/messages/delta", 10).await;
        control(&sim, "expire-delta", json!({"status": status, "code": code})).await;
        let gone = get(&sim, &token, &delta).await;
        assert_eq!((gone.status.as_u16(), error_code(&gone)), (status, code));
        let folders = get(&sim, &token, "/me/mailFolders/delta").await;
        let link = folders.body["@odata.deltaLink"].as_str().unwrap().to_owned();
        control(&sim, "expire-delta", json!({"status": status, "code": code})).await;
        let gone = get(&sim, &token, &link).await;
        assert_eq!((gone.status.as_u16(), error_code(&gone)), (status, code), "folder delta too");
    }
    let refused = sim
        .http
        .post(sim.url(&format!("/_sim/graph/{CARL}/expire-delta")))
        .json(&json!({"status": 500}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "only a 4xx is a documented answer");
    control(&sim, "expire-delta", json!({})).await;

    let (_, delta) = delta_round(&sim, &token, "/me/mailFolders/inbox/messages/delta", 10).await;
    sim.state().clock().advance(7 * 24 * 3600 + 60);
    let token = sim.microsoft_tokens(CARL).await.access;
    let gone = get(&sim, &token, &delta).await;
    assert_eq!((gone.status, error_code(&gone)), (StatusCode::GONE, "syncStateNotFound"));
}

#[tokio::test]
async fn ids_change_on_move_unless_immutable_ids_are_preferred() {
    let (sim, token) = start().await;
    let id = deliver(&sim, "inbox", "movable", 1);
    let immutable = [("Prefer", "IdType=\"ImmutableId\"")];
    let fixed = send(&sim, &token, "GET", &format!("/me/messages/{id}"), None, &immutable).await;
    assert_eq!(fixed.headers["preference-applied"], "IdType=\"ImmutableId\"");
    let immutable_id = fixed.body["id"].as_str().unwrap().to_owned();
    assert_ne!(immutable_id, id);

    let moved = post(&sim, &token, &format!("/me/messages/{id}/move"), json!({"destinationId": "archive"})).await;
    assert_eq!(moved.status, StatusCode::CREATED);
    let new_id = moved.body["id"].as_str().unwrap();
    assert_ne!(new_id, id, "the default id changes on move");
    assert_eq!(get(&sim, &token, &format!("/me/messages/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&sim, &token, &format!("/me/messages/{new_id}")).await.status, StatusCode::OK);

    let moved = send(
        &sim,
        &token,
        "POST",
        &format!("/me/messages/{immutable_id}/move"),
        Some(json!({"destinationId": "inbox"})),
        &immutable,
    )
    .await;
    assert_eq!(moved.body["id"], immutable_id.as_str(), "the immutable id survives");
    let inbox = get(&sim, &token, "/me/mailFolders/inbox").await;
    assert_eq!(moved.body["parentFolderId"], inbox.body["id"]);
}

#[tokio::test]
async fn patch_copy_and_delete_work_as_documented() {
    let (sim, token) = start().await;
    let id = deliver(&sim, "inbox", "to change", 1);
    let patched = send(
        &sim,
        &token,
        "PATCH",
        &format!("/me/messages/{id}"),
        Some(json!({"isRead": true, "flag": {"flagStatus": "flagged"}, "categories": ["Blue"], "importance": "high"})),
        &[],
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(
        (patched.body["isRead"].as_bool(), patched.body["flag"]["flagStatus"].as_str()),
        (Some(true), Some("flagged"))
    );
    assert_eq!(patched.body["categories"], json!(["Blue"]));
    let subject =
        send(&sim, &token, "PATCH", &format!("/me/messages/{id}"), Some(json!({"subject": "new"})), &[]).await;
    assert_eq!(subject.status, StatusCode::BAD_REQUEST, "subject only changes on drafts");

    let copy = post(&sim, &token, &format!("/me/messages/{id}/copy"), json!({"destinationId": "archive"})).await;
    assert_eq!(copy.status, StatusCode::CREATED);
    assert_ne!(copy.body["id"], id.as_str());
    assert_eq!(get(&sim, &token, "/me/mailFolders/archive").await.body["totalItemCount"], 1);

    // message-delete.md: the message is deleted; it does not wait in Deleted Items.
    let deleted = send(&sim, &token, "DELETE", &format!("/me/messages/{id}"), None, &[]).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(get(&sim, &token, "/me/mailFolders/deleteditems").await.body["totalItemCount"], 0);
    assert_eq!(get(&sim, &token, &format!("/me/messages/{id}")).await.status, StatusCode::NOT_FOUND);
    let again = send(&sim, &token, "DELETE", &format!("/me/messages/{id}"), None, &[]).await;
    assert_eq!((again.status, error_code(&again)), (StatusCode::NOT_FOUND, "ErrorItemNotFound"));
    // The trash is a move to `deleteditems`; permanentDelete removes from there too.
    let copy_id = copy.body["id"].as_str().unwrap();
    let trashed =
        post(&sim, &token, &format!("/me/messages/{copy_id}/move"), json!({"destinationId": "deleteditems"})).await;
    assert_eq!(subjects(&get(&sim, &token, "/me/mailFolders/deleteditems/messages").await), ["to change"]);
    let trashed_id = trashed.body["id"].as_str().unwrap();
    let purged = post(&sim, &token, &format!("/me/messages/{trashed_id}/permanentDelete"), json!({})).await;
    assert_eq!(purged.status, StatusCode::NO_CONTENT);
    assert_eq!(get(&sim, &token, "/me/mailFolders/deleteditems").await.body["totalItemCount"], 0, "gone for good");
}

#[tokio::test]
async fn send_mail_as_json_lands_in_sent_items_and_in_bens_gmail_inbox() {
    let (sim, token) = start().await;
    let message = json!({"message": {
        "subject": "Lunch?",
        "body": {"contentType": "Text", "content": "Noon at the usual place."},
        "toRecipients": [{"emailAddress": {"address": BEN, "name": "Ben"}}],
        "bccRecipients": [{"emailAddress": {"address": "someone@elsewhere.test"}}],
        "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "menu.txt", "contentType": "text/plain",
            "contentBytes": base64::engine::general_purpose::STANDARD.encode("soup")}],
    }, "saveToSentItems": true});
    let sent = post(&sim, &token, "/me/sendMail", message).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    assert_eq!(sim.state().world().gmail(BEN).unwrap().message_count(), 1);
    let items = get(&sim, &token, "/me/mailFolders/sentitems/messages").await;
    assert_eq!(subjects(&items), ["Lunch?"]);
    let m = &items.body["value"][0];
    assert_eq!((m["isDraft"].as_bool(), m["hasAttachments"].as_bool()), (Some(false), Some(true)));
    assert_eq!(m["bccRecipients"][0]["emailAddress"]["address"], "someone@elsewhere.test");

    let unsaved = post(&sim, &token, "/me/sendMail", json!({"message": {"subject": "quiet", "toRecipients": [{"emailAddress": {"address": ANN}}]}, "saveToSentItems": false})).await;
    assert_eq!(unsaved.status, StatusCode::ACCEPTED);
    assert_eq!(get(&sim, &token, "/me/mailFolders/sentitems").await.body["totalItemCount"], 1);
    assert_eq!(sim.state().world().gmail(ANN).unwrap().message_count(), 1);

    let nobody = post(&sim, &token, "/me/sendMail", json!({"message": {"subject": "to no one"}})).await;
    assert_eq!(nobody.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn send_mail_as_base64_mime_works_and_bad_base64_is_refused() {
    let (sim, token) = start().await;
    let mime = format!(
        "From: {CARL}\r\nTo: {BEN}, {CARL}\r\nSubject: MIME hello\r\nMessage-ID: <mime1@contoso.test>\r\n\r\nBody.\r\n"
    );
    let sent = post_mime(&sim, &token, "/me/sendMail", base64::engine::general_purpose::STANDARD.encode(mime)).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    assert_eq!(sim.state().world().gmail(BEN).unwrap().message_count(), 1);
    assert_eq!(subjects(&get(&sim, &token, "/me/mailFolders/sentitems/messages").await), ["MIME hello"]);
    assert_eq!(
        subjects(&get(&sim, &token, "/me/mailFolders/inbox/messages").await),
        ["MIME hello"],
        "Carl wrote to himself too"
    );

    let bad = post_mime(&sim, &token, "/me/sendMail", "this is not base64!".to_owned()).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["code"], "ErrorMimeContentInvalidBase64String");
    assert_eq!(bad.body["error"]["message"], "Invalid base64 string for MIME content.");
}

#[tokio::test]
async fn replies_go_out_at_once_or_as_drafts_and_drafts_can_be_sent() {
    let (sim, token) = start().await;
    let id = deliver(&sim, "inbox", "Question", 3);
    let draft = post(&sim, &token, &format!("/me/messages/{id}/createReply"), json!({"comment": "Draft answer"})).await;
    assert_eq!(draft.status, StatusCode::CREATED);
    assert_eq!((draft.body["subject"].as_str(), draft.body["isDraft"].as_bool()), (Some("RE: Question"), Some(true)));
    assert_eq!(draft.body["toRecipients"][0]["emailAddress"]["address"], ANN);
    let drafts = get(&sim, &token, "/me/mailFolders/drafts").await;
    assert_eq!(draft.body["parentFolderId"], drafts.body["id"]);

    let both = post(
        &sim,
        &token,
        &format!("/me/messages/{id}/reply"),
        json!({"comment": "x", "message": {"body": {"contentType": "text", "content": "y"}}}),
    )
    .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    let reply = post(&sim, &token, &format!("/me/messages/{id}/reply"), json!({"comment": "Yes."})).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(sim.state().world().gmail(ANN).unwrap().message_count(), 1);
    let forward = post(
        &sim,
        &token,
        &format!("/me/messages/{id}/forward"),
        json!({"comment": "FYI", "toRecipients": [{"emailAddress": {"address": BEN}}]}),
    )
    .await;
    assert_eq!(forward.status, StatusCode::ACCEPTED);
    assert_eq!(sim.state().world().gmail(BEN).unwrap().message_count(), 1);
    let sent = get(&sim, &token, "/me/mailFolders/sentitems/messages").await;
    let mut sent_subjects = subjects(&sent);
    sent_subjects.sort();
    assert_eq!(sent_subjects, ["FW: Question", "RE: Question"]);

    let created = post(
        &sim,
        &token,
        "/me/messages",
        json!({"subject": "Plan", "toRecipients": [{"emailAddress": {"address": BEN}}]}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let draft_id = created.body["id"].as_str().unwrap();
    let edited =
        send(&sim, &token, "PATCH", &format!("/me/messages/{draft_id}"), Some(json!({"subject": "Plan B"})), &[]).await;
    assert_eq!(edited.body["subject"], "Plan B");
    let sent = post(&sim, &token, &format!("/me/messages/{draft_id}/send"), json!(null)).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    assert_eq!(sim.state().world().gmail(BEN).unwrap().message_count(), 2);
    assert_eq!(
        get(&sim, &token, "/me/mailFolders/drafts").await.body["totalItemCount"],
        1,
        "only the createReply draft is left"
    );
}

#[tokio::test]
async fn attachments_are_added_listed_fetched_and_uploaded_in_chunks() {
    let (sim, token) = start().await;
    let draft = post(&sim, &token, "/me/messages", json!({"subject": "With files"})).await;
    let id = draft.body["id"].as_str().unwrap().to_owned();
    let small = post(
        &sim,
        &token,
        &format!("/me/messages/{id}/attachments"),
        json!({
        "@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentType": "text/plain",
        "contentBytes": base64::engine::general_purpose::STANDARD.encode("hello")}),
    )
    .await;
    assert_eq!(small.status, StatusCode::CREATED);
    assert_eq!((small.body["name"].as_str(), small.body["size"].as_u64()), (Some("a.txt"), Some(5)));
    let big = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 3 * 1024 * 1024]);
    let too_big = post(
        &sim,
        &token,
        &format!("/me/messages/{id}/attachments"),
        json!({
        "@odata.type": "#microsoft.graph.fileAttachment", "name": "big.bin", "contentBytes": big}),
    )
    .await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);

    let size = 3 * 1024 * 1024 + 100;
    let data: Vec<u8> = (0..size).map(|i| u8::try_from(i % 251).unwrap()).collect();
    let session = post(
        &sim,
        &token,
        &format!("/me/messages/{id}/attachments/createUploadSession"),
        json!({"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": size}}),
    )
    .await;
    assert_eq!(session.status, StatusCode::CREATED, "{}", session.body);
    assert_eq!(session.body["nextExpectedRanges"], json!(["0-"]));
    assert!(session.body["expirationDateTime"].is_string());
    let upload_url = session.body["uploadUrl"].as_str().unwrap().to_owned();
    assert!(upload_url.starts_with(&sim.url("/")));
    let chunk = 2 * 1024 * 1024;
    let put = |start: usize, end: usize| {
        sim.http
            .put(&upload_url)
            .header("Content-Range", format!("bytes {start}-{}/{size}", end - 1))
            .header("Content-Type", "application/octet-stream")
            .body(data[start..end].to_vec())
            .send()
    };
    let first = put(0, chunk).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.json::<Value>().await.unwrap()["nextExpectedRanges"], json!([chunk.to_string()]));
    assert_eq!(put(0, chunk).await.unwrap().status(), StatusCode::RANGE_NOT_SATISFIABLE, "a chunk twice");
    let last = put(chunk, size).await.unwrap();
    assert_eq!(last.status(), StatusCode::CREATED);
    let location = last.headers()["location"].to_str().unwrap().to_owned();

    let list = get(&sim, &token, &format!("/me/messages/{id}/attachments")).await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 2);
    let uploaded = list.body["value"].as_array().unwrap().iter().find(|a| a["name"] == "big.bin").unwrap().clone();
    assert!(location.contains(uploaded["id"].as_str().unwrap()));
    assert_eq!(uploaded["@odata.type"], "#microsoft.graph.fileAttachment");
    let bytes =
        sim.http.get(format!("{location}/$value")).bearer_auth(&token).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(bytes.to_vec(), data);
    let one = get(&sim, &token, &format!("/me/messages/{id}/attachments/{}", small.body["id"].as_str().unwrap())).await;
    assert_eq!(one.body["contentBytes"], base64::engine::general_purpose::STANDARD.encode("hello"));
    let expanded = get(&sim, &token, &format!("/me/messages/{id}?$expand=attachments")).await;
    assert_eq!(expanded.body["hasAttachments"], true);
    assert_eq!(expanded.body["attachments"].as_array().unwrap().len(), 2);
}

/// outlook-large-attachments.md: a request carries at most 4 MB, so a larger message is a draft
/// that files are added to one by one, then sent; only the mailbox's send limit caps it.
#[tokio::test]
async fn a_request_over_four_megabytes_is_refused_but_a_draft_grows_by_attachments_to_the_send_limit() {
    let config = SimConfig { auto_consent: true, graph_send_limit_bytes: 6 * 1024 * 1024, ..SimConfig::default() };
    let sim = Sim::start_with(config).await;
    let token = sim.microsoft_tokens(CARL).await.access;
    let b64 = |seed: u8| base64::engine::general_purpose::STANDARD.encode(vec![seed; 1_800_000]);
    let file = |seed: u8| {
        json!({"@odata.type": "#microsoft.graph.fileAttachment", "name": format!("{seed}.bin"),
            "contentType": "application/octet-stream", "contentBytes": b64(seed)})
    };
    let message = json!({"subject": "Files", "toRecipients": [{"emailAddress": {"address": BEN}}]});
    let mut whole = message.clone();
    whole["attachments"] = json!([file(1), file(2)]);
    let refused = post(&sim, &token, "/me/sendMail", json!({"message": whole})).await;
    assert_eq!((refused.status, error_code(&refused)), (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge"));

    let draft = post(&sim, &token, "/me/messages", message.clone()).await;
    let id = draft.body["id"].as_str().unwrap().to_owned();
    for seed in [1, 2] {
        let added = post(&sim, &token, &format!("/me/messages/{id}/attachments"), file(seed)).await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    }
    let sent = post(&sim, &token, &format!("/me/messages/{id}/send"), json!({})).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    let delivered = sim.state().world().gmail(BEN).unwrap().messages().map(|m| m.raw.len()).max().unwrap();
    assert!(delivered > 4 * 1024 * 1024, "the whole message arrived: {delivered}");

    // Past the mailbox's limit (6 MiB here), the send is refused and the draft stays.
    let draft = post(&sim, &token, "/me/messages", message).await;
    let id = draft.body["id"].as_str().unwrap().to_owned();
    for seed in [3, 4, 5] {
        post(&sim, &token, &format!("/me/messages/{id}/attachments"), file(seed)).await;
    }
    let over = post(&sim, &token, &format!("/me/messages/{id}/send"), json!({})).await;
    assert_eq!((over.status, error_code(&over)), (StatusCode::BAD_REQUEST, "ErrorMessageSizeExceeded"));
    assert_eq!(get(&sim, &token, &format!("/me/messages/{id}")).await.body["isDraft"], true);
}

#[tokio::test]
async fn batch_runs_parts_in_dependency_order_and_refuses_more_than_twenty() {
    let (sim, token) = start().await;
    let id = deliver(&sim, "inbox", "batched", 1);
    let batch = post(&sim, &token, "/$batch", json!({"requests": [
        {"id": "3", "method": "GET", "url": format!("/me/messages/{id}?$select=isRead"), "dependsOn": ["2"]},
        {"id": "2", "method": "PATCH", "url": format!("/me/messages/{id}"), "headers": {"Content-Type": "application/json"}, "body": {"isRead": true}},
        {"id": "4", "method": "GET", "url": "/me/messages/AAMkMissing"},
        {"id": "5", "method": "GET", "url": "/me/mailFolders/inbox", "dependsOn": ["4"]},
        {"id": "6", "method": "GET", "url": format!("/me/messages/{id}/$value")},
    ]})).await;
    assert_eq!(batch.status, StatusCode::OK);
    let responses = batch.body["responses"].as_array().unwrap();
    let part = |id: &str| responses.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(part("2")["status"], 200);
    assert_eq!(part("3")["body"]["isRead"], true, "ran after its dependency");
    assert_eq!(part("4")["status"], 404);
    assert_eq!(part("4")["body"]["error"]["code"], "ErrorItemNotFound");
    assert_eq!(part("5")["status"], 424);
    assert!(part("6")["body"].is_string(), "binary bodies come base64-encoded");
    assert!(part("2")["headers"].is_object());

    let many: Vec<Value> = (0..21).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/me"})).collect();
    let refused = post(&sim, &token, "/$batch", json!({"requests": many})).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let duplicate = post(
        &sim,
        &token,
        "/$batch",
        json!({"requests": [
        {"id": "1", "method": "GET", "url": "/me"}, {"id": "1", "method": "GET", "url": "/me"}]}),
    )
    .await;
    assert_eq!(duplicate.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_request_rate_is_throttled_with_retry_after_until_the_window_moves_on() {
    let sim =
        Sim::start_with(SimConfig { auto_consent: true, graph_requests_per_10_minutes: 5, ..SimConfig::default() })
            .await;
    let token = sim.microsoft_tokens(CARL).await.access;
    for _ in 0..5 {
        assert_eq!(get(&sim, &token, "/me").await.status, StatusCode::OK);
    }
    let throttled = get(&sim, &token, "/me").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_code(&throttled), "ApplicationThrottled");
    let wait: i64 = throttled.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    sim.state().clock().advance(wait);
    assert_eq!(get(&sim, &token, "/me").await.status, StatusCode::OK);
}

#[tokio::test]
async fn requests_over_the_concurrency_limit_are_throttled() {
    let sim = Sim::start_with(SimConfig { auto_consent: true, graph_concurrency: 1, ..SimConfig::default() }).await;
    let token = sim.microsoft_tokens(CARL).await.access;
    // A request whose body is slow to arrive holds the mailbox's only slot meanwhile.
    let addr = sim.running.addr;
    let slow_token = token.clone();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let slow = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let head = format!(
            "POST {API}/me/messages HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {slow_token}\r\n\
             Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).unwrap();
        released.recv().unwrap();
        stream.write_all(b"}").unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).ok();
        answer
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = get(&sim, &token, "/me").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.body["error"]["message"], "Application is over its MailboxConcurrency limit.");
    assert!(refused.headers.contains_key("retry-after"));
    release.send(()).unwrap();
    let answer = tokio::task::spawn_blocking(move || slow.join().unwrap()).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(get(&sim, &token, "/me").await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_missing_and_expired_tokens_get_invalid_authentication_token() {
    let (sim, token) = start().await;
    let bad = get(&sim, "not-a-token", "/me/messages").await;
    assert_eq!((bad.status, error_code(&bad)), (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"));
    let missing = sim.http.get(sim.url(&format!("{API}/me"))).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let google = sim.google_tokens(ANN).await.access;
    assert_eq!(get(&sim, &google, "/me").await.status, StatusCode::UNAUTHORIZED, "a Google token is no Graph token");
    sim.state().clock().advance(3700);
    let expired = get(&sim, &token, "/me").await;
    assert_eq!((expired.status, error_code(&expired)), (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"));
    assert!(expired.body["error"]["innerError"]["client-request-id"].is_string());
}

/// Tokens for Carl with only these scopes, through the real flow.
async fn tokens_with_scope(sim: &Sim, scope: &str) -> String {
    let challenge = Sim::challenge();
    let params = [
        ("client_id", MICROSOFT_CLIENT),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", scope),
        ("login_hint", CARL),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let query = sim.authorize("/microsoft/common/oauth2/v2.0/authorize", &params).await;
    let code = query.into_iter().find(|(k, _)| k == "code").map(|(_, v)| v).unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", MICROSOFT_CLIENT),
        ("client_secret", MICROSOFT_SECRET),
        ("code_verifier", VERIFIER),
    ];
    let response = sim.http.post(sim.url("/microsoft/common/oauth2/v2.0/token")).form(&form).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_token_without_the_needed_permission_is_denied() {
    let sim = Sim::start().await;
    let reader = tokens_with_scope(&sim, "openid User.Read Mail.Read").await;
    assert_eq!(get(&sim, &reader, "/me/messages").await.status, StatusCode::OK);
    let denied =
        post(&sim, &reader, "/me/sendMail", json!({"message": {"toRecipients": [{"emailAddress": {"address": BEN}}]}}))
            .await;
    assert_eq!((denied.status, error_code(&denied)), (StatusCode::FORBIDDEN, "ErrorAccessDenied"));
    let denied = post(&sim, &reader, "/me/mailFolders", json!({"displayName": "x"})).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let profile_only = tokens_with_scope(&sim, "openid User.Read").await;
    assert_eq!(get(&sim, &profile_only, "/me").await.status, StatusCode::OK);
    assert_eq!(get(&sim, &profile_only, "/me/messages").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn replies_can_be_written_as_base64_mime() {
    let (sim, token) = start().await;
    let id = deliver(&sim, "inbox", "MIME question", 2);
    let mime = format!(
        "To: {ANN}\r\nSubject: RE: MIME question\r\nIn-Reply-To: <MIMEquestion@example.test>\r\n\r\nAnswered in MIME.\r\n"
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(mime);
    let draft = post_mime(&sim, &token, &format!("/me/messages/{id}/createReply"), encoded.clone()).await;
    assert_eq!(draft.status, StatusCode::CREATED);
    assert_eq!(
        (draft.body["isDraft"].as_bool(), draft.body["from"]["emailAddress"]["address"].as_str()),
        (Some(true), Some(CARL))
    );
    let sent = post_mime(&sim, &token, &format!("/me/messages/{id}/reply"), encoded).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    assert_eq!(sim.state().world().gmail(ANN).unwrap().message_count(), 1);
}

#[tokio::test]
async fn folder_delta_reports_new_changed_and_removed_folders() {
    let (sim, token) = start().await;
    let first = get(&sim, &token, "/me/mailFolders/delta").await;
    assert_eq!(first.body["value"].as_array().unwrap().len(), 7);
    assert!(first.body.get("@odata.nextLink").is_none());
    let link = first.body["@odata.deltaLink"].as_str().unwrap().to_owned();
    let quiet = get(&sim, &token, &link).await;
    assert_eq!(quiet.body["value"], json!([]), "nothing changed");

    let created = post(&sim, &token, "/me/mailFolders", json!({"displayName": "Travel"})).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    deliver(&sim, "inbox", "counts change", 0);
    let changes = get(&sim, &token, quiet.body["@odata.deltaLink"].as_str().unwrap()).await;
    let names: Vec<&str> =
        changes.body["value"].as_array().unwrap().iter().map(|f| f["displayName"].as_str().unwrap()).collect();
    assert_eq!(names, ["Inbox", "Travel"]);

    send(&sim, &token, "DELETE", &format!("/me/mailFolders/{id}"), None, &[]).await;
    send(&sim, &token, "DELETE", &format!("/me/mailFolders/{id}"), None, &[]).await;
    let removed = get(&sim, &token, changes.body["@odata.deltaLink"].as_str().unwrap()).await;
    let value = removed.body["value"].as_array().unwrap();
    assert!(
        value.contains(
            &json!({"@odata.type": "#microsoft.graph.mailFolder", "id": id, "@removed": {"reason": "deleted"}})
        )
    );

    control(&sim, "expire-delta", json!({})).await;
    let gone = get(&sim, &token, removed.body["@odata.deltaLink"].as_str().unwrap()).await;
    assert_eq!(gone.status, StatusCode::GONE);
}

#[tokio::test]
async fn injected_latency_is_spent_inside_a_concurrency_slot() {
    let sim = Sim::start_with(SimConfig { auto_consent: true, graph_concurrency: 1, ..SimConfig::default() }).await;
    let token = sim.microsoft_tokens(CARL).await.access;
    sim.http.put(sim.url("/_sim/faults")).json(&serde_json::json!({"latency_ms": 400})).send().await.unwrap();
    let (a, b) = tokio::join!(get(&sim, &token, "/me"), get(&sim, &token, "/me"));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
}

// Conformance to the Graph mail OpenAPI document.

fn openapi() -> mailroom_sim::graph::openapi::GraphOpenApi {
    mailroom_sim::graph::openapi::GraphOpenApi::load(&shared_file("reference/graph-mail-openapi.json")).unwrap()
}

#[test]
fn every_route_the_simulator_serves_is_in_the_openapi_document() {
    let doc = openapi();
    let served: Vec<(&str, &str)> = mailroom_sim::graph::served().collect();
    assert!(served.len() > 50, "{served:?}");
    for (method, path) in served {
        assert!(doc.has(method, path), "{method} {path} is not in the document");
        // The same resources under `/users/{user-id}`.
        if let Some(rest) = path.strip_prefix("/me") {
            let path = format!("/users/{{user-id}}{rest}");
            assert!(doc.has(method, &path), "{method} {path} is not in the document");
        }
    }
}

/// A request with immutable ids, as a client that keeps ids asks.
async fn call(sim: &Sim, token: &str, method: &str, path: &str, body: Option<Value>) -> Answer {
    send(sim, token, method, path, body, &[("Prefer", "IdType=\"ImmutableId\"")]).await
}

/// Every route under one message, from `base` (`/me/messages` or a folder's messages).
async fn every_message_route(sim: &Sim, token: &str, base: &str) {
    let delivered = deliver(sim, "inbox", &format!("Routes {}", base.len()), 1);
    let id = call(sim, token, "GET", &format!("/me/messages/{delivered}?$select=id"), None).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let at = |rest: &str| format!("{base}/{id}{rest}");
    let expect = |answer: Answer, status: StatusCode, what: &str| {
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        answer.body
    };
    expect(call(sim, token, "GET", &at("?$select=subject,body,flag"), None).await, StatusCode::OK, "get");
    expect(call(sim, token, "GET", &at("?$expand=attachments"), None).await, StatusCode::OK, "expand");
    expect(call(sim, token, "PATCH", &at(""), Some(json!({"isRead": true}))).await, StatusCode::OK, "patch");
    let mime = sim.http.get(sim.url(&format!("{API}{}", at("/$value")))).bearer_auth(token).send().await.unwrap();
    assert_eq!(mime.status(), StatusCode::OK);
    let file = json!({"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentType": "text/plain",
        "contentBytes": base64::engine::general_purpose::STANDARD.encode("hello")});
    let added = expect(call(sim, token, "POST", &at("/attachments"), Some(file)).await, StatusCode::CREATED, "add");
    let attachment = added["id"].as_str().unwrap();
    expect(call(sim, token, "GET", &at("/attachments"), None).await, StatusCode::OK, "attachments");
    expect(call(sim, token, "GET", &at(&format!("/attachments/{attachment}")), None).await, StatusCode::OK, "one");
    let raw = call(sim, token, "GET", &at(&format!("/attachments/{attachment}/$value")), None).await;
    assert_eq!(raw.status, StatusCode::OK);
    let gone = call(sim, token, "DELETE", &at(&format!("/attachments/{attachment}")), None).await;
    expect(gone, StatusCode::NO_CONTENT, "delete attachment");
    let item = json!({"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": 3_000_000}});
    expect(
        call(sim, token, "POST", &at("/attachments/createUploadSession"), Some(item)).await,
        StatusCode::CREATED,
        "session",
    );
    for verb in ["createReply", "createReplyAll"] {
        expect(
            call(sim, token, "POST", &at(&format!("/{verb}")), Some(json!({"comment": "Soon."}))).await,
            StatusCode::CREATED,
            verb,
        );
    }
    let to = json!([{"emailAddress": {"address": BEN}}]);
    let forward = json!({"comment": "See below.", "toRecipients": to});
    expect(
        call(sim, token, "POST", &at("/createForward"), Some(forward.clone())).await,
        StatusCode::CREATED,
        "createForward",
    );
    for verb in ["reply", "replyAll"] {
        expect(
            call(sim, token, "POST", &at(&format!("/{verb}")), Some(json!({"comment": "Yes."}))).await,
            StatusCode::ACCEPTED,
            verb,
        );
    }
    expect(call(sim, token, "POST", &at("/forward"), Some(forward)).await, StatusCode::ACCEPTED, "forward");
    let draft = call(sim, token, "POST", "/me/messages", Some(json!({"subject": "Out", "toRecipients": to}))).await;
    let draft = draft.body["id"].as_str().unwrap().to_owned();
    let send_draft = call(sim, token, "POST", &format!("{base}/{draft}/send"), None).await;
    expect(send_draft, StatusCode::ACCEPTED, "send");
    let copy = call(sim, token, "POST", &at("/copy"), Some(json!({"destinationId": "archive"}))).await;
    let copy = expect(copy, StatusCode::CREATED, "copy")["id"].as_str().unwrap().to_owned();
    let purge = call(sim, token, "POST", &format!("{base}/{copy}/permanentDelete"), None).await;
    expect(purge, StatusCode::NO_CONTENT, "permanentDelete");
    expect(
        call(sim, token, "POST", &at("/move"), Some(json!({"destinationId": "archive"}))).await,
        StatusCode::CREATED,
        "move",
    );
    expect(call(sim, token, "DELETE", &at(""), None).await, StatusCode::NO_CONTENT, "delete");
}

/// Every route the simulator serves, called once at least, and every request and answer in
/// the log checked against the document: operation, query options, bodies, success status.
#[tokio::test]
async fn every_route_answers_as_the_openapi_document_describes() {
    let doc = openapi();
    let sim = Sim::start_with(SimConfig { auto_consent: true, record_bodies: true, ..SimConfig::default() }).await;
    let token = sim.microsoft_tokens(CARL).await.access;
    sim.state().world().log.clear();
    let ok =
        |answer: &Answer, status: StatusCode, what: &str| assert_eq!(answer.status, status, "{what}: {}", answer.body);
    ok(&call(&sim, &token, "GET", "/me?$select=id,displayName,mail,proxyAddresses", None).await, StatusCode::OK, "me");
    ok(&call(&sim, &token, "GET", "/me/mailFolders?$top=50", None).await, StatusCode::OK, "folders");
    ok(&call(&sim, &token, "GET", "/me/mailFolders/delta", None).await, StatusCode::OK, "folder delta");
    let folder = call(&sim, &token, "POST", "/me/mailFolders", Some(json!({"displayName": "Work"}))).await;
    ok(&folder, StatusCode::CREATED, "create folder");
    let folder = folder.body["id"].as_str().unwrap().to_owned();
    ok(&call(&sim, &token, "GET", &format!("/me/mailFolders/{folder}"), None).await, StatusCode::OK, "folder");
    let renamed =
        call(&sim, &token, "PATCH", &format!("/me/mailFolders/{folder}"), Some(json!({"displayName": "Jobs"}))).await;
    ok(&renamed, StatusCode::OK, "rename");
    let child = call(
        &sim,
        &token,
        "POST",
        &format!("/me/mailFolders/{folder}/childFolders"),
        Some(json!({"displayName": "Old"})),
    )
    .await;
    ok(&child, StatusCode::CREATED, "child");
    ok(
        &call(&sim, &token, "GET", &format!("/me/mailFolders/{folder}/childFolders"), None).await,
        StatusCode::OK,
        "children",
    );
    ok(
        &call(&sim, &token, "DELETE", &format!("/me/mailFolders/{folder}"), None).await,
        StatusCode::NO_CONTENT,
        "delete folder",
    );
    deliver(&sim, "inbox", "Listed", 5);
    deliver(&sim, "inbox", "Listed too", 6);
    let list = "/me/mailFolders/inbox/messages?$select=subject,receivedDateTime&$top=1";
    let listed = call(&sim, &token, "GET", list, None).await;
    ok(&listed, StatusCode::OK, "folder messages");
    let next = listed.body["@odata.nextLink"].as_str().unwrap().to_owned();
    ok(&call(&sim, &token, "GET", &next, None).await, StatusCode::OK, "next page");
    ok(
        &call(&sim, &token, "GET", "/me/messages?$count=true&$filter=isRead eq false", None).await,
        StatusCode::OK,
        "messages",
    );
    let (_, delta) =
        delta_round(&sim, &token, "/me/mailFolders/inbox/messages/delta?$select=subject,changeKey", 1).await;
    ok(&call(&sim, &token, "GET", &delta, None).await, StatusCode::OK, "delta link");
    let draft = json!({"subject": "Plan", "body": {"contentType": "text", "content": "Later."}});
    ok(
        &call(&sim, &token, "POST", "/me/mailFolders/drafts/messages", Some(draft.clone())).await,
        StatusCode::CREATED,
        "folder draft",
    );
    ok(&call(&sim, &token, "POST", "/me/messages", Some(draft)).await, StatusCode::CREATED, "draft");
    let mail = json!({"message": {"subject": "Hi", "toRecipients": [{"emailAddress": {"address": BEN}}]}, "saveToSentItems": true});
    ok(&call(&sim, &token, "POST", "/me/sendMail", Some(mail)).await, StatusCode::ACCEPTED, "sendMail");
    let batch = json!({"requests": [{"id": "1", "method": "GET", "url": "/me/mailFolders/inbox"}]});
    ok(&call(&sim, &token, "POST", "/$batch", Some(batch)).await, StatusCode::OK, "batch");
    every_message_route(&sim, &token, "/me/messages").await;
    every_message_route(&sim, &token, "/me/mailFolders/inbox/messages").await;
    // Errors have Graph's shape too.
    ok(&call(&sim, &token, "GET", "/me/messages/AAkALgAAnone", None).await, StatusCode::NOT_FOUND, "missing");

    let log = sim.state().world().log.clone();
    let api: Vec<_> = log.iter().filter(|e| e.path.starts_with("/microsoft/v1.0/")).collect();
    assert!(api.len() > 60 && api.iter().filter(|e| e.response_body.is_some()).count() > 40, "{}", api.len());
    let errors: Vec<String> = api.iter().flat_map(|e| doc.check(e)).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let hit: std::collections::BTreeSet<(String, String)> = api
        .iter()
        .filter_map(|e| doc.operation(&e.method, e.path.trim_start_matches("/microsoft/v1.0/")))
        .map(|o| (o.method, o.path.to_owned()))
        .collect();
    for (method, path) in mailroom_sim::graph::served() {
        assert!(hit.contains(&(method.to_owned(), path.to_owned())), "{method} {path} was never called");
    }
}
