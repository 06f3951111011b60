//! The notification centre page (no JavaScript: list, unread marks, mark one / all read with CSRF, the badge, links
//! to the subject, both languages) and the live stream of server-sent events (`/me/events`, `/api/v1/me/events`):
//! delivery across two instances on PostgreSQL, heartbeats, `Last-Event-ID` resume, the page's `since`, limits,
//! and the stream ending with the session.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use shenfen_server::notify::{self, EventKind, NotificationEvent};
use support::{TestApp, csrf_of, http};

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn booked(citizen_id: &str, key: &str, code: &str) -> NotificationEvent {
    NotificationEvent {
        citizen_id: citizen_id.into(),
        kind: EventKind::AppointmentBooked,
        dedupe_key: key.into(),
        vars: vars(&[("point", "庐阳区受理点"), ("day", "2026-12-01"), ("time", "09:00"), ("service", "换领"), ("code", code)]),
    }
}

fn expiry(citizen_id: &str) -> NotificationEvent {
    NotificationEvent {
        citizen_id: citizen_id.into(),
        kind: EventKind::ExpiryReminder,
        dedupe_key: format!("card:{citizen_id}:2026-12-31:expiry:90"),
        vars: vars(&[("expires_on", "2026-12-31"), ("days", "90"), ("link", "http://127.0.0.1/applications/new?kind=renewal_expiry")]),
    }
}

