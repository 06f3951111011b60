//! Web Push: message encryption (RFC 8291, `aes128gcm` content coding of RFC 8188) and VAPID application-server
//! identification (RFC 8292, an ES256 JWT), both sides — the application server's (encrypt, sign) and the push
//! service's / user agent's (verify, decrypt), the latter for the sandbox push service.
//!
//! Pinned by the worked example of RFC 8291 (section 5 / Appendix A): both key pairs, the auth secret, the salt,
//! the intermediate keys and the exact message body.
//!
//! Randomness is passed in (the sender's ephemeral private key and the salt), like time elsewhere in this crate.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

use crate::error::GatewayError;

/// The record size we use: one record of at most 4096 bytes, which every push service must accept.
pub const RECORD_SIZE: u32 = 4096;
/// Header of an `aes128gcm` body with a 65-byte key id: salt (16) + rs (4) + idlen (1) + keyid (65).
pub const HEADER_LEN: usize = 86;
/// Largest plaintext that fits one 4096-byte record: minus the header, the delimiter octet and the GCM tag.
pub const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - HEADER_LEN - 1 - 16;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url (padding tolerated), naming `field` on failure.
pub fn b64_decode(field: &str, s: &str) -> Result<Vec<u8>, GatewayError> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).map_err(|_| GatewayError::InvalidBase64(field.to_string()))
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn secret_key(field: &str, bytes: &[u8]) -> Result<SecretKey, GatewayError> {
    SecretKey::from_slice(bytes).map_err(|_| GatewayError::InvalidKey(format!("{field}: not a P-256 private key")))
}

fn public_key_of(field: &str, bytes: &[u8]) -> Result<PublicKey, GatewayError> {
    if bytes.len() != 65 || bytes[0] != 0x04 {
        return Err(GatewayError::InvalidKey(format!("{field}: not an uncompressed P-256 point")));
    }
    PublicKey::from_sec1_bytes(bytes).map_err(|_| GatewayError::InvalidKey(format!("{field}: not on the P-256 curve")))
}

/// The uncompressed public key (65 bytes, `04 || x || y`) of a P-256 private key.
pub fn public_key(private: &[u8]) -> Result<[u8; 65], GatewayError> {
    let point = secret_key("private key", private)?.public_key().to_encoded_point(false);
    point.as_bytes().try_into().map_err(|_| GatewayError::InvalidKey("unexpected point encoding".into()))
}

/// Whether 32 bytes are a usable P-256 private key (non-zero, below the group order).
pub fn is_private_key(bytes: &[u8]) -> bool {
    bytes.len() == 32 && SecretKey::from_slice(bytes).is_ok()
}

/// The content-encryption key and nonce of RFC 8291 section 3.4 (also returned for tests against the RFC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedKeys {
    pub prk_key: [u8; 32],
    pub ikm: [u8; 32],
    pub prk: [u8; 32],
    pub cek: [u8; 16],
    pub nonce: [u8; 12],
}

/// Key derivation shared by both sides: from the ECDH secret, the auth secret, both public keys and the salt.
pub fn derive(ecdh_secret: &[u8], auth_secret: &[u8], ua_public: &[u8], as_public: &[u8], salt: &[u8]) -> DerivedKeys {
    // PRK_key = HKDF-Extract(auth_secret, ecdh_secret); IKM = HKDF-Expand(PRK_key, key_info, 32)
    let prk_key = hmac(auth_secret, &[ecdh_secret]);
    let ikm = hmac(&prk_key, &[b"WebPush: info\0", ua_public, as_public, &[1]]);
    // PRK = HKDF-Extract(salt, IKM); CEK and NONCE = HKDF-Expand(PRK, …) truncated.
    let prk = hmac(salt, &[&ikm]);
    let cek_full = hmac(&prk, &[b"Content-Encoding: aes128gcm\0", &[1]]);
    let nonce_full = hmac(&prk, &[b"Content-Encoding: nonce\0", &[1]]);
    let mut cek = [0u8; 16];
    cek.copy_from_slice(&cek_full[..16]);
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&nonce_full[..12]);
    DerivedKeys { prk_key, ikm, prk, cek, nonce }
}

fn ecdh(private: &SecretKey, peer: &PublicKey) -> [u8; 32] {
    let shared = p256::ecdh::diffie_hellman(private.to_nonzero_scalar(), peer.as_affine());
    let mut out = [0u8; 32];
    out.copy_from_slice(shared.raw_secret_bytes());
    out
}

