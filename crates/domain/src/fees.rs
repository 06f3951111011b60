//! 工本费 (production fee) schedule, in fen (1 yuan = 100 fen).
//!
//! 发改价格〔2003〕2322号 (NDRC + MoF), reaffirmed by 发改价格〔2005〕436号: first application and
//! renewal 20 yuan; lost (补领) or damaged (损坏换领) 40 yuan; temporary card 10 yuan. Postage for
//! mail delivery is paid by the applicant and is not part of the 工本费, so it is a separate,
//! configurable line item.

use serde::{Deserialize, Serialize};

/// A chargeable item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeeItem {
    /// 首次申领
    FirstIssue,
    /// 换领 (expiry or change of registered items)
    Renewal,
    /// 丢失补领
    ReplacementLost,
    /// 损坏换领
    ReplacementDamaged,
    /// 临时居民身份证
    TemporaryCard,
    /// 邮寄费 (mail delivery)
    Postage,
}

impl FeeItem {
    pub const ALL: [FeeItem; 6] = [
        FeeItem::FirstIssue,
        FeeItem::Renewal,
        FeeItem::ReplacementLost,
        FeeItem::ReplacementDamaged,
        FeeItem::TemporaryCard,
        FeeItem::Postage,
    ];

    /// Stable code, e.g. "first_issue" (same as the serde form).
    pub fn code(self) -> &'static str {
        match self {
            FeeItem::FirstIssue => "first_issue",
            FeeItem::Renewal => "renewal",
            FeeItem::ReplacementLost => "replacement_lost",
            FeeItem::ReplacementDamaged => "replacement_damaged",
            FeeItem::TemporaryCard => "temporary_card",
            FeeItem::Postage => "postage",
        }
    }

    pub fn from_code(code: &str) -> Option<FeeItem> {
        Self::ALL.into_iter().find(|i| i.code() == code)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            FeeItem::FirstIssue => "首次申领工本费",
            FeeItem::Renewal => "换领工本费",
            FeeItem::ReplacementLost => "丢失补领工本费",
            FeeItem::ReplacementDamaged => "损坏换领工本费",
            FeeItem::TemporaryCard => "临时居民身份证工本费",
            FeeItem::Postage => "邮寄费",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            FeeItem::FirstIssue => "First issue fee",
            FeeItem::Renewal => "Renewal fee",
            FeeItem::ReplacementLost => "Replacement fee (lost card)",
            FeeItem::ReplacementDamaged => "Replacement fee (damaged card)",
            FeeItem::TemporaryCard => "Temporary ID card fee",
            FeeItem::Postage => "Postage",
        }
    }

    /// 居民身份证法 art. 20: the fee is waived for urban residents on subsistence allowance (低保)
    /// and rural residents in special hardship on first application and renewal only.
    pub fn waivable_for_hardship(self) -> bool {
        matches!(self, FeeItem::FirstIssue | FeeItem::Renewal)
    }
}

/// Fee amounts. The statutory 工本费 are fixed; only postage is configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeSchedule {
    /// Postage for mail delivery, in fen.
    pub postage_fen: i64,
}

impl FeeSchedule {
    /// Default postage: 20.00 yuan. No official Anhui figure was found; 20 yuan is a common
    /// EMS price for intra-province document delivery and is a placeholder to be configured.
    pub const DEFAULT_POSTAGE_FEN: i64 = 2000;

    pub fn amount_fen(&self, item: FeeItem) -> i64 {
        match item {
            FeeItem::FirstIssue | FeeItem::Renewal => 2000,
            FeeItem::ReplacementLost | FeeItem::ReplacementDamaged => 4000,
            FeeItem::TemporaryCard => 1000,
            FeeItem::Postage => self.postage_fen,
        }
    }

    /// Amount after the hardship waiver (0 for waivable items when `hardship`).
    pub fn amount_fen_for(&self, item: FeeItem, hardship: bool) -> i64 {
        if hardship && item.waivable_for_hardship() { 0 } else { self.amount_fen(item) }
    }
}

impl Default for FeeSchedule {
    fn default() -> Self {
        FeeSchedule { postage_fen: Self::DEFAULT_POSTAGE_FEN }
    }
}

/// Formats fen as yuan with two decimals: 2000 → "20.00", 5 → "0.05", -150 → "-1.50".
pub fn format_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule() {
        let s = FeeSchedule::default();
        assert_eq!(s.amount_fen(FeeItem::FirstIssue), 2000);
        assert_eq!(s.amount_fen(FeeItem::Renewal), 2000);
        assert_eq!(s.amount_fen(FeeItem::ReplacementLost), 4000);
        assert_eq!(s.amount_fen(FeeItem::ReplacementDamaged), 4000);
        assert_eq!(s.amount_fen(FeeItem::TemporaryCard), 1000);
        assert_eq!(s.amount_fen(FeeItem::Postage), 2000);
        assert_eq!(FeeSchedule { postage_fen: 1200 }.amount_fen(FeeItem::Postage), 1200);
        assert_eq!(s.amount_fen_for(FeeItem::Renewal, true), 0);
        assert_eq!(s.amount_fen_for(FeeItem::ReplacementLost, true), 4000);
        for i in FeeItem::ALL {
            assert_eq!(FeeItem::from_code(i.code()), Some(i));
            assert_eq!(serde_json::to_string(&i).unwrap(), format!("\"{}\"", i.code()));
        }
    }

    #[test]
    fn yuan() {
        assert_eq!(format_yuan(2000), "20.00");
        assert_eq!(format_yuan(0), "0.00");
        assert_eq!(format_yuan(5), "0.05");
        assert_eq!(format_yuan(12345), "123.45");
        assert_eq!(format_yuan(-150), "-1.50");
        assert_eq!(format_yuan(i64::MIN), "-92233720368547758.08");
    }
}
