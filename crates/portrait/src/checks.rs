//! The individual checks. Each takes measurements (or pixels + landmarks) and returns issues;
//! each is a plain function so it can be unit-tested on its own.

use crate::analyze::{Face, Mask, lm};
use crate::imgops::{Plane, Pt, sample, ycbcr};
use crate::report::{Issue, IssueCode as C, Limit, Severity, Thresholds};
use image::RgbImage;
use std::collections::BTreeMap;

pub type Metrics = BTreeMap<String, f64>;

/// Samples an `nu` x `nv` grid in the face frame: origin `o`, axes `ex` (along the eye line) and
/// `ey` (down the face), offsets `u` and `v` in pixels.
pub fn grid(o: Pt, ex: Pt, ey: Pt, u: (f64, f64), v: (f64, f64), nu: usize, nv: usize) -> impl Iterator<Item = Pt> {
    (0..nv).flat_map(move |j| {
        (0..nu).map(move |i| {
            let a = u.0 + (u.1 - u.0) * (i as f64 + 0.5) / nu as f64;
            let b = v.0 + (v.1 - v.0) * (j as f64 + 0.5) / nv as f64;
            Pt::new(o.x + ex.x * a + ey.x * b, o.y + ex.y * a + ey.y * b)
        })
    })
}

fn inside(img: &RgbImage, p: Pt) -> bool {
    p.x >= 0.0 && p.y >= 0.0 && p.x < img.width() as f64 && p.y < img.height() as f64
}

pub fn point_in_polygon(p: Pt, poly: &[Pt]) -> bool {
    let mut c = false;
    let n = poly.len();
    let mut j = n.wrapping_sub(1);
    for i in 0..n {
        let (a, b) = (poly[i], poly[j]);
        if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
            c = !c;
        }
        j = i;
    }
    c
}

/// Skin colour statistics from the cheeks, nose bridge and forehead centre.
#[derive(Debug, Clone, Copy)]
pub struct Skin {
    pub y: f64,
    pub cb: f64,
    pub cr: f64,
}

impl Skin {
    pub fn measure(img: &RgbImage, face: &Face) -> Skin {
        let r = face.face_width * 0.05;
        let (ex, ey) = face.axes();
        let mut acc = [0f64; 3];
        let mut n = 0.0;
        for &i in &[50usize, 280, 205, 425, 151, 6] {
            for p in grid(face.p(i), ex, ey, (-r, r), (-r, r), 4, 4) {
                if inside(img, p) {
                    let c = ycbcr(sample(img, p.x, p.y));
                    for k in 0..3 {
                        acc[k] += c[k] as f64;
                    }
                    n += 1.0;
                }
            }
        }
        if n == 0.0 {
            return Skin { y: 128.0, cb: 128.0, cr: 128.0 };
        }
        Skin { y: acc[0] / n, cb: acc[1] / n, cr: acc[2] / n }
    }
    /// Whether a pixel looks like this person's skin (chroma close, brightness within a wide range).
    pub fn matches(&self, p: [f32; 3]) -> bool {
        let c = ycbcr(p);
        let dc = ((c[1] as f64 - self.cb).powi(2) + (c[2] as f64 - self.cr).powi(2)).sqrt();
        dc < 10.0 && (c[0] as f64) > self.y * 0.55 && (c[0] as f64) < self.y * 1.35 + 10.0
    }
    /// Looser test for skin in other light (ears, shadowed areas): redder/darker allowed.
    pub fn matches_loose(&self, p: [f32; 3]) -> bool {
        let c = ycbcr(p);
        let dc = ((c[1] as f64 - self.cb).powi(2) + (c[2] as f64 - self.cr).powi(2)).sqrt();
        dc < 22.0 && (c[0] as f64) > self.y * 0.4 && (c[0] as f64) < self.y * 1.4 + 15.0
    }
    pub fn chroma(&self) -> f64 {
        ((self.cb - 128.0).powi(2) + (self.cr - 128.0).powi(2)).sqrt()
    }
    pub fn hue_deg(&self) -> f64 {
        (self.cb - 128.0).atan2(self.cr - 128.0).to_degrees()
    }
}

fn oval(face: &Face) -> Vec<Pt> {
    lm::OVAL.iter().map(|&i| face.p(i)).collect()
}

