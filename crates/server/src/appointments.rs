//! Smart appointments (智能预约): slot generation from each point's hours and the holiday calendar, live load,
//! booking/rescheduling/cancelling, load-aware recommendations, and the counter queue. Pages and the JSON API both
//! call these functions; the pure rules live in `shenfen_domain::{appointments, load, recommend, queue, navigation}`
//! and the race-free statements in `shenfen_store::appointments`.

use std::sync::Arc;

use axum::http::StatusCode;
use serde::Serialize;
use shenfen_domain::appointments::{self as rules, BookingPolicy, BookingRuleError, DayException, ExceptionKind, OpeningHours, Service, SlotPlan};
use shenfen_domain::calendar::WorkCalendar;
use shenfen_domain::geo::LatLng;
use shenfen_domain::load::{LoadLevel, LoadSnapshot};
use shenfen_domain::navigation::{NavConfig, NavLinks, Place, TravelMode};
use shenfen_domain::queue;
use shenfen_store::{AcceptancePoint, Appointment, AppointmentStatus, Citizen, NewAppointment, NewSlot, PointStatus, Slot, StoreError, Ticket, TicketKind, TicketStatus, Verification};
use time::macros::offset;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use crate::app::{Actor, AppState};
use crate::error::{AppError, AppResult};
use crate::notify::{self, EventKind};

/// Average minutes a counter needs per person, for wait estimates.
pub const AVG_SERVICE_MINUTES: u32 = 8;

pub fn policy(state: &AppState) -> BookingPolicy {
    state.config.appointments.clone()
}

// ----- time in China Standard Time --------------------------------------------------------------

pub fn local_now(state: &AppState) -> PrimitiveDateTime {
    let t = OffsetDateTime::from_unix_timestamp(state.now_ms().div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH).to_offset(offset!(+8));
    PrimitiveDateTime::new(t.date(), t.time())
}

pub fn local_to_ms(t: PrimitiveDateTime) -> i64 {
    t.assume_offset(offset!(+8)).unix_timestamp() * 1000
}

pub fn ms_to_local(ms: i64) -> PrimitiveDateTime {
    let t = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH).to_offset(offset!(+8));
    PrimitiveDateTime::new(t.date(), t.time())
}

pub fn day_key(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

pub fn parse_day(s: &str) -> AppResult<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &fmt).map_err(|_| AppError::invalid("day_invalid", "日期格式应为 YYYY-MM-DD。", "Dates must look like YYYY-MM-DD.").on_field("day"))
}

fn slot_start(slot: &Slot) -> PrimitiveDateTime {
    ms_to_local(slot.starts_at)
}

// ----- error mapping ----------------------------------------------------------------------------

fn rule_error(e: BookingRuleError) -> AppError {
    let status = match e {
        BookingRuleError::SlotFull => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    AppError::new(status, e.code(), e.message_zh(), e.message_en())
}

fn booking_store_error(e: StoreError) -> AppError {
    match e {
        StoreError::Conflict("slot_full") => rule_error(BookingRuleError::SlotFull),
        StoreError::Conflict("slot_past") => rule_error(BookingRuleError::SlotPast),
        StoreError::Conflict("already_booked") => AppError::new(
            StatusCode::CONFLICT,
            "already_booked",
            "您已有该业务的有效预约，请先取消或改约。",
            "You already hold an active appointment for this service; cancel or reschedule it first.",
        ),
        StoreError::Conflict("booking_suspended") => AppError::new(
            StatusCode::FORBIDDEN,
            "booking_suspended",
            "您本月取消预约次数已达上限，本月暂停预约，下月恢复。",
            "You have cancelled too many appointments this month; booking is suspended until next month.",
        ),
        StoreError::Conflict("same_slot") => AppError::invalid("same_slot", "新时段与原时段相同。", "That is the slot you already have."),
        StoreError::NotFound => slot_not_found(),
        other => other.into(),
    }
}

fn slot_not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "slot_not_found", "该预约时段不存在。", "This slot does not exist.")
}

fn point_not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "point_not_found", "该受理点不存在。", "This acceptance point does not exist.")
}

