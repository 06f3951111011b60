//! Conformance tests for the retention of photos and finished applications, and for erasing one person, on SQLite
//! and (when configured) PostgreSQL: what is past its period goes and what is recent or still needed stays;
//! erasure is all or nothing, keeps finished applications and payment orders detached, and gives booked seats back.

use shenfen_domain::applications::{ApplicationKind, ApplicationState as S, Channel as AppChannel, DeliveryMethod};
use shenfen_store::*;

const NOW: i64 = 1_790_000_000_000;
const DAY: i64 = 86_400_000;

fn app(citizen_id: Option<&str>, state: S, finished_at: Option<i64>) -> Application {
    let id = new_id();
    Application {
        ref_no: format!("SQ{}", &id.replace('-', "")[20..]),
        id,
        citizen_id: citizen_id.map(str::to_string),
        kind: ApplicationKind::RenewalExpiry,
        channel: AppChannel::Online,
        state,
        version: 1,
        applicant_name_enc: vec![1],
        applicant_name_masked: "张*".into(),
        applicant_id_enc: vec![2],
        applicant_id_masked: "3401**********1234".into(),
        applicant_id_blind: "blind".into(),
        division_code: "340104".into(),
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
        submitted_at: Some(NOW - 4 * 365 * DAY),
        approved_at: None,
        payment_due_at: None,
        finished_at,
        created_at: NOW - 4 * 365 * DAY,
        updated_at: NOW,
    }
}

/// Inserts an application with one timeline entry.
async fn insert_app(store: &DynStore, a: &Application) {
    let mut draft = a.clone();
    draft.state = S::Draft;
    store.insert_application(&draft).await.unwrap();
    if a.state != S::Draft {
        let t = AppliedTransition {
            application_id: a.id.clone(),
            expected_version: 1,
            from: S::Draft,
            to: a.state,
            changes: ApplicationChanges { finished_at: a.finished_at, ..Default::default() },
            event: "test".into(),
            actor_kind: "citizen".into(),
            actor_id: "c".into(),
            detail: "{}".into(),
            online_cancellation: false,
            failed_photo_review: false,
            at: a.finished_at.unwrap_or(NOW),
        };
        store.apply_transition(&t).await.unwrap().unwrap();
    }
}

async fn portrait(store: &DynStore, citizen_id: Option<&str>, application_id: Option<&str>, passed: bool, at: i64) -> String {
    let id = new_id();
    store
        .insert_portrait(&Portrait {
            id: id.clone(),
            citizen_id: citizen_id.map(str::to_string),
            application_id: application_id.map(str::to_string),
            source: "phone".into(),
            content_type: "image/jpeg".into(),
            bytes: vec![0xff, 0xd8, 0xff],
            sha256: "x".into(),
            passed,
            report: "{}".into(),
            created_at: at,
        })
        .await
        .unwrap();
    id
}

/// Points the application at its chosen portrait (what submitting does).
async fn choose(store: &DynStore, a: &Application, portrait_id: &str) -> Application {
    let now = store.application(&a.id).await.unwrap().unwrap();
    let t = AppliedTransition {
        application_id: a.id.clone(),
        expected_version: now.version,
        from: now.state,
        to: now.state,
        changes: ApplicationChanges { portrait_id: Some(portrait_id.into()), ..Default::default() },
        event: "photo".into(),
        actor_kind: "citizen".into(),
        actor_id: "c".into(),
        detail: "{}".into(),
        online_cancellation: false,
        failed_photo_review: false,
        at: now.updated_at,
    };
    store.apply_transition(&t).await.unwrap().unwrap()
}

async fn ship(store: &DynStore, a: &Application) -> Shipment {
    let n = NewShipment {
        reference: a.id.clone(),
        carrier: "ems".into(),
        tracking_no: format!("EE{}CN", &a.id.replace('-', "")[20..29]),
        name_enc: vec![1],
        phone_enc: vec![2],
        address_enc: vec![3],
        name_masked: "张*".into(),
        phone_masked: "138****0001".into(),
        address_masked: "合肥****".into(),
        division: "340104".into(),
    };
    let (s, _) = store.create_shipment(&n, NOW - 4 * 365 * DAY).await.unwrap();
    let ev = NewTrackingEvent { carrier_event_id: format!("e-{}", s.id), status: TrackingStatus::Delivered, at: NOW - 4 * 365 * DAY, location: "合肥".into(), description: "妥投".into(), face_verified: Some(true) };
    store.record_tracking_events(&s.id, &[ev], NOW - 4 * 365 * DAY).await.unwrap();
    s
}

