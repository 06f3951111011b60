//! The Alipay sandbox: `gateway.do` accepting our RSA2-signed requests (`alipay.trade.wap.pay` as a browser GET,
//! `precreate` / `query` / `close` / `refund` as form POSTs), answering with signed `<method>_response` bodies
//! exactly as Alipay does (failures: `code` 40004 with `ACQ.*` sub-codes; a bad signature: 40002
//! `isv.invalid-signature`), a cashier page, a scan endpoint for precreate QR codes, `trade_status_sync`
//! notifications signed with the sandbox's key, and a daily statement.
//!
//! Endpoints (under `/sandbox/alipay`):
//! * `GET|POST /gateway.do` — the OpenAPI gateway;
//! * `GET /cashier/{trade_no}` — the cashier page (the wap.pay redirect lands here); `POST` = approve/decline
//!   (form `decision=approve|decline`, optional `behaviour=normal|late|twice|lost`);
//! * `GET /qr/{trade_no}` — what scanning a precreate `qr_code` opens (the same cashier page);
//! * `POST /behaviour/{out_trade_no}` — form `behaviour=…`: how this order's notification is delivered;
//! * `alipay.data.dataservice.bill.downloadurl.query` (through the gateway) — the `trade` bill of a day, built
//!   from what the sandbox processed: answers a `bill_download_url` at
//!   `GET /downloadBillFile.resource?…&fileId=…`, which serves the zip of GBK CSV files as Alipay does
//!   (`shenfen_gateways::statements::alipay`); no activity that day: `isp.bill_not_exist`;
//! * `POST /discrepancy` — form `kind=…`: see the `sandbox` module docs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::Deserialize;
use shenfen_gateways::alipay::{self, Params};
use shenfen_gateways::amount::{fen_to_yuan_string, parse_yuan_string};
use shenfen_gateways::codec::{encode_query, parse_form};
use shenfen_gateways::{RsaPrivateKey, RsaPublicKey};
use shenfen_gateways::statements::EntryKind;
use shenfen_gateways::statements::alipay::{BillRow, write_bill_zip, write_detail_csv};
use time::OffsetDateTime;

use super::{Behaviour, DEFAULT_LATE_DELAY, Discrepancy, cashier_page, random_digits};
use crate::config::Config;
use crate::payments::providers::{demo_keys, pem};

#[derive(Clone)]
pub struct AlipaySandbox(Arc<Inner>);

struct Inner {
    app_id: String,
    merchant_public_key: RsaPublicKey,
    provider_key: RsaPrivateKey,
    /// Where this sandbox is reachable, e.g. `http://127.0.0.1:8080/sandbox/alipay`.
    base_url: String,
    behaviour: Mutex<Behaviour>,
    discrepancy: Mutex<Discrepancy>,
    late_delay: Duration,
    /// By out_trade_no. A stand-in for Alipay's own database (see the module docs of `sandbox`).
    orders: Mutex<HashMap<String, Order>>,
    /// Bill archives by download token.
    files: Mutex<HashMap<String, Vec<u8>>>,
    http: reqwest::Client,
}

#[derive(Debug, Clone)]
struct Order {
    out_trade_no: String,
    trade_no: String,
    subject: String,
    total_fen: u64,
    notify_url: Option<String>,
    status: &'static str,
    created: OffsetDateTime,
    paid: Option<OffsetDateTime>,
    behaviour: Option<Behaviour>,
    /// (out_request_no, fen, at)
    refunds: Vec<(String, u64, OffsetDateTime)>,
}

impl Order {
    fn refunded(&self) -> u64 {
        self.refunds.iter().map(|r| r.1).sum()
    }
}

impl AlipaySandbox {
    /// `merchant_public_key` verifies our requests; `provider_key` signs responses and notifications.
    pub fn new(app_id: &str, merchant_public_key: RsaPublicKey, provider_key: RsaPrivateKey, base_url: &str) -> Self {
        AlipaySandbox(Arc::new(Inner {
            app_id: app_id.to_string(),
            merchant_public_key,
            provider_key,
            base_url: base_url.trim_end_matches('/').to_string(),
            behaviour: Mutex::new(Behaviour::Normal),
            discrepancy: Mutex::new(Discrepancy::None),
            late_delay: DEFAULT_LATE_DELAY,
            orders: Mutex::new(HashMap::new()),
            files: Mutex::new(HashMap::new()),
            http: super::http_client(),
        }))
    }

