//! WeChat Pay API v3 (`api.mch.weixin.qq.com/v3/...`).
//!
//! * Requests: SHA256withRSA (PKCS#1 v1.5) with the merchant key over
//!   `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n`, sent as
//!   `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",signature="..",timestamp="..",serial_no=".."`.
//!   See [`request_signature_message`], [`authorization_header`], [`MerchantSigner`].
//! * Responses and callbacks: signed by a platform key over `TIMESTAMP\nNONCE\nBODY\n`, named by the
//!   `Wechatpay-Serial` header (a platform-certificate serial, or a `PUB_KEY_ID_…` platform public-key id).
//!   Verification rejects unknown serials and timestamps more than 300 s from `now`. See [`verify_response`].
//! * Callback `resource`: AEAD_AES_256_GCM with the 32-byte APIv3 key, a 12-byte nonce and `associated_data`
//!   as AAD; the base64 ciphertext ends with the 16-byte tag. See [`decrypt_aead_aes_256_gcm`].
//!
//! Server-side mirror for a sandbox: [`verify_request`], [`sign_response`], [`encrypt_aead_aes_256_gcm`],
//! [`build_callback`].
//!
//! Provider facts: callbacks are retried for about 24 h until answered 200/204 within 5 s, so handling must be
//! idempotent and fast; WeChat also sends probe responses whose signature starts `WECHATPAY/SIGNTEST/`, which
//! must (and do) fail verification.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::codec::rfc3986_encode;
use crate::error::{GatewayError, Result};
use crate::http::{HttpMethod, HttpRequest};
use crate::keys::{Certificate, RsaPrivateKey, RsaPublicKey};

/// Production API host.
pub const API_BASE: &str = "https://api.mch.weixin.qq.com";
/// The authorization scheme name.
pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
/// Largest accepted |now − Wechatpay-Timestamp| (WeChat's documented five minutes).
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;
/// The only AEAD algorithm v3 uses.
pub const AEAD_AES_256_GCM: &str = "AEAD_AES_256_GCM";

// ---------------------------------------------------------------------------------------------------------------
// Request signing (merchant side).

/// `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n` (body empty for GET).
pub fn request_signature_message(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{body}\n")
}

/// The `Authorization` header value.
pub fn authorization_header(
    mchid: &str,
    serial_no: &str,
    nonce: &str,
    timestamp: i64,
    signature: &str,
) -> String {
    format!(
        "{AUTH_SCHEME} mchid=\"{mchid}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{serial_no}\""
    )
}

/// JSAPI / mini-program `paySign`: SHA256withRSA over `APPID\nTIMESTAMP\nNONCE\nPACKAGE\n` where package is
/// `prepay_id=…`.
pub fn jsapi_pay_sign(
    appid: &str,
    timestamp: i64,
    nonce: &str,
    package: &str,
    key: &RsaPrivateKey,
) -> Result<String> {
    key.sign_sha256_base64(format!("{appid}\n{timestamp}\n{nonce}\n{package}\n").as_bytes())
}

/// A merchant's signing identity.
#[derive(Debug, Clone)]
pub struct MerchantSigner {
    pub mchid: String,
    /// Serial of the merchant API certificate (upper-case hex), sent as `serial_no`.
    pub serial_no: String,
    /// `apiclient_key.pem`.
    pub private_key: RsaPrivateKey,
    /// [`API_BASE`] or a sandbox's base URL (no trailing slash).
    pub api_base: String,
}

impl MerchantSigner {
    /// A signed request. `timestamp` (unix seconds) and `nonce` are the caller's (fresh random nonce, current
    /// time), so the output is reproducible in tests.
    pub fn signed_request(
        &self,
        method: HttpMethod,
        path_and_query: &str,
        body: &str,
        timestamp: i64,
        nonce: &str,
    ) -> Result<HttpRequest> {
        let message =
            request_signature_message(method.as_str(), path_and_query, timestamp, nonce, body);
        let signature = self.private_key.sign_sha256_base64(message.as_bytes())?;
        let mut headers = vec![
            (
                "Authorization".to_owned(),
                authorization_header(&self.mchid, &self.serial_no, nonce, timestamp, &signature),
            ),
            ("Accept".to_owned(), "application/json".to_owned()),
            ("User-Agent".to_owned(), "shenfen-gateways".to_owned()),
        ];
        if method == HttpMethod::Post {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        Ok(HttpRequest {
            method,
            url: format!("{}{path_and_query}", self.api_base),
            headers,
            body: body.to_owned(),
        })
    }

    fn post_json<T: Serialize>(
        &self,
        path: &str,
        body: &T,
        timestamp: i64,
        nonce: &str,
    ) -> Result<HttpRequest> {
        let body = serde_json::to_string(body).map_err(GatewayError::json)?;
        self.signed_request(HttpMethod::Post, path, &body, timestamp, nonce)
    }

    /// `POST /v3/pay/transactions/h5`; the response carries `h5_url` ([`parse_h5_response`]).
    pub fn h5_order(&self, order: &H5Order, timestamp: i64, nonce: &str) -> Result<HttpRequest> {
        self.post_json(
            "/v3/pay/transactions/h5",
            &order.wire(&self.mchid),
            timestamp,
            nonce,
        )
    }

    /// `POST /v3/pay/transactions/native`; the response carries `code_url` ([`parse_native_response`]).
    pub fn native_order(
        &self,
        order: &NativeOrder,
        timestamp: i64,
        nonce: &str,
    ) -> Result<HttpRequest> {
        self.post_json(
            "/v3/pay/transactions/native",
            &order.wire(&self.mchid),
            timestamp,
            nonce,
        )
    }

    /// `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…`; response: [`parse_transaction`].
    pub fn query_by_out_trade_no(
        &self,
        out_trade_no: &str,
        timestamp: i64,
        nonce: &str,
    ) -> Result<HttpRequest> {
        check_out_no("out_trade_no", out_trade_no)?;
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}?mchid={}",
            rfc3986_encode(out_trade_no),
            rfc3986_encode(&self.mchid)
        );
        self.signed_request(HttpMethod::Get, &path, "", timestamp, nonce)
    }

    /// `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close` with `{"mchid":…}`; success is 204.
    pub fn close(&self, out_trade_no: &str, timestamp: i64, nonce: &str) -> Result<HttpRequest> {
        check_out_no("out_trade_no", out_trade_no)?;
        #[derive(Serialize)]
        struct Body<'a> {
            mchid: &'a str,
        }
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}/close",
            rfc3986_encode(out_trade_no)
        );
        self.post_json(&path, &Body { mchid: &self.mchid }, timestamp, nonce)
    }

    /// `GET /v3/bill/tradebill?bill_date=…&bill_type=ALL`; response: [`parse_bill_response`].
    pub fn trade_bill(&self, bill_date: &str, timestamp: i64, nonce: &str) -> Result<HttpRequest> {
        let ok = bill_date.len() == 10
            && bill_date.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !ok {
            return Err(GatewayError::invalid_field(
                "bill_date",
                "expected yyyy-MM-dd",
            ));
        }
        let path = format!("/v3/bill/tradebill?bill_date={bill_date}&bill_type=ALL");
        self.signed_request(HttpMethod::Get, &path, "", timestamp, nonce)
    }

    /// `GET` of a bill's `download_url`, signed over its path and query like any API call. The answer is the
    /// file itself, not signed: check it with [`verify_bill_hash`].
    pub fn download(&self, download_url: &str, timestamp: i64, nonce: &str) -> Result<HttpRequest> {
        let path = download_url
            .strip_prefix(&self.api_base)
            .or_else(|| {
                let after_scheme = download_url.split_once("://")?.1;
                after_scheme.find('/').map(|i| &after_scheme[i..])
            })
            .filter(|p| p.starts_with("/v3/"))
            .ok_or_else(|| {
                GatewayError::invalid_field("download_url", "not a WeChat Pay API URL")
            })?;
        let mut req = self.signed_request(HttpMethod::Get, path, "", timestamp, nonce)?;
        req.url = download_url.to_owned();
        Ok(req)
    }

    /// `POST /v3/refund/domestic/refunds`; response: [`parse_refund_response`].
    pub fn refund(
        &self,
        refund: &RefundRequest,
        timestamp: i64,
        nonce: &str,
    ) -> Result<HttpRequest> {
        check_out_no("out_trade_no", &refund.out_trade_no)?;
        check_out_no("out_refund_no", &refund.out_refund_no)?;
        if refund.refund_fen == 0 || refund.refund_fen > refund.total_fen {
            return Err(GatewayError::InvalidAmount(format!(
                "refund {} of total {}",
                refund.refund_fen, refund.total_fen
            )));
        }
        self.post_json(
            "/v3/refund/domestic/refunds",
            &refund.wire(),
            timestamp,
            nonce,
        )
    }
}