/// Encrypts `plaintext` for a subscription (`ua_public` = its `p256dh` key, `auth_secret` = its `auth`), with
/// the sender's one-time key pair `as_private` and a random 16-byte `salt`: the whole request body, one record.
pub fn encrypt(plaintext: &[u8], ua_public: &[u8], auth_secret: &[u8], as_private: &[u8], salt: &[u8]) -> Result<Vec<u8>, GatewayError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(GatewayError::InvalidField { field: "payload".into(), reason: format!("{} bytes; at most {MAX_PLAINTEXT}", plaintext.len()) });
    }
    if auth_secret.len() != 16 {
        return Err(GatewayError::InvalidField { field: "auth".into(), reason: "the auth secret must be 16 bytes".into() });
    }
    if salt.len() != 16 {
        return Err(GatewayError::InvalidField { field: "salt".into(), reason: "the salt must be 16 bytes".into() });
    }
    let ua = public_key_of("p256dh", ua_public)?;
    let sender = secret_key("sender key", as_private)?;
    let as_public = sender.public_key().to_encoded_point(false);
    let keys = derive(&ecdh(&sender, &ua), auth_secret, ua_public, as_public.as_bytes(), salt);
    // The last (and only) record ends with the delimiter 0x02 and no further padding.
    let mut padded = Vec::with_capacity(plaintext.len() + 1);
    padded.extend_from_slice(plaintext);
    padded.push(2);
    let cipher = Aes128Gcm::new_from_slice(&keys.cek).map_err(|_| GatewayError::SigningFailed)?;
    let sealed = cipher.encrypt(Nonce::from_slice(&keys.nonce), Payload { msg: &padded, aad: b"" }).map_err(|_| GatewayError::SigningFailed)?;
    let mut body = Vec::with_capacity(HEADER_LEN + sealed.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_public.as_bytes());
    body.extend_from_slice(&sealed);
    Ok(body)
}

/// Decrypts an `aes128gcm` Web Push body as the user agent does, with its private key and auth secret.
/// Only single-record bodies (all this crate sends, and all a 4096-byte push message can be) are accepted.
pub fn decrypt(body: &[u8], ua_private: &[u8], auth_secret: &[u8]) -> Result<Vec<u8>, GatewayError> {
    let malformed = |reason: &str| GatewayError::InvalidField { field: "body".into(), reason: reason.into() };
    if body.len() < 21 {
        return Err(malformed("shorter than the aes128gcm header"));
    }
    let salt = &body[..16];
    let rs = u32::from_be_bytes([body[16], body[17], body[18], body[19]]);
    let idlen = body[20] as usize;
    if idlen != 65 || body.len() < 21 + idlen + 17 {
        return Err(malformed("the key id must be the sender's 65-byte public key"));
    }
    let as_public = &body[21..21 + idlen];
    let sealed = &body[21 + idlen..];
    if rs < 18 || sealed.len() > rs as usize {
        return Err(malformed("more than one record"));
    }
    let ua_secret = secret_key("user agent key", ua_private)?;
    let ua_public = ua_secret.public_key().to_encoded_point(false);
    let sender = public_key_of("key id", as_public)?;
    let keys = derive(&ecdh(&ua_secret, &sender), auth_secret, ua_public.as_bytes(), as_public, salt);
    let cipher = Aes128Gcm::new_from_slice(&keys.cek).map_err(|_| GatewayError::DecryptionFailed)?;
    let mut padded = cipher.decrypt(Nonce::from_slice(&keys.nonce), Payload { msg: sealed, aad: b"" }).map_err(|_| GatewayError::DecryptionFailed)?;
    // Strip the padding: trailing zeros, then the delimiter, which must be 0x02 for the last record.
    while padded.last() == Some(&0) {
        padded.pop();
    }
    match padded.pop() {
        Some(2) => Ok(padded),
        _ => Err(malformed("no last-record delimiter")),
    }
}

/// The audience of a VAPID token for a push endpoint: its origin (`scheme://host[:port]`).
pub fn audience(endpoint: &str) -> Option<String> {
    let (scheme, rest) = endpoint.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty() && !h.contains('@'))?;
    Some(format!("{scheme}://{host}"))
}

