//! The control API: users, clients, mail delivery, the clock, faults and the request log.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn users_and_clients_added_through_the_control_api_can_sign_in() {
    let sim = Sim::start().await;
    let response = sim
        .http
        .post(sim.url("/_sim/users"))
        .json(&json!({"user": "dana@example.test", "name": "Dana Dvořák"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = sim.http.post(sim.url("/_sim/users")).json(&json!({"user": "not an address"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let client = json!({"provider": "google", "client_id": "second.apps.googleusercontent.com", "client_secret": "s2", "redirect_uris": [REDIRECT]});
    assert_eq!(
        sim.http.post(sim.url("/_sim/clients")).json(&client).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );

    let params = [
        ("client_id", "second.apps.googleusercontent.com"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("login_hint", "dana@example.test"),
    ];
    let query = sim.authorize("/google/o/oauth2/v2/auth", &params).await;
    let code = query.into_iter().find(|(k, _)| k == "code").unwrap().1;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", "second.apps.googleusercontent.com"),
        ("client_secret", "s2"),
    ];
    let body: Value = sim.http.post(sim.url("/google/token")).form(&form).send().await.unwrap().json().await.unwrap();
    let info: Value =
        sim.get("/google/v1/userinfo", body["access_token"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!((info["email"].as_str(), info["name"].as_str()), (Some("dana@example.test"), Some("Dana Dvořák")));

    let state: Value = sim.http.get(sim.url("/_sim/state")).send().await.unwrap().json().await.unwrap();
    assert_eq!(state["users"].as_array().unwrap().len(), 4);
    assert_eq!(state["clients"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn mail_delivered_through_the_control_api_lands_in_the_right_mailbox() {
    let sim = Sim::start().await;
    let raw = "From: x@example.org\r\nTo: ann@example.test\r\nSubject: Hello\r\n\r\nHi\r\n";
    let response =
        sim.http.post(sim.url(&format!("/_sim/users/{ANN}/messages"))).json(&json!({"raw": raw})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = sim
        .http
        .post(sim.url(&format!("/_sim/users/{CARL}/messages")))
        .json(&json!({"raw_base64": "RnJvbTogeEBleGFtcGxlLm9yZw0KDQpIaQ0K", "folder": "inbox"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = sim
        .http
        .post(sim.url("/_sim/users/nobody@example.test/messages"))
        .json(&json!({"raw": raw}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = sim
        .http
        .post(sim.url(&format!("/_sim/users/{ANN}/messages")))
        .json(&json!({"raw_base64": "%%%"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let mut world = sim.state().world();
    assert_eq!(world.gmail(ANN).unwrap().message_count(), 1);
    assert_eq!(world.graph(CARL).unwrap().message_count(), 1);
}

#[tokio::test]
async fn the_clock_moves_forward_on_request_and_expires_tokens() {
    let sim = Sim::start().await;
    let tokens = sim.google_tokens(ANN).await;
    let before = sim.state().clock().now_ms();
    let body: Value = sim
        .http
        .post(sim.url("/_sim/clock/advance"))
        .json(&json!({"seconds": 7200}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["now_ms"].as_i64().unwrap() >= before + 7_200_000);
    assert_eq!(sim.get("/google/v1/userinfo", &tokens.access).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_through_the_control_api_kills_the_users_tokens() {
    let sim = Sim::start().await;
    let tokens = sim.google_tokens(ANN).await;
    let response = sim.http.post(sim.url(&format!("/_sim/users/{ANN}/revoke"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(sim.get("/google/v1/userinfo", &tokens.access).await.status(), StatusCode::UNAUTHORIZED);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens.refresh.as_deref().unwrap()),
        ("client_id", GOOGLE_CLIENT),
        ("client_secret", GOOGLE_SECRET),
    ];
    let body: Value = sim.http.post(sim.url("/google/token")).form(&form).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn the_request_log_lists_provider_requests_but_not_control_calls() {
    let sim = Sim::start().await;
    sim.google_tokens(ANN).await;
    let log: Value = sim.http.get(sim.url("/_sim/log")).send().await.unwrap().json().await.unwrap();
    let requests = log["requests"].as_array().unwrap();
    let paths: Vec<&str> = requests.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/google/o/oauth2/v2/auth", "/google/token"]);
    assert_eq!(requests[1]["status"], 200);
    assert_eq!(sim.http.delete(sim.url("/_sim/log")).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let log: Value = sim.http.get(sim.url("/_sim/log")).send().await.unwrap().json().await.unwrap();
    assert!(log["requests"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn injected_latency_delays_provider_answers() {
    let sim = Sim::start().await;
    sim.http.put(sim.url("/_sim/faults")).json(&json!({"latency_ms": 250})).send().await.unwrap();
    let started = std::time::Instant::now();
    sim.http.post(sim.url("/google/token")).send().await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    let faults: Value = sim.http.get(sim.url("/_sim/faults")).send().await.unwrap().json().await.unwrap();
    assert_eq!(faults["latency_ms"], 250);
}
