//! One person's data over the API (administrators only): find the person, export everything held about them,
//! erase it. The person is named in the JSON body, never in the URL, so mobile and ID numbers stay out of access
//! logs and proxies. Rules live in `crate::person_data`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use shenfen_store::Erased;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ErrorBody};
use crate::app::AppState;
use crate::auth::StaffUser;
use crate::error::AppResult;
use crate::person_data::{self, Summary};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search)).routes(routes!(export)).routes(routes!(erase))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonQuery {
    /// The person's 11-digit mobile number or 18-character ID number.
    pub query: String,
}

/// Find a person by mobile number or ID number: masked identifiers and counts (administrators).
#[utoipa::path(post, path = "/api/v1/admin/people/search", tag = "admin", security(("bearer" = [])), request_body = PersonQuery,
    responses((status = 200, body = Summary), (status = 403, body = ErrorBody, description = "not an administrator, or `person_data_province_only`"), (status = 404, body = ErrorBody, description = "`person_not_found`"),
        (status = 422, body = ErrorBody, description = "not a mobile or ID number")))]
async fn search(State(state): State<AppState>, user: StaffUser, ApiJson(q): ApiJson<PersonQuery>) -> AppResult<Json<Summary>> {
    person_data::authorize(&user.0)?;
    let c = person_data::find(&state, &q.query).await?;
    Ok(Json(person_data::summary(&state, &c).await?))
}

/// Everything the platform holds about a person, complete and in clear, to hand to them (administrators; audited
/// as `person.exported`).
#[utoipa::path(post, path = "/api/v1/admin/people/export", tag = "admin", security(("bearer" = [])), request_body = PersonQuery,
    responses((status = 200, body = Object, description = "the export document (`format`: `shenfen.person-export/1`)"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn export(State(state): State<AppState>, user: StaffUser, ApiJson(q): ApiJson<PersonQuery>) -> AppResult<Json<serde_json::Value>> {
    person_data::authorize(&user.0)?;
    let (_, doc) = person_data::export(&state, &q.query, &user.1.actor()).await?;
    Ok(Json(doc))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// The person's mobile number or ID number.
    pub query: String,
    /// Why (e.g. the person's written request and its reference); recorded in the audit log.
    #[serde(default)]
    pub reason: String,
    /// Must be `true`: erasure cannot be undone.
    #[serde(default)]
    pub confirm: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ErasureDone {
    /// The person as they were (masked).
    pub person: Summary,
    /// What was deleted or detached.
    #[schema(value_type = Object)]
    pub erased: Erased,
}

/// Erase a person's data (administrators; audited as `person.erased`). Finished applications and payment records
/// are kept for their legal periods, detached from the account. Refused with 409 `application_in_progress`,
/// `payment_pending` or `appointment_in_progress` while something is still under way; nothing changes then.
#[utoipa::path(post, path = "/api/v1/admin/people/erase", tag = "admin", security(("bearer" = [])), request_body = ErasureRequest,
    responses((status = 200, body = ErasureDone), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "bad query, missing reason or confirmation")))]
async fn erase(State(state): State<AppState>, user: StaffUser, ApiJson(req): ApiJson<ErasureRequest>) -> AppResult<Json<ErasureDone>> {
    person_data::authorize(&user.0)?;
    person_data::check_reason(&req.reason)?;
    if !req.confirm {
        return Err(person_data::confirmation_required());
    }
    let (person, erased) = person_data::erase(&state, &req.query, &req.reason, &user.1.actor()).await?;
    Ok(Json(ErasureDone { person, erased }))
}