/// WeChat's merchant order numbers: 6–32 of `[0-9A-Za-z_-|*]`. Checked before they go into a URL path.
fn check_out_no(field: &str, v: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '|' | '*');
    if (6..=32).contains(&v.len()) && v.chars().all(ok_char) {
        Ok(())
    } else {
        Err(GatewayError::invalid_field(
            field,
            "must be 6-32 of [0-9A-Za-z_-|*]",
        ))
    }
}

/// `amount` of order requests: integer fen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderAmount {
    pub total: u64,
    pub currency: String,
}

/// H5 (mobile browser outside WeChat) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H5Order {
    pub appid: String,
    pub description: String,
    pub out_trade_no: String,
    /// RFC 3339 expiry, e.g. `2026-01-01T12:30:00+08:00`.
    pub time_expire: Option<String>,
    pub attach: Option<String>,
    pub notify_url: String,
    pub total_fen: u64,
    /// The user's IP (required by WeChat for H5).
    pub payer_client_ip: String,
}

/// Native (QR code) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeOrder {
    pub appid: String,
    pub description: String,
    pub out_trade_no: String,
    pub time_expire: Option<String>,
    pub attach: Option<String>,
    pub notify_url: String,
    pub total_fen: u64,
}

#[derive(Serialize)]
struct OrderWire<'a> {
    appid: &'a str,
    mchid: &'a str,
    description: &'a str,
    out_trade_no: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_expire: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attach: Option<&'a str>,
    notify_url: &'a str,
    amount: OrderAmount,
    #[serde(skip_serializing_if = "Option::is_none")]
    scene_info: Option<SceneInfo<'a>>,
}

#[derive(Serialize)]
struct SceneInfo<'a> {
    payer_client_ip: &'a str,
    h5_info: H5Info,
}

#[derive(Serialize)]
struct H5Info {
    #[serde(rename = "type")]
    kind: &'static str,
}

impl H5Order {
    fn wire<'a>(&'a self, mchid: &'a str) -> OrderWire<'a> {
        OrderWire {
            appid: &self.appid,
            mchid,
            description: &self.description,
            out_trade_no: &self.out_trade_no,
            time_expire: self.time_expire.as_deref(),
            attach: self.attach.as_deref(),
            notify_url: &self.notify_url,
            amount: OrderAmount {
                total: self.total_fen,
                currency: "CNY".into(),
            },
            scene_info: Some(SceneInfo {
                payer_client_ip: &self.payer_client_ip,
                h5_info: H5Info { kind: "Wap" },
            }),
        }
    }
}

impl NativeOrder {
    fn wire<'a>(&'a self, mchid: &'a str) -> OrderWire<'a> {
        OrderWire {
            appid: &self.appid,
            mchid,
            description: &self.description,
            out_trade_no: &self.out_trade_no,
            time_expire: self.time_expire.as_deref(),
            attach: self.attach.as_deref(),
            notify_url: &self.notify_url,
            amount: OrderAmount {
                total: self.total_fen,
                currency: "CNY".into(),
            },
            scene_info: None,
        }
    }
}

/// A refund of (part of) a paid order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub out_trade_no: String,
    /// Our refund number; retries with the same number are idempotent.
    pub out_refund_no: String,
    pub reason: Option<String>,
    pub notify_url: Option<String>,
    pub refund_fen: u64,
    /// The original order total (WeChat requires it).
    pub total_fen: u64,
}

#[derive(Serialize)]
struct RefundWire<'a> {
    out_trade_no: &'a str,
    out_refund_no: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notify_url: Option<&'a str>,
    amount: RefundAmountWire,
}

#[derive(Serialize)]
struct RefundAmountWire {
    refund: u64,
    total: u64,
    currency: &'static str,
}

impl RefundRequest {
    fn wire(&self) -> RefundWire<'_> {
        RefundWire {
            out_trade_no: &self.out_trade_no,
            out_refund_no: &self.out_refund_no,
            reason: self.reason.as_deref(),
            notify_url: self.notify_url.as_deref(),
            amount: RefundAmountWire {
                refund: self.refund_fen,
                total: self.total_fen,
                currency: "CNY",
            },
        }
    }
}

fn from_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(GatewayError::json)
}

/// `h5_url` of a successful H5 order (redirect the browser there).
pub fn parse_h5_response(body: &[u8]) -> Result<String> {
    #[derive(Deserialize)]
    struct W {
        h5_url: String,
    }
    Ok(from_json::<W>(body)?.h5_url)
}

/// `code_url` of a successful Native order (render it as a QR code).
pub fn parse_native_response(body: &[u8]) -> Result<String> {
    #[derive(Deserialize)]
    struct W {
        code_url: String,
    }
    Ok(from_json::<W>(body)?.code_url)
}

