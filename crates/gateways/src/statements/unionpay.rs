//! UnionPay's merchant reconciliation file (全渠道商户对账文件). The file transfer answer (`txnType=76`) carries
//! `fileContent` = base64(zlib(zip)) ([`crate::unionpay::decode_file_content`]); the zip holds, among others, the
//! `INN<yymmdd><nn>ZM_<merId>` file of ordinary transactions: GBK, one record per line, fixed-width fields each
//! followed by one separator byte, with the widths the acp SDK's `parseZMFile` reads (《全渠道平台接入接口规范
//! 第3部分 文件接口》6.1):
//!
//! | # | field | width | # | field | width |
//! |---|---|---|---|---|---|
//! | 0 | 交易代码 (`S22` consume, `S30` refund) | 3 | 21 | 业务类型 | 6 |
//! | 1 | 代理机构标识码 | 11 | 22 | 帐号类型 | 2 |
//! | 2 | 发送机构标识码 | 11 | 23 | 账单类型 | 4 |
//! | 3 | 系统跟踪号 | 6 | 24 | 账单号码 | 32 |
//! | 4 | 交易传输时间 (MMDDhhmmss) | 10 | 25 | 交互方式 | 1 |
//! | 5 | 帐号 | 19 | 26 | 原交易查询流水号 | 21 |
//! | 6 | 交易金额 (fen) | 12 | 27 | 商户代码 | 15 |
//! | 7 | 商户类别 | 4 | 28 | 分账入账方式 | 1 |
//! | 8 | 终端类型 | 2 | 29 | 二级商户代码 | 15 |
//! | 9 | 查询流水号 | 21 | 30 | 二级商户简称 | 32 |
//! | 10 | 支付方式（旧） | 2 | 31 | 二级商户分账入账金额 | 13 |
//! | 11 | 商户订单号 | 32 | 32 | 清算净额 | 13 |
//! | 12 | 支付卡类型 | 2 | 33 | 终端号 | 8 |
//! | 13 | 原始交易的系统跟踪号 | 6 | 34 | 商户自定义域 (`reqReserved`) | 32 |
//! | 14 | 原始交易日期时间 | 10 | 35 | 优惠金额 | 13 |
//! | 15 | 商户手续费 | 13 | 36 | 发票金额 | 13 |
//! | 16 | 结算金额 | 13 | 37 | 分期付款附加手续费 | 12 |
//! | 17 | 支付方式 | 4 | 38 | 分期付款期数 | 2 |
//! | 18 | 集团商户代码 | 15 | 39 | 交易介质 | 1 |
//! | 19 | 交易类型 (`txnType`) | 2 | 40 | 原始交易订单号 | 32 |
//! | 20 | 交易子类 | 2 | 41 | 保留使用 | 98 |
//!
//! A refund record names the refund's own order id in 商户订单号 and the refunded payment's in 原始交易订单号. The
//! file has no totals; the record count is checked by the file's length (every line has the full width).

use super::{EntryKind, Statement, StatementEntry, bad, decode_text, encode_gbk, zip};
use crate::error::Result;

/// Field widths, in bytes.
pub const WIDTHS: [usize; 42] = [
    3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2, 6, 2, 4, 32, 1, 21,
    15, 1, 15, 32, 13, 13, 8, 32, 13, 13, 12, 2, 1, 32, 98,
];

const CODE: usize = 0;
const AMOUNT: usize = 6;
const QUERY_ID: usize = 9;
const ORDER_ID: usize = 11;
const MER_ID: usize = 27;
const RESERVED: usize = 34;
const ORIG_ORDER_ID: usize = 40;

/// A record's length: every field plus one separator after each but the last.
pub fn record_len() -> usize {
    WIDTHS.iter().sum::<usize>() + WIDTHS.len() - 1
}

