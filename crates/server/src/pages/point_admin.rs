//! Administrators' pages for acceptance points: the list of points they manage, a form to create or edit one
//! (hours, services, windows, slot length and capacity) and the per-day exceptions (closures, extra capacity,
//! different hours). Plain forms, no JavaScript. Rules live in `crate::point_admin`.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use shenfen_domain::appointments::Service;
use shenfen_store::{AcceptancePoint, Role, Staff};

use super::{FieldError, PageCtx, render, render_status, urlencode};
use crate::app::AppState;
use crate::auth::{MaybeUser, Principal};
use crate::error::AppError;
use crate::i18n::Lang;
use crate::point_admin::{self, ExceptionView, PointInput};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/points", get(list).post(create))
        .route("/admin/points/new", get(new_form))
        .route("/admin/points/{id}", get(edit_form).post(update))
        .route("/admin/points/{id}/exceptions", post(put_exception))
        .route("/admin/points/{id}/exceptions/{day}/delete", post(delete_exception))
}

fn require_admin(user: &MaybeUser) -> Result<Staff, Response> {
    match &user.principal {
        Some(Principal::Staff(s)) if s.role == Role::Admin => Ok(s.clone()),
        Some(_) => Err(point_admin::not_admin().into_response()),
        None => Err(Redirect::to("/staff/sign-in").into_response()),
    }
}

struct PointRow {
    id: String,
    name: String,
    district: String,
    status_label: &'static str,
    status: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "admin_points.html")]
struct ListPage<'a> {
    p: &'a PageCtx,
    rows: Vec<PointRow>,
}

fn status_label(code: &str, lang: Lang) -> &'static str {
    match code {
        "open" => lang.pick("正常办理", "Open"),
        "busy" => lang.pick("繁忙", "Busy"),
        "paused" => lang.pick("暂停", "Paused"),
        _ => lang.pick("今日停办", "Closed today"),
    }
}

async fn list(State(state): State<AppState>, p: PageCtx, user: MaybeUser) -> Result<Response, AppError> {
    let staff = match require_admin(&user) {
        Ok(s) => s,
        Err(r) => return Ok(r),
    };
    let rows = point_admin::managed_points(&state, &staff)
        .await?
        .into_iter()
        .map(|pt| PointRow {
            summary: format!(
                "{} · {} {} · {} {}",
                pt.opening_hours,
                pt.windows,
                p.lang.pick("个窗口", "windows"),
                pt.capacity_per_slot,
                p.lang.pick(&format!("人/{}分钟", pt.slot_minutes), &format!("per {} min", pt.slot_minutes))
            ),
            district: shenfen_domain::division::full_name(&pt.district_code).unwrap_or_else(|| pt.district_code.clone()),
            status_label: status_label(pt.status.as_str(), p.lang),
            status: pt.status.as_str().to_string(),
            id: pt.id,
            name: pt.name,
        })
        .collect();
    Ok(render(&ListPage { p: &p, rows }))
}

struct ServiceBox {
    code: &'static str,
    label: &'static str,
    checked: bool,
}

struct ExceptionRow {
    day: String,
    kind_label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "admin_point.html")]
struct PointPage<'a> {
    p: &'a PageCtx,
    /// `None` when creating.
    id: Option<String>,
    district_name: String,
    f: PointFormValues,
    services: Vec<ServiceBox>,
    exceptions: Vec<ExceptionRow>,
    horizon_first: String,
    horizon_last: String,
    exception_day: String,
    exception_kind: String,
    exception_value: String,
    notice: Option<String>,
    errors: Vec<FieldError>,
}

/// The point form as typed (so a refused form comes back with what was entered).
#[derive(Deserialize, Default, Clone)]
struct PointFormValues {
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    district_code: String,
    #[serde(default)]
    lat: String,
    #[serde(default)]
    lng: String,
    #[serde(default)]
    opening_hours: String,
    #[serde(default)]
    windows: String,
    #[serde(default)]
    slot_minutes: String,
    #[serde(default)]
    capacity_per_slot: String,
    // One checkbox per service (`serde_urlencoded` has no repeated keys).
    svc_first_issue: Option<String>,
    svc_renewal: Option<String>,
    svc_replacement: Option<String>,
    svc_photo_capture: Option<String>,
    svc_pickup: Option<String>,
}

