//! Sandboxes of Aliyun SMS and Tencent Cloud SMS: they check our signatures with the gateways crate's
//! provider-side `verify` functions and answer like the real services — their error shapes and codes, a
//! per-number rate limit, numbers ending in `0000` always refused as invalid, numbers ending in `9999` accepted
//! but reported undeliverable by the "carrier". Accepted messages land in the outbox (`/dev/outbox`), and a
//! delivery receipt in the provider's callback format is posted to our receipt endpoint afterwards.
//!
//! Demo instances mount them under `/sandbox/aliyun-sms/` and `/sandbox/tencent-sms/`; tests serve them on a
//! separate loopback port.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::json;
use shenfen_gateways::{GatewayError, aliyun_sms, codec, tencent_sms};
use shenfen_store::{DynStore, OutboxMessage, new_id};

use super::templates::Template;
use crate::config::Config;

#[derive(Clone)]
pub struct SandboxState(Arc<SandboxInner>);

struct SandboxInner {
    outbox: OutboxWriter,
    aliyun_keys: (String, String),
    tencent_keys: (String, String),
    aliyun_templates: BTreeMap<String, String>,
    tencent_templates: BTreeMap<String, String>,
    /// `…/callbacks/sms` of the instance receiving receipts (the provider appends `/{provider}/{token}`).
    receipt_base: String,
    token: String,
    per_number_per_minute: u32,
    receipt_delay: Duration,
    sent: Mutex<HashMap<String, VecDeque<i64>>>,
    /// Receipts waiting for the next push, per provider.
    pending_receipts: Mutex<HashMap<&'static str, Vec<serde_json::Value>>>,
    http: reqwest::Client,
}

impl SandboxState {
    /// A sandbox pair configured from `config` (keys, template codes), storing into `store` and posting receipts
    /// to `config.notify.sandbox.receipt_base_url` or the instance's public URL.
    pub fn new(config: &Config, store: DynStore) -> Self {
        let n = &config.notify;
        let base = n.sandbox.receipt_base_url.clone().unwrap_or_else(|| config.public_url.clone());
        SandboxState(Arc::new(SandboxInner {
            outbox: OutboxWriter::spawn(store),
            aliyun_keys: (n.aliyun.access_key_id.clone(), n.aliyun.access_key_secret.clone()),
            tencent_keys: (n.tencent.secret_id.clone(), n.tencent.secret_key.clone()),
            aliyun_templates: n.aliyun.templates.clone(),
            tencent_templates: n.tencent.templates.clone(),
            receipt_base: format!("{}/callbacks/sms", base.trim_end_matches('/')),
            token: n.receipt_token(config.demo).unwrap_or_default().to_string(),
            per_number_per_minute: n.sandbox.per_number_per_minute,
            receipt_delay: Duration::from_millis(n.sandbox.receipt_delay_ms),
            sent: Mutex::new(HashMap::new()),
            pending_receipts: Mutex::new(HashMap::new()),
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default(),
        }))
    }
}

/// Stores accepted messages in the outbox. Messages accepted while a write is under way go together in the next
/// one (one statement, one commit), so a burst of sends costs a few writes rather than one commit each.
struct OutboxWriter {
    queue: tokio::sync::mpsc::UnboundedSender<(OutboxMessage, tokio::sync::oneshot::Sender<bool>)>,
}

impl OutboxWriter {
    /// Most messages written in one statement.
    const BATCH: usize = 256;

    fn spawn(store: DynStore) -> Self {
        let (queue, mut waiting) = tokio::sync::mpsc::unbounded_channel::<(OutboxMessage, tokio::sync::oneshot::Sender<bool>)>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(Self::BATCH);
            // Waits for one message, then takes every other one waiting.
            while waiting.recv_many(&mut batch, Self::BATCH).await > 0 {
                let (messages, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
                let stored = match store.insert_outbox_many(&messages).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, messages = messages.len(), "sandbox outbox write failed");
                        false
                    }
                };
                for reply in replies {
                    let _ = reply.send(stored);
                }
            }
        });
        OutboxWriter { queue }
    }

    /// Whether the message was stored (false: the database refused; the caller answers like a provider outage).
    async fn store(&self, message: OutboxMessage) -> bool {
        let (reply, stored) = tokio::sync::oneshot::channel();
        self.queue.send((message, reply)).is_ok() && stored.await.unwrap_or(false)
    }
}

