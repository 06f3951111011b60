//! Storage for notifications: the in-app notification centre and the SMS job queue, in one table.
//!
//! Every rule that must hold across instances is one statement: an event is enqueued once per channel
//! (`ON CONFLICT (dedupe_key, channel) DO NOTHING`), a job is claimed by one worker (a lease taken by one
//! `UPDATE … RETURNING`; on PostgreSQL the candidate rows are locked with `FOR UPDATE SKIP LOCKED` so racing
//! workers take different rows instead of queueing), results are recorded only by the lease holder, and a
//! receipt moves a message out of `sent` once, so a replayed receipt changes nothing.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::model::*;
use crate::{PgStore, Result, SqliteStore, StoreError, enum_col, new_id, values_placeholders};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub citizen_id: String,
    pub event_kind: String,
    pub dedupe_key: String,
    pub channel: Channel,
    pub template: String,
    /// JSON object of the template's variables.
    pub vars: String,
    pub phone: Option<String>,
    /// When the first attempt may be made (quiet hours push it to the morning).
    pub not_before: Millis,
    pub now: Millis,
    /// SMS only: identifies the message's content for its number (e.g. a hash of number, text and a time window).
    /// A second row with the same key is not inserted: identical messages go once.
    pub content_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub citizen_id: String,
    pub event_kind: String,
    pub dedupe_key: String,
    pub channel: Channel,
    pub template: String,
    pub vars: String,
    pub phone: Option<String>,
    pub status: NotificationStatus,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub lease_until: Option<Millis>,
    pub leased_by: Option<String>,
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    pub error: Option<String>,
    pub created_at: Millis,
    pub sent_at: Option<Millis>,
    pub delivered_at: Option<Millis>,
    pub read_at: Option<Millis>,
}

/// Retries: exponential back-off from `base_ms`, capped at `cap_ms`; after `max_attempts` attempts the job is
/// dead-lettered as `technical-failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: i64,
    pub base_ms: i64,
    pub cap_ms: i64,
}

impl RetryPolicy {
    /// Delay before the attempt after `attempts` failed ones: base · 2^(attempts−1), capped.
    pub fn delay_ms(&self, attempts: i64) -> i64 {
        let exp = attempts.clamp(1, 40) - 1;
        self.base_ms.saturating_mul(1i64 << exp.min(40)).min(self.cap_ms)
    }
}

/// How a send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The provider refused for good (invalid number, blacklisted): never retried.
    Permanent,
    /// Network error, provider down, rate limited: retried with back-off, then dead-lettered.
    Retryable,
}

/// A browser's Web Push subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    pub id: String,
    pub citizen_id: String,
    /// The push service URL messages are posted to.
    pub endpoint: String,
    /// The browser's P-256 public key and auth secret, base64url.
    pub p256dh: String,
    pub auth: String,
    /// Language the messages are written in (`zh-CN` / `en`).
    pub lang: String,
    pub created_at: Millis,
    pub last_success_at: Option<Millis>,
    pub failures: i64,
}

/// When one SMS job was created and accepted by the provider (benchmarks, monitoring).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsTiming {
    pub dedupe_key: String,
    pub status: NotificationStatus,
    pub created_at: Millis,
    pub sent_at: Option<Millis>,
    pub attempts: i64,
}

/// A provider accepted a claimed job (see [`NotificationStore::mark_sent_many`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentJob {
    pub id: String,
    pub provider: String,
    pub provider_message_id: String,
    pub at: Millis,
}

