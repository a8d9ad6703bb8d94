//! Google OAuth 2.0 and the Microsoft identity platform, as documented.

use mailroom_sim::SimConfig;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

async fn post_form(sim: &Sim, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = sim.http.post(sim.url(path)).form(form).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn google_code_exchange_gives_tokens_that_open_userinfo() {
    let sim = Sim::start().await;
    let tokens = sim.google_tokens(ANN).await;
    assert!(tokens.refresh.is_some(), "access_type=offline gives a refresh token");
    let response = sim.get("/google/v1/userinfo", &tokens.access).await;
    assert_eq!(response.status(), StatusCode::OK);
    let info: Value = response.json().await.unwrap();
    assert_eq!(info["email"], ANN);
    assert_eq!(info["email_verified"], true);
    assert_eq!(sim.get("/google/v1/userinfo", "nonsense").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn google_code_is_single_use_and_checks_pkce_and_redirect() {
    let sim = Sim::start().await;
    let form = |code: &str, verifier: &str, redirect: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect.to_owned()),
            ("client_id", GOOGLE_CLIENT.to_owned()),
            ("client_secret", GOOGLE_SECRET.to_owned()),
            ("code_verifier", verifier.to_owned()),
        ]
    };
    let post = |form: Vec<(&'static str, String)>| {
        let sim = &sim;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(sim, "/google/token", &pairs).await
        }
    };
    let code = sim.google_code(ANN).await;
    let (status, body) = post(form(&code, "wrong-verifier", REDIRECT)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));

    let code = sim.google_code(ANN).await;
    let (status, body) = post(form(&code, VERIFIER, "http://elsewhere.test/cb")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("redirect_uri_mismatch")));

    let code = sim.google_code(ANN).await;
    let (status, body) = post(form(&code, VERIFIER, REDIRECT)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(body["id_token"].as_str().is_some_and(|t| t.split('.').count() == 3));
    let (status, body) = post(form(&code, VERIFIER, REDIRECT)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "a code works once");
}

#[tokio::test]
async fn google_refuses_unknown_clients_and_wrong_secrets() {
    let sim = Sim::start().await;
    let (status, body) = post_form(
        &sim,
        "/google/token",
        &[("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_id", "nobody"), ("client_secret", "x")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let (status, body) = post_form(
        &sim,
        "/google/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", GOOGLE_CLIENT),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let (status, body) = post_form(
        &sim,
        "/google/token",
        &[("grant_type", "password"), ("client_id", GOOGLE_CLIENT), ("client_secret", GOOGLE_SECRET)],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_grant_type")));
}

#[tokio::test]
async fn google_authorize_refuses_unregistered_redirects_on_a_page() {
    let sim = Sim::start().await;
    let params = [
        ("client_id", GOOGLE_CLIENT),
        ("redirect_uri", "http://evil.test/cb"),
        ("response_type", "code"),
        ("scope", "email"),
    ];
    let response = sim.http.get(sim.url("/google/o/oauth2/v2/auth")).query(&params).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("redirect_uri_mismatch"));
}

#[tokio::test]
async fn google_consent_page_lists_google_users_and_deny_returns_access_denied() {
    let sim = Sim::start_with(SimConfig::default()).await;
    let params = [
        ("client_id", GOOGLE_CLIENT),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "email"),
        ("state", "s1"),
        ("login_hint", BEN),
    ];
    let page =
        sim.http.get(sim.url("/google/o/oauth2/v2/auth")).query(&params).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(ANN) && page.contains(BEN) && !page.contains(CARL), "only Google users are offered");
    assert!(page.contains("Deny"));
    let mut form: Vec<(&str, &str)> = params.to_vec();
    form.push(("deny", "1"));
    let response = sim.http.post(sim.url("/google/o/oauth2/v2/auth")).form(&form).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(REDIRECT) && location.contains("error=access_denied") && location.contains("state=s1"),
        "{location}"
    );

    let mut form: Vec<(&str, &str)> = params.to_vec();
    form.push(("user", BEN));
    let response = sim.http.post(sim.url("/google/o/oauth2/v2/auth")).form(&form).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("code=") && location.contains("state=s1"), "{location}");
}

#[tokio::test]
async fn google_gives_a_refresh_token_only_on_first_consent_or_prompt_consent() {
    let sim = Sim::start().await;
    let exchange = |code: String| {
        let sim = &sim;
        async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("client_id", GOOGLE_CLIENT),
                ("client_secret", GOOGLE_SECRET),
            ];
            post_form(sim, "/google/token", &form).await.1
        }
    };
    let base = [
        ("client_id", GOOGLE_CLIENT),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "email"),
        ("access_type", "offline"),
        ("login_hint", BEN),
    ];
    let code = |q: Vec<(String, String)>| q.into_iter().find(|(k, _)| k == "code").unwrap().1;
    let first = exchange(code(sim.authorize("/google/o/oauth2/v2/auth", &base).await)).await;
    assert!(first["refresh_token"].is_string());
    let second = exchange(code(sim.authorize("/google/o/oauth2/v2/auth", &base).await)).await;
    assert!(second["refresh_token"].is_null(), "no refresh token on a repeated consent: {second}");
    let mut forced = base.to_vec();
    forced.push(("prompt", "consent"));
    let third = exchange(code(sim.authorize("/google/o/oauth2/v2/auth", &forced).await)).await;
    assert!(third["refresh_token"].is_string());
}

