//! Card validity period by age at issue – 《中华人民共和国居民身份证法》 art. 5:
//! under 16: 5 years; 16–25: 10 years; 26–45: 20 years; 46 and over: long-term (长期).
//! Age is in completed years on the issue date. The period runs from the issue date
//! (签发日期) and ends on the same month/day N years later.

use serde::{Deserialize, Serialize};
use time::{Date, Month};

/// Validity period of a resident ID card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Validity {
    Years(u8),
    LongTerm,
}

impl Validity {
    /// Stable code: "5y", "10y", "20y", "long_term".
    pub fn code(self) -> String {
        match self {
            Validity::Years(n) => format!("{n}y"),
            Validity::LongTerm => "long_term".into(),
        }
    }
    /// "5年" / "长期" (as printed on cards).
    pub fn name_zh(self) -> String {
        match self {
            Validity::Years(n) => format!("{n}年"),
            Validity::LongTerm => "长期".into(),
        }
    }
    pub fn name_en(self) -> String {
        match self {
            Validity::Years(n) => format!("{n} years"),
            Validity::LongTerm => "long-term".into(),
        }
    }
    /// End date for a card issued on `issue` (`None` = long-term).
    pub fn expiry_from(self, issue: Date) -> Option<Date> {
        match self {
            Validity::Years(n) => Some(add_years(issue, i32::from(n))),
            Validity::LongTerm => None,
        }
    }
}

/// Validity for a given age (completed years) at issue.
pub fn validity_for_age(age: u32) -> Validity {
    match age {
        0..=15 => Validity::Years(5),
        16..=25 => Validity::Years(10),
        26..=45 => Validity::Years(20),
        _ => Validity::LongTerm,
    }
}

/// Completed years of age on `on` (0 if `on` is before `birth`). Someone born on 02-29 turns a
/// year older on 03-01 in common years (the birthday has not yet occurred on 02-28).
pub fn age_on(birth: Date, on: Date) -> u32 {
    if on < birth {
        return 0;
    }
    let mut years = on.year() - birth.year();
    if (on.month() as u8, on.day()) < (birth.month() as u8, birth.day()) {
        years -= 1;
    }
    years.max(0) as u32
}

/// Same month/day `n` years later; 02-29 becomes 02-28 in a common year.
///
/// ASSUMPTION (flagged in the shared rules doc): no official rule was found for a leap-day end
/// date; like the reference script `idcard_ref.py` we use 02-28 (the card stays valid no
/// longer than N whole years).
pub fn add_years(d: Date, n: i32) -> Date {
    let y = d.year() + n;
    Date::from_calendar_date(y, d.month(), d.day())
        .or_else(|_| Date::from_calendar_date(y, Month::February, 28))
        .expect("valid date")
}

/// Expiry date of a card issued on `issue` to someone born on `birth` (`None` = long-term).
pub fn expiry_date(issue: Date, birth: Date) -> Option<Date> {
    validity_for_age(age_on(birth, issue)).expiry_from(issue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn bands() {
        assert_eq!(validity_for_age(0), Validity::Years(5));
        assert_eq!(validity_for_age(15), Validity::Years(5));
        assert_eq!(validity_for_age(16), Validity::Years(10));
        assert_eq!(validity_for_age(25), Validity::Years(10));
        assert_eq!(validity_for_age(26), Validity::Years(20));
        assert_eq!(validity_for_age(45), Validity::Years(20));
        assert_eq!(validity_for_age(46), Validity::LongTerm);
        assert_eq!(validity_for_age(120), Validity::LongTerm);
        assert_eq!(Validity::Years(20).name_zh(), "20年");
        assert_eq!(Validity::LongTerm.name_zh(), "长期");
    }

    #[test]
    fn ages() {
        let b = date!(2008 - 02 - 29);
        assert_eq!(age_on(b, date!(2024 - 02 - 28)), 15);
        assert_eq!(age_on(b, date!(2024 - 02 - 29)), 16);
        assert_eq!(age_on(b, date!(2025 - 02 - 28)), 16);
        assert_eq!(age_on(b, date!(2026 - 02 - 28)), 17);
        assert_eq!(age_on(b, date!(2027 - 02 - 28)), 18);
        assert_eq!(age_on(b, date!(2027 - 03 - 01)), 19);
        assert_eq!(age_on(b, date!(2000 - 01 - 01)), 0);
        assert_eq!(age_on(b, b), 0);
    }

    #[test]
    fn leap_day_issue() {
        assert_eq!(add_years(date!(2024 - 02 - 29), 10), date!(2034 - 02 - 28));
        assert_eq!(add_years(date!(2024 - 02 - 29), 4), date!(2028 - 02 - 29));
    }
}
