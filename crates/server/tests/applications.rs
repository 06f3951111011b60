//! HTTP-level tests of ID-card applications on SQLite and PostgreSQL: the online renewal end to end (eligibility,
//! photo through the portrait engine, submit, police review with a claim, payment, production, pickup), the
//! returned-for-correction loop, payment-window expiry, refunds on cancellation, and every bad-input case the issue
//! names (ineligible citizens forcing the API, double submit, out-of-scope review, delivery outside the area, a
//! failing photo, racing approve and cancel).

mod support;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shenfen_server::payments::provider::{NoticeOutcome, VerifiedNotice};
use shenfen_server::payments::service;
use support::{TestApp, http};

/// A portrait the engine accepts (and can standardise), and one with no face at all.
const GOOD_PHOTO: &str = "../portrait/tests/data/test0.jpg";
const NO_FACE: &str = "../portrait/tests/data/dogs.jpg";

/// 张三: 蜀山区 (reviewer "reviewer" covers it), card issued 2025-03-10 — eligible for online renewal.
const ZHANG: (&str, &str) = ("张三", "34010419900307177X");
/// 王五: card issued 2005 — outside the two-year window, so not online.
const WANG: (&str, &str) = ("王五", "340103197811203579");

fn photo(path: &str) -> Vec<u8> {
    std::fs::read(path).expect("test photo")
}

async fn code_of(r: reqwest::Response) -> (StatusCode, String) {
    let s = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (s, v["error"]["code"].as_str().unwrap_or("").to_string())
}

/// A citizen with primary and intermediate verification done through the API.
async fn verified(app: &TestApp, phone: &str, who: (&str, &str)) -> String {
    let c = http();
    let (token, _) = app.direct_citizen_session(phone).await;
    let r = c.post(app.url("/api/v1/me/verification/primary")).bearer_auth(&token).json(&json!({ "name": who.0, "id_number": who.1 })).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let image = base64::engine::general_purpose::STANDARD.encode(photo(GOOD_PHOTO));
    let r = c.post(app.url("/api/v1/me/verification/intermediate")).bearer_auth(&token).json(&json!({ "image_base64": image })).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    token
}

fn ems() -> Value {
    json!({ "method": "ems", "division": "340104", "address": "安徽省合肥市蜀山区演示路1号", "phone": "13800000001" })
}

async fn create(app: &TestApp, token: &str, delivery: Value) -> reqwest::Response {
    http().post(app.url("/api/v1/applications")).bearer_auth(token).json(&json!({ "kind": "renewal_expiry", "portrait_source": "phone", "delivery": delivery })).send().await.unwrap()
}

