//! Conformance tests for appointment storage, on SQLite and (when configured) PostgreSQL.

use std::sync::Arc;

use shenfen_store::*;

const NOW: i64 = 1_790_000_000_000;

async fn point_with_slot(store: &DynStore, capacity: i64) -> (AcceptancePoint, Slot) {
    let p = AcceptancePoint::with_defaults(new_id(), "测试点".into(), "340104".into(), "地址".into(), "0551-00000001".into(), 31.8, 117.2, true, NOW);
    store.insert_point(&p).await.unwrap();
    let created = store
        .ensure_slots(&[
            NewSlot { point_id: p.id.clone(), day: "2026-12-01".into(), start_min: 540, end_min: 570, starts_at: NOW + 86_400_000, capacity },
            NewSlot { point_id: p.id.clone(), day: "2026-12-01".into(), start_min: 570, end_min: 600, starts_at: NOW + 88_200_000, capacity },
        ])
        .await
        .unwrap();
    assert_eq!(created, 2);
    let slots = store.slots(&p.id, "2026-12-01", "2026-12-01").await.unwrap();
    (p, slots[0].clone())
}

async fn citizen(store: &DynStore, phone: &str) -> String {
    store.citizen_for_phone(phone, NOW).await.unwrap().id
}

fn booking(citizen_id: &str, slot: &Slot, service: &str) -> NewAppointment {
    NewAppointment { citizen_id: citizen_id.into(), slot_id: slot.id.clone(), service: service.into(), month: "2026-11".into(), max_cancellations_per_month: 3, max_no_shows_per_month: 3, now: NOW }
}

both_backends!(book_cancel_reschedule, |store| {
    let (p, slot) = point_with_slot(&store, 2).await;
    assert_eq!(store.ensure_slots(&[NewSlot { point_id: p.id.clone(), day: "2026-12-01".into(), start_min: 540, end_min: 570, starts_at: 0, capacity: 9 }]).await.unwrap(), 0, "existing slots are kept");
    let a = citizen(&store, "13800000101").await;
    let appt = store.book(&booking(&a, &slot, "renewal")).await.unwrap();
    assert_eq!(appt.status, AppointmentStatus::Booked);
    assert_eq!(appt.code.len(), 8);
    assert_eq!(store.slot(&slot.id).await.unwrap().unwrap().booked, 1);
    // One active appointment per service; nothing is written on refusal.
    assert!(matches!(store.book(&booking(&a, &slot, "renewal")).await, Err(StoreError::Conflict("already_booked"))));
    assert_eq!(store.slot(&slot.id).await.unwrap().unwrap().booked, 1);
    // A different service is fine.
    store.book(&booking(&a, &slot, "pickup")).await.unwrap();
    assert!(matches!(store.book(&booking(&citizen(&store, "13800000102").await, &slot, "renewal")).await, Err(StoreError::Conflict("slot_full"))));
    // Past and unknown slots.
    let past = NewAppointment { now: NOW + 86_400_000, ..booking(&a, &slot, "first_issue") };
    assert!(matches!(store.book(&past).await, Err(StoreError::Conflict("slot_past"))));
    assert!(matches!(store.book(&NewAppointment { slot_id: "nope".into(), ..booking(&a, &slot, "first_issue") }).await, Err(StoreError::NotFound)));

    // Reschedule moves the seat.
    let other = store.slots(&p.id, "2026-12-01", "2026-12-01").await.unwrap()[1].clone();
    let moved = store.reschedule(&appt.id, &a, &other.id, NOW).await.unwrap();
    assert_eq!(moved.slot_id, other.id);
    assert_eq!(store.slot(&slot.id).await.unwrap().unwrap().booked, 1);
    assert_eq!(store.slot(&other.id).await.unwrap().unwrap().booked, 1);
    // Someone else's appointment cannot be moved or cancelled.
    let b = citizen(&store, "13800000103").await;
    assert!(matches!(store.reschedule(&appt.id, &b, &slot.id, NOW).await, Err(StoreError::NotFound)));
    assert!(matches!(store.cancel_appointment(&appt.id, &b, "2026-11", NOW).await, Err(StoreError::NotFound)));

    let cancelled = store.cancel_appointment(&appt.id, &a, "2026-11", NOW).await.unwrap();
    assert_eq!(cancelled.status, AppointmentStatus::Cancelled);
    assert_eq!(store.slot(&other.id).await.unwrap().unwrap().booked, 0);
    assert_eq!(store.cancellations_in(&a, "2026-11").await.unwrap(), 1);
    assert!(matches!(store.cancel_appointment(&appt.id, &a, "2026-11", NOW).await, Err(StoreError::NotFound)), "cancel once");
    assert_eq!(store.appointments_of(&a).await.unwrap().len(), 2);

    // After N cancellations in a month, booking is suspended for that month.
    for _ in 0..2 {
        let x = store.book(&booking(&a, &other, "renewal")).await.unwrap();
        store.cancel_appointment(&x.id, &a, "2026-11", NOW).await.unwrap();
    }
    assert!(matches!(store.book(&booking(&a, &other, "renewal")).await, Err(StoreError::Conflict("booking_suspended"))));
    assert!(store.book(&NewAppointment { month: "2026-12".into(), ..booking(&a, &other, "renewal") }).await.is_ok());

    let loads = store.day_loads("2026-12-01", "2026-12-01").await.unwrap();
    assert_eq!(loads, vec![DayLoad { point_id: p.id.clone(), day: "2026-12-01".into(), booked: 2, capacity: 4 }]);
    assert_eq!(store.set_day_capacity(&p.id, "2026-12-01", 0).await.unwrap(), 2);
    assert_eq!(store.slot(&slot.id).await.unwrap().unwrap().capacity, 1, "never below what is booked");
});

