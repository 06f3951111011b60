//! Administrative division codes (GB/T 2260, as maintained by the Ministry of Civil Affairs).
//!
//! Data: `data/divisions/cn_division_codes_history_1981_2024.csv` (every county-level-and-above
//! code used 1981–2024, including abolished ones, yescallop/areacodes, CC0) and
//! `data/divisions/anhui_divisions.csv` (Anhui divisions as of 2024 with GCJ-02 coordinates).
//!
//! ID numbers keep the address code of the place of first registration forever, so ID
//! validation must use the *history*, not only the current list.

use std::sync::LazyLock;

use serde::Serialize;

use crate::csv;
use crate::geo::LatLng;

static HISTORY_CSV: &str = include_str!("../data/divisions/cn_division_codes_history_1981_2024.csv");
static PROVINCES_CSV: &str = include_str!("../data/divisions/cn_provinces_mca_2024.csv");
static ANHUI_CSV: &str = include_str!("../data/divisions/anhui_divisions.csv");

/// Level of an administrative division.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DivisionLevel {
    /// 省级 (province, autonomous region, municipality, SAR)
    Province,
    /// 地级 (prefecture-level city, prefecture, league, autonomous prefecture)
    Prefecture,
    /// 县级 (district, county, county-level city, banner …)
    County,
}

impl DivisionLevel {
    fn from_zh(s: &str) -> Option<Self> {
        match s {
            "省级" => Some(Self::Province),
            "地级" => Some(Self::Prefecture),
            "县级" => Some(Self::County),
            _ => None,
        }
    }
    fn from_en(s: &str) -> Option<Self> {
        match s {
            "province" => Some(Self::Province),
            "prefecture" => Some(Self::Prefecture),
            "county" => Some(Self::County),
            _ => None,
        }
    }
}

/// One row of the 1981–2024 code history. A code can have several rows when the division
/// behind it was renamed or re-formed (e.g. 340102 东市区 1983–2002, 瑶海区 since 2002).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeRecord {
    pub code: &'static str,
    pub name: &'static str,
    pub province: &'static str,
    /// Prefecture name; "直辖" for districts of municipalities; empty for provinces.
    pub prefecture: &'static str,
    pub level: DivisionLevel,
    /// `true` for the row that is in use at 2024-12-31 (status 在用).
    pub in_use: bool,
    pub since_year: u16,
    /// Last year of use (exclusive end as recorded by the source), `None` if still in use.
    pub until_year: Option<u16>,
}

struct History {
    /// Sorted by code (stable: file order within one code).
    records: Vec<CodeRecord>,
}

static HISTORY: LazyLock<History> = LazyLock::new(|| {
    let mut records: Vec<CodeRecord> = csv::rows(HISTORY_CSV)
        .filter_map(|f| {
            // code,province,prefecture,name,level,status,since_year,until_year,new_codes
            if f.len() < 8 || f[0].len() != 6 {
                return None;
            }
            Some(CodeRecord {
                code: f[0],
                province: f[1],
                prefecture: f[2],
                name: f[3],
                level: DivisionLevel::from_zh(f[4])?,
                in_use: f[5] == "在用",
                since_year: f[6].parse().ok()?,
                until_year: f[7].parse().ok(),
            })
        })
        .collect();
    records.sort_by(|a, b| a.code.cmp(b.code));
    History { records }
});

static PROVINCES: LazyLock<Vec<(&'static str, &'static str)>> = LazyLock::new(|| {
    csv::rows(PROVINCES_CSV)
        .filter(|f| f.len() >= 2 && f[0].len() == 6)
        .map(|f| (&f[0][..2], f[1]))
        .collect()
});

fn records_for(code6: &str) -> &'static [CodeRecord] {
    let recs = &HISTORY.records;
    let start = recs.partition_point(|r| r.code < code6);
    let end = start + recs[start..].partition_point(|r| r.code == code6);
    &recs[start..end]
}

/// All history rows for a 6-digit code (empty if never listed 1981–2024).
pub fn history(code6: &str) -> &'static [CodeRecord] {
    records_for(code6)
}