#[tokio::test]
async fn google_access_tokens_expire_refresh_works_until_revoked() {
    let sim = Sim::start().await;
    let tokens = sim.google_tokens(ANN).await;
    let refresh = tokens.refresh.clone().unwrap();
    sim.state().clock().advance(3601);
    assert_eq!(sim.get("/google/v1/userinfo", &tokens.access).await.status(), StatusCode::UNAUTHORIZED);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", GOOGLE_CLIENT),
        ("client_secret", GOOGLE_SECRET),
    ];
    let (status, body) = post_form(&sim, "/google/token", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["refresh_token"].is_null(), "Google does not rotate refresh tokens");
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(sim.get("/google/v1/userinfo", &access).await.status(), StatusCode::OK);

    let response = sim.http.post(sim.url("/google/revoke")).form(&[("token", refresh.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        sim.get("/google/v1/userinfo", &access).await.status(),
        StatusCode::UNAUTHORIZED,
        "revoking ends the grant"
    );
    let (status, body) = post_form(&sim, "/google/token", &form).await;
    assert_eq!(
        (status, body["error"].as_str(), body["error_description"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"), Some("Token has been expired or revoked."))
    );
    let response = sim.http.post(sim.url("/google/revoke")).form(&[("token", "unknown")]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn microsoft_refresh_tokens_rotate_and_the_old_one_dies() {
    let sim = Sim::start().await;
    let tokens = sim.microsoft_tokens(CARL).await;
    let first = tokens.refresh.unwrap();
    let form = |refresh: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh.to_owned()),
            ("client_id", MICROSOFT_CLIENT.to_owned()),
            ("client_secret", MICROSOFT_SECRET.to_owned()),
            ("scope", "offline_access Mail.ReadWrite".to_owned()),
        ]
    };
    let post = |form: Vec<(&'static str, String)>| {
        let sim = &sim;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(sim, "/microsoft/common/oauth2/v2.0/token", &pairs).await
        }
    };
    let (status, body) = post(form(&first)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert!(body["scope"].as_str().unwrap().contains("https://graph.microsoft.com/Mail.ReadWrite"));
    let (status, body) = post(form(&first)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"][0], 70008);
    for field in ["error_description", "timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(body[field].is_string(), "{field} in {body}");
    }
    let (status, _) = post(form(&second)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn microsoft_errors_carry_their_aadsts_codes() {
    let sim = Sim::start().await;
    let tokens = sim.microsoft_tokens(CARL).await;
    let refresh = tokens.refresh.unwrap();
    // Asking for a scope that was never consented.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", MICROSOFT_CLIENT),
        ("client_secret", MICROSOFT_SECRET),
        ("scope", "Calendars.Read"),
    ];
    let (status, body) = post_form(&sim, "/microsoft/common/oauth2/v2.0/token", &form).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (StatusCode::BAD_REQUEST, Some(65001)));

    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", MICROSOFT_CLIENT),
        ("client_secret", "wrong"),
    ];
    let (status, body) = post_form(&sim, "/microsoft/common/oauth2/v2.0/token", &form).await;
    assert_eq!(
        (status, body["error"].as_str(), body["error_codes"][0].as_u64()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"), Some(7000215))
    );

    sim.state().world().revoke_grants(CARL);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", MICROSOFT_CLIENT),
        ("client_secret", MICROSOFT_SECRET),
    ];
    let (status, body) = post_form(&sim, "/microsoft/common/oauth2/v2.0/token", &form).await;
    assert_eq!(
        (status, body["error"].as_str(), body["error_codes"][0].as_u64()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"), Some(50173))
    );

    let params =
        [("client_id", MICROSOFT_CLIENT), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "openid")];
    let response =
        sim.http.get(sim.url("/microsoft/not a tenant/oauth2/v2.0/authorize")).query(&params).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("AADSTS90002"));
}

#[tokio::test]
async fn microsoft_without_offline_access_gives_no_refresh_token() {
    let sim = Sim::start().await;
    let params = [
        ("client_id", MICROSOFT_CLIENT),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid User.Read"),
        ("login_hint", CARL),
    ];
    let query = sim.authorize("/microsoft/organizations/oauth2/v2.0/authorize", &params).await;
    let code = query.into_iter().find(|(k, _)| k == "code").unwrap().1;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", MICROSOFT_CLIENT),
        ("client_secret", MICROSOFT_SECRET),
    ];
    let (status, body) = post_form(&sim, "/microsoft/organizations/oauth2/v2.0/token", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["refresh_token"].is_null());
    assert!(body["access_token"].is_string());
}

#[tokio::test]
async fn faults_answer_server_errors_from_a_seed_and_spare_the_control_api() {
    let sim = Sim::start().await;
    let faults = serde_json::json!({"seed": 7, "error_rate": 1.0, "latency_ms": 0, "drop_rate": 0.0});
    let response = sim.http.put(sim.url("/_sim/faults")).json(&faults).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = sim.http.post(sim.url("/google/token")).form(&[("grant_type", "x")]).send().await.unwrap();
    assert!(response.status().is_server_error());
    assert_eq!(sim.http.get(sim.url("/_sim/state")).send().await.unwrap().status(), StatusCode::OK);

    let drop = serde_json::json!({"seed": 7, "error_rate": 0.0, "drop_rate": 1.0});
    sim.http.put(sim.url("/_sim/faults")).json(&drop).send().await.unwrap();
    let result = async { sim.http.post(sim.url("/google/token")).send().await?.bytes().await }.await;
    assert!(result.is_err(), "the connection is dropped");

    let bad = serde_json::json!({"error_rate": 2.0});
    let response = sim.http.put(sim.url("/_sim/faults")).json(&bad).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
