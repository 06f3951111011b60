//! Staff administration, forced password rotation, the TOTP second factor, session revocation and the audit-log
//! viewer, over HTTP on SQLite and PostgreSQL: the role/scope matrix, bad input, and every action audited.

mod support;

use serde_json::{Value, json};
use shenfen_server::app::Clock;
use support::{Db, TestApp, csrf_of, http, staff_pages};

/// 2026-03-02T10:00+08:00, a Monday: a pinned clock so TOTP steps are deterministic.
const T0: i64 = 1_772_416_800_000;

/// Runs a test body against SQLite, and PostgreSQL when configured, with the clock pinned at `T0`.
macro_rules! both {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $app = TestApp::start_with(Db::Sqlite, Clock::fixed(T0), |_| {}).await.unwrap();
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($app) = TestApp::start_with(Db::Postgres, Clock::fixed(T0), |_| {}).await else { return };
                $body
            }
        }
    };
}

async fn code_of(r: reqwest::Response) -> (u16, String) {
    let s = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (s, v["error"]["code"].as_str().unwrap_or("").to_string())
}

async fn sign_in(app: &TestApp, c: &reqwest::Client, username: &str, password: &str) -> reqwest::Response {
    c.post(app.url("/api/v1/auth/staff-sessions")).json(&json!({ "username": username, "password": password })).send().await.unwrap()
}

