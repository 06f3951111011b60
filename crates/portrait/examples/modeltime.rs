use shenfen_portrait::{imgops::*, models};
use std::time::Instant;
fn main() {
    let m = models::models().unwrap();
    let img = image::RgbImage::from_pixel(800, 1000, image::Rgb([120, 100, 90]));
    let r = RotRect { center: Pt::new(400.0, 500.0), width: 300.0, height: 300.0, angle: 0.1 };
    for name in ["mesh", "iris", "seg", "det", "crop192"] {
        let mut v = vec![];
        for _ in 0..20 {
            let t = Instant::now();
            match name {
                "mesh" => { m.mesh(&img, &r).unwrap(); }
                "iris" => { m.iris(&img, &r, false).unwrap(); }
                "seg" => { m.segment(&img, &r).unwrap(); }
                "det" => { m.detect_in(&img, &r, 0.5).unwrap(); }
                _ => { std::hint::black_box(crop_tensor(&img, &r, 256, 256, 1.0, 0.0, false, None)); }
            }
            v.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        v.sort_by(f64::total_cmp);
        println!("{name}: min {:.2} med {:.2}", v[0], v[10]);
    }
}
