//! `[logistics]`: the express carrier account, the tracking poll, and the EMS sandbox. Loaded with the rest of the
//! configuration (`crate::config`); e.g. `SHENFEN_LOGISTICS__EMS__BASE_URL`, `SHENFEN_LOGISTICS__SANDBOX__MINUTES_PER_STEP`.
//!
//! ```toml
//! [logistics]
//! poll_every_secs = 300          # ask the carrier about one shipment at most this often (pushes come first)
//! poll_batch = 200               # shipments one instance polls per minute
//!
//! [logistics.ems]
//! base_url = "https://…"         # unset in demo mode: this instance's own sandbox, <public_url>/sandbox/ems
//! app_key = "…"                  # our partner account (协议客户号), sent in X-EMS-App-Key
//! app_secret = "…"               # signs our requests; at least 32 characters; required outside demo mode
//! push_secret = "…"              # the carrier signs its pushes with it; at least 32 characters; required outside demo mode
//!
//! [logistics.sandbox]            # demo mode only
//! minutes_per_step = 1.0         # time between two tracking events (0.005 = 300 ms, for tests)
//! push_url = "…"                 # unset: <public_url>/callbacks/express/ems
//! return_marker = "查无此人"      # an address containing it is not deliverable: failed, then returned
//! retry_phone_suffix = "4"       # a recipient phone ending in it misses the first attempt
//! ```

use anyhow::bail;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogisticsConfig {
    /// A shipment is asked about at most this often by the polling job (pushes are the main path; the poll
    /// recovers lost pushes). 0 = every minute.
    pub poll_every_secs: i64,
    /// Shipments one instance polls per round.
    pub poll_batch: u32,
    pub ems: EmsConfig,
    pub sandbox: EmsSandboxConfig,
}

impl Default for LogisticsConfig {
    fn default() -> Self {
        LogisticsConfig { poll_every_secs: 300, poll_batch: 200, ems: EmsConfig::default(), sandbox: EmsSandboxConfig::default() }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmsConfig {
    /// The open platform's base URL; unset in demo mode means this instance's own sandbox (`/sandbox/ems`).
    pub base_url: Option<String>,
    /// Our partner account at the carrier.
    pub app_key: String,
    /// Our signing secret. Demo mode: a published test-only constant.
    pub app_secret: Option<String>,
    /// The carrier's signing secret for pushes. Demo mode: a published test-only constant.
    pub push_secret: Option<String>,
    /// Timeout of one call to the carrier.
    pub timeout_ms: u64,
}

impl Default for EmsConfig {
    fn default() -> Self {
        EmsConfig { base_url: None, app_key: "SF-DEMO-3401".into(), app_secret: None, push_secret: None, timeout_ms: 10_000 }
    }
}

impl std::fmt::Debug for EmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmsConfig").field("base_url", &self.base_url).field("app_key", &self.app_key).finish_non_exhaustive()
    }
}

/// The demo's EMS secrets. TEST-ONLY: published here, so they protect nothing; only demo instances (whose EMS is
/// their own sandbox) and the tests use them. Outside demo mode `logistics.ems.app_secret`/`push_secret` are required.
pub const DEMO_APP_SECRET: &str = "shenfen-demo-ems-app-secret-TEST-ONLY";
pub const DEMO_PUSH_SECRET: &str = "shenfen-demo-ems-push-secret-TEST-ONLY";

impl EmsConfig {
    /// The secrets in force: configured, or the demo ones in demo mode.
    pub fn secrets(&self, demo: bool) -> Option<(String, String)> {
        let pick = |v: &Option<String>, demo_value: &str| v.clone().filter(|s| !s.is_empty()).or(demo.then(|| demo_value.to_string()));
        Some((pick(&self.app_secret, DEMO_APP_SECRET)?, pick(&self.push_secret, DEMO_PUSH_SECRET)?))
    }

