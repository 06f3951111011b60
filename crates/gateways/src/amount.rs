//! Money: integer fen (分, 1/100 yuan) inside, provider formats at the edge, exact integer arithmetic only.
//!
//! Alipay speaks yuan strings with two decimals (`"20.00"`), WeChat Pay integer fen in JSON, UnionPay a fen
//! digit string (`txnAmt=2000`). Parsing rejects signs, exponents, whitespace, more than two decimals and
//! overflow: a provider amount we cannot read exactly must stop processing, not be rounded.

use crate::error::{GatewayError, Result};

/// `2000` → `"20.00"` (Alipay `total_amount`, `refund_amount`).
pub fn fen_to_yuan_string(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// `"20.00"`, `"20.0"`, `"20"` → `2000`. Rejects `"-1.00"`, `"1.001"`, `"1e3"`, `" 1"`, `"1."`, `".5"`, `""`.
pub fn parse_yuan_string(s: &str) -> Result<u64> {
    let bad = || GatewayError::InvalidAmount(s.to_owned());
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let mut fen: u64 = 0;
    for b in int_part.bytes() {
        fen = fen
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(bad)?;
    }
    fen = fen.checked_mul(100).ok_or_else(bad)?;
    if let Some(frac) = frac_part {
        if frac.is_empty() || frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let digits: Vec<u64> = frac.bytes().map(|b| u64::from(b - b'0')).collect();
        let cents = digits[0] * 10 + digits.get(1).copied().unwrap_or(0);
        fen = fen.checked_add(cents).ok_or_else(bad)?;
    }
    Ok(fen)
}

/// UnionPay `txnAmt` / `settleAmt`: 1 to 12 decimal digits of fen.
pub fn parse_fen_string(s: &str) -> Result<u64> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GatewayError::InvalidAmount(s.to_owned()));
    }
    s.parse::<u64>()
        .map_err(|_| GatewayError::InvalidAmount(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn yuan_strings() {
        assert_eq!(fen_to_yuan_string(2000), "20.00");
        assert_eq!(fen_to_yuan_string(10), "0.10");
        assert_eq!(fen_to_yuan_string(1), "0.01");
        assert_eq!(fen_to_yuan_string(0), "0.00");
        assert_eq!(parse_yuan_string("0.10").unwrap(), 10);
        assert_eq!(parse_yuan_string("20").unwrap(), 2000);
        assert_eq!(parse_yuan_string("20.5").unwrap(), 2050);
        for bad in [
            "",
            "-1.00",
            "+1.00",
            "1.001",
            "1e3",
            " 1",
            "1 ",
            "1.",
            ".5",
            "1,00",
            "0x10",
            "１.00",
            "184467440737095516.16",
        ] {
            assert_eq!(
                parse_yuan_string(bad).unwrap_err().code(),
                "invalid_amount",
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_yuan_string("184467440737095516.15").unwrap(),
            u64::MAX
        );
    }

    #[test]
    fn fen_strings() {
        assert_eq!(parse_fen_string("2000").unwrap(), 2000);
        for bad in ["", "-1", "1.00", "1234567890123", " 1"] {
            assert!(parse_fen_string(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn yuan_round_trip(fen in any::<u64>()) {
            prop_assert_eq!(parse_yuan_string(&fen_to_yuan_string(fen)).unwrap(), fen);
        }
    }
}
