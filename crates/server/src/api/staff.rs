//! Staff endpoints: the signed-in officer, staff administration, and citizen look-up within scope.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shenfen_store::{Role, Scope, ScopeKind, Staff};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ErrorBody};
use crate::app::AppState;
use crate::auth::{StaffUser, scope_covers};
use crate::error::{AppError, AppResult};

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

/// All staff accounts (administrators only).
#[utoipa::path(get, path = "/api/v1/admin/staff", tag = "staff", security(("bearer" = [])),
    responses((status = 200, body = Vec<StaffView>), (status = 403, body = ErrorBody)))]
async fn list_staff(State(state): State<AppState>, user: StaffUser) -> AppResult<Json<Vec<StaffView>>> {
    user.require(&[Role::Admin])?;
    Ok(Json(state.store.list_staff().await?.iter().map(StaffView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    pub username: String,
    pub display_name: String,
    /// At least 12 characters.
    pub password: String,
    pub role: String,
    pub scope_kind: String,
    pub scope_code: String,
}

/// Create a staff account (administrators only; audited).
#[utoipa::path(post, path = "/api/v1/admin/staff", tag = "staff", security(("bearer" = [])), request_body = NewStaff,
    responses((status = 201, body = StaffView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_staff(State(state): State<AppState>, user: StaffUser, ApiJson(req): ApiJson<NewStaff>) -> AppResult<(StatusCode, Json<StaffView>)> {
    user.require(&[Role::Admin])?;
    let invalid = |field: &'static str, zh: &str, en: &str| AppError::invalid("staff_invalid", zh, en).on_field(field);
    let username = req.username.trim();
    if username.len() < 3 || username.len() > 32 || !username.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-') {
        return Err(invalid("username", "用户名为 3–32 位字母、数字或 _ . -。", "Username: 3–32 letters, digits, _ . or -."));
    }
    let display_name = req.display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 40 {
        return Err(invalid("display_name", "请填写 1–40 字的姓名。", "Display name: 1–40 characters."));
    }
    if req.password.chars().count() < 12 || req.password.len() > 256 {
        return Err(invalid("password", "密码至少 12 位。", "The password needs at least 12 characters."));
    }
    let role = Role::parse(&req.role).ok_or_else(|| invalid("role", "角色无效。", "Unknown role."))?;
    let kind = ScopeKind::parse(&req.scope_kind).ok_or_else(|| invalid("scope_kind", "管辖范围类型无效。", "Unknown scope kind."))?;
    let code_ok = match kind {
        ScopeKind::Province => shenfen_domain::division::is_mainland_province(&req.scope_code),
        ScopeKind::District => req.scope_code.len() == 6 && shenfen_domain::division::is_known_code(&req.scope_code),
        ScopeKind::Point => state.store.point(&req.scope_code).await?.is_some(),
    };
    if !code_ok {
        return Err(invalid("scope_code", "管辖范围代码不存在。", "The scope code does not exist."));
    }
    // An administrator can only create accounts inside their own scope.
    let inside = match kind {
        ScopeKind::Province => user.0.scope.kind == ScopeKind::Province && user.0.scope.code == req.scope_code,
        ScopeKind::District => scope_covers(&state, &user.0, &req.scope_code).await?,
        ScopeKind::Point => match state.store.point(&req.scope_code).await? {
            Some(p) => scope_covers(&state, &user.0, &p.district_code).await?,
            None => false,
        },
    };
    if !inside {
        return Err(AppError::forbidden());
    }
    let password = req.password.clone();
    let password_hash = tokio::task::spawn_blocking(move || crate::accounts::hash_password(&password)).await.map_err(|e| anyhow::anyhow!(e))??;
    let staff = Staff {
        id: shenfen_store::new_id(),
        username: username.to_string(),
        password_hash,
        display_name: display_name.to_string(),
        role,
        scope: Scope { kind, code: req.scope_code.clone() },
        active: true,
        created_at: state.now_ms(),
    };
    state.store.insert_staff(&staff).await?;
    state
        .audit(&user.1.actor(), "staff.create", &format!("staff:{}", staff.id), serde_json::json!({ "username": staff.username, "role": role.as_str() }))
        .await?;
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
