//! Administrators manage acceptance points, capacity and per-day exceptions (API and pages), on SQLite and
//! PostgreSQL: validation, scope, slots following the settings without taking anyone's seat, closures that cancel
//! and notify.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, http};

const ZHANG: (&str, &str) = ("张三", "34010419900307177X");

fn new_point() -> Value {
    json!({
        "name": "测试受理点", "address": "合肥市蜀山区测试路1号", "phone": "0551-12345678", "district_code": "340104",
        "lat": 31.8512, "lng": 117.2601, "opening_hours": "mon-fri 09:00-12:00", "services": ["renewal", "pickup"],
        "windows": 2, "slot_minutes": 60, "capacity_per_slot": 4
    })
}

async fn code_of(r: reqwest::Response) -> (StatusCode, String, String) {
    let s = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (s, v["error"]["code"].as_str().unwrap_or("").to_string(), v["error"]["field"].as_str().unwrap_or("").to_string())
}

async fn slots(app: &TestApp, c: &reqwest::Client, point: &str) -> Vec<Value> {
    c.get(app.url(&format!("/api/v1/points/{point}/slots?to={}", far_day(app)))).send().await.unwrap().json().await.unwrap()
}

fn far_day(app: &TestApp) -> String {
    shenfen_server::appointments::day_key(shenfen_server::appointments::local_now(&app.state).date() + time::Duration::days(30))
}

/// The first future working day with slots (not today, so the cancellation cut-off never interferes).
fn future_day(all: &[Value], app: &TestApp) -> String {
    let today = shenfen_server::appointments::day_key(shenfen_server::appointments::local_now(&app.state).date());
    all.iter().filter_map(|s| s["day"].as_str()).find(|d| *d > today.as_str()).unwrap().to_string()
}

