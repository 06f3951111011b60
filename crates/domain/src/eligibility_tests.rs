use super::*;
use time::macros::{date, datetime};

/// A citizen who passes every default rule on 2026-03-10: born 1990, Shushan district of
/// Hefei, card issued 2025-01-15, verified, renewal, EMS to Shushan, phone photo.
fn ok_facts() -> CitizenFacts {
    let id = IdNumber::from_first17("34010419900101001").unwrap();
    let mut f = CitizenFacts::new(
        &id,
        "340104",
        date!(2026 - 03 - 10),
        ApplicationKind::RenewalExpiry,
    );
    f.last_issued_on = Some(date!(2025 - 01 - 15));
    f.intermediate_verified = true;
    f.delivery_division = Some("340104".into());
    f.portrait = Some(PortraitSource::Phone);
    f
}

fn codes(f: &CitizenFacts) -> Vec<&'static str> {
    check_online(&OnlineRules::default(), f).codes()
}

#[test]
fn all_rules_pass() {
    let e = check_online(&OnlineRules::default(), &ok_facts());
    assert!(e.is_eligible(), "{:?}", e.codes());
}

#[test]
fn returns_every_refusal_at_once() {
    let id = IdNumber::from_first17("32010220100101001").unwrap();
    let mut f = CitizenFacts::new(
        &id,
        "320102",
        date!(2026 - 03 - 10),
        ApplicationKind::FirstIssue,
    );
    f.online_cancellations_today = 3;
    f.online_cancellations_this_month = 10;
    f.portrait = Some(PortraitSource::Kiosk);
    f.delivery_division = Some("320102".into());
    assert_eq!(
        codes(&f),
        [
            "residence_outside_province",
            "first_issue_not_online",
            "under_age",
            "no_recent_issuance",
            "verification_required",
            "cancellations_today",
            "cancellations_month",
            "portrait_source_not_online",
            "delivery_area",
        ]
    );
    let e = check_online(&OnlineRules::default(), &f);
    for r in &e.refusals {
        assert!(
            !r.message_zh.is_empty() && !r.message_en.is_empty(),
            "{}",
            r.code
        );
    }
    assert_eq!(e.refusals[1].instead, Alternative::RegisteredPoliceStation);
    assert_eq!(e.refusals[4].instead, Alternative::CompleteVerification);
    assert_eq!(e.refusals[5].until, Some(date!(2026 - 03 - 11)));
    assert_eq!(e.refusals[6].until, Some(date!(2026 - 04 - 01)));
    let json = serde_json::to_value(&e.refusals[5]).unwrap();
    assert_eq!(json["until"], "2026-03-11");
    assert_eq!(json["instead"], "try_later");
    assert_eq!(
        serde_json::to_value(&e.refusals[0]).unwrap()["until"],
        serde_json::Value::Null
    );
}

#[test]
fn residence() {
    let mut f = ok_facts();
    f.registered_division = "320102".into();
    assert_eq!(codes(&f), ["residence_outside_province"]);
    f.registered_division = "34".into();
    assert_eq!(codes(&f), ["residence_outside_province"]);
    // The ID number's address code does not matter: someone first registered in Nanjing who
    // moved to Hefei qualifies.
    let id = IdNumber::from_first17("32010219900101001").unwrap();
    let mut f2 = ok_facts();
    f2.birth_date = id.birth_date();
    f2.registered_division = " 341102 ".into();
    assert!(check_online(&OnlineRules::default(), &f2).is_eligible());
}

#[test]
fn kinds() {
    let mut f = ok_facts();
    for k in ApplicationKind::ALL {
        f.kind = k;
        let want: &[&str] = match k {
            ApplicationKind::FirstIssue => &["first_issue_not_online"],
            ApplicationKind::TemporaryCard => &["kind_not_online"],
            _ => &[],
        };
        assert_eq!(codes(&f), want, "{k}");
    }
    let rules = OnlineRules {
        online_kinds: ApplicationKind::ALL.to_vec(),
        ..Default::default()
    };
    f.kind = ApplicationKind::FirstIssue;
    assert!(check_online(&rules, &f).is_eligible());
}

