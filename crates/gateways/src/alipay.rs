//! Alipay OpenAPI (`gateway.do`), RSA2 = SHA256withRSA, PKCS#1 v1.5.
//!
//! * Requests: every parameter except `sign` (so `sign_type` IS signed), empty values dropped, keys sorted by
//!   byte order, raw (not URL-encoded) `k=v` joined with `&`. See [`sign_content`], [`sign_request`].
//! * Asynchronous notifications: the same but `sign` AND `sign_type` excluded, over URL-decoded values. See
//!   [`verify_notify`]. (Alipay's app-gateway / service-market messages keep `sign_type`: [`verify_params_v2`].)
//! * Synchronous responses: the signature covers the raw bytes of the `<method>_response` JSON member exactly as
//!   received, not a re-serialisation. See [`verify_sync_response`].
//! * Certificate mode: `app_cert_sn` / `alipay_root_cert_sn` = md5 of issuer DN (reversed RDNs) + decimal serial.
//!   See [`cert_sn`], [`root_cert_sn`].
//!
//! Server-side mirror for a sandbox: [`verify_request`], [`sign_notify`], [`sign_response`].
//!
//! Provider facts the caller must design for: notifications are retried for about 25 h until the body `success`
//! is returned, so handling must be idempotent and fast; after a verified notification, still check `app_id`,
//! `seller_id` and that `total_amount_fen` equals the order's amount. A browser returning from the cashier page
//! (`return_url`) carries no authoritative result: query the order.

use std::collections::BTreeMap;

use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::amount::{fen_to_yuan_string, parse_yuan_string};
use crate::codec::{encode_query, parse_form};
use crate::error::{GatewayError, Result};
use crate::http::{HttpMethod, HttpRequest};
use crate::keys::{Certificate, RsaPrivateKey, RsaPublicKey};

/// Production gateway.
pub const GATEWAY_URL: &str = "https://openapi.alipay.com/gateway.do";
/// Alipay's developer sandbox gateway.
pub const SANDBOX_GATEWAY_URL: &str = "https://openapi-sandbox.dl.alipaydev.com/gateway.do";

/// Parameters by name; a `BTreeMap<String, _>` iterates in byte order, which is Alipay's sort order.
pub type Params = BTreeMap<String, String>;

/// Beijing time: Alipay's `timestamp`, `gmt_payment`, … are wall-clock UTC+8 without an offset.
const BEIJING: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

fn content_excluding(params: &Params, excluded: &[&str]) -> String {
    params
        .iter()
        .filter(|(k, v)| !v.is_empty() && !excluded.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Request string-to-sign: all parameters but `sign` (`sign_type` kept), empty values dropped, sorted, raw
/// `k=v` joined with `&`.
pub fn sign_content(params: &Params) -> String {
    content_excluding(params, &["sign"])
}

/// Notification string-to-sign: like [`sign_content`] but `sign_type` is excluded too (Alipay's `rsaCheckV1`).
pub fn notify_sign_content(params: &Params) -> String {
    content_excluding(params, &["sign", "sign_type"])
}

fn require_rsa2(params: &Params) -> Result<()> {
    match params.get("sign_type").map(String::as_str) {
        None | Some("RSA2") => Ok(()),
        Some(other) => Err(GatewayError::UnsupportedAlgorithm(other.to_owned())),
    }
}

fn signature_of(params: &Params) -> Result<&str> {
    params
        .get("sign")
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(GatewayError::MissingSignature)
}

// ---------------------------------------------------------------------------------------------------------------
// Merchant side: building signed requests.

/// Merchant configuration for building requests.
#[derive(Debug, Clone)]
pub struct AlipayConfig {
    /// [`GATEWAY_URL`] or [`SANDBOX_GATEWAY_URL`] (or a local sandbox).
    pub gateway_url: String,
    pub app_id: String,
    /// The application private key ("应用私钥").
    pub private_key: RsaPrivateKey,
    /// Where Alipay posts asynchronous notifications; sent with every request that can cause one.
    pub notify_url: Option<String>,
    /// Certificate mode ("公钥证书模式"): serial numbers sent with every request. `None` = public-key mode.
    pub cert_sns: Option<CertSns>,
}

/// `app_cert_sn` and `alipay_root_cert_sn` for certificate mode (see [`cert_sn`], [`root_cert_sn`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSns {
    pub app_cert_sn: String,
    pub alipay_root_cert_sn: String,
}

fn yuan<S: Serializer>(fen: &u64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&fen_to_yuan_string(*fen))
}

/// A business request: its API method name and its `biz_content` JSON.
pub trait BizRequest {
    /// Alipay method name, e.g. `alipay.trade.query`.
    fn method(&self) -> &'static str;
    /// The `biz_content` JSON.
    fn biz_content(&self) -> Result<String>;
    /// `return_url` for cashier pages (only page methods have one).
    fn return_url(&self) -> Option<&str> {
        None
    }
    /// Whether the request is a page the user's browser is sent to (GET redirect) rather than a server call.
    fn is_page(&self) -> bool {
        false
    }
}

