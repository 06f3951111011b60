//! Conformance tests for the statistics queries, on SQLite and (when configured) PostgreSQL: a small known history
//! (tickets, appointments, payments in several channels, applications with returns and resubmissions, accounts)
//! counted per China-time day and place, with district and point filters and the range edges.

use shenfen_domain::applications::{ApplicationKind, ApplicationState as S, Channel, DeliveryMethod};
use shenfen_domain::stats::{day_number, day_start_ms};
use shenfen_store::*;

/// A China-time day number.
fn d(day: &str) -> i64 {
    day_number(shenfen_domain::timefmt::parse_date(day).unwrap())
}

/// An instant: `hour` o'clock China time on `day`.
fn at(day: &str, hour: i64) -> i64 {
    day_start_ms(shenfen_domain::timefmt::parse_date(day).unwrap()) + hour * 3_600_000
}

async fn point(store: &DynStore, id: &str, district: &str) -> AcceptancePoint {
    let p = AcceptancePoint::with_defaults(id.into(), format!("点{id}"), district.into(), "地址".into(), "0551-00000001".into(), 31.8, 117.2, true, 0);
    store.insert_point(&p).await.unwrap();
    p
}

fn order(reference: &str, channel: &str, amount_fen: i64, point_id: Option<&str>) -> PaymentOrder {
    PaymentOrder {
        id: new_id(),
        order_no: order_number(),
        citizen_id: None,
        reference: reference.into(),
        item: "renewal".into(),
        amount_fen,
        channel: Some(channel.into()),
        status: PaymentStatus::Created,
        failure_code: None,
        provider_trade_no: None,
        refunded_fen: 0,
        point_id: point_id.map(str::to_string),
        staff_id: None,
        cash_received_fen: None,
        created_at: 0,
        updated_at: 0,
        expires_at: i64::MAX / 2,
        paid_at: None,
        opened_at: None,
    }
}

async fn pay(store: &DynStore, o: &PaymentOrder, paid_at: i64, to: PaymentStatus) -> PaymentOrder {
    store.create_order(o, None).await.unwrap();
    let u = OrderUpdate { paid_at: (to == PaymentStatus::Success).then_some(paid_at), ..Default::default() };
    store.change_status(&o.order_no, &[PaymentStatus::Created], to, &u, paid_at).await.unwrap().unwrap()
}

fn application(channel: Channel, delivery: DeliveryMethod, division: &str, point_id: Option<&str>) -> Application {
    let id = new_id();
    Application {
        ref_no: format!("SQ{}", &id.replace('-', "")[20..]),
        id,
        citizen_id: None,
        kind: ApplicationKind::RenewalExpiry,
        channel,
        state: S::Draft,
        version: 1,
        applicant_name_enc: vec![1],
        applicant_name_masked: "张*".into(),
        applicant_id_enc: vec![2],
        applicant_id_masked: "3401**********1234".into(),
        applicant_id_blind: new_id(),
        division_code: division.into(),
        point_id: point_id.map(str::to_string),
        portrait_source: None,
        portrait_id: None,
        delivery_method: delivery,
        delivery_division: None,
        delivery_address_enc: None,
        delivery_address_masked: None,
        recipient_phone: None,
        pickup_point_id: None,
        fee_waived: false,
        fee_fen: 2000,
        postage_fen: 0,
        payment_order_no: None,
        appointment_id: None,
        return_reasons: None,
        return_note: None,
        reject_reason: None,
        tracking_no: None,
        batch_id: None,
        claimed_by: None,
        claim_until: None,
        submitted_at: None,
        approved_at: None,
        payment_due_at: None,
        finished_at: None,
        created_at: 0,
        updated_at: 0,
    }
}

/// Inserts an application and walks it through `steps` (state, instant).
async fn walk(store: &DynStore, a: Application, steps: &[(S, i64)]) -> Application {
    store.insert_application(&a).await.unwrap();
    let mut cur = a;
    for (to, when) in steps {
        let t = AppliedTransition {
            application_id: cur.id.clone(),
            expected_version: cur.version,
            from: cur.state,
            to: *to,
            changes: ApplicationChanges::default(),
            event: "test".into(),
            actor_kind: "system".into(),
            actor_id: "test".into(),
            detail: "{}".into(),
            online_cancellation: false,
            failed_photo_review: false,
            at: *when,
        };
        cur = store.apply_transition(&t).await.unwrap().expect("move applies");
    }
    cur
}

fn row(day: &str, kind: StatKind, point_id: Option<&str>, district: Option<&str>, n: i64) -> StatRow {
    StatRow {
        day: d(day),
        kind,
        point_id: point_id.map(str::to_string),
        district_code: district.map(str::to_string),
        channel: None,
        delivery: None,
        n,
        amount_fen: 0,
        refunded_fen: 0,
    }
}