fn appointment_not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "appointment_not_found", "没有找到您的这条预约。", "No such appointment of yours.")
}

pub async fn point(state: &AppState, id: &str) -> AppResult<AcceptancePoint> {
    if id.len() > 64 {
        return Err(point_not_found());
    }
    state.store.point(id).await?.ok_or_else(point_not_found)
}

// ----- slot generation --------------------------------------------------------------------------

fn hours_of(p: &AcceptancePoint) -> OpeningHours {
    OpeningHours::parse(&p.opening_hours).unwrap_or_else(|e| {
        tracing::warn!(point = %p.id, error = %e.message_en(), "invalid opening hours; treating the point as closed");
        OpeningHours::parse("").unwrap_or_else(|_| OpeningHours::standard())
    })
}

fn plan_of(p: &AcceptancePoint) -> Option<SlotPlan> {
    SlotPlan::new(p.slot_minutes as u32, p.capacity_per_slot as u32).ok()
}

async fn day_exceptions(state: &AppState, point_id: &str, from: Date, to: Date) -> AppResult<Vec<DayException>> {
    let rows = state.store.exceptions(point_id, &day_key(from), &day_key(to)).await?;
    Ok(rows
        .into_iter()
        .filter_map(|e| {
            let date = parse_day(&e.day).ok()?;
            let kind = ExceptionKind::from_parts(e.kind.as_str(), &e.value).ok()?;
            Some(DayException { date, kind })
        })
        .collect())
}

/// The slots the point's settings and exceptions offer on the days `first..=last` (nothing is stored).
pub async fn planned_slots(state: &AppState, p: &AcceptancePoint, first: Date, last: Date) -> AppResult<Vec<NewSlot>> {
    let Some(plan) = plan_of(p) else { return Ok(Vec::new()) };
    let calendar = WorkCalendar::official();
    let exceptions = day_exceptions(state, &p.id, first, last).await?;
    let hours = hours_of(p);
    let mut slots = Vec::new();
    let mut day = first;
    while day <= last {
        for spec in rules::slots_for_day(&hours, &plan, day, calendar, &exceptions) {
            slots.push(NewSlot {
                point_id: p.id.clone(),
                day: day_key(spec.date),
                start_min: spec.start_minute() as i64,
                end_min: spec.end_minute() as i64,
                starts_at: local_to_ms(spec.starts_at()),
                capacity: spec.capacity as i64,
            });
        }
        day = day.next_day().unwrap_or(Date::MAX);
    }
    Ok(slots)
}

/// Creates the slots of the booking horizon that do not exist yet. Idempotent, safe on every instance at once.
/// (Changes to existing slots are `point_admin::reconcile_slots`' job.)
pub async fn ensure_slots(state: &AppState, p: &AcceptancePoint) -> AppResult<u64> {
    let today = local_now(state).date();
    let days = rules::slot_days(today, policy(state).horizon_working_days, WorkCalendar::official());
    let (Some(first), Some(last)) = (days.first().copied(), days.last().copied()) else { return Ok(0) };
    let slots = planned_slots(state, p, first, last).await?;
    Ok(state.store.ensure_slots(&slots).await?)
}

pub async fn ensure_all_slots(state: &AppState) -> AppResult<u64> {
    let mut created = 0;
    for p in state.store.list_points().await? {
        created += ensure_slots(state, &p).await?;
    }
    Ok(created)
}

// ----- live load --------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PointLoad {
    pub point_id: String,
    /// `open`, `busy`, `paused` or `closed`.
    pub status: String,
    pub status_reason: String,
    pub booked_today: u32,
    pub capacity_today: u32,
    pub waiting_now: u32,
    /// `None` when people wait and no window is open.
    pub estimated_wait_minutes: Option<u32>,
    /// `idle`, `normal`, `busy` or `full`.
    pub level: String,
    /// Heat-map colour (hex) for the level.
    pub color: String,
}

