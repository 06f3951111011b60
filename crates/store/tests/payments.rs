//! Conformance tests for payment storage, on SQLite and (when configured) PostgreSQL: idempotent creation,
//! conditional state changes, notifications applied once, refunds never above what was paid (also under
//! concurrency), channel totals and cash shifts.

use std::sync::Arc;

use shenfen_store::*;

const NOW: i64 = 1_790_000_000_000;

fn order(citizen_id: Option<String>, amount_fen: i64) -> PaymentOrder {
    PaymentOrder {
        id: new_id(),
        order_no: order_number(),
        citizen_id,
        reference: "application-1".into(),
        item: "renewal".into(),
        amount_fen,
        channel: None,
        status: PaymentStatus::Created,
        failure_code: None,
        provider_trade_no: None,
        refunded_fen: 0,
        point_id: None,
        staff_id: None,
        cash_received_fen: None,
        created_at: NOW,
        updated_at: NOW,
        expires_at: NOW + 48 * 3_600_000,
        paid_at: None,
        opened_at: None,
    }
}

async fn paid(store: &DynStore, amount_fen: i64) -> PaymentOrder {
    let o = order(None, amount_fen);
    store.create_order(&o, None).await.unwrap();
    let u = OrderUpdate { channel: Some("alipay".into()), paid_at: Some(NOW + 1), provider_trade_no: Some("2026112622001".into()), ..Default::default() };
    store.change_status(&o.order_no, &[PaymentStatus::Created], PaymentStatus::Success, &u, NOW + 1).await.unwrap().unwrap()
}

shenfen_store::both_backends!(order_numbers_are_unique_and_fit_every_provider, |store| {
    let _ = &store;
    let a = order_number();
    let b = order_number();
    assert_ne!(a, b);
    assert_eq!(a.len(), 32);
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
});

shenfen_store::both_backends!(idempotency_key_returns_the_first_order, |store| {
    let citizen = store.citizen_for_phone("13800000401", NOW).await.unwrap().id;
    let key = IdempotencyKey { scope: citizen.clone(), key: "k-1".into(), request_hash: "h1".into() };
    let first = order(Some(citizen.clone()), 2000);
    assert_eq!(store.create_order(&first, Some(&key)).await.unwrap(), CreateOutcome::Created(first.clone()));
    // Same key, same body: the first order again, and no second order.
    let again = order(Some(citizen.clone()), 2000);
    assert_eq!(store.create_order(&again, Some(&key)).await.unwrap(), CreateOutcome::Replayed(first.clone()));
    assert!(store.order(&again.id).await.unwrap().is_none());
    // Same key, another body: refused, nothing written.
    let other = IdempotencyKey { request_hash: "h2".into(), ..key.clone() };
    let third = order(Some(citizen.clone()), 4000);
    assert!(matches!(store.create_order(&third, Some(&other)).await, Err(StoreError::Conflict("idempotency_key_reused"))));
    assert!(store.order(&third.id).await.unwrap().is_none());
    // The key is per caller.
    let someone_else = IdempotencyKey { scope: "other".into(), ..key };
    assert!(matches!(store.create_order(&order(None, 2000), Some(&someone_else)).await.unwrap(), CreateOutcome::Created(_)));
    assert_eq!(store.orders_of(&citizen).await.unwrap().len(), 1);
});

shenfen_store::both_backends!(concurrent_creations_with_one_key_make_one_order, |store| {
    let key = IdempotencyKey { scope: "citizen-x".into(), key: "same".into(), request_hash: "h".into() };
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (store, key) = (Arc::clone(&store), key.clone());
        tasks.push(tokio::spawn(async move { store.create_order(&order(None, 2000), Some(&key)).await.unwrap() }));
    }
    let mut ids = std::collections::HashSet::new();
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            CreateOutcome::Created(o) => {
                created += 1;
                ids.insert(o.id);
            }
            CreateOutcome::Replayed(o) => {
                ids.insert(o.id);
            }
        }
    }
    assert_eq!((created, ids.len()), (1, 1));
});

