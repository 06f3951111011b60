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
        .routes(routes!(finance_report))
        .routes(routes!(reconciliations, run_reconciliation))
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
    let started = crate::payments::flow::start(&state, provider.as_ref(), &o, channel, &user.ip, &user.actor(), None).await?;
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
    let started = crate::payments::flow::start(&state, provider.as_ref(), &o, channel, &user.1.ip, &user.1.actor(), Some(&point.id)).await?;
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

async fn finance_scope(state: &AppState, user: &StaffUser) -> AppResult<crate::payments::finance::FinanceScope> {
    crate::payments::finance::scope_of(state, &user.0).await
}

fn day_or_today(state: &AppState, day: Option<&str>) -> AppResult<time::Date> {
    match day {
        Some(d) => crate::appointments::parse_day(d),
        None => Ok(crate::appointments::local_now(state).date()),
    }
}

/// A point filter must be a point of the caller's scope.
fn point_in_scope<'a>(scope: &crate::payments::finance::FinanceScope, point: Option<&'a str>) -> AppResult<Option<&'a str>> {
    match point {
        Some(p) if !scope.points.contains_key(p) => Err(AppError::forbidden()),
        other => Ok(other),
    }
}

fn channel_lines(report: &crate::payments::finance::Report) -> Vec<ChannelLine> {
    report
        .channels
        .iter()
        .map(|l| ChannelLine {
            channel_name: PaymentChannel::from_code(&l.channel).map(|c| c.name_zh().to_string()).unwrap_or_default(),
            channel: l.channel.clone(),
            count: l.count,
            amount_fen: l.amount_fen,
            refunded_fen: l.refunded_fen,
        })
        .collect()
}

