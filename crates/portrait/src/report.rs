//! Report types: verdict, issues with stable codes, bilingual messages, and the thresholds.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the photo is meant to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A finished ID photo: must be 358 x 441 with the GA 461 geometry.
    Final,
    /// A portrait of any size that will be standardized: the subject and the feasibility of a
    /// compliant crop are checked, not the frame geometry or the background colour.
    #[default]
    Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The photo could not be processed at all (undecodable, model failure).
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Fail,
    Warn,
}

/// The stable issue vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueCode {
    DecodeError,
    TooSmall,
    NoFace,
    MultipleFaces,
    FaceTooSmall,
    FaceTooLarge,
    FaceOffCenter,
    HeadTilted,
    HeadTurned,
    HeadPitched,
    EyesClosed,
    MouthOpen,
    BackgroundNotWhite,
    BackgroundNotUniform,
    ShadowOnBackground,
    Underexposed,
    Overexposed,
    UnevenLighting,
    Blurry,
    ClothingTooLight,
    GlassesGlare,
    RedEye,
    EarsNotVisible,
    EyebrowsCovered,
    HeadCovering,
    NotStandardSize,
    UnnaturalColor,
}

impl IssueCode {
    pub const ALL: [IssueCode; 27] = [
        IssueCode::DecodeError,
        IssueCode::TooSmall,
        IssueCode::NoFace,
        IssueCode::MultipleFaces,
        IssueCode::FaceTooSmall,
        IssueCode::FaceTooLarge,
        IssueCode::FaceOffCenter,
        IssueCode::HeadTilted,
        IssueCode::HeadTurned,
        IssueCode::HeadPitched,
        IssueCode::EyesClosed,
        IssueCode::MouthOpen,
        IssueCode::BackgroundNotWhite,
        IssueCode::BackgroundNotUniform,
        IssueCode::ShadowOnBackground,
        IssueCode::Underexposed,
        IssueCode::Overexposed,
        IssueCode::UnevenLighting,
        IssueCode::Blurry,
        IssueCode::ClothingTooLight,
        IssueCode::GlassesGlare,
        IssueCode::RedEye,
        IssueCode::EarsNotVisible,
        IssueCode::EyebrowsCovered,
        IssueCode::HeadCovering,
        IssueCode::NotStandardSize,
        IssueCode::UnnaturalColor,
    ];

