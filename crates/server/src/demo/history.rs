//! Demo history (demo mode only): a deterministic, clearly labelled past for the demo instance, so that the
//! statistics dashboard, SLA supervision and the counter screens show real-looking figures on a fresh database.
//!
//! It is written through the same store calls the services use — accounts created and verified, appointments
//! booked days ahead and checked in at the counter, walk-in tickets, payments by QR code, online and in cash,
//! applications moved step by step by the domain's state machine over the official working-day calendar — so
//! every figure on the dashboard is computed by the production code from rows like real ones. Nothing here sends
//! a message or writes the audit log.
//!
//! Labels: demo accounts use the numbers 199xxxxxxxx and are named 演示居民N; application numbers start `SQDEMO`;
//! every timeline entry has the actor `demo-history` and `{"demo_history":true}` in its detail; only demo
//! acceptance points are used. A pseudo-random generator with a fixed seed makes the same history for the same
//! day. It runs once: if the first application it writes ([`MARKER_REF`]) exists, it does nothing.

use shenfen_domain::applications::{self as rules, ApplicationEvent as E, ApplicationKind, ApplicationState as S, Channel, DeliveryMethod, ReturnReason, TransitionContext};
use shenfen_domain::calendar::WorkCalendar;
use shenfen_domain::fees::{FeeItem, FeeSchedule};
use shenfen_domain::stats::day_start_ms;
use shenfen_domain::timefmt::format_date;
use shenfen_store::{
    AcceptancePoint, Application, ApplicationChanges, AppliedTransition, NewAppointment, NewSlot, OrderUpdate, PaymentOrder, PaymentStatus, StoreError, TicketStatus,
    VerifiedIdentity, new_id, order_number,
};
use time::{Date, Duration};

use crate::app::AppState;

/// The first application the history writes; its presence means the history is there.
pub const MARKER_REF: &str = "SQDEMO00000001";
const ACTOR: &str = "demo-history";
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

/// How much history to make.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Days before today (today itself is left to the live demo).
    pub days: i64,
    /// Demo acceptance points used per district.
    pub points_per_district: usize,
    /// Multiplies every daily volume.
    pub volume: f64,
}

