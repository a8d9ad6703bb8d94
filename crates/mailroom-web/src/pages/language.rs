use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use mailroom_domain::Language;
use serde::Deserialize;

use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::viewer::{LANGUAGE_COOKIE, Viewer, append_cookie, build_cookie};

#[derive(Deserialize)]
pub struct LanguageForm {
    lang: String,
    #[serde(default)]
    back: String,
}

/// Switches the UI language: for a signed-in user it is saved as their preference; for everyone
/// a cookie remembers it. Then back to the page the switch was pressed on.
pub async fn choose(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Form(form): Form<LanguageForm>,
) -> Result<Response, ErrorKind> {
    let language = Language::parse(&form.lang).ok_or(ErrorKind::BadRequest)?;
    if let Some(user) = &viewer.user {
        state.store.set_user_language(user.id, language).await.map_err(internal)?;
    }
    let mut response = Redirect::to(local_path(&form.back)).into_response();
    let cookie = build_cookie(&state, LANGUAGE_COOKIE, language.code().to_owned(), Some(365 * 24 * 3600));
    append_cookie(&mut response, &cookie);
    Ok(response)
}

/// Only a path on this site, never `//host`, `/\host` or a full URL: no open redirect.
pub fn local_path(path: &str) -> &str {
    let safe =
        path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') && !path.chars().any(char::is_control);
    if safe { path } else { "/" }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path("/admin/users"), "/admin/users");
        for bad in ["//evil.test", "https://evil.test", "/\\evil.test", "", "admin", "/a\r\nb"] {
            assert_eq!(local_path(bad), "/", "{bad:?}");
        }
    }
}
