//! The application's portrait (智能采像): a photo from the phone or prepared in advance goes through the portrait
//! engine; a failing photo is kept with its report so the citizen sees exactly why and can retake; a passing one
//! is standardised to 358×441 and becomes the application's portrait. A certified studio's receipt number or the
//! photo on file from a recent issuance are the other online choices. Every photo and verdict is kept.

use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use shenfen_domain::applications::{ApplicationState, PortraitSource};
use shenfen_domain::eligibility;
use shenfen_portrait::{Purpose, Report, Verdict};
use shenfen_store::{Application, Citizen, Portrait};

use super::{applicant_of, facts, online_rules, transition_error};
use crate::app::{Actor, AppState};
use crate::error::{AppError, AppResult};

/// What became of one photo.
#[derive(Debug, Clone)]
pub struct PhotoOutcome {
    /// The photo as received, with the engine's report.
    pub submitted: Portrait,
    pub report: Report,
    /// The standard 358×441 photo made from it, when it passed.
    pub standard: Option<Portrait>,
}

fn editable(app: &Application) -> AppResult<()> {
    if matches!(app.state, ApplicationState::Draft | ApplicationState::Returned) {
        Ok(())
    } else {
        Err(transition_error(&shenfen_domain::applications::TransitionError::NotAllowed { state: app.state, event: "change_portrait" }))
    }
}

/// The online rules for this source (the failed-review limit, the reuse window), refused with the first reason.
async fn check_source(state: &AppState, citizen: &Citizen, app: &Application, source: PortraitSource) -> AppResult<()> {
    let applicant = applicant_of(state, citizen).await?;
    let f = facts(state, citizen, &applicant, app.kind).await?;
    if let Some(r) = eligibility::check_portrait(online_rules(state), &f, source).first() {
        return Err(AppError::new(StatusCode::UNPROCESSABLE_ENTITY, r.code, format!("{}（{}）", r.message_zh, r.instead.text_zh()), format!("{} ({})", r.message_en, r.instead.text_en()))
            .on_field("photo"));
    }
    Ok(())
}

fn content_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        "image/jpeg"
    } else if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else {
        "application/octet-stream"
    }
}