/// How long an instance reuses today's computed loads. The public list and map refresh every 15 s and a crowd
/// opening them at once is exactly the surge to survive, so each instance reads the loads from the database at most
/// once a second (or at once after a change made through it); other instances' changes show within a second.
const LIVE_LOAD_TTL: std::time::Duration = std::time::Duration::from_secs(1);

type Loads = Arc<Vec<(AcceptancePoint, PointLoad)>>;

/// The per-instance micro-cache of [`loads_today`], with single-flight refresh.
#[derive(Default)]
pub struct LoadCache {
    entry: std::sync::RwLock<Option<CachedLoads>>,
    refresh: tokio::sync::Mutex<()>,
    generation: std::sync::atomic::AtomicU64,
}

struct CachedLoads {
    at: std::time::Instant,
    day: String,
    generation: u64,
    loads: Loads,
}

impl LoadCache {
    /// Drops the cached loads: the next read goes to the database. Called by every change made through this instance.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn fresh(&self, day: &str) -> Option<Loads> {
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let entry = self.entry.read().unwrap_or_else(|e| e.into_inner());
        entry.as_ref().filter(|e| e.day == day && e.generation == generation && e.at.elapsed() < LIVE_LOAD_TTL).map(|e| e.loads.clone())
    }
}

/// Today's load of every point (cached for at most [`LIVE_LOAD_TTL`]).
pub async fn loads_today(state: &AppState) -> AppResult<Loads> {
    let today = day_key(local_now(state).date());
    if let Some(loads) = state.live_loads.fresh(&today) {
        return Ok(loads);
    }
    // One refresh at a time; the others wait for it and reuse its result.
    let _refreshing = state.live_loads.refresh.lock().await;
    if let Some(loads) = state.live_loads.fresh(&today) {
        return Ok(loads);
    }
    let generation = state.live_loads.generation.load(std::sync::atomic::Ordering::SeqCst);
    let loads = Arc::new(compute_loads(state, &today).await?);
    *state.live_loads.entry.write().unwrap_or_else(|e| e.into_inner()) =
        Some(CachedLoads { at: std::time::Instant::now(), day: today, generation, loads: loads.clone() });
    Ok(loads)
}

async fn compute_loads(state: &AppState, today: &str) -> AppResult<Vec<(AcceptancePoint, PointLoad)>> {
    let today = today.to_string();
    let points = state.store.list_points().await?;
    let loads = state.store.day_loads(&today, &today).await?;
    let waiting = state.store.waiting_counts(&today).await?;
    Ok(points
        .into_iter()
        .map(|p| {
            let (booked, capacity) = loads.iter().find(|l| l.point_id == p.id).map(|l| (l.booked as u32, l.capacity as u32)).unwrap_or((0, 0));
            let waiting_now = waiting.iter().find(|w| w.0 == p.id).map(|w| w.1 as u32).unwrap_or(0);
            let serving = matches!(p.status, PointStatus::Open | PointStatus::Busy);
            let windows = if serving { p.windows as u32 } else { 0 };
            let snap = LoadSnapshot::compute(booked, capacity, waiting_now, windows, AVG_SERVICE_MINUTES);
            let level = if serving { snap.level } else { LoadLevel::Full };
            let load = PointLoad {
                point_id: p.id.clone(),
                status: p.status.as_str().into(),
                status_reason: p.status_reason.clone(),
                booked_today: booked,
                capacity_today: capacity,
                waiting_now,
                estimated_wait_minutes: snap.estimated_wait_minutes,
                level: level.code().into(),
                color: level.color_hex().into(),
            };
            (p, load)
        })
        .collect())
}

// ----- navigation -------------------------------------------------------------------------------

pub fn nav_config() -> NavConfig {
    NavConfig {
        app_name: "shenfen".into(),
        baidu_company: "shenfen".into(),
        baidu_app: "idcard".into(),
        tencent_referer: "shenfen".into(),
        city: Some("合肥".into()),
    }
}

pub fn nav_links_for(p: &AcceptancePoint, origin_gcj02: Option<LatLng>, mode: TravelMode) -> NavLinks {
    let dest = Place::new(p.name.clone(), LatLng { lat: p.lat_gcj02, lng: p.lng_gcj02 });
    let origin = origin_gcj02.map(|o| Place::new("我的位置", o));
    shenfen_domain::navigation::nav_links(&dest, origin.as_ref(), mode, &nav_config())
}

