//! UnionPay online gateway (全渠道) 5.1.0, `signMethod=01` (RSA with SHA-256).
//!
//! Signing, as the acp SDK does (`SDKUtil.signByCertInfo` / `validate` for 5.1.0):
//! 1. sign string = every parameter except `signature`, empty values dropped, sorted by key (byte order),
//!    raw `k=v` joined with `&` ([`sign_string`]);
//! 2. digest = lower-case hex of SHA-256(sign string, UTF-8) — 64 ASCII characters ([`sign_digest_hex`]);
//! 3. `signature` = base64(SHA256withRSA PKCS#1 v1.5 over those 64 ASCII bytes);
//! 4. `certId` = the decimal serial of the merchant's signing certificate.
//!
//! Verification of UnionPay's messages (notifications, back-end responses) uses the `signPubKeyCert` PEM carried
//! in the message, which is trusted only after [`UnionPayTrust::check_signer`]:
//! * the signer certificate is issued by the configured intermediate (issuer DN equals the intermediate's
//!   subject AND its signature verifies with the intermediate's key), and the intermediate by the configured
//!   root (same two checks); the intermediate must be a CA;
//! * signer, intermediate and root are all inside their validity period at the given `now`;
//! * the signer's subject CN, split on `@`, has a third field equal to the configured company name
//!   (default [`UNIONPAY_COMPANY_NAME`], `中国银联股份有限公司`). UnionPay CNs look like
//!   `041@Z12400000000000000@中国银联股份有限公司@00000001`; the acp SDK's `getIdentitiesFromCertficate`
//!   splits the CN on `@` (not `:`) and compares element 2, which is what is implemented here. (The SDK's
//!   test-environment escape hatch accepting `00040000:SIGN` is deliberately not implemented.)
//!
//! Empty values are dropped on both signing and verifying, as the SDK's `filterBlank` / demo notify handler do.
//!
//! No published vector exists; `testdata/unionpay/` holds a test PKI and a vector produced with the openssl
//! command line (see `testdata/PROVENANCE.md`).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

use crate::amount::parse_fen_string;
use crate::codec::{encode_query, parse_form};
use crate::error::{GatewayError, Result};
use crate::http::{HttpMethod, HttpRequest};
use crate::keys::{Certificate, RsaPrivateKey};

/// Interface version implemented.
pub const VERSION: &str = "5.1.0";
/// `signMethod` for RSA-SHA256 with certificates.
pub const SIGN_METHOD_RSA: &str = "01";
/// The company name expected in the third `@` field of the signer certificate's CN.
pub const UNIONPAY_COMPANY_NAME: &str = "中国银联股份有限公司";
/// Production front (browser) transaction URL.
pub const FRONT_TRANS_URL: &str = "https://gateway.95516.com/gateway/api/frontTransReq.do";
/// Production back-end transaction URL (refunds).
pub const BACK_TRANS_URL: &str = "https://gateway.95516.com/gateway/api/backTransReq.do";
/// Production query URL.
pub const QUERY_TRANS_URL: &str = "https://gateway.95516.com/gateway/api/queryTrans.do";
/// Production file transfer URL (the daily reconciliation file, `txnType=76`).
pub const FILE_TRANS_URL: &str = "https://filedownload.95516.com/";
/// UnionPay's test environment (replace the host of the URLs above).
pub const TEST_HOST: &str = "https://gateway.test.95516.com";

/// Parameters by name, iterated in byte order (UnionPay's sort order).
pub type Params = BTreeMap<String, String>;