/// Name of a province-level division by its 2-digit prefix ("34" → "安徽省"). Includes 71
/// (台湾省), 81 and 82 (SARs), which are *not* valid prefixes of resident ID numbers – see
/// [`is_mainland_province`].
pub fn province_name(code2: &str) -> Option<&'static str> {
    PROVINCES.iter().find(|(c, _)| *c == code2).map(|(_, n)| *n)
}

/// Whether `code2` is the prefix of one of the 31 mainland provinces, i.e. a prefix that can
/// start a resident ID number (excludes 71 Taiwan, 81 Hong Kong, 82 Macao, 83).
pub fn is_mainland_province(code2: &str) -> bool {
    !matches!(code2, "71" | "81" | "82" | "83") && province_name(code2).is_some()
}

/// Current name of a 6-digit code, or its last recorded name if the code was abolished.
pub fn name(code6: &str) -> Option<&'static str> {
    let recs = records_for(code6);
    recs.iter()
        .find(|r| r.in_use)
        .or_else(|| recs.iter().max_by_key(|r| (r.until_year.unwrap_or(u16::MAX), r.since_year)))
        .map(|r| r.name)
}

/// Full display name, e.g. "340104" → "安徽省合肥市蜀山区", "110105" → "北京市朝阳区".
pub fn full_name(code6: &str) -> Option<String> {
    let recs = records_for(code6);
    let r = recs
        .iter()
        .find(|r| r.in_use)
        .or_else(|| recs.iter().max_by_key(|r| (r.until_year.unwrap_or(u16::MAX), r.since_year)))?;
    let mut s = String::new();
    if r.level != DivisionLevel::Province {
        s.push_str(r.province);
    }
    if r.level == DivisionLevel::County && !r.prefecture.is_empty() && r.prefecture != "直辖" {
        s.push_str(r.prefecture);
    }
    s.push_str(r.name);
    Some(s)
}

/// `true` if the code appears in the 1981–2024 history but is no longer in use at the end of
/// 2024 (e.g. 340203, Wuhu 弋江区 before 2020). Such codes remain valid inside ID numbers.
pub fn is_historical_code(code6: &str) -> bool {
    let recs = records_for(code6);
    !recs.is_empty() && !recs.iter().any(|r| r.in_use)
}

/// `true` if the code was ever listed 1981–2024 (current or historical).
pub fn is_known_code(code6: &str) -> bool {
    !records_for(code6).is_empty()
}

/// Classification of a 6-digit address code for ID-number validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressCodeStatus {
    /// Listed and in use at 2024-12-31.
    Current,
    /// Listed in 1981–2024 but abolished since; valid in IDs.
    Historical,
    /// Not listed, but its prefecture (first 4 digits) is known. Plausible (市辖区 "xxxx01" codes
    /// and pre-1981 codes are missing from the MCA lists) – a *soft* warning, not an error.
    Unlisted,
    /// County part 71–79: NBS statistical development-zone codes (e.g. 340176), which MCA never
    /// issued (no 1981–2024 code has a 7 in the fifth digit) and never appear in ID numbers.
    StatisticalOnly,
    /// Not listed and no listed code shares its first 4 digits.
    UnknownPrefecture,
    /// Prefix 81/82/83: residence permits for Hong Kong, Macao and Taiwan residents.
    ResidencePermit,
    /// Prefix is not one of the 31 mainland provinces (including 71 Taiwan).
    NotMainland,
}

impl AddressCodeStatus {
    /// Whether an ID number with this address code is accepted.
    pub fn is_acceptable(self) -> bool {
        matches!(self, Self::Current | Self::Historical | Self::Unlisted)
    }
}