/// The `Authorization` header value of RFC 8292: `vapid t=<ES256 JWT>, k=<public key>`, the token naming the
/// push service's origin (`aud`), an expiry (`exp`, at most 24 h ahead) and a contact (`sub`, mailto: or https:).
pub fn vapid_authorization(private: &[u8], aud: &str, sub: &str, exp: i64) -> Result<String, GatewayError> {
    let key = SigningKey::from_slice(private).map_err(|_| GatewayError::InvalidKey("VAPID key: not a P-256 private key".into()))?;
    let header = b64(br#"{"typ":"JWT","alg":"ES256"}"#);
    let claims = b64(serde_json::json!({ "aud": aud, "exp": exp, "sub": sub }).to_string().as_bytes());
    let signing_input = format!("{header}.{claims}");
    // RFC 6979 deterministic ECDSA; JWS wants the 64-byte r || s form.
    let signature: Signature = key.try_sign(signing_input.as_bytes()).map_err(|_| GatewayError::SigningFailed)?;
    let public = key.verifying_key().to_encoded_point(false);
    Ok(format!("vapid t={signing_input}.{}, k={}", b64(&signature.to_bytes()), b64(public.as_bytes())))
}

/// What a verified VAPID header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VapidClaims {
    /// The application server's public key (65 bytes), to be compared with the subscription's
    /// `applicationServerKey`.
    pub public_key: Vec<u8>,
    pub sub: String,
    pub exp: i64,
}

