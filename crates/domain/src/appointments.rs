//! Smart appointments (智能预约): services, opening hours, slot generation and booking rules.
//!
//! Everything here is pure: "today"/"now" are parameters and all times are **local China time**
//! (UTC+8, no DST) as `time::Date` / `time::Time` / `time::PrimitiveDateTime`.
//!
//! # Opening hours text form
//!
//! [`OpeningHours`] is stored and edited as one line (the same text the store keeps in
//! `acceptance_points.opening_hours`), e.g.
//! `"mon-fri 09:00-12:00,13:30-17:00; sat 09:00-12:00"`. Grammar (ABNF-ish, case-insensitive,
//! spaces allowed around `;` `,` `-`):
//!
//! ```text
//! hours     = "closed" / rule *( ";" rule ) [ ";" ]
//! rule      = days 1*SP ( intervals / "closed" )
//! days      = dayspec *( "," dayspec )
//! dayspec   = day [ "-" day ]             ; a range must ascend within mon..sun ("fri-mon" is an error)
//! day       = "mon" / "tue" / "wed" / "thu" / "fri" / "sat" / "sun"
//! intervals = interval *( "," interval )  ; in order, not overlapping (touching is allowed)
//! interval  = time "-" time               ; start < end, both within 06:00..=22:00
//! time      = 2DIGIT ":" 2DIGIT           ; 24-hour clock, e.g. 09:00, 13:30
//! ```
//!
//! A weekday may appear in only one rule; weekdays not mentioned are closed. `"closed"` alone
//! means no regular hours at all. [`OpeningHours::format`] writes the canonical form (weekdays
//! with identical hours grouped, consecutive ones as ranges), and `parse(format(h)) == h`.
//! A single day's hours ([`DayHours`], used by the `hours` day exception) use the `intervals`
//! part alone: `"09:00-12:00,13:30-17:00"` (or `"closed"`).
//!
//! # Which days are open ([`day_schedule`])
//!
//! In this order:
//! 1. A [`ExceptionKind::Closed`] exception for the date closes it.
//! 2. A [`ExceptionKind::Hours`] exception replaces that day's hours, **also on holidays and
//!    weekends**: an administrator who enters hours for a date deliberately opens it.
//! 3. Statutory holidays and their rest days (`DayKind::Holiday`, e.g. 2025-10-01..08) are closed.
//! 4. Make-up working days (调休上班, `DayKind::MakeUpWorkday`, e.g. Sunday 2025-09-28) are
//!    **open**, using that weekday's own hours when the point has any (a point open on Saturday
//!    mornings keeps its Saturday hours), otherwise **Monday's hours**, otherwise the first of
//!    Tuesday..Friday that has hours.
//! 5. Ordinary weekends are open only when the point has hours for that weekday (e.g. a
//!    `sat 09:00-12:00` rule): a point that advertises Saturday service gives it on ordinary
//!    Saturdays. Without weekend hours they are closed, as the official calendar says.
//! 6. Ordinary working days use the weekday's hours.
//!
//! [`ExceptionKind::ExtraCapacity`] adds seats to every slot of an open day (several add up).
//!
//! # Slots ([`slots_for_day`])
//!
//! Each interval is cut into consecutive slots of `slot_minutes` from its start; a remainder
//! shorter than one slot is not offered (09:00-12:00 with 40-minute slots gives 09:00, 09:40,
//! 10:20, and 11:00-11:40; 11:40-12:00 is dropped). Capacity = `capacity_per_slot` + extra.
//!
//! # Booking rules
//!
//! Pure checks with stable error codes ([`BookingRuleError::code`]): [`check_bookable`]
//! (not past, at least `min_lead_minutes` ahead), [`can_cancel`] (until `cutoff_minutes` before
//! the start), [`check_suspension`] (monthly cancellation / no-show limits), [`check_check_in`]
//! and [`check_point_status`]. The atomic capacity check itself belongs to the database.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month, PrimitiveDateTime, Time, Weekday};

use crate::calendar::{DayKind, WorkCalendar};
use crate::load::PointStatus;
use crate::timefmt;

// ---------------------------------------------------------------------------------------------
// Services

/// A service an acceptance point offers and a citizen books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// 首次申领
    FirstIssue,
    /// 换领 (expiry, change of items, damage)
    Renewal,
    /// 补领 (lost card)
    Replacement,
    /// 证件照采集
    PhotoCapture,
    /// 领取证件
    Pickup,
}

impl Service {
    pub const ALL: [Service; 5] = [
        Service::FirstIssue,
        Service::Renewal,
        Service::Replacement,
        Service::PhotoCapture,
        Service::Pickup,
    ];

