//! Templates: messages a user writes once and starts from many times. Each has a name, a
//! subject and a body with `{{placeholders}}`; the compose page starts from one and warns about
//! a placeholder left unfilled, and the API fills them from the caller's values.

use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailroom_domain::{Template, TemplateError, UserId};
use mailroom_store::{StoredTemplate, TemplateSaved};
use serde::Deserialize;

use super::see_other;
use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::i18n::Texts;
use crate::viewer::{Ctx, SignedIn};

/// One template as a form, with what was wrong with it when it came back refused.
struct TemplateRow {
    id: Option<i64>,
    name: String,
    subject: String,
    body: String,
    placeholders: String,
    /// The field it was refused for ("name", "subject" or "body") and why.
    error: Option<(&'static str, String)>,
    /// Offered to every user (an administrator's choice).
    shared: bool,
}

impl TemplateRow {
    fn is_invalid(&self, field: &str) -> bool {
        self.error.as_ref().is_some_and(|(refused, _)| *refused == field)
    }
}

impl From<StoredTemplate> for TemplateRow {
    fn from(t: StoredTemplate) -> TemplateRow {
        let placeholders = Template { name: t.name.clone(), subject: t.subject.clone(), body: t.body.clone() }
            .placeholders()
            .iter()
            .map(|name| format!("{{{{{name}}}}}"))
            .collect::<Vec<_>>()
            .join(" ");
        let shared = t.shared;
        TemplateRow {
            id: Some(t.id),
            name: t.name,
            subject: t.subject,
            body: t.body,
            placeholders,
            error: None,
            shared,
        }
    }
}

#[derive(askama::Template, WebTemplate)]
#[template(path = "templates.html")]
struct TemplatesPage {
    ctx: Ctx,
    rows: Vec<TemplateRow>,
    /// The form for a new one (filled again when it was refused).
    new: TemplateRow,
    /// Whether the user may share a template with everyone.
    can_share: bool,
    /// What others share: id, name, subject, owner.
    shared: Vec<mailroom_store::SharedTemplate>,
}

impl TemplatesPage {
    fn refused(&self) -> bool {
        self.new.error.is_some() || self.rows.iter().any(|row| row.error.is_some())
    }
}

fn empty() -> TemplateRow {
    TemplateRow {
        id: None,
        name: String::new(),
        subject: String::new(),
        body: String::new(),
        placeholders: String::new(),
        error: None,
        shared: false,
    }
}

async fn page(
    state: &AppState,
    ctx: Ctx,
    user: UserId,
    refused: Option<TemplateRow>,
) -> Result<TemplatesPage, ErrorKind> {
    let mut rows: Vec<TemplateRow> =
        state.store.templates(user).await.map_err(internal)?.into_iter().map(TemplateRow::from).collect();
    let mut new = empty();
    match refused {
        Some(row) if row.id.is_none() => new = row,
        Some(row) => {
            if let Some(shown) = rows.iter_mut().find(|r| r.id == row.id) {
                *shown = row;
            }
        }
        None => {}
    }
    let can_share = ctx.user.as_ref().is_some_and(mailroom_store::User::is_admin);
    let shared = state.store.shared_templates(user).await.map_err(internal)?;
    Ok(TemplatesPage { ctx, rows, new, can_share, shared })
}

/// `GET /settings/templates`.
pub async fn show(State(state): State<AppState>, SignedIn(me): SignedIn, ctx: Ctx) -> Result<Response, ErrorKind> {
    Ok(page(&state, ctx, me.id, None).await?.into_response())
}

#[derive(Deserialize)]
pub struct TemplateForm {
    /// Empty for a new template.
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    /// "1" to share it with every user (administrators only).
    #[serde(default)]
    shared: String,
}

/// The field of the form that `error` is about: a placeholder's is the subject when the subject's
/// placeholders are wrong, else the body.
fn template_error_field(error: &TemplateError, subject: &str) -> &'static str {
    match error {
        TemplateError::Name => "name",
        TemplateError::Subject => "subject",
        TemplateError::Body => "body",
        TemplateError::Unclosed(_) | TemplateError::BadPlaceholder(_) | TemplateError::MissingValue(_) => {
            if mailroom_domain::template::placeholders(subject).is_err() {
                "subject"
            } else {
                "body"
            }
        }
    }
}

pub(crate) fn template_error(t: &Texts, error: &TemplateError) -> String {
    match error {
        TemplateError::Name => t.template_name_invalid.to_owned(),
        TemplateError::Subject => t.control_characters.to_owned(),
        TemplateError::Body => t.template_too_long.to_owned(),
        TemplateError::Unclosed(_) | TemplateError::BadPlaceholder(_) | TemplateError::MissingValue(_) => {
            format!("{}: {error}", t.template_placeholder_invalid)
        }
    }
}

/// `POST /settings/templates`: saves a new template or changes one.
pub async fn save(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    ctx: Ctx,
    Form(form): Form<TemplateForm>,
) -> Result<Response, ErrorKind> {
    let t = ctx.t;
    let id = match form.id.trim() {
        "" => None,
        id => Some(id.parse::<i64>().map_err(|_| ErrorKind::BadRequest)?),
    };
    let body = form.body.replace("\r\n", "\n");
    let share = form.shared == "1";
    // Only an administrator shares with everyone; a member's form has no such box.
    if share && !me.is_admin() {
        return Err(ErrorKind::Forbidden);
    }
    let refused = |error: String, error_field: &'static str| TemplateRow {
        id,
        name: form.name.clone(),
        subject: form.subject.clone(),
        body: body.clone(),
        placeholders: String::new(),
        error: Some((error_field, error)),
        shared: share,
    };
    let template = match Template::new(&form.name, &form.subject, &body) {
        Ok(template) => template,
        Err(error) => {
            let page = page(
                &state,
                ctx,
                me.id,
                Some(refused(template_error(t, &error), template_error_field(&error, &form.subject))),
            )
            .await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    match state.store.save_template(me.id, id, &template, mailroom_store::now()).await.map_err(internal)? {
        TemplateSaved::Saved(id) => {
            if me.is_admin() {
                state.store.set_template_shared(me.id, id, share).await.map_err(internal)?;
            }
            Ok(see_other("/settings/templates", "template_saved"))
        }
        TemplateSaved::NotFound => Err(ErrorKind::NotFound),
        TemplateSaved::NameTaken => {
            let page = page(&state, ctx, me.id, Some(refused(t.template_name_taken.to_owned(), "name"))).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

/// `POST /settings/templates/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, ErrorKind> {
    if !state.store.delete_template(me.id, id).await.map_err(internal)? {
        return Err(ErrorKind::NotFound);
    }
    Ok(see_other("/settings/templates", "template_deleted"))
}
