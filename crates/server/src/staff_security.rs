//! A staff member's own account security: changing the password (forced after creation or an administrator's
//! reset, before anything else), the optional TOTP second factor (enrolment, sign-in challenge, removal) and their
//! own sessions. Pages (`pages/staff_admin.rs`) and the API (`api/staff_admin.rs`) both call these.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use shenfen_store::{MfaChallenge, PrincipalKind, Session, SessionChannel, Staff, StaffSecurity};

use crate::accounts::{self, NewSession};
use crate::app::{Actor, AppState};
use crate::auth::{MaybeUser, Principal};
use crate::crypto::{new_token, token_hash};
use crate::error::{AppError, AppResult};
use crate::totp;

/// How long a password-checked sign-in may wait for its code, and how many codes it may try.
pub const CHALLENGE_TTL_MS: i64 = 5 * 60_000;
pub const CHALLENGE_ATTEMPTS: i64 = 5;
/// The cookie that carries a pending second-factor sign-in between the two pages.
pub const MFA_COOKIE: &str = "sf_mfa";
pub const MIN_PASSWORD_CHARS: usize = 12;

pub async fn security_of(state: &AppState, staff_id: &str) -> AppResult<StaffSecurity> {
    Ok(state.store.staff_security(staff_id).await?.unwrap_or_default())
}

/// The password rules for every staff password: 12–256 characters, not the username.
pub fn check_new_password(username: &str, password: &str) -> AppResult<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS || password.len() > 256 {
        return Err(AppError::invalid("password_weak", "密码需为 12–256 个字符。", "The password needs 12 to 256 characters.").on_field("password"));
    }
    if password.trim().eq_ignore_ascii_case(username.trim()) {
        return Err(AppError::invalid("password_weak", "密码不能与用户名相同。", "The password must not be the username.").on_field("password"));
    }
    Ok(())
}

pub async fn hash_password(password: &str) -> AppResult<String> {
    let password = password.to_string();
    Ok(tokio::task::spawn_blocking(move || accounts::hash_password(&password)).await.map_err(|e| anyhow::anyhow!(e))??)
}

/// A staff member changes their own password: the current one proves it is them; the new one must differ. Every
/// other session of theirs ends (the one in use stays), and the forced-change flag is cleared.
pub async fn change_own_password(state: &AppState, staff: &Staff, current_session: Option<&str>, current: &str, new: &str, actor: &Actor) -> AppResult<()> {
    if current.len() > 256 {
        return Err(wrong_current_password());
    }
    let (cur, hash) = (current.to_string(), staff.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || accounts::verify_password(&cur, &hash)).await.unwrap_or(false);
    if !ok {
        state.audit(actor, "staff.password_change_failed", &format!("staff:{}", staff.id), serde_json::json!({})).await?;
        return Err(wrong_current_password());
    }
    check_new_password(&staff.username, new)?;
    if new == current {
        return Err(AppError::invalid("password_reused", "新密码不能与当前密码相同。", "The new password must differ from the current one.").on_field("new_password"));
    }
    let hash = hash_password(new).await?;
    state.store.set_staff_password(&staff.id, &hash, false, false, current_session, state.now_ms()).await?;
    state.audit(actor, "staff.password_changed", &format!("staff:{}", staff.id), serde_json::json!({})).await?;
    Ok(())
}

fn wrong_current_password() -> AppError {
    AppError::invalid("password_wrong", "当前密码不正确。", "The current password is wrong.").on_field("current_password")
}

