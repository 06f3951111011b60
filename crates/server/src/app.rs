//! Application state, the router, and the cross-cutting middleware (request ids, tracing, metrics,
//! CSRF, error rendering, security headers), plus `serve` with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header::{CONTENT_TYPE, HeaderValue, SET_COOKIE};
use axum::http::{HeaderName, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use shenfen_store::{ActorKind, AuditRecord, DynStore};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::crypto::Keys;
use crate::error::AppError;
use crate::i18n::{Lang, cookie_value};
use crate::registry::{IdentityVerifier, PopulationRegistry};
use crate::sms::SmsGateway;

/// Wall clock in UTC milliseconds. Tests may pin it to exercise expiry over HTTP, or run it off by an offset to
/// play a machine whose clock is wrong (see `clock_guard`).
#[derive(Clone, Default)]
pub struct Clock(ClockKind);

#[derive(Clone, Default)]
enum ClockKind {
    #[default]
    System,
    Fixed(Arc<AtomicI64>),
    /// The system clock plus an adjustable offset.
    Offset(Arc<AtomicI64>),
}

impl Clock {
    pub fn fixed(ms: i64) -> Self {
        Clock(ClockKind::Fixed(Arc::new(AtomicI64::new(ms))))
    }
    /// The system clock running `offset_ms` ahead (negative: behind).
    pub fn offset(offset_ms: i64) -> Self {
        Clock(ClockKind::Offset(Arc::new(AtomicI64::new(offset_ms))))
    }
    fn system_ms() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
    }
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            ClockKind::System => Self::system_ms(),
            ClockKind::Fixed(t) => t.load(Ordering::SeqCst),
            ClockKind::Offset(o) => Self::system_ms() + o.load(Ordering::SeqCst),
        }
    }
    /// Moves a pinned or offset clock on (a system clock cannot be moved).
    pub fn advance_ms(&self, by: i64) {
        match &self.0 {
            ClockKind::System => {}
            ClockKind::Fixed(t) | ClockKind::Offset(t) => {
                t.fetch_add(by, Ordering::SeqCst);
            }
        }
    }
    /// A clock pinned by a test, rather than a machine's clock.
    pub fn is_pinned(&self) -> bool {
        matches!(self.0, ClockKind::Fixed(_))
    }
    /// Today's date in China Standard Time (UTC+8), the calendar every rule here is stated in.
    pub fn today_cst(&self) -> time::Date {
        let secs = self.now_ms().div_euclid(1000) + 8 * 3600;
        time::OffsetDateTime::from_unix_timestamp(secs).map(|t| t.date()).unwrap_or(time::Date::MIN)
    }
}

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: DynStore,
    pub keys: Keys,
    pub registry: Arc<dyn PopulationRegistry>,
    pub verifier: Arc<dyn IdentityVerifier>,
    pub sms: Arc<dyn SmsGateway>,
    /// The provider notification SMS go through (sign-in codes still use `sms`, synchronously).
    pub sms_provider: Arc<dyn crate::notify::SmsProvider>,
    /// Wakes this instance's notification worker when something was enqueued.
    pub notify_wake: Arc<tokio::sync::Notify>,
    /// Wakes this instance's consumer of carrier tracking events when a push was stored.
    pub shipments_wake: Arc<tokio::sync::Notify>,
    /// This instance's lease-holder name in the notification queue.
    pub worker_id: String,
    /// Fans new in-app notifications (written by any instance) out to the live streams open here.
    pub live: crate::notify::live::LiveHub,
    /// Web Push sender (`None` when switched off).
    pub web_push: Option<Arc<crate::notify::push::WebPush>>,
    pub metrics: PrometheusHandle,
    pub clock: Clock,
    /// How far this instance's clock is from the database's, and whether that is too far (`clock_guard`).
    pub clock_skew: crate::clock_guard::SkewState,
    /// Today's point loads, reused for up to a second (see `appointments::LoadCache`).
    pub live_loads: crate::appointments::LoadCache,
    /// Payment provider adapters (`None` only if the configuration could not build them; start-up refuses that
    /// outside tests, see `build_state`).
    pub payment_providers: Option<crate::payments::providers::Providers>,
    /// The express carrier (EMS) for card delivery (`None` only if the configuration could not build it, as above).
    pub carrier: Option<Arc<dyn crate::logistics::ExpressCarrier>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Who did something, and from where: the audit log's "who" and "from where".
