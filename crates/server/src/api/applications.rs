//! Applications API: the citizen's online application (eligibility, draft, photo, delivery, submit, cancel), the
//! police review (queue, claim, decision), the production centre (queue, batches, steps), hand-over, and SLA
//! supervision. Rules live in `crate::applications`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shenfen_domain::applications::{self as rules, ApplicationEvent, ApplicationKind, PortraitSource, ReturnReason};
use shenfen_domain::eligibility;
use shenfen_store::{Application, ApplicationEventRow, Role};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ErrorBody};
use super::payments::OrderView;
use crate::app::AppState;
use crate::applications::{self as apps, DeliveryChoice, Decision, Extra, NewApplication, portrait};
use crate::auth::{CitizenUser, StaffUser};
use crate::error::{AppError, AppResult};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_eligibility))
        .routes(routes!(create, mine))
        .routes(routes!(get_one))
        .routes(routes!(upload_photo))
        .routes(routes!(choose_portrait))
        .routes(routes!(change_delivery))
        .routes(routes!(submit))
        .routes(routes!(cancel))
        .routes(routes!(review_queue))
        .routes(routes!(claim))
        .routes(routes!(decide))
        .routes(routes!(production_queue))
        .routes(routes!(start_batch))
        .routes(routes!(production_step))
        .routes(routes!(handover))
        .routes(routes!(counter_create))
        .routes(routes!(counter_photo))
        .routes(routes!(counter_submit))
        .routes(routes!(counter_waiting))
        .routes(routes!(counter_by_appointment))
        .routes(routes!(officer_cancel))
        .routes(routes!(staff_view))
        .routes(routes!(supervision))
}

// ----- views -------------------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct TimelineEntry {
    pub seq: i64,
    /// UTC unix milliseconds.
    pub at: i64,
    pub event: String,
    pub from_state: String,
    pub to_state: String,
    /// `citizen`, `staff` or `system`.
    pub actor_kind: String,
}

impl From<&ApplicationEventRow> for TimelineEntry {
    fn from(e: &ApplicationEventRow) -> Self {
        TimelineEntry { seq: e.seq, at: e.at, event: e.event.clone(), from_state: e.from_state.code().into(), to_state: e.to_state.code().into(), actor_kind: e.actor_kind.clone() }
    }
}

