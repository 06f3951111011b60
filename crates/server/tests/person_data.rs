//! Export and erasure of one person's data by an administrator, over the API and the admin page, on SQLite and
//! PostgreSQL: the export holds everything (in clear, it goes to the person), erasure removes the account and keeps
//! finished applications and payments detached, both are audited with masked identifiers, the chain still
//! verifies, and the refusals (something under way, bad input, wrong role) change nothing.

mod support;

use serde_json::{Value, json};
use shenfen_domain::applications::{ApplicationKind, ApplicationState as S, Channel as AppChannel, DeliveryMethod};
use shenfen_server::app::AppState;
use shenfen_store::*;
use support::{TestApp, http, staff_pages};

const PHONE: &str = "13900001234";
const NAME: &str = "张三";
const ID_NUMBER: &str = "34010419900307177X";
const DAY: i64 = 86_400_000;

/// An application of the person in `state`, with properly encrypted applicant fields.
fn application(state: &AppState, citizen_id: &str, s: S, finished_at: Option<i64>) -> Application {
    let id = new_id();
    let now = state.now_ms();
    Application {
        ref_no: format!("SQ{}", &id.replace('-', "")[20..]),
        id,
        citizen_id: Some(citizen_id.into()),
        kind: ApplicationKind::RenewalExpiry,
        channel: AppChannel::Online,
        state: s,
        version: 1,
        applicant_name_enc: state.keys.encrypt_field(NAME),
        applicant_name_masked: "张*".into(),
        applicant_id_enc: state.keys.encrypt_field(ID_NUMBER),
        applicant_id_masked: "3****************X".into(),
        applicant_id_blind: state.keys.blind_index(ID_NUMBER),
        division_code: "340104".into(),
        point_id: None,
        portrait_source: Some("phone".into()),
        portrait_id: None,
        delivery_method: DeliveryMethod::Ems,
        delivery_division: Some("340104".into()),
        delivery_address_enc: Some(state.keys.encrypt_field("安徽省合肥市蜀山区演示路1号")),
        delivery_address_masked: Some("安徽省合肥市****".into()),
        recipient_phone: Some(PHONE.into()),
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
        submitted_at: Some(now - 30 * DAY),
        approved_at: None,
        payment_due_at: None,
        finished_at,
        created_at: now - 30 * DAY,
        updated_at: now,
    }
}

/// Moves an application (store level), writing its timeline entry.
async fn move_to(state: &AppState, a: &Application, to: S) -> Application {
    let cur = state.store.application(&a.id).await.unwrap().unwrap();
    let finished_at = to.is_terminal().then(|| state.now_ms());
    let t = AppliedTransition {
        application_id: a.id.clone(),
        expected_version: cur.version,
        from: cur.state,
        to,
        changes: ApplicationChanges { finished_at, ..Default::default() },
        event: format!("test_{}", to.code()),
        actor_kind: "citizen".into(),
        actor_id: "test".into(),
        detail: json!({ "note": "test" }).to_string(),
        online_cancellation: false,
        failed_photo_review: false,
        at: state.now_ms(),
    };
    state.store.apply_transition(&t).await.unwrap().unwrap()
}

/// A verified citizen with a booked appointment, a notification and a closed application with its timeline and a
/// paid order. Returns the citizen and the closed application.
async fn person_with_history(app: &TestApp) -> (Citizen, Application) {
    let c = http();
    let token = app.citizen_token(&c, PHONE).await;
    let r = c.post(app.url("/api/v1/me/verification/primary")).bearer_auth(&token).json(&json!({ "name": NAME, "id_number": ID_NUMBER })).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let state = &app.state;
    let store = &state.store;
    let citizen = store.citizen_by_phone(PHONE).await.unwrap().unwrap();
    let now = state.now_ms();

    let point = store.list_points().await.unwrap().remove(0);
    store.ensure_slots(&[NewSlot { point_id: point.id.clone(), day: "2099-01-05".into(), start_min: 540, end_min: 570, starts_at: now + 10 * DAY, capacity: 4 }]).await.unwrap();
    let slot = store.slots(&point.id, "2099-01-05", "2099-01-05").await.unwrap().remove(0);
    store
        .book(&NewAppointment { citizen_id: citizen.id.clone(), slot_id: slot.id.clone(), service: "renewal".into(), month: "2099-01".into(), max_cancellations_per_month: 3, max_no_shows_per_month: 3, now })
        .await
        .unwrap();
    store
        .enqueue_notification(&NewNotification {
            citizen_id: citizen.id.clone(),
            event_kind: "test.notice".into(),
            dedupe_key: "test:notice:1".into(),
            channel: Channel::InApp,
            template: "test_notice".into(),
            vars: json!({ "what": "一条测试通知" }).to_string(),
            phone: None,
            not_before: now,
            now,
            content_key: None,
        })
        .await
        .unwrap();

    let draft = application(state, &citizen.id, S::Draft, None);
    store.insert_application(&draft).await.unwrap();
    let submitted = move_to(state, &draft, S::Submitted).await;
    let closed = move_to(state, &submitted, S::Closed).await;
    store
        .create_order(
            &PaymentOrder {
                id: new_id(),
                order_no: order_number(),
                citizen_id: Some(citizen.id.clone()),
                reference: closed.id.clone(),
                item: "renewal".into(),
                amount_fen: 2000,
                channel: Some("alipay".into()),
                status: PaymentStatus::Success,
                failure_code: None,
                provider_trade_no: Some("T1".into()),
                refunded_fen: 0,
                point_id: None,
                staff_id: None,
                cash_received_fen: None,
                created_at: now,
                updated_at: now,
                expires_at: now + 900_000,
                paid_at: Some(now),
                opened_at: None,
            },
            None,
        )
        .await
        .unwrap();
    (citizen, closed)
}

