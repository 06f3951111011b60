//! `check`: decode, analyse, run every check, score.

use crate::analyze::{self, Analysis, timed};
use crate::checks::{self, Metrics, Skin};
use crate::decode::{self, DecodeError, DecodeLimits, Decoded};
use crate::imgops;
use crate::models;
use crate::report::{Issue, IssueCode as C, Purpose, Report, Severity, Thresholds, Verdict};
use crate::score;
use image::RgbImage;
use std::collections::BTreeMap;
use std::time::Instant;

/// Everything computed for one photo (for previews and standardize).
pub struct Checked {
    pub report: Report,
    /// The working image the analysis ran on (None when undecodable).
    pub work: Option<RgbImage>,
    /// Work pixels per full-resolution pixel.
    pub work_scale: f64,
    pub analysis: Option<Analysis>,
    pub decoded_grey: bool,
}

pub fn decode_limits(t: &Thresholds, long_side: u32) -> DecodeLimits {
    DecodeLimits { max_bytes: t.max_bytes, max_pixels: t.max_pixels, min_long_side: long_side }
}

pub fn decode_error_issue(e: &DecodeError) -> Issue {
    let mut i = Issue::new(C::DecodeError, Severity::Fail, None, None);
    match e {
        DecodeError::TooManyBytes(n, l) => {
            i.value = Some(*n as f64);
            i.limit = Some((*l as f64).into());
            i = i.with_message(
                format!("文件太大({n} 字节),请上传不超过 {} MB 的照片", l / (1024 * 1024)),
                format!("The file is too large ({n} bytes): upload a photo of at most {} MB", l / (1024 * 1024)),
            );
        }
        DecodeError::TooManyPixels(w, h, l) => {
            i.value = Some(*w as f64 * *h as f64);
            i.limit = Some((*l as f64).into());
            i = i.with_message(
                format!("图像像素过多({w}×{h}),请上传不超过 {} 百万像素的照片", l / 1_000_000),
                format!("The image has too many pixels ({w}x{h}): at most {} megapixels are accepted", l / 1_000_000),
            );
        }
        other => {
            let (zh, en) = C::DecodeError.advice();
            i = i.with_message(format!("{zh}({other})"), format!("{en} ({other})"));
        }
    }
    i
}

fn error_report(issue: Issue, timings: BTreeMap<String, f64>, w: u32, h: u32) -> Report {
    Report { verdict: Verdict::Error, faces: 0, issues: vec![issue], score: 0, timings_ms: timings, width: w, height: h, metrics: BTreeMap::new() }
}

/// Brings a decoded image to the working resolution (long side about `long`).
pub fn to_work(d: &Decoded, long: u32) -> (RgbImage, f64) {
    let (w, h) = d.image.dimensions();
    let l = w.max(h);
    if long == 0 || l <= long + long / 2 {
        return (d.image.clone(), d.scale);
    }
    let f = l as f64 / long as f64;
    let (nw, nh) = (((w as f64 / f).round() as u32).max(1), ((h as f64 / f).round() as u32).max(1));
    let img = imgops::resize(&d.image, nw, nh);
    (img, d.scale * nw as f64 / w as f64)
}

