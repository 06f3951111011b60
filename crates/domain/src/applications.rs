//! ID-card applications (居民身份证申领): kinds, channels, portrait sources, delivery, and the
//! application state machine.
//!
//! Everything here is pure. The store keeps an application's current [`ApplicationState`] and
//! a timeline; every change of state goes through the single function [`transition`], so the
//! legal moves live in one place and the web layer, the background jobs and the tests all agree.
//!
//! # The state machine
//!
//! ```text
//! main line      draft ─Submit→ submitted ─StartReview→ under_review ─Approve→ approved
//!                ─RequestPayment→ awaiting_payment ─PaymentSucceeded→ paid ─StartProduction→
//!                in_production ─MarkProduced→ produced ─PassQualityCheck→ quality_checked
//! EMS            quality_checked ─Dispatch→ dispatched ─Delivered{face ok}→ delivered ─Close→ closed
//! pickup         quality_checked ─RouteToPickup→ ready_for_pickup ─Collected{fingerprint ok}→ collected ─Close→ closed
//! correction     under_review ─Return→ returned ─Resubmit→ submitted
//! refusal        under_review ─Reject→ rejected
//! no payment     approved | awaiting_payment ─PaymentWindowExpired→ expired
//! fee waived     approved ─StartProduction→ in_production
//! bad card       produced ─FailQualityCheck→ in_production
//! not delivered  dispatched ─DeliveryFailedReturned→ ready_for_pickup
//! cancellation   (see below) ─Cancel{by}→ cancelled
//! terminal       rejected, closed, cancelled, expired
//! ```
//!
//! Decisions (also in the crate README):
//! - **Approval and payment are two steps.** `Approve` records the police decision (the 48-hour
//!   payment window of the Hefei rules starts here); `RequestPayment` records that the payment
//!   order was issued (`awaiting_payment`). Keeping `approved` separate lets a fee-waived
//!   application (居民身份证法 art. 20, 低保 / special hardship) go straight to production with
//!   `StartProduction`, and lets a payment-gateway failure be retried without touching the
//!   decision. `PaymentWindowExpired` is accepted from both `approved` and `awaiting_payment`
//!   (not when the fee is waived): the window runs from approval, whether or not an order was
//!   issued. Counter applications use the same path; the citizen pays on the spot (码上付).
//! - **Rejection happens only in review**, so a rejected application never has a payment.
//! - **Cancellation.** The citizen may cancel from `draft` up to and including `paid` (before
//!   production starts nothing irreversible has happened); the officer may cancel any
//!   non-terminal state before the card leaves the production centre (`draft` ..
//!   `quality_checked`). Once the card is dispatched or waiting at a pickup point it belongs to
//!   its holder and nobody cancels it. A cancellation after a successful payment sets
//!   [`Transition::refund_due`]. A citizen's cancellation of a *submitted* online application
//!   (not a draft) counts toward the daily/monthly limits of the online route
//!   ([`Transition::counts_as_online_cancellation`]).
//! - **Late payment.** `PaymentSucceeded` arriving in `cancelled` or `expired` (the gateway
//!   callback raced the timer) keeps the state and sets `refund_due`: money taken for a dead
//!   application is refunded, it never revives the application. Expiry itself is not a
//!   citizen cancellation and does not count toward the limits.
//! - **Failed delivery.** `DeliveryFailedReturned` moves a dispatched card to
//!   `ready_for_pickup`: EMS returns it to the issuing office, where the holder collects it in
//!   person (fingerprint check), as with the mail-out pickup service.
//! - **Hand-over checks.** `Delivered` requires the courier's face verification, `Collected`
//!   the fingerprint check (Hefei rule 7; 2019 announcement).
//! - **Who may send which event** (officer, citizen, payment callback) is a role check at the
//!   edge; only cancellation carries its actor because the rules differ by actor.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::fees::FeeItem;

// ---------------------------------------------------------------------------------------------
// Kinds, channels, portrait sources, delivery

/// What the citizen applies for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationKind {
    /// 首次申领
    FirstIssue,
    /// 到期换领
    RenewalExpiry,
    /// 变更换领 (change of registered items, e.g. name)
    RenewalChange,
    /// 丢失补领
    ReplacementLost,
    /// 损坏换领
    ReplacementDamaged,
    /// 临时居民身份证
    TemporaryCard,
}

