//! Fresh, migrated stores for tests: a new SQLite file each time, and — when `SHENFEN_TEST_POSTGRES_URL` is
//! set — a new PostgreSQL schema each time, so tests never see each other's rows.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use crate::{DynStore, PgStore, Result, SqliteStore};

pub const POSTGRES_URL_VAR: &str = "SHENFEN_TEST_POSTGRES_URL";

/// A directory under the system temp dir that is removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("shenfen-test-{}", crate::new_id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn fresh_sqlite(dir: &TempDir) -> Result<DynStore> {
    let opts = SqliteConnectOptions::new().filename(dir.0.join("shenfen.db"));
    let store = SqliteStore::connect(opts).await?;
    crate::Store::migrate(&store).await?;
    Ok(Arc::new(store))
}

/// The PostgreSQL URL for tests, if configured. Under `CI=true` its absence is a failure, not a skip.
pub fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{POSTGRES_URL_VAR} must be set when CI=true: PostgreSQL tests may not be skipped in CI");
            }
            eprintln!("SKIPPED: PostgreSQL tests ({POSTGRES_URL_VAR} not set)");
            None
        }
    }
}

/// A connection URL-equivalent for a brand-new schema (returned so several app instances can share it).
pub async fn fresh_postgres_schema(base_url: &str) -> Result<PgConnectOptions> {
    let schema = format!("t_{}", crate::new_id().replace('-', ""));
    let admin = PgStore::connect(PgConnectOptions::from_str(base_url)?, 1).await?;
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\"")).execute(&admin.write).await?;
    admin.write.close().await;
    Ok(PgConnectOptions::from_str(base_url)?.options([("search_path", schema.as_str())]))
}

pub async fn fresh_postgres(base_url: &str) -> Result<DynStore> {
    let opts = fresh_postgres_schema(base_url).await?;
    let store = PgStore::connect(opts, 8).await?;
    crate::Store::migrate(&store).await?;
    Ok(Arc::new(store))
}

/// Runs `body` against SQLite, then against PostgreSQL when configured.
#[macro_export]
macro_rules! both_backends {
    ($(#[$m:meta])* $name:ident, |$store:ident| $body:block) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let dir = $crate::test_support::TempDir::new();
                let $store = $crate::test_support::fresh_sqlite(&dir).await.expect("sqlite store");
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(url) = $crate::test_support::postgres_url() else { return };
                let $store = $crate::test_support::fresh_postgres(&url).await.expect("postgres store");
                $body
            }
        }
    };
}
