//! Load-aware recommendation (错峰分流): rank (point, slot) options by one score combining
//! distance, expected wait, how full the slot is and how far it is from the wanted time.
//!
//! # Score (lower is better), in minutes
//!
//! ```text
//! score = distance_m / speed_m_per_min                       travel time
//!       + expected_wait_minutes                              queue at the counter
//!       + fill_penalty_minutes × (booked / capacity)²         crowding as the slot fills
//!       + shift_weight × |slot_start − preferred_start| (min) moving away from the wanted time
//! ```
//!
//! Defaults ([`ScoreParams::default`]): speed 250 m/min (15 km/h, an urban door-to-door mix of
//! walking, bus and car), fill penalty 30 min (a nearly full slot counts like half an hour more
//! travel; quadratic so half-full slots cost only 7.5 min), shift weight 0.1 (an hour later
//! costs 6 min; the same time next day 144 min). Without a preferred start the shift term is 0.
//!
//! Excluded: options not `open` (point paused/closed or slot no longer bookable), capacity 0,
//! `booked >= capacity`, and a distance that is negative or not finite.
//!
//! Ties (equal score) break by distance, then slot start, then point id, then slot id, so the
//! result does not depend on the input order.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use time::PrimitiveDateTime;

use crate::load::LoadLevel;
use crate::timefmt;

/// One option the citizen could book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub point_id: String,
    pub slot_id: String,
    #[serde(with = "timefmt::datetime")]
    pub slot_start: PrimitiveDateTime,
    /// Distance from the citizen (or the chosen district centre), metres.
    pub distance_m: f64,
    pub booked: u32,
    pub capacity: u32,
    /// Expected wait at the counter on arrival (e.g. from [`crate::load::estimated_wait_minutes`]
    /// for today; typically 0 for appointment holders on future days).
    pub expected_wait_minutes: u32,
    /// Point accepts bookings and the slot is still bookable (caller applies
    /// `check_point_status` / `check_bookable`).
    pub open: bool,
}

/// Weights of the score (see module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreParams {
    pub speed_m_per_min: f64,
    pub fill_penalty_minutes: f64,
    pub shift_weight: f64,
}

impl Default for ScoreParams {
    fn default() -> Self {
        ScoreParams {
            speed_m_per_min: 250.0,
            fill_penalty_minutes: 30.0,
            shift_weight: 0.1,
        }
    }
}

/// A ranked option with the parts of its score, for display ("约12分钟路程，基本无需排队").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub candidate: Candidate,
    pub score: f64,
    pub travel_minutes: f64,
    pub fill_penalty: f64,
    pub shift_penalty: f64,
    pub remaining: u32,
    pub level: LoadLevel,
}

/// Score parts of an eligible candidate, `None` if it is excluded.
pub fn score(
    c: &Candidate,
    preferred_start: Option<PrimitiveDateTime>,
    p: &ScoreParams,
) -> Option<Recommendation> {
    if !c.open || c.capacity == 0 || c.booked >= c.capacity {
        return None;
    }
    if !c.distance_m.is_finite() || c.distance_m < 0.0 {
        return None;
    }
    let speed = if p.speed_m_per_min > 0.0 {
        p.speed_m_per_min
    } else {
        250.0
    };
    let travel = c.distance_m / speed;
    let fill = c.booked as f64 / c.capacity as f64;
    let fill_penalty = p.fill_penalty_minutes * fill * fill;
    let shift_penalty = preferred_start
        .map(|w| (c.slot_start - w).whole_minutes().unsigned_abs() as f64 * p.shift_weight)
        .unwrap_or(0.0);
    let score = travel + c.expected_wait_minutes as f64 + fill_penalty + shift_penalty;
    Some(Recommendation {
        candidate: c.clone(),
        score,
        travel_minutes: travel,
        fill_penalty,
        shift_penalty,
        remaining: c.capacity - c.booked,
        level: LoadLevel::from_bookings(c.booked, c.capacity),
    })
}

fn order(a: &Recommendation, b: &Recommendation) -> Ordering {
    a.score
        .total_cmp(&b.score)
        .then(a.candidate.distance_m.total_cmp(&b.candidate.distance_m))
        .then(a.candidate.slot_start.cmp(&b.candidate.slot_start))
        .then(a.candidate.point_id.cmp(&b.candidate.point_id))
        .then(a.candidate.slot_id.cmp(&b.candidate.slot_id))
}

/// Ranks the eligible candidates, best first, at most `limit` of them.
pub fn recommend(
    candidates: &[Candidate],
    preferred_start: Option<PrimitiveDateTime>,
    params: &ScoreParams,
    limit: usize,
) -> Vec<Recommendation> {
    let mut v: Vec<Recommendation> = candidates
        .iter()
        .filter_map(|c| score(c, preferred_start, params))
        .collect();
    v.sort_by(order);
    v.truncate(limit);
    v
}

