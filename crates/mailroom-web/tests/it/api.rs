//! The JSON API's door: who may call it, and the shape of what it answers.

use std::collections::BTreeSet;

use axum::http::{StatusCode, header};
use mailroom_domain::{FolderKind, Role};
use mailroom_store::{IncomingMessage, MessageChange, RemoteFolder};

use serde_json::Value;

use crate::harness::{Backend, Client, Page, TestApp};

crate::on_both_databases!(api:
    a_bearer_token_or_a_session_lets_a_user_in_and_nothing_else_does,
    every_error_is_json_and_unknown_paths_are_not_found,
    folders_come_with_their_counts_and_only_the_callers,
    the_openapi_document_describes_exactly_the_routes_of_the_api_router,
    every_documented_get_answers_as_the_document_says,
    another_users_ids_are_not_found_on_every_documented_route,
    any_cursor_of_the_documented_form_reads_on_from_its_place_and_no_other_is_taken,
);

const PASSWORD: &str = "member password 1";

/// A message `remote_id` in `folders`, read or not.
fn message<'a>(
    remote_id: &'a str,
    folders: &'a [String],
    is_read: bool,
    parsed: &'a mailroom_mime::ParsedMessage,
) -> IncomingMessage<'a> {
    IncomingMessage {
        remote_id,
        thread_remote_id: None,
        received_at: 1,
        is_read,
        is_starred: false,
        is_draft: false,
        folders,
        raw: None,
        parsed,
        parse_failed: false,
        has_attachments: None,
    }
}

fn json(page: &Page) -> serde_json::Value {
    let kind = page.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(kind.starts_with("application/json"), "{kind}: {}", page.body);
    serde_json::from_str(&page.body).unwrap()
}