/// `alipay.trade.wap.pay`: mobile-web cashier page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WapPay {
    pub out_trade_no: String,
    #[serde(rename = "total_amount", serialize_with = "yuan")]
    pub total_amount_fen: u64,
    pub subject: String,
    /// Where the "back" button of the cashier leads (required by current Alipay docs).
    pub quit_url: String,
    /// Absolute expiry, `yyyy-MM-dd HH:mm:ss` Beijing time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
    /// Browser return after payment; not authoritative for the result.
    #[serde(skip)]
    pub return_url: Option<String>,
}

/// `alipay.trade.precreate`: returns a QR code (`qr_code`) for the user to scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Precreate {
    pub out_trade_no: String,
    #[serde(rename = "total_amount", serialize_with = "yuan")]
    pub total_amount_fen: u64,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
}

/// `alipay.trade.query` by our order number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradeQuery {
    pub out_trade_no: String,
}

/// `alipay.trade.refund`. `out_request_no` identifies this refund (retries with the same value are idempotent;
/// needed for partial refunds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradeRefund {
    pub out_trade_no: String,
    #[serde(rename = "refund_amount", serialize_with = "yuan")]
    pub refund_amount_fen: u64,
    pub out_request_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<String>,
}

/// `alipay.trade.close`: close an unpaid trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradeClose {
    pub out_trade_no: String,
}

/// `alipay.data.dataservice.bill.downloadurl.query`: where to download one day's bill (`bill_type` `trade`,
/// `bill_date` `yyyy-MM-dd`); read the archive with [`crate::statements::alipay::parse_bill_zip`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BillDownloadUrlQuery {
    pub bill_type: String,
    pub bill_date: String,
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(GatewayError::json)
}

impl BizRequest for WapPay {
    fn method(&self) -> &'static str {
        "alipay.trade.wap.pay"
    }
    fn biz_content(&self) -> Result<String> {
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(flatten)]
            inner: &'a WapPay,
            product_code: &'static str,
        }
        to_json(&Wire {
            inner: self,
            product_code: "QUICK_WAP_WAY",
        })
    }
    fn return_url(&self) -> Option<&str> {
        self.return_url.as_deref()
    }
    fn is_page(&self) -> bool {
        true
    }
}

impl BizRequest for Precreate {
    fn method(&self) -> &'static str {
        "alipay.trade.precreate"
    }
    fn biz_content(&self) -> Result<String> {
        to_json(self)
    }
}

impl BizRequest for TradeQuery {
    fn method(&self) -> &'static str {
        "alipay.trade.query"
    }
    fn biz_content(&self) -> Result<String> {
        to_json(self)
    }
}

impl BizRequest for TradeRefund {
    fn method(&self) -> &'static str {
        "alipay.trade.refund"
    }
    fn biz_content(&self) -> Result<String> {
        to_json(self)
    }
}

impl BizRequest for BillDownloadUrlQuery {
    fn method(&self) -> &'static str {
        "alipay.data.dataservice.bill.downloadurl.query"
    }
    fn biz_content(&self) -> Result<String> {
        to_json(self)
    }
}

impl BizRequest for TradeClose {
    fn method(&self) -> &'static str {
        "alipay.trade.close"
    }
    fn biz_content(&self) -> Result<String> {
        to_json(self)
    }
}

/// A signed request: all parameters including `sign`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub gateway_url: String,
    pub method: &'static str,
    pub params: Params,
    is_page: bool,
}

impl SignedRequest {
    /// `gateway?k=v&…` with every parameter RFC 3986 encoded: the redirect target for page methods.
    pub fn redirect_url(&self) -> String {
        let sep = if self.gateway_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}{}",
            self.gateway_url,
            encode_query(self.params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        )
    }

    /// The HTTP request: a GET of [`Self::redirect_url`] for page methods, otherwise a form POST to the gateway.
    pub fn http_request(&self) -> HttpRequest {
        if self.is_page {
            return HttpRequest {
                method: HttpMethod::Get,
                url: self.redirect_url(),
                headers: vec![],
                body: String::new(),
            };
        }
        HttpRequest {
            method: HttpMethod::Post,
            url: self.gateway_url.clone(),
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded;charset=utf-8".into(),
            )],
            body: encode_query(self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        }
    }
}

/// Alipay's `timestamp` parameter: `yyyy-MM-dd HH:mm:ss` in Beijing time.
pub fn format_timestamp(at: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    // Formatting a valid OffsetDateTime with this description cannot fail for years 0..=9999.
    at.to_offset(BEIJING).format(&fmt).unwrap_or_default()
}

