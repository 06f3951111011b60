//! `shenfen bench scale-out` (issue 8): two scenarios through nginx (configured from `deploy/nginx/`) in front of
//! 1, 2 and 3 `shenfen serve` instances on one PostgreSQL database, each instance count on a fresh schema:
//!
//! * booking-surge: the same crowd for the same time; throughput, p99, errors and the booking consistency check;
//! * notifications: `bench notify --via-nginx` — stage-change events through the queue, every provider call and
//!   delivery receipt through the balancer; events/s, p99, duplicates and losses.
//!
//! Everything shares this machine's cores — see the note printed at the end.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;

use super::booking_surge::{Consistency, check, create_citizens, popular_day, run_crowd};
use super::harness::{fresh_schema_url, percentile_ms};
use super::harness::{Server, wait_ready};
use super::nginx::Nginx;
use crate::crypto::{self, Keys};

#[derive(Parser, Debug)]
#[command(name = "shenfen bench scale-out", about = "booking-surge through nginx with 1, 2 and 3 instances on PostgreSQL")]
struct Args {
    /// PostgreSQL base URL (a fresh schema is created in it for each instance count).
    #[arg(long)]
    postgres: String,
    /// Instance counts to run, comma-separated.
    #[arg(long, default_value = "1,2,3", value_delimiter = ',')]
    instances: Vec<usize>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Seconds of load per instance count.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Mean pause between one person's requests, in ms (0 = closed loop, as fast as possible).
    #[arg(long, default_value_t = 300)]
    think_ms: u64,
    #[arg(long, default_value_t = 3)]
    points: usize,
    /// nginx worker processes.
    #[arg(long, default_value_t = 1)]
    nginx_workers: usize,
    /// Events per instance count in the notification scenario (0 skips it).
    #[arg(long, default_value_t = 30_000)]
    notify_events: usize,
    /// Offered events per second in the notification scenario.
    #[arg(long, default_value_t = 2_100)]
    notify_rate: u64,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

struct Row {
    instances: usize,
    requests: u64,
    rps: f64,
    p50: f64,
    p99: f64,
    five_xx: u64,
    transport: u64,
    bookings: usize,
    consistent: bool,
}

pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let args = Args::try_parse_from(std::iter::once("scale-out".to_string()).chain(args.iter().cloned())).map_err(|e| anyhow::anyhow!("{e}"))?;
    if super::nginx::binary().is_none() {
        bail!("nginx is not installed (Debian: apt-get install nginx)");
    }
    if args.instances.contains(&0) || args.clients == 0 {
        bail!("--instances and --clients must be at least 1");
    }
    let dir = std::env::temp_dir().join(format!("shenfen-scale-out-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut rows = Vec::new();
    for n in &args.instances {
        let sub = dir.join(format!("n{n}"));
        std::fs::create_dir_all(&sub)?;
        match one(&args, *n, &sub).await {
            Ok(row) => rows.push(row),
            Err(e) => {
                eprintln!("logs kept in {}", dir.display());
                return Err(e);
            }
        }
        // Let the database settle between runs.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // The notification scenario: `bench notify` itself, behind nginx, read back from its JSON.
    let mut notify_rows = Vec::new();
    if args.notify_events > 0 {
        for n in &args.instances {
            let json = dir.join(format!("notify-{n}.json"));
            let notify_args: Vec<String> = [
                "--postgres",
                args.postgres.as_str(),
                "--instances",
                &n.to_string(),
                "--via-nginx",
                "--events",
                &args.notify_events.to_string(),
                "--rate",
                &args.notify_rate.to_string(),
                "--json",
                &json.display().to_string(),
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            Box::pin(super::notify::run(&notify_args)).await.with_context(|| format!("notification scenario with {n} instance(s)"))?;
            let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
            notify_rows.push((*n, doc));
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!();
    println!(
        "scale-out — booking-surge through nginx, {} clients, mean pause {} ms, {} s per run, {} CPU(s) shared by the clients, nginx, the instances and PostgreSQL",
        args.clients,
        args.think_ms,
        args.duration,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("| instances | requests |   req/s |     p50 |     p99 | 5xx | transport errors | bookings | consistent |");
    println!("|----------:|---------:|--------:|--------:|--------:|----:|-----------------:|---------:|:-----------|");
    for r in &rows {
        println!(
            "| {:>9} | {:>8} | {:>7.0} | {:>5.1} ms | {:>5.1} ms | {:>3} | {:>16} | {:>8} | {} |",
            r.instances,
            r.requests,
            r.rps,
            r.p50,
            r.p99,
            r.five_xx,
            r.transport,
            r.bookings,
            if r.consistent { "yes" } else { "NO" }
        );
    }
    if !notify_rows.is_empty() {
        println!();
        println!("scale-out — notifications through nginx: {} stage-change events offered at {}/s, provider calls and receipts via the balancer", args.notify_events, args.notify_rate);
        println!("| instances | events/s | latency p50 | p99 | duplicates | losses |");
        println!("|----------:|---------:|------------:|----:|-----------:|-------:|");
        for (n, d) in &notify_rows {
            println!(
                "| {n:>9} | {:>8.0} | {:>8} ms | {} ms | {} | {} |",
                d["events_per_sec"].as_f64().unwrap_or(0.0),
                d["p50_ms"],
                d["p99_ms"],
                d["duplicates"],
                d["losses"]
            );
        }
    }
    println!();
    println!(
        "Note: on one machine every instance competes for the same cores with nginx, PostgreSQL and the load generator, \
         so more instances cannot add CPU; what this run shows is that instances share state correctly and that the \
         balancer's overhead is bounded. Capacity grows with instances only when each has its own cores."
    );
    if let Some(path) = &args.json {
        let booking: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| serde_json::json!({ "instances": r.instances, "requests": r.requests, "requests_per_sec": r.rps, "p50_ms": r.p50, "p99_ms": r.p99, "five_xx": r.five_xx, "transport_errors": r.transport, "bookings": r.bookings, "consistent": r.consistent }))
            .collect();
        let notifications: Vec<&serde_json::Value> = notify_rows.iter().map(|(_, d)| d).collect();
        std::fs::write(path, serde_json::to_string_pretty(&serde_json::json!({ "booking_surge": booking, "notifications": notifications }))?)?;
    }
    if rows.iter().any(|r| !r.consistent) {
        bail!("consistency check failed");
    }
    Ok(())
}

async fn one(args: &Args, n: usize, dir: &Path) -> anyhow::Result<Row> {
    let (cookie, field, blind) = (crypto::random_hex_key(), crypto::random_hex_key(), crypto::random_hex_key());
    let url = fresh_schema_url(&args.postgres, "scale").await?;
    let env = vec![
        format!("SHENFEN_SECRETS__COOKIE_KEY={cookie}"),
        format!("SHENFEN_SECRETS__FIELD_KEY={field}"),
        format!("SHENFEN_SECRETS__BLIND_INDEX_KEY={blind}"),
        format!("SHENFEN_DATABASE_URL={url}"),
        "SHENFEN_BEHIND_PROXY=true".to_string(),
        "SHENFEN_LOG=warn".to_string(),
    ];
    let mut servers = Vec::new();
    for i in 1..=n {
        let idir = dir.join(format!("instance-{i}"));
        std::fs::create_dir_all(&idir)?;
        let server = Server::start(&idir, &env)?;
        wait_ready(&server, &idir.join("server.log")).await?;
        servers.push(server);
    }
    let ndir = dir.join("nginx");
    std::fs::create_dir_all(&ndir)?;
    let mut nginx = Nginx::start(&ndir, &servers.iter().map(|s| s.addr).collect::<Vec<_>>(), args.nginx_workers)?;
    nginx.wait_listening().await?;
    let base = nginx.base();

    let store = shenfen_store::connect(&url).await?;
    let keys = Keys::from_hex(&cookie, &field, &blind)?;
    let t = Instant::now();
    let tokens = create_citizens(&store, &keys, args.clients).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.clients + 16).timeout(Duration::from_secs(30)).build()?;
    let (popular, day, seats) = popular_day(&client, &base, args.points).await?;
    println!("{n} instance(s): {} citizens ready in {:.1} s; {seats} free seats on {day}; {} s of load through {base}", args.clients, t.elapsed().as_secs_f64(), args.duration);
    let (r, elapsed) = run_crowd(&client, std::slice::from_ref(&base), tokens, &popular, &day, args.think_ms, args.duration).await;
    drop(nginx);
    for s in servers {
        s.stop();
    }
    let Consistency { over_capacity, count_mismatch, lost, duplicates } = check(&store, &popular, &day, &r.confirmed).await?;
    let requests: u64 = [&r.list, &r.slots, &r.book].iter().map(|t| t.latencies_us.len() as u64).sum();
    let mut all: Vec<u32> = r.list.latencies_us.iter().chain(&r.slots.latencies_us).chain(&r.book.latencies_us).copied().collect();
    let five_xx: u64 = [&r.list, &r.slots, &r.book].iter().map(|t| t.by_status.iter().filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum::<u64>()).sum();
    let transport: u64 = [&r.list, &r.slots, &r.book].iter().map(|t| t.transport_errors).sum();
    Ok(Row {
        instances: n,
        requests,
        rps: requests as f64 / elapsed,
        p50: percentile_ms(&mut all, 0.50),
        p99: percentile_ms(&mut all, 0.99),
        five_xx,
        transport,
        bookings: r.confirmed.len(),
        consistent: over_capacity == 0 && count_mismatch == 0 && lost == 0 && duplicates == 0,
    })
}