/// A browser position (WGS-84) checked and converted to GCJ-02, the system the points are stored in.
pub fn citizen_location(lat: f64, lng: f64) -> AppResult<LatLng> {
    let p = shenfen_domain::navigation::check_location(LatLng { lat, lng })
        .map_err(|e| AppError::invalid(e.code(), e.message_zh(), e.message_en()).on_field("location"))?;
    Ok(shenfen_domain::geo::wgs84_to_gcj02(p))
}

// ----- booking ----------------------------------------------------------------------------------

fn require_verified(c: &Citizen) -> AppResult<()> {
    if c.verification == Verification::None {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "verification_required",
            "预约前请先完成实名认证。",
            "Complete real-name verification before booking.",
        ));
    }
    Ok(())
}

pub fn parse_service(s: &str) -> AppResult<Service> {
    Service::parse(s).map_err(|e| AppError::invalid(e.code(), e.message_zh(), e.message_en()).on_field("service"))
}

fn offers(p: &AcceptancePoint, service: Service) -> bool {
    Service::parse_list(&p.services).map(|l| l.contains(&service)).unwrap_or(false)
}

fn point_status_check(state: &AppState, p: &AcceptancePoint, slot: &Slot) -> AppResult<()> {
    let status = shenfen_domain::load::PointStatus::from_code(p.status.as_str()).unwrap_or(shenfen_domain::load::PointStatus::Closed);
    rules::check_point_status(status, p.status_until.map(ms_to_local), slot_start(slot), local_now(state)).map_err(rule_error)
}

/// Books `slot_id` for `service`. Rules checked first (all pure, nothing written), then one atomic store call.
pub async fn book(state: &AppState, citizen: &Citizen, slot_id: &str, service: &str, actor: &Actor) -> AppResult<Appointment> {
    require_verified(citizen)?;
    let service = parse_service(service)?;
    let slot = state.store.slot(slot_id).await?.ok_or_else(slot_not_found)?;
    let p = point(state, &slot.point_id).await?;
    if !offers(&p, service) {
        return Err(AppError::invalid("service_not_offered", "该受理点不办理此项业务。", "This point does not offer that service.").on_field("service"));
    }
    point_status_check(state, &p, &slot)?;
    let pol = policy(state);
    let now = local_now(state);
    pol.check_bookable(slot_start(&slot), now).map_err(rule_error)?;
    let appt = state
        .store
        .book(&NewAppointment {
            citizen_id: citizen.id.clone(),
            slot_id: slot.id.clone(),
            service: service.code().into(),
            month: rules::month_key(now.date()),
            // 0 means "no limit" in the policy.
            max_cancellations_per_month: if pol.max_cancellations_per_month == 0 { i64::MAX } else { pol.max_cancellations_per_month as i64 },
            max_no_shows_per_month: if pol.max_no_shows_per_month == 0 { i64::MAX } else { pol.max_no_shows_per_month as i64 },
            now: state.now_ms(),
        })
        .await
        .map_err(booking_store_error)?;
    state.live_loads.invalidate();
    state
        .audit(actor, "appointment.book", &format!("appointment:{}", appt.id), serde_json::json!({ "point": p.id, "slot": slot.id, "service": service.code() }))
        .await?;
    let vars = notify::templates::vars([("point", p.name.clone()), ("day", slot.day.clone()), ("time", hhmm(slot.start_min)), ("service", service.name_zh().to_string()), ("code", appt.code.clone())]);
    notify_citizen(state, citizen, EventKind::AppointmentBooked, format!("appointment:{}:booked", appt.id), vars).await;
    Ok(appt)
}

