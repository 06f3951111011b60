//! Payment orders for the card fee (工本费) and postage: channels, the order state machine, failure codes and
//! refund arithmetic. Pure rules; the store enforces them with conditional statements and the server drives them.
//!
//! # States (modelled on GOV.UK Pay)
//!
//! ```text
//! created ──start──▶ started ──submit──▶ submitted ──succeed──▶ success
//!    │                 │                    ├──fail──▶ failed
//!    │                 │                    └──error─▶ error
//!    ├──cancel / expire (from created, started, submitted) ──▶ cancelled / expired
//!    └──succeed (cash, or a provider that reports success directly) ──▶ success
//! ```
//!
//! * `created`: the order exists, no channel chosen yet.
//! * `started`: a channel is chosen and the provider order is being created (cashier page / QR not shown yet).
//! * `submitted`: the person is at the provider's cashier or has the QR; only the provider knows the outcome.
//! * `success`, `failed`, `cancelled`, `expired`, `error`: final. A success may still be refunded (in part or
//!   in full), which is tracked on the refund, not as an order state.
//!
//! A provider's *success* for an order we already cancelled or expired is a real payment all the same: the
//! transition is refused ([`PaymentError::AlreadyFinal`]) and the server records a refund for the money
//! instead (see [`late_success_needs_refund`]). Money is never lost to a race.

use serde::{Deserialize, Serialize};

/// Where the money comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentChannel {
    /// 支付宝 mobile web (`alipay.trade.wap.pay`).
    Alipay,
    /// 微信支付 H5.
    Wechat,
    /// 云闪付 / UnionPay gateway 5.1.0.
    Unionpay,
    /// Counter: the applicant scans an Alipay QR (`alipay.trade.precreate`).
    AlipayQr,
    /// Counter: the applicant scans a WeChat Pay Native QR.
    WechatQr,
    /// Counter: cash, recorded by counter staff.
    Cash,
}

impl PaymentChannel {
    pub const ALL: [PaymentChannel; 6] =
        [PaymentChannel::Alipay, PaymentChannel::Wechat, PaymentChannel::Unionpay, PaymentChannel::AlipayQr, PaymentChannel::WechatQr, PaymentChannel::Cash];

    pub fn code(self) -> &'static str {
        match self {
            PaymentChannel::Alipay => "alipay",
            PaymentChannel::Wechat => "wechat",
            PaymentChannel::Unionpay => "unionpay",
            PaymentChannel::AlipayQr => "alipay_qr",
            PaymentChannel::WechatQr => "wechat_qr",
            PaymentChannel::Cash => "cash",
        }
    }

    pub fn from_code(s: &str) -> Option<PaymentChannel> {
        Self::ALL.into_iter().find(|c| c.code() == s)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            PaymentChannel::Alipay => "支付宝",
            PaymentChannel::Wechat => "微信支付",
            PaymentChannel::Unionpay => "云闪付",
            PaymentChannel::AlipayQr => "支付宝扫码（窗口）",
            PaymentChannel::WechatQr => "微信扫码（窗口）",
            PaymentChannel::Cash => "现金（窗口）",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            PaymentChannel::Alipay => "Alipay",
            PaymentChannel::Wechat => "WeChat Pay",
            PaymentChannel::Unionpay => "UnionPay QuickPass",
            PaymentChannel::AlipayQr => "Alipay QR (counter)",
            PaymentChannel::WechatQr => "WeChat Pay QR (counter)",
            PaymentChannel::Cash => "Cash (counter)",
        }
    }

    /// "Smart" (非现金) collection: everything but cash — the share the statistics report.
    pub fn is_smart(self) -> bool {
        self != PaymentChannel::Cash
    }

    /// Channels a citizen may choose online; the rest are started by counter staff.
    pub fn is_online(self) -> bool {
        matches!(self, PaymentChannel::Alipay | PaymentChannel::Wechat | PaymentChannel::Unionpay)
    }

    /// The provider behind the channel (`None` for cash).
    pub fn provider(self) -> Option<Provider> {
        match self {
            PaymentChannel::Alipay | PaymentChannel::AlipayQr => Some(Provider::Alipay),
            PaymentChannel::Wechat | PaymentChannel::WechatQr => Some(Provider::Wechat),
            PaymentChannel::Unionpay => Some(Provider::Unionpay),
            PaymentChannel::Cash => None,
        }
    }
}

/// A payment provider (one protocol, one notification endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Alipay,
    Wechat,
    Unionpay,
}

impl Provider {
    pub fn code(self) -> &'static str {
        match self {
            Provider::Alipay => "alipay",
            Provider::Wechat => "wechat",
            Provider::Unionpay => "unionpay",
        }
    }

    pub fn from_code(s: &str) -> Option<Provider> {
        [Provider::Alipay, Provider::Wechat, Provider::Unionpay].into_iter().find(|p| p.code() == s)
    }
}