fn order(citizen_id: &str, reference: &str, status: PaymentStatus) -> PaymentOrder {
    PaymentOrder {
        id: new_id(),
        order_no: order_number(),
        citizen_id: Some(citizen_id.into()),
        reference: reference.into(),
        item: "renewal".into(),
        amount_fen: 2000,
        channel: Some("alipay".into()),
        status,
        failure_code: None,
        provider_trade_no: None,
        refunded_fen: 0,
        point_id: None,
        staff_id: None,
        cash_received_fen: None,
        created_at: NOW - 4 * 365 * DAY,
        updated_at: NOW - 4 * 365 * DAY,
        expires_at: NOW - 4 * 365 * DAY + 900_000,
        paid_at: None,
        opened_at: None,
    }
}

both_backends!(rejected_photos_go_after_their_period_and_chosen_ones_never, |store| {
    let c = store.citizen_for_phone("13800000701", NOW).await.unwrap().id;
    let cutoff = NOW - 30 * DAY;
    // Failed and old: goes. Failed and recent: stays. Passed and unattached, old: not this rule's business.
    let old_failed = portrait(&store, Some(&c), None, false, cutoff - DAY).await;
    let new_failed = portrait(&store, Some(&c), None, false, cutoff + DAY).await;
    let old_passed = portrait(&store, Some(&c), None, true, cutoff - DAY).await;
    // A live application's chosen portrait stays even if it was marked failed (an officer accepted it).
    let live = app(Some(&c), S::Submitted, None);
    insert_app(&store, &live).await;
    let chosen_failed = portrait(&store, Some(&c), Some(&live.id), false, cutoff - DAY).await;
    choose(&store, &live, &chosen_failed).await;
    // Every photo of an application rejected long ago goes, passed or not; one rejected yesterday keeps its photos.
    let rejected = app(Some(&c), S::Rejected, Some(cutoff - DAY));
    insert_app(&store, &rejected).await;
    let rejected_photo = portrait(&store, Some(&c), Some(&rejected.id), true, cutoff - 2 * DAY).await;
    choose(&store, &rejected, &rejected_photo).await;
    let recent = app(Some(&c), S::Cancelled, Some(cutoff + DAY));
    insert_app(&store, &recent).await;
    let recent_photo = portrait(&store, Some(&c), Some(&recent.id), true, cutoff - 2 * DAY).await;
    // A closed application (card issued) keeps its photo under this rule.
    let issued = app(Some(&c), S::Closed, Some(cutoff - DAY));
    insert_app(&store, &issued).await;
    let issued_photo = portrait(&store, Some(&c), Some(&issued.id), true, cutoff - 2 * DAY).await;
    choose(&store, &issued, &issued_photo).await;

    assert_eq!(store.purge_rejected_portraits(cutoff).await.unwrap(), 2);
    for (id, kept) in [(old_failed, false), (new_failed, true), (old_passed, true), (chosen_failed, true), (rejected_photo, false), (recent_photo, true), (issued_photo, true)] {
        assert_eq!(store.portrait(&id).await.unwrap().is_some(), kept, "portrait {id} kept = {kept}");
    }
    assert_eq!(store.purge_rejected_portraits(cutoff).await.unwrap(), 0, "idempotent");
});