/// Builds and signs the common + business parameters of one API call.
pub fn sign_request(
    config: &AlipayConfig,
    req: &dyn BizRequest,
    at: OffsetDateTime,
) -> Result<SignedRequest> {
    let mut params = Params::new();
    let mut put = |k: &str, v: &str| {
        params.insert(k.to_owned(), v.to_owned());
    };
    put("app_id", &config.app_id);
    put("method", req.method());
    put("format", "JSON");
    put("charset", "utf-8");
    put("sign_type", "RSA2");
    put("timestamp", &format_timestamp(at));
    put("version", "1.0");
    put("biz_content", &req.biz_content()?);
    if let Some(url) = &config.notify_url {
        put("notify_url", url);
    }
    if let Some(url) = req.return_url() {
        put("return_url", url);
    }
    if let Some(sns) = &config.cert_sns {
        put("app_cert_sn", &sns.app_cert_sn);
        put("alipay_root_cert_sn", &sns.alipay_root_cert_sn);
    }
    let sign = config
        .private_key
        .sign_sha256_base64(sign_content(&params).as_bytes())?;
    params.insert("sign".into(), sign);
    Ok(SignedRequest {
        gateway_url: config.gateway_url.clone(),
        method: req.method(),
        params,
        is_page: req.is_page(),
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Merchant side: notifications.

/// Decodes a notification body (`application/x-www-form-urlencoded`) into parameters. Duplicate keys are
/// rejected: which one was signed would be ambiguous.
pub fn parse_notify_body(body: &str) -> Result<Params> {
    let mut params = Params::new();
    for (k, v) in parse_form(body)? {
        if params.insert(k.clone(), v).is_some() {
            return Err(GatewayError::invalid_field(&k, "duplicate parameter"));
        }
    }
    Ok(params)
}

/// Trade status in notifications and query responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeStatus {
    /// Created, waiting for payment.
    WaitBuyerPay,
    /// Closed unpaid, or fully refunded.
    TradeClosed,
    /// Paid; refunds still possible.
    TradeSuccess,
    /// Paid and final; no more refunds.
    TradeFinished,
}

impl TradeStatus {
    /// Parses Alipay's status string; unknown values are an error (fail closed).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "WAIT_BUYER_PAY" => Self::WaitBuyerPay,
            "TRADE_CLOSED" => Self::TradeClosed,
            "TRADE_SUCCESS" => Self::TradeSuccess,
            "TRADE_FINISHED" => Self::TradeFinished,
            other => {
                return Err(GatewayError::invalid_field(
                    "trade_status",
                    format!("unknown status {other:?}"),
                ));
            }
        })
    }

    /// Whether the money has been received.
    pub fn is_paid(self) -> bool {
        matches!(self, Self::TradeSuccess | Self::TradeFinished)
    }
}

/// A verified trade notification (`notify_type=trade_status_sync`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeNotification {
    pub notify_id: String,
    pub notify_type: String,
    pub notify_time: OffsetDateTime,
    pub app_id: String,
    pub seller_id: Option<String>,
    pub out_trade_no: String,
    pub trade_no: String,
    pub trade_status: TradeStatus,
    pub total_amount_fen: u64,
    pub receipt_amount_fen: Option<u64>,
    /// Total refunded so far, present on refund notifications.
    pub refund_fee_fen: Option<u64>,
    pub out_biz_no: Option<String>,
    pub buyer_id: Option<String>,
    pub gmt_create: Option<OffsetDateTime>,
    pub gmt_payment: Option<OffsetDateTime>,
    pub gmt_refund: Option<OffsetDateTime>,
    pub gmt_close: Option<OffsetDateTime>,
    pub passback_params: Option<String>,
}

/// `yyyy-MM-dd HH:mm:ss` (Beijing) → instant.
pub fn parse_beijing_time(field: &str, s: &str) -> Result<OffsetDateTime> {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    PrimitiveDateTime::parse(s, &fmt)
        .map(|t| t.assume_offset(BEIJING))
        .map_err(|e| GatewayError::invalid_field(field, e.to_string()))
}

fn required<'a>(params: &'a Params, k: &str) -> Result<&'a str> {
    params
        .get(k)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| GatewayError::MissingField(k.to_owned()))
}

fn optional<'a>(params: &'a Params, k: &str) -> Option<&'a str> {
    params.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

fn optional_time(params: &Params, k: &str) -> Result<Option<OffsetDateTime>> {
    optional(params, k)
        .map(|v| parse_beijing_time(k, v))
        .transpose()
}

fn optional_amount(params: &Params, k: &str) -> Result<Option<u64>> {
    optional(params, k).map(parse_yuan_string).transpose()
}

/// Checks the signature of notification parameters (`rsaCheckV1`: `sign` and `sign_type` excluded).
pub fn verify_notify_signature(params: &Params, alipay_public_key: &RsaPublicKey) -> Result<()> {
    require_rsa2(params)?;
    let sign = signature_of(params)?;
    alipay_public_key.verify_sha256_base64(notify_sign_content(params).as_bytes(), sign)
}

/// Verifies an asynchronous trade notification (URL-decoded form parameters, see [`parse_notify_body`]) and
/// returns its typed content. The caller still checks `app_id`, `seller_id` and the amount against the order.
pub fn verify_notify(
    params: &Params,
    alipay_public_key: &RsaPublicKey,
) -> Result<TradeNotification> {
    verify_notify_signature(params, alipay_public_key)?;
    Ok(TradeNotification {
        notify_id: required(params, "notify_id")?.to_owned(),
        notify_type: required(params, "notify_type")?.to_owned(),
        notify_time: parse_beijing_time("notify_time", required(params, "notify_time")?)?,
        app_id: required(params, "app_id")?.to_owned(),
        seller_id: optional(params, "seller_id").map(str::to_owned),
        out_trade_no: required(params, "out_trade_no")?.to_owned(),
        trade_no: required(params, "trade_no")?.to_owned(),
        trade_status: TradeStatus::parse(required(params, "trade_status")?)?,
        total_amount_fen: parse_yuan_string(required(params, "total_amount")?)?,
        receipt_amount_fen: optional_amount(params, "receipt_amount")?,
        refund_fee_fen: optional_amount(params, "refund_fee")?,
        out_biz_no: optional(params, "out_biz_no").map(str::to_owned),
        buyer_id: optional(params, "buyer_id").map(str::to_owned),
        gmt_create: optional_time(params, "gmt_create")?,
        gmt_payment: optional_time(params, "gmt_payment")?,
        gmt_refund: optional_time(params, "gmt_refund")?,
        gmt_close: optional_time(params, "gmt_close")?,
        passback_params: optional(params, "passback_params").map(str::to_owned),
    })
}

