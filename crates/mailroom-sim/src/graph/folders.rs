//! `/me` and the mail folder tree: listing, getting (by id or well-known name), creating, and
//! the folder hierarchy delta.

use axum::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::api::{ApiRequest, Ctx, Reply};
use super::errors::{GraphError, GraphResult};
use super::mailbox::{FOLDER_ID, Folder, Mailbox};
use super::{delta, odata};

/// A user's object id: a GUID derived from the address, stable across runs.
pub fn user_id(email: &str) -> String {
    let d = Sha256::digest(email.to_lowercase().as_bytes());
    let h: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

/// `GET /me`: the default user properties; `proxyAddresses` and others only when `$select`ed,
/// as Graph does.
pub fn me(ctx: &Ctx, request: &ApiRequest) -> GraphResult<Reply> {
    let name = ctx.mailbox(|m| Ok(m.name.clone()))?;
    let email = ctx.email.clone();
    let (given, surname) = name.split_once(' ').map_or((name.as_str(), ""), |(g, s)| (g, s));
    // Tenant mailboxes also answer at the tenant's `mail.onmicrosoft.com` routing domain.
    let mut proxies = vec![format!("SMTP:{email}")];
    if let Some((local, domain)) = email.split_once('@')
        && let Some(tenant) = domain.strip_suffix(".onmicrosoft.com")
        && !tenant.ends_with(".mail")
    {
        proxies.push(format!("smtp:{local}@{tenant}.mail.onmicrosoft.com"));
    }
    let all = json!({
        "businessPhones": [],
        "displayName": name,
        "givenName": given,
        "jobTitle": null,
        "mail": email,
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": "en-US",
        "surname": surname,
        "userPrincipalName": email,
        "id": user_id(&email),
        "proxyAddresses": proxies,
        "otherMails": [],
    });
    let Value::Object(mut object) = all else { return Err(GraphError::not_found()) };
    let select = odata::parse_select(request);
    let context = match &select {
        Some(fields) => format!("{}/$metadata#users({})/$entity", ctx.api_base(), fields.join(",")),
        None => {
            object.remove("proxyAddresses");
            object.remove("otherMails");
            format!("{}/$metadata#users/$entity", ctx.api_base())
        }
    };
    object.insert("@odata.context".to_owned(), Value::String(context));
    Ok(Reply::json(StatusCode::OK, odata::apply_select(object, select.as_deref())))
}

fn render(mailbox: &Mailbox, folder: &Folder) -> serde_json::Map<String, Value> {
    let in_folder = || mailbox.messages.iter().filter(|m| m.folder_id == folder.id);
    let value = json!({
        "id": folder.id,
        "displayName": folder.display_name,
        "parentFolderId": folder.parent_id,
        "childFolderCount": mailbox.folders.iter().filter(|f| f.parent_id == folder.id).count(),
        "unreadItemCount": in_folder().filter(|m| !m.is_read).count(),
        "totalItemCount": in_folder().count(),
        "isHidden": folder.hidden,
    });
    match value {
        Value::Object(object) => object,
        _ => serde_json::Map::new(),
    }
}

fn resolve(mailbox: &Mailbox, id: &str) -> GraphResult<String> {
    mailbox.folder_id(id).ok_or_else(GraphError::not_found)
}

/// `GET /me/mailFolders` (the folders under the root) or `…/{id}/childFolders`.
pub fn list(ctx: &Ctx, request: &ApiRequest, parent: Option<&str>) -> GraphResult<Reply> {
    let top = odata::parse_top(request)?.unwrap_or(odata::DEFAULT_PAGE);
    let skip: usize = request.param("$skip").and_then(|s| s.parse().ok()).unwrap_or(0);
    let select = odata::parse_select(request);
    let (parent_id, page, total) = ctx.mailbox(|mailbox| {
        let parent_id = resolve(mailbox, parent.unwrap_or("msgfolderroot"))?;
        let children: Vec<&Folder> = mailbox.folders.iter().filter(|f| f.parent_id == parent_id).collect();
        let page: Vec<Value> = children
            .iter()
            .skip(skip)
            .take(top)
            .map(|f| odata::apply_select(render(mailbox, f), select.as_deref()))
            .collect();
        Ok((parent_id, page, children.len()))
    })?;
    let context = match parent {
        None => ctx.user_context("mailFolders"),
        Some(_) => ctx.user_context(&format!("mailFolders('{parent_id}')/childFolders")),
    };
    let mut body = json!({"@odata.context": context, "value": page});
    if skip + top < total {
        body["@odata.nextLink"] = Value::String(next_link(ctx, request, skip + top));
    }
    Ok(Reply::json(StatusCode::OK, body))
}

/// The same request with `$skip` moved on, as an absolute URL.
pub fn next_link(ctx: &Ctx, request: &ApiRequest, skip: usize) -> String {
    let mut url = format!("{}/{}", ctx.api_base(), request.path);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in request.query.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("$skip")) {
        query.append_pair(key, value);
    }
    query.append_pair("$skip", &skip.to_string());
    url.push('?');
    url.push_str(&query.finish());
    url
}

