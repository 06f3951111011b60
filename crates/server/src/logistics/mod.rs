//! Express delivery of finished ID cards (EMS 寄递): creating the shipment with the carrier, receiving its pushed
//! tracking events, polling for the ones a push lost, and handing every event once to the application layer.
//!
//! * [`dispatch`] — the production centre sends a card: the carrier assigns a tracking number, the shipment is
//!   stored (recipient encrypted, masked forms for display). Idempotent per application.
//! * `POST /callbacks/express/{carrier}` ([`callback_router`]) — the carrier's signed pushes; each event is stored
//!   once (by the carrier's event id), whatever the number of copies.
//! * [`poll`] — every minute on every instance (`app::serve`): shipments not yet delivered or returned are asked
//!   about, each by one instance (claimed by a conditional update of `last_polled_at`).
//! * [`apply_events`] — the application layer's consumer: events come out of the database outbox
//!   (`ShipmentStore::unapplied_shipment_events`) one per shipment at a time, in carrier time order, each to one
//!   consumer, and are retired once applied.
//!
//! The carrier is behind [`ExpressCarrier`]; the EMS adapter is `ems.rs` (its module comment documents the wire
//! format), and demo instances and tests talk to the EMS sandbox in `sandbox.rs`.

pub mod config;
pub mod ems;
pub mod s10;
pub mod sandbox;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use config::LogisticsConfig;
pub use shenfen_store::{NewTrackingEvent as TrackingEvent, Shipment, ShipmentEvent, TrackingStatus};

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use shenfen_store::NewShipment;

use crate::app::{Actor, AppState};
use crate::error::{AppError, AppResult};

/// What the production centre sends, and to whom. Recipient fields are in clear here (they go to the carrier);
/// the store keeps them encrypted.
#[derive(Clone)]
pub struct ShipmentRequest {
    /// The application id; also the carrier's order number, which makes creation idempotent at the carrier.
    pub reference: String,
    pub recipient_name: String,
    /// Mainland mobile number (any format [`shenfen_domain::MobileNumber`] reads).
    pub recipient_phone: String,
    /// Street address below the county (the county is `division`).
    pub address: String,
    /// 6-digit county-level division code of the address.
    pub division: String,
    /// Who sends: the production centre's or acceptance point's name.
    pub sender: String,
}

impl std::fmt::Debug for ShipmentRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShipmentRequest").field("reference", &self.reference).field("division", &self.division).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CarrierError {
    /// The carrier refused this shipment for good (address outside its service area, invalid recipient …): fix
    /// the input, do not retry as is. `code` is the carrier's own.
    #[error("carrier refused: {code} {message}")]
    Rejected { code: String, message: String },
    /// Network failure, timeout, 5xx, or a protocol-level refusal of our credentials: try again later.
    #[error("carrier unavailable: {0}")]
    Unavailable(String),
    /// A push whose signature, app key or timestamp did not verify: forged or tampered.
    #[error("verification failed: {0}")]
    Verification(String),
    /// A message not in the carrier's format.
    #[error("malformed message: {0}")]
    Malformed(String),
}

impl CarrierError {
    pub fn code(&self) -> &'static str {
        match self {
            CarrierError::Rejected { .. } => "carrier_rejected",
            CarrierError::Unavailable(_) => "carrier_unavailable",
            CarrierError::Verification(_) => "push_signature",
            CarrierError::Malformed(_) => "carrier_malformed",
        }
    }
}

/// One event of a verified push, with the tracking number it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedEvent {
    pub tracking_no: String,
    pub event: TrackingEvent,
}

/// What became of a push, for the carrier's acknowledgement.
#[derive(Debug)]
pub enum PushOutcome<'a> {
    /// Stored (or already stored): stop pushing it.
    Accepted,
    Refused(&'a CarrierError),
    /// A waybill we do not know (yet): push again later.
    UnknownWaybill,
    /// Our storage failed: push again later.
    Failed,
}

