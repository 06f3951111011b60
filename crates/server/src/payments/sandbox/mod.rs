//! Payment provider sandboxes: stand-ins for Alipay, WeChat Pay and UnionPay that behave
//! like the real provider from the other side. They verify OUR signed requests with the merchant public key (the
//! gateways crate's mirror functions; a bad signature gets the provider's own error shape), keep their orders
//! in memory, show a mobile cashier page (批准 支付 / 取消) and a scan endpoint for QR payloads, send correctly
//! signed notifications to the order's notify_url, answer query/close/refund, and serve a daily statement.
//!
//! The orders live in an `Arc<Mutex<…>>` on purpose: a sandbox is an external system, not part of this
//! instance's state, so it is not in the database and not shared between instances (each demo instance has its
//! own; restarting forgets its orders, as switching to another provider environment would).
//!
//! Notification behaviour, per sandbox ([`Behaviour`] default) or per order (the cashier form's `behaviour`
//! field, or `POST /sandbox/<provider>/behaviour/<order_no>` with `behaviour=…`):
//! `normal` posts once at approval; `late` posts after the sandbox's delay; `twice` posts the same notification
//! twice (same event id); `lost` never posts — only a query reveals the payment.
//!
//! Statements are built from what the sandbox actually processed. A [`Discrepancy`] (per sandbox, or
//! `POST /sandbox/<provider>/discrepancy` with `kind=…`) makes the next statements differ from the truth in one
//! way, so the reconciliation report can be seen catching it.
//!
//! Demo instances mount them under `/sandbox/alipay/`, `/sandbox/wechat/` and `/sandbox/unionpay/`; tests serve
//! them on a loopback port.

pub mod alipay;
pub mod unionpay;
pub mod wechat;

use std::time::Duration;

use axum::Router;

use crate::config::Config;

/// How a sandbox delivers the notification of an approved (or declined) payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behaviour {
    #[default]
    Normal,
    Late,
    Twice,
    Lost,
}

impl Behaviour {
    pub fn parse(s: &str) -> Option<Behaviour> {
        Some(match s {
            "normal" => Behaviour::Normal,
            "late" => Behaviour::Late,
            "twice" => Behaviour::Twice,
            "lost" => Behaviour::Lost,
            _ => return None,
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            Behaviour::Normal => "normal",
            Behaviour::Late => "late",
            Behaviour::Twice => "twice",
            Behaviour::Lost => "lost",
        }
    }
}

/// How a sandbox's statements depart from what it processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Discrepancy {
    #[default]
    None,
    /// The first payment is left out (our report: missing at the provider).
    DropPayment,
    /// The first payment is one fen more (our report: amounts differ).
    AmountOff,
    /// A payment for an order number we never issued (our report: missing at us).
    Unknown,
}

impl Discrepancy {
    pub fn parse(s: &str) -> Option<Discrepancy> {
        Some(match s {
            "none" => Discrepancy::None,
            "drop_payment" => Discrepancy::DropPayment,
            "amount_off" => Discrepancy::AmountOff,
            "unknown" => Discrepancy::Unknown,
            _ => return None,
        })
    }

    /// Applies the discrepancy to a statement's rows (in time order). `bump` adds one fen to a row; `phantom`
    /// makes a payment row for an unknown order out of an existing one.
    pub(crate) fn apply<R>(self, rows: &mut Vec<R>, is_payment: impl Fn(&R) -> bool, bump: impl FnOnce(&mut R), phantom: impl FnOnce(&R) -> R) {
        let Some(i) = rows.iter().position(&is_payment) else { return };
        match self {
            Discrepancy::None => {}
            Discrepancy::DropPayment => {
                rows.remove(i);
            }
            Discrepancy::AmountOff => bump(&mut rows[i]),
            Discrepancy::Unknown => {
                let extra = phantom(&rows[i]);
                rows.push(extra);
            }
        }
    }
}

/// `POST /sandbox/<provider>/discrepancy` form.
#[derive(serde::Deserialize)]
pub(crate) struct DiscrepancyForm {
    kind: String,
}

impl DiscrepancyForm {
    pub(crate) fn read(&self) -> Result<Discrepancy, axum::response::Response> {
        use axum::response::IntoResponse;
        Discrepancy::parse(&self.kind).ok_or_else(|| (axum::http::StatusCode::BAD_REQUEST, "kind must be none, drop_payment, amount_off or unknown").into_response())
    }
}

/// An order number no one issued (for [`Discrepancy::Unknown`]).
pub(crate) fn phantom_order_no() -> String {
    format!("SFPHANTOM{}", random_digits(23))
}

/// Every payment sandbox of one instance.
#[derive(Clone)]
pub struct PaymentSandboxes {
    pub alipay: alipay::AlipaySandbox,
    pub wechat: wechat::WechatSandbox,
    pub unionpay: unionpay::UnionpaySandbox,
}

