//! Storage for smart fee collection: payment orders, idempotency keys, provider notifications already seen, refunds
//! and counter cash shifts. As elsewhere, each money rule is one conditional statement: a state change names the
//! states it may start from, a refund raises `refunded_fen` only while it stays within what was paid, a
//! notification is applied at most once per provider event id.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::model::{Millis, PaymentStatus, RefundStatus};
use crate::{PgStore, Result, SqliteStore, StoreError, detached, enum_col, new_id, unique_violation};


#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentOrder {
    pub id: String,
    pub order_no: String,
    pub citizen_id: Option<String>,
    pub reference: String,
    /// Fee item code (the domain's `FeeItem::code`).
    pub item: String,
    pub amount_fen: i64,
    /// Channel code once chosen (the domain's `PaymentChannel::code`).
    pub channel: Option<String>,
    pub status: PaymentStatus,
    pub failure_code: Option<String>,
    pub provider_trade_no: Option<String>,
    pub refunded_fen: i64,
    pub point_id: Option<String>,
    pub staff_id: Option<String>,
    pub cash_received_fen: Option<i64>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub expires_at: Millis,
    pub paid_at: Option<Millis>,
    /// When the current provider order was opened (UnionPay names an order by orderId and this moment).
    pub opened_at: Option<Millis>,
}

/// The caller's Idempotency-Key with a hash of the request body it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
    pub request_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created(PaymentOrder),
    /// The same key with the same body: the first answer again.
    Replayed(PaymentOrder),
}

/// What a state change writes besides the status.
#[derive(Debug, Clone, Default)]
pub struct OrderUpdate {
    pub channel: Option<String>,
    pub provider_trade_no: Option<String>,
    pub failure_code: Option<String>,
    pub paid_at: Option<Millis>,
    pub point_id: Option<String>,
    pub staff_id: Option<String>,
    pub cash_received_fen: Option<i64>,
    pub opened_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub refund_no: String,
    pub order_id: String,
    pub amount_fen: i64,
    pub reason: String,
    pub status: RefundStatus,
    pub provider_refund_no: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Successful payments of one channel in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelTotal {
    pub channel: String,
    pub count: i64,
    pub amount_fen: i64,
    pub refunded_fen: i64,
}

/// Successful payments of one China-time day, point (`None`: paid online) and channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectionLine {
    /// Days since 1970-01-01 in China time (UTC+8).
    pub day: i64,
    pub point_id: Option<String>,
    pub channel: String,
    pub count: i64,
    pub amount_fen: i64,
    pub refunded_fen: i64,
}

/// A refund that reached the provider, with the order it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedRefund {
    pub refund: Refund,
    pub order_no: String,
    pub channel: Option<String>,
    pub point_id: Option<String>,
}

/// What one reconciliation counted on each side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconTotals {
    pub provider_payments: i64,
    pub provider_payment_fen: i64,
    pub provider_refunds: i64,
    pub provider_refund_fen: i64,
    pub our_payments: i64,
    pub our_payment_fen: i64,
    pub our_refunds: i64,
    pub our_refund_fen: i64,
}

/// One reconciliation of a provider's statement for one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconRun {
    pub id: String,
    pub provider: String,
    /// `YYYY-MM-DD`, China time.
    pub day: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    pub attempt: i64,
    pub requested_by: String,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    /// Present once done.
    pub totals: Option<ReconTotals>,
    pub mismatches: Option<i64>,
    pub error: Option<String>,
}

/// One difference between our records and a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconMismatch {
    /// `missing_at_us`, `missing_at_provider`, `amount_differs` or `status_differs`.
    pub kind: String,
    /// `payment` or `refund`.
    pub entry: String,
    pub order_no: String,
    pub refund_no: Option<String>,
    pub provider_trade_no: Option<String>,
    pub our_fen: Option<i64>,
    pub provider_fen: Option<i64>,
    pub our_status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CashShift {
    pub id: String,
    pub point_id: String,
    pub staff_id: String,
    pub opened_at: Millis,
    pub closed_at: Option<Millis>,
    pub expected_fen: Option<i64>,
    pub counted_fen: Option<i64>,
}

