//! Conformance tests for notification storage (queue, receipts, notification centre), on SQLite and (when
//! configured) PostgreSQL.

use std::collections::HashSet;

use shenfen_store::*;

const NOW: i64 = 1_790_000_000_000;
const POLICY: RetryPolicy = RetryPolicy { max_attempts: 3, base_ms: 1_000, cap_ms: 5_000 };

async fn citizen(store: &DynStore, phone: &str) -> String {
    store.citizen_for_phone(phone, NOW).await.unwrap().id
}

fn sms(citizen_id: &str, key: &str) -> NewNotification {
    NewNotification {
        citizen_id: citizen_id.into(),
        event_kind: "appointment_booked".into(),
        dedupe_key: key.into(),
        channel: Channel::Sms,
        template: "appointment_booked".into(),
        vars: r#"{"code":"ABC"}"#.into(),
        phone: Some("13800000201".into()),
        not_before: NOW,
        now: NOW,
        content_key: None,
    }
}

both_backends!(enqueue_is_once_per_event_and_channel, |store| {
    let c = citizen(&store, "13800000201").await;
    let first = store.enqueue_notification(&sms(&c, "ev-1")).await.unwrap();
    assert!(first.is_some());
    assert_eq!(store.enqueue_notification(&sms(&c, "ev-1")).await.unwrap(), None, "same event, same channel: nothing new");
    let inapp = NewNotification { channel: Channel::InApp, phone: None, ..sms(&c, "ev-1") };
    assert!(store.enqueue_notification(&inapp).await.unwrap().is_some(), "the in-app copy is a separate channel");
    let rows = store.notifications_by_dedupe("ev-1").await.unwrap();
    assert_eq!(rows.len(), 2);
    let s = rows.iter().find(|n| n.channel == Channel::Sms).unwrap();
    assert_eq!(s.status, NotificationStatus::Created);
    assert_eq!(s.id, first.unwrap());
    let i = rows.iter().find(|n| n.channel == Channel::InApp).unwrap();
    assert_eq!(i.status, NotificationStatus::Delivered);
    assert_eq!(i.delivered_at, Some(NOW));
});

both_backends!(claim_send_receipt, |store| {
    let c = citizen(&store, "13800000202").await;
    let id = store.enqueue_notification(&sms(&c, "ev-2")).await.unwrap().unwrap();
    let later = NewNotification { not_before: NOW + 60_000, ..sms(&c, "ev-later") };
    store.enqueue_notification(&later).await.unwrap().unwrap();

    let jobs = store.claim_sms("w1", 10, NOW, NOW + 30_000).await.unwrap();
    assert_eq!(jobs.len(), 1, "the deferred job is not due yet");
    assert_eq!(jobs[0].id, id);
    assert_eq!(jobs[0].attempts, 1);
    assert_eq!(jobs[0].status, NotificationStatus::Sending);
    assert!(store.claim_sms("w2", 10, NOW + 1, NOW + 30_000).await.unwrap().is_empty(), "leased jobs are not handed out again");
    assert_eq!(store.claim_sms_by_id(&id, "w2", NOW + 1, NOW + 30_000).await.unwrap(), None, "nor by id");

    assert!(!store.mark_sent(&id, "w2", "aliyun", "biz-1", NOW).await.unwrap(), "only the lease holder records the result");
    assert!(store.mark_sent(&id, "w1", "aliyun", "biz-1", NOW).await.unwrap());
    let n = store.notification(&id).await.unwrap().unwrap();
    assert_eq!((n.status, n.provider.as_deref(), n.provider_message_id.as_deref()), (NotificationStatus::Sent, Some("aliyun"), Some("biz-1")));

    assert_eq!(store.record_receipt("aliyun", "biz-1", true, "", NOW + 5).await.unwrap(), ReceiptOutcome::Applied);
    let n = store.notification(&id).await.unwrap().unwrap();
    assert_eq!((n.status, n.delivered_at), (NotificationStatus::Delivered, Some(NOW + 5)));
    // A replay, even one claiming failure, changes nothing.
    assert_eq!(store.record_receipt("aliyun", "biz-1", false, "MK:0001", NOW + 9).await.unwrap(), ReceiptOutcome::AlreadyFinal);
    assert_eq!(store.notification(&id).await.unwrap().unwrap(), n);
    assert_eq!(store.record_receipt("aliyun", "nope", true, "", NOW).await.unwrap(), ReceiptOutcome::Unknown);
    assert_eq!(store.record_receipt("tencent", "biz-1", true, "", NOW).await.unwrap(), ReceiptOutcome::Unknown, "ids are per provider");
});

