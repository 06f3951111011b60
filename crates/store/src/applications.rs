//! Storage for ID-card applications: the application row (its current state and version), its timeline, and the
//! portraits submitted for it.
//!
//! The store never decides whether a move is legal — the domain's `transition` does — but it makes the decision
//! stick exactly once: [`ApplicationStore::apply_transition`] changes the row only if it is still at the version the
//! caller decided on (`UPDATE … WHERE id = $1 AND version = $2`) and writes the timeline entry in the same
//! transaction. Of two racing moves (approve and cancel) one wins and the other is told to look again.

use async_trait::async_trait;
use shenfen_domain::applications::{ApplicationKind, ApplicationState, Channel as AppChannel, DeliveryMethod};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::{Millis, PgStore, Result, SqliteStore, StoreError, detached};

/// One application as stored. Encrypted fields are bytes the server decrypts; the masked forms are for display.
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub id: String,
    pub ref_no: String,
    pub citizen_id: Option<String>,
    pub kind: ApplicationKind,
    pub channel: AppChannel,
    pub state: ApplicationState,
    pub version: i64,
    pub applicant_name_enc: Vec<u8>,
    pub applicant_name_masked: String,
    pub applicant_id_enc: Vec<u8>,
    pub applicant_id_masked: String,
    pub applicant_id_blind: String,
    pub division_code: String,
    pub point_id: Option<String>,
    pub portrait_source: Option<String>,
    pub portrait_id: Option<String>,
    pub delivery_method: DeliveryMethod,
    pub delivery_division: Option<String>,
    pub delivery_address_enc: Option<Vec<u8>>,
    pub delivery_address_masked: Option<String>,
    pub recipient_phone: Option<String>,
    pub pickup_point_id: Option<String>,
    pub fee_waived: bool,
    pub fee_fen: i64,
    pub postage_fen: i64,
    pub payment_order_no: Option<String>,
    pub appointment_id: Option<String>,
    /// Comma-separated `ReturnReason` codes of the latest return.
    pub return_reasons: Option<String>,
    pub return_note: Option<String>,
    pub reject_reason: Option<String>,
    pub tracking_no: Option<String>,
    pub batch_id: Option<String>,
    pub claimed_by: Option<String>,
    pub claim_until: Option<Millis>,
    pub submitted_at: Option<Millis>,
    pub approved_at: Option<Millis>,
    pub payment_due_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Application {
    pub fn total_fen(&self) -> i64 {
        if self.fee_waived { self.postage_fen } else { self.fee_fen + self.postage_fen }
    }
}

/// What a move changes besides the state. `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplicationChanges {
    pub portrait_id: Option<String>,
    pub portrait_source: Option<String>,
    pub payment_order_no: Option<String>,
    pub return_reasons: Option<String>,
    pub return_note: Option<String>,
    pub reject_reason: Option<String>,
    pub tracking_no: Option<String>,
    pub batch_id: Option<String>,
    pub pickup_point_id: Option<String>,
    pub submitted_at: Option<Millis>,
    pub approved_at: Option<Millis>,
    pub payment_due_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    /// The review is over: drop the reviewer's claim.
    pub release_claim: bool,
}

/// One entry of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationEventRow {
    pub application_id: String,
    pub seq: i64,
    pub at: Millis,
    pub event: String,
    pub from_state: ApplicationState,
    pub to_state: ApplicationState,
    pub actor_kind: String,
    pub actor_id: String,
    /// JSON.
    pub detail: String,
    pub citizen_id: Option<String>,
    pub online_cancellation: bool,
    pub failed_photo_review: bool,
}

/// A decided move: from `from` at `expected_version` to `to`, with its timeline entry.
#[derive(Debug, Clone)]
pub struct AppliedTransition {
    pub application_id: String,
    pub expected_version: i64,
    pub from: ApplicationState,
    pub to: ApplicationState,
    pub changes: ApplicationChanges,
    pub event: String,
    pub actor_kind: String,
    pub actor_id: String,
    pub detail: String,
    pub online_cancellation: bool,
    pub failed_photo_review: bool,
    pub at: Millis,
}