    /// Stable code, e.g. `"photo_capture"` (same as the serde form and the store's column).
    pub fn code(self) -> &'static str {
        match self {
            Service::FirstIssue => "first_issue",
            Service::Renewal => "renewal",
            Service::Replacement => "replacement",
            Service::PhotoCapture => "photo_capture",
            Service::Pickup => "pickup",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Service::FirstIssue => "首次申领",
            Service::Renewal => "换领",
            Service::Replacement => "补领",
            Service::PhotoCapture => "证件照采集",
            Service::Pickup => "领取证件",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Service::FirstIssue => "First issue",
            Service::Renewal => "Renewal",
            Service::Replacement => "Replacement",
            Service::PhotoCapture => "Photo capture",
            Service::Pickup => "Card pickup",
        }
    }

    /// Parses a code (trimmed, case-insensitive).
    pub fn parse(s: &str) -> Result<Service, ScheduleError> {
        let t = s.trim();
        Self::ALL
            .into_iter()
            .find(|v| v.code().eq_ignore_ascii_case(t))
            .ok_or_else(|| ScheduleError::UnknownService {
                found: t.chars().take(40).collect(),
            })
    }

    /// Parses a comma-separated list (`"first_issue,renewal"`, the store's `services` column):
    /// result sorted and de-duplicated; an empty list is an error.
    pub fn parse_list(s: &str) -> Result<Vec<Service>, ScheduleError> {
        let mut v = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(Service::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if v.is_empty() {
            return Err(ScheduleError::NoServices);
        }
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// Inverse of [`parse_list`](Self::parse_list): codes joined with `,`.
    pub fn format_list(services: &[Service]) -> String {
        services
            .iter()
            .map(|s| s.code())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

// ---------------------------------------------------------------------------------------------
// Errors for configuration (hours, plans, exceptions, services)

/// Earliest opening time accepted in [`OpeningHours`].
pub const EARLIEST_OPENING: Time = time::macros::time!(06:00);
/// Latest closing time accepted in [`OpeningHours`].
pub const LATEST_CLOSING: Time = time::macros::time!(22:00);

/// Why opening hours, a slot plan, a day exception or a service list was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("unknown service {found:?}")]
    UnknownService { found: String },
    #[error("at least one service is required")]
    NoServices,
    #[error("opening hours are empty")]
    HoursEmpty,
    /// A rule or interval does not match the grammar; `part` is the offending fragment.
    #[error("cannot read opening hours near {part:?}: expected {expected}")]
    HoursSyntax {
        part: String,
        expected: &'static str,
    },
    #[error("unknown weekday {found:?} (use mon, tue, wed, thu, fri, sat, sun)")]
    UnknownWeekday { found: String },
    #[error("weekday range {found:?} must run forwards within mon..sun")]
    WeekdayRange { found: String },
    #[error("{day} appears in more than one rule")]
    DuplicateWeekday { day: Weekday },
    #[error("invalid time {found:?} (use HH:MM, 24-hour clock)")]
    BadTime { found: String },
    #[error("interval {start}-{end} ends before it starts")]
    IntervalEmpty { start: String, end: String },
    #[error("interval {start}-{end} lies outside 06:00-22:00")]
    OutsideDay { start: String, end: String },
    /// Intervals of one day overlap or are not in order.
    #[error("intervals {first} and {second} overlap or are out of order")]
    IntervalOrder { first: String, second: String },
    #[error("slot length {found} min is outside 10-120")]
    SlotMinutes { found: u32 },
    #[error("capacity per slot {found} is outside 1-500")]
    SlotCapacity { found: u32 },
    #[error("extra capacity per slot {found} is outside 1-500")]
    ExtraCapacity { found: u32 },
    #[error("number of windows {found} is outside 1-100")]
    Windows { found: u32 },
    #[error("unknown day exception kind {found:?}")]
    ExceptionKind { found: String },
    #[error("closure reason is longer than 200 characters")]
    ReasonTooLong,
}

impl ScheduleError {
    /// Stable machine code, e.g. `"hours_overlap"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownService { .. } => "unknown_service",
            Self::NoServices => "no_services",
            Self::HoursEmpty => "hours_empty",
            Self::HoursSyntax { .. } => "hours_syntax",
            Self::UnknownWeekday { .. } => "hours_weekday",
            Self::WeekdayRange { .. } => "hours_weekday_range",
            Self::DuplicateWeekday { .. } => "hours_duplicate_day",
            Self::BadTime { .. } => "hours_time",
            Self::IntervalEmpty { .. } => "hours_interval_empty",
            Self::OutsideDay { .. } => "hours_out_of_range",
            Self::IntervalOrder { .. } => "hours_overlap",
            Self::SlotMinutes { .. } => "slot_minutes",
            Self::SlotCapacity { .. } => "slot_capacity",
            Self::ExtraCapacity { .. } => "extra_capacity",
            Self::Windows { .. } => "windows",
            Self::ExceptionKind { .. } => "exception_kind",
            Self::ReasonTooLong => "exception_reason_length",
        }
    }

    pub fn message_zh(&self) -> String {
        match self {
            Self::UnknownService { found } => format!("未知的业务类型“{found}”。"),
            Self::NoServices => "请至少选择一项业务。".into(),
            Self::HoursEmpty => "请填写办公时间（如 mon-fri 09:00-12:00,13:30-17:00）。".into(),
            Self::HoursSyntax { part, .. } => {
                format!(
                    "办公时间格式有误：“{part}”。示例：mon-fri 09:00-12:00,13:30-17:00; sat 09:00-12:00"
                )
            }
            Self::UnknownWeekday { found } => {
                format!("无法识别的星期“{found}”，请使用 mon、tue、wed、thu、fri、sat、sun。")
            }
            Self::WeekdayRange { found } => format!("星期范围“{found}”应按周一至周日顺序书写。"),
            Self::DuplicateWeekday { day } => {
                format!("{}在办公时间中出现了多次。", weekday_zh(*day))
            }
            Self::BadTime { found } => format!("时间“{found}”无效，请使用24小时制 HH:MM。"),
            Self::IntervalEmpty { start, end } => {
                format!("时段 {start}-{end} 的结束时间早于开始时间。")
            }
            Self::OutsideDay { start, end } => {
                format!("时段 {start}-{end} 超出 06:00-22:00 的范围。")
            }
            Self::IntervalOrder { first, second } => {
                format!("时段 {first} 与 {second} 重叠或顺序颠倒，请按时间先后填写。")
            }
            Self::SlotMinutes { found } => {
                format!("每个时段长度应为10至120分钟（当前{found}分钟）。")
            }
            Self::SlotCapacity { found } => format!("每个时段可约人数应为1至500（当前{found}）。"),
            Self::ExtraCapacity { found } => {
                format!("每个时段增加的名额应为1至500（当前{found}）。")
            }
            Self::Windows { found } => format!("窗口数应为1至100（当前{found}）。"),
            Self::ExceptionKind { found } => format!("未知的特殊日期类型“{found}”。"),
            Self::ReasonTooLong => "停办原因不能超过200个字。".into(),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            Self::UnknownService { found } => format!("Unknown service \"{found}\"."),
            Self::NoServices => "Choose at least one service.".into(),
            Self::HoursEmpty => {
                "Enter the opening hours (e.g. mon-fri 09:00-12:00,13:30-17:00).".into()
            }
            Self::HoursSyntax { part, expected } => format!(
                "Cannot read the opening hours near \"{part}\": expected {expected}. Example: \
                 mon-fri 09:00-12:00,13:30-17:00; sat 09:00-12:00"
            ),
            Self::UnknownWeekday { found } => {
                format!("Unknown weekday \"{found}\"; use mon, tue, wed, thu, fri, sat or sun.")
            }
            Self::WeekdayRange { found } => {
                format!("The weekday range \"{found}\" must run forwards from Monday to Sunday.")
            }
            Self::DuplicateWeekday { day } => {
                format!("{day} appears more than once in the opening hours.")
            }
            Self::BadTime { found } => {
                format!("\"{found}\" is not a valid time; use HH:MM on the 24-hour clock.")
            }
            Self::IntervalEmpty { start, end } => {
                format!("The interval {start}-{end} ends before it starts.")
            }
            Self::OutsideDay { start, end } => {
                format!("The interval {start}-{end} lies outside 06:00-22:00.")
            }
            Self::IntervalOrder { first, second } => format!(
                "The intervals {first} and {second} overlap or are out of order; list them in time order."
            ),
            Self::SlotMinutes { found } => {
                format!("A slot must last 10 to 120 minutes (got {found}).")
            }
            Self::SlotCapacity { found } => {
                format!("Capacity per slot must be 1 to 500 (got {found}).")
            }
            Self::ExtraCapacity { found } => {
                format!("Extra capacity per slot must be 1 to 500 (got {found}).")
            }
            Self::Windows { found } => {
                format!("The number of windows must be 1 to 100 (got {found}).")
            }
            Self::ExceptionKind { found } => format!("Unknown day exception kind \"{found}\"."),
            Self::ReasonTooLong => "The closure reason must not exceed 200 characters.".into(),
        }
    }
}

