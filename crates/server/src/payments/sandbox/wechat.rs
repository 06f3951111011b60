//! The WeChat Pay sandbox: the API v3 endpoints accepting our `WECHATPAY2-SHA256-RSA2048`-signed requests
//! (verified with the merchant public key; a bad signature gets WeChat's 401 `{"code":"SIGN_ERROR",…}`), every
//! answer signed with the platform key in `Wechatpay-*` headers as WeChat does (errors too), a cashier page for
//! H5's `h5_url`, a scan endpoint for Native's `code_url`, callbacks with the resource encrypted under the APIv3
//! key (AEAD_AES_256_GCM) and signed by the platform key, and the daily trade bill.
//!
//! As at WeChat, only successful payments (`TRANSACTION.SUCCESS`) and refunds (`REFUND.SUCCESS`) are notified: a
//! payer who declines at the cashier leaves the order `PAYERROR` with no callback, which a query reveals.
//!
//! Endpoints (under `/sandbox/wechat`; the signed path is the part from `/v3/…`):
//! * `POST /v3/pay/transactions/h5` → `{"h5_url"}`, `POST /v3/pay/transactions/native` → `{"code_url"}`;
//! * `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…` — the transaction;
//! * `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close` — 204;
//! * `POST /v3/refund/domestic/refunds` — answers `PROCESSING`, then a `REFUND.SUCCESS` callback; never more than
//!   was paid (400 `INVALID_REQUEST`); the same `out_refund_no` again moves no money;
//! * `GET /cashier/{prepay_id}` (the `h5_url`), `GET /qr/{prepay_id}` (the `code_url`); `POST /cashier/{prepay_id}`
//!   = approve/decline (form `decision`, optional `behaviour`);
//! * `POST /behaviour/{out_trade_no}` — form `behaviour=…`;
//! * `GET /v3/bill/tradebill?bill_date=YYYY-MM-DD&bill_type=ALL` — `{"hash_type":"SHA1","hash_value","download_url"}`
//!   for the day's `ALL` trade bill built from what the sandbox processed (`NO_STATEMENT_EXIST` when nothing
//!   happened); `GET /v3/billdownload/file?token=…` (signed like any call) serves the file, unsigned
//!   (`shenfen_gateways::statements::wechatpay`);
//! * `POST /discrepancy` — form `kind=…`: see the `sandbox` module docs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use shenfen_gateways::amount::fen_to_yuan_string;
use shenfen_gateways::wechatpay::{self, Payer, Refund, RefundAmount, RefundNotification, RefundStatus, TradeState, Transaction, TransactionAmount};
use shenfen_gateways::{Certificate, RsaPrivateKey, RsaPublicKey};
use time::OffsetDateTime;
use shenfen_gateways::statements::EntryKind;
use shenfen_gateways::statements::wechatpay::{BillRow, write_trade_bill};
use time::format_description::well_known::Rfc3339;

use super::{Behaviour, DEFAULT_LATE_DELAY, Discrepancy, cashier_page, random_digits};
use crate::config::Config;
use crate::payments::providers::{demo_keys, pem};

/// Where the API lives; requests are signed over the path after it.
const PREFIX: &str = "/sandbox/wechat";

#[derive(Clone)]
pub struct WechatSandbox(Arc<Inner>);

struct Inner {
    mchid: String,
    merchant_public_key: RsaPublicKey,
    platform_key: RsaPrivateKey,
    /// `Wechatpay-Serial`: the platform certificate serial (or a `PUB_KEY_ID_…`).
    platform_serial: String,
    apiv3_key: Vec<u8>,
    /// Where this sandbox is reachable, e.g. `http://127.0.0.1:8080/sandbox/wechat`.
    base_url: String,
    behaviour: Mutex<Behaviour>,
    discrepancy: Mutex<Discrepancy>,
    late_delay: Duration,
    /// By out_trade_no. A stand-in for WeChat's own database (see the module docs of `sandbox`).
    orders: Mutex<HashMap<String, Order>>,
    /// Bill files by download token.
    files: Mutex<HashMap<String, Vec<u8>>>,
    http: reqwest::Client,
}

