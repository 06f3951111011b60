//! Storage for Shenfen.
//!
//! One trait, [`Store`], with two implementations that share their SQL: [`SqliteStore`] (embedded default,
//! WAL, one dedicated write connection) and [`PgStore`] (production). The SQL is written once in the portable
//! subset both engines accept (`$n` parameters, `ON CONFLICT`, `RETURNING`, no arrays/jsonb) and expanded for
//! each backend by the `sql_store!` macro, so the two cannot drift apart. Schema migrations are kept per backend
//! under `migrations/`. The conformance suite in `tests/conformance.rs` runs against both.
//!
//! State that must hold across several app instances (sessions, rate limits, one-time codes, the audit chain)
//! lives here, and every rule is enforced by a single conditional statement, never read-then-write.

pub mod admin;
pub mod applications;
pub mod appointments;
pub mod audit;
pub mod backup;
pub mod cards;
mod group_commit;
pub mod model;
pub mod notifications;
pub mod payments;
pub mod shipments;
pub mod stats;
pub mod test_support;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous};

pub use applications::{Application, ApplicationChanges, ApplicationEventRow, ApplicationStore, AppliedTransition, DivisionFilter, OnlineCounters, Portrait};
pub use admin::{AdminStore, AuditFilter, Erased, MfaChallenge, NotificationRecord, QueueStats, StaffSecurity};
pub use appointments::AppointmentStore;
pub use cards::{Card, CardStore, ClaimedReminder};
pub use payments::{PaymentStore, PaymentOrder, IdempotencyKey, CreateOutcome, NoticeApplied, NoticeChange, OrderUpdate, Refund, ChannelTotal, CashShift, order_number};
pub use model::*;
pub use notifications::{Failure, NewNotification, Notification, NotificationStore, PushSubscription, Receipt, ReceiptOutcome, RetryPolicy, SentJob, SmsTiming};
pub use shipments::{NewShipment, NewTrackingEvent, Shipment, ShipmentEvent, ShipmentStore, TrackingStatus};
pub use stats::{CycleRow, StatKind, StatRow, StatsFilter, StatsStore, UserBase};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness or state rule refused the write; the string names which one.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The database could not be reached or is restarting (connection lost or refused, pool exhausted, server
    /// shutting down or starting up, SQLite busy past its timeout): nothing was written, and the same request
    /// is likely to succeed shortly. The service answers 503 rather than 500 for these.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(e) = self else { return false };
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed | sqlx::Error::Tls(_) => true,
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                // PostgreSQL: class 08 connection exceptions, admin/crash shutdown, cannot connect now, too many
                // connections. SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6) after the busy timeout.
                code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300" | "5" | "6")
            }
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[async_trait]
pub trait Store: AdminStore + ApplicationStore + AppointmentStore + CardStore + NotificationStore + PaymentStore + ShipmentStore + StatsStore + Send + Sync + 'static {
    fn backend(&self) -> Backend;
    async fn migrate(&self) -> Result<()>;
    /// A trivial round trip, for `/readyz`.
    async fn ping(&self) -> Result<()>;
    /// The database server's own clock, in UTC milliseconds: the reference every instance compares its clock
    /// with (leases and due times are written by one instance and read by another).
    async fn database_now_ms(&self) -> Result<Millis>;

    // Citizens
    async fn citizen_for_phone(&self, phone: &str, now: Millis) -> Result<Citizen>;
    async fn citizen(&self, id: &str) -> Result<Option<Citizen>>;
    async fn citizen_by_id_blind(&self, blind: &str) -> Result<Option<Citizen>>;
    /// Binds a verified identity to the account. `Conflict("id_number_bound")` when another account holds it.
    async fn record_primary_verification(&self, citizen_id: &str, ident: &VerifiedIdentity, now: Millis) -> Result<Citizen>;
    /// Requires primary verification first (`Conflict("primary_required")`).
    async fn record_intermediate_verification(&self, citizen_id: &str, now: Millis) -> Result<Citizen>;
    /// `Conflict("phone_taken")` when another account uses the number.
    async fn change_citizen_phone(&self, citizen_id: &str, new_phone: &str, now: Millis) -> Result<Citizen>;

    // Staff
    async fn insert_staff(&self, staff: &Staff) -> Result<()>;
    async fn staff(&self, id: &str) -> Result<Option<Staff>>;
    async fn staff_by_username(&self, username: &str) -> Result<Option<Staff>>;
    async fn list_staff(&self) -> Result<Vec<Staff>>;

    // Sessions (cookie and bearer alike; only the token's hash is stored)
    async fn insert_session(&self, session: &Session) -> Result<()>;
    async fn session(&self, token_hash: &str, now: Millis) -> Result<Option<Session>>;
    /// A live citizen session and its citizen in one round trip (the hot path of every signed-in request).
    async fn citizen_session(&self, token_hash: &str, now: Millis) -> Result<Option<(SessionChannel, Citizen)>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
    async fn delete_sessions_of(&self, kind: PrincipalKind, principal_id: &str) -> Result<u64>;

    // One-time SMS codes
    async fn insert_sms_code(&self, code: &NewSmsCode) -> Result<()>;
    async fn check_sms_code(&self, phone: &str, purpose: CodePurpose, code_hash: &str, max_attempts: u32, now: Millis) -> Result<CodeCheck>;

    /// Counts one hit in `bucket`'s window; `false` when the window already holds `limit` hits (nothing counted).
    async fn hit_rate_limit(&self, bucket: &str, window_start: Millis, limit: u32) -> Result<bool> {
        Ok(self.take_rate(&[(bucket.to_string(), 1)], window_start, limit).await?.first() == Some(&true))
    }
    /// Adds `n` hits to each bucket's window if that keeps it within `limit` (all or nothing per bucket), in order
    /// and in one transaction; per entry, whether its hits were taken. A bucket named twice counts twice.
    async fn take_rate(&self, hits: &[(String, u32)], window_start: Millis, limit: u32) -> Result<Vec<bool>>;

    // The sandbox SMS gateway's outbox
    /// Stores messages in the outbox (the sandboxes' and the demo's stand-in for handsets), all or none.
    async fn insert_outbox_many(&self, messages: &[OutboxMessage]) -> Result<()>;
    async fn insert_outbox(&self, message: &OutboxMessage) -> Result<()> {
        self.insert_outbox_many(std::slice::from_ref(message)).await
    }
    /// The newest outbox messages (of one number), each with the delivery status of the notification it carries
    /// when there is one (sign-in codes are sent outside the queue).
    async fn outbox_with_delivery(&self, phone: Option<&str>, limit: u32) -> Result<Vec<(OutboxMessage, Option<NotificationStatus>)>>;
    async fn outbox(&self, phone: Option<&str>, limit: u32) -> Result<Vec<OutboxMessage>> {
        Ok(self.outbox_with_delivery(phone, limit).await?.into_iter().map(|(m, _)| m).collect())
    }

    // Acceptance points
    async fn insert_point(&self, point: &AcceptancePoint) -> Result<()>;
    async fn point(&self, id: &str) -> Result<Option<AcceptancePoint>>;
    async fn list_points(&self) -> Result<Vec<AcceptancePoint>>;

    // Audit log
    async fn append_audit(&self, record: &AuditRecord) -> Result<AuditEntry>;
    async fn audit_entries(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEntry>>;
    async fn audit_head(&self) -> Result<(i64, String)>;
}

