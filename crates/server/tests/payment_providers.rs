//! Provider adapters against their sandboxes, each on its own loopback port, with a small receiver standing in
//! for our notification endpoint.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use shenfen_domain::payments::PaymentChannel;
use shenfen_gateways::wechatpay::PlatformKeys;
use shenfen_gateways::{Certificate, RsaPrivateKey, RsaPublicKey};
use shenfen_gateways::statements::EntryKind;
use shenfen_server::payments::provider::{NoticeOutcome, OrderRef, PaymentProvider, ProviderError, QueryOutcome, RefundOrder, RefundOutcome, StartRequest, Started};
use shenfen_server::payments::providers::alipay::AlipayProvider;
use shenfen_server::payments::providers::demo_keys;
use shenfen_server::payments::providers::wechat::WechatProvider;
use shenfen_server::payments::sandbox::alipay::{AlipaySandbox, router as alipay_router};
use shenfen_gateways::unionpay::UnionPayTrust;
use shenfen_server::payments::providers::unionpay::UnionpayProvider;
use shenfen_server::payments::sandbox::Discrepancy;
use shenfen_server::payments::sandbox::unionpay::{UnionpaySandbox, router as unionpay_router};
use shenfen_server::payments::sandbox::wechat::{WechatSandbox, router as wechat_router};
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
    let record = post(|State(tx): State<mpsc::UnboundedSender<Notice>>, headers: HeaderMap, body: Bytes| async move {
        let _ = tx.send((headers, body.to_vec()));
        "success"
    });
    // `/callbacks/payments/unionpay` too: the UnionPay adapter names it as backUrl of refunds.
    let app = Router::new().route("/notify", record.clone()).route("/callbacks/payments/unionpay", record).with_state(tx);
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
        opened_at: OffsetDateTime::now_utc().replace_nanosecond(0).unwrap(),
    }
}

/// An order of 20 yuan known by number, as the reconciliation job hands it to an adapter.
fn oref(order_no: &str) -> OrderRef {
    OrderRef::new(order_no, 2000)
}

fn refund_of(refund_no: &str, amount_fen: i64, reason: &str) -> RefundOrder {
    RefundOrder { refund_no: refund_no.into(), amount_fen, reason: reason.into(), requested_at: OffsetDateTime::now_utc() }
}

fn today() -> time::Date {
    OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap()).date()
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
    assert!(matches!(rig.provider.query(&oref("SF20250101000001")).await.unwrap(), QueryOutcome::NotPaid));
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

    let q = rig.provider.query(&oref("SF20250101000001")).await.unwrap();
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
    assert!(matches!(rig.provider.query(&oref("SF20250101000003")).await.unwrap(), QueryOutcome::Paid { amount_fen: 2000, .. }));

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
    assert_eq!(rig.provider.query(&oref("SF20250101000005")).await.unwrap(), QueryOutcome::Closed);

    rig.provider.start(&start_request("SF20250101000006", PaymentChannel::AlipayQr, &rig.notify_url)).await.unwrap();
    rig.provider.close(&oref("SF20250101000006")).await.unwrap();
    assert_eq!(rig.provider.query(&oref("SF20250101000006")).await.unwrap(), QueryOutcome::Closed);
    assert_eq!(rig.provider.query(&oref("SF20259999999999")).await.unwrap(), QueryOutcome::NotFound);
}

