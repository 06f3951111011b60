//! Mainland China mobile numbers: 11 digits `1[3-9]xxxxxxxxx`.
//!
//! Accepted decorations: surrounding whitespace, inner spaces and dashes (ASCII or full-width),
//! dots and parentheses around the prefix, full-width digits, and a country code `+86`, `86`,
//! `0086` or `(+86)`. Any other country code is rejected with [`PhoneError::NotMainland`].

use std::fmt;
use std::str::FromStr;

/// A validated mainland mobile number, stored as 11 ASCII digits.
///
/// `Display`/`Debug` print the masked form (`138****5678`); use [`as_str`](Self::as_str) for the
/// full number.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MobileNumber(String);

/// Why a mobile number was rejected. Each reason has a stable machine [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("mobile number is empty")]
    Empty,
    /// Characters other than digits and accepted separators.
    #[error("mobile number contains invalid characters")]
    Characters,
    /// A country code other than +86.
    #[error("only mainland China mobile numbers (+86) are supported")]
    NotMainland,
    /// Not 11 digits (after removing the country code).
    #[error("mobile number must have 11 digits, found {found}")]
    Length { found: usize },
    /// 11 digits, but not starting with 13–19.
    #[error("not a mainland mobile number prefix")]
    Prefix,
}

impl PhoneError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "phone_empty",
            Self::Characters => "phone_characters",
            Self::NotMainland => "phone_not_mainland",
            Self::Length { .. } => "phone_length",
            Self::Prefix => "phone_prefix",
        }
    }

    pub fn message_zh(&self) -> String {
        match self {
            Self::Empty => "请输入手机号码。".into(),
            Self::Characters => "手机号码只能包含数字。".into(),
            Self::NotMainland => "仅支持中国大陆手机号码（+86）。".into(),
            Self::Length { found } => format!("手机号码应为11位数字，您输入了{found}位。"),
            Self::Prefix => "手机号码格式不正确，应以13至19开头。".into(),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            Self::Empty => "Please enter a mobile number.".into(),
            Self::Characters => "The mobile number may contain digits only.".into(),
            Self::NotMainland => "Only mainland China mobile numbers (+86) are supported.".into(),
            Self::Length { found } => {
                format!("The mobile number must have 11 digits; you entered {found}.")
            }
            Self::Prefix => "This is not a valid mainland mobile number (it must start with 13–19).".into(),
        }
    }
}

impl MobileNumber {
    pub fn parse(s: &str) -> Result<Self, PhoneError> {
        let mut digits = String::with_capacity(16);
        let mut plus = false;
        for c in s.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                '０'..='９' => digits.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
                ' ' | '\u{3000}' | '\u{a0}' | '\t' | '-' | '－' | '—' | '.' | '(' | ')' | '（' | '）' => {}
                '+' | '＋' if digits.is_empty() && !plus => plus = true,
                _ => return Err(PhoneError::Characters),
            }
        }
        if digits.is_empty() {
            return Err(if plus { PhoneError::Characters } else { PhoneError::Empty });
        }
        let national = if plus {
            digits.strip_prefix("86").ok_or(PhoneError::NotMainland)?
        } else if let Some(rest) = digits.strip_prefix("0086") {
            rest
        } else if digits.len() == 13 && digits.starts_with("86") {
            &digits[2..]
        } else if digits.starts_with("00") {
            return Err(PhoneError::NotMainland);
        } else {
            &digits
        };
        if national.len() != 11 {
            return Err(PhoneError::Length { found: national.len() });
        }
        let b = national.as_bytes();
        if b[0] != b'1' || !(b'3'..=b'9').contains(&b[1]) {
            return Err(PhoneError::Prefix);
        }
        Ok(MobileNumber(national.to_owned()))
    }

    /// The 11 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// "138****5678".
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }

    /// E.164 form, "+8613812345678".
    pub fn e164(&self) -> String {
        format!("+86{}", self.0)
    }
}

impl fmt::Display for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MobileNumber({})", self.masked())
    }
}

impl FromStr for MobileNumber {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        for s in [
            "13812345678",
            " 138 1234 5678 ",
            "138-1234-5678",
            "+86 138 1234 5678",
            "+8613812345678",
            "8613812345678",
            "008613812345678",
            "(+86) 138-1234-5678",
            "１３８１２３４５６７８",
            "+86-138-1234-5678",
        ] {
            let m = MobileNumber::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(m.as_str(), "13812345678", "{s}");
            assert_eq!(m.masked(), "138****5678");
            assert_eq!(m.to_string(), "138****5678");
            assert_eq!(format!("{m:?}"), "MobileNumber(138****5678)");
        }
        for p in 3..=9 {
            assert!(MobileNumber::parse(&format!("1{p}012345678")).is_ok());
        }
        assert_eq!(MobileNumber::parse("19912345678").unwrap().e164(), "+8619912345678");
    }

    #[test]
    fn distinct_errors() {
        use PhoneError::*;
        let e = |s: &str| MobileNumber::parse(s).unwrap_err();
        assert_eq!(e(""), Empty);
        assert_eq!(e("  - "), Empty);
        assert_eq!(e("1381234567a"), Characters);
        assert_eq!(e("138 1234 5678 ext"), Characters);
        assert_eq!(e("+"), Characters);
        assert_eq!(e("+85291234567"), NotMainland);
        assert_eq!(e("+1 415 555 0100"), NotMainland);
        assert_eq!(e("0085291234567"), NotMainland);
        assert_eq!(e("1381234567"), Length { found: 10 });
        assert_eq!(e("138123456789"), Length { found: 12 });
        assert_eq!(e("+86 1381234567"), Length { found: 10 });
        assert_eq!(e("12812345678"), Prefix);
        assert_eq!(e("23812345678"), Prefix);
        assert_eq!(e("05512345678"), Prefix);
        let all = [Empty, Characters, NotMainland, Length { found: 1 }, Prefix];
        let codes: std::collections::HashSet<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
        for e in all {
            assert!(!e.message_zh().is_empty() && !e.message_en().is_empty());
        }
    }
}