/// Every parameter except `signature`, empties dropped, sorted, raw `k=v` joined with `&`.
pub fn sign_string(params: &Params) -> String {
    params
        .iter()
        .filter(|(k, v)| k.as_str() != "signature" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Lower-case hex SHA-256 of [`sign_string`]: the bytes RSA actually signs.
pub fn sign_digest_hex(params: &Params) -> String {
    hex::encode(Sha256::digest(sign_string(params).as_bytes()))
}

/// The merchant's signing identity: private key and the certificate whose serial is `certId`.
#[derive(Debug, Clone)]
pub struct MerchantSigner {
    pub mer_id: String,
    pub private_key: RsaPrivateKey,
    pub cert: Certificate,
}

impl MerchantSigner {
    /// Sets `version`, `signMethod`, `certId`, `merId`, drops empty values, and adds `signature`.
    pub fn sign(&self, params: &Params) -> Result<Params> {
        let mut out: Params = params
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.remove("signature");
        out.insert("version".into(), VERSION.into());
        out.insert("signMethod".into(), SIGN_METHOD_RSA.into());
        out.insert("certId".into(), self.cert.serial_decimal().to_owned());
        out.insert("merId".into(), self.mer_id.clone());
        let signature = self
            .private_key
            .sign_sha256_base64(sign_digest_hex(&out).as_bytes())?;
        out.insert("signature".into(), signature);
        Ok(out)
    }
}

/// Sign `params` exactly as given (no fields added): for sandboxes and vectors.
pub fn sign_params(params: &Params, key: &RsaPrivateKey) -> Result<String> {
    key.sign_sha256_base64(sign_digest_hex(params).as_bytes())
}

/// A front-end (browser) consume, `txnType=01 txnSubType=01 bizType=000201`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontConsume {
    pub order_id: String,
    /// `YYYYMMDDhhmmss`, Beijing time; with `order_id` it identifies the order for queries.
    pub txn_time: String,
    pub txn_amt_fen: u64,
    pub front_url: String,
    pub back_url: String,
    /// `07` PC, `08` mobile.
    pub channel_type: String,
    /// `YYYYMMDDhhmmss` payment deadline.
    pub pay_timeout: Option<String>,
    pub risk_rate_info: Option<String>,
}

/// A query of an earlier transaction by (`orderId`, `txnTime`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransQuery {
    pub order_id: String,
    pub txn_time: String,
}

/// A refund (`txnType=04`) of a paid consume identified by its `queryId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// Our new order id for the refund.
    pub order_id: String,
    pub txn_time: String,
    pub orig_qry_id: String,
    pub txn_amt_fen: u64,
    pub back_url: String,
    /// `reqReserved`: echoed unchanged in the refund's notification and query answer (we put the paid order's
    /// number there, since a refund notification names only the refund's own `orderId` and `origQryId`).
    pub req_reserved: Option<String>,
}

/// The daily reconciliation file of a settlement day (`txnType=76`, `fileType=00`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTransfer {
    /// `MMDD` of the settlement day.
    pub settle_date: String,
    /// `YYYYMMDDhhmmss`, Beijing time, when the request is sent.
    pub txn_time: String,
}

fn params_of(pairs: &[(&str, &str)]) -> Params {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl MerchantSigner {
    /// Signed parameters for a front consume; post them from the browser (auto-submitting form) to
    /// [`FRONT_TRANS_URL`].
    pub fn front_consume(&self, req: &FrontConsume) -> Result<Params> {
        let amt = req.txn_amt_fen.to_string();
        let mut p = params_of(&[
            ("encoding", "UTF-8"),
            ("txnType", "01"),
            ("txnSubType", "01"),
            ("bizType", "000201"),
            ("channelType", &req.channel_type),
            ("accessType", "0"),
            ("currencyCode", "156"),
            ("orderId", &req.order_id),
            ("txnTime", &req.txn_time),
            ("txnAmt", &amt),
            ("frontUrl", &req.front_url),
            ("backUrl", &req.back_url),
        ]);
        if let Some(t) = &req.pay_timeout {
            p.insert("payTimeout".into(), t.clone());
        }
        if let Some(r) = &req.risk_rate_info {
            p.insert("riskRateInfo".into(), r.clone());
        }
        self.sign(&p)
    }

    /// Signed back-end POST of a status query to `query_url` ([`QUERY_TRANS_URL`] or the test host's).
    pub fn query(&self, req: &TransQuery, query_url: &str) -> Result<HttpRequest> {
        let p = params_of(&[
            ("encoding", "UTF-8"),
            ("txnType", "00"),
            ("txnSubType", "00"),
            ("bizType", "000000"),
            ("accessType", "0"),
            ("channelType", "07"),
            ("orderId", &req.order_id),
            ("txnTime", &req.txn_time),
        ]);
        Ok(form_post(query_url, &self.sign(&p)?))
    }

    /// Signed back-end POST of a refund to `back_url_endpoint` ([`BACK_TRANS_URL`] or the test host's).
    pub fn refund(&self, req: &Refund, back_url_endpoint: &str) -> Result<HttpRequest> {
        let amt = req.txn_amt_fen.to_string();
        let p = params_of(&[
            ("encoding", "UTF-8"),
            ("txnType", "04"),
            ("txnSubType", "00"),
            ("bizType", "000201"),
            ("accessType", "0"),
            ("channelType", "07"),
            ("orderId", &req.order_id),
            ("txnTime", &req.txn_time),
            ("origQryId", &req.orig_qry_id),
            ("txnAmt", &amt),
            ("backUrl", &req.back_url),
        ]);
        let mut p = p;
        if let Some(r) = &req.req_reserved {
            p.insert("reqReserved".into(), r.clone());
        }
        Ok(form_post(back_url_endpoint, &self.sign(&p)?))
    }

    /// Signed back-end POST asking for the reconciliation file to `file_url` ([`FILE_TRANS_URL`]); the answer
    /// (verified with [`verify_message`] after [`parse_response_body`]) carries `fileName` and `fileContent`
    /// ([`decode_file_content`]).
    pub fn file_transfer(&self, req: &FileTransfer, file_url: &str) -> Result<HttpRequest> {
        let p = params_of(&[
            ("encoding", "UTF-8"),
            ("txnType", "76"),
            ("txnSubType", "01"),
            ("bizType", "000000"),
            ("accessType", "0"),
            ("channelType", "07"),
            ("fileType", "00"),
            ("settleDate", &req.settle_date),
            ("txnTime", &req.txn_time),
        ]);
        Ok(form_post(file_url, &self.sign(&p)?))
    }
}

/// A back-end answer (query, refund, file transfer) after [`verify_message`]: the fields every caller reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackResponse {
    /// `00` = the request was handled (for a query: the query itself succeeded; see `orig_resp_code`).
    pub resp_code: String,
    pub resp_msg: String,
    pub params: Params,
}

