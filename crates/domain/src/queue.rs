//! Counter queue tickets (领号) and the rule for calling the next number.
//!
//! Appointment holders who check in get numbers prefixed `A` (`A001`, `A002`, …), walk-ins `W`
//! (`W001`, …); numbers count per point, day and kind (the store's `queue_counters`).
//!
//! # Calling rule ([`next_ticket_with`])
//!
//! With `K = max_appointments_in_row` (default 3, at least 1):
//! 1. An appointment ticket is **due** when its slot has started (`slot_start <= now`; a ticket
//!    without a slot time counts as due). Due appointments go before walk-ins, earliest slot
//!    first, then by ticket number.
//! 2. **But** if the last `K` calls (the tail of `recent_calls`) were all appointments and a
//!    walk-in is waiting, the longest-waiting walk-in (lowest `W` number) is called. So while a
//!    walk-in waits, at most `K` appointment calls happen in a row: walk-ins are never starved,
//!    and the `n`-th waiting walk-in is called within `n × (K + 1)` calls.
//! 3. No due appointment → the lowest-numbered walk-in.
//! 4. Nobody else waiting → appointment holders who checked in early, earliest slot first
//!    (a window never idles while someone waits).
//!
//! `recent_calls` is that day's calls at the point in call order (most recent last); only its
//! tail matters. The function only ever returns an id from `waiting`, so a ticket removed from
//! the waiting list once called can never be called twice.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::PrimitiveDateTime;

use crate::timefmt;

/// Who the ticket is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    /// Checked-in appointment holder, prefix `A`.
    Appointment,
    /// Walk-in, prefix `W`.
    WalkIn,
}

impl TicketKind {
    /// `"appointment"` / `"walk_in"` (the store's `queue_tickets.kind`).
    pub fn code(self) -> &'static str {
        match self {
            TicketKind::Appointment => "appointment",
            TicketKind::WalkIn => "walk_in",
        }
    }

    pub fn from_code(s: &str) -> Option<TicketKind> {
        match s.trim() {
            "appointment" => Some(TicketKind::Appointment),
            "walk_in" => Some(TicketKind::WalkIn),
            _ => None,
        }
    }

    pub fn prefix(self) -> char {
        match self {
            TicketKind::Appointment => 'A',
            TicketKind::WalkIn => 'W',
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            TicketKind::Appointment => "预约",
            TicketKind::WalkIn => "现场",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            TicketKind::Appointment => "Appointment",
            TicketKind::WalkIn => "Walk-in",
        }
    }
}

/// Display number: prefix + at least three digits (`A007`, `W123`, `W1234`).
pub fn format_ticket_number(kind: TicketKind, number: u32) -> String {
    format!("{}{number:03}", kind.prefix())
}

/// Inverse of [`format_ticket_number`] (prefix case-insensitive, at least one digit, number ≥ 1).
pub fn parse_ticket_number(s: &str) -> Option<(TicketKind, u32)> {
    let s = s.trim();
    let mut chars = s.chars();
    let kind = match chars.next()?.to_ascii_uppercase() {
        'A' => TicketKind::Appointment,
        'W' => TicketKind::WalkIn,
        _ => return None,
    };
    let digits = chars.as_str();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    (n >= 1).then_some((kind, n))
}

/// Opaque ticket id (the store's `queue_tickets.id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketId(pub String);

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TicketId {
    fn from(s: &str) -> Self {
        TicketId(s.to_string())
    }
}

/// A waiting ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: TicketId,
    pub kind: TicketKind,
    /// Per point, day and kind, from 1.
    pub number: u32,
    #[serde(with = "timefmt::datetime")]
    pub issued_at: PrimitiveDateTime,
    /// Start of the booked slot (appointment tickets).
    #[serde(with = "timefmt::option_datetime", default)]
    pub slot_start: Option<PrimitiveDateTime>,
}

impl Ticket {
    /// `A001` / `W012`.
    pub fn display_number(&self) -> String {
        format_ticket_number(self.kind, self.number)
    }
}

/// Parameters of the calling rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuePolicy {
    /// `K`: at most this many appointment calls in a row while a walk-in waits (values below 1
    /// are treated as 1).
    pub max_appointments_in_row: u32,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        QueuePolicy {
            max_appointments_in_row: 3,
        }
    }
}

/// [`next_ticket_with`] and the default policy (K = 3).
pub fn next_ticket(
    waiting: &[Ticket],
    recent_calls: &[TicketKind],
    now: PrimitiveDateTime,
) -> Option<TicketId> {
    next_ticket_with(waiting, recent_calls, now, &QueuePolicy::default())
}