/// Splits one record (GBK bytes) into its trimmed fields.
pub fn split_record(line: &[u8]) -> Result<Vec<String>> {
    if line.len() < record_len() {
        return Err(bad(format!(
            "unionpay ZM: record of {} bytes, expected {}",
            line.len(),
            record_len()
        )));
    }
    let mut at = 0;
    let mut out = Vec::with_capacity(WIDTHS.len());
    for w in WIDTHS {
        out.push(decode_text(&line[at..at + w])?.trim().to_owned());
        at += w + 1;
    }
    Ok(out)
}

/// Parses a ZM file (GBK).
pub fn parse_zm(file: &[u8]) -> Result<Statement> {
    let mut entries = Vec::new();
    for line in file.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let f = split_record(line)?;
        let kind = match f[CODE].as_str() {
            "S22" => EntryKind::Payment,
            "S30" => EntryKind::Refund,
            // Pre-authorisations, cancellations of the same day etc. are not used by us.
            _ => continue,
        };
        let amount_fen = f[AMOUNT]
            .parse::<u64>()
            .map_err(|_| bad("unionpay ZM: amount"))?;
        let (order_no, refund_no) = match kind {
            EntryKind::Payment => (f[ORDER_ID].clone(), None),
            // The original order id field is 5.1.0's; the merchant-reserved field carries it too (we send it).
            EntryKind::Refund => {
                let orig = if f[ORIG_ORDER_ID].is_empty() {
                    f[RESERVED].clone()
                } else {
                    f[ORIG_ORDER_ID].clone()
                };
                (orig, Some(f[ORDER_ID].clone()))
            }
        };
        entries.push(StatementEntry {
            kind,
            order_no,
            provider_trade_no: f[QUERY_ID].clone(),
            refund_no,
            amount_fen,
        });
    }
    Ok(Statement { entries })
}

/// Reads the file transfer's zip: the `…ZM_<merId>` file (there is none on a day without transactions).
pub fn parse_file_zip(archive: &[u8], mer_id: &str) -> Result<Statement> {
    let files = zip::read(archive)?;
    match files
        .iter()
        .find(|f| f.name.contains("ZM_") && f.name.ends_with(mer_id))
    {
        Some(f) => parse_zm(&f.data),
        None => Ok(Statement::default()),
    }
}

/// One record for [`write_zm`] (sandboxes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZmRecord {
    pub kind: EntryKind,
    pub trace_no: String,
    /// MMDDhhmmss.
    pub trace_time: String,
    pub amount_fen: u64,
    pub query_id: String,
    pub order_id: String,
    pub txn_type: String,
    pub orig_query_id: String,
    pub mer_id: String,
    pub req_reserved: String,
    pub orig_order_id: String,
}

fn field(s: &str, w: usize, numeric: bool) -> Vec<u8> {
    let b = encode_gbk(s);
    let b = &b[..b.len().min(w)];
    let mut out = Vec::with_capacity(w);
    if numeric {
        out.resize(w - b.len(), b'0');
        out.extend_from_slice(b);
    } else {
        out.extend_from_slice(b);
        out.resize(w, b' ');
    }
    out
}