/// A carrier's delivery report for one message, by the provider's message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub provider_message_id: String,
    pub delivered: bool,
    /// The carrier's code when it failed (kept as the message's error).
    pub error: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// The message moved to `delivered` / `permanent-failure`.
    Applied,
    /// The message already had a final status: a replayed receipt, nothing changed.
    AlreadyFinal,
    /// No message has this provider id.
    Unknown,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Inserts each row unless its (dedupe key, channel), or its SMS content key, exists, all in one transaction (an event's in-app
    /// message and SMS job land together or not at all); per row, `Some(id)` for the one caller that inserted it.
    async fn enqueue_notifications(&self, rows: &[NewNotification]) -> Result<Vec<Option<String>>>;
    /// [`Self::enqueue_notifications`] of one row.
    async fn enqueue_notification(&self, n: &NewNotification) -> Result<Option<String>> {
        Ok(self.enqueue_notifications(std::slice::from_ref(n)).await?.pop().flatten())
    }
    async fn notification(&self, id: &str) -> Result<Option<Notification>>;
    async fn notifications_by_dedupe(&self, dedupe_key: &str) -> Result<Vec<Notification>>;
    /// Claims up to `limit` due SMS jobs (new, retry-due, or whose lease expired) for `worker` until
    /// `lease_until`, counting an attempt on each. No row is ever handed to two live leases.
    async fn claim_sms(&self, worker: &str, limit: u32, now: Millis, lease_until: Millis) -> Result<Vec<Notification>>;
    /// Claims one specific job if it is due (the enqueuing request delivers its own message at once rather than
    /// waiting for the next worker tick); `None` when it is not due or another worker has it.
    async fn claim_sms_by_id(&self, id: &str, worker: &str, now: Millis, lease_until: Millis) -> Result<Option<Notification>>;
    /// The provider accepted these messages, recorded in one transaction (a busy worker records the sends that
    /// finished together at once). Per job, `false` if the lease was lost (another worker owns the job now).
    async fn mark_sent_many(&self, worker: &str, sent: &[SentJob]) -> Result<Vec<bool>>;
    /// [`Self::mark_sent_many`] of one job.
    async fn mark_sent(&self, id: &str, worker: &str, provider: &str, provider_message_id: &str, now: Millis) -> Result<bool> {
        let job = SentJob { id: id.into(), provider: provider.into(), provider_message_id: provider_message_id.into(), at: now };
        Ok(self.mark_sent_many(worker, std::slice::from_ref(&job)).await?.pop().unwrap_or(false))
    }
    /// Records a failed attempt of a claimed job: permanent failures end it, retryable ones are rescheduled with
    /// back-off until `policy.max_attempts`, then dead-lettered. Returns the new status (None: lease lost).
    async fn mark_failed(&self, job: &Notification, worker: &str, failure: Failure, error: &str, policy: RetryPolicy, now: Millis) -> Result<Option<NotificationStatus>>;
    /// Applies a provider's batch of delivery receipts (providers post them as arrays) in one transaction, each
    /// by the provider's message id. Idempotent.
    async fn record_receipts(&self, provider: &str, receipts: &[Receipt], at: Millis) -> Result<Vec<ReceiptOutcome>>;
    /// Claims up to `limit` SMS that `provider` accepted at or before `sent_before` and no receipt has closed yet,
    /// oldest first, skipping those checked recently: each is held by `worker` until `recheck_at`, which is also
    /// when it may be checked again if the provider has no news of it. (The lease column does this job once a
    /// message is `sent`: it has no sending lease any more.)
    async fn claim_unconfirmed_sms(&self, worker: &str, provider: &str, sent_before: Millis, limit: u32, now: Millis, recheck_at: Millis) -> Result<Vec<Notification>>;
    /// Puts a claimed job back without counting the attempt (a rate limit said "not now"): it is due again at
    /// `until`. `false` when the lease was lost.
    async fn defer_sms(&self, job: &Notification, worker: &str, until: Millis, reason: &str) -> Result<bool>;
    /// Ends messages the carrier never reported on (`sent` → `temporary-failure`, never sent again), where
    /// `worker` still holds them from [`Self::claim_unconfirmed_sms`]. Returns how many changed.
    async fn give_up_unconfirmed(&self, worker: &str, ids: &[String], error: &str) -> Result<u64>;
    /// [`Self::record_receipts`] of one receipt.
    async fn record_receipt(&self, provider: &str, provider_message_id: &str, delivered: bool, error: &str, at: Millis) -> Result<ReceiptOutcome> {
        let r = Receipt { provider_message_id: provider_message_id.into(), delivered, error: error.into() };
        Ok(self.record_receipts(provider, std::slice::from_ref(&r), at).await?.pop().unwrap_or(ReceiptOutcome::Unknown))
    }

    /// The citizen's in-app notifications, newest first.
    async fn inapp_notifications(&self, citizen_id: &str, limit: u32) -> Result<Vec<Notification>>;
    async fn unread_count(&self, citizen_id: &str) -> Result<i64>;
    /// Marks one of the citizen's own in-app notifications read; `false` when it is not theirs or does not exist.
    async fn mark_read(&self, citizen_id: &str, id: &str, now: Millis) -> Result<bool>;
    /// In-app notifications of the citizen created at or after `since` (oldest first), for the live stream. The
    /// stream overlaps its windows and skips ids it has sent, so rows committed late are not missed.
    async fn inapp_since(&self, citizen_id: &str, since: Millis, limit: u32) -> Result<Vec<Notification>>;
    /// Marks all of the citizen's unread in-app notifications read; returns how many changed.
    async fn mark_all_read(&self, citizen_id: &str, now: Millis) -> Result<u64>;
    /// In-app notifications of every citizen created at or after `since` (oldest first): the one query each
    /// instance's live hub runs for all its subscribers.
    async fn inapp_created_since(&self, since: Millis, limit: u32) -> Result<Vec<Notification>>;
    /// How many SMS jobs created at or after `since` are in each status.
    async fn sms_status_counts(&self, since: Millis) -> Result<Vec<(NotificationStatus, i64)>>;
    /// Creation and acceptance times of the SMS jobs created at or after `since`, oldest first, after the
    /// `(created_at, id)` cursor when given (pages of `limit`).
    async fn sms_timings(&self, since: Millis, after: Option<(Millis, String)>, limit: u32) -> Result<Vec<(String, SmsTiming)>>;

    /// Stores a Web Push subscription (by endpoint: re-subscribing updates it, also moving it to this citizen),
    /// unless the citizen already has `max_per_citizen` others. `Conflict("too_many_subscriptions")` then.
    async fn save_push_subscription(&self, sub: &PushSubscription, max_per_citizen: u32) -> Result<PushSubscription>;
    async fn push_subscriptions(&self, citizen_id: &str) -> Result<Vec<PushSubscription>>;
    /// Removes a subscription: the citizen's own (`Some`), or any by endpoint when the push service says it is
    /// gone (`None`). Returns whether one was removed.
    async fn delete_push_subscription(&self, citizen_id: Option<&str>, endpoint: &str) -> Result<bool>;
    /// Records a delivery attempt: success resets the failure count.
    async fn record_push_result(&self, id: &str, ok: bool, now: Millis) -> Result<()>;
}

