//! Official working-day calendar of mainland China (State Council holiday notices).
//!
//! Data: `data/holidays/cn_holidays_2019_2027.csv` (NateScarlet/holiday-cn, MIT), the merged list
//! of listed dates. Rule (from the data's README):
//! `working_day(d) = listed ? !is_off_day : weekday(d) in Mon..=Fri`.
//! Listed make-up working days (调休上班) are Saturdays/Sundays that are working days.
//!
//! Outside the covered notice years ([`WorkCalendar::covered_years`], 2019–2026 in this snapshot;
//! the 2027 notice is not published yet) only the weekend rule applies – callers that care can
//! check [`WorkCalendar::covers`]. Years are keyed by notice: e.g. 2018-12-29..31 come from the
//! 2019 notice and are honoured too.

use std::ops::RangeInclusive;
use std::sync::LazyLock;

use serde::Serialize;
use time::{Date, Duration, Weekday};

use crate::csv;

static HOLIDAYS_CSV: &str = include_str!("../data/holidays/cn_holidays_2019_2027.csv");

#[derive(Debug, Clone, Copy)]
struct Listed {
    date: Date,
    off: bool,
    name: &'static str,
}

/// The official calendar (one instance, built lazily from the embedded data).
#[derive(Debug)]
pub struct WorkCalendar {
    /// Sorted by date, unique.
    days: Vec<Listed>,
    covered: RangeInclusive<i32>,
}

