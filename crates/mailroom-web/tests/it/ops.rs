//! Health, readiness, metrics, error pages and limits.

use axum::http::StatusCode;

use crate::harness::{Backend, TestApp};

crate::on_both_databases!(ops:
    health_readiness_and_metrics_answer,
    metrics_answer_only_this_machine_or_the_token,
    readiness_fails_when_the_database_is_gone,
    unknown_pages_and_wrong_methods_get_error_pages,
    a_body_over_the_limit_gets_413_and_changes_nothing,
    pages_carry_security_headers,
);

async fn health_readiness_and_metrics_answer(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let mut client = app.client();
    let health = client.get("/healthz").await;
    health.assert_status(StatusCode::OK).assert_contains("ok");
    assert!(health.set_cookies().is_empty(), "probes get no cookies");
    client.get("/readyz").await.assert_status(StatusCode::OK).assert_contains("ready");
    client.get("/nowhere").await;
    let metrics = client.get("/metrics").await;
    metrics.assert_status(StatusCode::OK);
    assert!(metrics.headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    metrics
        .assert_contains(r#"mailroom_http_requests_total{method="GET",route="/healthz",status="200"}"#)
        .assert_contains(r#"mailroom_http_requests_total{method="GET",route="unmatched",status="404"}"#)
        .assert_contains(r#"mailroom_http_request_duration_seconds_bucket{method="GET",route="/readyz",le="0.005"}"#)
        .assert_contains("mailroom_db_pool_connections{backend=")
        .assert_contains("mailroom_db_pool_idle_connections{backend=");
}

async fn metrics_answer_only_this_machine_or_the_token(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let mut remote = app.client();
    remote.ip = "203.0.113.8".parse().unwrap();
    let page = remote.get("/metrics").await;
    page.assert_status(StatusCode::UNAUTHORIZED)
        .assert_contains("MAILROOM_METRICS_TOKEN")
        .assert_lacks("mailroom_http");
    // A proxy on this machine forwards requests from anywhere: forwarded, they are refused.
    let mut proxied = app.client();
    proxied.headers.push(("x-forwarded-for", "203.0.113.8".to_owned()));
    proxied.get("/metrics").await.assert_status(StatusCode::UNAUTHORIZED);

    let token = "metrics-token-0123456789";
    let Some(app) = TestApp::start_with(backend, |c| c.metrics_token = Some(token.to_owned().into())).await else {
        return;
    };
    // With a token set, this machine needs it too; a wrong one is refused.
    let mut local = app.client();
    local.get("/metrics").await.assert_status(StatusCode::UNAUTHORIZED);
    local.authorization = Some("Bearer metrics-token-wrong".to_owned());
    local.get("/metrics").await.assert_status(StatusCode::UNAUTHORIZED);
    let mut scraper = app.client();
    scraper.ip = "203.0.113.8".parse().unwrap();
    scraper.authorization = Some(format!("Bearer {token}"));
    scraper.get("/metrics").await.assert_status(StatusCode::OK).assert_contains("mailroom_http_requests_total");
}

async fn readiness_fails_when_the_database_is_gone(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.store.db().close().await;
    let mut client = app.client();
    client.get("/healthz").await.assert_status(StatusCode::OK);
    client.get("/readyz").await.assert_status(StatusCode::SERVICE_UNAVAILABLE).assert_contains("database unreachable");
}

async fn unknown_pages_and_wrong_methods_get_error_pages(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let mut client = app.client();
    let page = client.get("/no/such/page").await;
    page.assert_status(StatusCode::NOT_FOUND)
        .assert_contains("This page does not exist.")
        .assert_contains("href=\"/\"");
    assert!(page.is_html());
    let csrf = client.get("/setup").await.csrf();
    let page = client.post_raw("/healthz", &[("csrf_token", &csrf)]).await;
    page.assert_status(StatusCode::METHOD_NOT_ALLOWED).assert_contains("does not accept this kind of request");
    assert!(page.is_html());
    // A malformed form is a page too, not the framework's plain text.
    app.admin().await;
    let mut browser = app.client();
    let csrf = browser.get("/login").await.csrf();
    let page = browser
        .request("POST", "/login", Some(("application/json", format!("{{\"csrf_token\":\"{csrf}\"}}").into_bytes())))
        .await;
    assert!(page.status.is_client_error());
    assert!(page.is_html(), "{}", page.body);
}

async fn a_body_over_the_limit_gets_413_and_changes_nothing(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.body_limit = 4096).await else { return };
    let mut client = app.client();
    let csrf = client.get("/setup").await.csrf();
    let huge = "x".repeat(10_000);
    let fields = [
        ("email", "ann@example.test"),
        ("name", huge.as_str()),
        ("password", "correct horse battery"),
        ("password_repeat", "correct horse battery"),
        ("csrf_token", csrf.as_str()),
    ];
    let page = client.post_raw("/setup", &fields).await;
    page.assert_status(StatusCode::PAYLOAD_TOO_LARGE).assert_contains("too large");
    assert!(page.is_html());
    assert_eq!(app.store.count_users().await.unwrap(), 0);
}

async fn pages_carry_security_headers(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let page = app.client().get("/setup").await;
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["x-frame-options"], "DENY");

    let mut client = app.client();
    for (path, content_type) in
        [("/static/app.css", "text/css"), ("/static/app.js", "text/javascript"), ("/favicon.ico", "image/svg+xml")]
    {
        let asset = client.get(path).await;
        asset.assert_status(StatusCode::OK);
        assert!(asset.headers["content-type"].to_str().unwrap().starts_with(content_type), "{path}");
    }
}