const PUSH_COLS: &str = "id, citizen_id, endpoint, p256dh, auth, lang, created_at, last_success_at, failures";

const COLS: &str = "id, citizen_id, event_kind, dedupe_key, channel, template, vars, phone, status, attempts, next_attempt_at, \
     lease_until, leased_by, provider, provider_message_id, error, created_at, sent_at, delivered_at, read_at";

/// SMS jobs whose worker died holding the lease as of the bind parameter `now` (written to match the partial
/// index `notifications_sms_leased`: SQLite uses a partial index only when the query repeats its condition).
pub(crate) fn sms_lease_expired(now: &str) -> String {
    format!("channel = 'sms' AND status = 'sending' AND lease_until < {now}")
}

/// New and retry-due SMS jobs whose time has come as of `now` (matches `notifications_sms_due`). Only jobs no
/// provider has accepted: a message that ended `temporary-failure` without a receipt was sent once already.
pub(crate) fn sms_due(now: &str) -> String {
    format!("channel = 'sms' AND status IN ('created', 'temporary-failure') AND sent_at IS NULL AND next_attempt_at <= {now}")
}

macro_rules! sql_notifications {
    ($store:ident, $row:ty, $lock:expr, $prepared:expr) => {
        impl $store {
            fn push_row(r: &$row) -> Result<PushSubscription> {
                Ok(PushSubscription {
                    id: r.try_get("id")?,
                    citizen_id: r.try_get("citizen_id")?,
                    endpoint: r.try_get("endpoint")?,
                    p256dh: r.try_get("p256dh")?,
                    auth: r.try_get("auth")?,
                    lang: r.try_get("lang")?,
                    created_at: r.try_get("created_at")?,
                    last_success_at: r.try_get("last_success_at")?,
                    failures: r.try_get("failures")?,
                })
            }

            fn notification_row(r: &$row) -> Result<Notification> {
                Ok(Notification {
                    id: r.try_get("id")?,
                    citizen_id: r.try_get("citizen_id")?,
                    event_kind: r.try_get("event_kind")?,
                    dedupe_key: r.try_get("dedupe_key")?,
                    channel: enum_col(r.try_get("channel")?, Channel::parse)?,
                    template: r.try_get("template")?,
                    vars: r.try_get("vars")?,
                    phone: r.try_get("phone")?,
                    status: enum_col(r.try_get("status")?, NotificationStatus::parse)?,
                    attempts: r.try_get("attempts")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    lease_until: r.try_get("lease_until")?,
                    leased_by: r.try_get("leased_by")?,
                    provider: r.try_get("provider")?,
                    provider_message_id: r.try_get("provider_message_id")?,
                    error: r.try_get("error")?,
                    created_at: r.try_get("created_at")?,
                    sent_at: r.try_get("sent_at")?,
                    delivered_at: r.try_get("delivered_at")?,
                    read_at: r.try_get("read_at")?,
                })
            }
        }

        #[async_trait]
        impl NotificationStore for $store {
            async fn enqueue_notifications(&self, rows: &[NewNotification]) -> Result<Vec<Option<String>>> {
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                // One statement for all rows (atomic on its own); RETURNING names the rows this call inserted.
                let sql = format!(
                    "INSERT INTO notifications (id, citizen_id, event_kind, dedupe_key, channel, template, vars, phone, status, \
                     next_attempt_at, created_at, delivered_at, content_key) VALUES {} ON CONFLICT DO NOTHING RETURNING id",
                    values_placeholders(rows.len(), 13)
                );
                let ids: Vec<String> = rows.iter().map(|_| new_id()).collect();
                let mut q = sqlx::query(&sql);
                for (n, id) in rows.iter().zip(&ids) {
                    // In-app messages are delivered the moment they exist; SMS ones wait for the worker.
                    let (status, delivered_at) = match n.channel {
                        Channel::InApp => (NotificationStatus::Delivered, Some(n.now)),
                        Channel::Sms => (NotificationStatus::Created, None),
                    };
                    q = q
                        .bind(id)
                        .bind(&n.citizen_id)
                        .bind(&n.event_kind)
                        .bind(&n.dedupe_key)
                        .bind(n.channel.as_str())
                        .bind(&n.template)
                        .bind(&n.vars)
                        .bind(&n.phone)
                        .bind(status.as_str())
                        .bind(n.not_before)
                        .bind(n.now)
                        .bind(delivered_at)
                        .bind(&n.content_key);
                }
                let inserted: std::collections::HashSet<String> = q.fetch_all(&self.write).await?.iter().map(|r| r.try_get("id")).collect::<std::result::Result<_, _>>()?;
                Ok(ids.into_iter().map(|id| inserted.contains(&id).then_some(id)).collect())
            }

            async fn notification(&self, id: &str) -> Result<Option<Notification>> {
                let row = sqlx::query(&format!("SELECT {COLS} FROM notifications WHERE id = $1")).bind(id).fetch_optional(&self.write).await?;
                row.as_ref().map(Self::notification_row).transpose()
            }

            async fn notifications_by_dedupe(&self, dedupe_key: &str) -> Result<Vec<Notification>> {
                let rows = sqlx::query(&format!("SELECT {COLS} FROM notifications WHERE dedupe_key = $1 ORDER BY channel"))
                    .bind(dedupe_key)
                    .fetch_all(&self.write)
                    .await?;
                rows.iter().map(Self::notification_row).collect()
            }

            async fn claim_sms(&self, worker: &str, limit: u32, now: Millis, lease_until: Millis) -> Result<Vec<Notification>> {
                // Two claims, each an ordered scan of its partial index (migrations 0010, 0011): jobs whose worker died
                // holding the lease first (they are the oldest), then due jobs, oldest first.
                let mut jobs = Vec::new();
                for (candidates, oldest_first) in [(sms_lease_expired("$3"), "lease_until"), (sms_due("$3"), "next_attempt_at")] {
                    let room = i64::from(limit) - jobs.len() as i64;
                    if room <= 0 {
                        break;
                    }
                    let rows = sqlx::query(&format!(
                        "UPDATE notifications SET status = 'sending', lease_until = $1, leased_by = $2, attempts = attempts + 1 \
                         WHERE id IN (SELECT id FROM notifications WHERE {candidates} ORDER BY {oldest_first} LIMIT $4{}) RETURNING {COLS}",
                        $lock
                    ))
                    .bind(lease_until)
                    .bind(worker)
                    .bind(now)
                    .bind(room)
                    .persistent($prepared)
                    .fetch_all(&self.write)
                    .await?;
                    for r in &rows {
                        jobs.push(Self::notification_row(r)?);
                    }
                }
                jobs.sort_by_key(|j| j.next_attempt_at);
                Ok(jobs)
            }

            async fn claim_sms_by_id(&self, id: &str, worker: &str, now: Millis, lease_until: Millis) -> Result<Option<Notification>> {
                let row = sqlx::query(&format!(
                    "UPDATE notifications SET status = 'sending', lease_until = $1, leased_by = $2, attempts = attempts + 1 \
                     WHERE id = $4 AND (({}) OR ({})) RETURNING {COLS}",
                    sms_lease_expired("$3"),
                    sms_due("$3")
                ))
                .bind(lease_until)
                .bind(worker)
                .bind(now)
                .bind(id)
                .fetch_optional(&self.write)
                .await?;
                row.as_ref().map(Self::notification_row).transpose()
            }

            async fn mark_sent_many(&self, worker: &str, sent: &[SentJob]) -> Result<Vec<bool>> {
                if sent.is_empty() {
                    return Ok(Vec::new());
                }
                self.mark_sent_batch(worker, sent).await
            }

            async fn mark_failed(&self, job: &Notification, worker: &str, failure: Failure, error: &str, policy: RetryPolicy, now: Millis) -> Result<Option<NotificationStatus>> {
                let (status, next) = match failure {
                    Failure::Permanent => (NotificationStatus::PermanentFailure, job.next_attempt_at),
                    Failure::Retryable if job.attempts >= policy.max_attempts => (NotificationStatus::TechnicalFailure, job.next_attempt_at),
                    Failure::Retryable => (NotificationStatus::TemporaryFailure, now + policy.delay_ms(job.attempts)),
                };
                let r = sqlx::query(
                    "UPDATE notifications SET status = $1, next_attempt_at = $2, error = $3, lease_until = NULL \
                     WHERE id = $4 AND status = 'sending' AND leased_by = $5 AND attempts = $6",
                )
                .bind(status.as_str())
                .bind(next)
                .bind(error)
                .bind(&job.id)
                .bind(worker)
                .bind(job.attempts)
                .execute(&self.write)
                .await?;
                Ok((r.rows_affected() == 1).then_some(status))
            }

            async fn claim_unconfirmed_sms(&self, worker: &str, provider: &str, sent_before: Millis, limit: u32, now: Millis, recheck_at: Millis) -> Result<Vec<Notification>> {
                // The candidates are an ordered scan of `notifications_sms_unconfirmed` (migration 0011), which holds
                // only messages in flight.
                let rows = sqlx::query(&format!(
                    "UPDATE notifications SET lease_until = $1, leased_by = $2 \
                     WHERE id IN (SELECT id FROM notifications WHERE channel = 'sms' AND status = 'sent' AND sent_at <= $3 \
                     AND provider = $4 AND (lease_until IS NULL OR lease_until <= $5) ORDER BY sent_at LIMIT $6{}) \
                     AND status = 'sent' RETURNING {COLS}",
                    $lock
                ))
                .bind(recheck_at)
                .bind(worker)
                .bind(sent_before)
                .bind(provider)
                .bind(now)
                .bind(i64::from(limit))
                .persistent($prepared)
                .fetch_all(&self.write)
                .await?;
                let mut jobs = rows.iter().map(Self::notification_row).collect::<Result<Vec<_>>>()?;
                jobs.sort_by_key(|j| j.sent_at);
                Ok(jobs)
            }

            async fn defer_sms(&self, job: &Notification, worker: &str, until: Millis, reason: &str) -> Result<bool> {
                let r = sqlx::query(
                    "UPDATE notifications SET status = CASE WHEN attempts <= 1 THEN 'created' ELSE 'temporary-failure' END, \
                     attempts = attempts - 1, next_attempt_at = $1, lease_until = NULL, error = $2 \
                     WHERE id = $3 AND status = 'sending' AND leased_by = $4 AND attempts = $5",
                )
                .bind(until)
                .bind(reason)
                .bind(&job.id)
                .bind(worker)
                .bind(job.attempts)
                .execute(&self.write)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn give_up_unconfirmed(&self, worker: &str, ids: &[String], error: &str) -> Result<u64> {
                let mut tx = self.write.begin().await?;
                let mut changed = 0;
                for id in ids {
                    changed += sqlx::query(
                        "UPDATE notifications SET status = 'temporary-failure', error = $1, lease_until = NULL \
                         WHERE id = $2 AND status = 'sent' AND leased_by = $3",
                    )
                    .bind(error)
                    .bind(id)
                    .bind(worker)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                tx.commit().await?;
                Ok(changed)
            }

            async fn record_receipts(&self, provider: &str, receipts: &[Receipt], at: Millis) -> Result<Vec<ReceiptOutcome>> {
                if receipts.is_empty() {
                    return Ok(Vec::new());
                }
                // A batch may name one message twice (a replay inside the batch): the first report counts.
                let mut seen = std::collections::HashSet::new();
                let first: Vec<&Receipt> = receipts.iter().filter(|r| seen.insert(r.provider_message_id.as_str())).collect();
                let (applied, known) = self.apply_receipts(provider, &first, at).await?;
                let mut counted = std::collections::HashSet::new();
                Ok(receipts
                    .iter()
                    .map(|r| {
                        let id = r.provider_message_id.as_str();
                        if applied.contains(id) && counted.insert(id) {
                            ReceiptOutcome::Applied
                        } else if applied.contains(id) || known.contains(id) {
                            ReceiptOutcome::AlreadyFinal
                        } else {
                            ReceiptOutcome::Unknown
                        }
                    })
                    .collect())
            }

            async fn inapp_notifications(&self, citizen_id: &str, limit: u32) -> Result<Vec<Notification>> {
                let rows = sqlx::query(&format!(
                    "SELECT {COLS} FROM notifications WHERE citizen_id = $1 AND channel = 'inapp' ORDER BY created_at DESC, id DESC LIMIT $2"
                ))
                .bind(citizen_id)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::notification_row).collect()
            }

            async fn unread_count(&self, citizen_id: &str) -> Result<i64> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM notifications WHERE citizen_id = $1 AND channel = 'inapp' AND read_at IS NULL")
                    .bind(citizen_id)
                    .fetch_one(&self.read)
                    .await?;
                Ok(row.try_get("n")?)
            }

            async fn mark_read(&self, citizen_id: &str, id: &str, now: Millis) -> Result<bool> {
                // Reading twice is fine (keeps the first read time); someone else's id is "not found".
                let r = sqlx::query("UPDATE notifications SET read_at = COALESCE(read_at, $1) WHERE id = $2 AND citizen_id = $3 AND channel = 'inapp'")
                    .bind(now)
                    .bind(id)
                    .bind(citizen_id)
                    .execute(&self.write)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn inapp_since(&self, citizen_id: &str, since: Millis, limit: u32) -> Result<Vec<Notification>> {
                let rows = sqlx::query(&format!(
                    "SELECT {COLS} FROM notifications WHERE citizen_id = $1 AND channel = 'inapp' AND created_at >= $2 ORDER BY created_at, id LIMIT $3"
                ))
                .bind(citizen_id)
                .bind(since)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::notification_row).collect()
            }

            async fn mark_all_read(&self, citizen_id: &str, now: Millis) -> Result<u64> {
                let r = sqlx::query("UPDATE notifications SET read_at = $1 WHERE citizen_id = $2 AND channel = 'inapp' AND read_at IS NULL")
                    .bind(now)
                    .bind(citizen_id)
                    .execute(&self.write)
                    .await?;
                Ok(r.rows_affected())
            }

            async fn sms_status_counts(&self, since: Millis) -> Result<Vec<(NotificationStatus, i64)>> {
                let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM notifications WHERE channel = 'sms' AND created_at >= $1 GROUP BY status")
                    .bind(since)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(|r| Ok((enum_col(r.try_get("status")?, NotificationStatus::parse)?, r.try_get("n")?))).collect()
            }

            async fn sms_timings(&self, since: Millis, after: Option<(Millis, String)>, limit: u32) -> Result<Vec<(String, SmsTiming)>> {
                let (after_at, after_id) = after.unwrap_or((since - 1, String::new()));
                let rows = sqlx::query(
                    "SELECT id, dedupe_key, status, created_at, sent_at, attempts FROM notifications \
                     WHERE channel = 'sms' AND created_at >= $1 AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
                     ORDER BY created_at, id LIMIT $4",
                )
                .bind(since)
                .bind(after_at)
                .bind(after_id)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get("id")?,
                            SmsTiming {
                                dedupe_key: r.try_get("dedupe_key")?,
                                status: enum_col(r.try_get("status")?, NotificationStatus::parse)?,
                                created_at: r.try_get("created_at")?,
                                sent_at: r.try_get("sent_at")?,
                                attempts: r.try_get("attempts")?,
                            },
                        ))
                    })
                    .collect()
            }

            async fn save_push_subscription(&self, sub: &PushSubscription, max_per_citizen: u32) -> Result<PushSubscription> {
                // One statement: inserted only while the citizen holds fewer than the limit (an update of an
                // existing endpoint always passes).
                let row = sqlx::query(&format!(
                    "INSERT INTO push_subscriptions ({PUSH_COLS}) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, NULL, 0 \
                     WHERE (SELECT COUNT(*) FROM push_subscriptions WHERE citizen_id = $2 AND endpoint <> $3) < $8 \
                     ON CONFLICT (endpoint) DO UPDATE SET citizen_id = excluded.citizen_id, p256dh = excluded.p256dh, \
                     auth = excluded.auth, lang = excluded.lang, failures = 0 \
                     RETURNING {PUSH_COLS}"
                ))
                .bind(&sub.id)
                .bind(&sub.citizen_id)
                .bind(&sub.endpoint)
                .bind(&sub.p256dh)
                .bind(&sub.auth)
                .bind(&sub.lang)
                .bind(sub.created_at)
                .bind(i64::from(max_per_citizen))
                .fetch_optional(&self.write)
                .await?;
                match row {
                    Some(r) => Self::push_row(&r),
                    None => Err(StoreError::Conflict("too_many_subscriptions")),
                }
            }

            async fn push_subscriptions(&self, citizen_id: &str) -> Result<Vec<PushSubscription>> {
                let rows = sqlx::query(&format!("SELECT {PUSH_COLS} FROM push_subscriptions WHERE citizen_id = $1 ORDER BY created_at, id"))
                    .bind(citizen_id)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::push_row).collect()
            }

            async fn delete_push_subscription(&self, citizen_id: Option<&str>, endpoint: &str) -> Result<bool> {
                let r = sqlx::query("DELETE FROM push_subscriptions WHERE endpoint = $1 AND ($2 IS NULL OR citizen_id = $2)")
                    .bind(endpoint)
                    .bind(citizen_id)
                    .execute(&self.write)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn record_push_result(&self, id: &str, ok: bool, now: Millis) -> Result<()> {
                let q = if ok {
                    sqlx::query("UPDATE push_subscriptions SET last_success_at = $1, failures = 0 WHERE id = $2").bind(now).bind(id)
                } else {
                    sqlx::query("UPDATE push_subscriptions SET failures = failures + 1 WHERE id = $1").bind(id)
                };
                q.execute(&self.write).await?;
                Ok(())
            }

            async fn inapp_created_since(&self, since: Millis, limit: u32) -> Result<Vec<Notification>> {
                let rows = sqlx::query(&format!(
                    "SELECT {COLS} FROM notifications WHERE channel = 'inapp' AND created_at >= $1 ORDER BY created_at, id LIMIT $2"
                ))
                .bind(since)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::notification_row).collect()
            }
        }
    };
}

