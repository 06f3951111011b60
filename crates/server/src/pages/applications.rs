//! Application pages: the citizen's online application (start, photo, submit, progress and timeline, pay, cancel),
//! the police review console (phone-first: queue, claim, decide), the production centre, the counter hand-over and
//! the SLA supervision page. Rules live in `crate::applications`.

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Form;
use serde::Deserialize;
use shenfen_domain::applications::{self as rules, ApplicationKind, ApplicationState, PortraitSource, ReturnReason, Stage};
use shenfen_domain::eligibility;
use shenfen_domain::fees::format_yuan;
use shenfen_domain::sla::SlaStatus;
use shenfen_store::{Application, Citizen, PaymentStatus, Role, Staff};

use super::{FieldError, PageCtx, render, render_status, require_citizen};
use crate::app::AppState;
use crate::applications::{self as apps, DeliveryChoice, Extra, NewApplication, portrait};
use crate::appointments::ms_to_local;
use crate::auth::{MaybeUser, Principal};
use crate::error::{AppError, AppResult};
use crate::i18n::Lang;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/applications", get(list))
        .route("/applications/new", get(new_form).post(create))
        .route("/applications/{id}", get(show))
        .route("/applications/{id}/photo", get(photo_page).post(photo_upload))
        .route("/applications/{id}/portrait", post(portrait_choice))
        .route("/applications/{id}/submit", post(submit))
        .route("/applications/{id}/cancel", post(cancel))
        .route("/applications/{id}/photos/{pid}", get(own_photo))
        .route("/review", get(review_queue))
        .route("/review/{id}", get(review_page))
        .route("/review/{id}/claim", post(review_claim))
        .route("/review/{id}/decision", post(review_decide))
        .route("/staff/applications/{id}/photos/{pid}", get(staff_photo))
        .route("/production", get(production))
        .route("/production/batch", post(production_batch))
        .route("/production/{id}/step", post(production_step))
        .route("/counter/applications/new", get(counter_form).post(counter_enter))
        .route("/counter/applications/{id}/finish", post(counter_finish))
        .route("/counter/handover", get(handover_page))
        .route("/counter/handover/{id}", post(handover))
        .route("/supervision", get(supervision))
        .route("/static/capture.js", get(|| async { ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")], include_str!("../../static/capture.js")) }))
}

// ----- helpers -----------------------------------------------------------------------------------


fn require_staff(user: &MaybeUser, roles: &[Role]) -> Result<Staff, Response> {
    match &user.principal {
        Some(Principal::Staff(s)) if s.active && roles.contains(&s.role) => Ok(s.clone()),
        Some(_) => Err(AppError::forbidden().into_response()),
        None => Err(Redirect::to("/staff/sign-in").into_response()),
    }
}

fn when(ms: i64) -> String {
    ms_to_local(ms).format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]")).unwrap_or_default()
}

fn err_page(e: AppError) -> Response {
    e.into_response()
}

/// A row of an application list.
struct Row {
    id: String,
    ref_no: String,
    kind: &'static str,
    state: &'static str,
    state_code: &'static str,
    submitted: String,
    claimed: bool,
}

fn row(a: &Application, lang: Lang) -> Row {
    Row {
        id: a.id.clone(),
        ref_no: a.ref_no.clone(),
        kind: apps::kind_label(a.kind, lang),
        state: apps::state_label(a.state, lang),
        state_code: a.state.code(),
        submitted: a.submitted_at.map(when).unwrap_or_else(|| "—".into()),
        claimed: a.claimed_by.is_some(),
    }
}

/// The progress bar: the citizen's stages in order, with the one reached marked.
struct Step {
    label: &'static str,
    done: bool,
    current: bool,
}

fn steps(a: &Application, lang: Lang) -> Vec<Step> {
    let order = [None, Some(Stage::Review), Some(Stage::Payment), Some(Stage::Production), Some(Stage::Logistics), Some(Stage::Done)];
    let current = match a.state {
        ApplicationState::Draft => 0,
        s => match s.stage() {
            Some(stage) => order.iter().position(|o| *o == Some(stage)).unwrap_or(0),
            None => 5,
        },
    };
    order
        .iter()
        .enumerate()
        .map(|(i, o)| Step {
            label: match o {
                None => lang.pick("填写申请", "Apply"),
                Some(s) => lang.pick(s.name_zh(), s.name_en()),
            },
            done: i < current,
            current: i == current,
        })
        .collect()
}

struct TimelineItem {
    at: String,
    state: &'static str,
    by: &'static str,
    note: String,
}

fn by_label(kind: &str, lang: Lang) -> &'static str {
    match kind {
        "citizen" => lang.pick("本人", "You"),
        "staff" => lang.pick("公安机关", "Police"),
        _ => lang.pick("系统", "System"),
    }
}

async fn timeline(state: &AppState, a: &Application, lang: Lang) -> Result<Vec<TimelineItem>, AppError> {
    let events = state.store.application_events(&a.id).await?;
    Ok(events
        .iter()
        .rev()
        .map(|e| {
            let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
            let mut note = String::new();
            if let Some(reasons) = detail.get("reasons").and_then(|r| r.as_array()) {
                note = reasons.iter().filter_map(|r| r.as_str().and_then(ReturnReason::from_code)).map(|r| lang.pick(r.text_zh(), r.text_en())).collect::<Vec<_>>().join("；");
            }
            if let Some(t) = detail.get("tracking_no").and_then(|t| t.as_str()) {
                note = format!("EMS {t}");
            }
            Some(TimelineItem { at: when(e.at), state: apps::state_label(e.to_state, lang), by: by_label(&e.actor_kind, lang), note })
        })
        .flatten()
        .collect())
}

// ----- citizen: list and start -------------------------------------------------------------------

#[derive(Template)]
#[template(path = "applications.html")]
struct ListPage<'a> {
    p: &'a PageCtx,
    rows: Vec<Row>,
    has_open: bool,
}

async fn list(State(state): State<AppState>, p: PageCtx, user: MaybeUser) -> Response {
    let c = match require_citizen(&user, "/applications") {
        Ok(c) => c,
        Err(r) => return r,
    };
    match state.store.applications_of(&c.id, apps::LIST_LIMIT).await {
        Ok(list) => {
            let has_open = list.iter().any(|a| !a.state.is_terminal());
            render(&ListPage { p: &p, rows: list.iter().map(|a| row(a, p.lang)).collect(), has_open })
        }
        Err(e) => err_page(e.into()),
    }
}

