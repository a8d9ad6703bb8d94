//! The email settings page and the secrets it keeps.

use axum::http::StatusCode;
use mailroom_domain::Provider;
use mailroom_store::{OpenError, SecretKey};
use secrecy::ExposeSecret;

use crate::harness::{Backend, TestApp};

crate::on_both_databases!(settings:
    settings_are_saved_and_the_secret_is_never_shown_again,
    client_secret_is_encrypted_in_the_database,
    bad_settings_are_shown_next_to_their_fields_and_change_nothing,
    a_wrong_or_missing_key_stops_the_start_and_changes_nothing,
    the_providers_traps_are_said_beside_their_credentials_in_both_languages,
    a_plain_http_public_url_elsewhere_is_warned_about_and_https_or_loopback_is_not,
    the_secret_expiry_date_round_trips_and_warns_as_it_nears,
    a_malformed_expiry_date_is_refused_and_changes_nothing,
);

const GOOGLE_SECRET: &str = "GOCSPX-verysecretvalue123";
const MICROSOFT_SECRET: &str = "ms~SecretValue.456";

fn full_form<'a>() -> Vec<(&'a str, &'a str)> {
    vec![
        ("google_enabled", "on"),
        ("google_client_id", "1234-abc.apps.googleusercontent.com"),
        ("google_client_secret", GOOGLE_SECRET),
        ("microsoft_enabled", "on"),
        ("microsoft_client_id", "7f1c2d3e-0000-4000-8000-123456789abc"),
        ("microsoft_client_secret", MICROSOFT_SECRET),
        ("microsoft_tenant", "organizations"),
        ("sync_interval", "10"),
        ("import_days", "90"),
    ]
}

async fn settings_are_saved_and_the_secret_is_never_shown_again(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let page = admin.get("/admin/settings/email").await;
    page.assert_status(StatusCode::OK)
        .assert_contains("value=\"http://mailroom.test/oauth/callback\"")
        .assert_contains("data-copy=")
        .assert_contains("Gmail API")
        .assert_contains("Microsoft Entra admin center")
        .assert_contains("No secret is saved.")
        .assert_contains("value=\"5\"")
        .assert_contains("value=\"30\"")
        .assert_contains("value=\"common\"");

    let path = "/admin/settings/email";
    admin.submit(path, path, &full_form()).await.assert_redirect("/admin/settings/email?notice=settings_saved");
    let page = admin.get("/admin/settings/email?notice=settings_saved").await;
    page.assert_contains("The email settings were saved.")
        .assert_contains("A secret is saved.")
        .assert_contains("value=\"1234-abc.apps.googleusercontent.com\"")
        .assert_contains("value=\"organizations\"")
        .assert_contains("value=\"10\"")
        .assert_lacks(GOOGLE_SECRET)
        .assert_lacks(MICROSOFT_SECRET);

    let saved = app.store.email_settings().await.unwrap();
    assert!(saved.google.enabled && saved.microsoft.enabled);
    admin.get("/").await.assert_lacks("start by entering the Google and Microsoft");
    assert_eq!(saved.microsoft.tenant.as_str(), "organizations");
    assert_eq!(saved.sync_interval.minutes(), 10);
    assert_eq!(saved.import_start.days_back(), Some(90));

    // Saving with the secret fields empty keeps the secrets.
    let keep: Vec<_> = full_form().into_iter().filter(|(k, _)| !k.ends_with("secret")).collect();
    admin.submit(path, path, &keep).await.assert_redirect("/admin/settings/email?notice=settings_saved");
    let secret = app.store.client_secret(Provider::Google).await.unwrap().unwrap();
    assert_eq!(secret.expose_secret(), GOOGLE_SECRET);
    let secret = app.store.client_secret(Provider::Microsoft).await.unwrap().unwrap();
    assert_eq!(secret.expose_secret(), MICROSOFT_SECRET);

    // A new secret replaces the old one; disabling keeps the credentials.
    let mut replace: Vec<_> = keep.iter().copied().filter(|(k, _)| *k != "google_enabled").collect();
    replace.push(("google_client_secret", "GOCSPX-rotated"));
    admin.submit(path, path, &replace).await.assert_redirect("/admin/settings/email?notice=settings_saved");
    let saved = app.store.email_settings().await.unwrap();
    assert!(!saved.google.enabled && saved.google.has_secret);
    assert_eq!(app.store.client_secret(Provider::Google).await.unwrap().unwrap().expose_secret(), "GOCSPX-rotated");
}

