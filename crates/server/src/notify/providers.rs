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

fn unix_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// The Beijing date of a UTC millisecond time: the day Aliyun files a message under.
fn beijing_date(ms: i64) -> Option<time::Date> {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000) + 8 * 3600).ok().map(|t| t.date())
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
}

#[async_trait]
impl SmsProvider for AliyunSms {
    fn name(&self) -> &'static str {
        "aliyun"
    }

    async fn submit(&self, sms: &OutgoingSms) -> SendOutcome {
        let creds = aliyun_sms::Credentials { access_key_id: self.config.access_key_id.clone(), access_key_secret: self.config.access_key_secret.clone() };
        let req = aliyun_sms::SendSms {
            phone_numbers: vec![sms.phone.clone()],
            sign_name: self.config.sign_name.clone(),
            template_code: template_code(&self.config.templates, sms.template.name),
            template_param: sms.vars.clone(),
            out_id: Some(sms.id.clone()),
        };
        let nonce = uuid::Uuid::now_v7().to_string();
        let built = if self.config.signature == "v1" {
            aliyun_sms::send_sms_v1(&creds, &req, unix_now(), &nonce)
        } else {
            aliyun_sms::send_sms_acs3(&creds, &req, unix_now(), &nonce)
        };
        let built = match built {
            Ok(r) => r,
            // The gateways crate refuses what Aliyun would refuse (e.g. a malformed number): permanent.
            Err(e) => return SendOutcome::Rejected { code: format!("local.{}", e.code()) },
        };
        let (status, body) = match send(&self.http, &self.base, aliyun_sms::HOST, &built).await {
            Ok(r) => r,
            Err(reason) => return SendOutcome::Retry { reason },
        };
        match aliyun_sms::parse_send_sms_response(&body) {
            Ok(aliyun_sms::SendSmsOutcome::Accepted { biz_id, .. }) => SendOutcome::Accepted { provider_message_id: biz_id },
            Ok(aliyun_sms::SendSmsOutcome::Rejected { error, code, .. }) if error.is_rate_limit() => SendOutcome::Retry { reason: code },
            // Signature or key problems are ours to fix, not the number's: retry (and dead-letter) rather than
            // marking the citizen's number as bad.
            Ok(aliyun_sms::SendSmsOutcome::Rejected { error: aliyun_sms::SendSmsError::MobileNumberIllegal, code, .. }) => SendOutcome::Rejected { code },
            Ok(aliyun_sms::SendSmsOutcome::Rejected { code, .. }) => SendOutcome::Retry { reason: code },
            Err(e) => SendOutcome::Retry { reason: format!("HTTP {status}: unreadable response ({})", e.code()) },
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
        let Some(send_date) = beijing_date(sent_at) else { return StatusAnswer::Failed { reason: "sent_at out of range".into() } };
        let creds = aliyun_sms::Credentials { access_key_id: self.config.access_key_id.clone(), access_key_secret: self.config.access_key_secret.clone() };
        let query = aliyun_sms::QuerySendDetails { phone_number: phone.to_string(), biz_id: Some(biz_id.to_string()), send_date, page_size: 10, current_page: 1 };
        let nonce = uuid::Uuid::now_v7().to_string();
        let built = if self.config.signature == "v1" {
            aliyun_sms::query_send_details_v1(&creds, &query, unix_now(), &nonce)
        } else {
            aliyun_sms::query_send_details_acs3(&creds, &query, unix_now(), &nonce)
        };
        let built = match built {
            Ok(r) => r,
            Err(e) => return StatusAnswer::Failed { reason: format!("local.{}", e.code()) },
        };
        let (status, body) = match send(&self.http, &self.base, aliyun_sms::HOST, &built).await {
            Ok(r) => r,
            Err(reason) => return StatusAnswer::Failed { reason },
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
            Err(e) => StatusAnswer::Failed { reason: format!("HTTP {status}: unreadable response ({})", e.code()) },
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
        let creds = tencent_sms::Credentials { secret_id: self.config.secret_id.clone(), secret_key: self.config.secret_key.clone() };
        let req = tencent_sms::SendSms {
            phone_number_set: vec![phone],
            sms_sdk_app_id: self.config.sdk_app_id.clone(),
            sign_name: self.config.sign_name.clone(),
            template_id: template_code(&self.config.templates, sms.template.name),
            template_param_set: sms.template.positional(&sms.vars),
            session_context: Some(sms.id.clone()),
        };
        let built = match tencent_sms::send_sms_request(&creds, &self.config.region, &req, unix_now().unix_timestamp()) {
            Ok(r) => r,
            Err(e) => return SendOutcome::Rejected { code: format!("local.{}", e.code()) },
        };
        let (status, body) = match send(&self.http, &self.base, tencent_sms::HOST, &built).await {
            Ok(r) => r,
            Err(reason) => return SendOutcome::Retry { reason },
        };
        match tencent_sms::parse_send_sms_response(&body) {
            Ok(tencent_sms::SendSmsResponse::Sent { statuses, .. }) => match statuses.first() {
                Some(s) if s.is_ok() => SendOutcome::Accepted { provider_message_id: s.serial_no.clone() },
                Some(s) => match s.error() {
                    Some(tencent_sms::SendStatusError::IncorrectPhoneNumber | tencent_sms::SendStatusError::PhoneNumberInBlacklist) => {
                        SendOutcome::Rejected { code: s.code.clone() }
                    }
                    _ => SendOutcome::Retry { reason: s.code.clone() },
                },
                None => SendOutcome::Retry { reason: "empty SendStatusSet".into() },
            },
            Ok(tencent_sms::SendSmsResponse::Error { code, .. }) => SendOutcome::Retry { reason: code },
            Err(e) => SendOutcome::Retry { reason: format!("HTTP {status}: unreadable response ({})", e.code()) },
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
        let creds = tencent_sms::Credentials { secret_id: self.config.secret_id.clone(), secret_key: self.config.secret_key.clone() };
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
            let built = match tencent_sms::pull_send_status_by_phone_number_request(&creds, &self.config.region, &pull, unix_now().unix_timestamp()) {
                Ok(r) => r,
                Err(e) => return StatusAnswer::Failed { reason: format!("local.{}", e.code()) },
            };
            let (status, body) = match send(&self.http, &self.base, tencent_sms::HOST, &built).await {
                Ok(r) => r,
                Err(reason) => return StatusAnswer::Failed { reason },
            };
            let statuses = match tencent_sms::parse_pull_send_status_response(&body) {
                Ok(tencent_sms::PullSendStatusResponse::Pulled { statuses, .. }) => statuses,
                Ok(tencent_sms::PullSendStatusResponse::Error { code, .. }) => return StatusAnswer::Failed { reason: code },
                Err(e) => return StatusAnswer::Failed { reason: format!("HTTP {status}: unreadable response ({})", e.code()) },
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
