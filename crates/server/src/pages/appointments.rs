//! Smart-appointment pages (issue 4): the point list with a server-drawn heat map, point detail with navigation
//! hand-off and slot booking, my appointments (code + QR code, cancel, reschedule), the counter console and the
//! public queue display. Every page works without JavaScript; `static/points.js` only adds "use my location"
//! and a 15-second live refresh of the list and map. Rules live in `crate::appointments`; these handlers parse
//! form input, call it, and render.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use shenfen_domain::appointments::{OpeningHours, Service};
use shenfen_domain::geo::LatLng;
use shenfen_domain::load::LoadLevel;
use shenfen_domain::navigation::TravelMode;
use shenfen_store::{AcceptancePoint, Appointment, AppointmentStatus, Citizen, Role, ScopeKind, Staff, TicketStatus, Verification};
use time::{Date, Weekday};

use super::{FieldError, PageCtx, qr_svg, render, render_status, require_citizen, urlencode};
use crate::api::appointments::{NearQuery, PointSummary, SlotView, board, origin, points_near, slot_view};
use crate::app::AppState;
use crate::appointments::{self as appts, TicketView};
use crate::auth::{MaybeUser, Principal};
use crate::error::AppError;
use crate::i18n::Lang;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/points.js", get(|| async { ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")], include_str!("../../static/points.js")) }))
        .route("/points", get(points))
        .route("/points/{id}", get(point_detail))
        .route("/points/{id}/display", get(display))
        .route("/appointments", get(mine).post(book))
        .route("/appointments/{id}", get(appointment))
        .route("/appointments/{id}/cancel", post(cancel))
        .route("/appointments/{id}/reschedule", post(reschedule))
        .route("/counter", get(counter))
        .route("/counter/check-in", post(counter_check_in))
        .route("/counter/walk-in", post(counter_walk_in))
        .route("/counter/call", post(counter_call))
        .route("/counter/finish", post(counter_finish))
        .route("/counter/status", post(counter_status))
}

/// The Hefei urban districts, offered first in the district chooser.
const HEFEI_URBAN: [&str; 4] = ["340102", "340103", "340104", "340111"];
/// How many days of slots the point page lists.
const DAYS_SHOWN: usize = 7;

// ----- shared helpers ---------------------------------------------------------------------------


fn level_of(code: &str) -> LoadLevel {
    match code {
        "idle" => LoadLevel::Idle,
        "normal" => LoadLevel::Normal,
        "busy" => LoadLevel::Busy,
        _ => LoadLevel::Full,
    }
}

fn level_label(code: &str, lang: Lang) -> &'static str {
    let l = level_of(code);
    lang.pick(l.name_zh(), l.name_en())
}

fn status_label(code: &str, lang: Lang) -> &'static str {
    match shenfen_domain::load::PointStatus::from_code(code) {
        Some(s) => lang.pick(s.name_zh(), s.name_en()),
        None => "-",
    }
}

fn service_label(code: &str, lang: Lang) -> String {
    match Service::parse(code) {
        Ok(s) => lang.pick(s.name_zh(), s.name_en()).to_string(),
        Err(_) => code.to_string(),
    }
}

fn appointment_status_label(s: AppointmentStatus, lang: Lang) -> &'static str {
    match s {
        AppointmentStatus::Booked => lang.pick("已预约", "Booked"),
        AppointmentStatus::CheckedIn => lang.pick("已签到取号", "Checked in"),
        AppointmentStatus::Completed => lang.pick("已办结", "Completed"),
        AppointmentStatus::Cancelled => lang.pick("已取消", "Cancelled"),
        AppointmentStatus::NoShow => lang.pick("未到场", "No-show"),
    }
}

fn weekday_label(d: Weekday, lang: Lang) -> &'static str {
    let i = d.number_days_from_monday() as usize;
    let zh = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];
    let en = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    lang.pick(zh[i], en[i])
}

fn day_label(day: &str, today: Date, lang: Lang) -> String {
    let Ok(d) = appts::parse_day(day) else { return day.to_string() };
    let rel = if d == today {
        lang.pick("今天 ", "Today, ")
    } else if d == today + time::Duration::days(1) {
        lang.pick("明天 ", "Tomorrow, ")
    } else {
        ""
    };
    match lang {
        Lang::Zh => format!("{rel}{}月{}日 {}", d.month() as u8, d.day(), weekday_label(d.weekday(), lang)),
        Lang::En => format!("{rel}{} {} {}", weekday_label(d.weekday(), lang), d.day(), month_en(d.month() as u8)),
    }
}

fn month_en(m: u8) -> &'static str {
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].get(m.saturating_sub(1) as usize).copied().unwrap_or("")
}

fn distance_text(m: Option<u32>, lang: Lang) -> String {
    match m {
        None => String::new(),
        Some(m) if m < 1000 => format!("{m} {}", lang.pick("米", "m")),
        Some(m) => format!("{:.1} {}", m as f64 / 1000.0, lang.pick("公里", "km")),
    }
}

fn wait_text(minutes: Option<u32>, lang: Lang) -> String {
    match minutes {
        Some(0) => lang.t("points.wait_zero").to_string(),
        Some(n) => lang.t("points.wait_about").replace("{n}", &n.to_string()),
        None => lang.t("points.wait_none").to_string(),
    }
}

fn district_name(code: &str) -> String {
    shenfen_domain::division::anhui_division(code).map(|d| d.name.to_string()).unwrap_or_default()
}

/// The location part of a query, kept as typed so links and the live refresh repeat it.
#[derive(Deserialize, Default, Clone)]
struct LocQuery {
    district: Option<String>,
    lat: Option<String>,
    lng: Option<String>,
    mode: Option<String>,
    service: Option<String>,
}