/// A cookie client signed in through the pages, and the citizen's id.
async fn signed_in(app: &TestApp, phone: &str) -> (reqwest::Client, String, String) {
    let c = http();
    let html = c.get(app.url("/sign-in")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&html);
    let r = c.post(app.url("/sign-in/code")).form(&[("csrf", csrf.as_str()), ("phone", phone), ("next", "/")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let code = app.last_code(phone).await;
    let r = c.post(app.url("/sign-in")).form(&[("csrf", csrf.as_str()), ("phone", phone), ("code", code.as_str()), ("next", "/")]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let id = app.state.store.citizen_for_phone(phone, app.state.now_ms()).await.unwrap().id;
    (c, csrf, id)
}

async fn page(c: &reqwest::Client, app: &TestApp, path: &str) -> String {
    let r = c.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

/// The ids of the listed notifications, in page order.
fn listed(html: &str) -> Vec<String> {
    html.split("class=\"inbox-item").skip(1).map(|s| s.split("id=\"n-").nth(1).unwrap().split('"').next().unwrap().to_string()).collect()
}

fn item<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html.find(&format!("id=\"n-{id}\"")).unwrap_or_else(|| panic!("no item {id}"));
    let at = html[..at].rfind("<li").unwrap();
    &html[at..at + html[at..].find("</li>").unwrap()]
}

fn badge(html: &str) -> (String, bool) {
    let at = html.find("id=\"unread-badge\"").expect("a badge");
    let tag = &html[at..at + html[at..].find('>').unwrap()];
    let n = html.split("id=\"unread-count\">").nth(1).unwrap().split('<').next().unwrap().to_string();
    (n, tag.contains("hidden"))
}

on_both!(notification_centre_page, |app| {
    let anonymous = http();
    let r = anonymous.get(app.url("/me/notifications")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/sign-in?next=%2Fme%2Fnotifications");

    let (c, csrf, me) = signed_in(&app, "13700000001").await;
    let empty = page(&c, &app, "/me/notifications").await;
    assert!(empty.contains("id=\"inbox-empty\""));
    assert_eq!(badge(&empty), ("0".into(), true), "no unread: the badge is hidden");

    let (_, other) = app.direct_citizen_session("13700000002").await;
    notify::enqueue(&app.state, booked(&me, "appointment:appt-1:booked", "AAAA1111")).await.unwrap();
    notify::enqueue(&app.state, booked(&other.id, "appointment:appt-9:booked", "ZZZZ9999")).await.unwrap();
    notify::enqueue(&app.state, expiry(&me)).await.unwrap();
    notify::enqueue(&app.state, booked(&me, "appointment:appt-2:booked", "BBBB2222")).await.unwrap();
    let mine = app.state.store.inapp_notifications(&me, 10).await.unwrap();
    let ids: Vec<String> = mine.iter().map(|n| n.id.clone()).collect();
    assert_eq!(ids.len(), 3);

    let html = page(&c, &app, "/me/notifications").await;
    assert_eq!(listed(&html), ids, "newest first, only mine");
    assert!(!html.contains("ZZZZ9999"), "another citizen's message never shows");
    assert_eq!(badge(&html), ("3".into(), false));
    assert!(html.contains("id=\"inbox-unread\">3<"));
    let first = item(&html, &ids[0]);
    assert!(first.contains("inbox-unread") && first.contains("tag-unread"), "{first}");
    assert!(first.contains("href=\"/appointments/appt-2\""), "links to the appointment: {first}");
    assert!(first.contains("您已预约庐阳区受理点2026-12-01 09:00的换领,预约码BBBB2222"), "{first}");
    let reminder = item(&html, &ids[1]);
    assert!(reminder.contains("href=\"/applications/new?kind=renewal_expiry\""), "{reminder}");
    assert!(reminder.contains("有效期至2026-12-31"), "{reminder}");
    // The badge is on other pages too, and the live script and region come with it.
    let me_page = page(&c, &app, "/me").await;
    assert_eq!(badge(&me_page), ("3".into(), false));
    assert!(me_page.contains("id=\"my-notifications\""));
    assert!(me_page.contains("aria-live=\"polite\"") && me_page.contains("data-stream=\"/me/events\""));
    assert!(me_page.contains("<script src=\"/static/live.js\" defer></script>"));
    let js = anonymous.get(app.url("/static/live.js")).send().await.unwrap();
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(js.text().await.unwrap().contains("shenfen:notification"));
    // Signed-out pages neither show a badge nor open a stream.
    let home = anonymous.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(!home.contains("unread-badge") && !home.contains("live.js"));

    // Mark one read: CSRF required, only my own, back to the item.
    let path = format!("/me/notifications/{}/read", ids[0]);
    assert_eq!(c.post(app.url(&path)).form(&[("csrf", "forged")]).send().await.unwrap().status(), 403);
    let theirs = app.state.store.inapp_notifications(&other.id, 1).await.unwrap()[0].id.clone();
    let r = c.post(app.url(&format!("/me/notifications/{theirs}/read"))).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(app.state.store.unread_count(&other.id).await.unwrap(), 1, "theirs stays unread");
    let r = c.post(app.url(&path)).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"].to_str().unwrap(), format!("/me/notifications#n-{}", ids[0]));
    let html = page(&c, &app, "/me/notifications").await;
    assert_eq!(badge(&html), ("2".into(), false));
    assert!(!item(&html, &ids[0]).contains("tag-unread"));
    assert!(!item(&html, &ids[0]).contains("/read\""), "no mark-read form on a read item");
    assert!(item(&html, &ids[1]).contains("tag-unread"));

    // Mark all read.
    let r = c.post(app.url("/me/notifications/read-all")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/me/notifications");
    let html = page(&c, &app, "/me/notifications").await;
    assert_eq!(badge(&html), ("0".into(), true));
    assert!(!html.contains("tag-unread") && !html.contains("id=\"read-all\""));
    assert_eq!(listed(&html).len(), 3, "read messages stay listed");

    // English.
    let html = c.get(app.url("/me/notifications")).header("accept-language", "en").send().await.unwrap().text().await.unwrap();
    assert!(html.contains("<h1>Messages</h1>"));
    assert!(html.contains("You have booked 换领 at 庐阳区受理点 on 2026-12-01 09:00; appointment code BBBB2222."), "{html}");
    // The API lists the same, with the same links.
    let (token, _) = app.direct_citizen_session("13700000001").await;
    let v: serde_json::Value = http().get(app.url("/api/v1/me/notifications")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["items"][1]["href"], "/applications/new?kind=renewal_expiry");
    assert_eq!(v["items"][0]["dedupe_key"], "appointment:appt-2:booked");
});

/// A minimal reader of a `text/event-stream` response.
struct EventStream {
    res: reqwest::Response,
    buf: String,
    comments: usize,
}

#[derive(Debug)]
struct Sse {
    event: String,
    id: String,
    data: serde_json::Value,
}

impl EventStream {
    async fn open(req: reqwest::RequestBuilder) -> EventStream {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        EventStream { res, buf: String::new(), comments: 0 }
    }

    /// The next event (comments and `retry:` are counted and skipped), or None when `within` passes or the
    /// stream ends.
    async fn next(&mut self, within: Duration) -> Option<Sse> {
        let deadline = Instant::now() + within;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(v) = line.strip_prefix("event: ").or_else(|| line.strip_prefix("event:")) {
                        event = v.to_string();
                    } else if let Some(v) = line.strip_prefix("id: ").or_else(|| line.strip_prefix("id:")) {
                        id = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ").or_else(|| line.strip_prefix("data:")) {
                        data.push_str(v);
                    }
                }
                if !event.is_empty() {
                    return Some(Sse { event, id, data: serde_json::from_str(&data).unwrap() });
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                Ok(_) => return None,
                Err(_) => return None,
            }
        }
    }

    /// Whether the server ended the stream within `within` (events meanwhile are drained).
    async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return false };
            match tokio::time::timeout(left, self.res.chunk()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(_) => return true,
                Err(_) => return false,
            }
        }
    }
}

