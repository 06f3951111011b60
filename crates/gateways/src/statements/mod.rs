//! Daily statements (对账单): what each provider says happened to our money on one day, in its own file format.
//!
//! | module | how it is fetched | format |
//! |---|---|---|
//! | [`alipay`] | `alipay.data.dataservice.bill.downloadurl.query` → `bill_download_url` | a zip of GBK CSV files; the 业务明细 file: `#` comment lines, a column row, one row per payment / refund (fields padded with a tab), `#` total lines |
//! | [`wechatpay`] | `GET /v3/bill/tradebill` → `download_url` (+ SHA1 `hash_value`) | text: a column row, rows whose every field starts with a backquote, a summary column row and summary row |
//! | [`unionpay`] | `fileTransReq` (`txnType=76`) → `fileContent` | base64(zlib(zip)); the `…ZM_<merId>` file: GBK, fixed-width fields separated by one byte |
//!
//! Each parser returns the same [`Statement`]: entries keyed by our order number (for refunds: the number of the
//! refunded payment, plus our refund number), amounts in fen; and checks the file's own totals against its rows,
//! so a truncated download is an error rather than a silent mismatch. Each module also has the writer its
//! sandbox uses (the mirror of the parser).

pub mod alipay;
pub mod unionpay;
pub mod wechatpay;
pub mod zip;

use crate::error::{GatewayError, Result};

/// What a statement line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Payment,
    Refund,
}

/// One payment or refund as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementEntry {
    pub kind: EntryKind,
    /// Our merchant order number of the payment (for a refund: of the payment refunded).
    pub order_no: String,
    /// The provider's number of this transaction (Alipay 交易号, WeChat 微信订单号, UnionPay 查询流水号).
    pub provider_trade_no: String,
    /// Our refund number (refunds only).
    pub refund_no: Option<String>,
    /// Paid or refunded amount, fen, positive.
    pub amount_fen: u64,
}

/// A parsed statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statement {
    pub entries: Vec<StatementEntry>,
}

impl Statement {
    pub fn payments(&self) -> impl Iterator<Item = &StatementEntry> {
        self.entries.iter().filter(|e| e.kind == EntryKind::Payment)
    }

    pub fn refunds(&self) -> impl Iterator<Item = &StatementEntry> {
        self.entries.iter().filter(|e| e.kind == EntryKind::Refund)
    }
}

/// Text of a statement file: UTF-8 when it is valid UTF-8 (a BOM is dropped), otherwise GBK (GB18030), which is
/// what Alipay and UnionPay write.
pub fn decode_text(bytes: &[u8]) -> Result<String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(s.to_owned());
    }
    let (text, _, bad) = encoding_rs::GB18030.decode(bytes);
    if bad {
        return Err(GatewayError::invalid_field(
            "statement",
            "neither UTF-8 nor GBK text",
        ));
    }
    Ok(text.into_owned())
}

/// GBK bytes of `text` (sandboxes write files as the providers do); characters GBK lacks become `?`.
pub fn encode_gbk(text: &str) -> Vec<u8> {
    let (bytes, _, _) = encoding_rs::GBK.encode(text);
    bytes.into_owned()
}

fn bad(reason: impl Into<String>) -> GatewayError {
    GatewayError::invalid_field("statement", reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_utf8_or_gbk() {
        assert_eq!(decode_text("业务明细".as_bytes()).unwrap(), "业务明细");
        assert_eq!(
            decode_text(&encode_gbk("业务明细,交易")).unwrap(),
            "业务明细,交易"
        );
        assert_eq!(decode_text(b"\xEF\xBB\xBFabc").unwrap(), "abc");
        assert_eq!(
            decode_text(b"\xff\xff\xff").unwrap_err().code(),
            "invalid_field"
        );
    }
}
