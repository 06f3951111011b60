//! Tencent Cloud SMS (`sms.tencentcloudapi.com`, version `2021-01-11`) and its TC3-HMAC-SHA256 signature.
//!
//! TC3 ([`tc3_sign`]):
//! * canonical request = `METHOD\n/\nQUERY\nCANONICAL_HEADERS\nSIGNED_HEADERS\nHEX(SHA256(payload))`, where
//!   signed headers have their names AND values lower-cased and trimmed (`x-tc-action:sendsms`), sorted by name,
//!   and the payload is hashed byte-exact as sent (never re-serialised);
//! * string to sign = `TC3-HMAC-SHA256\nTIMESTAMP\nDATE/SERVICE/tc3_request\nHEX(SHA256(canonical request))`,
//!   with DATE the UTC date of TIMESTAMP (not local time: a request at 07:00 Beijing is still "yesterday");
//! * key derivation: HMAC-SHA256 chain `"TC3"+SecretKey` → DATE → SERVICE → `tc3_request`; the signature is
//!   hex HMAC-SHA256(signing key, string to sign).
//!
//! Also the `SendSms` request, its response (per-number `SendStatusSet`), the delivery-receipt callback
//! (unsigned by Tencent: protect its URL with a secret path token), and `PullSmsSendStatusByPhoneNumber`, the
//! status query used to reconcile messages whose receipt never came. Sandbox mirror:
//! [`verify`].

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::codec::ct_eq;
use crate::error::{GatewayError, Result};
use crate::http::{HttpMethod, HttpRequest};

/// SMS API host.
pub const HOST: &str = "sms.tencentcloudapi.com";
/// Service name in the credential scope.
pub const SERVICE: &str = "sms";
/// API version implemented.
pub const VERSION: &str = "2021-01-11";
/// Signature algorithm name.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
/// Tencent Cloud rejects requests whose X-TC-Timestamp is more than five minutes off; the sandbox mirrors it.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;
/// Content type of JSON POSTs (signed, so it must be sent exactly like this).
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A SecretId / SecretKey pair.
#[derive(Clone)]
pub struct Credentials {
    pub secret_id: String,
    pub secret_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .finish_non_exhaustive()
    }
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `YYYY-MM-DD` of a unix timestamp, in UTC.
pub fn credential_date(timestamp: i64) -> Result<String> {
    let at = OffsetDateTime::from_unix_timestamp(timestamp)
        .map_err(|_| GatewayError::invalid_field("timestamp", "out of range"))?;
    at.format(format_description!("[year]-[month]-[day]"))
        .map_err(|_| GatewayError::invalid_field("timestamp", "out of range"))
}

/// All intermediate values of a TC3 signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tc3Signature {
    pub canonical_request: String,
    pub signed_headers: String,
    pub credential_scope: String,
    pub string_to_sign: String,
    pub signature: String,
    pub authorization: String,
}

/// Computes TC3-HMAC-SHA256. `signed_headers` lists the headers to sign as (name, value) in any case and order
/// (at least `content-type` and `host`); `canonical_query` is the query string as sent (empty for POST).
#[allow(clippy::too_many_arguments)]
pub fn tc3_sign(
    secret_id: &str,
    secret_key: &str,
    service: &str,
    method: &str,
    canonical_query: &str,
    signed_headers: &[(&str, &str)],
    payload: &[u8],
    timestamp: i64,
) -> Result<Tc3Signature> {
    let mut headers: Vec<(String, String)> = signed_headers
        .iter()
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_lowercase()))
        .collect();
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_names = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{method}\n/\n{canonical_query}\n{canonical_headers}\n{signed_names}\n{}",
        sha256_hex(payload)
    );
    let date = credential_date(timestamp)?;
    let credential_scope = format!("{date}/{service}/tc3_request");
    let string_to_sign = format!(
        "{ALGORITHM}\n{timestamp}\n{credential_scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let secret_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let secret_service = hmac_sha256(&secret_date, service.as_bytes());
    let secret_signing = hmac_sha256(&secret_service, b"tc3_request");
    let signature = hex::encode(hmac_sha256(&secret_signing, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={secret_id}/{credential_scope}, SignedHeaders={signed_names}, Signature={signature}"
    );
    Ok(Tc3Signature {
        canonical_request,
        signed_headers: signed_names,
        credential_scope,
        string_to_sign,
        signature,
        authorization,
    })
}

/// Which API action a request calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiTarget<'a> {
    /// e.g. `sms.tencentcloudapi.com`.
    pub host: &'a str,
    /// e.g. `sms` (the credential-scope service).
    pub service: &'a str,
    /// e.g. `SendSms`.
    pub action: &'a str,
    /// e.g. `2021-01-11`.
    pub version: &'a str,
    /// e.g. `ap-guangzhou`.
    pub region: &'a str,
}