#[derive(Debug, Clone)]
struct Order {
    appid: String,
    out_trade_no: String,
    prepay_id: String,
    transaction_id: String,
    openid: String,
    description: String,
    /// `MWEB` (H5) or `NATIVE`.
    trade_type: &'static str,
    total_fen: u64,
    notify_url: String,
    state: TradeState,
    paid: Option<OffsetDateTime>,
    behaviour: Option<Behaviour>,
    refunds: Vec<SandboxRefund>,
}

#[derive(Debug, Clone)]
struct SandboxRefund {
    out_refund_no: String,
    refund_id: String,
    fen: u64,
    at: OffsetDateTime,
}

impl Order {
    fn refunded(&self) -> u64 {
        self.refunds.iter().map(|r| r.fen).sum()
    }

    fn transaction(&self, mchid: &str) -> Transaction {
        let paid = self.paid.is_some();
        Transaction {
            appid: self.appid.clone(),
            mchid: mchid.to_string(),
            out_trade_no: self.out_trade_no.clone(),
            transaction_id: paid.then(|| self.transaction_id.clone()),
            trade_type: Some(self.trade_type.to_string()),
            trade_state: self.state,
            trade_state_desc: Some(
                match self.state {
                    TradeState::Success => "支付成功",
                    TradeState::Refund => "转入退款",
                    TradeState::Notpay => "未支付",
                    TradeState::Closed => "已关闭",
                    TradeState::Payerror => "支付失败",
                    TradeState::Revoked => "已撤销",
                    TradeState::Userpaying => "用户支付中",
                }
                .to_string(),
            ),
            bank_type: paid.then(|| "OTHERS".to_string()),
            attach: None,
            success_time: self.paid.map(rfc3339),
            payer: paid.then(|| Payer { openid: Some(self.openid.clone()) }),
            amount: Some(TransactionAmount {
                total: Some(self.total_fen),
                payer_total: paid.then_some(self.total_fen),
                currency: Some("CNY".into()),
                payer_currency: Some("CNY".into()),
            }),
        }
    }
}

impl WechatSandbox {
    /// `merchant_public_key` verifies our requests; `platform_key` (named `platform_serial`) signs answers and
    /// callbacks; `apiv3_key` (32 bytes) encrypts callback resources.
    pub fn new(
        mchid: &str,
        merchant_public_key: RsaPublicKey,
        platform_key: RsaPrivateKey,
        platform_serial: &str,
        apiv3_key: &[u8],
        base_url: &str,
    ) -> Self {
        WechatSandbox(Arc::new(Inner {
            mchid: mchid.to_string(),
            merchant_public_key,
            platform_key,
            platform_serial: platform_serial.to_string(),
            apiv3_key: apiv3_key.to_vec(),
            base_url: base_url.trim_end_matches('/').to_string(),
            behaviour: Mutex::new(Behaviour::Normal),
            discrepancy: Mutex::new(Discrepancy::None),
            late_delay: DEFAULT_LATE_DELAY,
            orders: Mutex::new(HashMap::new()),
            files: Mutex::new(HashMap::new()),
            http: super::http_client(),
        }))
    }

