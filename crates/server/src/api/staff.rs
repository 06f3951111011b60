//! Staff endpoints: the signed-in officer, staff administration, and citizen look-up within scope.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shenfen_store::{Role, Staff};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ErrorBody};
use crate::app::AppState;
use crate::auth::{StaffUser, scope_covers};
use crate::error::{AppError, AppResult};
use crate::staff_admin::{self, By, Ctx, NewStaffInput};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(staff_me)).routes(routes!(list_staff, create_staff)).routes(routes!(citizen_for_staff))
}

#[derive(Serialize, ToSchema)]
pub struct StaffView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// `reviewer`, `counter`, `production` or `admin`.
    pub role: String,
    /// `point`, `district` or `province`.
    pub scope_kind: String,
    pub scope_code: String,
    pub active: bool,
}

impl From<&Staff> for StaffView {
    fn from(s: &Staff) -> Self {
        StaffView {
            id: s.id.clone(),
            username: s.username.clone(),
            display_name: s.display_name.clone(),
            role: s.role.as_str().into(),
            scope_kind: s.scope.kind.as_str().into(),
            scope_code: s.scope.code.clone(),
            active: s.active,
        }
    }
}

/// The signed-in staff member.
#[utoipa::path(get, path = "/api/v1/staff/me", tag = "staff", security(("bearer" = [])),
    responses((status = 200, body = StaffView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn staff_me(StaffUser(staff, _): StaffUser) -> Json<StaffView> {
    Json(StaffView::from(&staff))
}

/// The staff accounts the administrator manages (those within their scope), and their own.
#[utoipa::path(get, path = "/api/v1/admin/staff", tag = "staff", security(("bearer" = [])),
    responses((status = 200, body = Vec<StaffView>), (status = 403, body = ErrorBody)))]
async fn list_staff(State(state): State<AppState>, user: StaffUser) -> AppResult<Json<Vec<StaffView>>> {
    user.require(&[Role::Admin])?;
    let by = By::Admin(user.0.clone(), user.1.actor());
    Ok(Json(staff_admin::list(&Ctx { store: &state.store, now: state.now_ms() }, &by).await?.iter().map(StaffView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    pub username: String,
    pub display_name: String,
    /// At least 12 characters. It is temporary: the account must choose a new one at first sign-in.
    pub password: String,
    pub role: String,
    pub scope_kind: String,
    pub scope_code: String,
}

/// Create a staff account within the administrator's scope (administrators only; audited). The account must
/// change its password at first sign-in.
#[utoipa::path(post, path = "/api/v1/admin/staff", tag = "staff", security(("bearer" = [])), request_body = NewStaff,
    responses((status = 201, body = StaffView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_staff(State(state): State<AppState>, user: StaffUser, ApiJson(req): ApiJson<NewStaff>) -> AppResult<(StatusCode, Json<StaffView>)> {
    user.require(&[Role::Admin])?;
    let by = By::Admin(user.0.clone(), user.1.actor());
    let input = NewStaffInput { username: req.username, display_name: req.display_name, role: req.role, scope_kind: req.scope_kind, scope_code: req.scope_code };
    let (staff, _) = staff_admin::create(&Ctx { store: &state.store, now: state.now_ms() }, &by, &input, Some(&req.password)).await?;
    Ok((StatusCode::CREATED, Json(StaffView::from(&staff))))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevealQuery {
    /// `id_number` to include the full ID number (reviewers and administrators only; audited).
    pub reveal: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CitizenForStaff {
    pub id: String,
    pub phone_masked: String,
    pub verification: String,
    pub name_masked: Option<String>,
    pub id_number_masked: Option<String>,
    /// Only when revealed.
    pub id_number: Option<String>,
    pub name: Option<String>,
    pub hukou_code: Option<String>,
}

/// Look up a citizen whose registered residence is within the officer's scope. Masked unless the officer
/// has a need (reviewers, administrators) and asks to reveal, which is audited.
#[utoipa::path(get, path = "/api/v1/citizens/{id}", tag = "staff", security(("bearer" = [])), params(("id" = String, Path), RevealQuery),
    responses((status = 200, body = CitizenForStaff), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn citizen_for_staff(State(state): State<AppState>, user: StaffUser, Path(id): Path<String>, Query(q): Query<RevealQuery>) -> AppResult<Json<CitizenForStaff>> {
    user.require(&[Role::Reviewer, Role::Counter, Role::Admin])?;
    let citizen = state.store.citizen(&id).await?.ok_or_else(AppError::not_found)?;
    // Outside the officer's scope is reported as not found: no probing for who exists elsewhere.
    let hukou = citizen.hukou_code.clone().unwrap_or_default();
    if !scope_covers(&state, &user.0, &hukou).await? {
        return Err(AppError::not_found());
    }
    let mut view = CitizenForStaff {
        id: citizen.id.clone(),
        phone_masked: shenfen_domain::MobileNumber::parse(&citizen.phone).map(|p| p.masked()).unwrap_or_default(),
        verification: citizen.verification.as_str().into(),
        name_masked: citizen.name_masked.clone(),
        id_number_masked: citizen.id_number_masked.clone(),
        id_number: None,
        name: None,
        hukou_code: citizen.hukou_code.clone(),
    };
    match q.reveal.as_deref() {
        None => {}
        Some("id_number") => {
            user.require(&[Role::Reviewer, Role::Admin])?;
            let decrypt = |enc: &Option<Vec<u8>>| enc.as_deref().map(|e| state.keys.decrypt_field(e)).transpose();
            view.id_number = decrypt(&citizen.id_number_enc)?;
            view.name = decrypt(&citizen.name_enc)?;
            state.audit(&user.1.actor(), "citizen.reveal_id_number", &format!("citizen:{}", citizen.id), serde_json::json!({})).await?;
        }
        Some(_) => return Err(AppError::bad_request("reveal_invalid", "reveal 参数只能为 id_number。", "reveal must be id_number.")),
    }
    Ok(Json(view))
}
