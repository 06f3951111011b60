//! The database side of backups of the embedded SQLite database: a consistent online snapshot (`VACUUM INTO` on a
//! connection of its own, which reads one transaction's view while the server keeps writing through WAL), and the
//! inspection a restore runs on a candidate file before it may replace anything. Packaging (manifest, checksums,
//! archive) lives in the server's `backup` module; PostgreSQL is backed up with `pg_dump` (docs/deploy.md).

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{ConnectOptions, Row};

use crate::{Backend, Result, StoreError};

/// The newest schema migration this build knows, per backend (the manifest records it; a restore refuses a backup
/// from a newer schema).
pub fn latest_migration(backend: Backend) -> i64 {
    let migrator = match backend {
        Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("migrations/postgres"),
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Writes a consistent copy of the SQLite database at `source` to `out` (which must not exist). Safe while the
/// server is serving: the copy is one read transaction's snapshot, and writers are not blocked (WAL).
pub async fn sqlite_snapshot(source: &Path, out: &Path) -> Result<()> {
    if !source.is_file() {
        return Err(StoreError::Corrupt(format!("no SQLite database at {}", source.display())));
    }
    let opts = SqliteConnectOptions::new().filename(source).create_if_missing(false).busy_timeout(Duration::from_secs(30)).disable_statement_logging();
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(opts).await?;
    let out = out.to_str().ok_or_else(|| StoreError::Corrupt("backup path is not valid UTF-8".into()))?.to_string();
    let res = sqlx::query("VACUUM INTO $1").bind(out).execute(&pool).await;
    pool.close().await;
    res?;
    Ok(())
}

/// What a restore learns about a candidate database before trusting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteInfo {
    /// Highest successfully applied migration.
    pub schema_version: i64,
    pub audit_head_seq: i64,
}

/// Opens a candidate database read-only and checks that it is an intact Shenfen database: SQLite's own
/// `integrity_check`, the migrations table, and the audit head. The error says which check failed.
pub async fn sqlite_inspect(path: &Path) -> Result<SqliteInfo> {
    let pool = read_only_pool(path).await?;
    let res = inspect(&pool).await;
    pool.close().await;
    res
}

async fn inspect(pool: &sqlx::SqlitePool) -> Result<SqliteInfo> {
    let check: Vec<String> = sqlx::query("PRAGMA integrity_check").fetch_all(pool).await?.iter().map(|r| r.try_get::<String, _>(0)).collect::<std::result::Result<_, _>>()?;
    if check != ["ok"] {
        return Err(StoreError::Corrupt(format!("SQLite integrity check failed: {}", check.join("; "))));
    }
    let tables: Vec<String> =
        sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table'").fetch_all(pool).await?.iter().map(|r| r.try_get::<String, _>(0)).collect::<std::result::Result<_, _>>()?;
    for needed in ["_sqlx_migrations", "audit_head", "audit_log", "staff", "citizens"] {
        if !tables.iter().any(|t| t == needed) {
            return Err(StoreError::Corrupt(format!("not a Shenfen database: table {needed} is missing")));
        }
    }
    let version: Option<i64> = sqlx::query("SELECT MAX(version) FROM _sqlx_migrations WHERE success").fetch_one(pool).await?.try_get(0)?;
    let head: i64 = sqlx::query("SELECT seq FROM audit_head WHERE id = 1").fetch_one(pool).await?.try_get(0)?;
    Ok(SqliteInfo { schema_version: version.unwrap_or(0), audit_head_seq: head })
}

/// A candidate file is opened `immutable`: read-only, without locks or a write-ahead log beside it, so checking it
/// creates no files and cannot change it.
async fn read_only_pool(path: &Path) -> Result<sqlx::SqlitePool> {
    if !path.is_file() {
        return Err(StoreError::Corrupt(format!("no database file at {}", path.display())));
    }
    let opts = SqliteConnectOptions::new().filename(path).read_only(true).immutable(true).create_if_missing(false).disable_statement_logging();
    Ok(SqlitePoolOptions::new().max_connections(1).connect_with(opts).await?)
}

/// A read-only store over a candidate file (to verify its audit chain before it replaces anything).
pub async fn open_read_only(path: &Path) -> Result<crate::SqliteStore> {
    let pool = read_only_pool(path).await?;
    Ok(crate::SqliteStore::from_pools(pool.clone(), pool))
}
