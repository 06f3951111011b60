//! Starts `shenfen serve` as a child process (this same binary) on a fresh SQLite data directory and a free
//! loopback port, signs a citizen in through the API, then runs `wrk --latency` against `/healthz` and
//! `/api/v1/me` (with the bearer token) at each connection count, sampling the server's RSS from `/proc`.
//! Target (issue 2): profile read ≥ 20,000 req/s and p99 ≤ 20 ms at 512 connections; idle RSS ≤ 60 MB.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;

use super::harness::{Server, mb, ms, proc_status, request};

const PHONE: &str = "13800138000";
const TARGET_RPS: f64 = 20_000.0;
const TARGET_P99_MS: f64 = 20.0;
const TARGET_IDLE_RSS_KB: u64 = 60 * 1024;

#[derive(Parser, Debug)]
#[command(name = "shenfen bench http-baseline", about = "HTTP baseline: /healthz and the authenticated profile read under wrk")]
struct Args {
    /// Seconds per measured run.
    #[arg(long, default_value_t = 10)]
    duration: u32,
    /// Seconds of unmeasured load before each measured run (0 to skip).
    #[arg(long, default_value_t = 2)]
    warmup: u32,
    /// Connection counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64,512")]
    connections: Vec<u32>,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Only these targets (comma-separated): healthz, me.
    #[arg(long, value_delimiter = ',', default_value = "healthz,me")]
    targets: Vec<String>,
    /// The wrk binary.
    #[arg(long, default_value = "wrk")]
    wrk: String,
    /// Benchmark an already-running server at this base URL instead of starting one (RSS is then not sampled
    /// unless --pid is given). The profile read needs --token.
    #[arg(long)]
    url: Option<String>,
    #[arg(long)]
    token: Option<String>,
    #[arg(long)]
    pid: Option<u32>,
    /// Extra environment for the child server, KEY=VALUE (repeatable), e.g. SHENFEN_LOG=warn.
    #[arg(long = "env")]
    env: Vec<String>,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep the temporary data directory (server log, database) for inspection.
    #[arg(long)]
    keep: bool,
}

pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let args = Args::try_parse_from(std::iter::once("http-baseline".to_string()).chain(args.iter().cloned())).map_err(|e| anyhow::anyhow!("{e}"))?;
    check_wrk(&args.wrk)?;
    let dir = std::env::temp_dir().join(format!("shenfen-bench-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = bench(&args, &dir).await;
    if args.keep || result.is_err() {
        eprintln!("data directory and server log kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn bench(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let (base, addr, server) = match &args.url {
        Some(url) => {
            let hostport = url.trim_start_matches("http://").trim_end_matches('/');
            let addr = tokio::net::lookup_host(hostport).await?.next().context("cannot resolve --url")?;
            (url.trim_end_matches('/').to_string(), addr, None)
        }
        None => {
            let server = Server::start(dir, &args.env)?;
            (format!("http://{}", server.addr), server.addr, Some(server))
        }
    };
    let pid = server.as_ref().map(|s| s.child.id()).or(args.pid);

    // Ready?
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = &server {
            if s.exited() {
                bail!("the server exited during start-up; see {}", dir.join("server.log").display());
            }
        }
        if matches!(request(addr, "GET", "/readyz", None, None).await, Ok((200, _))) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the server did not become ready within 60 s; see {}", dir.join("server.log").display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let wants_me = args.targets.iter().any(|t| t == "me");
    let token = match (&args.token, wants_me, &server) {
        (Some(t), _, _) => Some(t.clone()),
        (None, true, Some(_)) => Some(citizen_token(addr, dir).await?),
        (None, true, None) => bail!("--url without --token cannot measure the profile read; pass --token or --targets healthz"),
        (None, false, _) => None,
    };
    if let Some(t) = &token {
        let (status, body) = request(addr, "GET", "/api/v1/me", None, Some(t)).await?;
        if status != 200 {
            bail!("GET /api/v1/me with the token answered {status}: {body}");
        }
    }
    let lua = match &token {
        Some(t) => {
            let path = dir.join("auth.lua");
            std::fs::write(&path, format!("wrk.headers[\"Authorization\"] = \"Bearer {t}\"\n"))?;
            Some(path)
        }
        None => None,
    };

    // Idle: after start-up and one sign-in, before any load.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = pid.and_then(proc_status);
    if let Some(m) = idle {
        println!("server pid {}: idle RSS {} (high-water mark so far {})", pid.unwrap_or(0), mb(m.rss_kb), mb(m.hwm_kb));
    }
    println!("wrk: {} threads, {} s per run (after {} s warm-up), connections {:?}, base {base}", args.threads, args.duration, args.warmup, args.connections);

    let mut runs = Vec::new();
    for target in &args.targets {
        let (label, path, script) = match target.as_str() {
            "healthz" => ("/healthz", "/healthz", None),
            "me" => ("/api/v1/me (bearer)", "/api/v1/me", lua.as_deref()),
            other => bail!("unknown target {other:?}; known: healthz, me"),
        };
        for &conns in &args.connections {
            if let Some(s) = &server {
                if s.exited() {
                    bail!("the server died; see {}", dir.join("server.log").display());
                }
            }
            let url = format!("{base}{path}");
            if args.warmup > 0 {
                wrk(&args.wrk, args.threads, conns, args.warmup, script, &url)?;
            }
            let sampler = RssSampler::start(pid);
            let out = wrk(&args.wrk, args.threads, conns, args.duration, script, &url)?;
            let peak_kb = sampler.stop();
            let mut r = parse_wrk(&out).with_context(|| format!("cannot read wrk's output:\n{out}"))?;
            r.target = label.to_string();
            r.connections = conns;
            r.peak_rss_kb = peak_kb;
            println!(
                "  {:<22} c={:<4} {:>10.0} req/s  p50 {:>8}  p99 {:>8}  non-2xx {}  socket errors {}  peak RSS {}",
                r.target,
                conns,
                r.rps,
                ms(r.p50_ms),
                ms(r.p99_ms),
                r.non_2xx,
                r.socket_errors,
                peak_kb.map(mb).unwrap_or_else(|| "-".into())
            );
            runs.push(r);
        }
    }
    let end = pid.and_then(proc_status);

    println!();
    println!("http-baseline — {} CPU(s), SQLite, {} s per run, wrk -t{}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), args.duration, args.threads);
    println!("| target                 | conns |      req/s |       p50 |       p99 |       max | non-2xx | sock err | peak RSS |");
    println!("|------------------------|------:|-----------:|----------:|----------:|----------:|--------:|---------:|---------:|");
    for r in &runs {
        println!(
            "| {:<22} | {:>5} | {:>10.0} | {:>9} | {:>9} | {:>9} | {:>7} | {:>8} | {:>8} |",
            r.target,
            r.connections,
            r.rps,
            ms(r.p50_ms),
            ms(r.p99_ms),
            ms(r.max_ms),
            r.non_2xx,
            r.socket_errors,
            r.peak_rss_kb.map(mb).unwrap_or_else(|| "-".into())
        );
    }
    if let (Some(i), Some(e)) = (idle, end) {
        println!("server RSS: idle {} · peak over the whole run (VmHWM) {} · after the run {}", mb(i.rss_kb), mb(e.hwm_kb), mb(e.rss_kb));
    }

    // Against the target.
    println!();
    let me512 = runs.iter().find(|r| r.target.starts_with("/api/v1/me") && r.connections == 512);
    let mut verdicts = Vec::new();
    if let Some(r) = me512 {
        verdicts.push(("profile read ≥ 20,000 req/s at 512 connections".to_string(), format!("{:.0} req/s", r.rps), r.rps >= TARGET_RPS && r.non_2xx == 0));
        verdicts.push(("profile read p99 ≤ 20 ms at 512 connections".to_string(), ms(r.p99_ms), r.p99_ms <= TARGET_P99_MS));
    }
    if let Some(i) = idle {
        verdicts.push(("idle RSS ≤ 60 MB".to_string(), mb(i.rss_kb), i.rss_kb <= TARGET_IDLE_RSS_KB));
    }
    for (what, got, ok) in &verdicts {
        println!("  [{}] {what}: {got}", if *ok { "MET " } else { "MISS" });
    }
    if runs.iter().any(|r| r.non_2xx > 0) {
        println!("  note: some responses were not 2xx (see the non-2xx column)");
    }

    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "scenario": "http-baseline",
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "duration_secs": args.duration,
            "wrk_threads": args.threads,
            "idle_rss_kb": idle.map(|m| m.rss_kb),
            "peak_rss_kb": end.map(|m| m.hwm_kb),
            "runs": runs.iter().map(|r| serde_json::json!({
                "target": r.target, "connections": r.connections, "requests_per_sec": r.rps,
                "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "max_ms": r.max_ms, "requests": r.requests,
                "non_2xx": r.non_2xx, "socket_errors": r.socket_errors, "peak_rss_kb": r.peak_rss_kb,
            })).collect::<Vec<_>>(),
            "targets": verdicts.iter().map(|(w, g, ok)| serde_json::json!({ "target": w, "measured": g, "met": ok })).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }

    if let Some(s) = server {
        s.stop();
    }
    Ok(())
}

fn check_wrk(wrk: &str) -> anyhow::Result<()> {
    match Command::new(wrk).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(_) => Ok(()),
        Err(e) => bail!("cannot run {wrk:?} ({e}); install wrk (`apt-get install wrk`) or use bench/http-baseline.sh, which does"),
    }
}

/// Signs a citizen in through the API; the code is read from the sandbox outbox in the server's database.
async fn citizen_token(addr: SocketAddr, dir: &Path) -> anyhow::Result<String> {
    let (status, body) = request(addr, "POST", "/api/v1/auth/sms-codes", Some(&serde_json::json!({ "phone": PHONE }).to_string()), None).await?;
    if status != 202 {
        bail!("POST /api/v1/auth/sms-codes answered {status}: {body}");
    }
    let store = shenfen_store::connect(&format!("sqlite://{}", dir.join("shenfen.db").display())).await?;
    let msgs = store.outbox(Some(PHONE), 1).await?;
    let sms = msgs.first().context("the sandbox outbox holds no code")?;
    let code: String = sms.body.chars().filter(|c| c.is_ascii_digit()).take(6).collect();
    drop(store);
    let (status, body) =
        request(addr, "POST", "/api/v1/auth/sessions", Some(&serde_json::json!({ "phone": PHONE, "code": code }).to_string()), None).await?;
    if status != 201 {
        bail!("POST /api/v1/auth/sessions answered {status}: {body}");
    }
    let v: serde_json::Value = serde_json::from_str(&body)?;
    v["token"].as_str().map(str::to_string).context("no token in the session response")
}

fn wrk(wrk: &str, threads: u32, conns: u32, secs: u32, script: Option<&Path>, url: &str) -> anyhow::Result<String> {
    let mut cmd = Command::new(wrk);
    cmd.arg(format!("-t{threads}")).arg(format!("-c{conns}")).arg(format!("-d{secs}s")).arg("--timeout").arg("10s").arg("--latency");
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    cmd.arg(url);
    let out = cmd.output().with_context(|| format!("cannot run {wrk}"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!("wrk failed ({}): {}{}", out.status, text, String::from_utf8_lossy(&out.stderr));
    }
    Ok(text)
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct WrkResult {
    pub target: String,
    pub connections: u32,
    pub rps: f64,
    pub requests: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub non_2xx: u64,
    pub socket_errors: u64,
    pub peak_rss_kb: Option<u64>,
}

/// Reads wrk's `--latency` report.
pub fn parse_wrk(out: &str) -> anyhow::Result<WrkResult> {
    let mut r = WrkResult::default();
    let (mut p50, mut p99, mut rps) = (None, None, None);
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => p50 = duration_ms(v),
            ["99%", v] => p99 = duration_ms(v),
            ["Latency", _avg, _stdev, max, ..] => r.max_ms = duration_ms(max).unwrap_or(0.0),
            ["Requests/sec:", v] => rps = v.parse().ok(),
            [n, "requests", "in", ..] => r.requests = n.parse().unwrap_or(0),
            ["Non-2xx", "or", "3xx", "responses:", n] => r.non_2xx = n.parse().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 12, write 0, timeout 3"
                r.socket_errors = rest.iter().filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok()).sum();
            }
            _ => {}
        }
    }
    r.p50_ms = p50.context("no 50% latency line")?;
    r.p99_ms = p99.context("no 99% latency line")?;
    r.rps = rps.context("no Requests/sec line")?;
    Ok(r)
}

