//! Service statistics over HTTP, on SQLite and PostgreSQL: a small known history (bookings and walk-ins, payments
//! in several channels, applications across National Day 2026 with a return and a rejection, accounts) and the
//! exact figures the API, the CSV export and the dashboard give for it; scope limits; bad parameters.

mod support;

use serde_json::Value;
use shenfen_domain::applications::{ApplicationKind, ApplicationState as S, Channel, DeliveryMethod};
use shenfen_domain::stats::{Trip, day_start_ms};
use shenfen_server::app::Clock;
use shenfen_store::*;
use support::{Db, TestApp};

/// `hour` o'clock China time on `day`.
fn at(day: &str, hour: i64) -> i64 {
    day_start_ms(shenfen_domain::timefmt::parse_date(day).unwrap()) + hour * 3_600_000
}

fn application(channel: Channel, delivery: DeliveryMethod, division: &str, point_id: Option<&str>) -> Application {
    let id = new_id();
    Application {
        ref_no: format!("SQ{}", &id.replace('-', "")[20..]),
        id,
        citizen_id: None,
        kind: ApplicationKind::RenewalExpiry,
        channel,
        state: S::Draft,
        version: 1,
        applicant_name_enc: vec![1],
        applicant_name_masked: "张*".into(),
        applicant_id_enc: vec![2],
        applicant_id_masked: "3401**********1234".into(),
        applicant_id_blind: new_id(),
        division_code: division.into(),
        point_id: point_id.map(str::to_string),
        portrait_source: None,
        portrait_id: None,
        delivery_method: delivery,
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
        submitted_at: None,
        approved_at: None,
        payment_due_at: None,
        finished_at: None,
        created_at: 0,
        updated_at: 0,
    }
}

async fn walk(store: &DynStore, a: Application, steps: &[(S, i64)]) -> Application {
    store.insert_application(&a).await.unwrap();
    let mut cur = a;
    for (to, when) in steps {
        let t = AppliedTransition {
            application_id: cur.id.clone(),
            expected_version: cur.version,
            from: cur.state,
            to: *to,
            changes: ApplicationChanges::default(),
            event: "test".into(),
            actor_kind: "system".into(),
            actor_id: "test".into(),
            detail: "{}".into(),
            online_cancellation: false,
            failed_photo_review: false,
            at: *when,
        };
        cur = store.apply_transition(&t).await.unwrap().expect("move applies");
    }
    cur
}

async fn pay(store: &DynStore, reference: &str, channel: &str, amount_fen: i64, point_id: Option<&str>, paid_at: i64) {
    let o = PaymentOrder {
        id: new_id(),
        order_no: order_number(),
        citizen_id: None,
        reference: reference.into(),
        item: "renewal".into(),
        amount_fen,
        channel: Some(channel.into()),
        status: PaymentStatus::Created,
        failure_code: None,
        provider_trade_no: None,
        refunded_fen: 0,
        point_id: point_id.map(str::to_string),
        staff_id: None,
        cash_received_fen: None,
        created_at: paid_at,
        updated_at: paid_at,
        expires_at: paid_at + 3_600_000,
        paid_at: None,
        opened_at: None,
    };
    store.create_order(&o, None).await.unwrap();
    let u = OrderUpdate { paid_at: Some(paid_at), ..Default::default() };
    store.change_status(&o.order_no, &[PaymentStatus::Created], PaymentStatus::Success, &u, paid_at).await.unwrap().unwrap();
}

struct Places {
    /// The counter staff's point in 蜀山区 (340104), and a point in 瑶海区 (340102).
    p1: String,
    p3: String,
}

fn ident(n: &str, hukou: &str) -> VerifiedIdentity {
    VerifiedIdentity {
        name_enc: vec![1],
        name_masked: "张*".into(),
        id_number_enc: vec![2],
        id_number_blind: format!("blind-{n}"),
        id_number_masked: "3401**********1234".into(),
        hukou_code: hukou.into(),
    }
}