pub type DynStore = Arc<dyn Store>;

/// Opens the store named by `url` (`postgres://…` or `sqlite://path`), without migrating.
pub async fn connect(url: &str) -> Result<DynStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(PgConnectOptions::from_str(url)?, 16).await?))
    } else {
        Ok(Arc::new(SqliteStore::connect(SqliteConnectOptions::from_str(url)?).await?))
    }
}

/// Creates a schema in the PostgreSQL database at `url`, so a benchmark or scale-out run gets tables of its own
/// (connect with `?options=-csearch_path%3D<schema>`). Only `[a-z0-9_]` names are accepted.
pub async fn create_schema(url: &str, schema: &str) -> Result<()> {
    if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(StoreError::Corrupt(format!("invalid schema name {schema:?}")));
    }
    let admin = PgStore::connect(PgConnectOptions::from_str(url)?, 1).await?;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).execute(&admin.write).await?;
    admin.write.close().await;
    Ok(())
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `($1, $2, …), (…), …`: the VALUES rows of a multi-row INSERT of `rows` rows with `per_row` parameters each.
fn values_placeholders(rows: usize, per_row: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", (1..=per_row).map(|k| format!("${}", r * per_row + k)).collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs a write to completion even if the caller's future is dropped (client disconnect), so a transaction
/// is never abandoned half-way with the connection still holding SQLite's write lock.
async fn detached<T: Send + 'static>(fut: impl Future<Output = Result<T>> + Send + 'static) -> Result<T> {
    match tokio::spawn(fut).await {
        Ok(r) => r,
        Err(e) => Err(StoreError::Corrupt(format!("write task failed: {e}"))),
    }
}