struct KindOpt {
    code: &'static str,
    label: &'static str,
    fee: String,
}

struct RefusalItem {
    message: String,
    instead: &'static str,
}

struct PointOpt {
    id: String,
    name: String,
}

/// One of the citizen's upcoming appointments, offered to finish an application at.
struct AppointmentOpt {
    id: String,
    label: String,
}

#[derive(Template)]
#[template(path = "application_new.html")]
struct NewPage<'a> {
    p: &'a PageCtx,
    kinds: Vec<KindOpt>,
    /// The chosen kind (step 2), with its eligibility.
    kind: Option<KindOpt>,
    refusals: Vec<RefusalItem>,
    points: Vec<PointOpt>,
    /// Upcoming appointments, for the started-online-finished-at-a-counter route when the online route refuses.
    appointments: Vec<AppointmentOpt>,
    form: NewForm,
    postage: String,
    errors: Vec<FieldError>,
}

#[derive(Deserialize, Default, Clone)]
struct NewForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    portrait_source: String,
    #[serde(default)]
    delivery_method: String,
    #[serde(default)]
    delivery_division: String,
    #[serde(default)]
    delivery_address: String,
    #[serde(default)]
    delivery_phone: String,
    #[serde(default)]
    pickup_point: String,
    /// Set when the application is to be finished at this appointment's counter.
    #[serde(default)]
    appointment_id: String,
}

fn kind_opt(state: &AppState, k: ApplicationKind, lang: Lang) -> KindOpt {
    let fee = shenfen_domain::fees::FeeSchedule { postage_fen: state.config.postage_fen }.amount_fen(k.fee_item());
    KindOpt { code: k.code(), label: apps::kind_label(k, lang), fee: format_yuan(fee) }
}

async fn new_page(state: &AppState, p: &PageCtx, c: &Citizen, form: NewForm, errors: Vec<FieldError>) -> Response {
    // Every kind is offered: the fully online ones first (the first is preselected), then those that can only be
    // started here and finished at a counter.
    let online = &apps::online_rules(state).online_kinds;
    let kinds = online.iter().chain(ApplicationKind::ALL.iter().filter(|k| !online.contains(k))).map(|k| kind_opt(state, *k, p.lang)).collect();
    let mut page =
        NewPage { p, kinds, kind: None, refusals: vec![], points: vec![], appointments: vec![], form: form.clone(), postage: format_yuan(state.config.postage_fen), errors };
    if c.verification == shenfen_store::Verification::None {
        return Redirect::to("/me/verify").into_response();
    }
    if let Some(kind) = ApplicationKind::from_code(&form.kind) {
        page.kind = Some(kind_opt(state, kind, p.lang));
        let result = async {
            let applicant = apps::applicant_of(state, c).await?;
            let f = apps::facts(state, c, &applicant, kind).await?;
            Ok::<_, AppError>(eligibility::check_online(apps::online_rules(state), &f))
        }
        .await;
        match result {
            Ok(e) => {
                page.refusals = e.refusals.iter().map(|r| RefusalItem { message: p.lang.pick(&r.message_zh, &r.message_en).to_string(), instead: p.lang.pick(r.instead.text_zh(), r.instead.text_en()) }).collect()
            }
            Err(e) => return err_page(e),
        }
        match state.store.list_points().await {
            Ok(points) => page.points = points.into_iter().map(|pt| PointOpt { id: pt.id, name: pt.name }).collect(),
            Err(e) => return err_page(e.into()),
        }
        if !page.refusals.is_empty() || !form.appointment_id.is_empty() {
            match upcoming_appointments(state, c, p.lang).await {
                Ok(list) => page.appointments = list,
                Err(e) => return err_page(e),
            }
        }
    }
    let status = if page.errors.is_empty() { axum::http::StatusCode::OK } else { axum::http::StatusCode::UNPROCESSABLE_ENTITY };
    render_status(status, &page)
}