async fn upload(app: &TestApp, token: &str, id: &str, path: &str) -> Value {
    let r = http().post(app.url(&format!("/api/v1/applications/{id}/photo?source=phone"))).bearer_auth(token).header("content-type", "image/jpeg").body(photo(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// A draft with an accepted photo, submitted.
async fn submitted(app: &TestApp, token: &str, delivery: Value) -> String {
    let r = create(app, token, delivery).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let out = upload(app, token, &id, GOOD_PHOTO).await;
    assert_eq!(out["passed"], true, "{out}");
    let r = http().post(app.url(&format!("/api/v1/applications/{id}/submit"))).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    id
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let r = http().get(app.url(path)).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}: {}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    http().post(app.url(path)).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn pay_all(app: &TestApp, id: &str) {
    let orders = app.state.store.orders_for(id).await.unwrap();
    assert!(!orders.is_empty());
    for o in orders {
        let n = VerifiedNotice {
            event_id: format!("evt-{}", o.order_no),
            order_no: o.order_no.clone(),
            provider_trade_no: Some("2026112622001400009".into()),
            amount_fen: o.amount_fen,
            merchant_id: "m".into(),
            outcome: NoticeOutcome::Paid { at: time::OffsetDateTime::now_utc() },
        };
        service::apply_notice(&app.state, "alipay", "m", &n).await.unwrap();
    }
}

async fn state_of(app: &TestApp, id: &str) -> String {
    app.state.store.application(id).await.unwrap().unwrap().state.code().to_string()
}

on_both!(online_renewal_end_to_end_with_pickup, |app| {
    let citizen = verified(&app, "13800000601", ZHANG).await;
    let elig = get(&app, &citizen, "/api/v1/applications/eligibility?kind=renewal_expiry").await;
    assert_eq!(elig["eligible"], true, "{elig}");
    // The demo counter clerk's point, so that the clerk hands the card over there.
    let point = app.state.store.staff_by_username("counter").await.unwrap().unwrap().scope.code;
    let id = submitted(&app, &citizen, json!({ "method": "pickup", "point_id": point })).await;
    assert_eq!(state_of(&app, &id).await, "submitted");

    // Review: in the reviewer's queue, claimed, approved; the payment orders are issued.
    let reviewer = app.staff_token(&http(), "reviewer").await;
    let queue = get(&app, &reviewer, "/api/v1/review/queue").await;
    assert!(queue.as_array().unwrap().iter().any(|a| a["id"] == id.as_str()));
    let claimed: Value = post(&app, &reviewer, &format!("/api/v1/review/{id}/claim"), json!({})).await.json().await.unwrap();
    assert_eq!(claimed["state"], "under_review");
    let r = post(&app, &reviewer, &format!("/api/v1/review/{id}/decision"), json!({ "decision": "approve", "version": claimed["version"] })).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(state_of(&app, &id).await, "awaiting_payment");
    let detail = get(&app, &citizen, &format!("/api/v1/applications/{id}")).await;
    let payments = detail["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 1, "pickup: the card fee only");
    assert_eq!(payments[0]["amount_fen"], 2000);

    // Paying moves it on; production, quality check, routing to the pickup point, collection.
    pay_all(&app, &id).await;
    assert_eq!(state_of(&app, &id).await, "paid");
    let production = app.staff_token(&http(), "production").await;
    let r = post(&app, &production, "/api/v1/production/batches", json!({ "ids": [id] })).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["started"], 1);
    for step in ["mark_produced", "pass_quality_check", "route_to_pickup"] {
        let r = post(&app, &production, &format!("/api/v1/production/{id}/step"), json!({ "step": step })).await;
        assert_eq!(r.status(), 200, "{step}: {}", r.text().await.unwrap());
    }
    assert_eq!(state_of(&app, &id).await, "ready_for_pickup");
    let counter = app.staff_token(&http(), "counter").await;
    let r = post(&app, &counter, &format!("/api/v1/counter/applications/{id}/handover"), json!({ "kind": "collected", "verified": false })).await;
    let (s, code) = code_of(r).await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "fingerprint_not_verified"));
    let r = post(&app, &counter, &format!("/api/v1/counter/applications/{id}/handover"), json!({ "kind": "collected", "verified": true })).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(state_of(&app, &id).await, "collected");
    // The new card is the citizen's current card now (expiry reminders follow it).
    let citizen_id = app.state.store.application(&id).await.unwrap().unwrap().citizen_id.unwrap();
    let card = app.state.store.card(&citizen_id).await.unwrap().expect("card recorded");
    assert_eq!(card.issued_on, app.state.clock.today_cst().to_string());

    // The timeline has every stage, and the citizen was told of each by SMS.
    let detail = get(&app, &citizen, &format!("/api/v1/applications/{id}")).await;
    let states: Vec<&str> = detail["timeline"].as_array().unwrap().iter().map(|e| e["to_state"].as_str().unwrap()).collect();
    assert_eq!(
        states,
        ["submitted", "under_review", "approved", "awaiting_payment", "paid", "in_production", "produced", "quality_checked", "ready_for_pickup", "collected"]
    );
    let sms = app.state.store.outbox(Some("13800000601"), 50).await.unwrap();
    assert!(sms.iter().any(|m| m.body.contains("审核通过")), "{sms:?}");
});

on_both!(ineligible_and_bad_input_are_refused_cleanly, |app| {
    // Forcing the online route for a citizen whose last card is too old.
    let wang = verified(&app, "13800000602", WANG).await;
    let elig = get(&app, &wang, "/api/v1/applications/eligibility?kind=renewal_expiry").await;
    assert_eq!(elig["eligible"], false);
    assert!(!elig["refusals"].as_array().unwrap().is_empty());
    let (s, code) = code_of(create(&app, &wang, ems()).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "not_eligible_online"));
    assert!(app.state.store.applications_of(&app.state.store.citizen_for_phone("13800000602", 0).await.unwrap().id, 10).await.unwrap().is_empty());

    let zhang = verified(&app, "13800000603", ZHANG).await;
    // Delivery outside the province, a bad address, an unknown kind, a counter-only photo source.
    for (body, code) in [
        (json!({ "kind": "renewal_expiry", "portrait_source": "phone", "delivery": { "method": "ems", "division": "320102", "address": "江苏省南京市玄武区1号", "phone": "13800000001" } }), "not_eligible_online"),
        (json!({ "kind": "renewal_expiry", "portrait_source": "phone", "delivery": { "method": "ems", "division": "34x", "address": "安徽省合肥市", "phone": "13800000001" } }), "delivery_division_invalid"),
        (json!({ "kind": "renewal_expiry", "portrait_source": "phone", "delivery": { "method": "ems", "division": "340104", "address": "", "phone": "13800000001" } }), "delivery_address_invalid"),
        (json!({ "kind": "first_issue", "portrait_source": "phone", "delivery": ems() }), "not_eligible_online"),
        (json!({ "kind": "haircut", "portrait_source": "phone", "delivery": ems() }), "kind_invalid"),
        (json!({ "kind": "renewal_expiry", "portrait_source": "kiosk", "delivery": ems() }), "not_eligible_online"),
        (json!({ "kind": "renewal_expiry", "portrait_source": "phone", "delivery": { "method": "drone" } }), "delivery_method_invalid"),
    ] {
        let r = http().post(app.url("/api/v1/applications")).bearer_auth(&zhang).json(&body).send().await.unwrap();
        let (s, got) = code_of(r).await;
        assert_eq!((s, got.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, code), "{body}");
    }
    let r = create(&app, &zhang, ems()).await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    // One open application at a time.
    let (s, code) = code_of(create(&app, &zhang, ems()).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "application_open"));
    // Submitting without a photo; a photo that fails the engine is kept with its reasons.
    let (s, code) = code_of(post(&app, &zhang, &format!("/api/v1/applications/{id}/submit"), json!({})).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "portrait_missing"));
    let bad = upload(&app, &zhang, &id, NO_FACE).await;
    assert_eq!(bad["passed"], false);
    assert!(bad["issues"].as_array().unwrap().iter().any(|i| i["severity"] == "fail"));
    let r = http().post(app.url(&format!("/api/v1/applications/{id}/photo"))).bearer_auth(&zhang).body("not an image").send().await.unwrap();
    assert_eq!(code_of(r).await.1, "image_invalid");
    let kept = app.state.store.portraits_of(&app.state.store.application(&id).await.unwrap().unwrap().citizen_id.unwrap(), Some(&id), 10).await.unwrap();
    assert_eq!(kept.len(), 1, "the failing photo is kept with its verdict");
    assert!(!kept[0].passed);
    // Someone else's application is not found.
    let (other, _) = app.direct_citizen_session("13800000604").await;
    let r = http().get(app.url(&format!("/api/v1/applications/{id}"))).bearer_auth(&other).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Submit, then submit again: the second is refused and nothing changes.
    assert_eq!(upload(&app, &zhang, &id, GOOD_PHOTO).await["passed"], true);
    assert_eq!(post(&app, &zhang, &format!("/api/v1/applications/{id}/submit"), json!({})).await.status(), 200);
    let (s, code) = code_of(post(&app, &zhang, &format!("/api/v1/applications/{id}/submit"), json!({})).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "transition_not_allowed"));
    // A submitted application cannot be changed.
    let r = http().put(app.url(&format!("/api/v1/applications/{id}/delivery"))).bearer_auth(&zhang).json(&ems()).send().await.unwrap();
    assert_eq!(code_of(r).await.1, "transition_not_allowed");

    // Review outside one's scope; deciding without the claim; a return without reasons.
    let yaohai = app.staff_token(&http(), "reviewer.yaohai").await;
    assert_eq!(post(&app, &yaohai, &format!("/api/v1/review/{id}/claim"), json!({})).await.status(), StatusCode::NOT_FOUND);
    assert!(get(&app, &yaohai, "/api/v1/review/queue").await.as_array().unwrap().iter().all(|a| a["id"] != id.as_str()));
    let reviewer = app.staff_token(&http(), "reviewer").await;
    let (s, code) = code_of(post(&app, &reviewer, &format!("/api/v1/review/{id}/decision"), json!({ "decision": "approve" })).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "claim_required"));
    assert_eq!(post(&app, &reviewer, &format!("/api/v1/review/{id}/claim"), json!({})).await.status(), 200);
    let admin = app.staff_token(&http(), "admin").await;
    let (s, code) = code_of(post(&app, &admin, &format!("/api/v1/review/{id}/claim"), json!({})).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "claimed_by_other"));
    let (s, code) = code_of(post(&app, &reviewer, &format!("/api/v1/review/{id}/decision"), json!({ "decision": "return", "reasons": [] })).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "return_reason_missing"));
    let (s, code) = code_of(post(&app, &reviewer, &format!("/api/v1/review/{id}/decision"), json!({ "decision": "approve", "version": 1 })).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "application_changed"));
    // A citizen token cannot review, a reviewer cannot run production.
    assert_eq!(http().get(app.url("/api/v1/review/queue")).bearer_auth(&zhang).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(http().get(app.url("/api/v1/production/queue")).bearer_auth(&reviewer).send().await.unwrap().status(), StatusCode::FORBIDDEN);
});

