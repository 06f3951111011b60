use shenfen_portrait::{pipeline, Purpose, Thresholds, preview::line, imgops::Pt};
fn main() {
    let f = std::env::args().nth(1).unwrap();
    let c = pipeline::check_full(&std::fs::read(&f).unwrap(), Purpose::Source, &Thresholds::default());
    let mut img = c.work.clone().unwrap();
    let face = c.analysis.as_ref().unwrap().face.as_ref().unwrap();
    for (i, p) in face.mesh.iter().enumerate() {
        let col = if [50usize, 101, 36, 205, 187, 123].contains(&i) { image::Rgb([255,0,0]) } else if [280usize, 330, 266, 425, 411, 352].contains(&i) { image::Rgb([0,0,255]) } else { image::Rgb([0,255,0]) };
        let t = if col.0[1] == 255 { 1 } else { 6 };
        line(&mut img, Pt::new(p[0], p[1]), Pt::new(p[0], p[1]), col, t);
    }
    let (x0, y0) = ((face.det.x0 - 40.0).max(0.0) as u32, (face.det.y0 - 60.0).max(0.0) as u32);
    let w = ((face.det.width() + 80.0) as u32).min(img.width() - x0);
    let h = ((face.det.height() + 120.0) as u32).min(img.height() - y0);
    let sub = image::imageops::crop_imm(&img, x0, y0, w, h).to_image();
    let sub = image::imageops::resize(&sub, w * 2, h * 2, image::imageops::FilterType::Triangle);
    sub.save("/tmp/mesh.png").unwrap();
}
