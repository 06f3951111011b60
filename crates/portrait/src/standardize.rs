//! Standardize: level the eyes, scale and crop to 358 x 441 with the GA 461 geometry, replace the
//! background with white using the person mask, encode a baseline JPEG at 350 dpi, check it.

use crate::analyze::{Face, Mask, timed};
use crate::checks::Metrics;
use crate::decode;
use crate::imgops::{self, Plane, Pt, RotRect, sample};
use crate::models::{self, Models};
use crate::pipeline::{self, check_image, decode_error_issue, decode_limits, to_work};
use crate::report::{Issue, IssueCode as C, Purpose, Report, Severity, Thresholds, Verdict};
use image::RgbImage;
use std::collections::BTreeMap;
use std::time::Instant;

/// A standard ID photo.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardPhoto {
    /// Baseline JPEG, JFIF density = `Thresholds::dpi`.
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The JPEG quality finally used (lowered from the configured one to meet the size cap).
    pub quality: u8,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StandardizeError {
    /// The source cannot give a compliant photo; the report says why (its fail issues).
    #[error("no compliant ID photo can be made from this image: {}", reasons(.0))]
    Unusable(Box<Report>),
    #[error("internal error: {0}")]
    Internal(String),
}

fn reasons(r: &Report) -> String {
    r.issues.iter().filter(|i| i.severity == Severity::Fail).map(|i| i.code.as_str()).collect::<Vec<_>>().join(", ")
}

impl StandardizeError {
    pub fn report(&self) -> Option<&Report> {
        match self {
            StandardizeError::Unusable(r) => Some(r),
            StandardizeError::Internal(_) => None,
        }
    }
}

/// Where the standard frame lies in the working image.
#[derive(Debug, Clone, Copy)]
pub struct CropPlan {
    /// The 358 x 441 frame as a rotated rectangle in work pixels.
    pub rect: RotRect,
    /// Output pixels per work pixel.
    pub scale: f64,
    /// Eye line and head top in output pixels.
    pub eye_y: f64,
    pub head_top_y: f64,
}

/// The GA 461 frame for a face: face width 207, centred, head top in the middle of 7..21 unless
/// that pushes the eye line below 234 (the eye-line rule wins and tall hair is cropped).
pub fn plan(face: &Face, t: &Thresholds) -> CropPlan {
    let s = t.face_width_px / (face.face_width * t.face_width_scale).max(1.0);
    let (ex, ey) = face.axes();
    let dot = |a: Pt, b: Pt| a.x * b.x + a.y * b.y;
    let head_h = match face.head_top {
        Some(top) => dot(Pt::new(face.eye_mid.x - top.x, face.eye_mid.y - top.y), ey),
        None => face.face_width, // typical crown-to-eye distance (in mesh widths)
    };
    let want_top = (t.head_top_min_px + t.head_top_max_px) / 2.0;
    let eye_y = (want_top + head_h * s).min(t.eye_y_max_px - 2.0);
    let along = dot(Pt::new(face.face_center.x - face.eye_mid.x, face.face_center.y - face.eye_mid.y), ex);
    let o = Pt::new(face.eye_mid.x + ex.x * along, face.eye_mid.y + ex.y * along);
    let (sw, sh) = (t.standard_width as f64, t.standard_height as f64);
    let dv = (sh / 2.0 - eye_y) / s;
    let center = Pt::new(o.x + ey.x * dv, o.y + ey.y * dv);
    CropPlan {
        rect: RotRect { center, width: sw / s, height: sh / s, angle: face.roll_deg.to_radians() },
        scale: s,
        eye_y,
        head_top_y: eye_y - head_h * s,
    }
}

/// A corrected plan from the face measured on a rendered result (`out`, in output pixels).
pub fn correct(p: &CropPlan, out: &Face, t: &Thresholds) -> CropPlan {
    let (sw, sh) = (t.standard_width as f64, t.standard_height as f64);
    let fw_out = (out.face_width * t.face_width_scale).max(1.0);
    let s2 = p.scale * t.face_width_px / fw_out;
    // The measured face centre / eye line in the work image.
    let dot = |a: Pt, b: Pt| a.x * b.x + a.y * b.y;
    let (oex, oey) = out.axes();
    let along = dot(Pt::new(out.face_center.x - out.eye_mid.x, out.face_center.y - out.eye_mid.y), oex);
    let anchor_out = Pt::new(out.eye_mid.x + oex.x * along, out.eye_mid.y + oex.y * along);
    let anchor = p.rect.to_image(anchor_out.x / sw, anchor_out.y / sh);
    let head_h_out = match out.head_top {
        Some(top) => dot(Pt::new(out.eye_mid.x - top.x, out.eye_mid.y - top.y), oey),
        None => p.eye_y - p.head_top_y,
    };
    let head_h2 = head_h_out * s2 / p.scale;
    let want_top = (t.head_top_min_px + t.head_top_max_px) / 2.0;
    let eye_y = (want_top + head_h2).min(t.eye_y_max_px - 2.0);
    let angle = p.rect.angle + out.roll_deg.to_radians();
    let (s, c) = angle.sin_cos();
    let ey = Pt::new(-s, c);
    let dv = (sh / 2.0 - eye_y) / s2;
    CropPlan {
        rect: RotRect { center: Pt::new(anchor.x + ey.x * dv, anchor.y + ey.y * dv), width: sw / s2, height: sh / s2, angle },
        scale: s2,
        eye_y,
        head_top_y: eye_y - head_h2,
    }
}