/// `GET /v3/bill/tradebill` answer: where to download the bill and the SHA1 of its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillDownload {
    pub hash_type: String,
    pub hash_value: String,
    pub download_url: String,
}

pub fn parse_bill_response(body: &[u8]) -> Result<BillDownload> {
    serde_json::from_slice(body).map_err(GatewayError::json)
}

/// A bill's `hash_value` (lower-case hex SHA1 of its bytes).
pub fn bill_hash(content: &[u8]) -> String {
    use sha1::Digest as _;
    hex::encode(sha1::Sha1::digest(content))
}

/// The downloaded bill must hash to the `hash_value` of the signed answer that named it (only `SHA1` is used).
pub fn verify_bill_hash(bill: &BillDownload, content: &[u8]) -> Result<()> {
    if !bill.hash_type.eq_ignore_ascii_case("SHA1") {
        return Err(GatewayError::UnsupportedAlgorithm(bill.hash_type.clone()));
    }
    if !bill_hash(content).eq_ignore_ascii_case(&bill.hash_value) {
        return Err(GatewayError::BadSignature);
    }
    Ok(())
}

/// An error body (`{"code":"ORDER_NOT_EXIST","message":"…"}`) of a non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiErrorBody {
    pub code: String,
    pub message: String,
}

/// Parses a non-2xx body.
pub fn parse_error_body(body: &[u8]) -> Result<ApiErrorBody> {
    from_json(body)
}

// ---------------------------------------------------------------------------------------------------------------
// Transactions and refunds (query responses and decrypted callbacks share these shapes).

/// `trade_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeState {
    Success,
    Refund,
    Notpay,
    Closed,
    Revoked,
    Userpaying,
    Payerror,
}

/// Transaction amounts, integer fen.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct TransactionAmount {
    pub total: Option<u64>,
    pub payer_total: Option<u64>,
    pub currency: Option<String>,
    pub payer_currency: Option<String>,
}

/// `payer`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Payer {
    pub openid: Option<String>,
}

/// A transaction: the query response, and the decrypted `TRANSACTION.SUCCESS` callback resource.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Transaction {
    pub appid: String,
    pub mchid: String,
    pub out_trade_no: String,
    /// Absent while unpaid.
    pub transaction_id: Option<String>,
    pub trade_type: Option<String>,
    pub trade_state: TradeState,
    pub trade_state_desc: Option<String>,
    pub bank_type: Option<String>,
    pub attach: Option<String>,
    /// RFC 3339, e.g. `2018-06-08T10:34:56+08:00`; see [`Transaction::success_at`].
    pub success_time: Option<String>,
    pub payer: Option<Payer>,
    pub amount: Option<TransactionAmount>,
}

impl Transaction {
    /// `success_time` as an instant.
    pub fn success_at(&self) -> Result<Option<OffsetDateTime>> {
        parse_rfc3339_opt("success_time", self.success_time.as_deref())
    }

    /// `amount.total` in fen (required once paid).
    pub fn total_fen(&self) -> Result<u64> {
        self.amount
            .as_ref()
            .and_then(|a| a.total)
            .ok_or_else(|| GatewayError::MissingField("amount.total".into()))
    }
}

fn parse_rfc3339_opt(field: &str, s: Option<&str>) -> Result<Option<OffsetDateTime>> {
    s.map(|s| {
        OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|e| GatewayError::invalid_field(field, e.to_string()))
    })
    .transpose()
}

/// Parses a (verified) query response body.
pub fn parse_transaction(body: &[u8]) -> Result<Transaction> {
    from_json(body)
}

/// `refund_status` / `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    Success,
    Closed,
    Processing,
    Abnormal,
}

/// Refund amounts, integer fen.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct RefundAmount {
    pub total: u64,
    pub refund: u64,
    pub payer_total: Option<u64>,
    pub payer_refund: Option<u64>,
}

/// A refund: the `/v3/refund/domestic/refunds` response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Refund {
    pub refund_id: String,
    pub out_refund_no: String,
    pub transaction_id: String,
    pub out_trade_no: String,
    pub status: RefundStatus,
    pub success_time: Option<String>,
    pub user_received_account: Option<String>,
    pub amount: RefundAmount,
}

/// Parses a (verified) refund response body.
pub fn parse_refund_response(body: &[u8]) -> Result<Refund> {
    from_json(body)
}

/// The decrypted resource of a `REFUND.SUCCESS` / `REFUND.ABNORMAL` / `REFUND.CLOSED` callback.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct RefundNotification {
    pub mchid: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_status: RefundStatus,
    pub success_time: Option<String>,
    pub user_received_account: Option<String>,
    pub amount: RefundAmount,
}

// ---------------------------------------------------------------------------------------------------------------
// Response / callback verification.

/// The four `Wechatpay-*` headers of a response or callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatpayHeaders {
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
    pub serial: String,
}

impl WechatpayHeaders {
    /// Picks the headers (case-insensitive names) out of any header list.
    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let (mut ts, mut nonce, mut sig, mut serial) = (None, None, None, None);
        for (k, v) in headers {
            let slot = match k.to_ascii_lowercase().as_str() {
                "wechatpay-timestamp" => &mut ts,
                "wechatpay-nonce" => &mut nonce,
                "wechatpay-signature" => &mut sig,
                "wechatpay-serial" => &mut serial,
                _ => continue,
            };
            *slot = Some(v.to_owned());
        }
        let need = |v: Option<String>, name: &str| {
            v.filter(|s| !s.is_empty())
                .ok_or_else(|| GatewayError::MissingField(name.to_owned()))
        };
        Ok(Self {
            timestamp: need(ts, "Wechatpay-Timestamp")?,
            nonce: need(nonce, "Wechatpay-Nonce")?,
            signature: need(sig, "Wechatpay-Signature")?,
            serial: need(serial, "Wechatpay-Serial")?,
        })
    }
}

/// Platform verification keys by `Wechatpay-Serial`: platform-certificate serials (upper-case hex) and/or
/// platform public-key ids (`PUB_KEY_ID_…`, the newer scheme).
#[derive(Debug, Clone, Default)]
pub struct PlatformKeys {
    keys: BTreeMap<String, RsaPublicKey>,
}

