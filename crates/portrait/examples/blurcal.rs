use shenfen_portrait::*;
fn main() {
    for f in std::env::args().skip(1) {
        let img = image::load_from_memory(&std::fs::read(&f).unwrap()).unwrap().to_rgb8();
        let mut line = format!("{f}:");
        for sigma in [0.0f32, 1.0, 2.0, 3.0, 4.0] {
            let b = if sigma > 0.0 { image::imageops::blur(&img, sigma) } else { img.clone() };
            let mut buf = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90).encode_image(&b).unwrap();
            let r = check(&buf, Purpose::Source);
            line += &format!(" s{sigma}={:.2}", r.metrics.get("sharpness").copied().unwrap_or(-1.0));
        }
        println!("{line}");
    }
}
