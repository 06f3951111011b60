//! The issuance SLA: Anhui promises a card within 15 working days of the application (制发周期
//! 30 → 15 个工作日, 2019 announcement), counted on the official working-day calendar, so
//! National Day, the Spring Festival and make-up working days (调休上班) are all honoured.
//!
//! Definitions:
//! - **Clock start**: the date the application was first submitted. Time spent returned to the
//!   citizen for correction stays on the clock (it is visible in the per-stage figures as
//!   review time); a resubmission does not restart it.
//! - **Due date**: [`WorkCalendar::add_working_days`]`(submitted, 15)`: the submission day itself
//!   never counts, whatever time of day.
//! - **Completion**: the first day the card was in its holder's reach
//!   ([`ApplicationState::card_available`]: waiting at the pickup point, delivered, collected).
//!   Waiting for the holder to come is not police time.
//! - **Status**: finished → [`SlaStatus::Met`] if completed on or before the due date, else
//!   [`SlaStatus::Missed`]; open → [`SlaStatus::Late`] after the due date,
//!   [`SlaStatus::AtRisk`] when at most `at_risk_remaining` working days remain after today
//!   (the due date itself included), else [`SlaStatus::OnTrack`].
//! - **Per stage**: each timeline entry lasts, in working days, until the next entry (the last
//!   one until today, unless its stage is [`Stage::Done`]); counted like
//!   [`WorkCalendar::working_days_between`] so the stages add up to the total.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::applications::{ApplicationState, Stage};
use crate::calendar::WorkCalendar;

/// Target and warning threshold, configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlaPolicy {
    /// Working days from submission to card available (default 15).
    pub target_working_days: u32,
    /// Open applications with at most this many working days left are "at risk" (default 3).
    pub at_risk_remaining: u32,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        SlaPolicy {
            target_working_days: 15,
            at_risk_remaining: 3,
        }
    }
}

impl SlaPolicy {
    /// `submitted_on` + `target_working_days` working days.
    pub fn due_date(&self, calendar: &WorkCalendar, submitted_on: Date) -> Date {
        add_working_days(calendar, submitted_on, self.target_working_days)
    }

    /// The SLA status on `today`; `completed_on` is the completion date when finished.
    pub fn status(
        &self,
        calendar: &WorkCalendar,
        submitted_on: Date,
        today: Date,
        completed_on: Option<Date>,
    ) -> SlaStatus {
        let due = self.due_date(calendar, submitted_on);
        match completed_on {
            Some(done) if done <= due => SlaStatus::Met,
            Some(_) => SlaStatus::Missed,
            None if today > due => SlaStatus::Late,
            None if calendar.working_days_between(today, due)
                <= i64::from(self.at_risk_remaining) =>
            {
                SlaStatus::AtRisk
            }
            None => SlaStatus::OnTrack,
        }
    }

    /// The status from an application's timeline, `None` when the SLA does not apply: never
    /// submitted, or ended without a card (rejected, cancelled, expired).
    pub fn status_from_timeline(
        &self,
        calendar: &WorkCalendar,
        timeline: &[(ApplicationState, Date)],
        today: Date,
    ) -> Option<SlaStatus> {
        let submitted = submitted_on(timeline)?;
        let completed = completed_on(timeline);
        if completed.is_none() && timeline.iter().any(|(s, _)| s.is_terminal()) {
            return None;
        }
        Some(self.status(calendar, submitted, today, completed))
    }
}

/// Due date under the default policy (15 working days).
pub fn due_date(calendar: &WorkCalendar, submitted_on: Date) -> Date {
    SlaPolicy::default().due_date(calendar, submitted_on)
}

/// Working days in `(from, to]`, negative when `to < from` (see
/// [`WorkCalendar::working_days_between`]).
pub fn working_days_between(calendar: &WorkCalendar, from: Date, to: Date) -> i64 {
    calendar.working_days_between(from, to)
}

