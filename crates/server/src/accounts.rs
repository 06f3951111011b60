//! Accounts: SMS sign-in for citizens, password sign-in for staff, two-tier real-name verification and the
//! phone-number change. Pages and the JSON API both call these, so each rule lives once.

use axum::http::StatusCode;
use shenfen_domain::{IdNumber, MobileNumber, mask::mask_name};
use shenfen_store::{Citizen, CodeCheck, CodePurpose, PrincipalKind, Session, SessionChannel, Staff, Verification, VerifiedIdentity};

use crate::app::{Actor, AppState};
use crate::crypto::{new_token, six_digit_code, token_hash};
use crate::error::{AppError, AppResult};
use crate::registry::{FaceOutcome, RegistryError, ResidentRecord};
use crate::sms;

const DAY_MS: i64 = 86_400_000;
const CST_OFFSET_MS: i64 = 8 * 3_600_000;

/// Start of the current day in China Standard Time, as UTC ms: daily caps reset at local midnight.
fn cst_day_start(now: i64) -> i64 {
    (now + CST_OFFSET_MS).div_euclid(DAY_MS) * DAY_MS - CST_OFFSET_MS
}

fn window_start(now: i64, len_ms: i64) -> i64 {
    now.div_euclid(len_ms) * len_ms
}

pub struct NewSession {
    pub token: String,
    pub expires_at: i64,
}

async fn create_session(state: &AppState, kind: PrincipalKind, id: &str, channel: SessionChannel) -> AppResult<NewSession> {
    let now = state.now_ms();
    let token = new_token();
    let expires_at = now + state.config.limits.session_ttl_hours * 3_600_000;
    state
        .store
        .insert_session(&Session { token_hash: token_hash(&token), principal_kind: kind, principal_id: id.to_string(), channel, created_at: now, expires_at })
        .await?;
    Ok(NewSession { token, expires_at })
}

/// Rate limits for sending a code to `phone`, held in the database so every instance shares them.
async fn limit_code_sending(state: &AppState, phone: &MobileNumber, ip: &str) -> AppResult<()> {
    let now = state.now_ms();
    let l = &state.config.limits;
    let interval = l.sms_resend_interval_secs * 1000;
    if !state.store.hit_rate_limit(&format!("sms-interval:{}", phone.as_str()), window_start(now, interval), 1).await? {
        return Err(AppError::rate_limited(
            &format!("验证码发送过于频繁，请{}秒后再试。", l.sms_resend_interval_secs),
            &format!("Codes are sent at most once every {} seconds; please wait.", l.sms_resend_interval_secs),
        ));
    }
    let day = cst_day_start(now);
    if !state.store.hit_rate_limit(&format!("sms-day:{}", phone.as_str()), day, l.sms_per_number_per_day).await? {
        return Err(AppError::rate_limited("该号码今日获取验证码次数已达上限，请明天再试。", "This number has reached today's limit of codes; try again tomorrow."));
    }
    if !state.store.hit_rate_limit(&format!("sms-ip:{ip}"), day, l.sms_per_ip_per_day).await? {
        return Err(AppError::rate_limited("您的网络今日获取验证码次数已达上限，请明天再试。", "Your network has reached today's limit of codes; try again tomorrow."));
    }
    Ok(())
}

async fn send_code(state: &AppState, phone: &MobileNumber, purpose: CodePurpose, ip: &str) -> AppResult<()> {
    limit_code_sending(state, phone, ip).await?;
    let now = state.now_ms();
    let code = six_digit_code();
    state
        .store
        .insert_sms_code(&shenfen_store::NewSmsCode {
            phone: phone.as_str().to_string(),
            purpose,
            code_hash: state.keys.code_hash(phone.as_str(), purpose.as_str(), &code),
            created_at: now,
            expires_at: now + state.config.limits.sms_code_ttl_secs * 1000,
        })
        .await?;
    state.sms.send(phone.as_str(), &sms::code_message(&code), now).await.map_err(|e| {
        tracing::error!(error = %e, "SMS gateway failed");
        AppError::unavailable("短信发送失败，请稍后再试。", "The SMS could not be sent; please try again later.")
    })
}