impl LocQuery {
    /// Parses into the API's query; malformed numbers become a field error instead of a bare 400.
    fn near(&self) -> Result<NearQuery, AppError> {
        let num = |s: &Option<String>| -> Result<Option<f64>, AppError> {
            match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(Some)
                    .ok_or_else(|| AppError::invalid("location_malformed", "位置格式不正确。", "The location is malformed.").on_field("location")),
            }
        };
        Ok(NearQuery { lat: num(&self.lat)?, lng: num(&self.lng)?, district: self.district.clone().filter(|d| !d.trim().is_empty()) })
    }

    /// `district=…` or `lat=…&lng=…`, for links to the point page and the live refresh.
    fn origin_query(&self) -> String {
        match (self.lat.as_deref().filter(|s| !s.is_empty()), self.lng.as_deref().filter(|s| !s.is_empty())) {
            (Some(lat), Some(lng)) => format!("lat={}&lng={}", urlencode(lat), urlencode(lng)),
            _ => match self.district.as_deref().filter(|s| !s.is_empty()) {
                Some(d) => format!("district={}", urlencode(d)),
                None => String::new(),
            },
        }
    }
}

// ----- the list and the heat map ----------------------------------------------------------------

pub struct PointRow {
    pub id: String,
    pub name: String,
    pub address: String,
    pub district: String,
    pub phone: String,
    pub distance: String,
    pub status: String,
    pub status_label: &'static str,
    pub status_reason: String,
    pub booked: u32,
    pub capacity: u32,
    pub waiting: u32,
    pub wait: String,
    pub level: String,
    pub level_label: &'static str,
    pub color: String,
    pub href: String,
    /// Whether to offer alternatives (busy or full today).
    pub crowded: bool,
}

fn point_row(s: &PointSummary, windows: i64, origin_query: &str, lang: Lang) -> PointRow {
    let l = &s.load;
    let crowded = shenfen_domain::recommend::should_suggest_alternatives(l.booked_today, l.capacity_today, l.waiting_now, windows.max(0) as u32)
        || matches!(l.level.as_str(), "busy" | "full");
    PointRow {
        id: s.id.clone(),
        name: s.name.clone(),
        address: s.address.clone(),
        district: district_name(&s.district_code),
        phone: s.phone.clone(),
        distance: distance_text(s.distance_m, lang),
        status: l.status.clone(),
        status_label: status_label(&l.status, lang),
        status_reason: l.status_reason.clone(),
        booked: l.booked_today,
        capacity: l.capacity_today,
        waiting: l.waiting_now,
        wait: wait_text(l.estimated_wait_minutes, lang),
        level: l.level.clone(),
        level_label: level_label(&l.level, lang),
        color: l.color.clone(),
        href: if origin_query.is_empty() { format!("/points/{}", s.id) } else { format!("/points/{}?{}", s.id, origin_query) },
        crowded,
    }
}

/// A (code, label) choice for a `<select>` or a list.
pub struct Opt {
    pub code: &'static str,
    pub label: &'static str,
}

/// Two texts side by side (a weekday range and its hours).
pub struct Pair {
    pub a: String,
    pub b: String,
}

pub struct DistrictOption {
    pub code: &'static str,
    pub name: String,
}

pub struct DistrictGroup {
    pub label: String,
    pub options: Vec<DistrictOption>,
}

fn district_groups(lang: Lang) -> Vec<DistrictGroup> {
    use shenfen_domain::division::{DivisionLevel, anhui_divisions};
    let all = anhui_divisions();
    let mut groups = vec![DistrictGroup {
        label: lang.t("points.hefei_urban").to_string(),
        options: HEFEI_URBAN.iter().filter_map(|c| all.iter().find(|d| d.code == *c)).map(|d| DistrictOption { code: d.code, name: d.name.to_string() }).collect(),
    }];
    for city in all.iter().filter(|d| d.level == DivisionLevel::Prefecture) {
        let options: Vec<DistrictOption> = all
            .iter()
            .filter(|d| d.level == DivisionLevel::County && d.parent == Some(city.code) && d.center.is_some() && !HEFEI_URBAN.contains(&d.code))
            .map(|d| DistrictOption { code: d.code, name: d.name.to_string() })
            .collect();
        if !options.is_empty() {
            groups.push(DistrictGroup { label: city.name.to_string(), options });
        }
    }
    groups
}

pub struct MapLabel {
    pub x: String,
    pub y: String,
    pub name: String,
}

pub struct MapDot {
    pub id: String,
    pub x: String,
    pub y: String,
    pub color: String,
    pub level: String,
    pub title: String,
}

/// One raster tile of the configured tile server, placed in the SVG.
pub struct MapTile {
    pub href: String,
    pub x: String,
    pub y: String,
    pub size: String,
}

/// The heat map's base layer and markers, projected in Rust (Web Mercator, fitted to the points' bounding box, so
/// the configured slippy-map tiles line up with the markers).
pub struct MapView {
    pub width: u32,
    pub height: u32,
    /// Tiles of the configured tile server; empty offline (the district centres are the base layer then).
    pub tiles: Vec<MapTile>,
    pub attribution: String,
    pub labels: Vec<MapLabel>,
    pub dots: Vec<MapDot>,
    pub origin: Option<MapLabel>,
    pub grid: Vec<String>,
}

/// Web Mercator y of a latitude (radians of the projected plane).
fn mercator_y(lat: f64) -> f64 {
    (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0).tan().ln()
}

/// Most tiles drawn under one map (a city needs 6–12).
const MAX_TILES: usize = 48;

