//! The signed-in citizen's notification centre: list with unread count, mark read.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorBody;
use crate::app::AppState;
use crate::auth::CitizenUser;
use crate::error::{AppError, AppResult};
use crate::i18n::Lang;
use crate::notify::view::NotificationView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(mark_read)).routes(routes!(mark_all_read)).routes(routes!(events))
        .routes(routes!(crate::notify::push::public_key))
        .routes(routes!(crate::notify::push::add, crate::notify::push::remove))
}

#[derive(Serialize, ToSchema)]
pub struct NotificationList {
    pub unread: i64,
    pub items: Vec<NotificationView>,
}

/// The newest notifications (at most 50) and the unread count.
#[utoipa::path(get, path = "/api/v1/me/notifications", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = NotificationList), (status = 401, body = ErrorBody)))]
async fn list(State(state): State<AppState>, CitizenUser(citizen, _): CitizenUser, headers: HeaderMap) -> AppResult<Json<NotificationList>> {
    let lang = Lang::from_headers(&headers);
    let items = state.store.inapp_notifications(&citizen.id, 50).await?.iter().map(|n| NotificationView::of(n, lang)).collect();
    Ok(Json(NotificationList { unread: state.store.unread_count(&citizen.id).await?, items }))
}

/// Marks one of the caller's notifications read (idempotent).
#[utoipa::path(post, path = "/api/v1/me/notifications/{id}/read", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn mark_read(State(state): State<AppState>, CitizenUser(citizen, _): CitizenUser, Path(id): Path<String>) -> AppResult<StatusCode> {
    // Another citizen's id is reported exactly like a missing one.
    if id.len() > 64 || !state.store.mark_read(&citizen.id, &id, state.now_ms()).await? {
        return Err(AppError::not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct MarkedRead {
    /// How many notifications were unread until now.
    pub marked: u64,
}

/// Marks all of the caller's notifications read.
#[utoipa::path(post, path = "/api/v1/me/notifications/read-all", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = MarkedRead), (status = 401, body = ErrorBody)))]
async fn mark_all_read(State(state): State<AppState>, CitizenUser(citizen, _): CitizenUser) -> AppResult<Json<MarkedRead>> {
    Ok(Json(MarkedRead { marked: state.store.mark_all_read(&citizen.id, state.now_ms()).await? }))
}

/// The caller's new notifications, live, as server-sent events (`text/event-stream`): `event: notification`,
/// `id: <notification id>`, `data:` a `LiveEvent` JSON object. Send `Last-Event-ID` when reconnecting to receive
/// what was missed. Idle streams carry a comment line every 15 s. Works across instances: a notification written
/// by any instance reaches a stream open on any other within about a second.
#[utoipa::path(get, path = "/api/v1/me/events", tag = "me", security(("bearer" = [])),
    params(crate::notify::live::StreamQuery, ("Last-Event-ID" = Option<String>, Header, description = "Id of the last event received")),
    responses((status = 200, description = "An event stream of `LiveEvent`s", content_type = "text/event-stream", body = crate::notify::live::LiveEvent),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn events(
    state: State<AppState>,
    user: CitizenUser,
    headers: HeaderMap,
    query: axum::extract::Query<crate::notify::live::StreamQuery>,
) -> AppResult<axum::response::Response> {
    crate::notify::live::stream(state, user, headers, query).await
}