/// Any Tencent Cloud API call as a signed JSON POST: signs `content-type`, `host` and `x-tc-action`.
pub fn signed_json_post(
    creds: &Credentials,
    target: &ApiTarget<'_>,
    payload: &str,
    timestamp: i64,
) -> Result<HttpRequest> {
    let ApiTarget {
        host,
        service,
        action,
        version,
        region,
    } = *target;
    let sig = tc3_sign(
        &creds.secret_id,
        &creds.secret_key,
        service,
        "POST",
        "",
        &[
            ("content-type", JSON_CONTENT_TYPE),
            ("host", host),
            ("x-tc-action", action),
        ],
        payload.as_bytes(),
        timestamp,
    )?;
    let headers = [
        ("Authorization", sig.authorization.as_str()),
        ("Content-Type", JSON_CONTENT_TYPE),
        ("Host", host),
        ("X-TC-Action", action),
        ("X-TC-Timestamp", &timestamp.to_string()),
        ("X-TC-Version", version),
        ("X-TC-Region", region),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Ok(HttpRequest {
        method: HttpMethod::Post,
        url: format!("https://{host}/"),
        headers,
        body: payload.to_owned(),
    })
}

// ---------------------------------------------------------------------------------------------------------------
// SendSms.

/// A `SendSms` call (2021-01-11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendSms {
    /// E.164 numbers, `+8613800000000` (see [`mainland_e164`]); at most 200.
    pub phone_number_set: Vec<String>,
    pub sms_sdk_app_id: String,
    pub sign_name: String,
    pub template_id: String,
    pub template_param_set: Vec<String>,
    /// Echoed back in the response and receipts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_context: Option<String>,
}

/// `13800000000` → `+8613800000000`; rejects anything that is not an 11-digit mainland mobile number.
pub fn mainland_e164(national: &str) -> Result<String> {
    if national.len() == 11
        && national.starts_with('1')
        && national.bytes().all(|b| b.is_ascii_digit())
    {
        Ok(format!("+86{national}"))
    } else {
        Err(GatewayError::invalid_field(
            "PhoneNumberSet",
            format!("{national:?} is not a mainland mobile number"),
        ))
    }
}

/// The signed `SendSms` request. `region` e.g. `ap-guangzhou`; `timestamp` unix seconds (now).
pub fn send_sms_request(
    creds: &Credentials,
    region: &str,
    req: &SendSms,
    timestamp: i64,
) -> Result<HttpRequest> {
    if req.phone_number_set.is_empty() || req.phone_number_set.len() > 200 {
        return Err(GatewayError::invalid_field(
            "PhoneNumberSet",
            "1 to 200 numbers",
        ));
    }
    for n in &req.phone_number_set {
        let digits = n.strip_prefix('+').unwrap_or("");
        if !(6..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(GatewayError::invalid_field(
                "PhoneNumberSet",
                format!("{n:?} is not E.164"),
            ));
        }
    }
    let payload = serde_json::to_string(req).map_err(GatewayError::json)?;
    let target = ApiTarget {
        host: HOST,
        service: SERVICE,
        action: "SendSms",
        version: VERSION,
        region,
    };
    signed_json_post(creds, &target, &payload, timestamp)
}

/// One number's result.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendStatus {
    pub serial_no: String,
    pub phone_number: String,
    #[serde(default)]
    pub fee: u32,
    #[serde(default)]
    pub session_context: String,
    /// `Ok` on success, else e.g. `LimitExceeded.PhoneNumberDailyLimit`.
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub iso_code: String,
}

/// Per-number rejection reasons (common ones named).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendStatusError {
    /// `LimitExceeded.PhoneNumberDailyLimit`.
    PhoneNumberDailyLimit,
    /// `LimitExceeded.PhoneNumberThirtySecondLimit` / `…OneHourLimit` / `…SameContentDailyLimit`.
    PhoneNumberRateLimit(String),
    /// `InvalidParameterValue.IncorrectPhoneNumber`.
    IncorrectPhoneNumber,
    /// `FailedOperation.PhoneNumberInBlacklist` (user unsubscribed).
    PhoneNumberInBlacklist,
    Other(String),
}

impl SendStatus {
    /// Whether this number was accepted.
    pub fn is_ok(&self) -> bool {
        self.code == "Ok"
    }

