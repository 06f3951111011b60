//! HTTP-level tests of smart appointments, on SQLite and PostgreSQL.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, http};

const ZHANG: (&str, &str) = ("张三", "34010419900307177X");
const LI: (&str, &str) = ("李四", "34010219850615246X");
/// The demo point the `counter` account works at (first demo point in 蜀山区).
const SHUSHAN_POINT_PREFIX: &str = "demo-340104";

async fn verified_citizen(app: &TestApp, c: &reqwest::Client, phone: &str, who: (&str, &str)) -> String {
    let t = app.citizen_token(c, phone).await;
    let r = c.post(app.url("/api/v1/me/verification/primary")).bearer_auth(&t).json(&json!({ "name": who.0, "id_number": who.1 })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    t
}

async fn counter_point(app: &TestApp) -> String {
    let counter = app.state.store.staff_by_username("counter").await.unwrap().unwrap();
    let p = app.state.store.point(&counter.scope.code).await.unwrap().unwrap();
    assert!(p.id.starts_with(SHUSHAN_POINT_PREFIX));
    shenfen_server::appointments::ensure_slots(&app.state, &p).await.unwrap();
    p.id
}

async fn bookable_slots(app: &TestApp, c: &reqwest::Client, point: &str) -> Vec<Value> {
    let slots: Vec<Value> = c.get(app.url(&format!("/api/v1/points/{point}/slots"))).send().await.unwrap().json().await.unwrap();
    slots.into_iter().filter(|s| s["bookable"] == true).collect()
}

async fn code_of(r: reqwest::Response) -> (StatusCode, String) {
    let s = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (s, v["error"]["code"].as_str().unwrap_or("").to_string())
}

on_both!(points_list_sorted_by_distance_with_live_load, |app| {
    let c = http();
    // A WGS-84 position near the centre of 蜀山区.
    let list: Vec<Value> = c.get(app.url("/api/v1/points?lat=31.8585&lng=117.2566")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.len(), 49);
    let d: Vec<u64> = list.iter().map(|p| p["distance_m"].as_u64().unwrap()).collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "nearest first");
    assert_eq!(list[0]["district_code"], "340104");
    assert!(list[0]["load"]["level"].is_string() && list[0]["load"]["color"].as_str().unwrap().starts_with('#'));
    // A district chosen by hand works too.
    let by_district: Vec<Value> = c.get(app.url("/api/v1/points?district=340111")).send().await.unwrap().json().await.unwrap();
    assert_eq!(by_district[0]["district_code"], "340111");
    for (q, code) in [("lat=40.0", "location_malformed"), ("lat=51.5&lng=-0.12", "location_outside_china"), ("lat=abc&lng=1", ""), ("district=999999", "district_unknown")] {
        let r = c.get(app.url(&format!("/api/v1/points?{q}"))).send().await.unwrap();
        let (s, got) = code_of(r).await;
        assert!(s.is_client_error(), "{q}");
        if !code.is_empty() {
            assert_eq!(got, code, "{q}");
        }
    }
});

on_both!(point_detail_has_navigation_links, |app| {
    let c = http();
    let point = counter_point(&app).await;
    let d: Value = c.get(app.url(&format!("/api/v1/points/{point}?mode=walk&lat=31.85&lng=117.25"))).send().await.unwrap().json().await.unwrap();
    let nav = &d["navigation"];
    assert!(nav["amap_web"].as_str().unwrap().starts_with("https://uri.amap.com/navigation?"));
    assert!(nav["amap_android"].as_str().unwrap().starts_with("amapuri://route/plan/"));
    assert!(nav["baidu_android"].as_str().unwrap().contains("coord_type=gcj02"));
    assert!(nav["tencent_web"].as_str().unwrap().contains("tocoord="));
    assert!(nav["baidu_web"].is_string(), "with an origin Baidu's web link exists");
    let (s, code) = code_of(c.get(app.url(&format!("/api/v1/points/{point}?mode=fly"))).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "mode_invalid"));
    let (s, code) = code_of(c.get(app.url("/api/v1/points/nope")).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::NOT_FOUND, "point_not_found"));
});