both_backends!(batches_record_each_row_on_its_own_terms, |store| {
    let c = citizen(&store, "13800000209").await;
    // An event's two rows go in together; a replayed event inserts neither again.
    let inapp = NewNotification { channel: Channel::InApp, phone: None, ..sms(&c, "ev-b1") };
    let ids = store.enqueue_notifications(&[inapp.clone(), sms(&c, "ev-b1")]).await.unwrap();
    assert!(ids.iter().all(Option::is_some), "{ids:?}");
    assert_eq!(store.enqueue_notifications(&[inapp, sms(&c, "ev-b1")]).await.unwrap(), vec![None, None]);
    let a = ids[1].clone().unwrap();
    let b = store.enqueue_notification(&sms(&c, "ev-b2")).await.unwrap().unwrap();
    let other = store.enqueue_notification(&NewNotification { not_before: NOW + 1, ..sms(&c, "ev-b3") }).await.unwrap().unwrap();
    assert_eq!(store.claim_sms("w1", 10, NOW, NOW + 30_000).await.unwrap().len(), 2);
    assert_eq!(store.claim_sms("w2", 10, NOW + 1, NOW + 30_000).await.unwrap()[0].id, other);

    // One batch of acceptances: the lease holder's rows move, the row leased to another worker does not.
    let sent = |id: &str, msg: &str| SentJob { id: id.into(), provider: "aliyun".into(), provider_message_id: msg.into(), at: NOW + 1 };
    let recorded = store.mark_sent_many("w1", &[sent(&a, "m-a"), sent(&other, "m-x"), sent(&b, "m-b")]).await.unwrap();
    assert_eq!(recorded, vec![true, false, true]);
    assert_eq!(store.notification(&other).await.unwrap().unwrap().status, NotificationStatus::Sending);

    // One batch of receipts: applied, a replay within the batch, unknown, failed.
    let receipt = |msg: &str, delivered: bool| Receipt { provider_message_id: msg.into(), delivered, error: if delivered { String::new() } else { "MK:0005".into() } };
    let outcomes = store.record_receipts("aliyun", &[receipt("m-a", true), receipt("m-a", false), receipt("m-zz", true), receipt("m-b", false)], NOW + 2).await.unwrap();
    assert_eq!(outcomes, vec![ReceiptOutcome::Applied, ReceiptOutcome::AlreadyFinal, ReceiptOutcome::Unknown, ReceiptOutcome::Applied]);
    assert_eq!(store.notification(&a).await.unwrap().unwrap().status, NotificationStatus::Delivered);
    let nb = store.notification(&b).await.unwrap().unwrap();
    assert_eq!((nb.status, nb.error.as_deref()), (NotificationStatus::PermanentFailure, Some("MK:0005")));
    assert!(store.record_receipts("aliyun", &[], NOW).await.unwrap().is_empty());
});

both_backends!(failed_receipt_is_permanent, |store| {
    let c = citizen(&store, "13800000203").await;
    let id = store.enqueue_notification(&sms(&c, "ev-3")).await.unwrap().unwrap();
    store.claim_sms("w1", 10, NOW, NOW + 30_000).await.unwrap();
    store.mark_sent(&id, "w1", "tencent", "sid-3", NOW).await.unwrap();
    assert_eq!(store.record_receipt("tencent", "sid-3", false, "MK:0001", NOW + 1).await.unwrap(), ReceiptOutcome::Applied);
    let n = store.notification(&id).await.unwrap().unwrap();
    assert_eq!((n.status, n.error.as_deref(), n.delivered_at), (NotificationStatus::PermanentFailure, Some("MK:0001"), None));
});

