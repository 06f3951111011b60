//! Express delivery end to end on SQLite and PostgreSQL: dispatch through the EMS sandbox (the demo instance's
//! own, and one on a separate loopback port), signed pushes received, forged and tampered pushes refused,
//! duplicates stored once, a lost push recovered by polling, failed deliveries (retried, and returned), idempotent
//! dispatch, and the event outbox handing each event to exactly one consumer.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shenfen_server::app::{Actor, AppState, Clock};
use shenfen_server::logistics::config::{DEMO_APP_SECRET, DEMO_PUSH_SECRET};
use shenfen_server::logistics::ems::{self, API_PUSH, API_TRACK};
use shenfen_server::logistics::sandbox::{EmsSandbox, SandboxSettings};
use shenfen_server::logistics::{self, CarrierError, ShipmentRequest, TrackingStatus, s10};
use shenfen_store::{ActorKind, Shipment};
use support::{Db, TestApp, http};

const APP_KEY: &str = "SF-DEMO-3401";

/// Runs a test body on both backends with a configuration tweak.
macro_rules! on_both_with {
    ($name:ident, $tweak:expr, |$app:ident| $body:block) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $app = TestApp::start_with(Db::Sqlite, Clock::default(), $tweak).await.unwrap();
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($app) = TestApp::start_with(Db::Postgres, Clock::default(), $tweak).await else { return };
                $body
            }
        }
    };
}

fn actor() -> Actor {
    Actor { kind: ActorKind::Staff, id: "staff-production-1".into(), ip: "127.0.0.1".into() }
}

