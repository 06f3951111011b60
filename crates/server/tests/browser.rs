//! Browser tests: real Chromium driven through chromedriver (fantoccini), against a real server on a loopback
//! port. Each test starts its own chromedriver on a free port and a fresh browser profile; both are removed when
//! the test ends, whether it passed or not.
//!
//! When Chromium or chromedriver is missing the tests print `SKIPPED: browser tests (chromium not installed)`
//! and pass — except under `CI=true`, where a missing browser is a failure (CI must run them).
//! Install with `apt-get install chromium chromium-driver`; `SHENFEN_CHROMIUM` and `SHENFEN_CHROMEDRIVER`
//! override the binaries. Screenshots at phone size go to `$SHENFEN_SCREENSHOT_DIR` (default
//! `<tmp>/shenfen-screenshots`).

mod support;
#[path = "support/browser.rs"]
mod harness;

use std::io::Write;

use harness::Browser;
use shenfen_server::i18n::Lang;
use support::{Db, TestApp};

const PHONE_NUMBER: &str = "13800138000";

/// The first demo resident (张三, crates/server/src/registry.rs): name, ID number, masked ID number, and the same
/// number with a wrong check digit.
fn resident() -> (String, String, String, String) {
    let r = shenfen_server::registry::DemoRegistry::new().residents()[0].clone();
    let id = r.id_number.as_str().to_string();
    let last = id.chars().last().unwrap_or('0');
    let wrong = if last == '0' { '1' } else { '0' };
    let bad = format!("{}{wrong}", &id[..17]);
    (r.name, id, r.id_number.masked(), bad)
}