async fn code_of(r: reqwest::Response) -> (u16, String) {
    let s = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (s, v["error"]["code"].as_str().unwrap_or("").to_string())
}

async fn audit_actions(app: &TestApp) -> Vec<AuditEntry> {
    app.state.store.audit_entries(0, 10_000).await.unwrap()
}

on_both!(an_administrator_exports_and_erases_a_person, |app| {
    let (citizen, closed) = person_with_history(&app).await;
    let c = http();
    let admin = app.staff_token(&c, "admin").await;
    let post = |path: &str, body: Value| c.post(app.url(path)).bearer_auth(&admin).json(&body).send();

    // Found by mobile number and by ID number (blind index), masked.
    let by_phone: Value = post("/api/v1/admin/people/search", json!({ "query": PHONE })).await.unwrap().json().await.unwrap();
    let by_id: Value = post("/api/v1/admin/people/search", json!({ "query": ID_NUMBER })).await.unwrap().json().await.unwrap();
    assert_eq!(by_phone["citizen_id"], citizen.id.as_str());
    assert_eq!(by_id["citizen_id"], citizen.id.as_str());
    assert_eq!((by_phone["appointments"].as_u64(), by_phone["applications"].as_u64(), by_phone["applications_in_progress"].as_u64()), (Some(1), Some(1), Some(0)));
    let shown = by_phone.to_string();
    assert!(!shown.contains(PHONE) && !shown.contains(ID_NUMBER) && !shown.contains(NAME), "the summary is masked: {shown}");

    // The export is complete and in clear.
    let r = post("/api/v1/admin/people/export", json!({ "query": PHONE })).await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["format"], "shenfen.person-export/1");
    assert_eq!((doc["account"]["phone"].as_str(), doc["account"]["name"].as_str(), doc["account"]["id_number"].as_str()), (Some(PHONE), Some(NAME), Some(ID_NUMBER)));
    assert_eq!(doc["appointments"].as_array().unwrap().len(), 1);
    assert_eq!(doc["notifications"][0]["vars"]["what"], "一条测试通知");
    let a = &doc["applications"][0];
    assert_eq!((a["ref_no"].as_str(), a["state"].as_str(), a["applicant_id_number"].as_str()), (Some(closed.ref_no.as_str()), Some("closed"), Some(ID_NUMBER)));
    assert_eq!(a["timeline"].as_array().unwrap().len(), 2);
    assert_eq!(a["timeline"][1]["detail"]["note"], "test");
    assert_eq!(doc["payment_orders"][0]["status"], "success");
    assert!(doc["card"]["issued_on"].is_string(), "the registry's card record: {}", doc["card"]);

    // Bad input: nothing found, nothing malformed accepted, reason and confirmation required.
    assert_eq!(code_of(post("/api/v1/admin/people/search", json!({ "query": "13900009999" })).await.unwrap()).await, (404, "person_not_found".into()));
    assert_eq!(code_of(post("/api/v1/admin/people/search", json!({ "query": "12345" })).await.unwrap()).await, (422, "person_query_invalid".into()));
    assert_eq!(code_of(post("/api/v1/admin/people/export", json!({ "query": "340104199003071770" })).await.unwrap()).await.0, 422);
    assert_eq!(code_of(post("/api/v1/admin/people/erase", json!({ "query": PHONE, "confirm": true })).await.unwrap()).await, (422, "erasure_reason_required".into()));
    assert_eq!(code_of(post("/api/v1/admin/people/erase", json!({ "query": PHONE, "reason": "本人书面申请" })).await.unwrap()).await, (422, "erasure_not_confirmed".into()));

    // Refused while an application is under way; nothing changes.
    let live = application(&app.state, &citizen.id, S::Draft, None);
    app.state.store.insert_application(&live).await.unwrap();
    let live = move_to(&app.state, &live, S::Submitted).await;
    let erase = json!({ "query": PHONE, "reason": "本人书面申请 2026-001", "confirm": true });
    assert_eq!(code_of(post("/api/v1/admin/people/erase", erase.clone()).await.unwrap()).await, (409, "application_in_progress".into()));
    assert!(app.state.store.citizen(&citizen.id).await.unwrap().is_some());
    assert_eq!(app.state.store.appointments_of(&citizen.id).await.unwrap().len(), 1);
    move_to(&app.state, &live, S::Cancelled).await;

    // Erased: the account and what hangs on it go; finished applications and payments stay, detached.
    let r = post("/api/v1/admin/people/erase", erase.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!((done["erased"]["appointments"].as_u64(), done["erased"]["applications_detached"].as_u64(), done["erased"]["payment_orders_detached"].as_u64()), (Some(1), Some(2), Some(1)));
    let store = &app.state.store;
    assert!(store.citizen(&citizen.id).await.unwrap().is_none());
    assert!(store.citizen_by_phone(PHONE).await.unwrap().is_none());
    assert!(store.appointments_of(&citizen.id).await.unwrap().is_empty());
    assert!(store.notifications_of(&citizen.id).await.unwrap().is_empty());
    assert!(store.card(&citizen.id).await.unwrap().is_none());
    assert_eq!(store.application(&closed.id).await.unwrap().unwrap().citizen_id, None);
    assert_eq!(store.orders_for(&closed.id).await.unwrap()[0].citizen_id, None);
    assert_eq!(code_of(post("/api/v1/admin/people/search", json!({ "query": PHONE })).await.unwrap()).await, (404, "person_not_found".into()));
    assert_eq!(code_of(post("/api/v1/admin/people/erase", erase).await.unwrap()).await, (404, "person_not_found".into()));

    // Both actions are on record, masked, and the chain still verifies.
    let entries = audit_actions(&app).await;
    let exported = entries.iter().find(|e| e.record.action == "person.exported").expect("export audited");
    let erased = entries.iter().find(|e| e.record.action == "person.erased").expect("erasure audited");
    for e in [exported, erased] {
        assert_eq!(e.record.target, format!("citizen:{}", citizen.id));
        assert!(!e.record.detail.contains(PHONE) && !e.record.detail.contains(ID_NUMBER), "masked only: {}", e.record.detail);
    }
    assert!(erased.record.detail.contains("本人书面申请 2026-001") && erased.record.detail.contains("\"appointments\":1"), "{}", erased.record.detail);
    assert!(shenfen_store::audit::verify_store(store.as_ref()).await.unwrap().is_ok());
});

