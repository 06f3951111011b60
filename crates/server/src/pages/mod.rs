//! Server-rendered pages (askama). Every page works without JavaScript; forms post back and re-render with an
//! error summary; text comes from the catalogue in `i18n.rs` in the reader's language.

mod account;
mod applications;
mod appointments;
mod finance;
mod notifications;
mod payments;
mod point_admin;
mod people;
mod privacy;
mod staff;
mod staff_admin;
mod stats;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::app::{AppState, CsrfCookie};
use crate::auth::{MaybeUser, Principal};
use crate::error::AppError;
use crate::i18n::{LANG_COOKIE, Lang, cookie_value};

pub const ELDER_COOKIE: &str = "sf_elder";

/// What every page template needs: language, CSRF token, modes, who is signed in.
#[derive(Clone, Debug)]
pub struct PageCtx {
    pub lang: Lang,
    pub csrf: String,
    pub demo: bool,
    pub elder: bool,
    pub path: String,
    pub user_label: Option<String>,
    pub is_staff: bool,
    /// A signed-in citizen's unread notifications (the badge in the tab bar); `None` for everyone else.
    pub unread: Option<i64>,
    /// When the page was rendered (UTC ms): the live stream replays what arrived after it.
    pub rendered_at: i64,
}

impl PageCtx {
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// Built without touching the database, for error pages.
    pub fn from_request_parts_sync(state: &AppState, req: &axum::extract::Request) -> PageCtx {
        let csrf = req.extensions().get::<CsrfCookie>().map(|c| state.keys.csrf_token(&c.0)).unwrap_or_default();
        PageCtx {
            lang: Lang::from_headers(req.headers()),
            csrf,
            demo: state.config.demo,
            elder: cookie_value(req.headers(), ELDER_COOKIE).as_deref() == Some("1"),
            path: req.uri().path().to_string(),
            user_label: None,
            is_staff: false,
            unread: None,
            rendered_at: state.now_ms(),
        }
    }

    /// A signed-in citizen: the pages show the notification badge and open the live stream.
    pub fn is_citizen(&self) -> bool {
        self.unread.is_some()
    }

    pub fn unread_count(&self) -> i64 {
        self.unread.unwrap_or_default()
    }

    pub fn switch_lang_href(&self) -> String {
        let to = if self.lang == Lang::Zh { "en" } else { "zh-CN" };
        format!("/lang/{to}?back={}", urlencode(&self.path))
    }

    pub fn switch_lang_label(&self) -> &'static str {
        if self.lang == Lang::Zh { "English" } else { "中文" }
    }

    pub fn switch_lang_code(&self) -> &'static str {
        if self.lang == Lang::Zh { "en" } else { "zh-CN" }
    }

    pub fn elder_href(&self) -> String {
        format!("/elder/{}?back={}", if self.elder { "off" } else { "on" }, urlencode(&self.path))
    }
}

impl FromRequestParts<AppState> for PageCtx {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = MaybeUser::from_request_parts(parts, state).await?;
        let csrf = parts.extensions.get::<CsrfCookie>().map(|c| state.keys.csrf_token(&c.0)).unwrap_or_default();
        let (user_label, is_staff) = match &user.principal {
            Some(Principal::Citizen(c)) => (Some(shenfen_domain::MobileNumber::parse(&c.phone).map(|p| p.masked()).unwrap_or_default()), false),
            Some(Principal::Staff(s)) => (Some(s.display_name.clone()), true),
            None => (None, false),
        };
        let unread = match &user.principal {
            Some(Principal::Citizen(c)) => Some(state.store.unread_count(&c.id).await?),
            _ => None,
        };
        Ok(PageCtx {
            lang: Lang::from_headers(&parts.headers),
            csrf,
            demo: state.config.demo,
            elder: cookie_value(&parts.headers, ELDER_COOKIE).as_deref() == Some("1"),
            path: parts.uri.path().to_string(),
            user_label,
            is_staff,
            unread,
            rendered_at: state.now_ms(),
        })
    }
}