    /// The base URL in force: configured, or this instance's sandbox in demo mode.
    pub fn base_url(&self, demo: bool, public_url: &str) -> Option<String> {
        self.base_url
            .clone()
            .filter(|u| !u.is_empty())
            .or(demo.then(|| format!("{}/sandbox/ems", public_url.trim_end_matches('/'))))
            .map(|u| u.trim_end_matches('/').to_string())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmsSandboxConfig {
    /// Time between two tracking events of a sandbox shipment, in minutes (fractions allowed).
    pub minutes_per_step: f64,
    /// Where the sandbox pushes tracking events; unset = `<public_url>/callbacks/express/ems`.
    pub push_url: Option<String>,
    /// An address containing this text cannot be delivered: the attempt fails and the parcel is returned.
    pub return_marker: String,
    /// A recipient phone number ending in this misses the first delivery attempt; the second one succeeds.
    pub retry_phone_suffix: String,
}

impl Default for EmsSandboxConfig {
    fn default() -> Self {
        EmsSandboxConfig { minutes_per_step: 1.0, push_url: None, return_marker: "查无此人".into(), retry_phone_suffix: "4".into() }
    }
}

impl LogisticsConfig {
    pub fn check(&self, demo: bool) -> anyhow::Result<()> {
        if self.poll_every_secs < 0 || self.poll_batch == 0 {
            bail!("logistics: poll_every_secs must not be negative and poll_batch must be at least 1");
        }
        let s = &self.sandbox;
        if !(s.minutes_per_step.is_finite() && s.minutes_per_step > 0.0 && s.minutes_per_step <= 24.0 * 60.0) {
            bail!("logistics.sandbox.minutes_per_step must be more than 0 and at most 1440");
        }
        if s.return_marker.trim().is_empty() || s.retry_phone_suffix.is_empty() || !s.retry_phone_suffix.chars().all(|c| c.is_ascii_digit()) {
            bail!("logistics.sandbox: return_marker must not be empty and retry_phone_suffix must be digits");
        }
        let e = &self.ems;
        if e.app_key.trim().is_empty() || e.timeout_ms == 0 {
            bail!("logistics.ems: app_key must not be empty and timeout_ms at least 1");
        }
        if e.base_url.as_deref().is_some_and(|u| !(u.is_empty() || u.starts_with("https://") || u.starts_with("http://"))) {
            bail!("logistics.ems.base_url must be an http(s) URL");
        }
        if demo {
            return Ok(());
        }
        if e.base_url.as_deref().is_none_or(str::is_empty) {
            bail!("logistics.ems.base_url is required outside demo mode");
        }
        for (name, v) in [("app_secret", &e.app_secret), ("push_secret", &e.push_secret)] {
            if v.as_deref().is_none_or(|s| s.len() < 32) {
                bail!("logistics.ems.{name} (at least 32 characters) is required outside demo mode");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_needs_nothing_production_needs_url_and_both_secrets() {
        let c = LogisticsConfig::default();
        c.check(true).unwrap();
        assert_eq!(c.ems.secrets(true).unwrap().0, DEMO_APP_SECRET);
        assert_eq!(c.ems.base_url(true, "http://127.0.0.1:8080/").as_deref(), Some("http://127.0.0.1:8080/sandbox/ems"));
        assert!(c.check(false).unwrap_err().to_string().contains("base_url"));
        assert!(c.ems.secrets(false).is_none());
        let mut p = c.clone();
        p.ems.base_url = Some("https://api.ems.example.cn/".into());
        p.ems.app_secret = Some("a".repeat(32));
        assert!(p.check(false).unwrap_err().to_string().contains("push_secret"));
        p.ems.push_secret = Some("short".into());
        assert!(p.check(false).is_err());
        p.ems.push_secret = Some("b".repeat(40));
        p.check(false).unwrap();
        assert_eq!(p.ems.base_url(false, "ignored").as_deref(), Some("https://api.ems.example.cn"));
        let mut bad = c.clone();
        bad.sandbox.minutes_per_step = 0.0;
        assert!(bad.check(true).is_err());
        bad.sandbox.minutes_per_step = f64::NAN;
        assert!(bad.check(true).is_err());
    }
}
