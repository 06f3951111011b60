//! Percent-encoding and form decoding shared by the providers.

use crate::error::{GatewayError, Result};

/// RFC 3986 percent-encoding: the unreserved characters `A-Z a-z 0-9 - _ . ~` stay, every other byte of the
/// UTF-8 encoding becomes `%XX` (upper-case hex). Space becomes `%20`, `*` becomes `%2A`, `~` stays: what
/// Aliyun's and Tencent's signatures require, and a form-decoder-compatible encoding for everyone else.
pub fn rfc3986_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// `k=v&k=v` with both sides RFC 3986 encoded, in the given order.
pub fn encode_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", rfc3986_encode(k), rfc3986_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes `application/x-www-form-urlencoded` (also a URL query): `+` is space, `%XX` is a byte, the result must
/// be UTF-8. Strict: a `%` not followed by two hex digits is an error rather than passed through, so that what
/// is verified is exactly what was sent. Empty segments (`a=1&&b=2`) are skipped; a key without `=` has an
/// empty value. Keys keep their order and duplicates.
pub fn parse_form(body: &str) -> Result<Vec<(String, String)>> {
    body.split('&')
        .filter(|seg| !seg.is_empty())
        .map(|seg| {
            let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
            Ok((form_decode(k)?, form_decode(v)?))
        })
        .collect()
}

/// Decodes one form component (see [`parse_form`]).
pub fn form_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16));
                let lo = bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                    _ => {
                        return Err(GatewayError::MalformedForm(format!(
                            "bad percent escape at byte {i}"
                        )));
                    }
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| GatewayError::MalformedForm("not UTF-8 after decoding".into()))
}

/// Constant-time equality for signature strings (HMAC comparisons must not leak the matching prefix length).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3986_encodes_reserved_and_keeps_unreserved() {
        assert_eq!(rfc3986_encode("a b*c~d-_.+/:"), "a%20b%2Ac~d-_.%2B%2F%3A");
        assert_eq!(rfc3986_encode("阿"), "%E9%98%BF");
    }

    #[test]
    fn form_decoding_is_strict() {
        assert_eq!(
            parse_form("a=1+2&b=%E9%98%BF&c").unwrap(),
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "阿".into()),
                ("c".into(), "".into())
            ]
        );
        assert_eq!(parse_form("a=%zz").unwrap_err().code(), "malformed_form");
        assert_eq!(parse_form("a=%E9").unwrap_err().code(), "malformed_form");
        assert_eq!(parse_form("a=%4").unwrap_err().code(), "malformed_form");
    }

    proptest::proptest! {
        /// Whatever we encode, the strict decoder gives back exactly.
        #[test]
        fn query_round_trip(pairs in proptest::collection::vec(("\\PC{1,12}", "\\PC{0,12}"), 0..6)) {
            let encoded = encode_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            proptest::prop_assert_eq!(parse_form(&encoded).unwrap(), pairs);
        }
    }
}