// SQLite has one writer, so the UPDATE's own subquery is already exclusive.
sql_notifications!(SqliteStore, SqliteRow, "", true);
// PostgreSQL: lock the candidates and skip rows another worker holds, so concurrent claimers split the queue; and
// plan the claim afresh each time (see `PgStore::mark_sent_batch`).
sql_notifications!(PgStore, PgRow, " FOR UPDATE SKIP LOCKED", false);

/// Provider ids of the receipts that moved a message, and of those that named a known message already final.
type ReceiptsApplied = (std::collections::HashSet<String>, std::collections::HashSet<String>);

fn receipt_status(r: &Receipt) -> (&'static str, Option<&str>) {
    if r.delivered { (NotificationStatus::Delivered.as_str(), None) } else { (NotificationStatus::PermanentFailure.as_str(), Some(r.error.as_str())) }
}

const MARK_SENT_ONE: &str = "UPDATE notifications SET status = 'sent', provider = $1, provider_message_id = $2, sent_at = $3, lease_until = NULL, \
     error = NULL WHERE id = $4 AND status = 'sending' AND leased_by = $5";
const RECEIPT_ONE: &str = "UPDATE notifications SET status = $1, delivered_at = CASE WHEN $1 = 'delivered' THEN $2 END, error = $3 \
     WHERE provider = $4 AND provider_message_id = $5 AND status = 'sent'";