impl ApplicationKind {
    pub const ALL: [ApplicationKind; 6] = [
        ApplicationKind::FirstIssue,
        ApplicationKind::RenewalExpiry,
        ApplicationKind::RenewalChange,
        ApplicationKind::ReplacementLost,
        ApplicationKind::ReplacementDamaged,
        ApplicationKind::TemporaryCard,
    ];

    /// Stable code, e.g. `"renewal_expiry"` (same as the serde form).
    pub fn code(self) -> &'static str {
        match self {
            Self::FirstIssue => "first_issue",
            Self::RenewalExpiry => "renewal_expiry",
            Self::RenewalChange => "renewal_change",
            Self::ReplacementLost => "replacement_lost",
            Self::ReplacementDamaged => "replacement_damaged",
            Self::TemporaryCard => "temporary_card",
        }
    }

    pub fn from_code(code: &str) -> Option<ApplicationKind> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Self::FirstIssue => "首次申领",
            Self::RenewalExpiry => "到期换领",
            Self::RenewalChange => "变更换领",
            Self::ReplacementLost => "丢失补领",
            Self::ReplacementDamaged => "损坏换领",
            Self::TemporaryCard => "临时居民身份证",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Self::FirstIssue => "First issue",
            Self::RenewalExpiry => "Renewal (expiry)",
            Self::RenewalChange => "Renewal (change of particulars)",
            Self::ReplacementLost => "Replacement (lost card)",
            Self::ReplacementDamaged => "Replacement (damaged card)",
            Self::TemporaryCard => "Temporary ID card",
        }
    }

    /// The 工本费 item charged (发改价格〔2003〕2322号): both renewals are "换领" (20 yuan),
    /// lost and damaged cards 40 yuan, temporary card 10 yuan.
    pub fn fee_item(self) -> FeeItem {
        match self {
            Self::FirstIssue => FeeItem::FirstIssue,
            Self::RenewalExpiry | Self::RenewalChange => FeeItem::Renewal,
            Self::ReplacementLost => FeeItem::ReplacementLost,
            Self::ReplacementDamaged => FeeItem::ReplacementDamaged,
            Self::TemporaryCard => FeeItem::TemporaryCard,
        }
    }
}

impl fmt::Display for ApplicationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How the application is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 网上办理, 零跑腿: everything in the app, card by EMS or mail-out pickup.
    Online,
    /// Started online (details, photo, payment), finished at a counter (e.g. fingerprints).
    OnlineThenCounter,
    /// 窗口办理 at an acceptance point.
    Counter,
}

impl Channel {
    pub const ALL: [Channel; 3] = [
        Channel::Online,
        Channel::OnlineThenCounter,
        Channel::Counter,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::OnlineThenCounter => "online_then_counter",
            Self::Counter => "counter",
        }
    }

    pub fn from_code(code: &str) -> Option<Channel> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Online => "网上办理",
            Self::OnlineThenCounter => "网上申请、窗口办结",
            Self::Counter => "窗口办理",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Self::Online => "Online",
            Self::OnlineThenCounter => "Online, finished at a counter",
            Self::Counter => "At a counter",
        }
    }

    /// Whether the online-route rules (limits, eligibility) apply: both channels started in the app.
    pub fn is_online(self) -> bool {
        !matches!(self, Self::Counter)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Where the portrait comes from (人像智能采集: 现场拍、自助拍、手机拍、提前备, plus a studio
/// receipt and reuse of the photo on file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortraitSource {
    /// 现场拍: captured by the officer at the counter.
    CounterCapture,
    /// 自助拍: self-service kiosk at an acceptance point.
    Kiosk,
    /// 手机拍: captured in the app, checked by the self-declared photo service.
    Phone,
    /// 提前备: a prepared photo uploaded in the app, checked by the same service.
    PreparedUpload,
    /// A certified photo studio's receipt number (照相馆回执), photo checked by the service.
    StudioReceipt,
    /// The portrait of the last issuance, already accepted by the police.
    ReuseOnFile,
}

impl PortraitSource {
    pub const ALL: [PortraitSource; 6] = [
        PortraitSource::CounterCapture,
        PortraitSource::Kiosk,
        PortraitSource::Phone,
        PortraitSource::PreparedUpload,
        PortraitSource::StudioReceipt,
        PortraitSource::ReuseOnFile,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::CounterCapture => "counter_capture",
            Self::Kiosk => "kiosk",
            Self::Phone => "phone",
            Self::PreparedUpload => "prepared_upload",
            Self::StudioReceipt => "studio_receipt",
            Self::ReuseOnFile => "reuse_on_file",
        }
    }

    pub fn from_code(code: &str) -> Option<PortraitSource> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Self::CounterCapture => "现场拍照",
            Self::Kiosk => "自助拍照",
            Self::Phone => "手机拍照",
            Self::PreparedUpload => "上传已备照片",
            Self::StudioReceipt => "照相馆回执",
            Self::ReuseOnFile => "沿用上次办证照片",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Self::CounterCapture => "Photo taken at the counter",
            Self::Kiosk => "Self-service kiosk",
            Self::Phone => "Phone capture",
            Self::PreparedUpload => "Upload a prepared photo",
            Self::StudioReceipt => "Photo studio receipt",
            Self::ReuseOnFile => "Reuse the photo of the last card",
        }
    }

    /// Whether an online application may use this source (Hefei rule 11: a photo from a recent
    /// issuance, or one that passed the self-declared photo check). Counter and kiosk capture
    /// need the citizen on site.
    pub fn usable_online(self) -> bool {
        !matches!(self, Self::CounterCapture | Self::Kiosk)
    }

    /// Whether this is a *new* photo submitted through the app (Hefei rule 3: after three
    /// failed reviews such photos are refused until the next successful issuance; reusing the
    /// photo on file is not a new capture).
    pub fn is_new_online_photo(self) -> bool {
        matches!(
            self,
            Self::Phone | Self::PreparedUpload | Self::StudioReceipt
        )
    }
}

