//! Property tests.

use proptest::prelude::*;
use shenfen_domain::calendar::WorkCalendar;
use shenfen_domain::geo::{self, LatLng};
use shenfen_domain::idnumber::{IdNumber, IdNumberError, check_char};
use shenfen_domain::mask::mask_name;
use shenfen_domain::phone::MobileNumber;
use shenfen_domain::validity;
use time::{Date, Duration};

/// Address codes known to be valid (current and historical) across several provinces.
const CODES: &[&str] = &[
    "110105", "110103", "120101", "310104", "320102", "340102", "340104", "340111", "340181",
    "340203", "340221", "341003", "370502", "440524", "513101", "650102",
];

fn birth() -> impl Strategy<Value = Date> {
    // 1900-01-01 ..= 2025-12-31
    (0i64..45_654).prop_map(|d| Date::from_calendar_date(1900, time::Month::January, 1).unwrap() + Duration::days(d))
}

fn first17() -> impl Strategy<Value = String> {
    (prop::sample::select(CODES), birth(), 0u32..1000).prop_map(|(c, b, seq)| {
        format!("{c}{:04}{:02}{:02}{seq:03}", b.year(), b.month() as u8, b.day())
    })
}

fn calendar_date() -> impl Strategy<Value = Date> {
    // 2018-12-01 ..= 2026-12-31 (covered by notices) plus some slack beyond
    (0i64..3300).prop_map(|d| Date::from_calendar_date(2018, time::Month::December, 1).unwrap() + Duration::days(d))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn check_digit_round_trip(f in first17()) {
        let c = check_char(&f);
        let s = format!("{f}{c}");
        let id = IdNumber::parse(&s).unwrap();
        prop_assert_eq!(id.as_str(), s.as_str());
        prop_assert_eq!(id.birth_date().year(), f[6..10].parse::<i32>().unwrap());
        prop_assert_eq!(IdNumber::parse(&s.to_lowercase()).unwrap(), id.clone());
        // any other check char is rejected with the check-digit error
        for other in "0123456789X".chars().filter(|&o| o != c) {
            let bad = format!("{f}{other}");
            prop_assert_eq!(IdNumber::parse(&bad), Err(IdNumberError::CheckDigit { expected: c, found: other }));
        }
    }

    /// MOD 11-2 detects every single-digit substitution: changing any one of the first 17 digits
    /// changes the check character.
    #[test]
    fn single_digit_change_breaks_check(f in first17(), pos in 0usize..17, delta in 1u8..10) {
        let c = check_char(&f);
        let mut b = f.clone().into_bytes();
        b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
        let changed = String::from_utf8(b).unwrap();
        prop_assert_ne!(check_char(&changed), c);
        // and parsing the altered number fails (check digit, or earlier date/region reasons)
        let altered = IdNumber::parse(&format!("{changed}{c}"));
        prop_assert!(altered.is_err());
    }

    #[test]
    fn masking_never_leaks_middle(f in first17()) {
        let id = IdNumber::parse(&format!("{f}{}", check_char(&f))).unwrap();
        let m = id.masked();
        prop_assert_eq!(m.len(), 18);
        prop_assert_eq!(&m[6..14], "********");
        prop_assert_eq!(&m[..6], &id.as_str()[..6]);
        prop_assert_eq!(&m[14..], &id.as_str()[14..]);
        prop_assert_eq!(id.to_string(), m.clone());
        let debug = format!("{id:?}");
        prop_assert!(!debug.contains(&id.as_str()[6..14]));
    }

    #[test]
    fn name_masking_keeps_only_surname(name in "[\\u{4e00}-\\u{9fa5}]{2,6}") {
        let m = mask_name(&name);
        prop_assert_eq!(m.chars().count(), name.chars().count());
        prop_assert_eq!(m.chars().next(), name.chars().next());
        let visible = m.chars().filter(|&c| c != '*').count();
        prop_assert!((1..=2).contains(&visible));
        prop_assert!(m.ends_with('*'));
    }

    #[test]
    fn phone_masking(rest in "[3-9][0-9]{9}") {
        let raw = format!("1{rest}");
        let m = MobileNumber::parse(&format!("+86 {} {} {}", &raw[..3], &raw[3..7], &raw[7..])).unwrap();
        prop_assert_eq!(m.as_str(), raw.as_str());
        let masked = m.masked();
        prop_assert_eq!(&masked[3..7], "****");
        prop_assert_eq!(format!("{m}"), masked.clone());
        let debug = format!("{m:?}");
        prop_assert!(!debug.contains(&raw[3..7]) || raw[3..7] == raw[7..]);
    }

    #[test]
    fn add_working_days_monotonic_and_lands_on_working_day(start in calendar_date(), n in 0u32..80) {
        let c = WorkCalendar::official();
        let a = c.add_working_days(start, n);
        let b = c.add_working_days(start, n + 1);
        prop_assert!(a >= start);
        prop_assert!(b > a);
        prop_assert!(c.is_working_day(b));
        if n > 0 {
            prop_assert!(c.is_working_day(a));
        }
        prop_assert_eq!(c.working_days_between(start, a), i64::from(n));
        prop_assert_eq!(c.working_days_between(a, start), -i64::from(n));
        // no working day strictly between a and b
        let mut d = a.next_day().unwrap();
        while d < b {
            prop_assert!(!c.is_working_day(d));
            d = d.next_day().unwrap();
        }
    }

    #[test]
    fn later_start_never_finishes_earlier(s1 in calendar_date(), gap in 0i64..40, n in 0u32..40) {
        let c = WorkCalendar::official();
        let s2 = s1 + Duration::days(gap);
        prop_assert!(c.add_working_days(s2, n) >= c.add_working_days(s1, n));
    }

    #[test]
    fn coordinate_round_trips(lat in 18.0f64..53.0, lng in 74.0f64..134.0) {
        let wgs = LatLng { lat, lng };
        let gcj = geo::wgs84_to_gcj02(wgs);
        // offset exists and is at most a few hundred metres
        prop_assert!(geo::distance_m(wgs, gcj) < 1500.0);
        prop_assert!(geo::distance_m(geo::gcj02_to_wgs84(gcj), wgs) < 0.01);
        prop_assert!(geo::distance_m(geo::gcj02_to_wgs84_approx(gcj), wgs) < 10.0);
        let bd = geo::gcj02_to_bd09(gcj);
        prop_assert!(geo::distance_m(geo::bd09_to_gcj02(bd), gcj) < 1.0);
        prop_assert!(geo::distance_m(geo::bd09_to_wgs84(geo::wgs84_to_bd09(wgs)), wgs) < 1.0);
    }

    #[test]
    fn anhui_inverse_within_published_bounds(lat in 29.3f64..34.8, lng in 114.8f64..119.8) {
        let wgs = LatLng { lat, lng };
        let gcj = geo::wgs84_to_gcj02(wgs);
        let off = geo::distance_m(wgs, gcj);
        prop_assert!((485.0..=605.0).contains(&off), "{}", off);
        prop_assert!(geo::distance_m(geo::gcj02_to_wgs84_approx(gcj), wgs) <= 2.85);
        prop_assert!(geo::distance_m(geo::bd09_to_gcj02(geo::gcj02_to_bd09(gcj)), gcj) <= 0.15);
    }

    #[test]
    fn validity_matches_bands(b in birth(), offset in 0i64..40_000) {
        let issue = b + Duration::days(offset);
        let age = validity::age_on(b, issue);
        let exp = validity::expiry_date(issue, b);
        match age {
            0..=45 => {
                let e = exp.unwrap();
                let years = validity::age_on(issue, e);
                let want = match age { 0..=15 => 5, 16..=25 => 10, _ => 20 };
                // 02-29 issues end on 02-28: one day short of the full N years
                prop_assert!(years == want || (years == want - 1 && issue.month() == time::Month::February && issue.day() == 29));
            }
            _ => prop_assert!(exp.is_none()),
        }
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,24}") {
        let _ = IdNumber::parse(&s);
        let _ = MobileNumber::parse(&s);
        let _ = mask_name(&s);
    }

    #[test]
    fn parse_never_panics_on_digitish(s in "[0-9xX \\-+]{0,20}") {
        let _ = IdNumber::parse(&s);
        let _ = MobileNumber::parse(&s);
    }
}
