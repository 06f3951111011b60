//! Clock skew between instances. Leases, due times and expiry deadlines are written by one instance and read by
//! another, each with its own clock: an instance whose clock runs a minute ahead would think every lease expired
//! and take over jobs that another instance is still working on (sending an SMS twice), or expire orders early.
//!
//! So every instance compares its clock with the database server's — the one clock they all share — at start-up
//! and every `check_secs`. While the difference is larger than `max_skew_ms`, the instance:
//! * reports not ready (`/readyz` 503 `clock_skew`), so the balancer takes it out of rotation;
//! * runs none of its background jobs (notification sending, housekeeping, expiry reminders, retention);
//! * logs an error with the measured skew at every check (exported as `shenfen_clock_skew_seconds`, with an alert).
//!
//! Requests that reach it anyway are still served: they are stamped with its time, which is what the operator
//! must fix. When the clock is back within bounds (NTP caught up), the next check puts everything back by itself.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::app::AppState;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ClockGuardConfig {
    /// Largest tolerated difference between this instance's clock and the database server's, in milliseconds
    /// (0 switches the check off). Leases last tens of seconds; NTP keeps servers within milliseconds.
    pub max_skew_ms: i64,
    /// How often the clock is compared, in seconds.
    pub check_secs: u64,
}

impl Default for ClockGuardConfig {
    fn default() -> Self {
        ClockGuardConfig { max_skew_ms: 2_000, check_secs: 30 }
    }
}

/// The last measurement, shared by the instance's request handlers and jobs.
#[derive(Debug, Default)]
pub struct SkewState {
    skew_ms: AtomicI64,
    skewed: AtomicBool,
}

impl SkewState {
    /// Whether the last check found this instance's clock out of bounds.
    pub fn skewed(&self) -> bool {
        self.skewed.load(Ordering::Relaxed)
    }

    /// This instance's clock minus the database's, in milliseconds, at the last check.
    pub fn skew_ms(&self) -> i64 {
        self.skew_ms.load(Ordering::Relaxed)
    }
}

/// Compares the clocks once and records the result; returns the measured skew (ms). A clock pinned by a test
/// (`Clock::fixed`) is not a machine clock and is never judged. A failed database read leaves the last verdict.
pub async fn check(state: &AppState) -> Option<i64> {
    let max = state.config.clock.max_skew_ms;
    if max <= 0 || state.clock.is_pinned() {
        return None;
    }
    let before = state.now_ms();
    let db = match state.store.database_now_ms().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the database clock; keeping the last clock verdict");
            return None;
        }
    };
    let after = state.now_ms();
    // The database read its clock somewhere during the round trip: compare with the middle of it.
    let skew = (before + after) / 2 - db;
    let skewed = skew.abs() > max;
    state.clock_skew.skew_ms.store(skew, Ordering::Relaxed);
    let was = state.clock_skew.skewed.swap(skewed, Ordering::Relaxed);
    if skewed {
        tracing::error!(skew_ms = skew, max_skew_ms = max, "this instance's clock differs from the database's: not ready, background jobs paused until it is corrected");
    } else if was {
        tracing::info!(skew_ms = skew, "clock back within bounds: ready, background jobs resumed");
    }
    Some(skew)
}

/// Whether this instance may run time-dependent background work now (logs why not, at debug level).
pub fn may_run_jobs(state: &AppState) -> bool {
    let ok = !state.clock_skew.skewed();
    if !ok {
        tracing::debug!(skew_ms = state.clock_skew.skew_ms(), "background job skipped: clock skew");
    }
    ok
}

/// Checks every `check_secs`, for as long as the process runs (`serve` checks once itself before starting jobs).
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let every = Duration::from_secs(state.config.clock.check_secs.max(1));
        loop {
            tokio::time::sleep(every).await;
            check(&state).await;
        }
    });
}