fn build_map(list: &[PointSummary], rows: &[PointRow], near: Option<LatLng>, lang: Lang, cfg: &crate::config::MapConfig) -> MapView {
    use std::f64::consts::PI;
    const W: f64 = 360.0;
    const PAD: f64 = 22.0;
    let (mut min_lat, mut max_lat, mut min_lng, mut max_lng) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in list {
        min_lat = min_lat.min(p.lat);
        max_lat = max_lat.max(p.lat);
        min_lng = min_lng.min(p.lng);
        max_lng = max_lng.max(p.lng);
    }
    if list.is_empty() {
        return MapView { width: W as u32, height: 200, tiles: vec![], attribution: String::new(), labels: vec![], dots: vec![], origin: None, grid: vec![] };
    }
    // A little margin around the points, and never a degenerate box.
    let (dlat, dlng) = ((max_lat - min_lat).max(0.01) * 0.05, (max_lng - min_lng).max(0.01) * 0.05);
    let (min_lat, max_lat, min_lng, max_lng) = (min_lat - dlat, max_lat + dlat, min_lng - dlng, max_lng + dlng);
    let (x0, y_top) = (min_lng.to_radians(), mercator_y(max_lat));
    let scale = (W - 2.0 * PAD) / (max_lng.to_radians() - x0);
    let h = ((y_top - mercator_y(min_lat)) * scale + 2.0 * PAD).clamp(160.0, 520.0);
    let project = |lat: f64, lng: f64| -> (f64, f64) { (PAD + (lng.to_radians() - x0) * scale, PAD + (y_top - mercator_y(lat)) * scale) };
    let inside = |x: f64, y: f64| (0.0..=W).contains(&x) && (0.0..=h).contains(&y);
    let fmt = |v: f64| format!("{v:.1}");
    let mut tiles = Vec::new();
    if let Some(template) = cfg.tile_url.as_deref() {
        // The zoom whose 256-px tiles come closest to the map's own scale; the tiles covering the drawn area.
        let z = (2.0 * PI * scale / 256.0).log2().round().clamp(3.0, 18.0) as u32;
        let n = f64::from(1u32 << z);
        let size = 2.0 * PI / n;
        let (left, right) = (x0 - PAD / scale, x0 + (W - PAD) / scale);
        let (top, bottom) = (y_top + PAD / scale, y_top - (h - PAD) / scale);
        let tx = ((left + PI) / size).floor().max(0.0) as i64..=((right + PI) / size).floor().min(n - 1.0) as i64;
        let ty = ((PI - top) / size).floor().max(0.0) as i64..=((PI - bottom) / size).floor().min(n - 1.0) as i64;
        'rows: for y in ty {
            for x in tx.clone() {
                if tiles.len() >= MAX_TILES {
                    break 'rows;
                }
                tiles.push(MapTile {
                    href: template.replace("{z}", &z.to_string()).replace("{x}", &x.to_string()).replace("{y}", &y.to_string()),
                    x: fmt(PAD + (-PI + x as f64 * size - x0) * scale),
                    y: fmt(PAD + (y_top - (PI - y as f64 * size)) * scale),
                    size: format!("{:.2}", size * scale),
                });
            }
        }
    }
    let labels = shenfen_domain::division::anhui_divisions()
        .iter()
        .filter(|d| d.level == shenfen_domain::division::DivisionLevel::County)
        .filter_map(|d| {
            let c = d.center?;
            let (x, y) = project(c.lat, c.lng);
            inside(x, y).then(|| MapLabel { x: fmt(x), y: fmt(y), name: d.name.to_string() })
        })
        .collect();
    let dots = list
        .iter()
        .zip(rows)
        .map(|(p, r)| {
            let (x, y) = project(p.lat, p.lng);
            let title = format!("{}：{}，{} {}/{}", p.name, r.level_label, lang.t("points.booked_today"), r.booked, r.capacity);
            MapDot { id: p.id.clone(), x: fmt(x), y: fmt(y), color: r.color.clone(), level: r.level.clone(), title }
        })
        .collect();
    let origin = near.map(|o| project(o.lat, o.lng)).filter(|(x, y)| inside(*x, *y)).map(|(x, y)| MapLabel { x: fmt(x), y: fmt(y), name: String::new() });
    let grid = if tiles.is_empty() { (1..6).map(|i| fmt(W * i as f64 / 6.0)).collect() } else { vec![] };
    MapView { width: W as u32, height: h.round() as u32, tiles, attribution: cfg.attribution.clone(), labels, dots, origin, grid }
}

#[derive(Template)]
#[template(path = "points.html")]
struct PointsPage<'a> {
    p: &'a PageCtx,
    groups: Vec<DistrictGroup>,
    district: String,
    located: bool,
    rows: Vec<PointRow>,
    map: MapView,
    api_query: String,
    levels: Vec<Opt>,
    statuses: Vec<Opt>,
    errors: Vec<FieldError>,
}

fn level_opts(lang: Lang) -> Vec<Opt> {
    LoadLevel::ALL.into_iter().map(|l| Opt { code: l.code(), label: lang.pick(l.name_zh(), l.name_en()) }).collect()
}

fn status_opts(lang: Lang) -> Vec<Opt> {
    shenfen_domain::load::PointStatus::ALL.into_iter().map(|s| Opt { code: s.code(), label: lang.pick(s.name_zh(), s.name_en()) }).collect()
}

impl PointsPage<'_> {
    fn map_label(&self) -> String {
        let busy = self.rows.iter().filter(|r| matches!(r.level.as_str(), "busy" | "full")).count();
        self.p.t("points.map_label").replace("{n}", &self.rows.len().to_string()).replace("{busy}", &busy.to_string())
    }
}