/// Order states, see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Created,
    Started,
    Submitted,
    Success,
    Failed,
    Cancelled,
    Expired,
    Error,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 8] = [
        PaymentStatus::Created,
        PaymentStatus::Started,
        PaymentStatus::Submitted,
        PaymentStatus::Success,
        PaymentStatus::Failed,
        PaymentStatus::Cancelled,
        PaymentStatus::Expired,
        PaymentStatus::Error,
    ];

    pub fn code(self) -> &'static str {
        match self {
            PaymentStatus::Created => "created",
            PaymentStatus::Started => "started",
            PaymentStatus::Submitted => "submitted",
            PaymentStatus::Success => "success",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Cancelled => "cancelled",
            PaymentStatus::Expired => "expired",
            PaymentStatus::Error => "error",
        }
    }

    pub fn from_code(s: &str) -> Option<PaymentStatus> {
        Self::ALL.into_iter().find(|c| c.code() == s)
    }

    pub fn is_final(self) -> bool {
        !matches!(self, PaymentStatus::Created | PaymentStatus::Started | PaymentStatus::Submitted)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            PaymentStatus::Created => "待支付",
            PaymentStatus::Started => "正在发起支付",
            PaymentStatus::Submitted => "支付处理中",
            PaymentStatus::Success => "支付成功",
            PaymentStatus::Failed => "支付失败",
            PaymentStatus::Cancelled => "已取消",
            PaymentStatus::Expired => "已过期",
            PaymentStatus::Error => "支付异常",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            PaymentStatus::Created => "Awaiting payment",
            PaymentStatus::Started => "Starting payment",
            PaymentStatus::Submitted => "Payment in progress",
            PaymentStatus::Success => "Paid",
            PaymentStatus::Failed => "Payment failed",
            PaymentStatus::Cancelled => "Cancelled",
            PaymentStatus::Expired => "Expired",
            PaymentStatus::Error => "Payment error",
        }
    }
}

/// What happens to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentEvent {
    /// A channel was chosen; the provider order is being created.
    Start,
    /// The provider order exists (cashier page or QR shown).
    Submit,
    /// The provider (or the counter, for cash) confirms the money.
    Succeed,
    /// The provider reports a definite failure (declined, closed by the payer).
    Fail,
    /// The provider answered something we cannot interpret; needs reconciliation.
    Error,
    /// The payer or the application cancelled.
    Cancel,
    /// The deadline passed unpaid.
    Expire,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("the order is already final ({0:?})")]
    AlreadyFinal(PaymentStatus),
    #[error("{event:?} is not possible from {from:?}")]
    NotAllowed { from: PaymentStatus, event: PaymentEvent },
}

impl PaymentError {
    pub fn code(&self) -> &'static str {
        match self {
            PaymentError::AlreadyFinal(_) => "payment_final",
            PaymentError::NotAllowed { .. } => "payment_transition",
        }
    }
}

/// The one place the order state machine lives.
pub fn next_status(from: PaymentStatus, event: PaymentEvent) -> Result<PaymentStatus, PaymentError> {
    use PaymentEvent as E;
    use PaymentStatus as S;
    if from.is_final() {
        // A repeated success on a successful order is the same fact again, not an error: notifications repeat.
        return if from == S::Success && event == E::Succeed { Ok(S::Success) } else { Err(PaymentError::AlreadyFinal(from)) };
    }
    let to = match (from, event) {
        (S::Created, E::Start) => S::Started,
        // Re-starting (choosing another channel) is allowed until the provider has the order.
        (S::Started, E::Start) => S::Started,
        (S::Started, E::Submit) => S::Submitted,
        (S::Submitted, E::Submit) => S::Submitted,
        // Cash succeeds from created/started; providers may report success before we saw "submitted".
        (S::Created | S::Started | S::Submitted, E::Succeed) => S::Success,
        (S::Started | S::Submitted, E::Fail) => S::Failed,
        (S::Started | S::Submitted, E::Error) => S::Error,
        (_, E::Cancel) => S::Cancelled,
        (_, E::Expire) => S::Expired,
        (from, event) => return Err(PaymentError::NotAllowed { from, event }),
    };
    Ok(to)
}

/// A provider confirmed money for an order that is already cancelled or expired: it must go back.
pub fn late_success_needs_refund(current: PaymentStatus) -> bool {
    matches!(current, PaymentStatus::Cancelled | PaymentStatus::Expired | PaymentStatus::Failed | PaymentStatus::Error)
}

/// Why a refund is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error("only a paid order can be refunded")]
    NotPaid,
    #[error("the amount must be a positive number of fen")]
    NotPositive,
    #[error("the refund would exceed what was paid ({refundable} fen left)")]
    ExceedsPaid { refundable: i64 },
}

impl RefundError {
    pub fn code(&self) -> &'static str {
        match self {
            RefundError::NotPaid => "refund_not_paid",
            RefundError::NotPositive => "amount_invalid",
            RefundError::ExceedsPaid { .. } => "refund_exceeds_paid",
        }
    }
}

