//! WeChat Pay's trade bill (`GET /v3/bill/tradebill?bill_date=…&bill_type=ALL` → `download_url`, whose content's
//! SHA1 is the answer's `hash_value`). The file (UTF-8 text):
//!
//! ```text
//! 交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注
//! `2026-11-26 09:12:30,`wx…,`1900000001,`0,`,`4200…,`SF…,`o…,`MWEB,`SUCCESS,`OTHERS,`CNY,`20.00,`0.00,`0,`0,`0.00,`0.00,`,`,`…
//! 总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
//! `2,`20.00,`20.00,`0.00,`0.12000,`20.00,`20.00
//! ```
//!
//! Every data field starts with a backquote (so spreadsheets keep long numbers as text). A paid order is a row
//! with 交易状态 `SUCCESS`; a refund is a row with 交易状态 `REFUND` carrying 商户退款单号 and 退款金额.

use super::{EntryKind, Statement, StatementEntry, bad};
use crate::amount::{fen_to_yuan_string, parse_yuan_string};
use crate::error::Result;

/// The columns of the `ALL` trade bill, in WeChat's order.
pub const COLUMNS: [&str; 27] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
];

const SUMMARY: [&str; 7] = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
];

/// A data line's fields without their backquotes. WeChat does not quote: a field never contains a comma.
fn fields(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|f| f.trim().strip_prefix('`').unwrap_or(f.trim()))
        .collect()
}

/// Parses the bill text; checks the rows against the summary row.
pub fn parse_trade_bill(text: &str) -> Result<Statement> {
    let mut lines = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| bad("wechat bill: empty"))?
        .split(',')
        .map(str::trim)
        .collect();
    let idx = |name: &str| {
        header
            .iter()
            .position(|c| *c == name)
            .ok_or_else(|| bad(format!("wechat bill: no column {name}")))
    };
    let (i_state, i_order, i_txn, i_settle, i_refund_no, i_refund) = (
        idx("交易状态")?,
        idx("商户订单号")?,
        idx("微信订单号")?,
        idx("应结订单金额")?,
        idx("商户退款单号")?,
        idx("退款金额")?,
    );
    let mut entries = Vec::new();
    let mut summary = None;
    let mut rows = 0usize;
    while let Some(line) = lines.next() {
        if line.starts_with("总交易单数") {
            let row = lines
                .next()
                .ok_or_else(|| bad("wechat bill: summary row missing"))?;
            summary = Some(
                fields(row)
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            );
            break;
        }
        rows += 1;
        let f = fields(line);
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        let (kind, amount, refund_no) = match get(i_state) {
            "SUCCESS" => (EntryKind::Payment, get(i_settle), None),
            "REFUND" => (
                EntryKind::Refund,
                get(i_refund),
                Some(get(i_refund_no).to_owned()),
            ),
            // REVOKED and the like: no money.
            _ => continue,
        };
        entries.push(StatementEntry {
            kind,
            order_no: get(i_order).to_owned(),
            provider_trade_no: get(i_txn).to_owned(),
            refund_no: refund_no.filter(|r| !r.is_empty()),
            amount_fen: parse_yuan_string(amount)?,
        });
    }
    let summary = summary.ok_or_else(|| bad("wechat bill: no summary (truncated file?)"))?;
    let n: usize = summary
        .first()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("wechat bill: summary count"))?;
    let settled = parse_yuan_string(summary.get(1).map(String::as_str).unwrap_or(""))?;
    let refunded = parse_yuan_string(summary.get(2).map(String::as_str).unwrap_or(""))?;
    let st = Statement { entries };
    let sum = |it: &mut dyn Iterator<Item = &StatementEntry>| it.map(|e| e.amount_fen).sum::<u64>();
    if n != rows || settled != sum(&mut st.payments()) || refunded != sum(&mut st.refunds()) {
        return Err(bad("wechat bill: rows do not add up to the summary"));
    }
    Ok(st)
}

/// One row for [`write_trade_bill`] (sandboxes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRow {
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time.
    pub at: String,
    pub appid: String,
    pub transaction_id: String,
    pub out_trade_no: String,
    pub openid: String,
    /// `MWEB`, `NATIVE`, …
    pub trade_type: String,
    pub kind: EntryKind,
    pub description: String,
    pub order_fen: u64,
    /// Refunds: the refunded amount, WeChat's refund id and our refund number.
    pub refund_fen: u64,
    pub refund_id: String,
    pub out_refund_no: String,
}

fn bq(s: &str) -> String {
    format!("`{}", s.replace([',', '\n', '\r'], " "))
}

