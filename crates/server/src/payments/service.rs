//! The payment service: creating orders (with `Idempotency-Key`), cash at the counter, cancelling, applying
//! verified provider notifications exactly once, expiry and refunds. Every money change is one conditional
//! statement in the store (`shenfen_store::payments`); the rules come from `shenfen_domain::payments`.
//! Pages and the API both call these functions.

use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use shenfen_domain::fees::{FeeItem, FeeSchedule, format_yuan};
use shenfen_domain::payments::{self as rules, PaymentChannel, PaymentEvent, PaymentStatus as DomainStatus};
use shenfen_store::{CreateOutcome, IdempotencyKey, OrderUpdate, PaymentOrder, PaymentStatus, Refund, RefundStatus, Staff, StoreError, new_id, order_number};

use super::provider::{NoticeOutcome, VerifiedNotice};
use crate::app::{Actor, AppState};
use crate::error::{AppError, AppResult};

/// Unpaid orders expire this long after they were issued (Hefei rule: pay within 48 hours of approval).
pub const PAYMENT_WINDOW_MS: i64 = 48 * 3_600_000;

/// Longest Idempotency-Key accepted (Stripe and GOV.UK Pay use 255).
const MAX_KEY_LEN: usize = 255;

pub fn order_not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "payment_not_found", "没有找到该缴费订单。", "No such payment order.")
}

fn to_domain(s: PaymentStatus) -> DomainStatus {
    DomainStatus::from_code(s.as_str()).unwrap_or(DomainStatus::Error)
}

fn to_store(s: DomainStatus) -> PaymentStatus {
    PaymentStatus::parse(s.code()).unwrap_or(PaymentStatus::Error)
}

/// The states from which `event` is a real change (final states excluded): the `from` list of the one
/// conditional UPDATE that applies it.
fn from_states(event: PaymentEvent) -> Vec<PaymentStatus> {
    DomainStatus::ALL.into_iter().filter(|s| !s.is_final()).filter(|s| rules::next_status(*s, event).is_ok()).map(to_store).collect()
}

/// What an order is for, as the caller states it.
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// e.g. `application:<id>`; letters, digits and `:_-` only, at most 64.
    pub reference: String,
    pub item: String,
}

/// Hash of the request an Idempotency-Key came with: same key + same body → same answer.
pub fn request_hash(reference: &str, item: &str) -> String {
    hex::encode(Sha256::digest(format!("{reference}\n{item}").as_bytes()))
}

fn check_reference(r: &str) -> AppResult<()> {
    let ok = !r.is_empty() && r.len() <= 64 && r.chars().all(|c| c.is_ascii_alphanumeric() || ":_-".contains(c));
    if ok { Ok(()) } else { Err(AppError::invalid("reference_invalid", "缴费事项编号无效。", "The reference is not valid.").on_field("reference")) }
}

/// Creates (or, for a repeated Idempotency-Key with the same body, returns) an order for one fee item. The amount
/// comes from the fee schedule, never from the caller. Returns the order and whether it was created now.
pub async fn create_order(state: &AppState, citizen_id: Option<&str>, scope: &str, req: &NewOrder, idempotency_key: Option<&str>) -> AppResult<(PaymentOrder, bool)> {
    check_reference(&req.reference)?;
    let item = FeeItem::from_code(&req.item).ok_or_else(|| AppError::invalid("item_invalid", "收费项目无效。", "Unknown fee item.").on_field("item"))?;
    let amount_fen = FeeSchedule { postage_fen: state.config.postage_fen }.amount_fen(item);
    if amount_fen <= 0 {
        return Err(AppError::invalid("amount_invalid", "该项目无需缴费。", "Nothing to pay for this item."));
    }
    let key = match idempotency_key {
        Some(k) if k.is_empty() || k.len() > MAX_KEY_LEN || !k.chars().all(|c| c.is_ascii_graphic()) => {
            return Err(AppError::bad_request("idempotency_key_invalid", "Idempotency-Key 应为 1–255 个可见 ASCII 字符。", "Idempotency-Key must be 1–255 visible ASCII characters."));
        }
        Some(k) => Some(IdempotencyKey { scope: scope.to_string(), key: k.to_string(), request_hash: request_hash(&req.reference, item.code()) }),
        None => None,
    };
    let now = state.now_ms();
    let order = PaymentOrder {
        id: new_id(),
        order_no: order_number(),
        citizen_id: citizen_id.map(str::to_string),
        reference: req.reference.clone(),
        item: item.code().to_string(),
        amount_fen,
        channel: None,
        status: PaymentStatus::Created,
        failure_code: None,
        provider_trade_no: None,
        refunded_fen: 0,
        point_id: None,
        staff_id: None,
        cash_received_fen: None,
        created_at: now,
        updated_at: now,
        expires_at: now + PAYMENT_WINDOW_MS,
        paid_at: None,
        opened_at: None,
    };
    match state.store.create_order(&order, key.as_ref()).await {
        Ok(CreateOutcome::Created(o)) => Ok((o, true)),
        Ok(CreateOutcome::Replayed(o)) => Ok((o, false)),
        Err(StoreError::Conflict("idempotency_key_reused")) => Err(AppError::new(
            StatusCode::CONFLICT,
            "idempotency_key_reused",
            "该 Idempotency-Key 已用于另一笔不同的请求。",
            "This Idempotency-Key was already used with a different request.",
        )),
        Err(e) => Err(e.into()),
    }
}

