//! Decoding that survives real uploads: content sniffing (never the extension), limits checked
//! before any pixel buffer is allocated, EXIF orientation applied, CMYK / grey / 16-bit / RGBA
//! converted to 8-bit RGB. Large JPEGs are decoded with DCT scaling (1/2, 1/4, 1/8) straight to a
//! working resolution, which is what keeps a 12 MP check fast.

use image::{ImageDecoder, ImageReader, RgbImage};
use std::io::Cursor;

/// What the bytes are, judged from their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    WebP,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::WebP => "webp",
        }
    }
}

/// Why decoding failed; each maps to `decode_error` (or `too_small`) in a report.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty input")]
    Empty,
    #[error("file too large: {0} bytes (limit {1})")]
    TooManyBytes(usize, usize),
    #[error("not a JPEG, PNG or WebP image")]
    UnknownFormat,
    #[error("image too large: {0}x{1} pixels (limit {2} pixels)")]
    TooManyPixels(u32, u32, u64),
    #[error("image has zero size")]
    ZeroSize,
    #[error("unsupported image: {0}")]
    Unsupported(String),
    #[error("corrupt or truncated {0} data: {1}")]
    Corrupt(&'static str, String),
}

/// Limits checked before decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_bytes: usize,
    pub max_pixels: u64,
    /// Decode large JPEGs at a reduced scale so that the long side is still >= this (0 = full size).
    pub min_long_side: u32,
}

/// A decoded, upright RGB image plus what we learned on the way.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub image: RgbImage,
    pub format: Format,
    /// Size of the upright image at full resolution (after EXIF orientation).
    pub full_width: u32,
    pub full_height: u32,
    /// `image` pixels per full-resolution pixel (1.0 unless DCT scaling was used).
    pub scale: f64,
    pub orientation: u8,
    pub was_grey: bool,
}

pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.len() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF {
        Some(Format::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(Format::WebP)
    } else {
        None
    }
}

/// Reads the pixel size from the header only, without decoding (upright size not applied).
pub fn header_size(bytes: &[u8], format: Format) -> Result<(u32, u32), DecodeError> {
    match format {
        Format::Jpeg => {
            let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
            d.read_info().map_err(|e| DecodeError::Corrupt("jpeg", e.to_string()))?;
            let info = d.info().ok_or_else(|| DecodeError::Corrupt("jpeg", "no frame header".into()))?;
            Ok((info.width as u32, info.height as u32))
        }
        Format::Png | Format::WebP => {
            let r = ImageReader::with_format(Cursor::new(bytes), to_image_format(format));
            let d = r.into_decoder().map_err(|e| DecodeError::Corrupt(format.name(), e.to_string()))?;
            Ok(d.dimensions())
        }
    }
}

fn to_image_format(f: Format) -> image::ImageFormat {
    match f {
        Format::Jpeg => image::ImageFormat::Jpeg,
        Format::Png => image::ImageFormat::Png,
        Format::WebP => image::ImageFormat::WebP,
    }
}

pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(DecodeError::TooManyBytes(bytes.len(), limits.max_bytes));
    }
    let format = sniff(bytes).ok_or(DecodeError::UnknownFormat)?;
    let (w, h) = header_size(bytes, format)?;
    if w == 0 || h == 0 {
        return Err(DecodeError::ZeroSize);
    }
    if (w as u64) * (h as u64) > limits.max_pixels {
        return Err(DecodeError::TooManyPixels(w, h, limits.max_pixels));
    }
    match format {
        Format::Jpeg => decode_jpeg(bytes, w, h, limits),
        Format::Png | Format::WebP => decode_other(bytes, format, limits),
    }
}

