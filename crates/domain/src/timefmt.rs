//! Serde helpers for `time` types in the compact textual forms used across the API (the `time`
//! crate's own serde feature is not enabled here on purpose: its default form is a tuple).
//!
//! - [`hm`]: `Time` as `"HH:MM"` (seconds must be zero)
//! - [`date`]: `Date` as `"YYYY-MM-DD"` ([`option_date`]: or `null`)
//! - [`datetime`]: `PrimitiveDateTime` as `"YYYY-MM-DDTHH:MM"` (local China time, minute precision;
//!   `"YYYY-MM-DDTHH:MM:SS"` is accepted on input, seconds are dropped)

use time::{Date, PrimitiveDateTime, Time};

/// `"HH:MM"`, 24-hour clock.
pub fn format_hm(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// Strict `"HH:MM"` (two digits each), 00:00..=23:59.
pub fn parse_hm(s: &str) -> Option<Time> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || !b[..2].iter().chain(&b[3..]).all(u8::is_ascii_digit) {
        return None;
    }
    let h: u8 = s[0..2].parse().ok()?;
    let m: u8 = s[3..5].parse().ok()?;
    Time::from_hms(h, m, 0).ok()
}

pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

pub fn parse_date(s: &str) -> Option<Date> {
    crate::csv::iso_date(s)
}

pub fn format_datetime(dt: PrimitiveDateTime) -> String {
    format!("{}T{}", format_date(dt.date()), format_hm(dt.time()))
}

pub fn parse_datetime(s: &str) -> Option<PrimitiveDateTime> {
    let (d, t) = s.split_once(['T', ' '])?;
    let date = parse_date(d)?;
    let time = match t.len() {
        5 => parse_hm(t)?,
        8 if t.as_bytes()[5] == b':' => {
            let hm = parse_hm(&t[..5])?;
            let _sec: u8 = t[6..8].parse().ok().filter(|s| *s < 60)?;
            hm
        }
        _ => return None,
    };
    Some(PrimitiveDateTime::new(date, time))
}

macro_rules! serde_mod {
    ($name:ident, $ty:ty, $fmt:path, $parse:path, $expect:literal) => {
        pub mod $name {
            use serde::{Deserialize, Deserializer, Serializer, de::Error};
            pub fn serialize<S: Serializer>(v: &$ty, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&$fmt(*v))
            }
            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let s = String::deserialize(d)?;
                $parse(&s).ok_or_else(|| D::Error::custom(concat!("expected ", $expect)))
            }
        }
    };
}

serde_mod!(hm, time::Time, super::format_hm, super::parse_hm, "HH:MM");
serde_mod!(
    date,
    time::Date,
    super::format_date,
    super::parse_date,
    "YYYY-MM-DD"
);
serde_mod!(
    datetime,
    time::PrimitiveDateTime,
    super::format_datetime,
    super::parse_datetime,
    "YYYY-MM-DDTHH:MM"
);

/// `Option<Date>` as `"YYYY-MM-DD"` or `null`.
pub mod option_date {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use time::Date;
    pub fn serialize<S: Serializer>(v: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&super::format_date(*v)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => super::parse_date(&s)
                .map(Some)
                .ok_or_else(|| D::Error::custom("expected YYYY-MM-DD")),
        }
    }
}

/// `Option<PrimitiveDateTime>` as a string or `null`.
pub mod option_datetime {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use time::PrimitiveDateTime;
    pub fn serialize<S: Serializer>(
        v: &Option<PrimitiveDateTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&super::format_datetime(*v)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<PrimitiveDateTime>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => super::parse_datetime(&s)
                .map(Some)
                .ok_or_else(|| D::Error::custom("expected YYYY-MM-DDTHH:MM")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime, time};

    #[test]
    fn round_trips() {
        assert_eq!(format_hm(time!(9:05)), "09:05");
        assert_eq!(parse_hm("13:30"), Some(time!(13:30)));
        for bad in ["9:00", "24:00", "12:60", "12-00", "1200", "ab:cd", "+1:00"] {
            assert_eq!(parse_hm(bad), None, "{bad}");
        }
        assert_eq!(format_date(date!(2025 - 10 - 01)), "2025-10-01");
        assert_eq!(
            format_datetime(datetime!(2025-09-28 13:30)),
            "2025-09-28T13:30"
        );
        assert_eq!(
            parse_datetime("2025-09-28T13:30"),
            Some(datetime!(2025-09-28 13:30))
        );
        assert_eq!(
            parse_datetime("2025-09-28 13:30:59"),
            Some(datetime!(2025-09-28 13:30))
        );
        assert_eq!(parse_datetime("2025-09-28T13:30:60"), None);
        assert_eq!(parse_datetime("2025-02-29T13:30"), None);
    }
}
