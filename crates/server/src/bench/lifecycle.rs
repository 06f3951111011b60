//! `shenfen bench lifecycle`: a province-month of ID-card applications pushed through the domain's state machine and
//! the storage layer, time-compressed. Each application follows a realistic path (kinds, channels, review outcomes,
//! payment, production, EMS or pickup) with simulated stage durations; every move is decided by
//! `applications::transition` and written by `apply_transition` (versioned update + timeline row in one
//! transaction), exactly as the service does. Reports transitions per second, the SLA distribution the simulated
//! durations produce on the official holiday calendar, and the database size per 100,000 applications.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shenfen_domain::applications::{self as rules, ApplicationEvent, ApplicationKind, ApplicationState, Channel, DeliveryMethod, TransitionContext};
use shenfen_domain::calendar::WorkCalendar;
use shenfen_domain::sla::{self, SlaPolicy, SlaStatus};
use shenfen_store::{Application, ApplicationChanges, AppliedTransition, DynStore};

#[derive(Parser, Debug)]
#[command(name = "shenfen bench lifecycle")]
struct Args {
    /// Applications to simulate (a province-month: Anhui issues roughly 200,000 cards a month).
    #[arg(long, default_value_t = 200_000)]
    applications: u64,
    /// Concurrent simulated workers (officers, jobs, callbacks) writing at once.
    #[arg(long, default_value_t = 32)]
    concurrency: u64,
    /// Run against this PostgreSQL database (a fresh schema is created) instead of a temporary SQLite file.
    #[arg(long)]
    postgres: Option<String>,
    #[arg(long, default_value_t = 2019)]
    seed: u64,
}

/// Start of the simulated month: 2026-09-21 00:00 China time, so the month spans the National Day holiday week and
/// the working-day arithmetic is visibly not calendar days.
const MONTH_START_MS: i64 = 1_790_006_400_000 - 8 * 3_600_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// One application's simulated life: the events in order, each with the hours it takes to get there.
fn plan(rng: &mut StdRng) -> (ApplicationKind, Channel, DeliveryMethod, Vec<(ApplicationEvent, i64)>) {
    let kind = match rng.gen_range(0..100) {
        0..=54 => ApplicationKind::RenewalExpiry,
        55..=69 => ApplicationKind::ReplacementLost,
        70..=79 => ApplicationKind::ReplacementDamaged,
        80..=87 => ApplicationKind::RenewalChange,
        88..=95 => ApplicationKind::FirstIssue,
        _ => ApplicationKind::TemporaryCard,
    };
    let channel = match rng.gen_range(0..100) {
        0..=59 => Channel::Online,
        60..=79 => Channel::OnlineThenCounter,
        _ => Channel::Counter,
    };
    let delivery = if rng.gen_range(0..100) < 75 { DeliveryMethod::Ems } else { DeliveryMethod::Pickup };
    let mut ev = vec![(ApplicationEvent::Submit, 0)];
    let review_wait = rng.gen_range(1..36);
    ev.push((ApplicationEvent::StartReview { reviewer: 1 }, review_wait));
    let r = rng.gen_range(0..1000);
    if r < 30 {
        ev.push((ApplicationEvent::Reject { reason: "材料不符".into() }, 1));
        return (kind, channel, delivery, ev);
    }
    if r < 130 {
        ev.push((ApplicationEvent::Return { reasons: vec![rules::ReturnReason::PhotoNonconforming] }, 1));
        ev.push((ApplicationEvent::Resubmit, rng.gen_range(2..48)));
        ev.push((ApplicationEvent::StartReview { reviewer: 1 }, rng.gen_range(1..24)));
    }
    if r < 150 {
        ev.push((ApplicationEvent::Cancel { by: rules::Actor::Citizen }, 2));
        return (kind, channel, delivery, ev);
    }
    ev.push((ApplicationEvent::Approve, 1));
    ev.push((ApplicationEvent::RequestPayment, 0));
    if rng.gen_range(0..100) < 3 {
        ev.push((ApplicationEvent::PaymentWindowExpired, 49));
        return (kind, channel, delivery, ev);
    }
    ev.push((ApplicationEvent::PaymentSucceeded, rng.gen_range(0..30)));
    ev.push((ApplicationEvent::StartProduction, rng.gen_range(2..30)));
    ev.push((ApplicationEvent::MarkProduced, rng.gen_range(24..120)));
    if rng.gen_range(0..100) < 2 {
        ev.push((ApplicationEvent::FailQualityCheck, 4));
        ev.push((ApplicationEvent::MarkProduced, rng.gen_range(24..48)));
    }
    ev.push((ApplicationEvent::PassQualityCheck, rng.gen_range(1..12)));
    match delivery {
        DeliveryMethod::Ems => {
            ev.push((ApplicationEvent::Dispatch { tracking_no: "EA000000000CN".into() }, rng.gen_range(2..24)));
            if rng.gen_range(0..100) < 2 {
                ev.push((ApplicationEvent::DeliveryFailedReturned, 72));
                ev.push((ApplicationEvent::Collected { fingerprint_verified: true }, rng.gen_range(24..120)));
            } else {
                ev.push((ApplicationEvent::Delivered { face_verified: true }, rng.gen_range(20..72)));
            }
        }
        DeliveryMethod::Pickup => {
            ev.push((ApplicationEvent::RouteToPickup { point: 1 }, rng.gen_range(2..24)));
            ev.push((ApplicationEvent::Collected { fingerprint_verified: true }, rng.gen_range(24..168)));
        }
    }
    ev.push((ApplicationEvent::Close, 1));
    (kind, channel, delivery, ev)
}

