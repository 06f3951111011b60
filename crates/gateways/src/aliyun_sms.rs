//! Aliyun SMS (Dysmsapi `2017-05-25`), both signature styles Aliyun accepts.
//!
//! * RPC signature v1 ([`sign_v1`]): canonicalized query = parameters except `Signature`, sorted by key, each
//!   side RFC 3986 encoded, joined `k=v&…`; string to sign = `METHOD&%2F&` + RFC 3986 encoding of that;
//!   signature = base64(HMAC-SHA1(key = AccessKeySecret + "&")).
//! * ACS3-HMAC-SHA256 (v3) ([`acs3_sign`]): canonical request
//!   `METHOD\nURI\nCANONICAL_QUERY\nCANONICAL_HEADERS\nSIGNED_HEADERS\nHEX(SHA256(body))` over `host`,
//!   `content-type` and every `x-acs-*` header (lower-case names, sorted); string to sign =
//!   `ACS3-HMAC-SHA256\n` + hex SHA-256 of it; signature = hex HMAC-SHA256(AccessKeySecret);
//!   `Authorization: ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=…,Signature=…`.
//!
//! Also: the `SendSms` request for both styles, its response, the delivery-receipt callback (which Aliyun
//! does NOT sign: protect the callback URL with a secret path token), and `QuerySendDetails`, the status query
//! used to reconcile messages whose receipt never came. Sandbox mirror:
//! [`verify_v1`], [`verify_acs3`].

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::codec::{ct_eq, rfc3986_encode};
use crate::error::{GatewayError, Result};
use crate::http::{HttpMethod, HttpRequest};

/// SMS API host (the same for all regions in mainland China).
pub const HOST: &str = "dysmsapi.aliyuncs.com";
/// API version of Dysmsapi.
pub const API_VERSION: &str = "2017-05-25";
/// Aliyun's tolerance for request timestamps, mirrored by the sandbox verifiers.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 15 * 60;
/// ACS3 algorithm name.
pub const ACS3: &str = "ACS3-HMAC-SHA256";

/// Parameters by name (byte-order iteration = Aliyun's sort order).
pub type Params = BTreeMap<String, String>;

