//! ID-card applications (身份证网上办): creating and submitting them, the portrait, police review with a claim,
//! payment, production, hand-over, cancellation — every move through [`act`], which asks the domain's
//! `transition` whether it is legal, makes it stick with the store's versioned update and carries out the side
//! effects the domain names (notify, refund, release the appointment). Pages, the API and the jobs all call here.

pub mod portrait;
pub mod sla;

use axum::http::StatusCode;
use shenfen_domain::applications::{
    self as rules, ApplicationEvent, ApplicationKind, ApplicationState, Channel as AppChannel, DeliveryMethod, PortraitSource, ReturnReason,
    TransitionContext, TransitionError,
};
use shenfen_domain::eligibility::{self, CitizenFacts, Eligibility, OnlineRules, Refusal};
use shenfen_domain::fees::{FeeItem, FeeSchedule, format_yuan};
use shenfen_domain::{IdNumber, mask};
use shenfen_store::{
    ActorKind, Application, ApplicationChanges, AppliedTransition, Citizen, DivisionFilter, PaymentOrder, PaymentStatus, ScopeKind, Staff,
};

use crate::accounts;
use crate::app::{Actor, AppState};
use crate::appointments::{local_to_ms, ms_to_local};
use crate::error::{AppError, AppResult};
use crate::notify::{self, EventKind};
use crate::registry::ResidentRecord;

/// How many applications one listing returns at most.
pub const LIST_LIMIT: u32 = 200;

pub fn online_rules(state: &AppState) -> &OnlineRules {
    &state.config.applications.online
}

// ----- errors -----------------------------------------------------------------------------------

pub fn not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "application_not_found", "找不到该申请。", "No such application.")
}

fn changed_meanwhile() -> AppError {
    AppError::new(
        StatusCode::CONFLICT,
        "application_changed",
        "该申请刚刚被其他操作更新，请刷新后重试。",
        "The application was changed by someone else just now; reload it and try again.",
    )
}

pub fn transition_error(e: &TransitionError) -> AppError {
    AppError::new(StatusCode::CONFLICT, e.code(), e.message_zh(), e.message_en())
}

/// The online route refused: every reason at once, each with what to do instead.
pub fn not_eligible(e: &Eligibility) -> AppError {
    let zh: Vec<String> = e.refusals.iter().map(|r| format!("{}（{}）", r.message_zh, r.instead.text_zh())).collect();
    let en: Vec<String> = e.refusals.iter().map(|r| format!("{} ({})", r.message_en, r.instead.text_en())).collect();
    AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_eligible_online", zh.join(" "), en.join(" "))
}

fn refusal_error(r: &Refusal, field: &'static str) -> AppError {
    AppError::new(StatusCode::UNPROCESSABLE_ENTITY, r.code, format!("{}（{}）", r.message_zh, r.instead.text_zh()), format!("{} ({})", r.message_en, r.instead.text_en()))
        .on_field(field)
}

// ----- who applies ------------------------------------------------------------------------------

/// The verified person behind a citizen account, as the population registry knows them.
pub struct Applicant {
    pub id_number: IdNumber,
    pub resident: ResidentRecord,
}

pub async fn applicant_of(state: &AppState, citizen: &Citizen) -> AppResult<Applicant> {
    let id_number = accounts::decrypt_id(state, citizen)?;
    let resident = accounts::resident_of(state, citizen).await?;
    Ok(Applicant { id_number, resident })
}

/// Start of the China-time day and month containing `now`, in epoch ms (the online-route counters' windows).
fn day_and_month_start(now: i64) -> (i64, i64) {
    let local = ms_to_local(now);
    let day = local.replace_time(time::Time::MIDNIGHT);
    let month = day.replace_day(1).unwrap_or(day);
    (local_to_ms(day), local_to_ms(month))
}

/// Everything the online rules look at, gathered from the registry, the account and our own records.
pub async fn facts(state: &AppState, citizen: &Citizen, applicant: &Applicant, kind: ApplicationKind) -> AppResult<CitizenFacts> {
    let mut f = CitizenFacts::new(&applicant.id_number, &applicant.resident.hukou_code, state.clock.today_cst(), kind);
    f.last_issued_on = applicant.resident.card_issued_on;
    f.intermediate_verified = citizen.verification == shenfen_store::Verification::Intermediate;
    let (day, month) = day_and_month_start(state.now_ms());
    // Failed photo reviews count since the last successful issuance (rule 3).
    let issued_ms = f.last_issued_on.map(|d| local_to_ms(d.midnight())).unwrap_or(0);
    let c = state.store.online_counters(&citizen.id, day, month, issued_ms).await?;
    f.online_cancellations_today = c.cancellations_today;
    f.online_cancellations_this_month = c.cancellations_this_month;
    f.failed_photo_reviews = c.failed_photo_reviews;
    Ok(f)
}

// ----- creating and submitting ------------------------------------------------------------------

/// Where the card goes.
#[derive(Debug, Clone)]
pub enum DeliveryChoice {
    /// EMS to an address: township-level (9-digit) or county-level (6-digit) division code, street address, phone.
    Ems { division: String, address: String, phone: String },
    /// Collected at an acceptance point.
    Pickup { point_id: String },
}

#[derive(Debug, Clone)]
pub struct NewApplication {
    pub kind: ApplicationKind,
    pub portrait_source: PortraitSource,
    pub delivery: DeliveryChoice,
    /// One of the citizen's booked appointments: the application is started online and finished at that counter
    /// (channel `online_then_counter`), which is how someone the online route refuses still saves a trip.
    pub appointment_id: Option<String>,
}

const MAX_ADDRESS_CHARS: usize = 120;

/// The ID-number style mask for an address: the district part stays, the house number goes.
fn mask_address(address: &str) -> String {
    let chars: Vec<char> = address.chars().collect();
    let keep = chars.len().min(10);
    format!("{}****", chars[..keep].iter().collect::<String>())
}

struct CheckedDelivery {
    method: DeliveryMethod,
    division: Option<String>,
    address: Option<String>,
    phone: Option<String>,
    point_id: Option<String>,
}

