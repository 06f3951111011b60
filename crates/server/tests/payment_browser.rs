//! Browser test (real Chromium) of paying the card fee online on a demo instance with each provider's sandbox —
//! Alipay (signed wap.pay redirect), WeChat Pay (H5 cashier), UnionPay QuickPass (the signed front-consume form
//! the page submits by itself) — then opening the electronic receipt and its public check page. Harness:
//! `tests/support/browser.rs`.

mod support;
#[path = "support/browser.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::Browser;
use shenfen_server::app::Clock;
use support::{Db, TestApp};

async fn app() -> TestApp {
    TestApp::start_with(Db::Sqlite, Clock::default(), |_| {}).await.expect("app")
}

/// Waits until the browser is on a page whose path contains `part` (redirects and self-submitting forms).
async fn wait_for_path(b: &Browser, part: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let path = b.path().await;
        if path.contains(part) && b.exists("body").await {
            return;
        }
        assert!(Instant::now() < deadline, "never reached a page under {part:?} (at {path})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn pay_with(b: &Browser, citizen_id: &str, channel: &str, reference: &str) -> String {
    let (order, _) = shenfen_server::payments::service::create_order(
        &b.app.state,
        Some(citizen_id),
        citizen_id,
        &shenfen_server::payments::service::NewOrder { reference: reference.into(), item: "renewal".into() },
        None,
    )
    .await
    .expect("order");
    let no = order.order_no;
    b.goto(&format!("/payments/{no}")).await;
    assert_eq!(b.text("#pay-status").await, "待支付");
    b.css(&format!("#channel-{channel}")).await.click().await.expect("choose the channel");
    b.click_and_load("#pay-submit").await;
    // Alipay and WeChat: a redirect; UnionPay: our page posts the signed form by itself (static/pay.js).
    wait_for_path(b, "/cashier/").await;
    assert!(b.text("main").await.contains("¥20.00"), "the cashier shows the amount");
    b.click_and_load("button[value=approve]").await;
    assert!(b.text("main").await.contains("支付成功"));
    if channel == "unionpay" {
        // UnionPay returns the payer with a signed form to our frontUrl, which leads to the order page.
        b.click_and_load("#sandbox-return").await;
        wait_for_path(b, &format!("/payments/{no}")).await;
    }
    // The page shows our own record: wait for the provider's notification.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        b.goto(&format!("/payments/{no}")).await;
        if b.exists("#receipt").await {
            break;
        }
        assert!(Instant::now() < deadline, "order {no} was not paid");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    no
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_the_fee_with_each_provider_and_open_the_receipt() {
    let Some(b) = Browser::start_with(app).await else { return };
    let phone = "13800138501";
    b.sign_in(phone).await;
    let citizen = b.app.state.store.citizen_for_phone(phone, b.app.state.now_ms()).await.unwrap();
    for (i, (channel, name)) in [("alipay", "支付宝"), ("wechat", "微信支付"), ("unionpay", "云闪付")].into_iter().enumerate() {
        let no = pay_with(&b, &citizen.id, channel, &format!("application:B{i}")).await;
        assert_eq!(b.text("#pay-status").await, "支付成功");
        assert_eq!(b.text("#receipt-channel").await, name);
        assert!(!b.exists("#pay-form").await, "a paid order offers no payment");
        b.screenshot(&format!("payment-receipt-{channel}")).await;
        b.assert_no_horizontal_overflow(&format!("receipt ({channel})")).await;
        // The receipt's check page (what its QR code opens), for anyone.
        b.click_and_load("#receipt-verify").await;
        assert!(b.exists("#receipt-valid").await);
        assert!(b.text("main").await.contains(&no));
        let o = b.app.state.store.order_by_no(&no).await.unwrap().unwrap();
        assert_eq!((o.status.as_str(), o.channel.as_deref()), ("success", Some(channel)));
    }
    b.finish().await;
}
