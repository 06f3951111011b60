//! Point administration (administrators only, within their scope): create and edit acceptance points, set per-day
//! exceptions (closures, extra capacity, different hours), and keep the generated slots in step with both.
//!
//! Why slots are *reconciled* rather than regenerated: citizens already hold seats. A change never takes a seat
//! away from anyone — a slot that the new settings no longer offer is withdrawn (capacity 0) when nobody booked
//! it, or kept at exactly its bookings (full) when someone did. Only a whole-day closure cancels bookings, and then
//! each holder is told by SMS and the cancellation does not count against their monthly limit.
//! Pages (`pages/point_admin.rs`) and the API (`api/point_admin.rs`) both call these functions.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde::Deserialize;
use shenfen_domain::appointments::{self as rules, ExceptionKind, OpeningHours, Service, SlotPlan};
use shenfen_domain::calendar::WorkCalendar;
use shenfen_domain::geo::LatLng;
use shenfen_store::{AcceptancePoint, PointException, Role, Staff, new_id};
use time::Date;

use crate::app::{Actor, AppState};
use crate::appointments::{self as appts, day_key, local_now, parse_day, policy};
use crate::error::{AppError, AppResult};

/// What an administrator enters for a point. Strings as typed; [`PointInput::validate`] turns them into settings.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointInput {
    pub name: String,
    pub address: String,
    pub phone: String,
    /// 6-digit county-level division code (Anhui). Fixed once the point exists.
    pub district_code: String,
    /// Latitude in GCJ-02 (as Amap/Tencent show it).
    pub lat: f64,
    /// Longitude in GCJ-02.
    pub lng: f64,
    /// e.g. `mon-fri 09:00-12:00,13:30-17:00; sat 09:00-12:00`.
    pub opening_hours: String,
    /// Service codes: `first_issue`, `renewal`, `replacement`, `photo_capture`, `pickup`.
    pub services: Vec<String>,
    pub windows: i64,
    pub slot_minutes: i64,
    pub capacity_per_slot: i64,
}

fn invalid(field: &'static str, code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> AppError {
    AppError::invalid(code, zh, en).on_field(field)
}

fn text(value: &str, field: &'static str, max: usize, zh_name: &str, en_name: &str) -> AppResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(field, "required", format!("请填写{zh_name}。"), format!("Enter the {en_name}.")));
    }
    if v.chars().count() > max || v.chars().any(|c| c.is_control()) {
        return Err(invalid(field, "too_long", format!("{zh_name}最多 {max} 个字，且不能含控制字符。"), format!("The {en_name} may have at most {max} characters and no control characters.")));
    }
    Ok(v.to_string())
}

impl PointInput {
    /// Checks every field; the first problem is reported with its field. `existing` keeps the district fixed.
    pub fn validate(&self, existing: Option<&AcceptancePoint>) -> AppResult<AcceptancePoint> {
        let name = text(&self.name, "name", 60, "名称", "name")?;
        let address = text(&self.address, "address", 120, "地址", "address")?;
        let phone = self.phone.trim();
        let phone_ok = (5..=20).contains(&phone.len()) && phone.chars().all(|c| c.is_ascii_digit() || c == '-' || c == ' ');
        if !phone_ok {
            return Err(invalid("phone", "phone_invalid", "电话只能包含数字和连字符（5–20 位），如 0551-12345678。", "The phone number may contain digits and hyphens only (5–20), e.g. 0551-12345678."));
        }
        let district_code = match existing {
            Some(p) => p.district_code.clone(),
            None => {
                let code = self.district_code.trim();
                if shenfen_domain::division::anhui_division(code).is_none() || code.ends_with("00") {
                    return Err(invalid("district_code", "district_unknown", "请选择安徽省内的县级行政区划代码（6 位）。", "Choose a county-level division code in Anhui (6 digits)."));
                }
                code.to_string()
            }
        };
        let location = shenfen_domain::navigation::check_location(LatLng { lat: self.lat, lng: self.lng })
            .map_err(|e| invalid("lat", e.code(), e.message_zh(), e.message_en()))?;
        let hours = OpeningHours::parse(&self.opening_hours).map_err(|e| invalid("opening_hours", e.code(), e.message_zh(), e.message_en()))?;
        let services = Service::parse_list(&self.services.join(",")).map_err(|e| invalid("services", e.code(), e.message_zh(), e.message_en()))?;
        if !(1..=100).contains(&self.windows) {
            return Err(invalid("windows", "windows_range", "窗口数应在 1 到 100 之间。", "Windows must be between 1 and 100."));
        }
        let plan = SlotPlan::new(u32::try_from(self.slot_minutes).unwrap_or(0), u32::try_from(self.capacity_per_slot).unwrap_or(0))
            .map_err(|e| invalid(if e.code().contains("capacity") { "capacity_per_slot" } else { "slot_minutes" }, e.code(), e.message_zh(), e.message_en()))?;
        let now = 0;
        let mut p = match existing {
            Some(p) => p.clone(),
            None => AcceptancePoint::with_defaults(format!("pt-{}", new_id()), String::new(), district_code.clone(), String::new(), String::new(), 0.0, 0.0, false, now),
        };
        p.name = name;
        p.address = address;
        p.phone = phone.to_string();
        p.district_code = district_code;
        p.lat_gcj02 = location.lat;
        p.lng_gcj02 = location.lng;
        p.opening_hours = hours.format();
        p.services = Service::format_list(&services);
        p.windows = self.windows;
        p.slot_minutes = plan.slot_minutes() as i64;
        p.capacity_per_slot = plan.capacity_per_slot() as i64;
        Ok(p)
    }

