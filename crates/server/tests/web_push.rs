//! Web Push end to end against the sandbox push service (which checks VAPID and decrypts like a browser): opt in
//! through the API, a notification is pushed encrypted and arrives decrypted, a subscription the push service
//! reports gone is removed, foreign endpoints and malformed keys are refused; the page side (service worker,
//! opt-in section, CSRF) and quiet hours.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use shenfen_server::app::Clock;
use shenfen_server::notify::{self, EventKind, NotificationEvent};
use support::{Db, TestApp, csrf_of, http};

fn booked(citizen_id: &str, key: &str, code: &str) -> NotificationEvent {
    let vars: BTreeMap<String, String> =
        [("point", "庐阳区受理点"), ("day", "2026-12-01"), ("time", "09:00"), ("service", "换领"), ("code", code)].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    NotificationEvent { citizen_id: citizen_id.into(), kind: EventKind::AppointmentBooked, dedupe_key: key.into(), vars }
}

/// A subscription from the sandbox push service, made for `server_key` (as `pushManager.subscribe` would).
async fn sandbox_subscription(app: &TestApp, server_key: &str) -> Value {
    let r = http().post(app.url("/sandbox/push/subscriptions")).json(&json!({ "application_server_key": server_key })).send().await.unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn arrived(sub: &Value, n: usize) -> Vec<Value> {
    let url = format!("{}/messages", sub["endpoint"].as_str().unwrap());
    for _ in 0..100 {
        let got: Vec<Value> = http().get(&url).send().await.unwrap().json().await.unwrap();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} push message(s) did not arrive at {url}");
}

on_both!(push_round_trip_through_the_sandbox, |app| {
    let c = http();
    let key: Value = c.get(app.url("/api/v1/push/public-key")).send().await.unwrap().json().await.unwrap();
    let key = key["public_key"].as_str().unwrap().to_string();
    assert_eq!(shenfen_gateways::webpush::b64_decode("k", &key).unwrap().len(), 65);
    let (token, me) = app.direct_citizen_session("13700000101").await;
    let sub = sandbox_subscription(&app, &key).await;
    let add = |body: Value| c.post(app.url("/api/v1/me/push-subscriptions")).bearer_auth(&token).header("accept-language", "en").json(&body).send();

    // Refusals: a host that is not a push service, a key that is not a P-256 point, a short auth secret.
    let foreign = json!({ "endpoint": "https://evil.example.net/push/1", "keys": sub["keys"] });
    let r = add(foreign).await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "push_subscription_invalid");
    let internal = json!({ "endpoint": "http://127.0.0.1:5432/x", "keys": sub["keys"] });
    assert_eq!(add(internal).await.unwrap().status(), 422);
    let bad_key = json!({ "endpoint": sub["endpoint"], "keys": { "p256dh": "BAAA", "auth": sub["keys"]["auth"] } });
    assert_eq!(add(bad_key).await.unwrap().status(), 422);
    let bad_auth = json!({ "endpoint": sub["endpoint"], "keys": { "p256dh": sub["keys"]["p256dh"], "auth": "AAAA" } });
    assert_eq!(add(bad_auth).await.unwrap().status(), 422);
    assert_eq!(c.post(app.url("/api/v1/me/push-subscriptions")).json(&sub).send().await.unwrap().status(), 401);

    // Opted in (twice is one subscription); a notification arrives encrypted and is decrypted by the "browser".
    assert_eq!(add(sub.clone()).await.unwrap().status(), 204);
    assert_eq!(add(sub.clone()).await.unwrap().status(), 204);
    assert_eq!(app.state.store.push_subscriptions(&me.id).await.unwrap().len(), 1);
    notify::enqueue(&app.state, booked(&me.id, "appointment:p-1:booked", "PUSH0001")).await.unwrap();
    let got = arrived(&sub, 1).await;
    let p = &got[0]["payload"];
    assert!(p["body"].as_str().unwrap().starts_with("You have booked 换领 at 庐阳区受理点"), "in the language of the subscription: {p}");
    assert!(p["body"].as_str().unwrap().contains("PUSH0001"));
    assert_eq!(p["href"], "/appointments/p-1");
    assert_eq!(p["lang"], "en");
    assert_eq!(got[0]["urgency"], "high", "an urgent notice");
    assert_eq!(got[0]["sub"], "mailto:webpush@shenfen.invalid");
    let inapp = app.state.store.inapp_notifications(&me.id, 1).await.unwrap();
    assert_eq!(p["id"], inapp[0].id.as_str());
    // The same event enqueued again pushes nothing new.
    notify::enqueue(&app.state, booked(&me.id, "appointment:p-1:booked", "PUSH0001")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(arrived(&sub, 1).await.len(), 1);
    let stored = &app.state.store.push_subscriptions(&me.id).await.unwrap()[0];
    assert!(stored.last_success_at.is_some() && stored.failures == 0);

    // A subscription made for another server key is refused by the push service (VAPID): counted as a failure.
    let (token2, other) = app.direct_citizen_session("13700000102").await;
    let wrong = sandbox_subscription(&app, "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4").await;
    let r = c.post(app.url("/api/v1/me/push-subscriptions")).bearer_auth(&token2).json(&wrong).send().await.unwrap();
    assert_eq!(r.status(), 204);
    notify::enqueue(&app.state, booked(&other.id, "appointment:p-2:booked", "PUSH0002")).await.unwrap();
    let mut failures = 0;
    for _ in 0..100 {
        failures = app.state.store.push_subscriptions(&other.id).await.unwrap()[0].failures;
        if failures > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failures, 1, "refused, kept, counted");

    // The browser unsubscribed: the push service answers 410 Gone and the subscription is removed.
    assert_eq!(c.delete(sub["endpoint"].as_str().unwrap()).send().await.unwrap().status(), 204);
    notify::enqueue(&app.state, booked(&me.id, "appointment:p-3:booked", "PUSH0003")).await.unwrap();
    let mut left = 1;
    for _ in 0..100 {
        left = app.state.store.push_subscriptions(&me.id).await.unwrap().len();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 0, "a gone subscription is deleted");

    // Opting out through the API.
    let again = sandbox_subscription(&app, &key).await;
    assert_eq!(add(again.clone()).await.unwrap().status(), 204);
    let out = |endpoint: &str| c.delete(app.url("/api/v1/me/push-subscriptions")).bearer_auth(&token).json(&json!({ "endpoint": endpoint })).send();
    assert_eq!(out(again["endpoint"].as_str().unwrap()).await.unwrap().status(), 204);
    assert_eq!(out(again["endpoint"].as_str().unwrap()).await.unwrap().status(), 404);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_opt_in_service_worker_and_quiet_hours() {
    // 23:00 China time: a non-urgent reminder is not pushed (an urgent notice is).
    let night = time::macros::datetime!(2026-03-02 23:00 +8).unix_timestamp() * 1000;
    let app = TestApp::start_with(Db::Sqlite, Clock::fixed(night), |c| c.notify.push.max_subscriptions_per_citizen = 1).await.unwrap();
    let c = http();
    let html = c.get(app.url("/sign-in")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&html);
    c.post(app.url("/sign-in/code")).form(&[("csrf", csrf.as_str()), ("phone", "13700000103"), ("next", "/")]).send().await.unwrap();
    let code = app.last_code("13700000103").await;
    assert_eq!(c.post(app.url("/sign-in")).form(&[("csrf", csrf.as_str()), ("phone", "13700000103"), ("code", code.as_str()), ("next", "/")]).send().await.unwrap().status(), 303);
    let me = app.state.store.citizen_for_phone("13700000103", night).await.unwrap();

    // The centre offers the opt-in (hidden until push.js finds support) with the VAPID key and a CSRF-bearing URL.
    let page = c.get(app.url("/me/notifications")).send().await.unwrap().text().await.unwrap();
    let key = page.split("data-key=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let endpoint = page.split("data-endpoint=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    assert!(page.contains("id=\"push-optin\" hidden"), "hidden without JavaScript");
    assert!(page.contains("<script src=\"/static/push.js\" defer></script>"));
    assert!(endpoint.starts_with("/me/push-subscriptions?csrf="));
    let sw = c.get(app.url("/sw.js")).send().await.unwrap();
    assert_eq!(sw.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(sw.text().await.unwrap().contains("showNotification"));

    // The page's JSON post needs the CSRF token like any form.
    let sub = sandbox_subscription(&app, &key).await;
    let r = c.post(app.url("/me/push-subscriptions")).header("accept", "application/json").json(&sub).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = c.post(app.url(&endpoint)).header("accept", "application/json").json(&sub).send().await.unwrap();
    assert_eq!(r.status(), 204);
    // One device allowed here: a second is refused.
    let second = sandbox_subscription(&app, &key).await;
    let r = c.post(app.url(&endpoint)).header("accept", "application/json").json(&second).send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "too_many_subscriptions");

    let reminder = NotificationEvent {
        citizen_id: me.id.clone(),
        kind: EventKind::ExpiryReminder,
        dedupe_key: "card:x:2026-04-01:expiry:30".into(),
        vars: [("expires_on", "2026-04-01"), ("days", "30"), ("link", "http://x/applications/new?kind=renewal_expiry")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    };
    notify::enqueue(&app.state, reminder).await.unwrap();
    notify::enqueue(&app.state, booked(&me.id, "appointment:q-1:booked", "NIGHT001")).await.unwrap();
    let got = arrived(&sub, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_later = arrived(&sub, 1).await;
    assert_eq!(got_later.len(), 1, "only the urgent notice was pushed at night: {got:?}");
    assert!(got[0]["payload"]["body"].as_str().unwrap().contains("NIGHT001"));
    assert_eq!(got[0]["payload"]["lang"], "zh-CN");
}
