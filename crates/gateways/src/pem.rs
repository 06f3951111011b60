//! Minimal, strict PEM reading (RFC 7468): what providers hand out as keys and certificates.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::{GatewayError, Result};

/// One decoded PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label between `BEGIN ` and `-----`, e.g. `CERTIFICATE`, `PRIVATE KEY`.
    pub label: String,
    /// The DER bytes.
    pub der: Vec<u8>,
}

/// Decodes every PEM block in `text`, in order. Text outside blocks is ignored (certificate bundles often carry
/// comments); whitespace inside the base64 (CRLF line ends, indentation) is tolerated.
pub fn parse_pem_blocks(text: &str) -> Result<Vec<PemBlock>> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after_begin = &rest[start + "-----BEGIN ".len()..];
        let label_end = after_begin
            .find("-----")
            .ok_or_else(|| GatewayError::InvalidKey("unterminated PEM BEGIN line".into()))?;
        let label = &after_begin[..label_end];
        let body_and_rest = &after_begin[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let body_end = body_and_rest.find(&end_marker).ok_or_else(|| {
            GatewayError::InvalidKey(format!("PEM block {label:?} has no END line"))
        })?;
        let body: String = body_and_rest[..body_end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| GatewayError::InvalidBase64(format!("PEM block {label:?}")))?;
        blocks.push(PemBlock {
            label: label.to_owned(),
            der,
        });
        rest = &body_and_rest[body_end + end_marker.len()..];
    }
    Ok(blocks)
}

/// The single block of `text` whose label is one of `labels`.
pub(crate) fn single_block(text: &str, labels: &[&str]) -> Result<PemBlock> {
    let mut found = parse_pem_blocks(text)?
        .into_iter()
        .filter(|b| labels.contains(&b.label.as_str()));
    let first = found
        .next()
        .ok_or_else(|| GatewayError::InvalidKey(format!("no PEM block labelled {labels:?}")))?;
    Ok(first)
}