async fn points(State(state): State<AppState>, p: PageCtx, Query(q): Query<LocQuery>) -> Result<Response, AppError> {
    let mut errors = vec![];
    let near = match q.near().and_then(|n| origin(&n)) {
        Ok(n) => n,
        Err(e) => {
            // Every location problem points at the district chooser, the way out without JavaScript.
            errors.push(FieldError { field: "district", message: e.message(p.lang).to_string() });
            None
        }
    };
    let origin_query = if errors.is_empty() { q.origin_query() } else { String::new() };
    let list = points_near(&state, near).await?;
    let windows: std::collections::HashMap<String, i64> = state.store.list_points().await?.into_iter().map(|pt| (pt.id, pt.windows)).collect();
    let rows: Vec<PointRow> = list.iter().map(|s| point_row(s, windows.get(&s.id).copied().unwrap_or(1), &origin_query, p.lang)).collect();
    let map = build_map(&list, &rows, near, p.lang, &state.config.map);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = PointsPage {
        p: &p,
        groups: district_groups(p.lang),
        district: q.district.clone().unwrap_or_default(),
        located: errors.is_empty() && q.lat.as_deref().is_some_and(|s| !s.is_empty()),
        rows,
        map,
        api_query: origin_query,
        levels: level_opts(p.lang),
        statuses: status_opts(p.lang),
        errors,
    };
    Ok(render_status(status, &page))
}

// ----- point detail, slots and booking ----------------------------------------------------------

pub struct NavRow {
    pub id: &'static str,
    pub name: &'static str,
    pub app: String,
    pub web: Option<String>,
}

pub struct ModeLink {
    pub code: &'static str,
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

pub struct DayGroup {
    pub day: String,
    pub label: String,
    pub slots: Vec<SlotView>,
    pub open: bool,
    pub free: usize,
}

pub struct SuggestRow {
    pub slot_id: String,
    pub point_id: String,
    pub point_name: String,
    pub when: String,
    pub distance: String,
    pub remaining: u32,
    pub level: String,
    pub level_label: &'static str,
    pub same_point: bool,
}

#[derive(Template)]
#[template(path = "point.html")]
struct PointPage<'a> {
    p: &'a PageCtx,
    row: PointRow,
    hours: Vec<Pair>,
    services: Vec<Opt>,
    service: String,
    tel: String,
    windows: i64,
    nav: Vec<NavRow>,
    modes: Vec<ModeLink>,
    days: Vec<DayGroup>,
    suggestions: Vec<SuggestRow>,
    show_suggestions: bool,
    signed_in: bool,
    needs_verification: bool,
    back: String,
    errors: Vec<FieldError>,
}

fn hours_rows(p: &AcceptancePoint, lang: Lang) -> Vec<Pair> {
    let Ok(h) = OpeningHours::parse(&p.opening_hours) else { return vec![] };
    // Consecutive weekdays with the same hours are one row ("周一至周五").
    let mut rows: Vec<(Weekday, Weekday, String)> = Vec::new();
    for (d, hours) in h.days() {
        let text = if hours.is_closed() { lang.pick("休息", "Closed").to_string() } else { hours.format().replace('-', "–").replace(',', ", ") };
        match rows.last_mut() {
            Some(last) if last.2 == text => last.1 = d,
            _ => rows.push((d, d, text)),
        }
    }
    rows.into_iter()
        .map(|(a, b, t)| {
            let days = if a == b { weekday_label(a, lang).to_string() } else { format!("{}{}{}", weekday_label(a, lang), lang.pick("至", "–"), weekday_label(b, lang)) };
            Pair { a: days, b: t }
        })
        .collect()
}

/// Whether an iPhone/iPad asked (for the app deep links' iOS form).
fn is_ios(headers: &axum::http::HeaderMap) -> bool {
    headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).is_some_and(|ua| ua.contains("iPhone") || ua.contains("iPad"))
}

struct PointPageInput {
    q: LocQuery,
    ios: bool,
    errors: Vec<FieldError>,
    force_suggestions: bool,
    service: Option<String>,
}