/// Pixels of the face (inside the mesh oval, from just above the eyes down).
fn face_pixels(img: &RgbImage, face: &Face) -> Vec<[f32; 3]> {
    let poly = oval(face);
    let (ex, ey) = face.axes();
    let fw = face.face_width;
    let o = face.eye_mid;
    let mut out = Vec::with_capacity(1600);
    for p in grid(o, ex, ey, (-0.5 * fw, 0.5 * fw), (-0.2 * fw, 0.9 * fw), 40, 44) {
        if inside(img, p) && point_in_polygon(p, &poly) {
            out.push(sample(img, p.x, p.y));
        }
    }
    out
}

/// Pose: roll, yaw, pitch.
pub fn pose(face: &Face, final_photo: bool, t: &Thresholds, m: &mut Metrics) -> Vec<Issue> {
    let mut v = Vec::new();
    m.insert("roll_deg".into(), face.roll_deg);
    m.insert("yaw_deg".into(), face.yaw_deg);
    m.insert("pitch_deg".into(), face.pitch_deg);
    let roll_lim = if final_photo { t.max_roll_deg } else { t.max_roll_source_deg };
    if face.roll_deg.abs() > roll_lim {
        v.push(Issue::fail(C::HeadTilted, face.roll_deg, roll_lim));
    }
    if face.yaw_deg.abs() > t.max_yaw_deg {
        v.push(Issue::fail(C::HeadTurned, face.yaw_deg, t.max_yaw_deg));
    }
    if face.pitch_deg.abs() > t.max_pitch_deg {
        v.push(Issue::fail(C::HeadPitched, face.pitch_deg, t.max_pitch_deg));
    }
    v
}

/// Eyes open and mouth closed.
pub fn expression(face: &Face, t: &Thresholds, m: &mut Metrics) -> Vec<Issue> {
    let mut v = Vec::new();
    let eye = face.eye_open[0].min(face.eye_open[1]);
    m.insert("eye_open".into(), eye);
    m.insert("mouth_open".into(), face.mouth_open);
    if eye < t.min_eye_open {
        v.push(Issue::fail(C::EyesClosed, eye, t.min_eye_open));
    }
    if face.mouth_open > t.max_mouth_open {
        v.push(Issue::fail(C::MouthOpen, face.mouth_open, t.max_mouth_open));
    }
    v
}

/// GA 461 frame geometry of a final photo, measured in standard pixels (the image is scaled to
/// 358 x 441 for measuring when it is not that size).
pub fn geometry_final(face: &Face, img_w: u32, img_h: u32, t: &Thresholds, m: &mut Metrics) -> Vec<Issue> {
    let mut v = Vec::new();
    let sx = t.standard_width as f64 / img_w as f64;
    let sy = t.standard_height as f64 / img_h as f64;
    let fw = face.face_width * t.face_width_scale * sx;
    m.insert("face_width_px".into(), fw);
    let (lo, hi) = (t.face_width_px - t.face_width_tol_px, t.face_width_px + t.face_width_tol_px);
    let range = format!("{lo}..={hi}");
    if fw < lo {
        v.push(Issue::fail(C::FaceTooSmall, fw, range.clone()));
    } else if fw > hi {
        v.push(Issue::fail(C::FaceTooLarge, fw, range));
    }
    let eye_y = face.eye_mid.y * sy;
    m.insert("eye_y_px".into(), eye_y);
    if eye_y > t.eye_y_max_px {
        v.push(Issue::fail(C::FaceOffCenter, eye_y, t.eye_y_max_px).with_message(
            "眼睛位置太低,请将相机稍微放低或使头部在画面中上移",
            "The eyes are too low in the frame: the eye line must be in the upper part of the photo",
        ));
    }
    if let Some(top) = face.head_top {
        let top_y = if face.head_cut { 0.0 } else { top.y * sy };
        m.insert("head_top_px".into(), top_y);
        let range = format!("{}..={}", t.head_top_min_px, t.head_top_max_px);
        if top_y < t.head_top_min_px {
            // The eye-line rule wins: tall hair may be cropped if the eyes could not move lower.
            let could_lower = eye_y + (t.head_top_min_px - top_y) <= t.eye_y_max_px;
            if could_lower {
                v.push(Issue::fail(C::FaceOffCenter, top_y, range).with_message(
                    "头顶离上边缘太近或被裁切,头顶应距上边缘 7–21 像素",
                    "The top of the head is too close to (or cut by) the top edge: it must be 7-21 px below it",
                ));
            }
        } else if top_y > t.head_top_max_px {
            v.push(Issue::fail(C::FaceOffCenter, top_y, range).with_message(
                "头顶离上边缘太远,头部应位于画面上部",
                "There is too much space above the head: the top of the head must be 7-21 px below the top edge",
            ));
        }
    }
    let cx = face.face_center.x * sx;
    let off = cx - t.standard_width as f64 / 2.0;
    m.insert("center_offset_px".into(), off);
    if off.abs() > t.center_tol_px {
        v.push(Issue::fail(C::FaceOffCenter, off, t.center_tol_px).with_message(
            "人脸未水平居中,请使头部位于画面正中",
            "The face is not horizontally centred",
        ));
    }
    v
}

