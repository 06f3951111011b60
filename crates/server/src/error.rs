//! The one error type of the HTTP layer, with stable machine codes and messages in both languages.
//!
//! Handlers return `AppError`; its `IntoResponse` only sets the status and stashes the error in the response
//! extensions. The `render_errors` middleware (in `app.rs`) then writes the body in one place: JSON
//! `{"error":{"code","message"}}` for `/api/*`, an accessible HTML page otherwise, in the caller's language.
//! Bare framework responses (unknown route, wrong method, body too large) are turned into `AppError`s there too.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shenfen_domain::{IdNumberError, PhoneError};
use shenfen_store::StoreError;

use crate::i18n::Lang;

#[derive(Debug, Clone)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message_zh: String,
    pub message_en: String,
    /// The form field at fault, so pages can link the error summary to it.
    pub field: Option<&'static str>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> Self {
        AppError { status, code, message_zh: zh.into(), message_en: en.into(), field: None }
    }

    pub fn on_field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    pub fn message(&self, lang: Lang) -> &str {
        lang.pick(&self.message_zh, &self.message_en)
    }

    pub fn json_body(&self, lang: Lang) -> serde_json::Value {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message(lang) });
        if let Some(f) = self.field {
            error["field"] = f.into();
        }
        serde_json::json!({ "error": error })
    }

    pub fn bad_request(code: &'static str, zh: &str, en: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, zh, en)
    }

    pub fn invalid(code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, zh, en)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "您访问的页面或资源不存在。", "The page or resource does not exist.")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "不支持此请求方法。", "This method is not allowed here.")
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "请先登录。", "Please sign in first.")
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "您没有权限访问此内容。", "You do not have permission to access this.")
    }

    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "表单已过期或来源无法确认，请返回页面刷新后重试。",
            "The form has expired or its origin could not be confirmed. Go back, reload the page and try again.",
        )
    }

    pub fn rate_limited(zh: &str, en: &str) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", zh, en)
    }

    pub fn payload_too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "提交的内容过大。", "The request body is too large.")
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "请求的内容类型不受支持，请使用 application/json。",
            "Unsupported content type; send application/json.",
        )
    }

    pub fn invalid_json(detail: &str) -> Self {
        Self::bad_request("invalid_json", "请求内容不是有效的 JSON 或缺少必填字段。", "The body is not valid JSON or misses a required field.")
            .with_detail_en(detail)
    }

    pub fn unavailable(zh: &str, en: &str) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", zh, en)
    }

    /// The database is unreachable or restarting. A write that failed this way either committed whole or not at
    /// all (each is one transaction), so repeating the request — with its Idempotency-Key where it takes one — is
    /// safe.
    pub fn database_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "服务暂时不可用，请稍后再试。您已提交的数据不会丢失。",
            "The service is briefly unavailable; please try again shortly. Nothing you already submitted is lost.",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "系统繁忙，请稍后再试。您的数据没有丢失。",
            "Something went wrong on our side. Please try again later; nothing you submitted was lost.",
        )
    }

    fn with_detail_en(mut self, detail: &str) -> Self {
        // Only the English message carries parser detail (developers read it); keep it short.
        let detail: String = detail.chars().take(200).collect();
        self.message_en = format!("{} ({detail})", self.message_en);
        self
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message_en)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        res.extensions_mut().insert(self);
        res
    }
}

impl From<IdNumberError> for AppError {
    fn from(e: IdNumberError) -> Self {
        AppError::invalid(e.code(), e.message_zh(), e.message_en()).on_field("id_number")
    }
}

impl From<PhoneError> for AppError {
    fn from(e: PhoneError) -> Self {
        AppError::invalid(e.code(), e.message_zh(), e.message_en()).on_field("phone")
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::not_found(),
            StoreError::Conflict("id_number_bound") => AppError::new(
                StatusCode::CONFLICT,
                "id_number_bound",
                "该身份证号已绑定其他账号。如非本人操作，请携带身份证到户政窗口处理。",
                "This ID number is already bound to another account. If this was not you, visit a counter with your ID card.",
            )
            .on_field("id_number"),
            StoreError::Conflict("phone_taken") => AppError::new(
                StatusCode::CONFLICT,
                "phone_taken",
                "该手机号已被其他账号使用。",
                "This phone number is used by another account.",
            )
            .on_field("phone"),
            StoreError::Conflict("primary_required") => AppError::new(
                StatusCode::CONFLICT,
                "primary_required",
                "请先完成初级实名认证。",
                "Complete primary verification first.",
            ),
            StoreError::Conflict(what) => AppError::new(StatusCode::CONFLICT, "conflict", format!("操作冲突:{what}"), format!("Conflict: {what}")),
            other if other.is_unavailable() => {
                tracing::error!(error = %other, "database unavailable");
                AppError::database_unavailable()
            }
            other => {
                tracing::error!(error = %other, "storage failure");
                AppError::internal()
            }
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        tracing::error!(error = %e, "unexpected failure");
        AppError::internal()
    }
}

pub type AppResult<T> = Result<T, AppError>;
