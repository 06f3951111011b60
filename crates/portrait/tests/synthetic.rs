//! Synthetic defects generated from good portraits: each must produce its code, and the clean
//! original must not.

mod common;
use common::*;
use image::{Rgb, RgbImage};
use shenfen_portrait::{IssueCode as C, Purpose, Verdict, check};
use std::sync::OnceLock;

fn base() -> &'static RgbImage {
    static B: OnceLock<RgbImage> = OnceLock::new();
    B.get_or_init(|| rgb("test3.jpg"))
}

/// A compliant final photo made by standardize from test3 (used for final-photo defects).
fn final_photo() -> &'static RgbImage {
    static F: OnceLock<RgbImage> = OnceLock::new();
    F.get_or_init(|| {
        let (p, r) = shenfen_portrait::standardize(&bytes("test3.jpg")).unwrap();
        assert_eq!(r.verdict, Verdict::Pass);
        image::load_from_memory(&p.jpeg).unwrap().to_rgb8()
    })
}

fn check_src(img: &RgbImage) -> shenfen_portrait::Report {
    check(&jpeg(img, 92), Purpose::Source)
}

fn check_final(img: &RgbImage) -> shenfen_portrait::Report {
    check(&jpeg(img, 92), Purpose::Final)
}

#[test]
fn clean_base_passes() {
    let r = check_src(base());
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", codes(&r));
    let f = check_final(final_photo());
    assert_eq!(f.verdict, Verdict::Pass, "{:?}", codes(&f));
}

#[test]
fn rotation_is_head_tilted() {
    let r = check_src(&rotate_scale(base(), 20.0, 0.8, [255, 255, 255]));
    assert!(r.has(C::HeadTilted), "{:?}", codes(&r));
    let v = r.issues.iter().find(|i| i.code == C::HeadTilted).unwrap().value.unwrap();
    assert!((v.abs() - 20.0).abs() < 4.0, "measured roll {v}");
    // A small roll is levelled by standardize, but a final photo must be straight.
    let small = rotate_scale(final_photo(), 6.0, 1.0, [255, 255, 255]);
    assert!(check_final(&small).has(C::HeadTilted));
    assert!(!check_src(&rotate_scale(base(), 6.0, 0.8, [255, 255, 255])).has(C::HeadTilted));
}

#[test]
fn blur_is_blurry() {
    let r = check_src(&image::imageops::blur(base(), 4.0));
    assert!(r.has(C::Blurry), "{:?}", codes(&r));
    let f = check_final(&image::imageops::blur(final_photo(), 2.5));
    assert!(f.has(C::Blurry), "{:?}", codes(&f));
}

#[test]
fn darkening_is_underexposed_and_washout_overexposed() {
    let dark = map_pixels(base(), |p| p.map(|v| (v as f32 * 0.3) as u8));
    let r = check_src(&dark);
    assert!(r.has(C::Underexposed), "{:?}", codes(&r));
    let washed = map_pixels(base(), |p| p.map(|v| (v as f32 * 0.25 + 200.0).min(255.0) as u8));
    let r = check_src(&washed);
    assert!(r.has(C::Overexposed), "{:?}", codes(&r));
}

#[test]
fn downscale_is_too_small() {
    let small = image::imageops::resize(base(), 200, 280, image::imageops::FilterType::Triangle);
    let r = check_src(&small);
    assert!(r.has(C::TooSmall), "{:?}", codes(&r));
    assert!(r.has(C::FaceTooSmall), "{:?}", codes(&r));
}

#[test]
fn crop_without_face_is_no_face() {
    let (w, h) = base().dimensions();
    let crop = image::imageops::crop_imm(base(), 0, h * 2 / 3, w, h / 3).to_image();
    let crop = image::imageops::resize(&crop, w, h, image::imageops::FilterType::Triangle);
    let r = check_src(&crop);
    assert_eq!(r.faces, 0);
    assert!(r.has(C::NoFace));
    assert_eq!(r.verdict, Verdict::Fail);
}

