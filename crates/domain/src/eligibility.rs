//! Who may use the fully online route (居民身份证网上办理), and what to do instead.
//!
//! The default [`OnlineRules`] are Hefei's published rules (see
//! `shared/docs/hefei-online-route-rules.md`); every rule is configurable and deserialises with
//! the defaults for missing fields. [`check_online`] returns **every** refusal at once, each
//! with a stable code, a message and an alternative ("instead"), so the citizen learns in one
//! visit everything that stands in the way, not one obstacle per attempt.
//!
//! Rule by rule (Hefei rule numbers in parentheses):
//! - registered residence (户籍) in Anhui (rule 4): the *registered division* decides, not the ID
//!   number's address code, which records the place of first registration and never changes;
//! - kinds: first applications go to the police station of the registered residence (rule 5);
//!   temporary cards are issued on the spot at a counter, so they are not offered online either;
//! - aged 18 or over (rule 6), in completed years on `today` (the 18th birthday itself qualifies);
//! - a card issued within the last two years (rule 6): issued on or after the same calendar date two
//!   years before `today` (inclusive; 02-29 falls back to 02-28);
//! - intermediate real-name verification (中级实名认证, 2019 announcement FAQ);
//! - three cancellations today block the rest of the day (rule 8), ten this month the rest of the
//!   month (rule 9). The counters are those *before* this attempt: after the 3rd cancellation of a
//!   day no new application can be made, so a 4th cannot happen;
//! - after three failed photo reviews no new online photo until the next successful issuance
//!   (rule 3) (the counter is reset by the store on issuance); reusing the photo on file stays
//!   possible; only photos from a recent issuance or the self-declared check are usable (rule 11);
//! - EMS delivery only to Anhui's cities and county seats (rule 1) (see [`delivery_allowed`]);
//! - payment within 48 hours of approval (rule 10) ([`payment_deadline`]).
//!
//! A limit of 0 switches that rule off (like `appointments::BookingPolicy`).

use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month, PrimitiveDateTime, Time};

use crate::applications::{ApplicationKind, PortraitSource};
use crate::division::{self, DivisionLevel};
use crate::idnumber::IdNumber;
use crate::timefmt;
use crate::validity::age_on;

/// The configurable rules of the online route. Defaults: Hefei's published rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OnlineRules {
    /// Registered residence must start with this province prefix (default `"34"`, Anhui).
    pub province_prefix: String,
    /// Minimum age in completed years (default 18).
    pub min_age: u32,
    /// Kinds offered online (default: both renewals and both replacements; not first issue,
    /// not temporary card).
    pub online_kinds: Vec<ApplicationKind>,
    /// The last card must have been issued within this many years (default 2; 0 = no
    /// requirement).
    pub reuse_window_years: u32,
    /// Intermediate real-name verification required (default true).
    pub require_intermediate_verification: bool,
    /// Online cancellations per day before online applying stops for the day (default 3).
    pub max_cancellations_per_day: u32,
    /// Online cancellations per calendar month before it stops for the month (default 10).
    pub max_cancellations_per_month: u32,
    /// Failed photo reviews after which new online photos are refused (default 3).
    pub max_failed_photo_reviews: u32,
    /// Hours after approval within which the fee must be paid (default 48).
    pub payment_window_hours: u32,
    /// Division-code prefixes EMS delivers to (default: [`default_delivery_areas`]).
    pub delivery_areas: Vec<String>,
    /// Refuse township-level codes of 乡 and similar units (7th–9th digits 200–599) even inside
    /// a listed area (default true).
    pub refuse_township_addresses: bool,
}

impl Default for OnlineRules {
    fn default() -> Self {
        OnlineRules {
            province_prefix: "34".into(),
            min_age: 18,
            online_kinds: vec![
                ApplicationKind::RenewalExpiry,
                ApplicationKind::RenewalChange,
                ApplicationKind::ReplacementLost,
                ApplicationKind::ReplacementDamaged,
            ],
            reuse_window_years: 2,
            require_intermediate_verification: true,
            max_cancellations_per_day: 3,
            max_cancellations_per_month: 10,
            max_failed_photo_reviews: 3,
            payment_window_hours: 48,
            delivery_areas: default_delivery_areas(),
            refuse_township_addresses: true,
        }
    }
}

