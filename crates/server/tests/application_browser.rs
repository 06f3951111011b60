//! Browser tests (real Chromium) of the online renewal, as the issue describes it: the citizen applies from a phone
//! with a phone-style upload of a shared test portrait; a police reviewer approves on a 390×844 viewport; the
//! citizen pays both items in the provider sandboxes; production makes, checks and dispatches the card; the EMS
//! sandbox delivers it with the courier's face check; the citizen sees every stage on the timeline. And the
//! returned-for-correction loop. Harness: `tests/support/browser.rs`.

mod support;
#[path = "support/browser.rs"]
mod harness;

use harness::Browser;
use support::{Db, TestApp};

const PORTRAIT: &str = "../portrait/tests/data/test0.jpg";

async fn app() -> TestApp {
    TestApp::start(Db::Sqlite).await.expect("app")
}

fn portrait_path() -> String {
    std::fs::canonicalize(PORTRAIT).expect("test portrait").display().to_string()
}

/// 张三 signs in on the phone and completes primary and intermediate verification through the pages.
async fn citizen_ready(b: &Browser, phone: &str) {
    b.phone_viewport().await;
    b.sign_in(phone).await;
    let r = shenfen_server::registry::DemoRegistry::new().residents()[0].clone();
    b.goto("/me/verify").await;
    b.type_into("#name", &r.name).await;
    b.type_into("#id_number", r.id_number.as_str()).await;
    b.click_and_load("#verify-submit").await;
    b.goto("/me/verify-face").await;
    b.css("#face").await.send_keys(&portrait_path()).await.expect("choose file");
    b.click_and_load("#face-submit").await;
    assert_eq!(b.path().await, "/me");
}

/// Starts an online renewal with EMS delivery and a phone photo; returns the application id.
async fn apply(b: &Browser) -> String {
    b.goto("/me").await;
    b.click_and_load("#my-applications").await;
    b.click_and_load("#start-application").await;
    b.click_and_load("#kind-next").await;
    assert!(b.exists("#eligible").await, "张三 may renew online");
    click_here(b, "#src-phone").await;
    b.type_into("#delivery_division", "340104").await;
    b.type_into("#delivery_address", "安徽省合肥市蜀山区三里庵街道演示路1号").await;
    b.click_and_load("#create-application").await;
    let path = b.path().await;
    assert!(path.ends_with("/photo"), "{path}");
    assert!(b.exists("#photo").await, "the capture page offers the upload");
    b.css("#photo").await.send_keys(&portrait_path()).await.expect("choose file");
    b.click_and_load("#photo-submit").await;
    assert!(b.exists("#photo-passed").await, "the shared test portrait passes the check");
    b.click_and_load("#photo-continue").await;
    b.click_and_load("#submit").await;
    assert!(b.text("#app-state").await.contains("已提交"));
    b.path().await.trim_start_matches("/applications/").to_string()
}

/// Clicks an element that does not load a page (a `<summary>`, a checkbox), scrolled clear of the fixed tab bar.
async fn click_here(b: &Browser, selector: &str) {
    let el = b.css(selector).await;
    b.c.execute("arguments[0].scrollIntoView({block: 'center'})", vec![serde_json::to_value(&el).unwrap()]).await.expect("scroll");
    el.click().await.unwrap_or_else(|e| panic!("click {selector}: {e}"));
}

/// The signed-in citizen's cookies, to come back to the same session after staff have used this browser (signing
/// in again within a minute would hit the SMS resend limit, as it should).
async fn citizen_cookies(b: &Browser) -> Vec<fantoccini::cookies::Cookie<'static>> {
    b.c.get_all_cookies().await.expect("cookies")
}

async fn staff(b: &Browser, username: &str) {
    b.c.delete_all_cookies().await.expect("sign out");
    let password = shenfen_server::demo::DEMO_STAFF.iter().find(|s| s.0 == username).unwrap().1;
    b.goto("/staff/sign-in").await;
    b.type_into("#username", username).await;
    b.type_into("#password", password).await;
    b.click_and_load("#staff-sign-in").await;
}