#[derive(Debug, Clone)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
    pub ip: String,
}

impl AppState {
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Appends to the tamper-evident audit log. A failure here fails the request: an action that cannot be
    /// audited must not be reported as done.
    pub async fn audit(&self, actor: &Actor, action: &str, target: &str, detail: serde_json::Value) -> Result<(), AppError> {
        let record = AuditRecord {
            at: self.now_ms(),
            actor_kind: actor.kind,
            actor_id: actor.id.clone(),
            action: action.to_string(),
            target: target.to_string(),
            source_ip: actor.ip.clone(),
            detail: detail.to_string(),
        };
        self.store.append_audit(&record).await?;
        Ok(())
    }
}

pub const CSRF_COOKIE: &str = "sf_csrf";
pub const CSRF_FIELD: &str = "csrf";

/// The CSRF cookie value for this request (existing or freshly issued), for templates.
#[derive(Clone)]
pub struct CsrfCookie(pub String);

pub fn router(state: AppState) -> Router {
    // The outer bound is the upload size (base64 adds a third); each extractor applies its own smaller limit.
    let max_body = state.config.limits.max_upload_bytes * 4 / 3 + 64 * 1024;
    let x_request_id = HeaderName::from_static("x-request-id");
    let (api, openapi) = crate::api::router(state.clone());
    let openapi = Arc::new(openapi);

    let mut routes = Router::new()
        .merge(crate::pages::router(state.clone()))
        .merge(api)
        .merge(crate::notify::callbacks::router())
        .merge(crate::payments::callback_router())
        .merge(crate::logistics::callback_router());
    if state.config.demo {
        routes = routes.merge(crate::notify::sandbox::router(crate::notify::sandbox::SandboxState::new(&state.config, state.store.clone())));
        routes = routes.merge(crate::notify::push_sandbox::router(crate::notify::push_sandbox::PushSandbox::new(&state.config.public_url)));
        match crate::payments::sandbox::PaymentSandboxes::from_config(&state.config, &state.config.public_url) {
            Ok(sandboxes) => routes = routes.merge(crate::payments::sandbox::router(sandboxes)),
            Err(e) => tracing::error!(error = %e, "payment sandboxes not mounted"),
        }
        routes = routes.merge(crate::logistics::sandbox::router(crate::logistics::sandbox::EmsSandbox::from_config(&state.config)));
    }
    routes
        .merge(crate::ops::router(openapi))
        .fallback(|| async { AppError::not_found() })
        .method_not_allowed_fallback(|| async { AppError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(state.clone(), crate::staff_security::password_gate))
        .layer(middleware::from_fn_with_state(state.clone(), csrf_guard))
        .layer(middleware::from_fn_with_state(state.clone(), render_errors))
        .layer(CatchPanicLayer::custom(|_| AppError::internal().into_response()))
        .layer(middleware::from_fn(track_metrics))
        .layer(security_headers(state.config.map.tile_origin().as_deref()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                // The path only: query strings could carry personal data.
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, SequentialRequestId::new()))
        .with_state(state)
}

/// Security headers for every response. The CSP allows images from the configured map tile server, nothing else
/// from elsewhere.
fn security_headers(tile_origin: Option<&str>) -> tower::layer::util::Stack<
    SetResponseHeaderLayer<HeaderValue>,
    tower::layer::util::Stack<SetResponseHeaderLayer<HeaderValue>, tower::layer::util::Stack<SetResponseHeaderLayer<HeaderValue>, SetResponseHeaderLayer<HeaderValue>>>,
> {
    use axum::http::header;
    tower::layer::util::Stack::new(
        SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        tower::layer::util::Stack::new(
            SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            tower::layer::util::Stack::new(
                SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
                SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_str(&format!(
                        "default-src 'self'; img-src 'self' data: blob:{}; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
                        tile_origin.map(|o| format!(" {o}")).unwrap_or_default()
                    ))
                    .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'")),
                ),
            ),
        ),
    )
}

