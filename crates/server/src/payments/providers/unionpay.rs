//! UnionPay QuickPass (云闪付) adapter, online gateway 5.1.0 with `signMethod=01`:
//! * paying is a front consume (`txnType=01`, `channelType=08` mobile): signed parameters the payer's browser
//!   posts to `frontTransReq.do` (the pay page renders the form), so nothing is sent from here at start;
//! * the outcome arrives as a back notification to `backUrl`, verified against the signing certificate it
//!   carries, which must chain to the configured UnionPay root and intermediate and name UnionPay;
//! * `queryTrans.do` finds an order by `orderId` + the `txnTime` it was sent with (kept on the order as
//!   `opened_at`); `backTransReq.do` refunds (`txnType=04`) the payment's `queryId`, answering "accepted" with
//!   the result by notification (or, on a retry, by query); `fileTransReq` fetches the daily file.
//!
//! Every back-end answer is verified like a notification before it is believed.

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use shenfen_domain::payments::{PaymentChannel, Provider};
use shenfen_gateways::statements::Statement;
use shenfen_gateways::unionpay::{self, FileTransfer, FrontConsume, MerchantSigner, TransQuery, UnionPayTrust};
use shenfen_gateways::{Certificate, RsaPrivateKey};
use time::OffsetDateTime;

use super::{demo_keys, from_gateway, pem, send};
use crate::config::UnionpayPayConfig;
use crate::payments::provider::{
    NoticeOutcome, OrderRef, PaymentProvider, ProviderError, QueryOutcome, RefundOrder, RefundOutcome, StartRequest, Started, VerifiedNotice,
};

/// Production hosts.
const GATEWAY_BASE: &str = "https://gateway.95516.com";
const FILE_BASE: &str = "https://filedownload.95516.com";

pub struct UnionpayProvider {
    signer: MerchantSigner,
    trust: UnionPayTrust,
    front_url: String,
    back_url: String,
    query_url: String,
    file_url: String,
    /// Our notification URL (`…/callbacks/payments/unionpay`): refunds report there too.
    notify_url: String,
    http: reqwest::Client,
}

/// `YYYYMMDDhhmmss`, Beijing time: `txnTime`, `payTimeout`.
pub fn txn_time(at: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year][month][day][hour][minute][second]");
    at.to_offset(time::macros::offset!(+8)).format(&fmt).unwrap_or_default()
}

fn fen(v: i64) -> Result<u64, ProviderError> {
    u64::try_from(v).ok().filter(|v| *v > 0).ok_or_else(|| ProviderError::Malformed(format!("amount {v} fen")))
}

fn to_i64(v: u64) -> Result<i64, ProviderError> {
    i64::try_from(v).map_err(|_| ProviderError::Malformed("amount out of range".into()))
}

fn refused(code: &str, msg: &str) -> ProviderError {
    ProviderError::Refused { code: code.to_string(), message: msg.to_string() }
}

/// `origRespCode` of a queried transaction: paid, still being processed, or failed.
fn is_processing(code: &str) -> bool {
    matches!(code, "03" | "04" | "05")
}

impl UnionpayProvider {
    /// `gateway_base`: `https://gateway.95516.com` (or a sandbox's base, e.g. `http://…/sandbox/unionpay`);
    /// `file_base` likewise for the file transfer host; `public_url`: ours, for `backUrl`.
    pub fn new(gateway_base: &str, file_base: &str, mer_id: &str, key: RsaPrivateKey, cert: Certificate, trust: UnionPayTrust, public_url: &str) -> Self {
        let g = gateway_base.trim_end_matches('/');
        UnionpayProvider {
            signer: MerchantSigner { mer_id: mer_id.to_string(), private_key: key, cert },
            trust,
            front_url: format!("{g}/gateway/api/frontTransReq.do"),
            back_url: format!("{g}/gateway/api/backTransReq.do"),
            query_url: format!("{g}/gateway/api/queryTrans.do"),
            file_url: format!("{}/", file_base.trim_end_matches('/')),
            notify_url: format!("{}/callbacks/payments/unionpay", public_url.trim_end_matches('/')),
            http: super::http_client(),
        }
    }

