//! Service statistics: the 2019 announcement's headline figures (96.2 % of transactions booked online, 98.6 % of
//! fees collected by smart channels, 200,000 km and 110,000 hours saved a year) computed from our own records,
//! per day or month and per province, city, district or acceptance point. Pure arithmetic: the store counts, this
//! module says what the counts mean, rolls them up and estimates what they saved.
//!
//! # Definitions
//!
//! - **Counter visit**: a queue ticket at an acceptance point, on its day — with an appointment (booked online)
//!   or a walk-in. A skipped ticket is a visit all the same: the person came.
//! - **Booking share**: visits with an appointment ÷ all visits.
//! - **Online share** (the headline, "transactions booked or done online"): (visits with an appointment +
//!   applications submitted on the fully online route) ÷ (all visits + applications submitted on the fully online
//!   route). A fully online application never comes to a counter, so it is a transaction of its own; the other
//!   routes show up as visits.
//! - **Smart fee share**: successful payments by any channel but cash ÷ all successful payments, by count
//!   ([`crate::payments::smart_share_permille`]); amounts are reported beside it.
//! - **Online applications accepted**: approvals of applications started online (`online`,
//!   `online_then_counter`), on the day of the approval; rejections beside them.
//! - **Registered users**: accounts created; **verified**: accounts that passed real-name verification (primary or
//!   above), on the day it was done. Totals are cumulative to the end of each period.
//! - **Cycle**: working days on the official calendar from the first submission to the first day the card was in
//!   its holder's reach — the SLA's own measure ([`crate::sla`]) — counted in the period the card became
//!   available; mean and 90th percentile (same definition as [`crate::sla::percentile`]).
//! - **Trips and time saved**: an estimate by [`SavingsModel`], whose assumptions are configuration.
//!
//! Days are calendar days in China Standard Time (UTC+8); a month is a calendar month. Shares are in per-mille,
//! rounded half up, and `None` when there is nothing to divide by.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::applications::{Channel, DeliveryMethod};
use crate::payments::PaymentChannel;

/// China Standard Time is UTC+8 all year.
pub const CST_OFFSET_MS: i64 = 8 * 3_600_000;
pub const DAY_MS: i64 = 86_400_000;
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// The China-time day of an instant as a day number (days since 1970-01-01). The store groups by the same
/// expression in SQL, `(ms + 28800000) / 86400000`, which agrees for every instant after 1969-12-31 16:00 UTC.
pub fn day_number_of_ms(ms: i64) -> i64 {
    (ms + CST_OFFSET_MS).div_euclid(DAY_MS)
}

pub fn day_number(d: Date) -> i64 {
    i64::from(d.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY
}

pub fn date_of_day_number(n: i64) -> Option<Date> {
    let julian = i32::try_from(n.checked_add(UNIX_EPOCH_JULIAN_DAY)?).ok()?;
    Date::from_julian_day(julian).ok()
}

/// The instant (UTC ms) a China-time day begins.
pub fn day_start_ms(d: Date) -> i64 {
    day_number(d) * DAY_MS - CST_OFFSET_MS
}

/// Share in per-mille, rounded half up; `None` with a zero or negative total.
pub fn permille(part: u64, total: u64) -> Option<u32> {
    (total > 0).then(|| ((part.min(total) * 1000 + total / 2) / total) as u32)
}

fn permille_i(part: i64, total: i64) -> Option<u32> {
    permille(part.max(0) as u64, total.max(0) as u64)
}

/// How finely figures are bucketed in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Month,
}

impl Period {
    pub const ALL: [Period; 2] = [Period::Day, Period::Month];

