//! Storage for express delivery of finished cards: shipments (one per application, by `reference`) and the
//! carrier's tracking events. Rules that must hold across instances are single statements:
//! * a shipment is created once per reference (`ON CONFLICT (reference) DO NOTHING`, then the row is read back);
//! * a tracking event is stored once per carrier event id, however many times it is pushed or polled
//!   (`ON CONFLICT (carrier, carrier_event_id) DO NOTHING RETURNING`);
//! * a shipment's status only moves forward ([`TrackingStatus::rank`], then the carrier's event time) — one
//!   conditional `UPDATE`, so a late or replayed event never takes a delivered card back "out for delivery";
//! * the polling job claims a shipment by moving `last_polled_at` forward in one conditional `UPDATE`, so each
//!   shipment is asked about by one instance per round;
//! * events are an outbox for the application layer: [`ShipmentStore::unapplied_shipment_events`] hands each
//!   event to one consumer under a lease (PostgreSQL: `FOR UPDATE SKIP LOCKED`), the earliest unapplied event
//!   of a shipment first, and [`ShipmentStore::mark_shipment_event_applied`] retires it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::model::Millis;
use crate::{PgStore, Result, SqliteStore, StoreError, detached, enum_col, new_id, unique_violation};

/// Where a shipment is, in the carrier-neutral vocabulary every adapter maps its own codes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    /// The carrier accepted the order and assigned a tracking number (揽收前).
    Created,
    /// The courier picked the parcel up (已揽收).
    Collected,
    /// Between sorting centres (运输中), including the way back to the sender after a failed delivery.
    InTransit,
    /// With the delivering courier (派送中).
    OutForDelivery,
    /// Handed over to the recipient (已妥投).
    Delivered,
    /// A delivery attempt failed (投递失败); another attempt or the return may follow.
    DeliveryFailed,
    /// Back with the sender (已退回).
    Returned,
}

impl TrackingStatus {
    pub const ALL: [TrackingStatus; 7] = [
        TrackingStatus::Created,
        TrackingStatus::Collected,
        TrackingStatus::InTransit,
        TrackingStatus::OutForDelivery,
        TrackingStatus::Delivered,
        TrackingStatus::DeliveryFailed,
        TrackingStatus::Returned,
    ];

    /// Stable code (database, API, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingStatus::Created => "created",
            TrackingStatus::Collected => "collected",
            TrackingStatus::InTransit => "in_transit",
            TrackingStatus::OutForDelivery => "out_for_delivery",
            TrackingStatus::Delivered => "delivered",
            TrackingStatus::DeliveryFailed => "delivery_failed",
            TrackingStatus::Returned => "returned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            TrackingStatus::Created => "已下单",
            TrackingStatus::Collected => "已揽收",
            TrackingStatus::InTransit => "运输中",
            TrackingStatus::OutForDelivery => "派送中",
            TrackingStatus::Delivered => "已妥投",
            TrackingStatus::DeliveryFailed => "投递失败",
            TrackingStatus::Returned => "已退回",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            TrackingStatus::Created => "Order placed",
            TrackingStatus::Collected => "Collected",
            TrackingStatus::InTransit => "In transit",
            TrackingStatus::OutForDelivery => "Out for delivery",
            TrackingStatus::Delivered => "Delivered",
            TrackingStatus::DeliveryFailed => "Delivery failed",
            TrackingStatus::Returned => "Returned to sender",
        }
    }

    /// Progress order. A shipment's status moves to a higher rank, or to an equal rank by a later event (a failed
    /// attempt and the next "out for delivery" alternate at the last mile), never back; the final statuses share
    /// the top rank and nothing moves them. "In transit" back to the sender after a failed delivery does not
    /// outrank the failure, so the shipment shows "delivery failed" until it is returned.
    pub fn rank(self) -> i64 {
        match self {
            TrackingStatus::Created => 0,
            TrackingStatus::Collected => 1,
            TrackingStatus::InTransit => 2,
            TrackingStatus::OutForDelivery | TrackingStatus::DeliveryFailed => 3,
            TrackingStatus::Delivered | TrackingStatus::Returned => FINAL_RANK,
        }
    }

    /// Delivered or returned: nothing more will happen, the shipment is no longer polled.
    pub fn is_final(self) -> bool {
        self.rank() == FINAL_RANK
    }
}

