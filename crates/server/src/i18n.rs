//! Language choice (Simplified Chinese by default, English on request) and the UI text catalogue.
//!
//! Page text is looked up by key in [`CATALOGUE`]; a test checks that every key a template uses exists.

use axum::http::HeaderMap;
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

pub const LANG_COOKIE: &str = "sf_lang";

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("en") {
            Some(Lang::En)
        } else if s.starts_with("zh") {
            Some(Lang::Zh)
        } else {
            None
        }
    }

    /// The `sf_lang` cookie wins (the person chose it), then `Accept-Language` in order of appearance.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        if let Some(v) = cookie_value(headers, LANG_COOKIE).and_then(|v| Lang::parse(&v)) {
            return v;
        }
        headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').find_map(|part| Lang::parse(part.split(';').next().unwrap_or(""))))
            .unwrap_or_default()
    }

    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// UI text for `key`. Unknown keys show the key itself (and fail the catalogue test).
    pub fn t(self, key: &str) -> &'static str {
        match CATALOGUE.binary_search_by(|(k, _, _)| k.cmp(&key)) {
            Ok(i) => self.pick(CATALOGUE[i].1, CATALOGUE[i].2),
            Err(_) => "⟦missing text⟧",
        }
    }
}

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// (key, zh-CN, en), sorted by key (checked by a test) for binary search.
pub static CATALOGUE: &[(&str, &str, &str)] = &[
    ("api.docs_intro", "以下接口供其他政务系统调用。所有接口返回 JSON，错误格式为 {\"error\":{\"code\",\"message\"}}。", "These endpoints serve other government systems. All return JSON; errors look like {\"error\":{\"code\",\"message\"}}."),
    ("api.docs_title", "开放接口文档", "API documentation"),
    ("common.back_home", "返回首页", "Back to home"),
    ("common.continue", "继续", "Continue"),
    ("common.error_summary", "请修改以下问题", "There is a problem"),
    ("common.skip", "跳到主要内容", "Skip to main content"),
    ("elder.off", "标准模式", "Standard mode"),
    ("elder.on", "长辈模式", "Elder-friendly mode"),
    ("error.title", "出错了", "Something went wrong"),
    ("footer.demo", "演示实例：数据均为虚构，短信不会真正发出。", "Demo instance: all data is fictitious and no SMS is really sent."),
    ("footer.org", "安徽省公安厅 居民身份证网上服务平台（示范）", "Resident ID card online services (model platform)"),
    ("footer.privacy", "个人信息保护", "Personal data protection"),
    ("home.lead", "手机上办身份证：预约不排队、缴费一键付、照片智能检测、进度实时推送、到期换领全程网办。", "Your ID card from your phone: no queue, one-tap payment, instant photo checks, live progress, and fully online renewal."),
    ("home.s1", "智能预约", "Smart appointments"),
    ("home.s1d", "查看附近户政窗口的实时排队情况，预约空闲时段，导航前往。", "See live load at nearby counters, book a quiet slot, navigate there."),
    ("home.s2", "智能缴费", "Fee payment"),
    ("home.s2d", "支付宝、微信、云闪付在线缴费，窗口扫码，无需绑定银行卡。", "Pay by Alipay, WeChat Pay or UnionPay online or by QR at the counter, no bank binding."),
    ("home.s3", "智能采像", "Portrait capture"),
    ("home.s3d", "手机拍照即时检测是否符合证件照标准，并告诉您如何改正。", "Check a phone photo against the ID photo standard at once and learn how to fix it."),
    ("home.s4", "进度反馈", "Progress updates"),
    ("home.s4d", "每个环节的进度通过应用和短信推送，证件到期前提醒。", "Every stage pushed to the app and by SMS; reminders before your card expires."),
    ("home.s5", "网上换领", "Online renewal"),
    ("home.s5d", "符合条件可全程网上申请、缴费，证件由邮政 EMS 送达。", "If eligible, apply and pay online; the card arrives by EMS."),
    ("home.s6", "制证进度", "Production tracking"),
    ("home.s6d", "每份申请按 15 个工作日目标跟踪，环节耗时一目了然。", "Every application tracked against a 15-working-day target."),
    ("home.soon", "即将开放", "Coming soon"),
    ("home.title", "居民身份证 网上办", "Resident ID card online"),
    ("me.change_phone", "更换绑定手机号", "Change phone number"),
    ("me.id_number", "身份证号", "ID number"),
    ("me.level", "实名认证", "Real-name verification"),
    ("me.level_intermediate", "中级实名认证（已核验人脸）", "Intermediate (face verified)"),
    ("me.level_none", "未认证", "Not verified"),
    ("me.level_primary", "初级实名认证", "Primary (name and ID number)"),
    ("me.name", "姓名", "Name"),
    ("me.phone", "手机号", "Phone"),
    ("me.sign_out", "退出登录", "Sign out"),
    ("me.title", "我的", "My account"),
    ("me.verify_face", "进行人脸核验（中级认证）", "Verify your face (intermediate)"),
    ("me.verify_primary", "进行实名认证", "Verify your identity"),
    ("nav.api", "开放接口", "API"),
    ("nav.home", "首页", "Home"),
    ("nav.me", "我的", "Me"),
    ("nav.sign_in", "登录", "Sign in"),
    ("nav.staff", "工作人员入口", "Staff"),
    ("outbox.empty", "暂无短信。", "No messages yet."),
    ("outbox.title", "短信发件箱（沙箱）", "SMS outbox (sandbox)"),
    ("phone.code_hint", "已向新号码发送验证码。", "We sent a code to the new number."),
    ("phone.done", "手机号已更换，原号码会收到变更通知。", "Your phone number has been changed; the old number was notified."),
    ("phone.id_hint", "为确认是您本人，请再次输入您的身份证号。", "To confirm it is you, enter your ID number again."),
    ("phone.new", "新手机号", "New phone number"),
    ("phone.title", "更换绑定手机号", "Change phone number"),
    ("sign_in.code", "短信验证码", "SMS code"),
    ("sign_in.code_hint", "6 位数字，5 分钟内有效。", "6 digits, valid for 5 minutes."),
    ("sign_in.code_sent", "验证码已发送至", "We sent a code to"),
    ("sign_in.lead", "使用手机号和短信验证码登录，首次登录将自动注册。", "Sign in with your mobile number and an SMS code; first sign-in creates your account."),
    ("sign_in.phone", "手机号码", "Mobile number"),
    ("sign_in.phone_hint", "中国大陆 11 位手机号", "11-digit mainland China mobile number"),
    ("sign_in.resend", "重新获取验证码", "Send a new code"),
    ("sign_in.send_code", "获取验证码", "Send code"),
    ("sign_in.submit", "登录", "Sign in"),
    ("sign_in.title", "登录", "Sign in"),
    ("staff.home_title", "工作台", "Workbench"),
    ("staff.password", "密码", "Password"),
    ("staff.role", "角色", "Role"),
    ("staff.scope", "管辖范围", "Scope"),
    ("staff.sign_in_title", "工作人员登录", "Staff sign-in"),
    ("staff.username", "用户名", "Username"),
    ("verify.face_file", "人脸照片", "Face photo"),
    ("verify.face_hint", "请正对镜头、摘下帽子和眼镜，在光线充足处拍摄本人正脸。", "Face the camera without hat or glasses, in good light."),
    ("verify.face_lead", "中级实名认证需要将您的现场人脸与公安人口信息中的照片比对。", "Intermediate verification compares a live photo of you with the portrait on record."),
    ("verify.face_title", "人脸核验", "Face verification"),
    ("verify.id_hint", "18 位居民身份证号码，末位可能是 X", "18-character resident ID number; the last may be X"),
    ("verify.lead", "初级实名认证：核对您的姓名和身份证号与公安人口信息一致。", "Primary verification: we check your name and ID number against the population registry."),
    ("verify.name_hint", "与身份证上的姓名一致", "As printed on your ID card"),
    ("verify.submit", "提交认证", "Verify"),
    ("verify.title", "实名认证", "Real-name verification"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_sorted_and_unique() {
        for w in CATALOGUE.windows(2) {
            assert!(w[0].0 < w[1].0, "catalogue out of order at {} / {}", w[0].0, w[1].0);
        }
    }

    #[test]
    fn every_template_key_exists() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for part in text.split("t(\"").skip(1) {
                let key = part.split('"').next().unwrap();
                assert!(CATALOGUE.iter().any(|(k, _, _)| *k == key), "missing UI text key {key:?}");
                checked += 1;
            }
        }
        assert!(checked > 20, "templates should use the catalogue");
    }

    #[test]
    fn language_from_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::Zh);
        h.insert(ACCEPT_LANGUAGE, "en-GB,en;q=0.9".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert(COOKIE, "a=b; sf_lang=zh-CN".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::Zh);
    }
}