pub async fn reschedule(state: &AppState, citizen: &Citizen, appointment_id: &str, new_slot_id: &str, actor: &Actor) -> AppResult<Appointment> {
    let current = own_appointment(state, citizen, appointment_id).await?;
    let old_slot = state.store.slot(&current.slot_id).await?.ok_or_else(slot_not_found)?;
    let pol = policy(state);
    let now = local_now(state);
    pol.can_cancel(slot_start(&old_slot), now).map_err(rule_error)?;
    let new_slot = state.store.slot(new_slot_id).await?.ok_or_else(slot_not_found)?;
    let p = point(state, &new_slot.point_id).await?;
    let service = parse_service(&current.service)?;
    if !offers(&p, service) {
        return Err(AppError::invalid("service_not_offered", "该受理点不办理此项业务。", "This point does not offer that service.").on_field("service"));
    }
    point_status_check(state, &p, &new_slot)?;
    pol.check_bookable(slot_start(&new_slot), now).map_err(rule_error)?;
    let moved = state.store.reschedule(&current.id, &citizen.id, &new_slot.id, state.now_ms()).await.map_err(booking_store_error)?;
    state.live_loads.invalidate();
    state
        .audit(actor, "appointment.reschedule", &format!("appointment:{}", moved.id), serde_json::json!({ "from": old_slot.id, "to": new_slot.id }))
        .await?;
    let vars = notify::templates::vars([("point", p.name.clone()), ("day", new_slot.day.clone()), ("time", hhmm(new_slot.start_min)), ("code", moved.code.clone())]);
    // An appointment may be moved several times: each move is its own event.
    notify_citizen(state, citizen, EventKind::AppointmentRescheduled, format!("appointment:{}:rescheduled:{}:{}", moved.id, new_slot.id, moved.updated_at), vars).await;
    Ok(moved)
}

pub async fn cancel(state: &AppState, citizen: &Citizen, appointment_id: &str, actor: &Actor) -> AppResult<Appointment> {
    let current = own_appointment(state, citizen, appointment_id).await?;
    if current.status != AppointmentStatus::Booked {
        return Err(AppError::invalid("appointment_not_active", "该预约已不能取消。", "This appointment can no longer be cancelled."));
    }
    let slot = state.store.slot(&current.slot_id).await?.ok_or_else(slot_not_found)?;
    policy(state).can_cancel(slot_start(&slot), local_now(state)).map_err(rule_error)?;
    let month = rules::month_key(local_now(state).date());
    let cancelled = state.store.cancel_appointment(&current.id, &citizen.id, &month, state.now_ms()).await.map_err(|e| match e {
        StoreError::NotFound => appointment_not_found(),
        other => other.into(),
    })?;
    state.live_loads.invalidate();
    state.audit(actor, "appointment.cancel", &format!("appointment:{}", cancelled.id), serde_json::json!({})).await?;
    let vars = notify::templates::vars([("day", slot.day.clone()), ("time", hhmm(slot.start_min))]);
    notify_citizen(state, citizen, EventKind::AppointmentCancelled, format!("appointment:{}:cancelled", cancelled.id), vars).await;
    Ok(cancelled)
}

async fn own_appointment(state: &AppState, citizen: &Citizen, id: &str) -> AppResult<Appointment> {
    if id.len() > 64 {
        return Err(appointment_not_found());
    }
    match state.store.appointment(id).await? {
        // Another citizen's appointment is reported exactly like a missing one.
        Some(a) if a.citizen_id == citizen.id => Ok(a),
        _ => Err(appointment_not_found()),
    }
}

