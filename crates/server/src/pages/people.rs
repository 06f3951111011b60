//! `/admin/people`: an administrator finds a person by mobile number or ID number, downloads everything held about
//! them as JSON, or erases it (reason and confirmation required). Every form is a POST (CSRF-checked by the
//! middleware like every page form), so the numbers typed never appear in a URL, a log line or the browser
//! history. Rules live in `crate::person_data`.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{FieldError, PageCtx, render_status};
use crate::app::AppState;
use crate::auth::{MaybeUser, Principal};
use crate::error::AppError;
use crate::person_data::{self, Summary};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/people", get(form).post(search))
        .route("/admin/people/export", post(export))
        .route("/admin/people/erase", post(erase))
}

/// Province-wide administrators only (`person_data::authorize`): others get 403, the signed-out the sign-in page.
fn require_admin(user: &MaybeUser) -> Result<(), Box<Response>> {
    match &user.principal {
        Some(Principal::Staff(s)) => person_data::authorize(s).map_err(|e| Box::new(e.into_response())),
        Some(_) => Err(Box::new(AppError::forbidden().into_response())),
        None => Err(Box::new(Redirect::to("/staff/sign-in").into_response())),
    }
}

macro_rules! or_return {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return Ok(*r),
        }
    };
}

#[derive(Template)]
#[template(path = "admin_people.html")]
struct PeoplePage<'a> {
    p: &'a PageCtx,
    query: String,
    reason: String,
    person: Option<Summary>,
    /// What the last erasure did, shown once.
    erased: Option<String>,
    errors: Vec<FieldError>,
}

impl PeoplePage<'_> {
    fn send(&self, status: StatusCode) -> Response {
        let mut res = render_status(status, self);
        // The page names a person: never kept by a cache.
        res.headers_mut().insert(CACHE_CONTROL, "no-store".parse().expect("static header value"));
        res
    }
}

#[derive(Deserialize, Default)]
struct PersonForm {
    #[serde(default)]
    query: String,
    #[serde(default)]
    reason: String,
    confirm: Option<String>,
}

async fn form(p: PageCtx, user: MaybeUser) -> Result<Response, AppError> {
    or_return!(require_admin(&user));
    Ok(PeoplePage { p: &p, query: String::new(), reason: String::new(), person: None, erased: None, errors: vec![] }.send(StatusCode::OK))
}

async fn search(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<PersonForm>) -> Result<Response, AppError> {
    or_return!(require_admin(&user));
    let found = match person_data::find(&state, &f.query).await {
        Ok(c) => person_data::summary(&state, &c).await,
        Err(e) => Err(e),
    };
    Ok(match found {
        Ok(s) => PeoplePage { p: &p, query: f.query, reason: String::new(), person: Some(s), erased: None, errors: vec![] }.send(StatusCode::OK),
        Err(e) => PeoplePage { p: &p, query: f.query, reason: String::new(), person: None, erased: None, errors: vec![FieldError::from_app(&e, p.lang, "query")] }.send(e.status),
    })
}

async fn export(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<PersonForm>) -> Result<Response, AppError> {
    or_return!(require_admin(&user));
    match person_data::export(&state, &f.query, &user.actor()).await {
        Ok((c, doc)) => {
            let body = serde_json::to_string_pretty(&doc).map_err(|e| AppError::from(anyhow::Error::from(e)))?;
            let disposition = format!("attachment; filename=\"person-{}.json\"", c.id);
            Ok((
                [(CONTENT_TYPE, "application/json; charset=utf-8".to_string()), (CONTENT_DISPOSITION, disposition), (CACHE_CONTROL, "no-store".to_string())],
                body,
            )
                .into_response())
        }
        Err(e) => Ok(PeoplePage { p: &p, query: f.query, reason: String::new(), person: None, erased: None, errors: vec![FieldError::from_app(&e, p.lang, "query")] }.send(e.status)),
    }
}

async fn erase(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<PersonForm>) -> Result<Response, AppError> {
    or_return!(require_admin(&user));
    let result = match (person_data::check_reason(&f.reason), f.confirm.is_some()) {
        (Err(e), _) => Err(e),
        (Ok(_), false) => Err(person_data::confirmation_required()),
        (Ok(_), true) => person_data::erase(&state, &f.query, &f.reason, &user.actor()).await,
    };
    Ok(match result {
        Ok((before, erased)) => {
            let done = format!(
                "{} {} · {} {} · {} {}",
                p.t("people.erased_done"),
                before.phone_masked,
                p.t("people.applications_detached"),
                erased.applications_detached,
                p.t("people.orders_detached"),
                erased.payment_orders_detached
            );
            PeoplePage { p: &p, query: String::new(), reason: String::new(), person: None, erased: Some(done), errors: vec![] }.send(StatusCode::OK)
        }
        Err(e) => {
            // Show the person again (if they exist) so the administrator sees why, with what they typed kept.
            let person = match person_data::find(&state, &f.query).await {
                Ok(c) => person_data::summary(&state, &c).await.ok(),
                Err(_) => None,
            };
            let errors = vec![FieldError::from_app(&e, p.lang, "reason")];
            PeoplePage { p: &p, query: f.query, reason: f.reason, person, erased: None, errors }.send(e.status)
        }
    })
}
