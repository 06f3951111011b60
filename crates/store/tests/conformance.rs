//! One conformance suite, run against SQLite always and PostgreSQL when SHENFEN_TEST_POSTGRES_URL is set.

use std::sync::Arc;

use shenfen_store::*;

fn identity(blind: &str) -> VerifiedIdentity {
    VerifiedIdentity {
        name_enc: vec![1, 2, 3],
        name_masked: "张*".into(),
        id_number_enc: vec![4, 5, 6],
        id_number_blind: blind.into(),
        id_number_masked: "340104********123X".into(),
        hukou_code: "340104".into(),
    }
}

fn staff(username: &str, role: Role) -> Staff {
    Staff {
        id: new_id(),
        username: username.into(),
        password_hash: "$argon2id$fake".into(),
        display_name: "测试".into(),
        role,
        scope: Scope { kind: ScopeKind::District, code: "340104".into() },
        active: true,
        created_at: 1,
    }
}

fn audit(action: &str) -> AuditRecord {
    AuditRecord {
        at: 1_700_000_000_000,
        actor_kind: ActorKind::Staff,
        actor_id: "s1".into(),
        action: action.into(),
        target: "citizen:1".into(),
        source_ip: "127.0.0.1".into(),
        detail: "{}".into(),
    }
}

both_backends!(citizen_accounts, |store| {
    let a = store.citizen_for_phone("13800000001", 10).await.unwrap();
    let again = store.citizen_for_phone("13800000001", 20).await.unwrap();
    assert_eq!(a.id, again.id, "one account per phone number");
    assert_eq!(a.verification, Verification::None);
    assert_eq!(store.citizen(&a.id).await.unwrap().unwrap(), a);
    assert!(store.citizen("missing").await.unwrap().is_none());

    // Intermediate requires primary.
    assert!(matches!(store.record_intermediate_verification(&a.id, 30).await, Err(StoreError::Conflict("primary_required"))));
    let v = store.record_primary_verification(&a.id, &identity("blind-a"), 40).await.unwrap();
    assert_eq!(v.verification, Verification::Primary);
    assert_eq!(v.id_number_masked.as_deref(), Some("340104********123X"));
    assert_eq!(v.hukou_code.as_deref(), Some("340104"));
    assert_eq!(store.citizen_by_id_blind("blind-a").await.unwrap().unwrap().id, a.id);
    let v = store.record_intermediate_verification(&a.id, 50).await.unwrap();
    assert_eq!(v.verification, Verification::Intermediate);

    // The same ID number cannot be bound to a second account, and nothing is written.
    let b = store.citizen_for_phone("13800000002", 60).await.unwrap();
    assert!(matches!(store.record_primary_verification(&b.id, &identity("blind-a"), 70).await, Err(StoreError::Conflict("id_number_bound"))));
    assert_eq!(store.citizen(&b.id).await.unwrap().unwrap().verification, Verification::None);

    // Phone change: taken numbers refused; free ones move.
    assert!(matches!(store.change_citizen_phone(&a.id, "13800000002", 80).await, Err(StoreError::Conflict("phone_taken"))));
    let moved = store.change_citizen_phone(&a.id, "13900000009", 90).await.unwrap();
    assert_eq!(moved.phone, "13900000009");
    assert_eq!(store.citizen_for_phone("13900000009", 100).await.unwrap().id, a.id);
});

