//! Storage for each citizen's current card and the expiry reminders sent for it.
//!
//! The reminder job may run on every instance at once and be restarted at any moment, so "one reminder per card
//! per window" is a row: a batch of due (card, window) pairs is claimed by one `INSERT … SELECT … ON CONFLICT DO
//! NOTHING RETURNING`, and only the rows a runner inserted are its to send. A runner that dies after claiming leaves
//! rows without `sent_at`; they are taken over once the claim is stale (the notification's dedupe key still keeps
//! the SMS single if the first runner was merely slow).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::model::{CardSource, Millis};
use crate::{PgStore, Result, SqliteStore, enum_col};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub citizen_id: String,
    /// `YYYY-MM-DD`.
    pub issued_on: String,
    /// `YYYY-MM-DD`; `None` = long-term (长期).
    pub expires_on: Option<String>,
    pub source: CardSource,
    pub updated_at: Millis,
}

/// One reminder a runner has claimed and must now send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedReminder {
    pub citizen_id: String,
    pub expires_on: String,
    pub window_days: i64,
}

#[async_trait]
pub trait CardStore: Send + Sync {
    /// Records the citizen's current card. An existing record is replaced only by a card issued on the same day
    /// or later (a late registry read never overwrites a newer card we issued). Returns the record in force.
    async fn upsert_card(&self, card: &Card) -> Result<Card>;
    async fn card(&self, citizen_id: &str) -> Result<Option<Card>>;
    /// Claims up to `limit` cards expiring in `[from, to]` (inclusive, `YYYY-MM-DD`) that have no reminder row for
    /// `window_days` yet. Concurrent callers never receive the same card.
    async fn claim_expiry_reminders(&self, window_days: i64, from: &str, to: &str, worker: &str, now: Millis, limit: u32) -> Result<Vec<ClaimedReminder>>;
    /// Takes over claims older than `stale_before` that were never marked sent (their runner died).
    async fn reclaim_stale_reminders(&self, stale_before: Millis, worker: &str, now: Millis, limit: u32) -> Result<Vec<ClaimedReminder>>;
    /// The reminder went out (was enqueued). `false` when another runner has taken the claim over meanwhile.
    async fn mark_reminder_sent(&self, r: &ClaimedReminder, worker: &str, now: Millis) -> Result<bool>;
    /// Reminder rows for one citizen (for tests and support).
    async fn card_reminders(&self, citizen_id: &str) -> Result<Vec<(ClaimedReminder, Option<Millis>)>>;
}

const CARD_COLS: &str = "citizen_id, issued_on, expires_on, source, updated_at";

macro_rules! sql_cards {
    ($store:ident, $row:ty) => {
        impl $store {
            fn card_row(r: &$row) -> Result<Card> {
                Ok(Card {
                    citizen_id: r.try_get("citizen_id")?,
                    issued_on: r.try_get("issued_on")?,
                    expires_on: r.try_get("expires_on")?,
                    source: enum_col(r.try_get("source")?, CardSource::parse)?,
                    updated_at: r.try_get("updated_at")?,
                })
            }

            fn reminder_row(r: &$row) -> Result<ClaimedReminder> {
                Ok(ClaimedReminder { citizen_id: r.try_get("citizen_id")?, expires_on: r.try_get("expires_on")?, window_days: r.try_get("window_days")? })
            }
        }

        #[async_trait]
        impl CardStore for $store {
            async fn upsert_card(&self, c: &Card) -> Result<Card> {
                sqlx::query(&format!(
                    "INSERT INTO cards ({CARD_COLS}) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (citizen_id) DO UPDATE SET issued_on = excluded.issued_on, expires_on = excluded.expires_on, \
                     source = excluded.source, updated_at = excluded.updated_at WHERE cards.issued_on <= excluded.issued_on"
                ))
                .bind(&c.citizen_id)
                .bind(&c.issued_on)
                .bind(&c.expires_on)
                .bind(c.source.as_str())
                .bind(c.updated_at)
                .execute(&self.write)
                .await?;
                let row = sqlx::query(&format!("SELECT {CARD_COLS} FROM cards WHERE citizen_id = $1")).bind(&c.citizen_id).fetch_one(&self.write).await?;
                Self::card_row(&row)
            }

            async fn card(&self, citizen_id: &str) -> Result<Option<Card>> {
                let row = sqlx::query(&format!("SELECT {CARD_COLS} FROM cards WHERE citizen_id = $1")).bind(citizen_id).fetch_optional(&self.read).await?;
                row.as_ref().map(Self::card_row).transpose()
            }

            async fn claim_expiry_reminders(&self, window_days: i64, from: &str, to: &str, worker: &str, now: Millis, limit: u32) -> Result<Vec<ClaimedReminder>> {
                let rows = sqlx::query(
                    "INSERT INTO card_reminders (citizen_id, expires_on, window_days, claimed_by, claimed_at) \
                     SELECT c.citizen_id, c.expires_on, $1, $2, $3 FROM cards c \
                     WHERE c.expires_on >= $4 AND c.expires_on <= $5 AND NOT EXISTS \
                       (SELECT 1 FROM card_reminders r WHERE r.citizen_id = c.citizen_id AND r.expires_on = c.expires_on AND r.window_days = $1) \
                     ORDER BY c.expires_on, c.citizen_id LIMIT $6 \
                     ON CONFLICT (citizen_id, expires_on, window_days) DO NOTHING \
                     RETURNING citizen_id, expires_on, window_days",
                )
                .bind(window_days)
                .bind(worker)
                .bind(now)
                .bind(from)
                .bind(to)
                .bind(i64::from(limit))
                .fetch_all(&self.write)
                .await?;
                rows.iter().map(Self::reminder_row).collect()
            }

            async fn reclaim_stale_reminders(&self, stale_before: Millis, worker: &str, now: Millis, limit: u32) -> Result<Vec<ClaimedReminder>> {
                let rows = sqlx::query(
                    "UPDATE card_reminders SET claimed_by = $1, claimed_at = $2 \
                     WHERE (citizen_id, expires_on, window_days) IN \
                       (SELECT citizen_id, expires_on, window_days FROM card_reminders WHERE sent_at IS NULL AND claimed_at < $3 LIMIT $4) \
                     AND sent_at IS NULL AND claimed_at < $3 \
                     RETURNING citizen_id, expires_on, window_days",
                )
                .bind(worker)
                .bind(now)
                .bind(stale_before)
                .bind(i64::from(limit))
                .fetch_all(&self.write)
                .await?;
                rows.iter().map(Self::reminder_row).collect()
            }

            async fn mark_reminder_sent(&self, r: &ClaimedReminder, worker: &str, now: Millis) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE card_reminders SET sent_at = $1 WHERE citizen_id = $2 AND expires_on = $3 AND window_days = $4 \
                     AND claimed_by = $5 AND sent_at IS NULL",
                )
                .bind(now)
                .bind(&r.citizen_id)
                .bind(&r.expires_on)
                .bind(r.window_days)
                .bind(worker)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn card_reminders(&self, citizen_id: &str) -> Result<Vec<(ClaimedReminder, Option<Millis>)>> {
                let rows = sqlx::query("SELECT citizen_id, expires_on, window_days, sent_at FROM card_reminders WHERE citizen_id = $1 ORDER BY expires_on, window_days DESC")
                    .bind(citizen_id)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(|r| Ok((Self::reminder_row(r)?, r.try_get("sent_at")?))).collect()
            }
        }
    };
}

sql_cards!(SqliteStore, SqliteRow);
sql_cards!(PgStore, PgRow);
