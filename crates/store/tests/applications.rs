//! Conformance tests for application storage, on SQLite and (when configured) PostgreSQL: the versioned move
//! (exactly one of racing moves wins, with its timeline entry), the review claim as a lease, listings by state and
//! division, the online-route counters, portraits, and the payment sweeps.

use std::sync::Arc;

use shenfen_domain::applications::{ApplicationKind, ApplicationState as S, Channel, DeliveryMethod};
use shenfen_store::*;

const NOW: i64 = 1_790_000_000_000;

fn app(citizen_id: Option<String>, division: &str) -> Application {
    let id = new_id();
    Application {
        ref_no: format!("SQ{}", &id.replace('-', "")[20..]),
        id,
        citizen_id,
        kind: ApplicationKind::RenewalExpiry,
        channel: Channel::Online,
        state: S::Draft,
        version: 1,
        applicant_name_enc: vec![1, 2, 3],
        applicant_name_masked: "张*".into(),
        applicant_id_enc: vec![4, 5, 6],
        applicant_id_masked: "3401**********1234".into(),
        applicant_id_blind: "blind".into(),
        division_code: division.into(),
        point_id: None,
        portrait_source: Some("phone".into()),
        portrait_id: None,
        delivery_method: DeliveryMethod::Ems,
        delivery_division: Some("340104".into()),
        delivery_address_enc: Some(vec![7]),
        delivery_address_masked: Some("安徽省合肥市****".into()),
        recipient_phone: Some("13800000001".into()),
        pickup_point_id: None,
        fee_waived: false,
        fee_fen: 2000,
        postage_fen: 1200,
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
        created_at: NOW,
        updated_at: NOW,
    }
}

fn mv(a: &Application, to: S, event: &str, at: i64) -> AppliedTransition {
    AppliedTransition {
        application_id: a.id.clone(),
        expected_version: a.version,
        from: a.state,
        to,
        changes: ApplicationChanges::default(),
        event: event.into(),
        actor_kind: "citizen".into(),
        actor_id: "c".into(),
        detail: "{}".into(),
        online_cancellation: false,
        failed_photo_review: false,
        at,
    }
}

shenfen_store::both_backends!(insert_and_read_back, |store| {
    let c = store.citizen_for_phone("13800000501", NOW).await.unwrap().id;
    let a = app(Some(c.clone()), "340104");
    store.insert_application(&a).await.unwrap();
    assert_eq!(store.application(&a.id).await.unwrap().unwrap(), a);
    assert_eq!(store.application_by_ref(&a.ref_no).await.unwrap().unwrap(), a);
    assert_eq!(store.applications_of(&c, 10).await.unwrap(), vec![a.clone()]);
    // The reference number is unique.
    let mut dup = app(Some(c), "340104");
    dup.ref_no = a.ref_no.clone();
    assert!(matches!(store.insert_application(&dup).await, Err(StoreError::Conflict("application_exists"))));
    assert_eq!(store.count_applications().await.unwrap(), 1);
    assert!(store.storage_bytes().await.unwrap() > 0);
});

shenfen_store::both_backends!(a_move_sticks_once_with_its_timeline_entry, |store| {
    let a = app(None, "340104");
    store.insert_application(&a).await.unwrap();
    let mut t = mv(&a, S::Submitted, "submit", NOW + 1);
    t.changes.submitted_at = Some(NOW + 1);
    let moved = store.apply_transition(&t).await.unwrap().unwrap();
    assert_eq!((moved.state, moved.version, moved.submitted_at), (S::Submitted, 2, Some(NOW + 1)));
    // The same decision again (same expected version) changes nothing.
    assert!(store.apply_transition(&t).await.unwrap().is_none());
    // A stale `from` is refused even at the right version.
    let wrong = AppliedTransition { expected_version: 2, from: S::Draft, ..mv(&moved, S::UnderReview, "start_review", NOW + 2) };
    assert!(store.apply_transition(&wrong).await.unwrap().is_none());
    let events = store.application_events(&a.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].seq, events[0].from_state, events[0].to_state, events[0].event.as_str()), (2, S::Draft, S::Submitted, "submit"));
    // COALESCE keeps what a later move does not set.
    let reviewed = store.apply_transition(&mv(&moved, S::UnderReview, "start_review", NOW + 3)).await.unwrap().unwrap();
    assert_eq!(reviewed.submitted_at, Some(NOW + 1));
    assert_eq!(store.application_events_between(NOW, NOW + 10, 100).await.unwrap().len(), 2);
});

