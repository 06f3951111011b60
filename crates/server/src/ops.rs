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

/// Ready when the database answers.
async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, AppError> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(serde_json::json!({ "status": "ready", "database": format!("{:?}", state.store.backend()).to_lowercase() }))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(AppError::unavailable("数据库暂不可用。", "The database is not reachable."))
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
