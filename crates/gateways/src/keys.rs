//! RSA keys and X.509 certificates, wrapping `ring` (signatures) and `x509-parser` (certificate fields).
//!
//! All providers here sign with RSA PKCS#1 v1.5: Alipay RSA2, WeChat Pay v3 and UnionPay 5.1.0 with SHA-256.
//! ring enforces a 2048-bit minimum modulus, which every provider key in use meets.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::{GatewayError, Result};
use crate::pem::{parse_pem_blocks, single_block};

const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

/// An RSA private key able to produce PKCS#1 v1.5 SHA-256 signatures (the merchant's key, or a sandbox's
/// provider key). Cloning shares the key.
#[derive(Clone)]
pub struct RsaPrivateKey {
    key: Arc<RsaKeyPair>,
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        write!(
            f,
            "RsaPrivateKey({} bits)",
            self.key.public().modulus_len() * 8
        )
    }
}

impl RsaPrivateKey {
    /// PKCS#8 `-----BEGIN PRIVATE KEY-----` (WeChat's `apiclient_key.pem`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self> {
        Self::from_pkcs8_der(&single_block(pem, &["PRIVATE KEY"])?.der)
    }

    /// PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let key =
            RsaKeyPair::from_pkcs8(der).map_err(|e| GatewayError::InvalidKey(e.to_string()))?;
        Ok(Self { key: Arc::new(key) })
    }

    /// PKCS#1 DER (`RSAPrivateKey`).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        let key = RsaKeyPair::from_der(der).map_err(|e| GatewayError::InvalidKey(e.to_string()))?;
        Ok(Self { key: Arc::new(key) })
    }

    /// Either PEM form: `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1).
    pub fn from_pem(pem: &str) -> Result<Self> {
        let block = single_block(pem, &["PRIVATE KEY", "RSA PRIVATE KEY"])?;
        if block.label == "PRIVATE KEY" {
            Self::from_pkcs8_der(&block.der)
        } else {
            Self::from_pkcs1_der(&block.der)
        }
    }

    /// A bare base64 key without PEM armour, as Alipay's key tool prints it; PKCS#8 tried first, then PKCS#1.
    pub fn from_base64_der(b64: &str) -> Result<Self> {
        let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| GatewayError::InvalidBase64("private key".into()))?;
        Self::from_pkcs8_der(&der).or_else(|_| Self::from_pkcs1_der(&der))
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message` (deterministic).
    pub fn sign_sha256(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut sig,
            )
            .map_err(|_| GatewayError::SigningFailed)?;
        Ok(sig)
    }

    /// [`Self::sign_sha256`], base64 (standard alphabet, padded): the form every provider here puts on the wire.
    pub fn sign_sha256_base64(&self, message: &[u8]) -> Result<String> {
        Ok(STANDARD.encode(self.sign_sha256(message)?))
    }

    /// The matching public key (for sandboxes that must verify what they sign, and for tests).
    pub fn public_key(&self) -> RsaPublicKey {
        RsaPublicKey {
            pkcs1_der: self.key.public().as_ref().to_vec(),
        }
    }
}

/// An RSA public key (PKCS#1 `RSAPublicKey` DER inside) that verifies PKCS#1 v1.5 signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    pkcs1_der: Vec<u8>,
}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPublicKey({} DER bytes)", self.pkcs1_der.len())
    }
}

impl RsaPublicKey {
    /// `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo), or `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1).
    pub fn from_spki_pem(pem: &str) -> Result<Self> {
        let block = single_block(pem, &["PUBLIC KEY", "RSA PUBLIC KEY"])?;
        if block.label == "PUBLIC KEY" {
            Self::from_spki_der(&block.der)
        } else {
            Self::from_pkcs1_der(&block.der)
        }
    }

    /// SubjectPublicKeyInfo DER.
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| GatewayError::InvalidKey(format!("SubjectPublicKeyInfo: {e}")))?;
        if !rest.is_empty() {
            return Err(GatewayError::InvalidKey(
                "trailing bytes after SubjectPublicKeyInfo".into(),
            ));
        }
        Self::from_spki(&spki).map_err(GatewayError::InvalidKey)
    }

    /// A bare base64 SubjectPublicKeyInfo, the form Alipay's console shows ("支付宝公钥").
    pub fn from_spki_base64(b64: &str) -> Result<Self> {
        let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| GatewayError::InvalidBase64("public key".into()))?;
        Self::from_spki_der(&der)
    }

    /// PKCS#1 `RSAPublicKey` DER.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        // Re-use x509-parser's RSAPublicKey parser for the size check.
        let parsed = x509_parser::public_key::RSAPublicKey::from_der(der)
            .map_err(|e| GatewayError::InvalidKey(format!("RSAPublicKey: {e}")))?;
        check_rsa_size(parsed.1.key_size()).map_err(GatewayError::InvalidKey)?;
        Ok(Self {
            pkcs1_der: der.to_vec(),
        })
    }

    /// The public key of the first certificate in a PEM text.
    pub fn from_cert_pem(pem: &str) -> Result<Self> {
        Certificate::from_pem(pem)?.public_key()
    }

    fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> std::result::Result<Self, String> {
        if spki.algorithm.algorithm.to_id_string() != OID_RSA_ENCRYPTION {
            return Err(format!(
                "not an RSA key (algorithm {})",
                spki.algorithm.algorithm
            ));
        }
        match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => check_rsa_size(rsa.key_size())?,
            _ => return Err("malformed RSA public key".into()),
        }
        Ok(Self {
            pkcs1_der: spki.subject_public_key.data.to_vec(),
        })
    }

    /// Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature.
    pub fn verify_sha256(&self, message: &[u8], sig: &[u8]) -> Result<()> {
        self.verify_with(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
    }

    /// [`Self::verify_sha256`] with a base64 signature as carried on the wire.
    pub fn verify_sha256_base64(&self, message: &[u8], sig_b64: &str) -> Result<()> {
        let sig = STANDARD
            .decode(sig_b64.trim().as_bytes())
            .map_err(|_| GatewayError::BadSignature)?;
        self.verify_sha256(message, &sig)
    }

    fn verify_with(
        &self,
        alg: &'static dyn VerificationAlgorithm,
        message: &[u8],
        sig: &[u8],
    ) -> Result<()> {
        UnparsedPublicKey::new(alg, &self.pkcs1_der)
            .verify(message, sig)
            .map_err(|_| GatewayError::BadSignature)
    }
}

fn check_rsa_size(bits: usize) -> std::result::Result<(), String> {
    if (2048..=8192).contains(&bits) {
        Ok(())
    } else {
        Err(format!("RSA key of {bits} bits (2048..=8192 required)"))
    }
}

/// An X.509 certificate, parsed once; the fields the providers' protocols need are kept.
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    serial_bytes: Vec<u8>,
    serial_decimal: String,
    issuer_raw: Vec<u8>,
    subject_raw: Vec<u8>,
    /// Issuer attributes as (short name, value) in DER order (C first, CN last, typically).
    issuer_attrs: Vec<(String, String)>,
    subject_common_names: Vec<String>,
    not_before: i64,
    not_after: i64,
    is_ca: bool,
    tbs: Vec<u8>,
    signature_algorithm_oid: String,
    signature: Vec<u8>,
    public_key: std::result::Result<RsaPublicKey, String>,
}

impl Certificate {
    /// The first `CERTIFICATE` block of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let block = single_block(pem, &["CERTIFICATE"])
            .map_err(|e| GatewayError::InvalidCertificate(e.to_string()))?;
        Self::from_der(&block.der)
    }

    /// Every `CERTIFICATE` block of a PEM bundle (Alipay's root certificate file holds four).
    pub fn all_from_pem(pem: &str) -> Result<Vec<Self>> {
        parse_pem_blocks(pem)?
            .into_iter()
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| Self::from_der(&b.der))
            .collect()
    }

    /// DER bytes.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let (rest, cert) = X509Certificate::from_der(der)
            .map_err(|e| GatewayError::InvalidCertificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(GatewayError::InvalidCertificate(
                "trailing bytes after certificate".into(),
            ));
        }
        let registry = x509_parser::objects::oid_registry();
        let mut issuer_attrs = Vec::new();
        for rdn in cert.issuer().iter_rdn() {
            for attr in rdn.iter() {
                let name = x509_parser::objects::oid2abbrev(attr.attr_type(), registry)
                    .map(str::to_owned)
                    .unwrap_or_else(|_| attr.attr_type().to_id_string());
                let value = attr.as_str().map_err(|_| {
                    GatewayError::InvalidCertificate(format!(
                        "issuer attribute {name} is not a string"
                    ))
                })?;
                issuer_attrs.push((name, value.to_owned()));
            }
        }
        let subject_common_names = cert
            .subject()
            .iter_common_name()
            .map(|cn| {
                cn.as_str().map(str::to_owned).map_err(|_| {
                    GatewayError::InvalidCertificate("subject CN is not a string".into())
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            der: der.to_vec(),
            serial_bytes: cert.raw_serial().to_vec(),
            serial_decimal: cert.tbs_certificate.serial.to_string(),
            issuer_raw: cert.issuer().as_raw().to_vec(),
            subject_raw: cert.subject().as_raw().to_vec(),
            issuer_attrs,
            subject_common_names,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            is_ca: cert.is_ca(),
            tbs: cert.tbs_certificate.as_ref().to_vec(),
            signature_algorithm_oid: cert.signature_algorithm.algorithm.to_id_string(),
            signature: cert.signature_value.data.to_vec(),
            public_key: RsaPublicKey::from_spki(cert.public_key()),
        })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Serial as upper-case hex without DER sign padding: how WeChat Pay names platform certificates
    /// (`Wechatpay-Serial`, `serial_no`).
    pub fn serial_hex_upper(&self) -> String {
        let bytes = match self.serial_bytes.as_slice() {
            [0, rest @ ..] if !rest.is_empty() => rest,
            other => other,
        };
        hex::encode_upper(bytes)
    }

    /// Serial in decimal: UnionPay's `certId`, and part of Alipay's certificate SN.
    pub fn serial_decimal(&self) -> &str {
        &self.serial_decimal
    }

    /// Issuer attributes as (short name, value), in certificate (DER) order.
    pub fn issuer_attributes(&self) -> &[(String, String)] {
        &self.issuer_attrs
    }

    /// Subject common names (usually exactly one).
    pub fn subject_common_names(&self) -> &[String] {
        &self.subject_common_names
    }

    /// Validity period as unix seconds (inclusive both ends).
    pub fn validity(&self) -> (i64, i64) {
        (self.not_before, self.not_after)
    }

    /// Whether `now` (unix seconds) lies in the validity period.
    pub fn is_valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// Whether the basicConstraints extension says CA:true.
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }

    /// Signature algorithm OID (dotted).
    pub fn signature_algorithm_oid(&self) -> &str {
        &self.signature_algorithm_oid
    }

    /// The certificate's RSA public key.
    pub fn public_key(&self) -> Result<RsaPublicKey> {
        self.public_key
            .clone()
            .map_err(GatewayError::InvalidCertificate)
    }

    /// Whether `issuer` issued this certificate: issuer name equals the issuer's subject (byte-wise DER) AND the
    /// signature verifies with the issuer's RSA key. Both checks: a name alone is forgeable by any CA.
    pub fn verify_issued_by(&self, issuer: &Certificate) -> Result<()> {
        if self.issuer_raw != issuer.subject_raw {
            return Err(GatewayError::CertificateChain(
                "issuer name does not match the issuing certificate".into(),
            ));
        }
        let alg: &'static dyn VerificationAlgorithm = match self.signature_algorithm_oid.as_str() {
            "1.2.840.113549.1.1.11" => &signature::RSA_PKCS1_2048_8192_SHA256,
            "1.2.840.113549.1.1.12" => &signature::RSA_PKCS1_2048_8192_SHA384,
            "1.2.840.113549.1.1.13" => &signature::RSA_PKCS1_2048_8192_SHA512,
            "1.2.840.113549.1.1.5" => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            other => return Err(GatewayError::UnsupportedAlgorithm(other.to_owned())),
        };
        let key = issuer.public_key()?;
        key.verify_with(alg, &self.tbs, &self.signature)
            .map_err(|_| {
                GatewayError::CertificateChain(
                    "certificate signature does not verify with the issuer's key".into(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;

    #[test]
    fn pkcs1_and_pkcs8_forms_are_the_same_key() {
        let a = RsaPrivateKey::from_pem(testdata::TEST_MERCHANT_KEY_PEM).unwrap();
        let b = RsaPrivateKey::from_pem(testdata::TEST_MERCHANT_PKCS1_KEY_PEM).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(
            a.public_key(),
            RsaPublicKey::from_spki_pem(testdata::TEST_MERCHANT_PUB_PEM).unwrap()
        );
        // PKCS#1 v1.5 is deterministic: both produce the same signature.
        assert_eq!(a.sign_sha256(b"x").unwrap(), b.sign_sha256(b"x").unwrap());
        let der = single_block(testdata::TEST_MERCHANT_KEY_PEM, &["PRIVATE KEY"])
            .unwrap()
            .der;
        let bare = STANDARD.encode(der);
        assert_eq!(
            RsaPrivateKey::from_base64_der(&bare).unwrap().public_key(),
            a.public_key()
        );
        assert!(!format!("{a:?}").contains("MII"));
    }

    #[test]
    fn malformed_keys_and_certificates_are_errors() {
        assert_eq!(
            RsaPrivateKey::from_pkcs8_pem("").unwrap_err().code(),
            "invalid_key"
        );
        assert_eq!(
            RsaPrivateKey::from_pkcs8_pem(
                "-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----"
            )
            .unwrap_err()
            .code(),
            "invalid_base64"
        );
        assert_eq!(
            RsaPrivateKey::from_pkcs8_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
            )
            .unwrap_err()
            .code(),
            "invalid_key"
        );
        assert_eq!(
            RsaPrivateKey::from_pkcs8_pem("-----BEGIN PRIVATE KEY-----\nAAAA")
                .unwrap_err()
                .code(),
            "invalid_key"
        );
        assert_eq!(
            RsaPublicKey::from_spki_base64("AAAA").unwrap_err().code(),
            "invalid_key"
        );
        assert_eq!(
            Certificate::from_der(b"\x30\x03\x02\x01\x01")
                .unwrap_err()
                .code(),
            "invalid_certificate"
        );
        // A 1024-bit key is refused (ring's 2048-bit floor, and the providers' too).
        let short = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDJ167IMJJyF7DCfriHROWdB20+MS6a88UYLsr8XqsIROi9xIvZ50RCmqr7yTfQdNdhO8LEJr50a0z5XkYsW6nvzQXqS/6348epzTta0RBjth9cc35FyZy2v69LsU7maG6gXpmQ8opjwDolpEvpwu2YnZHCGg1hYZWhvv1UKMrpNQIDAQAB"; // openssl genpkey rsa_keygen_bits:1024
        assert_eq!(
            RsaPublicKey::from_spki_base64(short).unwrap_err().code(),
            "invalid_key"
        );
        let key = RsaPublicKey::from_spki_pem(testdata::TEST_MERCHANT_PUB_PEM).unwrap();
        assert_eq!(
            key.verify_sha256_base64(b"x", "not base64!")
                .unwrap_err()
                .code(),
            "bad_signature"
        );
        assert_eq!(
            key.verify_sha256(b"x", &[]).unwrap_err().code(),
            "bad_signature"
        );
    }

    #[test]
    fn certificate_fields() {
        let cert = Certificate::from_pem(testdata::TEST_PLATFORM_CERT_PEM).unwrap();
        assert_eq!(
            cert.serial_hex_upper(),
            "3A1B2C3D4E5F60718293A4B5C6D7E8F901234567"
        );
        assert_eq!(
            cert.subject_common_names(),
            ["TEST Wechatpay platform".to_owned()]
        );
        assert!(cert.is_ca()); // openssl req -x509 marks self-signed certificates CA:TRUE
        cert.verify_issued_by(&cert).unwrap();
        let (nb, na) = cert.validity();
        assert!(cert.is_valid_at(nb) && cert.is_valid_at(na) && !cert.is_valid_at(na + 1));
    }
}