#[async_trait]
pub trait ExpressCarrier: Send + Sync {
    /// Carrier code, stored with each shipment and in the callback path (`ems`).
    fn name(&self) -> &'static str;
    /// Creates the shipment and returns the tracking number. Repeating it for the same `reference` returns the
    /// same tracking number.
    async fn create_shipment(&self, req: &ShipmentRequest) -> Result<String, CarrierError>;
    /// Every tracking event the carrier has for a tracking number so far, oldest first.
    async fn track(&self, tracking_no: &str) -> Result<Vec<TrackingEvent>, CarrierError>;
    /// Verifies and reads a push exactly as received (headers + raw body) at wall-clock time `now_ms`.
    fn verify_push(&self, headers: &HeaderMap, body: &[u8], now_ms: i64) -> Result<Vec<PushedEvent>, CarrierError>;
    /// The answer the carrier expects for an outcome (its status codes, body and content type).
    fn acknowledge(&self, outcome: &PushOutcome) -> Response;
}

/// The carrier of this instance, from `[logistics]`. Outside demo mode missing keys or URL are an error (start-up
/// refuses them, see `build_state`).
pub fn carrier_from_config(config: &crate::config::Config) -> anyhow::Result<Arc<dyn ExpressCarrier>> {
    Ok(Arc::new(ems::EmsCarrier::from_config(config)?))
}

/// The real wall clock in ms: signature windows are about the carrier's clock, not the (testable) app clock.
pub(crate) fn wall_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn carrier_unavailable() -> AppError {
    AppError::new(StatusCode::BAD_GATEWAY, "carrier_unavailable", "邮政速递暂时无法受理，请稍后再试。", "The carrier is unavailable; try again later.")
}

fn text(value: &str, min: usize, max: usize) -> Option<String> {
    let v = value.trim();
    let n = v.chars().count();
    (n >= min && n <= max && !v.chars().any(char::is_control)).then(|| v.to_string())
}

impl ShipmentRequest {
    /// Trimmed and checked, the phone as 11 digits; or the error naming the field.
    pub fn validated(&self) -> AppResult<ShipmentRequest> {
        let bad = |code: &'static str, field: &'static str, zh: &str, en: &str| AppError::invalid(code, zh, en).on_field(field);
        let reference = text(&self.reference, 1, 64).ok_or_else(|| bad("reference_invalid", "reference", "申请编号无效。", "The application reference is invalid."))?;
        let recipient_name = text(&self.recipient_name, 1, 50)
            .ok_or_else(|| bad("recipient_name_invalid", "recipient_name", "请填写收件人姓名（不超过50个字）。", "Enter the recipient's name (at most 50 characters)."))?;
        let phone = shenfen_domain::MobileNumber::parse(&self.recipient_phone).map_err(|e| AppError::from(e).on_field("recipient_phone"))?;
        let address = text(&self.address, 2, 200)
            .ok_or_else(|| bad("address_invalid", "address", "请填写详细地址（不超过200个字）。", "Enter the street address (at most 200 characters)."))?;
        let division = self.division.trim();
        if division.len() != 6 || !division.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("division_invalid", "division", "请选择收件地址所在的区县。", "Choose the county of the address."));
        }
        let sender = text(&self.sender, 1, 60).ok_or_else(|| bad("sender_invalid", "sender", "寄件单位无效。", "The sender is invalid."))?;
        Ok(ShipmentRequest { reference, recipient_name, recipient_phone: phone.as_str().to_string(), address, division: division.to_string(), sender })
    }
}

/// "安徽省合肥市蜀山区****": the county is shown, the street address never.
pub fn mask_address(division: &str) -> String {
    format!("{}****", shenfen_domain::division::full_name(division).unwrap_or_default())
}

