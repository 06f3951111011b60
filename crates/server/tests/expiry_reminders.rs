//! Expiry reminders (到期短信提醒) over a synthetic population, on both backends: exactly the cards inside a
//! window get exactly one reminder for it (90 days, then 30), a rerun sends nothing new, two runners at once send
//! nothing twice, a dead runner's claims are taken over, and the SMS waits for the end of quiet hours. Also: the
//! card is recorded from the registry at primary verification, and a card we issue replaces it.

mod support;

use std::collections::BTreeSet;

use shenfen_domain::timefmt::format_date;
use shenfen_server::app::Clock;
use shenfen_server::cards;
use shenfen_store::{Card, CardSource, Channel, NotificationStatus};
use support::{Db, TestApp};
use time::{Date, Duration};

/// Monday 2 March 2026, 10:00 China time (outside quiet hours).
const START: i64 = 1_772_416_800_000;
const DAY_MS: i64 = 86_400_000;
const POPULATION: usize = 2_000;

fn today(app: &TestApp) -> Date {
    app.state.clock.today_cst()
}

/// Days left on citizen `i`'s card: spread over −40 … 459, every seventh card long-term.
fn days_left(i: usize) -> Option<i64> {
    (i % 7 != 3).then(|| (i as i64 * 37) % 500 - 40)
}

/// The window a card with `d` days left is reminded in today, if any (windows 30 and 90).
fn window_for(d: i64) -> Option<i64> {
    match d {
        0..=30 => Some(30),
        31..=90 => Some(90),
        _ => None,
    }
}

/// Citizens with cards issued so that they expire as `days_left` says, as of the app's today.
async fn population(app: &TestApp) -> Vec<(String, Option<String>)> {
    let store = &app.state.store;
    let t = today(app);
    let mut out = Vec::new();
    for i in 0..POPULATION {
        let c = store.citizen_for_phone(&format!("135{i:08}"), START).await.unwrap();
        let expires = days_left(i).map(|d| format_date(t + Duration::days(d)));
        let card = Card { citizen_id: c.id.clone(), issued_on: "2010-01-01".into(), expires_on: expires.clone(), source: CardSource::Registry, updated_at: START };
        store.upsert_card(&card).await.unwrap();
        out.push((c.id, expires));
    }
    out
}

fn key(citizen: &str, expires: &str, window: i64) -> String {
    format!("card:{citizen}:{expires}:expiry:{window}")
}

/// Checks that exactly the `expected` (card, window) reminders exist, each as one in-app message and one SMS job,
/// and that no other card of the population has any.
async fn check(app: &TestApp, people: &[(String, Option<String>)], expected: &BTreeSet<(usize, i64)>) {
    let store = &app.state.store;
    for (i, (citizen, expires)) in people.iter().enumerate() {
        let rows = store.card_reminders(citizen).await.unwrap();
        let windows: BTreeSet<i64> = rows.iter().map(|(r, sent)| {
            assert!(sent.is_some(), "claimed and sent: {r:?}");
            r.window_days
        }).collect();
        let want: BTreeSet<i64> = expected.iter().filter(|(j, _)| *j == i).map(|(_, w)| *w).collect();
        assert_eq!(windows, want, "citizen {i}, card {expires:?}, {} days left at start", days_left(i).unwrap_or(-999));
        for w in want {
            let n = store.notifications_by_dedupe(&key(citizen, expires.as_deref().unwrap(), w)).await.unwrap();
            assert_eq!(n.iter().filter(|n| n.channel == Channel::InApp).count(), 1);
            assert_eq!(n.iter().filter(|n| n.channel == Channel::Sms).count(), 1);
        }
    }
}

/// Two runners (separate instances' states over the one store) at the same time.
async fn run_twice_at_once(a: &TestApp, b: &shenfen_server::app::AppState) -> usize {
    let (x, y) = tokio::join!(cards::run_expiry_reminders(&a.state), cards::run_expiry_reminders(b));
    x.unwrap().reminded + y.unwrap().reminded
}