/// The default EMS delivery area: every county-level division of Anhui in the embedded data
/// (city districts xxxx01–20, counties xxxx21–69, county-level cities xxxx81–99, and the NBS
/// development zones xxxx7x, which are urban parts of their cities), as 6-digit prefixes.
///
/// Why all counties, when the rule says "cities and county seats (not townships)": a 6-digit
/// code is county level and cannot tell a county seat from a township of the same county, and
/// every county has a seat. The township exclusion therefore needs a township-level code; see
/// [`delivery_allowed`]. Prefecture codes (xxxx00) are not listed: they do not locate an
/// address. An administrator can narrow the list in the configuration.
pub fn default_delivery_areas() -> Vec<String> {
    division::anhui_divisions()
        .iter()
        .filter(|d| d.level == DivisionLevel::County)
        .map(|d| d.code.to_string())
        .collect()
}

/// What the online route is checked against. Counters are the store's, before this attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenFacts {
    pub birth_date: Date,
    /// Division code of the registered residence (户籍所在地), 6 digits.
    pub registered_division: String,
    pub today: Date,
    /// Issue date of the citizen's current card, if any.
    pub last_issued_on: Option<Date>,
    /// 中级实名认证 completed in the app.
    pub intermediate_verified: bool,
    pub online_cancellations_today: u32,
    pub online_cancellations_this_month: u32,
    /// Failed photo reviews since the last successful issuance.
    pub failed_photo_reviews: u32,
    pub kind: ApplicationKind,
    /// Division code of the EMS address, `None` for pickup or not chosen yet.
    pub delivery_division: Option<String>,
    /// Chosen portrait source, `None` if not chosen yet (then not checked).
    pub portrait: Option<PortraitSource>,
}

impl CitizenFacts {
    /// Facts with the birth date taken from the ID number and everything else at its most
    /// restrictive or empty value (not verified, no card, nothing chosen, counters 0).
    pub fn new(
        id: &IdNumber,
        registered_division: &str,
        today: Date,
        kind: ApplicationKind,
    ) -> CitizenFacts {
        CitizenFacts {
            birth_date: id.birth_date(),
            registered_division: registered_division.trim().to_string(),
            today,
            last_issued_on: None,
            intermediate_verified: false,
            online_cancellations_today: 0,
            online_cancellations_this_month: 0,
            failed_photo_reviews: 0,
            kind,
            delivery_division: None,
            portrait: None,
        }
    }
}

/// What the citizen can do instead of (or before) applying online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alternative {
    /// Apply at the police station of the registered residence (户籍所在地派出所).
    RegisteredPoliceStation,
    /// Book an appointment at an acceptance point and apply at the counter.
    CounterAppointment,
    /// Complete intermediate real-name verification in the app, then try again.
    CompleteVerification,
    /// Try again on the date given in [`Refusal::until`].
    TryLater,
    /// Have the photo taken at a counter or kiosk, or reuse the photo of the last card.
    CounterPortrait,
    /// Choose a phone photo, a checked upload, a studio receipt or the photo on file.
    ChooseOnlinePhoto,
    /// Choose pickup at a nearby household-registration centre or police station.
    ChoosePickup,
}

