//! Staff administration: who may manage whom (scope), creating accounts with a temporary password, disabling and
//! re-enabling, resetting a password (and a lost second factor), and ending someone's sessions. Every action is
//! audited. Called by the administrators' pages and API (as an administrator, within their scope) and by the
//! `shenfen staff …` command (as the operator on the machine, unrestricted, audited as `system`).

use axum::http::StatusCode;
use shenfen_store::{ActorKind, AuditRecord, DynStore, PrincipalKind, Role, Scope, ScopeKind, Staff};

use crate::app::Actor;
use crate::error::{AppError, AppResult};
use crate::staff_security;

/// Who is acting: an administrator (limited to their scope) or the command line on the server itself.
#[derive(Debug, Clone)]
pub enum By {
    Admin(Staff, Actor),
    Cli(Actor),
}

impl By {
    pub fn cli() -> By {
        let user = std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "unknown".into());
        By::Cli(Actor { kind: ActorKind::System, id: format!("cli:{user}"), ip: "-".into() })
    }

    fn actor(&self) -> &Actor {
        match self {
            By::Admin(_, a) | By::Cli(a) => a,
        }
    }
}

/// What the CLI and the handlers share: the store and the time.
pub struct Ctx<'a> {
    pub store: &'a DynStore,
    pub now: i64,
}

impl Ctx<'_> {
    async fn audit(&self, by: &By, action: &str, target: &str, detail: serde_json::Value) -> AppResult<()> {
        let a = by.actor();
        self.store
            .append_audit(&AuditRecord {
                at: self.now,
                actor_kind: a.kind,
                actor_id: a.id.clone(),
                action: action.into(),
                target: target.into(),
                source_ip: a.ip.clone(),
                detail: detail.to_string(),
            })
            .await?;
        Ok(())
    }
}

/// The district a point-scoped account belongs to, or the scope's own code.
async fn scope_district(store: &DynStore, scope: &Scope) -> AppResult<Option<String>> {
    Ok(match scope.kind {
        ScopeKind::Point => store.point(&scope.code).await?.map(|p| p.district_code),
        _ => Some(scope.code.clone()),
    })
}

/// Whether `inner` lies within `outer`: a province covers its districts and their points, a district its points,
/// a point only itself.
pub async fn scope_within(store: &DynStore, outer: &Scope, inner: &Scope) -> AppResult<bool> {
    Ok(match (outer.kind, inner.kind) {
        (ScopeKind::Province, _) => scope_district(store, inner).await?.is_some_and(|d| d.get(..2) == Some(outer.code.as_str())),
        (ScopeKind::District, ScopeKind::Province) | (ScopeKind::Point, ScopeKind::Province | ScopeKind::District) => false,
        (ScopeKind::District, _) => scope_district(store, inner).await?.as_deref() == Some(outer.code.as_str()),
        (ScopeKind::Point, ScopeKind::Point) => outer.code == inner.code,
    })
}

/// Whether `by` may manage the account `target`. Administrators manage accounts within their scope (a district
/// administrator only their district's); nobody disables or resets themselves here (that is the password page).
pub async fn may_manage(store: &DynStore, by: &By, target: &Staff) -> AppResult<bool> {
    match by {
        By::Cli(_) => Ok(true),
        By::Admin(admin, _) => Ok(admin.role == Role::Admin && admin.id != target.id && scope_within(store, &admin.scope, &target.scope).await?),
    }
}

async fn manageable(ctx: &Ctx<'_>, by: &By, staff_id: &str) -> AppResult<Staff> {
    // Outside one's scope looks the same as not existing: no probing for accounts elsewhere.
    let target = ctx.store.staff(staff_id).await?.ok_or_else(AppError::not_found)?;
    if !may_manage(ctx.store, by, &target).await? {
        return Err(AppError::not_found());
    }
    Ok(target)
}

/// The accounts `by` manages (and, for an administrator, their own), by username.
pub async fn list(ctx: &Ctx<'_>, by: &By) -> AppResult<Vec<Staff>> {
    let mut out = Vec::new();
    for s in ctx.store.list_staff().await? {
        let own = matches!(by, By::Admin(a, _) if a.id == s.id);
        if own || may_manage(ctx.store, by, &s).await? {
            out.push(s);
        }
    }
    Ok(out)
}

/// A new account as typed, before validation.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NewStaffInput {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub scope_kind: String,
    pub scope_code: String,
}

fn invalid(field: &'static str, zh: &str, en: &str) -> AppError {
    AppError::invalid("staff_invalid", zh, en).on_field(field)
}