// SQLite: statements are cheap calls into the library, so a batch is its statements in one transaction (one
// commit) on the single writer.
impl SqliteStore {
    async fn mark_sent_batch(&self, worker: &str, sent: &[SentJob]) -> Result<Vec<bool>> {
        let mut tx = self.write.begin().await?;
        let mut recorded = Vec::with_capacity(sent.len());
        for job in sent {
            let r = sqlx::query(MARK_SENT_ONE).bind(&job.provider).bind(&job.provider_message_id).bind(job.at).bind(&job.id).bind(worker).execute(&mut *tx).await?;
            recorded.push(r.rows_affected() == 1);
        }
        tx.commit().await?;
        Ok(recorded)
    }

    async fn apply_receipts(&self, provider: &str, receipts: &[&Receipt], at: Millis) -> Result<ReceiptsApplied> {
        let mut tx = self.write.begin().await?;
        let (mut applied, mut known) = (std::collections::HashSet::new(), std::collections::HashSet::new());
        for r in receipts {
            let (status, error) = receipt_status(r);
            let moved = sqlx::query(RECEIPT_ONE).bind(status).bind(at).bind(error).bind(provider).bind(&r.provider_message_id).execute(&mut *tx).await?;
            if moved.rows_affected() == 1 {
                applied.insert(r.provider_message_id.clone());
            } else if sqlx::query("SELECT 1 FROM notifications WHERE provider = $1 AND provider_message_id = $2 AND status <> 'sent'")
                .bind(provider)
                .bind(&r.provider_message_id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some()
            {
                known.insert(r.provider_message_id.clone());
            }
        }
        tx.commit().await?;
        Ok((applied, known))
    }
}

// PostgreSQL: one statement per batch, the rows' values passed as arrays and joined by `unnest` (each statement is
// a round trip, and a per-row CASE would cost quadratic time). The queue's batch statements (and the claim) are
// planned at each execution (`persistent(false)`) rather than kept as prepared statements: a connection prepares
// them while the table is small, PostgreSQL then settles on a generic plan (a sequential scan and hash join suits a
// few hundred rows) and keeps it as the table grows to millions. Planning once per batch costs far less than that.
impl PgStore {
    async fn mark_sent_batch(&self, worker: &str, sent: &[SentJob]) -> Result<Vec<bool>> {
        let ids: Vec<&str> = sent.iter().map(|j| j.id.as_str()).collect();
        let providers: Vec<&str> = sent.iter().map(|j| j.provider.as_str()).collect();
        let message_ids: Vec<&str> = sent.iter().map(|j| j.provider_message_id.as_str()).collect();
        let ats: Vec<Millis> = sent.iter().map(|j| j.at).collect();
        let rows = sqlx::query(
            "UPDATE notifications n SET status = 'sent', provider = v.provider, provider_message_id = v.message_id, sent_at = v.at, \
             lease_until = NULL, error = NULL \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS v(id, provider, message_id, at) \
             WHERE n.id = v.id AND n.status = 'sending' AND n.leased_by = $5 RETURNING n.id",
        )
        .persistent(false)
        .bind(&ids)
        .bind(&providers)
        .bind(&message_ids)
        .bind(&ats)
        .bind(worker)
        .fetch_all(&self.write)
        .await?;
        let recorded: std::collections::HashSet<String> = rows.iter().map(|r| r.try_get("id")).collect::<std::result::Result<_, _>>()?;
        Ok(sent.iter().map(|j| recorded.contains(&j.id)).collect())
    }

