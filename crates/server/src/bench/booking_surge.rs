//! `shenfen bench booking-surge` (issue 4): a crowd opens the booking pages at the same moment.
//!
//! Starts the server as child processes (SQLite by default; with `--postgres URL`, `--instances` servers on one fresh
//! PostgreSQL schema), creates `--clients` verified citizens with sessions directly in the database, then runs that
//! many concurrent clients for `--duration` seconds. Each client behaves like a person on the live page: it loads the
//! point list, looks at the slots of the popular day at one of the few popular points, tries to book a slot with
//! seats left (moving to another slot or point when it is taken), and once booked keeps the list open (the page's
//! live refresh). Afterwards the database is checked: no slot over capacity, every slot's `booked` equal to its
//! active appointments, and every booking the server confirmed (201) stored.
//!
//! Target (issue 4), 2 cores, SQLite: ≥ 3,000 mixed requests/s with p99 ≤ 100 ms at 2,000 concurrent clients, zero
//! overbooking, zero lost bookings, zero 5xx.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use shenfen_domain::idnumber::IdNumber;
use shenfen_store::{PrincipalKind, Session, SessionChannel, VerifiedIdentity};
use tokio::sync::Mutex;

use super::harness::{Server, fmt_ms, fresh_schema_url, mb, percentile_ms, proc_status, wait_ready};
use crate::crypto::{self, Keys};

const TARGET_RPS: f64 = 3_000.0;
const TARGET_P99_MS: f64 = 100.0;

#[derive(Parser, Debug)]
#[command(name = "shenfen bench booking-surge", about = "A crowd of citizens loading the point list and booking the same day at a few points")]
struct Args {
    /// Concurrent clients (each a signed-in, verified citizen with its own connection).
    #[arg(long, default_value_t = 2000)]
    clients: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Mean pause between one person's requests, in ms (uniform over 0.5–1.5 × the mean): people read the page
    /// between taps. 2,000 people at 600 ms offer a little over 3,000 requests/s. 0 = as fast as possible (a closed
    /// loop, where latency is mostly the queue the clients themselves build).
    #[arg(long, default_value_t = 600)]
    think_ms: u64,
    /// How many popular points the crowd tries to book at.
    #[arg(long, default_value_t = 3)]
    points: usize,
    /// PostgreSQL base URL (a fresh schema is created in it); without it the run uses SQLite.
    #[arg(long)]
    postgres: Option<String>,
    /// Server instances on the one PostgreSQL database (SQLite always runs one).
    #[arg(long, default_value_t = 3)]
    instances: usize,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep the temporary directory (server logs, SQLite database).
    #[arg(long)]
    keep: bool,
}

pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let args = Args::try_parse_from(std::iter::once("booking-surge".to_string()).chain(args.iter().cloned())).map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.clients == 0 || args.points == 0 || args.instances == 0 {
        bail!("--clients, --points and --instances must be at least 1");
    }
    let dir = std::env::temp_dir().join(format!("shenfen-surge-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = bench(&args, &dir).await;
    if args.keep || result.is_err() {
        eprintln!("server logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// Per request kind: latencies in microseconds and failures.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) latencies_us: Vec<u32>,
    pub(crate) by_status: HashMap<u16, u64>,
    pub(crate) transport_errors: u64,
}

#[derive(Default)]
pub(crate) struct Results {
    pub(crate) list: Tally,
    pub(crate) slots: Tally,
    pub(crate) book: Tally,
    /// Appointment ids the server confirmed with 201.
    pub(crate) confirmed: Vec<String>,
}

async fn bench(args: &Args, dir: &Path) -> anyhow::Result<()> {
    // The same keys for every instance and for the citizens created here.
    let (cookie, field, blind) = (crypto::random_hex_key(), crypto::random_hex_key(), crypto::random_hex_key());
    let (database_url, instances) = match &args.postgres {
        Some(base) => (Some(fresh_schema_url(base, "surge").await?), args.instances),
        None => (None, 1),
    };
    let store_url = database_url.clone().unwrap_or_else(|| format!("sqlite://{}", dir.join("instance-1").join("shenfen.db").display()));
    let mut env = vec![
        format!("SHENFEN_SECRETS__COOKIE_KEY={cookie}"),
        format!("SHENFEN_SECRETS__FIELD_KEY={field}"),
        format!("SHENFEN_SECRETS__BLIND_INDEX_KEY={blind}"),
        "SHENFEN_LOG=warn".to_string(),
    ];
    if let Some(url) = &database_url {
        env.push(format!("SHENFEN_DATABASE_URL={url}"));
    }

    // The first instance migrates and seeds; the others join it.
    let mut servers = Vec::new();
    for i in 1..=instances {
        let idir = dir.join(format!("instance-{i}"));
        std::fs::create_dir_all(&idir)?;
        let server = Server::start(&idir, &env)?;
        wait_ready(&server, &idir.join("server.log")).await?;
        servers.push(server);
    }
    let bases: Vec<String> = servers.iter().map(|s| format!("http://{}", s.addr)).collect();

    // Citizens and sessions, straight into the database (sign-in has per-IP daily limits a crowd from one IP hits).
    let store = shenfen_store::connect(&store_url).await?;
    let keys = Keys::from_hex(&cookie, &field, &blind)?;
    let started = Instant::now();
    let tokens = create_citizens(&store, &keys, args.clients).await?;
    println!("{} verified citizens with sessions created in {:.1} s", args.clients, started.elapsed().as_secs_f64());

    // The popular points and day: the first points of the list around Hefei's centre, the first day with slots.
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.clients + 16).timeout(Duration::from_secs(30)).build()?;
    let (popular, day, seats) = popular_day(&client, &bases[0], args.points).await?;
    println!(
        "{} client(s) (mean pause {} ms) against {} instance(s) ({}), popular day {day} at {} point(s) with {seats} free seats; {} s of load",
        args.clients,
        args.think_ms,
        instances,
        if database_url.is_some() { "PostgreSQL" } else { "SQLite" },
        popular.len(),
        args.duration
    );

    let (results, elapsed) = run_crowd(&client, &bases, tokens, &popular, &day, args.think_ms, args.duration).await;
    let peak = servers.iter().filter_map(|s| proc_status(s.child.id())).map(|m| m.hwm_kb).max();
    for s in servers {
        s.stop();
    }

    // Afterwards: capacity held, counts consistent, nothing confirmed is missing.
    let mut r = results;
    let Consistency { over_capacity, count_mismatch, lost, duplicates } = check(&store, &popular, &day, &r.confirmed).await?;
    let total: u64 = [&r.list, &r.slots, &r.book].iter().map(|t| t.latencies_us.len() as u64).sum();
    let mut all: Vec<u32> = r.list.latencies_us.iter().chain(&r.slots.latencies_us).chain(&r.book.latencies_us).copied().collect();
    let five_xx: u64 = [&r.list, &r.slots, &r.book].iter().map(|t| t.by_status.iter().filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum::<u64>()).sum();
    let transport: u64 = [&r.list, &r.slots, &r.book].iter().map(|t| t.transport_errors).sum();
    let rps = total as f64 / elapsed;
    let p99_all = percentile_ms(&mut all, 0.99);

    println!();
    println!(
        "booking-surge — {} CPU(s), {} × {} instance(s), {} clients, {:.1} s",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        if database_url.is_some() { "PostgreSQL" } else { "SQLite" },
        instances,
        args.clients,
        elapsed
    );
    println!("| request                  |   count |   req/s |     p50 |     p99 |     max | statuses");
    println!("|--------------------------|--------:|--------:|--------:|--------:|--------:|---------");
    for (label, t) in [("GET /api/v1/points", &mut r.list), ("GET …/slots (one day)", &mut r.slots), ("POST /api/v1/appointments", &mut r.book)] {
        let mut statuses: Vec<_> = t.by_status.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        statuses.sort();
        let n = t.latencies_us.len();
        println!(
            "| {label:<24} | {n:>7} | {:>7.0} | {:>7} | {:>7} | {:>7} | {}{}",
            n as f64 / elapsed,
            fmt_ms(percentile_ms(&mut t.latencies_us, 0.50)),
            fmt_ms(percentile_ms(&mut t.latencies_us, 0.99)),
            fmt_ms(percentile_ms(&mut t.latencies_us, 1.0)),
            statuses.join(" "),
            if t.transport_errors > 0 { format!(" transport errors {}", t.transport_errors) } else { String::new() }
        );
    }
    println!("| all                      | {total:>7} | {rps:>7.0} | {:>7} | {:>7} |", fmt_ms(percentile_ms(&mut all, 0.50)), fmt_ms(p99_all));
    println!();
    println!(
        "bookings confirmed {} of {seats} free seats ({:.0} bookings/s); slots over capacity {over_capacity}; slot counts ≠ appointments {count_mismatch}; confirmed but not stored {lost}; duplicate confirmations {duplicates}",
        r.confirmed.len(),
        r.confirmed.len() as f64 / elapsed
    );
    if let Some(kb) = peak {
        println!("largest server RSS high-water mark: {}", mb(kb));
    }
    let verdicts = [
        (format!("≥ {TARGET_RPS:.0} mixed requests/s"), format!("{rps:.0}"), rps >= TARGET_RPS),
        (format!("p99 ≤ {TARGET_P99_MS:.0} ms"), fmt_ms(p99_all), p99_all <= TARGET_P99_MS),
        ("zero 5xx and transport errors".to_string(), format!("{five_xx} 5xx, {transport} transport"), five_xx == 0 && transport == 0),
        ("zero overbooking".to_string(), over_capacity.to_string(), over_capacity == 0 && count_mismatch == 0),
        ("zero lost bookings".to_string(), lost.to_string(), lost == 0 && duplicates == 0),
    ];
    for (what, got, ok) in &verdicts {
        println!("  [{}] {what}: {got}", if *ok { "MET " } else { "MISS" });
    }
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "scenario": "booking-surge", "backend": if database_url.is_some() { "postgres" } else { "sqlite" },
            "instances": instances, "clients": args.clients, "seconds": elapsed, "requests": total, "requests_per_sec": rps,
            "p99_ms": p99_all, "bookings": r.confirmed.len(), "free_seats": seats, "over_capacity": over_capacity,
            "count_mismatch": count_mismatch, "lost": lost, "five_xx": five_xx, "transport_errors": transport,
            "targets": verdicts.iter().map(|(w, g, ok)| serde_json::json!({ "target": w, "measured": g, "met": ok })).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    if over_capacity > 0 || count_mismatch > 0 || lost > 0 || duplicates > 0 {
        bail!("consistency check failed: the booking rules did not hold under load");
    }
    Ok(())
}

/// One person on the page: list → slots of the popular day → book (another slot or point when taken) → keep the
/// list open (live refresh) until the end.
#[allow(clippy::too_many_arguments)]
async fn citizen(i: usize, client: reqwest::Client, base: String, token: String, popular: Vec<String>, day: String, think_ms: u64, deadline: Instant, results: Arc<Mutex<Results>>) {
    let mut booked = false;
    let mut point_turn = i % popular.len();
    let mut local = Results::default();
    // A cheap per-person pseudo-random sequence for the pauses (xorshift), so runs are repeatable.
    let mut seed = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut pause = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        Duration::from_millis(if think_ms == 0 { 0 } else { think_ms / 2 + seed % (think_ms + 1) })
    };
    // Everyone arrives within the first second: the surge.
    tokio::time::sleep(Duration::from_millis((i as u64 * 7919) % 1000)).await;
    while Instant::now() < deadline {
        tokio::time::sleep(pause()).await;
        let (status, _) = timed(&mut local.list, client.get(format!("{base}/api/v1/points?lat=31.8206&lng=117.2272"))).await;
        if booked || status != Some(200) {
            continue;
        }
        let point = &popular[point_turn % popular.len()];
        tokio::time::sleep(pause()).await;
        let (status, body) = timed(&mut local.slots, client.get(format!("{base}/api/v1/points/{point}/slots?from={day}&to={day}"))).await;
        if status != Some(200) {
            continue;
        }
        let slots: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
        let free: Vec<&str> = slots.iter().filter(|s| s["bookable"] == true).filter_map(|s| s["id"].as_str()).collect();
        if free.is_empty() {
            point_turn += 1;
            if point_turn >= i % popular.len() + popular.len() {
                // Every popular point is full: this person just watches the list from now on.
                booked = true;
            }
            continue;
        }
        tokio::time::sleep(pause()).await;
        let slot = free[i % free.len()];
        let req = client.post(format!("{base}/api/v1/appointments")).bearer_auth(&token).json(&serde_json::json!({ "slot_id": slot, "service": "renewal" }));
        let (status, body) = timed(&mut local.book, req).await;
        if status == Some(201) {
            booked = true;
            if let Some(id) = serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| v["id"].as_str().map(str::to_string)) {
                local.confirmed.push(id);
            }
        }
    }
    let mut guard = results.lock().await;
    let r = &mut *guard;
    for (into, from) in [(&mut r.list, local.list), (&mut r.slots, local.slots), (&mut r.book, local.book)] {
        into.latencies_us.extend(from.latencies_us);
        into.transport_errors += from.transport_errors;
        for (s, n) in from.by_status {
            *into.by_status.entry(s).or_default() += n;
        }
    }
    r.confirmed.extend(local.confirmed);
}