async fn check_delivery(state: &AppState, d: &DeliveryChoice) -> AppResult<CheckedDelivery> {
    match d {
        DeliveryChoice::Ems { division, address, phone } => {
            let division = division.trim();
            if !matches!(division.len(), 6 | 9 | 12) || !division.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AppError::invalid("delivery_division_invalid", "请选择收件地址所在的区县或乡镇街道。", "Choose the district or township of the delivery address.")
                    .on_field("delivery_division"));
            }
            let address = address.trim();
            if address.chars().count() < 4 || address.chars().count() > MAX_ADDRESS_CHARS || address.chars().any(char::is_control) {
                return Err(AppError::invalid(
                    "delivery_address_invalid",
                    format!("请填写详细收件地址（4–{MAX_ADDRESS_CHARS} 个字）。"),
                    format!("Enter the full delivery address (4–{MAX_ADDRESS_CHARS} characters)."),
                )
                .on_field("delivery_address"));
            }
            let phone = shenfen_domain::MobileNumber::parse(phone.trim()).map_err(|e| AppError::from(e).on_field("delivery_phone"))?;
            Ok(CheckedDelivery {
                method: DeliveryMethod::Ems,
                division: Some(division.to_string()),
                address: Some(address.to_string()),
                phone: Some(phone.as_str().to_string()),
                point_id: None,
            })
        }
        DeliveryChoice::Pickup { point_id } => {
            let p = state.store.point(point_id.trim()).await?.ok_or_else(|| {
                AppError::invalid("pickup_point_invalid", "请选择领证的受理点。", "Choose the acceptance point where you will collect the card.").on_field("pickup_point")
            })?;
            Ok(CheckedDelivery { method: DeliveryMethod::Pickup, division: None, address: None, phone: None, point_id: Some(p.id) })
        }
    }
}

fn ref_number(now_ms: i64) -> String {
    let d = ms_to_local(now_ms).date();
    let n: u64 = rand::random::<u64>() % 100_000_000;
    format!("SQ{:02}{:02}{:02}{:08}", d.year() % 100, d.month() as u8, d.day(), n)
}

/// Starts an online application (a draft) after checking every rule of the online route; refused with all reasons
/// at once. One open application per person: a second one while the first is alive is refused.
pub async fn create_online(state: &AppState, citizen: &Citizen, req: &NewApplication, actor: &Actor) -> AppResult<Application> {
    let applicant = applicant_of(state, citizen).await?;
    let delivery = check_delivery(state, &req.delivery).await?;
    let (channel, appointment) = match &req.appointment_id {
        None => {
            let mut f = facts(state, citizen, &applicant, req.kind).await?;
            f.delivery_division = delivery.division.clone();
            f.portrait = Some(req.portrait_source);
            let verdict = eligibility::check_online(online_rules(state), &f);
            if !verdict.is_eligible() {
                state
                    .audit(actor, "application.refused_online", &format!("citizen:{}", citizen.id), serde_json::json!({ "kind": req.kind.code(), "refusals": verdict.codes() }))
                    .await?;
                return Err(not_eligible(&verdict));
            }
            (AppChannel::Online, None)
        }
        Some(appointment_id) => {
            // Finished at a counter: the officer there checks the person, the documents and the fingerprints, so the
            // online-route rules do not apply; the card still goes only where EMS delivers.
            if let Some(div) = &delivery.division
                && !eligibility::delivery_allowed(online_rules(state), div)
            {
                return Err(AppError::invalid("delivery_outside_area", "该地址不在邮寄范围内，请选择到受理点领取。", "EMS does not deliver there; choose pickup.")
                    .on_field("delivery_division"));
            }
            // The photo rules still hold (no new phone photo after three failed reviews, reuse only a recent one);
            // a photo taken at the counter or kiosk is the point of this route.
            let f = facts(state, citizen, &applicant, req.kind).await?;
            let at_point = matches!(req.portrait_source, PortraitSource::CounterCapture | PortraitSource::Kiosk);
            if let Some(r) = eligibility::check_portrait(online_rules(state), &f, req.portrait_source).iter().find(|r| !(at_point && r.code == "portrait_source_not_online")) {
                return Err(refusal_error(r, "portrait_source"));
            }
            (AppChannel::OnlineThenCounter, Some(appointment_for_application(state, citizen, appointment_id).await?))
        }
    };
    if let Some(open) = state.store.applications_of(&citizen.id, LIST_LIMIT).await?.into_iter().find(|a| !a.state.is_terminal()) {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "application_open",
            format!("您已有一件正在办理的申请（{}），请先完成或取消。", open.ref_no),
            format!("You already have an application in progress ({}); finish or cancel it first.", open.ref_no),
        ));
    }
    let now = state.now_ms();
    let schedule = FeeSchedule { postage_fen: state.config.postage_fen };
    let name = applicant.resident.name.clone();
    let app = Application {
        id: shenfen_store::new_id(),
        ref_no: ref_number(now),
        citizen_id: Some(citizen.id.clone()),
        kind: req.kind,
        channel,
        state: ApplicationState::Draft,
        version: 1,
        applicant_name_enc: state.keys.encrypt_field(&name),
        applicant_name_masked: mask::mask_name(&name),
        applicant_id_enc: state.keys.encrypt_field(applicant.id_number.as_str()),
        applicant_id_masked: applicant.id_number.masked(),
        applicant_id_blind: state.keys.blind_index(applicant.id_number.as_str()),
        division_code: applicant.resident.hukou_code.clone(),
        point_id: appointment.as_ref().map(|a| a.point_id.clone()),
        portrait_source: Some(req.portrait_source.code().to_string()),
        portrait_id: None,
        delivery_method: delivery.method,
        delivery_division: delivery.division.clone(),
        delivery_address_enc: delivery.address.as_deref().map(|a| state.keys.encrypt_field(a)),
        delivery_address_masked: delivery.address.as_deref().map(mask_address),
        recipient_phone: delivery.phone.clone(),
        pickup_point_id: delivery.point_id.clone(),
        fee_waived: false,
        fee_fen: schedule.amount_fen(req.kind.fee_item()),
        postage_fen: if delivery.method == DeliveryMethod::Ems { schedule.amount_fen(FeeItem::Postage) } else { 0 },
        payment_order_no: None,
        appointment_id: appointment.as_ref().map(|a| a.id.clone()),
        return_reasons: None,
        return_note: None,
        reject_reason: None,
        tracking_no: None,
        batch_id: None,
        claimed_by: None,
        claim_until: None,
        submitted_at: None,
        approved_at: None,
        payment_due_at: None,
        finished_at: None,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_application(&app).await?;
    state
        .audit(actor, "application.create", &format!("application:{}", app.ref_no), serde_json::json!({ "kind": app.kind.code(), "channel": app.channel.code(), "delivery": app.delivery_method.code(), "appointment": app.appointment_id }))
        .await?;
    Ok(app)
}

/// The citizen's own live appointment that an application started online will be finished at: booked (or already
/// checked in today), not yet past. Anything else, someone else's included, is one error so ids cannot be probed.
async fn appointment_for_application(state: &AppState, citizen: &Citizen, appointment_id: &str) -> AppResult<shenfen_store::Appointment> {
    let invalid = || {
        AppError::invalid(
            "appointment_invalid",
            "请选择您本人尚未办理的受理点预约；没有预约请先预约。",
            "Choose one of your own upcoming appointments at an acceptance point; book one first if you have none.",
        )
        .on_field("appointment_id")
    };
    let a = state.store.appointment(appointment_id.trim()).await?.filter(|a| a.citizen_id == citizen.id).ok_or_else(invalid)?;
    if upcoming_slot(state, &a).await?.is_none() {
        return Err(invalid());
    }
    Ok(a)
}

