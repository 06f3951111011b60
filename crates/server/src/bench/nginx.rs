//! nginx in front of several `shenfen serve` instances on loopback, for the scale-out test and benchmark. The
//! configuration is generated from what `deploy/nginx/` ships: its `upstream shenfen` block (balancing method,
//! passive health checks, keep-alive) with the servers swapped for the instances under test, and
//! `shenfen-locations.conf` (headers, X-Forwarded-For, retries, event streams) included unchanged.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The shipped configuration, compiled in so that the benchmark runs from anywhere.
pub const SHIPPED_CONF: &str = include_str!("../../../../deploy/nginx/shenfen.conf");
pub const SHIPPED_LOCATIONS: &str = include_str!("../../../../deploy/nginx/shenfen-locations.conf");

/// The nginx binary, if installed (Debian puts it in /usr/sbin, which is not on every PATH).
pub fn binary() -> Option<PathBuf> {
    let candidates = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).map(|d| d.join("nginx")).collect::<Vec<_>>()).unwrap_or_default();
    candidates.into_iter().chain([PathBuf::from("/usr/sbin/nginx")]).find(|p| p.is_file())
}

/// The shipped `upstream shenfen { … }` block with its `server` lines replaced by `upstreams` (keeping their
/// parameters, e.g. `max_fails=2 fail_timeout=10s`).
pub fn upstream_block(upstreams: &[SocketAddr]) -> anyhow::Result<String> {
    let start = SHIPPED_CONF.find("upstream shenfen {").context("deploy/nginx/shenfen.conf has no `upstream shenfen` block")?;
    let len = SHIPPED_CONF[start..].find("\n}").context("unterminated upstream block")? + 2;
    let block = &SHIPPED_CONF[start..start + len];
    let mut out = String::new();
    let mut params = None;
    for line in block.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("server ") {
            if params.is_none() {
                params = Some(rest.split_once(' ').map(|(_, p)| p.trim_end_matches(';').to_string()).unwrap_or_default());
                for u in upstreams {
                    out.push_str(&format!("    server {u} {};\n", params.as_deref().unwrap_or_default()));
                }
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if params.is_none() {
        bail!("the shipped upstream block lists no servers");
    }
    Ok(out)
}

/// A whole nginx.conf for a loopback run in `dir` (plain HTTP: TLS is the shipped server block's business).
pub fn config(dir: &Path, listen: SocketAddr, upstreams: &[SocketAddr], workers: usize) -> anyhow::Result<String> {
    let d = dir.display();
    // As root, workers would otherwise switch to `nobody` and could not write the temporary directories here.
    // SAFETY: geteuid has no preconditions and cannot fail.
    let user = if unsafe { libc::geteuid() } == 0 { "user root;\n" } else { "" };
    Ok(format!(
        "{user}worker_processes {workers};\n\
         daemon off;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\n\
         events {{ worker_connections 8192; }}\n\
         http {{\n\
         access_log off;\n\
         client_body_temp_path {d}/tmp/body;\n\
         proxy_temp_path {d}/tmp/proxy;\n\
         fastcgi_temp_path {d}/tmp/fastcgi;\n\
         uwsgi_temp_path {d}/tmp/uwsgi;\n\
         scgi_temp_path {d}/tmp/scgi;\n\
         {}\n\
         server {{\n\
         listen {listen} backlog=4096;\n\
         include {d}/shenfen-locations.conf;\n\
         }}\n\
         }}\n",
        upstream_block(upstreams)?
    ))
}

/// A running nginx, stopped when dropped.
pub struct Nginx {
    child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl Nginx {
    pub fn start(dir: &Path, upstreams: &[SocketAddr], workers: usize) -> anyhow::Result<Nginx> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        Self::start_at(dir, ([127, 0, 0, 1], port).into(), upstreams, workers)
    }

    /// As `start`, on a chosen address (when the instances must know the balancer's URL before it runs).
    pub fn start_at(dir: &Path, addr: SocketAddr, upstreams: &[SocketAddr], workers: usize) -> anyhow::Result<Nginx> {
        let bin = binary().context("nginx is not installed (Debian: apt-get install nginx)")?;
        for sub in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(dir.join("tmp").join(sub))?;
        }
        std::fs::write(dir.join("shenfen-locations.conf"), SHIPPED_LOCATIONS)?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(dir, addr, upstreams, workers)?)?;
        let test = Command::new(&bin).arg("-t").arg("-q").arg("-p").arg(dir).arg("-c").arg(&conf).output()?;
        if !test.status.success() {
            bail!("nginx rejects the generated configuration: {}", String::from_utf8_lossy(&test.stderr));
        }
        let log = std::fs::File::create(dir.join("nginx.out"))?;
        let child = Command::new(&bin).arg("-p").arg(dir).arg("-c").arg(&conf).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).spawn().context("cannot start nginx")?;
        Ok(Nginx { child, addr, dir: dir.to_path_buf() })
    }

    /// Waits until nginx accepts connections (10 s at most).
    pub async fn wait_listening(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("nginx exited ({status}); see {}", self.dir.join("error.log").display());
            }
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("nginx did not listen within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM is nginx's fast shutdown; the master takes its workers with it.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_upstream_block_is_reused_with_other_servers() {
        let a: SocketAddr = "127.0.0.1:9001".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:9002".parse().unwrap();
        let block = upstream_block(&[a, b]).unwrap();
        assert!(block.starts_with("upstream shenfen {") && block.trim_end().ends_with('}'), "{block}");
        assert!(block.contains("    server 127.0.0.1:9001 max_fails=2 fail_timeout=10s;\n    server 127.0.0.1:9002 max_fails=2 fail_timeout=10s;\n"), "{block}");
        assert!(!block.contains("8081") && block.contains("least_conn;") && block.contains("keepalive"));
    }
}