/// Checks a refund of `amount_fen` against an order of `paid_fen` of which `refunded_fen` went back already.
pub fn check_refund(status: PaymentStatus, paid_fen: i64, refunded_fen: i64, amount_fen: i64) -> Result<(), RefundError> {
    if status != PaymentStatus::Success {
        return Err(RefundError::NotPaid);
    }
    if amount_fen <= 0 {
        return Err(RefundError::NotPositive);
    }
    let refundable = (paid_fen - refunded_fen).max(0);
    if amount_fen > refundable {
        return Err(RefundError::ExceedsPaid { refundable });
    }
    Ok(())
}

/// Cash at the counter: the change to give back, or `None` when too little was handed over.
pub fn change_due(amount_fen: i64, received_fen: i64) -> Option<i64> {
    (amount_fen > 0 && received_fen >= amount_fen).then(|| received_fen - amount_fen)
}

/// Share of smart (non-cash) collection in per-mille, from (smart, total) successful payments; `None` with none.
pub fn smart_share_permille(smart: u64, total: u64) -> Option<u32> {
    crate::stats::permille(smart, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use PaymentEvent as E;
    use PaymentStatus as S;

    const EVENTS: [PaymentEvent; 7] = [E::Start, E::Submit, E::Succeed, E::Fail, E::Error, E::Cancel, E::Expire];

    #[test]
    fn the_whole_transition_table() {
        // (from, event) → expected; anything not listed is refused.
        let allowed: &[(S, E, S)] = &[
            (S::Created, E::Start, S::Started),
            (S::Created, E::Succeed, S::Success),
            (S::Created, E::Cancel, S::Cancelled),
            (S::Created, E::Expire, S::Expired),
            (S::Started, E::Start, S::Started),
            (S::Started, E::Submit, S::Submitted),
            (S::Started, E::Succeed, S::Success),
            (S::Started, E::Fail, S::Failed),
            (S::Started, E::Error, S::Error),
            (S::Started, E::Cancel, S::Cancelled),
            (S::Started, E::Expire, S::Expired),
            (S::Submitted, E::Submit, S::Submitted),
            (S::Submitted, E::Succeed, S::Success),
            (S::Submitted, E::Fail, S::Failed),
            (S::Submitted, E::Error, S::Error),
            (S::Submitted, E::Cancel, S::Cancelled),
            (S::Submitted, E::Expire, S::Expired),
            (S::Success, E::Succeed, S::Success),
        ];
        for from in PaymentStatus::ALL {
            for event in EVENTS {
                let expected = allowed.iter().find(|(f, e, _)| *f == from && *e == event).map(|t| t.2);
                assert_eq!(next_status(from, event).ok(), expected, "{from:?} + {event:?}");
            }
        }
    }

    #[test]
    fn final_states_stay_final() {
        for from in PaymentStatus::ALL.into_iter().filter(|s| s.is_final()) {
            for event in EVENTS {
                if let Ok(to) = next_status(from, event) {
                    assert_eq!(to, from, "{from:?} + {event:?} left a final state");
                }
            }
        }
    }

    #[test]
    fn refunds_never_exceed_what_was_paid() {
        assert_eq!(check_refund(S::Success, 2000, 0, 2000), Ok(()));
        assert_eq!(check_refund(S::Success, 2000, 500, 1500), Ok(()));
        assert_eq!(check_refund(S::Success, 2000, 500, 1501), Err(RefundError::ExceedsPaid { refundable: 1500 }));
        assert_eq!(check_refund(S::Success, 2000, 2000, 1), Err(RefundError::ExceedsPaid { refundable: 0 }));
        assert_eq!(check_refund(S::Success, 2000, 0, 0), Err(RefundError::NotPositive));
        assert_eq!(check_refund(S::Success, 2000, 0, -5), Err(RefundError::NotPositive));
        assert_eq!(check_refund(S::Submitted, 2000, 0, 2000), Err(RefundError::NotPaid));
        assert_eq!(check_refund(S::Cancelled, 2000, 0, 2000), Err(RefundError::NotPaid));
    }

    #[test]
    fn cash_change_and_smart_share() {
        assert_eq!(change_due(2000, 5000), Some(3000));
        assert_eq!(change_due(2000, 2000), Some(0));
        assert_eq!(change_due(2000, 1999), None);
        assert_eq!(change_due(0, 100), None);
        assert_eq!(smart_share_permille(986, 1000), Some(986));
        assert_eq!(smart_share_permille(2, 3), Some(667));
        assert_eq!(smart_share_permille(0, 0), None);
    }

    #[test]
    fn codes_round_trip() {
        for c in PaymentChannel::ALL {
            assert_eq!(PaymentChannel::from_code(c.code()), Some(c));
        }
        for s in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::from_code(s.code()), Some(s));
        }
        assert!(PaymentChannel::Alipay.is_online() && !PaymentChannel::AlipayQr.is_online() && !PaymentChannel::Cash.is_smart());
        assert_eq!(PaymentChannel::WechatQr.provider(), Some(Provider::Wechat));
        assert!(late_success_needs_refund(S::Expired) && !late_success_needs_refund(S::Success));
    }
}
