//! Payment pages: the citizen's order (status, and the receipt once paid) and the public receipt check that the
//! receipt's QR code opens, with its PDF. Rules live in `crate::payments`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum::routing::{get, post};
use serde::Deserialize;
use shenfen_store::PaymentOrder;

use super::{PageCtx, qr_svg, render};
use crate::app::AppState;
use crate::auth::{MaybeUser, Principal};
use crate::error::AppError;
use crate::payments::receipt::Receipt;
use crate::payments::service;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/payments/{order_no}", get(order_page))
        .route("/payments/{order_no}/pay", post(pay))
        .route("/counter/payments", get(counter_pay).post(counter_create))
        .route("/counter/payments/{order_no}/take", post(counter_take))
        .route("/receipts/{order_no}/{token}", get(receipt_check))
        .route("/receipts/{order_no}/{token}/pdf", get(receipt_pdf))
        .route("/static/pay.js", get(|| async { ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")], include_str!("../../static/pay.js")) }))
}

/// The pay pages' policy: as everywhere, but forms (and the redirects after them) may also lead to the providers'
/// cashiers, which the site-wide `form-action 'self'` would block.
fn with_pay_csp(state: &AppState, mut resp: Response) -> Response {
    let origins = state.payment_providers.as_ref().map(|p| p.form_origins.join(" ")).unwrap_or_default();
    let csp = format!("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self' {origins}; base-uri 'none'");
    if let Ok(v) = axum::http::HeaderValue::from_str(csp.trim_end()) {
        resp.headers_mut().insert(axum::http::header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

#[derive(Template)]
#[template(path = "payment_redirect.html")]
struct RedirectPage<'a> {
    p: &'a PageCtx,
    order_no: String,
    provider: &'static str,
    action: String,
    fields: Vec<(String, String)>,
}

async fn payer_of(state: &AppState, o: &PaymentOrder) -> Result<Option<String>, AppError> {
    Ok(match &o.citizen_id {
        Some(id) => state.store.citizen(id).await?.and_then(|c| c.name_masked),
        None => None,
    })
}

async fn receipt_of(state: &AppState, o: &PaymentOrder) -> Result<Option<Receipt>, AppError> {
    let payer = payer_of(state, o).await?;
    Ok(Receipt::of(o, payer.as_deref(), &state.config.public_url, &state.keys.receipt_token(&o.order_no)))
}

#[derive(Template)]
#[template(path = "payment.html")]
struct OrderPage<'a> {
    p: &'a PageCtx,
    order_no: String,
    item: String,
    amount: String,
    status: String,
    status_label: &'static str,
    receipt: Option<Receipt>,
    qr: String,
    /// Online channels this instance can take, offered while the order is unpaid.
    channels: Vec<ChannelOpt>,
    errors: Vec<super::FieldError>,
}

struct ChannelOpt {
    code: &'static str,
    label: &'static str,
}

fn online_channels(state: &AppState, p: &PageCtx) -> Vec<ChannelOpt> {
    use shenfen_domain::payments::PaymentChannel;
    PaymentChannel::ALL
        .into_iter()
        .filter(|c| c.is_online())
        .filter(|c| c.provider().and_then(|pr| state.payment_providers.as_ref().and_then(|ps| ps.get(pr))).is_some())
        .map(|c| ChannelOpt { code: c.code(), label: p.lang.pick(c.name_zh(), c.name_en()) })
        .collect()
}

fn status_label(o: &PaymentOrder, p: &PageCtx) -> &'static str {
    shenfen_domain::payments::PaymentStatus::from_code(o.status.as_str()).map(|s| p.lang.pick(s.name_zh(), s.name_en())).unwrap_or("-")
}

fn citizen_of(user: &MaybeUser, order_no: &str) -> Result<shenfen_store::Citizen, Response> {
    match &user.principal {
        Some(Principal::Citizen(c)) => Ok(c.clone()),
        Some(_) => Err(AppError::forbidden().into_response()),
        None => Err(Redirect::to(&format!("/sign-in?back=/payments/{}", super::urlencode(order_no))).into_response()),
    }
}

async fn order_page(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(order_no): Path<String>) -> Result<Response, AppError> {
    let citizen = match citizen_of(&user, &order_no) {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let o = service::own_order(&state, &citizen.id, &order_no).await?;
    Ok(with_pay_csp(&state, render_order(&state, &p, o, vec![]).await?))
}

async fn render_order(state: &AppState, p: &PageCtx, o: PaymentOrder, errors: Vec<super::FieldError>) -> Result<Response, AppError> {
    let receipt = receipt_of(state, &o).await?;
    let qr = receipt.as_ref().map(|r| qr_svg(&r.verify_url, p.t("pay.receipt_qr"))).unwrap_or_default();
    let payable = matches!(o.status, shenfen_store::PaymentStatus::Created | shenfen_store::PaymentStatus::Started);
    let status = if errors.is_empty() { axum::http::StatusCode::OK } else { axum::http::StatusCode::UNPROCESSABLE_ENTITY };
    Ok(super::render_status(status, &OrderPage {
        p: &p,
        item: shenfen_domain::fees::FeeItem::from_code(&o.item).map(|i| p.lang.pick(i.name_zh(), i.name_en()).to_string()).unwrap_or_default(),
        amount: shenfen_domain::fees::format_yuan(o.amount_fen),
        status: o.status.as_str().to_string(),
        status_label: status_label(&o, p),
        order_no: o.order_no,
        receipt,
        qr,
        channels: if payable { online_channels(state, p) } else { vec![] },
        errors,
    }))
}

#[derive(Deserialize)]
struct PayForm {
    #[serde(default)]
    channel: String,
}

/// The pay button: opens the provider order and sends the browser to the provider's cashier. The outcome comes by
/// the provider's notification; the return page shows our own record.
async fn pay(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(order_no): Path<String>, Form(f): Form<PayForm>) -> Result<Response, AppError> {
    let citizen = match citizen_of(&user, &order_no) {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let o = service::own_order(&state, &citizen.id, &order_no).await?;
    let started = match crate::payments::provider_for(&state, &f.channel) {
        Ok((channel, provider)) if channel.is_online() => crate::payments::flow::start(&state, provider.as_ref(), &o, channel, &user.ip, &user.actor(), None).await,
        Ok(_) => Err(AppError::invalid("channel_invalid", "请选择在线支付方式。", "Choose an online way to pay.").on_field("channel")),
        Err(e) => Err(e),
    };
    match started {
        Ok(crate::payments::provider::Started::Redirect(url)) => Ok(with_pay_csp(&state, Redirect::to(&url).into_response())),
        // UnionPay: the browser itself posts the signed front transaction to the gateway.
        Ok(crate::payments::provider::Started::Form { action, fields }) => {
            let provider = p.lang.pick(shenfen_domain::payments::PaymentChannel::Unionpay.name_zh(), shenfen_domain::payments::PaymentChannel::Unionpay.name_en());
            Ok(with_pay_csp(&state, render(&RedirectPage { p: &p, order_no, provider, action, fields })))
        }
        // QR flows belong to the counter; say so rather than guess.
        Ok(crate::payments::provider::Started::Qr(_)) => Err(AppError::new(
            axum::http::StatusCode::CONFLICT,
            "channel_not_for_web",
            "该支付方式请在窗口或手机应用中完成。",
            "Finish this way to pay at the counter or in the app.",
        )),
        Err(e) if e.status.is_client_error() || e.status == axum::http::StatusCode::BAD_GATEWAY => {
            let errors = vec![super::FieldError::from_app(&e, p.lang, "channel")];
            let o = service::own_order(&state, &citizen.id, &order_no).await?;
            Ok(with_pay_csp(&state, render_order(&state, &p, o, errors).await?))
        }
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "receipt_check.html")]
struct CheckPage<'a> {
    p: &'a PageCtx,
    r: Receipt,
    pdf_href: String,
}

/// The order a verification link names, if the link is ours and the order is paid.
async fn verified(state: &AppState, order_no: &str, token: &str) -> Result<(PaymentOrder, Receipt), AppError> {
    if order_no.len() > 64 || !state.keys.receipt_token_ok(order_no, token) {
        return Err(receipt_invalid());
    }
    let o = state.store.order_by_no(order_no).await?.ok_or_else(receipt_invalid)?;
    let r = receipt_of(state, &o).await?.ok_or_else(receipt_invalid)?;
    Ok((o, r))
}

fn receipt_invalid() -> AppError {
    AppError::new(axum::http::StatusCode::NOT_FOUND, "receipt_invalid", "未查到该缴费凭证：凭证无效或订单未支付。", "No such receipt: the receipt is not valid or the order is not paid.")
}

async fn receipt_check(State(state): State<AppState>, p: PageCtx, Path((order_no, token)): Path<(String, String)>) -> Result<Response, AppError> {
    let (_, r) = verified(&state, &order_no, &token).await?;
    Ok(render(&CheckPage { p: &p, pdf_href: format!("/receipts/{order_no}/{token}/pdf"), r }))
}

async fn receipt_pdf(State(state): State<AppState>, Path((order_no, token)): Path<(String, String)>) -> Result<Response, AppError> {
    let (o, r) = verified(&state, &order_no, &token).await?;
    Ok((
        [
            (CONTENT_TYPE, "application/pdf".to_string()),
            (CONTENT_DISPOSITION, format!("inline; filename=\"receipt-{}.pdf\"", o.order_no)),
            (CACHE_CONTROL, "no-store".to_string()),
        ],
        r.pdf(),
    )
        .into_response())
}

// ----- counter: take the fee by QR or cash ------------------------------------------------------------------

struct ItemOpt {
    code: &'static str,
    label: String,
}

#[derive(Template)]
#[template(path = "counter_payment.html")]
struct CounterPayPage<'a> {
    p: &'a PageCtx,
    point_id: String,
    point_name: String,
    items: Vec<ItemOpt>,
    order: Option<CounterOrder>,
    qr: String,
    notice: Option<String>,
    errors: Vec<super::FieldError>,
}

struct CounterOrder {
    order_no: String,
    item: String,
    amount: String,
    status: String,
    status_label: &'static str,
    paid: bool,
    receipt_href: String,
}

#[derive(Deserialize, Default)]
struct CounterPayQuery {
    #[serde(default)]
    point: String,
    #[serde(default)]
    order: String,
    #[serde(default)]
    change: Option<i64>,
}

async fn render_counter_pay(state: &AppState, p: &PageCtx, pt: &shenfen_store::AcceptancePoint, order_no: &str, qr_payload: Option<&str>, notice: Option<String>, errors: Vec<super::FieldError>) -> Result<Response, AppError> {
    let schedule = shenfen_domain::fees::FeeSchedule { postage_fen: state.config.postage_fen };
    let items = shenfen_domain::fees::FeeItem::ALL
        .into_iter()
        .filter(|i| *i != shenfen_domain::fees::FeeItem::Postage)
        .map(|i| ItemOpt { code: i.code(), label: format!("{} ¥{}", p.lang.pick(i.name_zh(), i.name_en()), shenfen_domain::fees::format_yuan(schedule.amount_fen(i))) })
        .collect();
    let order = match state.store.order_by_no(order_no).await? {
        // Only orders taken at the counter (no citizen) are shown here.
        Some(o) if !order_no.is_empty() && o.citizen_id.is_none() => Some(CounterOrder {
            item: shenfen_domain::fees::FeeItem::from_code(&o.item).map(|i| p.lang.pick(i.name_zh(), i.name_en()).to_string()).unwrap_or_default(),
            amount: shenfen_domain::fees::format_yuan(o.amount_fen),
            status: o.status.as_str().to_string(),
            status_label: status_label(&o, p),
            paid: o.status == shenfen_store::PaymentStatus::Success,
            receipt_href: format!("/receipts/{}/{}", o.order_no, state.keys.receipt_token(&o.order_no)),
            order_no: o.order_no,
        }),
        _ => None,
    };
    let qr = qr_payload.map(|q| qr_svg(q, p.t("counter_pay.qr_label"))).unwrap_or_default();
    let status = if errors.is_empty() { axum::http::StatusCode::OK } else { axum::http::StatusCode::UNPROCESSABLE_ENTITY };
    Ok(super::render_status(status, &CounterPayPage { p, point_id: pt.id.clone(), point_name: pt.name.clone(), items, order, qr, notice, errors }))
}

async fn counter_pay(State(state): State<AppState>, p: PageCtx, user: MaybeUser, axum::extract::Query(q): axum::extract::Query<CounterPayQuery>) -> Result<Response, AppError> {
    let (_, pt) = match super::appointments::counter_form_point(&state, &user, &q.point).await {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let notice = q.change.map(|c| p.t("counter_pay.done_cash").replace("{change}", &shenfen_domain::fees::format_yuan(c)));
    render_counter_pay(&state, &p, &pt, &q.order, None, notice, vec![]).await
}

#[derive(Deserialize)]
struct CounterOrderForm {
    #[serde(default)]
    point: String,
    #[serde(default)]
    item: String,
}

async fn counter_create(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<CounterOrderForm>) -> Result<Response, AppError> {
    let (staff, pt) = match super::appointments::counter_form_point(&state, &user, &f.point).await {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let reference = format!("counter:{}", shenfen_store::new_id().replace('-', ""));
    match service::create_order(&state, None, &staff.id, &service::NewOrder { reference, item: f.item }, None).await {
        Ok((o, _)) => Ok(Redirect::to(&format!("/counter/payments?point={}&order={}", super::urlencode(&pt.id), o.order_no)).into_response()),
        Err(e) if e.status.is_client_error() => render_counter_pay(&state, &p, &pt, "", None, None, vec![super::FieldError::from_app(&e, p.lang, "item")]).await,
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct CounterTakeForm {
    #[serde(default)]
    point: String,
    /// `alipay_qr`, `wechat_qr` or `cash`.
    #[serde(default)]
    channel: String,
    /// Cash handed over, in yuan as typed (e.g. `50` or `50.00`).
    #[serde(default)]
    received: String,
}

async fn counter_take(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(order_no): Path<String>, Form(f): Form<CounterTakeForm>) -> Result<Response, AppError> {
    let (staff, pt) = match super::appointments::counter_form_point(&state, &user, &f.point).await {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let o = match state.store.order_by_no(&order_no).await? {
        Some(o) if o.citizen_id.is_none() => o,
        _ => return Err(service::order_not_found()),
    };
    let result: Result<Response, AppError> = if f.channel == "cash" {
        match shenfen_gateways::amount::parse_yuan_string(f.received.trim()).ok().and_then(|v| i64::try_from(v).ok()) {
            None => Err(AppError::invalid("amount_invalid", "请输入收取的现金金额（元），如 50 或 50.00。", "Enter the cash received in yuan, e.g. 50 or 50.00.").on_field("received")),
            Some(received_fen) => service::record_cash(&state, &staff, &pt.id, &o.order_no, received_fen, &user.actor())
                .await
                .map(|(o, change)| Redirect::to(&format!("/counter/payments?point={}&order={}&change={change}", super::urlencode(&pt.id), o.order_no)).into_response()),
        }
    } else {
        match crate::payments::provider_for(&state, &f.channel) {
            Ok((channel, provider)) if matches!(channel, shenfen_domain::payments::PaymentChannel::AlipayQr | shenfen_domain::payments::PaymentChannel::WechatQr) => {
                match crate::payments::flow::start(&state, provider.as_ref(), &o, channel, &user.ip, &user.actor(), Some(&pt.id)).await {
                    Ok(crate::payments::provider::Started::Qr(payload)) => return render_counter_pay(&state, &p, &pt, &o.order_no, Some(&payload), None, vec![]).await,
                    Ok(_) => Err(AppError::internal()),
                    Err(e) => Err(e),
                }
            }
            Ok(_) => Err(AppError::invalid("channel_invalid", "请选择支付宝扫码、微信扫码或现金。", "Choose Alipay QR, WeChat QR or cash.").on_field("channel")),
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(r) => Ok(r),
        Err(e) if e.status.is_client_error() || e.status == axum::http::StatusCode::BAD_GATEWAY => {
            render_counter_pay(&state, &p, &pt, &o.order_no, None, None, vec![super::FieldError::from_app(&e, p.lang, "channel")]).await
        }
        Err(e) => Err(e),
    }
}