#[test]
fn age_exactly_18_today() {
    let mut f = ok_facts();
    f.birth_date = date!(2008 - 03 - 10);
    assert!(codes(&f).is_empty());
    f.birth_date = date!(2008 - 03 - 11);
    assert_eq!(codes(&f), ["under_age"]);
    // Born on 02-29: 18 on 03-01 of a common year.
    f.birth_date = date!(2008 - 02 - 29);
    f.today = date!(2026 - 02 - 28);
    f.last_issued_on = Some(date!(2025 - 01 - 15));
    assert_eq!(codes(&f), ["under_age"]);
    f.today = date!(2026 - 03 - 01);
    assert!(codes(&f).is_empty());
}

#[test]
fn issued_exactly_two_years_ago() {
    let mut f = ok_facts();
    f.last_issued_on = Some(date!(2024 - 03 - 10));
    assert!(codes(&f).is_empty());
    f.last_issued_on = Some(date!(2024 - 03 - 09));
    assert_eq!(codes(&f), ["no_recent_issuance"]);
    f.last_issued_on = None;
    assert_eq!(codes(&f), ["no_recent_issuance"]);
    // Leap day today: the cutoff falls back to 02-28.
    f.today = date!(2028 - 02 - 29);
    f.last_issued_on = Some(date!(2026 - 02 - 28));
    assert!(codes(&f).is_empty());
    f.last_issued_on = Some(date!(2026 - 02 - 27));
    assert_eq!(codes(&f), ["no_recent_issuance"]);
    // A future issue date (bad data) does not block.
    f.last_issued_on = Some(date!(2030 - 01 - 01));
    assert!(codes(&f).is_empty());
    // Window 0 switches the rule off.
    let rules = OnlineRules {
        reuse_window_years: 0,
        ..Default::default()
    };
    f.last_issued_on = None;
    f.portrait = None;
    assert!(check_online(&rules, &f).is_eligible());
}

#[test]
fn verification() {
    let mut f = ok_facts();
    f.intermediate_verified = false;
    assert_eq!(codes(&f), ["verification_required"]);
    let rules = OnlineRules {
        require_intermediate_verification: false,
        ..Default::default()
    };
    assert!(check_online(&rules, &f).is_eligible());
}

#[test]
fn third_vs_fourth_cancellation() {
    let mut f = ok_facts();
    // Two cancellations so far: applying again is allowed (and a 3rd cancellation possible).
    f.online_cancellations_today = 2;
    assert!(codes(&f).is_empty());
    // After the 3rd: blocked for the rest of the day, so a 4th cannot happen.
    f.online_cancellations_today = 3;
    let e = check_online(&OnlineRules::default(), &f);
    assert_eq!(e.codes(), ["cancellations_today"]);
    assert_eq!(e.refusals[0].until, Some(date!(2026 - 03 - 11)));
    f.online_cancellations_today = 0;
    f.online_cancellations_this_month = 9;
    assert!(codes(&f).is_empty());
    f.online_cancellations_this_month = 10;
    f.today = date!(2026 - 12 - 31);
    f.last_issued_on = Some(date!(2026 - 01 - 01));
    let e = check_online(&OnlineRules::default(), &f);
    assert_eq!(e.codes(), ["cancellations_month"]);
    assert_eq!(e.refusals[0].until, Some(date!(2027 - 01 - 01)));
    let off = OnlineRules {
        max_cancellations_per_day: 0,
        max_cancellations_per_month: 0,
        ..Default::default()
    };
    f.online_cancellations_today = 99;
    assert!(check_online(&off, &f).is_eligible());
}