on_both!(returned_for_correction_then_resubmitted, |app| {
    let zhang = verified(&app, "13800000611", ZHANG).await;
    let id = submitted(&app, &zhang, ems()).await;
    let reviewer = app.staff_token(&http(), "reviewer").await;
    post(&app, &reviewer, &format!("/api/v1/review/{id}/claim"), json!({})).await;
    let r = post(&app, &reviewer, &format!("/api/v1/review/{id}/decision"), json!({ "decision": "return", "reasons": ["photo_nonconforming", "other"], "note": "请露出双耳" })).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let a = get(&app, &zhang, &format!("/api/v1/applications/{id}")).await;
    assert_eq!(a["application"]["state"], "returned");
    assert_eq!(a["application"]["return_reasons"], json!(["photo_nonconforming", "other"]));
    // The photo return counts toward the online photo limit (Hefei rule 3).
    let c = app.state.store.application(&id).await.unwrap().unwrap().citizen_id.unwrap();
    assert_eq!(app.state.store.online_counters(&c, 0, 0, 0).await.unwrap().failed_photo_reviews, 1);
    let sms = app.state.store.outbox(Some("13800000611"), 20).await.unwrap();
    assert!(sms.iter().any(|m| m.body.contains("补正")), "{sms:?}");
    // New photo, resubmit: back in the queue, the SLA clock not restarted.
    let first_submit = app.state.store.application(&id).await.unwrap().unwrap().submitted_at;
    assert_eq!(upload(&app, &zhang, &id, GOOD_PHOTO).await["passed"], true);
    assert_eq!(post(&app, &zhang, &format!("/api/v1/applications/{id}/submit"), json!({})).await.status(), 200);
    let a = app.state.store.application(&id).await.unwrap().unwrap();
    assert_eq!((a.state.code(), a.submitted_at), ("submitted", first_submit));
});