pub fn hhmm(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Booking notices go through the notification pipeline (in-app + SMS, once per event); a failed notice is
/// logged, never a failed booking (the booking is already committed).
pub async fn notify_citizen(state: &AppState, citizen: &Citizen, kind: EventKind, dedupe_key: String, vars: std::collections::BTreeMap<String, String>) {
    let event = notify::NotificationEvent { citizen_id: citizen.id.clone(), kind, dedupe_key, vars };
    if let Err(e) = notify::enqueue(state, event).await {
        tracing::error!(error = %e.code, "appointment notice not enqueued");
    }
}

// ----- housekeeping: reminders and no-shows ------------------------------------------------------

/// Hours (China time) in which non-urgent SMS may go out: reminders wait outside 08:00–21:00.
const REMINDER_HOURS: std::ops::Range<u8> = 8..21;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Housekeeping {
    pub reminders_sent: usize,
    pub no_shows: usize,
}

/// Marks no-shows and sends the day-before reminders. Safe on every instance at once: each reminder is claimed by
/// one conditional UPDATE before it is sent, and no-shows are marked by one statement.
pub async fn housekeeping(state: &AppState) -> AppResult<Housekeeping> {
    let now = local_now(state);
    let pol = policy(state);
    let marked = state.store.mark_no_shows(state.now_ms(), i64::from(pol.no_show_grace_minutes) * 60_000, &rules::month_key(now.date())).await?;
    for a in &marked {
        state
            .audit(&Actor { kind: shenfen_store::ActorKind::System, id: "housekeeping".into(), ip: "-".into() }, "appointment.no_show", &format!("appointment:{}", a.id), serde_json::json!({}))
            .await?;
    }
    let mut sent = 0;
    if REMINDER_HOURS.contains(&now.hour()) {
        let tomorrow = now.date() + time::Duration::days(1);
        for a in state.store.due_reminders(&day_key(tomorrow)).await? {
            if !state.store.claim_reminder(&a.id, state.now_ms()).await? {
                continue;
            }
            let (Some(citizen), Some(slot), Some(p)) = (state.store.citizen(&a.citizen_id).await?, state.store.slot(&a.slot_id).await?, state.store.point(&a.point_id).await?) else {
                continue;
            };
            let vars = notify::templates::vars([("day", slot.day.clone()), ("time", hhmm(slot.start_min)), ("point", p.name.clone()), ("code", a.code.clone())]);
            notify_citizen(state, &citizen, EventKind::AppointmentReminder, format!("appointment:{}:reminder", a.id), vars).await;
            sent += 1;
        }
    }
    Ok(Housekeeping { reminders_sent: sent, no_shows: marked.len() })
}

// ----- recommendations --------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub point_id: String,
    pub point_name: String,
    pub slot_id: String,
    pub day: String,
    pub start: String,
    pub distance_m: u32,
    pub remaining: u32,
    /// Lower is better; minutes-equivalent (see `shenfen_domain::recommend`).
    pub score: f64,
    pub level: String,
}

/// Points and slots with room, ranked by distance and expected wait. `near` is GCJ-02.
pub async fn suggestions(state: &AppState, near: LatLng, day: Date, service: Service, limit: usize) -> AppResult<Vec<Suggestion>> {
    let now = local_now(state);
    let pol = policy(state);
    let key = day_key(day);
    let loads = loads_today(state).await?;
    let mut candidates = Vec::new();
    let mut names = std::collections::HashMap::new();
    for (p, load) in loads.iter() {
        if !offers(p, service) {
            continue;
        }
        names.insert(p.id.clone(), p.name.clone());
        let distance = shenfen_domain::geo::distance_m(near, LatLng { lat: p.lat_gcj02, lng: p.lng_gcj02 });
        let wait = if day == now.date() { load.estimated_wait_minutes.unwrap_or(60) } else { 0 };
        for slot in state.store.slots(&p.id, &key, &key).await? {
            let open = point_status_check(state, p, &slot).is_ok() && pol.check_bookable(slot_start(&slot), now).is_ok();
            candidates.push(shenfen_domain::recommend::Candidate {
                point_id: p.id.clone(),
                slot_id: slot.id.clone(),
                slot_start: slot_start(&slot),
                distance_m: distance,
                booked: slot.booked as u32,
                capacity: slot.capacity as u32,
                expected_wait_minutes: wait,
                open,
            });
        }
    }
    let ranked = shenfen_domain::recommend::recommend(&candidates, None, &Default::default(), limit);
    Ok(ranked
        .into_iter()
        .map(|r| Suggestion {
            point_name: names.get(&r.candidate.point_id).cloned().unwrap_or_default(),
            point_id: r.candidate.point_id,
            slot_id: r.candidate.slot_id,
            day: day_key(r.candidate.slot_start.date()),
            start: format!("{:02}:{:02}", r.candidate.slot_start.hour(), r.candidate.slot_start.minute()),
            distance_m: r.candidate.distance_m.round() as u32,
            remaining: r.remaining,
            score: (r.score * 10.0).round() / 10.0,
            level: r.level.code().into(),
        })
        .collect())
}

