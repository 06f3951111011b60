//! Message templates per event kind, in Simplified Chinese (SMS and in-app) and English (in-app), with named
//! `{variables}`. The SMS sign name (`【居民身份证服务】`) is not part of a template: providers add the approved
//! signature themselves, and the outbox/sandbox prepend it.

use std::collections::BTreeMap;

use crate::error::AppError;
use crate::i18n::Lang;

pub const SIGN_NAME: &str = "居民身份证服务";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    AppointmentBooked,
    AppointmentRescheduled,
    AppointmentCancelled,
    AppointmentReminder,
    AppointmentClosure,
    /// An application moved to a stage the citizen should know of (submitted, under review, in production …).
    ApplicationUpdate,
    /// Returned for correction: what to fix.
    ApplicationReturned,
    /// Approved: pay within the window.
    ApplicationApproved,
    /// The card left by EMS.
    ApplicationDispatched,
    /// The citizen's card expires within a reminder window (`days`: 90, then 30 by default).
    ExpiryReminder,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Template {
    pub name: &'static str,
    /// Urgent messages ignore quiet hours (they answer something the citizen just did, or cancel their plans).
    pub urgent: bool,
    /// Every variable the template needs, in the order positional providers (Tencent) receive them.
    pub vars: &'static [&'static str],
    pub zh: &'static str,
    pub en: &'static str,
}

pub const TEMPLATES: &[Template] = &[
    Template {
        name: "appointment_booked",
        urgent: true,
        vars: &["point", "day", "time", "service", "code"],
        zh: "您已预约{point}{day} {time}的{service},预约码{code}。请按时前往，凭预约码取号。",
        en: "You have booked {service} at {point} on {day} {time}; appointment code {code}. Please arrive on time and take a number with the code.",
    },
    Template {
        name: "appointment_rescheduled",
        urgent: true,
        vars: &["point", "day", "time", "code"],
        zh: "您的预约已改至{point}{day} {time},预约码{code}。",
        en: "Your appointment has moved to {point} on {day} {time}; appointment code {code}.",
    },
    Template {
        name: "appointment_cancelled",
        urgent: true,
        vars: &["day", "time"],
        zh: "您{day} {time}的预约已取消。",
        en: "Your appointment on {day} {time} has been cancelled.",
    },
    Template {
        name: "appointment_reminder",
        urgent: false,
        vars: &["day", "time", "point", "code"],
        zh: "提醒：您预约了明天{day} {time}在{point}办理业务，预约码{code}。如不能前往，请提前取消。",
        en: "Reminder: your appointment is tomorrow, {day} {time}, at {point}; code {code}. If you cannot come, please cancel in advance.",
    },
    Template {
        name: "appointment_closure",
        urgent: true,
        vars: &["reason", "point", "day", "code"],
        zh: "因{reason}，{point}{day}暂停办理，您的预约（{code}）已取消，不计入取消次数。请重新预约或选择附近其他受理点。",
        en: "Because of {reason}, {point} is closed on {day}. Your appointment ({code}) has been cancelled and does not count against your cancellations. Please book again or choose another point nearby.",
    },
    Template {
        name: "application_update",
        urgent: true,
        vars: &["ref", "status", "next"],
        zh: "您的居民身份证申请（{ref}）当前状态：{status}。{next}",
        en: "Your ID card application ({ref}) is now: {status}. {next}",
    },
    Template {
        name: "application_returned",
        urgent: true,
        vars: &["ref", "reasons"],
        zh: "您的居民身份证申请（{ref}）需要补正：{reasons}。请登录修改后重新提交。",
        en: "Your ID card application ({ref}) needs correction: {reasons}. Please sign in, correct it and submit again.",
    },
    Template {
        name: "application_approved",
        urgent: true,
        vars: &["ref", "amount", "deadline"],
        zh: "您的居民身份证申请（{ref}）已审核通过，请于{deadline}前缴费{amount}元，逾期申请将自动取消。",
        en: "Your ID card application ({ref}) is approved. Please pay {amount} yuan before {deadline}; otherwise the application is cancelled.",
    },
    Template {
        name: "application_dispatched",
        urgent: true,
        vars: &["ref", "tracking"],
        zh: "您的居民身份证（{ref}）已由EMS寄出，邮件号{tracking}。签收时需人脸核验本人。",
        en: "Your ID card ({ref}) has been sent by EMS, tracking number {tracking}. Face verification is needed when you receive it.",
    },
    Template {
        name: "expiry_reminder",
        urgent: false,
        vars: &["expires_on", "days", "link"],
        zh: "您的居民身份证有效期至{expires_on}，将在{days}天内到期。请及时换领，可在线申请：{link}",
        en: "Your resident ID card is valid until {expires_on} and expires within {days} days. Please renew it in time; you can apply online: {link}",
    },
];

