//! A sandbox Web Push service, with the browser's half built in: it hands out subscriptions as
//! `pushManager.subscribe()` would (its own P-256 key pair and auth secret per subscription), accepts pushed
//! messages the way a push service does — VAPID checked (ES256 signature, audience, expiry, and the key the
//! subscription was made for), `TTL` and `Content-Encoding: aes128gcm` required, at most 4096 bytes — then
//! decrypts them with the subscription's private key (RFC 8291) and records what arrived for tests and the demo.
//!
//! Demo instances mount it under `/sandbox/push/`. State is in memory and bounded.
//!
//! * `POST /sandbox/push/subscriptions` `{ "application_server_key": "<base64url>" }` → `201 { endpoint, keys: { p256dh, auth } }`
//! * `POST /sandbox/push/{id}` — the push message → `201`; `404` unknown, `410` unsubscribed, `403` bad VAPID,
//!   `400` not decryptable, `413` too large
//! * `DELETE /sandbox/push/{id}` — the browser unsubscribes (later messages get `410 Gone`)
//! * `GET /sandbox/push/{id}/messages` — what arrived, decrypted

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::json;
use shenfen_gateways::webpush;

const MAX_SUBSCRIPTIONS: usize = 1_000;
const MAX_MESSAGES: usize = 100;

#[derive(Clone)]
pub struct PushSandbox(Arc<Inner>);

struct Inner {
    /// This instance's origin: the audience VAPID tokens must name.
    origin: String,
    subs: Mutex<HashMap<String, Sub>>,
}

struct Sub {
    ua_private: [u8; 32],
    auth: [u8; 16],
    server_key: Vec<u8>,
    gone: bool,
    messages: Vec<serde_json::Value>,
}

impl PushSandbox {
    pub fn new(public_url: &str) -> PushSandbox {
        let origin = webpush::audience(public_url).unwrap_or_else(|| public_url.trim_end_matches('/').to_string());
        PushSandbox(Arc::new(Inner { origin, subs: Mutex::new(HashMap::new()) }))
    }
}

pub fn router<S: Clone + Send + Sync + 'static>(sandbox: PushSandbox) -> Router<S> {
    Router::new()
        .route("/sandbox/push/subscriptions", post(subscribe))
        .route("/sandbox/push/{id}", post(receive).delete(unsubscribe))
        .route("/sandbox/push/{id}/messages", get(messages))
        .with_state(sandbox)
}

fn error(status: StatusCode, reason: &str) -> Response {
    (status, axum::Json(json!({ "code": status.as_u16(), "errno": 0, "error": status.canonical_reason(), "message": reason }))).into_response()
}

async fn subscribe(State(s): State<PushSandbox>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else { return error(StatusCode::BAD_REQUEST, "body must be JSON") };
    let Some(server_key) = req["application_server_key"].as_str().and_then(|k| webpush::b64_decode("application_server_key", k).ok()).filter(|k| k.len() == 65) else {
        return error(StatusCode::BAD_REQUEST, "application_server_key must be a base64url P-256 public key");
    };
    let mut ua_private = [0u8; 32];
    loop {
        rand::thread_rng().fill_bytes(&mut ua_private);
        if webpush::is_private_key(&ua_private) {
            break;
        }
    }
    let mut auth = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut auth);
    let Ok(p256dh) = webpush::public_key(&ua_private) else { return error(StatusCode::INTERNAL_SERVER_ERROR, "key generation failed") };
    let id = uuid::Uuid::now_v7().simple().to_string();
    {
        let mut subs = s.0.subs.lock().unwrap_or_else(|p| p.into_inner());
        if subs.len() >= MAX_SUBSCRIPTIONS {
            return error(StatusCode::TOO_MANY_REQUESTS, "sandbox subscription limit reached");
        }
        subs.insert(id.clone(), Sub { ua_private, auth, server_key, gone: false, messages: Vec::new() });
    }
    let endpoint = format!("{}/sandbox/push/{id}", s.0.origin);
    (StatusCode::CREATED, axum::Json(json!({ "endpoint": endpoint, "keys": { "p256dh": URL_SAFE_NO_PAD.encode(p256dh), "auth": URL_SAFE_NO_PAD.encode(auth) } }))).into_response()
}

async fn receive(State(s): State<PushSandbox>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (ua_private, auth, server_key) = {
        let subs = s.0.subs.lock().unwrap_or_else(|p| p.into_inner());
        match subs.get(&id) {
            None => return error(StatusCode::NOT_FOUND, "no such subscription"),
            Some(sub) if sub.gone => return error(StatusCode::GONE, "the subscription has expired or was unsubscribed"),
            Some(sub) => (sub.ua_private, sub.auth, sub.server_key.clone()),
        }
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = match webpush::verify_vapid(&header("authorization").unwrap_or_default(), &s.0.origin, now) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::UNAUTHORIZED, &format!("VAPID: {e}")),
    };
    if claims.public_key != server_key {
        return error(StatusCode::FORBIDDEN, "the VAPID key is not the one this subscription was made for");
    }
    let Some(ttl) = header("ttl").and_then(|t| t.parse::<u64>().ok()) else { return error(StatusCode::BAD_REQUEST, "TTL header required") };
    if header("content-encoding").as_deref() != Some("aes128gcm") {
        return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Encoding must be aes128gcm");
    }
    if body.len() > webpush::RECORD_SIZE as usize {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "at most 4096 bytes");
    }
    let plaintext = match webpush::decrypt(&body, &ua_private, &auth) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("cannot decrypt: {e}")),
    };
    let payload = serde_json::from_slice::<serde_json::Value>(&plaintext).unwrap_or_else(|_| json!(String::from_utf8_lossy(&plaintext)));
    let mut subs = s.0.subs.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(sub) = subs.get_mut(&id) {
        if sub.messages.len() >= MAX_MESSAGES {
            sub.messages.remove(0);
        }
        sub.messages.push(json!({ "payload": payload, "ttl": ttl, "urgency": header("urgency"), "sub": claims.sub }));
    }
    (StatusCode::CREATED, [("location", format!("/sandbox/push/{id}/messages"))]).into_response()
}

async fn unsubscribe(State(s): State<PushSandbox>, Path(id): Path<String>) -> Response {
    match s.0.subs.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&id) {
        Some(sub) => {
            sub.gone = true;
            StatusCode::NO_CONTENT.into_response()
        }
        None => error(StatusCode::NOT_FOUND, "no such subscription"),
    }
}

async fn messages(State(s): State<PushSandbox>, Path(id): Path<String>) -> Response {
    match s.0.subs.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
        Some(sub) => axum::Json(json!(sub.messages)).into_response(),
        None => error(StatusCode::NOT_FOUND, "no such subscription"),
    }
}