fn application(i: u64, kind: ApplicationKind, channel: Channel, delivery: DeliveryMethod, created: i64, rng: &mut StdRng) -> Application {
    let id = shenfen_store::new_id();
    // Realistically sized ciphertexts (nonce + name/number/address + tag).
    let mut bytes = |n: usize| (0..n).map(|_| rng.r#gen::<u8>()).collect::<Vec<u8>>();
    Application {
        ref_no: format!("SQB{i:010}"),
        id,
        citizen_id: None,
        kind,
        channel,
        state: ApplicationState::Draft,
        version: 1,
        applicant_name_enc: bytes(37),
        applicant_name_masked: "张*".into(),
        applicant_id_enc: bytes(46),
        applicant_id_masked: "3401**********123X".into(),
        applicant_id_blind: format!("{:064x}", i),
        division_code: ["340102", "340103", "340104", "340111", "340202", "340302", "341302"][(i % 7) as usize].into(),
        point_id: None,
        portrait_source: Some("phone".into()),
        portrait_id: Some(shenfen_store::new_id()),
        delivery_method: delivery,
        delivery_division: Some("340104".into()),
        delivery_address_enc: Some(bytes(88)),
        delivery_address_masked: Some("安徽省合肥市蜀山****".into()),
        recipient_phone: Some("13800000000".into()),
        pickup_point_id: None,
        fee_waived: false,
        fee_fen: 2000,
        postage_fen: if delivery == DeliveryMethod::Ems { 1200 } else { 0 },
        payment_order_no: None,
        appointment_id: None,
        return_reasons: None,
        return_note: None,
        reject_reason: None,
        tracking_no: None,
        batch_id: None,
        claimed_by: None,
        claim_until: None,
        submitted_at: None,
        approved_at: None,
        payment_due_at: None,
        finished_at: None,
        created_at: created,
        updated_at: created,
    }
}

/// Runs one application through its plan; returns the number of moves and (state, time) of its timeline.
async fn live(store: &DynStore, i: u64, seed: u64) -> anyhow::Result<(u64, Vec<(ApplicationState, i64)>, Vec<u128>)> {
    let mut rng = StdRng::seed_from_u64(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let (kind, channel, delivery, events) = plan(&mut rng);
    let created = MONTH_START_MS + rng.gen_range(0..30 * DAY);
    let mut app = application(i, kind, channel, delivery, created, &mut rng);
    store.insert_application(&app).await?;
    let ctx = TransitionContext { channel, delivery, fee_waived: false, has_appointment: false };
    let mut at = created + rng.gen_range(0..2 * HOUR);
    let mut moves = 0;
    let mut timeline = Vec::with_capacity(events.len());
    let mut lat = Vec::with_capacity(events.len());
    for (event, hours) in events {
        at += hours * HOUR + rng.gen_range(0..HOUR);
        let t = rules::transition(app.state, &event, &ctx).map_err(|e| anyhow::anyhow!("plan made an illegal move: {e}"))?;
        let mut changes = ApplicationChanges::default();
        if matches!(event, ApplicationEvent::Submit) {
            changes.submitted_at = Some(at);
        }
        if let ApplicationEvent::Dispatch { tracking_no } = &event {
            changes.tracking_no = Some(tracking_no.clone());
        }
        let applied = AppliedTransition {
            application_id: app.id.clone(),
            expected_version: app.version,
            from: app.state,
            to: t.to,
            changes,
            event: event.code().into(),
            actor_kind: "staff".into(),
            actor_id: "bench".into(),
            detail: "{}".into(),
            online_cancellation: t.counts_as_online_cancellation,
            failed_photo_review: t.failed_photo_review,
            at,
        };
        let started = Instant::now();
        app = store.apply_transition(&applied).await?.context("a move was lost to a concurrent writer")?;
        lat.push(started.elapsed().as_micros());
        moves += 1;
        timeline.push((app.state, at));
    }
    Ok((moves, timeline, lat))
}

fn day_of(ms: i64) -> time::Date {
    crate::appointments::ms_to_local(ms).date()
}

pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let args = Args::try_parse_from(std::iter::once("shenfen bench lifecycle".to_string()).chain(args.iter().cloned()))?;
    let dir = std::env::temp_dir().join(format!("shenfen-lifecycle-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir)?;
    let db_path = dir.join("lifecycle.db");
    let store: DynStore = match &args.postgres {
        Some(base) => {
            shenfen_store::connect(&super::harness::fresh_schema_url(base, "lifecycle").await?).await?
        }
        None => {
            shenfen_store::connect(&format!("sqlite://{}", db_path.display())).await?
        }
    };
    store.migrate().await?;
    println!("lifecycle: {} applications, {} workers, {}", args.applications, args.concurrency, if args.postgres.is_some() { "PostgreSQL" } else { "SQLite" });

    let next = Arc::new(AtomicU64::new(0));
    let moves = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (store, next, moves) = (store.clone(), next.clone(), moves.clone());
        let (n, seed) = (args.applications, args.seed);
        workers.push(tokio::spawn(async move {
            let mut timelines = Vec::new();
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let (m, tl, l) = live(&store, i, seed).await?;
                moves.fetch_add(m, Ordering::Relaxed);
                timelines.push(tl);
                lat.extend(l);
            }
            anyhow::Ok((timelines, lat))
        }));
    }
    let mut timelines = Vec::new();
    let mut lat = Vec::new();
    for w in workers {
        let (t, l) = w.await??;
        timelines.extend(t);
        lat.extend(l);
    }
    let secs = started.elapsed().as_secs_f64();
    let total = moves.load(Ordering::Relaxed);
    lat.sort_unstable();
    let pct = |p: f64| lat.get(((lat.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0) as f64 / 1000.0;
    println!("transitions: {total} in {secs:.1} s = {:.0} transitions/s ({:.0} applications/s)", total as f64 / secs, args.applications as f64 / secs);
    println!("write latency per transition: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", pct(0.5), pct(0.99), pct(1.0));

    // The SLA distribution the simulated stage durations produce, on the official calendar.
    let calendar = WorkCalendar::official();
    let policy = SlaPolicy::default();
    let today = day_of(MONTH_START_MS + 90 * DAY);
    let mut cycles = Vec::new();
    let mut per_stage: [Vec<i64>; 4] = Default::default();
    let mut met = 0usize;
    let mut buckets = [0usize; 5];
    for tl in &timelines {
        let dated: Vec<(ApplicationState, time::Date)> = std::iter::once((ApplicationState::Submitted, day_of(tl[0].1))).chain(tl.iter().skip(1).map(|(s, at)| (*s, day_of(*at)))).collect();
        let Some(status) = policy.status_from_timeline(calendar, &dated, today) else { continue };
        let (Some(sub), Some(done)) = (sla::submitted_on(&dated), sla::completed_on(&dated)) else { continue };
        let days = calendar.working_days_between(sub, done).max(0);
        cycles.push(days);
        met += (status == SlaStatus::Met) as usize;
        buckets[match days {
            0..=5 => 0,
            6..=10 => 1,
            11..=15 => 2,
            16..=20 => 3,
            _ => 4,
        }] += 1;
        let sd = sla::stage_working_days(calendar, &dated, done);
        for (i, v) in [sd.review, sd.payment, sd.production, sd.logistics].into_iter().enumerate() {
            per_stage[i].push(v);
        }
    }
    let n = cycles.len().max(1) as f64;
    println!(
        "SLA over {} cards issued: met {:.1}% · cycle median {:.1} / p90 {:.1} working days · ≤5: {:.1}%, 6–10: {:.1}%, 11–15: {:.1}%, 16–20: {:.1}%, >20: {:.1}%",
        cycles.len(),
        met as f64 * 100.0 / n,
        sla::median(&cycles).unwrap_or(0.0),
        sla::p90(&cycles).unwrap_or(0.0),
        buckets[0] as f64 * 100.0 / n,
        buckets[1] as f64 * 100.0 / n,
        buckets[2] as f64 * 100.0 / n,
        buckets[3] as f64 * 100.0 / n,
        buckets[4] as f64 * 100.0 / n
    );
    for (name, v) in ["review", "payment", "production", "logistics"].iter().zip(per_stage.iter()) {
        println!("  stage {name:<10} median {:.1}  p90 {:.1} working days", sla::median(v).unwrap_or(0.0), sla::p90(v).unwrap_or(0.0));
    }

    // Database size per 100,000 applications (rows, timeline and indexes; portraits are not simulated).
    let bytes = store.storage_bytes().await? as u64;
    println!(
        "database: {:.1} MB for {} applications and {} timeline rows = {:.1} MB per 100,000 applications",
        bytes as f64 / 1e6,
        args.applications,
        total,
        bytes as f64 / 1e6 * 100_000.0 / args.applications as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
