//! HTTP-level tests of the JSON API, run against SQLite and PostgreSQL.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shenfen_server::app::Clock;
use support::{Db, TestApp, http};

const ZHANG_ID: &str = "34010419900307177X";

async fn audit_len(app: &TestApp) -> usize {
    app.state.store.audit_entries(0, 100_000).await.unwrap().len()
}

async fn error_code(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    (status, body["error"]["code"].as_str().unwrap_or("<none>").to_string())
}

on_both!(operations_endpoints, |app| {
    let c = http();
    let r = c.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-request-id").is_some(), "every response carries a request id");
    assert_eq!(c.get(app.url("/readyz")).send().await.unwrap().status(), 200);
    let doc: Value = c.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in ["/api/v1/auth/sms-codes", "/api/v1/auth/sessions", "/api/v1/me", "/api/v1/me/verification/primary", "/api/v1/citizens/{id}"] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI documents {path}");
    }
    let docs = c.get(app.url("/api/docs")).send().await.unwrap().text().await.unwrap();
    assert!(docs.contains("/api/v1/me/verification/primary"));
    let metrics = c.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/healthz\""));
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
});

on_both!(sms_sign_in_and_profile, |app| {
    let c = http();
    let token = app.citizen_token(&c, "13800138000").await;
    let me: Value = c.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["phone_masked"], "138****8000");
    assert_eq!(me["verification"], "none");

    // Sign out revokes the token.
    assert_eq!(c.delete(app.url("/api/v1/auth/sessions")).bearer_auth(&token).send().await.unwrap().status(), 204);
    let (s, code) = error_code(c.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNAUTHORIZED, "unauthorized"));

    let entries = app.state.store.audit_entries(0, 100).await.unwrap();
    assert!(entries.iter().any(|e| e.record.action == "citizen.sign_in"));
});

on_both!(codes_are_single_use_limited_and_burn, |app| {
    let c = http();
    let phone = "13900000001";
    let send = || c.post(app.url("/api/v1/auth/sms-codes")).json(&json!({ "phone": phone })).send();
    assert_eq!(send().await.unwrap().status(), 202);
    let (s, code) = error_code(send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "one code per 60 s");
    assert_eq!(app.state.store.outbox(Some(phone), 10).await.unwrap().len(), 1, "the refused request sent nothing");

    let good = app.last_code(phone).await;
    let wrong = if good == "000000" { "111111" } else { "000000" };
    let sign_in = |code: &str| c.post(app.url("/api/v1/auth/sessions")).json(&json!({ "phone": phone, "code": code })).send();
    let (s, code) = error_code(sign_in(wrong).await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "code_wrong"));
    let (_, code) = error_code(sign_in("12ab").await.unwrap()).await;
    assert_eq!(code, "code_format");
    assert_eq!(sign_in(&good).await.unwrap().status(), 201);
    let (_, code) = error_code(sign_in(&good).await.unwrap()).await;
    assert_eq!(code, "code_missing", "a replayed code is refused");
});

