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
        .route("/receipts/{order_no}/{token}", get(receipt_check))
        .route("/receipts/{order_no}/{token}/pdf", get(receipt_pdf))
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
    render_order(&state, &p, o, vec![]).await
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
        Ok((channel, provider)) if channel.is_online() => crate::payments::flow::start(&state, provider.as_ref(), &o, channel, &user.ip, &user.actor()).await,
        Ok(_) => Err(AppError::invalid("channel_invalid", "请选择在线支付方式。", "Choose an online way to pay.").on_field("channel")),
        Err(e) => Err(e),
    };
    match started {
        Ok(crate::payments::provider::Started::Redirect(url)) => Ok(Redirect::to(&url).into_response()),
        // QR and form flows belong to the counter and to UnionPay, which the API serves; say so rather than guess.
        Ok(_) => Err(AppError::new(
            axum::http::StatusCode::CONFLICT,
            "channel_not_for_web",
            "该支付方式请在窗口或手机应用中完成。",
            "Finish this way to pay at the counter or in the app.",
        )),
        Err(e) if e.status.is_client_error() || e.status == axum::http::StatusCode::BAD_GATEWAY => {
            let errors = vec![super::FieldError::from_app(&e, p.lang, "channel")];
            let o = service::own_order(&state, &citizen.id, &order_no).await?;
            render_order(&state, &p, o, errors).await
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
