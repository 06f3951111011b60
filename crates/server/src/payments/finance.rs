//! The finance view's figures: the day's collection per channel (online, counter QR, cash), refunds, the share of
//! smart (non-cash) collection per point and per day, and the reconciliation runs with their mismatches; the
//! same figures for the page, the CSV exports and the API.
//!
//! Who sees what: administrators (there is no separate finance role; 财务 is done by the administration), limited
//! to their scope: a point-scoped administrator sees that point's counter collection, a district-scoped one the
//! district's points, a province-scoped one everything including online payments (which belong to no point) and
//! the reconciliation with the providers (whose statements cover the whole merchant).

use std::collections::{BTreeMap, HashMap, HashSet};

use shenfen_domain::payments::{PaymentChannel, smart_share_permille};
use shenfen_store::payments::{ReconMismatch, ReconRun};
use shenfen_store::{PaymentOrder, Role, ScopeKind, Staff};
use time::Date;

use super::recon::day_bounds;
use crate::app::AppState;
use crate::error::{AppError, AppResult};

/// Days shown in the smart-share trend, ending with the chosen day.
pub const TREND_DAYS: i64 = 7;

/// The points (and whether online payments) a staff member's figures cover.
#[derive(Debug, Clone)]
pub struct FinanceScope {
    /// Point id → name, for every point in scope.
    pub points: BTreeMap<String, String>,
    /// Province scope: online payments and the providers' reconciliation too.
    pub whole: bool,
}

impl FinanceScope {
    pub fn covers(&self, point_id: Option<&str>) -> bool {
        match point_id {
            Some(p) => self.points.contains_key(p),
            None => self.whole,
        }
    }

    pub fn point_name(&self, point_id: Option<&str>, lang: crate::i18n::Lang) -> String {
        match point_id {
            Some(p) => self.points.get(p).cloned().unwrap_or_else(|| p.to_string()),
            None => lang.pick("线上缴费", "Online").to_string(),
        }
    }
}

/// Administrators only; their scope decides what they see.
pub async fn scope_of(state: &AppState, staff: &Staff) -> AppResult<FinanceScope> {
    if staff.role != Role::Admin {
        return Err(AppError::forbidden());
    }
    let points = state
        .store
        .list_points()
        .await?
        .into_iter()
        .filter(|p| match staff.scope.kind {
            ScopeKind::Province => p.district_code.starts_with(&staff.scope.code),
            ScopeKind::District => p.district_code == staff.scope.code,
            ScopeKind::Point => p.id == staff.scope.code,
        })
        .map(|p| (p.id, p.name))
        .collect();
    Ok(FinanceScope { points, whole: staff.scope.kind == ScopeKind::Province })
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelLine {
    pub channel: String,
    pub count: i64,
    pub amount_fen: i64,
    /// Refunded so far on these payments.
    pub refunded_fen: i64,
}

/// Smart (non-cash) share of a point or a day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShareLine {
    pub smart: i64,
    pub total: i64,
    pub amount_fen: i64,
}

impl ShareLine {
    pub fn permille(&self) -> Option<u32> {
        smart_share_permille(self.smart as u64, self.total as u64)
    }