async fn point_page(state: &AppState, p: &PageCtx, user: &MaybeUser, id: &str, input: PointPageInput) -> Result<Response, AppError> {
    let PointPageInput { q, ios, mut errors, force_suggestions, service } = input;
    let pt = appts::point(state, id).await?;
    let near = match q.near().and_then(|n| origin(&n)) {
        Ok(n) => n,
        Err(e) => {
            errors.push(FieldError { field: "nav", message: e.message(p.lang).to_string() });
            None
        }
    };
    let mode = match q.mode.as_deref().filter(|m| !m.is_empty()) {
        None => TravelMode::Transit,
        Some(m) => TravelMode::from_code(m).unwrap_or_else(|| {
            errors.push(FieldError { field: "modes", message: p.lang.pick("出行方式只能是步行、公交或驾车。", "Choose walking, public transport or driving.").to_string() });
            TravelMode::Transit
        }),
    };
    let origin_query = if near.is_some() { q.origin_query() } else { String::new() };
    let summary = points_near(state, near).await?.into_iter().find(|s| s.id == pt.id).ok_or_else(AppError::not_found)?;
    let row = point_row(&summary, pt.windows, &origin_query, p.lang);

    let links = appts::nav_links_for(&pt, near, mode);
    let nav = vec![
        NavRow { id: "amap", name: p.lang.pick("高德地图", "Amap"), app: if ios { links.amap_ios.clone() } else { links.amap_android.clone() }, web: Some(links.amap_web.clone()) },
        NavRow { id: "baidu", name: p.lang.pick("百度地图", "Baidu Maps"), app: if ios { links.baidu_ios.clone() } else { links.baidu_android.clone() }, web: links.baidu_web.clone() },
        NavRow { id: "tencent", name: p.lang.pick("腾讯地图", "Tencent Maps"), app: links.tencent_app.clone(), web: Some(links.tencent_web.clone()) },
    ];
    let modes = TravelMode::ALL
        .into_iter()
        .map(|m| {
            let mut query = format!("mode={}", m.code());
            if !origin_query.is_empty() {
                query = format!("{origin_query}&{query}");
            }
            ModeLink { code: m.code(), label: p.lang.pick(m.name_zh(), m.name_en()), href: format!("/points/{}?{query}#nav", pt.id), current: m == mode }
        })
        .collect();

    // Slots of the next days; generated on first view if the background job has not reached this point yet.
    let today = appts::local_now(state).date();
    let (from, to) = (appts::day_key(today), appts::day_key(today + time::Duration::days(31)));
    let mut slots = state.store.slots(&pt.id, &from, &to).await?;
    if slots.is_empty() && appts::ensure_slots(state, &pt).await? > 0 {
        slots = state.store.slots(&pt.id, &from, &to).await?;
    }
    let serving = matches!(pt.status, shenfen_store::PointStatus::Open | shenfen_store::PointStatus::Busy);
    let mut days: Vec<DayGroup> = Vec::new();
    let now_ms = state.now_ms();
    for s in slots.iter().filter(|s| s.starts_at > now_ms && s.capacity > 0) {
        let v = slot_view(state, s, serving);
        let n = days.len();
        match days.last_mut() {
            Some(d) if d.day == s.day => d.slots.push(v),
            _ if n >= DAYS_SHOWN => break,
            _ => days.push(DayGroup { day: s.day.clone(), label: day_label(&s.day, today, p.lang), slots: vec![v], open: false, free: 0 }),
        }
    }
    // A day that has nothing left to book today is not worth listing first.
    days.retain(|d| d.day != appts::day_key(today) || d.slots.iter().any(|s| s.bookable));
    for d in days.iter_mut() {
        d.free = d.slots.iter().filter(|s| s.bookable).count();
    }
    if let Some(first) = days.iter_mut().find(|d| d.free > 0) {
        first.open = true;
    }

    let offered: Vec<Service> = Service::parse_list(&pt.services).unwrap_or_default();
    let services: Vec<Opt> = offered.iter().map(|s| Opt { code: s.code(), label: p.lang.pick(s.name_zh(), s.name_en()) }).collect();
    let service = service
        .or(q.service.clone())
        .filter(|s| offered.iter().any(|o| o.code() == s))
        .unwrap_or_else(|| if offered.contains(&Service::Renewal) { "renewal".into() } else { offered.first().map(|s| s.code().to_string()).unwrap_or_default() });

    let show_suggestions = force_suggestions || row.crowded;
    let mut suggestions = Vec::new();
    if show_suggestions {
        let day = days.iter().find(|d| d.free > 0).map(|d| d.day.clone()).unwrap_or_else(|| appts::day_key(today));
        if let (Ok(day), Ok(svc)) = (appts::parse_day(&day), Service::parse(&service)) {
            let here = LatLng { lat: pt.lat_gcj02, lng: pt.lng_gcj02 };
            for s in appts::suggestions(state, here, day, svc, 4).await? {
                suggestions.push(SuggestRow {
                    same_point: s.point_id == pt.id,
                    when: format!("{} {}", day_label(&s.day, today, p.lang), s.start),
                    distance: distance_text(Some(s.distance_m), p.lang),
                    level_label: level_label(&s.level, p.lang),
                    slot_id: s.slot_id,
                    point_id: s.point_id,
                    point_name: s.point_name,
                    remaining: s.remaining,
                    level: s.level,
                });
            }
        }
    }

    let (signed_in, needs_verification) = match &user.principal {
        Some(Principal::Citizen(c)) => (true, c.verification == Verification::None),
        _ => (false, false),
    };
    let status = errors.first().map(|_| StatusCode::UNPROCESSABLE_ENTITY).unwrap_or(StatusCode::OK);
    let page = PointPage {
        p,
        tel: pt.phone.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect(),
        hours: hours_rows(&pt, p.lang),
        windows: pt.windows,
        back: if origin_query.is_empty() { "/points".into() } else { format!("/points?{origin_query}") },
        row,
        services,
        service,
        nav,
        modes,
        days,
        suggestions,
        show_suggestions,
        signed_in,
        needs_verification,
        errors,
    };
    Ok(render_status(status, &page))
}

async fn point_detail(State(state): State<AppState>, p: PageCtx, user: MaybeUser, headers: axum::http::HeaderMap, Path(id): Path<String>, Query(q): Query<LocQuery>) -> Result<Response, AppError> {
    point_page(&state, &p, &user, &id, PointPageInput { q, ios: is_ios(&headers), errors: vec![], force_suggestions: false, service: None }).await
}

#[derive(Deserialize)]
struct BookForm {
    slot_id: Option<String>,
    service: Option<String>,
}

async fn book(State(state): State<AppState>, p: PageCtx, user: MaybeUser, headers: axum::http::HeaderMap, Form(f): Form<BookForm>) -> Result<Response, AppError> {
    let slot_id = f.slot_id.unwrap_or_default();
    let service = f.service.unwrap_or_default();
    let slot = if slot_id.is_empty() || slot_id.len() > 64 { None } else { state.store.slot(&slot_id).await? };
    let Some(slot) = slot else {
        return Err(AppError::new(StatusCode::NOT_FOUND, "slot_not_found", "该预约时段不存在。", "This slot does not exist."));
    };
    let citizen = match require_citizen(&user, &format!("/points/{}", slot.point_id)) {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    match appts::book(&state, &citizen, &slot.id, &service, &user.actor()).await {
        Ok(a) => Ok(Redirect::to(&format!("/appointments/{}?done=booked", a.id)).into_response()),
        Err(e) => {
            let errors = vec![FieldError::from_app(&e, p.lang, "slots")];
            let force = e.code == "slot_full" || e.code == "too_late" || e.code == "slot_past";
            let mut res = point_page(&state, &p, &user, &slot.point_id, PointPageInput { q: LocQuery::default(), ios: is_ios(&headers), errors, force_suggestions: force, service: Some(service) }).await?;
            *res.status_mut() = e.status;
            Ok(res)
        }
    }
}

// ----- my appointments --------------------------------------------------------------------------

pub struct ApptRow {
    pub id: String,
    pub code: String,
    pub point_id: String,
    pub point_name: String,
    pub point_address: String,
    pub when: String,
    pub service: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub active: bool,
}

async fn appt_row(state: &AppState, a: &Appointment, lang: Lang) -> Result<ApptRow, AppError> {
    let today = appts::local_now(state).date();
    let slot = state.store.slot(&a.slot_id).await?;
    let point = state.store.point(&a.point_id).await?;
    let when = match &slot {
        Some(s) => format!("{} {}–{}", day_label(&s.day, today, lang), appts::hhmm(s.start_min), appts::hhmm(s.end_min)),
        None => String::new(),
    };
    Ok(ApptRow {
        id: a.id.clone(),
        code: a.code.clone(),
        point_id: a.point_id.clone(),
        point_name: point.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
        point_address: point.as_ref().map(|p| p.address.clone()).unwrap_or_default(),
        when,
        service: service_label(&a.service, lang),
        status: a.status.as_str(),
        status_label: appointment_status_label(a.status, lang),
        active: a.status == AppointmentStatus::Booked,
    })
}

#[derive(Template)]
#[template(path = "appointments.html")]
struct MinePage<'a> {
    p: &'a PageCtx,
    rows: Vec<ApptRow>,
}