#[track_caller]
fn assert_unauthorized(page: &Page) {
    page.assert_status(StatusCode::UNAUTHORIZED);
    assert_eq!(page.headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(json(page)["error"]["code"], "unauthorized");
}

fn addresses(page: &Page) -> Vec<String> {
    page.assert_status(StatusCode::OK);
    json(page)["data"].as_array().unwrap().iter().map(|a| a["address"].as_str().unwrap().to_owned()).collect()
}

async fn a_bearer_token_or_a_session_lets_a_user_in_and_nothing_else_does(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (ann, mut browser) = app.member("ann@example.test", PASSWORD).await;
    let ben = app.create_user("ben@example.test", PASSWORD, Role::Member).await;
    app.connected_account(ann.id, "ann@example.test").await;
    app.connected_account(ben.id, "ben@example.test").await;
    let token = app.store.create_api_token(ann.id, "CRM", 1).await.unwrap().unwrap();

    // No credentials, then credentials that are not a token we issued.
    let mut anonymous = app.client();
    assert_unauthorized(&anonymous.get("/api/v1/accounts").await);
    for bad in ["Bearer", "Bearer nonsense", "Basic YW5uOnB3", &format!("Bearer mr_{}", "a".repeat(43))] {
        anonymous.authorization = Some(bad.to_owned());
        assert_unauthorized(&anonymous.get("/api/v1/accounts").await);
    }

    // The token: Ann's mailboxes, never Ben's.
    let mut crm: Client = app.client();
    crm.authorization = Some(format!("Bearer {}", token.expose()));
    let page = crm.get("/api/v1/accounts").await;
    assert_eq!(addresses(&page), ["ann@example.test"]);
    let account = &json(&page)["data"][0];
    assert_eq!((account["provider"].as_str(), account["status"].as_str()), (Some("google"), Some("active")));
    assert!(page.body.find("\"a\"").is_none() && !page.body.contains("token"), "no secret in {}", page.body);

    // The session of a signed-in browser works too; a wrong token next to it does not.
    assert_eq!(addresses(&browser.get("/api/v1/accounts").await), ["ann@example.test"]);
    browser.authorization = Some("Bearer nonsense".to_owned());
    assert_unauthorized(&browser.get("/api/v1/accounts").await);

    // A disabled user's token, and a revoked one, stop working.
    app.store.set_user_disabled(ann.id, true).await.unwrap();
    assert_unauthorized(&crm.get("/api/v1/accounts").await);
    app.store.set_user_disabled(ann.id, false).await.unwrap();
    assert_eq!(addresses(&crm.get("/api/v1/accounts").await), ["ann@example.test"]);
    let id = app.store.api_tokens(ann.id).await.unwrap()[0].id;
    app.store.revoke_api_token(ann.id, id).await.unwrap();
    assert_unauthorized(&crm.get("/api/v1/accounts").await);
}

async fn every_error_is_json_and_unknown_paths_are_not_found(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let token = app.store.create_api_token(ann.id, "CRM", 1).await.unwrap().unwrap();
    let mut crm = app.client();
    crm.authorization = Some(format!("Bearer {}", token.expose()));
    assert!(addresses(&crm.get("/api/v1/accounts").await).is_empty());
    for path in ["/api/v1/nothing", "/api/v1/accounts/1/nothing"] {
        let page = crm.get(path).await;
        page.assert_status(StatusCode::NOT_FOUND);
        assert_eq!(json(&page)["error"]["code"], "not_found", "{path}");
    }
}

async fn folders_come_with_their_counts_and_only_the_callers(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let ben = app.create_user("ben@example.test", PASSWORD, Role::Member).await;
    let account = app.connected_account(ann.id, "ann@example.test").await;
    let bens = app.connected_account(ben.id, "ben@example.test").await;
    let folders: Vec<RemoteFolder> = [
        ("Label_7", "Clients", FolderKind::Custom),
        ("TRASH", "Trash", FolderKind::Trash),
        ("INBOX", "Inbox", FolderKind::Inbox),
    ]
    .into_iter()
    .map(|(id, name, kind)| RemoteFolder { remote_id: id.into(), name: name.into(), kind, parent_remote_id: None })
    .collect();
    let parsed = mailroom_mime::parse(b"From: a@example.org\r\nSubject: Hi\r\n\r\nHello\r\n").into_message();
    let (inbox, both) = (vec!["INBOX".to_owned()], vec!["INBOX".to_owned(), "Label_7".to_owned()]);
    let changes = [
        message("m1", &inbox, false, &parsed),
        message("m2", &both, false, &parsed),
        message("m3", &both, true, &parsed),
    ]
    .map(MessageChange::Upsert);
    app.store.apply_sync(account.id, &folders, &changes, None, 1).await.unwrap();
    app.store.apply_sync(bens.id, &folders, &[], None, 1).await.unwrap();

    let token = app.store.create_api_token(ann.id, "CRM", 1).await.unwrap().unwrap();
    let mut crm = app.client();
    crm.authorization = Some(format!("Bearer {}", token.expose()));
    let page = crm.get("/api/v1/folders").await;
    page.assert_status(StatusCode::OK);
    let listed: Vec<(String, String, i64, i64)> = json(&page)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["account_id"], account.id.0);
            (
                f["name"].as_str().unwrap().to_owned(),
                f["kind"].as_str().unwrap().to_owned(),
                f["total"].as_i64().unwrap(),
                f["unread"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected = [("Inbox", "inbox", 3, 2), ("Trash", "trash", 0, 0), ("Clients", "custom", 2, 1)];
    let expected: Vec<(String, String, i64, i64)> =
        expected.iter().map(|(n, k, t, u)| ((*n).to_owned(), (*k).to_owned(), *t, *u)).collect();
    assert_eq!(listed, expected, "the inbox first, empty folders counted as empty, only Ann's");

    let own = format!("/api/v1/folders?account={}", account.id.0);
    assert_eq!(json(&crm.get(&own).await)["data"].as_array().unwrap().len(), 3);
    let other = format!("/api/v1/folders?account={}", bens.id.0);
    let page = crm.get(&other).await;
    page.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(json(&page)["error"]["code"], "not_found", "another user's account is not found, not forbidden");
    for bad in ["/api/v1/folders?account=abc", &format!("{own}&account={}", account.id.0)] {
        let page = crm.get(bad).await;
        page.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(json(&page)["error"]["code"], "bad_request", "{bad}");
    }
}

const HTTP_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// (METHOD, path) of every `.route("PATH", get(…).post(…))` in the API router's source.
fn routed() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/api.rs");
    let method = regex_lite::Regex::new(r"\b(get|put|post|delete|options|head|patch|trace)\(").unwrap();
    let mut routes = BTreeSet::new();
    for (start, opening) in source.match_indices(".route(\"") {
        let (path, rest) = source[start + opening.len()..].split_once('"').unwrap();
        // The method router runs to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .unwrap()
            .0;
        let methods: Vec<String> = method.captures_iter(&rest[..end]).map(|c| c[1].to_uppercase()).collect();
        assert!(!methods.is_empty(), "no method found for the route {path}");
        routes.extend(methods.into_iter().map(|m| (m, path.to_owned())));
    }
    routes
}

/// (METHOD, path) of every operation the document describes.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|k| HTTP_METHODS.contains(&k.as_str())) {
            operations.insert((method.to_uppercase(), path.clone()));
        }
    }
    operations
}