/// Face exposure and lighting symmetry.
pub fn exposure(img: &RgbImage, face: &Face, skin: &Skin, t: &Thresholds, m: &mut Metrics) -> Vec<Issue> {
    let mut v = Vec::new();
    let px = face_pixels(img, face);
    if px.len() < 50 {
        return v;
    }
    let lum: Vec<f64> = px.iter().map(|p| crate::imgops::ycbcr(*p)[0] as f64).collect();
    let mean = lum.iter().sum::<f64>() / lum.len() as f64;
    let clipped = lum.iter().filter(|&&l| l >= 250.0).count() as f64 / lum.len() as f64;
    m.insert("face_luma".into(), mean);
    m.insert("face_clipped".into(), clipped);
    if mean < t.face_min_luma {
        v.push(Issue::fail(C::Underexposed, mean, t.face_min_luma));
    } else if mean > t.face_max_luma || clipped > t.face_max_clipped {
        v.push(Issue::fail(C::Overexposed, mean, format!("luma<={} clipped<={}", t.face_max_luma, t.face_max_clipped)));
    }
    // Left/right balance on mirrored cheek patches (skin-coloured pixels only, so stray hair does
    // not count; a generous chroma window so that a shadowed cheek still counts as skin).
    let (ex, ey) = face.axes();
    let r = face.face_width * 0.04;
    let mut side = [(0f64, 0f64); 2];
    for (k, set) in [[50usize, 101, 36, 205, 187, 123], [280, 330, 266, 425, 411, 352]].iter().enumerate() {
        for &i in set {
            for p in grid(face.p(i), ex, ey, (-r, r), (-r, r), 5, 5) {
                if !inside(img, p) {
                    continue;
                }
                let c = ycbcr(sample(img, p.x, p.y));
                let dc = ((c[1] as f64 - skin.cb).powi(2) + (c[2] as f64 - skin.cr).powi(2)).sqrt();
                if dc < 20.0 {
                    side[k].0 += c[0] as f64;
                    side[k].1 += 1.0;
                }
            }
        }
    }
    if side[0].1 > 20.0 && side[1].1 > 20.0 {
        let (l, r) = (side[0].0 / side[0].1, side[1].0 / side[1].1);
        let asym = (l - r).abs() / l.max(r).max(1.0);
        m.insert("light_asymmetry".into(), asym);
        m.insert("light_left".into(), l);
        m.insert("light_right".into(), r);
        if asym > t.max_light_asymmetry {
            v.push(Issue::fail(C::UnevenLighting, asym, t.max_light_asymmetry));
        }
    }
    v
}

/// Sharpness of the face at the scale it will have in the standard photo: the face is resampled
/// to the standard face width and the mean absolute Laplacian of its luma is measured, divided by
/// the local contrast so that lighting does not change it.
pub fn sharpness_value(img: &RgbImage, face: &Face, standard_face_px: f64) -> f64 {
    let (ex, ey) = face.axes();
    let fw = face.face_width;
    let n = 160usize;
    let step = fw / standard_face_px; // work pixels per standard pixel
    let o = face.eye_mid;
    let mut pl = Plane::new(n, n);
    for j in 0..n {
        for i in 0..n {
            let a = (i as f64 - n as f64 / 2.0) * step;
            let b = (j as f64 - n as f64 * 0.3) * step;
            let p = Pt::new(o.x + ex.x * a + ey.x * b, o.y + ex.y * a + ey.y * b);
            pl.data[j * n + i] = crate::imgops::ycbcr(sample(img, p.x, p.y))[0];
        }
    }
    let mut lap = 0.0f64;
    let mut grad = 0.0f64;
    let mut k = 0.0;
    for y in 1..n - 1 {
        for x in 1..n - 1 {
            let c = pl.at(x, y);
            let l = 4.0 * c - pl.at(x - 1, y) - pl.at(x + 1, y) - pl.at(x, y - 1) - pl.at(x, y + 1);
            lap += l.abs() as f64;
            grad += ((pl.at(x + 1, y) - pl.at(x - 1, y)).abs() + (pl.at(x, y + 1) - pl.at(x, y - 1)).abs()) as f64;
            k += 1.0;
        }
    }
    if k == 0.0 || grad == 0.0 {
        return 0.0;
    }
    // Ratio of second to first derivative energy (x 10): falls as edges spread out.
    10.0 * lap / grad
}