/// Both sandboxes, at `/sandbox/aliyun-sms/` and `/sandbox/tencent-sms/`.
pub fn router<S: Clone + Send + Sync + 'static>(state: SandboxState) -> Router<S> {
    Router::new()
        .route("/sandbox/aliyun-sms", any(aliyun))
        .route("/sandbox/aliyun-sms/", any(aliyun))
        .route("/sandbox/tencent-sms", any(tencent))
        .route("/sandbox/tencent-sms/", any(tencent))
        .with_state(state)
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string()))).collect()
}

/// Template by the code the caller used: a configured code maps back to our name; our names are accepted as is.
fn resolve_template(codes: &BTreeMap<String, String>, code: &str) -> Option<&'static Template> {
    codes.iter().find(|(_, c)| c.as_str() == code).and_then(|(name, _)| Template::by_name(name)).or_else(|| Template::by_name(code))
}

enum Verdict {
    Accept,
    InvalidNumber,
    RateLimited,
}

impl SandboxInner {
    fn verdict(&self, phone: &str) -> Verdict {
        let national = phone.trim_start_matches("+86");
        if national.ends_with("0000") {
            return Verdict::InvalidNumber;
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000;
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let window = sent.entry(national.to_string()).or_default();
        while window.front().is_some_and(|t| *t <= now - 60_000) {
            window.pop_front();
        }
        if window.len() >= self.per_number_per_minute as usize {
            return Verdict::RateLimited;
        }
        window.push_back(now);
        Verdict::Accept
    }

    async fn store_message(&self, phone: &str, sign_name: &str, template: &Template, vars: &BTreeMap<String, String>) -> Result<(), ()> {
        let text = template.render(crate::i18n::Lang::Zh, vars).map_err(|_| ())?;
        let body = format!("【{sign_name}】{text}");
        let msg = OutboxMessage { id: new_id(), phone: phone.trim_start_matches("+86").to_string(), body, created_at: unix_now() * 1000 };
        if self.outbox.store(msg).await { Ok(()) } else { Err(()) }
    }

    /// Queues receipts for posting after the carrier "delivers". Like the providers, the sandbox pushes receipts
    /// in batches (a JSON array per request, at most 100): everything queued during one delay goes together, and
    /// a refused or failed post is retried briefly.
    fn post_receipt(self: &Arc<Self>, provider: &'static str, receipts: Vec<serde_json::Value>) {
        let schedule = {
            let mut pending = self.pending_receipts.lock().unwrap_or_else(|p| p.into_inner());
            let queue = pending.entry(provider).or_default();
            let idle = queue.is_empty();
            queue.extend(receipts);
            idle
        };
        if !schedule {
            return; // a flush is already on its way and will take these too
        }
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(me.receipt_delay).await;
            let batch = me.pending_receipts.lock().unwrap_or_else(|p| p.into_inner()).remove(provider).unwrap_or_default();
            let url = format!("{}/{provider}/{}", me.receipt_base, me.token);
            for chunk in batch.chunks(100) {
                let body = serde_json::Value::Array(chunk.to_vec());
                for attempt in 0..3u32 {
                    match me.http.post(&url).json(&body).send().await {
                        Ok(r) if r.status().is_success() => break,
                        Ok(r) => tracing::warn!(provider, status = r.status().as_u16(), attempt, "sandbox receipt refused"),
                        Err(e) => tracing::warn!(provider, error = %e, attempt, "sandbox receipt not delivered"),
                    }
                    tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                }
            }
        });
    }
}

fn beijing_now() -> String {
    let t = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC));
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second())
}

// ----- Aliyun ---------------------------------------------------------------------------------------------

fn aliyun_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "Code": code, "Message": message, "RequestId": new_id().to_uppercase() }))).into_response()
}