async fn token_of(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

async fn staff_id(app: &TestApp, username: &str) -> String {
    app.state.store.staff_by_username(username).await.unwrap().unwrap().id
}

async fn actions(app: &TestApp) -> Vec<String> {
    app.state.store.audit_entries(0, 10_000).await.unwrap().into_iter().map(|e| e.record.action).collect()
}

/// Creates an account through the API and signs it in with a changed password; returns its token.
async fn create_and_activate(app: &TestApp, c: &reqwest::Client, by: &str, body: Value) -> String {
    let r = c.post(app.url("/api/v1/admin/staff")).bearer_auth(by).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let username = body["username"].as_str().unwrap();
    let token = token_of(sign_in(app, c, username, body["password"].as_str().unwrap()).await).await;
    let r = c.post(app.url("/api/v1/staff/me/password")).bearer_auth(&token).json(&json!({ "current_password": body["password"], "new_password": "a-new-long-password-2" })).send().await.unwrap();
    assert_eq!(r.status(), 204);
    token
}

both!(new_accounts_must_change_their_password_first, |app| {
    let c = http();
    let admin = app.staff_token(&c, "admin").await;
    let r = c
        .post(app.url("/api/v1/admin/staff"))
        .bearer_auth(&admin)
        .json(&json!({ "username": "new.reviewer", "display_name": "新审核员", "password": "first-password-1", "role": "reviewer", "scope_kind": "district", "scope_code": "340104" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let token = token_of(sign_in(&app, &c, "new.reviewer", "first-password-1").await).await;
    // Nothing but the password change until it is done.
    assert_eq!(code_of(c.get(app.url("/api/v1/staff/me")).bearer_auth(&token).send().await.unwrap()).await, (403, "password_change_required".into()));
    let change = |cur: &str, new: &str| c.post(app.url("/api/v1/staff/me/password")).bearer_auth(&token).json(&json!({ "current_password": cur, "new_password": new }));
    assert_eq!(code_of(change("wrong-password-x", "another-password-9").send().await.unwrap()).await, (422, "password_wrong".into()));
    assert_eq!(code_of(change("first-password-1", "short").send().await.unwrap()).await, (422, "password_weak".into()));
    assert_eq!(code_of(change("first-password-1", "new.reviewer").send().await.unwrap()).await, (422, "password_weak".into()));
    assert_eq!(code_of(change("first-password-1", "first-password-1").send().await.unwrap()).await, (422, "password_reused".into()));
    let r = c.post(app.url("/api/v1/staff/me/password")).bearer_auth(&token).header("content-type", "application/json").body("{\"current_password\":1}").send().await.unwrap();
    assert_eq!(code_of(r).await, (400, "invalid_json".into()));
    assert_eq!(change("first-password-1", "second-password-2").send().await.unwrap().status(), 204);
    assert_eq!(c.get(app.url("/api/v1/staff/me")).bearer_auth(&token).send().await.unwrap().status(), 200, "the session in use stays");
    assert_eq!(sign_in(&app, &c, "new.reviewer", "first-password-1").await.status(), 401);
    assert_eq!(sign_in(&app, &c, "new.reviewer", "second-password-2").await.status(), 201);
    let a = actions(&app).await;
    for want in ["staff.create", "staff.password_change_failed", "staff.password_changed"] {
        assert!(a.iter().any(|x| x == want), "{want} audited: {a:?}");
    }
});

both!(administrators_manage_only_their_scope, |app| {
    let c = http();
    let admin = app.staff_token(&c, "admin").await;
    let reviewer_yaohai = staff_id(&app, "reviewer.yaohai").await;
    let reviewer_shushan = staff_id(&app, "reviewer").await;
    let admin_id = staff_id(&app, "admin").await;
    // A district administrator for 瑶海区 (340102).
    let district = create_and_activate(&app, &c, &admin, json!({ "username": "admin.yaohai", "display_name": "瑶海管理员", "password": "a-long-password-1", "role": "admin", "scope_kind": "district", "scope_code": "340102" })).await;

    // They see their district's accounts (and themselves), not Shushan's nor the province's.
    let list: Vec<Value> = c.get(app.url("/api/v1/admin/staff")).bearer_auth(&district).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = list.iter().map(|s| s["username"].as_str().unwrap()).collect();
    assert!(names.contains(&"reviewer.yaohai") && names.contains(&"admin.yaohai"), "{names:?}");
    assert!(!names.contains(&"reviewer") && !names.contains(&"admin") && !names.contains(&"production"), "{names:?}");

    // Outside their scope is "not found"; inside works.
    let act = |token: &str, id: &str, what: &str| {
        let req = if what == "sessions" { c.delete(app.url(&format!("/api/v1/admin/staff/{id}/sessions"))) } else { c.post(app.url(&format!("/api/v1/admin/staff/{id}/{what}"))) };
        let req = req.bearer_auth(token);
        if what == "password-reset" { req.json(&json!({})) } else { req }
    };
    for what in ["disable", "enable", "password-reset", "sessions"] {
        assert_eq!(act(&district, &reviewer_shushan, what).send().await.unwrap().status(), 404, "{what} outside scope");
        assert_eq!(act(&district, &admin_id, what).send().await.unwrap().status(), 404, "{what} on the province admin");
    }
    let yaohai_token = token_of(sign_in(&app, &c, "reviewer.yaohai", "shenfen-review-demo").await).await;
    let r = act(&district, &reviewer_yaohai, "disable").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["active"], false);
    assert_eq!(c.get(app.url("/api/v1/staff/me")).bearer_auth(&yaohai_token).send().await.unwrap().status(), 401, "disabling ends sessions");
    assert_eq!(sign_in(&app, &c, "reviewer.yaohai", "shenfen-review-demo").await.status(), 401, "a disabled account cannot sign in");
    assert_eq!(act(&district, &reviewer_yaohai, "enable").send().await.unwrap().status(), 200);
    let r = act(&district, &reviewer_yaohai, "password-reset").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let temp = r.json::<Value>().await.unwrap()["temporary_password"].as_str().unwrap().to_string();
    assert_eq!(temp.len(), 16);
    assert_eq!(sign_in(&app, &c, "reviewer.yaohai", "shenfen-review-demo").await.status(), 401, "the old password is gone");
    let t = token_of(sign_in(&app, &c, "reviewer.yaohai", &temp).await).await;
    assert_eq!(code_of(c.get(app.url("/api/v1/staff/me")).bearer_auth(&t).send().await.unwrap()).await.1, "password_change_required");
    let r = act(&district, &reviewer_yaohai, "sessions").send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["revoked"], 1);

    // Creating: only inside their district; a province account or another district is refused.
    let new = |kind: &str, code: &str, user: &str| {
        c.post(app.url("/api/v1/admin/staff")).bearer_auth(&district).json(&json!({ "username": user, "display_name": "x", "password": "a-long-password-1", "role": "counter", "scope_kind": kind, "scope_code": code }))
    };
    assert_eq!(new("province", "34", "user.p1").send().await.unwrap().status(), 403);
    assert_eq!(new("district", "340104", "user.p2").send().await.unwrap().status(), 403);
    let yaohai_point = app.state.store.list_points().await.unwrap().into_iter().find(|p| p.district_code == "340102").unwrap().id;
    let shushan_point = app.state.store.list_points().await.unwrap().into_iter().find(|p| p.district_code == "340104").unwrap().id;
    assert_eq!(new("point", &shushan_point, "user.p3").send().await.unwrap().status(), 403);
    assert_eq!(new("point", &yaohai_point, "user.p4").send().await.unwrap().status(), 201);
    assert_eq!(code_of(new("point", &yaohai_point, "user.p4").send().await.unwrap()).await, (409, "username_taken".into()));

    // Nobody manages themselves here; other roles, citizens and strangers not at all.
    assert_eq!(c.post(app.url(&format!("/api/v1/admin/staff/{admin_id}/disable"))).bearer_auth(&admin).send().await.unwrap().status(), 404);
    let reviewer = app.staff_token(&c, "reviewer").await;
    let citizen = app.citizen_token(&c, "13800000111").await;
    for (who, token, want) in [("reviewer", Some(reviewer.as_str()), 403), ("citizen", Some(citizen.as_str()), 403), ("anonymous", None, 401)] {
        let mut req = c.post(app.url(&format!("/api/v1/admin/staff/{reviewer_yaohai}/disable")));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        assert_eq!(req.send().await.unwrap().status().as_u16(), want, "{who}");
    }
    // Bad input.
    assert_eq!(c.post(app.url("/api/v1/admin/staff/not-an-id/disable")).bearer_auth(&admin).send().await.unwrap().status(), 404);
    let r = c.post(app.url(&format!("/api/v1/admin/staff/{reviewer_yaohai}/password-reset"))).bearer_auth(&admin).json(&json!({ "clear": true })).send().await.unwrap();
    assert_eq!(code_of(r).await, (400, "invalid_json".into()));
    let a = actions(&app).await;
    for want in ["staff.disable", "staff.enable", "staff.reset_password", "staff.revoke_sessions"] {
        assert!(a.iter().any(|x| x == want), "{want} audited");
    }
    let e = app.state.store.audit_entries(0, 10_000).await.unwrap().into_iter().find(|e| e.record.action == "staff.disable").unwrap();
    assert_eq!(e.record.target, format!("staff:{reviewer_yaohai}"));
    assert_eq!(e.record.actor_id, staff_id(&app, "admin.yaohai").await);
});

both!(staff_see_and_end_their_own_sessions, |app| {
    let c = http();
    let first = app.staff_token(&c, "reviewer").await;
    let second = app.staff_token(&c, "reviewer").await;
    let list: Vec<Value> = c.get(app.url("/api/v1/staff/me/sessions")).bearer_auth(&first).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    let other = list.iter().find(|s| s["current"] == false).unwrap()["reference"].as_str().unwrap().to_string();
    assert!(!list.iter().any(|s| s["reference"] == first.as_str() || s["reference"] == second.as_str()), "tokens are never shown");
    // Another staff member cannot end it.
    let counter = app.staff_token(&c, "counter").await;
    assert_eq!(c.delete(app.url(&format!("/api/v1/staff/me/sessions/{other}"))).bearer_auth(&counter).send().await.unwrap().status(), 404);
    assert_eq!(c.delete(app.url(&format!("/api/v1/staff/me/sessions/{other}"))).bearer_auth(&first).send().await.unwrap().status(), 204);
    assert_eq!(c.get(app.url("/api/v1/staff/me")).bearer_auth(&second).send().await.unwrap().status(), 401);
    assert_eq!(c.get(app.url("/api/v1/staff/me")).bearer_auth(&first).send().await.unwrap().status(), 200);
    assert_eq!(c.delete(app.url("/api/v1/staff/me/sessions/xyz")).bearer_auth(&first).send().await.unwrap().status(), 404);
    assert!(actions(&app).await.iter().any(|a| a == "staff.session_revoked"));
    // Citizens have no staff sessions endpoint.
    let citizen = app.citizen_token(&c, "13800000112").await;
    assert_eq!(c.get(app.url("/api/v1/staff/me/sessions")).bearer_auth(&citizen).send().await.unwrap().status(), 403);
});

fn base32_decode(s: &str) -> Vec<u8> {
    let mut bits = 0u64;
    let mut n = 0;
    let mut out = Vec::new();
    for ch in s.chars().filter(|c| !c.is_whitespace()) {
        let v = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".find(ch).unwrap() as u64;
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            out.push((bits >> (n - 8)) as u8);
            n -= 8;
        }
    }
    out
}

fn code_at(secret: &[u8], ms: i64) -> String {
    shenfen_server::totp::hotp(secret, shenfen_server::totp::step_at(ms) as u64, 6)
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let i = html.find(start).unwrap_or_else(|| panic!("{start} in page")) + start.len();
    &html[i..i + html[i..].find(end).unwrap()]
}

both!(second_factor_with_an_authenticator_app, |app| {
    let (c, csrf) = staff_pages(&app, "admin").await;
    let page = c.get(app.url("/staff/security")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"totp-start\""));
    let r = c.post(app.url("/staff/security/totp")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("<svg class=\"qr\""), "a server-rendered QR code");
    let uri = between(&page, "id=\"totp-uri\">", "<").replace("&#38;", "&").replace("&amp;", "&");
    assert!(uri.starts_with("otpauth://totp/Shenfen%3Aadmin?secret=") && uri.ends_with("&issuer=Shenfen&algorithm=SHA1&digits=6&period=30"), "{uri}");
    let secret = base32_decode(between(&page, "id=\"totp-secret\">", "<"));
    assert_eq!(secret.len(), 20);
    // A wrong code keeps the enrolment pending; the right one turns it on.
    let r = c.post(app.url("/staff/security/totp/confirm")).form(&[("csrf", csrf.as_str()), ("code", "000000")]).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("<svg class=\"qr\""), "the QR code is shown again");
    let r = c.post(app.url("/staff/security/totp/confirm")).form(&[("csrf", csrf.as_str()), ("code", code_at(&secret, T0).as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(c.get(app.url("/staff/security?done=totp-on")).send().await.unwrap().text().await.unwrap().contains("id=\"totp-disable\""));

    // Signing in now takes a code after the password.
    let b = http();
    let html = b.get(app.url("/staff/sign-in")).send().await.unwrap().text().await.unwrap();
    let csrf2 = csrf_of(&html);
    let r = b.post(app.url("/staff/sign-in")).form(&[("csrf", csrf2.as_str()), ("username", "admin"), ("password", "shenfen-admin-demo")]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/staff/sign-in/code");
    assert_eq!(b.get(app.url("/staff")).send().await.unwrap().status(), 303, "no session yet");
    // The code used to enrol is spent; the next step's code works once.
    let r = b.post(app.url("/staff/sign-in/code")).form(&[("csrf", csrf2.as_str()), ("code", code_at(&secret, T0).as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("已使用过"));
    app.state.clock.advance_ms(30_000);
    let r = b.post(app.url("/staff/sign-in/code")).form(&[("csrf", csrf2.as_str()), ("code", code_at(&secret, T0 + 30_000).as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(b.get(app.url("/staff")).send().await.unwrap().status(), 200);

    // The API takes the code with the password; the same code never works twice.
    let api = http();
    assert_eq!(code_of(sign_in(&app, &api, "admin", "shenfen-admin-demo").await).await, (401, "totp_required".into()));
    let with = |code: String| api.post(app.url("/api/v1/auth/staff-sessions")).json(&json!({ "username": "admin", "password": "shenfen-admin-demo", "totp_code": code }));
    assert_eq!(code_of(with(code_at(&secret, T0 + 30_000)).send().await.unwrap()).await, (422, "totp_reused".into()));
    assert_eq!(code_of(with(code_at(&secret, T0 + 120_000)).send().await.unwrap()).await, (422, "totp_wrong".into()), "two steps ahead is too far");
    assert_eq!(with(code_at(&secret, T0 + 60_000)).send().await.unwrap().status(), 201, "one step of drift is accepted");
    assert_eq!(code_of(with(code_at(&secret, T0 + 60_000)).send().await.unwrap()).await.1, "totp_reused");
    // A wrong password with a right code is still a wrong password.
    let r = api.post(app.url("/api/v1/auth/staff-sessions")).json(&json!({ "username": "admin", "password": "nope-nope-nope", "totp_code": "123456" })).send().await.unwrap();
    assert_eq!(code_of(r).await.1, "invalid_credentials");

    // Five wrong codes end a pending sign-in.
    let d = http();
    let html = d.get(app.url("/staff/sign-in")).send().await.unwrap().text().await.unwrap();
    let csrf3 = csrf_of(&html);
    d.post(app.url("/staff/sign-in")).form(&[("csrf", csrf3.as_str()), ("username", "admin"), ("password", "shenfen-admin-demo")]).send().await.unwrap();
    for _ in 0..5 {
        assert_eq!(d.post(app.url("/staff/sign-in/code")).form(&[("csrf", csrf3.as_str()), ("code", "111111")]).send().await.unwrap().status(), 422);
    }
    app.state.clock.advance_ms(30_000);
    let r = d.post(app.url("/staff/sign-in/code")).form(&[("csrf", csrf3.as_str()), ("code", code_at(&secret, T0 + 90_000).as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 401, "the challenge is spent after five attempts");

    // Turning it off needs a current code; an administrator's reset can also clear it (a lost phone).
    let r = c.post(app.url("/staff/security/totp/disable")).form(&[("csrf", csrf.as_str()), ("code", "000000")]).send().await.unwrap();
    assert_eq!(r.status(), 422);
    app.state.clock.advance_ms(30_000);
    let r = c.post(app.url("/staff/security/totp/disable")).form(&[("csrf", csrf.as_str()), ("code", code_at(&secret, T0 + 120_000).as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(sign_in(&app, &api, "admin", "shenfen-admin-demo").await.status(), 201);
    let a = actions(&app).await;
    for want in ["staff.totp_enabled", "staff.sign_in_code_failed", "staff.totp_disabled"] {
        assert!(a.iter().any(|x| x == want), "{want} audited");
    }
    let sec = app.state.store.staff_security(&staff_id(&app, "admin").await).await.unwrap().unwrap();
    assert!(sec.totp_secret_enc.is_none() && sec.totp_pending_enc.is_none());
});

both!(administrators_pages_manage_staff_without_javascript, |app| {
    let (c, csrf) = staff_pages(&app, "admin").await;
    let list = c.get(app.url("/admin/staff")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("id=\"staff-reviewer\"") && list.contains("id=\"staff-admin\""));
    // A refused form comes back with the error and what was typed.
    let r = c.post(app.url("/admin/staff/new")).form(&[("csrf", csrf.as_str()), ("username", "ab"), ("display_name", "新人"), ("role", "counter"), ("scope_kind", "district"), ("scope_code", "340104")]).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("error-summary") && page.contains("value=\"新人\""));
    let r = c.post(app.url("/admin/staff/new")).form(&[("csrf", csrf.as_str()), ("username", "page.counter"), ("display_name", "新窗口"), ("role", "counter"), ("scope_kind", "district"), ("scope_code", "340104")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let temp = between(&page, "id=\"temp-password\">", "<").to_string();
    assert_eq!(temp.len(), 16);
    let id = staff_id(&app, "page.counter").await;

    // The new account is sent to the password page until it has chosen its own.
    let n = http();
    let html = n.get(app.url("/staff/sign-in")).send().await.unwrap().text().await.unwrap();
    let ncsrf = csrf_of(&html);
    assert_eq!(n.post(app.url("/staff/sign-in")).form(&[("csrf", ncsrf.as_str()), ("username", "page.counter"), ("password", temp.as_str())]).send().await.unwrap().status(), 303);
    let r = n.get(app.url("/staff")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/staff/password");
    assert!(n.get(app.url("/staff/password")).send().await.unwrap().text().await.unwrap().contains("id=\"password-forced\""));
    let r = n.post(app.url("/staff/password")).form(&[("csrf", ncsrf.as_str()), ("current_password", temp.as_str()), ("new_password", "my-own-password-1"), ("confirm_password", "my-own-password-2")]).send().await.unwrap();
    assert_eq!(r.status(), 422, "confirmation differs");
    let r = n.post(app.url("/staff/password")).form(&[("csrf", ncsrf.as_str()), ("current_password", temp.as_str()), ("new_password", "my-own-password-1"), ("confirm_password", "my-own-password-1")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(n.get(app.url("/staff")).send().await.unwrap().status(), 200);

    // Detail page actions: disable (signs them out), enable, reset, end sessions.
    let detail = c.get(app.url(&format!("/admin/staff/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("id=\"disable-staff\""));
    let r = c.post(app.url(&format!("/admin/staff/{id}/disable"))).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(n.get(app.url("/staff")).send().await.unwrap().headers()["location"], "/staff/sign-in");
    let detail = c.get(app.url(&format!("/admin/staff/{id}?done=disabled"))).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("id=\"enable-staff\"") && detail.contains("id=\"staff-notice\""));
    assert_eq!(c.post(app.url(&format!("/admin/staff/{id}/enable"))).form(&[("csrf", csrf.as_str())]).send().await.unwrap().status(), 303);
    let r = c.post(app.url(&format!("/admin/staff/{id}/reset"))).form(&[("csrf", csrf.as_str()), ("clear_totp", "on")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("id=\"temp-password\""));
    assert_eq!(c.post(app.url(&format!("/admin/staff/{id}/revoke-sessions"))).form(&[("csrf", csrf.as_str())]).send().await.unwrap().status(), 303);
    // Without the CSRF token nothing happens.
    assert_eq!(c.post(app.url(&format!("/admin/staff/{id}/disable"))).form(&[("x", "y")]).send().await.unwrap().status(), 403);
    assert!(app.state.store.staff(&id).await.unwrap().unwrap().active);

    // Other roles are refused; strangers are sent to sign in.
    let (r, _) = staff_pages(&app, "reviewer").await;
    assert_eq!(r.get(app.url("/admin/staff")).send().await.unwrap().status(), 403);
    assert_eq!(r.get(app.url(&format!("/admin/staff/{id}"))).send().await.unwrap().status(), 403);
    assert_eq!(http().get(app.url("/admin/staff")).send().await.unwrap().headers()["location"], "/staff/sign-in");
    // English.
    let en = c.get(app.url("/admin/staff")).header("accept-language", "en").send().await.unwrap().text().await.unwrap();
    assert!(en.contains("Staff accounts"));
});

both!(audit_viewer_filters_pages_exports_and_checks_integrity, |app| {
    let c = http();
    for _ in 0..3 {
        assert_eq!(sign_in(&app, &c, "reviewer", "wrong-password").await.status(), 401);
    }
    let admin = app.staff_token(&c, "admin").await;
    let get = |q: &str| c.get(app.url(&format!("/api/v1/admin/audit{q}"))).bearer_auth(&admin);
    let page: Value = get("?action=staff.sign_in_failed").send().await.unwrap().json().await.unwrap();
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert!(entries.windows(2).all(|w| w[0]["seq"].as_i64() > w[1]["seq"].as_i64()), "newest first");
    // Prefix filters: `_` is not a wildcard.
    let page: Value = get("?action=staff.sign_in").send().await.unwrap().json().await.unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 4);
    let page: Value = get("?action=staff_sign").send().await.unwrap().json().await.unwrap();
    assert!(page["entries"].as_array().unwrap().is_empty());
    let admin_id = staff_id(&app, "admin").await;
    let page: Value = get(&format!("?actor={admin_id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    let page: Value = get("?target=username:reviewer").send().await.unwrap().json().await.unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 3);
    // Time range in China days: everything happened on 2026-03-02.
    assert_eq!(get("?from=2026-03-02&to=2026-03-02").send().await.unwrap().json::<Value>().await.unwrap()["entries"].as_array().unwrap().len(), 4);
    assert!(get("?from=2026-03-03").send().await.unwrap().json::<Value>().await.unwrap()["entries"].as_array().unwrap().is_empty());
    // Pages of two.
    let first: Value = get("?limit=2").send().await.unwrap().json().await.unwrap();
    let next = first["next_before"].as_i64().unwrap();
    let second: Value = get(&format!("?limit=2&before={next}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(second["entries"].as_array().unwrap().len(), 2);
    assert!(second["next_before"].is_null());
    // Bad filters.
    for q in ["?from=2026-13-01", "?limit=0", "?limit=501", "?before=abc", "?from=2026-03-03&to=2026-03-02"] {
        assert_eq!(code_of(get(q).send().await.unwrap()).await, (422, "audit_filter_invalid".into()), "{q}");
    }
    // CSV export, itself audited.
    let r = c.get(app.url("/api/v1/admin/audit/export.csv?action=staff.")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("\u{feff}seq,time_cst,actor_kind"));
    assert_eq!(csv.lines().count(), 1 + 4);
    assert!(csv.contains("2026-03-02 10:00:00"));
    assert!(actions(&app).await.iter().any(|a| a == "audit.export"));
    // Integrity.
    let v: Value = c.get(app.url("/api/v1/admin/audit/integrity?fresh=1")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["intact"], true, "{v}");
    // Only province administrators read the log.
    let reviewer = app.staff_token(&c, "reviewer").await;
    assert_eq!(c.get(app.url("/api/v1/admin/audit")).bearer_auth(&reviewer).send().await.unwrap().status(), 403);
    let district = create_and_activate(&app, &c, &admin, json!({ "username": "admin.d", "display_name": "区管理员", "password": "a-long-password-1", "role": "admin", "scope_kind": "district", "scope_code": "340102" })).await;
    assert_eq!(c.get(app.url("/api/v1/admin/audit")).bearer_auth(&district).send().await.unwrap().status(), 403);
    assert_eq!(c.get(app.url("/api/v1/admin/audit")).send().await.unwrap().status(), 401);

    // The page: filters, integrity, export link.
    let (p, _) = staff_pages(&app, "admin").await;
    let html = p.get(app.url("/admin/audit?action=staff.sign_in_failed")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("id=\"audit-integrity\"") && html.contains("✓"));
    assert_eq!(html.matches("staff.sign_in_failed</td>").count(), 3);
    assert!(html.contains("href=\"/admin/audit/export.csv?action=staff.sign_in_failed\""));
    let r = p.get(app.url("/admin/audit/export.csv?action=staff.sign_in_failed")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap().lines().count(), 4);
    assert_eq!(p.get(app.url("/admin/audit?from=bad")).send().await.unwrap().status(), 422);
});

/// Editing an entry in the database turns the indicator red.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_viewer_shows_a_broken_chain() {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    let c = http();
    let admin = app.staff_token(&c, "admin").await;
    let db = app.state.config.data_dir.join("shenfen.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    sqlx::query("UPDATE audit_log SET detail = '{\"channel\":\"forged\"}' WHERE seq = 1").execute(&pool).await.unwrap();
    let v: Value = c.get(app.url("/api/v1/admin/audit/integrity?fresh=1")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["intact"], false);
    assert!(v["problem"].as_str().unwrap().contains("audit entry 1"), "{v}");
    let (p, _) = staff_pages(&app, "admin").await;
    let html = p.get(app.url("/admin/audit?fresh=1")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("✗") && html.contains("audit entry 1"));
}