#[test]
fn two_faces_are_multiple_faces() {
    let a = base();
    let b = image::imageops::resize(&rgb("test2.jpg"), a.width(), a.height(), image::imageops::FilterType::Triangle);
    let mut two = RgbImage::new(a.width() * 2, a.height());
    image::imageops::replace(&mut two, a, 0, 0);
    image::imageops::replace(&mut two, &b, a.width() as i64, 0);
    let r = check_src(&two);
    assert_eq!(r.faces, 2, "{:?}", codes(&r));
    assert!(r.has(C::MultipleFaces));
}

/// Replaces the (white) background of the final photo, using the photo's own near-white pixels.
fn recolor_background(img: &RgbImage, f: impl Fn(u32, u32) -> [u8; 3]) -> RgbImage {
    let mut out = img.clone();
    for (x, y, p) in out.enumerate_pixels_mut() {
        if p.0.iter().all(|&v| v > 245) {
            *p = Rgb(f(x, y));
        }
    }
    out
}

#[test]
fn coloured_background_is_not_white() {
    let blue = recolor_background(final_photo(), |_, _| [67, 142, 219]);
    let r = check_final(&blue);
    assert!(r.has(C::BackgroundNotWhite), "{:?}", codes(&r));
    // A source portrait is not judged on its background (standardize replaces it).
    assert!(!check_src(&blue).has(C::BackgroundNotWhite));
}

#[test]
fn gradient_background_is_not_uniform_and_dark_halo_is_shadow() {
    let w = final_photo().width() as f32;
    let grad = recolor_background(final_photo(), |x, _| {
        let v = (255.0 - 60.0 * x as f32 / w) as u8;
        [v, v, v]
    });
    let r = check_final(&grad);
    assert!(r.has(C::BackgroundNotUniform) || r.has(C::BackgroundNotWhite), "{:?}", codes(&r));
    // A shadow: background darker in a band around the person.
    let img = final_photo();
    let mut shadow = img.clone();
    let (iw, ih) = img.dimensions();
    for (x, y, p) in shadow.enumerate_pixels_mut() {
        if !p.0.iter().all(|&v| v > 245) {
            continue;
        }
        // distance to the nearest non-background pixel on the same row (cheap halo)
        let mut d = u32::MAX;
        for dx in 1..40u32 {
            let l = x.checked_sub(dx).map(|xx| img.get_pixel(xx, y).0.iter().any(|&v| v <= 245)).unwrap_or(false);
            let r = (x + dx < iw) && img.get_pixel(x + dx, y).0.iter().any(|&v| v <= 245);
            if l || r {
                d = dx;
                break;
            }
        }
        if d < 40 && y > ih / 10 {
            let v = (150 + d * 2) as u8;
            *p = Rgb([v, v, v]);
        }
    }
    let r = check_final(&shadow);
    assert!(r.has(C::ShadowOnBackground) || r.has(C::BackgroundNotUniform), "{:?}", codes(&r));
}

#[test]
fn greyscale_is_unnatural_color() {
    let grey = image::DynamicImage::ImageRgb8(base().clone()).to_luma8();
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 92).encode_image(&grey).unwrap();
    let r = check(&buf, Purpose::Source);
    assert!(r.has(C::UnnaturalColor), "{:?}", codes(&r));
    // A strong colour filter too.
    let green = map_pixels(base(), |p| [p[0] / 3, p[1], p[2] / 3]);
    assert!(check_src(&green).has(C::UnnaturalColor));
}

#[test]
fn white_top_is_clothing_too_light() {
    // Paint everything below the chin white (a white shirt) on the final photo.
    let img = final_photo();
    let r0 = check_final(img);
    assert!(!r0.has(C::ClothingTooLight));
    let mut white = img.clone();
    let h = img.height();
    for (_, y, p) in white.enumerate_pixels_mut() {
        if y > h * 88 / 100 && !p.0.iter().all(|&v| v > 245) {
            *p = Rgb([238, 238, 236]);
        }
    }
    let src = check_src(&white);
    assert!(src.has(C::ClothingTooLight) || check_final(&white).has(C::ClothingTooLight), "{:?}", codes(&src));
}

