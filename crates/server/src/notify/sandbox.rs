//! Sandboxes of Aliyun SMS and Tencent Cloud SMS: they check our signatures with the gateways crate's
//! provider-side `verify` functions and answer like the real services — their error shapes and codes, a
//! per-number rate limit. Accepted messages land in the outbox (`/dev/outbox`), a delivery receipt in the
//! provider's callback format is posted to our receipt endpoint afterwards, and the status APIs (Aliyun
//! `QuerySendDetails`, Tencent `PullSmsSendStatusByPhoneNumber`) answer from the sandbox's record of what it sent.
//!
//! Simulated numbers, by their last four digits:
//! * `0000` — refused at submission as invalid;
//! * `9999` — accepted, then reported undeliverable by the "carrier" (`MK:0005`);
//! * `8888` — accepted and delivered, but the receipt callback is lost on the way (only the status API knows);
//! * `7777` — accepted, and the carrier never reports (a phone switched off): the status API says "waiting".
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
    /// What was sent, for the status APIs.
    log: Mutex<SentLog>,
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
            log: Mutex::new(SentLog::default()),
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default(),
        }))
    }
}

/// What the carrier will do with an accepted message, by the number's last four digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Delivered,
    /// `9999`: reported undeliverable.
    Blocked,
    /// `8888`: delivered; the receipt callback is lost.
    ReceiptLost,
    /// `7777`: never reported on.
    Silent,
}

impl Fate {
    fn of(phone: &str) -> Fate {
        match phone.get(phone.len().saturating_sub(4)..) {
            Some("9999") => Fate::Blocked,
            Some("8888") => Fate::ReceiptLost,
            Some("7777") => Fate::Silent,
            _ => Fate::Delivered,
        }
    }

    /// The carrier's final report, once it comes: delivered, and the code.
    fn report(self, provider: &str) -> Option<(bool, &'static str)> {
        match (self, provider) {
            (Fate::Silent, _) => None,
            (Fate::Blocked, _) => Some((false, "MK:0005")),
            (_, "tencent") => Some((true, "DELIVRD")),
            _ => Some((true, "DELIVERED")),
        }
    }

    /// The report as a receipt callback carries it: none when the callback is lost or there is no report.
    fn pushed_report(self, provider: &str) -> Option<(bool, &'static str)> {
        if self == Fate::ReceiptLost { None } else { self.report(provider) }
    }
}

/// One accepted message, as the provider files it.
#[derive(Debug, Clone)]
struct SentRecord {
    provider: &'static str,
    /// Aliyun `BizId` / Tencent `SerialNo`.
    message_id: String,
    /// Aliyun `OutId` / Tencent `SessionContext`.
    context: String,
    template_code: String,
    content: String,
    sent_ms: i64,
    fate: Fate,
}

impl SentRecord {
    /// A message `provider` accepts for `phone` now; its text is filled in by [`SandboxInner::accept`].
    fn new(provider: &'static str, phone: &str, message_id: &str, context: &str, template_code: &str) -> SentRecord {
        SentRecord {
            provider,
            message_id: message_id.to_string(),
            context: context.to_string(),
            template_code: template_code.to_string(),
            content: String::new(),
            sent_ms: super::now_ms(),
            fate: Fate::of(phone),
        }
    }

    /// The report, once the carrier has made it (after the receipt delay).
    fn report_at(&self, now_ms: i64, delay: Duration) -> Option<(bool, &'static str)> {
        (now_ms >= self.sent_ms + delay.as_millis() as i64).then(|| self.fate.report(self.provider)).flatten()
    }
}

/// Sent messages by national number, oldest first; the oldest are forgotten beyond [`SentLog::CAPACITY`] (the real
/// services keep details for 30 days; a sandbox keeps what a benchmark needs).
#[derive(Default)]
struct SentLog {
    by_phone: HashMap<String, VecDeque<SentRecord>>,
    order: VecDeque<String>,
}

impl SentLog {
    const CAPACITY: usize = 200_000;

    fn add(&mut self, phone: &str, record: SentRecord) {
        self.by_phone.entry(phone.to_string()).or_default().push_back(record);
        self.order.push_back(phone.to_string());
        while self.order.len() > Self::CAPACITY {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(list) = self.by_phone.get_mut(&oldest) {
                list.pop_front();
                if list.is_empty() {
                    self.by_phone.remove(&oldest);
                }
            }
        }
    }