    /// The rejection reason, if any.
    pub fn error(&self) -> Option<SendStatusError> {
        if self.is_ok() {
            return None;
        }
        Some(match self.code.as_str() {
            "LimitExceeded.PhoneNumberDailyLimit" => SendStatusError::PhoneNumberDailyLimit,
            c if c.starts_with("LimitExceeded.PhoneNumber") => {
                SendStatusError::PhoneNumberRateLimit(c.to_owned())
            }
            "InvalidParameterValue.IncorrectPhoneNumber" => SendStatusError::IncorrectPhoneNumber,
            "FailedOperation.PhoneNumberInBlacklist" => SendStatusError::PhoneNumberInBlacklist,
            other => SendStatusError::Other(other.to_owned()),
        })
    }
}

/// A Tencent Cloud API answer: the action's result set, or a request-level error (auth, parameters, limits …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiResponse<T> {
    Items {
        request_id: String,
        items: Vec<T>,
    },
    Error {
        request_id: String,
        code: String,
        message: String,
    },
}

/// `Response.Error` of any action.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorWire {
    code: String,
    #[serde(default)]
    message: String,
}

/// Parses `{"Response": {"RequestId", "Error"? , <set>?}}`, the shape every action answers in.
fn parse_api_response<T: serde::de::DeserializeOwned>(
    body: &str,
    set: &str,
) -> Result<ApiResponse<T>> {
    #[derive(Deserialize)]
    struct Outer {
        #[serde(rename = "Response")]
        response: serde_json::Map<String, serde_json::Value>,
    }
    let mut r = serde_json::from_str::<Outer>(body)
        .map_err(GatewayError::json)?
        .response;
    let request_id = match r.remove("RequestId") {
        Some(serde_json::Value::String(id)) => id,
        _ => String::new(),
    };
    if let Some(e) = r.remove("Error") {
        let e: ErrorWire = serde_json::from_value(e).map_err(GatewayError::json)?;
        return Ok(ApiResponse::Error {
            request_id,
            code: e.code,
            message: e.message,
        });
    }
    let items = r
        .remove(set)
        .filter(|v| !v.is_null())
        .ok_or_else(|| GatewayError::MissingField(set.into()))?;
    Ok(ApiResponse::Items {
        request_id,
        items: serde_json::from_value(items).map_err(GatewayError::json)?,
    })
}

/// The `SendSms` answer: one status per number.
pub type SendSmsResponse = ApiResponse<SendStatus>;

/// Parses a `SendSms` response body.
pub fn parse_send_sms_response(body: &str) -> Result<SendSmsResponse> {
    parse_api_response(body, "SendStatusSet")
}

/// `report_status` of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ReportStatus {
    Success,
    Fail,
}

/// One delivery receipt (the callback posts a JSON array of these). Unsigned.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeliveryReceipt {
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time.
    pub user_receive_time: String,
    pub nationcode: String,
    pub mobile: String,
    pub report_status: ReportStatus,
    /// `DELIVRD` on success, carrier code otherwise.
    pub errmsg: String,
    pub description: String,
    /// The `SerialNo` of the send.
    pub sid: String,
}

/// Parses a receipt callback body. Answer it with `{"result":0,"errmsg":"OK"}`.
pub fn parse_delivery_receipts(body: &str) -> Result<Vec<DeliveryReceipt>> {
    serde_json::from_str(body).map_err(GatewayError::json)
}

// ---------------------------------------------------------------------------------------------------------------
// PullSmsSendStatusByPhoneNumber: the receipts of one number's messages, for reconciling messages whose receipt
// callback never came. (`PullSmsSendStatus`, the account-wide pull queue, hands each receipt out once to whoever
// pulls first; a receipt pulled by an instance that then fails to store it would be gone, so we query by number.)

/// A `PullSmsSendStatusByPhoneNumber` call: receipts for messages sent to `phone_number` from `begin_time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PullSendStatusByPhoneNumber {
    /// Unix seconds.
    pub begin_time: i64,
    pub offset: u32,
    /// 1 to 100.
    pub limit: u32,
    /// E.164 (`+8613800000000`).
    pub phone_number: String,
    pub sms_sdk_app_id: String,
    /// Unix seconds; unset = now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
}