// ----- counter: status, check-in, queue ---------------------------------------------------------

pub async fn set_status(state: &AppState, p: &AcceptancePoint, status: &str, reason: &str, until_ms: Option<i64>, actor: &Actor) -> AppResult<()> {
    let status = PointStatus::parse(status)
        .ok_or_else(|| AppError::invalid("status_invalid", "状态只能是 open、busy、paused 或 closed。", "Status must be open, busy, paused or closed.").on_field("status"))?;
    let reason = reason.trim();
    if reason.chars().count() > 100 {
        return Err(AppError::invalid("reason_too_long", "原因最多 100 字。", "The reason may have at most 100 characters.").on_field("reason"));
    }
    if matches!(status, PointStatus::Paused | PointStatus::Closed) && reason.is_empty() {
        return Err(AppError::invalid("reason_required", "暂停或关闭时请填写原因。", "Give a reason when pausing or closing.").on_field("reason"));
    }
    if let Some(u) = until_ms {
        if u <= state.now_ms() {
            return Err(AppError::invalid("until_past", "预计恢复时间应晚于现在。", "The expected reopening must be in the future.").on_field("until"));
        }
    }
    state.store.set_point_status(&p.id, status, reason, until_ms, state.now_ms()).await?;
    state.live_loads.invalidate();
    state.audit(actor, "point.status", &format!("point:{}", p.id), serde_json::json!({ "status": status.as_str(), "reason": reason })).await?;
    Ok(())
}

fn ticket_display(t: &Ticket) -> String {
    let kind = match t.kind {
        TicketKind::Appointment => queue::TicketKind::Appointment,
        TicketKind::WalkIn => queue::TicketKind::WalkIn,
    };
    queue::format_ticket_number(kind, t.number as u32)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketView {
    pub id: String,
    /// `A001` for appointment holders, `W001` for walk-ins.
    pub number: String,
    pub kind: String,
    pub status: String,
    pub window: Option<i64>,
}

impl From<&Ticket> for TicketView {
    fn from(t: &Ticket) -> Self {
        TicketView { id: t.id.clone(), number: ticket_display(t), kind: t.kind.as_str().into(), status: t.status.as_str().into(), window: t.window_no }
    }
}

pub async fn check_in(state: &AppState, p: &AcceptancePoint, code: &str, actor: &Actor) -> AppResult<Ticket> {
    let code = code.trim().to_ascii_uppercase();
    let invalid = || AppError::invalid("invalid_check_in", "预约码无效、不是本受理点今天的预约，或已签到。", "The code is unknown, not for this point today, or already used.").on_field("code");
    if code.len() != 8 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid());
    }
    let today = day_key(local_now(state).date());
    let ticket = state.store.check_in(&p.id, &today, &code, state.now_ms()).await.map_err(|e| match e {
        StoreError::Conflict("invalid_check_in") => invalid(),
        other => other.into(),
    })?;
    state.live_loads.invalidate();
    state.audit(actor, "queue.check_in", &format!("ticket:{}", ticket.id), serde_json::json!({ "point": p.id, "number": ticket_display(&ticket) })).await?;
    Ok(ticket)
}

pub async fn walk_in(state: &AppState, p: &AcceptancePoint, actor: &Actor) -> AppResult<Ticket> {
    let today = day_key(local_now(state).date());
    let ticket = state.store.walk_in_ticket(&p.id, &today, state.now_ms()).await?;
    state.live_loads.invalidate();
    state.audit(actor, "queue.walk_in", &format!("ticket:{}", ticket.id), serde_json::json!({ "point": p.id, "number": ticket_display(&ticket) })).await?;
    Ok(ticket)
}