both_backends!(never_overbook_under_concurrency, |store| {
    let (_, slot) = point_with_slot(&store, 5).await;
    let mut citizens = Vec::new();
    for i in 0..200 {
        citizens.push(citizen(&store, &format!("139{:08}", i)).await);
    }
    let mut tasks = Vec::new();
    for c in citizens {
        let s = Arc::clone(&store);
        let req = booking(&c, &slot, "renewal");
        tasks.push(tokio::spawn(async move { s.book(&req).await }));
    }
    let (mut ok, mut full) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict("slot_full")) => full += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((ok, full), (5, 195));
    assert_eq!(store.slot(&slot.id).await.unwrap().unwrap().booked, 5);
    let p = store.slot(&slot.id).await.unwrap().unwrap().point_id;
    assert_eq!(store.appointments_on(&p, "2026-12-01").await.unwrap().len(), 5, "every confirmed booking is stored");
});

both_backends!(queue_tickets, |store| {
    let (p, slot) = point_with_slot(&store, 5).await;
    let a = citizen(&store, "13800000111").await;
    let appt = store.book(&booking(&a, &slot, "renewal")).await.unwrap();
    assert!(matches!(store.check_in(&p.id, "2026-12-02", &appt.code, NOW).await, Err(StoreError::Conflict("invalid_check_in"))), "wrong day");
    assert!(matches!(store.check_in(&p.id, "2026-12-01", "FORGED12", NOW).await, Err(StoreError::Conflict("invalid_check_in"))));
    let t1 = store.check_in(&p.id, "2026-12-01", &appt.code, NOW).await.unwrap();
    assert_eq!((t1.kind, t1.number), (TicketKind::Appointment, 1));
    assert!(matches!(store.check_in(&p.id, "2026-12-01", &appt.code, NOW).await, Err(StoreError::Conflict("invalid_check_in"))), "checked in once");
    let w1 = store.walk_in_ticket(&p.id, "2026-12-01", NOW).await.unwrap();
    let w2 = store.walk_in_ticket(&p.id, "2026-12-01", NOW).await.unwrap();
    assert_eq!((w1.number, w2.number), (1, 2));
    assert_eq!(store.waiting_counts("2026-12-01").await.unwrap(), vec![(p.id.clone(), 3)]);

    let called = store.call_ticket(&t1.id, 1, NOW).await.unwrap();
    assert_eq!(called.status, TicketStatus::Called);
    assert!(matches!(store.call_ticket(&t1.id, 2, NOW).await, Err(StoreError::Conflict("ticket_taken"))));
    store.finish_ticket(&t1.id, TicketStatus::Served, NOW).await.unwrap();
    assert_eq!(store.appointment(&appt.id).await.unwrap().unwrap().status, AppointmentStatus::Completed);
    assert!(matches!(store.finish_ticket(&w1.id, TicketStatus::Served, NOW).await, Err(StoreError::Conflict("ticket_not_called"))));
    assert_eq!(store.tickets(&p.id, "2026-12-01").await.unwrap().len(), 3);

    // Concurrent walk-ins get distinct numbers.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = Arc::clone(&store);
        let pid = p.id.clone();
        tasks.push(tokio::spawn(async move { s.walk_in_ticket(&pid, "2026-12-01", NOW).await.unwrap().number }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.unwrap());
    }
    numbers.sort();
    assert_eq!(numbers, (3..23).collect::<Vec<_>>());
});