on_both!(cancelling_after_payment_refunds_in_full_and_racing_moves_stay_consistent, |app| {
    let zhang = verified(&app, "13800000621", ZHANG).await;
    let id = submitted(&app, &zhang, ems()).await;
    let reviewer = app.staff_token(&http(), "reviewer").await;
    post(&app, &reviewer, &format!("/api/v1/review/{id}/claim"), json!({})).await;
    assert_eq!(post(&app, &reviewer, &format!("/api/v1/review/{id}/decision"), json!({ "decision": "approve" })).await.status(), 200);
    // EMS: card fee and postage.
    let orders = app.state.store.orders_for(&id).await.unwrap();
    let mut items: Vec<&str> = orders.iter().map(|o| o.item.as_str()).collect();
    items.sort();
    assert_eq!(items, ["postage", "renewal"]);
    pay_all(&app, &id).await;
    assert_eq!(state_of(&app, &id).await, "paid");
    // Replaying the notices changes nothing.
    pay_all(&app, &id).await;
    assert_eq!(app.state.store.application_events(&id).await.unwrap().iter().filter(|e| e.to_state.code() == "paid").count(), 1);

    // Racing: the citizen cancels while production starts. Exactly one wins; the state and the money agree.
    let production = app.staff_token(&http(), "production").await;
    let cancel_path = format!("/api/v1/applications/{id}/cancel");
    let (a, b) = tokio::join!(post(&app, &zhang, &cancel_path, json!({})), post(&app, &production, "/api/v1/production/batches", json!({ "ids": [id] })));
    let cancelled = a.status() == 200;
    let started = b.json::<Value>().await.unwrap()["started"] == 1;
    assert!(cancelled ^ started, "exactly one of cancel ({cancelled}) and start ({started})");
    let mut refunds = Vec::new();
    for o in &orders {
        refunds.extend(app.state.store.refunds_of(&o.id).await.unwrap());
    }
    if cancelled {
        assert_eq!(state_of(&app, &id).await, "cancelled");
        assert_eq!(refunds.iter().map(|r| r.amount_fen).sum::<i64>(), orders.iter().map(|o| o.amount_fen).sum::<i64>(), "full refund");
    } else {
        assert_eq!(state_of(&app, &id).await, "in_production");
        assert!(refunds.is_empty());
        // Now the citizen can no longer cancel.
        let (s, code) = code_of(post(&app, &zhang, &format!("/api/v1/applications/{id}/cancel"), json!({})).await).await;
        assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "cancel_not_allowed"));
    }
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaid_applications_expire_after_the_payment_window() {
    let clock = shenfen_server::app::Clock::fixed(time::OffsetDateTime::now_utc().unix_timestamp() * 1000);
    let app = TestApp::start_with(support::Db::Sqlite, clock.clone(), |_| {}).await.unwrap();
    let zhang = verified(&app, "13800000631", ZHANG).await;
    let id = submitted(&app, &zhang, ems()).await;
    let reviewer = app.staff_token(&http(), "reviewer").await;
    post(&app, &reviewer, &format!("/api/v1/review/{id}/claim"), json!({})).await;
    post(&app, &reviewer, &format!("/api/v1/review/{id}/decision"), json!({ "decision": "approve" })).await;
    assert_eq!(shenfen_server::applications::housekeeping(&app.state).await.unwrap().expired, 0);
    clock.advance_ms(49 * 3_600_000);
    assert_eq!(shenfen_server::applications::housekeeping(&app.state).await.unwrap().expired, 1);
    assert_eq!(state_of(&app, &id).await, "expired");
    assert!(app.state.store.orders_for(&id).await.unwrap().iter().all(|o| o.status.as_str() == "cancelled"), "the unpaid orders are closed");
    // Running it again does nothing more.
    assert_eq!(shenfen_server::applications::housekeeping(&app.state).await.unwrap().expired, 0);
}