/// Sends a card by courier: the carrier creates the shipment (its order number is `req.reference`, so a retried
/// or concurrent dispatch gets the same tracking number), then it is stored once per reference. A reference that
/// already has a shipment returns it without calling the carrier. Audited as `shipment.create` by `actor`.
/// Errors: input (422 with the field), `shipment_rejected` (422, the carrier's refusal and code),
/// `carrier_unavailable` (502, retry later).
pub async fn dispatch(state: &AppState, req: &ShipmentRequest, actor: &Actor) -> AppResult<Shipment> {
    let req = req.validated()?;
    if let Some(existing) = state.store.shipment_for(&req.reference).await? {
        return Ok(existing);
    }
    let carrier = state.carrier.clone().ok_or_else(carrier_unavailable)?;
    let tracking_no = match carrier.create_shipment(&req).await {
        Ok(no) => no,
        Err(CarrierError::Rejected { code, message }) => {
            tracing::warn!(reference = %req.reference, carrier = carrier.name(), code = %code, "carrier refused the shipment");
            return Err(AppError::invalid(
                "shipment_rejected",
                format!("邮政速递拒绝受理：{message}（{code}）"),
                format!("The carrier refused the shipment: {message} ({code})"),
            ));
        }
        Err(e) => {
            tracing::warn!(reference = %req.reference, carrier = carrier.name(), error = %e, "carrier unavailable at dispatch");
            return Err(carrier_unavailable());
        }
    };
    let phone = shenfen_domain::MobileNumber::parse(&req.recipient_phone)?;
    let new = NewShipment {
        reference: req.reference.clone(),
        carrier: carrier.name().to_string(),
        tracking_no: tracking_no.clone(),
        name_enc: state.keys.encrypt_field(&req.recipient_name),
        phone_enc: state.keys.encrypt_field(phone.as_str()),
        address_enc: state.keys.encrypt_field(&req.address),
        name_masked: shenfen_domain::mask::mask_name(&req.recipient_name),
        phone_masked: phone.masked(),
        address_masked: mask_address(&req.division),
        division: req.division.clone(),
    };
    let (shipment, created) = state.store.create_shipment(&new, state.now_ms()).await?;
    if created {
        metrics::counter!("shipments_created_total", "carrier" => carrier.name()).increment(1);
        state
            .audit(actor, "shipment.create", &format!("shipment:{}", shipment.tracking_no), serde_json::json!({ "reference": shipment.reference, "carrier": shipment.carrier, "division": shipment.division }))
            .await?;
    } else if shipment.tracking_no != tracking_no {
        tracing::warn!(reference = %req.reference, "concurrent dispatch got another tracking number from the carrier; the stored one stands");
    }
    Ok(shipment)
}

/// Stores a shipment's events (new ones only) and moves its status forward; returns how many were new.
async fn record(state: &AppState, shipment: &Shipment, events: &[TrackingEvent], source: &'static str) -> AppResult<usize> {
    let fresh = state.store.record_tracking_events(&shipment.id, events, state.now_ms()).await?;
    if !fresh.is_empty() {
        metrics::counter!("shipment_events_total", "carrier" => shipment.carrier.clone(), "source" => source).increment(fresh.len() as u64);
    }
    Ok(fresh.len())
}

/// Carrier pushes: `POST /callbacks/express/{carrier}` with the carrier's own body and headers.
pub fn callback_router() -> Router<AppState> {
    Router::new().route("/callbacks/express/{carrier}", post(push)).layer(DefaultBodyLimit::max(ems::MAX_BODY_BYTES))
}

