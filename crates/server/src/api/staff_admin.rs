//! Staff administration and the audit log over the API: an administrator disables, re-enables and resets accounts
//! and ends their sessions (within their scope); every staff member changes their own password and lists and
//! ends their own sessions; province administrators search and export the audit log and check its integrity.
//! Rules live in `crate::staff_admin`, `crate::staff_security` and `crate::audit_view`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use shenfen_store::Role;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::staff::StaffView;
use super::{ApiJson, ErrorBody};
use crate::app::AppState;
use crate::audit_view::{self, AuditQuery};
use crate::auth::StaffUser;
use crate::error::AppResult;
use crate::staff_admin::{self, By, Ctx};
use crate::staff_security;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(disable))
        .routes(routes!(enable))
        .routes(routes!(reset_password))
        .routes(routes!(revoke_sessions))
        .routes(routes!(change_password))
        .routes(routes!(my_sessions))
        .routes(routes!(revoke_my_session))
        .routes(routes!(audit_search))
        .routes(routes!(audit_export))
        .routes(routes!(audit_integrity))
}

fn admin(user: &StaffUser) -> AppResult<By> {
    user.require(&[Role::Admin])?;
    Ok(By::Admin(user.0.clone(), user.1.actor()))
}

/// Disable an account and end its sessions (administrators, within their scope; audited).
#[utoipa::path(post, path = "/api/v1/admin/staff/{id}/disable", tag = "staff", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = StaffView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "no such account in your scope")))]
async fn disable(State(state): State<AppState>, user: StaffUser, Path(id): Path<String>) -> AppResult<Json<StaffView>> {
    let by = admin(&user)?;
    let s = staff_admin::set_active(&Ctx { store: &state.store, now: state.now_ms() }, &by, &id, false).await?;
    Ok(Json(StaffView::from(&s)))
}

/// Re-enable a disabled account (administrators, within their scope; audited).
#[utoipa::path(post, path = "/api/v1/admin/staff/{id}/enable", tag = "staff", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = StaffView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn enable(State(state): State<AppState>, user: StaffUser, Path(id): Path<String>) -> AppResult<Json<StaffView>> {
    let by = admin(&user)?;
    let s = staff_admin::set_active(&Ctx { store: &state.store, now: state.now_ms() }, &by, &id, true).await?;
    Ok(Json(StaffView::from(&s)))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// Also remove the account's second factor (a lost phone).
    #[serde(default)]
    pub clear_totp: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ResetDone {
    pub staff: StaffView,
    /// Shown once: the account must choose a new password when it next signs in.
    pub temporary_password: String,
}

/// Reset an account's password to a generated temporary one and end its sessions (administrators, within their
/// scope; audited).
#[utoipa::path(post, path = "/api/v1/admin/staff/{id}/password-reset", tag = "staff", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ResetRequest, responses((status = 200, body = ResetDone), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn reset_password(State(state): State<AppState>, user: StaffUser, Path(id): Path<String>, ApiJson(req): ApiJson<ResetRequest>) -> AppResult<Json<ResetDone>> {
    let by = admin(&user)?;
    let (s, password) = staff_admin::reset_password(&Ctx { store: &state.store, now: state.now_ms() }, &by, &id, req.clear_totp).await?;
    Ok(Json(ResetDone { staff: StaffView::from(&s), temporary_password: password }))
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: u64,
}

/// End every session of an account (administrators, within their scope; audited).
#[utoipa::path(delete, path = "/api/v1/admin/staff/{id}/sessions", tag = "staff", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Revoked), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_sessions(State(state): State<AppState>, user: StaffUser, Path(id): Path<String>) -> AppResult<Json<Revoked>> {
    let by = admin(&user)?;
    let revoked = staff_admin::revoke_sessions(&Ctx { store: &state.store, now: state.now_ms() }, &by, &id).await?;
    Ok(Json(Revoked { revoked }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// 12–256 characters, not the username, not the current password.
    pub new_password: String,
}

/// Change your own password (required first after an account is created or reset). Your other sessions end.
#[utoipa::path(post, path = "/api/v1/staff/me/password", tag = "staff", security(("bearer" = [])), request_body = PasswordChange,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_password(State(state): State<AppState>, user: StaffUser, ApiJson(req): ApiJson<PasswordChange>) -> AppResult<StatusCode> {
    staff_security::change_own_password(&state, &user.0, user.1.token_hash.as_deref(), &req.current_password, &req.new_password, &user.1.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SessionItem {
    /// Names the session for revocation (the SHA-256 of its token, never the token).
    pub reference: String,
    /// `cookie` (browser) or `bearer` (API).
    pub channel: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// The session this request came with.
    pub current: bool,
}

/// Your live sessions.
#[utoipa::path(get, path = "/api/v1/staff/me/sessions", tag = "staff", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionItem>), (status = 401, body = ErrorBody)))]
async fn my_sessions(State(state): State<AppState>, user: StaffUser) -> AppResult<Json<Vec<SessionItem>>> {
    let list = staff_security::own_sessions(&state, &user.0, user.1.token_hash.as_deref()).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SessionItem { reference: s.reference, channel: s.channel.as_str().into(), created_at: s.created_at, expires_at: s.expires_at, current: s.current })
            .collect(),
    ))
}