    pub fn from_config(c: &UnionpayPayConfig, demo: bool, public_url: &str) -> anyhow::Result<Self> {
        let sandbox = format!("{public_url}/sandbox/unionpay");
        let gateway = match c.gateway_base.as_deref().filter(|u| !u.is_empty()) {
            Some(u) => u.to_string(),
            None if demo => sandbox.clone(),
            None => GATEWAY_BASE.to_string(),
        };
        let file = match c.file_base.as_deref().filter(|u| !u.is_empty()) {
            Some(u) => u.to_string(),
            None if demo => sandbox,
            None => FILE_BASE.to_string(),
        };
        let key = pem(&c.sign_key_pem, &c.sign_key_path, demo_keys::UNIONPAY_MERCHANT_KEY, demo, "payments.unionpay signing key")?;
        let cert = pem(&c.sign_cert_pem, &c.sign_cert_path, demo_keys::UNIONPAY_MERCHANT_CERT, demo, "payments.unionpay signing certificate")?;
        let root = pem(&c.root_cert_pem, &c.root_cert_path, demo_keys::UNIONPAY_ROOT, demo, "payments.unionpay root certificate")?;
        let middle = pem(&c.middle_cert_pem, &c.middle_cert_path, demo_keys::UNIONPAY_MIDDLE, demo, "payments.unionpay intermediate certificate")?;
        let key = RsaPrivateKey::from_pem(&key).map_err(|e| anyhow::anyhow!("payments.unionpay signing key: {}", e.code()))?;
        let cert = Certificate::from_pem(&cert).map_err(|e| anyhow::anyhow!("payments.unionpay signing certificate: {}", e.code()))?;
        let trust = UnionPayTrust::from_pems(&root, &middle).map_err(|e| anyhow::anyhow!("payments.unionpay trust chain: {}", e.code()))?;
        Ok(Self::new(&gateway, &file, &c.mer_id, key, cert, trust, public_url))
    }

    /// The gateway's hosts (front transaction and its cashier) for the pay page's `form-action`.
    pub(crate) fn front_origin(&self) -> Option<String> {
        let origin = super::origin_of(&self.front_url)?;
        Some(if origin.ends_with(".95516.com") { "https://*.95516.com".into() } else { origin })
    }

    /// Posts a signed back-end request; returns the verified answer.
    async fn call(&self, req: &shenfen_gateways::http::HttpRequest) -> Result<unionpay::BackResponse, ProviderError> {
        let (status, body) = send(&self.http, req).await?;
        let body = String::from_utf8(body).map_err(|_| ProviderError::Malformed("answer is not UTF-8".into()))?;
        if status != 200 {
            return Err(ProviderError::Unavailable(format!("HTTP {status}")));
        }
        // A refusal of a request UnionPay could not verify comes unsigned; it states no money fact, so its code is
        // reported as a refusal. Anything else must verify before it is believed.
        if let Ok(p) = unionpay::parse_response_body(&body) {
            let code = p.get("respCode").map(String::as_str).unwrap_or("");
            if !p.contains_key("signature") && !code.is_empty() && code != "00" {
                return Err(refused(code, p.get("respMsg").map(String::as_str).unwrap_or("")));
            }
        }
        unionpay::verify_back_response(&body, &self.trust, OffsetDateTime::now_utc().unix_timestamp()).map_err(from_gateway)
    }

    async fn query_txn(&self, order_id: &str, at: OffsetDateTime) -> Result<unionpay::BackResponse, ProviderError> {
        let req = self.signer.query(&TransQuery { order_id: order_id.to_string(), txn_time: txn_time(at) }, &self.query_url).map_err(from_gateway)?;
        self.call(&req).await
    }
}

#[async_trait]
impl PaymentProvider for UnionpayProvider {
    fn provider(&self) -> Provider {
        Provider::Unionpay
    }

    fn merchant_id(&self) -> &str {
        &self.signer.mer_id
    }

    async fn start(&self, req: &StartRequest) -> Result<Started, ProviderError> {
        if req.channel != PaymentChannel::Unionpay {
            return Err(ProviderError::Malformed(format!("channel {} is not a UnionPay channel", req.channel.code())));
        }
        let consume = FrontConsume {
            order_id: req.order_no.clone(),
            txn_time: txn_time(req.opened_at),
            txn_amt_fen: fen(req.amount_fen)?,
            // UnionPay returns the browser with a signed form POST: a callback path (no CSRF form there) that just
            // sends it on to the order page, which shows our own record.
            front_url: format!("{}/return/{}", req.notify_url.trim_end_matches('/'), req.order_no),
            back_url: req.notify_url.clone(),
            channel_type: "08".into(),
            pay_timeout: Some(txn_time(req.expires_at)),
            risk_rate_info: None,
        };
        let params = self.signer.front_consume(&consume).map_err(from_gateway)?;
        Ok(Started::Form { action: self.front_url.clone(), fields: params.into_iter().collect() })
    }

    fn verify_notice(&self, _headers: &HeaderMap, body: &[u8], now: OffsetDateTime) -> Result<VerifiedNotice, ProviderError> {
        let body = std::str::from_utf8(body).map_err(|_| ProviderError::Malformed("body is not UTF-8".into()))?;
        let params = unionpay::parse_notify_body(body).map_err(from_gateway)?;
        let n = unionpay::verify_notify(&params, &self.trust, now.unix_timestamp()).map_err(from_gateway)?;
        let event_id = format!("{}:{}", n.query_id, n.txn_time);
        let amount_fen = to_i64(n.txn_amt_fen)?;
        let success = n.is_success();
        match n.txn_type.as_str() {
            "01" => Ok(VerifiedNotice {
                event_id,
                order_no: n.order_id,
                provider_trade_no: Some(n.query_id.clone()),
                amount_fen,
                merchant_id: n.mer_id,
                outcome: if success { NoticeOutcome::Paid { at: now } } else { NoticeOutcome::Failed { code: n.resp_code.clone() } },
            }),
            "04" => {
                // A refund names its own orderId; the refunded order's number comes back in reqReserved.
                let order_no = params.get("reqReserved").filter(|r| !r.is_empty()).cloned().ok_or_else(|| ProviderError::Malformed("refund notice without reqReserved".into()))?;
                Ok(VerifiedNotice {
                    event_id,
                    order_no,
                    provider_trade_no: Some(n.query_id.clone()),
                    amount_fen,
                    merchant_id: n.mer_id,
                    outcome: NoticeOutcome::Refund { refund_no: n.order_id, succeeded: success },
                })
            }
            other => Err(ProviderError::Malformed(format!("txnType {other} is not handled"))),
        }
    }

