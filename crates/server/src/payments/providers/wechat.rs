//! WeChat Pay API v3 adapter: H5 orders (`/v3/pay/transactions/h5`, mobile web, a redirect to `h5_url`) and
//! Native orders (`/v3/pay/transactions/native`, counter QR from `code_url`), query by out_trade_no, close and
//! refund (`/v3/refund/domestic/refunds`), all signed `WECHATPAY2-SHA256-RSA2048` with the merchant key. Every
//! response — errors included — is verified with the platform key named by `Wechatpay-Serial` (certificate serial
//! or `PUB_KEY_ID_…`) within the 300 s window before it is believed. Callbacks are verified the same way at `now`
//! and their `resource` is decrypted (AEAD_AES_256_GCM, APIv3 key).

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use shenfen_domain::payments::{PaymentChannel, Provider};
use shenfen_gateways::wechatpay::{
    self, H5Order, MerchantSigner, NativeOrder, PlatformKeys, RefundRequest, RefundStatus, TradeState, WechatpayHeaders,
};
use shenfen_gateways::statements::Statement;
use shenfen_gateways::{RsaPrivateKey, RsaPublicKey};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{demo_keys, from_gateway, pem, send_with_headers};
use crate::config::WechatPayConfig;
use crate::payments::provider::{
    NoticeOutcome, OrderRef, PaymentProvider, ProviderError, QueryOutcome, RefundOrder, RefundOutcome, StartRequest, Started, VerifiedNotice,
};

pub struct WechatProvider {
    signer: MerchantSigner,
    appid: String,
    platform_keys: PlatformKeys,
    apiv3_key: Vec<u8>,
    http: reqwest::Client,
}

impl WechatProvider {
    /// `api_base`: `https://api.mch.weixin.qq.com` (or a sandbox's base, no trailing slash).
    pub fn new(
        api_base: &str,
        mchid: &str,
        appid: &str,
        serial_no: &str,
        private_key: RsaPrivateKey,
        platform_keys: PlatformKeys,
        apiv3_key: &[u8],
    ) -> Self {
        WechatProvider {
            signer: MerchantSigner {
                mchid: mchid.to_string(),
                serial_no: serial_no.to_string(),
                private_key,
                api_base: api_base.trim_end_matches('/').to_string(),
            },
            appid: appid.to_string(),
            platform_keys,
            apiv3_key: apiv3_key.to_vec(),
            http: super::http_client(),
        }
    }

    pub fn from_config(c: &WechatPayConfig, demo: bool, public_url: &str) -> anyhow::Result<Self> {
        let base = match c.api_base.as_deref().filter(|u| !u.is_empty()) {
            Some(u) => u.to_string(),
            None if demo => format!("{public_url}/sandbox/wechat"),
            None => wechatpay::API_BASE.to_string(),
        };
        let key = pem(&c.private_key_pem, &c.private_key_path, demo_keys::MERCHANT_KEY, demo, "payments.wechat private key")?;
        let key = RsaPrivateKey::from_pem(&key).map_err(|e| anyhow::anyhow!("payments.wechat private key: {}", e.code()))?;
        let mut keys = PlatformKeys::new();
        if c.platform_public_key_pem.is_some() || c.platform_public_key_path.is_some() {
            let public = pem(&c.platform_public_key_pem, &c.platform_public_key_path, "", false, "payments.wechat platform public key")?;
            let public = RsaPublicKey::from_spki_pem(&public).map_err(|e| anyhow::anyhow!("payments.wechat platform public key: {}", e.code()))?;
            let id = c.platform_public_key_id.clone().filter(|i| !i.is_empty());
            let id = id.ok_or_else(|| anyhow::anyhow!("payments.wechat.platform_public_key_id is required with a platform public key"))?;
            keys.insert(id, public);
        } else {
            let cert = pem(&c.platform_cert_pem, &c.platform_cert_path, demo_keys::PLATFORM_CERT, demo, "payments.wechat platform certificate")?;
            keys.add_certificate_pem(&cert).map_err(|e| anyhow::anyhow!("payments.wechat platform certificate: {}", e.code()))?;
        }
        let apiv3 = match c.apiv3_key.as_deref().filter(|k| !k.is_empty()) {
            Some(k) => k.to_string(),
            None if demo => demo_keys::WECHAT_APIV3_KEY.to_string(),
            None => anyhow::bail!("payments.wechat.apiv3_key is required outside demo mode"),
        };
        if apiv3.len() != 32 {
            anyhow::bail!("payments.wechat.apiv3_key must be exactly 32 bytes");
        }
        Ok(Self::new(&base, &c.mchid, &c.appid, &c.serial_no, key, keys, apiv3.as_bytes()))
    }