    pub fn from_point(p: &AcceptancePoint) -> PointInput {
        PointInput {
            name: p.name.clone(),
            address: p.address.clone(),
            phone: p.phone.clone(),
            district_code: p.district_code.clone(),
            lat: p.lat_gcj02,
            lng: p.lng_gcj02,
            opening_hours: p.opening_hours.clone(),
            services: p.services.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            windows: p.windows,
            slot_minutes: p.slot_minutes,
            capacity_per_slot: p.capacity_per_slot,
        }
    }
}

/// Administrators manage the points their scope covers; nobody else manages points.
pub async fn may_manage(state: &AppState, staff: &Staff, district_code: &str) -> AppResult<bool> {
    if staff.role != Role::Admin {
        return Ok(false);
    }
    crate::auth::scope_covers(state, staff, district_code).await
}

async fn require_manage(state: &AppState, staff: &Staff, district_code: &str) -> AppResult<()> {
    if may_manage(state, staff, district_code).await? { Ok(()) } else { Err(AppError::forbidden()) }
}

/// The points this administrator manages, by name.
pub async fn managed_points(state: &AppState, staff: &Staff) -> AppResult<Vec<AcceptancePoint>> {
    let mut out = Vec::new();
    for p in state.store.list_points().await? {
        if may_manage(state, staff, &p.district_code).await? {
            out.push(p);
        }
    }
    out.sort_by(|a, b| a.district_code.cmp(&b.district_code).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

/// A point this administrator may manage, or 404/403.
pub async fn managed_point(state: &AppState, staff: &Staff, id: &str) -> AppResult<AcceptancePoint> {
    let p = appts::point(state, id).await?;
    require_manage(state, staff, &p.district_code).await?;
    Ok(p)
}

pub async fn create_point(state: &AppState, staff: &Staff, input: &PointInput, actor: &Actor) -> AppResult<AcceptancePoint> {
    let mut p = input.validate(None)?;
    require_manage(state, staff, &p.district_code).await?;
    let now = state.now_ms();
    p.created_at = now;
    p.status_changed_at = now;
    state.store.insert_point(&p).await?;
    // `insert_point` stores the identity; the settings columns are written by `update_point`.
    state.store.update_point(&p).await?;
    state.audit(actor, "point.create", &format!("point:{}", p.id), serde_json::json!({ "name": p.name, "district": p.district_code })).await?;
    reconcile_slots(state, &p).await?;
    Ok(p)
}

pub async fn update_point(state: &AppState, staff: &Staff, id: &str, input: &PointInput, actor: &Actor) -> AppResult<AcceptancePoint> {
    let current = managed_point(state, staff, id).await?;
    let p = input.validate(Some(&current))?;
    state.store.update_point(&p).await?;
    state
        .audit(
            actor,
            "point.update",
            &format!("point:{}", p.id),
            serde_json::json!({
                "opening_hours": p.opening_hours, "services": p.services, "windows": p.windows,
                "slot_minutes": p.slot_minutes, "capacity_per_slot": p.capacity_per_slot,
            }),
        )
        .await?;
    reconcile_slots(state, &p).await?;
    Ok(p)
}

/// A per-day exception as shown to administrators.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ExceptionView {
    pub day: String,
    /// `closed`, `extra_capacity` or `hours`.
    pub kind: String,
    /// The reason, the extra seats per slot, or the day's hours.
    pub value: String,
}

/// The exceptions from today to the end of the booking horizon.
pub async fn upcoming_exceptions(state: &AppState, p: &AcceptancePoint) -> AppResult<Vec<ExceptionView>> {
    let (first, last) = horizon(state);
    let rows = state.store.exceptions(&p.id, &day_key(first), &day_key(last)).await?;
    Ok(rows.into_iter().map(|e| ExceptionView { day: e.day, kind: e.kind.as_str().to_string(), value: e.value }).collect())
}

/// First and last date of the booking horizon (today .. the last generated day).
pub fn horizon(state: &AppState) -> (Date, Date) {
    let today = local_now(state).date();
    let days = rules::slot_days(today, policy(state).horizon_working_days, WorkCalendar::official());
    (today, days.last().copied().unwrap_or(today))
}

/// What setting an exception did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ExceptionOutcome {
    pub day: String,
    /// Appointments cancelled because the office closes that day (their holders were told by SMS).
    pub cancelled_appointments: usize,
}

