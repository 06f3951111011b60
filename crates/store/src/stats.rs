//! Counting for the service statistics: each query groups one kind of fact by China-time day and by where it
//! happened (acceptance point, county-level district), so what leaves the database is a few rows per day and place
//! however many tickets, payments or applications lie behind them. What the counts mean, and how days roll up
//! into months, cities and shares, is `shenfen_domain::stats`.
//!
//! Where a fact happened: a ticket or an appointment at its point (the point's district); a payment at the counter
//! that took it, else at the district of the application it paid for; an application at its acceptance point, else
//! the applicant's registered district; an account at its holder's registered district, once verified.

use async_trait::async_trait;
use shenfen_domain::stats::{CST_OFFSET_MS, DAY_MS, date_of_day_number, day_number};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::{PgStore, Result, SqliteStore, StoreError};

/// What a [`StatRow`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatKind {
    /// Queue tickets of appointments (visits booked online).
    VisitBooked,
    /// Walk-in queue tickets.
    VisitWalkIn,
    /// Appointments made, on the day they were made.
    BookingMade,
    /// Successful payments (`channel` set; amounts in fen).
    Paid,
    /// First submissions of applications (`channel` and `delivery` set).
    Submitted,
    Approved,
    Rejected,
    /// Accounts created.
    Registered,
    /// Accounts verified (primary or above), on the day of verification.
    Verified,
}

impl StatKind {
    fn parse(s: &str) -> Option<StatKind> {
        Some(match s {
            "appointment" => StatKind::VisitBooked,
            "walk_in" => StatKind::VisitWalkIn,
            "booked" => StatKind::BookingMade,
            "paid" => StatKind::Paid,
            "submitted" => StatKind::Submitted,
            "approved" => StatKind::Approved,
            "rejected" => StatKind::Rejected,
            "registered" => StatKind::Registered,
            "verified" => StatKind::Verified,
            _ => return None,
        })
    }
}

/// `n` facts of one kind on one day at one place. Results come sorted by day, kind, point, district, channel and
/// delivery (absent before present), the same on both engines.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StatRow {
    /// China-time day number (days since 1970-01-01, `shenfen_domain::stats::day_number`).
    pub day: i64,
    pub kind: StatKind,
    pub point_id: Option<String>,
    /// County-level code of where it happened; `None` when unknown (e.g. an unverified account).
    pub district_code: Option<String>,
    /// Payment channel code, or application channel code.
    pub channel: Option<String>,
    /// Application delivery method code.
    pub delivery: Option<String>,
    pub n: i64,
    pub amount_fen: i64,
    pub refunded_fen: i64,
}

/// `n` applications submitted on one day whose card became available on another, at one place (sorted).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CycleRow {
    pub submitted_day: i64,
    pub available_day: i64,
    pub point_id: Option<String>,
    pub district_code: Option<String>,
    pub n: i64,
}

/// Accounts created before an instant, per registered district (sorted).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UserBase {
    pub district_code: Option<String>,
    pub registered: i64,
    pub verified: i64,
}

/// Which facts a query covers. `None` everywhere covers everything, including facts of no known place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsFilter {
    /// Facts whose district code starts with this (`"3401"` a city, `"340104"` a district).
    pub district_prefix: Option<String>,
    /// Facts at this acceptance point only.
    pub point_id: Option<String>,
}

impl StatsFilter {
    fn pattern(&self) -> Option<String> {
        self.district_prefix.as_ref().map(|p| format!("{}%", p.replace(['%', '_'], "")))
    }
}

/// The statistics queries. Day ranges are China-time day numbers, `from` inclusive and `to` exclusive.
#[async_trait]
pub trait StatsStore: Send + Sync {
    /// Visits (queue tickets by kind, on their day) and appointments made (on the day they were made).
    async fn visit_stats(&self, from_day: i64, to_day: i64, filter: &StatsFilter) -> Result<Vec<StatRow>>;
    /// Successful payments per channel, on the day they were paid.
    async fn fee_stats(&self, from_day: i64, to_day: i64, filter: &StatsFilter) -> Result<Vec<StatRow>>;
    /// First submissions per channel and delivery method, approvals and rejections, on the day they happened.
    async fn application_stats(&self, from_day: i64, to_day: i64, filter: &StatsFilter) -> Result<Vec<StatRow>>;
    /// Accounts created and verified (none at a point filter: accounts belong to no point).
    async fn user_stats(&self, from_day: i64, to_day: i64, filter: &StatsFilter) -> Result<Vec<StatRow>>;
    /// Accounts created (and verified) before `before_day`, per district: the base of cumulative totals.
    async fn users_before(&self, before_day: i64, filter: &StatsFilter) -> Result<Vec<UserBase>>;
    /// Applications whose card first became available in the range, by submission day and availability day.
    async fn cycle_stats(&self, from_day: i64, to_day: i64, filter: &StatsFilter) -> Result<Vec<CycleRow>>;
}