    /// WeChat's H5 cashier lives on its own domains (wx.tenpay.com), reached by redirect; in demo mode the
    /// sandbox's origin.
    pub(crate) fn api_origin(&self) -> Option<String> {
        if self.signer.api_base == wechatpay::API_BASE { Some("https://*.tenpay.com".into()) } else { super::origin_of(&self.signer.api_base) }
    }

    /// Sends a signed request; verifies the response signature (any status) and returns status and body.
    async fn call(&self, req: &shenfen_gateways::http::HttpRequest) -> Result<(u16, Vec<u8>), ProviderError> {
        let (status, headers, body) = send_with_headers(&self.http, req).await?;
        let pairs = headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)));
        let signed = WechatpayHeaders::from_headers(pairs).map_err(|_| ProviderError::Verification("response not signed".into()))?;
        wechatpay::verify_response(&self.platform_keys, &signed, &body, OffsetDateTime::now_utc().unix_timestamp()).map_err(from_gateway)?;
        Ok((status, body))
    }

    fn timestamp_nonce() -> (i64, String) {
        (OffsetDateTime::now_utc().unix_timestamp(), nonce())
    }
}

/// A fresh 32-character request nonce.
fn nonce() -> String {
    use rand::Rng as _;
    rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(32).map(char::from).collect()
}

/// A non-2xx answer: WeChat's `{"code","message"}`.
fn refused(body: &[u8]) -> ProviderError {
    match wechatpay::parse_error_body(body) {
        Ok(e) => ProviderError::Refused { code: e.code, message: e.message },
        Err(_) => ProviderError::Malformed("error answer without code".into()),
    }
}

fn error_code(body: &[u8]) -> Option<String> {
    wechatpay::parse_error_body(body).ok().map(|e| e.code)
}

fn fen(v: i64) -> Result<u64, ProviderError> {
    u64::try_from(v).ok().filter(|v| *v > 0).ok_or_else(|| ProviderError::Malformed(format!("amount {v} fen")))
}

fn to_i64(v: u64) -> Result<i64, ProviderError> {
    i64::try_from(v).map_err(|_| ProviderError::Malformed("amount out of range".into()))
}

/// WeChat's `time_expire`: RFC 3339 in Beijing time, whole seconds.
fn time_expire(at: OffsetDateTime) -> Result<String, ProviderError> {
    let beijing = time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC);
    at.to_offset(beijing)
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or_else(|| ProviderError::Malformed("time_expire".into()))
}

fn is_2xx(status: u16) -> bool {
    (200..300).contains(&status)
}

#[async_trait]
impl PaymentProvider for WechatProvider {
    fn provider(&self) -> Provider {
        Provider::Wechat
    }

    fn merchant_id(&self) -> &str {
        &self.signer.mchid
    }