/// The signed `PullSmsSendStatusByPhoneNumber` request.
pub fn pull_send_status_by_phone_number_request(
    creds: &Credentials,
    region: &str,
    req: &PullSendStatusByPhoneNumber,
    timestamp: i64,
) -> Result<HttpRequest> {
    if !(1..=100).contains(&req.limit) {
        return Err(GatewayError::invalid_field("Limit", "1 to 100"));
    }
    if req.begin_time < 0 || req.end_time.is_some_and(|e| e < req.begin_time) {
        return Err(GatewayError::invalid_field(
            "BeginTime",
            "unix seconds, not after EndTime",
        ));
    }
    let digits = req.phone_number.strip_prefix('+').unwrap_or("");
    if !(6..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GatewayError::invalid_field(
            "PhoneNumber",
            format!("{:?} is not E.164", req.phone_number),
        ));
    }
    let payload = serde_json::to_string(req).map_err(GatewayError::json)?;
    let target = ApiTarget {
        host: HOST,
        service: SERVICE,
        action: "PullSmsSendStatusByPhoneNumber",
        version: VERSION,
        region,
    };
    signed_json_post(creds, &target, &payload, timestamp)
}

/// One pulled receipt.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PulledStatus {
    /// Unix seconds.
    #[serde(default)]
    pub user_receive_time: Option<i64>,
    #[serde(default)]
    pub country_code: String,
    #[serde(default)]
    pub subscriber_number: String,
    pub phone_number: String,
    pub serial_no: String,
    pub report_status: ReportStatus,
    /// `DELIVRD` on success, the carrier's code otherwise.
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub session_context: String,
}

/// The answer of a pull: receipts, or a request-level error.
pub type PullSendStatusResponse = ApiResponse<PulledStatus>;

/// Parses a `PullSmsSendStatusByPhoneNumber` (or `PullSmsSendStatus`) response body.
pub fn parse_pull_send_status_response(body: &str) -> Result<PullSendStatusResponse> {
    parse_api_response(body, "PullSmsSendStatusSet")
}

// ---------------------------------------------------------------------------------------------------------------
// Provider side (sandbox mirror).

