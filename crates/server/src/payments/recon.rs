//! The daily reconciliation report (对账): each provider's statement of a day, fetched in its own format
//! ([`PaymentProvider::statement`]), compared with our orders and refunds; the differences are stored as
//! mismatches of the run.
//!
//! * A payment the provider lists that we do not have, or have in another state (not paid, or paid through
//!   another channel: money taken twice), or for another amount: `missing_at_us`, `status_differs`,
//!   `amount_differs`. Matching is by our order number, whatever day we recorded the payment on.
//! * A payment we recorded that day on this provider's channels that the statement lacks: `missing_at_provider`.
//! * Refunds alike, by our refund number (ours: refunds that succeeded that day).
//!
//! One run per provider and day, whatever the number of instances: the run is claimed with one conditional
//! upsert (`claim_reconciliation`) and its result recorded only by the holder of the current attempt. The daily
//! job runs for yesterday once statements are out; finance staff can run (or re-run) any day on demand.

use std::collections::{HashMap, HashSet};

use shenfen_domain::payments::{PaymentChannel, Provider};
use shenfen_gateways::statements::{EntryKind, Statement};
use shenfen_store::payments::{FinishedRefund, ReconMismatch, ReconTotals};
use shenfen_store::{PaymentOrder, PaymentStatus};
use time::Date;

use super::provider::PaymentProvider;
use crate::app::{Actor, AppState};
use crate::error::AppResult;

/// China-time hour after which yesterday's statements are fetched (providers publish them in the morning).
pub const STATEMENTS_READY_HOUR: u8 = 10;
/// A failed run is tried again after this long.
const RETRY_FAILED_MS: i64 = 15 * 60_000;
/// A run still `running` after this long belongs to an instance that died: another may take it over.
const STALE_RUNNING_MS: i64 = 10 * 60_000;

/// The kinds of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MismatchKind {
    MissingAtUs,
    MissingAtProvider,
    AmountDiffers,
    StatusDiffers,
}

impl MismatchKind {
    pub const ALL: [MismatchKind; 4] = [MismatchKind::MissingAtUs, MismatchKind::MissingAtProvider, MismatchKind::AmountDiffers, MismatchKind::StatusDiffers];

    pub fn code(self) -> &'static str {
        match self {
            MismatchKind::MissingAtUs => "missing_at_us",
            MismatchKind::MissingAtProvider => "missing_at_provider",
            MismatchKind::AmountDiffers => "amount_differs",
            MismatchKind::StatusDiffers => "status_differs",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == s)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            MismatchKind::MissingAtUs => "渠道有、本平台无",
            MismatchKind::MissingAtProvider => "本平台有、渠道无",
            MismatchKind::AmountDiffers => "金额不一致",
            MismatchKind::StatusDiffers => "状态不一致",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            MismatchKind::MissingAtUs => "Missing at us",
            MismatchKind::MissingAtProvider => "Missing at the provider",
            MismatchKind::AmountDiffers => "Amounts differ",
            MismatchKind::StatusDiffers => "Status differs",
        }
    }
}

/// What we hold for the comparison: the day's payments and refunds on this provider's channels, and every order
/// and refund the statement names (found by number, whatever their day or channel).
#[derive(Debug, Default)]
pub struct Ours {
    pub day_payments: Vec<PaymentOrder>,
    pub day_refunds: Vec<FinishedRefund>,
    pub orders: HashMap<String, PaymentOrder>,
    /// refund_no → (status, amount)
    pub refunds: HashMap<String, (String, i64)>,
}

fn provider_of(channel: Option<&str>) -> Option<Provider> {
    channel.and_then(PaymentChannel::from_code).and_then(|c| c.provider())
}

fn mismatch(kind: MismatchKind, entry: EntryKind, order_no: &str) -> ReconMismatch {
    ReconMismatch {
        kind: kind.code().into(),
        entry: match entry {
            EntryKind::Payment => "payment",
            EntryKind::Refund => "refund",
        }
        .into(),
        order_no: order_no.to_string(),
        refund_no: None,
        provider_trade_no: None,
        our_fen: None,
        provider_fen: None,
        our_status: None,
    }
}

