//! The EMS sandbox: a stand-in for the carrier that behaves like it from the other side of the wire (`ems.rs`
//! documents the format). It verifies our signed requests (a bad signature gets `S0401`), refuses what a carrier
//! refuses (`B0101` a division code outside the mainland, `B0102` an incomplete recipient, `B0103` an invalid
//! mobile), assigns EMS tracking numbers in the UPU S10 format (`EA123456785CN`, check digit per `s10.rs`),
//! answers a repeated order number with the waybill it already assigned, and plays a realistic, time-compressed
//! timeline, one step every `minutes_per_step`:
//!
//! * normal: collected in Hefei → left the Hefei mail hub (合肥邮区中心局) → arrived at the destination city's
//!   centre → out for delivery → delivered, the courier having verified the holder's face (`faceVerified`);
//! * the recipient phone ends in `retry_phone_suffix`: the first attempt fails (no answer), the next day's
//!   succeeds;
//! * the address contains `return_marker` (查无此人): the attempt fails, the parcel goes back and is returned to
//!   the sender.
//!
//! Each trace is pushed, signed with the push secret, to the push URL as soon as it happens; a push that is not
//! acknowledged is retried with back-off (a waybill still being stored on our side is answered `B0404`), and
//! given up after a few attempts — `trace.query` still shows it. `POST /sandbox/ems/waybills/{no}/advance`
//! (`?steps=1|all`, `&push=false` to act out a lost push) plays steps at once, for tests and demos;
//! `GET /sandbox/ems/waybills/{no}` shows a waybill's traces with those buttons.
//!
//! Like the payment sandboxes, its parcels live in memory (`Arc<Mutex<…>>`): it is an external system, not
//! this instance's state. Demo instances mount it under `/sandbox/ems/`; tests also serve it on its own port.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use shenfen_domain::division;

use super::ems::{self, API_CREATE, API_PUSH, API_TRACK, CreateData, CreateRequest, Envelope, PushBody, TrackData, TrackRequest, Trace, op};
use super::{s10, wall_ms};
use crate::config::Config;
use crate::payments::sandbox::esc;

/// Everything the sandbox needs to know.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// The partner account it serves (requests must carry it).
    pub app_key: String,
    /// Verifies the partner's requests.
    pub app_secret: String,
    /// Signs pushes.
    pub push_secret: String,
    /// Where traces are pushed.
    pub push_url: String,
    /// Time between two steps of a timeline.
    pub step: Duration,
    pub return_marker: String,
    pub retry_phone_suffix: String,
}

#[derive(Clone)]
pub struct EmsSandbox(Arc<Inner>);

struct Inner {
    app_key: String,
    app_secret: String,
    push_secret: String,
    push_url: Mutex<String>,
    step_ms: i64,
    return_marker: String,
    retry_phone_suffix: String,
    book: Mutex<Book>,
    http: reqwest::Client,
    ticking: AtomicBool,
}

#[derive(Default)]
struct Book {
    parcels: HashMap<String, Parcel>,
    /// logisticsOrderNo → waybill.
    orders: HashMap<String, String>,
}

struct Parcel {
    waybill: String,
    /// Steps still to happen.
    script: VecDeque<Step>,
    traces: Vec<Revealed>,
    /// When the next step happens by itself.
    next_due: i64,
}

#[derive(Debug, Clone)]
struct Step {
    op_code: &'static str,
    op_name: &'static str,
    city: String,
    desc: String,
    face: Option<bool>,
}

