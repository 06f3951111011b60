//! The shared real photos, each with asserted expectations (face count, codes that must and must
//! not appear), as source portraits, as (wrongly sized) final photos, and through standardize.

mod common;
use common::*;
use shenfen_portrait::{IssueCode, Purpose, StandardizeError, Verdict, check, standardize};

struct Case {
    file: &'static str,
    faces: std::ops::RangeInclusive<usize>,
    verdict: Verdict,
    must: &'static [&'static str],
    must_not: &'static [&'static str],
}

const GOOD_SUBJECT: &[&str] = &["no_face", "multiple_faces", "head_tilted", "head_turned", "head_pitched", "eyes_closed", "blurry", "underexposed", "overexposed", "unnatural_color", "red_eye", "glasses_glare", "decode_error", "too_small"];

const CASES: &[Case] = &[
    // Frontal ID-style portraits (HivisionIDPhotos demo inputs): usable sources.
    Case { file: "test0.jpg", faces: 1..=1, verdict: Verdict::Pass, must: &[], must_not: GOOD_SUBJECT },
    Case { file: "test1.webp", faces: 1..=1, verdict: Verdict::Pass, must: &[], must_not: GOOD_SUBJECT },
    // A PNG (RGBA) named .jpg: sniffed, not trusted by extension.
    Case { file: "test2.jpg", faces: 1..=1, verdict: Verdict::Pass, must: &[], must_not: GOOD_SUBJECT },
    Case { file: "test3.jpg", faces: 1..=1, verdict: Verdict::Pass, must: &[], must_not: GOOD_SUBJECT },
    // Bangs over the eyebrows.
    Case { file: "test4.jpg", faces: 1..=1, verdict: Verdict::Fail, must: &["eyebrows_covered"], must_not: &["no_face", "multiple_faces", "head_turned", "eyes_closed", "blurry"] },
    // Broad smile with teeth.
    Case { file: "knn_examples_train_alex_lacamoire_img1.jpg", faces: 1..=1, verdict: Verdict::Fail, must: &["mouth_open"], must_not: &["no_face", "multiple_faces", "head_turned", "blurry", "face_too_small"] },
    // Hair touches the top edge: the head is cut off.
    Case { file: "knn_examples_train_rose_leslie_img2.jpg", faces: 1..=1, verdict: Verdict::Fail, must: &["face_off_center"], must_not: &["no_face", "multiple_faces", "mouth_open", "blurry"] },
    // Close-up: no room for shoulders.
    Case { file: "Tom_Cruise_avp_2014_4.jpg", faces: 1..=1, verdict: Verdict::Fail, must: &["face_too_large"], must_not: &["no_face", "multiple_faces", "face_too_small"] },
    Case { file: "knn_examples_test_kit_with_rose.jpg", faces: 2..=2, verdict: Verdict::Fail, must: &["multiple_faces"], must_not: &["no_face"] },
    Case { file: "knn_examples_test_obama_and_biden.jpg", faces: 2..=4, verdict: Verdict::Fail, must: &["multiple_faces"], must_not: &["no_face"] },
    Case { file: "2008_001322.jpg", faces: 2..=5, verdict: Verdict::Fail, must: &["multiple_faces", "too_small", "face_too_small"], must_not: &["no_face"] },
    Case { file: "2009_004587.jpg", faces: 2..=3, verdict: Verdict::Fail, must: &["multiple_faces", "face_too_small"], must_not: &["no_face"] },
    Case { file: "2008_002470.jpg", faces: 1..=7, verdict: Verdict::Fail, must: &["too_small", "face_too_small"], must_not: &["no_face"] },
    // Tiny face in an action shot.
    Case { file: "messi5.jpg", faces: 1..=2, verdict: Verdict::Fail, must: &["too_small", "face_too_small"], must_not: &["no_face"] },
    Case { file: "astronaut.png", faces: 1..=1, verdict: Verdict::Fail, must: &["face_too_small"], must_not: &["no_face", "multiple_faces", "unnatural_color"] },
    // A crowd of small faces (29 people): found by the fine tile pass at full resolution.
    Case { file: "solvay-1927.png", faces: 10..=29, verdict: Verdict::Fail, must: &["multiple_faces", "face_too_small"], must_not: &["no_face"] },
    // Dogs: BlazeFace fires on them, the mesh's face-presence output rejects them.
    Case { file: "dogs.jpg", faces: 0..=0, verdict: Verdict::Fail, must: &["no_face"], must_not: &["multiple_faces"] },
];

