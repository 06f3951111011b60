//! PostgreSQL dying under load, and the service recovering by itself.
//!
//! A private PostgreSQL cluster (initdb and pg_ctl from Debian's packages, on its own port and socket directory,
//! so the shared server the other tests use is untouched) and one `shenfen serve` on it. Citizens create payment
//! orders in a loop, each with its own Idempotency-Key. In the middle, the database is killed without a
//! checkpoint (`pg_ctl stop -m immediate`, as in a crash) and started again seconds later, recovering from its
//! write-ahead log. Checked:
//!
//! * while it is down, requests fail with 503 `database_unavailable` and readiness says 503 — never a 500, a
//!   hang or a dead process;
//! * afterwards the same instance serves again without being restarted;
//! * nothing is lost or doubled: every order the service confirmed is in the database, and repeating each
//!   refused request with its key gives exactly one order per key.
//!
//! Needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin). Outside CI a missing one skips visibly; under
//! CI=true it fails.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shenfen_server::bench::harness::{Server, wait_ready};
use shenfen_store::test_support::TempDir;
use tokio::sync::Mutex;

const CITIZENS: usize = 6;

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A throw-away PostgreSQL cluster. As root, its files belong to and its server runs as `postgres` (PostgreSQL
/// refuses to run as root).
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    run_as: Option<String>,
}

