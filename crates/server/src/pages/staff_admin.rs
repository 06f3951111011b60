//! Staff account pages: a staff member's own security (password, authenticator app, sessions), the second step of a
//! two-factor sign-in, the administrators' staff management (within their scope) and the audit-log viewer. Plain
//! forms, no JavaScript. Rules live in `crate::staff_admin`, `crate::staff_security` and `crate::audit_view`.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use shenfen_store::{Role, Scope, ScopeKind, SessionChannel, Staff};

use super::account::session_cookie;
use super::{FieldError, PageCtx, qr_svg, render, render_status, with_cookie};
use crate::app::AppState;
use crate::audit_view::{self, AuditQuery};
use crate::auth::{MaybeUser, Principal, role_name};
use crate::error::AppError;
use crate::i18n::{Lang, cookie_value};
use crate::staff_admin::{self, By, Ctx, NewStaffInput};
use crate::staff_security::{self, MFA_COOKIE};
use crate::totp;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/sign-in/code", get(code_form).post(code_submit))
        .route("/staff/password", get(password_form).post(password_submit))
        .route("/staff/security", get(security))
        .route("/staff/security/totp", get(totp_form).post(totp_start))
        .route("/staff/security/totp/confirm", post(totp_confirm))
        .route("/staff/security/totp/disable", post(totp_disable))
        .route("/staff/security/sessions/{reference}/revoke", post(revoke_own))
        .route("/admin/staff", get(staff_list))
        .route("/admin/staff/new", get(new_form).post(new_submit))
        .route("/admin/staff/{id}", get(staff_detail))
        .route("/admin/staff/{id}/disable", post(disable))
        .route("/admin/staff/{id}/enable", post(enable))
        .route("/admin/staff/{id}/reset", post(reset))
        .route("/admin/staff/{id}/revoke-sessions", post(revoke_all))
        .route("/admin/audit", get(audit_page))
        .route("/admin/audit/export.csv", get(audit_export))
}

/// The signed-in staff member, or the response to send instead (boxed: a `Response` is large).
fn require_staff(user: &MaybeUser) -> Result<Staff, Box<Response>> {
    match &user.principal {
        Some(Principal::Staff(s)) => Ok(s.clone()),
        Some(Principal::Citizen(_)) => Err(Box::new(AppError::forbidden().into_response())),
        None => Err(Box::new(Redirect::to("/staff/sign-in").into_response())),
    }
}

fn require_admin(user: &MaybeUser) -> Result<(Staff, By), Box<Response>> {
    let s = require_staff(user)?;
    if s.role != Role::Admin {
        return Err(Box::new(AppError::forbidden().into_response()));
    }
    Ok((s.clone(), By::Admin(s, user.actor())))
}

macro_rules! or_return {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return Ok(*r),
        }
    };
}

fn ctx(state: &AppState) -> Ctx<'_> {
    Ctx { store: &state.store, now: state.now_ms() }
}

/// A scope in words: the province, the district's full name, or the point's name.
pub async fn scope_label(state: &AppState, scope: &Scope) -> Result<String, AppError> {
    Ok(match scope.kind {
        ScopeKind::Province => shenfen_domain::division::province_name(&scope.code).unwrap_or("-").to_string(),
        ScopeKind::District => shenfen_domain::division::full_name(&scope.code).unwrap_or_else(|| scope.code.clone()),
        ScopeKind::Point => state.store.point(&scope.code).await?.map(|pt| pt.name).unwrap_or_else(|| scope.code.clone()),
    })
}

// ----- second factor at sign-in

#[derive(Template)]
#[template(path = "staff_sign_in_code.html")]
struct CodePage<'a> {
    p: &'a PageCtx,
    errors: Vec<FieldError>,
}