#[test]
fn source_checks_match_expectations() {
    let mut failures = Vec::new();
    for c in CASES {
        let r = check(&bytes(c.file), Purpose::Source);
        let got = codes(&r);
        let mut bad = Vec::new();
        if !c.faces.contains(&r.faces) {
            bad.push(format!("faces {} not in {:?}", r.faces, c.faces));
        }
        if r.verdict != c.verdict {
            bad.push(format!("verdict {:?}", r.verdict));
        }
        for m in c.must {
            if !got.contains(m) {
                bad.push(format!("missing {m}"));
            }
        }
        for m in c.must_not {
            if got.contains(m) {
                bad.push(format!("unexpected {m}"));
            }
        }
        // Score is consistent with the verdict; every issue carries both messages.
        assert_eq!(r.score >= 50, r.verdict == Verdict::Pass, "{}: score {}", c.file, r.score);
        for i in &r.issues {
            assert!(!i.message_zh.is_empty() && !i.message_en.is_empty());
        }
        if !bad.is_empty() {
            failures.push(format!("{}: {} (got {:?})", c.file, bad.join(", "), got));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn source_portraits_are_not_final_photos() {
    let r = check(&bytes("test3.jpg"), Purpose::Final);
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(r.has(IssueCode::NotStandardSize));
    assert_eq!((r.width, r.height), (512, 715));
}

fn jfif_density(jpeg: &[u8]) -> Option<(u8, u16, u16)> {
    let i = jpeg.windows(5).position(|w| w == b"JFIF\0")?;
    let d = &jpeg[i + 7..i + 12];
    Some((d[0], u16::from_be_bytes([d[1], d[2]]), u16::from_be_bytes([d[3], d[4]])))
}

fn is_baseline(jpeg: &[u8]) -> bool {
    // SOF0 present, no progressive SOF2.
    jpeg.windows(2).any(|w| w == [0xFF, 0xC0]) && !jpeg.windows(2).any(|w| w == [0xFF, 0xC2])
}

#[test]
fn standardize_usable_portraits_into_passing_id_photos() {
    for f in ["test0.jpg", "test1.webp", "test2.jpg", "test3.jpg"] {
        let (photo, report) = standardize(&bytes(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!((photo.width, photo.height), (358, 441));
        let img = image::load_from_memory(&photo.jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (358, 441), "{f}");
        assert_eq!(jfif_density(&photo.jpeg), Some((1, 350, 350)), "{f}: 350 dpi JFIF");
        assert!(is_baseline(&photo.jpeg), "{f}: baseline JPEG");
        assert!(photo.jpeg.len() <= 20 * 1024, "{f}: {} bytes", photo.jpeg.len());
        assert!(photo.jpeg.len() >= 8 * 1024, "{f}: {} bytes", photo.jpeg.len());
        assert_eq!(report.verdict, Verdict::Pass, "{f}: {:?}", codes(&report));
        // The result checks out as a final photo on its own, too.
        let again = check(&photo.jpeg, Purpose::Final);
        assert_eq!(again.verdict, Verdict::Pass, "{f}: {:?}", codes(&again));
        let fw = again.metrics["face_width_px"];
        assert!((193.0..=221.0).contains(&fw), "{f}: face width {fw}");
        assert!(again.metrics["background_luma"] > 245.0, "{f}: white background");
        assert!(again.metrics["eye_y_px"] <= 234.0);
    }
}

#[test]
fn standardize_keeps_subject_problems_and_refuses_impossible_crops() {
    // The crop is possible, the smile is not: a photo is produced and its report says why it fails.
    let (photo, report) = standardize(&bytes("knn_examples_train_alex_lacamoire_img1.jpg")).unwrap();
    assert!(!photo.jpeg.is_empty());
    assert!(report.has(IssueCode::MouthOpen));
    // No compliant crop: refused with the reason.
    for (f, code) in [
        ("knn_examples_train_rose_leslie_img2.jpg", IssueCode::FaceOffCenter),
        ("Tom_Cruise_avp_2014_4.jpg", IssueCode::FaceTooLarge),
        ("dogs.jpg", IssueCode::NoFace),
        ("knn_examples_test_kit_with_rose.jpg", IssueCode::MultipleFaces),
        ("messi5.jpg", IssueCode::FaceTooSmall),
    ] {
        match standardize(&bytes(f)) {
            Err(StandardizeError::Unusable(r)) => assert!(r.has(code), "{f}: {:?}", codes(&r)),
            other => panic!("{f}: expected refusal, got {:?}", other.map(|(_, r)| codes(&r))),
        }
    }
}

#[test]
fn best_of_picks_a_passing_shot() {
    let a = bytes("test4.jpg"); // fails (eyebrows)
    let b = bytes("test3.jpg");
    let c = bytes("dogs.jpg");
    let r = shenfen_portrait::best(&[&a, &b, &c]);
    assert_eq!(r.best, Some(1));
    assert_eq!(r.ranking[0], 1);
    assert_eq!(*r.ranking.last().unwrap(), 2, "no face ranks last");
    let none = shenfen_portrait::best(&[&a, &c]);
    assert_eq!(none.best, None);
}
