//! Small, allocation-conscious image operations used by the pipeline (no external resizer).

use image::RgbImage;

/// A 2-D point in image pixel coordinates (x right, y down).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Pt {
    pub x: f64,
    pub y: f64,
}

impl Pt {
    pub fn new(x: f64, y: f64) -> Self {
        Pt { x, y }
    }
    pub fn dist(self, o: Pt) -> f64 {
        ((self.x - o.x).powi(2) + (self.y - o.y).powi(2)).sqrt()
    }
    pub fn mid(self, o: Pt) -> Pt {
        Pt::new((self.x + o.x) / 2.0, (self.y + o.y) / 2.0)
    }
}

/// A rotated square/rectangle region: `center`, `width` x `height` in pixels, rotated by `angle`
/// radians (the region's x axis points along (cos a, sin a) in the image).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotRect {
    pub center: Pt,
    pub width: f64,
    pub height: f64,
    pub angle: f64,
}

impl RotRect {
    /// Maps normalised region coordinates (u, v in 0..1) to image coordinates.
    pub fn to_image(&self, u: f64, v: f64) -> Pt {
        let lx = (u - 0.5) * self.width;
        let ly = (v - 0.5) * self.height;
        let (s, c) = self.angle.sin_cos();
        Pt::new(self.center.x + c * lx - s * ly, self.center.y + s * lx + c * ly)
    }
    /// Inverse of `to_image`.
    pub fn to_local(&self, p: Pt) -> (f64, f64) {
        let dx = p.x - self.center.x;
        let dy = p.y - self.center.y;
        let (s, c) = self.angle.sin_cos();
        let lx = c * dx + s * dy;
        let ly = -s * dx + c * dy;
        (lx / self.width + 0.5, ly / self.height + 0.5)
    }
}

/// Bilinear sample with edge clamping; returns RGB as f32 0..255.
#[inline]
pub fn sample(img: &RgbImage, x: f64, y: f64) -> [f32; 3] {
    let (w, h) = img.dimensions();
    let xf = x - 0.5;
    let yf = y - 0.5;
    let x0 = xf.floor();
    let y0 = yf.floor();
    let fx = (xf - x0) as f32;
    let fy = (yf - y0) as f32;
    let cx = |v: f64| v.clamp(0.0, (w - 1) as f64) as u32;
    let cy = |v: f64| v.clamp(0.0, (h - 1) as f64) as u32;
    let (xa, xb, ya, yb) = (cx(x0), cx(x0 + 1.0), cy(y0), cy(y0 + 1.0));
    let raw = img.as_raw();
    let idx = |x: u32, y: u32| (y as usize * w as usize + x as usize) * 3;
    let (i00, i10, i01, i11) = (idx(xa, ya), idx(xb, ya), idx(xa, yb), idx(xb, yb));
    let mut out = [0f32; 3];
    for c in 0..3 {
        let a = raw[i00 + c] as f32 * (1.0 - fx) + raw[i10 + c] as f32 * fx;
        let b = raw[i01 + c] as f32 * (1.0 - fx) + raw[i11 + c] as f32 * fx;
        out[c] = a * (1.0 - fy) + b * fy;
    }
    out
}

#[allow(clippy::too_many_arguments)]
/// Samples `rect` into an `ow` x `oh` HWC float tensor, each value mapped by `a * v + b`.
/// Pixels outside the image read as `fill` (before mapping) or, without a fill, as the nearest
/// edge pixel. `flip` mirrors horizontally. Walks the affine map incrementally (this runs for
/// every model input, ~130k samples per photo).
pub fn crop_tensor(img: &RgbImage, rect: &RotRect, ow: usize, oh: usize, a: f32, b: f32, flip: bool, fill: Option<f32>) -> Vec<f32> {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let raw = img.as_raw();
    let stride = w as usize * 3;
    let mut out = vec![0f32; ow * oh * 3];
    if w == 0 || h == 0 {
        return out;
    }
    let (s, c) = rect.angle.sin_cos();
    let (su, sv) = (rect.width / ow as f64, rect.height / oh as f64);
    // Image-space step per output column and per output row.
    let (dux, duy) = (c * su, s * su);
    let (dvx, dvy) = (-s * sv, c * sv);
    let p00 = rect.to_image(0.5 / ow as f64, 0.5 / oh as f64);
    let fillv = fill.map(|f| a * f + b);
    for j in 0..oh {
        let (rx, ry) = (p00.x + dvx * j as f64, p00.y + dvy * j as f64);
        for i in 0..ow {
            let ii = if flip { ow - 1 - i } else { i };
            let x = rx + dux * ii as f64 - 0.5;
            let y = ry + duy * ii as f64 - 0.5;
            let o = (j * ow + i) * 3;
            let x0 = x.floor();
            let y0 = y.floor();
            let (xi, yi) = (x0 as i64, y0 as i64);
            if xi >= 0 && yi >= 0 && xi + 1 < w && yi + 1 < h {
                let fx = (x - x0) as f32;
                let fy = (y - y0) as f32;
                let i00 = yi as usize * stride + xi as usize * 3;
                let i01 = i00 + stride;
                for k in 0..3 {
                    let t = raw[i00 + k] as f32 + (raw[i00 + 3 + k] as f32 - raw[i00 + k] as f32) * fx;
                    let u = raw[i01 + k] as f32 + (raw[i01 + 3 + k] as f32 - raw[i01 + k] as f32) * fx;
                    out[o + k] = a * (t + (u - t) * fy) + b;
                }
            } else {
                let inside = x >= -0.5 && y >= -0.5 && x < w as f64 - 0.5 && y < h as f64 - 0.5;
                match (inside, fillv) {
                    (false, Some(f)) => out[o..o + 3].copy_from_slice(&[f, f, f]),
                    _ => {
                        let px = sample(img, x + 0.5, y + 0.5);
                        for k in 0..3 {
                            out[o + k] = a * px[k] + b;
                        }
                    }
                }
            }
        }
    }
    out
}

