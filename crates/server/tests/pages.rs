//! HTTP-level tests of the server-rendered pages: forms without JavaScript, CSRF, redirects, language,
//! the phone-number change, and `shenfen audit verify` on a tampered database.

mod support;

use support::{csrf_of, Db, TestApp, http};

const ZHANG_ID: &str = "34010419900307177X";

async fn get(c: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn post(c: &reqwest::Client, app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    c.post(app.url(path)).form(form).send().await.unwrap()
}

async fn sign_in(c: &reqwest::Client, app: &TestApp, phone: &str) {
    let (_, html) = get(c, app, "/sign-in").await;
    let csrf = csrf_of(&html);
    let r = post(c, app, "/sign-in/code", &[("csrf", &csrf), ("phone", phone), ("next", "/")]).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains(&phone[7..]), "the code page shows the masked number");
    let code = app.last_code(phone).await;
    let r = post(c, app, "/sign-in", &[("csrf", &csrf), ("phone", phone), ("code", &code), ("next", "//evil.example/")]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/me", "foreign redirect targets are ignored");
    let cookie = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).find(|v| v.starts_with("sf_session=")).unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
}

on_both!(sign_in_and_verify_with_forms, |app| {
    let c = http();
    let (status, home) = get(&c, &app, "/").await;
    assert_eq!(status, 200);
    assert!(home.contains("lang=\"zh-CN\"") && home.contains("智能预约"));
    let (status, _) = get(&c, &app, "/me").await;
    assert_eq!(status, 303, "signed-out visitors are sent to sign in");

    sign_in(&c, &app, "13800000051").await;
    let (_, me) = get(&c, &app, "/me").await;
    assert!(me.contains("138****0051") && me.contains("未认证"));

    let (_, form) = get(&c, &app, "/me/verify").await;
    let csrf = csrf_of(&form);
    let r = post(&c, &app, "/me/verify", &[("csrf", &csrf), ("name", "张三"), ("id_number", "340104199003071771")]).await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("error-summary") && page.contains("href=\"#id_number\""), "error summary links to the field");
    assert!(!page.contains("340104199003071771"), "the rejected number is not echoed back");

    let r = post(&c, &app, "/me/verify", &[("csrf", &csrf), ("name", "张三"), ("id_number", ZHANG_ID)]).await;
    assert_eq!(r.status(), 303);
    let (_, me) = get(&c, &app, "/me").await;
    assert!(me.contains("初级实名认证") && me.contains("340104********177X") && me.contains("张*"));
    assert!(!me.contains(ZHANG_ID), "pages show the masked number only");

    // Sign out ends the session.
    let r = post(&c, &app, "/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(get(&c, &app, "/me").await.0, 303);
});

on_both!(csrf_is_required_on_every_form, |app| {
    let c = http();
    let (_, html) = get(&c, &app, "/sign-in").await;
    let csrf = csrf_of(&html);
    let audit_before = app.state.store.audit_entries(0, 1000).await.unwrap().len();
    for path in ["/sign-in/code", "/sign-in", "/sign-out", "/me/verify", "/me/phone", "/me/phone/confirm", "/staff/sign-in"] {
        for token in ["", "forged", &format!("{csrf}x")] {
            let r = post(&c, &app, path, &[("csrf", token), ("phone", "13800000052"), ("username", "admin"), ("password", "shenfen-admin-demo")]).await;
            assert_eq!(r.status(), 403, "{path} with token {token:?}");
            assert!(r.text().await.unwrap().contains("csrf_failed"));
        }
    }
    // A multipart upload without the token in its query is refused too.
    let form = reqwest::multipart::Form::new().part("face", reqwest::multipart::Part::bytes(vec![0xFF, 0xD8, 0xFF]));
    assert_eq!(c.post(app.url("/me/verify-face")).multipart(form).send().await.unwrap().status(), 403);
    // A client without the CSRF cookie cannot post at all.
    let cookieless = reqwest::Client::new();
    assert_eq!(cookieless.post(app.url("/sign-in/code")).form(&[("csrf", csrf.as_str()), ("phone", "13800000052")]).send().await.unwrap().status(), 403);
    assert!(app.state.store.outbox(None, 10).await.unwrap().is_empty(), "nothing was sent");
    assert_eq!(app.state.store.audit_entries(0, 1000).await.unwrap().len(), audit_before, "nothing was written");
});

