//! The single quality score (0..=100) used to rank shots (多拍优选).
//!
//! Six sub-scores in 0..1 are computed from the report's measurements, each 1 at the ideal and 0
//! at (or beyond) its limit:
//!
//! | sub-score | weight | 1.0 when | 0.0 when |
//! |---|---|---|---|
//! | sharpness | 0.25 | sharpness >= 2 x `min_sharpness` | sharpness <= `min_sharpness` |
//! | pose | 0.20 | yaw = pitch = roll = 0 | any angle at its limit |
//! | exposure | 0.15 | face luma 160 | face luma 70 away from 160 |
//! | eyes | 0.15 | eye aspect ratio >= 0.28 | at `min_eye_open` |
//! | lighting | 0.10 | left/right balance equal | asymmetry at `max_light_asymmetry` |
//! | framing | 0.15 | final: face width 207 px; source: face >= 2 x `min_source_face_px` | final: width off by 14 px; source: face at the minimum |
//!
//! `q` is their weighted mean (over the sub-scores that could be measured).
//! - a photo that passes scores `50 + 50 q - 3 x (number of warnings)`, never below 50;
//! - a photo that fails scores `49 q / (number of failures)`, never above 49;
//! - an undecodable photo scores 0.
//!
//! So `score >= 50` exactly when the verdict is pass, and among passing photos the sharper, more
//! frontal, better lit one ranks first.

use crate::report::{Report, Severity, Thresholds, Verdict};

fn lin(v: f64, zero: f64, one: f64) -> f64 {
    if (one - zero).abs() < 1e-12 {
        return 0.0;
    }
    ((v - zero) / (one - zero)).clamp(0.0, 1.0)
}

/// The weighted quality q in 0..1 from a report's metrics (default thresholds).
pub fn quality(r: &Report) -> f64 {
    let t = Thresholds::default();
    let m = &r.metrics;
    let mut parts: Vec<(f64, f64)> = Vec::new();
    if let Some(&s) = m.get("sharpness") {
        parts.push((0.25, lin(s, t.min_sharpness, 2.0 * t.min_sharpness)));
    }
    if let (Some(&y), Some(&p), Some(&ro)) = (m.get("yaw_deg"), m.get("pitch_deg"), m.get("roll_deg")) {
        let worst = (y.abs() / t.max_yaw_deg).max(p.abs() / t.max_pitch_deg).max(ro.abs() / t.max_roll_source_deg);
        parts.push((0.20, (1.0 - worst).clamp(0.0, 1.0)));
    }
    if let Some(&l) = m.get("face_luma") {
        parts.push((0.15, (1.0 - (l - 160.0).abs() / 70.0).clamp(0.0, 1.0)));
    }
    if let Some(&e) = m.get("eye_open") {
        parts.push((0.15, lin(e, t.min_eye_open, 0.28)));
    }
    if let Some(&a) = m.get("light_asymmetry") {
        parts.push((0.10, (1.0 - a / t.max_light_asymmetry).clamp(0.0, 1.0)));
    }
    if let Some(&fw) = m.get("face_width_px") {
        parts.push((0.15, (1.0 - (fw - t.face_width_px).abs() / t.face_width_tol_px).clamp(0.0, 1.0)));
    } else if let Some(&fw) = m.get("source_face_px") {
        parts.push((0.15, lin(fw, t.min_source_face_px, 2.0 * t.min_source_face_px)));
    }
    let wsum: f64 = parts.iter().map(|p| p.0).sum();
    if wsum == 0.0 {
        return 0.0;
    }
    parts.iter().map(|p| p.0 * p.1).sum::<f64>() / wsum
}

pub fn score(r: &Report) -> u8 {
    if r.verdict == Verdict::Error {
        return 0;
    }
    let q = quality(r);
    let fails = r.issues.iter().filter(|i| i.severity == Severity::Fail).count();
    let warns = r.issues.iter().filter(|i| i.severity == Severity::Warn).count();
    if fails > 0 || r.verdict == Verdict::Fail {
        ((49.0 * q / fails.max(1) as f64).round() as i64).clamp(0, 49) as u8
    } else {
        ((50.0 + 50.0 * q - 3.0 * warns as f64).round() as i64).clamp(50, 100) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Issue, IssueCode};
    use std::collections::BTreeMap;

    fn rep(verdict: Verdict, issues: Vec<Issue>, metrics: &[(&str, f64)]) -> Report {
        Report {
            verdict,
            faces: 1,
            issues,
            score: 0,
            timings_ms: BTreeMap::new(),
            width: 358,
            height: 441,
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn pass_scores_at_least_50_fail_at_most_49() {
        let good = [("sharpness", 6.0), ("yaw_deg", 0.0), ("pitch_deg", 0.0), ("roll_deg", 0.0), ("face_luma", 160.0), ("eye_open", 0.3)];
        assert_eq!(score(&rep(Verdict::Pass, vec![], &good)), 100);
        let f = Issue::fail(IssueCode::Blurry, 1.0, 3.0);
        let s = score(&rep(Verdict::Fail, vec![f], &good));
        assert!(s <= 49 && s > 40, "{s}");
        assert_eq!(score(&rep(Verdict::Error, vec![], &good)), 0);
        let poor = [("sharpness", 2.1), ("yaw_deg", 9.0), ("face_luma", 90.0)];
        let s = score(&rep(Verdict::Pass, vec![], &poor));
        assert!((50..60).contains(&s), "{s}");
    }

    #[test]
    fn sharper_and_more_frontal_ranks_higher() {
        let a = rep(Verdict::Pass, vec![], &[("sharpness", 3.8), ("yaw_deg", 1.0), ("pitch_deg", 0.0), ("roll_deg", 0.0)]);
        let b = rep(Verdict::Pass, vec![], &[("sharpness", 2.5), ("yaw_deg", 6.0), ("pitch_deg", 0.0), ("roll_deg", 0.0)]);
        assert!(score(&a) > score(&b));
    }
}
