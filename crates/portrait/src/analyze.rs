//! From pixels to measurements: faces, mesh, irises, pose, person mask, head top.

use crate::imgops::{Plane, Pt, RotRect};
use crate::models::{Detection, Models};
use image::RgbImage;
use std::collections::BTreeMap;
use std::time::Instant;
use tract_onnx::prelude::TractResult;

/// Mesh indices used by the measurements (MediaPipe canonical face mesh numbering).
pub mod lm {
    /// Face contour at the widest point, image-left / image-right.
    pub const CHEEK_L: usize = 234;
    pub const CHEEK_R: usize = 454;
    pub const FOREHEAD: usize = 10;
    pub const CHIN: usize = 152;
    pub const NOSE_TIP: usize = 1;
    /// Image-left eye (subject's right): corners, upper and lower lid.
    pub const EYE_A: [usize; 8] = [33, 133, 160, 159, 158, 144, 145, 153];
    /// Image-right eye (subject's left).
    pub const EYE_B: [usize; 8] = [263, 362, 387, 386, 385, 373, 374, 380];
    pub const LIP_UPPER_INNER: usize = 13;
    pub const LIP_LOWER_INNER: usize = 14;
    pub const MOUTH_L: usize = 61;
    pub const MOUTH_R: usize = 291;
    /// Eyebrows (upper edge), image-left then image-right.
    pub const BROW_A: [usize; 5] = [70, 63, 105, 66, 107];
    pub const BROW_B: [usize; 5] = [300, 293, 334, 296, 336];
    /// Face oval, in order.
    pub const OVAL: [usize; 36] = [
        10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150,
        136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
    ];
}

/// Everything measured about the main face.
#[derive(Debug, Clone)]
pub struct Face {
    pub det: Detection,
    /// 468 landmarks: x, y in image pixels, z in pixels (negative = towards the camera).
    pub mesh: Vec<[f64; 3]>,
    pub presence: f32,
    /// Iris centres (image-left eye, image-right eye) and radii in pixels.
    pub iris: [Pt; 2],
    pub iris_radius: [f64; 2],
    /// Eye line angle in degrees (positive = image-right eye lower), i.e. head roll.
    pub roll_deg: f64,
    pub yaw_deg: f64,
    pub pitch_deg: f64,
    /// Face width (cheek to cheek along the eye line), pixels.
    pub face_width: f64,
    /// Midpoint of the face contour at its widest, pixels.
    pub face_center: Pt,
    /// Midpoint between the iris centres.
    pub eye_mid: Pt,
    /// Eye aspect ratios (lid gap / eye width) of both eyes.
    pub eye_open: [f64; 2],
    /// Inner lip gap / mouth width.
    pub mouth_open: f64,
    /// Top of the head along the face's vertical axis (from the person mask), image pixels.
    pub head_top: Option<Pt>,
    /// The person mask touches the top edge above the face: the head is cut off.
    pub head_cut: bool,
    pub chin: Pt,
}

impl Face {
    pub fn p(&self, i: usize) -> Pt {
        Pt::new(self.mesh[i][0], self.mesh[i][1])
    }
    /// Unit vector along the eye line (image-left eye to image-right eye) and its normal (down).
    pub fn axes(&self) -> (Pt, Pt) {
        let a = self.roll_deg.to_radians();
        (Pt::new(a.cos(), a.sin()), Pt::new(-a.sin(), a.cos()))
    }
}

/// The person mask over the whole working image.
#[derive(Debug, Clone)]
pub struct Mask {
    pub plane: Plane,
    pub img_w: u32,
    pub img_h: u32,
}

impl Mask {
    /// Person probability at image pixel (x, y).
    pub fn at(&self, x: f64, y: f64) -> f32 {
        self.plane.sample(x / self.img_w as f64 * self.plane.w as f64, y / self.img_h as f64 * self.plane.h as f64)
    }
}

#[derive(Debug, Clone)]
pub struct Analysis {
    pub faces: Vec<Detection>,
    pub face: Option<Face>,
    pub mask: Option<Mask>,
}

pub fn timed<T>(timings: &mut BTreeMap<String, f64>, name: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    *timings.entry(name.to_string()).or_insert(0.0) += t.elapsed().as_secs_f64() * 1000.0;
    r
}

/// Finds all faces: one pass over the whole (letterboxed) image and, when nothing large was
/// found, a pass over overlapping tiles to catch small faces.
pub fn detect_faces(m: &Models, img: &RgbImage, min_score: f32) -> TractResult<Vec<Detection>> {
    let (w, h) = img.dimensions();
    let side = w.max(h) as f64;
    let full = RotRect { center: Pt::new(w as f64 / 2.0, h as f64 / 2.0), width: side, height: side, angle: 0.0 };
    let mut dets = m.detect_in(img, &full, min_score)?;
    let small = (w.min(h) as f64) * 0.12;
    let largest = dets.iter().map(|d| d.width()).fold(0.0, f64::max);
    if largest < small && w.min(h) >= 256 {
        let tile = (w.min(h) as f64 / 2.0).max(128.0);
        dets.extend(detect_tiles(m, img, tile, min_score, 64)?);
        dets = crate::models::weighted_nms(dets, 0.3);
    }
    dets.sort_by(|a, b| b.width().total_cmp(&a.width()));
    Ok(dets)
}

