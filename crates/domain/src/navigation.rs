//! Navigation hand-off ("到这里去"): deep links into Amap, Baidu Maps and Tencent Maps, plus web
//! fallbacks, for a destination stored in **GCJ-02**.
//!
//! Formats follow `data/maps/map_deeplink_templates.json` (copied from `../shared/data/maps`, with
//! its sources: the Amap, Baidu and Tencent URI API guides). Unit tests pin every link exactly and
//! compare with the JSON's `example` strings.
//!
//! Decisions:
//! - **Coordinates are GCJ-02 everywhere; nothing is converted.** Amap and Tencent use GCJ-02
//!   natively (Amap app `dev=0`, Tencent web `coord_type=2` written explicitly). For Baidu, whose
//!   default is BD-09, every link passes `coord_type=gcj02` explicitly (the JSON's
//!   `example_gcj02` form); Baidu converts. (`geo::gcj02_to_bd09` would give the BD-09 form.)
//! - Coordinate order: Amap web `lng,lat`; Amap app separate `dlat`/`dlon`; Baidu `latlng:lat,lng`;
//!   Tencent `tocoord=lat,lng`. Six decimals (≈ 0.1 m).
//! - Names (and all other free text: app names, region, referer) are percent-encoded as UTF-8,
//!   keeping only RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`). Baidu's `|` separators
//!   are written literally, as in the JSON example.
//! - No origin → the apps start from the phone's current location (all app links, Amap and
//!   Tencent web). The Baidu **web** direction page requires an origin, so
//!   [`NavLinks::baidu_web`] is `None` unless an origin is given (e.g. the citizen's position
//!   converted to GCJ-02, or a hand-picked district centre).
//! - Modes: walk / transit / drive map to Amap web `walk|bus|car`, Amap app `t=2|1|0`, Baidu
//!   `walking|transit|driving`, Tencent `walk|bus|drive`. Route preference `policy=0`
//!   (recommended/fastest) is sent for drive and transit only (it has no meaning for walking).
//! - Custom schemes do not open from WeChat/QQ in-app browsers (see the JSON's `wechat_note`);
//!   the page should show the web links there.
//!
//! Parameter order per link (`[...]` only with an origin / a configured city):
//! ```text
//! amap_web      https://uri.amap.com/navigation?[from=LNG,LAT,NAME&]to=LNG,LAT,NAME&mode=M[&policy=0]&src=APP&callnative=1
//! amap_android  amapuri://route/plan/?sourceApplication=APP[&slat=..&slon=..&sname=..]&dlat=LAT&dlon=LNG&dname=NAME&dev=0&t=T
//! amap_ios      iosamap://path?(same parameters as amap_android)
//! baidu_android baidumap://map/direction?[origin=name:N|latlng:LAT,LNG&]destination=name:NAME|latlng:LAT,LNG&coord_type=gcj02&mode=M[&region=CITY]&src=andr.COMPANY.APP
//! baidu_ios     (same, src=ios.COMPANY.APP)
//! baidu_web     https://api.map.baidu.com/direction?origin=latlng:LAT,LNG|name:N&destination=latlng:LAT,LNG|name:NAME&mode=M[&region=CITY]&output=html&coord_type=gcj02&src=webapp.COMPANY.APP
//! tencent_app   qqmap://map/routeplan?type=M[&from=N]&fromcoord=(LAT,LNG|CurrentLocation)&to=NAME&tocoord=LAT,LNG&referer=KEY
//! tencent_web   https://apis.map.qq.com/uri/v1/routeplan?type=M[&from=N&fromcoord=LAT,LNG]&to=NAME&tocoord=LAT,LNG[&policy=0]&coord_type=2&referer=KEY
//! ```

use serde::{Deserialize, Serialize};

use crate::geo::{self, LatLng};

/// How the citizen travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TravelMode {
    Walk,
    Transit,
    Drive,
}

