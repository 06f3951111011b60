//! Live delivery of in-app notifications to open pages by server-sent events, across instances.
//!
//! A notification may be written by any instance, while the citizen's page holds its stream open on another.
//! Each instance therefore runs one [`LiveHub`]: while anyone listens, it reads the notifications table once per
//! `poll_ms` for *all* its subscribers (`created_at >= cursor − overlap`, skipping ids already seen, so rows
//! committed late or stamped by a slightly different clock are not missed) and hands each new row to the streams
//! of that citizen. An enqueue on this instance wakes the hub at once. Nothing here is kept across restarts: a
//! reconnecting browser sends `Last-Event-ID`, and the stream replays what it missed from the table.
//!
//! Streams: `GET /me/events` (cookie session, used by `static/live.js`) and `GET /api/v1/me/events` (bearer).
//! Each event is `event: notification`, `id: <notification id>`, `data: <NotificationView JSON + unread>`;
//! idle streams carry a comment every `heartbeat_ms`; a stream ends when the session ends or after
//! `stream_max_secs` (the browser reconnects by itself).

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::{CACHE_CONTROL, HeaderValue};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shenfen_store::{Channel, DynStore, Notification};
use tokio::sync::{Notify, broadcast, mpsc};

use super::view::NotificationView;
use crate::app::{AppState, Clock};
use crate::auth::CitizenUser;
use crate::config::LiveConfig;
use crate::error::AppError;
use crate::i18n::Lang;

/// Rows read per look; a fuller page means more are waiting and the hub reads on at once.
const PAGE: u32 = 1_000;
/// Most notifications replayed to a reconnecting stream.
const REPLAY: u32 = 100;
/// How far back a fresh page may ask to be caught up (`?since=`): the render time of a page, not history.
const SINCE_MAX_MS: i64 = 10 * 60 * 1000;

/// This instance's fan-out point for live notifications.
#[derive(Clone)]
pub struct LiveHub(Arc<HubInner>);

struct HubInner {
    store: DynStore,
    clock: Clock,
    config: LiveConfig,
    subscribers: Mutex<HashMap<String, broadcast::Sender<Arc<Notification>>>>,
    wake: Notify,
    started: AtomicBool,
}

impl LiveHub {
    pub fn new(store: DynStore, clock: Clock, config: LiveConfig) -> LiveHub {
        LiveHub(Arc::new(HubInner { store, clock, config, subscribers: Mutex::new(HashMap::new()), wake: Notify::new(), started: AtomicBool::new(false) }))
    }

    /// Something was enqueued here: look now rather than at the next tick.
    pub fn poke(&self) {
        self.0.wake.notify_one();
    }

    /// Streams open on this instance (all citizens).
    pub fn listeners(&self) -> usize {
        self.0.subscribers.lock().unwrap_or_else(|p| p.into_inner()).values().map(|s| s.receiver_count()).sum()
    }

    /// A receiver of the citizen's new notifications, or `None` when they already hold the most streams allowed.
    fn subscribe(&self, citizen_id: &str) -> Option<broadcast::Receiver<Arc<Notification>>> {
        let rx = {
            let mut subs = self.0.subscribers.lock().unwrap_or_else(|p| p.into_inner());
            let tx = subs.entry(citizen_id.to_string()).or_insert_with(|| broadcast::channel(64).0);
            if tx.receiver_count() >= self.0.config.max_streams_per_citizen {
                return None;
            }
            tx.subscribe()
        };
        // The poller runs only on instances where someone has listened (a worker-only instance never polls).
        if !self.0.started.swap(true, Ordering::SeqCst) {
            let hub = self.clone();
            tokio::spawn(async move { hub.run().await });
        }
        Some(rx)
    }