/// When to show alternatives at booking time: the chosen slot/point is Busy or Full
/// ([`LoadLevel::assess`]).
pub fn should_suggest_alternatives(
    booked: u32,
    capacity: u32,
    waiting_now: u32,
    open_windows: u32,
) -> bool {
    LoadLevel::assess(booked, capacity, waiting_now, open_windows) >= LoadLevel::Busy
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn c(
        point: &str,
        slot: &str,
        start: PrimitiveDateTime,
        d: f64,
        booked: u32,
        cap: u32,
        wait: u32,
    ) -> Candidate {
        Candidate {
            point_id: point.into(),
            slot_id: slot.into(),
            slot_start: start,
            distance_m: d,
            booked,
            capacity: cap,
            expected_wait_minutes: wait,
            open: true,
        }
    }

    #[test]
    fn formula_parts() {
        let p = ScoreParams::default();
        let want = datetime!(2025-10-09 09:00);
        let r = score(
            &c("p", "s", datetime!(2025-10-09 10:00), 2500.0, 5, 10, 4),
            Some(want),
            &p,
        )
        .unwrap();
        assert_eq!(r.travel_minutes, 10.0);
        assert_eq!(r.fill_penalty, 7.5);
        assert_eq!(r.shift_penalty, 6.0);
        assert_eq!(r.score, 10.0 + 4.0 + 7.5 + 6.0);
        assert_eq!((r.remaining, r.level), (5, LoadLevel::Normal));
    }

    #[test]
    fn quiet_farther_point_beats_crowded_near_one() {
        let t = datetime!(2025-10-09 09:00);
        let near_busy = c("near", "s1", t, 500.0, 9, 10, 40); // 2 + 40 + 24.3
        let far_quiet = c("far", "s2", t, 5000.0, 1, 10, 0); // 20 + 0 + 0.3
        let full = c("full", "s3", t, 100.0, 10, 10, 0);
        let mut closed = c("closed", "s4", t, 100.0, 0, 10, 0);
        closed.open = false;
        let r = recommend(
            &[near_busy, full, closed, far_quiet],
            Some(t),
            &ScoreParams::default(),
            10,
        );
        let ids: Vec<_> = r.iter().map(|r| r.candidate.point_id.as_str()).collect();
        assert_eq!(ids, ["far", "near"]);
    }

    #[test]
    fn ties_break_by_distance_then_time_then_ids() {
        let p = ScoreParams {
            speed_m_per_min: 250.0,
            fill_penalty_minutes: 0.0,
            shift_weight: 0.0,
        };
        let t1 = datetime!(2025-10-09 09:00);
        let t2 = datetime!(2025-10-09 09:30);
        // a: 1000 m + 4 wait = 8; b: 2000 m + 0 = 8 -> a first (nearer)
        let a = c("a", "1", t1, 1000.0, 0, 10, 4);
        let b = c("b", "1", t1, 2000.0, 0, 10, 0);
        // same distance and score, different start / ids
        let d1 = c("d", "2", t2, 1000.0, 0, 10, 4);
        let d0 = c("d", "1", t2, 1000.0, 0, 10, 4);
        let e = c("e", "1", t1, 1000.0, 0, 10, 4);
        let r = recommend(
            &[b.clone(), d1.clone(), e.clone(), d0.clone(), a.clone()],
            None,
            &p,
            10,
        );
        let got: Vec<_> = r
            .iter()
            .map(|r| (r.candidate.point_id.clone(), r.candidate.slot_id.clone()))
            .collect();
        let want: Vec<(String, String)> =
            [("a", "1"), ("e", "1"), ("d", "1"), ("d", "2"), ("b", "1")]
                .iter()
                .map(|(x, y)| (x.to_string(), y.to_string()))
                .collect();
        assert_eq!(got, want);
        assert_eq!(recommend(&[a, b], None, &p, 1).len(), 1);
    }

    #[test]
    fn bad_distance_and_zero_capacity_excluded() {
        let t = datetime!(2025-10-09 09:00);
        let p = ScoreParams::default();
        assert!(score(&c("x", "1", t, f64::NAN, 0, 10, 0), None, &p).is_none());
        assert!(score(&c("x", "1", t, -1.0, 0, 10, 0), None, &p).is_none());
        assert!(score(&c("x", "1", t, 1.0, 0, 0, 0), None, &p).is_none());
        assert!(should_suggest_alternatives(8, 10, 0, 2));
        assert!(!should_suggest_alternatives(2, 10, 1, 2));
    }
}