both_backends!(finished_applications_go_with_their_timeline_photos_and_shipment, |store| {
    let c = store.citizen_for_phone("13800000702", NOW).await.unwrap().id;
    let cutoff = NOW - 3 * 365 * DAY;
    let old = app(Some(&c), S::Closed, Some(cutoff - DAY));
    insert_app(&store, &old).await;
    let photo = portrait(&store, Some(&c), Some(&old.id), true, cutoff - 2 * DAY).await;
    choose(&store, &old, &photo).await;
    let shipment = ship(&store, &old).await;
    let paid = order(&c, &old.id, PaymentStatus::Success);
    store.create_order(&paid, None).await.unwrap();
    let old_rejected = app(Some(&c), S::Rejected, Some(cutoff - 10 * DAY));
    insert_app(&store, &old_rejected).await;
    // Finished recently, or never finished: stays.
    let recent = app(Some(&c), S::Closed, Some(cutoff + DAY));
    insert_app(&store, &recent).await;
    let live = app(Some(&c), S::InProduction, None);
    insert_app(&store, &live).await;

    // Batches of one still get everything, in several passes.
    assert_eq!(store.purge_closed_applications(cutoff, 1).await.unwrap(), 1);
    assert_eq!(store.purge_closed_applications(cutoff, 1).await.unwrap(), 1);
    assert_eq!(store.purge_closed_applications(cutoff, 1).await.unwrap(), 0);
    assert!(store.application(&old.id).await.unwrap().is_none());
    assert!(store.application(&old_rejected.id).await.unwrap().is_none());
    assert!(store.application_events(&old.id).await.unwrap().is_empty());
    assert!(store.portrait(&photo).await.unwrap().is_none());
    assert!(store.shipment(&shipment.id).await.unwrap().is_none());
    assert!(store.shipment_events(&shipment.id).await.unwrap().is_empty());
    // The payment order is a financial record: kept, with only the reference.
    assert_eq!(store.orders_for(&old.id).await.unwrap().len(), 1);
    assert!(store.application(&recent.id).await.unwrap().is_some());
    assert!(store.application(&live.id).await.unwrap().is_some());
    assert_eq!(store.application_events(&recent.id).await.unwrap().len(), 1);
});

