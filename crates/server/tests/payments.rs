//! HTTP-level tests of payment orders, counter cash and shifts, finance totals, refunds and notification
//! application (exactly once, checked against the order), on SQLite and PostgreSQL.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shenfen_server::payments::provider::{NoticeOutcome, VerifiedNotice};
use shenfen_server::payments::service::{self, NoticeResult};
use support::http;

async fn code_of(r: reqwest::Response) -> (StatusCode, String) {
    let s = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (s, v["error"]["code"].as_str().unwrap_or("").to_string())
}

fn notice(order_no: &str, event_id: &str, amount_fen: i64) -> VerifiedNotice {
    VerifiedNotice {
        event_id: event_id.into(),
        order_no: order_no.into(),
        provider_trade_no: Some("2026112622001400001".into()),
        amount_fen,
        merchant_id: "merchant-1".into(),
        outcome: NoticeOutcome::Paid { at: time::OffsetDateTime::now_utc() },
    }
}

on_both!(orders_are_idempotent_and_validated, |app| {
    let c = http();
    let token = app.citizen_token(&c, "13800000501").await;
    let create = |key: Option<&str>, body: Value| {
        let mut r = c.post(app.url("/api/v1/payments")).bearer_auth(token.clone()).json(&body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r.send()
    };
    let body = json!({ "reference": "application:A1", "item": "renewal" });
    let r = create(Some("key-1"), body.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let first: Value = r.json().await.unwrap();
    assert_eq!((first["amount_fen"].as_i64(), first["status"].as_str()), (Some(2000), Some("created")));
    // Same key, same body: the first answer again.
    let r = create(Some("key-1"), body.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["order_no"], first["order_no"]);
    // Same key, another body: 409, nothing new.
    let (s, code) = code_of(create(Some("key-1"), json!({ "reference": "application:A1", "item": "replacement_lost" })).await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "idempotency_key_reused"));
    // Bad input.
    for (key, body, status, code) in [
        (None, json!({ "reference": "application:A1", "item": "haircut" }), StatusCode::UNPROCESSABLE_ENTITY, "item_invalid"),
        (None, json!({ "reference": "", "item": "renewal" }), StatusCode::UNPROCESSABLE_ENTITY, "reference_invalid"),
        (None, json!({ "reference": "a b;drop", "item": "renewal" }), StatusCode::UNPROCESSABLE_ENTITY, "reference_invalid"),
        (None, json!({ "reference": "application:A1", "item": "renewal", "amount_fen": 1 }), StatusCode::BAD_REQUEST, "invalid_json"),
        (Some(""), json!({ "reference": "application:A1", "item": "renewal" }), StatusCode::BAD_REQUEST, "idempotency_key_invalid"),
    ] {
        let (s, got) = code_of(create(key, body.clone()).await.unwrap()).await;
        assert_eq!((s, got.as_str()), (status, code), "{body}");
    }
    let mine: Vec<Value> = c.get(app.url("/api/v1/payments")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine.len(), 1);

    // Someone else's order is not found; cancelling is final.
    let other = app.citizen_token(&c, "13800000502").await;
    let no = first["order_no"].as_str().unwrap();
    let r = c.get(app.url(&format!("/api/v1/payments/{no}"))).bearer_auth(&other).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c.post(app.url(&format!("/api/v1/payments/{no}/cancel"))).bearer_auth(&other).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c.post(app.url(&format!("/api/v1/payments/{no}/cancel"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "cancelled");
    let (s, code) = code_of(c.post(app.url(&format!("/api/v1/payments/{no}/cancel"))).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "payment_final"));
});

on_both!(counter_cash_shift_and_finance_totals, |app| {
    let c = http();
    let counter = app.staff_token(&c, "counter").await;
    let admin = app.staff_token(&c, "admin").await;
    let point = app.state.store.staff_by_username("counter").await.unwrap().unwrap().scope.code;
    let r = c.post(app.url("/api/v1/counter/payments")).bearer_auth(&counter).json(&json!({ "reference": "counter:walk-in-1", "item": "replacement_lost" })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_string();
    let cash = |body: Value| c.post(app.url(&format!("/api/v1/counter/payments/{no}/cash"))).bearer_auth(counter.clone()).json(&body).send();
    for (body, status, code) in [
        (json!({ "point": point, "received_fen": "50.00" }), StatusCode::BAD_REQUEST, "invalid_json"),
        (json!({ "point": point, "received_fen": 3999 }), StatusCode::UNPROCESSABLE_ENTITY, "cash_insufficient"),
        (json!({ "point": point, "received_fen": -5000 }), StatusCode::UNPROCESSABLE_ENTITY, "cash_insufficient"),
        (json!({ "point": "nope", "received_fen": 5000 }), StatusCode::NOT_FOUND, "point_not_found"),
    ] {
        let (s, got) = code_of(cash(body.clone()).await.unwrap()).await;
        assert_eq!((s, got.as_str()), (status, code), "{body}");
    }
    let r = cash(json!({ "point": point, "received_fen": 5000 })).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let receipt: Value = r.json().await.unwrap();
    assert_eq!((receipt["change_fen"].as_i64(), receipt["order"]["status"].as_str(), receipt["order"]["channel"].as_str()), (Some(1000), Some("success"), Some("cash")));
    // Paying twice takes no second cash.
    let (s, code) = code_of(cash(json!({ "point": point, "received_fen": 5000 })).await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "payment_final"));

    // Finance: administrators only.
    let r = c.get(app.url("/api/v1/finance/totals")).bearer_auth(&counter).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let t: Value = c.get(app.url("/api/v1/finance/totals")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(t["total_fen"], 4000);
    assert_eq!(t["channels"][0]["channel"], "cash");
    assert_eq!(t["smart_share_permille"], 0);
    let (s, code) = code_of(c.get(app.url("/api/v1/finance/totals?day=yesterday")).bearer_auth(&admin).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "day_invalid"));

    // Closing the shift compares the drawer with the recorded cash.
    let shift: Value = c.post(app.url("/api/v1/counter/shift/close")).bearer_auth(&counter).json(&json!({ "counted_fen": 3900 })).send().await.unwrap().json().await.unwrap();
    assert_eq!((shift["expected_fen"].as_i64(), shift["difference_fen"].as_i64()), (Some(4000), Some(-100)));
    let (s, code) = code_of(c.post(app.url("/api/v1/counter/shift/close")).bearer_auth(&counter).json(&json!({ "counted_fen": 0 })).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "no_open_shift"));
    let audit = app.state.store.audit_entries(0, 1000).await.unwrap();
    assert!(audit.iter().any(|e| e.record.action == "payment.cash") && audit.iter().any(|e| e.record.action == "payment.shift_close"));
});

on_both!(notices_apply_once_and_only_when_they_match, |app| {
    let c = http();
    let token = app.citizen_token(&c, "13800000503").await;
    let r = c.post(app.url("/api/v1/payments")).bearer_auth(&token).json(&json!({ "reference": "application:N1", "item": "renewal" })).send().await.unwrap();
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_string();

    // Unknown order, other merchant, other amount: refused, nothing changes.
    assert_eq!(service::apply_notice(&app.state, "alipay", "merchant-1", &notice("SFNOSUCHORDER", "n0", 2000)).await.unwrap(), NoticeResult::Rejected("unknown_order"));
    assert_eq!(service::apply_notice(&app.state, "alipay", "merchant-2", &notice(&no, "n1", 2000)).await.unwrap(), NoticeResult::Rejected("wrong_merchant"));
    assert_eq!(service::apply_notice(&app.state, "alipay", "merchant-1", &notice(&no, "n2", 1)).await.unwrap(), NoticeResult::Rejected("wrong_amount"));
    let o: Value = c.get(app.url(&format!("/api/v1/payments/{no}"))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(o["status"], "created");

    // The genuine notice, replayed 1,000 times (100 at once): one state change, one audit entry.
    let mut results = Vec::new();
    for _ in 0..10 {
        let mut batch = Vec::new();
        for _ in 0..100 {
            let (state, n) = (app.state.clone(), notice(&no, "n3", 2000));
            batch.push(tokio::spawn(async move { service::apply_notice(&state, "alipay", "merchant-1", &n).await.unwrap() }));
        }
        for t in batch {
            results.push(t.await.unwrap());
        }
    }
    assert_eq!(results.iter().filter(|r| **r == NoticeResult::Applied).count(), 1);
    assert_eq!(results.iter().filter(|r| **r == NoticeResult::Duplicate).count(), 999);
    let o: Value = c.get(app.url(&format!("/api/v1/payments/{no}"))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(o["status"], "success");
    let audit = app.state.store.audit_entries(0, 5000).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.record.action == "payment.success" && e.record.target == format!("payment:{no}")).count(), 1);
    // A paid order cannot be cancelled.
    let (s, code) = code_of(c.post(app.url(&format!("/api/v1/payments/{no}/cancel"))).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "payment_final"));

    // Refunds: never above what was paid, also when two race.
    let order = app.state.store.order_by_no(&no).await.unwrap().unwrap();
    let actor = shenfen_server::app::Actor { kind: shenfen_store::ActorKind::System, id: "test".into(), ip: "-".into() };
    let (a, b) = tokio::join!(service::start_refund(&app.state, &order, 2000, "rejected", &actor), service::start_refund(&app.state, &order, 2000, "rejected", &actor));
    assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|x| **x).count(), 1, "one full refund");
    let order = app.state.store.order_by_no(&no).await.unwrap().unwrap();
    assert_eq!(order.refunded_fen, 2000);
    let e = service::start_refund(&app.state, &order, 1, "again", &actor).await.unwrap_err();
    assert_eq!(e.code, "refund_exceeds_paid");
});

