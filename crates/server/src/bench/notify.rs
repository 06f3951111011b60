//! `shenfen bench notify` (issue 7): stage-change events through the notification queue to the SMS sandbox.
//!
//! Starts `--instances` servers as child processes (SQLite by default; with `--postgres URL`, on one fresh
//! PostgreSQL schema) whose notification SMS go through the real Aliyun protocol (ACS3-HMAC-SHA256 signed
//! `SendSms`) to the Aliyun sandbox each instance mounts in demo mode, which verifies the signature, stores the
//! message in the outbox and posts a delivery receipt back. This process plays the application lifecycle of
//! some other instance: it records `--events` events for `--citizens` citizens at `--rate` events per second,
//! each exactly as `notify::enqueue` does (an in-app message and an SMS job, in one transaction), and leaves
//! the sending to the servers' workers. Afterwards it reads the queue and the sandbox outbox back:
//!
//! * events/s: events ÷ (last acceptance − first event creation);
//! * latency: per event, from its creation (`created_at`) to the gateway's acceptance (`sent_at`), p50/p99/max;
//! * duplicates: events whose text (each carries a unique code) reached the outbox more than once — must be 0;
//! * losses: events not accepted by the gateway by the end, or accepted but absent from the outbox — must be 0.
//!
//! Target (issue 7), 2 cores: ≥ 2,000 events/s with one instance, p99 ≤ 2 s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use shenfen_store::{Channel, NewNotification, NotificationStatus};

use super::harness::{Server, fresh_schema_url, mb, proc_status, wait_ready};
use crate::crypto;
use crate::notify::EventKind;

const TARGET_EPS: f64 = 2_000.0;
const TARGET_P99_MS: f64 = 2_000.0;

#[derive(Parser, Debug)]
#[command(name = "shenfen bench notify", about = "Events through the notification queue to the SMS sandbox: events/s, latency, duplicates, losses")]
struct Args {
    /// Events to send.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Citizens the events are spread over (round robin).
    #[arg(long, default_value_t = 5_000)]
    citizens: usize,
    /// Offered events per second (0 = as fast as the producer can write them).
    #[arg(long, default_value_t = 2_500)]
    rate: u64,
    /// Concurrent producer tasks (each event is its own transaction, as a request would write it).
    #[arg(long, default_value_t = 16)]
    producers: usize,
    /// SMS provider protocol the servers use against their sandbox: aliyun, tencent, or outbox (no HTTP hop).
    #[arg(long, default_value = "aliyun")]
    provider: String,
    /// PostgreSQL base URL (a fresh schema is created in it); without it the run uses SQLite.
    #[arg(long)]
    postgres: Option<String>,
    /// Server instances (PostgreSQL only; SQLite always runs one).
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Put nginx (configured from `deploy/nginx/`) in front of the instances and make it their public URL, so every
    /// provider call (to the sandboxes the instances mount) and every delivery receipt goes through the balancer
    /// and may land on any instance.
    #[arg(long)]
    via_nginx: bool,
    /// Seconds to wait after the last event for the queue to drain.
    #[arg(long, default_value_t = 120)]
    drain_secs: u64,
    /// Extra server settings as KEY=VALUE environment variables (e.g. SHENFEN_NOTIFY__BATCH=500).
    #[arg(long = "env")]
    env: Vec<String>,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep the temporary directory (server logs, SQLite database).
    #[arg(long)]
    keep: bool,
}

pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let args = Args::try_parse_from(std::iter::once("notify".to_string()).chain(args.iter().cloned())).map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.events == 0 || args.citizens == 0 || args.instances == 0 || args.producers == 0 {
        bail!("--events, --citizens, --instances and --producers must be at least 1");
    }
    if args.citizens > 100_000 {
        bail!("--citizens must be at most 100000");
    }
    if !["aliyun", "tencent", "outbox"].contains(&args.provider.as_str()) {
        bail!("--provider must be aliyun, tencent or outbox");
    }
    let dir = std::env::temp_dir().join(format!("shenfen-notify-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = bench(&args, &dir).await;
    if args.keep || result.is_err() {
        eprintln!("server logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn now_ms() -> i64 {
    crate::app::Clock::default().now_ms()
}

fn percentile(v: &[i64], q: f64) -> i64 {
    if v.is_empty() {
        return 0;
    }
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

async fn bench(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let (database_url, instances) = match &args.postgres {
        Some(base) => (Some(fresh_schema_url(base, "notify").await?), args.instances),
        None => (None, 1),
    };
    let store_url = database_url.clone().unwrap_or_else(|| format!("sqlite://{}", dir.join("instance-1").join("shenfen.db").display()));
    let mut env = vec![
        format!("SHENFEN_SECRETS__COOKIE_KEY={}", crypto::random_hex_key()),
        format!("SHENFEN_SECRETS__FIELD_KEY={}", crypto::random_hex_key()),
        format!("SHENFEN_SECRETS__BLIND_INDEX_KEY={}", crypto::random_hex_key()),
        "SHENFEN_LOG=warn".to_string(),
        format!("SHENFEN_NOTIFY__PROVIDER={}", args.provider),
        // Events come from another process, so nothing wakes the workers: they look every 100 ms when idle.
        "SHENFEN_NOTIFY__POLL_MS=100".to_string(),
        // The sandbox's per-number limit (30/min, a provider's default) would turn a busy citizen's events into
        // retries 30 s later; this measures the pipeline, so the sandbox lets them through.
        "SHENFEN_NOTIFY__SANDBOX__PER_NUMBER_PER_MINUTE=100000".to_string(),
        // Likewise our own per-number limit: 20 events a citizen in under a minute is the load, not abuse.
        "SHENFEN_NOTIFY__PER_NUMBER_PER_HOUR=100000".to_string(),
        // And the platform-wide limit (the provider account's): the bench looks for the pipeline's own ceiling.
        "SHENFEN_NOTIFY__GLOBAL_PER_SECOND=100000".to_string(),
        "SHENFEN_NOTIFY__EXPIRY__ENABLED=false".to_string(),
    ];
    if let Some(url) = &database_url {
        env.push(format!("SHENFEN_DATABASE_URL={url}"));
    }
    env.extend(args.env.iter().cloned());

    // With a balancer, its address is the instances' public URL: the base of their provider and receipt URLs.
    let balancer_addr: Option<std::net::SocketAddr> = if args.via_nginx {
        if super::nginx::binary().is_none() {
            bail!("--via-nginx needs nginx (Debian: apt-get install nginx)");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = ([127, 0, 0, 1], port).into();
        env.push(format!("SHENFEN_PUBLIC_URL=http://{addr}"));
        env.push("SHENFEN_BEHIND_PROXY=true".to_string());
        Some(addr)
    } else {
        None
    };
    let mut servers = Vec::new();
    for i in 1..=instances {
        let idir = dir.join(format!("instance-{i}"));
        std::fs::create_dir_all(&idir)?;
        let server = Server::start(&idir, &env)?;
        wait_ready(&server, &idir.join("server.log")).await?;
        servers.push(server);
    }
    let balancer = match balancer_addr {
        Some(addr) => {
            let ndir = dir.join("nginx");
            std::fs::create_dir_all(&ndir)?;
            let mut nginx = super::nginx::Nginx::start_at(&ndir, addr, &servers.iter().map(|s| s.addr).collect::<Vec<_>>(), 1)?;
            nginx.wait_listening().await?;
            Some(nginx)
        }
        None => None,
    };

    let store = shenfen_store::connect(&store_url).await?;
    let started = Instant::now();
    let mut citizens = Vec::with_capacity(args.citizens);
    for i in 0..args.citizens {
        // Ending in 123: the sandbox refuses numbers ending in 0000 and fails those ending in 9999 on purpose.
        let phone = format!("137{:08}", (i % 100_000) * 1000 + 123);
        citizens.push((store.citizen_for_phone(&phone, now_ms()).await?.id, phone));
    }
    println!("{} citizens created in {:.1} s", args.citizens, started.elapsed().as_secs_f64());
    let citizens = Arc::new(citizens);

    // The events: one appointment-booked notice each (urgent, so quiet hours never hold one back), made unique by
    // its code so the outbox can be checked message by message.
    let template = EventKind::AppointmentBooked.template();
    let first_created = now_ms();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..args.producers {
        let (store, citizens) = (store.clone(), citizens.clone());
        let (events, producers, rate) = (args.events, args.producers, args.rate);
        tasks.push(tokio::spawn(async move {
            let mut k = p;
            while k < events {
                if let Some(micros) = (k as u64 * 1_000_000).checked_div(rate) {
                    tokio::time::sleep_until((t0 + Duration::from_micros(micros)).into()).await;
                }
                let (citizen, phone) = &citizens[k % citizens.len()];
                let vars = crate::notify::templates::vars([
                    ("point", "庐阳区受理点".to_string()),
                    ("day", "2026-12-01".to_string()),
                    ("time", "09:00".to_string()),
                    ("service", "换领".to_string()),
                    ("code", format!("B{k:07}")),
                ]);
                let now = now_ms();
                let base = NewNotification {
                    citizen_id: citizen.clone(),
                    event_kind: template.name.into(),
                    dedupe_key: format!("bench:{k}"),
                    channel: Channel::InApp,
                    template: template.name.into(),
                    vars: serde_json::to_string(&vars)?,
                    phone: None,
                    not_before: now,
                    now,
                    content_key: None,
                };
                let sms = NewNotification { channel: Channel::Sms, phone: Some(phone.clone()), ..base.clone() };
                store.enqueue_notifications(&[base, sms]).await?;
                k += producers;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let produce_secs = t0.elapsed().as_secs_f64();
    println!("{} events recorded in {:.1} s ({:.0}/s offered)", args.events, produce_secs, args.events as f64 / produce_secs);

    // Drain: wait until no SMS job is still waiting or being sent.
    let deadline = Instant::now() + Duration::from_secs(args.drain_secs);
    loop {
        let counts = store.sms_status_counts(first_created).await?;
        let pending: i64 = counts.iter().filter(|(s, _)| matches!(s, NotificationStatus::Created | NotificationStatus::Sending | NotificationStatus::TemporaryFailure)).map(|(_, n)| n).sum();
        if pending == 0 || Instant::now() > deadline {
            break;
        }
        // Counting is a scan of the run's rows: once a second keeps it from competing with the work measured.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Receipts follow acceptance by the sandbox's receipt delay.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let peak = servers.iter().filter_map(|s| proc_status(s.child.id())).map(|m| m.hwm_kb).max();
    drop(balancer);
    for s in servers {
        s.stop();
    }

    // Read everything back.
    let mut timings = Vec::with_capacity(args.events);
    let mut after = None;
    loop {
        let page = store.sms_timings(first_created, after.clone(), 10_000).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.1.created_at, last.0.clone()));
        timings.extend(page.into_iter().map(|(_, t)| t));
    }
    let mut by_status: HashMap<NotificationStatus, usize> = HashMap::new();
    for t in &timings {
        *by_status.entry(t.status).or_default() += 1;
    }
    let accepted: Vec<_> = timings.iter().filter(|t| t.sent_at.is_some()).collect();
    let mut latencies: Vec<i64> = accepted.iter().filter_map(|t| t.sent_at.map(|s| s - t.created_at)).collect();
    latencies.sort_unstable();
    let last_accept = accepted.iter().filter_map(|t| t.sent_at).max().unwrap_or(first_created);
    let span_secs = ((last_accept - first_created) as f64 / 1000.0).max(0.001);
    let eps = accepted.len() as f64 / span_secs;
    let retried = timings.iter().filter(|t| t.attempts > 1).count();

    // The outbox: each event's unique code at most once, and every accepted event present.
    let outbox = store.outbox(None, (args.events * 2 + 1000) as u32).await?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for m in &outbox {
        if let Some(code) = m.body.split("预约码").nth(1).and_then(|r| r.get(..8)).filter(|c| c.starts_with('B')) {
            *seen.entry(code.to_string()).or_default() += 1;
        }
    }
    let duplicates: usize = seen.values().map(|n| n.saturating_sub(1)).sum();
    let missing_rows = args.events.saturating_sub(timings.len());
    let not_accepted = timings.len() - accepted.len();
    let accepted_not_in_outbox = accepted
        .iter()
        .filter(|t| {
            let k: usize = t.dedupe_key.trim_start_matches("bench:").parse().unwrap_or(usize::MAX);
            !seen.contains_key(&format!("B{k:07}"))
        })
        .count();
    let losses = missing_rows + not_accepted + accepted_not_in_outbox;
    let delivered = by_status.get(&NotificationStatus::Delivered).copied().unwrap_or(0);

    let (p50, p99, max) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99), percentile(&latencies, 1.0));
    println!();
    println!(
        "notify — {} CPU(s), {} × {} instance(s){}, provider {}, {} events over {} citizens, offered {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        if database_url.is_some() { "PostgreSQL" } else { "SQLite" },
        instances,
        if args.via_nginx { " behind nginx" } else { "" },
        args.provider,
        args.events,
        args.citizens,
        if args.rate == 0 { "as fast as possible".to_string() } else { format!("{}/s", args.rate) }
    );
    println!("| events | accepted | events/s | latency p50 | p99 | max | delivered (receipt) | retried | duplicates | losses |");
    println!("|-------:|---------:|---------:|------------:|----:|----:|--------------------:|--------:|-----------:|-------:|");
    println!("| {} | {} | {eps:.0} | {p50} ms | {p99} ms | {max} ms | {delivered} | {retried} | {duplicates} | {losses} |", args.events, accepted.len());
    let mut statuses: Vec<_> = by_status.iter().map(|(s, n)| format!("{s} {n}")).collect();
    statuses.sort();
    println!("statuses: {}; not in the queue {missing_rows}; accepted but not in the outbox {accepted_not_in_outbox}", statuses.join(", "));
    if let Some(kb) = peak {
        println!("largest server RSS high-water mark: {}", mb(kb));
    }
    let verdicts = [
        (format!("≥ {TARGET_EPS:.0} events/s"), format!("{eps:.0}"), eps >= TARGET_EPS),
        (format!("p99 ≤ {TARGET_P99_MS:.0} ms"), format!("{p99} ms"), (p99 as f64) <= TARGET_P99_MS),
        ("zero duplicates".to_string(), duplicates.to_string(), duplicates == 0),
        ("zero losses".to_string(), losses.to_string(), losses == 0),
    ];
    for (what, got, ok) in &verdicts {
        println!("  [{}] {what}: {got}", if *ok { "MET " } else { "MISS" });
    }
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "scenario": "notify", "backend": if database_url.is_some() { "postgres" } else { "sqlite" }, "instances": instances, "via_nginx": args.via_nginx,
            "provider": args.provider, "events": args.events, "citizens": args.citizens, "offered_rate": args.rate,
            "accepted": accepted.len(), "events_per_sec": eps, "p50_ms": p50, "p99_ms": p99, "max_ms": max,
            "delivered": delivered, "retried": retried, "duplicates": duplicates, "losses": losses,
            "targets": verdicts.iter().map(|(w, g, ok)| serde_json::json!({ "target": w, "measured": g, "met": ok })).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    if duplicates > 0 || losses > 0 {
        bail!("the queue duplicated or lost messages");
    }
    Ok(())
}