fn filter(prefix: Option<&str>, point: Option<&str>) -> StatsFilter {
    StatsFilter { district_prefix: prefix.map(str::to_string), point_id: point.map(str::to_string) }
}

both_backends!(visits_and_bookings_per_day_and_point, |store| {
    point(&store, "p1", "340104").await;
    point(&store, "p2", "340102").await;
    store
        .ensure_slots(&[NewSlot { point_id: "p1".into(), day: "2026-09-29".into(), start_min: 540, end_min: 570, starts_at: at("2026-09-29", 9), capacity: 10 }])
        .await
        .unwrap();
    let slot = store.slots("p1", "2026-09-29", "2026-09-29").await.unwrap().remove(0);
    let mut codes = Vec::new();
    for (i, made) in [at("2026-09-25", 10), at("2026-09-25", 23), at("2026-09-26", 1)].into_iter().enumerate() {
        let c = store.citizen_for_phone(&format!("1380000090{i}"), made).await.unwrap();
        let req = NewAppointment { citizen_id: c.id, slot_id: slot.id.clone(), service: "renewal".into(), month: "2026-09".into(), max_cancellations_per_month: 3, max_no_shows_per_month: 3, now: made };
        codes.push(store.book(&req).await.unwrap().code);
    }
    // Two of the three come; one walk-in at p1 the same day, one at p2 the next day (skipped: still a visit).
    store.check_in("p1", "2026-09-29", &codes[0], at("2026-09-29", 9)).await.unwrap();
    store.check_in("p1", "2026-09-29", &codes[1], at("2026-09-29", 9)).await.unwrap();
    store.walk_in_ticket("p1", "2026-09-29", at("2026-09-29", 10)).await.unwrap();
    let w = store.walk_in_ticket("p2", "2026-09-30", at("2026-09-30", 10)).await.unwrap();
    store.call_ticket(&w.id, 1, at("2026-09-30", 10)).await.unwrap();
    store.finish_ticket(&w.id, TicketStatus::Skipped, at("2026-09-30", 11)).await.unwrap();
    store.walk_in_ticket("p2", "2026-10-01", at("2026-10-01", 10)).await.unwrap();

    let all = store.visit_stats(d("2026-09-25"), d("2026-10-01"), &StatsFilter::default()).await.unwrap();
    assert_eq!(
        all,
        vec![
            // 23:00 on the 25th China time is still the 25th; 01:00 on the 26th is the 26th.
            row("2026-09-25", StatKind::BookingMade, Some("p1"), Some("340104"), 2),
            row("2026-09-26", StatKind::BookingMade, Some("p1"), Some("340104"), 1),
            row("2026-09-29", StatKind::VisitBooked, Some("p1"), Some("340104"), 2),
            row("2026-09-29", StatKind::VisitWalkIn, Some("p1"), Some("340104"), 1),
            row("2026-09-30", StatKind::VisitWalkIn, Some("p2"), Some("340102"), 1),
        ]
    );
    // The range end is exclusive; the district and point filters narrow.
    let p2 = store.visit_stats(d("2026-09-25"), d("2026-10-02"), &filter(Some("340102"), None)).await.unwrap();
    assert_eq!(p2.iter().map(|r| (r.day, r.n)).collect::<Vec<_>>(), vec![(d("2026-09-30"), 1), (d("2026-10-01"), 1)]);
    let p1 = store.visit_stats(d("2026-09-26"), d("2026-10-02"), &filter(Some("3401"), Some("p1"))).await.unwrap();
    assert_eq!(p1.iter().map(|r| (r.kind, r.n)).collect::<Vec<_>>(), vec![(StatKind::BookingMade, 1), (StatKind::VisitBooked, 2), (StatKind::VisitWalkIn, 1)]);
    assert!(store.visit_stats(d("2026-09-25"), d("2026-10-02"), &filter(Some("3402"), None)).await.unwrap().is_empty());
    // LIKE wildcards in a prefix are not wildcards.
    assert!(store.visit_stats(d("2026-09-25"), d("2026-10-02"), &filter(Some("%"), None)).await.unwrap().len() == 6);
});