on_both!(admin_creates_and_edits_a_point, |app| {
    let c = http();
    let admin = app.staff_token(&c, "admin").await;
    let counter = app.staff_token(&c, "counter").await;

    // Only administrators.
    let r = c.post(app.url("/api/v1/admin/points")).bearer_auth(&counter).json(&new_point()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c.get(app.url("/api/v1/admin/points")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Bad input: each a stable code on its field, nothing written.
    let before = app.state.store.list_points().await.unwrap().len();
    for (patch, code, field) in [
        (json!({ "name": "" }), "required", "name"),
        (json!({ "phone": "call me" }), "phone_invalid", "phone"),
        (json!({ "district_code": "110101" }), "district_unknown", "district_code"),
        (json!({ "lat": 51.5, "lng": -0.12 }), "location_outside_china", "lat"),
        (json!({ "opening_hours": "mon-fri 9-5" }), "hours_time", "opening_hours"),
        (json!({ "services": ["haircut"] }), "unknown_service", "services"),
        (json!({ "services": [] }), "no_services", "services"),
        (json!({ "windows": 0 }), "windows_range", "windows"),
        (json!({ "slot_minutes": 5 }), "", "slot_minutes"),
        (json!({ "capacity_per_slot": 0 }), "", "capacity_per_slot"),
    ] {
        let mut body = new_point();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, got, got_field) = code_of(c.post(app.url("/api/v1/admin/points")).bearer_auth(&admin).json(&body).send().await.unwrap()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{patch}");
        if !code.is_empty() {
            assert_eq!(got, code, "{patch}");
        }
        assert_eq!(got_field, field, "{patch}");
    }
    let (s, got, _) = code_of(c.post(app.url("/api/v1/admin/points")).bearer_auth(&admin).json(&json!({ "name": 1 })).send().await.unwrap()).await;
    assert_eq!((s, got.as_str()), (StatusCode::BAD_REQUEST, "invalid_json"));
    assert_eq!(app.state.store.list_points().await.unwrap().len(), before);

    // Create: slots appear at once, 3 a day (09:00, 10:00, 11:00) of 4 seats.
    let r = c.post(app.url("/api/v1/admin/points")).bearer_auth(&admin).json(&new_point()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let p: Value = r.json().await.unwrap();
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["services"], json!(["renewal", "pickup"]));
    assert_eq!(p["district_name"], "安徽省合肥市蜀山区");
    let all = slots(&app, &c, &id).await;
    let day = future_day(&all, &app);
    let of_day: Vec<&Value> = all.iter().filter(|s| s["day"] == day.as_str()).collect();
    assert_eq!(of_day.iter().map(|s| s["start"].as_str().unwrap()).collect::<Vec<_>>(), ["09:00", "10:00", "11:00"]);
    assert!(of_day.iter().all(|s| s["capacity"] == 4));
    // It is on the public list and in the audit log.
    let public: Vec<Value> = c.get(app.url("/api/v1/points")).send().await.unwrap().json().await.unwrap();
    assert!(public.iter().any(|x| x["id"] == id.as_str()));

    // A citizen books 10:00; then the administrator shortens the hours to 09:00-10:00 and lowers capacity to 2.
    let zhang = app.citizen_token(&c, "13800000301").await;
    let r = c.post(app.url("/api/v1/me/verification/primary")).bearer_auth(&zhang).json(&json!({ "name": ZHANG.0, "id_number": ZHANG.1 })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ten = of_day.iter().find(|s| s["start"] == "10:00").unwrap()["id"].as_str().unwrap().to_string();
    let r = c.post(app.url("/api/v1/appointments")).bearer_auth(&zhang).json(&json!({ "slot_id": ten, "service": "renewal" })).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let appt: Value = r.json().await.unwrap();

    let mut edit = new_point();
    edit["opening_hours"] = json!("mon-fri 09:00-10:00");
    edit["capacity_per_slot"] = json!(2);
    edit["district_code"] = json!("340102"); // ignored: the district is fixed once the point exists
    let r = c.put(app.url(&format!("/api/v1/admin/points/{id}"))).bearer_auth(&admin).json(&edit).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["district_code"], "340104");
    assert_eq!(p["opening_hours"], "mon-fri 09:00-10:00");
    let of_day: Vec<Value> = slots(&app, &c, &id).await.into_iter().filter(|s| s["day"] == day.as_str()).collect();
    // 09:00 offered with 2 seats; 10:00 kept because it is booked, but full; 11:00 withdrawn.
    let by_start: Vec<(String, i64, i64)> = of_day.iter().map(|s| (s["start"].as_str().unwrap().to_string(), s["capacity"].as_i64().unwrap(), s["remaining"].as_i64().unwrap())).collect();
    assert_eq!(by_start, vec![("09:00".to_string(), 2, 2), ("10:00".to_string(), 1, 0)]);
    let mine: Vec<Value> = c.get(app.url("/api/v1/appointments")).bearer_auth(&zhang).send().await.unwrap().json().await.unwrap();
    assert!(mine.iter().any(|a| a["id"] == appt["id"] && a["status"] == "booked"), "the citizen keeps the seat");

    // Reconciling again changes nothing (idempotent).
    let pt = app.state.store.point(&id).await.unwrap().unwrap();
    assert_eq!(shenfen_server::point_admin::reconcile_slots(&app.state, &pt).await.unwrap(), 0);

    // Unknown point; the audit log holds both actions.
    let r = c.put(app.url("/api/v1/admin/points/nope")).bearer_auth(&admin).json(&edit).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let audit = app.state.store.audit_entries(0, 1000).await.unwrap();
    assert!(audit.iter().any(|e| e.record.action == "point.create" && e.record.target == format!("point:{id}")));
    assert!(audit.iter().any(|e| e.record.action == "point.update" && e.record.target == format!("point:{id}")));
});

on_both!(exceptions_close_a_day_and_add_capacity, |app| {
    let c = http();
    let admin = app.staff_token(&c, "admin").await;
    let r = c.post(app.url("/api/v1/admin/points")).bearer_auth(&admin).json(&new_point()).send().await.unwrap();
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let all = slots(&app, &c, &id).await;
    let day = future_day(&all, &app);

    // Zhang books that day.
    let zhang = app.citizen_token(&c, "13800000302").await;
    c.post(app.url("/api/v1/me/verification/primary")).bearer_auth(&zhang).json(&json!({ "name": ZHANG.0, "id_number": ZHANG.1 })).send().await.unwrap();
    let slot = all.iter().find(|s| s["day"] == day.as_str()).unwrap()["id"].as_str().unwrap().to_string();
    let r = c.post(app.url("/api/v1/appointments")).bearer_auth(&zhang).json(&json!({ "slot_id": slot, "service": "renewal" })).send().await.unwrap();
    assert_eq!(r.status(), 201);

    // Bad input.
    let put = |day: &str, body: Value| c.put(app.url(&format!("/api/v1/admin/points/{id}/exceptions/{day}"))).bearer_auth(admin.clone()).json(&body).send();
    for (d, body, code) in [
        ("2020-01-01", json!({ "kind": "closed", "value": "过去" }), "day_outside_horizon"),
        ("2099-01-01", json!({ "kind": "closed", "value": "太远" }), "day_outside_horizon"),
        ("not-a-day", json!({ "kind": "closed", "value": "x" }), "day_invalid"),
        (day.as_str(), json!({ "kind": "holiday", "value": "x" }), "exception_kind"),
        (day.as_str(), json!({ "kind": "extra_capacity", "value": "lots" }), ""),
        (day.as_str(), json!({ "kind": "hours", "value": "morning" }), "hours_syntax"),
        (day.as_str(), json!({ "kind": "closed", "value": " " }), "reason_required"),
    ] {
        let (s, got, _) = code_of(put(d, body.clone()).await.unwrap()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{d} {body}");
        if !code.is_empty() {
            assert_eq!(got, code, "{d} {body}");
        }
    }
    assert!(app.state.store.exceptions(&id, "2000-01-01", "2100-01-01").await.unwrap().is_empty(), "nothing written");

    // Extra capacity: every slot of the day gains 3 seats.
    let r = put(&day, json!({ "kind": "extra_capacity", "value": "3" })).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let of_day: Vec<Value> = slots(&app, &c, &id).await.into_iter().filter(|s| s["day"] == day.as_str()).collect();
    assert!(of_day.iter().all(|s| s["capacity"] == 7), "{of_day:?}");

    // Closure: the day's booking is cancelled, Zhang is told by SMS, and the day offers nothing.
    let r = put(&day, json!({ "kind": "closed", "value": "设备检修" })).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["cancelled_appointments"], 1);
    let mine: Vec<Value> = c.get(app.url("/api/v1/appointments")).bearer_auth(&zhang).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine[0]["status"], "cancelled");
    let sms = app.state.store.outbox(Some("13800000302"), 1).await.unwrap();
    assert!(sms[0].body.contains("设备检修") && sms[0].body.contains("不计入取消次数"), "{}", sms[0].body);
    assert!(slots(&app, &c, &id).await.iter().all(|s| s["day"] != day.as_str()));
    // The cancellation does not count against Zhang's monthly limit.
    let citizen = app.state.store.citizen_for_phone("13800000302", app.state.now_ms()).await.unwrap();
    let month = &day[..7];
    assert_eq!(app.state.store.cancellations_in(&citizen.id, month).await.unwrap(), 0);

    let list: Vec<Value> = c.get(app.url(&format!("/api/v1/admin/points/{id}/exceptions"))).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(list, vec![json!({ "day": day, "kind": "closed", "value": "设备检修" })]);

    // Removing the exception reopens the day with the regular capacity.
    let r = c.delete(app.url(&format!("/api/v1/admin/points/{id}/exceptions/{day}"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let of_day: Vec<Value> = slots(&app, &c, &id).await.into_iter().filter(|s| s["day"] == day.as_str()).collect();
    assert_eq!(of_day.len(), 3);
    assert!(of_day.iter().all(|s| s["capacity"] == 4 && s["remaining"] == 4), "{of_day:?}");
});

on_both!(admins_manage_only_their_scope, |app| {
    let c = http();
    let admin = app.staff_token(&c, "admin").await;
    // A district administrator for 瑶海区 (340102), created by the provincial one.
    let r = c
        .post(app.url("/api/v1/admin/staff"))
        .bearer_auth(&admin)
        .json(&json!({ "username": "admin.yaohai", "display_name": "瑶海管理员", "password": "a-long-password-1", "role": "admin", "scope_kind": "district", "scope_code": "340102" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let r = c.post(app.url("/api/v1/auth/staff-sessions")).json(&json!({ "username": "admin.yaohai", "password": "a-long-password-1" })).send().await.unwrap();
    let district_admin = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    // A new account chooses its own password before anything else.
    let r = c.post(app.url("/api/v1/staff/me/password")).bearer_auth(&district_admin).json(&json!({ "current_password": "a-long-password-1", "new_password": "a-long-password-2" })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let mine: Vec<Value> = c.get(app.url("/api/v1/admin/points")).bearer_auth(&district_admin).send().await.unwrap().json().await.unwrap();
    assert!(!mine.is_empty() && mine.iter().all(|p| p["district_code"] == "340102"));
    // A Shushan point: not theirs to read, edit or close; nor to create in Shushan.
    let shushan = app.state.store.list_points().await.unwrap().into_iter().find(|p| p.district_code == "340104").unwrap();
    let r = c.get(app.url(&format!("/api/v1/admin/points/{}", shushan.id))).bearer_auth(&district_admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let day = shenfen_server::appointments::day_key(shenfen_server::appointments::local_now(&app.state).date() + time::Duration::days(1));
    let r = c.put(app.url(&format!("/api/v1/admin/points/{}/exceptions/{day}", shushan.id))).bearer_auth(&district_admin).json(&json!({ "kind": "closed", "value": "x" })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c.post(app.url("/api/v1/admin/points")).bearer_auth(&district_admin).json(&new_point()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(app.state.store.exceptions(&shushan.id, "2000-01-01", "2100-01-01").await.unwrap().is_empty());
});

on_both!(admin_pages_edit_a_point_without_javascript, |app| {
    let (c, _) = support::staff_pages(&app, "admin").await;
    let home = c.get(app.url("/staff")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("href=\"/admin/points\""));
    let list = c.get(app.url("/admin/points")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("受理点管理") && list.contains("新建受理点"));

    // Create through the form; a bad field comes back with the entered values and an error summary.
    let new_page = c.get(app.url("/admin/points/new")).send().await.unwrap().text().await.unwrap();
    let csrf = support::csrf_of(&new_page);
    let mut form = vec![
        ("csrf", csrf.clone()),
        ("name", "表单受理点".into()),
        ("address", "合肥市蜀山区表单路2号".into()),
        ("phone", "0551-87654321".into()),
        ("district_code", "340104".into()),
        ("lat", "31.85".into()),
        ("lng", "abc".into()),
        ("opening_hours", "mon-fri 09:00-11:00".into()),
        ("svc_renewal", "on".into()),
        ("windows", "1".into()),
        ("slot_minutes", "30".into()),
        ("capacity_per_slot", "3".into()),
    ];
    let r = c.post(app.url("/admin/points")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("href=\"#lng\"") && html.contains("value=\"表单受理点\""), "error linked to the field, input kept");
    form[6].1 = "117.26".into();
    let r = c.post(app.url("/admin/points")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(to.ends_with("?done=created"));
    let page = c.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("受理点已创建"));
    let id = to.trim_start_matches("/admin/points/").split('?').next().unwrap().to_string();
    let p = app.state.store.point(&id).await.unwrap().unwrap();
    assert_eq!((p.services.as_str(), p.windows, p.capacity_per_slot), ("renewal", 1, 3));

    // A closure through the form.
    let day = {
        let all: Vec<Value> = c.get(app.url(&format!("/api/v1/points/{id}/slots"))).send().await.unwrap().json().await.unwrap();
        future_day(&all, &app)
    };
    let r = c.post(app.url(&format!("/admin/points/{id}/exceptions"))).form(&[("csrf", csrf.as_str()), ("day", day.as_str()), ("kind", "closed"), ("value", "系统升级")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c.get(app.url(&format!("/admin/points/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("id=\"exception-{day}\"")) && page.contains("系统升级"));
    // Without the CSRF token nothing happens.
    let r = c.post(app.url(&format!("/admin/points/{id}/exceptions/{day}/delete"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c.post(app.url(&format!("/admin/points/{id}/exceptions/{day}/delete"))).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(app.state.store.exceptions(&id, "2000-01-01", "2100-01-01").await.unwrap().is_empty());

    // Counter staff cannot open the admin pages.
    let (c2, _) = support::staff_pages(&app, "counter").await;
    assert_eq!(c2.get(app.url("/admin/points")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
});
