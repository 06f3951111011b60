//! The finance view (财务对账): a day's collection per channel, refunds, the share of smart (non-cash) collection
//! per point and over the last days, the reconciliation with each provider's statement (run on demand here), and
//! CSV exports. Figures and scope rules live in `crate::payments::finance`.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use shenfen_domain::payments::{PaymentChannel, Provider};
use shenfen_store::Staff;
use time::Date;

use super::{PageCtx, render, urlencode};
use crate::app::AppState;
use crate::auth::{MaybeUser, Principal};
use crate::error::AppError;
use crate::i18n::Lang;
use crate::payments::finance::{self, FinanceScope, ShareLine, yuan};
use crate::payments::recon::{self, MismatchKind};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/finance", get(view))
        .route("/finance/reconcile", post(reconcile))
        .route("/finance/payments.csv", get(payments_csv))
        .route("/finance/reconciliation.csv", get(reconciliation_csv))
}

async fn finance_staff(state: &AppState, user: &MaybeUser) -> Result<(Staff, FinanceScope), Response> {
    match &user.principal {
        Some(Principal::Staff(s)) => match finance::scope_of(state, s).await {
            Ok(scope) => Ok((s.clone(), scope)),
            Err(e) => Err(e.into_response()),
        },
        Some(_) => Err(AppError::forbidden().into_response()),
        None => Err(Redirect::to("/staff/sign-in").into_response()),
    }
}

#[derive(Deserialize, Default)]
struct DayQuery {
    #[serde(default)]
    day: String,
}

fn day_of(state: &AppState, s: &str) -> Result<Date, AppError> {
    if s.is_empty() { Ok(crate::appointments::local_now(state).date()) } else { crate::appointments::parse_day(s) }
}

struct ChannelRow {
    name: &'static str,
    count: i64,
    amount: String,
    refunded: String,
}

struct ShareRow {
    label: String,
    smart: i64,
    total: i64,
    amount: String,
    share: String,
}

struct RefundRow {
    refund_no: String,
    order_no: String,
    channel: &'static str,
    amount: String,
    at: String,
}

struct MismatchRow {
    kind: &'static str,
    kind_code: String,
    entry: &'static str,
    order_no: String,
    refund_no: String,
    trade_no: String,
    ours: String,
    theirs: String,
    our_status: String,
}

struct RunRow {
    provider: &'static str,
    provider_code: &'static str,
    /// `none` (not run yet), `running`, `done` or `failed`.
    status: String,
    status_label: &'static str,
    summary: String,
    error: String,
    mismatches: Vec<MismatchRow>,
}

#[derive(Template)]
#[template(path = "finance.html")]
struct FinancePage<'a> {
    p: &'a PageCtx,
    day: String,
    scope_label: String,
    total: String,
    count: i64,
    share: String,
    channels: Vec<ChannelRow>,
    points: Vec<ShareRow>,
    days: Vec<ShareRow>,
    refunds: Vec<RefundRow>,
    refund_total: String,
    /// Province scope: the reconciliation section.
    whole: bool,
    runs: Vec<RunRow>,
    notice: Option<String>,
}

fn share_text(s: &ShareLine) -> String {
    s.permille().map(|p| format!("{}.{}%", p / 10, p % 10)).unwrap_or_else(|| "—".into())
}

fn channel_name(code: Option<&str>, lang: Lang) -> &'static str {
    code.and_then(PaymentChannel::from_code).map(|c| lang.pick(c.name_zh(), c.name_en())).unwrap_or("-")
}

fn provider_name(p: Provider, lang: Lang) -> &'static str {
    match p {
        Provider::Alipay => lang.pick("支付宝", "Alipay"),
        Provider::Wechat => lang.pick("微信支付", "WeChat Pay"),
        Provider::Unionpay => lang.pick("云闪付", "UnionPay QuickPass"),
    }
}

#[derive(Deserialize, Default)]
struct ViewQuery {
    #[serde(default)]
    day: String,
    /// After a run: how it went (`done:<n>`, `failed`, `skipped`).
    #[serde(default)]
    ran: String,
}