on_both!(phone_change_needs_reverification, |app| {
    let c = http();
    sign_in(&c, &app, "13800000061").await;
    // Unverified accounts are sent to verify first.
    let r = c.get(app.url("/me/phone")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/me/verify");
    let (_, form) = get(&c, &app, "/me/verify").await;
    let csrf = csrf_of(&form);
    assert_eq!(post(&c, &app, "/me/verify", &[("csrf", &csrf), ("name", "张三"), ("id_number", ZHANG_ID)]).await.status(), 303);

    // Someone else's ID number does not pass the re-check.
    let li = "34010219850615246";
    let li = shenfen_domain::IdNumber::from_first17(li).unwrap();
    let r = post(&c, &app, "/me/phone", &[("csrf", &csrf), ("id_number", li.as_str()), ("phone", "13900000062")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("不一致"));
    assert!(app.state.store.outbox(Some("13900000062"), 10).await.unwrap().is_empty());

    let r = post(&c, &app, "/me/phone", &[("csrf", &csrf), ("id_number", ZHANG_ID), ("phone", "13900000062")]).await;
    assert_eq!(r.status(), 200);
    let code = app.last_code("13900000062").await;
    let r = post(&c, &app, "/me/phone/confirm", &[("csrf", &csrf), ("phone", "13900000062"), ("code", "000000")]).await;
    if code != "000000" {
        assert_eq!(r.status(), 422);
    }
    let r = post(&c, &app, "/me/phone/confirm", &[("csrf", &csrf), ("phone", "13900000062"), ("code", &code)]).await;
    assert_eq!(r.status(), 303);
    let (_, me) = get(&c, &app, "/me?done=phone").await;
    assert!(me.contains("139****0062"));
    let notice = app.state.store.outbox(Some("13800000061"), 1).await.unwrap();
    assert!(notice[0].body.contains("139****0062"), "the old number is told of the change");
    assert!(app.state.store.audit_entries(0, 100).await.unwrap().iter().any(|e| e.record.action == "citizen.change_phone"));
});

on_both!(english_and_elder_mode, |app| {
    let c = http();
    let r = c.get(app.url("/lang/en?back=/sign-in")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/sign-in");
    let (_, page) = get(&c, &app, "/sign-in").await;
    assert!(page.contains("lang=\"en\"") && page.contains("Mobile number"));
    let r = c.get(app.url("/lang/zh-CN?back=https://evil.example/")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/", "no open redirect");
    c.get(app.url("/elder/on?back=/")).send().await.unwrap();
    let (_, home) = get(&c, &app, "/").await;
    assert!(home.contains("class=\"elder\"") && home.contains("services-elder"));
    assert!(!home.contains("智能缴费"), "elder mode shows fewer choices");
});

on_both!(staff_sign_in_page, |app| {
    let c = http();
    let (_, html) = get(&c, &app, "/staff/sign-in").await;
    let csrf = csrf_of(&html);
    let r = post(&c, &app, "/staff/sign-in", &[("csrf", &csrf), ("username", "reviewer"), ("password", "wrong-password")]).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("用户名或密码不正确"));
    let r = post(&c, &app, "/staff/sign-in", &[("csrf", &csrf), ("username", "reviewer"), ("password", "shenfen-review-demo")]).await;
    assert_eq!(r.status(), 303);
    let (status, bench) = get(&c, &app, "/staff").await;
    assert_eq!(status, 200);
    assert!(bench.contains("审核民警") && bench.contains("蜀山区"));
    assert!(!bench.contains("href=\"/counter\""), "reviewers have no counter console");
    // Staff cannot use citizen pages.
    assert_eq!(get(&c, &app, "/me").await.0, 403);
    // Counter staff find their console from the workbench.
    let c2 = http();
    let (_, html) = get(&c2, &app, "/staff/sign-in").await;
    let csrf = csrf_of(&html);
    let r = post(&c2, &app, "/staff/sign-in", &[("csrf", &csrf), ("username", "counter"), ("password", "shenfen-counter-demo")]).await;
    assert_eq!(r.status(), 303);
    assert!(get(&c2, &app, "/staff").await.1.contains("href=\"/counter\""));
});

on_both!(dev_outbox_shows_sandbox_messages, |app| {
    let c = http();
    c.post(app.url("/api/v1/auth/sms-codes")).json(&serde_json::json!({ "phone": "13800000071" })).send().await.unwrap();
    let (status, page) = get(&c, &app, "/dev/outbox?phone=13800000071").await;
    assert_eq!(status, 200);
    assert!(page.contains("138****0071") && page.contains("验证码"));
    let (status, _) = get(&c, &app, "/dev/outbox?phone=abc").await;
    assert_eq!(status, 422);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_outbox_is_absent_outside_demo_mode() {
    let app = TestApp::start_with(Db::Sqlite, Default::default(), |c| c.demo = false).await.unwrap();
    assert_eq!(http().get(app.url("/dev/outbox")).send().await.unwrap().status(), 404);
}

/// `shenfen audit verify` passes on an intact log and fails (exit 1) after a row is edited or deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_command_detects_tampering() {
    let dir = shenfen_store::test_support::TempDir::new();
    let db = dir.0.join("shenfen.db");
    let url = format!("sqlite://{}", db.display());
    {
        let store = shenfen_store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        for i in 0..5 {
            store
                .append_audit(&shenfen_store::AuditRecord {
                    at: i,
                    actor_kind: shenfen_store::ActorKind::Staff,
                    actor_id: "s".into(),
                    action: format!("a{i}"),
                    target: "t".into(),
                    source_ip: "127.0.0.1".into(),
                    detail: "{}".into(),
                })
                .await
                .unwrap();
        }
    }
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_shenfen"))
            .args(["audit", "verify"])
            .env("SHENFEN_DATABASE_URL", &url)
            .env("SHENFEN_DATA_DIR", &dir.0)
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("5 entries"));

    let sql = |q: &str| {
        let url = url.clone();
        let q = q.to_string();
        async move {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query(&q).execute(&pool).await.unwrap();
            pool.close().await;
        }
    };
    sql("UPDATE audit_log SET detail = '{\"x\":1}' WHERE seq = 3").await;
    let edited = verify();
    assert_eq!(edited.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&edited.stderr).contains("entry 3"));
}