/// The `ALL` bill text of merchant `mchid` (sandboxes).
pub fn write_trade_bill(mchid: &str, rows: &[BillRow]) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    let (mut settled, mut refunded, mut ordered, mut requested) = (0u64, 0u64, 0u64, 0u64);
    for r in rows {
        let y = fen_to_yuan_string;
        let (
            state,
            settle,
            refund_id,
            refund_no,
            refund,
            refund_type,
            refund_state,
            order,
            request,
        ) = match r.kind {
            EntryKind::Payment => {
                settled += r.order_fen;
                ordered += r.order_fen;
                (
                    "SUCCESS",
                    y(r.order_fen),
                    "0".to_owned(),
                    "0".to_owned(),
                    "0.00".to_owned(),
                    "",
                    "",
                    y(r.order_fen),
                    "0.00".to_owned(),
                )
            }
            EntryKind::Refund => {
                refunded += r.refund_fen;
                requested += r.refund_fen;
                (
                    "REFUND",
                    "0.00".to_owned(),
                    r.refund_id.clone(),
                    r.out_refund_no.clone(),
                    y(r.refund_fen),
                    "ORIGINAL",
                    "SUCCESS",
                    "0.00".to_owned(),
                    y(r.refund_fen),
                )
            }
        };
        let f = [
            r.at.as_str(),
            &r.appid,
            mchid,
            "0",
            "",
            &r.transaction_id,
            &r.out_trade_no,
            &r.openid,
            &r.trade_type,
            state,
            "OTHERS",
            "CNY",
            &settle,
            "0.00",
            &refund_id,
            &refund_no,
            &refund,
            "0.00",
            refund_type,
            refund_state,
            &r.description,
            "",
            "0.00000",
            "0.60%",
            &order,
            &request,
            "",
        ];
        out.push_str(&f.iter().map(|s| bq(s)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out.push_str(&SUMMARY.join(","));
    out.push('\n');
    let totals = [
        rows.len().to_string(),
        fen_to_yuan_string(settled),
        fen_to_yuan_string(refunded),
        "0.00".into(),
        "0.00000".into(),
        fen_to_yuan_string(ordered),
        fen_to_yuan_string(requested),
    ];
    out.push_str(&totals.iter().map(|s| bq(s)).collect::<Vec<_>>().join(","));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../testdata/statements/wechat-20261126-tradebill.csv");

    #[test]
    fn parses_the_sample_bill() {
        let st = parse_trade_bill(SAMPLE).unwrap();
        assert_eq!(st.payments().count(), 2);
        assert_eq!(st.refunds().count(), 1);
        let p = st.payments().next().unwrap();
        assert_eq!(p.order_no, "SF0193A5F0C1D27B8E9A4C3B2D1E0F33");
        assert_eq!(p.provider_trade_no, "4200002612202611260000000001");
        assert_eq!(p.amount_fen, 2000);
        let r = st.refunds().next().unwrap();
        assert_eq!(
            (r.order_no.as_str(), r.refund_no.as_deref(), r.amount_fen),
            (
                "SF0193A5F0C1D27B8E9A4C3B2D1E0F33",
                Some("RF0193A5F0C1D27B8E9A4C3B2D1E0F98"),
                1500
            )
        );
        // Revoked orders are not money.
        assert!(!st.entries.iter().any(|e| e.order_no.ends_with("F44")));
    }

    #[test]
    fn round_trip_and_truncation() {
        let rows = vec![
            BillRow {
                at: "2026-11-26 10:00:00".into(),
                appid: "wx1".into(),
                transaction_id: "4200".into(),
                out_trade_no: "SF1".into(),
                openid: "o1".into(),
                trade_type: "NATIVE".into(),
                kind: EntryKind::Payment,
                description: "工本费, 换领".into(),
                order_fen: 1000,
                refund_fen: 0,
                refund_id: String::new(),
                out_refund_no: String::new(),
            },
            BillRow {
                kind: EntryKind::Refund,
                refund_fen: 1000,
                refund_id: "5030".into(),
                out_refund_no: "RF1".into(),
                ..BillRow {
                    at: "2026-11-26 11:00:00".into(),
                    appid: "wx1".into(),
                    transaction_id: "4200".into(),
                    out_trade_no: "SF1".into(),
                    openid: "o1".into(),
                    trade_type: "NATIVE".into(),
                    kind: EntryKind::Payment,
                    description: "工本费".into(),
                    order_fen: 1000,
                    refund_fen: 0,
                    refund_id: String::new(),
                    out_refund_no: String::new(),
                }
            },
        ];
        let text = write_trade_bill("1900000001", &rows);
        let st = parse_trade_bill(&text).unwrap();
        assert_eq!(st.entries.len(), 2);
        assert_eq!(st.entries[1].refund_no.as_deref(), Some("RF1"));
        let cut: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
        assert!(parse_trade_bill(&cut).is_err());
        let wrong = text.replace("`2,`10.00,", "`2,`11.00,");
        assert!(parse_trade_bill(&wrong).is_err());
    }
}