shenfen_store::both_backends!(status_changes_only_from_the_named_states, |store| {
    let o = order(None, 2000);
    store.create_order(&o, None).await.unwrap();
    let start = OrderUpdate { channel: Some("wechat".into()), ..Default::default() };
    let started = store.change_status(&o.order_no, &[PaymentStatus::Created], PaymentStatus::Started, &start, NOW + 5).await.unwrap().unwrap();
    assert_eq!((started.status, started.channel.as_deref(), started.updated_at), (PaymentStatus::Started, Some("wechat"), NOW + 5));
    // Not from `created` any more.
    assert!(store.change_status(&o.order_no, &[PaymentStatus::Created], PaymentStatus::Cancelled, &OrderUpdate::default(), NOW + 6).await.unwrap().is_none());
    // Cancel and pay race: exactly one wins.
    let open = [PaymentStatus::Started, PaymentStatus::Submitted];
    let (none, pay) = (OrderUpdate::default(), OrderUpdate { paid_at: Some(NOW + 7), ..Default::default() });
    let (a, b) = tokio::join!(
        store.change_status(&o.order_no, &open, PaymentStatus::Cancelled, &none, NOW + 7),
        store.change_status(&o.order_no, &open, PaymentStatus::Success, &pay, NOW + 7),
    );
    assert_eq!([a.unwrap().is_some(), b.unwrap().is_some()].iter().filter(|x| **x).count(), 1);
    // Unknown order numbers change nothing.
    assert!(store.change_status("SFNOPE", &[PaymentStatus::Created], PaymentStatus::Started, &OrderUpdate::default(), NOW).await.unwrap().is_none());
    assert!(store.change_status(&o.order_no, &[], PaymentStatus::Started, &OrderUpdate::default(), NOW).await.unwrap().is_none());
});

shenfen_store::both_backends!(a_notification_is_applied_once, |store| {
    let o = order(None, 2000);
    store.create_order(&o, None).await.unwrap();
    assert!(store.first_notification("alipay", "notify-1", &o.order_no, "applied", NOW).await.unwrap());
    assert!(!store.first_notification("alipay", "notify-1", &o.order_no, "applied", NOW + 1).await.unwrap());
    // The same id from another provider is another event.
    assert!(store.first_notification("wechat", "notify-1", &o.order_no, "applied", NOW).await.unwrap());
    // 200 replays at once: exactly one is first.
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (store, no) = (Arc::clone(&store), o.order_no.clone());
        tasks.push(tokio::spawn(async move { store.first_notification("unionpay", "q-77", &no, "applied", NOW).await.unwrap() }));
    }
    let mut firsts = 0;
    for t in tasks {
        firsts += t.await.unwrap() as u32;
    }
    assert_eq!(firsts, 1);
});

shenfen_store::both_backends!(refunds_never_exceed_what_was_paid, |store| {
    let unpaid = order(None, 2000);
    store.create_order(&unpaid, None).await.unwrap();
    assert!(matches!(store.start_refund(&unpaid.id, "R1", 2000, "test", NOW).await, Err(StoreError::Conflict("refund_not_paid"))));
    assert!(matches!(store.start_refund("nope", "R0", 2000, "test", NOW).await, Err(StoreError::NotFound)));

    let o = paid(&store, 2000).await;
    assert!(matches!(store.start_refund(&o.id, "R2", 0, "zero", NOW).await, Err(StoreError::Conflict("amount_invalid"))));
    assert!(matches!(store.start_refund(&o.id, "R3", 2001, "too much", NOW).await, Err(StoreError::Conflict("refund_exceeds_paid"))));
    let r = store.start_refund(&o.id, "R4", 1500, "partial", NOW).await.unwrap();
    assert_eq!(r.status, RefundStatus::Pending);
    assert!(matches!(store.start_refund(&o.id, "R5", 501, "over", NOW).await, Err(StoreError::Conflict("refund_exceeds_paid"))));
    assert!(matches!(store.start_refund(&o.id, "R4", 100, "dup no", NOW).await, Err(StoreError::Conflict("refund_no_taken"))));
    assert_eq!(store.order(&o.id).await.unwrap().unwrap().refunded_fen, 1500, "a refused refund changed nothing");

    // A failed refund gives the amount back; finishing twice is a no-op.
    assert_eq!(store.finish_refund("R4", RefundStatus::Failed, None, NOW + 1).await.unwrap().unwrap().status, RefundStatus::Failed);
    assert!(store.finish_refund("R4", RefundStatus::Success, None, NOW + 2).await.unwrap().is_none());
    assert_eq!(store.order(&o.id).await.unwrap().unwrap().refunded_fen, 0);
    let full = store.start_refund(&o.id, "R6", 2000, "rejected application", NOW).await.unwrap();
    store.finish_refund(&full.refund_no, RefundStatus::Success, Some("P-R6"), NOW + 3).await.unwrap().unwrap();
    assert_eq!(store.order(&o.id).await.unwrap().unwrap().refunded_fen, 2000);
    assert_eq!(store.refunds_of(&o.id).await.unwrap().len(), 2);
    assert!(store.pending_refunds(10).await.unwrap().is_empty());
});

