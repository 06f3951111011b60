#![allow(dead_code)]
//! Helpers shared by the integration tests: loading the test photos and making synthetic defects.

use image::{Rgb, RgbImage};
use shenfen_portrait::imgops::sample;
use std::path::PathBuf;

pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

pub fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn rgb(name: &str) -> RgbImage {
    image::load_from_memory(&bytes(name)).expect("decodable test photo").to_rgb8()
}

pub fn jpeg(img: &RgbImage, q: u8) -> Vec<u8> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, q).encode_image(img).unwrap();
    buf
}

pub fn png(img: &RgbImage) -> Vec<u8> {
    let mut buf = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png).unwrap();
    buf
}

/// Rotates about the centre by `deg` (positive = clockwise on screen) and scales by `scale`,
/// keeping the canvas size; uncovered areas become `fill`.
pub fn rotate_scale(img: &RgbImage, deg: f64, scale: f64, fill: [u8; 3]) -> RgbImage {
    let (w, h) = img.dimensions();
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let (s, c) = deg.to_radians().sin_cos();
    let mut out = RgbImage::new(w, h);
    for (x, y, p) in out.enumerate_pixels_mut() {
        let (dx, dy) = ((x as f64 + 0.5 - cx) / scale, (y as f64 + 0.5 - cy) / scale);
        // inverse rotation
        let sx = c * dx + s * dy + cx;
        let sy = -s * dx + c * dy + cy;
        *p = if sx < 0.0 || sy < 0.0 || sx >= w as f64 || sy >= h as f64 {
            Rgb(fill)
        } else {
            let v = sample(img, sx, sy);
            Rgb([v[0] as u8, v[1] as u8, v[2] as u8])
        };
    }
    out
}

pub fn map_pixels(img: &RgbImage, f: impl Fn([u8; 3]) -> [u8; 3]) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        p.0 = f(p.0);
    }
    out
}

pub fn codes(r: &shenfen_portrait::Report) -> Vec<&'static str> {
    r.issues.iter().map(|i| i.code.as_str()).collect()
}

/// CRC-32 of a PNG chunk (type + data), for building PNGs by hand in tests.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
