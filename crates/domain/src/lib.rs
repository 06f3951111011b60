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

pub mod calendar;
pub mod division;
pub mod fees;
pub mod geo;
pub mod idnumber;
pub mod mask;
pub mod phone;
pub mod validity;

mod csv;

pub use idnumber::{IdNumber, IdNumberError, Sex};
pub use phone::{MobileNumber, PhoneError};