/// The slot of an appointment an application can still be finished at (booked or checked in, today or later);
/// `None` for any other.
pub async fn upcoming_slot(state: &AppState, a: &shenfen_store::Appointment) -> AppResult<Option<shenfen_store::Slot>> {
    if !matches!(a.status, shenfen_store::AppointmentStatus::Booked | shenfen_store::AppointmentStatus::CheckedIn) {
        return Ok(None);
    }
    let today = crate::appointments::day_key(state.clock.today_cst());
    Ok(state.store.slot(&a.slot_id).await?.filter(|slot| slot.day >= today))
}

/// The citizen's own application; anyone else's is "not found" so numbers cannot be probed.
pub async fn own(state: &AppState, citizen: &Citizen, id: &str) -> AppResult<Application> {
    let app = state.store.application(id).await?.ok_or_else(not_found)?;
    if app.citizen_id.as_deref() != Some(citizen.id.as_str()) {
        return Err(not_found());
    }
    Ok(app)
}

/// Changes the delivery of a draft or returned application.
pub async fn change_delivery(state: &AppState, citizen: &Citizen, app: &Application, d: &DeliveryChoice, actor: &Actor) -> AppResult<Application> {
    if !matches!(app.state, ApplicationState::Draft | ApplicationState::Returned) {
        return Err(transition_error(&TransitionError::NotAllowed { state: app.state, event: "change_delivery" }));
    }
    let delivery = check_delivery(state, d).await?;
    if let Some(div) = &delivery.division
        && !eligibility::delivery_allowed(online_rules(state), div)
    {
        let applicant = applicant_of(state, citizen).await?;
        let mut f = facts(state, citizen, &applicant, app.kind).await?;
        f.delivery_division = Some(div.clone());
        let v = eligibility::check_online(online_rules(state), &f);
        if let Some(r) = v.refusals.iter().find(|r| r.code.starts_with("delivery")) {
            return Err(refusal_error(r, "delivery_division"));
        }
    }
    let schedule = FeeSchedule { postage_fen: state.config.postage_fen };
    let mut next = app.clone();
    next.delivery_method = delivery.method;
    next.delivery_division = delivery.division;
    next.delivery_address_enc = delivery.address.as_deref().map(|a| state.keys.encrypt_field(a));
    next.delivery_address_masked = delivery.address.as_deref().map(mask_address);
    next.recipient_phone = delivery.phone;
    next.pickup_point_id = delivery.point_id;
    next.postage_fen = if delivery.method == DeliveryMethod::Ems { schedule.amount_fen(FeeItem::Postage) } else { 0 };
    next.updated_at = state.now_ms();
    if !state.store.update_draft(&next).await? {
        return Err(changed_meanwhile());
    }
    state.audit(actor, "application.change_delivery", &format!("application:{}", app.ref_no), serde_json::json!({ "delivery": next.delivery_method.code() })).await?;
    state.store.application(&app.id).await?.ok_or_else(not_found)
}

/// Whether the application has the portrait it needs to be submitted: a passed photo, or a source that brings its
/// own (the photo on file, a certified studio's receipt number).
fn portrait_ready(app: &Application) -> bool {
    match app.portrait_source.as_deref().and_then(PortraitSource::from_code) {
        Some(PortraitSource::ReuseOnFile) => true,
        Some(PortraitSource::StudioReceipt | PortraitSource::Phone | PortraitSource::PreparedUpload) => app.portrait_id.is_some(),
        // Counter and kiosk photos are taken on site: only for applications entered at the counter.
        Some(PortraitSource::CounterCapture | PortraitSource::Kiosk) => app.channel != AppChannel::Online && app.portrait_id.is_some(),
        None => false,
    }
}

/// An application entered by counter staff for the person in front of them (any kind, first issue and temporary
/// cards included): the ID number and name are checked against the population registry, as the card reader does.
#[derive(Debug, Clone)]
pub struct CounterApplication {
    pub name: String,
    pub id_number: String,
    pub kind: ApplicationKind,
    /// Mobile number for progress SMS (the person's platform account is linked when one exists).
    pub phone: String,
    pub delivery: DeliveryChoice,
}

pub async fn create_at_counter(state: &AppState, staff: &Staff, point_id: &str, req: &CounterApplication, actor: &Actor) -> AppResult<Application> {
    let id_number = IdNumber::parse_on(&req.id_number, state.clock.today_cst()).map_err(|e| AppError::from(e).on_field("id_number"))?;
    let resident = state
        .registry
        .lookup(&id_number)
        .await
        .map_err(|_| AppError::unavailable("人口信息系统暂不可用，请稍后再试。", "The population registry is unavailable; try again later."))?
        .filter(|r| r.name == req.name.trim())
        .ok_or_else(|| AppError::invalid("identity_mismatch", "姓名与身份号码不符，或人口信息系统中无此人。", "The name and ID number do not match a registered resident.").on_field("id_number"))?;
    let phone = shenfen_domain::MobileNumber::parse(req.phone.trim()).map_err(|e| AppError::from(e).on_field("phone"))?;
    let delivery = check_delivery(state, &req.delivery).await?;
    if let Some(div) = &delivery.division
        && !eligibility::delivery_allowed(online_rules(state), div)
    {
        return Err(AppError::invalid("delivery_outside_area", "该地址不在邮寄范围内，请选择到受理点领取。", "EMS does not deliver there; choose pickup.").on_field("delivery_division"));
    }
    let blind = state.keys.blind_index(id_number.as_str());
    let citizen = state.store.citizen_by_id_blind(&blind).await?;
    if let Some(open) = state.store.applications_of_applicant(&blind, LIST_LIMIT).await?.into_iter().find(|a| !a.state.is_terminal()) {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "application_open",
            format!("此人已有一件正在办理的申请（{}）。", open.ref_no),
            format!("This person already has an application in progress ({}).", open.ref_no),
        ));
    }
    let now = state.now_ms();
    let schedule = FeeSchedule { postage_fen: state.config.postage_fen };
    let app = Application {
        id: shenfen_store::new_id(),
        ref_no: ref_number(now),
        citizen_id: citizen.map(|c| c.id),
        kind: req.kind,
        channel: AppChannel::Counter,
        state: ApplicationState::Draft,
        version: 1,
        applicant_name_enc: state.keys.encrypt_field(&resident.name),
        applicant_name_masked: mask::mask_name(&resident.name),
        applicant_id_enc: state.keys.encrypt_field(id_number.as_str()),
        applicant_id_masked: id_number.masked(),
        applicant_id_blind: blind,
        division_code: resident.hukou_code.clone(),
        point_id: Some(point_id.to_string()),
        portrait_source: Some(PortraitSource::CounterCapture.code().to_string()),
        portrait_id: None,
        delivery_method: delivery.method,
        delivery_division: delivery.division.clone(),
        delivery_address_enc: delivery.address.as_deref().map(|a| state.keys.encrypt_field(a)),
        delivery_address_masked: delivery.address.as_deref().map(mask_address),
        recipient_phone: Some(delivery.phone.clone().unwrap_or_else(|| phone.as_str().to_string())),
        pickup_point_id: delivery.point_id.clone(),
        fee_waived: false,
        fee_fen: schedule.amount_fen(req.kind.fee_item()),
        postage_fen: if delivery.method == DeliveryMethod::Ems { schedule.amount_fen(FeeItem::Postage) } else { 0 },
        payment_order_no: None,
        appointment_id: None,
        return_reasons: None,
        return_note: None,
        reject_reason: None,
        tracking_no: None,
        batch_id: None,
        claimed_by: None,
        claim_until: None,
        submitted_at: None,
        approved_at: None,
        payment_due_at: None,
        finished_at: None,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_application(&app).await?;
    state
        .audit(actor, "application.create_at_counter", &format!("application:{}", app.ref_no), serde_json::json!({ "kind": app.kind.code(), "point": point_id, "staff": staff.id, "id_number": app.applicant_id_masked }))
        .await?;
    Ok(app)
}

