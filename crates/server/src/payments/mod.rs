//! Smart fee collection (智能收缴): payment orders for an application's fee, online through Alipay, WeChat Pay and
//! UnionPay, at the counter by QR or in cash; provider notifications applied exactly once; refunds; receipts.
//! Provider wire protocols live in `shenfen_gateways`; the adapters behind [`provider::PaymentProvider`] in
//! `providers/`, the demo/test sandboxes in `sandbox/`.

pub mod flow;
pub mod provider;
pub mod providers;
pub mod receipt;
pub mod sandbox;
pub mod service;