/// The day's successful payments per channel (finance: administrators, within their scope).
#[utoipa::path(get, path = "/api/v1/finance/totals", tag = "payments", security(("bearer" = [])), params(DayQuery),
    responses((status = 200, body = DayTotals), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn totals(State(state): State<AppState>, user: StaffUser, Query(q): Query<DayQuery>) -> AppResult<Json<DayTotals>> {
    let scope = finance_scope(&state, &user).await?;
    let day = day_or_today(&state, q.day.as_deref())?;
    let point = point_in_scope(&scope, q.point.as_deref())?;
    let report = crate::payments::finance::report(&state, &scope, day, point).await?;
    Ok(Json(DayTotals {
        day: crate::appointments::day_key(day),
        total_fen: report.total_fen,
        smart_share_permille: report.day_share.permille(),
        channels: channel_lines(&report),
    }))
}

/// Smart (non-cash) collection of a point or a day.
#[derive(Serialize, ToSchema)]
pub struct ShareView {
    /// Point id (`null`: paid online) or day `YYYY-MM-DD`.
    pub key: Option<String>,
    pub label: String,
    pub smart: i64,
    pub total: i64,
    pub amount_fen: i64,
    /// Per mille; `null` with no payments.
    pub smart_share_permille: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct RefundLineView {
    pub refund_no: String,
    pub order_no: String,
    pub channel: Option<String>,
    pub amount_fen: i64,
    /// When the refund reached the payer, UTC unix ms.
    pub at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct MismatchView {
    /// `missing_at_us`, `missing_at_provider`, `amount_differs` or `status_differs`.
    pub kind: String,
    /// `payment` or `refund`.
    pub entry: String,
    pub order_no: String,
    pub refund_no: Option<String>,
    pub provider_trade_no: Option<String>,
    pub our_fen: Option<i64>,
    pub provider_fen: Option<i64>,
    pub our_status: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReconTotalsView {
    pub provider_payments: i64,
    pub provider_payment_fen: i64,
    pub provider_refunds: i64,
    pub provider_refund_fen: i64,
    pub our_payments: i64,
    pub our_payment_fen: i64,
    pub our_refunds: i64,
    pub our_refund_fen: i64,
}

/// One provider's reconciliation of one day.
#[derive(Serialize, ToSchema)]
pub struct RunView {
    /// `alipay`, `wechat` or `unionpay`.
    pub provider: String,
    pub day: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// `job` or the staff id who asked.
    pub requested_by: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    pub totals: Option<ReconTotalsView>,
    pub mismatches: Vec<MismatchView>,
}

fn run_view(run: &shenfen_store::payments::ReconRun, mismatches: &[shenfen_store::payments::ReconMismatch]) -> RunView {
    RunView {
        provider: run.provider.clone(),
        day: run.day.clone(),
        status: run.status.clone(),
        requested_by: run.requested_by.clone(),
        started_at: run.started_at,
        finished_at: run.finished_at,
        error: run.error.clone(),
        totals: run.totals.as_ref().map(|t| ReconTotalsView {
            provider_payments: t.provider_payments,
            provider_payment_fen: t.provider_payment_fen,
            provider_refunds: t.provider_refunds,
            provider_refund_fen: t.provider_refund_fen,
            our_payments: t.our_payments,
            our_payment_fen: t.our_payment_fen,
            our_refunds: t.our_refunds,
            our_refund_fen: t.our_refund_fen,
        }),
        mismatches: mismatches
            .iter()
            .map(|m| MismatchView {
                kind: m.kind.clone(),
                entry: m.entry.clone(),
                order_no: m.order_no.clone(),
                refund_no: m.refund_no.clone(),
                provider_trade_no: m.provider_trade_no.clone(),
                our_fen: m.our_fen,
                provider_fen: m.provider_fen,
                our_status: m.our_status.clone(),
            })
            .collect(),
    }
}

/// The finance view of a day.
#[derive(Serialize, ToSchema)]
pub struct FinanceReportView {
    pub day: String,
    /// Collected that day, net of refunds since on those payments.
    pub total_fen: i64,
    pub channels: Vec<ChannelLine>,
    pub smart_share_permille: Option<u32>,
    pub points: Vec<ShareView>,
    /// The last 7 days, oldest first.
    pub days: Vec<ShareView>,
    pub refunds: Vec<RefundLineView>,
    /// Province scope only.
    pub reconciliation: Vec<RunView>,
}

/// The finance view: the day's collection per channel, smart share per point and over 7 days, refunds and (for a
/// province-scoped administrator) the reconciliation runs with their mismatches.
#[utoipa::path(get, path = "/api/v1/finance/report", tag = "payments", security(("bearer" = [])), params(DayQuery),
    responses((status = 200, body = FinanceReportView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn finance_report(State(state): State<AppState>, user: StaffUser, Query(q): Query<DayQuery>) -> AppResult<Json<FinanceReportView>> {
    let scope = finance_scope(&state, &user).await?;
    let day = day_or_today(&state, q.day.as_deref())?;
    let point = point_in_scope(&scope, q.point.as_deref())?;
    let r = crate::payments::finance::report(&state, &scope, day, point).await?;
    let share = |key: Option<String>, label: String, s: &crate::payments::finance::ShareLine| ShareView {
        key,
        label,
        smart: s.smart,
        total: s.total,
        amount_fen: s.amount_fen,
        smart_share_permille: s.permille(),
    };
    Ok(Json(FinanceReportView {
        day: crate::appointments::day_key(day),
        total_fen: r.total_fen,
        channels: channel_lines(&r),
        smart_share_permille: r.day_share.permille(),
        points: r.points.iter().map(|(p, s)| share(p.clone(), scope.point_name(p.as_deref(), crate::i18n::Lang::Zh), s)).collect(),
        days: r.days.iter().map(|(d, s)| share(Some(crate::appointments::day_key(*d)), crate::appointments::day_key(*d), s)).collect(),
        refunds: r.refunds.iter().map(|x| RefundLineView { refund_no: x.refund_no.clone(), order_no: x.order_no.clone(), channel: x.channel.clone(), amount_fen: x.amount_fen, at: x.at }).collect(),
        reconciliation: r.runs.iter().map(|(run, ms)| run_view(run, ms)).collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReconQuery {
    /// `YYYY-MM-DD` (China time); default today.
    pub day: Option<String>,
}

fn require_whole(scope: &crate::payments::finance::FinanceScope) -> AppResult<()> {
    if scope.whole { Ok(()) } else { Err(AppError::forbidden()) }
}

/// The reconciliation runs of a day (province-scoped administrators).
#[utoipa::path(get, path = "/api/v1/finance/reconciliations", tag = "payments", security(("bearer" = [])), params(ReconQuery),
    responses((status = 200, body = Vec<RunView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reconciliations(State(state): State<AppState>, user: StaffUser, Query(q): Query<ReconQuery>) -> AppResult<Json<Vec<RunView>>> {
    require_whole(&finance_scope(&state, &user).await?)?;
    let day = day_or_today(&state, q.day.as_deref())?;
    let mut out = Vec::new();
    for run in state.store.reconciliation_runs(&crate::appointments::day_key(day)).await? {
        let ms = state.store.reconciliation_mismatches(&run.id).await?;
        out.push(run_view(&run, &ms));
    }
    Ok(Json(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconRequest {
    /// `alipay`, `wechat` or `unionpay`.
    pub provider: String,
    /// `YYYY-MM-DD` (China time).
    pub day: String,
}

/// Reconcile (again) one provider's statement of a day now: the statement is fetched from the provider and
/// compared with our records (audited). 409 `reconciliation_busy` when another server is doing it.
#[utoipa::path(post, path = "/api/v1/finance/reconciliations", tag = "payments", security(("bearer" = [])), request_body = ReconRequest,
    responses((status = 200, body = RunView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn run_reconciliation(State(state): State<AppState>, user: StaffUser, ApiJson(req): ApiJson<ReconRequest>) -> AppResult<Json<RunView>> {
    require_whole(&finance_scope(&state, &user).await?)?;
    let day = crate::appointments::parse_day(&req.day)?;
    let provider = shenfen_domain::payments::Provider::from_code(&req.provider)
        .and_then(|p| state.payment_providers.as_ref().and_then(|ps| ps.get(p)))
        .ok_or_else(|| AppError::invalid("provider_invalid", "支付渠道无效。", "Unknown payment provider.").on_field("provider"))?;
    if crate::payments::recon::run_on_demand(&state, provider.as_ref(), day, &user.1.actor()).await? == crate::payments::recon::RunOutcome::Skipped {
        return Err(AppError::new(StatusCode::CONFLICT, "reconciliation_busy", "该对账正在进行中，请稍后查看结果。", "This reconciliation is in progress; look again shortly."));
    }
    let runs = state.store.reconciliation_runs(&crate::appointments::day_key(day)).await?;
    let run = runs.into_iter().find(|r| r.provider == req.provider).ok_or_else(AppError::internal)?;
    let ms = state.store.reconciliation_mismatches(&run.id).await?;
    Ok(Json(run_view(&run, &ms)))
}
