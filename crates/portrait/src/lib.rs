//! Shenfen portrait engine: checks a photo against the resident ID card photo standard
//! (GA 461: 358 x 441 px, face width 207 ± 14 px, head top 7–21 px, eye line ≤ 234 px, white
//! background, frontal bare-headed subject), explains every failure in Chinese and English, and
//! turns a phone portrait into a compliant photo.
//!
//! ```no_run
//! use shenfen_portrait::{check, standardize, Purpose, Verdict};
//! let bytes = std::fs::read("me.jpg").unwrap();
//! let report = check(&bytes, Purpose::Source);
//! if report.verdict == Verdict::Pass {
//!     let (photo, final_report) = standardize(&bytes).unwrap();
//!     std::fs::write("id.jpg", &photo.jpeg).unwrap();
//!     assert_eq!((photo.width, photo.height), (358, 441));
//!     println!("{}", final_report.score);
//! }
//! ```
//!
//! Models (MediaPipe BlazeFace, FaceMesh, Iris, Selfie segmentation; Apache-2.0) are embedded in
//! the binary and loaded once per process; inference runs in pure Rust with tract-onnx.

pub mod analyze;
pub mod bench;
pub mod checks;
pub mod cli;
pub mod decode;
pub mod imgops;
pub mod models;
pub mod pipeline;
pub mod preview;
pub mod report;
pub mod score;
pub mod standardize;

pub use cli::{PhotoCommand, run};
pub use report::{Issue, IssueCode, Limit, Purpose, Report, Severity, Thresholds, Verdict};
pub use standardize::{StandardPhoto, StandardizeError};

/// Checks one photo with the default (GA 461) thresholds. Never panics on bad input: an
/// undecodable file gives `Verdict::Error` with a `decode_error` issue.
pub fn check(bytes: &[u8], purpose: Purpose) -> Report {
    check_with(bytes, purpose, &Thresholds::default())
}

pub fn check_with(bytes: &[u8], purpose: Purpose, t: &Thresholds) -> Report {
    pipeline::check_full(bytes, purpose, t).report
}

/// Makes a 358 x 441 standard photo from a portrait and checks the result (the returned report is
/// the check of the produced JPEG as a final photo). Refuses with the reasons when no compliant
/// crop is possible.
pub fn standardize(bytes: &[u8]) -> Result<(StandardPhoto, Report), StandardizeError> {
    standardize::standardize_with(bytes, &Thresholds::default())
}

pub fn standardize_with(bytes: &[u8], t: &Thresholds) -> Result<(StandardPhoto, Report), StandardizeError> {
    standardize::standardize_with(bytes, t)
}

/// The outcome of choosing among several shots (多拍优选).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Best {
    /// Index of the best passing shot, if any passes.
    pub best: Option<usize>,
    /// Indices ordered best first (passing shots before failing ones, then by score).
    pub ranking: Vec<usize>,
    /// The source check of every shot, in input order.
    pub reports: Vec<Report>,
}

/// Ranks several shots of the same person by the quality score and picks the best passing one.
pub fn best(photos: &[&[u8]]) -> Best {
    best_with(photos, Purpose::Source, &Thresholds::default())
}

pub fn best_with(photos: &[&[u8]], purpose: Purpose, t: &Thresholds) -> Best {
    let reports: Vec<Report> = photos.iter().map(|b| check_with(b, purpose, t)).collect();
    let ranking = rank(&reports);
    let best = ranking.first().copied().filter(|&i| reports[i].verdict == Verdict::Pass);
    Best { best, ranking, reports }
}

/// Orders reports best first: passing before failing, then by score, then by input order.
pub fn rank(reports: &[Report]) -> Vec<usize> {
    let mut ranking: Vec<usize> = (0..reports.len()).collect();
    ranking.sort_by(|&a, &b| {
        let (ra, rb) = (&reports[a], &reports[b]);
        (rb.verdict == Verdict::Pass).cmp(&(ra.verdict == Verdict::Pass)).then(rb.score.cmp(&ra.score)).then(a.cmp(&b))
    });
    ranking
}
