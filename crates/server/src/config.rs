//! Configuration: defaults, then an optional TOML file, then `SHENFEN_*` environment variables
//! (nested keys with `__`, e.g. `SHENFEN_LIMITS__SMS_PER_NUMBER_PER_DAY=5`).
//!
//! With no configuration at all the instance runs in demo mode on 127.0.0.1:8080 with SQLite under `./data/`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
// Unknown top-level keys are tolerated: other tools also set SHENFEN_* variables (e.g. the test suite's).
#[serde(default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory for the SQLite database, demo secrets and stored files.
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; unset means SQLite at `<data_dir>/shenfen.db`.
    pub database_url: Option<String>,
    /// Demo mode: generated secrets, sandbox providers, demo data seeded, `/dev/outbox` visible.
    pub demo: bool,
    /// Demo mode only: seed a year of service history for the statistics, in the background, on first start
    /// (benchmarks switch it off so it does not compete with what they measure).
    pub demo_history: bool,
    /// Set when served behind TLS so cookies carry `Secure`.
    pub secure_cookies: bool,
    /// Trust the first `X-Forwarded-For` hop (only when a reverse proxy you run sets it).
    pub behind_proxy: bool,
    /// Public base URL used in links sent by SMS.
    pub public_url: String,
    /// `pretty` for people, `json` for log collectors.
    pub log_format: LogFormat,
    pub secrets: Secrets,
    pub limits: Limits,
    /// Postage for EMS delivery, in fen.
    pub postage_fen: i64,
    /// Booking rules: horizon, lead time, cancellation cut-off, monthly limits, check-in window.
    pub appointments: shenfen_domain::appointments::BookingPolicy,
    /// The base layer under the heat map.
    pub map: MapConfig,
    /// Notifications: SMS provider, queue, quiet hours, receipt callbacks, sandboxes.
    pub notify: NotifyConfig,
    /// Payment providers: gateway URLs, merchant ids, keys. Demo mode defaults to the instance's own sandboxes.
    pub payments: PaymentsConfig,
    /// Express delivery of finished cards: the EMS account, tracking polls, the EMS sandbox.
    pub logistics: crate::logistics::LogisticsConfig,
    /// ID-card applications: the online route's rules, the review lease, the production-cycle target.
    pub applications: ApplicationsConfig,
    /// How long each class of personal data is kept, and the daily job that deletes the rest (`/privacy`).
    pub retention: crate::retention::RetentionConfig,
    /// Service statistics: the assumptions behind "trips and time saved" (`shenfen_domain::stats::SavingsModel`).
    pub stats: shenfen_domain::stats::SavingsModel,
    /// The instance's clock compared with the database's: how far off it may be before the instance stands down.
    pub clock: crate::clock_guard::ClockGuardConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ApplicationsConfig {
    /// Who may apply fully online, and its limits (defaults: Hefei's published rules).
    pub online: shenfen_domain::eligibility::OnlineRules,
    /// How long a reviewer's claim on an application lasts without activity.
    pub review_lease_minutes: u32,
    /// Working days from submission to card (default 15) and the at-risk warning.
    pub sla: shenfen_domain::sla::SlaPolicy,
}

impl Default for ApplicationsConfig {
    fn default() -> Self {
        ApplicationsConfig { online: Default::default(), review_lease_minutes: 15, sla: Default::default() }
    }
}