    async fn start(&self, req: &StartRequest) -> Result<Started, ProviderError> {
        let amount = fen(req.amount_fen)?;
        let (ts, nonce) = Self::timestamp_nonce();
        match req.channel {
            PaymentChannel::Wechat => {
                let order = H5Order {
                    appid: self.appid.clone(),
                    description: req.description.clone(),
                    out_trade_no: req.order_no.clone(),
                    time_expire: Some(time_expire(req.expires_at)?),
                    attach: None,
                    notify_url: req.notify_url.clone(),
                    total_fen: amount,
                    payer_client_ip: req.client_ip.clone(),
                };
                let http_req = self.signer.h5_order(&order, ts, &nonce).map_err(from_gateway)?;
                let (status, body) = self.call(&http_req).await?;
                if !is_2xx(status) {
                    return Err(refused(&body));
                }
                Ok(Started::Redirect(wechatpay::parse_h5_response(&body).map_err(from_gateway)?))
            }
            PaymentChannel::WechatQr => {
                let order = NativeOrder {
                    appid: self.appid.clone(),
                    description: req.description.clone(),
                    out_trade_no: req.order_no.clone(),
                    time_expire: Some(time_expire(req.expires_at)?),
                    attach: None,
                    notify_url: req.notify_url.clone(),
                    total_fen: amount,
                };
                let http_req = self.signer.native_order(&order, ts, &nonce).map_err(from_gateway)?;
                let (status, body) = self.call(&http_req).await?;
                if !is_2xx(status) {
                    return Err(refused(&body));
                }
                Ok(Started::Qr(wechatpay::parse_native_response(&body).map_err(from_gateway)?))
            }
            other => Err(ProviderError::Malformed(format!("channel {} is not a WeChat Pay channel", other.code()))),
        }
    }