/// Same result as [`WorkCalendar::add_working_days`], but saturating at `Date::MAX` instead of
/// panicking on absurd inputs (a configured target of millions of days, a date in year 9999).
fn add_working_days(calendar: &WorkCalendar, start: Date, n: u32) -> Date {
    let mut d = start;
    let mut left = n;
    while left > 0 {
        let Some(next) = d.next_day() else {
            return Date::MAX;
        };
        d = next;
        if calendar.is_working_day(d) {
            left -= 1;
        }
    }
    d
}

/// Where an application stands against its SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaStatus {
    OnTrack,
    AtRisk,
    Late,
    Met,
    Missed,
}

impl SlaStatus {
    pub const ALL: [SlaStatus; 5] = [
        SlaStatus::OnTrack,
        SlaStatus::AtRisk,
        SlaStatus::Late,
        SlaStatus::Met,
        SlaStatus::Missed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::OnTrack => "on_track",
            Self::AtRisk => "at_risk",
            Self::Late => "late",
            Self::Met => "met",
            Self::Missed => "missed",
        }
    }

    pub fn from_code(code: &str) -> Option<SlaStatus> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Self::OnTrack => "正常",
            Self::AtRisk => "临近超期",
            Self::Late => "已超期",
            Self::Met => "按期办结",
            Self::Missed => "超期办结",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Self::OnTrack => "On track",
            Self::AtRisk => "At risk",
            Self::Late => "Late",
            Self::Met => "Met",
            Self::Missed => "Missed",
        }
    }

    /// Whether the application is finished (met or missed).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Met | Self::Missed)
    }
}

/// First submission date in a timeline.
pub fn submitted_on(timeline: &[(ApplicationState, Date)]) -> Option<Date> {
    timeline
        .iter()
        .find(|(s, _)| *s == ApplicationState::Submitted)
        .map(|(_, d)| *d)
}

/// First date the card was available to its holder (the SLA's completion).
pub fn completed_on(timeline: &[(ApplicationState, Date)]) -> Option<Date> {
    timeline
        .iter()
        .find(|(s, _)| s.card_available())
        .map(|(_, d)| *d)
}

/// Working days spent in each stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StageDays {
    pub review: i64,
    pub payment: i64,
    pub production: i64,
    pub logistics: i64,
}

impl StageDays {
    /// Days of one stage (0 for [`Stage::Done`]).
    pub fn get(&self, stage: Stage) -> i64 {
        match stage {
            Stage::Review => self.review,
            Stage::Payment => self.payment,
            Stage::Production => self.production,
            Stage::Logistics => self.logistics,
            Stage::Done => 0,
        }
    }

    pub fn total(&self) -> i64 {
        self.review + self.payment + self.production + self.logistics
    }

    fn add(&mut self, stage: Stage, days: i64) {
        match stage {
            Stage::Review => self.review += days,
            Stage::Payment => self.payment += days,
            Stage::Production => self.production += days,
            Stage::Logistics => self.logistics += days,
            Stage::Done => {}
        }
    }
}

/// Working days per stage from a timeline of `(state, date entered)` in chronological order.
/// Drafts do not count; an entry dated before its predecessor (out of order) counts 0.
pub fn stage_working_days(
    calendar: &WorkCalendar,
    timeline: &[(ApplicationState, Date)],
    today: Date,
) -> StageDays {
    let mut out = StageDays::default();
    for (i, (state, entered)) in timeline.iter().enumerate() {
        let Some(stage) = state.stage() else { continue };
        let left = timeline.get(i + 1).map_or(today, |(_, d)| *d);
        out.add(stage, calendar.working_days_between(*entered, left).max(0));
    }
    out
}

/// The `p`-th percentile (0–100) of working-day counts, by linear interpolation between the
/// two nearest ranks (the "inclusive" definition of Excel's PERCENTILE.INC and NumPy's
/// default), so the median of an even count is the mean of the middle two. `None` for no
/// values or a `p` that is not a number; `p` outside 0–100 is clamped.
pub fn percentile(values: &[i64], p: f64) -> Option<f64> {
    if values.is_empty() || p.is_nan() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = p.clamp(0.0, 100.0) / 100.0 * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let (a, b) = (v[lo] as f64, v[hi.min(v.len() - 1)] as f64);
    Some(a + (b - a) * (rank - lo as f64))
}