/// Which SMS provider the notification worker sends through.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmsProviderKind {
    /// Write straight to the database outbox (`/dev/outbox`), delivered on acceptance: tests and benchmarks.
    Outbox,
    Aliyun,
    Tencent,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Where SMS go. The default shown is what tests get; a demo instance that does not set it uses `aliyun` (its
    /// own Aliyun sandbox, receipts included). Outside demo mode `aliyun` or `tencent` is required.
    pub provider: SmsProviderKind,
    /// How often an idle worker looks for due jobs (enqueue also wakes it).
    pub poll_ms: u64,
    /// Jobs claimed per statement. A pass sends its whole claim before claiming again, so the batch should be a
    /// few times `concurrency`: the last sends of a pass run with the rest of the slots idle.
    pub batch: u32,
    /// Provider calls a worker has in flight at once (each waits on the network, not the CPU).
    pub concurrency: usize,
    /// How long a claimed job stays with one worker before another may take it over.
    pub lease_secs: i64,
    pub max_attempts: i64,
    pub backoff_base_ms: i64,
    pub backoff_cap_ms: i64,
    /// Timeout of one provider call.
    pub send_timeout_ms: u64,
    /// SMS one number may receive per hour; more wait for the next hour (none is dropped). A storm of events for
    /// one citizen cannot flood their phone, and stays within the providers' per-number limits.
    pub per_number_per_hour: u32,
    /// SMS the whole platform sends per second, across all instances (the provider account's rate limit).
    pub global_per_second: u32,
    /// Identical SMS (same number, same text) raised within this many seconds of each other go once.
    pub identical_window_secs: i64,
    /// Non-urgent SMS are held from `quiet_from_hour` to `quiet_until_hour` (China time).
    pub quiet_from_hour: u8,
    pub quiet_until_hour: u8,
    /// Secret path segment of the receipt callbacks (`/callbacks/sms/{provider}/{token}`). Unset outside demo
    /// mode means receipts are refused; demo mode uses a fixed demo token.
    pub callback_token: Option<String>,
    /// Source addresses allowed to post receipts (the providers publish theirs). Empty = any.
    pub callback_allow: Vec<String>,
    pub aliyun: AliyunSmsConfig,
    pub tencent: TencentSmsConfig,
    /// The provider sandboxes mounted under `/sandbox/…` in demo mode.
    pub sandbox: SandboxSmsConfig,
    /// The live stream of in-app notifications to open pages (server-sent events).
    pub live: LiveConfig,
    /// Card expiry reminders (到期短信提醒).
    pub expiry: ExpiryConfig,
    /// Asking the SMS provider about messages whose delivery receipt never came.
    pub reconcile: ReconcileConfig,
    /// Web Push to installed web apps and browsers that opted in.
    pub push: PushConfig,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    pub enabled: bool,
    /// The VAPID private key: 32 bytes, base64url (a P-256 scalar). Unset = derived from `secrets.cookie_key`, so
    /// every instance has the same one; set it explicitly if the cookie key may ever be rotated (a new VAPID key
    /// invalidates every subscription).
    pub vapid_private_key: Option<String>,
    /// Contact for push services (`mailto:` or `https:`), sent in every VAPID token.
    pub subject: String,
    /// How long a push service keeps an undelivered message.
    pub ttl_secs: u32,
    pub timeout_ms: u64,
    /// Hosts (or `.suffix`es) subscription endpoints may point at: the browsers' push services. This instance's
    /// own origin (its sandbox push service) is added in demo mode. Anything else is refused, so a subscription
    /// cannot make the server post to arbitrary addresses.
    pub allowed_endpoint_hosts: Vec<String>,
    /// Subscriptions (browsers, devices) per citizen.
    pub max_subscriptions_per_citizen: u32,
}

impl std::fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConfig").field("enabled", &self.enabled).field("subject", &self.subject).finish_non_exhaustive()
    }
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            enabled: true,
            vapid_private_key: None,
            subject: "mailto:webpush@shenfen.invalid".into(),
            ttl_secs: 86_400,
            timeout_ms: 5_000,
            allowed_endpoint_hosts: vec![
                "fcm.googleapis.com".into(),
                "updates.push.services.mozilla.com".into(),
                ".push.apple.com".into(),
                ".notify.windows.com".into(),
            ],
            max_subscriptions_per_citizen: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// How often each instance's hub looks for new in-app notifications (from any instance) while pages listen.
    pub poll_ms: u64,
    /// How far back each look reaches again, for rows committed late or stamped by a slightly different clock.
    pub overlap_ms: i64,
    /// Interval of the keep-alive comment on an idle stream.
    pub heartbeat_ms: u64,
    /// A stream ends after this long (the browser reconnects, and the session is checked afresh).
    pub stream_max_secs: u64,
    /// Open streams per citizen on one instance (tabs, devices).
    pub max_streams_per_citizen: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig { poll_ms: 500, overlap_ms: 3_000, heartbeat_ms: 15_000, stream_max_secs: 1_800, max_streams_per_citizen: 5 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExpiryConfig {
    /// Run the daily reminder job on this instance (every instance may: a reminder is sent once either way).
    pub enabled: bool,
    /// Remind when a card has at most this many days left, once per window (default 90, then 30).
    pub windows_days: Vec<i64>,
    /// How often the job looks; a run finds only what became due since the last one.
    pub interval_secs: u64,
    /// Cards claimed per statement.
    pub batch: u32,
}

/// Receipts are pushed by the providers but unsigned and not guaranteed: a callback can be lost, or arrive
/// before the acceptance was written down. The reconciler asks the provider's status API (Aliyun
/// `QuerySendDetails`, Tencent `PullSmsSendStatusByPhoneNumber`) about messages still `sent` after `after_secs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconcileConfig {
    /// Run the reconciler on this instance (every instance may: each message is asked about by one at a time).
    pub enabled: bool,
    /// How often it looks for unconfirmed messages.
    pub every_secs: u64,
    /// A message is asked about once it has waited this long for its receipt.
    pub after_secs: i64,
    /// A message the provider has no final news of is asked about again after this long.
    pub recheck_secs: i64,
    /// A message without a final report this long after it was sent ends as `temporary-failure` (the carrier
    /// could not reach the phone); it is not sent again.
    pub give_up_hours: i64,
    /// Messages claimed per pass.
    pub batch: u32,
    /// Status queries in flight at once.
    pub concurrency: usize,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig { enabled: true, every_secs: 60, after_secs: 600, recheck_secs: 600, give_up_hours: 72, batch: 100, concurrency: 8 }
    }
}

