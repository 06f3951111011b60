fn main() {
    let purpose = if std::env::var("FINAL").is_ok() { shenfen_portrait::Purpose::Final } else { shenfen_portrait::Purpose::Source };
    for f in std::env::args().skip(1) {
        let r = shenfen_portrait::check(&std::fs::read(&f).unwrap(), purpose);
        println!("{f}: {:?} {:?}", r.verdict, r.metrics);
    }
}