fn weekday_zh(d: Weekday) -> &'static str {
    match d {
        Weekday::Monday => "周一",
        Weekday::Tuesday => "周二",
        Weekday::Wednesday => "周三",
        Weekday::Thursday => "周四",
        Weekday::Friday => "周五",
        Weekday::Saturday => "周六",
        Weekday::Sunday => "周日",
    }
}

const DAY_CODES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn weekday_from_index(i: usize) -> Weekday {
    [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ][i]
}

fn minutes(t: Time) -> u32 {
    t.hour() as u32 * 60 + t.minute() as u32
}

fn time_at(m: u32) -> Time {
    Time::from_hms((m / 60) as u8, (m % 60) as u8, 0).expect("minute of day")
}

// ---------------------------------------------------------------------------------------------
// Intervals and hours

/// One opening interval `[start, end)` of a day, minute precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Interval {
    #[serde(with = "timefmt::hm")]
    pub start: Time,
    #[serde(with = "timefmt::hm")]
    pub end: Time,
}

impl Interval {
    /// Validates start < end, both within 06:00..=22:00, whole minutes.
    pub fn new(start: Time, end: Time) -> Result<Interval, ScheduleError> {
        let (s, e) = (timefmt::format_hm(start), timefmt::format_hm(end));
        if start.second() != 0 || start.nanosecond() != 0 {
            return Err(ScheduleError::BadTime { found: s });
        }
        if end.second() != 0 || end.nanosecond() != 0 {
            return Err(ScheduleError::BadTime { found: e });
        }
        if start >= end {
            return Err(ScheduleError::IntervalEmpty { start: s, end: e });
        }
        if start < EARLIEST_OPENING || end > LATEST_CLOSING {
            return Err(ScheduleError::OutsideDay { start: s, end: e });
        }
        Ok(Interval { start, end })
    }

    pub fn minutes(&self) -> u32 {
        minutes(self.end) - minutes(self.start)
    }

    fn parse(s: &str) -> Result<Interval, ScheduleError> {
        let t = s.trim();
        let Some((a, b)) = t.split_once('-') else {
            return Err(ScheduleError::HoursSyntax {
                part: t.into(),
                expected: "an interval HH:MM-HH:MM",
            });
        };
        let time = |x: &str| {
            let x = x.trim();
            timefmt::parse_hm(x).ok_or_else(|| ScheduleError::BadTime { found: x.into() })
        };
        Interval::new(time(a)?, time(b)?)
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            timefmt::format_hm(self.start),
            timefmt::format_hm(self.end)
        )
    }
}

/// The opening intervals of one day: ordered, non-overlapping (touching allowed), each within
/// 06:00..=22:00. Empty = closed. Serialises as its text form (`"09:00-12:00,13:30-17:00"`,
/// `"closed"`), validated on deserialisation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DayHours {
    intervals: Vec<Interval>,
}

impl DayHours {
    pub fn closed() -> DayHours {
        DayHours::default()
    }

    /// Validates order and overlap (each interval is already valid by construction).
    pub fn new(intervals: Vec<Interval>) -> Result<DayHours, ScheduleError> {
        for w in intervals.windows(2) {
            if w[1].start < w[0].end {
                return Err(ScheduleError::IntervalOrder {
                    first: w[0].to_string(),
                    second: w[1].to_string(),
                });
            }
        }
        Ok(DayHours { intervals })
    }

    pub fn intervals(&self) -> &[Interval] {
        &self.intervals
    }

    pub fn is_closed(&self) -> bool {
        self.intervals.is_empty()
    }

    /// Total open minutes.
    pub fn open_minutes(&self) -> u32 {
        self.intervals.iter().map(Interval::minutes).sum()
    }

    /// Whether `t` falls inside an interval (`start <= t < end`).
    pub fn is_open_at(&self, t: Time) -> bool {
        self.intervals.iter().any(|i| i.start <= t && t < i.end)
    }

    /// Parses `"09:00-12:00,13:30-17:00"` or `"closed"`.
    pub fn parse(s: &str) -> Result<DayHours, ScheduleError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(ScheduleError::HoursEmpty);
        }
        if t.eq_ignore_ascii_case("closed") {
            return Ok(DayHours::closed());
        }
        let intervals = t
            .split(',')
            .map(Interval::parse)
            .collect::<Result<Vec<_>, _>>()?;
        DayHours::new(intervals)
    }

    pub fn format(&self) -> String {
        if self.is_closed() {
            return "closed".into();
        }
        self.intervals
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for DayHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format())
    }
}

impl TryFrom<String> for DayHours {
    type Error = ScheduleError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DayHours::parse(&s)
    }
}

impl From<DayHours> for String {
    fn from(h: DayHours) -> String {
        h.format()
    }
}