/// Verified citizens with bearer sessions, written straight into the database (sign-in has per-IP daily limits
/// that a crowd from one address would hit). Returns their tokens.
pub(crate) async fn create_citizens(store: &shenfen_store::DynStore, keys: &Keys, n: usize) -> anyhow::Result<Vec<String>> {
    let now = crate::app::Clock::default().now_ms();
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let phone = format!("139{:08}", 10_000_000 + i);
        let citizen = store.citizen_for_phone(&phone, now).await?;
        let id = synthetic_id_number(i)?;
        let ident = VerifiedIdentity {
            name_enc: keys.encrypt_field("测试群众"),
            name_masked: "*群众".into(),
            id_number_enc: keys.encrypt_field(id.as_str()),
            id_number_blind: keys.blind_index(id.as_str()),
            id_number_masked: id.masked(),
            hukou_code: "340104".into(),
        };
        store.record_primary_verification(&citizen.id, &ident, now).await?;
        let token = crypto::new_token();
        store
            .insert_session(&Session {
                token_hash: crypto::token_hash(&token),
                principal_kind: PrincipalKind::Citizen,
                principal_id: citizen.id.clone(),
                channel: SessionChannel::Bearer,
                created_at: now,
                expires_at: now + 6 * 3_600_000,
            })
            .await?;
        tokens.push(token);
    }
    Ok(tokens)
}