/// The citizen's booked appointments from today on, labelled with point, day and time.
async fn upcoming_appointments(state: &AppState, c: &Citizen, lang: Lang) -> AppResult<Vec<AppointmentOpt>> {
    let points = state.store.list_points().await?;
    let mut out = Vec::new();
    for a in state.store.appointments_of(&c.id).await? {
        let Some(slot) = apps::upcoming_slot(state, &a).await? else { continue };
        let point = points.iter().find(|p| p.id == a.point_id).map(|p| p.name.clone()).unwrap_or_default();
        let label = format!("{point} · {} {:02}:{:02} · {} {}", slot.day, slot.start_min / 60, slot.start_min % 60, lang.pick("预约码", "code"), a.code);
        out.push(AppointmentOpt { id: a.id, label });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct NewQuery {
    kind: Option<String>,
}

async fn new_form(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Query(q): Query<NewQuery>) -> Response {
    let c = match require_citizen(&user, "/applications/new") {
        Ok(c) => c,
        Err(r) => return r,
    };
    let form = NewForm { kind: q.kind.unwrap_or_default(), portrait_source: "phone".into(), delivery_method: "ems".into(), delivery_phone: c.phone.clone(), ..Default::default() };
    new_page(&state, &p, &c, form, vec![]).await
}

async fn create(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(form): Form<NewForm>) -> Response {
    let c = match require_citizen(&user, "/applications/new") {
        Ok(c) => c,
        Err(r) => return r,
    };
    let parsed = (|| {
        let kind = ApplicationKind::from_code(&form.kind).ok_or_else(|| AppError::invalid("kind_invalid", "请选择办理类型。", "Choose what you are applying for.").on_field("kind"))?;
        let portrait_source = PortraitSource::from_code(&form.portrait_source)
            .ok_or_else(|| AppError::invalid("portrait_source_invalid", "请选择照片来源。", "Choose where the photo comes from.").on_field("portrait_source"))?;
        let delivery = match form.delivery_method.as_str() {
            "pickup" => DeliveryChoice::Pickup { point_id: form.pickup_point.clone() },
            "ems" => DeliveryChoice::Ems { division: form.delivery_division.clone(), address: form.delivery_address.clone(), phone: form.delivery_phone.clone() },
            _ => return Err(AppError::invalid("delivery_method_invalid", "请选择邮寄或自取。", "Choose delivery by EMS or pickup.").on_field("delivery_method")),
        };
        let appointment_id = Some(form.appointment_id.trim().to_string()).filter(|s| !s.is_empty());
        Ok(NewApplication { kind, portrait_source, delivery, appointment_id })
    })();
    let result = match parsed {
        Ok(new) => apps::create_online(&state, &c, &new, &user.actor()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(a) => {
            let next = match a.portrait_source.as_deref() {
                Some("phone" | "prepared_upload") => format!("/applications/{}/photo", a.id),
                _ => format!("/applications/{}", a.id),
            };
            Redirect::to(&next).into_response()
        }
        Err(e) => {
            let fe = FieldError::from_app(&e, p.lang, "kind");
            new_page(&state, &p, &c, form, vec![fe]).await
        }
    }
}

// ----- citizen: one application ------------------------------------------------------------------

struct OrderRow {
    order_no: String,
    item: String,
    amount: String,
    paid: bool,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "application.html")]
struct ShowPage<'a> {
    p: &'a PageCtx,
    a: Application,
    kind: &'static str,
    state: &'static str,
    steps: Vec<Step>,
    timeline: Vec<TimelineItem>,
    orders: Vec<OrderRow>,
    total: String,
    portrait_ready: bool,
    standard_photo: Option<String>,
    return_reasons: Vec<&'static str>,
    can_edit: bool,
    can_cancel: bool,
    pay_by: String,
    /// The carrier's tracking events, newest first.
    tracking: Vec<TrackItem>,
    notice: Option<&'static str>,
    /// Started online, finished at a counter: where and when, with the appointment code.
    counter_visit: Option<String>,
    errors: Vec<FieldError>,
}

struct TrackItem {
    at: String,
    status: &'static str,
    place: String,
}

#[derive(Deserialize)]
struct ShowQuery {
    done: Option<String>,
}

async fn show_page(state: &AppState, p: &PageCtx, a: Application, notice: Option<&'static str>, errors: Vec<FieldError>) -> Response {
    let result = async {
        let tl = timeline(state, &a, p.lang).await?;
        let orders = apps::orders(state, &a).await?;
        let mut tracking = Vec::new();
        if let Some(sh) = state.store.shipment_for(&a.id).await? {
            for e in state.store.shipment_events(&sh.id).await?.iter().rev() {
                tracking.push(TrackItem { at: when(e.at), status: p.lang.pick(e.status.name_zh(), e.status.name_en()), place: e.location.clone() });
            }
        }
        let counter_visit = match &a.appointment_id {
            Some(id) if a.channel == rules::Channel::OnlineThenCounter => counter_visit(state, id).await?,
            _ => None,
        };
        Ok::<_, AppError>((tl, orders, tracking, counter_visit))
    }
    .await;
    let (tl, orders, tracking, counter_visit) = match result {
        Ok(v) => v,
        Err(e) => return err_page(e),
    };
    let pay_state = matches!(a.state, ApplicationState::AwaitingPayment);
    let orders = orders
        .iter()
        .filter(|o| pay_state || o.status == PaymentStatus::Success || o.refunded_fen > 0)
        .map(|o| OrderRow {
            order_no: o.order_no.clone(),
            item: shenfen_domain::fees::FeeItem::from_code(&o.item).map(|i| p.lang.pick(i.name_zh(), i.name_en()).to_string()).unwrap_or_default(),
            amount: format_yuan(o.amount_fen),
            paid: o.status == PaymentStatus::Success,
            status: shenfen_domain::payments::PaymentStatus::from_code(o.status.as_str()).map(|s| p.lang.pick(s.name_zh(), s.name_en())).unwrap_or("-"),
        })
        .collect();
    let standard_photo = a.portrait_id.as_ref().filter(|id| !id.starts_with("studio:")).cloned();
    let portrait_ready = a.portrait_source.as_deref() == Some("reuse_on_file") || a.portrait_id.is_some();
    let page = ShowPage {
        p,
        kind: apps::kind_label(a.kind, p.lang),
        state: apps::state_label(a.state, p.lang),
        steps: steps(&a, p.lang),
        timeline: tl,
        orders,
        total: format_yuan(a.total_fen()),
        portrait_ready,
        standard_photo,
        return_reasons: a.return_reasons.as_deref().unwrap_or("").split(',').filter_map(ReturnReason::from_code).map(|r| p.lang.pick(r.text_zh(), r.text_en())).collect(),
        can_edit: matches!(a.state, ApplicationState::Draft | ApplicationState::Returned),
        can_cancel: rules::citizen_may_cancel(a.state),
        pay_by: a.payment_due_at.map(when).unwrap_or_default(),
        tracking,
        notice,
        counter_visit,
        errors,
        a,
    };
    let status = if page.errors.is_empty() { axum::http::StatusCode::OK } else { axum::http::StatusCode::UNPROCESSABLE_ENTITY };
    render_status(status, &page)
}

/// "蜀山区政务服务中心 · 2026-11-27 09:00 · 预约码 AB12CD34" for the appointment an application is finished at.
async fn counter_visit(state: &AppState, appointment_id: &str) -> AppResult<Option<String>> {
    let Some(a) = state.store.appointment(appointment_id).await? else { return Ok(None) };
    let point = state.store.point(&a.point_id).await?.map(|p| p.name).unwrap_or_default();
    let when = match state.store.slot(&a.slot_id).await? {
        Some(s) => format!("{} {:02}:{:02}", s.day, s.start_min / 60, s.start_min % 60),
        None => String::new(),
    };
    Ok(Some(format!("{point} · {when} · {}", a.code)))
}

async fn show(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, Query(q): Query<ShowQuery>) -> Response {
    let c = match require_citizen(&user, &p.path) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let notice = match q.done.as_deref() {
        Some("submitted") => Some(p.t("app.notice_submitted")),
        Some("cancelled") => Some(p.t("app.notice_cancelled")),
        Some("photo") => Some(p.t("app.notice_photo")),
        _ => None,
    };
    match apps::own(&state, &c, &id).await {
        Ok(a) => show_page(&state, &p, a, notice, vec![]).await,
        Err(e) => err_page(e),
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    reason: String,
}

async fn submit(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>) -> Response {
    let c = match require_citizen(&user, &format!("/applications/{id}")) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let a = match apps::own(&state, &c, &id).await {
        Ok(a) => a,
        Err(e) => return err_page(e),
    };
    match apps::submit(&state, &c, &a, &user.actor()).await {
        Ok(_) => Redirect::to(&format!("/applications/{id}?done=submitted")).into_response(),
        Err(e) => {
            let fe = FieldError::from_app(&e, p.lang, "submit");
            show_page(&state, &p, a, None, vec![fe]).await
        }
    }
}

async fn cancel(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, Form(f): Form<CsrfOnly>) -> Response {
    let c = match require_citizen(&user, &format!("/applications/{id}")) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let a = match apps::own(&state, &c, &id).await {
        Ok(a) => a,
        Err(e) => return err_page(e),
    };
    match apps::cancel(&state, &a, rules::Actor::Citizen, &f.reason, &user.actor()).await {
        Ok(_) => Redirect::to(&format!("/applications/{id}?done=cancelled")).into_response(),
        Err(e) => {
            let fe = FieldError::from_app(&e, p.lang, "cancel");
            show_page(&state, &p, a, None, vec![fe]).await
        }
    }
}

#[derive(Deserialize)]
struct PortraitForm {
    source: String,
    #[serde(default)]
    receipt: String,
}

async fn portrait_choice(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, Form(f): Form<PortraitForm>) -> Response {
    let c = match require_citizen(&user, &format!("/applications/{id}")) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let a = match apps::own(&state, &c, &id).await {
        Ok(a) => a,
        Err(e) => return err_page(e),
    };
    let r = match f.source.as_str() {
        "studio_receipt" => portrait::use_studio_receipt(&state, &c, &a, &f.receipt, &user.actor()).await,
        "reuse_on_file" => portrait::use_photo_on_file(&state, &c, &a, &user.actor()).await,
        _ => Err(AppError::invalid("portrait_source_invalid", "请选择照片来源。", "Choose where the photo comes from.").on_field("source")),
    };
    match r {
        Ok(_) => Redirect::to(&format!("/applications/{id}?done=photo")).into_response(),
        Err(e) => {
            let fe = FieldError::from_app(&e, p.lang, "receipt");
            show_page(&state, &p, a, None, vec![fe]).await
        }
    }
}

// ----- citizen: the photo ------------------------------------------------------------------------

struct IssueItem {
    fail: bool,
    message: String,
}

#[derive(Template)]
#[template(path = "application_photo.html")]
struct PhotoPage<'a> {
    p: &'a PageCtx,
    a: Application,
    /// After an upload: passed or not, and why.
    checked: bool,
    passed: bool,
    issues: Vec<IssueItem>,
    standard_id: Option<String>,
    errors: Vec<FieldError>,
}

async fn photo_page(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>) -> Response {
    let c = match require_citizen(&user, &p.path) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match apps::own(&state, &c, &id).await {
        Ok(a) => render(&PhotoPage { p: &p, a, checked: false, passed: false, issues: vec![], standard_id: None, errors: vec![] }),
        Err(e) => err_page(e),
    }
}

async fn photo_upload(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, mut multipart: Multipart) -> Response {
    let c = match require_citizen(&user, &format!("/applications/{id}/photo")) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let a = match apps::own(&state, &c, &id).await {
        Ok(a) => a,
        Err(e) => return err_page(e),
    };
    let limit = state.config.limits.max_upload_bytes;
    let result = async {
        let mut image = Vec::new();
        let mut source = PortraitSource::Phone;
        while let Some(field) = multipart.next_field().await.map_err(|_| AppError::bad_request("multipart_invalid", "上传内容无法读取。", "The upload could not be read."))? {
            match field.name() {
                Some("photo") => {
                    let bytes = field.bytes().await.map_err(|_| AppError::payload_too_large())?;
                    if bytes.len() > limit {
                        return Err(AppError::payload_too_large());
                    }
                    image = bytes.to_vec();
                }
                Some("source") => {
                    let v = field.text().await.unwrap_or_default();
                    if v == "prepared_upload" {
                        source = PortraitSource::PreparedUpload;
                    }
                }
                _ => {}
            }
        }
        portrait::submit_photo(&state, &c, &a, source, image, &user.actor()).await
    }
    .await;
    match result {
        Ok(out) => {
            let issues = out
                .report
                .issues
                .iter()
                .map(|i| IssueItem { fail: i.severity == shenfen_portrait::Severity::Fail, message: p.lang.pick(&i.message_zh, &i.message_en).to_string() })
                .collect();
            let a = state.store.application(&a.id).await.ok().flatten().unwrap_or(a);
            let passed = out.standard.is_some();
            let page = PhotoPage { p: &p, a, checked: true, passed, issues, standard_id: out.standard.map(|s| s.id), errors: vec![] };
            render_status(if passed { axum::http::StatusCode::OK } else { axum::http::StatusCode::UNPROCESSABLE_ENTITY }, &page)
        }
        Err(e) => {
            let fe = FieldError::from_app(&e, p.lang, "photo");
            render_status(e.status, &PhotoPage { p: &p, a, checked: false, passed: false, issues: vec![], standard_id: None, errors: vec![fe] })
        }
    }
}

fn photo_response(photo: shenfen_store::Portrait) -> Response {
    ([(CONTENT_TYPE, photo.content_type.clone()), (CACHE_CONTROL, "private, no-store".to_string())], photo.bytes).into_response()
}

async fn own_photo(State(state): State<AppState>, user: MaybeUser, Path((id, pid)): Path<(String, String)>) -> Response {
    let c = match require_citizen(&user, &format!("/applications/{id}")) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let r = async {
        let a = apps::own(&state, &c, &id).await?;
        portrait::photo_of(&state, &a, &pid).await
    }
    .await;
    match r {
        Ok(photo) => photo_response(photo),
        Err(e) => err_page(e),
    }
}

// ----- police review -----------------------------------------------------------------------------

const REVIEWERS: &[Role] = &[Role::Reviewer, Role::Admin];
const PRODUCTION: &[Role] = &[Role::Production, Role::Admin];
const SUPERVISORS: &[Role] = &[Role::Reviewer, Role::Production, Role::Admin];

struct QueueRow {
    row: Row,
    due: String,
    sla: &'static str,
    sla_code: &'static str,
}

#[derive(Template)]
#[template(path = "review_queue.html")]
struct QueuePage<'a> {
    p: &'a PageCtx,
    rows: Vec<QueueRow>,
}