impl fmt::Display for PortraitSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How the finished card reaches its holder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Delivery {
    /// China Post EMS to an address; `division` is the address's division code (6-digit county
    /// level, optionally 9-digit township level – see `eligibility::delivery_allowed`).
    Ems { division: String },
    /// Collected in person at an acceptance point (also the mail-out pickup service).
    Pickup { point_id: i64 },
}

impl Delivery {
    pub fn method(&self) -> DeliveryMethod {
        match self {
            Delivery::Ems { .. } => DeliveryMethod::Ems,
            Delivery::Pickup { .. } => DeliveryMethod::Pickup,
        }
    }
}

/// The method part of [`Delivery`], what the state machine needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMethod {
    Ems,
    Pickup,
}

impl DeliveryMethod {
    pub const ALL: [DeliveryMethod; 2] = [DeliveryMethod::Ems, DeliveryMethod::Pickup];

    pub fn code(self) -> &'static str {
        match self {
            Self::Ems => "ems",
            Self::Pickup => "pickup",
        }
    }

    pub fn from_code(code: &str) -> Option<DeliveryMethod> {
        Self::ALL.into_iter().find(|m| m.code() == code)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Ems => "邮政速递（EMS）",
            Self::Pickup => "自取",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Self::Ems => "EMS delivery",
            Self::Pickup => "Pickup in person",
        }
    }
}

impl fmt::Display for DeliveryMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

// ---------------------------------------------------------------------------------------------
// Return reasons

/// Standard reasons for returning an application to the citizen for correction (退回补正).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnReason {
    /// The photo does not meet the photo standard (background, ears, expression …).
    PhotoNonconforming,
    /// The photo does not match the person on file.
    PhotoNotMatching,
    /// Entered particulars differ from the household register.
    ParticularsMismatch,
    /// The delivery address is outside the EMS delivery area.
    AddressOutsideArea,
    /// Supporting documents are missing.
    DocumentsMissing,
    Other,
}