both_backends!(concurrent_first_sign_in_creates_one_account, |store| {
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = Arc::clone(&store);
        tasks.push(tokio::spawn(async move { s.citizen_for_phone("13700000000", 1).await.unwrap().id }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
});

both_backends!(staff_accounts, |store| {
    let s = staff("reviewer1", Role::Reviewer);
    store.insert_staff(&s).await.unwrap();
    assert_eq!(store.staff_by_username("reviewer1").await.unwrap().unwrap(), s);
    assert_eq!(store.staff(&s.id).await.unwrap().unwrap(), s);
    assert!(matches!(store.insert_staff(&staff("reviewer1", Role::Admin)).await, Err(StoreError::Conflict("username_taken"))));
    store.insert_staff(&staff("admin1", Role::Admin)).await.unwrap();
    let all = store.list_staff().await.unwrap();
    assert_eq!(all.iter().map(|s| s.username.as_str()).collect::<Vec<_>>(), ["admin1", "reviewer1"]);
});

both_backends!(sessions_expire_and_delete, |store| {
    let s = Session {
        token_hash: "h1".into(),
        principal_kind: PrincipalKind::Citizen,
        principal_id: "c1".into(),
        channel: SessionChannel::Cookie,
        created_at: 0,
        expires_at: 1000,
    };
    store.insert_session(&s).await.unwrap();
    assert_eq!(store.session("h1", 999).await.unwrap().unwrap(), s);
    assert!(store.session("h1", 1000).await.unwrap().is_none(), "expired sessions are not returned");
    store.insert_session(&Session { token_hash: "h2".into(), ..s.clone() }).await.unwrap();
    assert_eq!(store.delete_sessions_of(PrincipalKind::Citizen, "c1").await.unwrap(), 2);
    assert!(store.session("h2", 1).await.unwrap().is_none());
});

both_backends!(sms_codes_accept_once_and_burn, |store| {
    let phone = "13800000003";
    assert_eq!(store.check_sms_code(phone, CodePurpose::SignIn, "x", 5, 0).await.unwrap(), CodeCheck::NoCode);
    let code = NewSmsCode { phone: phone.into(), purpose: CodePurpose::SignIn, code_hash: "good".into(), created_at: 0, expires_at: 300_000 };
    store.insert_sms_code(&code).await.unwrap();
    assert_eq!(store.check_sms_code(phone, CodePurpose::ChangePhone, "good", 5, 1).await.unwrap(), CodeCheck::NoCode, "purposes are separate");
    assert_eq!(store.check_sms_code(phone, CodePurpose::SignIn, "bad", 5, 1).await.unwrap(), CodeCheck::Wrong { attempts_left: 4 });
    assert_eq!(store.check_sms_code(phone, CodePurpose::SignIn, "good", 5, 2).await.unwrap(), CodeCheck::Accepted);
    assert_eq!(store.check_sms_code(phone, CodePurpose::SignIn, "good", 5, 3).await.unwrap(), CodeCheck::NoCode, "a code is accepted once");

    // Five wrong attempts burn a code, even the right one afterwards.
    store.insert_sms_code(&NewSmsCode { created_at: 10, ..code.clone() }).await.unwrap();
    for left in (1..=4).rev() {
        assert_eq!(store.check_sms_code(phone, CodePurpose::SignIn, "bad", 5, 11).await.unwrap(), CodeCheck::Wrong { attempts_left: left });
    }
    assert_eq!(store.check_sms_code(phone, CodePurpose::SignIn, "bad", 5, 11).await.unwrap(), CodeCheck::Burned);
    assert_eq!(store.check_sms_code(phone, CodePurpose::SignIn, "good", 5, 12).await.unwrap(), CodeCheck::Burned);

    // Expiry.
    store.insert_sms_code(&NewSmsCode { created_at: 20, expires_at: 100, ..code.clone() }).await.unwrap();
    assert_eq!(store.check_sms_code(phone, CodePurpose::SignIn, "good", 5, 100).await.unwrap(), CodeCheck::Expired);
});

both_backends!(concurrent_code_presentations_accept_once, |store| {
    let phone = "13800000004";
    store
        .insert_sms_code(&NewSmsCode { phone: phone.into(), purpose: CodePurpose::SignIn, code_hash: "good".into(), created_at: 0, expires_at: 300_000 })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = Arc::clone(&store);
        tasks.push(tokio::spawn(async move { s.check_sms_code(phone, CodePurpose::SignIn, "good", 5, 1).await.unwrap() }));
    }
    let mut accepted = 0;
    for t in tasks {
        if t.await.unwrap() == CodeCheck::Accepted {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1);
});

both_backends!(rate_limits_hold_under_concurrency, |store| {
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let s = Arc::clone(&store);
        tasks.push(tokio::spawn(async move { s.hit_rate_limit("sms:13800000005", 0, 10).await.unwrap() }));
    }
    let mut allowed = 0;
    for t in tasks {
        allowed += t.await.unwrap() as u32;
    }
    assert_eq!(allowed, 10);
    assert!(store.hit_rate_limit("sms:13800000005", 86_400_000, 10).await.unwrap(), "a new window starts afresh");
    assert!(!store.hit_rate_limit("other", 0, 0).await.unwrap());
});

both_backends!(outbox_lists_newest_first, |store| {
    for (i, phone) in ["13800000006", "13800000007", "13800000006"].iter().enumerate() {
        store.insert_outbox(&OutboxMessage { id: new_id(), phone: phone.to_string(), body: format!("m{i}"), created_at: i as i64, provider: None, provider_message_id: None }).await.unwrap();
    }
    let mine = store.outbox(Some("13800000006"), 10).await.unwrap();
    assert_eq!(mine.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["m2", "m0"]);
    assert_eq!(store.outbox(None, 2).await.unwrap().len(), 2);
});

both_backends!(audit_chain_appends_and_verifies, |store| {
    let mut tasks = Vec::new();
    for i in 0..30 {
        let s = Arc::clone(&store);
        tasks.push(tokio::spawn(async move { s.append_audit(&audit(&format!("action{i}"))).await.unwrap() }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let entries = store.audit_entries(0, 1000).await.unwrap();
    assert_eq!(entries.len(), 30);
    let (seq, hash) = store.audit_head().await.unwrap();
    assert_eq!(seq, 30);
    assert_eq!(audit::verify_chain(&entries, (seq, &hash)).unwrap(), 30);

    // Any edit, deletion in the middle, or deletion at the tail is detected.
    let mut edited = entries.clone();
    edited[7].record.detail = "{\"changed\":true}".into();
    assert_eq!(audit::verify_chain(&edited, (seq, &hash)), Err(audit::ChainBreak::Content { seq: 8 }));
    let mut gap = entries.clone();
    gap.remove(3);
    assert!(matches!(audit::verify_chain(&gap, (seq, &hash)), Err(audit::ChainBreak::Gap { .. })));
    let truncated = &entries[..29];
    assert!(matches!(audit::verify_chain(truncated, (seq, &hash)), Err(audit::ChainBreak::Tail { .. })));
    let page = store.audit_entries(25, 3).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [26, 27, 28]);
});

both_backends!(acceptance_points, |store| {
    let p = AcceptancePoint::with_defaults(new_id(), "蜀山区三里庵户政窗口".into(), "340104".into(), "合肥市蜀山区".into(), "0551-00000000".into(), 31.85, 117.25, true, 1);
    store.insert_point(&p).await.unwrap();
    assert!(matches!(store.insert_point(&p).await, Err(StoreError::Conflict("point_exists"))));
    assert_eq!(store.point(&p.id).await.unwrap().unwrap(), p);
    assert_eq!(store.list_points().await.unwrap(), vec![p]);
});