/// What a `$ref` points to in the document.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(pointer) => {
            let target = pointer.strip_prefix('#').and_then(|p| doc.pointer(p));
            resolve(doc, target.unwrap_or_else(|| panic!("{pointer} points to nothing")))
        }
        None => value,
    }
}

fn all_refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match inner.as_str() {
                    Some(pointer) if key == "$ref" => out.push(pointer),
                    _ => all_refs(inner, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| all_refs(v, out)),
        _ => {}
    }
}

async fn the_openapi_document_describes_exactly_the_routes_of_the_api_router(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    // Served to anyone, as JSON.
    let page = app.client().get("/api/v1/openapi.json").await;
    page.assert_status(StatusCode::OK);
    let doc = json(&page);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);

    let (documented, routed) = (documented(&doc), routed());
    let only_documented: Vec<_> = documented.difference(&routed).collect();
    let only_routed: Vec<_> = routed.difference(&documented).collect();
    assert!(
        only_documented.is_empty() && only_routed.is_empty(),
        "openapi.json and the router in src/api.rs differ:\n  documented but not routed: {only_documented:?}\n  \
         routed but not documented: {only_routed:?}"
    );

    let mut refs = Vec::new();
    all_refs(&doc, &mut refs);
    for pointer in refs {
        resolve(&doc, &serde_json::json!({ "$ref": pointer }));
    }
    for schema in ["Error", "Account", "Folder", "Message", "MessageDetail", "FeedEntry"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "no schema {schema}");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        (schemes["bearer"]["type"].as_str(), schemes["bearer"]["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
    assert_eq!(
        (schemes["session"]["type"].as_str(), schemes["session"]["in"].as_str(), schemes["session"]["name"].as_str()),
        (Some("apiKey"), Some("cookie"), Some("mailroom_session"))
    );

    // Every `{name}` of a path is a path parameter of each of its operations, and nothing else is.
    let template = regex_lite::Regex::new(r"\{(\w+)\}").unwrap();
    for (method, path) in &documented {
        let operation = &doc["paths"][path][method.to_lowercase()];
        let expected: BTreeSet<&str> = template.captures_iter(path).map(|c| c.get(1).unwrap().as_str()).collect();
        let declared: BTreeSet<&str> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(declared, expected, "{method} {path}");
        let success =
            operation["responses"].as_object().is_some_and(|r| r.keys().any(|status| status.starts_with('2')));
        assert!(success, "{method} {path} documents no success");
    }
}

/// Where `value` departs from `schema`: types, enums, required and undocumented properties,
/// array items.
fn departures(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(options) = schema["anyOf"].as_array() {
        let fits = |option: &Value| {
            let mut found = Vec::new();
            departures(doc, option, value, at, &mut found);
            found.is_empty()
        };
        if !options.iter().any(fits) {
            out.push(format!("{at}: {value} fits none of anyOf"));
        }
        return;
    }
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| *t == kind || (*t == "number" && kind == "integer")) {
        out.push(format!("{at}: {kind} where the document says {types:?}"));
        return;
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        out.push(format!("{at}: {value} is not one of {options:?}"));
    }
    if let (Some(object), Some(properties)) = (value.as_object(), schema["properties"].as_object()) {
        for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                out.push(format!("{at}: {name} is missing"));
            }
        }
        for (name, inner) in object {
            match properties.get(name) {
                Some(property) => departures(doc, property, inner, &format!("{at}.{name}"), out),
                None => out.push(format!("{at}: {name} is not documented")),
            }
        }
    }
    if let (Some(items), Some(item)) = (value.as_array(), schema.get("items")) {
        for (i, inner) in items.iter().enumerate() {
            departures(doc, item, inner, &format!("{at}[{i}]"), out);
        }
    }
}

