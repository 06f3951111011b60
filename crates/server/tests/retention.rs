//! Retention on SQLite and PostgreSQL: the daily job deletes each class past its period and nothing younger, trims
//! the audit log while its chain still verifies (and a hand-made trim does not), runs once a day across instances,
//! and the citizens' page states the periods in force.

mod support;

use shenfen_server::app::{Actor, Clock};
use shenfen_store::{ActorKind, CodePurpose, NewSmsCode, PrincipalKind, Session, SessionChannel};
use support::{Db, TestApp, http};

const DAY: i64 = 86_400_000;
/// 2026-03-02T03:30+08:00.
const T0: i64 = 1_772_393_400_000;

macro_rules! both {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $app = TestApp::start_with(Db::Sqlite, Clock::fixed(T0 - 8 * 365 * DAY), |_| {}).await.unwrap();
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($app) = TestApp::start_with(Db::Postgres, Clock::fixed(T0 - 8 * 365 * DAY), |_| {}).await else { return };
                $body
            }
        }
    };
}

async fn session_at(app: &TestApp, id: &str, created: i64, expires: i64) {
    let citizen = app.state.store.citizen_for_phone(&format!("1390000{id:0>4}"), created).await.unwrap();
    app.state
        .store
        .insert_session(&Session { token_hash: format!("hash-{id}"), principal_kind: PrincipalKind::Citizen, principal_id: citizen.id, channel: SessionChannel::Bearer, created_at: created, expires_at: expires })
        .await
        .unwrap();
}

both!(daily_job_deletes_what_is_past_its_period, |app| {
    let store = &app.state.store;
    let system = Actor { kind: ActorKind::System, id: "test".into(), ip: "-".into() };
    // Eight years ago: audit entries that are past the six-year period.
    for i in 0..5 {
        app.state.audit(&system, "test.old", &format!("n:{i}"), serde_json::json!({})).await.unwrap();
    }
    app.state.clock.advance_ms(8 * 365 * DAY - 10 * DAY);
    // Ten days ago: a code and a session that expired then; yesterday-ish ones that are still within their periods.
    let now = || app.state.now_ms();
    for (phone, expires) in [("13900000001", now() + 300_000), ("13900000002", now() + 9 * DAY + 300_000)] {
        store.insert_sms_code(&NewSmsCode { phone: phone.into(), purpose: CodePurpose::SignIn, code_hash: "h".into(), created_at: now(), expires_at: expires }).await.unwrap();
    }
    session_at(&app, "1", now(), now() + 3_600_000).await;
    session_at(&app, "2", now(), now() + 8 * DAY).await;
    assert!(store.hit_rate_limit("sms-day:13900000001", now(), 10).await.unwrap());
    for i in 0..3 {
        app.state.audit(&system, "test.recent", &format!("n:{i}"), serde_json::json!({})).await.unwrap();
    }
    app.state.clock.advance_ms(10 * DAY);
    assert_eq!(app.state.now_ms(), T0);

    let r = shenfen_server::retention::run_once(&app.state).await.unwrap();
    assert_eq!(r.sms_codes, 1, "{r:?}");
    assert_eq!(r.sessions, 1);
    assert!(r.rate_limits >= 1);
    assert!(r.audit_entries >= 5, "the eight-year-old entries are gone: {r:?}");
    // What remains verifies from the new anchor, and the trim is itself on record.
    let v = shenfen_store::audit::verify_store(store.as_ref()).await.unwrap().unwrap();
    assert_eq!(v.anchor_seq, r.audit_entries);
    let left = store.audit_entries(0, 1000).await.unwrap();
    assert!(left.iter().all(|e| e.record.action != "test.old"));
    assert_eq!(left.iter().filter(|e| e.record.action == "test.recent").count(), 3);
    assert!(left.iter().any(|e| e.record.action == "audit.purged") && left.iter().any(|e| e.record.action == "retention.run"));
    assert!(store.session("hash-2", 0).await.unwrap().is_some(), "a session within its period stays");
    // Idempotent.
    let again = shenfen_server::retention::run_once(&app.state).await.unwrap();
    assert_eq!((again.sms_codes, again.sessions, again.audit_entries), (0, 0, 0));
    assert!(shenfen_store::audit::verify_store(store.as_ref()).await.unwrap().is_ok());

    // The day's run happens once, whichever instance asks first.
    let first = shenfen_server::retention::run_if_due(&app.state).await.unwrap();
    let second = shenfen_server::retention::run_if_due(&app.state).await.unwrap();
    assert!(first.is_some() && second.is_none());

    // The citizens' page shows the periods in force.
    let c = http();
    let page = c.get(app.url("/privacy")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("个人信息保存期限") && page.contains("6 年") && page.contains("365 天"));
    let en = c.get(app.url("/privacy")).header("accept-language", "en").send().await.unwrap().text().await.unwrap();
    assert!(en.contains("How long we keep your data") && en.contains("6 years"));
});