async fn code_form(p: PageCtx, headers: axum::http::HeaderMap) -> Response {
    if cookie_value(&headers, MFA_COOKIE).is_none() {
        return Redirect::to("/staff/sign-in").into_response();
    }
    render(&CodePage { p: &p, errors: vec![] })
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

fn clear_mfa_cookie() -> String {
    format!("{MFA_COOKIE}=; Path=/staff/sign-in; HttpOnly; SameSite=Strict; Max-Age=0")
}

async fn code_submit(State(state): State<AppState>, p: PageCtx, user: MaybeUser, headers: axum::http::HeaderMap, Form(f): Form<CodeForm>) -> Response {
    let token = cookie_value(&headers, MFA_COOKIE).unwrap_or_default();
    match staff_security::finish_challenge(&state, &token, &f.code, &user.ip).await {
        Ok((session, _)) => {
            let max_age = (session.expires_at - state.now_ms()) / 1000;
            let res = with_cookie(Redirect::to("/staff").into_response(), session_cookie(&state, &session.token, max_age));
            with_cookie(res, clear_mfa_cookie())
        }
        Err(e) if e.code == "totp_challenge_expired" => with_cookie(render_status(e.status, &CodePage { p: &p, errors: vec![FieldError::from_app(&e, p.lang, "code")] }), clear_mfa_cookie()),
        Err(e) => render_status(e.status, &CodePage { p: &p, errors: vec![FieldError::from_app(&e, p.lang, "code")] }),
    }
}

/// Called by the sign-in page when the password was right and the account has a second factor.
pub async fn start_second_factor(state: &AppState, staff: &Staff) -> Result<Response, AppError> {
    let token = staff_security::start_challenge(state, staff, SessionChannel::Cookie).await?;
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{MFA_COOKIE}={token}; Path=/staff/sign-in; HttpOnly; SameSite=Strict; Max-Age={}{secure}", staff_security::CHALLENGE_TTL_MS / 1000);
    Ok(with_cookie(Redirect::to("/staff/sign-in/code").into_response(), cookie))
}

// ----- own password

#[derive(Template)]
#[template(path = "staff_password.html")]
struct PasswordPage<'a> {
    p: &'a PageCtx,
    forced: bool,
    done: bool,
    errors: Vec<FieldError>,
}

async fn password_form(State(state): State<AppState>, p: PageCtx, user: MaybeUser) -> Result<Response, AppError> {
    let staff = or_return!(require_staff(&user));
    let forced = staff_security::security_of(&state, &staff.id).await?.must_change_password;
    Ok(render(&PasswordPage { p: &p, forced, done: false, errors: vec![] }))
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

async fn password_submit(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<PasswordForm>) -> Result<Response, AppError> {
    let staff = or_return!(require_staff(&user));
    let forced = staff_security::security_of(&state, &staff.id).await?.must_change_password;
    let result = if f.new_password != f.confirm_password {
        Err(AppError::invalid("password_mismatch", "两次输入的新密码不一致。", "The two new passwords differ.").on_field("confirm_password"))
    } else {
        staff_security::change_own_password(&state, &staff, user.token_hash.as_deref(), &f.current_password, &f.new_password, &user.actor()).await
    };
    Ok(match result {
        Ok(()) => render(&PasswordPage { p: &p, forced: false, done: true, errors: vec![] }),
        Err(e) => render_status(e.status, &PasswordPage { p: &p, forced, done: false, errors: vec![FieldError::from_app(&e, p.lang, "new_password")] }),
    })
}

// ----- own security: authenticator app and sessions

struct SessionRow {
    reference: String,
    channel: &'static str,
    created: String,
    expires: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "staff_security.html")]
struct SecurityPage<'a> {
    p: &'a PageCtx,
    totp_on: bool,
    sessions: Vec<SessionRow>,
    notice: Option<&'static str>,
    errors: Vec<FieldError>,
}

#[derive(Deserialize)]
struct NoticeQuery {
    done: Option<String>,
}

fn notice_text(code: Option<&str>, lang: Lang) -> Option<&'static str> {
    Some(match code? {
        "totp-on" => lang.t("security.totp_now_on"),
        "totp-off" => lang.t("security.totp_now_off"),
        "revoked" => lang.t("security.session_ended"),
        _ => return None,
    })
}

async fn security_page(state: &AppState, p: &PageCtx, user: &MaybeUser, staff: &Staff, notice: Option<&'static str>, errors: Vec<FieldError>, status: StatusCode) -> Result<Response, AppError> {
    let totp_on = staff_security::security_of(state, &staff.id).await?.totp_secret_enc.is_some();
    let sessions = staff_security::own_sessions(state, staff, user.token_hash.as_deref())
        .await?
        .into_iter()
        .map(|s| SessionRow {
            channel: if s.channel == SessionChannel::Cookie { p.t("security.channel_browser") } else { p.t("security.channel_api") },
            created: audit_view::format_time(s.created_at),
            expires: audit_view::format_time(s.expires_at),
            current: s.current,
            reference: s.reference,
        })
        .collect();
    Ok(render_status(status, &SecurityPage { p, totp_on, sessions, notice, errors }))
}