both_backends!(fees_per_channel_where_they_were_paid, |store| {
    point(&store, "p1", "340104").await;
    point(&store, "p2", "340102").await;
    let online = walk(&store, application(Channel::Online, DeliveryMethod::Ems, "340111", None), &[]).await;
    pay(&store, &order(&online.id, "alipay", 2000, None), at("2026-09-29", 20), PaymentStatus::Success).await;
    pay(&store, &order(&online.id, "wechat", 1200, None), at("2026-09-29", 21), PaymentStatus::Success).await;
    pay(&store, &order("counter-1", "cash", 2000, Some("p2")), at("2026-09-30", 9), PaymentStatus::Success).await;
    let qr = pay(&store, &order("counter-2", "wechat_qr", 4000, Some("p1")), at("2026-09-30", 10), PaymentStatus::Success).await;
    store.start_refund(&qr.id, "R1", 500, "test", at("2026-09-30", 11)).await.unwrap();
    pay(&store, &order("counter-3", "wechat_qr", 2000, Some("p1")), at("2026-09-30", 15), PaymentStatus::Success).await;
    pay(&store, &order("counter-4", "alipay_qr", 2000, Some("p1")), at("2026-09-30", 16), PaymentStatus::Failed).await;
    pay(&store, &order("nothing-known", "unionpay", 2000, None), at("2026-09-30", 17), PaymentStatus::Success).await;
    pay(&store, &order("counter-5", "cash", 2000, Some("p1")), at("2026-10-01", 9), PaymentStatus::Success).await;

    let rows = store.fee_stats(d("2026-09-29"), d("2026-10-01"), &StatsFilter::default()).await.unwrap();
    let got: Vec<_> = rows.iter().map(|r| (r.day - d("2026-09-29"), r.point_id.as_deref(), r.district_code.as_deref(), r.channel.as_deref().unwrap(), r.n, r.amount_fen, r.refunded_fen)).collect();
    assert_eq!(
        got,
        vec![
            // Online payments take the district of the application they pay for.
            (0, None, Some("340111"), "alipay", 1, 2000, 0),
            (0, None, Some("340111"), "wechat", 1, 1200, 0),
            (1, None, None, "unionpay", 1, 2000, 0),
            (1, Some("p1"), Some("340104"), "wechat_qr", 2, 6000, 500),
            (1, Some("p2"), Some("340102"), "cash", 1, 2000, 0),
        ]
    );
    assert!(rows.iter().all(|r| r.kind == StatKind::Paid));
    let hefei_urban = store.fee_stats(d("2026-09-29"), d("2026-10-02"), &filter(Some("340104"), None)).await.unwrap();
    assert_eq!(hefei_urban.iter().map(|r| (r.channel.as_deref().unwrap(), r.n)).collect::<Vec<_>>(), vec![("wechat_qr", 2), ("cash", 1)]);
    let at_p2 = store.fee_stats(d("2026-09-29"), d("2026-10-02"), &filter(None, Some("p2"))).await.unwrap();
    assert_eq!(at_p2.len(), 1);
});

