//! Service statistics (办证服务统计): the announcement's headline figures computed from our own records — share of
//! transactions booked or done online, share of fees collected by smart channels, online applications accepted,
//! registered users, the production cycle in working days, and the trips and time saved — per day or month and
//! per province, city, district or acceptance point, within the caller's scope.
//!
//! One path for the JSON API, the CSV export and the dashboard page: [`parse_params`] → [`resolve`] (defaults,
//! validation, scope) → [`report`] (the store's counts rolled up by `shenfen_domain::stats`) → JSON, [`csv`] or
//! the page's charts. Definitions of every figure are in `shenfen_domain::stats`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::Serialize;
use shenfen_domain::applications::{Channel, DeliveryMethod};
use shenfen_domain::calendar::WorkCalendar;
use shenfen_domain::payments::PaymentChannel;
use shenfen_domain::stats::{self as rules, Area, Counts, Level, Period, Rollup, Savings};
use shenfen_domain::timefmt::{format_date, parse_date};
use shenfen_store::{AcceptancePoint, Role, ScopeKind, Staff, StatKind, StatsFilter};
use time::{Date, Duration};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::i18n::Lang;

/// Administrators and the supervising roles (the same who see SLA supervision).
pub const STATS_ROLES: &[Role] = &[Role::Reviewer, Role::Production, Role::Admin];
/// Longest range by day, and by month.
pub const MAX_DAYS: i64 = 366;
pub const MAX_MONTHS: usize = 60;
const MAX_QUERY_BYTES: usize = 1024;
const MAX_VALUE_CHARS: usize = 64;
/// Days shown by default with `period=day`, months with `period=month`.
const DEFAULT_DAYS: i64 = 30;
const DEFAULT_MONTHS: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// The query as given (empty values count as absent), kept to re-fill the dashboard's form.
#[derive(Debug, Clone, Default)]
pub struct RawParams {
    pub period: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub level: Option<String>,
    pub code: Option<String>,
    pub format: Option<String>,
}

/// A validated request, within the caller's scope.
#[derive(Debug, Clone)]
pub struct StatsRequest {
    pub period: Period,
    pub from: Date,
    pub to: Date,
    pub level: Level,
    pub area: Area,
    pub format: Format,
}

fn invalid(code: &'static str, field: &'static str, zh: &str, en: &str) -> AppError {
    AppError::invalid(code, zh, en).on_field(field)
}

/// Whether this staff member may see statistics at all.
pub fn allowed(staff: &Staff) -> AppResult<()> {
    crate::applications::staff_actor_allowed(staff, STATS_ROLES)
}

/// Splits the query string, refusing unknown, repeated, oversized or malformed parameters.
pub fn parse_params(query: Option<&str>) -> AppResult<RawParams> {
    let query = query.unwrap_or("");
    if query.len() > MAX_QUERY_BYTES {
        return Err(AppError::invalid("stats_query_too_long", "查询参数过长。", "The query string is too long."));
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|_| AppError::invalid("stats_query_invalid", "查询参数格式不正确。", "The query string is malformed."))?;
    let mut raw = RawParams::default();
    for (k, v) in pairs {
        let slot = match k.as_str() {
            "period" => &mut raw.period,
            "from" => &mut raw.from,
            "to" => &mut raw.to,
            "level" => &mut raw.level,
            "code" => &mut raw.code,
            "format" => &mut raw.format,
            _ => {
                return Err(AppError::invalid(
                    "stats_param_unknown",
                    "不支持的查询参数（可用：period、from、to、level、code、format）。",
                    "Unknown query parameter (use period, from, to, level, code, format).",
                ));
            }
        };
        if slot.is_some() {
            return Err(AppError::invalid("stats_param_repeated", "同一查询参数只能出现一次。", "Each query parameter may appear once."));
        }
        let v = v.trim();
        if v.chars().count() > MAX_VALUE_CHARS {
            return Err(AppError::invalid("stats_param_too_long", "查询参数的值过长。", "A query parameter value is too long."));
        }
        *slot = Some(v.to_string());
    }
    // A form submits empty fields: they mean "the default".
    for v in [&mut raw.period, &mut raw.from, &mut raw.to, &mut raw.level, &mut raw.code, &mut raw.format] {
        if v.as_deref() == Some("") {
            *v = None;
        }
    }
    Ok(raw)
}