impl PaymentSandboxes {
    /// Sandboxes that accept requests signed with the configured merchant keys (the demo keys by default) and
    /// sign with the provider-side demo keys. `base_url` is where they are reachable (for QR payloads).
    pub fn from_config(config: &Config, base_url: &str) -> anyhow::Result<Self> {
        let base = base_url.trim_end_matches('/');
        Ok(PaymentSandboxes {
            alipay: alipay::AlipaySandbox::from_config(config, &format!("{base}/sandbox/alipay"))?,
            wechat: wechat::WechatSandbox::from_config(config, &format!("{base}/sandbox/wechat"))?,
            unionpay: unionpay::UnionpaySandbox::from_config(config, &format!("{base}/sandbox/unionpay"))?,
        })
    }
}

/// All payment sandboxes, under `/sandbox/alipay/…`, `/sandbox/wechat/…` and `/sandbox/unionpay/…`.
pub fn router<S: Clone + Send + Sync + 'static>(sandboxes: PaymentSandboxes) -> Router<S> {
    Router::new().merge(alipay::router(sandboxes.alipay)).merge(wechat::router(sandboxes.wechat)).merge(unionpay::router(sandboxes.unionpay))
}

/// How long `late` waits before posting.
pub const DEFAULT_LATE_DELAY: Duration = Duration::from_secs(5);

pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default()
}

/// Minimal HTML escaping for the cashier pages.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The mobile cashier page: provider name, amount and order number; Approve 支付 / Decline 取消 as plain form
/// posts (no JS, no inline CSS: our CSP forbids it; classes from `/static/app.css`).
pub(crate) fn cashier_page(provider_zh: &str, action: &str, order_no: &str, amount_yuan: &str, subject: &str, behaviour: Behaviour) -> String {
    let options: String = [Behaviour::Normal, Behaviour::Late, Behaviour::Twice, Behaviour::Lost]
        .iter()
        .map(|b| {
            let sel = if *b == behaviour { " selected" } else { "" };
            format!("<option value=\"{0}\"{sel}>{0}</option>", b.code())
        })
        .collect();
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{p} 收银台（沙箱）</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main class=\"hero\">\
<p class=\"demo-banner\">沙箱环境：不会产生真实扣款</p><h1>{p} 收银台</h1>\
<p>{s}</p><p>订单号：<span class=\"code-inline\">{o}</span></p><p class=\"code-big\">¥{a}</p>\
<form method=\"post\" action=\"{act}\"><div class=\"field\"><label for=\"behaviour\">通知方式（沙箱）</label>\
<select id=\"behaviour\" name=\"behaviour\">{options}</select></div><div class=\"actions\">\
<button class=\"button\" type=\"submit\" name=\"decision\" value=\"approve\">支付</button>\
<button class=\"button button-secondary\" type=\"submit\" name=\"decision\" value=\"decline\">取消</button></div></form>\
</main></body></html>",
        p = esc(provider_zh),
        s = esc(subject),
        o = esc(order_no),
        a = esc(amount_yuan),
        act = esc(action),
    )
}

/// The cashier's decision form (approve or decline, and the notification behaviour to act out), shared by the
/// sandboxes.
#[derive(serde::Deserialize)]
pub(crate) struct Decision {
    decision: String,
    #[serde(default)]
    behaviour: Option<String>,
}

impl Decision {
    /// Whether the payer approved, and the behaviour asked for; or the 400 to answer.
    pub(crate) fn read(&self) -> Result<(bool, Option<Behaviour>), axum::response::Response> {
        use axum::response::IntoResponse;
        let approve = match self.decision.as_str() {
            "approve" => true,
            "decline" => false,
            _ => return Err((axum::http::StatusCode::BAD_REQUEST, "decision must be approve or decline").into_response()),
        };
        Ok((approve, self.behaviour.as_deref().and_then(Behaviour::parse)))
    }
}

/// A one-message page of a sandbox cashier (order already handled; paid; declined).
pub(crate) fn message_page(provider_zh: &str, heading: &str, text: &str) -> axum::response::Html<String> {
    return_page(provider_zh, heading, text, None)
}

/// [`message_page`] with a "return to the merchant" form posting `fields` to `action`, as UnionPay returns the
/// payer to `frontUrl`.
pub(crate) fn return_page(provider_zh: &str, heading: &str, text: &str, back: Option<(&str, &[(String, String)])>) -> axum::response::Html<String> {
    let form = match back {
        None => String::new(),
        Some((action, fields)) => format!(
            "<form method=\"post\" action=\"{}\">{}<button class=\"button\" type=\"submit\" id=\"sandbox-return\">返回商户</button></form>",
            esc(action),
            fields.iter().map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v))).collect::<String>()
        ),
    };
    axum::response::Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{}</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main class=\"hero\">{}<p>{}</p>{form}</main></body></html>",
        esc(provider_zh),
        if heading.is_empty() { String::new() } else { format!("<h1>{}</h1>", esc(heading)) },
        esc(text)
    ))
}

/// A random decimal id of `n` digits (event ids, provider trade numbers).
pub(crate) fn random_digits(n: usize) -> String {
    use rand::Rng as _;
    let mut rng = rand::thread_rng();
    (0..n).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect()
}
