//! The UnionPay sandbox: the online gateway 5.1.0 from UnionPay's side. Every request must carry our `certId`
//! and a `signMethod=01` signature that verifies with the merchant certificate; every answer and notification is
//! signed with the sandbox's "UnionPay" key and carries its certificate (`signPubKeyCert`), which chains to the
//! test root and intermediate in `demo-keys/`.
//!
//! Endpoints (under `/sandbox/unionpay`):
//! * `POST /gateway/api/frontTransReq.do` — the payer's browser posts our signed front consume; the sandbox
//!   opens the order (named by `orderId` + `txnTime`) and sends the browser to its cashier;
//! * `GET|POST /cashier/{tn}` — the shared cashier page and decision; after it, a page whose button returns the
//!   payer to `frontUrl` with a signed form, as UnionPay does;
//! * `POST /gateway/api/queryTrans.do` — `origRespCode` of a consume or refund (`34`: no such transaction);
//! * `POST /gateway/api/backTransReq.do` — refunds (`txnType=04`) of a paid consume by `origQryId`, never more
//!   than was paid; the same `orderId` + `txnTime` again answers `12` (duplicate); the result is notified;
//! * `POST /` — the file transfer host (`txnType=76`): the day's ZM file in a zip, zlib-compressed and
//!   base64-encoded in `fileContent`, built from what was processed (`98` when there is nothing);
//! * `POST /behaviour/{order_id}`, `POST /discrepancy` — see the `sandbox` module docs.
//!
//! As at UnionPay, only successful transactions are notified; a declined payment shows in the query. Settlement
//! days here are calendar days in Beijing time (UnionPay's cut-off is 23:00).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use shenfen_gateways::amount::{fen_to_yuan_string, parse_fen_string};
use shenfen_gateways::codec::encode_query;
use shenfen_gateways::statements::EntryKind;
use shenfen_gateways::statements::unionpay::{ZmRecord, write_file_zip, write_zm};
use shenfen_gateways::unionpay::{self, Params};
use shenfen_gateways::{Certificate, RsaPrivateKey};
use time::OffsetDateTime;

use super::{Behaviour, DEFAULT_LATE_DELAY, Discrepancy, cashier_page, random_digits};
use crate::config::Config;
use crate::payments::providers::demo_keys;
use crate::payments::providers::unionpay::txn_time;

#[derive(Clone)]
pub struct UnionpaySandbox(Arc<Inner>);

struct Inner {
    mer_id: String,
    merchant_cert: Certificate,
    signer_key: RsaPrivateKey,
    signer_cert_pem: String,
    /// Where this sandbox is reachable, e.g. `http://127.0.0.1:8080/sandbox/unionpay`.
    base_url: String,
    behaviour: Mutex<Behaviour>,
    discrepancy: Mutex<Discrepancy>,
    late_delay: Duration,
    /// By `tn` (the cashier's id). A stand-in for UnionPay's own database (see the module docs of `sandbox`).
    orders: Mutex<HashMap<String, Order>>,
    http: reqwest::Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Paid,
    Failed,
}

#[derive(Debug, Clone)]
struct Order {
    order_id: String,
    txn_time: String,
    tn: String,
    query_id: String,
    trace_no: String,
    amount_fen: u64,
    front_url: String,
    back_url: String,
    status: Status,
    paid: Option<OffsetDateTime>,
    behaviour: Option<Behaviour>,
    refunds: Vec<SandboxRefund>,
}

#[derive(Debug, Clone)]
struct SandboxRefund {
    order_id: String,
    txn_time: String,
    query_id: String,
    trace_no: String,
    amount_fen: u64,
    req_reserved: String,
    back_url: String,
    at: OffsetDateTime,
}

impl Order {
    fn refunded(&self) -> u64 {
        self.refunds.iter().map(|r| r.amount_fen).sum()
    }
}

impl UnionpaySandbox {
    /// `merchant_cert` verifies our requests (its serial is the `certId` we send); `signer_key` +
    /// `signer_cert_pem` sign answers and notifications.
    pub fn new(mer_id: &str, merchant_cert: Certificate, signer_key: RsaPrivateKey, signer_cert_pem: &str, base_url: &str) -> Self {
        UnionpaySandbox(Arc::new(Inner {
            mer_id: mer_id.to_string(),
            merchant_cert,
            signer_key,
            signer_cert_pem: signer_cert_pem.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
            behaviour: Mutex::new(Behaviour::Normal),
            discrepancy: Mutex::new(Discrepancy::None),
            late_delay: DEFAULT_LATE_DELAY,
            orders: Mutex::new(HashMap::new()),
            http: super::http_client(),
        }))
    }