/// Request ids as `<random instance prefix>-<counter>`: unique across instances without a random-number
/// system call per request (a UUID per request showed up in the HTTP benchmark).
#[derive(Clone)]
struct SequentialRequestId {
    prefix: Arc<str>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl SequentialRequestId {
    fn new() -> Self {
        let prefix: String = crate::crypto::new_token().chars().filter(|c| c.is_ascii_alphanumeric()).take(8).collect();
        SequentialRequestId { prefix: prefix.into(), next: Arc::new(std::sync::atomic::AtomicU64::new(1)) }
    }
}

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix)).ok().map(RequestId::new)
    }
}

fn is_api(path: &str) -> bool {
    // Provider callbacks and the provider sandboxes are machine-to-machine: no CSRF, JSON errors.
    path.starts_with("/api/") || path.starts_with("/callbacks/") || path.starts_with("/sandbox/") || path == "/healthz" || path == "/readyz" || path == "/metrics"
}

/// Signed double-submit CSRF protection for every unsafe request to a page (the JSON API authenticates with
/// bearer tokens only, which a foreign site cannot attach). The token travels in the form's `csrf` field
/// (url-encoded forms) or, for multipart uploads, in the `csrf` query parameter.
async fn csrf_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if is_api(&path) {
        return next.run(req).await;
    }
    let existing = cookie_value(req.headers(), CSRF_COOKIE).filter(|v| v.len() >= 32 && v.len() <= 64);
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method {
        let Some(cookie) = existing.clone() else { return AppError::csrf().into_response() };
        let query_token = req.uri().query().and_then(|q| form_field(q.as_bytes(), CSRF_FIELD));
        let is_form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let (req, token) = if is_form {
            let (parts, body) = req.into_parts();
            let bytes = match axum::body::to_bytes(body, state.config.limits.max_body_bytes).await {
                Ok(b) => b,
                Err(_) => return AppError::payload_too_large().into_response(),
            };
            let token = form_field(&bytes, CSRF_FIELD);
            (Request::from_parts(parts, Body::from(bytes)), token)
        } else {
            (req, query_token)
        };
        if !token.is_some_and(|t| state.keys.csrf_ok(&cookie, &t)) {
            return AppError::csrf().into_response();
        }
        let mut req = req;
        req.extensions_mut().insert(CsrfCookie(cookie));
        return next.run(req).await;
    }
    let (cookie, fresh) = match existing {
        Some(c) => (c, false),
        None => (crate::crypto::new_token(), true),
    };
    let mut req = req;
    req.extensions_mut().insert(CsrfCookie(cookie.clone()));
    let mut res = next.run(req).await;
    if fresh {
        let secure = if state.config.secure_cookies { "; Secure" } else { "" };
        if let Ok(v) = HeaderValue::from_str(&format!("{CSRF_COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Lax{secure}")) {
            res.headers_mut().append(SET_COOKIE, v);
        }
    }
    res
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).ok()?.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Writes every error body in one place, in the caller's language: JSON for the API, HTML for pages.
async fn render_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let lang = Lang::from_headers(req.headers());
    let api = is_api(req.uri().path()) || wants_json(&req);
    // Only pages need the page context for an error page; API requests skip building it.
    let page = (!api).then(|| crate::pages::PageCtx::from_request_parts_sync(&state, &req));
    let mut res = next.run(req).await;
    let err = match res.extensions_mut().remove::<AppError>() {
        Some(e) => e,
        None => match res.status() {
            // Framework-generated bare responses: give them our shape too.
            StatusCode::PAYLOAD_TOO_LARGE => AppError::payload_too_large(),
            StatusCode::METHOD_NOT_ALLOWED => AppError::method_not_allowed(),
            StatusCode::NOT_FOUND if res.headers().get(CONTENT_TYPE).is_none() => AppError::not_found(),
            _ => return res,
        },
    };
    if err.status.is_server_error() {
        tracing::error!(code = err.code, "request failed");
    }
    let mut out = match &page {
        None => (err.status, axum::Json(err.json_body(lang))).into_response(),
        Some(page) => (err.status, Html(crate::pages::error_page(page, &err))).into_response(),
    };
    // Keep cookies the handler or CSRF guard set (e.g. a fresh CSRF cookie).
    for v in res.headers().get_all(SET_COOKIE) {
        out.headers_mut().append(SET_COOKIE, v.clone());
    }
    if let Some(v) = res.headers().get("retry-after") {
        out.headers_mut().insert("retry-after", v.clone());
    }
    out
}