    pub fn code(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    pub fn from_code(s: &str) -> Option<Period> {
        Self::ALL.into_iter().find(|p| p.code() == s)
    }

    /// First day of the bucket holding `d`.
    pub fn bucket_start(self, d: Date) -> Date {
        match self {
            Period::Day => d,
            Period::Month => d.replace_day(1).unwrap_or(d),
        }
    }

    /// First day of the bucket after the one starting at `start`.
    pub fn next(self, start: Date) -> Option<Date> {
        match self {
            Period::Day => start.next_day(),
            Period::Month => {
                let (y, m) = (start.year(), start.month());
                let (y, m) = if m == time::Month::December { (y.checked_add(1)?, time::Month::January) } else { (y, m.next()) };
                Date::from_calendar_date(y, m, 1).ok()
            }
        }
    }

    /// `"2026-10-01"` for a day, `"2026-10"` for a month.
    pub fn label(self, start: Date) -> String {
        match self {
            Period::Day => crate::timefmt::format_date(start),
            Period::Month => format!("{:04}-{:02}", start.year(), start.month() as u8),
        }
    }

    /// Every bucket start from the one holding `from` to the one holding `to` (inclusive).
    pub fn buckets(self, from: Date, to: Date) -> Vec<Date> {
        let mut out = Vec::new();
        let mut b = self.bucket_start(from);
        while b <= to {
            out.push(b);
            match self.next(b) {
                Some(n) => b = n,
                None => break,
            }
        }
        out
    }
}

/// The unit figures are broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Province,
    City,
    District,
    Point,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Province, Level::City, Level::District, Level::Point];

    pub fn code(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::City => "city",
            Level::District => "district",
            Level::Point => "point",
        }
    }

    pub fn from_code(s: &str) -> Option<Level> {
        Self::ALL.into_iter().find(|l| l.code() == s)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Level::Province => "省",
            Level::City => "市",
            Level::District => "区县",
            Level::Point => "受理点",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Level::Province => "Province",
            Level::City => "City",
            Level::District => "District",
            Level::Point => "Acceptance point",
        }
    }
}

/// Whether `s` is a 6-digit county-level code (the form districts are stored in).
pub fn is_county_code(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) && &s[4..] != "00"
}

/// The area a report is limited to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Area {
    /// 2-digit province prefix.
    Province(String),
    /// 4-digit city prefix.
    City(String),
    /// 6-digit county-level code.
    District(String),
    /// Acceptance-point id.
    Point(String),
}

impl Area {
    /// A division code as an area: `"34"` or `"340000"` a province, `"340100"` a city, `"340104"` a district.
    /// `None` for anything else (which may be a point id).
    pub fn parse_division(code: &str) -> Option<Area> {
        if !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match code.len() {
            2 if code != "00" => Some(Area::Province(code.to_string())),
            6 if &code[..2] == "00" => None,
            6 if &code[2..] == "0000" => Some(Area::Province(code[..2].to_string())),
            6 if &code[4..] == "00" => Some(Area::City(code[..4].to_string())),
            6 => Some(Area::District(code.to_string())),
            _ => None,
        }
    }

    pub fn level(&self) -> Level {
        match self {
            Area::Province(_) => Level::Province,
            Area::City(_) => Level::City,
            Area::District(_) => Level::District,
            Area::Point(_) => Level::Point,
        }
    }

    /// The 6-digit code of a division (`"340000"`, `"340100"`, `"340104"`), or the point's id.
    pub fn code(&self) -> String {
        match self {
            Area::Province(p) => format!("{p}0000"),
            Area::City(c) => format!("{c}00"),
            Area::District(d) | Area::Point(d) => d.clone(),
        }
    }

    /// Whether a county-level district lies within this division (never for a point).
    pub fn contains_district(&self, county: &str) -> bool {
        match self {
            Area::Province(p) | Area::City(p) | Area::District(p) => county.starts_with(p.as_str()),
            Area::Point(_) => false,
        }
    }
}

/// Unit code of facts with no known district, at city and district level.
pub const UNATTRIBUTED: &str = "unattributed";
/// Unit code, at point level, of facts that happened at no acceptance point (online payments and applications,
/// account registrations).
pub const NOT_AT_A_POINT: &str = "online";

/// The unit a fact falls in when figures are broken down by `level` within `area`: at province level everything
/// in the area is one unit (the area); at city and district level the district where the fact happened decides;
/// at point level, the point.
pub fn unit_of(level: Level, area: &Area, point_id: Option<&str>, district: Option<&str>) -> String {
    let county = district.filter(|d| is_county_code(d));
    match level {
        Level::Province => match area {
            Area::Province(_) => area.code(),
            _ => county.map(|d| format!("{}0000", &d[..2])).unwrap_or_else(|| UNATTRIBUTED.into()),
        },
        Level::City => county.map(|d| format!("{}00", &d[..4])).unwrap_or_else(|| UNATTRIBUTED.into()),
        Level::District => county.map(str::to_string).unwrap_or_else(|| UNATTRIBUTED.into()),
        Level::Point => point_id.filter(|p| !p.is_empty()).map(str::to_string).unwrap_or_else(|| NOT_AT_A_POINT.into()),
    }
}