impl PointFormValues {
    fn from_point(pt: &AcceptancePoint) -> Self {
        let has = |s: &str| pt.services.split(',').any(|x| x == s).then(|| "on".to_string());
        PointFormValues {
            name: pt.name.clone(),
            address: pt.address.clone(),
            phone: pt.phone.clone(),
            district_code: pt.district_code.clone(),
            lat: format!("{:.6}", pt.lat_gcj02),
            lng: format!("{:.6}", pt.lng_gcj02),
            opening_hours: pt.opening_hours.clone(),
            windows: pt.windows.to_string(),
            slot_minutes: pt.slot_minutes.to_string(),
            capacity_per_slot: pt.capacity_per_slot.to_string(),
            svc_first_issue: has("first_issue"),
            svc_renewal: has("renewal"),
            svc_replacement: has("replacement"),
            svc_photo_capture: has("photo_capture"),
            svc_pickup: has("pickup"),
        }
    }

    fn defaults() -> Self {
        let on = Some("on".to_string());
        PointFormValues {
            opening_hours: "mon-fri 09:00-12:00,13:30-17:00".into(),
            windows: "2".into(),
            slot_minutes: "30".into(),
            capacity_per_slot: "6".into(),
            svc_first_issue: on.clone(),
            svc_renewal: on.clone(),
            svc_replacement: on.clone(),
            svc_photo_capture: on.clone(),
            svc_pickup: on,
            ..Default::default()
        }
    }

    fn checked(&self, code: &str) -> bool {
        match code {
            "first_issue" => self.svc_first_issue.is_some(),
            "renewal" => self.svc_renewal.is_some(),
            "replacement" => self.svc_replacement.is_some(),
            "photo_capture" => self.svc_photo_capture.is_some(),
            _ => self.svc_pickup.is_some(),
        }
    }

    /// Parses the numbers; a malformed one is reported on its field.
    fn input(&self) -> Result<PointInput, AppError> {
        fn number<T: std::str::FromStr>(v: &str, field: &'static str) -> Result<T, AppError> {
            v.trim().parse().map_err(|_| AppError::invalid("number_invalid", "请输入数字。", "Enter a number.").on_field(field))
        }
        Ok(PointInput {
            name: self.name.clone(),
            address: self.address.clone(),
            phone: self.phone.clone(),
            district_code: self.district_code.clone(),
            lat: number(&self.lat, "lat")?,
            lng: number(&self.lng, "lng")?,
            opening_hours: self.opening_hours.clone(),
            services: Service::ALL.iter().map(|s| s.code()).filter(|c| self.checked(c)).map(str::to_string).collect(),
            windows: number(&self.windows, "windows")?,
            slot_minutes: number(&self.slot_minutes, "slot_minutes")?,
            capacity_per_slot: number(&self.capacity_per_slot, "capacity_per_slot")?,
        })
    }
}

fn exception_kind_label(kind: &str, lang: Lang) -> &'static str {
    match kind {
        "closed" => lang.pick("全天停办", "Closed all day"),
        "extra_capacity" => lang.pick("增加名额（每时段）", "Extra seats (per slot)"),
        _ => lang.pick("调整办公时间", "Different hours"),
    }
}

struct Rendering {
    id: Option<String>,
    f: PointFormValues,
    exception: (String, String, String),
    notice: Option<String>,
    errors: Vec<FieldError>,
    status: StatusCode,
}

async fn render_point(state: &AppState, p: &PageCtx, pt: Option<&AcceptancePoint>, r: Rendering) -> Result<Response, AppError> {
    let exceptions: Vec<ExceptionView> = match pt {
        Some(pt) => point_admin::upcoming_exceptions(state, pt).await?,
        None => vec![],
    };
    let (first, last) = point_admin::horizon(state);
    let district_code = pt.map(|x| x.district_code.clone()).unwrap_or_else(|| r.f.district_code.clone());
    let page = PointPage {
        p,
        id: r.id,
        district_name: shenfen_domain::division::full_name(&district_code).unwrap_or_default(),
        services: Service::ALL.iter().map(|s| ServiceBox { code: s.code(), label: p.lang.pick(s.name_zh(), s.name_en()), checked: r.f.checked(s.code()) }).collect(),
        f: r.f,
        exceptions: exceptions.into_iter().map(|e| ExceptionRow { kind_label: exception_kind_label(&e.kind, p.lang), day: e.day, value: e.value }).collect(),
        horizon_first: crate::appointments::day_key(first),
        horizon_last: crate::appointments::day_key(last),
        exception_day: r.exception.0,
        exception_kind: r.exception.1,
        exception_value: r.exception.2,
        notice: r.notice,
        errors: r.errors,
    };
    Ok(render_status(r.status, &page))
}