both_backends!(backoff_then_dead_letter, |store| {
    let c = citizen(&store, "13800000204").await;
    let id = store.enqueue_notification(&sms(&c, "ev-4")).await.unwrap().unwrap();
    let mut now = NOW;
    let mut delays = Vec::new();
    for attempt in 1..=3 {
        let jobs = store.claim_sms("w1", 10, now, now + 30_000).await.unwrap();
        assert_eq!(jobs.len(), 1, "attempt {attempt} is due");
        assert_eq!(jobs[0].attempts, attempt);
        let status = store.mark_failed(&jobs[0], "w1", Failure::Retryable, "connection refused", POLICY, now).await.unwrap();
        let n = store.notification(&id).await.unwrap().unwrap();
        if attempt < 3 {
            assert_eq!(status, Some(NotificationStatus::TemporaryFailure));
            delays.push(n.next_attempt_at - now);
            assert!(store.claim_sms("w1", 10, n.next_attempt_at - 1, now + 30_000).await.unwrap().is_empty(), "not before the back-off");
            now = n.next_attempt_at;
        } else {
            assert_eq!(status, Some(NotificationStatus::TechnicalFailure), "dead-lettered after max attempts");
            assert_eq!(n.error.as_deref(), Some("connection refused"));
        }
    }
    assert_eq!(delays, vec![1_000, 2_000]);
    assert!(store.claim_sms("w1", 10, now + 10_000_000, now + 20_000_000).await.unwrap().is_empty(), "dead letters are never claimed");
    assert_eq!(POLICY.delay_ms(10), 5_000, "capped");
});

both_backends!(permanent_failure_and_lost_lease, |store| {
    let c = citizen(&store, "13800000205").await;
    let id = store.enqueue_notification(&sms(&c, "ev-5")).await.unwrap().unwrap();
    let first = store.claim_sms("w1", 10, NOW, NOW + 1_000).await.unwrap();
    // w1 stalls past its lease; w2 takes the job over.
    let second = store.claim_sms("w2", 10, NOW + 2_000, NOW + 30_000).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempts, 2);
    assert_eq!(store.mark_failed(&first[0], "w1", Failure::Permanent, "late", POLICY, NOW + 2_100).await.unwrap(), None, "stale lease");
    assert_eq!(store.mark_failed(&second[0], "w2", Failure::Permanent, "isv.MOBILE_NUMBER_ILLEGAL", POLICY, NOW + 2_100).await.unwrap(), Some(NotificationStatus::PermanentFailure));
    assert_eq!(store.notification(&id).await.unwrap().unwrap().status, NotificationStatus::PermanentFailure);
    assert!(store.claim_sms("w3", 10, NOW + 99_000_000, NOW + 99_100_000).await.unwrap().is_empty());
});

both_backends!(racing_claimers_never_share_a_row, |store| {
    let c = citizen(&store, "13800000206").await;
    let mut ids = HashSet::new();
    for i in 0..120 {
        ids.insert(store.enqueue_notification(&sms(&c, &format!("race-{i}"))).await.unwrap().unwrap());
    }
    let mut tasks = Vec::new();
    for w in 0..4 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let jobs = s.claim_sms(&format!("w{w}"), 7, NOW, NOW + 60_000).await.unwrap();
                if jobs.is_empty() {
                    break;
                }
                mine.extend(jobs.into_iter().map(|j| j.id));
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for t in tasks {
        for id in t.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "a row was claimed twice");
        }
    }
    assert_eq!(total, 120);
    assert_eq!(seen, ids, "every job claimed exactly once");
});

both_backends!(notification_centre, |store| {
    let a = citizen(&store, "13800000207").await;
    let b = citizen(&store, "13800000208").await;
    for (i, at) in [NOW, NOW + 10, NOW + 20].into_iter().enumerate() {
        let n = NewNotification { channel: Channel::InApp, phone: None, now: at, not_before: at, ..sms(&a, &format!("c-{i}")) };
        store.enqueue_notification(&n).await.unwrap().unwrap();
    }
    store.enqueue_notification(&sms(&a, "c-sms")).await.unwrap().unwrap();
    let list = store.inapp_notifications(&a, 10).await.unwrap();
    assert_eq!(list.iter().map(|n| n.dedupe_key.as_str()).collect::<Vec<_>>(), vec!["c-2", "c-1", "c-0"], "newest first, in-app only");
    assert_eq!(store.unread_count(&a).await.unwrap(), 3);
    assert!(!store.mark_read(&b, &list[0].id, NOW).await.unwrap(), "not b's");
    assert!(store.mark_read(&a, &list[0].id, NOW + 30).await.unwrap());
    assert!(store.mark_read(&a, &list[0].id, NOW + 40).await.unwrap());
    assert_eq!(store.notification(&list[0].id).await.unwrap().unwrap().read_at, Some(NOW + 30), "first read time kept");
    assert_eq!(store.unread_count(&a).await.unwrap(), 2);
    assert_eq!(store.unread_count(&b).await.unwrap(), 0);
    let since = store.inapp_since(&a, NOW + 10, 10).await.unwrap();
    assert_eq!(since.iter().map(|n| n.dedupe_key.as_str()).collect::<Vec<_>>(), vec!["c-1", "c-2"], "oldest first from the cursor");
    assert!(store.inapp_since(&b, 0, 10).await.unwrap().is_empty());
});

