//! Smart fee collection (智能收缴): payment orders for an application's fee, online through Alipay, WeChat Pay and
//! UnionPay, at the counter by QR or in cash; provider notifications applied exactly once; refunds; receipts.
//! Provider wire protocols live in `shenfen_gateways`; the adapters behind [`provider::PaymentProvider`] in
//! `providers/`, the demo/test sandboxes in `sandbox/`.

pub mod finance;
pub mod flow;
pub mod provider;
pub mod providers;
pub mod receipt;
pub mod recon;
pub mod sandbox;
pub mod service;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use shenfen_domain::payments::{PaymentChannel, Provider};

use crate::app::AppState;
use crate::error::{AppError, AppResult};

/// The adapter that serves a channel (`None` for cash), or a clear error when it is not configured here.
pub fn provider_for(state: &AppState, channel: &str) -> AppResult<(PaymentChannel, Arc<dyn provider::PaymentProvider>)> {
    let channel = PaymentChannel::from_code(channel).ok_or_else(|| AppError::invalid("channel_invalid", "支付方式无效。", "Unknown way to pay.").on_field("channel"))?;
    let provider = channel
        .provider()
        .and_then(|p| state.payment_providers.as_ref().and_then(|ps| ps.get(p)))
        .ok_or_else(|| AppError::invalid("channel_unavailable", "该支付方式暂不可用，请选择其他方式。", "This way to pay is not available; choose another.").on_field("channel"))?;
    Ok((channel, provider))
}

/// Provider notifications: `POST /callbacks/payments/{provider}` with the provider's own body and headers; and
/// the payer's browser coming back from a provider that returns it by form POST (UnionPay's `frontUrl`).
pub fn callback_router() -> Router<AppState> {
    Router::new()
        .route("/callbacks/payments/{provider}", post(callback))
        .route("/callbacks/payments/{provider}/return/{order_no}", axum::routing::any(browser_return))
}

/// The browser's return: whatever it carries is not trusted (the notification and queries decide), so it is only
/// sent on to the order page.
async fn browser_return(Path((_, order_no)): Path<(String, String)>) -> axum::response::Response {
    if order_no.is_empty() || order_no.len() > 64 || !order_no.chars().all(|c| c.is_ascii_alphanumeric()) {
        return AppError::not_found().into_response();
    }
    axum::response::Redirect::to(&format!("/payments/{order_no}")).into_response()
}

async fn callback(State(state): State<AppState>, Path(provider): Path<String>, headers: HeaderMap, body: Bytes) -> axum::response::Response {
    let adapter = Provider::from_code(&provider).and_then(|p| state.payment_providers.as_ref().and_then(|ps| ps.get(p)));
    match adapter {
        Some(a) => flow::receive_notice(&state, a.as_ref(), &headers, &body).await.into_response(),
        None => (StatusCode::NOT_FOUND, "unknown provider").into_response(),
    }
}

/// The payment jobs, run every minute on every instance (each change is a conditional statement): expire unpaid
/// orders past their deadline, ask providers about orders left in doubt, carry out pending refunds, and once a
/// day reconcile yesterday's statements (one instance per provider and day).
pub async fn housekeeping(state: &AppState) -> AppResult<()> {
    let expired = state.store.expire_unpaid(state.now_ms()).await?;
    if !expired.is_empty() {
        tracing::info!(expired = expired.len(), "unpaid payment orders expired");
    }
    if let Some(providers) = &state.payment_providers {
        for p in [Provider::Alipay, Provider::Wechat, Provider::Unionpay] {
            if let Some(adapter) = providers.get(p) {
                let r = flow::reconcile(state, adapter.as_ref(), RECONCILE_AFTER_MS).await?;
                if r != flow::Reconciled::default() {
                    tracing::info!(provider = p.code(), paid = r.paid, closed = r.closed, expired = r.expired, unreachable = r.unreachable, "payment reconciliation");
                }
                flow::process_refunds(state, adapter.as_ref()).await?;
            }
        }
    }
    recon::daily(state).await?;
    Ok(())
}

/// How long a `submitted` order may wait for its notification before we ask the provider.
pub const RECONCILE_AFTER_MS: i64 = 2 * 60_000;
