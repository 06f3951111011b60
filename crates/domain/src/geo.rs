//! Coordinate systems used in China and distances.
//!
//! - WGS-84: GPS.
//! - GCJ-02 ("Mars coordinates"): mandatory for published maps in China (Amap, Tencent, Apple
//!   in China). WGS→GCJ is a closed-form obfuscation; there is no closed-form inverse.
//! - BD-09: Baidu, GCJ-02 plus a further offset.
//!
//! Formulas and constants as in wandergis/coordtransform (MIT): a = 6378245.0,
//! ee = 0.00669342162296594323, x_pi = π·3000/180. (eviltransform's BD-09 code uses π instead
//! of x_pi – up to 79 m wrong in Anhui – so its BD-09 vectors are *not* what we match.)
//!
//! Points outside China's rough bounding box are returned unchanged by the WGS⇄GCJ functions,
//! as the reference implementations do; the BD-09 functions apply everywhere (also as upstream).

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

const A: f64 = 6378245.0;
/// 0.00669342162296594323 as published upstream (rounded to f64).
#[allow(clippy::excessive_precision)]
const EE: f64 = 0.006_693_421_622_965_943_23;
const X_PI: f64 = PI * 3000.0 / 180.0;
/// Mean Earth radius (IUGG) for [`distance_m`].
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A point in decimal degrees. Which datum it is in depends on context.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLng {
    pub lat: f64,
    pub lng: f64,
}

impl LatLng {
    pub const fn new(lat: f64, lng: f64) -> Self {
        LatLng { lat, lng }
    }
}

/// Rough bounding box used by wandergis/coordtransform.
pub fn out_of_china(p: LatLng) -> bool {
    !(72.004..=137.8347).contains(&p.lng) || !(0.8293..=55.8271).contains(&p.lat)
}

fn transform_lat(lng: f64, lat: f64) -> f64 {
    let mut ret = -100.0 + 2.0 * lng + 3.0 * lat + 0.2 * lat * lat + 0.1 * lng * lat
        + 0.2 * lng.abs().sqrt();
    ret += (20.0 * (6.0 * lng * PI).sin() + 20.0 * (2.0 * lng * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (lat * PI).sin() + 40.0 * (lat / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (160.0 * (lat / 12.0 * PI).sin() + 320.0 * (lat * PI / 30.0).sin()) * 2.0 / 3.0;
    ret
}

fn transform_lng(lng: f64, lat: f64) -> f64 {
    let mut ret = 300.0 + lng + 2.0 * lat + 0.1 * lng * lng + 0.1 * lng * lat
        + 0.1 * lng.abs().sqrt();
    ret += (20.0 * (6.0 * lng * PI).sin() + 20.0 * (2.0 * lng * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (lng * PI).sin() + 40.0 * (lng / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (150.0 * (lng / 12.0 * PI).sin() + 300.0 * (lng / 30.0 * PI).sin()) * 2.0 / 3.0;
    ret
}

/// GCJ-02 offset (dlat, dlng) at a WGS-84 point.
fn delta(p: LatLng) -> (f64, f64) {
    let mut dlat = transform_lat(p.lng - 105.0, p.lat - 35.0);
    let mut dlng = transform_lng(p.lng - 105.0, p.lat - 35.0);
    let radlat = p.lat / 180.0 * PI;
    let mut magic = radlat.sin();
    magic = 1.0 - EE * magic * magic;
    let sqrtmagic = magic.sqrt();
    dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrtmagic) * PI);
    dlng = (dlng * 180.0) / (A / sqrtmagic * radlat.cos() * PI);
    (dlat, dlng)
}

/// WGS-84 → GCJ-02 (closed form).
pub fn wgs84_to_gcj02(p: LatLng) -> LatLng {
    if out_of_china(p) {
        return p;
    }
    let (dlat, dlng) = delta(p);
    LatLng { lat: p.lat + dlat, lng: p.lng + dlng }
}

/// GCJ-02 → WGS-84, one-step approximation exactly as wandergis/coordtransform `gcj02towgs84`
/// (error up to ~3 m in Anhui).
pub fn gcj02_to_wgs84_approx(p: LatLng) -> LatLng {
    if out_of_china(p) {
        return p;
    }
    let (dlat, dlng) = delta(p);
    LatLng { lat: p.lat - dlat, lng: p.lng - dlng }
}

/// GCJ-02 → WGS-84 by fixed-point iteration on the forward transform (converges to well under
/// a millimetre in a few steps). Judgement call: we prefer accuracy over bit-compatibility with
/// the one-step formula; [`gcj02_to_wgs84_approx`] reproduces the latter.
pub fn gcj02_to_wgs84(p: LatLng) -> LatLng {
    if out_of_china(p) {
        return p;
    }
    let mut w = gcj02_to_wgs84_approx(p);
    for _ in 0..30 {
        let g = wgs84_to_gcj02(w);
        let (elat, elng) = (g.lat - p.lat, g.lng - p.lng);
        w = LatLng { lat: w.lat - elat, lng: w.lng - elng };
        if elat.abs() < 1e-12 && elng.abs() < 1e-12 {
            break;
        }
    }
    w
}

/// GCJ-02 → BD-09.
pub fn gcj02_to_bd09(p: LatLng) -> LatLng {
    let (lng, lat) = (p.lng, p.lat);
    let z = (lng * lng + lat * lat).sqrt() + 0.00002 * (lat * X_PI).sin();
    let theta = lat.atan2(lng) + 0.000003 * (lng * X_PI).cos();
    LatLng { lat: z * theta.sin() + 0.006, lng: z * theta.cos() + 0.0065 }
}

/// BD-09 → GCJ-02 (the usual inverse formula; round-trip error ≤ 0.14 m in Anhui).
pub fn bd09_to_gcj02(p: LatLng) -> LatLng {
    let x = p.lng - 0.0065;
    let y = p.lat - 0.006;
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * X_PI).cos();
    LatLng { lat: z * theta.sin(), lng: z * theta.cos() }
}

/// WGS-84 → BD-09.
pub fn wgs84_to_bd09(p: LatLng) -> LatLng {
    gcj02_to_bd09(wgs84_to_gcj02(p))
}

/// BD-09 → WGS-84.
pub fn bd09_to_wgs84(p: LatLng) -> LatLng {
    gcj02_to_wgs84(bd09_to_gcj02(p))
}

/// Great-circle (haversine) distance in metres. Both points must be in the same datum.
pub fn distance_m(a: LatLng, b: LatLng) -> f64 {
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let dp = p2 - p1;
    let dl = (b.lng - a.lng).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_china_unchanged() {
        let paris = LatLng::new(48.8566, 2.3522);
        assert_eq!(wgs84_to_gcj02(paris), paris);
        assert_eq!(gcj02_to_wgs84(paris), paris);
        assert_eq!(gcj02_to_wgs84_approx(paris), paris);
    }

    #[test]
    fn distances() {
        let a = LatLng::new(31.86119, 117.283042);
        assert_eq!(distance_m(a, a), 0.0);
        // 1° of latitude ≈ 111.2 km
        let b = LatLng::new(32.86119, 117.283042);
        assert!((distance_m(a, b) - 111_195.0).abs() < 5.0, "{}", distance_m(a, b));
        assert!((distance_m(a, b) - distance_m(b, a)).abs() < 1e-9);
    }
}
