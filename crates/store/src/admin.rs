//! Storage for operations (issue 8): staff account security (forced password rotation, TOTP second factor,
//! pending second-factor sign-ins), session listing and revocation, audit-log search and the retention anchor,
//! retention purges, erasure of one person's data on request (PIPL art. 47), and the queue figures behind the
//! operational gauges.
//!
//! Same approach as the rest of the store: SQL written once for both engines, and every rule that must hold
//! across instances is one conditional statement (a TOTP step is accepted once: `… WHERE totp_last_step < $step`;
//! a second-factor challenge is spent once: `DELETE … RETURNING`).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::model::*;
use crate::{CITIZEN_COLS, PgStore, Result, STAFF_COLS, SqliteStore, StoreError, detached, enum_col, unique_violation};

/// The security state of one staff account (columns beside the `Staff` row).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StaffSecurity {
    /// The next sign-in must choose a new password before anything else (new accounts, administrator resets).
    pub must_change_password: bool,
    pub password_changed_at: Option<Millis>,
    /// Encrypted TOTP secret in force; `None` = no second factor.
    pub totp_secret_enc: Option<Vec<u8>>,
    /// Encrypted secret shown during enrolment, not confirmed yet.
    pub totp_pending_enc: Option<Vec<u8>>,
    /// The last accepted 30-second step.
    pub totp_last_step: Option<i64>,
}

/// A sign-in that passed the password and waits for the second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    pub token_hash: String,
    pub staff_id: String,
    pub channel: SessionChannel,
    pub attempts: i64,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// Audit-log search. Every filter is optional; `action` and `target` match as prefixes (`staff.` finds every
/// staff action), `actor_id` exactly; the time range is `[from, to)` in UTC ms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
}

/// What the retention job removed in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub rows: u64,
}

/// One notification as the person's data export shows it (every channel, in-app and SMS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub id: String,
    pub channel: String,
    pub event_kind: String,
    pub template: String,
    /// JSON object of the template's variables (what the message said).
    pub vars: String,
    pub status: String,
    pub created_at: Millis,
    pub read_at: Option<Millis>,
}

/// What erasing one person removed or detached (all in one transaction).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    pub sessions: u64,
    pub sms_codes: u64,
    pub notifications: u64,
    pub push_subscriptions: u64,
    /// Booked appointments whose seat was given back before the appointment rows were deleted.
    pub bookings_cancelled: u64,
    pub appointments: u64,
    pub portraits: u64,
    /// Unsubmitted drafts, deleted with their timeline: nothing was filed, so there is nothing to keep.
    pub drafts: u64,
    /// Finished applications kept for their legal period, no longer linked to an account.
    pub applications_detached: u64,
    /// Payment orders kept as financial records, no longer linked to an account.
    pub payment_orders_detached: u64,
    pub card_records: u64,
}

/// Application states that end without a card; their portraits are only kept for `rejected_photo_days`.
const ENDED_WITHOUT_CARD: &str = "('rejected', 'cancelled', 'expired')";
/// Terminal application states: nothing moves them any more.
const TERMINAL_STATES: &str = "('rejected', 'closed', 'cancelled', 'expired')";

/// Figures for the operational gauges (read by every instance; the database is the truth).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// SMS notifications due to be sent (or whose lease ran out) now.
    pub notifications_due: i64,
    /// How long the oldest due SMS notification has been waiting, in ms (0 when none is due).
    pub notifications_oldest_due_ms: i64,
    /// SMS a provider accepted whose delivery receipt has not come (yet).
    pub sms_awaiting_receipt: i64,
    /// How long ago the oldest of them that the reconciler has not yet asked the provider about was accepted,
    /// in ms (0 when none): it grows past `notify.reconcile.after_secs` only when no reconciler runs.
    pub sms_oldest_unchecked_receipt_ms: i64,
    /// Payment orders started with a provider and still waiting for its answer.
    pub payments_awaiting: i64,
    pub payments_oldest_awaiting_ms: i64,
}