/// The history (see the module docs); every figure asserted below follows from it.
async fn history(app: &TestApp) -> Places {
    let store = &app.state.store;
    let points = store.list_points().await.unwrap();
    let counter = app.state.store.staff_by_username("counter").await.unwrap().unwrap();
    let p1 = counter.scope.code.clone();
    assert_eq!(store.point(&p1).await.unwrap().unwrap().district_code, "340104");
    let p3 = points.iter().find(|p| p.district_code == "340102").unwrap().id.clone();

    // Accounts before the range: one verified in 蜀山区, one never verified.
    let c = store.citizen_for_phone("13900000001", at("2026-09-20", 9)).await.unwrap();
    store.record_primary_verification(&c.id, &ident("a", "340104"), at("2026-09-20", 10)).await.unwrap();
    store.citizen_for_phone("13900000002", at("2026-09-21", 9)).await.unwrap();

    // Four appointments made on 09-28 (three at p1 for the 29th, one at p3 for the 30th), all kept; one walk-in
    // at each point. The four accounts are new that day and never verified.
    let mut slots = Vec::new();
    for (point, day) in [(&p1, "2026-09-29"), (&p3, "2026-09-30")] {
        store.ensure_slots(&[NewSlot { point_id: point.clone(), day: day.into(), start_min: 540, end_min: 570, starts_at: at(day, 9), capacity: 10 }]).await.unwrap();
        slots.push((point.clone(), day, store.slots(point, day, day).await.unwrap().remove(0)));
    }
    for (i, (point, day, slot)) in [&slots[0], &slots[0], &slots[0], &slots[1]].into_iter().enumerate() {
        let citizen = store.citizen_for_phone(&format!("1390000010{i}"), at("2026-09-28", 8)).await.unwrap();
        let req = NewAppointment {
            citizen_id: citizen.id,
            slot_id: slot.id.clone(),
            service: "renewal".into(),
            month: "2026-09".into(),
            max_cancellations_per_month: 3,
            max_no_shows_per_month: 3,
            now: at("2026-09-28", 9),
        };
        let appt = store.book(&req).await.unwrap();
        let t = store.check_in(point, day, &appt.code, at(day, 9)).await.unwrap();
        store.call_ticket(&t.id, 1, at(day, 9)).await.unwrap();
        store.finish_ticket(&t.id, TicketStatus::Served, at(day, 10)).await.unwrap();
    }
    store.walk_in_ticket(&p1, "2026-09-29", at("2026-09-29", 11)).await.unwrap();
    store.walk_in_ticket(&p3, "2026-09-30", at("2026-09-30", 11)).await.unwrap();

    // A: online, EMS, 蜀山区: submitted 09-28, approved 09-29, delivered 10-09 (4 working days over National Day).
    let a = walk(
        store,
        application(Channel::Online, DeliveryMethod::Ems, "340104", None),
        &[
            (S::Submitted, at("2026-09-28", 10)),
            (S::UnderReview, at("2026-09-28", 11)),
            (S::Approved, at("2026-09-29", 9)),
            (S::AwaitingPayment, at("2026-09-29", 9)),
            (S::Paid, at("2026-09-30", 12)),
            (S::InProduction, at("2026-09-30", 13)),
            (S::Produced, at("2026-10-08", 9)),
            (S::QualityChecked, at("2026-10-08", 10)),
            (S::Dispatched, at("2026-10-08", 11)),
            (S::Delivered, at("2026-10-09", 15)),
        ],
    )
    .await;
    // B: online, finished at p3, pickup: returned once; approved 10-08; ready 10-12 (5 working days: the 10th is a
    // make-up working Saturday).
    walk(
        store,
        application(Channel::OnlineThenCounter, DeliveryMethod::Pickup, "340102", Some(&p3)),
        &[
            (S::Submitted, at("2026-09-29", 10)),
            (S::UnderReview, at("2026-09-29", 11)),
            (S::Returned, at("2026-09-29", 12)),
            (S::Submitted, at("2026-09-30", 10)),
            (S::UnderReview, at("2026-09-30", 11)),
            (S::Approved, at("2026-10-08", 9)),
            (S::Paid, at("2026-10-08", 10)),
            (S::InProduction, at("2026-10-08", 11)),
            (S::ReadyForPickup, at("2026-10-12", 9)),
            (S::Collected, at("2026-10-14", 9)),
        ],
    )
    .await;
    // C: online, EMS, 瑶海区: submitted 10-08, rejected 10-09.
    let c_app = walk(
        store,
        application(Channel::Online, DeliveryMethod::Ems, "340102", None),
        &[(S::Submitted, at("2026-10-08", 10)), (S::UnderReview, at("2026-10-08", 11)), (S::Rejected, at("2026-10-09", 10))],
    )
    .await;
    // D: at the counter p1: submitted and approved 09-29, ready 10-10 (4 working days).
    walk(
        store,
        application(Channel::Counter, DeliveryMethod::Pickup, "340181", Some(&p1)),
        &[(S::Submitted, at("2026-09-29", 14)), (S::UnderReview, at("2026-09-29", 15)), (S::Approved, at("2026-09-29", 16)), (S::ReadyForPickup, at("2026-10-10", 9))],
    )
    .await;

    // Payments: at p1 one in cash and two by WeChat QR (09-29); A's fee and postage online (09-30); at p3 an
    // Alipay QR and C's UnionPay payment (10-08).
    pay(store, "counter-1", "cash", 2000, Some(&p1), at("2026-09-29", 10)).await;
    pay(store, "counter-2", "wechat_qr", 2000, Some(&p1), at("2026-09-29", 10)).await;
    pay(store, "counter-3", "wechat_qr", 2000, Some(&p1), at("2026-09-29", 11)).await;
    pay(store, &a.id, "alipay", 2000, None, at("2026-09-30", 12)).await;
    pay(store, &a.id, "wechat", 1200, None, at("2026-09-30", 12)).await;
    pay(store, "counter-4", "alipay_qr", 2000, Some(&p3), at("2026-10-08", 10)).await;
    pay(store, &c_app.id, "unionpay", 2000, None, at("2026-10-08", 10)).await;

    // Two accounts on 10-08: one verified the same day (瑶海区), one not.
    let v = store.citizen_for_phone("13900000201", at("2026-10-08", 9)).await.unwrap();
    store.record_primary_verification(&v.id, &ident("v", "340102"), at("2026-10-08", 9)).await.unwrap();
    store.citizen_for_phone("13900000202", at("2026-10-08", 9)).await.unwrap();
    Places { p1, p3 }
}

