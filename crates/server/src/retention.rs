//! Retention (PIPL art. 19: keep personal data no longer than the purpose needs): how long each class of data is
//! kept, the daily job that deletes what is older, and the citizens' page that says so (`/privacy`).
//!
//! Classes covered here are the ones this platform stores today: one-time SMS codes, sessions, rate-limit
//! counters (their keys name phone numbers and addresses), notifications, the demo SMS outbox, portraits that were
//! rejected or whose application ended without a card, finished applications (with their timeline, photos and
//! shipment; payment orders stay as financial records) and the audit log.
//! The audit log is hash-chained; removing its oldest entries moves the chain's anchor and is itself audited
//! (`audit.purged`), so verification still covers everything that remains (see `shenfen_store::audit`).
//!
//! Every instance runs the scheduler; the day's run is claimed with one conditional statement in the database (a
//! rate-limit window of one), so exactly one instance does it per day, and every deletion is idempotent.

use serde::{Deserialize, Serialize};

use crate::app::{Actor, AppState};
use crate::error::AppResult;

const DAY_MS: i64 = 86_400_000;
const CST_MS: i64 = 8 * 3_600_000;
/// Audit entries removed per statement, so the chain's head lock is never waited on for long.
const AUDIT_BATCH: i64 = 10_000;
/// Applications removed per transaction (each takes its timeline, portraits and shipment with it).
const APPLICATION_BATCH: i64 = 200;

/// How long each class of data is kept. Periods count from when the data stopped being needed: a code's or a
/// session's expiry, a notification's creation, an audit entry's time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Run the daily retention job.
    pub enabled: bool,
    /// Hour of the day (China time, 0–23) from which the day's run may start.
    pub run_at_hour: u8,
    /// One-time SMS codes, used or not, are deleted this many days after they expire.
    pub sms_code_days: u32,
    /// Sessions are deleted this many days after they expire.
    pub session_days: u32,
    /// Rate-limit counters, whose keys name phone numbers and client addresses, are deleted after this many days.
    pub rate_limit_days: u32,
    /// Notifications (SMS and in-app) that were delivered, or failed for good, are deleted this many days after
    /// they were created.
    pub notification_days: u32,
    /// The demo SMS outbox (`/dev/outbox`) keeps messages this many days.
    pub outbox_days: u32,
    /// Audit-log entries are kept this many years (at least 1: the Cybersecurity Law asks for 6 months of logs).
    pub audit_log_years: u32,
    /// Portraits that failed the checks, and every portrait of an application that ended without a card
    /// (rejected, cancelled, expired), are deleted this many days after they were taken or the application
    /// ended. The portrait of a live application or of an issued card is never deleted by this rule.
    pub rejected_photo_days: u32,
    /// Finished applications (closed, rejected, cancelled, expired) are deleted this many years after they
    /// finished, with their timeline, portraits and shipment records (at least 1). Payment orders and refunds
    /// are financial records and are kept. Service statistics are computed from the applications, so periods
    /// older than this no longer count the deleted ones.
    pub closed_application_years: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            enabled: true,
            run_at_hour: 3,
            sms_code_days: 1,
            session_days: 7,
            rate_limit_days: 2,
            notification_days: 365,
            outbox_days: 7,
            audit_log_years: 6,
            rejected_photo_days: 30,
            closed_application_years: 3,
        }
    }
}

impl RetentionConfig {
    pub fn check(&self) -> anyhow::Result<()> {
        if self.run_at_hour > 23 {
            anyhow::bail!("retention.run_at_hour must be 0–23");
        }
        if self.audit_log_years < 1 {
            anyhow::bail!("retention.audit_log_years must be at least 1 (logs are kept at least 6 months by law)");
        }
        if self.closed_application_years < 1 {
            anyhow::bail!("retention.closed_application_years must be at least 1 (an application is open to query and appeal for a year)");
        }
        if self.rejected_photo_days < 1 {
            anyhow::bail!("retention.rejected_photo_days must be at least 1 (a citizen must be able to see why a photo failed)");
        }
        if self.rate_limit_days < 2 {
            anyhow::bail!("retention.rate_limit_days must be at least 2 (daily limits need yesterday's window)");
        }
        Ok(())
    }
}