/// `rsaCheckV2`: only `sign` excluded (`sign_type` signed). Used by Alipay for application-gateway and
/// service-market messages.
pub fn verify_params_v2(params: &Params, alipay_public_key: &RsaPublicKey) -> Result<()> {
    require_rsa2(params)?;
    let sign = signature_of(params)?;
    alipay_public_key.verify_sha256_base64(sign_content(params).as_bytes(), sign)
}

// ---------------------------------------------------------------------------------------------------------------
// Merchant side: synchronous responses.

/// A response whose signature verified: the raw member bytes, exactly as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedResponse<'a> {
    /// Which member was signed: the requested `<method>_response`, or `error_response` for gateway errors.
    pub member: String,
    /// The member's JSON value, byte-exact.
    pub raw: &'a str,
}

/// `alipay.trade.query` → `alipay_trade_query_response`.
pub fn response_member_name(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Verifies a synchronous response: the signature covers the raw bytes of the `response_key` member (or of
/// `error_response`, which Alipay returns instead for gateway-level errors) exactly as received. The bytes are
/// located with serde_json's `RawValue`, which records the input span, so nothing is re-serialised.
pub fn verify_sync_response<'a>(
    raw_json: &'a str,
    response_key: &str,
    alipay_public_key: &RsaPublicKey,
) -> Result<VerifiedResponse<'a>> {
    let envelope: BTreeMap<String, &'a RawValue> =
        serde_json::from_str(raw_json).map_err(GatewayError::json)?;
    let (member, raw) = match envelope.get(response_key) {
        Some(raw) => (response_key.to_owned(), *raw),
        None => match envelope.get("error_response") {
            Some(raw) => ("error_response".to_owned(), *raw),
            None => return Err(GatewayError::ResponseMemberMissing(response_key.to_owned())),
        },
    };
    let sign: String = match envelope.get("sign") {
        Some(s) => serde_json::from_str(s.get()).map_err(GatewayError::json)?,
        None => return Err(GatewayError::MissingSignature),
    };
    alipay_public_key.verify_sha256_base64(raw.get().as_bytes(), &sign)?;
    Ok(VerifiedResponse {
        member,
        raw: raw.get(),
    })
}

/// Business outcome carried by every response: `code` `10000` is success, anything else a failure with
/// `sub_code` naming the reason (e.g. `ACQ.TRADE_NOT_EXIST`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResponseStatus {
    pub code: String,
    pub msg: String,
    #[serde(default)]
    pub sub_code: Option<String>,
    #[serde(default)]
    pub sub_msg: Option<String>,
}

impl ResponseStatus {
    pub fn is_success(&self) -> bool {
        self.code == "10000"
    }
}

/// Either the typed success body, or the failure status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiOutcome<T> {
    Success(T),
    Failure(ResponseStatus),
}

fn parse_outcome<T, W: for<'de> Deserialize<'de>>(
    raw: &str,
    convert: impl FnOnce(W) -> Result<T>,
) -> Result<ApiOutcome<T>> {
    let status: ResponseStatus = serde_json::from_str(raw).map_err(GatewayError::json)?;
    if !status.is_success() {
        return Ok(ApiOutcome::Failure(status));
    }
    let wire: W = serde_json::from_str(raw).map_err(GatewayError::json)?;
    convert(wire).map(ApiOutcome::Success)
}

/// `alipay.trade.precreate` success.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PrecreateResponse {
    pub out_trade_no: String,
    /// Content of the QR code to show.
    pub qr_code: String,
}

/// Parses a verified `alipay_trade_precreate_response` member.
pub fn parse_precreate_response(raw: &str) -> Result<ApiOutcome<PrecreateResponse>> {
    parse_outcome(raw, |w: PrecreateResponse| Ok(w))
}

/// `alipay.trade.query` success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeQueryResponse {
    pub out_trade_no: String,
    pub trade_no: String,
    pub trade_status: TradeStatus,
    pub total_amount_fen: u64,
    pub buyer_user_id: Option<String>,
    pub send_pay_date: Option<OffsetDateTime>,
}