/// `YYYY-MM-DD`, or `YYYY-MM` meaning the month's first (`end = false`) or last day.
fn parse_day(s: &str, end: bool) -> Option<Date> {
    if let Some(d) = parse_date(s) {
        return Some(d);
    }
    let first = parse_date(&format!("{s}-01")).filter(|_| s.len() == 7)?;
    if end { Period::Month.next(first).and_then(|n| n.previous_day()) } else { Some(first) }
}

/// The area a code names: a division code (`34`, `340000`, `340100`, `340104`) or an acceptance point's id.
async fn area_of(state: &AppState, code: &str) -> AppResult<(Area, Option<AcceptancePoint>)> {
    let unknown = || invalid("stats_code_invalid", "code", "地区代码或受理点不存在。", "No such division code or acceptance point.");
    if let Some(area) = Area::parse_division(code) {
        let known = match &area {
            Area::Province(p) => shenfen_domain::division::province_name(p).is_some(),
            other => shenfen_domain::division::name(&other.code()).is_some(),
        };
        return if known { Ok((area, None)) } else { Err(unknown()) };
    }
    if !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(unknown());
    }
    match state.store.point(code).await? {
        Some(p) => Ok((Area::Point(p.id.clone()), Some(p))),
        None => Err(unknown()),
    }
}

/// Whether the staff member's scope covers the area: a province scope its divisions and points, a district scope
/// the district and its points, a point scope the point.
fn covers(staff: &Staff, area: &Area, point: Option<&AcceptancePoint>) -> bool {
    let scope = staff.scope.code.as_str();
    let point_district = point.map(|p| p.district_code.as_str());
    match staff.scope.kind {
        ScopeKind::Province => match area {
            Area::Province(p) => p == scope,
            Area::City(c) => c.starts_with(scope),
            Area::District(d) => d.starts_with(scope),
            Area::Point(_) => point_district.is_some_and(|d| d.starts_with(scope)),
        },
        ScopeKind::District => match area {
            Area::District(d) => d == scope,
            Area::Point(_) => point_district == Some(scope),
            _ => false,
        },
        ScopeKind::Point => matches!(area, Area::Point(id) if id == scope),
    }
}

fn scope_area(staff: &Staff) -> Area {
    match staff.scope.kind {
        ScopeKind::Province => Area::Province(staff.scope.code.clone()),
        ScopeKind::District => Area::District(staff.scope.code.clone()),
        ScopeKind::Point => Area::Point(staff.scope.code.clone()),
    }
}

/// By default figures are broken down one level below the area — except a province, which is shown per district
/// (the level at which counters are run).
fn default_level(area: &Area) -> Level {
    match area {
        Area::Province(_) | Area::City(_) => Level::District,
        Area::District(_) | Area::Point(_) => Level::Point,
    }
}