impl BackResponse {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.params
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Parses and verifies a back-end answer body (`k=v&…`, not percent-encoded) as signed by UnionPay at `now`.
pub fn verify_back_response(body: &str, trust: &UnionPayTrust, now: i64) -> Result<BackResponse> {
    let params = parse_response_body(body)?;
    verify_message(&params, trust, now)?;
    Ok(BackResponse {
        resp_code: required(&params, "respCode")?,
        resp_msg: params.get("respMsg").cloned().unwrap_or_default(),
        params,
    })
}

/// Sandbox: a back-end answer body as UnionPay writes it: raw `k=v` joined by `&` (no percent-encoding).
pub fn response_body(params: &Params) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `fileContent` → the zip archive it carries: base64 of the DEFLATE (zlib) compression of the zip, as the acp
/// SDK's `deCodeFileContent` reads it.
pub fn decode_file_content(file_content: &str) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let compressed = STANDARD
        .decode(file_content.as_bytes())
        .map_err(|_| GatewayError::InvalidBase64("fileContent".into()))?;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&compressed[..])
        .take(64 * 1024 * 1024)
        .read_to_end(&mut out)
        .map_err(|_| GatewayError::invalid_field("fileContent", "not zlib data"))?;
    Ok(out)
}

/// Sandbox: the `fileContent` of a zip archive (see [`decode_file_content`]).
pub fn encode_file_content(zip: &[u8]) -> String {
    use std::io::Write as _;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(zip);
    STANDARD.encode(enc.finish().unwrap_or_default())
}

fn form_post(url: &str, params: &Params) -> HttpRequest {
    HttpRequest {
        method: HttpMethod::Post,
        url: url.to_owned(),
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded;charset=UTF-8".into(),
        )],
        body: encode_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    }
}

/// Decodes a notification body (form-encoded, as UnionPay posts to `backUrl`). Duplicates are rejected.
pub fn parse_notify_body(body: &str) -> Result<Params> {
    let mut out = Params::new();
    for (k, v) in parse_form(body)? {
        if out.insert(k.clone(), v).is_some() {
            return Err(GatewayError::invalid_field(&k, "duplicate parameter"));
        }
    }
    Ok(out)
}