both_backends!(point_status_and_exceptions, |store| {
    let (mut p, _) = point_with_slot(&store, 5).await;
    store.set_point_status(&p.id, PointStatus::Paused, "系统维护", Some(NOW + 3_600_000), NOW).await.unwrap();
    let got = store.point(&p.id).await.unwrap().unwrap();
    assert_eq!((got.status, got.status_reason.as_str(), got.status_until), (PointStatus::Paused, "系统维护", Some(NOW + 3_600_000)));
    assert!(matches!(store.set_point_status("nope", PointStatus::Open, "", None, NOW).await, Err(StoreError::NotFound)));
    p.windows = 4;
    p.opening_hours = "mon-sat 08:30-12:00".into();
    store.update_point(&p).await.unwrap();
    let got = store.point(&p.id).await.unwrap().unwrap();
    assert_eq!((got.windows, got.opening_hours.as_str()), (4, "mon-sat 08:30-12:00"));
    let e = PointException { point_id: p.id.clone(), day: "2026-12-03".into(), kind: ExceptionKind::Closed, value: "设备检修".into() };
    store.put_exception(&e, NOW).await.unwrap();
    store.put_exception(&PointException { kind: ExceptionKind::ExtraCapacity, value: "3".into(), ..e.clone() }, NOW).await.unwrap();
    let all = store.exceptions(&p.id, "2026-12-01", "2026-12-31").await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].kind, ExceptionKind::ExtraCapacity);
    store.delete_exception(&p.id, "2026-12-03").await.unwrap();
    assert!(store.exceptions(&p.id, "2026-12-01", "2026-12-31").await.unwrap().is_empty());
});

both_backends!(reminders_and_no_shows, |store| {
    let (_, slot) = point_with_slot(&store, 5).await;
    let a = citizen(&store, "13800000121").await;
    let appt = store.book(&booking(&a, &slot, "renewal")).await.unwrap();
    let due = store.due_reminders("2026-12-01").await.unwrap();
    assert_eq!(due.iter().map(|x| x.id.clone()).collect::<Vec<_>>(), vec![appt.id.clone()]);
    // Two instances racing for the same reminder: exactly one wins.
    let (x, y) = tokio::join!(store.claim_reminder(&appt.id, NOW), store.claim_reminder(&appt.id, NOW));
    assert!(x.unwrap() ^ y.unwrap());
    assert!(store.due_reminders("2026-12-01").await.unwrap().is_empty());

    // Not yet over: nothing marked. Over (slot end + grace passed): marked once and counted.
    let slot_end = slot.starts_at + (slot.end_min - slot.start_min) * 60_000;
    assert!(store.mark_no_shows(slot_end, 30 * 60_000, "2026-12").await.unwrap().is_empty());
    let marked = store.mark_no_shows(slot_end + 31 * 60_000, 30 * 60_000, "2026-12").await.unwrap();
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0].status, AppointmentStatus::NoShow);
    assert!(store.mark_no_shows(slot_end + 60 * 60_000, 30 * 60_000, "2026-12").await.unwrap().is_empty(), "marked once");
});