async fn client_secret_is_encrypted_in_the_database(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let path = "/admin/settings/email";
    admin.submit(path, path, &full_form()).await.assert_redirect("/admin/settings/email?notice=settings_saved");

    // Read the raw row, as anyone with a copy of the database could.
    let sql = "SELECT client_secret FROM provider_settings WHERE provider = 'google'";
    let raw = app.raw_bytes(sql).await.remove(0);
    assert!(raw.len() > GOOGLE_SECRET.len() + 24, "nonce and tag are stored with the ciphertext");
    assert!(
        !raw.windows(GOOGLE_SECRET.len()).any(|w| w == GOOGLE_SECRET.as_bytes()),
        "the plaintext is not in the row"
    );
    assert!(!String::from_utf8_lossy(&raw).contains("verysecret"));
}

async fn bad_settings_are_shown_next_to_their_fields_and_change_nothing(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let before = app.store.email_settings().await.unwrap();
    let path = "/admin/settings/email";
    let bad = [
        ("google_enabled", "on"),
        ("google_client_id", "has spaces inside"),
        ("google_client_secret", GOOGLE_SECRET),
        ("microsoft_enabled", "on"),
        ("microsoft_client_id", "7f1c2d3e-0000-4000-8000-123456789abc"),
        ("microsoft_tenant", "not a tenant"),
        ("sync_interval", "0"),
        ("import_days", "soon"),
    ];
    let page = admin.submit(path, path, &bad).await;
    page.assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Nothing was saved. Correct the marked fields.")
        .assert_contains("Must not contain spaces or control characters.")
        .assert_contains("To enable the provider, enter its Client ID and Client Secret.")
        .assert_contains("Enter common, organizations, consumers, a tenant ID or a domain.")
        .assert_contains("Enter a whole number from 1 to 1440.")
        .assert_contains("Enter a whole number from 0 to 36500.")
        .assert_contains("value=\"has spaces inside\"")
        .assert_lacks(GOOGLE_SECRET);
    page.assert_field_error(r#"id="google_client_id""#, "Must not contain spaces or control characters.")
        .assert_field_error(
            r#"id="microsoft_enabled""#,
            "To enable the provider, enter its Client ID and Client Secret.",
        )
        .assert_field_error(
            r#"id="microsoft_tenant""#,
            "Enter common, organizations, consumers, a tenant ID or a domain.",
        )
        .assert_field_error(r#"id="sync_interval""#, "Enter a whole number from 1 to 1440.")
        .assert_field_error(r#"id="import_days""#, "Enter a whole number from 0 to 36500.");
    assert_eq!(app.store.email_settings().await.unwrap(), before);
    assert!(app.store.client_secret(Provider::Google).await.unwrap().is_none());
}

async fn a_wrong_or_missing_key_stops_the_start_and_changes_nothing(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let path = "/admin/settings/email";
    admin.submit(path, path, &full_form()).await.assert_redirect("/admin/settings/email?notice=settings_saved");
    let key_file = app.db.key_file();
    let original_key = std::fs::read_to_string(&key_file).unwrap();

    let wrong = SecretKey::generate();
    let err = app.reopen_with_key(Some(&wrong), key_file.clone()).await.expect_err("a wrong key is refused");
    assert!(matches!(err, OpenError::WrongKey { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("MAILROOM_SECRET_KEY") && message.contains("nothing was changed"), "{message}");
    assert!(!message.contains(&wrong.to_hex().to_string()), "the key is not printed");

    let missing = app.db.dir.path().join("elsewhere.key");
    let err = app.reopen_with_key(None, missing.clone()).await.expect_err("a missing key is refused");
    assert!(matches!(err, OpenError::KeyMissing { .. }), "{err}");
    assert!(!missing.exists(), "no new key file is made for a database that holds secrets");

    std::fs::write(&missing, "0123").unwrap();
    let err = app.reopen_with_key(None, missing).await.expect_err("a damaged key file is refused");
    assert!(matches!(err, OpenError::KeyFileMalformed { .. }), "{err}");

    // Nothing was overwritten: the original key still opens the secrets.
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), original_key);
    let store = app.reopen_with_key(None, key_file).await.expect("the original key opens the store");
    assert_eq!(store.client_secret(Provider::Google).await.unwrap().unwrap().expose_secret(), GOOGLE_SECRET);
}

/// The day `days` from today (UTC), as the date field writes it.
fn day_from_today(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::TimeDelta::days(days)).to_string()
}

fn with_expiry(date: &str) -> Vec<(&str, &str)> {
    let mut form = full_form();
    form.push(("microsoft_secret_expires", date));
    form
}

const GOOGLE_CONSENT: &str = "href=\"https://console.cloud.google.com/apis/credentials/consent\"";
const ENTRA_APPS: &str =
    "href=\"https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationsListBlade\"";
const HTTP_WARNING_EN: &str = "The public address is plain http on another machine";
const HTTP_WARNING_CS: &str = "Veřejná adresa je nešifrované http na jiném počítači";

async fn the_providers_traps_are_said_beside_their_credentials_in_both_languages(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let page = admin.get("/admin/settings/email").await;
    page.assert_status(StatusCode::OK)
        .assert_contains(GOOGLE_CONSENT)
        .assert_contains("Google lets the refresh tokens it grants expire after 7 days")
        .assert_contains("Publish the app (status In production)")
        .assert_contains("choose the user type Internal")
        .assert_contains("needs Google&#39;s verification of the app and a security assessment")
        .assert_contains(ENTRA_APPS)
        .assert_contains("name=\"microsoft_secret_expires\" type=\"date\" value=\"\"")
        .assert_lacks("id=\"secret-expiry\"");
    // The Google notes stand in Google's section, the Entra link in Microsoft's.
    let google = page.body.find("id=\"google\"").unwrap();
    let microsoft = page.body.find("id=\"microsoft\"").unwrap();
    let consent = page.body.find(GOOGLE_CONSENT).unwrap();
    let entra = page.body.find(ENTRA_APPS).unwrap();
    assert!(google < consent && consent < microsoft && microsoft < entra);

    admin.accept_language = Some("cs".to_owned());
    let page = admin.get("/admin/settings/email").await;
    page.assert_contains(GOOGLE_CONSENT)
        .assert_contains("nechá jí vydané obnovovací tokeny vypršet po 7 dnech")
        .assert_contains("zvolte typ uživatelů Internal")
        .assert_contains(ENTRA_APPS)
        .assert_contains("Tajný klíč klienta vyprší dne");
}

async fn a_plain_http_public_url_elsewhere_is_warned_about_and_https_or_loopback_is_not(backend: Backend) {
    // The tests' usual public URL, http://mailroom.test, is plain http on another machine.
    let Some(app) = TestApp::start(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let page = admin.get("/admin/settings/email").await;
    page.assert_contains(HTTP_WARNING_EN).assert_contains("class=\"warning\" id=\"google-insecure-redirect\"");
    admin.accept_language = Some("cs".to_owned());
    admin.get("/admin/settings/email").await.assert_contains(HTTP_WARNING_CS).assert_lacks(HTTP_WARNING_EN);

    for public in ["https://mail.example.com", "http://localhost:8080", "http://127.0.0.1:8080"] {
        let Some(app) = TestApp::start_with(backend, |c| c.base_url = public.to_owned()).await else { return };
        let (_, mut admin) = app.admin().await;
        let page = admin.get("/admin/settings/email").await;
        page.assert_contains(&format!("value=\"{public}/oauth/callback\""))
            .assert_lacks(HTTP_WARNING_EN)
            .assert_lacks("insecure-redirect");
        admin.accept_language = Some("cs".to_owned());
        admin.get("/admin/settings/email").await.assert_lacks(HTTP_WARNING_CS);
    }
}

async fn the_secret_expiry_date_round_trips_and_warns_as_it_nears(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let path = "/admin/settings/email";
    let saved = |date: &str| format!("name=\"microsoft_secret_expires\" type=\"date\" value=\"{date}\"");

    // Two months away: kept, shown in the field, and no warning yet.
    let later = day_from_today(60);
    admin.submit(path, path, &with_expiry(&later)).await.assert_redirect("/admin/settings/email?notice=settings_saved");
    let page = admin.get(path).await;
    page.assert_contains(&saved(&later)).assert_lacks("id=\"secret-expiry\"");
    let stored = app.store.email_settings().await.unwrap().microsoft.secret_expires_at.unwrap();
    assert_eq!(chrono::DateTime::from_timestamp(stored, 0).unwrap().date_naive().to_string(), later);
    admin.get("/admin/status").await.assert_lacks("id=\"secret-expiry\"");

    // Within 30 days: a warning, here and on the status page.
    let soon = day_from_today(20);
    admin.submit(path, path, &with_expiry(&soon)).await.assert_redirect("/admin/settings/email?notice=settings_saved");
    let warning = format!("The Microsoft client secret expires on {soon}, within 30 days.");
    admin
        .get(path)
        .await
        .assert_contains(&saved(&soon))
        .assert_contains("class=\"warning\" id=\"secret-expiry\"")
        .assert_contains(&warning);
    admin
        .get("/admin/status")
        .await
        .assert_contains("class=\"warning\" id=\"secret-expiry\"")
        .assert_contains(&warning);
    admin.accept_language = Some("cs".to_owned());
    let czech = format!("Tajný klíč klienta Microsoft vyprší dne {soon}, do 30 dní.");
    admin.get(path).await.assert_contains(&czech).assert_lacks(&warning);
    admin.get("/admin/status").await.assert_contains(&czech);
    admin.accept_language = None;

    // Within a week, and past: the stronger warning.
    let days = day_from_today(3);
    admin.submit(path, path, &with_expiry(&days)).await.assert_redirect("/admin/settings/email?notice=settings_saved");
    admin
        .get(path)
        .await
        .assert_contains("class=\"error\" id=\"secret-expiry\"")
        .assert_contains(&format!("The Microsoft client secret expires on {days}, in less than a week."));
    admin.get("/admin/status").await.assert_contains("class=\"error\" id=\"secret-expiry\"");
    admin
        .submit(path, path, &with_expiry("2024-02-29"))
        .await
        .assert_redirect("/admin/settings/email?notice=settings_saved");
    admin.get(path).await.assert_contains("The Microsoft client secret expired on 2024-02-29.");
    admin.accept_language = Some("cs".to_owned());
    admin.get(path).await.assert_contains("Tajný klíč klienta Microsoft vypršel dne 2024-02-29.");
    admin.get("/admin/status").await.assert_contains("Tajný klíč klienta Microsoft vypršel dne 2024-02-29.");

    // An empty field clears the date, and the warning with it.
    admin.submit(path, path, &with_expiry("")).await.assert_redirect("/admin/settings/email?notice=settings_saved");
    assert_eq!(app.store.email_settings().await.unwrap().microsoft.secret_expires_at, None);
    admin.get(path).await.assert_contains(&saved("")).assert_lacks("id=\"secret-expiry\"");
    admin.get("/admin/status").await.assert_lacks("id=\"secret-expiry\"");
}

async fn a_malformed_expiry_date_is_refused_and_changes_nothing(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (_, mut admin) = app.admin().await;
    let path = "/admin/settings/email";
    admin
        .submit(path, path, &with_expiry("2030-01-31"))
        .await
        .assert_redirect("/admin/settings/email?notice=settings_saved");
    let before = app.store.email_settings().await.unwrap();
    for bad in ["next week", "2030-02-30", "31.1.2030", "12030-01-01", "2030-01-31T00:00"] {
        let mut form = with_expiry(bad);
        // Other changes in the same form are refused with it.
        form.retain(|(k, _)| *k != "sync_interval");
        form.push(("sync_interval", "45"));
        let page = admin.submit(path, path, &form).await;
        page.assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains("Nothing was saved. Correct the marked fields.")
            .assert_contains("Enter the date as YYYY-MM-DD (for example 2027-06-30), or leave the field empty.")
            .assert_contains("id=\"microsoft_secret_expires\" name=\"microsoft_secret_expires\" type=\"date\"")
            .assert_lacks(MICROSOFT_SECRET);
        assert_eq!(app.store.email_settings().await.unwrap(), before, "{bad} changed nothing");
    }
    admin.accept_language = Some("cs".to_owned());
    let page = admin.submit(path, path, &with_expiry("zítra")).await;
    page.assert_status(StatusCode::UNPROCESSABLE_ENTITY).assert_contains("Zadejte datum ve tvaru RRRR-MM-DD");
    assert_eq!(app.store.email_settings().await.unwrap(), before);
}