async fn every_documented_get_answers_as_the_document_says(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let doc = json(&app.client().get("/api/v1/openapi.json").await);
    // One mailbox with a folder and a message whose original has not been fetched.
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let account = app.connected_account(ann.id, "ann@example.test").await;
    let inbox = [RemoteFolder {
        remote_id: "INBOX".into(),
        name: "Inbox".into(),
        kind: FolderKind::Inbox,
        parent_remote_id: None,
    }];
    let parsed =
        mailroom_mime::parse(b"From: A <a@example.org>\r\nTo: ann@example.test\r\nSubject: Hi\r\n\r\nHello\r\n")
            .into_message();
    let folders = vec!["INBOX".to_owned()];
    let change = MessageChange::Upsert(message("m1", &folders, false, &parsed));
    app.store.apply_sync(account.id, &inbox, &[change], None, 1).await.unwrap();
    let token = app.store.create_api_token(ann.id, "CRM", 1).await.unwrap().unwrap();
    let mut crm = app.client();
    crm.authorization = Some(format!("Bearer {}", token.expose()));
    let id = json(&crm.get("/api/v1/messages").await)["data"][0]["id"].as_i64().unwrap();
    let tag = serde_json::json!({"name": "Clients", "color": "teal"}).to_string().into_bytes();
    crm.request("POST", "/api/v1/tags", Some(("application/json", tag))).await.assert_status(StatusCode::CREATED);
    // A message scheduled for tomorrow, so that the outbox lists one.
    let send = serde_json::json!({"account_id": account.id.0, "idempotency_key": "k1", "to": ["b@example.org"],
        "subject": "Later", "text": "Hello", "send_at": mailroom_store::now() + 86_400});
    crm.request("POST", "/api/v1/messages/send", Some(("application/json", send.to_string().into_bytes())))
        .await
        .assert_status(StatusCode::ACCEPTED);
    let template = mailroom_domain::Template::new("Welcome", "Welcome, {{name}}", "Hello {{name}}").unwrap();
    app.store.save_template(ann.id, None, &template, 1).await.unwrap();
    let draft = mailroom_store::DraftFields {
        account: account.id,
        from: String::new(),
        to: "b@example.org, not yet an address".to_owned(),
        cc: String::new(),
        bcc: String::new(),
        subject: "Half written".to_owned(),
        body: "Hello".to_owned(),
        html: None,
        mode: "new".to_owned(),
        original: None,
    };
    let saved = app.store.save_draft(ann.id, None, &draft, 1).await.unwrap().unwrap();
    // With a file, so that its files list something when its id is the one filled in.
    let file = ("notes.txt", "text/plain", b"notes".as_slice());
    app.store.add_draft_file(ann.id, saved.id, file, 1 << 20, 1).await.unwrap();

    let gets: Vec<String> =
        documented(&doc).into_iter().filter(|(method, _)| method == "GET").map(|(_, path)| path).collect();
    // A path with its templates filled: the real message, or an id nobody has.
    let fill = |path: &str, id: i64| {
        path.replace("{id}", &id.to_string())
            .replace("{file}", &id.to_string())
            .replace("{position}", "0")
            .replace("{content_id}", "none")
    };
    // (template, path, whether the path names what nobody has)
    let mut requests: Vec<(String, String, bool)> = Vec::new();
    for path in &gets {
        // Suggestions need something typed: the sender's address.
        let filled = match path.as_str() {
            "/addresses" => "/addresses?q=a".to_owned(),
            // Search needs a query: one that finds the message.
            "/search" => "/search?q=in:inbox".to_owned(),
            _ => fill(path, id),
        };
        requests.push((path.clone(), filled, false));
        if path.contains('{') {
            requests.push((path.clone(), fill(path, 0), true));
        }
    }
    // The feed from the start, so that it has an entry to check.
    requests.push(("/changes".to_owned(), "/changes?cursor=".to_owned(), false));
    for (template, path, nobodys) in &requests {
        let page = crm.get(&format!("/api/v1{path}")).await;
        let responses = &doc["paths"][template]["get"]["responses"];
        let documented = resolve(&doc, &responses[page.status.as_str()]);
        assert!(documented.is_object(), "GET {path} answered {}, which is not documented: {}", page.status, page.body);
        if *nobodys {
            page.assert_status(StatusCode::NOT_FOUND);
            assert_eq!(json(&page)["error"]["code"], "not_found", "{path}");
        }
        if !template.contains('{') {
            page.assert_status(StatusCode::OK);
        }
        let Some(schema) = documented["content"].get("application/json").map(|c| &c["schema"]) else { continue };
        let body = json(&page);
        if let Some(data) = body["data"].as_array() {
            assert!(!data.is_empty() || path == "/changes", "{path} lists nothing to check");
        }
        let mut found = Vec::new();
        departures(&doc, schema, &body, path, &mut found);
        assert!(found.is_empty(), "GET {path} departs from the document:\n  {}\n{}", found.join("\n  "), page.body);
    }
    // The real message's answers: the message, no attachment or inline part, an unfetched original.
    let status = |page: Page| page.status;
    assert_eq!(status(crm.get(&format!("/api/v1/messages/{id}")).await), StatusCode::OK);
    assert_eq!(status(crm.get(&format!("/api/v1/messages/{id}/original")).await), StatusCode::CONFLICT);

    // A token that does not work is refused by every route but the document itself, so each
    // documented path reaches a route: the fallback answers 404 to anyone.
    let mut stranger = app.client();
    stranger.authorization = Some("Bearer nonsense".to_owned());
    for (method, path) in documented(&doc) {
        let page = stranger.request(&method, &format!("/api/v1{}", fill(&path, id)), None).await;
        if path == "/openapi.json" {
            page.assert_status(StatusCode::OK);
        } else {
            assert_unauthorized(&page);
        }
    }
}