/// An AccessKey pair.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for HMAC.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// `2017-07-12T02:42:19Z` (ISO 8601, UTC, seconds): v1 `Timestamp` and ACS3 `x-acs-date`.
pub fn format_timestamp(at: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

fn parse_timestamp(field: &str, s: &str) -> Result<OffsetDateTime> {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::PrimitiveDateTime::parse(s, &fmt)
        .map(|t| t.assume_utc())
        .map_err(|e| GatewayError::invalid_field(field, e.to_string()))
}

fn check_skew(field: &str, s: &str, now: i64) -> Result<()> {
    let t = parse_timestamp(field, s)?.unix_timestamp();
    if now.abs_diff(t) > MAX_CLOCK_SKEW_SECONDS.unsigned_abs() {
        return Err(GatewayError::TimestampOutOfWindow {
            timestamp: t,
            now,
            max_skew_seconds: MAX_CLOCK_SKEW_SECONDS,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// RPC signature v1.

/// Parameters except `Signature`, sorted, `enc(k)=enc(v)` joined with `&`.
pub fn canonicalized_query_v1(params: &Params) -> String {
    params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", rfc3986_encode(k), rfc3986_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `METHOD&%2F&` + enc(canonicalized query).
pub fn string_to_sign_v1(method: &str, params: &Params) -> String {
    format!(
        "{method}&{}&{}",
        rfc3986_encode("/"),
        rfc3986_encode(&canonicalized_query_v1(params))
    )
}

/// base64(HMAC-SHA1(secret + "&", string to sign)).
pub fn sign_v1(method: &str, params: &Params, access_key_secret: &str) -> String {
    let key = format!("{access_key_secret}&");
    STANDARD.encode(hmac_sha1(
        key.as_bytes(),
        string_to_sign_v1(method, params).as_bytes(),
    ))
}

/// Sandbox: verifies a v1-signed request's decoded parameters (including `Signature`): method, HMAC-SHA1
/// v1.0, `Timestamp` within [`MAX_CLOCK_SKEW_SECONDS`] of `now`, constant-time signature comparison.
/// `secret_for` maps the AccessKeyId to its secret (None = unknown key).
pub fn verify_v1(
    method: &str,
    params: &Params,
    secret_for: impl Fn(&str) -> Option<String>,
    now: i64,
) -> Result<()> {
    let get = |k: &str| {
        params
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| GatewayError::MissingField(k.to_owned()))
    };
    if get("SignatureMethod")? != "HMAC-SHA1" || get("SignatureVersion")? != "1.0" {
        return Err(GatewayError::UnsupportedAlgorithm(format!(
            "{} {}",
            get("SignatureMethod")?,
            get("SignatureVersion")?
        )));
    }
    let given = params
        .get("Signature")
        .ok_or(GatewayError::MissingSignature)?;
    let ak = get("AccessKeyId")?;
    let secret = secret_for(ak).ok_or_else(|| GatewayError::UnknownKeySerial(ak.to_owned()))?;
    check_skew("Timestamp", get("Timestamp")?, now)?;
    if ct_eq(
        sign_v1(method, params, &secret).as_bytes(),
        given.as_bytes(),
    ) {
        Ok(())
    } else {
        Err(GatewayError::BadSignature)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// ACS3-HMAC-SHA256.

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The pieces of an ACS3 signature, kept for debugging and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acs3Signature {
    pub canonical_request: String,
    pub signed_headers: String,
    pub string_to_sign: String,
    pub signature: String,
    pub authorization: String,
}

/// Canonical query: RFC 3986 encoded names and values, sorted by encoded name, `k=v` joined with `&`.
pub fn acs3_canonical_query(query: &Params) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (rfc3986_encode(k), rfc3986_encode(v)))
        .collect();
    pairs.sort();
    pairs
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn is_signed_header(lower: &str) -> bool {
    lower == "host" || lower == "content-type" || lower.starts_with("x-acs-")
}

/// Computes the ACS3 signature. `headers` are the request headers (any case); `host`, `content-type` and all
/// `x-acs-*` among them are signed (they must include `x-acs-content-sha256` = [`sha256_hex`] of `body`).
pub fn acs3_sign(
    access_key_id: &str,
    access_key_secret: &str,
    method: &str,
    canonical_uri: &str,
    query: &Params,
    headers: &[(String, String)],
    body: &[u8],
) -> Acs3Signature {
    let mut signed: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
        .filter(|(k, _)| is_signed_header(k))
        .collect();
    signed.sort();
    let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = signed
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{method}\n{canonical_uri}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        acs3_canonical_query(query),
        sha256_hex(body)
    );
    let string_to_sign = format!("{ACS3}\n{}", sha256_hex(canonical_request.as_bytes()));
    let signature = hex::encode(hmac_sha256(
        access_key_secret.as_bytes(),
        string_to_sign.as_bytes(),
    ));
    let authorization = format!(
        "{ACS3} Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}"
    );
    Acs3Signature {
        canonical_request,
        signed_headers,
        string_to_sign,
        signature,
        authorization,
    }
}

/// Sandbox: verifies an ACS3-signed request. Checks `x-acs-content-sha256` against the body, `x-acs-date`
/// within [`MAX_CLOCK_SKEW_SECONDS`] of `now`, that the signed-header list covers `host` and every `x-acs-*`
/// header present, and the signature (constant time).
pub fn verify_acs3(
    method: &str,
    canonical_uri: &str,
    query: &Params,
    headers: &[(String, String)],
    body: &[u8],
    secret_for: impl Fn(&str) -> Option<String>,
    now: i64,
) -> Result<()> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    let auth = header("authorization").ok_or(GatewayError::MissingSignature)?;
    let rest = auth
        .strip_prefix(ACS3)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| {
            GatewayError::UnsupportedAlgorithm(auth.split(' ').next().unwrap_or("").to_owned())
        })?;
    let mut fields = BTreeMap::new();
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| GatewayError::invalid_field("Authorization", "expected k=v"))?;
        fields.insert(k, v);
    }
    let field = |k: &str| {
        fields
            .get(k)
            .copied()
            .ok_or_else(|| GatewayError::MissingField(format!("Authorization.{k}")))
    };
    let (ak, claimed_signed, given) = (
        field("Credential")?,
        field("SignedHeaders")?,
        field("Signature")?,
    );
    let secret = secret_for(ak).ok_or_else(|| GatewayError::UnknownKeySerial(ak.to_owned()))?;
    if header("x-acs-content-sha256") != Some(sha256_hex(body).as_str()) {
        return Err(GatewayError::invalid_field(
            "x-acs-content-sha256",
            "does not match the body",
        ));
    }
    check_skew(
        "x-acs-date",
        header("x-acs-date").ok_or_else(|| GatewayError::MissingField("x-acs-date".into()))?,
        now,
    )?;
    let sig = acs3_sign(ak, &secret, method, canonical_uri, query, headers, body);
    if !claimed_signed.split(';').any(|h| h == "host") || claimed_signed != sig.signed_headers {
        return Err(GatewayError::invalid_field(
            "SignedHeaders",
            "must cover host, content-type and all x-acs-* headers",
        ));
    }
    if ct_eq(sig.signature.as_bytes(), given.as_bytes()) {
        Ok(())
    } else {
        Err(GatewayError::BadSignature)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// SendSms.

/// A `SendSms` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendSms {
    /// Mainland numbers as 11 digits; international with country code, no `+` (Aliyun's format).
    pub phone_numbers: Vec<String>,
    pub sign_name: String,
    pub template_code: String,
    /// Template variables, sent as the JSON object `TemplateParam`.
    pub template_param: BTreeMap<String, String>,
    /// Our id echoed back in receipts.
    pub out_id: Option<String>,
}

impl SendSms {
    fn business_params(&self) -> Result<Params> {
        if self.phone_numbers.is_empty() || self.phone_numbers.len() > 1000 {
            return Err(GatewayError::invalid_field(
                "PhoneNumbers",
                "1 to 1000 numbers",
            ));
        }
        for n in &self.phone_numbers {
            if !(5..=20).contains(&n.len()) || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(GatewayError::invalid_field(
                    "PhoneNumbers",
                    format!("{n:?} is not digits only"),
                ));
            }
        }
        if self.sign_name.is_empty() || self.template_code.is_empty() {
            return Err(GatewayError::MissingField("SignName/TemplateCode".into()));
        }
        let mut p = Params::new();
        p.insert("PhoneNumbers".into(), self.phone_numbers.join(","));
        p.insert("SignName".into(), self.sign_name.clone());
        p.insert("TemplateCode".into(), self.template_code.clone());
        if !self.template_param.is_empty() {
            p.insert(
                "TemplateParam".into(),
                serde_json::to_string(&self.template_param).map_err(GatewayError::json)?,
            );
        }
        if let Some(id) = &self.out_id {
            p.insert("OutId".into(), id.clone());
        }
        Ok(p)
    }
}

/// `SendSms` signed with v1: a GET of `https://dysmsapi.aliyuncs.com/?Signature=…&…`. `nonce` must be unique
/// per request (Aliyun rejects replays).
pub fn send_sms_v1(
    creds: &Credentials,
    req: &SendSms,
    at: OffsetDateTime,
    nonce: &str,
) -> Result<HttpRequest> {
    Ok(signed_v1(
        creds,
        "SendSms",
        req.business_params()?,
        at,
        nonce,
    ))
}

/// `SendSms` signed with ACS3: a POST to `https://dysmsapi.aliyuncs.com/?<params>` with an empty body.
pub fn send_sms_acs3(
    creds: &Credentials,
    req: &SendSms,
    at: OffsetDateTime,
    nonce: &str,
) -> Result<HttpRequest> {
    Ok(signed_acs3(
        creds,
        "SendSms",
        &req.business_params()?,
        at,
        nonce,
    ))
}

/// Any Dysmsapi action as a v1-signed GET: the action's parameters plus the common ones, signed.
pub fn signed_v1(
    creds: &Credentials,
    action: &str,
    mut p: Params,
    at: OffsetDateTime,
    nonce: &str,
) -> HttpRequest {
    for (k, v) in [
        ("AccessKeyId", creds.access_key_id.as_str()),
        ("Action", action),
        ("Format", "JSON"),
        ("RegionId", "cn-hangzhou"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", nonce),
        ("SignatureVersion", "1.0"),
        ("Version", API_VERSION),
    ] {
        p.insert(k.into(), v.into());
    }
    p.insert("Timestamp".into(), format_timestamp(at));
    let signature = sign_v1("GET", &p, &creds.access_key_secret);
    HttpRequest {
        method: HttpMethod::Get,
        url: format!(
            "https://{HOST}/?Signature={}&{}",
            rfc3986_encode(&signature),
            canonicalized_query_v1(&p)
        ),
        headers: vec![],
        body: String::new(),
    }
}

/// Any Dysmsapi action as an ACS3-signed POST with the action's parameters in the query and an empty body.
pub fn signed_acs3(
    creds: &Credentials,
    action: &str,
    query: &Params,
    at: OffsetDateTime,
    nonce: &str,
) -> HttpRequest {
    let headers: Vec<(String, String)> = [
        ("host", HOST.to_owned()),
        ("x-acs-action", action.to_owned()),
        ("x-acs-content-sha256", sha256_hex(b"")),
        ("x-acs-date", format_timestamp(at)),
        ("x-acs-signature-nonce", nonce.to_owned()),
        ("x-acs-version", API_VERSION.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let sig = acs3_sign(
        &creds.access_key_id,
        &creds.access_key_secret,
        "POST",
        "/",
        query,
        &headers,
        b"",
    );
    let mut headers = headers;
    headers.push(("Authorization".into(), sig.authorization));
    HttpRequest {
        method: HttpMethod::Post,
        url: format!("https://{HOST}/?{}", acs3_canonical_query(query)),
        headers,
        body: String::new(),
    }
}

/// Reasons Aliyun rejects a `SendSms` (the common ones named; the rest kept verbatim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendSmsError {
    /// `isv.MOBILE_NUMBER_ILLEGAL`: not a valid number. Do not retry.
    MobileNumberIllegal,
    /// `isv.BUSINESS_LIMIT_CONTROL`: per-number rate limit (per minute/hour/day). Retry later.
    BusinessLimitControl,
    /// `isv.DAY_LIMIT_CONTROL`: daily quota reached.
    DayLimitControl,
    /// `isv.AMOUNT_NOT_ENOUGH`: account balance.
    AmountNotEnough,
    /// `isv.TEMPLATE_MISSING_PARAMETERS`.
    TemplateMissingParameters,
    /// `isv.SMS_SIGNATURE_ILLEGAL`.
    SignatureIllegal,
    /// `isv.SMS_TEMPLATE_ILLEGAL`.
    TemplateIllegal,
    /// Any other code, verbatim.
    Other(String),
}

impl SendSmsError {
    fn from_code(code: &str) -> Self {
        match code {
            "isv.MOBILE_NUMBER_ILLEGAL" => Self::MobileNumberIllegal,
            "isv.BUSINESS_LIMIT_CONTROL" => Self::BusinessLimitControl,
            "isv.DAY_LIMIT_CONTROL" => Self::DayLimitControl,
            "isv.AMOUNT_NOT_ENOUGH" => Self::AmountNotEnough,
            "isv.TEMPLATE_MISSING_PARAMETERS" => Self::TemplateMissingParameters,
            "isv.SMS_SIGNATURE_ILLEGAL" => Self::SignatureIllegal,
            "isv.SMS_TEMPLATE_ILLEGAL" => Self::TemplateIllegal,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether trying again later can succeed (rate limits), as opposed to a permanent rejection.
    pub fn is_rate_limit(&self) -> bool {
        matches!(self, Self::BusinessLimitControl | Self::DayLimitControl)
    }
}

/// Result of a `SendSms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendSmsOutcome {
    /// `Code: "OK"`; `biz_id` identifies the send in receipts and queries.
    Accepted { biz_id: String, request_id: String },
    Rejected {
        error: SendSmsError,
        code: String,
        message: String,
        request_id: String,
    },
}

/// Parses the JSON response of `SendSms` (`Format=JSON` / ACS3).
pub fn parse_send_sms_response(body: &str) -> Result<SendSmsOutcome> {
    #[derive(Deserialize)]
    struct Wire {
        #[serde(rename = "Code")]
        code: String,
        #[serde(rename = "Message", default)]
        message: String,
        #[serde(rename = "RequestId", default)]
        request_id: String,
        #[serde(rename = "BizId", default)]
        biz_id: Option<String>,
    }
    let w: Wire = serde_json::from_str(body).map_err(GatewayError::json)?;
    if w.code == "OK" {
        let biz_id = w
            .biz_id
            .filter(|b| !b.is_empty())
            .ok_or_else(|| GatewayError::MissingField("BizId".into()))?;
        return Ok(SendSmsOutcome::Accepted {
            biz_id,
            request_id: w.request_id,
        });
    }
    Ok(SendSmsOutcome::Rejected {
        error: SendSmsError::from_code(&w.code),
        code: w.code,
        message: w.message,
        request_id: w.request_id,
    })
}

/// One entry of the delivery-receipt callback (`SmsReport`), posted as a JSON array. Unsigned.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeliveryReceipt {
    pub phone_number: String,
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time.
    pub send_time: String,
    pub report_time: String,
    pub success: bool,
    /// `DELIVERED` on success, else the carrier's code (e.g. `MK:0001`).
    pub err_code: String,
    pub err_msg: String,
    /// Number of billed segments (Aliyun sends it as a string; numbers are accepted too).
    #[serde(deserialize_with = "u32_from_string_or_number")]
    pub sms_size: u32,
    pub biz_id: String,
    #[serde(default)]
    pub out_id: Option<String>,
}

fn u32_from_string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        N(u32),
    }
    match Either::deserialize(d)? {
        Either::N(n) => Ok(n),
        Either::S(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

/// Parses a delivery-receipt callback body. Answer it with `{"code":0,"msg":"成功"}`.
pub fn parse_delivery_receipts(body: &str) -> Result<Vec<DeliveryReceipt>> {
    serde_json::from_str(body).map_err(GatewayError::json)
}

// ---------------------------------------------------------------------------------------------------------------
// QuerySendDetails: the status of sent messages, for reconciling when a receipt callback never came.

/// A `QuerySendDetails` call: the messages sent to one number on one day (Beijing time), optionally only the
/// send `biz_id` names. Aliyun keeps 30 days of details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySendDetails {
    /// One number, 11 digits (mainland) as it was sent.
    pub phone_number: String,
    /// The `BizId` returned by `SendSms`.
    pub biz_id: Option<String>,
    /// The day it was sent, Beijing time.
    pub send_date: time::Date,
    /// 1 to 50.
    pub page_size: u32,
    /// From 1.
    pub current_page: u32,
}

impl QuerySendDetails {
    fn params(&self) -> Result<Params> {
        let n = &self.phone_number;
        if !(5..=20).contains(&n.len()) || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(GatewayError::invalid_field(
                "PhoneNumber",
                format!("{n:?} is not digits only"),
            ));
        }
        if !(1..=50).contains(&self.page_size) || self.current_page == 0 {
            return Err(GatewayError::invalid_field(
                "PageSize",
                "PageSize 1 to 50, CurrentPage from 1",
            ));
        }
        let mut p = Params::new();
        p.insert("PhoneNumber".into(), n.clone());
        if let Some(b) = &self.biz_id {
            p.insert("BizId".into(), b.clone());
        }
        p.insert("SendDate".into(), format_send_date(self.send_date));
        p.insert("PageSize".into(), self.page_size.to_string());
        p.insert("CurrentPage".into(), self.current_page.to_string());
        Ok(p)
    }
}

/// `yyyyMMdd`, the `SendDate` format.
pub fn format_send_date(d: time::Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parses a `SendDate` (`yyyyMMdd`): the sandbox's side.
pub fn parse_send_date(s: &str) -> Result<time::Date> {
    let bad = || GatewayError::invalid_field("SendDate", "expected yyyyMMdd");
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (y, m, d) = (&s[..4], &s[4..6], &s[6..]);
    let month = time::Month::try_from(m.parse::<u8>().map_err(|_| bad())?).map_err(|_| bad())?;
    time::Date::from_calendar_date(
        y.parse().map_err(|_| bad())?,
        month,
        d.parse().map_err(|_| bad())?,
    )
    .map_err(|_| bad())
}

/// `QuerySendDetails` signed with v1 (a GET).
pub fn query_send_details_v1(
    creds: &Credentials,
    req: &QuerySendDetails,
    at: OffsetDateTime,
    nonce: &str,
) -> Result<HttpRequest> {
    Ok(signed_v1(
        creds,
        "QuerySendDetails",
        req.params()?,
        at,
        nonce,
    ))
}

/// `QuerySendDetails` signed with ACS3 (a POST).
pub fn query_send_details_acs3(
    creds: &Credentials,
    req: &QuerySendDetails,
    at: OffsetDateTime,
    nonce: &str,
) -> Result<HttpRequest> {
    Ok(signed_acs3(
        creds,
        "QuerySendDetails",
        &req.params()?,
        at,
        nonce,
    ))
}

/// `SendStatus` of a detail: 1 waiting for the carrier's report, 2 failed, 3 delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailStatus {
    Waiting,
    Failed,
    Delivered,
}

impl DetailStatus {
    pub fn code(self) -> u8 {
        match self {
            DetailStatus::Waiting => 1,
            DetailStatus::Failed => 2,
            DetailStatus::Delivered => 3,
        }
    }
}

/// One `SmsSendDetailDTO`. (Aliyun does not repeat the `BizId`; `OutId` is ours, echoed.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendDetail {
    pub phone_num: String,
    pub send_status: DetailStatus,
    /// `DELIVERED` on success, else the carrier's code; empty while waiting.
    pub err_code: String,
    pub template_code: String,
    pub content: String,
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time.
    pub send_date: String,
    pub receive_date: String,
    pub out_id: Option<String>,
}

/// Result of a `QuerySendDetails`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuerySendDetailsOutcome {
    Found {
        total_count: u64,
        details: Vec<SendDetail>,
        request_id: String,
    },
    /// A refusal (`isv.*` / `isp.*` codes, throttling), verbatim.
    Rejected {
        code: String,
        message: String,
        request_id: String,
    },
}