on_both!(only_administrators_reach_a_persons_data, |app| {
    person_with_history(&app).await;
    let c = http();
    let reviewer = app.staff_token(&c, "reviewer").await;
    let (citizen_token, _) = app.direct_citizen_session("13900004321").await;
    // An administrator of one district: a person's data spans districts, so it is not theirs to handle.
    let hash = shenfen_server::accounts::hash_password("district-admin-pass").unwrap();
    let district_admin = Staff {
        id: new_id(),
        username: "admin.shushan".into(),
        password_hash: hash,
        display_name: "蜀山分局管理员".into(),
        role: Role::Admin,
        scope: Scope { kind: ScopeKind::District, code: "340104".into() },
        active: true,
        created_at: app.state.now_ms(),
    };
    app.state.store.insert_staff(&district_admin).await.unwrap();
    let r = c.post(app.url("/api/v1/auth/staff-sessions")).json(&json!({ "username": "admin.shushan", "password": "district-admin-pass" })).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let district_admin: String = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().into();
    for (path, body) in [
        ("/api/v1/admin/people/search", json!({ "query": PHONE })),
        ("/api/v1/admin/people/export", json!({ "query": PHONE })),
        ("/api/v1/admin/people/erase", json!({ "query": PHONE, "reason": "试图删除", "confirm": true })),
    ] {
        assert_eq!(c.post(app.url(path)).bearer_auth(&reviewer).json(&body).send().await.unwrap().status(), 403, "{path}");
        assert_eq!(code_of(c.post(app.url(path)).bearer_auth(&district_admin).json(&body).send().await.unwrap()).await, (403, "person_data_province_only".into()), "{path}");
        assert!(matches!(c.post(app.url(path)).bearer_auth(&citizen_token).json(&body).send().await.unwrap().status().as_u16(), 401 | 403), "{path}");
        assert_eq!(c.post(app.url(path)).json(&body).send().await.unwrap().status(), 401, "{path}");
    }
    assert!(app.state.store.citizen_by_phone(PHONE).await.unwrap().is_some());
    assert!(!audit_actions(&app).await.iter().any(|e| e.record.action.starts_with("person.")));
    // The API document lists the endpoints.
    let doc = c.get(app.url("/api/openapi.json")).send().await.unwrap().text().await.unwrap();
    assert!(doc.contains("/api/v1/admin/people/erase") && doc.contains("/api/v1/admin/people/export"));
});