/// The 15-working-day target on the official calendar: submitted on Monday 28 September 2026, the National Day
/// week (1–7 October off, Saturday 10 October worked) pushes the due date to 23 October, not 13 October.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_supervision_counts_working_days_across_national_day() {
    let clock = shenfen_server::app::Clock::fixed(time::macros::datetime!(2026-09-28 10:00 +8).unix_timestamp() * 1000);
    let app = TestApp::start_with(support::Db::Sqlite, clock.clone(), |_| {}).await.unwrap();
    let zhang = verified(&app, "13800000641", ZHANG).await;
    let point = app.state.store.staff_by_username("counter").await.unwrap().unwrap().scope.code;
    let id = submitted(&app, &zhang, json!({ "method": "pickup", "point_id": point })).await;
    let reviewer = app.staff_token(&http(), "reviewer").await;
    post(&app, &reviewer, &format!("/api/v1/review/{id}/claim"), json!({})).await;
    post(&app, &reviewer, &format!("/api/v1/review/{id}/decision"), json!({ "decision": "approve" })).await;
    pay_all(&app, &id).await;

    // Wednesday 21 October: 13 working days used, 2 left — at risk.
    clock.advance_ms((time::macros::datetime!(2026-10-21 10:00 +8) - time::macros::datetime!(2026-09-28 10:00 +8)).whole_milliseconds() as i64);
    let admin = app.staff_token(&http(), "admin").await;
    let s = get(&app, &admin, "/api/v1/supervision/sla").await;
    let open = &s["open"].as_array().unwrap()[0];
    assert_eq!((open["submitted_on"].as_str(), open["due_on"].as_str()), (Some("2026-09-28"), Some("2026-10-23")), "{s}");
    assert_eq!((open["days_used"].as_i64(), open["days_left"].as_i64(), open["status"].as_str()), (Some(13), Some(2), Some("at_risk")));
    assert_eq!((s["at_risk"].as_i64(), s["late"].as_i64()), (Some(1), Some(0)));
    let place = &s["places"].as_array().unwrap()[0];
    assert_eq!((place["place"].as_str().unwrap(), place["in_progress"].as_i64(), place["at_risk"].as_i64()), (format!("point:{point}").as_str(), Some(1), Some(1)));

    // The card reaches the pickup point that day: finished in 13 working days, within the target; the time went to
    // production (paid on 28 September, produced on 21 October), which the page names as the bottleneck.
    let production = app.staff_token(&http(), "production").await;
    post(&app, &production, "/api/v1/production/batches", json!({ "ids": [id] })).await;
    for step in ["mark_produced", "pass_quality_check", "route_to_pickup"] {
        assert_eq!(post(&app, &production, &format!("/api/v1/production/{id}/step"), json!({ "step": step })).await.status(), 200);
    }
    let s = get(&app, &admin, "/api/v1/supervision/sla?period_days=60").await;
    assert_eq!((s["finished"].as_i64(), s["met"].as_i64(), s["cycle_median"].as_f64()), (Some(1), Some(1), Some(13.0)), "{s}");
    assert_eq!(s["bottleneck"], "production");
    assert!(s["open"].as_array().unwrap().is_empty());
    // A day after the due date an unfinished one would be late: a second application submitted now is on track.
    let (s_code, _) = code_of(http().get(app.url("/api/v1/supervision/sla?period_days=0")).bearer_auth(&admin).send().await.unwrap()).await;
    assert_eq!(s_code, StatusCode::UNPROCESSABLE_ENTITY);
}

