//! Property tests for appointments, queue and recommendation.

use std::collections::HashSet;

use proptest::prelude::*;
use shenfen_domain::appointments::{
    self, DayException, DayHours, DaySchedule, ExceptionKind, Interval, OpeningHours, SlotPlan,
    can_cancel, check_bookable, day_schedule, slot_days, slots_for_day,
};
use shenfen_domain::calendar::{DayKind, WorkCalendar};
use shenfen_domain::queue::{QueuePolicy, Ticket, TicketId, TicketKind, next_ticket_with};
use shenfen_domain::recommend::{Candidate, ScoreParams, recommend};
use time::{Date, Duration, PrimitiveDateTime, Time};

fn t(m: u32) -> Time {
    Time::from_hms((m / 60) as u8, (m % 60) as u8, 0).unwrap()
}

/// Valid hours for one day: 0..=3 intervals from sorted distinct boundaries in 06:00..=22:00.
fn day_hours() -> impl Strategy<Value = DayHours> {
    prop::collection::btree_set(360u32..=1320, 0..=6).prop_map(|set| {
        let v: Vec<u32> = set.into_iter().collect();
        let ivs = v
            .chunks_exact(2)
            .map(|p| Interval::new(t(p[0]), t(p[1])).unwrap())
            .collect();
        DayHours::new(ivs).unwrap()
    })
}

fn hours() -> impl Strategy<Value = OpeningHours> {
    prop::array::uniform7(day_hours()).prop_map(OpeningHours::from_days)
}

fn date_2025_2026() -> impl Strategy<Value = Date> {
    (0i64..730).prop_map(|d| {
        Date::from_calendar_date(2025, time::Month::January, 1).unwrap() + Duration::days(d)
    })
}

fn minutes(x: Time) -> u32 {
    x.hour() as u32 * 60 + x.minute() as u32
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn hours_text_round_trip(h in hours()) {
        let text = h.format();
        prop_assert_eq!(OpeningHours::parse(&text).unwrap(), h.clone());
        let json = serde_json::to_string(&h).unwrap();
        prop_assert_eq!(serde_json::from_str::<OpeningHours>(&json).unwrap(), h);
    }

    #[test]
    fn slots_are_well_formed(
        h in hours(),
        step in 10u32..=120,
        cap in 1u32..=500,
        extra in prop::option::of(1u32..=50),
        d in date_2025_2026(),
    ) {
        let cal = WorkCalendar::official();
        let plan = SlotPlan::new(step, cap).unwrap();
        let ex: Vec<DayException> = extra
            .map(|e| DayException { date: d, kind: ExceptionKind::extra_capacity(e).unwrap() })
            .into_iter()
            .collect();
        let slots = slots_for_day(&h, &plan, d, cal, &ex);
        match day_schedule(&h, d, cal, &ex) {
            DaySchedule::Closed(_) => prop_assert!(slots.is_empty()),
            DaySchedule::Open { hours: day, extra_per_slot, .. } => {
                let want: u32 = day.intervals().iter().map(|i| i.minutes() / step).sum();
                prop_assert_eq!(slots.len() as u32, want);
                for s in &slots {
                    prop_assert_eq!(s.date, d);
                    prop_assert_eq!(minutes(s.end) - minutes(s.start), step);
                    prop_assert_eq!(s.capacity, cap + extra_per_slot);
                    prop_assert!(day.intervals().iter().any(|i| i.start <= s.start && s.end <= i.end));
                }
                for w in slots.windows(2) {
                    prop_assert!(w[0].end <= w[1].start);
                }
            }
        }
        // Holidays never have slots without an hours exception; make-up days always do when
        // the point has any Monday–Friday hours that fit a slot.
        match cal.day_kind(d) {
            DayKind::Holiday(_) => prop_assert!(slots.is_empty()),
            DayKind::MakeUpWorkday(_) => {
                let open = matches!(day_schedule(&h, d, cal, &[]), DaySchedule::Open { .. });
                let any_weekday = [time::Weekday::Monday, time::Weekday::Tuesday, time::Weekday::Wednesday,
                    time::Weekday::Thursday, time::Weekday::Friday, d.weekday()]
                    .iter().any(|w| !h.day(*w).is_closed());
                prop_assert_eq!(open, any_weekday);
            }
            _ => {}
        }
    }

    #[test]
    fn slot_days_cover_exactly_n_working_days(from in date_2025_2026(), n in 0u32..40) {
        let cal = WorkCalendar::official();
        let v = slot_days(from, n, cal);
        prop_assert_eq!(v.iter().filter(|d| cal.is_working_day(**d)).count() as u32, n);
        if n > 0 {
            prop_assert_eq!(v[0], from);
            prop_assert!(cal.is_working_day(*v.last().unwrap()));
            for w in v.windows(2) {
                prop_assert_eq!(w[1] - w[0], Duration::days(1));
            }
        } else {
            prop_assert!(v.is_empty());
        }
    }

    #[test]
    fn booking_rules_are_monotone(
        start_min in 0i64..100_000, now_min in 0i64..100_000, earlier in 0i64..10_000,
        lead in 0u32..1440, cutoff in 0u32..1440,
    ) {
        let base = PrimitiveDateTime::new(Date::from_calendar_date(2025, time::Month::October, 1).unwrap(), Time::MIDNIGHT);
        let start = base + Duration::minutes(start_min);
        let now = base + Duration::minutes(now_min);
        let before = now - Duration::minutes(earlier);
        if check_bookable(start, now, lead).is_ok() {
            prop_assert!(check_bookable(start, before, lead).is_ok());
            prop_assert!(now < start);
        }
        if can_cancel(start, now, cutoff).is_ok() {
            prop_assert!(can_cancel(start, before, cutoff).is_ok());
        }
        prop_assert_eq!(appointments::is_bookable(start, now, lead), check_bookable(start, now, lead).is_ok());
    }
}