impl PlatformKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key under an explicit serial or `PUB_KEY_ID_…`.
    pub fn insert(&mut self, serial_or_key_id: impl Into<String>, key: RsaPublicKey) {
        self.keys.insert(serial_or_key_id.into(), key);
    }

    /// Adds a platform certificate under its serial; returns the serial.
    pub fn add_certificate(&mut self, cert: &Certificate) -> Result<String> {
        let serial = cert.serial_hex_upper();
        self.keys.insert(serial.clone(), cert.public_key()?);
        Ok(serial)
    }

    /// [`Self::add_certificate`] from PEM.
    pub fn add_certificate_pem(&mut self, pem: &str) -> Result<String> {
        self.add_certificate(&Certificate::from_pem(pem)?)
    }

    /// The key for a serial. Hex serials match case-insensitively.
    pub fn get(&self, serial: &str) -> Option<&RsaPublicKey> {
        self.keys
            .get(serial)
            .or_else(|| self.keys.get(&serial.to_ascii_uppercase()))
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// `TIMESTAMP\nNONCE\nBODY\n`, as bytes (the body is signed byte-exact).
pub fn response_signature_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    m.extend_from_slice(timestamp.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(nonce.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

fn check_timestamp(ts: &str, now: i64) -> Result<i64> {
    let t: i64 = ts
        .parse()
        .ok()
        .filter(|_| !ts.is_empty() && ts.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| GatewayError::invalid_field("timestamp", "not unix seconds"))?;
    if now.abs_diff(t) > MAX_CLOCK_SKEW_SECONDS.unsigned_abs() {
        return Err(GatewayError::TimestampOutOfWindow {
            timestamp: t,
            now,
            max_skew_seconds: MAX_CLOCK_SKEW_SECONDS,
        });
    }
    Ok(t)
}

/// Verifies a response or callback: known serial, timestamp within [`MAX_CLOCK_SKEW_SECONDS`] of `now` (unix
/// seconds), signature over `TIMESTAMP\nNONCE\nBODY\n`.
pub fn verify_response(
    keys: &PlatformKeys,
    headers: &WechatpayHeaders,
    body: &[u8],
    now: i64,
) -> Result<()> {
    check_timestamp(&headers.timestamp, now)?;
    let key = keys
        .get(&headers.serial)
        .ok_or_else(|| GatewayError::UnknownKeySerial(headers.serial.clone()))?;
    key.verify_sha256_base64(
        &response_signature_message(&headers.timestamp, &headers.nonce, body),
        &headers.signature,
    )
}

// ---------------------------------------------------------------------------------------------------------------
// AEAD_AES_256_GCM.

fn cipher(apiv3_key: &[u8], nonce: &[u8]) -> Result<Aes256Gcm> {
    if apiv3_key.len() != 32 {
        return Err(GatewayError::InvalidApiV3Key(apiv3_key.len()));
    }
    if nonce.len() != 12 {
        return Err(GatewayError::InvalidNonce(nonce.len()));
    }
    Aes256Gcm::new_from_slice(apiv3_key).map_err(|_| GatewayError::InvalidApiV3Key(apiv3_key.len()))
}

/// Decrypts `ciphertext_b64` (ciphertext ‖ 16-byte tag). The key must be exactly 32 bytes: a 16-byte "APIv3 key"
/// would mean AES-128-GCM, which WeChat Pay does not use, so it is rejected rather than silently accepted.
pub fn decrypt_aead_aes_256_gcm(
    apiv3_key: &[u8],
    nonce: &str,
    associated_data: &str,
    ciphertext_b64: &str,
) -> Result<Vec<u8>> {
    let c = cipher(apiv3_key, nonce.as_bytes())?;
    let ct = STANDARD
        .decode(ciphertext_b64.as_bytes())
        .map_err(|_| GatewayError::InvalidBase64("ciphertext".into()))?;
    c.decrypt(
        Nonce::from_slice(nonce.as_bytes()),
        Payload {
            msg: &ct,
            aad: associated_data.as_bytes(),
        },
    )
    .map_err(|_| GatewayError::DecryptionFailed)
}

/// Encrypts for a sandbox (or tests): base64(ciphertext ‖ tag).
pub fn encrypt_aead_aes_256_gcm(
    apiv3_key: &[u8],
    nonce: &str,
    associated_data: &str,
    plaintext: &[u8],
) -> Result<String> {
    let c = cipher(apiv3_key, nonce.as_bytes())?;
    let ct = c
        .encrypt(
            Nonce::from_slice(nonce.as_bytes()),
            Payload {
                msg: plaintext,
                aad: associated_data.as_bytes(),
            },
        )
        .map_err(|_| GatewayError::DecryptionFailed)?;
    Ok(STANDARD.encode(ct))
}

/// The `resource` object of a callback (or of a certificate-download entry's `encrypt_certificate`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct EncryptedResource {
    pub algorithm: String,
    pub ciphertext: String,
    #[serde(default)]
    pub associated_data: Option<String>,
    pub nonce: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_type: Option<String>,
}

impl EncryptedResource {
    /// Decrypts with the APIv3 key; the algorithm must be `AEAD_AES_256_GCM`.
    pub fn decrypt(&self, apiv3_key: &[u8]) -> Result<Vec<u8>> {
        if self.algorithm != AEAD_AES_256_GCM {
            return Err(GatewayError::UnsupportedAlgorithm(self.algorithm.clone()));
        }
        decrypt_aead_aes_256_gcm(
            apiv3_key,
            &self.nonce,
            self.associated_data.as_deref().unwrap_or(""),
            &self.ciphertext,
        )
    }
}

/// A callback body (before decryption).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct CallbackEnvelope {
    pub id: String,
    pub create_time: String,
    pub event_type: String,
    pub resource_type: String,
    #[serde(default)]
    pub summary: String,
    pub resource: EncryptedResource,
}

/// A verified, decrypted callback: the envelope and the plaintext resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCallback {
    pub envelope: CallbackEnvelope,
    pub plaintext: Vec<u8>,
}

/// Verifies the callback signature (see [`verify_response`]), then decrypts its resource.
pub fn verify_callback(
    keys: &PlatformKeys,
    headers: &WechatpayHeaders,
    body: &[u8],
    now: i64,
    apiv3_key: &[u8],
) -> Result<VerifiedCallback> {
    verify_response(keys, headers, body, now)?;
    let envelope: CallbackEnvelope = from_json(body)?;
    let plaintext = envelope.resource.decrypt(apiv3_key)?;
    Ok(VerifiedCallback {
        envelope,
        plaintext,
    })
}

impl VerifiedCallback {
    /// The payment result of a `TRANSACTION.*` event.
    pub fn transaction(&self) -> Result<Transaction> {
        if !self.envelope.event_type.starts_with("TRANSACTION.") {
            return Err(GatewayError::invalid_field(
                "event_type",
                format!("{} is not a transaction event", self.envelope.event_type),
            ));
        }
        from_json(&self.plaintext)
    }

    /// The refund result of a `REFUND.*` event.
    pub fn refund(&self) -> Result<RefundNotification> {
        if !self.envelope.event_type.starts_with("REFUND.") {
            return Err(GatewayError::invalid_field(
                "event_type",
                format!("{} is not a refund event", self.envelope.event_type),
            ));
        }
        from_json(&self.plaintext)
    }
}