/// Parses the JSON response of `QuerySendDetails`.
pub fn parse_query_send_details_response(body: &str) -> Result<QuerySendDetailsOutcome> {
    #[derive(Deserialize)]
    struct Wire {
        #[serde(rename = "Code")]
        code: String,
        #[serde(rename = "Message", default)]
        message: String,
        #[serde(rename = "RequestId", default)]
        request_id: String,
        #[serde(
            rename = "TotalCount",
            default,
            deserialize_with = "opt_u64_from_string_or_number"
        )]
        total_count: Option<u64>,
        #[serde(rename = "SmsSendDetailDTOs", default)]
        dtos: Option<Dtos>,
    }
    #[derive(Deserialize)]
    struct Dtos {
        #[serde(rename = "SmsSendDetailDTO", default)]
        list: Vec<Dto>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Dto {
        #[serde(default)]
        phone_num: String,
        send_status: u8,
        #[serde(default)]
        err_code: String,
        #[serde(default)]
        template_code: String,
        #[serde(default)]
        content: String,
        #[serde(default)]
        send_date: String,
        #[serde(default)]
        receive_date: String,
        #[serde(default)]
        out_id: Option<String>,
    }
    let w: Wire = serde_json::from_str(body).map_err(GatewayError::json)?;
    if w.code != "OK" {
        return Ok(QuerySendDetailsOutcome::Rejected {
            code: w.code,
            message: w.message,
            request_id: w.request_id,
        });
    }
    let details = w
        .dtos
        .map(|d| d.list)
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            let send_status = match d.send_status {
                1 => DetailStatus::Waiting,
                2 => DetailStatus::Failed,
                3 => DetailStatus::Delivered,
                other => {
                    return Err(GatewayError::invalid_field(
                        "SendStatus",
                        format!("unknown status {other}"),
                    ));
                }
            };
            Ok(SendDetail {
                phone_num: d.phone_num,
                send_status,
                err_code: d.err_code,
                template_code: d.template_code,
                content: d.content,
                send_date: d.send_date,
                receive_date: d.receive_date,
                out_id: d.out_id.filter(|o| !o.is_empty()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(QuerySendDetailsOutcome::Found {
        total_count: w.total_count.unwrap_or(details.len() as u64),
        details,
        request_id: w.request_id,
    })
}

fn opt_u64_from_string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        N(u64),
    }
    match Option::<Either>::deserialize(d)? {
        None => Ok(None),
        Some(Either::N(n)) => Ok(Some(n)),
        Some(Either::S(s)) => s.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::parse_form;
    use crate::testdata::{s, vector};
    use proptest::prelude::*;
    use serde_json::Value;

    /// The parameters a built request carries in its URL.
    fn url_params(http: &HttpRequest) -> Params {
        parse_form(http.url.split_once('?').unwrap().1)
            .unwrap()
            .into_iter()
            .collect()
    }

    fn params(v: &Value) -> Params {
        v["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect()
    }

    #[test]
    fn vector_aliyun_v1_sendsms() {
        let v = vector("aliyun_v1_sendsms");
        let p = params(&v);
        assert_eq!(canonicalized_query_v1(&p), s(&v, "canonicalized_query"));
        assert_eq!(string_to_sign_v1("GET", &p), s(&v, "string_to_sign"));
        assert_eq!(
            sign_v1("GET", &p, s(&v, "access_key_secret")),
            s(&v, "signature")
        );
        assert_eq!(
            rfc3986_encode(s(&v, "signature")),
            s(&v, "signature_urlencoded")
        );

        // The builder produces the same request for the same inputs (Format=XML in the vector).
        let req = SendSms {
            phone_numbers: vec!["15300000001".into()],
            sign_name: "阿里云短信测试专用".into(),
            template_code: "SMS_71390007".into(),
            template_param: [("customer".to_owned(), "test".to_owned())].into(),
            out_id: Some("123".into()),
        };
        let creds = Credentials {
            access_key_id: "testId".into(),
            access_key_secret: "testSecret".into(),
        };
        let at = parse_timestamp("t", "2017-07-12T02:42:19Z").unwrap();
        let http = send_sms_v1(&creds, &req, at, "45e25e9b-0a6f-4070-8c85-2956eda1b466").unwrap();
        let mut got = url_params(&http);
        assert_eq!(got.get("Format").map(String::as_str), Some("JSON"));
        got.insert("Format".into(), "XML".into());
        got.remove("Signature");
        assert_eq!(got, p);

        // Sandbox mirror.
        let mut signed = p.clone();
        signed.insert("Signature".into(), s(&v, "signature").into());
        let secrets = |ak: &str| (ak == "testId").then(|| "testSecret".to_owned());
        let t = at.unix_timestamp();
        verify_v1("GET", &signed, secrets, t + 60).unwrap();
        assert_eq!(
            verify_v1("GET", &signed, secrets, t + 901)
                .unwrap_err()
                .code(),
            "timestamp_out_of_window"
        );
        assert_eq!(
            verify_v1("POST", &signed, secrets, t).unwrap_err().code(),
            "bad_signature"
        );
        signed.insert("PhoneNumbers".into(), "15300000002".into());
        assert_eq!(
            verify_v1("GET", &signed, secrets, t).unwrap_err().code(),
            "bad_signature"
        );
        signed.insert("AccessKeyId".into(), "other".into());
        assert_eq!(
            verify_v1("GET", &signed, secrets, t).unwrap_err().code(),
            "unknown_key_serial"
        );
    }

    #[test]
    fn vector_aliyun_v1_describeregions() {
        let v = vector("aliyun_v1_describeregions");
        let p = params(&v);
        assert_eq!(string_to_sign_v1("GET", &p), s(&v, "string_to_sign"));
        assert_eq!(
            sign_v1("GET", &p, s(&v, "access_key_secret")),
            s(&v, "signature")
        );
    }

    #[test]
    fn vector_aliyun_acs3_runinstances() {
        let v = vector("aliyun_acs3_runinstances");
        let headers: Vec<(String, String)> = v["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let query: Params = [
            (
                "ImageId".to_owned(),
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd".to_owned(),
            ),
            ("RegionId".to_owned(), "cn-shanghai".to_owned()),
        ]
        .into();
        let sig = acs3_sign(
            s(&v, "access_key_id"),
            s(&v, "access_key_secret"),
            "POST",
            "/",
            &query,
            &headers,
            b"",
        );
        assert_eq!(sig.canonical_request, s(&v, "canonical_request"));
        assert_eq!(
            sha256_hex(sig.canonical_request.as_bytes()),
            s(&v, "hashed_canonical_request")
        );
        assert_eq!(sig.string_to_sign, s(&v, "string_to_sign"));
        assert_eq!(sig.signature, s(&v, "signature"));
        assert_eq!(sig.authorization, s(&v, "authorization"));

        let mut with_auth = headers.clone();
        with_auth.push(("Authorization".into(), sig.authorization.clone()));
        let secrets =
            |ak: &str| (ak == "YourAccessKeyId").then(|| "YourAccessKeySecret".to_owned());
        let now = parse_timestamp("t", "2023-10-26T10:22:32Z")
            .unwrap()
            .unix_timestamp();
        verify_acs3("POST", "/", &query, &with_auth, b"", secrets, now).unwrap();
        assert_eq!(
            verify_acs3("POST", "/", &query, &with_auth, b"x", secrets, now)
                .unwrap_err()
                .code(),
            "invalid_field"
        );
        let mut q2 = query.clone();
        q2.insert("RegionId".into(), "cn-beijing".into());
        assert_eq!(
            verify_acs3("POST", "/", &q2, &with_auth, b"", secrets, now)
                .unwrap_err()
                .code(),
            "bad_signature"
        );
        assert_eq!(
            verify_acs3("POST", "/", &query, &with_auth, b"", secrets, now + 3600)
                .unwrap_err()
                .code(),
            "timestamp_out_of_window"
        );
    }

    #[test]
    fn send_sms_acs3_round_trip() {
        let creds = Credentials {
            access_key_id: "LTAI-test".into(),
            access_key_secret: "secret-test".into(),
        };
        let req = SendSms {
            phone_numbers: vec!["13800000000".into(), "13900000000".into()],
            sign_name: "身份服务".into(),
            template_code: "SMS_000001".into(),
            template_param: [("code".to_owned(), "123456".to_owned())].into(),
            out_id: None,
        };
        let at = parse_timestamp("t", "2026-01-01T00:00:00Z").unwrap();
        let http = send_sms_acs3(&creds, &req, at, "nonce-1").unwrap();
        assert_eq!(
            http.url,
            "https://dysmsapi.aliyuncs.com/?PhoneNumbers=13800000000%2C13900000000&SignName=%E8%BA%AB%E4%BB%BD%E6%9C%8D%E5%8A%A1&TemplateCode=SMS_000001&TemplateParam=%7B%22code%22%3A%22123456%22%7D"
        );
        let query = url_params(&http);
        let secrets = |ak: &str| (ak == "LTAI-test").then(|| "secret-test".to_owned());
        verify_acs3(
            "POST",
            "/",
            &query,
            &http.headers,
            b"",
            secrets,
            at.unix_timestamp(),
        )
        .unwrap();
        let bad = SendSms {
            phone_numbers: vec!["+8613800000000".into()],
            ..req
        };
        assert_eq!(
            send_sms_acs3(&creds, &bad, at, "n").unwrap_err().code(),
            "invalid_field"
        );
    }

    #[test]
    fn responses_and_receipts() {
        let ok = r#"{"Message":"OK","RequestId":"F655A8D5-B967-440B-8683-DAD6FF8DE990","Code":"OK","BizId":"900619746936498440^0"}"#;
        assert_eq!(
            parse_send_sms_response(ok).unwrap(),
            SendSmsOutcome::Accepted {
                biz_id: "900619746936498440^0".into(),
                request_id: "F655A8D5-B967-440B-8683-DAD6FF8DE990".into()
            }
        );
        let illegal = r#"{"Message":"invalid mobile number","RequestId":"r","Code":"isv.MOBILE_NUMBER_ILLEGAL"}"#;
        assert!(matches!(
            parse_send_sms_response(illegal).unwrap(),
            SendSmsOutcome::Rejected {
                error: SendSmsError::MobileNumberIllegal,
                ..
            }
        ));
        let limited = r#"{"Message":"触发分钟级流控Permits:1","RequestId":"r","Code":"isv.BUSINESS_LIMIT_CONTROL"}"#;
        match parse_send_sms_response(limited).unwrap() {
            SendSmsOutcome::Rejected { error, .. } => assert!(error.is_rate_limit()),
            other => panic!("{other:?}"),
        }
        let other = r#"{"Message":"m","RequestId":"r","Code":"isp.SYSTEM_ERROR"}"#;
        assert!(
            matches!(parse_send_sms_response(other).unwrap(), SendSmsOutcome::Rejected { error: SendSmsError::Other(c), .. } if c == "isp.SYSTEM_ERROR")
        );
        assert_eq!(
            parse_send_sms_response(r#"{"Code":"OK"}"#)
                .unwrap_err()
                .code(),
            "missing_field"
        );
        assert_eq!(
            parse_send_sms_response("<xml/>").unwrap_err().code(),
            "malformed_json"
        );

        let receipts = r#"[{"phone_number":"13900000000","send_time":"2017-01-01 11:12:13","report_time":"2017-02-02 22:23:24","success":true,"err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"1","biz_id":"12345","out_id":"67890"},{"phone_number":"13900000001","send_time":"2017-01-01 11:12:13","report_time":"2017-02-02 22:23:24","success":false,"err_code":"MK:0001","err_msg":"","sms_size":2,"biz_id":"12346"}]"#;
        let r = parse_delivery_receipts(receipts).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r[0].success);
        assert_eq!(r[0].sms_size, 1);
        assert_eq!(r[0].out_id.as_deref(), Some("67890"));
        assert_eq!(r[1].sms_size, 2);
        assert_eq!(r[1].out_id, None);
        assert_eq!(
            parse_delivery_receipts(r#"[{"phone_number":"1"}]"#)
                .unwrap_err()
                .code(),
            "malformed_json"
        );
        assert_eq!(
            parse_delivery_receipts(&receipts.replace("\"sms_size\":2", "\"sms_size\":-2"))
                .unwrap_err()
                .code(),
            "malformed_json"
        );
    }

    #[test]
    fn query_send_details_requests_and_responses() {
        let creds = Credentials {
            access_key_id: "LTAI-test".into(),
            access_key_secret: "secret-test".into(),
        };
        let req = QuerySendDetails {
            phone_number: "13800000000".into(),
            biz_id: Some("900619746936498440^0".into()),
            send_date: time::macros::date!(2026 - 11 - 26),
            page_size: 10,
            current_page: 1,
        };
        let at = parse_timestamp("t", "2026-11-26T02:00:00Z").unwrap();
        let secrets = |ak: &str| (ak == "LTAI-test").then(|| "secret-test".to_owned());
        // ACS3: the action is a signed header, the parameters the signed query.
        let http = query_send_details_acs3(&creds, &req, at, "n-1").unwrap();
        let query = url_params(&http);
        assert_eq!(query.get("SendDate").map(String::as_str), Some("20261126"));
        assert_eq!(
            query.get("BizId").map(String::as_str),
            Some("900619746936498440^0")
        );
        assert!(
            http.headers
                .iter()
                .any(|(k, v)| k == "x-acs-action" && v == "QuerySendDetails")
        );
        verify_acs3(
            "POST",
            "/",
            &query,
            &http.headers,
            b"",
            secrets,
            at.unix_timestamp(),
        )
        .unwrap();
        // v1: the action is a signed parameter.
        let http = query_send_details_v1(&creds, &req, at, "n-2").unwrap();
        let params = url_params(&http);
        assert_eq!(
            params.get("Action").map(String::as_str),
            Some("QuerySendDetails")
        );
        verify_v1("GET", &params, secrets, at.unix_timestamp()).unwrap();
        let mut tampered = params.clone();
        tampered.insert("Action".into(), "SendSms".into());
        assert_eq!(
            verify_v1("GET", &tampered, secrets, at.unix_timestamp())
                .unwrap_err()
                .code(),
            "bad_signature"
        );
        // Bad input is refused before anything is signed.
        for bad in [
            QuerySendDetails {
                phone_number: "+8613800000000".into(),
                ..req.clone()
            },
            QuerySendDetails {
                page_size: 51,
                ..req.clone()
            },
            QuerySendDetails {
                current_page: 0,
                ..req.clone()
            },
        ] {
            assert_eq!(
                query_send_details_acs3(&creds, &bad, at, "n")
                    .unwrap_err()
                    .code(),
                "invalid_field"
            );
        }
        assert_eq!(parse_send_date("20261126").unwrap(), req.send_date);
        for bad in ["2026112", "20261301", "2026-11-", "20260230"] {
            assert_eq!(
                parse_send_date(bad).unwrap_err().code(),
                "invalid_field",
                "{bad}"
            );
        }

        // The documented response shape: TotalCount as a string, the details nested twice.
        let found = r#"{"TotalCount":"1","Message":"OK","RequestId":"819BE656-D2E0-4858-8B21-B2E477085AAF","SmsSendDetailDTOs":{"SmsSendDetailDTO":[{"SendDate":"2019-01-08 16:44:10","SendStatus":3,"ReceiveDate":"2019-01-08 16:44:13","ErrCode":"DELIVERED","TemplateCode":"SMS_122310183","Content":"【阿里云】验证码为：123，您正在登录，若非本人操作，请勿泄露","PhoneNum":"15298356881","OutId":"123"}]},"Code":"OK"}"#;
        match parse_query_send_details_response(found).unwrap() {
            QuerySendDetailsOutcome::Found {
                total_count,
                details,
                ..
            } => {
                assert_eq!(total_count, 1);
                assert_eq!(details[0].send_status, DetailStatus::Delivered);
                assert_eq!(details[0].err_code, "DELIVERED");
                assert_eq!(details[0].out_id.as_deref(), Some("123"));
            }
            other => panic!("{other:?}"),
        }
        let waiting = r#"{"TotalCount":1,"Code":"OK","SmsSendDetailDTOs":{"SmsSendDetailDTO":[{"SendStatus":1,"PhoneNum":"1"}]}}"#;
        assert!(
            matches!(parse_query_send_details_response(waiting).unwrap(),
            QuerySendDetailsOutcome::Found { ref details, .. } if details[0].send_status == DetailStatus::Waiting && details[0].out_id.is_none())
        );
        let none = r#"{"TotalCount":"0","Code":"OK","RequestId":"r","SmsSendDetailDTOs":{"SmsSendDetailDTO":[]}}"#;
        assert!(
            matches!(parse_query_send_details_response(none).unwrap(), QuerySendDetailsOutcome::Found { total_count: 0, ref details, .. } if details.is_empty())
        );
        let throttled = r#"{"Code":"Throttling.User","Message":"Request was denied due to user flow control.","RequestId":"r"}"#;
        assert!(
            matches!(parse_query_send_details_response(throttled).unwrap(), QuerySendDetailsOutcome::Rejected { ref code, .. } if code == "Throttling.User")
        );
        let odd = r#"{"Code":"OK","SmsSendDetailDTOs":{"SmsSendDetailDTO":[{"SendStatus":7}]}}"#;
        assert_eq!(
            parse_query_send_details_response(odd).unwrap_err().code(),
            "invalid_field"
        );
        assert_eq!(
            parse_query_send_details_response("[]").unwrap_err().code(),
            "malformed_json"
        );
    }

    proptest! {
        #[test]
        fn v1_sign_verify_and_tamper(phone in "1[3-9][0-9]{9}", code in "[0-9]{6}", idx in any::<prop::sample::Index>(), flip in 1u8..=127) {
            let creds = Credentials { access_key_id: "ak".into(), access_key_secret: "sk".into() };
            let req = SendSms { phone_numbers: vec![phone], sign_name: "s".into(), template_code: "t".into(),
                template_param: [("code".to_owned(), code)].into(), out_id: None };
            let at = parse_timestamp("t", "2026-01-01T00:00:00Z").unwrap();
            let http = send_sms_v1(&creds, &req, at, "n").unwrap();
            let params = url_params(&http);
            let secrets = |ak: &str| (ak == "ak").then(|| "sk".to_owned());
            verify_v1("GET", &params, secrets, at.unix_timestamp()).unwrap();
            // Single-byte change of the string to sign changes the HMAC.
            let sts = string_to_sign_v1("GET", &params);
            let mut b = sts.into_bytes();
            let i = idx.index(b.len());
            b[i] ^= flip;
            let tampered = STANDARD.encode(hmac_sha1(b"sk&", &b));
            prop_assert_ne!(tampered.as_str(), params["Signature"].as_str());
        }
    }
}
