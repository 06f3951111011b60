//! The finance view and the daily reconciliation report on a demo instance (whose provider sandboxes serve the
//! statements of what they processed), on SQLite and PostgreSQL: statements agree with our records; each kind of
//! difference is found when a sandbox is told to misreport; one run per provider and day even when several ask at
//! once; the figures per channel, point and day; scope and role rules; CSV exports.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shenfen_server::payments::recon::{self, RunOutcome};
use support::http;

/// Pays a new renewal order (20 yuan) through a provider's sandbox cashier as a citizen's browser would.
async fn pay(app: &support::TestApp, c: &reqwest::Client, token: &str, reference: &str, channel: &str, behaviour: &str) -> String {
    let r = c.post(app.url("/api/v1/payments")).bearer_auth(token).json(&json!({ "reference": reference, "item": "renewal" })).send().await.unwrap();
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_string();
    let start: Value = c.post(app.url(&format!("/api/v1/payments/{no}/start"))).bearer_auth(token).json(&json!({ "channel": channel })).send().await.unwrap().json().await.unwrap();
    let url = start["url"].as_str().unwrap().to_string();
    let cashier = match start["kind"].as_str().unwrap() {
        "redirect" if channel == "alipay" => {
            let r = c.get(&url).send().await.unwrap();
            r.headers()["location"].to_str().unwrap().to_string()
        }
        "redirect" => url,
        "form" => {
            let fields: Vec<(String, String)> = start["form_fields"].as_array().unwrap().iter().map(|f| (f["name"].as_str().unwrap().to_string(), f["value"].as_str().unwrap().to_string())).collect();
            let r = c.post(&url).form(&fields).send().await.unwrap();
            r.headers()["location"].to_str().unwrap().to_string()
        }
        other => panic!("unexpected start {other}"),
    };
    let cashier = if cashier.starts_with("http") { cashier } else { app.url(&cashier) };
    let r = c.post(&cashier).form(&[("decision", "approve"), ("behaviour", behaviour)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    no
}

async fn wait_paid(app: &support::TestApp, no: &str) {
    for _ in 0..100 {
        if app.state.store.order_by_no(no).await.unwrap().unwrap().status == shenfen_store::PaymentStatus::Success {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("order {no} not paid");
}

fn today(app: &support::TestApp) -> time::Date {
    app.state.clock.today_cst()
}

fn provider(app: &support::TestApp, p: &str) -> std::sync::Arc<dyn shenfen_server::payments::provider::PaymentProvider> {
    app.state.payment_providers.as_ref().unwrap().get(shenfen_domain::payments::Provider::from_code(p).unwrap()).unwrap()
}

fn system() -> shenfen_server::app::Actor {
    shenfen_server::app::Actor { kind: shenfen_store::ActorKind::Staff, id: "finance-test".into(), ip: "-".into() }
}

async fn mismatches(app: &support::TestApp, p: &str) -> Vec<(String, String, String)> {
    let runs = app.state.store.reconciliation_runs(&shenfen_server::appointments::day_key(today(app))).await.unwrap();
    let run = runs.iter().find(|r| r.provider == p).expect("a run");
    assert_eq!(run.status, "done", "{run:?}");
    app.state.store.reconciliation_mismatches(&run.id).await.unwrap().into_iter().map(|m| (m.kind, m.entry, m.order_no)).collect()
}

on_both!(statements_agree_then_every_difference_is_reported, |app| {
    let c = http();
    let token = app.citizen_token(&c, "13800000601").await;
    let a1 = pay(&app, &c, &token, "application:F1", "alipay", "normal").await;
    let a2 = pay(&app, &c, &token, "application:F2", "alipay", "normal").await;
    let w1 = pay(&app, &c, &token, "application:F3", "wechat", "normal").await;
    let u1 = pay(&app, &c, &token, "application:F4", "unionpay", "normal").await;
    for no in [&a1, &a2, &w1, &u1] {
        wait_paid(&app, no).await;
    }
    // A refund of a2 through Alipay (answered synchronously).
    let order = app.state.store.order_by_no(&a2).await.unwrap().unwrap();
    shenfen_server::payments::service::start_refund(&app.state, &order, 2000, "申请被驳回", &system()).await.unwrap();
    assert_eq!(shenfen_server::payments::flow::process_refunds(&app.state, provider(&app, "alipay").as_ref()).await.unwrap(), 1);

    // Everything agrees.
    for p in ["alipay", "wechat", "unionpay"] {
        let out = recon::run_on_demand(&app.state, provider(&app, p).as_ref(), today(&app), &system()).await.unwrap();
        assert!(matches!(out, RunOutcome::Done { mismatches: 0, .. }), "{p}: {out:?} {:?}", mismatches(&app, p).await);
    }
    let runs = app.state.store.reconciliation_runs(&shenfen_server::appointments::day_key(today(&app))).await.unwrap();
    let alipay = runs.iter().find(|r| r.provider == "alipay").unwrap().totals.clone().unwrap();
    assert_eq!((alipay.provider_payments, alipay.provider_payment_fen, alipay.provider_refunds, alipay.provider_refund_fen), (2, 4000, 1, 2000));
    assert_eq!((alipay.our_payments, alipay.our_payment_fen, alipay.our_refunds, alipay.our_refund_fen), (2, 4000, 1, 2000));

    // Each sandbox misreports in its own way; each re-run says what is wrong.
    for (p, kind) in [("alipay", "amount_off"), ("wechat", "unknown"), ("unionpay", "drop_payment")] {
        let r = c.post(app.url(&format!("/sandbox/{p}/discrepancy"))).form(&[("kind", kind)]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        recon::run_on_demand(&app.state, provider(&app, p).as_ref(), today(&app), &system()).await.unwrap();
    }
    assert_eq!(mismatches(&app, "alipay").await, vec![("amount_differs".to_string(), "payment".to_string(), a1.clone())]);
    let w = mismatches(&app, "wechat").await;
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].0.as_str(), w[0].1.as_str()), ("missing_at_us", "payment"));
    assert!(w[0].2.starts_with("SFPHANTOM"));
    assert_eq!(mismatches(&app, "unionpay").await, vec![("missing_at_provider".to_string(), "payment".to_string(), u1.clone())]);

    // A payment whose notification was lost: the provider has it, we still wait (status differs) until the
    // order query job settles it; then the statement agrees again.
    c.post(app.url("/sandbox/wechat/discrepancy")).form(&[("kind", "none")]).send().await.unwrap();
    let lost = pay(&app, &c, &token, "application:F5", "wechat", "lost").await;
    recon::run_on_demand(&app.state, provider(&app, "wechat").as_ref(), today(&app), &system()).await.unwrap();
    let w = mismatches(&app, "wechat").await;
    assert_eq!(w, vec![("status_differs".to_string(), "payment".to_string(), lost.clone())]);
    shenfen_server::payments::flow::reconcile(&app.state, provider(&app, "wechat").as_ref(), -1).await.unwrap();
    recon::run_on_demand(&app.state, provider(&app, "wechat").as_ref(), today(&app), &system()).await.unwrap();
    assert!(mismatches(&app, "wechat").await.is_empty());

    // The API and the page show them; the CSV exports them.
    let admin = app.staff_token(&c, "admin").await;
    let runs: Vec<Value> = c.get(app.url("/api/v1/finance/reconciliations")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    let a = runs.iter().find(|r| r["provider"] == "alipay").unwrap();
    assert_eq!(a["mismatches"][0]["kind"], "amount_differs");
    assert_eq!((a["mismatches"][0]["our_fen"].as_i64(), a["mismatches"][0]["provider_fen"].as_i64()), (Some(2000), Some(2001)));
    let (pc, _) = support::staff_pages(&app, "admin").await;
    let page = pc.get(app.url("/finance")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"mismatches-alipay\"") && page.contains("class=\"mismatch-amount_differs\"") && page.contains(&a1), "{page}");
    assert!(page.contains("id=\"mismatches-unionpay\"") && page.contains("id=\"run-clean-wechat\""));
    let csv = pc.get(app.url("/finance/reconciliation.csv")).send().await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(csv.lines().any(|l| l.starts_with("alipay,") && l.contains(&a1) && l.contains("金额不一致") && l.contains("20.00,20.01")), "{csv}");
    let audit = app.state.store.audit_entries(0, 5000).await.unwrap();
    assert!(audit.iter().any(|e| e.record.action == "payment.reconcile" && e.record.target.starts_with("reconciliation:alipay:")));
});

on_both!(one_run_per_provider_and_day, |app| {
    let day = today(&app);
    let alipay = provider(&app, "alipay");
    // Three asking at once (the daily job on three instances): one fetches and compares, the others stand back.
    let (a, b, c) = tokio::join!(
        recon::run(&app.state, alipay.as_ref(), day, "job", false),
        recon::run(&app.state, alipay.as_ref(), day, "job", false),
        recon::run(&app.state, alipay.as_ref(), day, "job", false)
    );
    let outcomes = [a.unwrap(), b.unwrap(), c.unwrap()];
    assert_eq!(outcomes.iter().filter(|o| matches!(o, RunOutcome::Done { .. })).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == RunOutcome::Skipped).count(), 2);
    // Done: the job does not run it again, a person may.
    assert_eq!(recon::run(&app.state, alipay.as_ref(), day, "job", false).await.unwrap(), RunOutcome::Skipped);
    assert!(matches!(recon::run(&app.state, alipay.as_ref(), day, "staff", true).await.unwrap(), RunOutcome::Done { .. }));
    let runs = app.state.store.reconciliation_runs(&shenfen_server::appointments::day_key(day)).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].attempt, runs[0].requested_by.as_str()), (2, "staff"));
    // A future day cannot be reconciled.
    let e = recon::run_on_demand(&app.state, alipay.as_ref(), day + time::Duration::days(1), &system()).await.unwrap_err();
    assert_eq!(e.code, "day_invalid");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_per_provider_and_day_across_instances() {
    let Some(apps) = support::TestApp::postgres_cluster(3).await else { return };
    let day = apps[0].state.clock.today_cst();
    let runs = apps.iter().map(|a| {
        let state = a.state.clone();
        tokio::spawn(async move {
            let p = state.payment_providers.as_ref().unwrap().unionpay.clone();
            recon::run(&state, p.as_ref(), day, "job", false).await.unwrap()
        })
    });
    let mut done = 0;
    for r in runs.collect::<Vec<_>>() {
        if matches!(r.await.unwrap(), RunOutcome::Done { .. }) {
            done += 1;
        }
    }
    assert_eq!(done, 1);
}

