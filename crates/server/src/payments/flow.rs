//! The provider side of the payment service: starting a payment with a provider, receiving its notifications,
//! asking it about orders left in doubt (reconciliation), and carrying refunds out. Works against any
//! [`PaymentProvider`]; which adapter serves which channel is decided by the caller.

use axum::http::{HeaderMap, StatusCode};
use shenfen_domain::payments::PaymentChannel;
use shenfen_store::{OrderUpdate, PaymentOrder, PaymentStatus, RefundStatus};

use super::provider::{NoticeOutcome, OrderRef, PaymentProvider, ProviderError, QueryOutcome, RefundOrder, RefundOutcome, StartRequest, Started, VerifiedNotice};
use super::service::{self, NoticeResult};
use crate::app::{Actor, AppState};
use crate::error::{AppError, AppResult};

fn unavailable() -> AppError {
    AppError::new(StatusCode::BAD_GATEWAY, "provider_unavailable", "支付渠道暂时不可用，请稍后再试或换一种支付方式。", "The payment provider is unavailable; try again later or choose another way to pay.")
}

/// Starts paying `order` through `channel`: the order moves to `started`, the provider order is opened, then the
/// order is `submitted` and the payer goes to the cashier / gets the QR. Starting again (another channel, a retry)
/// is allowed until the provider has the order. `at_point`: the counter point showing the QR (the finance view
/// counts the collection there).
pub async fn start(state: &AppState, provider: &dyn PaymentProvider, order: &PaymentOrder, channel: PaymentChannel, client_ip: &str, actor: &Actor, at_point: Option<&str>) -> AppResult<Started> {
    if channel.provider() != Some(provider.provider()) {
        return Err(AppError::invalid("channel_invalid", "支付方式无效。", "Unknown way to pay.").on_field("channel"));
    }
    if order.expires_at <= state.now_ms() {
        return Err(AppError::new(StatusCode::CONFLICT, "payment_expired", "该订单已过缴费期限。", "The order's payment deadline has passed."));
    }
    // Whole seconds: the provider order is named with this moment at second precision (UnionPay's txnTime).
    let now = state.now_ms();
    let opened_at = now.div_euclid(1000) * 1000;
    let staff_id = (at_point.is_some() && actor.kind == shenfen_store::ActorKind::Staff).then(|| actor.id.clone());
    let update = OrderUpdate { channel: Some(channel.code().into()), opened_at: Some(opened_at), point_id: at_point.map(str::to_string), staff_id, ..Default::default() };
    let started = state.store.change_status(&order.order_no, &[PaymentStatus::Created, PaymentStatus::Started], PaymentStatus::Started, &update, now).await?;
    let Some(started) = started else {
        let current = state.store.order_by_no(&order.order_no).await?.ok_or_else(service::order_not_found)?;
        return Err(if current.status == PaymentStatus::Submitted {
            AppError::new(StatusCode::CONFLICT, "payment_in_progress", "该订单正在支付中，请在支付页面完成支付。", "This order is being paid; finish on the cashier page.")
        } else {
            AppError::new(StatusCode::CONFLICT, "payment_final", "该订单不能再支付。", "This order can no longer be paid.")
        });
    };
    let base = state.config.public_url.trim_end_matches('/');
    let req = StartRequest {
        order_no: started.order_no.clone(),
        amount_fen: started.amount_fen,
        description: shenfen_domain::fees::FeeItem::from_code(&started.item).map(|i| format!("居民身份证{}", i.name_zh())).unwrap_or_else(|| "居民身份证工本费".into()),
        channel,
        return_url: format!("{base}/payments/{}", started.order_no),
        notify_url: format!("{base}/callbacks/payments/{}", provider.provider().code()),
        client_ip: client_ip.to_string(),
        expires_at: time::OffsetDateTime::from_unix_timestamp(started.expires_at / 1000).unwrap_or_else(|_| time::OffsetDateTime::now_utc()),
        opened_at: time::OffsetDateTime::from_unix_timestamp(opened_at / 1000).unwrap_or_else(|_| time::OffsetDateTime::now_utc()),
    };
    let out = match provider.start(&req).await {
        Ok(out) => out,
        Err(ProviderError::Unavailable(e)) => {
            tracing::warn!(order = %started.order_no, error = %e, "payment provider unavailable at start");
            return Err(unavailable());
        }
        Err(e) => {
            tracing::warn!(order = %started.order_no, error = %e, "payment provider refused the order");
            return Err(AppError::new(StatusCode::BAD_GATEWAY, "provider_refused", "支付渠道拒绝了该订单，请换一种支付方式。", "The payment provider refused the order; choose another way to pay."));
        }
    };
    state.store.change_status(&started.order_no, &[PaymentStatus::Started], PaymentStatus::Submitted, &OrderUpdate::default(), state.now_ms()).await?;
    state.audit(actor, "payment.start", &format!("payment:{}", started.order_no), serde_json::json!({ "channel": channel.code() })).await?;
    Ok(out)
}

