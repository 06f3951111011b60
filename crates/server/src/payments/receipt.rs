//! The electronic payment receipt (电子缴费凭证): the same facts as an HTML page and as a PDF, each with a
//! verification QR code that anyone can scan to check the receipt against our records online.
//!
//! The verification link carries a keyed MAC of the order number ([`crate::crypto::Keys::receipt_token`]), so a
//! receipt cannot be conjured for an order number someone guessed, and the check page shows only masked data.
//!
//! The PDF is written by hand (a few objects, no dependency): text uses the PDF standard CJK font `STSong-Light`
//! with the `UniGB-UCS2-H` encoding, which every PDF reader supplies without embedding a font (ISO 32000-1
//! 9.7.5.2, the Adobe-GB1 character collection); the QR code is drawn as filled squares.

use shenfen_domain::fees::{FeeItem, format_yuan};
use shenfen_domain::payments::PaymentChannel;
use shenfen_store::PaymentOrder;

/// What a receipt shows. Personal data is masked.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub order_no: String,
    pub payer: String,
    pub item: String,
    pub amount: String,
    pub channel: String,
    pub paid_at: String,
    pub refunded: Option<String>,
    /// The public verification URL (also in the QR code).
    pub verify_url: String,
}

impl Receipt {
    /// `None` unless the order is paid.
    pub fn of(order: &PaymentOrder, payer_masked: Option<&str>, public_url: &str, token: &str) -> Option<Receipt> {
        let paid_at = order.paid_at?;
        if order.status != shenfen_store::PaymentStatus::Success {
            return None;
        }
        Some(Receipt {
            order_no: order.order_no.clone(),
            payer: payer_masked.unwrap_or("窗口缴费").to_string(),
            item: FeeItem::from_code(&order.item).map(|i| i.name_zh()).unwrap_or("-").to_string(),
            amount: format!("¥{}", format_yuan(order.amount_fen)),
            channel: order.channel.as_deref().and_then(PaymentChannel::from_code).map(|c| c.name_zh()).unwrap_or("-").to_string(),
            paid_at: crate::appointments::ms_to_local(paid_at).format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default(),
            refunded: (order.refunded_fen > 0).then(|| format!("¥{}", format_yuan(order.refunded_fen))),
            verify_url: format!("{}/receipts/{}/{}", public_url.trim_end_matches('/'), order.order_no, token),
        })
    }

    /// The receipt as a one-page A5 PDF.
    pub fn pdf(&self) -> Vec<u8> {
        let mut content = String::new();
        let mut line = |y: i32, size: i32, text: &str| {
            content.push_str(&format!("BT /F1 {size} Tf 36 {y} Td <{}> Tj ET\n", utf16_hex(text)));
        };
        line(560, 16, "居民身份证工本费 电子缴费凭证");
        let mut y = 520;
        let rows = [
            ("订单号", self.order_no.as_str()),
            ("缴费人", self.payer.as_str()),
            ("收费项目", self.item.as_str()),
            ("金额", self.amount.as_str()),
            ("支付方式", self.channel.as_str()),
            ("支付时间", self.paid_at.as_str()),
        ];
        for (k, v) in rows {
            line(y, 11, &format!("{k}：{v}"));
            y -= 22;
        }
        if let Some(r) = &self.refunded {
            line(y, 11, &format!("已退款：{r}"));
            y -= 22;
        }
        line(y - 8, 9, "扫描二维码或访问以下地址核验本凭证：");
        // The URL is ASCII; the CJK font has half-width Latin glyphs in its range.
        line(y - 24, 8, &self.verify_url);
        // QR code: modules as 3-pt squares, bottom-left at (36, 60).
        if let Ok(qr) = qrcode::QrCode::new(self.verify_url.as_bytes()) {
            let width = qr.width();
            let colors = qr.to_colors();
            let module = 3;
            content.push_str("0 0 0 rg\n");
            for (i, c) in colors.iter().enumerate() {
                if *c == qrcode::Color::Dark {
                    let (x, row) = ((i % width) as i32, (i / width) as i32);
                    content.push_str(&format!("{} {} {module} {module} re\n", 36 + x * module, 60 + (width as i32 - 1 - row) * module));
                }
            }
            content.push_str("f\n");
        }
        pdf_document(&content)
    }
}

/// Text as UTF-16BE hex for a `UniGB-UCS2-H` font. Characters outside the Basic Multilingual Plane (none in a
/// receipt) are replaced by a question mark.
fn utf16_hex(s: &str) -> String {
    s.chars().map(|c| if (c as u32) <= 0xFFFF { format!("{:04X}", c as u32) } else { "003F".into() }).collect()
}

/// A minimal, valid PDF 1.4: catalog, one A5 page, the content stream and a Type0 CJK font, with a correct
/// cross-reference table.
fn pdf_document(content: &str) -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 595] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H /DescendantFonts [6 0 R] >>".to_string(),
        "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /FontDescriptor 7 0 R /DW 1000 >>".to_string(),
        "<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Receipt {
        Receipt {
            order_no: "SF0123456789ABCDEF0123456789ABCD".into(),
            payer: "*三".into(),
            item: "换领工本费".into(),
            amount: "¥20.00".into(),
            channel: "支付宝".into(),
            paid_at: "2026-11-26 10:00:00".into(),
            refunded: None,
            verify_url: "https://example.gov.cn/receipts/SF01/abcd".into(),
        }
    }

    #[test]
    fn pdf_is_well_formed() {
        let mut pdf = receipt().pdf();
        // The header's four binary bytes (which mark the file as binary) would shift offsets in a lossy string.
        pdf[10..14].copy_from_slice(b"BBBB");
        let text = String::from_utf8(pdf).unwrap();
        assert!(text.starts_with("%PDF-1.4"));
        assert!(text.trim_end().ends_with("%%EOF"));
        // Every xref offset points at its object.
        let xref_at: usize = text.rsplit("startxref\n").next().unwrap().lines().next().unwrap().parse().unwrap();
        let table = &text[xref_at..];
        let offsets: Vec<usize> = table.lines().skip(3).take(7).map(|l| l[..10].parse().unwrap()).collect();
        for (i, o) in offsets.iter().enumerate() {
            assert!(text[*o..].starts_with(&format!("{} 0 obj", i + 1)), "object {}", i + 1);
        }
        // The order number is in the content stream as UTF-16 hex; the QR squares are drawn.
        assert!(text.contains(&utf16_hex("SF0123456789ABCDEF0123456789ABCD")));
        assert!(text.matches(" re\n").count() > 100);
        // The declared stream length is exact.
        let start = text.find("stream\n").unwrap() + "stream\n".len();
        let end = text.find("endstream").unwrap();
        let declared: usize = text[..start].rsplit("/Length ").next().unwrap().split(' ').next().unwrap().parse().unwrap();
        assert_eq!(declared, end - start);
    }

    #[test]
    fn utf16_of_chinese() {
        assert_eq!(utf16_hex("身份A"), "8EAB4EFD0041");
    }
}