pub async fn send_sign_in_code(state: &AppState, phone: &str, ip: &str) -> AppResult<MobileNumber> {
    let phone = MobileNumber::parse(phone)?;
    send_code(state, &phone, CodePurpose::SignIn, ip).await?;
    Ok(phone)
}

fn parse_code(code: &str) -> AppResult<&str> {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(AppError::invalid("code_format", "验证码应为 6 位数字。", "The code must be 6 digits.").on_field("code"))
    }
}

async fn consume_code(state: &AppState, phone: &MobileNumber, purpose: CodePurpose, code: &str) -> AppResult<()> {
    let code = parse_code(code)?;
    let hash = state.keys.code_hash(phone.as_str(), purpose.as_str(), code);
    let outcome = state.store.check_sms_code(phone.as_str(), purpose, &hash, state.config.limits.sms_code_max_attempts, state.now_ms()).await?;
    let err = |code, zh: String, en: String| Err(AppError::invalid(code, zh, en).on_field("code"));
    match outcome {
        CodeCheck::Accepted => Ok(()),
        CodeCheck::Wrong { attempts_left } => err(
            "code_wrong",
            format!("验证码不正确，还可尝试 {attempts_left} 次。"),
            format!("The code is wrong; {attempts_left} attempts left."),
        ),
        CodeCheck::Burned => err("code_burned", "错误次数过多，该验证码已失效，请重新获取。".into(), "Too many wrong attempts; this code no longer works. Request a new one.".into()),
        CodeCheck::Expired => err("code_expired", "验证码已过期，请重新获取。".into(), "The code has expired; request a new one.".into()),
        CodeCheck::NoCode => err("code_missing", "验证码无效或已使用，请重新获取。".into(), "No valid code for this number (it may have been used); request a new one.".into()),
    }
}

pub async fn sign_in_with_code(state: &AppState, phone: &str, code: &str, channel: SessionChannel, ip: &str) -> AppResult<(NewSession, Citizen)> {
    let phone = MobileNumber::parse(phone)?;
    consume_code(state, &phone, CodePurpose::SignIn, code).await?;
    let citizen = state.store.citizen_for_phone(phone.as_str(), state.now_ms()).await?;
    let session = create_session(state, PrincipalKind::Citizen, &citizen.id, channel).await?;
    let actor = Actor { kind: shenfen_store::ActorKind::Citizen, id: citizen.id.clone(), ip: ip.to_string() };
    state.audit(&actor, "citizen.sign_in", &format!("citizen:{}", citizen.id), serde_json::json!({ "channel": channel.as_str() })).await?;
    Ok((session, citizen))
}

/// The outcome of a correct staff password: a session, or — when the account has a second factor — the need
/// for a code first (`staff_security::start_challenge` / `second_factor_now`).
pub enum StaffSignIn {
    Signed(NewSession, Staff),
    SecondFactor(Staff),
}

pub async fn staff_sign_in(state: &AppState, username: &str, password: &str, channel: SessionChannel, ip: &str) -> AppResult<StaffSignIn> {
    let username = username.trim();
    if username.is_empty() || username.len() > 64 || password.is_empty() || password.len() > 256 {
        return Err(invalid_credentials());
    }
    let now = state.now_ms();
    let limit = state.config.limits.staff_sign_in_failures_per_15min;
    let window = window_start(now, 15 * 60_000);
    if !state.store.hit_rate_limit(&format!("staff-sign-in:{username}"), window, limit).await?
        || !state.store.hit_rate_limit(&format!("staff-sign-in-ip:{ip}"), window, limit * 5).await?
    {
        return Err(AppError::rate_limited("登录尝试过于频繁，请 15 分钟后再试。", "Too many sign-in attempts; try again in 15 minutes."));
    }
    let staff = state.store.staff_by_username(username).await?;
    let hash = staff.as_ref().map(|s| s.password_hash.clone()).unwrap_or_else(|| DUMMY_HASH.clone());
    let password = password.to_string();
    // Argon2 is deliberately slow: keep it off the async workers. Unknown users are checked against a dummy
    // hash so that timing does not reveal which usernames exist.
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash)).await.unwrap_or(false);
    let actor = Actor { kind: shenfen_store::ActorKind::Staff, id: staff.as_ref().map(|s| s.id.clone()).unwrap_or_else(|| "-".into()), ip: ip.to_string() };
    match staff {
        Some(s) if ok && s.active => {
            if state.store.staff_security(&s.id).await?.is_some_and(|sec| sec.totp_secret_enc.is_some()) {
                return Ok(StaffSignIn::SecondFactor(s));
            }
            let session = open_staff_session(state, &s, channel, ip, false).await?;
            Ok(StaffSignIn::Signed(session, s))
        }
        _ => {
            state.audit(&actor, "staff.sign_in_failed", &format!("username:{username}"), serde_json::json!({})).await?;
            Err(invalid_credentials())
        }
    }
}

