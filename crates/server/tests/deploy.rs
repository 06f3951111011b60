//! What `deploy/` ships is checked against the application: every metric the alert rules use is exported at
//! /metrics, the nginx configuration is valid as shipped (with a throw-away certificate), and the JSON log format
//! writes one JSON object per line.

mod support;

use std::path::Path;
use std::process::Command;

use support::{Db, TestApp, http};

fn repo(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Metrics the alert rules name that other modules export (not on every build yet).
const EXPORTED_ELSEWHERE: &[&str] = &["shenfen_applications_sla_late"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_use_exported_metrics() {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    let c = http();
    // Some traffic, including a 404, so the request histograms exist.
    c.get(app.url("/healthz")).send().await.unwrap();
    c.get(app.url("/nope")).send().await.unwrap();
    let metrics = c.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let rules = repo("deploy/prometheus/shenfen-alerts.yml");
    let mut names: Vec<String> = Vec::new();
    for line in rules.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if (word.starts_with("shenfen_") || word.starts_with("http_request")) && !names.iter().any(|n| n == word) {
                names.push(word.to_string());
            }
        }
    }
    assert!(names.len() >= 6, "{names:?}");
    for name in names.iter().filter(|n| !EXPORTED_ELSEWHERE.contains(&n.as_str())) {
        assert!(metrics.lines().any(|l| l.starts_with(name.as_str())), "alert rules use {name}, which /metrics does not export");
    }
    assert!(metrics.contains("shenfen_notification_queue_oldest_due_seconds 0"));
    let scrape = repo("deploy/prometheus/prometheus.yml");
    assert!(scrape.contains("rule_files:") && scrape.contains("shenfen-alerts.yml") && scrape.contains("metrics_path: /metrics"));
}

#[test]
fn shipped_nginx_configuration_is_valid() {
    let Some(nginx) = shenfen_server::bench::nginx::binary() else {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "nginx must be installed when CI=true");
        eprintln!("SKIPPED: nginx is not installed");
        return;
    };
    let dir = shenfen_store::test_support::TempDir::new();
    let d = &dir.0;
    let cert = d.join("cert.pem");
    let key = d.join("key.pem");
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=shenfen.example.gov.cn", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    if !made.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: openssl is not available to make a test certificate");
        return;
    }
    std::fs::write(d.join("shenfen-locations.conf"), repo("deploy/nginx/shenfen-locations.conf")).unwrap();
    let site = repo("deploy/nginx/shenfen.conf")
        .replace("/etc/ssl/shenfen/fullchain.pem", &cert.display().to_string())
        .replace("/etc/ssl/shenfen/privkey.pem", &key.display().to_string())
        .replace("/etc/nginx/snippets/shenfen-locations.conf", &d.join("shenfen-locations.conf").display().to_string());
    for needed in ["Strict-Transport-Security", "listen 443 ssl", "return 301 https://"] {
        assert!(site.contains(needed), "{needed}");
    }
    let conf = format!(
        "pid {0}/nginx.pid;\nerror_log {0}/error.log;\nevents {{}}\nhttp {{\nclient_body_temp_path {0}/b; proxy_temp_path {0}/p; fastcgi_temp_path {0}/f; uwsgi_temp_path {0}/u; scgi_temp_path {0}/s;\naccess_log off;\n{site}\n}}\n",
        d.display()
    );
    std::fs::write(d.join("nginx.conf"), conf).unwrap();
    let out = Command::new(nginx).arg("-t").arg("-p").arg(d).arg("-c").arg(d.join("nginx.conf")).output().unwrap();
    assert!(out.status.success(), "nginx -t: {}", String::from_utf8_lossy(&out.stderr));
    let locations = repo("deploy/nginx/shenfen-locations.conf");
    assert!(locations.contains("proxy_set_header X-Forwarded-For $remote_addr;"), "overwrite, never append ($proxy_add_x_forwarded_for)");
    assert!(!locations.contains("$proxy_add_x_forwarded_for"));
    assert!(locations.contains("proxy_buffering off;"));
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = shenfen_store::test_support::TempDir::new();
    // The port is taken, so the server logs its start-up and then stops with an error.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shenfen"))
        .env("SHENFEN_DATA_DIR", &dir.0)
        .env("SHENFEN_LOG_FORMAT", "json")
        .env("SHENFEN_LOG", "info")
        .env("SHENFEN_LISTEN", taken.local_addr().unwrap().to_string())
        .env_remove("SHENFEN_CONFIG")
        .env_remove("SHENFEN_DATABASE_URL")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!lines.is_empty(), "{text}");
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{l}");
    }
}
