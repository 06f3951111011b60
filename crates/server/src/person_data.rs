//! One person's data on request (PIPL arts. 45 and 47): an administrator finds the person by mobile number or ID
//! number, exports everything the platform holds about them as one JSON document, or erases it. Both are audited
//! (`person.exported`, `person.erased`, with masked identifiers only). Only province-wide administrators may do
//! it ([`authorize`]). Called by the administrators' page
//! (`pages/people.rs`), the API (`api/people.rs`) and `shenfen person …` (`cli.rs`).
//!
//! What erasure keeps, and why: finished applications stay for their legal retention period (see
//! `retention::RetentionConfig::closed_application_years`), detached from the account; payment orders and refunds
//! stay as financial records with only the application reference; the audit log stays (masked data, a legal
//! record). Everything else — account, sessions, codes, notifications, push subscriptions, appointments, card
//! record, photos not used by a kept application, unsubmitted drafts — goes, in one transaction. Booked
//! appointments give their seat back first. Erasure is refused while something is still under way (an
//! application between submission and its end, a payment or refund awaiting its outcome, a visit in progress at a
//! counter): finishing or cancelling it is the citizen's or the counter's call, not a side effect of erasure.

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use shenfen_domain::idnumber::IdNumber;
use shenfen_domain::phone::MobileNumber;
use shenfen_store::{Citizen, Erased, Role, ScopeKind, Staff, StoreError};

use crate::app::{Actor, AppState};
use crate::error::{AppError, AppResult};

/// Applications, appointments and orders read per person: far above what one person ever has.
const MAX_ROWS: u32 = 1_000;

/// How an administrator names the person: an 11-digit mobile number or an 18-character ID number.
pub enum Who {
    Phone(MobileNumber),
    IdNumber(IdNumber),
}

impl Who {
    /// Parses what was typed: 11 digits are a mobile number, anything of 15–18 characters an ID number. Errors are
    /// 422 on the field `query`.
    pub fn parse(input: &str, state: &AppState) -> AppResult<Who> {
        let s = input.trim();
        if s.is_empty() {
            return Err(AppError::invalid("person_query_required", "请输入手机号或身份证号。", "Enter a mobile number or an ID number.").on_field("query"));
        }
        let digits = s.chars().filter(|c| c.is_ascii_digit()).count();
        if s.len() <= 13 && digits == 11 {
            return MobileNumber::parse(s).map(Who::Phone).map_err(|e| AppError::from(e).on_field("query"));
        }
        if (15..=18).contains(&s.chars().count()) {
            return IdNumber::parse_on(s, state.clock.today_cst()).map(Who::IdNumber).map_err(|e| AppError::from(e).on_field("query"));
        }
        Err(AppError::invalid("person_query_invalid", "请输入 11 位手机号或 18 位身份证号。", "Enter an 11-digit mobile number or an 18-character ID number.").on_field("query"))
    }
}

/// Who may find, export or erase a person: an administrator of the whole province. A person's data spans every
/// district they dealt with, so a district or point administrator — who sees only their area's applications —
/// cannot act on it (`person_data_province_only`, 403).
pub fn authorize(staff: &Staff) -> AppResult<()> {
    if staff.role != Role::Admin {
        return Err(AppError::forbidden());
    }
    if staff.scope.kind != ScopeKind::Province {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "person_data_province_only",
            "个人信息的查询、导出和删除须由省级管理员办理。",
            "Finding, exporting and erasing a person's data is for province-wide administrators.",
        ));
    }
    Ok(())
}

fn not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "person_not_found", "没有找到使用该手机号或身份证号的账号。", "No account uses this mobile number or ID number.").on_field("query")
}

/// The account named by `input`; `person_not_found` (404) when there is none. Never creates an account.
pub async fn find(state: &AppState, input: &str) -> AppResult<Citizen> {
    let found = match Who::parse(input, state)? {
        Who::Phone(p) => state.store.citizen_by_phone(p.as_str()).await?,
        // ID numbers are only stored encrypted; the keyed blind index finds them without decrypting.
        Who::IdNumber(id) => state.store.citizen_by_id_blind(&state.keys.blind_index(id.as_str())).await?,
    };
    found.ok_or_else(not_found)
}

fn masked_phone(phone: &str) -> String {
    MobileNumber::parse(phone).map(|p| p.masked()).unwrap_or_else(|_| "***".into())
}

/// What the administrator sees before acting: masked identifiers and counts, nothing in clear.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub citizen_id: String,
    pub phone_masked: String,
    pub name_masked: Option<String>,
    pub id_number_masked: Option<String>,
    /// `none`, `primary` or `intermediate`.
    pub verification: String,
    pub created_at: i64,
    pub appointments: usize,
    pub applications: usize,
    /// Applications between submission and their end: erasure waits for these.
    pub applications_in_progress: usize,
    pub payment_orders: usize,
    pub notifications: usize,
}