on_both!(book_cancel_and_rules, |app| {
    let c = http();
    let point = counter_point(&app).await;
    // Slots after today, so that the cancellation cut-off (2 hours before the start) never interferes.
    let today = shenfen_server::appointments::day_key(shenfen_server::appointments::local_now(&app.state).date());
    let slots: Vec<Value> = bookable_slots(&app, &c, &point).await.into_iter().filter(|s| s["day"] != today.as_str()).collect();
    assert!(slots.len() > 10, "the horizon has bookable slots");
    let slot = slots[0]["id"].as_str().unwrap().to_string();

    let unverified = app.citizen_token(&c, "13800000201").await;
    let (s, code) = code_of(c.post(app.url("/api/v1/appointments")).bearer_auth(&unverified).json(&json!({ "slot_id": slot, "service": "renewal" })).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::FORBIDDEN, "verification_required"));

    let zhang = verified_citizen(&app, &c, "13800000202", ZHANG).await;
    let book = |token: &str, slot: &str, service: &str| c.post(app.url("/api/v1/appointments")).bearer_auth(token.to_string()).json(&json!({ "slot_id": slot, "service": service })).send();
    for (slot_id, service, status, code) in [
        ("nope", "renewal", StatusCode::NOT_FOUND, "slot_not_found"),
        (slot.as_str(), "haircut", StatusCode::UNPROCESSABLE_ENTITY, "unknown_service"),
    ] {
        assert_eq!(code_of(book(&zhang, slot_id, service).await.unwrap()).await, (status, code.to_string()));
    }
    let r = book(&zhang, &slot, "renewal").await.unwrap();
    assert_eq!(r.status(), 201);
    let appt: Value = r.json().await.unwrap();
    assert_eq!(appt["status"], "booked");
    let sms = app.state.store.outbox(Some("13800000202"), 1).await.unwrap();
    assert!(sms[0].body.contains(appt["code"].as_str().unwrap()), "booking SMS carries the code");
    let (s, code) = code_of(book(&zhang, &slots[1]["id"].as_str().unwrap(), "renewal").await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "already_booked"));

    // Another citizen cannot cancel it: reported as not found, and nothing changes.
    let li = verified_citizen(&app, &c, "13800000203", LI).await;
    let id = appt["id"].as_str().unwrap();
    let (s, code) = code_of(c.post(app.url(&format!("/api/v1/appointments/{id}/cancel"))).bearer_auth(&li).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::NOT_FOUND, "appointment_not_found"));

    // Reschedule, then cancel.
    let other = slots[2]["id"].as_str().unwrap();
    let r = c.post(app.url(&format!("/api/v1/appointments/{id}/reschedule"))).bearer_auth(&zhang).json(&json!({ "slot_id": other })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.post(app.url(&format!("/api/v1/appointments/{id}/cancel"))).bearer_auth(&zhang).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mine: Vec<Value> = c.get(app.url("/api/v1/appointments")).bearer_auth(&zhang).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine[0]["status"], "cancelled");
    let (_, code) = code_of(c.post(app.url(&format!("/api/v1/appointments/{id}/cancel"))).bearer_auth(&zhang).send().await.unwrap()).await;
    assert_eq!(code, "appointment_not_active");

    // Three cancellations in a month suspend booking for the month.
    for i in 0..2 {
        let r: Value = book(&zhang, slots[3 + i]["id"].as_str().unwrap(), "renewal").await.unwrap().json().await.unwrap();
        let id = r["id"].as_str().unwrap();
        assert_eq!(c.post(app.url(&format!("/api/v1/appointments/{id}/cancel"))).bearer_auth(&zhang).send().await.unwrap().status(), 200);
    }
    let (s, code) = code_of(book(&zhang, &slot, "renewal").await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::FORBIDDEN, "booking_suspended"));

    // Every action was audited.
    let actions: Vec<String> = app.state.store.audit_entries(0, 1000).await.unwrap().into_iter().map(|e| e.record.action).collect();
    assert_eq!(actions.iter().filter(|a| *a == "appointment.book").count(), 3);
    assert_eq!(actions.iter().filter(|a| *a == "appointment.cancel").count(), 3);
    assert_eq!(actions.iter().filter(|a| *a == "appointment.reschedule").count(), 1);
});