#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Inserts a staff account with its initial security state in one statement.
    /// `Conflict("username_taken")` when the username exists.
    async fn create_staff(&self, staff: &Staff, must_change_password: bool, now: Millis) -> Result<()>;
    async fn staff_security(&self, staff_id: &str) -> Result<Option<StaffSecurity>>;
    /// Enables or disables an account; disabling also ends its sessions and pending sign-ins (one transaction).
    /// `NotFound` when there is no such account.
    async fn set_staff_active(&self, staff_id: &str, active: bool) -> Result<()>;
    /// Sets a new password hash. `must_change` marks it temporary (administrator reset). Every session of the
    /// account except `keep_session` ends, and pending sign-ins are dropped; `clear_totp` also removes the second
    /// factor (a lost phone). One transaction. `NotFound` when there is no such account.
    async fn set_staff_password(&self, staff_id: &str, password_hash: &str, must_change: bool, clear_totp: bool, keep_session: Option<&str>, now: Millis) -> Result<()>;
    /// Stores (or with `None` drops) the secret of an enrolment in progress.
    async fn set_totp_pending(&self, staff_id: &str, secret_enc: Option<&[u8]>) -> Result<()>;
    /// Moves the pending secret into force, if it is still `pending_enc` (a concurrent re-enrolment wins
    /// otherwise), remembering `step` as used. `false` when the pending secret changed or is gone.
    async fn confirm_totp(&self, staff_id: &str, pending_enc: &[u8], step: i64) -> Result<bool>;
    /// Removes the second factor.
    async fn clear_totp(&self, staff_id: &str) -> Result<()>;
    /// Records `step` as used; `false` when it (or a later one) was already used — the code is spent.
    async fn use_totp_step(&self, staff_id: &str, step: i64) -> Result<bool>;

    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> Result<()>;
    /// Counts one code attempt on a live challenge; `None` when it is gone, expired or out of attempts.
    async fn mfa_attempt(&self, token_hash: &str, max_attempts: i64, now: Millis) -> Result<Option<MfaChallenge>>;
    /// Spends a challenge: exactly one caller gets it back.
    async fn take_mfa_challenge(&self, token_hash: &str, now: Millis) -> Result<Option<MfaChallenge>>;

    /// Live sessions of one principal, newest first.
    async fn sessions_of(&self, kind: PrincipalKind, principal_id: &str, now: Millis) -> Result<Vec<Session>>;
    /// Ends one session if it belongs to this principal; `false` otherwise.
    async fn delete_session_of(&self, kind: PrincipalKind, principal_id: &str, token_hash: &str) -> Result<bool>;

    /// Entries matching `filter`, newest first, strictly before `before_seq` when given (keyset pagination).
    async fn audit_search(&self, filter: &AuditFilter, before_seq: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>>;
    /// (seq, hash) of the last entry removed by retention; (0, genesis) when none was.
    async fn audit_anchor(&self) -> Result<(i64, String)>;
    /// Removes up to `batch` of the oldest audit entries written before `before`, never the newest entry, and
    /// moves the anchor to the last one removed (one transaction). Returns the new anchor, `None` if nothing
    /// was old enough.
    async fn purge_audit(&self, before: Millis, batch: i64) -> Result<Option<(i64, String)>>;

    /// One-time SMS codes that expired before `before` (used or not).
    async fn purge_sms_codes(&self, before: Millis) -> Result<u64>;
    /// Sessions and pending second-factor sign-ins that expired before `before`.
    async fn purge_sessions(&self, before: Millis) -> Result<u64>;
    /// Rate-limit windows that started before `before` (their buckets name phone numbers and addresses).
    async fn purge_rate_limits(&self, before: Millis) -> Result<u64>;
    /// The sandbox SMS outbox (demo mode) older than `before`.
    async fn purge_outbox(&self, before: Millis) -> Result<u64>;
    /// Notifications in a final state (delivered, or failed for good) created before `before`.
    async fn purge_notifications(&self, before: Millis) -> Result<u64>;
    /// Portraits nobody needs any more: those that failed the checks, taken before `before` and not chosen by any
    /// application, and every portrait of an application that ended without a card (rejected, cancelled,
    /// expired) before `before`. A portrait chosen by a live or successful application is never touched.
    async fn purge_rejected_portraits(&self, before: Millis) -> Result<u64>;
    /// Up to `batch` terminal applications (closed, rejected, cancelled, expired) finished before `before`,
    /// each deleted with its timeline, portraits and shipment (one transaction). Payment orders and refunds are
    /// financial records and stay (they carry only the application id as reference). Returns how many went.
    async fn purge_closed_applications(&self, before: Millis, batch: i64) -> Result<u64>;

    /// The account with this mobile number, if any (unlike `citizen_for_phone`, never creates one).
    async fn citizen_by_phone(&self, phone: &str) -> Result<Option<Citizen>>;
    /// Every notification of a citizen, any channel and state, newest first.
    async fn notifications_of(&self, citizen_id: &str) -> Result<Vec<NotificationRecord>>;
    /// Erases one person (one transaction, all or nothing): sessions, SMS codes and rate-limit windows naming the
    /// phone, notifications, push subscriptions, card records, appointments (booked ones give their seat back
    /// first), unsubmitted drafts, portraits not chosen by a kept application, and the account itself. Finished
    /// applications and payment orders stay for their legal periods, detached from the account (citizen id
    /// cleared). Refused, with nothing changed, by `Conflict("application_in_progress")` while an application is
    /// between submission and its end, `Conflict("payment_pending")` while an order or refund awaits its
    /// outcome, `Conflict("appointment_in_progress")` while the person is checked in at a counter, and
    /// `Conflict("person_busy")` when something of theirs got under way during the erasure itself.
    /// `NotFound` when there is no such account.
    /// Erases one person; `audit` (its `detail` a JSON object) is appended in the same transaction with the counts
    /// added under `"counts"`, so an erasure never happens without its audit entry.
    async fn erase_citizen(&self, citizen_id: &str, audit: &crate::AuditRecord) -> Result<Erased>;

    async fn queue_stats(&self, now: Millis) -> Result<QueueStats>;
}

