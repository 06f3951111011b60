//! Alipay's trade bill (`bill_type=trade`): `alipay.data.dataservice.bill.downloadurl.query` answers a
//! `bill_download_url`; that URL serves `<pid>_<yyyymmdd>.csv.zip` holding two GBK CSV files,
//! `<pid>_<yyyymmdd>_业务明细.csv` (one row per payment and per refund) and `…_业务明细(汇总).csv` (per-store
//! totals). The detail file:
//!
//! ```text
//! #支付宝业务明细查询
//! #账号：[2088…]
//! #起始日期：[2026年11月26日 00:00:00]   终止日期：[2026年11月27日 00:00:00]
//! #-----------------------------------------业务明细列表----------------------------------------
//! 支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,…,订单金额（元）,商家实收（元）,…,退款批次号/请求号,…,备注
//! 2026112622001…\t,SF…\t,交易\t,…
//! #-----------------------------------------业务明细列表结束------------------------------------
//! #交易合计：1笔，商家实收共20.00元，商家优惠共0.00元
//! #退款合计：1笔，商家实收共-20.00元，商家优惠共0.00元
//! #导出时间：[2026年11月27日 05:04:08]
//! ```
//!
//! Fields carry a trailing tab (so spreadsheets keep long numbers as text); a refund row has 业务类型 `退款`, a
//! negative 商家实收 and the refund's `out_request_no` in 退款批次号/请求号. Columns are found by name, so the
//! parser does not depend on their order or on columns it does not read.

use time::Date;

use super::{EntryKind, Statement, StatementEntry, bad, decode_text, zip};
use crate::amount::{fen_to_yuan_string, parse_yuan_string};
use crate::error::Result;

/// The columns of the 业务明细 file, in Alipay's order.
pub const COLUMNS: [&str; 25] = [
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
];

/// Splits one CSV line (RFC 4180 quoting), trimming the padding tabs and spaces around each field.
fn csv_fields(line: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (',', false) => out.push(std::mem::take(&mut field).trim().to_owned()),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err(bad("alipay bill: unterminated quote"));
    }
    out.push(field.trim().to_owned());
    Ok(out)
}

/// `#交易合计：3笔，商家实收共60.00元，…` → (3, 6000); the refund line's amount is negative.
fn total_line(line: &str, prefix: &str) -> Option<Result<(u64, i64)>> {
    let rest = line.strip_prefix(prefix)?;
    let parse = || -> Result<(u64, i64)> {
        let (n, rest) = rest
            .split_once('笔')
            .ok_or_else(|| bad("alipay bill: total line"))?;
        let count = n
            .trim()
            .parse::<u64>()
            .map_err(|_| bad("alipay bill: total count"))?;
        let amount = rest
            .split_once("商家实收共")
            .and_then(|(_, a)| a.split_once('元'))
            .map(|(a, _)| a.trim())
            .ok_or_else(|| bad("alipay bill: total amount"))?;
        let (neg, digits) = match amount.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, amount),
        };
        let fen = parse_yuan_string(digits)? as i64;
        Ok((count, if neg { -fen } else { fen }))
    };
    Some(parse())
}

/// Parses the 业务明细 CSV text; checks the rows against both total lines.
pub fn parse_detail_csv(text: &str) -> Result<Statement> {
    let mut header: Option<Vec<String>> = None;
    let mut entries = Vec::new();
    let (mut pay_total, mut refund_total) = (None, None);
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with('#') {
            if let Some(t) = total_line(line, "#交易合计：") {
                pay_total = Some(t?);
            } else if let Some(t) = total_line(line, "#退款合计：") {
                refund_total = Some(t?);
            }
            continue;
        }
        let fields = csv_fields(line)?;
        let Some(cols) = &header else {
            header = Some(fields);
            continue;
        };
        let col = |name: &str| -> Result<&str> {
            let i = cols
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| bad(format!("alipay bill: no column {name}")))?;
            Ok(fields.get(i).map(String::as_str).unwrap_or(""))
        };
        let (kind, refund_no) = match col("业务类型")? {
            "交易" => (EntryKind::Payment, None),
            "退款" => (
                EntryKind::Refund,
                Some(col("退款批次号/请求号")?.to_owned()),
            ),
            // Other business types (e.g. 冻结) move no fee money here.
            _ => continue,
        };
        let received = col("商家实收（元）")?;
        let amount_fen = parse_yuan_string(received.trim_start_matches('-'))?;
        entries.push(StatementEntry {
            kind,
            order_no: col("商户订单号")?.to_owned(),
            provider_trade_no: col("支付宝交易号")?.to_owned(),
            refund_no: refund_no.filter(|r| !r.is_empty()),
            amount_fen,
        });
    }
    if header.is_none() {
        return Err(bad("alipay bill: no column row"));
    }
    let st = Statement { entries };
    let (Some(pay), Some(refund)) = (pay_total, refund_total) else {
        return Err(bad("alipay bill: total lines missing (truncated file?)"));
    };
    let sum = |it: &mut dyn Iterator<Item = &StatementEntry>| {
        it.fold((0u64, 0i64), |(n, s), e| (n + 1, s + e.amount_fen as i64))
    };
    let pays = sum(&mut st.payments());
    let refunds = sum(&mut st.refunds());
    if pays != pay || (refunds.0, -refunds.1) != refund {
        return Err(bad("alipay bill: rows do not add up to the total lines"));
    }
    Ok(st)
}

