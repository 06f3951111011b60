use super::*;
use ApplicationState as S;

fn ctx() -> TransitionContext {
    TransitionContext::default()
}

/// One representative (valid-payload) event per column of [`MATRIX`].
fn columns() -> Vec<(&'static str, ApplicationEvent)> {
    use ApplicationEvent as E;
    vec![
        ("sub", E::Submit),
        ("srv", E::StartReview { reviewer: 7 }),
        (
            "ret",
            E::Return {
                reasons: vec![ReturnReason::DocumentsMissing],
            },
        ),
        ("res", E::Resubmit),
        (
            "rej",
            E::Reject {
                reason: "冒用他人身份".into(),
            },
        ),
        ("apr", E::Approve),
        ("req", E::RequestPayment),
        ("pay", E::PaymentSucceeded),
        ("exp", E::PaymentWindowExpired),
        ("spr", E::StartProduction),
        ("mpr", E::MarkProduced),
        ("pqc", E::PassQualityCheck),
        ("fqc", E::FailQualityCheck),
        (
            "dis",
            E::Dispatch {
                tracking_no: "EA123456789CN".into(),
            },
        ),
        ("rtp", E::RouteToPickup { point: 3 }),
        ("dfr", E::DeliveryFailedReturned),
        (
            "dlv",
            E::Delivered {
                face_verified: true,
            },
        ),
        (
            "col",
            E::Collected {
                fingerprint_verified: true,
            },
        ),
        ("cls", E::Close),
        ("cxc", E::Cancel { by: Actor::Citizen }),
        ("cxo", E::Cancel { by: Actor::Officer }),
    ]
}

fn abbrev(s: &str) -> Option<ApplicationState> {
    Some(match s {
        "DR" => S::Draft,
        "SU" => S::Submitted,
        "UR" => S::UnderReview,
        "RT" => S::Returned,
        "RJ" => S::Rejected,
        "AP" => S::Approved,
        "AW" => S::AwaitingPayment,
        "PD" => S::Paid,
        "IP" => S::InProduction,
        "PR" => S::Produced,
        "QC" => S::QualityChecked,
        "DS" => S::Dispatched,
        "RP" => S::ReadyForPickup,
        "DL" => S::Delivered,
        "CO" => S::Collected,
        "CL" => S::Closed,
        "CA" => S::Cancelled,
        "EX" => S::Expired,
        _ => return None,
    })
}

/// The whole state machine: row = current state, column = event (see [`columns`]), cell = new
/// state or `.` for refused. Context: online, EMS (pickup for `rtp`), fee not waived.
const MATRIX: &str = "
state             sub srv ret res rej apr req pay exp spr mpr pqc fqc dis rtp dfr dlv col cls cxc cxo
draft             SU  .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   CA  CA
submitted         .   UR  .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   CA  CA
under_review      .   .   RT  .   RJ  AP  .   .   .   .   .   .   .   .   .   .   .   .   .   CA  CA
returned          .   .   .   SU  .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   CA  CA
rejected          .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .
approved          .   .   .   .   .   .   AW  .   EX  .   .   .   .   .   .   .   .   .   .   CA  CA
awaiting_payment  .   .   .   .   .   .   .   PD  EX  .   .   .   .   .   .   .   .   .   .   CA  CA
paid              .   .   .   .   .   .   .   .   .   IP  .   .   .   .   .   .   .   .   .   CA  CA
in_production     .   .   .   .   .   .   .   .   .   .   PR  .   .   .   .   .   .   .   .   .   CA
produced          .   .   .   .   .   .   .   .   .   .   .   QC  IP  .   .   .   .   .   .   .   CA
quality_checked   .   .   .   .   .   .   .   .   .   .   .   .   .   DS  RP  .   .   .   .   .   CA
dispatched        .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   RP  DL  .   .   .   .
ready_for_pickup  .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   CO  .   .   .
delivered         .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   CL  .   .
collected         .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   CL  .   .
closed            .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .
cancelled         .   .   .   .   .   .   .   CA  .   .   .   .   .   .   .   .   .   .   .   .   .
expired           .   .   .   .   .   .   .   EX  .   .   .   .   .   .   .   .   .   .   .   .   .
";

#[test]
fn every_state_event_pair_matches_the_matrix() {
    let cols = columns();
    let mut lines = MATRIX.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().skip(1).collect();
    assert_eq!(header, cols.iter().map(|c| c.0).collect::<Vec<_>>());
    let mut rows = 0;
    for line in lines {
        let cells: Vec<&str> = line.split_whitespace().collect();
        let state = ApplicationState::from_code(cells[0]).unwrap();
        assert_eq!(
            state,
            ApplicationState::ALL[rows],
            "rows in declaration order"
        );
        assert_eq!(cells.len(), cols.len() + 1, "{line}");
        for ((name, event), cell) in cols.iter().zip(&cells[1..]) {
            let c = if *name == "rtp" {
                TransitionContext {
                    delivery: DeliveryMethod::Pickup,
                    ..ctx()
                }
            } else {
                ctx()
            };
            let got = transition(state, event, &c).map(|t| t.to).ok();
            let want = if *cell == "." {
                None
            } else {
                Some(abbrev(cell).expect(cell))
            };
            assert_eq!(got, want, "{state} + {name}");
        }
        rows += 1;
    }
    assert_eq!(rows, ApplicationState::ALL.len());
}