struct Revealed {
    trace: Trace,
    push: Push,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Push {
    Due { attempts: u32, next_at: i64 },
    InFlight { attempts: u32 },
    Done,
    /// Never pushed (lost on purpose, or given up after retries).
    Dropped,
}

/// Attempts before the sandbox gives a push up (polling still finds the trace).
const MAX_PUSH_ATTEMPTS: u32 = 6;

fn backoff_ms(attempts: u32) -> i64 {
    (200i64 << attempts.min(8)).min(30_000)
}

/// The Hefei sorting hub every card leaves from (the province's card production centre is in Hefei).
const HUB: &str = "合肥邮区中心局";
const HUB_CITY: &str = "合肥市";

/// The destination's city and county names for trace texts.
fn places(code: &str) -> (String, String) {
    let county = division::name(code).unwrap_or("收件地").to_string();
    let city = division::history(code)
        .iter()
        .find(|r| r.in_use)
        .or_else(|| division::history(code).last())
        .map(|r| if r.prefecture.is_empty() || r.prefecture == "直辖" { r.province } else { r.prefecture })
        .or_else(|| division::name(&format!("{}00", &code[..4])))
        .unwrap_or("收件地")
        .to_string();
    (city, county)
}

fn step(op_code: &'static str, op_name: &'static str, city: &str, desc: String, face: Option<bool>) -> Step {
    Step { op_code, op_name, city: city.to_string(), desc, face }
}

impl Inner {
    /// The timeline a parcel will play.
    fn script(&self, req: &CreateRequest) -> VecDeque<Step> {
        let (city, county) = places(&req.receiver.division_code);
        let sender = &req.sender.name;
        let local = city == HUB_CITY;
        let depot = format!("{county}投递部");
        let mut s = VecDeque::new();
        s.push_back(step(op::COLLECTED, "收寄", HUB_CITY, format!("【{HUB_CITY}】{sender} 已收寄，揽投员：王师傅"), None));
        s.push_back(step(op::DEPARTED, "离开处理中心", HUB_CITY, format!("【{HUB_CITY}】离开{HUB}，发往{}", if local { &depot } else { &city }), None));
        if local {
            s.push_back(step(op::ARRIVED, "到达处理中心", &city, format!("【{city}】到达{depot}"), None));
        } else {
            s.push_back(step(op::ARRIVED, "到达处理中心", &city, format!("【{city}】到达{city}邮件处理中心"), None));
        }
        let out = |again: bool| {
            step(op::OUT_FOR_DELIVERY, "安排投递", &county, format!("【{county}】{depot}{}安排投递，投递员：李师傅，电话：11183", if again { "再次" } else { "" }), None)
        };
        let delivered = step(
            op::DELIVERED,
            "妥投",
            &county,
            format!("【{county}】已妥投：收件人本人签收，投递员已现场核验收件人人脸（居民身份证实名投递）"),
            Some(true),
        );
        s.push_back(out(false));
        if req.receiver.address.contains(self.return_marker.as_str()) {
            s.push_back(step(op::NOT_DELIVERED, "未妥投", &county, format!("【{county}】未妥投：{}，按址无法投递", self.return_marker), None));
            s.push_back(step(op::RETURNING, "退回", &county, format!("【{county}】离开{depot}，退回寄件人"), None));
            s.push_back(step(op::ARRIVED, "到达处理中心", HUB_CITY, format!("【{HUB_CITY}】退件到达{HUB}"), None));
            s.push_back(step(op::RETURNED, "退回妥投", HUB_CITY, format!("【{HUB_CITY}】退回妥投：已退回寄件人 {sender}"), None));
        } else if req.receiver.mobile.ends_with(self.retry_phone_suffix.as_str()) {
            s.push_back(step(op::NOT_DELIVERED, "未妥投", &county, format!("【{county}】未妥投：收件人电话无人接听，已短信告知，次日再投"), None));
            s.push_back(out(true));
            s.push_back(delivered);
        } else {
            s.push_back(delivered);
        }
        s
    }

    /// Plays the parcel's next step at `at`.
    fn reveal(&self, p: &mut Parcel, at: i64, push: bool) -> bool {
        let Some(st) = p.script.pop_front() else { return false };
        let n = p.traces.len() + 1;
        p.traces.push(Revealed {
            trace: Trace {
                trace_id: format!("{}-{n:02}", p.waybill),
                waybill_no: p.waybill.clone(),
                op_code: st.op_code.to_string(),
                op_name: st.op_name.to_string(),
                op_time: at,
                op_org_city: st.city,
                op_desc: st.desc,
                face_verified: st.face,
            },
            push: if push { Push::Due { attempts: 0, next_at: at } } else { Push::Dropped },
        });
        p.next_due = at + self.step_ms;
        true
    }

    /// Plays every step whose time has come, at its scheduled time.
    fn reveal_due(&self, book: &mut Book, now: i64) {
        for p in book.parcels.values_mut() {
            while !p.script.is_empty() && p.next_due <= now {
                let at = p.next_due;
                self.reveal(p, at, true);
            }
        }
    }

