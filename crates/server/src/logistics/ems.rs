//! The EMS adapter: China Post EMS (中国邮政速递物流) through an open-platform style JSON API, both sides of the
//! wire (the adapter signs requests and verifies pushes; the sandbox in `sandbox.rs` verifies requests and signs
//! pushes with the same functions). Modelled on the EMS open platform's conventions — a partner account, JSON
//! bodies, a keyed signature in headers, trace codes and a trace push — but not a copy of its proprietary
//! specification, which is only given to contracted partners: pointing `base_url` at the real platform needs this
//! module adapted to the contract's exact field names and codes.
//!
//! # Wire format
//!
//! **Requests** (us → carrier): `POST {base_url}/api/{api}` with a UTF-8 JSON body and the headers
//!
//! | header | value |
//! |---|---|
//! | `Content-Type` | `application/json;charset=utf-8` |
//! | `X-EMS-App-Key` | our partner account (`logistics.ems.app_key`) |
//! | `X-EMS-Timestamp` | Unix time in milliseconds |
//! | `X-EMS-Signature` | base64( HMAC-SHA256( `app_secret`, string-to-sign ) ) |
//!
//! where string-to-sign = `api` `\n` `app key` `\n` `timestamp` `\n` `body bytes exactly as sent`. Naming the API
//! in the signature stops a signed body being replayed to another endpoint. The receiver refuses timestamps more
//! than 5 minutes away from its clock. Responses are JSON envelopes, unsigned (TLS protects them):
//! `{"success": true, "code": "0", "message": "成功", "data": {…}}` or `{"success": false, "code": "B0101",
//! "message": "…"}`. Codes `B…` are business refusals (final for this request: fix the input), `S…` are
//! protocol/system errors; HTTP 5xx or no answer means try again.
//!
//! | api | body | `data` |
//! |---|---|---|
//! | `waybill.create` | `{"logisticsOrderNo", "cargoName", "sender": {"name"}, "receiver": {"name", "mobile", "divisionCode", "address"}}` | `{"waybillNo", "logisticsOrderNo"}` |
//! | `trace.query` | `{"waybillNo"}` | `{"waybillNo", "traces": [trace…]}` |
//!
//! `logisticsOrderNo` is our order number, the application id: the carrier answers a repeated order number with
//! the waybill it already assigned, so a retried or concurrent dispatch cannot make two parcels.
//! Refusal codes: `B0101` address outside the service area (not a mainland division code), `B0102` recipient
//! incomplete, `B0103` recipient mobile invalid, `B0404` unknown waybill; `S0400` malformed request, `S0401`
//! signature/timestamp/account refused, `S0404` unknown API.
//!
//! A **trace** is `{"traceId", "waybillNo", "opCode", "opName", "opTime" (Unix ms), "opOrgCity", "opDesc",
//! "faceVerified"?}`; `traceId` is unique and stable, so a trace pushed and later queried is recognised as one.
//! Trace codes ([`op`]): `203` collected, `305` left a sorting centre, `306` arrived at a sorting centre, `702` out
//! for delivery, `704` delivered (with `faceVerified`: the courier checked the recipient's face against the
//! card's holder), `705` delivery failed, `710` on the way back to the sender, `711` returned to the sender.
//! Unknown codes are skipped (logged), never guessed.
//!
//! **Pushes** (carrier → us): `POST {our public URL}/callbacks/express/ems` with body `{"traces": [trace…]}`,
//! signed exactly like a request with api = `trace.push`, our app key, and the carrier's `push_secret`. We answer
//! HTTP 200 `{"success": true, "code": "0", "message": "成功"}` once stored (duplicates included); anything else
//! makes the carrier push again later: 401 `S0401` (signature), 400 `S0400` (malformed), 404 `B0404` (a waybill
//! we do not know yet — its dispatch may still be committing), 503 `S0503` (our storage failed).

use std::time::Duration;

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{CarrierError, ExpressCarrier, PushOutcome, PushedEvent, ShipmentRequest, TrackingEvent, TrackingStatus};
use crate::config::Config;