/// Area-average downscale by an integer factor (fast path for big photos).
pub fn downscale_int(img: &RgbImage, f: u32) -> RgbImage {
    if f <= 1 {
        return img.clone();
    }
    let (w, h) = img.dimensions();
    let (ow, oh) = ((w / f).max(1), (h / f).max(1));
    let mut out = RgbImage::new(ow, oh);
    let raw = img.as_raw();
    let n = f * f;
    let mut acc = vec![0u32; ow as usize * 3];
    for oy in 0..oh {
        acc.iter_mut().for_each(|v| *v = 0);
        for y in oy * f..((oy + 1) * f).min(h) {
            let row = &raw[(y as usize * w as usize) * 3..];
            for ox in 0..ow as usize {
                let base = ox * f as usize * 3;
                for k in 0..f as usize {
                    let p = base + k * 3;
                    if p + 2 < w as usize * 3 {
                        acc[ox * 3] += row[p] as u32;
                        acc[ox * 3 + 1] += row[p + 1] as u32;
                        acc[ox * 3 + 2] += row[p + 2] as u32;
                    }
                }
            }
        }
        let orow = &mut out.as_mut()[(oy as usize * ow as usize) * 3..(oy as usize + 1) * ow as usize * 3];
        for (o, a) in orow.iter_mut().zip(acc.iter()) {
            *o = ((a + n / 2) / n).min(255) as u8;
        }
    }
    out
}

/// Resizes with bilinear sampling preceded by an integer area reduction (good enough for
/// downscaling photographs without aliasing, and fast).
pub fn resize(img: &RgbImage, ow: u32, oh: u32) -> RgbImage {
    let (w, _h) = img.dimensions();
    let f = (w / ow.max(1)).max(1);
    let tmp;
    let src = if f >= 2 {
        tmp = downscale_int(img, f);
        &tmp
    } else {
        img
    };
    let (sw, sh) = src.dimensions();
    let mut out = RgbImage::new(ow, oh);
    let sx = sw as f64 / ow as f64;
    let sy = sh as f64 / oh as f64;
    for (x, y, p) in out.enumerate_pixels_mut() {
        let v = sample(src, (x as f64 + 0.5) * sx, (y as f64 + 0.5) * sy);
        *p = image::Rgb([v[0].round() as u8, v[1].round() as u8, v[2].round() as u8]);
    }
    out
}

/// Rec. 601 luma of an RGB pixel, 0..255.
#[inline]
pub fn luma(p: [u8; 3]) -> f32 {
    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
}

/// RGB to (Y, Cb, Cr), all 0..255.
#[inline]
pub fn ycbcr(p: [f32; 3]) -> [f32; 3] {
    let y = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    let cb = 128.0 - 0.168_736 * p[0] - 0.331_264 * p[1] + 0.5 * p[2];
    let cr = 128.0 + 0.5 * p[0] - 0.418_688 * p[1] - 0.081_312 * p[2];
    [y, cb, cr]
}

