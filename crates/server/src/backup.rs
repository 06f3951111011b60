//! `shenfen backup`, `shenfen backup check` and `shenfen restore`.
//!
//! **SQLite** (the embedded default): an online, consistent snapshot taken while the server keeps serving
//! (`VACUUM INTO`, see `shenfen_store::backup`), packaged as one tar file: `manifest.json` first (format version,
//! schema migration version, creation time, size and SHA-256 of every file), then `shenfen.db` and, in demo mode,
//! the generated `demo-secrets.toml`. Photos live in the database, so the database file carries them. Production
//! keys are never in a backup: a stolen backup then holds only ciphertext (docs/deploy.md says where keys go).
//!
//! **PostgreSQL**: `pg_dump --format=custom` (or PITR, docs/deploy.md); `shenfen backup` runs pg_dump for you, and
//! `backup check` validates a custom-format archive (header, `pg_restore --list` naming our tables, and a full read
//! of every data block through `pg_restore --file=/dev/null`, which a truncated dump fails).
//!
//! **Restore** refuses truncated, corrupted and foreign files with a message saying which, and never leaves a
//! partial database: SQLite is written to a temporary file beside the target, checked (checksums, SQLite's
//! integrity check, schema version, the audit chain) and renamed into place; PostgreSQL is restored with
//! `pg_restore --single-transaction --exit-on-error` into a database without Shenfen tables.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shenfen_store::Backend;

pub const FORMAT: &str = "shenfen-backup";
pub const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";
const DB_FILE: &str = "shenfen.db";
const DEMO_SECRETS: &str = "demo-secrets.toml";
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// The first bytes of every pg_dump custom-format archive.
const PGDMP_MAGIC: &[u8] = b"PGDMP";
/// SQLite's file header.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub backend: String,
    /// Highest applied schema migration in the backed-up database.
    pub schema_version: i64,
    pub shenfen_version: String,
    /// UTC, RFC 3339.
    pub created_at: String,
    pub created_at_ms: i64,
    pub audit_head_seq: i64,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A path that is removed when dropped unless kept: no half-written file survives an error.
struct TempPath(Option<PathBuf>);

impl TempPath {
    fn new(path: PathBuf) -> Self {
        TempPath(Some(path))
    }
    fn path(&self) -> &Path {
        self.0.as_deref().expect("temp path in use")
    }
    /// Renames into place (atomic on one filesystem) and disarms the clean-up.
    fn persist(mut self, to: &Path) -> anyhow::Result<()> {
        let from = self.0.take().expect("temp path in use");
        std::fs::rename(&from, to).with_context(|| format!("cannot move {} to {}", from.display(), to.display())).inspect_err(|_| {
            let _ = std::fs::remove_file(&from);
        })
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            // A snapshot is an SQLite database: a write that failed part-way (a full disk) can leave its journal
            // or WAL beside it.
            for suffix in ["-journal", "-wal", "-shm"] {
                let mut side = p.clone().into_os_string();
                side.push(suffix);
                let _ = std::fs::remove_file(side);
            }
            let _ = std::fs::remove_file(p);
        }
    }
}

fn sibling_temp(target: &Path, tag: &str) -> PathBuf {
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "shenfen".into());
    dir.join(format!(".{name}.{tag}-{}.tmp", uuid::Uuid::now_v7().simple()))
}

fn sha256_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut f = BufReader::new(File::open(path).with_context(|| format!("cannot read {}", path.display()))?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex::encode(h.finalize())))
}

/// Explains write failures in operator terms (a full disk is the usual one).
fn write_context(e: std::io::Error, what: &Path) -> anyhow::Error {
    let hint = match e.raw_os_error() {
        Some(libc::ENOSPC) => " — the disk is full",
        Some(libc::EFBIG) => " — the file is larger than this system allows",
        Some(libc::EDQUOT) => " — the disk quota is exhausted",
        _ => "",
    };
    anyhow::anyhow!("cannot write {}{hint}: {e}", what.display())
}

fn sqlite_path(database_url: &str) -> anyhow::Result<PathBuf> {
    let rest = database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:")).unwrap_or(database_url);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        bail!("cannot back up {database_url:?}: not a database file");
    }
    Ok(PathBuf::from(path))
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Where a backup goes: into `to` when it is a directory (a time-stamped name), else exactly `to`.
fn backup_target(to: &Path, now_ms: i64, ext: &str) -> PathBuf {
    if to.is_dir() {
        let stamp = time::OffsetDateTime::from_unix_timestamp(now_ms / 1000)
            .ok()
            .and_then(|t| t.format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).ok())
            .unwrap_or_else(|| now_ms.to_string());
        to.join(format!("shenfen-{stamp}.{ext}"))
    } else {
        to.to_path_buf()
    }
}