impl Alternative {
    pub const ALL: [Alternative; 7] = [
        Alternative::RegisteredPoliceStation,
        Alternative::CounterAppointment,
        Alternative::CompleteVerification,
        Alternative::TryLater,
        Alternative::CounterPortrait,
        Alternative::ChooseOnlinePhoto,
        Alternative::ChoosePickup,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::RegisteredPoliceStation => "registered_police_station",
            Self::CounterAppointment => "counter_appointment",
            Self::CompleteVerification => "complete_verification",
            Self::TryLater => "try_later",
            Self::CounterPortrait => "counter_portrait",
            Self::ChooseOnlinePhoto => "choose_online_photo",
            Self::ChoosePickup => "choose_pickup",
        }
    }

    pub fn from_code(code: &str) -> Option<Alternative> {
        Self::ALL.into_iter().find(|a| a.code() == code)
    }

    pub fn text_zh(self) -> &'static str {
        match self {
            Self::RegisteredPoliceStation => "请到户籍所在地派出所办理。",
            Self::CounterAppointment => "请预约就近受理点，到窗口办理。",
            Self::CompleteVerification => "请先在“皖事通”完成中级实名认证，再申请网上办理。",
            Self::TryLater => "请到期后再申请网上办理，或预约到窗口办理。",
            Self::CounterPortrait => "请到受理点现场或自助拍照，或沿用上次办证照片。",
            Self::ChooseOnlinePhoto => {
                "请选择手机拍照、上传经检测合格的照片、照相馆回执或沿用上次办证照片。"
            }
            Self::ChoosePickup => "请改为到就近的户政办证中心或派出所领取。",
        }
    }

    pub fn text_en(self) -> &'static str {
        match self {
            Self::RegisteredPoliceStation => {
                "Apply at the police station of your registered residence."
            }
            Self::CounterAppointment => {
                "Book an appointment at a nearby acceptance point and apply at the counter."
            }
            Self::CompleteVerification => {
                "Complete intermediate real-name verification in the app, then apply online."
            }
            Self::TryLater => {
                "Apply online again from the date shown, or book an appointment at a counter."
            }
            Self::CounterPortrait => {
                "Have your photo taken at an acceptance point or kiosk, or reuse the photo of your last card."
            }
            Self::ChooseOnlinePhoto => {
                "Take a photo with your phone, upload a checked photo, use a studio receipt or reuse the photo of your last card."
            }
            Self::ChoosePickup => {
                "Choose pickup at a nearby household-registration centre or police station instead."
            }
        }
    }
}

/// One reason the online route is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// Stable machine code, e.g. `"under_age"`.
    pub code: &'static str,
    pub message_zh: String,
    pub message_en: String,
    pub instead: Alternative,
    /// For temporary blocks: the first date on which the rule no longer applies.
    #[serde(with = "timefmt::option_date")]
    pub until: Option<Date>,
}

impl Refusal {
    fn new(code: &'static str, zh: String, en: String, instead: Alternative) -> Refusal {
        Refusal {
            code,
            message_zh: zh,
            message_en: en,
            instead,
            until: None,
        }
    }
}

/// The outcome of [`check_online`]: eligible when there are no refusals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Eligibility {
    pub refusals: Vec<Refusal>,
}

impl Eligibility {
    pub fn is_eligible(&self) -> bool {
        self.refusals.is_empty()
    }

    pub fn codes(&self) -> Vec<&'static str> {
        self.refusals.iter().map(|r| r.code).collect()
    }
}

