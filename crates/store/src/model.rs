//! Rows and enums as the rest of the platform sees them. Enums are stored as CHECKed TEXT.

use serde::{Deserialize, Serialize};

/// UTC unix time in milliseconds: the one portable timestamp representation of the schema.
pub type Millis = i64;

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $text),+ } }
            pub fn parse(s: &str) -> Option<Self> { match s { $($text => Some($name::$variant),)+ _ => None } }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

text_enum!(
    /// Real-name verification tier (初级 / 中级实名认证).
    Verification { None => "none", Primary => "primary", Intermediate => "intermediate" }
);
text_enum!(
    /// Staff roles. Citizens are not staff and have no role row.
    Role { Reviewer => "reviewer", Counter => "counter", Production => "production", Admin => "admin" }
);
text_enum!(
    /// How far a staff member's authority reaches: one acceptance point, a district (county code) or the province.
    ScopeKind { Point => "point", District => "district", Province => "province" }
);
text_enum!(PrincipalKind { Citizen => "citizen", Staff => "staff" });
text_enum!(SessionChannel { Cookie => "cookie", Bearer => "bearer" });
text_enum!(CodePurpose { SignIn => "sign_in", ChangePhone => "change_phone" });
text_enum!(ActorKind { Citizen => "citizen", Staff => "staff", System => "system", Anonymous => "anonymous" });
text_enum!(
    /// Delivery channel of one notification.
    Channel { Sms => "sms", InApp => "inapp" }
);
text_enum!(
    /// Where a citizen's card record came from: the population registry at real-name verification, or a card
    /// this platform issued.
    CardSource { Registry => "registry", Issued => "issued" }
);
text_enum!(
    /// GOV.UK Notify's message statuses.
    NotificationStatus {
        Created => "created",
        Sending => "sending",
        Sent => "sent",
        Delivered => "delivered",
        PermanentFailure => "permanent-failure",
        TemporaryFailure => "temporary-failure",
        TechnicalFailure => "technical-failure",
    }
);


#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citizen {
    pub id: String,
    pub phone: String,
    pub verification: Verification,
    /// AEAD-encrypted real name (field encryption lives in the server; the store only keeps bytes).
    pub name_enc: Option<Vec<u8>>,
    pub id_number_enc: Option<Vec<u8>>,
    pub id_number_masked: Option<String>,
    pub name_masked: Option<String>,
    pub hukou_code: Option<String>,
    pub verified_at: Option<Millis>,
    pub created_at: Millis,
}

/// What primary verification writes in one go.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    pub name_enc: Vec<u8>,
    pub name_masked: String,
    pub id_number_enc: Vec<u8>,
    /// Keyed blind index (HMAC) of the ID number: lets us find and de-duplicate without decrypting.
    pub id_number_blind: String,
    pub id_number_masked: String,
    /// Registered residence county code, as the registry reports it.
    pub hukou_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub kind: ScopeKind,
    /// Acceptance-point id, 6-digit district code, or 2-digit province code.
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub display_name: String,
    pub role: Role,
    pub scope: Scope,
    pub active: bool,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: String,
    pub principal_kind: PrincipalKind,
    pub principal_id: String,
    pub channel: SessionChannel,
    pub created_at: Millis,
    pub expires_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewSmsCode {
    pub phone: String,
    pub purpose: CodePurpose,
    pub code_hash: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// The outcome of presenting a one-time code. Every branch is decided by one conditional UPDATE,
/// so two instances checking the same code at once cannot both accept it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Accepted,
    Wrong { attempts_left: u32 },
    /// Too many wrong attempts: the code is burned.
    Burned,
    Expired,
    /// No code was ever sent, or the latest one was already used.
    NoCode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: String,
    pub phone: String,
    pub body: String,
    pub created_at: Millis,
    /// The provider and its id for the message (Aliyun `BizId`, Tencent `SerialNo`), when it went through the
    /// notification queue: the notification with the same pair carries its delivery status.
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
}