impl std::fmt::Display for TrackingStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const FINAL_RANK: i64 = 9;

/// A shipment to store. Recipient fields arrive encrypted (the store never sees them in clear).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShipment {
    /// The application id.
    pub reference: String,
    /// Carrier code, e.g. `ems`.
    pub carrier: String,
    pub tracking_no: String,
    pub name_enc: Vec<u8>,
    pub phone_enc: Vec<u8>,
    pub address_enc: Vec<u8>,
    pub name_masked: String,
    pub phone_masked: String,
    pub address_masked: String,
    /// 6-digit county code of the delivery address.
    pub division: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shipment {
    pub id: String,
    pub reference: String,
    pub carrier: String,
    pub tracking_no: String,
    pub status: TrackingStatus,
    /// Carrier time of the event that set `status` (the creation time until the first event).
    pub status_at: Millis,
    #[serde(skip)]
    pub name_enc: Vec<u8>,
    #[serde(skip)]
    pub phone_enc: Vec<u8>,
    #[serde(skip)]
    pub address_enc: Vec<u8>,
    pub name_masked: String,
    pub phone_masked: String,
    pub address_masked: String,
    pub division: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub last_polled_at: Millis,
}

/// A tracking event as the carrier reported it (pushed or polled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrackingEvent {
    /// The carrier's own id of the event: the same event pushed and polled has the same id.
    pub carrier_event_id: String,
    pub status: TrackingStatus,
    pub at: Millis,
    pub location: String,
    pub description: String,
    pub face_verified: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShipmentEvent {
    pub id: String,
    pub shipment_id: String,
    pub carrier: String,
    pub carrier_event_id: String,
    pub status: TrackingStatus,
    pub at: Millis,
    pub location: String,
    pub description: String,
    pub face_verified: Option<bool>,
    pub received_at: Millis,
    pub applied_at: Option<Millis>,
    /// Set on events handed out by [`ShipmentStore::unapplied_shipment_events`]: the shipment's application id,
    /// so the consumer needs no second look-up.
    pub reference: Option<String>,
}

#[async_trait]
pub trait ShipmentStore: Send + Sync {
    /// Stores a shipment unless one exists for its reference; returns the stored one and whether it is new.
    /// `Conflict("tracking_no_taken")` if another reference already has this tracking number.
    async fn create_shipment(&self, s: &NewShipment, now: Millis) -> Result<(Shipment, bool)>;
    async fn shipment(&self, id: &str) -> Result<Option<Shipment>>;
    async fn shipment_by_tracking_no(&self, tracking_no: &str) -> Result<Option<Shipment>>;
    /// The shipment of an application, if it was dispatched by courier.
    async fn shipment_for(&self, reference: &str) -> Result<Option<Shipment>>;
    /// A shipment's events in carrier time order (the timeline).
    async fn shipment_events(&self, shipment_id: &str) -> Result<Vec<ShipmentEvent>>;
    /// Stores the events not seen before (by carrier event id) and moves the shipment's status forward to the
    /// most advanced of them, in one transaction. Returns the events that were new, in the order given.
    async fn record_tracking_events(&self, shipment_id: &str, events: &[NewTrackingEvent], now: Millis) -> Result<Vec<ShipmentEvent>>;
    /// Claims up to `limit` shipments that are not final and were last polled before `older_than`, by setting
    /// their `last_polled_at` to `now` (one conditional statement: two instances never get the same shipment in
    /// one round). Least recently polled first.
    async fn shipments_to_poll(&self, older_than: Millis, now: Millis, limit: u32) -> Result<Vec<Shipment>>;
    /// Hands out up to `limit` events not yet applied by the application layer, leased until `lease_until`: only
    /// the earliest unapplied event of each shipment (so a shipment's events are applied in carrier time order),
    /// never one another consumer holds under a live lease. An event whose consumer died before marking it
    /// applied is handed out again once the lease expires, so applying must be idempotent.
    async fn unapplied_shipment_events(&self, limit: u32, now: Millis, lease_until: Millis) -> Result<Vec<ShipmentEvent>>;
    /// Retires an event from the outbox; `false` when it was applied already (or does not exist).
    async fn mark_shipment_event_applied(&self, id: &str, now: Millis) -> Result<bool>;
}