async fn security(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Query(q): Query<NoticeQuery>) -> Result<Response, AppError> {
    let staff = or_return!(require_staff(&user));
    security_page(&state, &p, &user, &staff, notice_text(q.done.as_deref(), p.lang), vec![], StatusCode::OK).await
}

#[derive(Template)]
#[template(path = "staff_totp.html")]
struct TotpPage<'a> {
    p: &'a PageCtx,
    qr: String,
    secret: String,
    uri: String,
    errors: Vec<FieldError>,
}

fn totp_page(p: &PageCtx, staff: &Staff, secret: &[u8], errors: Vec<FieldError>, status: StatusCode) -> Response {
    let uri = totp::otpauth_uri("Shenfen", &staff.username, secret);
    let qr = qr_svg(&uri, p.t("security.qr_label"));
    render_status(status, &TotpPage { p, qr, secret: totp::grouped(&totp::base32(secret)), uri, errors })
}

/// The enrolment in progress (after a refresh or a wrong code); without one, back to the overview.
async fn totp_form(State(state): State<AppState>, p: PageCtx, user: MaybeUser) -> Result<Response, AppError> {
    let staff = or_return!(require_staff(&user));
    Ok(match staff_security::pending_secret(&state, &staff).await? {
        Some(secret) => totp_page(&p, &staff, &secret, vec![], StatusCode::OK),
        None => Redirect::to("/staff/security").into_response(),
    })
}

async fn totp_start(State(state): State<AppState>, p: PageCtx, user: MaybeUser) -> Result<Response, AppError> {
    let staff = or_return!(require_staff(&user));
    let secret = staff_security::start_enrolment(&state, &staff).await?;
    Ok(totp_page(&p, &staff, &secret, vec![], StatusCode::OK))
}

async fn totp_confirm(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<CodeForm>) -> Result<Response, AppError> {
    let staff = or_return!(require_staff(&user));
    match staff_security::confirm_enrolment(&state, &staff, &f.code, &user.actor()).await {
        Ok(()) => Ok(Redirect::to("/staff/security?done=totp-on").into_response()),
        Err(e) => match staff_security::pending_secret(&state, &staff).await? {
            Some(secret) => Ok(totp_page(&p, &staff, &secret, vec![FieldError::from_app(&e, p.lang, "code")], e.status)),
            None => security_page(&state, &p, &user, &staff, None, vec![FieldError::from_app(&e, p.lang, "code")], e.status).await,
        },
    }
}

async fn totp_disable(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<CodeForm>) -> Result<Response, AppError> {
    let staff = or_return!(require_staff(&user));
    match staff_security::disable_own_totp(&state, &staff, &f.code, &user.actor()).await {
        Ok(()) => Ok(Redirect::to("/staff/security?done=totp-off").into_response()),
        Err(e) => security_page(&state, &p, &user, &staff, None, vec![FieldError::from_app(&e, p.lang, "code")], e.status).await,
    }
}

async fn revoke_own(State(state): State<AppState>, user: MaybeUser, Path(reference): Path<String>) -> Result<Response, AppError> {
    let staff = or_return!(require_staff(&user));
    staff_security::revoke_own_session(&state, &staff, &reference, &user.actor()).await?;
    if user.token_hash.as_deref() == Some(reference.as_str()) {
        return Ok(Redirect::to("/staff/sign-in").into_response());
    }
    Ok(Redirect::to("/staff/security?done=revoked").into_response())
}

// ----- administrators: staff accounts

struct StaffRow {
    id: String,
    username: String,
    display_name: String,
    role: &'static str,
    scope: String,
    active: bool,
    own: bool,
}

#[derive(Template)]
#[template(path = "admin_staff.html")]
struct StaffListPage<'a> {
    p: &'a PageCtx,
    rows: Vec<StaffRow>,
}