impl TravelMode {
    pub const ALL: [TravelMode; 3] = [TravelMode::Walk, TravelMode::Transit, TravelMode::Drive];

    pub fn code(self) -> &'static str {
        match self {
            TravelMode::Walk => "walk",
            TravelMode::Transit => "transit",
            TravelMode::Drive => "drive",
        }
    }

    pub fn from_code(s: &str) -> Option<TravelMode> {
        Self::ALL.into_iter().find(|m| m.code() == s.trim())
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            TravelMode::Walk => "步行",
            TravelMode::Transit => "公交",
            TravelMode::Drive => "驾车",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            TravelMode::Walk => "Walk",
            TravelMode::Transit => "Public transport",
            TravelMode::Drive => "Drive",
        }
    }

    fn amap_web(self) -> &'static str {
        match self {
            TravelMode::Walk => "walk",
            TravelMode::Transit => "bus",
            TravelMode::Drive => "car",
        }
    }

    fn amap_app(self) -> u8 {
        match self {
            TravelMode::Drive => 0,
            TravelMode::Transit => 1,
            TravelMode::Walk => 2,
        }
    }

    fn baidu(self) -> &'static str {
        match self {
            TravelMode::Walk => "walking",
            TravelMode::Transit => "transit",
            TravelMode::Drive => "driving",
        }
    }

    fn tencent(self) -> &'static str {
        match self {
            TravelMode::Walk => "walk",
            TravelMode::Transit => "bus",
            TravelMode::Drive => "drive",
        }
    }

    fn has_policy(self) -> bool {
        !matches!(self, TravelMode::Walk)
    }
}

/// A named place in **GCJ-02**.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    pub name: String,
    pub gcj02: LatLng,
}

impl Place {
    pub fn new(name: impl Into<String>, gcj02: LatLng) -> Place {
        Place {
            name: name.into(),
            gcj02,
        }
    }
}

/// Caller identification each provider asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NavConfig {
    /// Amap `sourceApplication` / `src`, e.g. `"idcard-ah"`.
    pub app_name: String,
    /// Baidu `src` = `andr.{company}.{app}` / `ios.…` / `webapp.…` (required by Baidu).
    pub baidu_company: String,
    pub baidu_app: String,
    /// Tencent `referer` (developer key from lbs.qq.com; required by Tencent).
    pub tencent_referer: String,
    /// Baidu `region` (city name, e.g. `"合肥"`); omitted when `None`.
    pub city: Option<String>,
}

/// All hand-off links for one destination and mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NavLinks {
    pub mode: TravelMode,
    pub amap_android: String,
    pub amap_ios: String,
    pub amap_web: String,
    pub baidu_android: String,
    pub baidu_ios: String,
    /// `None` without an origin (Baidu's web page requires one).
    pub baidu_web: Option<String>,
    pub tencent_app: String,
    pub tencent_web: String,
}

/// Percent-encodes UTF-8, keeping only RFC 3986 unreserved characters.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn c6(x: f64) -> String {
    format!("{x:.6}")
}

fn lat_lng(p: LatLng) -> String {
    format!("{},{}", c6(p.lat), c6(p.lng))
}

fn lng_lat(p: LatLng) -> String {
    format!("{},{}", c6(p.lng), c6(p.lat))
}

/// Amap web (also tries to open the app on mobile: `callnative=1`).
pub fn amap_web(dest: &Place, origin: Option<&Place>, mode: TravelMode, cfg: &NavConfig) -> String {
    let mut u = String::from("https://uri.amap.com/navigation?");
    if let Some(o) = origin {
        u += &format!("from={},{}&", lng_lat(o.gcj02), encode_component(&o.name));
    }
    u += &format!(
        "to={},{}&mode={}",
        lng_lat(dest.gcj02),
        encode_component(&dest.name),
        mode.amap_web()
    );
    if mode.has_policy() {
        u += "&policy=0";
    }
    u += &format!("&src={}&callnative=1", encode_component(&cfg.app_name));
    u
}

