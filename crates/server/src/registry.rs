//! The government systems that real-name verification talks to, behind interfaces:
//! [`PopulationRegistry`] (公安人口信息库: who holds an ID number, their registered residence and card on file)
//! and [`IdentityVerifier`] (the national real-person authentication service: live face against the registry
//! portrait). Neither can exist on this machine, so the demo instance uses [`DemoRegistry`] and
//! [`DemoVerifier`], whose behaviour is deterministic and documented in `docs/demo.md`.

use async_trait::async_trait;
use shenfen_domain::IdNumber;
use time::{Date, Month};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentRecord {
    pub id_number: IdNumber,
    pub name: String,
    /// County-level code of the registered residence (户籍所在地).
    pub hukou_code: String,
    pub hukou_address: String,
    /// Date the current card was issued, if one was ever issued.
    pub card_issued_on: Option<Date>,
    /// Whether a portrait usable for face comparison is on file.
    pub portrait_on_file: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("registry unavailable")]
    Unavailable,
}

#[async_trait]
pub trait PopulationRegistry: Send + Sync {
    async fn lookup(&self, id_number: &IdNumber) -> Result<Option<ResidentRecord>, RegistryError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceOutcome {
    /// The live face matches the registry portrait; the score is the verifier's similarity (0..1).
    Match { score_permille: u16 },
    Mismatch,
    /// The capture did not look live (photo of a photo, screen replay).
    LivenessFailed,
    /// The image holds no usable face.
    NoFace,
}

#[async_trait]
pub trait IdentityVerifier: Send + Sync {
    async fn verify_face(&self, resident: &ResidentRecord, image: &[u8]) -> Result<FaceOutcome, RegistryError>;
}

/// Synthetic residents of Hefei. The names are the stock placeholder names of Chinese forms (张三, 李四 …) and
/// the numbers use birth dates and sequence numbers chosen for the demo, with valid check digits.
pub struct DemoRegistry {
    residents: Vec<ResidentRecord>,
}

/// (name, address code, birth yyyymmdd, sequence, hukou address, card issued yyyymmdd or 0, portrait on file)
const DEMO_RESIDENTS: &[(&str, &str, &str, &str, &str, u32, bool)] = &[
    ("张三", "340104", "19900307", "177", "安徽省合肥市蜀山区三里庵街道演示路1号", 20250310, true),
    ("李四", "340102", "19850615", "246", "安徽省合肥市瑶海区明光路街道演示路2号", 20240901, true),
    ("王五", "340103", "19781120", "357", "安徽省合肥市庐阳区逍遥津街道演示路3号", 2005_06_01, true),
    ("赵六", "340111", "20010502", "468", "安徽省合肥市包河区包公街道演示路4号", 20251201, true),
    ("钱七", "340104", "20080808", "579", "安徽省合肥市蜀山区琥珀街道演示路5号", 0, false),
    ("孙八", "340102", "19620101", "681", "安徽省合肥市瑶海区红光街道演示路6号", 20250115, true),
    ("周九", "340103", "19950909", "792", "安徽省合肥市庐阳区杏林街道演示路7号", 20250420, true),
    ("吴十", "340111", "19880228", "813", "安徽省合肥市包河区芜湖路街道演示路8号", 20250601, true),
    ("郑十一", "320102", "19920412", "924", "江苏省南京市玄武区演示路9号", 20250701, true),
];

fn ymd(n: u32) -> Option<Date> {
    if n == 0 {
        return None;
    }
    let month = Month::try_from((n / 100 % 100) as u8).ok()?;
    Date::from_calendar_date((n / 10000) as i32, month, (n % 100) as u8).ok()
}

impl DemoRegistry {
    pub fn new() -> Self {
        let residents = DEMO_RESIDENTS
            .iter()
            .map(|(name, code, birth, seq, addr, issued, portrait)| ResidentRecord {
                id_number: IdNumber::from_first17(&format!("{code}{birth}{seq}")).expect("demo residents have valid numbers"),
                name: (*name).to_string(),
                hukou_code: (*code).to_string(),
                hukou_address: (*addr).to_string(),
                card_issued_on: ymd(*issued),
                portrait_on_file: *portrait,
            })
            .collect();
        DemoRegistry { residents }
    }

    pub fn residents(&self) -> &[ResidentRecord] {
        &self.residents
    }
}

impl Default for DemoRegistry {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl PopulationRegistry for DemoRegistry {
    async fn lookup(&self, id_number: &IdNumber) -> Result<Option<ResidentRecord>, RegistryError> {
        Ok(self.residents.iter().find(|r| &r.id_number == id_number).cloned())
    }
}

/// Demo face verifier. Deterministic by resident, so tests and demos can show every outcome:
/// 孙八 → mismatch, 周九 → liveness failed, 吴十 → service unavailable, anyone else → match (0.93),
/// provided the upload is a JPEG, PNG or WebP of at least 1 KB (otherwise "no face").
pub struct DemoVerifier;

#[async_trait]
impl IdentityVerifier for DemoVerifier {
    async fn verify_face(&self, resident: &ResidentRecord, image: &[u8]) -> Result<FaceOutcome, RegistryError> {
        if !looks_like_image(image) || image.len() < 1024 {
            return Ok(FaceOutcome::NoFace);
        }
        Ok(match resident.name.as_str() {
            "孙八" => FaceOutcome::Mismatch,
            "周九" => FaceOutcome::LivenessFailed,
            "吴十" => return Err(RegistryError::Unavailable),
            _ => FaceOutcome::Match { score_permille: 930 },
        })
    }
}

/// Content sniffing of the three formats phones and browsers produce.
pub fn looks_like_image(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF]) || b.starts_with(b"\x89PNG\r\n\x1a\n") || (b.len() > 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn demo_registry_finds_its_residents() {
        let r = DemoRegistry::new();
        assert_eq!(r.residents().len(), DEMO_RESIDENTS.len());
        let zhang = &r.residents()[0];
        assert_eq!(zhang.id_number.as_str(), "34010419900307177X");
        assert_eq!(r.lookup(&zhang.id_number).await.unwrap().unwrap().name, "张三");
        let unknown = IdNumber::parse("11010519491231002X").unwrap();
        assert!(r.lookup(&unknown).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn demo_verifier_outcomes_are_deterministic() {
        let r = DemoRegistry::new();
        let by = |n: &str| r.residents().iter().find(|x| x.name == n).unwrap().clone();
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
        jpeg.resize(2048, 0);
        assert_eq!(DemoVerifier.verify_face(&by("张三"), &jpeg).await, Ok(FaceOutcome::Match { score_permille: 930 }));
        assert_eq!(DemoVerifier.verify_face(&by("孙八"), &jpeg).await, Ok(FaceOutcome::Mismatch));
        assert_eq!(DemoVerifier.verify_face(&by("周九"), &jpeg).await, Ok(FaceOutcome::LivenessFailed));
        assert_eq!(DemoVerifier.verify_face(&by("吴十"), &jpeg).await, Err(RegistryError::Unavailable));
        assert_eq!(DemoVerifier.verify_face(&by("张三"), b"not an image").await, Ok(FaceOutcome::NoFace));
    }
}
