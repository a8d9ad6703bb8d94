//! The caller's own coloured labels ("tags"): listed, made and deleted here, put on messages with
//! the `tag` and `untag` actions. They stay in Mailroom.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailroom_domain::{TagColor, TagName};
use mailroom_store::Tag;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiJson, ApiPath, ApiUser};
use crate::AppState;

fn tag_json(tag: &Tag) -> serde_json::Value {
    json!({ "id": tag.id, "name": tag.name, "color": tag.color.as_str(), "count": tag.count })
}

/// `GET /api/v1/tags`: the caller's tags by name, with how many messages carry each.
pub async fn list(State(state): State<AppState>, ApiUser(user): ApiUser) -> Result<Response, ApiError> {
    let tags = state.store.tags(user.id).await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "data": tags.iter().map(tag_json).collect::<Vec<_>>() })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTag {
    name: String,
    color: String,
}

/// `POST /api/v1/tags` with `{"name", "color"}`: a new tag (201), or 409 when the caller has
/// one of that name.
pub async fn create(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(body): ApiJson<NewTag>,
) -> Result<Response, ApiError> {
    let name = TagName::parse(&body.name)
        .map_err(|_| ApiError::bad_request("name must be 1 to 50 characters, without control characters."))?;
    let color = TagColor::parse(&body.color)
        .map_err(|_| ApiError::bad_request("color must be red, orange, yellow, green, teal, blue, purple or gray."))?;
    let made =
        state.store.create_tag(user.id, &name, color, mailroom_store::now()).await.map_err(ApiError::internal)?;
    let Some(id) = made else {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: "You have a tag of this name already.".into(),
        });
    };
    let tag = Tag { id, name: name.as_str().to_owned(), color, count: 0 };
    Ok((StatusCode::CREATED, Json(tag_json(&tag))).into_response())
}

/// `DELETE /api/v1/tags/{id}`: the tag goes, from every message too (204).
pub async fn remove(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    if !state.store.delete_tag(user.id, id).await.map_err(ApiError::internal)? {
        return Err(ApiError::not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