#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// Creates an order; with an idempotency key, a repeat with the same body returns the first order and a repeat
    /// with another body is `Conflict("idempotency_key_reused")`. Key and order are written in one transaction.
    async fn create_order(&self, order: &PaymentOrder, key: Option<&IdempotencyKey>) -> Result<CreateOutcome>;
    async fn order(&self, id: &str) -> Result<Option<PaymentOrder>>;
    async fn order_by_no(&self, order_no: &str) -> Result<Option<PaymentOrder>>;
    /// Orders for one reference (e.g. an application), newest first.
    async fn orders_for(&self, reference: &str) -> Result<Vec<PaymentOrder>>;
    async fn orders_of(&self, citizen_id: &str) -> Result<Vec<PaymentOrder>>;
    /// Moves an order to `to` only if it is in one of `from` (one conditional UPDATE); `None` when it was not.
    async fn change_status(&self, order_no: &str, from: &[PaymentStatus], to: PaymentStatus, update: &OrderUpdate, now: Millis) -> Result<Option<PaymentOrder>>;
    /// Records a verified provider notification; `false` when this provider event was seen before.
    async fn first_notification(&self, provider: &str, provider_event_id: &str, order_no: &str, outcome: &str, now: Millis) -> Result<bool>;
    /// A provider's notice, applied exactly once, in one transaction: the notice id is recorded (a duplicate
    /// changes nothing), the order moves from one of `from` to `to`, and `audit` is appended when it moved. Either
    /// all of it commits or none, so a crash between the steps cannot leave a notice marked seen whose status change
    /// was lost (the provider's retry would then be taken for a duplicate).
    async fn apply_notice(&self, n: &NoticeChange<'_>) -> Result<NoticeApplied>;
    /// Unfinished orders last changed before `before` (for the reconciliation job), oldest first.
    async fn unfinished_orders(&self, before: Millis, limit: i64) -> Result<Vec<PaymentOrder>>;
    /// Expires every `created`/`started` order whose deadline passed (one statement; a `submitted` one is left to
    /// reconciliation, since the payer may be paying right now). Returns the orders expired.
    async fn expire_unpaid(&self, now: Millis) -> Result<Vec<PaymentOrder>>;
    /// Starts a refund: raises the order's refunded amount only while it stays within what was paid and the order
    /// is paid (`Conflict("refund_exceeds_paid")` otherwise), and records the pending refund, in one transaction.
    async fn start_refund(&self, order_id: &str, refund_no: &str, amount_fen: i64, reason: &str, now: Millis) -> Result<Refund>;
    /// Ends a pending refund. A failed one gives its amount back to the refundable balance. `None` when it was not
    /// pending (already ended: idempotent).
    async fn finish_refund(&self, refund_no: &str, status: RefundStatus, provider_refund_no: Option<&str>, now: Millis) -> Result<Option<Refund>>;
    async fn refunds_of(&self, order_id: &str) -> Result<Vec<Refund>>;
    async fn pending_refunds(&self, limit: i64) -> Result<Vec<Refund>>;
    /// Successful payments per channel with `paid_at` in `[from, to)`, optionally at one point.
    async fn channel_totals(&self, from: Millis, to: Millis, point_id: Option<&str>) -> Result<Vec<ChannelTotal>>;
    /// Opens a cash shift for a staff member (`Conflict("shift_open")` if one is open already).
    async fn open_shift(&self, point_id: &str, staff_id: &str, now: Millis) -> Result<CashShift>;
    async fn open_shift_of(&self, staff_id: &str) -> Result<Option<CashShift>>;
    /// Closes the open shift: the expected total is the cash recorded by that staff member since it opened.
    async fn close_shift(&self, staff_id: &str, counted_fen: i64, now: Millis) -> Result<CashShift>;

    // Finance and reconciliation.
    /// Successful orders with `paid_at` in `[from, to)`, oldest first.
    async fn paid_orders(&self, from: Millis, to: Millis) -> Result<Vec<PaymentOrder>>;
    async fn refund_by_no(&self, refund_no: &str) -> Result<Option<Refund>>;
    /// Refunds that succeeded with their last change in `[from, to)`, with their orders.
    async fn finished_refunds(&self, from: Millis, to: Millis) -> Result<Vec<FinishedRefund>>;
    /// Successful payments with `paid_at` in `[from, to)` per China-time day, point and channel.
    async fn collection(&self, from: Millis, to: Millis) -> Result<Vec<CollectionLine>>;
    /// Claims the reconciliation of `provider`'s statement of `day` (one conditional upsert): a new run, or
    /// taking over a run that failed before `retry_failed_before`, one left running since before
    /// `stale_running_before` (its instance died), or — with `redo` — a finished one. `None` when another
    /// instance holds it or it is done. Returns the run id and the attempt number the result must quote.
    async fn claim_reconciliation(
        &self,
        provider: &str,
        day: &str,
        requested_by: &str,
        now: Millis,
        retry_failed_before: Millis,
        stale_running_before: Millis,
        redo: bool,
    ) -> Result<Option<(String, i64)>>;
    /// Records a finished run and its mismatches (replacing those of an earlier attempt), in one transaction, if
    /// `attempt` still holds the claim; `false` when it was taken over.
    async fn finish_reconciliation(&self, run_id: &str, attempt: i64, totals: &ReconTotals, mismatches: &[ReconMismatch], now: Millis) -> Result<bool>;
    async fn fail_reconciliation(&self, run_id: &str, attempt: i64, error: &str, now: Millis) -> Result<bool>;
    /// The runs of one day, by provider.
    async fn reconciliation_runs(&self, day: &str) -> Result<Vec<ReconRun>>;
    async fn reconciliation_mismatches(&self, run_id: &str) -> Result<Vec<ReconMismatch>>;
}

const RUN_COLS: &str = "id, provider, day, status, attempt, requested_by, started_at, finished_at, provider_payments, provider_payment_fen, \
                        provider_refunds, provider_refund_fen, our_payments, our_payment_fen, our_refunds, our_refund_fen, mismatches, error";
const MISMATCH_COLS: &str = "kind, entry, order_no, refund_no, provider_trade_no, our_fen, provider_fen, our_status";