fn sla_of(state: &AppState, a: &Application, lang: Lang) -> (String, &'static str, &'static str) {
    let Some(sub) = a.submitted_at else { return ("—".into(), "", "") };
    let cal = shenfen_domain::calendar::WorkCalendar::official();
    let policy = state.config.applications.sla;
    let submitted_on = ms_to_local(sub).date();
    let due = policy.due_date(cal, submitted_on);
    let s = policy.status(cal, submitted_on, state.clock.today_cst(), None);
    (due.to_string(), lang.pick(s.name_zh(), s.name_en()), s.code())
}

async fn review_queue(State(state): State<AppState>, p: PageCtx, user: MaybeUser) -> Response {
    let staff = match require_staff(&user, REVIEWERS) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match apps::review_queue(&state, &staff).await {
        Ok(list) => {
            let rows = list
                .iter()
                .map(|a| {
                    let (due, sla, sla_code) = sla_of(&state, a, p.lang);
                    QueueRow { row: row(a, p.lang), due, sla, sla_code }
                })
                .collect();
            render(&QueuePage { p: &p, rows })
        }
        Err(e) => err_page(e),
    }
}

struct ReasonOpt {
    code: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage<'a> {
    p: &'a PageCtx,
    a: Application,
    kind: &'static str,
    state: &'static str,
    delivery: String,
    mine: bool,
    claimed_by_other: bool,
    claim_until: String,
    photo_id: Option<String>,
    /// The chosen portrait no longer exists (deleted under the retention rules).
    photo_deleted: bool,
    studio_receipt: Option<String>,
    issues: Vec<IssueItem>,
    score: Option<u8>,
    face_match: Option<String>,
    previous_photo: Option<String>,
    reasons: Vec<ReasonOpt>,
    timeline: Vec<TimelineItem>,
    due: String,
    sla: &'static str,
    errors: Vec<FieldError>,
}