/// What one run deleted, per class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub sms_codes: u64,
    pub sessions: u64,
    pub rate_limits: u64,
    pub notifications: u64,
    pub outbox: u64,
    pub portraits: u64,
    pub applications: u64,
    pub audit_entries: i64,
}

/// Deletes everything past its retention period, now. Idempotent; several instances may run it at once.
pub async fn run_once(state: &AppState) -> AppResult<Report> {
    let c = &state.config.retention;
    let now = state.now_ms();
    let days = |n: u32| now - i64::from(n) * DAY_MS;
    let store = &state.store;
    let mut r = Report {
        sms_codes: store.purge_sms_codes(days(c.sms_code_days)).await?,
        sessions: store.purge_sessions(days(c.session_days)).await?,
        rate_limits: store.purge_rate_limits(days(c.rate_limit_days)).await?,
        notifications: store.purge_notifications(days(c.notification_days)).await?,
        outbox: store.purge_outbox(days(c.outbox_days)).await?,
        portraits: store.purge_rejected_portraits(days(c.rejected_photo_days)).await?,
        applications: 0,
        audit_entries: 0,
    };
    // Calendar years are close enough to 365.25 days for a retention period.
    let years = |n: u32| now - (i64::from(n) * 36_525 * DAY_MS) / 100;
    loop {
        let n = store.purge_closed_applications(years(c.closed_application_years), APPLICATION_BATCH).await?;
        r.applications += n;
        if n < APPLICATION_BATCH as u64 {
            break;
        }
    }
    let audit_cutoff = years(c.audit_log_years);
    let before = store.audit_anchor().await?.0;
    let mut anchor = None;
    while let Some(a) = store.purge_audit(audit_cutoff, AUDIT_BATCH).await? {
        anchor = Some(a);
    }
    let system = Actor { kind: shenfen_store::ActorKind::System, id: "retention".into(), ip: "-".into() };
    if let Some((seq, hash)) = anchor {
        r.audit_entries = seq - before;
        state
            .audit(&system, shenfen_store::audit::PURGE_ACTION, "audit_log", serde_json::json!({ "anchor_seq": seq, "anchor_hash": hash, "removed": r.audit_entries, "years": c.audit_log_years }))
            .await?;
    }
    state.audit(&system, "retention.run", "-", serde_json::to_value(&r).unwrap_or_default()).await?;
    Ok(r)
}

/// The China-time day (as its UTC start) and hour of a UTC millisecond time.
fn cst_day_and_hour(now: i64) -> (i64, i64) {
    let local = now + CST_MS;
    (local.div_euclid(DAY_MS) * DAY_MS - CST_MS, local.rem_euclid(DAY_MS) / 3_600_000)
}

/// Runs the day's retention on one instance: from `run_at_hour` on, the first instance to claim the day does it.
pub async fn run_if_due(state: &AppState) -> AppResult<Option<Report>> {
    let c = &state.config.retention;
    if !c.enabled {
        return Ok(None);
    }
    let (day, hour) = cst_day_and_hour(state.now_ms());
    if hour < i64::from(c.run_at_hour) || !state.store.hit_rate_limit("retention-run", day, 1).await? {
        return Ok(None);
    }
    run_once(state).await.map(Some)
}

/// The scheduler every instance runs (checks every ten minutes).
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !crate::clock_guard::may_run_jobs(&state) {
                continue;
            }
            match run_if_due(&state).await {
                Ok(Some(r)) => tracing::info!(?r, "retention run done"),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e.message_en, "retention run failed; will retry tomorrow or on `shenfen retention run`"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_day_and_hour() {
        // 2026-01-01T03:30+08:00 = 2025-12-31T19:30Z
        let t = 1_767_196_800_000 + 3 * 3_600_000 + 30 * 60_000;
        assert_eq!(cst_day_and_hour(t), (1_767_196_800_000, 3));
        assert_eq!(cst_day_and_hour(1_767_196_800_000 - 1).1, 23);
    }

    #[test]
    fn config_is_checked() {
        assert!(RetentionConfig::default().check().is_ok());
        assert!(RetentionConfig { audit_log_years: 0, ..Default::default() }.check().is_err());
        assert!(RetentionConfig { run_at_hour: 24, ..Default::default() }.check().is_err());
        assert!(RetentionConfig { closed_application_years: 0, ..Default::default() }.check().is_err());
        assert!(RetentionConfig { rejected_photo_days: 0, ..Default::default() }.check().is_err());
    }
}