    /// Takes the pushes to make now (all of a parcel's pending traces together, in order), marking them in flight.
    /// `only` forces one parcel's pending traces regardless of back-off.
    fn take_pushes(book: &mut Book, now: i64, only: Option<&str>) -> Vec<(String, Vec<usize>, Vec<Trace>)> {
        let mut jobs = Vec::new();
        for p in book.parcels.values_mut().filter(|p| only.is_none_or(|w| w == p.waybill)) {
            let due = p.traces.iter().any(|t| matches!(t.push, Push::Due { next_at, .. } if only.is_some() || next_at <= now));
            if !due {
                continue;
            }
            let mut idx = Vec::new();
            let mut traces = Vec::new();
            for (i, t) in p.traces.iter_mut().enumerate() {
                if let Push::Due { attempts, .. } = t.push {
                    t.push = Push::InFlight { attempts };
                    idx.push(i);
                    traces.push(t.trace.clone());
                }
            }
            jobs.push((p.waybill.clone(), idx, traces));
        }
        jobs
    }

    fn finish(book: &mut Book, waybill: &str, idx: &[usize], ok: bool, now: i64) {
        let Some(p) = book.parcels.get_mut(waybill) else { return };
        for &i in idx {
            let Some(t) = p.traces.get_mut(i) else { continue };
            if let Push::InFlight { attempts } = t.push {
                let attempts = attempts + 1;
                t.push = if ok {
                    Push::Done
                } else if attempts >= MAX_PUSH_ATTEMPTS {
                    Push::Dropped
                } else {
                    Push::Due { attempts, next_at: now + backoff_ms(attempts) }
                };
            }
        }
    }

    /// One signed push; `true` when the receiver acknowledged it.
    async fn push(&self, traces: Vec<Trace>) -> bool {
        let Ok(body) = serde_json::to_vec(&PushBody { traces }) else { return false };
        let url = self.push_url.lock().map(|u| u.clone()).unwrap_or_default();
        let mut rb = self.http.post(url);
        for (k, v) in ems::signed_headers(&self.push_secret, API_PUSH, &self.app_key, wall_ms(), &body) {
            rb = rb.header(k, v);
        }
        match rb.body(body).send().await {
            Ok(r) if r.status() == StatusCode::OK => r.json::<Envelope<serde_json::Value>>().await.is_ok_and(|e| e.success),
            Ok(r) => {
                tracing::info!(status = r.status().as_u16(), "EMS sandbox push not acknowledged; will retry");
                false
            }
            Err(_) => false,
        }
    }

    /// Plays what is due and pushes what is pending; returns how many pushes were acknowledged.
    async fn tick(&self, only: Option<&str>) -> usize {
        let jobs = {
            let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
            self.reveal_due(&mut book, wall_ms());
            Self::take_pushes(&mut book, wall_ms(), only)
        };
        let mut acknowledged = 0;
        for (waybill, idx, traces) in jobs {
            let ok = self.push(traces).await;
            acknowledged += ok as usize;
            let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
            Self::finish(&mut book, &waybill, &idx, ok, wall_ms());
        }
        acknowledged
    }
}

impl EmsSandbox {
    pub fn new(s: SandboxSettings) -> Self {
        EmsSandbox(Arc::new(Inner {
            app_key: s.app_key,
            app_secret: s.app_secret,
            push_secret: s.push_secret,
            push_url: Mutex::new(s.push_url),
            step_ms: (s.step.as_millis() as i64).max(1),
            return_marker: s.return_marker,
            retry_phone_suffix: s.retry_phone_suffix,
            book: Mutex::new(Book::default()),
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default(),
            ticking: AtomicBool::new(false),
        }))
    }

    /// The demo instance's sandbox: the configured (or demo) account and secrets, pushing to this instance.
    pub fn from_config(config: &Config) -> Self {
        let l = &config.logistics;
        let (app_secret, push_secret) = l.ems.secrets(true).unwrap_or_default();
        let push_url = l.sandbox.push_url.clone().unwrap_or_else(|| format!("{}/callbacks/express/ems", config.public_url.trim_end_matches('/')));
        Self::new(SandboxSettings {
            app_key: l.ems.app_key.clone(),
            app_secret,
            push_secret,
            push_url,
            step: Duration::from_secs_f64(l.sandbox.minutes_per_step * 60.0),
            return_marker: l.sandbox.return_marker.clone(),
            retry_phone_suffix: l.sandbox.retry_phone_suffix.clone(),
        })
    }

    /// Where pushes go from now on (tests start the receiver after the sandbox).
    pub fn set_push_url(&self, url: &str) {
        if let Ok(mut u) = self.0.push_url.lock() {
            *u = url.to_string();
        }
    }