/// Checks every rule of the online route and returns all refusals, in a fixed order
/// (residence, kind, age, last card, verification, cancellations, portrait, delivery).
pub fn check_online(rules: &OnlineRules, facts: &CitizenFacts) -> Eligibility {
    let mut out = Vec::new();
    let today = facts.today;

    let reg = facts.registered_division.trim();
    let reg_ok = reg.len() == 6 && reg.bytes().all(|b| b.is_ascii_digit());
    if !reg_ok || !reg.starts_with(rules.province_prefix.as_str()) {
        let province = division::province_name(&rules.province_prefix).unwrap_or("本省");
        out.push(Refusal::new(
            "residence_outside_province",
            format!("户籍不在{province}，不能网上办理。"),
            "Your registered residence is outside the province; the online route is not available."
                .into(),
            Alternative::CounterAppointment,
        ));
    }

    if !rules.online_kinds.contains(&facts.kind) {
        out.push(if facts.kind == ApplicationKind::FirstIssue {
            Refusal::new(
                "first_issue_not_online",
                "首次申领居民身份证不能网上办理。".into(),
                "A first ID card cannot be applied for online.".into(),
                Alternative::RegisteredPoliceStation,
            )
        } else {
            Refusal::new(
                "kind_not_online",
                format!("{}不能网上办理。", facts.kind.name_zh()),
                format!("{} cannot be applied for online.", facts.kind.name_en()),
                Alternative::CounterAppointment,
            )
        });
    }

    if age_on(facts.birth_date, today) < rules.min_age {
        out.push(Refusal::new(
            "under_age",
            format!("网上办理须年满{}周岁。", rules.min_age),
            format!("You must be {} or older to apply online.", rules.min_age),
            Alternative::CounterAppointment,
        ));
    }

    if !issued_within_window(rules, facts) {
        let n = rules.reuse_window_years;
        out.push(Refusal::new(
            "no_recent_issuance",
            format!("网上办理须在{n}年内办理过居民身份证。"),
            format!("The online route needs a card issued within the last {n} years."),
            Alternative::CounterAppointment,
        ));
    }

    if rules.require_intermediate_verification && !facts.intermediate_verified {
        out.push(Refusal::new(
            "verification_required",
            "网上办理须先完成中级实名认证。".into(),
            "The online route needs intermediate real-name verification.".into(),
            Alternative::CompleteVerification,
        ));
    }

    let hit = |n: u32, max: u32| max > 0 && n >= max;
    if hit(
        facts.online_cancellations_today,
        rules.max_cancellations_per_day,
    ) {
        let mut r = Refusal::new(
            "cancellations_today",
            format!(
                "今日已取消网上申请{}次，今日不能再网上申请。",
                facts.online_cancellations_today
            ),
            format!(
                "You have cancelled {} online applications today; you can apply online again tomorrow.",
                facts.online_cancellations_today
            ),
            Alternative::TryLater,
        );
        r.until = today.next_day();
        out.push(r);
    }
    if hit(
        facts.online_cancellations_this_month,
        rules.max_cancellations_per_month,
    ) {
        let mut r = Refusal::new(
            "cancellations_month",
            format!(
                "本月已取消网上申请{}次，本月不能再网上申请。",
                facts.online_cancellations_this_month
            ),
            format!(
                "You have cancelled {} online applications this month; you can apply online again next month.",
                facts.online_cancellations_this_month
            ),
            Alternative::TryLater,
        );
        r.until = first_of_next_month(today);
        out.push(r);
    }

    if let Some(source) = facts.portrait {
        out.extend(check_portrait(rules, facts, source));
    }

    if let Some(d) = &facts.delivery_division {
        if !delivery_allowed(rules, d) {
            out.push(Refusal::new(
                "delivery_area",
                "邮寄地址不在邮政速递（EMS）送达范围内（仅限市区和县城）。".into(),
                "EMS delivers ID cards only to city and county-seat addresses; this address is outside."
                    .into(),
                Alternative::ChoosePickup,
            ));
        }
    }

    Eligibility { refusals: out }
}

/// Refusals for a portrait source on the online route (empty = usable): counter and kiosk
/// photos need the citizen on site (rule 11); new online photos are blocked after the failed-review
/// limit (rule 3); the photo on file is usable only from an issuance inside the reuse window (rule 11).
pub fn check_portrait(
    rules: &OnlineRules,
    facts: &CitizenFacts,
    source: PortraitSource,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    if !source.usable_online() {
        out.push(Refusal::new(
            "portrait_source_not_online",
            format!("网上办理不能选择“{}”。", source.name_zh()),
            format!(
                "\"{}\" cannot be used for an online application.",
                source.name_en()
            ),
            Alternative::ChooseOnlinePhoto,
        ));
    }
    let max = rules.max_failed_photo_reviews;
    if source.is_new_online_photo() && max > 0 && facts.failed_photo_reviews >= max {
        out.push(Refusal::new(
            "portrait_online_blocked",
            format!("照片已{}次审核未通过，下次成功办证前不能再网上采集照片。", facts.failed_photo_reviews),
            format!(
                "Your photo failed review {} times; until your next card is issued you cannot submit a new photo online.",
                facts.failed_photo_reviews
            ),
            Alternative::CounterPortrait,
        ));
    }
    if source == PortraitSource::ReuseOnFile && !issued_within_window(rules, facts) {
        out.push(Refusal::new(
            "portrait_reuse_too_old",
            "只能沿用近期办证时采集的照片。".into(),
            "Only the photo of a recently issued card can be reused.".into(),
            Alternative::ChooseOnlinePhoto,
        ));
    }
    out
}