both_backends!(erasing_a_person_is_all_or_nothing, |store| {
    let citizen = store.citizen_for_phone("13800000703", NOW).await.unwrap();
    let c = citizen.id.clone();
    let other = store.citizen_for_phone("13800000704", NOW).await.unwrap().id;

    // A point with a future slot, booked by the person and by someone else.
    let p = AcceptancePoint::with_defaults(new_id(), "测试点".into(), "340104".into(), "地址".into(), "0551-00000001".into(), 31.8, 117.2, true, NOW);
    store.insert_point(&p).await.unwrap();
    store.ensure_slots(&[NewSlot { point_id: p.id.clone(), day: "2026-12-01".into(), start_min: 540, end_min: 570, starts_at: NOW + DAY, capacity: 5 }]).await.unwrap();
    let slot = store.slots(&p.id, "2026-12-01", "2026-12-01").await.unwrap()[0].clone();
    let booking = |who: &str, service: &str| NewAppointment { citizen_id: who.into(), slot_id: slot.id.clone(), service: service.into(), month: "2026-09".into(), max_cancellations_per_month: 3, max_no_shows_per_month: 3, now: NOW };
    store.book(&booking(&c, "renewal")).await.unwrap();
    store.book(&booking(&c, "pickup")).await.unwrap();
    store.book(&booking(&other, "renewal")).await.unwrap();
    assert_eq!(store.slot(&slot.id).await.unwrap().unwrap().booked, 3);

    let closed = app(Some(&c), S::Closed, Some(NOW - DAY));
    insert_app(&store, &closed).await;
    let kept_photo = portrait(&store, Some(&c), Some(&closed.id), true, NOW - 2 * DAY).await;
    choose(&store, &closed, &kept_photo).await;
    let spare_photo = portrait(&store, Some(&c), Some(&closed.id), false, NOW - 3 * DAY).await;
    let draft = app(Some(&c), S::Draft, None);
    insert_app(&store, &draft).await;
    let draft_photo = portrait(&store, Some(&c), Some(&draft.id), true, NOW).await;
    let paid = order(&c, &closed.id, PaymentStatus::Success);
    store.create_order(&paid, None).await.unwrap();
    store
        .enqueue_notification(&NewNotification { citizen_id: c.clone(), event_kind: "test".into(), dedupe_key: "t:1".into(), channel: Channel::InApp, template: "t".into(), vars: "{}".into(), phone: None, not_before: NOW, now: NOW, content_key: None })
        .await
        .unwrap();
    store
        .insert_session(&Session { token_hash: "erase-me".into(), principal_kind: PrincipalKind::Citizen, principal_id: c.clone(), channel: SessionChannel::Bearer, created_at: NOW, expires_at: NOW + DAY })
        .await
        .unwrap();
    store.insert_sms_code(&NewSmsCode { phone: citizen.phone.clone(), purpose: CodePurpose::SignIn, code_hash: "h".into(), created_at: NOW, expires_at: NOW + 300_000 }).await.unwrap();
    store.upsert_card(&Card { citizen_id: c.clone(), issued_on: "2020-01-01".into(), expires_on: Some("2030-01-01".into()), source: CardSource::Registry, updated_at: NOW }).await.unwrap();

    // An application under way refuses erasure, and nothing changes.
    let live = app(Some(&c), S::UnderReview, None);
    insert_app(&store, &live).await;
    assert!(matches!(store.erase_citizen(&c, &erasure_audit(&c)).await, Err(StoreError::Conflict("application_in_progress"))));
    assert!(store.citizen(&c).await.unwrap().is_some());
    assert_eq!(store.appointments_of(&c).await.unwrap().len(), 2);
    let t = AppliedTransition {
        application_id: live.id.clone(),
        expected_version: 2,
        from: S::UnderReview,
        to: S::Cancelled,
        changes: ApplicationChanges { finished_at: Some(NOW), ..Default::default() },
        event: "cancel".into(),
        actor_kind: "citizen".into(),
        actor_id: c.clone(),
        detail: "{}".into(),
        online_cancellation: true,
        failed_photo_review: false,
        at: NOW,
    };
    store.apply_transition(&t).await.unwrap().unwrap();
    // So does a payment still awaiting its outcome.
    let waiting = order(&c, &live.id, PaymentStatus::Started);
    store.create_order(&waiting, None).await.unwrap();
    assert!(matches!(store.erase_citizen(&c, &erasure_audit(&c)).await, Err(StoreError::Conflict("payment_pending"))));
    store.change_status(&waiting.order_no, &[PaymentStatus::Started], PaymentStatus::Failed, &OrderUpdate::default(), NOW).await.unwrap().unwrap();

    let e = store.erase_citizen(&c, &erasure_audit(&c)).await.unwrap();
    assert_eq!((e.appointments, e.bookings_cancelled, e.drafts, e.applications_detached, e.payment_orders_detached), (2, 2, 1, 2, 2), "{e:?}");
    assert_eq!((e.sessions, e.sms_codes, e.notifications, e.card_records), (1, 1, 1, 1), "{e:?}");
    assert!(store.citizen(&c).await.unwrap().is_none());
    assert!(store.citizen_by_phone(&citizen.phone).await.unwrap().is_none());
    // The other person's seat stays booked; the person's two went back.
    assert_eq!(store.slot(&slot.id).await.unwrap().unwrap().booked, 1);
    assert_eq!(store.appointments_of(&other).await.unwrap().len(), 1);
    // Kept, detached: the finished applications with their timeline and chosen photo, and the orders.
    let kept = store.application(&closed.id).await.unwrap().unwrap();
    assert_eq!(kept.citizen_id, None);
    assert!(store.application_events(&closed.id).await.unwrap().iter().all(|ev| ev.citizen_id.is_none()));
    assert!(store.portrait(&kept_photo).await.unwrap().is_some_and(|p| p.citizen_id.is_none()));
    assert!(store.portrait(&spare_photo).await.unwrap().is_none());
    assert!(store.portrait(&draft_photo).await.unwrap().is_none());
    assert!(store.application(&draft.id).await.unwrap().is_none());
    assert_eq!(store.order(&paid.id).await.unwrap().unwrap().citizen_id, None);
    assert!(store.session("erase-me", NOW).await.unwrap().is_none());
    assert!(store.card(&c).await.unwrap().is_none());
    assert!(store.notifications_of(&c).await.unwrap().is_empty());
    // Gone means gone.
    assert!(matches!(store.erase_citizen(&c, &erasure_audit(&c)).await, Err(StoreError::NotFound)));
    // Exactly one audit entry, written with the erasure (the refused attempts wrote none), counts included.
    let entries: Vec<_> = store.audit_entries(0, 10_000).await.unwrap().into_iter().filter(|a| a.record.action == "person.erased").collect();
    assert_eq!(entries.len(), 1);
    let detail: serde_json::Value = serde_json::from_str(&entries[0].record.detail).unwrap();
    assert_eq!((detail["reason"].as_str(), detail["counts"]["appointments"].as_u64()), (Some("test"), Some(2)));
    assert!(shenfen_store::audit::verify_store(store.as_ref()).await.unwrap().is_ok());
});

fn erasure_audit(citizen_id: &str) -> AuditRecord {
    AuditRecord {
        at: 1_790_000_000_000,
        actor_kind: ActorKind::Staff,
        actor_id: "admin".into(),
        action: "person.erased".into(),
        target: format!("citizen:{citizen_id}"),
        source_ip: "127.0.0.1".into(),
        detail: r#"{"reason":"test"}"#.into(),
    }
}