pub fn get(ctx: &Ctx, request: &ApiRequest, id: &str) -> GraphResult<Reply> {
    let select = odata::parse_select(request);
    let mut object = ctx.mailbox(|mailbox| {
        let id = resolve(mailbox, id)?;
        let folder = mailbox.folder(&id).ok_or_else(GraphError::not_found)?;
        Ok(render(mailbox, folder))
    })?;
    object.insert("@odata.context".to_owned(), Value::String(ctx.user_context("mailFolders/$entity")));
    Ok(Reply::json(StatusCode::OK, odata::apply_select(object, select.as_deref())))
}

/// `POST /me/mailFolders` or `…/{id}/childFolders` with `{"displayName", "isHidden"?}`.
pub fn create(ctx: &Ctx, request: &ApiRequest, parent: Option<&str>) -> GraphResult<Reply> {
    let body = request.json()?;
    let name = body["displayName"]
        .as_str()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| GraphError::invalid_request("The displayName property is required."))?;
    let hidden = body["isHidden"].as_bool().unwrap_or(false);
    let mut object = ctx.mailbox(|mailbox| {
        let parent_id = resolve(mailbox, parent.unwrap_or("msgfolderroot"))?;
        if mailbox.folders.iter().any(|f| f.parent_id == parent_id && f.display_name.eq_ignore_ascii_case(name)) {
            return Err(GraphError::new(
                StatusCode::CONFLICT,
                "ErrorFolderExists",
                "A folder with the specified name already exists.",
            ));
        }
        let id = mailbox.mint(FOLDER_ID);
        let folder = Folder { id, display_name: name.to_owned(), parent_id, well_known: None, hidden };
        let object = render(mailbox, &folder);
        mailbox.folders.push(folder);
        Ok(object)
    })?;
    object.insert("@odata.context".to_owned(), Value::String(ctx.user_context("mailFolders/$entity")));
    Ok(Reply::json(StatusCode::CREATED, Value::Object(object)))
}

/// The folder tree as a delta token remembers it: each folder's JSON, when it was issued.
#[derive(Debug)]
pub struct FolderSnapshot {
    folders: Vec<(String, Value)>,
    issued_ms: i64,
}