on_both!(counter_check_in_and_queue, |app| {
    let c = http();
    let point = counter_point(&app).await;
    let counter = app.staff_token(&c, "counter").await;
    let zhang = verified_citizen(&app, &c, "13800000211", ZHANG).await;

    // Walk-ins get W numbers.
    let w: Value = c.post(app.url(&format!("/api/v1/points/{point}/walk-ins"))).bearer_auth(&counter).send().await.unwrap().json().await.unwrap();
    assert_eq!(w["number"], "W001");
    // A forged code is refused; a citizen cannot run the counter; the reviewer neither.
    let (s, code) = code_of(c.post(app.url(&format!("/api/v1/points/{point}/check-ins"))).bearer_auth(&counter).json(&json!({ "code": "ZZZZZZZZ" })).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_check_in"));
    assert_eq!(c.post(app.url(&format!("/api/v1/points/{point}/walk-ins"))).bearer_auth(&zhang).send().await.unwrap().status(), 403);
    let reviewer = app.staff_token(&c, "reviewer").await;
    assert_eq!(c.post(app.url(&format!("/api/v1/points/{point}/walk-ins"))).bearer_auth(&reviewer).send().await.unwrap().status(), 403);
    // Counter staff of one point cannot run another.
    let other_point = app.state.store.list_points().await.unwrap().into_iter().find(|p| p.id != point).unwrap().id;
    assert_eq!(c.post(app.url(&format!("/api/v1/points/{other_point}/walk-ins"))).bearer_auth(&counter).send().await.unwrap().status(), 403);

    // Call next, finish, and the public board.
    let called: Value = c.post(app.url(&format!("/api/v1/points/{point}/calls"))).bearer_auth(&counter).json(&json!({ "window": 1 })).send().await.unwrap().json().await.unwrap();
    assert_eq!(called["number"], "W001");
    let (s, code) = code_of(c.post(app.url(&format!("/api/v1/points/{point}/calls"))).bearer_auth(&counter).json(&json!({ "window": 99 })).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "window_invalid"));
    assert_eq!(c.post(app.url(&format!("/api/v1/points/{point}/calls"))).bearer_auth(&counter).json(&json!({ "window": 2 })).send().await.unwrap().status(), 204, "nobody waits");
    let board: Value = c.get(app.url(&format!("/api/v1/points/{point}/queue"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(board["called"][0]["number"], "W001");
    let tid = called["id"].as_str().unwrap();
    let r = c.post(app.url(&format!("/api/v1/points/{point}/tickets/{tid}/finish"))).bearer_auth(&counter).json(&json!({ "served": true })).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Today's appointment check-in needs a slot today; use a direct booking through the store for today if the
    // point is open today, else check that another day's code is refused.
    let slots = bookable_slots(&app, &c, &point).await;
    let r: Value = c.post(app.url("/api/v1/appointments")).bearer_auth(&zhang).json(&json!({ "slot_id": slots[0]["id"], "service": "renewal" })).send().await.unwrap().json().await.unwrap();
    let today = shenfen_server::appointments::day_key(shenfen_server::appointments::local_now(&app.state).date());
    let res = c.post(app.url(&format!("/api/v1/points/{point}/check-ins"))).bearer_auth(&counter).json(&json!({ "code": r["code"] })).send().await.unwrap();
    if slots[0]["day"] == today.as_str() {
        assert_eq!(res.status(), 201);
        assert_eq!(res.json::<Value>().await.unwrap()["number"], "A001");
    } else {
        assert_eq!(code_of(res).await.1, "invalid_check_in", "a code for another day is refused");
    }
});

on_both!(paused_point_refuses_bookings, |app| {
    let c = http();
    let point = counter_point(&app).await;
    let counter = app.staff_token(&c, "counter").await;
    let (s, code) = code_of(c.put(app.url(&format!("/api/v1/points/{point}/status"))).bearer_auth(&counter).json(&json!({ "status": "paused" })).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "reason_required"));
    let r = c.put(app.url(&format!("/api/v1/points/{point}/status"))).bearer_auth(&counter).json(&json!({ "status": "paused", "reason": "系统维护" })).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let slots: Vec<Value> = c.get(app.url(&format!("/api/v1/points/{point}/slots"))).send().await.unwrap().json().await.unwrap();
    assert!(slots.iter().all(|s| s["bookable"] == false));
    let zhang = verified_citizen(&app, &c, "13800000221", ZHANG).await;
    let (s, code) = code_of(c.post(app.url("/api/v1/appointments")).bearer_auth(&zhang).json(&json!({ "slot_id": slots[5]["id"], "service": "renewal" })).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "point_paused"));
    let list: Vec<Value> = c.get(app.url("/api/v1/points")).send().await.unwrap().json().await.unwrap();
    let me = list.iter().find(|p| p["id"] == point.as_str()).unwrap();
    assert_eq!((me["load"]["status"].as_str(), me["load"]["status_reason"].as_str()), (Some("paused"), Some("系统维护")));
});

on_both!(suggestions_rank_points_with_room, |app| {
    let c = http();
    let point = counter_point(&app).await;
    let slots = bookable_slots(&app, &c, &point).await;
    let day = slots[0]["day"].as_str().unwrap();
    // Make neighbours' slots exist for that day too.
    for p in app.state.store.list_points().await.unwrap().into_iter().filter(|p| p.district_code == "340104") {
        shenfen_server::appointments::ensure_slots(&app.state, &p).await.unwrap();
    }
    let s: Vec<Value> = c.get(app.url(&format!("/api/v1/suggestions?district=340104&day={day}&service=renewal"))).send().await.unwrap().json().await.unwrap();
    assert!(!s.is_empty());
    let scores: Vec<f64> = s.iter().map(|x| x["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] <= w[1]), "ranked by score");
    let (st, code) = code_of(c.get(app.url(&format!("/api/v1/suggestions?day={day}&service=renewal"))).send().await.unwrap()).await;
    assert_eq!((st, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "location_required"));
});

// Hundreds of simultaneous bookings at the last seats over HTTP: exactly the free seats succeed.
on_both!(never_overbook_over_http, |app| {
    let c = http();
    let point = counter_point(&app).await;
    let slot = bookable_slots(&app, &c, &point).await[0].clone();
    let capacity = slot["capacity"].as_i64().unwrap();
    let slot_id = slot["id"].as_str().unwrap().to_string();
    // Citizens verified directly in the store to keep the test fast; booking goes through HTTP.
    let registry = shenfen_server::registry::DemoRegistry::new();
    let mut tokens = Vec::new();
    for i in 0..150 {
        let phone = format!("137{:08}", i);
        let (t, citizen) = app.direct_citizen_session(&phone).await;
        let r = &registry.residents()[0];
        let ident = shenfen_store::VerifiedIdentity {
            name_enc: vec![1],
            name_masked: "张*".into(),
            id_number_enc: vec![1],
            id_number_blind: format!("blind-{i}"),
            id_number_masked: r.id_number.masked(),
            hukou_code: "340104".into(),
        };
        app.state.store.record_primary_verification(&citizen.id, &ident, 0).await.unwrap();
        tokens.push(t);
    }
    let mut tasks = Vec::new();
    for t in tokens {
        let req = c.post(app.url("/api/v1/appointments")).bearer_auth(t).json(&json!({ "slot_id": slot_id, "service": "renewal" }));
        tasks.push(tokio::spawn(async move { req.send().await.unwrap().status().as_u16() }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        *statuses.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&201).copied().unwrap_or(0), capacity, "{statuses:?}");
    assert_eq!(statuses.get(&409).copied().unwrap_or(0), 150 - capacity, "{statuses:?}");
    let stored = app.state.store.slot(&slot_id).await.unwrap().unwrap();
    assert_eq!(stored.booked, capacity);
});

// Day-before reminders go out once, only in daytime hours; missed appointments become no-shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_once_in_daytime_and_no_shows() {
    use shenfen_server::appointments::{housekeeping, local_to_ms};
    // Monday 2025-11-10 07:30 China time: before the reminder hours.
    let start = local_to_ms(time::macros::datetime!(2025-11-10 07:30));
    let clock = shenfen_server::app::Clock::fixed(start);
    let app = TestApp::start_with(support::Db::Sqlite, clock.clone(), |_| {}).await.unwrap();
    let c = http();
    let point = counter_point(&app).await;
    let zhang = verified_citizen(&app, &c, "13800000231", ZHANG).await;
    let tomorrow: Vec<Value> = bookable_slots(&app, &c, &point).await.into_iter().filter(|s| s["day"] == "2025-11-11").collect();
    let r = c.post(app.url("/api/v1/appointments")).bearer_auth(&zhang).json(&json!({ "slot_id": tomorrow[0]["id"], "service": "renewal" })).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let appt_id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let before = app.state.store.outbox(Some("13800000231"), 10).await.unwrap().len();

    assert_eq!(housekeeping(&app.state).await.unwrap().reminders_sent, 0, "no reminder SMS before 08:00");
    clock.advance_ms(2 * 3_600_000); // 09:30
    assert_eq!(housekeeping(&app.state).await.unwrap().reminders_sent, 1);
    assert_eq!(housekeeping(&app.state).await.unwrap().reminders_sent, 0, "sent once");
    let sms = app.state.store.outbox(Some("13800000231"), 10).await.unwrap();
    assert_eq!(sms.len(), before + 1);
    assert!(sms[0].body.contains("提醒"));

    // Two days later the appointment was missed: marked as a no-show once, and audited.
    clock.advance_ms(2 * 86_400_000);
    assert_eq!(housekeeping(&app.state).await.unwrap().no_shows, 1);
    assert_eq!(housekeeping(&app.state).await.unwrap().no_shows, 0);
    let appt = app.state.store.appointment(&appt_id).await.unwrap().unwrap();
    assert_eq!(appt.status, shenfen_store::AppointmentStatus::NoShow);
    assert!(app.state.store.audit_entries(0, 1000).await.unwrap().iter().any(|e| e.record.action == "appointment.no_show"));
}