on_both!(five_wrong_codes_burn_the_code, |app| {
    let c = http();
    let phone = "13900000002";
    c.post(app.url("/api/v1/auth/sms-codes")).json(&json!({ "phone": phone })).send().await.unwrap();
    let good = app.last_code(phone).await;
    let wrong = if good == "000000" { "111111" } else { "000000" };
    let mut last = String::new();
    for _ in 0..5 {
        last = error_code(c.post(app.url("/api/v1/auth/sessions")).json(&json!({ "phone": phone, "code": wrong })).send().await.unwrap()).await.1;
    }
    assert_eq!(last, "code_burned");
    let (_, code) = error_code(c.post(app.url("/api/v1/auth/sessions")).json(&json!({ "phone": phone, "code": good })).send().await.unwrap()).await;
    assert_eq!(code, "code_burned", "even the right code fails after five wrong ones");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_expire_after_five_minutes() {
    let clock = Clock::fixed(1_790_000_000_000);
    let app = TestApp::start_with(Db::Sqlite, clock.clone(), |_| {}).await.unwrap();
    let c = http();
    let phone = "13900000003";
    c.post(app.url("/api/v1/auth/sms-codes")).json(&json!({ "phone": phone })).send().await.unwrap();
    let code = app.last_code(phone).await;
    clock.advance_ms(300_001);
    let (_, err) = error_code(c.post(app.url("/api/v1/auth/sessions")).json(&json!({ "phone": phone, "code": code })).send().await.unwrap()).await;
    assert_eq!(err, "code_expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_caps_per_number_and_per_ip() {
    let clock = Clock::fixed(1_790_000_000_000);
    let app = TestApp::start_with(Db::Sqlite, clock.clone(), |c| {
        c.limits.sms_per_number_per_day = 3;
        c.limits.sms_per_ip_per_day = 5;
    })
    .await
    .unwrap();
    let c = http();
    let send = |phone: &'static str| c.post(app.url("/api/v1/auth/sms-codes")).json(&json!({ "phone": phone })).send();
    for _ in 0..3 {
        assert_eq!(send("13900000004").await.unwrap().status(), 202);
        clock.advance_ms(61_000);
    }
    let (s, _) = error_code(send("13900000004").await.unwrap()).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "per-number daily cap");
    assert_eq!(send("13900000005").await.unwrap().status(), 202);
    assert_eq!(send("13900000006").await.unwrap().status(), 202);
    let (s, _) = error_code(send("13900000007").await.unwrap()).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "per-IP daily cap");
}

on_both!(bad_input_gets_stable_codes_and_writes_nothing, |app| {
    let c = http();
    let before = audit_len(&app).await;
    let post = |path: &str| c.post(app.url(path));
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (post("/api/v1/auth/sms-codes").header("content-type", "application/json").body("{not json"), StatusCode::BAD_REQUEST, "invalid_json"),
        (post("/api/v1/auth/sms-codes").header("content-type", "text/plain").body("13800138000"), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (post("/api/v1/auth/sms-codes").json(&json!({ "phone": "13800138000", "extra": 1 })), StatusCode::BAD_REQUEST, "invalid_json"),
        (post("/api/v1/auth/sms-codes").json(&json!({})), StatusCode::BAD_REQUEST, "invalid_json"),
        // Just over the 64 KiB limit: small enough to sit in the socket buffers, so the client has finished sending
        // when the server answers early and closes (a much larger body races that close and sees a reset).
        (post("/api/v1/auth/sms-codes").json(&json!({ "phone": "x".repeat(70_000) })), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        (post("/api/v1/auth/sms-codes").json(&json!({ "phone": "1380013800" })), StatusCode::UNPROCESSABLE_ENTITY, "phone_length"),
        (post("/api/v1/auth/sms-codes").json(&json!({ "phone": "1380013800a" })), StatusCode::UNPROCESSABLE_ENTITY, "phone_characters"),
        (post("/api/v1/auth/sms-codes").json(&json!({ "phone": "12800138000" })), StatusCode::UNPROCESSABLE_ENTITY, "phone_prefix"),
        (post("/api/v1/auth/sessions").json(&json!({ "phone": "13800138000", "code": "123456" })), StatusCode::UNPROCESSABLE_ENTITY, "code_missing"),
        (post("/api/v1/auth/staff-sessions").json(&json!({ "username": "admin", "password": "wrong" })), StatusCode::UNAUTHORIZED, "invalid_credentials"),
        (c.get(app.url("/api/v1/nothing-here")), StatusCode::NOT_FOUND, "not_found"),
        (c.put(app.url("/api/v1/auth/sms-codes")).json(&json!({})), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (c.get(app.url("/api/v1/me")), StatusCode::UNAUTHORIZED, "unauthorized"),
        (c.get(app.url("/api/v1/me")).bearer_auth("forged-token"), StatusCode::UNAUTHORIZED, "unauthorized"),
    ];
    for (req, status, code) in cases {
        let r = req.send().await.unwrap();
        assert_eq!(r.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
        let (s, got) = error_code(r).await;
        assert_eq!((s, got.as_str()), (status, code));
    }
    assert_eq!(app.state.store.outbox(None, 10).await.unwrap().len(), 0, "no SMS went out");
    // The failed staff sign-in is itself audited; nothing else was written.
    let after = app.state.store.audit_entries(0, 1000).await.unwrap();
    assert_eq!(after.len(), before + 1);
    assert_eq!(after.last().unwrap().record.action, "staff.sign_in_failed");
});

on_both!(id_number_failures_are_distinct_and_bilingual, |app| {
    let c = http();
    for (input, code) in [
        ("3401041990030717", "id_length"),
        ("34010419900307177Y", "id_characters"),
        ("34010419901307177X", "id_date"),
        ("99010419900307177X", "id_region"),
        ("340104199003071771", "id_check_digit"),
        ("810000199003071231", "id_not_resident_card"),
    ] {
        let r = c.post(app.url("/api/v1/id-numbers/validate")).json(&json!({ "id_number": input })).send().await.unwrap();
        let (s, got) = error_code(r).await;
        assert_eq!((s, got.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, code), "{input}");
    }
    let zh: Value = c.post(app.url("/api/v1/id-numbers/validate")).json(&json!({ "id_number": "340104199003071771" })).send().await.unwrap().json().await.unwrap();
    let en: Value = c
        .post(app.url("/api/v1/id-numbers/validate"))
        .header("accept-language", "en-US,en;q=0.9")
        .json(&json!({ "id_number": "340104199003071771" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(zh["error"]["message"].as_str().unwrap().contains("校验码"));
    assert!(en["error"]["message"].as_str().unwrap().contains("check digit"));
    let ok: Value = c.post(app.url("/api/v1/id-numbers/validate")).json(&json!({ "id_number": "340104900307177" })).send().await.unwrap().json().await.unwrap();
    assert_eq!(ok["legacy_15"], true);
    assert_eq!(ok["id_number_masked"], "340104********177X");
});

on_both!(primary_verification_encrypts_and_masks, |app| {
    let c = http();
    let token = app.citizen_token(&c, "13800000011").await;
    let verify = |name: &str, id: &str| c.post(app.url("/api/v1/me/verification/primary")).bearer_auth(&token).json(&json!({ "name": name, "id_number": id })).send();

    // Wrong name: one message for "no such person" and "name differs", and nothing is bound.
    let (s, code) = error_code(verify("李四", ZHANG_ID).await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "identity_mismatch"));
    let (_, code) = error_code(verify("张三", "11010519491231002X").await.unwrap()).await;
    assert_eq!(code, "identity_mismatch");
    let me: Value = c.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["verification"], "none");

    let r = verify("张三", &ZHANG_ID.to_lowercase()).await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains(ZHANG_ID), "the full number never comes back");
    let me: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(me["verification"], "primary");
    assert_eq!(me["id_number_masked"], "340104********177X");
    assert_eq!(me["name_masked"], "张*");

    // At rest: encrypted, not the plaintext, and found through the keyed blind index.
    let citizen = app.state.store.citizen(me["id"].as_str().unwrap()).await.unwrap().unwrap();
    let enc = citizen.id_number_enc.clone().unwrap();
    assert!(!enc.windows(ZHANG_ID.len()).any(|w| w == ZHANG_ID.as_bytes()));
    assert_eq!(app.state.keys.decrypt_field(&enc).unwrap(), ZHANG_ID);
    let blind = app.state.keys.blind_index(ZHANG_ID);
    assert_eq!(app.state.store.citizen_by_id_blind(&blind).await.unwrap().unwrap().id, citizen.id);
    assert!(app.state.store.audit_entries(0, 100).await.unwrap().iter().any(|e| e.record.action == "citizen.verify_primary" && e.record.detail.contains("340104********177X") && !e.record.detail.contains(ZHANG_ID)));

    // The same person cannot be bound to a second account.
    let other = app.citizen_token(&c, "13800000012").await;
    let r = c.post(app.url("/api/v1/me/verification/primary")).bearer_auth(&other).json(&json!({ "name": "张三", "id_number": ZHANG_ID })).send().await.unwrap();
    assert_eq!(error_code(r).await, (StatusCode::CONFLICT, "id_number_bound".to_string()));
});

fn fake_jpeg() -> String {
    use base64::Engine;
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.resize(4096, 7);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

on_both!(intermediate_verification_outcomes, |app| {
    let c = http();
    let face = |token: &str, image: String| c.post(app.url("/api/v1/me/verification/intermediate")).bearer_auth(token.to_string()).json(&json!({ "image_base64": image })).send();
    let verified = |phone: &'static str, name: &'static str, id: &'static str| {
        let c = c.clone();
        let app = &app;
        async move {
            let t = app.citizen_token(&c, phone).await;
            let r = c.post(app.url("/api/v1/me/verification/primary")).bearer_auth(&t).json(&json!({ "name": name, "id_number": id })).send().await.unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            t
        }
    };
    let fresh = app.citizen_token(&c, "13800000020").await;
    assert_eq!(error_code(face(&fresh, fake_jpeg()).await.unwrap()).await.1, "primary_required");

    let zhang = verified("13800000021", "张三", ZHANG_ID).await;
    assert_eq!(error_code(face(&zhang, "!!!".into()).await.unwrap()).await.1, "image_invalid");
    assert_eq!(error_code(face(&zhang, "aGVsbG8=".into()).await.unwrap()).await.1, "image_invalid");
    let r = face(&zhang, fake_jpeg()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["verification"], "intermediate");

    let registry = shenfen_server::registry::DemoRegistry::new();
    let id_of = |n: &str| registry.residents().iter().find(|r| r.name == n).unwrap().id_number.as_str().to_string();
    let sun = id_of("孙八");
    let zhou = id_of("周九");
    let wu = id_of("吴十");
    let qian = id_of("钱七");
    for (phone, name, id, status, code) in [
        ("13800000022", "孙八", sun, StatusCode::UNPROCESSABLE_ENTITY, "face_mismatch"),
        ("13800000023", "周九", zhou, StatusCode::UNPROCESSABLE_ENTITY, "liveness_failed"),
        ("13800000024", "吴十", wu, StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        ("13800000025", "钱七", qian, StatusCode::UNPROCESSABLE_ENTITY, "no_registry_portrait"),
    ] {
        let id: &'static str = Box::leak(id.into_boxed_str());
        let t = verified(phone, name, id).await;
        assert_eq!(error_code(face(&t, fake_jpeg()).await.unwrap()).await, (status, code.to_string()), "{name}");
        let me: Value = c.get(app.url("/api/v1/me")).bearer_auth(&t).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["verification"], "primary", "a refusal changes nothing");
    }
});

// Each role reaches exactly what it should; a citizen never reaches another citizen's data.
on_both!(role_matrix, |app| {
    let c = http();
    let citizen_a = app.citizen_token(&c, "13800000031").await;
    let r = c.post(app.url("/api/v1/me/verification/primary")).bearer_auth(&citizen_a).json(&json!({ "name": "张三", "id_number": ZHANG_ID })).send().await.unwrap();
    let a_id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let citizen_b = app.citizen_token(&c, "13800000032").await;

    let mut tokens = vec![("anonymous", None), ("citizen_a", Some(citizen_a.clone())), ("citizen_b", Some(citizen_b))];
    for staff in ["reviewer", "reviewer.yaohai", "counter", "production", "admin"] {
        tokens.push((staff, Some(app.staff_token(&c, staff).await)));
    }
    let citizen_path = format!("/api/v1/citizens/{a_id}");
    let reveal_path = format!("{citizen_path}?reveal=id_number");
    // (path, [anonymous, citizen_a, citizen_b, reviewer(蜀山), reviewer(瑶海), counter(蜀山 point), production, admin(province)])
    let matrix: Vec<(&str, [u16; 8])> = vec![
        ("/api/v1/me", [401, 200, 200, 403, 403, 403, 403, 403]),
        ("/api/v1/staff/me", [401, 403, 403, 200, 200, 200, 200, 200]),
        ("/api/v1/admin/staff", [401, 403, 403, 403, 403, 403, 403, 200]),
        (&citizen_path, [401, 403, 403, 200, 404, 200, 403, 200]),
        (&reveal_path, [401, 403, 403, 200, 404, 403, 403, 200]),
    ];
    for (path, expected) in &matrix {
        for ((who, token), want) in tokens.iter().zip(expected) {
            let mut req = c.get(app.url(path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status().as_u16(), *want, "{who} GET {path}");
            if *want == 200 && path.starts_with("/api/v1/citizens/") {
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["id_number_masked"], "340104********177X");
                if path.contains("reveal") {
                    assert_eq!(v["id_number"], ZHANG_ID);
                } else {
                    assert!(v["id_number"].is_null(), "masked unless revealed");
                }
            }
        }
    }
    let reveals = app.state.store.audit_entries(0, 1000).await.unwrap().into_iter().filter(|e| e.record.action == "citizen.reveal_id_number").count();
    assert_eq!(reveals, 2, "every reveal is audited");

    // Admin staff creation: validated, scoped, audited.
    let admin = &tokens[7].1.clone().unwrap();
    let new_staff = |username: &str, role: &str, kind: &str, code: &str| {
        c.post(app.url("/api/v1/admin/staff")).bearer_auth(admin).json(&json!({
            "username": username, "display_name": "新人", "password": "a-long-password-1", "role": role, "scope_kind": kind, "scope_code": code
        }))
    };
    assert_eq!(new_staff("new.reviewer", "reviewer", "district", "340103").send().await.unwrap().status(), 201);
    assert_eq!(error_code(new_staff("new.reviewer", "reviewer", "district", "340103").send().await.unwrap()).await.1, "username_taken");
    assert_eq!(error_code(new_staff("x", "reviewer", "district", "340103").send().await.unwrap()).await.1, "staff_invalid");
    assert_eq!(error_code(new_staff("nobody", "chief", "district", "340103").send().await.unwrap()).await.1, "staff_invalid");
    assert_eq!(new_staff("outside", "reviewer", "district", "320102").send().await.unwrap().status(), 403, "outside the admin's province");
    let reviewer = &tokens[3].1.clone().unwrap();
    let r = c.post(app.url("/api/v1/admin/staff")).bearer_auth(reviewer).json(&json!({
        "username": "sneaky", "display_name": "x", "password": "a-long-password-1", "role": "admin", "scope_kind": "province", "scope_code": "34"
    })).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let created = c.post(app.url("/api/v1/auth/staff-sessions")).json(&json!({ "username": "new.reviewer", "password": "a-long-password-1" })).send().await.unwrap();
    assert_eq!(created.status(), 201);
});

on_both!(audit_chain_holds_after_real_traffic, |app| {
    let c = http();
    let t = app.citizen_token(&c, "13800000041").await;
    c.post(app.url("/api/v1/me/verification/primary")).bearer_auth(&t).json(&json!({ "name": "张三", "id_number": ZHANG_ID })).send().await.unwrap();
    app.staff_token(&c, "admin").await;
    let entries = app.state.store.audit_entries(0, 1000).await.unwrap();
    let head = app.state.store.audit_head().await.unwrap();
    assert_eq!(shenfen_store::audit::verify_chain(&entries, (head.0, &head.1)).unwrap(), entries.len() as u64);
    let actions: Vec<_> = entries.iter().map(|e| e.record.action.as_str()).collect();
    assert_eq!(actions, ["citizen.sign_in", "citizen.verify_primary", "staff.sign_in"]);
    assert!(entries.iter().all(|e| e.record.source_ip == "127.0.0.1"));
});
