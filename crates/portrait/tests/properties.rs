//! Property tests: the decoder path over random and corrupted bytes (no panic, bounded work), and
//! geometry (a rotated / scaled portrait keeps its measured face width after standardize).

mod common;
use common::*;
use proptest::prelude::*;
use shenfen_portrait::{Purpose, Verdict, check, decode};
use std::sync::OnceLock;

fn seeds() -> &'static Vec<Vec<u8>> {
    static S: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    S.get_or_init(|| {
        let small = image::imageops::resize(&rgb("test3.jpg"), 64, 90, image::imageops::FilterType::Triangle);
        let mut webp = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut webp).encode(small.as_raw(), 64, 90, image::ExtendedColorType::Rgb8).unwrap();
        vec![jpeg(&small, 80), png(&small), webp]
    })
}

fn limits() -> decode::DecodeLimits {
    decode::DecodeLimits { max_bytes: 15 << 20, max_pixels: 50_000_000, min_long_side: 0 }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn decoder_survives_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = decode::decode(&bytes, &limits());
    }

    #[test]
    fn decoder_survives_corrupted_images(which in 0usize..3, edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..24), cut in any::<prop::sample::Index>()) {
        let mut b = seeds()[which].clone();
        for (i, v) in &edits {
            let k = i.index(b.len());
            b[k] = *v;
        }
        let n = cut.index(b.len() + 1);
        b.truncate(n.max(1));
        if let Ok(d) = decode::decode(&b, &limits()) {
            // Whatever decodes is bounded by the header size check.
            prop_assert!((d.image.width() as u64) * (d.image.height() as u64) <= 50_000_000);
        }
    }

    #[test]
    fn header_sizes_beyond_the_limit_are_refused(w in 1u32..200_000, h in 1u32..200_000) {
        // A PNG claiming w x h: refused from the header whenever w*h exceeds the limit.
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut c = b"IHDR".to_vec();
        c.extend_from_slice(&ihdr);
        png.extend_from_slice(&13u32.to_be_bytes());
        png.extend_from_slice(&c);
        png.extend_from_slice(&common::crc32(&c).to_be_bytes());
        for (kind, data) in [(&b"IDAT"[..], &[0x78u8, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01][..]), (b"IEND", &[])] {
            let mut c = kind.to_vec();
            c.extend_from_slice(data);
            png.extend_from_slice(&(data.len() as u32).to_be_bytes());
            png.extend_from_slice(&c);
            png.extend_from_slice(&common::crc32(&c).to_be_bytes());
        }
        let r = decode::decode(&png, &limits());
        if (w as u64) * (h as u64) > 50_000_000 {
            prop_assert!(matches!(r, Err(decode::DecodeError::TooManyPixels(..))), "{:?}", r.err());
        } else {
            prop_assert!(r.is_err()); // no image data
        }
    }
}

proptest! {
    // Each case runs the full pipeline (check + standardize + check): few cases.
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn check_never_panics_on_corrupted_photos(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut b = bytes("test3.jpg");
        for (i, v) in &edits {
            let k = i.index(b.len());
            b[k] = *v;
        }
        let r = check(&b, Purpose::Source);
        prop_assert!(r.score <= 100);
        prop_assert_eq!(r.score >= 50, r.verdict == Verdict::Pass);
    }

    #[test]
    fn standardize_restores_geometry_of_rotated_scaled_portraits(deg in -9.0f64..9.0, scale in 0.75f64..1.4) {
        // Pad first (the head of test3 nearly touches the top edge) so that neither rotation nor
        // scaling up to 1.4 cuts the head, then rotate + scale about the centre.
        let base = rgb("test3.jpg");
        let (w, h) = base.dimensions();
        let mut canvas = image::RgbImage::from_pixel(w + 300, h + 350, image::Rgb([250, 250, 250]));
        image::imageops::replace(&mut canvas, &base, 150, 250);
        let img = rotate_scale(&canvas, deg, scale, [250, 250, 250]);
        let src = check(&jpeg(&img, 92), Purpose::Source);
        let roll = src.metrics.get("roll_deg").copied().unwrap_or(f64::NAN);
        // The measured roll follows the applied rotation (the original is tilted ~2.8 degrees).
        prop_assert!((roll - (2.8 + deg)).abs() < 2.0, "roll {} for rotation {}", roll, deg);
        match shenfen_portrait::standardize(&jpeg(&img, 92)) {
            Ok((photo, report)) => {
                let fw = report.metrics["face_width_px"];
                prop_assert!((193.0..=221.0).contains(&fw), "face width {} (deg {}, scale {})", fw, deg, scale);
                prop_assert!(report.metrics["roll_deg"].abs() < 2.0, "levelled: {}", report.metrics["roll_deg"]);
                prop_assert_eq!(photo.width, 358);
            }
            Err(e) => {
                // Only a resolution / framing refusal is acceptable, and only for the smallest scales.
                prop_assert!(scale < 0.85, "refused at scale {}: {}", scale, e);
            }
        }
    }
}