/// Opens a staff session once every factor has been checked, and audits the sign-in.
pub async fn open_staff_session(state: &AppState, s: &Staff, channel: SessionChannel, ip: &str, second_factor: bool) -> AppResult<NewSession> {
    let session = create_session(state, PrincipalKind::Staff, &s.id, channel).await?;
    let actor = Actor { kind: shenfen_store::ActorKind::Staff, id: s.id.clone(), ip: ip.to_string() };
    state.audit(&actor, "staff.sign_in", &format!("staff:{}", s.id), serde_json::json!({ "channel": channel.as_str(), "second_factor": second_factor })).await?;
    Ok(session)
}

fn invalid_credentials() -> AppError {
    AppError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "用户名或密码不正确。", "Wrong username or password.")
}

/// A real Argon2id hash of a random string, for constant-work checks of unknown usernames.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&crate::crypto::new_token()).unwrap_or_default());

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2::Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("{e}"));
    release_freed_memory();
    Ok(hash?.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let ok = PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok());
    release_freed_memory();
    ok
}

/// Argon2 allocates ~19 MiB per hash on a blocking thread; glibc keeps such blocks in per-thread arenas, which
/// showed up as +80 MB idle RSS after seeding. Hand them back to the OS.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub async fn sign_out(state: &AppState, token_hash: &str) -> AppResult<()> {
    state.store.delete_session(token_hash).await?;
    Ok(())
}

fn parse_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    let n = name.chars().count();
    let ok_chars = name.chars().all(|c| c.is_alphabetic() || c == '·' || c == '•' || c == ' ');
    if n == 0 {
        return Err(AppError::invalid("name_empty", "请输入姓名。", "Please enter your name.").on_field("name"));
    }
    if n > 40 || !ok_chars {
        return Err(AppError::invalid("name_invalid", "姓名只能包含文字和间隔号“·”，最长 40 个字。", "A name may contain letters and the middle dot only, at most 40 characters.").on_field("name"));
    }
    Ok(name.to_string())
}

fn registry_unavailable() -> AppError {
    AppError::unavailable("人口信息核验服务暂时不可用，请稍后再试。", "The identity registry is temporarily unavailable; please try again later.")
}

fn identity_mismatch() -> AppError {
    // One message for "no such number" and "name differs": never confirm that a number exists.
    AppError::invalid(
        "identity_mismatch",
        "姓名与身份证号核验不一致，请核对后重新输入。",
        "The name and ID number do not match the registry; please check them.",
    )
}