/// The push service's side of RFC 8292: parses `vapid t=…, k=…`, checks the ES256 signature with `k`, the
/// audience, and that `exp` lies in the future but no more than 24 hours ahead of `now` (unix seconds).
pub fn verify_vapid(authorization: &str, expected_aud: &str, now: i64) -> Result<VapidClaims, GatewayError> {
    let params = authorization.strip_prefix("vapid ").ok_or(GatewayError::MissingSignature)?;
    let (mut t, mut k) = (None, None);
    for part in params.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.trim()),
            Some(("k", v)) => k = Some(v.trim()),
            _ => {}
        }
    }
    let (t, k) = (t.ok_or_else(|| GatewayError::MissingField("t".into()))?, k.ok_or_else(|| GatewayError::MissingField("k".into()))?);
    let public = b64_decode("k", k)?;
    let verifying = VerifyingKey::from_sec1_bytes(&public).map_err(|_| GatewayError::InvalidKey("k: not a P-256 public key".into()))?;
    let mut parts = t.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(GatewayError::InvalidField { field: "t".into(), reason: "not a compact JWS".into() });
    };
    let header: serde_json::Value = serde_json::from_slice(&b64_decode("t.header", h)?).map_err(|e| GatewayError::MalformedJson(e.to_string()))?;
    if header["alg"] != "ES256" {
        return Err(GatewayError::UnsupportedAlgorithm(header["alg"].to_string()));
    }
    let signature = Signature::from_slice(&b64_decode("t.signature", s)?).map_err(|_| GatewayError::BadSignature)?;
    verifying.verify(format!("{h}.{c}").as_bytes(), &signature).map_err(|_| GatewayError::BadSignature)?;
    let claims: serde_json::Value = serde_json::from_slice(&b64_decode("t.claims", c)?).map_err(|e| GatewayError::MalformedJson(e.to_string()))?;
    if claims["aud"].as_str() != Some(expected_aud) {
        return Err(GatewayError::InvalidField { field: "aud".into(), reason: format!("expected {expected_aud}") });
    }
    let exp = claims["exp"].as_i64().ok_or_else(|| GatewayError::MissingField("exp".into()))?;
    if exp <= now || exp > now + 24 * 3600 {
        return Err(GatewayError::TimestampOutOfWindow { timestamp: exp, now, max_skew_seconds: 24 * 3600 });
    }
    let sub = claims["sub"].as_str().filter(|s| s.starts_with("mailto:") || s.starts_with("https:")).ok_or_else(|| GatewayError::MissingField("sub".into()))?;
    Ok(VapidClaims { public_key: public, sub: sub.to_string(), exp })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8291, section 5 and Appendix A.
    const PLAINTEXT: &str = "When I grow up, I want to be a watermelon";
    const UA_PUBLIC: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    const AS_PUBLIC: &str = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const BODY: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    fn d(s: &str) -> Vec<u8> {
        b64_decode("test", s).unwrap()
    }

    #[test]
    fn rfc8291_example_byte_for_byte() {
        let body = encrypt(PLAINTEXT.as_bytes(), &d(UA_PUBLIC), &d(AUTH), &d(AS_PRIVATE), &d(SALT)).unwrap();
        assert_eq!(b64(&body), BODY);
        assert_eq!(decrypt(&body, &d(UA_PRIVATE), &d(AUTH)).unwrap(), PLAINTEXT.as_bytes());
    }

    #[test]
    fn rfc8291_intermediate_keys() {
        assert_eq!(b64(&public_key(&d(AS_PRIVATE)).unwrap()), AS_PUBLIC);
        assert_eq!(b64(&public_key(&d(UA_PRIVATE)).unwrap()), UA_PUBLIC);
        let secret = ecdh(&secret_key("as", &d(AS_PRIVATE)).unwrap(), &public_key_of("ua", &d(UA_PUBLIC)).unwrap());
        assert_eq!(b64(&secret), "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs");
        let keys = derive(&secret, &d(AUTH), &d(UA_PUBLIC), &d(AS_PUBLIC), &d(SALT));
        assert_eq!(b64(&keys.prk_key), "Snr3JMxaHVDXHWJn5wdC52WjpCtd2EIEGBykDcZW32k");
        assert_eq!(b64(&keys.ikm), "S4lYMb_L0FxCeq0WhDx813KgSYqU26kOyzWUdsXYyrg");
        assert_eq!(b64(&keys.prk), "09_eUZGrsvxChDCGRCdkLiDXrReGOEVeSCdCcPBSJSc");
        assert_eq!(b64(&keys.cek), "oIhVW04MRdy2XN9CiKLxTg");
        assert_eq!(b64(&keys.nonce), "4h_95klXJ5E_qnoN");
    }

    #[test]
    fn tampering_and_wrong_keys_fail_cleanly() {
        let mut body = d(BODY);
        let last = body.len() - 1;
        body[last] ^= 1;
        assert_eq!(decrypt(&body, &d(UA_PRIVATE), &d(AUTH)), Err(GatewayError::DecryptionFailed));
        let mut wrong_auth = d(AUTH);
        wrong_auth[0] ^= 1;
        assert_eq!(decrypt(&d(BODY), &d(UA_PRIVATE), &wrong_auth), Err(GatewayError::DecryptionFailed));
        assert!(decrypt(&d(BODY)[..40], &d(UA_PRIVATE), &d(AUTH)).is_err());
        assert!(matches!(encrypt(b"x", &d(UA_PUBLIC)[..64], &d(AUTH), &d(AS_PRIVATE), &d(SALT)), Err(GatewayError::InvalidKey(_))));
        let too_big = vec![b'a'; MAX_PLAINTEXT + 1];
        assert!(matches!(encrypt(&too_big, &d(UA_PUBLIC), &d(AUTH), &d(AS_PRIVATE), &d(SALT)), Err(GatewayError::InvalidField { .. })));
        let fits = vec![b'a'; MAX_PLAINTEXT];
        let body = encrypt(&fits, &d(UA_PUBLIC), &d(AUTH), &d(AS_PRIVATE), &d(SALT)).unwrap();
        assert_eq!(body.len(), RECORD_SIZE as usize, "the largest payload fills exactly one 4096-byte record");
        assert_eq!(decrypt(&body, &d(UA_PRIVATE), &d(AUTH)).unwrap(), fits);
    }

    #[test]
    fn vapid_round_trip_and_refusals() {
        let key = d(AS_PRIVATE);
        let now = 1_790_000_000;
        let header = vapid_authorization(&key, "https://push.example.net", "mailto:ops@example.gov.cn", now + 3600).unwrap();
        let claims = verify_vapid(&header, "https://push.example.net", now).unwrap();
        assert_eq!(claims, VapidClaims { public_key: d(AS_PUBLIC), sub: "mailto:ops@example.gov.cn".into(), exp: now + 3600 });
        assert!(matches!(verify_vapid(&header, "https://other.example.net", now), Err(GatewayError::InvalidField { .. })));
        assert!(matches!(verify_vapid(&header, "https://push.example.net", now + 7200), Err(GatewayError::TimestampOutOfWindow { .. })));
        let far = vapid_authorization(&key, "https://push.example.net", "mailto:ops@example.gov.cn", now + 25 * 3600).unwrap();
        assert!(matches!(verify_vapid(&far, "https://push.example.net", now), Err(GatewayError::TimestampOutOfWindow { .. })));
        // Another key in `k` than the one that signed.
        let forged = header.replace(&format!("k={}", b64(&d(AS_PUBLIC))), &format!("k={UA_PUBLIC}"));
        assert_eq!(verify_vapid(&forged, "https://push.example.net", now), Err(GatewayError::BadSignature));
        assert_eq!(verify_vapid("Bearer x", "https://push.example.net", now), Err(GatewayError::MissingSignature));
        assert_eq!(audience("https://push.example.net:8443/wpush/v2/abc?x=1").as_deref(), Some("https://push.example.net:8443"));
        assert_eq!(audience("ftp://x/y"), None);
        assert_eq!(audience("https://user@evil/"), None);
    }
}