#[test]
fn portrait_rules() {
    let rules = OnlineRules::default();
    let mut f = ok_facts();
    for s in PortraitSource::ALL {
        assert_eq!(
            portrait_online_allowed(&rules, &f, s),
            s.usable_online(),
            "{s}"
        );
    }
    f.failed_photo_reviews = 2;
    assert!(portrait_online_allowed(&rules, &f, PortraitSource::Phone));
    f.failed_photo_reviews = 3;
    for s in [
        PortraitSource::Phone,
        PortraitSource::PreparedUpload,
        PortraitSource::StudioReceipt,
    ] {
        assert!(!portrait_online_allowed(&rules, &f, s), "{s}");
    }
    assert!(portrait_online_allowed(
        &rules,
        &f,
        PortraitSource::ReuseOnFile
    ));
    assert_eq!(codes(&f), ["portrait_online_blocked"]);
    assert_eq!(
        check_online(&rules, &f).refusals[0].instead,
        Alternative::CounterPortrait
    );
    f.portrait = Some(PortraitSource::ReuseOnFile);
    assert!(codes(&f).is_empty());
    // Reusing the photo on file needs a recent issuance.
    f.last_issued_on = Some(date!(2020 - 01 - 01));
    assert_eq!(codes(&f), ["no_recent_issuance", "portrait_reuse_too_old"]);
    f.portrait = None;
    assert_eq!(codes(&f), ["no_recent_issuance"]);
}

#[test]
fn delivery_areas() {
    let rules = OnlineRules::default();
    // 104 GB/T 2260 county-level codes + 15 NBS development zones.
    assert_eq!(rules.delivery_areas.len(), 119);
    for ok in [
        "340104",
        "340121",
        "340181",
        "340176",
        "341881",
        "340104001",
        "340121100",
        "340121100201",
    ] {
        assert!(delivery_allowed(&rules, ok), "{ok}");
    }
    for bad in [
        "340100",
        "340000",
        "320102",
        "349901",
        "34010",
        "34010a",
        "",
        "340121200",
        "340121599",
        "3401041",
    ] {
        assert!(!delivery_allowed(&rules, bad), "{bad}");
    }
    let lax = OnlineRules {
        refuse_township_addresses: false,
        ..Default::default()
    };
    assert!(delivery_allowed(&lax, "340121200"));
    let mut f = ok_facts();
    f.delivery_division = Some("320102".into());
    assert_eq!(codes(&f), ["delivery_area"]);
    assert_eq!(
        check_online(&rules, &f).refusals[0].instead,
        Alternative::ChoosePickup
    );
}

#[test]
fn payment_window() {
    let rules = OnlineRules::default();
    let approved = datetime!(2026-09-30 16:20);
    assert_eq!(
        payment_deadline(&rules, approved),
        datetime!(2026-10-02 16:20)
    );
    assert!(!payment_overdue(
        &rules,
        approved,
        datetime!(2026-10-02 16:20)
    ));
    assert!(payment_overdue(
        &rules,
        approved,
        datetime!(2026-10-02 16:21)
    ));
    let far = PrimitiveDateTime::new(Date::MAX, Time::MIDNIGHT);
    assert_eq!(payment_deadline(&rules, far).date(), Date::MAX);
}

#[test]
fn rules_deserialise_with_defaults() {
    let r: OnlineRules =
        serde_json::from_str(r#"{"min_age": 16, "delivery_areas": ["3401"]}"#).unwrap();
    assert_eq!(r.min_age, 16);
    assert_eq!(r.delivery_areas, ["3401"]);
    assert_eq!(r.max_cancellations_per_day, 3);
    assert_eq!(r.province_prefix, "34");
    assert!(delivery_allowed(&r, "340124") && !delivery_allowed(&r, "340202"));
    let d: OnlineRules = serde_json::from_str("{}").unwrap();
    assert_eq!(d, OnlineRules::default());
    let back: OnlineRules = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
    assert_eq!(back, d);
    for a in Alternative::ALL {
        assert_eq!(Alternative::from_code(a.code()), Some(a));
        assert!(!a.text_zh().is_empty() && !a.text_en().is_empty());
    }
}
