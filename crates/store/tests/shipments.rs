//! Conformance tests for shipment storage, on SQLite and (when configured) PostgreSQL: one shipment per
//! reference (also under concurrency), events stored once per carrier event id, status only forward, polling
//! claims, and the event outbox handing each event to one consumer.

use std::collections::HashSet;
use std::sync::Arc;

use shenfen_store::*;

const NOW: i64 = 1_790_000_000_000;

fn new_shipment(reference: &str, tracking_no: &str) -> NewShipment {
    NewShipment {
        reference: reference.into(),
        carrier: "ems".into(),
        tracking_no: tracking_no.into(),
        name_enc: vec![1, 2, 3],
        phone_enc: vec![4, 5],
        address_enc: vec![6],
        name_masked: "张*".into(),
        phone_masked: "138****0001".into(),
        address_masked: "安徽省合肥市****".into(),
        division: "340104".into(),
    }
}

fn event(id: &str, status: TrackingStatus, at: i64) -> NewTrackingEvent {
    NewTrackingEvent {
        carrier_event_id: id.into(),
        status,
        at,
        location: "合肥市".into(),
        description: status.name_zh().into(),
        face_verified: (status == TrackingStatus::Delivered).then_some(true),
    }
}

shenfen_store::both_backends!(create_is_idempotent_per_reference, |store| {
    let (first, created) = store.create_shipment(&new_shipment("app-1", "EA000000015CN"), NOW).await.unwrap();
    assert!(created);
    assert_eq!(first.status, TrackingStatus::Created);
    assert_eq!((first.status_at, first.created_at, first.last_polled_at), (NOW, NOW, NOW));
    assert_eq!(first.name_enc, vec![1, 2, 3]);
    // A second create for the same reference returns the first shipment, whatever it carries.
    let (again, created) = store.create_shipment(&new_shipment("app-1", "EA000000029CN"), NOW + 5).await.unwrap();
    assert!(!created);
    assert_eq!(again, first);
    assert!(store.shipment_by_tracking_no("EA000000029CN").await.unwrap().is_none());
    assert_eq!(store.shipment_by_tracking_no("EA000000015CN").await.unwrap().unwrap(), first);
    assert_eq!(store.shipment_for("app-1").await.unwrap().unwrap(), first);
    assert_eq!(store.shipment(&first.id).await.unwrap().unwrap(), first);
    assert!(store.shipment_for("app-2").await.unwrap().is_none());
    // A tracking number belongs to one shipment.
    assert!(matches!(store.create_shipment(&new_shipment("app-2", "EA000000015CN"), NOW).await, Err(StoreError::Conflict("tracking_no_taken"))));
    assert!(store.shipment_for("app-2").await.unwrap().is_none());
});

shenfen_store::both_backends!(concurrent_creates_make_one_shipment, |store| {
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = Arc::clone(&store);
        // Concurrent dispatches of one application get the same tracking number from the carrier (its order
        // number is the reference); the store keeps one row.
        tasks.push(tokio::spawn(async move { store.create_shipment(&new_shipment("app-c", "EA000000032CN"), NOW + i).await.unwrap() }));
    }
    let mut ids = HashSet::new();
    let mut created = 0;
    for t in tasks {
        let (s, new) = t.await.unwrap();
        ids.insert(s.id);
        created += new as usize;
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(created, 1);
});