const SECURITY_COLS: &str = "must_change_password, password_changed_at, totp_secret_enc, totp_pending_enc, totp_last_step";
const AUDIT_COLS: &str = "seq, at, actor_kind, actor_id, action, target, source_ip, detail, prev_hash, hash";
const FINAL_NOTIFICATION: &str = "('delivered', 'permanent-failure', 'technical-failure')";

macro_rules! sql_admin {
    ($store:ident, $row:ty) => {
        impl $store {
            fn security_row(r: &$row) -> Result<StaffSecurity> {
                Ok(StaffSecurity {
                    must_change_password: r.try_get::<i64, _>("must_change_password")? != 0,
                    password_changed_at: r.try_get("password_changed_at")?,
                    totp_secret_enc: r.try_get("totp_secret_enc")?,
                    totp_pending_enc: r.try_get("totp_pending_enc")?,
                    totp_last_step: r.try_get("totp_last_step")?,
                })
            }

            fn challenge_row(r: &$row) -> Result<MfaChallenge> {
                Ok(MfaChallenge {
                    token_hash: r.try_get("token_hash")?,
                    staff_id: r.try_get("staff_id")?,
                    channel: enum_col(r.try_get("channel")?, SessionChannel::parse)?,
                    attempts: r.try_get("attempts")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                })
            }
        }

        #[async_trait]
        impl AdminStore for $store {
            async fn create_staff(&self, s: &Staff, must_change_password: bool, now: Millis) -> Result<()> {
                let res = sqlx::query(&format!(
                    "INSERT INTO staff ({STAFF_COLS}, must_change_password, password_changed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ))
                .bind(&s.id)
                .bind(&s.username)
                .bind(&s.password_hash)
                .bind(&s.display_name)
                .bind(s.role.as_str())
                .bind(s.scope.kind.as_str())
                .bind(&s.scope.code)
                .bind(s.active as i64)
                .bind(s.created_at)
                .bind(must_change_password as i64)
                .bind(now)
                .execute(&self.write)
                .await;
                match res {
                    Ok(_) => Ok(()),
                    Err(e) if unique_violation(&e) => Err(StoreError::Conflict("username_taken")),
                    Err(e) => Err(e.into()),
                }
            }

            async fn staff_security(&self, staff_id: &str) -> Result<Option<StaffSecurity>> {
                let row = sqlx::query(&format!("SELECT {SECURITY_COLS} FROM staff WHERE id = $1"))
                    .bind(staff_id)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::security_row).transpose()
            }

            async fn set_staff_active(&self, staff_id: &str, active: bool) -> Result<()> {
                let pool = self.write.clone();
                let staff_id = staff_id.to_string();
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let r = sqlx::query("UPDATE staff SET active = $1 WHERE id = $2").bind(active as i64).bind(&staff_id).execute(&mut *tx).await?;
                    if r.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    if !active {
                        sqlx::query("DELETE FROM sessions WHERE principal_kind = 'staff' AND principal_id = $1").bind(&staff_id).execute(&mut *tx).await?;
                        sqlx::query("DELETE FROM staff_mfa_challenges WHERE staff_id = $1").bind(&staff_id).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                })
                .await
            }

            async fn set_staff_password(&self, staff_id: &str, password_hash: &str, must_change: bool, clear_totp: bool, keep_session: Option<&str>, now: Millis) -> Result<()> {
                let pool = self.write.clone();
                let (staff_id, password_hash, keep) = (staff_id.to_string(), password_hash.to_string(), keep_session.unwrap_or("").to_string());
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let r = sqlx::query(
                        "UPDATE staff SET password_hash = $1, must_change_password = $2, password_changed_at = $3, \
                         totp_secret_enc = CASE WHEN $4 = 1 THEN NULL ELSE totp_secret_enc END, \
                         totp_pending_enc = CASE WHEN $4 = 1 THEN NULL ELSE totp_pending_enc END, \
                         totp_last_step = CASE WHEN $4 = 1 THEN NULL ELSE totp_last_step END \
                         WHERE id = $5",
                    )
                    .bind(&password_hash)
                    .bind(must_change as i64)
                    .bind(now)
                    .bind(clear_totp as i64)
                    .bind(&staff_id)
                    .execute(&mut *tx)
                    .await?;
                    if r.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    sqlx::query("DELETE FROM sessions WHERE principal_kind = 'staff' AND principal_id = $1 AND token_hash <> $2")
                        .bind(&staff_id)
                        .bind(&keep)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM staff_mfa_challenges WHERE staff_id = $1").bind(&staff_id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                })
                .await
            }

            async fn set_totp_pending(&self, staff_id: &str, secret_enc: Option<&[u8]>) -> Result<()> {
                let r = sqlx::query("UPDATE staff SET totp_pending_enc = $1 WHERE id = $2").bind(secret_enc).bind(staff_id).execute(&self.write).await?;
                if r.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            }

            async fn confirm_totp(&self, staff_id: &str, pending_enc: &[u8], step: i64) -> Result<bool> {
                let r = sqlx::query(
                    "UPDATE staff SET totp_secret_enc = totp_pending_enc, totp_pending_enc = NULL, totp_last_step = $1 \
                     WHERE id = $2 AND totp_pending_enc = $3",
                )
                .bind(step)
                .bind(staff_id)
                .bind(pending_enc)
                .execute(&self.write)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn clear_totp(&self, staff_id: &str) -> Result<()> {
                sqlx::query("UPDATE staff SET totp_secret_enc = NULL, totp_pending_enc = NULL, totp_last_step = NULL WHERE id = $1")
                    .bind(staff_id)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn use_totp_step(&self, staff_id: &str, step: i64) -> Result<bool> {
                let r = sqlx::query(
                    "UPDATE staff SET totp_last_step = $1 WHERE id = $2 AND totp_secret_enc IS NOT NULL \
                     AND (totp_last_step IS NULL OR totp_last_step < $1)",
                )
                .bind(step)
                .bind(staff_id)
                .execute(&self.write)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn insert_mfa_challenge(&self, c: &MfaChallenge) -> Result<()> {
                sqlx::query(
                    "INSERT INTO staff_mfa_challenges (token_hash, staff_id, channel, attempts, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&c.token_hash)
                .bind(&c.staff_id)
                .bind(c.channel.as_str())
                .bind(c.attempts)
                .bind(c.created_at)
                .bind(c.expires_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn mfa_attempt(&self, token_hash: &str, max_attempts: i64, now: Millis) -> Result<Option<MfaChallenge>> {
                let row = sqlx::query(
                    "UPDATE staff_mfa_challenges SET attempts = attempts + 1 \
                     WHERE token_hash = $1 AND attempts < $2 AND expires_at > $3 \
                     RETURNING token_hash, staff_id, channel, attempts, created_at, expires_at",
                )
                .bind(token_hash)
                .bind(max_attempts)
                .bind(now)
                .fetch_optional(&self.write)
                .await?;
                row.as_ref().map(Self::challenge_row).transpose()
            }

            async fn take_mfa_challenge(&self, token_hash: &str, now: Millis) -> Result<Option<MfaChallenge>> {
                let row = sqlx::query(
                    "DELETE FROM staff_mfa_challenges WHERE token_hash = $1 AND expires_at > $2 \
                     RETURNING token_hash, staff_id, channel, attempts, created_at, expires_at",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.write)
                .await?;
                row.as_ref().map(Self::challenge_row).transpose()
            }

            async fn sessions_of(&self, kind: PrincipalKind, principal_id: &str, now: Millis) -> Result<Vec<Session>> {
                let rows = sqlx::query(
                    "SELECT token_hash, principal_kind, principal_id, channel, created_at, expires_at FROM sessions \
                     WHERE principal_kind = $1 AND principal_id = $2 AND expires_at > $3 ORDER BY created_at DESC, token_hash",
                )
                .bind(kind.as_str())
                .bind(principal_id)
                .bind(now)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::session_row).collect()
            }

            async fn delete_session_of(&self, kind: PrincipalKind, principal_id: &str, token_hash: &str) -> Result<bool> {
                let r = sqlx::query("DELETE FROM sessions WHERE principal_kind = $1 AND principal_id = $2 AND token_hash = $3")
                    .bind(kind.as_str())
                    .bind(principal_id)
                    .bind(token_hash)
                    .execute(&self.write)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn audit_search(&self, f: &AuditFilter, before_seq: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>> {
                // Prefix matches with substr/length rather than LIKE: actions contain `_`, a LIKE wildcard.
                let rows = sqlx::query(&format!(
                    "SELECT {AUDIT_COLS} FROM audit_log \
                     WHERE ($1 IS NULL OR actor_id = $1) \
                     AND ($2 IS NULL OR substr(action, 1, length($2)) = $2) \
                     AND ($3 IS NULL OR substr(target, 1, length($3)) = $3) \
                     AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $5) AND ($6 IS NULL OR seq < $6) \
                     ORDER BY seq DESC LIMIT $7"
                ))
                .bind(f.actor_id.as_deref())
                .bind(f.action.as_deref())
                .bind(f.target.as_deref())
                .bind(f.from)
                .bind(f.to)
                .bind(before_seq)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::audit_row).collect()
            }

            async fn audit_anchor(&self) -> Result<(i64, String)> {
                let row = sqlx::query("SELECT seq, hash FROM audit_anchor WHERE id = 1").fetch_one(&self.read).await?;
                Ok((row.try_get("seq")?, row.try_get("hash")?))
            }

            async fn purge_audit(&self, before: Millis, batch: i64) -> Result<Option<(i64, String)>> {
                let pool = self.write.clone();
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let anchor: i64 = sqlx::query("SELECT seq FROM audit_anchor WHERE id = 1").fetch_one(&mut *tx).await?.try_get("seq")?;
                    // The newest entry is never removed, so the chain always has a tail to check the head against.
                    let row = sqlx::query(
                        "SELECT MAX(seq) AS last FROM audit_log WHERE at < $1 AND seq <= $2 \
                         AND seq < (SELECT MAX(seq) FROM audit_log)",
                    )
                    .bind(before)
                    .bind(anchor + batch.max(1))
                    .fetch_one(&mut *tx)
                    .await?;
                    let Some(last) = row.try_get::<Option<i64>, _>("last")? else { return Ok(None) };
                    let hash: String = sqlx::query("SELECT hash FROM audit_log WHERE seq = $1").bind(last).fetch_one(&mut *tx).await?.try_get("hash")?;
                    sqlx::query("DELETE FROM audit_log WHERE seq <= $1").bind(last).execute(&mut *tx).await?;
                    let moved = sqlx::query("UPDATE audit_anchor SET seq = $1, hash = $2 WHERE id = 1 AND seq < $1")
                        .bind(last)
                        .bind(&hash)
                        .execute(&mut *tx)
                        .await?;
                    if moved.rows_affected() == 0 {
                        // Another purge got further first: leave its anchor.
                        return Ok(None);
                    }
                    tx.commit().await?;
                    Ok(Some((last, hash)))
                })
                .await
            }

            async fn purge_sms_codes(&self, before: Millis) -> Result<u64> {
                Ok(sqlx::query("DELETE FROM sms_codes WHERE expires_at < $1").bind(before).execute(&self.write).await?.rows_affected())
            }

            async fn purge_sessions(&self, before: Millis) -> Result<u64> {
                let a = sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(before).execute(&self.write).await?.rows_affected();
                let b = sqlx::query("DELETE FROM staff_mfa_challenges WHERE expires_at < $1").bind(before).execute(&self.write).await?.rows_affected();
                Ok(a + b)
            }

            async fn purge_rate_limits(&self, before: Millis) -> Result<u64> {
                Ok(sqlx::query("DELETE FROM rate_limits WHERE window_start < $1").bind(before).execute(&self.write).await?.rows_affected())
            }

            async fn purge_outbox(&self, before: Millis) -> Result<u64> {
                Ok(sqlx::query("DELETE FROM sms_outbox WHERE created_at < $1").bind(before).execute(&self.write).await?.rows_affected())
            }

            async fn purge_notifications(&self, before: Millis) -> Result<u64> {
                Ok(sqlx::query(&format!("DELETE FROM notifications WHERE created_at < $1 AND status IN {FINAL_NOTIFICATION}"))
                    .bind(before)
                    .execute(&self.write)
                    .await?
                    .rows_affected())
            }

            async fn purge_rejected_portraits(&self, before: Millis) -> Result<u64> {
                Ok(sqlx::query(&format!(
                    "DELETE FROM portraits WHERE \
                     ((passed = 0 AND created_at < $1 AND NOT EXISTS (SELECT 1 FROM applications a WHERE a.portrait_id = portraits.id)) \
                      OR application_id IN (SELECT id FROM applications WHERE state IN {ENDED_WITHOUT_CARD} AND finished_at < $1)) \
                     AND NOT EXISTS (SELECT 1 FROM applications a WHERE a.portrait_id = portraits.id AND a.state NOT IN {ENDED_WITHOUT_CARD})"
                ))
                .bind(before)
                .execute(&self.write)
                .await?
                .rows_affected())
            }

            async fn purge_closed_applications(&self, before: Millis, batch: i64) -> Result<u64> {
                let pool = self.write.clone();
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let ids: Vec<String> = sqlx::query(&format!(
                        "SELECT id FROM applications WHERE state IN {TERMINAL_STATES} AND finished_at < $1 ORDER BY finished_at, id LIMIT $2"
                    ))
                    .bind(before)
                    .bind(batch.max(1))
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|r| r.try_get("id"))
                    .collect::<std::result::Result<_, _>>()?;
                    let mut removed = 0;
                    for id in &ids {
                        // The shipment's reference is the application id (no foreign key: logistics stands alone).
                        sqlx::query("DELETE FROM shipment_events WHERE shipment_id IN (SELECT id FROM shipments WHERE reference = $1)").bind(id).execute(&mut *tx).await?;
                        sqlx::query("DELETE FROM shipments WHERE reference = $1").bind(id).execute(&mut *tx).await?;
                        // A photo another application was made with stays (it only loses its link to this one).
                        sqlx::query(
                            "DELETE FROM portraits WHERE (application_id = $1 OR id IN (SELECT portrait_id FROM applications WHERE id = $1)) \
                             AND NOT EXISTS (SELECT 1 FROM applications a WHERE a.portrait_id = portraits.id AND a.id <> $1)",
                        )
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                        sqlx::query("UPDATE portraits SET application_id = NULL WHERE application_id = $1").bind(id).execute(&mut *tx).await?;
                        sqlx::query("DELETE FROM application_events WHERE application_id = $1").bind(id).execute(&mut *tx).await?;
                        removed += sqlx::query("DELETE FROM applications WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
                    }
                    tx.commit().await?;
                    Ok(removed)
                })
                .await
            }

            async fn citizen_by_phone(&self, phone: &str) -> Result<Option<Citizen>> {
                let row = sqlx::query(&format!("SELECT {CITIZEN_COLS} FROM citizens WHERE phone = $1")).bind(phone).fetch_optional(&self.read).await?;
                row.as_ref().map(Self::citizen_row).transpose()
            }

            async fn notifications_of(&self, citizen_id: &str) -> Result<Vec<NotificationRecord>> {
                let rows = sqlx::query(
                    "SELECT id, channel, event_kind, template, vars, status, created_at, read_at FROM notifications \
                     WHERE citizen_id = $1 ORDER BY created_at DESC, id",
                )
                .bind(citizen_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(NotificationRecord {
                            id: r.try_get("id")?,
                            channel: r.try_get("channel")?,
                            event_kind: r.try_get("event_kind")?,
                            template: r.try_get("template")?,
                            vars: r.try_get("vars")?,
                            status: r.try_get("status")?,
                            created_at: r.try_get("created_at")?,
                            read_at: r.try_get("read_at")?,
                        })
                    })
                    .collect()
            }

            async fn erase_citizen(&self, citizen_id: &str, audit: &crate::AuditRecord) -> Result<Erased> {
                let pool = self.write.clone();
                let c = citizen_id.to_string();
                let mut audit = audit.clone();
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let Some(row) = sqlx::query("SELECT phone FROM citizens WHERE id = $1").bind(&c).fetch_optional(&mut *tx).await? else {
                        return Err(StoreError::NotFound);
                    };
                    let phone: String = row.try_get("phone")?;
                    let count = |sql: &'static str| sqlx::query(sql).bind(c.clone());
                    let n: i64 = count(
                        "SELECT COUNT(*) AS n FROM applications WHERE citizen_id = $1 \
                         AND state NOT IN ('draft', 'rejected', 'closed', 'cancelled', 'expired')",
                    )
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
                    if n > 0 {
                        return Err(StoreError::Conflict("application_in_progress"));
                    }
                    let n: i64 = count(
                        "SELECT COUNT(*) AS n FROM payment_orders o WHERE o.citizen_id = $1 AND (o.status IN ('created', 'started', 'submitted') \
                         OR EXISTS (SELECT 1 FROM refunds r WHERE r.order_id = o.id AND r.status = 'pending'))",
                    )
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
                    if n > 0 {
                        return Err(StoreError::Conflict("payment_pending"));
                    }
                    let n: i64 = count("SELECT COUNT(*) AS n FROM appointments WHERE citizen_id = $1 AND status = 'checked_in'").fetch_one(&mut *tx).await?.try_get("n")?;
                    if n > 0 {
                        return Err(StoreError::Conflict("appointment_in_progress"));
                    }
                    let mut e = Erased::default();
                    let exec = |sql: &'static str| sqlx::query(sql).bind(c.clone());

                    // Drafts were never filed: they go entirely, with their timeline and photos.
                    exec("DELETE FROM portraits WHERE application_id IN (SELECT id FROM applications WHERE citizen_id = $1 AND state = 'draft')").execute(&mut *tx).await?;
                    exec("DELETE FROM application_events WHERE application_id IN (SELECT id FROM applications WHERE citizen_id = $1 AND state = 'draft')").execute(&mut *tx).await?;
                    e.drafts = exec("DELETE FROM applications WHERE citizen_id = $1 AND state = 'draft'").execute(&mut *tx).await?.rows_affected();

                    // Booked seats go back to the slot before the bookings disappear, so others can take them.
                    e.bookings_cancelled = count("SELECT COUNT(*) AS n FROM appointments WHERE citizen_id = $1 AND status = 'booked'")
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get::<i64, _>("n")? as u64;
                    exec(
                        "UPDATE slots SET booked = booked - (SELECT COUNT(*) FROM appointments a WHERE a.slot_id = slots.id AND a.citizen_id = $1 AND a.status = 'booked') \
                         WHERE id IN (SELECT slot_id FROM appointments WHERE citizen_id = $1 AND status = 'booked')",
                    )
                    .execute(&mut *tx)
                    .await?;
                    // Queue tickets are the point's own record of the day; they only lose the link.
                    exec("UPDATE queue_tickets SET appointment_id = NULL WHERE appointment_id IN (SELECT id FROM appointments WHERE citizen_id = $1)").execute(&mut *tx).await?;
                    e.appointments = exec("DELETE FROM appointments WHERE citizen_id = $1").execute(&mut *tx).await?.rows_affected();
                    exec("DELETE FROM booking_counters WHERE citizen_id = $1").execute(&mut *tx).await?;

                    // Portraits: the one a kept application was made with stays with it; every other goes.
                    e.portraits = exec("DELETE FROM portraits WHERE citizen_id = $1 AND NOT EXISTS (SELECT 1 FROM applications a WHERE a.portrait_id = portraits.id)")
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    // Only what is finished is detached. Anything that got under way after the checks above (a
                    // submission or an order from a concurrent request, on PostgreSQL) keeps its link, and the
                    // account's foreign keys then stop the final DELETE: the whole erasure rolls back.
                    exec("UPDATE portraits SET citizen_id = NULL WHERE citizen_id = $1 AND EXISTS (SELECT 1 FROM applications a WHERE a.portrait_id = portraits.id)")
                        .execute(&mut *tx)
                        .await?;
                    exec("UPDATE application_events SET citizen_id = NULL WHERE citizen_id = $1").execute(&mut *tx).await?;
                    e.applications_detached = exec("UPDATE applications SET citizen_id = NULL WHERE citizen_id = $1 AND state IN ('rejected', 'closed', 'cancelled', 'expired')")
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    e.payment_orders_detached = exec("UPDATE payment_orders SET citizen_id = NULL WHERE citizen_id = $1 AND status NOT IN ('created', 'started', 'submitted')")
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    exec("DELETE FROM idempotency_keys WHERE scope = $1").execute(&mut *tx).await?;

                    e.notifications = exec("DELETE FROM notifications WHERE citizen_id = $1").execute(&mut *tx).await?.rows_affected();
                    e.push_subscriptions = exec("DELETE FROM push_subscriptions WHERE citizen_id = $1").execute(&mut *tx).await?.rows_affected();
                    exec("DELETE FROM card_reminders WHERE citizen_id = $1").execute(&mut *tx).await?;
                    e.card_records = exec("DELETE FROM cards WHERE citizen_id = $1").execute(&mut *tx).await?.rows_affected();
                    e.sessions = exec("DELETE FROM sessions WHERE principal_kind = 'citizen' AND principal_id = $1").execute(&mut *tx).await?.rows_affected();

                    let by_phone = |sql: &'static str| sqlx::query(sql).bind(phone.clone());
                    e.sms_codes = by_phone("DELETE FROM sms_codes WHERE phone = $1").execute(&mut *tx).await?.rows_affected();
                    by_phone("DELETE FROM sms_outbox WHERE phone = $1").execute(&mut *tx).await?;
                    // Rate-limit buckets are `<kind>:<phone, address or account id>`.
                    by_phone("DELETE FROM rate_limits WHERE bucket LIKE '%:' || CAST($1 AS TEXT)").execute(&mut *tx).await?;
                    exec("DELETE FROM rate_limits WHERE bucket LIKE '%:' || CAST($1 AS TEXT)").execute(&mut *tx).await?;

                    match exec("DELETE FROM citizens WHERE id = $1").execute(&mut *tx).await {
                        Ok(_) => {}
                        Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => return Err(StoreError::Conflict("person_busy")),
                        Err(other) => return Err(other.into()),
                    }
                    let mut detail: serde_json::Value = serde_json::from_str(&audit.detail).unwrap_or_else(|_| serde_json::json!({}));
                    if let Some(map) = detail.as_object_mut() {
                        map.insert("counts".into(), serde_json::to_value(e).unwrap_or_default());
                    }
                    audit.detail = detail.to_string();
                    Self::append_audit_on(&mut tx, audit).await?;
                    tx.commit().await?;
                    Ok(e)
                })
                .await
            }

            async fn queue_stats(&self, now: Millis) -> Result<QueueStats> {
                let n = sqlx::query(&format!(
                    "SELECT COUNT(*) AS due, MIN(CASE WHEN status = 'sending' THEN lease_until ELSE next_attempt_at END) AS oldest \
                     FROM notifications WHERE ({}) OR ({})",
                    crate::notifications::sms_due("$1"),
                    crate::notifications::sms_lease_expired("$1")
                ))
                .bind(now)
                .fetch_one(&self.read)
                .await?;
                // The partial index `notifications_sms_unconfirmed` holds exactly these rows.
                let r = sqlx::query("SELECT COUNT(*) AS waiting, MIN(CASE WHEN lease_until IS NULL THEN sent_at END) AS oldest FROM notifications \
                     WHERE channel = 'sms' AND status = 'sent'")
                    .fetch_one(&self.read)
                    .await?;
                let p = sqlx::query("SELECT COUNT(*) AS waiting, MIN(updated_at) AS oldest FROM payment_orders WHERE status IN ('started', 'submitted')")
                    .fetch_one(&self.read)
                    .await?;
                let age = |oldest: Option<i64>| oldest.map(|o| (now - o).max(0)).unwrap_or(0);
                Ok(QueueStats {
                    notifications_due: n.try_get("due")?,
                    notifications_oldest_due_ms: age(n.try_get("oldest")?),
                    sms_awaiting_receipt: r.try_get("waiting")?,
                    sms_oldest_unchecked_receipt_ms: age(r.try_get("oldest")?),
                    payments_awaiting: p.try_get("waiting")?,
                    payments_oldest_awaiting_ms: age(p.try_get("oldest")?),
                })
            }
        }
    };
}

sql_admin!(SqliteStore, SqliteRow);
sql_admin!(PgStore, PgRow);