    /// Starts the background timeline (once): plays due steps and pushes, a few times per step.
    fn ensure_ticker(&self) {
        if self.0.ticking.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.0);
        let every = Duration::from_millis((self.0.step_ms / 4).clamp(20, 1_000) as u64);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { break };
                inner.tick(None).await;
            }
        });
    }
}

/// `/sandbox/ems/…`.
pub fn router<S: Clone + Send + Sync + 'static>(sb: EmsSandbox) -> Router<S> {
    Router::new()
        .route("/sandbox/ems/api/{api}", post(api))
        .route("/sandbox/ems/waybills/{waybill}", get(waybill_page))
        .route("/sandbox/ems/waybills/{waybill}/advance", post(advance))
        .layer(DefaultBodyLimit::max(ems::MAX_BODY_BYTES))
        .with_state(sb)
}

fn reply<T: Serialize>(status: StatusCode, env: Envelope<T>) -> Response {
    (status, [(header::CONTENT_TYPE, ems::CONTENT_TYPE)], serde_json::to_string(&env).unwrap_or_default()).into_response()
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    reply(status, Envelope::<()>::fail(code, message))
}

async fn api(State(sb): State<EmsSandbox>, Path(api): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = ems::verify(&sb.0.app_secret, &api, &sb.0.app_key, &headers, &body, wall_ms()) {
        return refuse(StatusCode::UNAUTHORIZED, "S0401", &format!("签名验证失败：{e}"));
    }
    match api.as_str() {
        API_CREATE => create(&sb, &body),
        API_TRACK => track(&sb, &body),
        _ => refuse(StatusCode::NOT_FOUND, "S0404", "接口不存在"),
    }
}

fn create(sb: &EmsSandbox, body: &[u8]) -> Response {
    let Ok(req) = serde_json::from_slice::<CreateRequest>(body) else {
        return refuse(StatusCode::BAD_REQUEST, "S0400", "报文格式错误");
    };
    let order_no = req.logistics_order_no.trim().to_string();
    if order_no.is_empty() || order_no.len() > 64 {
        return refuse(StatusCode::BAD_REQUEST, "S0400", "logisticsOrderNo 无效");
    }
    let ok = |waybill: &str| reply(StatusCode::OK, Envelope::ok(CreateData { waybill_no: waybill.to_string(), logistics_order_no: order_no.clone() }));
    let r = &req.receiver;
    if r.name.trim().is_empty() || r.address.trim().is_empty() || req.sender.name.trim().is_empty() {
        return refuse(StatusCode::OK, "B0102", "收寄件人信息不完整");
    }
    if shenfen_domain::MobileNumber::parse(&r.mobile).is_err() {
        return refuse(StatusCode::OK, "B0103", "收件人手机号码无效");
    }
    let code = r.division_code.as_str();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) || !division::address_code_status(code).is_acceptable() {
        return refuse(StatusCode::OK, "B0101", "收件地址超出服务范围（仅限中国大陆地区）");
    }
    let script = sb.0.script(&req);
    let waybill = {
        let mut book = sb.0.book.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = book.orders.get(&order_no) {
            return ok(&existing.clone());
        }
        let waybill = loop {
            use rand::Rng as _;
            let mut rng = rand::thread_rng();
            let service = format!("E{}", char::from(b'A' + rng.gen_range(0..26u8)));
            let Some(no) = s10::identifier(&service, rng.gen_range(0..100_000_000), "CN") else { continue };
            if !book.parcels.contains_key(&no) {
                break no;
            }
        };
        book.orders.insert(order_no.clone(), waybill.clone());
        book.parcels.insert(waybill.clone(), Parcel { waybill: waybill.clone(), script, traces: Vec::new(), next_due: wall_ms() + sb.0.step_ms });
        waybill
    };
    sb.ensure_ticker();
    ok(&waybill)
}

fn track(sb: &EmsSandbox, body: &[u8]) -> Response {
    let Ok(req) = serde_json::from_slice::<TrackRequest>(body) else {
        return refuse(StatusCode::BAD_REQUEST, "S0400", "报文格式错误");
    };
    let mut book = sb.0.book.lock().unwrap_or_else(|p| p.into_inner());
    sb.0.reveal_due(&mut book, wall_ms());
    match book.parcels.get(&req.waybill_no) {
        Some(p) => reply(StatusCode::OK, Envelope::ok(TrackData { waybill_no: p.waybill.clone(), traces: p.traces.iter().map(|t| t.trace.clone()).collect() })),
        None => refuse(StatusCode::OK, "B0404", "运单不存在"),
    }
}

