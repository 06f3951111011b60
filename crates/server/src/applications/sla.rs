//! Production-cycle supervision (缩短制证周期): every open application against its 15-working-day target on the
//! official holiday calendar, and where the time goes (working days per stage over recently finished
//! applications, the bottleneck being the stage with the longest median).

use std::collections::HashMap;

use serde::Serialize;
use shenfen_domain::applications::{ApplicationState, Stage};
use shenfen_domain::calendar::WorkCalendar;
use shenfen_domain::sla::{self, SlaStatus};
use shenfen_store::{Application, Staff};
use time::Date;

use super::scope_filter;
use crate::app::AppState;
use crate::appointments::ms_to_local;
use crate::error::AppResult;

/// At most this many applications are read per listing; a province-wide view beyond it is a reporting query.
const READ_LIMIT: u32 = 20_000;

#[derive(Debug, Clone, Serialize)]
pub struct OpenItem {
    pub id: String,
    pub ref_no: String,
    pub state: ApplicationState,
    pub stage: Option<Stage>,
    pub division_code: String,
    pub submitted_on: Date,
    pub due_on: Date,
    pub status: SlaStatus,
    /// Working days since submission (today included once it has passed).
    pub days_used: i64,
    /// Working days left until the due date (negative when late).
    pub days_left: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageFigure {
    pub stage: Stage,
    pub median: Option<f64>,
    pub p90: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Supervision {
    pub today: Date,
    pub target_working_days: u32,
    /// Open applications, latest-due first among the late, then by due date.
    pub open: Vec<OpenItem>,
    pub on_track: usize,
    pub at_risk: usize,
    pub late: usize,
    /// Finished in the period: how many, how many within the target, and the cycle's median / p90.
    pub finished: usize,
    pub met: usize,
    pub cycle_median: Option<f64>,
    pub cycle_p90: Option<f64>,
    pub stages: Vec<StageFigure>,
    /// The stage with the longest median among the finished ones.
    pub bottleneck: Option<Stage>,
    pub period_days: u32,
    /// Open applications per place (the acceptance point that takes or hands over the card, else the district of
    /// registered residence for EMS), most late first.
    pub places: Vec<PlaceFigure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlaceFigure {
    /// `point:<id>` or `district:<code>`.
    pub place: String,
    pub name: String,
    pub in_progress: usize,
    pub at_risk: usize,
    pub late: usize,
    /// Median working days used so far by the open applications there.
    pub median_days_used: Option<f64>,
}

const OPEN_STATES: [ApplicationState; 10] = [
    ApplicationState::Submitted,
    ApplicationState::UnderReview,
    ApplicationState::Returned,
    ApplicationState::Approved,
    ApplicationState::AwaitingPayment,
    ApplicationState::Paid,
    ApplicationState::InProduction,
    ApplicationState::Produced,
    ApplicationState::QualityChecked,
    ApplicationState::Dispatched,
];

const FINISHED_STATES: [ApplicationState; 4] =
    [ApplicationState::ReadyForPickup, ApplicationState::Delivered, ApplicationState::Collected, ApplicationState::Closed];

fn day_of(ms: i64) -> Date {
    ms_to_local(ms).date()
}

/// The supervision figures for a staff member's scope, finished applications over the last `period_days`.
pub async fn supervision(state: &AppState, staff: &Staff, period_days: u32) -> AppResult<Supervision> {
    let filter = scope_filter(state, staff).await?;
    let policy = state.config.applications.sla;
    let calendar = WorkCalendar::official();
    let today = state.clock.today_cst();
    let mut open = Vec::new();
    let mut by_place: HashMap<String, (String, Vec<(SlaStatus, i64)>)> = HashMap::new();
    let point_names: HashMap<String, String> = state.store.list_points().await?.into_iter().map(|p| (p.id, p.name)).collect();
    for a in state.store.applications_in(&OPEN_STATES, &filter, READ_LIMIT).await? {
        let Some(sub) = a.submitted_at else { continue };
        let submitted_on = day_of(sub);
        let due_on = policy.due_date(calendar, submitted_on);
        let status = policy.status(calendar, submitted_on, today, None);
        let days_used = calendar.working_days_between(submitted_on, today).max(0);
        let (key, name) = match a.point_id.as_ref().or(a.pickup_point_id.as_ref()) {
            Some(p) => (format!("point:{p}"), point_names.get(p).cloned().unwrap_or_else(|| p.clone())),
            None => (format!("district:{}", a.division_code), shenfen_domain::division::full_name(&a.division_code).unwrap_or_else(|| a.division_code.clone())),
        };
        by_place.entry(key).or_insert_with(|| (name, Vec::new())).1.push((status, days_used));
        open.push(OpenItem {
            id: a.id.clone(),
            ref_no: a.ref_no.clone(),
            state: a.state,
            stage: a.state.stage(),
            division_code: a.division_code.clone(),
            submitted_on,
            due_on,
            status,
            days_used,
            days_left: calendar.working_days_between(today, due_on),
        });
    }
    open.sort_by_key(|o| (o.due_on, o.submitted_on));
    let count = |s: SlaStatus| open.iter().filter(|o| o.status == s).count();
    let (on_track, at_risk, late) = (count(SlaStatus::OnTrack), count(SlaStatus::AtRisk), count(SlaStatus::Late));

    let mut places: Vec<PlaceFigure> = by_place
        .into_iter()
        .map(|(place, (name, v))| PlaceFigure {
            place,
            name,
            in_progress: v.len(),
            at_risk: v.iter().filter(|(s, _)| *s == SlaStatus::AtRisk).count(),
            late: v.iter().filter(|(s, _)| *s == SlaStatus::Late).count(),
            median_days_used: sla::median(&v.iter().map(|(_, d)| *d).collect::<Vec<_>>()),
        })
        .collect();
    places.sort_by(|a, b| (b.late, b.at_risk, b.in_progress).cmp(&(a.late, a.at_risk, a.in_progress)).then(a.place.cmp(&b.place)));

    let since = state.now_ms() - i64::from(period_days) * 86_400_000;
    let finished: Vec<Application> = state
        .store
        .applications_in(&FINISHED_STATES, &filter, READ_LIMIT)
        .await?
        .into_iter()
        .filter(|a| a.finished_at.is_some_and(|f| f >= since) && a.submitted_at.is_some())
        .collect();
    let mut timelines: HashMap<String, Vec<(ApplicationState, Date)>> = HashMap::new();
    if let Some(earliest) = finished.iter().filter_map(|a| a.submitted_at).min() {
        let wanted: std::collections::HashSet<&str> = finished.iter().map(|a| a.id.as_str()).collect();
        // Timelines in one read (from the earliest submission on) rather than one query per application.
        for e in state.store.application_events_between(earliest - 86_400_000, state.now_ms() + 1, READ_LIMIT * 12).await? {
            if wanted.contains(e.application_id.as_str()) {
                timelines.entry(e.application_id.clone()).or_default().push((e.to_state, day_of(e.at)));
            }
        }
    }
    let mut per_stage: HashMap<Stage, Vec<i64>> = HashMap::new();
    let mut cycles = Vec::new();
    let mut met = 0;
    for a in &finished {
        let Some(tl) = timelines.get(&a.id) else { continue };
        let days = sla::stage_working_days(calendar, tl, today);
        for s in [Stage::Review, Stage::Payment, Stage::Production, Stage::Logistics] {
            per_stage.entry(s).or_default().push(days.get(s));
        }
        if let (Some(sub), Some(done)) = (sla::submitted_on(tl), sla::completed_on(tl)) {
            cycles.push(calendar.working_days_between(sub, done).max(0));
            if policy.status(calendar, sub, today, Some(done)) == SlaStatus::Met {
                met += 1;
            }
        }
    }
    let stages: Vec<StageFigure> = [Stage::Review, Stage::Payment, Stage::Production, Stage::Logistics]
        .into_iter()
        .map(|s| {
            let v = per_stage.get(&s).cloned().unwrap_or_default();
            StageFigure { stage: s, median: sla::median(&v), p90: sla::p90(&v) }
        })
        .collect();
    let bottleneck = stages
        .iter()
        .filter_map(|f| f.median.map(|m| (f.stage, m, f.p90.unwrap_or(0.0))))
        .filter(|(_, m, p)| *m > 0.0 || *p > 0.0)
        .max_by(|a, b| (a.1, a.2).partial_cmp(&(b.1, b.2)).unwrap_or(std::cmp::Ordering::Equal))
        .map(|(s, _, _)| s);
    Ok(Supervision {
        today,
        target_working_days: policy.target_working_days,
        open,
        on_track,
        at_risk,
        late,
        finished: finished.len(),
        met,
        cycle_median: sla::median(&cycles),
        cycle_p90: sla::p90(&cycles),
        stages,
        bottleneck,
        period_days,
        places,
    })
}