impl Default for ExpiryConfig {
    fn default() -> Self {
        ExpiryConfig { enabled: true, windows_days: vec![90, 30], interval_secs: 3_600, batch: 500 }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AliyunSmsConfig {
    /// `https://dysmsapi.aliyuncs.com` in production; unset in demo mode = this instance's own sandbox.
    pub base_url: Option<String>,
    pub access_key_id: String,
    pub access_key_secret: String,
    pub sign_name: String,
    /// `acs3` (ACS3-HMAC-SHA256, default) or `v1` (RPC HMAC-SHA1, older accounts).
    pub signature: String,
    /// Approved template code per template name (e.g. `appointment_booked = "SMS_123456789"`).
    pub templates: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TencentSmsConfig {
    /// `https://sms.tencentcloudapi.com` in production; unset in demo mode = this instance's own sandbox.
    pub base_url: Option<String>,
    pub secret_id: String,
    pub secret_key: String,
    pub sdk_app_id: String,
    pub sign_name: String,
    pub region: String,
    /// Approved template id per template name.
    pub templates: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for AliyunSmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AliyunSmsConfig").field("base_url", &self.base_url).field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TencentSmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TencentSmsConfig").field("base_url", &self.base_url).field("secret_id", &self.secret_id).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSmsConfig {
    /// Where the sandboxes post delivery receipts; unset = this instance's own callback URL.
    pub receipt_base_url: Option<String>,
    /// Messages per number per minute before the sandbox answers with the provider's rate-limit error.
    pub per_number_per_minute: u32,
    /// Delay before a receipt is posted (a real carrier takes seconds).
    pub receipt_delay_ms: u64,
}

/// The receipt path token of demo instances (never exposed to real users, see README).
pub const DEMO_CALLBACK_TOKEN: &str = "demo-sms-receipts";

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            provider: SmsProviderKind::Outbox,
            poll_ms: 1_000,
            // Measured with `shenfen bench notify` (100,000 events at 2,100/s, PostgreSQL, 2 cores): 100/32 gave a
            // p99 of 3.0 s, 200/64 0.3 s.
            batch: 200,
            concurrency: 64,
            lease_secs: 60,
            max_attempts: 5,
            backoff_base_ms: 30_000,
            backoff_cap_ms: 3_600_000,
            send_timeout_ms: 5_000,
            per_number_per_hour: 20,
            global_per_second: 3_000,
            identical_window_secs: 600,
            quiet_from_hour: 21,
            quiet_until_hour: 8,
            callback_token: None,
            callback_allow: Vec::new(),
            aliyun: AliyunSmsConfig::default(),
            tencent: TencentSmsConfig::default(),
            sandbox: SandboxSmsConfig::default(),
            live: LiveConfig::default(),
            expiry: ExpiryConfig::default(),
            reconcile: ReconcileConfig::default(),
            push: PushConfig::default(),
        }
    }
}

impl Default for AliyunSmsConfig {
    fn default() -> Self {
        AliyunSmsConfig {
            base_url: None,
            access_key_id: "sandbox-access-key".into(),
            access_key_secret: "sandbox-access-secret".into(),
            sign_name: "居民身份证服务".into(),
            signature: "acs3".into(),
            templates: Default::default(),
        }
    }
}

