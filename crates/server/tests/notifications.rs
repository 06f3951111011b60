//! The notification pipeline end to end: the real Aliyun / Tencent protocols against their sandboxes (served on
//! a separate loopback port), delivery receipts through the secret callback URL, retries and dead-lettering,
//! quiet hours, and exactly-once SMS with two instances on PostgreSQL.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use shenfen_server::app::Clock;
use shenfen_server::config::{Config, SmsProviderKind};
use shenfen_server::notify::{self, EventKind, NotificationEvent, sandbox};
use shenfen_store::{Channel, Notification, NotificationStatus};
use support::{Db, TestApp};

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn booked(citizen_id: &str, key: &str) -> NotificationEvent {
    NotificationEvent {
        citizen_id: citizen_id.into(),
        kind: EventKind::AppointmentBooked,
        dedupe_key: key.into(),
        vars: vars(&[("point", "庐阳区受理点"), ("day", "2026-12-01"), ("time", "09:00"), ("service", "换领"), ("code", "ABCD2345")]),
    }
}

const BOOKED_TEXT: &str = "【居民身份证服务】您已预约庐阳区受理点2026-12-01 09:00的换领,预约码ABCD2345。请按时前往，凭预约码取号。";

/// An app whose notification SMS go through `provider`, and that provider's sandbox on its own port posting
/// receipts back to the app. `tweak` adjusts the app's configuration (not the sandbox's).
async fn with_sandbox(db: Db, provider: SmsProviderKind, clock: Clock, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = TestApp::start_with(db, clock, |c| {
        c.notify.provider = provider;
        c.notify.aliyun.base_url = Some(format!("http://{addr}/sandbox/aliyun-sms"));
        c.notify.tencent.base_url = Some(format!("http://{addr}/sandbox/tencent-sms"));
        c.notify.callback_token = Some("receipt-token-0123456789".into());
        tweak(c);
    })
    .await?;
    // The sandbox knows the real keys and posts receipts to the app.
    let mut sandbox_config = Config { demo: true, ..Config::default() };
    sandbox_config.notify.callback_token = Some("receipt-token-0123456789".into());
    sandbox_config.notify.sandbox.receipt_base_url = Some(app.base.clone());
    sandbox_config.notify.sandbox.receipt_delay_ms = 50;
    sandbox_config.notify.sandbox.per_number_per_minute = 3;
    let router: axum::Router = sandbox::router(sandbox::SandboxState::new(&sandbox_config, app.state.store.clone()));
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    Some(app)
}

async fn citizen(app: &TestApp, phone: &str) -> String {
    app.state.store.citizen_for_phone(phone, app.state.now_ms()).await.unwrap().id
}

async fn sms_row(app: &TestApp, key: &str) -> Notification {
    app.state.store.notifications_by_dedupe(key).await.unwrap().into_iter().find(|n| n.channel == Channel::Sms).expect("an SMS row")
}