shenfen_store::both_backends!(of_racing_moves_exactly_one_wins, |store| {
    let a = app(None, "340104");
    store.insert_application(&a).await.unwrap();
    let a = store.apply_transition(&mv(&a, S::Submitted, "submit", NOW)).await.unwrap().unwrap();
    let a = store.apply_transition(&mv(&a, S::UnderReview, "start_review", NOW)).await.unwrap().unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (store, t) = (Arc::clone(&store), mv(&a, if i % 2 == 0 { S::Approved } else { S::Cancelled }, "race", NOW + i));
        tasks.push(tokio::spawn(async move { store.apply_transition(&t).await.unwrap() }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += t.await.unwrap().is_some() as usize;
    }
    assert_eq!(winners, 1);
    let events = store.application_events(&a.id).await.unwrap();
    assert_eq!(events.len(), 3, "one timeline entry per move that happened");
    let now = store.application(&a.id).await.unwrap().unwrap();
    assert_eq!(now.version, 4);
    assert_eq!(now.state, events[2].to_state);
});

shenfen_store::both_backends!(the_review_claim_is_a_lease, |store| {
    let a = app(None, "340104");
    store.insert_application(&a).await.unwrap();
    // Drafts cannot be claimed.
    assert!(!store.claim_review(&a.id, "r1", NOW, NOW + 900_000).await.unwrap());
    let a = store.apply_transition(&mv(&a, S::Submitted, "submit", NOW)).await.unwrap().unwrap();
    assert!(store.claim_review(&a.id, "r1", NOW, NOW + 900_000).await.unwrap());
    // Another reviewer is refused while the lease runs; the holder may renew.
    assert!(!store.claim_review(&a.id, "r2", NOW + 1, NOW + 900_001).await.unwrap());
    assert!(store.claim_review(&a.id, "r1", NOW + 2, NOW + 1_800_000).await.unwrap());
    // After it lapses, someone else takes over.
    assert!(store.claim_review(&a.id, "r2", NOW + 1_800_001, NOW + 2_700_000).await.unwrap());
    assert_eq!(store.application(&a.id).await.unwrap().unwrap().claimed_by.as_deref(), Some("r2"));
    // Releasing is only for the holder; a decision that releases the claim clears it.
    store.release_review(&a.id, "r1").await.unwrap();
    assert_eq!(store.application(&a.id).await.unwrap().unwrap().claimed_by.as_deref(), Some("r2"));
    let a = store.application(&a.id).await.unwrap().unwrap();
    let mut t = mv(&a, S::UnderReview, "start_review", NOW + 3);
    t.changes.release_claim = true;
    let after = store.apply_transition(&t).await.unwrap().unwrap();
    assert_eq!((after.claimed_by, after.claim_until), (None, None));
});

shenfen_store::both_backends!(listings_follow_state_and_division, |store| {
    let mut ids = Vec::new();
    for (i, div) in ["340104", "340104", "340102", "341302"].iter().enumerate() {
        let a = app(None, div);
        store.insert_application(&a).await.unwrap();
        let mut t = mv(&a, S::Submitted, "submit", NOW + i as i64);
        t.changes.submitted_at = Some(NOW + 10 - i as i64);
        store.apply_transition(&t).await.unwrap().unwrap();
        ids.push(a.id);
    }
    let district = store.applications_in(&[S::Submitted], &DivisionFilter::Prefix("340104".into()), 10).await.unwrap();
    assert_eq!(district.len(), 2);
    // Oldest submission first.
    assert!(district[0].submitted_at < district[1].submitted_at);
    assert_eq!(store.applications_in(&[S::Submitted], &DivisionFilter::Prefix("3401".into()), 10).await.unwrap().len(), 3);
    assert_eq!(store.applications_in(&[S::Submitted], &DivisionFilter::Prefix("34".into()), 10).await.unwrap().len(), 4);
    assert_eq!(store.applications_in(&[S::Submitted], &DivisionFilter::All, 2).await.unwrap().len(), 2);
    assert!(store.applications_in(&[S::Approved], &DivisionFilter::All, 10).await.unwrap().is_empty());
    // LIKE wildcards in a scope code are not wildcards.
    assert!(store.applications_in(&[S::Submitted], &DivisionFilter::Prefix("%".into()), 10).await.unwrap().len() == 4);
    assert!(store.applications_in(&[], &DivisionFilter::All, 10).await.unwrap().is_empty());
});

shenfen_store::both_backends!(online_counters_count_cancellations_and_photo_returns, |store| {
    let c = store.citizen_for_phone("13800000502", NOW).await.unwrap().id;
    let day = 86_400_000;
    for (at, cancel, photo) in [(NOW - 40 * day, true, false), (NOW - 5 * day, true, false), (NOW - 10, true, false), (NOW - 20, false, true), (NOW - 3 * day, false, true)] {
        let a = app(Some(c.clone()), "340104");
        store.insert_application(&a).await.unwrap();
        let mut t = mv(&a, S::Cancelled, "cancel", at);
        t.online_cancellation = cancel;
        t.failed_photo_review = photo;
        store.apply_transition(&t).await.unwrap().unwrap();
    }
    let counters = store.online_counters(&c, NOW - day / 2, NOW - 20 * day, NOW - 2 * day).await.unwrap();
    assert_eq!(counters, OnlineCounters { cancellations_today: 1, cancellations_this_month: 2, failed_photo_reviews: 1 });
    let other = store.online_counters("someone-else", NOW - day, NOW - 30 * day, 0).await.unwrap();
    assert_eq!(other, OnlineCounters::default());
});

shenfen_store::both_backends!(portraits_keep_every_photo_and_verdict, |store| {
    let c = store.citizen_for_phone("13800000503", NOW).await.unwrap().id;
    let a = app(Some(c.clone()), "340104");
    store.insert_application(&a).await.unwrap();
    for (i, passed) in [false, true].into_iter().enumerate() {
        let p = Portrait {
            id: new_id(),
            citizen_id: Some(c.clone()),
            application_id: Some(a.id.clone()),
            source: "phone".into(),
            content_type: "image/jpeg".into(),
            bytes: vec![0xFF, 0xD8, i as u8],
            sha256: format!("h{i}"),
            passed,
            report: "{\"verdict\":\"fail\"}".into(),
            created_at: NOW + i as i64,
        };
        store.insert_portrait(&p).await.unwrap();
        assert_eq!(store.portrait(&p.id).await.unwrap().unwrap(), p);
    }
    let list = store.portraits_of(&c, Some(&a.id), 10).await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(list[0].passed && list[0].bytes.is_empty(), "newest first, listed without bytes");
    assert_eq!(store.portraits_of(&c, None, 10).await.unwrap().len(), 2);
    assert!(store.portraits_of(&c, Some("other"), 10).await.unwrap().is_empty());
});

shenfen_store::both_backends!(payment_sweeps_find_overdue_and_paid, |store| {
    let c = store.citizen_for_phone("13800000504", NOW).await.unwrap().id;
    let mut apps = Vec::new();
    for due in [NOW - 1, NOW + 3_600_000] {
        let a = app(Some(c.clone()), "340104");
        store.insert_application(&a).await.unwrap();
        let mut t = mv(&a, S::AwaitingPayment, "request_payment", NOW - 100);
        t.changes.payment_due_at = Some(due);
        apps.push(store.apply_transition(&t).await.unwrap().unwrap());
    }
    let overdue = store.payment_overdue(NOW, 10).await.unwrap();
    assert_eq!(overdue.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), vec![apps[0].id.clone()]);
    // A successful order for the second one: the sweep finds it.
    assert!(store.paid_but_waiting(10).await.unwrap().is_empty());
    let order = PaymentOrder {
        id: new_id(),
        order_no: order_number(),
        citizen_id: Some(c.clone()),
        reference: apps[1].id.clone(),
        item: "renewal".into(),
        amount_fen: 2000,
        channel: Some("alipay".into()),
        status: PaymentStatus::Created,
        failure_code: None,
        provider_trade_no: None,
        refunded_fen: 0,
        point_id: None,
        staff_id: None,
        cash_received_fen: None,
        created_at: NOW,
        updated_at: NOW,
        expires_at: NOW + 1,
        paid_at: None,
        opened_at: None,
    };
    store.create_order(&order, None).await.unwrap();
    let mut t = mv(&apps[1], S::AwaitingPayment, "order", NOW);
    t.changes.payment_order_no = Some(order.order_no.clone());
    store.apply_transition(&t).await.unwrap().unwrap();
    assert!(store.paid_but_waiting(10).await.unwrap().is_empty());
    store.change_status(&order.order_no, &[PaymentStatus::Created], PaymentStatus::Success, &OrderUpdate::default(), NOW).await.unwrap().unwrap();
    assert_eq!(store.paid_but_waiting(10).await.unwrap().len(), 1);
});

