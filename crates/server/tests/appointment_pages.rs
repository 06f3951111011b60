//! HTTP-level tests of the smart-appointment pages (no JavaScript): the point list and heat map, point detail with
//! navigation links, booking/rescheduling/cancelling through forms with CSRF, someone else's appointment, and the
//! counter console's role checks, check-in, queue and status switch. The clock is fixed on a working Monday
//! morning in China time so that "today" has slots left.

mod support;

use shenfen_server::app::Clock;
use support::{csrf_of, Db, TestApp, http};

const ZHANG_ID: &str = "34010419900307177X";
const LI_ID: &str = "34010219850615246X";

/// Monday 10 November 2025, 09:40 China Standard Time.
fn monday_morning() -> Clock {
    Clock::fixed(time::macros::datetime!(2025-11-10 09:40 +8).unix_timestamp() * 1000)
}

/// An app on the fixed clock with the booking horizon's slots generated (as `serve` does at start-up).
async fn start(db: Db) -> Option<TestApp> {
    let app = TestApp::start_with(db, monday_morning(), |_| {}).await?;
    shenfen_server::appointments::ensure_all_slots(&app.state).await.unwrap();
    Some(app)
}

macro_rules! on_both_fixed {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $app = start(Db::Sqlite).await.unwrap();
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($app) = start(Db::Postgres).await else { return };
                $body
            }
        }
    };
}

/// Every `name="slot_id" value="…"` on a page, in order.
fn slot_ids(html: &str) -> Vec<String> {
    html.split("name=\"slot_id\" value=\"").skip(1).map(|s| s.split('"').next().unwrap().to_string()).collect()
}

/// The value of `attr="…"` on the element with `id="…"`.
fn attr_of(html: &str, id: &str, attr: &str) -> String {
    let at = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id}"));
    let tag_start = html[..at].rfind('<').unwrap();
    let tag = &html[tag_start..tag_start + html[tag_start..].find('>').unwrap()];
    let key = format!("{attr}=\"");
    let v = tag.find(&key).unwrap_or_else(|| panic!("#{id} has no {attr}: {tag}")) + key.len();
    tag[v..].split('"').next().unwrap().replace("&amp;", "&").replace("&#38;", "&")
}