/// Sandbox: verifies a TC3-signed request. `headers` are all request headers (any case); the ones named in
/// `SignedHeaders` (which must include `content-type` and `host`) are re-signed. Checks the credential date is
/// the UTC date of `X-TC-Timestamp`, the timestamp is within [`MAX_CLOCK_SKEW_SECONDS`] of `now`, the service
/// matches, and the signature (constant time). Returns the SecretId.
pub fn verify(
    method: &str,
    canonical_query: &str,
    headers: &[(String, String)],
    payload: &[u8],
    service: &str,
    secret_for: impl Fn(&str) -> Option<String>,
    now: i64,
) -> Result<String> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let auth = header("authorization").ok_or(GatewayError::MissingSignature)?;
    let rest = auth
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| {
            GatewayError::UnsupportedAlgorithm(auth.split(' ').next().unwrap_or("").to_owned())
        })?;
    let (mut credential, mut signed, mut given) = (None, None, None);
    for part in rest.split(", ") {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => given = Some(v),
            _ => {
                return Err(GatewayError::invalid_field(
                    "Authorization",
                    "unexpected part",
                ));
            }
        }
    }
    let missing = |k: &str| GatewayError::MissingField(format!("Authorization.{k}"));
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
    let given = given.ok_or_else(|| missing("Signature"))?;
    let mut scope = credential.split('/');
    let (secret_id, date, svc, term) = match (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) {
        (Some(a), Some(b), Some(c), Some(d), None) => (a, b, c, d),
        _ => {
            return Err(GatewayError::invalid_field(
                "Authorization.Credential",
                "expected id/date/service/tc3_request",
            ));
        }
    };
    if term != "tc3_request" || svc != service {
        return Err(GatewayError::invalid_field(
            "Authorization.Credential",
            "wrong service or terminator",
        ));
    }
    let ts_str = header("x-tc-timestamp")
        .ok_or_else(|| GatewayError::MissingField("X-TC-Timestamp".into()))?;
    let ts_str = ts_str.trim();
    let ts: i64 = ts_str
        .parse()
        .ok()
        .filter(|_| !ts_str.is_empty() && ts_str.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| GatewayError::invalid_field("X-TC-Timestamp", "not unix seconds"))?;
    if now.abs_diff(ts) > MAX_CLOCK_SKEW_SECONDS.unsigned_abs() {
        return Err(GatewayError::TimestampOutOfWindow {
            timestamp: ts,
            now,
            max_skew_seconds: MAX_CLOCK_SKEW_SECONDS,
        });
    }
    if credential_date(ts)? != date {
        return Err(GatewayError::invalid_field(
            "Authorization.Credential",
            "date is not the UTC date of X-TC-Timestamp",
        ));
    }
    let names: Vec<&str> = signed.split(';').collect();
    if !names.contains(&"content-type") || !names.contains(&"host") {
        return Err(GatewayError::invalid_field(
            "SignedHeaders",
            "must include content-type and host",
        ));
    }
    let mut pairs = Vec::with_capacity(names.len());
    for n in &names {
        pairs.push((
            *n,
            header(n).ok_or_else(|| GatewayError::MissingField((*n).to_owned()))?,
        ));
    }
    let secret = secret_for(secret_id)
        .ok_or_else(|| GatewayError::UnknownKeySerial(secret_id.to_owned()))?;
    let sig = tc3_sign(
        secret_id,
        &secret,
        service,
        method,
        canonical_query,
        &pairs,
        payload,
        ts,
    )?;
    if sig.signed_headers != signed {
        return Err(GatewayError::invalid_field(
            "SignedHeaders",
            "not in canonical (sorted, lower-case) form",
        ));
    }
    if ct_eq(sig.signature.as_bytes(), given.as_bytes()) {
        Ok(secret_id.to_owned())
    } else {
        Err(GatewayError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{s, vector};
    use proptest::prelude::*;

    /// The vectors print the key as `Gu5t9xGARNpq86cd98joQYCN3*******  (literal asterisks)`: the annotation is
    /// not part of the key.
    fn doc_key(v: &serde_json::Value) -> String {
        s(v, "secret_key").split("  (").next().unwrap().to_owned()
    }

    const PAYLOAD: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;

    #[test]
    fn vector_tc3_cvm_2header() {
        let v = vector("tc3_cvm_2header");
        assert_eq!(s(&v, "payload"), PAYLOAD);
        let ts = v["timestamp"].as_i64().unwrap();
        assert_eq!(credential_date(ts).unwrap(), s(&v, "date"));
        let sig = tc3_sign(
            s(&v, "secret_id"),
            &doc_key(&v),
            "cvm",
            "POST",
            "",
            &[
                ("Content-Type", "application/json; charset=utf-8"),
                ("Host", "cvm.tencentcloudapi.com"),
            ],
            PAYLOAD.as_bytes(),
            ts,
        )
        .unwrap();
        assert_eq!(sha256_hex(PAYLOAD.as_bytes()), s(&v, "hashed_payload"));
        assert_eq!(sig.canonical_request, s(&v, "canonical_request"));
        assert_eq!(
            sha256_hex(sig.canonical_request.as_bytes()),
            s(&v, "hashed_canonical_request")
        );
        assert_eq!(sig.string_to_sign, s(&v, "string_to_sign"));
        assert_eq!(sig.signature, s(&v, "signature"));
        assert_eq!(sig.authorization, s(&v, "authorization"));
    }

    #[test]
    fn vector_tc3_cvm_3header() {
        let v = vector("tc3_cvm_3header");
        let ts = v["timestamp"].as_i64().unwrap();
        let creds = Credentials {
            secret_id: s(&v, "secret_id").into(),
            secret_key: doc_key(&v),
        };
        let target = ApiTarget {
            host: "cvm.tencentcloudapi.com",
            service: "cvm",
            action: "DescribeInstances",
            version: "2017-03-12",
            region: "ap-guangzhou",
        };
        let req = signed_json_post(&creds, &target, PAYLOAD, ts).unwrap();
        assert_eq!(req.header("Authorization"), Some(s(&v, "authorization")));
        let sig = tc3_sign(
            &creds.secret_id,
            &creds.secret_key,
            "cvm",
            "POST",
            "",
            &[
                ("content-type", JSON_CONTENT_TYPE),
                ("host", "cvm.tencentcloudapi.com"),
                ("x-tc-action", "DescribeInstances"),
            ],
            PAYLOAD.as_bytes(),
            ts,
        )
        .unwrap();
        assert_eq!(sig.canonical_request, s(&v, "canonical_request"));
        assert_eq!(sig.string_to_sign, s(&v, "string_to_sign"));
        assert_eq!(sig.signature, s(&v, "signature"));

        // Sandbox mirror over the built request.
        let secrets = |id: &str| (id == creds.secret_id).then(|| creds.secret_key.clone());
        verify(
            "POST",
            "",
            &req.headers,
            req.body.as_bytes(),
            "cvm",
            secrets,
            ts + 5,
        )
        .unwrap();
        // Byte-exact payload: re-serialising the JSON (different bytes, same meaning) breaks the signature.
        let reserialised =
            serde_json::to_string(&serde_json::from_str::<serde_json::Value>(PAYLOAD).unwrap())
                .unwrap();
        assert_ne!(reserialised, PAYLOAD);
        assert_eq!(
            verify(
                "POST",
                "",
                &req.headers,
                reserialised.as_bytes(),
                "cvm",
                secrets,
                ts
            )
            .unwrap_err()
            .code(),
            "bad_signature"
        );
        assert_eq!(
            verify(
                "POST",
                "",
                &req.headers,
                req.body.as_bytes(),
                "cvm",
                secrets,
                ts + 301
            )
            .unwrap_err()
            .code(),
            "timestamp_out_of_window"
        );
        assert_eq!(
            verify(
                "POST",
                "",
                &req.headers,
                req.body.as_bytes(),
                "sms",
                secrets,
                ts
            )
            .unwrap_err()
            .code(),
            "invalid_field"
        );
        for bad_ts in [
            "-9223372036854775808",
            "9223372036854775807",
            "+1551113065",
            "",
        ] {
            let headers: Vec<(String, String)> = req
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        if k == "X-TC-Timestamp" {
                            bad_ts.to_owned()
                        } else {
                            v.clone()
                        },
                    )
                })
                .collect();
            assert!(
                verify(
                    "POST",
                    "",
                    &headers,
                    req.body.as_bytes(),
                    "cvm",
                    secrets,
                    ts
                )
                .is_err(),
                "{bad_ts}"
            );
        }
    }

    #[test]
    fn vector_tc3_cvm_get_2018() {
        let v = vector("tc3_cvm_get_2018");
        let ts = v["timestamp"].as_i64().unwrap();
        let sig = tc3_sign(
            "AKIDEXAMPLE",
            s(&v, "secret_key"),
            "cvm",
            "GET",
            "Limit=10&Offset=0",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("host", "cvm.tencentcloudapi.com"),
            ],
            b"",
            ts,
        )
        .unwrap();
        assert_eq!(sig.canonical_request, s(&v, "canonical_request"));
        assert_eq!(
            sha256_hex(sig.canonical_request.as_bytes()),
            s(&v, "hashed_canonical_request")
        );
        assert_eq!(sig.string_to_sign, s(&v, "string_to_sign"));
        assert_eq!(sig.signature, s(&v, "signature"));
    }

    #[test]
    fn credential_date_is_utc() {
        // 2026-01-01T07:00:00+08:00 is still 2025-12-31 in UTC.
        assert_eq!(credential_date(1_767_222_000).unwrap(), "2025-12-31");
        assert_eq!(
            credential_date(i64::MAX).unwrap_err().code(),
            "invalid_field"
        );
    }

    fn sms_request() -> SendSms {
        SendSms {
            phone_number_set: vec![mainland_e164("13800000000").unwrap()],
            sms_sdk_app_id: "1400000000".into(),
            sign_name: "身份服务".into(),
            template_id: "1000001".into(),
            template_param_set: vec!["123456".into(), "5".into()],
            session_context: Some("order-1".into()),
        }
    }

    #[test]
    fn send_sms_request_and_mirror() {
        let creds = Credentials {
            secret_id: "AKIDtest".into(),
            secret_key: "test-key".into(),
        };
        let req = send_sms_request(&creds, "ap-guangzhou", &sms_request(), 1_767_225_600).unwrap();
        assert_eq!(req.url, "https://sms.tencentcloudapi.com/");
        assert_eq!(
            req.body,
            r#"{"PhoneNumberSet":["+8613800000000"],"SmsSdkAppId":"1400000000","SignName":"身份服务","TemplateId":"1000001","TemplateParamSet":["123456","5"],"SessionContext":"order-1"}"#
        );
        assert_eq!(req.header("X-TC-Action"), Some("SendSms"));
        assert_eq!(req.header("X-TC-Version"), Some("2021-01-11"));
        assert_eq!(req.header("X-TC-Region"), Some("ap-guangzhou"));
        assert_eq!(req.header("X-TC-Timestamp"), Some("1767225600"));
        assert!(req.header("Authorization").unwrap().starts_with("TC3-HMAC-SHA256 Credential=AKIDtest/2026-01-01/sms/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature="));
        let secrets = |id: &str| (id == "AKIDtest").then(|| "test-key".to_owned());
        assert_eq!(
            verify(
                "POST",
                "",
                &req.headers,
                req.body.as_bytes(),
                SERVICE,
                secrets,
                1_767_225_600
            )
            .unwrap(),
            "AKIDtest"
        );
        assert_eq!(
            verify(
                "POST",
                "",
                &req.headers,
                req.body.as_bytes(),
                SERVICE,
                |_| None,
                1_767_225_600
            )
            .unwrap_err()
            .code(),
            "unknown_key_serial"
        );

        assert_eq!(
            mainland_e164("+8613800000000").unwrap_err().code(),
            "invalid_field"
        );
        let bad = SendSms {
            phone_number_set: vec!["13800000000".into()],
            ..sms_request()
        };
        assert_eq!(
            send_sms_request(&creds, "ap-guangzhou", &bad, 0)
                .unwrap_err()
                .code(),
            "invalid_field"
        );
    }

    #[test]
    fn pull_send_status_by_phone_number() {
        let creds = Credentials {
            secret_id: "AKIDtest".into(),
            secret_key: "test-key".into(),
        };
        let pull = PullSendStatusByPhoneNumber {
            begin_time: 1_620_734_100,
            offset: 0,
            limit: 2,
            phone_number: "+8615291996666".into(),
            sms_sdk_app_id: "1400006666".into(),
            end_time: Some(1_620_734_200),
        };
        let req =
            pull_send_status_by_phone_number_request(&creds, "ap-guangzhou", &pull, 1_620_734_300)
                .unwrap();
        assert_eq!(
            req.body,
            r#"{"BeginTime":1620734100,"Offset":0,"Limit":2,"PhoneNumber":"+8615291996666","SmsSdkAppId":"1400006666","EndTime":1620734200}"#
        );
        assert_eq!(
            req.header("X-TC-Action"),
            Some("PullSmsSendStatusByPhoneNumber")
        );
        let secrets = |id: &str| (id == "AKIDtest").then(|| "test-key".to_owned());
        verify(
            "POST",
            "",
            &req.headers,
            req.body.as_bytes(),
            SERVICE,
            secrets,
            1_620_734_300,
        )
        .unwrap();
        assert_eq!(
            verify(
                "POST",
                "",
                &req.headers,
                req.body.replace("6666\"", "6667\"").as_bytes(),
                SERVICE,
                secrets,
                1_620_734_300
            )
            .unwrap_err()
            .code(),
            "bad_signature"
        );
        for bad in [
            PullSendStatusByPhoneNumber {
                limit: 0,
                ..pull.clone()
            },
            PullSendStatusByPhoneNumber {
                limit: 101,
                ..pull.clone()
            },
            PullSendStatusByPhoneNumber {
                end_time: Some(1),
                ..pull.clone()
            },
            PullSendStatusByPhoneNumber {
                phone_number: "15291996666".into(),
                ..pull.clone()
            },
        ] {
            assert_eq!(
                pull_send_status_by_phone_number_request(&creds, "ap-guangzhou", &bad, 0)
                    .unwrap_err()
                    .code(),
                "invalid_field"
            );
        }

        // The documented example response.
        let body = r#"{"Response":{"PullSmsSendStatusSet":[{"Description":"DELIVRD","CountryCode":"86","SubscriberNumber":"15291996666","ReportStatus":"SUCCESS","PhoneNumber":"+8615291996666","SerialNo":"14:19325917feb3914eb78b50d6182d7e452e","UserReceiveTime":1620734188,"SessionContext":""},{"Description":"MK:0005","CountryCode":"86","SubscriberNumber":"15291996666","ReportStatus":"FAIL","PhoneNumber":"+8615291996666","SerialNo":"14:19325917feb3914eb78b50d6182d7e456f","UserReceiveTime":1620734188,"SessionContext":"n-1"}],"RequestId":"8979fc1e-9564-4fc9-bf7d-2958ce679b72"}}"#;
        match parse_pull_send_status_response(body).unwrap() {
            ApiResponse::Items {
                items: statuses,
                request_id,
            } => {
                assert_eq!(request_id, "8979fc1e-9564-4fc9-bf7d-2958ce679b72");
                assert_eq!(statuses.len(), 2);
                assert_eq!(statuses[0].report_status, ReportStatus::Success);
                assert_eq!(statuses[0].user_receive_time, Some(1_620_734_188));
                assert_eq!(statuses[1].report_status, ReportStatus::Fail);
                assert_eq!(statuses[1].description, "MK:0005");
                assert_eq!(statuses[1].session_context, "n-1");
            }
            other => panic!("{other:?}"),
        }
        let err = r#"{"Response":{"Error":{"Code":"RequestLimitExceeded","Message":"请求的次数超过了频率限制。"},"RequestId":"r"}}"#;
        assert!(
            matches!(parse_pull_send_status_response(err).unwrap(), PullSendStatusResponse::Error { ref code, .. } if code == "RequestLimitExceeded")
        );
        assert_eq!(
            parse_pull_send_status_response(r#"{"Response":{"RequestId":"r"}}"#)
                .unwrap_err()
                .code(),
            "missing_field"
        );
        assert_eq!(
            parse_pull_send_status_response(&body.replace("\"FAIL\"", "\"MAYBE\""))
                .unwrap_err()
                .code(),
            "malformed_json"
        );
    }

    #[test]
    fn responses_and_receipts() {
        let ok = r#"{"Response":{"SendStatusSet":[{"SerialNo":"5000:1045710669157053657849499619","PhoneNumber":"+8618511122233","Fee":1,"SessionContext":"test","Code":"Ok","Message":"send success","IsoCode":"CN"},{"SerialNo":"","PhoneNumber":"+8618511122266","Fee":0,"SessionContext":"test","Code":"LimitExceeded.PhoneNumberDailyLimit","Message":"the number of sms messages sent from a single mobile number every day exceeds the upper limit","IsoCode":"CN"},{"SerialNo":"","PhoneNumber":"+86123","Fee":0,"SessionContext":"","Code":"InvalidParameterValue.IncorrectPhoneNumber","Message":"incorrect phone number","IsoCode":""}],"RequestId":"a0aabda6-cf91-4f3e-a81f-9198114a2279"}}"#;
        match parse_send_sms_response(ok).unwrap() {
            ApiResponse::Items {
                items: statuses,
                request_id,
            } => {
                assert_eq!(request_id, "a0aabda6-cf91-4f3e-a81f-9198114a2279");
                assert!(statuses[0].is_ok());
                assert_eq!(statuses[0].serial_no, "5000:1045710669157053657849499619");
                assert_eq!(
                    statuses[1].error(),
                    Some(SendStatusError::PhoneNumberDailyLimit)
                );
                assert_eq!(
                    statuses[2].error(),
                    Some(SendStatusError::IncorrectPhoneNumber)
                );
            }
            other => panic!("{other:?}"),
        }
        let err = r#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"The provided credentials could not be validated."},"RequestId":"r"}}"#;
        assert!(
            matches!(parse_send_sms_response(err).unwrap(), SendSmsResponse::Error { code, .. } if code == "AuthFailure.SignatureFailure")
        );
        assert_eq!(
            parse_send_sms_response(r#"{"Response":{"RequestId":"r"}}"#)
                .unwrap_err()
                .code(),
            "missing_field"
        );
        assert_eq!(
            parse_send_sms_response("oops").unwrap_err().code(),
            "malformed_json"
        );

        let receipts = r#"[{"user_receive_time":"2015-10-17 08:03:04","nationcode":"86","mobile":"13xxxxxxxxx","report_status":"SUCCESS","errmsg":"DELIVRD","description":"用户短信送达成功","sid":"xxxxxxx"},{"user_receive_time":"2015-10-17 08:03:05","nationcode":"86","mobile":"13xxxxxxxx1","report_status":"FAIL","errmsg":"MK:0001","description":"用户短信未送达","sid":"y"}]"#;
        let r = parse_delivery_receipts(receipts).unwrap();
        assert_eq!(r[0].report_status, ReportStatus::Success);
        assert_eq!(r[1].report_status, ReportStatus::Fail);
        assert_eq!(
            parse_delivery_receipts(&receipts.replace("\"FAIL\"", "\"MAYBE\""))
                .unwrap_err()
                .code(),
            "malformed_json"
        );
    }

    proptest! {
        #[test]
        fn sign_verify_and_single_byte_payload_tamper(
            params in proptest::collection::vec("[0-9]{1,6}", 0..4),
            idx in any::<prop::sample::Index>(),
            flip in 1u8..=127,
        ) {
            let creds = Credentials { secret_id: "id".into(), secret_key: "key".into() };
            let req = SendSms { template_param_set: params, ..sms_request() };
            let http = send_sms_request(&creds, "ap-guangzhou", &req, 1_767_225_600).unwrap();
            let secrets = |id: &str| (id == "id").then(|| "key".to_owned());
            verify("POST", "", &http.headers, http.body.as_bytes(), SERVICE, secrets, 1_767_225_600).unwrap();
            let mut body = http.body.clone().into_bytes();
            let i = idx.index(body.len());
            body[i] ^= flip;
            prop_assert_eq!(verify("POST", "", &http.headers, &body, SERVICE, secrets, 1_767_225_600).unwrap_err().code(), "bad_signature");
        }
    }
}