/// Regular weekly opening hours of a point (see the module docs for the text grammar).
/// Serialises as the canonical text form, validated on deserialisation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OpeningHours {
    /// Index 0 = Monday .. 6 = Sunday.
    days: [DayHours; 7],
}

impl OpeningHours {
    /// From per-weekday hours, Monday first.
    pub fn from_days(days: [DayHours; 7]) -> OpeningHours {
        OpeningHours { days }
    }

    /// The usual 户政 hall: Monday–Friday 09:00–12:00 and 13:30–17:00 (the store's default).
    pub fn standard() -> OpeningHours {
        OpeningHours::parse("mon-fri 09:00-12:00,13:30-17:00").expect("valid")
    }

    pub fn day(&self, d: Weekday) -> &DayHours {
        &self.days[d.number_days_from_monday() as usize]
    }

    /// Replaces one weekday's hours.
    pub fn set_day(&mut self, d: Weekday, hours: DayHours) {
        self.days[d.number_days_from_monday() as usize] = hours;
    }

    /// (weekday, hours) Monday first, including closed days.
    pub fn days(&self) -> impl Iterator<Item = (Weekday, &DayHours)> {
        self.days
            .iter()
            .enumerate()
            .map(|(i, h)| (weekday_from_index(i), h))
    }

    pub fn is_always_closed(&self) -> bool {
        self.days.iter().all(DayHours::is_closed)
    }

    /// Parses the compact text form; see the module docs for the grammar.
    pub fn parse(s: &str) -> Result<OpeningHours, ScheduleError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(ScheduleError::HoursEmpty);
        }
        let mut out = OpeningHours::default();
        if t.eq_ignore_ascii_case("closed") {
            return Ok(out);
        }
        let mut seen = [false; 7];
        let rules: Vec<&str> = t.split(';').map(str::trim).collect();
        for (n, rule) in rules.iter().enumerate() {
            if rule.is_empty() {
                if n + 1 == rules.len() && n > 0 {
                    continue; // one trailing ';'
                }
                return Err(ScheduleError::HoursSyntax {
                    part: t.into(),
                    expected: "rules separated by single ';'",
                });
            }
            let (days_part, hours_part) = split_rule(rule)?;
            let days = parse_days(days_part)?;
            let hours = DayHours::parse(hours_part)?;
            for d in days {
                if std::mem::replace(&mut seen[d], true) {
                    return Err(ScheduleError::DuplicateWeekday {
                        day: weekday_from_index(d),
                    });
                }
                out.days[d] = hours.clone();
            }
        }
        Ok(out)
    }

    /// Canonical text: weekdays with identical hours grouped in order of first appearance,
    /// consecutive weekdays as ranges (`mon-fri`), closed days omitted; `"closed"` if none open.
    pub fn format(&self) -> String {
        let mut rules: Vec<(Vec<usize>, &DayHours)> = Vec::new();
        for (i, h) in self.days.iter().enumerate() {
            if h.is_closed() {
                continue;
            }
            match rules.iter_mut().find(|(_, rh)| *rh == h) {
                Some((ds, _)) => ds.push(i),
                None => rules.push((vec![i], h)),
            }
        }
        if rules.is_empty() {
            return "closed".into();
        }
        rules
            .iter()
            .map(|(ds, h)| format!("{} {}", format_days(ds), h.format()))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn split_rule(rule: &str) -> Result<(&str, &str), ScheduleError> {
    // The days part is letters, ',', '-' and spaces; the hours part starts at the first digit
    // or at a trailing "closed".
    let idx = rule.find(|c: char| c.is_ascii_digit()).or_else(|| {
        let lower = rule.to_ascii_lowercase();
        lower
            .strip_suffix("closed")
            .map(|p| p.len())
            .filter(|&i| i > 0)
    });
    match idx {
        Some(i) if !rule[..i].trim().is_empty() => {
            if !rule[..i].ends_with(char::is_whitespace) {
                return Err(ScheduleError::HoursSyntax {
                    part: rule.into(),
                    expected: "weekdays, a space, then intervals",
                });
            }
            Ok((rule[..i].trim(), rule[i..].trim()))
        }
        _ => Err(ScheduleError::HoursSyntax {
            part: rule.into(),
            expected: "weekdays followed by intervals, e.g. \"mon-fri 09:00-17:00\"",
        }),
    }
}

fn parse_day(s: &str) -> Result<usize, ScheduleError> {
    let t = s.trim();
    DAY_CODES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(t))
        .ok_or_else(|| ScheduleError::UnknownWeekday {
            found: t.chars().take(20).collect(),
        })
}

fn parse_days(s: &str) -> Result<Vec<usize>, ScheduleError> {
    let mut out = Vec::new();
    for spec in s.split(',') {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(ScheduleError::HoursSyntax {
                part: s.into(),
                expected: "a weekday",
            });
        }
        match spec.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (parse_day(a)?, parse_day(b)?);
                if a > b {
                    return Err(ScheduleError::WeekdayRange { found: spec.into() });
                }
                out.extend(a..=b);
            }
            None => out.push(parse_day(spec)?),
        }
    }
    // A day listed twice within one rule ("mon-fri,wed") is a duplicate too.
    let mut seen = [false; 7];
    for &d in &out {
        if std::mem::replace(&mut seen[d], true) {
            return Err(ScheduleError::DuplicateWeekday {
                day: weekday_from_index(d),
            });
        }
    }
    Ok(out)
}

fn format_days(ds: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < ds.len() {
        let mut j = i;
        while j + 1 < ds.len() && ds[j + 1] == ds[j] + 1 {
            j += 1;
        }
        if i == j {
            parts.push(DAY_CODES[ds[i]].to_string());
        } else {
            parts.push(format!("{}-{}", DAY_CODES[ds[i]], DAY_CODES[ds[j]]));
        }
        i = j + 1;
    }
    parts.join(",")
}

impl fmt::Display for OpeningHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format())
    }
}

impl std::str::FromStr for OpeningHours {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OpeningHours::parse(s)
    }
}

impl TryFrom<String> for OpeningHours {
    type Error = ScheduleError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        OpeningHours::parse(&s)
    }
}

impl From<OpeningHours> for String {
    fn from(h: OpeningHours) -> String {
        h.format()
    }
}

