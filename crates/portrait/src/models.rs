//! The four MediaPipe models (BlazeFace, FaceMesh, Iris, Selfie segmentation), embedded in the
//! binary, loaded once per process and run with tract-onnx. Pre- and post-processing follows the
//! MediaPipe graphs (anchors, ROI rules, input ranges).

use crate::imgops::{Plane, Pt, RotRect, crop_tensor};
use image::RgbImage;
use std::sync::{Arc, LazyLock};
use tract_onnx::prelude::*;

static DETECTOR_ONNX: &[u8] = include_bytes!("../models/face_detection_short_range.onnx");
static MESH_ONNX: &[u8] = include_bytes!("../models/face_landmark.onnx");
static IRIS_ONNX: &[u8] = include_bytes!("../models/iris_landmark.onnx");
static SEG_ONNX: &[u8] = include_bytes!("../models/selfie_segmentation.onnx");

type Plan = Arc<TypedRunnableModel>;

pub struct Models {
    det: Plan,
    mesh: Plan,
    iris: Plan,
    /// Selfie segmentation is fully convolutional: 256 for rendering edges, 192 / 160 for the
    /// masks the checks need (IoU 0.99 against 256 at 40-60 % of the cost).
    seg: Plan,
    seg192: Plan,
    seg160: Plan,
}

fn load(bytes: &[u8], shape: [usize; 4]) -> TractResult<Plan> {
    tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])?
        .with_input_fact(0, f32::fact(shape).into())?
        .into_optimized()?
        .into_runnable()
}

static MODELS: LazyLock<Result<Models, String>> = LazyLock::new(|| {
    let f = || -> TractResult<Models> {
        Ok(Models {
            det: load(DETECTOR_ONNX, [1, 128, 128, 3])?,
            mesh: load(MESH_ONNX, [1, 192, 192, 3])?,
            iris: load(IRIS_ONNX, [1, 64, 64, 3])?,
            seg: load(SEG_ONNX, [1, 256, 256, 3])?,
            seg192: load(SEG_ONNX, [1, 192, 192, 3])?,
            seg160: load(SEG_ONNX, [1, 160, 160, 3])?,
        })
    };
    f().map_err(|e| format!("model load failed: {e:#}"))
});

/// The process-wide models (loaded on first use).
pub fn models() -> Result<&'static Models, String> {
    MODELS.as_ref().map_err(|e| e.clone())
}

fn run(plan: &Plan, input: Vec<f32>, shape: [usize; 4]) -> TractResult<Vec<Vec<f32>>> {
    let t = Tensor::from_shape(&shape, &input)?;
    let out = plan.run(tvec!(t.into()))?;
    out.iter().map(|o| Ok(o.to_plain_array_view::<f32>()?.iter().copied().collect())).collect()
}

/// One face found by BlazeFace, in image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub score: f32,
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
    /// right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion
    /// (subject's right = image left).
    pub keypoints: [Pt; 6],
}

impl Detection {
    pub fn width(&self) -> f64 {
        self.x1 - self.x0
    }
    pub fn height(&self) -> f64 {
        self.y1 - self.y0
    }
    fn iou(&self, o: &Detection) -> f64 {
        let ix = (self.x1.min(o.x1) - self.x0.max(o.x0)).max(0.0);
        let iy = (self.y1.min(o.y1) - self.y0.max(o.y0)).max(0.0);
        let inter = ix * iy;
        let uni = self.width() * self.height() + o.width() * o.height() - inter;
        if uni <= 0.0 { 0.0 } else { inter / uni }
    }
}

/// BlazeFace short-range anchors (SSD options of the MediaPipe graph): strides 8,16,16,16 on a
/// 128 input, 2 anchors per cell at stride 8 and 6 at stride 16, fixed size.
fn anchors() -> &'static [(f32, f32)] {
    static A: LazyLock<Vec<(f32, f32)>> = LazyLock::new(|| {
        let mut v = Vec::with_capacity(896);
        for (grid, per) in [(16usize, 2usize), (8, 6)] {
            for y in 0..grid {
                for x in 0..grid {
                    for _ in 0..per {
                        v.push(((x as f32 + 0.5) / grid as f32, (y as f32 + 0.5) / grid as f32));
                    }
                }
            }
        }
        v
    });
    &A
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-100.0, 100.0)).exp())
}

impl Models {
    /// Detects faces in the square region `rect` of `img` (letterboxed into 128x128).
    pub fn detect_in(&self, img: &RgbImage, rect: &RotRect, min_score: f32) -> TractResult<Vec<Detection>> {
        let input = crop_tensor(img, rect, 128, 128, 2.0 / 255.0, -1.0, false, Some(127.5));
        let out = run(&self.det, input, [1, 128, 128, 3])?;
        // Output order is by name in the graph; identify by size.
        let (reg, cls) = if out[0].len() == 896 * 16 { (&out[0], &out[1]) } else { (&out[1], &out[0]) };
        let mut dets = Vec::new();
        for (i, &(ax, ay)) in anchors().iter().enumerate() {
            let s = sigmoid(cls[i]);
            if s < min_score {
                continue;
            }
            let r = &reg[i * 16..i * 16 + 16];
            let cx = r[0] / 128.0 + ax;
            let cy = r[1] / 128.0 + ay;
            let w = r[2] / 128.0;
            let h = r[3] / 128.0;
            let to_img = |u: f32, v: f32| rect.to_image(u as f64, v as f64);
            let p0 = to_img(cx - w / 2.0, cy - h / 2.0);
            let p1 = to_img(cx + w / 2.0, cy + h / 2.0);
            let mut kp = [Pt::default(); 6];
            for (k, p) in kp.iter_mut().enumerate() {
                *p = to_img(r[4 + 2 * k] / 128.0 + ax, r[5 + 2 * k] / 128.0 + ay);
            }
            dets.push(Detection { score: s, x0: p0.x, y0: p0.y, x1: p1.x, y1: p1.y, keypoints: kp });
        }
        Ok(weighted_nms(dets, 0.3))
    }