/// An order the citizen may see: their own. Someone else's is "not found", so order numbers cannot be probed.
pub async fn own_order(state: &AppState, citizen_id: &str, order_no: &str) -> AppResult<PaymentOrder> {
    if order_no.len() > 64 {
        return Err(order_not_found());
    }
    match state.store.order_by_no(order_no).await? {
        Some(o) if o.citizen_id.as_deref() == Some(citizen_id) => Ok(o),
        _ => Err(order_not_found()),
    }
}

fn transition_error(current: &PaymentOrder) -> AppError {
    let from = to_domain(current.status);
    if from.is_final() {
        AppError::new(StatusCode::CONFLICT, "payment_final", format!("该订单{}，不能再操作。", from.name_zh()), format!("The order is final ({}).", from.name_en()))
    } else {
        AppError::new(StatusCode::CONFLICT, "payment_transition", "订单当前状态不允许此操作。", "The order's state does not allow this.")
    }
}

/// Applies `event` to an order with one conditional UPDATE. A repeated success on a paid order returns it
/// unchanged; otherwise a lost race reports the state that won.
async fn apply(state: &AppState, order_no: &str, event: PaymentEvent, update: &OrderUpdate) -> AppResult<PaymentOrder> {
    let current = state.store.order_by_no(order_no).await?.ok_or_else(order_not_found)?;
    let from = to_domain(current.status);
    let to = match rules::next_status(from, event) {
        Ok(to) if to == from && to.is_final() => return Ok(current),
        Ok(to) => to,
        Err(_) => return Err(transition_error(&current)),
    };
    match state.store.change_status(order_no, &from_states(event), to_store(to), update, state.now_ms()).await? {
        Some(o) => {
            if o.status == PaymentStatus::Success {
                crate::applications::payment_settled(state, &o.reference).await;
            }
            Ok(o)
        }
        None => {
            let current = state.store.order_by_no(order_no).await?.ok_or_else(order_not_found)?;
            Err(transition_error(&current))
        }
    }
}

/// The citizen (or the application) cancels an unpaid order.
pub async fn cancel(state: &AppState, order: &PaymentOrder, actor: &Actor) -> AppResult<PaymentOrder> {
    let o = apply(state, &order.order_no, PaymentEvent::Cancel, &OrderUpdate::default()).await?;
    state.audit(actor, "payment.cancel", &format!("payment:{}", o.order_no), serde_json::json!({})).await?;
    Ok(o)
}