shenfen_store::both_backends!(events_are_stored_once_and_status_only_moves_forward, |store| {
    let (s, _) = store.create_shipment(&new_shipment("app-e", "EA000000046CN"), NOW).await.unwrap();
    let collected = event("ev-1", TrackingStatus::Collected, NOW + 10);
    let transit = event("ev-2", TrackingStatus::InTransit, NOW + 20);
    let fresh = store.record_tracking_events(&s.id, &[collected.clone(), transit.clone()], NOW + 30).await.unwrap();
    assert_eq!(fresh.iter().map(|e| e.carrier_event_id.as_str()).collect::<Vec<_>>(), ["ev-1", "ev-2"]);
    assert_eq!(fresh[0].received_at, NOW + 30);
    assert_eq!(fresh[0].applied_at, None);
    let now = store.shipment(&s.id).await.unwrap().unwrap();
    assert_eq!((now.status, now.status_at, now.updated_at), (TrackingStatus::InTransit, NOW + 20, NOW + 30));

    // The same events again (a polled copy of pushed ones): nothing new, nothing changes.
    assert!(store.record_tracking_events(&s.id, &[transit.clone(), collected.clone()], NOW + 40).await.unwrap().is_empty());
    assert_eq!(store.shipment_events(&s.id).await.unwrap().len(), 2);

    // Last mile: out for delivery, a failed attempt, out again — equal rank, the later event wins.
    let out1 = event("ev-3", TrackingStatus::OutForDelivery, NOW + 50);
    let failed = event("ev-4", TrackingStatus::DeliveryFailed, NOW + 60);
    let out2 = event("ev-5", TrackingStatus::OutForDelivery, NOW + 70);
    store.record_tracking_events(&s.id, &[out1, failed.clone()], NOW + 61).await.unwrap();
    assert_eq!(store.shipment(&s.id).await.unwrap().unwrap().status, TrackingStatus::DeliveryFailed);
    store.record_tracking_events(&s.id, &[out2], NOW + 71).await.unwrap();
    assert_eq!(store.shipment(&s.id).await.unwrap().unwrap().status, TrackingStatus::OutForDelivery);
    // An earlier event arriving late (lost push recovered by polling) does not move it back.
    store.record_tracking_events(&s.id, &[event("ev-2b", TrackingStatus::InTransit, NOW + 25)], NOW + 72).await.unwrap();
    assert_eq!(store.shipment(&s.id).await.unwrap().unwrap().status, TrackingStatus::OutForDelivery);

    // Delivered is final: neither a later "out for delivery" nor a stray failure moves it.
    let delivered = event("ev-6", TrackingStatus::Delivered, NOW + 80);
    store.record_tracking_events(&s.id, &[delivered], NOW + 81).await.unwrap();
    store.record_tracking_events(&s.id, &[event("ev-7", TrackingStatus::OutForDelivery, NOW + 90), event("ev-8", TrackingStatus::Returned, NOW + 95)], NOW + 96).await.unwrap();
    let done = store.shipment(&s.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.status_at), (TrackingStatus::Delivered, NOW + 80));

    // The timeline is in carrier time order, face verification kept.
    let timeline = store.shipment_events(&s.id).await.unwrap();
    assert_eq!(timeline.iter().map(|e| e.carrier_event_id.as_str()).collect::<Vec<_>>(), ["ev-1", "ev-2", "ev-2b", "ev-3", "ev-4", "ev-5", "ev-6", "ev-7", "ev-8"]);
    assert_eq!(timeline[6].face_verified, Some(true));
    assert_eq!(timeline[0].face_verified, None);

    // Unknown shipment.
    assert!(matches!(store.record_tracking_events("nope", &[event("x", TrackingStatus::Collected, NOW)], NOW).await, Err(StoreError::NotFound)));
});

shenfen_store::both_backends!(carrier_event_ids_are_unique_across_shipments_of_a_carrier, |store| {
    let (a, _) = store.create_shipment(&new_shipment("app-a", "EA000000050CN"), NOW).await.unwrap();
    let (b, _) = store.create_shipment(&new_shipment("app-b", "EA000000063CN"), NOW).await.unwrap();
    assert_eq!(store.record_tracking_events(&a.id, &[event("same", TrackingStatus::Collected, NOW + 1)], NOW + 1).await.unwrap().len(), 1);
    assert!(store.record_tracking_events(&b.id, &[event("same", TrackingStatus::Collected, NOW + 1)], NOW + 1).await.unwrap().is_empty());
    // A duplicate inside one batch is stored once too.
    let twice = [event("dup", TrackingStatus::InTransit, NOW + 2), event("dup", TrackingStatus::InTransit, NOW + 2)];
    assert_eq!(store.record_tracking_events(&b.id, &twice, NOW + 2).await.unwrap().len(), 1);
});