/// Detection on overlapping square tiles of side `tile` (step 3/4 tile), at most `max_tiles`
/// tiles; detections touching a tile border are left to the neighbouring tile.
pub fn detect_tiles(m: &Models, img: &RgbImage, tile: f64, min_score: f32, max_tiles: usize) -> TractResult<Vec<Detection>> {
    let (w, h) = (img.width() as f64, img.height() as f64);
    let tile = tile.min(w.min(h));
    let step = tile * 0.75;
    let nx = (((w - tile) / step).ceil().max(0.0) as usize) + 1;
    let ny = (((h - tile) / step).ceil().max(0.0) as usize) + 1;
    let mut dets = Vec::new();
    for j in 0..ny {
        for i in 0..nx {
            if j * nx + i >= max_tiles {
                return Ok(dets);
            }
            let cx = (tile / 2.0 + i as f64 * step).min(w - tile / 2.0);
            let cy = (tile / 2.0 + j as f64 * step).min(h - tile / 2.0);
            let r = RotRect { center: Pt::new(cx, cy), width: tile, height: tile, angle: 0.0 };
            for d in m.detect_in(img, &r, min_score)? {
                let margin = tile * 0.02;
                let inner = d.x0 > cx - tile / 2.0 + margin
                    && d.x1 < cx + tile / 2.0 - margin
                    && d.y0 > cy - tile / 2.0 + margin
                    && d.y1 < cy + tile / 2.0 - margin;
                if inner {
                    dets.push(d);
                }
            }
        }
    }
    Ok(dets)
}

/// Mesh, iris and pose for one detected face.
/// Returns `None` when the mesh says the region holds no face (presence < `min_presence`).
pub fn analyze_face(m: &Models, img: &RgbImage, det: &Detection, min_presence: f32, timings: &mut BTreeMap<String, f64>) -> TractResult<Option<Face>> {
    let k = &det.keypoints;
    let angle = (k[1].y - k[0].y).atan2(k[1].x - k[0].x);
    let c = Pt::new((det.x0 + det.x1) / 2.0, (det.y0 + det.y1) / 2.0);
    let side = det.width().max(det.height()) * 1.5;
    let roi = RotRect { center: c, width: side, height: side, angle };
    // One FaceMesh pass on MediaPipe's detection ROI (1.5 x the box, rotated by the eye line).
    let (mesh, presence) = timed(timings, "landmarks", || m.mesh(img, &roi))?;
    if presence < min_presence {
        return Ok(None);
    }
    let pt = |i: usize| Pt::new(mesh[i][0], mesh[i][1]);

    // Irises.
    let mut iris = [Pt::default(); 2];
    let mut iris_radius = [0.0; 2];
    for (e, (a, b, flip)) in [(33usize, 133usize, false), (362usize, 263usize, true)].into_iter().enumerate() {
        let (pa, pb) = (pt(a), pt(b));
        let ang = (pb.y - pa.y).atan2(pb.x - pa.x);
        let side = pa.dist(pb) * 2.3;
        let r = RotRect { center: pa.mid(pb), width: side, height: side, angle: ang };
        let (ir, _contour) = timed(timings, "iris", || m.iris(img, &r, flip))?;
        iris[e] = ir[0];
        iris_radius[e] = (1..5).map(|j| ir[0].dist(ir[j])).sum::<f64>() / 4.0;
    }

    let roll = (iris[1].y - iris[0].y).atan2(iris[1].x - iris[0].x);
    let (s, co) = roll.sin_cos();
    // De-rolled 3-D coordinates.
    let rot = |i: usize| -> [f64; 3] {
        let p = mesh[i];
        [co * p[0] + s * p[1], -s * p[0] + co * p[1], p[2]]
    };
    let (cl, cr) = (rot(lm::CHEEK_L), rot(lm::CHEEK_R));
    let face_width = ((cr[0] - cl[0]).powi(2) + (cr[1] - cl[1]).powi(2)).sqrt();
    let yaw = (cr[2] - cl[2]).atan2(cr[0] - cl[0]).to_degrees();
    let (ft, ch) = (rot(lm::FOREHEAD), rot(lm::CHIN));
    // The forehead slopes back, so a level frontal face reads about 12 degrees on the
    // forehead-to-chin line in the mesh's depth; that offset is removed.
    let pitch_raw = (ch[2] - ft[2]).atan2(ch[1] - ft[1]).to_degrees();
    let pitch = pitch_raw - PITCH_NEUTRAL_DEG;

    let ear = |idx: &[usize; 8]| {
        let w = pt(idx[0]).dist(pt(idx[1]));
        let v = (pt(idx[2]).dist(pt(idx[5])) + pt(idx[3]).dist(pt(idx[6])) + pt(idx[4]).dist(pt(idx[7]))) / 3.0;
        if w > 0.0 { v / w } else { 0.0 }
    };
    let mw = pt(lm::MOUTH_L).dist(pt(lm::MOUTH_R));
    let mouth_open = if mw > 0.0 { pt(lm::LIP_UPPER_INNER).dist(pt(lm::LIP_LOWER_INNER)) / mw } else { 0.0 };

    Ok(Some(Face {
        det: *det,
        presence,
        iris,
        iris_radius,
        roll_deg: roll.to_degrees(),
        yaw_deg: yaw,
        pitch_deg: pitch,
        face_width,
        face_center: pt(lm::CHEEK_L).mid(pt(lm::CHEEK_R)),
        eye_mid: iris[0].mid(iris[1]),
        eye_open: [ear(&lm::EYE_A), ear(&lm::EYE_B)],
        mouth_open,
        head_top: None,
        head_cut: false,
        chin: pt(lm::CHIN),
        mesh,
    }))
}