fn enum_col<T>(value: String, parse: fn(&str) -> Option<T>) -> Result<T> {
    parse(&value).ok_or_else(|| StoreError::Corrupt(format!("unexpected enum value {value:?}")))
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

pub struct SqliteStore {
    /// Readers run in parallel (WAL).
    read: SqlitePool,
    /// One dedicated writer: SQLite serialises writes anyway, and one connection avoids writers sleeping in the
    /// busy handler (measured: p99 120 ms → 35 ms at 64 connections).
    write: SqlitePool,
    /// Application moves and payment notices, group-committed on the writer (see `group_commit`).
    group: group_commit::GroupCommit,
}

impl SqliteStore {
    pub async fn connect(options: SqliteConnectOptions) -> Result<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        // Each sqlx SQLite connection runs on its own thread; more readers than about twice the cores only adds
        // thread switching (measured on 2 cores: 4 readers beat 2 and 8 for the profile read at 64 and 512 clients).
        let cores = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(2);
        let read = SqlitePoolOptions::new().max_connections((cores * 2).clamp(2, 16)).connect_with(options.read_only(false)).await?;
        Ok(Self::from_pools(read, write))
    }

    pub(crate) fn from_pools(read: SqlitePool, write: SqlitePool) -> Self {
        let group = group_commit::GroupCommit::spawn(write.clone());
        Self { read, write, group }
    }
}

pub struct PgStore {
    read: PgPool,
    write: PgPool,
}

impl PgStore {
    pub async fn connect(options: PgConnectOptions, max_connections: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings every connection it hands out by default: a whole round trip before each statement. A
            // connection in steady use is known to be alive, so only one that sat idle for a while is tested
            // (a dead one is dropped and replaced within the same acquire, e.g. after PostgreSQL restarted).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for < Duration::from_secs(1) {
                        return Ok(true);
                    }
                    Ok(sqlx::Connection::ping(conn).await.is_ok())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self { read: pool.clone(), write: pool })
    }
}

pub(crate) const CITIZEN_COLS: &str =
    "id, phone, verification, name_enc, id_number_enc, id_number_masked, name_masked, hukou_code, verified_at, created_at";
const POINT_COLS: &str = "id, name, district_code, address, phone, lat_gcj02, lng_gcj02, is_demo, created_at, \
     opening_hours, services, windows, slot_minutes, capacity_per_slot, status, status_reason, status_until, status_changed_at";
const STAFF_COLS: &str = "id, username, password_hash, display_name, role, scope_kind, scope_code, active, created_at";
const AUDIT_COLS: &str = "seq, at, actor_kind, actor_id, action, target, source_ip, detail, prev_hash, hash";

