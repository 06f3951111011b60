//! `shenfen bench photo`: median and p95 milliseconds of `check` and `standardize` per image group
//! (the test photos, synthetic 1080x1440 and 4032x3024 phone JPEGs), on one thread, plus the peak
//! RSS (VmHWM) with the models loaded. Optionally runs MediaPipe's Python pipeline on the same
//! images (bench/photo/mediapipe_compare.sh) and prints the ratio.

use crate::report::{Purpose, Thresholds};
use image::RgbImage;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Folder of real photos (default: the crate's test photos).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Timed runs per image (after one warm-up run).
    #[arg(long, default_value_t = 5)]
    pub iterations: usize,
    /// Where the synthetic phone JPEGs are written (default: a temporary folder).
    #[arg(long)]
    pub synthetic_dir: Option<PathBuf>,
    /// Run MediaPipe's Python face detection + face mesh on the same images via this script
    /// (bench/photo/mediapipe_compare.sh) and print the ratio.
    #[arg(long)]
    pub mediapipe_script: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stat {
    pub n: usize,
    pub median_ms: f64,
    pub p95_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupResult {
    pub group: String,
    pub files: Vec<String>,
    pub check: Stat,
    pub standardize: Option<Stat>,
    /// MediaPipe face detection + face mesh (Python), when run.
    pub mediapipe: Option<Stat>,
    /// check median / MediaPipe median (< 1 means faster than MediaPipe).
    pub ratio_check_vs_mediapipe: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub threads: usize,
    pub model_load_ms: f64,
    pub groups: Vec<GroupResult>,
    pub peak_rss_mb: Option<f64>,
}

pub fn stat(mut v: Vec<f64>) -> Stat {
    if v.is_empty() {
        return Stat { n: 0, median_ms: f64::NAN, p95_ms: f64::NAN };
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    let p95 = v[((n as f64 * 0.95).ceil() as usize).clamp(1, n) - 1];
    Stat { n, median_ms: (median * 1000.0).round() / 1000.0, p95_ms: (p95 * 1000.0).round() / 1000.0 }
}

/// Peak resident set size of this process in MB (Linux /proc/self/status VmHWM).
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

/// A synthetic phone JPEG of `w` x `h` made from a portrait: the portrait is scaled to fill the
/// frame's height (centred; a landscape frame gets plain wall at the sides), with mild
/// sensor-like noise, encoded at quality 90 (what phones produce).
pub fn synthetic_phone_jpeg(portrait: &RgbImage, w: u32, h: u32, seed: u64) -> Vec<u8> {
    let (pw, ph) = portrait.dimensions();
    let s = h as f64 / ph.max(1) as f64;
    let (ox, oy) = ((pw as f64 * s - w as f64) / 2.0, (ph as f64 * s - h as f64) / 2.0);
    let wall = {
        let p = portrait.get_pixel(2, 2).0;
        [p[0] as f32, p[1] as f32, p[2] as f32]
    };
    let mut rng = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut img = RgbImage::new(w, h);
    for (x, y, p) in img.enumerate_pixels_mut() {
        let (sx, sy) = ((x as f64 + 0.5 + ox) / s, (y as f64 + 0.5 + oy) / s);
        let v = if sx < 0.0 || sx >= pw as f64 { wall } else { crate::imgops::sample(portrait, sx, sy) };
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let noise = ((rng >> 33) % 7) as f32 - 3.0;
        *p = image::Rgb([(v[0] + noise).clamp(0.0, 255.0) as u8, (v[1] + noise).clamp(0.0, 255.0) as u8, (v[2] + noise).clamp(0.0, 255.0) as u8]);
    }
    let mut buf = Vec::new();
    let _ = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90).encode_image(&img);
    buf
}

fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn list_images(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| {
        let e = p.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        matches!(e.as_str(), "jpg" | "jpeg" | "png" | "webp") && !p.to_string_lossy().contains("/synthetic")
    });
    v.sort();
    v
}

fn time_group(files: &[(String, Vec<u8>)], iters: usize, t: &Thresholds, with_standardize: bool) -> (Stat, Option<Stat>) {
    let mut cs = Vec::new();
    let mut ss = Vec::new();
    for (_, b) in files {
        let _ = crate::check_with(b, Purpose::Source, t); // warm-up
        for _ in 0..iters {
            let t0 = Instant::now();
            let r = crate::check_with(b, Purpose::Source, t);
            cs.push(t0.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(r);
        }
        if with_standardize {
            for _ in 0..iters.div_ceil(2) {
                let t0 = Instant::now();
                let r = crate::standardize_with(b, t);
                ss.push(t0.elapsed().as_secs_f64() * 1000.0);
                std::hint::black_box(r.is_ok());
            }
        }
    }
    (stat(cs), with_standardize.then(|| stat(ss)))
}

/// Runs MediaPipe via the script; expects one JSON object on the last stdout line:
/// `{"per_file_ms": {"<file>": [ms, ...], ...}}`.
fn run_mediapipe(script: &Path, files: &[String], iters: usize) -> Result<std::collections::BTreeMap<String, Vec<f64>>, String> {
    let out = std::process::Command::new(script)
        .arg("--iterations")
        .arg(iters.to_string())
        .args(files)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr)));
    }
    let s = String::from_utf8_lossy(&out.stdout);
    let last = s.lines().rev().find(|l| l.trim_start().starts_with('{')).ok_or("no JSON output from the MediaPipe script")?;
    let v: serde_json::Value = serde_json::from_str(last).map_err(|e| e.to_string())?;
    let mut m = std::collections::BTreeMap::new();
    if let Some(obj) = v["per_file_ms"].as_object() {
        for (k, arr) in obj {
            m.insert(k.clone(), arr.as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default());
        }
    }
    Ok(m)
}