/// Parses a verified `alipay_trade_query_response` member.
pub fn parse_trade_query_response(raw: &str) -> Result<ApiOutcome<TradeQueryResponse>> {
    #[derive(Deserialize)]
    struct Wire {
        out_trade_no: String,
        trade_no: String,
        trade_status: String,
        total_amount: String,
        buyer_user_id: Option<String>,
        send_pay_date: Option<String>,
    }
    parse_outcome(raw, |w: Wire| {
        Ok(TradeQueryResponse {
            out_trade_no: w.out_trade_no,
            trade_no: w.trade_no,
            trade_status: TradeStatus::parse(&w.trade_status)?,
            total_amount_fen: parse_yuan_string(&w.total_amount)?,
            buyer_user_id: w.buyer_user_id,
            send_pay_date: w
                .send_pay_date
                .map(|s| parse_beijing_time("send_pay_date", &s))
                .transpose()?,
        })
    })
}

/// `alipay.trade.refund` success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRefundResponse {
    pub out_trade_no: String,
    pub trade_no: String,
    /// Total refunded on this trade so far.
    pub refund_fee_fen: u64,
    /// `Y` when this call moved money; `N` on an idempotent repeat.
    pub fund_change: bool,
}

/// Parses a verified `alipay_trade_refund_response` member.
pub fn parse_trade_refund_response(raw: &str) -> Result<ApiOutcome<TradeRefundResponse>> {
    #[derive(Deserialize)]
    struct Wire {
        out_trade_no: String,
        trade_no: String,
        refund_fee: String,
        fund_change: String,
    }
    parse_outcome(raw, |w: Wire| {
        Ok(TradeRefundResponse {
            out_trade_no: w.out_trade_no,
            trade_no: w.trade_no,
            refund_fee_fen: parse_yuan_string(&w.refund_fee)?,
            fund_change: match w.fund_change.as_str() {
                "Y" => true,
                "N" => false,
                other => {
                    return Err(GatewayError::invalid_field(
                        "fund_change",
                        format!("{other:?}"),
                    ));
                }
            },
        })
    })
}

/// `alipay.trade.close` success.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TradeCloseResponse {
    pub out_trade_no: String,
    #[serde(default)]
    pub trade_no: Option<String>,
}

/// Parses a verified `alipay_trade_close_response` member.
pub fn parse_trade_close_response(raw: &str) -> Result<ApiOutcome<TradeCloseResponse>> {
    parse_outcome(raw, |w: TradeCloseResponse| Ok(w))
}

/// `alipay.data.dataservice.bill.downloadurl.query` success: a short-lived URL of the bill archive. A day
/// without a bill is the failure sub-code `isp.bill_not_exist`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BillDownloadUrlResponse {
    pub bill_download_url: String,
}

/// Parses a verified `alipay_data_dataservice_bill_downloadurl_query_response` member.
pub fn parse_bill_downloadurl_response(raw: &str) -> Result<ApiOutcome<BillDownloadUrlResponse>> {
    parse_outcome(raw, |w: BillDownloadUrlResponse| Ok(w))
}

// ---------------------------------------------------------------------------------------------------------------
// Certificate mode.

/// Alipay certificate SN: lower-case hex md5 of the issuer DN written with RDNs in reverse order as
/// `CN=..,OU=..,O=..,C=..` followed by the decimal serial (what the SDKs compute for `app_cert_sn` and for
/// each root).
pub fn cert_sn(cert: &Certificate) -> String {
    let issuer = cert
        .issuer_attributes()
        .iter()
        .rev()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    hex::encode(Md5::digest(
        format!("{issuer}{}", cert.serial_decimal()).as_bytes(),
    ))
}

/// [`cert_sn`] of the first certificate in a PEM text.
pub fn cert_sn_from_pem(pem: &str) -> Result<String> {
    Ok(cert_sn(&Certificate::from_pem(pem)?))
}

/// `alipay_root_cert_sn`: the SNs of the RSA-signed certificates of the root bundle (signature algorithm OID
/// under 1.2.840.113549.1.1; the SM2 and ECDSA roots are skipped), joined with `_`.
pub fn root_cert_sn(root_bundle_pem: &str) -> Result<String> {
    let certs = Certificate::all_from_pem(root_bundle_pem)?;
    let sns: Vec<String> = certs
        .iter()
        .filter(|c| {
            c.signature_algorithm_oid()
                .starts_with("1.2.840.113549.1.1")
        })
        .map(cert_sn)
        .collect();
    if sns.is_empty() {
        return Err(GatewayError::InvalidCertificate(
            "no RSA certificate in the root bundle".into(),
        ));
    }
    Ok(sns.join("_"))
}

// ---------------------------------------------------------------------------------------------------------------
// Provider side (sandbox mirror).

/// Sandbox: verifies a merchant's request parameters (`sign` excluded, `sign_type` signed, must be RSA2).
pub fn verify_request(params: &Params, merchant_public_key: &RsaPublicKey) -> Result<()> {
    if params.get("sign_type").map(String::as_str) != Some("RSA2") {
        return Err(GatewayError::UnsupportedAlgorithm(
            params.get("sign_type").cloned().unwrap_or_default(),
        ));
    }
    verify_params_v2(params, merchant_public_key)
}

/// Sandbox: signs notification parameters as Alipay does: sets `sign_type=RSA2` and adds `sign` computed over
/// everything but `sign`/`sign_type`. Returns the parameters to post (form-encode them).
pub fn sign_notify(params: &Params, provider_private_key: &RsaPrivateKey) -> Result<Params> {
    let mut out = params.clone();
    out.remove("sign");
    out.insert("sign_type".into(), "RSA2".into());
    let sign = provider_private_key.sign_sha256_base64(notify_sign_content(&out).as_bytes())?;
    out.insert("sign".into(), sign);
    Ok(out)
}