/// `GET /me/mailFolders/delta`: every folder the first time, then the folders that were
/// created, renamed, moved or whose counts changed, and `@removed` for deleted ones. One page per
/// round: a mailbox has few folders. The token keeps a snapshot of the tree to compare with.
pub fn delta(ctx: &Ctx, request: &ApiRequest) -> GraphResult<Reply> {
    let retention_ms = i64::try_from(ctx.state.config().graph_delta_retention.as_millis()).unwrap_or(i64::MAX);
    let (values, token) = ctx.mailbox(|mailbox| {
        let expired = || delta::expired(mailbox.sessions.expired_answer);
        let previous = match request.param("$deltatoken") {
            None => Vec::new(),
            Some(token) => {
                let snapshot = mailbox.sessions.folder_snapshots.get(token).ok_or_else(expired)?;
                if ctx.now_ms - snapshot.issued_ms > retention_ms {
                    return Err(expired());
                }
                snapshot.folders.clone()
            }
        };
        let root = mailbox.well_known_id("msgfolderroot");
        let now: Vec<(String, Value)> = mailbox
            .folders
            .iter()
            .filter(|f| f.id != root)
            .map(|f| (f.id.clone(), Value::Object(render(mailbox, f))))
            .collect();
        let mut values: Vec<Value> =
            now.iter().filter(|entry| !previous.contains(entry)).map(|(_, v)| v.clone()).collect();
        for (id, _) in previous.iter().filter(|(id, _)| !now.iter().any(|(n, _)| n == id)) {
            values.push(
                json!({"@odata.type": "#microsoft.graph.mailFolder", "id": id, "@removed": {"reason": "deleted"}}),
            );
        }
        let token = mailbox.mint("");
        mailbox.sessions.folder_snapshots.insert(token.clone(), FolderSnapshot { folders: now, issued_ms: ctx.now_ms });
        Ok((values, token))
    })?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({
            "@odata.context": format!("{}/$metadata#Collection(mailFolder)", ctx.api_base()),
            "value": values,
            "@odata.deltaLink": format!("{}/me/mailFolders/delta?$deltatoken={token}", ctx.api_base()),
        }),
    ))
}

/// `PATCH /me/mailFolders/{id}` with `{"displayName"}`: 200 and the folder.
pub fn update(ctx: &Ctx, request: &ApiRequest, id: &str) -> GraphResult<Reply> {
    let body = request.json()?;
    let name = body["displayName"].as_str().map(str::trim).filter(|n| !n.is_empty());
    let mut object = ctx.mailbox(|mailbox| {
        let id = resolve(mailbox, id)?;
        let position = mailbox.folders.iter().position(|f| f.id == id).ok_or_else(GraphError::not_found)?;
        if let Some(name) = name {
            mailbox.folders[position].display_name = name.to_owned();
        }
        Ok(render(mailbox, &mailbox.folders[position]))
    })?;
    object.insert("@odata.context".to_owned(), Value::String(ctx.user_context("mailFolders/$entity")));
    Ok(Reply::json(StatusCode::OK, Value::Object(object)))
}

/// `DELETE /me/mailFolders/{id}`: as in Outlook, the folder moves under Deleted Items, and is
/// removed for good (with its messages and subfolders) when it is already there. Well-known
/// folders cannot be deleted.
pub fn delete(ctx: &Ctx, id: &str) -> GraphResult<Reply> {
    ctx.mailbox(|mailbox| {
        let id = resolve(mailbox, id)?;
        if mailbox.folder(&id).is_some_and(|f| f.well_known.is_some()) {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorDeleteDistinguishedFolder",
                "Distinguished folders cannot be deleted.",
            ));
        }
        let trash = mailbox.well_known_id("deleteditems");
        if !is_under(mailbox, &id, &trash) {
            if let Some(folder) = mailbox.folders.iter_mut().find(|f| f.id == id) {
                folder.parent_id = trash;
            }
            return Ok(());
        }
        let doomed: Vec<String> =
            mailbox.folders.iter().filter(|f| is_under(mailbox, &f.id, &id)).map(|f| f.id.clone()).collect();
        while let Some(index) = mailbox.messages.iter().position(|m| m.folder_id == id || doomed.contains(&m.folder_id))
        {
            mailbox.remove(index);
        }
        mailbox.folders.retain(|f| f.id != id && !doomed.contains(&f.id));
        Ok(())
    })?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

/// Whether `folder` lies somewhere below `ancestor`.
fn is_under(mailbox: &Mailbox, folder: &str, ancestor: &str) -> bool {
    let mut current = mailbox.folder(folder).map(|f| f.parent_id.as_str());
    while let Some(parent) = current {
        if parent == ancestor {
            return true;
        }
        current = mailbox.folder(parent).map(|f| f.parent_id.as_str());
    }
    false
}
