//! Acceptance points, live load, slots, appointments and the counter queue.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shenfen_domain::geo::LatLng;
use shenfen_domain::navigation::{NavLinks, TravelMode};
use shenfen_store::{Appointment, Slot};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ErrorBody};
use crate::app::AppState;
use crate::appointments::{self as appts, PointLoad, Suggestion, TicketView};
use crate::auth::{CitizenUser, StaffUser};
use crate::error::{AppError, AppResult};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_points))
        .routes(routes!(point_detail))
        .routes(routes!(point_slots))
        .routes(routes!(suggestions))
        .routes(routes!(book, my_appointments))
        .routes(routes!(cancel))
        .routes(routes!(reschedule))
        .routes(routes!(set_status))
        .routes(routes!(check_in))
        .routes(routes!(walk_in))
        .routes(routes!(call_next))
        .routes(routes!(finish_ticket))
        .routes(routes!(queue_board))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NearQuery {
    /// Latitude in WGS-84, as browsers' geolocation reports it.
    pub lat: Option<f64>,
    /// Longitude in WGS-84.
    pub lng: Option<f64>,
    /// A 6-digit district code, used instead of a location (its centre) when location is refused.
    pub district: Option<String>,
}

/// The citizen's position in GCJ-02: from a WGS-84 location, or from a chosen district's centre.
pub fn origin(q: &NearQuery) -> AppResult<Option<LatLng>> {
    match (q.lat, q.lng, q.district.as_deref().filter(|d| !d.is_empty())) {
        (Some(lat), Some(lng), _) => Ok(Some(appts::citizen_location(lat, lng)?)),
        (None, None, Some(code)) => {
            let d = shenfen_domain::division::anhui_division(code)
                .and_then(|d| d.center)
                .ok_or_else(|| AppError::invalid("district_unknown", "没有这个区县。", "Unknown district.").on_field("district"))?;
            Ok(Some(d))
        }
        (None, None, None) => Ok(None),
        _ => Err(AppError::invalid("location_malformed", "位置需要同时提供纬度和经度。", "Give both lat and lng.").on_field("location")),
    }
}

#[derive(Serialize, ToSchema)]
pub struct PointSummary {
    pub id: String,
    pub name: String,
    pub district_code: String,
    pub address: String,
    pub phone: String,
    /// GCJ-02 latitude.
    pub lat: f64,
    /// GCJ-02 longitude.
    pub lng: f64,
    /// Metres from the given location or district centre.
    pub distance_m: Option<u32>,
    pub is_demo: bool,
    pub load: PointLoad,
}

/// Acceptance points with today's live load, nearest first when a location or district is given.
#[utoipa::path(get, path = "/api/v1/points", tag = "appointments", params(NearQuery),
    responses((status = 200, body = Vec<PointSummary>), (status = 422, body = ErrorBody, description = "malformed or out-of-China location")))]
async fn list_points(State(state): State<AppState>, Query(q): Query<NearQuery>) -> AppResult<Json<Vec<PointSummary>>> {
    Ok(Json(points_near(&state, origin(&q)?).await?))
}

pub async fn points_near(state: &AppState, near: Option<LatLng>) -> AppResult<Vec<PointSummary>> {
    let mut list: Vec<PointSummary> = appts::loads_today(state)
        .await?
        .iter()
        .map(|(p, load)| PointSummary {
            distance_m: near.map(|o| shenfen_domain::geo::distance_m(o, LatLng { lat: p.lat_gcj02, lng: p.lng_gcj02 }).round() as u32),
            id: p.id.clone(),
            name: p.name.clone(),
            district_code: p.district_code.clone(),
            address: p.address.clone(),
            phone: p.phone.clone(),
            lat: p.lat_gcj02,
            lng: p.lng_gcj02,
            is_demo: p.is_demo,
            load: load.clone(),
        })
        .collect();
    if near.is_some() {
        list.sort_by_key(|p| (p.distance_m, p.id.clone()));
    }
    Ok(list)
}