async fn review_view(state: &AppState, p: &PageCtx, staff: &Staff, a: Application, errors: Vec<FieldError>) -> Response {
    let now = state.now_ms();
    let live_claim = a.claim_until.is_some_and(|u| u >= now);
    let mine = live_claim && a.claimed_by.as_deref() == Some(staff.id.as_str());
    let claimed_by_other = live_claim && !mine;
    let (mut photo_id, studio_receipt) = match &a.portrait_id {
        Some(id) if id.starts_with("studio:") => (None, Some(id.trim_start_matches("studio:").to_string())),
        Some(id) => (Some(id.clone()), None),
        None => (None, None),
    };
    let mut photo = None;
    let mut photo_deleted = false;
    if let Some(pid) = &photo_id {
        match portrait::photo_of(state, &a, pid).await {
            Ok(found) => photo = Some(found),
            // Retention deletes the portrait of an application that ended without a card (`rejected_photo_days`):
            // the page says so rather than showing a broken image.
            Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => photo_deleted = true,
            Err(_) => {}
        }
    }
    if photo_deleted {
        photo_id = None;
    }
    let mut issues = Vec::new();
    let mut score = None;
    let mut face_match = None;
    if let Some(photo) = photo {
        if let Some(r) = portrait::report_of(&photo) {
            score = Some(r.score);
            issues = r.issues.iter().map(|i| IssueItem { fail: i.severity == shenfen_portrait::Severity::Fail, message: p.lang.pick(&i.message_zh, &i.message_en).to_string() }).collect();
        }
        // The new portrait against the registry's photo on file (the national real-person check).
        if let Some(c) = a.citizen_id.as_deref()
            && let Ok(Some(citizen)) = state.store.citizen(c).await
            && let Ok(resident) = crate::accounts::resident_of(state, &citizen).await
        {
            face_match = Some(match state.verifier.verify_face(&resident, &photo.bytes).await {
                Ok(crate::registry::FaceOutcome::Match { score_permille }) => format!("{} {:.1}%", p.t("review.face_match"), f64::from(score_permille) / 10.0),
                Ok(_) => p.t("review.face_mismatch").to_string(),
                Err(_) => p.t("review.face_unavailable").to_string(),
            });
        }
    }
    // The applicant's previous accepted portrait on this platform (an earlier application), if any.
    let previous_photo = match &a.citizen_id {
        Some(c) => state
            .store
            .portraits_of(c, None, 50)
            .await
            .ok()
            .and_then(|ps| ps.into_iter().find(|x| x.passed && x.application_id.as_deref() != Some(a.id.as_str())).map(|x| format!("{}/{}", x.application_id.unwrap_or_default(), x.id))),
        None => None,
    };
    let tl = timeline(state, &a, p.lang).await.unwrap_or_default();
    let (due, sla, _) = sla_of(state, &a, p.lang);
    let delivery = match a.delivery_method {
        rules::DeliveryMethod::Ems => format!("EMS · {}", a.delivery_address_masked.clone().unwrap_or_default()),
        rules::DeliveryMethod::Pickup => format!("{} · {}", p.t("app.pickup"), a.pickup_point_id.clone().unwrap_or_default()),
    };
    let page = ReviewPage {
        p,
        kind: apps::kind_label(a.kind, p.lang),
        state: apps::state_label(a.state, p.lang),
        photo_deleted,
        delivery,
        mine,
        claimed_by_other,
        claim_until: a.claim_until.map(when).unwrap_or_default(),
        photo_id,
        studio_receipt,
        issues,
        score,
        face_match,
        previous_photo,
        reasons: ReturnReason::ALL.iter().map(|r| ReasonOpt { code: r.code(), label: p.lang.pick(r.text_zh(), r.text_en()) }).collect(),
        timeline: tl,
        due,
        sla,
        errors,
        a,
    };
    let status = if page.errors.is_empty() { axum::http::StatusCode::OK } else { axum::http::StatusCode::CONFLICT };
    render_status(status, &page)
}

async fn review_page(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>) -> Response {
    let staff = match require_staff(&user, REVIEWERS) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match apps::in_scope(&state, &staff, &id).await {
        Ok(a) => review_view(&state, &p, &staff, a, vec![]).await,
        Err(e) => err_page(e),
    }
}

async fn review_claim(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>) -> Response {
    let staff = match require_staff(&user, REVIEWERS) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let a = match apps::in_scope(&state, &staff, &id).await {
        Ok(a) => a,
        Err(e) => return err_page(e),
    };
    match apps::claim(&state, &staff, &a, &user.actor()).await {
        Ok(_) => Redirect::to(&format!("/review/{id}")).into_response(),
        Err(e) => {
            let fe = FieldError::from_app(&e, p.lang, "claim");
            review_view(&state, &p, &staff, a, vec![fe]).await
        }
    }
}