    fn verify_notice(&self, headers: &HeaderMap, body: &[u8], now: OffsetDateTime) -> Result<VerifiedNotice, ProviderError> {
        let pairs = headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)));
        let signed = WechatpayHeaders::from_headers(pairs).map_err(|_| ProviderError::Verification("missing Wechatpay-* headers".into()))?;
        let cb = wechatpay::verify_callback(&self.platform_keys, &signed, body, now.unix_timestamp(), &self.apiv3_key).map_err(from_gateway)?;
        let event_id = cb.envelope.id.clone();
        if cb.envelope.event_type.starts_with("REFUND.") {
            let r = cb.refund().map_err(from_gateway)?;
            return Ok(VerifiedNotice {
                event_id,
                order_no: r.out_trade_no,
                provider_trade_no: Some(r.transaction_id),
                amount_fen: to_i64(r.amount.refund)?,
                merchant_id: r.mchid,
                outcome: NoticeOutcome::Refund { refund_no: r.out_refund_no, succeeded: r.refund_status == RefundStatus::Success },
            });
        }
        let t = cb.transaction().map_err(from_gateway)?;
        let outcome = match t.trade_state {
            TradeState::Success => NoticeOutcome::Paid { at: t.success_at().map_err(from_gateway)?.unwrap_or(now) },
            TradeState::Closed | TradeState::Payerror | TradeState::Revoked => {
                NoticeOutcome::Failed { code: format!("{:?}", t.trade_state).to_uppercase() }
            }
            TradeState::Notpay | TradeState::Userpaying | TradeState::Refund => NoticeOutcome::Pending,
        };
        Ok(VerifiedNotice {
            event_id,
            order_no: t.out_trade_no.clone(),
            provider_trade_no: t.transaction_id.clone(),
            amount_fen: to_i64(t.total_fen().map_err(from_gateway)?)?,
            merchant_id: t.mchid,
            outcome,
        })
    }

    fn acknowledge(&self, accepted: bool) -> (StatusCode, String) {
        // WeChat reads the status: 200/204 = received; anything else (with a FAIL body) = retry later.
        if accepted {
            (StatusCode::NO_CONTENT, String::new())
        } else {
            (StatusCode::INTERNAL_SERVER_ERROR, serde_json::json!({"code": "FAIL", "message": "失败"}).to_string())
        }
    }

    async fn query(&self, order: &OrderRef) -> Result<QueryOutcome, ProviderError> {
        let (ts, nonce) = Self::timestamp_nonce();
        let http_req = self.signer.query_by_out_trade_no(&order.order_no, ts, &nonce).map_err(from_gateway)?;
        let (status, body) = self.call(&http_req).await?;
        if !is_2xx(status) {
            return match error_code(&body).as_deref() {
                Some("ORDER_NOT_EXIST") => Ok(QueryOutcome::NotFound),
                _ => Err(refused(&body)),
            };
        }
        let t = wechatpay::parse_transaction(&body).map_err(from_gateway)?;
        Ok(match t.trade_state {
            // REFUND: paid, then (partly) refunded.
            TradeState::Success | TradeState::Refund => QueryOutcome::Paid {
                provider_trade_no: t.transaction_id.clone().unwrap_or_default(),
                amount_fen: to_i64(t.total_fen().map_err(from_gateway)?)?,
                at: t.success_at().map_err(from_gateway)?.unwrap_or_else(OffsetDateTime::now_utc),
            },
            TradeState::Notpay | TradeState::Userpaying => QueryOutcome::NotPaid,
            TradeState::Closed | TradeState::Revoked | TradeState::Payerror => QueryOutcome::Closed,
        })
    }

    async fn close(&self, order: &OrderRef) -> Result<(), ProviderError> {
        let (ts, nonce) = Self::timestamp_nonce();
        let http_req = self.signer.close(&order.order_no, ts, &nonce).map_err(from_gateway)?;
        let (status, body) = self.call(&http_req).await?;
        if is_2xx(status) {
            return Ok(());
        }
        match error_code(&body).as_deref() {
            // Never reached WeChat (the payer never opened the cashier): nothing to close.
            Some("ORDER_NOT_EXIST") => Ok(()),
            _ => Err(refused(&body)),
        }
    }

    async fn refund(&self, order: &OrderRef, refund: &RefundOrder) -> Result<RefundOutcome, ProviderError> {
        let req = RefundRequest {
            out_trade_no: order.order_no.clone(),
            out_refund_no: refund.refund_no.clone(),
            reason: Some(refund.reason.clone()).filter(|r| !r.is_empty()),
            notify_url: None,
            refund_fen: fen(refund.amount_fen)?,
            total_fen: fen(order.amount_fen)?,
        };
        let (ts, nonce) = Self::timestamp_nonce();
        let http_req = self.signer.refund(&req, ts, &nonce).map_err(from_gateway)?;
        let (status, body) = self.call(&http_req).await?;
        if !is_2xx(status) {
            // A business refusal (e.g. more than refundable): the refund failed; auth/format errors are errors.
            return match refused(&body) {
                ProviderError::Refused { code, .. } if status == 400 || status == 403 || status == 404 => Ok(RefundOutcome::Failed { code }),
                e => Err(e),
            };
        }
        let r = wechatpay::parse_refund_response(&body).map_err(from_gateway)?;
        let provider_refund_no = Some(r.refund_id);
        Ok(match r.status {
            RefundStatus::Success => RefundOutcome::Succeeded { provider_refund_no },
            // The result comes as a REFUND.* callback (or a refund query).
            RefundStatus::Processing => RefundOutcome::Pending { provider_refund_no },
            RefundStatus::Closed | RefundStatus::Abnormal => RefundOutcome::Failed { code: format!("{:?}", r.status).to_uppercase() },
        })
    }

    async fn statement(&self, day: time::Date) -> Result<Statement, ProviderError> {
        let (ts, nonce) = Self::timestamp_nonce();
        let http_req = self.signer.trade_bill(&crate::appointments::day_key(day), ts, &nonce).map_err(from_gateway)?;
        let (status, body) = self.call(&http_req).await?;
        if !is_2xx(status) {
            return match error_code(&body).as_deref() {
                // No transaction that day: no bill.
                Some("NO_STATEMENT_EXIST") => Ok(Statement::default()),
                _ => Err(refused(&body)),
            };
        }
        let bill = wechatpay::parse_bill_response(&body).map_err(from_gateway)?;
        // The file itself is not signed: it must hash to the value in the signed answer above.
        let (ts, nonce) = Self::timestamp_nonce();
        let download = self.signer.download(&bill.download_url, ts, &nonce).map_err(from_gateway)?;
        let (status, content) = super::send(&self.http, &download).await?;
        if !is_2xx(status) {
            return Err(refused(&content));
        }
        wechatpay::verify_bill_hash(&bill, &content).map_err(from_gateway)?;
        let text = String::from_utf8(content).map_err(|_| ProviderError::Malformed("bill is not UTF-8".into()))?;
        shenfen_gateways::statements::wechatpay::parse_trade_bill(&text).map_err(|e| ProviderError::Malformed(format!("bill: {e}")))
    }
}