/// Classifies a 6-digit address code (caller guarantees 6 ASCII digits).
///
/// Judgement call (the rules doc says "treat unknown codes as soft; hard-check only the
/// province prefix"): we hard-reject a non-mainland province prefix, NBS statistical codes and
/// codes whose *prefecture* part is unknown too (a typo in the first four digits is far more
/// likely than an unlisted prefecture); an unlisted code inside a known prefecture is
/// accepted and reported as [`AddressCodeStatus::Unlisted`].
pub fn address_code_status(code6: &str) -> AddressCodeStatus {
    let p = &code6[..2.min(code6.len())];
    if matches!(p, "81" | "82" | "83") {
        return AddressCodeStatus::ResidencePermit;
    }
    if !is_mainland_province(p) {
        return AddressCodeStatus::NotMainland;
    }
    let recs = records_for(code6);
    if !recs.is_empty() {
        return if recs.iter().any(|r| r.in_use) {
            AddressCodeStatus::Current
        } else {
            AddressCodeStatus::Historical
        };
    }
    if code6.len() == 6 && code6.as_bytes()[4] == b'7' {
        return AddressCodeStatus::StatisticalOnly;
    }
    let prefix4 = &code6[..4.min(code6.len())];
    let recs = &HISTORY.records;
    let i = recs.partition_point(|r| r.code < prefix4);
    if recs.get(i).is_some_and(|r| r.code.starts_with(prefix4)) {
        AddressCodeStatus::Unlisted
    } else {
        AddressCodeStatus::UnknownPrefecture
    }
}

/// A division of Anhui province (status 2024), with coordinates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Division {
    pub code: &'static str,
    pub name: &'static str,
    pub level: DivisionLevel,
    /// Parent code (`None` for the province itself).
    pub parent: Option<&'static str>,
    /// Seat of government, **GCJ-02** (Aliyun DataV atlas, as given in the source). `None` for
    /// statistical-only development zones.
    pub center: Option<LatLng>,
    /// Polygon centroid, **GCJ-02**.
    pub centroid: Option<LatLng>,
    /// NBS statistical development zone (not a GB/T 2260 code; never in ID numbers).
    pub statistical_only: bool,
}

impl Division {
    /// Latitude of the seat of government (GCJ-02).
    pub fn lat(&self) -> Option<f64> {
        self.center.map(|c| c.lat)
    }
    /// Longitude of the seat of government (GCJ-02).
    pub fn lng(&self) -> Option<f64> {
        self.center.map(|c| c.lng)
    }
}

static ANHUI: LazyLock<Vec<Division>> = LazyLock::new(|| {
    csv::rows(ANHUI_CSV)
        .filter_map(|f| {
            // code,name,level,parent_code,parent_name,code_source,center_lng,center_lat,
            // centroid_lng,centroid_lat,coord_source,coord_system
            if f.len() < 10 {
                return None;
            }
            let pt = |lng: &str, lat: &str| -> Option<LatLng> {
                Some(LatLng { lat: lat.parse().ok()?, lng: lng.parse().ok()? })
            };
            Some(Division {
                code: f[0],
                name: f[1],
                level: DivisionLevel::from_en(f[2])?,
                parent: (!f[3].is_empty()).then_some(f[3]),
                center: pt(f[6], f[7]),
                centroid: pt(f[8], f[9]),
                statistical_only: f[5] == "nbs_statistical_only",
            })
        })
        .collect()
});

/// Anhui's divisions (province, 16 prefectures, counties incl. NBS development zones), in
/// source order. Coordinates are GCJ-02 as given (convert with [`crate::geo`]).
pub fn anhui_divisions() -> &'static [Division] {
    &ANHUI
}