// ---------------------------------------------------------------------------------------------
// Slot plan, exceptions

/// How a point cuts its hours into bookable slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "SlotPlanRaw")]
pub struct SlotPlan {
    slot_minutes: u32,
    capacity_per_slot: u32,
}

#[derive(Deserialize)]
struct SlotPlanRaw {
    slot_minutes: u32,
    capacity_per_slot: u32,
}

impl TryFrom<SlotPlanRaw> for SlotPlan {
    type Error = ScheduleError;
    fn try_from(r: SlotPlanRaw) -> Result<Self, Self::Error> {
        SlotPlan::new(r.slot_minutes, r.capacity_per_slot)
    }
}

impl SlotPlan {
    pub const MIN_SLOT_MINUTES: u32 = 10;
    pub const MAX_SLOT_MINUTES: u32 = 120;
    pub const MAX_CAPACITY: u32 = 500;

    /// Slot length 10–120 minutes, capacity 1–500 per slot.
    pub fn new(slot_minutes: u32, capacity_per_slot: u32) -> Result<SlotPlan, ScheduleError> {
        if !(Self::MIN_SLOT_MINUTES..=Self::MAX_SLOT_MINUTES).contains(&slot_minutes) {
            return Err(ScheduleError::SlotMinutes {
                found: slot_minutes,
            });
        }
        if !(1..=Self::MAX_CAPACITY).contains(&capacity_per_slot) {
            return Err(ScheduleError::SlotCapacity {
                found: capacity_per_slot,
            });
        }
        Ok(SlotPlan {
            slot_minutes,
            capacity_per_slot,
        })
    }

    pub fn slot_minutes(&self) -> u32 {
        self.slot_minutes
    }

    pub fn capacity_per_slot(&self) -> u32 {
        self.capacity_per_slot
    }
}

/// What an administrator changed for one date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ExceptionKind {
    /// Closed all day (e.g. staff training, power cut); reason shown to citizens (≤ 200 chars).
    Closed { reason: String },
    /// Extra seats added to every slot of the day (1–500).
    ExtraCapacity { per_slot: u32 },
    /// Different hours for the day (may open a holiday or weekend; see module docs).
    Hours(DayHours),
}

impl ExceptionKind {
    /// `"closed"`, `"extra_capacity"` or `"hours"` (the store's `kind` column).
    pub fn code(&self) -> &'static str {
        match self {
            ExceptionKind::Closed { .. } => "closed",
            ExceptionKind::ExtraCapacity { .. } => "extra_capacity",
            ExceptionKind::Hours(_) => "hours",
        }
    }

    /// The store's `value` column: the reason, the number of extra seats, or the day's hours.
    pub fn value_text(&self) -> String {
        match self {
            ExceptionKind::Closed { reason } => reason.clone(),
            ExceptionKind::ExtraCapacity { per_slot } => per_slot.to_string(),
            ExceptionKind::Hours(h) => h.format(),
        }
    }

    /// Inverse of ([`code`](Self::code), [`value_text`](Self::value_text)), validating.
    pub fn from_parts(kind: &str, value: &str) -> Result<ExceptionKind, ScheduleError> {
        match kind.trim() {
            "closed" => ExceptionKind::closed(value),
            "extra_capacity" => {
                let n = value.trim().parse::<u32>().unwrap_or(0);
                ExceptionKind::extra_capacity(n)
            }
            "hours" => Ok(ExceptionKind::Hours(DayHours::parse(value)?)),
            other => Err(ScheduleError::ExceptionKind {
                found: other.chars().take(40).collect(),
            }),
        }
    }

    pub fn closed(reason: &str) -> Result<ExceptionKind, ScheduleError> {
        let reason = reason.trim();
        if reason.chars().count() > 200 {
            return Err(ScheduleError::ReasonTooLong);
        }
        Ok(ExceptionKind::Closed {
            reason: reason.into(),
        })
    }

    pub fn extra_capacity(per_slot: u32) -> Result<ExceptionKind, ScheduleError> {
        if !(1..=SlotPlan::MAX_CAPACITY).contains(&per_slot) {
            return Err(ScheduleError::ExtraCapacity { found: per_slot });
        }
        Ok(ExceptionKind::ExtraCapacity { per_slot })
    }

    /// Re-checks the invariants (useful after deserialising).
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self {
            ExceptionKind::Closed { reason } => ExceptionKind::closed(reason).map(|_| ()),
            ExceptionKind::ExtraCapacity { per_slot } => {
                ExceptionKind::extra_capacity(*per_slot).map(|_| ())
            }
            ExceptionKind::Hours(_) => Ok(()),
        }
    }
}

/// A per-date exception of one point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayException {
    #[serde(with = "timefmt::date")]
    pub date: Date,
    #[serde(flatten)]
    pub kind: ExceptionKind,
}

// ---------------------------------------------------------------------------------------------
// Day schedule and slots

/// Why a point has no slots on a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ClosedReason {
    /// Statutory holiday or its rest day, with the holiday's name (e.g. "国庆节").
    Holiday { name: String },
    /// Ordinary Saturday/Sunday and the point has no hours for it.
    Weekend,
    /// Working day but the point has no hours on this weekday.
    NoHours,
    /// Closed by an administrator's exception.
    Exception { note: String },
}

impl ClosedReason {
    pub fn code(&self) -> &'static str {
        match self {
            ClosedReason::Holiday { .. } => "holiday",
            ClosedReason::Weekend => "weekend",
            ClosedReason::NoHours => "no_hours",
            ClosedReason::Exception { .. } => "exception",
        }
    }

    pub fn message_zh(&self) -> String {
        match self {
            ClosedReason::Holiday { name } => format!("{name}假期，暂停办理。"),
            ClosedReason::Weekend => "周末休息。".into(),
            ClosedReason::NoHours => "当日不对外办公。".into(),
            ClosedReason::Exception { note } if note.is_empty() => "当日暂停办理。".into(),
            ClosedReason::Exception { note } => format!("当日暂停办理：{note}"),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            ClosedReason::Holiday { name } => format!("Closed for the public holiday ({name})."),
            ClosedReason::Weekend => "Closed at the weekend.".into(),
            ClosedReason::NoHours => "Not open on this day of the week.".into(),
            ClosedReason::Exception { note } if note.is_empty() => "Closed on this day.".into(),
            ClosedReason::Exception { note } => format!("Closed on this day: {note}"),
        }
    }
}