async fn push(State(state): State<AppState>, Path(carrier): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(adapter) = state.carrier.clone().filter(|c| c.name() == carrier) else {
        return AppError::not_found().into_response();
    };
    let pushed = match adapter.verify_push(&headers, &body, wall_ms()) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(carrier = adapter.name(), code = e.code(), error = %e, "tracking push refused");
            metrics::counter!("shipment_pushes_rejected_total", "carrier" => adapter.name(), "reason" => e.code()).increment(1);
            return adapter.acknowledge(&PushOutcome::Refused(&e));
        }
    };
    // Grouped per waybill, each group in the order pushed.
    let mut groups: BTreeMap<String, Vec<TrackingEvent>> = BTreeMap::new();
    for p in pushed {
        groups.entry(p.tracking_no).or_default().push(p.event);
    }
    let mut unknown = false;
    for (tracking_no, events) in groups {
        let stored = match state.store.shipment_by_tracking_no(&tracking_no).await {
            Ok(Some(s)) if s.carrier == adapter.name() => record(&state, &s, &events, "push").await.map(|_| ()),
            Ok(_) => {
                tracing::warn!(carrier = adapter.name(), "tracking push for an unknown waybill; the carrier will push again");
                unknown = true;
                Ok(())
            }
            Err(e) => Err(AppError::from(e)),
        };
        if let Err(e) = stored {
            tracing::error!(code = e.code, "tracking push could not be stored");
            return adapter.acknowledge(&PushOutcome::Failed);
        }
    }
    // The applications learn of deliveries at once (the consumer loop in `app::serve`), not at its next tick.
    state.shipments_wake.notify_one();
    adapter.acknowledge(if unknown { &PushOutcome::UnknownWaybill } else { &PushOutcome::Accepted })
}

/// What one polling round did on this instance.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Polled {
    pub polled: usize,
    pub new_events: usize,
    pub unreachable: usize,
}

/// The polling job: claims up to `logistics.poll_batch` shipments not final and not asked about for
/// `logistics.poll_every_secs`, and records what the carrier says about each. Safe on every instance at once.
pub async fn poll(state: &AppState) -> AppResult<Polled> {
    let mut out = Polled::default();
    let Some(carrier) = state.carrier.clone() else { return Ok(out) };
    let cfg = &state.config.logistics;
    let now = state.now_ms();
    for s in state.store.shipments_to_poll(now - cfg.poll_every_secs * 1000, now, cfg.poll_batch).await? {
        if s.carrier != carrier.name() {
            continue;
        }
        out.polled += 1;
        match carrier.track(&s.tracking_no).await {
            Ok(events) => out.new_events += record(state, &s, &events, "poll").await?,
            Err(e) => {
                tracing::warn!(carrier = carrier.name(), error = %e, "tracking poll failed; asked again next round");
                out.unreachable += 1;
            }
        }
    }
    Ok(out)
}

/// How long a consumer holds an event before another may take it over.
pub const EVENT_LEASE_MS: i64 = 60_000;

/// The application layer's consumer: takes up to `limit` unapplied events (the earliest unapplied one of each
/// shipment, leased to this caller), calls `apply` on each in carrier time order, and retires those it accepted.
/// An `Err` leaves the event to be handed out again after its lease (and holds back that shipment's later
/// events meanwhile); an event that needs no action (e.g. "in transit", or a transition the application's state
/// no longer allows) should return `Ok`. `apply` may run again for an event whose consumer died before retiring
/// it, so it must be idempotent. Returns how many were retired; call until it returns 0.
pub async fn apply_events<F, Fut>(state: &AppState, limit: u32, mut apply: F) -> AppResult<usize>
where
    F: FnMut(ShipmentEvent) -> Fut + Send,
    Fut: std::future::Future<Output = AppResult<()>> + Send,
{
    let now = state.now_ms();
    let mut retired = 0;
    for event in state.store.unapplied_shipment_events(limit, now, now + EVENT_LEASE_MS).await? {
        let id = event.id.clone();
        match apply(event).await {
            Ok(()) => retired += state.store.mark_shipment_event_applied(&id, state.now_ms()).await? as usize,
            Err(e) => tracing::warn!(event = %id, code = e.code, "shipment event not applied; handed out again after its lease"),
        }
    }
    Ok(retired)
}