async fn mine(State(state): State<AppState>, p: PageCtx, user: MaybeUser) -> Result<Response, AppError> {
    let citizen = match require_citizen(&user, "/appointments") {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let mut rows = Vec::new();
    for a in state.store.appointments_of(&citizen.id).await? {
        rows.push(appt_row(&state, &a, p.lang).await?);
    }
    Ok(render(&MinePage { p: &p, rows }))
}

pub struct SlotChoice {
    pub label: String,
    pub slots: Vec<SlotView>,
}

#[derive(Template)]
#[template(path = "appointment.html")]
struct AppointmentPage<'a> {
    p: &'a PageCtx,
    a: ApptRow,
    qr: String,
    can_change: bool,
    choices: Vec<SlotChoice>,
    notice: Option<&'static str>,
    errors: Vec<FieldError>,
}

fn not_found_appointment() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "appointment_not_found", "没有找到您的这条预约。", "No such appointment of yours.")
}

/// The code as an inline SVG QR code (dark on white, with its quiet zone), labelled for screen readers.
async fn load_own(state: &AppState, citizen: &Citizen, id: &str) -> Result<Appointment, AppError> {
    if id.len() > 64 {
        return Err(not_found_appointment());
    }
    match state.store.appointment(id).await? {
        Some(a) if a.citizen_id == citizen.id => Ok(a),
        _ => Err(not_found_appointment()),
    }
}

async fn render_appointment(state: &AppState, p: &PageCtx, citizen: &Citizen, id: &str, notice: Option<&'static str>, errors: Vec<FieldError>, status: StatusCode) -> Result<Response, AppError> {
    let a = load_own(state, citizen, id).await?;
    let row = appt_row(state, &a, p.lang).await?;
    let now = appts::local_now(state);
    let slot = state.store.slot(&a.slot_id).await?;
    let can_change = row.active && slot.as_ref().is_some_and(|s| appts::policy(state).can_cancel(appts::ms_to_local(s.starts_at), now).is_ok());
    let mut choices: Vec<SlotChoice> = Vec::new();
    if can_change {
        let pt = appts::point(state, &a.point_id).await?;
        let serving = matches!(pt.status, shenfen_store::PointStatus::Open | shenfen_store::PointStatus::Busy);
        let (from, to) = (appts::day_key(now.date()), appts::day_key(now.date() + time::Duration::days(31)));
        for s in state.store.slots(&pt.id, &from, &to).await? {
            let v = slot_view(state, &s, serving);
            if !v.bookable || s.id == a.slot_id || s.capacity == 0 {
                continue;
            }
            let n = choices.len();
            match choices.last_mut() {
                Some(c) if c.slots.first().is_some_and(|f| f.day == s.day) => c.slots.push(v),
                _ if n >= DAYS_SHOWN => break,
                _ => choices.push(SlotChoice { label: day_label(&s.day, now.date(), p.lang), slots: vec![v] }),
            }
        }
    }
    let qr = if row.active { qr_svg(&a.code, &format!("{} {}", p.t("appt.qr_label"), a.code)) } else { String::new() };
    Ok(render_status(status, &AppointmentPage { p, a: row, qr, can_change, choices, notice, errors }))
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

fn done_notice(p: &PageCtx, done: Option<&str>) -> Option<&'static str> {
    match done {
        Some("booked") => Some(p.t("appt.done_booked")),
        Some("cancelled") => Some(p.t("appt.done_cancelled")),
        Some("rescheduled") => Some(p.t("appt.done_rescheduled")),
        _ => None,
    }
}