/// wrk's durations: `812.00us`, `1.23ms`, `2.00s`, `1.00m`.
fn duration_ms(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        _ => return None,
    })
}

/// Samples VmRSS every 100 ms on a thread; `stop` returns the largest value seen.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
    enabled: bool,
}

impl RssSampler {
    fn start(pid: Option<u32>) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = pid.map(|pid| {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(m) = proc_status(pid) {
                        peak.fetch_max(m.rss_kb, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        });
        RssSampler { enabled: thread.is_some(), stop, peak, thread }
    }

    fn stop(mut self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let v = self.peak.load(Ordering::Relaxed);
        (self.enabled && v > 0).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 10s test @ http://127.0.0.1:8080/healthz
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
Latency     1.23ms  456.00us  20.10ms   90.00%
Req/Sec    26.01k     1.20k   30.00k    70.00%
  Latency Distribution
 50%  812.00us
 75%    1.41ms
 90%    1.90ms
 99%    3.54ms
  517234 requests in 10.00s, 70.35MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  51723.40
Transfer/sec:      7.03MB
";

    #[test]
    fn reads_a_wrk_report() {
        let r = parse_wrk(SAMPLE).unwrap();
        assert_eq!(r.rps, 51723.40);
        assert_eq!(r.requests, 517234);
        assert!((r.p50_ms - 0.812).abs() < 1e-9);
        assert_eq!(r.p99_ms, 3.54);
        assert_eq!(r.max_ms, 20.10);
        assert_eq!(r.non_2xx, 7);
        assert_eq!(r.socket_errors, 5);
        assert!(parse_wrk("garbage").is_err());
    }

    #[test]
    fn reads_wrk_durations() {
        assert_eq!(duration_ms("2.00s"), Some(2000.0));
        assert_eq!(duration_ms("1.00m"), Some(60_000.0));
        assert_eq!(duration_ms("12"), None);
    }

}