    /// The snake_case code as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        CODE_NAMES[self as usize]
    }

    /// Default advice (Simplified Chinese, English) telling the person what to do.
    pub fn advice(self) -> (&'static str, &'static str) {
        use IssueCode::*;
        match self {
            DecodeError => ("无法读取该文件,请上传 JPEG、PNG 或 WebP 格式的照片", "The file cannot be read: upload a JPEG, PNG or WebP photo"),
            TooSmall => ("照片尺寸太小,请上传更清晰、分辨率更高的原图", "The image is too small: upload the original, higher-resolution photo"),
            NoFace => ("未检测到人脸,请正对镜头拍摄本人正面免冠照片", "No face was found: take a frontal photo of yourself facing the camera"),
            MultipleFaces => ("照片中有多张人脸,请确保画面中只有本人", "More than one face is in the photo: make sure only you are in the picture"),
            FaceTooSmall => ("人脸太小,请靠近镜头一些", "The face is too small: move closer to the camera"),
            FaceTooLarge => ("人脸太大或离镜头太近,请后退一些,露出肩膀", "The face is too large or too close: step back so that your shoulders show"),
            FaceOffCenter => ("人脸位置不居中,请使头部位于画面中央", "The face is not centred: keep your head in the middle of the frame"),
            HeadTilted => ("请正对镜头,不要歪头", "Face the camera and keep your head straight, do not tilt it"),
            HeadTurned => ("请正对镜头,不要侧脸", "Face the camera directly, do not turn your head"),
            HeadPitched => ("请平视镜头,不要抬头或低头", "Look straight at the camera, do not raise or lower your chin"),
            EyesClosed => ("请睁开双眼", "Keep both eyes open"),
            MouthOpen => ("请闭上嘴巴,保持自然表情", "Close your mouth and keep a neutral expression"),
            BackgroundNotWhite => ("背景须为白色,请在白色墙面前拍摄", "The background must be white: stand in front of a white wall"),
            BackgroundNotUniform => ("背景不均匀,请在干净的纯色墙面前拍摄", "The background is not plain: stand in front of a clean, plain wall"),
            ShadowOnBackground => ("背景上有阴影,请离墙远一些并使光线均匀", "There is a shadow on the background: stand further from the wall and use even light"),
            Underexposed => ("照片太暗,请在光线充足的地方拍摄", "The photo is too dark: take it in good light"),
            Overexposed => ("照片过亮,请避免强光直射或闪光过强", "The photo is too bright: avoid direct strong light or flash"),
            UnevenLighting => ("面部光线不均匀,请避免侧光和阴影", "The light on the face is uneven: avoid side light and shadows"),
            Blurry => ("照片模糊,请保持相机稳定并对焦", "The photo is blurred: hold the camera still and focus"),
            ClothingTooLight => ("请穿深色有领的上衣,不要穿白色或浅色衣服", "Wear a dark top with a collar, not white or light clothes"),
            GlassesGlare => ("眼镜有反光,请调整角度或摘下眼镜", "The glasses reflect light: tilt them slightly or take them off"),
            RedEye => ("照片有红眼,请关闭闪光灯重新拍摄", "The photo has red eyes: retake it without flash"),
            EarsNotVisible => ("请将头发拢到耳后,露出双耳", "Tuck your hair behind your ears so that both ears show"),
            EyebrowsCovered => ("请整理头发,露出眉毛", "Move your hair away so that your eyebrows show"),
            HeadCovering => ("请摘下帽子或头饰", "Take off your hat or head covering"),
            NotStandardSize => ("证件照尺寸须为 358×441 像素", "An ID photo must be exactly 358 x 441 pixels"),
            UnnaturalColor => ("照片颜色不自然,请使用彩色照片,不要使用滤镜或美颜", "The colours look unnatural: use a colour photo without filters or beautification"),
        }
    }
}

const CODE_NAMES: [&str; 27] = [
    "decode_error",
    "too_small",
    "no_face",
    "multiple_faces",
    "face_too_small",
    "face_too_large",
    "face_off_center",
    "head_tilted",
    "head_turned",
    "head_pitched",
    "eyes_closed",
    "mouth_open",
    "background_not_white",
    "background_not_uniform",
    "shadow_on_background",
    "underexposed",
    "overexposed",
    "uneven_lighting",
    "blurry",
    "clothing_too_light",
    "glasses_glare",
    "red_eye",
    "ears_not_visible",
    "eyebrows_covered",
    "head_covering",
    "not_standard_size",
    "unnatural_color",
];

impl std::fmt::Display for IssueCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A limit as reported: a number, or a range / description such as "193..=221".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Limit {
    Number(f64),
    Text(String),
}

impl From<f64> for Limit {
    fn from(v: f64) -> Self {
        Limit::Number(v)
    }
}
impl From<String> for Limit {
    fn from(v: String) -> Self {
        Limit::Text(v)
    }
}
impl From<&str> for Limit {
    fn from(v: &str) -> Self {
        Limit::Text(v.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub code: IssueCode,
    pub severity: Severity,
    /// The measured value (units depend on the code; see the docs of [`Thresholds`]).
    pub value: Option<f64>,
    pub limit: Option<Limit>,
    pub message_zh: String,
    pub message_en: String,
}

impl Issue {
    pub fn new(code: IssueCode, severity: Severity, value: Option<f64>, limit: Option<Limit>) -> Self {
        let (zh, en) = code.advice();
        Issue { code, severity, value: value.map(round3), limit, message_zh: zh.into(), message_en: en.into() }
    }
    pub fn fail(code: IssueCode, value: f64, limit: impl Into<Limit>) -> Self {
        Issue::new(code, Severity::Fail, Some(value), Some(limit.into()))
    }
    pub fn warn(code: IssueCode, value: f64, limit: impl Into<Limit>) -> Self {
        Issue::new(code, Severity::Warn, Some(value), Some(limit.into()))
    }
    /// Replaces the default advice with a more specific message.
    pub fn with_message(mut self, zh: impl Into<String>, en: impl Into<String>) -> Self {
        self.message_zh = zh.into();
        self.message_en = en.into();
        self
    }
}

pub(crate) fn round3(v: f64) -> f64 {
    if v.is_finite() { (v * 1000.0).round() / 1000.0 } else { v }
}

/// The result of checking one photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub verdict: Verdict,
    /// Number of faces found.
    pub faces: usize,
    pub issues: Vec<Issue>,
    /// Quality score 0..=100 (see [`crate::score`]): >= 50 only when nothing fails.
    pub score: u8,
    pub timings_ms: BTreeMap<String, f64>,
    /// Upright size of the input at full resolution (0 when undecodable).
    pub width: u32,
    pub height: u32,
    /// Raw measurements (for previews, tuning and best-of ranking).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
}

impl Report {
    pub fn has(&self, code: IssueCode) -> bool {
        self.issues.iter().any(|i| i.code == code)
    }
    pub fn fails(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| i.severity == Severity::Fail)
    }
}