/// Eye positions measured on the final photo.
fn eyes(img: &RgbImage) -> ([f64; 2], [f64; 2], f64) {
    let c = shenfen_portrait::pipeline::check_full(&jpeg(img, 92), Purpose::Final, &Default::default());
    let f = c.analysis.unwrap().face.unwrap();
    ([f.iris[0].x, f.iris[0].y], [f.iris[1].x, f.iris[1].y], f.iris_radius[0])
}

#[test]
fn red_pupils_are_red_eye_and_lens_spots_are_glare() {
    let img = final_photo();
    let (a, b, r) = eyes(img);
    let mut red = img.clone();
    let mut glare = img.clone();
    for (x, y, p) in red.enumerate_pixels_mut() {
        for e in [a, b] {
            let d = ((x as f64 - e[0]).powi(2) + (y as f64 - e[1]).powi(2)).sqrt();
            if d < r * 0.6 {
                *p = Rgb([200, 30, 30]);
            }
        }
    }
    assert!(check_final(&red).has(C::RedEye));
    for (x, y, p) in glare.enumerate_pixels_mut() {
        for e in [a, b] {
            // Bright spots on the lens below and beside the iris.
            let (dx, dy) = (x as f64 - e[0], y as f64 - e[1]);
            if (dx - r * 2.2).abs() < r * 0.9 && (dy - r * 0.6).abs() < r * 0.7 {
                *p = Rgb([255, 255, 255]);
            }
        }
    }
    let g = check_final(&glare);
    assert!(g.has(C::GlassesGlare), "{:?} {:?}", codes(&g), g.metrics.get("glare_fraction"));
    assert!(!check_final(img).has(C::RedEye));
    assert!(!check_final(img).has(C::GlassesGlare));
}

#[test]
fn a_hat_is_head_covering() {
    let img = final_photo();
    let c = shenfen_portrait::pipeline::check_full(&jpeg(img, 92), Purpose::Final, &Default::default());
    let f = c.analysis.unwrap().face.unwrap();
    let top = f.head_top.unwrap().y;
    let forehead = f.mesh[10][1];
    let (x0, x1) = (f.face_center.x - f.face_width * 0.75, f.face_center.x + f.face_width * 0.75);
    let mut hat = img.clone();
    for (x, y, p) in hat.enumerate_pixels_mut() {
        let (xf, yf) = (x as f64, y as f64);
        if xf > x0 && xf < x1 && yf >= top && yf < forehead - 4.0 {
            *p = Rgb([200, 40, 60]); // a red cap
        }
    }
    let r = check_final(&hat);
    assert!(r.has(C::HeadCovering), "{:?} {:?}", codes(&r), r.metrics.get("head_covering"));
    assert!(!check_final(img).has(C::HeadCovering));
}

#[test]
fn corrupted_and_truncated_files_never_panic() {
    let good = jpeg(base(), 90);
    for cut in [0, 1, 2, 3, 10, 100, 600, good.len() / 3, good.len() - 10] {
        let r = check(&good[..cut], Purpose::Source);
        assert!(matches!(r.verdict, Verdict::Error | Verdict::Fail | Verdict::Pass));
        if cut < 600 {
            assert_eq!(r.verdict, Verdict::Error, "cut {cut}");
            assert!(r.has(C::DecodeError));
        }
    }
    // Flip bytes in the middle of the entropy-coded data.
    let mut bad = good.clone();
    for i in (good.len() / 2..good.len() / 2 + 400).step_by(7) {
        bad[i] ^= 0x5A;
    }
    let _ = check(&bad, Purpose::Source);
    let png = png(base());
    let _ = check(&png[..png.len() / 2], Purpose::Source);
}
