//! Staff pages: sign-in and the workbench (a phone-sized console; later issues add review queues to it).

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use shenfen_store::{ScopeKind, SessionChannel};

use super::account::session_cookie;
use super::{FieldError, PageCtx, render, render_status, with_cookie};
use crate::accounts;
use crate::app::AppState;
use crate::auth::{MaybeUser, Principal, role_name};
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new().route("/staff/sign-in", get(sign_in_form).post(sign_in)).route("/staff", get(workbench))
}

#[derive(Template)]
#[template(path = "staff_sign_in.html")]
struct StaffSignInPage<'a> {
    p: &'a PageCtx,
    username: String,
    errors: Vec<FieldError>,
}

async fn sign_in_form(p: PageCtx) -> Response {
    render(&StaffSignInPage { p: &p, username: String::new(), errors: vec![] })
}

#[derive(Deserialize)]
struct StaffForm {
    username: String,
    password: String,
}

async fn sign_in(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<StaffForm>) -> Response {
    match accounts::staff_sign_in(&state, &f.username, &f.password, SessionChannel::Cookie, &user.ip).await {
        Ok(accounts::StaffSignIn::Signed(session, _)) => {
            let max_age = (session.expires_at - state.now_ms()) / 1000;
            with_cookie(Redirect::to("/staff").into_response(), session_cookie(&state, &session.token, max_age))
        }
        Ok(accounts::StaffSignIn::SecondFactor(staff)) => super::staff_admin::start_second_factor(&state, &staff).await.unwrap_or_else(|e| e.into_response()),
        Err(e) => render_status(e.status, &StaffSignInPage { p: &p, username: f.username, errors: vec![FieldError::from_app(&e, p.lang, "username")] }),
    }
}

#[derive(Template)]
#[template(path = "staff_home.html")]
struct WorkbenchPage<'a> {
    p: &'a PageCtx,
    name: String,
    role: &'static str,
    scope: String,
    /// Counter staff and administrators run the counter console.
    counter: bool,
    /// Administrators manage acceptance points and see the finance view.
    admin: bool,
    /// The role's code: which application consoles to offer (review, production, supervision).
    role_code: &'static str,
}

async fn workbench(State(state): State<AppState>, p: PageCtx, user: MaybeUser) -> Result<Response, AppError> {
    let staff = match &user.principal {
        Some(Principal::Staff(s)) => s.clone(),
        Some(Principal::Citizen(_)) => return Err(AppError::forbidden()),
        None => return Ok(Redirect::to("/staff/sign-in").into_response()),
    };
    let scope = match staff.scope.kind {
        ScopeKind::Province => shenfen_domain::division::province_name(&staff.scope.code).unwrap_or("-").to_string(),
        ScopeKind::District => shenfen_domain::division::full_name(&staff.scope.code).unwrap_or_else(|| staff.scope.code.clone()),
        ScopeKind::Point => state.store.point(&staff.scope.code).await?.map(|pt| pt.name).unwrap_or_else(|| staff.scope.code.clone()),
    };
    let counter = matches!(staff.role, shenfen_store::Role::Counter | shenfen_store::Role::Admin);
    let admin = staff.role == shenfen_store::Role::Admin;
    Ok(render(&WorkbenchPage { p: &p, name: staff.display_name.clone(), role: role_name(staff.role, p.lang), scope, counter, admin, role_code: staff.role.as_str() }))
}