/// Urban districts have short trips to a counter; counties and county-level cities long ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaKind {
    Urban,
    Rural,
}

/// GB/T 2260: county-level codes ending 01–20 are city districts (市辖区), 21–80 counties (县), 81–99 county-level
/// cities (县级市). Unknown places count as urban — the shorter trip, so the estimate errs low.
pub fn area_kind(county: Option<&str>) -> AreaKind {
    match county.filter(|c| is_county_code(c)).and_then(|c| c[4..].parse::<u8>().ok()) {
        Some(n) if n > 20 => AreaKind::Rural,
        _ => AreaKind::Urban,
    }
}

/// One round trip to an acceptance point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trip {
    /// Kilometres there and back.
    pub km: f64,
    /// Hours: travel there and back plus time at the office (queue and service).
    pub hours: f64,
}

/// The assumptions behind "trips and time saved". Every figure is configuration (`[stats]` in `shenfen.toml`);
/// the defaults are explained field by field and are deliberately modest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SavingsModel {
    /// Counter visits a traditional application takes: one to apply (photo, fingerprints, payment), one to collect
    /// the card, and for some a third for a missing document or a rejected photo — "2–3", default 2.5.
    pub traditional_visits: f64,
    /// A round trip in a city district (市辖区): default 6 km and 1.5 h (0.5 h travel, 1 h queue and service).
    pub urban: Trip,
    /// A round trip from a county or county-level city (县, 县级市): default 20 km and 2.5 h.
    pub rural: Trip,
    /// Share of walk-ins who must come again (day's numbers gone, office closed, wrong documents); a booked
    /// visit avoids that repeat. Default 0.2.
    pub walk_in_repeat_rate: f64,
    /// Queueing time a booked visit saves against a walk-in, hours. Default 0.5.
    pub booked_wait_saved_hours: f64,
}

impl Default for SavingsModel {
    fn default() -> Self {
        SavingsModel {
            traditional_visits: 2.5,
            urban: Trip { km: 6.0, hours: 1.5 },
            rural: Trip { km: 20.0, hours: 2.5 },
            walk_in_repeat_rate: 0.2,
            booked_wait_saved_hours: 0.5,
        }
    }
}

/// Trips, kilometres and hours saved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Savings {
    pub trips: f64,
    pub km: f64,
    pub hours: f64,
}

impl Savings {
    fn add_times(&mut self, other: Savings, n: f64) {
        self.trips += other.trips * n;
        self.km += other.km * n;
        self.hours += other.hours * n;
    }

    /// The same rate over a year: `self` was saved in `days` days.
    pub fn per_year(self, days: i64) -> Savings {
        if days <= 0 {
            return Savings::default();
        }
        let f = 365.0 / days as f64;
        Savings { trips: self.trips * f, km: self.km * f, hours: self.hours * f }
    }
}