/// The ZM file of `records` (sandboxes), CRLF line ends.
pub fn write_zm(records: &[ZmRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        let code = match r.kind {
            EntryKind::Payment => "S22",
            EntryKind::Refund => "S30",
        };
        let amount = r.amount_fen.to_string();
        let mut values: Vec<(String, bool)> =
            WIDTHS.iter().map(|_| (String::new(), false)).collect();
        values[CODE] = (code.into(), false);
        values[1] = ("00049992900".into(), false);
        values[2] = ("00049992900".into(), false);
        values[3] = (r.trace_no.clone(), true);
        values[4] = (r.trace_time.clone(), false);
        values[5] = ("6216***********0018".into(), false);
        values[AMOUNT] = (amount.clone(), true);
        values[7] = ("9399".into(), false);
        values[8] = ("08".into(), false);
        values[QUERY_ID] = (r.query_id.clone(), false);
        values[ORDER_ID] = (r.order_id.clone(), false);
        values[12] = ("01".into(), false);
        values[16] = (amount, true);
        values[19] = (r.txn_type.clone(), false);
        values[20] = ("00".into(), false);
        values[21] = ("000201".into(), false);
        values[26] = (r.orig_query_id.clone(), false);
        values[MER_ID] = (r.mer_id.clone(), false);
        values[RESERVED] = (r.req_reserved.clone(), false);
        values[ORIG_ORDER_ID] = (r.orig_order_id.clone(), false);
        for (i, ((v, numeric), w)) in values.iter().zip(WIDTHS).enumerate() {
            // Empty numeric fields are zeros, as in the real file.
            out.extend_from_slice(&field(
                v,
                w,
                *numeric || (v.is_empty() && [13, 15, 31, 32, 35, 36, 37].contains(&i)),
            ));
            if i + 1 < WIDTHS.len() {
                out.push(b' ');
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The zip the file transfer carries for settlement day `yymmdd` (sandboxes): the ZM file and an (empty) ZME
/// file of errors, named as UnionPay names them.
pub fn write_file_zip(yymmdd: &str, mer_id: &str, zm: &[u8]) -> Vec<u8> {
    zip::write(
        &[
            zip::ZipEntry {
                name: format!("INN{yymmdd}88ZM_{mer_id}"),
                data: zm.to_vec(),
            },
            zip::ZipEntry {
                name: format!("INN{yymmdd}88ZME_{mer_id}"),
                data: Vec::new(),
            },
        ],
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] =
        include_bytes!("../../testdata/statements/unionpay-INN26112688ZM_777290058110048");

    #[test]
    fn widths_match_the_sdk() {
        assert_eq!(record_len(), 566 + 41);
    }

    #[test]
    fn parses_the_sample_file() {
        let st = parse_zm(SAMPLE).unwrap();
        assert_eq!(st.entries.len(), 2);
        let p = &st.entries[0];
        assert_eq!(p.kind, EntryKind::Payment);
        assert_eq!(p.order_no, "SF0193A5F0C1D27B8E9A4C3B2D1E0F66");
        assert_eq!(p.provider_trade_no, "792611261000000000001");
        assert_eq!(p.amount_fen, 2000);
        let r = &st.entries[1];
        assert_eq!(r.kind, EntryKind::Refund);
        assert_eq!(r.order_no, "SF0193A5F0C1D27B8E9A4C3B2D1E0F66");
        assert_eq!(
            r.refund_no.as_deref(),
            Some("RF0193A5F0C1D27B8E9A4C3B2D1E0F97")
        );
        assert_eq!(r.amount_fen, 2000);
        // A short (truncated) record is an error.
        assert!(parse_zm(&SAMPLE[..SAMPLE.len() - 10]).is_err());
    }

    #[test]
    fn zip_round_trip() {
        let rec = ZmRecord {
            kind: EntryKind::Payment,
            trace_no: "123".into(),
            trace_time: "1126101500".into(),
            amount_fen: 1000,
            query_id: "q1".into(),
            order_id: "SF1".into(),
            txn_type: "01".into(),
            orig_query_id: String::new(),
            mer_id: "777290058110048".into(),
            req_reserved: String::new(),
            orig_order_id: String::new(),
        };
        let zm = write_zm(&[rec]);
        assert_eq!(zm.len(), record_len() + 2);
        let z = write_file_zip("261126", "777290058110048", &zm);
        let st = parse_file_zip(&z, "777290058110048").unwrap();
        assert_eq!(st.entries[0].amount_fen, 1000);
        assert_eq!(st.entries[0].order_no, "SF1");
        // Another merchant's archive has no file for us: an empty statement.
        assert!(parse_file_zip(&z, "999").unwrap().entries.is_empty());
    }
}