/// Decodes a back-end response body: `k=v&k=v` NOT percent-encoded, where a value may be wrapped in `{…}` and
/// then contain `&` (the SDK's `convertResultStringToMap`). Values keep their bytes exactly.
pub fn parse_response_body(body: &str) -> Result<Params> {
    let mut out = Params::new();
    let mut depth: u32 = 0;
    let mut start = 0;
    let bytes = body.as_bytes();
    let mut push = |seg: &str| -> Result<()> {
        if seg.is_empty() {
            return Ok(());
        }
        let (k, v) = seg
            .split_once('=')
            .ok_or_else(|| GatewayError::MalformedForm(format!("segment without '=': {seg:?}")))?;
        if out.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(GatewayError::invalid_field(k, "duplicate parameter"));
        }
        Ok(())
    };
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b'&' if depth == 0 => {
                push(&body[start..i])?;
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(GatewayError::MalformedForm(
            "unbalanced '{' in response".into(),
        ));
    }
    push(&body[start..])?;
    Ok(out)
}

/// The trust anchors for UnionPay's signing certificates, and the name check.
#[derive(Debug, Clone)]
pub struct UnionPayTrust {
    pub root: Certificate,
    pub intermediate: Certificate,
    /// Expected third `@` field of the signer CN; [`UNIONPAY_COMPANY_NAME`] in production.
    pub company_name: String,
}

impl UnionPayTrust {
    /// From the root and intermediate PEMs UnionPay publishes (`acp_prod_root.cer`, `acp_prod_middle.cer`).
    pub fn from_pems(root_pem: &str, intermediate_pem: &str) -> Result<Self> {
        Ok(Self {
            root: Certificate::from_pem(root_pem)?,
            intermediate: Certificate::from_pem(intermediate_pem)?,
            company_name: UNIONPAY_COMPANY_NAME.to_owned(),
        })
    }

    /// Validates a signer certificate (see the module docs) at `now` (unix seconds).
    pub fn check_signer(&self, signer: &Certificate, now: i64) -> Result<()> {
        for cert in [signer, &self.intermediate, &self.root] {
            if !cert.is_valid_at(now) {
                return Err(GatewayError::CertificateNotValidNow);
            }
        }
        if !self.intermediate.is_ca() {
            return Err(GatewayError::CertificateChain(
                "configured intermediate is not a CA".into(),
            ));
        }
        signer.verify_issued_by(&self.intermediate)?;
        self.intermediate.verify_issued_by(&self.root)?;
        let cn_ok = signer
            .subject_common_names()
            .iter()
            .any(|cn| cn.split('@').nth(2) == Some(self.company_name.as_str()));
        if !cn_ok {
            return Err(GatewayError::CertificateSubject(format!(
                "CN {:?} does not name {:?} in its third '@' field",
                signer.subject_common_names(),
                self.company_name
            )));
        }
        Ok(())
    }
}

/// Verifies a message signed by UnionPay: `signMethod=01`, the carried `signPubKeyCert` passes
/// [`UnionPayTrust::check_signer`] at `now`, and `signature` verifies over [`sign_digest_hex`].
pub fn verify_message(params: &Params, trust: &UnionPayTrust, now: i64) -> Result<()> {
    match params.get("signMethod").map(String::as_str) {
        Some(SIGN_METHOD_RSA) => {}
        Some(other) => {
            return Err(GatewayError::UnsupportedAlgorithm(format!(
                "signMethod={other}"
            )));
        }
        None => return Err(GatewayError::MissingField("signMethod".into())),
    }
    let signature = params
        .get("signature")
        .filter(|s| !s.is_empty())
        .ok_or(GatewayError::MissingSignature)?;
    let cert_pem = params
        .get("signPubKeyCert")
        .ok_or_else(|| GatewayError::MissingField("signPubKeyCert".into()))?;
    let signer = Certificate::from_pem(cert_pem)?;
    trust.check_signer(&signer, now)?;
    let sig = STANDARD
        .decode(signature.as_bytes())
        .map_err(|_| GatewayError::BadSignature)?;
    signer
        .public_key()?
        .verify_sha256(sign_digest_hex(params).as_bytes(), &sig)
}

/// A verified consume / refund notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub mer_id: String,
    pub order_id: String,
    pub txn_time: String,
    pub txn_type: String,
    pub txn_sub_type: String,
    /// UnionPay's transaction id (needed for refunds).
    pub query_id: String,
    pub txn_amt_fen: u64,
    pub settle_amt_fen: Option<u64>,
    pub settle_date: Option<String>,
    pub resp_code: String,
    pub resp_msg: String,
    pub trace_no: Option<String>,
    pub acc_no: Option<String>,
}

impl Notification {
    /// `respCode` `00` (success) or `A6` (success with a minor issue).
    pub fn is_success(&self) -> bool {
        matches!(self.resp_code.as_str(), "00" | "A6")
    }
}