/// Where an open day's hours come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoursBasis {
    /// The weekday's regular hours.
    Regular,
    /// Make-up working day (调休上班), with hours of the weekday given (its own or Monday's…).
    MakeUpDay {
        #[serde(serialize_with = "ser_weekday")]
        hours_of: Weekday,
    },
    /// An administrator's `hours` exception.
    Exception,
}

fn ser_weekday<S: serde::Serializer>(d: &Weekday, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(weekday_code(*d))
}

/// `"mon"` .. `"sun"` (as in the opening-hours text).
pub fn weekday_code(d: Weekday) -> &'static str {
    DAY_CODES[d.number_days_from_monday() as usize]
}

/// Whether and how a point opens on a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DaySchedule {
    Open {
        hours: DayHours,
        extra_per_slot: u32,
        basis: HoursBasis,
    },
    Closed(ClosedReason),
}

impl DaySchedule {
    pub fn is_open(&self) -> bool {
        matches!(self, DaySchedule::Open { .. })
    }
}

/// Decides whether the point opens on `date` (rules in the module docs). Exceptions for other
/// dates are ignored, so the point's whole exception list can be passed.
pub fn day_schedule(
    hours: &OpeningHours,
    date: Date,
    calendar: &WorkCalendar,
    exceptions: &[DayException],
) -> DaySchedule {
    let todays = exceptions.iter().filter(|e| e.date == date);
    let mut override_hours: Option<&DayHours> = None;
    let mut extra = 0u32;
    for e in todays {
        match &e.kind {
            ExceptionKind::Closed { reason } => {
                return DaySchedule::Closed(ClosedReason::Exception {
                    note: reason.clone(),
                });
            }
            ExceptionKind::Hours(h) => override_hours = Some(h),
            ExceptionKind::ExtraCapacity { per_slot } => extra = extra.saturating_add(*per_slot),
        }
    }
    let open = |h: &DayHours, basis| {
        if h.is_closed() {
            // An `hours` exception of "closed" closes the day.
            DaySchedule::Closed(ClosedReason::Exception {
                note: String::new(),
            })
        } else {
            DaySchedule::Open {
                hours: h.clone(),
                extra_per_slot: extra,
                basis,
            }
        }
    };
    if let Some(h) = override_hours {
        return open(h, HoursBasis::Exception);
    }
    let wd = date.weekday();
    match calendar.day_kind(date) {
        DayKind::Holiday(name) => DaySchedule::Closed(ClosedReason::Holiday { name: name.into() }),
        DayKind::MakeUpWorkday(_) => {
            let order = [
                wd,
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday,
                Weekday::Friday,
            ];
            match order.into_iter().find(|d| !hours.day(*d).is_closed()) {
                Some(d) => open(hours.day(d), HoursBasis::MakeUpDay { hours_of: d }),
                None => DaySchedule::Closed(ClosedReason::NoHours),
            }
        }
        DayKind::Weekend if hours.day(wd).is_closed() => DaySchedule::Closed(ClosedReason::Weekend),
        DayKind::Weekend | DayKind::Workday if !hours.day(wd).is_closed() => {
            open(hours.day(wd), HoursBasis::Regular)
        }
        _ => DaySchedule::Closed(ClosedReason::NoHours),
    }
}

/// One bookable slot of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SlotSpec {
    #[serde(with = "timefmt::date")]
    pub date: Date,
    #[serde(with = "timefmt::hm")]
    pub start: Time,
    #[serde(with = "timefmt::hm")]
    pub end: Time,
    pub capacity: u32,
}

impl SlotSpec {
    pub fn starts_at(&self) -> PrimitiveDateTime {
        PrimitiveDateTime::new(self.date, self.start)
    }

    pub fn ends_at(&self) -> PrimitiveDateTime {
        PrimitiveDateTime::new(self.date, self.end)
    }

    /// Minutes after local midnight (the store's `start_min`).
    pub fn start_minute(&self) -> u32 {
        minutes(self.start)
    }

    /// Minutes after local midnight (the store's `end_min`).
    pub fn end_minute(&self) -> u32 {
        minutes(self.end)
    }
}

/// Slots of one day, in time order; empty when [`day_schedule`] says closed.
pub fn slots_for_day(
    hours: &OpeningHours,
    plan: &SlotPlan,
    date: Date,
    calendar: &WorkCalendar,
    exceptions: &[DayException],
) -> Vec<SlotSpec> {
    let DaySchedule::Open {
        hours: day,
        extra_per_slot,
        ..
    } = day_schedule(hours, date, calendar, exceptions)
    else {
        return Vec::new();
    };
    let capacity = plan.capacity_per_slot.saturating_add(extra_per_slot);
    let step = plan.slot_minutes;
    let mut out = Vec::new();
    for iv in day.intervals() {
        let (mut t, end) = (minutes(iv.start), minutes(iv.end));
        while t + step <= end {
            out.push(SlotSpec {
                date,
                start: time_at(t),
                end: time_at(t + step),
                capacity,
            });
            t += step;
        }
    }
    out
}

