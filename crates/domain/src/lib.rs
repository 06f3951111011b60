//! Pure domain rules of Shenfen (身份), the resident ID-card platform.
//!
//! This crate performs **no I/O**: no file system, no network, no clock. "Today" is always a
//! parameter. Reference data (division codes, holiday notices) is compiled in with
//! `include_str!` from `data/` and parsed lazily on first use into compact sorted tables.
//!
//! Modules:
//! - [`idnumber`] – GB 11643-1999 citizen ID numbers (parse, check digit, legacy 15-digit upgrade, masking)
//! - [`division`] – GB/T 2260 administrative division codes (history 1981–2024), Anhui divisions with coordinates
//! - [`phone`] – mainland mobile numbers
//! - [`validity`] – card validity period by age at issue (居民身份证法 art. 5)
//! - [`fees`] – 工本费 schedule in fen
//! - [`calendar`] – official working-day calendar (holidays and make-up working days)
//! - [`geo`] – WGS-84 / GCJ-02 / BD-09 conversions and distances
//! - [`mask`] – masking of personal names for display
//! - [`applications`] – ID-card application kinds, channels, delivery and the application state machine
//! - [`eligibility`] – the online route's rules (Hefei defaults): all refusals with an alternative, delivery area, payment deadline
//! - [`appointments`] – services, opening hours, slot generation over the holiday calendar, booking rules
//! - [`navigation`] – Amap / Baidu / Tencent deep links and web fallbacks (GCJ-02)
//! - [`load`] – live point status, load level (heat-map colour), estimated wait
//! - [`recommend`] – load-aware recommendation of (point, slot) options (错峰分流)
//! - [`sla`] – the 15-working-day issuance SLA: due date, status, per-stage working days, percentiles
//! - [`queue`] – counter queue tickets (A/W numbers) and the call-next rule
//! - [`stats`] – service statistics: shares, cycle percentiles, roll-up by period and area, the trips-saved model
//! - [`csv`] – CSV records for exports (and the reader of the embedded data files)
//! - [`timefmt`] – serde helpers: `"HH:MM"`, `"YYYY-MM-DD"`, `"YYYY-MM-DDTHH:MM"`

pub mod applications;
pub mod appointments;
pub mod calendar;
pub mod division;
pub mod eligibility;
pub mod fees;
pub mod geo;
pub mod idnumber;
pub mod load;
pub mod mask;
pub mod navigation;
pub mod payments;
pub mod phone;
pub mod queue;
pub mod recommend;
pub mod sla;
pub mod stats;
pub mod timefmt;
pub mod validity;

pub mod csv;

pub use idnumber::{IdNumber, IdNumberError, Sex};
pub use phone::{MobileNumber, PhoneError};
pub use appointments::{
    BookingPolicy, BookingRuleError, DayException, DayHours, DaySchedule, ExceptionKind,
    OpeningHours, ScheduleError, Service, SlotPlan, SlotSpec,
};
pub use applications::{
    ApplicationEvent, ApplicationKind, ApplicationState, Channel, Delivery, PortraitSource,
    ReturnReason, Stage, Transition, TransitionContext, TransitionError,
};
pub use eligibility::{CitizenFacts, Eligibility, OnlineRules, Refusal};
pub use load::{LoadLevel, PointStatus};
pub use sla::{SlaPolicy, SlaStatus};
pub use navigation::{NavConfig, NavLinks, Place, TravelMode};
pub use queue::{Ticket, TicketId, TicketKind};
pub use recommend::{Candidate, Recommendation};