async fn review_decide(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    let staff = match require_staff(&user, REVIEWERS) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let a = match apps::in_scope(&state, &staff, &id).await {
        Ok(a) => a,
        Err(e) => return err_page(e),
    };
    // Repeated `reasons` fields (checkboxes) need the pair list, not a struct.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let reasons: Vec<String> = pairs.iter().filter(|(n, _)| n == "reasons").map(|(_, v)| v.clone()).collect();
    let result = async {
        if let Some(v) = get("version").and_then(|v| v.parse::<i64>().ok())
            && v != a.version
        {
            return Err(AppError::new(axum::http::StatusCode::CONFLICT, "application_changed", "该申请已更新，请刷新后再审核。", "The application has changed; reload it before deciding."));
        }
        let d = crate::api::applications::parse_decision(get("decision").unwrap_or(""), &reasons, get("note"), get("reason"))?;
        apps::decide(&state, &staff, &a, d, &user.actor()).await
    }
    .await;
    match result {
        Ok(_) => Redirect::to("/review?done=1").into_response(),
        Err(e) => {
            let fe = FieldError::from_app(&e, p.lang, "decision");
            let fresh = state.store.application(&a.id).await.ok().flatten().unwrap_or(a);
            review_view(&state, &p, &staff, fresh, vec![fe]).await
        }
    }
}

async fn staff_photo(State(state): State<AppState>, user: MaybeUser, Path((id, pid)): Path<(String, String)>) -> Response {
    let staff = match require_staff(&user, SUPERVISORS) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let r = async {
        let a = apps::in_scope(&state, &staff, &id).await?;
        portrait::photo_of(&state, &a, &pid).await
    }
    .await;
    match r {
        Ok(photo) => photo_response(photo),
        Err(e) => err_page(e),
    }
}

// ----- production and hand-over ------------------------------------------------------------------

struct ProdRow {
    row: Row,
    delivery: &'static str,
    batch: String,
    steps: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "production.html")]
struct ProductionPage<'a> {
    p: &'a PageCtx,
    waiting: Vec<ProdRow>,
    working: Vec<ProdRow>,
    notice: Option<String>,
    errors: Vec<FieldError>,
}

fn next_steps(a: &Application, lang: Lang) -> Vec<(&'static str, &'static str)> {
    match a.state {
        ApplicationState::InProduction => vec![("mark_produced", lang.pick("制证完成", "Produced"))],
        ApplicationState::Produced => vec![("pass_quality_check", lang.pick("质检合格", "Quality passed")), ("fail_quality_check", lang.pick("质检不合格，重制", "Failed, remake"))],
        ApplicationState::QualityChecked => match a.delivery_method {
            rules::DeliveryMethod::Ems => vec![("dispatch", lang.pick("交寄 EMS", "Hand to EMS"))],
            rules::DeliveryMethod::Pickup => vec![("route_to_pickup", lang.pick("发往领证点", "Send to pickup point"))],
        },
        _ => vec![],
    }
}

async fn production_view(state: &AppState, p: &PageCtx, staff: &Staff, notice: Option<String>, errors: Vec<FieldError>) -> Response {
    let list = match apps::production_queue(state, staff).await {
        Ok(l) => l,
        Err(e) => return err_page(e),
    };
    let to_row = |a: &Application| ProdRow {
        row: row(a, p.lang),
        delivery: match a.delivery_method {
            rules::DeliveryMethod::Ems => "EMS",
            rules::DeliveryMethod::Pickup => p.t("app.pickup"),
        },
        batch: a.batch_id.clone().unwrap_or_default(),
        steps: next_steps(a, p.lang),
    };
    let waiting = list.iter().filter(|a| matches!(a.state, ApplicationState::Paid | ApplicationState::Approved)).map(to_row).collect();
    let working = list.iter().filter(|a| !matches!(a.state, ApplicationState::Paid | ApplicationState::Approved)).map(to_row).collect();
    let status = if errors.is_empty() { axum::http::StatusCode::OK } else { axum::http::StatusCode::CONFLICT };
    render_status(status, &ProductionPage { p, waiting, working, notice, errors })
}

async fn production(State(state): State<AppState>, p: PageCtx, user: MaybeUser) -> Response {
    match require_staff(&user, PRODUCTION) {
        Ok(s) => production_view(&state, &p, &s, None, vec![]).await,
        Err(r) => r,
    }
}

async fn production_batch(State(state): State<AppState>, p: PageCtx, user: MaybeUser, body: axum::body::Bytes) -> Response {
    let staff = match require_staff(&user, PRODUCTION) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let ids: Vec<String> = pairs.into_iter().filter(|(k, _)| k == "ids").map(|(_, v)| v).collect();
    if ids.is_empty() {
        let e = AppError::invalid("batch_empty", "请至少选择一件申请。", "Choose at least one application.").on_field("ids");
        return production_view(&state, &p, &staff, None, vec![FieldError::from_app(&e, p.lang, "ids")]).await;
    }
    match apps::start_batch(&state, &staff, &ids, &user.actor()).await {
        Ok((batch, n)) => production_view(&state, &p, &staff, Some(format!("{} {batch}: {n}", p.t("prod.batch_started"))), vec![]).await,
        Err(e) => production_view(&state, &p, &staff, None, vec![FieldError::from_app(&e, p.lang, "ids")]).await,
    }
}

#[derive(Deserialize)]
struct StepForm {
    step: String,
}

async fn production_step(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, Form(f): Form<StepForm>) -> Response {
    let staff = match require_staff(&user, PRODUCTION) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let r = async {
        let a = apps::in_scope(&state, &staff, &id).await?;
        apps::production_step(&state, &a, &f.step, &user.actor()).await
    }
    .await;
    match r {
        Ok(a) => production_view(&state, &p, &staff, Some(format!("{} → {}", a.ref_no, apps::state_label(a.state, p.lang))), vec![]).await,
        Err(e) => production_view(&state, &p, &staff, None, vec![FieldError::from_app(&e, p.lang, "steps")]).await,
    }
}

#[derive(Template)]
#[template(path = "handover.html")]
struct HandoverPage<'a> {
    p: &'a PageCtx,
    rows: Vec<Row>,
    notice: Option<String>,
    errors: Vec<FieldError>,
}

async fn handover_view(state: &AppState, p: &PageCtx, staff: &Staff, notice: Option<String>, errors: Vec<FieldError>) -> Response {
    let r = async {
        let filter = apps::scope_filter(state, staff).await?;
        let ready = state.store.applications_in(&[ApplicationState::ReadyForPickup], &shenfen_store::DivisionFilter::All, apps::LIST_LIMIT).await?;
        let _ = filter;
        let mut mine = Vec::new();
        for a in ready {
            if apps::at_counter(state, staff, &a.id).await.is_ok() {
                mine.push(a);
            }
        }
        Ok::<_, AppError>(mine)
    }
    .await;
    match r {
        Ok(list) => {
            let status = if errors.is_empty() { axum::http::StatusCode::OK } else { axum::http::StatusCode::CONFLICT };
            render_status(status, &HandoverPage { p, rows: list.iter().map(|a| row(a, p.lang)).collect(), notice, errors })
        }
        Err(e) => err_page(e),
    }
}