/// A submitted photo and the engine's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Portrait {
    pub id: String,
    pub citizen_id: Option<String>,
    pub application_id: Option<String>,
    pub source: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub passed: bool,
    pub report: String,
    pub created_at: Millis,
}

/// Which applications a listing covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DivisionFilter {
    All,
    /// County codes starting with this prefix (`"34"` the province, `"3401"` a city, `"340104"` a district).
    Prefix(String),
}

impl DivisionFilter {
    fn pattern(&self) -> String {
        match self {
            DivisionFilter::All => "%".into(),
            DivisionFilter::Prefix(p) => format!("{}%", p.replace(['%', '_'], "")),
        }
    }
}

/// Counts behind the online-route limits (Hefei rules 3, 8 and 9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnlineCounters {
    pub cancellations_today: u32,
    pub cancellations_this_month: u32,
    pub failed_photo_reviews: u32,
}

#[async_trait]
pub trait ApplicationStore: Send + Sync {
    async fn insert_application(&self, app: &Application) -> Result<()>;
    async fn application(&self, id: &str) -> Result<Option<Application>>;
    async fn application_by_ref(&self, ref_no: &str) -> Result<Option<Application>>;
    async fn applications_of(&self, citizen_id: &str, limit: u32) -> Result<Vec<Application>>;
    /// Applications of one person by the blind index of their ID number (counter entry, with or without an account).
    async fn applications_of_applicant(&self, id_blind: &str, limit: u32) -> Result<Vec<Application>>;
    /// Applications in any of `states` within the division filter, oldest submission first.
    async fn applications_in(&self, states: &[ApplicationState], filter: &DivisionFilter, limit: u32) -> Result<Vec<Application>>;
    /// Applications taken in (or to be finished) at one acceptance point in these states, oldest first.
    async fn applications_at_point(&self, point_id: &str, states: &[ApplicationState], limit: u32) -> Result<Vec<Application>>;
    /// The move, if the row is still at `expected_version` and in `from`; `None` if someone else moved it first.
    async fn apply_transition(&self, t: &AppliedTransition) -> Result<Option<Application>>;
    async fn application_events(&self, application_id: &str) -> Result<Vec<ApplicationEventRow>>;
    /// Timeline entries between two instants (statistics, SLA supervision), oldest first.
    async fn application_events_between(&self, from: Millis, to: Millis, limit: u32) -> Result<Vec<ApplicationEventRow>>;
    /// A reviewer takes (or renews) the claim on a submitted / under-review application, unless another reviewer's
    /// claim is still running. Returns whether the caller holds the claim now.
    async fn claim_review(&self, application_id: &str, reviewer: &str, now: Millis, until: Millis) -> Result<bool>;
    async fn release_review(&self, application_id: &str, reviewer: &str) -> Result<()>;
    /// Sets the attached appointment (once).
    async fn set_application_appointment(&self, application_id: &str, appointment_id: Option<&str>) -> Result<()>;
    /// Replaces a draft's or returned application's editable fields (only while it is in `draft` or `returned`).
    async fn update_draft(&self, app: &Application) -> Result<bool>;
    async fn online_counters(&self, citizen_id: &str, day_start: Millis, month_start: Millis, last_issued_at: Millis) -> Result<OnlineCounters>;
    /// Applications whose payment window has passed without payment.
    async fn payment_overdue(&self, now: Millis, limit: u32) -> Result<Vec<Application>>;
    /// Applications in `awaiting_payment` with a successful order (the sweep behind the payment hook; the caller checks
    /// that every item due is paid).
    async fn paid_but_waiting(&self, limit: u32) -> Result<Vec<Application>>;
    async fn count_applications(&self) -> Result<i64>;
    /// Bytes the database's tables and indexes occupy (SQLite: the file after a WAL checkpoint; PostgreSQL: the
    /// relations of the current schema). For capacity figures.
    async fn storage_bytes(&self) -> Result<i64>;

    async fn insert_portrait(&self, p: &Portrait) -> Result<()>;
    async fn portrait(&self, id: &str) -> Result<Option<Portrait>>;
    /// Portraits of an application (or of a citizen's preparation), newest first, without their bytes.
    async fn portraits_of(&self, citizen_id: &str, application_id: Option<&str>, limit: u32) -> Result<Vec<Portrait>>;
}