/// End one of your sessions (audited).
#[utoipa::path(delete, path = "/api/v1/staff/me/sessions/{reference}", tag = "staff", security(("bearer" = [])), params(("reference" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_my_session(State(state): State<AppState>, user: StaffUser, Path(reference): Path<String>) -> AppResult<StatusCode> {
    staff_security::revoke_own_session(&state, &user.0, &reference, &user.1.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct AuditItem {
    pub seq: i64,
    /// UTC unix milliseconds.
    pub at: i64,
    /// `citizen`, `staff`, `system` or `anonymous`.
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub target: String,
    pub source_ip: String,
    /// JSON text; never a full ID number.
    pub detail: String,
    pub hash: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditItem>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Search the audit log, newest first (province administrators).
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn audit_search(State(state): State<AppState>, user: StaffUser, Query(q): Query<AuditQuery>) -> AppResult<Json<AuditPage>> {
    audit_view::require_reader(&user.0)?;
    let (rows, next_before) = audit_view::page(&state, &q).await?;
    let entries = rows
        .into_iter()
        .map(|e| AuditItem {
            seq: e.seq,
            at: e.record.at,
            actor_kind: e.record.actor_kind.as_str().into(),
            actor_id: e.record.actor_id,
            action: e.record.action,
            target: e.record.target,
            source_ip: e.record.source_ip,
            detail: e.record.detail,
            hash: e.hash,
        })
        .collect();
    Ok(Json(AuditPage { entries, next_before }))
}

/// Export the matching audit entries as CSV, newest first, at most 100,000 rows (province administrators;
/// the export itself is audited). `X-Shenfen-Truncated: 1` when the limit cut it short.
#[utoipa::path(get, path = "/api/v1/admin/audit/export.csv", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn audit_export(State(state): State<AppState>, user: StaffUser, Query(q): Query<AuditQuery>) -> AppResult<Response> {
    audit_view::require_reader(&user.0)?;
    audit_view::export_response(&state, &user.1.actor(), &q).await
}

#[derive(Serialize, ToSchema)]
pub struct IntegrityView {
    /// Whether the hash chain verifies from the retention anchor to the head.
    pub intact: bool,
    pub entries: Option<u64>,
    pub head_seq: Option<i64>,
    /// Entries before this were removed by the retention policy.
    pub anchor_seq: Option<i64>,
    /// What is broken, when it is.
    pub problem: Option<String>,
    pub checked_at: i64,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FreshQuery {
    /// `1` to verify now instead of reusing this instance's answer from the last minute.
    pub fresh: Option<String>,
}

/// Verify the audit log's hash chain (province administrators).
#[utoipa::path(get, path = "/api/v1/admin/audit/integrity", tag = "admin", security(("bearer" = [])), params(FreshQuery),
    responses((status = 200, body = IntegrityView), (status = 403, body = ErrorBody)))]
async fn audit_integrity(State(state): State<AppState>, user: StaffUser, Query(q): Query<FreshQuery>) -> AppResult<Json<IntegrityView>> {
    audit_view::require_reader(&user.0)?;
    let i = audit_view::integrity(&state, q.fresh.as_deref() == Some("1")).await?;
    Ok(Json(match i.result {
        Ok(v) => IntegrityView { intact: true, entries: Some(v.entries), head_seq: Some(v.head_seq), anchor_seq: Some(v.anchor_seq), problem: None, checked_at: i.checked_at_ms },
        Err(p) => IntegrityView { intact: false, entries: None, head_seq: None, anchor_seq: None, problem: Some(p), checked_at: i.checked_at_ms },
    }))
}
