//! Roles and user management.

use axum::http::StatusCode;
use mailroom_domain::Role;

use crate::harness::{Backend, TestApp};

crate::on_both_databases!(admin:
    members_get_403_on_admin_pages_and_anonymous_visitors_the_login,
    admin_creates_a_user_and_bad_input_changes_nothing,
    disabling_a_user_ends_their_sessions_at_once,
    reset_password_replaces_the_old_one_and_ends_sessions,
    admin_cannot_disable_themselves,
    admin_forms_without_a_csrf_proof_are_refused,
);

const MEMBER_PASSWORD: &str = "member password 1";

async fn members_get_403_on_admin_pages_and_anonymous_visitors_the_login(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.admin().await;
    let (member, mut browser) = app.member("ben@example.test", MEMBER_PASSWORD).await;
    for path in ["/admin/users", "/admin/settings/email"] {
        let page = browser.get(path).await;
        page.assert_status(StatusCode::FORBIDDEN).assert_contains("You do not have access to this page.");
        assert!(page.is_html());
    }
    let home = browser.get("/").await;
    home.assert_lacks("/admin/users");
    let csrf = home.csrf();
    let fields = [
        ("email", "eve@example.test"),
        ("name", "Eve"),
        ("password", MEMBER_PASSWORD),
        ("role", "admin"),
        ("csrf_token", csrf.as_str()),
    ];
    browser.post_raw("/admin/users", &fields).await.assert_status(StatusCode::FORBIDDEN);
    let disable = format!("/admin/users/{}/disable", member.id);
    browser.post_raw(&disable, &[("csrf_token", &csrf)]).await.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(app.store.count_users().await.unwrap(), 2);

    let mut anonymous = app.client();
    anonymous.get("/admin/users").await.assert_redirect("/login");
    anonymous.get("/admin/settings/email").await.assert_redirect("/login");
}

async fn admin_creates_a_user_and_bad_input_changes_nothing(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let fields =
        [("email", "ben@example.test"), ("name", "Ben Novák"), ("password", MEMBER_PASSWORD), ("role", "member")];
    admin.submit("/admin/users", "/admin/users", &fields).await.assert_redirect("/admin/users?notice=user_created");
    admin
        .get("/admin/users?notice=user_created")
        .await
        .assert_contains("The user was created.")
        .assert_contains("Ben Novák");

    let taken = [("email", "BEN@example.test"), ("name", "Ben"), ("password", MEMBER_PASSWORD), ("role", "member")];
    admin
        .submit("/admin/users", "/admin/users", &taken)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("A user with this email already exists.");
    let bad = [("email", "x"), ("name", "X"), ("password", "short"), ("role", "owner")];
    let page = admin.submit("/admin/users", "/admin/users", &bad).await;
    page.assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("This is not a valid email address.")
        .assert_contains("Must be at least 12 characters.")
        .assert_contains("Choose one of the offered options.");
    // Said at once to a screen reader, and each error read with its field.
    page.assert_contains(r#"<p class="error" role="alert">Nothing was saved. Correct the marked fields.</p>"#)
        .assert_field_error(r#"id="email""#, "This is not a valid email address.")
        .assert_field_error(r#"id="password""#, "Must be at least 12 characters.")
        .assert_field_error(r#"id="role""#, "Choose one of the offered options.");
    assert!(!page.field_tag(r#"id="name""#).contains("aria-invalid"), "a field without an error is not marked");
    assert_eq!(app.store.count_users().await.unwrap(), 2);

    let mut ben = app.client();
    ben.login("ben@example.test", MEMBER_PASSWORD).await.assert_redirect("/");
}

async fn disabling_a_user_ends_their_sessions_at_once(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let (ben, mut browser) = app.member("ben@example.test", MEMBER_PASSWORD).await;
    browser.get("/").await.assert_status(StatusCode::OK);

    let path = format!("/admin/users/{}/disable", ben.id);
    admin.submit("/admin/users", &path, &[]).await.assert_redirect("/admin/users?notice=user_disabled");
    browser.get("/").await.assert_redirect("/login");
    assert_eq!(app.store.count_sessions(ben.id).await.unwrap(), 0);
    browser.login("ben@example.test", MEMBER_PASSWORD).await.assert_status(StatusCode::UNAUTHORIZED);

    let path = format!("/admin/users/{}/enable", ben.id);
    admin.submit("/admin/users", &path, &[]).await.assert_redirect("/admin/users?notice=user_enabled");
    browser.login("ben@example.test", MEMBER_PASSWORD).await.assert_redirect("/");

    admin.submit("/admin/users", "/admin/users/999999/disable", &[]).await.assert_status(StatusCode::NOT_FOUND);
}

async fn reset_password_replaces_the_old_one_and_ends_sessions(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let (ben, mut browser) = app.member("ben@example.test", MEMBER_PASSWORD).await;
    let path = format!("/admin/users/{}/password", ben.id);

    let page = admin.submit("/admin/users", &path, &[("password", "short")]).await;
    page.assert_status(StatusCode::UNPROCESSABLE_ENTITY).assert_contains("Must be at least 12 characters.");
    // The error is read with Ben's password field, not another row's.
    page.assert_contains(r#"role="alert""#).assert_field_error("(ben@example.test)", "Must be at least 12 characters.");
    assert!(!page.field_tag("(admin@example.test)").contains("aria-invalid"));
    browser.get("/").await.assert_status(StatusCode::OK);

    admin
        .submit("/admin/users", &path, &[("password", "a brand new password")])
        .await
        .assert_redirect("/admin/users?notice=password_reset");
    browser.get("/").await.assert_redirect("/login");
    browser.login("ben@example.test", MEMBER_PASSWORD).await.assert_status(StatusCode::UNAUTHORIZED);
    browser.login("ben@example.test", "a brand new password").await.assert_redirect("/");
}

async fn admin_cannot_disable_themselves(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (me, mut admin) = app.admin().await;
    let path = format!("/admin/users/{}/disable", me.id);
    admin.submit("/admin/users", &path, &[]).await.assert_redirect("/admin/users?notice=cannot_disable_self");
    admin.get("/admin/users?notice=cannot_disable_self").await.assert_contains("You cannot disable yourself.");
    assert!(!app.store.user(me.id).await.unwrap().unwrap().disabled);
}

async fn admin_forms_without_a_csrf_proof_are_refused(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let ben = app.create_user("ben@example.test", MEMBER_PASSWORD, Role::Member).await;
    let create = [("email", "eve@example.test"), ("name", "Eve"), ("password", MEMBER_PASSWORD), ("role", "admin")];
    admin.post_raw("/admin/users", &create).await.assert_status(StatusCode::FORBIDDEN);
    for action in ["disable", "password"] {
        let path = format!("/admin/users/{}/{action}", ben.id);
        admin.post_raw(&path, &[("password", "a brand new password")]).await.assert_status(StatusCode::FORBIDDEN);
    }
    admin.post_raw("/logout", &[]).await.assert_status(StatusCode::FORBIDDEN);
    admin.post_raw("/language", &[("lang", "cs")]).await.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(app.store.count_users().await.unwrap(), 2);
    assert!(!app.store.user(ben.id).await.unwrap().unwrap().disabled);
    admin.get("/").await.assert_status(StatusCode::OK);
}