#[derive(Debug)]
pub struct BackupDone {
    pub path: PathBuf,
    pub manifest: Option<Manifest>,
}

/// Backs up the configured database. `data_dir` holds the demo secrets (included only when present there).
pub async fn backup(database_url: &str, data_dir: &Path, to: &Path, now_ms: i64) -> anyhow::Result<BackupDone> {
    if is_postgres(database_url) {
        let target = backup_target(to, now_ms, "pgdump");
        pg_dump(database_url, &target)?;
        return Ok(BackupDone { path: target, manifest: None });
    }
    let db = sqlite_path(database_url)?;
    let target = backup_target(to, now_ms, "sfbak");
    if target.exists() {
        bail!("{} already exists; choose another name or a directory", target.display());
    }
    let snapshot = TempPath::new(sibling_temp(&target, "snapshot"));
    shenfen_store::backup::sqlite_snapshot(&db, snapshot.path()).await.map_err(|e| {
        let text = e.to_string();
        if text.contains("full") { anyhow::anyhow!("cannot write the snapshot next to {} — the disk is full ({text})", target.display()) } else { anyhow::anyhow!("snapshot of {} failed: {text}", db.display()) }
    })?;
    // Check the snapshot as a restore would before calling it a backup.
    let info = shenfen_store::backup::sqlite_inspect(snapshot.path()).await.context("the snapshot failed its own check")?;
    let (bytes, sha256) = sha256_file(snapshot.path())?;
    let mut files = vec![(FileEntry { name: DB_FILE.into(), bytes, sha256 }, snapshot.path().to_path_buf())];
    let secrets = data_dir.join(DEMO_SECRETS);
    if secrets.is_file() {
        let (bytes, sha256) = sha256_file(&secrets)?;
        files.push((FileEntry { name: DEMO_SECRETS.into(), bytes, sha256 }, secrets));
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        backend: "sqlite".into(),
        schema_version: info.schema_version,
        shenfen_version: env!("CARGO_PKG_VERSION").into(),
        created_at: time::OffsetDateTime::from_unix_timestamp(now_ms / 1000)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default(),
        created_at_ms: now_ms,
        audit_head_seq: info.audit_head_seq,
        files: files.iter().map(|(e, _)| e.clone()).collect(),
    };
    let archive = TempPath::new(sibling_temp(&target, "archive"));
    write_archive(archive.path(), &manifest, &files)?;
    archive.persist(&target)?;
    Ok(BackupDone { path: target, manifest: Some(manifest) })
}

fn write_archive(path: &Path, manifest: &Manifest, files: &[(FileEntry, PathBuf)]) -> anyhow::Result<()> {
    let out = File::options().write(true).create_new(true).open(path).map_err(|e| write_context(e, path))?;
    let mut tar = tar::Builder::new(BufWriter::new(out));
    tar.mode(tar::HeaderMode::Deterministic);
    let json = serde_json::to_vec_pretty(manifest)?;
    let mut header = tar::Header::new_ustar();
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    tar.append_data(&mut header, MANIFEST, json.as_slice()).map_err(|e| write_context(e, path))?;
    for (entry, src) in files {
        let mut f = File::open(src).with_context(|| format!("cannot read {}", src.display()))?;
        let mut header = tar::Header::new_ustar();
        header.set_size(entry.bytes);
        header.set_mode(0o600);
        header.set_cksum();
        tar.append_data(&mut header, &entry.name, &mut f).map_err(|e| write_context(e, path))?;
    }
    let mut w = tar.into_inner().map_err(|e| write_context(e, path))?;
    w.flush().map_err(|e| write_context(e, path))?;
    let f = w.into_inner().map_err(|e| write_context(e.into_error(), path))?;
    f.sync_all().map_err(|e| write_context(e, path))?;
    Ok(())
}

/// What a file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Shenfen,
    PgDump,
}

