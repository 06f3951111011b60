//! The one error type of the crate.
//!
//! Every function that looks at outside input (keys, certificates, provider messages, amounts) returns
//! `Result<_, GatewayError>`. [`GatewayError::code`] is a stable snake_case identifier meant for logs, metrics
//! and API error bodies; the `Display` text is for humans and may change.

use thiserror::Error;

/// What went wrong while building, verifying, decrypting or parsing a provider message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GatewayError {
    /// A private or public key could not be parsed (bad PEM/DER, not RSA, too short for ring's 2048-bit floor).
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A certificate could not be parsed or does not carry the expected kind of key.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// RSA signing failed (ring refused; practically unreachable with a valid key).
    #[error("signing failed")]
    SigningFailed,
    /// The message carries no signature where one is required.
    #[error("missing signature")]
    MissingSignature,
    /// The signature does not verify: the message was altered, or signed with another key.
    #[error("signature does not verify")]
    BadSignature,
    /// A field that must be present is absent or empty.
    #[error("missing field `{0}`")]
    MissingField(String),
    /// A field is present but its value is not acceptable.
    #[error("invalid field `{field}`: {reason}")]
    InvalidField { field: String, reason: String },
    /// A money amount is malformed, negative, has too many decimals or overflows.
    #[error("invalid amount {0:?}")]
    InvalidAmount(String),
    /// Base64 that does not decode.
    #[error("invalid base64 in {0}")]
    InvalidBase64(String),
    /// A body that should be JSON is not, or does not have the expected shape.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// A form / query string that does not decode (bad percent escape or invalid UTF-8).
    #[error("malformed form encoding: {0}")]
    MalformedForm(String),
    /// A signed timestamp outside the accepted window around `now` (replay or clock skew).
    #[error("timestamp {timestamp} is more than {max_skew_seconds} s away from now ({now})")]
    TimestampOutOfWindow {
        timestamp: i64,
        now: i64,
        max_skew_seconds: i64,
    },
    /// The message names a platform certificate / public key we do not have.
    #[error("unknown platform key serial {0:?}")]
    UnknownKeySerial(String),
    /// The WeChat Pay APIv3 key is not exactly 32 bytes (AEAD_AES_256_GCM needs a 256-bit key).
    #[error("APIv3 key must be 32 bytes, got {0}")]
    InvalidApiV3Key(usize),
    /// The AEAD nonce is not 12 bytes.
    #[error("AEAD nonce must be 12 bytes, got {0}")]
    InvalidNonce(usize),
    /// AEAD decryption failed: wrong key, nonce or associated data, or the ciphertext was altered.
    #[error("decryption failed")]
    DecryptionFailed,
    /// An algorithm other than the one this implementation speaks.
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// A certificate chain that does not lead to the configured root.
    #[error("certificate chain invalid: {0}")]
    CertificateChain(String),
    /// A certificate outside its validity period at the given time.
    #[error("certificate not valid at the given time")]
    CertificateNotValidNow,
    /// A certificate whose subject is not the expected one.
    #[error("certificate subject mismatch: {0}")]
    CertificateSubject(String),
    /// The synchronous-response JSON lacks the expected `*_response` member.
    #[error("response member `{0}` not found")]
    ResponseMemberMissing(String),
}

impl GatewayError {
    /// Stable snake_case code for this error; never changes once published.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidKey(_) => "invalid_key",
            Self::InvalidCertificate(_) => "invalid_certificate",
            Self::SigningFailed => "signing_failed",
            Self::MissingSignature => "missing_signature",
            Self::BadSignature => "bad_signature",
            Self::MissingField(_) => "missing_field",
            Self::InvalidField { .. } => "invalid_field",
            Self::InvalidAmount(_) => "invalid_amount",
            Self::InvalidBase64(_) => "invalid_base64",
            Self::MalformedJson(_) => "malformed_json",
            Self::MalformedForm(_) => "malformed_form",
            Self::TimestampOutOfWindow { .. } => "timestamp_out_of_window",
            Self::UnknownKeySerial(_) => "unknown_key_serial",
            Self::InvalidApiV3Key(_) => "invalid_apiv3_key",
            Self::InvalidNonce(_) => "invalid_nonce",
            Self::DecryptionFailed => "decryption_failed",
            Self::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            Self::CertificateChain(_) => "certificate_chain_invalid",
            Self::CertificateNotValidNow => "certificate_not_valid_now",
            Self::CertificateSubject(_) => "certificate_subject_mismatch",
            Self::ResponseMemberMissing(_) => "response_member_missing",
        }
    }

    pub(crate) fn invalid_field(field: &str, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn json(e: serde_json::Error) -> Self {
        Self::MalformedJson(e.to_string())
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = GatewayError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case() {
        let all = [
            GatewayError::InvalidKey(String::new()),
            GatewayError::InvalidCertificate(String::new()),
            GatewayError::SigningFailed,
            GatewayError::MissingSignature,
            GatewayError::BadSignature,
            GatewayError::MissingField(String::new()),
            GatewayError::invalid_field("f", "r"),
            GatewayError::InvalidAmount(String::new()),
            GatewayError::InvalidBase64(String::new()),
            GatewayError::MalformedJson(String::new()),
            GatewayError::MalformedForm(String::new()),
            GatewayError::TimestampOutOfWindow {
                timestamp: 0,
                now: 0,
                max_skew_seconds: 0,
            },
            GatewayError::UnknownKeySerial(String::new()),
            GatewayError::InvalidApiV3Key(0),
            GatewayError::InvalidNonce(0),
            GatewayError::DecryptionFailed,
            GatewayError::UnsupportedAlgorithm(String::new()),
            GatewayError::CertificateChain(String::new()),
            GatewayError::CertificateNotValidNow,
            GatewayError::CertificateSubject(String::new()),
            GatewayError::ResponseMemberMissing(String::new()),
        ];
        let codes: std::collections::BTreeSet<&str> = all.iter().map(GatewayError::code).collect();
        assert_eq!(codes.len(), all.len());
        assert!(codes.iter().all(|c| {
            c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        }));
    }
}
