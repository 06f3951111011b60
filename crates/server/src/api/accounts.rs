//! Citizen and staff sessions, and the signed-in citizen's own account.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use serde::{Deserialize, Serialize};
use shenfen_store::{Citizen, SessionChannel};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ErrorBody};
use crate::accounts;
use crate::app::AppState;
use crate::auth::{CitizenUser, MaybeUser};
use crate::error::{AppError, AppResult};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_code))
        .routes(routes!(create_session, delete_session))
        .routes(routes!(create_staff_session))
        .routes(routes!(me))
        .routes(routes!(verify_primary))
        .routes(routes!(verify_intermediate))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// Mainland mobile number, e.g. `13800138000` or `+86 138 0013 8000`.
    pub phone: String,
}

#[derive(Serialize, ToSchema)]
pub struct CodeSent {
    pub phone_masked: String,
    pub expires_in_secs: i64,
    pub resend_after_secs: i64,
}

/// Send a one-time sign-in code by SMS.
#[utoipa::path(post, path = "/api/v1/auth/sms-codes", tag = "auth", request_body = CodeRequest,
    responses((status = 202, body = CodeSent), (status = 422, body = ErrorBody, description = "invalid phone number"), (status = 429, body = ErrorBody)))]
async fn request_code(State(state): State<AppState>, user: MaybeUser, ApiJson(req): ApiJson<CodeRequest>) -> AppResult<(StatusCode, Json<CodeSent>)> {
    let phone = accounts::send_sign_in_code(&state, &req.phone, &user.ip).await?;
    let l = &state.config.limits;
    Ok((StatusCode::ACCEPTED, Json(CodeSent { phone_masked: phone.masked(), expires_in_secs: l.sms_code_ttl_secs, resend_after_secs: l.sms_resend_interval_secs })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    pub phone: String,
    /// The 6-digit code from the SMS.
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionCreated {
    /// Bearer token for `Authorization: Bearer …`.
    pub token: String,
    /// UTC unix milliseconds.
    pub expires_at: i64,
}

/// Exchange an SMS code for a bearer token (creates the account on first sign-in).
#[utoipa::path(post, path = "/api/v1/auth/sessions", tag = "auth", request_body = SessionRequest,
    responses((status = 201, body = SessionCreated), (status = 422, body = ErrorBody, description = "wrong, expired, burned or used code")))]
async fn create_session(State(state): State<AppState>, user: MaybeUser, ApiJson(req): ApiJson<SessionRequest>) -> AppResult<(StatusCode, Json<SessionCreated>)> {
    let (session, _) = accounts::sign_in_with_code(&state, &req.phone, &req.code, SessionChannel::Bearer, &user.ip).await?;
    Ok((StatusCode::CREATED, Json(SessionCreated { token: session.token, expires_at: session.expires_at })))
}

/// Sign out: revoke the presented bearer token.
#[utoipa::path(delete, path = "/api/v1/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn delete_session(State(state): State<AppState>, user: MaybeUser) -> AppResult<StatusCode> {
    let hash = user.token_hash.clone().ok_or_else(AppError::unauthorized)?;
    accounts::sign_out(&state, &hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffSessionRequest {
    pub username: String,
    pub password: String,
    /// The 6-digit code from the authenticator app, for accounts with a second factor.
    #[serde(default)]
    pub totp_code: Option<String>,
}

/// Staff sign-in with username and password, plus `totp_code` for accounts with a second factor (401
/// `totp_required` without it).
#[utoipa::path(post, path = "/api/v1/auth/staff-sessions", tag = "auth", request_body = StaffSessionRequest,
    responses((status = 201, body = SessionCreated), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody, description = "wrong or reused code"), (status = 429, body = ErrorBody)))]
async fn create_staff_session(State(state): State<AppState>, user: MaybeUser, ApiJson(req): ApiJson<StaffSessionRequest>) -> AppResult<(StatusCode, Json<SessionCreated>)> {
    let session = match accounts::staff_sign_in(&state, &req.username, &req.password, SessionChannel::Bearer, &user.ip).await? {
        accounts::StaffSignIn::Signed(session, _) => session,
        accounts::StaffSignIn::SecondFactor(staff) => match req.totp_code.as_deref() {
            Some(code) => crate::staff_security::second_factor_now(&state, &staff, code, SessionChannel::Bearer, &user.ip).await?,
            None => return Err(crate::staff_security::totp_required()),
        },
    };
    Ok((StatusCode::CREATED, Json(SessionCreated { token: session.token, expires_at: session.expires_at })))
}

/// A citizen's own account. Personal data is masked even for its owner: the full values are never sent back.
#[derive(Serialize, ToSchema)]
pub struct CitizenView {
    pub id: String,
    pub phone_masked: String,
    /// `none`, `primary` or `intermediate`.
    pub verification: String,
    pub name_masked: Option<String>,
    pub id_number_masked: Option<String>,
    pub verified_at: Option<i64>,
}

impl From<&Citizen> for CitizenView {
    fn from(c: &Citizen) -> Self {
        CitizenView {
            id: c.id.clone(),
            phone_masked: shenfen_domain::MobileNumber::parse(&c.phone).map(|p| p.masked()).unwrap_or_default(),
            verification: c.verification.as_str().to_string(),
            name_masked: c.name_masked.clone(),
            id_number_masked: c.id_number_masked.clone(),
            verified_at: c.verified_at,
        }
    }
}

/// The signed-in citizen.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = CitizenView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn me(CitizenUser(citizen, _): CitizenUser) -> Json<CitizenView> {
    Json(CitizenView::from(&citizen))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrimaryVerificationRequest {
    pub name: String,
    /// 18-character resident ID number.
    pub id_number: String,
}

/// Primary real-name verification (初级实名认证): name and ID number against the population registry.
#[utoipa::path(post, path = "/api/v1/me/verification/primary", tag = "me", security(("bearer" = [])), request_body = PrimaryVerificationRequest,
    responses((status = 200, body = CitizenView), (status = 422, body = ErrorBody, description = "invalid ID number (length, characters, date, region, check digit) or no match"), (status = 409, body = ErrorBody)))]
async fn verify_primary(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, ApiJson(req): ApiJson<PrimaryVerificationRequest>) -> AppResult<Json<CitizenView>> {
    let updated = accounts::verify_primary(&state, &citizen, &req.name, &req.id_number, &user.actor()).await?;
    Ok(Json(CitizenView::from(&updated)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaceVerificationRequest {
    /// A live photo of the citizen's face: JPEG, PNG or WebP, base64-encoded.
    pub image_base64: String,
}

/// Intermediate real-name verification (中级实名认证): a live face against the registry portrait.
#[utoipa::path(post, path = "/api/v1/me/verification/intermediate", tag = "me", security(("bearer" = [])), request_body = FaceVerificationRequest,
    responses((status = 200, body = CitizenView), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn verify_intermediate(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, ApiJson(req): ApiJson<FaceVerificationRequest, { 21 * 1024 * 1024 }>) -> AppResult<Json<CitizenView>> {
    let image = base64::engine::general_purpose::STANDARD
        .decode(req.image_base64.trim())
        .map_err(|_| AppError::invalid("image_invalid", "照片数据不是有效的 base64。", "image_base64 is not valid base64.").on_field("image_base64"))?;
    let updated = accounts::verify_face(&state, &citizen, &image, &user.actor()).await?;
    Ok(Json(CitizenView::from(&updated)))
}