impl SavingsModel {
    /// Refuses values that are not finite, negative, or beyond any plausible trip.
    pub fn validate(&self) -> Result<(), &'static str> {
        let finite = [
            self.traditional_visits,
            self.urban.km,
            self.urban.hours,
            self.rural.km,
            self.rural.hours,
            self.walk_in_repeat_rate,
            self.booked_wait_saved_hours,
        ];
        if finite.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err("stats: every assumption must be a finite, non-negative number");
        }
        if self.traditional_visits > 10.0 || self.walk_in_repeat_rate > 1.0 {
            return Err("stats: traditional_visits must be at most 10 and walk_in_repeat_rate at most 1");
        }
        if [self.urban, self.rural].iter().any(|t| t.km > 1000.0 || t.hours > 48.0) || self.booked_wait_saved_hours > 24.0 {
            return Err("stats: a trip is at most 1000 km and 48 hours, a wait at most 24 hours");
        }
        Ok(())
    }

    pub fn trip(&self, kind: AreaKind) -> Trip {
        match kind {
            AreaKind::Urban => self.urban,
            AreaKind::Rural => self.rural,
        }
    }

    /// Counter visits an application still takes on its route: finishing at a counter is one, collecting the card
    /// in person another. `None` for counter applications (the traditional route: nothing saved).
    pub fn visits_needed(channel: Channel, delivery: DeliveryMethod) -> Option<f64> {
        let collect = if delivery == DeliveryMethod::Pickup { 1.0 } else { 0.0 };
        match channel {
            Channel::Online => Some(collect),
            Channel::OnlineThenCounter => Some(1.0 + collect),
            Channel::Counter => None,
        }
    }

    /// What one submitted application saved against the traditional route.
    pub fn application_savings(&self, channel: Channel, delivery: DeliveryMethod, kind: AreaKind) -> Savings {
        let Some(needed) = Self::visits_needed(channel, delivery) else { return Savings::default() };
        let trips = (self.traditional_visits - needed).max(0.0);
        let t = self.trip(kind);
        Savings { trips, km: trips * t.km, hours: trips * t.hours }
    }

    /// What one counter visit with an appointment saved against a walk-in: the expected repeat trip and the wait.
    pub fn booked_visit_savings(&self, kind: AreaKind) -> Savings {
        let t = self.trip(kind);
        let trips = self.walk_in_repeat_rate;
        Savings { trips, km: trips * t.km, hours: trips * t.hours + self.booked_wait_saved_hours }
    }
}

/// A histogram of working-day counts: additive across units and periods, and enough for the mean and any
/// percentile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Histogram(BTreeMap<i64, u64>);

impl Histogram {
    pub fn add(&mut self, value: i64, n: u64) {
        if n > 0 {
            *self.0.entry(value).or_default() += n;
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (v, n) in &other.0 {
            self.add(*v, *n);
        }
    }

    pub fn count(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.0.iter().map(|(v, c)| *v as f64 * *c as f64).sum::<f64>() / n as f64)
    }

    /// The `k`-th smallest value (0-based).
    fn nth(&self, k: u64) -> Option<i64> {
        let mut seen = 0;
        for (v, c) in &self.0 {
            seen += c;
            if k < seen {
                return Some(*v);
            }
        }
        None
    }

    /// The `p`-th percentile with the same inclusive interpolation as [`crate::sla::percentile`].
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 || p.is_nan() {
            return None;
        }
        let rank = p.clamp(0.0, 100.0) / 100.0 * (n - 1) as f64;
        let (lo, hi) = (rank.floor() as u64, rank.ceil() as u64);
        let (a, b) = (self.nth(lo)? as f64, self.nth(hi.min(n - 1))? as f64);
        Some(a + (b - a) * (rank - lo as f64))
    }
}

/// Payments of one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FeeTotal {
    pub count: i64,
    pub amount_fen: i64,
    pub refunded_fen: i64,
}

impl FeeTotal {
    fn add(&mut self, o: &FeeTotal) {
        self.count += o.count;
        self.amount_fen += o.amount_fen;
        self.refunded_fen += o.refunded_fen;
    }
}

/// The additive counts of one unit in one period; every figure is derived from these.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub visits_booked: i64,
    pub visits_walk_in: i64,
    /// Appointments made (on the day they were made).
    pub bookings_made: i64,
    /// Applications submitted, per route.
    pub applications_online: i64,
    pub applications_online_then_counter: i64,
    pub applications_counter: i64,
    /// Decisions on applications started online.
    pub online_approved: i64,
    pub online_rejected: i64,
    /// Successful payments per channel, in the order of [`PaymentChannel::ALL`].
    pub fees: [FeeTotal; 6],
    pub users_registered: i64,
    pub users_verified: i64,
    /// Working days from submission to card, per application whose card became available.
    pub cycle: Histogram,
    pub savings: Savings,
}

impl Counts {
    pub fn add_visits(&mut self, booked: bool, n: i64, kind: AreaKind, model: &SavingsModel) {
        if booked {
            self.visits_booked += n;
            self.savings.add_times(model.booked_visit_savings(kind), n as f64);
        } else {
            self.visits_walk_in += n;
        }
    }

    pub fn add_bookings(&mut self, n: i64) {
        self.bookings_made += n;
    }