pub fn check_full(bytes: &[u8], purpose: Purpose, t: &Thresholds) -> Checked {
    let start = Instant::now();
    let mut timings = BTreeMap::new();
    let decoded = timed(&mut timings, "decode", || decode::decode(bytes, &decode_limits(t, t.work_long_side)));
    let d = match decoded {
        Ok(d) => d,
        Err(e) => {
            timings.insert("total".into(), start.elapsed().as_secs_f64() * 1000.0);
            return Checked { report: error_report(decode_error_issue(&e), timings, 0, 0), work: None, work_scale: 1.0, analysis: None, decoded_grey: false };
        }
    };
    let (fw, fh) = (d.full_width, d.full_height);
    let (work, ws) = timed(&mut timings, "decode", || to_work(&d, t.work_long_side));
    let mut r = check_image(&work, ws, fw, fh, d.was_grey, purpose, t, timings);
    // No face at the working resolution in a larger picture: look for small faces (group photos)
    // at the decoded resolution with small tiles, so the report says what is really there.
    if r.report.has(C::NoFace) && d.image.width().max(d.image.height()) as f64 >= 1.5 * work.width().max(work.height()) as f64 {
        if let Ok(m) = models::models() {
            let mut tt = BTreeMap::new();
            let found = timed(&mut tt, "detect_fine", || analyze::detect_tiles(m, &d.image, 256.0, t.min_face_score, 96));
            if let Ok(dets) = found {
                let n = crate::models::weighted_nms(dets, 0.3).len();
                if n > 0 {
                    let rep = &mut r.report;
                    rep.faces = n;
                    rep.issues.retain(|i| i.code != C::NoFace);
                    if n > 1 {
                        rep.issues.push(Issue::fail(C::MultipleFaces, n as f64, 1.0));
                    }
                    rep.issues.push(Issue::fail(C::FaceTooSmall, 0.0, t.min_source_face_px).with_message(
                        "人脸太小,无法检查,请靠近镜头拍摄本人照片",
                        "The faces are too small to be checked: take a close photo of yourself",
                    ));
                    rep.issues.sort_by_key(|i| (i.severity, i.code));
                    rep.score = score::score(rep);
                }
            }
            for (k, v) in tt {
                if let Some(total) = r.report.timings_ms.get_mut("total") {
                    *total = crate::report::round3(*total + v);
                }
                r.report.timings_ms.insert(k, crate::report::round3(v));
            }
        }
    }
    let load = r.report.timings_ms.get("model_load").copied().unwrap_or(0.0);
    if let Some(tt) = r.report.timings_ms.get_mut("total") {
        *tt = crate::report::round3(start.elapsed().as_secs_f64() * 1000.0 - load);
    }
    r.work = Some(work);
    r
}