    fn acknowledge(&self, accepted: bool) -> (StatusCode, String) {
        // UnionPay reads the status: 200 = received; anything else is retried later.
        if accepted { (StatusCode::OK, "ok".into()) } else { (StatusCode::INTERNAL_SERVER_ERROR, "fail".into()) }
    }

    async fn query(&self, order: &OrderRef) -> Result<QueryOutcome, ProviderError> {
        // Never sent to UnionPay: nothing to find.
        let Some(at) = order.opened_at else { return Ok(QueryOutcome::NotFound) };
        let r = self.query_txn(&order.order_no, at).await?;
        match r.resp_code.as_str() {
            "00" => {
                let orig = r.get("origRespCode").unwrap_or("");
                Ok(match orig {
                    "00" | "A6" => QueryOutcome::Paid {
                        provider_trade_no: r.get("queryId").unwrap_or_default().to_string(),
                        amount_fen: to_i64(shenfen_gateways::amount::parse_fen_string(r.get("txnAmt").unwrap_or("")).map_err(from_gateway)?)?,
                        at: OffsetDateTime::now_utc(),
                    },
                    c if is_processing(c) => QueryOutcome::NotPaid,
                    _ => QueryOutcome::Closed,
                })
            }
            // 34: no such transaction (the payer never submitted the cashier).
            "34" => Ok(QueryOutcome::NotFound),
            code => Err(refused(code, &r.resp_msg)),
        }
    }

    async fn close(&self, _order: &OrderRef) -> Result<(), ProviderError> {
        // A front consume cannot be closed: it lapses at its payTimeout, which is the order's deadline.
        Ok(())
    }

    async fn refund(&self, order: &OrderRef, refund: &RefundOrder) -> Result<RefundOutcome, ProviderError> {
        let Some(orig_qry_id) = order.provider_trade_no.clone() else {
            return Ok(RefundOutcome::Failed { code: "no_query_id".into() });
        };
        let req = unionpay::Refund {
            order_id: refund.refund_no.clone(),
            // The same txnTime on every retry: UnionPay recognises the repeat (respCode 12) and we query it.
            txn_time: txn_time(refund.requested_at),
            orig_qry_id,
            txn_amt_fen: fen(refund.amount_fen)?,
            back_url: self.notify_url.clone(),
            req_reserved: Some(order.order_no.clone()),
        };
        let http_req = self.signer.refund(&req, &self.back_url).map_err(from_gateway)?;
        let r = self.call(&http_req).await?;
        match r.resp_code.as_str() {
            // Accepted: the result comes by notification.
            "00" | "A6" => Ok(RefundOutcome::Pending { provider_refund_no: r.get("queryId").map(str::to_string) }),
            "12" => {
                let q = self.query_txn(&refund.refund_no, refund.requested_at).await?;
                let orig = q.get("origRespCode").unwrap_or("");
                Ok(match (q.resp_code.as_str(), orig) {
                    ("00", "00" | "A6") => RefundOutcome::Succeeded { provider_refund_no: q.get("queryId").map(str::to_string) },
                    ("00", c) if is_processing(c) => RefundOutcome::Pending { provider_refund_no: q.get("queryId").map(str::to_string) },
                    ("00", c) => RefundOutcome::Failed { code: c.to_string() },
                    (code, _) => return Err(refused(code, &q.resp_msg)),
                })
            }
            code => Ok(RefundOutcome::Failed { code: code.to_string() }),
        }
    }

    async fn statement(&self, day: time::Date) -> Result<Statement, ProviderError> {
        let req = FileTransfer { settle_date: format!("{:02}{:02}", u8::from(day.month()), day.day()), txn_time: txn_time(OffsetDateTime::now_utc()) };
        let http_req = self.signer.file_transfer(&req, &self.file_url).map_err(from_gateway)?;
        let r = self.call(&http_req).await?;
        match r.resp_code.as_str() {
            "00" => {
                let zip = unionpay::decode_file_content(r.get("fileContent").unwrap_or("")).map_err(from_gateway)?;
                shenfen_gateways::statements::unionpay::parse_file_zip(&zip, &self.signer.mer_id).map_err(|e| ProviderError::Malformed(format!("file: {e}")))
            }
            // 98: no file for that day (no transaction).
            "98" => Ok(Statement::default()),
            code => Err(refused(code, &r.resp_msg)),
        }
    }
}