/// The popular points (the first of the list around Hefei's centre), the first day with slots, and its free seats.
pub(crate) async fn popular_day(client: &reqwest::Client, base: &str, points: usize) -> anyhow::Result<(Vec<String>, String, i64)> {
    let list: Vec<serde_json::Value> = client.get(format!("{base}/api/v1/points?lat=31.8206&lng=117.2272")).send().await?.json().await?;
    let popular: Vec<String> = list.iter().take(points).filter_map(|p| p["id"].as_str().map(str::to_string)).collect();
    let day = first_day_with_slots(client, base, &popular[0]).await?;
    let mut seats = 0;
    for p in &popular {
        let slots: Vec<serde_json::Value> = client.get(format!("{base}/api/v1/points/{p}/slots?from={day}&to={day}")).send().await?.json().await?;
        seats += slots.iter().filter(|s| s["bookable"] == true).map(|s| s["remaining"].as_i64().unwrap_or(0)).sum::<i64>();
    }
    Ok((popular, day, seats))
}

/// The crowd: one task per token, spread over `bases`, for `duration` seconds. Returns the tallies and the time.
pub(crate) async fn run_crowd(client: &reqwest::Client, bases: &[String], tokens: Vec<String>, popular: &[String], day: &str, think_ms: u64, duration: u64) -> (Results, f64) {
    let results = Arc::new(Mutex::new(Results::default()));
    let deadline = Instant::now() + Duration::from_secs(duration);
    let load_started = Instant::now();
    let mut tasks = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.into_iter().enumerate() {
        let (client, base, popular, day, results) = (client.clone(), bases[i % bases.len()].clone(), popular.to_vec(), day.to_string(), results.clone());
        tasks.push(tokio::spawn(async move { citizen(i, client, base, token, popular, day, think_ms, deadline, results).await }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = load_started.elapsed().as_secs_f64();
    let r = match Arc::try_unwrap(results) {
        Ok(m) => m.into_inner(),
        Err(_) => Results::default(),
    };
    (r, elapsed)
}

/// What the database says after a run.
pub(crate) struct Consistency {
    pub over_capacity: usize,
    pub count_mismatch: usize,
    pub lost: usize,
    pub duplicates: usize,
}

/// Capacity held, seat counts equal active appointments, every confirmed booking stored exactly once.
pub(crate) async fn check(store: &shenfen_store::DynStore, popular: &[String], day: &str, confirmed: &[String]) -> anyhow::Result<Consistency> {
    let mut over_capacity = 0;
    let mut count_mismatch = 0;
    let mut stored = HashSet::new();
    for p in popular {
        let appointments = store.appointments_on(p, day).await?;
        for s in store.slots(p, day, day).await? {
            if s.booked > s.capacity {
                over_capacity += 1;
            }
            let active = appointments.iter().filter(|a| a.slot_id == s.id && matches!(a.status, shenfen_store::AppointmentStatus::Booked | shenfen_store::AppointmentStatus::CheckedIn)).count() as i64;
            if active != s.booked {
                count_mismatch += 1;
            }
        }
        stored.extend(appointments.into_iter().map(|a| a.id));
    }
    let lost = confirmed.iter().filter(|id| !stored.contains(*id)).count();
    let duplicates = confirmed.len() - confirmed.iter().collect::<HashSet<_>>().len();
    Ok(Consistency { over_capacity, count_mismatch, lost, duplicates })
}

async fn timed(t: &mut Tally, req: reqwest::RequestBuilder) -> (Option<u16>, String) {
    let started = Instant::now();
    let out = match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            (Some(status), body)
        }
        Err(_) => (None, String::new()),
    };
    t.latencies_us.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
    match out.0 {
        Some(s) => *t.by_status.entry(s).or_default() += 1,
        None => t.transport_errors += 1,
    }
    out
}


/// A valid, distinct ID number per client (Shushan district, birth dates spread over 1960–1999).
fn synthetic_id_number(i: usize) -> anyhow::Result<IdNumber> {
    let year = 1960 + (i / 900) % 40;
    let day_of_year = (i / 3) % 300;
    let (month, day) = (1 + day_of_year / 28, 1 + day_of_year % 28);
    let first17 = format!("340104{year:04}{month:02}{day:02}{:03}", i % 3 * 100 + (i / 120_000) % 100 + 1);
    IdNumber::from_first17(&first17).map_err(|e| anyhow::anyhow!("synthetic ID number {first17}: {e:?}"))
}

async fn first_day_with_slots(client: &reqwest::Client, base: &str, point: &str) -> anyhow::Result<String> {
    let slots: Vec<serde_json::Value> = client.get(format!("{base}/api/v1/points/{point}/slots")).send().await?.json().await?;
    // Tomorrow or later, so the whole day is bookable whatever the time of the run.
    let today = slots.first().and_then(|s| s["day"].as_str()).unwrap_or_default().to_string();
    slots
        .iter()
        .filter(|s| s["bookable"] == true)
        .filter_map(|s| s["day"].as_str())
        .find(|d| *d > today.as_str())
        .map(str::to_string)
        .context("the popular point has no bookable day")
}