    pub fn add_fees(&mut self, channel: PaymentChannel, count: i64, amount_fen: i64, refunded_fen: i64) {
        let i = PaymentChannel::ALL.iter().position(|c| *c == channel).unwrap_or(0);
        self.fees[i].add(&FeeTotal { count, amount_fen, refunded_fen });
    }

    pub fn add_submissions(&mut self, channel: Channel, delivery: DeliveryMethod, n: i64, kind: AreaKind, model: &SavingsModel) {
        match channel {
            Channel::Online => self.applications_online += n,
            Channel::OnlineThenCounter => self.applications_online_then_counter += n,
            Channel::Counter => self.applications_counter += n,
        }
        self.savings.add_times(model.application_savings(channel, delivery, kind), n as f64);
    }

    /// Counts only decisions on applications started online.
    pub fn add_decisions(&mut self, channel: Channel, approved: bool, n: i64) {
        match (channel, approved) {
            (Channel::Counter, _) => {}
            (_, true) => self.online_approved += n,
            (_, false) => self.online_rejected += n,
        }
    }

    pub fn add_users(&mut self, registered: i64, verified: i64) {
        self.users_registered += registered;
        self.users_verified += verified;
    }

    pub fn add_cycles(&mut self, working_days: i64, n: u64) {
        self.cycle.add(working_days, n);
    }

    pub fn merge(&mut self, o: &Counts) {
        self.visits_booked += o.visits_booked;
        self.visits_walk_in += o.visits_walk_in;
        self.bookings_made += o.bookings_made;
        self.applications_online += o.applications_online;
        self.applications_online_then_counter += o.applications_online_then_counter;
        self.applications_counter += o.applications_counter;
        self.online_approved += o.online_approved;
        self.online_rejected += o.online_rejected;
        for (a, b) in self.fees.iter_mut().zip(&o.fees) {
            a.add(b);
        }
        self.users_registered += o.users_registered;
        self.users_verified += o.users_verified;
        self.cycle.merge(&o.cycle);
        self.savings.add_times(o.savings, 1.0);
    }

    pub fn visits(&self) -> i64 {
        self.visits_booked + self.visits_walk_in
    }

    pub fn booking_share_permille(&self) -> Option<u32> {
        permille_i(self.visits_booked, self.visits())
    }

    /// The headline: visits booked online plus fully online applications, of all transactions (module docs).
    pub fn online_share_permille(&self) -> Option<u32> {
        permille_i(self.visits_booked + self.applications_online, self.visits() + self.applications_online)
    }

    pub fn fee(&self, channel: PaymentChannel) -> FeeTotal {
        PaymentChannel::ALL.iter().position(|c| *c == channel).map(|i| self.fees[i]).unwrap_or_default()
    }

    /// Payments by every channel but cash.
    pub fn smart_fees(&self) -> FeeTotal {
        let mut t = FeeTotal::default();
        for (c, f) in PaymentChannel::ALL.iter().zip(&self.fees) {
            if c.is_smart() {
                t.add(f);
            }
        }
        t
    }

    pub fn cash_fees(&self) -> FeeTotal {
        self.fee(PaymentChannel::Cash)
    }

    pub fn smart_fee_share_permille(&self) -> Option<u32> {
        let smart = self.smart_fees().count.max(0) as u64;
        crate::payments::smart_share_permille(smart, smart + self.cash_fees().count.max(0) as u64)
    }

    /// Approvals of all decisions on applications started online.
    pub fn acceptance_permille(&self) -> Option<u32> {
        permille_i(self.online_approved, self.online_approved + self.online_rejected)
    }

    pub fn is_empty(&self) -> bool {
        *self == Counts::default()
    }
}

/// Counts per (period, unit) over a date range, filled fact by fact.
#[derive(Debug, Clone)]
pub struct Rollup {
    pub period: Period,
    pub from: Date,
    pub to: Date,
    cells: BTreeMap<(Date, String), Counts>,
}

impl Rollup {
    /// Days `from..=to`; buckets start at the one holding `from`.
    pub fn new(period: Period, from: Date, to: Date) -> Rollup {
        Rollup { period, from, to, cells: BTreeMap::new() }
    }