pub async fn summary(state: &AppState, c: &Citizen) -> AppResult<Summary> {
    let store = &state.store;
    let apps = store.applications_of(&c.id, MAX_ROWS).await?;
    let in_progress = apps.iter().filter(|a| !a.state.is_terminal() && a.state != shenfen_domain::applications::ApplicationState::Draft).count();
    Ok(Summary {
        citizen_id: c.id.clone(),
        phone_masked: masked_phone(&c.phone),
        name_masked: c.name_masked.clone(),
        id_number_masked: c.id_number_masked.clone(),
        verification: c.verification.as_str().into(),
        created_at: c.created_at,
        appointments: store.appointments_of(&c.id).await?.len(),
        applications: apps.len(),
        applications_in_progress: in_progress,
        payment_orders: store.orders_of(&c.id).await?.len(),
        notifications: store.notifications_of(&c.id).await?.len(),
    })
}

fn decrypt(state: &AppState, data: Option<&[u8]>) -> AppResult<Option<String>> {
    Ok(match data {
        Some(d) => Some(state.keys.decrypt_field(d)?),
        None => None,
    })
}

/// Text that holds JSON goes into the export as JSON; anything else as the text it is.
fn json_text(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
}

/// Everything the platform holds about the person, as one JSON document, complete and in clear: it goes to the
/// person. Audited as `person.exported`.
pub async fn export(state: &AppState, input: &str, actor: &Actor) -> AppResult<(Citizen, Value)> {
    let c = find(state, input).await?;
    let doc = document(state, &c).await?;
    state
        .audit(actor, "person.exported", &format!("citizen:{}", c.id), json!({ "phone": masked_phone(&c.phone), "id_number": c.id_number_masked }))
        .await?;
    Ok((c, doc))
}

async fn document(state: &AppState, c: &Citizen) -> AppResult<Value> {
    let store = &state.store;
    let id_number = decrypt(state, c.id_number_enc.as_deref())?;

    // Applications made with the account, and any made at a counter under the same ID number without one.
    let mut apps = store.applications_of(&c.id, MAX_ROWS).await?;
    if let Some(id) = &id_number {
        for a in store.applications_of_applicant(&state.keys.blind_index(id), MAX_ROWS).await? {
            if !apps.iter().any(|x| x.id == a.id) {
                apps.push(a);
            }
        }
    }
    let mut applications = Vec::new();
    for a in &apps {
        let timeline: Vec<Value> = store
            .application_events(&a.id)
            .await?
            .into_iter()
            .map(|e| json!({ "seq": e.seq, "at": e.at, "event": e.event, "from": e.from_state.code(), "to": e.to_state.code(), "actor_kind": e.actor_kind, "detail": json_text(&e.detail) }))
            .collect();
        applications.push(json!({
            "ref_no": a.ref_no,
            "kind": a.kind.code(),
            "channel": a.channel.code(),
            "state": a.state.code(),
            "applicant_name": state.keys.decrypt_field(&a.applicant_name_enc)?,
            "applicant_id_number": state.keys.decrypt_field(&a.applicant_id_enc)?,
            "division_code": a.division_code,
            "point_id": a.point_id,
            "delivery_method": a.delivery_method.code(),
            "delivery_address": decrypt(state, a.delivery_address_enc.as_deref())?,
            "recipient_phone": a.recipient_phone,
            "pickup_point_id": a.pickup_point_id,
            "fee_fen": a.fee_fen,
            "postage_fen": a.postage_fen,
            "fee_waived": a.fee_waived,
            "payment_order_no": a.payment_order_no,
            "return_reasons": a.return_reasons,
            "return_note": a.return_note,
            "reject_reason": a.reject_reason,
            "tracking_no": a.tracking_no,
            "created_at": a.created_at,
            "submitted_at": a.submitted_at,
            "approved_at": a.approved_at,
            "finished_at": a.finished_at,
            "timeline": timeline,
        }));
    }

    let appointments: Vec<Value> = store
        .appointments_of(&c.id)
        .await?
        .into_iter()
        .map(|a| json!({ "code": a.code, "point_id": a.point_id, "slot_id": a.slot_id, "service": a.service, "status": a.status.as_str(), "created_at": a.created_at, "updated_at": a.updated_at }))
        .collect();

    let mut payments = Vec::new();
    for o in store.orders_of(&c.id).await? {
        let refunds: Vec<Value> = store
            .refunds_of(&o.id)
            .await?
            .into_iter()
            .map(|r| json!({ "refund_no": r.refund_no, "amount_fen": r.amount_fen, "reason": r.reason, "status": r.status.as_str(), "created_at": r.created_at, "updated_at": r.updated_at }))
            .collect();
        payments.push(json!({
            "order_no": o.order_no, "reference": o.reference, "item": o.item, "amount_fen": o.amount_fen, "channel": o.channel,
            "status": o.status.as_str(), "refunded_fen": o.refunded_fen, "created_at": o.created_at, "paid_at": o.paid_at, "refunds": refunds,
        }));
    }

    let notifications: Vec<Value> = store
        .notifications_of(&c.id)
        .await?
        .into_iter()
        .map(|n| json!({ "channel": n.channel, "event": n.event_kind, "template": n.template, "vars": json_text(&n.vars), "status": n.status, "created_at": n.created_at, "read_at": n.read_at }))
        .collect();

    // Photos are listed, not embedded: the document stays readable; the pictures themselves are given at the counter.
    let portraits: Vec<Value> = store
        .portraits_of(&c.id, None, MAX_ROWS)
        .await?
        .into_iter()
        .map(|p| json!({ "id": p.id, "application_id": p.application_id, "source": p.source, "passed": p.passed, "created_at": p.created_at }))
        .collect();

    let card = store.card(&c.id).await?.map(|k| json!({ "issued_on": k.issued_on, "expires_on": k.expires_on, "source": k.source.as_str() }));

    Ok(json!({
        "format": "shenfen.person-export/1",
        "exported_at": state.now_ms(),
        "account": {
            "id": c.id,
            "phone": c.phone,
            "verification": c.verification.as_str(),
            "name": decrypt(state, c.name_enc.as_deref())?,
            "id_number": id_number,
            "hukou_code": c.hukou_code,
            "verified_at": c.verified_at,
            "created_at": c.created_at,
        },
        "card": card,
        "appointments": appointments,
        "applications": applications,
        "payment_orders": payments,
        "notifications": notifications,
        "portraits": portraits,
        "push_subscriptions": store.push_subscriptions(&c.id).await?.len(),
    }))
}

