//! Validation services for other systems: ID-number checks.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use shenfen_domain::IdNumber;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ErrorBody};
use crate::app::AppState;
use crate::error::AppResult;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(validate_id_number))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdNumberCheck {
    pub id_number: String,
}

#[derive(Serialize, ToSchema)]
pub struct IdNumberInfo {
    /// The number in canonical 18-character form, masked.
    pub id_number_masked: String,
    pub birth_date: String,
    /// `M` or `F`.
    pub sex: String,
    pub address_code: String,
    pub region_name: Option<String>,
    /// True when the input was a legacy 15-digit number (converted).
    pub legacy_15: bool,
}

/// Validate a resident ID number locally (GB 11643-1999 check digit, birth date, region code history).
/// Each failure has its own code: `id_length`, `id_characters`, `id_date`, `id_future_date`, `id_region`,
/// `id_not_resident_card`, `id_check_digit`.
#[utoipa::path(post, path = "/api/v1/id-numbers/validate", tag = "reference", request_body = IdNumberCheck,
    responses((status = 200, body = IdNumberInfo), (status = 422, body = ErrorBody)))]
async fn validate_id_number(State(state): State<AppState>, ApiJson(req): ApiJson<IdNumberCheck>) -> AppResult<Json<IdNumberInfo>> {
    let id = IdNumber::parse_on(&req.id_number, state.clock.today_cst())?;
    Ok(Json(IdNumberInfo {
        id_number_masked: id.masked(),
        birth_date: id.birth_date().to_string(),
        sex: id.sex().code().to_string(),
        address_code: id.address_code().to_string(),
        region_name: shenfen_domain::division::full_name(id.address_code()),
        legacy_15: id.was_legacy_15(),
    }))
}
