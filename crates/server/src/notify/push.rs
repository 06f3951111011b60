//! Web Push (Web Push protocol RFC 8030, message encryption RFC 8291, VAPID RFC 8292) for citizens who opt in
//! on the notification centre: each new in-app notification is also pushed to their browsers, where
//! `static/sw.js` shows it even when no page is open.
//!
//! It is a courtesy channel next to the notification centre and the SMS: the one request that created the
//! in-app message pushes it (at most once, since only that request's insert succeeded), with no retry queue; a
//! subscription the push service reports gone (404/410) is deleted. Non-urgent messages are not pushed during
//! quiet hours (the centre has them at once and the SMS follows in the morning).
//!
//! Subscription endpoints are URLs the server will post to, so only the configured push services' hosts (and,
//! in demo mode, this instance's own sandbox push service) are accepted.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use shenfen_gateways::webpush;
use shenfen_store::{PushSubscription, new_id};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::auth::CitizenUser;
use crate::config::Config;
use crate::crypto::Keys;
use crate::error::{AppError, AppResult};
use crate::i18n::Lang;

/// The application server's VAPID identity and the HTTP client for push services.
pub struct WebPush {
    private: [u8; 32],
    public: [u8; 65],
    subject: String,
    ttl_secs: u32,
    allowed_hosts: Vec<String>,
    /// Demo mode: this instance's own origin, where the sandbox push service lives.
    own_origin: Option<String>,
    http: reqwest::Client,
}

impl WebPush {
    /// The configured sender, `None` when push is switched off. Errors on a malformed configured key.
    pub fn from_config(config: &Config, keys: &Keys) -> anyhow::Result<Option<WebPush>> {
        let cfg = &config.notify.push;
        if !cfg.enabled {
            return Ok(None);
        }
        let private: [u8; 32] = match &cfg.vapid_private_key {
            Some(k) => webpush::b64_decode("vapid_private_key", k)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .filter(|b| webpush::is_private_key(b))
                .ok_or_else(|| anyhow::anyhow!("notify.push.vapid_private_key must be a base64url P-256 private key (32 bytes)"))?,
            // A derived 32-byte string is a valid P-256 scalar except with negligible probability; try a few labels.
            None => (0..8).map(|i| keys.derived_secret(&format!("webpush-vapid-{i}"))).find(|k| webpush::is_private_key(k)).ok_or_else(|| anyhow::anyhow!("cannot derive a VAPID key"))?,
        };
        let public = webpush::public_key(&private).map_err(|e| anyhow::anyhow!("VAPID key: {e}"))?;
        let http = reqwest::Client::builder().timeout(Duration::from_millis(cfg.timeout_ms)).redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(Some(WebPush {
            private,
            public,
            subject: cfg.subject.clone(),
            ttl_secs: cfg.ttl_secs,
            allowed_hosts: cfg.allowed_endpoint_hosts.clone(),
            own_origin: config.demo.then(|| config.public_url.trim_end_matches('/').to_string()),
            http,
        }))
    }