const COLS: &str = "id, ref_no, citizen_id, kind, channel, state, version, applicant_name_enc, applicant_name_masked, applicant_id_enc, \
     applicant_id_masked, applicant_id_blind, division_code, point_id, portrait_source, portrait_id, delivery_method, delivery_division, \
     delivery_address_enc, delivery_address_masked, recipient_phone, pickup_point_id, fee_waived, fee_fen, postage_fen, payment_order_no, \
     appointment_id, return_reasons, return_note, reject_reason, tracking_no, batch_id, claimed_by, claim_until, submitted_at, approved_at, \
     payment_due_at, finished_at, created_at, updated_at";
const EVENT_COLS: &str =
    "application_id, seq, at, event, from_state, to_state, actor_kind, actor_id, detail, citizen_id, online_cancellation, failed_photo_review";
const PORTRAIT_META: &str = "id, citizen_id, application_id, source, content_type, sha256, passed, report, created_at";

fn state_col(v: String) -> Result<ApplicationState> {
    ApplicationState::from_code(&v).ok_or_else(|| StoreError::Corrupt(format!("unexpected application state {v:?}")))
}

fn states_list(states: &[ApplicationState]) -> String {
    // Codes are fixed identifiers from the domain, never user input.
    states.iter().map(|s| format!("'{}'", s.code())).collect::<Vec<_>>().join(", ")
}