async fn staff_list(State(state): State<AppState>, p: PageCtx, user: MaybeUser) -> Result<Response, AppError> {
    let (me, by) = or_return!(require_admin(&user));
    let mut rows = Vec::new();
    for s in staff_admin::list(&ctx(&state), &by).await? {
        rows.push(StaffRow {
            scope: scope_label(&state, &s.scope).await?,
            role: role_name(s.role, p.lang),
            own: s.id == me.id,
            id: s.id,
            username: s.username,
            display_name: s.display_name,
            active: s.active,
        });
    }
    Ok(render(&StaffListPage { p: &p, rows }))
}

struct RoleOption {
    code: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "admin_staff_new.html")]
struct NewStaffPage<'a> {
    p: &'a PageCtx,
    f: NewStaffInput,
    roles: Vec<RoleOption>,
    my_scope: String,
    errors: Vec<FieldError>,
}

fn roles(lang: Lang) -> Vec<RoleOption> {
    Role::ALL.iter().map(|r| RoleOption { code: r.as_str(), label: role_name(*r, lang) }).collect()
}

async fn new_form(State(state): State<AppState>, p: PageCtx, user: MaybeUser) -> Result<Response, AppError> {
    let (me, _) = or_return!(require_admin(&user));
    let f = NewStaffInput { role: "counter".into(), scope_kind: me.scope.kind.as_str().into(), scope_code: me.scope.code.clone(), ..Default::default() };
    Ok(render(&NewStaffPage { p: &p, f, roles: roles(p.lang), my_scope: scope_label(&state, &me.scope).await?, errors: vec![] }))
}

#[derive(Template)]
#[template(path = "admin_staff_password.html")]
struct PasswordShownPage<'a> {
    p: &'a PageCtx,
    id: String,
    username: String,
    password: String,
    created: bool,
}

async fn new_submit(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<NewStaffInput>) -> Result<Response, AppError> {
    let (me, by) = or_return!(require_admin(&user));
    match staff_admin::create(&ctx(&state), &by, &f, None).await {
        Ok((s, password)) => Ok(render(&PasswordShownPage { p: &p, id: s.id, username: s.username, password, created: true })),
        Err(e) => {
            let errors = vec![FieldError::from_app(&e, p.lang, "username")];
            Ok(render_status(e.status, &NewStaffPage { p: &p, f, roles: roles(p.lang), my_scope: scope_label(&state, &me.scope).await?, errors }))
        }
    }
}

#[derive(Template)]
#[template(path = "admin_staff_detail.html")]
struct DetailPage<'a> {
    p: &'a PageCtx,
    s: StaffRow,
    must_change: bool,
    totp_on: bool,
    sessions: usize,
    notice: Option<&'static str>,
}

async fn detail_page(state: &AppState, p: &PageCtx, by: &By, id: &str, notice: Option<&'static str>) -> Result<Response, AppError> {
    let target = state.store.staff(id).await?.ok_or_else(AppError::not_found)?;
    if !staff_admin::may_manage(&state.store, by, &target).await? {
        return Err(AppError::not_found());
    }
    let sec = staff_security::security_of(state, &target.id).await?;
    let sessions = state.store.sessions_of(shenfen_store::PrincipalKind::Staff, &target.id, state.now_ms()).await?.len();
    let s = StaffRow {
        scope: scope_label(state, &target.scope).await?,
        role: role_name(target.role, p.lang),
        own: false,
        id: target.id,
        username: target.username,
        display_name: target.display_name,
        active: target.active,
    };
    Ok(render(&DetailPage { p, s, must_change: sec.must_change_password, totp_on: sec.totp_secret_enc.is_some(), sessions, notice }))
}

async fn staff_detail(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, Query(q): Query<NoticeQuery>) -> Result<Response, AppError> {
    let (_, by) = or_return!(require_admin(&user));
    let notice = match q.done.as_deref() {
        Some("disabled") => Some(p.t("staffadm.now_disabled")),
        Some("enabled") => Some(p.t("staffadm.now_enabled")),
        Some("revoked") => Some(p.t("staffadm.sessions_ended")),
        _ => None,
    };
    detail_page(&state, &p, &by, &id, notice).await
}