    /// The `applicationServerKey` browsers subscribe with (base64url, uncompressed point).
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public)
    }

    /// Whether the server may post to this endpoint: https to a configured push service host, or (demo) this
    /// instance's own sandbox push service.
    pub fn endpoint_allowed(&self, endpoint: &str) -> bool {
        if endpoint.len() > 1024 || endpoint.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return false;
        }
        let Some(origin) = webpush::audience(endpoint) else { return false };
        if let Some(own) = &self.own_origin
            && origin == *own
        {
            return endpoint[own.len()..].starts_with("/sandbox/push/");
        }
        let Some(host) = origin.strip_prefix("https://") else { return false };
        let host = host.split(':').next().unwrap_or_default().to_ascii_lowercase();
        self.allowed_hosts.iter().any(|h| if let Some(suffix) = h.strip_prefix('.') { host.ends_with(&format!(".{suffix}")) } else { host == *h })
    }

    /// Encrypts and posts one message. `Err(true)` means the subscription is gone for good.
    async fn send(&self, sub: &PushSubscription, payload: &[u8], urgent: bool, now_secs: i64) -> Result<(), (bool, String)> {
        let ua_public = webpush::b64_decode("p256dh", &sub.p256dh).map_err(|e| (true, e.code().to_string()))?;
        let auth = webpush::b64_decode("auth", &sub.auth).map_err(|e| (true, e.code().to_string()))?;
        let mut ephemeral = [0u8; 32];
        loop {
            rand::thread_rng().fill_bytes(&mut ephemeral);
            if webpush::is_private_key(&ephemeral) {
                break;
            }
        }
        let mut salt = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut salt);
        let body = webpush::encrypt(payload, &ua_public, &auth, &ephemeral, &salt).map_err(|e| (true, e.code().to_string()))?;
        let aud = webpush::audience(&sub.endpoint).ok_or((true, "bad endpoint".to_string()))?;
        let authorization = webpush::vapid_authorization(&self.private, &aud, &self.subject, now_secs + 12 * 3600).map_err(|e| (false, e.code().to_string()))?;
        let res = self
            .http
            .post(&sub.endpoint)
            .header("authorization", authorization)
            .header("ttl", self.ttl_secs.to_string())
            .header("urgency", if urgent { "high" } else { "normal" })
            .header("content-encoding", "aes128gcm")
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| (false, format!("request failed: {e}")))?;
        match res.status().as_u16() {
            200..=299 => Ok(()),
            404 | 410 => Err((true, format!("HTTP {}", res.status().as_u16()))),
            s => Err((false, format!("HTTP {s}"))),
        }
    }
}

/// What the service worker receives (decrypted), to show as a system notification.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PushPayload {
    pub id: String,
    pub title: String,
    pub body: String,
    pub href: String,
    pub lang: String,
}

/// Pushes a freshly created in-app notification to the citizen's subscriptions, in the background.
pub fn push_new(state: &AppState, citizen_id: &str, notification_id: String, urgent: bool) {
    let Some(sender) = state.web_push.clone() else { return };
    let (state, citizen_id) = (state.clone(), citizen_id.to_string());
    tokio::spawn(async move {
        let subs = match state.store.push_subscriptions(&citizen_id).await {
            Ok(s) if s.is_empty() => return,
            Ok(s) => s,
            Err(e) => return tracing::warn!(error = %e, "push subscriptions not read"),
        };
        let n = match state.store.notification(&notification_id).await {
            Ok(Some(n)) => n,
            _ => return,
        };
        for sub in subs {
            let lang = Lang::parse(&sub.lang).unwrap_or_default();
            let view = super::view::NotificationView::of(&n, lang);
            let payload = PushPayload {
                id: n.id.clone(),
                title: lang.t("home.title").to_string(),
                body: view.text,
                href: view.href.unwrap_or_else(|| "/me/notifications".into()),
                lang: lang.code().to_string(),
            };
            let Ok(bytes) = serde_json::to_vec(&payload) else { continue };
            let now = state.now_ms();
            // The token's expiry is checked by the push service against its own (real) clock.
            let wall = time::OffsetDateTime::now_utc().unix_timestamp();
            match sender.send(&sub, &bytes, urgent, wall).await {
                Ok(()) => {
                    let _ = state.store.record_push_result(&sub.id, true, now).await;
                    metrics::counter!("web_push_sent_total").increment(1);
                }
                Err((true, reason)) => {
                    tracing::info!(reason = %reason, "push subscription gone; removed");
                    let _ = state.store.delete_push_subscription(None, &sub.endpoint).await;
                }
                Err((false, reason)) => {
                    tracing::warn!(reason = %reason, "web push not delivered");
                    let _ = state.store.record_push_result(&sub.id, false, now).await;
                }
            }
        }
    });
}

// ----- subscribing ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct SubscriptionKeys {
    /// The browser's P-256 public key, base64url (65 bytes decoded).
    pub p256dh: String,
    /// The auth secret, base64url (16 bytes decoded).
    pub auth: String,
}