shenfen_store::both_backends!(concurrent_refunds_stay_within_the_payment, |store| {
    let o = paid(&store, 2000).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (store, id) = (Arc::clone(&store), o.id.clone());
        tasks.push(tokio::spawn(async move { store.start_refund(&id, &format!("RC{i}"), 300, "race", NOW).await.is_ok() }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap() as i64;
    }
    assert_eq!(ok, 6, "six refunds of 3 yuan fit into 20 yuan");
    assert_eq!(store.order(&o.id).await.unwrap().unwrap().refunded_fen, 1800);
});

shenfen_store::both_backends!(channel_totals_and_cash_shifts, |store| {
    let staff = "staff-1";
    let shift = store.open_shift("point-1", staff, NOW).await.unwrap();
    assert!(matches!(store.open_shift("point-1", staff, NOW).await, Err(StoreError::Conflict("shift_open"))));
    assert_eq!(store.open_shift_of(staff).await.unwrap().unwrap().id, shift.id);
    for (channel, amount) in [("cash", 2000), ("cash", 4000), ("alipay_qr", 2000)] {
        let o = order(None, amount);
        store.create_order(&o, None).await.unwrap();
        let u = OrderUpdate { channel: Some(channel.into()), paid_at: Some(NOW + 10), point_id: Some("point-1".into()), staff_id: Some(staff.into()), ..Default::default() };
        store.change_status(&o.order_no, &[PaymentStatus::Created], PaymentStatus::Success, &u, NOW + 10).await.unwrap().unwrap();
    }
    paid(&store, 2000).await; // online Alipay, no point
    let totals = store.channel_totals(NOW, NOW + 100, None).await.unwrap();
    let get = |c: &str| totals.iter().find(|t| t.channel == c).map(|t| (t.count, t.amount_fen));
    assert_eq!((get("cash"), get("alipay_qr"), get("alipay")), (Some((2, 6000)), Some((1, 2000)), Some((1, 2000))));
    let at_point = store.channel_totals(NOW, NOW + 100, Some("point-1")).await.unwrap();
    assert_eq!(at_point.iter().map(|t| t.count).sum::<i64>(), 3);
    assert!(store.channel_totals(NOW + 100, NOW + 200, None).await.unwrap().is_empty());

    let closed = store.close_shift(staff, 5500, NOW + 50).await.unwrap();
    assert_eq!((closed.expected_fen, closed.counted_fen, closed.closed_at), (Some(6000), Some(5500), Some(NOW + 50)));
    assert!(matches!(store.close_shift(staff, 0, NOW + 60).await, Err(StoreError::Conflict("no_open_shift"))));
    assert!(store.open_shift_of(staff).await.unwrap().is_none());
    store.open_shift("point-1", staff, NOW + 70).await.unwrap();
});

shenfen_store::both_backends!(unpaid_orders_expire_at_their_deadline, |store| {
    let due = order(None, 2000);
    let later = PaymentOrder { expires_at: NOW + 10 * 3_600_000 * 48, ..order(None, 2000) };
    let submitted = order(None, 2000);
    for o in [&due, &later, &submitted] {
        store.create_order(o, None).await.unwrap();
    }
    store.change_status(&submitted.order_no, &[PaymentStatus::Created], PaymentStatus::Submitted, &OrderUpdate::default(), NOW).await.unwrap().unwrap();
    let expired = store.expire_unpaid(NOW + 48 * 3_600_000).await.unwrap();
    assert_eq!(expired.iter().map(|o| o.order_no.clone()).collect::<Vec<_>>(), vec![due.order_no.clone()]);
    assert!(store.expire_unpaid(NOW + 48 * 3_600_000).await.unwrap().is_empty(), "once");
    assert_eq!(store.order(&submitted.id).await.unwrap().unwrap().status, PaymentStatus::Submitted);
});

shenfen_store::both_backends!(reconciliation_runs_are_claimed_once_and_fenced_by_attempt, |store| {
    let m = |kind: &str| payments::ReconMismatch {
        kind: kind.into(),
        entry: "payment".into(),
        order_no: "SF1".into(),
        refund_no: None,
        provider_trade_no: Some("T1".into()),
        our_fen: Some(2000),
        provider_fen: Some(2001),
        our_status: None,
    };
    let totals = payments::ReconTotals { provider_payments: 1, provider_payment_fen: 2001, our_payments: 1, our_payment_fen: 2000, ..Default::default() };
    // Claimed once; a second claim while it runs (and is fresh) gets nothing.
    let (id, attempt) = store.claim_reconciliation("alipay", "2026-11-25", "job", NOW, NOW - 1, NOW - 1, false).await.unwrap().unwrap();
    assert_eq!(attempt, 1);
    assert!(store.claim_reconciliation("alipay", "2026-11-25", "job", NOW + 1, NOW, NOW - 1, false).await.unwrap().is_none());
    // Another provider or day is its own run.
    assert!(store.claim_reconciliation("wechat", "2026-11-25", "job", NOW, NOW - 1, NOW - 1, false).await.unwrap().is_some());
    // Its instance died: once stale, another takes it over, and the first can no longer record a result.
    let (id2, attempt2) = store.claim_reconciliation("alipay", "2026-11-25", "job", NOW + 10, NOW, NOW + 5, false).await.unwrap().unwrap();
    assert_eq!((id2.as_str(), attempt2), (id.as_str(), 2));
    assert!(!store.finish_reconciliation(&id, 1, &totals, &[m("amount_differs")], NOW + 11).await.unwrap());
    assert!(!store.fail_reconciliation(&id, 1, "late", NOW + 11).await.unwrap());
    assert!(store.finish_reconciliation(&id, 2, &totals, &[m("amount_differs"), m("missing_at_us")], NOW + 12).await.unwrap());
    let runs = store.reconciliation_runs("2026-11-25").await.unwrap();
    assert_eq!(runs.iter().map(|r| (r.provider.as_str(), r.status.as_str())).collect::<Vec<_>>(), vec![("alipay", "done"), ("wechat", "running")]);
    assert_eq!(runs[0].totals.as_ref().unwrap().provider_payment_fen, 2001);
    assert_eq!(runs[0].mismatches, Some(2));
    assert_eq!(store.reconciliation_mismatches(&id).await.unwrap().iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(), vec!["amount_differs", "missing_at_us"]);
    // Done: not claimed again unless re-run on purpose; a re-run replaces the mismatches.
    assert!(store.claim_reconciliation("alipay", "2026-11-25", "job", NOW + 20, NOW + 20, NOW + 20, false).await.unwrap().is_none());
    let (_, attempt3) = store.claim_reconciliation("alipay", "2026-11-25", "staff-1", NOW + 21, NOW, NOW, true).await.unwrap().unwrap();
    assert!(store.finish_reconciliation(&id, attempt3, &payments::ReconTotals::default(), &[], NOW + 22).await.unwrap());
    assert!(store.reconciliation_mismatches(&id).await.unwrap().is_empty());
    // A failed run is retried only after the back-off.
    let (wid, wattempt) = store.claim_reconciliation("unionpay", "2026-11-25", "job", NOW, NOW, NOW, false).await.unwrap().unwrap();
    assert!(store.fail_reconciliation(&wid, wattempt, "provider_unavailable", NOW + 1).await.unwrap());
    assert!(store.claim_reconciliation("unionpay", "2026-11-25", "job", NOW + 2, NOW, NOW, false).await.unwrap().is_none());
    assert!(store.claim_reconciliation("unionpay", "2026-11-25", "job", NOW + 3, NOW + 2, NOW, false).await.unwrap().is_some());
});

shenfen_store::both_backends!(collection_by_day_point_and_channel, |store| {
    // NOW is 2026-09-21 22:13:20 UTC = 2026-09-22 06:13:20 China time.
    let day = (NOW + 28_800_000).div_euclid(86_400_000);
    for (channel, point, at) in [("cash", Some("p1"), NOW), ("alipay_qr", Some("p1"), NOW + 1), ("alipay", None, NOW + 2), ("alipay", None, NOW - 86_400_000)] {
        let o = order(None, 2000);
        store.create_order(&o, None).await.unwrap();
        let u = OrderUpdate { channel: Some(channel.into()), paid_at: Some(at), point_id: point.map(str::to_string), ..Default::default() };
        store.change_status(&o.order_no, &[PaymentStatus::Created], PaymentStatus::Success, &u, at).await.unwrap().unwrap();
    }
    let lines = store.collection(NOW - 2 * 86_400_000, NOW + 86_400_000).await.unwrap();
    let got: Vec<(i64, Option<&str>, &str, i64)> = lines.iter().map(|l| (l.day - day, l.point_id.as_deref(), l.channel.as_str(), l.count)).collect();
    assert_eq!(got, vec![(-1, None, "alipay", 1), (0, None, "alipay", 1), (0, Some("p1"), "alipay_qr", 1), (0, Some("p1"), "cash", 1)]);
    assert_eq!(store.paid_orders(NOW, NOW + 3).await.unwrap().len(), 3);
});