fn sniff(path: &Path) -> anyhow::Result<Kind> {
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut head = [0u8; 512];
    let mut n = 0;
    while n < head.len() {
        let k = f.read(&mut head[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let head = &head[..n];
    if head.starts_with(PGDMP_MAGIC) {
        return Ok(Kind::PgDump);
    }
    if head.starts_with(SQLITE_MAGIC) {
        bail!("{} is a bare SQLite database, not a Shenfen backup (make one with `shenfen backup`)", path.display());
    }
    // ustar: the first entry's name, then "ustar" at offset 257.
    if n == 512 && &head[257..262] == b"ustar" && head.starts_with(MANIFEST.as_bytes()) {
        return Ok(Kind::Shenfen);
    }
    if n < 512 {
        bail!("{} is not a Shenfen backup: only {n} bytes (empty or truncated)", path.display());
    }
    bail!("{} is not a Shenfen backup (no manifest at its start)", path.display())
}

/// Reads a Shenfen archive, writing each file to `extract(name)` as it streams past, and checks every size and
/// checksum against the manifest. Nothing extracted is trusted until this returns `Ok`.
fn read_archive(path: &Path, mut extract: impl FnMut(&str) -> anyhow::Result<Option<PathBuf>>) -> anyhow::Result<Manifest> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut archive = tar::Archive::new(BufReader::new(file));
    let mut entries = archive.entries().context("not a readable archive")?;
    let truncated = |e: std::io::Error| anyhow::anyhow!("{} is truncated or damaged ({e})", path.display());
    let mut first = entries.next().ok_or_else(|| anyhow::anyhow!("{} is empty", path.display()))?.map_err(truncated)?;
    if first.path().map_err(truncated)?.to_string_lossy() != MANIFEST || first.size() > MAX_MANIFEST_BYTES {
        bail!("{} is not a Shenfen backup (no manifest)", path.display());
    }
    let mut json = Vec::new();
    first.read_to_end(&mut json).map_err(truncated)?;
    let manifest: Manifest = serde_json::from_slice(&json).with_context(|| format!("{}: the manifest is not valid", path.display()))?;
    if manifest.format != FORMAT {
        bail!("{} is not a Shenfen backup (format {:?})", path.display(), manifest.format);
    }
    if manifest.format_version > FORMAT_VERSION {
        bail!("{} was made by a newer Shenfen (backup format {}; this build reads up to {FORMAT_VERSION}) — upgrade first", path.display(), manifest.format_version);
    }
    let mut seen = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(truncated)?;
        let name = entry.path().map_err(truncated)?.to_string_lossy().into_owned();
        let Some(expected) = manifest.files.iter().find(|f| f.name == name) else {
            bail!("{}: file {name:?} is not in the manifest", path.display());
        };
        if seen.contains(&name) {
            bail!("{}: file {name:?} appears twice", path.display());
        }
        let mut h = Sha256::new();
        let mut n = 0u64;
        let mut out = match extract(&name)? {
            Some(p) => Some((BufWriter::new(File::options().write(true).create_new(true).open(&p).map_err(|e| write_context(e, &p))?), p)),
            None => None,
        };
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let k = entry.read(&mut buf).map_err(truncated)?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
            if let Some((w, p)) = out.as_mut() {
                w.write_all(&buf[..k]).map_err(|e| write_context(e, p))?;
            }
        }
        if let Some((w, p)) = out {
            let f = w.into_inner().map_err(|e| write_context(e.into_error(), &p))?;
            f.sync_all().map_err(|e| write_context(e, &p))?;
        }
        if n != expected.bytes {
            bail!("{} is truncated: {name} has {n} of {} bytes", path.display(), expected.bytes);
        }
        if hex::encode(h.finalize()) != expected.sha256 {
            bail!("{} is corrupted: the checksum of {name} does not match its manifest", path.display());
        }
        seen.push(name);
    }
    for f in &manifest.files {
        if !seen.contains(&f.name) {
            bail!("{} is truncated: {} is missing", path.display(), f.name);
        }
    }
    if !seen.iter().any(|n| n == DB_FILE) {
        bail!("{}: the backup holds no database", path.display());
    }
    Ok(manifest)
}

/// What `backup check` found.
#[derive(Debug)]
pub enum Checked {
    Shenfen(Manifest, shenfen_store::backup::SqliteInfo),
    PgDump { entries: usize },
}