on_both!(counter_staff_enter_a_first_issue_for_someone_without_an_account, |app| {
    let counter = app.staff_token(&http(), "counter").await;
    let point = app.state.store.staff_by_username("counter").await.unwrap().unwrap().scope.code;
    // 钱七: 蜀山区, never had a card — first issue is counter-only.
    let body = |name: &str| json!({ "name": name, "id_number": "340104200808085795", "kind": "first_issue", "phone": "13800000651", "delivery": { "method": "pickup", "point_id": point } });
    let (s, code) = code_of(post(&app, &counter, "/api/v1/counter/applications", body("张三")).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "identity_mismatch"));
    let r = post(&app, &counter, "/api/v1/counter/applications", body("钱七")).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let a: Value = r.json().await.unwrap();
    assert_eq!((a["channel"].as_str(), a["kind"].as_str(), a["fee_fen"].as_i64()), (Some("counter"), Some("first_issue"), Some(2000)));
    let id = a["id"].as_str().unwrap().to_string();
    let (s, code) = code_of(post(&app, &counter, "/api/v1/counter/applications", body("钱七")).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "application_open"));
    // Submitting needs the counter photo; a phone source is not a counter source.
    let (s, code) = code_of(post(&app, &counter, &format!("/api/v1/counter/applications/{id}/submit"), json!({})).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "portrait_missing"));
    let photo_url = |src: &str| app.url(&format!("/api/v1/counter/applications/{id}/photo?source={src}"));
    let r = http().post(photo_url("phone")).bearer_auth(&counter).body(photo(GOOD_PHOTO)).send().await.unwrap();
    assert_eq!(code_of(r).await.1, "portrait_source_invalid");
    let r = http().post(photo_url("counter_capture")).bearer_auth(&counter).body(photo(GOOD_PHOTO)).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["passed"], true);
    assert_eq!(post(&app, &counter, &format!("/api/v1/counter/applications/{id}/submit"), json!({})).await.status(), 200);
    // It is in the reviewer's queue like any other; citizens and other points cannot touch it.
    let reviewer = app.staff_token(&http(), "reviewer").await;
    assert!(get(&app, &reviewer, "/api/v1/review/queue").await.as_array().unwrap().iter().any(|x| x["id"] == id.as_str()));
    let (citizen, _) = app.direct_citizen_session("13800000652").await;
    assert_eq!(post(&app, &citizen, "/api/v1/counter/applications", body("钱七")).await.status(), StatusCode::FORBIDDEN);
    let production = app.staff_token(&http(), "production").await;
    assert_eq!(post(&app, &production, &format!("/api/v1/counter/applications/{id}/submit"), json!({})).await.status(), StatusCode::FORBIDDEN);
});

