//! Provider adapters against their sandboxes, each on its own loopback port, with a small receiver standing in
//! for our notification endpoint.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use shenfen_domain::payments::PaymentChannel;
use shenfen_gateways::{RsaPrivateKey, RsaPublicKey};
use shenfen_server::payments::provider::{NoticeOutcome, PaymentProvider, ProviderError, QueryOutcome, RefundOutcome, StartRequest, Started};
use shenfen_server::payments::providers::alipay::AlipayProvider;
use shenfen_server::payments::providers::demo_keys;
use shenfen_server::payments::sandbox::alipay::{AlipaySandbox, router as alipay_router};
use time::OffsetDateTime;
use tokio::sync::mpsc;

const APP_ID: &str = "2021000000000001";

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

type Notice = (HeaderMap, Vec<u8>);

/// Our notification endpoint: records what arrives, answers like we would.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Notice>) {
    let (tx, rx) = mpsc::unbounded_channel::<Notice>();
    let app = Router::new()
        .route(
            "/notify",
            post(|State(tx): State<mpsc::UnboundedSender<Notice>>, headers: HeaderMap, body: Bytes| async move {
                let _ = tx.send((headers, body.to_vec()));
                "success"
            }),
        )
        .with_state(tx);
    (format!("{}/notify", serve(app).await), rx)
}

async fn next_notice(rx: &mut mpsc::UnboundedReceiver<Notice>) -> Notice {
    tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a notification within 5 s").expect("channel open")
}