fn required(p: &Params, k: &str) -> Result<String> {
    p.get(k)
        .filter(|v| !v.is_empty())
        .cloned()
        .ok_or_else(|| GatewayError::MissingField(k.to_owned()))
}

/// [`verify_message`], then the typed notification. The caller still compares `merId`, `orderId` and the
/// amount with its order.
pub fn verify_notify(params: &Params, trust: &UnionPayTrust, now: i64) -> Result<Notification> {
    verify_message(params, trust, now)?;
    let opt = |k: &str| params.get(k).filter(|v| !v.is_empty()).cloned();
    Ok(Notification {
        mer_id: required(params, "merId")?,
        order_id: required(params, "orderId")?,
        txn_time: required(params, "txnTime")?,
        txn_type: required(params, "txnType")?,
        txn_sub_type: required(params, "txnSubType")?,
        query_id: required(params, "queryId")?,
        txn_amt_fen: parse_fen_string(&required(params, "txnAmt")?)?,
        settle_amt_fen: opt("settleAmt").map(|s| parse_fen_string(&s)).transpose()?,
        settle_date: opt("settleDate"),
        resp_code: required(params, "respCode")?,
        resp_msg: params.get("respMsg").cloned().unwrap_or_default(),
        trace_no: opt("traceNo"),
        acc_no: opt("accNo"),
    })
}

/// Sandbox: verifies a merchant request against the merchant's certificate (`certId` must be its serial).
pub fn verify_request(params: &Params, merchant_cert: &Certificate) -> Result<()> {
    let cert_id = required(params, "certId")?;
    if cert_id != merchant_cert.serial_decimal() {
        return Err(GatewayError::UnknownKeySerial(cert_id));
    }
    if params.get("signMethod").map(String::as_str) != Some(SIGN_METHOD_RSA) {
        return Err(GatewayError::UnsupportedAlgorithm(
            params.get("signMethod").cloned().unwrap_or_default(),
        ));
    }
    let signature = params
        .get("signature")
        .filter(|s| !s.is_empty())
        .ok_or(GatewayError::MissingSignature)?;
    merchant_cert
        .public_key()?
        .verify_sha256_base64(sign_digest_hex(params).as_bytes(), signature)
}