#[derive(Deserialize)]
struct AdvanceQuery {
    steps: Option<String>,
    push: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Advanced {
    waybill_no: String,
    revealed: usize,
    remaining: usize,
    pushes_acknowledged: usize,
}

async fn advance(State(sb): State<EmsSandbox>, Path(waybill): Path<String>, Query(q): Query<AdvanceQuery>, headers: HeaderMap) -> Response {
    let steps = match q.steps.as_deref() {
        None => 1,
        Some("all") => usize::MAX,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if (1..=20).contains(&n) => n,
            _ => return refuse(StatusCode::BAD_REQUEST, "S0400", "steps 须为 1–20 或 all"),
        },
    };
    let push = match q.push.as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        _ => return refuse(StatusCode::BAD_REQUEST, "S0400", "push 须为 true 或 false"),
    };
    let (revealed, remaining) = {
        let mut book = sb.0.book.lock().unwrap_or_else(|p| p.into_inner());
        let now = wall_ms();
        sb.0.reveal_due(&mut book, now);
        let Some(p) = book.parcels.get_mut(&waybill) else {
            return refuse(StatusCode::NOT_FOUND, "B0404", "运单不存在");
        };
        let mut n = 0;
        // One millisecond apart, so the steps keep their order by time.
        while n < steps && sb.0.reveal(p, now + n as i64, push) {
            n += 1;
        }
        (n, p.script.len())
    };
    let pushes_acknowledged = sb.0.tick(Some(&waybill)).await;
    let wants_html = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
    if wants_html {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, format!("/sandbox/ems/waybills/{}", esc(&waybill)))]).into_response();
    }
    axum::Json(Advanced { waybill_no: waybill, revealed, remaining, pushes_acknowledged }).into_response()
}

