//! The operator's commands of `shenfen` (the command tree is in `main.rs`): `staff add|disable|enable|reset|list`,
//! `backup`, `backup check`, `restore`, `config reference`, `retention run` and `person export|erase`. They work on the configured
//! database directly, so they run on the server machine, also while the service is running (except restoring
//! over a live SQLite file, which refuses without `--replace`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::app::Clock;
use crate::config::Config;
use crate::staff_admin::{self, By, Ctx, NewStaffInput};

#[derive(Subcommand)]
pub enum StaffCommand {
    /// Create an account; prints a temporary password that must be changed at first sign-in.
    Add {
        username: String,
        /// Display name, e.g. 张警官.
        #[arg(long)]
        name: String,
        /// reviewer, counter, production or admin.
        #[arg(long)]
        role: String,
        /// province:34, district:340104 or point:<point id>.
        #[arg(long)]
        scope: String,
    },
    /// Disable an account and end its sessions.
    Disable { username: String },
    /// Re-enable a disabled account.
    Enable { username: String },
    /// Give an account a new temporary password (must be changed at next sign-in) and end its sessions.
    Reset {
        username: String,
        /// Also remove the account's second factor (a lost phone).
        #[arg(long)]
        clear_totp: bool,
    },
    /// List every account.
    List,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
    /// A directory (a time-stamped file is made in it) or a file name. SQLite: an online, consistent backup;
    /// PostgreSQL: a pg_dump custom-format archive.
    #[arg(long)]
    pub to: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Validate a backup (a Shenfen SQLite backup or a pg_dump custom-format archive) without restoring it.
    Check { file: PathBuf },
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long)]
    pub from: PathBuf,
    /// Target database: a SQLite path or sqlite:// URL, or a postgres:// URL (default: the configured database).
    #[arg(long)]
    pub to: Option<String>,
    /// Replace an existing SQLite database (stop the server first; the old file is kept beside it).
    #[arg(long)]
    pub replace: bool,
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the configuration reference (Markdown; docs/config.md is this output).
    Reference,
}

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Delete everything past its retention period now (the server also does this daily).
    Run,
}

/// Names the person by exactly one of mobile number and ID number.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct PersonArg {
    /// The person's mobile number.
    #[arg(long)]
    pub phone: Option<String>,
    /// The person's ID number.
    #[arg(long)]
    pub id_number: Option<String>,
}

impl PersonArg {
    fn query(&self) -> &str {
        self.phone.as_deref().or(self.id_number.as_deref()).unwrap_or_default()
    }
}