impl ReturnReason {
    pub const ALL: [ReturnReason; 6] = [
        ReturnReason::PhotoNonconforming,
        ReturnReason::PhotoNotMatching,
        ReturnReason::ParticularsMismatch,
        ReturnReason::AddressOutsideArea,
        ReturnReason::DocumentsMissing,
        ReturnReason::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::PhotoNonconforming => "photo_nonconforming",
            Self::PhotoNotMatching => "photo_not_matching",
            Self::ParticularsMismatch => "particulars_mismatch",
            Self::AddressOutsideArea => "address_outside_area",
            Self::DocumentsMissing => "documents_missing",
            Self::Other => "other",
        }
    }

    pub fn from_code(code: &str) -> Option<ReturnReason> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Text shown to the citizen.
    pub fn text_zh(self) -> &'static str {
        match self {
            Self::PhotoNonconforming => "照片不符合居民身份证照片标准，请重新采集。",
            Self::PhotoNotMatching => "照片与本人不符，请重新采集本人照片。",
            Self::ParticularsMismatch => "填写的信息与户籍登记不一致，请核对后修改。",
            Self::AddressOutsideArea => "收件地址不在邮寄范围内，请改为就近受理点领取。",
            Self::DocumentsMissing => "材料不全，请补充所需材料。",
            Self::Other => "其他原因，请查看审核意见。",
        }
    }

    pub fn text_en(self) -> &'static str {
        match self {
            Self::PhotoNonconforming => {
                "The photo does not meet the ID-card photo standard; please take a new one."
            }
            Self::PhotoNotMatching => {
                "The photo does not match the person on file; please take a photo of yourself."
            }
            Self::ParticularsMismatch => {
                "The details differ from the household register; please check and correct them."
            }
            Self::AddressOutsideArea => {
                "The delivery address is outside the delivery area; please choose pickup at a nearby point."
            }
            Self::DocumentsMissing => "Documents are missing; please add them.",
            Self::Other => "Another reason; please read the reviewer's note.",
        }
    }

    /// A photo reason counts as a failed photo review (Hefei rule 3).
    pub fn is_photo(self) -> bool {
        matches!(self, Self::PhotoNonconforming | Self::PhotoNotMatching)
    }
}

impl fmt::Display for ReturnReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

// ---------------------------------------------------------------------------------------------
// States and stages

/// Where an application is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationState {
    Draft,
    Submitted,
    UnderReview,
    /// Returned to the citizen for correction (退回补正).
    Returned,
    Rejected,
    Approved,
    AwaitingPayment,
    Paid,
    InProduction,
    Produced,
    QualityChecked,
    Dispatched,
    ReadyForPickup,
    Delivered,
    Collected,
    Closed,
    Cancelled,
    /// Not paid within the payment window (Hefei rule 10: treated as cancelled).
    Expired,
}

/// The part of the process a state belongs to, for per-stage SLA figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Submitted until the police decision (including time returned to the citizen).
    Review,
    /// Approved until paid.
    Payment,
    /// Paid until the card passed quality control.
    Production,
    /// Card on its way or waiting for pickup.
    Logistics,
    /// Finished one way or another; no clock runs.
    Done,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Review,
        Stage::Payment,
        Stage::Production,
        Stage::Logistics,
        Stage::Done,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Review => "review",
            Self::Payment => "payment",
            Self::Production => "production",
            Self::Logistics => "logistics",
            Self::Done => "done",
        }
    }

    pub fn from_code(code: &str) -> Option<Stage> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Review => "审核",
            Self::Payment => "缴费",
            Self::Production => "制证",
            Self::Logistics => "发放",
            Self::Done => "办结",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Self::Review => "Review",
            Self::Payment => "Payment",
            Self::Production => "Production",
            Self::Logistics => "Delivery",
            Self::Done => "Done",
        }
    }
}

impl ApplicationState {
    pub const ALL: [ApplicationState; 18] = [
        Self::Draft,
        Self::Submitted,
        Self::UnderReview,
        Self::Returned,
        Self::Rejected,
        Self::Approved,
        Self::AwaitingPayment,
        Self::Paid,
        Self::InProduction,
        Self::Produced,
        Self::QualityChecked,
        Self::Dispatched,
        Self::ReadyForPickup,
        Self::Delivered,
        Self::Collected,
        Self::Closed,
        Self::Cancelled,
        Self::Expired,
    ];

