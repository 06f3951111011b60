//! Aliyun SMS and Tencent Cloud SMS over HTTPS, signed by `shenfen_gateways`. The gateways crate builds each
//! request for the production host; we send the same bytes to the configured base URL (the real service or a
//! sandbox) with the signed `Host` header kept, so the signature is identical either way.

use std::time::Duration;

use async_trait::async_trait;
use shenfen_gateways::{HttpMethod, HttpRequest, aliyun_sms, tencent_sms};

use shenfen_store::Notification;

use super::{OutgoingSms, SendOutcome, SmsProvider, StatusAnswer};
use crate::config::{AliyunSmsConfig, TencentSmsConfig};

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).build().unwrap_or_default()
}

/// Sends a built request to `base` instead of the production host it names.
async fn send(http: &reqwest::Client, base: &str, prod_host: &str, req: &HttpRequest) -> Result<(u16, String), String> {
    let prefix = format!("https://{prod_host}");
    let path_and_query = req.url.strip_prefix(&prefix).ok_or("request URL does not name the provider host")?;
    let url = format!("{}{}", base.trim_end_matches('/'), path_and_query);
    let mut b = match req.method {
        HttpMethod::Get => http.get(&url),
        HttpMethod::Post => http.post(&url).body(req.body.clone()),
    };
    let mut has_host = false;
    for (k, v) in &req.headers {
        has_host |= k.eq_ignore_ascii_case("host");
        b = b.header(k.as_str(), v.as_str());
    }
    if !has_host {
        b = b.header("host", prod_host);
    }
    let res = b.send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = res.status().as_u16();
    let body = res.text().await.map_err(|e| format!("reading response: {e}"))?;
    Ok((status, body))
}

/// Why a provider call got no answer to read.
enum CallFailed {
    /// The gateways crate refused to build the request: what the provider would refuse too (a malformed number).
    Refused(String),
    /// Network error or timeout: try again later.
    Unreachable(String),
}

/// Builds a request (or refuses to), sends it to `base`, and returns the HTTP status and body.
async fn call(http: &reqwest::Client, base: &str, prod_host: &str, built: shenfen_gateways::Result<HttpRequest>) -> Result<(u16, String), CallFailed> {
    let built = built.map_err(|e| CallFailed::Refused(format!("local.{}", e.code())))?;
    send(http, base, prod_host, &built).await.map_err(CallFailed::Unreachable)
}

fn unreadable(status: u16, e: &shenfen_gateways::GatewayError) -> String {
    format!("HTTP {status}: unreadable response ({})", e.code())
}

fn unix_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// The stored fields a status query needs; a row without them was never accepted by a provider.
fn sent_fields(sent: &Notification) -> Result<(&str, &str, i64), StatusAnswer> {
    match (sent.phone.as_deref(), sent.provider_message_id.as_deref(), sent.sent_at) {
        (Some(phone), Some(id), Some(at)) => Ok((phone, id, at)),
        _ => Err(StatusAnswer::Failed { reason: "not a sent message".into() }),
    }
}

/// A template code the account had approved, by our template name (configuration), else our name itself (the
/// sandboxes accept our names, so demo instances need no table).
fn template_code(templates: &std::collections::BTreeMap<String, String>, name: &str) -> String {
    templates.get(name).cloned().unwrap_or_else(|| name.to_string())
}

pub struct AliyunSms {
    base: String,
    config: AliyunSmsConfig,
    http: reqwest::Client,
}

impl AliyunSms {
    pub fn new(base: String, config: AliyunSmsConfig, timeout: Duration) -> Self {
        AliyunSms { base, config, http: client(timeout) }
    }

    /// Signs `req` in the configured style (`v1` or ACS3) and sends it.
    async fn call<R>(&self, req: &R, v1: Builder<R>, acs3: Builder<R>) -> Result<(u16, String), CallFailed> {
        let creds = aliyun_sms::Credentials { access_key_id: self.config.access_key_id.clone(), access_key_secret: self.config.access_key_secret.clone() };
        let nonce = uuid::Uuid::now_v7().to_string();
        let build = if self.config.signature == "v1" { v1 } else { acs3 };
        call(&self.http, &self.base, aliyun_sms::HOST, build(&creds, req, unix_now(), &nonce)).await
    }
}

/// An Aliyun request builder of the gateways crate (one per action and signature style).
type Builder<R> = fn(&aliyun_sms::Credentials, &R, time::OffsetDateTime, &str) -> shenfen_gateways::Result<HttpRequest>;