async fn handover_page(State(state): State<AppState>, p: PageCtx, user: MaybeUser) -> Response {
    match require_staff(&user, &[Role::Counter, Role::Admin]) {
        Ok(s) => handover_view(&state, &p, &s, None, vec![]).await,
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct HandoverForm {
    #[serde(default)]
    fingerprint: String,
}

async fn handover(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, Form(f): Form<HandoverForm>) -> Response {
    let staff = match require_staff(&user, &[Role::Counter, Role::Admin]) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let r = async {
        let a = apps::at_counter(&state, &staff, &id).await?;
        apps::act(&state, &a, rules::ApplicationEvent::Collected { fingerprint_verified: f.fingerprint == "verified" }, &user.actor(), Extra::default()).await
    }
    .await;
    match r {
        Ok(a) => handover_view(&state, &p, &staff, Some(format!("{} {}", a.ref_no, apps::state_label(a.state, p.lang))), vec![]).await,
        Err(e) => handover_view(&state, &p, &staff, None, vec![FieldError::from_app(&e, p.lang, "fingerprint")]).await,
    }
}

// ----- supervision -------------------------------------------------------------------------------

struct StageBar {
    label: &'static str,
    median: String,
    p90: String,
    /// Bar length in the SVG, 0–240.
    width: u32,
    bottleneck: bool,
    y: u32,
    text_y: u32,
}

struct OpenRow {
    ref_no: String,
    state: &'static str,
    submitted: String,
    due: String,
    days_left: i64,
    status: &'static str,
    status_code: &'static str,
}

#[derive(Template)]
#[template(path = "supervision.html")]
struct SupervisionPage<'a> {
    p: &'a PageCtx,
    s: apps::sla::Supervision,
    bars: Vec<StageBar>,
    open: Vec<OpenRow>,
    bottleneck: Option<&'static str>,
    median: String,
    p90: String,
}

#[derive(Deserialize)]
struct PeriodQuery {
    period_days: Option<u32>,
}

async fn supervision(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Query(q): Query<PeriodQuery>) -> Response {
    let staff = match require_staff(&user, SUPERVISORS) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let days = q.period_days.unwrap_or(30).clamp(1, 366);
    let s = match apps::sla::supervision(&state, &staff, days).await {
        Ok(s) => s,
        Err(e) => return err_page(e),
    };
    let fmt = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "—".into());
    let max = s.stages.iter().filter_map(|f| f.p90.or(f.median)).fold(1.0_f64, f64::max);
    let bars = s
        .stages
        .iter()
        .enumerate()
        .map(|(i, f)| StageBar {
            label: p.lang.pick(f.stage.name_zh(), f.stage.name_en()),
            median: fmt(f.median),
            p90: fmt(f.p90),
            width: ((f.median.unwrap_or(0.0) / max) * 240.0).round().clamp(0.0, 240.0) as u32,
            bottleneck: s.bottleneck == Some(f.stage),
            y: 8 + i as u32 * 34,
            text_y: 26 + i as u32 * 34,
        })
        .collect();
    let open = s
        .open
        .iter()
        .map(|o| OpenRow {
            ref_no: o.ref_no.clone(),
            state: apps::state_label(o.state, p.lang),
            submitted: o.submitted_on.to_string(),
            due: o.due_on.to_string(),
            days_left: o.days_left,
            status: p.lang.pick(o.status.name_zh(), o.status.name_en()),
            status_code: o.status.code(),
        })
        .collect();
    let bottleneck = s.bottleneck.map(|b| p.lang.pick(b.name_zh(), b.name_en()));
    let (median, p90) = (fmt(s.cycle_median), fmt(s.cycle_p90));
    let _ = SlaStatus::OnTrack;
    render(&SupervisionPage { p: &p, s, bars, open, bottleneck, median, p90 })
}

// ----- counter entry -----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "counter_application.html")]
struct CounterEntryPage<'a> {
    p: &'a PageCtx,
    kinds: Vec<KindOpt>,
    form: CounterForm,
    /// After a successful entry: the reference and the state reached.
    done: Option<(String, &'static str)>,
    issues: Vec<IssueItem>,
    errors: Vec<FieldError>,
    /// Applications started online to be finished at this counter.
    waiting: Vec<WaitingRow>,
    /// The appointment code looked up, and the application it found.
    code: String,
    found: Option<WaitingRow>,
}

/// An application started online, as the counter sees it before finishing it.
struct WaitingRow {
    id: String,
    ref_no: String,
    name: String,
    id_number: String,
    kind: &'static str,
    state: &'static str,
    /// Whether a photo that passed the check is attached already (then a new one is optional).
    has_photo: bool,
}

impl WaitingRow {
    fn of(a: &Application, lang: Lang) -> WaitingRow {
        WaitingRow {
            id: a.id.clone(),
            ref_no: a.ref_no.clone(),
            name: a.applicant_name_masked.clone(),
            id_number: a.applicant_id_masked.clone(),
            kind: apps::kind_label(a.kind, lang),
            state: apps::state_label(a.state, lang),
            has_photo: a.portrait_id.is_some() || a.portrait_source.as_deref() == Some("reuse_on_file"),
        }
    }
}