/// Sandbox: a synchronous response body `{"<response_key>":<member_json>,"sign":"…"}` with the signature over
/// `member_json`'s exact bytes. `member_json` must be a JSON object.
pub fn sign_response(
    response_key: &str,
    member_json: &str,
    provider_private_key: &RsaPrivateKey,
) -> Result<String> {
    let check: serde_json::Value = serde_json::from_str(member_json).map_err(GatewayError::json)?;
    if !check.is_object() {
        return Err(GatewayError::MalformedJson(
            "response member must be a JSON object".into(),
        ));
    }
    let sign = provider_private_key.sign_sha256_base64(member_json.as_bytes())?;
    let key = serde_json::to_string(response_key).map_err(GatewayError::json)?;
    let sign = serde_json::to_string(&sign).map_err(GatewayError::json)?;
    Ok(format!("{{{key}:{member_json},\"sign\":{sign}}}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{self, s, vector};
    use proptest::prelude::*;
    use serde_json::Value;

    fn params_of(v: &Value) -> Params {
        v["form_params"]
            .as_object()
            .expect("form_params")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_owned()))
            .collect()
    }

    const GATEWAY_V2_KEY: &str =
        include_str!("../testdata/vectors/alipay-notify-sign-public-key-v2.pem");
    const SYNC_RESPONSE_KEY: &str = include_str!("../testdata/vectors/alipay-public-key.pem");

    #[test]
    fn vector_alipay_notify_trade_v1() {
        let v = vector("alipay_notify_trade_v1");
        let key = RsaPublicKey::from_spki_base64(s(&v, "alipay_public_key_spki_b64")).unwrap();
        let params = params_of(&v);
        assert_eq!(notify_sign_content(&params), s(&v, "sign_content"));
        let n = verify_notify(&params, &key).unwrap();
        assert_eq!(n.out_trade_no, "20190815155618536-564-57");
        assert_eq!(n.trade_no, "2019081522001468450512505578");
        assert_eq!(n.trade_status, TradeStatus::TradeSuccess);
        assert!(n.trade_status.is_paid());
        assert_eq!(n.total_amount_fen, 10);
        assert_eq!(n.receipt_amount_fen, Some(10));
        assert_eq!(n.app_id, "2019073166072302");
        assert_eq!(n.seller_id.as_deref(), Some("2088531891668739"));
        assert_eq!(n.notify_id, "2019081500222155624068450559358070");
        assert_eq!(n.gmt_payment.unwrap().unix_timestamp(), 1_565_855_784); // 2019-08-15 15:56:24 +08:00

        // The same parameters through the form decoder (as they arrive on the wire).
        let body = encode_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(parse_notify_body(&body).unwrap(), params);

        let mut tampered = params.clone();
        tampered.insert("total_amount".into(), "0.11".into());
        assert_eq!(
            verify_notify(&tampered, &key).unwrap_err().code(),
            "bad_signature"
        );
        let mut unsigned = params.clone();
        unsigned.remove("sign");
        assert_eq!(
            verify_notify(&unsigned, &key).unwrap_err().code(),
            "missing_signature"
        );
        let mut rsa1 = params;
        rsa1.insert("sign_type".into(), "RSA".into());
        assert_eq!(
            verify_notify(&rsa1, &key).unwrap_err().code(),
            "unsupported_algorithm"
        );
    }

    #[test]
    fn vector_alipay_notify_gateway_v2_keeps_sign_type() {
        let v = vector("alipay_notify_gateway_v2");
        let key = RsaPublicKey::from_spki_pem(GATEWAY_V2_KEY).unwrap();
        assert_eq!(
            key,
            RsaPublicKey::from_spki_pem(s(&v, "alipay_public_key_pem")).unwrap()
        );
        let params = params_of(&v);
        assert_eq!(sign_content(&params), s(&v, "sign_content"));
        verify_params_v2(&params, &key).unwrap();
        // The v1 rule (sign_type excluded) must not accept it.
        assert_eq!(
            verify_notify_signature(&params, &key).unwrap_err().code(),
            "bad_signature"
        );
    }

    #[test]
    fn vector_alipay_sync_response() {
        let v = vector("alipay_sync_response");
        let key = RsaPublicKey::from_spki_pem(SYNC_RESPONSE_KEY).unwrap();
        assert_eq!(
            key,
            RsaPublicKey::from_spki_pem(s(&v, "alipay_public_key_pem")).unwrap()
        );
        let raw = s(&v, "raw_response");
        let ok = verify_sync_response(raw, "alipay_open_file_upload_response", &key).unwrap();
        assert_eq!(ok.raw, s(&v, "signed_substring"));
        assert_eq!(ok.member, "alipay_open_file_upload_response");
        assert_eq!(
            response_member_name("alipay.open.file.upload"),
            "alipay_open_file_upload_response"
        );

        // Re-serialised (whitespace added) content is not what was signed.
        let spaced = raw.replacen("{\"code\":\"10000\",", "{\"code\": \"10000\",", 1);
        assert_eq!(
            verify_sync_response(&spaced, "alipay_open_file_upload_response", &key)
                .unwrap_err()
                .code(),
            "bad_signature"
        );
        let tampered = raw.replacen("CAxAToWB1", "CAxAToWB2", 1);
        assert_eq!(
            verify_sync_response(&tampered, "alipay_open_file_upload_response", &key)
                .unwrap_err()
                .code(),
            "bad_signature"
        );
        assert_eq!(
            verify_sync_response(raw, "alipay_trade_query_response", &key)
                .unwrap_err()
                .code(),
            "response_member_missing"
        );
        assert_eq!(
            verify_sync_response("{", "x", &key).unwrap_err().code(),
            "malformed_json"
        );
    }

    #[test]
    fn vector_alipay_cert_sn() {
        let v = vector("alipay_cert_sn");
        let app = include_str!("../testdata/vectors/appCertPublicKey_2021001161683774.crt");
        let alipay = include_str!("../testdata/vectors/alipayCertPublicKey_RSA2.crt");
        let root = include_str!("../testdata/vectors/alipayRootCert.crt");
        assert_eq!(
            cert_sn_from_pem(app).unwrap(),
            s(&v, "app_cert_sn(appCertPublicKey_2021001161683774.crt)")
        );
        assert_eq!(
            cert_sn_from_pem(alipay).unwrap(),
            s(&v, "alipay_cert_sn(alipayCertPublicKey_RSA2.crt)")
        );
        assert_eq!(root_cert_sn(root).unwrap(), s(&v, "alipay_root_cert_sn"));
        // The Alipay public key certificate carries a usable RSA key.
        RsaPublicKey::from_cert_pem(alipay).unwrap();
        assert_eq!(
            cert_sn_from_pem("not a cert").unwrap_err().code(),
            "invalid_certificate"
        );
    }

    fn test_config() -> AlipayConfig {
        AlipayConfig {
            gateway_url: SANDBOX_GATEWAY_URL.into(),
            app_id: "9021000000000000".into(),
            private_key: RsaPrivateKey::from_pem(testdata::TEST_MERCHANT_PKCS1_KEY_PEM).unwrap(),
            notify_url: Some("https://shenfen.example/pay/notify/alipay".into()),
            cert_sns: None,
        }
    }

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap() // 2026-01-01T00:00:00Z = 08:00 Beijing
    }

    #[test]
    fn wap_pay_request_is_a_signed_redirect() {
        let cfg = test_config();
        let req = WapPay {
            out_trade_no: "SF0001".into(),
            total_amount_fen: 2000,
            subject: "居民身份证补领".into(),
            quit_url: "https://shenfen.example/pay/quit".into(),
            time_expire: None,
            return_url: Some("https://shenfen.example/pay/return".into()),
        };
        let signed = sign_request(&cfg, &req, at()).unwrap();
        assert_eq!(signed.params["method"], "alipay.trade.wap.pay");
        assert_eq!(signed.params["timestamp"], "2026-01-01 08:00:00");
        assert_eq!(
            signed.params["biz_content"],
            r#"{"out_trade_no":"SF0001","total_amount":"20.00","subject":"居民身份证补领","quit_url":"https://shenfen.example/pay/quit","product_code":"QUICK_WAP_WAY"}"#
        );
        let http = signed.http_request();
        assert_eq!(http.method, HttpMethod::Get);
        assert!(http.url.starts_with(
            "https://openapi-sandbox.dl.alipaydev.com/gateway.do?app_id=9021000000000000&"
        ));
        // The sandbox side decodes the query and verifies with the merchant's public key.
        let query = http.url.split_once('?').unwrap().1;
        let received = parse_notify_body(query).unwrap();
        assert_eq!(received, signed.params);
        let merchant_pub = RsaPublicKey::from_spki_pem(testdata::TEST_MERCHANT_PUB_PEM).unwrap();
        verify_request(&received, &merchant_pub).unwrap();
        let mut tampered = received;
        tampered.insert(
            "biz_content".into(),
            tampered["biz_content"].replace("20.00", "0.01"),
        );
        assert_eq!(
            verify_request(&tampered, &merchant_pub).unwrap_err().code(),
            "bad_signature"
        );
    }

    #[test]
    fn server_calls_are_form_posts() {
        let mut cfg = test_config();
        cfg.cert_sns = Some(CertSns {
            app_cert_sn: "a".into(),
            alipay_root_cert_sn: "b_c".into(),
        });
        let merchant_pub = RsaPublicKey::from_spki_pem(testdata::TEST_MERCHANT_PUB_PEM).unwrap();
        let reqs: Vec<(Box<dyn BizRequest>, &str)> = vec![
            (
                Box::new(Precreate {
                    out_trade_no: "SF1".into(),
                    total_amount_fen: 1,
                    subject: "s".into(),
                    time_expire: None,
                }),
                r#"{"out_trade_no":"SF1","total_amount":"0.01","subject":"s"}"#,
            ),
            (
                Box::new(TradeQuery {
                    out_trade_no: "SF1".into(),
                }),
                r#"{"out_trade_no":"SF1"}"#,
            ),
            (
                Box::new(TradeRefund {
                    out_trade_no: "SF1".into(),
                    refund_amount_fen: 123_456,
                    out_request_no: "R1".into(),
                    refund_reason: Some("用户取消".into()),
                }),
                r#"{"out_trade_no":"SF1","refund_amount":"1234.56","out_request_no":"R1","refund_reason":"用户取消"}"#,
            ),
            (
                Box::new(TradeClose {
                    out_trade_no: "SF1".into(),
                }),
                r#"{"out_trade_no":"SF1"}"#,
            ),
        ];
        for (req, biz) in reqs {
            let signed = sign_request(&cfg, req.as_ref(), at()).unwrap();
            assert_eq!(signed.params["biz_content"], biz);
            assert_eq!(signed.params["app_cert_sn"], "a");
            let http = signed.http_request();
            assert_eq!(http.method, HttpMethod::Post);
            assert_eq!(http.url, SANDBOX_GATEWAY_URL);
            verify_request(&parse_notify_body(&http.body).unwrap(), &merchant_pub).unwrap();
        }
    }

    #[test]
    fn sandbox_notify_and_response_round_trip() {
        let provider = RsaPrivateKey::from_pkcs8_pem(testdata::TEST_PLATFORM_KEY_PEM).unwrap();
        let provider_pub = RsaPublicKey::from_spki_pem(testdata::TEST_PLATFORM_PUB_PEM).unwrap();
        let params: Params = [
            ("notify_id", "n1"),
            ("notify_type", "trade_status_sync"),
            ("notify_time", "2026-01-01 08:00:05"),
            ("app_id", "9021000000000000"),
            ("out_trade_no", "SF0001"),
            ("trade_no", "2026010122001400000000000001"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "20.00"),
            ("gmt_payment", "2026-01-01 08:00:04"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let signed = sign_notify(&params, &provider).unwrap();
        let body = encode_query(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let n = verify_notify(&parse_notify_body(&body).unwrap(), &provider_pub).unwrap();
        assert_eq!(n.total_amount_fen, 2000);
        assert_eq!(n.gmt_payment, Some(at() + time::Duration::seconds(4)));

        let member = r#"{"code":"10000","msg":"Success","trade_no":"2026010122001400000000000001","out_trade_no":"SF0001","trade_status":"TRADE_SUCCESS","total_amount":"20.00","send_pay_date":"2026-01-01 08:00:04"}"#;
        let body = sign_response("alipay_trade_query_response", member, &provider).unwrap();
        let ok = verify_sync_response(&body, "alipay_trade_query_response", &provider_pub).unwrap();
        assert_eq!(ok.raw, member);
        match parse_trade_query_response(ok.raw).unwrap() {
            ApiOutcome::Success(q) => {
                assert_eq!(q.total_amount_fen, 2000);
                assert_eq!(q.trade_status, TradeStatus::TradeSuccess);
            }
            other => panic!("{other:?}"),
        }
        let fail = r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}"#;
        assert!(
            matches!(parse_trade_query_response(fail).unwrap(), ApiOutcome::Failure(s) if s.sub_code.as_deref() == Some("ACQ.TRADE_NOT_EXIST"))
        );
        let negative = member.replace("\"20.00\"", "\"-20.00\"");
        assert_eq!(
            parse_trade_query_response(&negative).unwrap_err().code(),
            "invalid_amount"
        );
        let refund = r#"{"code":"10000","msg":"Success","trade_no":"t","out_trade_no":"o","refund_fee":"5.01","fund_change":"Y"}"#;
        assert!(
            matches!(parse_trade_refund_response(refund).unwrap(), ApiOutcome::Success(r) if r.refund_fee_fen == 501 && r.fund_change)
        );
        assert!(matches!(
            parse_precreate_response(r#"{"code":"10000","msg":"Success","out_trade_no":"o","qr_code":"https://qr.alipay.com/x"}"#).unwrap(),
            ApiOutcome::Success(_)
        ));
        assert!(matches!(
            parse_trade_close_response(r#"{"code":"10000","msg":"Success","out_trade_no":"o"}"#)
                .unwrap(),
            ApiOutcome::Success(_)
        ));
        assert_eq!(
            parse_notify_body("a=1&a=2").unwrap_err().code(),
            "invalid_field"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// sign → verify accepts, and changing any single byte of the signed content rejects.
        #[test]
        fn notify_sign_verify_and_single_byte_tamper(
            out_trade_no in "[A-Za-z0-9_-]{1,32}",
            subject in "\\PC{1,20}",
            idx in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let provider = RsaPrivateKey::from_pkcs8_pem(testdata::TEST_PLATFORM_KEY_PEM).unwrap();
            let key = provider.public_key();
            let params: Params = [("out_trade_no", out_trade_no.as_str()), ("subject", subject.as_str())]
                .into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            let signed = sign_notify(&params, &provider).unwrap();
            verify_notify_signature(&signed, &key).unwrap();
            let content = notify_sign_content(&signed);
            prop_assert!(key.verify_sha256_base64(content.as_bytes(), &signed["sign"]).is_ok());
            let mut bytes = content.into_bytes();
            let i = idx.index(bytes.len());
            bytes[i] ^= flip;
            prop_assert_eq!(key.verify_sha256_base64(&bytes, &signed["sign"]).unwrap_err().code(), "bad_signature");
        }
    }
}