    /// The demo sandbox: the configured merId, the demo merchant certificate, the demo "UnionPay" signer.
    pub fn from_config(config: &Config, base_url: &str) -> anyhow::Result<Self> {
        let cert = Certificate::from_pem(demo_keys::UNIONPAY_MERCHANT_CERT).map_err(|e| anyhow::anyhow!("demo certificate: {}", e.code()))?;
        let key = RsaPrivateKey::from_pem(demo_keys::UNIONPAY_SIGNER_KEY).map_err(|e| anyhow::anyhow!("demo key: {}", e.code()))?;
        Ok(Self::new(&config.payments.unionpay.mer_id, cert, key, demo_keys::UNIONPAY_SIGNER_CERT, base_url))
    }

    /// Same sandbox, `late` notifications after `delay` (tests use a short one).
    pub fn with_late_delay(self, delay: Duration) -> Self {
        match Arc::try_unwrap(self.0) {
            Ok(mut inner) => {
                inner.late_delay = delay;
                UnionpaySandbox(Arc::new(inner))
            }
            Err(shared) => UnionpaySandbox(shared),
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

pub fn router<S: Clone + Send + Sync + 'static>(sb: UnionpaySandbox) -> Router<S> {
    Router::new()
        .route("/sandbox/unionpay/gateway/api/frontTransReq.do", post(front))
        .route("/sandbox/unionpay/gateway/api/queryTrans.do", post(query))
        .route("/sandbox/unionpay/gateway/api/backTransReq.do", post(back))
        .route("/sandbox/unionpay/", post(file_transfer))
        .route("/sandbox/unionpay/cashier/{tn}", get(cashier).post(decide))
        .route("/sandbox/unionpay/behaviour/{order_id}", post(set_order_behaviour))
        .route("/sandbox/unionpay/discrepancy", post(set_discrepancy))
        .with_state(sb)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `MMDDhhmmss` (traceTime) and `MMDD` (settleDate) of a moment, Beijing time.
fn trace_time(t: OffsetDateTime) -> String {
    txn_time(t)[4..].to_string()
}

fn settle_date(t: OffsetDateTime) -> String {
    txn_time(t)[4..8].to_string()
}

/// Parses a form body and verifies it as a merchant request; `Err` is the (unsigned) refusal, as UnionPay
/// answers requests it cannot verify.
fn verified_request(sb: &Inner, body: &[u8]) -> Result<Params, String> {
    let body = std::str::from_utf8(body).map_err(|_| "respCode=06&respMsg=报文编码错误".to_string())?;
    let params = unionpay::parse_notify_body(body).map_err(|_| "respCode=30&respMsg=报文格式错误".to_string())?;
    if unionpay::verify_request(&params, &sb.merchant_cert).is_err() {
        return Err("respCode=11&respMsg=验证签名失败".into());
    }
    if params.get("version").map(String::as_str) != Some(unionpay::VERSION) {
        return Err("respCode=30&respMsg=版本号错误".into());
    }
    if params.get("merId") != Some(&sb.mer_id) {
        return Err("respCode=30&respMsg=商户代码错误".into());
    }
    Ok(params)
}

/// A signed back-end answer in UnionPay's raw `k=v&…` form.
fn answer(sb: &Inner, request: &Params, fields: &[(&str, String)]) -> Response {
    let mut p = Params::new();
    for k in ["version", "encoding", "bizType", "txnType", "txnSubType", "accessType", "merId", "orderId", "txnTime"] {
        if let Some(v) = request.get(k) {
            p.insert(k.to_string(), v.clone());
        }
    }
    for (k, v) in fields {
        p.insert((*k).to_string(), v.clone());
    }
    match unionpay::sign_notify(&p, &sb.signer_key, &sb.signer_cert_pem) {
        Ok(signed) => ([(header::CONTENT_TYPE, "text/plain;charset=UTF-8")], unionpay::response_body(&signed)).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn field(p: &Params, k: &str) -> String {
    p.get(k).cloned().unwrap_or_default()
}

async fn front(State(sb): State<UnionpaySandbox>, body: Bytes) -> Response {
    let inner = &sb.0;
    let params = match verified_request(inner, &body) {
        Ok(p) => p,
        Err(msg) => return (StatusCode::BAD_REQUEST, super::message_page("云闪付", "交易失败", &msg)).into_response(),
    };
    let (order_id, txn_time, back_url, front_url) = (field(&params, "orderId"), field(&params, "txnTime"), field(&params, "backUrl"), field(&params, "frontUrl"));
    let amount = parse_fen_string(&field(&params, "txnAmt")).ok().filter(|a| *a > 0);
    let ok = field(&params, "txnType") == "01" && order_id.len() >= 8 && txn_time.len() == 14 && !back_url.is_empty();
    let Some(amount) = amount.filter(|_| ok) else {
        return (StatusCode::BAD_REQUEST, super::message_page("云闪付", "交易失败", "respCode=30 报文格式错误")).into_response();
    };
    let tn = {
        let Ok(mut orders) = inner.orders.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        match orders.values().find(|o| o.order_id == order_id && o.txn_time == txn_time) {
            // The browser posting the same form again (back button): the same cashier.
            Some(o) if o.amount_fen == amount => o.tn.clone(),
            Some(_) => return (StatusCode::BAD_REQUEST, super::message_page("云闪付", "交易失败", "respCode=12 重复交易")).into_response(),
            None => {
                let tn = random_digits(21);
                orders.insert(
                    tn.clone(),
                    Order {
                        order_id,
                        txn_time,
                        tn: tn.clone(),
                        query_id: format!("{}{}", &txn_time_digits()[2..], random_digits(9)),
                        trace_no: random_digits(6),
                        amount_fen: amount,
                        front_url,
                        back_url,
                        status: Status::Pending,
                        paid: None,
                        behaviour: None,
                        refunds: vec![],
                    },
                );
                tn
            }
        }
    };
    Redirect::to(&format!("{}/cashier/{tn}", inner.base_url)).into_response()
}

/// `YYYYMMDDhhmmss` now, for ids that start with the date as UnionPay's do.
fn txn_time_digits() -> String {
    txn_time(now())
}

async fn cashier(State(sb): State<UnionpaySandbox>, Path(tn): Path<String>) -> Response {
    let inner = &sb.0;
    let Some(o) = inner.orders.lock().ok().and_then(|o| o.get(&tn).cloned()) else { return (StatusCode::NOT_FOUND, "交易不存在").into_response() };
    if o.status != Status::Pending {
        return super::message_page("云闪付", "", "该订单已处理。").into_response();
    }
    let behaviour = o.behaviour.unwrap_or_else(|| inner.behaviour.lock().map(|b| *b).unwrap_or_default());
    Html(cashier_page("云闪付", &format!("{}/cashier/{tn}", inner.base_url), &o.order_id, &fen_to_yuan_string(o.amount_fen), "商户订单", behaviour)).into_response()
}

async fn decide(State(sb): State<UnionpaySandbox>, Path(tn): Path<String>, axum::Form(d): axum::Form<super::Decision>) -> Response {
    let inner = &sb.0;
    let (approve, requested) = match d.read() {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (order, behaviour) = {
        let Ok(mut orders) = inner.orders.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        let Some(o) = orders.get_mut(&tn) else { return (StatusCode::NOT_FOUND, "交易不存在").into_response() };
        if o.status != Status::Pending {
            return (StatusCode::CONFLICT, "交易状态不合法").into_response();
        }
        if let Some(b) = requested {
            o.behaviour = Some(b);
        }
        if approve {
            o.status = Status::Paid;
            o.paid = Some(now());
        } else {
            o.status = Status::Failed;
        }
        let b = o.behaviour.unwrap_or_else(|| inner.behaviour.lock().map(|b| *b).unwrap_or_default());
        (o.clone(), b)
    };
    let result = consume_result(inner, &order);
    // Only successful transactions are notified.
    if approve {
        deliver(&sb, order.back_url.clone(), result.clone(), behaviour);
    }
    // The browser goes back to frontUrl with the signed result (a form post the payer submits).
    let fields: Vec<(String, String)> = unionpay::sign_notify(&result, &inner.signer_key, &inner.signer_cert_pem).map(|p| p.into_iter().collect()).unwrap_or_default();
    let text = if approve { "支付成功" } else { "已取消支付" };
    let back = (!order.front_url.is_empty()).then_some((order.front_url.as_str(), fields.as_slice()));
    super::return_page("云闪付", text, &format!("订单号：{}", order.order_id), back).into_response()
}

/// The consume's result fields, as its notification and query carry them.
fn consume_result(sb: &Inner, o: &Order) -> Params {
    let mut p = Params::new();
    let paid = o.status == Status::Paid;
    let at = o.paid.unwrap_or_else(now);
    for (k, v) in [
        ("version", unionpay::VERSION.to_string()),
        ("encoding", "UTF-8".into()),
        ("accessType", "0".into()),
        ("bizType", "000201".into()),
        ("txnType", "01".into()),
        ("txnSubType", "01".into()),
        ("currencyCode", "156".into()),
        ("merId", sb.mer_id.clone()),
        ("orderId", o.order_id.clone()),
        ("txnTime", o.txn_time.clone()),
        ("txnAmt", o.amount_fen.to_string()),
        ("queryId", o.query_id.clone()),
        ("traceNo", o.trace_no.clone()),
        ("traceTime", trace_time(at)),
        ("respCode", if paid { "00" } else { "01" }.to_string()),
        ("respMsg", if paid { "成功[0000000]" } else { "交易失败" }.to_string()),
    ] {
        p.insert(k.to_string(), v);
    }
    if paid {
        p.insert("settleAmt".into(), o.amount_fen.to_string());
        p.insert("settleCurrencyCode".into(), "156".into());
        p.insert("settleDate".into(), settle_date(at));
    }
    p
}

fn refund_result(sb: &Inner, o: &Order, r: &SandboxRefund) -> Params {
    let mut p = Params::new();
    for (k, v) in [
        ("version", unionpay::VERSION.to_string()),
        ("encoding", "UTF-8".into()),
        ("accessType", "0".into()),
        ("bizType", "000201".into()),
        ("txnType", "04".into()),
        ("txnSubType", "00".into()),
        ("currencyCode", "156".into()),
        ("merId", sb.mer_id.clone()),
        ("orderId", r.order_id.clone()),
        ("txnTime", r.txn_time.clone()),
        ("txnAmt", r.amount_fen.to_string()),
        ("queryId", r.query_id.clone()),
        ("origQryId", o.query_id.clone()),
        ("traceNo", r.trace_no.clone()),
        ("traceTime", trace_time(r.at)),
        ("settleAmt", r.amount_fen.to_string()),
        ("settleCurrencyCode", "156".into()),
        ("settleDate", settle_date(r.at)),
        ("reqReserved", r.req_reserved.clone()),
        ("respCode", "00".into()),
        ("respMsg", "成功[0000000]".into()),
    ] {
        p.insert(k.to_string(), v);
    }
    p
}

/// Posts a signed notification to `url` per the behaviour (the same signed body each time).
fn deliver(sb: &UnionpaySandbox, url: String, params: Params, behaviour: Behaviour) {
    let inner = &sb.0;
    if behaviour == Behaviour::Lost || url.is_empty() {
        return;
    }
    let Ok(signed) = unionpay::sign_notify(&params, &inner.signer_key, &inner.signer_cert_pem) else { return };
    let body = encode_query(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (times, delay) = match behaviour {
        Behaviour::Twice => (2, Duration::ZERO),
        Behaviour::Late => (1, inner.late_delay),
        _ => (1, Duration::ZERO),
    };
    let http = inner.http.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        for _ in 0..times {
            let sent = http.post(&url).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded;charset=UTF-8").body(body.clone()).send().await;
            if let Err(e) = sent {
                tracing::warn!(provider = "unionpay-sandbox", error = %e, "notification not delivered");
            }
        }
    });
}

async fn query(State(sb): State<UnionpaySandbox>, body: Bytes) -> Response {
    let inner = &sb.0;
    let params = match verified_request(inner, &body) {
        Ok(p) => p,
        Err(msg) => return msg.into_response(),
    };
    let (order_id, txn_time) = (field(&params, "orderId"), field(&params, "txnTime"));
    let found = inner.orders.lock().ok().and_then(|orders| {
        orders.values().find_map(|o| {
            if o.order_id == order_id && o.txn_time == txn_time {
                return Some(consume_result(inner, o));
            }
            o.refunds.iter().find(|r| r.order_id == order_id && r.txn_time == txn_time).map(|r| refund_result(inner, o, r))
        })
    });
    match found {
        // Opened at the gateway but not yet submitted by the payer: UnionPay has no transaction yet.
        Some(r) if r.get("respCode").map(String::as_str) == Some("01") && is_pending(inner, &order_id, &txn_time) => {
            answer(inner, &params, &[("respCode", "34".into()), ("respMsg", "查无此交易".into())])
        }
        Some(r) => {
            let mut fields: Vec<(&str, String)> = vec![("respCode", "00".into()), ("respMsg", "成功[0000000]".into())];
            fields.push(("origRespCode", r.get("respCode").cloned().unwrap_or_default()));
            fields.push(("origRespMsg", r.get("respMsg").cloned().unwrap_or_default()));
            for k in ["queryId", "txnAmt", "traceNo", "traceTime", "settleAmt", "settleDate", "origQryId", "reqReserved", "currencyCode"] {
                if let Some(v) = r.get(k) {
                    fields.push((k, v.clone()));
                }
            }
            answer(inner, &params, &fields)
        }
        None => answer(inner, &params, &[("respCode", "34".into()), ("respMsg", "查无此交易".into())]),
    }
}

fn is_pending(sb: &Inner, order_id: &str, txn_time: &str) -> bool {
    sb.orders.lock().ok().is_some_and(|o| o.values().any(|o| o.order_id == order_id && o.txn_time == txn_time && o.status == Status::Pending))
}

async fn back(State(sb): State<UnionpaySandbox>, body: Bytes) -> Response {
    let inner = &sb.0;
    let params = match verified_request(inner, &body) {
        Ok(p) => p,
        Err(msg) => return msg.into_response(),
    };
    if field(&params, "txnType") != "04" {
        return answer(inner, &params, &[("respCode", "40".into()), ("respMsg", "交易类型不支持".into())]);
    }
    let (order_id, txn_time, orig) = (field(&params, "orderId"), field(&params, "txnTime"), field(&params, "origQryId"));
    let Some(amount) = parse_fen_string(&field(&params, "txnAmt")).ok().filter(|a| *a > 0) else {
        return answer(inner, &params, &[("respCode", "30".into()), ("respMsg", "交易金额格式错误".into())]);
    };
    let (order, refund, behaviour) = {
        let Ok(mut orders) = inner.orders.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        if orders.values().any(|o| o.refunds.iter().any(|r| r.order_id == order_id && r.txn_time == txn_time)) {
            return answer(inner, &params, &[("respCode", "12".into()), ("respMsg", "重复交易".into())]);
        }
        let Some(o) = orders.values_mut().find(|o| o.query_id == orig) else {
            return answer(inner, &params, &[("respCode", "35".into()), ("respMsg", "原交易不存在".into())]);
        };
        if o.status != Status::Paid {
            return answer(inner, &params, &[("respCode", "36".into()), ("respMsg", "原交易状态不正确".into())]);
        }
        if o.refunded() + amount > o.amount_fen {
            return answer(inner, &params, &[("respCode", "61".into()), ("respMsg", "退货金额超过原交易可退金额".into())]);
        }
        let r = SandboxRefund {
            order_id,
            txn_time,
            query_id: format!("{}{}", &txn_time_digits()[2..], random_digits(9)),
            trace_no: random_digits(6),
            amount_fen: amount,
            req_reserved: field(&params, "reqReserved"),
            back_url: field(&params, "backUrl"),
            at: now(),
        };
        o.refunds.push(r.clone());
        let b = o.behaviour.unwrap_or_else(|| inner.behaviour.lock().map(|b| *b).unwrap_or_default());
        (o.clone(), r, b)
    };
    deliver(&sb, refund.back_url.clone(), refund_result(inner, &order, &refund), behaviour);
    answer(inner, &params, &[("respCode", "00".into()), ("respMsg", "成功[0000000]".into()), ("queryId", refund.query_id.clone())])
}

async fn file_transfer(State(sb): State<UnionpaySandbox>, body: Bytes) -> Response {
    let inner = &sb.0;
    let params = match verified_request(inner, &body) {
        Ok(p) => p,
        Err(msg) => return msg.into_response(),
    };
    let settle = field(&params, "settleDate");
    if field(&params, "txnType") != "76" || settle.len() != 4 || !settle.bytes().all(|b| b.is_ascii_digit()) {
        return answer(inner, &params, &[("respCode", "30".into()), ("respMsg", "报文格式错误".into())]);
    }
    let orders: Vec<Order> = inner.orders.lock().map(|o| o.values().cloned().collect()).unwrap_or_default();
    let mut rows: Vec<(OffsetDateTime, ZmRecord)> = Vec::new();
    for o in &orders {
        if let Some(paid) = o.paid.filter(|p| settle_date(*p) == settle) {
            rows.push((paid, ZmRecord {
                kind: EntryKind::Payment,
                trace_no: o.trace_no.clone(),
                trace_time: trace_time(paid),
                amount_fen: o.amount_fen,
                query_id: o.query_id.clone(),
                order_id: o.order_id.clone(),
                txn_type: "01".into(),
                orig_query_id: String::new(),
                mer_id: inner.mer_id.clone(),
                req_reserved: String::new(),
                orig_order_id: String::new(),
            }));
        }
        for r in o.refunds.iter().filter(|r| settle_date(r.at) == settle) {
            rows.push((r.at, ZmRecord {
                kind: EntryKind::Refund,
                trace_no: r.trace_no.clone(),
                trace_time: trace_time(r.at),
                amount_fen: r.amount_fen,
                query_id: r.query_id.clone(),
                order_id: r.order_id.clone(),
                txn_type: "04".into(),
                orig_query_id: o.query_id.clone(),
                mer_id: inner.mer_id.clone(),
                req_reserved: r.req_reserved.clone(),
                orig_order_id: o.order_id.clone(),
            }));
        }
    }
    rows.sort_by_key(|r| r.0);
    let mut records: Vec<ZmRecord> = rows.into_iter().map(|r| r.1).collect();
    let d = inner.discrepancy.lock().map(|d| *d).unwrap_or_default();
    d.apply(&mut records, |r| r.kind == EntryKind::Payment, |r| r.amount_fen += 1, |r| ZmRecord { order_id: super::phantom_order_no(), query_id: random_digits(21), ..r.clone() });
    if records.is_empty() {
        return answer(inner, &params, &[("respCode", "98".into()), ("respMsg", "文件不存在".into())]);
    }
    let yymmdd = format!("{}{settle}", &txn_time_digits()[2..4]);
    let zip = write_file_zip(&yymmdd, &inner.mer_id, &write_zm(&records));
    answer(
        inner,
        &params,
        &[
            ("respCode", "00".into()),
            ("respMsg", "成功[0000000]".into()),
            ("fileType", "00".into()),
            ("settleDate", settle.clone()),
            ("fileName", format!("{}_{yymmdd}.zip", inner.mer_id)),
            ("fileContent", unionpay::encode_file_content(&zip)),
        ],
    )
}

#[derive(Deserialize)]
struct BehaviourForm {
    behaviour: String,
}

async fn set_order_behaviour(State(sb): State<UnionpaySandbox>, Path(order_id): Path<String>, axum::Form(f): axum::Form<BehaviourForm>) -> Response {
    let Some(b) = Behaviour::parse(&f.behaviour) else {
        return (StatusCode::BAD_REQUEST, "behaviour must be normal, late, twice or lost").into_response();
    };
    let Ok(mut orders) = sb.0.orders.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let mut found = false;
    for o in orders.values_mut().filter(|o| o.order_id == order_id) {
        o.behaviour = Some(b);
        found = true;
    }
    if found { StatusCode::NO_CONTENT.into_response() } else { (StatusCode::NOT_FOUND, "交易不存在").into_response() }
}

async fn set_discrepancy(State(sb): State<UnionpaySandbox>, axum::Form(f): axum::Form<super::DiscrepancyForm>) -> Response {
    match f.read() {
        Ok(d) => {
            sb.set_discrepancy(d);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => r,
    }
}