    async fn run(self) {
        let inner = &self.0;
        let overlap = inner.config.overlap_ms;
        // The newest creation time seen; each look starts `overlap` before it.
        let mut newest = inner.clock.now_ms();
        let mut seen: HashMap<String, i64> = HashMap::new();
        let idle = Duration::from_millis(inner.config.poll_ms);
        loop {
            let listening = {
                let mut subs = inner.subscribers.lock().unwrap_or_else(|p| p.into_inner());
                subs.retain(|_, tx| tx.receiver_count() > 0);
                !subs.is_empty()
            };
            if listening {
                let mut since = newest - overlap;
                loop {
                    let rows = match inner.store.inapp_created_since(since, PAGE).await {
                        Ok(rows) => rows,
                        Err(e) => {
                            tracing::warn!(error = %e, "live hub could not read notifications; will retry");
                            break;
                        }
                    };
                    let full = rows.len() == PAGE as usize;
                    for n in rows {
                        newest = newest.max(n.created_at);
                        since = since.max(n.created_at);
                        if seen.insert(n.id.clone(), n.created_at).is_none() {
                            let subs = inner.subscribers.lock().unwrap_or_else(|p| p.into_inner());
                            if let Some(tx) = subs.get(&n.citizen_id) {
                                // No receiver left is fine: the stream just closed.
                                let _ = tx.send(Arc::new(n));
                            }
                        }
                    }
                    if !full {
                        break;
                    }
                }
                seen.retain(|_, at| *at >= newest - overlap);
            } else {
                // Nobody listens: nothing to remember. A stream that opens later replays from the table itself.
                seen.clear();
                newest = newest.max(inner.clock.now_ms());
            }
            tokio::select! {
                _ = inner.wake.notified() => {}
                _ = tokio::time::sleep(idle) => {}
            }
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// UTC ms the page was rendered at: notifications created after it are sent first (at most 10 minutes back).
    pub since: Option<i64>,
}

/// What each `notification` event carries: the notification as the notification centre shows it, plus the
/// citizen's unread count after it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LiveEvent {
    #[serde(flatten)]
    pub notification: NotificationView,
    pub unread: i64,
}

/// `GET /me/events` for pages (cookie session). Same stream as the API's.
pub async fn page_stream(state: State<AppState>, user: CitizenUser, headers: HeaderMap, query: Query<StreamQuery>) -> Result<Response, AppError> {
    stream(state, user, headers, query).await
}

/// The signed-in citizen's live notifications as `text/event-stream`.
pub async fn stream(State(state): State<AppState>, CitizenUser(citizen, user): CitizenUser, headers: HeaderMap, Query(q): Query<StreamQuery>) -> Result<Response, AppError> {
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    if last_event_id.is_some_and(|v| v.len() > 64) {
        return Err(AppError::bad_request("last_event_id_invalid", "Last-Event-ID 无效。", "Invalid Last-Event-ID."));
    }
    let Some(rx) = state.live.subscribe(&citizen.id) else {
        return Err(AppError::rate_limited("打开的消息推送连接过多，请关闭部分页面后再试。", "Too many live message streams are open; close some pages and try again."));
    };
    let token_hash = user.token_hash.clone().ok_or_else(AppError::unauthorized)?;
    let conn = Connection {
        state: state.clone(),
        citizen_id: citizen.id.clone(),
        token_hash,
        lang: Lang::from_headers(&headers),
        last_event_id: last_event_id.map(str::to_string),
        since: q.since,
    };
    let (tx, out) = mpsc::channel::<Event>(32);
    tokio::spawn(conn.run(rx, tx));
    let events = futures_util::stream::unfold(out, |mut out| async move { out.recv().await.map(|e| (Ok::<_, Infallible>(e), out)) });
    let mut res = Sse::new(events).into_response();
    // Proxies must pass events through as they come.
    res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

struct Connection {
    state: AppState,
    citizen_id: String,
    token_hash: String,
    lang: Lang,
    last_event_id: Option<String>,
    since: Option<i64>,
}

/// Ids recently sent on one stream, so replay and live delivery never send one twice.
struct Sent {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl Sent {
    fn insert(&mut self, id: &str) -> bool {
        if !self.ids.insert(id.to_string()) {
            return false;
        }
        self.order.push_back(id.to_string());
        if self.order.len() > 512
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }
}

impl Connection {
    async fn run(self, mut rx: broadcast::Receiver<Arc<Notification>>, tx: mpsc::Sender<Event>) {
        let cfg = self.state.config.notify.live.clone();
        let mut sent = Sent { order: VecDeque::new(), ids: HashSet::new() };
        // Tell the browser how soon to reconnect when the stream ends.
        if tx.send(Event::default().retry(Duration::from_secs(3))).await.is_err() {
            return;
        }
        // Subscribed before replaying: whatever arrives meanwhile is in `rx` and de-duplicated by `sent`.
        let mut last_at = match self.replay(&tx, &mut sent).await {
            Ok(Some(at)) => at,
            Ok(None) => self.state.now_ms(),
            Err(()) => return,
        };
        let heartbeat = Duration::from_millis(cfg.heartbeat_ms);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(cfg.stream_max_secs);
        // The session is re-checked about once a minute (and at least every fourth heartbeat).
        let check_every = ((60_000 / cfg.heartbeat_ms.max(1)) as u32).clamp(1, 4);
        let mut beats = 0u32;
        loop {
            tokio::select! {
                got = rx.recv() => match got {
                    Ok(n) => {
                        last_at = last_at.max(n.created_at);
                        if self.send(&tx, &mut sent, &n).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // A storm outran this stream: catch up from the table.
                        let Ok(rows) = self.state.store.inapp_since(&self.citizen_id, last_at - cfg.overlap_ms, REPLAY).await else { return };
                        for n in rows {
                            last_at = last_at.max(n.created_at);
                            if self.send(&tx, &mut sent, &n).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tokio::time::sleep(heartbeat) => {
                    beats += 1;
                    if beats.is_multiple_of(check_every) {
                        match self.state.store.session(&self.token_hash, self.state.now_ms()).await {
                            Ok(Some(_)) => {}
                            // Signed out or expired: end the stream (the browser's reconnect then gets 401).
                            Ok(None) => return,
                            Err(e) => tracing::warn!(error = %e, "live stream could not re-check its session"),
                        }
                    }
                    if tx.send(Event::default().comment("keep-alive")).await.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tx.closed() => return,
            }
        }
    }

    /// Sends what the stream missed: after the `Last-Event-ID` notification on a reconnect, or after the page's
    /// render time. Returns the newest creation time sent.
    async fn replay(&self, tx: &mpsc::Sender<Event>, sent: &mut Sent) -> Result<Option<i64>, ()> {
        let store = &self.state.store;
        let now = self.state.now_ms();
        // (creation time, id) strictly after which to replay; the stream sends in that order.
        let after = match &self.last_event_id {
            Some(id) => match store.notification(id).await {
                Ok(Some(n)) if n.citizen_id == self.citizen_id && n.channel == Channel::InApp => Some((n.created_at, n.id)),
                Ok(_) => None,
                Err(_) => return Err(()),
            },
            None => self.since.map(|s| (s.clamp(now - SINCE_MAX_MS, now), String::from("\u{10FFFF}"))),
        };
        let Some((at, id)) = after else { return Ok(None) };
        let rows = store.inapp_since(&self.citizen_id, at, REPLAY).await.map_err(|_| ())?;
        let mut newest = None;
        for n in rows.iter().filter(|n| (n.created_at, n.id.as_str()) > (at, id.as_str())) {
            newest = Some(n.created_at);
            self.send(tx, sent, n).await?;
        }
        Ok(newest.or(Some(at)))
    }

    async fn send(&self, tx: &mpsc::Sender<Event>, sent: &mut Sent, n: &Notification) -> Result<(), ()> {
        if !sent.insert(&n.id) {
            return Ok(());
        }
        let unread = self.state.store.unread_count(&self.citizen_id).await.unwrap_or_default();
        let event = LiveEvent { notification: NotificationView::of(n, self.lang), unread };
        let data = serde_json::to_string(&event).map_err(|_| ())?;
        tx.send(Event::default().event("notification").id(n.id.clone()).data(data)).await.map_err(|_| ())
    }
}