impl Default for TencentSmsConfig {
    fn default() -> Self {
        TencentSmsConfig {
            base_url: None,
            secret_id: "sandbox-secret-id".into(),
            secret_key: "sandbox-secret-key".into(),
            sdk_app_id: "1400000000".into(),
            sign_name: "居民身份证服务".into(),
            region: "ap-guangzhou".into(),
            templates: Default::default(),
        }
    }
}

impl Default for SandboxSmsConfig {
    fn default() -> Self {
        SandboxSmsConfig { receipt_base_url: None, per_number_per_minute: 30, receipt_delay_ms: 200 }
    }
}

impl NotifyConfig {
    /// The receipt token in force: the configured one, or the demo token in demo mode.
    pub fn receipt_token(&self, demo: bool) -> Option<&str> {
        self.callback_token.as_deref().filter(|t| !t.is_empty()).or(demo.then_some(DEMO_CALLBACK_TOKEN))
    }

    fn check(&self, demo: bool) -> anyhow::Result<()> {
        if self.quiet_from_hour > 23 || self.quiet_until_hour > 23 || self.max_attempts < 1 || self.backoff_base_ms < 1 || self.batch == 0 {
            bail!("notify: hours must be 0–23, max_attempts, backoff_base_ms and batch at least 1");
        }
        if !demo && self.provider == SmsProviderKind::Outbox {
            bail!("notify.provider: outside demo mode choose \"aliyun\" or \"tencent\" (the outbox sends nothing)");
        }
        if !demo {
            let url = match self.provider {
                SmsProviderKind::Aliyun => &self.aliyun.base_url,
                _ => &self.tencent.base_url,
            };
            if url.is_none() || self.callback_token.as_deref().is_none_or(|t| t.len() < 16) {
                bail!("notify: outside demo mode the SMS provider needs base_url and a callback_token of at least 16 characters");
            }
        }
        if self.live.poll_ms == 0 || self.live.heartbeat_ms == 0 || self.live.max_streams_per_citizen == 0 || self.live.overlap_ms < 0 {
            bail!("notify.live: poll_ms, heartbeat_ms and max_streams_per_citizen must be at least 1, overlap_ms not negative");
        }
        if self.expiry.windows_days.is_empty() || self.expiry.windows_days.iter().any(|d| !(1..=3650).contains(d)) || self.expiry.batch == 0 {
            bail!("notify.expiry: windows_days must list 1–3650 day windows, batch at least 1");
        }
        if self.per_number_per_hour == 0 || self.global_per_second == 0 || self.identical_window_secs < 1 {
            bail!("notify: per_number_per_hour, global_per_second and identical_window_secs must be at least 1");
        }
        let r = &self.reconcile;
        if r.every_secs == 0 || r.after_secs < 1 || r.recheck_secs < 1 || r.give_up_hours < 1 || r.batch == 0 || r.concurrency == 0 {
            bail!("notify.reconcile: every_secs, after_secs, recheck_secs, give_up_hours, batch and concurrency must be at least 1");
        }
        if !(self.push.subject.starts_with("mailto:") || self.push.subject.starts_with("https:")) {
            bail!("notify.push.subject must be a mailto: or https: URL");
        }
        if !["acs3", "v1"].contains(&self.aliyun.signature.as_str()) {
            bail!("notify.aliyun.signature must be acs3 or v1");
        }
        Ok(())
    }
}

/// The heat map's base layer. Without a tile server (the default, and every test) the page draws the district
/// centres shipped in the repository, so it works offline; production sets a tile server of its choosing. The
/// points are stored in GCJ-02, so the tiles must be GCJ-02 tiles too (as Amap's and Tencent's are).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MapConfig {
    /// Slippy-map tile URL template with `{z}`, `{x}` and `{y}`, e.g. `https://tiles.example.gov.cn/{z}/{x}/{y}.png`.
    pub tile_url: Option<String>,
    /// Attribution shown under the map (required by most tile providers' terms).
    pub attribution: String,
}