/// What kind of day a date is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum DayKind {
    /// Ordinary Monday–Friday.
    Workday,
    /// Ordinary Saturday/Sunday.
    Weekend,
    /// Statutory holiday or rest day of a holiday block (放假), with the holiday's name.
    Holiday(&'static str),
    /// Make-up working day (调休上班) on a weekend, with the holiday it compensates for.
    MakeUpWorkday(&'static str),
}

impl DayKind {
    pub fn is_working_day(self) -> bool {
        matches!(self, DayKind::Workday | DayKind::MakeUpWorkday(_))
    }
}

static OFFICIAL: LazyLock<WorkCalendar> = LazyLock::new(|| {
    let mut days = Vec::new();
    let mut years: Option<(i32, i32)> = None;
    for f in csv::rows(HOLIDAYS_CSV) {
        // date,weekday,name,is_off_day,notice_year
        let (Some(date), Some(off), Ok(notice)) = (
            f.first().and_then(|d| csv::iso_date(d)),
            f.get(3).and_then(|o| match *o {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            }),
            f.get(4).map_or(Ok(0), |y| y.parse::<i32>()),
        ) else {
            continue;
        };
        days.push(Listed { date, off, name: f[2] });
        years = Some(years.map_or((notice, notice), |(a, b)| (a.min(notice), b.max(notice))));
    }
    days.sort_by_key(|d| d.date);
    days.dedup_by_key(|d| d.date);
    let (lo, hi) = years.unwrap_or((0, -1));
    WorkCalendar { days, covered: lo..=hi }
});

impl WorkCalendar {
    /// The calendar built from the State Council notices embedded in this crate.
    pub fn official() -> &'static WorkCalendar {
        &OFFICIAL
    }

    fn listed(&self, d: Date) -> Option<&Listed> {
        self.days.binary_search_by_key(&d, |l| l.date).ok().map(|i| &self.days[i])
    }

    /// Classifies a date.
    pub fn day_kind(&self, d: Date) -> DayKind {
        match self.listed(d) {
            Some(l) if l.off => DayKind::Holiday(l.name),
            Some(l) => DayKind::MakeUpWorkday(l.name),
            None if matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) => DayKind::Weekend,
            None => DayKind::Workday,
        }
    }

    pub fn is_working_day(&self, d: Date) -> bool {
        self.day_kind(d).is_working_day()
    }

    /// Adds `n` working days, counting from the day after `start` (so `start` itself never
    /// counts, whether or not it is a working day). `n = 0` returns `start` unchanged.
    /// Example (holidays README): 2024-09-25 + 15 → 2024-10-21.
    pub fn add_working_days(&self, start: Date, n: u32) -> Date {
        let mut d = start;
        let mut left = n;
        while left > 0 {
            d = d.next_day().expect("date within range");
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// Number of working days in the half-open interval `(from, to]`, negative if `to < from`.
    /// Consistent with [`add_working_days`](Self::add_working_days):
    /// `working_days_between(s, add_working_days(s, n)) == n`.
    pub fn working_days_between(&self, from: Date, to: Date) -> i64 {
        let (lo, hi, sign) = if from <= to { (from, to, 1) } else { (to, from, -1) };
        let mut count = 0i64;
        let mut d = lo;
        while d < hi {
            d += Duration::days(1);
            if self.is_working_day(d) {
                count += 1;
            }
        }
        sign * count
    }

    /// Years for which a State Council notice is included (2019..=2026 in this snapshot).
    pub fn covered_years(&self) -> RangeInclusive<i32> {
        self.covered.clone()
    }

    /// Whether the date's year is covered by a notice (otherwise only weekends are known).
    pub fn covers(&self, d: Date) -> bool {
        self.covered.contains(&d.year())
    }

    /// Name of the holiday if `d` is a listed day off ("国庆节"); `None` for ordinary days and
    /// for make-up working days (see [`day_kind`](Self::day_kind)).
    pub fn holiday_name(&self, d: Date) -> Option<&'static str> {
        match self.day_kind(d) {
            DayKind::Holiday(n) => Some(n),
            _ => None,
        }
    }

    /// Number of working days in calendar year `year`.
    pub fn working_days_in_year(&self, year: i32) -> u32 {
        let Ok(mut d) = Date::from_ordinal_date(year, 1) else { return 0 };
        let mut n = 0;
        while d.year() == year {
            if self.is_working_day(d) {
                n += 1;
            }
            d += Duration::days(1);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn data_loaded() {
        let c = WorkCalendar::official();
        assert_eq!(c.days.len(), 286);
        assert_eq!(c.covered_years(), 2019..=2026);
        assert!(c.covers(date!(2026 - 12 - 31)));
        assert!(!c.covers(date!(2027 - 01 - 01)));
    }

    #[test]
    fn readme_checks() {
        let c = WorkCalendar::official();
        for d in [date!(2024 - 02 - 04), date!(2024 - 02 - 18), date!(2024 - 09 - 29), date!(2024 - 10 - 12), date!(2025 - 01 - 26), date!(2025 - 02 - 08)] {
            assert!(c.is_working_day(d), "{d}");
            assert!(matches!(c.day_kind(d), DayKind::MakeUpWorkday(_)), "{d}");
        }
        for day in 1..=7 {
            let d = Date::from_calendar_date(2024, time::Month::October, day).unwrap();
            assert!(!c.is_working_day(d));
            assert_eq!(c.holiday_name(d), Some("国庆节"));
        }
        assert_eq!(c.holiday_name(date!(2024 - 10 - 12)), None);
        assert_eq!(c.day_kind(date!(2024 - 10 - 12)), DayKind::MakeUpWorkday("国庆节"));
        assert_eq!(c.day_kind(date!(2024 - 10 - 13)), DayKind::Weekend);
        assert_eq!(c.day_kind(date!(2024 - 10 - 14)), DayKind::Workday);
        // 2020-02-03 special case (Monday listed as working)
        assert!(c.is_working_day(date!(2020 - 02 - 03)));
        // December dates from next year's notice
        assert!(!c.is_working_day(date!(2018 - 12 - 31)));
        assert!(c.is_working_day(date!(2018 - 12 - 29)));
        // 2027: weekend rule only
        assert!(c.is_working_day(date!(2027 - 01 - 04)));
        assert!(!c.is_working_day(date!(2027 - 01 - 02)));
    }

    #[test]
    fn zero_and_negative() {
        let c = WorkCalendar::official();
        let s = date!(2024 - 10 - 01);
        assert_eq!(c.add_working_days(s, 0), s);
        assert_eq!(c.add_working_days(s, 1), date!(2024 - 10 - 08));
        assert_eq!(c.working_days_between(s, s), 0);
        assert_eq!(c.working_days_between(date!(2024 - 10 - 08), s), -1);
    }
}