// --- queue --------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Event {
    /// A walk-in takes a number.
    WalkIn,
    /// An appointment holder checks in; slot start relative to now, minutes.
    CheckIn(i64),
    /// A window calls the next number.
    Call,
    /// Time passes (minutes).
    Tick(i64),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        2 => Just(Event::WalkIn),
        4 => (-60i64..60).prop_map(Event::CheckIn),
        4 => Just(Event::Call),
        1 => (1i64..30).prop_map(Event::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn walk_ins_never_starved_and_no_ticket_called_twice(
        events in prop::collection::vec(event(), 0..300),
        k in 1u32..6,
    ) {
        let policy = QueuePolicy { max_appointments_in_row: k };
        let mut now = PrimitiveDateTime::new(Date::from_calendar_date(2025, time::Month::October, 9).unwrap(), Time::from_hms(9, 0, 0).unwrap());
        let mut waiting: Vec<Ticket> = Vec::new();
        let mut calls: Vec<TicketKind> = Vec::new();
        let mut called: HashSet<TicketId> = HashSet::new();
        let (mut a_no, mut w_no, mut seq) = (0u32, 0u32, 0u32);
        // walk-in id -> (calls made when it arrived, walk-ins waiting ahead of it + 1)
        let mut deadline: std::collections::HashMap<TicketId, usize> = Default::default();

        for e in events {
            match e {
                Event::WalkIn => {
                    w_no += 1; seq += 1;
                    let id = TicketId(format!("t{seq}"));
                    let ahead = waiting.iter().filter(|t| t.kind == TicketKind::WalkIn).count();
                    deadline.insert(id.clone(), calls.len() + (ahead + 1) * (k as usize + 1));
                    waiting.push(Ticket { id, kind: TicketKind::WalkIn, number: w_no, issued_at: now, slot_start: None });
                }
                Event::CheckIn(rel) => {
                    a_no += 1; seq += 1;
                    waiting.push(Ticket {
                        id: TicketId(format!("t{seq}")), kind: TicketKind::Appointment, number: a_no,
                        issued_at: now, slot_start: Some(now + Duration::minutes(rel)),
                    });
                }
                Event::Tick(m) => now += Duration::minutes(m),
                Event::Call => {
                    let got = next_ticket_with(&waiting, &calls, now, &policy);
                    prop_assert_eq!(got.is_some(), !waiting.is_empty());
                    let Some(id) = got else { continue };
                    let pos = waiting.iter().position(|t| t.id == id);
                    prop_assert!(pos.is_some(), "returned id not waiting");
                    let ticket = waiting.remove(pos.unwrap());
                    prop_assert!(called.insert(ticket.id.clone()), "called twice");
                    let walk_in_was_waiting = ticket.kind == TicketKind::WalkIn
                        || waiting.iter().any(|t| t.kind == TicketKind::WalkIn);
                    let streak = calls.iter().rev().take_while(|c| **c == TicketKind::Appointment).count();
                    if walk_in_was_waiting && streak >= k as usize {
                        prop_assert_eq!(ticket.kind, TicketKind::WalkIn, "more than K appointments in a row");
                    }
                    calls.push(ticket.kind);
                    if ticket.kind == TicketKind::WalkIn {
                        deadline.remove(&ticket.id);
                    }
                }
            }
            // Every waiting walk-in is called within (walk-ins ahead + 1) × (K + 1) calls.
            for t in waiting.iter().filter(|t| t.kind == TicketKind::WalkIn) {
                prop_assert!(calls.len() < deadline[&t.id], "walk-in {} starved", t.id);
            }
        }
    }
}

// --- recommendation -----------------------------------------------------------------------------

fn candidate() -> impl Strategy<Value = Candidate> {
    (
        0u32..6,
        0u32..4,
        0i64..600,
        0.0f64..30_000.0,
        0u32..12,
        0u32..12,
        0u32..90,
        prop::bool::weighted(0.9),
    )
        .prop_map(|(p, s, start, d, booked, cap, wait, open)| Candidate {
            point_id: format!("p{p}"),
            slot_id: format!("s{s}"),
            slot_start: PrimitiveDateTime::new(
                Date::from_calendar_date(2025, time::Month::October, 9).unwrap(),
                Time::from_hms(8, 0, 0).unwrap(),
            ) + Duration::minutes(start),
            distance_m: d,
            booked,
            capacity: cap,
            expected_wait_minutes: wait,
            open,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn recommendation_ranked_filtered_and_order_independent(
        cands in prop::collection::vec(candidate(), 0..30),
        limit in 0usize..40,
        pref in prop::option::of(0i64..600),
    ) {
        let preferred = pref.map(|m| PrimitiveDateTime::new(Date::from_calendar_date(2025, time::Month::October, 9).unwrap(), Time::from_hms(8, 0, 0).unwrap()) + Duration::minutes(m));
        let p = ScoreParams::default();
        let r = recommend(&cands, preferred, &p, limit);
        let eligible = cands.iter().filter(|c| c.open && c.booked < c.capacity).count();
        prop_assert_eq!(r.len(), eligible.min(limit));
        for x in &r {
            prop_assert!(x.candidate.open && x.candidate.booked < x.candidate.capacity);
            prop_assert!(x.score.is_finite() && x.score >= 0.0);
        }
        for w in r.windows(2) {
            prop_assert!(w[0].score <= w[1].score);
        }
        let mut rev = cands.clone();
        rev.reverse();
        prop_assert_eq!(recommend(&rev, preferred, &p, limit), r);
    }
}