on_both!(pay_and_cancel_race_leaves_one_outcome, |app| {
    let c = http();
    let token = app.citizen_token(&c, "13800000504").await;
    for i in 0..10 {
        let r = c.post(app.url("/api/v1/payments")).bearer_auth(&token).json(&json!({ "reference": format!("application:R{i}"), "item": "renewal" })).send().await.unwrap();
        let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_string();
        let cancel = c.post(app.url(&format!("/api/v1/payments/{no}/cancel"))).bearer_auth(&token).send();
        let n = notice(&no, &format!("e{i}"), 2000);
        let pay = service::apply_notice(&app.state, "wechat", "merchant-1", &n);
        let (cancelled, paid) = tokio::join!(cancel, pay);
        let cancelled = cancelled.unwrap().status() == StatusCode::OK;
        let paid = paid.unwrap() == NoticeResult::Applied;
        let o = app.state.store.order_by_no(&no).await.unwrap().unwrap();
        assert!(paid, "the notice is always recorded");
        match o.status {
            shenfen_store::PaymentStatus::Success => assert!(!cancelled),
            shenfen_store::PaymentStatus::Cancelled => {
                assert!(cancelled);
                // The money arrived after the cancellation: recorded for a refund.
                let audit = app.state.store.audit_entries(0, 5000).await.unwrap();
                assert!(audit.iter().any(|e| e.record.action == "payment.late_success" && e.record.target == format!("payment:{no}")));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
});

on_both!(receipts_verify_online_and_as_pdf, |app| {
    let c = http();
    let counter = app.staff_token(&c, "counter").await;
    let point = app.state.store.staff_by_username("counter").await.unwrap().unwrap().scope.code;
    let r = c.post(app.url("/api/v1/counter/payments")).bearer_auth(&counter).json(&json!({ "reference": "counter:receipt-1", "item": "renewal" })).send().await.unwrap();
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_string();
    let token = app.state.keys.receipt_token(&no);
    // Unpaid: no receipt yet.
    let r = c.get(app.url(&format!("/receipts/{no}/{token}"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    c.post(app.url(&format!("/api/v1/counter/payments/{no}/cash"))).bearer_auth(&counter).json(&json!({ "point": point, "received_fen": 2000 })).send().await.unwrap();

    let html = c.get(app.url(&format!("/receipts/{no}/{token}"))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("id=\"receipt-valid\"") && html.contains(&no) && html.contains("¥20.00") && html.contains("现金"), "{html}");
    let pdf = c.get(app.url(&format!("/receipts/{no}/{token}/pdf"))).send().await.unwrap();
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let bytes = pdf.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-1.4") && bytes.ends_with(b"%%EOF\n"));
    // A forged or altered token, or another order number with this token: not a receipt.
    for path in [format!("/receipts/{no}/{}", "0".repeat(24)), format!("/receipts/{no}/{}", &token[..10]), format!("/receipts/SFOTHER/{token}"), format!("/receipts/{no}/{}/pdf", "f".repeat(24))] {
        let r = c.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
});

/// The whole online route on a demo instance: the citizen pays through the Alipay sandbox's cashier, the sandbox's
/// signed notification marks the order paid (twice delivered, applied once), a lost notification is recovered by
/// the reconciliation query, a forged notification changes nothing, and the counter QR works the same way.
async fn pay_in_sandbox(app: &support::TestApp, c: &reqwest::Client, token: &str, reference: &str, behaviour: &str) -> String {
    let r = c.post(app.url("/api/v1/payments")).bearer_auth(token).json(&json!({ "reference": reference, "item": "renewal" })).send().await.unwrap();
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_string();
    let start: Value = c.post(app.url(&format!("/api/v1/payments/{no}/start"))).bearer_auth(token).json(&json!({ "channel": "alipay" })).send().await.unwrap().json().await.unwrap();
    assert_eq!(start["kind"], "redirect", "{start}");
    // The signed wap.pay request goes to the sandbox gateway, which sends the browser on to its cashier.
    let r = c.get(start["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let cashier = r.headers()["location"].to_str().unwrap().to_string();
    let cashier = if cashier.starts_with("http") { cashier } else { app.url(&cashier) };
    let r = c.post(&cashier).form(&[("decision", "approve"), ("behaviour", behaviour)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    no
}

async fn wait_status(app: &support::TestApp, no: &str, want: &str) -> bool {
    for _ in 0..100 {
        if app.state.store.order_by_no(no).await.unwrap().unwrap().status.as_str() == want {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

on_both!(online_payment_through_the_alipay_sandbox, |app| {
    let c = http();
    let token = app.citizen_token(&c, "13800000505").await;
    let no = pay_in_sandbox(&app, &c, &token, "application:S1", "twice").await;
    assert!(wait_status(&app, &no, "success").await, "the notification marked the order paid");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let audit = app.state.store.audit_entries(0, 5000).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.record.action == "payment.success" && e.record.target == format!("payment:{no}")).count(), 1, "delivered twice, applied once");
    let o: Value = c.get(app.url(&format!("/api/v1/payments/{no}"))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!((o["status"].as_str(), o["channel"].as_str()), (Some("success"), Some("alipay")));
    // Paying again is refused.
    let r = c.post(app.url(&format!("/api/v1/payments/{no}/start"))).bearer_auth(&token).json(&json!({ "channel": "alipay" })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let (s, code) = code_of(c.post(app.url(&format!("/api/v1/payments/{no}/start"))).bearer_auth(&token).json(&json!({ "channel": "cash" })).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "channel_unavailable"));

    // A forged notification (tampered amount, signature no longer matches) is refused and changes nothing.
    let forged = format!("notify_id=forged1&out_trade_no={no}&total_amount=0.01&trade_status=TRADE_SUCCESS&app_id=2021000000000001&sign_type=RSA2&sign=AAAA");
    let r = c.post(app.url("/callbacks/payments/alipay")).header("content-type", "application/x-www-form-urlencoded").body(forged).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "failure");
    let r = c.post(app.url("/callbacks/payments/nosuch")).body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A lost notification: the order stays submitted until the reconciliation job asks Alipay.
    let lost = pay_in_sandbox(&app, &c, &token, "application:S2", "lost").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.state.store.order_by_no(&lost).await.unwrap().unwrap().status.as_str(), "submitted");
    let alipay = app.state.payment_providers.as_ref().unwrap().alipay.clone();
    let r = shenfen_server::payments::flow::reconcile(&app.state, alipay.as_ref(), -1).await.unwrap();
    assert_eq!(r.paid, 1);
    assert_eq!(app.state.store.order_by_no(&lost).await.unwrap().unwrap().status.as_str(), "success");

    // A full refund (e.g. the application was rejected) is carried out by the refund job.
    let order = app.state.store.order_by_no(&lost).await.unwrap().unwrap();
    let actor = shenfen_server::app::Actor { kind: shenfen_store::ActorKind::System, id: "test".into(), ip: "-".into() };
    service::start_refund(&app.state, &order, 2000, "申请被驳回", &actor).await.unwrap();
    assert_eq!(shenfen_server::payments::flow::process_refunds(&app.state, alipay.as_ref()).await.unwrap(), 1);
    assert_eq!(app.state.store.refunds_of(&order.id).await.unwrap()[0].status, shenfen_store::RefundStatus::Success);
});

on_both!(counter_qr_payment_through_the_sandbox, |app| {
    let c = http();
    let counter = app.staff_token(&c, "counter").await;
    let point = app.state.store.staff_by_username("counter").await.unwrap().unwrap().scope.code;
    let r = c.post(app.url("/api/v1/counter/payments")).bearer_auth(&counter).json(&json!({ "reference": "counter:qr-1", "item": "temporary_card" })).send().await.unwrap();
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_string();
    let (s, code) = code_of(c.post(app.url(&format!("/api/v1/counter/payments/{no}/qr"))).bearer_auth(&counter).json(&json!({ "channel": "alipay", "point": point })).send().await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "channel_invalid"));
    let qr: Value = c.post(app.url(&format!("/api/v1/counter/payments/{no}/qr"))).bearer_auth(&counter).json(&json!({ "channel": "alipay_qr", "point": point })).send().await.unwrap().json().await.unwrap();
    assert_eq!(qr["kind"], "qr", "{qr}");
    // The applicant scans the QR (the sandbox's cashier) and pays.
    let scanned = qr["qr"].as_str().unwrap().to_string();
    let trade_no = scanned.rsplit('/').next().unwrap();
    let cashier = scanned.replace(&format!("/qr/{trade_no}"), &format!("/cashier/{trade_no}"));
    let r = c.post(&cashier).form(&[("decision", "approve"), ("behaviour", "normal")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(wait_status(&app, &no, "success").await);
    let o = app.state.store.order_by_no(&no).await.unwrap().unwrap();
    assert_eq!((o.channel.as_deref(), o.amount_fen), (Some("alipay_qr"), 1000));
});

on_both!(pay_page_sends_the_citizen_to_the_cashier_and_shows_the_receipt, |app| {
    // A browser-like client signed in with a cookie, and the same citizen's API token.
    let c = http();
    let html = c.get(app.url("/sign-in")).send().await.unwrap().text().await.unwrap();
    let csrf = support::csrf_of(&html);
    c.post(app.url("/sign-in/code")).form(&[("csrf", csrf.as_str()), ("phone", "13800000506"), ("next", "/")]).send().await.unwrap();
    let code = app.last_code("13800000506").await;
    let r = c.post(app.url("/sign-in")).form(&[("csrf", csrf.as_str()), ("phone", "13800000506"), ("code", code.as_str()), ("next", "/")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (token, _) = app.direct_citizen_session("13800000506").await;
    let r = c.post(app.url("/api/v1/payments")).bearer_auth(&token).json(&json!({ "reference": "application:P1", "item": "renewal" })).send().await.unwrap();
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_string();

    let page = c.get(app.url(&format!("/payments/{no}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"channel-alipay\"") && page.contains("id=\"channel-wechat\"") && !page.contains("id=\"receipt\""));
    let csrf = support::csrf_of(&page);
    // An unknown channel comes back with the error on the field.
    let r = c.post(app.url(&format!("/payments/{no}/pay"))).form(&[("csrf", csrf.as_str()), ("channel", "bitcoin")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("href=\"#channel\""));
    // WeChat Pay: the browser goes to the sandbox's H5 cashier.
    let r = c.post(app.url(&format!("/payments/{no}/pay"))).form(&[("csrf", csrf.as_str()), ("channel", "wechat")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cashier = r.headers()["location"].to_str().unwrap().to_string();
    assert!(cashier.contains("/sandbox/wechat/"), "{cashier}");
    let html = c.get(&cashier).send().await.unwrap().text().await.unwrap();
    let action = html.split("<form method=\"post\" action=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let action = if action.starts_with("http") { action } else { app.url(&action) };
    let r = c.post(&action).form(&[("decision", "approve"), ("behaviour", "normal")]).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(wait_status(&app, &no, "success").await);
    let page = c.get(app.url(&format!("/payments/{no}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"receipt\"") && page.contains("微信支付") && !page.contains("id=\"pay-form\""));
});

on_both!(counter_payment_screen_takes_cash_and_shows_a_qr, |app| {
    let (c, csrf) = support::staff_pages(&app, "counter").await;
    let page = c.get(app.url("/counter")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"counter-pay-link\""));
    let page = c.get(app.url("/counter/payments")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"counter-pay-create\""));
    let point = app.state.store.staff_by_username("counter").await.unwrap().unwrap().scope.code;
    let create = |item: &'static str| c.post(app.url("/counter/payments")).form(&[("csrf", csrf.as_str()), ("point", point.as_str()), ("item", item)]).send();
    let r = create("haircut").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Cash: a malformed amount comes back on its field; 50 yuan for a 40-yuan replacement gives 10 change.
    let r = create("replacement_lost").await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let no = to.split("order=").nth(1).unwrap().to_string();
    let take = |channel: &'static str, received: &'static str| {
        c.post(app.url(&format!("/counter/payments/{no}/take"))).form(&[("csrf", csrf.as_str()), ("point", point.as_str()), ("channel", channel), ("received", received)]).send()
    };
    for bad in ["abc", "-50", "50.001", ""] {
        let r = take("cash", bad).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(r.text().await.unwrap().contains("href=\"#received\""));
    }
    let r = take("cash", "30").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "not enough cash");
    let r = take("cash", "50").await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c.get(app.url(r.headers()["location"].to_str().unwrap())).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("¥10.00") && page.contains("id=\"counter-pay-receipt\""), "{page}");
    assert_eq!(app.state.store.order_by_no(&no).await.unwrap().unwrap().cash_received_fen, Some(5000));

    // QR: the screen shows a QR code and the order waits for the applicant.
    let r = create("renewal").await.unwrap();
    let no2 = r.headers()["location"].to_str().unwrap().split("order=").nth(1).unwrap().to_string();
    let r = c.post(app.url(&format!("/counter/payments/{no2}/take"))).form(&[("csrf", csrf.as_str()), ("point", point.as_str()), ("channel", "wechat_qr"), ("received", "")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("id=\"counter-pay-qr\""));
    assert_eq!(app.state.store.order_by_no(&no2).await.unwrap().unwrap().status.as_str(), "submitted");

    // Other roles cannot open the screen.
    let (reviewer, _) = support::staff_pages(&app, "reviewer").await;
    assert_eq!(reviewer.get(app.url("/counter/payments")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
});

/// UnionPay on a demo instance: the API hands back the signed front-consume form, the browser posts it to the
/// sandbox gateway, pays at the cashier; the signed notification (delivered twice) marks the order paid once; the
/// browser's return is sent on to the order page; a declined payment and a lost notification are settled by the
/// reconciliation query; a refund is accepted, then confirmed by UnionPay's refund notification.
async fn pay_with_unionpay(app: &support::TestApp, c: &reqwest::Client, token: &str, reference: &str, decision: &str, behaviour: &str) -> (String, String) {
    let r = c.post(app.url("/api/v1/payments")).bearer_auth(token).json(&json!({ "reference": reference, "item": "renewal" })).send().await.unwrap();
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_string();
    let start: Value = c.post(app.url(&format!("/api/v1/payments/{no}/start"))).bearer_auth(token).json(&json!({ "channel": "unionpay" })).send().await.unwrap().json().await.unwrap();
    assert_eq!(start["kind"], "form", "{start}");
    let fields: Vec<(String, String)> = start["form_fields"].as_array().unwrap().iter().map(|f| (f["name"].as_str().unwrap().to_string(), f["value"].as_str().unwrap().to_string())).collect();
    let r = c.post(start["url"].as_str().unwrap()).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cashier = r.headers()["location"].to_str().unwrap().to_string();
    let r = c.post(&cashier).form(&[("decision", decision), ("behaviour", behaviour)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    (no, r.text().await.unwrap())
}

on_both!(online_payment_through_the_unionpay_sandbox, |app| {
    let c = http();
    let token = app.citizen_token(&c, "13800000507").await;
    let (no, page) = pay_with_unionpay(&app, &c, &token, "application:U1", "approve", "twice").await;
    assert!(wait_status(&app, &no, "success").await, "the notification marked the order paid");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let audit = app.state.store.audit_entries(0, 5000).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.record.action == "payment.success" && e.record.target == format!("payment:{no}")).count(), 1, "delivered twice, applied once");
    let o = app.state.store.order_by_no(&no).await.unwrap().unwrap();
    assert_eq!((o.channel.as_deref(), o.provider_trade_no.as_ref().map(|q| q.len())), (Some("unionpay"), Some(21)));
    // The cashier returns the payer with a signed form to frontUrl, which only leads to the order page.
    let action = page.split("<form method=\"post\" action=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    assert!(action.ends_with(&format!("/callbacks/payments/unionpay/return/{no}")), "{action}");
    let r = c.post(&action).form(&[("respCode", "00"), ("orderId", no.as_str())]).send().await.unwrap();
    assert_eq!((r.status(), r.headers()["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, format!("/payments/{no}").as_str()));

    // A forged notification is refused in UnionPay's terms (not 200), and changes nothing.
    let forged = format!("merId=777290058110048&orderId={no}&txnAmt=1&txnType=01&respCode=00&queryId=1&txnTime=20261126000000&signMethod=01&signature=AAAA");
    let r = c.post(app.url("/callbacks/payments/unionpay")).header("content-type", "application/x-www-form-urlencoded").body(forged).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);

    // Declined: no notification; the reconciliation query finds the failed transaction.
    let (declined, _) = pay_with_unionpay(&app, &c, &token, "application:U2", "decline", "normal").await;
    // Lost: only the query reveals the payment.
    let (lost, _) = pay_with_unionpay(&app, &c, &token, "application:U3", "approve", "lost").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.state.store.order_by_no(&lost).await.unwrap().unwrap().status.as_str(), "submitted");
    let unionpay = app.state.payment_providers.as_ref().unwrap().unionpay.clone();
    let r = shenfen_server::payments::flow::reconcile(&app.state, unionpay.as_ref(), -1).await.unwrap();
    assert_eq!((r.paid, r.closed), (1, 1), "{r:?}");
    assert_eq!(app.state.store.order_by_no(&lost).await.unwrap().unwrap().status.as_str(), "success");
    assert_eq!(app.state.store.order_by_no(&declined).await.unwrap().unwrap().status.as_str(), "failed");

    // Refund of the order whose notices are lost: accepted; the refund job's retry is answered "duplicate" and the
    // query of the refund says it is done.
    let actor = shenfen_server::app::Actor { kind: shenfen_store::ActorKind::System, id: "test".into(), ip: "-".into() };
    let order = app.state.store.order_by_no(&lost).await.unwrap().unwrap();
    service::start_refund(&app.state, &order, 2000, "申请被驳回", &actor).await.unwrap();
    assert_eq!(shenfen_server::payments::flow::process_refunds(&app.state, unionpay.as_ref()).await.unwrap(), 0, "accepted, not yet done");
    assert_eq!(shenfen_server::payments::flow::process_refunds(&app.state, unionpay.as_ref()).await.unwrap(), 1, "the retry learns it is done");
    assert_eq!(app.state.store.refunds_of(&order.id).await.unwrap()[0].status, shenfen_store::RefundStatus::Success);
    // Refund of the first order: confirmed by UnionPay's refund notification (naming the order in reqReserved).
    let order = app.state.store.order_by_no(&no).await.unwrap().unwrap();
    service::start_refund(&app.state, &order, 2000, "申请被驳回", &actor).await.unwrap();
    assert_eq!(shenfen_server::payments::flow::process_refunds(&app.state, unionpay.as_ref()).await.unwrap(), 0);
    let mut done = false;
    for _ in 0..100 {
        if app.state.store.refunds_of(&order.id).await.unwrap()[0].status == shenfen_store::RefundStatus::Success {
            done = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(done, "the refund notification finished the refund");
});

on_both!(pay_page_offers_unionpay_and_hands_the_browser_the_signed_form, |app| {
    let c = http();
    let html = c.get(app.url("/sign-in")).send().await.unwrap().text().await.unwrap();
    let csrf = support::csrf_of(&html);
    c.post(app.url("/sign-in/code")).form(&[("csrf", csrf.as_str()), ("phone", "13800000508"), ("next", "/")]).send().await.unwrap();
    let code = app.last_code("13800000508").await;
    c.post(app.url("/sign-in")).form(&[("csrf", csrf.as_str()), ("phone", "13800000508"), ("code", code.as_str()), ("next", "/")]).send().await.unwrap();
    let (token, _) = app.direct_citizen_session("13800000508").await;
    let r = c.post(app.url("/api/v1/payments")).bearer_auth(&token).json(&json!({ "reference": "application:P2", "item": "renewal" })).send().await.unwrap();
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_string();
    let r = c.get(app.url(&format!("/payments/{no}"))).send().await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains(&format!("form-action 'self' {}", app.base)), "the provider sandboxes may be form targets: {csp}");
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"channel-unionpay\"") && page.contains("云闪付"), "{page}");
    let csrf = support::csrf_of(&page);
    let r = c.post(app.url(&format!("/payments/{no}/pay"))).form(&[("csrf", csrf.as_str()), ("channel", "unionpay")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"provider-form\"") && page.contains("/sandbox/unionpay/gateway/api/frontTransReq.do") && page.contains("name=\"signature\""), "{page}");
    assert!(page.contains("src=\"/static/pay.js\"") && !page.contains("<script>"), "no inline script under our CSP");
    let js = c.get(app.url("/static/pay.js")).send().await.unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert_eq!(app.state.store.order_by_no(&no).await.unwrap().unwrap().status.as_str(), "submitted");
});
