//! The interface every payment provider adapter implements (Alipay, WeChat Pay, UnionPay), so the payment service
//! (`payments/mod.rs`) never knows a provider's wire protocol. Adapters speak the real protocols through
//! `shenfen_gateways`; in demo mode and in tests they talk to the sandboxes in `payments/sandbox/`.

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use shenfen_domain::payments::{PaymentChannel, Provider};
use time::OffsetDateTime;

/// What the payment service hands an adapter to open a provider order.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// Our merchant order number (out_trade_no / orderId).
    pub order_no: String,
    pub amount_fen: i64,
    /// Shown on the cashier page, e.g. "居民身份证换领工本费".
    pub description: String,
    pub channel: PaymentChannel,
    /// Where the payer's browser returns after the cashier (never trusted: the page queries the order).
    pub return_url: String,
    /// Where the provider posts its notification.
    pub notify_url: String,
    /// The payer's IP (WeChat H5 requires it).
    pub client_ip: String,
    /// The provider order closes itself at this time (we close it too when the order expires).
    pub expires_at: OffsetDateTime,
    /// When this provider order is opened (stored on the order as `opened_at`; UnionPay's `txnTime`).
    pub opened_at: OffsetDateTime,
}

/// The order an adapter asks about, closes or refunds: our number and what the provider needs besides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRef {
    pub order_no: String,
    pub amount_fen: i64,
    /// The provider's trade number once paid (a UnionPay refund names the payment by its `queryId`).
    pub provider_trade_no: Option<String>,
    /// When the current provider order was opened (UnionPay finds orders by `orderId` + `txnTime`).
    pub opened_at: Option<OffsetDateTime>,
}

impl OrderRef {
    pub fn of(o: &shenfen_store::PaymentOrder) -> Self {
        OrderRef {
            order_no: o.order_no.clone(),
            amount_fen: o.amount_fen,
            provider_trade_no: o.provider_trade_no.clone(),
            opened_at: o.opened_at.and_then(|ms| OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).ok()),
        }
    }

    /// An order known only by number and amount (tests, tools).
    pub fn new(order_no: &str, amount_fen: i64) -> Self {
        OrderRef { order_no: order_no.to_string(), amount_fen, provider_trade_no: None, opened_at: None }
    }
}

/// A refund to carry out at the provider. The refund number makes retries idempotent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundOrder {
    pub refund_no: String,
    pub amount_fen: i64,
    pub reason: String,
    /// When we decided the refund (UnionPay's `txnTime` of the refund: the same on every retry).
    pub requested_at: OffsetDateTime,
}

/// Where the payer goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// Mobile web: send the browser to this cashier URL (for UnionPay, an auto-submitting form's target is
    /// rendered by the page from `form_action` + `form_fields`).
    Redirect(String),
    /// Counter: show this payload as a QR code for the applicant to scan.
    Qr(String),
    /// UnionPay front consume: a form the browser posts to the gateway (the pay page renders it).
    Form { action: String, fields: Vec<(String, String)> },
}

/// A notification whose signature (and, for WeChat, encryption) checked out. Amount and merchant ids are checked
/// against the order by the payment service, not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNotice {
    /// The provider's own id for this notification (Alipay `notify_id`, WeChat notification `id`, UnionPay
    /// `queryId` + `txnTime`), for exactly-once application.
    pub event_id: String,
    pub order_no: String,
    pub provider_trade_no: Option<String>,
    pub amount_fen: i64,
    /// The merchant the provider says the payment is for (Alipay app_id / seller, WeChat mchid, UnionPay merId).
    pub merchant_id: String,
    pub outcome: NoticeOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeOutcome {
    Paid { at: OffsetDateTime },
    /// The payer closed or the provider failed the trade.
    Failed { code: String },
    /// A refund finished (WeChat and UnionPay notify refunds; Alipay answers them synchronously).
    Refund { refund_no: String, succeeded: bool },
    /// Nothing to do (e.g. Alipay's WAIT_BUYER_PAY).
    Pending,
}

/// The provider's answer to "what happened to this order?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryOutcome {
    Paid { provider_trade_no: String, amount_fen: i64, at: OffsetDateTime },
    /// Created but not paid yet.
    NotPaid,
    /// Closed or failed without payment.
    Closed,
    /// The provider does not know the order (never reached it).
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Succeeded { provider_refund_no: Option<String> },
    /// Accepted; the result comes by notification or query.
    Pending { provider_refund_no: Option<String> },
    Failed { code: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Signature, certificate, timestamp or decryption failure: a forged or tampered message.
    #[error("verification failed: {0}")]
    Verification(String),
    /// The message is not in the provider's format.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The provider refused the request with its own code.
    #[error("provider refused: {code} {message}")]
    Refused { code: String, message: String },
    /// Network failure, timeout, 5xx: try again later.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

impl ProviderError {
    pub fn code(&self) -> &'static str {
        match self {
            ProviderError::Verification(_) => "notify_signature",
            ProviderError::Malformed(_) => "notify_malformed",
            ProviderError::Refused { .. } => "provider_refused",
            ProviderError::Unavailable(_) => "provider_unavailable",
        }
    }
}

#[async_trait]
pub trait PaymentProvider: Send + Sync {
    fn provider(&self) -> Provider;
    /// Our merchant id at this provider (compared with what notifications carry).
    fn merchant_id(&self) -> &str;
    /// Opens the provider order for a mobile-web or counter-QR channel.
    async fn start(&self, req: &StartRequest) -> Result<Started, ProviderError>;
    /// Verifies and reads a notification exactly as received (headers + raw body), at time `now`.
    fn verify_notice(&self, headers: &HeaderMap, body: &[u8], now: OffsetDateTime) -> Result<VerifiedNotice, ProviderError>;
    /// What to answer the provider: `accepted` = processed or already seen (stop retrying).
    fn acknowledge(&self, accepted: bool) -> (StatusCode, String);
    async fn query(&self, order: &OrderRef) -> Result<QueryOutcome, ProviderError>;
    /// Closes an unpaid provider order (on expiry or cancellation).
    async fn close(&self, order: &OrderRef) -> Result<(), ProviderError>;
    async fn refund(&self, order: &OrderRef, refund: &RefundOrder) -> Result<RefundOutcome, ProviderError>;
    /// The provider's statement of one China-time day, fetched and read in the provider's own format.
    async fn statement(&self, day: time::Date) -> Result<shenfen_gateways::statements::Statement, ProviderError>;
}
