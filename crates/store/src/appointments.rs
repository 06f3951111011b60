//! Storage for smart appointments: point settings and status, per-day exceptions, slots, bookings and the counter
//! queue. Same approach as the rest of the store: SQL written once, expanded per backend by a macro, and every
//! rule that must hold across instances enforced by one conditional statement inside a transaction.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::model::*;
use crate::{PgStore, Result, SqliteStore, StoreError, detached, enum_col, new_id, unique_violation};

#[async_trait]
pub trait AppointmentStore: Send + Sync {
    /// Replaces a point's editable settings (not its status).
    async fn update_point(&self, point: &AcceptancePoint) -> Result<()>;
    async fn set_point_status(&self, point_id: &str, status: PointStatus, reason: &str, until: Option<Millis>, now: Millis) -> Result<()>;
    async fn put_exception(&self, exception: &PointException, now: Millis) -> Result<()>;
    async fn delete_exception(&self, point_id: &str, day: &str) -> Result<()>;
    async fn exceptions(&self, point_id: &str, from_day: &str, to_day: &str) -> Result<Vec<PointException>>;

    /// Creates the slots that do not exist yet (existing ones, and their bookings, are left alone).
    async fn ensure_slots(&self, slots: &[NewSlot]) -> Result<u64>;
    /// Sets the capacity of a point's slots on one day, never below what is already booked.
    async fn set_day_capacity(&self, point_id: &str, day: &str, capacity: i64) -> Result<u64>;
    /// Sets each slot's capacity, never below what is already booked (one conditional UPDATE per slot, in one
    /// transaction). Capacity 0 withdraws an unbooked slot that the point's new hours no longer offer.
    async fn set_slot_capacities(&self, capacities: &[(String, i64)]) -> Result<u64>;
    /// Cancels every still-booked appointment of a point on a day the office closes, freeing their seats, in one
    /// transaction; returns them so their holders can be told. Not counted against the citizens' monthly limits.
    async fn cancel_for_closure(&self, point_id: &str, day: &str, now: Millis) -> Result<Vec<Appointment>>;
    async fn slot(&self, id: &str) -> Result<Option<Slot>>;
    async fn slots(&self, point_id: &str, from_day: &str, to_day: &str) -> Result<Vec<Slot>>;
    /// Booked and capacity per point for each day in the range.
    async fn day_loads(&self, from_day: &str, to_day: &str) -> Result<Vec<DayLoad>>;

    /// Books a seat. Errors: `Conflict("slot_full")`, `Conflict("slot_past")`, `Conflict("already_booked")`,
    /// `Conflict("booking_suspended")`, `NotFound` (no such slot). Nothing is written on error.
    async fn book(&self, req: &NewAppointment) -> Result<Appointment>;
    /// Moves a booked appointment to another slot atomically (seat taken before the old one is released).
    async fn reschedule(&self, appointment_id: &str, citizen_id: &str, new_slot_id: &str, now: Millis) -> Result<Appointment>;
    /// Cancels a booked appointment of this citizen, frees the seat and counts the cancellation in `month`.
    async fn cancel_appointment(&self, appointment_id: &str, citizen_id: &str, month: &str, now: Millis) -> Result<Appointment>;
    async fn appointment(&self, id: &str) -> Result<Option<Appointment>>;
    async fn appointments_of(&self, citizen_id: &str) -> Result<Vec<Appointment>>;
    async fn appointments_on(&self, point_id: &str, day: &str) -> Result<Vec<Appointment>>;
    async fn cancellations_in(&self, citizen_id: &str, month: &str) -> Result<i64>;

    /// Checks an appointment in at its point and gives it a queue ticket. `Conflict("invalid_check_in")` when the
    /// code is unknown, for another point or day, or already used.
    async fn check_in(&self, point_id: &str, day: &str, code: &str, now: Millis) -> Result<Ticket>;
    async fn walk_in_ticket(&self, point_id: &str, day: &str, now: Millis) -> Result<Ticket>;
    async fn tickets(&self, point_id: &str, day: &str) -> Result<Vec<Ticket>>;
    /// Marks a waiting ticket called; `Conflict("ticket_taken")` if another window called it first.
    async fn call_ticket(&self, ticket_id: &str, window_no: i64, now: Millis) -> Result<Ticket>;
    /// Finishes a called ticket (served or skipped); a served appointment ticket completes its appointment.
    async fn finish_ticket(&self, ticket_id: &str, status: TicketStatus, now: Millis) -> Result<Ticket>;
    /// Waiting tickets per point today.
    async fn waiting_counts(&self, day: &str) -> Result<Vec<(String, i64)>>;

