use shenfen_portrait::{analyze, decode, models};
fn main() {
    let m = models::models().unwrap();
    for f in std::env::args().skip(1) {
        let bytes = std::fs::read(&f).unwrap();
        let d = match decode::decode(&bytes, &decode::DecodeLimits { max_bytes: 15 << 20, max_pixels: 50_000_000, min_long_side: 1280 }) { Ok(d) => d, Err(e) => { println!("{f}: {e}"); continue } };
        let mut t = Default::default();
        let a = analyze::analyze(m, &d.image, true, 0.5, &mut t).unwrap();
        print!("{f}: {}x{} faces={} ", d.image.width(), d.image.height(), a.faces.len());
        if let Some(fc) = &a.face {
            print!("pres={:.2} fw={:.0} roll={:.1} yaw={:.1} pitch={:.1} eyes={:.2},{:.2} mouth={:.2} top={:?} cut={} iris_r={:.1}", fc.presence, fc.face_width, fc.roll_deg, fc.yaw_deg, fc.pitch_deg, fc.eye_open[0], fc.eye_open[1], fc.mouth_open, fc.head_top.map(|p| (p.x as i32, p.y as i32)), fc.head_cut, fc.iris_radius[0]);
        }
        println!(" {:?}", t);
    }
}