async fn view(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Query(q): Query<ViewQuery>) -> Result<Response, AppError> {
    let (staff, scope) = match finance_staff(&state, &user).await {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let day = day_of(&state, &q.day)?;
    let report = finance::report(&state, &scope, day, None).await?;
    let lang = p.lang;
    let channels = finance::all_channels(&report)
        .into_iter()
        .map(|c| ChannelRow { name: channel_name(Some(&c.channel), lang), count: c.count, amount: yuan(c.amount_fen), refunded: yuan(c.refunded_fen) })
        .collect();
    let share_row = |label: String, s: &ShareLine| ShareRow { label, smart: s.smart, total: s.total, amount: yuan(s.amount_fen), share: share_text(s) };
    let points = report.points.iter().map(|(pt, s)| share_row(scope.point_name(pt.as_deref(), lang), s)).collect();
    let days = report.days.iter().map(|(d, s)| share_row(crate::appointments::day_key(*d), s)).collect();
    let refunds: Vec<RefundRow> = report
        .refunds
        .iter()
        .map(|r| RefundRow { refund_no: r.refund_no.clone(), order_no: r.order_no.clone(), channel: channel_name(r.channel.as_deref(), lang), amount: yuan(r.amount_fen), at: finance::time_string(r.at) })
        .collect();
    let runs = finance::providers()
        .into_iter()
        .map(|pr| {
            let run = report.runs.iter().find(|(r, _)| r.provider == pr.code());
            let (status, status_label) = match run.map(|(r, _)| r.status.as_str()) {
                None => ("none", lang.pick("尚未对账", "Not reconciled yet")),
                Some("running") => ("running", lang.pick("对账中", "Running")),
                Some("done") => ("done", lang.pick("已完成", "Done")),
                _ => ("failed", lang.pick("失败", "Failed")),
            };
            let summary = match run.and_then(|(r, _)| r.totals.as_ref()) {
                Some(t) => format!(
                    "{} {} / ¥{} · {} {} / ¥{} · {} {} / ¥{} · {} {} / ¥{}",
                    lang.pick("渠道收款", "Provider payments"),
                    t.provider_payments,
                    yuan(t.provider_payment_fen),
                    lang.pick("本平台收款", "Our payments"),
                    t.our_payments,
                    yuan(t.our_payment_fen),
                    lang.pick("渠道退款", "Provider refunds"),
                    t.provider_refunds,
                    yuan(t.provider_refund_fen),
                    lang.pick("本平台退款", "Our refunds"),
                    t.our_refunds,
                    yuan(t.our_refund_fen)
                ),
                None => String::new(),
            };
            let mismatches = run
                .map(|(_, ms)| {
                    ms.iter()
                        .map(|m| MismatchRow {
                            kind: MismatchKind::from_code(&m.kind).map(|k| lang.pick(k.name_zh(), k.name_en())).unwrap_or("-"),
                            kind_code: m.kind.clone(),
                            entry: if m.entry == "refund" { lang.pick("退款", "Refund") } else { lang.pick("收款", "Payment") },
                            order_no: m.order_no.clone(),
                            refund_no: m.refund_no.clone().unwrap_or_default(),
                            trade_no: m.provider_trade_no.clone().unwrap_or_default(),
                            ours: m.our_fen.map(yuan).unwrap_or_else(|| "—".into()),
                            theirs: m.provider_fen.map(yuan).unwrap_or_else(|| "—".into()),
                            our_status: m.our_status.clone().unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            RunRow {
                provider: provider_name(pr, lang),
                provider_code: pr.code(),
                status: status.to_string(),
                status_label,
                summary,
                error: run.and_then(|(r, _)| r.error.clone()).unwrap_or_default(),
                mismatches,
            }
        })
        .collect();
    let notice = match q.ran.split_once(':') {
        Some(("done", n)) => Some(p.t("finance.ran_done").replace("{n}", n)),
        _ if q.ran == "failed" => Some(p.t("finance.ran_failed").to_string()),
        _ if q.ran == "skipped" => Some(p.t("finance.ran_skipped").to_string()),
        _ => None,
    };
    let scope_label = match staff.scope.kind {
        shenfen_store::ScopeKind::Province => lang.pick("全省（含线上缴费）", "Whole province (online payments included)").to_string(),
        _ => scope.points.values().cloned().collect::<Vec<_>>().join("、"),
    };
    Ok(render(&FinancePage {
        p: &p,
        day: crate::appointments::day_key(day),
        scope_label,
        total: yuan(report.total_fen),
        count: report.day_share.total,
        share: share_text(&report.day_share),
        channels,
        points,
        days,
        refund_total: yuan(report.refunds.iter().map(|r| r.amount_fen).sum()),
        refunds,
        whole: scope.whole,
        runs,
        notice,
    }))
}

#[derive(Deserialize)]
struct ReconcileForm {
    #[serde(default)]
    day: String,
    #[serde(default)]
    provider: String,
}

/// Runs (or re-runs) one provider's reconciliation of a day now: fetches the statement and compares.
async fn reconcile(State(state): State<AppState>, user: MaybeUser, Form(f): Form<ReconcileForm>) -> Result<Response, AppError> {
    let (_, scope) = match finance_staff(&state, &user).await {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    if !scope.whole {
        return Err(AppError::forbidden());
    }
    let day = day_of(&state, &f.day)?;
    let provider = Provider::from_code(&f.provider)
        .and_then(|p| state.payment_providers.as_ref().and_then(|ps| ps.get(p)))
        .ok_or_else(|| AppError::invalid("provider_invalid", "支付渠道无效。", "Unknown payment provider.").on_field("provider"))?;
    let ran = match recon::run_on_demand(&state, provider.as_ref(), day, &user.actor()).await? {
        recon::RunOutcome::Done { mismatches, .. } => format!("done:{mismatches}"),
        recon::RunOutcome::Failed { .. } => "failed".into(),
        recon::RunOutcome::Skipped => "skipped".into(),
    };
    Ok(Redirect::to(&format!("/finance?day={}&ran={}#reconciliation", urlencode(&crate::appointments::day_key(day)), urlencode(&ran))).into_response())
}

fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

async fn payments_csv(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Query(q): Query<DayQuery>) -> Result<Response, AppError> {
    let (staff, scope) = match finance_staff(&state, &user).await {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let day = day_of(&state, &q.day)?;
    let orders = finance::paid_orders(&state, &scope, day).await?;
    state.audit(&user.actor(), "payment.export", &format!("payments:{}", crate::appointments::day_key(day)), serde_json::json!({ "rows": orders.len(), "scope": staff.scope.code })).await?;
    Ok(csv_response(&format!("payments-{}.csv", crate::appointments::day_key(day)), finance::payments_csv(&scope, &orders, p.lang)))
}

async fn reconciliation_csv(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Query(q): Query<DayQuery>) -> Result<Response, AppError> {
    let (_, scope) = match finance_staff(&state, &user).await {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    if !scope.whole {
        return Err(AppError::forbidden());
    }
    let day = day_of(&state, &q.day)?;
    let report = finance::report(&state, &scope, day, None).await?;
    Ok(csv_response(&format!("reconciliation-{}.csv", crate::appointments::day_key(day)), finance::reconciliation_csv(&report.runs, p.lang)))
}