/// Enforces forced password rotation: a staff member whose password must change can reach only the password
/// page (and sign-out) until they have changed it. Pages are redirected there; the API answers 403
/// `password_change_required`.
pub async fn password_gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let exempt = path.starts_with("/static/")
        || path.starts_with("/lang/")
        || path.starts_with("/elder/")
        || matches!(path, "/staff/password" | "/sign-out" | "/api/v1/staff/me/password" | "/api/v1/auth/sessions" | "/healthz" | "/readyz" | "/metrics");
    if exempt {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let user = match MaybeUser::from_request_parts(&mut parts, &state).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    if let Some(Principal::Staff(s)) = &user.principal {
        match state.store.staff_security(&s.id).await {
            Ok(Some(sec)) if sec.must_change_password => {
                return if parts.uri.path().starts_with("/api/") {
                    password_change_required().into_response()
                } else {
                    Redirect::to("/staff/password").into_response()
                };
            }
            Ok(_) => {}
            Err(e) => return AppError::from(e).into_response(),
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

pub fn password_change_required() -> AppError {
    AppError::new(
        StatusCode::FORBIDDEN,
        "password_change_required",
        "请先设置新密码后再继续操作。",
        "Set a new password before doing anything else.",
    )
}

// ----- second factor

fn totp_secret(state: &AppState, enc: &[u8]) -> AppResult<Vec<u8>> {
    let hex_secret = state.keys.decrypt_field(enc)?;
    Ok(hex::decode(hex_secret).map_err(|e| anyhow::anyhow!("stored TOTP secret: {e}"))?)
}

/// Step 1 of enrolment: a fresh secret, kept pending until a code from it is entered. Returns the secret so the
/// page can show it (QR code and text). Starting again replaces an unfinished enrolment.
pub async fn start_enrolment(state: &AppState, staff: &Staff) -> AppResult<Vec<u8>> {
    let secret = totp::new_secret();
    state.store.set_totp_pending(&staff.id, Some(&state.keys.encrypt_field(&hex::encode(&secret)))).await?;
    Ok(secret)
}

/// The enrolment in progress, if any (to show its QR code again after a wrong code).
pub async fn pending_secret(state: &AppState, staff: &Staff) -> AppResult<Option<Vec<u8>>> {
    match security_of(state, &staff.id).await?.totp_pending_enc {
        Some(enc) => Ok(Some(totp_secret(state, &enc)?)),
        None => Ok(None),
    }
}

/// Step 2: a correct code from the pending secret puts it in force.
pub async fn confirm_enrolment(state: &AppState, staff: &Staff, code: &str, actor: &Actor) -> AppResult<()> {
    let sec = security_of(state, &staff.id).await?;
    let Some(pending) = sec.totp_pending_enc else {
        return Err(AppError::new(StatusCode::CONFLICT, "totp_no_enrolment", "没有进行中的绑定，请重新开始。", "No set-up is in progress; start again."));
    };
    let secret = totp_secret(state, &pending)?;
    let Some(step) = totp::matching_step(&secret, code, state.now_ms()) else {
        return Err(wrong_code());
    };
    if !state.store.confirm_totp(&staff.id, &pending, step).await? {
        return Err(AppError::new(StatusCode::CONFLICT, "totp_no_enrolment", "绑定已在别处重新开始，请重新扫描二维码。", "The set-up was restarted elsewhere; scan the new QR code."));
    }
    state.audit(actor, "staff.totp_enabled", &format!("staff:{}", staff.id), serde_json::json!({})).await?;
    Ok(())
}

/// Removes the second factor; a current code proves the phone is still in hand (administrators reset it for a
/// lost phone instead).
pub async fn disable_own_totp(state: &AppState, staff: &Staff, code: &str, actor: &Actor) -> AppResult<()> {
    check_code(state, staff, code).await?;
    state.store.clear_totp(&staff.id).await?;
    state.audit(actor, "staff.totp_disabled", &format!("staff:{}", staff.id), serde_json::json!({})).await?;
    Ok(())
}

/// Checks a code against the secret in force and spends its step, so the same code never works twice.
async fn check_code(state: &AppState, staff: &Staff, code: &str) -> AppResult<()> {
    let sec = security_of(state, &staff.id).await?;
    let Some(enc) = sec.totp_secret_enc else {
        return Err(AppError::new(StatusCode::CONFLICT, "totp_not_enabled", "未启用动态验证码。", "No authenticator is set up."));
    };
    let secret = totp_secret(state, &enc)?;
    let step = totp::matching_step(&secret, code, state.now_ms()).ok_or_else(wrong_code)?;
    if !state.store.use_totp_step(&staff.id, step).await? {
        return Err(AppError::invalid("totp_reused", "该动态验证码已使用过，请等待下一个验证码。", "This code was already used; wait for the next one.").on_field("code"));
    }
    Ok(())
}

fn wrong_code() -> AppError {
    AppError::invalid("totp_wrong", "动态验证码不正确或已过期。", "The code is wrong or has expired.").on_field("code")
}

pub fn totp_required() -> AppError {
    AppError::new(StatusCode::UNAUTHORIZED, "totp_required", "请输入身份验证器中的 6 位动态验证码。", "Enter the 6-digit code from your authenticator app.")
        .on_field("totp_code")
}

/// After a correct password on the sign-in page: a short-lived challenge that only allows presenting a code.
pub async fn start_challenge(state: &AppState, staff: &Staff, channel: SessionChannel) -> AppResult<String> {
    let token = new_token();
    let now = state.now_ms();
    state
        .store
        .insert_mfa_challenge(&MfaChallenge {
            token_hash: token_hash(&token),
            staff_id: staff.id.clone(),
            channel,
            attempts: 0,
            created_at: now,
            expires_at: now + CHALLENGE_TTL_MS,
        })
        .await?;
    Ok(token)
}

/// The second page of a two-factor sign-in: a correct code spends the challenge and opens the session.
pub async fn finish_challenge(state: &AppState, challenge_token: &str, code: &str, ip: &str) -> AppResult<(NewSession, Staff)> {
    let expired = || AppError::new(StatusCode::UNAUTHORIZED, "totp_challenge_expired", "登录已超时或尝试次数过多，请重新输入用户名和密码。", "The sign-in timed out or had too many attempts; enter your username and password again.");
    if challenge_token.is_empty() || challenge_token.len() > 128 {
        return Err(expired());
    }
    let hash = token_hash(challenge_token);
    let now = state.now_ms();
    let challenge = state.store.mfa_attempt(&hash, CHALLENGE_ATTEMPTS, now).await?.ok_or_else(expired)?;
    let staff = state.store.staff(&challenge.staff_id).await?.filter(|s| s.active).ok_or_else(expired)?;
    let actor = Actor { kind: shenfen_store::ActorKind::Staff, id: staff.id.clone(), ip: ip.to_string() };
    if let Err(e) = check_code(state, &staff, code).await {
        state.audit(&actor, "staff.sign_in_code_failed", &format!("staff:{}", staff.id), serde_json::json!({ "code": e.code })).await?;
        return Err(e);
    }
    // Spent once: a second tab presenting another valid code at the same moment gets nothing.
    let challenge = state.store.take_mfa_challenge(&hash, now).await?.ok_or_else(expired)?;
    let session = accounts::open_staff_session(state, &staff, challenge.channel, ip, true).await?;
    Ok((session, staff))
}

/// For the API, where the code comes with the password in one request.
pub async fn second_factor_now(state: &AppState, staff: &Staff, code: &str, channel: SessionChannel, ip: &str) -> AppResult<NewSession> {
    let actor = Actor { kind: shenfen_store::ActorKind::Staff, id: staff.id.clone(), ip: ip.to_string() };
    if let Err(e) = check_code(state, staff, code).await {
        state.audit(&actor, "staff.sign_in_code_failed", &format!("staff:{}", staff.id), serde_json::json!({ "code": e.code })).await?;
        return Err(e);
    }
    accounts::open_staff_session(state, staff, channel, ip, true).await
}

// ----- own sessions

/// A session as its owner sees it: never the token, only a reference to revoke it by.
pub struct SessionView {
    /// The SHA-256 of the token (not the token): names the session for revocation.
    pub reference: String,
    pub channel: SessionChannel,
    pub created_at: i64,
    pub expires_at: i64,
    pub current: bool,
}

pub async fn own_sessions(state: &AppState, staff: &Staff, current: Option<&str>) -> AppResult<Vec<SessionView>> {
    let sessions: Vec<Session> = state.store.sessions_of(PrincipalKind::Staff, &staff.id, state.now_ms()).await?;
    Ok(sessions
        .into_iter()
        .map(|s| SessionView { current: Some(s.token_hash.as_str()) == current, reference: s.token_hash, channel: s.channel, created_at: s.created_at, expires_at: s.expires_at })
        .collect())
}

pub async fn revoke_own_session(state: &AppState, staff: &Staff, reference: &str, actor: &Actor) -> AppResult<()> {
    if reference.len() != 64 || !reference.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::not_found());
    }
    if !state.store.delete_session_of(PrincipalKind::Staff, &staff.id, reference).await? {
        return Err(AppError::not_found());
    }
    state.audit(actor, "staff.session_revoked", &format!("staff:{}", staff.id), serde_json::json!({ "session": &reference[..12] })).await?;
    Ok(())
}