async fn reminders_over_a_population(db: Db) {
    let clock = Clock::fixed(START);
    let Some(app) = TestApp::start_with(db, clock.clone(), |_| {}).await else { return };
    // A second instance: its own worker id, the same database.
    let other = shenfen_server::assemble(app.state.config.clone(), app.state.store.clone(), app.state.keys.clone(), clock.clone());
    let people = population(&app).await;
    let t = today(&app);

    // A runner that died an hour ago holding a claim on one due card: it is taken over.
    let dead = app.state.store.claim_expiry_reminders(30, &format_date(t), &format_date(t + Duration::days(30)), "dead-runner", START - 3_600_000, 1).await.unwrap();
    assert_eq!(dead.len(), 1);

    let mut expected = BTreeSet::new();
    for i in 0..POPULATION {
        if let Some(w) = days_left(i).and_then(window_for) {
            expected.insert((i, w));
        }
    }
    assert!(expected.len() > 200 && expected.iter().any(|e| e.1 == 30) && expected.iter().any(|e| e.1 == 90));
    assert_eq!(run_twice_at_once(&app, &other).await, expected.len(), "two runners together send each reminder once");
    check(&app, &people, &expected).await;
    assert_eq!(cards::run_expiry_reminders(&app.state).await.unwrap(), cards::ExpiryRun::default(), "a rerun sends nothing new");

    // The SMS go out through the workers, one per reminder; the text links to an online renewal.
    while shenfen_server::notify::run_once(&app.state).await.unwrap() > 0 {}
    let (i, w) = *expected.iter().find(|e| e.1 == 30).unwrap();
    let sms = app.state.store.notifications_by_dedupe(&key(&people[i].0, people[i].1.as_deref().unwrap(), w)).await.unwrap().into_iter().find(|n| n.channel == Channel::Sms).unwrap();
    assert_eq!(sms.status, NotificationStatus::Delivered);
    let phone = format!("135{i:08}");
    let outbox = app.state.store.outbox(Some(&phone), 10).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        outbox[0].body,
        format!("【居民身份证服务】您的居民身份证有效期至{}，将在30天内到期。请及时换领，可在线申请：{}/applications/new?kind=renewal_expiry", people[i].1.as_deref().unwrap(), app.base)
    );

    // 61 days later: cards that were in the 90-day window enter the 30-day one (a second reminder), cards further
    // out enter the 90-day one; nobody gets a window twice. Two runners again.
    clock.advance_ms(61 * DAY_MS);
    for i in 0..POPULATION {
        if let Some(w) = days_left(i).map(|d| d - 61).and_then(window_for) {
            expected.insert((i, w));
        }
    }
    let sent = run_twice_at_once(&app, &other).await;
    check(&app, &people, &expected).await;
    assert!(sent > 0, "new windows were entered");
    assert_eq!(cards::run_expiry_reminders(&other).await.unwrap().reminded, 0);
    // A card that got both windows got both messages, at different times.
    let both = (0..POPULATION).find(|i| expected.contains(&(*i, 90)) && expected.contains(&(*i, 30))).expect("a card reminded twice");
    assert_eq!(app.state.store.card_reminders(&people[both].0).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_over_a_population_sqlite() {
    reminders_over_a_population(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_over_a_population_postgres() {
    reminders_over_a_population(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_found_at_night_waits_for_the_morning() {
    // 23:00 China time.
    let night = START + 13 * 3_600_000;
    let clock = Clock::fixed(night);
    let app = TestApp::start_with(Db::Sqlite, clock.clone(), |_| {}).await.unwrap();
    let c = app.state.store.citizen_for_phone("13600000001", night).await.unwrap();
    let expires = format_date(today(&app) + Duration::days(10));
    let card = Card { citizen_id: c.id.clone(), issued_on: "2016-01-01".into(), expires_on: Some(expires.clone()), source: CardSource::Registry, updated_at: night };
    app.state.store.upsert_card(&card).await.unwrap();
    assert_eq!(cards::run_expiry_reminders(&app.state).await.unwrap().reminded, 1);
    // In the notification centre at once; the SMS is held until 08:00.
    assert_eq!(app.state.store.unread_count(&c.id).await.unwrap(), 1);
    assert_eq!(shenfen_server::notify::run_once(&app.state).await.unwrap(), 0);
    clock.advance_ms(9 * 3_600_000);
    assert_eq!(shenfen_server::notify::run_once(&app.state).await.unwrap(), 1);
    assert_eq!(app.state.store.outbox(Some("13600000001"), 10).await.unwrap().len(), 1);
}

on_both!(card_from_the_registry_at_verification_and_issued_cards, |app| {
    let c = support::http();
    let (token, citizen) = app.direct_citizen_session("13600000002").await;
    // 张三: born 1990-03-07, card issued 2025-03-10 at 35 → 20 years.
    let r = c.post(app.url("/api/v1/me/verification/primary")).bearer_auth(&token).json(&serde_json::json!({ "name": "张三", "id_number": "34010419900307177X" })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let card = app.state.store.card(&citizen.id).await.unwrap().expect("card recorded from the registry");
    assert_eq!((card.issued_on.as_str(), card.expires_on.as_deref(), card.source), ("2025-03-10", Some("2045-03-10"), CardSource::Registry));

    // 孙八: born 1962, issued 2025 at 63 → long-term (长期): never reminded.
    let (token, sun) = app.direct_citizen_session("13600000003").await;
    let r = c.post(app.url("/api/v1/me/verification/primary")).bearer_auth(&token).json(&serde_json::json!({ "name": "孙八", "id_number": shenfen_server::registry::DemoRegistry::new().residents()[5].id_number.as_str() })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.state.store.card(&sun.id).await.unwrap().unwrap().expires_on, None);

    // A card we issue replaces the registry's; an older one never replaces a newer.
    let id = shenfen_domain::IdNumber::parse("34010419900307177X").unwrap();
    let issued = cards::record_issued_card(&app.state, &citizen.id, &id, time::macros::date!(2046 - 01 - 05)).await.unwrap();
    assert_eq!((issued.expires_on.as_deref(), issued.source), (None, CardSource::Issued), "issued at 55: long-term");
    let stale = cards::record_registry_card(&app.state, &citizen.id, &id, time::macros::date!(2025 - 03 - 10)).await.unwrap();
    assert_eq!(stale, issued, "a late registry read keeps the newer card");
});
