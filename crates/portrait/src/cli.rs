//! The `photo` command line (embedded by `shenfen photo ...`, and by the standalone `shenfen-photo`).
//!
//! Exit status: `check` and `best` return 0 whenever every file was processed (also when photos
//! fail or cannot be decoded); `standardize` returns 0 when the photo was written and 1 when the
//! source cannot give a compliant photo; usage errors return 2 (clap).

use crate::pipeline;
use crate::report::{Purpose, Report, Thresholds, Verdict};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PurposeArg {
    Final,
    Source,
}

impl From<PurposeArg> for Purpose {
    fn from(p: PurposeArg) -> Self {
        match p {
            PurposeArg::Final => Purpose::Final,
            PurposeArg::Source => Purpose::Source,
        }
    }
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum PhotoCommand {
    /// Check photos against the ID photo standard and explain every failure.
    Check {
        /// One JSON object per file per line.
        #[arg(long)]
        json: bool,
        /// `final`: a finished 358x441 ID photo; `source`: a portrait to be standardized.
        #[arg(long, value_enum, default_value = "source")]
        purpose: PurposeArg,
        /// Write an annotated preview (landmarks, eye line, face box, GA guides, mask outline) per file.
        #[arg(long, value_name = "DIR")]
        debug_dir: Option<PathBuf>,
        /// Language of the messages.
        #[arg(long, value_enum, default_value = "zh")]
        lang: Lang,
        /// Thresholds as JSON (any subset of the fields; the rest keep the GA 461 defaults).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Make a 358x441, 350 dpi standard ID photo from a portrait (white background), then check it.
    Standardize {
        input: PathBuf,
        output: PathBuf,
        #[arg(long)]
        json: bool,
        #[arg(long, value_name = "DIR")]
        debug_dir: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "zh")]
        lang: Lang,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Rank several shots by quality score and pick the best passing one (多拍优选).
    Best {
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "source")]
        purpose: PurposeArg,
        #[arg(long, value_enum, default_value = "zh")]
        lang: Lang,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// The JSON line for one checked file, exactly as specified:
/// `{"file","verdict","faces","issues":[{"code","severity","message","value","limit"}],"score","timings_ms"}`.
pub fn report_json(file: &str, r: &Report, lang: Lang) -> Value {
    let issues: Vec<Value> = r
        .issues
        .iter()
        .map(|i| {
            json!({
                "code": i.code,
                "severity": i.severity,
                "message": if lang == Lang::En { &i.message_en } else { &i.message_zh },
                "value": i.value,
                "limit": i.limit,
            })
        })
        .collect();
    json!({
        "file": file,
        "verdict": r.verdict,
        "faces": r.faces,
        "issues": issues,
        "score": r.score,
        "timings_ms": r.timings_ms,
    })
}

fn verdict_str(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
    }
}

fn print_human(out: &mut impl Write, file: &str, r: &Report, lang: Lang) {
    let _ = writeln!(out, "{file}: {} (faces {}, score {})", verdict_str(r.verdict), r.faces, r.score);
    for i in &r.issues {
        let msg = if lang == Lang::En { &i.message_en } else { &i.message_zh };
        let sev = match i.severity {
            crate::Severity::Fail => "fail",
            crate::Severity::Warn => "warn",
        };
        let val = i.value.map(|v| format!(" value={v}")).unwrap_or_default();
        let lim = match &i.limit {
            Some(crate::Limit::Number(n)) => format!(" limit={n}"),
            Some(crate::Limit::Text(s)) => format!(" limit={s}"),
            None => String::new(),
        };
        let _ = writeln!(out, "  [{sev}] {}: {msg}{val}{lim}", i.code);
    }
}

/// Reads a file; an unreadable file becomes an error report rather than aborting the run.
fn read(path: &Path) -> Result<Vec<u8>, Report> {
    std::fs::read(path).map_err(|e| {
        let issue = crate::Issue::new(crate::IssueCode::DecodeError, crate::Severity::Fail, None, None)
            .with_message(format!("无法读取文件:{e}"), format!("Cannot read the file: {e}"));
        Report {
            verdict: Verdict::Error,
            faces: 0,
            issues: vec![issue],
            score: 0,
            timings_ms: Default::default(),
            width: 0,
            height: 0,
            metrics: Default::default(),
        }
    })
}

fn load_config(p: &Option<PathBuf>) -> Result<Thresholds, String> {
    match p {
        None => Ok(Thresholds::default()),
        Some(p) => {
            let s = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            serde_json::from_str(&s).map_err(|e| format!("{}: {e}", p.display()))
        }
    }
}

fn debug_path(dir: &Path, file: &Path, suffix: &str) -> PathBuf {
    let stem = file.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "photo".into());
    dir.join(format!("{stem}.{suffix}.png"))
}