pub fn sharpness(img: &RgbImage, face: &Face, t: &Thresholds, m: &mut Metrics) -> Vec<Issue> {
    let s = sharpness_value(img, face, t.face_width_px);
    m.insert("sharpness".into(), s);
    if s < t.min_sharpness { vec![Issue::fail(C::Blurry, s, t.min_sharpness)] } else { vec![] }
}

/// Colour photo with a natural skin tone.
pub fn color(skin: &Skin, was_grey: bool, t: &Thresholds, m: &mut Metrics) -> Vec<Issue> {
    let chroma = skin.chroma();
    let hue = skin.hue_deg();
    m.insert("skin_chroma".into(), chroma);
    m.insert("skin_hue_deg".into(), hue);
    if was_grey || chroma < t.min_skin_chroma {
        return vec![Issue::fail(C::UnnaturalColor, chroma, t.min_skin_chroma).with_message(
            "必须使用彩色照片,请不要上传黑白照片",
            "The photo must be in colour, not black and white",
        )];
    }
    if hue < t.skin_hue_min_deg || hue > t.skin_hue_max_deg {
        return vec![Issue::fail(C::UnnaturalColor, hue, format!("{}..={}", t.skin_hue_min_deg, t.skin_hue_max_deg))];
    }
    vec![]
}

/// Background (final photos): white, uniform, no shadow next to the person.
pub fn background(img: &RgbImage, mask: &Mask, t: &Thresholds, m: &mut Metrics) -> Vec<Issue> {
    let mut v = Vec::new();
    // Near-person zone: the mask blurred by ~6 % of the plane.
    let near = mask.plane.box_blur(8);
    let (w, h) = img.dimensions();
    let (mut n, mut sum, mut sum2, mut chroma) = (0f64, 0f64, 0f64, 0f64);
    let (mut near_s, mut near_n, mut far_s, mut far_n) = (0f64, 0f64, 0f64, 0f64);
    let step = ((w.max(h) / 200).max(1)) as usize;
    for y in (0..h).step_by(step) {
        for x in (0..w).step_by(step) {
            let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
            if mask.at(fx, fy) > 0.1 {
                continue;
            }
            let c = ycbcr(sample(img, fx, fy));
            let (l, dc) = (c[0] as f64, ((c[1] as f64 - 128.0).powi(2) + (c[2] as f64 - 128.0).powi(2)).sqrt());
            n += 1.0;
            sum += l;
            sum2 += l * l;
            chroma += dc;
            let nb = near.sample(fx / w as f64 * near.w as f64, fy / h as f64 * near.h as f64);
            if nb > 0.08 {
                near_s += l;
                near_n += 1.0;
            } else if nb < 0.01 {
                far_s += l;
                far_n += 1.0;
            }
        }
    }
    let total = ((w as usize).div_ceil(step) * (h as usize).div_ceil(step)) as f64;
    m.insert("background_fraction".into(), n / total.max(1.0));
    if n < 30.0 {
        return v;
    }
    let mean = sum / n;
    let std = (sum2 / n - mean * mean).max(0.0).sqrt();
    let chroma = chroma / n;
    m.insert("background_luma".into(), mean);
    m.insert("background_chroma".into(), chroma);
    m.insert("background_std".into(), std);
    if mean < t.bg_min_luma || chroma > t.bg_max_chroma {
        v.push(Issue::fail(C::BackgroundNotWhite, mean, format!("luma>={} chroma<={}", t.bg_min_luma, t.bg_max_chroma)));
    }
    let mut shadow = 0.0;
    if near_n > 10.0 && far_n > 10.0 {
        shadow = far_s / far_n - near_s / near_n;
        m.insert("background_shadow".into(), shadow);
        if shadow > t.bg_max_shadow {
            v.push(Issue::fail(C::ShadowOnBackground, shadow, t.bg_max_shadow));
        }
    }
    if std > t.bg_max_std && shadow <= t.bg_max_shadow {
        v.push(Issue::fail(C::BackgroundNotUniform, std, t.bg_max_std));
    }
    v
}