/// Validates a backup without restoring it: a Shenfen archive down to SQLite's integrity check (extracted to a
/// temporary file under `scratch`), or a pg_dump custom-format archive.
pub async fn check(path: &Path, scratch: &Path) -> anyhow::Result<Checked> {
    match sniff(path)? {
        Kind::PgDump => pg_check(path).map(|entries| Checked::PgDump { entries }),
        Kind::Shenfen => {
            let db = TempPath::new(scratch.join(format!(".shenfen-check-{}.db", uuid::Uuid::now_v7().simple())));
            let manifest = read_archive(path, |name| Ok((name == DB_FILE).then(|| db.path().to_path_buf())))?;
            let info = verify_restored_db(db.path(), &manifest).await?;
            Ok(Checked::Shenfen(manifest, info))
        }
    }
}

async fn verify_restored_db(db: &Path, manifest: &Manifest) -> anyhow::Result<shenfen_store::backup::SqliteInfo> {
    let info = shenfen_store::backup::sqlite_inspect(db).await.map_err(|e| anyhow::anyhow!("the database in the backup is damaged: {e}"))?;
    let known = shenfen_store::backup::latest_migration(Backend::Sqlite);
    if info.schema_version > known {
        bail!("the backup's schema (migration {}) is newer than this build knows ({known}) — restore it with a newer Shenfen", info.schema_version);
    }
    if info.schema_version != manifest.schema_version || info.audit_head_seq != manifest.audit_head_seq {
        bail!("the database does not match its manifest (schema {} vs {}, audit head {} vs {})", info.schema_version, manifest.schema_version, info.audit_head_seq, manifest.audit_head_seq);
    }
    // The audit chain must verify inside the backup too (migrations the build knows are applied on start, not here).
    let store = shenfen_store::backup::open_read_only(db).await?;
    match shenfen_store::audit::verify_store(&store).await? {
        Ok(_) => {}
        Err(b) => bail!("the audit log in the backup does not verify: {b}"),
    }
    Ok(info)
}

#[derive(Debug)]
pub struct Restored {
    pub manifest: Option<Manifest>,
    /// Where the database that was replaced was kept (SQLite with `--replace`).
    pub previous: Option<PathBuf>,
}

/// Restores `from` into the database at `to` (a SQLite path or URL, or a PostgreSQL URL). An existing SQLite
/// database is replaced only with `replace` (and kept beside it as `*.pre-restore-<time>`); the server must be
/// stopped for that. `data_dir` receives demo secrets from the backup if it has none.
pub async fn restore(from: &Path, to: &str, replace: bool, data_dir: Option<&Path>, now_ms: i64) -> anyhow::Result<Restored> {
    let kind = sniff(from)?;
    if is_postgres(to) {
        if kind != Kind::PgDump {
            bail!("{} is a SQLite backup; it restores into a SQLite database, not PostgreSQL", from.display());
        }
        pg_check(from)?;
        pg_restore(from, to)?;
        return Ok(Restored { manifest: None, previous: None });
    }
    if kind == Kind::PgDump {
        bail!("{} is a PostgreSQL dump; restore it into PostgreSQL (`--to postgres://…`)", from.display());
    }
    let target = sqlite_path(to)?;
    if target.exists() && !replace {
        bail!("{} already exists; stop the server and pass --replace to replace it (the old file is kept beside it)", target.display());
    }
    if let Some(dir) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let db = TempPath::new(sibling_temp(&target, "restore"));
    let secrets_tmp = data_dir.map(|d| TempPath::new(d.join(format!(".{DEMO_SECRETS}.{}.tmp", uuid::Uuid::now_v7().simple()))));
    let mut got_secrets = false;
    let manifest = read_archive(from, |name| {
        Ok(match name {
            DB_FILE => Some(db.path().to_path_buf()),
            DEMO_SECRETS => secrets_tmp.as_ref().map(|t| {
                got_secrets = true;
                t.path().to_path_buf()
            }),
            _ => None,
        })
    })?;
    verify_restored_db(db.path(), &manifest).await?;
    // Only now is anything touched.
    let mut previous = None;
    if target.exists() {
        let stamp = now_ms / 1000;
        let keep = PathBuf::from(format!("{}.pre-restore-{stamp}", target.display()));
        std::fs::hard_link(&target, &keep).or_else(|_| std::fs::copy(&target, &keep).map(|_| ())).with_context(|| format!("cannot keep the old database as {}", keep.display()))?;
        // The old write-ahead log belongs to the old file: it must not be replayed into the restored one.
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{suffix}", target.display()));
            if side.exists() {
                std::fs::rename(&side, format!("{}{suffix}", keep.display())).with_context(|| format!("cannot move {} aside", side.display()))?;
            }
        }
        previous = Some(keep);
    }
    db.persist(&target)?;
    if let (Some(dir), Some(tmp)) = (data_dir, secrets_tmp) {
        let dest = dir.join(DEMO_SECRETS);
        if got_secrets && !dest.exists() {
            tmp.persist(&dest)?;
        }
    }
    Ok(Restored { manifest: Some(manifest), previous })
}