fn quick_heartbeat(c: &mut shenfen_server::config::Config) {
    c.notify.live.heartbeat_ms = 200;
    c.notify.live.max_streams_per_citizen = 2;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_stream_reaches_a_page_on_another_instance() {
    let Some(apps) = TestApp::postgres_cluster_with(2, quick_heartbeat).await else { return };
    let (writer, reader) = (&apps[0], &apps[1]);
    let (token, me) = reader.direct_citizen_session("13700000011").await;
    let (_, other) = reader.direct_citizen_session("13700000012").await;
    let c = http();
    let stream = || c.get(reader.url("/api/v1/me/events")).bearer_auth(&token).header("accept-language", "en");
    let mut s = EventStream::open(stream()).await;

    // Written by the other instance: arrives within about a second (the hub reads every 500 ms).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    notify::enqueue(&writer.state, booked(&other.id, "appointment:x-0:booked", "OTHER000")).await.unwrap();
    notify::enqueue(&writer.state, booked(&me.id, "appointment:x-1:booked", "LIVE0001")).await.unwrap();
    let e = s.next(Duration::from_secs(5)).await.expect("the notification arrives live");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1_500), "took {took:?}");
    assert_eq!(e.event, "notification");
    let first = writer.state.store.notifications_by_dedupe("appointment:x-1:booked").await.unwrap().into_iter().find(|n| n.channel == shenfen_store::Channel::InApp).unwrap();
    assert_eq!(e.id, first.id);
    assert_eq!(e.data["id"], first.id);
    assert_eq!(e.data["kind"], "appointment_booked");
    assert_eq!(e.data["dedupe_key"], "appointment:x-1:booked");
    assert_eq!(e.data["href"], "/appointments/x-1");
    assert_eq!(e.data["unread"], 1);
    assert!(e.data["text"].as_str().unwrap().starts_with("You have booked 换领"), "in the stream's language: {}", e.data);
    // Another citizen's notification never reaches this stream; idle, it carries heartbeats.
    assert!(s.next(Duration::from_millis(900)).await.is_none());
    assert!(s.comments >= 2, "heartbeat comments on an idle stream ({})", s.comments);

    // Disconnected, two more arrive; reconnecting with Last-Event-ID replays exactly those, in order.
    drop(s);
    notify::enqueue(&writer.state, booked(&me.id, "appointment:x-2:booked", "LIVE0002")).await.unwrap();
    notify::enqueue(&writer.state, booked(&me.id, "appointment:x-3:booked", "LIVE0003")).await.unwrap();
    let mut s = EventStream::open(stream().header("last-event-id", &first.id)).await;
    let a = s.next(Duration::from_secs(3)).await.expect("first missed");
    let b = s.next(Duration::from_secs(3)).await.expect("second missed");
    assert_eq!((a.data["dedupe_key"].as_str(), b.data["dedupe_key"].as_str()), (Some("appointment:x-2:booked"), Some("appointment:x-3:booked")));
    assert_eq!(b.data["unread"], 3);
    assert!(s.next(Duration::from_millis(800)).await.is_none(), "nothing twice, nothing else");

    // A third concurrent stream of the same citizen on one instance is refused (limit 2 here), with our error body.
    let _second = EventStream::open(stream()).await;
    let r = stream().send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "rate_limited");
    // Unauthenticated and malformed requests.
    assert_eq!(c.get(reader.url("/api/v1/me/events")).send().await.unwrap().status(), 401);
    let r = c.get(writer.url("/api/v1/me/events")).bearer_auth(&token).header("last-event-id", "x".repeat(65)).send().await.unwrap();
    assert_eq!(r.status(), 400);

    // Signing out (on the writer instance) ends the stream at its next session check.
    assert_eq!(c.delete(writer.url("/api/v1/auth/sessions")).bearer_auth(&token).send().await.unwrap().status(), 204);
    assert!(s.ends_within(Duration::from_secs(5)).await, "the stream ends with the session");
}

on_both!(page_stream_with_cookie_session_and_since, |app| {
    let (c, _, me) = signed_in(&app, "13700000021").await;
    // The page was rendered; a notification arrives before its script connects: `since` catches it up.
    let html = page(&c, &app, "/me").await;
    let since: i64 = html.split("data-since=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    notify::enqueue(&app.state, booked(&me, "appointment:y-1:booked", "PAGE0001")).await.unwrap();
    let mut s = EventStream::open(c.get(app.url(&format!("/me/events?since={since}")))).await;
    let e = s.next(Duration::from_secs(3)).await.expect("caught up");
    assert_eq!(e.data["dedupe_key"], "appointment:y-1:booked");
    assert!(e.data["text"].as_str().unwrap().contains("预约码PAGE0001"), "Chinese by default: {}", e.data);
    // And live from then on.
    notify::enqueue(&app.state, booked(&me, "appointment:y-2:booked", "PAGE0002")).await.unwrap();
    let e = s.next(Duration::from_secs(3)).await.expect("live");
    assert_eq!(e.data["dedupe_key"], "appointment:y-2:booked");
    assert_eq!(e.data["unread"], 2);
    // Without a session the page stream is refused.
    assert_eq!(http().get(app.url("/me/events")).send().await.unwrap().status(), 401);
});
