//! Several app instances on one PostgreSQL database behave as one: sessions, one-time codes, rate limits and the
//! audit chain are shared, whichever instance a request lands on.

mod support;

use serde_json::json;
use support::{TestApp, http};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_behave_as_one() {
    let Some(apps) = TestApp::postgres_cluster(3).await else { return };
    let c = http();
    let phone = "13800000081";

    // Code requested on instance 0; a second request on instance 1 within 60 s is refused.
    assert_eq!(c.post(apps[0].url("/api/v1/auth/sms-codes")).json(&json!({ "phone": phone })).send().await.unwrap().status(), 202);
    assert_eq!(c.post(apps[1].url("/api/v1/auth/sms-codes")).json(&json!({ "phone": phone })).send().await.unwrap().status(), 429);

    // The code is accepted once, on whichever instance: fire it at all three at once.
    let code = apps[2].last_code(phone).await;
    let mut attempts = Vec::new();
    for app in &apps {
        let req = c.post(app.url("/api/v1/auth/sessions")).json(&json!({ "phone": phone, "code": code }));
        attempts.push(tokio::spawn(async move { req.send().await.unwrap() }));
    }
    let mut token = None;
    let mut accepted = 0;
    for a in attempts {
        let r = a.await.unwrap();
        if r.status() == 201 {
            accepted += 1;
            token = Some(r.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(accepted, 1, "a one-time code signs in exactly once across instances");
    let token = token.unwrap();

    // A session made on one instance works on every other, and signing out on one ends it everywhere.
    for app in &apps {
        assert_eq!(c.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().status(), 200);
    }
    let r = c.post(apps[1].url("/api/v1/me/verification/primary")).bearer_auth(&token).json(&json!({ "name": "张三", "id_number": "34010419900307177X" })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(c.delete(apps[2].url("/api/v1/auth/sessions")).bearer_auth(&token).send().await.unwrap().status(), 204);
    for app in &apps {
        assert_eq!(c.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().status(), 401);
    }

    // Concurrent audited actions on all instances keep one unbroken chain.
    let mut tasks = Vec::new();
    for i in 0..30 {
        let app_url = apps[i % 3].url("/api/v1/auth/staff-sessions");
        let c = c.clone();
        tasks.push(tokio::spawn(async move { c.post(app_url).json(&json!({ "username": "admin", "password": "wrong" })).send().await.unwrap().status() }));
    }
    for t in tasks {
        let s = t.await.unwrap().as_u16();
        assert!(s == 401 || s == 429, "{s}");
    }
    let store = &apps[0].state.store;
    let entries = store.audit_entries(0, 10_000).await.unwrap();
    let head = store.audit_head().await.unwrap();
    assert_eq!(shenfen_store::audit::verify_chain(&entries, (head.0, &head.1)).unwrap() as usize, entries.len());
    // The staff sign-in limit (10 per 15 min per username) held across instances.
    let failures = entries.iter().filter(|e| e.record.action == "staff.sign_in_failed").count();
    assert_eq!(failures, 10);
}

/// Hundreds of simultaneous bookings at the last seats, spread over three instances on one PostgreSQL: exactly the
/// free seats are taken, nothing is overbooked, every confirmed booking is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_never_overbook() {
    let Some(apps) = TestApp::postgres_cluster(3).await else { return };
    let c = http();
    let state = &apps[0].state;
    let point = state.store.list_points().await.unwrap().into_iter().find(|p| p.district_code == "340104").unwrap();
    shenfen_server::appointments::ensure_slots(state, &point).await.unwrap();
    let slots: Vec<serde_json::Value> = c.get(apps[1].url(&format!("/api/v1/points/{}/slots", point.id))).send().await.unwrap().json().await.unwrap();
    let slot = slots.iter().find(|s| s["bookable"] == true).expect("a bookable slot").clone();
    let slot_id = slot["id"].as_str().unwrap().to_string();
    let capacity = slot["capacity"].as_i64().unwrap();

    let mut requests = Vec::new();
    for i in 0..300 {
        let app = &apps[i % 3];
        let (token, citizen) = app.direct_citizen_session(&format!("136{:08}", i)).await;
        let ident = shenfen_store::VerifiedIdentity {
            name_enc: vec![1],
            name_masked: "张*".into(),
            id_number_enc: vec![1],
            id_number_blind: format!("cluster-blind-{i}"),
            id_number_masked: "340104********177X".into(),
            hukou_code: "340104".into(),
        };
        app.state.store.record_primary_verification(&citizen.id, &ident, 0).await.unwrap();
        requests.push(c.post(app.url("/api/v1/appointments")).bearer_auth(token).json(&json!({ "slot_id": slot_id, "service": "renewal" })));
    }
    let tasks: Vec<_> = requests.into_iter().map(|r| tokio::spawn(async move { r.send().await.unwrap().status().as_u16() })).collect();
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            201 => created += 1,
            409 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, capacity);
    let stored = state.store.slot(&slot_id).await.unwrap().unwrap();
    assert_eq!(stored.booked, capacity);
    let day = slot["day"].as_str().unwrap();
    let booked = state.store.appointments_on(&point.id, day).await.unwrap().into_iter().filter(|a| a.slot_id == slot_id).count();
    assert_eq!(booked as i64, capacity, "every confirmed booking is stored");
}

/// An instance whose clock runs two minutes ahead would see the other instances' leases as expired and take their
/// jobs (sending SMS twice). It measures its clock against the database's, stands down — not ready, no background
/// jobs — and comes back by itself once its clock is corrected.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_with_a_wrong_clock_stands_down_until_it_is_corrected() {
    use shenfen_server::app::Clock;
    use shenfen_server::clock_guard;
    use shenfen_store::{Channel, NewNotification};
    let Some(apps) = TestApp::postgres_cluster_clocks(vec![Clock::default(), Clock::offset(120_000)], |_| {}).await else { return };
    let (sound, skewed) = (&apps[0], &apps[1]);
    let c = http();
    assert!(clock_guard::check(&sound.state).await.unwrap().abs() < 2_000);
    let skew = clock_guard::check(&skewed.state).await.unwrap();
    assert!((118_000..122_000).contains(&skew), "measured against the database clock: {skew}");
    assert_eq!(c.get(sound.url("/readyz")).send().await.unwrap().status(), 200);
    let r = c.get(skewed.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "clock_skew");

    // A job the sound instance is sending (a 60 s lease) looks abandoned to the skewed clock.
    let now = sound.state.now_ms();
    let citizen = sound.state.store.citizen_for_phone("13800000091", now).await.unwrap();
    let job = NewNotification {
        citizen_id: citizen.id,
        event_kind: "appointment_booked".into(),
        dedupe_key: "clock-skew-1".into(),
        channel: Channel::Sms,
        template: "appointment_booked".into(),
        vars: r#"{"point":"庐阳区受理点","day":"2026-12-01","time":"09:00","service":"换领","code":"ABC123"}"#.into(),
        phone: Some("13800000091".into()),
        not_before: now,
        now,
        content_key: None,
    };
    let id = sound.state.store.enqueue_notification(&job).await.unwrap().unwrap();
    assert_eq!(sound.state.store.claim_sms(&sound.state.worker_id, 10, now, now + 60_000).await.unwrap().len(), 1);
    // The skewed instance's worker stands down, inline delivery included...
    assert_eq!(shenfen_server::notify::run_once(&skewed.state).await.unwrap(), 0);
    shenfen_server::notify::deliver_by_id(&skewed.state, &id).await.unwrap();
    let n = sound.state.store.notification(&id).await.unwrap().unwrap();
    assert_eq!((n.leased_by.as_deref(), n.attempts), (Some(sound.state.worker_id.as_str()), 1), "the lease stays with its holder");
    // ...which matters: by its clock the lease has run out, and a claim would take the job over.
    let t = skewed.state.now_ms();
    assert!(n.lease_until.unwrap() < t, "the skewed clock sees the lease as expired");

    // NTP corrects the clock: the next check puts the instance back in service.
    skewed.state.clock.advance_ms(-120_000);
    assert!(clock_guard::check(&skewed.state).await.unwrap().abs() < 2_000);
    assert_eq!(c.get(skewed.url("/readyz")).send().await.unwrap().status(), 200);
    assert!(clock_guard::may_run_jobs(&skewed.state));
}