fn aliyun_auth_error(e: &GatewayError) -> Response {
    match e {
        GatewayError::BadSignature => aliyun_error(StatusCode::BAD_REQUEST, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."),
        GatewayError::UnknownKeySerial(_) => aliyun_error(StatusCode::NOT_FOUND, "InvalidAccessKeyId.NotFound", "Specified access key is not found."),
        GatewayError::TimestampOutOfWindow { .. } => aliyun_error(StatusCode::BAD_REQUEST, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."),
        GatewayError::MissingSignature | GatewayError::MissingField(_) => aliyun_error(StatusCode::BAD_REQUEST, "MissingParameter", &e.to_string()),
        _ => aliyun_error(StatusCode::BAD_REQUEST, "InvalidParameter", &e.to_string()),
    }
}

async fn aliyun(State(s): State<SandboxState>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let query = match codec::parse_form(uri.query().unwrap_or("")) {
        Ok(q) => q.into_iter().collect::<aliyun_sms::Params>(),
        Err(e) => return aliyun_error(StatusCode::BAD_REQUEST, "InvalidParameter", &e.to_string()),
    };
    let secret_for = |ak: &str| (ak == s.0.aliyun_keys.0).then(|| s.0.aliyun_keys.1.clone());
    let verified = match method {
        Method::GET => aliyun_sms::verify_v1("GET", &query, secret_for, unix_now()),
        Method::POST => aliyun_sms::verify_acs3("POST", "/", &query, &header_pairs(&headers), &body, secret_for, unix_now()),
        _ => return aliyun_error(StatusCode::METHOD_NOT_ALLOWED, "UnsupportedHTTPMethod", "This http method is not supported."),
    };
    if let Err(e) = verified {
        tracing::info!(error = %e, "aliyun sandbox refused a request");
        return aliyun_auth_error(&e);
    }
    let action = if method == Method::GET { query.get("Action").cloned() } else { headers.get("x-acs-action").and_then(|v| v.to_str().ok()).map(str::to_string) };
    if action.as_deref() != Some("SendSms") {
        return aliyun_error(StatusCode::NOT_FOUND, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.");
    }
    let (Some(phones), Some(sign), Some(code)) = (query.get("PhoneNumbers"), query.get("SignName"), query.get("TemplateCode")) else {
        return aliyun_error(StatusCode::BAD_REQUEST, "MissingParameter", "PhoneNumbers, SignName and TemplateCode are required.");
    };
    let Some(template) = resolve_template(&s.0.aliyun_templates, code) else {
        return aliyun_error(StatusCode::OK, "isv.SMS_TEMPLATE_ILLEGAL", "模板不合法(不存在或被拉黑)");
    };
    let vars: BTreeMap<String, String> = match query.get("TemplateParam").map(|p| serde_json::from_str(p)) {
        Some(Ok(v)) => v,
        None => BTreeMap::new(),
        Some(Err(_)) => return aliyun_error(StatusCode::OK, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值"),
    };
    if template.check_vars(&vars).is_err() {
        return aliyun_error(StatusCode::OK, "isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量");
    }
    // The sandbox handles one number per call (all we send); a list is refused as a whole on any bad number.
    let phones: Vec<&str> = phones.split(',').collect();
    for p in &phones {
        match s.0.verdict(p) {
            Verdict::Accept => {}
            Verdict::InvalidNumber => return aliyun_error(StatusCode::OK, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"),
            Verdict::RateLimited => return aliyun_error(StatusCode::OK, "isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1"),
        }
    }
    let biz_id = format!("{}^0", new_id().replace('-', ""));
    for p in &phones {
        if s.0.store_message(p, sign, template, &vars).await.is_err() {
            return aliyun_error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.");
        }
    }
    let receipts: Vec<_> = phones
        .iter()
        .map(|p| {
            let ok = !p.ends_with("9999");
            json!({
                "phone_number": p, "send_time": beijing_now(), "report_time": beijing_now(), "success": ok,
                "err_code": if ok { "DELIVERED" } else { "MK:0005" }, "err_msg": if ok { "用户接收成功" } else { "carrier blocked" },
                "sms_size": "1", "biz_id": biz_id, "out_id": query.get("OutId"),
            })
        })
        .collect();
    s.0.post_receipt("aliyun", receipts);
    axum::Json(json!({ "Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": new_id().to_uppercase() })).into_response()
}

// ----- Tencent --------------------------------------------------------------------------------------------

/// Tencent Cloud answers API errors with HTTP 200 and `Response.Error`.
fn tencent_error(code: &str, message: &str) -> Response {
    axum::Json(json!({ "Response": { "Error": { "Code": code, "Message": message }, "RequestId": new_id() } })).into_response()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TencentSend {
    phone_number_set: Vec<String>,
    #[allow(dead_code)]
    sms_sdk_app_id: String,
    sign_name: String,
    template_id: String,
    #[serde(default)]
    template_param_set: Vec<String>,
    #[serde(default)]
    session_context: String,
}

async fn tencent(State(s): State<SandboxState>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if method != Method::POST {
        return tencent_error("UnsupportedOperation", "Only signed POST requests are supported by this sandbox.");
    }
    let secret_for = |id: &str| (id == s.0.tencent_keys.0).then(|| s.0.tencent_keys.1.clone());
    if let Err(e) = tencent_sms::verify("POST", uri.query().unwrap_or(""), &header_pairs(&headers), &body, tencent_sms::SERVICE, secret_for, unix_now()) {
        tracing::info!(error = %e, "tencent sandbox refused a request");
        return match e {
            GatewayError::BadSignature => tencent_error("AuthFailure.SignatureFailure", "The provided credentials could not be validated. Please check your signature is correct."),
            GatewayError::UnknownKeySerial(_) => tencent_error("AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure that your SecretId is correct."),
            GatewayError::TimestampOutOfWindow { .. } => tencent_error("AuthFailure.SignatureExpire", "Signature expired."),
            GatewayError::MissingSignature => tencent_error("AuthFailure.MFAFailure", "The Authorization header is missing."),
            other => tencent_error("AuthFailure.InvalidAuthorization", &other.to_string()),
        };
    }
    if headers.get("x-tc-action").and_then(|v| v.to_str().ok()).is_none_or(|a| !a.eq_ignore_ascii_case("SendSms")) {
        return tencent_error("InvalidAction", "The requested action does not exist.");
    }
    let req: TencentSend = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return tencent_error("InvalidParameter", &e.to_string()),
    };
    let Some(template) = resolve_template(&s.0.tencent_templates, &req.template_id) else {
        return tencent_error("FailedOperation.TemplateIncorrectOrUnapproved", "模板未审批或内容不匹配");
    };
    if req.template_param_set.len() != template.vars.len() {
        return tencent_error("InvalidParameterValue.TemplateParameterFormatError", "验证码模板参数格式错误");
    }
    let vars: BTreeMap<String, String> = template.vars.iter().map(|v| v.to_string()).zip(req.template_param_set.iter().cloned()).collect();
    let mut statuses = Vec::new();
    let mut receipts = Vec::new();
    for phone in &req.phone_number_set {
        let serial = format!("{}:{}", tencent_sms::VERSION, new_id().replace('-', ""));
        let (code, message) = match s.0.verdict(phone) {
            Verdict::InvalidNumber => ("InvalidParameterValue.IncorrectPhoneNumber", "手机号格式错误"),
            Verdict::RateLimited => ("LimitExceeded.PhoneNumberOneHourLimit", "单个手机号1小时内下发短信条数超过设定的上限"),
            Verdict::Accept => {
                if s.0.store_message(phone, &req.sign_name, template, &vars).await.is_err() {
                    return tencent_error("InternalError", "Internal error.");
                }
                let ok = !phone.ends_with("9999");
                receipts.push(json!({
                    "user_receive_time": beijing_now(), "nationcode": "86", "mobile": phone.trim_start_matches("+86"),
                    "report_status": if ok { "SUCCESS" } else { "FAIL" }, "errmsg": if ok { "DELIVRD" } else { "MK:0005" },
                    "description": if ok { "用户短信送达成功" } else { "运营商拦截" }, "sid": serial,
                }));
                ("Ok", "send success")
            }
        };
        statuses.push(json!({ "SerialNo": if code == "Ok" { serial.clone() } else { String::new() }, "PhoneNumber": phone, "Fee": u32::from(code == "Ok"), "SessionContext": req.session_context, "Code": code, "Message": message, "IsoCode": "CN" }));
    }
    if !receipts.is_empty() {
        s.0.post_receipt("tencent", receipts);
    }
    axum::Json(json!({ "Response": { "SendStatusSet": statuses, "RequestId": new_id() } })).into_response()
}
