//! The audit-log viewer's rules: who may read the log, filters parsed from a query string, keyset pages, CSV export
//! and the integrity indicator (the hash-chain verification of `shenfen audit verify`, cached briefly per
//! instance because it reads the whole log). Pages and API both call these.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use shenfen_store::audit::{ChainBreak, Verified};
use shenfen_store::{AuditEntry, AuditFilter, Role, ScopeKind, Staff};

use crate::app::AppState;
use crate::error::{AppError, AppResult};

pub const PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;
/// The most rows one CSV export carries (a narrower filter gets the rest).
pub const MAX_EXPORT_ROWS: usize = 100_000;
const INTEGRITY_TTL: Duration = Duration::from_secs(60);
const CST_SECS: i64 = 8 * 3600;

/// The audit log spans every district, so only province-level administrators read it.
pub fn require_reader(staff: &Staff) -> AppResult<()> {
    if staff.role == Role::Admin && staff.scope.kind == ScopeKind::Province {
        Ok(())
    } else {
        Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            "审计日志仅供省级系统管理员查阅。",
            "Only province-level administrators may read the audit log.",
        ))
    }
}

/// The filters as typed (query string of the page, the API and the export alike).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Actor id, exactly (a staff or citizen id, `cli:<user>`).
    pub actor: Option<String>,
    /// Action prefix, e.g. `staff.` or `staff.sign_in_failed`.
    pub action: Option<String>,
    /// Target prefix, e.g. `staff:` or `citizen:<id>`.
    pub target: Option<String>,
    /// First day, `YYYY-MM-DD` (China time), inclusive.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (China time), inclusive.
    pub to: Option<String>,
    /// Show entries before this sequence number (the previous page's `next_before`).
    pub before: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<String>,
}

fn text_filter(v: &Option<String>, field: &'static str) -> AppResult<Option<String>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.chars().count() > 128 || s.chars().any(char::is_control) => {
            Err(AppError::invalid("audit_filter_invalid", "筛选条件过长或包含非法字符。", "A filter is too long or contains control characters.").on_field(field))
        }
        Some(s) => Ok(Some(s.to_string())),
    }
}

/// UTC ms of 00:00 China time on a `YYYY-MM-DD` day.
fn day_start_ms(day: &str, field: &'static str) -> AppResult<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(day.trim(), &fmt)
        .map_err(|_| AppError::invalid("audit_filter_invalid", "日期格式应为 YYYY-MM-DD。", "Dates are YYYY-MM-DD.").on_field(field))?;
    Ok((d.midnight().assume_utc().unix_timestamp() - CST_SECS) * 1000)
}

impl AuditQuery {
    pub fn filter(&self) -> AppResult<AuditFilter> {
        let from = match self.from.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(d) => Some(day_start_ms(d, "from")?),
            None => None,
        };
        let to = match self.to.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(d) => Some(day_start_ms(d, "to")? + 86_400_000),
            None => None,
        };
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(AppError::invalid("audit_filter_invalid", "开始日期不能晚于结束日期。", "The first day must not be after the last day.").on_field("from"));
        }
        Ok(AuditFilter { actor_id: text_filter(&self.actor, "actor")?, action: text_filter(&self.action, "action")?, target: text_filter(&self.target, "target")?, from, to })
    }

    pub fn page_size(&self) -> AppResult<u32> {
        match self.limit.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(PAGE_SIZE),
            Some(n) => n
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| AppError::invalid("audit_filter_invalid", "每页条数应为 1–500。", "limit must be 1–500.").on_field("limit")),
        }
    }

    pub fn before_seq(&self) -> AppResult<Option<i64>> {
        match self.before.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(b) => b
                .parse::<i64>()
                .ok()
                .filter(|b| *b > 0)
                .map(Some)
                .ok_or_else(|| AppError::invalid("audit_filter_invalid", "分页参数无效。", "before must be a positive sequence number.").on_field("before")),
        }
    }

    /// The query string for the same filters (links to the next page and to the export).
    pub fn query_string(&self, before: Option<i64>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (k, v) in [("actor", &self.actor), ("action", &self.action), ("target", &self.target), ("from", &self.from), ("to", &self.to)] {
            if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                pairs.push((k, v.to_string()));
            }
        }
        if let Some(b) = before {
            pairs.push(("before", b.to_string()));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

/// One page, newest first, and the cursor of the next (older) page if there is one.
pub async fn page(state: &AppState, q: &AuditQuery) -> AppResult<(Vec<AuditEntry>, Option<i64>)> {
    let filter = q.filter()?;
    let limit = q.page_size()?;
    let mut rows = state.store.audit_search(&filter, q.before_seq()?, limit + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(|e| e.seq) } else { None };
    Ok((rows, next))
}

/// China time, `YYYY-MM-DD HH:MM:SS`.
pub fn format_time(ms: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000) + CST_SECS).ok().and_then(|t| t.format(&fmt).ok()).unwrap_or_default()
}

/// One CSV field (RFC 4180), defused against spreadsheet formula injection: a cell starting with `= + - @` or a
/// control character gets a leading apostrophe.
fn csv_field(out: &mut String, v: &str) {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{v}") } else { v.to_string() };
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&v);
    }
}

pub const CSV_HEADER: &str = "seq,time_cst,actor_kind,actor_id,action,target,source_ip,detail,hash\r\n";

pub fn csv_row(e: &AuditEntry) -> String {
    let mut line = String::new();
    let r = &e.record;
    let fields = [e.seq.to_string(), format_time(r.at), r.actor_kind.as_str().to_string(), r.actor_id.clone(), r.action.clone(), r.target.clone(), r.source_ip.clone(), r.detail.clone(), e.hash.clone()];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        csv_field(&mut line, f);
    }
    line.push_str("\r\n");
    line
}