/// A single-channel float plane.
#[derive(Debug, Clone)]
pub struct Plane {
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn new(w: usize, h: usize) -> Self {
        Plane { w, h, data: vec![0.0; w * h] }
    }
    #[inline]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.w + x]
    }
    /// Bilinear sample with clamping, coordinates in plane pixels (pixel centres at +0.5).
    pub fn sample(&self, x: f64, y: f64) -> f32 {
        if self.w == 0 || self.h == 0 {
            return 0.0;
        }
        let xf = (x - 0.5).clamp(0.0, (self.w - 1) as f64);
        let yf = (y - 0.5).clamp(0.0, (self.h - 1) as f64);
        let x0 = xf.floor() as usize;
        let y0 = yf.floor() as usize;
        let x1 = (x0 + 1).min(self.w - 1);
        let y1 = (y0 + 1).min(self.h - 1);
        let fx = (xf - x0 as f64) as f32;
        let fy = (yf - y0 as f64) as f32;
        let a = self.at(x0, y0) * (1.0 - fx) + self.at(x1, y0) * fx;
        let b = self.at(x0, y1) * (1.0 - fx) + self.at(x1, y1) * fx;
        a * (1.0 - fy) + b * fy
    }
    /// Mean filter with a (2r+1)^2 window, O(1) per pixel via an integral image.
    pub fn box_blur(&self, r: usize) -> Plane {
        let (w, h) = (self.w, self.h);
        let mut integ = vec![0f64; (w + 1) * (h + 1)];
        for y in 0..h {
            let mut row = 0f64;
            for x in 0..w {
                row += self.data[y * w + x] as f64;
                integ[(y + 1) * (w + 1) + x + 1] = integ[y * (w + 1) + x + 1] + row;
            }
        }
        let mut out = Plane::new(w, h);
        for y in 0..h {
            let y0 = y.saturating_sub(r);
            let y1 = (y + r + 1).min(h);
            for x in 0..w {
                let x0 = x.saturating_sub(r);
                let x1 = (x + r + 1).min(w);
                let s = integ[y1 * (w + 1) + x1] - integ[y0 * (w + 1) + x1] - integ[y1 * (w + 1) + x0]
                    + integ[y0 * (w + 1) + x0];
                out.data[y * w + x] = (s / ((y1 - y0) * (x1 - x0)) as f64) as f32;
            }
        }
        out
    }
}

/// Luma plane of an image.
pub fn luma_plane(img: &RgbImage) -> Plane {
    let (w, h) = img.dimensions();
    Plane { w: w as usize, h: h as usize, data: img.pixels().map(|p| luma(p.0)).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotrect_roundtrip() {
        let r = RotRect { center: Pt::new(100.0, 50.0), width: 40.0, height: 20.0, angle: 0.3 };
        for (u, v) in [(0.0, 0.0), (0.25, 0.75), (1.0, 0.5)] {
            let p = r.to_image(u, v);
            let (u2, v2) = r.to_local(p);
            assert!((u - u2).abs() < 1e-9 && (v - v2).abs() < 1e-9);
        }
        // The region's x axis follows the angle.
        let a = r.to_image(0.0, 0.5);
        let b = r.to_image(1.0, 0.5);
        assert!(((b.y - a.y).atan2(b.x - a.x) - 0.3).abs() < 1e-9);
    }

    #[test]
    fn crop_tensor_matches_pointwise_sampling() {
        let mut img = RgbImage::new(50, 40);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 5) as u8, (y * 6) as u8, ((x * y) % 256) as u8]);
        }
        let r = RotRect { center: Pt::new(22.0, 18.0), width: 30.0, height: 24.0, angle: 0.4 };
        for flip in [false, true] {
            let t = crop_tensor(&img, &r, 16, 12, 1.0, 0.0, flip, Some(7.0));
            for j in 0..12 {
                for i in 0..16 {
                    let ii = if flip { 15 - i } else { i };
                    let p = r.to_image((ii as f64 + 0.5) / 16.0, (j as f64 + 0.5) / 12.0);
                    let inside = p.x >= 0.0 && p.y >= 0.0 && p.x < 50.0 && p.y < 40.0;
                    let want = if inside { sample(&img, p.x, p.y) } else { [7.0; 3] };
                    for k in 0..3 {
                        assert!((t[(j * 16 + i) * 3 + k] - want[k]).abs() < 0.01, "{i},{j}");
                    }
                }
            }
        }
    }

    #[test]
    fn downscale_averages() {
        let mut img = RgbImage::new(4, 2);
        img.put_pixel(0, 0, image::Rgb([200, 0, 0]));
        let d = downscale_int(&img, 2);
        assert_eq!(d.dimensions(), (2, 1));
        assert_eq!(d.get_pixel(0, 0).0, [50, 0, 0]);
        assert_eq!(d.get_pixel(1, 0).0, [0, 0, 0]);
    }

    #[test]
    fn box_blur_preserves_constant() {
        let p = Plane { w: 5, h: 4, data: vec![3.0; 20] };
        let b = p.box_blur(2);
        assert!(b.data.iter().all(|v| (v - 3.0).abs() < 1e-5));
    }
}