async fn start() -> Option<Browser> {
    Browser::start_with(|| async { TestApp::start(Db::Sqlite).await.expect("app") }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_sms_code_then_primary_verification() {
    let Some(b) = start().await else { return };
    let (name, id, id_masked, _) = resident();
    let zh = Lang::Zh;
    b.sign_in(PHONE_NUMBER).await;
    assert_eq!(b.text("#me-level").await, zh.t("me.level_none"));
    assert!(!b.exists("#me-id").await, "no ID number before verification");

    b.click_and_load("#go-verify").await;
    assert_eq!(b.path().await, "/me/verify");
    // Labels are tied to their inputs.
    assert_eq!(b.attr("label[for=name]", "for").await.as_deref(), Some("name"));
    assert_eq!(b.attr("label[for=id_number]", "for").await.as_deref(), Some("id_number"));
    b.type_into("#name", &name).await;
    b.type_into("#id_number", &id).await;
    b.click_and_load("#verify-submit").await;

    let summary = if b.exists(".error-summary").await { b.text(".error-summary").await } else { String::new() };
    assert_eq!(b.path().await, "/me", "verification as {name} {id} did not go through: {summary}");
    assert_eq!(b.text("#me-level").await, zh.t("me.level_primary"));
    assert_eq!(b.text("#me-id").await, id_masked, "the ID number is shown masked");
    assert!(id_masked.contains("********"), "{id_masked}");
    assert!(b.exists("#go-face").await, "the next step, face verification, is offered");
    assert!(!b.exists("#go-verify").await);
    let citizen = b.app.state.store.citizen_for_phone(PHONE_NUMBER, b.app.state.now_ms()).await.expect("citizen");
    assert_eq!(citizen.verification, shenfen_store::Verification::Primary);
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_check_digit_shows_linked_error_summary_and_changes_nothing() {
    let Some(b) = start().await else { return };
    let (name, _, _, bad_id) = resident();
    b.sign_in(PHONE_NUMBER).await;
    b.goto("/me/verify").await;
    b.type_into("#name", &name).await;
    b.type_into("#id_number", &bad_id).await;
    b.click_and_load("#verify-submit").await;

    assert_eq!(b.path().await, "/me/verify", "the form is shown again");
    let summary = b.css(".error-summary").await;
    assert_eq!(summary.attr("role").await.unwrap().as_deref(), Some("alert"));
    let link = b.css(".error-summary a").await;
    assert_eq!(link.attr("href").await.unwrap().as_deref(), Some("#id_number"), "the summary links to the ID number field");
    assert_eq!(link.text().await.unwrap().trim(), "公民身份号码校验码不正确，请核对后重新输入。");
    assert_eq!(b.css("#id_number").await.prop("value").await.unwrap().as_deref(), Some(""), "the number is not echoed back");
    assert_eq!(b.css("#name").await.prop("value").await.unwrap().as_deref(), Some(name.as_str()), "the name is kept");
    // Following the link moves the reader to the field.
    link.click().await.expect("click summary link");
    assert_eq!(b.c.current_url().await.unwrap().fragment(), Some("id_number"));

    b.goto("/me").await;
    assert_eq!(b.text("#me-level").await, Lang::Zh.t("me.level_none"));
    assert!(!b.exists("#me-id").await);
    let citizen = b.app.state.store.citizen_for_phone(PHONE_NUMBER, b.app.state.now_ms()).await.expect("citizen");
    assert_eq!(citizen.verification, shenfen_store::Verification::None);
    assert!(citizen.id_number_masked.is_none());
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_language_to_english_and_back() {
    let Some(b) = start().await else { return };
    b.goto("/sign-in").await;
    assert_eq!(b.html_lang().await, "zh-CN");
    assert_eq!(b.text("h1").await, Lang::Zh.t("sign_in.title"));
    assert_eq!(b.text("label[for=phone]").await, Lang::Zh.t("sign_in.phone"));
    assert_eq!(b.text("#lang-switch").await, "English");
    assert_eq!(b.attr("#lang-switch", "lang").await.as_deref(), Some("en"));

    b.click_and_load("#lang-switch").await;
    assert_eq!(b.path().await, "/sign-in", "the switch returns to the same page");
    assert_eq!(b.html_lang().await, "en");
    assert_eq!(b.text("h1").await, "Sign in");
    assert_eq!(b.text("label[for=phone]").await, "Mobile number");
    assert_eq!(b.text("#send-code").await, "Send code");
    assert_eq!(b.text("#lang-switch").await, "中文");
    assert!(b.c.title().await.unwrap().contains("Resident ID card online"));

    // The choice sticks: another page, and a form error, are in English too.
    b.goto("/").await;
    assert_eq!(b.html_lang().await, "en");
    b.goto("/sign-in").await;
    b.type_into("#phone", "12345").await;
    b.click_and_load("#send-code").await;
    let error = b.text(".error-summary a").await;
    assert!(error.is_ascii() && !error.is_empty(), "the error message is in English: {error:?}");

    b.click_and_load("#lang-switch").await;
    assert_eq!(b.html_lang().await, "zh-CN");
    assert_eq!(b.text("#lang-switch").await, "English");
    b.goto("/sign-in").await;
    assert_eq!(b.text("h1").await, Lang::Zh.t("sign_in.title"));
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elder_mode_toggles_body_class() {
    let Some(b) = start().await else { return };
    b.goto("/").await;
    let class = b.attr("body", "class").await.unwrap_or_default();
    assert!(!class.split_whitespace().any(|c| c == "elder"), "standard mode by default: {class:?}");
    let normal_size = b.css("body").await.css_value("font-size").await.unwrap();
    assert_eq!(b.text("#elder-switch").await, Lang::Zh.t("elder.on"));

    b.click_and_load("#elder-switch").await;
    assert_eq!(b.path().await, "/");
    let class = b.attr("body", "class").await.unwrap_or_default();
    assert!(class.split_whitespace().any(|c| c == "elder"), "elder mode on: {class:?}");
    let elder_size = b.css("body").await.css_value("font-size").await.unwrap();
    let px = |s: &str| s.trim_end_matches("px").parse::<f64>().unwrap_or(0.0);
    assert!(px(&elder_size) > px(&normal_size), "elder mode enlarges text: {normal_size} → {elder_size}");
    assert_eq!(b.text("#elder-switch").await, Lang::Zh.t("elder.off"));
    // It sticks across pages.
    b.goto("/sign-in").await;
    assert!(b.attr("body", "class").await.unwrap_or_default().contains("elder"));

    b.click_and_load("#elder-switch").await;
    assert_eq!(b.path().await, "/sign-in");
    assert!(!b.attr("body", "class").await.unwrap_or_default().contains("elder"));
    b.finish().await;
}

/// Phone-sized screenshots of the main pages in standard and elder mode, for people to look at; and a check that
/// none of them scrolls sideways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_screenshots_without_sideways_scrolling() {
    let Some(b) = start().await else { return };
    let (name, _, _, bad_id) = resident();
    let mut saved = Vec::new();
    for elder in [false, true] {
        let mode = if elder { "elder" } else { "standard" };
        b.goto(if elder { "/elder/on?back=/" } else { "/elder/off?back=/" }).await;
        for (name, path) in [("home", "/"), ("sign-in", "/sign-in")] {
            b.goto(path).await;
            b.assert_no_horizontal_overflow(&format!("{path} ({mode})")).await;
            saved.push(b.screenshot(&format!("{name}-{mode}")).await);
        }
    }
    b.goto("/elder/off?back=/").await;
    b.sign_in(PHONE_NUMBER).await;
    for elder in [false, true] {
        let mode = if elder { "elder" } else { "standard" };
        b.goto(if elder { "/elder/on?back=/me" } else { "/elder/off?back=/me" }).await;
        b.assert_no_horizontal_overflow(&format!("/me ({mode})")).await;
        saved.push(b.screenshot(&format!("me-{mode}")).await);
        b.goto("/me/verify").await;
        b.type_into("#name", &name).await;
        b.type_into("#id_number", &bad_id).await;
        b.click_and_load("#verify-submit").await;
        b.assert_no_horizontal_overflow(&format!("/me/verify with an error ({mode})")).await;
        saved.push(b.screenshot(&format!("verify-error-{mode}")).await);
        b.goto("/me").await;
    }
    // English is longer than Chinese: the header must still fit.
    b.goto("/lang/en?back=/").await;
    b.goto("/elder/on?back=/").await;
    b.assert_no_horizontal_overflow("/ (English, elder)").await;
    saved.push(b.screenshot("home-english-elder").await);
    let _ = writeln!(std::io::stderr(), "screenshots: {}", saved.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    b.finish().await;
}