/// The comparison itself (pure).
pub fn compare(provider: Provider, st: &Statement, ours: &Ours) -> (ReconTotals, Vec<ReconMismatch>) {
    let mut out = Vec::new();
    let mut seen_payments = HashSet::new();
    let mut seen_refunds = HashSet::new();
    for e in &st.entries {
        let theirs = i64::try_from(e.amount_fen).unwrap_or(i64::MAX);
        let base = |kind| ReconMismatch { provider_trade_no: Some(e.provider_trade_no.clone()), provider_fen: Some(theirs), refund_no: e.refund_no.clone(), ..mismatch(kind, e.kind, &e.order_no) };
        match e.kind {
            EntryKind::Payment => {
                seen_payments.insert(e.order_no.clone());
                match ours.orders.get(&e.order_no) {
                    None => out.push(base(MismatchKind::MissingAtUs)),
                    Some(o) => {
                        let on_this_provider = provider_of(o.channel.as_deref()) == Some(provider);
                        if o.status != PaymentStatus::Success || !on_this_provider {
                            let status = match &o.channel {
                                Some(c) if !on_this_provider => format!("{} ({c})", o.status.as_str()),
                                _ => o.status.as_str().to_string(),
                            };
                            out.push(ReconMismatch { our_fen: Some(o.amount_fen), our_status: Some(status), ..base(MismatchKind::StatusDiffers) });
                        } else if o.amount_fen != theirs {
                            out.push(ReconMismatch { our_fen: Some(o.amount_fen), ..base(MismatchKind::AmountDiffers) });
                        }
                    }
                }
            }
            EntryKind::Refund => {
                let no = e.refund_no.clone().unwrap_or_default();
                seen_refunds.insert(no.clone());
                match ours.refunds.get(&no) {
                    None => out.push(base(MismatchKind::MissingAtUs)),
                    Some((status, fen)) if status != "success" => {
                        out.push(ReconMismatch { our_fen: Some(*fen), our_status: Some(status.clone()), ..base(MismatchKind::StatusDiffers) })
                    }
                    Some((_, fen)) if *fen != theirs => out.push(ReconMismatch { our_fen: Some(*fen), ..base(MismatchKind::AmountDiffers) }),
                    Some(_) => {}
                }
            }
        }
    }
    for o in ours.day_payments.iter().filter(|o| !seen_payments.contains(&o.order_no)) {
        out.push(ReconMismatch { our_fen: Some(o.amount_fen), provider_trade_no: o.provider_trade_no.clone(), our_status: Some(o.status.as_str().into()), ..mismatch(MismatchKind::MissingAtProvider, EntryKind::Payment, &o.order_no) });
    }
    for r in ours.day_refunds.iter().filter(|r| !seen_refunds.contains(&r.refund.refund_no)) {
        out.push(ReconMismatch {
            refund_no: Some(r.refund.refund_no.clone()),
            our_fen: Some(r.refund.amount_fen),
            our_status: Some(r.refund.status.as_str().into()),
            ..mismatch(MismatchKind::MissingAtProvider, EntryKind::Refund, &r.order_no)
        });
    }
    let sum = |kind: EntryKind| st.entries.iter().filter(|e| e.kind == kind).fold((0i64, 0i64), |(n, s), e| (n + 1, s + e.amount_fen as i64));
    let (pn, pf) = sum(EntryKind::Payment);
    let (rn, rf) = sum(EntryKind::Refund);
    let totals = ReconTotals {
        provider_payments: pn,
        provider_payment_fen: pf,
        provider_refunds: rn,
        provider_refund_fen: rf,
        our_payments: ours.day_payments.len() as i64,
        our_payment_fen: ours.day_payments.iter().map(|o| o.amount_fen).sum(),
        our_refunds: ours.day_refunds.len() as i64,
        our_refund_fen: ours.day_refunds.iter().map(|r| r.refund.amount_fen).sum(),
    };
    (totals, out)
}

/// `[from, to)` of a China-time day, in ms.
pub fn day_bounds(day: Date) -> (i64, i64) {
    let from = crate::appointments::local_to_ms(day.midnight());
    (from, from + 86_400_000)
}

