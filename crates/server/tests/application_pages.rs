//! The application pages without JavaScript, on SQLite and PostgreSQL: a citizen starts an online renewal, sees a
//! failing photo's reasons, submits a good one; the reviewer claims and approves on the review console; the citizen
//! finds the payment links; production starts a batch; the SLA supervision page counts it. Plus the language switch
//! and the role checks of the staff consoles.

mod support;

use shenfen_server::payments::provider::{NoticeOutcome, VerifiedNotice};
use support::{TestApp, citizen_pages, staff_pages};

const GOOD_PHOTO: &str = "../portrait/tests/data/test0.jpg";
const NO_FACE: &str = "../portrait/tests/data/dogs.jpg";

async fn get(c: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

async fn upload(c: &reqwest::Client, app: &TestApp, csrf: &str, path: &str, file: &str, field: &str) -> (u16, String) {
    let part = reqwest::multipart::Part::bytes(std::fs::read(file).unwrap()).file_name("photo.jpg").mime_str("image/jpeg").unwrap();
    let form = reqwest::multipart::Form::new().text("source", "phone").part(field.to_string(), part);
    let r = c.post(app.url(&format!("{path}?csrf={csrf}"))).multipart(form).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

on_both!(online_renewal_through_the_pages, |app| {
    let (citizen, csrf) = citizen_pages(&app, "13800000701", Some(("张三", "34010419900307177X"))).await;
    // Intermediate verification (face) through its page.
    let (s, _) = upload(&citizen, &app, &csrf, "/me/verify-face", GOOD_PHOTO, "face").await;
    assert_eq!(s, 303);

    let (s, html) = get(&citizen, &app, "/applications").await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"start-application\""));
    let (_, html) = get(&citizen, &app, "/applications/new").await;
    assert!(html.contains("name=\"kind\"") && html.contains("renewal_expiry"));
    let (_, html) = get(&citizen, &app, "/applications/new?kind=renewal_expiry").await;
    assert!(html.contains("id=\"eligible\""), "{html}");
    // A bad delivery address comes back with the error linked to its field and the form kept.
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("kind", "renewal_expiry"),
        ("portrait_source", "phone"),
        ("delivery_method", "ems"),
        ("delivery_division", "320102"),
        ("delivery_address", "江苏省南京市玄武区演示路9号"),
        ("delivery_phone", "13800000701"),
    ];
    let r = citizen.post(app.url("/applications/new")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("error-summary") && html.contains("江苏省南京市玄武区演示路9号"));
    form[4] = ("delivery_division", "340104");
    form[5] = ("delivery_address", "安徽省合肥市蜀山区演示路1号");
    let r = citizen.post(app.url("/applications/new")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let photo_page = location(&r);
    let id = photo_page.trim_start_matches("/applications/").trim_end_matches("/photo").to_string();
    let (s, html) = get(&citizen, &app, &photo_page).await;
    assert_eq!(s, 200);
    assert!(html.contains("/static/capture.js") && html.contains("camera-guide"), "the capture page carries the head outline");

    // A photo without a face: the reasons, in words; a good one: the standard photo.
    let (s, html) = upload(&citizen, &app, &csrf, &photo_page, NO_FACE, "photo").await;
    assert_eq!(s, 422);
    assert!(html.contains("id=\"photo-failed\""));
    let (s, html) = upload(&citizen, &app, &csrf, &photo_page, GOOD_PHOTO, "photo").await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("id=\"photo-passed\""));
    let std_src = html.split("class=\"id-photo\" src=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let r = citizen.get(app.url(&std_src)).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    // Someone else cannot see the photo.
    let (other, _) = citizen_pages(&app, "13800000702", None).await;
    assert_eq!(get(&other, &app, &std_src).await.0, 404);

    let r = citizen.post(app.url(&format!("/applications/{id}/submit"))).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let (_, html) = get(&citizen, &app, &location(&r)).await;
    assert!(html.contains("id=\"app-notice\"") && html.contains("status-submitted"));
    assert!(html.contains(&format!("data-live-subject=\"application:{id}\"")));
    let ref_no = html.split("id=\"app-ref\">").nth(1).unwrap().split('<').next().unwrap().to_string();

    // The review console: the queue, claim, approve.
    let (reviewer, rcsrf) = staff_pages(&app, "reviewer").await;
    let (_, html) = get(&reviewer, &app, "/review").await;
    assert!(html.contains(&ref_no), "{html}");
    let (_, html) = get(&reviewer, &app, &format!("/review/{id}")).await;
    assert!(html.contains("id=\"claim\"") && html.contains("id=\"new-photo\"") && html.contains("id=\"face-match\""));
    let r = reviewer.post(app.url(&format!("/review/{id}/claim"))).form(&[("csrf", rcsrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let (_, html) = get(&reviewer, &app, &format!("/review/{id}")).await;
    assert!(html.contains("id=\"approve\""));
    let version = html.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    // A return without a reason is refused on the page, with the claim kept.
    let r = reviewer.post(app.url(&format!("/review/{id}/decision"))).form(&[("csrf", rcsrf.as_str()), ("version", version.as_str()), ("decision", "return")]).send().await.unwrap();
    assert_eq!(r.status(), 409);
    let r = reviewer.post(app.url(&format!("/review/{id}/decision"))).form(&[("csrf", rcsrf.as_str()), ("version", version.as_str()), ("decision", "approve")]).send().await.unwrap();
    assert_eq!(r.status(), 303);

    // The citizen sees the payment links; paying (the provider's notice) moves it to production's list.
    let (_, html) = get(&citizen, &app, &format!("/applications/{id}")).await;
    assert!(html.contains("status-awaiting_payment") && html.matches("class=\"button button-block pay-link\"").count() == 2, "{html}");
    for o in app.state.store.orders_for(&id).await.unwrap() {
        let n = VerifiedNotice { event_id: format!("e-{}", o.order_no), order_no: o.order_no, provider_trade_no: None, amount_fen: o.amount_fen, merchant_id: "m".into(), outcome: NoticeOutcome::Paid { at: time::OffsetDateTime::now_utc() } };
        shenfen_server::payments::service::apply_notice(&app.state, "wechat", "m", &n).await.unwrap();
    }
    let (production, pcsrf) = staff_pages(&app, "production").await;
    let (_, html) = get(&production, &app, "/production").await;
    assert!(html.contains(&format!("value=\"{id}\"")));
    let r = production.post(app.url("/production/batch")).form(&[("csrf", pcsrf.as_str()), ("ids", id.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("id=\"prod-notice\""));
    let r = production.post(app.url(&format!("/production/{id}/step"))).form(&[("csrf", pcsrf.as_str()), ("step", "mark_produced")]).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("step-pass_quality_check"));

    // Supervision counts it as open and on track; the citizen's timeline shows every stage so far.
    let (s, html) = get(&production, &app, "/supervision").await;
    assert_eq!(s, 200);
    assert!(html.contains(&ref_no) && html.contains("sla-on_track"), "{html}");
    let (_, html) = get(&citizen, &app, &format!("/applications/{id}")).await;
    for label in ["已提交", "审核中", "审核通过", "待缴费", "已缴费", "制证中", "已制证"] {
        assert!(html.contains(label), "timeline lacks {label}");
    }
    // English on request.
    let r = citizen.get(app.url(&format!("/applications/{id}"))).header("accept-language", "en").send().await.unwrap();
    assert!(r.text().await.unwrap().contains("Timeline"));
    // Roles: a citizen cannot open the consoles; a reviewer of another district does not see the application.
    assert_eq!(get(&citizen, &app, "/review").await.0, 403);
    let (yaohai, _) = staff_pages(&app, "reviewer.yaohai").await;
    assert_eq!(get(&yaohai, &app, &format!("/review/{id}")).await.0, 404);
    assert_eq!(get(&yaohai, &app, "/production").await.0, 403);
});

on_both!(counter_clerk_enters_an_application_with_the_counter_photo, |app| {
    let (clerk, csrf) = staff_pages(&app, "counter").await;
    let (s, html) = get(&clerk, &app, "/staff").await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"go-counter-application\""));
    let (s, html) = get(&clerk, &app, "/counter/applications/new").await;
    assert_eq!(s, 200);
    assert!(html.contains("first_issue") && html.contains("temporary_card"), "every kind is offered at the counter");
    let send = |name: &'static str, file: &'static str| {
        let part = reqwest::multipart::Part::bytes(std::fs::read(file).unwrap()).file_name("p.jpg").mime_str("image/jpeg").unwrap();
        let form = reqwest::multipart::Form::new()
            .text("name", name)
            .text("id_number", "340104200808085795")
            .text("phone", "13800000751")
            .text("kind", "first_issue")
            .part("photo", part);
        clerk.post(app.url(&format!("/counter/applications/new?csrf={csrf}"))).multipart(form).send()
    };
    let r = send("李四", GOOD_PHOTO).await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("error-summary"));
    let r = send("钱七", GOOD_PHOTO).await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"counter-app-done\"") && html.contains("已提交"), "{html}");
    let (reviewer, _) = staff_pages(&app, "reviewer").await;
    let ref_no = html.split("<strong>").nth(1).unwrap().split('<').next().unwrap().to_string();
    assert!(get(&reviewer, &app, "/review").await.1.contains(&ref_no));
});