/// Decrypts one `encrypt_certificate` of the `/v3/certificates` download and returns the certificate.
pub fn decrypt_platform_certificate(
    apiv3_key: &[u8],
    encrypted: &EncryptedResource,
) -> Result<Certificate> {
    let pem = encrypted.decrypt(apiv3_key)?;
    let pem = String::from_utf8(pem).map_err(|_| {
        GatewayError::InvalidCertificate("decrypted certificate is not UTF-8".into())
    })?;
    Certificate::from_pem(&pem)
}

// ---------------------------------------------------------------------------------------------------------------
// Provider side (sandbox mirror).

/// The fields of an `Authorization: WECHATPAY2-SHA256-RSA2048 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationParams {
    pub mchid: String,
    pub nonce_str: String,
    pub signature: String,
    pub timestamp: String,
    pub serial_no: String,
}

/// Parses the `Authorization` header (`key="value"` pairs separated by commas, any order).
pub fn parse_authorization(header: &str) -> Result<AuthorizationParams> {
    let rest = header
        .strip_prefix(AUTH_SCHEME)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| {
            GatewayError::UnsupportedAlgorithm(header.split(' ').next().unwrap_or("").to_owned())
        })?;
    let mut fields = BTreeMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or_else(|| {
            GatewayError::invalid_field("Authorization", "expected key=\"value\"")
        })?;
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(|| GatewayError::invalid_field("Authorization", "values must be quoted"))?;
        fields.insert(k.to_owned(), v.to_owned());
    }
    let mut take = |k: &str| {
        fields
            .remove(k)
            .ok_or_else(|| GatewayError::MissingField(format!("Authorization.{k}")))
    };
    Ok(AuthorizationParams {
        mchid: take("mchid")?,
        nonce_str: take("nonce_str")?,
        signature: take("signature")?,
        timestamp: take("timestamp")?,
        serial_no: take("serial_no")?,
    })
}

/// Sandbox: verifies a merchant request (timestamp window, signature with the merchant's public key).
pub fn verify_request(
    authorization: &str,
    method: &str,
    path_and_query: &str,
    body: &str,
    merchant_public_key: &RsaPublicKey,
    now: i64,
) -> Result<AuthorizationParams> {
    let auth = parse_authorization(authorization)?;
    let ts = check_timestamp(&auth.timestamp, now)?;
    let message = request_signature_message(method, path_and_query, ts, &auth.nonce_str, body);
    merchant_public_key.verify_sha256_base64(message.as_bytes(), &auth.signature)?;
    Ok(auth)
}

/// Sandbox: the `Wechatpay-*` headers for a response or callback body, signed with the platform key.
pub fn sign_response(
    platform_serial: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
    platform_private_key: &RsaPrivateKey,
) -> Result<WechatpayHeaders> {
    let ts = timestamp.to_string();
    let signature =
        platform_private_key.sign_sha256_base64(&response_signature_message(&ts, nonce, body))?;
    Ok(WechatpayHeaders {
        timestamp: ts,
        nonce: nonce.to_owned(),
        signature,
        serial: platform_serial.to_owned(),
    })
}