#[test]
fn terminal_states_only_absorb_late_payments() {
    for s in ApplicationState::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
    {
        for (_, e) in columns() {
            match transition(s, &e, &ctx()) {
                Ok(t) => {
                    assert_eq!(t.to, s);
                    assert!(t.refund_due && e == ApplicationEvent::PaymentSucceeded);
                }
                Err(err) => assert_eq!(err, TransitionError::Terminal { state: s }),
            }
        }
    }
}

#[test]
fn payload_checks() {
    use ApplicationEvent as E;
    let c = ctx();
    let err = |s, e: E, c: &TransitionContext| transition(s, &e, c).unwrap_err().code();
    assert_eq!(
        err(S::UnderReview, E::Return { reasons: vec![] }, &c),
        "return_reason_missing"
    );
    assert_eq!(
        err(
            S::UnderReview,
            E::Reject {
                reason: "  ".into()
            },
            &c
        ),
        "reject_reason_missing"
    );
    assert_eq!(
        err(
            S::QualityChecked,
            E::Dispatch {
                tracking_no: " ".into()
            },
            &c
        ),
        "tracking_number_missing"
    );
    assert_eq!(
        err(
            S::Dispatched,
            E::Delivered {
                face_verified: false
            },
            &c
        ),
        "face_not_verified"
    );
    assert_eq!(
        err(
            S::ReadyForPickup,
            E::Collected {
                fingerprint_verified: false
            },
            &c
        ),
        "fingerprint_not_verified"
    );
    assert_eq!(
        err(S::QualityChecked, E::RouteToPickup { point: 1 }, &c),
        "wrong_delivery_method"
    );
    let pickup = TransitionContext {
        delivery: DeliveryMethod::Pickup,
        ..c
    };
    assert_eq!(
        err(
            S::QualityChecked,
            E::Dispatch {
                tracking_no: "EA1".into()
            },
            &pickup
        ),
        "wrong_delivery_method"
    );
    assert_eq!(err(S::Approved, E::StartProduction, &c), "payment_required");
    assert_eq!(
        err(S::AwaitingPayment, E::StartProduction, &c),
        "payment_required"
    );
    assert_eq!(
        err(S::InProduction, E::Cancel { by: Actor::Citizen }, &c),
        "cancel_not_allowed"
    );
    assert_eq!(
        err(S::Dispatched, E::Cancel { by: Actor::Officer }, &c),
        "cancel_not_allowed"
    );
    assert_eq!(err(S::Draft, E::Approve, &c), "transition_not_allowed");
    assert_eq!(err(S::Closed, E::Close, &c), "application_terminal");
}

#[test]
fn fee_waiver_skips_payment() {
    let waived = TransitionContext {
        fee_waived: true,
        ..ctx()
    };
    let t = transition(S::Approved, &ApplicationEvent::StartProduction, &waived).unwrap();
    assert_eq!(t.to, S::InProduction);
    for e in [
        ApplicationEvent::RequestPayment,
        ApplicationEvent::PaymentWindowExpired,
    ] {
        assert_eq!(
            transition(S::Approved, &e, &waived).unwrap_err(),
            TransitionError::FeeWaived
        );
    }
}