async fn new_form(State(state): State<AppState>, p: PageCtx, user: MaybeUser) -> Result<Response, AppError> {
    if let Err(r) = require_admin(&user) {
        return Ok(r);
    }
    let r = Rendering { id: None, f: PointFormValues::defaults(), exception: Default::default(), notice: None, errors: vec![], status: StatusCode::OK };
    render_point(&state, &p, None, r).await
}

async fn create(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<PointFormValues>) -> Result<Response, AppError> {
    let staff = match require_admin(&user) {
        Ok(s) => s,
        Err(r) => return Ok(r),
    };
    let result = match f.input() {
        Ok(input) => point_admin::create_point(&state, &staff, &input, &user.actor()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(pt) => Ok(Redirect::to(&format!("/admin/points/{}?done=created", urlencode(&pt.id))).into_response()),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let errors = vec![FieldError::from_app(&e, p.lang, "name")];
            render_point(&state, &p, None, Rendering { id: None, f, exception: Default::default(), notice: None, errors, status: e.status }).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
    n: Option<usize>,
}

async fn edit_form(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, Query(q): Query<DoneQuery>) -> Result<Response, AppError> {
    let staff = match require_admin(&user) {
        Ok(s) => s,
        Err(r) => return Ok(r),
    };
    let pt = point_admin::managed_point(&state, &staff, &id).await?;
    let notice = match q.done.as_deref() {
        Some("created") => Some(p.t("admin.done_created").to_string()),
        Some("saved") => Some(p.t("admin.done_saved").to_string()),
        Some("exception") => Some(p.t("admin.done_exception").replace("{n}", &q.n.unwrap_or(0).to_string())),
        Some("exception_removed") => Some(p.t("admin.done_exception_removed").to_string()),
        _ => None,
    };
    let r = Rendering { id: Some(pt.id.clone()), f: PointFormValues::from_point(&pt), exception: Default::default(), notice, errors: vec![], status: StatusCode::OK };
    render_point(&state, &p, Some(&pt), r).await
}

async fn update(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, Form(f): Form<PointFormValues>) -> Result<Response, AppError> {
    let staff = match require_admin(&user) {
        Ok(s) => s,
        Err(r) => return Ok(r),
    };
    let pt = point_admin::managed_point(&state, &staff, &id).await?;
    let result = match f.input() {
        Ok(input) => point_admin::update_point(&state, &staff, &id, &input, &user.actor()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(pt) => Ok(Redirect::to(&format!("/admin/points/{}?done=saved", urlencode(&pt.id))).into_response()),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let errors = vec![FieldError::from_app(&e, p.lang, "name")];
            render_point(&state, &p, Some(&pt), Rendering { id: Some(pt.id.clone()), f, exception: Default::default(), notice: None, errors, status: e.status }).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct ExceptionForm {
    #[serde(default)]
    day: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
}

async fn put_exception(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, Form(f): Form<ExceptionForm>) -> Result<Response, AppError> {
    let staff = match require_admin(&user) {
        Ok(s) => s,
        Err(r) => return Ok(r),
    };
    let pt = point_admin::managed_point(&state, &staff, &id).await?;
    match point_admin::put_exception(&state, &staff, &id, &f.day, &f.kind, &f.value, &user.actor()).await {
        Ok(out) => Ok(Redirect::to(&format!("/admin/points/{}?done=exception&n={}#exceptions", urlencode(&pt.id), out.cancelled_appointments)).into_response()),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let mut err = FieldError::from_app(&e, p.lang, "exception_value");
            // The form's own field ids differ from the service's field names.
            err.field = match err.field {
                "day" => "exception_day",
                "kind" => "exception_kind",
                _ => "exception_value",
            };
            let r = Rendering { id: Some(pt.id.clone()), f: PointFormValues::from_point(&pt), exception: (f.day, f.kind, f.value), notice: None, errors: vec![err], status: e.status };
            render_point(&state, &p, Some(&pt), r).await
        }
        Err(e) => Err(e),
    }
}

async fn delete_exception(State(state): State<AppState>, user: MaybeUser, Path((id, day)): Path<(String, String)>) -> Result<Response, AppError> {
    let staff = match require_admin(&user) {
        Ok(s) => s,
        Err(r) => return Ok(r),
    };
    point_admin::delete_exception(&state, &staff, &id, &day, &user.actor()).await?;
    Ok(Redirect::to(&format!("/admin/points/{}?done=exception_removed#exceptions", urlencode(&id))).into_response())
}