/// Pitch (degrees) that the mesh reports for a level frontal head; measured on the frontal test
/// portraits and subtracted.
pub const PITCH_NEUTRAL_DEG: f64 = 12.0;

/// Person mask over the whole image, the model run at `n` x `n` (256, 192 or 160).
pub fn segment(m: &Models, img: &RgbImage, n: usize) -> TractResult<Mask> {
    let (w, h) = img.dimensions();
    let r = RotRect { center: Pt::new(w as f64 / 2.0, h as f64 / 2.0), width: w as f64, height: h as f64, angle: 0.0 };
    Ok(Mask { plane: m.segment_at(img, &r, n)?, img_w: w, img_h: h })
}

/// Finds the top of the head: walking up from the forehead along the face's vertical axis in a band
/// of columns around the face centre, the last point still inside the person mask.
pub fn find_head_top(face: &mut Face, mask: &Mask) {
    let (ex, ey) = face.axes();
    let up = Pt::new(-ey.x, -ey.y);
    let fw = face.face_width.max(1.0);
    let start = face.p(lm::FOREHEAD);
    let (w, h) = (mask.img_w as f64, mask.img_h as f64);
    let mut tops: Vec<f64> = Vec::new();
    let mut cut = 0usize;
    let n = 9;
    for i in 0..n {
        let off = (i as f64 / (n - 1) as f64 - 0.5) * 0.5 * fw;
        let base = Pt::new(start.x + ex.x * off, start.y + ex.y * off);
        let mut last = 0.0;
        let mut t = 0.0;
        let step = (fw / 200.0).max(0.5);
        let mut outside_run = 0.0;
        while t < fw * 1.5 {
            let p = Pt::new(base.x + up.x * t, base.y + up.y * t);
            if p.y < 0.0 || p.x < 0.0 || p.x >= w || p.y >= h {
                if outside_run == 0.0 {
                    cut += 1;
                }
                break;
            }
            if mask.at(p.x, p.y) >= 0.5 {
                last = t;
                outside_run = 0.0;
            } else {
                outside_run += step;
                // A gap of 4 % of the face width ends the head (thin stray hairs are ignored).
                if outside_run > fw * 0.04 {
                    break;
                }
            }
            t += step;
        }
        tops.push(last);
    }
    tops.sort_by(f64::total_cmp);
    // The crown: the 6th of the 9 column heights (the top of the head is nearly flat over the
    // middle half of the face; stray hairs and mask spikes in a few columns are ignored).
    let t = tops[tops.len() * 5 / 9];
    face.head_top = Some(Pt::new(start.x + up.x * t, start.y + up.y * t));
    face.head_cut = cut >= 5;
}

/// Full analysis of a working image.
/// `mask_size` is the segmentation input size (0 = no mask).
pub fn analyze(m: &Models, img: &RgbImage, mask_size: usize, min_score: f32, timings: &mut BTreeMap<String, f64>) -> TractResult<Analysis> {
    let mut faces = timed(timings, "detect", || detect_faces(m, img, min_score))?;
    // The main face must be confirmed by the mesh's face-presence output; detections that the mesh
    // rejects (animals, patterns) are dropped, up to a few of them.
    let mut face = None;
    for _ in 0..4 {
        let Some(d) = faces.first().copied() else { break };
        match analyze_face(m, img, &d, 0.5, timings)? {
            Some(f) => {
                face = Some(f);
                break;
            }
            None => {
                faces.remove(0);
            }
        }
    }
    if let Some(f) = &face {
        // The confirmed face first.
        if let Some(pos) = faces.iter().position(|d| *d == f.det) {
            let d = faces.remove(pos);
            faces.insert(0, d);
        }
    }
    let mut mask = None;
    if mask_size > 0 && face.is_some() {
        let mk = timed(timings, "segment", || segment(m, img, mask_size))?;
        if let Some(f) = face.as_mut() {
            find_head_top(f, &mk);
        }
        mask = Some(mk);
    }
    Ok(Analysis { faces, face, mask })
}