#[async_trait]
impl SmsProvider for AliyunSms {
    fn name(&self) -> &'static str {
        "aliyun"
    }

    async fn submit(&self, sms: &OutgoingSms) -> SendOutcome {
        let req = aliyun_sms::SendSms {
            phone_numbers: vec![sms.phone.clone()],
            sign_name: self.config.sign_name.clone(),
            template_code: template_code(&self.config.templates, sms.template.name),
            template_param: sms.vars.clone(),
            out_id: Some(sms.id.clone()),
        };
        let (status, body) = match self.call(&req, aliyun_sms::send_sms_v1, aliyun_sms::send_sms_acs3).await {
            Ok(r) => r,
            // The gateways crate refuses what Aliyun would refuse (e.g. a malformed number): permanent.
            Err(CallFailed::Refused(code)) => return SendOutcome::Rejected { code },
            Err(CallFailed::Unreachable(reason)) => return SendOutcome::Retry { reason },
        };
        match aliyun_sms::parse_send_sms_response(&body) {
            Ok(aliyun_sms::SendSmsOutcome::Accepted { biz_id, .. }) => SendOutcome::Accepted { provider_message_id: biz_id },
            Ok(aliyun_sms::SendSmsOutcome::Rejected { error, code, .. }) if error.is_rate_limit() => SendOutcome::Retry { reason: code },
            // Signature or key problems are ours to fix, not the number's: retry (and dead-letter) rather than
            // marking the citizen's number as bad.
            Ok(aliyun_sms::SendSmsOutcome::Rejected { error: aliyun_sms::SendSmsError::MobileNumberIllegal, code, .. }) => SendOutcome::Rejected { code },
            Ok(aliyun_sms::SendSmsOutcome::Rejected { code, .. }) => SendOutcome::Retry { reason: code },
            Err(e) => SendOutcome::Retry { reason: unreadable(status, &e) },
        }
    }

    fn has_status_api(&self) -> bool {
        true
    }

    /// `QuerySendDetails` by number, day and `BizId`: one send, one detail (matched on our `OutId` too).
    async fn status(&self, sent: &Notification) -> StatusAnswer {
        let (phone, biz_id, sent_at) = match sent_fields(sent) {
            Ok(f) => f,
            Err(answer) => return answer,
        };
        // The day Aliyun files the message under: its Beijing date.
        let send_date = crate::appointments::ms_to_local(sent_at).date();
        let query = aliyun_sms::QuerySendDetails { phone_number: phone.to_string(), biz_id: Some(biz_id.to_string()), send_date, page_size: 10, current_page: 1 };
        let (status, body) = match self.call(&query, aliyun_sms::query_send_details_v1, aliyun_sms::query_send_details_acs3).await {
            Ok(r) => r,
            Err(CallFailed::Refused(reason) | CallFailed::Unreachable(reason)) => return StatusAnswer::Failed { reason },
        };
        match aliyun_sms::parse_query_send_details_response(&body) {
            Ok(aliyun_sms::QuerySendDetailsOutcome::Found { details, .. }) => {
                let ours = details.iter().find(|d| d.out_id.as_deref() == Some(sent.id.as_str())).or(details.first());
                match ours.map(|d| (d.send_status, d.err_code.clone())) {
                    Some((aliyun_sms::DetailStatus::Delivered, code)) => StatusAnswer::Final { delivered: true, code },
                    Some((aliyun_sms::DetailStatus::Failed, code)) => StatusAnswer::Final { delivered: false, code },
                    // Waiting for the carrier, or not (yet) on file.
                    Some((aliyun_sms::DetailStatus::Waiting, _)) | None => StatusAnswer::Pending,
                }
            }
            Ok(aliyun_sms::QuerySendDetailsOutcome::Rejected { code, .. }) => StatusAnswer::Failed { reason: code },
            Err(e) => StatusAnswer::Failed { reason: unreadable(status, &e) },
        }
    }
}

pub struct TencentSms {
    base: String,
    config: TencentSmsConfig,
    http: reqwest::Client,
}

impl TencentSms {
    pub fn new(base: String, config: TencentSmsConfig, timeout: Duration) -> Self {
        TencentSms { base, config, http: client(timeout) }
    }

    /// Signs a request with `build` (credentials, region, timestamp) and sends it.
    async fn call(&self, build: impl FnOnce(&tencent_sms::Credentials, &str, i64) -> shenfen_gateways::Result<HttpRequest>) -> Result<(u16, String), CallFailed> {
        let creds = tencent_sms::Credentials { secret_id: self.config.secret_id.clone(), secret_key: self.config.secret_key.clone() };
        call(&self.http, &self.base, tencent_sms::HOST, build(&creds, &self.config.region, unix_now().unix_timestamp())).await
    }
}