/// The signed-in citizen, or what to answer instead: staff are refused, and a visitor is sent to sign in and
/// brought back to `back` afterwards.
pub(super) fn require_citizen(user: &MaybeUser, back: &str) -> Result<shenfen_store::Citizen, Response> {
    match &user.principal {
        Some(Principal::Citizen(c)) => Ok(c.clone()),
        Some(Principal::Staff(_)) => Err(AppError::forbidden().into_response()),
        None => Err(Redirect::to(&format!("/sign-in?next={}", urlencode(back))).into_response()),
    }
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).map(|v| v.trim_start_matches('=').to_string()).unwrap_or_default()
}

/// One problem with a form, linked to its field from the error summary.
#[derive(Clone, Debug)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn from_app(e: &AppError, lang: Lang, default_field: &'static str) -> FieldError {
        FieldError { field: e.field.unwrap_or(default_field), message: e.message(lang).to_string() }
    }
}

/// A QR code as inline SVG with an accessible label (appointment codes, receipt verification links).
pub fn qr_svg(code: &str, label: &str) -> String {
    match qrcode::QrCode::new(code.as_bytes()) {
        Ok(qr) => {
            let svg = qr.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).dark_color(qrcode::render::svg::Color("#000")).light_color(qrcode::render::svg::Color("#fff")).build();
            let svg = svg.find("<svg").map(|i| &svg[i..]).unwrap_or(&svg);
            // `label` is catalogue text plus an alphanumeric code: nothing to escape, but be safe anyway.
            let label: String = label.chars().filter(|c| !matches!(c, '<' | '>' | '"' | '&')).collect();
            svg.replacen("<svg ", &format!("<svg class=\"qr\" role=\"img\" aria-label=\"{label}\" "), 1)
        }
        Err(_) => String::new(),
    }
}

pub fn render<T: Template>(t: &T) -> Response {
    render_status(StatusCode::OK, t)
}

pub fn render_status<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, [(CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            AppError::internal().into_response()
        }
    }
}