/// Calls the next ticket by the documented rule; retries if another window took the same ticket first.
pub async fn call_next(state: &AppState, p: &AcceptancePoint, window: i64, actor: &Actor) -> AppResult<Option<Ticket>> {
    if window < 1 || window > p.windows {
        return Err(AppError::invalid("window_invalid", "窗口号无效。", "No such window at this point.").on_field("window"));
    }
    let today = day_key(local_now(state).date());
    for _ in 0..5 {
        let tickets = state.store.tickets(&p.id, &today).await?;
        let mut called: Vec<&Ticket> = tickets.iter().filter(|t| t.called_at.is_some()).collect();
        called.sort_by_key(|t| std::cmp::Reverse(t.called_at));
        let recent: Vec<queue::TicketKind> = called
            .iter()
            .take(10)
            .rev()
            .map(|t| if t.kind == TicketKind::Appointment { queue::TicketKind::Appointment } else { queue::TicketKind::WalkIn })
            .collect();
        let mut waiting = Vec::new();
        for t in tickets.iter().filter(|t| t.status == TicketStatus::Waiting) {
            let slot_start = match &t.appointment_id {
                Some(a) => match state.store.appointment(a).await? {
                    Some(appt) => state.store.slot(&appt.slot_id).await?.map(|s| slot_start(&s)),
                    None => None,
                },
                None => None,
            };
            waiting.push(queue::Ticket {
                id: queue::TicketId(t.id.clone()),
                kind: if t.kind == TicketKind::Appointment { queue::TicketKind::Appointment } else { queue::TicketKind::WalkIn },
                number: t.number as u32,
                issued_at: ms_to_local(t.created_at),
                slot_start,
            });
        }
        let Some(next) = queue::next_ticket(&waiting, &recent, local_now(state)) else { return Ok(None) };
        match state.store.call_ticket(&next.0, window, state.now_ms()).await {
            Ok(t) => {
                state.live_loads.invalidate();
                state.audit(actor, "queue.call", &format!("ticket:{}", t.id), serde_json::json!({ "window": window, "number": ticket_display(&t) })).await?;
                return Ok(Some(t));
            }
            Err(StoreError::Conflict("ticket_taken")) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::new(StatusCode::CONFLICT, "queue_busy", "叫号冲突，请重试。", "Several windows called at once; try again."))
}

pub async fn finish(state: &AppState, p: &AcceptancePoint, ticket_id: &str, served: bool, actor: &Actor) -> AppResult<Ticket> {
    let today = day_key(local_now(state).date());
    if !state.store.tickets(&p.id, &today).await?.iter().any(|t| t.id == ticket_id) {
        return Err(AppError::new(StatusCode::NOT_FOUND, "ticket_not_found", "没有找到该号。", "No such ticket at this point today."));
    }
    let status = if served { TicketStatus::Served } else { TicketStatus::Skipped };
    let t = state.store.finish_ticket(ticket_id, status, state.now_ms()).await.map_err(|e| match e {
        StoreError::Conflict(_) => AppError::invalid("ticket_not_called", "该号尚未叫到或已办结。", "This ticket has not been called or is already finished."),
        other => other.into(),
    })?;
    state.live_loads.invalidate();
    state.audit(actor, "queue.finish", &format!("ticket:{}", t.id), serde_json::json!({ "status": status.as_str() })).await?;
    Ok(t)
}

/// Whether a staff member may run the counter of `p`: counter staff at that point, or staff whose scope covers it.
pub async fn may_run_counter(state: &AppState, staff: &shenfen_store::Staff, p: &AcceptancePoint) -> AppResult<bool> {
    use shenfen_store::{Role, ScopeKind};
    if !matches!(staff.role, Role::Counter | Role::Admin) {
        return Ok(false);
    }
    Ok(match staff.scope.kind {
        ScopeKind::Point => staff.scope.code == p.id,
        _ => crate::auth::scope_covers(state, staff, &p.district_code).await?,
    })
}

pub fn time_of(minutes: i64) -> Time {
    Time::from_hms((minutes / 60).clamp(0, 23) as u8, (minutes % 60) as u8, 0).unwrap_or(Time::MIDNIGHT)
}