async fn disable(State(state): State<AppState>, user: MaybeUser, Path(id): Path<String>) -> Result<Response, AppError> {
    let (_, by) = or_return!(require_admin(&user));
    staff_admin::set_active(&ctx(&state), &by, &id, false).await?;
    Ok(Redirect::to(&format!("/admin/staff/{id}?done=disabled")).into_response())
}

async fn enable(State(state): State<AppState>, user: MaybeUser, Path(id): Path<String>) -> Result<Response, AppError> {
    let (_, by) = or_return!(require_admin(&user));
    staff_admin::set_active(&ctx(&state), &by, &id, true).await?;
    Ok(Redirect::to(&format!("/admin/staff/{id}?done=enabled")).into_response())
}

#[derive(Deserialize)]
struct ResetForm {
    clear_totp: Option<String>,
}

async fn reset(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, Form(f): Form<ResetForm>) -> Result<Response, AppError> {
    let (_, by) = or_return!(require_admin(&user));
    let (s, password) = staff_admin::reset_password(&ctx(&state), &by, &id, f.clear_totp.is_some()).await?;
    Ok(render(&PasswordShownPage { p: &p, id: s.id, username: s.username, password, created: false }))
}

async fn revoke_all(State(state): State<AppState>, user: MaybeUser, Path(id): Path<String>) -> Result<Response, AppError> {
    let (_, by) = or_return!(require_admin(&user));
    staff_admin::revoke_sessions(&ctx(&state), &by, &id).await?;
    Ok(Redirect::to(&format!("/admin/staff/{id}?done=revoked")).into_response())
}

// ----- administrators: the audit log

struct AuditRow {
    seq: i64,
    time: String,
    actor: String,
    action: String,
    target: String,
    ip: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage<'a> {
    p: &'a PageCtx,
    q: AuditQuery,
    rows: Vec<AuditRow>,
    next_href: Option<String>,
    export_href: String,
    paged: bool,
    intact: bool,
    integrity: String,
    errors: Vec<FieldError>,
}

async fn audit_page(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Query(q): Query<AuditQuery>, RawQuery(raw): RawQuery) -> Result<Response, AppError> {
    let staff = or_return!(require_staff(&user));
    audit_view::require_reader(&staff)?;
    // `fresh=1` (the "check again" link) verifies now instead of reusing the last minute's answer.
    let fresh = raw.as_deref().is_some_and(|r| r.split('&').any(|kv| kv == "fresh=1"));
    let integrity = audit_view::integrity(&state, fresh).await?;
    let checked = audit_view::format_time(integrity.checked_at_ms);
    let (intact, integrity) = match &integrity.result {
        Ok(v) => (true, format!("{} {} · #{} · {} {checked}", p.t("audit.intact"), v.entries, v.head_seq, p.t("audit.checked_at"))),
        Err(problem) => (false, format!("{} {problem} · {} {checked}", p.t("audit.broken"), p.t("audit.checked_at"))),
    };
    let export_href = format!("/admin/audit/export.csv?{}", q.query_string(None));
    let (rows, next, errors, status) = match audit_view::page(&state, &q).await {
        Ok((rows, next)) => (rows, next, vec![], StatusCode::OK),
        Err(e) => (vec![], None, vec![FieldError::from_app(&e, p.lang, "action")], e.status),
    };
    let rows = rows
        .into_iter()
        .map(|e| AuditRow {
            seq: e.seq,
            time: audit_view::format_time(e.record.at),
            actor: format!("{}:{}", e.record.actor_kind, e.record.actor_id),
            action: e.record.action,
            target: e.record.target,
            ip: e.record.source_ip,
            detail: e.record.detail.chars().take(200).collect(),
        })
        .collect();
    let next_href = next.map(|b| format!("/admin/audit?{}", q.query_string(Some(b))));
    let paged = q.before.as_deref().is_some_and(|b| !b.is_empty());
    Ok(render_status(status, &AuditPage { p: &p, q, rows, next_href, export_href, paged, intact, integrity, errors }))
}

async fn audit_export(State(state): State<AppState>, user: MaybeUser, Query(q): Query<AuditQuery>) -> Result<Response, AppError> {
    let staff = or_return!(require_staff(&user));
    audit_view::require_reader(&staff)?;
    audit_view::export_response(&state, &user.actor(), &q).await
}
