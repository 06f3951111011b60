//! The citizen's notification centre (消息中心): newest first, unread marked, mark one or all read with plain
//! forms, each message linking to what it is about. Live arrival is `static/live.js` over `/me/events`; without
//! JavaScript the page simply shows the state when it is loaded.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::require_citizen;
use super::{PageCtx, format_cst, render, safe_back};
use crate::app::AppState;
use crate::auth::MaybeUser;
use crate::error::AppError;
use crate::notify::view::NotificationView;

/// How many notifications the page lists (the newest).
const SHOWN: u32 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/notifications", get(centre))
        .route("/me/notifications/read-all", post(read_all))
        .route("/me/notifications/{id}/read", post(read_one))
        .route("/me/events", get(crate::notify::live::page_stream))
        // Same handlers as the API's; from a page the CSRF token travels in the `csrf` query parameter.
        .route("/me/push-subscriptions", post(crate::notify::push::add).delete(crate::notify::push::remove))
        .route("/static/push.js", get(|| async { ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")], include_str!("../../static/push.js")) }))
        // The service worker lives at the root so that its scope is the whole site.
        .route("/sw.js", get(|| async { ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "no-cache")], include_str!("../../static/sw.js")) }))
        .route("/static/live.js", get(|| async { ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")], include_str!("../../static/live.js")) }))
}

pub struct Item {
    pub view: NotificationView,
    pub at: String,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct CentrePage<'a> {
    p: &'a PageCtx,
    items: Vec<Item>,
    unread: i64,
    /// The VAPID public key for the Web Push opt-in (empty when push is off).
    push_key: String,
}

async fn centre(State(state): State<AppState>, p: PageCtx, user: MaybeUser) -> Result<Response, AppError> {
    let c = match require_citizen(&user, &p.path) {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let items = state
        .store
        .inapp_notifications(&c.id, SHOWN)
        .await?
        .iter()
        .map(|n| Item { view: NotificationView::of(n, p.lang), at: format_cst(n.created_at) })
        .collect();
    let unread = p.unread.unwrap_or_default();
    let push_key = state.web_push.as_ref().map(|w| w.public_key()).unwrap_or_default();
    Ok(render(&CentrePage { p: &p, items, unread, push_key }))
}

#[derive(Deserialize)]
struct BackForm {
    back: Option<String>,
}

/// After marking, back to where the form was (the centre by default), to the item itself.
fn back_to(back: Option<&str>, anchor: Option<&str>) -> Response {
    let back = match back {
        Some(b) => safe_back(Some(b)),
        None => "/me/notifications".to_string(),
    };
    let target = match anchor {
        Some(a) if !back.contains('#') => format!("{back}#n-{a}"),
        _ => back,
    };
    Redirect::to(&target).into_response()
}

async fn read_one(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Path(id): Path<String>, Form(f): Form<BackForm>) -> Result<Response, AppError> {
    let c = match require_citizen(&user, &p.path) {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    // Someone else's id is "not found", exactly like a missing one.
    if id.len() > 64 || !state.store.mark_read(&c.id, &id, state.now_ms()).await? {
        return Err(AppError::not_found());
    }
    Ok(back_to(f.back.as_deref(), Some(&id)))
}

async fn read_all(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<BackForm>) -> Result<Response, AppError> {
    let c = match require_citizen(&user, &p.path) {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    state.store.mark_all_read(&c.id, state.now_ms()).await?;
    Ok(back_to(f.back.as_deref(), None))
}