/// Submits an application entered at the counter, or started online for this counter's appointment, once its
/// photo has passed (the officer has seen the person and taken the fingerprints).
pub async fn submit_at_counter(state: &AppState, app: &Application, actor: &Actor) -> AppResult<Application> {
    if app.channel == AppChannel::Online {
        return Err(not_found());
    }
    if !portrait_ready(app) {
        return Err(AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "portrait_missing", "请先采集一张通过检测的照片。", "Capture a photo that passes the check first.").on_field("photo"));
    }
    let event = if app.state == ApplicationState::Returned { ApplicationEvent::Resubmit } else { ApplicationEvent::Submit };
    act(state, app, event, actor, Extra::default()).await
}

/// Submits a draft (or resubmits a returned application) after checking the rules again: facts may have changed
/// since the draft was started (a cancellation elsewhere, the photo limit).
pub async fn submit(state: &AppState, citizen: &Citizen, app: &Application, actor: &Actor) -> AppResult<Application> {
    if app.channel == AppChannel::OnlineThenCounter {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "finish_at_counter",
            "此申请需在预约的受理点办结：请按预约时间到窗口，民警核验身份、采集指纹后提交。",
            "This application is finished at the counter you booked: the officer checks your identity and fingerprints there and submits it.",
        ));
    }
    let applicant = applicant_of(state, citizen).await?;
    let mut f = facts(state, citizen, &applicant, app.kind).await?;
    f.delivery_division = app.delivery_division.clone();
    f.portrait = app.portrait_source.as_deref().and_then(PortraitSource::from_code);
    let verdict = eligibility::check_online(online_rules(state), &f);
    if !verdict.is_eligible() {
        return Err(not_eligible(&verdict));
    }
    if !portrait_ready(app) {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "portrait_missing",
            "请先提交一张通过检测的照片。",
            "Submit a photo that passes the check first.",
        )
        .on_field("photo"));
    }
    let event = if app.state == ApplicationState::Returned { ApplicationEvent::Resubmit } else { ApplicationEvent::Submit };
    act(state, app, event, actor, Extra::default()).await
}

// ----- the one way an application moves ---------------------------------------------------------

/// Detail of a move that is not part of the domain event (free text, verification records).
#[derive(Debug, Clone, Default)]
pub struct Extra {
    pub note: Option<String>,
    pub detail: serde_json::Map<String, serde_json::Value>,
    /// Production batch the move starts the application in.
    pub batch_id: Option<String>,
}

fn context(app: &Application) -> TransitionContext {
    TransitionContext { channel: app.channel, delivery: app.delivery_method, fee_waived: app.fee_waived, has_appointment: app.appointment_id.is_some() }
}

fn actor_kind_code(k: ActorKind) -> &'static str {
    k.as_str()
}

/// Applies `event` to `app` if the domain allows it and nobody moved the application meanwhile; records the
/// timeline entry and the audit entry, then carries out the side effects.
pub async fn act(state: &AppState, app: &Application, event: ApplicationEvent, actor: &Actor, extra: Extra) -> AppResult<Application> {
    let t = rules::transition(app.state, &event, &context(app)).map_err(|e| transition_error(&e))?;
    let now = state.now_ms();
    let mut changes = ApplicationChanges { batch_id: extra.batch_id.clone(), ..Default::default() };
    let mut detail = extra.detail.clone();
    match &event {
        ApplicationEvent::Submit | ApplicationEvent::Resubmit => {
            // The production cycle runs from the first submission (a correction does not restart the clock).
            if app.submitted_at.is_none() {
                changes.submitted_at = Some(now);
            }
        }
        ApplicationEvent::StartReview { .. } => {}
        ApplicationEvent::Return { reasons } => {
            changes.return_reasons = Some(reasons.iter().map(|r| r.code()).collect::<Vec<_>>().join(","));
            changes.return_note = Some(extra.note.clone().unwrap_or_default());
            changes.release_claim = true;
            detail.insert("reasons".into(), serde_json::json!(reasons.iter().map(|r| r.code()).collect::<Vec<_>>()));
        }
        ApplicationEvent::Reject { reason } => {
            changes.reject_reason = Some(reason.clone());
            changes.release_claim = true;
        }
        ApplicationEvent::Approve => {
            changes.approved_at = Some(now);
            changes.payment_due_at = Some(now + i64::from(online_rules(state).payment_window_hours) * 3_600_000);
            changes.release_claim = true;
        }
        ApplicationEvent::Dispatch { tracking_no } => {
            changes.tracking_no = Some(tracking_no.clone());
            detail.insert("tracking_no".into(), serde_json::json!(tracking_no));
        }
        ApplicationEvent::RouteToPickup { .. } => {}
        ApplicationEvent::Delivered { face_verified } => {
            detail.insert("face_verified".into(), serde_json::json!(face_verified));
        }
        ApplicationEvent::Collected { fingerprint_verified } => {
            detail.insert("fingerprint_verified".into(), serde_json::json!(fingerprint_verified));
        }
        _ => {}
    }
    if let Some(note) = &extra.note {
        detail.insert("note".into(), serde_json::json!(note));
    }
    if t.to.is_terminal() || t.to.card_available() {
        changes.finished_at = Some(now);
    }
    let applied = AppliedTransition {
        application_id: app.id.clone(),
        expected_version: app.version,
        from: app.state,
        to: t.to,
        changes,
        event: event.code().to_string(),
        actor_kind: actor_kind_code(actor.kind).to_string(),
        actor_id: actor.id.clone(),
        detail: serde_json::Value::Object(detail.clone()).to_string(),
        online_cancellation: t.counts_as_online_cancellation,
        failed_photo_review: t.failed_photo_review,
        at: now,
    };
    let Some(updated) = state.store.apply_transition(&applied).await? else {
        return Err(changed_meanwhile());
    };
    state
        .audit(
            actor,
            &format!("application.{}", event.code()),
            &format!("application:{}", updated.ref_no),
            serde_json::json!({ "from": app.state.code(), "to": updated.state.code(), "detail": serde_json::Value::Object(detail) }),
        )
        .await?;
    if t.refund_due {
        refund_all(state, &updated, actor).await;
    }
    if t.release_appointment {
        release_appointment(state, &updated).await;
    }
    if matches!(updated.state, ApplicationState::Delivered | ApplicationState::Collected) {
        record_new_card(state, &updated).await;
    }
    if t.notify {
        tell_citizen(state, &updated).await;
    }
    Ok(updated)
}

