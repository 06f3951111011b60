//! Delivery-receipt callbacks: `POST /callbacks/sms/{provider}/{token}`. Neither Aliyun nor Tencent signs its
//! receipts, so the URL carries a secret token (compared in constant time) and the source address must be on the
//! configured allow-list. Each receipt is applied by the provider's message id, once: replays and receipts for
//! unknown ids are logged and acknowledged (a provider retries anything else for hours, which would not help).

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
    let receipts: Vec<(String, bool, String)> = match provider.as_str() {
        "aliyun" => match aliyun_sms::parse_delivery_receipts(&body) {
            Ok(rs) => rs.into_iter().map(|r| (r.biz_id, r.success, r.err_code)).collect(),
            Err(e) => return malformed(&provider, e.code()),
        },
        "tencent" => match tencent_sms::parse_delivery_receipts(&body) {
            Ok(rs) => rs.into_iter().map(|r| (r.sid, r.report_status == tencent_sms::ReportStatus::Success, r.errmsg)).collect(),
            Err(e) => return malformed(&provider, e.code()),
        },
        _ => return AppError::not_found().into_response(),
    };
    let receipts: Vec<Receipt> = receipts.into_iter().map(|(provider_message_id, delivered, error)| Receipt { provider_message_id, delivered, error }).collect();
    // A database failure is the one case where the provider should try again later.
    let outcomes = match state.store.record_receipts(&provider, &receipts, now).await {
        Ok(o) => o,
        Err(e) => return AppError::from(e).into_response(),
    };
    for (r, outcome) in receipts.iter().zip(outcomes) {
        match outcome {
            ReceiptOutcome::Applied => {
                metrics::counter!("sms_receipts_total", "provider" => provider.clone(), "delivered" => r.delivered.to_string()).increment(1);
                tracing::info!(provider = %provider, delivered = r.delivered, code = %r.error, "delivery receipt applied");
            }
            ReceiptOutcome::AlreadyFinal => tracing::info!(provider = %provider, "replayed delivery receipt ignored"),
            ReceiptOutcome::Unknown => tracing::warn!(provider = %provider, "delivery receipt for an unknown message id ignored"),
        }
    }
    ack(&provider)
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