#[test]
fn side_effects() {
    use ApplicationEvent as E;
    let c = TransitionContext {
        has_appointment: true,
        ..ctx()
    };
    // Refund exactly when a payment lies behind the cancelled state.
    for s in ApplicationState::ALL {
        if let Ok(t) = transition(s, &E::Cancel { by: Actor::Officer }, &c) {
            let paid = matches!(
                s,
                S::Paid | S::InProduction | S::Produced | S::QualityChecked
            );
            assert_eq!(t.refund_due, paid, "{s}");
            assert!(t.release_appointment && t.notify, "{s}");
            assert!(!t.counts_as_online_cancellation);
        }
    }
    let t = transition(S::Paid, &E::Cancel { by: Actor::Citizen }, &c).unwrap();
    assert!(t.refund_due && t.counts_as_online_cancellation && !t.notify);
    let t = transition(S::AwaitingPayment, &E::Cancel { by: Actor::Citizen }, &c).unwrap();
    assert!(!t.refund_due && t.counts_as_online_cancellation);
    // Deleting a draft does not count; nor do counter applications.
    let t = transition(S::Draft, &E::Cancel { by: Actor::Citizen }, &c).unwrap();
    assert!(!t.counts_as_online_cancellation);
    let counter = TransitionContext {
        channel: Channel::Counter,
        ..c
    };
    let t = transition(S::Submitted, &E::Cancel { by: Actor::Citizen }, &counter).unwrap();
    assert!(!t.counts_as_online_cancellation);
    // Expiry and rejection free the appointment; expiry is not a citizen cancellation.
    let t = transition(S::AwaitingPayment, &E::PaymentWindowExpired, &c).unwrap();
    assert!(t.release_appointment && t.notify && !t.refund_due && !t.counts_as_online_cancellation);
    let t = transition(S::UnderReview, &E::Reject { reason: "x".into() }, &c).unwrap();
    assert!(t.release_appointment && !t.refund_due);
    assert!(
        !transition(S::UnderReview, &E::Reject { reason: "x".into() }, &ctx())
            .unwrap()
            .release_appointment
    );
    // Late payment after expiry is refunded.
    let t = transition(S::Expired, &E::PaymentSucceeded, &c).unwrap();
    assert_eq!(t.to, S::Expired);
    assert!(t.refund_due);
    // Photo returns count as failed photo reviews.
    let photo = E::Return {
        reasons: vec![ReturnReason::Other, ReturnReason::PhotoNotMatching],
    };
    assert!(
        transition(S::UnderReview, &photo, &c)
            .unwrap()
            .failed_photo_review
    );
    let docs = E::Return {
        reasons: vec![ReturnReason::DocumentsMissing],
    };
    assert!(
        !transition(S::UnderReview, &docs, &c)
            .unwrap()
            .failed_photo_review
    );
    // Internal production steps are silent.
    assert!(!transition(S::Paid, &E::StartProduction, &c).unwrap().notify);
    assert!(
        transition(S::Approved, &E::RequestPayment, &c)
            .unwrap()
            .notify
    );
}

#[test]
fn codes_round_trip() {
    for k in ApplicationKind::ALL {
        assert_eq!(ApplicationKind::from_code(k.code()), Some(k));
        assert_eq!(
            serde_json::to_string(&k).unwrap(),
            format!("\"{}\"", k.code())
        );
        assert!(!k.name_zh().is_empty() && !k.name_en().is_empty());
    }
    for c in Channel::ALL {
        assert_eq!(Channel::from_code(c.code()), Some(c));
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            format!("\"{}\"", c.code())
        );
    }
    for p in PortraitSource::ALL {
        assert_eq!(PortraitSource::from_code(p.code()), Some(p));
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            format!("\"{}\"", p.code())
        );
    }
    for r in ReturnReason::ALL {
        assert_eq!(ReturnReason::from_code(r.code()), Some(r));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            format!("\"{}\"", r.code())
        );
        assert!(!r.text_zh().is_empty() && !r.text_en().is_empty());
    }
    for s in ApplicationState::ALL {
        assert_eq!(ApplicationState::from_code(s.code()), Some(s));
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{}\"", s.code())
        );
        assert!(!s.name_zh().is_empty() && !s.name_en().is_empty());
    }
    for st in Stage::ALL {
        assert_eq!(Stage::from_code(st.code()), Some(st));
    }
    for m in DeliveryMethod::ALL {
        assert_eq!(DeliveryMethod::from_code(m.code()), Some(m));
    }
    assert_eq!(ApplicationState::from_code("nope"), None);
    for (_, e) in columns() {
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event"], e.code());
        assert_eq!(serde_json::from_value::<ApplicationEvent>(json).unwrap(), e);
    }
    let d = Delivery::Ems {
        division: "340104".into(),
    };
    assert_eq!(
        serde_json::to_string(&d).unwrap(),
        r#"{"method":"ems","division":"340104"}"#
    );
    assert_eq!(d.method(), DeliveryMethod::Ems);
    let p = Delivery::Pickup { point_id: 12 };
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"method":"pickup","point_id":12}"#
    );
}

#[test]
fn fees_and_stages() {
    use crate::fees::FeeSchedule;
    let f = FeeSchedule::default();
    let fen = |k: ApplicationKind| f.amount_fen(k.fee_item());
    assert_eq!(fen(ApplicationKind::FirstIssue), 2000);
    assert_eq!(fen(ApplicationKind::RenewalExpiry), 2000);
    assert_eq!(fen(ApplicationKind::RenewalChange), 2000);
    assert_eq!(fen(ApplicationKind::ReplacementLost), 4000);
    assert_eq!(fen(ApplicationKind::ReplacementDamaged), 4000);
    assert_eq!(fen(ApplicationKind::TemporaryCard), 1000);
    assert_eq!(S::Draft.stage(), None);
    assert_eq!(S::Returned.stage(), Some(Stage::Review));
    assert_eq!(S::Approved.stage(), Some(Stage::Payment));
    assert_eq!(S::QualityChecked.stage(), Some(Stage::Production));
    assert_eq!(S::ReadyForPickup.stage(), Some(Stage::Logistics));
    for s in ApplicationState::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
    {
        assert_eq!(s.stage(), Some(Stage::Done));
    }
    assert!(S::ReadyForPickup.card_available() && !S::Dispatched.card_available());
}
