//! Keys and the primitives built on them: field encryption (AES-256-GCM), the ID-number blind index
//! (HMAC-SHA256), CSRF tokens and one-time-code hashes, and random session tokens.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, bail};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::{Config, Secrets};

type HmacSha256 = Hmac<Sha256>;

/// Format byte in front of every ciphertext, so the scheme can change without guessing.
const FIELD_V1: u8 = 1;

#[derive(Clone)]
pub struct Keys {
    cookie: [u8; 32],
    field: [u8; 32],
    blind: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { <redacted> }")
    }
}

fn parse_key(name: &str, hex_key: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(hex_key.trim()).with_context(|| format!("secret {name} is not hex"))?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("secret {name} must be 32 bytes (64 hex characters)"))
}

pub fn random_hex_key() -> String {
    let mut k = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut k);
    hex::encode(k)
}

impl Keys {
    /// Keys from configuration. In demo mode, missing keys are generated once and kept in
    /// `<data_dir>/demo-secrets.toml` so that sessions and encrypted data survive restarts.
    pub fn load(config: &Config) -> anyhow::Result<Keys> {
        let mut secrets = config.secrets.clone();
        let missing = secrets.cookie_key.is_none() || secrets.field_key.is_none() || secrets.blind_index_key.is_none();
        if missing {
            if !config.demo {
                bail!("secrets.cookie_key, secrets.field_key and secrets.blind_index_key are required outside demo mode");
            }
            let stored = demo_secrets(&config.data_dir)?;
            secrets.cookie_key = secrets.cookie_key.or(stored.cookie_key);
            secrets.field_key = secrets.field_key.or(stored.field_key);
            secrets.blind_index_key = secrets.blind_index_key.or(stored.blind_index_key);
        }
        Ok(Keys {
            cookie: parse_key("cookie_key", secrets.cookie_key.as_deref().unwrap_or_default())?,
            field: parse_key("field_key", secrets.field_key.as_deref().unwrap_or_default())?,
            blind: parse_key("blind_index_key", secrets.blind_index_key.as_deref().unwrap_or_default())?,
        })
    }

    /// Keys from three 64-hex-character strings (benchmarks that share keys with the servers they start).
    pub fn from_hex(cookie: &str, field: &str, blind: &str) -> anyhow::Result<Keys> {
        Ok(Keys { cookie: parse_key("cookie_key", cookie)?, field: parse_key("field_key", field)?, blind: parse_key("blind_index_key", blind)? })
    }

    /// Fresh random keys (tests).
    pub fn random() -> Keys {
        let mut k = Keys { cookie: [0; 32], field: [0; 32], blind: [0; 32] };
        rand::thread_rng().fill_bytes(&mut k.cookie);
        rand::thread_rng().fill_bytes(&mut k.field);
        rand::thread_rng().fill_bytes(&mut k.blind);
        k
    }