fn wants_json(req: &Request) -> bool {
    req.headers().get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"))
}

/// Request counts and latency histograms by route template (never the raw path) and status.
async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    res
}

pub fn install_metrics() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
                )
                .expect("valid buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (several apps in one test process): keep ours reachable.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Serves until SIGTERM or Ctrl-C, letting in-flight requests finish.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(state.config.listen).await?;
    // The clock is judged before any job runs, and then every `clock.check_secs`.
    crate::clock_guard::check(&state).await;
    crate::clock_guard::spawn(state.clone());
    // Keep the booking horizon filled as days pass, send day-before reminders, mark no-shows (idempotent; every
    // instance may do it).
    let background = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            if !crate::clock_guard::may_run_jobs(&background) {
                continue;
            }
            if let Err(e) = crate::appointments::ensure_all_slots(&background).await {
                tracing::warn!(error = %e, "slot generation failed; will retry");
            }
            match crate::appointments::housekeeping(&background).await {
                Ok(done) if done != Default::default() => tracing::info!(reminders = done.reminders_sent, no_shows = done.no_shows, "appointment housekeeping"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "appointment housekeeping failed; will retry"),
            }
        }
    });
    // Every instance runs a notification worker; leases keep them from sending the same message twice.
    let payments = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !crate::clock_guard::may_run_jobs(&payments) {
                continue;
            }
            if let Err(e) = crate::payments::housekeeping(&payments).await {
                tracing::warn!(error = %e.message_en, "payment housekeeping failed; will retry");
            }
            match crate::applications::housekeeping(&payments).await {
                Ok(done) if done != Default::default() => tracing::info!(expired = done.expired, paid = done.paid, "application housekeeping"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e.message_en, "application housekeeping failed; will retry"),
            }
            // Tracking of shipments whose pushes were lost (each shipment claimed by one instance).
            if let Err(e) = crate::logistics::poll(&payments).await {
                tracing::warn!(error = %e.message_en, "shipment tracking poll failed; will retry");
            }

        }
    });
    // Carrier tracking events move applications (delivered, returned): at once when a push wakes it, and every few
    // seconds for events that came by polling or whose consumer died (each event is leased to one instance).
    let shipments = state.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shipments.shipments_wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            }
            if !crate::clock_guard::may_run_jobs(&shipments) {
                continue;
            }
            if let Err(e) = crate::applications::apply_shipment_events(&shipments).await {
                tracing::warn!(error = %e.message_en, "applying tracking events failed; will retry");
            }
        }
    });
    crate::notify::spawn_worker(state.clone());
    crate::notify::reconcile::spawn(state.clone());
    crate::cards::spawn_expiry_job(state.clone());
    crate::retention::spawn(state.clone());
    tracing::info!(addr = %listener.local_addr()?, "Shenfen listening");
    let app = router(state);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received; draining requests");
}
