//! Browser tests (real Chromium) of smart appointments: find a point on the list, check its navigation links,
//! book a slot, see the booking with its code and QR code, cancel it; then counter staff check a booking in,
//! call the next number and see it on the public display. The clock is fixed on a working Monday morning in
//! China time (UTC+8) so that the point has slots left today. Harness: `tests/support/browser.rs`.

mod support;
#[path = "support/browser.rs"]
mod harness;

use std::io::Write;

use harness::Browser;
use shenfen_server::app::Clock;
use support::{Db, TestApp};

const TODAY: &str = "2025-11-10";
const TOMORROW: &str = "2025-11-11";

async fn app() -> TestApp {
    // Monday 10 November 2025, 09:40 China Standard Time.
    let clock = Clock::fixed(time::macros::datetime!(2025-11-10 09:40 +8).unix_timestamp() * 1000);
    let app = TestApp::start_with(Db::Sqlite, clock, |_| {}).await.expect("app");
    shenfen_server::appointments::ensure_all_slots(&app.state).await.expect("slots");
    app
}

async fn counter_point(app: &TestApp) -> String {
    app.state.store.staff_by_username("counter").await.unwrap().unwrap().scope.code
}

/// A slot today at the point that can still be booked; created (starting later today, capacity 5) if none is left.
async fn ensure_slot_today(app: &TestApp, point: &str) {
    let now = app.state.now_ms();
    let bookable = app.state.store.slots(point, TODAY, TODAY).await.unwrap().into_iter().any(|s| s.starts_at > now + 45 * 60_000 && s.booked < s.capacity);
    if !bookable {
        let start = shenfen_server::appointments::local_now(&app.state);
        let start_min = (start.hour() as i64 * 60 + start.minute() as i64 + 60).min(23 * 60);
        app.state
            .store
            .ensure_slots(&[shenfen_store::NewSlot {
                point_id: point.to_string(),
                day: TODAY.into(),
                start_min,
                end_min: start_min + 30,
                starts_at: now + 60 * 60_000,
                capacity: 5,
            }])
            .await
            .unwrap();
    }
}

async fn verify_identity(b: &Browser) {
    let r = shenfen_server::registry::DemoRegistry::new().residents()[0].clone();
    b.goto("/me/verify").await;
    b.type_into("#name", &r.name).await;
    b.type_into("#id_number", r.id_number.as_str()).await;
    b.click_and_load("#verify-submit").await;
    assert_eq!(b.path().await, "/me", "verification went through");
}

