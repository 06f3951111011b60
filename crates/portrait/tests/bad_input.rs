//! Bad input: never a panic or an OOM, always a clear decode_error / too_small.

mod common;
use common::*;
use image::RgbImage;
use shenfen_portrait::{IssueCode as C, Purpose, Verdict, check, standardize};

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(data);
    let mut c = kind.to_vec();
    c.extend_from_slice(data);
    v.extend_from_slice(&common::crc32(&c).to_be_bytes());
    v
}

fn is_decode_error(r: &shenfen_portrait::Report) -> bool {
    r.verdict == Verdict::Error && r.has(C::DecodeError) && !r.issues[0].message_en.is_empty()
}

#[test]
fn empty_garbage_and_text_are_decode_errors() {
    for b in [&b""[..], b"\0", b"hello, world", b"GIF89a\x01\x00\x01\x00", b"%PDF-1.4", b"\xFF\xD8\xFF", b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBPVP8 "] {
        let r = check(b, Purpose::Source);
        assert!(is_decode_error(&r), "{:?}: {:?}", b, codes(&r));
        assert_eq!(r.score, 0);
        assert!(standardize(b).is_err());
    }
}

#[test]
fn decompression_bomb_is_refused_from_the_header() {
    // A real, tiny PNG whose header claims 60000 x 60000 pixels (3.6 gigapixels).
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&60000u32.to_be_bytes());
    ihdr.extend_from_slice(&60000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    png.extend(chunk(b"IEND", &[]));
    let t = std::time::Instant::now();
    let r = check(&png, Purpose::Source);
    assert!(is_decode_error(&r), "{:?}", codes(&r));
    assert!(r.issues[0].message_en.contains("too many pixels"), "{}", r.issues[0].message_en);
    assert!(t.elapsed().as_millis() < 1000);
    // A JPEG header claiming 65000 x 65000.
    let mut jpg = jpeg(&RgbImage::from_pixel(16, 16, image::Rgb([9, 9, 9])), 80);
    let sof = jpg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpg[sof + 5..sof + 7].copy_from_slice(&65000u16.to_be_bytes());
    jpg[sof + 7..sof + 9].copy_from_slice(&65000u16.to_be_bytes());
    let r = check(&jpg, Purpose::Source);
    assert!(is_decode_error(&r), "{:?}", codes(&r));
}

#[test]
fn oversized_file_is_refused_before_decoding() {
    let big = vec![0u8; 16 * 1024 * 1024];
    let r = check(&big, Purpose::Source);
    assert!(is_decode_error(&r));
    assert!(r.issues[0].message_en.contains("too large"));
}

#[test]
fn one_pixel_and_one_row_images_are_too_small() {
    for (w, h) in [(1u32, 1u32), (100_000, 1), (1, 5000), (40, 40)] {
        let img = RgbImage::from_pixel(w, h, image::Rgb([200, 180, 170]));
        let r = check(&png(&img), Purpose::Source);
        assert_eq!(r.verdict, Verdict::Fail, "{w}x{h}");
        assert!(r.has(C::TooSmall), "{w}x{h}: {:?}", codes(&r));
        assert_eq!((r.width, r.height), (w, h));
        match standardize(&png(&img)) {
            Err(shenfen_portrait::StandardizeError::Unusable(rep)) => assert!(rep.has(C::TooSmall)),
            other => panic!("{w}x{h}: {:?}", other.is_ok()),
        }
    }
}

#[test]
fn sixteen_bit_and_grey_png_decode() {
    let img = rgb("test3.jpg");
    let (w, h) = img.dimensions();
    let mut rgb16 = image::ImageBuffer::<image::Rgb<u16>, Vec<u16>>::new(w, h);
    for (x, y, p) in rgb16.enumerate_pixels_mut() {
        let s = img.get_pixel(x, y);
        *p = image::Rgb([s[0] as u16 * 257, s[1] as u16 * 257, s[2] as u16 * 257]);
    }
    let mut buf = Vec::new();
    image::DynamicImage::ImageRgb16(rgb16).write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png).unwrap();
    let r = check(&buf, Purpose::Source);
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", codes(&r));
    let grey = image::DynamicImage::ImageRgb8(img).to_luma8();
    let mut buf = Vec::new();
    grey.write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png).unwrap();
    let r = check(&buf, Purpose::Source);
    assert!(r.has(C::UnnaturalColor), "grey photo: {:?}", codes(&r));
}

#[test]
fn animated_png_uses_the_first_frame() {
    let a = rgb("test3.jpg");
    let (w, h) = a.dimensions();
    let mut buf = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut buf, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_animated(2, 0).unwrap();
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(a.as_raw()).unwrap();
        let blank = vec![255u8; (w * h * 3) as usize];
        wr.write_image_data(&blank).unwrap();
        wr.finish().unwrap();
    }
    let r = check(&buf, Purpose::Source);
    assert_eq!(r.faces, 1, "{:?}", codes(&r));
}