    pub fn encrypt_field(&self, plaintext: &str) -> Vec<u8> {
        let cipher = Aes256Gcm::new((&self.field).into());
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = cipher.encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes()).expect("AES-GCM encryption cannot fail for in-memory input");
        let mut out = Vec::with_capacity(1 + 12 + ct.len());
        out.push(FIELD_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn decrypt_field(&self, data: &[u8]) -> anyhow::Result<String> {
        if data.len() < 13 || data[0] != FIELD_V1 {
            bail!("unknown field-encryption format");
        }
        let cipher = Aes256Gcm::new((&self.field).into());
        let pt = cipher
            .decrypt(Nonce::from_slice(&data[1..13]), &data[13..])
            .map_err(|_| anyhow::anyhow!("field decryption failed (wrong key or tampered data)"))?;
        Ok(String::from_utf8(pt)?)
    }

    /// Deterministic keyed index of an ID number: equal numbers give equal indexes, but the index
    /// reveals nothing without the key (unlike a plain hash of a 10^10-sized space).
    pub fn blind_index(&self, id_number: &str) -> String {
        self.mac(&self.blind, &[b"id-number", id_number.as_bytes()])
    }

    /// The stored form of a one-time code, bound to the number and purpose.
    pub fn code_hash(&self, phone: &str, purpose: &str, code: &str) -> String {
        self.mac(&self.cookie, &[b"sms-code", phone.as_bytes(), purpose.as_bytes(), code.as_bytes()])
    }

    /// The CSRF form token that matches a CSRF cookie value (signed double-submit).
    pub fn csrf_token(&self, cookie_value: &str) -> String {
        self.mac(&self.cookie, &[b"csrf", cookie_value.as_bytes()])
    }

    /// The token in a receipt's public verification link: proves we issued the receipt for this order number.
    pub fn receipt_token(&self, order_no: &str) -> String {
        self.mac(&self.cookie, &[b"receipt", order_no.as_bytes()])[..24].to_string()
    }

    pub fn receipt_token_ok(&self, order_no: &str, token: &str) -> bool {
        ct_eq(self.receipt_token(order_no).as_bytes(), token.as_bytes())
    }

    /// A 32-byte secret for another purpose, derived from the cookie key under `label` (key separation by HMAC),
    /// so instances sharing their keys share it too without another configured secret.
    pub fn derived_secret(&self, label: &str) -> [u8; 32] {
        let hex_mac = self.mac(&self.cookie, &[b"derived", label.as_bytes()]);
        let mut out = [0u8; 32];
        if let Ok(bytes) = hex::decode(hex_mac) {
            out.copy_from_slice(&bytes[..32]);
        }
        out
    }

    pub fn csrf_ok(&self, cookie_value: &str, form_token: &str) -> bool {
        ct_eq(self.csrf_token(cookie_value).as_bytes(), form_token.as_bytes())
    }

    fn mac(&self, key: &[u8; 32], parts: &[&[u8]]) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        for p in parts {
            mac.update(&(p.len() as u32).to_be_bytes());
            mac.update(p);
        }
        hex::encode(mac.finalize().into_bytes())
    }
}

/// A random 256-bit bearer/session token; only its SHA-256 is stored.
/// Constant-time comparison of two tokens (the length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn six_digit_code() -> String {
    format!("{:06}", rand::thread_rng().next_u32() % 1_000_000)
}

fn demo_secrets(data_dir: &Path) -> anyhow::Result<Secrets> {
    let path = data_dir.join("demo-secrets.toml");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return toml_secrets(&text).with_context(|| format!("reading {}", path.display()));
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let secrets = Secrets { cookie_key: Some(random_hex_key()), field_key: Some(random_hex_key()), blind_index_key: Some(random_hex_key()) };
    let text = format!(
        "# Generated demo secrets. Never use in production: set SHENFEN_SECRETS__* instead.\ncookie_key = \"{}\"\nfield_key = \"{}\"\nblind_index_key = \"{}\"\n",
        secrets.cookie_key.as_deref().unwrap_or_default(),
        secrets.field_key.as_deref().unwrap_or_default(),
        secrets.blind_index_key.as_deref().unwrap_or_default()
    );
    write_private(&path, &text)?;
    Ok(secrets)
}

fn toml_secrets(text: &str) -> anyhow::Result<Secrets> {
    use figment::providers::{Format, Toml};
    Ok(figment::Figment::from(Toml::string(text)).extract()?)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    Ok(std::fs::write(path, text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_encryption_round_trips_and_detects_tampering() {
        let k = Keys::random();
        let ct = k.encrypt_field("34010419900307123X");
        assert!(!ct.windows(18).any(|w| w == b"34010419900307123X"), "ciphertext must not contain the plaintext");
        assert_eq!(k.decrypt_field(&ct).unwrap(), "34010419900307123X");
        assert_ne!(k.encrypt_field("x"), k.encrypt_field("x"), "random nonce per encryption");
        let mut bad = ct.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(k.decrypt_field(&bad).is_err());
        assert!(Keys::random().decrypt_field(&ct).is_err(), "another key cannot decrypt");
        assert!(k.decrypt_field(&[]).is_err());
    }

    #[test]
    fn blind_index_is_deterministic_and_keyed() {
        let k = Keys::random();
        assert_eq!(k.blind_index("a"), k.blind_index("a"));
        assert_ne!(k.blind_index("a"), k.blind_index("b"));
        assert_ne!(k.blind_index("a"), Keys::random().blind_index("a"));
    }

    #[test]
    fn csrf_tokens_bind_to_their_cookie() {
        let k = Keys::random();
        let t = k.csrf_token("cookie1");
        assert!(k.csrf_ok("cookie1", &t));
        assert!(!k.csrf_ok("cookie2", &t));
        assert!(!k.csrf_ok("cookie1", ""));
    }
}