    /// Face mesh on a rotated square ROI: 468 landmarks (x, y in image pixels, z in pixels with the
    /// same scale, negative towards the camera) and the face-presence probability.
    pub fn mesh(&self, img: &RgbImage, roi: &RotRect) -> TractResult<(Vec<[f64; 3]>, f32)> {
        let input = crop_tensor(img, roi, 192, 192, 1.0 / 255.0, 0.0, false, None);
        let out = run(&self.mesh, input, [1, 192, 192, 3])?;
        let (lm, pres) = if out[0].len() == 1404 { (&out[0], &out[1]) } else { (&out[1], &out[0]) };
        let mut pts = Vec::with_capacity(468);
        for k in 0..468 {
            let u = lm[3 * k] as f64 / 192.0;
            let v = lm[3 * k + 1] as f64 / 192.0;
            let p = roi.to_image(u, v);
            pts.push([p.x, p.y, lm[3 * k + 2] as f64 / 192.0 * roi.width]);
        }
        Ok((pts, sigmoid(pres[0])))
    }

    /// Iris on an eye ROI: returns the 5 iris points (centre first) and the 71 eye contour/brow
    /// points, in image pixels. `flip` mirrors the crop (MediaPipe feeds the right eye mirrored).
    pub fn iris(&self, img: &RgbImage, roi: &RotRect, flip: bool) -> TractResult<(Vec<Pt>, Vec<Pt>)> {
        let input = crop_tensor(img, roi, 64, 64, 1.0 / 255.0, 0.0, flip, None);
        let out = run(&self.iris, input, [1, 64, 64, 3])?;
        let (contour, iris) = if out[0].len() == 213 { (&out[0], &out[1]) } else { (&out[1], &out[0]) };
        let map = |v: &[f32], n: usize| -> Vec<Pt> {
            (0..n)
                .map(|k| {
                    let mut u = v[3 * k] as f64 / 64.0;
                    if flip {
                        u = 1.0 - u;
                    }
                    roi.to_image(u, v[3 * k + 1] as f64 / 64.0)
                })
                .collect()
        };
        Ok((map(iris, 5), map(contour, 71)))
    }

    /// Person probability (0..1) over `rect` (stretched into 256x256): a 256x256 plane.
    pub fn segment(&self, img: &RgbImage, rect: &RotRect) -> TractResult<Plane> {
        self.segment_at(img, rect, 256)
    }

    /// Person probability over `rect` at an input size of 256, 192 or 160 (others use 256).
    pub fn segment_at(&self, img: &RgbImage, rect: &RotRect, n: usize) -> TractResult<Plane> {
        let (plan, n) = match n {
            160 => (&self.seg160, 160),
            192 => (&self.seg192, 192),
            _ => (&self.seg, 256),
        };
        let input = crop_tensor(img, rect, n, n, 1.0 / 255.0, 0.0, false, Some(255.0));
        let out = run(plan, input, [1, n, n, 3])?;
        Ok(Plane { w: n, h: n, data: out[0].iter().map(|v| v.clamp(0.0, 1.0)).collect() })
    }
}

/// MediaPipe's weighted non-maximum suppression: overlapping boxes are averaged by score.
pub fn weighted_nms(mut dets: Vec<Detection>, iou: f64) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    let mut used = vec![false; dets.len()];
    for i in 0..dets.len() {
        if used[i] {
            continue;
        }
        let mut group = vec![i];
        for j in i + 1..dets.len() {
            if !used[j] && dets[i].iou(&dets[j]) > iou {
                group.push(j);
            }
        }
        let total: f64 = group.iter().map(|&k| dets[k].score as f64).sum();
        let mut m = dets[i];
        if group.len() > 1 && total > 0.0 {
            let wavg = |f: &dyn Fn(&Detection) -> f64| group.iter().map(|&k| f(&dets[k]) * dets[k].score as f64).sum::<f64>() / total;
            m.x0 = wavg(&|d| d.x0);
            m.y0 = wavg(&|d| d.y0);
            m.x1 = wavg(&|d| d.x1);
            m.y1 = wavg(&|d| d.y1);
            for k in 0..6 {
                m.keypoints[k] = Pt::new(wavg(&|d| d.keypoints[k].x), wavg(&|d| d.keypoints[k].y));
            }
        }
        for &k in &group {
            used[k] = true;
        }
        out.push(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_count_matches_model() {
        assert_eq!(anchors().len(), 896);
        assert_eq!(anchors()[0], (1.0 / 32.0, 1.0 / 32.0));
        assert_eq!(anchors()[895], (15.0 / 16.0, 15.0 / 16.0));
    }

    #[test]
    fn nms_merges_overlaps_keeps_separate() {
        let d = |x: f64, s: f32| Detection { score: s, x0: x, y0: 0.0, x1: x + 10.0, y1: 10.0, keypoints: [Pt::default(); 6] };
        let out = weighted_nms(vec![d(0.0, 0.9), d(1.0, 0.6), d(50.0, 0.8)], 0.3);
        assert_eq!(out.len(), 2);
        assert!(out[0].x0 > 0.0 && out[0].x0 < 1.0);
        assert_eq!(out[1].x0, 50.0);
    }
}