    /// The demo sandbox: accepts the configured mchid signed with the demo merchant key, signs with the demo
    /// platform key under the demo platform certificate's serial (or the configured `PUB_KEY_ID_…`), encrypts
    /// with the configured APIv3 key (the test-only demo key by default).
    pub fn from_config(config: &Config, base_url: &str) -> anyhow::Result<Self> {
        let c = &config.payments.wechat;
        let merchant = RsaPublicKey::from_spki_pem(demo_keys::MERCHANT_PUB).map_err(|e| anyhow::anyhow!("demo key: {}", e.code()))?;
        let key = pem(&None, &None, demo_keys::PLATFORM_KEY, true, "sandbox key")?;
        let key = RsaPrivateKey::from_pem(&key).map_err(|e| anyhow::anyhow!("demo key: {}", e.code()))?;
        let serial = match c.platform_public_key_id.as_deref().filter(|i| !i.is_empty()) {
            Some(id) => id.to_string(),
            None => Certificate::from_pem(demo_keys::PLATFORM_CERT).map_err(|e| anyhow::anyhow!("demo certificate: {}", e.code()))?.serial_hex_upper(),
        };
        let apiv3 = c.apiv3_key.clone().filter(|k| !k.is_empty()).unwrap_or_else(|| demo_keys::WECHAT_APIV3_KEY.to_string());
        if apiv3.len() != 32 {
            anyhow::bail!("payments.wechat.apiv3_key must be exactly 32 bytes");
        }
        Ok(Self::new(&c.mchid, merchant, key, &serial, apiv3.as_bytes(), base_url))
    }

    /// Same sandbox, `late` notifications after `delay` (tests use a short one).
    pub fn with_late_delay(self, delay: Duration) -> Self {
        match Arc::try_unwrap(self.0) {
            Ok(mut inner) => {
                inner.late_delay = delay;
                WechatSandbox(Arc::new(inner))
            }
            Err(shared) => WechatSandbox(shared),
        }
    }

    /// The default behaviour for orders without their own.
    pub fn set_behaviour(&self, b: Behaviour) {
        if let Ok(mut g) = self.0.behaviour.lock() {
            *g = b;
        }
    }

    pub fn set_discrepancy(&self, d: Discrepancy) {
        if let Ok(mut g) = self.0.discrepancy.lock() {
            *g = d;
        }
    }
}

pub fn router<S: Clone + Send + Sync + 'static>(sb: WechatSandbox) -> Router<S> {
    Router::new()
        .route("/sandbox/wechat/v3/pay/transactions/h5", post(create_h5))
        .route("/sandbox/wechat/v3/pay/transactions/native", post(create_native))
        .route("/sandbox/wechat/v3/pay/transactions/out-trade-no/{out_trade_no}", get(query))
        .route("/sandbox/wechat/v3/pay/transactions/out-trade-no/{out_trade_no}/close", post(close))
        .route("/sandbox/wechat/v3/refund/domestic/refunds", post(refund))
        .route("/sandbox/wechat/v3/bill/tradebill", get(bill))
        .route("/sandbox/wechat/v3/billdownload/file", get(download_bill))
        .route("/sandbox/wechat/discrepancy", post(set_discrepancy))
        .route("/sandbox/wechat/cashier/{prepay_id}", get(cashier).post(decide))
        .route("/sandbox/wechat/qr/{prepay_id}", get(cashier))
        .route("/sandbox/wechat/behaviour/{out_trade_no}", post(set_order_behaviour))
        .with_state(sb)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn beijing(t: OffsetDateTime) -> OffsetDateTime {
    t.to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC))
}

/// `2026-01-01T12:30:00+08:00`.
fn rfc3339(t: OffsetDateTime) -> String {
    let t = beijing(t);
    t.replace_nanosecond(0).unwrap_or(t).format(&Rfc3339).unwrap_or_default()
}

/// `2026-01-01 12:30:00` (Beijing), as in the bill.
fn bill_time(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    beijing(t).format(&fmt).unwrap_or_default()
}

fn time_digits(t: OffsetDateTime) -> String {
    bill_time(t).chars().filter(char::is_ascii_digit).collect()
}

fn random_alnum(n: usize) -> String {
    use rand::Rng as _;
    rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(n).map(char::from).collect()
}