    /// Stable code, e.g. `"awaiting_payment"` (same as the serde form and the store's column).
    pub fn code(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::UnderReview => "under_review",
            Self::Returned => "returned",
            Self::Rejected => "rejected",
            Self::Approved => "approved",
            Self::AwaitingPayment => "awaiting_payment",
            Self::Paid => "paid",
            Self::InProduction => "in_production",
            Self::Produced => "produced",
            Self::QualityChecked => "quality_checked",
            Self::Dispatched => "dispatched",
            Self::ReadyForPickup => "ready_for_pickup",
            Self::Delivered => "delivered",
            Self::Collected => "collected",
            Self::Closed => "closed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    pub fn from_code(code: &str) -> Option<ApplicationState> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Label shown to the citizen (progress page, SMS).
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Draft => "草稿",
            Self::Submitted => "已提交",
            Self::UnderReview => "审核中",
            Self::Returned => "退回补正",
            Self::Rejected => "不予受理",
            Self::Approved => "审核通过",
            Self::AwaitingPayment => "待缴费",
            Self::Paid => "已缴费",
            Self::InProduction => "制证中",
            Self::Produced => "已制证",
            Self::QualityChecked => "质检合格",
            Self::Dispatched => "已寄出",
            Self::ReadyForPickup => "待领取",
            Self::Delivered => "已签收",
            Self::Collected => "已领取",
            Self::Closed => "已办结",
            Self::Cancelled => "已取消",
            Self::Expired => "逾期未缴费",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Self::Draft => "Draft",
            Self::Submitted => "Submitted",
            Self::UnderReview => "Under review",
            Self::Returned => "Returned for correction",
            Self::Rejected => "Rejected",
            Self::Approved => "Approved",
            Self::AwaitingPayment => "Awaiting payment",
            Self::Paid => "Paid",
            Self::InProduction => "In production",
            Self::Produced => "Produced",
            Self::QualityChecked => "Quality checked",
            Self::Dispatched => "Dispatched",
            Self::ReadyForPickup => "Ready for pickup",
            Self::Delivered => "Delivered",
            Self::Collected => "Collected",
            Self::Closed => "Closed",
            Self::Cancelled => "Cancelled",
            Self::Expired => "Expired (not paid in time)",
        }
    }

    /// No event moves the application out of a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Rejected | Self::Closed | Self::Cancelled | Self::Expired
        )
    }

    /// The SLA stage; `None` for a draft (the clock starts at submission).
    pub fn stage(self) -> Option<Stage> {
        Some(match self {
            Self::Draft => return None,
            Self::Submitted | Self::UnderReview | Self::Returned => Stage::Review,
            Self::Approved | Self::AwaitingPayment => Stage::Payment,
            Self::Paid | Self::InProduction | Self::Produced | Self::QualityChecked => {
                Stage::Production
            }
            Self::Dispatched | Self::ReadyForPickup => Stage::Logistics,
            Self::Rejected
            | Self::Delivered
            | Self::Collected
            | Self::Closed
            | Self::Cancelled
            | Self::Expired => Stage::Done,
        })
    }

    /// The card is in its holder's reach: handed over, or waiting at the pickup point. The
    /// 15-working-day issuance SLA stops at the first such state (waiting for the holder to
    /// come is not police time).
    pub fn card_available(self) -> bool {
        matches!(
            self,
            Self::ReadyForPickup | Self::Delivered | Self::Collected | Self::Closed
        )
    }
}

impl fmt::Display for ApplicationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

// ---------------------------------------------------------------------------------------------
// Events

/// Who cancels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Citizen,
    Officer,
}

impl Actor {
    pub fn code(self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::Officer => "officer",
        }
    }
}

/// Something that happened to an application. Serde form: `{"event": "return", "reasons": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ApplicationEvent {
    Submit,
    StartReview {
        reviewer: i64,
    },
    Return {
        reasons: Vec<ReturnReason>,
    },
    Resubmit,
    Reject {
        reason: String,
    },
    Approve,
    /// The payment order was issued.
    RequestPayment,
    PaymentSucceeded,
    PaymentWindowExpired,
    StartProduction,
    MarkProduced,
    PassQualityCheck,
    FailQualityCheck,
    Dispatch {
        tracking_no: String,
    },
    RouteToPickup {
        point: i64,
    },
    /// EMS could not deliver and returned the card to the issuing office.
    DeliveryFailedReturned,
    Delivered {
        face_verified: bool,
    },
    Collected {
        fingerprint_verified: bool,
    },
    Close,
    Cancel {
        by: Actor,
    },
}