/// Applies defaults (the last 30 days or 12 months, the caller's whole scope) and checks everything.
pub async fn resolve(state: &AppState, staff: &Staff, raw: &RawParams, format: Option<Format>) -> AppResult<StatsRequest> {
    allowed(staff)?;
    let period = match raw.period.as_deref() {
        None => Period::Day,
        Some(p) => Period::from_code(p).ok_or_else(|| invalid("stats_period_invalid", "period", "统计周期应为 day（按日）或 month（按月）。", "The period is day or month."))?,
    };
    let format = match (format, raw.format.as_deref()) {
        (Some(f), _) => f,
        (None, None | Some("json")) => Format::Json,
        (None, Some("csv")) => Format::Csv,
        (None, Some(_)) => return Err(invalid("stats_format_invalid", "format", "导出格式应为 json 或 csv。", "The format is json or csv.")),
    };
    let today = state.clock.today_cst();
    let bad_date = |field| invalid("stats_date_invalid", field, "日期格式应为 YYYY-MM-DD 或 YYYY-MM。", "Dates are YYYY-MM-DD or YYYY-MM.");
    let to = match raw.to.as_deref() {
        None => today,
        Some(s) => {
            let end = parse_day(s, true).ok_or_else(|| bad_date("to"))?;
            // The month under way ends today.
            if s.len() == 7 && end > today && Period::Month.bucket_start(end) <= today { today } else { end }
        }
    };
    let from = match raw.from.as_deref() {
        Some(s) => parse_day(s, false).ok_or_else(|| bad_date("from"))?,
        None => match period {
            Period::Day => to - Duration::days(DEFAULT_DAYS - 1),
            Period::Month => {
                let mut m = Period::Month.bucket_start(to);
                for _ in 1..DEFAULT_MONTHS {
                    m = m.previous_day().map(|d| Period::Month.bucket_start(d)).unwrap_or(m);
                }
                m
            }
        },
    };
    if to > today {
        return Err(invalid("stats_date_future", "to", "结束日期不能晚于今天。", "The end date cannot be after today."));
    }
    if from > to {
        return Err(invalid("stats_range_invalid", "from", "开始日期不能晚于结束日期。", "The start date must not be after the end date."));
    }
    let too_long = match period {
        Period::Day => rules::day_number(to) - rules::day_number(from) + 1 > MAX_DAYS,
        Period::Month => Period::Month.buckets(from, to).len() > MAX_MONTHS,
    };
    if too_long {
        return Err(invalid(
            "stats_range_too_long",
            "from",
            "按日统计最长 366 天，按月统计最长 60 个月。",
            "A daily report covers at most 366 days, a monthly one at most 60 months.",
        ));
    }
    let (area, point) = match raw.code.as_deref() {
        None => {
            let area = scope_area(staff);
            let point = match &area {
                Area::Point(id) => state.store.point(id).await?,
                _ => None,
            };
            (area, point)
        }
        Some(code) => area_of(state, code).await?,
    };
    if !covers(staff, &area, point.as_ref()) {
        return Err(AppError::new(StatusCode::FORBIDDEN, "stats_out_of_scope", "该地区或受理点不在您的管辖范围内。", "That area or acceptance point is outside your scope.").on_field("code"));
    }
    let level = match raw.level.as_deref() {
        None => default_level(&area),
        Some(l) => Level::from_code(l).ok_or_else(|| invalid("stats_level_invalid", "level", "统计层级应为 province、city、district 或 point。", "The level is province, city, district or point."))?,
    };
    if level < area.level() {
        return Err(invalid("stats_level_above_area", "level", "统计层级不能高于所选地区。", "The level cannot be above the chosen area."));
    }
    Ok(StatsRequest { period, from, to, level, area, format })
}

/// Payments of one channel (or of a group of channels).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeeFigure {
    pub count: i64,
    pub amount_fen: i64,
    pub refunded_fen: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelFigure {
    /// `alipay`, `wechat`, `unionpay`, `alipay_qr`, `wechat_qr` or `cash`.
    pub channel: String,
    pub count: i64,
    pub amount_fen: i64,
    pub refunded_fen: i64,
}

/// Trips, kilometres and hours saved (estimates; one decimal).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct SavingsFigure {
    pub trips: f64,
    pub km: f64,
    pub hours: f64,
}

impl From<Savings> for SavingsFigure {
    fn from(s: Savings) -> Self {
        let r = |x: f64| (x * 10.0).round() / 10.0;
        SavingsFigure { trips: r(s.trips), km: r(s.km), hours: r(s.hours) }
    }
}

/// Every figure of one unit in one period. Shares are per-mille (962 = 96.2 %), `null` with nothing to divide.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Figures {
    /// Counter visits with an appointment made online.
    pub visits_booked: i64,
    pub visits_walk_in: i64,
    /// Booked visits of all counter visits.
    pub booking_share_permille: Option<u32>,
    /// Appointments made in the period.
    pub bookings_made: i64,
    /// Applications submitted, per route.
    pub applications_online: i64,
    pub applications_online_then_counter: i64,
    pub applications_counter: i64,
    /// The headline: booked visits plus fully online applications, of all counter visits plus fully online applications.
    pub online_share_permille: Option<u32>,
    /// Applications started online and approved in the period (受理), and those rejected.
    pub online_approved: i64,
    pub online_rejected: i64,
    pub acceptance_permille: Option<u32>,
    /// Successful payments by smart channels (everything but cash) and in cash.
    pub fees_smart: FeeFigure,
    pub fees_cash: FeeFigure,
    pub smart_fee_share_permille: Option<u32>,
    pub fees_by_channel: Vec<ChannelFigure>,
    pub users_registered: i64,
    pub users_verified: i64,
    /// Accounts (and verified accounts) to the end of the period.
    pub users_total: i64,
    pub users_verified_total: i64,
    /// Applications whose card became available in the period, and their cycle in working days.
    pub cycle_count: u64,
    pub cycle_mean_days: Option<f64>,
    pub cycle_p90_days: Option<f64>,
    pub savings: SavingsFigure,
}