#[tokio::test]
async fn alipay_refund_within_paid_and_statement() {
    let mut rig = alipay_rig().await;
    let started = rig.provider.start(&start_request("SF20250101000007", PaymentChannel::Alipay, &rig.notify_url)).await.unwrap();
    decide(&alipay_cashier(&started).await, "approve", "normal").await;
    next_notice(&mut rig.rx).await;

    let r = rig.provider.refund(&oref("SF20250101000007"), &refund_of("RF1", 1500, "申请被驳回")).await.unwrap();
    assert!(matches!(r, RefundOutcome::Succeeded { .. }), "{r:?}");
    // Repeating the same refund moves no money and is not refused.
    assert!(matches!(rig.provider.refund(&oref("SF20250101000007"), &refund_of("RF1", 1500, "")).await.unwrap(), RefundOutcome::Succeeded { .. }));
    // 15.00 + 10.00 > 20.00: the sandbox refuses, as Alipay does.
    let over = rig.provider.refund(&oref("SF20250101000007"), &refund_of("RF2", 1000, "")).await.unwrap();
    assert_eq!(over, RefundOutcome::Failed { code: "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL".into() });
    assert!(matches!(rig.provider.refund(&oref("SF20250101000007"), &refund_of("RF3", 500, "")).await.unwrap(), RefundOutcome::Succeeded { .. }));

    // The day's bill, through alipay.data.dataservice.bill.downloadurl.query and the zip of GBK CSV it names.
    let st = rig.provider.statement(today()).await.unwrap();
    let pays: Vec<_> = st.payments().filter(|e| e.order_no == "SF20250101000007").collect();
    assert_eq!(pays.len(), 1, "{st:?}");
    assert_eq!(pays[0].amount_fen, 2000);
    let refunds: Vec<_> = st.refunds().filter(|e| e.order_no == "SF20250101000007").collect();
    assert_eq!(refunds.iter().map(|r| (r.refund_no.clone().unwrap(), r.amount_fen)).collect::<Vec<_>>(), vec![("RF1".to_string(), 1500), ("RF3".to_string(), 500)]);
    // A day without business has no bill: an empty statement, not an error.
    assert!(rig.provider.statement(today() - time::Duration::days(30)).await.unwrap().entries.is_empty());
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
    match wrong.query(&oref("SF20250101000008")).await {
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
    assert!(matches!(distrustful.query(&oref("SF20250101000008")).await, Err(ProviderError::Verification(_))));
}

// ---------------------------------------------------------------------------------------------------------------
// WeChat Pay API v3.

const MCHID: &str = "1900000001";
const WX_APPID: &str = "wx00000000000demo1";
const WX_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

struct WechatRig {
    base: String,
    provider: WechatProvider,
    notify_url: String,
    rx: mpsc::UnboundedReceiver<Notice>,
}

fn platform_serial() -> String {
    Certificate::from_pem(demo_keys::PLATFORM_CERT).unwrap().serial_hex_upper()
}

fn wechat_provider(base: &str, merchant_key: &str, platform_pub: &str) -> WechatProvider {
    let mut keys = PlatformKeys::new();
    keys.insert(platform_serial(), RsaPublicKey::from_spki_pem(platform_pub).unwrap());
    WechatProvider::new(
        &format!("{base}/sandbox/wechat"),
        MCHID,
        WX_APPID,
        WX_SERIAL,
        RsaPrivateKey::from_pem(merchant_key).unwrap(),
        keys,
        demo_keys::WECHAT_APIV3_KEY.as_bytes(),
    )
}

async fn wechat_rig() -> WechatRig {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sandbox = WechatSandbox::new(
        MCHID,
        RsaPublicKey::from_spki_pem(demo_keys::MERCHANT_PUB).unwrap(),
        RsaPrivateKey::from_pem(demo_keys::PLATFORM_KEY).unwrap(),
        &platform_serial(),
        demo_keys::WECHAT_APIV3_KEY.as_bytes(),
        &format!("{base}/sandbox/wechat"),
    )
    .with_late_delay(Duration::from_millis(300));
    let app: Router = wechat_router(sandbox);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // The adapter trusts the platform certificate, as configured in demo mode.
    let mut keys = PlatformKeys::new();
    keys.add_certificate_pem(demo_keys::PLATFORM_CERT).unwrap();
    let provider = WechatProvider::new(
        &format!("{base}/sandbox/wechat"),
        MCHID,
        WX_APPID,
        WX_SERIAL,
        RsaPrivateKey::from_pem(demo_keys::MERCHANT_KEY).unwrap(),
        keys,
        demo_keys::WECHAT_APIV3_KEY.as_bytes(),
    );
    let (notify_url, rx) = receiver().await;
    WechatRig { base, provider, notify_url, rx }
}

/// The H5 `h5_url` is the cashier; the Native `code_url` is what scanning opens.
fn wechat_cashier(started: &Started) -> String {
    match started {
        Started::Redirect(url) | Started::Qr(url) => url.clone(),
        other => panic!("unexpected start {other:?}"),
    }
}

#[tokio::test]
async fn wechat_h5_callback_verifies_and_decrypts_tampering_and_stale_are_rejected() {
    let mut rig = wechat_rig().await;
    let started = rig.provider.start(&start_request("SF20250201000001", PaymentChannel::Wechat, &rig.notify_url)).await.unwrap();
    let Started::Redirect(url) = &started else { panic!("H5 is a redirect") };
    assert!(url.starts_with(&format!("{}/sandbox/wechat/cashier/", rig.base)), "{url}");
    let page = browser().get(url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("SF20250201000001") && page.contains("微信支付"));
    assert_eq!(rig.provider.query(&oref("SF20250201000001")).await.unwrap(), QueryOutcome::NotPaid);
    decide(&wechat_cashier(&started), "approve", "normal").await;

    let (headers, body) = next_notice(&mut rig.rx).await;
    assert!(headers.contains_key("wechatpay-signature") && headers.contains_key("wechatpay-serial"));
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(text.contains("\"ciphertext\"") && !text.contains("SF20250201000001"), "the resource is encrypted: {text}");
    let now = OffsetDateTime::now_utc();
    let n = rig.provider.verify_notice(&headers, &body, now).unwrap();
    assert_eq!(n.order_no, "SF20250201000001");
    assert_eq!(n.amount_fen, 2000);
    assert_eq!(n.merchant_id, MCHID);
    assert!(matches!(n.outcome, NoticeOutcome::Paid { .. }), "{n:?}");
    assert!(n.provider_trade_no.as_deref().is_some_and(|t| t.starts_with("4200")));
    let envelope: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(n.event_id, envelope["id"].as_str().unwrap());
    let (status, ack) = rig.provider.acknowledge(true);
    assert_eq!((status.as_u16(), ack.as_str()), (204, ""));
    let (status, nack) = rig.provider.acknowledge(false);
    assert_eq!(status.as_u16(), 500);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&nack).unwrap()["code"], "FAIL");

    // A changed body (here: the summary) breaks the signature.
    let tampered = text.replace("支付成功", "支付失败");
    assert_ne!(tampered, text);
    let err = rig.provider.verify_notice(&headers, tampered.as_bytes(), now).unwrap_err();
    assert!(matches!(err, ProviderError::Verification(_)), "{err:?}");
    // Outside the 300 s window: rejected (a replay), just inside: accepted.
    let err = rig.provider.verify_notice(&headers, &body, now + time::Duration::seconds(301)).unwrap_err();
    assert!(matches!(err, ProviderError::Verification(_)), "{err:?}");
    assert!(rig.provider.verify_notice(&headers, &body, now + time::Duration::seconds(290)).is_ok());
    // Without the Wechatpay-* headers: rejected.
    assert!(matches!(rig.provider.verify_notice(&HeaderMap::new(), &body, now), Err(ProviderError::Verification(_))));

    let q = rig.provider.query(&oref("SF20250201000001")).await.unwrap();
    assert!(matches!(q, QueryOutcome::Paid { amount_fen: 2000, .. }), "{q:?}");
}