impl ApplicationEvent {
    /// Stable code, e.g. `"payment_succeeded"` (same as the serde tag).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::StartReview { .. } => "start_review",
            Self::Return { .. } => "return",
            Self::Resubmit => "resubmit",
            Self::Reject { .. } => "reject",
            Self::Approve => "approve",
            Self::RequestPayment => "request_payment",
            Self::PaymentSucceeded => "payment_succeeded",
            Self::PaymentWindowExpired => "payment_window_expired",
            Self::StartProduction => "start_production",
            Self::MarkProduced => "mark_produced",
            Self::PassQualityCheck => "pass_quality_check",
            Self::FailQualityCheck => "fail_quality_check",
            Self::Dispatch { .. } => "dispatch",
            Self::RouteToPickup { .. } => "route_to_pickup",
            Self::DeliveryFailedReturned => "delivery_failed_returned",
            Self::Delivered { .. } => "delivered",
            Self::Collected { .. } => "collected",
            Self::Close => "close",
            Self::Cancel { .. } => "cancel",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transition

/// Facts about the application that some moves depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionContext {
    pub channel: Channel,
    /// Chosen delivery method: `Dispatch` needs EMS, `RouteToPickup` needs pickup.
    pub delivery: DeliveryMethod,
    /// Fee waived (居民身份证法 art. 20): no payment step, production starts from `approved`.
    pub fee_waived: bool,
    /// A counter appointment is attached (e.g. for fingerprints); released when the
    /// application ends without a card.
    pub has_appointment: bool,
}

impl Default for TransitionContext {
    fn default() -> Self {
        TransitionContext {
            channel: Channel::Online,
            delivery: DeliveryMethod::Ems,
            fee_waived: false,
            has_appointment: false,
        }
    }
}

/// The outcome of a legal move: the new state and the side effects the caller must carry out
/// (in the same database transaction as the state change, or via the job queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub to: ApplicationState,
    /// Money was taken for this application and must be given back.
    pub refund_due: bool,
    /// Free the attached counter appointment's seat.
    pub release_appointment: bool,
    /// Tell the citizen (push + SMS: 全程查询智能回馈).
    pub notify: bool,
    /// A citizen's cancellation of a submitted online application: increment the daily and
    /// monthly counters of the online route (Hefei rules 8 and 9).
    pub counts_as_online_cancellation: bool,
    /// The application was returned for a photo reason: increment the failed photo reviews
    /// (Hefei rule 3).
    pub failed_photo_review: bool,
}

impl Transition {
    fn to(to: ApplicationState) -> Transition {
        Transition {
            to,
            refund_due: false,
            release_appointment: false,
            notify: false,
            counts_as_online_cancellation: false,
            failed_photo_review: false,
        }
    }

    fn notifying(mut self) -> Transition {
        self.notify = true;
        self
    }
}

/// Why an event is refused in a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The application is finished; nothing happens to it any more.
    #[error("the application is {state} and can no longer change")]
    Terminal { state: ApplicationState },
    /// The event has no meaning in this state.
    #[error("{event} is not possible while the application is {state}")]
    NotAllowed {
        state: ApplicationState,
        event: &'static str,
    },
    #[error("a return needs at least one reason")]
    NoReturnReason,
    #[error("a rejection needs a reason")]
    NoRejectReason,
    #[error("a dispatch needs a tracking number")]
    NoTrackingNumber,
    #[error("the delivery method is {actual}, not {needed}")]
    WrongDeliveryMethod {
        needed: DeliveryMethod,
        actual: DeliveryMethod,
    },
    #[error("the fee is waived; there is nothing to pay")]
    FeeWaived,
    #[error("production starts only after payment")]
    PaymentRequired,
    #[error("the card may be handed over only after face verification")]
    FaceNotVerified,
    #[error("the card may be collected only after fingerprint verification")]
    FingerprintNotVerified,
    #[error("a {by} may not cancel an application that is {state}")]
    CancelNotAllowed {
        by: &'static str,
        state: ApplicationState,
    },
}

