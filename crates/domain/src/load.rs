//! Live load of an acceptance point: status, load level (heat-map colour) and estimated wait.
//!
//! # Load level ([`LoadLevel::assess`])
//!
//! Two signals, the worse one wins:
//!
//! | level  | bookings `booked / capacity` | queue `waiting_now / open_windows` |
//! |--------|------------------------------|-------------------------------------|
//! | Idle   | < 30 %                        | ≤ 1 person per window               |
//! | Normal | 30 % ..< 80 %                 | ≤ 4 per window                      |
//! | Busy   | 80 % ..< 100 %                | > 4 per window (or people waiting with no window open) |
//! | Full   | ≥ 100 % (or capacity 0)       | – (a queue never makes a day *Full*) |
//!
//! The queue signal only makes sense for today; pass `waiting_now = 0` for future days.
//! Integer arithmetic, so the thresholds are exact (`booked * 10 < capacity * 3` etc.).
//!
//! # Estimated wait ([`estimated_wait_minutes`])
//!
//! A person joining the queue now waits about `ceil(waiting_now × avg_service_minutes /
//! open_windows)` minutes (every window serves one person at a time).

use serde::{Deserialize, Serialize};

use crate::appointments::ScheduleError;

/// Live status of a point, switched by counter staff / administrators (the store's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointStatus {
    /// 正常办理
    Open,
    /// 繁忙 (still taking bookings and walk-ins)
    Busy,
    /// 暂停服务 (temporarily; usually with a reason and expected reopening time)
    Paused,
    /// 今日停办
    Closed,
}

impl PointStatus {
    pub const ALL: [PointStatus; 4] = [
        PointStatus::Open,
        PointStatus::Busy,
        PointStatus::Paused,
        PointStatus::Closed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            PointStatus::Open => "open",
            PointStatus::Busy => "busy",
            PointStatus::Paused => "paused",
            PointStatus::Closed => "closed",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            PointStatus::Open => "正常办理",
            PointStatus::Busy => "繁忙",
            PointStatus::Paused => "暂停服务",
            PointStatus::Closed => "今日停办",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            PointStatus::Open => "Open",
            PointStatus::Busy => "Busy",
            PointStatus::Paused => "Paused",
            PointStatus::Closed => "Closed today",
        }
    }

    pub fn from_code(code: &str) -> Option<PointStatus> {
        Self::ALL.into_iter().find(|s| s.code() == code.trim())
    }

    /// Whether the counters serve people now (Open or Busy).
    pub fn is_serving(self) -> bool {
        matches!(self, PointStatus::Open | PointStatus::Busy)
    }
}

/// Heat-map load level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadLevel {
    Idle,
    Normal,
    Busy,
    Full,
}

impl LoadLevel {
    pub const ALL: [LoadLevel; 4] = [
        LoadLevel::Idle,
        LoadLevel::Normal,
        LoadLevel::Busy,
        LoadLevel::Full,
    ];

    /// Level from bookings alone (see the table in the module docs).
    pub fn from_bookings(booked: u32, capacity: u32) -> LoadLevel {
        let (b, c) = (booked as u64, capacity as u64);
        if c == 0 || b >= c {
            LoadLevel::Full
        } else if b * 10 >= c * 8 {
            LoadLevel::Busy
        } else if b * 10 >= c * 3 {
            LoadLevel::Normal
        } else {
            LoadLevel::Idle
        }
    }

    /// Level from the queue alone (never `Full`).
    pub fn from_queue(waiting_now: u32, open_windows: u32) -> LoadLevel {
        let (w, n) = (waiting_now as u64, open_windows as u64);
        if w == 0 {
            LoadLevel::Idle
        } else if n == 0 || w > n * 4 {
            LoadLevel::Busy
        } else if w > n {
            LoadLevel::Normal
        } else {
            LoadLevel::Idle
        }
    }

    /// The worse of [`from_bookings`](Self::from_bookings) and [`from_queue`](Self::from_queue).
    pub fn assess(booked: u32, capacity: u32, waiting_now: u32, open_windows: u32) -> LoadLevel {
        Self::from_bookings(booked, capacity).max(Self::from_queue(waiting_now, open_windows))
    }

    pub fn code(self) -> &'static str {
        match self {
            LoadLevel::Idle => "idle",
            LoadLevel::Normal => "normal",
            LoadLevel::Busy => "busy",
            LoadLevel::Full => "full",
        }
    }

    /// CSS class / design token for the heat map, e.g. `"load-idle"`.
    pub fn color_token(self) -> &'static str {
        match self {
            LoadLevel::Idle => "load-idle",
            LoadLevel::Normal => "load-normal",
            LoadLevel::Busy => "load-busy",
            LoadLevel::Full => "load-full",
        }
    }

    /// Suggested colour for the token (green / blue / orange / red, Material 800 shades, all
    /// with ≥ 4.5:1 contrast against white text).
    pub fn color_hex(self) -> &'static str {
        match self {
            LoadLevel::Idle => "#2e7d32",
            LoadLevel::Normal => "#1565c0",
            LoadLevel::Busy => "#e65100",
            LoadLevel::Full => "#c62828",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            LoadLevel::Idle => "空闲",
            LoadLevel::Normal => "适中",
            LoadLevel::Busy => "繁忙",
            LoadLevel::Full => "约满",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            LoadLevel::Idle => "Quiet",
            LoadLevel::Normal => "Moderate",
            LoadLevel::Busy => "Busy",
            LoadLevel::Full => "Fully booked",
        }
    }
}