/// The sandbox's own view of a waybill, with buttons to play steps (plain forms: no script under our CSP).
async fn waybill_page(State(sb): State<EmsSandbox>, Path(waybill): Path<String>) -> Response {
    let (rows, remaining) = {
        let mut book = sb.0.book.lock().unwrap_or_else(|p| p.into_inner());
        sb.0.reveal_due(&mut book, wall_ms());
        let Some(p) = book.parcels.get(&waybill) else {
            return refuse(StatusCode::NOT_FOUND, "B0404", "运单不存在");
        };
        let rows: String = p
            .traces
            .iter()
            .rev()
            .map(|t| {
                let at = time::OffsetDateTime::from_unix_timestamp(t.trace.op_time.div_euclid(1000) + 8 * 3600)
                    .map(|d| format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", d.year(), d.month() as u8, d.day(), d.hour(), d.minute(), d.second()))
                    .unwrap_or_default();
                let pushed = match t.push {
                    Push::Done => "已推送",
                    Push::Dropped => "未推送",
                    _ => "推送中",
                };
                format!("<li><strong>{}</strong> {}（{}）<br><span class=\"hint\">{at} · {}</span></li>", esc(&t.trace.op_name), esc(&t.trace.op_desc), esc(&t.trace.op_code), pushed)
            })
            .collect();
        (rows, p.script.len())
    };
    let w = esc(&waybill);
    let buttons = if remaining == 0 {
        "<p>轨迹已结束。</p>".to_string()
    } else {
        format!(
            "<form method=\"post\" action=\"/sandbox/ems/waybills/{w}/advance?steps=1\"><button class=\"button\" type=\"submit\">下一步</button></form>\
             <form method=\"post\" action=\"/sandbox/ems/waybills/{w}/advance?steps=all\"><button class=\"button button-secondary\" type=\"submit\">直接到最后</button></form>\
             <form method=\"post\" action=\"/sandbox/ems/waybills/{w}/advance?steps=1&amp;push=false\"><button class=\"button button-secondary\" type=\"submit\">下一步（推送丢失）</button></form>"
        )
    };
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>EMS 运单 {w}（沙箱）</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main class=\"hero\">\
<p class=\"demo-banner\">沙箱环境：模拟邮政速递，不会真实寄递</p><h1>运单 {w}</h1><ol reversed>{rows}</ol><p>剩余步骤：{remaining}</p>{buttons}</main></body></html>"
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> EmsSandbox {
        EmsSandbox::new(SandboxSettings {
            app_key: "K".into(),
            app_secret: "s".into(),
            push_secret: "p".into(),
            push_url: "http://127.0.0.1:9/none".into(),
            step: Duration::from_secs(60),
            return_marker: "查无此人".into(),
            retry_phone_suffix: "4".into(),
        })
    }

    fn request(mobile: &str, division_code: &str, address: &str) -> CreateRequest {
        CreateRequest {
            logistics_order_no: "app-1".into(),
            cargo_name: "居民身份证".into(),
            sender: ems::Sender { name: "安徽省居民身份证制证中心".into() },
            receiver: ems::Receiver { name: "张三".into(), mobile: mobile.into(), division_code: division_code.into(), address: address.into() },
        }
    }

    fn codes(s: &VecDeque<Step>) -> Vec<&'static str> {
        s.iter().map(|s| s.op_code).collect()
    }

    #[test]
    fn timelines_for_the_three_cases() {
        let sb = sandbox();
        let normal = sb.0.script(&request("13800000001", "341102", "琅琊区某路1号"));
        assert_eq!(codes(&normal), [op::COLLECTED, op::DEPARTED, op::ARRIVED, op::OUT_FOR_DELIVERY, op::DELIVERED]);
        assert!(normal[1].desc.contains("合肥邮区中心局") && normal[1].desc.contains("滁州市"), "{:?}", normal[1]);
        assert!(normal[2].desc.contains("滁州市邮件处理中心"));
        assert!(normal[3].desc.contains("琅琊区投递部"));
        assert_eq!(normal[4].face, Some(true));
        let local = sb.0.script(&request("13800000001", "340104", "长江西路1号"));
        assert!(local[2].desc.contains("蜀山区投递部"), "{:?}", local[2]);
        let retry = sb.0.script(&request("13800000004", "340104", "长江西路1号"));
        assert_eq!(codes(&retry), [op::COLLECTED, op::DEPARTED, op::ARRIVED, op::OUT_FOR_DELIVERY, op::NOT_DELIVERED, op::OUT_FOR_DELIVERY, op::DELIVERED]);
        let back = sb.0.script(&request("13800000004", "340104", "长江西路1号 查无此人"));
        assert_eq!(codes(&back), [op::COLLECTED, op::DEPARTED, op::ARRIVED, op::OUT_FOR_DELIVERY, op::NOT_DELIVERED, op::RETURNING, op::ARRIVED, op::RETURNED]);
        // Beijing: a municipality's district is in the city "北京市".
        assert_eq!(places("110105"), ("北京市".to_string(), "朝阳区".to_string()));
    }

    #[test]
    fn steps_play_on_time_and_pushes_back_off_then_give_up() {
        let sb = sandbox();
        let mut book = Book::default();
        book.parcels.insert(
            "EA123456785CN".into(),
            Parcel { waybill: "EA123456785CN".into(), script: sb.0.script(&request("13800000001", "340104", "x路1号")), traces: Vec::new(), next_due: 1_000 },
        );
        sb.0.reveal_due(&mut book, 999);
        assert!(book.parcels["EA123456785CN"].traces.is_empty());
        sb.0.reveal_due(&mut book, 1_000 + 60_000);
        let p = &book.parcels["EA123456785CN"];
        assert_eq!(p.traces.iter().map(|t| t.trace.op_time).collect::<Vec<_>>(), [1_000, 61_000]);
        assert_eq!(p.traces[1].trace.trace_id, "EA123456785CN-02");
        let jobs = Inner::take_pushes(&mut book, 61_000, None);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].2.len(), 2, "pending traces go together, in order");
        assert!(Inner::take_pushes(&mut book, 61_000, None).is_empty(), "in flight");
        Inner::finish(&mut book, "EA123456785CN", &jobs[0].1, false, 61_000);
        assert!(Inner::take_pushes(&mut book, 61_000, None).is_empty(), "backing off");
        let mut now = 61_000;
        for _ in 1..MAX_PUSH_ATTEMPTS {
            now += 60_000;
            let jobs = Inner::take_pushes(&mut book, now, None);
            assert_eq!(jobs.len(), 1);
            Inner::finish(&mut book, "EA123456785CN", &jobs[0].1, false, now);
        }
        assert!(book.parcels["EA123456785CN"].traces.iter().all(|t| t.push == Push::Dropped));
    }
}
