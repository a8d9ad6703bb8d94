//! The Graph mail subset of Microsoft's OpenAPI description (`shared/reference/
//! graph-mail-openapi.json`, from msgraph-metadata) as a checker of recorded requests: which
//! operation a method and path are, whether the query options are the operation's, whether the
//! request and answer bodies fit the document's schemas, and whether a success has the
//! documented status. The simulator's own conformance test and the client's tests both read
//! the simulator's request log through it (with [`crate::SimConfig::record_bodies`] on), as the
//! Gmail side is checked against Google's discovery document.
//!
//! The document is Microsoft's, extended by its converter with `x-kind` (what an operation
//! takes and gives: `entity:message`, `collection:mailFolder`, `action:message:move`, …),
//! `x-query` (the query options its page documents) and `x-doc-success` (the success status).
//! Schemas are checked by hand, property name by property name, with types, formats and enums:
//! no JSON-schema crate is in the workspace, and OData's annotations (`@odata.type`,
//! `@removed`, …) and case-insensitive action parameters need rules of their own anyway.

use base64::Engine as _;
use serde_json::Value;

use crate::LogEntry;

/// Where the simulator serves Graph v1.0.
const API_PREFIX: &str = "/microsoft/v1.0/";

/// The OpenAPI document.
pub struct GraphOpenApi {
    doc: Value,
}

/// One operation of the document.
#[derive(Debug, Clone)]
pub struct Operation<'a> {
    /// The path as the document writes it (`/me/messages/{message-id}`).
    pub path: &'a str,
    pub method: String,
    pub spec: &'a Value,
}

impl Operation<'_> {
    /// What the operation takes and gives (`entity:message`, `action:message:move`, …).
    pub fn kind(&self) -> &str {
        self.spec["x-kind"].as_str().unwrap_or("none")
    }
}

fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let segment: String = url::form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        // An OData key, `mailFolders('inbox')`, is the segment then its key.
        match segment.split_once('(') {
            Some((name, key)) if key.ends_with(')') && key.len() > 1 => {
                out.push(name.to_owned());
                out.push(key.trim_end_matches(')').trim_matches('\'').to_owned());
            }
            _ => out.push(segment),
        }
    }
    out
}

/// How well a request's segments fit a template: `None` when they do not, else the number of
/// literal segments (the more, the better the fit: `messages/delta()` over `messages/{id}`).
fn fit(template: &str, request: &[String]) -> Option<usize> {
    let template: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    if template.len() != request.len() {
        return None;
    }
    let mut literals = 0;
    for (t, r) in template.iter().zip(request) {
        if t.starts_with('{') && t.ends_with('}') {
            continue;
        }
        let bare = t.strip_suffix("()").unwrap_or(t);
        if !(t.eq_ignore_ascii_case(r) || bare.eq_ignore_ascii_case(r)) {
            return None;
        }
        literals += 1;
    }
    Some(literals)
}

impl GraphOpenApi {
    pub fn new(doc: Value) -> GraphOpenApi {
        GraphOpenApi { doc }
    }