impl TransitionError {
    /// Stable machine code, e.g. `"face_not_verified"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Terminal { .. } => "application_terminal",
            Self::NotAllowed { .. } => "transition_not_allowed",
            Self::NoReturnReason => "return_reason_missing",
            Self::NoRejectReason => "reject_reason_missing",
            Self::NoTrackingNumber => "tracking_number_missing",
            Self::WrongDeliveryMethod { .. } => "wrong_delivery_method",
            Self::FeeWaived => "fee_waived",
            Self::PaymentRequired => "payment_required",
            Self::FaceNotVerified => "face_not_verified",
            Self::FingerprintNotVerified => "fingerprint_not_verified",
            Self::CancelNotAllowed { .. } => "cancel_not_allowed",
        }
    }

    pub fn message_zh(&self) -> String {
        match self {
            Self::Terminal { state } => format!("申请已{}，不能再变更。", state.name_zh()),
            Self::NotAllowed { state, .. } => {
                format!("申请当前为“{}”状态，不能进行此操作。", state.name_zh())
            }
            Self::NoReturnReason => "退回补正须至少选择一项原因。".into(),
            Self::NoRejectReason => "不予受理须填写原因。".into(),
            Self::NoTrackingNumber => "寄出须填写邮件单号。".into(),
            Self::WrongDeliveryMethod { actual, .. } => {
                format!("该申请的领证方式为{}，不能进行此操作。", actual.name_zh())
            }
            Self::FeeWaived => "该申请免收工本费，无需缴费。".into(),
            Self::PaymentRequired => "缴费成功后方可制证。".into(),
            Self::FaceNotVerified => "须经人脸核验本人后方可签收证件。".into(),
            Self::FingerprintNotVerified => "须经指纹核验本人后方可领取证件。".into(),
            Self::CancelNotAllowed { state, .. } => {
                format!("申请当前为“{}”状态，不能取消。", state.name_zh())
            }
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            Self::Terminal { state } => format!(
                "The application is {} and can no longer change.",
                state.name_en().to_lowercase()
            ),
            Self::NotAllowed { state, .. } => format!(
                "This is not possible while the application is {}.",
                state.name_en().to_lowercase()
            ),
            Self::NoReturnReason => {
                "Choose at least one reason for returning the application.".into()
            }
            Self::NoRejectReason => "Give a reason for the rejection.".into(),
            Self::NoTrackingNumber => "Enter the tracking number of the dispatch.".into(),
            Self::WrongDeliveryMethod { actual, .. } => format!(
                "The card is to be handed over by {}; this is not possible.",
                actual.name_en().to_lowercase()
            ),
            Self::FeeWaived => {
                "The fee is waived for this application; there is nothing to pay.".into()
            }
            Self::PaymentRequired => "Production starts only after payment.".into(),
            Self::FaceNotVerified => {
                "The card may be handed over only after face verification.".into()
            }
            Self::FingerprintNotVerified => {
                "The card may be collected only after fingerprint verification.".into()
            }
            Self::CancelNotAllowed { state, .. } => format!(
                "The application can no longer be cancelled ({}).",
                state.name_en().to_lowercase()
            ),
        }
    }
}

/// States from which the citizen may cancel: until production starts.
pub fn citizen_may_cancel(state: ApplicationState) -> bool {
    use ApplicationState::*;
    matches!(
        state,
        Draft | Submitted | UnderReview | Returned | Approved | AwaitingPayment | Paid
    )
}

/// States from which an officer may cancel: any non-terminal state before the card leaves the
/// production centre.
pub fn officer_may_cancel(state: ApplicationState) -> bool {
    use ApplicationState::*;
    citizen_may_cancel(state) || matches!(state, InProduction | Produced | QualityChecked)
}

/// Whether a successful payment lies behind this state unless the fee was waived (a
/// cancellation from it is refunded). Of the states after `paid`, only those before the card
/// leaves can be cancelled, so this list is all [`transition`] needs.
fn has_paid(state: ApplicationState) -> bool {
    use ApplicationState::*;
    matches!(state, Paid | InProduction | Produced | QualityChecked)
}