async fn no_notice(rx: &mut mpsc::UnboundedReceiver<Notice>, wait: Duration) {
    assert!(tokio::time::timeout(wait, rx.recv()).await.is_err(), "no notification expected");
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

struct AlipayRig {
    base: String,
    provider: AlipayProvider,
    notify_url: String,
    rx: mpsc::UnboundedReceiver<Notice>,
}

async fn alipay_rig() -> AlipayRig {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sandbox = AlipaySandbox::new(
        APP_ID,
        RsaPublicKey::from_spki_pem(demo_keys::MERCHANT_PUB).unwrap(),
        RsaPrivateKey::from_pem(demo_keys::PLATFORM_KEY).unwrap(),
        &format!("{base}/sandbox/alipay"),
    )
    .with_late_delay(Duration::from_millis(300));
    let app: Router = alipay_router(sandbox);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let provider = AlipayProvider::new(
        &format!("{base}/sandbox/alipay/gateway.do"),
        APP_ID,
        RsaPrivateKey::from_pem(demo_keys::MERCHANT_KEY).unwrap(),
        RsaPublicKey::from_spki_pem(demo_keys::PLATFORM_PUB).unwrap(),
    );
    let (notify_url, rx) = receiver().await;
    AlipayRig { base, provider, notify_url, rx }
}

fn start_request(order_no: &str, channel: PaymentChannel, notify_url: &str) -> StartRequest {
    StartRequest {
        order_no: order_no.into(),
        amount_fen: 2000,
        description: "居民身份证换领工本费".into(),
        channel,
        return_url: "http://127.0.0.1:1/pay/return".into(),
        notify_url: notify_url.into(),
        client_ip: "127.0.0.1".into(),
        expires_at: OffsetDateTime::now_utc() + time::Duration::hours(48),
    }
}

/// Opens the cashier for a started order and returns the cashier URL (after the gateway's redirect).
async fn alipay_cashier(started: &Started) -> String {
    match started {
        Started::Redirect(url) => {
            let r = browser().get(url).send().await.unwrap();
            assert_eq!(r.status(), 302, "the gateway accepts our signed wap.pay and sends the browser to the cashier");
            r.headers()["location"].to_str().unwrap().to_string()
        }
        Started::Qr(payload) => payload.clone(),
        other => panic!("unexpected start {other:?}"),
    }
}

async fn decide(cashier: &str, decision: &str, behaviour: &str) {
    // The scan endpoint and the cashier page show the order; the decision posts to the cashier URL.
    let page = browser().get(cashier).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("¥20.00") && html.contains("支付") && html.contains("取消"), "{html}");
    assert!(!html.contains("style="), "no inline CSS under our CSP");
    let action = html.split("action=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_string();
    let r = browser().post(&action).form(&[("decision", decision), ("behaviour", behaviour)]).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn alipay_wap_pay_notify_verifies_and_tampering_is_rejected() {
    let mut rig = alipay_rig().await;
    let started = rig.provider.start(&start_request("SF20250101000001", PaymentChannel::Alipay, &rig.notify_url)).await.unwrap();
    let Started::Redirect(url) = &started else { panic!("wap.pay is a redirect") };
    assert!(url.contains("method=alipay.trade.wap.pay") && url.contains("sign="));
    let cashier = alipay_cashier(&started).await;
    let page = browser().get(&cashier).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("SF20250101000001"));
    assert!(matches!(rig.provider.query("SF20250101000001").await.unwrap(), QueryOutcome::NotPaid));
    decide(&cashier, "approve", "normal").await;

    let (headers, body) = next_notice(&mut rig.rx).await;
    let n = rig.provider.verify_notice(&headers, &body, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(n.order_no, "SF20250101000001");
    assert_eq!(n.amount_fen, 2000);
    assert_eq!(n.merchant_id, APP_ID);
    assert!(matches!(n.outcome, NoticeOutcome::Paid { .. }));
    assert!(!n.event_id.is_empty());
    assert_eq!(rig.provider.acknowledge(true).1, "success");
    assert_eq!(rig.provider.acknowledge(false).1, "failure");

    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("total_amount=20.00"));
    let tampered = text.replace("total_amount=20.00", "total_amount=0.01");
    let err = rig.provider.verify_notice(&headers, tampered.as_bytes(), OffsetDateTime::now_utc()).unwrap_err();
    assert!(matches!(err, ProviderError::Verification(_)), "{err:?}");

    let q = rig.provider.query("SF20250101000001").await.unwrap();
    assert!(matches!(q, QueryOutcome::Paid { amount_fen: 2000, .. }), "{q:?}");
}

#[tokio::test]
async fn alipay_precreate_qr_twice_gives_identical_notices() {
    let mut rig = alipay_rig().await;
    let started = rig.provider.start(&start_request("SF20250101000002", PaymentChannel::AlipayQr, &rig.notify_url)).await.unwrap();
    let Started::Qr(payload) = &started else { panic!("precreate is a QR") };
    assert!(payload.starts_with(&rig.base), "the QR payload opens the sandbox's scan endpoint");
    decide(payload, "approve", "twice").await;
    let (h1, b1) = next_notice(&mut rig.rx).await;
    let (h2, b2) = next_notice(&mut rig.rx).await;
    assert_eq!(b1, b2);
    let n1 = rig.provider.verify_notice(&h1, &b1, OffsetDateTime::now_utc()).unwrap();
    let n2 = rig.provider.verify_notice(&h2, &b2, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(n1.event_id, n2.event_id);
    assert!(matches!(n1.outcome, NoticeOutcome::Paid { .. }));
}

#[tokio::test]
async fn alipay_lost_and_late_notices() {
    let mut rig = alipay_rig().await;
    let started = rig.provider.start(&start_request("SF20250101000003", PaymentChannel::Alipay, &rig.notify_url)).await.unwrap();
    decide(&alipay_cashier(&started).await, "approve", "lost").await;
    no_notice(&mut rig.rx, Duration::from_millis(800)).await;
    assert!(matches!(rig.provider.query("SF20250101000003").await.unwrap(), QueryOutcome::Paid { amount_fen: 2000, .. }));

    let started = rig.provider.start(&start_request("SF20250101000004", PaymentChannel::Alipay, &rig.notify_url)).await.unwrap();
    decide(&alipay_cashier(&started).await, "approve", "late").await;
    no_notice(&mut rig.rx, Duration::from_millis(100)).await;
    let (h, b) = next_notice(&mut rig.rx).await;
    assert_eq!(rig.provider.verify_notice(&h, &b, OffsetDateTime::now_utc()).unwrap().order_no, "SF20250101000004");
}

#[tokio::test]
async fn alipay_decline_close_and_unknown_order() {
    let mut rig = alipay_rig().await;
    let started = rig.provider.start(&start_request("SF20250101000005", PaymentChannel::Alipay, &rig.notify_url)).await.unwrap();
    decide(&alipay_cashier(&started).await, "decline", "normal").await;
    let (h, b) = next_notice(&mut rig.rx).await;
    let n = rig.provider.verify_notice(&h, &b, OffsetDateTime::now_utc()).unwrap();
    assert!(matches!(n.outcome, NoticeOutcome::Failed { .. }), "{n:?}");
    assert_eq!(rig.provider.query("SF20250101000005").await.unwrap(), QueryOutcome::Closed);

    rig.provider.start(&start_request("SF20250101000006", PaymentChannel::AlipayQr, &rig.notify_url)).await.unwrap();
    rig.provider.close("SF20250101000006").await.unwrap();
    assert_eq!(rig.provider.query("SF20250101000006").await.unwrap(), QueryOutcome::Closed);
    assert_eq!(rig.provider.query("SF20259999999999").await.unwrap(), QueryOutcome::NotFound);
}

#[tokio::test]
async fn alipay_refund_within_paid_and_statement() {
    let mut rig = alipay_rig().await;
    let started = rig.provider.start(&start_request("SF20250101000007", PaymentChannel::Alipay, &rig.notify_url)).await.unwrap();
    decide(&alipay_cashier(&started).await, "approve", "normal").await;
    next_notice(&mut rig.rx).await;

    let r = rig.provider.refund("SF20250101000007", "RF1", 1500, 2000, "申请被驳回").await.unwrap();
    assert!(matches!(r, RefundOutcome::Succeeded { .. }), "{r:?}");
    // Repeating the same refund moves no money and is not refused.
    assert!(matches!(rig.provider.refund("SF20250101000007", "RF1", 1500, 2000, "").await.unwrap(), RefundOutcome::Succeeded { .. }));
    // 15.00 + 10.00 > 20.00: the sandbox refuses, as Alipay does.
    let over = rig.provider.refund("SF20250101000007", "RF2", 1000, 2000, "").await.unwrap();
    assert_eq!(over, RefundOutcome::Failed { code: "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL".into() });
    assert!(matches!(rig.provider.refund("SF20250101000007", "RF3", 500, 2000, "").await.unwrap(), RefundOutcome::Succeeded { .. }));

    let beijing = time::UtcOffset::from_hms(8, 0, 0).unwrap();
    let today = OffsetDateTime::now_utc().to_offset(beijing).date();
    let date = format!("{:04}-{:02}-{:02}", today.year(), u8::from(today.month()), today.day());
    let bill = browser().get(format!("{}/sandbox/alipay/bill?date={date}", rig.base)).send().await.unwrap().text().await.unwrap();
    let pay_row = bill.lines().find(|l| l.contains(",SF20250101000007,交易,")).expect("the paid order is in the statement");
    assert!(pay_row.contains(",20.00,20.00,"), "{pay_row}");
    assert_eq!(bill.lines().filter(|l| l.contains(",SF20250101000007,退款,")).count(), 2, "{bill}");
    assert!(bill.contains("#交易合计：1笔"));
}

#[tokio::test]
async fn alipay_sandbox_rejects_a_request_signed_with_the_wrong_key() {
    let rig = alipay_rig().await;
    let wrong = AlipayProvider::new(
        &format!("{}/sandbox/alipay/gateway.do", rig.base),
        APP_ID,
        RsaPrivateKey::from_pem(demo_keys::UNIONPAY_MERCHANT_KEY).unwrap(),
        RsaPublicKey::from_spki_pem(demo_keys::PLATFORM_PUB).unwrap(),
    );
    match wrong.query("SF20250101000008").await {
        Err(ProviderError::Refused { code, .. }) => assert_eq!(code, "isv.invalid-signature"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // And a response not signed by "Alipay" is not believed: an adapter holding the wrong Alipay key fails.
    let distrustful = AlipayProvider::new(
        &format!("{}/sandbox/alipay/gateway.do", rig.base),
        APP_ID,
        RsaPrivateKey::from_pem(demo_keys::MERCHANT_KEY).unwrap(),
        RsaPublicKey::from_spki_pem(demo_keys::MERCHANT_PUB).unwrap(),
    );
    assert!(matches!(distrustful.query("SF20250101000008").await, Err(ProviderError::Verification(_))));
}