/// Clothing below the chin must not be white / very light (the card background is white).
pub fn clothing(img: &RgbImage, face: &Face, mask: &Mask, t: &Thresholds, m: &mut Metrics) -> Vec<Issue> {
    let (ex, ey) = face.axes();
    let fw = face.face_width;
    let chin = face.chin;
    let (mut n, mut light) = (0f64, 0f64);
    for p in grid(chin, ex, ey, (-1.1 * fw, 1.1 * fw), (0.35 * fw, 1.2 * fw), 40, 24) {
        if !inside(img, p) || mask.at(p.x, p.y) < 0.7 {
            continue;
        }
        let c = ycbcr(sample(img, p.x, p.y));
        let dc = ((c[1] - 128.0).powi(2) + (c[2] - 128.0).powi(2)).sqrt();
        n += 1.0;
        if c[0] > 195.0 && dc < 18.0 {
            light += 1.0;
        }
    }
    if n < 40.0 {
        return vec![];
    }
    let f = light / n;
    m.insert("clothing_light_fraction".into(), f);
    if f > t.max_light_clothing { vec![Issue::fail(C::ClothingTooLight, f, t.max_light_clothing)] } else { vec![] }
}

/// Eye regions: specular glare (glasses) around the eyes and red pupils.
pub fn eyes(img: &RgbImage, face: &Face, skin: &Skin, t: &Thresholds, m: &mut Metrics) -> Vec<Issue> {
    let mut v = Vec::new();
    let (ex, ey) = face.axes();
    let (mut glare, mut gn) = (0f64, 0f64);
    let (mut red, mut rn) = (0f64, 0f64);
    for e in 0..2 {
        let (a, b) = if e == 0 { (33, 133) } else { (362, 263) };
        let ew = face.p(a).dist(face.p(b));
        let c = face.p(a).mid(face.p(b));
        let ir = face.iris_radius[e].max(1.0);
        for p in grid(c, ex, ey, (-0.9 * ew, 0.9 * ew), (-0.6 * ew, 0.6 * ew), 30, 20) {
            if !inside(img, p) || p.dist(face.iris[e]) < ir * 1.3 {
                continue;
            }
            let px = sample(img, p.x, p.y);
            let cc = ycbcr(px);
            let dc = ((cc[1] - 128.0).powi(2) + (cc[2] - 128.0).powi(2)).sqrt();
            gn += 1.0;
            if cc[0] as f64 > 235.0f64.max(skin.y + 35.0) && dc < 14.0 {
                glare += 1.0;
            }
        }
        for p in grid(face.iris[e], ex, ey, (-0.5 * ir, 0.5 * ir), (-0.5 * ir, 0.5 * ir), 8, 8) {
            if !inside(img, p) {
                continue;
            }
            let px = sample(img, p.x, p.y);
            rn += 1.0;
            if px[0] > 90.0 && px[0] > 1.8 * px[1] && px[0] > 1.8 * px[2] {
                red += 1.0;
            }
        }
    }
    if gn > 0.0 {
        let g = glare / gn;
        m.insert("glare_fraction".into(), g);
        if g > t.max_glare {
            v.push(Issue::fail(C::GlassesGlare, g, t.max_glare));
        }
    }
    if rn > 0.0 {
        let r = red / rn;
        m.insert("red_eye_fraction".into(), r);
        if r > t.max_red_eye {
            v.push(Issue::fail(C::RedEye, r, t.max_red_eye));
        }
    }
    v
}