pub fn run(cmd: PhotoCommand) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cmd {
        PhotoCommand::Check { json, purpose, debug_dir, lang, config, files } => {
            let t = match load_config(&config) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: --config {e}");
                    return ExitCode::from(2);
                }
            };
            if let Some(d) = &debug_dir {
                if let Err(e) = std::fs::create_dir_all(d) {
                    eprintln!("error: --debug-dir {}: {e}", d.display());
                    return ExitCode::from(2);
                }
            }
            for f in files {
                let name = f.display().to_string();
                let report = match read(&f) {
                    Err(r) => r,
                    Ok(bytes) => {
                        let c = pipeline::check_full(&bytes, purpose.into(), &t);
                        if let Some(d) = &debug_dir {
                            if let Some(img) = crate::preview::annotate(&c, purpose.into(), &t) {
                                if let Err(e) = img.save(debug_path(d, &f, "debug")) {
                                    eprintln!("warning: cannot write preview for {name}: {e}");
                                }
                            }
                        }
                        c.report
                    }
                };
                if json {
                    let _ = writeln!(out, "{}", report_json(&name, &report, lang));
                } else {
                    print_human(&mut out, &name, &report, lang);
                }
            }
            ExitCode::SUCCESS
        }
        PhotoCommand::Standardize { input, output, json, debug_dir, lang, config } => {
            let t = match load_config(&config) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: --config {e}");
                    return ExitCode::from(2);
                }
            };
            let name = input.display().to_string();
            let result = match read(&input) {
                Err(r) => Err(crate::StandardizeError::Unusable(Box::new(r))),
                Ok(bytes) => crate::standardize_with(&bytes, &t),
            };
            match result {
                Ok((photo, report)) => {
                    if let Err(e) = std::fs::write(&output, &photo.jpeg) {
                        eprintln!("error: cannot write {}: {e}", output.display());
                        return ExitCode::from(1);
                    }
                    if let Some(d) = &debug_dir {
                        let _ = std::fs::create_dir_all(d);
                        let c = pipeline::check_full(&photo.jpeg, Purpose::Final, &t);
                        if let Some(img) = crate::preview::annotate(&c, Purpose::Final, &t) {
                            let _ = img.save(debug_path(d, &output, "debug"));
                        }
                    }
                    if json {
                        let mut v = report_json(&name, &report, lang);
                        v["output"] = json!(output.display().to_string());
                        v["bytes"] = json!(photo.jpeg.len());
                        v["quality"] = json!(photo.quality);
                        let _ = writeln!(out, "{v}");
                    } else {
                        let _ = writeln!(out, "{name} -> {} ({} bytes, quality {})", output.display(), photo.jpeg.len(), photo.quality);
                        print_human(&mut out, &output.display().to_string(), &report, lang);
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    match e.report() {
                        Some(r) => {
                            if json {
                                let mut v = report_json(&name, r, lang);
                                v["output"] = Value::Null;
                                let _ = writeln!(out, "{v}");
                            } else {
                                let _ = writeln!(out, "{name}: no standard photo can be made");
                                print_human(&mut out, &name, r, lang);
                            }
                        }
                        None => eprintln!("error: {e}"),
                    }
                    ExitCode::from(1)
                }
            }
        }
        PhotoCommand::Best { json, purpose, lang, files } => {
            let t = Thresholds::default();
            let datas: Vec<Result<Vec<u8>, Report>> = files.iter().map(|f| read(f)).collect();
            let reports: Vec<Report> = datas
                .iter()
                .map(|d| match d {
                    Ok(b) => crate::check_with(b, purpose.into(), &t),
                    Err(r) => r.clone(),
                })
                .collect();
            let ranking = crate::rank(&reports);
            let best = ranking.first().copied().filter(|&i| reports[i].verdict == Verdict::Pass);
            if json {
                let list: Vec<Value> = ranking
                    .iter()
                    .map(|&i| {
                        let mut v = report_json(&files[i].display().to_string(), &reports[i], lang);
                        v.as_object_mut().map(|o| o.remove("timings_ms"));
                        v
                    })
                    .collect();
                let v = json!({"best": best.map(|i| files[i].display().to_string()), "ranking": list});
                let _ = writeln!(out, "{v}");
            } else {
                match best {
                    Some(i) => {
                        let _ = writeln!(out, "best: {} (score {})", files[i].display(), reports[i].score);
                    }
                    None => {
                        let _ = writeln!(out, "best: none of the photos passes");
                    }
                }
                for (rank, &i) in ranking.iter().enumerate() {
                    let r = &reports[i];
                    let codes: Vec<&str> = r.fails().map(|x| x.code.as_str()).collect();
                    let _ = writeln!(out, "{:>2}. {} {} score {} {}", rank + 1, files[i].display(), verdict_str(r.verdict), r.score, codes.join(","));
                }
                let _ = lang;
            }
            ExitCode::SUCCESS
        }
    }
}