/// One state-changing action to be appended to the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: Millis,
    pub actor_kind: ActorKind,
    pub actor_id: String,
    pub action: String,
    pub target: String,
    pub source_ip: String,
    /// Free text or JSON; never a full ID number (callers pass masked forms).
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AcceptancePoint {
    pub id: String,
    pub name: String,
    /// 6-digit county-level division code.
    pub district_code: String,
    pub address: String,
    pub phone: String,
    pub lat_gcj02: f64,
    pub lng_gcj02: f64,
    /// Demo points are generated from public sub-district data, not a list of real counters.
    pub is_demo: bool,
    pub created_at: Millis,
    /// Compact weekly hours, e.g. `mon-fri 09:00-12:00,13:30-17:00; sat 09:00-12:00` (grammar in the domain crate).
    pub opening_hours: String,
    /// Comma-separated service codes offered here.
    pub services: String,
    pub windows: i64,
    pub slot_minutes: i64,
    pub capacity_per_slot: i64,
    pub status: PointStatus,
    pub status_reason: String,
    /// Expected reopening (UTC ms) when paused or closed, if known.
    pub status_until: Option<Millis>,
    pub status_changed_at: Millis,
}

impl AcceptancePoint {
    /// A point with the default settings of the schema (weekday hours, all services, 2 windows, 30-min slots of 6).
    pub fn with_defaults(id: String, name: String, district_code: String, address: String, phone: String, lat: f64, lng: f64, is_demo: bool, now: Millis) -> Self {
        AcceptancePoint {
            id,
            name,
            district_code,
            address,
            phone,
            lat_gcj02: lat,
            lng_gcj02: lng,
            is_demo,
            created_at: now,
            opening_hours: "mon-fri 09:00-12:00,13:30-17:00".into(),
            services: "first_issue,renewal,replacement,photo_capture,pickup".into(),
            windows: 2,
            slot_minutes: 30,
            capacity_per_slot: 6,
            status: PointStatus::Open,
            status_reason: String::new(),
            status_until: None,
            status_changed_at: now,
        }
    }
}

text_enum!(
    /// Live status of an acceptance point, set by counter staff and administrators.
    PointStatus { Open => "open", Busy => "busy", Paused => "paused", Closed => "closed" }
);
// ----- payments
text_enum!(
    /// Order states (GOV.UK Pay). The transitions between them are the domain's `payments::next_status`.
    PaymentStatus {
        Created => "created", Started => "started", Submitted => "submitted", Success => "success",
        Failed => "failed", Cancelled => "cancelled", Expired => "expired", Error => "error"
    }
);
text_enum!(RefundStatus { Pending => "pending", Success => "success", Failed => "failed" });
text_enum!(ExceptionKind { Closed => "closed", ExtraCapacity => "extra_capacity", Hours => "hours" });
text_enum!(AppointmentStatus { Booked => "booked", CheckedIn => "checked_in", Completed => "completed", Cancelled => "cancelled", NoShow => "no_show" });
text_enum!(TicketKind { Appointment => "appointment", WalkIn => "walk_in" });
text_enum!(TicketStatus { Waiting => "waiting", Called => "called", Served => "served", Skipped => "skipped" });

/// A per-day deviation from a point's weekly plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointException {
    pub point_id: String,
    /// YYYY-MM-DD, China time.
    pub day: String,
    pub kind: ExceptionKind,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSlot {
    pub point_id: String,
    pub day: String,
    pub start_min: i64,
    pub end_min: i64,
    pub starts_at: Millis,
    pub capacity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub id: String,
    pub point_id: String,
    pub day: String,
    pub start_min: i64,
    pub end_min: i64,
    pub starts_at: Millis,
    pub capacity: i64,
    pub booked: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    pub id: String,
    pub code: String,
    pub citizen_id: String,
    pub point_id: String,
    pub slot_id: String,
    pub service: String,
    pub status: AppointmentStatus,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAppointment {
    pub citizen_id: String,
    pub slot_id: String,
    pub service: String,
    /// YYYY-MM of "now", for the monthly cancellation rule.
    pub month: String,
    pub max_cancellations_per_month: i64,
    pub max_no_shows_per_month: i64,
    pub now: Millis,
}

/// Booked seats and capacity of one point on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayLoad {
    pub point_id: String,
    pub day: String,
    pub booked: i64,
    pub capacity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: String,
    pub point_id: String,
    pub day: String,
    pub kind: TicketKind,
    pub number: i64,
    pub appointment_id: Option<String>,
    pub status: TicketStatus,
    pub window_no: Option<i64>,
    pub created_at: Millis,
    pub called_at: Option<Millis>,
}

