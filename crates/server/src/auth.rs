//! Who is calling: session cookies for pages, bearer tokens for the API, and the role/scope rules.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use shenfen_store::{ActorKind, Citizen, PrincipalKind, Role, ScopeKind, SessionChannel, Staff};

use crate::app::{Actor, AppState};
use crate::crypto::token_hash;
use crate::error::AppError;
use crate::i18n::cookie_value;

pub const SESSION_COOKIE: &str = "sf_session";

#[derive(Debug, Clone)]
pub enum Principal {
    Citizen(Citizen),
    Staff(Staff),
}

/// The signed-in principal, if any, and the hash of the token that proved it.
#[derive(Debug, Clone)]
pub struct MaybeUser {
    pub principal: Option<Principal>,
    pub token_hash: Option<String>,
    pub ip: String,
}

impl MaybeUser {
    pub fn actor(&self) -> Actor {
        match &self.principal {
            Some(Principal::Citizen(c)) => Actor { kind: ActorKind::Citizen, id: c.id.clone(), ip: self.ip.clone() },
            Some(Principal::Staff(s)) => Actor { kind: ActorKind::Staff, id: s.id.clone(), ip: self.ip.clone() },
            None => Actor { kind: ActorKind::Anonymous, id: "-".into(), ip: self.ip.clone() },
        }
    }
}

/// The client address: the socket peer, or the first X-Forwarded-For hop when behind a trusted proxy.
pub fn client_ip(parts: &Parts, behind_proxy: bool) -> String {
    if behind_proxy {
        if let Some(ip) = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).and_then(|v| v.split(',').next()) {
            let ip = ip.trim();
            if ip.parse::<std::net::IpAddr>().is_ok() {
                return ip.to_string();
            }
        }
    }
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_else(|| "0.0.0.0".into())
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(u) = parts.extensions.get::<MaybeUser>() {
            return Ok(u.clone());
        }
        let ip = client_ip(parts, state.config.behind_proxy);
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| (t.trim().to_string(), SessionChannel::Bearer));
        let presented = bearer.or_else(|| cookie_value(&parts.headers, SESSION_COOKIE).map(|t| (t, SessionChannel::Cookie)));
        let mut user = MaybeUser { principal: None, token_hash: None, ip };
        if let Some((token, channel)) = presented {
            if token.len() <= 128 {
                let hash = token_hash(&token);
                let now = state.now_ms();
                // Citizens make most requests: their session and account come back in one query.
                // A cookie session cannot be replayed as a bearer token and vice versa.
                if let Some((session_channel, citizen)) = state.store.citizen_session(&hash, now).await? {
                    if session_channel == channel {
                        user.principal = Some(Principal::Citizen(citizen));
                    }
                } else if let Some(session) = state.store.session(&hash, now).await? {
                    if session.channel == channel && session.principal_kind == PrincipalKind::Staff {
                        user.principal = state.store.staff(&session.principal_id).await?.filter(|s| s.active).map(Principal::Staff);
                    }
                }
                if user.principal.is_some() {
                    user.token_hash = Some(hash);
                }
            }
        }
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// A signed-in citizen, or 401.
pub struct CitizenUser(pub Citizen, pub MaybeUser);

impl FromRequestParts<AppState> for CitizenUser {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let u = MaybeUser::from_request_parts(parts, state).await?;
        match &u.principal {
            Some(Principal::Citizen(c)) => Ok(CitizenUser(c.clone(), u.clone())),
            Some(Principal::Staff(_)) => Err(AppError::forbidden()),
            None => Err(AppError::unauthorized()),
        }
    }
}

/// A signed-in, active staff member, or 401/403.
pub struct StaffUser(pub Staff, pub MaybeUser);

impl FromRequestParts<AppState> for StaffUser {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let u = MaybeUser::from_request_parts(parts, state).await?;
        match &u.principal {
            Some(Principal::Staff(s)) => Ok(StaffUser(s.clone(), u.clone())),
            Some(Principal::Citizen(_)) => Err(AppError::forbidden()),
            None => Err(AppError::unauthorized()),
        }
    }
}

impl StaffUser {
    pub fn require(&self, roles: &[Role]) -> Result<(), AppError> {
        if roles.contains(&self.0.role) { Ok(()) } else { Err(AppError::forbidden()) }
    }
}

/// Whether a staff member's scope covers a county-level district. Point scopes cover the point's district.
pub async fn scope_covers(state: &AppState, staff: &Staff, district_code: &str) -> Result<bool, AppError> {
    Ok(match staff.scope.kind {
        ScopeKind::Province => district_code.get(..2) == Some(staff.scope.code.as_str()),
        ScopeKind::District => district_code == staff.scope.code,
        ScopeKind::Point => match state.store.point(&staff.scope.code).await? {
            Some(p) => p.district_code == district_code,
            None => false,
        },
    })
}

pub fn role_name(role: Role, lang: crate::i18n::Lang) -> &'static str {
    match role {
        Role::Reviewer => lang.pick("审核民警", "Police reviewer"),
        Role::Counter => lang.pick("窗口受理员", "Counter staff"),
        Role::Production => lang.pick("制证中心人员", "Production centre"),
        Role::Admin => lang.pick("系统管理员", "Administrator"),
    }
}