/// Can a compliant crop be made from this source? (face resolution, head cut off, frame outside the
/// image where the person is).
pub fn source_geometry(face: &Face, mask: Option<&Mask>, work: &RgbImage, work_scale: f64, t: &Thresholds, m: &mut Metrics) -> Vec<Issue> {
    let mut v = Vec::new();
    let face_px = face.face_width * t.face_width_scale / work_scale.max(1e-9);
    m.insert("source_face_px".into(), face_px);
    if face_px < t.min_source_face_px {
        v.push(Issue::fail(C::FaceTooSmall, face_px, t.min_source_face_px).with_message(
            format!("人脸太小(宽 {face_px:.0} 像素),至少需要 {:.0} 像素,请靠近镜头或使用更高分辨率", t.min_source_face_px),
            format!("The face is too small ({face_px:.0} px wide, at least {:.0} px needed): move closer or use a higher resolution", t.min_source_face_px),
        ));
    }
    let p = plan(face, t);
    let (w, h) = (work.width() as f64, work.height() as f64);
    let corners = [p.rect.to_image(0.0, 0.0), p.rect.to_image(1.0, 0.0), p.rect.to_image(0.0, 1.0), p.rect.to_image(1.0, 1.0)];
    let s = p.scale;
    let top_over = corners[..2].iter().map(|c| -c.y).fold(f64::MIN, f64::max) * s;
    let bottom_over = corners[2..].iter().map(|c| c.y - h).fold(f64::MIN, f64::max) * s;
    let left_over = corners.iter().map(|c| -c.x).fold(f64::MIN, f64::max) * s;
    let right_over = corners.iter().map(|c| c.x - w).fold(f64::MIN, f64::max) * s;
    m.insert("frame_overflow_top_px".into(), top_over);
    m.insert("frame_overflow_bottom_px".into(), bottom_over);
    m.insert("frame_overflow_side_px".into(), left_over.max(right_over));
    if face.head_cut && top_over > 2.0 {
        v.push(Issue::fail(C::FaceOffCenter, top_over, 0.0).with_message(
            "头顶被裁切,请后退一些或将相机抬高,使整个头部都在画面内",
            "The top of the head is cut off: step back or raise the camera so the whole head is in the picture",
        ));
    }
    let tol_v = 0.04 * t.standard_height as f64;
    if bottom_over > tol_v {
        v.push(Issue::fail(C::FaceTooLarge, bottom_over, tol_v).with_message(
            "离镜头太近,肩部和上身不在画面内,请后退一些",
            "Too close to the camera: the shoulders are not in the picture, step back",
        ));
    }
    // At the sides the frame may extend past the photo only where the background is (it becomes white).
    let tol_h = 0.03 * t.standard_width as f64;
    if let Some(mask) = mask {
        for (over, x) in [(left_over, 0.5), (right_over, w - 0.5)] {
            if over > tol_h {
                let (mut n, mut k) = (0.0, 0.0);
                let y0 = face.eye_mid.y.max(0.0);
                let mut y = y0;
                while y < h {
                    n += 1.0;
                    if mask.at(x, y) > 0.5 {
                        k += 1.0;
                    }
                    y += (h / 100.0).max(1.0);
                }
                if n > 0.0 && k / n > 0.3 {
                    v.push(Issue::fail(C::FaceOffCenter, over, tol_h).with_message(
                        "人像太靠近照片边缘,请站到画面中央",
                        "You are too close to the side of the picture: stand in the middle",
                    ));
                    break;
                }
            }
        }
    }
    v
}

/// Codes that make a compliant crop impossible (standardize refuses instead of producing a bad photo).
fn blocking(code: C) -> bool {
    matches!(code, C::DecodeError | C::TooSmall | C::NoFace | C::MultipleFaces | C::FaceTooSmall | C::FaceTooLarge | C::FaceOffCenter)
}

