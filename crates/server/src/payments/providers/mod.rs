//! Payment provider adapters: each implements [`PaymentProvider`] on top of `shenfen_gateways` (signing,
//! verification, decryption) and `reqwest` (transport). Which URL and keys they use comes from
//! `config.payments`; in demo mode the defaults point at this instance's own sandboxes with the public test keys
//! in `crates/server/demo-keys/`.

pub mod alipay;
pub mod unionpay;
pub mod wechat;

use std::sync::Arc;
use std::time::Duration;

use shenfen_domain::payments::Provider;
use shenfen_gateways::GatewayError;

use super::provider::{PaymentProvider, ProviderError};
use crate::config::Config;

/// The adapters the payment service uses, one per provider.
#[derive(Clone)]
pub struct Providers {
    pub alipay: Arc<dyn PaymentProvider>,
    pub wechat: Arc<dyn PaymentProvider>,
    pub unionpay: Arc<dyn PaymentProvider>,
    /// Where a payer's browser may be sent by a form of ours (the UnionPay gateway's origin), for the pay page's
    /// `form-action` policy.
    pub form_origins: Vec<String>,
}

impl Providers {
    /// The adapter for a provider.
    pub fn get(&self, provider: Provider) -> Option<Arc<dyn PaymentProvider>> {
        Some(match provider {
            Provider::Alipay => self.alipay.clone(),
            Provider::Wechat => self.wechat.clone(),
            Provider::Unionpay => self.unionpay.clone(),
        })
    }
}

/// Builds every adapter from the configuration. `public_url` is this instance's base URL: in demo mode an unset
/// gateway URL means this instance's own sandbox under `/sandbox/…`.
pub fn from_config(config: &Config, public_url: &str) -> anyhow::Result<Providers> {
    let base = public_url.trim_end_matches('/');
    let alipay = alipay::AlipayProvider::from_config(&config.payments.alipay, config.demo, base)?;
    let wechat = wechat::WechatProvider::from_config(&config.payments.wechat, config.demo, base)?;
    let unionpay = unionpay::UnionpayProvider::from_config(&config.payments.unionpay, config.demo, base)?;
    // The pay page's own form posts stay on our origin; only Alipay's and WeChat's cashiers are reached by a
    // redirect after it, and UnionPay's by a form of ours: all their origins may be targets.
    let form_origins = [alipay.gateway_origin(), wechat.api_origin(), unionpay.front_origin()].into_iter().flatten().collect();
    Ok(Providers { alipay: Arc::new(alipay), wechat: Arc::new(wechat), unionpay: Arc::new(unionpay), form_origins })
}

/// `scheme://host[:port]` of a URL, for a CSP source list.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && matches!(scheme, "http" | "https")).then(|| format!("{scheme}://{host}"))
}

/// Largest statement download accepted (a day's statement of this service is far smaller).
const MAX_STATEMENT_BYTES: usize = 32 * 1024 * 1024;

/// GETs an unsigned download URL (Alipay's bill archive).
pub(crate) async fn download(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, ProviderError> {
    let resp = client.get(url).send().await.map_err(from_http)?;
    let status = resp.status().as_u16();
    if status >= 500 {
        return Err(ProviderError::Unavailable(format!("HTTP {status}")));
    }
    if status != 200 {
        return Err(ProviderError::Refused { code: format!("HTTP {status}"), message: "download refused".into() });
    }
    let body = resp.bytes().await.map_err(from_http)?;
    if body.len() > MAX_STATEMENT_BYTES {
        return Err(ProviderError::Malformed("statement too large".into()));
    }
    Ok(body.to_vec())
}

/// One HTTP client per adapter: providers answer within seconds or not at all.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default()
}

/// Signature, certificate, time-window and decryption failures mean a forged or tampered message; everything else
/// the gateways crate reports is a message not in the provider's format.
pub(crate) fn from_gateway(e: GatewayError) -> ProviderError {
    match e {
        GatewayError::MissingSignature
        | GatewayError::BadSignature
        | GatewayError::TimestampOutOfWindow { .. }
        | GatewayError::UnknownKeySerial(_)
        | GatewayError::DecryptionFailed
        | GatewayError::UnsupportedAlgorithm(_)
        | GatewayError::CertificateChain(_)
        | GatewayError::CertificateNotValidNow
        | GatewayError::CertificateSubject(_) => ProviderError::Verification(e.code().to_string()),
        other => ProviderError::Malformed(format!("{}: {other}", other.code())),
    }
}