    /// The demo sandbox: accepts the configured app id signed with the demo merchant key (or the configured
    /// merchant public key), signs with the demo "Alipay" key.
    pub fn from_config(config: &Config, base_url: &str) -> anyhow::Result<Self> {
        let merchant = RsaPublicKey::from_spki_pem(demo_keys::MERCHANT_PUB).map_err(|e| anyhow::anyhow!("demo key: {}", e.code()))?;
        let key = pem(&None, &None, demo_keys::PLATFORM_KEY, true, "sandbox key")?;
        let key = RsaPrivateKey::from_pem(&key).map_err(|e| anyhow::anyhow!("demo key: {}", e.code()))?;
        Ok(Self::new(&config.payments.alipay.app_id, merchant, key, base_url))
    }

    /// Same sandbox, `late` notifications after `delay` (tests use a short one).
    pub fn with_late_delay(self, delay: Duration) -> Self {
        match Arc::try_unwrap(self.0) {
            Ok(mut inner) => {
                inner.late_delay = delay;
                AlipaySandbox(Arc::new(inner))
            }
            Err(shared) => AlipaySandbox(shared),
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

pub fn router<S: Clone + Send + Sync + 'static>(sb: AlipaySandbox) -> Router<S> {
    Router::new()
        .route("/sandbox/alipay/gateway.do", any(gateway))
        .route("/sandbox/alipay/cashier/{trade_no}", get(cashier).post(decide))
        .route("/sandbox/alipay/qr/{trade_no}", get(cashier))
        .route("/sandbox/alipay/behaviour/{out_trade_no}", post(set_order_behaviour))
        .route("/sandbox/alipay/downloadBillFile.resource", get(download_bill))
        .route("/sandbox/alipay/discrepancy", post(set_discrepancy))
        .with_state(sb)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn params_from(s: &str) -> Option<Params> {
    let mut p = Params::new();
    for (k, v) in parse_form(s).ok()? {
        if p.insert(k, v).is_some() {
            return None;
        }
    }
    Some(p)
}

/// A signed `<method>_response` (or `error_response` when the method is unknown).
fn signed(sb: &Inner, method: &str, member: serde_json::Value) -> Response {
    let key = if method.is_empty() { "error_response".to_string() } else { alipay::response_member_name(method) };
    match alipay::sign_response(&key, &member.to_string(), &sb.provider_key) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json;charset=utf-8")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn failure(code: &str, msg: &str, sub_code: &str, sub_msg: &str) -> serde_json::Value {
    serde_json::json!({"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg})
}

fn biz_failure(sub_code: &str, sub_msg: &str) -> serde_json::Value {
    failure("40004", "Business Failed", sub_code, sub_msg)
}

async fn gateway(State(sb): State<AlipaySandbox>, method: Method, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let sb = &sb.0;
    let raw = if method == Method::GET { query.unwrap_or_default() } else { String::from_utf8_lossy(&body).into_owned() };
    let Some(params) = params_from(&raw) else {
        return signed(sb, "", failure("40002", "Invalid Arguments", "isv.invalid-parameter", "参数无效"));
    };
    let api = params.get("method").cloned().unwrap_or_default();
    if alipay::verify_request(&params, &sb.merchant_public_key).is_err() {
        return signed(sb, &api, failure("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错"));
    }
    if params.get("app_id") != Some(&sb.app_id) {
        return signed(sb, &api, failure("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数"));
    }
    let biz: serde_json::Value = match params.get("biz_content").map(|b| serde_json::from_str(b)) {
        Some(Ok(v)) => v,
        _ => return signed(sb, &api, failure("40002", "Invalid Arguments", "isv.invalid-parameter", "biz_content 无效")),
    };
    let field = |k: &str| biz.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let out_trade_no = field("out_trade_no");
    match api.as_str() {
        "alipay.data.dataservice.bill.downloadurl.query" => bill_download_url(sb, &api, &field("bill_type"), &field("bill_date")),
        "alipay.trade.wap.pay" | "alipay.trade.precreate" => {
            let Ok(total) = parse_yuan_string(&field("total_amount")) else {
                return signed(sb, &api, failure("40002", "Invalid Arguments", "isv.invalid-parameter", "total_amount 无效"));
            };
            if out_trade_no.is_empty() || total == 0 {
                return signed(sb, &api, failure("40002", "Invalid Arguments", "isv.missing-parameter", "缺少参数"));
            }
            let trade_no = {
                let Ok(mut orders) = sb.orders.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
                let order = orders.entry(out_trade_no.clone()).or_insert_with(|| Order {
                    out_trade_no: out_trade_no.clone(),
                    trade_no: format!("{}{}", time_digits(now()), random_digits(12)),
                    subject: field("subject"),
                    total_fen: total,
                    notify_url: params.get("notify_url").cloned(),
                    status: "WAIT_BUYER_PAY",
                    created: now(),
                    paid: None,
                    behaviour: None,
                    refunds: vec![],
                });
                if order.total_fen != total {
                    return signed(sb, &api, biz_failure("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"));
                }
                order.trade_no.clone()
            };
            if api == "alipay.trade.wap.pay" {
                // The real gateway answers the browser with the cashier; ours redirects to its cashier page.
                return (StatusCode::FOUND, [(header::LOCATION, format!("{}/cashier/{trade_no}", sb.base_url))]).into_response();
            }
            signed(
                sb,
                &api,
                serde_json::json!({"code": "10000", "msg": "Success", "out_trade_no": out_trade_no, "qr_code": format!("{}/qr/{trade_no}", sb.base_url)}),
            )
        }
        "alipay.trade.query" => {
            let order = sb.orders.lock().ok().and_then(|o| o.get(&out_trade_no).cloned());
            match order {
                None => signed(sb, &api, biz_failure("ACQ.TRADE_NOT_EXIST", "交易不存在")),
                Some(o) => {
                    let mut m = serde_json::json!({
                        "code": "10000", "msg": "Success", "out_trade_no": o.out_trade_no, "trade_no": o.trade_no,
                        "trade_status": o.status, "total_amount": fen_to_yuan_string(o.total_fen),
                    });
                    if let Some(p) = o.paid {
                        m["send_pay_date"] = serde_json::Value::String(alipay::format_timestamp(p));
                    }
                    signed(sb, &api, m)
                }
            }
        }
        "alipay.trade.close" => {
            let Ok(mut orders) = sb.orders.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
            match orders.get_mut(&out_trade_no) {
                None => signed(sb, &api, biz_failure("ACQ.TRADE_NOT_EXIST", "交易不存在")),
                Some(o) if o.status == "WAIT_BUYER_PAY" || o.status == "TRADE_CLOSED" => {
                    o.status = "TRADE_CLOSED";
                    signed(sb, &api, serde_json::json!({"code": "10000", "msg": "Success", "out_trade_no": o.out_trade_no, "trade_no": o.trade_no}))
                }
                Some(_) => signed(sb, &api, biz_failure("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")),
            }
        }
        "alipay.trade.refund" => {
            let request_no = field("out_request_no");
            let Ok(amount) = parse_yuan_string(&field("refund_amount")) else {
                return signed(sb, &api, failure("40002", "Invalid Arguments", "isv.invalid-parameter", "refund_amount 无效"));
            };
            let Ok(mut orders) = sb.orders.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
            let Some(o) = orders.get_mut(&out_trade_no) else {
                return signed(sb, &api, biz_failure("ACQ.TRADE_NOT_EXIST", "交易不存在"));
            };
            if o.status != "TRADE_SUCCESS" {
                return signed(sb, &api, biz_failure("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"));
            }
            // Same out_request_no = the same refund again: no money moves (`fund_change=N`).
            let fund_change = if o.refunds.iter().any(|r| r.0 == request_no) {
                "N"
            } else {
                if amount == 0 || o.refunded() + amount > o.total_fen {
                    return signed(sb, &api, biz_failure("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"));
                }
                o.refunds.push((request_no, amount, now()));
                "Y"
            };
            signed(
                sb,
                &api,
                serde_json::json!({
                    "code": "10000", "msg": "Success", "out_trade_no": o.out_trade_no, "trade_no": o.trade_no,
                    "refund_fee": fen_to_yuan_string(o.refunded()), "fund_change": fund_change,
                }),
            )
        }
        _ => signed(sb, &api, failure("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")),
    }
}

fn time_digits(t: OffsetDateTime) -> String {
    alipay::format_timestamp(t).chars().filter(char::is_ascii_digit).take(8).collect()
}

fn find_by_trade_no(sb: &Inner, trade_no: &str) -> Option<Order> {
    sb.orders.lock().ok()?.values().find(|o| o.trade_no == trade_no).cloned()
}

async fn cashier(State(sb): State<AlipaySandbox>, Path(trade_no): Path<String>) -> Response {
    let sb = &sb.0;
    let Some(o) = find_by_trade_no(sb, &trade_no) else { return (StatusCode::NOT_FOUND, "交易不存在").into_response() };
    if o.status != "WAIT_BUYER_PAY" {
        return super::message_page("支付宝", "", &format!("该订单已处理（{}）。", o.status)).into_response();
    }
    let behaviour = o.behaviour.unwrap_or_else(|| sb.behaviour.lock().map(|b| *b).unwrap_or_default());
    Html(cashier_page(
        "支付宝",
        &format!("{}/cashier/{trade_no}", sb.base_url),
        &o.out_trade_no,
        &fen_to_yuan_string(o.total_fen),
        &o.subject,
        behaviour,
    ))
    .into_response()
}

async fn decide(State(sb): State<AlipaySandbox>, Path(trade_no): Path<String>, axum::Form(d): axum::Form<super::Decision>) -> Response {
    let inner = &sb.0;
    let (approve, requested) = match d.read() {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (order, behaviour) = {
        let Ok(mut orders) = inner.orders.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        let Some(o) = orders.values_mut().find(|o| o.trade_no == trade_no) else {
            return (StatusCode::NOT_FOUND, "交易不存在").into_response();
        };
        if o.status != "WAIT_BUYER_PAY" {
            return (StatusCode::CONFLICT, "交易状态不合法").into_response();
        }
        if let Some(b) = requested {
            o.behaviour = Some(b);
        }
        if approve {
            o.status = "TRADE_SUCCESS";
            o.paid = Some(now());
        } else {
            o.status = "TRADE_CLOSED";
        }
        let b = o.behaviour.unwrap_or_else(|| inner.behaviour.lock().map(|b| *b).unwrap_or_default());
        (o.clone(), b)
    };
    deliver(&sb, &order, behaviour);
    let text = if approve { "支付成功" } else { "已取消支付" };
    super::message_page("支付宝", text, &format!("订单号：{}", order.out_trade_no)).into_response()
}

/// Posts the signed `trade_status_sync` notification per the behaviour.
fn deliver(sb: &AlipaySandbox, o: &Order, behaviour: Behaviour) {
    let inner = &sb.0;
    let Some(url) = o.notify_url.clone() else { return };
    if behaviour == Behaviour::Lost {
        return;
    }
    let mut p = Params::new();
    let t = now();
    let mut put = |k: &str, v: String| {
        p.insert(k.to_string(), v);
    };
    put("notify_time", alipay::format_timestamp(t));
    put("notify_type", "trade_status_sync".into());
    put("notify_id", random_digits(34));
    put("charset", "utf-8".into());
    put("version", "1.0".into());
    put("app_id", inner.app_id.clone());
    put("out_trade_no", o.out_trade_no.clone());
    put("trade_no", o.trade_no.clone());
    put("trade_status", o.status.to_string());
    put("total_amount", fen_to_yuan_string(o.total_fen));
    put("subject", o.subject.clone());
    put("gmt_create", alipay::format_timestamp(o.created));
    if let Some(paid) = o.paid {
        put("receipt_amount", fen_to_yuan_string(o.total_fen));
        put("gmt_payment", alipay::format_timestamp(paid));
    } else {
        put("gmt_close", alipay::format_timestamp(t));
    }
    let Ok(signed) = alipay::sign_notify(&p, &inner.provider_key) else { return };
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
            let sent = http
                .post(&url)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded;charset=utf-8")
                .body(body.clone())
                .send()
                .await;
            if let Err(e) = sent {
                tracing::warn!(provider = "alipay-sandbox", error = %e, "notification not delivered");
            }
        }
    });
}

#[derive(Deserialize)]
struct BehaviourForm {
    behaviour: String,
}

async fn set_order_behaviour(State(sb): State<AlipaySandbox>, Path(out_trade_no): Path<String>, axum::Form(f): axum::Form<BehaviourForm>) -> Response {
    let Some(b) = Behaviour::parse(&f.behaviour) else {
        return (StatusCode::BAD_REQUEST, "behaviour must be normal, late, twice or lost").into_response();
    };
    let Ok(mut orders) = sb.0.orders.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    match orders.get_mut(&out_trade_no) {
        Some(o) => {
            o.behaviour = Some(b);
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::NOT_FOUND, "交易不存在").into_response(),
    }
}

/// The bill rows of `day` (payments and refunds finished that day, Beijing time), in time order, with the
/// sandbox's discrepancy applied.
fn bill_rows(sb: &Inner, day: time::Date) -> Vec<BillRow> {
    let beijing = time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let on_day = |t: OffsetDateTime| t.to_offset(beijing).date() == day;
    let orders: Vec<Order> = sb.orders.lock().map(|o| o.values().cloned().collect()).unwrap_or_default();
    let mut rows: Vec<(OffsetDateTime, BillRow)> = Vec::new();
    for o in &orders {
        let row = |kind, finished: OffsetDateTime, amount_fen, refund_no: Option<String>| BillRow {
            trade_no: o.trade_no.clone(),
            out_trade_no: o.out_trade_no.clone(),
            kind,
            subject: o.subject.clone(),
            created: alipay::format_timestamp(o.created),
            finished: alipay::format_timestamp(finished),
            order_fen: o.total_fen,
            amount_fen,
            refund_no,
        };
        if let Some(paid) = o.paid.filter(|p| on_day(*p)) {
            rows.push((paid, row(EntryKind::Payment, paid, o.total_fen, None)));
        }
        for (no, fen, at) in o.refunds.iter().filter(|r| on_day(r.2)) {
            rows.push((*at, row(EntryKind::Refund, *at, *fen, Some(no.clone()))));
        }
    }
    rows.sort_by_key(|r| r.0);
    let mut rows: Vec<BillRow> = rows.into_iter().map(|r| r.1).collect();
    let d = sb.discrepancy.lock().map(|d| *d).unwrap_or_default();
    d.apply(&mut rows, |r| r.kind == EntryKind::Payment, |r| r.amount_fen += 1, |r| BillRow { out_trade_no: super::phantom_order_no(), trade_no: format!("{}{}", time_digits(now()), random_digits(16)), ..r.clone() });
    rows
}

/// `alipay.data.dataservice.bill.downloadurl.query`: builds the archive now and answers a one-off URL for it.
fn bill_download_url(sb: &Inner, api: &str, bill_type: &str, bill_date: &str) -> Response {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let Ok(day) = time::Date::parse(bill_date, &fmt) else {
        return signed(sb, api, failure("40004", "Business Failed", "isp.bill_date_invalid", "账单日期格式不正确"));
    };
    if bill_type != "trade" {
        return signed(sb, api, failure("40004", "Business Failed", "isp.bill_type_invalid", "账单类型不正确"));
    }
    let rows = bill_rows(sb, day);
    if rows.is_empty() {
        return signed(sb, api, biz_failure("isp.bill_not_exist", "账单不存在"));
    }
    let csv = write_detail_csv(&sb.app_id, day, &rows, &alipay::format_timestamp(now()));
    let archive = write_bill_zip(&sb.app_id, day, &csv);
    let token = random_digits(24);
    if let Ok(mut files) = sb.files.lock() {
        // Download URLs are short-lived: only the latest few are kept.
        if files.len() >= 32 {
            files.clear();
        }
        files.insert(token.clone(), archive);
    }
    let ymd = bill_date.replace('-', "");
    let url = format!(
        "{}/downloadBillFile.resource?bizType=trade&userId={app}&fileType=csv.zip&bizDates={ymd}&downloadFileName={app}_{ymd}.csv.zip&fileId={token}",
        sb.base_url,
        app = sb.app_id
    );
    signed(sb, api, serde_json::json!({"code": "10000", "msg": "Success", "bill_download_url": url}))
}

#[derive(Deserialize)]
struct DownloadQuery {
    #[serde(rename = "fileId", default)]
    file_id: String,
}

async fn download_bill(State(sb): State<AlipaySandbox>, Query(q): Query<DownloadQuery>) -> Response {
    match sb.0.files.lock().ok().and_then(|f| f.get(&q.file_id).cloned()) {
        Some(archive) => ([(header::CONTENT_TYPE, "application/zip")], archive).into_response(),
        None => (StatusCode::NOT_FOUND, "文件不存在或已过期").into_response(),
    }
}

async fn set_discrepancy(State(sb): State<AlipaySandbox>, axum::Form(f): axum::Form<super::DiscrepancyForm>) -> Response {
    match f.read() {
        Ok(d) => {
            sb.set_discrepancy(d);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => r,
    }
}