impl Cluster {
    fn find_bin() -> Option<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql").ok()?.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|b| b.join("pg_ctl").is_file()).collect();
        dirs.sort();
        dirs.pop()
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        let mut c = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(exe);
                c
            }
            None => Command::new(exe),
        };
        // A directory the cluster's user may enter (the test's own may be under /root).
        c.current_dir(self.data.parent().unwrap_or(&self.data));
        c
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let out = self.command(tool).args(args).output().unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
        assert!(out.status.success(), "{tool} {args:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        out
    }

    fn create(dir: &Path) -> Option<Cluster> {
        let bin = Self::find_bin()?;
        let data = dir.join("pgdata");
        std::fs::create_dir_all(&data).unwrap();
        let root = is_root();
        let run_as = root.then(|| "postgres".to_string());
        if root {
            let ids = |flag: &str| -> u32 { String::from_utf8(Command::new("id").arg(flag).arg("postgres").output().unwrap().stdout).unwrap().trim().parse().unwrap() };
            let (uid, gid) = (ids("-u"), ids("-g"));
            for p in [dir, data.as_path()] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
            }
        }
        let cluster = Cluster { bin, data, port: free_port(), run_as };
        let d = cluster.data.to_str().unwrap().to_string();
        cluster.run("initdb", &["-D", &d, "--auth=trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"]);
        cluster.start();
        Some(cluster)
    }

    fn start(&self) {
        let d = self.data.to_str().unwrap();
        let opts = format!("-p {} -k {d} -c listen_addresses=127.0.0.1 -c max_connections=80 -c shared_buffers=32MB", self.port);
        self.run("pg_ctl", &["-D", d, "-o", &opts, "-l", &format!("{d}/server.log"), "-w", "-t", "60", "start"]);
    }

    /// Killed as in a crash: no checkpoint, open connections cut; the next start replays the WAL.
    fn crash(&self) {
        self.run("pg_ctl", &["-D", self.data.to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"]).output();
    }
}

fn is_root() -> bool {
    String::from_utf8(Command::new("id").arg("-u").output().map(|o| o.stdout).unwrap_or_default()).map(|s| s.trim() == "0").unwrap_or(false)
}

/// What one order request came to.
#[derive(Debug, Clone)]
struct Attempt {
    key: String,
    reference: String,
    token: String,
    status: u16,
    body: Value,
}

async fn create_order(http: &reqwest::Client, base: &str, token: &str, key: &str, reference: &str) -> (u16, Value) {
    let r = http.post(format!("{base}/api/v1/payments")).bearer_auth(token).header("Idempotency-Key", key).json(&json!({ "reference": reference, "item": "renewal" })).send().await;
    match r {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        // The client's own timeout or a cut connection: recorded as 0, repeated like a 503.
        Err(e) => (0, json!({ "transport_error": e.to_string() })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_service_rides_out_a_postgresql_crash() {
    let dir = TempDir::new();
    let Some(cluster) = Cluster::create(&dir.0) else {
        assert!(!ci(), "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/pg_ctl) are required when CI=true");
        eprintln!("SKIPPED: PostgreSQL server binaries not found");
        return;
    };
    let idir = dir.0.join("instance");
    std::fs::create_dir_all(&idir).unwrap();
    let env = vec![
        format!("SHENFEN_SECRETS__COOKIE_KEY={}", shenfen_server::crypto::random_hex_key()),
        format!("SHENFEN_SECRETS__FIELD_KEY={}", shenfen_server::crypto::random_hex_key()),
        format!("SHENFEN_SECRETS__BLIND_INDEX_KEY={}", shenfen_server::crypto::random_hex_key()),
        format!("SHENFEN_DATABASE_URL={}", cluster.url()),
        "SHENFEN_LIMITS__SMS_PER_IP_PER_DAY=1000".into(),
        "SHENFEN_LOG=warn".into(),
    ];
    let mut server = Server::start_exe(Path::new(env!("CARGO_BIN_EXE_shenfen")), &idir, &env).unwrap();
    wait_ready(&server, &idir.join("server.log")).await.unwrap();
    let base = format!("http://{}", server.addr);
    let store = shenfen_store::connect(&cluster.url()).await.unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

    // Citizens sign in by SMS code.
    let mut tokens = Vec::new();
    for i in 0..CITIZENS {
        let phone = format!("1360000{i:04}");
        let r = http.post(format!("{base}/api/v1/auth/sms-codes")).json(&json!({ "phone": phone })).send().await.unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        let code: String = store.outbox(Some(&phone), 1).await.unwrap()[0].body.chars().filter(|c| c.is_ascii_digit()).take(6).collect();
        let r = http.post(format!("{base}/api/v1/auth/sessions")).json(&json!({ "phone": phone, "code": code })).send().await.unwrap();
        assert_eq!(r.status(), 201);
        tokens.push(r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string());
    }

    // Load: each citizen creates orders back to back, each under a new key.
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(Mutex::new(Vec::<Attempt>::new()));
    let mut tasks = Vec::new();
    for (i, token) in tokens.iter().cloned().enumerate() {
        let (http, base, stop, attempts) = (http.clone(), base.clone(), stop.clone(), attempts.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("pg-restart-{i}-{n}");
                let reference = format!("application:PGR{i}N{n}");
                let (status, body) = create_order(&http, &base, &token, &key, &reference).await;
                attempts.lock().await.push(Attempt { key, reference, token: token.clone(), status, body });
                n += 1;
                if status != 201 {
                    // What a client does on an error: wait a little before the next request.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The crash, and readiness while the database is gone.
    let before_crash = attempts.lock().await.len();
    cluster.crash();
    let down_at = Instant::now();
    let mut ready_while_down = Vec::new();
    while down_at.elapsed() < Duration::from_secs(4) {
        let r = http.get(format!("{base}/readyz")).timeout(Duration::from_secs(5)).send().await;
        ready_while_down.push(r.map(|r| r.status().as_u16()).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(ready_while_down.contains(&503), "readiness reports the database outage (within its own short timeout): {ready_while_down:?}");
    assert!(!ready_while_down.contains(&0), "readiness answers promptly while the database is down: {ready_while_down:?}");
    cluster.start();

    // The same process, not restarted, becomes ready again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(!server.exited(), "the instance must survive the database crash; see {}", idir.join("server.log").display());
        let ok = http.get(format!("{base}/readyz")).send().await.map(|r| r.status() == 200).unwrap_or(false);
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "the instance did not become ready again within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Load goes on for a while against the recovered database, then stops.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let attempts = attempts.lock().await.clone();
    assert!(attempts.len() > before_crash, "requests were made during and after the outage");

    // Every answer was a success or a clear 503 (or, for a request cut mid-way, no answer): never a 500.
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for a in &attempts {
        *by_status.entry(a.status).or_default() += 1;
        match a.status {
            200 | 201 | 0 => {}
            503 => assert_eq!(a.body["error"]["code"], "database_unavailable", "{}", a.body),
            other => panic!("unexpected {other} for {}: {}", a.key, a.body),
        }
    }
    eprintln!("order requests by status: {by_status:?}; readiness while down: {ready_while_down:?}");
    let after_recovery: Vec<&Attempt> = attempts.iter().rev().take(CITIZENS).collect();
    assert!(after_recovery.iter().all(|a| a.status == 201), "the last requests succeed: {:?}", after_recovery.iter().map(|a| a.status).collect::<Vec<_>>());

    // Whatever was confirmed is there; a refused request repeated with its key gives one order, never two.
    for a in &attempts {
        let order_no = if matches!(a.status, 200 | 201) {
            a.body["order_no"].as_str().unwrap().to_string()
        } else {
            let (status, body) = create_order(&http, &base, &a.token, &a.key, &a.reference).await;
            assert!(matches!(status, 200 | 201), "repeat of {}: {status} {body}", a.key);
            body["order_no"].as_str().unwrap().to_string()
        };
        let stored = store.order_by_no(&order_no).await.unwrap().unwrap_or_else(|| panic!("confirmed order {order_no} ({}) lost", a.key));
        assert_eq!(stored.reference, a.reference, "{}", a.key);
        let orders = store.orders_for(&a.reference).await.unwrap();
        assert_eq!(orders.len(), 1, "one order per key ({}): {orders:?}", a.key);
    }
    assert!(!server.exited());
    server.child.kill().ok();
    let _ = server.child.wait();
}