impl EventKind {
    pub fn template(self) -> &'static Template {
        let name = match self {
            EventKind::AppointmentBooked => "appointment_booked",
            EventKind::AppointmentRescheduled => "appointment_rescheduled",
            EventKind::AppointmentCancelled => "appointment_cancelled",
            EventKind::AppointmentReminder => "appointment_reminder",
            EventKind::AppointmentClosure => "appointment_closure",
            EventKind::ApplicationUpdate => "application_update",
            EventKind::ApplicationReturned => "application_returned",
            EventKind::ApplicationApproved => "application_approved",
            EventKind::ApplicationDispatched => "application_dispatched",
            EventKind::ExpiryReminder => "expiry_reminder",
        };
        Template::by_name(name).unwrap_or_else(|| unreachable!("every event kind has a template (checked by a test)"))
    }
}

impl Template {
    pub fn by_name(name: &str) -> Option<&'static Template> {
        TEMPLATES.iter().find(|t| t.name == name)
    }

    /// Exactly the declared variables, each non-empty: anything else is a programming error caught at enqueue.
    pub fn check_vars(&self, vars: &BTreeMap<String, String>) -> Result<(), AppError> {
        let missing: Vec<&str> = self.vars.iter().copied().filter(|v| vars.get(*v).is_none_or(|x| x.trim().is_empty())).collect();
        let unknown: Vec<&str> = vars.keys().map(String::as_str).filter(|k| !self.vars.contains(k)).collect();
        if missing.is_empty() && unknown.is_empty() {
            return Ok(());
        }
        tracing::error!(template = self.name, ?missing, ?unknown, "notification variables do not match the template");
        Err(AppError::invalid(
            "template_vars",
            format!("通知模板 {} 的变量不匹配（缺少：{}；多余：{}）。", self.name, missing.join(","), unknown.join(",")),
            format!("Variables of notification template {} do not match (missing: {}; unknown: {}).", self.name, missing.join(","), unknown.join(",")),
        ))
    }

    pub fn render(&self, lang: Lang, vars: &BTreeMap<String, String>) -> Result<String, AppError> {
        self.check_vars(vars)?;
        let mut out = match lang {
            Lang::Zh => self.zh.to_string(),
            Lang::En => self.en.to_string(),
        };
        for (k, v) in vars {
            out = out.replace(&format!("{{{k}}}"), v);
        }
        Ok(out)
    }

    /// The SMS as the handset shows it: sign name, then the Chinese text.
    pub fn sms_text(&self, vars: &BTreeMap<String, String>) -> Result<String, AppError> {
        Ok(format!("【{SIGN_NAME}】{}", self.render(Lang::Zh, vars)?))
    }

    /// Variables in declared order (Tencent's `TemplateParamSet` is positional).
    pub fn positional(&self, vars: &BTreeMap<String, String>) -> Vec<String> {
        self.vars.iter().map(|v| vars.get(*v).cloned().unwrap_or_default()).collect()
    }
}

/// Builds a variable map from pairs.
pub fn vars<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_template_whose_texts_use_exactly_its_vars() {
        for kind in [
            EventKind::AppointmentBooked,
            EventKind::AppointmentRescheduled,
            EventKind::AppointmentCancelled,
            EventKind::AppointmentReminder,
            EventKind::AppointmentClosure,
            EventKind::ApplicationUpdate,
            EventKind::ApplicationReturned,
            EventKind::ApplicationApproved,
            EventKind::ApplicationDispatched,
            EventKind::ExpiryReminder,
        ] {
            let t = kind.template();
            let vars: BTreeMap<String, String> = t.vars.iter().map(|v| (v.to_string(), format!("<{v}>"))).collect();
            for lang in [Lang::Zh, Lang::En] {
                let text = t.render(lang, &vars).unwrap();
                assert!(!text.contains('{') && !text.contains('}'), "{} {lang:?} left a placeholder: {text}", t.name);
                for v in t.vars {
                    assert!(text.contains(&format!("<{v}>")), "{} {lang:?} does not use {v}", t.name);
                }
            }
        }
    }

    #[test]
    fn missing_or_unknown_vars_are_refused() {
        let t = EventKind::AppointmentCancelled.template();
        assert_eq!(t.render(Lang::Zh, &vars([("day", "2026-12-01".into())])).unwrap_err().code, "template_vars");
        assert_eq!(t.render(Lang::Zh, &vars([("day", "d".into()), ("time", "".into())])).unwrap_err().code, "template_vars");
        assert_eq!(t.render(Lang::Zh, &vars([("day", "d".into()), ("time", "t".into()), ("x", "y".into())])).unwrap_err().code, "template_vars");
        assert_eq!(t.sms_text(&vars([("day", "2026-12-01".into()), ("time", "09:00".into())])).unwrap(), "【居民身份证服务】您2026-12-01 09:00的预约已取消。");
    }
}
