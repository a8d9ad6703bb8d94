//! The user's time zone: every time a page shows is in it, and a scheduled send is read in it.
//! The browser reports it at the first sign-in; here the user sees and changes it.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::see_other;
use crate::AppState;
use crate::errors::{ErrorKind, internal};
use crate::time::{parse_zone, zone_choices, zone_name};
use crate::viewer::{Ctx, SignedIn};

#[derive(Template, WebTemplate)]
#[template(path = "time_zone.html")]
struct TimeZonePage {
    ctx: Ctx,
    /// The zones to choose from, with the current one among them even when it is an old name.
    zones: Vec<String>,
    current: String,
    /// "It is now 14:05 in Europe/Prague", so the choice can be checked at a glance.
    now: String,
    error: Option<&'static str>,
}

fn page(ctx: Ctx, error: Option<&'static str>) -> TimeZonePage {
    let current = ctx.clock.zone_name().to_owned();
    let mut zones = zone_choices().to_vec();
    if !zones.contains(&current) {
        zones.push(current.clone());
        zones.sort();
    }
    let now = ctx.t.time_zone_now.replace("{time}", &ctx.clock.full(ctx.clock.now)).replace("{zone}", &current);
    TimeZonePage { ctx, zones, current, now, error }
}

/// `GET /settings/time`.
pub async fn show(SignedIn(_): SignedIn, ctx: Ctx) -> Response {
    page(ctx, None).into_response()
}

#[derive(Deserialize)]
pub struct TimeZoneForm {
    #[serde(default)]
    time_zone: String,
}

/// `POST /settings/time`: a zone the database knows is saved; anything else is refused and
/// changes nothing.
pub async fn save(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    ctx: Ctx,
    Form(form): Form<TimeZoneForm>,
) -> Result<Response, ErrorKind> {
    let Some(zone) = parse_zone(&form.time_zone) else {
        let error = Some(ctx.t.time_zone_invalid);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page(ctx, error)).into_response());
    };
    state.store.set_user_time_zone(me.id, zone_name(&zone)).await.map_err(internal)?;
    Ok(see_other("/settings/time", "time_zone_saved"))
}