#[async_trait]
impl SmsProvider for TencentSms {
    fn name(&self) -> &'static str {
        "tencent"
    }

    async fn submit(&self, sms: &OutgoingSms) -> SendOutcome {
        let phone = match tencent_sms::mainland_e164(&sms.phone) {
            Ok(p) => p,
            Err(e) => return SendOutcome::Rejected { code: format!("local.{}", e.code()) },
        };
        let req = tencent_sms::SendSms {
            phone_number_set: vec![phone],
            sms_sdk_app_id: self.config.sdk_app_id.clone(),
            sign_name: self.config.sign_name.clone(),
            template_id: template_code(&self.config.templates, sms.template.name),
            template_param_set: sms.template.positional(&sms.vars),
            session_context: Some(sms.id.clone()),
        };
        let (status, body) = match self.call(|creds, region, at| tencent_sms::send_sms_request(creds, region, &req, at)).await {
            Ok(r) => r,
            Err(CallFailed::Refused(code)) => return SendOutcome::Rejected { code },
            Err(CallFailed::Unreachable(reason)) => return SendOutcome::Retry { reason },
        };
        match tencent_sms::parse_send_sms_response(&body) {
            Ok(tencent_sms::ApiResponse::Items { items: statuses, .. }) => match statuses.first() {
                Some(s) if s.is_ok() => SendOutcome::Accepted { provider_message_id: s.serial_no.clone() },
                Some(s) => match s.error() {
                    Some(tencent_sms::SendStatusError::IncorrectPhoneNumber | tencent_sms::SendStatusError::PhoneNumberInBlacklist) => {
                        SendOutcome::Rejected { code: s.code.clone() }
                    }
                    _ => SendOutcome::Retry { reason: s.code.clone() },
                },
                None => SendOutcome::Retry { reason: "empty SendStatusSet".into() },
            },
            Ok(tencent_sms::ApiResponse::Error { code, .. }) => SendOutcome::Retry { reason: code },
            Err(e) => SendOutcome::Retry { reason: unreadable(status, &e) },
        }
    }

    fn has_status_api(&self) -> bool {
        true
    }

    /// `PullSmsSendStatusByPhoneNumber` from just before the send, looking for our serial number. Tencent lists
    /// only messages with a carrier report, so absence means no report yet.
    async fn status(&self, sent: &Notification) -> StatusAnswer {
        /// Pages of 100 read at most: a number gets a handful of messages from us, never hundreds.
        const PAGES: u32 = 5;
        let (phone, serial, sent_at) = match sent_fields(sent) {
            Ok(f) => f,
            Err(answer) => return answer,
        };
        let phone = match tencent_sms::mainland_e164(phone) {
            Ok(p) => p,
            Err(e) => return StatusAnswer::Failed { reason: format!("local.{}", e.code()) },
        };
        for page in 0..PAGES {
            let pull = tencent_sms::PullSendStatusByPhoneNumber {
                // A minute early: the provider's clock and ours may differ a little.
                begin_time: (sent_at / 1000 - 60).max(0),
                offset: page * 100,
                limit: 100,
                phone_number: phone.clone(),
                sms_sdk_app_id: self.config.sdk_app_id.clone(),
                end_time: None,
            };
            let (status, body) = match self.call(|creds, region, at| tencent_sms::pull_send_status_by_phone_number_request(creds, region, &pull, at)).await {
                Ok(r) => r,
                Err(CallFailed::Refused(reason) | CallFailed::Unreachable(reason)) => return StatusAnswer::Failed { reason },
            };
            let statuses = match tencent_sms::parse_pull_send_status_response(&body) {
                Ok(tencent_sms::ApiResponse::Items { items, .. }) => items,
                Ok(tencent_sms::ApiResponse::Error { code, .. }) => return StatusAnswer::Failed { reason: code },
                Err(e) => return StatusAnswer::Failed { reason: unreadable(status, &e) },
            };
            if let Some(s) = statuses.iter().find(|s| s.serial_no == serial) {
                return StatusAnswer::Final { delivered: s.report_status == tencent_sms::ReportStatus::Success, code: s.description.clone() };
            }
            if statuses.len() < 100 {
                break;
            }
        }
        StatusAnswer::Pending
    }
}