fn amap_app(
    base: &str,
    dest: &Place,
    origin: Option<&Place>,
    mode: TravelMode,
    cfg: &NavConfig,
) -> String {
    let mut u = format!(
        "{base}sourceApplication={}",
        encode_component(&cfg.app_name)
    );
    if let Some(o) = origin {
        u += &format!(
            "&slat={}&slon={}&sname={}",
            c6(o.gcj02.lat),
            c6(o.gcj02.lng),
            encode_component(&o.name)
        );
    }
    u += &format!(
        "&dlat={}&dlon={}&dname={}&dev=0&t={}",
        c6(dest.gcj02.lat),
        c6(dest.gcj02.lng),
        encode_component(&dest.name),
        mode.amap_app()
    );
    u
}

/// Amap Android app route planning (`amapuri://route/plan/`), GCJ-02 (`dev=0`).
pub fn amap_android(
    dest: &Place,
    origin: Option<&Place>,
    mode: TravelMode,
    cfg: &NavConfig,
) -> String {
    amap_app("amapuri://route/plan/?", dest, origin, mode, cfg)
}

/// Amap iOS app route planning (`iosamap://path`), GCJ-02 (`dev=0`).
pub fn amap_ios(dest: &Place, origin: Option<&Place>, mode: TravelMode, cfg: &NavConfig) -> String {
    amap_app("iosamap://path?", dest, origin, mode, cfg)
}

fn baidu_region(cfg: &NavConfig) -> String {
    cfg.city
        .as_deref()
        .map(|c| format!("&region={}", encode_component(c)))
        .unwrap_or_default()
}

fn baidu_src(prefix: &str, cfg: &NavConfig) -> String {
    format!(
        "{prefix}.{}.{}",
        encode_component(&cfg.baidu_company),
        encode_component(&cfg.baidu_app)
    )
}

fn baidu_app(
    src_prefix: &str,
    dest: &Place,
    origin: Option<&Place>,
    mode: TravelMode,
    cfg: &NavConfig,
) -> String {
    let mut u = String::from("baidumap://map/direction?");
    if let Some(o) = origin {
        u += &format!(
            "origin=name:{}|latlng:{}&",
            encode_component(&o.name),
            lat_lng(o.gcj02)
        );
    }
    u += &format!(
        "destination=name:{}|latlng:{}&coord_type=gcj02&mode={}{}&src={}",
        encode_component(&dest.name),
        lat_lng(dest.gcj02),
        mode.baidu(),
        baidu_region(cfg),
        baidu_src(src_prefix, cfg)
    );
    u
}

/// Baidu Maps Android app (`src=andr.…`), `coord_type=gcj02`.
pub fn baidu_android(
    dest: &Place,
    origin: Option<&Place>,
    mode: TravelMode,
    cfg: &NavConfig,
) -> String {
    baidu_app("andr", dest, origin, mode, cfg)
}

/// Baidu Maps iOS app (`src=ios.…`), `coord_type=gcj02`.
pub fn baidu_ios(
    dest: &Place,
    origin: Option<&Place>,
    mode: TravelMode,
    cfg: &NavConfig,
) -> String {
    baidu_app("ios", dest, origin, mode, cfg)
}

/// Baidu web direction page (`output=html`), `coord_type=gcj02`; needs an origin.
pub fn baidu_web(dest: &Place, origin: &Place, mode: TravelMode, cfg: &NavConfig) -> String {
    format!(
        "https://api.map.baidu.com/direction?origin=latlng:{}|name:{}&destination=latlng:{}|name:{}&mode={}{}&output=html&coord_type=gcj02&src={}",
        lat_lng(origin.gcj02),
        encode_component(&origin.name),
        lat_lng(dest.gcj02),
        encode_component(&dest.name),
        mode.baidu(),
        baidu_region(cfg),
        baidu_src("webapp", cfg)
    )
}