/// Which ticket to call next (rule in the module docs); `None` when nobody waits.
pub fn next_ticket_with(
    waiting: &[Ticket],
    recent_calls: &[TicketKind],
    now: PrimitiveDateTime,
    policy: &QueuePolicy,
) -> Option<TicketId> {
    let k = policy.max_appointments_in_row.max(1) as usize;
    let walk_in = waiting
        .iter()
        .filter(|t| t.kind == TicketKind::WalkIn)
        .min_by(|a, b| (a.number, &a.id).cmp(&(b.number, &b.id)));
    let appt_key = |t: &&Ticket| (t.slot_start, t.number, t.id.clone());
    let due = waiting
        .iter()
        .filter(|t| t.kind == TicketKind::Appointment && t.slot_start.is_none_or(|s| s <= now))
        .min_by_key(appt_key);
    let streak = recent_calls
        .iter()
        .rev()
        .take_while(|k| **k == TicketKind::Appointment)
        .count();

    if let Some(w) = walk_in {
        if due.is_none() || streak >= k {
            return Some(w.id.clone());
        }
    }
    if let Some(a) = due {
        return Some(a.id.clone());
    }
    waiting
        .iter()
        .filter(|t| t.kind == TicketKind::Appointment)
        .min_by_key(appt_key)
        .map(|t| t.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn t(id: &str, kind: TicketKind, number: u32, slot: Option<PrimitiveDateTime>) -> Ticket {
        Ticket {
            id: id.into(),
            kind,
            number,
            issued_at: datetime!(2025-10-09 08:50),
            slot_start: slot,
        }
    }

    use TicketKind::{Appointment as A, WalkIn as W};

    #[test]
    fn numbers() {
        assert_eq!(format_ticket_number(A, 1), "A001");
        assert_eq!(format_ticket_number(W, 42), "W042");
        assert_eq!(format_ticket_number(W, 1234), "W1234");
        assert_eq!(parse_ticket_number("a007"), Some((A, 7)));
        assert_eq!(parse_ticket_number("W1234"), Some((W, 1234)));
        for bad in ["", "A", "X001", "A-1", "A000", "A 1", "W12a"] {
            assert_eq!(parse_ticket_number(bad), None, "{bad}");
        }
        assert_eq!(TicketKind::from_code("walk_in"), Some(W));
        assert_eq!(serde_json::to_string(&W).unwrap(), "\"walk_in\"");
        assert_eq!(t("x", A, 3, None).display_number(), "A003");
    }

    #[test]
    fn due_appointments_first_then_walk_in_after_k() {
        let now = datetime!(2025-10-09 09:05);
        let s9 = Some(datetime!(2025-10-09 09:00));
        let s830 = Some(datetime!(2025-10-09 08:30));
        let s10 = Some(datetime!(2025-10-09 10:00));
        let waiting = vec![
            t("w1", W, 1, None),
            t("a2", A, 2, s9),
            t("a1", A, 1, s9),
            t("a3", A, 3, s830), // late arrival for an earlier slot: earliest slot first
            t("a9", A, 9, s10),  // not due yet
        ];
        assert_eq!(next_ticket(&waiting, &[], now), Some("a3".into()));
        assert_eq!(next_ticket(&waiting, &[W, A, A], now), Some("a3".into()));
        assert_eq!(next_ticket(&waiting, &[A, A, A], now), Some("w1".into()));
        let only_not_due = vec![t("w1", W, 1, None), t("a9", A, 9, s10)];
        assert_eq!(next_ticket(&only_not_due, &[], now), Some("w1".into()));
        let early_only = vec![t("a9", A, 9, s10), t("a8", A, 8, s10)];
        assert_eq!(
            next_ticket(&early_only, &[A, A, A, A], now),
            Some("a8".into())
        );
        assert_eq!(next_ticket(&[], &[], now), None);
        let pol = QueuePolicy {
            max_appointments_in_row: 0,
        }; // treated as 1
        assert_eq!(
            next_ticket_with(&waiting, &[A], now, &pol),
            Some("w1".into())
        );
        assert_eq!(
            next_ticket_with(&waiting, &[W], now, &pol),
            Some("a3".into())
        );
    }

    #[test]
    fn walk_ins_in_number_order() {
        let now = datetime!(2025-10-09 09:05);
        let waiting = vec![
            t("w10", W, 10, None),
            t("w2", W, 2, None),
            t("w7", W, 7, None),
        ];
        assert_eq!(next_ticket(&waiting, &[], now), Some("w2".into()));
    }
}