shenfen_store::both_backends!(concurrent_recording_of_the_same_events_stores_each_once, |store| {
    let (s, _) = store.create_shipment(&new_shipment("app-r", "EA000000077CN"), NOW).await.unwrap();
    let batch: Vec<NewTrackingEvent> = (0..6).map(|i| event(&format!("r-{i}"), TrackingStatus::InTransit, NOW + i)).collect();
    let mut tasks = Vec::new();
    for k in 0..8 {
        let (store, id) = (Arc::clone(&store), s.id.clone());
        let mut batch = batch.clone();
        if k % 2 == 1 {
            batch.reverse();
        }
        tasks.push(tokio::spawn(async move { store.record_tracking_events(&id, &batch, NOW + 100).await.unwrap().len() }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 6);
    assert_eq!(store.shipment_events(&s.id).await.unwrap().len(), 6);
});

shenfen_store::both_backends!(polling_claims_each_unfinished_shipment_once_per_round, |store| {
    let (a, _) = store.create_shipment(&new_shipment("p-a", "EA000000085CN"), NOW).await.unwrap();
    let (b, _) = store.create_shipment(&new_shipment("p-b", "EA000000099CN"), NOW + 1).await.unwrap();
    let (c, _) = store.create_shipment(&new_shipment("p-c", "EA000000108CN"), NOW + 2).await.unwrap();
    store.record_tracking_events(&c.id, &[event("c-done", TrackingStatus::Delivered, NOW + 3)], NOW + 3).await.unwrap();
    // Not due yet: polled at creation, the threshold is before that.
    assert!(store.shipments_to_poll(NOW, NOW + 10, 10).await.unwrap().is_empty());
    // Due: a and b (c is final), claimed by moving last_polled_at; a second claimer in the same round gets none.
    let first = store.shipments_to_poll(NOW + 5, NOW + 10, 10).await.unwrap();
    assert_eq!(first.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), vec![a.id.clone(), b.id.clone()]);
    assert!(first.iter().all(|s| s.last_polled_at == NOW + 10));
    assert!(store.shipments_to_poll(NOW + 5, NOW + 11, 10).await.unwrap().is_empty());
    // The limit takes the least recently polled first.
    let next = store.shipments_to_poll(NOW + 20, NOW + 30, 1).await.unwrap();
    assert_eq!(next.len(), 1);

    // Concurrent claimers split the due shipments without overlap.
    for i in 0..10 {
        store.create_shipment(&new_shipment(&format!("q-{i}"), &format!("EB{:08}0CN", i)), NOW).await.unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move { store.shipments_to_poll(NOW + 100, NOW + 200, 5).await.unwrap() }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for s in t.await.unwrap() {
            assert!(seen.insert(s.id), "a shipment was handed to two pollers");
        }
    }
    assert_eq!(seen.len(), 12);
});

shenfen_store::both_backends!(outbox_hands_each_event_out_once_in_shipment_order, |store| {
    let (a, _) = store.create_shipment(&new_shipment("o-a", "EA000000111CN"), NOW).await.unwrap();
    let (b, _) = store.create_shipment(&new_shipment("o-b", "EA000000125CN"), NOW).await.unwrap();
    store.record_tracking_events(&a.id, &[event("a1", TrackingStatus::Collected, NOW + 1), event("a2", TrackingStatus::InTransit, NOW + 2)], NOW + 3).await.unwrap();
    store.record_tracking_events(&b.id, &[event("b1", TrackingStatus::Collected, NOW + 1)], NOW + 3).await.unwrap();

    // Only the earliest unapplied event of each shipment is handed out, with its reference.
    let got = store.unapplied_shipment_events(10, NOW + 10, NOW + 1_000).await.unwrap();
    let mut ids: Vec<_> = got.iter().map(|e| (e.carrier_event_id.clone(), e.reference.clone().unwrap())).collect();
    ids.sort();
    assert_eq!(ids, [("a1".to_string(), "o-a".to_string()), ("b1".to_string(), "o-b".to_string())]);
    // Leased: another consumer gets nothing (a2 waits for a1).
    assert!(store.unapplied_shipment_events(10, NOW + 11, NOW + 1_000).await.unwrap().is_empty());
    let a1 = got.iter().find(|e| e.carrier_event_id == "a1").unwrap();
    assert!(store.mark_shipment_event_applied(&a1.id, NOW + 12).await.unwrap());
    assert!(!store.mark_shipment_event_applied(&a1.id, NOW + 13).await.unwrap(), "applied once");
    let next = store.unapplied_shipment_events(10, NOW + 14, NOW + 1_000).await.unwrap();
    assert_eq!(next.iter().map(|e| e.carrier_event_id.as_str()).collect::<Vec<_>>(), ["a2"]);
    // A consumer that dies: its lease runs out and the event is handed out again.
    let again = store.unapplied_shipment_events(10, NOW + 2_000, NOW + 3_000).await.unwrap();
    let mut again_ids: Vec<_> = again.iter().map(|e| e.carrier_event_id.clone()).collect();
    again_ids.sort();
    assert_eq!(again_ids, ["a2", "b1"]);
    for e in &again {
        assert!(store.mark_shipment_event_applied(&e.id, NOW + 2_001).await.unwrap());
    }
    assert!(store.unapplied_shipment_events(10, NOW + 5_000, NOW + 6_000).await.unwrap().is_empty());
    assert!(store.shipment_events(&a.id).await.unwrap().iter().all(|e| e.applied_at.is_some()));
});

shenfen_store::both_backends!(concurrent_consumers_apply_each_event_exactly_once, |store| {
    let mut expected = HashSet::new();
    for s in 0..6 {
        let (sh, _) = store.create_shipment(&new_shipment(&format!("cc-{s}"), &format!("EC{:08}0CN", s)), NOW).await.unwrap();
        let evs: Vec<_> = (0..5).map(|i| event(&format!("cc-{s}-{i}"), TrackingStatus::InTransit, NOW + i)).collect();
        for e in store.record_tracking_events(&sh.id, &evs, NOW).await.unwrap() {
            expected.insert(e.id);
        }
    }
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut idle = 0;
            while idle < 20 {
                let got = store.unapplied_shipment_events(4, NOW + 100, NOW + 600_000).await.unwrap();
                if got.is_empty() {
                    idle += 1;
                    tokio::task::yield_now().await;
                    continue;
                }
                idle = 0;
                for e in got {
                    assert!(store.mark_shipment_event_applied(&e.id, NOW + 101).await.unwrap());
                    mine.push(e.id);
                }
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(seen.insert(id), "an event was handed to two consumers");
        }
    }
    assert_eq!(seen, expected);
});

#[test]
fn tracking_status_codes_are_stable_and_ranked() {
    for s in TrackingStatus::ALL {
        assert_eq!(TrackingStatus::parse(s.as_str()), Some(s));
        assert!(!s.name_zh().is_empty() && !s.name_en().is_empty());
    }
    assert!(TrackingStatus::Delivered.is_final() && TrackingStatus::Returned.is_final());
    assert!(!TrackingStatus::DeliveryFailed.is_final());
    assert!(TrackingStatus::Collected.rank() < TrackingStatus::InTransit.rank());
    assert_eq!(TrackingStatus::OutForDelivery.rank(), TrackingStatus::DeliveryFailed.rank());
}