/// The day number expression, the same as `shenfen_domain::stats::day_number_of_ms`.
macro_rules! day_of {
    ($col:literal) => {
        concat!("((", $col, " + 28800000) / 86400000)")
    };
}

/// States in which the card is in its holder's reach (`ApplicationState::card_available`), inlined: fixed codes.
const CARD_AVAILABLE: &str = "'ready_for_pickup', 'delivered', 'collected', 'closed'";

fn ms_bounds(from_day: i64, to_day: i64) -> (i64, i64) {
    (from_day * DAY_MS - CST_OFFSET_MS, to_day * DAY_MS - CST_OFFSET_MS)
}

/// Engines order NULLs differently; results are sorted here instead.
fn sorted<T: Ord>(rows: Result<Vec<T>>) -> Result<Vec<T>> {
    rows.map(|mut v| {
        v.sort();
        v
    })
}

fn iso_day(day: i64) -> Result<String> {
    date_of_day_number(day)
        .map(shenfen_domain::timefmt::format_date)
        .ok_or_else(|| StoreError::Corrupt(format!("day number {day} out of range")))
}

macro_rules! sql_stats {
    ($store:ident, $row:ty) => {
        impl $store {
            fn stat_row(r: &$row, day: i64) -> Result<StatRow> {
                let kind: String = r.try_get("kind")?;
                Ok(StatRow {
                    day,
                    kind: StatKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("stat kind {kind:?}")))?,
                    point_id: r.try_get("point_id")?,
                    district_code: r.try_get("district_code")?,
                    channel: r.try_get("channel")?,
                    delivery: r.try_get("delivery")?,
                    n: r.try_get("n")?,
                    amount_fen: r.try_get::<Option<i64>, _>("amount_fen")?.unwrap_or(0),
                    refunded_fen: r.try_get::<Option<i64>, _>("refunded_fen")?.unwrap_or(0),
                })
            }
        }

        #[async_trait]
        impl StatsStore for $store {
            async fn visit_stats(&self, from_day: i64, to_day: i64, f: &StatsFilter) -> Result<Vec<StatRow>> {
                // Tickets carry their China-time day as text.
                let tickets = sqlx::query(
                    "SELECT t.day, t.kind, t.point_id, p.district_code, CAST(NULL AS TEXT) AS channel, CAST(NULL AS TEXT) AS delivery, COUNT(*) AS n, \
                     CAST(NULL AS BIGINT) AS amount_fen, CAST(NULL AS BIGINT) AS refunded_fen \
                     FROM queue_tickets t JOIN acceptance_points p ON p.id = t.point_id \
                     WHERE t.day >= $1 AND t.day < $2 AND ($3 IS NULL OR p.district_code LIKE $3) AND ($4 IS NULL OR t.point_id = $4) \
                     GROUP BY t.day, t.kind, t.point_id, p.district_code",
                )
                .bind(iso_day(from_day)?)
                .bind(iso_day(to_day)?)
                .bind(f.pattern())
                .bind(&f.point_id)
                .fetch_all(&self.read)
                .await?;
                let mut out = Vec::with_capacity(tickets.len());
                for r in &tickets {
                    let day: String = r.try_get("day")?;
                    let n = shenfen_domain::timefmt::parse_date(&day).map(day_number).ok_or_else(|| StoreError::Corrupt(format!("ticket day {day:?}")))?;
                    out.push(Self::stat_row(r, n)?);
                }
                let (from, to) = ms_bounds(from_day, to_day);
                let made = sqlx::query(concat!(
                    "SELECT ", day_of!("a.created_at"), " AS dayno, 'booked' AS kind, a.point_id, p.district_code, CAST(NULL AS TEXT) AS channel, \
                     CAST(NULL AS TEXT) AS delivery, COUNT(*) AS n, CAST(NULL AS BIGINT) AS amount_fen, CAST(NULL AS BIGINT) AS refunded_fen \
                     FROM appointments a JOIN acceptance_points p ON p.id = a.point_id \
                     WHERE a.created_at >= $1 AND a.created_at < $2 AND ($3 IS NULL OR p.district_code LIKE $3) AND ($4 IS NULL OR a.point_id = $4) \
                     GROUP BY ", day_of!("a.created_at"), ", a.point_id, p.district_code"
                ))
                .bind(from)
                .bind(to)
                .bind(f.pattern())
                .bind(&f.point_id)
                .fetch_all(&self.read)
                .await?;
                for r in &made {
                    out.push(Self::stat_row(r, r.try_get("dayno")?)?);
                }
                out.sort();
                Ok(out)
            }

            async fn fee_stats(&self, from_day: i64, to_day: i64, f: &StatsFilter) -> Result<Vec<StatRow>> {
                let (from, to) = ms_bounds(from_day, to_day);
                let rows = sqlx::query(concat!(
                    "SELECT ", day_of!("o.paid_at"), " AS dayno, 'paid' AS kind, o.point_id, COALESCE(p.district_code, a.division_code) AS district_code, \
                     o.channel, CAST(NULL AS TEXT) AS delivery, COUNT(*) AS n, CAST(SUM(o.amount_fen) AS BIGINT) AS amount_fen, \
                     CAST(SUM(o.refunded_fen) AS BIGINT) AS refunded_fen \
                     FROM payment_orders o LEFT JOIN acceptance_points p ON p.id = o.point_id LEFT JOIN applications a ON a.id = o.reference \
                     WHERE o.status = 'success' AND o.paid_at >= $1 AND o.paid_at < $2 \
                     AND ($3 IS NULL OR COALESCE(p.district_code, a.division_code) LIKE $3) AND ($4 IS NULL OR o.point_id = $4) \
                     GROUP BY ", day_of!("o.paid_at"), ", o.point_id, COALESCE(p.district_code, a.division_code), o.channel"
                ))
                .bind(from)
                .bind(to)
                .bind(f.pattern())
                .bind(&f.point_id)
                .fetch_all(&self.read)
                .await?;
                sorted(rows.iter().map(|r| Self::stat_row(r, r.try_get("dayno")?)).collect())
            }

            async fn application_stats(&self, from_day: i64, to_day: i64, f: &StatsFilter) -> Result<Vec<StatRow>> {
                let (from, to) = ms_bounds(from_day, to_day);
                // A first submission leaves `draft`; a resubmission after a return does not count again.
                let rows = sqlx::query(concat!(
                    "SELECT ", day_of!("e.at"), " AS dayno, e.to_state AS kind, a.point_id, COALESCE(p.district_code, a.division_code) AS district_code, \
                     a.channel, a.delivery_method AS delivery, COUNT(*) AS n, CAST(NULL AS BIGINT) AS amount_fen, CAST(NULL AS BIGINT) AS refunded_fen \
                     FROM application_events e JOIN applications a ON a.id = e.application_id LEFT JOIN acceptance_points p ON p.id = a.point_id \
                     WHERE e.at >= $1 AND e.at < $2 \
                     AND ((e.to_state = 'submitted' AND e.from_state = 'draft') OR e.to_state IN ('approved', 'rejected')) \
                     AND ($3 IS NULL OR COALESCE(p.district_code, a.division_code) LIKE $3) AND ($4 IS NULL OR a.point_id = $4) \
                     GROUP BY ", day_of!("e.at"), ", e.to_state, a.point_id, COALESCE(p.district_code, a.division_code), a.channel, a.delivery_method"
                ))
                .bind(from)
                .bind(to)
                .bind(f.pattern())
                .bind(&f.point_id)
                .fetch_all(&self.read)
                .await?;
                sorted(rows.iter().map(|r| Self::stat_row(r, r.try_get("dayno")?)).collect())
            }

            async fn user_stats(&self, from_day: i64, to_day: i64, f: &StatsFilter) -> Result<Vec<StatRow>> {
                if f.point_id.is_some() {
                    return Ok(Vec::new());
                }
                let (from, to) = ms_bounds(from_day, to_day);
                let rows = sqlx::query(concat!(
                    "SELECT ", day_of!("created_at"), " AS dayno, 'registered' AS kind, CAST(NULL AS TEXT) AS point_id, hukou_code AS district_code, \
                     CAST(NULL AS TEXT) AS channel, CAST(NULL AS TEXT) AS delivery, COUNT(*) AS n, CAST(NULL AS BIGINT) AS amount_fen, CAST(NULL AS BIGINT) AS refunded_fen \
                     FROM citizens WHERE created_at >= $1 AND created_at < $2 AND ($3 IS NULL OR hukou_code LIKE $3) \
                     GROUP BY ", day_of!("created_at"), ", hukou_code \
                     UNION ALL \
                     SELECT ", day_of!("verified_at"), " AS dayno, 'verified' AS kind, CAST(NULL AS TEXT) AS point_id, hukou_code AS district_code, \
                     CAST(NULL AS TEXT) AS channel, CAST(NULL AS TEXT) AS delivery, COUNT(*) AS n, CAST(NULL AS BIGINT) AS amount_fen, CAST(NULL AS BIGINT) AS refunded_fen \
                     FROM citizens WHERE verification <> 'none' AND verified_at >= $1 AND verified_at < $2 AND ($3 IS NULL OR hukou_code LIKE $3) \
                     GROUP BY ", day_of!("verified_at"), ", hukou_code"
                ))
                .bind(from)
                .bind(to)
                .bind(f.pattern())
                .fetch_all(&self.read)
                .await?;
                sorted(rows.iter().map(|r| Self::stat_row(r, r.try_get("dayno")?)).collect())
            }

            async fn users_before(&self, before_day: i64, f: &StatsFilter) -> Result<Vec<UserBase>> {
                if f.point_id.is_some() {
                    return Ok(Vec::new());
                }
                let before = before_day * DAY_MS - CST_OFFSET_MS;
                let rows = sqlx::query(
                    "SELECT hukou_code, COUNT(*) AS registered, \
                     CAST(SUM(CASE WHEN verification <> 'none' AND verified_at < $1 THEN 1 ELSE 0 END) AS BIGINT) AS verified \
                     FROM citizens WHERE created_at < $1 AND ($2 IS NULL OR hukou_code LIKE $2) GROUP BY hukou_code",
                )
                .bind(before)
                .bind(f.pattern())
                .fetch_all(&self.read)
                .await?;
                let base: Result<Vec<UserBase>> = rows
                    .iter()
                    .map(|r| {
                        Ok(UserBase {
                            district_code: r.try_get("hukou_code")?,
                            registered: r.try_get("registered")?,
                            verified: r.try_get::<Option<i64>, _>("verified")?.unwrap_or(0),
                        })
                    })
                    .collect();
                sorted(base)
            }

            async fn cycle_stats(&self, from_day: i64, to_day: i64, f: &StatsFilter) -> Result<Vec<CycleRow>> {
                let (from, to) = ms_bounds(from_day, to_day);
                // Only applications with a card-available entry in the range are read (the `at` index), then each
                // one's first submission and first availability, grouped by the pair of days.
                let rows = sqlx::query(&format!(
                    "SELECT {sub} AS submitted_day, {avail} AS available_day, s.point_id, s.district_code, COUNT(*) AS n FROM ( \
                       SELECT a.id, a.point_id, COALESCE(p.district_code, a.division_code) AS district_code, \
                       MIN(CASE WHEN e.to_state = 'submitted' THEN e.at END) AS first_submitted, \
                       MIN(CASE WHEN e.to_state IN ({CARD_AVAILABLE}) THEN e.at END) AS first_available \
                       FROM applications a JOIN application_events e ON e.application_id = a.id LEFT JOIN acceptance_points p ON p.id = a.point_id \
                       WHERE a.id IN (SELECT application_id FROM application_events WHERE to_state IN ({CARD_AVAILABLE}) AND at >= $1 AND at < $2) \
                       GROUP BY a.id, a.point_id, COALESCE(p.district_code, a.division_code) \
                     ) s \
                     WHERE s.first_available >= $1 AND s.first_available < $2 AND s.first_submitted IS NOT NULL \
                     AND ($3 IS NULL OR s.district_code LIKE $3) AND ($4 IS NULL OR s.point_id = $4) \
                     GROUP BY {sub}, {avail}, s.point_id, s.district_code",
                    sub = day_of!("s.first_submitted"),
                    avail = day_of!("s.first_available"),
                ))
                .bind(from)
                .bind(to)
                .bind(f.pattern())
                .bind(&f.point_id)
                .fetch_all(&self.read)
                .await?;
                let cycles: Result<Vec<CycleRow>> = rows
                    .iter()
                    .map(|r| {
                        Ok(CycleRow {
                            submitted_day: r.try_get("submitted_day")?,
                            available_day: r.try_get("available_day")?,
                            point_id: r.try_get("point_id")?,
                            district_code: r.try_get("district_code")?,
                            n: r.try_get("n")?,
                        })
                    })
                    .collect();
                sorted(cycles)
            }
        }
    };
}

sql_stats!(SqliteStore, SqliteRow);
sql_stats!(PgStore, PgRow);