on_both!(started_online_and_finished_at_the_counter_of_an_appointment, |app| {
    // 王五's card is too old for the online route; he fills the application in at home and finishes it at the
    // counter he booked.
    let wang = verified(&app, "13800000631", WANG).await;
    let point = app.state.store.staff_by_username("counter").await.unwrap().unwrap().scope.code;
    let p = app.state.store.point(&point).await.unwrap().unwrap();
    shenfen_server::appointments::ensure_slots(&app.state, &p).await.unwrap();
    let slots: Vec<Value> = http().get(app.url(&format!("/api/v1/points/{point}/slots"))).send().await.unwrap().json().await.unwrap();
    let slot = slots.iter().find(|s| s["bookable"] == true).expect("a bookable slot")["id"].as_str().unwrap().to_string();
    let r = post(&app, &wang, "/api/v1/appointments", json!({ "slot_id": slot, "service": "renewal" })).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let appointment: Value = r.json().await.unwrap();
    let body = |appointment_id: &str, source: &str| {
        json!({ "kind": "renewal_expiry", "portrait_source": source, "delivery": { "method": "pickup", "point_id": point }, "appointment_id": appointment_id })
    };

    // Without an appointment the online route refuses him; an appointment that is not his is refused too.
    let (s, code) = code_of(post(&app, &wang, "/api/v1/applications", json!({ "kind": "renewal_expiry", "portrait_source": "phone", "delivery": { "method": "pickup", "point_id": point } })).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "not_eligible_online"));
    let (s, code) = code_of(post(&app, &wang, "/api/v1/applications", body("no-such-appointment", "counter_capture")).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "appointment_invalid"));
    let zhang = verified(&app, "13800000632", ZHANG).await;
    let (s, code) = code_of(post(&app, &zhang, "/api/v1/applications", body(appointment["id"].as_str().unwrap(), "counter_capture")).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "appointment_invalid"), "someone else's appointment");
    // His photo on file is too old to reuse, whatever the route.
    let (s, code) = code_of(post(&app, &wang, "/api/v1/applications", body(appointment["id"].as_str().unwrap(), "reuse_on_file")).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "portrait_reuse_too_old"));

    let r = post(&app, &wang, "/api/v1/applications", body(appointment["id"].as_str().unwrap(), "counter_capture")).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let a: Value = r.json().await.unwrap();
    let id = a["id"].as_str().unwrap().to_string();
    assert_eq!((a["channel"].as_str(), a["point_id"].as_str(), a["appointment_id"].as_str()), (Some("online_then_counter"), Some(point.as_str()), appointment["id"].as_str()));
    // He cannot submit it himself: the counter finishes it.
    let (s, code) = code_of(post(&app, &wang, &format!("/api/v1/applications/{id}/submit"), json!({})).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "finish_at_counter"));

    // At the counter: the clerk sees it waiting, finds it by the appointment code, takes the photo and submits.
    let counter = app.staff_token(&http(), "counter").await;
    let waiting = get(&app, &counter, "/api/v1/counter/applications/waiting").await;
    assert!(waiting.as_array().unwrap().iter().any(|w| w["id"] == id.as_str()), "{waiting}");
    let r = http().get(app.url("/api/v1/counter/applications/by-appointment?code=ZZZZ9999")).bearer_auth(&counter).send().await.unwrap();
    assert_eq!(code_of(r).await, (StatusCode::NOT_FOUND, "application_not_found".to_string()));
    let found = get(&app, &counter, &format!("/api/v1/counter/applications/by-appointment?code={}", appointment["code"].as_str().unwrap().to_lowercase())).await;
    assert_eq!(found["id"], id.as_str());
    let (s, code) = code_of(post(&app, &counter, &format!("/api/v1/counter/applications/{id}/submit"), json!({})).await).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "portrait_missing"));
    let r = http().post(app.url(&format!("/api/v1/counter/applications/{id}/photo"))).bearer_auth(&counter).header("content-type", "image/jpeg").body(photo(GOOD_PHOTO)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = post(&app, &counter, &format!("/api/v1/counter/applications/{id}/submit"), json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(state_of(&app, &id).await, "submitted");
    assert!(get(&app, &counter, "/api/v1/counter/applications/waiting").await.as_array().unwrap().iter().all(|w| w["id"] != id.as_str()));
    // A reviewer is not a counter clerk.
    let reviewer = app.staff_token(&http(), "reviewer").await;
    assert_eq!(http().get(app.url("/api/v1/counter/applications/waiting")).bearer_auth(&reviewer).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    // His own page shows it; the timeline starts at the counter's submission.
    let detail = get(&app, &wang, &format!("/api/v1/applications/{id}")).await;
    assert_eq!(detail["timeline"][0]["to_state"], "submitted");
    assert_eq!(detail["timeline"][0]["actor_kind"], "staff");
});