/// Guided filter (He et al.): refines `p` (alpha) along the edges of guide `g` (luma 0..1).
pub fn guided_filter(g: &Plane, p: &Plane, r: usize, eps: f32) -> Plane {
    let n = g.data.len();
    let mul = |a: &Plane, b: &Plane| Plane { w: a.w, h: a.h, data: (0..n).map(|i| a.data[i] * b.data[i]).collect() };
    let mi = g.box_blur(r);
    let mp = p.box_blur(r);
    let mip = mul(g, p).box_blur(r);
    let mii = mul(g, g).box_blur(r);
    let mut a = Plane::new(g.w, g.h);
    let mut b = Plane::new(g.w, g.h);
    for i in 0..n {
        let var = mii.data[i] - mi.data[i] * mi.data[i];
        let cov = mip.data[i] - mi.data[i] * mp.data[i];
        a.data[i] = cov / (var + eps);
        b.data[i] = mp.data[i] - a.data[i] * mi.data[i];
    }
    let ma = a.box_blur(r);
    let mb = b.box_blur(r);
    Plane { w: g.w, h: g.h, data: (0..n).map(|i| (ma.data[i] * g.data[i] + mb.data[i]).clamp(0.0, 1.0)).collect() }
}

/// Renders the standard photo from `src` (whose pixels are `src_per_work` times the work pixels).
pub fn render(m: &Models, src: &RgbImage, src_per_work: f64, p: &CropPlan, t: &Thresholds) -> Result<RgbImage, String> {
    let (ow, oh) = (t.standard_width, t.standard_height);
    let mut rect = p.rect;
    rect.center = Pt::new(rect.center.x * src_per_work, rect.center.y * src_per_work);
    rect.width *= src_per_work;
    rect.height *= src_per_work;
    // Area-reduce first so that bilinear sampling does not alias.
    let k = (rect.width / ow as f64).floor() as u32;
    let reduced;
    let img = if k >= 2 {
        reduced = imgops::downscale_int(src, k);
        let f = 1.0 / k as f64;
        rect.center = Pt::new(rect.center.x * f, rect.center.y * f);
        rect.width *= f;
        rect.height *= f;
        &reduced
    } else {
        src
    };
    let (w, h) = (img.width() as f64, img.height() as f64);
    // Person mask over the frame (plus nothing outside the photo).
    let seg = m.segment(img, &rect).map_err(|e| e.to_string())?;
    let n = (ow * oh) as usize;
    let mut rgb = vec![[0f32; 3]; n];
    let mut alpha = Plane::new(ow as usize, oh as usize);
    let mut guide = Plane::new(ow as usize, oh as usize);
    for j in 0..oh as usize {
        for i in 0..ow as usize {
            let (u, v) = ((i as f64 + 0.5) / ow as f64, (j as f64 + 0.5) / oh as f64);
            let q = rect.to_image(u, v);
            let idx = j * ow as usize + i;
            let outside_top = q.y < 0.0;
            let outside = q.x < 0.0 || q.y < 0.0 || q.x >= w || q.y >= h;
            let px = sample(img, q.x, q.y); // clamps: sides and bottom replicate the edge
            rgb[idx] = px;
            guide.data[idx] = imgops::luma([px[0] as u8, px[1] as u8, px[2] as u8]) / 255.0;
            alpha.data[idx] = if outside_top || (outside && seg.sample(u * 256.0, v * 256.0) < 0.5) {
                0.0
            } else {
                seg.sample(u * 256.0, v * 256.0)
            };
        }
    }
    // Edge-aware refinement of the upsampled mask, then a gentle contrast curve so the interior is
    // solid and the background fully white.
    let refined = guided_filter(&guide, &alpha, 4, 2e-3);
    let a: Vec<f32> = refined
        .data
        .iter()
        .map(|&x| {
            let t = ((x - 0.15) / 0.7).clamp(0.0, 1.0);
            t * t * (3.0 - 2.0 * t)
        })
        .collect();
    // Local background colour (weighted by 1 - alpha) to remove it from edge pixels (no halo).
    let mut bg = [Plane::new(ow as usize, oh as usize), Plane::new(ow as usize, oh as usize), Plane::new(ow as usize, oh as usize)];
    let mut wgt = Plane::new(ow as usize, oh as usize);
    for i in 0..n {
        let b = 1.0 - a[i];
        wgt.data[i] = b;
        for c in 0..3 {
            bg[c].data[i] = rgb[i][c] * b;
        }
    }
    let wb = wgt.box_blur(12);
    let bgb: Vec<Plane> = bg.iter().map(|p| p.box_blur(12)).collect();
    let mut out = RgbImage::new(ow, oh);
    for (i, px) in out.pixels_mut().enumerate() {
        let al = a[i];
        let mut o = [0u8; 3];
        for c in 0..3 {
            let bcol = if wb.data[i] > 1e-3 { bgb[c].data[i] / wb.data[i] } else { 255.0 };
            let f = if al > 0.98 { rgb[i][c] } else if al < 0.02 { 255.0 } else { ((rgb[i][c] - (1.0 - al) * bcol) / al).clamp(0.0, 255.0) };
            o[c] = (al * f + (1.0 - al) * 255.0).round().clamp(0.0, 255.0) as u8;
        }
        *px = image::Rgb(o);
    }
    Ok(out)
}

