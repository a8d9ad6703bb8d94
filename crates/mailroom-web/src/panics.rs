//! Request ids, and panics contained. Every request gets an id, sent back as `x-request-id` and
//! kept in its log span; a handler that panics answers a 500 naming that id (an error page, or the
//! API's JSON error) instead of dropping the connection with no answer at all. The panic's
//! message is not logged: it may quote the mail being read (a string slice's panic prints the
//! text around the index), and logs never carry mail.

use std::any::Any;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

use crate::errors::ErrorKind;

/// The header carrying a request's id in its answer.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A request's id, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

tokio::task_local! {
    /// The id of the request being served, for the panic handlers, which see no request.
    static CURRENT: String;
}

/// The outermost layer: gives the request its id and answers with it.
pub async fn tag(mut request: Request, next: Next) -> Response {
    // 96 random bits in 16 URL-safe characters: unique enough to find one request in the logs.
    let id: String = mailroom_store::random_token().chars().take(16).collect();
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = CURRENT.scope(id.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// The id of the request this task serves, when it has one.
pub fn current_request_id() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

type Handler = fn(Box<dyn Any + Send + 'static>) -> Response;

/// Catches a page handler's panic as a 500 that `errors::render` turns into the error page.
pub fn page_layer() -> CatchPanicLayer<Handler> {
    CatchPanicLayer::custom(page_panic as Handler)
}

/// Catches an API handler's panic as the API's JSON error.
pub fn api_layer() -> CatchPanicLayer<Handler> {
    CatchPanicLayer::custom(api_panic as Handler)
}

/// Catches a panic outside any handler (in a layer) as a plain 500.
pub fn last_resort_layer() -> CatchPanicLayer<Handler> {
    CatchPanicLayer::custom(plain_panic as Handler)
}

fn logged(_panic: Box<dyn Any + Send + 'static>) -> String {
    let id = current_request_id().unwrap_or_default();
    tracing::error!(request_id = %id, "a request's handler panicked");
    id
}

fn page_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    logged(panic);
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(ErrorKind::Internal);
    response
}

fn api_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    logged(panic);
    crate::api::ApiError::failed().into_response()
}

fn plain_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    let id = logged(panic);
    let body = format!("Something went wrong on the server (request id {id}).\n");
    let mut response = (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body)
        .into_response();
    response.extensions_mut().insert(crate::errors::Verbatim);
    response
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::{Body, to_bytes};
    use axum::middleware::from_fn;
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    async fn boom() -> &'static str {
        let text = "caféx";
        // A slice inside 'é', as the address linkifier once did on Czech text.
        let cut = text.len() - 2;
        &text[..cut]
    }

    async fn call(app: Router, path: &str) -> (StatusCode, Option<String>, String) {
        let response = app.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let id = response.headers().get(REQUEST_ID_HEADER).map(|v| v.to_str().unwrap().to_owned());
        let status = response.status();
        let body = String::from_utf8(to_bytes(response.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
        (status, id, body)
    }

    #[tokio::test]
    async fn a_panicking_api_handler_answers_a_json_error_naming_the_request() {
        let app = Router::new().route("/boom", get(boom)).layer(api_layer()).layer(from_fn(tag));
        let (status, id, body) = call(app, "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let id = id.expect("a request id");
        assert_eq!(id.len(), 16);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"]["code"], "internal");
        assert!(json["error"]["message"].as_str().unwrap().contains(&id), "{body}");
    }

    #[tokio::test]
    async fn a_panic_in_a_layer_answers_plain_text_naming_the_request() {
        let app = Router::new()
            .route("/ok", get(|| async { "ok" }))
            .layer(from_fn(|_: Request, _: Next| async { boom().await.into_response() }))
            .layer(last_resort_layer())
            .layer(from_fn(tag));
        let (status, id, body) = call(app, "/ok").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains(&id.unwrap()), "{body}");
    }

    #[tokio::test]
    async fn a_panicking_page_handler_answers_a_500_for_the_error_page() {
        let app = Router::new().route("/boom", get(boom)).layer(page_layer()).layer(from_fn(tag));
        let response = app.oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.extensions().get::<ErrorKind>(), Some(&ErrorKind::Internal));
        assert!(response.headers().contains_key(REQUEST_ID_HEADER));
    }

    #[tokio::test]
    async fn every_answer_names_its_request_and_ids_differ() {
        let app = Router::new().route("/ok", get(|| async { "ok" })).layer(from_fn(tag));
        let (status, first, _) = call(app.clone(), "/ok").await;
        let (_, second, _) = call(app, "/ok").await;
        assert_eq!(status, StatusCode::OK);
        assert_ne!(first.unwrap(), second.unwrap());
    }
}