/// The application's state machine: every legal move is here (see the module docs for the
/// diagram and the decisions). On `Err` the state is unchanged.
pub fn transition(
    state: ApplicationState,
    event: &ApplicationEvent,
    ctx: &TransitionContext,
) -> Result<Transition, TransitionError> {
    use ApplicationEvent as E;
    use ApplicationState as S;

    let not_allowed = || TransitionError::NotAllowed {
        state,
        event: event.code(),
    };
    let method = |needed: DeliveryMethod| {
        if ctx.delivery == needed {
            Ok(())
        } else {
            Err(TransitionError::WrongDeliveryMethod {
                needed,
                actual: ctx.delivery,
            })
        }
    };
    // The application ends without a card: free the counter seat if one is attached.
    let ended = |to: ApplicationState| {
        let mut t = Transition::to(to).notifying();
        t.release_appointment = ctx.has_appointment;
        t
    };

    if state.is_terminal() {
        // A payment that raced the timer or a cancellation: refund, stay put.
        return match (state, event) {
            (S::Cancelled | S::Expired, E::PaymentSucceeded) => Ok(Transition {
                refund_due: true,
                ..Transition::to(state).notifying()
            }),
            _ => Err(TransitionError::Terminal { state }),
        };
    }

    match (state, event) {
        (S::Draft, E::Submit) => Ok(Transition::to(S::Submitted)),
        (S::Submitted, E::StartReview { .. }) => Ok(Transition::to(S::UnderReview)),
        (S::UnderReview, E::Return { reasons }) => {
            if reasons.is_empty() {
                return Err(TransitionError::NoReturnReason);
            }
            let mut t = Transition::to(S::Returned).notifying();
            t.failed_photo_review = reasons.iter().any(|r| r.is_photo());
            Ok(t)
        }
        (S::Returned, E::Resubmit) => Ok(Transition::to(S::Submitted)),
        (S::UnderReview, E::Reject { reason }) => {
            if reason.trim().is_empty() {
                return Err(TransitionError::NoRejectReason);
            }
            Ok(ended(S::Rejected))
        }
        (S::UnderReview, E::Approve) => Ok(Transition::to(S::Approved).notifying()),
        (S::Approved, E::RequestPayment) => {
            if ctx.fee_waived {
                return Err(TransitionError::FeeWaived);
            }
            Ok(Transition::to(S::AwaitingPayment).notifying())
        }
        (S::AwaitingPayment, E::PaymentSucceeded) => Ok(Transition::to(S::Paid).notifying()),
        (S::Approved | S::AwaitingPayment, E::PaymentWindowExpired) => {
            if ctx.fee_waived {
                return Err(TransitionError::FeeWaived);
            }
            Ok(ended(S::Expired))
        }
        (S::Approved, E::StartProduction) => {
            if !ctx.fee_waived {
                return Err(TransitionError::PaymentRequired);
            }
            Ok(Transition::to(S::InProduction))
        }
        (S::AwaitingPayment, E::StartProduction) => Err(TransitionError::PaymentRequired),
        (S::Paid, E::StartProduction) => Ok(Transition::to(S::InProduction)),
        (S::InProduction, E::MarkProduced) => Ok(Transition::to(S::Produced)),
        (S::Produced, E::PassQualityCheck) => Ok(Transition::to(S::QualityChecked)),
        (S::Produced, E::FailQualityCheck) => Ok(Transition::to(S::InProduction)),
        (S::QualityChecked, E::Dispatch { tracking_no }) => {
            method(DeliveryMethod::Ems)?;
            if tracking_no.trim().is_empty() {
                return Err(TransitionError::NoTrackingNumber);
            }
            Ok(Transition::to(S::Dispatched).notifying())
        }
        (S::QualityChecked, E::RouteToPickup { .. }) => {
            method(DeliveryMethod::Pickup)?;
            Ok(Transition::to(S::ReadyForPickup).notifying())
        }
        (S::Dispatched, E::DeliveryFailedReturned) => {
            Ok(Transition::to(S::ReadyForPickup).notifying())
        }
        (S::Dispatched, E::Delivered { face_verified }) => {
            if !face_verified {
                return Err(TransitionError::FaceNotVerified);
            }
            Ok(Transition::to(S::Delivered).notifying())
        }
        (
            S::ReadyForPickup,
            E::Collected {
                fingerprint_verified,
            },
        ) => {
            if !fingerprint_verified {
                return Err(TransitionError::FingerprintNotVerified);
            }
            Ok(Transition::to(S::Collected).notifying())
        }
        (S::Delivered | S::Collected, E::Close) => Ok(Transition::to(S::Closed)),
        (_, E::Cancel { by }) => {
            let allowed = match by {
                Actor::Citizen => citizen_may_cancel(state),
                Actor::Officer => officer_may_cancel(state),
            };
            if !allowed {
                return Err(TransitionError::CancelNotAllowed {
                    by: by.code(),
                    state,
                });
            }
            let mut t = ended(S::Cancelled);
            // A fee-waived application reaches production without any payment.
            t.refund_due = has_paid(state) && !ctx.fee_waived;
            // The citizen knows; tell them only when an officer cancels.
            t.notify = *by == Actor::Officer;
            t.counts_as_online_cancellation =
                *by == Actor::Citizen && ctx.channel.is_online() && state != S::Draft;
            Ok(t)
        }
        _ => Err(not_allowed()),
    }
}

#[cfg(test)]
#[path = "applications_tests.rs"]
mod tests;