#[tokio::test]
async fn wechat_native_qr_twice_gives_the_same_event_id() {
    let mut rig = wechat_rig().await;
    let started = rig.provider.start(&start_request("SF20250201000002", PaymentChannel::WechatQr, &rig.notify_url)).await.unwrap();
    let Started::Qr(code_url) = &started else { panic!("Native is a QR") };
    assert!(code_url.starts_with(&format!("{}/sandbox/wechat/qr/", rig.base)), "the code_url opens the sandbox's scan endpoint");
    decide(code_url, "approve", "twice").await;
    let (h1, b1) = next_notice(&mut rig.rx).await;
    let (h2, b2) = next_notice(&mut rig.rx).await;
    assert_eq!(b1, b2);
    let n1 = rig.provider.verify_notice(&h1, &b1, OffsetDateTime::now_utc()).unwrap();
    let n2 = rig.provider.verify_notice(&h2, &b2, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(n1.event_id, n2.event_id);
    assert!(matches!(n1.outcome, NoticeOutcome::Paid { .. }));
}

#[tokio::test]
async fn wechat_lost_and_late_notices() {
    let mut rig = wechat_rig().await;
    let started = rig.provider.start(&start_request("SF20250201000003", PaymentChannel::Wechat, &rig.notify_url)).await.unwrap();
    decide(&wechat_cashier(&started), "approve", "lost").await;
    no_notice(&mut rig.rx, Duration::from_millis(800)).await;
    assert!(matches!(rig.provider.query(&oref("SF20250201000003")).await.unwrap(), QueryOutcome::Paid { amount_fen: 2000, .. }));

    let started = rig.provider.start(&start_request("SF20250201000004", PaymentChannel::Wechat, &rig.notify_url)).await.unwrap();
    decide(&wechat_cashier(&started), "approve", "late").await;
    no_notice(&mut rig.rx, Duration::from_millis(100)).await;
    let (h, b) = next_notice(&mut rig.rx).await;
    assert_eq!(rig.provider.verify_notice(&h, &b, OffsetDateTime::now_utc()).unwrap().order_no, "SF20250201000004");
}

#[tokio::test]
async fn wechat_decline_close_and_unknown_order() {
    let mut rig = wechat_rig().await;
    let started = rig.provider.start(&start_request("SF20250201000005", PaymentChannel::Wechat, &rig.notify_url)).await.unwrap();
    decide(&wechat_cashier(&started), "decline", "normal").await;
    // WeChat notifies successful payments only: a declined payment shows in the query.
    no_notice(&mut rig.rx, Duration::from_millis(500)).await;
    assert_eq!(rig.provider.query(&oref("SF20250201000005")).await.unwrap(), QueryOutcome::Closed);

    rig.provider.start(&start_request("SF20250201000006", PaymentChannel::WechatQr, &rig.notify_url)).await.unwrap();
    rig.provider.close(&oref("SF20250201000006")).await.unwrap();
    assert_eq!(rig.provider.query(&oref("SF20250201000006")).await.unwrap(), QueryOutcome::Closed);
    assert_eq!(rig.provider.query(&oref("SF20259999999999")).await.unwrap(), QueryOutcome::NotFound);
    rig.provider.close(&oref("SF20259999999999")).await.unwrap();
    // A paid order cannot be closed.
    let started = rig.provider.start(&start_request("SF20250201000009", PaymentChannel::WechatQr, &rig.notify_url)).await.unwrap();
    decide(&wechat_cashier(&started), "approve", "lost").await;
    match rig.provider.close(&oref("SF20250201000009")).await {
        Err(ProviderError::Refused { code, .. }) => assert_eq!(code, "ORDERPAID"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn wechat_refund_within_paid_refund_callback_and_statement() {
    let mut rig = wechat_rig().await;
    let started = rig.provider.start(&start_request("SF20250201000007", PaymentChannel::Wechat, &rig.notify_url)).await.unwrap();
    decide(&wechat_cashier(&started), "approve", "normal").await;
    next_notice(&mut rig.rx).await;

    let r = rig.provider.refund(&oref("SF20250201000007"), &refund_of("RF100001", 1500, "申请被驳回")).await.unwrap();
    assert!(matches!(r, RefundOutcome::Pending { provider_refund_no: Some(_) }), "{r:?}");
    let (h, b) = next_notice(&mut rig.rx).await;
    let n = rig.provider.verify_notice(&h, &b, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(n.order_no, "SF20250201000007");
    assert_eq!(n.outcome, NoticeOutcome::Refund { refund_no: "RF100001".into(), succeeded: true });
    // Repeating the same refund moves no money, is not refused, and notifies nothing new.
    assert!(matches!(rig.provider.refund(&oref("SF20250201000007"), &refund_of("RF100001", 1500, "")).await.unwrap(), RefundOutcome::Succeeded { .. }));
    no_notice(&mut rig.rx, Duration::from_millis(300)).await;
    // 15.00 + 10.00 > 20.00: the sandbox refuses, as WeChat does.
    let over = rig.provider.refund(&oref("SF20250201000007"), &refund_of("RF100002", 1000, "")).await.unwrap();
    assert_eq!(over, RefundOutcome::Failed { code: "INVALID_REQUEST".into() });
    assert!(matches!(rig.provider.refund(&oref("SF20250201000007"), &refund_of("RF100003", 500, "")).await.unwrap(), RefundOutcome::Pending { .. }));
    next_notice(&mut rig.rx).await;
    // The query still reports the payment (REFUND state = paid, then refunded).
    assert!(matches!(rig.provider.query(&oref("SF20250201000007")).await.unwrap(), QueryOutcome::Paid { amount_fen: 2000, .. }));

    // The day's bill: tradebill (signed answer with the SHA1), then the file from download_url.
    let st = rig.provider.statement(today()).await.unwrap();
    let pay = st.payments().find(|e| e.order_no == "SF20250201000007").expect("the paid order is in the bill");
    assert_eq!(pay.amount_fen, 2000);
    assert!(pay.provider_trade_no.starts_with("4200"));
    let refunds: Vec<_> = st.refunds().filter(|e| e.order_no == "SF20250201000007").map(|r| (r.refund_no.clone().unwrap(), r.amount_fen)).collect();
    assert_eq!(refunds, vec![("RF100001".to_string(), 1500), ("RF100003".to_string(), 500)]);
    assert!(st.entries.iter().all(|e| e.kind == EntryKind::Payment || e.refund_no.is_some()));
    assert!(rig.provider.statement(today() - time::Duration::days(30)).await.unwrap().entries.is_empty());
}

#[tokio::test]
async fn wechat_sandbox_rejects_a_request_signed_with_the_wrong_key() {
    let rig = wechat_rig().await;
    let wrong = wechat_provider(&rig.base, demo_keys::UNIONPAY_MERCHANT_KEY, demo_keys::PLATFORM_PUB);
    match wrong.query(&oref("SF20250201000008")).await {
        Err(ProviderError::Refused { code, .. }) => assert_eq!(code, "SIGN_ERROR"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The right key through the same path: the sandbox answers (the order is just unknown).
    let right = wechat_provider(&rig.base, demo_keys::MERCHANT_KEY, demo_keys::PLATFORM_PUB);
    assert_eq!(right.query(&oref("SF20250201000008")).await.unwrap(), QueryOutcome::NotFound);
    // And an answer not signed by the platform key is not believed.
    let distrustful = wechat_provider(&rig.base, demo_keys::MERCHANT_KEY, demo_keys::MERCHANT_PUB);
    assert!(matches!(distrustful.query(&oref("SF20250201000008")).await, Err(ProviderError::Verification(_))));
}

// ---------------------------------------------------------------------------------------------------------------
// UnionPay gateway 5.1.0.

const MER_ID: &str = "777290058110048";

struct UnionpayRig {
    base: String,
    sandbox: UnionpaySandbox,
    provider: UnionpayProvider,
    notify_url: String,
    rx: mpsc::UnboundedReceiver<Notice>,
}

fn unionpay_provider(base: &str, key: &str, cert: &str, notify_base: &str) -> UnionpayProvider {
    UnionpayProvider::new(
        &format!("{base}/sandbox/unionpay"),
        &format!("{base}/sandbox/unionpay"),
        MER_ID,
        RsaPrivateKey::from_pem(key).unwrap(),
        Certificate::from_pem(cert).unwrap(),
        UnionPayTrust::from_pems(demo_keys::UNIONPAY_ROOT, demo_keys::UNIONPAY_MIDDLE).unwrap(),
        notify_base,
    )
}

async fn unionpay_rig() -> UnionpayRig {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sandbox = UnionpaySandbox::new(
        MER_ID,
        Certificate::from_pem(demo_keys::UNIONPAY_MERCHANT_CERT).unwrap(),
        RsaPrivateKey::from_pem(demo_keys::UNIONPAY_SIGNER_KEY).unwrap(),
        demo_keys::UNIONPAY_SIGNER_CERT,
        &format!("{base}/sandbox/unionpay"),
    )
    .with_late_delay(Duration::from_millis(300));
    let app: Router = unionpay_router(sandbox.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (notify_url, rx) = receiver().await;
    // The adapter derives its backUrl from our public URL; the receiver stands in for it.
    let public = notify_url.trim_end_matches("/notify").to_string();
    let provider = unionpay_provider(&base, demo_keys::UNIONPAY_MERCHANT_KEY, demo_keys::UNIONPAY_MERCHANT_CERT, &public);
    UnionpayRig { base, sandbox, provider, notify_url, rx }
}

/// The browser posts the signed front consume to the gateway, which sends it to the cashier; returns its URL.
async fn unionpay_cashier(started: &Started) -> String {
    let Started::Form { action, fields } = started else { panic!("a UnionPay front consume is a form, got {started:?}") };
    let r = browser().post(action).form(fields).send().await.unwrap();
    assert_eq!(r.status(), 303, "the gateway accepts our signed front consume: {}", r.text().await.unwrap());
    r.headers()["location"].to_str().unwrap().to_string()
}

/// An order as the payment service would hand it over after start (opened at `opened_at`).
fn uref(order_no: &str, opened_at: OffsetDateTime, query_id: Option<&str>) -> OrderRef {
    OrderRef { order_no: order_no.into(), amount_fen: 2000, provider_trade_no: query_id.map(str::to_string), opened_at: Some(opened_at) }
}

#[tokio::test]
async fn unionpay_front_consume_notify_verifies_chain_and_tampering_is_rejected() {
    let mut rig = unionpay_rig().await;
    let req = start_request("SF20250301000001", PaymentChannel::Unionpay, &rig.notify_url);
    let started = rig.provider.start(&req).await.unwrap();
    let Started::Form { action, fields } = &started else { panic!("form expected") };
    assert_eq!(action, &format!("{}/sandbox/unionpay/gateway/api/frontTransReq.do", rig.base));
    let get = |k: &str| fields.iter().find(|f| f.0 == k).map(|f| f.1.clone()).unwrap_or_default();
    assert_eq!((get("version").as_str(), get("signMethod").as_str(), get("txnType").as_str(), get("txnAmt").as_str()), ("5.1.0", "01", "01", "2000"));
    assert_eq!(get("certId"), "4100");
    assert_eq!(get("channelType"), "08");
    assert!(get("frontUrl").ends_with("/notify/return/SF20250301000001"), "{}", get("frontUrl"));
    // Before the payer submits the cashier, UnionPay has no transaction.
    assert_eq!(rig.provider.query(&uref("SF20250301000001", req.opened_at, None)).await.unwrap(), QueryOutcome::NotFound);
    let cashier = unionpay_cashier(&started).await;
    assert_eq!(rig.provider.query(&uref("SF20250301000001", req.opened_at, None)).await.unwrap(), QueryOutcome::NotFound);
    decide(&cashier, "approve", "normal").await;

    let (headers, body) = next_notice(&mut rig.rx).await;
    let now = OffsetDateTime::now_utc();
    let n = rig.provider.verify_notice(&headers, &body, now).unwrap();
    assert_eq!((n.order_no.as_str(), n.amount_fen, n.merchant_id.as_str()), ("SF20250301000001", 2000, MER_ID));
    assert!(matches!(n.outcome, NoticeOutcome::Paid { .. }), "{n:?}");
    let query_id = n.provider_trade_no.clone().unwrap();
    assert_eq!(query_id.len(), 21);
    assert_eq!(rig.provider.acknowledge(true).0.as_u16(), 200);
    assert_eq!(rig.provider.acknowledge(false).0.as_u16(), 500);

    let text = String::from_utf8(body.clone()).unwrap();
    assert!(text.contains("txnAmt=2000") && text.contains("signPubKeyCert="));
    // A changed amount breaks the signature.
    let tampered = text.replace("txnAmt=2000", "txnAmt=1");
    assert!(matches!(rig.provider.verify_notice(&headers, tampered.as_bytes(), now), Err(ProviderError::Verification(_))));
    // Re-signed by someone holding a certificate that does not chain to UnionPay's root, or that does not name
    // UnionPay (our own merchant certificate): refused.
    let params = shenfen_gateways::unionpay::parse_notify_body(&text).unwrap();
    for (key, cert) in [
        (demo_keys::UNIONPAY_SIGNER_KEY, include_str!("../../gateways/testdata/unionpay/test-unionpay-signer-foreign.cert.pem")),
        (demo_keys::UNIONPAY_MERCHANT_KEY, demo_keys::UNIONPAY_MERCHANT_CERT),
    ] {
        let forged = shenfen_gateways::unionpay::sign_notify(&params, &RsaPrivateKey::from_pem(key).unwrap(), cert).unwrap();
        let forged = shenfen_gateways::codec::encode_query(forged.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert!(matches!(rig.provider.verify_notice(&headers, forged.as_bytes(), now), Err(ProviderError::Verification(_))));
    }
    // The signer's certificate must be valid when the notice is checked.
    assert!(matches!(rig.provider.verify_notice(&headers, &body, now + time::Duration::days(365 * 20)), Err(ProviderError::Verification(_))));

    let q = rig.provider.query(&uref("SF20250301000001", req.opened_at, None)).await.unwrap();
    assert_eq!(q.clone(), QueryOutcome::Paid { provider_trade_no: query_id, amount_fen: 2000, at: match q { QueryOutcome::Paid { at, .. } => at, _ => now } });
    // Another txnTime is another transaction.
    assert_eq!(rig.provider.query(&uref("SF20250301000001", req.opened_at - time::Duration::seconds(1), None)).await.unwrap(), QueryOutcome::NotFound);
}

#[tokio::test]
async fn unionpay_twice_late_lost_and_decline() {
    let mut rig = unionpay_rig().await;
    // Twice: the same signed notice, the same event id.
    let started = rig.provider.start(&start_request("SF20250301000002", PaymentChannel::Unionpay, &rig.notify_url)).await.unwrap();
    decide(&unionpay_cashier(&started).await, "approve", "twice").await;
    let (h1, b1) = next_notice(&mut rig.rx).await;
    let (h2, b2) = next_notice(&mut rig.rx).await;
    assert_eq!(b1, b2);
    let n1 = rig.provider.verify_notice(&h1, &b1, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(n1.event_id, rig.provider.verify_notice(&h2, &b2, OffsetDateTime::now_utc()).unwrap().event_id);

    // Lost: only the query tells.
    let req = start_request("SF20250301000003", PaymentChannel::Unionpay, &rig.notify_url);
    let started = rig.provider.start(&req).await.unwrap();
    decide(&unionpay_cashier(&started).await, "approve", "lost").await;
    no_notice(&mut rig.rx, Duration::from_millis(600)).await;
    assert!(matches!(rig.provider.query(&uref("SF20250301000003", req.opened_at, None)).await.unwrap(), QueryOutcome::Paid { amount_fen: 2000, .. }));

    // Late.
    let started = rig.provider.start(&start_request("SF20250301000004", PaymentChannel::Unionpay, &rig.notify_url)).await.unwrap();
    decide(&unionpay_cashier(&started).await, "approve", "late").await;
    no_notice(&mut rig.rx, Duration::from_millis(100)).await;
    let (h, b) = next_notice(&mut rig.rx).await;
    assert_eq!(rig.provider.verify_notice(&h, &b, OffsetDateTime::now_utc()).unwrap().order_no, "SF20250301000004");

    // Declined: UnionPay notifies successes only; the query reports the failed transaction.
    let req = start_request("SF20250301000005", PaymentChannel::Unionpay, &rig.notify_url);
    let started = rig.provider.start(&req).await.unwrap();
    decide(&unionpay_cashier(&started).await, "decline", "normal").await;
    no_notice(&mut rig.rx, Duration::from_millis(400)).await;
    assert_eq!(rig.provider.query(&uref("SF20250301000005", req.opened_at, None)).await.unwrap(), QueryOutcome::Closed);
    // Closing is a no-op for a front consume (it lapses at payTimeout).
    rig.provider.close(&uref("SF20250301000005", req.opened_at, None)).await.unwrap();
}

#[tokio::test]
async fn unionpay_refund_notice_retry_and_statement() {
    let mut rig = unionpay_rig().await;
    let req = start_request("SF20250301000006", PaymentChannel::Unionpay, &rig.notify_url);
    let started = rig.provider.start(&req).await.unwrap();
    decide(&unionpay_cashier(&started).await, "approve", "normal").await;
    let (h, b) = next_notice(&mut rig.rx).await;
    let query_id = rig.provider.verify_notice(&h, &b, OffsetDateTime::now_utc()).unwrap().provider_trade_no.unwrap();
    let order = uref("SF20250301000006", req.opened_at, Some(&query_id));

    // Without the payment's queryId there is nothing to refund.
    assert_eq!(rig.provider.refund(&uref("SF20250301000006", req.opened_at, None), &refund_of("RF300001", 500, "")).await.unwrap(), RefundOutcome::Failed { code: "no_query_id".into() });
    let refund = refund_of("RF300001", 1500, "申请被驳回");
    assert!(matches!(rig.provider.refund(&order, &refund).await.unwrap(), RefundOutcome::Pending { provider_refund_no: Some(_) }));
    let (h, b) = next_notice(&mut rig.rx).await;
    let n = rig.provider.verify_notice(&h, &b, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(n.order_no, "SF20250301000006", "the refunded order comes back in reqReserved");
    assert_eq!(n.outcome, NoticeOutcome::Refund { refund_no: "RF300001".into(), succeeded: true });
    assert_eq!(n.amount_fen, 1500);
    // The refund job retrying (same orderId and txnTime): UnionPay says duplicate, the query says done.
    assert!(matches!(rig.provider.refund(&order, &refund).await.unwrap(), RefundOutcome::Succeeded { .. }));
    no_notice(&mut rig.rx, Duration::from_millis(300)).await;
    // Never more than was paid.
    assert_eq!(rig.provider.refund(&order, &refund_of("RF300002", 1000, "")).await.unwrap(), RefundOutcome::Failed { code: "61".into() });

    // The day's reconciliation file (fileTransReq → base64(zlib(zip)) → the ZM file).
    let st = rig.provider.statement(today()).await.unwrap();
    let pay = st.payments().find(|e| e.order_no == "SF20250301000006").expect("the payment is in the file");
    assert_eq!((pay.amount_fen, pay.provider_trade_no.as_str()), (2000, query_id.as_str()));
    let r = st.refunds().next().expect("the refund is in the file");
    assert_eq!((r.order_no.as_str(), r.refund_no.as_deref(), r.amount_fen), ("SF20250301000006", Some("RF300001"), 1500));
    assert!(rig.provider.statement(today() - time::Duration::days(30)).await.unwrap().entries.is_empty());
    // Told to, the sandbox's file differs from the truth.
    rig.sandbox.set_discrepancy(Discrepancy::AmountOff);
    let st = rig.provider.statement(today()).await.unwrap();
    assert_eq!(st.payments().find(|e| e.order_no == "SF20250301000006").unwrap().amount_fen, 2001);
}

#[tokio::test]
async fn unionpay_sandbox_refuses_requests_not_signed_by_the_merchant() {
    let rig = unionpay_rig().await;
    // Signed with another key under our certId: the gateway refuses (unsigned respCode 11), no order is made.
    let wrong = unionpay_provider(&rig.base, demo_keys::MERCHANT_KEY, demo_keys::UNIONPAY_MERCHANT_CERT, "http://127.0.0.1:1");
    let when = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    match wrong.query(&uref("SF20250301000008", when, None)).await {
        Err(ProviderError::Refused { code, .. }) => assert_eq!(code, "11"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let started = wrong.start(&start_request("SF20250301000008", PaymentChannel::Unionpay, &rig.notify_url)).await.unwrap();
    let Started::Form { action, fields } = &started else { panic!() };
    let r = browser().post(action).form(fields).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("验证签名失败"));
    // An adapter trusting another root does not believe the sandbox's (genuine) answers.
    let distrustful = UnionpayProvider::new(
        &format!("{}/sandbox/unionpay", rig.base),
        &format!("{}/sandbox/unionpay", rig.base),
        MER_ID,
        RsaPrivateKey::from_pem(demo_keys::UNIONPAY_MERCHANT_KEY).unwrap(),
        Certificate::from_pem(demo_keys::UNIONPAY_MERCHANT_CERT).unwrap(),
        UnionPayTrust::from_pems(include_str!("../../gateways/testdata/unionpay/test-foreign-root-ca.cert.pem"), demo_keys::UNIONPAY_MIDDLE).unwrap(),
        "http://127.0.0.1:1",
    );
    assert!(matches!(distrustful.query(&uref("SF20250301000008", when, None)).await, Err(ProviderError::Verification(_))));
}
