//! A stored in-app notification as people see it — the text in their language and a link to what it is about —
//! shared by the notification centre page, the JSON API and the live stream, so all three say the same thing.

use serde::Serialize;
use shenfen_store::Notification;
use utoipa::ToSchema;

use super::Template;
use crate::i18n::Lang;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    /// Event kind, e.g. `appointment_booked`.
    pub kind: String,
    /// The event's identity, e.g. `appointment:<id>:booked`: its first two segments name the subject (the
    /// appointment, the application …), which pages use to refresh the matching part of themselves.
    pub dedupe_key: String,
    /// The text in the caller's language (`sf_lang` cookie, then `Accept-Language`).
    pub text: String,
    /// Same-site path of the page about the subject, when there is one.
    pub href: Option<String>,
    /// UTC milliseconds.
    pub created_at: i64,
    pub read: bool,
}

impl NotificationView {
    pub fn of(n: &Notification, lang: Lang) -> NotificationView {
        // Stored variables were checked at enqueue; a row from a retired template still shows, untranslated.
        let text = Template::by_name(&n.template)
            .and_then(|t| serde_json::from_str(&n.vars).ok().and_then(|v| t.render(lang, &v).ok()))
            .unwrap_or_else(|| n.template.clone());
        NotificationView {
            id: n.id.clone(),
            kind: n.event_kind.clone(),
            dedupe_key: n.dedupe_key.clone(),
            text,
            href: subject_href(&n.dedupe_key),
            created_at: n.created_at,
            read: n.read_at.is_some(),
        }
    }
}

/// Where a notification leads, from its dedupe key: `appointment:<id>:…` to the appointment page,
/// `application:<id>:…` to the application page, `card:…:expiry:…` (expiry reminders) to starting a renewal.
/// Ids are checked to be plain (letters, digits, `-`), so a key can never produce a foreign or odd link.
pub fn subject_href(dedupe_key: &str) -> Option<String> {
    let mut parts = dedupe_key.split(':');
    let kind = parts.next()?;
    let id = parts.next().filter(|id| !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))?;
    match kind {
        "appointment" => Some(format!("/appointments/{id}")),
        "application" => Some(format!("/applications/{id}")),
        "card" => Some(crate::cards::renewal_path()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_link_only_to_known_pages_with_plain_ids() {
        assert_eq!(subject_href("appointment:0190a-b:booked").as_deref(), Some("/appointments/0190a-b"));
        assert_eq!(subject_href("application:42:accepted").as_deref(), Some("/applications/42"));
        assert_eq!(subject_href("card:c1:2027-01-01:expiry:90").as_deref(), Some("/applications/new?kind=renewal_expiry"));
        assert_eq!(subject_href("appointment:../x:booked"), None);
        assert_eq!(subject_href("appointment::booked"), None);
        assert_eq!(subject_href("twice-1"), None);
        assert_eq!(subject_href("payment:1:paid"), None);
    }
}