    pub fn load(path: &std::path::Path) -> Result<GraphOpenApi, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map(GraphOpenApi::new).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The document's operation for `method` and `path` (the path after `/v1.0`, with OData keys
    /// and `delta` or `delta()` as a client writes them).
    pub fn operation(&self, method: &str, path: &str) -> Option<Operation<'_>> {
        let request = segments(path);
        let method = method.to_ascii_lowercase();
        let paths = self.doc["paths"].as_object()?;
        let (path, item) = paths
            .iter()
            .filter(|(_, item)| item.get(&method).is_some())
            .filter_map(|(template, item)| fit(template, &request).map(|score| (score, template, item)))
            .max_by_key(|(score, _, _)| *score)
            .map(|(_, template, item)| (template, item))?;
        Some(Operation { path, method: method.to_ascii_uppercase(), spec: &item[&method] })
    }

    /// Whether the document has this operation, written as it writes its paths.
    pub fn has(&self, method: &str, path: &str) -> bool {
        self.doc["paths"][path].get(method.to_ascii_lowercase()).is_some()
    }

    /// A schema of `components.schemas`, by its full name (`microsoft.graph.message`).
    pub fn schema(&self, name: &str) -> Option<&Value> {
        self.doc["components"]["schemas"].get(name)
    }

    /// What is wrong with one logged Graph request and its answer, if anything: the operation,
    /// its query options, the request body, the status of a success and the answer's body.
    /// Requests outside the Graph API (the upload URL, OAuth, Gmail) have nothing to check.
    pub fn check(&self, entry: &LogEntry) -> Vec<String> {
        let Some(path) = entry.path.strip_prefix(API_PREFIX) else { return Vec::new() };
        let at = format!("{} /{path}", entry.method);
        let Some(operation) = self.operation(&entry.method, path) else {
            return vec![format!("{at}: no such operation in the document")];
        };
        let mut errors = Vec::new();
        let allowed: Vec<&str> =
            operation.spec["x-query"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        for (name, _) in url::form_urlencoded::parse(entry.query.as_deref().unwrap_or_default().as_bytes()) {
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&name)) {
                errors.push(format!("{at}: query option {name} is not documented for {}", operation.path));
            }
        }
        if let Some(body) = &entry.request_body {
            self.check_request_body(&operation, body, &at, &mut errors);
        }
        match entry.status {
            200..=299 => {
                let documented = operation.spec["x-doc-success"].as_u64();
                if documented.is_some_and(|d| d != u64::from(entry.status)) {
                    errors.push(format!("{at}: answered {} where the document says {documented:?}", entry.status));
                }
                if let Some(body) = &entry.response_body {
                    self.check_answer(&operation, body, &at, &mut errors);
                }
            }
            _ => {
                if let Some(body) = &entry.response_body {
                    check_error(body, &at, &mut errors);
                }
            }
        }
        errors
    }

    /// The action named by an `action:…` kind: `message:move`, or a collection's
    /// (`collection:attachment:createUploadSession`).
    fn action(&self, kind: &str) -> Option<&Value> {
        let name = kind.strip_prefix("action:")?;
        let actions = &self.doc["components"]["x-actions"];
        actions.get(name).or_else(|| actions.get(format!("collection:{name}")))
    }

    fn check_request_body(&self, operation: &Operation<'_>, body: &Value, at: &str, errors: &mut Vec<String>) {
        let kind = operation.kind();
        if let Some(action) = self.action(kind) {
            let parameters = action["parameters"].as_object();
            let Some(given) = body.as_object() else {
                return errors.push(format!("{at}: the body is not an object"));
            };
            // OData action parameters are written PascalCase in the metadata and camelCase in
            // the pages; Graph takes either.
            let find = |name: &str| parameters.and_then(|p| p.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)));
            for (name, value) in given {
                match find(name) {
                    Some((_, schema)) => self.validate(schema, value, &format!("{at} body.{name}"), errors),
                    None => errors.push(format!("{at}: {name} is not a parameter of {kind}")),
                }
            }
            for required in action["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !given.keys().any(|k| k.eq_ignore_ascii_case(required)) {
                    errors.push(format!("{at}: the required parameter {required} is missing"));
                }
            }
            return;
        }
        let entity = kind.strip_prefix("create:").or_else(|| kind.strip_prefix("update:"));
        if let Some(entity) = entity {
            let schema = serde_json::json!({"$ref": format!("#/components/schemas/microsoft.graph.{entity}")});
            self.validate(&schema, body, &format!("{at} body"), errors);
        }
    }

    fn check_answer(&self, operation: &Operation<'_>, body: &Value, at: &str, errors: &mut Vec<String>) {
        let kind = operation.kind();
        // A batch's parts are requests of their own, answered inside it.
        if kind == "batch" {
            return;
        }
        let returns = match self.action(kind) {
            Some(action) => action["returns"].as_str().map(str::to_owned),
            None => match kind.split_once(':') {
                Some(("entity" | "create" | "update", entity)) => Some(format!("graph.{entity}")),
                Some(("collection" | "delta", entity)) => Some(format!("Collection(graph.{entity})")),
                _ => None,
            },
        };
        let Some(returns) = returns else {
            return errors.push(format!("{at}: {kind} answers without a body, yet it had one"));
        };
        let reference = |name: &str| serde_json::json!({"$ref": format!("#/components/schemas/microsoft.{name}")});
        match returns.strip_prefix("Collection(").and_then(|r| r.strip_suffix(')')) {
            Some(item) => {
                let Some(object) = body.as_object() else {
                    return errors.push(format!("{at}: a collection answer is not an object"));
                };
                for (key, value) in object {
                    match key.as_str() {
                        "value" => {
                            let items = serde_json::json!({"type": "array", "items": reference(item)});
                            self.validate(&items, value, &format!("{at} value"), errors);
                        }
                        "@odata.context" | "@odata.nextLink" | "@odata.deltaLink" | "@odata.count" => {}
                        other => errors.push(format!("{at}: unknown property {other} of a collection")),
                    }
                }
            }
            None => self.validate(&reference(&returns), body, &format!("{at} answer"), errors),
        }
    }

    /// Checks `value` against `schema`; unknown properties are errors, OData annotations (names
    /// with `@`) are not, and a `$ref` the subset leaves out is taken as it is.
    pub fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        if let Some(reference) = schema["$ref"].as_str() {
            if value.is_null() && schema["nullable"] == true {
                return;
            }
            let name = reference.trim_start_matches("#/components/schemas/");
            let Some(mut target) = self.schema(name) else { return };
            // An entity of a derived type says so, as a fileAttachment of an attachment does.
            if let Some(derived) = value["@odata.type"].as_str().map(|t| t.trim_start_matches('#'))
                && derived != name
            {
                match self.schema(derived) {
                    Some(schema) => target = schema,
                    None => errors.push(format!("{at}: unknown @odata.type {derived}")),
                }
            }
            return self.validate(target, value, at, errors);
        }
        if value.is_null() {
            if schema["nullable"] != true && !schema.as_object().is_some_and(serde_json::Map::is_empty) {
                errors.push(format!("{at}: null where the document allows none"));
            }
            return;
        }
        let mut fail = |what: &str| errors.push(format!("{at}: {what} in {}", short(value)));
        match schema["type"].as_str() {
            Some("string") => {
                let Some(text) = value.as_str() else { return fail("not a string") };
                match schema["format"].as_str() {
                    Some("date-time") if chrono::DateTime::parse_from_rfc3339(text).is_err() => {
                        fail("not an ISO 8601 date-time");
                    }
                    Some("base64") if base64::engine::general_purpose::STANDARD.decode(text).is_err() => {
                        fail("not base64");
                    }
                    _ => {}
                }
                if let Some(allowed) = schema["enum"].as_array()
                    && !allowed.iter().any(|a| a.as_str().is_some_and(|a| a.eq_ignore_ascii_case(text)))
                {
                    fail("not one of the enum values");
                }
            }
            Some("integer") if !(value.is_i64() || value.is_u64()) => fail("not an integer"),
            Some("number") if !value.is_number() => fail("not a number"),
            Some("boolean") if !value.is_boolean() => fail("not a boolean"),
            Some("array") => match value.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.validate(&schema["items"], item, &format!("{at}[{i}]"), errors);
                    }
                }
                None => fail("not an array"),
            },
            Some("object") => {
                let Some(object) = value.as_object() else { return fail("not an object") };
                for (key, item) in object {
                    if key.contains('@') {
                        continue;
                    }
                    match schema["properties"].get(key) {
                        Some(property) => self.validate(property, item, &format!("{at}.{key}"), errors),
                        None => errors.push(format!("{at}: unknown property {key}")),
                    }
                }
            }
            _ => {}
        }
    }
}