/// Ears, eyebrows and head covering, judged by colour next to the landmarks.
pub fn occlusion(img: &RgbImage, face: &Face, skin: &Skin, mask: Option<&Mask>, t: &Thresholds, m: &mut Metrics) -> Vec<Issue> {
    let mut v = Vec::new();
    let (ex, ey) = face.axes();
    let fw = face.face_width;
    let frac = |pts: &mut dyn Iterator<Item = Pt>, pred: &dyn Fn([f32; 3]) -> bool| -> Option<f64> {
        let (mut n, mut k) = (0f64, 0f64);
        for p in pts {
            if inside(img, p) {
                n += 1.0;
                if pred(sample(img, p.x, p.y)) {
                    k += 1.0;
                }
            }
        }
        if n >= 10.0 { Some(k / n) } else { None }
    };
    let is_skin = |p: [f32; 3]| skin.matches(p);
    let is_ear = |p: [f32; 3]| skin.matches_loose(p);
    // Ears: just outside the face contour, between the eye line and the nose tip.
    let nose_v = {
        let d = Pt::new(face.p(lm::NOSE_TIP).x - face.eye_mid.x, face.p(lm::NOSE_TIP).y - face.eye_mid.y);
        (d.x * ey.x + d.y * ey.y).max(0.1 * fw)
    };
    let mut ears = [0.0f64; 2];
    for (s, idx) in [(-1.0f64, lm::CHEEK_L), (1.0, lm::CHEEK_R)].into_iter().enumerate() {
        let cheek = face.p(idx.1);
        let o = Pt::new(cheek.x, cheek.y);
        let (u0, u1) = if idx.0 < 0.0 { (-0.24 * fw, -0.03 * fw) } else { (0.03 * fw, 0.24 * fw) };
        // Relative to the cheek point; rows from the eye line to the nose tip.
        let dv = {
            let d = Pt::new(face.eye_mid.x - o.x, face.eye_mid.y - o.y);
            d.x * ey.x + d.y * ey.y
        };
        let f = frac(&mut grid(o, ex, ey, (u0, u1), (dv, dv + nose_v), 8, 10), &is_ear);
        ears[s] = f.unwrap_or(1.0);
    }
    let ear = ears[0].min(ears[1]);
    m.insert("ear_skin".into(), ear);
    if ear < t.min_ear_skin {
        v.push(Issue::new(C::EarsNotVisible, Severity::Warn, Some(ear), Some(Limit::Number(t.min_ear_skin))));
    }
    // Eyebrows: the forehead band just above the brows.
    let mut brow = Vec::new();
    for set in [lm::BROW_A, lm::BROW_B] {
        let a = face.p(set[0]);
        let b = face.p(set[4]);
        let c = a.mid(b);
        let half = a.dist(b) / 2.0;
        if let Some(f) = frac(&mut grid(c, ex, ey, (-half, half), (-0.13 * fw, -0.04 * fw), 10, 5), &is_skin) {
            brow.push(f);
        }
    }
    if !brow.is_empty() {
        let b = brow.iter().copied().fold(1.0, f64::min);
        m.insert("brow_skin".into(), b);
        if b < t.min_brow_skin {
            v.push(Issue::fail(C::EyebrowsCovered, b, t.min_brow_skin));
        }
    }
    // Head covering: the head above the forehead should be hair or skin.
    if let (Some(top), Some(mask)) = (face.head_top, mask) {
        let f0 = face.p(lm::FOREHEAD);
        let d = Pt::new(f0.x - top.x, f0.y - top.y);
        let height = d.x * ey.x + d.y * ey.y;
        if height > 0.1 * fw {
            let (mut n, mut other) = (0f64, 0f64);
            for p in grid(top, ex, ey, (-0.4 * fw, 0.4 * fw), (0.1 * height, 0.9 * height), 16, 8) {
                if !inside(img, p) || mask.at(p.x, p.y) < 0.6 {
                    continue;
                }
                let px = sample(img, p.x, p.y);
                let c = ycbcr(px);
                let dc = ((c[1] - 128.0).powi(2) + (c[2] - 128.0).powi(2)).sqrt();
                n += 1.0;
                // Hair: dark and only mildly coloured (black, brown, auburn) or grey/white.
                let hair = (dc < 40.0 && c[0] < 120.0) || (dc < 25.0 && c[0] < 170.0) || dc < 10.0;
                if !(hair || skin.matches(px)) {
                    other += 1.0;
                }
            }
            if n >= 20.0 {
                let f = other / n;
                m.insert("head_covering".into(), f);
                if f > t.max_head_covering {
                    v.push(Issue::new(C::HeadCovering, Severity::Warn, Some(f), Some(Limit::Number(t.max_head_covering))));
                }
            }
        }
    }
    v
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::models::Detection;

    /// A face with the given mesh width, eye midpoint and head top, upright and frontal.
    pub(crate) fn face(mesh_width: f64, eye: Pt, head_top: Option<f64>) -> Face {
        let det = Detection { score: 0.9, x0: eye.x - mesh_width / 2.0, y0: eye.y - mesh_width / 2.0, x1: eye.x + mesh_width / 2.0, y1: eye.y + mesh_width, keypoints: [eye; 6] };
        Face {
            det,
            mesh: vec![[eye.x, eye.y, 0.0]; 468],
            presence: 1.0,
            iris: [Pt::new(eye.x - mesh_width * 0.3, eye.y), Pt::new(eye.x + mesh_width * 0.3, eye.y)],
            iris_radius: [mesh_width * 0.05; 2],
            roll_deg: 0.0,
            yaw_deg: 0.0,
            pitch_deg: 0.0,
            face_width: mesh_width,
            face_center: eye,
            eye_mid: eye,
            eye_open: [0.3, 0.3],
            mouth_open: 0.02,
            head_top: head_top.map(|y| Pt::new(eye.x, y)),
            head_cut: false,
            chin: Pt::new(eye.x, eye.y + mesh_width * 0.8),
        }
    }

    fn codes(v: &[Issue]) -> Vec<C> {
        v.iter().map(|i| i.code).collect()
    }

    #[test]
    fn geometry_of_a_final_photo() {
        let t = Thresholds::default();
        let mw = 207.0 / t.face_width_scale; // mesh width giving the GA 207 px
        let mut m = Metrics::new();
        let ok = face(mw, Pt::new(179.0, 190.0), Some(14.0));
        assert!(geometry_final(&ok, 358, 441, &t, &mut m).is_empty());
        assert!((m["face_width_px"] - 207.0).abs() < 1e-9);
        // Too small / too large.
        assert_eq!(codes(&geometry_final(&face(mw * 0.9, Pt::new(179.0, 190.0), Some(14.0)), 358, 441, &t, &mut m)), [C::FaceTooSmall]);
        assert_eq!(codes(&geometry_final(&face(mw * 1.1, Pt::new(179.0, 190.0), Some(14.0)), 358, 441, &t, &mut m)), [C::FaceTooLarge]);
        // Off centre horizontally, eyes too low, head too low.
        assert_eq!(codes(&geometry_final(&face(mw, Pt::new(195.0, 190.0), Some(14.0)), 358, 441, &t, &mut m)), [C::FaceOffCenter]);
        assert_eq!(codes(&geometry_final(&face(mw, Pt::new(179.0, 240.0), Some(20.0)), 358, 441, &t, &mut m)), [C::FaceOffCenter]);
        assert_eq!(codes(&geometry_final(&face(mw, Pt::new(179.0, 190.0), Some(30.0)), 358, 441, &t, &mut m)), [C::FaceOffCenter]);
        // Head top above the limit: a fault when the eyes could have gone lower, fine when the
        // eye-line rule forces it (tall hair cropped).
        assert_eq!(codes(&geometry_final(&face(mw, Pt::new(179.0, 180.0), Some(2.0)), 358, 441, &t, &mut m)), [C::FaceOffCenter]);
        assert!(geometry_final(&face(mw, Pt::new(179.0, 231.0), Some(2.0)), 358, 441, &t, &mut m).is_empty());
        // Another size is measured in standard pixels.
        let big = face(mw * 2.0, Pt::new(358.0, 380.0), Some(28.0));
        assert!(geometry_final(&big, 716, 882, &t, &mut m).is_empty());
    }

    #[test]
    fn pose_limits_differ_for_final_and_source() {
        let t = Thresholds::default();
        let mut m = Metrics::new();
        let mut f = face(160.0, Pt::new(179.0, 190.0), Some(14.0));
        assert!(pose(&f, true, &t, &mut m).is_empty());
        f.roll_deg = 6.0;
        assert_eq!(codes(&pose(&f, true, &t, &mut m)), [C::HeadTilted]);
        assert!(pose(&f, false, &t, &mut m).is_empty(), "standardize levels a small roll");
        f.roll_deg = -15.0;
        assert_eq!(codes(&pose(&f, false, &t, &mut m)), [C::HeadTilted]);
        f.roll_deg = 0.0;
        f.yaw_deg = -14.0;
        f.pitch_deg = 15.0;
        assert_eq!(codes(&pose(&f, true, &t, &mut m)), [C::HeadTurned, C::HeadPitched]);
        assert_eq!(m["yaw_deg"], -14.0);
    }

    #[test]
    fn eyes_and_mouth() {
        let t = Thresholds::default();
        let mut m = Metrics::new();
        let mut f = face(160.0, Pt::new(179.0, 190.0), None);
        assert!(expression(&f, &t, &mut m).is_empty());
        f.eye_open = [0.3, 0.05]; // one eye closed is enough
        f.mouth_open = 0.3;
        assert_eq!(codes(&expression(&f, &t, &mut m)), [C::EyesClosed, C::MouthOpen]);
        let i = &expression(&f, &t, &mut m)[0];
        assert_eq!(i.value, Some(0.05));
        assert_eq!(i.limit, Some(Limit::Number(t.min_eye_open)));
    }

    #[test]
    fn feasibility_of_a_source_crop() {
        let t = Thresholds::default();
        let img = RgbImage::new(1000, 1400);
        let mut m = Metrics::new();
        // A well framed portrait: face 300 mesh px, eyes at 40 % height, head top 250 px above.
        let good = face(300.0, Pt::new(500.0, 560.0), Some(310.0));
        assert!(crate::standardize::source_geometry(&good, None, &img, 1.0, &t, &mut m).is_empty());
        // Low resolution: the same framing in a photo with a 100 px face.
        let small = face(100.0, Pt::new(500.0, 560.0), Some(480.0));
        assert_eq!(codes(&crate::standardize::source_geometry(&small, None, &img, 1.0, &t, &mut m)), [C::FaceTooSmall]);
        // Face near the bottom: no shoulders in the picture.
        let low = face(300.0, Pt::new(500.0, 1250.0), Some(1000.0));
        assert_eq!(codes(&crate::standardize::source_geometry(&low, None, &img, 1.0, &t, &mut m)), [C::FaceTooLarge]);
        // Head touching the top edge and the frame reaching above the photo: head cut off.
        let mut cut = face(300.0, Pt::new(500.0, 150.0), Some(0.0));
        cut.head_cut = true;
        assert!(codes(&crate::standardize::source_geometry(&cut, None, &img, 1.0, &t, &mut m)).contains(&C::FaceOffCenter));
        // The GA plan for the good face: 207 px wide, head top in 7..=21, eyes above 234.
        let p = crate::standardize::plan(&good, &t);
        assert!((p.scale * 300.0 * t.face_width_scale - 207.0).abs() < 1e-6);
        assert!((7.0..=21.0).contains(&p.head_top_y));
        assert!(p.eye_y <= 234.0);
    }

    #[test]
    fn polygon_membership() {
        let sq = [Pt::new(0.0, 0.0), Pt::new(10.0, 0.0), Pt::new(10.0, 10.0), Pt::new(0.0, 10.0)];
        assert!(point_in_polygon(Pt::new(5.0, 5.0), &sq));
        assert!(!point_in_polygon(Pt::new(15.0, 5.0), &sq));
        assert!(!point_in_polygon(Pt::new(-1.0, -1.0), &sq));
    }

    #[test]
    fn skin_colour_test() {
        let s = Skin { y: 150.0, cb: 110.0, cr: 150.0 };
        // A typical skin tone matches; pure white and saturated blue do not.
        let skin_rgb = [205.0, 140.0, 115.0];
        let c = ycbcr(skin_rgb);
        let s2 = Skin { y: c[0] as f64, cb: c[1] as f64, cr: c[2] as f64 };
        assert!(s2.matches(skin_rgb));
        assert!(!s2.matches([255.0, 255.0, 255.0]));
        assert!(!s.matches([20.0, 40.0, 200.0]));
        assert!(s2.hue_deg() > -60.0 && s2.hue_deg() < 10.0);
    }

    #[test]
    fn grey_skin_is_unnatural() {
        let t = Thresholds::default();
        let mut m = Metrics::new();
        let grey = Skin { y: 150.0, cb: 128.0, cr: 128.5 };
        assert_eq!(color(&grey, false, &t, &mut m)[0].code, C::UnnaturalColor);
        let c = ycbcr([205.0, 140.0, 115.0]);
        let ok = Skin { y: c[0] as f64, cb: c[1] as f64, cr: c[2] as f64 };
        assert!(color(&ok, false, &t, &mut m).is_empty());
        assert!(!color(&ok, true, &t, &mut m).is_empty());
        // A strong green cast is outside the hue window.
        let g = ycbcr([120.0, 200.0, 110.0]);
        let green = Skin { y: g[0] as f64, cb: g[1] as f64, cr: g[2] as f64 };
        assert!(!color(&green, false, &t, &mut m).is_empty());
    }
}
