//! Service statistics as JSON or CSV (rules in `crate::stats`).

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorBody;
use crate::app::AppState;
use crate::auth::StaffUser;
use crate::error::AppResult;
use crate::i18n::Lang;
use crate::stats::{self, Format, Report};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stats_json)).routes(routes!(stats_csv))
}

/// The query (documentation only: the handler parses the raw query to refuse unknown and repeated parameters).
#[derive(Deserialize, IntoParams)]
#[allow(dead_code)]
pub struct StatsParams {
    /// `day` (default) or `month`.
    pub period: Option<String>,
    /// First day, `YYYY-MM-DD` (or `YYYY-MM`: its first day). Default: 30 days or 12 months before `to`.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (or `YYYY-MM`: its last day), not after today. Default: today (China time).
    pub to: Option<String>,
    /// Rows per `province`, `city`, `district` or `point`, not above the area. Default: a province and a city per
    /// district, a district and a point per point.
    pub level: Option<String>,
    /// The area: division code (`34`/`340000`, `340100`, `340104`) or acceptance-point id, within your scope.
    /// Default: your whole scope.
    pub code: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

async fn answer(state: &AppState, staff: StaffUser, headers: &HeaderMap, query: Option<&str>, format: Option<Format>) -> AppResult<Response> {
    let StaffUser(staff, user) = staff;
    let lang = Lang::from_headers(headers);
    let raw = stats::parse_params(query)?;
    let req = stats::resolve(state, &staff, &raw, format).await?;
    let report = stats::report(state, &req, lang).await?;
    Ok(match req.format {
        Format::Json => ([(CACHE_CONTROL, "no-store")], Json(report)).into_response(),
        Format::Csv => {
            stats::audit_export(state, &user.actor(), &req).await?;
            csv_response(&stats::csv(&report), &stats::csv_file_name(&req))
        }
    })
}

/// A CSV download.
pub fn csv_response(body: &str, file_name: &str) -> Response {
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")),
            (CACHE_CONTROL, "no-store".to_string()),
        ],
        body.to_string(),
    )
        .into_response()
}

/// Service statistics in my scope: share of transactions booked or done online, share of fees collected by smart
/// channels, online applications accepted, registered users, the cycle in working days (mean, p90) and the trips
/// and time saved (estimates under the configured assumptions), per day or month and per province, city, district
/// or acceptance point. `format=csv` gives the CSV export. Administrators and supervising roles only; a district's
/// staff see their district, a point's staff their point (403 `stats_out_of_scope` otherwise). Bad parameters are
/// 422 with `stats_period_invalid`, `stats_date_invalid`, `stats_date_future`, `stats_range_invalid`,
/// `stats_range_too_long`, `stats_level_invalid`, `stats_level_above_area`, `stats_code_invalid`,
/// `stats_format_invalid`, `stats_param_unknown`, `stats_param_repeated`, `stats_param_too_long`,
/// `stats_query_invalid` or `stats_query_too_long`.
#[utoipa::path(get, path = "/api/v1/stats", tag = "stats", security(("bearer" = [])), params(StatsParams),
    responses((status = 200, body = Report), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn stats_json(State(state): State<AppState>, staff: StaffUser, headers: HeaderMap, RawQuery(query): RawQuery) -> AppResult<Response> {
    answer(&state, staff, &headers, query.as_deref(), None).await
}

/// The same statistics as CSV: one row per period and unit with any activity (UTF-8 with a byte-order mark;
/// column names in `crate::stats::CSV_COLUMNS`). Each export is recorded in the audit log.
#[utoipa::path(get, path = "/api/v1/stats.csv", tag = "stats", security(("bearer" = [])), params(StatsParams),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn stats_csv(State(state): State<AppState>, staff: StaffUser, headers: HeaderMap, RawQuery(query): RawQuery) -> AppResult<Response> {
    answer(&state, staff, &headers, query.as_deref(), Some(Format::Csv)).await
}