/// Counter staff record cash: what was handed over must cover the fee; returns the order and the change to give.
/// Opens the staff member's cash shift if none is open.
pub async fn record_cash(state: &AppState, staff: &Staff, point_id: &str, order_no: &str, received_fen: i64, actor: &Actor) -> AppResult<(PaymentOrder, i64)> {
    let order = state.store.order_by_no(order_no).await?.ok_or_else(order_not_found)?;
    if to_domain(order.status).is_final() {
        // Already paid (or ended): no cash changes hands.
        return Err(transition_error(&order));
    }
    let change = rules::change_due(order.amount_fen, received_fen).ok_or_else(|| {
        AppError::invalid(
            "cash_insufficient",
            format!("收取金额不足，应收 {} 元。", format_yuan(order.amount_fen)),
            format!("Not enough cash: {} yuan is due.", format_yuan(order.amount_fen)),
        )
        .on_field("received")
    })?;
    if state.store.open_shift_of(&staff.id).await?.is_none() {
        match state.store.open_shift(point_id, &staff.id, state.now_ms()).await {
            Ok(_) | Err(StoreError::Conflict("shift_open")) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let update = OrderUpdate {
        channel: Some(PaymentChannel::Cash.code().into()),
        paid_at: Some(state.now_ms()),
        point_id: Some(point_id.to_string()),
        staff_id: Some(staff.id.clone()),
        cash_received_fen: Some(received_fen),
        ..Default::default()
    };
    // One conditional UPDATE from the unpaid states: of two racing cash records (or cash and a QR payment) only
    // one succeeds; the other is told the order is final.
    let Some(o) = state.store.change_status(order_no, &from_states(PaymentEvent::Succeed), PaymentStatus::Success, &update, state.now_ms()).await? else {
        let current = state.store.order_by_no(order_no).await?.ok_or_else(order_not_found)?;
        return Err(transition_error(&current));
    };
    crate::applications::payment_settled(state, &o.reference).await;
    state
        .audit(actor, "payment.cash", &format!("payment:{}", o.order_no), serde_json::json!({ "amount_fen": o.amount_fen, "received_fen": received_fen, "change_fen": change, "point": point_id }))
        .await?;
    Ok((o, change))
}

/// What became of a verified notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeResult {
    Applied,
    /// Seen before (providers retry for a day): nothing changed.
    Duplicate,
    /// Refused and logged: unknown order, wrong amount or merchant.
    Rejected(&'static str),
}

/// Applies a provider notification whose signature has been verified, exactly once per provider event id. Checks
/// the merchant and the amount against the order first. A success for an order that already ended (cancelled,
/// expired) is money received all the same: it is audited and a full refund is due.
pub async fn apply_notice(state: &AppState, provider: &str, our_merchant_id: &str, notice: &VerifiedNotice) -> AppResult<NoticeResult> {
    let Some(order) = state.store.order_by_no(&notice.order_no).await? else {
        tracing::warn!(provider, "payment notice for an unknown order");
        return Ok(NoticeResult::Rejected("unknown_order"));
    };
    if notice.merchant_id != our_merchant_id {
        tracing::warn!(provider, order = %order.order_no, "payment notice for another merchant");
        return Ok(NoticeResult::Rejected("wrong_merchant"));
    }
    if !matches!(notice.outcome, NoticeOutcome::Refund { .. }) && notice.amount_fen != order.amount_fen {
        tracing::warn!(provider, order = %order.order_no, "payment notice with a different amount");
        return Ok(NoticeResult::Rejected("wrong_amount"));
    }
    let system = Actor { kind: shenfen_store::ActorKind::System, id: format!("provider:{provider}"), ip: "-".into() };
    if let NoticeOutcome::Paid { at } = &notice.outcome {
        // The common case, and the hot one: the notice id, the status change and its audit entry in one transaction.
        let update = OrderUpdate {
            channel: None,
            provider_trade_no: notice.provider_trade_no.clone(),
            paid_at: Some((at.unix_timestamp_nanos() / 1_000_000) as i64),
            ..Default::default()
        };
        let now = state.now_ms();
        let audit = shenfen_store::AuditRecord {
            at: now,
            actor_kind: system.kind,
            actor_id: system.id.clone(),
            action: "payment.success".into(),
            target: format!("payment:{}", order.order_no),
            source_ip: system.ip.clone(),
            detail: serde_json::json!({ "amount_fen": order.amount_fen }).to_string(),
        };
        let from = from_states(PaymentEvent::Succeed);
        let change = shenfen_store::NoticeChange {
            provider,
            provider_event_id: &notice.event_id,
            order_no: &order.order_no,
            outcome: "applied",
            from: &from,
            to: PaymentStatus::Success,
            update: &update,
            audit,
            now,
        };
        match state.store.apply_notice(&change).await? {
            shenfen_store::NoticeApplied::Duplicate => return Ok(NoticeResult::Duplicate),
            shenfen_store::NoticeApplied::Changed(o) => crate::applications::payment_settled(state, &o.reference).await,
            shenfen_store::NoticeApplied::Unchanged => {
                let current = state.store.order_by_no(&order.order_no).await?.ok_or_else(order_not_found)?;
                if rules::late_success_needs_refund(to_domain(current.status)) {
                    state
                        .audit(&system, "payment.late_success", &format!("payment:{}", current.order_no), serde_json::json!({ "status": current.status.as_str(), "amount_fen": notice.amount_fen }))
                        .await?;
                    tracing::warn!(order = %current.order_no, "payment succeeded after the order ended; a refund is due");
                }
            }
        }
        return Ok(NoticeResult::Applied);
    }
    if !state.store.first_notification(provider, &notice.event_id, &order.order_no, "applied", state.now_ms()).await? {
        return Ok(NoticeResult::Duplicate);
    }
    match &notice.outcome {
        // Handled above, in one transaction.
        NoticeOutcome::Paid { .. } => {}
        NoticeOutcome::Failed { code } => {
            let update = OrderUpdate { failure_code: Some(code.chars().take(64).collect()), ..Default::default() };
            if apply(state, &order.order_no, PaymentEvent::Fail, &update).await.is_ok() {
                state.audit(&system, "payment.failed", &format!("payment:{}", order.order_no), serde_json::json!({ "code": code })).await?;
            }
        }
        NoticeOutcome::Refund { refund_no, succeeded } => {
            let status = if *succeeded { RefundStatus::Success } else { RefundStatus::Failed };
            state.store.finish_refund(refund_no, status, None, state.now_ms()).await?;
        }
        NoticeOutcome::Pending => {}
    }
    Ok(NoticeResult::Applied)
}

/// Starts a refund of `amount_fen` (never more than is left to refund); the provider is asked by the caller or the
/// refund job with the returned refund number.
pub async fn start_refund(state: &AppState, order: &PaymentOrder, amount_fen: i64, reason: &str, actor: &Actor) -> AppResult<Refund> {
    rules::check_refund(to_domain(order.status), order.amount_fen, order.refunded_fen, amount_fen).map_err(|e| {
        let (zh, en) = match e {
            rules::RefundError::NotPaid => ("只有已支付的订单可以退款。".to_string(), "Only a paid order can be refunded.".to_string()),
            rules::RefundError::NotPositive => ("退款金额应为正数（单位：分）。".to_string(), "The refund must be a positive amount in fen.".to_string()),
            rules::RefundError::ExceedsPaid { refundable } => {
                (format!("退款金额超过可退金额 {} 元。", format_yuan(refundable)), format!("The refund exceeds the {} yuan left to refund.", format_yuan(refundable)))
            }
        };
        AppError::new(StatusCode::CONFLICT, e.code(), zh, en)
    })?;
    let refund_no = format!("RF{}", &order_number()[2..]);
    let refund = state.store.start_refund(&order.id, &refund_no, amount_fen, reason, state.now_ms()).await.map_err(|e| match e {
        // Lost a race with another refund: the statement refused it.
        StoreError::Conflict(code @ ("refund_exceeds_paid" | "refund_not_paid")) => AppError::new(StatusCode::CONFLICT, code, "退款金额超过可退金额。", "The refund exceeds what is left to refund."),
        other => other.into(),
    })?;
    state
        .audit(actor, "payment.refund", &format!("payment:{}", order.order_no), serde_json::json!({ "refund_no": refund.refund_no, "amount_fen": amount_fen, "reason": reason }))
        .await?;
    Ok(refund)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_sources_follow_the_domain_table() {
        assert_eq!(from_states(PaymentEvent::Succeed), vec![PaymentStatus::Created, PaymentStatus::Started, PaymentStatus::Submitted]);
        assert_eq!(from_states(PaymentEvent::Fail), vec![PaymentStatus::Started, PaymentStatus::Submitted]);
        assert_eq!(from_states(PaymentEvent::Submit), vec![PaymentStatus::Started, PaymentStatus::Submitted]);
        assert_eq!(from_states(PaymentEvent::Cancel), vec![PaymentStatus::Created, PaymentStatus::Started, PaymentStatus::Submitted]);
    }

    #[test]
    fn request_hash_depends_on_the_body() {
        assert_eq!(request_hash("application:1", "renewal"), request_hash("application:1", "renewal"));
        assert_ne!(request_hash("application:1", "renewal"), request_hash("application:2", "renewal"));
        assert_ne!(request_hash("a:b", "c"), request_hash("a", "b:c"));
    }
}
