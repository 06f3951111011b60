//! Point administration API (administrators, within their scope): points, their settings and per-day exceptions.
//! Rules live in `crate::point_admin`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shenfen_store::{AcceptancePoint, Role};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ErrorBody};
use crate::app::AppState;
use crate::auth::StaffUser;
use crate::error::AppResult;
use crate::point_admin::{self, ExceptionOutcome, ExceptionView, PointInput};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_point, update))
        .routes(routes!(list_exceptions))
        .routes(routes!(put_exception, delete_exception))
}

/// A point with every setting an administrator manages.
#[derive(Serialize, ToSchema)]
pub struct AdminPointView {
    pub id: String,
    pub name: String,
    pub address: String,
    pub phone: String,
    pub district_code: String,
    pub district_name: String,
    /// GCJ-02.
    pub lat: f64,
    pub lng: f64,
    pub opening_hours: String,
    pub services: Vec<String>,
    pub windows: i64,
    pub slot_minutes: i64,
    pub capacity_per_slot: i64,
    /// `open`, `busy`, `paused` or `closed`.
    pub status: String,
    pub status_reason: String,
    pub is_demo: bool,
}

impl From<&AcceptancePoint> for AdminPointView {
    fn from(p: &AcceptancePoint) -> Self {
        AdminPointView {
            id: p.id.clone(),
            name: p.name.clone(),
            address: p.address.clone(),
            phone: p.phone.clone(),
            district_code: p.district_code.clone(),
            district_name: shenfen_domain::division::full_name(&p.district_code).unwrap_or_default(),
            lat: p.lat_gcj02,
            lng: p.lng_gcj02,
            opening_hours: p.opening_hours.clone(),
            services: p.services.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            windows: p.windows,
            slot_minutes: p.slot_minutes,
            capacity_per_slot: p.capacity_per_slot,
            status: p.status.as_str().to_string(),
            status_reason: p.status_reason.clone(),
            is_demo: p.is_demo,
        }
    }
}

fn require_admin(user: &StaffUser) -> AppResult<()> {
    if user.0.role == Role::Admin { Ok(()) } else { Err(point_admin::not_admin()) }
}

/// The points this administrator manages.
#[utoipa::path(get, path = "/api/v1/admin/points", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<AdminPointView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list(State(state): State<AppState>, user: StaffUser) -> AppResult<Json<Vec<AdminPointView>>> {
    require_admin(&user)?;
    Ok(Json(point_admin::managed_points(&state, &user.0).await?.iter().map(AdminPointView::from).collect()))
}

/// Create an acceptance point (audited). Its slots are generated at once.
#[utoipa::path(post, path = "/api/v1/admin/points", tag = "admin", security(("bearer" = [])), request_body = PointInput,
    responses((status = 201, body = AdminPointView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(State(state): State<AppState>, user: StaffUser, ApiJson(input): ApiJson<PointInput>) -> AppResult<(StatusCode, Json<AdminPointView>)> {
    require_admin(&user)?;
    let p = point_admin::create_point(&state, &user.0, &input, &user.1.actor()).await?;
    Ok((StatusCode::CREATED, Json(AdminPointView::from(&p))))
}

#[utoipa::path(get, path = "/api/v1/admin/points/{id}", tag = "admin", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = AdminPointView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_point(State(state): State<AppState>, user: StaffUser, Path(id): Path<String>) -> AppResult<Json<AdminPointView>> {
    require_admin(&user)?;
    Ok(Json(AdminPointView::from(&point_admin::managed_point(&state, &user.0, &id).await?)))
}

/// Change a point's settings (audited). Future slots follow: booked seats are kept, unbooked ones the new hours no
/// longer offer are withdrawn, capacities change.
#[utoipa::path(put, path = "/api/v1/admin/points/{id}", tag = "admin", security(("bearer" = [])), params(("id" = String, Path)), request_body = PointInput,
    responses((status = 200, body = AdminPointView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(State(state): State<AppState>, user: StaffUser, Path(id): Path<String>, ApiJson(input): ApiJson<PointInput>) -> AppResult<Json<AdminPointView>> {
    require_admin(&user)?;
    let p = point_admin::update_point(&state, &user.0, &id, &input, &user.1.actor()).await?;
    Ok(Json(AdminPointView::from(&p)))
}

/// Per-day exceptions from today to the end of the booking horizon.
#[utoipa::path(get, path = "/api/v1/admin/points/{id}/exceptions", tag = "admin", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Vec<ExceptionView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_exceptions(State(state): State<AppState>, user: StaffUser, Path(id): Path<String>) -> AppResult<Json<Vec<ExceptionView>>> {
    require_admin(&user)?;
    let p = point_admin::managed_point(&state, &user.0, &id).await?;
    Ok(Json(point_admin::upcoming_exceptions(&state, &p).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionRequest {
    /// `closed` (value = reason), `extra_capacity` (value = extra seats per slot, 1–500) or `hours` (value = the
    /// day's hours, e.g. `09:00-12:00`).
    pub kind: String,
    #[serde(default)]
    pub value: String,
}

/// Set the exception of one day (audited). A closure cancels that day's bookings and tells each holder by SMS.
#[utoipa::path(put, path = "/api/v1/admin/points/{id}/exceptions/{day}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path), ("day" = String, Path, description = "YYYY-MM-DD")), request_body = ExceptionRequest,
    responses((status = 200, body = ExceptionOutcome), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_exception(State(state): State<AppState>, user: StaffUser, Path((id, day)): Path<(String, String)>, ApiJson(req): ApiJson<ExceptionRequest>) -> AppResult<Json<ExceptionOutcome>> {
    require_admin(&user)?;
    Ok(Json(point_admin::put_exception(&state, &user.0, &id, &day, &req.kind, &req.value, &user.1.actor()).await?))
}

/// Remove the exception of one day (audited); the day goes back to the regular hours.
#[utoipa::path(delete, path = "/api/v1/admin/points/{id}/exceptions/{day}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path), ("day" = String, Path, description = "YYYY-MM-DD")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_exception(State(state): State<AppState>, user: StaffUser, Path((id, day)): Path<(String, String)>) -> AppResult<StatusCode> {
    require_admin(&user)?;
    point_admin::delete_exception(&state, &user.0, &id, &day, &user.1.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
