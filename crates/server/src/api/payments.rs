//! Payments API: citizens' orders (with `Idempotency-Key`), counter cash and shifts, the finance totals. Rules live
//! in `crate::payments::service`; provider notifications arrive at `/callbacks/payments/{provider}`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use shenfen_domain::fees::FeeItem;
use shenfen_domain::payments::PaymentChannel;
use shenfen_store::{PaymentOrder, Role};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ErrorBody};
use crate::app::AppState;
use crate::auth::{CitizenUser, StaffUser};
use crate::error::{AppError, AppResult};
use crate::payments::service::{self, NewOrder};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_order, my_orders))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
        .routes(routes!(start_payment))
        .routes(routes!(counter_qr))
        .routes(routes!(counter_order))
        .routes(routes!(record_cash))
        .routes(routes!(close_shift))
        .routes(routes!(totals))
}

/// A payment order as callers see it. Amounts are integer fen.
#[derive(Serialize, ToSchema)]
pub struct OrderView {
    pub order_no: String,
    pub reference: String,
    /// Fee item code, e.g. `renewal`.
    pub item: String,
    pub item_name: String,
    pub amount_fen: i64,
    /// `created`, `started`, `submitted`, `success`, `failed`, `cancelled`, `expired` or `error`.
    pub status: String,
    pub channel: Option<String>,
    pub failure_code: Option<String>,
    pub refunded_fen: i64,
    /// UTC unix milliseconds.
    pub created_at: i64,
    pub expires_at: i64,
    pub paid_at: Option<i64>,
}

impl From<&PaymentOrder> for OrderView {
    fn from(o: &PaymentOrder) -> Self {
        OrderView {
            order_no: o.order_no.clone(),
            reference: o.reference.clone(),
            item: o.item.clone(),
            item_name: FeeItem::from_code(&o.item).map(|i| i.name_zh().to_string()).unwrap_or_default(),
            amount_fen: o.amount_fen,
            status: o.status.as_str().to_string(),
            channel: o.channel.clone(),
            failure_code: o.failure_code.clone(),
            refunded_fen: o.refunded_fen,
            created_at: o.created_at,
            expires_at: o.expires_at,
            paid_at: o.paid_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// What is paid for, e.g. `application:<id>` (letters, digits, `:_-`; at most 64).
    pub reference: String,
    /// `first_issue`, `renewal`, `replacement_lost`, `replacement_damaged`, `temporary_card` or `postage`. The amount
    /// comes from the fee schedule.
    pub item: String,
}

fn idempotency_key(headers: &HeaderMap) -> AppResult<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.to_string())).map_err(|_| {
            AppError::bad_request("idempotency_key_invalid", "Idempotency-Key 应为可见 ASCII 字符。", "Idempotency-Key must be visible ASCII.")
        }),
    }
}

/// Create a payment order. With `Idempotency-Key`, a repeat with the same body returns the first order (200) and a
/// repeat with another body is refused (409).
#[utoipa::path(post, path = "/api/v1/payments", tag = "payments", security(("bearer" = [])), request_body = OrderRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters")),
    responses((status = 201, body = OrderView), (status = 200, body = OrderView, description = "replayed"), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_order(State(state): State<AppState>, CitizenUser(citizen, _): CitizenUser, headers: HeaderMap, ApiJson(req): ApiJson<OrderRequest>) -> AppResult<(StatusCode, Json<OrderView>)> {
    let key = idempotency_key(&headers)?;
    let (o, created) = service::create_order(&state, Some(&citizen.id), &citizen.id, &NewOrder { reference: req.reference, item: req.item }, key.as_deref()).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(OrderView::from(&o))))
}