/// Sandbox: signs a notification as UnionPay: sets `signMethod=01` and `signPubKeyCert`, adds `signature`.
pub fn sign_notify(
    params: &Params,
    signer_key: &RsaPrivateKey,
    signer_cert_pem: &str,
) -> Result<Params> {
    let mut out: Params = params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.remove("signature");
    out.insert("signMethod".into(), SIGN_METHOD_RSA.into());
    out.insert("signPubKeyCert".into(), signer_cert_pem.to_owned());
    let sig = sign_params(&out, signer_key)?;
    out.insert("signature".into(), sig);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    const VECTOR: &str = include_str!("../testdata/unionpay/vector.json");
    const ROOT: &str = include_str!("../testdata/unionpay/test-root-ca.cert.pem");
    const MIDDLE: &str = include_str!("../testdata/unionpay/test-middle-ca.cert.pem");
    const SIGNER: &str = include_str!("../testdata/unionpay/test-unionpay-signer.cert.pem");
    const SIGNER_KEY: &str = include_str!("../testdata/unionpay/test-unionpay-signer.key.pem");
    const SIGNER_EXPIRED: &str =
        include_str!("../testdata/unionpay/test-unionpay-signer-expired.cert.pem");
    const SIGNER_FOREIGN: &str =
        include_str!("../testdata/unionpay/test-unionpay-signer-foreign.cert.pem");
    const FOREIGN_ROOT: &str = include_str!("../testdata/unionpay/test-foreign-root-ca.cert.pem");
    const MERCHANT_KEY: &str = include_str!("../testdata/unionpay/test-merchant.key.pem");
    const MERCHANT_CERT: &str = include_str!("../testdata/unionpay/test-merchant.cert.pem");

    /// 2030-01-01T00:00:00Z: inside every test certificate's validity except the expired one.
    const NOW: i64 = 1_893_456_000;

    fn vector() -> Value {
        serde_json::from_str(VECTOR).unwrap()
    }

    fn params(v: &Value) -> Params {
        v["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect()
    }

    fn trust() -> UnionPayTrust {
        UnionPayTrust::from_pems(ROOT, MIDDLE).unwrap()
    }

    fn merchant() -> MerchantSigner {
        MerchantSigner {
            mer_id: "777290058110048".into(),
            private_key: RsaPrivateKey::from_pem(MERCHANT_KEY).unwrap(),
            cert: Certificate::from_pem(MERCHANT_CERT).unwrap(),
        }
    }

    #[test]
    fn openssl_vector_request() {
        let v = &vector()["request"];
        let p = params(v);
        assert_eq!(sign_string(&p), v["sign_string"].as_str().unwrap());
        assert_eq!(sign_digest_hex(&p), v["sha256_hex"].as_str().unwrap());
        let m = merchant();
        assert_eq!(m.cert.serial_decimal(), v["cert_id"].as_str().unwrap());
        assert_eq!(
            sign_params(&p, &m.private_key).unwrap(),
            v["signature"].as_str().unwrap()
        );
        // MerchantSigner::sign reproduces the same parameters and signature (it drops the empty reqReserved).
        let mut unsigned = p.clone();
        unsigned.remove("signature");
        let signed = m.sign(&unsigned).unwrap();
        assert_eq!(signed["signature"], v["signature"].as_str().unwrap());
        assert!(!signed.contains_key("reqReserved"));
        verify_request(&p, &m.cert).unwrap();
        let mut tampered = p.clone();
        tampered.insert("txnAmt".into(), "1".into());
        assert_eq!(
            verify_request(&tampered, &m.cert).unwrap_err().code(),
            "bad_signature"
        );
    }

    #[test]
    fn openssl_vector_notify_and_chain() {
        let v = &vector()["notify"];
        let p = params(v);
        assert_eq!(sign_string(&p), v["sign_string"].as_str().unwrap());
        assert_eq!(sign_digest_hex(&p), v["sha256_hex"].as_str().unwrap());
        let n = verify_notify(&p, &trust(), NOW).unwrap();
        assert_eq!(n.order_id, "SF20260101120000001");
        assert_eq!(n.txn_amt_fen, 2000);
        assert_eq!(n.query_id, "792601011200001234568");
        assert!(n.is_success());

        // Through the wire encoding.
        let body = encode_query(p.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(parse_notify_body(&body).unwrap(), p);

        // Tampered field.
        let mut t = p.clone();
        t.insert("txnAmt".into(), "1".into());
        assert_eq!(
            verify_notify(&t, &trust(), NOW).unwrap_err().code(),
            "bad_signature"
        );
        let mut t = p.clone();
        t.insert("respCode".into(), "01".into());
        assert_eq!(
            verify_notify(&t, &trust(), NOW).unwrap_err().code(),
            "bad_signature"
        );

        let key = RsaPrivateKey::from_pem(SIGNER_KEY).unwrap();
        // Same key and subject, certificate from a foreign root (whose subject imitates our intermediate's).
        let foreign = sign_notify(&p, &key, SIGNER_FOREIGN).unwrap();
        assert_eq!(
            verify_notify(&foreign, &trust(), NOW).unwrap_err().code(),
            "certificate_chain_invalid"
        );
        // Trusting the foreign root as intermediate is still rejected: it does not chain to our root.
        let mixed = UnionPayTrust {
            intermediate: Certificate::from_pem(FOREIGN_ROOT).unwrap(),
            ..trust()
        };
        assert_eq!(
            verify_notify(&foreign, &mixed, NOW).unwrap_err().code(),
            "certificate_chain_invalid"
        );
        // Expired certificate.
        let expired = sign_notify(&p, &key, SIGNER_EXPIRED).unwrap();
        assert_eq!(
            verify_notify(&expired, &trust(), NOW).unwrap_err().code(),
            "certificate_not_valid_now"
        );
        // Valid certificate but at a time after its expiry.
        assert_eq!(
            verify_notify(&p, &trust(), 2_524_608_000)
                .unwrap_err()
                .code(),
            "certificate_not_valid_now"
        );
        // Name check.
        let other_name = UnionPayTrust {
            company_name: "某某有限公司".into(),
            ..trust()
        };
        assert_eq!(
            verify_notify(&p, &other_name, NOW).unwrap_err().code(),
            "certificate_subject_mismatch"
        );
        // The merchant certificate (wrong CN) cannot sign notifications.
        let by_merchant = sign_notify(&p, &merchant().private_key, MERCHANT_CERT).unwrap();
        assert_eq!(
            verify_notify(&by_merchant, &trust(), NOW)
                .unwrap_err()
                .code(),
            "certificate_subject_mismatch"
        );
        // Structural errors.
        let mut t = p.clone();
        t.remove("signature");
        assert_eq!(
            verify_notify(&t, &trust(), NOW).unwrap_err().code(),
            "missing_signature"
        );
        let mut t = p.clone();
        t.insert("signMethod".into(), "11".into());
        assert_eq!(
            verify_notify(&t, &trust(), NOW).unwrap_err().code(),
            "unsupported_algorithm"
        );
        let mut t = p;
        t.insert("signPubKeyCert".into(), "garbage".into());
        assert_eq!(
            verify_notify(&t, &trust(), NOW).unwrap_err().code(),
            "invalid_certificate"
        );
    }

    #[test]
    fn request_builders() {
        let m = merchant();
        let p = m
            .front_consume(&FrontConsume {
                order_id: "SF1".into(),
                txn_time: "20260101120000".into(),
                txn_amt_fen: 2000,
                front_url: "https://f".into(),
                back_url: "https://b".into(),
                channel_type: "08".into(),
                pay_timeout: None,
                risk_rate_info: None,
            })
            .unwrap();
        assert_eq!(p["txnAmt"], "2000");
        assert_eq!(p["certId"], "4100");
        verify_request(&p, &m.cert).unwrap();
        let q = m
            .query(
                &TransQuery {
                    order_id: "SF1".into(),
                    txn_time: "20260101120000".into(),
                },
                QUERY_TRANS_URL,
            )
            .unwrap();
        verify_request(&parse_notify_body(&q.body).unwrap(), &m.cert).unwrap();
        let r = m
            .refund(
                &Refund {
                    order_id: "RF1".into(),
                    txn_time: "20260102120000".into(),
                    orig_qry_id: "792601011200001234568".into(),
                    txn_amt_fen: 500,
                    back_url: "https://b".into(),
                    req_reserved: Some("SF1".into()),
                },
                BACK_TRANS_URL,
            )
            .unwrap();
        let rp = parse_notify_body(&r.body).unwrap();
        assert_eq!(rp["txnType"], "04");
        assert_eq!(rp["reqReserved"], "SF1");
        verify_request(&rp, &m.cert).unwrap();
    }

    #[test]
    fn response_body_parsing_keeps_braced_values() {
        let p = parse_response_body(
            "a=1&reserved={x=1&y=2}&pem=-----BEGIN X-----\nAB==\n-----END X-----&e=",
        )
        .unwrap();
        assert_eq!(p["reserved"], "{x=1&y=2}");
        assert_eq!(p["pem"], "-----BEGIN X-----\nAB==\n-----END X-----");
        assert_eq!(p["e"], "");
        assert_eq!(
            parse_response_body("a={1").unwrap_err().code(),
            "malformed_form"
        );
        assert_eq!(
            parse_response_body("a").unwrap_err().code(),
            "malformed_form"
        );
        let v = &vector()["notify"];
        let p = params(v);
        let raw = p
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        verify_message(&parse_response_body(&raw).unwrap(), &trust(), NOW).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn sign_verify_and_single_byte_tamper(
            order_id in "[A-Za-z0-9]{8,32}",
            amt in 1u64..1_000_000_000,
            idx in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let key = RsaPrivateKey::from_pem(SIGNER_KEY).unwrap();
            let p = params_of(&[("merId", "777290058110048"), ("orderId", &order_id), ("txnAmt", &amt.to_string()),
                ("txnTime", "20260101120000"), ("txnType", "01"), ("txnSubType", "01"), ("queryId", "q"), ("respCode", "00")]);
            let signed = sign_notify(&p, &key, SIGNER).unwrap();
            prop_assert_eq!(verify_notify(&signed, &trust(), NOW).unwrap().txn_amt_fen, amt);
            let mut digest = sign_digest_hex(&signed).into_bytes();
            let i = idx.index(digest.len());
            digest[i] ^= flip;
            let cert = Certificate::from_pem(SIGNER).unwrap();
            prop_assert_eq!(cert.public_key().unwrap().verify_sha256_base64(&digest, &signed["signature"]).unwrap_err().code(), "bad_signature");
        }
    }
}
