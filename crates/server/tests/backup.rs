//! Backup and restore: an online SQLite backup taken while citizens keep booking, restored into a fresh instance
//! with every booking confirmed before the backup started and an intact audit chain; truncated, corrupted and
//! foreign files refused with clear errors and no partial state; the `shenfen backup|restore` commands; and the
//! PostgreSQL dump check and single-transaction restore.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shenfen_server::app::Clock;
use shenfen_server::config::Config;
use shenfen_store::test_support::TempDir;
use support::{Db, TestApp, http};
use tokio::sync::Mutex;

fn shenfen() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shenfen"));
    c.env_remove("SHENFEN_CONFIG").env_remove("SHENFEN_DATABASE_URL").env("SHENFEN_LOG", "warn");
    c
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

async fn verified_citizen(app: &TestApp, i: usize) -> String {
    let (token, citizen) = app.direct_citizen_session(&format!("137{:08}", i)).await;
    let ident = shenfen_store::VerifiedIdentity {
        name_enc: app.state.keys.encrypt_field("测试"),
        name_masked: "*试".into(),
        id_number_enc: vec![1],
        id_number_blind: format!("backup-blind-{i}"),
        id_number_masked: "340104********177X".into(),
        hukou_code: "340104".into(),
    };
    app.state.store.record_primary_verification(&citizen.id, &ident, app.state.now_ms()).await.unwrap();
    token
}

