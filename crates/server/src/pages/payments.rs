//! Payment pages: the citizen's order (status, and the receipt once paid) and the public receipt check that the
//! receipt's QR code opens, with its PDF. Rules live in `crate::payments`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
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
}

fn status_label(o: &PaymentOrder, p: &PageCtx) -> &'static str {
    shenfen_domain::payments::PaymentStatus::from_code(o.status.as_str()).map(|s| p.lang.pick(s.name_zh(), s.name_en())).unwrap_or("-")
}

async fn order_page(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(order_no): Path<String>) -> Result<Response, AppError> {
    let citizen = match &user.principal {
        Some(Principal::Citizen(c)) => c.clone(),
        Some(_) => return Err(AppError::forbidden()),
        None => return Ok(Redirect::to(&format!("/sign-in?back=/payments/{}", super::urlencode(&order_no))).into_response()),
    };
    let o = service::own_order(&state, &citizen.id, &order_no).await?;
    let receipt = receipt_of(&state, &o).await?;
    let qr = receipt.as_ref().map(|r| qr_svg(&r.verify_url, p.t("pay.receipt_qr"))).unwrap_or_default();
    Ok(render(&OrderPage {
        p: &p,
        item: shenfen_domain::fees::FeeItem::from_code(&o.item).map(|i| p.lang.pick(i.name_zh(), i.name_en()).to_string()).unwrap_or_default(),
        amount: shenfen_domain::fees::format_yuan(o.amount_fen),
        status: o.status.as_str().to_string(),
        status_label: status_label(&o, &p),
        order_no: o.order_no,
        receipt,
        qr,
    }))
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