#[derive(Serialize, ToSchema)]
pub struct PointDetail {
    #[serde(flatten)]
    pub summary: PointSummary,
    /// Weekly hours in the compact form, e.g. `mon-fri 09:00-12:00,13:30-17:00`.
    pub opening_hours: String,
    /// Service codes offered.
    pub services: Vec<String>,
    pub windows: i64,
    pub slot_minutes: i64,
    #[schema(value_type = Object)]
    pub navigation: NavLinks,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DetailQuery {
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub district: Option<String>,
    /// `walk`, `transit` or `drive` (default `transit`).
    pub mode: Option<String>,
}

/// One point: hours, services, live load and navigation links for Amap, Baidu and Tencent Maps.
#[utoipa::path(get, path = "/api/v1/points/{id}", tag = "appointments", params(("id" = String, Path), DetailQuery),
    responses((status = 200, body = PointDetail), (status = 404, body = ErrorBody)))]
async fn point_detail(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<DetailQuery>) -> AppResult<Json<PointDetail>> {
    let near = origin(&NearQuery { lat: q.lat, lng: q.lng, district: q.district.clone() })?;
    let mode = match q.mode.as_deref() {
        None => TravelMode::Transit,
        Some(m) => TravelMode::from_code(m).ok_or_else(|| AppError::invalid("mode_invalid", "出行方式只能是 walk、transit 或 drive。", "mode must be walk, transit or drive.").on_field("mode"))?,
    };
    let p = appts::point(&state, &id).await?;
    let summary = points_near(&state, near).await?.into_iter().find(|s| s.id == p.id).ok_or_else(AppError::not_found)?;
    Ok(Json(PointDetail {
        summary,
        opening_hours: p.opening_hours.clone(),
        services: p.services.split(',').map(str::to_string).collect(),
        windows: p.windows,
        slot_minutes: p.slot_minutes,
        navigation: appts::nav_links_for(&p, near, mode),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct SlotView {
    pub id: String,
    pub day: String,
    /// Local start time `HH:MM` (China time).
    pub start: String,
    pub end: String,
    pub capacity: i64,
    pub remaining: i64,
    /// Whether it can still be booked now (lead time, point status).
    pub bookable: bool,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// First day, `YYYY-MM-DD` (default today).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: 14 days after `from`; at most 31 days).
    pub to: Option<String>,
}

pub fn slot_view(state: &AppState, s: &Slot, point_ok: bool) -> SlotView {
    let bookable = point_ok && s.booked < s.capacity && appts::policy(state).check_bookable(appts::ms_to_local(s.starts_at), appts::local_now(state)).is_ok();
    SlotView { id: s.id.clone(), day: s.day.clone(), start: appts::hhmm(s.start_min), end: appts::hhmm(s.end_min), capacity: s.capacity, remaining: (s.capacity - s.booked).max(0), bookable }
}

/// Bookable slots of a point.
#[utoipa::path(get, path = "/api/v1/points/{id}/slots", tag = "appointments", params(("id" = String, Path), RangeQuery),
    responses((status = 200, body = Vec<SlotView>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn point_slots(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<RangeQuery>) -> AppResult<Json<Vec<SlotView>>> {
    let p = appts::point(&state, &id).await?;
    let from = match &q.from {
        Some(d) => appts::parse_day(d)?,
        None => appts::local_now(&state).date(),
    };
    let to = match &q.to {
        Some(d) => appts::parse_day(d)?,
        None => from + time::Duration::days(14),
    };
    if to < from || (to - from).whole_days() > 31 {
        return Err(AppError::invalid("range_invalid", "日期范围无效（最多 31 天）。", "Invalid date range (at most 31 days).").on_field("to"));
    }
    let serving = matches!(p.status, shenfen_store::PointStatus::Open | shenfen_store::PointStatus::Busy);
    let slots = state.store.slots(&p.id, &appts::day_key(from), &appts::day_key(to)).await?;
    // Withdrawn slots (capacity 0, see `point_admin::reconcile_slots`) are not offered.
    Ok(Json(slots.iter().filter(|s| s.capacity > 0).map(|s| slot_view(&state, s, serving)).collect()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestQuery {
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub district: Option<String>,
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Service code, e.g. `renewal`.
    pub service: String,
}

/// Load-aware recommendation (错峰分流): points and times with room, ranked by distance and expected wait.
#[utoipa::path(get, path = "/api/v1/suggestions", tag = "appointments", params(SuggestQuery),
    responses((status = 200, body = Vec<Suggestion>), (status = 422, body = ErrorBody)))]
async fn suggestions(State(state): State<AppState>, Query(q): Query<SuggestQuery>) -> AppResult<Json<Vec<Suggestion>>> {
    let near = origin(&NearQuery { lat: q.lat, lng: q.lng, district: q.district.clone() })?
        .ok_or_else(|| AppError::invalid("location_required", "请提供位置或选择区县。", "Give a location or choose a district.").on_field("location"))?;
    let day = appts::parse_day(&q.day)?;
    let service = appts::parse_service(&q.service)?;
    Ok(Json(appts::suggestions(&state, near, day, service, 10).await?))
}

#[derive(Serialize, ToSchema)]
pub struct AppointmentView {
    pub id: String,
    /// Show as QR code; counter staff scan or type it to check in.
    pub code: String,
    pub point_id: String,
    pub slot_id: String,
    pub service: String,
    /// `booked`, `checked_in`, `completed`, `cancelled` or `no_show`.
    pub status: String,
}

impl From<&Appointment> for AppointmentView {
    fn from(a: &Appointment) -> Self {
        AppointmentView { id: a.id.clone(), code: a.code.clone(), point_id: a.point_id.clone(), slot_id: a.slot_id.clone(), service: a.service.clone(), status: a.status.as_str().into() }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookRequest {
    pub slot_id: String,
    /// `first_issue`, `renewal`, `replacement`, `photo_capture` or `pickup`.
    pub service: String,
}

/// Book a slot. Never overbooks: the capacity check and the booking are one atomic statement.
#[utoipa::path(post, path = "/api/v1/appointments", tag = "appointments", security(("bearer" = [])), request_body = BookRequest,
    responses((status = 201, body = AppointmentView), (status = 409, body = ErrorBody, description = "slot_full, already_booked"),
        (status = 403, body = ErrorBody, description = "booking_suspended, verification_required"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn book(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, ApiJson(req): ApiJson<BookRequest>) -> AppResult<(StatusCode, Json<AppointmentView>)> {
    let a = appts::book(&state, &citizen, &req.slot_id, &req.service, &user.actor()).await?;
    Ok((StatusCode::CREATED, Json(AppointmentView::from(&a))))
}

/// The signed-in citizen's appointments, newest first.
#[utoipa::path(get, path = "/api/v1/appointments", tag = "appointments", security(("bearer" = [])),
    responses((status = 200, body = Vec<AppointmentView>), (status = 401, body = ErrorBody)))]
async fn my_appointments(State(state): State<AppState>, CitizenUser(citizen, _): CitizenUser) -> AppResult<Json<Vec<AppointmentView>>> {
    Ok(Json(state.store.appointments_of(&citizen.id).await?.iter().map(AppointmentView::from).collect()))
}

/// Cancel an appointment (until the cut-off before its start).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/cancel", tag = "appointments", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = AppointmentView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn cancel(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, Path(id): Path<String>) -> AppResult<Json<AppointmentView>> {
    Ok(Json(AppointmentView::from(&appts::cancel(&state, &citizen, &id, &user.actor()).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    pub slot_id: String,
}

/// Move an appointment to another slot (until the cut-off).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/reschedule", tag = "appointments", security(("bearer" = [])), params(("id" = String, Path)), request_body = RescheduleRequest,
    responses((status = 200, body = AppointmentView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reschedule(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, Path(id): Path<String>, ApiJson(req): ApiJson<RescheduleRequest>) -> AppResult<Json<AppointmentView>> {
    Ok(Json(AppointmentView::from(&appts::reschedule(&state, &citizen, &id, &req.slot_id, &user.actor()).await?)))
}

async fn counter_point(state: &AppState, user: &StaffUser, id: &str) -> AppResult<shenfen_store::AcceptancePoint> {
    let p = appts::point(state, id).await?;
    if !appts::may_run_counter(state, &user.0, &p).await? {
        return Err(AppError::forbidden());
    }
    Ok(p)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `open`, `busy`, `paused` or `closed`.
    pub status: String,
    #[serde(default)]
    pub reason: String,
    /// Expected reopening, UTC unix milliseconds.
    pub until: Option<i64>,
}

/// Change a point's live status (counter staff of the point, administrators in scope; audited).
#[utoipa::path(put, path = "/api/v1/points/{id}/status", tag = "counter", security(("bearer" = [])), params(("id" = String, Path)), request_body = StatusRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_status(State(state): State<AppState>, user: StaffUser, Path(id): Path<String>, ApiJson(req): ApiJson<StatusRequest>) -> AppResult<StatusCode> {
    let p = counter_point(&state, &user, &id).await?;
    appts::set_status(&state, &p, &req.status, &req.reason, req.until, &user.1.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    /// The 8-character appointment code (from the QR code).
    pub code: String,
}

/// Check an appointment holder in and issue an `A` queue ticket.
#[utoipa::path(post, path = "/api/v1/points/{id}/check-ins", tag = "counter", security(("bearer" = [])), params(("id" = String, Path)), request_body = CheckInRequest,
    responses((status = 201, body = TicketView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody, description = "invalid_check_in")))]
async fn check_in(State(state): State<AppState>, user: StaffUser, Path(id): Path<String>, ApiJson(req): ApiJson<CheckInRequest>) -> AppResult<(StatusCode, Json<TicketView>)> {
    let p = counter_point(&state, &user, &id).await?;
    let t = appts::check_in(&state, &p, &req.code, &user.1.actor()).await?;
    Ok((StatusCode::CREATED, Json(TicketView::from(&t))))
}

/// Issue a walk-in `W` queue ticket.
#[utoipa::path(post, path = "/api/v1/points/{id}/walk-ins", tag = "counter", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 201, body = TicketView), (status = 403, body = ErrorBody)))]
async fn walk_in(State(state): State<AppState>, user: StaffUser, Path(id): Path<String>) -> AppResult<(StatusCode, Json<TicketView>)> {
    let p = counter_point(&state, &user, &id).await?;
    Ok((StatusCode::CREATED, Json(TicketView::from(&appts::walk_in(&state, &p, &user.1.actor()).await?))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    /// Window number, 1..=windows.
    pub window: i64,
}

/// Call the next ticket at a window (appointment holders first, but walk-ins are never starved).
#[utoipa::path(post, path = "/api/v1/points/{id}/calls", tag = "counter", security(("bearer" = [])), params(("id" = String, Path)), request_body = CallRequest,
    responses((status = 200, body = TicketView), (status = 204, description = "nobody is waiting"), (status = 403, body = ErrorBody)))]
async fn call_next(State(state): State<AppState>, user: StaffUser, Path(id): Path<String>, ApiJson(req): ApiJson<CallRequest>) -> AppResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let p = counter_point(&state, &user, &id).await?;
    Ok(match appts::call_next(&state, &p, req.window, &user.1.actor()).await? {
        Some(t) => Json(TicketView::from(&t)).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishRequest {
    /// true when served, false when the person did not come (skipped).
    pub served: bool,
}

/// Finish a called ticket.
#[utoipa::path(post, path = "/api/v1/points/{id}/tickets/{ticket}/finish", tag = "counter", security(("bearer" = [])),
    params(("id" = String, Path), ("ticket" = String, Path)), request_body = FinishRequest,
    responses((status = 200, body = TicketView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn finish_ticket(State(state): State<AppState>, user: StaffUser, Path((id, ticket)): Path<(String, String)>, ApiJson(req): ApiJson<FinishRequest>) -> AppResult<Json<TicketView>> {
    let p = counter_point(&state, &user, &id).await?;
    Ok(Json(TicketView::from(&appts::finish(&state, &p, &ticket, req.served, &user.1.actor()).await?)))
}

#[derive(Serialize, ToSchema)]
pub struct QueueBoard {
    pub point_id: String,
    /// Tickets now being served, newest call first.
    pub called: Vec<TicketView>,
    pub waiting: u32,
}

/// The public queue display of a point: numbers being called and how many wait.
#[utoipa::path(get, path = "/api/v1/points/{id}/queue", tag = "counter", params(("id" = String, Path)),
    responses((status = 200, body = QueueBoard), (status = 404, body = ErrorBody)))]
async fn queue_board(State(state): State<AppState>, Path(id): Path<String>) -> AppResult<Json<QueueBoard>> {
    Ok(Json(board(&state, &id).await?))
}

pub async fn board(state: &AppState, id: &str) -> AppResult<QueueBoard> {
    let p = appts::point(state, id).await?;
    let today = appts::day_key(appts::local_now(state).date());
    let tickets = state.store.tickets(&p.id, &today).await?;
    let mut called: Vec<_> = tickets.iter().filter(|t| t.status == shenfen_store::TicketStatus::Called).collect();
    called.sort_by_key(|t| std::cmp::Reverse(t.called_at));
    Ok(QueueBoard {
        point_id: p.id.clone(),
        called: called.into_iter().map(TicketView::from).collect(),
        waiting: tickets.iter().filter(|t| t.status == shenfen_store::TicketStatus::Waiting).count() as u32,
    })
}
