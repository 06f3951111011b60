//! `/privacy`: what the platform keeps about a citizen and for how long, from the retention settings in force
//! (`crate::retention`), in plain language.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use super::{PageCtx, render};
use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/privacy", get(privacy))
}

struct Row {
    what: &'static str,
    kept: String,
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct PrivacyPage<'a> {
    p: &'a PageCtx,
    rows: Vec<Row>,
}

async fn privacy(State(state): State<AppState>, p: PageCtx) -> Response {
    let c = &state.config.retention;
    let days = |n: u32, after: &str| format!("{after}{n}{}", p.t("privacy.days"));
    let rows = vec![
        Row { what: p.t("privacy.account"), kept: p.t("privacy.account_kept").to_string() },
        Row { what: p.t("privacy.sms_codes"), kept: days(c.sms_code_days, p.t("privacy.after_expiry")) },
        Row { what: p.t("privacy.sessions"), kept: days(c.session_days, p.t("privacy.after_expiry")) },
        Row { what: p.t("privacy.rate_limits"), kept: days(c.rate_limit_days, "") },
        Row { what: p.t("privacy.notifications"), kept: days(c.notification_days, "") },
        Row { what: p.t("privacy.rejected_photos"), kept: days(c.rejected_photo_days, p.t("privacy.after_end")) },
        Row { what: p.t("privacy.applications"), kept: format!("{}{}{}", p.t("privacy.after_finish"), c.closed_application_years, p.t("privacy.years")) },
        Row { what: p.t("privacy.payments"), kept: p.t("privacy.payments_kept").to_string() },
        Row { what: p.t("privacy.audit"), kept: format!("{}{}", c.audit_log_years, p.t("privacy.years")) },
    ];
    render(&PrivacyPage { p: &p, rows })
}