/// Waits (bounded) until the SMS row of `key` has left `sent`, i.e. its receipt arrived.
async fn after_receipt(app: &TestApp, key: &str) -> Notification {
    for _ in 0..100 {
        let n = sms_row(app, key).await;
        if n.status != NotificationStatus::Sent {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no receipt arrived for {key}");
}

async fn round_trip(app: &TestApp, provider: &str) {
    let phone = "13912345678";
    let c = citizen(app, phone).await;
    notify::enqueue(&app.state, booked(&c, "rt-1")).await.unwrap();
    let n = sms_row(app, "rt-1").await;
    assert_eq!(n.status, NotificationStatus::Sent, "accepted by the sandbox after signature verification: {:?}", n.error);
    assert_eq!(n.provider.as_deref(), Some(provider));
    assert!(n.provider_message_id.is_some());
    let outbox = app.state.store.outbox(Some(phone), 10).await.unwrap();
    assert_eq!(outbox.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), vec![BOOKED_TEXT], "the sandbox rendered exactly our text");
    let n = after_receipt(app, "rt-1").await;
    assert_eq!(n.status, NotificationStatus::Delivered);
    assert!(n.delivered_at.is_some());
    // The in-app copy exists once as well.
    assert_eq!(app.state.store.inapp_notifications(&c, 10).await.unwrap().len(), 1);

    // A number the carrier refuses: accepted, then a failed receipt.
    let blocked = citizen(app, "13912349999").await;
    notify::enqueue(&app.state, booked(&blocked, "rt-2")).await.unwrap();
    let n = after_receipt(app, "rt-2").await;
    assert_eq!(n.status, NotificationStatus::PermanentFailure);
    assert_eq!(n.error.as_deref(), Some("MK:0005"));

    // The always-failing number is refused at submission: permanent, never retried.
    let bad = citizen(app, "13912340000").await;
    notify::enqueue(&app.state, booked(&bad, "rt-3")).await.unwrap();
    let n = sms_row(app, "rt-3").await;
    assert_eq!(n.status, NotificationStatus::PermanentFailure);
    assert_eq!(n.attempts, 1);
    assert!(app.state.store.outbox(Some("13912340000"), 10).await.unwrap().is_empty());
    assert_eq!(notify::run_once(&app.state).await.unwrap(), 0, "nothing left to retry");

    // The per-number rate limit (3 a minute in this sandbox) is a temporary failure, retried later.
    for i in 0..3 {
        notify::enqueue(&app.state, stage(&c, &format!("rt-limit-{i}"), &format!("10:0{i}"))).await.unwrap();
    }
    let statuses: Vec<_> = [sms_row(app, "rt-limit-0").await.status, sms_row(app, "rt-limit-1").await.status, sms_row(app, "rt-limit-2").await.status].into();
    assert_eq!(statuses.iter().filter(|s| **s == NotificationStatus::TemporaryFailure).count(), 1, "{statuses:?}");
}

mod aliyun_acs3 {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = with_sandbox(Db::Sqlite, SmsProviderKind::Aliyun, Clock::default(), |_| {}).await.unwrap();
        round_trip(&app, "aliyun").await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(app) = with_sandbox(Db::Postgres, SmsProviderKind::Aliyun, Clock::default(), |_| {}).await else { return };
        round_trip(&app, "aliyun").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliyun_rpc_v1_round_trip() {
    let app = with_sandbox(Db::Sqlite, SmsProviderKind::Aliyun, Clock::default(), |c| c.notify.aliyun.signature = "v1".into()).await.unwrap();
    round_trip(&app, "aliyun").await;
}

mod tencent_tc3 {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = with_sandbox(Db::Sqlite, SmsProviderKind::Tencent, Clock::default(), |_| {}).await.unwrap();
        round_trip(&app, "tencent").await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(app) = with_sandbox(Db::Postgres, SmsProviderKind::Tencent, Clock::default(), |_| {}).await else { return };
        round_trip(&app, "tencent").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_refused_by_the_sandboxes() {
    for (provider, expected) in [(SmsProviderKind::Aliyun, "SignatureDoesNotMatch"), (SmsProviderKind::Tencent, "AuthFailure.SignatureFailure")] {
        let app = with_sandbox(Db::Sqlite, provider, Clock::default(), |c| {
            c.notify.aliyun.access_key_secret = "not-the-secret".into();
            c.notify.tencent.secret_key = "not-the-secret".into();
        })
        .await
        .unwrap();
        let c = citizen(&app, "13912345670").await;
        notify::enqueue(&app.state, booked(&c, "sig")).await.unwrap();
        let n = sms_row(&app, "sig").await;
        // Our credentials being wrong is not the number's fault: retried, not a permanent failure.
        assert_eq!(n.status, NotificationStatus::TemporaryFailure);
        assert_eq!(n.error.as_deref(), Some(expected));
        assert!(app.state.store.outbox(Some("13912345670"), 10).await.unwrap().is_empty(), "nothing sent");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_need_the_token_and_are_idempotent() {
    let app = with_sandbox(Db::Sqlite, SmsProviderKind::Aliyun, Clock::default(), |_| {}).await.unwrap();
    let c = citizen(&app, "13912345671").await;
    notify::enqueue(&app.state, booked(&c, "rc")).await.unwrap();
    let delivered = after_receipt(&app, "rc").await;
    assert_eq!(delivered.status, NotificationStatus::Delivered);
    let biz_id = delivered.provider_message_id.clone().unwrap();
    let http = support::http();
    let failed = serde_json::json!([{ "phone_number": "13912345671", "send_time": "2026-12-01 09:00:00", "report_time": "2026-12-01 09:00:05", "success": false, "err_code": "MK:0001", "err_msg": "x", "sms_size": "1", "biz_id": biz_id }]);

    // A forged token is refused and changes nothing.
    let r = http.post(app.url("/callbacks/sms/aliyun/receipt-token-0123456788")).json(&failed).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // A replay with the right token is acknowledged (so the provider stops) and changes nothing.
    let r = http.post(app.url("/callbacks/sms/aliyun/receipt-token-0123456789")).json(&failed).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], 0);
    assert_eq!(sms_row(&app, "rc").await, delivered);
    // Unknown ids: acknowledged, nothing created. Malformed bodies and unknown providers: refused.
    let unknown = serde_json::json!([{ "phone_number": "13912345671", "send_time": "", "report_time": "", "success": true, "err_code": "DELIVERED", "err_msg": "", "sms_size": 1, "biz_id": "no-such-id" }]);
    assert_eq!(http.post(app.url("/callbacks/sms/aliyun/receipt-token-0123456789")).json(&unknown).send().await.unwrap().status(), 200);
    // A fresh receipt for an id not known yet may have overtaken the acceptance being written down: the provider
    // is asked to send it again (HTTP 503, non-zero code), and nothing is created.
    let beijing = |ms: i64| {
        let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap().to_offset(time::macros::offset!(+8));
        format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second())
    };
    let mut fresh = unknown.clone();
    fresh[0]["report_time"] = beijing(app.state.now_ms()).into();
    let r = http.post(app.url("/callbacks/sms/aliyun/receipt-token-0123456789")).json(&fresh).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], 1);
    fresh[0]["report_time"] = beijing(app.state.now_ms() - 300_000).into();
    assert_eq!(http.post(app.url("/callbacks/sms/aliyun/receipt-token-0123456789")).json(&fresh).send().await.unwrap().status(), 200, "an old one is acknowledged");
    // The race itself: the provider reports while the worker has not yet written the acceptance down. The retry,
    // once it has, is applied.
    notify::enqueue_for_worker(&app.state, stage(&c, "rc-race", "11:00")).await.unwrap();
    let id = sms_row(&app, "rc-race").await.id;
    let now = app.state.now_ms();
    app.state.store.claim_sms_by_id(&id, "slow-worker", now, now + 60_000).await.unwrap().unwrap();
    fresh[0]["biz_id"] = "race-biz-id".into();
    fresh[0]["report_time"] = beijing(now).into();
    let post = || http.post(app.url("/callbacks/sms/aliyun/receipt-token-0123456789")).json(&fresh).send();
    assert_eq!(post().await.unwrap().status(), 503);
    assert!(app.state.store.mark_sent(&id, "slow-worker", "aliyun", "race-biz-id", now).await.unwrap());
    assert_eq!(post().await.unwrap().status(), 200);
    assert_eq!(sms_row(&app, "rc-race").await.status, NotificationStatus::Delivered);
    let r = http.post(app.url("/callbacks/sms/aliyun/receipt-token-0123456789")).body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "malformed_receipt");
    assert_eq!(http.post(app.url("/callbacks/sms/other/receipt-token-0123456789")).body("[]").send().await.unwrap().status(), 404);
    // A Tencent receipt for the Aliyun message id is a different provider's id: unknown, nothing changes.
    let tencent = serde_json::json!([{ "user_receive_time": "", "nationcode": "86", "mobile": "13912345671", "report_status": "FAIL", "errmsg": "x", "description": "", "sid": biz_id }]);
    let r = http.post(app.url("/callbacks/sms/tencent/receipt-token-0123456789")).json(&tencent).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["result"], 0);
    assert_eq!(sms_row(&app, "rc").await, delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_from_addresses_off_the_allow_list_are_refused() {
    let app = with_sandbox(Db::Sqlite, SmsProviderKind::Aliyun, Clock::default(), |c| c.notify.callback_allow = vec!["203.0.113.9".into()]).await.unwrap();
    let r = support::http().post(app.url("/callbacks/sms/aliyun/receipt-token-0123456789")).body("[]").send().await.unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_refuses_unsigned_requests_in_the_providers_shapes() {
    let app = with_sandbox(Db::Sqlite, SmsProviderKind::Aliyun, Clock::default(), |_| {}).await.unwrap();
    let base = app.state.config.notify.aliyun.base_url.clone().unwrap();
    let http = support::http();
    let r = http
        .post(format!("{base}/?PhoneNumbers=13912345672&SignName=x&TemplateCode=appointment_cancelled"))
        .header("authorization", "ACS3-HMAC-SHA256 Credential=sandbox-access-key,SignedHeaders=host,Signature=00")
        .header("x-acs-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        .header("x-acs-date", "2020-01-01T00:00:00Z")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<serde_json::Value>().await.unwrap()["Code"].as_str().unwrap().starts_with("InvalidTimeStamp"));
    let tencent = app.state.config.notify.tencent.base_url.clone().unwrap();
    let r = http.post(format!("{tencent}/")).header("content-type", "application/json").body("{}").send().await.unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["Response"]["Error"]["Code"].as_str().unwrap().starts_with("AuthFailure"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_down_retries_with_backoff_then_dead_letters() {
    let clock = Clock::fixed(1_790_000_000_000);
    let app = TestApp::start_with(Db::Sqlite, clock.clone(), |c| {
        c.notify.provider = SmsProviderKind::Aliyun;
        // Nothing listens on port 1.
        c.notify.aliyun.base_url = Some("http://127.0.0.1:1".into());
        c.notify.max_attempts = 3;
        c.notify.backoff_base_ms = 1_000;
        c.notify.backoff_cap_ms = 60_000;
    })
    .await
    .unwrap();
    let c = citizen(&app, "13912345673").await;
    notify::enqueue(&app.state, booked(&c, "down")).await.unwrap();
    let n = sms_row(&app, "down").await;
    assert_eq!((n.status, n.attempts), (NotificationStatus::TemporaryFailure, 1));
    assert_eq!(n.next_attempt_at, 1_790_000_001_000);
    assert_eq!(notify::run_once(&app.state).await.unwrap(), 0, "not before the back-off");
    clock.advance_ms(1_000);
    assert_eq!(notify::run_once(&app.state).await.unwrap(), 1);
    let n = sms_row(&app, "down").await;
    assert_eq!((n.status, n.attempts, n.next_attempt_at), (NotificationStatus::TemporaryFailure, 2, 1_790_000_003_000));
    clock.advance_ms(2_000);
    assert_eq!(notify::run_once(&app.state).await.unwrap(), 1);
    let n = sms_row(&app, "down").await;
    assert_eq!((n.status, n.attempts), (NotificationStatus::TechnicalFailure, 3), "dead-lettered");
    clock.advance_ms(86_400_000);
    assert_eq!(notify::run_once(&app.state).await.unwrap(), 0, "dead letters stay dead");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_defer_a_reminder_but_not_an_urgent_notice() {
    // 2026-11-30 22:30 China time.
    let at = time::macros::datetime!(2026-11-30 14:30 UTC).unix_timestamp() * 1000;
    let clock = Clock::fixed(at);
    let app = TestApp::start_with(Db::Sqlite, clock.clone(), |_| {}).await.unwrap();
    let phone = "13912345674";
    let c = citizen(&app, phone).await;
    let reminder = NotificationEvent {
        citizen_id: c.clone(),
        kind: EventKind::AppointmentReminder,
        dedupe_key: "quiet-reminder".into(),
        vars: vars(&[("day", "2026-12-01"), ("time", "09:00"), ("point", "庐阳区受理点"), ("code", "ABCD2345")]),
    };
    notify::enqueue(&app.state, reminder).await.unwrap();
    let n = sms_row(&app, "quiet-reminder").await;
    let eight = time::macros::datetime!(2026-12-01 00:00 UTC).unix_timestamp() * 1000;
    assert_eq!((n.status, n.next_attempt_at), (NotificationStatus::Created, eight), "held until 08:00 China time");
    assert_eq!(notify::run_once(&app.state).await.unwrap(), 0);
    // The in-app copy is not held: it makes no noise.
    assert_eq!(app.state.store.unread_count(&c).await.unwrap(), 1);
    // An urgent notice goes out at once, even at night.
    notify::enqueue(&app.state, booked(&c, "quiet-booked")).await.unwrap();
    assert_eq!(app.state.store.outbox(Some(phone), 10).await.unwrap().len(), 1);
    clock.advance_ms(eight - at);
    assert_eq!(notify::run_once(&app.state).await.unwrap(), 1);
    let bodies: Vec<String> = app.state.store.outbox(Some(phone), 10).await.unwrap().into_iter().map(|m| m.body).collect();
    assert!(bodies.iter().any(|b| b.starts_with("【居民身份证服务】提醒：您预约了明天2026-12-01 09:00在庐阳区受理点")), "{bodies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_variable_fails_the_enqueue_and_stores_nothing() {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    let c = citizen(&app, "13912345675").await;
    let mut event = booked(&c, "half");
    event.vars.remove("code");
    let err = notify::enqueue(&app.state, event).await.unwrap_err();
    assert_eq!(err.code, "template_vars");
    assert!(app.state.store.notifications_by_dedupe("half").await.unwrap().is_empty());
    assert!(app.state.store.outbox(Some("13912345675"), 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_sms_per_event_with_two_instances() {
    // 20 events for one number in a moment: above the default hourly limit's spirit, but this test is about
    // exactly-once delivery.
    let Some(apps) = TestApp::postgres_cluster_with(2, |c| c.notify.per_number_per_hour = 100).await else { return };
    for a in &apps {
        notify::spawn_worker(a.state.clone());
    }
    let phone = "13912345676";
    let c = citizen(&apps[0], phone).await;
    // Both instances see every event (as when a retried request lands on the other instance) at the same time.
    let mut tasks = Vec::new();
    for i in 0..20 {
        for a in &apps {
            let state = a.state.clone();
            let event = stage(&c, &format!("twice-{i}"), &format!("10:{i:02}"));
            tasks.push(tokio::spawn(async move { notify::enqueue(&state, event).await.unwrap() }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    for _ in 0..100 {
        let pending = futures_pending(&apps[0], 20).await;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(futures_pending(&apps[0], 20).await, 0, "every SMS delivered");
    assert_eq!(apps[0].state.store.outbox(Some(phone), 100).await.unwrap().len(), 20, "exactly one SMS per event");
    assert_eq!(apps[1].state.store.inapp_notifications(&c, 100).await.unwrap().len(), 20, "exactly one in-app message per event");
}

async fn futures_pending(app: &TestApp, n: usize) -> usize {
    let mut pending = 0;
    for i in 0..n {
        if sms_row(app, &format!("twice-{i}")).await.status != NotificationStatus::Delivered {
            pending += 1;
        }
    }
    pending
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_centre_api() {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    let http = support::http();
    let (token, c) = app.direct_citizen_session("13912345677").await;
    let (other_token, other) = app.direct_citizen_session("13912345678").await;
    notify::enqueue(&app.state, booked(&c.id, "api-1")).await.unwrap();
    notify::enqueue(&app.state, booked(&other.id, "api-2")).await.unwrap();
    let r = http.get(app.url("/api/v1/me/notifications")).bearer_auth(&token).header("accept-language", "en").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["unread"], 1);
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "only the caller's own");
    assert!(v["items"][0]["text"].as_str().unwrap().starts_with("You have booked 换领 at 庐阳区受理点"), "{v}");
    let id = v["items"][0]["id"].as_str().unwrap().to_string();
    let read = |t: &str| http.post(app.url(&format!("/api/v1/me/notifications/{id}/read"))).bearer_auth(t.to_string()).send();
    assert_eq!(read(&other_token).await.unwrap().status(), 404, "not theirs");
    assert_eq!(read(&token).await.unwrap().status(), 204);
    let v: serde_json::Value = http.get(app.url("/api/v1/me/notifications")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!((v["unread"].as_i64(), v["items"][0]["read"].as_bool()), (Some(0), Some(true)));
    assert_eq!(http.get(app.url("/api/v1/me/notifications")).send().await.unwrap().status(), 401);
}

/// Receipts that never come: the reconciler asks the provider's status API. `…8888` is delivered but its receipt
/// callback is lost; `…7777` is never reported on by the carrier.
async fn reconciliation(app: &TestApp, clock: &Clock, provider: &str) {
    use notify::reconcile::{self, Reconciled};
    let lost = citizen(app, "13912348888").await;
    let silent = citizen(app, "13912347777").await;
    let normal = citizen(app, "13912345678").await;
    notify::enqueue(&app.state, booked(&lost, "rc-lost")).await.unwrap();
    notify::enqueue(&app.state, booked(&silent, "rc-silent")).await.unwrap();
    notify::enqueue(&app.state, booked(&normal, "rc-normal")).await.unwrap();
    assert_eq!(after_receipt(app, "rc-normal").await.status, NotificationStatus::Delivered, "receipts still arrive by callback");
    // By now the sandbox would have posted the lost one's receipt too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for key in ["rc-lost", "rc-silent"] {
        let n = sms_row(app, key).await;
        assert_eq!((n.status, n.provider.as_deref()), (NotificationStatus::Sent, Some(provider)), "{key}");
    }

    assert_eq!(reconcile::reconcile_once(&app.state).await.unwrap(), Reconciled::default(), "too early to ask");
    clock.advance_ms(app.state.config.notify.reconcile.after_secs * 1000);
    let r = reconcile::reconcile_once(&app.state).await.unwrap();
    assert_eq!(r, Reconciled { checked: 2, delivered: 1, pending: 1, ..Reconciled::default() }, "the status API knows the lost one; the silent one is waiting");
    let n = sms_row(app, "rc-lost").await;
    assert_eq!(n.status, NotificationStatus::Delivered);
    assert!(n.delivered_at.is_some());
    assert_eq!(sms_row(app, "rc-silent").await.status, NotificationStatus::Sent);
    assert_eq!(reconcile::reconcile_once(&app.state).await.unwrap().checked, 0, "not asked again before the recheck time");
    clock.advance_ms(app.state.config.notify.reconcile.recheck_secs * 1000);
    assert_eq!(reconcile::reconcile_once(&app.state).await.unwrap(), Reconciled { checked: 1, pending: 1, ..Reconciled::default() });

    // No report within the give-up window: temporary-failure, and it is not sent a second time.
    clock.advance_ms(app.state.config.notify.reconcile.give_up_hours * 3_600_000);
    assert_eq!(reconcile::reconcile_once(&app.state).await.unwrap(), Reconciled { checked: 1, given_up: 1, ..Reconciled::default() });
    let n = sms_row(app, "rc-silent").await;
    assert_eq!((n.status, n.error.as_deref()), (NotificationStatus::TemporaryFailure, Some(reconcile::NO_RECEIPT)));
    assert_eq!(notify::run_once(&app.state).await.unwrap(), 0, "a message sent once is never re-sent");
    assert_eq!(app.state.store.outbox(Some("13912347777"), 10).await.unwrap().len(), 1);
    assert_eq!(reconcile::reconcile_once(&app.state).await.unwrap().checked, 0, "nothing left to ask about");
}

mod reconcile_by_status_api {
    use super::*;

    async fn run(db: Db, provider: SmsProviderKind, name: &str, tweak: impl FnOnce(&mut Config)) {
        let clock = Clock::fixed(time::OffsetDateTime::now_utc().unix_timestamp() * 1000);
        let Some(app) = with_sandbox(db, provider, clock.clone(), tweak).await else { return };
        reconciliation(&app, &clock, name).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aliyun_sqlite() {
        run(Db::Sqlite, SmsProviderKind::Aliyun, "aliyun", |_| {}).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aliyun_v1_postgres() {
        run(Db::Postgres, SmsProviderKind::Aliyun, "aliyun", |c| c.notify.aliyun.signature = "v1".into()).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tencent_sqlite() {
        run(Db::Sqlite, SmsProviderKind::Tencent, "tencent", |_| {}).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tencent_postgres() {
        run(Db::Postgres, SmsProviderKind::Tencent, "tencent", |_| {}).await;
    }
}

/// A status API that cannot answer (the provider is down) loses nothing: the message is asked about again later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_survives_an_unreachable_status_api() {
    use notify::reconcile::{self, Reconciled};
    let clock = Clock::fixed(time::OffsetDateTime::now_utc().unix_timestamp() * 1000);
    let app = TestApp::start_with(Db::Sqlite, clock.clone(), |c| {
        c.notify.provider = SmsProviderKind::Tencent;
        // Nothing listens on port 1.
        c.notify.tencent.base_url = Some("http://127.0.0.1:1".into());
    })
    .await
    .unwrap();
    // A message Tencent accepted while it was still reachable.
    let c = citizen(&app, "13912348888").await;
    notify::enqueue_for_worker(&app.state, booked(&c, "rc-down")).await.unwrap();
    let id = sms_row(&app, "rc-down").await.id;
    let now = app.state.now_ms();
    let store = &app.state.store;
    store.claim_sms_by_id(&id, "w", now, now + 60_000).await.unwrap().unwrap();
    assert!(store.mark_sent(&id, "w", "tencent", "2021-01-11:serial-1", now).await.unwrap());

    let cfg = app.state.config.notify.reconcile.clone();
    clock.advance_ms(cfg.after_secs * 1000);
    assert_eq!(reconcile::reconcile_once(&app.state).await.unwrap(), Reconciled { checked: 1, errors: 1, ..Reconciled::default() });
    assert_eq!(sms_row(&app, "rc-down").await.status, NotificationStatus::Sent, "nothing concluded from a failed question");
    assert_eq!(reconcile::reconcile_once(&app.state).await.unwrap().checked, 0);
    clock.advance_ms(cfg.recheck_secs * 1000);
    assert_eq!(reconcile::reconcile_once(&app.state).await.unwrap().checked, 1, "asked again after the recheck time");
    // An outage is not the carrier's silence: past the give-up window, a failed question still gives up nothing.
    clock.advance_ms(cfg.give_up_hours * 3_600_000);
    assert_eq!(reconcile::reconcile_once(&app.state).await.unwrap(), Reconciled { checked: 1, errors: 1, ..Reconciled::default() });
    assert_eq!(sms_row(&app, "rc-down").await.status, NotificationStatus::Sent);
}

/// The demo outbox shows each queued message with what its receipt said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_page_shows_each_messages_delivery() {
    let app = with_sandbox(Db::Sqlite, SmsProviderKind::Aliyun, Clock::default(), |_| {}).await.unwrap();
    for (phone, key) in [("13912345678", "ob-ok"), ("13912349999", "ob-blocked"), ("13912347777", "ob-silent")] {
        let c = citizen(&app, phone).await;
        notify::enqueue(&app.state, booked(&c, key)).await.unwrap();
    }
    after_receipt(&app, "ob-ok").await;
    after_receipt(&app, "ob-blocked").await;
    let page = |phone: &'static str| {
        let url = app.url(&format!("/dev/outbox?phone={phone}"));
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    let ok = page("13912345678").await;
    assert!(ok.contains("tag delivery-delivered") && ok.contains("已送达（运营商回执）") && ok.contains("预约码ABCD2345"), "{ok}");
    assert!(page("13912349999").await.contains("tag delivery-failed"));
    assert!(page("13912347777").await.contains("已发出，等待送达回执"));
}

fn stage(citizen_id: &str, key: &str, stage: &str) -> NotificationEvent {
    NotificationEvent {
        citizen_id: citizen_id.into(),
        kind: EventKind::AppointmentBooked,
        dedupe_key: key.into(),
        vars: vars(&[("point", "庐阳区受理点"), ("day", "2026-12-01"), ("time", stage), ("service", "换领"), ("code", "ABCD2345")]),
    }
}

/// A storm of events for one citizen: every in-app message at once; SMS up to the number's hourly limit, the
/// rest in the next hour; identical texts once; nothing lost, nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_for_one_citizen_is_limited_and_deduplicated_without_loss() {
    for db in [Db::Sqlite, Db::Postgres] {
        let clock = Clock::fixed(1_790_000_000_000 - 1_790_000_000_000 % 3_600_000 + 600_000);
        let Some(app) = TestApp::start_with(db, clock.clone(), |c| c.notify.per_number_per_hour = 3).await else { continue };
        let c = citizen(&app, "13912340011").await;
        for i in 0..5 {
            notify::enqueue(&app.state, stage(&c, &format!("st-{i}"), &format!("09:0{i}"))).await.unwrap();
        }
        // The same text again under another event: an in-app message, no second SMS.
        notify::enqueue(&app.state, stage(&c, "st-again", "09:00")).await.unwrap();
        assert_eq!(app.state.store.inapp_notifications(&c, 20).await.unwrap().len(), 6);
        assert!(app.state.store.notifications_by_dedupe("st-again").await.unwrap().iter().all(|n| n.channel == Channel::InApp));
        assert_eq!(app.state.store.outbox(Some("13912340011"), 20).await.unwrap().len(), 3, "the hourly limit");
        let held: Vec<_> = (3..5).map(|i| format!("st-{i}")).collect();
        for key in &held {
            let n = sms_row(&app, key).await;
            assert_eq!((n.status, n.attempts, n.error.as_deref()), (NotificationStatus::Created, 0, Some("rate_limited_per_number")), "{key}");
        }
        assert_eq!(notify::run_once(&app.state).await.unwrap(), 0, "held until the hour is over");
        clock.advance_ms(3_000_000);
        assert_eq!(notify::run_once(&app.state).await.unwrap(), 2);
        let outbox = app.state.store.outbox(Some("13912340011"), 20).await.unwrap();
        assert_eq!(outbox.len(), 5, "every distinct message, once");
        let mut bodies: Vec<_> = outbox.iter().map(|m| m.body.clone()).collect();
        bodies.sort();
        bodies.dedup();
        assert_eq!(bodies.len(), 5);
    }
}

/// The platform-wide limit holds across instances: what does not fit in this second waits for the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_limit_is_shared_by_all_instances() {
    let Some(apps) = TestApp::postgres_cluster_with(2, |c| c.notify.global_per_second = 3).await else {
        // Without PostgreSQL: one instance on SQLite shows the same rule.
        let clock = Clock::fixed(1_790_000_000_000);
        let app = TestApp::start_with(Db::Sqlite, clock.clone(), |c| c.notify.global_per_second = 3).await.unwrap();
        for i in 0..5 {
            let c = citizen(&app, &format!("1391234002{i}")).await;
            notify::enqueue_for_worker(&app.state, booked(&c, &format!("gl-{i}"))).await.unwrap();
        }
        assert_eq!(notify::run_once(&app.state).await.unwrap(), 3);
        assert_eq!(notify::run_once(&app.state).await.unwrap(), 0);
        clock.advance_ms(1_000);
        assert_eq!(notify::run_once(&app.state).await.unwrap(), 2);
        return;
    };
    // Two instances send 10 messages; together they keep to 3 a second, and all 10 go.
    for a in &apps {
        notify::spawn_worker(a.state.clone());
    }
    for i in 0..10 {
        let c = citizen(&apps[0], &format!("139123401{i:02}")).await;
        notify::enqueue_for_worker(&apps[0].state, booked(&c, &format!("gl-{i}"))).await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut sent = Vec::new();
    while sent.len() < 10 && std::time::Instant::now() < deadline {
        sent.clear();
        for i in 0..10 {
            let n = sms_row(&apps[0], &format!("gl-{i}")).await;
            if let Some(at) = n.sent_at {
                sent.push(at);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sent.len(), 10, "all sent in the end");
    // Ten at three a second take at least four one-second windows, whichever instance sends: the first is
    // recorded before the end of its window, the last claimed three windows later.
    let span = sent.iter().max().unwrap() - sent.iter().min().unwrap();
    assert!(span >= 1_500, "10 messages went out within {span} ms");
}