impl MapConfig {
    /// The tile server's origin (`scheme://host[:port]`) for the CSP `img-src`, when a valid template is set.
    pub fn tile_origin(&self) -> Option<String> {
        let url = self.tile_url.as_deref()?;
        let rest = url.strip_prefix("https://").map(|r| ("https", r)).or_else(|| url.strip_prefix("http://").map(|r| ("http", r)))?;
        let host = rest.1.split('/').next().filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c)))?;
        Some(format!("{}://{}", rest.0, host))
    }

    fn check(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.tile_url {
            if self.tile_origin().is_none() || !["{z}", "{x}", "{y}"].iter().all(|p| url.contains(p)) || url.contains(['"', '<', '>', ' ']) {
                bail!("map.tile_url must be an http(s) URL template containing {{z}}, {{x}} and {{y}}");
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Keys as 64 hex characters (32 bytes). Required outside demo mode.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Secrets {
    /// Keys CSRF tokens and SMS-code hashes.
    pub cookie_key: Option<String>,
    /// AES-256-GCM key for personal data at rest (ID numbers, names).
    pub field_key: Option<String>,
    /// HMAC key of the blind index used to look ID numbers up without decrypting them.
    pub blind_index_key: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { <redacted> }")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// How long a one-time SMS code is valid, in seconds.
    pub sms_code_ttl_secs: i64,
    /// Wrong attempts that burn a code.
    pub sms_code_max_attempts: u32,
    /// At most one code per number per this many seconds.
    pub sms_resend_interval_secs: i64,
    /// Codes per number per day (China time).
    pub sms_per_number_per_day: u32,
    /// Codes per client address per day (China time).
    pub sms_per_ip_per_day: u32,
    /// Staff sign-in attempts per username per 15 minutes (five times this per address).
    pub staff_sign_in_failures_per_15min: u32,
    /// Session lifetime, in hours.
    pub session_ttl_hours: i64,
    /// Largest JSON or form body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest uploaded image (face verification, portraits), in bytes.
    pub max_upload_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: ([127, 0, 0, 1], 8080).into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            demo: true,
            demo_history: true,
            secure_cookies: false,
            behind_proxy: false,
            public_url: "http://127.0.0.1:8080".into(),
            log_format: LogFormat::Pretty,
            secrets: Secrets::default(),
            limits: Limits::default(),
            postage_fen: shenfen_domain::fees::FeeSchedule::DEFAULT_POSTAGE_FEN,
            appointments: Default::default(),
            map: MapConfig::default(),
            notify: NotifyConfig::default(),
            payments: PaymentsConfig::default(),
            applications: ApplicationsConfig::default(),
            logistics: Default::default(),
            retention: Default::default(),
            stats: Default::default(),
            clock: Default::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sms_code_ttl_secs: 300,
            sms_code_max_attempts: 5,
            sms_resend_interval_secs: 60,
            sms_per_number_per_day: 10,
            sms_per_ip_per_day: 50,
            staff_sign_in_failures_per_15min: 10,
            session_ttl_hours: 12,
            max_body_bytes: 64 * 1024,
            max_upload_bytes: 15 * 1024 * 1024,
        }
    }
}

impl Config {
    /// Loads defaults ← TOML file (`--config`, `SHENFEN_CONFIG`, or `./shenfen.toml` if present) ← environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut given = Figment::new();
        let file = file.map(Path::to_path_buf).or_else(|| std::env::var_os("SHENFEN_CONFIG").map(PathBuf::from));
        match file {
            Some(path) => {
                if !path.exists() {
                    bail!("configuration file {} does not exist", path.display());
                }
                given = given.merge(Toml::file(path));
            }
            None if Path::new("shenfen.toml").exists() => given = given.merge(Toml::file("shenfen.toml")),
            None => {}
        }
        given = given.merge(Env::prefixed("SHENFEN_").ignore(&["config", "test_postgres_url"]).split("__"));
        let mut config: Config = Figment::from(Serialized::defaults(Config::default())).merge(given.clone()).extract().context("invalid configuration")?;
        // A demo instance runs the real Aliyun protocol against its own sandbox, receipts and all, unless told
        // otherwise; the bare outbox (what tests use) would hide all of that.
        if config.demo && given.find_value("notify.provider").is_err() {
            config.notify.provider = SmsProviderKind::Aliyun;
        }
        config.map.check()?;
        config.notify.check(config.demo)?;
        config.payments.check(config.demo)?;
        config.logistics.check(config.demo)?;
        config.retention.check()?;
        config.stats.validate().map_err(anyhow::Error::msg)?;
        Ok(config)
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("shenfen.db").display()),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url().starts_with("postgres")
    }
}

