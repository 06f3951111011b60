//! Alipay OpenAPI adapter: `alipay.trade.wap.pay` (mobile web, a signed redirect URL), `alipay.trade.precreate`
//! (counter QR), `query` / `refund` / `close` as signed server calls whose synchronous responses are verified
//! over their raw bytes, and asynchronous notifications verified with Alipay's public key (`sign` and
//! `sign_type` dropped from the string to sign).

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use shenfen_domain::payments::{PaymentChannel, Provider};
use shenfen_gateways::alipay::{
    self, AlipayConfig, ApiOutcome, BillDownloadUrlQuery, BizRequest, Precreate, ResponseStatus, TradeClose, TradeQuery, TradeRefund, TradeStatus, WapPay,
};
use shenfen_gateways::statements::Statement;
use shenfen_gateways::{RsaPrivateKey, RsaPublicKey};
use time::OffsetDateTime;

use super::{demo_keys, from_gateway, pem, send};
use crate::config::AlipayPayConfig;
use crate::payments::provider::{
    NoticeOutcome, OrderRef, PaymentProvider, ProviderError, QueryOutcome, RefundOrder, RefundOutcome, StartRequest, Started, VerifiedNotice,
};

pub struct AlipayProvider {
    config: AlipayConfig,
    alipay_public_key: RsaPublicKey,
    http: reqwest::Client,
}

impl AlipayProvider {
    /// `gateway_url`: Alipay's `gateway.do` (or a sandbox's).
    pub fn new(gateway_url: &str, app_id: &str, private_key: RsaPrivateKey, alipay_public_key: RsaPublicKey) -> Self {
        AlipayProvider {
            config: AlipayConfig {
                gateway_url: gateway_url.to_string(),
                app_id: app_id.to_string(),
                private_key,
                notify_url: None,
                cert_sns: None,
            },
            alipay_public_key,
            http: super::http_client(),
        }
    }

    pub fn from_config(c: &AlipayPayConfig, demo: bool, public_url: &str) -> anyhow::Result<Self> {
        let gateway = match c.gateway_url.as_deref().filter(|u| !u.is_empty()) {
            Some(u) => u.to_string(),
            None if demo => format!("{public_url}/sandbox/alipay/gateway.do"),
            None => anyhow::bail!("payments.alipay.gateway_url is required outside demo mode"),
        };
        let key = pem(&c.private_key_pem, &c.private_key_path, demo_keys::MERCHANT_KEY, demo, "payments.alipay private key")?;
        let public = pem(
            &c.alipay_public_key_pem,
            &c.alipay_public_key_path,
            demo_keys::PLATFORM_PUB,
            demo,
            "payments.alipay Alipay public key",
        )?;
        let key = RsaPrivateKey::from_pem(&key).map_err(|e| anyhow::anyhow!("payments.alipay private key: {}", e.code()))?;
        let public = RsaPublicKey::from_spki_pem(&public).map_err(|e| anyhow::anyhow!("payments.alipay public key: {}", e.code()))?;
        Ok(Self::new(&gateway, &c.app_id, key, public))
    }

    /// Alipay's gateway sends the browser on to its cashier on other alipay.com hosts; every hop must be allowed.
    pub(crate) fn gateway_origin(&self) -> Option<String> {
        let origin = super::origin_of(&self.config.gateway_url)?;
        Some(if origin.ends_with(".alipay.com") { "https://*.alipay.com".into() } else { origin })
    }

    /// Signs and posts a server call; returns the verified raw response member.
    async fn call<R: BizRequest + Sync>(&self, req: &R, notify_url: Option<&str>) -> Result<String, ProviderError> {
        let mut config = self.config.clone();
        config.notify_url = notify_url.map(str::to_string);
        let http_req = alipay::sign_request(&config, req, OffsetDateTime::now_utc()).map_err(from_gateway)?.http_request();
        let (_, body) = send(&self.http, &http_req).await?;
        let body = String::from_utf8(body).map_err(|_| ProviderError::Malformed("response is not UTF-8".into()))?;
        let member = alipay::response_member_name(req.method());
        let verified = alipay::verify_sync_response(&body, &member, &self.alipay_public_key).map_err(from_gateway)?;
        Ok(verified.raw.to_string())
    }
}