async fn get(c: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn post(c: &reqwest::Client, app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    c.post(app.url(path)).form(form).send().await.unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

async fn citizen(app: &TestApp, phone: &str, verify: Option<(&str, &str)>) -> (reqwest::Client, String) {
    support::citizen_pages(app, phone, verify).await
}

async fn staff(app: &TestApp, username: &str) -> (reqwest::Client, String) {
    support::staff_pages(app, username).await
}

async fn counter_point(app: &TestApp) -> String {
    app.state.store.staff_by_username("counter").await.unwrap().unwrap().scope.code
}

on_both_fixed!(points_list_map_and_detail, |app| {
    let c = http();
    let (status, html) = get(&c, &app, "/points").await;
    assert_eq!(status, 200);
    assert!(html.contains("<svg id=\"heatmap\" role=\"img\" aria-label=\""), "the map is an image with a label, not hidden");
    assert!(!html.contains("aria-hidden=\"true\" viewBox"));
    assert_eq!(html.matches("class=\"point-card\"").count(), 49, "every point is in the list");
    assert_eq!(html.matches("class=\"map-dot\"").count(), 49, "and on the map");
    assert!(html.contains("<title>") && html.contains("瑶海区"), "points carry titles; district labels from the shipped data");
    assert!(html.contains("class=\"badge load-idle\"") && html.contains(">空闲<"), "load shown as text, not only colour");
    assert!(html.contains("<script src=\"/static/points.js\" defer></script>"));
    assert!(html.contains("<option value=\"340104\">蜀山区</option>") && html.contains("<option value=\"340521\">"), "Hefei districts and the rest of Anhui");

    // A district chosen by hand sorts by distance from its centre and carries it into the point links.
    let (_, html) = get(&c, &app, "/points?district=340111").await;
    let first = html.split("class=\"point-card\"").nth(1).unwrap();
    assert!(first.contains("包河区") && first.contains("距离"), "{}", &first[..400.min(first.len())]);
    assert!(first.contains("?district=340111\""));
    assert!(html.contains("data-api=\"/api/v1/points?district=340111\""), "the live refresh asks for the same list");
    assert!(html.contains("<option value=\"340111\" selected>"));

    // A browser location (WGS-84) works; malformed or foreign ones are explained, not a bare 400.
    let (status, html) = get(&c, &app, "/points?lat=31.8585&lng=117.2566").await;
    assert_eq!(status, 200);
    assert!(html.contains("class=\"map-origin\""));
    for q in ["lat=abc&lng=1", "lat=51.5&lng=-0.12", "district=999999", "lat=31.8"] {
        let (status, html) = get(&c, &app, &format!("/points?{q}")).await;
        assert_eq!(status, 422, "{q}");
        assert!(html.contains("error-summary"), "{q}");
        assert_eq!(html.matches("class=\"point-card\"").count(), 49, "the list still shows: {q}");
    }

    // The detail page: contact, hours, services, navigation links in every app's own format.
    let point = counter_point(&app).await;
    let (status, html) = get(&c, &app, &format!("/points/{point}?district=340104&mode=walk")).await;
    assert_eq!(status, 200);
    assert!(attr_of(&html, "point-phone", "href").starts_with("tel:0551"));
    assert!(html.contains("周一至周五") && html.contains("09:00–12:00"));
    assert!(attr_of(&html, "nav-amap-app", "href").starts_with("amapuri://route/plan/?"));
    let amap_web = attr_of(&html, "nav-amap-web", "href");
    assert!(amap_web.starts_with("https://uri.amap.com/navigation?from=") && amap_web.contains("&mode=walk"), "{amap_web}");
    assert!(attr_of(&html, "nav-baidu-app", "href").contains("coord_type=gcj02"));
    assert!(attr_of(&html, "nav-baidu-web", "href").starts_with("https://api.map.baidu.com/direction?origin=latlng:"));
    assert!(attr_of(&html, "nav-tencent-app", "href").starts_with("qqmap://map/routeplan?type=walk"));
    assert!(attr_of(&html, "nav-tencent-web", "href").contains("tocoord="));
    assert_eq!(attr_of(&html, "mode-walk", "aria-current"), "true");
    assert!(attr_of(&html, "mode-drive", "href").contains("district=340104&mode=drive"));
    // iPhones get the iOS app links; without an origin Baidu's web page (which needs one) is not offered.
    let r = c.get(app.url(&format!("/points/{point}"))).header("user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)").send().await.unwrap();
    let html = r.text().await.unwrap();
    assert!(attr_of(&html, "nav-amap-app", "href").starts_with("iosamap://path?"));
    assert!(!html.contains("id=\"nav-baidu-web\""));
    assert!(attr_of(&html, "mode-transit", "aria-current") == "true", "transit by default");
    // Slots are listed (generated on first view), bookable ones as buttons; signed-out visitors are told to sign in.
    assert!(slot_ids(&html).len() > 10);
    assert!(html.contains("id=\"sign-in-to-book\""));
    assert_eq!(get(&c, &app, &format!("/points/{point}?mode=fly")).await.0, 422);
    assert_eq!(get(&c, &app, "/points/nope").await.0, 404);
    // The static script is served with a JavaScript type.
    let r = c.get(app.url("/static/points.js")).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(r.text().await.unwrap().contains("geolocation"));
});

on_both_fixed!(book_see_reschedule_and_cancel_with_forms, |app| {
    let point = counter_point(&app).await;
    // Signed out: my appointments and booking lead to sign-in, and come back.
    let anon = http();
    let r = anon.get(app.url("/appointments")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (303, "/sign-in?next=%2Fappointments".to_string()));
    let (_, html) = get(&anon, &app, &format!("/points/{point}")).await;
    let csrf = csrf_of(&html);
    let slots = slot_ids(&html);
    let r = post(&anon, &app, "/appointments", &[("csrf", &csrf), ("slot_id", &slots[0]), ("service", "renewal")]).await;
    assert_eq!(location(&r), format!("/sign-in?next=%2Fpoints%2F{point}"));

    // Unverified citizens are told to verify first.
    let (c, csrf) = citizen(&app, "13800000301", None).await;
    let (_, html) = get(&c, &app, &format!("/points/{point}")).await;
    assert!(html.contains("id=\"verify-to-book\""));
    let r = post(&c, &app, "/appointments", &[("csrf", &csrf), ("slot_id", &slots[0]), ("service", "renewal")]).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("预约前请先完成实名认证"));

    let (c, csrf) = citizen(&app, "13800000302", Some(("张三", ZHANG_ID))).await;
    let (_, html) = get(&c, &app, &format!("/points/{point}")).await;
    let slots = slot_ids(&html);
    // Without the CSRF token nothing is booked.
    for token in ["", "forged"] {
        assert_eq!(post(&c, &app, "/appointments", &[("csrf", token), ("slot_id", &slots[5]), ("service", "renewal")]).await.status(), 403);
    }
    let r = post(&c, &app, "/appointments", &[("csrf", &csrf), ("slot_id", &slots[5]), ("service", "haircut")]).await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("error-summary") && page.contains("href=\"#service\""), "the summary links to the service field");
    assert!(app.state.store.appointments_of(&app.state.store.citizen_for_phone("13800000302", 0).await.unwrap().id).await.unwrap().is_empty());

    let r = post(&c, &app, "/appointments", &[("csrf", &csrf), ("slot_id", &slots[5]), ("service", "renewal")]).await;
    assert_eq!(r.status(), 303);
    let target = location(&r);
    assert!(target.starts_with("/appointments/") && target.ends_with("?done=booked"), "{target}");
    let id = target.trim_start_matches("/appointments/").trim_end_matches("?done=booked").to_string();
    let (status, html) = get(&c, &app, &target).await;
    assert_eq!(status, 200);
    let appt = app.state.store.appointment(&id).await.unwrap().unwrap();
    assert!(html.contains(&format!("id=\"appt-code\">{}<", appt.code)), "the code is shown big");
    assert!(html.contains("<svg class=\"qr\" role=\"img\" aria-label=\"预约码二维码 "), "and as a QR code");
    assert!(!html.contains("<?xml"));
    assert!(html.contains("id=\"appt-notice\""));
    let sms = app.state.store.outbox(Some("13800000302"), 1).await.unwrap();
    assert!(sms[0].body.contains(&appt.code));
    let (_, mine) = get(&c, &app, "/appointments").await;
    assert!(mine.contains(&appt.code) && mine.contains(&format!("href=\"/appointments/{id}\"")));

    // The same service twice: the point page again, with the reason.
    let r = post(&c, &app, "/appointments", &[("csrf", &csrf), ("slot_id", &slots[6]), ("service", "renewal")]).await;
    assert_eq!(r.status(), 409);
    let page = r.text().await.unwrap();
    assert!(page.contains("error-summary") && page.contains("您已有该业务的有效预约"));

    // Someone else's appointment does not exist for them, and they cannot cancel or move it.
    let (li, li_csrf) = citizen(&app, "13800000303", Some(("李四", LI_ID))).await;
    assert_eq!(get(&li, &app, &format!("/appointments/{id}")).await.0, 404);
    assert_eq!(post(&li, &app, &format!("/appointments/{id}/cancel"), &[("csrf", &li_csrf)]).await.status(), 404);
    assert_eq!(post(&li, &app, &format!("/appointments/{id}/reschedule"), &[("csrf", &li_csrf), ("slot_id", &slots[7])]).await.status(), 404);
    assert_eq!(get(&li, &app, "/appointments/not-an-id").await.0, 404);
    assert_eq!(app.state.store.appointment(&id).await.unwrap().unwrap().status, shenfen_store::AppointmentStatus::Booked);

    // Reschedule to one of the offered slots, then cancel.
    let (_, html) = get(&c, &app, &format!("/appointments/{id}")).await;
    let offered = slot_ids(&html.replace("<option value=\"", "name=\"slot_id\" value=\""));
    // The last offered slot: days ahead, so that the cancellation cut-off (2 hours before) is far away.
    let to = offered.last().unwrap().clone();
    assert_ne!(to, appt.slot_id, "the current slot is not offered");
    let r = post(&c, &app, &format!("/appointments/{id}/reschedule"), &[("csrf", &csrf), ("slot_id", "nope")]).await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("href=\"#slot_id\""));
    let r = post(&c, &app, &format!("/appointments/{id}/reschedule"), &[("csrf", &csrf), ("slot_id", &to)]).await;
    assert_eq!(location(&r), format!("/appointments/{id}?done=rescheduled"));
    assert_eq!(app.state.store.appointment(&id).await.unwrap().unwrap().slot_id, to);
    assert_eq!(post(&c, &app, &format!("/appointments/{id}/cancel"), &[("csrf", "")]).await.status(), 403);
    let r = post(&c, &app, &format!("/appointments/{id}/cancel"), &[("csrf", &csrf)]).await;
    let (status, to) = (r.status(), location(&r));
    assert_eq!(to, format!("/appointments/{id}?done=cancelled"), "{status}: {}", r.text().await.unwrap().split("<li><a").nth(1).unwrap_or("").chars().take(200).collect::<String>());
    let (_, html) = get(&c, &app, &format!("/appointments/{id}?done=cancelled")).await;
    assert!(html.contains("id=\"appt-status\">已取消<") && !html.contains("<svg class=\"qr\"") && !html.contains("id=\"cancel-submit\""));
    let r = post(&c, &app, &format!("/appointments/{id}/cancel"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 422, "cancelling twice explains why");
    assert!(r.text().await.unwrap().contains("该预约已不能取消"));
});