on_both!(started_online_then_finished_at_the_counter_through_the_pages, |app| {
    // 钱七 has never had a card: the online route refuses a first issue, the page offers the counter route.
    let (citizen, csrf) = citizen_pages(&app, "13800000761", Some(("钱七", "340104200808085795"))).await;
    let (s, html) = get(&citizen, &app, "/applications/new?kind=first_issue").await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"refusals\"") && html.contains("id=\"counter-route\"") && html.contains("id=\"no-appointment\""), "{html}");

    // He books at the counter clerk's point, then the form lists the appointment.
    let point = app.state.store.staff_by_username("counter").await.unwrap().unwrap().scope.code;
    let p = app.state.store.point(&point).await.unwrap().unwrap();
    shenfen_server::appointments::ensure_slots(&app.state, &p).await.unwrap();
    let today = shenfen_server::appointments::day_key(app.state.clock.today_cst());
    let slots = app.state.store.slots(&point, &today, "9999-12-31").await.unwrap();
    let slot = slots.iter().find(|s| s.day > today && s.booked < s.capacity).expect("a free slot");
    let r = citizen.post(app.url("/appointments")).form(&[("csrf", csrf.as_str()), ("slot_id", slot.id.as_str()), ("service", "first_issue")]).send().await.unwrap();
    assert!(r.status().is_redirection() || r.status() == 200, "{}", r.status());
    let c = app.state.store.citizen_for_phone("13800000761", 0).await.unwrap();
    let appointment = app.state.store.appointments_of(&c.id).await.unwrap().into_iter().next().expect("booked");
    let (_, html) = get(&citizen, &app, "/applications/new?kind=first_issue").await;
    assert!(html.contains(&format!("value=\"{}\"", appointment.id)) && html.contains(&appointment.code), "{html}");
    let r = citizen
        .post(app.url("/applications/new"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("kind", "first_issue"),
            ("appointment_id", appointment.id.as_str()),
            ("portrait_source", "counter_capture"),
            ("delivery_method", "pickup"),
            ("pickup_point", point.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = location(&r);
    let (_, html) = get(&citizen, &app, &page).await;
    assert!(html.contains("id=\"counter-visit\"") && html.contains(&appointment.code) && !html.contains("id=\"submit\""), "{html}");

    // The clerk finds it by the code and finishes it with the counter photo.
    let (clerk, staff_csrf) = staff_pages(&app, "counter").await;
    let (s, html) = get(&clerk, &app, "/counter/applications/new").await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"online-waiting\""), "{html}");
    let (s, html) = get(&clerk, &app, "/counter/applications/new?code=NOPE1234").await;
    assert_eq!(s, 404);
    assert!(html.contains("error-summary"));
    let (s, html) = get(&clerk, &app, &format!("/counter/applications/new?code={}", appointment.code)).await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"online-found\""), "{html}");
    let id = page.trim_start_matches("/applications/").to_string();
    let finish = |file: &'static str| {
        let part = reqwest::multipart::Part::bytes(std::fs::read(file).unwrap()).file_name("p.jpg").mime_str("image/jpeg").unwrap();
        clerk.post(app.url(&format!("/counter/applications/{id}/finish?csrf={staff_csrf}"))).multipart(reqwest::multipart::Form::new().part("photo", part)).send()
    };
    let html = finish(NO_FACE).await.unwrap().text().await.unwrap();
    assert!(html.contains("id=\"counter-photo-issues\"") && html.contains("id=\"online-found\""), "a failing photo keeps it open: {html}");
    let r = finish(GOOD_PHOTO).await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"counter-app-done\"") && html.contains("已提交"), "{html}");
    assert_eq!(app.state.store.application(&id).await.unwrap().unwrap().state.code(), "submitted");
});