/// An answer signed with the platform key in `Wechatpay-*` headers (empty body = 204).
fn reply(sb: &Inner, status: StatusCode, body: String) -> Response {
    let nonce = random_alnum(32);
    let Ok(h) = wechatpay::sign_response(&sb.platform_serial, now().unix_timestamp(), &nonce, body.as_bytes(), &sb.platform_key) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    for (k, v) in [
        ("wechatpay-timestamp", h.timestamp),
        ("wechatpay-nonce", h.nonce),
        ("wechatpay-signature", h.signature),
        ("wechatpay-serial", h.serial),
        ("request-id", format!("08{}", random_digits(24))),
    ] {
        if let Ok(v) = v.parse() {
            headers.insert(k, v);
        }
    }
    if status != StatusCode::NO_CONTENT {
        headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json; charset=utf-8"));
    }
    resp
}

fn ok(sb: &Inner, body: serde_json::Value) -> Response {
    reply(sb, StatusCode::OK, body.to_string())
}

fn error(sb: &Inner, status: StatusCode, code: &str, message: &str) -> Response {
    reply(sb, status, serde_json::json!({"code": code, "message": message}).to_string())
}

/// Verifies our `Authorization` over the path after `/sandbox/wechat` (as WeChat sees `/v3/…`) and the mchid;
/// `Some` is the rejection to answer.
fn authenticate(sb: &Inner, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    let signed_path = pq.strip_prefix(PREFIX).unwrap_or(pq);
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Ok(body) = std::str::from_utf8(body) else {
        return Some(error(sb, StatusCode::BAD_REQUEST, "PARAM_ERROR", "请求体不是 UTF-8"));
    };
    match wechatpay::verify_request(auth, method.as_str(), signed_path, body, &sb.merchant_public_key, now().unix_timestamp()) {
        Ok(a) if a.mchid == sb.mchid => None,
        Ok(_) => Some(error(sb, StatusCode::BAD_REQUEST, "MCH_NOT_EXISTS", "商户号不存在")),
        Err(_) => Some(error(sb, StatusCode::UNAUTHORIZED, "SIGN_ERROR", "签名错误")),
    }
}

async fn create_h5(State(sb): State<WechatSandbox>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    create(&sb.0, "MWEB", &method, &uri, &headers, &body)
}

async fn create_native(State(sb): State<WechatSandbox>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    create(&sb.0, "NATIVE", &method, &uri, &headers, &body)
}

fn create(sb: &Inner, trade_type: &'static str, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
    if let Some(r) = authenticate(sb, method, uri, headers, body) {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return error(sb, StatusCode::BAD_REQUEST, "PARAM_ERROR", "请求体不是 JSON");
    };
    let field = |k: &str| v.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let total = v.pointer("/amount/total").and_then(|t| t.as_u64()).unwrap_or(0);
    let (out_trade_no, notify_url) = (field("out_trade_no"), field("notify_url"));
    if field("appid").is_empty() || out_trade_no.is_empty() || field("description").is_empty() || notify_url.is_empty() || total == 0 {
        return error(sb, StatusCode::BAD_REQUEST, "PARAM_ERROR", "缺少参数或金额无效");
    }
    if field("mchid") != sb.mchid {
        return error(sb, StatusCode::BAD_REQUEST, "MCH_NOT_EXISTS", "商户号不存在");
    }
    if trade_type == "MWEB" && v.pointer("/scene_info/payer_client_ip").and_then(|i| i.as_str()).unwrap_or_default().is_empty() {
        return error(sb, StatusCode::BAD_REQUEST, "PARAM_ERROR", "H5 下单需要 scene_info.payer_client_ip");
    }
    let prepay_id = {
        let Ok(mut orders) = sb.orders.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        let order = orders.entry(out_trade_no.clone()).or_insert_with(|| Order {
            appid: field("appid"),
            out_trade_no: out_trade_no.clone(),
            prepay_id: format!("wx{}{}", time_digits(now()), random_digits(18)),
            transaction_id: format!("4200{}{}", time_digits(now()).get(..8).unwrap_or_default(), random_digits(16)),
            openid: format!("oSandbox{}", random_alnum(20)),
            description: field("description"),
            trade_type,
            total_fen: total,
            notify_url: notify_url.clone(),
            state: TradeState::Notpay,
            paid: None,
            behaviour: None,
            refunds: vec![],
        });
        if order.total_fen != total || order.trade_type != trade_type {
            return error(sb, StatusCode::FORBIDDEN, "OUT_TRADE_NO_USED", "商户订单号重复");
        }
        if order.state != TradeState::Notpay {
            return error(sb, StatusCode::BAD_REQUEST, "ORDERPAID", "该订单已支付或已关闭");
        }
        order.prepay_id.clone()
    };
    if trade_type == "MWEB" {
        ok(sb, serde_json::json!({"h5_url": format!("{}/cashier/{prepay_id}", sb.base_url)}))
    } else {
        ok(sb, serde_json::json!({"code_url": format!("{}/qr/{prepay_id}", sb.base_url)}))
    }
}