fn decode_jpeg(bytes: &[u8], w: u32, h: u32, limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    d.read_info().map_err(|e| DecodeError::Corrupt("jpeg", e.to_string()))?;
    // Bound the decoder's own buffers too (coefficients of progressive images).
    d.set_max_decoding_buffer_size((limits.max_pixels as usize).saturating_mul(8));
    let orientation = d.exif_data().map(exif_orientation).unwrap_or(1);
    let long = w.max(h);
    let mut scale = 1.0;
    if limits.min_long_side > 0 && long >= 2 * limits.min_long_side {
        // Smallest DCT scale that keeps the long side >= min_long_side.
        let mut f = 1u32;
        while f < 8 && long / (f * 2) >= limits.min_long_side {
            f *= 2;
        }
        if f > 1 {
            let rw = w.div_ceil(f).min(u16::MAX as u32) as u16;
            let rh = h.div_ceil(f).min(u16::MAX as u32) as u16;
            let (ow, _oh) = d.scale(rw, rh).map_err(|e| DecodeError::Corrupt("jpeg", e.to_string()))?;
            scale = ow as f64 / w as f64;
        }
    }
    let pixels = d.decode().map_err(|e| DecodeError::Corrupt("jpeg", e.to_string()))?;
    let info = d.info().ok_or_else(|| DecodeError::Corrupt("jpeg", "no frame header".into()))?;
    let (ow, oh) = (info.width as u32, info.height as u32);
    let n = (ow as usize) * (oh as usize);
    use jpeg_decoder::PixelFormat as P;
    let mut was_grey = false;
    let rgb: Vec<u8> = match info.pixel_format {
        P::RGB24 => pixels,
        P::L8 => {
            was_grey = true;
            pixels.iter().flat_map(|&v| [v, v, v]).collect()
        }
        P::L16 => {
            was_grey = true;
            pixels.chunks_exact(2).flat_map(|c| [c[0], c[0], c[0]]).collect()
        }
        P::CMYK32 => {
            // jpeg-decoder undoes Adobe's inverted storage and returns ink amounts (0 = no ink);
            // a plain (uncalibrated) conversion to RGB.
            pixels
                .chunks_exact(4)
                .flat_map(|c| {
                    let k = 255 - c[3] as u32;
                    [((255 - c[0] as u32) * k / 255) as u8, ((255 - c[1] as u32) * k / 255) as u8, ((255 - c[2] as u32) * k / 255) as u8]
                })
                .collect()
        }
    };
    if rgb.len() < n * 3 {
        return Err(DecodeError::Corrupt("jpeg", "short pixel buffer".into()));
    }
    let mut rgb = rgb;
    rgb.truncate(n * 3);
    let img = RgbImage::from_raw(ow, oh, rgb).ok_or_else(|| DecodeError::Corrupt("jpeg", "bad buffer".into()))?;
    let (img, fw, fh) = orient(img, orientation, w, h);
    Ok(Decoded { image: img, format: Format::Jpeg, full_width: fw, full_height: fh, scale, orientation, was_grey })
}

