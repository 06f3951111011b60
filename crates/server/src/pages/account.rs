//! Citizen pages: SMS sign-in, my account, real-name verification, phone-number change.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use shenfen_store::{SessionChannel, Verification};

use super::{FieldError, PageCtx, render, render_status, require_citizen, safe_back, with_cookie};
use crate::accounts;
use crate::app::AppState;
use crate::auth::{MaybeUser, SESSION_COOKIE};
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-in", get(sign_in_form).post(sign_in))
        .route("/sign-in/code", post(send_code))
        .route("/sign-out", post(sign_out))
        .route("/me", get(me))
        .route("/me/verify", get(verify_form).post(verify))
        .route("/me/verify-face", get(face_form).post(face))
        .route("/me/phone", get(phone_form).post(phone_send_code))
        .route("/me/phone/confirm", post(phone_confirm))
}

fn status_of(e: &AppError) -> StatusCode {
    e.status
}

pub fn session_cookie(state: &AppState, token: &str, max_age_secs: i64) -> String {
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}


#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    p: &'a PageCtx,
    next: String,
    phone: String,
    errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "sign_in_code.html")]
struct CodePage<'a> {
    p: &'a PageCtx,
    next: String,
    phone: String,
    phone_masked: String,
    errors: Vec<FieldError>,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn sign_in_form(p: PageCtx, Query(q): Query<NextQuery>) -> Response {
    render(&SignInPage { p: &p, next: safe_back(q.next.as_deref()), phone: String::new(), errors: vec![] })
}

#[derive(Deserialize)]
struct PhoneForm {
    phone: String,
    next: Option<String>,
}

async fn send_code(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<PhoneForm>) -> Response {
    let next = safe_back(f.next.as_deref());
    match accounts::send_sign_in_code(&state, &f.phone, &user.ip).await {
        Ok(phone) => render(&CodePage { p: &p, next, phone: phone.as_str().to_string(), phone_masked: phone.masked(), errors: vec![] }),
        Err(e) => render_status(status_of(&e), &SignInPage { p: &p, next, phone: f.phone, errors: vec![FieldError::from_app(&e, p.lang, "phone")] }),
    }
}

#[derive(Deserialize)]
struct CodeForm {
    phone: String,
    code: String,
    next: Option<String>,
}

async fn sign_in(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<CodeForm>) -> Response {
    let next = safe_back(f.next.as_deref());
    match accounts::sign_in_with_code(&state, &f.phone, &f.code, SessionChannel::Cookie, &user.ip).await {
        Ok((session, _)) => {
            let max_age = (session.expires_at - state.now_ms()) / 1000;
            let target = if next == "/" { "/me".to_string() } else { next };
            with_cookie(Redirect::to(&target).into_response(), session_cookie(&state, &session.token, max_age))
        }
        Err(e) => {
            let masked = shenfen_domain::MobileNumber::parse(&f.phone).map(|m| m.masked()).unwrap_or_default();
            let page = CodePage { p: &p, next, phone: f.phone.clone(), phone_masked: masked, errors: vec![FieldError::from_app(&e, p.lang, "code")] };
            render_status(status_of(&e), &page)
        }
    }
}

async fn sign_out(State(state): State<AppState>, user: MaybeUser) -> Result<Response, AppError> {
    if let Some(hash) = &user.token_hash {
        accounts::sign_out(&state, hash).await?;
    }
    Ok(with_cookie(Redirect::to("/").into_response(), session_cookie(&state, "", 0)))
}

#[derive(Template)]
#[template(path = "me.html")]
struct MePage<'a> {
    p: &'a PageCtx,
    phone_masked: String,
    level: Verification,
    name_masked: String,
    id_masked: String,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn me(p: PageCtx, user: MaybeUser, Query(q): Query<DoneQuery>) -> Response {
    let c = match require_citizen(&user, &p.path) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let notice = match q.done.as_deref() {
        Some("phone") => Some(p.t("phone.done")),
        _ => None,
    };
    render(&MePage {
        p: &p,
        phone_masked: shenfen_domain::MobileNumber::parse(&c.phone).map(|m| m.masked()).unwrap_or_default(),
        level: c.verification,
        name_masked: c.name_masked.clone().unwrap_or_default(),
        id_masked: c.id_number_masked.clone().unwrap_or_default(),
        notice,
    })
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage<'a> {
    p: &'a PageCtx,
    name: String,
    errors: Vec<FieldError>,
}