on_both!(the_admin_page_finds_exports_and_erases, |app| {
    let (citizen, _) = person_with_history(&app).await;
    let (c, csrf) = staff_pages(&app, "admin").await;
    let page = c.get(app.url("/admin/people")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("个人信息导出与删除"));

    // Search (a POST: the number never appears in a URL); the summary is masked.
    let r = c.post(app.url("/admin/people")).form(&[("csrf", csrf.as_str()), ("query", PHONE)]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"person-phone\">139****1234") && html.contains("初级实名认证") && html.contains("删除个人信息") && html.contains("导出 JSON"), "{html}");
    let r = c.post(app.url("/admin/people")).form(&[("csrf", csrf.as_str()), ("query", "abc")]).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("error-summary"));

    // A forged form (no CSRF token) is refused before anything happens.
    let r = c.post(app.url("/admin/people/erase")).form(&[("query", PHONE), ("reason", "伪造"), ("confirm", "on")]).send().await.unwrap();
    assert_eq!(r.status(), 403);

    // Export downloads the JSON document.
    let r = c.post(app.url("/admin/people/export")).form(&[("csrf", csrf.as_str()), ("query", PHONE)]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["account"]["id_number"], ID_NUMBER);

    // Erasure needs the confirmation; with it, the person is gone.
    let r = c.post(app.url("/admin/people/erase")).form(&[("csrf", csrf.as_str()), ("query", PHONE), ("reason", "本人申请")]).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(app.state.store.citizen(&citizen.id).await.unwrap().is_some());
    let r = c.post(app.url("/admin/people/erase")).form(&[("csrf", csrf.as_str()), ("query", PHONE), ("reason", "本人申请"), ("confirm", "on")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("id=\"people-notice\""));
    assert!(app.state.store.citizen(&citizen.id).await.unwrap().is_none());

    // Other roles get 403; signed-out visitors the sign-in page.
    let (r, _) = staff_pages(&app, "reviewer").await;
    assert_eq!(r.get(app.url("/admin/people")).send().await.unwrap().status(), 403);
    assert_eq!(http().get(app.url("/admin/people")).send().await.unwrap().status(), 303);
});

/// `shenfen person export|erase` on the server's own database: the same rules, audited as the operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_exports_and_erases() {
    let dir = shenfen_store::test_support::TempDir::new();
    let shenfen = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_shenfen")).env("SHENFEN_DATA_DIR", &dir.0).env_remove("SHENFEN_CONFIG").args(args).output().unwrap()
    };
    assert!(shenfen(&["migrate"]).status.success());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.0.join("shenfen.db").display())).await.unwrap();
    sqlx::query("INSERT INTO citizens (id, phone, created_at, updated_at) VALUES ('cli-person', $1, 0, 0)").bind(PHONE).execute(&pool).await.unwrap();

    let out = shenfen(&["person", "export", "--phone", PHONE]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["account"]["phone"], PHONE);

    let out = shenfen(&["person", "erase", "--phone", "13900009999", "--reason", "本人申请"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("person_not_found"));
    let out = shenfen(&["person", "erase", "--phone", PHONE, "--reason", " "]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("erasure_reason_required"));
    let out = shenfen(&["person", "erase", "--phone", PHONE, "--reason", "本人书面申请"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM citizens WHERE phone = $1").bind(PHONE).fetch_one(&pool).await.unwrap();
    assert_eq!(left, 0);
    let actions: Vec<(String, String)> = sqlx::query_as("SELECT action, actor_id FROM audit_log WHERE action LIKE 'person.%' ORDER BY seq").fetch_all(&pool).await.unwrap();
    assert_eq!(actions.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(), ["person.exported", "person.erased"]);
    assert!(actions.iter().all(|a| a.1.starts_with("cli:")));
    assert!(shenfen(&["audit", "verify"]).status.success());
}