/// A staff member created for the test, signed in through the API.
async fn staff(app: &support::TestApp, c: &reqwest::Client, username: &str, role: shenfen_store::Role, kind: shenfen_store::ScopeKind, code: &str) -> String {
    let hash = shenfen_server::accounts::hash_password("finance-test-pass").unwrap();
    app.state
        .store
        .insert_staff(&shenfen_store::Staff {
            id: shenfen_store::new_id(),
            username: username.into(),
            password_hash: hash,
            display_name: username.into(),
            role,
            scope: shenfen_store::Scope { kind, code: code.into() },
            active: true,
            created_at: app.state.now_ms(),
        })
        .await
        .unwrap();
    let r = c.post(app.url("/api/v1/auth/staff-sessions")).json(&json!({ "username": username, "password": "finance-test-pass" })).send().await.unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

on_both!(finance_figures_scope_and_exports, |app| {
    let c = http();
    let token = app.citizen_token(&c, "13800000602").await;
    let online = pay(&app, &c, &token, "application:G1", "unionpay", "normal").await;
    wait_paid(&app, &online).await;
    // At the counter: one cash payment and one WeChat QR payment at the counter's point.
    let counter = app.staff_token(&c, "counter").await;
    let point = app.state.store.staff_by_username("counter").await.unwrap().unwrap().scope.code;
    let new_counter_order = |reference: &'static str| {
        let (c, counter) = (c.clone(), counter.clone());
        let url = app.url("/api/v1/counter/payments");
        async move { c.post(url).bearer_auth(counter).json(&json!({ "reference": reference, "item": "temporary_card" })).send().await.unwrap().json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_string() }
    };
    let cash = new_counter_order("counter:G2").await;
    c.post(app.url(&format!("/api/v1/counter/payments/{cash}/cash"))).bearer_auth(&counter).json(&json!({ "point": point, "received_fen": 1000 })).send().await.unwrap();
    let qr_no = new_counter_order("counter:G3").await;
    let qr: Value = c.post(app.url(&format!("/api/v1/counter/payments/{qr_no}/qr"))).bearer_auth(&counter).json(&json!({ "channel": "wechat_qr", "point": point })).send().await.unwrap().json().await.unwrap();
    let cashier = qr["qr"].as_str().unwrap().replace("/qr/", "/cashier/");
    c.post(&cashier).form(&[("decision", "approve"), ("behaviour", "normal")]).send().await.unwrap();
    wait_paid(&app, &qr_no).await;
    let o = app.state.store.order_by_no(&qr_no).await.unwrap().unwrap();
    assert_eq!(o.point_id.as_deref(), Some(point.as_str()), "a counter QR payment counts at its point");

    // Province administrator: everything.
    let admin = app.staff_token(&c, "admin").await;
    let r: Value = c.get(app.url("/api/v1/finance/report")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["total_fen"], 2000 + 1000 + 1000);
    let channels: Vec<(&str, i64)> = r["channels"].as_array().unwrap().iter().map(|c| (c["channel"].as_str().unwrap(), c["count"].as_i64().unwrap())).collect();
    assert_eq!(channels, vec![("unionpay", 1), ("wechat_qr", 1), ("cash", 1)]);
    assert_eq!(r["smart_share_permille"], 667);
    let points = r["points"].as_array().unwrap();
    let at_point = points.iter().find(|p| p["key"] == point.as_str()).unwrap();
    assert_eq!((at_point["smart"].as_i64(), at_point["total"].as_i64(), at_point["smart_share_permille"].as_i64()), (Some(1), Some(2), Some(500)));
    let online_line = points.iter().find(|p| p["key"].is_null()).unwrap();
    assert_eq!((online_line["total"].as_i64(), online_line["label"].as_str()), (Some(1), Some("线上缴费")));
    let days = r["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert_eq!(days[6]["total"], 3);
    assert_eq!(days[0]["total"], 0);
    let totals: Value = c.get(app.url("/api/v1/finance/totals")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!((totals["total_fen"].as_i64(), totals["smart_share_permille"].as_i64()), (Some(4000), Some(667)));

    // A point-scoped administrator: that point's counter collection only, no provider reconciliation.
    let point_admin = staff(&app, &c, "finance.point", shenfen_store::Role::Admin, shenfen_store::ScopeKind::Point, &point).await;
    let r: Value = c.get(app.url("/api/v1/finance/report")).bearer_auth(&point_admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["total_fen"], 2000);
    assert_eq!(r["points"].as_array().unwrap().len(), 1);
    assert!(r["reconciliation"].as_array().unwrap().is_empty());
    assert_eq!(c.get(app.url("/api/v1/finance/reconciliations")).bearer_auth(&point_admin).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let r = c.post(app.url("/api/v1/finance/reconciliations")).bearer_auth(&point_admin).json(&json!({ "provider": "alipay", "day": "2026-01-01" })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let other = app.state.store.list_points().await.unwrap().into_iter().find(|p| p.id != point).unwrap();
    let r = c.get(app.url(&format!("/api/v1/finance/report?point={}", other.id))).bearer_auth(&point_admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Other roles: none of it.
    for url in ["/api/v1/finance/report", "/api/v1/finance/totals", "/api/v1/finance/reconciliations"] {
        assert_eq!(c.get(app.url(url)).bearer_auth(&counter).send().await.unwrap().status(), StatusCode::FORBIDDEN, "{url}");
    }
    // Bad input.
    for (body, code) in [
        (json!({ "provider": "paypal", "day": "2026-01-01" }), "provider_invalid"),
        (json!({ "provider": "alipay", "day": "01/01/2026" }), "day_invalid"),
        (json!({ "provider": "alipay", "day": "2099-01-01" }), "day_invalid"),
    ] {
        let r = c.post(app.url("/api/v1/finance/reconciliations")).bearer_auth(&admin).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], code);
    }
    let r = c.post(app.url("/api/v1/finance/reconciliations")).bearer_auth(&admin).json(&json!({ "provider": "unionpay", "day": shenfen_server::appointments::day_key(today(&app)) })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let run: Value = r.json().await.unwrap();
    assert_eq!((run["status"].as_str(), run["totals"]["provider_payments"].as_i64(), run["mismatches"].as_array().map(Vec::len)), (Some("done"), Some(1), Some(0)));

    // The page: linked from the workbench, figures, the reconciliation form; CSV of the day's payments.
    let (pc, csrf) = support::staff_pages(&app, "admin").await;
    assert!(pc.get(app.url("/staff")).send().await.unwrap().text().await.unwrap().contains("id=\"go-finance\""));
    let page = pc.get(app.url("/finance")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"finance-total\">¥40.00") && page.contains("id=\"finance-share\">66.7%") && page.contains("id=\"reconcile-wechat\""), "{page}");
    assert!(page.contains("id=\"run-clean-unionpay\""));
    let r = pc.post(app.url("/finance/reconcile")).form(&[("csrf", csrf.as_str()), ("provider", "wechat"), ("day", &shenfen_server::appointments::day_key(today(&app)))]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = pc.get(app.url(r.headers()["location"].to_str().unwrap())).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"finance-notice\"") && page.contains("id=\"run-clean-wechat\""), "{page}");
    let csv = pc.get(app.url("/finance/payments.csv")).send().await.unwrap().text().await.unwrap();
    assert!(csv.starts_with('\u{feff}'));
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.contains(&online) && csv.contains(&cash) && csv.contains("线上缴费") && csv.contains("现金"));
    let r = pc.get(app.url("/finance?day=someday")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (cc, _) = support::staff_pages(&app, "counter").await;
    assert!(!cc.get(app.url("/staff")).send().await.unwrap().text().await.unwrap().contains("id=\"go-finance\""));
    assert_eq!(cc.get(app.url("/finance")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(http().get(app.url("/finance")).send().await.unwrap().status(), StatusCode::SEE_OTHER);
});
