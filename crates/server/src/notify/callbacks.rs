//! Delivery-receipt callbacks: `POST /callbacks/sms/{provider}/{token}`. Neither Aliyun nor Tencent signs its
//! receipts, so the URL carries a secret token (compared in constant time) and the source address must be on the
//! configured allow-list. Each receipt is applied by the provider's message id, once: replays and receipts for
//! unknown ids are logged and acknowledged (a provider retries anything else for hours, which would not help) —
//! except a fresh receipt for an id not known yet: the provider can report faster than the sending worker writes
//! the acceptance down, so such a batch is answered "try again" and the provider's retry finds the message
//! (what still slips through is settled by the reconciler, `reconcile.rs`).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use shenfen_gateways::{aliyun_sms, tencent_sms};
use shenfen_store::{Receipt, ReceiptOutcome};

use crate::app::AppState;
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new().route("/callbacks/sms/{provider}/{token}", post(receipt))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn receipt(State(state): State<AppState>, Path((provider, token)): Path<(String, String)>, parts: Parts, body: String) -> Response {
    // A wrong token looks exactly like a missing route.
    let expected = state.config.notify.receipt_token(state.config.demo);
    if !expected.is_some_and(|e| constant_time_eq(e.as_bytes(), token.as_bytes())) {
        tracing::warn!(provider = %provider, "receipt with a wrong path token refused");
        return AppError::not_found().into_response();
    }
    let ip = crate::auth::client_ip(&parts, state.config.behind_proxy);
    let allow = &state.config.notify.callback_allow;
    if !allow.is_empty() && !allow.iter().any(|a| a == &ip) {
        tracing::warn!(provider = %provider, ip = %ip, "receipt from an address not on the allow-list refused");
        return AppError::forbidden().into_response();
    }
    let now = state.now_ms();
    // (provider's id, delivered, carrier code, when the carrier reported)
    let receipts: Vec<(String, bool, String, Option<i64>)> = match provider.as_str() {
        "aliyun" => match aliyun_sms::parse_delivery_receipts(&body) {
            Ok(rs) => rs.into_iter().map(|r| (r.biz_id, r.success, r.err_code, beijing_ms(&r.report_time))).collect(),
            Err(e) => return malformed(&provider, e.code()),
        },
        "tencent" => match tencent_sms::parse_delivery_receipts(&body) {
            Ok(rs) => rs.into_iter().map(|r| (r.sid, r.report_status == tencent_sms::ReportStatus::Success, r.errmsg, beijing_ms(&r.user_receive_time))).collect(),
            Err(e) => return malformed(&provider, e.code()),
        },
        _ => return AppError::not_found().into_response(),
    };
    let reported_at: Vec<Option<i64>> = receipts.iter().map(|r| r.3).collect();
    let receipts: Vec<Receipt> = receipts.into_iter().map(|(provider_message_id, delivered, error, _)| Receipt { provider_message_id, delivered, error }).collect();
    // A database failure is the one case where the provider should try again later.
    let outcomes = match state.store.record_receipts(&provider, &receipts, now).await {
        Ok(o) => o,
        Err(e) => return AppError::from(e).into_response(),
    };
    let mut early = 0;
    for ((r, outcome), reported_at) in receipts.iter().zip(outcomes).zip(reported_at) {
        match outcome {
            ReceiptOutcome::Applied => {
                metrics::counter!("sms_receipts_total", "provider" => provider.clone(), "delivered" => r.delivered.to_string()).increment(1);
                tracing::info!(provider = %provider, delivered = r.delivered, code = %r.error, "delivery receipt applied");
            }
            ReceiptOutcome::AlreadyFinal => tracing::info!(provider = %provider, "replayed delivery receipt ignored"),
            ReceiptOutcome::Unknown if reported_at.is_some_and(|at| (now - at).abs() <= EARLY_RECEIPT_MS) => early += 1,
            ReceiptOutcome::Unknown => tracing::warn!(provider = %provider, "delivery receipt for an unknown message id ignored"),
        }
    }
    if early > 0 {
        tracing::info!(provider = %provider, receipts = early, "fresh receipts for messages not recorded yet; asked the provider to send them again");
        metrics::counter!("sms_receipts_early_total", "provider" => provider.clone()).increment(early);
        return try_again(&provider);
    }
    ack(&provider)
}

/// A receipt reported this recently for a message we do not know may have overtaken the acceptance being written
/// down (the sending worker records acceptances in groups, within milliseconds to a second or two).
const EARLY_RECEIPT_MS: i64 = 60_000;

/// `yyyy-MM-dd HH:mm:ss` in Beijing time (the receipts' format) as UTC milliseconds.
fn beijing_ms(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(s, &fmt).ok().map(crate::appointments::local_to_ms)
}

/// The provider's "not received, send again" answer: a non-success status and a non-zero code.
fn try_again(provider: &str) -> Response {
    let body = match provider {
        "tencent" => json!({ "result": 1, "errmsg": "message not recorded yet; please retry" }),
        _ => json!({ "code": 1, "msg": "消息尚未登记，请稍后重试" }),
    };
    (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

fn ack(provider: &str) -> Response {
    match provider {
        "tencent" => axum::Json(json!({ "result": 0, "errmsg": "OK" })).into_response(),
        _ => axum::Json(json!({ "code": 0, "msg": "成功" })).into_response(),
    }
}

fn malformed(provider: &str, code: &str) -> Response {
    tracing::warn!(provider = %provider, code, "malformed delivery receipt refused");
    AppError::bad_request("malformed_receipt", "回执格式不正确。", "The delivery receipt is malformed.").into_response()
}