/// Sandbox: a callback body with `resource` encrypted under the APIv3 key.
#[allow(clippy::too_many_arguments)]
pub fn build_callback(
    id: &str,
    create_time: &str,
    event_type: &str,
    summary: &str,
    original_type: &str,
    associated_data: &str,
    nonce: &str,
    plaintext: &[u8],
    apiv3_key: &[u8],
) -> Result<String> {
    let envelope = CallbackEnvelope {
        id: id.to_owned(),
        create_time: create_time.to_owned(),
        event_type: event_type.to_owned(),
        resource_type: "encrypt-resource".to_owned(),
        summary: summary.to_owned(),
        resource: EncryptedResource {
            algorithm: AEAD_AES_256_GCM.to_owned(),
            ciphertext: encrypt_aead_aes_256_gcm(apiv3_key, nonce, associated_data, plaintext)?,
            associated_data: Some(associated_data.to_owned()),
            nonce: nonce.to_owned(),
            original_type: Some(original_type.to_owned()),
        },
    };
    serde_json::to_string(&envelope).map_err(GatewayError::json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{self, s, vector};
    use proptest::prelude::*;

    fn wx_key() -> RsaPrivateKey {
        RsaPrivateKey::from_pkcs8_pem(testdata::WX_TESTKEY_PEM).unwrap()
    }

    #[test]
    fn vector_wechat_request_sign_jsapi() {
        let v = vector("wechat_request_sign_jsapi");
        let message = s(&v, "message");
        let lines: Vec<&str> = message.split('\n').collect();
        let (ts, nonce, body) = (lines[2].parse::<i64>().unwrap(), lines[3], lines[4]);
        assert_eq!(
            request_signature_message("POST", "/v3/pay/transactions/jsapi", ts, nonce, body),
            message
        );
        let signer = MerchantSigner {
            mchid: "1900007291".into(),
            serial_no: "408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB".into(),
            private_key: wx_key(),
            api_base: API_BASE.into(),
        };
        let req = signer
            .signed_request(
                HttpMethod::Post,
                "/v3/pay/transactions/jsapi",
                body,
                ts,
                nonce,
            )
            .unwrap();
        assert_eq!(req.header("authorization"), Some(s(&v, "authorization")));
        assert_eq!(
            req.url,
            "https://api.mch.weixin.qq.com/v3/pay/transactions/jsapi"
        );
        let sig = wx_key().sign_sha256_base64(message.as_bytes()).unwrap();
        assert_eq!(sig, s(&v, "signature"));
        // Sandbox mirror accepts it within the window and rejects outside.
        let public = wx_key().public_key();
        let auth = verify_request(
            s(&v, "authorization"),
            "POST",
            "/v3/pay/transactions/jsapi",
            body,
            &public,
            ts + 299,
        )
        .unwrap();
        assert_eq!(auth.mchid, "1900007291");
        assert_eq!(
            verify_request(
                s(&v, "authorization"),
                "POST",
                "/v3/pay/transactions/jsapi",
                body,
                &public,
                ts + 301
            )
            .unwrap_err()
            .code(),
            "timestamp_out_of_window"
        );
        let altered = body.replace("\"total\":100", "\"total\":1");
        assert_eq!(
            verify_request(
                s(&v, "authorization"),
                "POST",
                "/v3/pay/transactions/jsapi",
                &altered,
                &public,
                ts
            )
            .unwrap_err()
            .code(),
            "bad_signature"
        );
    }

    #[test]
    fn vector_wechat_jsapi_paysign() {
        let v = vector("wechat_jsapi_paysign");
        let sign = jsapi_pay_sign(
            "wx2421b1c4370ec43b",
            1_554_208_460,
            "593BEC0C930BF1AFEB40B4A08C8FB242",
            "prepay_id=wx201410272009395522657a690389285100",
            &wx_key(),
        )
        .unwrap();
        assert_eq!(
            format!(
                "wx2421b1c4370ec43b\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\nprepay_id=wx201410272009395522657a690389285100\n"
            ),
            s(&v, "message")
        );
        assert_eq!(sign, s(&v, "paySign"));
    }

    fn go_sdk() -> (PlatformKeys, WechatpayHeaders, String) {
        let v = vector("wechat_notify_go_sdk");
        let mut keys = PlatformKeys::new();
        let serial = keys
            .add_certificate_pem(s(&v, "platform_cert_pem"))
            .unwrap();
        assert_eq!(serial, "D7CE59D1F522D701");
        let h = &v["headers"];
        let headers = WechatpayHeaders::from_headers([
            ("wechatpay-timestamp", s(h, "Wechatpay-Timestamp")),
            ("Wechatpay-Nonce", s(h, "Wechatpay-Nonce")),
            ("Wechatpay-Signature", s(h, "Wechatpay-Signature")),
            ("WECHATPAY-SERIAL", s(h, "Wechatpay-Serial")),
            ("Content-Type", "application/json"),
        ])
        .unwrap();
        (keys, headers, s(&v, "body").to_owned())
    }

    #[test]
    fn vector_wechat_notify_go_sdk() {
        let (keys, headers, body) = go_sdk();
        let ts = 1_624_523_846;
        verify_response(&keys, &headers, body.as_bytes(), ts + 10).unwrap();
        verify_response(&keys, &headers, body.as_bytes(), ts - 300).unwrap();
        assert_eq!(
            verify_response(&keys, &headers, body.as_bytes(), ts + 301)
                .unwrap_err()
                .code(),
            "timestamp_out_of_window"
        );
        assert_eq!(
            verify_response(&keys, &headers, body.as_bytes(), ts - 301)
                .unwrap_err()
                .code(),
            "timestamp_out_of_window"
        );
        for (bad_ts, now) in [
            ("9223372036854775807", i64::MIN),
            ("-1", ts),
            ("", ts),
            ("1e9", ts),
        ] {
            let h = WechatpayHeaders {
                timestamp: bad_ts.into(),
                ..headers.clone()
            };
            assert!(
                verify_response(&keys, &h, body.as_bytes(), now).is_err(),
                "{bad_ts}"
            );
        }
        let tampered = body.replacen("签约成功", "签约失败", 1);
        assert_eq!(
            verify_response(&keys, &headers, tampered.as_bytes(), ts)
                .unwrap_err()
                .code(),
            "bad_signature"
        );
        let mut unknown = headers.clone();
        unknown.serial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into();
        assert_eq!(
            verify_response(&keys, &unknown, body.as_bytes(), ts)
                .unwrap_err()
                .code(),
            "unknown_key_serial"
        );
        let mut probe = headers.clone();
        probe.signature = format!("WECHATPAY/SIGNTEST/{}", headers.signature);
        assert_eq!(
            verify_response(&keys, &probe, body.as_bytes(), ts)
                .unwrap_err()
                .code(),
            "bad_signature"
        );

        // The SDK's "APIv3 key" is 16 bytes: AES-256-GCM must refuse it.
        let v = vector("wechat_notify_go_sdk");
        let key16 = s(&v, "apiv3_key").as_bytes();
        assert_eq!(key16.len(), 16);
        let err = verify_callback(&keys, &headers, body.as_bytes(), ts, key16).unwrap_err();
        assert_eq!(err.code(), "invalid_apiv3_key");
        // …while the vector itself is sound: with AES-128-GCM (not offered by this crate) it decrypts.
        let env: CallbackEnvelope = serde_json::from_str(&body).unwrap();
        let ct = STANDARD.decode(&env.resource.ciphertext).unwrap();
        let aes128 = aes_gcm::Aes128Gcm::new_from_slice(key16).unwrap();
        let pt = aes128
            .decrypt(
                Nonce::from_slice(env.resource.nonce.as_bytes()),
                Payload {
                    msg: &ct,
                    aad: b"payscore",
                },
            )
            .unwrap();
        assert_eq!(String::from_utf8(pt).unwrap(), s(&v, "plaintext"));
    }

    #[test]
    fn vector_wechat_aead_aes256_java_sdk() {
        let v = vector("wechat_aead_aes256_java_sdk");
        let key = s(&v, "apiv3_key").as_bytes();
        let pt = decrypt_aead_aes_256_gcm(
            key,
            s(&v, "nonce"),
            s(&v, "associated_data"),
            s(&v, "ciphertext_b64"),
        )
        .unwrap();
        assert_eq!(pt, s(&v, "plaintext").as_bytes());
        // Encryption reproduces the ciphertext (deterministic given key+nonce).
        assert_eq!(
            encrypt_aead_aes_256_gcm(key, s(&v, "nonce"), s(&v, "associated_data"), b"message")
                .unwrap(),
            s(&v, "ciphertext_b64")
        );
        assert_eq!(
            decrypt_aead_aes_256_gcm(key, s(&v, "nonce"), "other", s(&v, "ciphertext_b64"))
                .unwrap_err()
                .code(),
            "decryption_failed"
        );
        assert_eq!(
            decrypt_aead_aes_256_gcm(key, "short", "", s(&v, "ciphertext_b64"))
                .unwrap_err()
                .code(),
            "invalid_nonce"
        );
        assert_eq!(
            decrypt_aead_aes_256_gcm(key, s(&v, "nonce"), "", "***")
                .unwrap_err()
                .code(),
            "invalid_base64"
        );
        assert_eq!(
            decrypt_aead_aes_256_gcm(key, s(&v, "nonce"), "", "")
                .unwrap_err()
                .code(),
            "decryption_failed"
        );
    }

    #[test]
    fn vector_wechat_cert_download_java_sdk() {
        let v = vector("wechat_cert_download_java_sdk");
        let res = EncryptedResource {
            algorithm: AEAD_AES_256_GCM.into(),
            ciphertext: s(&v, "ciphertext_b64").into(),
            associated_data: Some(s(&v, "associated_data").into()),
            nonce: s(&v, "nonce").into(),
            original_type: None,
        };
        let key = s(&v, "apiv3_key").as_bytes();
        let pem = String::from_utf8(res.decrypt(key).unwrap()).unwrap();
        assert!(pem.starts_with(s(&v, "plaintext_starts")));
        let cert = decrypt_platform_certificate(key, &res).unwrap();
        assert_eq!(cert.serial_hex_upper(), s(&v, "decrypted_cert_serial"));
        let mut wrong_alg = res;
        wrong_alg.algorithm = "AEAD_AES_128_GCM".into();
        assert_eq!(
            wrong_alg.decrypt(key).unwrap_err().code(),
            "unsupported_algorithm"
        );
    }

    fn sandbox_signer() -> MerchantSigner {
        MerchantSigner {
            mchid: "1900000001".into(),
            serial_no: "TESTSERIAL".into(),
            private_key: RsaPrivateKey::from_pkcs8_pem(testdata::TEST_MERCHANT_KEY_PEM).unwrap(),
            api_base: "http://127.0.0.1:9999".into(),
        }
    }

    #[test]
    fn trade_bill_download_and_hash() {
        let signer = sandbox_signer();
        let merchant_pub = RsaPublicKey::from_spki_pem(testdata::TEST_MERCHANT_PUB_PEM).unwrap();
        let req = signer
            .trade_bill("2026-11-26", 1_700_000_000, "n1")
            .unwrap();
        assert_eq!(
            req.url,
            "http://127.0.0.1:9999/v3/bill/tradebill?bill_date=2026-11-26&bill_type=ALL"
        );
        let auth = req.header("Authorization").unwrap();
        verify_request(
            auth,
            "GET",
            "/v3/bill/tradebill?bill_date=2026-11-26&bill_type=ALL",
            "",
            &merchant_pub,
            1_700_000_000,
        )
        .unwrap();
        assert!(signer.trade_bill("2026-1-26", 1, "n").is_err());
        // The download URL may be on another host (WeChat's); the signature covers its path and query.
        let d = signer
            .download(
                "https://api.mch.weixin.qq.com/v3/billdownload/file?token=abc",
                1_700_000_000,
                "n2",
            )
            .unwrap();
        assert_eq!(
            d.url,
            "https://api.mch.weixin.qq.com/v3/billdownload/file?token=abc"
        );
        verify_request(
            d.header("Authorization").unwrap(),
            "GET",
            "/v3/billdownload/file?token=abc",
            "",
            &merchant_pub,
            1_700_000_000,
        )
        .unwrap();
        let d = signer
            .download("http://127.0.0.1:9999/v3/billdownload/file?token=x", 1, "n")
            .unwrap();
        verify_request(
            d.header("Authorization").unwrap(),
            "GET",
            "/v3/billdownload/file?token=x",
            "",
            &merchant_pub,
            1,
        )
        .unwrap();
        assert!(
            signer
                .download("https://evil.example/elsewhere", 1, "n")
                .is_err()
        );
        let bill = BillDownload {
            hash_type: "SHA1".into(),
            // SHA1("abc")
            hash_value: "a9993e364706816aba3e25717850c26c9cd0d89d".into(),
            download_url: String::new(),
        };
        verify_bill_hash(&bill, b"abc").unwrap();
        assert_eq!(
            verify_bill_hash(&bill, b"abd").unwrap_err().code(),
            "bad_signature"
        );
    }

    #[test]
    fn order_request_bodies() {
        let signer = sandbox_signer();
        let merchant_pub = RsaPublicKey::from_spki_pem(testdata::TEST_MERCHANT_PUB_PEM).unwrap();
        let h5 = H5Order {
            appid: "wx0000000000000001".into(),
            description: "居民身份证补领".into(),
            out_trade_no: "SF20260101000001".into(),
            time_expire: None,
            attach: None,
            notify_url: "https://shenfen.example/pay/notify/wechat".into(),
            total_fen: 2000,
            payer_client_ip: "203.0.113.7".into(),
        };
        let req = signer.h5_order(&h5, 1_767_225_600, "NONCE1").unwrap();
        assert_eq!(req.url, "http://127.0.0.1:9999/v3/pay/transactions/h5");
        assert_eq!(
            req.body,
            r#"{"appid":"wx0000000000000001","mchid":"1900000001","description":"居民身份证补领","out_trade_no":"SF20260101000001","notify_url":"https://shenfen.example/pay/notify/wechat","amount":{"total":2000,"currency":"CNY"},"scene_info":{"payer_client_ip":"203.0.113.7","h5_info":{"type":"Wap"}}}"#
        );
        let auth = req.header("Authorization").unwrap();
        verify_request(
            auth,
            "POST",
            "/v3/pay/transactions/h5",
            &req.body,
            &merchant_pub,
            1_767_225_600,
        )
        .unwrap();

        let native = NativeOrder {
            appid: "wx0000000000000001".into(),
            description: "d".into(),
            out_trade_no: "SF20260101000002".into(),
            time_expire: Some("2026-01-01T08:30:00+08:00".into()),
            attach: Some("a".into()),
            notify_url: "https://n".into(),
            total_fen: 1,
        };
        let req = signer.native_order(&native, 1_767_225_600, "N2").unwrap();
        assert_eq!(
            req.body,
            r#"{"appid":"wx0000000000000001","mchid":"1900000001","description":"d","out_trade_no":"SF20260101000002","time_expire":"2026-01-01T08:30:00+08:00","attach":"a","notify_url":"https://n","amount":{"total":1,"currency":"CNY"}}"#
        );

        let q = signer
            .query_by_out_trade_no("SF20260101000002", 1_767_225_600, "N3")
            .unwrap();
        assert_eq!(q.method, HttpMethod::Get);
        assert_eq!(
            q.url,
            "http://127.0.0.1:9999/v3/pay/transactions/out-trade-no/SF20260101000002?mchid=1900000001"
        );
        verify_request(
            q.header("Authorization").unwrap(),
            "GET",
            "/v3/pay/transactions/out-trade-no/SF20260101000002?mchid=1900000001",
            "",
            &merchant_pub,
            1_767_225_600,
        )
        .unwrap();
        assert_eq!(
            signer
                .query_by_out_trade_no("../../x", 0, "n")
                .unwrap_err()
                .code(),
            "invalid_field"
        );

        let c = signer
            .close("SF20260101000002", 1_767_225_600, "N4")
            .unwrap();
        assert_eq!(
            c.url,
            "http://127.0.0.1:9999/v3/pay/transactions/out-trade-no/SF20260101000002/close"
        );
        assert_eq!(c.body, r#"{"mchid":"1900000001"}"#);

        let refund = RefundRequest {
            out_trade_no: "SF20260101000002".into(),
            out_refund_no: "RF20260101000002".into(),
            reason: Some("用户取消".into()),
            notify_url: None,
            refund_fen: 1,
            total_fen: 1,
        };
        let r = signer.refund(&refund, 1_767_225_600, "N5").unwrap();
        assert_eq!(r.url, "http://127.0.0.1:9999/v3/refund/domestic/refunds");
        assert_eq!(
            r.body,
            r#"{"out_trade_no":"SF20260101000002","out_refund_no":"RF20260101000002","reason":"用户取消","amount":{"refund":1,"total":1,"currency":"CNY"}}"#
        );
        let too_much = RefundRequest {
            refund_fen: 2,
            ..refund
        };
        assert_eq!(
            signer.refund(&too_much, 0, "n").unwrap_err().code(),
            "invalid_amount"
        );

        assert_eq!(
            parse_h5_response(br#"{"h5_url":"https://wx.tenpay.com/x"}"#).unwrap(),
            "https://wx.tenpay.com/x"
        );
        assert_eq!(
            parse_native_response(br#"{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}"#)
                .unwrap(),
            "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"
        );
        assert_eq!(
            parse_error_body(r#"{"code":"ORDER_NOT_EXIST","message":"订单不存在"}"#.as_bytes())
                .unwrap()
                .code,
            "ORDER_NOT_EXIST"
        );
        assert_eq!(
            parse_h5_response(b"<html>").unwrap_err().code(),
            "malformed_json"
        );
    }

    const APIV3_KEY: &[u8; 32] = b"0123456789abcdef0123456789ABCDEF";

    #[test]
    fn sandbox_callback_round_trip() {
        let platform = RsaPrivateKey::from_pkcs8_pem(testdata::TEST_PLATFORM_KEY_PEM).unwrap();
        let mut keys = PlatformKeys::new();
        let serial = keys
            .add_certificate_pem(testdata::TEST_PLATFORM_CERT_PEM)
            .unwrap();
        assert_eq!(serial, "3A1B2C3D4E5F60718293A4B5C6D7E8F901234567");
        keys.insert(
            "PUB_KEY_ID_0114232134912410000000000000",
            platform.public_key(),
        );

        let tx = r#"{"appid":"wx0000000000000001","mchid":"1900000001","out_trade_no":"SF20260101000001","transaction_id":"4200000000202601010000000001","trade_type":"MWEB","trade_state":"SUCCESS","trade_state_desc":"支付成功","bank_type":"OTHERS","attach":"","success_time":"2026-01-01T08:00:04+08:00","payer":{"openid":"o-test"},"amount":{"total":2000,"payer_total":2000,"currency":"CNY","payer_currency":"CNY"}}"#;
        let body = build_callback(
            "EV-1",
            "2026-01-01T08:00:05+08:00",
            "TRANSACTION.SUCCESS",
            "支付成功",
            "transaction",
            "transaction",
            "abcdefghijkl",
            tx.as_bytes(),
            APIV3_KEY,
        )
        .unwrap();
        for id in [serial.as_str(), "PUB_KEY_ID_0114232134912410000000000000"] {
            let headers =
                sign_response(id, 1_767_225_605, "nonce", body.as_bytes(), &platform).unwrap();
            let cb = verify_callback(&keys, &headers, body.as_bytes(), 1_767_225_606, APIV3_KEY)
                .unwrap();
            let t = cb.transaction().unwrap();
            assert_eq!(t.trade_state, TradeState::Success);
            assert_eq!(t.total_fen().unwrap(), 2000);
            assert_eq!(
                t.success_at().unwrap().unwrap().unix_timestamp(),
                1_767_225_604
            );
            assert_eq!(cb.refund().unwrap_err().code(), "invalid_field");
        }
        let negative = tx.replace("\"total\":2000", "\"total\":-2000");
        assert_eq!(
            parse_transaction(negative.as_bytes()).unwrap_err().code(),
            "malformed_json"
        );

        let refund = r#"{"mchid":"1900000001","out_trade_no":"SF20260101000001","transaction_id":"4200000000202601010000000001","out_refund_no":"RF1","refund_id":"50000000002026010100000000001","refund_status":"SUCCESS","success_time":"2026-01-02T10:00:00+08:00","user_received_account":"支付用户零钱","amount":{"total":2000,"refund":2000,"payer_total":2000,"payer_refund":2000}}"#;
        let body = build_callback(
            "EV-2",
            "2026-01-02T10:00:01+08:00",
            "REFUND.SUCCESS",
            "退款成功",
            "refund",
            "refund",
            "abcdefghijkl",
            refund.as_bytes(),
            APIV3_KEY,
        )
        .unwrap();
        let headers =
            sign_response(&serial, 1_767_319_201, "n2", body.as_bytes(), &platform).unwrap();
        let r = verify_callback(&keys, &headers, body.as_bytes(), 1_767_319_201, APIV3_KEY)
            .unwrap()
            .refund()
            .unwrap();
        assert_eq!(r.refund_status, RefundStatus::Success);
        assert_eq!(r.amount.refund, 2000);
        // Wrong APIv3 key: signature fine, decryption fails.
        let wrong = [7u8; 32];
        assert_eq!(
            verify_callback(&keys, &headers, body.as_bytes(), 1_767_319_201, &wrong)
                .unwrap_err()
                .code(),
            "decryption_failed"
        );
        assert_eq!(
            parse_authorization("Bearer x").unwrap_err().code(),
            "unsupported_algorithm"
        );
        assert_eq!(
            WechatpayHeaders::from_headers([("Wechatpay-Nonce", "n")])
                .unwrap_err()
                .code(),
            "missing_field"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn aead_round_trip_and_tamper(
            plaintext in proptest::collection::vec(any::<u8>(), 0..256),
            aad in "[ -~]{0,24}",
            nonce in "[A-Za-z0-9]{12}",
            idx in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let ct = encrypt_aead_aes_256_gcm(APIV3_KEY, &nonce, &aad, &plaintext).unwrap();
            prop_assert_eq!(decrypt_aead_aes_256_gcm(APIV3_KEY, &nonce, &aad, &ct).unwrap(), plaintext);
            let mut raw = STANDARD.decode(&ct).unwrap();
            let i = idx.index(raw.len());
            raw[i] ^= flip;
            let tampered = STANDARD.encode(&raw);
            prop_assert_eq!(decrypt_aead_aes_256_gcm(APIV3_KEY, &nonce, &aad, &tampered).unwrap_err().code(), "decryption_failed");
        }

        #[test]
        fn response_sign_verify_and_single_byte_tamper(
            body in proptest::collection::vec(any::<u8>(), 0..200),
            idx in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let platform = RsaPrivateKey::from_pkcs8_pem(testdata::TEST_PLATFORM_KEY_PEM).unwrap();
            let mut keys = PlatformKeys::new();
            keys.insert("S", platform.public_key());
            let headers = sign_response("S", 1000, "nonce", &body, &platform).unwrap();
            verify_response(&keys, &headers, &body, 1000).unwrap();
            // Flip one byte anywhere in the signed message TIMESTAMP\nNONCE\nBODY\n.
            let mut msg = response_signature_message(&headers.timestamp, &headers.nonce, &body);
            let i = idx.index(msg.len());
            msg[i] ^= flip;
            prop_assert_eq!(platform.public_key().verify_sha256_base64(&msg, &headers.signature).unwrap_err().code(), "bad_signature");
            if !body.is_empty() {
                let mut b = body.clone();
                let j = idx.index(b.len());
                b[j] ^= flip;
                prop_assert_eq!(verify_response(&keys, &headers, &b, 1000).unwrap_err().code(), "bad_signature");
            }
        }
    }
}