#[derive(Subcommand)]
pub enum PersonCommand {
    /// Print (or write with --out) everything held about one person as JSON, in clear, to give to them (audited).
    Export {
        #[command(flatten)]
        person: PersonArg,
        /// Write to this file (created, never overwritten) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Erase one person's data (audited; cannot be undone). Finished applications and payment records are kept
    /// for their legal periods, detached from the account; refused while an application or payment is under way.
    Erase {
        #[command(flatten)]
        person: PersonArg,
        /// Why, e.g. the person's written request and its reference (recorded in the audit log).
        #[arg(long)]
        reason: String,
    },
}

fn by_cli() -> By {
    By::cli()
}

fn fail(e: crate::error::AppError) -> anyhow::Error {
    anyhow::anyhow!("{} ({})", e.message_en, e.code)
}

pub async fn staff(command: StaffCommand, config: &Config) -> anyhow::Result<ExitCode> {
    let store = shenfen_store::connect(&config.database_url()).await?;
    store.migrate().await?;
    let ctx = Ctx { store: &store, now: Clock::default().now_ms() };
    let by = by_cli();
    match command {
        StaffCommand::Add { username, name, role, scope } => {
            let (kind, code) = scope.split_once(':').ok_or_else(|| anyhow::anyhow!("--scope is KIND:CODE, e.g. district:340104"))?;
            let input = NewStaffInput { username, display_name: name, role, scope_kind: kind.into(), scope_code: code.into() };
            let (s, password) = staff_admin::create(&ctx, &by, &input, None).await.map_err(fail)?;
            println!("created {} ({}, {}:{})", s.username, s.role, s.scope.kind, s.scope.code);
            println!("temporary password: {password}");
            println!("(shown once; it must be changed at first sign-in)");
        }
        StaffCommand::Disable { username } => {
            let s = staff_admin::by_username(&store, &username).await.map_err(|_| anyhow::anyhow!("no account {username:?}"))?;
            staff_admin::set_active(&ctx, &by, &s.id, false).await.map_err(fail)?;
            println!("disabled {username}; its sessions have ended");
        }
        StaffCommand::Enable { username } => {
            let s = staff_admin::by_username(&store, &username).await.map_err(|_| anyhow::anyhow!("no account {username:?}"))?;
            staff_admin::set_active(&ctx, &by, &s.id, true).await.map_err(fail)?;
            println!("enabled {username}");
        }
        StaffCommand::Reset { username, clear_totp } => {
            let s = staff_admin::by_username(&store, &username).await.map_err(|_| anyhow::anyhow!("no account {username:?}"))?;
            let (_, password) = staff_admin::reset_password(&ctx, &by, &s.id, clear_totp).await.map_err(fail)?;
            println!("reset {username}{}; its sessions have ended", if clear_totp { " and removed its second factor" } else { "" });
            println!("temporary password: {password}");
            println!("(shown once; it must be changed at next sign-in)");
        }
        StaffCommand::List => {
            println!("{:<24} {:<11} {:<24} {:<8} {:<4} {:<6} name", "username", "role", "scope", "status", "2fa", "rotate");
            for s in store.list_staff().await? {
                let sec = store.staff_security(&s.id).await?.unwrap_or_default();
                println!(
                    "{:<24} {:<11} {:<24} {:<8} {:<4} {:<6} {}",
                    s.username,
                    s.role.as_str(),
                    format!("{}:{}", s.scope.kind, s.scope.code),
                    if s.active { "active" } else { "disabled" },
                    if sec.totp_secret_enc.is_some() { "on" } else { "off" },
                    if sec.must_change_password { "yes" } else { "no" },
                    s.display_name
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn backup(args: BackupArgs, config: &Config) -> anyhow::Result<ExitCode> {
    if let Some(BackupCommand::Check { file }) = args.command {
        let scratch = std::env::temp_dir();
        return match crate::backup::check(&file, &scratch).await {
            Ok(crate::backup::Checked::Shenfen(m, info)) => {
                println!(
                    "OK: Shenfen {} backup made {} (schema {}, {} audit entries, {} file(s), checksums match, SQLite integrity ok, audit chain verifies)",
                    m.backend,
                    m.created_at,
                    info.schema_version,
                    info.audit_head_seq,
                    m.files.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Ok(crate::backup::Checked::PgDump { entries }) => {
                println!("OK: pg_dump custom-format archive with {entries} entries; Shenfen tables present; every data block readable");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("BACKUP NOT USABLE: {e:#}");
                Ok(ExitCode::from(1))
            }
        };
    }
    let to = args.to.ok_or_else(|| anyhow::anyhow!("say where the backup goes: --to DIR|FILE"))?;
    // Over a file-size limit the kernel would kill us mid-write (SIGXFSZ) and leave the temporary file behind;
    // ignored, the write fails with EFBIG and the clean-up runs like for a full disk.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let done = crate::backup::backup(&config.database_url(), &config.data_dir, &to, Clock::default().now_ms()).await?;
    match done.manifest {
        Some(m) => println!("backup written to {} (schema {}, {} audit entries, {} file(s))", done.path.display(), m.schema_version, m.audit_head_seq, m.files.len()),
        None => println!("pg_dump archive written to {} and checked", done.path.display()),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(args: RestoreArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let to = args.to.unwrap_or_else(|| config.database_url());
    let data_dir = (!to.starts_with("postgres")).then_some(config.data_dir.as_path());
    match crate::backup::restore(&args.from, &to, args.replace, data_dir, Clock::default().now_ms()).await {
        Ok(r) => {
            match r.manifest {
                Some(m) => println!("restored the backup made {} (schema {}, {} audit entries) into {to}", m.created_at, m.schema_version, m.audit_head_seq),
                None => println!("restored the pg_dump archive into the PostgreSQL database"),
            }
            if let Some(p) = r.previous {
                println!("the database it replaced is kept as {}", p.display());
            }
            println!("next: start the server (it applies any newer migrations) and run `shenfen audit verify`");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("RESTORE REFUSED (nothing was changed): {e:#}");
            Ok(ExitCode::from(1))
        }
    }
}

pub fn config(command: ConfigCommand) -> ExitCode {
    match command {
        ConfigCommand::Reference => print!("{}", crate::config_ref::reference()),
    }
    ExitCode::SUCCESS
}

pub async fn retention(command: RetentionCommand, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        RetentionCommand::Run => {
            let state = crate::build_state(config, Clock::default()).await?;
            let r = crate::retention::run_once(&state).await.map_err(fail)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn person(command: PersonCommand, config: Config) -> anyhow::Result<ExitCode> {
    let state = crate::build_state(config, Clock::default()).await?;
    let By::Cli(actor) = By::cli() else { unreachable!("By::cli is the command line") };
    match command {
        PersonCommand::Export { person, out } => {
            let (_, doc) = crate::person_data::export(&state, person.query(), &actor).await.map_err(fail)?;
            let text = serde_json::to_string_pretty(&doc)?;
            match out {
                Some(path) => {
                    use std::io::Write;
                    // The file holds a person's full identity: created new, readable by the operator only.
                    let mut options = std::fs::OpenOptions::new();
                    options.write(true).create_new(true);
                    #[cfg(unix)]
                    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                    let mut f = options.open(&path).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
                    f.write_all(text.as_bytes())?;
                    eprintln!("written to {}", path.display());
                }
                None => println!("{text}"),
            }
        }
        PersonCommand::Erase { person, reason } => {
            let (before, erased) = crate::person_data::erase(&state, person.query(), &reason, &actor).await.map_err(fail)?;
            println!("erased the account {} ({})", before.phone_masked, before.id_number_masked.as_deref().unwrap_or("not verified"));
            println!("{}", serde_json::to_string_pretty(&erased)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `shenfen audit verify`: the whole chain from the retention anchor to the head.
pub async fn audit_verify(config: &Config) -> anyhow::Result<ExitCode> {
    let store = shenfen_store::connect(&config.database_url()).await?;
    store.migrate().await?;
    match shenfen_store::audit::verify_store(store.as_ref()).await? {
        Ok(v) => {
            let from = if v.anchor_seq > 0 { format!(" (entries up to {} removed by retention)", v.anchor_seq) } else { String::new() };
            println!("audit log intact: {} entries{from}, head {}", v.entries, &v.head_hash[..16]);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("AUDIT LOG TAMPERED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