/// Graph's error shape (concepts/errors.md): `{"error":{"code","message","innerError"}}`.
fn check_error(body: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(error) = body.as_object().filter(|b| b.len() == 1).and_then(|b| b.get("error")) else {
        return errors.push(format!("{at}: an error answer is not {{\"error\": …}}: {}", short(body)));
    };
    let Some(fields) = error.as_object() else { return errors.push(format!("{at}: the error is not an object")) };
    for (key, value) in fields {
        match key.as_str() {
            "code" | "message" if value.is_string() => {}
            "innerError" | "innererror" | "details" | "target" => {}
            other => errors.push(format!("{at}: unknown error property {other}")),
        }
    }
    if !fields.contains_key("code") || !fields.contains_key("message") {
        errors.push(format!("{at}: an error needs a code and a message"));
    }
}

/// A value cut short for an error message: attachments carry megabytes.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> GraphOpenApi {
        GraphOpenApi::new(serde_json::json!({
            "paths": {
                "/me/messages/{message-id}": {"get": {"x-kind": "entity:message", "x-query": ["$select"], "x-doc-success": 200}},
                "/me/messages/delta()": {"get": {"x-kind": "delta:message", "x-query": ["$deltatoken"], "x-doc-success": 200}},
                "/me/messages/{message-id}/move": {"post": {"x-kind": "action:message:move", "x-query": [], "x-doc-success": 201}},
            },
            "components": {
                "schemas": {"microsoft.graph.message": {"type": "object", "properties": {
                    "id": {"type": "string"}, "isRead": {"type": "boolean", "nullable": true},
                    "createdDateTime": {"type": "string", "format": "date-time", "nullable": true}}}},
                "x-actions": {"message:move": {"parameters": {"DestinationId": {"type": "string"}},
                    "required": ["DestinationId"], "returns": "graph.message"}},
            },
        }))
    }

    fn entry(
        method: &str,
        path: &str,
        query: Option<&str>,
        status: u16,
        request: Option<Value>,
        answer: Option<Value>,
    ) -> LogEntry {
        LogEntry {
            at_ms: 0,
            method: method.to_owned(),
            path: format!("{API_PREFIX}{path}"),
            query: query.map(str::to_owned),
            prefer: None,
            status,
            units: 0,
            user: None,
            parts: Vec::new(),
            request_body: request,
            response_body: answer,
        }
    }

    #[test]
    fn literal_segments_win_and_keys_and_delta_are_read_as_graph_takes_them() {
        let doc = doc();
        assert_eq!(doc.operation("GET", "me/messages/delta").map(|o| o.path), Some("/me/messages/delta()"));
        assert_eq!(doc.operation("GET", "me/messages('AAk%3D')").map(|o| o.path), Some("/me/messages/{message-id}"));
        assert!(doc.operation("DELETE", "me/messages/x").is_none());
    }

    #[test]
    fn what_departs_from_the_document_is_reported() {
        let doc = doc();
        let good = entry(
            "POST",
            "me/messages/m/move",
            None,
            201,
            Some(serde_json::json!({"destinationId": "inbox"})),
            Some(serde_json::json!({"@odata.context": "x", "id": "m", "isRead": null})),
        );
        assert_eq!(doc.check(&good), Vec::<String>::new());
        let bad = entry(
            "POST",
            "me/messages/m/move",
            Some("$top=1"),
            200,
            Some(serde_json::json!({"folder": "inbox"})),
            Some(serde_json::json!({"id": 1, "size": 3, "createdDateTime": "yesterday"})),
        );
        let errors = doc.check(&bad);
        for expected in [
            "query option $top",
            "folder is not a parameter",
            "required parameter DestinationId",
            "answered 200",
            "answer.id: not a string",
            "unknown property size",
            "not an ISO 8601",
        ] {
            assert!(errors.iter().any(|e| e.contains(expected)), "{expected} not in {errors:#?}");
        }
        let error = entry("GET", "me/messages/m", None, 404, None, Some(serde_json::json!({"error": {"code": "x"}})));
        assert!(doc.check(&error).iter().any(|e| e.contains("needs a code and a message")));
        let unknown = entry("GET", "me/contacts", None, 200, None, None);
        assert!(doc.check(&unknown)[0].contains("no such operation"));
    }
}