/// Checks the administrator's stated reason: required, at most 500 characters.
pub fn check_reason(reason: &str) -> AppResult<String> {
    let r = reason.trim();
    if r.chars().count() < 2 {
        return Err(AppError::invalid("erasure_reason_required", "请填写删除原因（如本人申请及受理编号）。", "Give the reason for the erasure (e.g. the person's request and its reference).").on_field("reason"));
    }
    if r.chars().count() > 500 {
        return Err(AppError::invalid("erasure_reason_too_long", "删除原因不能超过 500 个字。", "The reason may be at most 500 characters.").on_field("reason"));
    }
    Ok(r.to_string())
}

pub fn confirmation_required() -> AppError {
    AppError::invalid("erasure_not_confirmed", "请勾选确认：删除后无法恢复。", "Tick the confirmation: erasure cannot be undone.").on_field("confirm")
}

fn refused(e: StoreError) -> AppError {
    match e {
        StoreError::Conflict("application_in_progress") => AppError::new(
            StatusCode::CONFLICT,
            "application_in_progress",
            "此人有正在办理的身份证申请，办结或撤销后才能删除其个人信息。",
            "This person has an ID card application in progress; erase their data once it has finished or been cancelled.",
        ),
        StoreError::Conflict("payment_pending") => AppError::new(
            StatusCode::CONFLICT,
            "payment_pending",
            "此人有尚未完成的缴费或退款，完成后才能删除其个人信息。",
            "This person has a payment or refund still under way; erase their data once it has completed.",
        ),
        StoreError::Conflict("appointment_in_progress") => AppError::new(
            StatusCode::CONFLICT,
            "appointment_in_progress",
            "此人正在受理点办理业务（已签到），办结后才能删除其个人信息。",
            "This person is checked in at a counter right now; erase their data once the visit is over.",
        ),
        StoreError::Conflict("person_busy") => AppError::new(
            StatusCode::CONFLICT,
            "person_busy",
            "此人刚刚有新的业务在办理，未作任何删除，请稍后重试。",
            "Something of this person's got under way just now; nothing was erased. Try again shortly.",
        ),
        StoreError::NotFound => not_found(),
        other => other.into(),
    }
}

/// Erases the person named by `input` (see the module comment for what goes and what stays), after the caller
/// checked the confirmation. All or nothing; audited as `person.erased` with masked identifiers, the reason and
/// the counts.
pub async fn erase(state: &AppState, input: &str, reason: &str, actor: &Actor) -> AppResult<(Summary, Erased)> {
    let reason = check_reason(reason)?;
    let c = find(state, input).await?;
    let before = summary(state, &c).await?;
    // The audit entry commits with the erasure itself (the store adds the counts), so neither happens alone.
    let audit = shenfen_store::AuditRecord {
        at: state.now_ms(),
        actor_kind: actor.kind,
        actor_id: actor.id.clone(),
        action: "person.erased".into(),
        target: format!("citizen:{}", c.id),
        source_ip: actor.ip.clone(),
        detail: json!({ "phone": before.phone_masked, "id_number": before.id_number_masked, "reason": reason }).to_string(),
    };
    let erased = state.store.erase_citizen(&c.id, &audit).await.map_err(refused)?;
    Ok((before, erased))
}