/// Handles a provider's notification as received: verify (signature, certificate, time window, decryption), apply
/// exactly once, answer in the provider's terms. Forged or malformed notifications are logged and answered as not
/// accepted; duplicates are accepted (so the provider stops retrying) without changing anything.
pub async fn receive_notice(state: &AppState, provider: &dyn PaymentProvider, headers: &HeaderMap, body: &[u8]) -> (StatusCode, String) {
    let notice: VerifiedNotice = match provider.verify_notice(headers, body, time::OffsetDateTime::now_utc()) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(provider = provider.provider().code(), code = e.code(), error = %e, "payment notification refused");
            metrics::counter!("payment_notifications_rejected_total", "provider" => provider.provider().code(), "reason" => e.code()).increment(1);
            return provider.acknowledge(false);
        }
    };
    match service::apply_notice(state, provider.provider().code(), provider.merchant_id(), &notice).await {
        Ok(NoticeResult::Applied) | Ok(NoticeResult::Duplicate) => provider.acknowledge(true),
        Ok(NoticeResult::Rejected(reason)) => {
            metrics::counter!("payment_notifications_rejected_total", "provider" => provider.provider().code(), "reason" => reason).increment(1);
            // A genuine message about something we do not recognise: answering "accepted" would hide it; the
            // provider retries and the reconciliation report shows it.
            provider.acknowledge(false)
        }
        Err(e) => {
            tracing::error!(error = %e.message_en, "payment notification could not be applied");
            provider.acknowledge(false)
        }
    }
}

/// What one reconciliation pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub paid: usize,
    pub closed: usize,
    pub expired: usize,
    pub unreachable: usize,
}

/// Asks the provider about each order of its channels left `started`/`submitted` for longer than `grace_ms` (a lost
/// notification, a payer who walked away), applies what it says, and expires what is past its deadline.
/// Idempotent and safe on every instance: every change is a conditional statement, a payment found by query is
/// applied under the event id `query:<order_no>`.
pub async fn reconcile(state: &AppState, provider: &dyn PaymentProvider, grace_ms: i64) -> AppResult<Reconciled> {
    let mut out = Reconciled::default();
    let now = state.now_ms();
    for o in state.store.unfinished_orders(now - grace_ms, 200).await? {
        let channel = o.channel.as_deref().and_then(PaymentChannel::from_code);
        if channel.and_then(|c| c.provider()) != Some(provider.provider()) {
            continue;
        }
        match provider.query(&OrderRef::of(&o)).await {
            Ok(QueryOutcome::Paid { provider_trade_no, amount_fen, at }) => {
                let notice = VerifiedNotice {
                    event_id: format!("query:{}", o.order_no),
                    order_no: o.order_no.clone(),
                    provider_trade_no: Some(provider_trade_no),
                    amount_fen,
                    merchant_id: provider.merchant_id().to_string(),
                    outcome: NoticeOutcome::Paid { at },
                };
                if service::apply_notice(state, provider.provider().code(), provider.merchant_id(), &notice).await? == NoticeResult::Applied {
                    out.paid += 1;
                }
            }
            Ok(QueryOutcome::Closed) => {
                let update = OrderUpdate { failure_code: Some("closed_by_provider".into()), ..Default::default() };
                if state.store.change_status(&o.order_no, &[PaymentStatus::Started, PaymentStatus::Submitted], PaymentStatus::Failed, &update, now).await?.is_some() {
                    out.closed += 1;
                }
            }
            Ok(QueryOutcome::NotPaid) | Ok(QueryOutcome::NotFound) if o.expires_at <= now => {
                // Past the deadline and not paid: close it at the provider, then expire it here.
                if let Err(e) = provider.close(&OrderRef::of(&o)).await {
                    tracing::warn!(order = %o.order_no, error = %e, "could not close the provider order");
                }
                let expired = state.store.change_status(&o.order_no, &[PaymentStatus::Started, PaymentStatus::Submitted], PaymentStatus::Expired, &OrderUpdate::default(), now).await?;
                out.expired += expired.is_some() as usize;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(order = %o.order_no, error = %e, "reconciliation query failed");
                out.unreachable += 1;
            }
        }
    }
    Ok(out)
}

/// Carries pending refunds of this provider's orders out (each refund number is idempotent at the provider, so a
/// retry after a crash cannot refund twice).
pub async fn process_refunds(state: &AppState, provider: &dyn PaymentProvider) -> AppResult<usize> {
    let mut done = 0;
    for r in state.store.pending_refunds(100).await? {
        let Some(order) = state.store.order(&r.order_id).await? else { continue };
        if order.channel.as_deref().and_then(PaymentChannel::from_code).and_then(|c| c.provider()) != Some(provider.provider()) {
            continue;
        }
        let refund = RefundOrder {
            refund_no: r.refund_no.clone(),
            amount_fen: r.amount_fen,
            reason: r.reason.clone(),
            requested_at: time::OffsetDateTime::from_unix_timestamp(r.created_at.div_euclid(1000)).unwrap_or_else(|_| time::OffsetDateTime::now_utc()),
        };
        match provider.refund(&OrderRef::of(&order), &refund).await {
            Ok(RefundOutcome::Succeeded { provider_refund_no }) => {
                state.store.finish_refund(&r.refund_no, RefundStatus::Success, provider_refund_no.as_deref(), state.now_ms()).await?;
                done += 1;
            }
            Ok(RefundOutcome::Pending { .. }) => {}
            Ok(RefundOutcome::Failed { code }) => {
                tracing::warn!(refund = %r.refund_no, code, "refund failed at the provider");
                state.store.finish_refund(&r.refund_no, RefundStatus::Failed, None, state.now_ms()).await?;
            }
            Err(e) => tracing::warn!(refund = %r.refund_no, error = %e, "refund request failed; will retry"),
        }
    }
    Ok(done)
}