on_both_fixed!(full_slot_offers_alternatives, |app| {
    let point = counter_point(&app).await;
    let (c, csrf) = citizen(&app, "13800000311", Some(("张三", ZHANG_ID))).await;
    let (_, html) = get(&c, &app, &format!("/points/{point}")).await;
    let slot_id = slot_ids(&html)[0].clone();
    // Others fill the slot.
    let slot = app.state.store.slot(&slot_id).await.unwrap().unwrap();
    for i in 0..slot.capacity {
        let (_, other) = app.direct_citizen_session(&format!("1370000{:04}", i)).await;
        app.state
            .store
            .book(&shenfen_store::NewAppointment {
                citizen_id: other.id,
                slot_id: slot_id.clone(),
                service: "renewal".into(),
                month: "2025-11".into(),
                max_cancellations_per_month: 3,
                max_no_shows_per_month: 3,
                now: app.state.now_ms(),
            })
            .await
            .unwrap();
    }
    let r = post(&c, &app, "/appointments", &[("csrf", &csrf), ("slot_id", &slot_id), ("service", "renewal")]).await;
    assert_eq!(r.status(), 409);
    let page = r.text().await.unwrap();
    assert!(page.contains("error-summary") && page.contains("href=\"#slots\""));
    assert!(page.contains("id=\"suggestions\"") && page.contains("错峰推荐"), "alternatives are offered");
    assert!(page.matches("class=\"button button-secondary suggest-book\"").count() >= 1);
    assert!(!slot_ids(&page.split("id=\"suggestions\"").nth(1).unwrap().split("id=\"slots\"").next().unwrap()).contains(&slot_id), "never the full slot");
});