async fn verify_form(p: PageCtx, user: MaybeUser) -> Response {
    if let Err(r) = require_citizen(&user, &p.path) {
        return r;
    }
    render(&VerifyPage { p: &p, name: String::new(), errors: vec![] })
}

#[derive(Deserialize)]
struct VerifyForm {
    name: String,
    id_number: String,
}

async fn verify(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<VerifyForm>) -> Response {
    let c = match require_citizen(&user, &p.path) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match accounts::verify_primary(&state, &c, &f.name, &f.id_number, &user.actor()).await {
        Ok(_) => Redirect::to("/me").into_response(),
        // The ID number is not echoed back into the page: the person retypes it.
        Err(e) => render_status(status_of(&e), &VerifyPage { p: &p, name: f.name, errors: vec![FieldError::from_app(&e, p.lang, "name")] }),
    }
}

#[derive(Template)]
#[template(path = "verify_face.html")]
struct FacePage<'a> {
    p: &'a PageCtx,
    errors: Vec<FieldError>,
}

async fn face_form(p: PageCtx, user: MaybeUser) -> Response {
    match require_citizen(&user, &p.path) {
        Ok(c) if c.verification == Verification::None => Redirect::to("/me/verify").into_response(),
        Ok(_) => render(&FacePage { p: &p, errors: vec![] }),
        Err(r) => r,
    }
}

async fn face(State(state): State<AppState>, p: PageCtx, user: MaybeUser, mut multipart: Multipart) -> Response {
    let c = match require_citizen(&user, &p.path) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let limit = state.config.limits.max_upload_bytes;
    let mut image: Option<Vec<u8>> = None;
    let result: Result<(), AppError> = async {
        while let Some(field) = multipart.next_field().await.map_err(|_| AppError::bad_request("multipart_invalid", "上传内容无法读取。", "The upload could not be read."))? {
            if field.name() == Some("face") {
                let bytes = field.bytes().await.map_err(|_| AppError::payload_too_large())?;
                if bytes.len() > limit {
                    return Err(AppError::payload_too_large());
                }
                image = Some(bytes.to_vec());
            }
        }
        let image = image.take().unwrap_or_default();
        accounts::verify_face(&state, &c, &image, &user.actor()).await.map(|_| ())
    }
    .await;
    match result {
        Ok(()) => Redirect::to("/me").into_response(),
        Err(e) => render_status(status_of(&e), &FacePage { p: &p, errors: vec![FieldError::from_app(&e, p.lang, "face")] }),
    }
}

#[derive(Template)]
#[template(path = "phone.html")]
struct PhonePage<'a> {
    p: &'a PageCtx,
    phone: String,
    errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "phone_code.html")]
struct PhoneCodePage<'a> {
    p: &'a PageCtx,
    phone: String,
    phone_masked: String,
    errors: Vec<FieldError>,
}

async fn phone_form(p: PageCtx, user: MaybeUser) -> Response {
    match require_citizen(&user, &p.path) {
        Ok(c) if c.verification == Verification::None => Redirect::to("/me/verify").into_response(),
        Ok(_) => render(&PhonePage { p: &p, phone: String::new(), errors: vec![] }),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct PhoneChangeForm {
    id_number: String,
    phone: String,
}

async fn phone_send_code(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<PhoneChangeForm>) -> Response {
    let c = match require_citizen(&user, &p.path) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match accounts::start_phone_change(&state, &c, &f.id_number, &f.phone, &user.ip).await {
        Ok(phone) => render(&PhoneCodePage { p: &p, phone: phone.as_str().to_string(), phone_masked: phone.masked(), errors: vec![] }),
        Err(e) => render_status(status_of(&e), &PhonePage { p: &p, phone: f.phone, errors: vec![FieldError::from_app(&e, p.lang, "phone")] }),
    }
}

#[derive(Deserialize)]
struct PhoneConfirmForm {
    phone: String,
    code: String,
}

async fn phone_confirm(State(state): State<AppState>, p: PageCtx, user: MaybeUser, Form(f): Form<PhoneConfirmForm>) -> Response {
    let c = match require_citizen(&user, &p.path) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match accounts::confirm_phone_change(&state, &c, &f.phone, &f.code, &user.actor()).await {
        Ok(_) => Redirect::to("/me?done=phone").into_response(),
        Err(e) => {
            let masked = shenfen_domain::MobileNumber::parse(&f.phone).map(|m| m.masked()).unwrap_or_default();
            render_status(status_of(&e), &PhoneCodePage { p: &p, phone: f.phone.clone(), phone_masked: masked, errors: vec![FieldError::from_app(&e, p.lang, "code")] })
        }
    }
}