    fn of(&self, phone: &str, provider: &str) -> Vec<SentRecord> {
        self.by_phone.get(phone).map(|l| l.iter().filter(|r| r.provider == provider).cloned().collect()).unwrap_or_default()
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

    /// Accepts a message: stores its text in the outbox under the provider's id for it and files it for the status
    /// APIs. Returns what the carrier will do with it (`Err`: the outbox could not be written).
    async fn accept(&self, phone: &str, sign_name: &str, template: &Template, vars: &BTreeMap<String, String>, mut record: SentRecord) -> Result<Fate, ()> {
        let text = template.render(crate::i18n::Lang::Zh, vars).map_err(|_| ())?;
        record.content = format!("【{sign_name}】{text}");
        let national = phone.trim_start_matches("+86");
        let msg = OutboxMessage {
            id: new_id(),
            phone: national.to_string(),
            body: record.content.clone(),
            created_at: record.sent_ms,
            provider: Some(record.provider.to_string()),
            provider_message_id: Some(record.message_id.clone()),
        };
        if !self.outbox.store(msg).await {
            return Err(());
        }
        let fate = record.fate;
        self.log.lock().unwrap_or_else(|p| p.into_inner()).add(national, record);
        Ok(fate)
    }

    fn sent_to(&self, phone: &str, provider: &str) -> Vec<SentRecord> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).of(phone.trim_start_matches("+86"), provider)
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

/// Now as `yyyy-MM-dd HH:mm:ss`, Beijing time: the providers' receipt format.
fn beijing_now() -> String {
    crate::pages::format_cst(super::now_ms())
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
    match action.as_deref() {
        Some("SendSms") => aliyun_send(&s, &query).await,
        Some("QuerySendDetails") => aliyun_query(&s, &query),
        _ => aliyun_error(StatusCode::NOT_FOUND, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."),
    }
}

async fn aliyun_send(s: &SandboxState, query: &aliyun_sms::Params) -> Response {
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
    let out_id = query.get("OutId").cloned().unwrap_or_default();
    let mut receipts = Vec::new();
    for p in &phones {
        let record = SentRecord::new("aliyun", p, &biz_id, &out_id, code);
        let Ok(fate) = s.0.accept(p, sign, template, &vars, record).await else {
            return aliyun_error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.");
        };
        if let Some((ok, err_code)) = fate.pushed_report("aliyun") {
            receipts.push(json!({
                "phone_number": p, "send_time": beijing_now(), "report_time": beijing_now(), "success": ok,
                "err_code": err_code, "err_msg": if ok { "用户接收成功" } else { "carrier blocked" },
                "sms_size": "1", "biz_id": biz_id, "out_id": query.get("OutId"),
            }));
        }
    }
    if !receipts.is_empty() {
        s.0.post_receipt("aliyun", receipts);
    }
    axum::Json(json!({ "Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": new_id().to_uppercase() })).into_response()
}

/// `QuerySendDetails`: the messages sent to one number on one day (Beijing time), optionally of one `BizId`, a
/// page at a time.
fn aliyun_query(s: &SandboxState, query: &aliyun_sms::Params) -> Response {
    let (Some(phone), Some(date)) = (query.get("PhoneNumber"), query.get("SendDate")) else {
        return aliyun_error(StatusCode::BAD_REQUEST, "MissingParameter", "PhoneNumber and SendDate are required.");
    };
    let Ok(date) = aliyun_sms::parse_send_date(date) else {
        return aliyun_error(StatusCode::OK, "isv.INVALID_PARAMETERS", "参数异常: SendDate");
    };
    let page_size: u32 = query.get("PageSize").and_then(|v| v.parse().ok()).filter(|n| (1..=50).contains(n)).unwrap_or(0);
    let page: u32 = query.get("CurrentPage").and_then(|v| v.parse().ok()).filter(|n| *n >= 1).unwrap_or(0);
    if page_size == 0 || page == 0 {
        return aliyun_error(StatusCode::OK, "isv.INVALID_PARAMETERS", "参数异常: PageSize 1-50, CurrentPage ≥ 1");
    }
    let now = super::now_ms();
    let matching: Vec<SentRecord> = s
        .0
        .sent_to(phone, "aliyun")
        .into_iter()
        .filter(|r| crate::appointments::ms_to_local(r.sent_ms).date() == date && query.get("BizId").is_none_or(|b| *b == r.message_id))
        .collect();
    let details: Vec<_> = matching
        .iter()
        .skip(((page - 1) * page_size) as usize)
        .take(page_size as usize)
        .map(|r| {
            let (status, err_code, receive) = match r.report_at(now, s.0.receipt_delay) {
                Some((true, code)) => (aliyun_sms::DetailStatus::Delivered, code, crate::pages::format_cst(r.sent_ms + s.0.receipt_delay.as_millis() as i64)),
                Some((false, code)) => (aliyun_sms::DetailStatus::Failed, code, crate::pages::format_cst(r.sent_ms + s.0.receipt_delay.as_millis() as i64)),
                None => (aliyun_sms::DetailStatus::Waiting, "", String::new()),
            };
            json!({
                "PhoneNum": phone, "SendStatus": status.code(), "ErrCode": err_code, "TemplateCode": r.template_code,
                "Content": r.content, "SendDate": crate::pages::format_cst(r.sent_ms), "ReceiveDate": receive, "OutId": r.context,
            })
        })
        .collect();
    axum::Json(json!({
        "Code": "OK", "Message": "OK", "RequestId": new_id().to_uppercase(), "TotalCount": matching.len().to_string(),
        "SmsSendDetailDTOs": { "SmsSendDetailDTO": details },
    }))
    .into_response()
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
    match headers.get("x-tc-action").and_then(|v| v.to_str().ok()) {
        Some("SendSms") => tencent_send(&s, &body).await,
        Some("PullSmsSendStatusByPhoneNumber") => tencent_pull_by_number(&s, &body),
        _ => tencent_error("InvalidAction", "The requested action does not exist."),
    }
}

async fn tencent_send(s: &SandboxState, body: &[u8]) -> Response {
    let req: TencentSend = match serde_json::from_slice(body) {
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
                let record = SentRecord::new("tencent", phone, &serial, &req.session_context, &req.template_id);
                let Ok(fate) = s.0.accept(phone, &req.sign_name, template, &vars, record).await else {
                    return tencent_error("InternalError", "Internal error.");
                };
                if let Some((ok, errmsg)) = fate.pushed_report("tencent") {
                    receipts.push(json!({
                        "user_receive_time": beijing_now(), "nationcode": "86", "mobile": phone.trim_start_matches("+86"),
                        "report_status": if ok { "SUCCESS" } else { "FAIL" }, "errmsg": errmsg,
                        "description": if ok { "用户短信送达成功" } else { "运营商拦截" }, "sid": serial,
                    }));
                }
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

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TencentPullByNumber {
    begin_time: i64,
    offset: u32,
    limit: u32,
    phone_number: String,
    #[allow(dead_code)]
    sms_sdk_app_id: String,
    #[serde(default)]
    end_time: Option<i64>,
}

/// `PullSmsSendStatusByPhoneNumber`: the carrier reports of messages sent to one number from `BeginTime` (to
/// `EndTime`), a page at a time. Messages the carrier has not reported on are not listed.
fn tencent_pull_by_number(s: &SandboxState, body: &[u8]) -> Response {
    let req: TencentPullByNumber = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return tencent_error("InvalidParameter", &e.to_string()),
    };
    if !(1..=100).contains(&req.limit) {
        return tencent_error("InvalidParameterValue", "Limit 取值范围为 1-100。");
    }
    if req.end_time.is_some_and(|e| e < req.begin_time) {
        return tencent_error("InvalidParameterValue", "EndTime 不能早于 BeginTime。");
    }
    let now = super::now_ms();
    let statuses: Vec<_> = s
        .0
        .sent_to(&req.phone_number, "tencent")
        .into_iter()
        .filter(|r| r.sent_ms / 1000 >= req.begin_time && req.end_time.is_none_or(|e| r.sent_ms / 1000 <= e))
        .filter_map(|r| r.report_at(now, s.0.receipt_delay).map(|report| (r, report)))
        .skip(req.offset as usize)
        .take(req.limit as usize)
        .map(|(r, (ok, code))| {
            let national = req.phone_number.trim_start_matches("+86");
            json!({
                "UserReceiveTime": (r.sent_ms + s.0.receipt_delay.as_millis() as i64) / 1000, "CountryCode": "86",
                "SubscriberNumber": national, "PhoneNumber": req.phone_number, "SerialNo": r.message_id,
                "ReportStatus": if ok { "SUCCESS" } else { "FAIL" }, "Description": code, "SessionContext": r.context,
            })
        })
        .collect();
    axum::Json(json!({ "Response": { "PullSmsSendStatusSet": statuses, "RequestId": new_id() } })).into_response()
}
