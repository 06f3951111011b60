//! `shenfen bench <scenario>`: the benchmark scenarios named in the issues, one entry each.

use anyhow::bail;

pub mod booking_surge;
pub mod harness;
pub mod http_baseline;
pub mod lifecycle;
pub mod payment_notify;
pub mod nginx;
pub mod scale_out;
pub mod notify;

pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
}

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "http-baseline",
        about: "wrk against /healthz and the authenticated profile read (/api/v1/me) at 64 and 512 connections; req/s, p50/p99, RSS",
    },
    Scenario {
        name: "booking-surge",
        about: "2,000 concurrent citizens load the point list and book the same day at a few points (SQLite, or --postgres URL with 3 instances); req/s, p50/p99, then checks no overbooking and no lost booking",
    },
    Scenario {
        name: "lifecycle",
        about: "a province-month of applications (default 200,000) through the state machine and storage, time-compressed; transitions/s, SLA distribution on the holiday calendar, database size per 100,000 (--postgres URL for PostgreSQL)",
    },
    Scenario {
        name: "payment-notify",
        about: "signed Alipay / WeChat Pay notifications (20% repeated, some stale, shuffled) at the callback endpoints (SQLite, or --postgres URL); notifications/s, p50/p99, then checks one state change per order and no double credit",
    },
    Scenario {
        name: "scale-out",
        about: "booking-surge and the notification queue through nginx (deploy/nginx) with 1, 2 and 3 instances on one PostgreSQL (--postgres URL); req/s or events/s, p99 and errors per instance count",
    },
    Scenario {
        name: "notify",
        about: "100,000 events through the notification queue to the Aliyun SMS sandbox (SQLite, or --postgres URL with 1 or 3 --instances); events/s, latency p50/p99 from event to gateway acceptance, duplicates, losses",
    },
    Scenario {
        name: "photo",
        about: "portrait check and standardize on the test photos and synthetic 1080x1440 / 4032x3024 JPEGs; median/p95 ms, RSS (MediaPipe comparison: bench/photo/mediapipe_compare.sh)",
    },
];

pub async fn run(name: &str, args: &[String]) -> anyhow::Result<()> {
    match SCENARIOS.iter().find(|s| s.name == name) {
        Some(s) => match s.name {
            "http-baseline" => http_baseline::run(args).await,
            "booking-surge" => booking_surge::run(args).await,
            "lifecycle" => lifecycle::run(args).await,
            "payment-notify" => payment_notify::run(args).await,
            "scale-out" => scale_out::run(args).await,
            "notify" => notify::run(args).await,
            "photo" => {
                use clap::Parser;
                #[derive(clap::Parser)]
                #[command(name = "shenfen bench photo")]
                struct PhotoBench {
                    #[command(flatten)]
                    args: shenfen_portrait::bench::BenchArgs,
                }
                let args = PhotoBench::try_parse_from(std::iter::once("shenfen bench photo".to_string()).chain(args.iter().cloned()))?.args;
                let code = tokio::task::spawn_blocking(move || shenfen_portrait::bench::run(args)).await?;
                if code != std::process::ExitCode::SUCCESS {
                    bail!("photo benchmark failed");
                }
                Ok(())
            }
            _ => unreachable!("every registered scenario has a runner"),
        },
        None => bail!("unknown benchmark scenario {name:?}; known: {}", SCENARIOS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")),
    }
}