/// Full refund of everything paid for the application (rejected or cancelled after payment, or money that arrived
/// after the application ended). Failures are logged and retried by the sweep; the state change stands.
async fn refund_all(state: &AppState, app: &Application, actor: &Actor) {
    let orders = match state.store.orders_for(&app.id).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, application = %app.ref_no, "refund: orders not readable; the sweep retries");
            return;
        }
    };
    for o in orders.iter().filter(|o| o.status == PaymentStatus::Success && o.refunded_fen < o.amount_fen) {
        let reason = format!("申请{}：{}", app.ref_no, app.state.name_zh());
        match crate::payments::service::start_refund(state, o, o.amount_fen - o.refunded_fen, &reason, actor).await {
            Ok(r) => tracing::info!(order = %o.order_no, refund = %r.refund_no, "refund started for an ended application"),
            Err(e) => tracing::warn!(order = %o.order_no, code = e.code, "refund not started"),
        }
    }
}

/// The card is in its holder's hands: it becomes their current card, so expiry reminders follow the new date.
async fn record_new_card(state: &AppState, app: &Application) {
    let Some(citizen_id) = &app.citizen_id else { return };
    let id_number = match state.keys.decrypt_field(&app.applicant_id_enc).ok().and_then(|s| IdNumber::parse(&s).ok()) {
        Some(n) => n,
        None => {
            tracing::error!(application = %app.ref_no, "applicant ID number unreadable; card not recorded");
            return;
        }
    };
    if let Err(e) = crate::cards::record_issued_card(state, citizen_id, &id_number, state.clock.today_cst()).await {
        tracing::warn!(application = %app.ref_no, code = e.code, "new card not recorded for reminders");
    }
}

async fn release_appointment(state: &AppState, app: &Application) {
    // Online-then-counter applications record their appointment; the appointment itself stays with the citizen to
    // cancel or keep (it may serve another errand), so only the link is dropped.
    if let Err(e) = state.store.set_application_appointment(&app.id, None).await {
        tracing::warn!(error = %e, application = %app.ref_no, "appointment link not released");
    }
}

/// What to tell the citizen about the state the application has reached.
fn next_step(state: ApplicationState) -> (&'static str, &'static str) {
    use ApplicationState as S;
    match state {
        S::Submitted => ("我们将尽快审核。", "We will review it shortly."),
        S::UnderReview => ("民警正在审核。", "A police officer is reviewing it."),
        S::Paid => ("将进入制证。", "Production will start soon."),
        S::InProduction => ("正在制作证件。", "Your card is being made."),
        S::ReadyForPickup => ("请携带预约码到领证点，指纹核验后领取。", "Collect it at the pickup point; your fingerprint will be checked."),
        S::Delivered | S::Collected => ("感谢使用。", "Thank you."),
        S::Rejected => ("详情请登录查看。", "Sign in for the details."),
        S::Cancelled | S::Expired => ("已支付的费用将原路退回。", "Anything paid is refunded to the original account."),
        _ => ("", ""),
    }
}

/// One in-app message and one SMS per move (the dedupe key names the version, so a retried request never sends
/// twice).
async fn tell_citizen(state: &AppState, app: &Application) {
    let Some(citizen_id) = &app.citizen_id else { return };
    let key = format!("application:{}:v{}", app.id, app.version);
    let (kind, vars) = match app.state {
        ApplicationState::Returned => {
            let reasons: Vec<&str> =
                app.return_reasons.as_deref().unwrap_or("").split(',').filter_map(ReturnReason::from_code).map(|r| r.text_zh()).collect();
            (EventKind::ApplicationReturned, notify::templates::vars([("ref", app.ref_no.clone()), ("reasons", reasons.join("、"))]))
        }
        ApplicationState::AwaitingPayment | ApplicationState::Approved => {
            let deadline = app.payment_due_at.map(|ms| ms_to_local(ms).format(&time::macros::format_description!("[month]月[day]日[hour]:[minute]")).unwrap_or_default());
            (
                EventKind::ApplicationApproved,
                notify::templates::vars([("ref", app.ref_no.clone()), ("amount", format_yuan(app.total_fen())), ("deadline", deadline.unwrap_or_default())]),
            )
        }
        ApplicationState::Dispatched => {
            (EventKind::ApplicationDispatched, notify::templates::vars([("ref", app.ref_no.clone()), ("tracking", app.tracking_no.clone().unwrap_or_default())]))
        }
        s => {
            let (next, _) = next_step(s);
            let next = if next.is_empty() { "详情请登录查看。" } else { next };
            (EventKind::ApplicationUpdate, notify::templates::vars([("ref", app.ref_no.clone()), ("status", s.name_zh().to_string()), ("next", next.to_string())]))
        }
    };
    let event = notify::NotificationEvent { citizen_id: citizen_id.clone(), kind, dedupe_key: key, vars };
    if let Err(e) = notify::enqueue(state, event).await {
        tracing::error!(error = %e.code, application = %app.ref_no, "application notice not enqueued");
    }
}

// ----- review ----------------------------------------------------------------------------------

pub fn staff_actor_allowed(staff: &Staff, roles: &[shenfen_store::Role]) -> AppResult<()> {
    if staff.active && roles.contains(&staff.role) { Ok(()) } else { Err(AppError::forbidden()) }
}