/// `[payments]`: one section per provider. Every key may be given inline (`*_pem`) or as a file path
/// (`*_path`); in demo mode unset keys are the public test keys in `crates/server/demo-keys/` and unset URLs mean
/// this instance's own sandbox (`/sandbox/alipay`, `/sandbox/wechat`, `/sandbox/unionpay`). Outside demo mode a
/// missing URL or key stops the server at start-up.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    pub alipay: AlipayPayConfig,
    pub wechat: WechatPayConfig,
    pub unionpay: UnionpayPayConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlipayPayConfig {
    /// `https://openapi.alipay.com/gateway.do` in production.
    pub gateway_url: Option<String>,
    pub app_id: String,
    /// Seller id (PID) expected in notifications; empty = not checked here.
    pub seller_id: String,
    /// Our application private key (PKCS#8 or PKCS#1 PEM).
    pub private_key_pem: Option<String>,
    pub private_key_path: Option<PathBuf>,
    /// Alipay's public key (SPKI PEM), for notifications and responses.
    pub alipay_public_key_pem: Option<String>,
    pub alipay_public_key_path: Option<PathBuf>,
}

impl Default for AlipayPayConfig {
    fn default() -> Self {
        AlipayPayConfig {
            gateway_url: None,
            app_id: "2021000000000001".into(),
            seller_id: String::new(),
            private_key_pem: None,
            private_key_path: None,
            alipay_public_key_pem: None,
            alipay_public_key_path: None,
        }
    }
}

/// `[payments.wechat]`: WeChat Pay API v3.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WechatPayConfig {
    /// `https://api.mch.weixin.qq.com` in production (the default outside demo mode).
    pub api_base: Option<String>,
    pub mchid: String,
    /// The AppID bound to the merchant (H5 and Native orders carry it).
    pub appid: String,
    /// Serial of our merchant API certificate (`apiclient_cert.pem`), sent as `serial_no`.
    pub serial_no: String,
    /// Our merchant API private key (`apiclient_key.pem`).
    pub private_key_pem: Option<String>,
    pub private_key_path: Option<PathBuf>,
    /// The WeChat Pay platform certificate (responses and callbacks name it by serial) …
    pub platform_cert_pem: Option<String>,
    pub platform_cert_path: Option<PathBuf>,
    /// … or the newer platform public key (SPKI PEM) with its id `PUB_KEY_ID_…`.
    pub platform_public_key_pem: Option<String>,
    pub platform_public_key_path: Option<PathBuf>,
    pub platform_public_key_id: Option<String>,
    /// The APIv3 key: exactly 32 bytes (decrypts callback resources). Demo mode: a public test-only constant.
    pub apiv3_key: Option<String>,
}

impl Default for WechatPayConfig {
    fn default() -> Self {
        WechatPayConfig {
            api_base: None,
            mchid: "1900000001".into(),
            appid: "wx00000000000demo1".into(),
            serial_no: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
            private_key_pem: None,
            private_key_path: None,
            platform_cert_pem: None,
            platform_cert_path: None,
            platform_public_key_pem: None,
            platform_public_key_path: None,
            platform_public_key_id: None,
            apiv3_key: None,
        }
    }
}

/// `[payments.unionpay]`: UnionPay online gateway (全渠道) 5.1.0, signMethod 01.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UnionpayPayConfig {
    /// `https://gateway.95516.com` in production (the default outside demo mode); `/gateway/api/…` is appended.
    pub gateway_base: Option<String>,
    /// Where the reconciliation file is fetched: `https://filedownload.95516.com` in production.
    pub file_base: Option<String>,
    pub mer_id: String,
    /// Our signing key and its certificate (`certId` is the certificate's serial), as exported from the .pfx.
    pub sign_key_pem: Option<String>,
    pub sign_key_path: Option<PathBuf>,
    pub sign_cert_pem: Option<String>,
    pub sign_cert_path: Option<PathBuf>,
    /// UnionPay's root and intermediate certificates (`acp_prod_root.cer`, `acp_prod_middle.cer`): a
    /// notification's signing certificate must chain to them.
    pub root_cert_pem: Option<String>,
    pub root_cert_path: Option<PathBuf>,
    pub middle_cert_pem: Option<String>,
    pub middle_cert_path: Option<PathBuf>,
}