#[derive(Deserialize)]
struct MchidQuery {
    #[serde(default)]
    mchid: String,
}

async fn query(
    State(sb): State<WechatSandbox>,
    Path(out_trade_no): Path<String>,
    Query(q): Query<MchidQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sb = &sb.0;
    if let Some(r) = authenticate(sb, &method, &uri, &headers, &body) {
        return r;
    }
    if q.mchid != sb.mchid {
        return error(sb, StatusCode::BAD_REQUEST, "PARAM_ERROR", "mchid 不匹配");
    }
    let order = sb.orders.lock().ok().and_then(|o| o.get(&out_trade_no).cloned());
    match order {
        None => error(sb, StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在"),
        Some(o) => match serde_json::to_value(o.transaction(&sb.mchid)) {
            Ok(v) => ok(sb, v),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
    }
}

async fn close(State(sb): State<WechatSandbox>, Path(out_trade_no): Path<String>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let sb = &sb.0;
    if let Some(r) = authenticate(sb, &method, &uri, &headers, &body) {
        return r;
    }
    let Ok(mut orders) = sb.orders.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    match orders.get_mut(&out_trade_no) {
        None => error(sb, StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在"),
        Some(o) if matches!(o.state, TradeState::Notpay | TradeState::Closed | TradeState::Payerror) => {
            o.state = TradeState::Closed;
            reply(sb, StatusCode::NO_CONTENT, String::new())
        }
        Some(_) => error(sb, StatusCode::BAD_REQUEST, "ORDERPAID", "订单已支付"),
    }
}

async fn refund(State(sb): State<WechatSandbox>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let inner = &sb.0;
    if let Some(r) = authenticate(inner, &method, &uri, &headers, &body) {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return error(inner, StatusCode::BAD_REQUEST, "PARAM_ERROR", "请求体不是 JSON");
    };
    let field = |k: &str| v.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let (out_trade_no, out_refund_no) = (field("out_trade_no"), field("out_refund_no"));
    let amount = v.pointer("/amount/refund").and_then(|t| t.as_u64()).unwrap_or(0);
    let total = v.pointer("/amount/total").and_then(|t| t.as_u64()).unwrap_or(0);
    if out_refund_no.is_empty() || amount == 0 {
        return error(inner, StatusCode::BAD_REQUEST, "PARAM_ERROR", "缺少参数或金额无效");
    }
    let (order, refund, fresh) = {
        let Ok(mut orders) = inner.orders.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        let Some(o) = orders.get_mut(&out_trade_no) else {
            return error(inner, StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在");
        };
        if o.paid.is_none() {
            return error(inner, StatusCode::FORBIDDEN, "INVALID_REQUEST", "订单未支付");
        }
        if total != o.total_fen {
            return error(inner, StatusCode::BAD_REQUEST, "PARAM_ERROR", "订单金额与原订单不一致");
        }
        // Same out_refund_no = the same refund again: no money moves.
        let (refund, fresh) = match o.refunds.iter().find(|r| r.out_refund_no == out_refund_no) {
            Some(r) => (r.clone(), false),
            None => {
                if o.refunded() + amount > o.total_fen {
                    return error(inner, StatusCode::BAD_REQUEST, "INVALID_REQUEST", "申请退款金额超过订单可退金额");
                }
                let r = SandboxRefund { out_refund_no: out_refund_no.clone(), refund_id: format!("5030{}", random_digits(24)), fen: amount, at: now() };
                o.refunds.push(r.clone());
                o.state = TradeState::Refund;
                (r, true)
            }
        };
        (o.clone(), refund, fresh)
    };
    let r = Refund {
        refund_id: refund.refund_id.clone(),
        out_refund_no: refund.out_refund_no.clone(),
        transaction_id: order.transaction_id.clone(),
        out_trade_no: order.out_trade_no.clone(),
        status: if fresh { RefundStatus::Processing } else { RefundStatus::Success },
        success_time: (!fresh).then(|| rfc3339(refund.at)),
        user_received_account: Some("支付用户零钱".into()),
        amount: RefundAmount { total: order.total_fen, refund: refund.fen, payer_total: Some(order.total_fen), payer_refund: Some(refund.fen) },
    };
    if fresh {
        let notify_url = v.get("notify_url").and_then(|u| u.as_str()).map(str::to_string).unwrap_or_else(|| order.notify_url.clone());
        let n = RefundNotification {
            mchid: inner.mchid.clone(),
            out_trade_no: order.out_trade_no.clone(),
            transaction_id: order.transaction_id.clone(),
            out_refund_no: refund.out_refund_no.clone(),
            refund_id: refund.refund_id.clone(),
            refund_status: RefundStatus::Success,
            success_time: Some(rfc3339(refund.at)),
            user_received_account: Some("支付用户零钱".into()),
            amount: r.amount.clone(),
        };
        let behaviour = order.behaviour.unwrap_or_else(|| inner.behaviour.lock().map(|b| *b).unwrap_or_default());
        if let Ok(plain) = serde_json::to_vec(&n) {
            deliver(&sb, notify_url, "REFUND.SUCCESS", "退款成功", "refund", "refund", plain, behaviour);
        }
    }
    match serde_json::to_value(&r) {
        Ok(v) => ok(inner, v),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn find_by_prepay_id(sb: &Inner, prepay_id: &str) -> Option<Order> {
    sb.orders.lock().ok()?.values().find(|o| o.prepay_id == prepay_id).cloned()
}

async fn cashier(State(sb): State<WechatSandbox>, Path(prepay_id): Path<String>) -> Response {
    let sb = &sb.0;
    let Some(o) = find_by_prepay_id(sb, &prepay_id) else { return (StatusCode::NOT_FOUND, "订单不存在").into_response() };
    if o.state != TradeState::Notpay {
        return super::message_page("微信支付", "", &format!("该订单已处理（{:?}）。", o.state)).into_response();
    }
    let behaviour = o.behaviour.unwrap_or_else(|| sb.behaviour.lock().map(|b| *b).unwrap_or_default());
    Html(cashier_page(
        "微信支付",
        &format!("{}/cashier/{prepay_id}", sb.base_url),
        &o.out_trade_no,
        &fen_to_yuan_string(o.total_fen),
        &o.description,
        behaviour,
    ))
    .into_response()
}

async fn decide(State(sb): State<WechatSandbox>, Path(prepay_id): Path<String>, axum::Form(d): axum::Form<super::Decision>) -> Response {
    let inner = &sb.0;
    let (approve, requested) = match d.read() {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (order, behaviour) = {
        let Ok(mut orders) = inner.orders.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        let Some(o) = orders.values_mut().find(|o| o.prepay_id == prepay_id) else {
            return (StatusCode::NOT_FOUND, "订单不存在").into_response();
        };
        if o.state != TradeState::Notpay {
            return (StatusCode::CONFLICT, "订单状态不合法").into_response();
        }
        if let Some(b) = requested {
            o.behaviour = Some(b);
        }
        if approve {
            o.state = TradeState::Success;
            o.paid = Some(now());
        } else {
            o.state = TradeState::Payerror;
        }
        let b = o.behaviour.unwrap_or_else(|| inner.behaviour.lock().map(|b| *b).unwrap_or_default());
        (o.clone(), b)
    };
    // WeChat notifies successful payments only.
    if approve && let Ok(plain) = serde_json::to_vec(&order.transaction(&inner.mchid)) {
        deliver(&sb, order.notify_url.clone(), "TRANSACTION.SUCCESS", "支付成功", "transaction", "transaction", plain, behaviour);
    }
    let text = if approve { "支付成功" } else { "已取消支付" };
    super::message_page("微信支付", text, &format!("订单号：{}", order.out_trade_no)).into_response()
}

/// Posts an encrypted, signed callback per the behaviour. The body (and its `id`) is built once, so `twice`
/// delivers the same notification; the `Wechatpay-*` signature is made at sending time, as WeChat's retries are.
#[allow(clippy::too_many_arguments)]
fn deliver(sb: &WechatSandbox, url: String, event_type: &str, summary: &str, original_type: &str, associated_data: &str, plaintext: Vec<u8>, behaviour: Behaviour) {
    let inner = &sb.0;
    if behaviour == Behaviour::Lost || url.is_empty() {
        return;
    }
    let id = uuid::Uuid::now_v7().to_string();
    let Ok(body) = wechatpay::build_callback(
        &id,
        &rfc3339(now()),
        event_type,
        summary,
        original_type,
        associated_data,
        &random_alnum(12),
        &plaintext,
        &inner.apiv3_key,
    ) else {
        return;
    };
    let (times, delay) = match behaviour {
        Behaviour::Twice => (2, Duration::ZERO),
        Behaviour::Late => (1, inner.late_delay),
        _ => (1, Duration::ZERO),
    };
    let sb = sb.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let inner = &sb.0;
        for _ in 0..times {
            let Ok(h) = wechatpay::sign_response(&inner.platform_serial, now().unix_timestamp(), &random_alnum(32), body.as_bytes(), &inner.platform_key) else {
                return;
            };
            let sent = inner
                .http
                .post(&url)
                .header(header::CONTENT_TYPE, "application/json")
                .header("Wechatpay-Timestamp", h.timestamp)
                .header("Wechatpay-Nonce", h.nonce)
                .header("Wechatpay-Signature", h.signature)
                .header("Wechatpay-Serial", h.serial)
                .body(body.clone())
                .send()
                .await;
            if let Err(e) = sent {
                tracing::warn!(provider = "wechat-sandbox", error = %e, "notification not delivered");
            }
        }
    });
}

#[derive(Deserialize)]
struct BehaviourForm {
    behaviour: String,
}

async fn set_order_behaviour(State(sb): State<WechatSandbox>, Path(out_trade_no): Path<String>, axum::Form(f): axum::Form<BehaviourForm>) -> Response {
    let Some(b) = Behaviour::parse(&f.behaviour) else {
        return (StatusCode::BAD_REQUEST, "behaviour must be normal, late, twice or lost").into_response();
    };
    let Ok(mut orders) = sb.0.orders.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    match orders.get_mut(&out_trade_no) {
        Some(o) => {
            o.behaviour = Some(b);
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::NOT_FOUND, "订单不存在").into_response(),
    }
}

#[derive(Deserialize)]
struct BillQuery {
    #[serde(default)]
    bill_date: String,
    #[serde(default)]
    bill_type: Option<String>,
}

/// The bill rows of `day` (Beijing time) in time order, with the sandbox's discrepancy applied.
fn bill_rows(sb: &Inner, day: time::Date) -> Vec<BillRow> {
    let on_day = |t: OffsetDateTime| beijing(t).date() == day;
    let orders: Vec<Order> = sb.orders.lock().map(|o| o.values().cloned().collect()).unwrap_or_default();
    let mut rows: Vec<(OffsetDateTime, BillRow)> = Vec::new();
    for o in &orders {
        let row = |at: OffsetDateTime, kind| BillRow {
            at: bill_time(at),
            appid: o.appid.clone(),
            transaction_id: o.transaction_id.clone(),
            out_trade_no: o.out_trade_no.clone(),
            openid: o.openid.clone(),
            trade_type: o.trade_type.to_string(),
            kind,
            description: o.description.clone(),
            order_fen: o.total_fen,
            refund_fen: 0,
            refund_id: String::new(),
            out_refund_no: String::new(),
        };
        if let Some(paid) = o.paid.filter(|p| on_day(*p)) {
            rows.push((paid, row(paid, EntryKind::Payment)));
        }
        for r in o.refunds.iter().filter(|r| on_day(r.at)) {
            let refund = BillRow { refund_fen: r.fen, refund_id: r.refund_id.clone(), out_refund_no: r.out_refund_no.clone(), ..row(r.at, EntryKind::Refund) };
            rows.push((r.at, refund));
        }
    }
    rows.sort_by_key(|r| r.0);
    let mut rows: Vec<BillRow> = rows.into_iter().map(|r| r.1).collect();
    let d = sb.discrepancy.lock().map(|d| *d).unwrap_or_default();
    d.apply(&mut rows, |r| r.kind == EntryKind::Payment, |r| r.order_fen += 1, |r| BillRow {
        out_trade_no: super::phantom_order_no(),
        transaction_id: format!("4200{}", random_digits(24)),
        ..r.clone()
    });
    rows
}

/// `GET /v3/bill/tradebill`: builds the bill now and answers where to download it, with its SHA1.
async fn bill(State(sb): State<WechatSandbox>, Query(q): Query<BillQuery>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let inner = &sb.0;
    if let Some(r) = authenticate(inner, &method, &uri, &headers, &body) {
        return r;
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let Ok(day) = time::Date::parse(&q.bill_date, &fmt) else {
        return error(inner, StatusCode::BAD_REQUEST, "PARAM_ERROR", "bill_date 格式应为 yyyy-MM-dd");
    };
    if q.bill_type.as_deref().is_some_and(|t| t != "ALL") {
        return error(inner, StatusCode::BAD_REQUEST, "PARAM_ERROR", "沙箱仅提供 ALL 账单");
    }
    let rows = bill_rows(inner, day);
    if rows.is_empty() {
        return error(inner, StatusCode::BAD_REQUEST, "NO_STATEMENT_EXIST", "账单文件不存在");
    }
    let text = write_trade_bill(&inner.mchid, &rows);
    let hash = wechatpay::bill_hash(text.as_bytes());
    let token = random_alnum(32);
    if let Ok(mut files) = inner.files.lock() {
        // Download URLs are short-lived: only the latest few are kept.
        if files.len() >= 32 {
            files.clear();
        }
        files.insert(token.clone(), text.into_bytes());
    }
    ok(inner, serde_json::json!({"hash_type": "SHA1", "hash_value": hash, "download_url": format!("{}/v3/billdownload/file?token={token}", inner.base_url)}))
}

#[derive(Deserialize)]
struct DownloadQuery {
    #[serde(default)]
    token: String,
}

/// `GET /v3/billdownload/file?token=…` (signed request): the bill itself, unsigned, as WeChat serves it.
async fn download_bill(State(sb): State<WechatSandbox>, Query(q): Query<DownloadQuery>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let inner = &sb.0;
    if let Some(r) = authenticate(inner, &method, &uri, &headers, &body) {
        return r;
    }
    match inner.files.lock().ok().and_then(|f| f.get(&q.token).cloned()) {
        Some(content) => ([(header::CONTENT_TYPE, "application/octet-stream")], content).into_response(),
        None => error(inner, StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "账单不存在或已过期"),
    }
}

async fn set_discrepancy(State(sb): State<WechatSandbox>, axum::Form(f): axum::Form<super::DiscrepancyForm>) -> Response {
    match f.read() {
        Ok(d) => {
            sb.set_discrepancy(d);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => r,
    }
}