/// Median of working-day counts (supervision page).
pub fn median(values: &[i64]) -> Option<f64> {
    percentile(values, 50.0)
}

/// 90th percentile of working-day counts (supervision page).
pub fn p90(values: &[i64]) -> Option<f64> {
    percentile(values, 90.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApplicationState as S;
    use time::macros::date;

    fn cal() -> &'static WorkCalendar {
        WorkCalendar::official()
    }

    #[test]
    fn due_dates_across_national_day_2026() {
        // 2026: 中秋 09-25..27 off, 国庆 10-01..07 off, make-up working days Sun 09-20 and Sat 10-10.
        assert!(cal().is_working_day(date!(2026 - 09 - 20)));
        assert!(cal().is_working_day(date!(2026 - 10 - 10)));
        // Fri 09-18 + 15: 09-20*, 21, 22, 23, 24, 28, 29, 30, 10-08, 09, 10*, 12, 13, 14, 15.
        assert_eq!(
            due_date(cal(), date!(2026 - 09 - 18)),
            date!(2026 - 10 - 15)
        );
        // Submitted on the last working day before the holiday or during it: same due date,
        // 10-08 is the first counted day either way.
        assert_eq!(
            due_date(cal(), date!(2026 - 09 - 30)),
            date!(2026 - 10 - 27)
        );
        assert_eq!(
            due_date(cal(), date!(2026 - 10 - 01)),
            date!(2026 - 10 - 27)
        );
        assert_eq!(
            due_date(cal(), date!(2026 - 10 - 07)),
            date!(2026 - 10 - 27)
        );
        // Same as the calendar (holidays README example).
        assert_eq!(
            due_date(cal(), date!(2024 - 09 - 25)),
            date!(2024 - 10 - 21)
        );
        for d in [
            date!(2026 - 09 - 18),
            date!(2026 - 10 - 04),
            date!(2025 - 01 - 20),
        ] {
            assert_eq!(due_date(cal(), d), cal().add_working_days(d, 15));
            assert_eq!(working_days_between(cal(), d, due_date(cal(), d)), 15);
        }
        // Absurd inputs saturate instead of panicking.
        let huge = SlaPolicy {
            target_working_days: u32::MAX,
            ..Default::default()
        };
        assert_eq!(huge.due_date(cal(), date!(9999 - 12 - 01)), Date::MAX);
    }

    #[test]
    fn statuses() {
        let p = SlaPolicy::default();
        let sub = date!(2026 - 09 - 18); // due 10-15 (Thu)
        let st = |today, done| p.status(cal(), sub, today, done);
        assert_eq!(st(date!(2026 - 09 - 30), None), SlaStatus::OnTrack);
        // Sat 10-10 is a make-up working day: 10-12, 13, 14, 15 remain (4).
        assert_eq!(st(date!(2026 - 10 - 10), None), SlaStatus::OnTrack);
        // Sun 10-11: still 4 left; Mon 10-12: 3 left.
        assert_eq!(st(date!(2026 - 10 - 11), None), SlaStatus::OnTrack);
        assert_eq!(st(date!(2026 - 10 - 12), None), SlaStatus::AtRisk);
        assert_eq!(st(date!(2026 - 10 - 15), None), SlaStatus::AtRisk);
        assert_eq!(st(date!(2026 - 10 - 16), None), SlaStatus::Late);
        assert_eq!(
            st(date!(2026 - 10 - 20), Some(date!(2026 - 10 - 15))),
            SlaStatus::Met
        );
        assert_eq!(
            st(date!(2026 - 10 - 20), Some(date!(2026 - 10 - 16))),
            SlaStatus::Missed
        );
        for s in SlaStatus::ALL {
            assert_eq!(SlaStatus::from_code(s.code()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.code())
            );
            assert!(!s.name_zh().is_empty() && !s.name_en().is_empty());
        }
    }

    fn timeline() -> Vec<(ApplicationState, Date)> {
        vec![
            (S::Draft, date!(2026 - 09 - 17)),
            (S::Submitted, date!(2026 - 09 - 18)),
            (S::UnderReview, date!(2026 - 09 - 21)),
            (S::Approved, date!(2026 - 09 - 22)),
            (S::AwaitingPayment, date!(2026 - 09 - 22)),
            (S::Paid, date!(2026 - 09 - 23)),
            (S::InProduction, date!(2026 - 09 - 24)),
            (S::Produced, date!(2026 - 09 - 30)),
            (S::QualityChecked, date!(2026 - 10 - 08)),
            (S::Dispatched, date!(2026 - 10 - 09)),
            (S::Delivered, date!(2026 - 10 - 12)),
            (S::Closed, date!(2026 - 10 - 13)),
        ]
    }

    #[test]
    fn stages_over_the_holidays() {
        let days = stage_working_days(cal(), &timeline(), date!(2026 - 11 - 30));
        // review: 09-20*, 21 | 22; payment: 09-23; production: 24 | 28, 29, 30 | 10-08 | 10-09;
        // logistics: 10-10*, 10-12. Done stages add nothing.
        assert_eq!(
            days,
            StageDays {
                review: 3,
                payment: 1,
                production: 6,
                logistics: 2
            }
        );
        assert_eq!(
            days.total(),
            working_days_between(cal(), date!(2026 - 09 - 18), date!(2026 - 10 - 12))
        );
        assert_eq!(days.get(Stage::Production), 6);
        assert_eq!(days.get(Stage::Done), 0);
        let p = SlaPolicy::default();
        assert_eq!(completed_on(&timeline()), Some(date!(2026 - 10 - 12)));
        assert_eq!(
            p.status_from_timeline(cal(), &timeline(), date!(2026 - 11 - 30)),
            Some(SlaStatus::Met)
        );
        // Still open: the last stage runs until today.
        let open = &timeline()[..10];
        let days = stage_working_days(cal(), open, date!(2026 - 10 - 16));
        assert_eq!(days.logistics, 6); // (10-09, 10-16]: 10-10*, 12, 13, 14, 15, 16
        assert_eq!(
            p.status_from_timeline(cal(), open, date!(2026 - 10 - 16)),
            Some(SlaStatus::Late)
        );
        // Ended without a card, or never submitted: no SLA.
        let cancelled = [
            (S::Submitted, date!(2026 - 09 - 18)),
            (S::Cancelled, date!(2026 - 09 - 21)),
        ];
        assert_eq!(
            p.status_from_timeline(cal(), &cancelled, date!(2026 - 10 - 30)),
            None
        );
        assert_eq!(
            p.status_from_timeline(
                cal(),
                &[(S::Draft, date!(2026 - 09 - 18))],
                date!(2026 - 10 - 30)
            ),
            None
        );
        // Out-of-order entries count zero rather than negative.
        let odd = [
            (S::Submitted, date!(2026 - 09 - 30)),
            (S::UnderReview, date!(2026 - 09 - 18)),
        ];
        assert_eq!(
            stage_working_days(cal(), &odd, date!(2026 - 09 - 18)).review,
            0
        );
    }

    #[test]
    fn percentiles() {
        assert_eq!(median(&[]), None);
        assert_eq!(percentile(&[3], f64::NAN), None);
        assert_eq!(median(&[7]), Some(7.0));
        assert_eq!(median(&[12, 3, 9]), Some(9.0));
        assert_eq!(median(&[4, 3]), Some(3.5));
        let v: Vec<i64> = (1..=10).collect();
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(close(p90(&v), 9.1));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 100.0), Some(10.0));
        assert_eq!(percentile(&v, 250.0), Some(10.0));
        assert_eq!(percentile(&v, -5.0), Some(1.0));
        assert!(close(p90(&[15, 15, 15, 16, 30]), 24.4));
    }
}
