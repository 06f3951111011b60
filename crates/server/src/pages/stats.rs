//! The administrators' statistics dashboard (`/admin/stats`): filters by period, dates, area and level, the
//! headline figures beside the 2019 published ones, server-drawn SVG charts each followed by the same numbers as a
//! table, and the CSV export (`/admin/stats.csv`). No JavaScript. Figures come from `crate::stats`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use shenfen_domain::stats::{Area, Level, Period};
use shenfen_store::{ScopeKind, Staff};

use super::{FieldError, PageCtx, render_status, urlencode};
use crate::app::AppState;
use crate::auth::{MaybeUser, Principal};
use crate::error::AppError;
use crate::stats::{self, Figures, Format, RawParams, Report, StatsRequest, percent};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/stats", get(dashboard)).route("/admin/stats.csv", get(export))
}

/// The figures the 2019 announcement published, shown beside ours (per-mille, and km / hours a year).
const SEED_ONLINE_PERMILLE: u32 = 962;
const SEED_SMART_FEE_PERMILLE: u32 = 986;
const SEED_KM_PER_YEAR: f64 = 200_000.0;
const SEED_HOURS_PER_YEAR: f64 = 110_000.0;

fn staff_of(user: &MaybeUser) -> Result<Staff, Response> {
    match &user.principal {
        Some(Principal::Staff(s)) => stats::allowed(s).map(|_| s.clone()).map_err(IntoResponse::into_response),
        Some(Principal::Citizen(_)) => Err(AppError::forbidden().into_response()),
        None => Err(Redirect::to("/staff/sign-in").into_response()),
    }
}

pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The filter form's values.
#[derive(Default)]
pub struct FormValues {
    pub period: String,
    pub from: String,
    pub to: String,
    pub level: String,
    pub code: String,
}

pub struct SeriesRow {
    pub period: String,
    pub online: String,
    pub smart: String,
    pub booking: String,
    pub visits: i64,
    pub payments: i64,
    pub accepted: i64,
    pub users_total: i64,
    pub cycle_mean: String,
    pub cycle_p90: String,
}

pub struct UnitRow {
    pub code: String,
    pub name: String,
    pub online: String,
    pub smart: String,
    pub visits: i64,
    pub payments: i64,
    pub accepted: i64,
    pub users_total: i64,
    pub cycle_mean: String,
    pub km: String,
    pub hours: String,
}

/// Everything the page shows of a report, formatted.
pub struct View {
    pub area_name: String,
    pub range: String,
    pub has_data: bool,
    pub online: String,
    pub smart: String,
    pub booking: String,
    pub seed_online: String,
    pub seed_smart: String,
    pub accepted: i64,
    pub acceptance: String,
    pub submitted_online: i64,
    pub users_total: i64,
    pub users_new: i64,
    pub users_verified_total: i64,
    pub cycle_mean: String,
    pub cycle_p90: String,
    pub cycle_count: u64,
    pub trips: String,
    pub km: String,
    pub hours: String,
    pub km_year: String,
    pub hours_year: String,
    pub seed_km_year: String,
    pub seed_hours_year: String,
    pub share_chart: String,
    pub unit_chart: String,
    pub apps_chart: String,
    pub cycle_chart: String,
    pub users_chart: String,
    pub series: Vec<SeriesRow>,
    pub units: Vec<UnitRow>,
    pub assumptions: Vec<(&'static str, String)>,
    pub csv_href: String,
    pub target_days: u32,
}

#[derive(Template)]
#[template(path = "admin_stats.html")]
struct StatsPage<'a> {
    p: &'a PageCtx,
    errors: Vec<FieldError>,
    f: FormValues,
    periods: Vec<Opt>,
    levels: Vec<Opt>,
    areas: Vec<Opt>,
    v: Option<View>,
}

fn opts<T: Copy>(all: &[T], code: fn(T) -> &'static str, label: impl Fn(T) -> String, selected: &str) -> Vec<Opt> {
    all.iter().map(|x| Opt { value: code(*x).into(), label: label(*x), selected: code(*x) == selected }).collect()
}