async fn citizen_again(b: &Browser, cookies: &[fantoccini::cookies::Cookie<'static>]) {
    b.c.delete_all_cookies().await.expect("sign out");
    for c in cookies {
        b.c.add_cookie(c.clone()).await.expect("restore cookie");
    }
}

/// The reviewer, on a phone: queue → application → claim → approve.
async fn review(b: &Browser, id: &str, approve: bool) {
    staff(b, "reviewer").await;
    b.phone_viewport().await;
    b.click_and_load("#go-review").await;
    b.click_and_load(&format!("a[href='/review/{id}']")).await;
    assert!(b.exists("#new-photo").await);
    b.click_and_load("#claim").await;
    b.assert_no_horizontal_overflow("review console").await;
    if approve {
        b.click_and_load("#approve").await;
    } else {
        click_here(b, "#return-section summary").await;
        click_here(b, "#reason-photo_nonconforming").await;
        b.type_into("#note", "请露出双耳").await;
        b.click_and_load("#return").await;
    }
    assert_eq!(b.path().await, "/review");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_renewal_happy_path_on_a_phone() {
    let Some(b) = Browser::start_with(app).await else { return };
    let phone = "13800000801";
    citizen_ready(&b, phone).await;
    let id = apply(&b).await;
    let cookies = citizen_cookies(&b).await;
    review(&b, &id, true).await;

    // The citizen pays each item in a provider sandbox and comes back to a paid application.
    citizen_again(&b, &cookies).await;
    b.goto(&format!("/applications/{id}")).await;
    assert!(b.text("#app-state").await.contains("待缴费"));
    for _ in 0..2 {
        b.click_and_load(".pay-link").await;
        b.click_and_load("#pay-submit").await;
        b.click_and_load("button[name='decision'][value='approve']").await;
        b.goto(&format!("/applications/{id}")).await;
    }
    let app = &b.app;
    for _ in 0..50 {
        if app.state.store.application(&id).await.unwrap().unwrap().state.code() == "paid" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.goto(&format!("/applications/{id}")).await;
    assert!(b.text("#app-state").await.contains("已缴费"), "paid after both sandbox payments");

    // Production: batch, produced, quality checked, handed to EMS.
    staff(&b, "production").await;
    b.click_and_load("#go-production").await;
    b.click_and_load("#start-batch").await;
    for step in ["mark_produced", "pass_quality_check", "dispatch"] {
        b.click_and_load(&format!("#prod-{} .step-{step}", app.state.store.application(&id).await.unwrap().unwrap().ref_no)).await;
    }
    let a = app.state.store.application(&id).await.unwrap().unwrap();
    assert_eq!(a.state.code(), "dispatched");
    let tracking = a.tracking_no.clone().expect("EMS tracking number");

    // The EMS sandbox carries it to the door (played at once, pushed to us); the courier verifies the holder's face.
    let r = reqwest::Client::new().post(app.url(&format!("/sandbox/ems/waybills/{tracking}/advance?steps=all&push=true"))).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    for _ in 0..100 {
        if app.state.store.application(&id).await.unwrap().unwrap().state.code() == "delivered" {
            break;
        }
        // What the consumer loop of a serving instance does when the push wakes it.
        shenfen_server::applications::apply_shipment_events(&app.state).await.expect("apply tracking events");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // The citizen sees the whole journey.
    citizen_again(&b, &cookies).await;
    b.goto(&format!("/applications/{id}")).await;
    assert!(b.text("#app-state").await.contains("已签收"));
    let timeline = b.text("#timeline").await;
    for stage in ["已提交", "审核中", "审核通过", "待缴费", "已缴费", "制证中", "已制证", "质检合格", "已寄出", "已签收"] {
        assert!(timeline.contains(stage), "timeline lacks {stage}: {timeline}");
    }
    assert!(timeline.contains(&tracking));
    b.assert_no_horizontal_overflow("application timeline").await;
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returned_for_correction_and_resubmitted() {
    let Some(b) = Browser::start_with(app).await else { return };
    let phone = "13800000802";
    citizen_ready(&b, phone).await;
    let id = apply(&b).await;
    let cookies = citizen_cookies(&b).await;
    review(&b, &id, false).await;
    citizen_again(&b, &cookies).await;
    b.goto(&format!("/applications/{id}")).await;
    assert!(b.text("#app-state").await.contains("退回补正"));
    assert!(b.text("#return-reasons").await.contains("请露出双耳"));
    b.click_and_load("#photo-link").await;
    b.css("#photo").await.send_keys(&portrait_path()).await.expect("choose file");
    b.click_and_load("#photo-submit").await;
    b.click_and_load("#photo-continue").await;
    b.click_and_load("#submit").await;
    assert!(b.text("#app-state").await.contains("已提交"));
    b.finish().await;
}

/// 全程查询智能回馈: the citizen keeps the application page open; a reviewer's decision (made elsewhere, through the
/// API) appears on it live, without a reload, and the SMS is in the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewers_decision_appears_live_on_the_open_page() {
    let Some(b) = Browser::start_with(app).await else { return };
    let phone = "13800000803";
    citizen_ready(&b, phone).await;
    let id = apply(&b).await;
    b.goto(&format!("/applications/{id}")).await;
    assert!(b.text("#app-state").await.contains("已提交"));
    // Give the page's event stream a moment to connect.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let marker: serde_json::Value = b.c.execute("window.__same_page = 'yes'; return window.__same_page", vec![]).await.expect("mark page");
    assert_eq!(marker, "yes");

    let http = reqwest::Client::new();
    let token = b.app.staff_token(&http, "reviewer").await;
    for (path, body) in [(format!("/api/v1/review/{id}/claim"), serde_json::json!({})), (format!("/api/v1/review/{id}/decision"), serde_json::json!({ "decision": "approve" }))] {
        let r = http.post(b.app.url(&path)).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let mut live = String::new();
    for _ in 0..100 {
        // Read in one script call: the live update replaces the element, so a found element can go stale.
        live = b.c.execute("var e = document.getElementById('app-state'); return e ? e.textContent : ''", vec![]).await.expect("state").as_str().unwrap_or("").to_string();
        if live.contains("待缴费") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(live.contains("待缴费"), "the open page did not update: {live}");
    let still: serde_json::Value = b.c.execute("return window.__same_page || 'reloaded'", vec![]).await.expect("same page");
    assert_eq!(still, "yes", "updated in place, not by a reload");
    let sms = b.app.state.store.outbox(Some(phone), 20).await.unwrap();
    assert!(sms.iter().any(|m| m.body.contains("审核通过")), "{sms:?}");
    b.finish().await;
}
