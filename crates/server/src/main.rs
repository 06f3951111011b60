//! `shenfen`: the one binary. `serve` (default), `migrate`, `seed-demo`, `audit verify`, `staff …`, `backup`,
//! `restore`, `config reference`, `retention run`, `photo …`, `bench <scenario>`. Operator commands live in `cli.rs`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shenfen_server::app::Clock;
use shenfen_server::config::Config;

#[derive(Parser)]
#[command(name = "shenfen", version, about = "居民身份证网上服务平台 — resident ID card online services")]
struct Cli {
    /// TOML configuration file (also SHENFEN_CONFIG; ./shenfen.toml is read when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Insert demo acceptance points and staff accounts where none exist.
    SeedDemo,
    /// Audit-log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Portrait engine: check photos against the ID photo standard, standardize, pick the best of several.
    Photo {
        #[command(subcommand)]
        command: shenfen_portrait::PhotoCommand,
    },
    /// Staff accounts: add, disable, enable, reset, list (audited as the operator).
    Staff {
        #[command(subcommand)]
        command: shenfen_server::cli::StaffCommand,
    },
    /// Back up the database (`--to DIR|FILE`), or `backup check FILE`.
    Backup(shenfen_server::cli::BackupArgs),
    /// Restore a backup into a database, refusing damaged or foreign files.
    Restore(shenfen_server::cli::RestoreArgs),
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: shenfen_server::cli::ConfigCommand,
    },
    /// Data retention.
    Retention {
        #[command(subcommand)]
        command: shenfen_server::cli::RetentionCommand,
    },
    /// One person's data on request: export it as JSON, or erase it (audited as the operator).
    Person {
        #[command(subcommand)]
        command: shenfen_server::cli::PersonCommand,
    },
    /// Run a benchmark scenario (`shenfen bench list` shows them).
    Bench {
        scenario: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Re-compute the hash chain and report the first edited, inserted or deleted entry.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The photo tools need no configuration, database or runtime.
    let command = match cli.command {
        Some(Command::Photo { command }) => return shenfen_portrait::run(command),
        Some(Command::Config { command }) => return shenfen_server::cli::config(command),
        other => other,
    };
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("shenfen: {e:#}");
            return ExitCode::from(2);
        }
    };
    if matches!(command, Some(Command::Person { .. })) {
        shenfen_server::telemetry::init_on_stderr(config.log_format);
    } else {
        shenfen_server::telemetry::init(config.log_format);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("shenfen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command.unwrap_or(Command::Serve), config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("shenfen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => {
            let state = shenfen_server::build_state(config, Clock::default()).await?;
            shenfen_server::app::serve(state).await?;
        }
        Command::Migrate => {
            let store = shenfen_store::connect(&config.database_url()).await?;
            store.migrate().await?;
            println!("migrations applied ({:?})", store.backend());
        }
        Command::SeedDemo => {
            // In demo mode start-up already seeds; this also seeds a non-demo database on purpose.
            let state = shenfen_server::build_state(config, Clock::default()).await?;
            shenfen_server::demo::seed(&state.store, state.now_ms()).await?;
            let points = state.store.list_points().await?.len();
            let staff = state.store.list_staff().await?.len();
            println!("demo data present: {points} acceptance points, {staff} staff accounts");
        }
        Command::Audit { command: AuditCommand::Verify } => return shenfen_server::cli::audit_verify(&config).await,
        Command::Staff { command } => return shenfen_server::cli::staff(command, &config).await,
        Command::Backup(args) => return shenfen_server::cli::backup(args, &config).await,
        Command::Restore(args) => return shenfen_server::cli::restore(args, &config).await,
        Command::Retention { command } => return shenfen_server::cli::retention(command, config).await,
        Command::Person { command } => return shenfen_server::cli::person(command, config).await,
        Command::Photo { .. } | Command::Config { .. } => unreachable!("handled before start-up"),
        Command::Bench { scenario, args } => {
            if scenario == "list" {
                for s in shenfen_server::bench::SCENARIOS {
                    println!("{:<16} {}", s.name, s.about);
                }
                if shenfen_server::bench::SCENARIOS.is_empty() {
                    println!("(no scenarios registered yet)");
                }
            } else {
                shenfen_server::bench::run(&scenario, &args).await?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