/// Opens a day's slot list (a `<details>`) if it is closed.
async fn open_day(b: &Browser, day: &str) {
    let open = b.attr(&format!("#day-{day}"), "open").await;
    if open.is_none() {
        let summary = b.css(&format!("#day-{day} summary")).await;
        // Into the middle of the viewport, clear of the fixed tab bar.
        b.c.execute("arguments[0].scrollIntoView({block: 'center'})", vec![serde_json::to_value(&summary).unwrap()]).await.expect("scroll");
        summary.click().await.expect("open day");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_point_navigate_book_see_and_cancel() {
    let Some(b) = Browser::start_with(app).await else { return };
    let point = counter_point(&b.app).await;
    let mut shots = Vec::new();
    b.sign_in("13800138101").await;
    verify_identity(&b).await;

    // Find the point on the list, by district (no location needed).
    b.goto("/").await;
    b.click_and_load("#service-appointments").await;
    assert_eq!(b.path().await, "/points");
    assert_eq!(b.attr("#heatmap", "role").await.as_deref(), Some("img"));
    assert!(b.attr("#heatmap", "aria-label").await.unwrap_or_default().contains("49"));
    b.css("#district").await.select_by_value("340104").await.expect("choose district");
    b.click_and_load("#district-submit").await;
    assert!(b.c.current_url().await.unwrap().query().unwrap_or_default().contains("district=340104"));
    // The script shows the location button (geolocation exists in Chromium) and the live-update control.
    assert!(b.attr("#geo-form", "hidden").await.is_none(), "use-my-location is offered with JavaScript");
    assert!(b.attr("#live-toggle", "hidden").await.is_none());
    b.assert_no_horizontal_overflow("/points").await;
    shots.push(b.screenshot("appointments-points").await);
    let first_district = b.text("#points-list li:first-child .point-meta").await;
    assert!(first_district.starts_with("蜀山区"), "nearest first: {first_district}");

    // Live update without a reload: someone takes a walk-in ticket at the point; the next refresh (forced here
    // instead of waiting 15 s) shows one person waiting, in the list and in the map's title.
    let card = format!("#points-list li[data-point='{point}'] [data-field=waiting]");
    assert_eq!(b.text(&card).await, "0");
    let html = b.c.find(fantoccini::Locator::Css("html")).await.unwrap();
    let pt = b.app.state.store.point(&point).await.unwrap().unwrap();
    let actor = shenfen_server::app::Actor { kind: shenfen_store::ActorKind::Staff, id: "test".into(), ip: "127.0.0.1".into() };
    shenfen_server::appointments::walk_in(&b.app.state, &pt, &actor).await.unwrap();
    b.c.execute("document.dispatchEvent(new Event('visibilitychange'))", vec![]).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.text(&card).await != "1" {
        assert!(std::time::Instant::now() < deadline, "the list did not update live");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(html.tag_name().await.is_ok(), "no reload happened");
    assert!(!b.text("#live-status").await.is_empty());
    b.click_and_load(&format!("#point-{point}")).await;
    assert_eq!(b.path().await, format!("/points/{point}"));

    // Navigation hand-off links, each app in its own format; the mode switch changes them.
    let name = b.text("#point-name").await;
    let amap_app = b.attr("#nav-amap-app", "href").await.unwrap();
    assert!(amap_app.starts_with("amapuri://route/plan/?sourceApplication=shenfen") && amap_app.contains("&dev=0&t=1"), "{amap_app}");
    let amap_web = b.attr("#nav-amap-web", "href").await.unwrap();
    assert!(amap_web.starts_with("https://uri.amap.com/navigation?from=") && amap_web.contains("mode=bus"), "{amap_web}");
    let baidu_app = b.attr("#nav-baidu-app", "href").await.unwrap();
    assert!(baidu_app.starts_with("baidumap://map/direction?") && baidu_app.contains("coord_type=gcj02") && baidu_app.contains("mode=transit"), "{baidu_app}");
    let baidu_web = b.attr("#nav-baidu-web", "href").await.unwrap();
    assert!(baidu_web.starts_with("https://api.map.baidu.com/direction?origin=latlng:") && baidu_web.contains("output=html"), "{baidu_web}");
    assert!(b.attr("#nav-tencent-app", "href").await.unwrap().starts_with("qqmap://map/routeplan?type=bus"));
    let tencent_web = b.attr("#nav-tencent-web", "href").await.unwrap();
    assert!(tencent_web.starts_with("https://apis.map.qq.com/uri/v1/routeplan?type=bus") && tencent_web.contains("coord_type=2"), "{tencent_web}");
    let p = b.app.state.store.point(&point).await.unwrap().unwrap();
    assert!(amap_web.contains(&format!("to={:.6},{:.6},", p.lng_gcj02, p.lat_gcj02)), "Amap web wants lng,lat: {amap_web}");
    assert!(tencent_web.contains(&format!("tocoord={:.6},{:.6}", p.lat_gcj02, p.lng_gcj02)), "Tencent wants lat,lng: {tencent_web}");
    b.click_and_load("#mode-walk").await;
    assert_eq!(b.attr("#mode-walk", "aria-current").await.as_deref(), Some("true"));
    assert!(b.attr("#nav-amap-web", "href").await.unwrap().contains("mode=walk"));
    assert!(b.attr("#nav-baidu-app", "href").await.unwrap().contains("mode=walking"));
    assert_eq!(b.text("#point-name").await, name);
    assert!(b.attr("#point-phone", "href").await.unwrap().starts_with("tel:"));
    b.assert_no_horizontal_overflow("/points/{id}").await;
    shots.push(b.screenshot("appointments-point").await);

    // Book tomorrow's first slot (far enough ahead to cancel later).
    open_day(&b, TOMORROW).await;
    let slot = format!("#day-{TOMORROW} button.slot");
    let start = b.attr(&slot, "data-start").await.unwrap();
    b.click_and_load(&slot).await;
    assert!(b.path().await.starts_with("/appointments/"), "booked: {}", b.path().await);
    let code = b.text("#appt-code").await;
    assert_eq!(code.len(), 8, "{code}");
    assert!(b.exists("svg.qr[role=img]").await, "the code as a QR code");
    assert!(b.text("#appt-notice").await.contains("预约成功"));
    assert!(b.text("#appt-when").await.contains(&start));
    assert_eq!(b.text("#appt-status").await, "已预约");
    b.assert_no_horizontal_overflow("/appointments/{id}").await;
    shots.push(b.screenshot("appointments-booked").await);
    let sms = b.app.state.store.outbox(Some("13800138101"), 1).await.unwrap();
    assert!(sms[0].body.contains(&code), "the booking SMS carries the code");

    // It is among my appointments, reachable from my account.
    b.goto("/me").await;
    b.click_and_load("#my-appointments").await;
    assert_eq!(b.path().await, "/appointments");
    assert!(b.text("#appointments").await.contains(&code));
    b.click_and_load("#appointments a").await;

    // Cancel it.
    b.click_and_load("#cancel-submit").await;
    assert_eq!(b.text("#appt-status").await, "已取消");
    assert!(b.text("#appt-notice").await.contains("已取消"));
    assert!(!b.exists("svg.qr").await && !b.exists("#cancel-submit").await);
    let _ = writeln!(std::io::stderr(), "screenshots: {}", shots.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_checks_in_calls_next_and_display_shows_it() {
    let Some(b) = Browser::start_with(app).await else { return };
    let point = counter_point(&b.app).await;
    ensure_slot_today(&b.app, &point).await;
    let mut shots = Vec::new();

    // A citizen books a slot later today.
    b.sign_in("13800138102").await;
    verify_identity(&b).await;
    b.goto(&format!("/points/{point}")).await;
    open_day(&b, TODAY).await;
    b.click_and_load(&format!("#day-{TODAY} button.slot")).await;
    let code = b.text("#appt-code").await;
    assert_eq!(code.len(), 8);

    // Counter staff sign in on the same phone (the session is replaced) and open the console.
    b.goto("/staff/sign-in").await;
    b.type_into("#username", "counter").await;
    b.type_into("#password", "shenfen-counter-demo").await;
    b.click_and_load("#staff-sign-in").await;
    b.goto("/counter").await;
    assert!(b.text("#today-appointments").await.contains(&code), "today's appointments list the booking");
    assert_eq!(b.text("#waiting-count").await, "0");

    // A mistyped code is explained next to the field; the right one (typed in lower case) checks in.
    b.type_into("#code", "ZZZZ9999").await;
    b.click_and_load("#check-in-submit").await;
    assert_eq!(b.attr(".error-summary a", "href").await.as_deref(), Some("#code"));
    assert_eq!(b.attr("#code", "aria-invalid").await.as_deref(), Some("true"));
    b.type_into("#code", &code.to_lowercase()).await;
    b.click_and_load("#check-in-submit").await;
    assert!(b.text("#counter-notice").await.contains("A001"), "{}", b.text("#counter-notice").await);
    assert_eq!(b.text("#waiting-count").await, "1");

    // Call next at window 1: the appointment holder (checked in early, the only one waiting); then a walk-in.
    b.click_and_load("#call-1").await;
    assert!(b.text("#counter-notice").await.contains("A001"));
    assert!(b.exists("#served-A001").await);
    b.click_and_load("#walk-in").await;
    assert!(b.text("#counter-notice").await.contains("W001"));
    b.assert_no_horizontal_overflow("/counter").await;
    shots.push(b.screenshot("appointments-counter").await);

    // The public display shows the number and the window, and refreshes itself.
    b.click_and_load("#display-link").await;
    assert_eq!(b.path().await, format!("/points/{point}/display"));
    assert_eq!(b.text("#calls li:first-child .call-number").await, "A001");
    assert!(b.text("#calls li:first-child .call-window").await.ends_with('1'));
    assert_eq!(b.text("#waiting-count").await, "1");
    assert_eq!(b.attr("meta[http-equiv=refresh]", "content").await.as_deref(), Some("10"));
    b.assert_no_horizontal_overflow("/points/{id}/display").await;
    shots.push(b.screenshot("appointments-display").await);

    // Served; the citizen's appointment shows it was checked in.
    b.goto("/counter").await;
    b.click_and_load("#served-A001").await;
    assert!(!b.exists("#served-A001").await);
    let appt = b.app.state.store.appointments_on(&point, TODAY).await.unwrap().into_iter().find(|a| a.code == code).unwrap();
    assert_ne!(appt.status, shenfen_store::AppointmentStatus::Booked);
    let _ = writeln!(std::io::stderr(), "screenshots: {}", shots.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    b.finish().await;
}