/// Bookable future slots at the Shushan points.
async fn free_slots(app: &TestApp) -> Vec<String> {
    let c = http();
    let mut out = Vec::new();
    for p in app.state.store.list_points().await.unwrap().into_iter().filter(|p| p.district_code == "340104").take(3) {
        shenfen_server::appointments::ensure_slots(&app.state, &p).await.unwrap();
        let slots: Vec<Value> = c.get(app.url(&format!("/api/v1/points/{}/slots", p.id))).send().await.unwrap().json().await.unwrap();
        let today = slots.first().and_then(|s| s["day"].as_str()).unwrap_or_default().to_string();
        out.extend(slots.iter().filter(|s| s["bookable"] == true && s["day"].as_str() > Some(today.as_str())).filter_map(|s| s["id"].as_str().map(str::to_string)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn online_backup_under_write_load_restores_every_committed_booking() {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    let slots = Arc::new(free_slots(&app).await);
    assert!(slots.len() > 20);
    let mut tokens = Vec::new();
    for i in 0..400 {
        tokens.push(verified_citizen(&app, i).await);
    }
    // Writers: citizens booking one after another over HTTP, each confirmation noted with when it arrived.
    let confirmed: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (tokens, slots, confirmed, stop, base) = (tokens.clone(), slots.clone(), confirmed.clone(), stop.clone(), app.base.clone());
        writers.push(tokio::spawn(async move {
            let c = http();
            let mut i = w;
            while i < tokens.len() && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = c.post(format!("{base}/api/v1/appointments")).bearer_auth(&tokens[i]).json(&json!({ "slot_id": slots[i % slots.len()], "service": "renewal" })).send().await.unwrap();
                if r.status() == 201 {
                    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
                    confirmed.lock().await.push((id, Instant::now()));
                }
                i += 4;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let backups = TempDir::new();
    let started = Instant::now();
    let done = shenfen_server::backup::backup(&app.state.config.database_url(), &app.state.config.data_dir, &backups.0, app.state.now_ms()).await.unwrap();
    let finished = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let confirmed = confirmed.lock().await.clone();
    let before: HashSet<&str> = confirmed.iter().filter(|(_, at)| *at < started).map(|(id, _)| id.as_str()).collect();
    let after = confirmed.iter().filter(|(_, at)| *at > finished).count();
    assert!(before.len() > 10 && after > 0, "the backup ran while bookings were being made ({} before, {after} after)", before.len());
    let manifest = done.manifest.unwrap();
    assert_eq!(manifest.backend, "sqlite");
    assert_eq!(manifest.schema_version, shenfen_store::backup::latest_migration(shenfen_store::Backend::Sqlite));
    assert!(manifest.files.iter().any(|f| f.name == "shenfen.db" && f.sha256.len() == 64));
    assert_eq!(files_in(&backups.0), [done.path.file_name().unwrap().to_string_lossy().into_owned()], "only the backup, no temporary files");

    // Restore into a fresh instance's data directory.
    let fresh = TempDir::new();
    let target = fresh.0.join("shenfen.db");
    let restored = shenfen_server::backup::restore(&done.path, &format!("sqlite://{}", target.display()), false, Some(&fresh.0), 0).await.unwrap();
    assert!(restored.previous.is_none());
    let store = shenfen_store::connect(&format!("sqlite://{}", target.display())).await.unwrap();
    store.migrate().await.unwrap();
    let mut stored = HashSet::new();
    let mut by_slot = std::collections::HashMap::<String, i64>::new();
    for p in store.list_points().await.unwrap() {
        for s in store.slots(&p.id, "2000-01-01", "2100-01-01").await.unwrap() {
            by_slot.insert(s.id.clone(), s.booked);
        }
    }
    let mut per_slot = std::collections::HashMap::<String, i64>::new();
    for p in store.list_points().await.unwrap() {
        for day in store.slots(&p.id, "2000-01-01", "2100-01-01").await.unwrap().iter().map(|s| s.day.clone()).collect::<HashSet<_>>() {
            for a in store.appointments_on(&p.id, &day).await.unwrap() {
                *per_slot.entry(a.slot_id.clone()).or_default() += 1;
                stored.insert(a.id);
            }
        }
    }
    for id in &before {
        assert!(stored.contains(*id), "booking {id} confirmed before the backup is in it");
    }
    let all: HashSet<&str> = confirmed.iter().map(|(id, _)| id.as_str()).collect();
    assert!(stored.iter().all(|id| all.contains(id.as_str())), "nothing in the backup that was never confirmed");
    for (slot, n) in &per_slot {
        assert_eq!(by_slot.get(slot), Some(n), "slot {slot}: seat count matches its appointments (one consistent snapshot)");
    }
    let verified = shenfen_store::audit::verify_store(store.as_ref()).await.unwrap().expect("the restored audit chain verifies");
    assert_eq!(verified.head_seq, manifest.audit_head_seq);
    let books = store.audit_entries(0, 100_000).await.unwrap().iter().filter(|e| e.record.action == "appointment.book").count();
    // A booking and its audit entry are two commits, so the snapshot may hold a booking whose entry was written a
    // moment later — at most one per writer — but never an entry without its booking.
    assert!(books <= stored.len() && stored.len() - books <= 4, "{books} audited bookings for {} stored", stored.len());

    // The restored database serves: a citizen who booked before the backup sees the booking.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config { data_dir: fresh.0.clone(), demo: true, public_url: format!("http://{addr}"), ..Config::default() };
    let state = shenfen_server::assemble(config, store, app.state.keys.clone(), Clock::default());
    let router = shenfen_server::app::router(state);
    tokio::spawn(async move { axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap() });
    let (first_id, _) = confirmed.iter().find(|(id, _)| before.contains(id.as_str())).unwrap();
    let c = http();
    assert_eq!(c.get(format!("http://{addr}/readyz")).send().await.unwrap().status(), 200);
    let mut found = false;
    for t in &tokens {
        let list: Vec<Value> = c.get(format!("http://{addr}/api/v1/appointments")).bearer_auth(t).send().await.unwrap().json().await.unwrap_or_default();
        if list.iter().any(|a| a["id"] == first_id.as_str()) {
            found = true;
            break;
        }
    }
    assert!(found, "the restored instance serves the booking to its citizen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_and_foreign_files_are_refused_without_touching_anything() {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    let http = http();
    app.citizen_token(&http, "13800000201").await;
    let dir = TempDir::new();
    let good = shenfen_server::backup::backup(&app.state.config.database_url(), &app.state.config.data_dir, &dir.0.join("good.sfbak"), 0).await.unwrap().path;
    let bytes = std::fs::read(&good).unwrap();
    let write = |name: &str, b: &[u8]| {
        let p = dir.0.join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    let truncated = write("truncated.sfbak", &bytes[..bytes.len() / 2]);
    let mut flipped = bytes.clone();
    let at = bytes.len() - 4096;
    flipped[at] ^= 0x55;
    let corrupted = write("corrupted.sfbak", &flipped);
    let foreign = write("foreign.bin", b"Hello, this is not a backup at all. \x00\x01\x02");
    let mut big_foreign = vec![0u8; 4096];
    big_foreign[..4].copy_from_slice(b"\x89PNG");
    let png = write("photo.png", &big_foreign);
    let bare_sqlite = write("bare.db", &std::fs::read(app.state.config.data_dir.join("shenfen.db")).unwrap());
    let pgdump = write("x.pgdump", b"PGDMP\x01\x0e\x00\x04\x08\x01rest");
    let empty = write("empty.sfbak", b"");

    let out = TempDir::new();
    let target = out.0.join("shenfen.db");
    let url = format!("sqlite://{}", target.display());
    for (file, expect) in [
        (&truncated, "truncated"),
        (&corrupted, "corrupted"),
        (&foreign, "not a Shenfen backup"),
        (&png, "not a Shenfen backup"),
        (&bare_sqlite, "bare SQLite database"),
        (&pgdump, "PostgreSQL dump"),
        (&empty, "empty or truncated"),
    ] {
        let e = shenfen_server::backup::restore(file, &url, false, Some(&out.0), 0).await.err().unwrap_or_else(|| panic!("{} was accepted", file.display()));
        assert!(format!("{e:#}").contains(expect), "{}: {e:#}", file.display());
        assert!(files_in(&out.0).is_empty(), "{}: nothing left behind: {:?}", file.display(), files_in(&out.0));
        assert!(shenfen_server::backup::check(file, &out.0).await.is_err());
    }
    // A manifest that claims a newer backup format.
    let mut ar = tar::Builder::new(Vec::new());
    let manifest = br#"{"format":"shenfen-backup","format_version":99,"backend":"sqlite","schema_version":1,"shenfen_version":"9","created_at":"","created_at_ms":0,"audit_head_seq":0,"files":[]}"#;
    let mut h = tar::Header::new_ustar();
    h.set_size(manifest.len() as u64);
    h.set_cksum();
    ar.append_data(&mut h, "manifest.json", &manifest[..]).unwrap();
    let newer = write("newer.sfbak", &ar.into_inner().unwrap());
    let e = shenfen_server::backup::restore(&newer, &url, false, Some(&out.0), 0).await.unwrap_err();
    assert!(format!("{e:#}").contains("newer Shenfen"), "{e:#}");

    // The good one restores; a second restore over it needs --replace and keeps the old file.
    shenfen_server::backup::restore(&good, &url, false, Some(&out.0), 0).await.unwrap();
    let e = shenfen_server::backup::restore(&good, &url, false, Some(&out.0), 0).await.unwrap_err();
    assert!(format!("{e:#}").contains("--replace"));
    let e = shenfen_server::backup::restore(&truncated, &url, true, Some(&out.0), 0).await.unwrap_err();
    assert!(format!("{e:#}").contains("truncated"));
    assert!(!files_in(&out.0).iter().any(|f| f.contains("pre-restore") || f.ends_with(".tmp")), "a refused replace touches nothing");
    let r = shenfen_server::backup::restore(&good, &url, true, Some(&out.0), 1_000).await.unwrap();
    assert!(r.previous.unwrap().exists());
    assert!(shenfen_store::backup::sqlite_inspect(&target).await.is_ok());
}

/// A write that fails half-way (here: the file-size limit standing in for a full disk) leaves no partial backup.
#[test]
fn a_backup_that_cannot_be_written_leaves_nothing() {
    let data = TempDir::new();
    let status = shenfen().env("SHENFEN_DATA_DIR", &data.0).arg("migrate").status().unwrap();
    assert!(status.success());
    let out = TempDir::new();
    // prlimit caps the size of files the command may write, so the snapshot fails part-way.
    let Ok(o) = Command::new("prlimit").arg("--fsize=65536").arg(env!("CARGO_BIN_EXE_shenfen")).args(["backup", "--to"]).arg(&out.0).env("SHENFEN_DATA_DIR", &data.0).env("SHENFEN_LOG", "warn").output() else {
        eprintln!("SKIPPED: prlimit (util-linux) is not installed");
        return;
    };
    assert!(!o.status.success(), "a backup larger than the limit must fail");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("shenfen:") && !err.contains("panicked"), "a clear error: {err}");
    assert!(files_in(&out.0).is_empty(), "no partial backup: {:?}", files_in(&out.0));
}

/// A real full disk: the backup goes to a tmpfs far smaller than the database. Mounting needs root (CI runs as
/// root); elsewhere the test skips visibly.
#[test]
fn a_backup_onto_a_full_disk_fails_clearly_and_leaves_nothing() {
    struct Mount(PathBuf);
    impl Drop for Mount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let data = TempDir::new();
    assert!(shenfen().env("SHENFEN_DATA_DIR", &data.0).arg("seed-demo").status().unwrap().success());
    let db_bytes = std::fs::metadata(data.0.join("shenfen.db")).unwrap().len();
    let disk = TempDir::new();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"]).arg(&disk.0).output().map(|o| o.status.success()).unwrap_or(false);
    if !mounted {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI runs as root and must be able to mount a small tmpfs for this test");
        eprintln!("SKIPPED: cannot mount a tmpfs (not root)");
        return;
    }
    let _mount = Mount(disk.0.clone());
    assert!(db_bytes > 64 * 1024, "the database ({db_bytes} bytes) must not fit on the 64 KiB disk");
    let o = shenfen().env("SHENFEN_DATA_DIR", &data.0).env("SHENFEN_LOG", "warn").args(["backup", "--to"]).arg(&disk.0).output().unwrap();
    assert!(!o.status.success(), "a backup onto a full disk must fail");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("the disk is full") && !err.contains("panicked"), "a clear error naming the cause: {err}");
    assert!(files_in(&disk.0).is_empty(), "no partial backup: {:?}", files_in(&disk.0));
    // The database itself is untouched: a backup elsewhere works.
    let elsewhere = TempDir::new();
    let o = shenfen().env("SHENFEN_DATA_DIR", &data.0).env("SHENFEN_LOG", "warn").args(["backup", "--to"]).arg(&elsewhere.0).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn backup_and_restore_commands() {
    let data = TempDir::new();
    assert!(shenfen().env("SHENFEN_DATA_DIR", &data.0).arg("seed-demo").status().unwrap().success());
    let add = shenfen().env("SHENFEN_DATA_DIR", &data.0).args(["staff", "add", "cli.reviewer", "--name", "命令行审核员", "--role", "reviewer", "--scope", "district:340104"]).output().unwrap();
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let out = String::from_utf8_lossy(&add.stdout).to_string();
    let temp = out.lines().find_map(|l| l.strip_prefix("temporary password: ")).unwrap().to_string();
    assert_eq!(temp.len(), 16);
    let dup = shenfen().env("SHENFEN_DATA_DIR", &data.0).args(["staff", "add", "cli.reviewer", "--name", "x", "--role", "reviewer", "--scope", "district:340104"]).output().unwrap();
    assert!(!dup.status.success() && String::from_utf8_lossy(&dup.stderr).contains("username_taken"));
    let bad = shenfen().env("SHENFEN_DATA_DIR", &data.0).args(["staff", "add", "x.y", "--name", "x", "--role", "chief", "--scope", "district:340104"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("Unknown role"));
    assert!(shenfen().env("SHENFEN_DATA_DIR", &data.0).args(["staff", "disable", "cli.reviewer"]).status().unwrap().success());
    let reset = shenfen().env("SHENFEN_DATA_DIR", &data.0).args(["staff", "reset", "cli.reviewer", "--clear-totp"]).output().unwrap();
    assert!(String::from_utf8_lossy(&reset.stdout).contains("temporary password: "));
    assert!(!shenfen().env("SHENFEN_DATA_DIR", &data.0).args(["staff", "disable", "nobody"]).status().unwrap().success());
    let list = shenfen().env("SHENFEN_DATA_DIR", &data.0).args(["staff", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout).to_string();
    let row = list.lines().find(|l| l.starts_with("cli.reviewer")).unwrap();
    assert!(row.contains("disabled") && row.contains("yes"), "{row}");

    let backups = TempDir::new();
    let b = shenfen().env("SHENFEN_DATA_DIR", &data.0).args(["backup", "--to"]).arg(&backups.0).output().unwrap();
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let file: PathBuf = backups.0.join(&files_in(&backups.0)[0]);
    assert!(file.extension().unwrap() == "sfbak");
    let check = shenfen().args(["backup", "check"]).arg(&file).output().unwrap();
    assert!(check.status.success() && String::from_utf8_lossy(&check.stdout).starts_with("OK: Shenfen sqlite backup"), "{}", String::from_utf8_lossy(&check.stderr));
    let half = backups.0.join("half.sfbak");
    std::fs::write(&half, &std::fs::read(&file).unwrap()[..4096]).unwrap();
    let check = shenfen().args(["backup", "check"]).arg(&half).output().unwrap();
    assert_eq!(check.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&check.stderr).contains("BACKUP NOT USABLE"));

    // Restore into a new data directory: the demo secrets come back too, and the audit log verifies there.
    let fresh = TempDir::new();
    let r = shenfen().env("SHENFEN_DATA_DIR", &fresh.0).args(["restore", "--from"]).arg(&file).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(fresh.0.join("demo-secrets.toml").exists());
    assert_eq!(std::fs::read(fresh.0.join("demo-secrets.toml")).unwrap(), std::fs::read(data.0.join("demo-secrets.toml")).unwrap());
    let v = shenfen().env("SHENFEN_DATA_DIR", &fresh.0).args(["audit", "verify"]).output().unwrap();
    assert!(v.status.success() && String::from_utf8_lossy(&v.stdout).contains("audit log intact"));
    let again = shenfen().env("SHENFEN_DATA_DIR", &fresh.0).args(["restore", "--from"]).arg(&file).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("RESTORE REFUSED (nothing was changed)"));
    let list = shenfen().env("SHENFEN_DATA_DIR", &fresh.0).args(["staff", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("cli.reviewer"));
    // The operator's actions are in the audit log as `system` `cli:…`.
    let csv = shenfen().env("SHENFEN_DATA_DIR", &fresh.0).args(["audit", "verify"]).output().unwrap();
    assert!(csv.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dump_is_checked_and_restored_in_one_transaction() {
    let Some(base) = shenfen_store::test_support::postgres_url() else { return };
    if Command::new("pg_dump").arg("--version").output().is_err() {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "pg_dump must be installed in CI");
        eprintln!("SKIPPED: pg_dump is not installed");
        return;
    }
    let schema = format!("bk_{}", uuid::Uuid::now_v7().simple());
    shenfen_store::create_schema(&base, &schema).await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
    let data = TempDir::new();
    assert!(shenfen().env("SHENFEN_DATA_DIR", &data.0).env("SHENFEN_DATABASE_URL", &url).arg("seed-demo").status().unwrap().success());
    assert!(shenfen().env("SHENFEN_DATA_DIR", &data.0).env("SHENFEN_DATABASE_URL", &url).args(["staff", "add", "pg.counter", "--name", "x", "--role", "counter", "--scope", "district:340104"]).status().unwrap().success());

    let dir = TempDir::new();
    let dump = dir.0.join("db.pgdump");
    let b = shenfen().env("SHENFEN_DATA_DIR", &data.0).env("SHENFEN_DATABASE_URL", &url).args(["backup", "--to"]).arg(&dump).output().unwrap();
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let check = shenfen().args(["backup", "check"]).arg(&dump).output().unwrap();
    assert!(String::from_utf8_lossy(&check.stdout).starts_with("OK: pg_dump custom-format archive"), "{}", String::from_utf8_lossy(&check.stderr));
    let bytes = std::fs::read(&dump).unwrap();
    let cut = dir.0.join("cut.pgdump");
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 4]).unwrap();
    let check = shenfen().args(["backup", "check"]).arg(&cut).output().unwrap();
    assert_eq!(check.status.code(), Some(1), "a truncated dump fails the check");

    // Restore into a new, empty database; a second restore into it fails as a whole and changes nothing.
    let db = format!("restore_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {db}")).execute(&admin).await.unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    let target = format!("{prefix}/{db}");
    let r = shenfen().args(["restore", "--from"]).arg(&dump).arg("--to").arg(&target).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let restored = shenfen_store::connect(&format!("{target}?options=-csearch_path%3D{schema}")).await.unwrap();
    assert!(restored.staff_by_username("pg.counter").await.unwrap().is_some());
    assert!(shenfen_store::audit::verify_store(restored.as_ref()).await.unwrap().is_ok());
    let again = shenfen().args(["restore", "--from"]).arg(&dump).arg("--to").arg(&target).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(restored.list_staff().await.unwrap().iter().filter(|s| s.username == "pg.counter").count(), 1);
    let cut_restore = shenfen().args(["restore", "--from"]).arg(&cut).arg("--to").arg(&target).output().unwrap();
    assert_eq!(cut_restore.status.code(), Some(1));
    drop(restored);
    sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)")).execute(&admin).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin).await.unwrap();
}