    /// The cell of `unit` in the bucket holding `day`; `None` for a day outside the range.
    pub fn cell(&mut self, day: Date, unit: &str) -> Option<&mut Counts> {
        if day < self.from || day > self.to {
            return None;
        }
        Some(self.cells.entry((self.period.bucket_start(day), unit.to_string())).or_default())
    }

    pub fn buckets(&self) -> Vec<Date> {
        self.period.buckets(self.from, self.to)
    }

    /// Days in the range.
    pub fn days(&self) -> i64 {
        day_number(self.to) - day_number(self.from) + 1
    }

    /// Every bucket of the range with all units added up (empty buckets included, for charts).
    pub fn series(&self) -> Vec<(Date, Counts)> {
        let mut by_bucket: BTreeMap<Date, Counts> = self.buckets().into_iter().map(|b| (b, Counts::default())).collect();
        for ((b, _), c) in &self.cells {
            by_bucket.entry(*b).or_default().merge(c);
        }
        by_bucket.into_iter().collect()
    }

    /// Each unit with data, over the whole range, by unit code.
    pub fn units(&self) -> Vec<(String, Counts)> {
        let mut by_unit: BTreeMap<&str, Counts> = BTreeMap::new();
        for ((_, u), c) in &self.cells {
            by_unit.entry(u.as_str()).or_default().merge(c);
        }
        by_unit.into_iter().map(|(u, c)| (u.to_string(), c)).collect()
    }

    /// Every non-empty cell, by bucket then unit.
    pub fn cells(&self) -> impl Iterator<Item = (Date, &str, &Counts)> {
        self.cells.iter().filter(|(_, c)| !c.is_empty()).map(|((b, u), c)| (*b, u.as_str(), c))
    }

