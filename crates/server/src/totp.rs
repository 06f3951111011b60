//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP) for the staff second factor: HMAC-SHA-1, 30-second
//! steps, 6 digits, one step of clock drift either way — what every authenticator app does by default. Pure; the
//! "never the same code twice" rule is one conditional UPDATE in the store (`use_totp_step`).

use hmac::{Hmac, Mac};
use sha1::Sha1;

pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps accepted either side of now (clock drift between the phone and the server).
pub const DRIFT_STEPS: i64 = 1;
/// 160-bit secrets, as RFC 4226 recommends.
pub const SECRET_LEN: usize = 20;

/// HOTP (RFC 4226 §5.3): dynamic truncation of HMAC-SHA-1(secret, counter), `digits` decimal digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
    format!("{:0width$}", bin % 10u32.pow(digits), width = digits as usize)
}

/// The 30-second step a UTC millisecond time falls in.
pub fn step_at(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000).div_euclid(STEP_SECS)
}

/// The step whose code `code` is, within ±[`DRIFT_STEPS`] of now; `None` when it matches none. Compares in
/// constant time per candidate.
pub fn matching_step(secret: &[u8], code: &str, now_ms: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(now_ms);
    // Newest first: with drift, prefer the latest step so a reuse check is as strict as it can be.
    ((now - DRIFT_STEPS)..=(now + DRIFT_STEPS))
        .rev()
        .filter(|s| *s >= 0)
        .find(|s| crate::crypto::ct_eq(hotp(secret, *s as u64, DIGITS).as_bytes(), code.as_bytes()))
}

/// A fresh random secret.
pub fn new_secret() -> Vec<u8> {
    use rand::RngCore;
    let mut s = vec![0u8; SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

/// RFC 4648 base32 without padding, as authenticator apps expect in `otpauth://` URIs.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            out.push(ALPHABET[((n >> (35 - 5 * i)) & 31) as usize] as char);
        }
    }
    out
}

/// The `otpauth://` URI (Key Uri Format) an authenticator app scans: issuer and account label, SHA1/6/30.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let label = crate::pages::urlencode(&format!("{issuer}:{account}"));
    format!(
        "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret),
        crate::pages::urlencode(issuer)
    )
}

/// The secret grouped in fours for typing by hand.
pub fn grouped(secret_b32: &str) -> String {
    secret_b32.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap_or("")).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890", 8 digits.
    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let seed = b"12345678901234567890";
        for (unix, expected) in [
            (59_i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(hotp(seed, step_at(unix * 1000) as u64, 8), expected, "T = {unix}");
        }
    }

    /// RFC 4226 Appendix D: HOTP values for counters 0–9 with the same seed, 6 digits.
    #[test]
    fn rfc4226_appendix_d_vectors() {
        let expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", i as u64, 6), *e);
        }
    }

    #[test]
    fn accepts_one_step_of_drift_and_no_more() {
        let secret = b"12345678901234567890";
        let now = 1_234_567_890_000;
        let step = step_at(now);
        for (delta, ok) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = hotp(secret, (step + delta) as u64, DIGITS);
            assert_eq!(matching_step(secret, &code, now), ok.then_some(step + delta), "drift {delta}");
        }
        assert_eq!(matching_step(secret, "12345", now), None);
        assert_eq!(matching_step(secret, "abcdef", now), None);
        assert_eq!(matching_step(secret, "1234567", now), None);
    }

    #[test]
    fn base32_matches_rfc4648_vectors() {
        for (input, expected) in [("", ""), ("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foob", "MZXW6YQ"), ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI")] {
            assert_eq!(base32(input.as_bytes()), expected);
        }
        assert_eq!(base32(b"12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn otpauth_uri_names_issuer_account_and_parameters() {
        let uri = otpauth_uri("Shenfen", "admin", b"12345678901234567890");
        assert_eq!(uri, "otpauth://totp/Shenfen%3Aadmin?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Shenfen&algorithm=SHA1&digits=6&period=30");
        assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
    }
}