impl Default for UnionpayPayConfig {
    fn default() -> Self {
        UnionpayPayConfig {
            gateway_base: None,
            file_base: None,
            mer_id: "777290058110048".into(),
            sign_key_pem: None,
            sign_key_path: None,
            sign_cert_pem: None,
            sign_cert_path: None,
            root_cert_pem: None,
            root_cert_path: None,
            middle_cert_pem: None,
            middle_cert_path: None,
        }
    }
}

impl PaymentsConfig {
    fn check(&self, demo: bool) -> anyhow::Result<()> {
        if demo {
            return Ok(());
        }
        let a = &self.alipay;
        if a.gateway_url.as_deref().is_none_or(str::is_empty) {
            bail!("payments.alipay.gateway_url is required outside demo mode");
        }
        if a.private_key_pem.is_none() && a.private_key_path.is_none() {
            bail!("payments.alipay: private_key_pem or private_key_path is required outside demo mode");
        }
        if a.alipay_public_key_pem.is_none() && a.alipay_public_key_path.is_none() {
            bail!("payments.alipay: alipay_public_key_pem or alipay_public_key_path is required outside demo mode");
        }
        let w = &self.wechat;
        if w.private_key_pem.is_none() && w.private_key_path.is_none() {
            bail!("payments.wechat: private_key_pem or private_key_path is required outside demo mode");
        }
        let public_key = w.platform_public_key_pem.is_some() || w.platform_public_key_path.is_some();
        if public_key && w.platform_public_key_id.as_deref().is_none_or(str::is_empty) {
            bail!("payments.wechat: platform_public_key_id (PUB_KEY_ID_…) is required with a platform public key");
        }
        if !public_key && w.platform_cert_pem.is_none() && w.platform_cert_path.is_none() {
            bail!("payments.wechat: a platform certificate or platform public key is required outside demo mode");
        }
        if w.apiv3_key.as_deref().is_none_or(|k| k.len() != 32) {
            bail!("payments.wechat.apiv3_key (32 bytes) is required outside demo mode");
        }
        let u = &self.unionpay;
        for (inline, path, what) in [
            (&u.sign_key_pem, &u.sign_key_path, "sign_key"),
            (&u.sign_cert_pem, &u.sign_cert_path, "sign_cert"),
            (&u.root_cert_pem, &u.root_cert_path, "root_cert"),
            (&u.middle_cert_pem, &u.middle_cert_path, "middle_cert"),
        ] {
            if inline.is_none() && path.is_none() {
                bail!("payments.unionpay: {what}_pem or {what}_path is required outside demo mode");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `toml` as the configuration file (the environment adds nothing: tests set no `SHENFEN_` keys).
    fn load(name: &str, toml: &str) -> anyhow::Result<Config> {
        let path = std::env::temp_dir().join(format!("shenfen-config-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, toml)?;
        let loaded = Config::load(Some(&path));
        let _ = std::fs::remove_file(&path);
        loaded
    }

    #[test]
    fn sms_provider_defaults_and_requirements() {
        // A demo instance runs the Aliyun protocol against its own sandbox unless told otherwise.
        assert_eq!(load("demo", "demo = true\n").unwrap().notify.provider, SmsProviderKind::Aliyun);
        assert_eq!(load("demo-outbox", "demo = true\n[notify]\nprovider = \"outbox\"\n").unwrap().notify.provider, SmsProviderKind::Outbox);
        assert_eq!(load("demo-tencent", "demo = true\n[notify]\nprovider = \"tencent\"\n").unwrap().notify.provider, SmsProviderKind::Tencent);
        // Outside demo mode the outbox (which sends nothing) is refused, and a real provider needs its URL and a
        // receipt token.
        let secrets = "demo = false\n";
        let err = load("prod-outbox", &format!("{secrets}[notify]\nprovider = \"outbox\"\n")).unwrap_err().to_string();
        assert!(err.contains("outbox sends nothing"), "{err}");
        let err = load("prod-no-url", &format!("{secrets}[notify]\nprovider = \"aliyun\"\n")).unwrap_err().to_string();
        assert!(err.contains("base_url"), "{err}");
        let err = load("bad-reconcile", "demo = true\n[notify.reconcile]\nbatch = 0\n").unwrap_err().to_string();
        assert!(err.contains("notify.reconcile"), "{err}");
    }
}