/// The dates for which slots are generated: every calendar date from `from` up to and including
/// the `horizon_working_days`-th working day, counting `from` itself when it is a working day.
/// Non-working dates inside the window are included on purpose (weekend hours and `hours`
/// exceptions may open them); [`slots_for_day`] returns nothing for closed dates.
/// `horizon_working_days = 0` gives an empty list.
///
/// Example: from Friday 2025-09-26 with 3 working days → 09-26 (Fri), 09-27 (Sat, closed),
/// 09-28 (Sun, make-up working day), 09-29 (Mon): the window ends on 09-29.
pub fn slot_days(from: Date, horizon_working_days: u32, calendar: &WorkCalendar) -> Vec<Date> {
    if horizon_working_days == 0 {
        return Vec::new();
    }
    let last = if calendar.is_working_day(from) {
        calendar.add_working_days(from, horizon_working_days - 1)
    } else {
        calendar.add_working_days(from, horizon_working_days)
    };
    let mut out = Vec::new();
    let mut d = from;
    while d <= last {
        out.push(d);
        d += Duration::days(1);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Booking rules

/// Why a booking-related action is refused by a pure rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookingRuleError {
    #[error("the slot has already started")]
    SlotPast,
    #[error("slots must be booked at least {min_lead_minutes} minutes ahead")]
    TooLate { min_lead_minutes: u32 },
    #[error("the slot is full")]
    SlotFull,
    #[error("cancellation closes {cutoff_minutes} minutes before the slot")]
    CancelCutoff { cutoff_minutes: u32 },
    /// Monthly cancellation or no-show limit reached; booking allowed again on `until`.
    #[error("booking is suspended until {until}")]
    Suspended {
        until: Date,
        cancellations: u32,
        no_shows: u32,
    },
    #[error("check-in opens {early_minutes} minutes before the slot")]
    CheckInTooEarly { early_minutes: u32 },
    #[error("check-in closed {late_minutes} minutes after the slot started")]
    CheckInTooLate { late_minutes: u32 },
    #[error("the acceptance point is paused")]
    PointPaused,
    #[error("the acceptance point is closed")]
    PointClosed,
}

impl BookingRuleError {
    /// Stable machine code, e.g. `"cancel_cutoff"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SlotPast => "slot_past",
            Self::TooLate { .. } => "slot_too_soon",
            Self::SlotFull => "slot_full",
            Self::CancelCutoff { .. } => "cancel_cutoff",
            Self::Suspended { .. } => "booking_suspended",
            Self::CheckInTooEarly { .. } => "check_in_too_early",
            Self::CheckInTooLate { .. } => "check_in_too_late",
            Self::PointPaused => "point_paused",
            Self::PointClosed => "point_closed",
        }
    }

    pub fn message_zh(&self) -> String {
        match self {
            Self::SlotPast => "该时段已开始或已过去，请选择其他时段。".into(),
            Self::TooLate { min_lead_minutes } => {
                format!("需至少提前{min_lead_minutes}分钟预约，请选择更晚的时段。")
            }
            Self::SlotFull => "该时段已约满，请选择其他时段或受理点。".into(),
            Self::CancelCutoff { cutoff_minutes } => {
                format!("距预约时间不足{cutoff_minutes}分钟，已不能取消或改约。")
            }
            Self::Suspended { until, .. } => format!(
                "本月取消或爽约次数已达上限，{}年{}月{}日前暂停预约。",
                until.year(),
                until.month() as u8,
                until.day()
            ),
            Self::CheckInTooEarly { early_minutes } => {
                format!("预约时间前{early_minutes}分钟起方可签到取号。")
            }
            Self::CheckInTooLate { late_minutes } => {
                format!("已超过预约时间{late_minutes}分钟，预约失效，请现场取号。")
            }
            Self::PointPaused => "该受理点暂停服务，请选择其他受理点。".into(),
            Self::PointClosed => "该受理点今日已停止办理，请选择其他日期或受理点。".into(),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            Self::SlotPast => "This slot has already started; please choose another.".into(),
            Self::TooLate { min_lead_minutes } => format!(
                "Slots must be booked at least {min_lead_minutes} minutes ahead; please choose a later one."
            ),
            Self::SlotFull => {
                "This slot is fully booked; please choose another time or point.".into()
            }
            Self::CancelCutoff { cutoff_minutes } => format!(
                "Appointments can no longer be cancelled or changed within {cutoff_minutes} minutes of the start."
            ),
            Self::Suspended { until, .. } => format!(
                "You have reached this month's limit of cancellations or missed appointments; \
                 booking is suspended until {}.",
                timefmt::format_date(*until)
            ),
            Self::CheckInTooEarly { early_minutes } => {
                format!("Check-in opens {early_minutes} minutes before your slot.")
            }
            Self::CheckInTooLate { late_minutes } => format!(
                "Check-in closed {late_minutes} minutes after your slot started; please take a walk-in number."
            ),
            Self::PointPaused => {
                "This acceptance point is paused; please choose another point.".into()
            }
            Self::PointClosed => {
                "This acceptance point is closed today; please choose another day or point.".into()
            }
        }
    }
}

fn mins(n: u32) -> Duration {
    Duration::minutes(n as i64)
}

/// A slot can be booked while `now <= slot_start - min_lead_minutes`.
/// Errors: [`SlotPast`](BookingRuleError::SlotPast) once `now >= slot_start`,
/// [`TooLate`](BookingRuleError::TooLate) inside the lead time.
pub fn check_bookable(
    slot_start: PrimitiveDateTime,
    now: PrimitiveDateTime,
    min_lead_minutes: u32,
) -> Result<(), BookingRuleError> {
    if now >= slot_start {
        Err(BookingRuleError::SlotPast)
    } else if now > slot_start - mins(min_lead_minutes) {
        Err(BookingRuleError::TooLate { min_lead_minutes })
    } else {
        Ok(())
    }
}

/// Boolean form of [`check_bookable`].
pub fn is_bookable(
    slot_start: PrimitiveDateTime,
    now: PrimitiveDateTime,
    min_lead_minutes: u32,
) -> bool {
    check_bookable(slot_start, now, min_lead_minutes).is_ok()
}

/// Capacity rule for display and pre-checks (the authoritative check is the database's atomic
/// conditional update): room while `booked < capacity`.
pub fn check_capacity(booked: u32, capacity: u32) -> Result<(), BookingRuleError> {
    if booked < capacity {
        Ok(())
    } else {
        Err(BookingRuleError::SlotFull)
    }
}

/// An appointment can be cancelled (or rescheduled away from) while
/// `now <= slot_start - cutoff_minutes`; afterwards [`CancelCutoff`](BookingRuleError::CancelCutoff)
/// (also once the slot has started).
pub fn can_cancel(
    slot_start: PrimitiveDateTime,
    now: PrimitiveDateTime,
    cutoff_minutes: u32,
) -> Result<(), BookingRuleError> {
    if now > slot_start - mins(cutoff_minutes) {
        Err(BookingRuleError::CancelCutoff { cutoff_minutes })
    } else {
        Ok(())
    }
}