async fn get(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    let r = support::http().get(app.url(&format!("/api/v1/stats{query}"))).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn unit<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["units"].as_array().unwrap().iter().find(|u| u["code"] == code).unwrap_or_else(|| panic!("unit {code} in {}", report["units"]))
}

fn close(v: &Value, expected: f64) -> bool {
    (v.as_f64().unwrap() - expected).abs() < 1e-9
}

const RANGE: &str = "from=2026-09-28&to=2026-10-12";

async fn scenario(db: Db) {
    let clock = Clock::fixed(at("2026-10-20", 12));
    // Configured assumptions: 10 km and 2 h a round trip in a city district (the rest default).
    let Some(app) = TestApp::start_with(db, clock, |c| c.stats.urban = Trip { km: 10.0, hours: 2.0 }).await else { return };
    let places = history(&app).await;
    let http = support::http();
    let admin = app.staff_token(&http, "admin").await;

    // The whole province, per district.
    let (status, r) = get(&app, &admin, &format!("?{RANGE}")).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!((r["period"].as_str(), r["level"].as_str(), r["area_code"].as_str(), r["area_name"].as_str()), (Some("day"), Some("district"), Some("340000"), Some("安徽省")));
    let t = &r["total"];
    assert_eq!((t["visits_booked"].as_i64(), t["visits_walk_in"].as_i64(), t["bookings_made"].as_i64()), (Some(4), Some(2), Some(4)));
    assert_eq!(t["booking_share_permille"], 667);
    // (4 booked visits + 2 fully online applications) of (6 visits + 2).
    assert_eq!(t["online_share_permille"], 750);
    assert_eq!((t["applications_online"].as_i64(), t["applications_online_then_counter"].as_i64(), t["applications_counter"].as_i64()), (Some(2), Some(1), Some(1)));
    assert_eq!((t["online_approved"].as_i64(), t["online_rejected"].as_i64(), t["acceptance_permille"].as_i64()), (Some(2), Some(1), Some(667)));
    assert_eq!((t["fees_smart"]["count"].as_i64(), t["fees_smart"]["amount_fen"].as_i64(), t["fees_cash"]["count"].as_i64()), (Some(6), Some(11200), Some(1)));
    assert_eq!(t["smart_fee_share_permille"], 857);
    assert_eq!(t["fees_by_channel"].as_array().unwrap().iter().map(|c| (c["channel"].as_str().unwrap(), c["count"].as_i64().unwrap())).collect::<Vec<_>>(), vec![("alipay", 1), ("wechat", 1), ("unionpay", 1), ("alipay_qr", 1), ("wechat_qr", 2), ("cash", 1)]);
    assert_eq!((t["users_registered"].as_i64(), t["users_verified"].as_i64(), t["users_total"].as_i64(), t["users_verified_total"].as_i64()), (Some(6), Some(1), Some(8), Some(2)));
    // Cycles 4, 5 and 4 working days: mean 4.3, p90 4.8.
    assert_eq!((t["cycle_count"].as_i64(), t["cycle_mean_days"].as_f64(), t["cycle_p90_days"].as_f64()), (Some(3), Some(4.3), Some(4.8)));
    // Savings: 4 booked visits (0.2 trips, 2 km, 0.9 h each), A and C fully online by EMS (2.5 trips each, 25 km, 5 h),
    // B online then the counter with pickup (0.5 trips, 5 km, 1 h).
    let s = &t["savings"];
    assert!(close(&s["trips"], 6.3) && close(&s["km"], 63.0) && close(&s["hours"], 14.6), "{s}");
    // 15 days → a year.
    let y = &r["savings_per_year"];
    assert!(close(&y["trips"], 153.3) && close(&y["km"], 1533.0) && close(&y["hours"], 355.3), "{y}");
    assert!(close(&r["assumptions"]["urban"]["km"], 10.0) && close(&r["assumptions"]["traditional_visits"], 2.5));

    // Per district; accounts never verified have no district.
    let codes: Vec<&str> = r["units"].as_array().unwrap().iter().map(|u| u["code"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["340102", "340104", "unattributed"]);
    let shushan = &unit(&r, "340104")["figures"];
    assert_eq!(unit(&r, "340104")["name"], "蜀山区");
    assert_eq!((shushan["visits_booked"].as_i64(), shushan["visits_walk_in"].as_i64(), shushan["smart_fee_share_permille"].as_i64()), (Some(3), Some(1), Some(800)));
    assert_eq!((shushan["online_approved"].as_i64(), shushan["applications_counter"].as_i64(), shushan["cycle_count"].as_i64(), shushan["cycle_mean_days"].as_f64()), (Some(1), Some(1), Some(2), Some(4.0)));
    assert_eq!((shushan["users_registered"].as_i64(), shushan["users_total"].as_i64()), (Some(0), Some(1)));
    let yaohai = &unit(&r, "340102")["figures"];
    assert_eq!((yaohai["visits_booked"].as_i64(), yaohai["smart_fee_share_permille"].as_i64(), yaohai["online_rejected"].as_i64(), yaohai["cycle_p90_days"].as_f64()), (Some(1), Some(1000), Some(1), Some(5.0)));
    assert_eq!((yaohai["users_registered"].as_i64(), yaohai["users_verified"].as_i64()), (Some(1), Some(1)));
    assert_eq!((unit(&r, "unattributed")["figures"]["users_total"].as_i64(), unit(&r, "unattributed")["name"].as_str()), (Some(6), Some("未能归属地区")));

    // The series has every day of the range, empty ones too; National Day is quiet.
    let series = r["series"].as_array().unwrap();
    assert_eq!(series.len(), 15);
    assert_eq!(series[1]["period"], "2026-09-29");
    assert_eq!((series[1]["figures"]["visits_booked"].as_i64(), series[1]["figures"]["booking_share_permille"].as_i64()), (Some(3), Some(750)));
    assert_eq!(series[4]["figures"]["visits_booked"], 0);
    assert!(series[4]["figures"]["online_share_permille"].is_null());
    // Cumulative accounts: 2 before, +4 on 09-28, +2 on 10-08.
    assert_eq!(series.iter().map(|b| b["figures"]["users_total"].as_i64().unwrap()).collect::<Vec<_>>(), vec![6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 8, 8, 8, 8, 8]);

    // By month, Hefei per point; English names.
    let r = support::http()
        .get(app.url("/api/v1/stats?period=month&from=2026-09&to=2026-10&code=340100&level=point"))
        .bearer_auth(&admin)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(r["series"].as_array().unwrap().iter().map(|b| b["period"].as_str().unwrap()).collect::<Vec<_>>(), vec!["2026-09", "2026-10"]);
    assert_eq!(r["from"], "2026-09-01");
    // The month under way ends today.
    assert_eq!(r["to"], "2026-10-20");
    let sep = &r["series"][0]["figures"];
    assert_eq!((sep["visits_booked"].as_i64(), sep["fees_cash"]["count"].as_i64(), sep["users_total"].as_i64()), (Some(4), Some(1), Some(1)));
    assert_eq!(unit(&r, &places.p1)["figures"]["visits_walk_in"], 1);
    assert_eq!(unit(&r, "online")["name"], "Online (no counter)");
    assert_eq!(unit(&r, "online")["figures"]["applications_online"], 2);

    // Scope: a district's reviewer sees the district (per point by default) and nothing else.
    let reviewer = app.staff_token(&http, "reviewer").await;
    let (status, r) = get(&app, &reviewer, &format!("?{RANGE}")).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!((r["area_code"].as_str(), r["level"].as_str()), (Some("340104"), Some("point")));
    assert_eq!((r["total"]["visits_booked"].as_i64(), r["total"]["applications_online"].as_i64(), r["total"]["online_rejected"].as_i64()), (Some(3), Some(1), Some(0)));
    assert_eq!(unit(&r, &places.p1)["figures"]["visits_booked"], 3);
    for code in ["340102", "340100", "34", places.p3.as_str()] {
        let (status, body) = get(&app, &reviewer, &format!("?{RANGE}&code={code}")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("stats_out_of_scope")), "{code}");
    }
    let (status, r) = get(&app, &reviewer, &format!("?{RANGE}&code={}", places.p1)).await;
    assert_eq!((status, r["total"]["visits_walk_in"].as_i64()), (200, Some(1)));
    let yaohai_reviewer = app.staff_token(&http, "reviewer.yaohai").await;
    let (_, r) = get(&app, &yaohai_reviewer, &format!("?{RANGE}&level=district")).await;
    assert_eq!(r["units"].as_array().unwrap().len(), 1);
    assert_eq!(r["total"]["smart_fee_share_permille"], 1000);
    // Counter staff, citizens and strangers see nothing.
    let counter = app.staff_token(&http, "counter").await;
    assert_eq!(get(&app, &counter, "").await.0, 403);
    let citizen = app.citizen_token(&http, "13900000999").await;
    assert_eq!(get(&app, &citizen, "").await.0, 403);
    assert_eq!(http.get(app.url("/api/v1/stats")).send().await.unwrap().status(), 401);

    // Bad parameters: 422 with stable codes.
    for (query, code) in [
        ("?period=week", "stats_period_invalid"),
        ("?from=2026-13-01", "stats_date_invalid"),
        ("?to=yesterday", "stats_date_invalid"),
        ("?from=2026-10-12&to=2026-10-01", "stats_range_invalid"),
        ("?to=2026-10-21", "stats_date_future"),
        ("?from=2025-01-01&to=2026-10-12", "stats_range_too_long"),
        ("?period=month&from=2020-01&to=2026-10", "stats_range_too_long"),
        ("?level=county", "stats_level_invalid"),
        ("?level=city&code=340104", "stats_level_above_area"),
        ("?code=999999", "stats_code_invalid"),
        ("?code=no-such-point", "stats_code_invalid"),
        ("?code=%27%3B--", "stats_code_invalid"),
        ("?format=xml", "stats_format_invalid"),
        ("?foo=1", "stats_param_unknown"),
        ("?period=day&period=month", "stats_param_repeated"),
        (&format!("?code={}", "3".repeat(65)), "stats_param_too_long"),
        (&format!("?code={}", "3".repeat(1100)), "stats_query_too_long"),
    ] {
        let (status, body) = get(&app, &admin, query).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some(code)), "{query}: {body}");
    }
    // Empty values mean the defaults (a submitted form): the last 30 days.
    let (status, r) = get(&app, &admin, "?period=&from=&to=&level=&code=&format=").await;
    assert_eq!((status, r["from"].as_str(), r["to"].as_str()), (200, Some("2026-09-21"), Some("2026-10-20")));

    // CSV: one row per day and unit with activity (Hefei per district: 蜀山区 5 days, 瑶海区 6), audited.
    let (seq_before, _) = app.state.store.audit_head().await.unwrap();
    let res = http.get(app.url(&format!("/api/v1/stats.csv?{RANGE}&code=340100&level=district"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("shenfen-stats-340100-day-2026-09-28-2026-10-12.csv"));
    let body = res.text().await.unwrap();
    let body = body.strip_prefix('\u{feff}').expect("byte-order mark");
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], shenfen_server::stats::CSV_COLUMNS.join(","));
    assert_eq!(lines.len(), 1 + 11, "{body}");
    assert!(lines.iter().skip(1).all(|l| l.split(',').count() == shenfen_server::stats::CSV_COLUMNS.len()));
    let row = lines.iter().find(|l| l.starts_with("2026-09-29,340104,")).unwrap();
    let cols: Vec<&str> = row.split(',').collect();
    // visits 3 + 1, 75.0 % booked; fees 2 smart (40.00 yuan) and 1 cash: 66.7 %.
    assert_eq!(&cols[2..7], &["蜀山区", "3", "1", "75.0", "0"]);
    assert_eq!(&cols[13..18], &["2", "40.00", "1", "20.00", "66.7"]);
    assert!(lines.iter().any(|l| l.starts_with("2026-10-12,340102,") && l.contains(",1,5.0,5.0,")), "B's cycle on the day its card was ready");
    // The same through ?format=csv.
    let same = http.get(app.url(&format!("/api/v1/stats?{RANGE}&code=340100&level=district&format=csv"))).bearer_auth(&admin).send().await.unwrap().text().await.unwrap();
    assert_eq!(same.strip_prefix('\u{feff}').unwrap(), body);
    let entries = app.state.store.audit_entries(seq_before, 10).await.unwrap();
    assert_eq!(entries.iter().filter(|e| e.record.action == "stats.export_csv" && e.record.target == "area:340100").count(), 2);

    // The OpenAPI document lists the endpoints.
    let doc: Value = http.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["paths"]["/api/v1/stats"]["get"].is_object() && doc["paths"]["/api/v1/stats.csv"]["get"].is_object());

    // The dashboard: headline figures, five charts each followed by its table, the CSV link; linked from the workbench.
    let (page, _) = support::staff_pages(&app, "admin").await;
    let html = page.get(app.url("/staff")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("href=\"/admin/stats\""));
    let res = page.get(app.url(&format!("/admin/stats?{RANGE}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("<h1>服务统计</h1>"));
    assert!(html.contains("<span id=\"h-online\">75.0%</span>") && html.contains("<span id=\"h-smart\">85.7%</span>"), "{html}");
    assert!(html.contains("96.2%") && html.contains("98.6%"), "the published figures beside ours");
    assert_eq!(html.matches("class=\"stats-chart\"").count(), 5);
    assert!(html.matches("role=\"img\"").count() >= 5);
    for id in ["stats-series", "stats-units", "stats-apps", "stats-assumptions", "stats-csv"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(!html.contains("<script"));
    let href = html.split("id=\"stats-csv\"").next().unwrap().rsplit("href=\"").next().unwrap();
    let href = href.split('"').next().unwrap().replace("&amp;", "&").replace("&#38;", "&");
    assert_eq!(href, "/admin/stats.csv?period=day&from=2026-09-28&to=2026-10-12&level=district&code=340000");
    let csv = page.get(app.url(&format!("/admin/stats.csv?{RANGE}&code=340100&level=district"))).send().await.unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.text().await.unwrap().strip_prefix('\u{feff}').unwrap(), body);
    // A bad filter comes back on the form.
    let res = page.get(app.url("/admin/stats?from=2026-10-12&to=2026-10-01")).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("error-summary") && html.contains("href=\"#from\"") && html.contains("value=\"2026-10-12\""));
    // In English.
    let html = page.get(app.url(&format!("/admin/stats?{RANGE}"))).header("accept-language", "en").send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Service statistics") && html.contains("Published 2019"));
    // Counter staff may not open it.
    let (counter_page, _) = support::staff_pages(&app, "counter").await;
    assert_eq!(counter_page.get(app.url("/admin/stats")).send().await.unwrap().status(), 403);
    assert_eq!(support::http().get(app.url("/admin/stats")).send().await.unwrap().status(), 303);
}

/// The demo history gives the dashboard real-looking figures, computed by the same code, and is written once.
async fn demo_history(db: Db) {
    let Some(app) = TestApp::start_with(db, Clock::fixed(at("2026-10-20", 12)), |_| {}).await else { return };
    let plan = shenfen_server::demo::history::Plan { days: 21, points_per_district: 1, volume: 0.5 };
    let report = shenfen_server::demo::history::seed(&app.state, &plan).await.unwrap();
    assert!(!report.skipped && report.citizens > 100 && report.visits > 40 && report.payments > 40 && report.applications > 20, "{report:?}");
    assert!(app.state.store.application_by_ref(shenfen_server::demo::history::MARKER_REF).await.unwrap().is_some());
    let again = shenfen_server::demo::history::seed(&app.state, &plan).await.unwrap();
    assert!(again.skipped, "written once");

    let http = support::http();
    let admin = app.staff_token(&http, "admin").await;
    let (status, r) = get(&app, &admin, "?from=2026-09-29&to=2026-10-19").await;
    assert_eq!(status, 200);
    let t = &r["total"];
    let share = |k: &str| t[k].as_i64().unwrap_or_else(|| panic!("{k} in {t}"));
    assert!((850..1000).contains(&share("online_share_permille")), "{t}");
    assert!((900..=1000).contains(&share("booking_share_permille")), "{t}");
    assert!(share("smart_fee_share_permille") >= 900, "{t}");
    assert!(t["online_approved"].as_i64().unwrap() > 5 && t["users_total"].as_i64().unwrap() > 100, "{t}");
    assert!(t["cycle_count"].as_i64().unwrap() > 3 && t["cycle_mean_days"].as_f64().unwrap() > 3.0, "{t}");
    assert!(t["savings"]["km"].as_f64().unwrap() > 100.0, "{t}");
    // National Day: no counter visits.
    let holiday = r["series"].as_array().unwrap().iter().find(|b| b["period"] == "2026-10-03").unwrap();
    assert_eq!(holiday["figures"]["visits_booked"], 0);
    // Every demo district shows up.
    assert!(r["units"].as_array().unwrap().len() >= 4, "{}", r["units"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_history_sqlite() {
    demo_history(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_history_postgres() {
    demo_history(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    scenario(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    scenario(Db::Postgres).await;
}
