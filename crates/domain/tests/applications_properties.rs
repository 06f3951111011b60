//! Property tests for the application state machine: random event sequences never break its
//! invariants.

use proptest::prelude::*;
use shenfen_domain::applications::{
    Actor, ApplicationEvent as E, ApplicationState as S, Channel, DeliveryMethod, ReturnReason,
    TransitionContext, transition,
};

/// Every event kind, with payloads drawn so that invalid ones (empty reasons, blank tracking
/// numbers, failed verifications) occur too.
fn event() -> impl Strategy<Value = E> {
    let reasons = prop::collection::vec(prop::sample::select(ReturnReason::ALL.to_vec()), 0..3);
    let text = prop::sample::select(vec!["", " ", "EA123456789CN", "资料造假"]);
    prop_oneof![
        Just(E::Submit),
        any::<i64>().prop_map(|reviewer| E::StartReview { reviewer }),
        reasons.prop_map(|reasons| E::Return { reasons }),
        Just(E::Resubmit),
        text.clone().prop_map(|r| E::Reject { reason: r.into() }),
        Just(E::Approve),
        Just(E::RequestPayment),
        Just(E::PaymentSucceeded),
        Just(E::PaymentWindowExpired),
        Just(E::StartProduction),
        Just(E::MarkProduced),
        Just(E::PassQualityCheck),
        Just(E::FailQualityCheck),
        text.prop_map(|t| E::Dispatch {
            tracking_no: t.into()
        }),
        any::<i64>().prop_map(|point| E::RouteToPickup { point }),
        Just(E::DeliveryFailedReturned),
        any::<bool>().prop_map(|face_verified| E::Delivered { face_verified }),
        any::<bool>().prop_map(|fingerprint_verified| E::Collected {
            fingerprint_verified
        }),
        Just(E::Close),
        prop_oneof![Just(Actor::Citizen), Just(Actor::Officer)].prop_map(|by| E::Cancel { by }),
    ]
}

fn context() -> impl Strategy<Value = TransitionContext> {
    (
        prop::sample::select(Channel::ALL.to_vec()),
        prop::sample::select(DeliveryMethod::ALL.to_vec()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(channel, delivery, fee_waived, has_appointment)| TransitionContext {
                channel,
                delivery,
                fee_waived,
                has_appointment,
            },
        )
}

/// Valid-payload events, used to walk deep into the machine.
fn canonical() -> Vec<E> {
    vec![
        E::Submit,
        E::StartReview { reviewer: 1 },
        E::Return {
            reasons: vec![ReturnReason::PhotoNonconforming],
        },
        E::Resubmit,
        E::Reject {
            reason: "资料造假".into(),
        },
        E::Approve,
        E::RequestPayment,
        E::PaymentSucceeded,
        E::PaymentWindowExpired,
        E::StartProduction,
        E::MarkProduced,
        E::PassQualityCheck,
        E::FailQualityCheck,
        E::Dispatch {
            tracking_no: "EA123456789CN".into(),
        },
        E::RouteToPickup { point: 2 },
        E::DeliveryFailedReturned,
        E::Delivered {
            face_verified: true,
        },
        E::Collected {
            fingerprint_verified: true,
        },
        E::Close,
        E::Cancel { by: Actor::Citizen },
        E::Cancel { by: Actor::Officer },
    ]
}

/// A step: `mode` 0–2 sends the random event; 3–8 one of the legal canonical events other than
/// a cancellation (progress); 9 any legal canonical event. Without the bias a random walk
/// rarely gets past review.
fn steps() -> impl Strategy<Value = Vec<(u8, usize, E)>> {
    prop::collection::vec((0u8..10, any::<usize>(), event()), 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, .. ProptestConfig::default() })]

    #[test]
    fn invariants_hold_over_random_sequences(ctx in context(), steps in steps()) {
        let mut state = S::Draft;
        let mut history = vec![state];
        let mut payment_succeeded = false;
        for (mode, pick, random) in steps {
            let legal: Vec<E> = canonical()
                .into_iter()
                .filter(|e| mode == 9 || !matches!(e, E::Cancel { .. }))
                .filter(|e| transition(state, e, &ctx).is_ok())
                .collect();
            let event = if mode < 3 || legal.is_empty() { random } else { legal[pick % legal.len()].clone() };
            let before = state;
            match transition(state, &event, &ctx) {
                Err(_) => continue,
                Ok(t) => {
                    // Terminal states never leave.
                    if before.is_terminal() {
                        prop_assert_eq!(t.to, before);
                    }
                    // A refund only for money actually taken: an earlier successful payment,
                    // or a late payment landing on a dead application.
                    if t.refund_due {
                        let late = event == E::PaymentSucceeded && before.is_terminal();
                        prop_assert!(payment_succeeded || late, "{before} + {event:?}");
                    }
                    if event == E::PaymentSucceeded && t.to == S::Paid {
                        payment_succeeded = true;
                    }
                    state = t.to;
                    history.push(state);
                }
            }
            let seen = |s: S| history.contains(&s);
            match state {
                S::Paid => prop_assert!(seen(S::Approved) && payment_succeeded),
                S::InProduction => prop_assert!(seen(S::Approved) && (ctx.fee_waived || seen(S::Paid))),
                S::Delivered => {
                    prop_assert!(seen(S::QualityChecked) && seen(S::Dispatched));
                    prop_assert_eq!(ctx.delivery, DeliveryMethod::Ems);
                }
                S::Collected => prop_assert!(seen(S::QualityChecked) && seen(S::ReadyForPickup)),
                S::Dispatched | S::ReadyForPickup => prop_assert!(seen(S::QualityChecked)),
                S::Closed => prop_assert!(seen(S::Delivered) || seen(S::Collected)),
                S::Rejected => prop_assert!(!payment_succeeded),
                _ => {}
            }
            if ctx.fee_waived {
                prop_assert!(!seen(S::AwaitingPayment) && !seen(S::Expired));
            }
        }
    }
}