/// Every route of the document, walked by a second user with the first user's ids: each id-bearing
/// route answers 404 `not_found`, the lists hold none of the first user's mail, and nothing the
/// first user has changes.
async fn another_users_ids_are_not_found_on_every_documented_route(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let doc = json(&app.client().get("/api/v1/openapi.json").await);
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let account = app.connected_account(ann.id, "ann@example.test").await;
    let inbox = [RemoteFolder {
        remote_id: "INBOX".into(),
        name: "Inbox".into(),
        kind: FolderKind::Inbox,
        parent_remote_id: None,
    }];
    let raw = b"From: A <a@example.org>\r\nTo: ann@example.test\r\nSubject: Hi\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nHello\r\n--b\r\nContent-Type: image/png\r\nContent-ID: <logo>\r\nContent-Disposition: attachment; filename=a.png\r\n\r\nPNG\r\n--b--\r\n";
    let parsed = mailroom_mime::parse(raw).into_message();
    let folders = vec!["INBOX".to_owned()];
    let mut upsert = message("m1", &folders, false, &parsed);
    upsert.raw = Some(raw);
    app.store.apply_sync(account.id, &inbox, &[MessageChange::Upsert(upsert)], None, 1).await.unwrap();
    let mut ann_api = app.client();
    ann_api.authorization =
        Some(format!("Bearer {}", app.store.create_api_token(ann.id, "a", 1).await.unwrap().unwrap().expose()));
    let id = json(&ann_api.get("/api/v1/messages").await)["data"][0]["id"].as_i64().unwrap();
    let folder = json(&ann_api.get("/api/v1/folders").await)["data"][0]["id"].as_i64().unwrap();
    let tag = serde_json::json!({"name": "Clients", "color": "teal"}).to_string().into_bytes();
    let tag =
        json(&ann_api.request("POST", "/api/v1/tags", Some(("application/json", tag))).await)["id"].as_i64().unwrap();
    let tagging = serde_json::json!({"ids": [id], "action": "tag", "tag": tag}).to_string().into_bytes();
    ann_api
        .request("POST", "/api/v1/messages/actions", Some(("application/json", tagging)))
        .await
        .assert_status(StatusCode::OK);
    // Ann's own answers, so the walk below is known to name things that exist.
    ann_api.get(&format!("/api/v1/messages/{id}/attachments/0")).await.assert_status(StatusCode::OK);
    ann_api.get(&format!("/api/v1/messages/{id}/cid/logo")).await.assert_status(StatusCode::OK);

    let ben = app.create_user("ben@example.test", PASSWORD, Role::Member).await;
    let mut ben_api = app.client();
    ben_api.authorization =
        Some(format!("Bearer {}", app.store.create_api_token(ben.id, "b", 1).await.unwrap().unwrap().expose()));
    // A message of Ann's waiting to be sent tomorrow.
    let send = serde_json::json!({"account_id": account.id.0, "idempotency_key": "k1", "to": ["b@example.org"],
        "subject": "Later", "text": "Hello", "send_at": mailroom_store::now() + 86_400});
    let submission = json(
        &ann_api
            .request("POST", "/api/v1/messages/send", Some(("application/json", send.to_string().into_bytes())))
            .await,
    )["id"]
        .as_i64()
        .unwrap();
    // And a draft of hers.
    let draft = serde_json::json!({"account_id": account.id.0, "to": ["b@example.org"], "subject": "Draft"});
    let draft = ann_api.request("POST", "/api/v1/drafts", Some(("application/json", draft.to_string().into_bytes())));
    let draft = json(&draft.await)["id"].as_i64().unwrap();
    let file = ("notes.txt", "text/plain", b"notes".as_slice());
    let file = match app.store.add_draft_file(ann.id, draft, file, 1 << 20, 1).await.unwrap() {
        mailroom_store::FileAdded::Added(file) => file.id,
        other => panic!("{other:?}"),
    };
    // Ann's tag, submission or draft where a path names one, else her message.
    let fill = |path: &str| {
        let named = if path.starts_with("/tags/") {
            tag
        } else if path.starts_with("/submissions/") {
            submission
        } else if path.starts_with("/drafts/") {
            draft
        } else {
            id
        };
        path.replace("{id}", &named.to_string())
            .replace("{file}", &file.to_string())
            .replace("{position}", "0")
            .replace("{content_id}", "logo")
    };
    for (method, path) in documented(&doc) {
        let body = match method.as_str() {
            "POST" if path == "/tags" => Some(serde_json::json!({"name": "Ben's", "color": "red"})),
            // From Ann's mailbox, as a reply to her message.
            "POST" if path == "/messages/send" => Some(serde_json::json!({"account_id": account.id.0,
                "idempotency_key": "ben", "to": ["x@example.org"], "text": "Ben's", "in_reply_to": id})),
            // In Ann's mailbox, or over her draft.
            "POST" | "PUT" if path.starts_with("/drafts") => {
                Some(serde_json::json!({"account_id": account.id.0, "subject": "Ben's"}))
            }
            "POST" => Some(serde_json::json!({"ids": [id], "action": "trash"})),
            "PUT" => Some(serde_json::json!({"note": "Ben's"})),
            _ => None,
        }
        .map(|body| ("application/json", body.to_string().into_bytes()));
        let page = ben_api.request(&method, &format!("/api/v1{}", fill(&path)), body).await;
        let answer = json(&page);
        let writes_into_anns =
            ["/messages/actions", "/messages/send"].contains(&path.as_str()) || (method == "POST" && path == "/drafts");
        if path.contains('{') || writes_into_anns {
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{method} {path}: {}", page.body);
            assert_eq!(answer["error"]["code"], "not_found", "{method} {path}");
        } else {
            assert!(
                !page.body.contains("ann@example.test") && !page.body.contains("\"Hi\""),
                "{method} {path} shows Ann's mail: {}",
                page.body
            );
        }
    }
    for query in [
        format!("?account={}", account.id.0),
        format!("?folder={folder}"),
        format!("?label={folder}"),
        format!("?tag={tag}"),
    ] {
        let page = ben_api.get(&format!("/api/v1/messages{query}")).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{query}");
    }
    let page = ben_api.get(&format!("/api/v1/folders?account={}", account.id.0)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    // Another user's account in a cursor is left out, as a mailbox Ben does not have.
    let page = ben_api.get(&format!("/api/v1/changes?cursor={}-0", account.id.0)).await;
    assert_eq!(json(&page), serde_json::json!({"data": [], "next_cursor": "", "more": false}));
    // Nothing of Ann's changed.
    let still = json(&ann_api.get(&format!("/api/v1/messages/{id}")).await);
    assert_eq!(still["message"]["folder_ids"], serde_json::json!([folder]));
    assert_eq!(still["note"], serde_json::Value::Null);
    assert_eq!(still["message"]["tag_ids"], serde_json::json!([tag]));
    assert_eq!(json(&ann_api.get("/api/v1/tags").await)["data"][0]["count"], 1);
    assert_eq!(json(&ann_api.get(&format!("/api/v1/submissions/{submission}")).await)["status"], "pending");
    let drafts = json(&ann_api.get("/api/v1/drafts").await);
    assert_eq!(drafts["data"].as_array().unwrap().len(), 1, "Ben added none to Ann's mailbox");
    assert_eq!(drafts["data"][0]["subject"], "Draft");
    assert!(app.store.submissions(ben.id, None, 10).await.unwrap().is_empty(), "Ben sent nothing");
}

/// A cursor is a place in a list, and the document gives the form of each: any cursor of that
/// form is taken, even one the API never gave (a page from that place on), and anything else is a
/// 400 that changes nothing.
async fn any_cursor_of_the_documented_form_reads_on_from_its_place_and_no_other_is_taken(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let ann = app.create_user("ann@example.test", PASSWORD, Role::Member).await;
    let account = app.connected_account(ann.id, "ann@example.test").await;
    let inbox = [RemoteFolder {
        remote_id: "INBOX".into(),
        name: "Inbox".into(),
        kind: FolderKind::Inbox,
        parent_remote_id: None,
    }];
    let folders = vec!["INBOX".to_owned()];
    let parsed: Vec<_> = (0..3)
        .map(|n| {
            let raw =
                format!("From: A <a@example.org>\r\nTo: ann@example.test\r\nSubject: Report {n}\r\n\r\nHello\r\n");
            mailroom_mime::parse(raw.as_bytes()).into_message()
        })
        .collect();
    let remote: Vec<String> = (0..3).map(|n| format!("m{n}")).collect();
    let changes: Vec<MessageChange> = (0..3)
        .map(|n| {
            let mut upsert = message(&remote[n], &folders, false, &parsed[n]);
            upsert.received_at = 1_000 + i64::try_from(n).unwrap();
            MessageChange::Upsert(upsert)
        })
        .collect();
    app.store.apply_sync(account.id, &inbox, &changes, None, 1).await.unwrap();
    let mut api = app.client();
    api.authorization =
        Some(format!("Bearer {}", app.store.create_api_token(ann.id, "a", 1).await.unwrap().unwrap().expose()));
    for n in 0..2 {
        let send = serde_json::json!({"account_id": account.id.0, "idempotency_key": format!("k{n}"),
            "to": ["b@example.org"], "text": "Hello", "send_at": mailroom_store::now() + 86_400});
        api.request("POST", "/api/v1/messages/send", Some(("application/json", send.to_string().into_bytes())))
            .await
            .assert_status(StatusCode::ACCEPTED);
    }
    let count = |page: &Page, list: &str| {
        page.assert_status(StatusCode::OK);
        json(page)[list].as_array().unwrap().len()
    };

    // Places after every item, before every item, and in between, none of them given by the API.
    let eighteen = "9".repeat(18);
    for (cursor, listed) in [(format!("{eighteen}.{eighteen}"), 3), ("-1.0".to_owned(), 0), ("1001.0".to_owned(), 1)] {
        let page = api.get(&format!("/api/v1/messages?cursor={cursor}")).await;
        assert_eq!(count(&page, "data"), listed, "messages after {cursor}");
    }
    for (cursor, listed) in [(format!("1.{eighteen}.{eighteen}"), 3), (format!("2.{eighteen}.0"), 0)] {
        let page = api.get(&format!("/api/v1/search?q=in:inbox&cursor={cursor}")).await;
        assert_eq!(count(&page, "conversations"), listed, "results after {cursor}");
    }
    for (cursor, listed) in [(eighteen.clone(), 2), ("0".to_owned(), 0)] {
        let page = api.get(&format!("/api/v1/submissions?cursor={cursor}")).await;
        assert_eq!(count(&page, "data"), listed, "submissions after {cursor}");
    }

    // Signs, spaces, other separators and numbers past 18 digits are refused.
    let nineteen = "1".repeat(19);
    let (long_id, long_search) = (format!("1.{nineteen}"), format!("1.1.{nineteen}"));
    let refused = [
        ("messages?cursor=", vec!["", "1", "1.", ".1", "+1.1", "1.-1", "1.1.1", " 1.1", "1,1", &long_id]),
        ("search?q=in:inbox&cursor=", vec!["", "0.1.1", "3.1.1", "1.1", "01.1.1", "1.+1.1", &long_search]),
        ("submissions?cursor=", vec!["", "-1", "+1", "1.5", " 1", &nineteen]),
    ];
    for (path, cursors) in refused {
        for cursor in cursors {
            let encoded: String = url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
            let page = api.get(&format!("/api/v1/{path}{encoded}")).await;
            page.assert_status(StatusCode::BAD_REQUEST);
            assert_eq!(json(&page)["error"]["code"], "bad_request", "{path}{cursor}");
        }
    }
    assert_eq!(count(&api.get("/api/v1/messages").await, "data"), 3, "nothing changed");
}