/// Parses the input into an account (without password), checking the scope code exists.
pub async fn parse_new(store: &DynStore, input: &NewStaffInput, now: i64) -> AppResult<Staff> {
    let username = input.username.trim();
    if username.len() < 3 || username.len() > 32 || !username.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-') {
        return Err(invalid("username", "用户名为 3–32 位字母、数字或 _ . -。", "Username: 3–32 letters, digits, _ . or -."));
    }
    let display_name = input.display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 40 || display_name.chars().any(char::is_control) {
        return Err(invalid("display_name", "请填写 1–40 字的姓名。", "Display name: 1–40 characters."));
    }
    let role = Role::parse(input.role.trim()).ok_or_else(|| invalid("role", "角色无效。", "Unknown role."))?;
    let kind = ScopeKind::parse(input.scope_kind.trim()).ok_or_else(|| invalid("scope_kind", "管辖范围类型无效。", "Unknown scope kind."))?;
    let code = input.scope_code.trim().to_string();
    let code_ok = match kind {
        ScopeKind::Province => shenfen_domain::division::is_mainland_province(&code),
        ScopeKind::District => code.len() == 6 && shenfen_domain::division::is_known_code(&code),
        ScopeKind::Point => code.len() <= 64 && store.point(&code).await?.is_some(),
    };
    if !code_ok {
        return Err(invalid("scope_code", "管辖范围代码不存在。", "The scope code does not exist."));
    }
    Ok(Staff {
        id: shenfen_store::new_id(),
        username: username.to_string(),
        password_hash: String::new(),
        display_name: display_name.to_string(),
        role,
        scope: Scope { kind, code },
        active: true,
        created_at: now,
    })
}

/// A temporary password: 16 characters from an alphabet without look-alikes (~93 bits).
pub fn temporary_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::rngs::OsRng;
    (0..16).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

/// Creates an account whose password must be changed at first sign-in. `password` is the administrator's
/// choice, or `None` for a generated one; the password in force is returned (shown once, never stored).
pub async fn create(ctx: &Ctx<'_>, by: &By, input: &NewStaffInput, password: Option<&str>) -> AppResult<(Staff, String)> {
    let mut staff = parse_new(ctx.store, input, ctx.now).await?;
    if let By::Admin(admin, _) = by
        && (admin.role != Role::Admin || !scope_within(ctx.store, &admin.scope, &staff.scope).await?)
    {
        return Err(AppError::forbidden());
    }
    let password = match password {
        Some(p) => {
            staff_security::check_new_password(&staff.username, p)?;
            p.to_string()
        }
        None => temporary_password(),
    };
    staff.password_hash = staff_security::hash_password(&password).await?;
    ctx.store.create_staff(&staff, true, ctx.now).await.map_err(|e| match e {
        shenfen_store::StoreError::Conflict("username_taken") => {
            AppError::new(StatusCode::CONFLICT, "username_taken", "该用户名已被使用。", "This username is taken.").on_field("username")
        }
        other => other.into(),
    })?;
    ctx.audit(
        by,
        "staff.create",
        &format!("staff:{}", staff.id),
        serde_json::json!({ "username": staff.username, "role": staff.role.as_str(), "scope": format!("{}:{}", staff.scope.kind, staff.scope.code) }),
    )
    .await?;
    Ok((staff, password))
}

/// Disables (ending every session) or re-enables an account.
pub async fn set_active(ctx: &Ctx<'_>, by: &By, staff_id: &str, active: bool) -> AppResult<Staff> {
    let target = manageable(ctx, by, staff_id).await?;
    ctx.store.set_staff_active(&target.id, active).await?;
    ctx.audit(by, if active { "staff.enable" } else { "staff.disable" }, &format!("staff:{}", target.id), serde_json::json!({ "username": target.username })).await?;
    Ok(Staff { active, ..target })
}

/// Gives an account a new temporary password (to be changed at next sign-in), ends its sessions, and with
/// `clear_totp` removes its second factor (a lost phone). Returns the temporary password, shown once.
pub async fn reset_password(ctx: &Ctx<'_>, by: &By, staff_id: &str, clear_totp: bool) -> AppResult<(Staff, String)> {
    let target = manageable(ctx, by, staff_id).await?;
    let password = temporary_password();
    let hash = staff_security::hash_password(&password).await?;
    ctx.store.set_staff_password(&target.id, &hash, true, clear_totp, None, ctx.now).await?;
    ctx.audit(by, "staff.reset_password", &format!("staff:{}", target.id), serde_json::json!({ "username": target.username, "cleared_second_factor": clear_totp })).await?;
    Ok((target, password))
}

/// Ends every session of an account (they must sign in again). Returns how many ended.
pub async fn revoke_sessions(ctx: &Ctx<'_>, by: &By, staff_id: &str) -> AppResult<u64> {
    let target = manageable(ctx, by, staff_id).await?;
    let n = ctx.store.delete_sessions_of(PrincipalKind::Staff, &target.id).await?;
    ctx.audit(by, "staff.revoke_sessions", &format!("staff:{}", target.id), serde_json::json!({ "username": target.username, "sessions": n })).await?;
    Ok(n)
}

/// An account by username (the CLI names accounts by username).
pub async fn by_username(store: &DynStore, username: &str) -> AppResult<Staff> {
    store.staff_by_username(username.trim()).await?.ok_or_else(AppError::not_found)
}
