//! Operational endpoints: liveness, readiness, Prometheus metrics, and the OpenAPI document.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::app::AppState;
use crate::error::AppError;

pub fn router(openapi: Arc<utoipa::openapi::OpenApi>) -> Router<AppState> {
    let doc = openapi.clone();
    Router::new()
        .route("/healthz", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .route("/api/docs", get(move |page: crate::pages::PageCtx| async move { crate::pages::api_docs(&page, &openapi) }))
}

/// Ready when the database answers within a second. A balancer polls this every few seconds: while the database
/// restarts, the pool would wait its full acquire timeout for a connection, and the answer must not.
/// An instance whose clock is too far off (`clock_guard`) is not ready either.
async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, AppError> {
    if state.clock_skew.skewed() {
        let secs = state.clock_skew.skew_ms() as f64 / 1000.0;
        return Err(AppError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "clock_skew",
            format!("本实例时钟与数据库相差 {secs:.1} 秒，已暂停服务，请校准时间（NTP）。"),
            format!("This instance's clock is {secs:.1} s off the database's; it stands down until the time is corrected (NTP)."),
        ));
    }
    let failure = match tokio::time::timeout(std::time::Duration::from_secs(1), state.store.ping()).await {
        Ok(Ok(())) => return Ok(Json(serde_json::json!({ "status": "ready", "database": format!("{:?}", state.store.backend()).to_lowercase() }))),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer within 1 s".to_string(),
    };
    tracing::warn!(error = %failure, "readiness check failed");
    Err(AppError::unavailable("数据库暂不可用。", "The database is not reachable."))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    sample_gauges(&state).await;
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

/// Database-wide gauges, read at scrape time (every instance reports the same figures; alert on `max`). A failed
/// read leaves the previous values and shows in `shenfen_gauge_errors_total`.
async fn sample_gauges(state: &AppState) {
    // This instance's own figure (per instance, not database-wide): its clock against the database's.
    metrics::gauge!("shenfen_clock_skew_seconds").set(state.clock_skew.skew_ms() as f64 / 1000.0);
    match state.store.queue_stats(state.now_ms()).await {
        Ok(q) => {
            metrics::gauge!("shenfen_notification_queue_due").set(q.notifications_due as f64);
            metrics::gauge!("shenfen_notification_queue_oldest_due_seconds").set(q.notifications_oldest_due_ms as f64 / 1000.0);
            metrics::gauge!("shenfen_sms_awaiting_receipt").set(q.sms_awaiting_receipt as f64);
            metrics::gauge!("shenfen_sms_oldest_unchecked_receipt_seconds").set(q.sms_oldest_unchecked_receipt_ms as f64 / 1000.0);
            metrics::gauge!("shenfen_payments_awaiting_provider").set(q.payments_awaiting as f64);
            metrics::gauge!("shenfen_payments_oldest_awaiting_seconds").set(q.payments_oldest_awaiting_ms as f64 / 1000.0);
            // Present from the first scrape, so `increase()` in the alert rule has a baseline.
            metrics::counter!("shenfen_gauge_errors_total").increment(0);
        }
        Err(e) => {
            tracing::warn!(error = %e, "gauge sampling failed");
            metrics::counter!("shenfen_gauge_errors_total").increment(1);
        }
    }
}