/// Minutes a person joining the queue now can expect to wait:
/// `ceil(waiting_now × avg_service_minutes / open_windows)`. `Some(0)` when nobody waits;
/// `None` when people wait but no window is open (no estimate possible).
pub fn estimated_wait_minutes(
    waiting_now: u32,
    open_windows: u32,
    avg_service_minutes: u32,
) -> Option<u32> {
    if waiting_now == 0 {
        return Some(0);
    }
    if open_windows == 0 {
        return None;
    }
    let total = waiting_now as u64 * avg_service_minutes as u64;
    Some(total.div_ceil(open_windows as u64).min(u32::MAX as u64) as u32)
}

/// A point's load for one day, ready to serialise for the map/list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadSnapshot {
    pub booked: u32,
    pub capacity: u32,
    pub waiting_now: u32,
    pub open_windows: u32,
    pub level: LoadLevel,
    /// `None` when people wait and no window is open.
    pub estimated_wait_minutes: Option<u32>,
}

impl LoadSnapshot {
    pub fn compute(
        booked: u32,
        capacity: u32,
        waiting_now: u32,
        open_windows: u32,
        avg_service_minutes: u32,
    ) -> LoadSnapshot {
        LoadSnapshot {
            booked,
            capacity,
            waiting_now,
            open_windows,
            level: LoadLevel::assess(booked, capacity, waiting_now, open_windows),
            estimated_wait_minutes: estimated_wait_minutes(
                waiting_now,
                open_windows,
                avg_service_minutes,
            ),
        }
    }

    /// Seats left (0 when over-full).
    pub fn remaining(&self) -> u32 {
        self.capacity.saturating_sub(self.booked)
    }
}

/// Validates a window count as the store does (1–100).
pub fn validate_windows(windows: u32) -> Result<u32, ScheduleError> {
    if (1..=100).contains(&windows) {
        Ok(windows)
    } else {
        Err(ScheduleError::Windows { found: windows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booking_thresholds() {
        use LoadLevel::*;
        let cases = [
            (0, 10, Idle),
            (2, 10, Idle),
            (3, 10, Normal),
            (7, 10, Normal),
            (8, 10, Busy),
            (9, 10, Busy),
            (10, 10, Full),
            (11, 10, Full),
            (0, 0, Full),
            (29, 100, Idle),
            (30, 100, Normal),
            (79, 100, Normal),
            (80, 100, Busy),
            (99, 100, Busy),
        ];
        for (b, c, want) in cases {
            assert_eq!(LoadLevel::from_bookings(b, c), want, "{b}/{c}");
        }
    }

    #[test]
    fn queue_thresholds_and_combination() {
        use LoadLevel::*;
        assert_eq!(LoadLevel::from_queue(0, 0), Idle);
        assert_eq!(LoadLevel::from_queue(2, 2), Idle);
        assert_eq!(LoadLevel::from_queue(3, 2), Normal);
        assert_eq!(LoadLevel::from_queue(8, 2), Normal);
        assert_eq!(LoadLevel::from_queue(9, 2), Busy);
        assert_eq!(LoadLevel::from_queue(1, 0), Busy);
        assert_eq!(LoadLevel::assess(1, 10, 9, 2), Busy);
        assert_eq!(LoadLevel::assess(10, 10, 0, 2), Full);
        assert_eq!(LoadLevel::assess(5, 10, 0, 2), Normal);
        assert_eq!(LoadLevel::assess(0, 10, 0, 2), Idle);
    }

    #[test]
    fn tokens_and_codes() {
        for l in LoadLevel::ALL {
            assert_eq!(
                serde_json::to_string(&l).unwrap(),
                format!("\"{}\"", l.code())
            );
            assert_eq!(l.color_token(), format!("load-{}", l.code()));
            assert!(l.color_hex().starts_with('#') && l.color_hex().len() == 7);
        }
        for s in PointStatus::ALL {
            assert_eq!(PointStatus::from_code(s.code()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.code())
            );
        }
        assert!(PointStatus::Busy.is_serving() && !PointStatus::Paused.is_serving());
    }

    #[test]
    fn wait_estimate() {
        assert_eq!(estimated_wait_minutes(0, 0, 10), Some(0));
        assert_eq!(estimated_wait_minutes(5, 0, 10), None);
        assert_eq!(estimated_wait_minutes(5, 2, 10), Some(25));
        assert_eq!(estimated_wait_minutes(3, 2, 7), Some(11)); // 10.5 rounded up
        assert_eq!(estimated_wait_minutes(6, 3, 8), Some(16));
        let s = LoadSnapshot::compute(7, 10, 4, 2, 12);
        assert_eq!(
            (s.level, s.estimated_wait_minutes, s.remaining()),
            (LoadLevel::Normal, Some(24), 3)
        );
        assert_eq!(validate_windows(0).unwrap_err().code(), "windows");
        assert_eq!(validate_windows(100), Ok(100));
    }
}