impl Default for Plan {
    fn default() -> Self {
        Plan { days: 120, points_per_district: 2, volume: 1.0 }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HistoryReport {
    pub skipped: bool,
    pub citizens: usize,
    pub visits: usize,
    pub payments: usize,
    pub applications: usize,
}

/// SplitMix64: small, fast and the same everywhere (the history must not change with a dependency's version).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as u64) as i64
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// Registered residence of demo accounts: Hefei's urban districts mostly, some from its counties.
const HUKOU: [(&str, u64); 7] = [("340102", 22), ("340103", 18), ("340104", 26), ("340111", 22), ("340121", 5), ("340122", 4), ("340181", 3)];

struct Member {
    id: String,
    hukou: Option<String>,
    created_at: i64,
}

struct Gen<'a> {
    state: &'a AppState,
    rng: Rng,
    now: i64,
    plan: Plan,
    points: Vec<AcceptancePoint>,
    members: Vec<Member>,
    next_person: u64,
    next_app: u64,
    report: HistoryReport,
}

/// Makes the history unless it is there already. Returns what it wrote.
pub async fn seed(state: &AppState, plan: &Plan) -> anyhow::Result<HistoryReport> {
    if state.store.application_by_ref(MARKER_REF).await?.is_some() {
        return Ok(HistoryReport { skipped: true, ..Default::default() });
    }
    let mut all: Vec<AcceptancePoint> = state.store.list_points().await?.into_iter().filter(|p| p.is_demo).collect();
    all.sort_by(|a, b| (a.district_code.as_str(), a.id.as_str()).cmp(&(b.district_code.as_str(), b.id.as_str())));
    let mut points: Vec<AcceptancePoint> = Vec::new();
    for p in all {
        if points.iter().filter(|q| q.district_code == p.district_code).count() < plan.points_per_district {
            points.push(p);
        }
    }
    if points.is_empty() {
        return Ok(HistoryReport { skipped: true, ..Default::default() });
    }
    let mut g = Gen {
        state,
        rng: Rng(0x5eed_0962_0986_2019),
        now: state.now_ms(),
        plan: plan.clone(),
        points,
        members: Vec::new(),
        next_person: 1,
        next_app: 1,
        report: HistoryReport::default(),
    };
    let today = state.clock.today_cst();
    let calendar = WorkCalendar::official();
    for back in (1..=plan.days).rev() {
        let day = today - Duration::days(back);
        g.registrations(day).await?;
        g.online_applications(day).await?;
        if calendar.is_working_day(day) {
            for i in 0..g.points.len() {
                g.counter_day(i, day).await?;
            }
        }
    }
    Ok(g.report)
}

/// The next working-day moment at or after `at`: working hours are 09:00–17:00.
fn working_moment(at: i64, rng: &mut Rng) -> i64 {
    let calendar = WorkCalendar::official();
    let mut day = crate::appointments::ms_to_local(at).date();
    let start = day_start_ms(day);
    if calendar.is_working_day(day) && at < start + 16 * HOUR {
        return at.max(start + 9 * HOUR + rng.range(0, 30) * MINUTE);
    }
    loop {
        day = day.next_day().unwrap_or(day);
        if calendar.is_working_day(day) {
            return day_start_ms(day) + 9 * HOUR + rng.range(0, 120) * MINUTE;
        }
    }
}

/// `n` working days after the day of `at`, at a working hour.
fn after_working_days(at: i64, n: u32, rng: &mut Rng) -> i64 {
    let day = crate::appointments::ms_to_local(at).date();
    let d = WorkCalendar::official().add_working_days(day, n);
    day_start_ms(d) + 9 * HOUR + rng.range(30, 420) * MINUTE
}

fn synthetic_id(n: u64, district: &str) -> String {
    let birth = Date::from_calendar_date(1960, time::Month::January, 1).unwrap_or(Date::MIN) + Duration::days((n % 14_000) as i64);
    let first17 = format!("{district}{:04}{:02}{:02}9{:02}", birth.year(), birth.month() as u8, birth.day(), (n / 14_000) % 100);
    let check = shenfen_domain::idnumber::try_check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

impl Gen<'_> {
    fn volume(&mut self, lo: i64, hi: i64) -> i64 {
        (self.rng.range(lo, hi) as f64 * self.plan.volume).round() as i64
    }

    fn hukou(&mut self) -> String {
        let total: u64 = HUKOU.iter().map(|h| h.1).sum();
        let mut pick = self.rng.below(total);
        for (code, w) in HUKOU {
            if pick < w {
                return code.into();
            }
            pick -= w;
        }
        HUKOU[0].0.into()
    }

    /// New accounts through the day; about seven in ten pass real-name verification soon after.
    async fn registrations(&mut self, day: Date) -> anyhow::Result<()> {
        let working = WorkCalendar::official().is_working_day(day);
        let n = self.volume(14, 26) * if working { 10 } else { 6 } / 10;
        let start = day_start_ms(day);
        let mut times: Vec<i64> = (0..n).map(|_| start + self.rng.range(7 * 60, 23 * 60) * MINUTE).collect();
        times.sort_unstable();
        for created in times {
            let n = self.next_person;
            self.next_person += 1;
            let citizen = self.state.store.citizen_for_phone(&format!("199{n:08}"), created).await?;
            let mut hukou = citizen.hukou_code.clone();
            if hukou.is_none() && self.rng.chance(0.72) {
                let district = self.hukou();
                let id = synthetic_id(n, &district);
                let name = format!("演示居民{n}");
                let ident = VerifiedIdentity {
                    name_enc: self.state.keys.encrypt_field(&name),
                    name_masked: shenfen_domain::mask::mask_name(&name),
                    id_number_enc: self.state.keys.encrypt_field(&id),
                    id_number_blind: self.state.keys.blind_index(&id),
                    id_number_masked: shenfen_domain::IdNumber::parse(&id).map(|i| i.masked()).unwrap_or_else(|_| "3401**********0000".into()),
                    hukou_code: district.clone(),
                };
                match self.state.store.record_primary_verification(&citizen.id, &ident, created + self.rng.range(2, 90) * MINUTE).await {
                    Ok(_) => hukou = Some(district),
                    Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            self.members.push(Member { id: citizen.id, hukou, created_at: created });
            self.report.citizens += 1;
        }
        Ok(())
    }

    /// A member who existed before `at` (verified ones only when `verified`).
    fn member_before(&mut self, at: i64, verified: bool) -> Option<usize> {
        let eligible = self.members.partition_point(|m| m.created_at < at);
        for _ in 0..8 {
            let i = self.rng.below(eligible as u64) as usize;
            if i < eligible && (!verified || self.members[i].hukou.is_some()) {
                return Some(i);
            }
        }
        None
    }

    fn point_for(&mut self, district: &str) -> usize {
        let local: Vec<usize> = (0..self.points.len()).filter(|i| self.points[*i].district_code == district).collect();
        if local.is_empty() { self.rng.below(self.points.len() as u64) as usize } else { local[self.rng.below(local.len() as u64) as usize] }
    }

    async fn pay(&mut self, reference: &str, citizen_id: Option<&str>, item: FeeItem, channel: &str, point: Option<&str>, at: i64) -> anyhow::Result<()> {
        let amount = FeeSchedule::default().amount_fen(item);
        let order = PaymentOrder {
            id: new_id(),
            order_no: order_number(),
            citizen_id: citizen_id.map(str::to_string),
            reference: reference.into(),
            item: item.code().into(),
            amount_fen: amount,
            channel: Some(channel.into()),
            status: PaymentStatus::Created,
            failure_code: None,
            provider_trade_no: None,
            refunded_fen: 0,
            point_id: point.map(str::to_string),
            staff_id: None,
            cash_received_fen: None,
            created_at: at - 2 * MINUTE,
            updated_at: at - 2 * MINUTE,
            expires_at: at + HOUR,
            paid_at: None,
            opened_at: None,
        };
        self.state.store.create_order(&order, None).await?;
        let update = OrderUpdate {
            paid_at: Some(at),
            provider_trade_no: (channel != "cash").then(|| format!("DEMO{}", &order.order_no[2..])),
            cash_received_fen: (channel == "cash").then_some(amount),
            ..Default::default()
        };
        self.state.store.change_status(&order.order_no, &[PaymentStatus::Created], PaymentStatus::Success, &update, at).await?;
        self.report.payments += 1;
        Ok(())
    }

    /// A new application (draft) for a member.
    async fn application(&mut self, member: Option<usize>, channel: Channel, delivery: DeliveryMethod, point: Option<usize>, at: i64) -> anyhow::Result<Application> {
        let n = self.next_app;
        self.next_app += 1;
        let (citizen_id, division) = match member {
            Some(i) => (Some(self.members[i].id.clone()), self.members[i].hukou.clone().unwrap_or_else(|| "340104".into())),
            None => (None, "340104".into()),
        };
        let name = format!("演示居民{}", 900_000 + n);
        let id_number = synthetic_id(500_000 + n, &division);
        let keys = &self.state.keys;
        let point_id = point.map(|i| self.points[i].id.clone());
        let ems = delivery == DeliveryMethod::Ems;
        let app = Application {
            id: new_id(),
            ref_no: format!("SQDEMO{n:08}"),
            citizen_id,
            kind: if self.rng.chance(0.85) { ApplicationKind::RenewalExpiry } else { ApplicationKind::RenewalChange },
            channel,
            state: S::Draft,
            version: 1,
            applicant_name_enc: keys.encrypt_field(&name),
            applicant_name_masked: shenfen_domain::mask::mask_name(&name),
            applicant_id_enc: keys.encrypt_field(&id_number),
            applicant_id_masked: shenfen_domain::IdNumber::parse(&id_number).map(|i| i.masked()).unwrap_or_default(),
            applicant_id_blind: keys.blind_index(&id_number),
            division_code: division.clone(),
            point_id: point_id.clone(),
            portrait_source: Some(if channel == Channel::Counter { "counter" } else { "phone" }.into()),
            portrait_id: None,
            delivery_method: delivery,
            delivery_division: ems.then(|| division.clone()),
            delivery_address_enc: ems.then(|| keys.encrypt_field("安徽省合肥市（演示地址）")),
            delivery_address_masked: ems.then(|| "安徽省合肥市****（演示）".to_string()),
            recipient_phone: None,
            pickup_point_id: if ems { None } else { point_id },
            fee_waived: false,
            fee_fen: FeeSchedule::default().amount_fen(FeeItem::Renewal),
            postage_fen: if ems { FeeSchedule::default().postage_fen } else { 0 },
            payment_order_no: None,
            appointment_id: None,
            return_reasons: None,
            return_note: None,
            reject_reason: None,
            tracking_no: None,
            batch_id: None,
            claimed_by: None,
            claim_until: None,
            submitted_at: None,
            approved_at: None,
            payment_due_at: None,
            finished_at: None,
            created_at: at - self.rng.range(5, 40) * MINUTE,
            updated_at: at,
        };
        self.state.store.insert_application(&app).await?;
        self.report.applications += 1;
        Ok(app)
    }

    /// One move, decided by the domain's state machine; `None` when it is refused or lies in the future. Writes the
    /// columns the statistics and supervision read (the service's `act` does the same for live moves).
    async fn step(&mut self, app: &Application, event: E, at: i64) -> anyhow::Result<Option<Application>> {
        if at > self.now {
            return Ok(None);
        }
        let ctx = TransitionContext { channel: app.channel, delivery: app.delivery_method, fee_waived: app.fee_waived, has_appointment: false };
        let Ok(t) = rules::transition(app.state, &event, &ctx) else { return Ok(None) };
        let mut changes = ApplicationChanges::default();
        match &event {
            E::Submit | E::Resubmit if app.submitted_at.is_none() => changes.submitted_at = Some(at),
            E::Approve => {
                changes.approved_at = Some(at);
                changes.payment_due_at = Some(at + 72 * HOUR);
            }
            E::Return { reasons } => changes.return_reasons = Some(reasons.iter().map(|r| r.code()).collect::<Vec<_>>().join(",")),
            E::Reject { reason } => changes.reject_reason = Some(reason.clone()),
            E::Dispatch { tracking_no } => changes.tracking_no = Some(tracking_no.clone()),
            _ => {}
        }
        if t.to.is_terminal() || t.to.card_available() {
            changes.finished_at = Some(at);
        }
        let applied = AppliedTransition {
            application_id: app.id.clone(),
            expected_version: app.version,
            from: app.state,
            to: t.to,
            changes,
            event: event.code().into(),
            actor_kind: "system".into(),
            actor_id: ACTOR.into(),
            detail: serde_json::json!({ "demo_history": true }).to_string(),
            online_cancellation: false,
            failed_photo_review: t.failed_photo_review,
            at,
        };
        Ok(self.state.store.apply_transition(&applied).await?)
    }

    /// Walks an application through `events` at their times, stopping at the first that is refused or not due.
    async fn walk(&mut self, mut app: Application, events: Vec<(E, i64)>) -> anyhow::Result<Application> {
        let mut last = app.created_at;
        for (event, at) in events {
            let at = at.max(last + MINUTE);
            let paying = matches!(event, E::PaymentSucceeded);
            match self.step(&app, event, at).await? {
                Some(next) => {
                    if paying {
                        let counter = next.channel == Channel::Counter;
                        let channel = match (counter, self.rng.below(100)) {
                            (true, 0) => "cash",
                            (true, n) if n < 55 => "wechat_qr",
                            (true, _) => "alipay_qr",
                            (false, n) if n < 52 => "alipay",
                            (false, n) if n < 95 => "wechat",
                            (false, _) => "unionpay",
                        };
                        let point = if counter { next.point_id.clone() } else { None };
                        self.pay(&next.id, next.citizen_id.as_deref(), FeeItem::Renewal, channel, point.as_deref(), at).await?;
                        if next.delivery_method == DeliveryMethod::Ems {
                            self.pay(&next.id, next.citizen_id.as_deref(), FeeItem::Postage, channel, None, at).await?;
                        }
                    }
                    app = next;
                    last = at;
                }
                None => break,
            }
        }
        Ok(app)
    }

    /// Online applications submitted through the day and night ("24 小时不打烊"); reviewed on working days.
    async fn online_applications(&mut self, day: Date) -> anyhow::Result<()> {
        // At least one on the first day, so that the marker exists from the start.
        let n = self.volume(2, 6).max(i64::from(self.next_app == 1));
        for _ in 0..n {
            let submitted = day_start_ms(day) + self.rng.range(7 * 60, 23 * 60 - 1) * MINUTE;
            let member = self.member_before(submitted, true);
            let online = self.rng.chance(0.85);
            let (channel, delivery) = match (online, self.rng.chance(0.78)) {
                (true, true) => (Channel::Online, DeliveryMethod::Ems),
                (true, false) => (Channel::Online, DeliveryMethod::Pickup),
                (false, _) => (Channel::OnlineThenCounter, DeliveryMethod::Pickup),
            };
            let district = member.and_then(|i| self.members[i].hukou.clone()).unwrap_or_else(|| "340104".into());
            let point = (delivery == DeliveryMethod::Pickup).then(|| self.point_for(&district));
            let app = self.application(member, channel, delivery, point, submitted).await?;
            let mut events = vec![(E::Submit, submitted)];
            let mut review = working_moment(submitted + self.rng.range(20, 180) * MINUTE, &mut self.rng);
            let fate = self.rng.below(100);
            if fate < 4 {
                // Returned for a new photo, corrected the next day.
                events.push((E::StartReview { reviewer: 1 }, review));
                events.push((E::Return { reasons: vec![ReturnReason::PhotoNonconforming] }, review + 15 * MINUTE));
                let again = review + self.rng.range(3, 30) * HOUR;
                events.push((E::Resubmit, again));
                review = working_moment(again + self.rng.range(20, 120) * MINUTE, &mut self.rng);
            }
            events.push((E::StartReview { reviewer: 1 }, review));
            if (4..7).contains(&fate) {
                events.push((E::Reject { reason: "演示：户籍信息不符".into() }, review + 20 * MINUTE));
                self.walk(app, events).await?;
                continue;
            }
            let approved = review + self.rng.range(10, 60) * MINUTE;
            events.push((E::Approve, approved));
            events.push((E::RequestPayment, approved + MINUTE));
            let paid = approved + self.rng.range(5, 300) * MINUTE;
            events.push((E::PaymentSucceeded, paid));
            self.production(&mut events, paid, delivery, channel);
            self.walk(app, events).await?;
        }
        Ok(())
    }

    /// Production, then EMS delivery or pickup at the point.
    fn production(&mut self, events: &mut Vec<(E, i64)>, paid: i64, delivery: DeliveryMethod, channel: Channel) {
        let started = after_working_days(paid, 1, &mut self.rng);
        events.push((E::StartProduction, started));
        let produced = after_working_days(started, self.rng.range(3, 7) as u32, &mut self.rng);
        events.push((E::MarkProduced, produced));
        events.push((E::PassQualityCheck, produced + HOUR));
        match delivery {
            DeliveryMethod::Ems => {
                events.push((E::Dispatch { tracking_no: format!("DEMO{:09}", self.rng.below(1_000_000_000)) }, produced + 2 * HOUR));
                events.push((E::Delivered { face_verified: true }, produced + self.rng.range(1, 2) * DAY + self.rng.range(0, 5) * HOUR));
            }
            DeliveryMethod::Pickup => {
                let ready = after_working_days(produced, 1, &mut self.rng);
                events.push((E::RouteToPickup { point: 1 }, ready));
                let collected = working_moment(ready + self.rng.range(1, 9) * DAY, &mut self.rng);
                events.push((E::Collected { fingerprint_verified: true }, collected));
                if channel == Channel::Counter {
                    events.push((E::Close, collected + HOUR));
                }
            }
        }
    }

    /// One working day at one point: booked visits (made one to five days before) and a few walk-ins; most pay the
    /// fee by QR code at the counter, a third of the booked ones apply for their card there.
    async fn counter_day(&mut self, pi: usize, day: Date) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let point = self.points[pi].clone();
        let iso = format_date(day);
        let start = day_start_ms(day);
        let new_slots: Vec<NewSlot> = [(540, 9 * HOUR), (840, 14 * HOUR)]
            .into_iter()
            .map(|(min, at)| NewSlot { point_id: point.id.clone(), day: iso.clone(), start_min: min, end_min: min + 30, starts_at: start + at, capacity: 60 })
            .collect();
        store.ensure_slots(&new_slots).await?;
        let slots: Vec<_> = store.slots(&point.id, &iso, &iso).await?.into_iter().filter(|s| s.start_min == 540 || s.start_min == 840).collect();
        if slots.is_empty() {
            return Ok(());
        }
        let booked = self.volume(5, 10);
        for i in 0..booked {
            let slot = slots[(i as usize) % slots.len()].clone();
            let made = start - self.rng.range(1, 5) * DAY + self.rng.range(8 * 60, 22 * 60) * MINUTE;
            let Some(m) = self.member_before(made, false) else { continue };
            let service = match self.rng.below(100) {
                0..60 => "renewal",
                60..75 => "first_issue",
                75..85 => "replacement",
                _ => "pickup",
            };
            let month = format!("{:04}-{:02}", crate::appointments::ms_to_local(made).year(), crate::appointments::ms_to_local(made).month() as u8);
            let req = NewAppointment {
                citizen_id: self.members[m].id.clone(),
                slot_id: slot.id.clone(),
                service: service.into(),
                month,
                max_cancellations_per_month: i64::MAX,
                max_no_shows_per_month: i64::MAX,
                now: made,
            };
            let appt = match store.book(&req).await {
                Ok(a) => a,
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let arrived = slot.starts_at + self.rng.range(-10, 25) * MINUTE;
            let ticket = store.check_in(&point.id, &iso, &appt.code, arrived).await?;
            let called = arrived + self.rng.range(2, 20) * MINUTE;
            store.call_ticket(&ticket.id, 1 + self.rng.range(0, 1), called).await?;
            store.finish_ticket(&ticket.id, TicketStatus::Served, called + self.rng.range(5, 15) * MINUTE).await?;
            self.report.visits += 1;
            let paid_at = called + 4 * MINUTE;
            match service {
                "pickup" => {}
                "renewal" | "first_issue" if self.members[m].hukou.is_some() && self.rng.chance(0.35) => {
                    let app = self.application(Some(m), Channel::Counter, DeliveryMethod::Pickup, Some(pi), called).await?;
                    let mut events = vec![
                        (E::Submit, called + MINUTE),
                        (E::StartReview { reviewer: 1 }, called + 2 * MINUTE),
                        (E::Approve, called + 3 * MINUTE),
                        (E::RequestPayment, called + 3 * MINUTE),
                        (E::PaymentSucceeded, paid_at),
                    ];
                    self.production(&mut events, paid_at, DeliveryMethod::Pickup, Channel::Counter);
                    self.walk(app, events).await?;
                }
                _ => {
                    let item = match service {
                        "first_issue" => FeeItem::FirstIssue,
                        "replacement" => FeeItem::ReplacementLost,
                        _ => FeeItem::Renewal,
                    };
                    let channel = match self.rng.below(1000) {
                        0..15 => "cash",
                        15..540 => "wechat_qr",
                        _ => "alipay_qr",
                    };
                    let citizen = self.members[m].id.clone();
                    self.pay(&format!("visit:{}", ticket.id), Some(&citizen), item, channel, Some(&point.id), paid_at).await?;
                }
            }
        }
        // Walk-ins: rarer now that booking is the norm, and more of them pay cash.
        let v = self.plan.volume.min(1.0);
        let walk_ins = i64::from(self.rng.chance(0.3 * v)) + i64::from(self.rng.chance(0.05 * v));
        for _ in 0..walk_ins {
            let came = start + self.rng.range(9 * 60, 16 * 60) * MINUTE;
            let ticket = store.walk_in_ticket(&point.id, &iso, came).await?;
            store.call_ticket(&ticket.id, 1, came + 20 * MINUTE).await?;
            store.finish_ticket(&ticket.id, TicketStatus::Served, came + 30 * MINUTE).await?;
            self.report.visits += 1;
            if self.rng.chance(0.8) {
                let channel = if self.rng.chance(0.3) { "cash" } else { "wechat_qr" };
                self.pay(&format!("visit:{}", ticket.id), None, FeeItem::Renewal, channel, Some(&point.id), came + 35 * MINUTE).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_and_its_ids_are_valid() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        let xs: Vec<u64> = (0..5).map(|_| a.next()).collect();
        assert_eq!(xs, (0..5).map(|_| b.next()).collect::<Vec<_>>());
        let mut r = Rng(1);
        assert!((0..1000).all(|_| (3..=5).contains(&r.range(3, 5))));
        let ids: std::collections::HashSet<String> = (0..20_000).map(|n| synthetic_id(n, "340104")).collect();
        assert_eq!(ids.len(), 20_000, "distinct");
        for n in [0, 13_999, 14_000, 600_123] {
            let id = synthetic_id(n, "340121");
            assert!(shenfen_domain::IdNumber::parse(&id).is_ok(), "{id}");
        }
    }
}