pub fn bench_photo(args: &BenchArgs) -> Result<BenchResult, String> {
    let t = Thresholds::default();
    let t0 = Instant::now();
    crate::models::models()?;
    let model_load_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    let real: Vec<(String, Vec<u8>)> = list_images(&dir)
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p.display().to_string(), b)))
        .collect();
    if real.is_empty() {
        return Err(format!("no images in {}", dir.display()));
    }
    // Synthetic phone photos from the first real portrait that passes as a source.
    let portrait = real
        .iter()
        .find(|(_, b)| crate::check(b, Purpose::Source).verdict == crate::Verdict::Pass)
        .or_else(|| real.first())
        .and_then(|(_, b)| crate::decode::decode(b, &crate::pipeline::decode_limits(&t, 0)).ok())
        .map(|d| d.image)
        .ok_or("no decodable portrait")?;
    let syn_dir = match &args.synthetic_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("shenfen-photo-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&syn_dir).map_err(|e| e.to_string())?;
    type Files = Vec<(String, Vec<u8>)>;
    let mut groups_in: Vec<(String, Files, bool)> = vec![("photos".into(), real, true)];
    for (name, w, h) in [("phone_1080x1440", 1080u32, 1440u32), ("phone_4032x3024", 4032, 3024)] {
        let mut files = Vec::new();
        for k in 0..3u64 {
            let b = synthetic_phone_jpeg(&portrait, w, h, k + 1);
            let p = syn_dir.join(format!("{name}_{k}.jpg"));
            std::fs::write(&p, &b).map_err(|e| e.to_string())?;
            files.push((p.display().to_string(), b));
        }
        groups_in.push((name.into(), files, true));
    }
    let mut groups = Vec::new();
    for (name, files, with_std) in &groups_in {
        let (check, standardize) = time_group(files, args.iterations.max(1), &t, *with_std);
        groups.push(GroupResult { group: name.clone(), files: files.iter().map(|f| f.0.clone()).collect(), check, standardize, mediapipe: None, ratio_check_vs_mediapipe: None });
    }
    let peak = peak_rss_mb();
    if let Some(script) = &args.mediapipe_script {
        let all: Vec<String> = groups.iter().flat_map(|g| g.files.clone()).collect();
        let mp = run_mediapipe(script, &all, args.iterations.max(1))?;
        for g in groups.iter_mut() {
            let v: Vec<f64> = g.files.iter().filter_map(|f| mp.get(f)).flatten().copied().collect();
            if !v.is_empty() {
                let s = stat(v);
                g.ratio_check_vs_mediapipe = Some(((g.check.median_ms / s.median_ms) * 1000.0).round() / 1000.0);
                g.mediapipe = Some(s);
            }
        }
    }
    Ok(BenchResult { threads: 1, model_load_ms: (model_load_ms * 1000.0).round() / 1000.0, groups, peak_rss_mb: peak })
}

pub fn run(args: BenchArgs) -> ExitCode {
    match bench_photo(&args) {
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Ok(r) => {
            if args.json {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
            } else {
                println!("model load: {:.1} ms (once per process), single thread", r.model_load_ms);
                println!("{:<18} {:>6} {:>12} {:>12} {:>14} {:>14} {:>12} {:>8}", "group", "images", "check med", "check p95", "standardize med", "standardize p95", "mediapipe med", "ratio");
                for g in &r.groups {
                    let f = |s: &Option<Stat>, p: bool| s.as_ref().map(|s| format!("{:.1}", if p { s.p95_ms } else { s.median_ms })).unwrap_or("-".into());
                    println!(
                        "{:<18} {:>6} {:>12.1} {:>12.1} {:>14} {:>14} {:>12} {:>8}",
                        g.group,
                        g.files.len(),
                        g.check.median_ms,
                        g.check.p95_ms,
                        f(&g.standardize, false),
                        f(&g.standardize, true),
                        f(&g.mediapipe, false),
                        g.ratio_check_vs_mediapipe.map(|x| format!("{x:.2}")).unwrap_or("-".into())
                    );
                }
                println!("peak RSS (VmHWM): {} MB", r.peak_rss_mb.map(|v| v.to_string()).unwrap_or("n/a".into()));
            }
            ExitCode::SUCCESS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats() {
        let s = stat(vec![5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!(s.median_ms, 3.0);
        assert_eq!(s.p95_ms, 5.0);
        let s = stat((1..=100).map(|v| v as f64).collect());
        assert_eq!(s.p95_ms, 95.0);
        assert!(peak_rss_mb().unwrap_or(1.0) > 0.0);
    }
}