/// Network errors are worth retrying; the message carries no body (bodies can hold personal data).
pub(crate) fn from_http(e: reqwest::Error) -> ProviderError {
    ProviderError::Unavailable(if e.is_timeout() { "timeout".into() } else { "connection failed".into() })
}

/// Sends a request the gateways crate built, byte-exact; returns status and raw body.
pub(crate) async fn send(client: &reqwest::Client, req: &shenfen_gateways::http::HttpRequest) -> Result<(u16, Vec<u8>), ProviderError> {
    send_with_headers(client, req).await.map(|(status, _, body)| (status, body))
}

/// [`send`], also returning the response headers (WeChat Pay signs responses in `Wechatpay-*` headers).
pub(crate) async fn send_with_headers(
    client: &reqwest::Client,
    req: &shenfen_gateways::http::HttpRequest,
) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), ProviderError> {
    let mut rb = match req.method {
        shenfen_gateways::http::HttpMethod::Get => client.get(&req.url),
        shenfen_gateways::http::HttpMethod::Post => client.post(&req.url).body(req.body.clone()),
    };
    for (k, v) in &req.headers {
        rb = rb.header(k, v);
    }
    let resp = rb.send().await.map_err(from_http)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(from_http)?.to_vec();
    if status >= 500 {
        return Err(ProviderError::Unavailable(format!("HTTP {status}")));
    }
    Ok((status, headers, body))
}

/// Loads a PEM given inline or as a path; falls back to the demo key in demo mode.
pub(crate) fn pem(inline: &Option<String>, path: &Option<std::path::PathBuf>, demo_default: &str, demo: bool, what: &str) -> anyhow::Result<String> {
    if let Some(p) = inline.as_ref().filter(|p| !p.trim().is_empty()) {
        return Ok(p.clone());
    }
    if let Some(path) = path {
        return std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("payments: cannot read {what} from {}: {e}", path.display()));
    }
    if demo {
        return Ok(demo_default.to_string());
    }
    anyhow::bail!("payments: {what} is not configured (set it inline or as a path; only demo mode has defaults)")
}

/// The public test keys of the demo (see `demo-keys/PROVENANCE.md`).
pub mod demo_keys {
    pub const MERCHANT_KEY: &str = include_str!("../../../demo-keys/test-merchant-rsa2048.key.pem");
    pub const MERCHANT_PUB: &str = include_str!("../../../demo-keys/test-merchant-rsa2048.pub.pem");
    pub const PLATFORM_KEY: &str = include_str!("../../../demo-keys/test-platform-rsa2048.key.pem");
    pub const PLATFORM_PUB: &str = include_str!("../../../demo-keys/test-platform-rsa2048.pub.pem");
    pub const PLATFORM_CERT: &str = include_str!("../../../demo-keys/test-platform-rsa2048.cert.pem");
    pub const UNIONPAY_MERCHANT_KEY: &str = include_str!("../../../demo-keys/test-merchant.key.pem");
    pub const UNIONPAY_MERCHANT_CERT: &str = include_str!("../../../demo-keys/test-merchant.cert.pem");
    pub const UNIONPAY_ROOT: &str = include_str!("../../../demo-keys/test-root-ca.cert.pem");
    pub const UNIONPAY_MIDDLE: &str = include_str!("../../../demo-keys/test-middle-ca.cert.pem");
    pub const UNIONPAY_SIGNER_KEY: &str = include_str!("../../../demo-keys/test-unionpay-signer.key.pem");
    pub const UNIONPAY_SIGNER_CERT: &str = include_str!("../../../demo-keys/test-unionpay-signer.cert.pem");
    /// The demo's WeChat Pay APIv3 key (32 bytes). TEST-ONLY: published here, so it protects nothing; only the
    /// demo's own WeChat sandbox and the tests use it (outside demo mode `payments.wechat.apiv3_key` is required).
    pub const WECHAT_APIV3_KEY: &str = "ShenfenDemoApiV3Key-TEST-ONLY-32";
    const _: () = assert!(WECHAT_APIV3_KEY.len() == 32);
}