/// The areas the staff member may choose: the scope itself, and below it every city, district and point that has
/// an acceptance point.
async fn area_options(state: &AppState, staff: &Staff, p: &PageCtx, selected: &str) -> Result<Vec<Opt>, AppError> {
    let points = state.store.list_points().await?;
    let names: std::collections::BTreeMap<String, shenfen_store::AcceptancePoint> = points.iter().map(|pt| (pt.id.clone(), pt.clone())).collect();
    let name = |code: &str| stats::unit_name(code, &names, p.lang);
    let scope = staff.scope.code.as_str();
    let mut out = Vec::new();
    let mut push = |value: String, depth: usize, label: String| {
        let selected = value == selected;
        out.push(Opt { label: format!("{}{}", "— ".repeat(depth), label), value, selected });
    };
    match staff.scope.kind {
        ScopeKind::Province => {
            push(format!("{scope}0000"), 0, name(&format!("{scope}0000")));
            let districts: BTreeSet<&str> = points.iter().map(|pt| pt.district_code.as_str()).filter(|d| d.starts_with(scope) && shenfen_domain::stats::is_county_code(d)).collect();
            let cities: BTreeSet<String> = districts.iter().map(|d| format!("{}00", &d[..4])).collect();
            for c in &cities {
                push(c.clone(), 1, name(c));
                for d in districts.iter().filter(|d| d.starts_with(&c[..4])) {
                    push(d.to_string(), 2, name(d));
                    for pt in points.iter().filter(|pt| pt.district_code == *d) {
                        push(pt.id.clone(), 3, pt.name.clone());
                    }
                }
            }
        }
        ScopeKind::District => {
            push(scope.to_string(), 0, name(scope));
            for pt in points.iter().filter(|pt| pt.district_code == scope) {
                push(pt.id.clone(), 1, pt.name.clone());
            }
        }
        ScopeKind::Point => push(scope.to_string(), 0, name(scope)),
    }
    Ok(out)
}

fn query_of(req: &StatsRequest) -> String {
    let code = match &req.area {
        Area::Point(id) => id.clone(),
        a => a.code(),
    };
    format!(
        "period={}&from={}&to={}&level={}&code={}",
        req.period.code(),
        shenfen_domain::timefmt::format_date(req.from),
        shenfen_domain::timefmt::format_date(req.to),
        req.level.code(),
        urlencode(&code)
    )
}

async fn dashboard(State(state): State<AppState>, p: PageCtx, user: MaybeUser, RawQuery(query): RawQuery) -> Response {
    let staff = match staff_of(&user) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (raw, resolved) = match stats::parse_params(query.as_deref()) {
        Ok(raw) => {
            let r = stats::resolve(&state, &staff, &raw, Some(Format::Json)).await;
            (raw, r)
        }
        Err(e) => (RawParams::default(), Err(e)),
    };
    let (f, v, errors, status) = match resolved {
        Ok(req) => match stats::report(&state, &req, p.lang).await {
            Ok(report) => {
                let f = FormValues {
                    period: req.period.code().into(),
                    from: shenfen_domain::timefmt::format_date(req.from),
                    to: shenfen_domain::timefmt::format_date(req.to),
                    level: req.level.code().into(),
                    code: match &req.area {
                        Area::Point(id) => id.clone(),
                        a => a.code(),
                    },
                };
                (f, Some(view(&state, &p, &req, &report)), vec![], axum::http::StatusCode::OK)
            }
            Err(e) => return e.into_response(),
        },
        Err(e) => {
            let f = FormValues {
                period: raw.period.unwrap_or_default(),
                from: raw.from.unwrap_or_default(),
                to: raw.to.unwrap_or_default(),
                level: raw.level.unwrap_or_default(),
                code: raw.code.unwrap_or_default(),
            };
            (f, None, vec![FieldError::from_app(&e, p.lang, "period")], e.status)
        }
    };
    let areas = match area_options(&state, &staff, &p, &f.code).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let periods = opts(&Period::ALL, Period::code, |x| p.t(if x == Period::Day { "stats.period_day" } else { "stats.period_month" }).to_string(), &f.period);
    let levels = opts(&Level::ALL, Level::code, |x| p.lang.pick(x.name_zh(), x.name_en()).to_string(), &f.level);
    render_status(status, &StatsPage { p: &p, errors, f, periods, levels, areas, v })
}

