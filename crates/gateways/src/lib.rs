//! Wire protocols of Shenfen's payment and SMS providers, as pure functions.
//!
//! This crate does no network I/O. It builds signed requests as data ([`http::HttpRequest`]: method, URL,
//! headers, body) and verifies, decrypts and parses what providers send back, so the server can use it as a
//! client and its sandboxes can use the same code as the provider side ("mirror" functions in each module).
//!
//! | module | protocol |
//! |---|---|
//! | [`alipay`] | Alipay OpenAPI, RSA2 (SHA256withRSA) requests, notifications, synchronous responses, cert SN |
//! | [`wechatpay`] | WeChat Pay API v3: request signatures, response/callback verification, AEAD_AES_256_GCM |
//! | [`unionpay`] | UnionPay gateway 5.1.0, signMethod 01 (SHA-256 + RSA), signer certificate chain checks |
//! | [`aliyun_sms`] | Aliyun SMS (Dysmsapi): RPC signature v1 (HMAC-SHA1) and ACS3-HMAC-SHA256 |
//! | [`tencent_sms`] | Tencent Cloud SMS 2021-01-11: TC3-HMAC-SHA256 |
//! | [`statements`] | daily statements: Alipay 业务明细 CSV (zip, GBK), WeChat Pay trade bill, UnionPay ZM file |
//! | [`webpush`] | Web Push: RFC 8291 `aes128gcm` message encryption, RFC 8292 VAPID (ES256 JWT); P-256 via `p256` |
//!
//! Every module is pinned by test vectors: the providers' published documentation / SDK vectors, and for
//! UnionPay (which publishes none) a vector made with the openssl command line (see `testdata/PROVENANCE.md`).
//!
//! Conventions:
//! * Amounts are integer fen (`u64`); [`amount`] converts to and from provider formats exactly.
//! * Everything that reads outside input returns [`Result`] with a [`GatewayError`] whose
//!   [`code`](GatewayError::code) is a stable snake_case string; nothing panics on input.
//! * Time is always passed in (`now`, `timestamp`), never read from the clock, so verification is testable
//!   and sandboxes can replay.
//! * RSA is `ring` (PKCS#1 v1.5); certificates are read with `x509-parser`.

pub mod alipay;
pub mod aliyun_sms;
pub mod amount;
pub mod codec;
pub mod error;
pub mod http;
pub mod keys;
pub mod pem;
pub mod statements;
pub mod tencent_sms;
pub mod unionpay;
pub mod webpush;
pub mod wechatpay;

#[cfg(test)]
mod testdata;

pub use error::{GatewayError, Result};
pub use http::{HttpMethod, HttpRequest};
pub use keys::{Certificate, RsaPrivateKey, RsaPublicKey};