/// Baseline JPEG with JFIF density; quality lowered in steps of 5 until it fits `max_jpeg_bytes`.
pub fn encode(img: &RgbImage, t: &Thresholds) -> Result<(Vec<u8>, u8), String> {
    use image::codecs::jpeg::{JpegEncoder, PixelDensity};
    let mut q = t.jpeg_quality.clamp(1, 100);
    loop {
        let mut buf = Vec::with_capacity(32 * 1024);
        let mut enc = JpegEncoder::new_with_quality(&mut buf, q);
        enc.set_pixel_density(PixelDensity::dpi(t.dpi));
        enc.encode_image(img).map_err(|e| e.to_string())?;
        if buf.len() <= t.max_jpeg_bytes || q <= 40 {
            return Ok((buf, q));
        }
        q = q.saturating_sub(5).max(40);
    }
}

pub fn standardize_with(bytes: &[u8], t: &Thresholds) -> Result<(StandardPhoto, Report), StandardizeError> {
    let start = Instant::now();
    let mut timings = BTreeMap::new();
    // Decode at up to twice the working resolution: enough pixels for a 207 px face.
    let d = match timed(&mut timings, "decode", || decode::decode(bytes, &decode_limits(t, t.work_long_side * 2))) {
        Ok(d) => d,
        Err(e) => {
            let r = Report {
                verdict: Verdict::Error,
                faces: 0,
                issues: vec![decode_error_issue(&e)],
                score: 0,
                timings_ms: timings,
                width: 0,
                height: 0,
                metrics: BTreeMap::new(),
            };
            return Err(StandardizeError::Unusable(Box::new(r)));
        }
    };
    let (work, ws) = timed(&mut timings, "decode", || to_work(&d, t.work_long_side));
    let checked = check_image(&work, ws, d.full_width, d.full_height, d.was_grey, Purpose::Source, t, timings);
    let source = checked.report;
    if source.verdict == Verdict::Error || source.issues.iter().any(|i| i.severity == Severity::Fail && blocking(i.code)) {
        return Err(StandardizeError::Unusable(Box::new(source)));
    }
    let face = match checked.analysis.as_ref().and_then(|a| a.face.as_ref()) {
        Some(f) => f,
        None => return Err(StandardizeError::Unusable(Box::new(source))),
    };
    let mut timings = BTreeMap::new();
    let m = models::models().map_err(StandardizeError::Internal)?;
    let p = plan(face, t);
    let src_per_work = d.scale / ws;
    let img = timed(&mut timings, "render", || render(m, &d.image, src_per_work, &p, t)).map_err(StandardizeError::Internal)?;
    let (mut jpeg, mut quality) = timed(&mut timings, "encode", || encode(&img, t)).map_err(StandardizeError::Internal)?;
    let mut checked = timed(&mut timings, "check", || pipeline::check_full(&jpeg, Purpose::Final, t));
    // The mask and landmarks of the result can differ slightly from the source's (the crown in
    // particular); when the framing misses a GA limit, correct the plan from what was measured on
    // the result and render once more, keeping the better of the two.
    let framing = |r: &Report| r.issues.iter().filter(|i| matches!(i.code, C::FaceOffCenter | C::FaceTooSmall | C::FaceTooLarge | C::HeadTilted)).count();
    if framing(&checked.report) > 0 {
        if let Some(out_face) = checked.analysis.as_ref().and_then(|a| a.face.as_ref()) {
            let p2 = correct(&p, out_face, t);
            let img2 = timed(&mut timings, "render", || render(m, &d.image, src_per_work, &p2, t)).map_err(StandardizeError::Internal)?;
            let (jpeg2, q2) = timed(&mut timings, "encode", || encode(&img2, t)).map_err(StandardizeError::Internal)?;
            let checked2 = timed(&mut timings, "check", || pipeline::check_full(&jpeg2, Purpose::Final, t));
            let fails = |r: &Report| r.issues.iter().filter(|i| i.severity == Severity::Fail).count();
            if (fails(&checked2.report), framing(&checked2.report)) < (fails(&checked.report), framing(&checked.report)) {
                jpeg = jpeg2;
                quality = q2;
                checked = checked2;
            }
        }
    }
    let mut report = checked.report;
    for (k, v) in timings {
        report.timings_ms.insert(format!("standardize_{k}"), crate::report::round3(v));
    }
    report.timings_ms.insert("standardize_total".into(), crate::report::round3(start.elapsed().as_secs_f64() * 1000.0));
    Ok((StandardPhoto { jpeg, width: t.standard_width, height: t.standard_height, quality }, report))
}