async fn export(State(state): State<AppState>, user: MaybeUser, p: PageCtx, RawQuery(query): RawQuery) -> Result<Response, AppError> {
    let staff = match staff_of(&user) {
        Ok(s) => s,
        Err(r) => return Ok(r),
    };
    let raw = stats::parse_params(query.as_deref())?;
    let req = stats::resolve(&state, &staff, &raw, Some(Format::Csv)).await?;
    let report = stats::report(&state, &req, p.lang).await?;
    stats::audit_export(&state, &user.actor(), &req).await?;
    Ok(crate::api::stats::csv_response(&stats::csv(&report), &stats::csv_file_name(&req)))
}

fn pct(permille: Option<u32>) -> String {
    match permille {
        Some(_) => format!("{}%", percent(permille)),
        None => "—".into(),
    }
}

fn one(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "—".into())
}

/// Thousands separated, no decimals (`200000.4` → `200,000`).
fn big(x: f64) -> String {
    let n = x.round().max(0.0) as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn view(state: &AppState, p: &PageCtx, req: &StatsRequest, r: &Report) -> View {
    let t = &r.total;
    let labels: Vec<String> = r.series.iter().map(|b| if req.period == Period::Day { b.period[5..].to_string() } else { b.period.clone() }).collect();
    let share = |f: fn(&Figures) -> Option<u32>| r.series.iter().map(|b| f(&b.figures).map(|v| f64::from(v) / 10.0)).collect::<Vec<_>>();
    let share_chart = chart::line(
        &labels,
        &[
            chart::Series { name: p.t("stats.online_share"), values: share(|f| f.online_share_permille), style: 0 },
            chart::Series { name: p.t("stats.smart_fee_share"), values: share(|f| f.smart_fee_share_permille), style: 1 },
            chart::Series { name: p.t("stats.booking_share"), values: share(|f| f.booking_share_permille), style: 2 },
        ],
        100.0,
        "%",
        &[(format!("{} 96.2%", p.t("stats.seed")), 96.2)],
        p.t("stats.chart_shares"),
    );
    let units_for_chart: Vec<&stats::UnitFigures> = r.units.iter().filter(|u| u.figures.online_share_permille.is_some() || u.figures.smart_fee_share_permille.is_some()).take(chart::MAX_BARS).collect();
    let unit_chart = chart::bars(
        &units_for_chart
            .iter()
            .map(|u| {
                (
                    u.name.clone(),
                    vec![
                        u.figures.online_share_permille.map(|v| f64::from(v) / 10.0),
                        u.figures.smart_fee_share_permille.map(|v| f64::from(v) / 10.0),
                    ],
                )
            })
            .collect::<Vec<_>>(),
        &[p.t("stats.online_share"), p.t("stats.smart_fee_share")],
        100.0,
        "%",
        p.t("stats.chart_units"),
    );
    let accepted: Vec<Option<f64>> = r.series.iter().map(|b| Some(b.figures.online_approved as f64)).collect();
    let apps_chart = chart::columns(&labels, &accepted, p.t("stats.online_accepted"), p.t("stats.chart_accepted"));
    let target = state.config.applications.sla.target_working_days;
    let cycle_max = r.series.iter().filter_map(|b| b.figures.cycle_p90_days).fold(f64::from(target), f64::max) * 1.15;
    let cycle_chart = chart::line(
        &labels,
        &[
            chart::Series { name: p.t("stats.mean"), values: r.series.iter().map(|b| b.figures.cycle_mean_days).collect(), style: 0 },
            chart::Series { name: "P90", values: r.series.iter().map(|b| b.figures.cycle_p90_days).collect(), style: 1 },
        ],
        cycle_max.ceil(),
        "",
        &[(format!("{} {target}", p.t("stats.target")), f64::from(target))],
        p.t("stats.chart_cycle"),
    );
    let users_max = r.series.iter().map(|b| b.figures.users_total).max().unwrap_or(0).max(1) as f64 * 1.15;
    let users_chart = chart::line(
        &labels,
        &[chart::Series { name: p.t("stats.users"), values: r.series.iter().map(|b| Some(b.figures.users_total as f64)).collect(), style: 0 }],
        users_max.ceil(),
        "",
        &[],
        p.t("stats.chart_users"),
    );
    let payments = |f: &Figures| f.fees_smart.count + f.fees_cash.count;
    let m = &r.assumptions;
    View {
        area_name: r.area_name.clone(),
        range: format!("{} – {}", r.from, r.to),
        has_data: !r.cells.is_empty() || t.users_total > 0,
        online: pct(t.online_share_permille),
        smart: pct(t.smart_fee_share_permille),
        booking: pct(t.booking_share_permille),
        seed_online: pct(Some(SEED_ONLINE_PERMILLE)),
        seed_smart: pct(Some(SEED_SMART_FEE_PERMILLE)),
        accepted: t.online_approved,
        acceptance: pct(t.acceptance_permille),
        submitted_online: t.applications_online + t.applications_online_then_counter,
        users_total: t.users_total,
        users_new: t.users_registered,
        users_verified_total: t.users_verified_total,
        cycle_mean: one(t.cycle_mean_days),
        cycle_p90: one(t.cycle_p90_days),
        cycle_count: t.cycle_count,
        trips: big(t.savings.trips),
        km: big(t.savings.km),
        hours: big(t.savings.hours),
        km_year: big(r.savings_per_year.km),
        hours_year: big(r.savings_per_year.hours),
        seed_km_year: big(SEED_KM_PER_YEAR),
        seed_hours_year: big(SEED_HOURS_PER_YEAR),
        share_chart,
        unit_chart,
        apps_chart,
        cycle_chart,
        users_chart,
        series: r
            .series
            .iter()
            .map(|b| SeriesRow {
                period: b.period.clone(),
                online: pct(b.figures.online_share_permille),
                smart: pct(b.figures.smart_fee_share_permille),
                booking: pct(b.figures.booking_share_permille),
                visits: b.figures.visits_booked + b.figures.visits_walk_in,
                payments: payments(&b.figures),
                accepted: b.figures.online_approved,
                users_total: b.figures.users_total,
                cycle_mean: one(b.figures.cycle_mean_days),
                cycle_p90: one(b.figures.cycle_p90_days),
            })
            .collect(),
        units: r
            .units
            .iter()
            .map(|u| UnitRow {
                code: u.code.clone(),
                name: u.name.clone(),
                online: pct(u.figures.online_share_permille),
                smart: pct(u.figures.smart_fee_share_permille),
                visits: u.figures.visits_booked + u.figures.visits_walk_in,
                payments: payments(&u.figures),
                accepted: u.figures.online_approved,
                users_total: u.figures.users_total,
                cycle_mean: one(u.figures.cycle_mean_days),
                km: big(u.figures.savings.km),
                hours: big(u.figures.savings.hours),
            })
            .collect(),
        assumptions: vec![
            ("stats.assume_visits", format!("{}", m.traditional_visits)),
            ("stats.assume_urban", format!("{} km · {} h", m.urban.km, m.urban.hours)),
            ("stats.assume_rural", format!("{} km · {} h", m.rural.km, m.rural.hours)),
            ("stats.assume_repeat", format!("{}%", m.walk_in_repeat_rate * 100.0)),
            ("stats.assume_wait", format!("{} h", m.booked_wait_saved_hours)),
        ],
        csv_href: format!("/admin/stats.csv?{}", query_of(req)),
        target_days: target,
    }
}

/// Server-drawn SVG charts. Text is escaped here (the template inserts the markup as is); colours meet WCAG AA
/// contrast on white, and series differ by dash pattern too, not by colour alone. Every chart is decoration for
/// sighted readers: the same numbers are in a table next to it.
mod chart {
    use super::*;

    pub const MAX_BARS: usize = 30;
    const COLORS: [&str; 3] = ["#0b4ea2", "#b3261e", "#0f6b3a"];
    const DASHES: [&str; 3] = ["", "7 4", "2 3"];
    const W: f64 = 640.0;
    const H: f64 = 260.0;
    const LEFT: f64 = 56.0;
    const RIGHT: f64 = 16.0;
    const TOP: f64 = 14.0;
    const BOTTOM: f64 = 36.0;

    pub struct Series<'a> {
        pub name: &'a str,
        pub values: Vec<Option<f64>>,
        /// 0, 1 or 2: colour and dash pattern.
        pub style: usize,
    }

    pub fn esc(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                _ => out.push(c),
            }
        }
        out
    }

    fn num(v: f64) -> String {
        if (v - v.round()).abs() < 1e-9 { format!("{}", v.round() as i64) } else { format!("{v:.1}") }
    }

    fn open(height: f64, label: &str) -> String {
        format!("<svg class=\"stats-chart\" viewBox=\"0 0 {W} {height}\" role=\"img\" aria-label=\"{}\" focusable=\"false\">", esc(label))
    }

    /// Horizontal grid with value labels, and x labels thinned to about eight.
    fn axes(out: &mut String, labels: &[String], y_max: f64, unit: &str) {
        let plot_h = H - TOP - BOTTOM;
        for i in 0..=4 {
            let v = y_max * f64::from(i) / 4.0;
            let y = TOP + plot_h * (1.0 - f64::from(i) / 4.0);
            let _ = write!(out, "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#c9d1db\" stroke-width=\"1\"/>", W - RIGHT);
            let _ = write!(out, "<text x=\"{}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\" fill=\"#4a5562\">{}{}</text>", LEFT - 6.0, y + 4.0, num(v), esc(unit));
        }
        let n = labels.len();
        let step = n.div_ceil(8).max(1);
        for (i, l) in labels.iter().enumerate() {
            if i % step == 0 || i + 1 == n {
                if i + 1 == n && i % step != 0 && (i % step) * 2 < step {
                    continue; // too close to the previous label
                }
                let _ = write!(out, "<text x=\"{:.1}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#4a5562\">{}</text>", x_of(i, n), H - BOTTOM + 18.0, esc(l));
            }
        }
    }

    fn x_of(i: usize, n: usize) -> f64 {
        let plot_w = W - LEFT - RIGHT;
        if n <= 1 { LEFT + plot_w / 2.0 } else { LEFT + plot_w * i as f64 / (n - 1) as f64 }
    }

    fn y_of(v: f64, y_max: f64) -> f64 {
        let plot_h = H - TOP - BOTTOM;
        TOP + plot_h * (1.0 - (v / y_max).clamp(0.0, 1.0))
    }

    /// A line chart; missing values break the line. Reference lines are dashed grey with their label.
    pub fn line(labels: &[String], series: &[Series], y_max: f64, unit: &str, refs: &[(String, f64)], label: &str) -> String {
        let y_max = if y_max > 0.0 { y_max } else { 1.0 };
        let mut out = open(H, label);
        axes(&mut out, labels, y_max, unit);
        for (text, v) in refs {
            let y = y_of(*v, y_max);
            let _ = write!(out, "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#4a5562\" stroke-width=\"1\" stroke-dasharray=\"3 3\"/>", W - RIGHT);
            let _ = write!(out, "<text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#4a5562\">{}</text>", W - RIGHT, y - 4.0, esc(text));
        }
        let n = labels.len();
        for s in series {
            let (color, dash) = (COLORS[s.style % 3], DASHES[s.style % 3]);
            let mut d = String::new();
            let mut pen_down = false;
            for (i, v) in s.values.iter().enumerate() {
                match v {
                    Some(v) => {
                        let _ = write!(d, "{}{:.1} {:.1} ", if pen_down { "L" } else { "M" }, x_of(i, n), y_of(*v, y_max));
                        pen_down = true;
                    }
                    None => pen_down = false,
                }
            }
            if !d.is_empty() {
                let _ = write!(out, "<path d=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2.5\" stroke-dasharray=\"{dash}\"/>", d.trim_end());
            }
            if n <= 62 {
                for (i, v) in s.values.iter().enumerate() {
                    if let Some(v) = v {
                        let _ = write!(out, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>", x_of(i, n), y_of(*v, y_max));
                    }
                }
            }
        }
        out.push_str("</svg>");
        legend(&mut out, &series.iter().map(|s| (s.name, s.style)).collect::<Vec<_>>());
        out
    }

    /// Vertical bars over time (counts).
    pub fn columns(labels: &[String], values: &[Option<f64>], name: &str, label: &str) -> String {
        let max = values.iter().flatten().fold(0.0_f64, |a, b| a.max(*b));
        let y_max = if max > 0.0 { (max * 1.15).ceil() } else { 1.0 };
        let mut out = open(H, label);
        axes(&mut out, labels, y_max, "");
        let n = labels.len().max(1);
        let slot = (W - LEFT - RIGHT) / n as f64;
        let width = (slot * 0.7).clamp(1.0, 28.0);
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v.filter(|v| *v > 0.0) {
                let y = y_of(v, y_max);
                let x = if n == 1 { x_of(0, 1) } else { x_of(i, n) };
                let _ = write!(out, "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{}\"/>", x - width / 2.0, H - BOTTOM - y, COLORS[0]);
            }
        }
        out.push_str("</svg>");
        legend(&mut out, &[(name, 0)]);
        out
    }

    /// Grouped horizontal bars per unit (at most [`MAX_BARS`] units; the table lists all).
    pub fn bars(rows: &[(String, Vec<Option<f64>>)], names: &[&str], max: f64, unit: &str, label: &str) -> String {
        let groups = names.len().max(1) as f64;
        let row_h = groups * 14.0 + 12.0;
        let height = TOP + rows.len() as f64 * row_h + 8.0;
        let (label_w, bar_x, bar_w) = (150.0, 156.0, 400.0);
        let mut out = open(height.max(40.0), label);
        for (r, (name, values)) in rows.iter().enumerate() {
            let y0 = TOP + r as f64 * row_h;
            let short: String = if name.chars().count() > 11 { format!("{}…", name.chars().take(10).collect::<String>()) } else { name.clone() };
            let _ = write!(out, "<text x=\"{}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"end\" fill=\"#1b1f24\">{}</text>", label_w, y0 + row_h / 2.0, esc(&short));
            for (g, v) in values.iter().enumerate() {
                let y = y0 + g as f64 * 14.0;
                match v {
                    Some(v) => {
                        let w = bar_w * (v / max).clamp(0.0, 1.0);
                        let _ = write!(out, "<rect x=\"{bar_x}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"12\" fill=\"{}\"/>", COLORS[g % 3]);
                        let _ = write!(out, "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#1b1f24\">{}{}</text>", bar_x + w + 4.0, y + 10.0, num(*v), esc(unit));
                    }
                    None => {
                        let _ = write!(out, "<text x=\"{bar_x}\" y=\"{:.1}\" font-size=\"11\" fill=\"#4a5562\">—</text>", y + 10.0);
                    }
                }
            }
        }
        out.push_str("</svg>");
        legend(&mut out, &names.iter().enumerate().map(|(i, n)| (*n, i)).collect::<Vec<_>>());
        out
    }

    /// The legend as a list under the chart: a sample of each line or bar and its name.
    fn legend(out: &mut String, items: &[(&str, usize)]) {
        out.push_str("<ul class=\"legend\" aria-hidden=\"true\">");
        for (name, style) in items {
            let _ = write!(
                out,
                "<li><svg width=\"28\" height=\"10\" focusable=\"false\"><line x1=\"0\" y1=\"5\" x2=\"28\" y2=\"5\" stroke=\"{}\" stroke-width=\"3\" stroke-dasharray=\"{}\"/></svg> {}</li>",
                COLORS[style % 3],
                DASHES[style % 3],
                esc(name)
            );
        }
        out.push_str("</ul>");
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn charts_escape_text_and_break_lines_at_gaps() {
            let labels = vec!["10-01".to_string(), "10-02".into(), "10-03".into()];
            let svg = line(&labels, &[Series { name: "<b>", values: vec![Some(50.0), None, Some(100.0)], style: 1 }], 100.0, "%", &[("2019 96.2%".into(), 96.2)], "a \"title\"");
            assert!(svg.contains("aria-label=\"a &quot;title&quot;\""));
            assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
            // Two separate moves: the gap breaks the line.
            let d = svg.split("<path d=\"").nth(1).unwrap().split('"').next().unwrap();
            assert_eq!(d.matches('M').count(), 2);
            assert_eq!(d.matches('L').count(), 0);
            assert!(svg.contains("stroke-dasharray=\"7 4\""));
            let bars = bars(&[("蜀山区=".into(), vec![Some(96.2), None])], &["a", "b"], 100.0, "%", "units");
            assert!(bars.contains("96.2%") && bars.contains("—"));
            let cols = columns(&labels, &[Some(3.0), Some(0.0), None], "n", "cols");
            assert_eq!(cols.matches("<rect").count(), 1);
            assert_eq!(super::super::big(200_000.4), "200,000");
            assert_eq!(super::super::big(999.0), "999");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_key_the_code_uses_exists() {
        // The template's keys are checked by the catalogue test; these are looked up from Rust.
        let src = include_str!("stats.rs");
        let mut checked = 0;
        for part in src.split("\"stats.").skip(1) {
            let suffix = part.split('"').next().unwrap();
            let key = format!("stats.{suffix}");
            // (`suffix == "rs"` is this file's own name above.)
            if suffix != "rs" && !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                assert!(crate::i18n::CATALOGUE.iter().any(|(k, _, _)| *k == key), "missing UI text key {key:?}");
                checked += 1;
            }
        }
        assert!(checked > 15);
    }
}