    async fn apply_receipts(&self, provider: &str, receipts: &[&Receipt], at: Millis) -> Result<ReceiptsApplied> {
        let ids: Vec<&str> = receipts.iter().map(|r| r.provider_message_id.as_str()).collect();
        let statuses: Vec<&str> = receipts.iter().map(|r| receipt_status(r).0).collect();
        let errors: Vec<Option<&str>> = receipts.iter().map(|r| receipt_status(r).1).collect();
        // `IS NOT NULL` restates the partial index's condition (`notifications_provider_message`): PostgreSQL proves
        // it from plain conditions only, not from the join's.
        let rows = sqlx::query(
            "UPDATE notifications n SET status = v.status, delivered_at = CASE WHEN v.status = 'delivered' THEN $2 END, error = v.error \
             FROM unnest($3::text[], $4::text[], $5::text[]) AS v(message_id, status, error) \
             WHERE n.provider = $1 AND n.provider_message_id = v.message_id AND n.status = 'sent' \
             AND n.provider_message_id IS NOT NULL RETURNING n.provider_message_id",
        )
        .persistent(false)
        .bind(provider)
        .bind(at)
        .bind(&ids)
        .bind(&statuses)
        .bind(&errors)
        .fetch_all(&self.write)
        .await?;
        let applied: std::collections::HashSet<String> = rows.iter().map(|r| r.try_get("provider_message_id")).collect::<std::result::Result<_, _>>()?;
        let rest: Vec<&str> = ids.iter().copied().filter(|id| !applied.contains(*id)).collect();
        let mut known = std::collections::HashSet::new();
        if !rest.is_empty() {
            // Only messages already final count as known: one the UPDATE did not see as `sent` may have been marked
            // sent just after it (a receipt overtaking the acceptance being recorded); it is reported unknown, and
            // the callback has the provider send it again.
            for r in sqlx::query(
                "SELECT provider_message_id FROM notifications WHERE provider = $1 AND provider_message_id = ANY($2::text[]) AND status <> 'sent'",
            )
                .bind(provider)
                .bind(&rest)
                .fetch_all(&self.write)
                .await?
            {
                known.insert(r.try_get::<String, _>("provider_message_id")?);
            }
        }
        Ok((applied, known))
    }
}