both_backends!(applications_users_and_cycles, |store| {
    point(&store, "p2", "340102").await;
    // Online, EMS: submitted the 28th, approved the 29th, delivered 10-09 (across National Day).
    walk(
        &store,
        application(Channel::Online, DeliveryMethod::Ems, "340104", None),
        &[
            (S::Submitted, at("2026-09-28", 10)),
            (S::UnderReview, at("2026-09-28", 11)),
            (S::Approved, at("2026-09-29", 9)),
            (S::AwaitingPayment, at("2026-09-29", 9)),
            (S::Paid, at("2026-09-29", 12)),
            (S::InProduction, at("2026-09-30", 9)),
            (S::Produced, at("2026-10-08", 9)),
            (S::QualityChecked, at("2026-10-08", 10)),
            (S::Dispatched, at("2026-10-08", 11)),
            (S::Delivered, at("2026-10-09", 15)),
            (S::Closed, at("2026-10-10", 15)),
        ],
    )
    .await;
    // Online, then the counter: returned and resubmitted (counted once), approved 10-08, ready 10-12, collected 10-14.
    walk(
        &store,
        application(Channel::OnlineThenCounter, DeliveryMethod::Pickup, "340102", Some("p2")),
        &[
            (S::Submitted, at("2026-09-29", 10)),
            (S::UnderReview, at("2026-09-29", 11)),
            (S::Returned, at("2026-09-29", 12)),
            (S::Submitted, at("2026-09-30", 10)),
            (S::UnderReview, at("2026-09-30", 11)),
            (S::Approved, at("2026-10-08", 9)),
            (S::Paid, at("2026-10-08", 10)),
            (S::InProduction, at("2026-10-08", 11)),
            (S::ReadyForPickup, at("2026-10-12", 9)),
            (S::Collected, at("2026-10-14", 9)),
        ],
    )
    .await;
    // At the counter, rejected the day it was submitted.
    walk(
        &store,
        application(Channel::Counter, DeliveryMethod::Pickup, "341302", Some("p2")),
        &[(S::Submitted, at("2026-09-30", 14)), (S::UnderReview, at("2026-09-30", 15)), (S::Rejected, at("2026-09-30", 16))],
    )
    .await;
    // Card available before the range: not in the cycle figures.
    walk(&store, application(Channel::Online, DeliveryMethod::Ems, "340104", None), &[(S::Submitted, at("2026-09-01", 9)), (S::Delivered, at("2026-09-20", 9))]).await;

    let rows = store.application_stats(d("2026-09-28"), d("2026-10-09"), &StatsFilter::default()).await.unwrap();
    let got: Vec<_> = rows.iter().map(|r| (r.day - d("2026-09-28"), r.kind, r.district_code.as_deref().unwrap(), r.channel.as_deref().unwrap(), r.delivery.as_deref().unwrap(), r.n)).collect();
    assert_eq!(
        got,
        vec![
            (0, StatKind::Submitted, "340104", "online", "ems", 1),
            (1, StatKind::Submitted, "340102", "online_then_counter", "pickup", 1),
            (1, StatKind::Approved, "340104", "online", "ems", 1),
            // A counter application takes its point's district, not the applicant's.
            (2, StatKind::Submitted, "340102", "counter", "pickup", 1),
            (2, StatKind::Rejected, "340102", "counter", "pickup", 1),
            (10, StatKind::Approved, "340102", "online_then_counter", "pickup", 1),
        ]
    );
    assert_eq!(store.application_stats(d("2026-09-28"), d("2026-10-09"), &filter(None, Some("p2"))).await.unwrap().len(), 4);
    assert_eq!(store.application_stats(d("2026-09-28"), d("2026-10-09"), &filter(Some("340104"), None)).await.unwrap().len(), 2);

    let cycles = store.cycle_stats(d("2026-10-01"), d("2026-11-01"), &StatsFilter::default()).await.unwrap();
    assert_eq!(
        cycles,
        vec![
            CycleRow { submitted_day: d("2026-09-28"), available_day: d("2026-10-09"), point_id: None, district_code: Some("340104".into()), n: 1 },
            // The first submission and the first day of availability count, not the resubmission or the collection.
            CycleRow { submitted_day: d("2026-09-29"), available_day: d("2026-10-12"), point_id: Some("p2".into()), district_code: Some("340102".into()), n: 1 },
        ]
    );
    assert_eq!(store.cycle_stats(d("2026-10-10"), d("2026-11-01"), &StatsFilter::default()).await.unwrap().len(), 1);
    assert_eq!(store.cycle_stats(d("2026-10-01"), d("2026-11-01"), &filter(Some("340104"), None)).await.unwrap().len(), 1);
    assert_eq!(store.cycle_stats(d("2026-10-01"), d("2026-11-01"), &filter(None, Some("p2"))).await.unwrap()[0].n, 1);

    // Accounts: created on three days, two verified (one the day after it was created).
    let ident = |n: &str, hukou: &str| VerifiedIdentity {
        name_enc: vec![1],
        name_masked: "张*".into(),
        id_number_enc: vec![2],
        id_number_blind: format!("blind-{n}"),
        id_number_masked: "3401**********1234".into(),
        hukou_code: hukou.into(),
    };
    let a = store.citizen_for_phone("13800000801", at("2026-09-27", 12)).await.unwrap();
    store.record_primary_verification(&a.id, &ident("a", "340104"), at("2026-09-27", 13)).await.unwrap();
    let b = store.citizen_for_phone("13800000802", at("2026-09-28", 23)).await.unwrap();
    store.record_primary_verification(&b.id, &ident("b", "340102"), at("2026-09-29", 8)).await.unwrap();
    store.citizen_for_phone("13800000803", at("2026-09-29", 9)).await.unwrap();
    let users = store.user_stats(d("2026-09-28"), d("2026-09-30"), &StatsFilter::default()).await.unwrap();
    let got: Vec<_> = users.iter().map(|r| (r.day - d("2026-09-28"), r.kind, r.district_code.as_deref(), r.n)).collect();
    // The verified account's district shows on its registration too (the row is read now).
    assert_eq!(got, vec![(0, StatKind::Registered, Some("340102"), 1), (1, StatKind::Registered, None, 1), (1, StatKind::Verified, Some("340102"), 1)]);
    assert_eq!(store.user_stats(d("2026-09-28"), d("2026-09-30"), &filter(Some("340104"), None)).await.unwrap(), vec![]);
    assert!(store.user_stats(d("2026-09-01"), d("2026-10-30"), &filter(None, Some("p2"))).await.unwrap().is_empty(), "accounts belong to no point");
    let base = store.users_before(d("2026-09-29"), &StatsFilter::default()).await.unwrap();
    assert_eq!(
        base,
        vec![
            UserBase { district_code: Some("340102".into()), registered: 1, verified: 0 },
            UserBase { district_code: Some("340104".into()), registered: 1, verified: 1 },
        ]
    );
    assert_eq!(store.users_before(d("2026-09-30"), &filter(Some("3401"), None)).await.unwrap().iter().map(|u| u.verified).sum::<i64>(), 2);
});