/// The division filter a staff member's scope gives.
pub async fn scope_filter(state: &AppState, staff: &Staff) -> AppResult<DivisionFilter> {
    Ok(match staff.scope.kind {
        ScopeKind::Province => DivisionFilter::Prefix(staff.scope.code.clone()),
        ScopeKind::District => DivisionFilter::Prefix(staff.scope.code.clone()),
        ScopeKind::Point => match state.store.point(&staff.scope.code).await? {
            Some(p) => DivisionFilter::Prefix(p.district_code),
            None => DivisionFilter::Prefix("-".into()),
        },
    })
}

/// An application the staff member's scope covers; others are "not found".
pub async fn in_scope(state: &AppState, staff: &Staff, id: &str) -> AppResult<Application> {
    let app = state.store.application(id).await?.ok_or_else(not_found)?;
    if !crate::auth::scope_covers(state, staff, &app.division_code).await? {
        return Err(not_found());
    }
    Ok(app)
}

pub const REVIEW_STATES: [ApplicationState; 2] = [ApplicationState::Submitted, ApplicationState::UnderReview];

/// The review queue in the reviewer's scope: oldest submission first — with one fixed target per submission date,
/// the oldest is also the one closest to its deadline.
pub async fn review_queue(state: &AppState, staff: &Staff) -> AppResult<Vec<Application>> {
    let filter = scope_filter(state, staff).await?;
    Ok(state.store.applications_in(&REVIEW_STATES, &filter, LIST_LIMIT).await?)
}

fn claimed_by_other() -> AppError {
    AppError::new(StatusCode::CONFLICT, "claimed_by_other", "另一位民警正在审核该申请。", "Another officer is reviewing this application.")
}

/// Takes (or renews) the claim, moving a submitted application into review. Returns the application as claimed.
pub async fn claim(state: &AppState, staff: &Staff, app: &Application, actor: &Actor) -> AppResult<Application> {
    let now = state.now_ms();
    let until = now + i64::from(state.config.applications.review_lease_minutes) * 60_000;
    if !state.store.claim_review(&app.id, &staff.id, now, until).await? {
        let current = state.store.application(&app.id).await?.ok_or_else(not_found)?;
        if REVIEW_STATES.contains(&current.state) {
            return Err(claimed_by_other());
        }
        return Err(transition_error(&TransitionError::NotAllowed { state: current.state, event: "start_review" }));
    }
    let current = state.store.application(&app.id).await?.ok_or_else(not_found)?;
    if current.state == ApplicationState::Submitted {
        let reviewer = staff_number(&staff.id);
        return act(state, &current, ApplicationEvent::StartReview { reviewer }, actor, Extra::default()).await;
    }
    Ok(current)
}

/// The domain event carries a numeric reviewer id for the timeline; staff ids are UUIDs, so a stable number is
/// derived (the audit entry has the real id).
fn staff_number(id: &str) -> i64 {
    i64::from_str_radix(&id.replace('-', "")[..12.min(id.replace('-', "").len())], 16).unwrap_or(0)
}

fn must_hold_claim(staff: &Staff, app: &Application, now: i64) -> AppResult<()> {
    match (&app.claimed_by, app.claim_until) {
        (Some(by), Some(until)) if by == &staff.id && until >= now => Ok(()),
        (Some(by), Some(until)) if by != &staff.id && until >= now => Err(claimed_by_other()),
        _ => Err(AppError::new(StatusCode::CONFLICT, "claim_required", "请先领取该申请再审核。", "Claim the application before deciding on it.")),
    }
}

/// What a reviewer decided.
#[derive(Debug, Clone)]
pub enum Decision {
    Approve,
    Return { reasons: Vec<ReturnReason>, note: String },
    Reject { reason: String },
}

const MAX_NOTE_CHARS: usize = 500;

fn check_note(note: &str, field: &'static str) -> AppResult<String> {
    let n = note.trim();
    if n.chars().count() > MAX_NOTE_CHARS || n.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::invalid("note_invalid", format!("说明不超过 {MAX_NOTE_CHARS} 字。"), format!("At most {MAX_NOTE_CHARS} characters.")).on_field(field));
    }
    Ok(n.to_string())
}

/// Records the reviewer's decision (the reviewer must hold the claim). Approval issues the payment orders at once
/// (or goes straight to production when the fee is waived).
pub async fn decide(state: &AppState, staff: &Staff, app: &Application, decision: Decision, actor: &Actor) -> AppResult<Application> {
    must_hold_claim(staff, app, state.now_ms())?;
    match decision {
        Decision::Approve => {
            let approved = act(state, app, ApplicationEvent::Approve, actor, Extra::default()).await?;
            if approved.fee_waived {
                return Ok(approved);
            }
            request_payment(state, &approved, actor).await
        }
        Decision::Return { reasons, note } => {
            let note = check_note(&note, "note")?;
            if reasons.contains(&ReturnReason::Other) && note.is_empty() {
                return Err(AppError::invalid("note_required", "选择“其他”时请写明原因。", "Explain the reason when choosing \"other\".").on_field("note"));
            }
            act(state, app, ApplicationEvent::Return { reasons }, actor, Extra { note: Some(note), ..Default::default() }).await
        }
        Decision::Reject { reason } => {
            let reason = check_note(&reason, "reason")?;
            act(state, app, ApplicationEvent::Reject { reason }, actor, Extra::default()).await
        }
    }
}

/// The items the applicant pays: the card fee and, for EMS, the postage.
pub fn fee_items(app: &Application) -> Vec<FeeItem> {
    let mut items = Vec::new();
    if !app.fee_waived && app.fee_fen > 0 {
        items.push(app.kind.fee_item());
    }
    if app.postage_fen > 0 {
        items.push(FeeItem::Postage);
    }
    items
}

/// Issues the payment orders (idempotently: one key per application and item) and records `RequestPayment`.
pub async fn request_payment(state: &AppState, app: &Application, actor: &Actor) -> AppResult<Application> {
    let mut first_no = None;
    for item in fee_items(app) {
        let req = crate::payments::service::NewOrder { reference: app.id.clone(), item: item.code().to_string() };
        let key = format!("application:{}:{}", app.id, item.code());
        let (order, _) = crate::payments::service::create_order(state, app.citizen_id.as_deref(), "applications", &req, Some(&key)).await?;
        first_no.get_or_insert(order.order_no);
    }
    let mut extra = Extra::default();
    if let Some(no) = &first_no {
        extra.detail.insert("order_no".into(), serde_json::json!(no));
    }
    act(state, app, ApplicationEvent::RequestPayment, actor, extra).await
}

/// The payment orders of an application, newest first.
pub async fn orders(state: &AppState, app: &Application) -> AppResult<Vec<PaymentOrder>> {
    Ok(state.store.orders_for(&app.id).await?)
}

