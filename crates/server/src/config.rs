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
    pub sms_code_ttl_secs: i64,
    pub sms_code_max_attempts: u32,
    pub sms_resend_interval_secs: i64,
    pub sms_per_number_per_day: u32,
    pub sms_per_ip_per_day: u32,
    pub staff_sign_in_failures_per_15min: u32,
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
            secure_cookies: false,
            behind_proxy: false,
            public_url: "http://127.0.0.1:8080".into(),
            log_format: LogFormat::Pretty,
            secrets: Secrets::default(),
            limits: Limits::default(),
            postage_fen: shenfen_domain::fees::FeeSchedule::DEFAULT_POSTAGE_FEN,
            appointments: Default::default(),
            map: MapConfig::default(),
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
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        let file = file.map(Path::to_path_buf).or_else(|| std::env::var_os("SHENFEN_CONFIG").map(PathBuf::from));
        match file {
            Some(path) => {
                if !path.exists() {
                    bail!("configuration file {} does not exist", path.display());
                }
                fig = fig.merge(Toml::file(path));
            }
            None if Path::new("shenfen.toml").exists() => fig = fig.merge(Toml::file("shenfen.toml")),
            None => {}
        }
        fig = fig.merge(Env::prefixed("SHENFEN_").ignore(&["config", "test_postgres_url"]).split("__"));
        let config: Config = fig.extract().context("invalid configuration")?;
        config.map.check()?;
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