pub const API_CREATE: &str = "waybill.create";
pub const API_TRACK: &str = "trace.query";
pub const API_PUSH: &str = "trace.push";
pub const HEADER_APP_KEY: &str = "x-ems-app-key";
pub const HEADER_TIMESTAMP: &str = "x-ems-timestamp";
pub const HEADER_SIGNATURE: &str = "x-ems-signature";
pub const CONTENT_TYPE: &str = "application/json;charset=utf-8";
/// How far a signed message's timestamp may be from the receiver's clock.
pub const TIMESTAMP_WINDOW_MS: i64 = 5 * 60_000;
/// Largest request or push body either side accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest trace description kept.
const MAX_DESC_CHARS: usize = 500;

/// Trace operation codes.
pub mod op {
    pub const COLLECTED: &str = "203";
    pub const DEPARTED: &str = "305";
    pub const ARRIVED: &str = "306";
    pub const OUT_FOR_DELIVERY: &str = "702";
    pub const DELIVERED: &str = "704";
    pub const NOT_DELIVERED: &str = "705";
    pub const RETURNING: &str = "710";
    pub const RETURNED: &str = "711";
}

/// The carrier-neutral status of a trace code; `None` for codes we do not know.
pub fn status_of(op_code: &str) -> Option<TrackingStatus> {
    Some(match op_code {
        op::COLLECTED => TrackingStatus::Collected,
        op::DEPARTED | op::ARRIVED | op::RETURNING => TrackingStatus::InTransit,
        op::OUT_FOR_DELIVERY => TrackingStatus::OutForDelivery,
        op::DELIVERED => TrackingStatus::Delivered,
        op::NOT_DELIVERED => TrackingStatus::DeliveryFailed,
        op::RETURNED => TrackingStatus::Returned,
        _ => return None,
    })
}

pub fn string_to_sign(api: &str, app_key: &str, timestamp_ms: i64, body: &[u8]) -> Vec<u8> {
    let mut s = format!("{api}\n{app_key}\n{timestamp_ms}\n").into_bytes();
    s.extend_from_slice(body);
    s
}

fn mac(secret: &str, api: &str, app_key: &str, timestamp_ms: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    m.update(&string_to_sign(api, app_key, timestamp_ms, body));
    m
}

/// The `X-EMS-Signature` value.
pub fn sign(secret: &str, api: &str, app_key: &str, timestamp_ms: i64, body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac(secret, api, app_key, timestamp_ms, body).finalize().into_bytes())
}

/// Every header of a signed message.
pub fn signed_headers(secret: &str, api: &str, app_key: &str, timestamp_ms: i64, body: &[u8]) -> [(&'static str, String); 4] {
    [
        ("content-type", CONTENT_TYPE.to_string()),
        (HEADER_APP_KEY, app_key.to_string()),
        (HEADER_TIMESTAMP, timestamp_ms.to_string()),
        (HEADER_SIGNATURE, sign(secret, api, app_key, timestamp_ms, body)),
    ]
}

/// Why a signed message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature headers missing")]
    Missing,
    #[error("unknown app key")]
    AppKey,
    #[error("timestamp outside the window")]
    Timestamp,
    #[error("signature does not match")]
    Mismatch,
}

/// Checks a signed message (headers + raw body) at wall-clock time `now_ms`: the app key is ours, the timestamp
/// within the window, the signature right (compared in constant time).
pub fn verify(secret: &str, api: &str, expected_app_key: &str, headers: &HeaderMap, body: &[u8], now_ms: i64) -> Result<(), SignatureError> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let (Some(app_key), Some(ts), Some(sig)) = (get(HEADER_APP_KEY), get(HEADER_TIMESTAMP), get(HEADER_SIGNATURE)) else {
        return Err(SignatureError::Missing);
    };
    if app_key != expected_app_key {
        return Err(SignatureError::AppKey);
    }
    let ts: i64 = ts.parse().map_err(|_| SignatureError::Timestamp)?;
    if (now_ms - ts).abs() > TIMESTAMP_WINDOW_MS {
        return Err(SignatureError::Timestamp);
    }
    let sig = base64::engine::general_purpose::STANDARD.decode(sig).map_err(|_| SignatureError::Mismatch)?;
    mac(secret, api, app_key, ts, body).verify_slice(&sig).map_err(|_| SignatureError::Mismatch)
}

/// The response envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub success: bool,
    pub code: String,
    pub message: String,
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