#[test]
fn animated_webp_is_handled_or_refused_clearly() {
    // Build an animated WebP container around a lossless frame made by the image crate.
    let img = image::imageops::resize(&rgb("test3.jpg"), 256, 358, image::imageops::FilterType::Triangle);
    let mut still = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut still).encode(img.as_raw(), 256, 358, image::ExtendedColorType::Rgb8).unwrap();
    // still = RIFF....WEBP + VP8L chunk
    let vp8l = &still[12..];
    let frame_len = vp8l.len();
    let mut anmf = Vec::new();
    anmf.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // x, y offsets
    anmf.extend_from_slice(&(255u32).to_le_bytes()[..3]); // width - 1
    anmf.extend_from_slice(&(357u32).to_le_bytes()[..3]); // height - 1
    anmf.extend_from_slice(&[100, 0, 0, 0]); // duration, flags
    anmf.extend_from_slice(vp8l);
    let _ = frame_len;
    let mut body = b"WEBP".to_vec();
    let mut vp8x = vec![0x02, 0, 0, 0]; // animation flag
    vp8x.extend_from_slice(&(255u32).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(357u32).to_le_bytes()[..3]);
    for (tag, data) in [(b"VP8X", vp8x), (b"ANIM", vec![255, 255, 255, 255, 0, 0]), (b"ANMF", anmf.clone()), (b"ANMF", anmf)] {
        body.extend_from_slice(tag);
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&data);
        if data.len() % 2 == 1 {
            body.push(0);
        }
    }
    let mut webp = b"RIFF".to_vec();
    webp.extend_from_slice(&(body.len() as u32).to_le_bytes());
    webp.extend_from_slice(&body);
    let r = check(&webp, Purpose::Source);
    match r.verdict {
        Verdict::Error => assert!(r.has(C::DecodeError)),
        _ => assert_eq!(r.faces, 1, "first frame analysed: {:?}", codes(&r)),
    }
}

#[test]
fn huge_exif_is_harmless() {
    // A JPEG with several maximal (64 KB) APP1 segments of junk EXIF, and a PNG with a 4 MB eXIf chunk.
    let base = jpeg(&rgb("test3.jpg"), 90);
    let mut j = base[..2].to_vec();
    for _ in 0..8 {
        j.extend_from_slice(&[0xFF, 0xE1, 0xFF, 0xFF]);
        j.extend_from_slice(b"Exif\0\0MM\0\x2a\0\0\0\x08\xFF\xFF");
        j.extend(std::iter::repeat_n(0xABu8, 0xFFFF - 2 - 16));
    }
    j.extend_from_slice(&base[2..]);
    let r = check(&j, Purpose::Source);
    assert_eq!(r.faces, 1, "{:?}", codes(&r));
    let p = png(&rgb("test3.jpg"));
    let mut q = p[..33].to_vec(); // signature + IHDR
    let mut exif = b"MM\0\x2a\0\0\0\x08".to_vec();
    exif.extend(std::iter::repeat_n(0xFFu8, 4 << 20));
    q.extend(chunk(b"eXIf", &exif));
    q.extend_from_slice(&p[33..]);
    let r = check(&q, Purpose::Source);
    assert!(r.verdict != Verdict::Error || r.has(C::DecodeError));
}

#[test]
fn cmyk_and_ycck_jpegs_are_converted_to_rgb() {
    // Left half white paper (no ink), right half red ink (magenta + yellow).
    let (w, h) = (32u16, 16u16);
    let mut cmyk = Vec::new();
    for _y in 0..h {
        for x in 0..w {
            cmyk.extend_from_slice(if x < w / 2 { &[0, 0, 0, 0] } else { &[0, 255, 255, 0] });
        }
    }
    for ct in [jpeg_encoder::ColorType::Cmyk, jpeg_encoder::ColorType::CmykAsYcck] {
        let mut buf = Vec::new();
        jpeg_encoder::Encoder::new(&mut buf, 95).encode(&cmyk, w, h, ct).unwrap();
        let d = shenfen_portrait::decode::decode(&buf, &shenfen_portrait::decode::DecodeLimits { max_bytes: 1 << 20, max_pixels: 1 << 20, min_long_side: 0 })
            .unwrap_or_else(|e| panic!("{ct:?}: {e}"));
        let white = d.image.get_pixel(4, 8).0;
        let red = d.image.get_pixel(28, 8).0;
        assert!(white.iter().all(|&v| v > 230), "{ct:?}: paper {white:?}");
        assert!(red[0] > 200 && red[1] < 50 && red[2] < 50, "{ct:?}: red ink {red:?}");
    }
}