    fn add(&mut self, channel: &str, count: i64, amount_fen: i64) {
        if PaymentChannel::from_code(channel).is_some_and(|c| c.is_smart()) {
            self.smart += count;
        }
        self.total += count;
        self.amount_fen += amount_fen;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundLine {
    pub refund_no: String,
    pub order_no: String,
    pub channel: Option<String>,
    pub amount_fen: i64,
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub day: Date,
    /// Payments of the day per channel (`channel` order of the domain).
    pub channels: Vec<ChannelLine>,
    /// Collected that day, net of what was refunded on those payments since.
    pub total_fen: i64,
    pub day_share: ShareLine,
    /// Per point (`None`: online) for the day.
    pub points: Vec<(Option<String>, ShareLine)>,
    /// The trend, oldest first.
    pub days: Vec<(Date, ShareLine)>,
    /// Refunds that reached the payer that day.
    pub refunds: Vec<RefundLine>,
    /// Province scope only (the runs of the day, by provider, with their mismatches).
    pub runs: Vec<(ReconRun, Vec<ReconMismatch>)>,
}

/// Days since 1970-01-01 of a China-time date, as the store groups them.
fn day_index(day: Date) -> i64 {
    (day_bounds(day).0 + 28_800_000).div_euclid(86_400_000)
}

/// The figures of `day` within `scope` (narrowed to one point when `point` is given).
pub async fn report(state: &AppState, scope: &FinanceScope, day: Date, point: Option<&str>) -> AppResult<Report> {
    let covers = |p: Option<&str>| scope.covers(p) && point.is_none_or(|only| p == Some(only));
    let first = day - time::Duration::days(TREND_DAYS - 1);
    let (from, _) = day_bounds(first);
    let (day_from, to) = day_bounds(day);
    let lines: Vec<_> = state.store.collection(from, to).await?.into_iter().filter(|l| covers(l.point_id.as_deref())).collect();
    let today = day_index(day);

    let mut channels: Vec<ChannelLine> = Vec::new();
    let mut points: BTreeMap<Option<String>, ShareLine> = BTreeMap::new();
    let mut days: BTreeMap<i64, ShareLine> = (0..TREND_DAYS).map(|i| (day_index(first) + i, ShareLine::default())).collect();
    let mut day_share = ShareLine::default();
    for l in &lines {
        days.entry(l.day).or_default().add(&l.channel, l.count, l.amount_fen);
        if l.day != today {
            continue;
        }
        day_share.add(&l.channel, l.count, l.amount_fen);
        points.entry(l.point_id.clone()).or_default().add(&l.channel, l.count, l.amount_fen);
        match channels.iter_mut().find(|c| c.channel == l.channel) {
            Some(c) => {
                c.count += l.count;
                c.amount_fen += l.amount_fen;
                c.refunded_fen += l.refunded_fen;
            }
            None => channels.push(ChannelLine { channel: l.channel.clone(), count: l.count, amount_fen: l.amount_fen, refunded_fen: l.refunded_fen }),
        }
    }
    let rank = |c: &str| PaymentChannel::ALL.iter().position(|x| x.code() == c).unwrap_or(usize::MAX);
    channels.sort_by_key(|c| rank(&c.channel));
    let refunds = state
        .store
        .finished_refunds(day_from, to)
        .await?
        .into_iter()
        .filter(|r| covers(r.point_id.as_deref()))
        .map(|r| RefundLine { refund_no: r.refund.refund_no, order_no: r.order_no, channel: r.channel, amount_fen: r.refund.amount_fen, at: r.refund.updated_at })
        .collect();
    let mut runs = Vec::new();
    if scope.whole && point.is_none() {
        for run in state.store.reconciliation_runs(&crate::appointments::day_key(day)).await? {
            let mismatches = state.store.reconciliation_mismatches(&run.id).await?;
            runs.push((run, mismatches));
        }
    }
    Ok(Report {
        day,
        total_fen: channels.iter().map(|c| c.amount_fen - c.refunded_fen).sum(),
        channels,
        day_share,
        points: points.into_iter().collect(),
        days: days.into_iter().map(|(i, s)| (first + time::Duration::days(i - day_index(first)), s)).collect(),
        refunds,
        runs,
    })
}

/// The day's paid orders within scope (for the CSV export).
pub async fn paid_orders(state: &AppState, scope: &FinanceScope, day: Date) -> AppResult<Vec<PaymentOrder>> {
    let (from, to) = day_bounds(day);
    Ok(state.store.paid_orders(from, to).await?.into_iter().filter(|o| scope.covers(o.point_id.as_deref())).collect())
}

/// A CSV field: quoted when needed, and a leading `= + - @` neutralised so a spreadsheet does not run it.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

/// `2026-11-26 10:00:00`, China time.
pub fn time_string(ms: i64) -> String {
    crate::appointments::ms_to_local(ms).format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default()
}

/// `20.00`.
pub fn yuan(fen: i64) -> String {
    shenfen_domain::fees::format_yuan(fen)
}

/// The payments CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese headers right).
pub fn payments_csv(scope: &FinanceScope, orders: &[PaymentOrder], lang: crate::i18n::Lang) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(lang.pick("订单号,支付时间,支付方式,受理点,收费项目,金额（元）,已退款（元）,渠道交易号\n", "order_no,paid_at,channel,point,item,amount_yuan,refunded_yuan,provider_trade_no\n"));
    for o in orders {
        let channel = o.channel.as_deref().and_then(PaymentChannel::from_code).map(|c| lang.pick(c.name_zh(), c.name_en())).unwrap_or("-");
        let item = shenfen_domain::fees::FeeItem::from_code(&o.item).map(|i| lang.pick(i.name_zh(), i.name_en())).unwrap_or("-");
        let fields = [
            o.order_no.clone(),
            o.paid_at.map(time_string).unwrap_or_default(),
            channel.to_string(),
            scope.point_name(o.point_id.as_deref(), lang),
            item.to_string(),
            yuan(o.amount_fen),
            yuan(o.refunded_fen),
            o.provider_trade_no.clone().unwrap_or_default(),
        ];
        out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// The reconciliation CSV: one line per mismatch of the day's runs.
pub fn reconciliation_csv(runs: &[(ReconRun, Vec<ReconMismatch>)], lang: crate::i18n::Lang) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(lang.pick("渠道,对账日,差异类型,类别,订单号,退款单号,渠道交易号,本平台金额（元）,渠道金额（元）,本平台状态\n", "provider,day,kind,entry,order_no,refund_no,provider_trade_no,our_yuan,provider_yuan,our_status\n"));
    for (run, mismatches) in runs {
        for m in mismatches {
            let kind = super::recon::MismatchKind::from_code(&m.kind).map(|k| lang.pick(k.name_zh(), k.name_en())).unwrap_or(&m.kind);
            let fields = [
                run.provider.clone(),
                run.day.clone(),
                kind.to_string(),
                m.entry.clone(),
                m.order_no.clone(),
                m.refund_no.clone().unwrap_or_default(),
                m.provider_trade_no.clone().unwrap_or_default(),
                m.our_fen.map(yuan).unwrap_or_default(),
                m.provider_fen.map(yuan).unwrap_or_default(),
                m.our_status.clone().unwrap_or_default(),
            ];
            out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
    }
    out
}

/// Distinct providers, for forms.
pub fn providers() -> [shenfen_domain::payments::Provider; 3] {
    use shenfen_domain::payments::Provider;
    [Provider::Alipay, Provider::Wechat, Provider::Unionpay]
}

/// Channel codes seen in a report plus every channel, for a stable table (zero lines included).
pub fn all_channels(report: &Report) -> Vec<ChannelLine> {
    let have: HashMap<&str, &ChannelLine> = report.channels.iter().map(|c| (c.channel.as_str(), c)).collect();
    let known: HashSet<&str> = PaymentChannel::ALL.iter().map(|c| c.code()).collect();
    let mut out: Vec<ChannelLine> = PaymentChannel::ALL.iter().map(|c| have.get(c.code()).map(|l| (*l).clone()).unwrap_or(ChannelLine { channel: c.code().into(), ..Default::default() })).collect();
    out.extend(report.channels.iter().filter(|c| !known.contains(c.channel.as_str())).cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("abc"), "abc");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("-1"), "'-1");
    }

    #[test]
    fn share_counts_non_cash() {
        let mut s = ShareLine::default();
        s.add("cash", 1, 2000);
        s.add("alipay", 69, 69 * 2000);
        assert_eq!(s.permille(), Some(986));
        assert_eq!(ShareLine::default().permille(), None);
    }
}