// ----- PostgreSQL

/// The schema a URL's `options=-csearch_path=…` names, if any (dump only that schema).
fn pg_schema(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        if k != "options" {
            return None;
        }
        let v = v.replace("%3D", "=").replace("%3d", "=").replace("%20", " ");
        v.split_whitespace().find_map(|o| o.strip_prefix("-csearch_path=").map(|s| s.split(',').next().unwrap_or(s).to_string()))
    })
}

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("cannot run {what} (is the PostgreSQL client installed?)"))?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn pg_dump(url: &str, target: &Path) -> anyhow::Result<()> {
    if target.exists() {
        bail!("{} already exists; choose another name or a directory", target.display());
    }
    let tmp = TempPath::new(sibling_temp(target, "pgdump"));
    let mut cmd = Command::new("pg_dump");
    cmd.arg("--format=custom").arg("--no-owner").arg("--file").arg(tmp.path()).arg("--dbname").arg(url);
    if let Some(schema) = pg_schema(url) {
        cmd.arg("--schema").arg(schema);
    }
    run(&mut cmd, "pg_dump")?;
    pg_check(tmp.path())?;
    tmp.persist(target)
}

/// Validates a pg_dump custom-format archive: its header, its table of contents (which must name Shenfen's
/// tables), and every data block (read in full by pg_restore into /dev/null). Returns the number of TOC entries.
pub fn pg_check(path: &Path) -> anyhow::Result<usize> {
    let mut head = [0u8; 11];
    File::open(path).with_context(|| format!("cannot open {}", path.display()))?.read_exact(&mut head).map_err(|_| anyhow::anyhow!("{} is too short to be a pg_dump archive", path.display()))?;
    if !head.starts_with(PGDMP_MAGIC) {
        bail!("{} is not a pg_dump custom-format archive", path.display());
    }
    // Header: magic, version (major, minor, revision), int size, offset size, format (1 = custom).
    if head[10] != 1 {
        bail!("{} is a pg_dump archive in another format ({}); use --format=custom", path.display(), head[10]);
    }
    let list = run(Command::new("pg_restore").arg("--list").arg(path), "pg_restore --list").map_err(|e| anyhow::anyhow!("{} has an unreadable table of contents: {e}", path.display()))?;
    let entries = list.lines().filter(|l| !l.starts_with(';') && !l.trim().is_empty()).count();
    for table in ["audit_log", "audit_head", "staff", "citizens", "_sqlx_migrations"] {
        if !list.lines().any(|l| l.contains(" TABLE ") && l.split_whitespace().any(|w| w == table)) {
            bail!("{} is not a Shenfen database dump: table {table} is missing", path.display());
        }
    }
    run(Command::new("pg_restore").arg("--file=/dev/null").arg(path), "pg_restore").map_err(|e| anyhow::anyhow!("{} is truncated or damaged: {e}", path.display()))?;
    Ok(entries)
}

fn pg_restore(from: &Path, url: &str) -> anyhow::Result<()> {
    // One transaction: a failure part-way leaves the target database as it was.
    run(
        Command::new("pg_restore").arg("--single-transaction").arg("--exit-on-error").arg("--no-owner").arg("--no-privileges").arg("--dbname").arg(url).arg(from),
        "pg_restore",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_path_schema_is_read_from_the_url() {
        assert_eq!(pg_schema("postgres://u@h/db?options=-csearch_path%3Dsurge_1").as_deref(), Some("surge_1"));
        assert_eq!(pg_schema("postgres://u@h/db?sslmode=disable&options=-csearch_path=a,public").as_deref(), Some("a"));
        assert_eq!(pg_schema("postgres://u@h/db"), None);
    }

    #[test]
    fn sqlite_paths_come_from_urls() {
        assert_eq!(sqlite_path("sqlite://./data/shenfen.db").unwrap(), PathBuf::from("./data/shenfen.db"));
        assert_eq!(sqlite_path("sqlite:/x/y.db?mode=rwc").unwrap(), PathBuf::from("/x/y.db"));
        assert_eq!(sqlite_path("/x/y.db").unwrap(), PathBuf::from("/x/y.db"));
        assert!(sqlite_path("sqlite::memory:").is_err());
    }
}