pub async fn verify_primary(state: &AppState, citizen: &Citizen, name: &str, id_number: &str, actor: &Actor) -> AppResult<Citizen> {
    let name = parse_name(name)?;
    let id = IdNumber::parse_on(id_number, state.clock.today_cst())?;
    let rate_ok = state.store.hit_rate_limit(&format!("verify:{}", citizen.id), cst_day_start(state.now_ms()), 10).await?;
    if !rate_ok {
        return Err(AppError::rate_limited("今日认证尝试次数过多，请明天再试。", "Too many verification attempts today; try again tomorrow."));
    }
    let resident = state.registry.lookup(&id).await.map_err(|RegistryError::Unavailable| registry_unavailable())?;
    let Some(resident) = resident.filter(|r| r.name == name) else {
        state.audit(actor, "citizen.verify_primary_failed", &format!("citizen:{}", citizen.id), serde_json::json!({ "id_number": id.masked() })).await?;
        return Err(identity_mismatch());
    };
    let ident = VerifiedIdentity {
        name_enc: state.keys.encrypt_field(&resident.name),
        name_masked: mask_name(&resident.name),
        id_number_enc: state.keys.encrypt_field(id.as_str()),
        id_number_blind: state.keys.blind_index(id.as_str()),
        id_number_masked: id.masked(),
        hukou_code: resident.hukou_code.clone(),
    };
    let updated = state.store.record_primary_verification(&citizen.id, &ident, state.now_ms()).await?;
    state.audit(actor, "citizen.verify_primary", &format!("citizen:{}", citizen.id), serde_json::json!({ "id_number": id.masked() })).await?;
    // The card on file starts the expiry reminders. The verification stands even if this write fails (logged);
    // the next verification or issued card records it.
    if let Some(issued) = resident.card_issued_on
        && let Err(e) = crate::cards::record_registry_card(state, &updated.id, &id, issued).await
    {
        tracing::warn!(error = %e.code, "card from the registry not recorded");
    }
    Ok(updated)
}

/// The verified ID number of a citizen, decrypted (only for calls to the registry; never displayed).
pub(crate) fn decrypt_id(state: &AppState, citizen: &Citizen) -> AppResult<IdNumber> {
    let enc = citizen.id_number_enc.as_deref().ok_or_else(primary_required)?;
    let plain = state.keys.decrypt_field(enc)?;
    Ok(IdNumber::parse(&plain).map_err(|_| AppError::internal())?)
}

pub(crate) fn primary_required() -> AppError {
    AppError::new(StatusCode::CONFLICT, "primary_required", "请先完成初级实名认证。", "Complete primary verification first.")
}

pub(crate) async fn resident_of(state: &AppState, citizen: &Citizen) -> AppResult<ResidentRecord> {
    let id = decrypt_id(state, citizen)?;
    state.registry.lookup(&id).await.map_err(|RegistryError::Unavailable| registry_unavailable())?.ok_or_else(identity_mismatch)
}

pub async fn verify_face(state: &AppState, citizen: &Citizen, image: &[u8], actor: &Actor) -> AppResult<Citizen> {
    if citizen.verification == Verification::None {
        return Err(primary_required());
    }
    if image.is_empty() || !crate::registry::looks_like_image(image) {
        return Err(AppError::invalid("image_invalid", "请上传 JPG、PNG 或 WebP 格式的照片。", "Upload a JPG, PNG or WebP photo.").on_field("face"));
    }
    if !state.store.hit_rate_limit(&format!("face:{}", citizen.id), cst_day_start(state.now_ms()), 10).await? {
        return Err(AppError::rate_limited("今日人脸核验次数过多，请明天再试。", "Too many face checks today; try again tomorrow."));
    }
    let resident = resident_of(state, citizen).await?;
    if !resident.portrait_on_file {
        return Err(AppError::invalid(
            "no_registry_portrait",
            "公安人口信息中没有您的可比对照片（如从未办理过身份证),请到户政窗口办理。",
            "There is no portrait on record to compare with (e.g. no card was ever issued); please visit a counter.",
        ));
    }
    let outcome = state.verifier.verify_face(&resident, image).await.map_err(|RegistryError::Unavailable| registry_unavailable())?;
    let target = format!("citizen:{}", citizen.id);
    let fail = |code, zh: &str, en: &str| AppError::invalid(code, zh, en).on_field("face");
    match outcome {
        FaceOutcome::Match { score_permille } => {
            let updated = state.store.record_intermediate_verification(&citizen.id, state.now_ms()).await?;
            state.audit(actor, "citizen.verify_intermediate", &target, serde_json::json!({ "score_permille": score_permille })).await?;
            Ok(updated)
        }
        other => {
            state.audit(actor, "citizen.verify_intermediate_failed", &target, serde_json::json!({ "outcome": format!("{other:?}") })).await?;
            Err(match other {
                FaceOutcome::Mismatch => fail("face_mismatch", "人脸与公安人口信息中的照片不一致。请本人正对镜头重新拍摄。", "The face does not match the portrait on record. Please take a new photo of yourself facing the camera."),
                FaceOutcome::LivenessFailed => fail("liveness_failed", "活体检测未通过，请本人现场拍摄，不要翻拍照片或屏幕。", "Liveness check failed: take a live photo of yourself, not of a picture or screen."),
                _ => fail("no_face", "照片中没有检测到清晰的人脸，请在光线充足处正对镜头拍摄。", "No clear face found; face the camera in good light."),
            })
        }
    }
}