const ORDER_COLS: &str = "id, order_no, citizen_id, reference, item, amount_fen, channel, status, failure_code, provider_trade_no, \
                          refunded_fen, point_id, staff_id, cash_received_fen, created_at, updated_at, expires_at, paid_at, opened_at";
const REFUND_COLS: &str = "id, refund_no, order_id, amount_fen, reason, status, provider_refund_no, created_at, updated_at";
const SHIFT_COLS: &str = "id, point_id, staff_id, opened_at, closed_at, expected_fen, counted_fen";

/// A merchant order number: `SF` + 30 characters of a UUIDv7 (time-ordered, unique), within every provider's
/// 32-character limit and alphanumeric as UnionPay requires.
pub fn order_number() -> String {
    format!("SF{}", &uuid::Uuid::now_v7().simple().to_string()[..30]).to_uppercase()
}

/// What [`PaymentStore::apply_notice`] is asked to do.
pub struct NoticeChange<'a> {
    pub provider: &'a str,
    pub provider_event_id: &'a str,
    pub order_no: &'a str,
    pub outcome: &'a str,
    pub from: &'a [PaymentStatus],
    pub to: PaymentStatus,
    pub update: &'a OrderUpdate,
    pub audit: crate::AuditRecord,
    pub now: Millis,
}

/// A [`NoticeChange`] owned, to be applied by another task (a detached transaction, SQLite's group commit).
#[derive(Debug, Clone)]
pub(crate) struct NoticeWork {
    provider: String,
    event_id: String,
    order_no: String,
    outcome: String,
    from: Vec<PaymentStatus>,
    to: PaymentStatus,
    update: OrderUpdate,
    audit: crate::AuditRecord,
    now: Millis,
}

impl From<&NoticeChange<'_>> for NoticeWork {
    fn from(n: &NoticeChange<'_>) -> Self {
        NoticeWork {
            provider: n.provider.into(),
            event_id: n.provider_event_id.into(),
            order_no: n.order_no.into(),
            outcome: n.outcome.into(),
            from: n.from.to_vec(),
            to: n.to,
            update: n.update.clone(),
            audit: n.audit.clone(),
            now: n.now,
        }
    }
}

impl PgStore {
    async fn write_notice(&self, work: NoticeWork) -> Result<NoticeApplied> {
        let pool = self.write.clone();
        detached(async move {
            let mut tx = pool.begin().await?;
            let out = Self::notice_on(&mut tx, &work).await?;
            // A duplicate wrote nothing; committing it is harmless.
            tx.commit().await?;
            Ok(out)
        })
        .await
    }
}

