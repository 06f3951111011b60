//! Annotated preview (`--debug-dir`): the working image with the person-mask outline (cyan), face
//! boxes (yellow; the main face thicker), the 468 landmarks (green dots), iris circles (magenta),
//! the eye line (blue) and the GA 461 guides: for a final photo the head-top band (7–21 px), the
//! eye-line limit (234 px), the vertical centre line and the 193–221 px face-width band; for a
//! source portrait the 358x441 frame that standardize would cut, with the same guides inside it.
//! The frame / border is green when the verdict is pass and red otherwise.

use crate::imgops::{Pt, RotRect};
use crate::pipeline::Checked;
use crate::report::{Purpose, Thresholds, Verdict};
use image::{Rgb, RgbImage};

fn put(img: &mut RgbImage, x: i64, y: i64, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, c);
    }
}

pub fn line(img: &mut RgbImage, a: Pt, b: Pt, c: Rgb<u8>, thick: i64) {
    let n = (a.dist(b).ceil() as usize).clamp(1, 20_000);
    for k in 0..=n {
        let t = k as f64 / n as f64;
        let (x, y) = ((a.x + (b.x - a.x) * t) as i64, (a.y + (b.y - a.y) * t) as i64);
        for dy in 0..thick {
            for dx in 0..thick {
                put(img, x + dx - thick / 2, y + dy - thick / 2, c);
            }
        }
    }
}

fn circle(img: &mut RgbImage, c: Pt, r: f64, col: Rgb<u8>) {
    let n = ((r * 6.3).ceil() as usize).clamp(8, 2000);
    for k in 0..n {
        let a = k as f64 / n as f64 * std::f64::consts::TAU;
        put(img, (c.x + r * a.cos()) as i64, (c.y + r * a.sin()) as i64, col);
    }
}

/// Draws a line given in frame coordinates (standard pixels) through the frame `f`.
fn frame_line(img: &mut RgbImage, f: &RotRect, t: &Thresholds, a: (f64, f64), b: (f64, f64), c: Rgb<u8>, thick: i64) {
    let (sw, sh) = (t.standard_width as f64, t.standard_height as f64);
    line(img, f.to_image(a.0 / sw, a.1 / sh), f.to_image(b.0 / sw, b.1 / sh), c, thick);
}

pub fn annotate(c: &Checked, purpose: Purpose, t: &Thresholds) -> Option<RgbImage> {
    let mut img = c.work.clone()?;
    let (w, h) = (img.width() as f64, img.height() as f64);
    let thick = ((w.max(h) / 500.0).round() as i64).max(1);
    let verdict_col = if c.report.verdict == Verdict::Pass { Rgb([0, 200, 0]) } else { Rgb([230, 0, 0]) };
    if let Some(a) = &c.analysis {
        if let Some(mask) = &a.mask {
            // Mask outline: pixels where the 0.5 level is crossed between neighbours.
            for y in (0..img.height()).step_by(1) {
                for x in 0..img.width() {
                    let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
                    let v = mask.at(fx, fy) >= 0.5;
                    if v != (mask.at(fx + 1.0, fy) >= 0.5) || v != (mask.at(fx, fy + 1.0) >= 0.5) {
                        for d in 0..thick {
                            put(&mut img, x as i64 + d, y as i64, Rgb([0, 220, 255]));
                        }
                    }
                }
            }
        }
        for (i, d) in a.faces.iter().enumerate() {
            let col = Rgb([255, 220, 0]);
            let th = if i == 0 { thick * 2 } else { thick };
            let (p0, p1, p2, p3) = (Pt::new(d.x0, d.y0), Pt::new(d.x1, d.y0), Pt::new(d.x1, d.y1), Pt::new(d.x0, d.y1));
            line(&mut img, p0, p1, col, th);
            line(&mut img, p1, p2, col, th);
            line(&mut img, p2, p3, col, th);
            line(&mut img, p3, p0, col, th);
        }
        if let Some(f) = &a.face {
            for p in &f.mesh {
                put(&mut img, p[0] as i64, p[1] as i64, Rgb([0, 255, 0]));
            }
            for e in 0..2 {
                circle(&mut img, f.iris[e], f.iris_radius[e], Rgb([255, 0, 255]));
            }
            let (ex, _) = f.axes();
            let fw = f.face_width;
            let a0 = Pt::new(f.eye_mid.x - ex.x * fw * 0.7, f.eye_mid.y - ex.y * fw * 0.7);
            let a1 = Pt::new(f.eye_mid.x + ex.x * fw * 0.7, f.eye_mid.y + ex.y * fw * 0.7);
            line(&mut img, a0, a1, Rgb([0, 80, 255]), thick);
            // Face width (cheek to cheek).
            line(&mut img, f.p(crate::analyze::lm::CHEEK_L), f.p(crate::analyze::lm::CHEEK_R), Rgb([255, 128, 0]), thick);
            if let Some(top) = f.head_top {
                circle(&mut img, top, 3.0 * thick as f64, Rgb([255, 0, 0]));
            }
            // The GA frame: the image itself for a final photo, the planned crop for a source.
            let frame = match purpose {
                Purpose::Final => RotRect { center: Pt::new(w / 2.0, h / 2.0), width: w, height: h, angle: 0.0 },
                Purpose::Source => crate::standardize::plan(f, t).rect,
            };
            let (sw, sh) = (t.standard_width as f64, t.standard_height as f64);
            let guide = Rgb([255, 0, 160]);
            let gt = if purpose == Purpose::Final { 1 } else { thick };
            frame_line(&mut img, &frame, t, (0.0, t.head_top_min_px), (sw, t.head_top_min_px), guide, gt);
            frame_line(&mut img, &frame, t, (0.0, t.head_top_max_px), (sw, t.head_top_max_px), guide, gt);
            frame_line(&mut img, &frame, t, (0.0, t.eye_y_max_px), (sw, t.eye_y_max_px), Rgb([0, 80, 255]), gt);
            frame_line(&mut img, &frame, t, (sw / 2.0, 0.0), (sw / 2.0, sh), guide, gt);
            let (lo, hi) = (t.face_width_px - t.face_width_tol_px, t.face_width_px + t.face_width_tol_px);
            for xw in [lo, hi] {
                frame_line(&mut img, &frame, t, (sw / 2.0 - xw / 2.0, 150.0), (sw / 2.0 - xw / 2.0, 300.0), guide, gt);
                frame_line(&mut img, &frame, t, (sw / 2.0 + xw / 2.0, 150.0), (sw / 2.0 + xw / 2.0, 300.0), guide, gt);
            }
            let ft = thick * 2;
            frame_line(&mut img, &frame, t, (0.0, 0.0), (sw, 0.0), verdict_col, ft);
            frame_line(&mut img, &frame, t, (sw, 0.0), (sw, sh), verdict_col, ft);
            frame_line(&mut img, &frame, t, (sw, sh), (0.0, sh), verdict_col, ft);
            frame_line(&mut img, &frame, t, (0.0, sh), (0.0, 0.0), verdict_col, ft);
            return Some(img);
        }
    }
    // No face: a coloured border only.
    let (iw, ih) = (w - 1.0, h - 1.0);
    for (a, b) in [((0.0, 0.0), (iw, 0.0)), ((iw, 0.0), (iw, ih)), ((iw, ih), (0.0, ih)), ((0.0, ih), (0.0, 0.0))] {
        line(&mut img, Pt::new(a.0, a.1), Pt::new(b.0, b.1), verdict_col, thick * 2);
    }
    Some(img)
}
