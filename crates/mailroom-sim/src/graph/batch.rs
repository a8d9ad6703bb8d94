//! JSON batching (concepts/json-batching.md): `POST /$batch` with up to 20 requests, each with
//! a unique `id`, a relative `url`, and optional `dependsOn`. Parts run in dependency order;
//! a part whose dependency failed gets 424. Each part counts against the mailbox's request rate
//! on its own, and a throttled part answers 429 inside the 200 batch.

use std::collections::{HashMap, HashSet};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::api::{self, ApiRequest, Body, Ctx, Reply};
use super::errors::{GraphError, GraphResult};

const MAX_REQUESTS: usize = 20;

struct Part<'a> {
    id: String,
    method: Method,
    url: &'a str,
    headers: HeaderMap,
    body: &'a Value,
    depends_on: Vec<String>,
}

fn parse_part(value: &Value) -> GraphResult<Part<'_>> {
    let invalid = |what: &str| GraphError::bad_request(format!("Invalid batch payload format: {what}."));
    let id = match &value["id"] {
        Value::String(id) => id.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(invalid("every request needs an id")),
    };
    let method = value["method"]
        .as_str()
        .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
        .ok_or_else(|| invalid("every request needs a method"))?;
    let url = value["url"].as_str().ok_or_else(|| invalid("every request needs a url"))?;
    let mut headers = HeaderMap::new();
    for (name, v) in value["headers"].as_object().into_iter().flatten() {
        if let (Ok(name), Some(Ok(v))) =
            (HeaderName::from_bytes(name.as_bytes()), v.as_str().map(HeaderValue::from_str))
        {
            headers.append(name, v);
        }
    }
    if !value["body"].is_null() && headers.get("content-type").is_none() {
        return Err(invalid("a request with a body needs a Content-Type header"));
    }
    let depends_on = match &value["dependsOn"] {
        Value::Null => Vec::new(),
        Value::Array(ids) => {
            ids.iter().map(|d| d.as_str().map(str::to_owned).unwrap_or_else(|| d.to_string())).collect()
        }
        _ => return Err(invalid("dependsOn is a list of ids")),
    };
    Ok(Part { id, method, url, headers, body: &value["body"], depends_on })
}

/// The parts in an order where each comes after what it depends on.
fn order<'a>(parts: &'a [Part<'a>]) -> GraphResult<Vec<&'a Part<'a>>> {
    let ids: HashSet<&str> = parts.iter().map(|p| p.id.as_str()).collect();
    if ids.len() != parts.len() {
        return Err(GraphError::bad_request("Batch request contains duplicate request ids."));
    }
    if parts.iter().flat_map(|p| &p.depends_on).any(|d| !ids.contains(d.as_str())) {
        return Err(GraphError::bad_request("A dependsOn names a request that is not in the batch."));
    }
    let mut done: HashSet<&str> = HashSet::new();
    let mut ordered = Vec::with_capacity(parts.len());
    while ordered.len() < parts.len() {
        let ready: Vec<&Part> = parts
            .iter()
            .filter(|p| !done.contains(p.id.as_str()) && p.depends_on.iter().all(|d| done.contains(d.as_str())))
            .collect();
        if ready.is_empty() {
            return Err(GraphError::bad_request("The dependsOn of the batch requests form a cycle."));
        }
        for part in ready {
            done.insert(&part.id);
            ordered.push(part);
        }
    }
    Ok(ordered)
}

fn run_part(ctx: &Ctx, part: &Part) -> Reply {
    let (path, query) = part.url.split_once('?').map_or((part.url, None), |(p, q)| (p, Some(q)));
    let path = path.trim_start_matches('/');
    let path = path.strip_prefix("v1.0/").unwrap_or(path);
    let body = match part.body {
        Value::Null => Vec::new(),
        // A MIME body travels as its base64 text.
        Value::String(text) => text.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    };
    let request = ApiRequest::new(part.method.clone(), path, query, part.headers.clone(), body);
    let part_ctx = Ctx::new(ctx.state, &ctx.email, &ctx.scopes, &part.headers);
    if path.eq_ignore_ascii_case("$batch") {
        return Reply::error(&GraphError::bad_request("A batch cannot contain a batch."), &request.headers, ctx.now_ms);
    }
    let quotas = ctx.state.quotas();
    let (limit, window) = (quotas.graph_requests_per_10_minutes, quotas.graph_window_ms);
    if let Err(error) = ctx.mailbox(|mailbox| mailbox.sessions.usage.admit_rate(limit, window, ctx.now_ms)) {
        return Reply::error(&error, &request.headers, ctx.now_ms);
    }
    api::respond(&part_ctx, &request)
}

fn part_json(id: &str, reply: Reply) -> Value {
    let mut headers: Map<String, Value> = reply.headers.into_iter().map(|(n, v)| (n, Value::String(v))).collect();
    let body = match reply.body {
        Body::Empty => None,
        Body::Json(value) => {
            headers.insert("Content-Type".to_owned(), json!("application/json"));
            Some(value)
        }
        // Graph returns binary bodies of batch parts base64-encoded.
        Body::Bytes { content_type, bytes } => {
            headers.insert("Content-Type".to_owned(), json!(content_type));
            Some(Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)))
        }
    };
    let mut part = json!({"id": id, "status": reply.status.as_u16(), "headers": headers});
    if let Some(body) = body {
        part["body"] = body;
    }
    part
}

/// `POST /$batch`.
pub fn run(ctx: &Ctx, request: &ApiRequest) -> GraphResult<Reply> {
    let payload = request.json()?;
    let requests = payload["requests"]
        .as_array()
        .ok_or_else(|| GraphError::bad_request("Invalid batch payload format: requests is required."))?;
    if requests.len() > MAX_REQUESTS {
        return Err(GraphError::bad_request(format!(
            "The number of requests in the batch ({}) exceeds the limit of {MAX_REQUESTS}.",
            requests.len()
        )));
    }
    let parts = requests.iter().map(parse_part).collect::<GraphResult<Vec<_>>>()?;
    let mut statuses: HashMap<&str, StatusCode> = HashMap::new();
    let mut responses = Vec::with_capacity(parts.len());
    for part in order(&parts)? {
        let failed = part.depends_on.iter().any(|d| statuses.get(d.as_str()).is_none_or(|s| !s.is_success()));
        let reply = if failed {
            let error = GraphError::new(
                StatusCode::FAILED_DEPENDENCY,
                "FailedDependency",
                "A request this one depends on failed.",
            );
            Reply::error(&error, &part.headers, ctx.now_ms)
        } else {
            run_part(ctx, part)
        };
        statuses.insert(&part.id, reply.status);
        responses.push(part_json(&part.id, reply));
    }
    Ok(Reply::json(StatusCode::OK, json!({"responses": responses})))
}