const SHIPMENT_COLS: &str = "id, reference, carrier, tracking_no, status, status_at, name_enc, phone_enc, address_enc, \
     name_masked, phone_masked, address_masked, division, created_at, updated_at, last_polled_at";
const EVENT_COLS: &str = "id, shipment_id, carrier, carrier_event_id, status, at, location, description, face_verified, received_at, applied_at";

/// Unapplied events no live lease holds, and with no earlier unapplied event of the same shipment ($1 = now).
const CLAIMABLE: &str = "e.applied_at IS NULL AND (e.lease_until IS NULL OR e.lease_until < $1) \
     AND NOT EXISTS (SELECT 1 FROM shipment_events p WHERE p.shipment_id = e.shipment_id AND p.applied_at IS NULL \
     AND (p.at < e.at OR (p.at = e.at AND p.id < e.id)))";

macro_rules! sql_shipments {
    ($store:ident, $row:ty, $lock:literal) => {
        impl $store {
            fn shipment_row(r: &$row) -> Result<Shipment> {
                Ok(Shipment {
                    id: r.try_get("id")?,
                    reference: r.try_get("reference")?,
                    carrier: r.try_get("carrier")?,
                    tracking_no: r.try_get("tracking_no")?,
                    status: enum_col(r.try_get("status")?, TrackingStatus::parse)?,
                    status_at: r.try_get("status_at")?,
                    name_enc: r.try_get("name_enc")?,
                    phone_enc: r.try_get("phone_enc")?,
                    address_enc: r.try_get("address_enc")?,
                    name_masked: r.try_get("name_masked")?,
                    phone_masked: r.try_get("phone_masked")?,
                    address_masked: r.try_get("address_masked")?,
                    division: r.try_get("division")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                    last_polled_at: r.try_get("last_polled_at")?,
                })
            }

            fn shipment_event_row(r: &$row) -> Result<ShipmentEvent> {
                Ok(ShipmentEvent {
                    id: r.try_get("id")?,
                    shipment_id: r.try_get("shipment_id")?,
                    carrier: r.try_get("carrier")?,
                    carrier_event_id: r.try_get("carrier_event_id")?,
                    status: enum_col(r.try_get("status")?, TrackingStatus::parse)?,
                    at: r.try_get("at")?,
                    location: r.try_get("location")?,
                    description: r.try_get("description")?,
                    face_verified: r.try_get::<Option<i64>, _>("face_verified")?.map(|v| v != 0),
                    received_at: r.try_get("received_at")?,
                    applied_at: r.try_get("applied_at")?,
                    reference: None,
                })
            }
        }

        #[async_trait]
        impl ShipmentStore for $store {
            async fn create_shipment(&self, s: &NewShipment, now: Millis) -> Result<(Shipment, bool)> {
                let id = new_id();
                let inserted = sqlx::query(&format!(
                    "INSERT INTO shipments ({SHIPMENT_COLS}, status_rank) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $6, $6, $6, $14) \
                     ON CONFLICT (reference) DO NOTHING"
                ))
                .bind(&id)
                .bind(&s.reference)
                .bind(&s.carrier)
                .bind(&s.tracking_no)
                .bind(TrackingStatus::Created.as_str())
                .bind(now)
                .bind(&s.name_enc)
                .bind(&s.phone_enc)
                .bind(&s.address_enc)
                .bind(&s.name_masked)
                .bind(&s.phone_masked)
                .bind(&s.address_masked)
                .bind(&s.division)
                .bind(TrackingStatus::Created.rank())
                .execute(&self.write)
                .await;
                let created = match inserted {
                    Ok(r) => r.rows_affected() == 1,
                    // PostgreSQL arbitrates ON CONFLICT on `reference` only: a concurrent insert of the same shipment
                    // can trip the tracking-number index first. The same reference with the same number is the same
                    // shipment; a number held by another reference is a real conflict.
                    Err(e) if unique_violation(&e) => {
                        let row = sqlx::query(&format!("SELECT {SHIPMENT_COLS} FROM shipments WHERE reference = $1"))
                            .bind(&s.reference)
                            .fetch_optional(&self.write)
                            .await?;
                        return match row.as_ref().map(Self::shipment_row).transpose()? {
                            Some(existing) if existing.tracking_no == s.tracking_no => Ok((existing, false)),
                            _ => Err(StoreError::Conflict("tracking_no_taken")),
                        };
                    }
                    Err(e) => return Err(e.into()),
                };
                // Read back on the writer: the row may have been inserted an instant ago by another instance.
                let row = sqlx::query(&format!("SELECT {SHIPMENT_COLS} FROM shipments WHERE reference = $1"))
                    .bind(&s.reference)
                    .fetch_one(&self.write)
                    .await?;
                Ok((Self::shipment_row(&row)?, created))
            }

            async fn shipment(&self, id: &str) -> Result<Option<Shipment>> {
                let row = sqlx::query(&format!("SELECT {SHIPMENT_COLS} FROM shipments WHERE id = $1")).bind(id).fetch_optional(&self.read).await?;
                row.as_ref().map(Self::shipment_row).transpose()
            }

            async fn shipment_by_tracking_no(&self, tracking_no: &str) -> Result<Option<Shipment>> {
                let row = sqlx::query(&format!("SELECT {SHIPMENT_COLS} FROM shipments WHERE tracking_no = $1"))
                    .bind(tracking_no)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::shipment_row).transpose()
            }

            async fn shipment_for(&self, reference: &str) -> Result<Option<Shipment>> {
                let row = sqlx::query(&format!("SELECT {SHIPMENT_COLS} FROM shipments WHERE reference = $1"))
                    .bind(reference)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::shipment_row).transpose()
            }

            async fn shipment_events(&self, shipment_id: &str) -> Result<Vec<ShipmentEvent>> {
                let rows = sqlx::query(&format!("SELECT {EVENT_COLS} FROM shipment_events WHERE shipment_id = $1 ORDER BY at, id"))
                    .bind(shipment_id)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::shipment_event_row).collect()
            }

            async fn record_tracking_events(&self, shipment_id: &str, events: &[NewTrackingEvent], now: Millis) -> Result<Vec<ShipmentEvent>> {
                if events.is_empty() {
                    return Ok(Vec::new());
                }
                let pool = self.write.clone();
                let (shipment_id, events) = (shipment_id.to_string(), events.to_vec());
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let carrier: Option<String> = sqlx::query("SELECT carrier FROM shipments WHERE id = $1")
                        .bind(&shipment_id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|r| r.try_get("carrier"))
                        .transpose()?;
                    let Some(carrier) = carrier else { return Err(StoreError::NotFound) };
                    // Inserted in carrier-id order, so two transactions recording overlapping batches (a push and a
                    // poll) take the unique-index locks in the same order and cannot deadlock; reported in the order given.
                    let mut order: Vec<usize> = (0..events.len()).collect();
                    order.sort_by(|a, b| events[*a].carrier_event_id.cmp(&events[*b].carrier_event_id));
                    let mut fresh_at: Vec<Option<ShipmentEvent>> = vec![None; events.len()];
                    for i in order {
                        let e = &events[i];
                        let row = sqlx::query(&format!(
                            "INSERT INTO shipment_events ({EVENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL) \
                             ON CONFLICT (carrier, carrier_event_id) DO NOTHING RETURNING {EVENT_COLS}"
                        ))
                        .bind(new_id())
                        .bind(&shipment_id)
                        .bind(&carrier)
                        .bind(&e.carrier_event_id)
                        .bind(e.status.as_str())
                        .bind(e.at)
                        .bind(&e.location)
                        .bind(&e.description)
                        .bind(e.face_verified.map(i64::from))
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if let Some(row) = row {
                            fresh_at[i] = Some(Self::shipment_event_row(&row)?);
                        }
                    }
                    let fresh: Vec<ShipmentEvent> = fresh_at.into_iter().flatten().collect();
                    // The most advanced new event (rank, then carrier time, then arrival order) is the candidate;
                    // the UPDATE's condition decides against whatever the shipment holds now.
                    if let Some(best) = fresh.iter().enumerate().max_by_key(|(i, e)| (e.status.rank(), e.at, *i)).map(|(_, e)| e) {
                        sqlx::query(
                            "UPDATE shipments SET status = $1, status_rank = $2, status_at = $3, updated_at = $4 \
                             WHERE id = $5 AND (status_rank < $2 OR (status_rank = $2 AND status_rank < $6 AND status_at <= $3))",
                        )
                        .bind(best.status.as_str())
                        .bind(best.status.rank())
                        .bind(best.at)
                        .bind(now)
                        .bind(&shipment_id)
                        .bind(FINAL_RANK)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(fresh)
                })
                .await
            }

            async fn shipments_to_poll(&self, older_than: Millis, now: Millis, limit: u32) -> Result<Vec<Shipment>> {
                let rows = sqlx::query(&format!(
                    "UPDATE shipments SET last_polled_at = $1 WHERE id IN (SELECT id FROM shipments \
                     WHERE status_rank < $4 AND last_polled_at < $2 ORDER BY last_polled_at LIMIT $3 {lock}) \
                     AND last_polled_at < $2 RETURNING {SHIPMENT_COLS}",
                    lock = $lock
                ))
                .bind(now)
                .bind(older_than)
                .bind(i64::from(limit))
                .bind(FINAL_RANK)
                .fetch_all(&self.write)
                .await?;
                let mut out = rows.iter().map(Self::shipment_row).collect::<Result<Vec<_>>>()?;
                out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
                Ok(out)
            }

            async fn unapplied_shipment_events(&self, limit: u32, now: Millis, lease_until: Millis) -> Result<Vec<ShipmentEvent>> {
                let returning = EVENT_COLS.split(", ").map(|c| format!("shipment_events.{c}")).collect::<Vec<_>>().join(", ");
                let rows = sqlx::query(&format!(
                    "UPDATE shipment_events SET lease_until = $2 WHERE id IN (SELECT e.id FROM shipment_events e WHERE {CLAIMABLE} \
                     ORDER BY e.at, e.id LIMIT $3 {lock}) AND applied_at IS NULL AND (lease_until IS NULL OR lease_until < $1) \
                     RETURNING {returning}, (SELECT s.reference FROM shipments s WHERE s.id = shipment_events.shipment_id) AS reference",
                    lock = $lock
                ))
                .bind(now)
                .bind(lease_until)
                .bind(i64::from(limit))
                .fetch_all(&self.write)
                .await?;
                let mut out = rows
                    .iter()
                    .map(|r| Ok(ShipmentEvent { reference: r.try_get("reference")?, ..Self::shipment_event_row(r)? }))
                    .collect::<Result<Vec<_>>>()?;
                out.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
                Ok(out)
            }

            async fn mark_shipment_event_applied(&self, id: &str, now: Millis) -> Result<bool> {
                let r = sqlx::query("UPDATE shipment_events SET applied_at = $1, lease_until = NULL WHERE id = $2 AND applied_at IS NULL")
                    .bind(now)
                    .bind(id)
                    .execute(&self.write)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
        }
    };
}

// SQLite has one writer, so each UPDATE's own subquery is already exclusive.
sql_shipments!(SqliteStore, SqliteRow, "");
// PostgreSQL: lock the candidates and skip rows another instance holds, so concurrent claimers split the work.
sql_shipments!(PgStore, PgRow, "FOR UPDATE SKIP LOCKED");
