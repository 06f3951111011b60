//! Outgoing SMS behind [`SmsGateway`]. The sandbox gateway "sends" by writing to the database outbox, which
//! `/dev/outbox` shows in demo mode (and tests read). Carrier gateways (Aliyun, Tencent Cloud) plug in here.

use async_trait::async_trait;
use shenfen_store::{DynStore, OutboxMessage, new_id};

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("SMS gateway failed: {0}")]
    Gateway(String),
}

#[async_trait]
pub trait SmsGateway: Send + Sync {
    async fn send(&self, phone: &str, body: &str, now_ms: i64) -> Result<(), SmsError>;
}

pub struct SandboxSms {
    store: DynStore,
}

impl SandboxSms {
    pub fn new(store: DynStore) -> Self {
        SandboxSms { store }
    }
}

#[async_trait]
impl SmsGateway for SandboxSms {
    async fn send(&self, phone: &str, body: &str, now_ms: i64) -> Result<(), SmsError> {
        let msg = OutboxMessage { id: new_id(), phone: phone.to_string(), body: body.to_string(), created_at: now_ms, provider: None, provider_message_id: None };
        self.store.insert_outbox(&msg).await.map_err(|e| SmsError::Gateway(e.to_string()))?;
        tracing::info!(phone = %mask_phone(phone), "sandbox SMS stored in outbox");
        Ok(())
    }
}

fn mask_phone(phone: &str) -> String {
    shenfen_domain::MobileNumber::parse(phone).map(|p| p.masked()).unwrap_or_else(|_| "***".into())
}

pub fn code_message(code: &str) -> String {
    format!("【居民身份证服务】您的验证码为{code},5分钟内有效。请勿告诉他人。如非本人操作，请忽略本短信。")
}

pub fn phone_changed_notice(new_masked: &str) -> String {
    format!("【居民身份证服务】您的账号绑定手机号已更换为{new_masked}。如非本人操作，请尽快携带身份证到户政窗口处理。")
}