both_backends!(read_all_and_the_live_hubs_query, |store| {
    let a = citizen(&store, "13800000209").await;
    let b = citizen(&store, "13800000210").await;
    for (i, (who, at)) in [(&a, NOW), (&b, NOW + 5), (&a, NOW + 10)].into_iter().enumerate() {
        let n = NewNotification { channel: Channel::InApp, phone: None, now: at, not_before: at, ..sms(who, &format!("h-{i}")) };
        store.enqueue_notification(&n).await.unwrap().unwrap();
    }
    store.enqueue_notification(&sms(&a, "h-sms")).await.unwrap().unwrap();
    let all = store.inapp_created_since(NOW + 5, 10).await.unwrap();
    assert_eq!(all.iter().map(|n| n.dedupe_key.as_str()).collect::<Vec<_>>(), vec!["h-1", "h-2"], "every citizen's, in-app only, oldest first");
    assert_eq!(store.inapp_created_since(NOW, 1).await.unwrap().len(), 1, "limited");
    assert_eq!(store.mark_all_read(&a, NOW + 20).await.unwrap(), 2);
    assert_eq!(store.mark_all_read(&a, NOW + 30).await.unwrap(), 0, "nothing left unread");
    assert_eq!((store.unread_count(&a).await.unwrap(), store.unread_count(&b).await.unwrap()), (0, 1), "only the caller's own");
    let counts = store.sms_status_counts(NOW).await.unwrap();
    assert_eq!(counts, vec![(NotificationStatus::Created, 1)]);
    let timings = store.sms_timings(NOW, None, 10).await.unwrap();
    assert_eq!(timings.len(), 1);
    assert_eq!((timings[0].1.dedupe_key.as_str(), timings[0].1.sent_at), ("h-sms", None));
    assert!(store.sms_timings(NOW, Some((timings[0].1.created_at, timings[0].0.clone())), 10).await.unwrap().is_empty(), "after the cursor");
});


both_backends!(push_subscriptions_by_endpoint_with_a_limit, |store| {
    let a = citizen(&store, "13800000211").await;
    let b = citizen(&store, "13800000212").await;
    let sub = |who: &str, endpoint: &str| PushSubscription {
        id: new_id(),
        citizen_id: who.into(),
        endpoint: endpoint.into(),
        p256dh: "key".into(),
        auth: "auth".into(),
        lang: "zh-CN".into(),
        created_at: NOW,
        last_success_at: None,
        failures: 0,
    };
    let first = store.save_push_subscription(&sub(&a, "https://push.example/1"), 2).await.unwrap();
    store.save_push_subscription(&sub(&a, "https://push.example/2"), 2).await.unwrap();
    assert!(matches!(store.save_push_subscription(&sub(&a, "https://push.example/3"), 2).await, Err(StoreError::Conflict("too_many_subscriptions"))));
    // Re-subscribing an endpoint updates it (not counted against the limit) and keeps its id.
    let again = store.save_push_subscription(&PushSubscription { p256dh: "new".into(), ..sub(&a, "https://push.example/1") }, 2).await.unwrap();
    assert_eq!((again.id.as_str(), again.p256dh.as_str()), (first.id.as_str(), "new"));
    store.record_push_result(&first.id, false, NOW).await.unwrap();
    store.record_push_result(&first.id, false, NOW).await.unwrap();
    assert_eq!(store.push_subscriptions(&a).await.unwrap()[0].failures, 2);
    store.record_push_result(&first.id, true, NOW + 1).await.unwrap();
    let s = &store.push_subscriptions(&a).await.unwrap()[0];
    assert_eq!((s.failures, s.last_success_at), (0, Some(NOW + 1)));
    // The same browser signed in as someone else moves to them.
    store.save_push_subscription(&sub(&b, "https://push.example/2"), 2).await.unwrap();
    assert_eq!(store.push_subscriptions(&a).await.unwrap().len(), 1);
    assert_eq!(store.push_subscriptions(&b).await.unwrap().len(), 1);
    // Removing: only one's own, or any when the push service says it is gone.
    assert!(!store.delete_push_subscription(Some(&b), "https://push.example/1").await.unwrap());
    assert!(store.delete_push_subscription(Some(&a), "https://push.example/1").await.unwrap());
    assert!(store.delete_push_subscription(None, "https://push.example/2").await.unwrap());
    assert!(store.push_subscriptions(&b).await.unwrap().is_empty());
});

