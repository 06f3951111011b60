//! The JSON API under `/api/v1`, for the mobile app and other government systems. Every handler carries its
//! `#[utoipa::path]`, so `/api/openapi.json` is generated from the code that serves it. Authentication is by
//! bearer token only (`Authorization: Bearer …`), obtained from the session endpoints.

mod accounts;
pub mod applications;
pub mod appointments;
mod notifications;
mod people;
pub mod payments;
mod point_admin;
mod reference;
mod staff;
mod staff_admin;
pub mod stats;

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::error::AppError;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shenfen API", description = "居民身份证网上服务平台 — resident ID card online services", version = "1"),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "auth", description = "Sign-in and sessions"),
        (name = "me", description = "The signed-in citizen"),
        (name = "staff", description = "Staff and administration"),
        (name = "reference", description = "Reference data and validation"),
        (name = "appointments", description = "Acceptance points, live load, slots and appointments"),
        (name = "counter", description = "Counter operations: status, check-in, queue"),
        (name = "payments", description = "Fee payment orders, receipts and finance totals"),
        (name = "applications", description = "The citizen's ID card applications: eligibility, photo, delivery, submit, cancel"),
        (name = "review", description = "Police review (掌上审核): queue, claim, decision; SLA supervision"),
        (name = "production", description = "Production centre: queue, batches, steps, dispatch"),
        (name = "admin", description = "Administration: acceptance points, capacity, per-day exceptions"),
        (name = "stats", description = "Service statistics: online and smart-fee shares, online applications accepted, users, cycle, trips saved; JSON and CSV"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The error shape every endpoint uses.
#[derive(serde::Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine code, e.g. `id_check_digit`.
    pub code: String,
    /// Human message: Simplified Chinese by default, English with `Accept-Language: en`.
    pub message: String,
    /// The request field at fault, when there is one.
    pub field: Option<String>,
}

pub fn router(state: AppState) -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let _ = state;
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(accounts::router())
        .merge(staff::router())
        .merge(staff_admin::router())
        .merge(people::router())
        .merge(reference::router())
        .merge(appointments::router())
        .merge(point_admin::router())
        .merge(payments::router())
        .merge(applications::router())
        .merge(notifications::router())
        .merge(stats::router())
        .split_for_parts()
}

/// JSON body extractor whose failures become our error codes (wrong content type, malformed JSON, too large).
/// `LIMIT` bounds the body in bytes; only upload endpoints raise it.
pub struct ApiJson<T, const LIMIT: usize = { 64 * 1024 }>(pub T);

impl<T: DeserializeOwned, S: Send + Sync, const LIMIT: usize> FromRequest<S> for ApiJson<T, LIMIT> {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, AppError> {
        let json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| m.type_() == "application" && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json")));
        if !json {
            return Err(AppError::unsupported_media_type());
        }
        let bytes = axum::body::to_bytes(req.into_body(), LIMIT).await.map_err(|_| AppError::payload_too_large())?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| AppError::invalid_json(&e.to_string()))
    }
}
