// Tiles images side by side into one PNG for viewing.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = &args[0];
    let imgs: Vec<image::RgbImage> = args[1..].iter().map(|f| image::open(f).unwrap().to_rgb8()).collect();
    let h = imgs.iter().map(|i| i.height()).max().unwrap();
    let w: u32 = imgs.iter().map(|i| i.width() + 4).sum();
    let mut m = image::RgbImage::from_pixel(w, h, image::Rgb([60, 60, 60]));
    let mut x = 0;
    for i in &imgs { image::imageops::replace(&mut m, i, x as i64, 0); x += i.width() + 4; }
    m.save(out).unwrap();
}