    /// Booked appointments on `day` whose reminder has not gone out yet.
    async fn due_reminders(&self, day: &str) -> Result<Vec<Appointment>>;
    /// Claims the reminder of one appointment; `true` for exactly one caller across instances.
    async fn claim_reminder(&self, appointment_id: &str, now: Millis) -> Result<bool>;
    /// Marks booked appointments whose slot ended more than `grace_ms` ago as no-shows, counting each in its
    /// citizen's monthly counter for `month`. Returns the appointments marked.
    async fn mark_no_shows(&self, now: Millis, grace_ms: i64, month: &str) -> Result<Vec<Appointment>>;
}

const SLOT_COLS: &str = "id, point_id, day, start_min, end_min, starts_at, capacity, booked";
const APPT_COLS: &str = "id, code, citizen_id, point_id, slot_id, service, status, created_at, updated_at";
const TICKET_COLS: &str = "id, point_id, day, kind, number, appointment_id, status, window_no, created_at, called_at";

/// An 8-character appointment code from an alphabet without look-alikes (no 0/O, 1/I/L).
pub fn appointment_code() -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let raw = uuid::Uuid::new_v4();
    raw.as_bytes().iter().take(8).map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char).collect()
}

macro_rules! sql_appointments {
    ($store:ident, $row:ty) => {
        impl $store {
            fn slot_row(r: &$row) -> Result<Slot> {
                Ok(Slot {
                    id: r.try_get("id")?,
                    point_id: r.try_get("point_id")?,
                    day: r.try_get("day")?,
                    start_min: r.try_get("start_min")?,
                    end_min: r.try_get("end_min")?,
                    starts_at: r.try_get("starts_at")?,
                    capacity: r.try_get("capacity")?,
                    booked: r.try_get("booked")?,
                })
            }

            fn appt_row(r: &$row) -> Result<Appointment> {
                Ok(Appointment {
                    id: r.try_get("id")?,
                    code: r.try_get("code")?,
                    citizen_id: r.try_get("citizen_id")?,
                    point_id: r.try_get("point_id")?,
                    slot_id: r.try_get("slot_id")?,
                    service: r.try_get("service")?,
                    status: enum_col(r.try_get("status")?, AppointmentStatus::parse)?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            }

            fn ticket_row(r: &$row) -> Result<Ticket> {
                Ok(Ticket {
                    id: r.try_get("id")?,
                    point_id: r.try_get("point_id")?,
                    day: r.try_get("day")?,
                    kind: enum_col(r.try_get("kind")?, TicketKind::parse)?,
                    number: r.try_get("number")?,
                    appointment_id: r.try_get("appointment_id")?,
                    status: enum_col(r.try_get("status")?, TicketStatus::parse)?,
                    window_no: r.try_get("window_no")?,
                    created_at: r.try_get("created_at")?,
                    called_at: r.try_get("called_at")?,
                })
            }
        }

        #[async_trait]
        impl AppointmentStore for $store {
            async fn update_point(&self, p: &AcceptancePoint) -> Result<()> {
                let r = sqlx::query(
                    "UPDATE acceptance_points SET name = $1, address = $2, phone = $3, lat_gcj02 = $4, lng_gcj02 = $5, \
                     opening_hours = $6, services = $7, windows = $8, slot_minutes = $9, capacity_per_slot = $10 WHERE id = $11",
                )
                .bind(&p.name)
                .bind(&p.address)
                .bind(&p.phone)
                .bind(p.lat_gcj02)
                .bind(p.lng_gcj02)
                .bind(&p.opening_hours)
                .bind(&p.services)
                .bind(p.windows)
                .bind(p.slot_minutes)
                .bind(p.capacity_per_slot)
                .bind(&p.id)
                .execute(&self.write)
                .await?;
                if r.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            }

            async fn set_point_status(&self, point_id: &str, status: PointStatus, reason: &str, until: Option<Millis>, now: Millis) -> Result<()> {
                let r = sqlx::query(
                    "UPDATE acceptance_points SET status = $1, status_reason = $2, status_until = $3, status_changed_at = $4 WHERE id = $5",
                )
                .bind(status.as_str())
                .bind(reason)
                .bind(until)
                .bind(now)
                .bind(point_id)
                .execute(&self.write)
                .await?;
                if r.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            }

            async fn put_exception(&self, e: &PointException, now: Millis) -> Result<()> {
                sqlx::query(
                    "INSERT INTO point_exceptions (point_id, day, kind, value, created_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (point_id, day) DO UPDATE SET kind = excluded.kind, value = excluded.value, created_at = excluded.created_at",
                )
                .bind(&e.point_id)
                .bind(&e.day)
                .bind(e.kind.as_str())
                .bind(&e.value)
                .bind(now)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn delete_exception(&self, point_id: &str, day: &str) -> Result<()> {
                sqlx::query("DELETE FROM point_exceptions WHERE point_id = $1 AND day = $2").bind(point_id).bind(day).execute(&self.write).await?;
                Ok(())
            }

            async fn exceptions(&self, point_id: &str, from_day: &str, to_day: &str) -> Result<Vec<PointException>> {
                let rows = sqlx::query("SELECT point_id, day, kind, value FROM point_exceptions WHERE point_id = $1 AND day >= $2 AND day <= $3 ORDER BY day")
                    .bind(point_id)
                    .bind(from_day)
                    .bind(to_day)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(PointException {
                            point_id: r.try_get("point_id")?,
                            day: r.try_get("day")?,
                            kind: enum_col(r.try_get("kind")?, ExceptionKind::parse)?,
                            value: r.try_get("value")?,
                        })
                    })
                    .collect()
            }

            async fn ensure_slots(&self, slots: &[NewSlot]) -> Result<u64> {
                let pool = self.write.clone();
                let slots = slots.to_vec();
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let mut created = 0;
                    for s in &slots {
                        let r = sqlx::query(&format!(
                            "INSERT INTO slots ({SLOT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 0) ON CONFLICT (point_id, day, start_min) DO NOTHING"
                        ))
                        .bind(new_id())
                        .bind(&s.point_id)
                        .bind(&s.day)
                        .bind(s.start_min)
                        .bind(s.end_min)
                        .bind(s.starts_at)
                        .bind(s.capacity)
                        .execute(&mut *tx)
                        .await?;
                        created += r.rows_affected();
                    }
                    tx.commit().await?;
                    Ok(created)
                })
                .await
            }

            async fn set_day_capacity(&self, point_id: &str, day: &str, capacity: i64) -> Result<u64> {
                let r = sqlx::query("UPDATE slots SET capacity = CASE WHEN booked > $1 THEN booked ELSE $1 END WHERE point_id = $2 AND day = $3")
                    .bind(capacity)
                    .bind(point_id)
                    .bind(day)
                    .execute(&self.write)
                    .await?;
                Ok(r.rows_affected())
            }

            async fn set_slot_capacities(&self, capacities: &[(String, i64)]) -> Result<u64> {
                let pool = self.write.clone();
                let capacities = capacities.to_vec();
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let mut changed = 0;
                    for (id, capacity) in &capacities {
                        let r = sqlx::query("UPDATE slots SET capacity = CASE WHEN booked > $1 THEN booked ELSE $1 END WHERE id = $2 AND capacity <> CASE WHEN booked > $1 THEN booked ELSE $1 END")
                            .bind(capacity)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        changed += r.rows_affected();
                    }
                    tx.commit().await?;
                    Ok(changed)
                })
                .await
            }

            async fn cancel_for_closure(&self, point_id: &str, day: &str, now: Millis) -> Result<Vec<Appointment>> {
                let pool = self.write.clone();
                let (point_id, day) = (point_id.to_string(), day.to_string());
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let rows = sqlx::query(&format!(
                        "UPDATE appointments SET status = 'cancelled', updated_at = $1 WHERE status = 'booked' AND slot_id IN \
                         (SELECT id FROM slots WHERE point_id = $2 AND day = $3) RETURNING {APPT_COLS}"
                    ))
                    .bind(now)
                    .bind(&point_id)
                    .bind(&day)
                    .fetch_all(&mut *tx)
                    .await?;
                    let cancelled = rows.iter().map(Self::appt_row).collect::<Result<Vec<_>>>()?;
                    for a in &cancelled {
                        sqlx::query("UPDATE slots SET booked = booked - 1 WHERE id = $1 AND booked > 0").bind(&a.slot_id).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(cancelled)
                })
                .await
            }

            async fn slot(&self, id: &str) -> Result<Option<Slot>> {
                let row = sqlx::query(&format!("SELECT {SLOT_COLS} FROM slots WHERE id = $1")).bind(id).fetch_optional(&self.read).await?;
                row.as_ref().map(Self::slot_row).transpose()
            }

            async fn slots(&self, point_id: &str, from_day: &str, to_day: &str) -> Result<Vec<Slot>> {
                let rows = sqlx::query(&format!(
                    "SELECT {SLOT_COLS} FROM slots WHERE point_id = $1 AND day >= $2 AND day <= $3 ORDER BY day, start_min"
                ))
                .bind(point_id)
                .bind(from_day)
                .bind(to_day)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::slot_row).collect()
            }

            async fn day_loads(&self, from_day: &str, to_day: &str) -> Result<Vec<DayLoad>> {
                let rows = sqlx::query(
                    "SELECT point_id, day, CAST(SUM(booked) AS BIGINT) AS booked, CAST(SUM(capacity) AS BIGINT) AS capacity FROM slots \
                     WHERE day >= $1 AND day <= $2 GROUP BY point_id, day ORDER BY point_id, day",
                )
                .bind(from_day)
                .bind(to_day)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(DayLoad {
                            point_id: r.try_get("point_id")?,
                            day: r.try_get("day")?,
                            booked: r.try_get("booked")?,
                            capacity: r.try_get("capacity")?,
                        })
                    })
                    .collect()
            }

            async fn book(&self, req: &NewAppointment) -> Result<Appointment> {
                let pool = self.write.clone();
                let req = req.clone();
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let counters = sqlx::query("SELECT cancellations, no_shows FROM booking_counters WHERE citizen_id = $1 AND month = $2")
                        .bind(&req.citizen_id)
                        .bind(&req.month)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some(c) = counters {
                        let (cancelled, no_shows): (i64, i64) = (c.try_get("cancellations")?, c.try_get("no_shows")?);
                        if cancelled >= req.max_cancellations_per_month || no_shows >= req.max_no_shows_per_month {
                            return Err(StoreError::Conflict("booking_suspended"));
                        }
                    }
                    let point_id = Self::take_seat(&mut tx, &req.slot_id, req.now).await?;
                    let appt = Appointment {
                        id: new_id(),
                        code: appointment_code(),
                        citizen_id: req.citizen_id.clone(),
                        point_id,
                        slot_id: req.slot_id.clone(),
                        service: req.service.clone(),
                        status: AppointmentStatus::Booked,
                        created_at: req.now,
                        updated_at: req.now,
                    };
                    let inserted = sqlx::query(&format!("INSERT INTO appointments ({APPT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
                        .bind(&appt.id)
                        .bind(&appt.code)
                        .bind(&appt.citizen_id)
                        .bind(&appt.point_id)
                        .bind(&appt.slot_id)
                        .bind(&appt.service)
                        .bind(appt.status.as_str())
                        .bind(appt.created_at)
                        .bind(appt.updated_at)
                        .execute(&mut *tx)
                        .await;
                    match inserted {
                        Ok(_) => {}
                        // Dropping the transaction rolls the seat back.
                        Err(e) if unique_violation(&e) => return Err(StoreError::Conflict("already_booked")),
                        Err(e) => return Err(e.into()),
                    }
                    tx.commit().await?;
                    Ok(appt)
                })
                .await
            }

            async fn reschedule(&self, appointment_id: &str, citizen_id: &str, new_slot_id: &str, now: Millis) -> Result<Appointment> {
                let pool = self.write.clone();
                let (appointment_id, citizen_id, new_slot_id) = (appointment_id.to_string(), citizen_id.to_string(), new_slot_id.to_string());
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let current = sqlx::query("SELECT slot_id FROM appointments WHERE id = $1 AND citizen_id = $2 AND status = 'booked'")
                        .bind(&appointment_id)
                        .bind(&citizen_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(current) = current else { return Err(StoreError::NotFound) };
                    let old_slot: String = current.try_get("slot_id")?;
                    if old_slot == new_slot_id {
                        return Err(StoreError::Conflict("same_slot"));
                    }
                    let point_id = Self::take_seat(&mut tx, &new_slot_id, now).await?;
                    sqlx::query("UPDATE slots SET booked = booked - 1 WHERE id = $1 AND booked > 0").bind(&old_slot).execute(&mut *tx).await?;
                    let row = sqlx::query(&format!(
                        "UPDATE appointments SET slot_id = $1, point_id = $2, updated_at = $3 WHERE id = $4 AND status = 'booked' RETURNING {APPT_COLS}"
                    ))
                    .bind(&new_slot_id)
                    .bind(&point_id)
                    .bind(now)
                    .bind(&appointment_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    let appt = Self::appt_row(&row)?;
                    tx.commit().await?;
                    Ok(appt)
                })
                .await
            }

            async fn cancel_appointment(&self, appointment_id: &str, citizen_id: &str, month: &str, now: Millis) -> Result<Appointment> {
                let pool = self.write.clone();
                let (appointment_id, citizen_id, month) = (appointment_id.to_string(), citizen_id.to_string(), month.to_string());
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let row = sqlx::query(&format!(
                        "UPDATE appointments SET status = 'cancelled', updated_at = $1 WHERE id = $2 AND citizen_id = $3 AND status = 'booked' RETURNING {APPT_COLS}"
                    ))
                    .bind(now)
                    .bind(&appointment_id)
                    .bind(&citizen_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else { return Err(StoreError::NotFound) };
                    let appt = Self::appt_row(&row)?;
                    sqlx::query("UPDATE slots SET booked = booked - 1 WHERE id = $1 AND booked > 0").bind(&appt.slot_id).execute(&mut *tx).await?;
                    sqlx::query(
                        "INSERT INTO booking_counters (citizen_id, month, cancellations, no_shows) VALUES ($1, $2, 1, 0) \
                         ON CONFLICT (citizen_id, month) DO UPDATE SET cancellations = booking_counters.cancellations + 1",
                    )
                    .bind(&citizen_id)
                    .bind(&month)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(appt)
                })
                .await
            }

            async fn appointment(&self, id: &str) -> Result<Option<Appointment>> {
                let row = sqlx::query(&format!("SELECT {APPT_COLS} FROM appointments WHERE id = $1")).bind(id).fetch_optional(&self.read).await?;
                row.as_ref().map(Self::appt_row).transpose()
            }

            async fn appointments_of(&self, citizen_id: &str) -> Result<Vec<Appointment>> {
                let rows = sqlx::query(&format!("SELECT {APPT_COLS} FROM appointments WHERE citizen_id = $1 ORDER BY created_at DESC"))
                    .bind(citizen_id)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::appt_row).collect()
            }

            async fn appointments_on(&self, point_id: &str, day: &str) -> Result<Vec<Appointment>> {
                let rows = sqlx::query(&format!(
                    "SELECT a.id, a.code, a.citizen_id, a.point_id, a.slot_id, a.service, a.status, a.created_at, a.updated_at \
                     FROM appointments a JOIN slots s ON s.id = a.slot_id WHERE a.point_id = $1 AND s.day = $2 ORDER BY s.start_min, a.created_at"
                ))
                .bind(point_id)
                .bind(day)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::appt_row).collect()
            }

            async fn cancellations_in(&self, citizen_id: &str, month: &str) -> Result<i64> {
                let row = sqlx::query("SELECT cancellations FROM booking_counters WHERE citizen_id = $1 AND month = $2")
                    .bind(citizen_id)
                    .bind(month)
                    .fetch_optional(&self.read)
                    .await?;
                Ok(row.map(|r| r.try_get("cancellations")).transpose()?.unwrap_or(0))
            }

            async fn check_in(&self, point_id: &str, day: &str, code: &str, now: Millis) -> Result<Ticket> {
                let pool = self.write.clone();
                let (point_id, day, code) = (point_id.to_string(), day.to_string(), code.to_string());
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let row = sqlx::query(
                        "UPDATE appointments SET status = 'checked_in', updated_at = $1 WHERE code = $2 AND point_id = $3 AND status = 'booked' \
                         AND slot_id IN (SELECT id FROM slots WHERE day = $4) RETURNING id",
                    )
                    .bind(now)
                    .bind(&code)
                    .bind(&point_id)
                    .bind(&day)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else { return Err(StoreError::Conflict("invalid_check_in")) };
                    let appointment_id: String = row.try_get("id")?;
                    let ticket = Self::new_ticket(&mut tx, &point_id, &day, TicketKind::Appointment, Some(appointment_id), now).await?;
                    tx.commit().await?;
                    Ok(ticket)
                })
                .await
            }

            async fn walk_in_ticket(&self, point_id: &str, day: &str, now: Millis) -> Result<Ticket> {
                let pool = self.write.clone();
                let (point_id, day) = (point_id.to_string(), day.to_string());
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let ticket = Self::new_ticket(&mut tx, &point_id, &day, TicketKind::WalkIn, None, now).await?;
                    tx.commit().await?;
                    Ok(ticket)
                })
                .await
            }

            async fn tickets(&self, point_id: &str, day: &str) -> Result<Vec<Ticket>> {
                let rows = sqlx::query(&format!("SELECT {TICKET_COLS} FROM queue_tickets WHERE point_id = $1 AND day = $2 ORDER BY created_at, number"))
                    .bind(point_id)
                    .bind(day)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::ticket_row).collect()
            }

            async fn call_ticket(&self, ticket_id: &str, window_no: i64, now: Millis) -> Result<Ticket> {
                let row = sqlx::query(&format!(
                    "UPDATE queue_tickets SET status = 'called', window_no = $1, called_at = $2 WHERE id = $3 AND status = 'waiting' RETURNING {TICKET_COLS}"
                ))
                .bind(window_no)
                .bind(now)
                .bind(ticket_id)
                .fetch_optional(&self.write)
                .await?;
                match row {
                    Some(r) => Self::ticket_row(&r),
                    None => Err(StoreError::Conflict("ticket_taken")),
                }
            }

            async fn finish_ticket(&self, ticket_id: &str, status: TicketStatus, now: Millis) -> Result<Ticket> {
                let pool = self.write.clone();
                let ticket_id = ticket_id.to_string();
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let row = sqlx::query(&format!("UPDATE queue_tickets SET status = $1 WHERE id = $2 AND status = 'called' RETURNING {TICKET_COLS}"))
                        .bind(status.as_str())
                        .bind(&ticket_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else { return Err(StoreError::Conflict("ticket_not_called")) };
                    let ticket = Self::ticket_row(&row)?;
                    if let (Some(appt), TicketStatus::Served) = (&ticket.appointment_id, status) {
                        sqlx::query("UPDATE appointments SET status = 'completed', updated_at = $1 WHERE id = $2 AND status = 'checked_in'")
                            .bind(now)
                            .bind(appt)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(ticket)
                })
                .await
            }

            async fn due_reminders(&self, day: &str) -> Result<Vec<Appointment>> {
                let rows = sqlx::query(
                    "SELECT a.id, a.code, a.citizen_id, a.point_id, a.slot_id, a.service, a.status, a.created_at, a.updated_at \
                     FROM appointments a JOIN slots s ON s.id = a.slot_id \
                     WHERE s.day = $1 AND a.status = 'booked' AND a.reminded_at IS NULL ORDER BY s.start_min",
                )
                .bind(day)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::appt_row).collect()
            }

            async fn claim_reminder(&self, appointment_id: &str, now: Millis) -> Result<bool> {
                let r = sqlx::query("UPDATE appointments SET reminded_at = $1 WHERE id = $2 AND reminded_at IS NULL AND status = 'booked'")
                    .bind(now)
                    .bind(appointment_id)
                    .execute(&self.write)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn mark_no_shows(&self, now: Millis, grace_ms: i64, month: &str) -> Result<Vec<Appointment>> {
                let pool = self.write.clone();
                let month = month.to_string();
                detached(async move {
                    let mut tx = pool.begin().await?;
                    let rows = sqlx::query(&format!(
                        "UPDATE appointments SET status = 'no_show', updated_at = $1 WHERE status = 'booked' AND slot_id IN \
                         (SELECT id FROM slots WHERE starts_at + (end_min - start_min) * 60000 + $2 < $1) RETURNING {APPT_COLS}"
                    ))
                    .bind(now)
                    .bind(grace_ms)
                    .fetch_all(&mut *tx)
                    .await?;
                    let marked: Vec<Appointment> = rows.iter().map(Self::appt_row).collect::<Result<_>>()?;
                    for a in &marked {
                        sqlx::query(
                            "INSERT INTO booking_counters (citizen_id, month, cancellations, no_shows) VALUES ($1, $2, 0, 1) \
                             ON CONFLICT (citizen_id, month) DO UPDATE SET no_shows = booking_counters.no_shows + 1",
                        )
                        .bind(&a.citizen_id)
                        .bind(&month)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(marked)
                })
                .await
            }

            async fn waiting_counts(&self, day: &str) -> Result<Vec<(String, i64)>> {
                let rows = sqlx::query("SELECT point_id, COUNT(*) AS waiting FROM queue_tickets WHERE day = $1 AND status = 'waiting' GROUP BY point_id")
                    .bind(day)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(|r| Ok((r.try_get("point_id")?, r.try_get("waiting")?))).collect()
            }
        }

        impl $store {
            /// Takes one seat of a slot for the booking in `tx`; returns the slot's point. The capacity check and the
            /// seat are one statement (no read-then-write race); on refusal it says why: unknown, past or full.
            async fn take_seat(tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>, slot_id: &str, now: Millis) -> Result<String> {
                let seat = sqlx::query("UPDATE slots SET booked = booked + 1 WHERE id = $1 AND booked < capacity AND starts_at > $2 RETURNING point_id")
                    .bind(slot_id)
                    .bind(now)
                    .fetch_optional(&mut **tx)
                    .await?;
                if let Some(seat) = seat {
                    return Ok(seat.try_get("point_id")?);
                }
                let slot = sqlx::query("SELECT starts_at FROM slots WHERE id = $1").bind(slot_id).fetch_optional(&mut **tx).await?;
                Err(match slot {
                    None => StoreError::NotFound,
                    Some(r) if r.try_get::<i64, _>("starts_at")? <= now => StoreError::Conflict("slot_past"),
                    Some(_) => StoreError::Conflict("slot_full"),
                })
            }

            async fn new_ticket(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                point_id: &str,
                day: &str,
                kind: TicketKind,
                appointment_id: Option<String>,
                now: Millis,
            ) -> Result<Ticket> {
                // Numbers come from a per-point, per-day, per-kind counter row: unique across instances.
                let row = sqlx::query(
                    "INSERT INTO queue_counters (point_id, day, kind, last) VALUES ($1, $2, $3, 1) \
                     ON CONFLICT (point_id, day, kind) DO UPDATE SET last = queue_counters.last + 1 RETURNING last",
                )
                .bind(point_id)
                .bind(day)
                .bind(kind.as_str())
                .fetch_one(&mut **tx)
                .await?;
                let ticket = Ticket {
                    id: new_id(),
                    point_id: point_id.to_string(),
                    day: day.to_string(),
                    kind,
                    number: row.try_get("last")?,
                    appointment_id,
                    status: TicketStatus::Waiting,
                    window_no: None,
                    created_at: now,
                    called_at: None,
                };
                sqlx::query(&format!("INSERT INTO queue_tickets ({TICKET_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
                    .bind(&ticket.id)
                    .bind(&ticket.point_id)
                    .bind(&ticket.day)
                    .bind(ticket.kind.as_str())
                    .bind(ticket.number)
                    .bind(&ticket.appointment_id)
                    .bind(ticket.status.as_str())
                    .bind(ticket.window_no)
                    .bind(ticket.created_at)
                    .bind(ticket.called_at)
                    .execute(&mut **tx)
                    .await?;
                Ok(ticket)
            }
        }
    };
}

sql_appointments!(SqliteStore, SqliteRow);
sql_appointments!(PgStore, PgRow);