shenfen_store::both_backends!(many_concurrent_moves_all_stick_each_with_its_timeline_entry, |store| {
    // Enough moves at once that SQLite's writer commits them in groups: every one lands with its timeline row, and a
    // stale one among them (its application moved meanwhile) is refused alone while the rest of its group commits.
    let mut apps = Vec::new();
    for _ in 0..120 {
        let a = app(None, "340104");
        store.insert_application(&a).await.unwrap();
        apps.push(a);
    }
    store.apply_transition(&mv(&apps[60], S::Submitted, "submit", NOW)).await.unwrap().unwrap();
    let mut tasks = Vec::new();
    for (i, a) in apps.iter().enumerate() {
        let (store, t) = (Arc::clone(&store), mv(a, S::Submitted, "submit", NOW + i as i64));
        tasks.push(tokio::spawn(async move { store.apply_transition(&t).await }));
    }
    let mut applied = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(Some(_)) => applied += 1,
            Ok(None) => assert_eq!(i, 60, "only the stale move is refused"),
            Err(e) => panic!("move {i} failed: {e}"),
        }
    }
    assert_eq!(applied, 119);
    for a in &apps {
        assert_eq!(store.application_events(&a.id).await.unwrap().len(), 1, "one timeline entry per application");
        assert_eq!(store.application(&a.id).await.unwrap().unwrap().state, S::Submitted);
    }
});