fn decode_other(bytes: &[u8], format: Format, limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), to_image_format(format));
    let mut l = image::Limits::default();
    l.max_alloc = Some(limits.max_pixels.saturating_mul(8));
    reader.limits(l);
    let mut dec = reader.into_decoder().map_err(|e| DecodeError::Corrupt(format.name(), e.to_string()))?;
    let orientation = match dec.orientation() {
        Ok(o) => orientation_code(o),
        Err(_) => 1,
    };
    let color = dec.color_type();
    let was_grey = matches!(
        color,
        image::ColorType::L8 | image::ColorType::L16 | image::ColorType::La8 | image::ColorType::La16
    );
    let has_alpha = color.has_alpha();
    let dynimg = image::DynamicImage::from_decoder(dec).map_err(|e| match e {
        image::ImageError::Limits(l) => DecodeError::Unsupported(format!("memory limit: {l}")),
        image::ImageError::Unsupported(u) => DecodeError::Unsupported(u.to_string()),
        other => DecodeError::Corrupt(format.name(), other.to_string()),
    })?;
    // Transparent pixels become white (the ID photo background colour) instead of black.
    let img = if has_alpha {
        let rgba = dynimg.to_rgba8();
        let (w, h) = rgba.dimensions();
        let mut out = RgbImage::new(w, h);
        for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
            let a = p[3] as u32;
            for c in 0..3 {
                o[c] = ((p[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
            }
        }
        out
    } else {
        dynimg.to_rgb8()
    };
    let (w, h) = img.dimensions();
    let (img, fw, fh) = orient(img, orientation, w, h);
    Ok(Decoded { image: img, format, full_width: fw, full_height: fh, scale: 1.0, orientation, was_grey })
}

fn orientation_code(o: image::metadata::Orientation) -> u8 {
    use image::metadata::Orientation as O;
    match o {
        O::NoTransforms => 1,
        O::FlipHorizontal => 2,
        O::Rotate180 => 3,
        O::FlipVertical => 4,
        O::Rotate90FlipH => 5,
        O::Rotate90 => 6,
        O::Rotate270FlipH => 7,
        O::Rotate270 => 8,
    }
}

/// EXIF orientation (1..=8) from a raw TIFF/EXIF block; 1 when absent or unreadable.
pub fn exif_orientation(raw: &[u8]) -> u8 {
    let Ok(exif) = exif::Reader::new().read_raw(raw.to_vec()) else { return 1 };
    exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .filter(|v| (1..=8).contains(v))
        .map(|v| v as u8)
        .unwrap_or(1)
}

/// Applies an EXIF orientation; returns the upright image and the upright full-resolution size.
fn orient(img: RgbImage, o: u8, full_w: u32, full_h: u32) -> (RgbImage, u32, u32) {
    use image::imageops as ops;
    let swapped = matches!(o, 5..=8);
    let img = match o {
        2 => ops::flip_horizontal(&img),
        3 => ops::rotate180(&img),
        4 => ops::flip_vertical(&img),
        5 => ops::flip_horizontal(&ops::rotate90(&img)),
        6 => ops::rotate90(&img),
        7 => ops::flip_horizontal(&ops::rotate270(&img)),
        8 => ops::rotate270(&img),
        _ => img,
    };
    if swapped { (img, full_h, full_w) } else { (img, full_w, full_h) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> DecodeLimits {
        DecodeLimits { max_bytes: 15 << 20, max_pixels: 50_000_000, min_long_side: 0 }
    }

    #[test]
    fn sniffing_ignores_extension_and_rejects_garbage() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nxxxx"), Some(Format::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Format::WebP));
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(decode(b"hello world", &limits()).unwrap_err(), DecodeError::UnknownFormat);
        assert_eq!(decode(b"", &limits()).unwrap_err(), DecodeError::Empty);
    }

    #[test]
    fn byte_limit_checked_first() {
        let l = DecodeLimits { max_bytes: 10, ..limits() };
        assert!(matches!(decode(&[0xFF; 11], &l), Err(DecodeError::TooManyBytes(11, 10))));
    }

    #[test]
    fn decompression_bomb_refused_before_decoding() {
        // A valid PNG header claiming 100000 x 100000 pixels followed by almost nothing.
        let mut png = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut png, 1, 1);
            enc.set_color(png::ColorType::Grayscale);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[0]).unwrap();
        }
        // Patch IHDR width/height (bytes 16..24) and its CRC.
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(decode(&png, &limits()), Err(DecodeError::TooManyPixels(100_000, 100_000, _))));
    }

    pub(crate) fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn grey_and_rgba_png_become_rgb_with_white_for_transparent() {
        let mut rgba = image::RgbaImage::new(4, 2);
        rgba.put_pixel(0, 0, image::Rgba([10, 20, 30, 255]));
        rgba.put_pixel(1, 0, image::Rgba([10, 20, 30, 0]));
        let mut buf = Vec::new();
        image::DynamicImage::ImageRgba8(rgba).write_to(&mut Cursor::new(&mut buf), image::ImageFormat::Png).unwrap();
        let d = decode(&buf, &limits()).unwrap();
        assert_eq!(d.image.get_pixel(0, 0).0, [10, 20, 30]);
        assert_eq!(d.image.get_pixel(1, 0).0, [255, 255, 255]);

        let g16 = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_pixel(3, 3, image::Luma([65535]));
        let mut buf = Vec::new();
        image::DynamicImage::ImageLuma16(g16).write_to(&mut Cursor::new(&mut buf), image::ImageFormat::Png).unwrap();
        let d = decode(&buf, &limits()).unwrap();
        assert!(d.was_grey);
        assert_eq!(d.image.get_pixel(2, 2).0, [255, 255, 255]);
    }

    #[test]
    fn jpeg_exif_orientation_is_applied() {
        // 8x4 image, left half black, right half white, tagged orientation 6 (rotate 90 cw).
        let mut img = RgbImage::new(16, 8);
        for (x, _, p) in img.enumerate_pixels_mut() {
            *p = if x < 8 { image::Rgb([0, 0, 0]) } else { image::Rgb([255, 255, 255]) };
        }
        let mut jpg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpg, 95).encode_image(&img).unwrap();
        // Insert an APP1 Exif segment right after SOI.
        let tiff: Vec<u8> = [
            b"MM\0\x2a\0\0\0\x08".as_slice(),
            &[0, 1],                                     // one entry
            &[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0], // Orientation SHORT 1 = 6
            &[0, 0, 0, 0],
        ]
        .concat();
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = jpg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpg[2..]);
        let d = decode(&out, &limits()).unwrap();
        assert_eq!(d.orientation, 6);
        assert_eq!(d.image.dimensions(), (8, 16));
        assert_eq!((d.full_width, d.full_height), (8, 16));
        // After rotating 90 degrees clockwise the black half is on top.
        assert!(d.image.get_pixel(4, 2)[0] < 60);
        assert!(d.image.get_pixel(4, 13)[0] > 200);
    }

    #[test]
    fn large_jpeg_is_decoded_scaled() {
        let img = RgbImage::from_pixel(2000, 1000, image::Rgb([100, 150, 200]));
        let mut jpg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpg, 80).encode_image(&img).unwrap();
        let d = decode(&jpg, &DecodeLimits { min_long_side: 500, ..limits() }).unwrap();
        assert_eq!(d.image.dimensions(), (500, 250));
        assert_eq!((d.full_width, d.full_height), (2000, 1000));
        assert!((d.scale - 0.25).abs() < 1e-9);
    }

    #[test]
    fn truncated_jpeg_is_an_error_not_a_panic() {
        let img = RgbImage::from_pixel(64, 64, image::Rgb([100, 150, 200]));
        let mut jpg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpg, 80).encode_image(&img).unwrap();
        for cut in [3, 20, 100, jpg.len() / 2] {
            let _ = decode(&jpg[..cut], &limits());
        }
    }
}