    pub fn total(&self) -> Counts {
        let mut t = Counts::default();
        for c in self.cells.values() {
            t.merge(c);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn day_numbers_follow_china_time() {
        // 2026-10-01 00:00 CST = 2026-09-30 16:00 UTC.
        let midnight = day_start_ms(date!(2026 - 10 - 01));
        assert_eq!(midnight, 1_790_784_000_000);
        assert_eq!(date_of_day_number(day_number_of_ms(midnight)), Some(date!(2026 - 10 - 01)));
        assert_eq!(date_of_day_number(day_number_of_ms(midnight - 1)), Some(date!(2026 - 09 - 30)));
        // The SQL expression (truncating division) agrees for positive instants.
        for ms in [0_i64, midnight - 1, midnight, midnight + 86_399_999, 1_700_000_000_123] {
            assert_eq!((ms + 28_800_000) / 86_400_000, day_number_of_ms(ms));
        }
        assert_eq!(day_number(date!(1970 - 01 - 01)), 0);
        assert_eq!(date_of_day_number(i64::MAX), None);
    }

    #[test]
    fn buckets_by_day_and_month() {
        let b = Period::Month.buckets(date!(2026 - 11 - 15), date!(2027 - 02 - 01));
        assert_eq!(b, vec![date!(2026 - 11 - 01), date!(2026 - 12 - 01), date!(2027 - 01 - 01), date!(2027 - 02 - 01)]);
        assert_eq!(Period::Month.label(b[1]), "2026-12");
        assert_eq!(Period::Day.buckets(date!(2026 - 02 - 27), date!(2026 - 03 - 01)).len(), 3);
        assert_eq!(Period::Day.label(date!(2026 - 03 - 01)), "2026-03-01");
        assert!(Period::Day.buckets(date!(2026 - 03 - 02), date!(2026 - 03 - 01)).is_empty());
        for p in Period::ALL {
            assert_eq!(Period::from_code(p.code()), Some(p));
        }
        for l in Level::ALL {
            assert_eq!(Level::from_code(l.code()), Some(l));
            assert!(!l.name_zh().is_empty() && !l.name_en().is_empty());
        }
        assert_eq!(Period::from_code("week"), None);
    }

    #[test]
    fn areas_and_units() {
        assert_eq!(Area::parse_division("34"), Some(Area::Province("34".into())));
        assert_eq!(Area::parse_division("340000"), Some(Area::Province("34".into())));
        assert_eq!(Area::parse_division("340100"), Some(Area::City("3401".into())));
        assert_eq!(Area::parse_division("340104"), Some(Area::District("340104".into())));
        for bad in ["", "3", "000000", "34010", "3401044", "34a104", "demo-1"] {
            assert_eq!(Area::parse_division(bad), None, "{bad}");
        }
        let hefei = Area::City("3401".into());
        assert_eq!(hefei.code(), "340100");
        assert!(hefei.contains_district("340104") && !hefei.contains_district("340202"));
        assert!(!Area::Point("p".into()).contains_district("340104"));

        let anhui = Area::Province("34".into());
        assert_eq!(unit_of(Level::Province, &anhui, None, None), "340000");
        assert_eq!(unit_of(Level::City, &anhui, Some("p1"), Some("340104")), "340100");
        assert_eq!(unit_of(Level::City, &anhui, None, None), UNATTRIBUTED);
        assert_eq!(unit_of(Level::District, &anhui, None, Some("340104")), "340104");
        assert_eq!(unit_of(Level::District, &anhui, None, Some("garbage")), UNATTRIBUTED);
        assert_eq!(unit_of(Level::Point, &anhui, Some("p1"), Some("340104")), "p1");
        assert_eq!(unit_of(Level::Point, &anhui, None, Some("340104")), NOT_AT_A_POINT);

        assert_eq!(area_kind(Some("340104")), AreaKind::Urban);
        assert_eq!(area_kind(Some("340121")), AreaKind::Rural); // 长丰县
        assert_eq!(area_kind(Some("340181")), AreaKind::Rural); // 巢湖市
        assert_eq!(area_kind(None), AreaKind::Urban);
    }

    #[test]
    fn savings_model() {
        let m = SavingsModel::default();
        assert!(m.validate().is_ok());
        // Fully online with EMS: all 2.5 traditional visits avoided, 6 km and 1.5 h each in a city district.
        let s = m.application_savings(Channel::Online, DeliveryMethod::Ems, AreaKind::Urban);
        assert_eq!(s, Savings { trips: 2.5, km: 15.0, hours: 3.75 });
        // Online, card collected in person: one visit remains.
        assert_eq!(m.application_savings(Channel::Online, DeliveryMethod::Pickup, AreaKind::Rural), Savings { trips: 1.5, km: 30.0, hours: 3.75 });
        assert_eq!(m.application_savings(Channel::OnlineThenCounter, DeliveryMethod::Pickup, AreaKind::Urban).trips, 0.5);
        assert_eq!(m.application_savings(Channel::Counter, DeliveryMethod::Pickup, AreaKind::Urban), Savings::default());
        // A model with fewer traditional visits than the route needs saves nothing rather than a negative amount.
        let few = SavingsModel { traditional_visits: 1.0, ..m };
        assert_eq!(few.application_savings(Channel::OnlineThenCounter, DeliveryMethod::Pickup, AreaKind::Urban).trips, 0.0);
        // A booked visit: a fifth of a repeat trip, plus half an hour of queueing.
        let b = m.booked_visit_savings(AreaKind::Urban);
        assert!((b.trips - 0.2).abs() < 1e-12 && (b.km - 1.2).abs() < 1e-12 && (b.hours - 0.8).abs() < 1e-12);
        let y = Savings { trips: 10.0, km: 100.0, hours: 30.0 }.per_year(73);
        assert_eq!(y, Savings { trips: 50.0, km: 500.0, hours: 150.0 });
        assert_eq!(y.per_year(0), Savings::default());

        for bad in [
            SavingsModel { traditional_visits: f64::NAN, ..m },
            SavingsModel { walk_in_repeat_rate: 1.5, ..m },
            SavingsModel { urban: Trip { km: -1.0, hours: 1.0 }, ..m },
            SavingsModel { rural: Trip { km: 5.0, hours: 100.0 }, ..m },
            SavingsModel { booked_wait_saved_hours: f64::INFINITY, ..m },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn histogram_percentiles_match_the_sla_definition() {
        let values = [15_i64, 15, 15, 16, 30, 3, 9, 12, 12, 0];
        let mut h = Histogram::default();
        for v in values {
            h.add(v, 1);
        }
        for p in [0.0, 10.0, 50.0, 90.0, 99.0, 100.0] {
            assert_eq!(h.percentile(p), crate::sla::percentile(&values, p), "p{p}");
        }
        assert_eq!(h.count(), 10);
        assert!((h.mean().unwrap() - 12.7).abs() < 1e-12);
        assert_eq!(Histogram::default().percentile(90.0), None);
        assert_eq!(Histogram::default().mean(), None);
        assert_eq!(h.percentile(f64::NAN), None);
        // Counts weigh like repeated values.
        let mut w = Histogram::default();
        w.add(5, 3);
        w.add(20, 1);
        w.add(7, 0);
        assert_eq!(w.percentile(50.0), crate::sla::percentile(&[5, 5, 5, 20], 50.0));
        assert_eq!(w.percentile(90.0), crate::sla::percentile(&[5, 5, 5, 20], 90.0));
        let mut m = w.clone();
        m.merge(&h);
        assert_eq!(m.count(), 14);
    }

    #[test]
    fn shares_and_rollup() {
        let m = SavingsModel::default();
        let mut r = Rollup::new(Period::Month, date!(2026 - 09 - 20), date!(2026 - 10 - 10));
        assert_eq!(r.days(), 21);
        assert!(r.cell(date!(2026 - 09 - 19), "340104").is_none());
        assert!(r.cell(date!(2026 - 10 - 11), "340104").is_none());
        let c = r.cell(date!(2026 - 09 - 28), "340104").unwrap();
        c.add_visits(true, 962, AreaKind::Urban, &m);
        c.add_visits(false, 38, AreaKind::Urban, &m);
        c.add_fees(PaymentChannel::Alipay, 900, 900 * 2000, 0);
        c.add_fees(PaymentChannel::WechatQr, 86, 86 * 2000, 2000);
        c.add_fees(PaymentChannel::Cash, 14, 14 * 2000, 0);
        c.add_decisions(Channel::Online, true, 9);
        c.add_decisions(Channel::OnlineThenCounter, false, 1);
        c.add_decisions(Channel::Counter, true, 50);
        let c = r.cell(date!(2026 - 10 - 08), "340102").unwrap();
        c.add_submissions(Channel::Online, DeliveryMethod::Ems, 4, AreaKind::Urban, &m);
        c.add_submissions(Channel::Counter, DeliveryMethod::Pickup, 2, AreaKind::Urban, &m);
        c.add_users(10, 7);
        c.add_cycles(12, 3);
        c.add_bookings(5);

        let sep = &r.series()[0].1;
        assert_eq!(sep.booking_share_permille(), Some(962));
        assert_eq!(sep.online_share_permille(), Some(962));
        assert_eq!(sep.smart_fee_share_permille(), Some(986));
        assert_eq!(sep.smart_fees(), FeeTotal { count: 986, amount_fen: 986 * 2000, refunded_fen: 2000 });
        assert_eq!(sep.acceptance_permille(), Some(900));
        assert_eq!(sep.online_approved, 9);

        let series = r.series();
        assert_eq!(series.iter().map(|(b, _)| *b).collect::<Vec<_>>(), vec![date!(2026 - 09 - 01), date!(2026 - 10 - 01)]);
        let oct = &series[1].1;
        assert_eq!(oct.online_share_permille(), Some(1000));
        assert_eq!((oct.applications_online, oct.applications_counter, oct.bookings_made), (4, 2, 5));
        assert_eq!(oct.savings.trips, 10.0);
        assert_eq!(oct.booking_share_permille(), None);

        let units = r.units();
        assert_eq!(units.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>(), vec!["340102", "340104"]);
        let total = r.total();
        assert_eq!(total.visits(), 1000);
        // 962 booked visits at 0.2 trips and 4 online applications at 2.5.
        assert!((total.savings.trips - (962.0 * 0.2 + 10.0)).abs() < 1e-9);
        assert_eq!(total.online_share_permille(), Some(((966 * 1000 + 502) / 1004) as u32));
        assert_eq!(r.cells().count(), 2);
        assert!(Counts::default().is_empty() && !total.is_empty());

        assert_eq!(permille(1, 3), Some(333));
        assert_eq!(permille(2, 3), Some(667));
        assert_eq!(permille(5, 3), Some(1000));
        assert_eq!(permille(0, 0), None);
    }
}