/// Tencent Maps app (`qqmap://map/routeplan`), GCJ-02.
pub fn tencent_app(
    dest: &Place,
    origin: Option<&Place>,
    mode: TravelMode,
    cfg: &NavConfig,
) -> String {
    let mut u = format!("qqmap://map/routeplan?type={}", mode.tencent());
    match origin {
        Some(o) => {
            u += &format!(
                "&from={}&fromcoord={}",
                encode_component(&o.name),
                lat_lng(o.gcj02)
            )
        }
        None => u += "&fromcoord=CurrentLocation",
    }
    u += &format!(
        "&to={}&tocoord={}&referer={}",
        encode_component(&dest.name),
        lat_lng(dest.gcj02),
        encode_component(&cfg.tencent_referer)
    );
    u
}

/// Tencent web route planning (`coord_type=2` = GCJ-02, written explicitly).
pub fn tencent_web(
    dest: &Place,
    origin: Option<&Place>,
    mode: TravelMode,
    cfg: &NavConfig,
) -> String {
    let mut u = format!(
        "https://apis.map.qq.com/uri/v1/routeplan?type={}",
        mode.tencent()
    );
    if let Some(o) = origin {
        u += &format!(
            "&from={}&fromcoord={}",
            encode_component(&o.name),
            lat_lng(o.gcj02)
        );
    }
    u += &format!(
        "&to={}&tocoord={}",
        encode_component(&dest.name),
        lat_lng(dest.gcj02)
    );
    if mode.has_policy() {
        u += "&policy=0";
    }
    u += &format!(
        "&coord_type=2&referer={}",
        encode_component(&cfg.tencent_referer)
    );
    u
}

/// Every link for one destination (GCJ-02) and mode; `origin` optional (see module docs).
pub fn nav_links(
    dest: &Place,
    origin: Option<&Place>,
    mode: TravelMode,
    cfg: &NavConfig,
) -> NavLinks {
    NavLinks {
        mode,
        amap_android: amap_android(dest, origin, mode, cfg),
        amap_ios: amap_ios(dest, origin, mode, cfg),
        amap_web: amap_web(dest, origin, mode, cfg),
        baidu_android: baidu_android(dest, origin, mode, cfg),
        baidu_ios: baidu_ios(dest, origin, mode, cfg),
        baidu_web: origin.map(|o| baidu_web(dest, o, mode, cfg)),
        tencent_app: tencent_app(dest, origin, mode, cfg),
        tencent_web: tencent_web(dest, origin, mode, cfg),
    }
}

/// Why a coordinate given by a client was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("coordinates are malformed")]
    Malformed,
    #[error("coordinates are outside China")]
    OutsideChina,
}

impl LocationError {
    pub fn code(&self) -> &'static str {
        match self {
            LocationError::Malformed => "location_malformed",
            LocationError::OutsideChina => "location_outside_china",
        }
    }

    pub fn message_zh(&self) -> &'static str {
        match self {
            LocationError::Malformed => "位置坐标格式不正确。",
            LocationError::OutsideChina => "位置不在中国境内，请手动选择所在区县。",
        }
    }

    pub fn message_en(&self) -> &'static str {
        match self {
            LocationError::Malformed => "The location coordinates are malformed.",
            LocationError::OutsideChina => {
                "The location is outside China; please choose your district by hand."
            }
        }
    }
}

/// Checks a client-supplied coordinate: finite, lat in −90..=90, lng in −180..=180, and inside
/// China's rough bounding box ([`geo::out_of_china`]).
pub fn check_location(p: LatLng) -> Result<LatLng, LocationError> {
    if !p.lat.is_finite() || !p.lng.is_finite() || p.lat.abs() > 90.0 || p.lng.abs() > 180.0 {
        return Err(LocationError::Malformed);
    }
    if geo::out_of_china(p) {
        return Err(LocationError::OutsideChina);
    }
    Ok(p)
}

#[cfg(test)]
#[path = "navigation_tests.rs"]
mod tests;