pub fn router(_state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/lang/{code}", get(set_lang))
        .route("/elder/{mode}", get(set_elder))
        .route("/static/app.css", get(|| async { ([(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")], include_str!("../../static/app.css")) }))
        .route("/dev/outbox", get(outbox))
        .merge(account::router())
        .merge(staff::router())
        .merge(staff_admin::router())
        .merge(people::router())
        .merge(appointments::router())
        .merge(point_admin::router())
        .merge(payments::router())
        .merge(applications::router())
        .merge(finance::router())
        .merge(notifications::router())
        .merge(privacy::router())
        .merge(stats::router())
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    p: &'a PageCtx,
}

async fn home(p: PageCtx) -> Response {
    render(&HomePage { p: &p })
}

#[derive(Deserialize)]
struct BackQuery {
    back: Option<String>,
}

/// Only same-site paths: never an open redirect.
pub fn safe_back(back: Option<&str>) -> String {
    match back {
        Some(b) if b.starts_with('/') && !b.starts_with("//") && !b.contains('\\') && b.len() < 512 => b.to_string(),
        _ => "/".to_string(),
    }
}

fn with_cookie(mut res: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(SET_COOKIE, v);
    }
    res
}

async fn set_lang(axum::extract::Path(code): axum::extract::Path<String>, Query(q): Query<BackQuery>) -> Response {
    let lang = Lang::parse(&code).unwrap_or_default();
    let res = Redirect::to(&safe_back(q.back.as_deref())).into_response();
    with_cookie(res, format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax", lang.code()))
}

async fn set_elder(axum::extract::Path(mode): axum::extract::Path<String>, Query(q): Query<BackQuery>) -> Response {
    let on = mode == "on";
    let res = Redirect::to(&safe_back(q.back.as_deref())).into_response();
    with_cookie(res, format!("{ELDER_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax", if on { "1" } else { "0" }))
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    p: &'a PageCtx,
    status: u16,
    code: &'a str,
    message: &'a str,
}

pub fn error_page(p: &PageCtx, e: &AppError) -> String {
    ErrorPage { p, status: e.status.as_u16(), code: e.code, message: e.message(p.lang) }
        .render()
        .unwrap_or_else(|_| "<!doctype html><title>Error</title><p>Error</p>".into())
}

pub struct OutboxRow {
    pub phone_masked: String,
    pub body: String,
    pub at: String,
    /// The delivery status (CSS modifier, label) of a queued notification; empty for messages sent outside the
    /// queue (sign-in codes).
    pub delivery: Option<(&'static str, String)>,
}

/// How the outbox states a message's delivery: the receipt's verdict, or that it is still awaited.
fn delivery_label(p: &PageCtx, status: shenfen_store::NotificationStatus) -> (&'static str, String) {
    use shenfen_store::NotificationStatus as S;
    let (class, key) = match status {
        S::Delivered => ("delivered", "outbox.delivered"),
        S::PermanentFailure | S::TemporaryFailure | S::TechnicalFailure => ("failed", "outbox.failed"),
        S::Created | S::Sending | S::Sent => ("awaiting", "outbox.awaiting"),
    };
    (class, p.t(key).to_string())
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage<'a> {
    p: &'a PageCtx,
    rows: Vec<OutboxRow>,
}

#[derive(Deserialize)]
struct OutboxQuery {
    phone: Option<String>,
}

/// The sandbox SMS gateway's outbox. Exists only in demo mode.
async fn outbox(State(state): State<AppState>, p: PageCtx, Query(q): Query<OutboxQuery>) -> Result<Response, AppError> {
    if !state.config.demo {
        return Err(AppError::not_found());
    }
    let phone = match q.phone.as_deref().filter(|s| !s.is_empty()) {
        Some(raw) => Some(shenfen_domain::MobileNumber::parse(raw)?.as_str().to_string()),
        None => None,
    };
    let rows = state
        .store
        .outbox_with_delivery(phone.as_deref(), 50)
        .await?
        .into_iter()
        .map(|(m, delivery)| OutboxRow {
            phone_masked: shenfen_domain::MobileNumber::parse(&m.phone).map(|p| p.masked()).unwrap_or_default(),
            body: m.body,
            at: format_cst(m.created_at),
            delivery: delivery.map(|d| delivery_label(&p, d)),
        })
        .collect();
    Ok(render(&OutboxPage { p: &p, rows }))
}

/// UTC ms as "YYYY-MM-DD HH:MM:SS" in China Standard Time.
pub fn format_cst(ms: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .map(|t| t.to_offset(time::macros::offset!(+8)))
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

pub struct ApiOperation {
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    pub auth: bool,
    pub responses: String,
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct ApiDocsPage<'a> {
    p: &'a PageCtx,
    ops: Vec<ApiOperation>,
}

/// A browsable rendering of the generated OpenAPI document (no JavaScript, nothing fetched from elsewhere).
pub fn api_docs(p: &PageCtx, doc: &utoipa::openapi::OpenApi) -> Response {
    let json = serde_json::to_value(doc).unwrap_or_default();
    let mut ops = Vec::new();
    if let Some(paths) = json.get("paths").and_then(|v| v.as_object()) {
        for (path, item) in paths {
            let Some(item) = item.as_object() else { continue };
            for (method, op) in item {
                let text = |k: &str| op.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
                let responses = op.get("responses").and_then(|r| r.as_object()).map(|r| r.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default();
                ops.push(ApiOperation {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    summary: text("summary"),
                    description: text("description"),
                    auth: op.get("security").is_some(),
                    responses,
                });
            }
        }
    }
    ops.sort_by(|a, b| a.path.cmp(&b.path).then(a.method.cmp(&b.method)));
    render(&ApiDocsPage { p, ops })
}