fn request(reference: &str) -> ShipmentRequest {
    ShipmentRequest {
        reference: reference.into(),
        recipient_name: "张三丰".into(),
        recipient_phone: "138 0000 0001".into(),
        address: "长江西路100号3栋201室".into(),
        division: "340104".into(),
        sender: "安徽省居民身份证制证中心".into(),
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Plays steps of a waybill in the sandbox at `base` (`steps` = "1".."20" or "all"; `push=false`: lost pushes).
async fn advance(base: &str, tracking_no: &str, steps: &str, push: bool) -> Value {
    let r = http().post(format!("{base}/sandbox/ems/waybills/{tracking_no}/advance?steps={steps}&push={push}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn status_of(app: &TestApp, s: &Shipment) -> TrackingStatus {
    app.state.store.shipment(&s.id).await.unwrap().unwrap().status
}

async fn wait_for_status(app: &TestApp, s: &Shipment, want: TrackingStatus, within: Duration) {
    let until = std::time::Instant::now() + within;
    loop {
        let now = status_of(app, s).await;
        if now == want {
            return;
        }
        assert!(std::time::Instant::now() < until, "shipment still {now} after {within:?}, expected {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn statuses(events: &[shenfen_store::ShipmentEvent]) -> Vec<TrackingStatus> {
    events.iter().map(|e| e.status).collect()
}

/// A push body with one trace, as the carrier would send it.
fn push_body(tracking_no: &str, trace_id: &str, op_code: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "traces": [{
        "traceId": trace_id, "waybillNo": tracking_no, "opCode": op_code, "opName": "收寄", "opTime": now_ms(),
        "opOrgCity": "合肥市", "opDesc": "【合肥市】已收寄"
    }]}))
    .unwrap()
}

async fn post_push(app: &TestApp, headers: &[(&'static str, String)], body: &[u8]) -> (StatusCode, Value) {
    let mut rb = http().post(app.url("/callbacks/express/ems")).body(body.to_vec());
    for (k, v) in headers {
        rb = rb.header(*k, v);
    }
    let r = rb.send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

on_both_with!(dispatched_card_is_tracked_by_pushes_to_delivery, |c| c.logistics.sandbox.minutes_per_step = 0.003, |app| {
    let shipment = logistics::dispatch(&app.state, &request("app-delivered"), &actor()).await.unwrap();
    assert!(s10::is_valid(&shipment.tracking_no) && shipment.tracking_no.starts_with('E') && shipment.tracking_no.ends_with("CN"), "{}", shipment.tracking_no);
    assert_eq!((shipment.status, shipment.carrier.as_str(), shipment.reference.as_str()), (TrackingStatus::Created, "ems", "app-delivered"));
    // Stored encrypted, shown masked.
    assert_eq!(app.state.keys.decrypt_field(&shipment.name_enc).unwrap(), "张三丰");
    assert_eq!(app.state.keys.decrypt_field(&shipment.phone_enc).unwrap(), "13800000001");
    assert_eq!(app.state.keys.decrypt_field(&shipment.address_enc).unwrap(), "长江西路100号3栋201室");
    assert_eq!((shipment.name_masked.as_str(), shipment.phone_masked.as_str()), ("张**", "138****0001"));
    assert_eq!(shipment.address_masked, "安徽省合肥市蜀山区****");
    let audit = app.state.store.audit_entries(0, 100).await.unwrap();
    let created = audit.iter().find(|e| e.record.action == "shipment.create").expect("audited");
    assert_eq!(created.record.target, format!("shipment:{}", shipment.tracking_no));
    assert!(!created.record.detail.contains("长江西路") && !created.record.detail.contains("张三丰"));

    // The sandbox plays the timeline (180 ms a step) and pushes every trace; nobody polls here.
    wait_for_status(&app, &shipment, TrackingStatus::Delivered, Duration::from_secs(15)).await;
    let timeline = app.state.store.shipment_events(&shipment.id).await.unwrap();
    assert_eq!(
        statuses(&timeline),
        [TrackingStatus::Collected, TrackingStatus::InTransit, TrackingStatus::InTransit, TrackingStatus::OutForDelivery, TrackingStatus::Delivered]
    );
    assert!(timeline[1].description.contains("合肥邮区中心局"), "{}", timeline[1].description);
    assert_eq!(timeline[4].face_verified, Some(true));
    assert!(timeline.windows(2).all(|w| w[0].at < w[1].at));
    // The carrier's own view agrees (the same traces, the same ids).
    let carrier = app.state.carrier.clone().unwrap();
    let tracked = carrier.track(&shipment.tracking_no).await.unwrap();
    assert_eq!(tracked.iter().map(|e| e.carrier_event_id.clone()).collect::<Vec<_>>(), timeline.iter().map(|e| e.carrier_event_id.clone()).collect::<Vec<_>>());
});

on_both!(dispatch_is_idempotent_per_application, |app| {
    let first = logistics::dispatch(&app.state, &request("app-idem"), &actor()).await.unwrap();
    let again = logistics::dispatch(&app.state, &request("app-idem"), &actor()).await.unwrap();
    assert_eq!(first, again);
    // The carrier itself answers a repeated order number with the same waybill.
    let carrier = app.state.carrier.clone().unwrap();
    assert_eq!(carrier.create_shipment(&request("app-idem").validated().unwrap()).await.unwrap(), first.tracking_no);
    // Concurrent dispatches of one application: one shipment, one audit record.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let state = app.state.clone();
        tasks.push(tokio::spawn(async move { logistics::dispatch(&state, &request("app-race"), &actor()).await.unwrap() }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().id);
    }
    assert_eq!(ids.len(), 1);
    let audits = app.state.store.audit_entries(0, 100).await.unwrap();
    assert_eq!(audits.iter().filter(|e| e.record.action == "shipment.create").count(), 2);
});

on_both!(bad_input_and_carrier_refusals, |app| {
    let err = |r: Result<Shipment, shenfen_server::error::AppError>| {
        let e = r.unwrap_err();
        (e.status.as_u16(), e.code, e.field, e.message_zh)
    };
    let mut r = request("app-bad");
    r.recipient_phone = "12345".into();
    assert_eq!(err(logistics::dispatch(&app.state, &r, &actor()).await).2, Some("recipient_phone"));
    let mut r = request("app-bad");
    r.division = "34010".into();
    assert_eq!(err(logistics::dispatch(&app.state, &r, &actor()).await).1, "division_invalid");
    let mut r = request("app-bad");
    r.recipient_name = " ".into();
    assert_eq!(err(logistics::dispatch(&app.state, &r, &actor()).await).1, "recipient_name_invalid");
    let mut r = request("app-bad");
    r.address = "a".repeat(201);
    assert_eq!(err(logistics::dispatch(&app.state, &r, &actor()).await).1, "address_invalid");
    // Outside the mainland (Hong Kong, Taiwan): the carrier refuses, with its code; nothing is stored.
    for code in ["810000", "710000"] {
        let mut r = request("app-bad");
        r.division = code.into();
        let (status, code, _, zh) = err(logistics::dispatch(&app.state, &r, &actor()).await);
        assert_eq!((status, code), (422, "shipment_rejected"));
        assert!(zh.contains("B0101"), "{zh}");
    }
    assert!(app.state.store.shipment_for("app-bad").await.unwrap().is_none());
    // The carrier refuses an invalid mobile too (the adapter called directly, past our own validation).
    let carrier = app.state.carrier.clone().unwrap();
    let mut raw = request("app-bad");
    raw.recipient_phone = "10000000000".into();
    assert!(matches!(carrier.create_shipment(&raw).await, Err(CarrierError::Rejected { code, .. }) if code == "B0103"));
    assert!(matches!(carrier.track("EA000000015CN").await, Err(CarrierError::Rejected { code, .. }) if code == "B0404"));
});

on_both!(forged_and_tampered_pushes_are_refused_and_duplicates_stored_once, |app| {
    let s = logistics::dispatch(&app.state, &request("app-push"), &actor()).await.unwrap();
    let body = push_body(&s.tracking_no, "forged-1", ems::op::DELIVERED);
    let ts = now_ms();
    // Wrong secret (someone who knows the format but not the key).
    let forged = ems::signed_headers("not-the-carrier-secret", API_PUSH, APP_KEY, ts, &body);
    assert_eq!(post_push(&app, &forged, &body).await.0, StatusCode::UNAUTHORIZED);
    // A genuine signature over another body (tampered on the way).
    let genuine = ems::signed_headers(DEMO_PUSH_SECRET, API_PUSH, APP_KEY, ts, &push_body(&s.tracking_no, "forged-1", ems::op::COLLECTED));
    let (status, answer) = post_push(&app, &genuine, &body).await;
    assert_eq!((status, answer["success"].as_bool(), answer["code"].as_str()), (StatusCode::UNAUTHORIZED, Some(false), Some("S0401")));
    // Signed for another API, by our request secret, too old, for another account, or not signed at all.
    for headers in [
        ems::signed_headers(DEMO_PUSH_SECRET, API_TRACK, APP_KEY, ts, &body).to_vec(),
        ems::signed_headers(DEMO_APP_SECRET, API_PUSH, APP_KEY, ts, &body).to_vec(),
        ems::signed_headers(DEMO_PUSH_SECRET, API_PUSH, APP_KEY, ts - 10 * 60_000, &body).to_vec(),
        ems::signed_headers(DEMO_PUSH_SECRET, API_PUSH, "SOMEONE-ELSE", ts, &body).to_vec(),
        vec![("content-type", ems::CONTENT_TYPE.to_string())],
    ] {
        assert_eq!(post_push(&app, &headers, &body).await.0, StatusCode::UNAUTHORIZED);
    }
    assert!(app.state.store.shipment_events(&s.id).await.unwrap().is_empty());
    assert_eq!(status_of(&app, &s).await, TrackingStatus::Created);
    // Correctly signed but not a trace list.
    let junk = br#"{"traces":"nope"}"#;
    assert_eq!(post_push(&app, &ems::signed_headers(DEMO_PUSH_SECRET, API_PUSH, APP_KEY, ts, junk), junk).await.0, StatusCode::BAD_REQUEST);
    // Too large.
    let big = vec![b' '; ems::MAX_BODY_BYTES + 1];
    assert_eq!(post_push(&app, &ems::signed_headers(DEMO_PUSH_SECRET, API_PUSH, APP_KEY, ts, &big), &big).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    // A genuine push is stored; the same push again (the carrier did not see our answer) is acknowledged, once stored.
    let body = push_body(&s.tracking_no, "genuine-1", ems::op::COLLECTED);
    let headers = ems::signed_headers(DEMO_PUSH_SECRET, API_PUSH, APP_KEY, now_ms(), &body);
    for _ in 0..3 {
        let (status, answer) = post_push(&app, &headers, &body).await;
        assert_eq!((status, answer["success"].as_bool(), answer["code"].as_str()), (StatusCode::OK, Some(true), Some("0")));
    }
    let stored = app.state.store.shipment_events(&s.id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].carrier_event_id.as_str(), stored[0].status), ("genuine-1", TrackingStatus::Collected));
    assert_eq!(status_of(&app, &s).await, TrackingStatus::Collected);
    // A waybill we do not know: "push again later".
    let body = push_body("EA000000015CN", "stranger-1", ems::op::COLLECTED);
    let (status, answer) = post_push(&app, &ems::signed_headers(DEMO_PUSH_SECRET, API_PUSH, APP_KEY, now_ms(), &body), &body).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::NOT_FOUND, Some("B0404")));
    // Another carrier's path does not exist here.
    assert_eq!(http().post(app.url("/callbacks/express/sf")).body("{}").send().await.unwrap().status(), StatusCode::NOT_FOUND);
});

on_both_with!(lost_pushes_are_recovered_by_polling, |c| c.logistics.poll_every_secs = 0, |app| {
    let s = logistics::dispatch(&app.state, &request("app-lost"), &actor()).await.unwrap();
    let played = advance(&app.base, &s.tracking_no, "all", false).await;
    assert_eq!((played["revealed"].as_u64(), played["remaining"].as_u64(), played["pushesAcknowledged"].as_u64()), (Some(5), Some(0), Some(0)));
    assert!(app.state.store.shipment_events(&s.id).await.unwrap().is_empty(), "every push was lost");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let polled = logistics::poll(&app.state).await.unwrap();
    assert_eq!((polled.polled, polled.new_events, polled.unreachable), (1, 5, 0));
    assert_eq!(status_of(&app, &s).await, TrackingStatus::Delivered);
    // A delivered shipment is not asked about again; polling twice stores nothing twice.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(logistics::poll(&app.state).await.unwrap(), logistics::Polled::default());
    assert_eq!(app.state.store.shipment_events(&s.id).await.unwrap().len(), 5);

    // A push and a poll of the same trace: stored once.
    let s2 = logistics::dispatch(&app.state, &request("app-both"), &actor()).await.unwrap();
    let played = advance(&app.base, &s2.tracking_no, "2", true).await;
    assert_eq!(played["pushesAcknowledged"].as_u64(), Some(1));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let polled = logistics::poll(&app.state).await.unwrap();
    assert_eq!((polled.polled, polled.new_events), (1, 0));
    assert_eq!(app.state.store.shipment_events(&s2.id).await.unwrap().len(), 2);
});

on_both!(failed_delivery_is_retried_or_returned, |app| {
    // Phone ending in 4: the first attempt fails, the second succeeds; the status follows step by step.
    let mut r = request("app-retry");
    r.recipient_phone = "13800000004".into();
    let s = logistics::dispatch(&app.state, &r, &actor()).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..7 {
        let played = advance(&app.base, &s.tracking_no, "1", true).await;
        assert_eq!(played["pushesAcknowledged"].as_u64(), Some(1), "{played}");
        seen.push(status_of(&app, &s).await);
    }
    use TrackingStatus::*;
    assert_eq!(seen, [Collected, InTransit, InTransit, OutForDelivery, DeliveryFailed, OutForDelivery, Delivered]);
    let failed = app.state.store.shipment_events(&s.id).await.unwrap().into_iter().find(|e| e.status == DeliveryFailed).unwrap();
    assert!(failed.description.contains("无人接听"), "{}", failed.description);

    // "查无此人": the attempt fails and the card goes back to the sender.
    let mut r = request("app-return");
    r.address = "长江西路100号 查无此人".into();
    let s = logistics::dispatch(&app.state, &r, &actor()).await.unwrap();
    advance(&app.base, &s.tracking_no, "all", true).await;
    let timeline = app.state.store.shipment_events(&s.id).await.unwrap();
    assert_eq!(statuses(&timeline), [Collected, InTransit, InTransit, OutForDelivery, DeliveryFailed, InTransit, InTransit, Returned]);
    assert!(timeline.iter().all(|e| e.face_verified.is_none()));
    let now = app.state.store.shipment(&s.id).await.unwrap().unwrap();
    assert_eq!(now.status, Returned);
    // Nothing more to play; the sandbox says so.
    assert_eq!(advance(&app.base, &s.tracking_no, "1", true).await["revealed"].as_u64(), Some(0));
});

/// Consumes events through `apply_events` until the outbox stays empty; returns (event id, reference, status) in
/// the order this consumer applied them.
async fn consume(state: AppState, log: Arc<Mutex<Vec<String>>>) -> Vec<(String, String, TrackingStatus)> {
    let mut mine = Vec::new();
    let mut idle = 0;
    while idle < 30 {
        let batch = Arc::new(Mutex::new(Vec::new()));
        let sink = batch.clone();
        let log = log.clone();
        let n = logistics::apply_events(&state, 4, move |e| {
            let (sink, log) = (sink.clone(), log.clone());
            async move {
                log.lock().unwrap().push(e.id.clone());
                sink.lock().unwrap().push((e.id.clone(), e.reference.clone().unwrap(), e.status));
                Ok(())
            }
        })
        .await
        .unwrap();
        mine.extend(batch.lock().unwrap().drain(..));
        if n == 0 {
            idle += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        } else {
            idle = 0;
        }
    }
    mine
}

async fn check_outbox_exactly_once(consumers: Vec<AppState>, all: &[(Shipment, Vec<shenfen_store::ShipmentEvent>)]) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = consumers.into_iter().map(|s| tokio::spawn(consume(s, log.clone()))).collect();
    let mut per_consumer = Vec::new();
    for t in tasks {
        per_consumer.push(t.await.unwrap());
    }
    // Each event handed out exactly once, across the consumers.
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), log.iter().collect::<HashSet<_>>().len(), "an event was applied twice");
    let expected: HashSet<String> = all.iter().flat_map(|(_, evs)| evs.iter().map(|e| e.id.clone())).collect();
    assert_eq!(log.iter().cloned().collect::<HashSet<_>>(), expected);
    assert_eq!(per_consumer.iter().map(Vec::len).sum::<usize>(), expected.len());
    // Per shipment, events were applied in carrier time order (in the global log order).
    let position: HashMap<&String, usize> = log.iter().enumerate().map(|(i, id)| (id, i)).collect();
    for (_, evs) in all {
        let order: Vec<usize> = evs.iter().map(|e| position[&e.id]).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "a shipment's events were applied out of order");
    }
}