/// Sets (or replaces) the exception of one day within the booking horizon.
pub async fn put_exception(state: &AppState, staff: &Staff, point_id: &str, day: &str, kind: &str, value: &str, actor: &Actor) -> AppResult<ExceptionOutcome> {
    let p = managed_point(state, staff, point_id).await?;
    let date = parse_day(day).map_err(|e| e.on_field("day"))?;
    let (first, last) = horizon(state);
    if date < first || date > last {
        return Err(invalid("day", "day_outside_horizon", format!("日期应在 {} 至 {} 之间。", day_key(first), day_key(last)), format!("The date must be between {} and {}.", day_key(first), day_key(last))));
    }
    let kind = ExceptionKind::from_parts(kind, value).map_err(|e| invalid("value", e.code(), e.message_zh(), e.message_en()))?;
    // Citizens whose bookings a closure cancels are told why.
    if matches!(&kind, ExceptionKind::Closed { reason } if reason.trim().is_empty()) {
        return Err(invalid("value", "reason_required", "停办请填写原因（将告知已预约的群众）。", "Give the reason for the closure (people with bookings are told)."));
    }
    let store_kind = shenfen_store::ExceptionKind::parse(kind.code()).ok_or_else(|| invalid("kind", "exception_kind", "未知的特殊日期类型。", "Unknown exception kind."))?;
    let key = day_key(date);
    let now = state.now_ms();
    state.store.put_exception(&PointException { point_id: p.id.clone(), day: key.clone(), kind: store_kind, value: kind.value_text() }, now).await?;
    let mut cancelled = Vec::new();
    if let ExceptionKind::Closed { reason } = &kind {
        cancelled = state.store.cancel_for_closure(&p.id, &key, now).await?;
        for a in &cancelled {
            if let Some(c) = state.store.citizen(&a.citizen_id).await? {
                let vars = crate::notify::templates::vars([("reason", reason.clone()), ("point", p.name.clone()), ("day", key.clone()), ("code", a.code.clone())]);
                appts::notify_citizen(state, &c, crate::notify::EventKind::AppointmentClosure, format!("appointment:{}:closure:{key}", a.id), vars).await;
            }
        }
    }
    state
        .audit(actor, "point.exception.put", &format!("point:{}", p.id), serde_json::json!({ "day": key, "kind": kind.code(), "value": kind.value_text(), "cancelled": cancelled.len() }))
        .await?;
    reconcile_slots(state, &p).await?;
    Ok(ExceptionOutcome { day: key, cancelled_appointments: cancelled.len() })
}

pub async fn delete_exception(state: &AppState, staff: &Staff, point_id: &str, day: &str, actor: &Actor) -> AppResult<()> {
    let p = managed_point(state, staff, point_id).await?;
    let date = parse_day(day).map_err(|e| e.on_field("day"))?;
    state.store.delete_exception(&p.id, &day_key(date)).await?;
    state.audit(actor, "point.exception.delete", &format!("point:{}", p.id), serde_json::json!({ "day": day_key(date) })).await?;
    reconcile_slots(state, &p).await?;
    Ok(())
}

/// Brings the future slots of the booking horizon in line with the point's settings and exceptions: creates the
/// missing ones, resizes the rest, and withdraws (capacity 0) the unbooked ones no longer offered. Booked seats are
/// never removed. Idempotent; returns how many slots changed.
pub async fn reconcile_slots(state: &AppState, p: &AcceptancePoint) -> AppResult<u64> {
    let created = appts::ensure_slots(state, p).await?;
    let (first, last) = horizon(state);
    let planned: HashMap<(String, i64), i64> = appts::planned_slots(state, p, first, last)
        .await?
        .into_iter()
        .map(|s| ((s.day, s.start_min), s.capacity))
        .collect();
    let now = state.now_ms();
    let changes: Vec<(String, i64)> = state
        .store
        .slots(&p.id, &day_key(first), &day_key(last))
        .await?
        .into_iter()
        .filter(|s| s.starts_at > now)
        .filter_map(|s| {
            let target = planned.get(&(s.day.clone(), s.start_min)).copied().unwrap_or(0);
            (target.max(s.booked) != s.capacity).then_some((s.id, target))
        })
        .collect();
    let resized = state.store.set_slot_capacities(&changes).await?;
    state.live_loads.invalidate();
    Ok(created + resized)
}

/// Error for an admin page or API call by someone who is not an administrator.
pub fn not_admin() -> AppError {
    AppError::new(StatusCode::FORBIDDEN, "forbidden", "仅管理员可以管理受理点。", "Only administrators manage acceptance points.")
}