fn refused(s: ResponseStatus) -> ProviderError {
    ProviderError::Refused { code: s.sub_code.unwrap_or(s.code), message: s.sub_msg.unwrap_or(s.msg) }
}

fn fen(v: i64) -> Result<u64, ProviderError> {
    u64::try_from(v).ok().filter(|v| *v > 0).ok_or_else(|| ProviderError::Malformed(format!("amount {v} fen")))
}

fn to_i64(v: u64) -> Result<i64, ProviderError> {
    i64::try_from(v).map_err(|_| ProviderError::Malformed("amount out of range".into()))
}

/// Alipay's `time_expire`: `yyyy-MM-dd HH:mm:ss` Beijing time.
fn time_expire(at: OffsetDateTime) -> String {
    alipay::format_timestamp(at)
}

#[async_trait]
impl PaymentProvider for AlipayProvider {
    fn provider(&self) -> Provider {
        Provider::Alipay
    }

    fn merchant_id(&self) -> &str {
        &self.config.app_id
    }

    async fn start(&self, req: &StartRequest) -> Result<Started, ProviderError> {
        let amount = fen(req.amount_fen)?;
        match req.channel {
            PaymentChannel::Alipay => {
                let wap = WapPay {
                    out_trade_no: req.order_no.clone(),
                    total_amount_fen: amount,
                    subject: req.description.clone(),
                    quit_url: req.return_url.clone(),
                    time_expire: Some(time_expire(req.expires_at)),
                    return_url: Some(req.return_url.clone()),
                };
                let mut config = self.config.clone();
                config.notify_url = Some(req.notify_url.clone());
                let signed = alipay::sign_request(&config, &wap, OffsetDateTime::now_utc()).map_err(from_gateway)?;
                Ok(Started::Redirect(signed.redirect_url()))
            }
            PaymentChannel::AlipayQr => {
                let pre = Precreate {
                    out_trade_no: req.order_no.clone(),
                    total_amount_fen: amount,
                    subject: req.description.clone(),
                    time_expire: Some(time_expire(req.expires_at)),
                };
                let raw = self.call(&pre, Some(&req.notify_url)).await?;
                match alipay::parse_precreate_response(&raw).map_err(from_gateway)? {
                    ApiOutcome::Success(r) => Ok(Started::Qr(r.qr_code)),
                    ApiOutcome::Failure(s) => Err(refused(s)),
                }
            }
            other => Err(ProviderError::Malformed(format!("channel {} is not an Alipay channel", other.code()))),
        }
    }

    fn verify_notice(&self, _headers: &HeaderMap, body: &[u8], _now: OffsetDateTime) -> Result<VerifiedNotice, ProviderError> {
        let body = std::str::from_utf8(body).map_err(|_| ProviderError::Malformed("body is not UTF-8".into()))?;
        let params = alipay::parse_notify_body(body).map_err(from_gateway)?;
        let n = alipay::verify_notify(&params, &self.alipay_public_key).map_err(from_gateway)?;
        let outcome = match n.trade_status {
            TradeStatus::TradeSuccess | TradeStatus::TradeFinished => {
                NoticeOutcome::Paid { at: n.gmt_payment.unwrap_or(n.notify_time) }
            }
            TradeStatus::TradeClosed => NoticeOutcome::Failed { code: "TRADE_CLOSED".into() },
            TradeStatus::WaitBuyerPay => NoticeOutcome::Pending,
        };
        Ok(VerifiedNotice {
            event_id: n.notify_id,
            order_no: n.out_trade_no,
            provider_trade_no: Some(n.trade_no),
            amount_fen: to_i64(n.total_amount_fen)?,
            merchant_id: n.app_id,
            outcome,
        })
    }