/// Runs the analysis and every check on an already decoded working image.
#[allow(clippy::too_many_arguments)]
pub fn check_image(
    work: &RgbImage,
    work_scale: f64,
    full_w: u32,
    full_h: u32,
    was_grey: bool,
    purpose: Purpose,
    t: &Thresholds,
    mut timings: BTreeMap<String, f64>,
) -> Checked {
    let start = Instant::now();
    let mut issues: Vec<Issue> = Vec::new();
    let mut metrics = Metrics::new();
    let final_photo = purpose == Purpose::Final;
    let mk = |verdict, faces, issues, timings, metrics| Report { verdict, faces, issues, score: 0, timings_ms: timings, width: full_w, height: full_h, metrics };

    if final_photo && (full_w != t.standard_width || full_h != t.standard_height) {
        issues.push(
            Issue::fail(C::NotStandardSize, (full_w * full_h) as f64, format!("{}x{}", t.standard_width, t.standard_height)).with_message(
                format!("证件照尺寸须为 {}×{} 像素,当前为 {full_w}×{full_h}", t.standard_width, t.standard_height),
                format!("An ID photo must be {} x {} pixels; this one is {full_w} x {full_h}", t.standard_width, t.standard_height),
            ),
        );
    }
    if full_w < t.min_width || full_h < t.min_height {
        issues.push(
            Issue::fail(C::TooSmall, full_w.min(full_h) as f64, format!(">={}x{}", t.min_width, t.min_height)).with_message(
                format!("照片尺寸太小({full_w}×{full_h}),至少需要 {}×{} 像素,请上传原图", t.min_width, t.min_height),
                format!("The image is too small ({full_w} x {full_h}); at least {} x {} pixels are needed: upload the original", t.min_width, t.min_height),
            ),
        );
        // Too small to analyse at all.
        if work.width() < 48 || work.height() < 48 {
            timings.insert("total".into(), start.elapsed().as_secs_f64() * 1000.0);
            let mut rep = mk(Verdict::Fail, 0, issues, timings, metrics);
            rep.score = score::score(&rep);
            return Checked { report: rep, work: None, work_scale, analysis: None, decoded_grey: was_grey };
        }
    }

    // The first call in a process loads the models (reported separately, not as analysis time).
    let load_start = Instant::now();
    let loaded = models::models();
    let load_ms = load_start.elapsed().as_secs_f64() * 1000.0;
    if load_ms > 5.0 {
        timings.insert("model_load".into(), load_ms);
    }
    let m = match loaded {
        Ok(m) => m,
        Err(e) => {
            let i = Issue::new(C::DecodeError, Severity::Fail, None, None).with_message(format!("内部错误:{e}"), format!("Internal error: {e}"));
            return Checked { report: error_report(i, timings, full_w, full_h), work: None, work_scale, analysis: None, decoded_grey: was_grey };
        }
    };
    // A final photo's head-top band (7-21 px) needs the full 256 mask; for a source, 192 keeps the
    // mask within a pixel or two of it (IoU 0.99) at 55 % of the cost.
    let mask_size = if final_photo { 256 } else { 192 };
    let analysis = match analyze::analyze(m, work, mask_size, t.min_face_score, &mut timings) {
        Ok(a) => a,
        Err(e) => {
            let i = Issue::new(C::DecodeError, Severity::Fail, None, None).with_message(format!("内部错误:{e}"), format!("Internal error: {e}"));
            return Checked { report: error_report(i, timings, full_w, full_h), work: None, work_scale, analysis: None, decoded_grey: was_grey };
        }
    };
    let faces = analysis.faces.len();
    match (&analysis.face, faces) {
        (None, _) => issues.push(Issue::new(C::NoFace, Severity::Fail, Some(0.0), Some(1.0.into()))),
        (Some(face), n) => {
            if n > 1 {
                issues.push(Issue::fail(C::MultipleFaces, n as f64, 1.0));
            }
            timed(&mut timings, "checks", || {
                let skin = Skin::measure(work, face);
                issues.extend(checks::pose(face, final_photo, t, &mut metrics));
                issues.extend(checks::expression(face, t, &mut metrics));
                if final_photo {
                    issues.extend(checks::geometry_final(face, work.width(), work.height(), t, &mut metrics));
                } else {
                    issues.extend(crate::standardize::source_geometry(face, analysis.mask.as_ref(), work, work_scale, t, &mut metrics));
                }
                issues.extend(checks::exposure(work, face, &skin, t, &mut metrics));
                issues.extend(checks::sharpness(work, face, t, &mut metrics));
                issues.extend(checks::color(&skin, was_grey, t, &mut metrics));
                issues.extend(checks::eyes(work, face, &skin, t, &mut metrics));
                issues.extend(checks::occlusion(work, face, &skin, analysis.mask.as_ref(), t, &mut metrics));
                if let Some(mask) = &analysis.mask {
                    if final_photo {
                        issues.extend(checks::background(work, mask, t, &mut metrics));
                    }
                    issues.extend(checks::clothing(work, face, mask, t, &mut metrics));
                }
            });
        }
    }
    issues.sort_by_key(|i| (i.severity, i.code));
    let verdict = if issues.iter().any(|i| i.severity == Severity::Fail) { Verdict::Fail } else { Verdict::Pass };
    let total = start.elapsed().as_secs_f64() * 1000.0 - timings.get("model_load").copied().unwrap_or(0.0) + timings.get("decode").copied().unwrap_or(0.0);
    timings.insert("total".into(), total);
    for v in timings.values_mut() {
        *v = crate::report::round3(*v);
    }
    for v in metrics.values_mut() {
        *v = crate::report::round3(*v);
    }
    let mut report = mk(verdict, faces, issues, timings, metrics);
    report.score = score::score(&report);
    Checked { report, work: None, work_scale, analysis: Some(analysis), decoded_grey: was_grey }
}