on_both_fixed!(counter_console_roles_check_in_and_queue, |app| {
    let point = counter_point(&app).await;
    let other = app.state.store.list_points().await.unwrap().into_iter().find(|p| p.id != point).unwrap().id;

    // Who may open the console.
    let r = http().get(app.url("/counter")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (303, "/staff/sign-in".to_string()));
    let (citizen_c, _) = citizen(&app, "13800000321", None).await;
    assert_eq!(get(&citizen_c, &app, "/counter").await.0, 403);
    let (reviewer, reviewer_csrf) = staff(&app, "reviewer").await;
    assert_eq!(get(&reviewer, &app, "/counter").await.0, 403);
    let (admin, _) = staff(&app, "admin").await;
    let (status, html) = get(&admin, &app, "/counter").await;
    assert_eq!(status, 200);
    assert!(html.contains("<select id=\"point\" name=\"point\">") && html.contains(&format!("<option value=\"{point}\">")), "admins choose a point");
    assert_eq!(get(&admin, &app, &format!("/counter?point={other}")).await.0, 200);
    assert_eq!(get(&admin, &app, "/counter?point=nope").await.0, 404);

    let (c, csrf) = staff(&app, "counter").await;
    let (status, html) = get(&c, &app, "/counter").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"counter-point\"") && html.contains("id=\"call-2\""), "one call button per window");
    assert_eq!(get(&c, &app, &format!("/counter?point={other}")).await.0, 403, "counter staff run their own point only");
    assert_eq!(post(&c, &app, "/counter/walk-in", &[("csrf", &csrf), ("point", &other)]).await.status(), 403);
    assert_eq!(post(&reviewer, &app, "/counter/walk-in", &[("csrf", &reviewer_csrf), ("point", &point)]).await.status(), 403);
    assert_eq!(post(&c, &app, "/counter/walk-in", &[("csrf", ""), ("point", &point)]).await.status(), 403, "CSRF");

    // A booking for today, then check-in by code; a forged code is refused with the field marked.
    let (zhang, zhang_csrf) = citizen(&app, "13800000322", Some(("张三", ZHANG_ID))).await;
    let (_, html) = get(&zhang, &app, &format!("/points/{point}")).await;
    let today_slot = html.split("data-day=\"2025-11-10\"").next().and_then(|h| h.rsplit("name=\"slot_id\" value=\"").next()).map(|s| s.split('"').next().unwrap().to_string()).unwrap();
    assert_eq!(app.state.store.slot(&today_slot).await.unwrap().unwrap().day, "2025-11-10");
    let r = post(&zhang, &app, "/appointments", &[("csrf", &zhang_csrf), ("slot_id", &today_slot), ("service", "renewal")]).await;
    assert_eq!(r.status(), 303);
    let appt_id = location(&r).trim_start_matches("/appointments/").split('?').next().unwrap().to_string();
    let code = app.state.store.appointment(&appt_id).await.unwrap().unwrap().code;
    let (_, html) = get(&c, &app, "/counter").await;
    assert!(html.contains(&code), "today's appointments list the booking");

    let r = post(&c, &app, "/counter/check-in", &[("csrf", &csrf), ("point", &point), ("code", "ZZZZ9999")]).await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("href=\"#code\"") && page.contains("id=\"code-error\"") && page.contains("aria-invalid=\"true\""));
    let r = post(&c, &app, "/counter/check-in", &[("csrf", &csrf), ("point", &point), ("code", &code.to_lowercase())]).await;
    assert_eq!(location(&r), format!("/counter?point={point}&done=check_in&number=A001"));
    let (_, html) = get(&c, &app, &location(&r)).await;
    assert!(html.contains("排队号 A001"));

    // Call next (the appointment holder, checked in early, is the only one waiting); the display shows it.
    let r = post(&c, &app, "/counter/call", &[("csrf", &csrf), ("point", &point), ("window", "1")]).await;
    assert!(location(&r).ends_with("&done=called&number=A001"), "{}", location(&r));
    let r = post(&c, &app, "/counter/walk-in", &[("csrf", &csrf), ("point", &point)]).await;
    assert!(location(&r).ends_with("&done=walk_in&number=W001"));
    let r = post(&c, &app, "/counter/call", &[("csrf", &csrf), ("point", &point), ("window", "9")]).await;
    assert_eq!(r.status(), 422);
    let (status, display) = get(&http(), &app, &format!("/points/{point}/display")).await;
    assert_eq!(status, 200);
    assert!(display.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
    assert!(display.contains("class=\"call-number\">A001<") && display.contains("id=\"waiting-count\">1<"));
    assert_eq!(get(&http(), &app, "/points/nope/display").await.0, 404);

    // Finish it; the citizen sees the change.
    let (_, html) = get(&c, &app, "/counter").await;
    let ticket = html.split("name=\"ticket\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert_eq!(post(&c, &app, "/counter/finish", &[("csrf", &csrf), ("point", &point), ("ticket", &ticket), ("outcome", "maybe")]).await.status(), 422);
    let r = post(&c, &app, "/counter/finish", &[("csrf", &csrf), ("point", &point), ("ticket", &ticket), ("outcome", "served")]).await;
    assert!(location(&r).ends_with("&done=finished"));
    let r = post(&c, &app, "/counter/call", &[("csrf", &csrf), ("point", &point), ("window", "2")]).await;
    assert!(location(&r).ends_with("&number=W001"));
    let r = post(&c, &app, "/counter/call", &[("csrf", &csrf), ("point", &point), ("window", "1")]).await;
    assert!(location(&r).ends_with("&done=nobody"));

    // Status switch: a reason is required to pause; then the public list says so.
    let r = post(&c, &app, "/counter/status", &[("csrf", &csrf), ("point", &point), ("status", "paused"), ("reason", "")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("href=\"#reason\""));
    let r = post(&c, &app, "/counter/status", &[("csrf", &csrf), ("point", &point), ("status", "paused"), ("reason", "系统维护")]).await;
    assert!(location(&r).ends_with("&done=status"));
    let (_, list) = get(&http(), &app, "/points").await;
    let card = list.split(&format!("class=\"point-card\" data-point=\"{point}\"")).nth(1).unwrap().split("</li>").next().unwrap();
    assert!(card.contains("暂停服务") && card.contains("系统维护"));
    assert!(app.state.store.audit_entries(0, 1000).await.unwrap().iter().any(|e| e.record.action == "point.status"));
});

/// Offline (the default) the map draws the district seats shipped in the repository; with a tile server configured
/// for production it draws that server's tiles under the markers and the CSP admits exactly that origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_uses_the_configured_tile_server() {
    let offline = TestApp::start(Db::Sqlite).await.unwrap();
    let r = http().get(offline.url("/points")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    let html = r.text().await.unwrap();
    assert!(!html.contains("<image") && html.contains("class=\"map-label\""));
    assert!(csp.contains("img-src 'self' data: blob:;"), "{csp}");

    let app = TestApp::start_with(Db::Sqlite, Clock::default(), |c| {
        c.map.tile_url = Some("https://tiles.example.gov.cn/gcj02/{z}/{x}/{y}.png".into());
        c.map.attribution = "© 示例测绘".into();
    })
    .await
    .unwrap();
    let r = http().get(app.url("/points?district=340104")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("img-src 'self' data: blob: https://tiles.example.gov.cn;"), "{csp}");
    let html = r.text().await.unwrap();
    let tiles: Vec<&str> = html.split("<image class=\"map-tile\" href=\"").skip(1).map(|s| s.split('"').next().unwrap()).collect();
    assert!((2..=48).contains(&tiles.len()), "{} tiles", tiles.len());
    // Hefei (31.8°N, 117.2°E) lies in tile x = 3381, y = 1665 at zoom 12 (slippy-map numbering): every tile drawn
    // is at one zoom level and near it.
    let (z, x, y): (Vec<u32>, Vec<u32>, Vec<u32>) = tiles.iter().fold((vec![], vec![], vec![]), |mut acc, t| {
        let parts: Vec<u32> = t.trim_end_matches(".png").rsplit('/').take(3).map(|p| p.parse().unwrap()).collect();
        acc.0.push(parts[2]);
        acc.1.push(parts[1]);
        acc.2.push(parts[0]);
        acc
    });
    assert!(z.iter().all(|v| *v == z[0]) && (9..=14).contains(&z[0]), "{z:?}");
    let scale = 2f64.powi(z[0] as i32 - 12);
    assert!(x.iter().all(|v| ((*v as f64) / scale - 3381.0).abs() < 4.0), "{x:?}");
    assert!(y.iter().all(|v| ((*v as f64) / scale - 1665.0).abs() < 4.0), "{y:?}");
    assert!(html.contains("© 示例测绘"));
}