/// Month key `"YYYY-MM"` for per-month counters (the store's `booking_counters.month`).
pub fn month_key(d: Date) -> String {
    format!("{:04}-{:02}", d.year(), d.month() as u8)
}

/// First day of the month after `d` (when a monthly suspension ends).
pub fn first_of_next_month(d: Date) -> Date {
    let (y, m) = match d.month() {
        Month::December => (d.year() + 1, Month::January),
        m => (d.year(), m.next()),
    };
    Date::from_calendar_date(y, m, 1).expect("valid date")
}

/// Monthly suspension: a citizen may cancel at most `max_cancellations` times per calendar month;
/// once `cancellations >= max_cancellations` (or `no_shows >= max_no_shows`) booking is
/// suspended until the first day of next month. A limit of 0 disables that limit.
/// `today` is the date of the booking attempt; the counters are that month's.
pub fn check_suspension(
    cancellations: u32,
    no_shows: u32,
    max_cancellations: u32,
    max_no_shows: u32,
    today: Date,
) -> Result<(), BookingRuleError> {
    let hit = |n: u32, max: u32| max > 0 && n >= max;
    if hit(cancellations, max_cancellations) || hit(no_shows, max_no_shows) {
        Err(BookingRuleError::Suspended {
            until: first_of_next_month(today),
            cancellations,
            no_shows,
        })
    } else {
        Ok(())
    }
}

/// Check-in at the counter is allowed from `early_minutes` before the slot start until
/// `late_minutes` after it (inclusive bounds).
pub fn check_check_in(
    slot_start: PrimitiveDateTime,
    now: PrimitiveDateTime,
    early_minutes: u32,
    late_minutes: u32,
) -> Result<(), BookingRuleError> {
    if now < slot_start - mins(early_minutes) {
        Err(BookingRuleError::CheckInTooEarly { early_minutes })
    } else if now > slot_start + mins(late_minutes) {
        Err(BookingRuleError::CheckInTooLate { late_minutes })
    } else {
        Ok(())
    }
}

/// A booked appointment not checked in becomes a no-show once `now >= slot_end + grace_minutes`.
pub fn is_no_show(slot_end: PrimitiveDateTime, now: PrimitiveDateTime, grace_minutes: u32) -> bool {
    now >= slot_end + mins(grace_minutes)
}

/// Whether the point's live status lets a citizen book a slot starting at `slot_start`:
/// - `Open`/`Busy`: yes.
/// - `Paused`: no, unless `status_until` is known and the slot starts at or after it.
/// - `Closed` (closed *today*): no for slots before `status_until`, or, when no reopening time is
///   known, for slots on `now`'s date; later days stay bookable.
pub fn check_point_status(
    status: PointStatus,
    status_until: Option<PrimitiveDateTime>,
    slot_start: PrimitiveDateTime,
    now: PrimitiveDateTime,
) -> Result<(), BookingRuleError> {
    match status {
        PointStatus::Open | PointStatus::Busy => Ok(()),
        PointStatus::Paused => match status_until {
            Some(u) if slot_start >= u => Ok(()),
            _ => Err(BookingRuleError::PointPaused),
        },
        PointStatus::Closed => {
            let until = status_until.unwrap_or_else(|| {
                PrimitiveDateTime::new(now.date().next_day().expect("date"), Time::MIDNIGHT)
            });
            if slot_start < until {
                Err(BookingRuleError::PointClosed)
            } else {
                Ok(())
            }
        }
    }
}

/// The configurable booking rules in one place (defaults are a reasonable start, not an
/// official figure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingPolicy {
    /// Working days ahead for which slots exist (default 14).
    pub horizon_working_days: u32,
    /// Minimum time between booking and slot start (default 30).
    pub min_lead_minutes: u32,
    /// Cancellation / reschedule closes this long before the start (default 120).
    pub cancel_cutoff_minutes: u32,
    /// Cancellations per calendar month before booking is suspended; 0 = no limit (default 3).
    pub max_cancellations_per_month: u32,
    /// No-shows per calendar month before booking is suspended; 0 = no limit (default 3).
    pub max_no_shows_per_month: u32,
    /// Check-in opens this long before the slot (default 60).
    pub check_in_early_minutes: u32,
    /// Check-in closes this long after the slot start (default 30).
    pub check_in_late_minutes: u32,
    /// A booked appointment becomes a no-show this long after the slot end (default 30).
    pub no_show_grace_minutes: u32,
}

impl Default for BookingPolicy {
    fn default() -> Self {
        BookingPolicy {
            horizon_working_days: 14,
            min_lead_minutes: 30,
            cancel_cutoff_minutes: 120,
            max_cancellations_per_month: 3,
            max_no_shows_per_month: 3,
            check_in_early_minutes: 60,
            check_in_late_minutes: 30,
            no_show_grace_minutes: 30,
        }
    }
}

impl BookingPolicy {
    pub fn check_bookable(
        &self,
        slot_start: PrimitiveDateTime,
        now: PrimitiveDateTime,
    ) -> Result<(), BookingRuleError> {
        check_bookable(slot_start, now, self.min_lead_minutes)
    }

    pub fn can_cancel(
        &self,
        slot_start: PrimitiveDateTime,
        now: PrimitiveDateTime,
    ) -> Result<(), BookingRuleError> {
        can_cancel(slot_start, now, self.cancel_cutoff_minutes)
    }

    pub fn check_suspension(
        &self,
        cancellations: u32,
        no_shows: u32,
        today: Date,
    ) -> Result<(), BookingRuleError> {
        check_suspension(
            cancellations,
            no_shows,
            self.max_cancellations_per_month,
            self.max_no_shows_per_month,
            today,
        )
    }

    pub fn check_check_in(
        &self,
        slot_start: PrimitiveDateTime,
        now: PrimitiveDateTime,
    ) -> Result<(), BookingRuleError> {
        check_check_in(
            slot_start,
            now,
            self.check_in_early_minutes,
            self.check_in_late_minutes,
        )
    }

    pub fn is_no_show(&self, slot_end: PrimitiveDateTime, now: PrimitiveDateTime) -> bool {
        is_no_show(slot_end, now, self.no_show_grace_minutes)
    }
}

#[cfg(test)]
#[path = "appointments_tests.rs"]
mod tests;