/// Every entry matching the filter, newest first, as CSV (UTF-8 with BOM so spreadsheet software reads Chinese
/// text). Returns the text and whether it stopped at [`MAX_EXPORT_ROWS`].
pub async fn export_csv(state: &AppState, q: &AuditQuery) -> AppResult<(String, usize, bool)> {
    let filter = q.filter()?;
    let mut out = String::from("\u{feff}");
    out.push_str(CSV_HEADER);
    let mut before = q.before_seq()?;
    let mut n = 0;
    loop {
        let rows = state.store.audit_search(&filter, before, 5_000).await?;
        let Some(last) = rows.last() else { return Ok((out, n, false)) };
        before = Some(last.seq);
        for e in &rows {
            if n == MAX_EXPORT_ROWS {
                return Ok((out, n, true));
            }
            out.push_str(&csv_row(e));
            n += 1;
        }
    }
}

/// The CSV download (page and API alike); the export itself is audited.
pub async fn export_response(state: &AppState, actor: &crate::app::Actor, q: &AuditQuery) -> AppResult<axum::response::Response> {
    use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
    use axum::response::IntoResponse;
    let (csv, rows, truncated) = export_csv(state, q).await?;
    state.audit(actor, "audit.export", "audit_log", serde_json::json!({ "filter": q.query_string(None), "rows": rows, "truncated": truncated })).await?;
    let name = format!("audit-{}.csv", format_time(state.now_ms()).replace([' ', ':'], "-"));
    let mut res = ([(CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))], csv).into_response();
    if truncated {
        res.headers_mut().insert("x-shenfen-truncated", axum::http::HeaderValue::from_static("1"));
    }
    Ok(res)
}

/// The integrity indicator's answer.
#[derive(Debug, Clone)]
pub struct Integrity {
    pub result: Result<Verified, String>,
    /// When this answer was computed (it is reused for a minute).
    pub checked_at_ms: i64,
}

type Cache = Mutex<Vec<(usize, Instant, Integrity)>>;
static CACHE: std::sync::LazyLock<Cache> = std::sync::LazyLock::new(|| Mutex::new(Vec::new()));

/// Verifies the whole chain (or reuses this instance's answer from the last minute unless `fresh`).
pub async fn integrity(state: &AppState, fresh: bool) -> AppResult<Integrity> {
    // Keyed by the store, so several app states in one process (tests) do not share answers.
    let key = std::sync::Arc::as_ptr(&state.store) as *const () as usize;
    let cached = CACHE.lock().map_err(|_| AppError::internal())?.iter().find(|(k, at, _)| *k == key && at.elapsed() < INTEGRITY_TTL).map(|(_, _, hit)| hit.clone());
    if let Some(hit) = cached.filter(|_| !fresh) {
        return Ok(hit);
    }
    let result = shenfen_store::audit::verify_store(state.store.as_ref()).await?.map_err(|b: ChainBreak| b.to_string());
    if let Err(e) = &result {
        tracing::error!(error = %e, "AUDIT LOG INTEGRITY CHECK FAILED");
    }
    let answer = Integrity { result, checked_at_ms: state.now_ms() };
    let mut cache = CACHE.lock().map_err(|_| AppError::internal())?;
    cache.retain(|(k, at, _)| *k != key && at.elapsed() < INTEGRITY_TTL);
    cache.push((key, Instant::now(), answer.clone()));
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shenfen_store::{ActorKind, AuditRecord};

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let e = AuditEntry {
            seq: 7,
            record: AuditRecord {
                at: 1_767_196_800_000,
                actor_kind: ActorKind::Staff,
                actor_id: "=cmd|' /C calc'!A0".into(),
                action: "staff.create".into(),
                target: "staff:x".into(),
                source_ip: "10.0.0.1".into(),
                detail: "{\"a\":\"b,c\"}".into(),
            },
            prev_hash: String::new(),
            hash: "h".into(),
        };
        assert_eq!(csv_row(&e), "7,2026-01-01 00:00:00,staff,'=cmd|' /C calc'!A0,staff.create,staff:x,10.0.0.1,\"{\"\"a\"\":\"\"b,c\"\"}\",h\r\n");
    }

    #[test]
    fn filters_parse_days_in_china_time() {
        let q = AuditQuery { from: Some("2026-01-01".into()), to: Some("2026-01-01".into()), action: Some(" staff. ".into()), ..Default::default() };
        let f = q.filter().unwrap();
        assert_eq!(f.from, Some(1_767_196_800_000));
        assert_eq!(f.to, Some(1_767_196_800_000 + 86_400_000));
        assert_eq!(f.action.as_deref(), Some("staff."));
        assert_eq!(AuditQuery { from: Some("2026-13-01".into()), ..Default::default() }.filter().unwrap_err().code, "audit_filter_invalid");
        assert_eq!(AuditQuery { from: Some("2026-01-02".into()), to: Some("2026-01-01".into()), ..Default::default() }.filter().unwrap_err().code, "audit_filter_invalid");
        assert_eq!(AuditQuery { before: Some("x".into()), ..Default::default() }.before_seq().unwrap_err().code, "audit_filter_invalid");
        assert_eq!(AuditQuery { limit: Some("0".into()), ..Default::default() }.page_size().unwrap_err().code, "audit_filter_invalid");
        assert_eq!(AuditQuery { action: Some("x".repeat(129)), ..Default::default() }.filter().unwrap_err().code, "audit_filter_invalid");
    }
}