/// Our side of `provider`'s statement of `day`.
pub async fn ours(state: &AppState, provider: Provider, day: Date, st: &Statement) -> AppResult<Ours> {
    let (from, to) = day_bounds(day);
    let mut ours = Ours {
        day_payments: state.store.paid_orders(from, to).await?.into_iter().filter(|o| provider_of(o.channel.as_deref()) == Some(provider)).collect(),
        day_refunds: state.store.finished_refunds(from, to).await?.into_iter().filter(|r| provider_of(r.channel.as_deref()) == Some(provider)).collect(),
        ..Default::default()
    };
    for o in &ours.day_payments {
        ours.orders.insert(o.order_no.clone(), o.clone());
    }
    for r in &ours.day_refunds {
        ours.refunds.insert(r.refund.refund_no.clone(), (r.refund.status.as_str().to_string(), r.refund.amount_fen));
    }
    for e in &st.entries {
        match e.kind {
            EntryKind::Payment if !ours.orders.contains_key(&e.order_no) => {
                if let Some(o) = state.store.order_by_no(&e.order_no).await? {
                    ours.orders.insert(o.order_no.clone(), o);
                }
            }
            EntryKind::Refund => {
                let no = e.refund_no.clone().unwrap_or_default();
                if !ours.refunds.contains_key(&no) {
                    if let Some(r) = state.store.refund_by_no(&no).await? {
                        ours.refunds.insert(no, (r.status.as_str().to_string(), r.amount_fen));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(ours)
}

/// What asking for a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    Done { run_id: String, mismatches: usize },
    /// The statement could not be fetched or read; recorded on the run, retried later.
    Failed { run_id: String, error: String },
    /// Another instance holds the run, or it is done (and no re-run was asked for).
    Skipped,
}

/// Runs (or, with `redo`, re-runs) the reconciliation of `provider`'s statement of `day`.
pub async fn run(state: &AppState, provider: &dyn PaymentProvider, day: Date, requested_by: &str, redo: bool) -> AppResult<RunOutcome> {
    let now = state.now_ms();
    let code = provider.provider().code();
    let day_key = crate::appointments::day_key(day);
    let claimed = state.store.claim_reconciliation(code, &day_key, requested_by, now, now - RETRY_FAILED_MS, now - STALE_RUNNING_MS, redo).await?;
    let Some((run_id, attempt)) = claimed else { return Ok(RunOutcome::Skipped) };
    let st = match provider.statement(day).await {
        Ok(st) => st,
        Err(e) => {
            let error = format!("{}: {e}", e.code()).chars().take(500).collect::<String>();
            tracing::warn!(provider = code, day = %day_key, error = %error, "statement not fetched");
            state.store.fail_reconciliation(&run_id, attempt, &error, state.now_ms()).await?;
            return Ok(RunOutcome::Failed { run_id, error });
        }
    };
    let ours = ours(state, provider.provider(), day, &st).await?;
    let (totals, mismatches) = compare(provider.provider(), &st, &ours);
    if !state.store.finish_reconciliation(&run_id, attempt, &totals, &mismatches, state.now_ms()).await? {
        // Taken over meanwhile (this instance was too slow): the other attempt's result stands.
        return Ok(RunOutcome::Skipped);
    }
    if !mismatches.is_empty() {
        tracing::warn!(provider = code, day = %day_key, mismatches = mismatches.len(), "reconciliation found mismatches");
    }
    metrics::counter!("payment_reconciliation_mismatches_total", "provider" => code).increment(mismatches.len() as u64);
    Ok(RunOutcome::Done { run_id, mismatches: mismatches.len() })
}

/// A run asked for by finance staff: audited.
pub async fn run_on_demand(state: &AppState, provider: &dyn PaymentProvider, day: Date, actor: &Actor) -> AppResult<RunOutcome> {
    if day > crate::appointments::local_now(state).date() {
        return Err(crate::error::AppError::invalid("day_invalid", "不能对未来的日期对账。", "A future day cannot be reconciled.").on_field("day"));
    }
    let out = run(state, provider, day, &actor.id, true).await?;
    let detail = match &out {
        RunOutcome::Done { mismatches, .. } => serde_json::json!({ "mismatches": mismatches }),
        RunOutcome::Failed { error, .. } => serde_json::json!({ "error": error }),
        RunOutcome::Skipped => serde_json::json!({ "skipped": true }),
    };
    state.audit(actor, "payment.reconcile", &format!("reconciliation:{}:{}", provider.provider().code(), crate::appointments::day_key(day)), detail).await?;
    Ok(out)
}

/// The daily job: once statements are out, yesterday's run for each provider (claimed by one instance).
pub async fn daily(state: &AppState) -> AppResult<()> {
    let now = crate::appointments::local_now(state);
    if now.hour() < STATEMENTS_READY_HOUR {
        return Ok(());
    }
    let Some(yesterday) = now.date().previous_day() else { return Ok(()) };
    let Some(providers) = &state.payment_providers else { return Ok(()) };
    // A cheap read first: once a day is done, no instance writes again.
    let runs = state.store.reconciliation_runs(&crate::appointments::day_key(yesterday)).await?;
    for p in [Provider::Alipay, Provider::Wechat, Provider::Unionpay] {
        if runs.iter().any(|r| r.provider == p.code() && r.status == "done") {
            continue;
        }
        if let Some(adapter) = providers.get(p) {
            run(state, adapter.as_ref(), yesterday, "job", false).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shenfen_gateways::statements::StatementEntry;
    use shenfen_store::{Refund, RefundStatus};

    fn order(no: &str, channel: &str, fen: i64, status: PaymentStatus) -> PaymentOrder {
        PaymentOrder {
            id: format!("id-{no}"),
            order_no: no.into(),
            citizen_id: None,
            reference: "r".into(),
            item: "renewal".into(),
            amount_fen: fen,
            channel: Some(channel.into()),
            status,
            failure_code: None,
            provider_trade_no: Some(format!("T{no}")),
            refunded_fen: 0,
            point_id: None,
            staff_id: None,
            cash_received_fen: None,
            created_at: 0,
            updated_at: 0,
            expires_at: 0,
            paid_at: Some(0),
            opened_at: None,
        }
    }

    fn pay(no: &str, fen: u64) -> StatementEntry {
        StatementEntry { kind: EntryKind::Payment, order_no: no.into(), provider_trade_no: format!("T{no}"), refund_no: None, amount_fen: fen }
    }

    fn refund(no: &str, rno: &str, fen: u64) -> StatementEntry {
        StatementEntry { kind: EntryKind::Refund, order_no: no.into(), provider_trade_no: format!("T{no}"), refund_no: Some(rno.into()), amount_fen: fen }
    }

    fn finished(rno: &str, order_no: &str, fen: i64) -> FinishedRefund {
        FinishedRefund {
            refund: Refund { id: rno.into(), refund_no: rno.into(), order_id: format!("id-{order_no}"), amount_fen: fen, reason: String::new(), status: RefundStatus::Success, provider_refund_no: None, created_at: 0, updated_at: 0 },
            order_no: order_no.into(),
            channel: Some("alipay".into()),
            point_id: None,
        }
    }

    #[test]
    fn every_kind_of_difference_is_found_and_agreement_is_silent() {
        let ok = order("SF1", "alipay", 2000, PaymentStatus::Success);
        let short = order("SF2", "alipay_qr", 1000, PaymentStatus::Success);
        let unseen = order("SF3", "alipay", 2000, PaymentStatus::Success);
        let cancelled = order("SF4", "alipay", 2000, PaymentStatus::Cancelled);
        let cash = order("SF5", "cash", 2000, PaymentStatus::Success);
        let mut ours = Ours { day_payments: vec![ok.clone(), short.clone(), unseen.clone()], day_refunds: vec![finished("RF1", "SF1", 500), finished("RF2", "SF1", 300)], ..Default::default() };
        for o in [&ok, &short, &unseen, &cancelled, &cash] {
            ours.orders.insert(o.order_no.clone(), o.clone());
        }
        ours.refunds.insert("RF1".into(), ("success".into(), 500));
        ours.refunds.insert("RF2".into(), ("success".into(), 300));
        ours.refunds.insert("RF3".into(), ("pending".into(), 100));
        let st = Statement {
            entries: vec![
                pay("SF1", 2000),
                pay("SF2", 1001),
                pay("SF4", 2000),
                pay("SF5", 2000),
                pay("SFX", 2000),
                refund("SF1", "RF1", 500),
                refund("SF1", "RF3", 100),
                refund("SF1", "RF9", 100),
            ],
        };
        let (totals, m) = compare(Provider::Alipay, &st, &ours);
        let got: Vec<(&str, &str, &str, Option<&str>)> = m.iter().map(|m| (m.kind.as_str(), m.entry.as_str(), m.order_no.as_str(), m.refund_no.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                ("amount_differs", "payment", "SF2", None),
                ("status_differs", "payment", "SF4", None),
                ("status_differs", "payment", "SF5", None),
                ("missing_at_us", "payment", "SFX", None),
                ("status_differs", "refund", "SF1", Some("RF3")),
                ("missing_at_us", "refund", "SF1", Some("RF9")),
                ("missing_at_provider", "payment", "SF3", None),
                ("missing_at_provider", "refund", "SF1", Some("RF2")),
            ]
        );
        assert_eq!(m[0].our_fen, Some(1000));
        assert_eq!(m[0].provider_fen, Some(1001));
        assert_eq!(m[1].our_status.as_deref(), Some("cancelled"));
        assert_eq!(m[2].our_status.as_deref(), Some("success (cash)"), "paid twice: in cash and through Alipay");
        assert_eq!((totals.provider_payments, totals.provider_payment_fen, totals.provider_refunds, totals.provider_refund_fen), (5, 9001, 3, 700));
        assert_eq!((totals.our_payments, totals.our_payment_fen, totals.our_refunds, totals.our_refund_fen), (3, 5000, 2, 800));

        // The same data without differences: nothing reported.
        let ours = Ours { day_payments: vec![ok.clone()], orders: [("SF1".to_string(), ok)].into_iter().collect(), ..Default::default() };
        assert!(compare(Provider::Alipay, &Statement { entries: vec![pay("SF1", 2000)] }, &ours).1.is_empty());
        assert!(compare(Provider::Wechat, &Statement::default(), &Ours::default()).1.is_empty());
        assert_eq!(MismatchKind::from_code("amount_differs"), Some(MismatchKind::AmountDiffers));
    }
}