impl Figures {
    fn of(c: &Counts, users_total: (i64, i64)) -> Figures {
        let fee = |f: rules::FeeTotal| FeeFigure { count: f.count, amount_fen: f.amount_fen, refunded_fen: f.refunded_fen };
        let round1 = |x: Option<f64>| x.map(|v| (v * 10.0).round() / 10.0);
        Figures {
            visits_booked: c.visits_booked,
            visits_walk_in: c.visits_walk_in,
            booking_share_permille: c.booking_share_permille(),
            bookings_made: c.bookings_made,
            applications_online: c.applications_online,
            applications_online_then_counter: c.applications_online_then_counter,
            applications_counter: c.applications_counter,
            online_share_permille: c.online_share_permille(),
            online_approved: c.online_approved,
            online_rejected: c.online_rejected,
            acceptance_permille: c.acceptance_permille(),
            fees_smart: fee(c.smart_fees()),
            fees_cash: fee(c.cash_fees()),
            smart_fee_share_permille: c.smart_fee_share_permille(),
            fees_by_channel: PaymentChannel::ALL
                .iter()
                .map(|ch| (ch, c.fee(*ch)))
                .filter(|(_, f)| f.count != 0)
                .map(|(ch, f)| ChannelFigure { channel: ch.code().into(), count: f.count, amount_fen: f.amount_fen, refunded_fen: f.refunded_fen })
                .collect(),
            users_registered: c.users_registered,
            users_verified: c.users_verified,
            users_total: users_total.0,
            users_verified_total: users_total.1,
            cycle_count: c.cycle.count(),
            cycle_mean_days: round1(c.cycle.mean()),
            cycle_p90_days: round1(c.cycle.percentile(90.0)),
            savings: c.savings.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BucketFigures {
    /// `2026-10-01` by day, `2026-10` by month.
    pub period: String,
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitFigures {
    /// 6-digit division code, acceptance-point id, `unattributed` (place unknown) or `online` (at no point).
    pub code: String,
    pub name: String,
    pub figures: Figures,
}

/// The report: totals over the range, the series per period (every period, empty ones included), each unit over
/// the range, and the assumptions of the savings estimate.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Report {
    pub period: String,
    pub from: String,
    pub to: String,
    pub level: String,
    pub area_code: String,
    pub area_name: String,
    pub total: Figures,
    /// The range's savings at the same rate for 365 days (the announcement's "a year" figures).
    pub savings_per_year: SavingsFigure,
    /// The savings model in force (`[stats]` in the configuration).
    #[schema(value_type = Object)]
    pub assumptions: rules::SavingsModel,
    pub series: Vec<BucketFigures>,
    pub units: Vec<UnitFigures>,
    /// Per period and unit, for the CSV export.
    #[serde(skip)]
    pub cells: Vec<(String, UnitFigures)>,
}

/// A unit's display name.
pub fn unit_name(code: &str, points: &BTreeMap<String, AcceptancePoint>, lang: Lang) -> String {
    match code {
        rules::UNATTRIBUTED => lang.pick("未能归属地区", "Place unknown").into(),
        rules::NOT_AT_A_POINT => lang.pick("网上（不经窗口）", "Online (no counter)").into(),
        _ => match Area::parse_division(code) {
            Some(Area::Province(p)) => shenfen_domain::division::province_name(&p).unwrap_or(code).into(),
            Some(a) => shenfen_domain::division::name(&a.code()).unwrap_or(code).into(),
            None => points.get(code).map(|p| p.name.clone()).unwrap_or_else(|| code.into()),
        },
    }
}

fn filter_of(area: &Area) -> StatsFilter {
    match area {
        // The platform serves one province: everything it records is the province's, a place or not.
        Area::Province(_) => StatsFilter::default(),
        Area::City(c) => StatsFilter { district_prefix: Some(c.clone()), point_id: None },
        Area::District(d) => StatsFilter { district_prefix: Some(d.clone()), point_id: None },
        Area::Point(id) => StatsFilter { district_prefix: None, point_id: Some(id.clone()) },
    }
}

/// Reads the counts and rolls them up.
pub async fn report(state: &AppState, req: &StatsRequest, lang: Lang) -> AppResult<Report> {
    let model = &state.config.stats;
    let filter = filter_of(&req.area);
    let (from_day, to_day) = (rules::day_number(req.from), rules::day_number(req.to) + 1);
    let store = &state.store;
    let (visits, fees, apps, users, base, cycles, points) = tokio::try_join!(
        store.visit_stats(from_day, to_day, &filter),
        store.fee_stats(from_day, to_day, &filter),
        store.application_stats(from_day, to_day, &filter),
        store.user_stats(from_day, to_day, &filter),
        store.users_before(from_day, &filter),
        store.cycle_stats(from_day, to_day, &filter),
        store.list_points(),
    )?;
    let points: BTreeMap<String, AcceptancePoint> = points.into_iter().map(|p| (p.id.clone(), p)).collect();
    let mut roll = Rollup::new(req.period, req.from, req.to);
    let unit = |point: Option<&str>, district: Option<&str>| rules::unit_of(req.level, &req.area, point, district);
    for r in visits.iter().chain(&fees).chain(&apps).chain(&users) {
        let Some(day) = rules::date_of_day_number(r.day) else { continue };
        let district = r.district_code.as_deref();
        let kind = rules::area_kind(district);
        let Some(cell) = roll.cell(day, &unit(r.point_id.as_deref(), district)) else { continue };
        let channel = r.channel.as_deref();
        match r.kind {
            StatKind::VisitBooked => cell.add_visits(true, r.n, kind, model),
            StatKind::VisitWalkIn => cell.add_visits(false, r.n, kind, model),
            StatKind::BookingMade => cell.add_bookings(r.n),
            StatKind::Paid => match channel.and_then(PaymentChannel::from_code) {
                Some(ch) => cell.add_fees(ch, r.n, r.amount_fen, r.refunded_fen),
                None => tracing::warn!(channel = ?channel, "successful payment without a known channel left out of the statistics"),
            },
            StatKind::Submitted => {
                if let (Some(ch), Some(dm)) = (channel.and_then(Channel::from_code), r.delivery.as_deref().and_then(DeliveryMethod::from_code)) {
                    cell.add_submissions(ch, dm, r.n, kind, model);
                }
            }
            StatKind::Approved | StatKind::Rejected => {
                if let Some(ch) = channel.and_then(Channel::from_code) {
                    cell.add_decisions(ch, r.kind == StatKind::Approved, r.n);
                }
            }
            StatKind::Registered => cell.add_users(r.n, 0),
            StatKind::Verified => cell.add_users(0, r.n),
        }
    }
    let calendar = WorkCalendar::official();
    for c in &cycles {
        let (Some(sub), Some(done)) = (rules::date_of_day_number(c.submitted_day), rules::date_of_day_number(c.available_day)) else { continue };
        if let Some(cell) = roll.cell(done, &unit(c.point_id.as_deref(), c.district_code.as_deref())) {
            cell.add_cycles(calendar.working_days_between(sub, done).max(0), c.n.max(0) as u64);
        }
    }

    // Cumulative accounts: what existed before the range, plus each period's new ones.
    let mut base_by_unit: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for b in &base {
        let e = base_by_unit.entry(unit(None, b.district_code.as_deref())).or_default();
        e.0 += b.registered;
        e.1 += b.verified;
    }
    let base_total = base_by_unit.values().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let mut running = base_total;
    let series = roll
        .series()
        .into_iter()
        .map(|(b, c)| {
            running = (running.0 + c.users_registered, running.1 + c.users_verified);
            BucketFigures { period: req.period.label(b), figures: Figures::of(&c, running) }
        })
        .collect();
    let total = roll.total();
    let name = |code: &str| unit_name(code, &points, lang);
    let mut unit_codes: Vec<String> = roll.units().into_iter().map(|(u, _)| u).collect();
    for u in base_by_unit.keys() {
        if !unit_codes.contains(u) {
            unit_codes.push(u.clone());
        }
    }
    let by_unit: BTreeMap<String, Counts> = roll.units().into_iter().collect();
    let mut units: Vec<UnitFigures> = unit_codes
        .into_iter()
        .map(|code| {
            let c = by_unit.get(&code).cloned().unwrap_or_default();
            let b = base_by_unit.get(&code).copied().unwrap_or_default();
            UnitFigures { name: name(&code), figures: Figures::of(&c, (b.0 + c.users_registered, b.1 + c.users_verified)), code }
        })
        .collect();
    // Places first by code, then the catch-alls.
    units.sort_by_key(|u| (u.code == rules::UNATTRIBUTED || u.code == rules::NOT_AT_A_POINT, u.code.clone()));
    let cells = roll
        .cells()
        .map(|(b, u, c)| (req.period.label(b), UnitFigures { code: u.to_string(), name: name(u), figures: Figures::of(c, (0, 0)) }))
        .collect();
    let area_name = match &req.area {
        Area::Point(id) => name(id),
        other => name(&other.code()),
    };
    Ok(Report {
        period: req.period.code().into(),
        from: format_date(req.from),
        to: format_date(req.to),
        level: req.level.code().into(),
        area_code: req.area.code(),
        area_name,
        total: Figures::of(&total, running),
        savings_per_year: total.savings.per_year(roll.days()).into(),
        assumptions: *model,
        series,
        units,
        cells,
    })
}

/// Per-mille as a percentage with one decimal (`962` → `96.2`), empty when there is no share.
pub fn percent(permille: Option<u32>) -> String {
    permille.map(|p| format!("{}.{}", p / 10, p % 10)).unwrap_or_default()
}

fn opt1(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_default()
}

/// The CSV column names (stable, for machines) — one row per period and unit with any activity.
pub const CSV_COLUMNS: &[&str] = &[
    "period",
    "unit_code",
    "unit_name",
    "visits_booked",
    "visits_walk_in",
    "booking_share_pct",
    "bookings_made",
    "applications_online",
    "applications_online_then_counter",
    "applications_counter",
    "online_share_pct",
    "online_approved",
    "online_rejected",
    "fees_smart_count",
    "fees_smart_yuan",
    "fees_cash_count",
    "fees_cash_yuan",
    "smart_fee_share_pct",
    "users_registered",
    "users_verified",
    "cycle_count",
    "cycle_mean_days",
    "cycle_p90_days",
    "trips_saved",
    "km_saved",
    "hours_saved",
];

/// The report as CSV (UTF-8 with a byte-order mark, which spreadsheet programs need to read Chinese).
pub fn csv(report: &Report) -> String {
    use shenfen_domain::csv::{inert, write_record};
    let mut out = String::from("\u{feff}");
    write_record(&mut out, CSV_COLUMNS);
    for (period, u) in &report.cells {
        let f = &u.figures;
        write_record(
            &mut out,
            &[
                period.clone(),
                inert(&u.code).into_owned(),
                inert(&u.name).into_owned(),
                f.visits_booked.to_string(),
                f.visits_walk_in.to_string(),
                percent(f.booking_share_permille),
                f.bookings_made.to_string(),
                f.applications_online.to_string(),
                f.applications_online_then_counter.to_string(),
                f.applications_counter.to_string(),
                percent(f.online_share_permille),
                f.online_approved.to_string(),
                f.online_rejected.to_string(),
                f.fees_smart.count.to_string(),
                shenfen_domain::fees::format_yuan(f.fees_smart.amount_fen),
                f.fees_cash.count.to_string(),
                shenfen_domain::fees::format_yuan(f.fees_cash.amount_fen),
                percent(f.smart_fee_share_permille),
                f.users_registered.to_string(),
                f.users_verified.to_string(),
                f.cycle_count.to_string(),
                opt1(f.cycle_mean_days),
                opt1(f.cycle_p90_days),
                format!("{:.1}", f.savings.trips),
                format!("{:.1}", f.savings.km),
                format!("{:.1}", f.savings.hours),
            ],
        );
    }
    out
}

/// A file name for the export: area and range, ASCII only.
pub fn csv_file_name(req: &StatsRequest) -> String {
    let area: String = req.area.code().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(40).collect();
    format!("shenfen-stats-{}-{}-{}-{}.csv", area, req.period.code(), format_date(req.from), format_date(req.to))
}

/// Records an export in the audit log (who took which figures out).
pub async fn audit_export(state: &AppState, actor: &crate::app::Actor, req: &StatsRequest) -> AppResult<()> {
    state
        .audit(
            actor,
            "stats.export_csv",
            &format!("area:{}", req.area.code()),
            serde_json::json!({ "period": req.period.code(), "from": format_date(req.from), "to": format_date(req.to), "level": req.level.code() }),
        )
        .await
}