on_both!(a_photo_deleted_under_retention_is_said_so_on_the_review_page, |app| {
    let (citizen, csrf) = citizen_pages(&app, "13800000711", Some(("张三", "34010419900307177X"))).await;
    assert_eq!(upload(&citizen, &app, &csrf, "/me/verify-face", GOOD_PHOTO, "face").await.0, 303);
    let form = [
        ("csrf", csrf.as_str()),
        ("kind", "renewal_expiry"),
        ("portrait_source", "phone"),
        ("delivery_method", "ems"),
        ("delivery_division", "340104"),
        ("delivery_address", "安徽省合肥市蜀山区演示路1号"),
        ("delivery_phone", "13800000711"),
    ];
    let r = citizen.post(app.url("/applications/new")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let photo_page = location(&r);
    let id = photo_page.trim_start_matches("/applications/").trim_end_matches("/photo").to_string();
    assert_eq!(upload(&citizen, &app, &csrf, &photo_page, GOOD_PHOTO, "photo").await.0, 200);
    let r = citizen.post(app.url(&format!("/applications/{id}/submit"))).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);

    // Rejected: the application has ended without a card.
    let (reviewer, rcsrf) = staff_pages(&app, "reviewer").await;
    reviewer.post(app.url(&format!("/review/{id}/claim"))).form(&[("csrf", rcsrf.as_str())]).send().await.unwrap();
    let (_, html) = get(&reviewer, &app, &format!("/review/{id}")).await;
    let version = html.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let r = reviewer
        .post(app.url(&format!("/review/{id}/decision")))
        .form(&[("csrf", rcsrf.as_str()), ("version", version.as_str()), ("decision", "reject"), ("reason", "不符合换领条件")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (_, html) = get(&reviewer, &app, &format!("/review/{id}")).await;
    assert!(html.contains("id=\"new-photo\"") && !html.contains("id=\"photo-deleted\""));

    // Its portrait's retention period passes: the page says so instead of showing a broken image.
    let purged = app.state.store.purge_rejected_portraits(app.state.now_ms() + 1).await.unwrap();
    assert!(purged >= 1, "the application's portraits (upload and standard photo)");
    let (s, html) = get(&reviewer, &app, &format!("/review/{id}")).await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"photo-deleted\"") && !html.contains("id=\"new-photo\""), "{html}");
});