fn portrait_row(app: &Application, source: PortraitSource, bytes: Vec<u8>, report: &Report, now: i64) -> Portrait {
    Portrait {
        id: shenfen_store::new_id(),
        citizen_id: app.citizen_id.clone(),
        application_id: Some(app.id.clone()),
        source: source.code().to_string(),
        content_type: content_type(&bytes).to_string(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        bytes,
        passed: report.verdict == Verdict::Pass,
        report: serde_json::to_string(report).unwrap_or_else(|_| "{}".into()),
        created_at: now,
    }
}

/// Checks a phone or prepared photo and, when it passes, makes and attaches the standard photo.
pub async fn submit_photo(state: &AppState, citizen: &Citizen, app: &Application, source: PortraitSource, bytes: Vec<u8>, actor: &Actor) -> AppResult<PhotoOutcome> {
    editable(app)?;
    if !matches!(source, PortraitSource::Phone | PortraitSource::PreparedUpload) {
        return Err(AppError::invalid("portrait_source_invalid", "请选择手机拍照或上传已有照片。", "Choose taking a photo with the phone or uploading one.").on_field("source"));
    }
    check_source(state, citizen, app, source).await?;
    // A photo per minute and 30 a day is more than anyone retaking pictures needs, and keeps the engine (tens of ms
    // of CPU per photo) from being used as a free service.
    if !state.store.hit_rate_limit(&format!("photo:{}", citizen.id), day_bucket(state.now_ms()), 30).await? {
        return Err(AppError::rate_limited("今日照片提交次数过多，请明天再试。", "Too many photos today; try again tomorrow."));
    }
    check_and_attach(state, app, source, bytes, actor).await
}

/// A photo taken at the counter or at a self-service kiosk, sent by counter staff for an application they entered.
pub async fn submit_counter_photo(state: &AppState, app: &Application, source: PortraitSource, bytes: Vec<u8>, actor: &Actor) -> AppResult<PhotoOutcome> {
    editable(app)?;
    if !matches!(source, PortraitSource::CounterCapture | PortraitSource::Kiosk) {
        return Err(AppError::invalid("portrait_source_invalid", "请选择窗口采集或自助机采集。", "Choose counter or kiosk capture.").on_field("source"));
    }
    check_and_attach(state, app, source, bytes, actor).await
}

/// The engine's check, the standard photo when it passes, both kept with their verdicts, and the standard one
/// attached to the application.
async fn check_and_attach(state: &AppState, app: &Application, source: PortraitSource, bytes: Vec<u8>, actor: &Actor) -> AppResult<PhotoOutcome> {
    if bytes.is_empty() || !crate::registry::looks_like_image(&bytes) {
        return Err(AppError::invalid("image_invalid", "请上传 JPG、PNG 或 WebP 格式的照片。", "Upload a JPG, PNG or WebP photo.").on_field("photo"));
    }
    if bytes.len() > state.config.limits.max_upload_bytes {
        return Err(AppError::payload_too_large());
    }
    let input = bytes.clone();
    let (report, standard) = tokio::task::spawn_blocking(move || {
        let report = shenfen_portrait::check(&input, Purpose::Source);
        let standard = (report.verdict == Verdict::Pass).then(|| shenfen_portrait::standardize(&input));
        (report, standard)
    })
    .await
    .map_err(|_| AppError::internal())?;
    let now = state.now_ms();
    let submitted = portrait_row(app, source, bytes, &report, now);
    state.store.insert_portrait(&submitted).await?;
    let mut outcome = PhotoOutcome { submitted: submitted.clone(), report: report.clone(), standard: None };
    match standard {
        Some(Ok((photo, final_report))) if final_report.verdict == Verdict::Pass => {
            let std_row = portrait_row(app, source, photo.jpeg.clone(), &final_report, now);
            state.store.insert_portrait(&std_row).await?;
            attach(state, app, source, Some(std_row.id.clone())).await?;
            outcome.standard = Some(std_row);
        }
        Some(Ok((_, final_report))) => outcome.report = final_report,
        // The portrait passed as a source but no compliant crop exists: the report says why.
        Some(Err(shenfen_portrait::StandardizeError::Unusable(r))) => outcome.report = *r,
        Some(Err(shenfen_portrait::StandardizeError::Internal(e))) => {
            tracing::error!(error = %e, "standardisation failed");
            let mut r = report.clone();
            r.verdict = Verdict::Error;
            outcome.report = r;
        }
        None => {}
    }
    state
        .audit(
            actor,
            "application.photo",
            &format!("application:{}", app.ref_no),
            serde_json::json!({ "source": source.code(), "passed": outcome.standard.is_some(), "issues": outcome.report.fails().map(|i| i.code.as_str()).collect::<Vec<_>>() }),
        )
        .await?;
    Ok(outcome)
}

pub fn day_bucket(now_ms: i64) -> i64 {
    let cst = 8 * 3_600_000;
    (now_ms + cst).div_euclid(86_400_000) * 86_400_000 - cst
}

async fn attach(state: &AppState, app: &Application, source: PortraitSource, portrait_id: Option<String>) -> AppResult<Application> {
    let current = state.store.application(&app.id).await?.ok_or_else(super::not_found)?;
    let mut next = current.clone();
    next.portrait_source = Some(source.code().to_string());
    next.portrait_id = portrait_id;
    next.updated_at = state.now_ms();
    if !state.store.update_draft(&next).await? {
        return Err(AppError::new(StatusCode::CONFLICT, "application_changed", "该申请刚刚被更新，请刷新后重试。", "The application changed just now; reload and try again."));
    }
    state.store.application(&app.id).await?.ok_or_else(super::not_found)
}

/// The receipt number (照片回执号) a certified studio gives with a photo it has uploaded to the police system.
pub fn parse_studio_receipt(s: &str) -> AppResult<String> {
    let s = s.trim().to_ascii_uppercase();
    if (8..=32).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(s)
    } else {
        Err(AppError::invalid("studio_receipt_invalid", "照片回执号应为 8–32 位字母或数字。", "A photo receipt number has 8–32 letters or digits.").on_field("receipt"))
    }
}

/// Uses a certified studio's photo by its receipt number. The reviewer fetches the photo by that number from the
/// police photo system when reviewing.
pub async fn use_studio_receipt(state: &AppState, citizen: &Citizen, app: &Application, receipt: &str, actor: &Actor) -> AppResult<Application> {
    editable(app)?;
    let receipt = parse_studio_receipt(receipt)?;
    check_source(state, citizen, app, PortraitSource::StudioReceipt).await?;
    let updated = attach(state, app, PortraitSource::StudioReceipt, Some(format!("studio:{receipt}"))).await?;
    state.audit(actor, "application.photo", &format!("application:{}", app.ref_no), serde_json::json!({ "source": "studio_receipt" })).await?;
    Ok(updated)
}

/// Reuses the portrait of the card issued within the reuse window (rule 11).
pub async fn use_photo_on_file(state: &AppState, citizen: &Citizen, app: &Application, actor: &Actor) -> AppResult<Application> {
    editable(app)?;
    check_source(state, citizen, app, PortraitSource::ReuseOnFile).await?;
    let updated = attach(state, app, PortraitSource::ReuseOnFile, None).await?;
    state.audit(actor, "application.photo", &format!("application:{}", app.ref_no), serde_json::json!({ "source": "reuse_on_file" })).await?;
    Ok(updated)
}

/// A stored photo the caller may see: the applicant's own, or any in a reviewer's scope (checked by the caller).
pub async fn photo_of(state: &AppState, app: &Application, portrait_id: &str) -> AppResult<Portrait> {
    let p = state.store.portrait(portrait_id).await?.ok_or_else(super::not_found)?;
    if p.application_id.as_deref() != Some(app.id.as_str()) {
        return Err(super::not_found());
    }
    Ok(p)
}

pub fn report_of(p: &Portrait) -> Option<Report> {
    serde_json::from_str(&p.report).ok()
}
