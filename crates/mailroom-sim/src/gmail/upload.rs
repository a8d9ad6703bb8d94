//! Media uploads under `/upload/gmail/v1/…`, the discovery document's `simple` protocol: the
//! message itself as the body (`uploadType=media`), or a `multipart/related` body of JSON
//! metadata then the message (`uploadType=multipart`). Either becomes the JSON body the method
//! takes, with the message as `raw`, so handlers see one shape. Resumable uploads are not
//! emulated.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::errors::ApiError;
use super::methods::Params;
use super::{multipart, payload};

/// The JSON body equivalent to an upload. `draft`: the metadata is a `Draft`, whose `message`
/// gets the `raw`.
pub fn as_json(params: &Params, headers: &HeaderMap, body: &[u8], draft: bool) -> Result<Vec<u8>, ApiError> {
    let (mut metadata, message) = match params.get("uploadType") {
        Some("media") => (json!({}), body),
        Some("multipart") => {
            let boundary = multipart::boundary(headers, "multipart/related")
                .ok_or_else(|| ApiError::invalid_argument("A multipart upload must be multipart/related"))?;
            let parts = multipart::parts(body, &boundary);
            let [first, second] = parts.as_slice() else {
                return Err(ApiError::invalid_argument("A multipart upload has a metadata part and a media part"));
            };
            let metadata = multipart::split_head(first).1;
            let metadata: Value = if metadata.iter().all(u8::is_ascii_whitespace) {
                json!({})
            } else {
                serde_json::from_slice(metadata)
                    .map_err(|e| ApiError::invalid_argument(format!("Invalid JSON payload received. {e}")))?
            };
            (metadata, multipart::split_head(second).1)
        }
        _ => {
            return Err(ApiError::invalid_argument(
                "Uploads need uploadType=media or uploadType=multipart (resumable uploads are not emulated)",
            ));
        }
    };
    let raw = json!(payload::encode(message));
    match (metadata.as_object_mut(), draft) {
        (Some(object), true) => match object.entry("message").or_insert_with(|| json!({})).as_object_mut() {
            Some(message) => message.insert("raw".to_owned(), raw),
            None => return Err(ApiError::invalid_argument("A draft's message must be an object")),
        },
        (Some(object), false) => object.insert("raw".to_owned(), raw),
        (None, _) => return Err(ApiError::invalid_argument("Upload metadata must be a JSON object")),
    };
    Ok(metadata.to_string().into_bytes())
}
