//! What the benchmark scenarios share: the server under test as a child process (this same binary), a minimal
//! HTTP client for set-up calls, and /proc memory readings.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The server under test: killed (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Server {
    pub fn start(dir: &Path, extra_env: &[String]) -> anyhow::Result<Server> {
        Self::start_exe(&std::env::current_exe().context("cannot find the shenfen binary")?, dir, extra_env)
    }

    /// As `start`, with the `shenfen` binary named (tests run from their own executable).
    pub fn start_exe(exe: &Path, dir: &Path, extra_env: &[String]) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = std::fs::File::create(dir.join("server.log"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("serve")
            // In the data directory, so that a shenfen.toml in the caller's directory is not picked up.
            .current_dir(dir)
            .env_remove("SHENFEN_CONFIG")
            .env_remove("SHENFEN_DATABASE_URL")
            .env("SHENFEN_LISTEN", addr.to_string())
            .env("SHENFEN_DATA_DIR", dir)
            .env("SHENFEN_PUBLIC_URL", format!("http://{addr}"))
            // A year of demo history seeding in the background would compete with whatever is being measured.
            .env("SHENFEN_DEMO_HISTORY", "false")
            // Benchmarks other than `bench notify` (which sets its provider) measure their own path: their SMS go
            // to the outbox rather than through the sandbox's HTTP round trip, as in the figures recorded before.
            .env("SHENFEN_NOTIFY__PROVIDER", "outbox")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for kv in extra_env {
            let (k, v) = kv.split_once('=').with_context(|| format!("--env {kv:?} is not KEY=VALUE"))?;
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("cannot start `shenfen serve`")?;
        Ok(Server { child, addr })
    }

    /// Whether the child has exited (a zombie or gone), read from /proc without reaping it.
    pub fn exited(&self) -> bool {
        let state = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        state.is_empty() || state.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'))
    }

    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Waits until the server answers `/readyz` (60 s at most).
pub async fn wait_ready(server: &Server, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if server.exited() {
            bail!("the server exited during start-up; see {}", log.display());
        }
        if matches!(request(server.addr, "GET", "/readyz", None, None).await, Ok((200, _))) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the server did not become ready within 60 s; see {}", log.display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A minimal HTTP/1.1 client (one request per connection), enough for set-up calls.
pub async fn request(addr: SocketAddr, method: &str, path: &str, json: Option<&str>, bearer: Option<&str>) -> anyhow::Result<(u16, String)> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await??;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n");
    if let Some(t) = bearer {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = json.unwrap_or("");
    if json.is_some() {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").context("malformed HTTP response")?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("malformed status line")?;
    let chunked = head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked"));
    Ok((status, if chunked { dechunk(body) } else { body.to_string() }))
}

pub fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A brand-new schema (named `<prefix>_<uuid>`) in the PostgreSQL database at `base`, as a URL whose connections
/// use it.
pub async fn fresh_schema_url(base: &str, prefix: &str) -> anyhow::Result<String> {
    let schema = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
    shenfen_store::create_schema(base, &schema).await?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{sep}options=-csearch_path%3D{schema}"))
}

/// The `q` quantile (0–1) of latencies in microseconds, in ms (sorts `v`).
pub fn percentile_ms(v: &mut [u32], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[i] as f64 / 1000.0
}

pub fn fmt_ms(v: f64) -> String {
    format!("{v:.1} ms")
}

pub fn ms(v: f64) -> String {
    if v < 1.0 { format!("{:.0} µs", v * 1000.0) } else { format!("{v:.2} ms") }
}

pub fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

#[derive(Debug, Clone, Copy)]
pub struct MemStatus {
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

pub fn proc_status(pid: u32) -> Option<MemStatus> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok())
    };
    Some(MemStatus { rss_kb: field("VmRSS:")?, hwm_kb: field("VmHWM:")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks() {
        assert_eq!(dechunk("4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"), "Wikipedia");
    }
}