/// Whether every item due has a successful order.
fn fully_paid(app: &Application, orders: &[PaymentOrder]) -> bool {
    let items = fee_items(app);
    !items.is_empty() && items.iter().all(|i| orders.iter().any(|o| o.item == i.code() && o.status == PaymentStatus::Success))
}

fn system_actor(what: &str) -> Actor {
    Actor { kind: ActorKind::System, id: what.to_string(), ip: "-".into() }
}

/// Called when a payment order succeeded (provider notice, reconciliation, cash): moves the application to `paid`
/// when everything due is paid, or refunds money that arrived for an application that has already ended.
pub async fn payment_settled(state: &AppState, reference: &str) {
    let Ok(Some(app)) = state.store.application(reference).await else { return };
    let orders = match orders(state, &app).await {
        Ok(o) => o,
        Err(_) => return,
    };
    let actor = system_actor("payments");
    if app.state == ApplicationState::AwaitingPayment && fully_paid(&app, &orders) {
        if let Err(e) = act(state, &app, ApplicationEvent::PaymentSucceeded, &actor, Extra::default()).await {
            tracing::warn!(code = e.code, application = %app.ref_no, "payment recorded but the application did not move; the sweep retries");
        }
    } else if app.state.is_terminal() {
        // Money for a dead application is given back (domain: a late PaymentSucceeded keeps the state, refund due).
        refund_all(state, &app, &actor).await;
    }
}

// ----- production and hand-over ----------------------------------------------------------------

pub const PRODUCTION_STATES: [ApplicationState; 4] =
    [ApplicationState::Paid, ApplicationState::InProduction, ApplicationState::Produced, ApplicationState::QualityChecked];

pub async fn production_queue(state: &AppState, staff: &Staff) -> AppResult<Vec<Application>> {
    let filter = scope_filter(state, staff).await?;
    let mut apps = state.store.applications_in(&PRODUCTION_STATES, &filter, LIST_LIMIT).await?;
    // Fee-waived approvals go straight to production.
    apps.extend(state.store.applications_in(&[ApplicationState::Approved], &filter, LIST_LIMIT).await?.into_iter().filter(|a| a.fee_waived));
    Ok(apps)
}

/// Starts production for a batch of paid applications (the production centre works in batches); returns how many
/// started. Applications moved by someone else meanwhile are skipped, not failed.
pub async fn start_batch(state: &AppState, staff: &Staff, ids: &[String], actor: &Actor) -> AppResult<(String, usize)> {
    let batch = format!("PC{}", &shenfen_store::new_id().replace('-', "")[..12]).to_uppercase();
    let mut started = 0;
    for id in ids.iter().take(LIST_LIMIT as usize) {
        let app = in_scope(state, staff, id).await?;
        let mut extra = Extra { batch_id: Some(batch.clone()), ..Default::default() };
        extra.detail.insert("batch".into(), serde_json::json!(batch));
        match act(state, &app, ApplicationEvent::StartProduction, actor, extra).await {
            Ok(_) => started += 1,
            Err(e) if e.status == StatusCode::CONFLICT => tracing::info!(application = %app.ref_no, code = e.code, "not started in batch"),
            Err(e) => return Err(e),
        }
    }
    Ok((batch, started))
}

/// The simple production-centre steps by code (the console's buttons and the API).
pub fn production_event(code: &str) -> AppResult<ApplicationEvent> {
    Ok(match code {
        "mark_produced" => ApplicationEvent::MarkProduced,
        "pass_quality_check" => ApplicationEvent::PassQualityCheck,
        "fail_quality_check" => ApplicationEvent::FailQualityCheck,
        _ => return Err(AppError::invalid("step_invalid", "未知的操作。", "Unknown step.").on_field("step")),
    })
}

/// Who sends the cards by EMS (the production centre).
const SENDER: &str = "安徽省公安厅居民身份证制证中心";

/// Hands the card to EMS: the carrier assigns the tracking number (idempotently per application, so a retried
/// click never makes a second parcel), then the application records the dispatch.
async fn dispatch_by_ems(state: &AppState, app: &Application, actor: &Actor) -> AppResult<Application> {
    // Ask the state machine first: no parcel for an application that may not be dispatched.
    rules::transition(app.state, &ApplicationEvent::Dispatch { tracking_no: "-".into() }, &context(app)).map_err(|e| transition_error(&e))?;
    let name = state.keys.decrypt_field(&app.applicant_name_enc).map_err(|_| AppError::internal())?;
    let req = crate::logistics::ShipmentRequest {
        reference: app.id.clone(),
        recipient_name: name,
        recipient_phone: app.recipient_phone.clone().unwrap_or_default(),
        address: delivery_address(state, app).unwrap_or_default(),
        division: app.delivery_division.as_deref().unwrap_or("").chars().take(6).collect(),
        sender: SENDER.into(),
    };
    let shipment = crate::logistics::dispatch(state, &req, actor).await?;
    act(state, app, ApplicationEvent::Dispatch { tracking_no: shipment.tracking_no }, actor, Extra::default()).await
}