impl<T> Envelope<T> {
    pub fn ok(data: T) -> Self {
        Envelope { success: true, code: "0".into(), message: "成功".into(), data: Some(data) }
    }
    pub fn fail(code: &str, message: &str) -> Self {
        Envelope { success: false, code: code.into(), message: message.into(), data: None }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    pub logistics_order_no: String,
    pub cargo_name: String,
    pub sender: Sender,
    pub receiver: Receiver,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sender {
    pub name: String,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receiver {
    pub name: String,
    pub mobile: String,
    pub division_code: String,
    pub address: String,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("division_code", &self.division_code).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateData {
    pub waybill_no: String,
    pub logistics_order_no: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackRequest {
    pub waybill_no: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackData {
    pub waybill_no: String,
    pub traces: Vec<Trace>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    pub trace_id: String,
    pub waybill_no: String,
    pub op_code: String,
    pub op_name: String,
    pub op_time: i64,
    pub op_org_city: String,
    pub op_desc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_verified: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushBody {
    pub traces: Vec<Trace>,
}

/// A trace as a tracking event; `Ok(None)` for an unknown code, `Err` for a trace not in the format.
pub fn event_of(t: &Trace) -> Result<Option<TrackingEvent>, CarrierError> {
    let id_ok = |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic());
    if !id_ok(&t.trace_id) || !id_ok(&t.waybill_no) || t.op_time <= 0 {
        return Err(CarrierError::Malformed("trace without a valid id, waybill or time".into()));
    }
    let Some(status) = status_of(&t.op_code) else {
        tracing::warn!(op_code = %t.op_code, trace = %t.trace_id, "EMS trace with an unknown code skipped");
        return Ok(None);
    };
    Ok(Some(TrackingEvent {
        carrier_event_id: t.trace_id.clone(),
        status,
        at: t.op_time,
        location: t.op_org_city.chars().take(100).collect(),
        description: t.op_desc.chars().take(MAX_DESC_CHARS).collect(),
        face_verified: t.face_verified,
    }))
}

/// The adapter.
pub struct EmsCarrier {
    base_url: String,
    app_key: String,
    app_secret: String,
    push_secret: String,
    http: reqwest::Client,
}

impl EmsCarrier {
    pub fn new(base_url: &str, app_key: &str, app_secret: &str, push_secret: &str, timeout: Duration) -> Self {
        EmsCarrier {
            base_url: base_url.trim_end_matches('/').to_string(),
            app_key: app_key.to_string(),
            app_secret: app_secret.to_string(),
            push_secret: push_secret.to_string(),
            http: reqwest::Client::builder().timeout(timeout).build().unwrap_or_default(),
        }
    }

    /// From `[logistics.ems]`; in demo mode unset values are this instance's sandbox and the demo secrets.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let ems = &config.logistics.ems;
        let base = ems.base_url(config.demo, &config.public_url).ok_or_else(|| anyhow::anyhow!("logistics.ems.base_url is not configured"))?;
        let (app_secret, push_secret) = ems.secrets(config.demo).ok_or_else(|| anyhow::anyhow!("logistics.ems secrets are not configured"))?;
        Ok(Self::new(&base, &ems.app_key, &app_secret, &push_secret, Duration::from_millis(ems.timeout_ms)))
    }

    async fn call<T: DeserializeOwned>(&self, api: &str, body: Vec<u8>) -> Result<T, CarrierError> {
        let mut rb = self.http.post(format!("{}/api/{api}", self.base_url));
        for (k, v) in signed_headers(&self.app_secret, api, &self.app_key, super::wall_ms(), &body) {
            rb = rb.header(k, v);
        }
        let resp = rb.body(body).send().await.map_err(|e| CarrierError::Unavailable(if e.is_timeout() { "timeout".into() } else { "connection failed".into() }))?;
        let status = resp.status();
        if status.is_server_error() {
            return Err(CarrierError::Unavailable(format!("HTTP {}", status.as_u16())));
        }
        let bytes = resp.bytes().await.map_err(|_| CarrierError::Unavailable("connection failed".into()))?;
        let env: Envelope<T> = serde_json::from_slice(&bytes).map_err(|_| CarrierError::Malformed(format!("HTTP {} without an envelope", status.as_u16())))?;
        if !env.success {
            return Err(if env.code.starts_with('B') {
                CarrierError::Rejected { code: env.code, message: env.message.chars().take(200).collect() }
            } else {
                // A protocol error (our signature, account, request shape) is ours to fix, not the input's:
                // reported as unavailable so the work is retried once it is fixed.
                tracing::error!(api, code = %env.code, "EMS refused our request at the protocol level (check logistics.ems keys)");
                CarrierError::Unavailable(format!("protocol error {}", env.code))
            });
        }
        env.data.ok_or_else(|| CarrierError::Malformed("success without data".into()))
    }
}

#[async_trait]
impl ExpressCarrier for EmsCarrier {
    fn name(&self) -> &'static str {
        "ems"
    }

    async fn create_shipment(&self, req: &ShipmentRequest) -> Result<String, CarrierError> {
        let body = CreateRequest {
            logistics_order_no: req.reference.clone(),
            cargo_name: "居民身份证".into(),
            sender: Sender { name: req.sender.clone() },
            receiver: Receiver { name: req.recipient_name.clone(), mobile: req.recipient_phone.clone(), division_code: req.division.clone(), address: req.address.clone() },
        };
        let body = serde_json::to_vec(&body).map_err(|e| CarrierError::Malformed(e.to_string()))?;
        let data: CreateData = self.call(API_CREATE, body).await?;
        let no = data.waybill_no.trim();
        if no.is_empty() || no.len() > 40 || !no.bytes().all(|b| b.is_ascii_alphanumeric()) || data.logistics_order_no != req.reference {
            return Err(CarrierError::Malformed("waybill number missing or for another order".into()));
        }
        Ok(no.to_string())
    }

    async fn track(&self, tracking_no: &str) -> Result<Vec<TrackingEvent>, CarrierError> {
        let body = serde_json::to_vec(&TrackRequest { waybill_no: tracking_no.to_string() }).map_err(|e| CarrierError::Malformed(e.to_string()))?;
        let data: TrackData = self.call(API_TRACK, body).await?;
        let mut out = Vec::new();
        for t in data.traces.iter().filter(|t| t.waybill_no == tracking_no) {
            out.extend(event_of(t)?);
        }
        Ok(out)
    }

    fn verify_push(&self, headers: &HeaderMap, body: &[u8], now_ms: i64) -> Result<Vec<PushedEvent>, CarrierError> {
        verify(&self.push_secret, API_PUSH, &self.app_key, headers, body, now_ms).map_err(|e| CarrierError::Verification(e.to_string()))?;
        let push: PushBody = serde_json::from_slice(body).map_err(|_| CarrierError::Malformed("push body is not a trace list".into()))?;
        let mut out = Vec::new();
        for t in &push.traces {
            if let Some(event) = event_of(t)? {
                out.push(PushedEvent { tracking_no: t.waybill_no.clone(), event });
            }
        }
        Ok(out)
    }

    fn acknowledge(&self, outcome: &PushOutcome) -> Response {
        let (status, code, message) = match outcome {
            PushOutcome::Accepted => (StatusCode::OK, "0", "成功"),
            PushOutcome::Refused(CarrierError::Verification(_)) => (StatusCode::UNAUTHORIZED, "S0401", "签名验证失败"),
            PushOutcome::Refused(_) => (StatusCode::BAD_REQUEST, "S0400", "报文格式错误"),
            PushOutcome::UnknownWaybill => (StatusCode::NOT_FOUND, "B0404", "运单不存在，请稍后重推"),
            PushOutcome::Failed => (StatusCode::SERVICE_UNAVAILABLE, "S0503", "系统繁忙，请稍后重推"),
        };
        let env = Envelope::<()> { success: status == StatusCode::OK, code: code.into(), message: message.into(), data: None };
        (status, [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], serde_json::to_string(&env).unwrap_or_default()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logistics::config::{DEMO_APP_SECRET, DEMO_PUSH_SECRET};

    const TS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    /// Pinned vectors, computed independently with Python's `hmac` module:
    /// `base64.b64encode(hmac.new(secret, b"trace.query\nSF-DEMO-3401\n1767225600000\n" + body, sha256).digest())`.
    #[test]
    fn signatures_match_the_pinned_vectors() {
        let body = br#"{"waybillNo":"EA123456785CN"}"#;
        assert_eq!(string_to_sign(API_TRACK, "SF-DEMO-3401", TS, body), b"trace.query\nSF-DEMO-3401\n1767225600000\n{\"waybillNo\":\"EA123456785CN\"}".to_vec());
        assert_eq!(sign(DEMO_APP_SECRET, API_TRACK, "SF-DEMO-3401", TS, body), "my1nUduvdFaiRMSGJ0e73lMHZ6okWesGz3IkIgbRbz0=");
        assert_eq!(sign(DEMO_PUSH_SECRET, API_PUSH, "SF-DEMO-3401", TS, br#"{"traces":[]}"#), "ZsC9j3BO0JVL9Ltu+0Y9uPYmTuaP5bzAovbwOy4f9+w=");
    }

    #[test]
    fn verification_checks_key_time_api_body_and_secret() {
        let body = br#"{"traces":[]}"#;
        let h = headers(&signed_headers(DEMO_PUSH_SECRET, API_PUSH, "SF-DEMO-3401", TS, body));
        assert_eq!(verify(DEMO_PUSH_SECRET, API_PUSH, "SF-DEMO-3401", &h, body, TS + 1_000), Ok(()));
        assert_eq!(verify(DEMO_PUSH_SECRET, API_PUSH, "SF-DEMO-3401", &h, body, TS - TIMESTAMP_WINDOW_MS), Ok(()));
        assert_eq!(verify(DEMO_PUSH_SECRET, API_PUSH, "SF-DEMO-3401", &h, body, TS + TIMESTAMP_WINDOW_MS + 1), Err(SignatureError::Timestamp));
        assert_eq!(verify(DEMO_PUSH_SECRET, API_PUSH, "SF-DEMO-3401", &h, br#"{"traces":[{}]}"#, TS), Err(SignatureError::Mismatch));
        assert_eq!(verify(DEMO_PUSH_SECRET, API_TRACK, "SF-DEMO-3401", &h, body, TS), Err(SignatureError::Mismatch), "another API");
        assert_eq!(verify(DEMO_APP_SECRET, API_PUSH, "SF-DEMO-3401", &h, body, TS), Err(SignatureError::Mismatch), "another secret");
        assert_eq!(verify(DEMO_PUSH_SECRET, API_PUSH, "OTHER", &h, body, TS), Err(SignatureError::AppKey));
        assert_eq!(verify(DEMO_PUSH_SECRET, API_PUSH, "SF-DEMO-3401", &HeaderMap::new(), body, TS), Err(SignatureError::Missing));
        let mut bad = h.clone();
        bad.insert(HEADER_SIGNATURE, "not base64!".parse().unwrap());
        assert_eq!(verify(DEMO_PUSH_SECRET, API_PUSH, "SF-DEMO-3401", &bad, body, TS), Err(SignatureError::Mismatch));
        bad.insert(HEADER_TIMESTAMP, "soon".parse().unwrap());
        assert_eq!(verify(DEMO_PUSH_SECRET, API_PUSH, "SF-DEMO-3401", &bad, body, TS), Err(SignatureError::Timestamp));
    }

    #[test]
    fn traces_map_to_statuses_and_unknown_codes_are_skipped() {
        let t = Trace {
            trace_id: "T1".into(),
            waybill_no: "EA123456785CN".into(),
            op_code: op::DELIVERED.into(),
            op_name: "妥投".into(),
            op_time: TS,
            op_org_city: "合肥市".into(),
            op_desc: "已妥投".into(),
            face_verified: Some(true),
        };
        let e = event_of(&t).unwrap().unwrap();
        assert_eq!((e.status, e.at, e.face_verified), (TrackingStatus::Delivered, TS, Some(true)));
        assert_eq!(event_of(&Trace { op_code: "999".into(), ..t.clone() }).unwrap(), None);
        assert!(event_of(&Trace { trace_id: String::new(), ..t.clone() }).is_err());
        assert!(event_of(&Trace { op_time: 0, ..t.clone() }).is_err());
        for (code, status) in [
            (op::COLLECTED, TrackingStatus::Collected),
            (op::DEPARTED, TrackingStatus::InTransit),
            (op::ARRIVED, TrackingStatus::InTransit),
            (op::OUT_FOR_DELIVERY, TrackingStatus::OutForDelivery),
            (op::NOT_DELIVERED, TrackingStatus::DeliveryFailed),
            (op::RETURNING, TrackingStatus::InTransit),
            (op::RETURNED, TrackingStatus::Returned),
        ] {
            assert_eq!(status_of(code), Some(status));
        }
        // The wire names are camelCase and faceVerified is left out when unknown.
        let json = serde_json::to_value(Trace { face_verified: None, ..t }).unwrap();
        assert_eq!(json["opTime"], TS);
        assert!(json.get("faceVerified").is_none());
    }
}