async fn appointment(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, Query(q): Query<DoneQuery>) -> Result<Response, AppError> {
    let citizen = match require_citizen(&user, &p.path) {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    render_appointment(&state, &p, &citizen, &id, done_notice(&p, q.done.as_deref()), vec![], StatusCode::OK).await
}

async fn cancel(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>) -> Result<Response, AppError> {
    let citizen = match require_citizen(&user, &format!("/appointments/{id}")) {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    match appts::cancel(&state, &citizen, &id, &user.actor()).await {
        Ok(a) => Ok(Redirect::to(&format!("/appointments/{}?done=cancelled", a.id)).into_response()),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(e),
        Err(e) => render_appointment(&state, &p, &citizen, &id, None, vec![FieldError::from_app(&e, p.lang, "cancel")], e.status).await,
    }
}

#[derive(Deserialize)]
struct RescheduleForm {
    slot_id: Option<String>,
}

async fn reschedule(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, Form(f): Form<RescheduleForm>) -> Result<Response, AppError> {
    let citizen = match require_citizen(&user, &format!("/appointments/{id}")) {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    // The appointment must be this citizen's before anything about the slot is said.
    load_own(&state, &citizen, &id).await?;
    let slot_id = f.slot_id.unwrap_or_default();
    match appts::reschedule(&state, &citizen, &id, &slot_id, &user.actor()).await {
        Ok(a) => Ok(Redirect::to(&format!("/appointments/{}?done=rescheduled", a.id)).into_response()),
        Err(e) => render_appointment(&state, &p, &citizen, &id, None, vec![FieldError::from_app(&e, p.lang, "slot_id")], e.status).await,
    }
}

// ----- counter console --------------------------------------------------------------------------

pub struct CounterAppt {
    pub code: String,
    pub time: String,
    pub service: String,
    pub status_label: &'static str,
    pub booked: bool,
}

pub struct TicketRow {
    pub id: String,
    pub number: String,
    pub window: String,
}

pub struct PointChoice {
    pub id: String,
    pub name: String,
}

#[derive(Template)]
#[template(path = "counter.html")]
struct CounterPage<'a> {
    p: &'a PageCtx,
    point: Option<AcceptancePoint>,
    status_label: &'static str,
    statuses: Vec<Opt>,
    windows: Vec<i64>,
    appts: Vec<CounterAppt>,
    waiting: Vec<TicketRow>,
    called: Vec<TicketRow>,
    choices: Vec<PointChoice>,
    code: String,
    notice: Option<String>,
    errors: Vec<FieldError>,
}

fn require_staff(user: &MaybeUser) -> Result<Staff, Response> {
    match &user.principal {
        Some(Principal::Staff(s)) if matches!(s.role, Role::Counter | Role::Admin) => Ok(s.clone()),
        Some(_) => Err(AppError::forbidden().into_response()),
        None => Err(Redirect::to("/staff/sign-in").into_response()),
    }
}

/// The point this staff member runs: counter staff at a point → that point; others name it with `?point=` and
/// must be allowed to run it. `Ok(None)` = an administrator who has not chosen yet.
async fn counter_point_for(state: &AppState, staff: &Staff, requested: Option<&str>) -> Result<Option<AcceptancePoint>, AppError> {
    let id = match requested.filter(|s| !s.is_empty()) {
        Some(id) => id.to_string(),
        None if staff.scope.kind == ScopeKind::Point => staff.scope.code.clone(),
        None => return Ok(None),
    };
    let pt = appts::point(state, &id).await?;
    if !appts::may_run_counter(state, staff, &pt).await? {
        return Err(AppError::forbidden());
    }
    Ok(Some(pt))
}

fn ticket_row(t: &TicketView) -> TicketRow {
    TicketRow { id: t.id.clone(), number: t.number.clone(), window: t.window.map(|w| w.to_string()).unwrap_or_default() }
}

async fn render_counter(state: &AppState, p: &PageCtx, staff: &Staff, pt: Option<AcceptancePoint>, notice: Option<String>, errors: Vec<FieldError>, code: String, status: StatusCode) -> Result<Response, AppError> {
    let statuses = status_opts(p.lang);
    let Some(pt) = pt else {
        let mut choices = Vec::new();
        for cand in state.store.list_points().await? {
            if appts::may_run_counter(state, staff, &cand).await? {
                choices.push(PointChoice { id: cand.id, name: cand.name });
            }
        }
        let page = CounterPage { p, point: None, status_label: "", statuses, windows: vec![], appts: vec![], waiting: vec![], called: vec![], choices, code, notice, errors };
        return Ok(render_status(status, &page));
    };
    let today = appts::day_key(appts::local_now(state).date());
    let mut rows = Vec::new();
    let mut list = state.store.appointments_on(&pt.id, &today).await?;
    let mut starts = std::collections::HashMap::new();
    for a in &list {
        if let Some(s) = state.store.slot(&a.slot_id).await? {
            starts.insert(a.id.clone(), (s.start_min, s.end_min));
        }
    }
    list.sort_by_key(|a| (starts.get(&a.id).map(|s| s.0).unwrap_or(0), a.code.clone()));
    for a in &list {
        let time = starts.get(&a.id).map(|(s, e)| format!("{}–{}", appts::hhmm(*s), appts::hhmm(*e))).unwrap_or_default();
        rows.push(CounterAppt { code: a.code.clone(), time, service: service_label(&a.service, p.lang), status_label: appointment_status_label(a.status, p.lang), booked: a.status == AppointmentStatus::Booked });
    }
    let tickets = state.store.tickets(&pt.id, &today).await?;
    let waiting = tickets.iter().filter(|t| t.status == TicketStatus::Waiting).map(|t| ticket_row(&TicketView::from(t))).collect();
    let mut called_t: Vec<_> = tickets.iter().filter(|t| t.status == TicketStatus::Called).collect();
    called_t.sort_by_key(|t| std::cmp::Reverse(t.called_at));
    let called = called_t.into_iter().map(|t| ticket_row(&TicketView::from(t))).collect();
    let page = CounterPage {
        p,
        status_label: status_label(pt.status.as_str(), p.lang),
        windows: (1..=pt.windows.max(0)).collect(),
        point: Some(pt),
        statuses,
        appts: rows,
        waiting,
        called,
        choices: vec![],
        code,
        notice,
        errors,
    };
    Ok(render_status(status, &page))
}

#[derive(Deserialize)]
struct CounterQuery {
    point: Option<String>,
    done: Option<String>,
    number: Option<String>,
}

async fn counter(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Query(q): Query<CounterQuery>) -> Result<Response, AppError> {
    let staff = match require_staff(&user) {
        Ok(s) => s,
        Err(r) => return Ok(r),
    };
    let pt = counter_point_for(&state, &staff, q.point.as_deref()).await?;
    // Only a well-formed ticket number is echoed back.
    let number = q.number.filter(|n| shenfen_domain::queue::parse_ticket_number(n).is_some());
    let notice = match (q.done.as_deref(), number) {
        (Some("check_in"), Some(n)) => Some(p.t("counter.done_check_in").replace("{n}", &n)),
        (Some("walk_in"), Some(n)) => Some(p.t("counter.done_walk_in").replace("{n}", &n)),
        (Some("called"), Some(n)) => Some(p.t("counter.done_called").replace("{n}", &n)),
        (Some("nobody"), _) => Some(p.t("counter.nobody").to_string()),
        (Some("finished"), _) => Some(p.t("counter.done_finished").to_string()),
        (Some("status"), _) => Some(p.t("counter.done_status").to_string()),
        _ => None,
    };
    render_counter(&state, &p, &staff, pt, notice, vec![], String::new(), StatusCode::OK).await
}

fn counter_back(pt: &AcceptancePoint, done: &str, number: Option<&str>) -> Response {
    let mut to = format!("/counter?point={}&done={done}", urlencode(&pt.id));
    if let Some(n) = number {
        to += &format!("&number={}", urlencode(n));
    }
    Redirect::to(&to).into_response()
}

/// Staff and the point a counter form names (their own point when it names none), or the response to send instead.
pub(super) async fn counter_form_point(state: &AppState, user: &MaybeUser, point: &str) -> Result<(Staff, AcceptancePoint), Response> {
    let staff = require_staff(user)?;
    match counter_point_for(state, &staff, Some(point)).await {
        Ok(Some(pt)) => Ok((staff, pt)),
        Ok(None) => Err(AppError::not_found().into_response()),
        Err(e) => Err(e.into_response()),
    }
}

#[derive(Deserialize)]
struct CheckInForm {
    point: String,
    code: String,
}

async fn counter_check_in(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<CheckInForm>) -> Result<Response, AppError> {
    let (staff, pt) = match counter_form_point(&state, &user, &f.point).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    match appts::check_in(&state, &pt, &f.code, &user.actor()).await {
        Ok(t) => Ok(counter_back(&pt, "check_in", Some(&TicketView::from(&t).number))),
        Err(e) => {
            let code: String = f.code.chars().filter(|c| c.is_ascii_alphanumeric()).take(16).collect();
            render_counter(&state, &p, &staff, Some(pt), None, vec![FieldError::from_app(&e, p.lang, "code")], code, e.status).await
        }
    }
}

#[derive(Deserialize)]
struct PointForm {
    point: String,
}

async fn counter_walk_in(State(state): State<AppState>, user: MaybeUser, Form(f): Form<PointForm>) -> Result<Response, AppError> {
    let (_, pt) = match counter_form_point(&state, &user, &f.point).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let t = appts::walk_in(&state, &pt, &user.actor()).await?;
    Ok(counter_back(&pt, "walk_in", Some(&TicketView::from(&t).number)))
}

#[derive(Deserialize)]
struct CallForm {
    point: String,
    window: String,
}

async fn counter_call(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<CallForm>) -> Result<Response, AppError> {
    let (staff, pt) = match counter_form_point(&state, &user, &f.point).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let window = f.window.trim().parse::<i64>().unwrap_or(0);
    match appts::call_next(&state, &pt, window, &user.actor()).await {
        Ok(Some(t)) => Ok(counter_back(&pt, "called", Some(&TicketView::from(&t).number))),
        Ok(None) => Ok(counter_back(&pt, "nobody", None)),
        Err(e) => render_counter(&state, &p, &staff, Some(pt), None, vec![FieldError { field: "calls", message: e.message(p.lang).to_string() }], String::new(), e.status).await,
    }
}

#[derive(Deserialize)]
struct FinishForm {
    point: String,
    ticket: String,
    outcome: String,
}

async fn counter_finish(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<FinishForm>) -> Result<Response, AppError> {
    let (staff, pt) = match counter_form_point(&state, &user, &f.point).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let served = match f.outcome.as_str() {
        "served" => true,
        "skipped" => false,
        _ => return Err(AppError::invalid("outcome_invalid", "办结结果只能是已办结或过号。", "The outcome must be served or skipped.")),
    };
    match appts::finish(&state, &pt, &f.ticket, served, &user.actor()).await {
        Ok(_) => Ok(counter_back(&pt, "finished", None)),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(e),
        Err(e) => render_counter(&state, &p, &staff, Some(pt), None, vec![FieldError::from_app(&e, p.lang, "called")], String::new(), e.status).await,
    }
}

#[derive(Deserialize)]
struct StatusForm {
    point: String,
    status: String,
    #[serde(default)]
    reason: String,
}

async fn counter_status(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<StatusForm>) -> Result<Response, AppError> {
    let (staff, pt) = match counter_form_point(&state, &user, &f.point).await {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    match appts::set_status(&state, &pt, &f.status, &f.reason, None, &user.actor()).await {
        Ok(()) => Ok(counter_back(&pt, "status", None)),
        Err(e) => render_counter(&state, &p, &staff, Some(pt), None, vec![FieldError::from_app(&e, p.lang, "status")], String::new(), e.status).await,
    }
}

// ----- public queue display ---------------------------------------------------------------------

#[derive(Template)]
#[template(path = "display.html")]
struct DisplayPage<'a> {
    p: &'a PageCtx,
    name: String,
    called: Vec<TicketRow>,
    waiting: u32,
    updated: String,
}

async fn display(State(state): State<AppState>, p: PageCtx, Path(id): Path<String>) -> Result<Response, AppError> {
    let pt = appts::point(&state, &id).await?;
    let b = board(&state, &pt.id).await?;
    let now = appts::local_now(&state);
    Ok(render(&DisplayPage {
        p: &p,
        name: pt.name,
        called: b.called.iter().take(6).map(ticket_row).collect(),
        waiting: b.waiting,
        updated: format!("{:02}:{:02}:{:02}", now.hour(), now.minute(), now.second()),
    }))
}
