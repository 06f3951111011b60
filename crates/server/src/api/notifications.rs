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
use crate::notify::Template;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(mark_read))
}

#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    /// Event kind, e.g. `appointment_booked`.
    pub kind: String,
    /// The text in the caller's language (`Accept-Language` / `sf_lang`).
    pub text: String,
    /// UTC milliseconds.
    pub created_at: i64,
    pub read: bool,
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
    let rows = state.store.inapp_notifications(&citizen.id, 50).await?;
    let items = rows
        .into_iter()
        .map(|n| {
            // Stored variables were checked at enqueue; a row from a retired template still shows, untranslated.
            let text = Template::by_name(&n.template)
                .and_then(|t| serde_json::from_str(&n.vars).ok().and_then(|v| t.render(lang, &v).ok()))
                .unwrap_or_else(|| n.template.clone());
            NotificationView { id: n.id, kind: n.event_kind, text, created_at: n.created_at, read: n.read_at.is_some() }
        })
        .collect();
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
