//! Conformance tests for card records and expiry-reminder claims, on SQLite and (when configured) PostgreSQL.

use std::collections::HashSet;

use shenfen_store::*;

const NOW: i64 = 1_790_000_000_000;

fn card(citizen_id: &str, issued: &str, expires: Option<&str>, source: CardSource) -> Card {
    Card { citizen_id: citizen_id.into(), issued_on: issued.into(), expires_on: expires.map(str::to_string), source, updated_at: NOW }
}

both_backends!(a_newer_card_replaces_an_older_one_never_the_reverse, |store| {
    let c = store.citizen_for_phone("13800000301", NOW).await.unwrap().id;
    assert_eq!(store.card(&c).await.unwrap(), None);
    let first = store.upsert_card(&card(&c, "2016-05-01", Some("2026-05-01"), CardSource::Registry)).await.unwrap();
    assert_eq!(store.card(&c).await.unwrap(), Some(first.clone()));
    let issued = store.upsert_card(&card(&c, "2026-04-20", Some("2046-04-20"), CardSource::Issued)).await.unwrap();
    assert_eq!((issued.issued_on.as_str(), issued.source), ("2026-04-20", CardSource::Issued));
    let kept = store.upsert_card(&card(&c, "2016-05-01", Some("2026-05-01"), CardSource::Registry)).await.unwrap();
    assert_eq!(kept, issued, "an older registry card does not overwrite");
    let long_term = store.upsert_card(&card(&c, "2026-04-21", None, CardSource::Issued)).await.unwrap();
    assert_eq!(long_term.expires_on, None);
});

both_backends!(reminder_claims_are_unique_and_stale_ones_are_taken_over, |store| {
    let mut ids = Vec::new();
    for i in 0..60 {
        let c = store.citizen_for_phone(&format!("1380000{i:04}"), NOW).await.unwrap().id;
        // One card a day from 2026-03-01 to 2026-04-29.
        let day = if i < 31 { format!("2026-03-{:02}", i + 1) } else { format!("2026-04-{:02}", i - 30) };
        store.upsert_card(&card(&c, "2016-01-01", Some(&day), CardSource::Registry)).await.unwrap();
        ids.push(c);
    }
    // Long-term cards are never claimed.
    let lt = store.citizen_for_phone("13800009999", NOW).await.unwrap().id;
    store.upsert_card(&card(&lt, "2016-01-01", None, CardSource::Registry)).await.unwrap();

    // Four claimers at once over March (31 cards) in batches of 5: every card once.
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = store.claim_expiry_reminders(30, "2026-03-01", "2026-03-31", &format!("w{w}"), NOW, 5).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|r| (format!("w{w}"), r)));
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut claims = Vec::new();
    for t in tasks {
        for (w, r) in t.await.unwrap() {
            assert_eq!(r.window_days, 30);
            assert!(r.expires_on.as_str() >= "2026-03-01" && r.expires_on.as_str() <= "2026-03-31");
            assert!(seen.insert(r.citizen_id.clone()), "claimed twice: {r:?}");
            claims.push((w, r));
        }
    }
    assert_eq!(seen.len(), 31);
    assert!(store.claim_expiry_reminders(30, "2026-03-01", "2026-03-31", "w9", NOW, 100).await.unwrap().is_empty(), "nothing twice");
    // Another window is another reminder.
    assert_eq!(store.claim_expiry_reminders(90, "2026-03-01", "2026-03-02", "w9", NOW, 100).await.unwrap().len(), 2);

    // Every claim but the last is marked sent by its holder; another worker cannot mark it.
    let (last_worker, last) = claims.pop().unwrap();
    assert!(!store.mark_reminder_sent(&claims[0].1, "someone-else", NOW).await.unwrap());
    for (w, r) in &claims {
        assert!(store.mark_reminder_sent(r, w, NOW + 1).await.unwrap());
        assert!(!store.mark_reminder_sent(r, w, NOW + 2).await.unwrap(), "once");
    }
    // The unsent claim is stale after a while and taken over exactly once; sent ones never are.
    assert!(store.reclaim_stale_reminders(NOW, "w9", NOW + 10, 100).await.unwrap().is_empty(), "not stale yet");
    let stale = store.reclaim_stale_reminders(NOW + 1, "w9", NOW + 600_000, 100).await.unwrap();
    let mut expected = vec![last.clone()];
    // The two 90-day claims above were never marked sent either.
    for c in &ids[..2] {
        expected.push(ClaimedReminder { citizen_id: c.clone(), expires_on: store.card(c).await.unwrap().unwrap().expires_on.unwrap(), window_days: 90 });
    }
    let key = |r: &ClaimedReminder| (r.citizen_id.clone(), r.window_days);
    let mut got = stale.clone();
    got.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(got, expected);
    assert!(store.reclaim_stale_reminders(NOW + 1, "w8", NOW + 600_001, 100).await.unwrap().is_empty(), "taken over once");
    assert!(!store.mark_reminder_sent(&last, &last_worker, NOW + 600_002).await.unwrap(), "the dead runner's mark no longer counts");
    assert!(store.mark_reminder_sent(&last, "w9", NOW + 600_002).await.unwrap());
    let rows = store.card_reminders(&last.citizen_id).await.unwrap();
    assert!(rows.iter().any(|(r, sent)| r.window_days == 30 && sent == &Some(NOW + 600_002)), "{rows:?}");
});