/// My payment orders, newest first.
#[utoipa::path(get, path = "/api/v1/payments", tag = "payments", security(("bearer" = [])), responses((status = 200, body = Vec<OrderView>)))]
async fn my_orders(State(state): State<AppState>, CitizenUser(citizen, _): CitizenUser) -> AppResult<Json<Vec<OrderView>>> {
    Ok(Json(state.store.orders_of(&citizen.id).await?.iter().map(OrderView::from).collect()))
}

/// One of my orders. The status is ours, kept current by notifications and queries to the provider; a browser
/// returning from a cashier page proves nothing.
#[utoipa::path(get, path = "/api/v1/payments/{order_no}", tag = "payments", security(("bearer" = [])), params(("order_no" = String, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody)))]
async fn get_order(State(state): State<AppState>, CitizenUser(citizen, _): CitizenUser, Path(order_no): Path<String>) -> AppResult<Json<OrderView>> {
    Ok(Json(OrderView::from(&service::own_order(&state, &citizen.id, &order_no).await?)))
}

/// Cancel an unpaid order of mine.
#[utoipa::path(post, path = "/api/v1/payments/{order_no}/cancel", tag = "payments", security(("bearer" = [])), params(("order_no" = String, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "payment_final")))]
async fn cancel_order(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, Path(order_no): Path<String>) -> AppResult<Json<OrderView>> {
    let o = service::own_order(&state, &citizen.id, &order_no).await?;
    Ok(Json(OrderView::from(&service::cancel(&state, &o, &user.actor()).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// `alipay`, `wechat` or `unionpay` (online).
    pub channel: String,
}

/// A form field the browser posts to the provider (UnionPay).
#[derive(Serialize, ToSchema)]
pub struct FormField {
    pub name: String,
    pub value: String,
}

/// Where the payer goes next.
#[derive(Serialize, ToSchema)]
pub struct StartView {
    /// `redirect` (open `url`), `qr` (show `qr` as a QR code) or `form` (post `form_fields` to `url`).
    pub kind: String,
    pub url: Option<String>,
    pub qr: Option<String>,
    pub form_fields: Vec<FormField>,
}

impl From<crate::payments::provider::Started> for StartView {
    fn from(s: crate::payments::provider::Started) -> Self {
        use crate::payments::provider::Started;
        match s {
            Started::Redirect(url) => StartView { kind: "redirect".into(), url: Some(url), qr: None, form_fields: vec![] },
            Started::Qr(qr) => StartView { kind: "qr".into(), url: None, qr: Some(qr), form_fields: vec![] },
            Started::Form { action, fields } => StartView {
                kind: "form".into(),
                url: Some(action),
                qr: None,
                form_fields: fields.into_iter().map(|(name, value)| FormField { name, value }).collect(),
            },
        }
    }
}

/// Pay one of my orders online: opens the provider order and says where to go (the cashier page). The outcome
/// arrives by the provider's notification; poll the order, never trust the return page.
#[utoipa::path(post, path = "/api/v1/payments/{order_no}/start", tag = "payments", security(("bearer" = [])), params(("order_no" = String, Path)), request_body = StartBody,
    responses((status = 200, body = StartView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn start_payment(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, Path(order_no): Path<String>, ApiJson(req): ApiJson<StartBody>) -> AppResult<Json<StartView>> {
    let o = service::own_order(&state, &citizen.id, &order_no).await?;
    let (channel, provider) = crate::payments::provider_for(&state, &req.channel)?;
    if !channel.is_online() {
        return Err(AppError::invalid("channel_invalid", "请选择在线支付方式。", "Choose an online way to pay.").on_field("channel"));
    }
    let started = crate::payments::flow::start(&state, provider.as_ref(), &o, channel, &user.ip, &user.actor()).await?;
    Ok(Json(StartView::from(started)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterQrBody {
    /// `alipay_qr` or `wechat_qr`.
    pub channel: String,
    pub point: String,
}

/// Counter: a QR code for the applicant to scan with Alipay or WeChat (precreate / Native).
#[utoipa::path(post, path = "/api/v1/counter/payments/{order_no}/qr", tag = "counter", security(("bearer" = [])), params(("order_no" = String, Path)), request_body = CounterQrBody,
    responses((status = 200, body = StartView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn counter_qr(State(state): State<AppState>, user: StaffUser, Path(order_no): Path<String>, ApiJson(req): ApiJson<CounterQrBody>) -> AppResult<Json<StartView>> {
    require_counter(&user)?;
    let point = crate::appointments::point(&state, &req.point).await?;
    if !crate::appointments::may_run_counter(&state, &user.0, &point).await? {
        return Err(AppError::forbidden());
    }
    let o = state.store.order_by_no(&order_no).await?.ok_or_else(service::order_not_found)?;
    let (channel, provider) = crate::payments::provider_for(&state, &req.channel)?;
    if !matches!(channel, PaymentChannel::AlipayQr | PaymentChannel::WechatQr) {
        return Err(AppError::invalid("channel_invalid", "窗口扫码请选择支付宝或微信。", "At the counter choose Alipay or WeChat QR.").on_field("channel"));
    }
    let started = crate::payments::flow::start(&state, provider.as_ref(), &o, channel, &user.1.ip, &user.1.actor()).await?;
    Ok(Json(StartView::from(started)))
}

fn require_counter(user: &StaffUser) -> AppResult<()> {
    if matches!(user.0.role, Role::Counter | Role::Admin) { Ok(()) } else { Err(AppError::forbidden()) }
}

/// Counter staff create an order for an applicant in front of them (paid by QR or cash).
#[utoipa::path(post, path = "/api/v1/counter/payments", tag = "counter", security(("bearer" = [])), request_body = OrderRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = OrderView), (status = 200, body = OrderView, description = "replayed"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn counter_order(State(state): State<AppState>, user: StaffUser, headers: HeaderMap, ApiJson(req): ApiJson<OrderRequest>) -> AppResult<(StatusCode, Json<OrderView>)> {
    require_counter(&user)?;
    let key = idempotency_key(&headers)?;
    let (o, created) = service::create_order(&state, None, &user.0.id, &NewOrder { reference: req.reference, item: req.item }, key.as_deref()).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(OrderView::from(&o))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CashRequest {
    /// The counter point where the cash was taken.
    pub point: String,
    /// Cash handed over, integer fen (e.g. 5000 for a 50-yuan note). Yuan strings are refused.
    pub received_fen: i64,
}

#[derive(Serialize, ToSchema)]
pub struct CashReceipt {
    pub order: OrderView,
    /// Change to give back, fen.
    pub change_fen: i64,
}

/// Record a cash payment at the counter (audited; opens the staff member's cash shift if needed).
#[utoipa::path(post, path = "/api/v1/counter/payments/{order_no}/cash", tag = "counter", security(("bearer" = [])), params(("order_no" = String, Path)), request_body = CashRequest,
    responses((status = 200, body = CashReceipt), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn record_cash(State(state): State<AppState>, user: StaffUser, Path(order_no): Path<String>, ApiJson(req): ApiJson<CashRequest>) -> AppResult<Json<CashReceipt>> {
    require_counter(&user)?;
    let point = crate::appointments::point(&state, &req.point).await?;
    if !crate::appointments::may_run_counter(&state, &user.0, &point).await? {
        return Err(AppError::forbidden());
    }
    let (o, change_fen) = service::record_cash(&state, &user.0, &point.id, &order_no, req.received_fen, &user.1.actor()).await?;
    Ok(Json(CashReceipt { order: OrderView::from(&o), change_fen }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseShiftRequest {
    /// Cash counted in the drawer, fen.
    pub counted_fen: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ShiftView {
    pub point: String,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    /// Cash recorded in the shift, fen.
    pub expected_fen: Option<i64>,
    pub counted_fen: Option<i64>,
    /// counted − expected.
    pub difference_fen: Option<i64>,
}

/// Close my cash shift with the counted total (audited).
#[utoipa::path(post, path = "/api/v1/counter/shift/close", tag = "counter", security(("bearer" = [])), request_body = CloseShiftRequest,
    responses((status = 200, body = ShiftView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "no_open_shift")))]
async fn close_shift(State(state): State<AppState>, user: StaffUser, ApiJson(req): ApiJson<CloseShiftRequest>) -> AppResult<Json<ShiftView>> {
    require_counter(&user)?;
    if req.counted_fen < 0 {
        return Err(AppError::invalid("amount_invalid", "金额不能为负数。", "The amount cannot be negative.").on_field("counted_fen"));
    }
    let s = state.store.close_shift(&user.0.id, req.counted_fen, state.now_ms()).await.map_err(|e| match e {
        shenfen_store::StoreError::Conflict("no_open_shift") => AppError::new(StatusCode::CONFLICT, "no_open_shift", "您没有未结束的收款班次。", "You have no open cash shift."),
        other => other.into(),
    })?;
    state
        .audit(&user.1.actor(), "payment.shift_close", &format!("shift:{}", s.id), serde_json::json!({ "expected_fen": s.expected_fen, "counted_fen": s.counted_fen }))
        .await?;
    Ok(Json(ShiftView {
        point: s.point_id,
        opened_at: s.opened_at,
        closed_at: s.closed_at,
        difference_fen: s.counted_fen.zip(s.expected_fen).map(|(c, e)| c - e),
        expected_fen: s.expected_fen,
        counted_fen: s.counted_fen,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayQuery {
    /// `YYYY-MM-DD` (China time); default today.
    pub day: Option<String>,
    pub point: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ChannelLine {
    pub channel: String,
    pub channel_name: String,
    pub count: i64,
    pub amount_fen: i64,
    pub refunded_fen: i64,
}

#[derive(Serialize, ToSchema)]
pub struct DayTotals {
    pub day: String,
    pub channels: Vec<ChannelLine>,
    pub total_fen: i64,
    /// Share of payments collected by smart (non-cash) channels, per mille; `null` with no payments.
    pub smart_share_permille: Option<u32>,
}

/// The day's successful payments per channel (finance: administrators).
#[utoipa::path(get, path = "/api/v1/finance/totals", tag = "payments", security(("bearer" = [])), params(DayQuery),
    responses((status = 200, body = DayTotals), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn totals(State(state): State<AppState>, user: StaffUser, Query(q): Query<DayQuery>) -> AppResult<Json<DayTotals>> {
    if user.0.role != Role::Admin {
        return Err(AppError::forbidden());
    }
    let day = match &q.day {
        Some(d) => crate::appointments::parse_day(d)?,
        None => crate::appointments::local_now(&state).date(),
    };
    let from = crate::appointments::local_to_ms(day.midnight());
    let to = from + 86_400_000;
    let lines = state.store.channel_totals(from, to, q.point.as_deref()).await?;
    let (smart, all): (i64, i64) = lines.iter().fold((0, 0), |(s, a), l| {
        let is_smart = PaymentChannel::from_code(&l.channel).is_some_and(|c| c.is_smart());
        (s + if is_smart { l.count } else { 0 }, a + l.count)
    });
    Ok(Json(DayTotals {
        day: crate::appointments::day_key(day),
        total_fen: lines.iter().map(|l| l.amount_fen - l.refunded_fen).sum(),
        smart_share_permille: shenfen_domain::payments::smart_share_permille(smart as u64, all as u64),
        channels: lines
            .into_iter()
            .map(|l| ChannelLine {
                channel_name: PaymentChannel::from_code(&l.channel).map(|c| c.name_zh().to_string()).unwrap_or_default(),
                channel: l.channel,
                count: l.count,
                amount_fen: l.amount_fen,
                refunded_fen: l.refunded_fen,
            })
            .collect(),
    }))
}