/// Whether the citizen may use `source` for the portrait of an online application.
pub fn portrait_online_allowed(
    rules: &OnlineRules,
    facts: &CitizenFacts,
    source: PortraitSource,
) -> bool {
    check_portrait(rules, facts, source).is_empty()
}

/// Whether EMS delivers to an address in `division`.
///
/// `division` is a division code of 6 digits (county level), or 9 / 12 digits (township /
/// village level, NBS 统计用区划代码). It is allowed when it starts with one of
/// `rules.delivery_areas` and, with `refuse_township_addresses`, its 7th–9th digits are not in
/// 200–599 (NBS: 001–099 街道, 100–199 镇, 200–399 乡, 400–599 units similar to 乡). Towns
/// (镇) are accepted because most county seats are towns and the code does not say which town
/// is the seat; 乡 are refused as "townships". Anything else (letters, other lengths) is refused.
pub fn delivery_allowed(rules: &OnlineRules, division: &str) -> bool {
    let d = division.trim();
    if !matches!(d.len(), 6 | 9 | 12) || !d.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if d.len() > 6 && rules.refuse_township_addresses {
        let town: u32 = d[6..9].parse().unwrap_or(0);
        if (200..=599).contains(&town) {
            return false;
        }
    }
    rules
        .delivery_areas
        .iter()
        .any(|p| !p.is_empty() && d.starts_with(p.as_str()))
}

/// Last moment to pay: `approved_at` + the payment window (48 h). Paying at exactly the
/// deadline is in time.
pub fn payment_deadline(rules: &OnlineRules, approved_at: PrimitiveDateTime) -> PrimitiveDateTime {
    approved_at
        .checked_add(Duration::hours(i64::from(rules.payment_window_hours)))
        .unwrap_or(PrimitiveDateTime::new(Date::MAX, Time::MAX))
}

/// Whether the payment window has closed at `now` (then the application expires).
pub fn payment_overdue(
    rules: &OnlineRules,
    approved_at: PrimitiveDateTime,
    now: PrimitiveDateTime,
) -> bool {
    now > payment_deadline(rules, approved_at)
}

/// The last card was issued within the reuse window (inclusive). A recorded issue date after
/// `today` is a data error and counts as recent rather than blocking the citizen.
fn issued_within_window(rules: &OnlineRules, facts: &CitizenFacts) -> bool {
    if rules.reuse_window_years == 0 {
        return true;
    }
    let Some(issued) = facts.last_issued_on else {
        return false;
    };
    match years_before(facts.today, rules.reuse_window_years) {
        Some(cutoff) => issued >= cutoff,
        None => true,
    }
}

/// Same month/day `n` years earlier (02-29 → 02-28); `None` outside the supported years.
fn years_before(d: Date, n: u32) -> Option<Date> {
    let y = d.year().checked_sub(i32::try_from(n).ok()?)?;
    Date::from_calendar_date(y, d.month(), d.day())
        .or_else(|_| Date::from_calendar_date(y, Month::February, 28))
        .ok()
}

fn first_of_next_month(d: Date) -> Option<Date> {
    let (y, m) = match d.month() {
        Month::December => (d.year().checked_add(1)?, Month::January),
        m => (d.year(), m.next()),
    };
    Date::from_calendar_date(y, m, 1).ok()
}

#[cfg(test)]
#[path = "eligibility_tests.rs"]
mod tests;