/// Reads the bill archive: the 业务明细 file (not the 汇总 one), GBK or UTF-8.
pub fn parse_bill_zip(archive: &[u8]) -> Result<Statement> {
    let files = zip::read(archive)?;
    let detail = files
        .iter()
        .find(|f| f.name.ends_with("业务明细.csv"))
        .ok_or_else(|| bad("alipay bill: no 业务明细 file in the archive"))?;
    parse_detail_csv(&decode_text(&detail.data)?)
}

/// One row for [`write_detail_csv`] (sandboxes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRow {
    pub trade_no: String,
    pub out_trade_no: String,
    pub kind: EntryKind,
    pub subject: String,
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time.
    pub created: String,
    pub finished: String,
    pub order_fen: u64,
    /// Payment: what was received; refund: what went back (written negative).
    pub amount_fen: u64,
    pub refund_no: Option<String>,
}

fn chinese_date(d: Date) -> String {
    format!(
        "{:04}年{:02}月{:02}日",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

/// The 业务明细 CSV of `day` for account `pid` (sandboxes). `exported` is `yyyy-MM-dd HH:mm:ss`.
pub fn write_detail_csv(pid: &str, day: Date, rows: &[BillRow], exported: &str) -> String {
    let next = day.next_day().unwrap_or(day);
    let mut out = String::new();
    out.push_str("#支付宝业务明细查询\n");
    out.push_str(&format!("#账号：[{pid}]\n"));
    out.push_str(&format!(
        "#起始日期：[{} 00:00:00]   终止日期：[{} 00:00:00]\n",
        chinese_date(day),
        chinese_date(next)
    ));
    out.push_str("#-----------------------------------------业务明细列表----------------------------------------\n");
    out.push_str(&COLUMNS.join(","));
    out.push('\n');
    let q = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let (mut n_pay, mut sum_pay, mut n_ref, mut sum_ref) = (0u64, 0u64, 0u64, 0u64);
    for r in rows {
        let (kind, received) = match r.kind {
            EntryKind::Payment => {
                n_pay += 1;
                sum_pay += r.amount_fen;
                ("交易", fen_to_yuan_string(r.amount_fen))
            }
            EntryKind::Refund => {
                n_ref += 1;
                sum_ref += r.amount_fen;
                ("退款", format!("-{}", fen_to_yuan_string(r.amount_fen)))
            }
        };
        let zero = "0.00".to_owned();
        let fields = [
            r.trade_no.clone(),
            r.out_trade_no.clone(),
            kind.to_owned(),
            q(&r.subject),
            r.created.clone(),
            r.finished.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            "sandbox***@example.com".into(),
            fen_to_yuan_string(r.order_fen),
            received,
            zero.clone(),
            zero.clone(),
            zero.clone(),
            zero.clone(),
            zero.clone(),
            String::new(),
            zero.clone(),
            zero.clone(),
            q(r.refund_no.as_deref().unwrap_or("")),
            zero.clone(),
            zero,
            String::new(),
        ];
        // Alipay pads every field with a tab; the dates keep none.
        let line: Vec<String> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i == 4 || i == 5 {
                    f.clone()
                } else {
                    format!("{f}\t")
                }
            })
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out.push_str("#-----------------------------------------业务明细列表结束------------------------------------\n");
    out.push_str(&format!(
        "#交易合计：{n_pay}笔，商家实收共{}元，商家优惠共0.00元\n",
        fen_to_yuan_string(sum_pay)
    ));
    out.push_str(&format!(
        "#退款合计：{n_ref}笔，商家实收共{}{}元，商家优惠共0.00元\n",
        if sum_ref > 0 { "-" } else { "" },
        fen_to_yuan_string(sum_ref)
    ));
    out.push_str(&format!("#导出时间：[{exported}]\n"));
    out
}

/// The archive the download URL serves: the detail file and a summary file, GBK, GBK file names (sandboxes).
pub fn write_bill_zip(pid: &str, day: Date, detail_csv: &str) -> Vec<u8> {
    let ymd = format!(
        "{:04}{:02}{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    );
    let pays: Vec<&str> = detail_csv
        .lines()
        .filter(|l| l.starts_with("#交易合计"))
        .collect();
    let summary = format!(
        "#支付宝业务汇总查询\n#账号：[{pid}]\n门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）\n#{}\n",
        pays.first()
            .copied()
            .unwrap_or("#交易合计：0笔")
            .trim_start_matches('#')
    );
    zip::write(
        &[
            zip::ZipEntry {
                name: format!("{pid}_{ymd}_业务明细.csv"),
                data: super::encode_gbk(detail_csv),
            },
            zip::ZipEntry {
                name: format!("{pid}_{ymd}_业务明细(汇总).csv"),
                data: super::encode_gbk(&summary),
            },
        ],
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../testdata/statements/alipay-20261126-detail.csv");

    #[test]
    fn parses_the_sample_bill() {
        let st = parse_detail_csv(SAMPLE).unwrap();
        assert_eq!(st.payments().count(), 2);
        assert_eq!(st.refunds().count(), 1);
        let p = &st.entries[0];
        assert_eq!(p.kind, EntryKind::Payment);
        assert_eq!(p.order_no, "SF0193A5F0C1D27B8E9A4C3B2D1E0F11");
        assert_eq!(p.provider_trade_no, "2026112622001400001000000001");
        assert_eq!(p.amount_fen, 2000);
        let r = st.refunds().next().unwrap();
        assert_eq!(r.order_no, "SF0193A5F0C1D27B8E9A4C3B2D1E0F11");
        assert_eq!(
            r.refund_no.as_deref(),
            Some("RF0193A5F0C1D27B8E9A4C3B2D1E0F99")
        );
        assert_eq!(r.amount_fen, 2000);
        // The sample's subject has a quoted comma: one field.
        assert_eq!(st.entries[1].amount_fen, 4000);
    }

    #[test]
    fn gbk_zip_round_trip_and_truncation() {
        let day = Date::from_calendar_date(2026, time::Month::November, 26).unwrap();
        let rows = vec![
            BillRow {
                trade_no: "T1".into(),
                out_trade_no: "SF1".into(),
                kind: EntryKind::Payment,
                subject: "居民身份证换领工本费".into(),
                created: "2026-11-26 10:00:00".into(),
                finished: "2026-11-26 10:00:09".into(),
                order_fen: 2000,
                amount_fen: 2000,
                refund_no: None,
            },
            BillRow {
                trade_no: "T1".into(),
                out_trade_no: "SF1".into(),
                kind: EntryKind::Refund,
                subject: "居民身份证换领工本费".into(),
                created: "2026-11-26 10:00:00".into(),
                finished: "2026-11-26 11:00:00".into(),
                order_fen: 2000,
                amount_fen: 500,
                refund_no: Some("RF1".into()),
            },
        ];
        let csv = write_detail_csv("2088000000000001", day, &rows, "2026-11-27 05:00:00");
        let z = write_bill_zip("2088000000000001", day, &csv);
        let st = parse_bill_zip(&z).unwrap();
        assert_eq!(st.entries.len(), 2);
        assert_eq!(st.entries[1].refund_no.as_deref(), Some("RF1"));
        assert_eq!(st.entries[1].amount_fen, 500);
        // A file cut before its totals, or whose totals disagree with its rows, is refused.
        let cut: String = csv.lines().take(6).map(|l| format!("{l}\n")).collect();
        assert!(parse_detail_csv(&cut).is_err());
        let wrong = csv.replace(
            "#交易合计：1笔，商家实收共20.00元",
            "#交易合计：1笔，商家实收共25.00元",
        );
        assert!(parse_detail_csv(&wrong).is_err());
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(
            csv_fields("a\t, \"b,\"\"c\"\"\" ,").unwrap(),
            vec!["a", "b,\"c\"", ""]
        );
        assert!(csv_fields("\"open").is_err());
    }
}