both_backends!(unconfirmed_messages_are_checked_then_given_up_never_resent, |store| {
    let c = citizen(&store, "13800000231").await;
    let mut ids = Vec::new();
    for (i, provider) in ["aliyun", "aliyun", "tencent"].iter().enumerate() {
        let id = store.enqueue_notification(&sms(&c, &format!("uc-{i}"))).await.unwrap().unwrap();
        store.claim_sms_by_id(&id, "w1", NOW, NOW + 30_000).await.unwrap().unwrap();
        assert!(store.mark_sent(&id, "w1", provider, &format!("m-{i}"), NOW + i as i64).await.unwrap());
        ids.push(id);
    }
    // Too recent to ask about.
    assert!(store.claim_unconfirmed_sms("r1", "aliyun", NOW - 1, 10, NOW + 600_000, NOW + 1_200_000).await.unwrap().is_empty());
    // Old enough: the provider's own messages only, oldest first, each held until the recheck time.
    let held = store.claim_unconfirmed_sms("r1", "aliyun", NOW + 10, 10, NOW + 600_000, NOW + 1_200_000).await.unwrap();
    assert_eq!(held.iter().map(|n| n.id.clone()).collect::<Vec<_>>(), ids[..2].to_vec());
    assert!(held.iter().all(|n| n.status == NotificationStatus::Sent && n.lease_until == Some(NOW + 1_200_000)));
    assert!(
        store.claim_unconfirmed_sms("r2", "aliyun", NOW + 10, 10, NOW + 600_001, NOW + 1_200_001).await.unwrap().is_empty(),
        "a message being checked is not checked twice at once"
    );
    // A receipt still closes a held message; it then leaves the reconciliation.
    assert_eq!(store.record_receipt("aliyun", "m-0", true, "", NOW + 700_000).await.unwrap(), ReceiptOutcome::Applied);
    // After the recheck time, the one left is due again, for any instance.
    let again = store.claim_unconfirmed_sms("r2", "aliyun", NOW + 10, 10, NOW + 1_200_000, NOW + 1_800_000).await.unwrap();
    assert_eq!(again.iter().map(|n| n.id.clone()).collect::<Vec<_>>(), vec![ids[1].clone()]);
    // Giving up takes the holder; a receipt for a closed message changes nothing.
    assert_eq!(store.give_up_unconfirmed("r1", &[ids[1].clone()], "no_receipt").await.unwrap(), 0, "r1 no longer holds it");
    assert_eq!(store.give_up_unconfirmed("r2", &[ids[1].clone(), ids[0].clone()], "no_receipt").await.unwrap(), 1, "the delivered one stays delivered");
    let n = store.notification(&ids[1]).await.unwrap().unwrap();
    assert_eq!((n.status, n.error.as_deref(), n.lease_until), (NotificationStatus::TemporaryFailure, Some("no_receipt"), None));
    assert_eq!(store.notification(&ids[0]).await.unwrap().unwrap().status, NotificationStatus::Delivered);
    // A message that was sent once is never handed out for sending again, though `temporary-failure` and due.
    assert!(store.claim_sms("w9", 10, NOW + 10_000_000, NOW + 10_030_000).await.unwrap().is_empty());
    assert_eq!(store.claim_sms_by_id(&ids[1], "w9", NOW + 10_000_000, NOW + 10_030_000).await.unwrap(), None);
    assert_eq!(store.queue_stats(NOW + 10_000_000).await.unwrap().notifications_due, 0, "nor counted as due");
    assert_eq!(store.record_receipt("aliyun", "m-1", true, "", NOW + 10_000_000).await.unwrap(), ReceiptOutcome::AlreadyFinal);
    // The other provider's message is still there for its own reconciler.
    assert_eq!(store.claim_unconfirmed_sms("r1", "tencent", NOW + 10, 10, NOW + 600_000, NOW + 1_200_000).await.unwrap().len(), 1);
});