macro_rules! sql_store {
    ($store:ident, $row:ty, $conn:ty, $backend:expr, $migrations:literal) => {
        impl $store {
            /// Appends to the audit chain inside the caller's transaction, so an action and its audit entry commit
            /// together or not at all.
            pub(crate) async fn append_audit_on(conn: &mut $conn, record: AuditRecord) -> Result<AuditEntry> {
                // Bumping the head row first takes its lock, so concurrent appends (from any instance)
                // queue here and the chain never forks.
                let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash").fetch_one(&mut *conn).await?;
                let seq: i64 = head.try_get("seq")?;
                let prev_hash: String = head.try_get("hash")?;
                let hash = audit::entry_hash(seq, &prev_hash, &record);
                sqlx::query(&format!("INSERT INTO audit_log ({AUDIT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
                    .bind(seq)
                    .bind(record.at)
                    .bind(record.actor_kind.as_str())
                    .bind(&record.actor_id)
                    .bind(&record.action)
                    .bind(&record.target)
                    .bind(&record.source_ip)
                    .bind(&record.detail)
                    .bind(&prev_hash)
                    .bind(&hash)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1").bind(&hash).execute(&mut *conn).await?;
                Ok(AuditEntry { seq, record, prev_hash, hash })
            }
        }

        impl $store {
            fn citizen_row(row: &$row) -> Result<Citizen> {
                Ok(Citizen {
                    id: row.try_get("id")?,
                    phone: row.try_get("phone")?,
                    verification: enum_col(row.try_get("verification")?, Verification::parse)?,
                    name_enc: row.try_get("name_enc")?,
                    id_number_enc: row.try_get("id_number_enc")?,
                    id_number_masked: row.try_get("id_number_masked")?,
                    name_masked: row.try_get("name_masked")?,
                    hukou_code: row.try_get("hukou_code")?,
                    verified_at: row.try_get("verified_at")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn staff_row(row: &$row) -> Result<Staff> {
                Ok(Staff {
                    id: row.try_get("id")?,
                    username: row.try_get("username")?,
                    password_hash: row.try_get("password_hash")?,
                    display_name: row.try_get("display_name")?,
                    role: enum_col(row.try_get("role")?, Role::parse)?,
                    scope: Scope {
                        kind: enum_col(row.try_get("scope_kind")?, ScopeKind::parse)?,
                        code: row.try_get("scope_code")?,
                    },
                    active: row.try_get::<i64, _>("active")? != 0,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn session_row(row: &$row) -> Result<Session> {
                Ok(Session {
                    token_hash: row.try_get("token_hash")?,
                    principal_kind: enum_col(row.try_get("principal_kind")?, PrincipalKind::parse)?,
                    principal_id: row.try_get("principal_id")?,
                    channel: enum_col(row.try_get("channel")?, SessionChannel::parse)?,
                    created_at: row.try_get("created_at")?,
                    expires_at: row.try_get("expires_at")?,
                })
            }

            fn audit_row(row: &$row) -> Result<AuditEntry> {
                Ok(AuditEntry {
                    seq: row.try_get("seq")?,
                    record: AuditRecord {
                        at: row.try_get("at")?,
                        actor_kind: enum_col(row.try_get("actor_kind")?, ActorKind::parse)?,
                        actor_id: row.try_get("actor_id")?,
                        action: row.try_get("action")?,
                        target: row.try_get("target")?,
                        source_ip: row.try_get("source_ip")?,
                        detail: row.try_get("detail")?,
                    },
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                })
            }

            fn point_row(row: &$row) -> Result<AcceptancePoint> {
                Ok(AcceptancePoint {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    district_code: row.try_get("district_code")?,
                    address: row.try_get("address")?,
                    phone: row.try_get("phone")?,
                    lat_gcj02: row.try_get("lat_gcj02")?,
                    lng_gcj02: row.try_get("lng_gcj02")?,
                    is_demo: row.try_get::<i64, _>("is_demo")? != 0,
                    created_at: row.try_get("created_at")?,
                    opening_hours: row.try_get("opening_hours")?,
                    services: row.try_get("services")?,
                    windows: row.try_get("windows")?,
                    slot_minutes: row.try_get("slot_minutes")?,
                    capacity_per_slot: row.try_get("capacity_per_slot")?,
                    status: enum_col(row.try_get("status")?, PointStatus::parse)?,
                    status_reason: row.try_get("status_reason")?,
                    status_until: row.try_get("status_until")?,
                    status_changed_at: row.try_get("status_changed_at")?,
                })
            }

            async fn citizen_required(&self, id: &str) -> Result<Citizen> {
                self.citizen(id).await?.ok_or(StoreError::NotFound)
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> Backend {
                $backend
            }

            async fn migrate(&self) -> Result<()> {
                sqlx::migrate!($migrations).run(&self.write).await?;
                Ok(())
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.read).await?;
                Ok(())
            }

            async fn database_now_ms(&self) -> Result<Millis> {
                let sql = match $backend {
                    Backend::Postgres => "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS now_ms",
                    Backend::Sqlite => "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) AS now_ms",
                };
                Ok(sqlx::query(sql).fetch_one(&self.read).await?.try_get("now_ms")?)
            }

            async fn citizen_for_phone(&self, phone: &str, now: Millis) -> Result<Citizen> {
                // Insert-if-absent then read: safe when two instances sign the same number in at once.
                sqlx::query(
                    "INSERT INTO citizens (id, phone, verification, created_at, updated_at) VALUES ($1, $2, 'none', $3, $3) \
                     ON CONFLICT (phone) DO NOTHING",
                )
                .bind(new_id())
                .bind(phone)
                .bind(now)
                .execute(&self.write)
                .await?;
                let row = sqlx::query(&format!("SELECT {CITIZEN_COLS} FROM citizens WHERE phone = $1"))
                    .bind(phone)
                    .fetch_one(&self.write)
                    .await?;
                Self::citizen_row(&row)
            }

            async fn citizen(&self, id: &str) -> Result<Option<Citizen>> {
                let row = sqlx::query(&format!("SELECT {CITIZEN_COLS} FROM citizens WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::citizen_row).transpose()
            }

            async fn citizen_by_id_blind(&self, blind: &str) -> Result<Option<Citizen>> {
                let row = sqlx::query(&format!("SELECT {CITIZEN_COLS} FROM citizens WHERE id_number_blind = $1"))
                    .bind(blind)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::citizen_row).transpose()
            }

            async fn record_primary_verification(&self, citizen_id: &str, ident: &VerifiedIdentity, now: Millis) -> Result<Citizen> {
                // Re-verifying keeps an intermediate tier only if it is the same person.
                let res = sqlx::query(
                    "UPDATE citizens SET name_enc = $1, name_masked = $2, id_number_enc = $3, id_number_blind = $4, \
                     id_number_masked = $5, hukou_code = $8, verified_at = $6, updated_at = $6, \
                     verification = CASE WHEN verification = 'intermediate' AND id_number_blind = $4 THEN 'intermediate' ELSE 'primary' END \
                     WHERE id = $7",
                )
                .bind(&ident.name_enc)
                .bind(&ident.name_masked)
                .bind(&ident.id_number_enc)
                .bind(&ident.id_number_blind)
                .bind(&ident.id_number_masked)
                .bind(now)
                .bind(citizen_id)
                .bind(&ident.hukou_code)
                .execute(&self.write)
                .await;
                match res {
                    Ok(r) if r.rows_affected() == 0 => Err(StoreError::NotFound),
                    Ok(_) => self.citizen_required(citizen_id).await,
                    Err(e) if unique_violation(&e) => Err(StoreError::Conflict("id_number_bound")),
                    Err(e) => Err(e.into()),
                }
            }

            async fn record_intermediate_verification(&self, citizen_id: &str, now: Millis) -> Result<Citizen> {
                let r = sqlx::query(
                    "UPDATE citizens SET verification = 'intermediate', updated_at = $1 \
                     WHERE id = $2 AND verification IN ('primary', 'intermediate')",
                )
                .bind(now)
                .bind(citizen_id)
                .execute(&self.write)
                .await?;
                if r.rows_affected() == 0 {
                    return match self.citizen(citizen_id).await? {
                        None => Err(StoreError::NotFound),
                        Some(_) => Err(StoreError::Conflict("primary_required")),
                    };
                }
                self.citizen_required(citizen_id).await
            }

            async fn change_citizen_phone(&self, citizen_id: &str, new_phone: &str, now: Millis) -> Result<Citizen> {
                let res = sqlx::query("UPDATE citizens SET phone = $1, updated_at = $2 WHERE id = $3")
                    .bind(new_phone)
                    .bind(now)
                    .bind(citizen_id)
                    .execute(&self.write)
                    .await;
                match res {
                    Ok(r) if r.rows_affected() == 0 => Err(StoreError::NotFound),
                    Ok(_) => self.citizen_required(citizen_id).await,
                    Err(e) if unique_violation(&e) => Err(StoreError::Conflict("phone_taken")),
                    Err(e) => Err(e.into()),
                }
            }

            async fn insert_staff(&self, s: &Staff) -> Result<()> {
                let res = sqlx::query(&format!(
                    "INSERT INTO staff ({STAFF_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
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
                .execute(&self.write)
                .await;
                match res {
                    Ok(_) => Ok(()),
                    Err(e) if unique_violation(&e) => Err(StoreError::Conflict("username_taken")),
                    Err(e) => Err(e.into()),
                }
            }

            async fn staff(&self, id: &str) -> Result<Option<Staff>> {
                let row = sqlx::query(&format!("SELECT {STAFF_COLS} FROM staff WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::staff_row).transpose()
            }

            async fn staff_by_username(&self, username: &str) -> Result<Option<Staff>> {
                let row = sqlx::query(&format!("SELECT {STAFF_COLS} FROM staff WHERE username = $1"))
                    .bind(username)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::staff_row).transpose()
            }

            async fn list_staff(&self) -> Result<Vec<Staff>> {
                let rows = sqlx::query(&format!("SELECT {STAFF_COLS} FROM staff ORDER BY username"))
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::staff_row).collect()
            }

            async fn insert_session(&self, s: &Session) -> Result<()> {
                sqlx::query(
                    "INSERT INTO sessions (token_hash, principal_kind, principal_id, channel, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&s.token_hash)
                .bind(s.principal_kind.as_str())
                .bind(&s.principal_id)
                .bind(s.channel.as_str())
                .bind(s.created_at)
                .bind(s.expires_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn session(&self, token_hash: &str, now: Millis) -> Result<Option<Session>> {
                let row = sqlx::query(
                    "SELECT token_hash, principal_kind, principal_id, channel, created_at, expires_at \
                     FROM sessions WHERE token_hash = $1 AND expires_at > $2",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.read)
                .await?;
                row.as_ref().map(Self::session_row).transpose()
            }

            async fn citizen_session(&self, token_hash: &str, now: Millis) -> Result<Option<(SessionChannel, Citizen)>> {
                let row = sqlx::query(
                    "SELECT s.channel AS session_channel, c.id, c.phone, c.verification, c.name_enc, c.id_number_enc, c.id_number_masked, \
                     c.name_masked, c.hukou_code, c.verified_at, c.created_at \
                     FROM sessions s JOIN citizens c ON c.id = s.principal_id \
                     WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.principal_kind = 'citizen'",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.read)
                .await?;
                match row {
                    None => Ok(None),
                    Some(r) => Ok(Some((enum_col(r.try_get("session_channel")?, SessionChannel::parse)?, Self::citizen_row(&r)?))),
                }
            }

            async fn delete_session(&self, token_hash: &str) -> Result<()> {
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&self.write).await?;
                Ok(())
            }

            async fn delete_sessions_of(&self, kind: PrincipalKind, principal_id: &str) -> Result<u64> {
                let r = sqlx::query("DELETE FROM sessions WHERE principal_kind = $1 AND principal_id = $2")
                    .bind(kind.as_str())
                    .bind(principal_id)
                    .execute(&self.write)
                    .await?;
                Ok(r.rows_affected())
            }

            async fn insert_sms_code(&self, c: &NewSmsCode) -> Result<()> {
                sqlx::query(
                    "INSERT INTO sms_codes (id, phone, purpose, code_hash, attempts, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, 0, $5, $6)",
                )
                .bind(new_id())
                .bind(&c.phone)
                .bind(c.purpose.as_str())
                .bind(&c.code_hash)
                .bind(c.created_at)
                .bind(c.expires_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn check_sms_code(&self, phone: &str, purpose: CodePurpose, code_hash: &str, max_attempts: u32, now: Millis) -> Result<CodeCheck> {
                let latest = sqlx::query(
                    "SELECT id, code_hash, attempts, expires_at, consumed_at FROM sms_codes \
                     WHERE phone = $1 AND purpose = $2 ORDER BY created_at DESC, id DESC LIMIT 1",
                )
                .bind(phone)
                .bind(purpose.as_str())
                .fetch_optional(&self.write)
                .await?;
                let Some(row) = latest else { return Ok(CodeCheck::NoCode) };
                let id: String = row.try_get("id")?;
                let stored_hash: String = row.try_get("code_hash")?;
                let attempts: i64 = row.try_get("attempts")?;
                let expires_at: i64 = row.try_get("expires_at")?;
                let consumed_at: Option<i64> = row.try_get("consumed_at")?;
                let max = i64::from(max_attempts);
                if consumed_at.is_some() {
                    return Ok(CodeCheck::NoCode);
                }
                if expires_at <= now {
                    return Ok(CodeCheck::Expired);
                }
                if attempts >= max {
                    return Ok(CodeCheck::Burned);
                }
                if constant_time_eq(stored_hash.as_bytes(), code_hash.as_bytes()) {
                    // Only one presenter can flip consumed_at: a concurrent replay sees zero rows.
                    let r = sqlx::query(
                        "UPDATE sms_codes SET consumed_at = $1 WHERE id = $2 AND consumed_at IS NULL AND attempts < $3 AND expires_at > $1",
                    )
                    .bind(now)
                    .bind(&id)
                    .bind(max)
                    .execute(&self.write)
                    .await?;
                    return Ok(if r.rows_affected() == 1 { CodeCheck::Accepted } else { CodeCheck::NoCode });
                }
                let updated = sqlx::query(
                    "UPDATE sms_codes SET attempts = attempts + 1 WHERE id = $1 AND consumed_at IS NULL AND attempts < $2 RETURNING attempts",
                )
                .bind(&id)
                .bind(max)
                .fetch_optional(&self.write)
                .await?;
                Ok(match updated {
                    Some(row) => {
                        let used: i64 = row.try_get("attempts")?;
                        if used >= max { CodeCheck::Burned } else { CodeCheck::Wrong { attempts_left: (max - used) as u32 } }
                    }
                    None => CodeCheck::Burned,
                })
            }

            async fn take_rate(&self, hits: &[(String, u32)], window_start: Millis, limit: u32) -> Result<Vec<bool>> {
                if hits.is_empty() {
                    return Ok(Vec::new());
                }
                self.take_rate_batch(hits, window_start, limit).await
            }

            async fn insert_outbox_many(&self, messages: &[OutboxMessage]) -> Result<()> {
                if messages.is_empty() {
                    return Ok(());
                }
                // One statement for the lot (the sandboxes store what arrives together in one go).
                let sql = format!(
                    "INSERT INTO sms_outbox (id, phone, body, created_at, provider, provider_message_id) VALUES {}",
                    values_placeholders(messages.len(), 6)
                );
                let mut q = sqlx::query(&sql);
                for m in messages {
                    q = q.bind(&m.id).bind(&m.phone).bind(&m.body).bind(m.created_at).bind(&m.provider).bind(&m.provider_message_id);
                }
                q.execute(&self.write).await?;
                Ok(())
            }

            async fn outbox_with_delivery(&self, phone: Option<&str>, limit: u32) -> Result<Vec<(OutboxMessage, Option<NotificationStatus>)>> {
                // `IS NOT NULL` lets PostgreSQL use its partial (provider, provider_message_id) index.
                let rows = sqlx::query(
                    "SELECT o.id, o.phone, o.body, o.created_at, o.provider, o.provider_message_id, \
                     (SELECT n.status FROM notifications n WHERE n.provider = o.provider AND n.provider_message_id = o.provider_message_id \
                      AND n.provider_message_id IS NOT NULL) AS delivery \
                     FROM sms_outbox o WHERE ($1 IS NULL OR o.phone = $1) ORDER BY o.created_at DESC, o.id DESC LIMIT $2",
                )
                .bind(phone)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| {
                        let delivery: Option<String> = r.try_get("delivery")?;
                        let message = OutboxMessage {
                            id: r.try_get("id")?,
                            phone: r.try_get("phone")?,
                            body: r.try_get("body")?,
                            created_at: r.try_get("created_at")?,
                            provider: r.try_get("provider")?,
                            provider_message_id: r.try_get("provider_message_id")?,
                        };
                        Ok((message, delivery.map(|d| enum_col(d, NotificationStatus::parse)).transpose()?))
                    })
                    .collect()
            }

            async fn insert_point(&self, p: &AcceptancePoint) -> Result<()> {
                let res = sqlx::query(&format!("INSERT INTO acceptance_points ({POINT_COLS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"))
                    .bind(&p.id)
                    .bind(&p.name)
                    .bind(&p.district_code)
                    .bind(&p.address)
                    .bind(&p.phone)
                    .bind(p.lat_gcj02)
                    .bind(p.lng_gcj02)
                    .bind(p.is_demo as i64)
                    .bind(p.created_at)
                    .bind(&p.opening_hours)
                    .bind(&p.services)
                    .bind(p.windows)
                    .bind(p.slot_minutes)
                    .bind(p.capacity_per_slot)
                    .bind(p.status.as_str())
                    .bind(&p.status_reason)
                    .bind(p.status_until)
                    .bind(p.status_changed_at)
                    .execute(&self.write)
                    .await;
                match res {
                    Ok(_) => Ok(()),
                    Err(e) if unique_violation(&e) => Err(StoreError::Conflict("point_exists")),
                    Err(e) => Err(e.into()),
                }
            }

            async fn point(&self, id: &str) -> Result<Option<AcceptancePoint>> {
                let row = sqlx::query(&format!("SELECT {POINT_COLS} FROM acceptance_points WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::point_row).transpose()
            }

            async fn list_points(&self) -> Result<Vec<AcceptancePoint>> {
                let rows = sqlx::query(&format!("SELECT {POINT_COLS} FROM acceptance_points ORDER BY district_code, name"))
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::point_row).collect()
            }

            async fn append_audit(&self, record: &AuditRecord) -> Result<AuditEntry> {
                let pool = self.write.clone();
                let record = record.clone();
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let entry = Self::append_audit_on(&mut tx, record).await?;
                    tx.commit().await?;
                    Ok(entry)
                })
                .await
            }

            async fn audit_entries(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEntry>> {
                let rows = sqlx::query(&format!("SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"))
                    .bind(after_seq)
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::audit_row).collect()
            }

            async fn audit_head(&self) -> Result<(i64, String)> {
                let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&self.read).await?;
                Ok((row.try_get("seq")?, row.try_get("hash")?))
            }
        }
    };
}

sql_store!(SqliteStore, SqliteRow, sqlx::SqliteConnection, Backend::Sqlite, "migrations/sqlite");
sql_store!(PgStore, PgRow, sqlx::PgConnection, Backend::Postgres, "migrations/postgres");

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `n` more hits fit a window now at `current` (all or nothing).
fn rate_fits(current: i64, n: u32, limit: u32) -> bool {
    n > 0 && current + i64::from(n) <= i64::from(limit)
}

// SQLite: one upsert per entry in one transaction on the single writer (calls into the library are cheap).
impl SqliteStore {
    async fn take_rate_batch(&self, hits: &[(String, u32)], window_start: Millis, limit: u32) -> Result<Vec<bool>> {
        let mut tx = self.write.begin().await?;
        let mut taken = Vec::with_capacity(hits.len());
        for (bucket, n) in hits {
            let row = sqlx::query(
                "INSERT INTO rate_limits (bucket, window_start, hits) SELECT $1, $2, $3 WHERE $3 <= $4 \
                 ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + excluded.hits \
                 WHERE rate_limits.hits + excluded.hits <= $4 RETURNING hits",
            )
            .bind(bucket)
            .bind(window_start)
            .bind(i64::from(*n))
            .bind(i64::from(limit))
            .fetch_optional(&mut *tx)
            .await?;
            taken.push(*n > 0 && row.is_some());
        }
        tx.commit().await?;
        Ok(taken)
    }
}

// PostgreSQL: a round trip per entry would cost a worker pass hundreds of them, so the batch locks its windows
// (in bucket order, so concurrent batches cannot deadlock), decides in memory, and writes the new counts back:
// four statements whatever the batch.
impl PgStore {
    async fn take_rate_batch(&self, hits: &[(String, u32)], window_start: Millis, limit: u32) -> Result<Vec<bool>> {
        let mut buckets: Vec<&str> = hits.iter().map(|(b, _)| b.as_str()).collect();
        buckets.sort_unstable();
        buckets.dedup();
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO rate_limits (bucket, window_start, hits) SELECT b, $2, 0 FROM unnest($1::text[]) AS b ORDER BY b \
             ON CONFLICT (bucket, window_start) DO NOTHING",
        )
        .persistent(false)
        .bind(&buckets)
        .bind(window_start)
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query("SELECT bucket, hits FROM rate_limits WHERE window_start = $2 AND bucket = ANY($1::text[]) ORDER BY bucket FOR UPDATE")
            .persistent(false)
            .bind(&buckets)
            .bind(window_start)
            .fetch_all(&mut *tx)
            .await?;
        let mut current = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            current.insert(r.try_get::<String, _>("bucket")?, r.try_get::<i64, _>("hits")?);
        }
        let mut taken = Vec::with_capacity(hits.len());
        for (bucket, n) in hits {
            let now_at = current.entry(bucket.clone()).or_insert(0);
            let fits = rate_fits(*now_at, *n, limit);
            if fits {
                *now_at += i64::from(*n);
            }
            taken.push(fits);
        }
        let (names, counts): (Vec<String>, Vec<i64>) = current.into_iter().unzip();
        sqlx::query(
            "UPDATE rate_limits r SET hits = v.hits FROM unnest($1::text[], $3::bigint[]) AS v(bucket, hits) \
             WHERE r.bucket = v.bucket AND r.window_start = $2 AND r.hits <> v.hits",
        )
        .persistent(false)
        .bind(&names)
        .bind(window_start)
        .bind(&counts)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(taken)
    }
}