/// Looks up one Anhui division by code.
pub fn anhui_division(code6: &str) -> Option<&'static Division> {
    ANHUI.iter().find(|d| d.code == code6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_are_well_formed() {
        assert_eq!(HISTORY_CSV.lines().skip(1).filter(|l| !l.is_empty()).count(), HISTORY.records.len());
        assert!(HISTORY_CSV.lines().skip(1).all(|l| l.split(',').count() == 9));
        assert!(ANHUI_CSV.lines().skip(1).all(|l| l.split(',').count() == 12));
        assert_eq!(ANHUI.len(), ANHUI_CSV.lines().skip(1).filter(|l| !l.is_empty()).count());
        assert_eq!(PROVINCES.len(), 34);
    }

    #[test]
    fn provinces() {
        assert_eq!(province_name("34"), Some("安徽省"));
        assert_eq!(province_name("11"), Some("北京市"));
        assert_eq!(province_name("81"), Some("香港特别行政区"));
        assert_eq!(province_name("99"), None);
        assert!(is_mainland_province("34"));
        assert!(is_mainland_province("65"));
        for p in ["71", "81", "82", "83", "00", "99", "19"] {
            assert!(!is_mainland_province(p), "{p}");
        }
        let mainland = PROVINCES.iter().filter(|(c, _)| is_mainland_province(c)).count();
        assert_eq!(mainland, 31);
    }

    #[test]
    fn names_and_history() {
        assert_eq!(name("340104"), Some("蜀山区"));
        assert_eq!(name("340102"), Some("瑶海区")); // renamed from 东市区 in 2002
        assert_eq!(name("110103"), Some("崇文区")); // abolished 2010
        assert_eq!(name("340176"), None);
        assert_eq!(full_name("340104").as_deref(), Some("安徽省合肥市蜀山区"));
        assert_eq!(full_name("110105").as_deref(), Some("北京市朝阳区"));
        assert_eq!(full_name("340100").as_deref(), Some("安徽省合肥市"));
        assert_eq!(full_name("340000").as_deref(), Some("安徽省"));
        assert!(is_historical_code("340203"));
        assert!(is_historical_code("340221"));
        assert!(!is_historical_code("340102"));
        assert!(!is_historical_code("340104"));
        assert!(!is_historical_code("999999"));
        assert_eq!(history("340102").len(), 2);
        assert!(is_known_code("340203"));
    }

    #[test]
    fn address_code_statuses() {
        use AddressCodeStatus::*;
        assert_eq!(address_code_status("340104"), Current);
        assert_eq!(address_code_status("340203"), Historical);
        assert_eq!(address_code_status("370101"), Unlisted); // 市辖区
        assert_eq!(address_code_status("340524"), Unlisted);
        assert_eq!(address_code_status("340176"), StatisticalOnly);
        assert_eq!(address_code_status("341871"), StatisticalOnly);
        assert_eq!(address_code_status("349901"), UnknownPrefecture);
        assert_eq!(address_code_status("810000"), ResidencePermit);
        assert_eq!(address_code_status("830000"), ResidencePermit);
        assert_eq!(address_code_status("710000"), NotMainland);
        assert_eq!(address_code_status("990101"), NotMainland);
        // every NBS-only Anhui code is caught by the 7x rule
        for d in anhui_divisions().iter().filter(|d| d.statistical_only) {
            assert_eq!(address_code_status(d.code), StatisticalOnly, "{}", d.code);
        }
        // every MCA Anhui code is current
        for d in anhui_divisions().iter().filter(|d| !d.statistical_only) {
            assert_eq!(address_code_status(d.code), Current, "{}", d.code);
        }
    }

    #[test]
    fn anhui() {
        let all = anhui_divisions();
        assert_eq!(all.len(), 136);
        assert_eq!(all.iter().filter(|d| d.level == DivisionLevel::Prefecture).count(), 16);
        let hf = anhui_division("340100").unwrap();
        assert_eq!(hf.name, "合肥市");
        assert_eq!(hf.parent, Some("340000"));
        assert_eq!(hf.lat(), Some(31.86119));
        assert_eq!(hf.lng(), Some(117.283042));
        let zone = anhui_division("340176").unwrap();
        assert!(zone.statistical_only);
        assert!(zone.center.is_none());
        // every parent exists
        for d in all {
            if let Some(p) = d.parent {
                assert!(anhui_division(p).is_some(), "{}", d.code);
            }
            if let Some(c) = d.center {
                assert!((29.0..35.5).contains(&c.lat) && (114.5..120.0).contains(&c.lng), "{}", d.code);
            }
        }
    }
}