/// The counter page with the started-online applications of the clerk's point filled in (none for an
/// administrator without a point).
#[allow(clippy::too_many_arguments)]
async fn counter_page(
    state: &AppState,
    p: &PageCtx,
    staff: &Staff,
    form: CounterForm,
    done: Option<(String, &'static str)>,
    issues: Vec<IssueItem>,
    code: String,
    found: Option<WaitingRow>,
    error: Option<AppError>,
) -> Response {
    let kinds = ApplicationKind::ALL.iter().map(|k| kind_opt(state, *k, p.lang)).collect();
    let waiting = match apps::counter_point(state, staff, None).await {
        Ok(point) => match apps::waiting_at_counter(state, &point).await {
            Ok(list) => list.iter().map(|a| WaitingRow::of(a, p.lang)).collect(),
            Err(e) => return err_page(e),
        },
        Err(_) => vec![],
    };
    let (status, errors) = match error {
        Some(e) => (e.status, vec![FieldError::from_app(&e, p.lang, "name")]),
        None => (axum::http::StatusCode::OK, vec![]),
    };
    render_status(status, &CounterEntryPage { p, kinds, form, done, issues, errors, waiting, code, found })
}

#[derive(Deserialize)]
struct CounterQuery {
    code: Option<String>,
}

#[derive(Default, Clone)]
struct CounterForm {
    name: String,
    id_number: String,
    phone: String,
    kind: String,
}

async fn counter_form(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Query(q): Query<CounterQuery>) -> Response {
    let staff = match require_staff(&user, &[Role::Counter, Role::Admin]) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let form = CounterForm { kind: "first_issue".into(), ..Default::default() };
    let code = q.code.unwrap_or_default();
    if code.trim().is_empty() {
        return counter_page(&state, &p, &staff, form, None, vec![], code, None, None).await;
    }
    let found = async {
        let point = apps::counter_point(&state, &staff, None).await?;
        apps::by_appointment_code(&state, &staff, &point, &code).await
    }
    .await;
    match found {
        Ok(a) => counter_page(&state, &p, &staff, form, None, vec![], code, Some(WaitingRow::of(&a, p.lang)), None).await,
        Err(e) => counter_page(&state, &p, &staff, form, None, vec![], code, None, Some(e.on_field("code"))).await,
    }
}

/// Finishes an application started online: the clerk has checked the person against the ID number shown, takes the
/// photo (optional when one that passed is attached) and submits it for review.
async fn counter_finish(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, mut multipart: Multipart) -> Response {
    let staff = match require_staff(&user, &[Role::Counter, Role::Admin]) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let limit = state.config.limits.max_upload_bytes;
    let mut issues = Vec::new();
    let mut found = None;
    let result = async {
        let mut image = Vec::new();
        while let Some(field) = multipart.next_field().await.map_err(|_| AppError::bad_request("multipart_invalid", "上传内容无法读取。", "The upload could not be read."))? {
            if field.name() == Some("photo") {
                let bytes = field.bytes().await.map_err(|_| AppError::payload_too_large())?;
                if bytes.len() > limit {
                    return Err(AppError::payload_too_large());
                }
                image = bytes.to_vec();
            }
        }
        let a = apps::entered_here(&state, &staff, &id).await?;
        if a.channel != rules::Channel::OnlineThenCounter {
            return Err(apps::not_found());
        }
        found = Some(WaitingRow::of(&a, p.lang));
        let a = if image.is_empty() {
            a
        } else {
            let out = portrait::submit_counter_photo(&state, &a, PortraitSource::CounterCapture, image, &user.actor()).await?;
            issues = out.report.issues.iter().map(|i| IssueItem { fail: i.severity == shenfen_portrait::Severity::Fail, message: p.lang.pick(&i.message_zh, &i.message_en).to_string() }).collect();
            let a = state.store.application(&a.id).await?.ok_or_else(apps::not_found)?;
            if out.standard.is_none() {
                found = Some(WaitingRow::of(&a, p.lang));
                return Ok(None);
            }
            a
        };
        apps::submit_at_counter(&state, &a, &user.actor()).await.map(Some)
    }
    .await;
    let form = CounterForm { kind: "first_issue".into(), ..Default::default() };
    match result {
        Ok(Some(a)) => counter_page(&state, &p, &staff, form, Some((a.ref_no.clone(), apps::state_label(a.state, p.lang))), issues, String::new(), None, None).await,
        // The photo failed the check: the issues are shown, the application stays open for another photo.
        Ok(None) => counter_page(&state, &p, &staff, form, None, issues, String::new(), found, None).await,
        Err(e) => counter_page(&state, &p, &staff, form, None, issues, String::new(), found, Some(e.on_field("photo"))).await,
    }
}

/// One form, one visit: the clerk enters the person's particulars and the counter photo; the application is
/// created, the photo checked and, when it passes, the application submitted for review.
async fn counter_enter(State(state): State<AppState>, p: PageCtx, user: MaybeUser, mut multipart: Multipart) -> Response {
    let staff = match require_staff(&user, &[Role::Counter, Role::Admin]) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let limit = state.config.limits.max_upload_bytes;
    let mut form = CounterForm::default();
    let mut image = Vec::new();
    let mut point_req = String::new();
    let mut issues = Vec::new();
    let result = async {
        while let Some(field) = multipart.next_field().await.map_err(|_| AppError::bad_request("multipart_invalid", "上传内容无法读取。", "The upload could not be read."))? {
            let name = field.name().unwrap_or("").to_string();
            if name == "photo" {
                let bytes = field.bytes().await.map_err(|_| AppError::payload_too_large())?;
                if bytes.len() > limit {
                    return Err(AppError::payload_too_large());
                }
                image = bytes.to_vec();
                continue;
            }
            let v = field.text().await.unwrap_or_default();
            match name.as_str() {
                "name" => form.name = v,
                "id_number" => form.id_number = v,
                "phone" => form.phone = v,
                "kind" => form.kind = v,
                "point_id" => point_req = v,
                _ => {}
            }
        }
        let point = apps::counter_point(&state, &staff, Some(point_req.as_str())).await?;
        let kind = ApplicationKind::from_code(&form.kind).ok_or_else(|| AppError::invalid("kind_invalid", "请选择办理类型。", "Choose the kind.").on_field("kind"))?;
        let req = apps::CounterApplication { name: form.name.clone(), id_number: form.id_number.clone(), kind, phone: form.phone.clone(), delivery: DeliveryChoice::Pickup { point_id: point.clone() } };
        let a = apps::create_at_counter(&state, &staff, &point, &req, &user.actor()).await?;
        let out = portrait::submit_counter_photo(&state, &a, PortraitSource::CounterCapture, std::mem::take(&mut image), &user.actor()).await?;
        issues = out.report.issues.iter().map(|i| IssueItem { fail: i.severity == shenfen_portrait::Severity::Fail, message: p.lang.pick(&i.message_zh, &i.message_en).to_string() }).collect();
        let a = state.store.application(&a.id).await?.ok_or_else(apps::not_found)?;
        if out.standard.is_some() { apps::submit_at_counter(&state, &a, &user.actor()).await } else { Ok(a) }
    }
    .await;
    match result {
        Ok(a) => counter_page(&state, &p, &staff, CounterForm::default(), Some((a.ref_no.clone(), apps::state_label(a.state, p.lang))), issues, String::new(), None, None).await,
        Err(e) => counter_page(&state, &p, &staff, form, None, issues, String::new(), None, Some(e)).await,
    }
}