both_backends!(queue_stats_count_messages_awaiting_their_receipt, |store| {
    let c = citizen(&store, "13800000241").await;
    let id = store.enqueue_notification(&sms(&c, "qs-1")).await.unwrap().unwrap();
    store.claim_sms_by_id(&id, "w1", NOW, NOW + 30_000).await.unwrap().unwrap();
    assert!(store.mark_sent(&id, "w1", "aliyun", "qs-m1", NOW).await.unwrap());
    let q = store.queue_stats(NOW + 900_000).await.unwrap();
    assert_eq!((q.sms_awaiting_receipt, q.sms_oldest_unchecked_receipt_ms), (1, 900_000));
    // Once the reconciler holds it, it is being looked after: still awaiting, no longer unchecked.
    assert_eq!(store.claim_unconfirmed_sms("r1", "aliyun", NOW + 300_000, 10, NOW + 900_000, NOW + 1_500_000).await.unwrap().len(), 1);
    let q = store.queue_stats(NOW + 900_000).await.unwrap();
    assert_eq!((q.sms_awaiting_receipt, q.sms_oldest_unchecked_receipt_ms), (1, 0));
    store.record_receipt("aliyun", "qs-m1", true, "", NOW + 1_000_000).await.unwrap();
    assert_eq!(store.queue_stats(NOW + 1_000_000).await.unwrap().sms_awaiting_receipt, 0);
});

both_backends!(rate_windows_take_all_or_nothing_and_deferral_keeps_the_attempt, |store| {
    let w = NOW - NOW % 1000;
    let got = store.take_rate(&[("g".into(), 3), ("g".into(), 2), ("g".into(), 1), ("h".into(), 5), ("h".into(), 6)], w, 5).await.unwrap();
    assert_eq!(got, vec![true, true, false, true, false], "3 + 2 fill the window; nothing more fits, all or nothing");
    assert_eq!(store.take_rate(&[("g".into(), 1)], w + 1000, 5).await.unwrap(), vec![true], "a new window starts afresh");
    assert_eq!(store.take_rate(&[("g".into(), 0), ("z".into(), 9)], w, 5).await.unwrap(), vec![false, false]);

    let c = citizen(&store, "13800000251").await;
    let id = store.enqueue_notification(&sms(&c, "df-1")).await.unwrap().unwrap();
    let job = store.claim_sms_by_id(&id, "w1", NOW, NOW + 30_000).await.unwrap().unwrap();
    assert!(!store.defer_sms(&job, "w2", NOW + 3_600_000, "rate_limited_per_number").await.unwrap(), "only the lease holder");
    assert!(store.defer_sms(&job, "w1", NOW + 3_600_000, "rate_limited_per_number").await.unwrap());
    let n = store.notification(&id).await.unwrap().unwrap();
    assert_eq!((n.status, n.attempts, n.next_attempt_at, n.lease_until), (NotificationStatus::Created, 0, NOW + 3_600_000, None));
    assert!(store.claim_sms("w1", 10, NOW + 1_000, NOW + 31_000).await.unwrap().is_empty(), "not before its time");
    let again = store.claim_sms("w1", 10, NOW + 3_600_000, NOW + 3_630_000).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 1), "deferral did not use up an attempt");

    // Two rows with one content key: the second is not inserted (identical messages go once).
    let a = NewNotification { content_key: Some("same".into()), ..sms(&c, "ck-1") };
    let b = NewNotification { content_key: Some("same".into()), ..sms(&c, "ck-2") };
    assert!(store.enqueue_notification(&a).await.unwrap().is_some());
    let inapp = NewNotification { channel: Channel::InApp, phone: None, ..sms(&c, "ck-2") };
    assert_eq!(store.enqueue_notifications(&[inapp, b]).await.unwrap().iter().map(Option::is_some).collect::<Vec<_>>(), vec![true, false]);
});
