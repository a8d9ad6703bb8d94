//! Login and logout. Failed logins are counted per email address and per client address; past a
//! few, answers are slowed, and past more, refused with 429 for a while (`LoginPolicy`).

use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use mailroom_domain::{EmailAddress, LoginVerdict};
use serde::Deserialize;

use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::viewer::{Ctx, SESSION_COOKIE, Viewer, append_cookie, build_cookie, removal_cookie};

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    ctx: Ctx,
    email: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    /// The browser's IANA time zone, filled in by the page's script; empty without it.
    #[serde(default)]
    time_zone: String,
}

pub async fn show(State(state): State<AppState>, ctx: Ctx) -> Result<Response, ErrorKind> {
    if ctx.user.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    if state.store.count_users().await.map_err(internal)? == 0 {
        return Ok(Redirect::to("/setup").into_response());
    }
    Ok(LoginPage { ctx, email: String::new(), error: None }.into_response())
}

pub async fn submit(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    ctx: Ctx,
    Form(form): Form<LoginForm>,
) -> Result<Response, ErrorKind> {
    let policy = state.config.login_policy;
    let now = mailroom_store::now();
    // An address that does not parse cannot belong to a user; it is throttled under what was typed
    // (as far as an address can be long, so that a megabyte typed is not a megabyte kept).
    let email = EmailAddress::parse(&form.email);
    let typed = || form.email.trim().chars().take(320).collect::<String>().to_lowercase();
    let email_key = format!("email:{}", email.as_ref().map_or_else(|_| typed(), |e| e.to_string()));
    let ip_key = viewer.client_ip.map(|ip| format!("ip:{ip}"));
    let keys: Vec<&str> = std::iter::once(email_key.as_str()).chain(ip_key.as_deref()).collect();

    // The attempt is counted under every key before the password is checked, each count one
    // locked step, so that guesses sent together cannot all read the same old count.
    let mut delay = Duration::ZERO;
    for (n, key) in keys.iter().enumerate() {
        let verdict = state
            .store
            .update_throttle_record(key, now, |record| policy.reserve(record.as_ref(), now))
            .await
            .map_err(internal)?;
        match verdict {
            LoginVerdict::Allow { delay: d } => delay = delay.max(d),
            LoginVerdict::Refuse { retry_after } => {
                // Refused before its password was checked: the keys counted so far take it back.
                for counted in &keys[..n] {
                    release(&state, counted, now).await?;
                }
                return Ok(locked_out(ctx, form.email, retry_after));
            }
        }
    }

    let user = match &email {
        Ok(email) => state.store.check_login(email, &form.password).await.map_err(internal)?,
        Err(_) => None,
    };
    let Some(user) = user else {
        tokio::time::sleep(delay).await;
        for key in &keys {
            state
                .store
                .update_throttle_record(key, now, |record| ((), record.map(|r| policy.after_failure(&r, now))))
                .await
                .map_err(internal)?;
        }
        tracing::info!("failed login");
        let error = Some(ctx.t.login_failed.to_owned());
        return Ok((StatusCode::UNAUTHORIZED, LoginPage { ctx, email: form.email, error }).into_response());
    };

    // The address's own failures are forgiven; the client's address keeps the failures it made
    // for other addresses, or one right password would open another thousand guesses.
    state.store.clear_throttle_record(&email_key).await.map_err(internal)?;
    if let Some(ip_key) = &ip_key {
        release(&state, ip_key, now).await?;
    }
    // A new session id at every login: a session fixed before login is worth nothing after it.
    if let Some(old) = &viewer.session {
        state.store.delete_session(old).await.map_err(internal)?;
    }
    let ttl = i64::try_from(state.config.session_ttl.as_secs()).unwrap_or(i64::MAX);
    let token = state.store.create_session(user.id, now, ttl).await.map_err(internal)?;
    // The first sign-in from a browser that says its zone makes it the user's; a name the
    // database does not know is ignored, and a zone the user has (chosen) is never replaced.
    if user.time_zone.is_none()
        && let Some(zone) = crate::time::parse_zone(&form.time_zone)
    {
        state.store.set_user_time_zone_if_unknown(user.id, crate::time::zone_name(&zone)).await.map_err(internal)?;
    }
    tracing::info!(user.id = %user.id, "signed in");
    let mut response = Redirect::to("/").into_response();
    append_cookie(&mut response, &build_cookie(&state, SESSION_COOKIE, token.expose().to_owned(), Some(ttl)));
    Ok(response)
}

/// Takes back an attempt counted under `key` whose password was not checked or was right.
async fn release(state: &AppState, key: &str, now: i64) -> Result<(), ErrorKind> {
    let policy = state.config.login_policy;
    state
        .store
        .update_throttle_record(key, now, |record| ((), record.map(|r| policy.release(&r))))
        .await
        .map_err(internal)
}

fn locked_out(ctx: Ctx, email: String, retry_after: Duration) -> Response {
    let minutes = retry_after.as_secs().div_ceil(60).max(1);
    let error = Some(ctx.t.login_locked.replace("{minutes}", &minutes.to_string()));
    let mut response = (StatusCode::TOO_MANY_REQUESTS, LoginPage { ctx, email, error }).into_response();
    if let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

pub async fn logout(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Response, ErrorKind> {
    if let Some(token) = &viewer.session {
        state.store.delete_session(token).await.map_err(internal)?;
    }
    let mut response = super::see_other("/login", "signed_out");
    append_cookie(&mut response, &removal_cookie(&state, SESSION_COOKIE));
    Ok(response)
}