/// Step 1 of changing the bound number: re-check identity, then send a code to the new number.
pub async fn start_phone_change(state: &AppState, citizen: &Citizen, id_number: &str, new_phone: &str, ip: &str) -> AppResult<MobileNumber> {
    if citizen.verification == Verification::None {
        return Err(primary_required());
    }
    let id = IdNumber::parse_on(id_number, state.clock.today_cst())?;
    let holder = state.store.citizen_by_id_blind(&state.keys.blind_index(id.as_str())).await?;
    if holder.map(|h| h.id) != Some(citizen.id.clone()) {
        return Err(AppError::invalid("identity_recheck_failed", "身份证号与本账号认证信息不一致。", "This ID number does not match the one verified on this account.").on_field("id_number"));
    }
    let phone = MobileNumber::parse(new_phone)?;
    if phone.as_str() == citizen.phone {
        return Err(AppError::invalid("phone_unchanged", "新号码与当前绑定号码相同。", "The new number is the one already bound.").on_field("phone"));
    }
    send_code(state, &phone, CodePurpose::ChangePhone, ip).await?;
    Ok(phone)
}

/// Step 2: the code sent to the new number proves possession; the old number is told of the change.
pub async fn confirm_phone_change(state: &AppState, citizen: &Citizen, new_phone: &str, code: &str, actor: &Actor) -> AppResult<Citizen> {
    let phone = MobileNumber::parse(new_phone)?;
    consume_code(state, &phone, CodePurpose::ChangePhone, code).await?;
    let old = citizen.phone.clone();
    let updated = state.store.change_citizen_phone(&citizen.id, phone.as_str(), state.now_ms()).await?;
    let old_masked = MobileNumber::parse(&old).map(|p| p.masked()).unwrap_or_default();
    state.audit(actor, "citizen.change_phone", &format!("citizen:{}", citizen.id), serde_json::json!({ "from": old_masked, "to": phone.masked() })).await?;
    if let Err(e) = state.sms.send(&old, &sms::phone_changed_notice(&phone.masked()), state.now_ms()).await {
        // The change itself is done; a lost notice is logged, not reported as a failed change.
        tracing::warn!(error = %e, "could not notify the old number of a phone change");
    }
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cst_day_starts_at_local_midnight() {
        // 2026-01-01T00:00+08:00 == 2025-12-31T16:00Z == 1767196800000
        let midnight = 1_767_196_800_000;
        assert_eq!(cst_day_start(midnight), midnight);
        assert_eq!(cst_day_start(midnight + DAY_MS - 1), midnight);
        assert_eq!(cst_day_start(midnight - 1), midnight - DAY_MS);
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(!verify_password("x", &DUMMY_HASH));
    }

    #[test]
    fn names_are_validated() {
        assert_eq!(parse_name(" 张三 ").unwrap(), "张三");
        assert_eq!(parse_name("买买提·艾力").unwrap(), "买买提·艾力");
        assert_eq!(parse_name("").unwrap_err().code, "name_empty");
        assert_eq!(parse_name("张三<script>").unwrap_err().code, "name_invalid");
    }
}
