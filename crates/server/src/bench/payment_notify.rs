//! `shenfen bench payment-notify` (issue 5): providers' payment notifications pouring in.
//!
//! Starts the server as a child process (a fresh SQLite database; with `--postgres URL`, `--instances` servers on
//! one fresh PostgreSQL schema), creates `--orders` payment orders already `submitted` (half Alipay, half WeChat
//! Pay) directly in the database, and prepares what the providers would send, signed exactly as they sign it: one
//! Alipay `TRADE_SUCCESS` notification (RSA2) or WeChat Pay `TRANSACTION.SUCCESS` callback (resource encrypted
//! with AEAD_AES_256_GCM under the APIv3 key, `Wechatpay-*` signature) per order, `--duplicates` of them sent
//! again byte for byte (providers retry), and for some Alipay orders an earlier `WAIT_BUYER_PAY` notice, all
//! shuffled so that repeats and stale notices may come before or after the real one. Then it fires them at
//! `/callbacks/payments/{provider}`: as fast as `--concurrency` senders go (closed loop, `--rate 0`), or at
//! `--rate` per second (open loop). Afterwards it checks the database: every order paid, exactly one
//! `payment.success` audit entry per order (one state change), none twice (no double credit), and every
//! notification acknowledged in the provider's terms.
//!
//! Target (issue 5), 2 cores: ≥ 2,000 verified notifications/s, p99 ≤ 50 ms, zero double credits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use shenfen_gateways::alipay;
use shenfen_gateways::amount::fen_to_yuan_string;
use shenfen_gateways::codec::encode_query;
use shenfen_gateways::wechatpay::{self, Payer, TradeState, Transaction, TransactionAmount};
use shenfen_gateways::{Certificate, RsaPrivateKey};
use shenfen_store::{OrderUpdate, PaymentOrder, PaymentStatus};
use time::OffsetDateTime;
use tokio::sync::Mutex;

use super::harness::{Server, fmt_ms, fresh_schema_url, mb, percentile_ms, proc_status, wait_ready};
use crate::config::{AlipayPayConfig, WechatPayConfig};
use crate::crypto;
use crate::payments::providers::demo_keys;

const TARGET_RATE: f64 = 2_000.0;
const TARGET_P99_MS: f64 = 50.0;

#[derive(Parser, Debug)]
#[command(name = "shenfen bench payment-notify", about = "Signed Alipay / WeChat Pay notifications (with duplicates and stale ones) against the callback endpoints; exactly-once check")]
struct Args {
    /// Payment orders (each gets one genuine success notification).
    #[arg(long, default_value_t = 20_000)]
    orders: usize,
    /// Share of notifications sent again, byte for byte (0–1).
    #[arg(long, default_value_t = 0.2)]
    duplicates: f64,
    /// Share of Alipay orders that also get an earlier WAIT_BUYER_PAY notice, delivered in any order (0–1).
    #[arg(long, default_value_t = 0.05)]
    stale: f64,
    /// Notifications per second (open loop); 0 = as fast as the senders go (closed loop).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Concurrent senders (connections).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// PostgreSQL base URL (a fresh schema is created in it); without it the run uses SQLite.
    #[arg(long)]
    postgres: Option<String>,
    /// Server instances on the one PostgreSQL database (SQLite always runs one).
    #[arg(long, default_value_t = 2)]
    instances: usize,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep the temporary directory (server logs, SQLite database).
    #[arg(long)]
    keep: bool,
}

pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let args = Args::try_parse_from(std::iter::once("payment-notify".to_string()).chain(args.iter().cloned())).map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.orders == 0 || args.concurrency == 0 || args.instances == 0 || !(0.0..=1.0).contains(&args.duplicates) || !(0.0..=1.0).contains(&args.stale) || args.rate < 0.0 {
        bail!("--orders, --concurrency and --instances must be at least 1; --duplicates and --stale between 0 and 1; --rate not negative");
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

/// One HTTP request a provider would make.
struct Notice {
    provider: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
}

/// A cheap, repeatable pseudo-random sequence (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn alipay_notice(o: &PaymentOrder, status: &str, key: &RsaPrivateKey, app_id: &str, i: usize, now: OffsetDateTime) -> anyhow::Result<Notice> {
    let mut p = alipay::Params::new();
    let mut put = |k: &str, v: String| {
        p.insert(k.to_string(), v);
    };
    put("notify_time", alipay::format_timestamp(now));
    put("notify_type", "trade_status_sync".into());
    put("notify_id", format!("{}{:012}{}", if status == "TRADE_SUCCESS" { "s" } else { "w" }, i, uuid::Uuid::now_v7().simple()));
    put("charset", "utf-8".into());
    put("version", "1.0".into());
    put("app_id", app_id.to_string());
    put("out_trade_no", o.order_no.clone());
    put("trade_no", format!("20261126220014{i:014}"));
    put("trade_status", status.to_string());
    put("total_amount", fen_to_yuan_string(o.amount_fen as u64));
    put("subject", "居民身份证换领工本费".into());
    put("gmt_create", alipay::format_timestamp(now - time::Duration::minutes(2)));
    if status == "TRADE_SUCCESS" {
        put("receipt_amount", fen_to_yuan_string(o.amount_fen as u64));
        put("gmt_payment", alipay::format_timestamp(now));
    }
    let signed = alipay::sign_notify(&p, key).map_err(|e| anyhow::anyhow!("alipay sign: {}", e.code()))?;
    Ok(Notice {
        provider: "alipay",
        headers: vec![("content-type", "application/x-www-form-urlencoded;charset=utf-8".into())],
        body: encode_query(signed.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    })
}

fn wechat_notice(o: &PaymentOrder, key: &RsaPrivateKey, serial: &str, c: &WechatPayConfig, apiv3: &[u8], i: usize, now: OffsetDateTime) -> anyhow::Result<Notice> {
    let t = Transaction {
        appid: c.appid.clone(),
        mchid: c.mchid.clone(),
        out_trade_no: o.order_no.clone(),
        transaction_id: Some(format!("42000026122026112{i:011}")),
        trade_type: Some("MWEB".into()),
        trade_state: TradeState::Success,
        trade_state_desc: Some("支付成功".into()),
        bank_type: Some("OTHERS".into()),
        attach: None,
        success_time: Some(now.to_offset(time::macros::offset!(+8)).replace_nanosecond(0).unwrap_or(now).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()),
        payer: Some(Payer { openid: Some(format!("oBench{i:020}")) }),
        amount: Some(TransactionAmount { total: Some(o.amount_fen as u64), payer_total: Some(o.amount_fen as u64), currency: Some("CNY".into()), payer_currency: Some("CNY".into()) }),
    };
    let plain = serde_json::to_vec(&t)?;
    let id = uuid::Uuid::now_v7().to_string();
    let create_time = t.success_time.clone().unwrap_or_default();
    let body = wechatpay::build_callback(&id, &create_time, "TRANSACTION.SUCCESS", "支付成功", "transaction", "transaction", &crypto::new_token()[..12], &plain, apiv3)
        .map_err(|e| anyhow::anyhow!("wechat callback: {}", e.code()))?;
    let h = wechatpay::sign_response(serial, now.unix_timestamp(), &crypto::new_token()[..32], body.as_bytes(), key).map_err(|e| anyhow::anyhow!("wechat sign: {}", e.code()))?;
    Ok(Notice {
        provider: "wechat",
        headers: vec![
            ("content-type", "application/json".into()),
            ("wechatpay-timestamp", h.timestamp),
            ("wechatpay-nonce", h.nonce),
            ("wechatpay-signature", h.signature),
            ("wechatpay-serial", h.serial),
        ],
        body,
    })
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    /// (provider, status) → count
    statuses: HashMap<(&'static str, u16), u64>,
    /// Answered, but not with the provider's "received" (Alipay `success`, WeChat 204).
    not_acknowledged: u64,
    transport_errors: u64,
}

async fn bench(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let (cookie, field, blind) = (crypto::random_hex_key(), crypto::random_hex_key(), crypto::random_hex_key());
    let (database_url, instances) = match &args.postgres {
        Some(base) => (Some(fresh_schema_url(base, "notify").await?), args.instances),
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
    // The first instance migrates and seeds; the others join it. Demo mode: the adapters hold the demo keys that
    // the notifications below are signed with (the same keys the sandboxes use).
    let mut servers = Vec::new();
    for i in 1..=instances {
        let idir = dir.join(format!("instance-{i}"));
        std::fs::create_dir_all(&idir)?;
        let server = Server::start(&idir, &env)?;
        wait_ready(&server, &idir.join("server.log")).await?;
        servers.push(server);
    }
    let bases: Vec<String> = servers.iter().map(|s| format!("http://{}", s.addr)).collect();

    // Orders already at the provider's cashier.
    let store = shenfen_store::connect(&store_url).await?;
    let clock = crate::app::Clock::default();
    let started = Instant::now();
    let mut orders = Vec::with_capacity(args.orders);
    for i in 0..args.orders {
        let now = clock.now_ms();
        let o = PaymentOrder {
            id: shenfen_store::new_id(),
            order_no: shenfen_store::order_number(),
            citizen_id: None,
            reference: format!("bench:{i}"),
            item: "renewal".into(),
            amount_fen: 2000,
            channel: None,
            status: PaymentStatus::Created,
            failure_code: None,
            provider_trade_no: None,
            refunded_fen: 0,
            point_id: None,
            staff_id: None,
            cash_received_fen: None,
            created_at: now,
            updated_at: now,
            expires_at: now + 48 * 3_600_000,
            paid_at: None,
            opened_at: Some(now),
        };
        store.create_order(&o, None).await?;
        let channel = if i % 2 == 0 { "alipay" } else { "wechat" };
        let update = OrderUpdate { channel: Some(channel.into()), ..Default::default() };
        let o = store.change_status(&o.order_no, &[PaymentStatus::Created], PaymentStatus::Submitted, &update, now).await?.context("order not submitted")?;
        orders.push(o);
    }
    println!("{} submitted orders created in {:.1} s", args.orders, started.elapsed().as_secs_f64());

    // What the providers send, signed now (WeChat's signature is good for 5 minutes), on all cores.
    let started = Instant::now();
    let orders = Arc::new(orders);
    let stale_every = if args.stale > 0.0 { (2.0 / args.stale).round().max(2.0) as usize } else { usize::MAX };
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let mut jobs = Vec::new();
    for w in 0..workers {
        let orders = orders.clone();
        jobs.push(tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(usize, Notice)>> {
            let provider_key = RsaPrivateKey::from_pem(demo_keys::PLATFORM_KEY).map_err(|e| anyhow::anyhow!("{}", e.code()))?;
            let serial = Certificate::from_pem(demo_keys::PLATFORM_CERT).map_err(|e| anyhow::anyhow!("{}", e.code()))?.serial_hex_upper();
            let (alipay_cfg, wechat_cfg) = (AlipayPayConfig::default(), WechatPayConfig::default());
            let now = OffsetDateTime::now_utc();
            let mut out = Vec::new();
            for (i, o) in orders.iter().enumerate().filter(|(i, _)| i % workers == w) {
                if i % 2 == 0 {
                    out.push((i, alipay_notice(o, "TRADE_SUCCESS", &provider_key, &alipay_cfg.app_id, i, now)?));
                    if i % stale_every == 0 {
                        out.push((i, alipay_notice(o, "WAIT_BUYER_PAY", &provider_key, &alipay_cfg.app_id, i, now - time::Duration::minutes(1))?));
                    }
                } else {
                    out.push((i, wechat_notice(o, &provider_key, &serial, &wechat_cfg, demo_keys::WECHAT_APIV3_KEY.as_bytes(), i, now)?));
                }
            }
            Ok(out)
        }));
    }
    let mut notices: Vec<Notice> = Vec::new();
    let mut genuine = Vec::new();
    for j in jobs {
        for (i, n) in j.await?? {
            if n.body.contains("WAIT_BUYER_PAY") {
                notices.push(n);
            } else {
                genuine.push((i, notices.len()));
                notices.push(n);
            }
        }
    }
    let mut rng = Rng(0x5EED_0F5E_ED5E_ED01);
    let dups = (genuine.len() as f64 * args.duplicates).round() as usize;
    let mut plan: Vec<usize> = (0..notices.len()).collect();
    for _ in 0..dups {
        plan.push(genuine[rng.below(genuine.len())].1);
    }
    for i in (1..plan.len()).rev() {
        plan.swap(i, rng.below(i + 1));
    }
    let stale = notices.len() - genuine.len();
    println!(
        "{} notifications prepared in {:.1} s: {} genuine, {dups} repeated, {stale} stale WAIT_BUYER_PAY; shuffled",
        plan.len(),
        started.elapsed().as_secs_f64(),
        genuine.len()
    );

    // Fire.
    let notices = Arc::new(notices);
    let plan = Arc::new(plan);
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency + 8).timeout(Duration::from_secs(30)).build()?;
    let load_started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.concurrency {
        let (client, notices, plan, next, tally, base) = (client.clone(), notices.clone(), plan.clone(), next.clone(), tally.clone(), bases[w % bases.len()].clone());
        let rate = args.rate;
        tasks.push(tokio::spawn(async move {
            let mut local = Tally::default();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&idx) = plan.get(k) else { break };
                if rate > 0.0 {
                    let due = load_started + Duration::from_secs_f64(k as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let n = &notices[idx];
                let mut req = client.post(format!("{base}/callbacks/payments/{}", n.provider)).body(n.body.clone());
                for (k, v) in &n.headers {
                    req = req.header(*k, v);
                }
                let t0 = Instant::now();
                match req.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let text = resp.text().await.unwrap_or_default();
                        local.latencies_us.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        *local.statuses.entry((n.provider, status)).or_default() += 1;
                        let acknowledged = match n.provider {
                            "alipay" => status == 200 && text == "success",
                            _ => status == 204 || status == 200,
                        };
                        if !acknowledged {
                            local.not_acknowledged += 1;
                        }
                    }
                    Err(_) => local.transport_errors += 1,
                }
            }
            let mut t = tally.lock().await;
            t.latencies_us.extend(local.latencies_us);
            t.not_acknowledged += local.not_acknowledged;
            t.transport_errors += local.transport_errors;
            for (k, v) in local.statuses {
                *t.statuses.entry(k).or_default() += v;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let elapsed = load_started.elapsed().as_secs_f64();
    let peak = servers.iter().filter_map(|s| proc_status(s.child.id())).map(|m| m.hwm_kb).max();
    for s in servers {
        s.stop();
    }

    // Afterwards: one state change per order, nobody paid twice.
    let mut successes: HashMap<String, u32> = HashMap::new();
    let mut after = 0;
    loop {
        let page = store.audit_entries(after, 5000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page.iter().filter(|e| e.record.action == "payment.success") {
            *successes.entry(e.record.target.trim_start_matches("payment:").to_string()).or_default() += 1;
        }
    }
    let mut unpaid = 0;
    let mut double = 0;
    let mut exactly_once = 0;
    for o in orders.iter() {
        let now = store.order_by_no(&o.order_no).await?.context("order vanished")?;
        if now.status != PaymentStatus::Success {
            unpaid += 1;
        }
        match successes.get(&o.order_no).copied().unwrap_or(0) {
            1 => exactly_once += 1,
            0 => {}
            _ => double += 1,
        }
    }

    let mut t = Arc::try_unwrap(tally).map_err(|_| anyhow::anyhow!("senders still running"))?.into_inner();
    let handled = t.latencies_us.len();
    let rate = handled as f64 / elapsed;
    let (p50, p99, max) = (percentile_ms(&mut t.latencies_us, 0.50), percentile_ms(&mut t.latencies_us, 0.99), percentile_ms(&mut t.latencies_us, 1.0));
    let mut statuses: Vec<String> = t.statuses.iter().map(|((p, s), n)| format!("{p} {s}×{n}")).collect();
    statuses.sort();
    println!();
    println!(
        "payment-notify — {} CPU(s), {} × {} instance(s), {} senders, {}, {:.1} s",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        if database_url.is_some() { "PostgreSQL" } else { "SQLite" },
        instances,
        args.concurrency,
        if args.rate > 0.0 { format!("open loop at {:.0}/s", args.rate) } else { "closed loop".into() },
        elapsed
    );
    println!("notifications handled {handled} ({rate:.0}/s); p50 {} p99 {} max {}; {}", fmt_ms(p50), fmt_ms(p99), fmt_ms(max), statuses.join(", "));
    println!(
        "orders {}: paid exactly once {exactly_once}, not paid {unpaid}, credited twice {double}; not acknowledged {}, transport errors {}",
        orders.len(),
        t.not_acknowledged,
        t.transport_errors
    );
    if let Some(kb) = peak {
        println!("largest server RSS high-water mark: {}", mb(kb));
    }
    let verdicts = [
        (format!("≥ {TARGET_RATE:.0} verified notifications/s"), format!("{rate:.0}"), rate >= TARGET_RATE),
        (format!("p99 ≤ {TARGET_P99_MS:.0} ms"), fmt_ms(p99), p99 <= TARGET_P99_MS),
        ("exactly one state change per order".to_string(), format!("{exactly_once} of {}", orders.len()), exactly_once == orders.len() && unpaid == 0),
        ("zero double credits".to_string(), double.to_string(), double == 0),
        ("every notification acknowledged".to_string(), format!("{} not, {} transport errors", t.not_acknowledged, t.transport_errors), t.not_acknowledged == 0 && t.transport_errors == 0),
    ];
    for (what, got, ok) in &verdicts {
        println!("  [{}] {what}: {got}", if *ok { "MET " } else { "MISS" });
    }
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "scenario": "payment-notify", "backend": if database_url.is_some() { "postgres" } else { "sqlite" },
            "instances": instances, "orders": orders.len(), "notifications": handled, "seconds": elapsed, "per_sec": rate,
            "rate": args.rate, "concurrency": args.concurrency, "p50_ms": p50, "p99_ms": p99, "max_ms": max,
            "exactly_once": exactly_once, "unpaid": unpaid, "double_credits": double, "not_acknowledged": t.not_acknowledged,
            "transport_errors": t.transport_errors,
            "targets": verdicts.iter().map(|(w, g, ok)| serde_json::json!({ "target": w, "measured": g, "met": ok })).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    if double > 0 || unpaid > 0 || exactly_once != orders.len() {
        bail!("consistency check failed: notifications were not applied exactly once");
    }
    Ok(())
}