on_both!(the_outbox_yields_each_event_exactly_once_across_two_consumers, |app| {
    let mut all = Vec::new();
    for i in 0..4 {
        let s = logistics::dispatch(&app.state, &request(&format!("app-outbox-{i}")), &actor()).await.unwrap();
        advance(&app.base, &s.tracking_no, "all", true).await;
        let evs = app.state.store.shipment_events(&s.id).await.unwrap();
        assert_eq!(evs.len(), 5);
        all.push((s, evs));
    }
    check_outbox_exactly_once(vec![app.state.clone(), app.state.clone()], &all).await;
    // Nothing is left, and a retired event is not handed out again.
    assert!(app.state.store.unapplied_shipment_events(100, app.state.now_ms() + 3_600_000, app.state.now_ms() + 7_200_000).await.unwrap().is_empty());
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_dispatch_pushes_polls_and_the_outbox() {
    let Some(apps) = TestApp::postgres_cluster(2).await else { return };
    let (a, b) = (&apps[0], &apps[1]);
    // Dispatched on one instance, the same application dispatched on the other returns the same shipment.
    let s = logistics::dispatch(&a.state, &request("app-cluster"), &actor()).await.unwrap();
    assert_eq!(logistics::dispatch(&b.state, &request("app-cluster"), &actor()).await.unwrap(), s);
    let mut all = Vec::new();
    for i in 0..3 {
        let s = logistics::dispatch(&a.state, &request(&format!("app-cluster-{i}")), &actor()).await.unwrap();
        advance(&a.base, &s.tracking_no, "all", true).await;
        all.push((s.clone(), a.state.store.shipment_events(&s.id).await.unwrap()));
    }
    // Pushes went to instance A; B sees them in the shared database, and the instances split the outbox.
    assert_eq!(b.state.store.shipment_events(&all[0].0.id).await.unwrap().len(), 5);
    check_outbox_exactly_once(vec![a.state.clone(), b.state.clone()], &all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_on_its_own_port_refuses_unsigned_requests_and_pushes_to_the_app() {
    // The carrier as a separate server (as in production), the app pointed at it by configuration.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let carrier_base = format!("http://{}", listener.local_addr().unwrap());
    let sandbox = EmsSandbox::new(SandboxSettings {
        app_key: "SF-TEST-0001".into(),
        app_secret: "a-test-app-secret-of-at-least-32-characters".into(),
        push_secret: "a-test-push-secret-of-at-least-32-characters".into(),
        push_url: "http://127.0.0.1:9/not-yet".into(),
        step: Duration::from_secs(3600),
        return_marker: "查无此人".into(),
        retry_phone_suffix: "4".into(),
    });
    let router: axum::Router = shenfen_server::logistics::sandbox::router(sandbox.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let base = format!("{carrier_base}/sandbox/ems");
    let app = TestApp::start_with(Db::Sqlite, Clock::default(), |c| {
        c.logistics.ems.base_url = Some(base.clone());
        c.logistics.ems.app_key = "SF-TEST-0001".into();
        c.logistics.ems.app_secret = Some("a-test-app-secret-of-at-least-32-characters".into());
        c.logistics.ems.push_secret = Some("a-test-push-secret-of-at-least-32-characters".into());
    })
    .await
    .unwrap();
    sandbox.set_push_url(&app.url("/callbacks/express/ems"));

    // Unsigned, wrongly signed, stale: the carrier's S0401.
    let body = br#"{"waybillNo":"EA123456785CN"}"#.to_vec();
    let r = http().post(format!("{base}/api/trace.query")).body(body.clone()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "S0401");
    for headers in [
        ems::signed_headers(DEMO_APP_SECRET, API_TRACK, "SF-TEST-0001", now_ms(), &body),
        ems::signed_headers("a-test-app-secret-of-at-least-32-characters", API_TRACK, "SF-TEST-0001", now_ms() - 600_000, &body),
        ems::signed_headers("a-test-app-secret-of-at-least-32-characters", "waybill.create", "SF-TEST-0001", now_ms(), &body),
    ] {
        let mut rb = http().post(format!("{base}/api/trace.query")).body(body.clone());
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        assert_eq!(rb.send().await.unwrap().status(), 401);
    }
    // Signed right: an unknown waybill is a business answer, not an error.
    let mut rb = http().post(format!("{base}/api/trace.query")).body(body.clone());
    for (k, v) in ems::signed_headers("a-test-app-secret-of-at-least-32-characters", API_TRACK, "SF-TEST-0001", now_ms(), &body) {
        rb = rb.header(k, v);
    }
    let answer: Value = rb.send().await.unwrap().json().await.unwrap();
    assert_eq!((answer["success"].as_bool(), answer["code"].as_str()), (Some(false), Some("B0404")));

    // Through the app: dispatch goes to this carrier, its pushes come back signed with the configured secret.
    let s = logistics::dispatch(&app.state, &request("app-external"), &actor()).await.unwrap();
    assert!(s10::is_valid(&s.tracking_no));
    let played = advance(&carrier_base, &s.tracking_no, "all", true).await;
    assert_eq!(played["pushesAcknowledged"].as_u64(), Some(1));
    assert_eq!(status_of(&app, &s).await, TrackingStatus::Delivered);
    // The app's own demo sandbox never heard of this waybill.
    let r = http().post(app.url(&format!("/sandbox/ems/waybills/{}/advance", s.tracking_no))).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // The sandbox's page for people shows the timeline with no inline script or style.
    let page = http().get(format!("{base}/waybills/{}", s.tracking_no)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("已妥投") && page.contains(&s.tracking_no) && !page.contains("<script") && !page.contains("style="));
}