macro_rules! sql_applications {
    ($store:ident, $row:ty, $conn:ty, $checkpoint:expr, $size:expr) => {
        impl $store {
            /// One move on an open transaction: the versioned update and its timeline row. `None` when the row is no
            /// longer at the expected version and state (someone else moved it first).
            pub(crate) async fn transition_on(conn: &mut $conn, t: &AppliedTransition) -> Result<Option<Application>> {
                let c = &t.changes;
                let row = sqlx::query(&format!(
                    "UPDATE applications SET state = $1, version = version + 1, updated_at = $2, \
                     portrait_id = COALESCE($3, portrait_id), portrait_source = COALESCE($4, portrait_source), \
                     payment_order_no = COALESCE($5, payment_order_no), return_reasons = COALESCE($6, return_reasons), \
                     return_note = COALESCE($7, return_note), reject_reason = COALESCE($8, reject_reason), \
                     tracking_no = COALESCE($9, tracking_no), batch_id = COALESCE($10, batch_id), \
                     pickup_point_id = COALESCE($11, pickup_point_id), submitted_at = COALESCE($12, submitted_at), \
                     approved_at = COALESCE($13, approved_at), payment_due_at = COALESCE($14, payment_due_at), \
                     finished_at = COALESCE($15, finished_at), \
                     claimed_by = CASE WHEN $16 = 1 THEN NULL ELSE claimed_by END, \
                     claim_until = CASE WHEN $16 = 1 THEN NULL ELSE claim_until END \
                     WHERE id = $17 AND version = $18 AND state = $19 RETURNING {COLS}"
                ))
                .bind(t.to.code())
                .bind(t.at)
                .bind(&c.portrait_id)
                .bind(&c.portrait_source)
                .bind(&c.payment_order_no)
                .bind(&c.return_reasons)
                .bind(&c.return_note)
                .bind(&c.reject_reason)
                .bind(&c.tracking_no)
                .bind(&c.batch_id)
                .bind(&c.pickup_point_id)
                .bind(c.submitted_at)
                .bind(c.approved_at)
                .bind(c.payment_due_at)
                .bind(c.finished_at)
                .bind(c.release_claim as i64)
                .bind(&t.application_id)
                .bind(t.expected_version)
                .bind(t.from.code())
                .fetch_optional(&mut *conn)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let app = Self::application_row(&row)?;
                sqlx::query(&format!("INSERT INTO application_events ({EVENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
                    .bind(&app.id)
                    .bind(app.version)
                    .bind(t.at)
                    .bind(&t.event)
                    .bind(t.from.code())
                    .bind(t.to.code())
                    .bind(&t.actor_kind)
                    .bind(&t.actor_id)
                    .bind(&t.detail)
                    .bind(&app.citizen_id)
                    .bind(t.online_cancellation as i64)
                    .bind(t.failed_photo_review as i64)
                    .execute(&mut *conn)
                    .await?;
                Ok(Some(app))
            }

            fn application_row(r: &$row) -> Result<Application> {
                let kind: String = r.try_get("kind")?;
                let channel: String = r.try_get("channel")?;
                let method: String = r.try_get("delivery_method")?;
                Ok(Application {
                    id: r.try_get("id")?,
                    ref_no: r.try_get("ref_no")?,
                    citizen_id: r.try_get("citizen_id")?,
                    kind: ApplicationKind::from_code(&kind).ok_or_else(|| StoreError::Corrupt(format!("kind {kind:?}")))?,
                    channel: AppChannel::from_code(&channel).ok_or_else(|| StoreError::Corrupt(format!("channel {channel:?}")))?,
                    state: state_col(r.try_get("state")?)?,
                    version: r.try_get("version")?,
                    applicant_name_enc: r.try_get("applicant_name_enc")?,
                    applicant_name_masked: r.try_get("applicant_name_masked")?,
                    applicant_id_enc: r.try_get("applicant_id_enc")?,
                    applicant_id_masked: r.try_get("applicant_id_masked")?,
                    applicant_id_blind: r.try_get("applicant_id_blind")?,
                    division_code: r.try_get("division_code")?,
                    point_id: r.try_get("point_id")?,
                    portrait_source: r.try_get("portrait_source")?,
                    portrait_id: r.try_get("portrait_id")?,
                    delivery_method: DeliveryMethod::from_code(&method).ok_or_else(|| StoreError::Corrupt(format!("delivery {method:?}")))?,
                    delivery_division: r.try_get("delivery_division")?,
                    delivery_address_enc: r.try_get("delivery_address_enc")?,
                    delivery_address_masked: r.try_get("delivery_address_masked")?,
                    recipient_phone: r.try_get("recipient_phone")?,
                    pickup_point_id: r.try_get("pickup_point_id")?,
                    fee_waived: r.try_get::<i64, _>("fee_waived")? != 0,
                    fee_fen: r.try_get("fee_fen")?,
                    postage_fen: r.try_get("postage_fen")?,
                    payment_order_no: r.try_get("payment_order_no")?,
                    appointment_id: r.try_get("appointment_id")?,
                    return_reasons: r.try_get("return_reasons")?,
                    return_note: r.try_get("return_note")?,
                    reject_reason: r.try_get("reject_reason")?,
                    tracking_no: r.try_get("tracking_no")?,
                    batch_id: r.try_get("batch_id")?,
                    claimed_by: r.try_get("claimed_by")?,
                    claim_until: r.try_get("claim_until")?,
                    submitted_at: r.try_get("submitted_at")?,
                    approved_at: r.try_get("approved_at")?,
                    payment_due_at: r.try_get("payment_due_at")?,
                    finished_at: r.try_get("finished_at")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            }

            fn event_row(r: &$row) -> Result<ApplicationEventRow> {
                Ok(ApplicationEventRow {
                    application_id: r.try_get("application_id")?,
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    event: r.try_get("event")?,
                    from_state: state_col(r.try_get("from_state")?)?,
                    to_state: state_col(r.try_get("to_state")?)?,
                    actor_kind: r.try_get("actor_kind")?,
                    actor_id: r.try_get("actor_id")?,
                    detail: r.try_get("detail")?,
                    citizen_id: r.try_get("citizen_id")?,
                    online_cancellation: r.try_get::<i64, _>("online_cancellation")? != 0,
                    failed_photo_review: r.try_get::<i64, _>("failed_photo_review")? != 0,
                })
            }

            fn portrait_row(r: &$row, with_bytes: bool) -> Result<Portrait> {
                Ok(Portrait {
                    id: r.try_get("id")?,
                    citizen_id: r.try_get("citizen_id")?,
                    application_id: r.try_get("application_id")?,
                    source: r.try_get("source")?,
                    content_type: r.try_get("content_type")?,
                    bytes: if with_bytes { r.try_get("bytes")? } else { Vec::new() },
                    sha256: r.try_get("sha256")?,
                    passed: r.try_get::<i64, _>("passed")? != 0,
                    report: r.try_get("report")?,
                    created_at: r.try_get("created_at")?,
                })
            }
        }

        #[async_trait]
        impl ApplicationStore for $store {
            async fn insert_application(&self, a: &Application) -> Result<()> {
                let r = sqlx::query(&format!(
                    "INSERT INTO applications ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
                     $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40)"
                ))
                .bind(&a.id)
                .bind(&a.ref_no)
                .bind(&a.citizen_id)
                .bind(a.kind.code())
                .bind(a.channel.code())
                .bind(a.state.code())
                .bind(a.version)
                .bind(&a.applicant_name_enc)
                .bind(&a.applicant_name_masked)
                .bind(&a.applicant_id_enc)
                .bind(&a.applicant_id_masked)
                .bind(&a.applicant_id_blind)
                .bind(&a.division_code)
                .bind(&a.point_id)
                .bind(&a.portrait_source)
                .bind(&a.portrait_id)
                .bind(a.delivery_method.code())
                .bind(&a.delivery_division)
                .bind(&a.delivery_address_enc)
                .bind(&a.delivery_address_masked)
                .bind(&a.recipient_phone)
                .bind(&a.pickup_point_id)
                .bind(a.fee_waived as i64)
                .bind(a.fee_fen)
                .bind(a.postage_fen)
                .bind(&a.payment_order_no)
                .bind(&a.appointment_id)
                .bind(&a.return_reasons)
                .bind(&a.return_note)
                .bind(&a.reject_reason)
                .bind(&a.tracking_no)
                .bind(&a.batch_id)
                .bind(&a.claimed_by)
                .bind(a.claim_until)
                .bind(a.submitted_at)
                .bind(a.approved_at)
                .bind(a.payment_due_at)
                .bind(a.finished_at)
                .bind(a.created_at)
                .bind(a.updated_at)
                .execute(&self.write)
                .await;
                match r {
                    Ok(_) => Ok(()),
                    Err(e) if crate::unique_violation(&e) => Err(StoreError::Conflict("application_exists")),
                    Err(e) => Err(e.into()),
                }
            }

            async fn application(&self, id: &str) -> Result<Option<Application>> {
                let row = sqlx::query(&format!("SELECT {COLS} FROM applications WHERE id = $1")).bind(id).fetch_optional(&self.write).await?;
                row.as_ref().map(Self::application_row).transpose()
            }

            async fn application_by_ref(&self, ref_no: &str) -> Result<Option<Application>> {
                let row = sqlx::query(&format!("SELECT {COLS} FROM applications WHERE ref_no = $1")).bind(ref_no).fetch_optional(&self.read).await?;
                row.as_ref().map(Self::application_row).transpose()
            }

            async fn applications_of(&self, citizen_id: &str, limit: u32) -> Result<Vec<Application>> {
                let rows = sqlx::query(&format!("SELECT {COLS} FROM applications WHERE citizen_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"))
                    .bind(citizen_id)
                    .bind(limit as i64)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::application_row).collect()
            }

            async fn applications_of_applicant(&self, id_blind: &str, limit: u32) -> Result<Vec<Application>> {
                let rows = sqlx::query(&format!("SELECT {COLS} FROM applications WHERE applicant_id_blind = $1 ORDER BY created_at DESC, id DESC LIMIT $2"))
                    .bind(id_blind)
                    .bind(limit as i64)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::application_row).collect()
            }

            async fn applications_in(&self, states: &[ApplicationState], filter: &DivisionFilter, limit: u32) -> Result<Vec<Application>> {
                if states.is_empty() {
                    return Ok(Vec::new());
                }
                let rows = sqlx::query(&format!(
                    "SELECT {COLS} FROM applications WHERE state IN ({}) AND division_code LIKE $1 \
                     ORDER BY COALESCE(submitted_at, created_at), id LIMIT $2",
                    states_list(states)
                ))
                .bind(filter.pattern())
                .bind(limit as i64)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::application_row).collect()
            }

            async fn applications_at_point(&self, point_id: &str, states: &[ApplicationState], limit: u32) -> Result<Vec<Application>> {
                if states.is_empty() {
                    return Ok(Vec::new());
                }
                let rows = sqlx::query(&format!(
                    "SELECT {COLS} FROM applications WHERE point_id = $1 AND state IN ({}) ORDER BY created_at, id LIMIT $2",
                    states_list(states)
                ))
                .bind(point_id)
                .bind(limit as i64)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::application_row).collect()
            }

            async fn apply_transition(&self, t: &AppliedTransition) -> Result<Option<Application>> {
                self.write_transition(t).await
            }

            async fn application_events(&self, application_id: &str) -> Result<Vec<ApplicationEventRow>> {
                let rows = sqlx::query(&format!("SELECT {EVENT_COLS} FROM application_events WHERE application_id = $1 ORDER BY seq"))
                    .bind(application_id)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::event_row).collect()
            }

            async fn application_events_between(&self, from: Millis, to: Millis, limit: u32) -> Result<Vec<ApplicationEventRow>> {
                let rows = sqlx::query(&format!(
                    "SELECT {EVENT_COLS} FROM application_events WHERE at >= $1 AND at < $2 ORDER BY at, application_id, seq LIMIT $3"
                ))
                .bind(from)
                .bind(to)
                .bind(limit as i64)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::event_row).collect()
            }

            async fn claim_review(&self, application_id: &str, reviewer: &str, now: Millis, until: Millis) -> Result<bool> {
                let r = sqlx::query(
                    "UPDATE applications SET claimed_by = $1, claim_until = $2 WHERE id = $3 AND state IN ('submitted', 'under_review') \
                     AND (claimed_by IS NULL OR claimed_by = $1 OR claim_until < $4)",
                )
                .bind(reviewer)
                .bind(until)
                .bind(application_id)
                .bind(now)
                .execute(&self.write)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn release_review(&self, application_id: &str, reviewer: &str) -> Result<()> {
                sqlx::query("UPDATE applications SET claimed_by = NULL, claim_until = NULL WHERE id = $1 AND claimed_by = $2")
                    .bind(application_id)
                    .bind(reviewer)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn set_application_appointment(&self, application_id: &str, appointment_id: Option<&str>) -> Result<()> {
                sqlx::query("UPDATE applications SET appointment_id = $1 WHERE id = $2")
                    .bind(appointment_id)
                    .bind(application_id)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn update_draft(&self, a: &Application) -> Result<bool> {
                let r = sqlx::query(
                    "UPDATE applications SET portrait_source = $1, portrait_id = $2, delivery_method = $3, delivery_division = $4, \
                     delivery_address_enc = $5, delivery_address_masked = $6, recipient_phone = $7, pickup_point_id = $8, postage_fen = $9, \
                     updated_at = $10, version = version + 1 WHERE id = $11 AND version = $12 AND state IN ('draft', 'returned')",
                )
                .bind(&a.portrait_source)
                .bind(&a.portrait_id)
                .bind(a.delivery_method.code())
                .bind(&a.delivery_division)
                .bind(&a.delivery_address_enc)
                .bind(&a.delivery_address_masked)
                .bind(&a.recipient_phone)
                .bind(&a.pickup_point_id)
                .bind(a.postage_fen)
                .bind(a.updated_at)
                .bind(&a.id)
                .bind(a.version)
                .execute(&self.write)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn online_counters(&self, citizen_id: &str, day_start: Millis, month_start: Millis, last_issued_at: Millis) -> Result<OnlineCounters> {
                let row = sqlx::query(
                    "SELECT \
                       COALESCE(SUM(CASE WHEN online_cancellation = 1 AND at >= $2 THEN 1 ELSE 0 END), 0) AS today, \
                       COALESCE(SUM(CASE WHEN online_cancellation = 1 AND at >= $3 THEN 1 ELSE 0 END), 0) AS month, \
                       COALESCE(SUM(CASE WHEN failed_photo_review = 1 AND at >= $4 THEN 1 ELSE 0 END), 0) AS photo \
                     FROM application_events WHERE citizen_id = $1 AND at >= $5",
                )
                .bind(citizen_id)
                .bind(day_start)
                .bind(month_start)
                .bind(last_issued_at)
                .bind(month_start.min(last_issued_at))
                .fetch_one(&self.read)
                .await?;
                let get = |c: &str| -> Result<u32> { Ok(row.try_get::<i64, _>(c)?.max(0) as u32) };
                Ok(OnlineCounters { cancellations_today: get("today")?, cancellations_this_month: get("month")?, failed_photo_reviews: get("photo")? })
            }

            async fn payment_overdue(&self, now: Millis, limit: u32) -> Result<Vec<Application>> {
                let rows = sqlx::query(&format!(
                    "SELECT {COLS} FROM applications WHERE state IN ('approved', 'awaiting_payment') AND fee_waived = 0 \
                     AND payment_due_at IS NOT NULL AND payment_due_at < $1 ORDER BY payment_due_at LIMIT $2"
                ))
                .bind(now)
                .bind(limit as i64)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::application_row).collect()
            }

            async fn paid_but_waiting(&self, limit: u32) -> Result<Vec<Application>> {
                let rows = sqlx::query(&format!(
                    "SELECT {COLS} FROM applications WHERE state = 'awaiting_payment' AND EXISTS \
                     (SELECT 1 FROM payment_orders o WHERE o.reference = applications.id AND o.status = 'success') \
                     ORDER BY updated_at LIMIT $1"
                ))
                .bind(limit as i64)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::application_row).collect()
            }

            async fn count_applications(&self) -> Result<i64> {
                Ok(sqlx::query("SELECT COUNT(*) AS n FROM applications").fetch_one(&self.read).await?.try_get("n")?)
            }

            async fn storage_bytes(&self) -> Result<i64> {
                if let Some(sql) = $checkpoint {
                    sqlx::query(sql).execute(&self.write).await?;
                }
                Ok(sqlx::query($size).fetch_one(&self.write).await?.try_get("n")?)
            }

            async fn insert_portrait(&self, p: &Portrait) -> Result<()> {
                sqlx::query(
                    "INSERT INTO portraits (id, citizen_id, application_id, source, content_type, bytes, sha256, passed, report, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&p.id)
                .bind(&p.citizen_id)
                .bind(&p.application_id)
                .bind(&p.source)
                .bind(&p.content_type)
                .bind(&p.bytes)
                .bind(&p.sha256)
                .bind(p.passed as i64)
                .bind(&p.report)
                .bind(p.created_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn portrait(&self, id: &str) -> Result<Option<Portrait>> {
                let row = sqlx::query(&format!("SELECT {PORTRAIT_META}, bytes FROM portraits WHERE id = $1")).bind(id).fetch_optional(&self.read).await?;
                row.as_ref().map(|r| Self::portrait_row(r, true)).transpose()
            }

            async fn portraits_of(&self, citizen_id: &str, application_id: Option<&str>, limit: u32) -> Result<Vec<Portrait>> {
                let rows = sqlx::query(&format!(
                    "SELECT {PORTRAIT_META} FROM portraits WHERE citizen_id = $1 AND ($2 IS NULL OR application_id = $2) \
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                ))
                .bind(citizen_id)
                .bind(application_id)
                .bind(limit as i64)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(|r| Self::portrait_row(r, false)).collect()
            }
        }
    };
}

sql_applications!(
    SqliteStore,
    SqliteRow,
    sqlx::SqliteConnection,
    Some("PRAGMA wal_checkpoint(TRUNCATE)"),
    "SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()"
);
sql_applications!(
    PgStore,
    PgRow,
    sqlx::PgConnection,
    None::<&str>,
    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint AS n FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
);

impl PgStore {
    async fn write_transition(&self, t: &AppliedTransition) -> Result<Option<Application>> {
        let pool = self.write.clone();
        let t = t.clone();
        detached(async move {
            let mut tx = pool.begin().await?;
            let out = Self::transition_on(&mut tx, &t).await?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }
}

impl SqliteStore {
    async fn write_transition(&self, t: &AppliedTransition) -> Result<Option<Application>> {
        self.group.transition(t.clone()).await
    }
}