/// An application as callers see it: personal data masked.
#[derive(Serialize, ToSchema)]
pub struct ApplicationView {
    pub id: String,
    pub ref_no: String,
    /// `first_issue`, `renewal_expiry`, `renewal_change`, `replacement_lost`, `replacement_damaged`, `temporary_card`.
    pub kind: String,
    /// `online`, `online_then_counter`, `counter`.
    pub channel: String,
    /// One of the 18 states, e.g. `under_review`.
    pub state: String,
    pub state_name: String,
    pub version: i64,
    pub applicant_name: String,
    pub applicant_id_number: String,
    pub division_code: String,
    pub portrait_source: Option<String>,
    pub portrait_id: Option<String>,
    /// `ems` or `pickup`.
    pub delivery_method: String,
    pub delivery_address: Option<String>,
    pub pickup_point_id: Option<String>,
    /// The acceptance point that took the application in (counter channels).
    pub point_id: Option<String>,
    /// The appointment an application started online is finished at.
    pub appointment_id: Option<String>,
    pub fee_fen: i64,
    pub postage_fen: i64,
    pub fee_waived: bool,
    pub return_reasons: Vec<String>,
    pub return_note: Option<String>,
    pub reject_reason: Option<String>,
    pub tracking_no: Option<String>,
    pub batch_id: Option<String>,
    pub claimed_by: Option<String>,
    pub submitted_at: Option<i64>,
    pub approved_at: Option<i64>,
    pub payment_due_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&Application> for ApplicationView {
    fn from(a: &Application) -> Self {
        ApplicationView {
            id: a.id.clone(),
            ref_no: a.ref_no.clone(),
            kind: a.kind.code().into(),
            channel: a.channel.code().into(),
            state: a.state.code().into(),
            state_name: a.state.name_zh().into(),
            version: a.version,
            applicant_name: a.applicant_name_masked.clone(),
            applicant_id_number: a.applicant_id_masked.clone(),
            division_code: a.division_code.clone(),
            portrait_source: a.portrait_source.clone(),
            portrait_id: a.portrait_id.clone(),
            delivery_method: a.delivery_method.code().into(),
            delivery_address: a.delivery_address_masked.clone(),
            pickup_point_id: a.pickup_point_id.clone(),
            point_id: a.point_id.clone(),
            appointment_id: a.appointment_id.clone(),
            fee_fen: a.fee_fen,
            postage_fen: a.postage_fen,
            fee_waived: a.fee_waived,
            return_reasons: a.return_reasons.as_deref().unwrap_or("").split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            return_note: a.return_note.clone(),
            reject_reason: a.reject_reason.clone(),
            tracking_no: a.tracking_no.clone(),
            batch_id: a.batch_id.clone(),
            claimed_by: a.claimed_by.clone(),
            submitted_at: a.submitted_at,
            approved_at: a.approved_at,
            payment_due_at: a.payment_due_at,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApplicationDetail {
    pub application: ApplicationView,
    pub timeline: Vec<TimelineEntry>,
    pub payments: Vec<OrderView>,
}

async fn detail(state: &AppState, a: &Application) -> AppResult<ApplicationDetail> {
    let timeline = state.store.application_events(&a.id).await?;
    let orders = apps::orders(state, a).await?;
    Ok(ApplicationDetail { application: a.into(), timeline: timeline.iter().map(TimelineEntry::from).collect(), payments: orders.iter().map(OrderView::from).collect() })
}

fn parse_kind(s: &str) -> AppResult<ApplicationKind> {
    ApplicationKind::from_code(s.trim()).ok_or_else(|| AppError::invalid("kind_invalid", "请选择办理类型。", "Choose what you are applying for.").on_field("kind"))
}

// ----- citizen -----------------------------------------------------------------------------------

#[derive(Deserialize, IntoParams)]
pub struct KindQuery {
    /// Application kind code.
    pub kind: String,
}

#[derive(Serialize, ToSchema)]
pub struct RefusalView {
    pub code: String,
    pub message: String,
    /// What to do instead, e.g. `apply_at_counter`.
    pub instead: String,
    pub instead_text: String,
}

#[derive(Serialize, ToSchema)]
pub struct EligibilityView {
    pub eligible: bool,
    pub refusals: Vec<RefusalView>,
}

/// Whether I may apply for `kind` fully online, and if not every reason with what to do instead.
#[utoipa::path(get, path = "/api/v1/applications/eligibility", tag = "applications", security(("bearer" = [])), params(KindQuery),
    responses((status = 200, body = EligibilityView), (status = 422, body = ErrorBody)))]
async fn check_eligibility(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, Query(q): Query<KindQuery>, headers: axum::http::HeaderMap) -> AppResult<Json<EligibilityView>> {
    let _ = user;
    let kind = parse_kind(&q.kind)?;
    let lang = crate::i18n::Lang::from_headers(&headers);
    let applicant = apps::applicant_of(&state, &citizen).await?;
    let f = apps::facts(&state, &citizen, &applicant, kind).await?;
    let e = eligibility::check_online(apps::online_rules(&state), &f);
    Ok(Json(EligibilityView {
        eligible: e.is_eligible(),
        refusals: e
            .refusals
            .iter()
            .map(|r| RefusalView {
                code: r.code.into(),
                message: lang.pick(&r.message_zh, &r.message_en).to_string(),
                instead: r.instead.code().into(),
                instead_text: lang.pick(r.instead.text_zh(), r.instead.text_en()).into(),
            })
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRequest {
    /// `ems` or `pickup`.
    pub method: String,
    /// EMS: 6-, 9- or 12-digit division code of the address.
    pub division: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    /// Pickup: acceptance point id.
    pub point_id: Option<String>,
}

fn delivery_of(d: DeliveryRequest) -> AppResult<DeliveryChoice> {
    match d.method.as_str() {
        "ems" => Ok(DeliveryChoice::Ems { division: d.division.unwrap_or_default(), address: d.address.unwrap_or_default(), phone: d.phone.unwrap_or_default() }),
        "pickup" => Ok(DeliveryChoice::Pickup { point_id: d.point_id.unwrap_or_default() }),
        _ => Err(AppError::invalid("delivery_method_invalid", "请选择邮寄或自取。", "Choose delivery by EMS or pickup.").on_field("delivery_method")),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub kind: String,
    /// `phone`, `prepared_upload`, `studio_receipt` or `reuse_on_file` (online sources); with an appointment also
    /// `counter_capture` (the photo is taken at the counter).
    pub portrait_source: String,
    pub delivery: DeliveryRequest,
    /// One of my upcoming appointments: start online, finish at that counter (`online_then_counter`). This route is
    /// open to people the fully online route refuses (first issue, an old card, under 18 …).
    #[serde(default)]
    pub appointment_id: Option<String>,
}

fn parse_source(s: &str) -> AppResult<PortraitSource> {
    PortraitSource::from_code(s.trim()).ok_or_else(|| AppError::invalid("portrait_source_invalid", "请选择照片来源。", "Choose where the photo comes from.").on_field("portrait_source"))
}

/// Start an application (a draft): fully online, refused with every reason when the online route is not open to me;
/// or, with `appointment_id`, started online and finished at the counter of that appointment.
#[utoipa::path(post, path = "/api/v1/applications", tag = "applications", security(("bearer" = [])), request_body = CreateRequest,
    responses((status = 201, body = ApplicationView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, ApiJson(req): ApiJson<CreateRequest>) -> AppResult<(StatusCode, Json<ApplicationView>)> {
    let new = NewApplication {
        kind: parse_kind(&req.kind)?,
        portrait_source: parse_source(&req.portrait_source)?,
        delivery: delivery_of(req.delivery)?,
        appointment_id: req.appointment_id,
    };
    let a = apps::create_online(&state, &citizen, &new, &user.actor()).await?;
    Ok((StatusCode::CREATED, Json((&a).into())))
}

/// My applications, newest first.
#[utoipa::path(get, path = "/api/v1/applications", tag = "applications", security(("bearer" = [])), responses((status = 200, body = Vec<ApplicationView>)))]
async fn mine(State(state): State<AppState>, CitizenUser(citizen, _): CitizenUser) -> AppResult<Json<Vec<ApplicationView>>> {
    Ok(Json(state.store.applications_of(&citizen.id, apps::LIST_LIMIT).await?.iter().map(ApplicationView::from).collect()))
}

/// One of my applications with its timeline and payments.
#[utoipa::path(get, path = "/api/v1/applications/{id}", tag = "applications", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ApplicationDetail), (status = 404, body = ErrorBody)))]
async fn get_one(State(state): State<AppState>, CitizenUser(citizen, _): CitizenUser, Path(id): Path<String>) -> AppResult<Json<ApplicationDetail>> {
    let a = apps::own(&state, &citizen, &id).await?;
    Ok(Json(detail(&state, &a).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct PhotoQuery {
    /// `phone` (taken now) or `prepared_upload` (a photo prepared in advance).
    pub source: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PhotoIssueView {
    pub code: String,
    /// `fail` or `warn`.
    pub severity: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct PhotoResult {
    pub passed: bool,
    /// `pass`, `fail` or `error`.
    pub verdict: String,
    pub issues: Vec<PhotoIssueView>,
    /// The stored submitted photo.
    pub submitted_id: String,
    /// The standard 358×441 photo made from it, attached to the application.
    pub standard_id: Option<String>,
}

/// Upload a portrait (the image itself as the body: `image/jpeg`, `image/png` or `image/webp`). It is checked against
/// the ID photo standard; when it passes, a standard 358×441 photo is made and attached. Failing photos are kept
/// with the reasons.
#[utoipa::path(post, path = "/api/v1/applications/{id}/photo", tag = "applications", security(("bearer" = [])),
    params(("id" = String, Path), PhotoQuery), request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses((status = 200, body = PhotoResult), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn upload_photo(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, Path(id): Path<String>, Query(q): Query<PhotoQuery>, headers: axum::http::HeaderMap, body: Bytes) -> AppResult<Json<PhotoResult>> {
    let lang = crate::i18n::Lang::from_headers(&headers);
    let a = apps::own(&state, &citizen, &id).await?;
    let source = match q.source.as_deref() {
        None => PortraitSource::Phone,
        Some(s) => parse_source(s)?,
    };
    let out = portrait::submit_photo(&state, &citizen, &a, source, body.to_vec(), &user.actor()).await?;
    Ok(Json(photo_result(&out, lang)))
}

pub fn photo_result(out: &portrait::PhotoOutcome, lang: crate::i18n::Lang) -> PhotoResult {
    let verdict = serde_json::to_value(out.report.verdict).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    PhotoResult {
        passed: out.standard.is_some(),
        verdict,
        issues: out
            .report
            .issues
            .iter()
            .map(|i| PhotoIssueView {
                code: i.code.as_str().into(),
                severity: if i.severity == shenfen_portrait::Severity::Fail { "fail".into() } else { "warn".into() },
                message: lang.pick(&i.message_zh, &i.message_en).to_string(),
            })
            .collect(),
        submitted_id: out.submitted.id.clone(),
        standard_id: out.standard.as_ref().map(|p| p.id.clone()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortraitChoice {
    /// `studio_receipt` (with `receipt`) or `reuse_on_file`.
    pub source: String,
    pub receipt: Option<String>,
}

/// Use a certified studio's photo by its receipt number, or the photo on file from an issuance within two years.
#[utoipa::path(post, path = "/api/v1/applications/{id}/portrait", tag = "applications", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = PortraitChoice, responses((status = 200, body = ApplicationView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn choose_portrait(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, Path(id): Path<String>, ApiJson(req): ApiJson<PortraitChoice>) -> AppResult<Json<ApplicationView>> {
    let a = apps::own(&state, &citizen, &id).await?;
    let updated = match parse_source(&req.source)? {
        PortraitSource::StudioReceipt => portrait::use_studio_receipt(&state, &citizen, &a, req.receipt.as_deref().unwrap_or(""), &user.actor()).await?,
        PortraitSource::ReuseOnFile => portrait::use_photo_on_file(&state, &citizen, &a, &user.actor()).await?,
        _ => return Err(AppError::invalid("portrait_source_invalid", "照片请通过上传接口提交。", "Send photos to the photo endpoint.").on_field("source")),
    };
    Ok(Json((&updated).into()))
}

/// Change where the card goes (while a draft or returned for correction).
#[utoipa::path(put, path = "/api/v1/applications/{id}/delivery", tag = "applications", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DeliveryRequest, responses((status = 200, body = ApplicationView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_delivery(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, Path(id): Path<String>, ApiJson(req): ApiJson<DeliveryRequest>) -> AppResult<Json<ApplicationView>> {
    let a = apps::own(&state, &citizen, &id).await?;
    let updated = apps::change_delivery(&state, &citizen, &a, &delivery_of(req)?, &user.actor()).await?;
    Ok(Json((&updated).into()))
}

/// Submit (or resubmit after correction). The online rules are checked again.
#[utoipa::path(post, path = "/api/v1/applications/{id}/submit", tag = "applications", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ApplicationView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn submit(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, Path(id): Path<String>) -> AppResult<Json<ApplicationView>> {
    let a = apps::own(&state, &citizen, &id).await?;
    Ok(Json((&apps::submit(&state, &citizen, &a, &user.actor()).await?).into()))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub reason: Option<String>,
}

/// Cancel my application (until production starts). Anything paid is refunded in full.
#[utoipa::path(post, path = "/api/v1/applications/{id}/cancel", tag = "applications", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = CancelRequest, responses((status = 200, body = ApplicationView), (status = 409, body = ErrorBody)))]
async fn cancel(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, Path(id): Path<String>, ApiJson(req): ApiJson<CancelRequest>) -> AppResult<Json<ApplicationView>> {
    let a = apps::own(&state, &citizen, &id).await?;
    Ok(Json((&apps::cancel(&state, &a, rules::Actor::Citizen, req.reason.as_deref().unwrap_or(""), &user.actor()).await?).into()))
}

// ----- police review -----------------------------------------------------------------------------

const REVIEWERS: &[Role] = &[Role::Reviewer, Role::Admin];
const PRODUCTION: &[Role] = &[Role::Production, Role::Admin];
const SUPERVISORS: &[Role] = &[Role::Reviewer, Role::Production, Role::Admin];

/// The review queue in my scope, oldest (and so closest to its deadline) first.
#[utoipa::path(get, path = "/api/v1/review/queue", tag = "review", security(("bearer" = [])), responses((status = 200, body = Vec<ApplicationView>), (status = 403, body = ErrorBody)))]
async fn review_queue(State(state): State<AppState>, StaffUser(staff, _): StaffUser) -> AppResult<Json<Vec<ApplicationView>>> {
    apps::staff_actor_allowed(&staff, REVIEWERS)?;
    Ok(Json(apps::review_queue(&state, &staff).await?.iter().map(ApplicationView::from).collect()))
}

/// One application in my scope, with timeline and payments (any staff role with the scope).
#[utoipa::path(get, path = "/api/v1/staff/applications/{id}", tag = "review", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ApplicationDetail), (status = 404, body = ErrorBody)))]
async fn staff_view(State(state): State<AppState>, StaffUser(staff, _): StaffUser, Path(id): Path<String>) -> AppResult<Json<ApplicationDetail>> {
    let a = apps::in_scope(&state, &staff, &id).await?;
    Ok(Json(detail(&state, &a).await?))
}

/// Claim an application for review (a lease; renewing it is the same call). Another reviewer's running claim → 409.
#[utoipa::path(post, path = "/api/v1/review/{id}/claim", tag = "review", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ApplicationView), (status = 409, body = ErrorBody)))]
async fn claim(State(state): State<AppState>, StaffUser(staff, user): StaffUser, Path(id): Path<String>) -> AppResult<Json<ApplicationView>> {
    apps::staff_actor_allowed(&staff, REVIEWERS)?;
    let a = apps::in_scope(&state, &staff, &id).await?;
    Ok(Json((&apps::claim(&state, &staff, &a, &user.actor()).await?).into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `approve`, `return` or `reject`.
    pub decision: String,
    /// For `return`: reason codes (`photo_nonconforming`, `photo_not_matching`, `particulars_mismatch`,
    /// `address_outside_area`, `documents_missing`, `other`).
    #[serde(default)]
    pub reasons: Vec<String>,
    pub note: Option<String>,
    /// For `reject`.
    pub reason: Option<String>,
    /// The version the reviewer looked at; a changed application is refused (409).
    pub version: Option<i64>,
}

pub fn parse_decision(decision: &str, reasons: &[String], note: Option<&str>, reason: Option<&str>) -> AppResult<Decision> {
    match decision {
        "approve" => Ok(Decision::Approve),
        "return" => {
            let mut parsed = Vec::new();
            for r in reasons {
                let r = ReturnReason::from_code(r.trim()).ok_or_else(|| AppError::invalid("return_reason_invalid", "退回原因无效。", "Unknown return reason.").on_field("reasons"))?;
                if !parsed.contains(&r) {
                    parsed.push(r);
                }
            }
            if parsed.is_empty() {
                return Err(AppError::invalid("return_reason_missing", "退回补正须至少选择一项原因。", "Choose at least one reason.").on_field("reasons"));
            }
            Ok(Decision::Return { reasons: parsed, note: note.unwrap_or("").to_string() })
        }
        "reject" => {
            let reason = reason.unwrap_or("").trim();
            if reason.is_empty() {
                return Err(AppError::invalid("reject_reason_missing", "不予受理须填写原因。", "Give a reason for the rejection.").on_field("reason"));
            }
            Ok(Decision::Reject { reason: reason.to_string() })
        }
        _ => Err(AppError::invalid("decision_invalid", "请选择通过、退回补正或不予受理。", "Choose approve, return or reject.").on_field("decision")),
    }
}

/// Decide on a claimed application. Approval issues the payment orders and tells the citizen.
#[utoipa::path(post, path = "/api/v1/review/{id}/decision", tag = "review", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DecisionRequest, responses((status = 200, body = ApplicationView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn decide(State(state): State<AppState>, StaffUser(staff, user): StaffUser, Path(id): Path<String>, ApiJson(req): ApiJson<DecisionRequest>) -> AppResult<Json<ApplicationView>> {
    apps::staff_actor_allowed(&staff, REVIEWERS)?;
    let a = apps::in_scope(&state, &staff, &id).await?;
    if req.version.is_some_and(|v| v != a.version) {
        return Err(AppError::new(StatusCode::CONFLICT, "application_changed", "该申请已更新，请刷新后再审核。", "The application has changed; reload it before deciding."));
    }
    let d = parse_decision(&req.decision, &req.reasons, req.note.as_deref(), req.reason.as_deref())?;
    Ok(Json((&apps::decide(&state, &staff, &a, d, &user.actor()).await?).into()))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct OfficerCancelRequest {
    pub reason: String,
}

/// An officer cancels an application (any state before the card leaves the production centre); paid fees are
/// refunded in full.
#[utoipa::path(post, path = "/api/v1/staff/applications/{id}/cancel", tag = "review", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = OfficerCancelRequest, responses((status = 200, body = ApplicationView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn officer_cancel(State(state): State<AppState>, StaffUser(staff, user): StaffUser, Path(id): Path<String>, ApiJson(req): ApiJson<OfficerCancelRequest>) -> AppResult<Json<ApplicationView>> {
    apps::staff_actor_allowed(&staff, SUPERVISORS)?;
    if req.reason.trim().is_empty() {
        return Err(AppError::invalid("cancel_reason_missing", "请填写取消原因。", "Give the reason for cancelling.").on_field("reason"));
    }
    let a = apps::in_scope(&state, &staff, &id).await?;
    Ok(Json((&apps::cancel(&state, &a, rules::Actor::Officer, &req.reason, &user.actor()).await?).into()))
}

// ----- production and hand-over ------------------------------------------------------------------

/// Approved-and-paid applications in my scope, for the production centre.
#[utoipa::path(get, path = "/api/v1/production/queue", tag = "production", security(("bearer" = [])), responses((status = 200, body = Vec<ApplicationView>), (status = 403, body = ErrorBody)))]
async fn production_queue(State(state): State<AppState>, StaffUser(staff, _): StaffUser) -> AppResult<Json<Vec<ApplicationView>>> {
    apps::staff_actor_allowed(&staff, PRODUCTION)?;
    Ok(Json(apps::production_queue(&state, &staff).await?.iter().map(ApplicationView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Application ids (at most 200).
    pub ids: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchView {
    pub batch_id: String,
    pub started: usize,
}

/// Start production for a batch of paid applications.
#[utoipa::path(post, path = "/api/v1/production/batches", tag = "production", security(("bearer" = [])), request_body = BatchRequest,
    responses((status = 201, body = BatchView), (status = 422, body = ErrorBody)))]
async fn start_batch(State(state): State<AppState>, StaffUser(staff, user): StaffUser, ApiJson(req): ApiJson<BatchRequest>) -> AppResult<(StatusCode, Json<BatchView>)> {
    apps::staff_actor_allowed(&staff, PRODUCTION)?;
    if req.ids.is_empty() || req.ids.len() > apps::LIST_LIMIT as usize {
        return Err(AppError::invalid("batch_size_invalid", "每批 1–200 件。", "A batch holds 1–200 applications.").on_field("ids"));
    }
    let (batch_id, started) = apps::start_batch(&state, &staff, &req.ids, &user.actor()).await?;
    Ok((StatusCode::CREATED, Json(BatchView { batch_id, started })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    /// `mark_produced`, `pass_quality_check`, `fail_quality_check`, `dispatch` or `route_to_pickup`.
    pub step: String,
}

/// One production step for one application. `dispatch` hands the card to EMS (the carrier assigns the tracking
/// number); `route_to_pickup` sends it to the chosen acceptance point.
#[utoipa::path(post, path = "/api/v1/production/{id}/step", tag = "production", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = StepRequest, responses((status = 200, body = ApplicationView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn production_step(State(state): State<AppState>, StaffUser(staff, user): StaffUser, Path(id): Path<String>, ApiJson(req): ApiJson<StepRequest>) -> AppResult<Json<ApplicationView>> {
    apps::staff_actor_allowed(&staff, PRODUCTION)?;
    let a = apps::in_scope(&state, &staff, &id).await?;
    Ok(Json((&apps::production_step(&state, &a, &req.step, &user.actor()).await?).into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverRequest {
    /// `collected` (at the counter, fingerprint checked) .
    pub kind: String,
    /// The fingerprint check matched the holder.
    pub verified: bool,
}

/// Hand the card over at the pickup point after fingerprint verification (counter staff of that point).
#[utoipa::path(post, path = "/api/v1/counter/applications/{id}/handover", tag = "counter", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = HandoverRequest, responses((status = 200, body = ApplicationView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn handover(State(state): State<AppState>, StaffUser(staff, user): StaffUser, Path(id): Path<String>, ApiJson(req): ApiJson<HandoverRequest>) -> AppResult<Json<ApplicationView>> {
    apps::staff_actor_allowed(&staff, &[Role::Counter, Role::Admin])?;
    if req.kind != "collected" {
        return Err(AppError::invalid("handover_kind_invalid", "柜台只能办理现场领取。", "The counter hands over collected cards only.").on_field("kind"));
    }
    let a = apps::at_counter(&state, &staff, &id).await?;
    let ev = ApplicationEvent::Collected { fingerprint_verified: req.verified };
    Ok(Json((&apps::act(&state, &a, ev, &user.actor(), Extra::default()).await?).into()))
}

// ----- supervision -------------------------------------------------------------------------------

#[derive(Deserialize, IntoParams)]
pub struct PeriodQuery {
    /// Finished applications of the last N days (1–366, default 30).
    pub period_days: Option<u32>,
}

/// SLA supervision in my scope: open applications against the 15-working-day target and working days per stage.
#[utoipa::path(get, path = "/api/v1/supervision/sla", tag = "review", security(("bearer" = [])), params(PeriodQuery), responses((status = 200, body = Object)))]
async fn supervision(State(state): State<AppState>, StaffUser(staff, _): StaffUser, Query(q): Query<PeriodQuery>) -> AppResult<Json<apps::sla::Supervision>> {
    apps::staff_actor_allowed(&staff, SUPERVISORS)?;
    let days = q.period_days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(AppError::invalid("period_invalid", "统计天数应为 1–366。", "The period is 1–366 days.").on_field("period_days"));
    }
    Ok(Json(apps::sla::supervision(&state, &staff, days).await?))
}

// ----- counter entry -----------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterCreateRequest {
    pub name: String,
    /// 18-character resident ID number (read from the old card or the household register).
    pub id_number: String,
    /// Any kind, first issue and temporary cards included.
    pub kind: String,
    /// Mobile number for the progress SMS.
    pub phone: String,
    pub delivery: DeliveryRequest,
    /// The acceptance point (administrators; counter staff work at their own).
    pub point_id: Option<String>,
}

/// Enter an application at the counter for the person present (checked against the population registry).
#[utoipa::path(post, path = "/api/v1/counter/applications", tag = "counter", security(("bearer" = [])), request_body = CounterCreateRequest,
    responses((status = 201, body = ApplicationView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn counter_create(State(state): State<AppState>, StaffUser(staff, user): StaffUser, ApiJson(req): ApiJson<CounterCreateRequest>) -> AppResult<(StatusCode, Json<ApplicationView>)> {
    let point = apps::counter_point(&state, &staff, req.point_id.as_deref()).await?;
    let new = apps::CounterApplication { name: req.name, id_number: req.id_number, kind: parse_kind(&req.kind)?, phone: req.phone, delivery: delivery_of(req.delivery)? };
    let a = apps::create_at_counter(&state, &staff, &point, &new, &user.actor()).await?;
    Ok((StatusCode::CREATED, Json((&a).into())))
}

/// The portrait taken at the counter (or the kiosk) for an application entered here: the image as the body.
#[utoipa::path(post, path = "/api/v1/counter/applications/{id}/photo", tag = "counter", security(("bearer" = [])),
    params(("id" = String, Path), PhotoQuery), request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses((status = 200, body = PhotoResult), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn counter_photo(State(state): State<AppState>, StaffUser(staff, user): StaffUser, Path(id): Path<String>, Query(q): Query<PhotoQuery>, headers: axum::http::HeaderMap, body: Bytes) -> AppResult<Json<PhotoResult>> {
    apps::staff_actor_allowed(&staff, &[Role::Counter, Role::Admin])?;
    let a = apps::entered_here(&state, &staff, &id).await?;
    let source = match q.source.as_deref() {
        None => PortraitSource::CounterCapture,
        Some(s) => parse_source(s)?,
    };
    let out = portrait::submit_counter_photo(&state, &a, source, body.to_vec(), &user.actor()).await?;
    Ok(Json(photo_result(&out, crate::i18n::Lang::from_headers(&headers))))
}

/// Submit an application entered here for police review.
#[utoipa::path(post, path = "/api/v1/counter/applications/{id}/submit", tag = "counter", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ApplicationView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn counter_submit(State(state): State<AppState>, StaffUser(staff, user): StaffUser, Path(id): Path<String>) -> AppResult<Json<ApplicationView>> {
    apps::staff_actor_allowed(&staff, &[Role::Counter, Role::Admin])?;
    let a = apps::entered_here(&state, &staff, &id).await?;
    Ok(Json((&apps::submit_at_counter(&state, &a, &user.actor()).await?).into()))
}

#[derive(Deserialize, IntoParams)]
pub struct CounterPointQuery {
    /// The acceptance point (administrators; counter staff work at their own).
    pub point_id: Option<String>,
}

/// Applications citizens started online to finish at this counter, oldest first.
#[utoipa::path(get, path = "/api/v1/counter/applications/waiting", tag = "counter", security(("bearer" = [])), params(CounterPointQuery),
    responses((status = 200, body = Vec<ApplicationView>), (status = 403, body = ErrorBody)))]
async fn counter_waiting(State(state): State<AppState>, StaffUser(staff, _): StaffUser, Query(q): Query<CounterPointQuery>) -> AppResult<Json<Vec<ApplicationView>>> {
    let point = apps::counter_point(&state, &staff, q.point_id.as_deref()).await?;
    Ok(Json(apps::waiting_at_counter(&state, &point).await?.iter().map(ApplicationView::from).collect()))
}

#[derive(Deserialize, IntoParams)]
pub struct AppointmentCodeQuery {
    /// The appointment code the citizen shows.
    pub code: String,
    /// The acceptance point (administrators; counter staff work at their own).
    pub point_id: Option<String>,
}

/// The application started online for the appointment with this code, to check, photograph and submit here.
#[utoipa::path(get, path = "/api/v1/counter/applications/by-appointment", tag = "counter", security(("bearer" = [])), params(AppointmentCodeQuery),
    responses((status = 200, body = ApplicationView), (status = 404, body = ErrorBody)))]
async fn counter_by_appointment(State(state): State<AppState>, StaffUser(staff, _): StaffUser, Query(q): Query<AppointmentCodeQuery>) -> AppResult<Json<ApplicationView>> {
    let point = apps::counter_point(&state, &staff, q.point_id.as_deref()).await?;
    Ok(Json((&apps::by_appointment_code(&state, &staff, &point, &q.code).await?).into()))
}