    fn acknowledge(&self, accepted: bool) -> (StatusCode, String) {
        // Alipay reads the body only: anything but `success` means "retry later".
        (StatusCode::OK, if accepted { "success" } else { "failure" }.to_string())
    }

    async fn query(&self, order: &OrderRef) -> Result<QueryOutcome, ProviderError> {
        let raw = self.call(&TradeQuery { out_trade_no: order.order_no.clone() }, None).await?;
        match alipay::parse_trade_query_response(&raw).map_err(from_gateway)? {
            ApiOutcome::Success(r) => Ok(match r.trade_status {
                TradeStatus::TradeSuccess | TradeStatus::TradeFinished => QueryOutcome::Paid {
                    provider_trade_no: r.trade_no,
                    amount_fen: to_i64(r.total_amount_fen)?,
                    at: r.send_pay_date.unwrap_or_else(OffsetDateTime::now_utc),
                },
                TradeStatus::WaitBuyerPay => QueryOutcome::NotPaid,
                TradeStatus::TradeClosed => QueryOutcome::Closed,
            }),
            ApiOutcome::Failure(s) if s.sub_code.as_deref() == Some("ACQ.TRADE_NOT_EXIST") => Ok(QueryOutcome::NotFound),
            ApiOutcome::Failure(s) => Err(refused(s)),
        }
    }

    async fn close(&self, order: &OrderRef) -> Result<(), ProviderError> {
        let raw = self.call(&TradeClose { out_trade_no: order.order_no.clone() }, None).await?;
        match alipay::parse_trade_close_response(&raw).map_err(from_gateway)? {
            ApiOutcome::Success(_) => Ok(()),
            // Never reached Alipay (the payer never opened the cashier): nothing to close.
            ApiOutcome::Failure(s) if s.sub_code.as_deref() == Some("ACQ.TRADE_NOT_EXIST") => Ok(()),
            ApiOutcome::Failure(s) => Err(refused(s)),
        }
    }

    async fn refund(&self, order: &OrderRef, refund: &RefundOrder) -> Result<RefundOutcome, ProviderError> {
        let req = TradeRefund {
            out_trade_no: order.order_no.clone(),
            refund_amount_fen: fen(refund.amount_fen)?,
            out_request_no: refund.refund_no.clone(),
            refund_reason: Some(refund.reason.clone()).filter(|r| !r.is_empty()),
        };
        let raw = self.call(&req, None).await?;
        match alipay::parse_trade_refund_response(&raw).map_err(from_gateway)? {
            // Alipay answers refunds synchronously; `fund_change=N` is an idempotent repeat of a done refund.
            ApiOutcome::Success(r) => Ok(RefundOutcome::Succeeded { provider_refund_no: Some(r.trade_no) }),
            ApiOutcome::Failure(s) => Ok(RefundOutcome::Failed { code: s.sub_code.unwrap_or(s.code) }),
        }
    }

    async fn statement(&self, day: time::Date) -> Result<Statement, ProviderError> {
        let query = BillDownloadUrlQuery { bill_type: "trade".into(), bill_date: crate::appointments::day_key(day) };
        let raw = self.call(&query, None).await?;
        let url = match alipay::parse_bill_downloadurl_response(&raw).map_err(from_gateway)? {
            ApiOutcome::Success(r) => r.bill_download_url,
            // No bill: nothing happened on that day.
            ApiOutcome::Failure(s) if s.sub_code.as_deref() == Some("isp.bill_not_exist") => return Ok(Statement::default()),
            ApiOutcome::Failure(s) => return Err(refused(s)),
        };
        // The URL is itself the credential (short-lived, unsigned download), as at Alipay.
        let archive = super::download(&self.http, &url).await?;
        shenfen_gateways::statements::alipay::parse_bill_zip(&archive).map_err(|e| ProviderError::Malformed(format!("bill: {e}")))
    }
}