/// A `PushSubscription` as the browser's `toJSON()` gives it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SubscriptionInput {
    pub endpoint: String,
    pub keys: SubscriptionKeys,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UnsubscribeInput {
    pub endpoint: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PushKey {
    /// The VAPID public key to pass as `applicationServerKey` to `pushManager.subscribe`.
    pub public_key: String,
}

fn push_off() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "push_disabled", "本服务未开启推送通知。", "Push notifications are not enabled on this service.")
}

fn invalid_subscription(en: &str) -> AppError {
    AppError::invalid("push_subscription_invalid", "推送订阅信息无效。", format!("Invalid push subscription: {en}."))
}

/// Checks and stores a subscription for the signed-in citizen (the page and the API share this).
pub async fn subscribe(state: &AppState, citizen_id: &str, lang: Lang, input: SubscriptionInput) -> AppResult<()> {
    let sender = state.web_push.as_ref().ok_or_else(push_off)?;
    if !sender.endpoint_allowed(&input.endpoint) {
        return Err(invalid_subscription("the endpoint is not a known push service"));
    }
    let key = webpush::b64_decode("p256dh", &input.keys.p256dh).map_err(|_| invalid_subscription("p256dh is not base64url"))?;
    if key.len() != 65 || key[0] != 4 || webpush::encrypt(b"", &key, &[0; 16], &sender.private, &[0; 16]).is_err() {
        return Err(invalid_subscription("p256dh is not a P-256 public key"));
    }
    if webpush::b64_decode("auth", &input.keys.auth).map(|a| a.len()) != Ok(16) {
        return Err(invalid_subscription("auth must be 16 bytes"));
    }
    let sub = PushSubscription {
        id: new_id(),
        citizen_id: citizen_id.to_string(),
        endpoint: input.endpoint,
        p256dh: input.keys.p256dh,
        auth: input.keys.auth,
        lang: lang.code().to_string(),
        created_at: state.now_ms(),
        last_success_at: None,
        failures: 0,
    };
    match state.store.save_push_subscription(&sub, state.config.notify.push.max_subscriptions_per_citizen).await {
        Ok(_) => Ok(()),
        Err(shenfen_store::StoreError::Conflict(_)) => Err(AppError::new(
            StatusCode::CONFLICT,
            "too_many_subscriptions",
            "开启推送的设备过多，请先在其他设备上关闭。",
            "Too many devices receive push notifications; turn them off on another device first.",
        )),
        Err(e) => Err(e.into()),
    }
}

/// The VAPID public key (`applicationServerKey`).
#[utoipa::path(get, path = "/api/v1/push/public-key", tag = "me", responses((status = 200, body = PushKey), (status = 404, body = crate::api::ErrorBody)))]
pub async fn public_key(State(state): State<AppState>) -> AppResult<Json<PushKey>> {
    let sender = state.web_push.as_ref().ok_or_else(push_off)?;
    Ok(Json(PushKey { public_key: sender.public_key() }))
}

/// Opts this browser or device in to Web Push (the body is `PushSubscription.toJSON()`).
#[utoipa::path(post, path = "/api/v1/me/push-subscriptions", tag = "me", security(("bearer" = [])), request_body = SubscriptionInput,
    responses((status = 204), (status = 401, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)))]
pub async fn add(State(state): State<AppState>, CitizenUser(citizen, _): CitizenUser, headers: axum::http::HeaderMap, crate::api::ApiJson(input): crate::api::ApiJson<SubscriptionInput>) -> AppResult<StatusCode> {
    subscribe(&state, &citizen.id, Lang::from_headers(&headers), input).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Opts a browser or device out.
#[utoipa::path(delete, path = "/api/v1/me/push-subscriptions", tag = "me", security(("bearer" = [])), request_body = UnsubscribeInput,
    responses((status = 204), (status = 401, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn remove(State(state): State<AppState>, CitizenUser(citizen, _): CitizenUser, crate::api::ApiJson(input): crate::api::ApiJson<UnsubscribeInput>) -> AppResult<StatusCode> {
    if input.endpoint.len() > 1024 || !state.store.delete_push_subscription(Some(&citizen.id), &input.endpoint).await? {
        return Err(AppError::not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