/// The consumer of the carrier's tracking events: delivery (with the courier's face check) and return to the
/// sender move the application; other events only show on its page. Idempotent — an event the application's state
/// no longer allows is retired without effect. Returns how many events were retired.
pub async fn apply_shipment_events(state: &AppState) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let n = crate::logistics::apply_events(state, 100, |ev| {
            let state = state.clone();
            async move {
                let Some(reference) = ev.reference.clone() else { return Ok(()) };
                let Some(app) = state.store.application(&reference).await? else { return Ok(()) };
                let event = match ev.status {
                    crate::logistics::TrackingStatus::Delivered => ApplicationEvent::Delivered { face_verified: ev.face_verified.unwrap_or(false) },
                    crate::logistics::TrackingStatus::Returned => ApplicationEvent::DeliveryFailedReturned,
                    _ => return Ok(()),
                };
                let mut extra = Extra::default();
                extra.detail.insert("location".into(), serde_json::json!(ev.location));
                extra.detail.insert("carrier_event".into(), serde_json::json!(ev.carrier_event_id));
                match act(&state, &app, event, &system_actor("carrier"), extra).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.status == StatusCode::CONFLICT => {
                        tracing::info!(application = %app.ref_no, code = e.code, "tracking event needs no move");
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        })
        .await?;
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}

/// Cancels the application: the citizen until production starts, an officer until the card leaves.
pub async fn cancel(state: &AppState, app: &Application, by: rules::Actor, note: &str, actor: &Actor) -> AppResult<Application> {
    let note = check_note(note, "reason")?;
    let extra = Extra { note: (!note.is_empty()).then_some(note), ..Default::default() };
    let cancelled = act(state, app, ApplicationEvent::Cancel { by }, actor, extra).await?;
    // Unpaid orders are closed so nobody pays for a cancelled application.
    if let Ok(orders) = state.store.orders_for(&cancelled.id).await {
        for o in orders.iter().filter(|o| matches!(o.status, PaymentStatus::Created | PaymentStatus::Started | PaymentStatus::Submitted)) {
            let _ = crate::payments::service::cancel(state, o, actor).await;
        }
    }
    Ok(cancelled)
}

// ----- background --------------------------------------------------------------------------------

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Housekeeping {
    pub expired: usize,
    pub paid: usize,
}

/// Every minute on every instance (each move is a versioned update, so two instances never both apply one):
/// applications past their payment window expire; payments whose hook was lost (crash between the two writes)
/// are carried over.
pub async fn housekeeping(state: &AppState) -> AppResult<Housekeeping> {
    let mut done = Housekeeping::default();
    let actor = system_actor("applications");
    for app in state.store.payment_overdue(state.now_ms(), 500).await? {
        // Paid at the last moment but not yet carried over: not expired.
        if fully_paid(&app, &orders(state, &app).await?) {
            continue;
        }
        if act(state, &app, ApplicationEvent::PaymentWindowExpired, &actor, Extra::default()).await.is_ok() {
            done.expired += 1;
            if let Ok(orders) = state.store.orders_for(&app.id).await {
                for o in orders.iter().filter(|o| matches!(o.status, PaymentStatus::Created | PaymentStatus::Started | PaymentStatus::Submitted)) {
                    let _ = crate::payments::service::cancel(state, o, &actor).await;
                }
            }
        }
    }
    for app in state.store.paid_but_waiting(500).await? {
        if fully_paid(&app, &orders(state, &app).await?) && act(state, &app, ApplicationEvent::PaymentSucceeded, &actor, Extra::default()).await.is_ok() {
            done.paid += 1;
        }
    }
    Ok(done)
}

/// Label helpers shared by pages and the API.
pub fn state_label(s: ApplicationState, lang: crate::i18n::Lang) -> &'static str {
    lang.pick(s.name_zh(), s.name_en())
}

pub fn kind_label(k: ApplicationKind, lang: crate::i18n::Lang) -> &'static str {
    lang.pick(k.name_zh(), k.name_en())
}

/// Decrypted delivery address, for the production centre's shipping label only.
pub fn delivery_address(state: &AppState, app: &Application) -> Option<String> {
    app.delivery_address_enc.as_deref().and_then(|b| state.keys.decrypt_field(b).ok())
}

/// One production-centre step by its code. Dispatch goes through the express carrier, which assigns the tracking
/// number; routing to pickup sends the card to the point the citizen chose.
pub async fn production_step(state: &AppState, app: &Application, step: &str, actor: &Actor) -> AppResult<Application> {
    match step {
        "dispatch" => dispatch_by_ems(state, app, actor).await,
        "route_to_pickup" => {
            let point = app.pickup_point_id.clone().unwrap_or_default();
            let mut extra = Extra::default();
            extra.detail.insert("point".into(), serde_json::json!(point));
            act(state, app, ApplicationEvent::RouteToPickup { point: 0 }, actor, extra).await
        }
        other => act(state, app, production_event(other)?, actor, Extra::default()).await,
    }
}

/// An application waiting at (or for) a counter the staff member serves: the pickup point must be theirs.
pub async fn at_counter(state: &AppState, staff: &Staff, id: &str) -> AppResult<Application> {
    let app = state.store.application(id).await?.ok_or_else(not_found)?;
    let Some(point_id) = &app.pickup_point_id else { return Err(not_found()) };
    let covers = match staff.scope.kind {
        ScopeKind::Point => &staff.scope.code == point_id,
        _ => match state.store.point(point_id).await? {
            Some(p) => crate::auth::scope_covers(state, staff, &p.district_code).await?,
            None => false,
        },
    };
    if covers { Ok(app) } else { Err(not_found()) }
}

/// The acceptance point a counter clerk works at (their point scope), or the one an administrator names.
pub async fn counter_point(state: &AppState, staff: &Staff, requested: Option<&str>) -> AppResult<String> {
    staff_actor_allowed(staff, &[shenfen_store::Role::Counter, shenfen_store::Role::Admin])?;
    let id = match (staff.scope.kind, requested.filter(|s| !s.trim().is_empty())) {
        (ScopeKind::Point, _) => return Ok(staff.scope.code.clone()),
        (_, Some(id)) => id.trim().to_string(),
        (_, None) => return Err(AppError::invalid("point_required", "请选择受理点。", "Choose the acceptance point.").on_field("point_id")),
    };
    let point = crate::appointments::point(state, &id).await?;
    if !crate::appointments::may_run_counter(state, staff, &point).await? {
        return Err(AppError::forbidden());
    }
    Ok(point.id)
}

/// An application entered at a counter of the staff member's point (or scope, for administrators).
pub async fn entered_here(state: &AppState, staff: &Staff, id: &str) -> AppResult<Application> {
    let app = state.store.application(id).await?.ok_or_else(not_found)?;
    let Some(point_id) = &app.point_id else { return Err(not_found()) };
    let ok = match staff.scope.kind {
        ScopeKind::Point => &staff.scope.code == point_id,
        _ => match state.store.point(point_id).await? {
            Some(p) => crate::auth::scope_covers(state, staff, &p.district_code).await?,
            None => false,
        },
    };
    if ok { Ok(app) } else { Err(not_found()) }
}

/// Applications citizens started online to finish at this point, waiting for the counter (oldest first).
pub async fn waiting_at_counter(state: &AppState, point_id: &str) -> AppResult<Vec<Application>> {
    let apps = state.store.applications_at_point(point_id, &[ApplicationState::Draft, ApplicationState::Returned], LIST_LIMIT).await?;
    Ok(apps.into_iter().filter(|a| a.channel == AppChannel::OnlineThenCounter).collect())
}

/// The application a citizen started online for an appointment at this counter, found by the appointment code they
/// show (the same code as for check-in; an early or late arrival is still served).
pub async fn by_appointment_code(state: &AppState, staff: &Staff, point_id: &str, code: &str) -> AppResult<Application> {
    let code = code.trim();
    let not_here = || AppError::new(StatusCode::NOT_FOUND, "application_not_found", "此预约码没有待办结的网上申请。", "No application started online goes with this appointment code.");
    if code.is_empty() || code.len() > 32 {
        return Err(not_here());
    }
    for app in waiting_at_counter(state, point_id).await? {
        let Some(appointment_id) = &app.appointment_id else { continue };
        if let Some(a) = state.store.appointment(appointment_id).await?
            && a.code.eq_ignore_ascii_case(code)
        {
            return entered_here(state, staff, &app.id).await;
        }
    }
    Err(not_here())
}