/// Every threshold in one place, with the GA 461 values (and measured practice) as defaults.
/// Pixel geometry refers to the 358 x 441 standard image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    /// Refuse inputs larger than this many bytes (before decoding).
    pub max_bytes: usize,
    /// Refuse images with more pixels than this (checked from the header, before decoding).
    pub max_pixels: u64,
    /// Images are analysed at a working resolution whose long side is at least this.
    pub work_long_side: u32,
    /// Smallest usable image (full resolution), width and height.
    pub min_width: u32,
    pub min_height: u32,
    /// The standard photo size.
    pub standard_width: u32,
    pub standard_height: u32,
    /// Face width (cheek to cheek) in the standard photo: target and tolerance (GA 461: 207 ± 14).
    pub face_width_px: f64,
    pub face_width_tol_px: f64,
    /// GA 461 measures the width of the head at the ears (the head is then about 2/3 of the photo
    /// height); the FaceMesh contour (points 234-454) stops in front of the ears. The standard
    /// width is the mesh width times this factor (measured on the test portraits: 1.2-1.35).
    pub face_width_scale: f64,
    /// Top of the head below the top edge (GA 461: 7..=21 px).
    pub head_top_min_px: f64,
    pub head_top_max_px: f64,
    /// Eye line at most this far from the top edge (GA 461: 441 - 207 = 234 px).
    pub eye_y_max_px: f64,
    /// Horizontal centring tolerance of the face centre, px.
    pub center_tol_px: f64,
    /// Source portraits: the face must be at least this wide (px) to make a sharp standard photo.
    pub min_source_face_px: f64,
    /// Detector confidence for a face to count.
    pub min_face_score: f32,
    /// Pose limits in degrees. Roll limit for a final photo; source photos are levelled by
    /// standardize up to `max_roll_source_deg`.
    pub max_roll_deg: f64,
    pub max_roll_source_deg: f64,
    pub max_yaw_deg: f64,
    pub max_pitch_deg: f64,
    /// Eye aspect ratio (lid gap / eye width) below which an eye counts as closed.
    pub min_eye_open: f64,
    /// Inner lip gap / mouth width above which the mouth counts as open.
    pub max_mouth_open: f64,
    /// Background: minimum mean luma, maximum mean chroma distance from neutral (Cb/Cr units).
    pub bg_min_luma: f64,
    pub bg_max_chroma: f64,
    /// Background uniformity: maximum standard deviation of luma over the background.
    pub bg_max_std: f64,
    /// Shadow: maximum luma drop of the background next to the person vs. far from it.
    pub bg_max_shadow: f64,
    /// Face exposure: mean skin luma range, and the fraction of clipped face pixels.
    pub face_min_luma: f64,
    pub face_max_luma: f64,
    pub face_max_clipped: f64,
    /// Uneven lighting: maximum left/right (or top/bottom) luma ratio difference on the face.
    pub max_light_asymmetry: f64,
    /// Sharpness (mean gradient energy of the face rescaled to the standard face width) minimum.
    pub min_sharpness: f64,
    /// Clothing: maximum fraction of near-white pixels in the clothing region.
    pub max_light_clothing: f64,
    /// Glasses glare: maximum fraction of specular pixels around the eyes (iris excluded).
    pub max_glare: f64,
    /// Red eye: maximum fraction of strongly red pixels inside the pupils.
    pub max_red_eye: f64,
    /// Ears: minimum fraction of skin-like pixels beside the face at ear height (either side).
    pub min_ear_skin: f64,
    /// Eyebrows: minimum fraction of skin-coloured forehead just above the brows.
    pub min_brow_skin: f64,
    /// Head covering: maximum fraction of the head above the forehead that is neither hair nor skin.
    pub max_head_covering: f64,
    /// Colour: minimum mean skin chroma (0 = greyscale photo), and the allowed skin hue window
    /// (angle of (Cr-128, Cb-128) in degrees).
    pub min_skin_chroma: f64,
    pub skin_hue_min_deg: f64,
    pub skin_hue_max_deg: f64,
    /// Standardize: JPEG quality (1..=100), dots per inch written in the JFIF header, and the
    /// target file size window in bytes (quality is lowered until the file fits).
    pub jpeg_quality: u8,
    pub dpi: u16,
    pub max_jpeg_bytes: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_bytes: 15 * 1024 * 1024,
            max_pixels: 50_000_000,
            work_long_side: 720,
            min_width: 358,
            min_height: 441,
            standard_width: 358,
            standard_height: 441,
            face_width_px: 207.0,
            face_width_tol_px: 14.0,
            face_width_scale: 1.25,
            head_top_min_px: 7.0,
            head_top_max_px: 21.0,
            eye_y_max_px: 234.0,
            center_tol_px: 10.0,
            min_source_face_px: 150.0,
            min_face_score: 0.6,
            max_roll_deg: 4.0,
            max_roll_source_deg: 12.0,
            max_yaw_deg: 10.0,
            max_pitch_deg: 12.0,
            min_eye_open: 0.12,
            max_mouth_open: 0.12,
            bg_min_luma: 225.0,
            bg_max_chroma: 8.0,
            bg_max_std: 12.0,
            bg_max_shadow: 18.0,
            face_min_luma: 80.0,
            face_max_luma: 225.0,
            face_max_clipped: 0.08,
            max_light_asymmetry: 0.35,
            min_sharpness: 2.0,
            max_light_clothing: 0.5,
            max_glare: 0.04,
            max_red_eye: 0.25,
            min_ear_skin: 0.15,
            min_brow_skin: 0.25,
            max_head_covering: 0.5,
            min_skin_chroma: 6.0,
            skin_hue_min_deg: -60.0,
            skin_hue_max_deg: 10.0,
            jpeg_quality: 85,
            dpi: 350,
            max_jpeg_bytes: 20 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_snake_case_and_match_names() {
        for c in IssueCode::ALL {
            let s = serde_json::to_value(c).unwrap();
            assert_eq!(s, serde_json::Value::String(c.as_str().to_string()));
            let (zh, en) = c.advice();
            assert!(!zh.is_empty() && !en.is_empty());
        }
        assert_eq!(IssueCode::ALL.len(), 27);
        assert_eq!(IssueCode::BackgroundNotWhite.as_str(), "background_not_white");
    }

    #[test]
    fn thresholds_roundtrip_and_defaults() {
        let t = Thresholds::default();
        assert_eq!(t.face_width_px - t.face_width_tol_px, 193.0);
        assert_eq!(t.face_width_px + t.face_width_tol_px, 221.0);
        assert_eq!(t.eye_y_max_px, 234.0);
        let j = serde_json::to_string(&t).unwrap();
        let back: Thresholds = serde_json::from_str(&j).unwrap();
        assert_eq!(back, t);
        // Partial configs fall back to the defaults.
        let p: Thresholds = serde_json::from_str(r#"{"max_yaw_deg": 5.0}"#).unwrap();
        assert_eq!(p.max_yaw_deg, 5.0);
        assert_eq!(p.face_width_px, 207.0);
    }
}
