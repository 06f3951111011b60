//! Browser test (real Chromium) of live notifications: a citizen has their appointment page open on one instance;
//! an administrator, on another instance, closes the point that day; without a reload the page announces the
//! message in its live region, the unread badge goes up, the appointment's status re-renders as cancelled, and a
//! `shenfen:notification` DOM event carries the JSON; the SMS is in the outbox, delivered. Then the notification
//! centre marks it read with its plain form. Two instances on PostgreSQL when configured, else one on SQLite (the
//! administrator is then another actor on the same instance). Harness: `tests/support/browser.rs`.

mod support;
#[path = "support/browser.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::Browser;
use shenfen_store::{Channel, NotificationStatus};
use support::{Db, TestApp};

const PHONE: &str = "13800138123";

/// Polls a JavaScript expression until it returns true (10 s at most).
async fn wait_for(b: &Browser, what: &str, script: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = b.c.execute(script, vec![]).await.expect("script");
        if v.as_bool() == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_closure_made_elsewhere_appears_live_on_the_open_appointment_page() {
    let mut admin_side: Option<TestApp> = None;
    let slot = &mut admin_side;
    let Some(b) = Browser::start_with(|| async move {
        let app = match TestApp::postgres_cluster(2).await {
            Some(mut apps) => {
                *slot = apps.pop();
                apps.pop().unwrap()
            }
            None => TestApp::start(Db::Sqlite).await.expect("app"),
        };
        shenfen_server::appointments::ensure_all_slots(&app.state).await.expect("slots");
        app
    })
    .await
    else {
        return;
    };
    let admin_app = admin_side.as_ref().unwrap_or(&b.app);
    let http = support::http();

    // The citizen signs in in the browser, is verified and has booked an appointment.
    b.sign_in(PHONE).await;
    let state = &b.app.state;
    let citizen = state.store.citizen_for_phone(PHONE, state.now_ms()).await.unwrap();
    let resident = shenfen_server::registry::DemoRegistry::new().residents()[0].clone();
    let citizen = state
        .store
        .record_primary_verification(
            &citizen.id,
            &shenfen_store::VerifiedIdentity {
                name_enc: state.keys.encrypt_field(&resident.name),
                name_masked: "张*".into(),
                id_number_enc: state.keys.encrypt_field(resident.id_number.as_str()),
                id_number_blind: state.keys.blind_index(resident.id_number.as_str()),
                id_number_masked: resident.id_number.masked(),
                hukou_code: resident.hukou_code.clone(),
            },
            state.now_ms(),
        )
        .await
        .unwrap();
    let point = state.store.list_points().await.unwrap().into_iter().find(|p| p.district_code == "340104").unwrap();
    let slots: Vec<serde_json::Value> = http.get(b.url(&format!("/api/v1/points/{}/slots", point.id))).send().await.unwrap().json().await.unwrap();
    let slot = slots.iter().find(|s| s["bookable"] == true).expect("a bookable slot").clone();
    let actor = shenfen_server::app::Actor { kind: shenfen_store::ActorKind::Citizen, id: citizen.id.clone(), ip: "127.0.0.1".into() };
    let appt = shenfen_server::appointments::book(state, &citizen, slot["id"].as_str().unwrap(), "renewal", &actor).await.unwrap();

    b.goto(&format!("/appointments/{}", appt.id)).await;
    let booked_status = b.text("#appt-status").await;
    assert_eq!(b.text("#unread-count").await, "1", "the booking notice is unread");
    assert_eq!(b.attr(&format!("[data-live-subject=\"appointment:{}\"]", appt.id), "data-live-subject").await.as_deref(), Some(format!("appointment:{}", appt.id).as_str()));
    assert_eq!(b.attr("#live-region", "aria-live").await.as_deref(), Some("polite"));
    // Listen for the DOM event as another script on the page would, and wait until the stream is open.
    b.c.execute("window.__got = null; document.addEventListener('shenfen:notification', function (e) { window.__got = e.detail; });", vec![]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.app.state.live.listeners() == 0 {
        assert!(Instant::now() < deadline, "the page did not open its event stream");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The administrator, on the other instance, closes the point that day.
    let token = admin_app.staff_token(&http, "admin").await;
    let day = slot["day"].as_str().unwrap();
    let r = http
        .put(admin_app.url(&format!("/api/v1/admin/points/{}/exceptions/{day}", point.id)))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "kind": "closed", "value": "设备检修" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let closed_at = Instant::now();

    wait_for(&b, "the live message", "var li = document.querySelector('#live-list li'); return !!li && li.textContent.indexOf('设备检修') >= 0;").await;
    let took = closed_at.elapsed();
    assert!(took < Duration::from_secs(3), "the message took {took:?}");
    assert_eq!(b.text("#unread-count").await, "2");
    assert_eq!(b.attr("#unread-badge", "hidden").await, None, "the badge is shown");
    assert_eq!(b.attr("#live-list li a", "href").await.as_deref(), Some(format!("/appointments/{}", appt.id).as_str()));
    wait_for(&b, "the status to re-render", &format!("return document.getElementById('appt-status').textContent.trim() !== {};", serde_json::to_string(&booked_status).unwrap())).await;
    assert!(!b.exists("#cancel-submit").await, "the cancel form went with the refreshed state");
    b.assert_no_horizontal_overflow("appointment page with a live message").await;
    let live_shot = b.screenshot("live-message-on-appointment").await;
    assert_eq!(b.path().await, format!("/appointments/{}", appt.id), "no navigation happened");
    let detail = b.c.execute("return window.__got;", vec![]).await.unwrap();
    assert_eq!(detail["dedupe_key"].as_str().unwrap(), format!("appointment:{}:closure:{day}", appt.id));
    assert_eq!(detail["kind"], "appointment_closure");
    assert_eq!(detail["unread"], 2);

    // And by SMS: in the sandbox outbox, delivered.
    let sms = state.store.notifications_by_dedupe(&format!("appointment:{}:closure:{day}", appt.id)).await.unwrap().into_iter().find(|n| n.channel == Channel::Sms).unwrap();
    assert_eq!(sms.status, NotificationStatus::Delivered);
    assert!(state.store.outbox(Some(PHONE), 10).await.unwrap().iter().any(|m| m.body.contains("设备检修")));

    // The notification centre, without JavaScript's help: mark the closure notice read.
    b.click_and_load("#nav-inbox").await;
    assert_eq!(b.path().await, "/me/notifications");
    assert_eq!(b.text("#inbox-unread").await, "2");
    b.click_and_load("#inbox li:first-child .inbox-mark button").await;
    assert_eq!(b.text("#unread-count").await, "1");
    assert!(b.text("#inbox li:first-child").await.contains("设备检修"));
    assert!(!b.exists("#inbox li:first-child .tag-unread").await);
    b.assert_no_horizontal_overflow("/me/notifications").await;
    let centre_shot = b.screenshot("notification-centre").await;
    let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("screenshots: {}, {}\n", live_shot.display(), centre_shot.display()));
    b.finish().await;
}