/// Deleting old entries by hand (and moving the anchor to match) is still detected: no `audit.purged` names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trim_outside_the_retention_job_is_detected() {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    let system = Actor { kind: ActorKind::System, id: "test".into(), ip: "-".into() };
    for i in 0..4 {
        app.state.audit(&system, "test", &format!("n:{i}"), serde_json::json!({})).await.unwrap();
    }
    let entries = app.state.store.audit_entries(0, 10).await.unwrap();
    let db = app.state.config.data_dir.join("shenfen.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    sqlx::query("DELETE FROM audit_log WHERE seq <= 2").execute(&pool).await.unwrap();
    sqlx::query("UPDATE audit_anchor SET seq = 2, hash = $1").bind(&entries[1].hash).execute(&pool).await.unwrap();
    let broken = shenfen_store::audit::verify_store(app.state.store.as_ref()).await.unwrap().unwrap_err();
    assert!(matches!(broken, shenfen_store::audit::ChainBreak::Anchor { seq: 2 }), "{broken}");
}

#[test]
fn retention_settings_are_checked_at_start() {
    let dir = shenfen_store::test_support::TempDir::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shenfen"))
        .env("SHENFEN_DATA_DIR", &dir.0)
        .env("SHENFEN_RETENTION__AUDIT_LOG_YEARS", "0")
        .env_remove("SHENFEN_CONFIG")
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("retention.audit_log_years"));
}

both!(photos_and_finished_applications_are_kept_for_their_periods, |app| {
    use shenfen_domain::applications::{ApplicationKind, ApplicationState as S, Channel as AppChannel, DeliveryMethod};
    use shenfen_store::{Application, Portrait, new_id};
    app.state.clock.advance_ms(8 * 365 * DAY);
    let store = &app.state.store;
    let citizen = store.citizen_for_phone("13900000077", T0).await.unwrap().id;
    let portrait = |passed: bool, at: i64| Portrait {
        id: new_id(),
        citizen_id: Some(citizen.clone()),
        application_id: None,
        source: "phone".into(),
        content_type: "image/jpeg".into(),
        bytes: vec![0xff, 0xd8],
        sha256: "x".into(),
        passed,
        report: "{}".into(),
        created_at: at,
    };
    // Default periods: rejected photos 30 days, finished applications 3 years.
    let (old_photo, new_photo) = (portrait(false, T0 - 31 * DAY), portrait(false, T0 - DAY));
    store.insert_portrait(&old_photo).await.unwrap();
    store.insert_portrait(&new_photo).await.unwrap();
    let application = |finished: i64| {
        let id = new_id();
        Application {
            ref_no: format!("SQ{}", &id.replace('-', "")[20..]),
            id,
            citizen_id: Some(citizen.clone()),
            kind: ApplicationKind::RenewalExpiry,
            channel: AppChannel::Online,
            state: S::Closed,
            version: 1,
            applicant_name_enc: vec![1],
            applicant_name_masked: "张*".into(),
            applicant_id_enc: vec![2],
            applicant_id_masked: "3****************X".into(),
            applicant_id_blind: "b".into(),
            division_code: "340104".into(),
            point_id: None,
            portrait_source: None,
            portrait_id: None,
            delivery_method: DeliveryMethod::Pickup,
            delivery_division: None,
            delivery_address_enc: None,
            delivery_address_masked: None,
            recipient_phone: None,
            pickup_point_id: None,
            fee_waived: false,
            fee_fen: 2000,
            postage_fen: 0,
            payment_order_no: None,
            appointment_id: None,
            return_reasons: None,
            return_note: None,
            reject_reason: None,
            tracking_no: None,
            batch_id: None,
            claimed_by: None,
            claim_until: None,
            submitted_at: Some(finished - 30 * DAY),
            approved_at: None,
            payment_due_at: None,
            finished_at: Some(finished),
            created_at: finished - 30 * DAY,
            updated_at: finished,
        }
    };
    let (old_app, new_app) = (application(T0 - 4 * 365 * DAY), application(T0 - 365 * DAY));
    store.insert_application(&old_app).await.unwrap();
    store.insert_application(&new_app).await.unwrap();

    let r = shenfen_server::retention::run_once(&app.state).await.unwrap();
    assert_eq!((r.portraits, r.applications), (1, 1), "{r:?}");
    assert!(store.portrait(&old_photo.id).await.unwrap().is_none() && store.portrait(&new_photo.id).await.unwrap().is_some());
    assert!(store.application(&old_app.id).await.unwrap().is_none() && store.application(&new_app.id).await.unwrap().is_some());
    let again = shenfen_server::retention::run_once(&app.state).await.unwrap();
    assert_eq!((again.portraits, again.applications), (0, 0));

    // The citizens' page lists both classes with their periods, and how to ask for export or erasure.
    let c = http();
    let page = c.get(app.url("/privacy")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("未通过检测的照片") && page.contains("30 天") && page.contains("已办结的身份证申请") && page.contains("3 年") && page.contains("id=\"privacy-rights\""));
    let en = c.get(app.url("/privacy")).header("accept-language", "en").send().await.unwrap().text().await.unwrap();
    assert!(en.contains("Photos that failed the checks") && en.contains("30 days") && en.contains("3 years"));
});

#[test]
fn application_retention_of_less_than_a_year_is_refused_at_start() {
    let dir = shenfen_store::test_support::TempDir::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shenfen"))
        .env("SHENFEN_DATA_DIR", &dir.0)
        .env("SHENFEN_RETENTION__CLOSED_APPLICATION_YEARS", "0")
        .env_remove("SHENFEN_CONFIG")
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("retention.closed_application_years"));
}