impl SqliteStore {
    async fn write_notice(&self, work: NoticeWork) -> Result<NoticeApplied> {
        self.group.notice(work).await
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NoticeApplied {
    /// Seen before: nothing changed.
    Duplicate,
    /// Recorded, but the order was not in a state the notice moves (already ended, or already in `to`).
    Unchanged,
    /// The order moved (its new row).
    Changed(PaymentOrder),
}

macro_rules! sql_payments {
    ($store:ident, $row:ty, $conn:ty) => {
        impl $store {
            /// The conditional status change: `None` when the order is not in one of `from`.
            async fn change_status_on(conn: &mut $conn, order_no: &str, from: &[PaymentStatus], to: PaymentStatus, u: &OrderUpdate, now: Millis) -> Result<Option<PaymentOrder>> {
                if from.is_empty() {
                    return Ok(None);
                }
                // The allowed starting states are a fixed vocabulary, so they are inlined rather than bound.
                let states = from.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ");
                let row = sqlx::query(&format!(
                    "UPDATE payment_orders SET status = $1, updated_at = $2, \
                     channel = COALESCE($3, channel), provider_trade_no = COALESCE($4, provider_trade_no), \
                     failure_code = COALESCE($5, failure_code), paid_at = COALESCE($6, paid_at), \
                     point_id = COALESCE($7, point_id), staff_id = COALESCE($8, staff_id), \
                     cash_received_fen = COALESCE($9, cash_received_fen), opened_at = COALESCE($11, opened_at) \
                     WHERE order_no = $10 AND status IN ({states}) RETURNING {ORDER_COLS}"
                ))
                .bind(to.as_str())
                .bind(now)
                .bind(&u.channel)
                .bind(&u.provider_trade_no)
                .bind(&u.failure_code)
                .bind(u.paid_at)
                .bind(&u.point_id)
                .bind(&u.staff_id)
                .bind(u.cash_received_fen)
                .bind(order_no)
                .bind(u.opened_at)
                .fetch_optional(&mut *conn)
                .await?;
                row.as_ref().map(Self::order_row).transpose()
            }

            /// Records a provider notice id; `false` when it was seen before.
            /// The notice id, the order's status change and its audit entry, on the caller's transaction.
            pub(crate) async fn notice_on(conn: &mut $conn, n: &NoticeWork) -> Result<NoticeApplied> {
                if !Self::record_notice_on(conn, &n.provider, &n.event_id, &n.order_no, &n.outcome, n.now).await? {
                    return Ok(NoticeApplied::Duplicate);
                }
                Ok(match Self::change_status_on(conn, &n.order_no, &n.from, n.to, &n.update, n.now).await? {
                    Some(order) => {
                        Self::append_audit_on(conn, n.audit.clone()).await?;
                        NoticeApplied::Changed(order)
                    }
                    None => NoticeApplied::Unchanged,
                })
            }

            async fn record_notice_on(conn: &mut $conn, provider: &str, provider_event_id: &str, order_no: &str, outcome: &str, now: Millis) -> Result<bool> {
                let r = sqlx::query(
                    "INSERT INTO payment_notifications (provider, provider_event_id, order_no, outcome, received_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (provider, provider_event_id) DO NOTHING",
                )
                .bind(provider)
                .bind(provider_event_id)
                .bind(order_no)
                .bind(outcome)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            fn order_row(r: &$row) -> Result<PaymentOrder> {
                Ok(PaymentOrder {
                    id: r.try_get("id")?,
                    order_no: r.try_get("order_no")?,
                    citizen_id: r.try_get("citizen_id")?,
                    reference: r.try_get("reference")?,
                    item: r.try_get("item")?,
                    amount_fen: r.try_get("amount_fen")?,
                    channel: r.try_get("channel")?,
                    status: enum_col(r.try_get("status")?, PaymentStatus::parse)?,
                    failure_code: r.try_get("failure_code")?,
                    provider_trade_no: r.try_get("provider_trade_no")?,
                    refunded_fen: r.try_get("refunded_fen")?,
                    point_id: r.try_get("point_id")?,
                    staff_id: r.try_get("staff_id")?,
                    cash_received_fen: r.try_get("cash_received_fen")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                    expires_at: r.try_get("expires_at")?,
                    paid_at: r.try_get("paid_at")?,
                    opened_at: r.try_get("opened_at")?,
                })
            }

            fn refund_row(r: &$row) -> Result<Refund> {
                Ok(Refund {
                    id: r.try_get("id")?,
                    refund_no: r.try_get("refund_no")?,
                    order_id: r.try_get("order_id")?,
                    amount_fen: r.try_get("amount_fen")?,
                    reason: r.try_get("reason")?,
                    status: enum_col(r.try_get("status")?, RefundStatus::parse)?,
                    provider_refund_no: r.try_get("provider_refund_no")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            }

            fn run_row(r: &$row) -> Result<ReconRun> {
                let status: String = r.try_get("status")?;
                let totals = if status == "done" {
                    Some(ReconTotals {
                        provider_payments: r.try_get::<Option<i64>, _>("provider_payments")?.unwrap_or(0),
                        provider_payment_fen: r.try_get::<Option<i64>, _>("provider_payment_fen")?.unwrap_or(0),
                        provider_refunds: r.try_get::<Option<i64>, _>("provider_refunds")?.unwrap_or(0),
                        provider_refund_fen: r.try_get::<Option<i64>, _>("provider_refund_fen")?.unwrap_or(0),
                        our_payments: r.try_get::<Option<i64>, _>("our_payments")?.unwrap_or(0),
                        our_payment_fen: r.try_get::<Option<i64>, _>("our_payment_fen")?.unwrap_or(0),
                        our_refunds: r.try_get::<Option<i64>, _>("our_refunds")?.unwrap_or(0),
                        our_refund_fen: r.try_get::<Option<i64>, _>("our_refund_fen")?.unwrap_or(0),
                    })
                } else {
                    None
                };
                Ok(ReconRun {
                    id: r.try_get("id")?,
                    provider: r.try_get("provider")?,
                    day: r.try_get("day")?,
                    status,
                    attempt: r.try_get("attempt")?,
                    requested_by: r.try_get("requested_by")?,
                    started_at: r.try_get("started_at")?,
                    finished_at: r.try_get("finished_at")?,
                    totals,
                    mismatches: r.try_get("mismatches")?,
                    error: r.try_get("error")?,
                })
            }

            fn mismatch_row(r: &$row) -> Result<ReconMismatch> {
                Ok(ReconMismatch {
                    kind: r.try_get("kind")?,
                    entry: r.try_get("entry")?,
                    order_no: r.try_get("order_no")?,
                    refund_no: r.try_get("refund_no")?,
                    provider_trade_no: r.try_get("provider_trade_no")?,
                    our_fen: r.try_get("our_fen")?,
                    provider_fen: r.try_get("provider_fen")?,
                    our_status: r.try_get("our_status")?,
                })
            }

            fn shift_row(r: &$row) -> Result<CashShift> {
                Ok(CashShift {
                    id: r.try_get("id")?,
                    point_id: r.try_get("point_id")?,
                    staff_id: r.try_get("staff_id")?,
                    opened_at: r.try_get("opened_at")?,
                    closed_at: r.try_get("closed_at")?,
                    expected_fen: r.try_get("expected_fen")?,
                    counted_fen: r.try_get("counted_fen")?,
                })
            }
        }

        #[async_trait]
        impl PaymentStore for $store {
            async fn create_order(&self, o: &PaymentOrder, key: Option<&IdempotencyKey>) -> Result<CreateOutcome> {
                let pool = self.write.clone();
                let (o, key) = (o.clone(), key.cloned());
                detached(async move {
                    let mut tx = pool.begin().await?;
                    if let Some(k) = &key {
                        let first = sqlx::query(
                            "INSERT INTO idempotency_keys (scope, key, request_hash, order_id, created_at) VALUES ($1, $2, $3, $4, $5) \
                             ON CONFLICT (scope, key) DO NOTHING",
                        )
                        .bind(&k.scope)
                        .bind(&k.key)
                        .bind(&k.request_hash)
                        .bind(&o.id)
                        .bind(o.created_at);
                        // The order row must exist first for the foreign key: insert it, then the key; on a key
                        // conflict the transaction is rolled back and the first order is returned instead.
                        Self::insert_order(&mut tx, &o).await?;
                        if first.execute(&mut *tx).await?.rows_affected() == 0 {
                            drop(tx);
                            let row = sqlx::query(&format!(
                                "SELECT k.request_hash, {} FROM idempotency_keys k JOIN payment_orders o ON o.id = k.order_id WHERE k.scope = $1 AND k.key = $2",
                                ORDER_COLS.split(", ").map(|c| format!("o.{c}")).collect::<Vec<_>>().join(", ")
                            ))
                            .bind(&k.scope)
                            .bind(&k.key)
                            .fetch_one(&pool)
                            .await?;
                            let hash: String = row.try_get("request_hash")?;
                            if hash != k.request_hash {
                                return Err(StoreError::Conflict("idempotency_key_reused"));
                            }
                            return Ok(CreateOutcome::Replayed(Self::order_row(&row)?));
                        }
                    } else {
                        Self::insert_order(&mut tx, &o).await?;
                    }
                    tx.commit().await?;
                    Ok(CreateOutcome::Created(o))
                })
                .await
            }

            async fn order(&self, id: &str) -> Result<Option<PaymentOrder>> {
                let row = sqlx::query(&format!("SELECT {ORDER_COLS} FROM payment_orders WHERE id = $1")).bind(id).fetch_optional(&self.read).await?;
                row.as_ref().map(Self::order_row).transpose()
            }

            async fn order_by_no(&self, order_no: &str) -> Result<Option<PaymentOrder>> {
                let row = sqlx::query(&format!("SELECT {ORDER_COLS} FROM payment_orders WHERE order_no = $1")).bind(order_no).fetch_optional(&self.read).await?;
                row.as_ref().map(Self::order_row).transpose()
            }

            async fn orders_for(&self, reference: &str) -> Result<Vec<PaymentOrder>> {
                let rows = sqlx::query(&format!("SELECT {ORDER_COLS} FROM payment_orders WHERE reference = $1 ORDER BY created_at DESC, id DESC"))
                    .bind(reference)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::order_row).collect()
            }

            async fn orders_of(&self, citizen_id: &str) -> Result<Vec<PaymentOrder>> {
                let rows = sqlx::query(&format!("SELECT {ORDER_COLS} FROM payment_orders WHERE citizen_id = $1 ORDER BY created_at DESC, id DESC"))
                    .bind(citizen_id)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::order_row).collect()
            }

            async fn change_status(&self, order_no: &str, from: &[PaymentStatus], to: PaymentStatus, u: &OrderUpdate, now: Millis) -> Result<Option<PaymentOrder>> {
                let mut conn = self.write.acquire().await?;
                Self::change_status_on(&mut conn, order_no, from, to, u, now).await
            }

            async fn apply_notice(&self, n: &NoticeChange<'_>) -> Result<NoticeApplied> {
                if n.from.is_empty() {
                    return Ok(NoticeApplied::Unchanged);
                }
                self.write_notice(NoticeWork::from(n)).await
            }

            async fn first_notification(&self, provider: &str, provider_event_id: &str, order_no: &str, outcome: &str, now: Millis) -> Result<bool> {
                let mut conn = self.write.acquire().await?;
                Self::record_notice_on(&mut conn, provider, provider_event_id, order_no, outcome, now).await
            }

            async fn unfinished_orders(&self, before: Millis, limit: i64) -> Result<Vec<PaymentOrder>> {
                let rows = sqlx::query(&format!(
                    "SELECT {ORDER_COLS} FROM payment_orders WHERE status IN ('started', 'submitted') AND updated_at < $1 ORDER BY updated_at LIMIT $2"
                ))
                .bind(before)
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::order_row).collect()
            }

            async fn expire_unpaid(&self, now: Millis) -> Result<Vec<PaymentOrder>> {
                let rows = sqlx::query(&format!(
                    "UPDATE payment_orders SET status = 'expired', updated_at = $1 WHERE status IN ('created', 'started') AND expires_at <= $1 RETURNING {ORDER_COLS}"
                ))
                .bind(now)
                .fetch_all(&self.write)
                .await?;
                rows.iter().map(Self::order_row).collect()
            }

            async fn start_refund(&self, order_id: &str, refund_no: &str, amount_fen: i64, reason: &str, now: Millis) -> Result<Refund> {
                let pool = self.write.clone();
                let refund = Refund {
                    id: new_id(),
                    refund_no: refund_no.to_string(),
                    order_id: order_id.to_string(),
                    amount_fen,
                    reason: reason.to_string(),
                    status: RefundStatus::Pending,
                    provider_refund_no: None,
                    created_at: now,
                    updated_at: now,
                };
                detached(async move {
                    if refund.amount_fen <= 0 {
                        return Err(StoreError::Conflict("amount_invalid"));
                    }
                    let mut tx = pool.begin().await?;
                    // Optimistic concurrency on the refundable amount: the condition and the increase are one statement.
                    let raised = sqlx::query(
                        "UPDATE payment_orders SET refunded_fen = refunded_fen + $1, updated_at = $2 \
                         WHERE id = $3 AND status = 'success' AND refunded_fen + $1 <= amount_fen",
                    )
                    .bind(refund.amount_fen)
                    .bind(now)
                    .bind(&refund.order_id)
                    .execute(&mut *tx)
                    .await?;
                    if raised.rows_affected() == 0 {
                        let exists = sqlx::query("SELECT status FROM payment_orders WHERE id = $1").bind(&refund.order_id).fetch_optional(&mut *tx).await?;
                        return Err(match exists {
                            None => StoreError::NotFound,
                            Some(r) if r.try_get::<String, _>("status")? != "success" => StoreError::Conflict("refund_not_paid"),
                            Some(_) => StoreError::Conflict("refund_exceeds_paid"),
                        });
                    }
                    let inserted = sqlx::query(&format!("INSERT INTO refunds ({REFUND_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
                        .bind(&refund.id)
                        .bind(&refund.refund_no)
                        .bind(&refund.order_id)
                        .bind(refund.amount_fen)
                        .bind(&refund.reason)
                        .bind(refund.status.as_str())
                        .bind(&refund.provider_refund_no)
                        .bind(refund.created_at)
                        .bind(refund.updated_at)
                        .execute(&mut *tx)
                        .await;
                    match inserted {
                        Err(e) if unique_violation(&e) => return Err(StoreError::Conflict("refund_no_taken")),
                        other => {
                            other?;
                        }
                    }
                    tx.commit().await?;
                    Ok(refund)
                })
                .await
            }

            async fn finish_refund(&self, refund_no: &str, status: RefundStatus, provider_refund_no: Option<&str>, now: Millis) -> Result<Option<Refund>> {
                let pool = self.write.clone();
                let (refund_no, provider_refund_no) = (refund_no.to_string(), provider_refund_no.map(str::to_string));
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let row = sqlx::query(&format!(
                        "UPDATE refunds SET status = $1, provider_refund_no = COALESCE($2, provider_refund_no), updated_at = $3 \
                         WHERE refund_no = $4 AND status = 'pending' RETURNING {REFUND_COLS}"
                    ))
                    .bind(status.as_str())
                    .bind(&provider_refund_no)
                    .bind(now)
                    .bind(&refund_no)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else { return Ok(None) };
                    let refund = Self::refund_row(&row)?;
                    if status == RefundStatus::Failed {
                        sqlx::query("UPDATE payment_orders SET refunded_fen = refunded_fen - $1, updated_at = $2 WHERE id = $3")
                            .bind(refund.amount_fen)
                            .bind(now)
                            .bind(&refund.order_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(Some(refund))
                })
                .await
            }

            async fn refunds_of(&self, order_id: &str) -> Result<Vec<Refund>> {
                let rows = sqlx::query(&format!("SELECT {REFUND_COLS} FROM refunds WHERE order_id = $1 ORDER BY created_at, id")).bind(order_id).fetch_all(&self.read).await?;
                rows.iter().map(Self::refund_row).collect()
            }

            async fn pending_refunds(&self, limit: i64) -> Result<Vec<Refund>> {
                let rows = sqlx::query(&format!("SELECT {REFUND_COLS} FROM refunds WHERE status = 'pending' ORDER BY updated_at LIMIT $1")).bind(limit).fetch_all(&self.read).await?;
                rows.iter().map(Self::refund_row).collect()
            }

            async fn channel_totals(&self, from: Millis, to: Millis, point_id: Option<&str>) -> Result<Vec<ChannelTotal>> {
                let rows = sqlx::query(
                    "SELECT channel, COUNT(*) AS n, CAST(SUM(amount_fen) AS BIGINT) AS amount, CAST(SUM(refunded_fen) AS BIGINT) AS refunded FROM payment_orders \
                     WHERE status = 'success' AND paid_at >= $1 AND paid_at < $2 AND ($3 IS NULL OR point_id = $3) GROUP BY channel ORDER BY channel",
                )
                .bind(from)
                .bind(to)
                .bind(point_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(ChannelTotal {
                            channel: r.try_get::<Option<String>, _>("channel")?.unwrap_or_default(),
                            count: r.try_get("n")?,
                            amount_fen: r.try_get::<Option<i64>, _>("amount")?.unwrap_or(0),
                            refunded_fen: r.try_get::<Option<i64>, _>("refunded")?.unwrap_or(0),
                        })
                    })
                    .collect()
            }

            async fn open_shift(&self, point_id: &str, staff_id: &str, now: Millis) -> Result<CashShift> {
                let shift = CashShift { id: new_id(), point_id: point_id.to_string(), staff_id: staff_id.to_string(), opened_at: now, closed_at: None, expected_fen: None, counted_fen: None };
                let r = sqlx::query(&format!("INSERT INTO cash_shifts ({SHIFT_COLS}) VALUES ($1, $2, $3, $4, NULL, NULL, NULL)"))
                    .bind(&shift.id)
                    .bind(&shift.point_id)
                    .bind(&shift.staff_id)
                    .bind(shift.opened_at)
                    .execute(&self.write)
                    .await;
                match r {
                    Err(e) if unique_violation(&e) => Err(StoreError::Conflict("shift_open")),
                    other => {
                        other?;
                        Ok(shift)
                    }
                }
            }

            async fn open_shift_of(&self, staff_id: &str) -> Result<Option<CashShift>> {
                let row = sqlx::query(&format!("SELECT {SHIFT_COLS} FROM cash_shifts WHERE staff_id = $1 AND closed_at IS NULL")).bind(staff_id).fetch_optional(&self.read).await?;
                row.as_ref().map(Self::shift_row).transpose()
            }

            async fn close_shift(&self, staff_id: &str, counted_fen: i64, now: Millis) -> Result<CashShift> {
                // The expected total and the close are one statement: cash recorded after it is not counted twice.
                let row = sqlx::query(&format!(
                    "UPDATE cash_shifts SET closed_at = $1, counted_fen = $2, expected_fen = \
                     (SELECT COALESCE(SUM(o.amount_fen), 0) FROM payment_orders o WHERE o.channel = 'cash' AND o.status = 'success' \
                      AND o.staff_id = $3 AND o.paid_at >= cash_shifts.opened_at AND o.paid_at <= $1) \
                     WHERE staff_id = $3 AND closed_at IS NULL RETURNING {SHIFT_COLS}"
                ))
                .bind(now)
                .bind(counted_fen)
                .bind(staff_id)
                .fetch_optional(&self.write)
                .await?;
                match row {
                    Some(r) => Self::shift_row(&r),
                    None => Err(StoreError::Conflict("no_open_shift")),
                }
            }

            async fn paid_orders(&self, from: Millis, to: Millis) -> Result<Vec<PaymentOrder>> {
                let rows = sqlx::query(&format!("SELECT {ORDER_COLS} FROM payment_orders WHERE status = 'success' AND paid_at >= $1 AND paid_at < $2 ORDER BY paid_at, id"))
                    .bind(from)
                    .bind(to)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::order_row).collect()
            }

            async fn refund_by_no(&self, refund_no: &str) -> Result<Option<Refund>> {
                let row = sqlx::query(&format!("SELECT {REFUND_COLS} FROM refunds WHERE refund_no = $1")).bind(refund_no).fetch_optional(&self.read).await?;
                row.as_ref().map(Self::refund_row).transpose()
            }

            async fn finished_refunds(&self, from: Millis, to: Millis) -> Result<Vec<FinishedRefund>> {
                let cols = REFUND_COLS.split(", ").map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ");
                let rows = sqlx::query(&format!(
                    "SELECT {cols}, o.order_no AS o_order_no, o.channel AS o_channel, o.point_id AS o_point_id FROM refunds r JOIN payment_orders o ON o.id = r.order_id \
                     WHERE r.status = 'success' AND r.updated_at >= $1 AND r.updated_at < $2 ORDER BY r.updated_at, r.id"
                ))
                .bind(from)
                .bind(to)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| Ok(FinishedRefund { refund: Self::refund_row(r)?, order_no: r.try_get("o_order_no")?, channel: r.try_get("o_channel")?, point_id: r.try_get("o_point_id")? }))
                    .collect()
            }

            async fn collection(&self, from: Millis, to: Millis) -> Result<Vec<CollectionLine>> {
                // China time is UTC+8 all year: the day is an integer division of the shifted timestamp.
                let rows = sqlx::query(
                    "SELECT (paid_at + 28800000) / 86400000 AS d, point_id, channel, COUNT(*) AS n, CAST(SUM(amount_fen) AS BIGINT) AS amount, \
                     CAST(SUM(refunded_fen) AS BIGINT) AS refunded FROM payment_orders WHERE status = 'success' AND paid_at >= $1 AND paid_at < $2 \
                     GROUP BY (paid_at + 28800000) / 86400000, point_id, channel ORDER BY d, COALESCE(point_id, ''), channel",
                )
                .bind(from)
                .bind(to)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(CollectionLine {
                            day: r.try_get("d")?,
                            point_id: r.try_get("point_id")?,
                            channel: r.try_get::<Option<String>, _>("channel")?.unwrap_or_default(),
                            count: r.try_get("n")?,
                            amount_fen: r.try_get::<Option<i64>, _>("amount")?.unwrap_or(0),
                            refunded_fen: r.try_get::<Option<i64>, _>("refunded")?.unwrap_or(0),
                        })
                    })
                    .collect()
            }

            async fn claim_reconciliation(
                &self,
                provider: &str,
                day: &str,
                requested_by: &str,
                now: Millis,
                retry_failed_before: Millis,
                stale_running_before: Millis,
                redo: bool,
            ) -> Result<Option<(String, i64)>> {
                let row = sqlx::query(
                    "INSERT INTO reconciliation_runs (id, provider, day, status, attempt, requested_by, started_at) VALUES ($1, $2, $3, 'running', 1, $4, $5) \
                     ON CONFLICT (provider, day) DO UPDATE SET status = 'running', attempt = reconciliation_runs.attempt + 1, \
                     requested_by = excluded.requested_by, started_at = excluded.started_at, finished_at = NULL, error = NULL \
                     WHERE (reconciliation_runs.status = 'failed' AND reconciliation_runs.finished_at < $6) \
                        OR (reconciliation_runs.status = 'running' AND reconciliation_runs.started_at < $7) \
                        OR (reconciliation_runs.status = 'done' AND $8 = 1) \
                     RETURNING id, attempt",
                )
                .bind(new_id())
                .bind(provider)
                .bind(day)
                .bind(requested_by)
                .bind(now)
                .bind(retry_failed_before)
                .bind(stale_running_before)
                .bind(if redo { 1i64 } else { 0i64 })
                .fetch_optional(&self.write)
                .await?;
                row.map(|r| Ok((r.try_get("id")?, r.try_get("attempt")?))).transpose()
            }

            async fn finish_reconciliation(&self, run_id: &str, attempt: i64, t: &ReconTotals, mismatches: &[ReconMismatch], now: Millis) -> Result<bool> {
                let pool = self.write.clone();
                let (run_id, t, mismatches) = (run_id.to_string(), t.clone(), mismatches.to_vec());
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let done = sqlx::query(
                        "UPDATE reconciliation_runs SET status = 'done', finished_at = $1, provider_payments = $2, provider_payment_fen = $3, \
                         provider_refunds = $4, provider_refund_fen = $5, our_payments = $6, our_payment_fen = $7, our_refunds = $8, our_refund_fen = $9, \
                         mismatches = $10, error = NULL WHERE id = $11 AND attempt = $12 AND status = 'running'",
                    )
                    .bind(now)
                    .bind(t.provider_payments)
                    .bind(t.provider_payment_fen)
                    .bind(t.provider_refunds)
                    .bind(t.provider_refund_fen)
                    .bind(t.our_payments)
                    .bind(t.our_payment_fen)
                    .bind(t.our_refunds)
                    .bind(t.our_refund_fen)
                    .bind(mismatches.len() as i64)
                    .bind(&run_id)
                    .bind(attempt)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                    sqlx::query("DELETE FROM reconciliation_mismatches WHERE run_id = $1").bind(&run_id).execute(&mut *tx).await?;
                    for (seq, m) in mismatches.iter().enumerate() {
                        sqlx::query(&format!("INSERT INTO reconciliation_mismatches (run_id, seq, {MISMATCH_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
                            .bind(&run_id)
                            .bind(seq as i64)
                            .bind(&m.kind)
                            .bind(&m.entry)
                            .bind(&m.order_no)
                            .bind(&m.refund_no)
                            .bind(&m.provider_trade_no)
                            .bind(m.our_fen)
                            .bind(m.provider_fen)
                            .bind(&m.our_status)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(true)
                })
                .await
            }

            async fn fail_reconciliation(&self, run_id: &str, attempt: i64, error: &str, now: Millis) -> Result<bool> {
                let r = sqlx::query("UPDATE reconciliation_runs SET status = 'failed', finished_at = $1, error = $2 WHERE id = $3 AND attempt = $4 AND status = 'running'")
                    .bind(now)
                    .bind(error)
                    .bind(run_id)
                    .bind(attempt)
                    .execute(&self.write)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn reconciliation_runs(&self, day: &str) -> Result<Vec<ReconRun>> {
                let rows = sqlx::query(&format!("SELECT {RUN_COLS} FROM reconciliation_runs WHERE day = $1 ORDER BY provider")).bind(day).fetch_all(&self.read).await?;
                rows.iter().map(Self::run_row).collect()
            }

            async fn reconciliation_mismatches(&self, run_id: &str) -> Result<Vec<ReconMismatch>> {
                let rows = sqlx::query(&format!("SELECT {MISMATCH_COLS} FROM reconciliation_mismatches WHERE run_id = $1 ORDER BY seq")).bind(run_id).fetch_all(&self.read).await?;
                rows.iter().map(Self::mismatch_row).collect()
            }
        }

        impl $store {
            async fn insert_order(tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>, o: &PaymentOrder) -> Result<()> {
                sqlx::query(&format!("INSERT INTO payment_orders ({ORDER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"))
                    .bind(&o.id)
                    .bind(&o.order_no)
                    .bind(&o.citizen_id)
                    .bind(&o.reference)
                    .bind(&o.item)
                    .bind(o.amount_fen)
                    .bind(&o.channel)
                    .bind(o.status.as_str())
                    .bind(&o.failure_code)
                    .bind(&o.provider_trade_no)
                    .bind(o.refunded_fen)
                    .bind(&o.point_id)
                    .bind(&o.staff_id)
                    .bind(o.cash_received_fen)
                    .bind(o.created_at)
                    .bind(o.updated_at)
                    .bind(o.expires_at)
                    .bind(o.paid_at)
                    .bind(o.opened_at)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }
        }
    };
}

sql_payments!(SqliteStore, SqliteRow, sqlx::SqliteConnection);
sql_payments!(PgStore, PgRow, sqlx::PgConnection);
