use super::*;
use time::macros::{date, datetime, time};

fn cal() -> &'static WorkCalendar {
    WorkCalendar::official()
}

fn standard() -> OpeningHours {
    OpeningHours::standard()
}

fn with_saturday() -> OpeningHours {
    OpeningHours::parse("mon-fri 09:00-12:00,13:30-17:00; sat 09:00-12:00").unwrap()
}

fn plan() -> SlotPlan {
    SlotPlan::new(30, 6).unwrap()
}

fn starts(v: &[SlotSpec]) -> Vec<String> {
    v.iter().map(|s| timefmt::format_hm(s.start)).collect()
}

const STANDARD_STARTS: [&str; 13] = [
    "09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "13:30", "14:00", "14:30", "15:00",
    "15:30", "16:00", "16:30",
];

// --- services -------------------------------------------------------------------------------

#[test]
fn services() {
    for s in Service::ALL {
        assert_eq!(Service::parse(s.code()), Ok(s));
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{}\"", s.code())
        );
        assert!(!s.name_zh().is_empty() && !s.name_en().is_empty());
    }
    assert_eq!(Service::parse(" Photo_Capture "), Ok(Service::PhotoCapture));
    assert_eq!(
        Service::parse("passport").unwrap_err().code(),
        "unknown_service"
    );
    let all = "first_issue,renewal,replacement,photo_capture,pickup";
    assert_eq!(Service::parse_list(all).unwrap(), Service::ALL.to_vec());
    assert_eq!(Service::format_list(&Service::ALL), all);
    assert_eq!(
        Service::parse_list("pickup, renewal,pickup").unwrap(),
        vec![Service::Renewal, Service::Pickup]
    );
    assert_eq!(
        Service::parse_list(" , ").unwrap_err().code(),
        "no_services"
    );
}

// --- opening hours text form -----------------------------------------------------------------

#[test]
fn parse_and_format_hours() {
    let h = with_saturday();
    assert_eq!(h.day(Weekday::Monday).format(), "09:00-12:00,13:30-17:00");
    assert_eq!(h.day(Weekday::Friday).intervals().len(), 2);
    assert_eq!(h.day(Weekday::Saturday).format(), "09:00-12:00");
    assert!(h.day(Weekday::Sunday).is_closed());
    assert_eq!(
        h.format(),
        "mon-fri 09:00-12:00,13:30-17:00; sat 09:00-12:00"
    );
    assert_eq!(h.to_string().parse::<OpeningHours>().unwrap(), h);
    assert_eq!(standard().format(), "mon-fri 09:00-12:00,13:30-17:00"); // the store's default

    // Case, spaces, lists, single days, trailing ';', "closed" rules.
    let h2 = OpeningHours::parse(
        "  MON , Wed-Fri 09:00 - 12:00 , 13:30-17:00 ;tue 09:00-12:00; sun closed; ",
    )
    .unwrap();
    assert_eq!(
        h2.format(),
        "mon,wed-fri 09:00-12:00,13:30-17:00; tue 09:00-12:00"
    );
    assert_eq!(OpeningHours::parse(&h2.format()).unwrap(), h2);

    // Grouping picks up non-adjacent days and ranges of two.
    let h3 = OpeningHours::parse("sat-sun 08:00-12:00; mon 08:00-12:00").unwrap();
    assert_eq!(h3.format(), "mon,sat-sun 08:00-12:00");

    assert!(OpeningHours::parse("closed").unwrap().is_always_closed());
    assert_eq!(OpeningHours::parse("closed").unwrap().format(), "closed");
    assert_eq!(OpeningHours::default().format(), "closed");
    assert_eq!(
        OpeningHours::parse("mon-sun 06:00-22:00")
            .unwrap()
            .day(Weekday::Sunday)
            .open_minutes(),
        960
    );
    // Touching intervals are allowed.
    assert!(OpeningHours::parse("mon 09:00-12:00,12:00-13:00").is_ok());
}

#[test]
fn hours_errors_have_codes() {
    let cases = [
        ("", "hours_empty"),
        ("   ", "hours_empty"),
        ("09:00-12:00", "hours_syntax"),
        ("mon", "hours_syntax"),
        ("mon09:00-12:00", "hours_syntax"),
        ("mon 09:00-12:00;; tue 09:00-12:00", "hours_syntax"),
        ("mon 0900-1200", "hours_time"),
        ("mon ,09:00-12:00", "hours_syntax"),
        (", mon 09:00-12:00", "hours_syntax"),
        ("monday 09:00-12:00", "hours_weekday"),
        ("mon-xyz 09:00-12:00", "hours_weekday"),
        ("fri-mon 09:00-12:00", "hours_weekday_range"),
        (
            "mon-fri 09:00-12:00; wed 13:00-14:00",
            "hours_duplicate_day",
        ),
        ("mon-fri,wed 09:00-12:00", "hours_duplicate_day"),
        ("mon 9:00-12:00", "hours_time"),
        ("mon 09:00-24:00", "hours_time"),
        ("mon 09:60-12:00", "hours_time"),
        ("mon 12:00-09:00", "hours_interval_empty"),
        ("mon 09:00-09:00", "hours_interval_empty"),
        ("mon 05:30-12:00", "hours_out_of_range"),
        ("mon 09:00-22:30", "hours_out_of_range"),
        ("mon 09:00-12:00,11:00-13:00", "hours_overlap"),
        ("mon 13:30-17:00,09:00-12:00", "hours_overlap"),
    ];
    for (input, code) in cases {
        let e = OpeningHours::parse(input).expect_err(input);
        assert_eq!(e.code(), code, "{input:?}: {e}");
        assert!(!e.message_zh().is_empty() && !e.message_en().is_empty());
    }
    // The message names the offending fragment.
    let e = OpeningHours::parse("mon-fri 09:00-12:00,13:30-12:00").unwrap_err();
    assert_eq!(e.to_string(), "interval 13:30-12:00 ends before it starts");
    assert!(e.message_zh().contains("13:30-12:00"));
    let e = OpeningHours::parse("mon-fri 09:00-12:00; thu 13:00-14:00").unwrap_err();
    assert_eq!(
        e.message_en(),
        "Thursday appears more than once in the opening hours."
    );
    assert_eq!(e.message_zh(), "周四在办公时间中出现了多次。");
}

#[test]
fn day_hours_and_intervals() {
    assert_eq!(DayHours::parse("closed").unwrap(), DayHours::closed());
    assert_eq!(
        DayHours::parse(" 09:00-12:00 ,13:30-17:00")
            .unwrap()
            .format(),
        "09:00-12:00,13:30-17:00"
    );
    assert_eq!(DayHours::parse("").unwrap_err().code(), "hours_empty");
    assert_eq!(
        Interval::new(time!(06:00), time!(22:00)).unwrap().minutes(),
        960
    );
    assert_eq!(
        Interval::new(time!(09:00:30), time!(10:00))
            .unwrap_err()
            .code(),
        "hours_time"
    );
    let d = DayHours::parse("09:00-12:00,13:30-17:00").unwrap();
    assert!(d.is_open_at(time!(09:00)) && d.is_open_at(time!(11:59)));
    assert!(
        !d.is_open_at(time!(12:00)) && !d.is_open_at(time!(17:00)) && d.is_open_at(time!(13:30))
    );
    assert_eq!(d.open_minutes(), 390);
    let mut h = standard();
    h.set_day(Weekday::Sunday, d.clone());
    assert_eq!(h.format(), "mon-fri,sun 09:00-12:00,13:30-17:00");
    assert_eq!(h.days().filter(|(_, h)| !h.is_closed()).count(), 6);
}

#[test]
fn slot_plan_validation() {
    assert!(SlotPlan::new(10, 1).is_ok() && SlotPlan::new(120, 500).is_ok());
    assert_eq!(SlotPlan::new(9, 5).unwrap_err().code(), "slot_minutes");
    assert_eq!(SlotPlan::new(121, 5).unwrap_err().code(), "slot_minutes");
    assert_eq!(SlotPlan::new(30, 0).unwrap_err().code(), "slot_capacity");
    assert_eq!(SlotPlan::new(30, 501).unwrap_err().code(), "slot_capacity");
    let p: SlotPlan = serde_json::from_str(r#"{"slot_minutes":30,"capacity_per_slot":6}"#).unwrap();
    assert_eq!((p.slot_minutes(), p.capacity_per_slot()), (30, 6));
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"slot_minutes":30,"capacity_per_slot":6}"#
    );
    assert!(
        serde_json::from_str::<SlotPlan>(r#"{"slot_minutes":5,"capacity_per_slot":6}"#).is_err()
    );
}

// --- slots over the real calendar --------------------------------------------------------------

#[test]
fn ordinary_working_day() {
    let v = slots_for_day(&standard(), &plan(), date!(2025 - 09 - 24), cal(), &[]);
    assert_eq!(starts(&v), STANDARD_STARTS);
    assert!(
        v.iter()
            .all(|s| s.capacity == 6 && s.date == date!(2025 - 09 - 24))
    );
    assert_eq!(timefmt::format_hm(v[5].end), "12:00");
    assert_eq!(v[6].start_minute(), 13 * 60 + 30);
    assert_eq!(v[12].end_minute(), 17 * 60);
    assert_eq!(v[0].starts_at(), datetime!(2025-09-24 09:00));
    assert_eq!(v[0].ends_at(), datetime!(2025-09-24 09:30));
}

#[test]
fn national_day_2025_closed_and_make_up_days_open() {
    // 2025-10-01..08 国庆节、中秋节: closed, also for a point with Saturday hours.
    let mut d = date!(2025 - 10 - 01);
    while d <= date!(2025 - 10 - 08) {
        for h in [standard(), with_saturday()] {
            assert!(slots_for_day(&h, &plan(), d, cal(), &[]).is_empty(), "{d}");
            assert_eq!(
                day_schedule(&h, d, cal(), &[]),
                DaySchedule::Closed(ClosedReason::Holiday {
                    name: "国庆节、中秋节".into()
                })
            );
        }
        d = d.next_day().unwrap();
    }
    // Sunday 2025-09-28 is a make-up working day: open with Monday's hours.
    let s = day_schedule(&standard(), date!(2025 - 09 - 28), cal(), &[]);
    assert!(matches!(
        s,
        DaySchedule::Open {
            basis: HoursBasis::MakeUpDay {
                hours_of: Weekday::Monday
            },
            ..
        }
    ));
    assert_eq!(
        starts(&slots_for_day(
            &standard(),
            &plan(),
            date!(2025 - 09 - 28),
            cal(),
            &[]
        )),
        STANDARD_STARTS
    );
    // Saturday 2025-10-11 make-up day: a point with Saturday hours keeps them...
    let v = slots_for_day(&with_saturday(), &plan(), date!(2025 - 10 - 11), cal(), &[]);
    assert_eq!(
        starts(&v),
        ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    );
    // ...a point without falls back to Monday's.
    assert_eq!(
        starts(&slots_for_day(
            &standard(),
            &plan(),
            date!(2025 - 10 - 11),
            cal(),
            &[]
        )),
        STANDARD_STARTS
    );
    // Neighbours: 10-09 (Thu) open, ordinary Saturday 09-27 closed unless the point opens Saturdays.
    assert_eq!(
        slots_for_day(&standard(), &plan(), date!(2025 - 10 - 09), cal(), &[]).len(),
        13
    );
    assert_eq!(
        day_schedule(&standard(), date!(2025 - 09 - 27), cal(), &[]),
        DaySchedule::Closed(ClosedReason::Weekend)
    );
    assert_eq!(
        slots_for_day(&with_saturday(), &plan(), date!(2025 - 09 - 27), cal(), &[]).len(),
        6
    );
    // Ordinary Sunday stays closed for both.
    assert!(slots_for_day(&with_saturday(), &plan(), date!(2025 - 10 - 12), cal(), &[]).is_empty());
}

#[test]
fn spring_festival_2026() {
    // 2026-02-14 (Sat) and 02-28 (Sat) are make-up days; 02-15..23 are 春节.
    assert_eq!(
        slots_for_day(&standard(), &plan(), date!(2026 - 02 - 13), cal(), &[]).len(),
        13
    );
    assert_eq!(
        slots_for_day(&standard(), &plan(), date!(2026 - 02 - 14), cal(), &[]).len(),
        13
    );
    let mut d = date!(2026 - 02 - 15);
    while d <= date!(2026 - 02 - 23) {
        assert!(
            slots_for_day(&with_saturday(), &plan(), d, cal(), &[]).is_empty(),
            "{d}"
        );
        d = d.next_day().unwrap();
    }
    assert_eq!(
        day_schedule(&standard(), date!(2026 - 02 - 17), cal(), &[]),
        DaySchedule::Closed(ClosedReason::Holiday {
            name: "春节".into()
        })
    );
    assert_eq!(
        slots_for_day(&standard(), &plan(), date!(2026 - 02 - 24), cal(), &[]).len(),
        13
    );
    assert_eq!(
        slots_for_day(&standard(), &plan(), date!(2026 - 02 - 28), cal(), &[]).len(),
        13
    );
    assert_eq!(
        slots_for_day(&with_saturday(), &plan(), date!(2026 - 02 - 28), cal(), &[]).len(),
        6
    );
    // 元旦 2026: 01-01..03 closed, Sunday 01-04 open.
    assert!(slots_for_day(&standard(), &plan(), date!(2026 - 01 - 02), cal(), &[]).is_empty());
    assert_eq!(
        slots_for_day(&standard(), &plan(), date!(2026 - 01 - 04), cal(), &[]).len(),
        13
    );
}

#[test]
fn make_up_day_fallback_order() {
    // No Monday hours: the first of Tue..Fri with hours.
    let h = OpeningHours::parse("tue 10:00-11:00; thu 09:00-12:00").unwrap();
    let s = day_schedule(&h, date!(2025 - 09 - 28), cal(), &[]);
    assert!(matches!(
        s,
        DaySchedule::Open {
            basis: HoursBasis::MakeUpDay {
                hours_of: Weekday::Tuesday
            },
            ..
        }
    ));
    let h = OpeningHours::parse("sat 09:00-12:00").unwrap();
    assert_eq!(
        day_schedule(&h, date!(2025 - 09 - 28), cal(), &[]),
        DaySchedule::Closed(ClosedReason::NoHours)
    );
    // Working day without hours for that weekday.
    assert_eq!(
        day_schedule(&h, date!(2025 - 09 - 24), cal(), &[]),
        DaySchedule::Closed(ClosedReason::NoHours)
    );
}

#[test]
fn remainder_shorter_than_a_slot_is_dropped() {
    let p = SlotPlan::new(40, 3).unwrap();
    let v = slots_for_day(&standard(), &p, date!(2025 - 09 - 24), cal(), &[]);
    assert_eq!(
        starts(&v),
        [
            "09:00", "09:40", "10:20", "11:00", "13:30", "14:10", "14:50", "15:30", "16:10"
        ]
    );
    assert_eq!(timefmt::format_hm(v[3].end), "11:40");
    assert_eq!(timefmt::format_hm(v[8].end), "16:50");
}

#[test]
fn exceptions() {
    let day = date!(2025 - 09 - 24);
    let other = date!(2025 - 09 - 25);
    let closed = DayException {
        date: day,
        kind: ExceptionKind::closed("系统升级").unwrap(),
    };
    let extra = DayException {
        date: day,
        kind: ExceptionKind::extra_capacity(4).unwrap(),
    };
    let extra2 = DayException {
        date: day,
        kind: ExceptionKind::extra_capacity(2).unwrap(),
    };
    let morning = DayException {
        date: day,
        kind: ExceptionKind::Hours(DayHours::parse("08:00-10:00").unwrap()),
    };

    assert!(
        slots_for_day(
            &standard(),
            &plan(),
            day,
            cal(),
            std::slice::from_ref(&closed)
        )
        .is_empty()
    );
    assert_eq!(
        day_schedule(&standard(), day, cal(), &[extra.clone(), closed.clone()]),
        DaySchedule::Closed(ClosedReason::Exception {
            note: "系统升级".into()
        })
    );
    // Exceptions for other dates are ignored.
    assert_eq!(
        slots_for_day(
            &standard(),
            &plan(),
            other,
            cal(),
            &[closed.clone(), extra.clone()]
        )
        .len(),
        13
    );
    assert!(
        slots_for_day(
            &standard(),
            &plan(),
            other,
            cal(),
            std::slice::from_ref(&closed)
        )
        .iter()
        .all(|s| s.capacity == 6)
    );

    let v = slots_for_day(&standard(), &plan(), day, cal(), &[extra.clone(), extra2]);
    assert!(v.len() == 13 && v.iter().all(|s| s.capacity == 12));

    let v = slots_for_day(
        &standard(),
        &plan(),
        day,
        cal(),
        &[morning.clone(), extra.clone()],
    );
    assert_eq!(starts(&v), ["08:00", "08:30", "09:00", "09:30"]);
    assert!(v.iter().all(|s| s.capacity == 10));

    // An hours exception opens a holiday (deliberate special opening).
    let nd = date!(2025 - 10 - 03);
    let special = DayException {
        date: nd,
        kind: ExceptionKind::Hours(DayHours::parse("09:00-11:00").unwrap()),
    };
    let s = day_schedule(&standard(), nd, cal(), std::slice::from_ref(&special));
    assert!(matches!(
        s,
        DaySchedule::Open {
            basis: HoursBasis::Exception,
            ..
        }
    ));
    assert_eq!(
        slots_for_day(&standard(), &plan(), nd, cal(), &[special]).len(),
        4
    );
    // Extra capacity alone does not open a holiday.
    let ex = DayException {
        date: nd,
        kind: ExceptionKind::extra_capacity(5).unwrap(),
    };
    assert!(slots_for_day(&standard(), &plan(), nd, cal(), &[ex]).is_empty());
    // An hours exception of "closed" closes the day.
    let shut = DayException {
        date: day,
        kind: ExceptionKind::Hours(DayHours::closed()),
    };
    assert!(slots_for_day(&standard(), &plan(), day, cal(), &[shut]).is_empty());
}

#[test]
fn exception_parts_and_serde() {
    for k in [
        ExceptionKind::closed("培训").unwrap(),
        ExceptionKind::extra_capacity(3).unwrap(),
        ExceptionKind::Hours(DayHours::parse("09:00-12:00,13:30-15:00").unwrap()),
    ] {
        assert_eq!(
            ExceptionKind::from_parts(k.code(), &k.value_text()),
            Ok(k.clone())
        );
        assert_eq!(k.validate(), Ok(()));
    }
    assert_eq!(
        ExceptionKind::from_parts("extra_capacity", "0")
            .unwrap_err()
            .code(),
        "extra_capacity"
    );
    assert_eq!(
        ExceptionKind::from_parts("extra_capacity", "x")
            .unwrap_err()
            .code(),
        "extra_capacity"
    );
    assert_eq!(
        ExceptionKind::from_parts("extra_capacity", "501")
            .unwrap_err()
            .code(),
        "extra_capacity"
    );
    assert_eq!(
        ExceptionKind::from_parts("hours", "25:00-26:00")
            .unwrap_err()
            .code(),
        "hours_time"
    );
    assert_eq!(
        ExceptionKind::from_parts("holiday", "").unwrap_err().code(),
        "exception_kind"
    );
    assert_eq!(
        ExceptionKind::closed(&"长".repeat(201)).unwrap_err().code(),
        "exception_reason_length"
    );

    let e = DayException {
        date: date!(2025 - 10 - 09),
        kind: ExceptionKind::closed("停电").unwrap(),
    };
    let j = serde_json::to_string(&e).unwrap();
    assert_eq!(
        j,
        r#"{"date":"2025-10-09","kind":"closed","value":{"reason":"停电"}}"#
    );
    assert_eq!(serde_json::from_str::<DayException>(&j).unwrap(), e);
    let h = DayException {
        date: date!(2025 - 10 - 09),
        kind: ExceptionKind::Hours(DayHours::parse("09:00-12:00").unwrap()),
    };
    let j = serde_json::to_string(&h).unwrap();
    assert_eq!(
        j,
        r#"{"date":"2025-10-09","kind":"hours","value":"09:00-12:00"}"#
    );
    assert_eq!(serde_json::from_str::<DayException>(&j).unwrap(), h);
    let x = r#"{"date":"2025-10-09","kind":"extra_capacity","value":{"per_slot":2}}"#;
    assert_eq!(
        serde_json::from_str::<DayException>(x).unwrap().kind,
        ExceptionKind::ExtraCapacity { per_slot: 2 }
    );
    assert!(
        serde_json::from_str::<DayException>(
            r#"{"date":"2025-10-09","kind":"hours","value":"12:00-09:00"}"#
        )
        .is_err()
    );
}

#[test]
fn serde_forms() {
    let h = with_saturday();
    let j = serde_json::to_string(&h).unwrap();
    assert_eq!(j, r#""mon-fri 09:00-12:00,13:30-17:00; sat 09:00-12:00""#);
    assert_eq!(serde_json::from_str::<OpeningHours>(&j).unwrap(), h);
    assert!(serde_json::from_str::<OpeningHours>(r#""mon 12:00-09:00""#).is_err());
    let s = SlotSpec {
        date: date!(2025 - 09 - 28),
        start: time!(09:00),
        end: time!(09:30),
        capacity: 6,
    };
    let j = serde_json::to_string(&s).unwrap();
    assert_eq!(
        j,
        r#"{"date":"2025-09-28","start":"09:00","end":"09:30","capacity":6}"#
    );
    assert_eq!(serde_json::from_str::<SlotSpec>(&j).unwrap(), s);
    let iv = Interval::new(time!(09:00), time!(12:00)).unwrap();
    assert_eq!(
        serde_json::to_string(&iv).unwrap(),
        r#"{"start":"09:00","end":"12:00"}"#
    );
    let ds = day_schedule(&standard(), date!(2025 - 10 - 01), cal(), &[]);
    assert_eq!(
        serde_json::to_string(&ds).unwrap(),
        r#"{"state":"closed","reason":"holiday","name":"国庆节、中秋节"}"#
    );
    let ds = day_schedule(&standard(), date!(2025 - 09 - 28), cal(), &[]);
    assert_eq!(
        serde_json::to_string(&ds).unwrap(),
        r#"{"state":"open","hours":"09:00-12:00,13:30-17:00","extra_per_slot":0,"basis":{"make_up_day":{"hours_of":"mon"}}}"#
    );
}

#[test]
fn closed_reasons_have_messages() {
    for r in [
        ClosedReason::Holiday {
            name: "春节".into(),
        },
        ClosedReason::Weekend,
        ClosedReason::NoHours,
        ClosedReason::Exception {
            note: String::new(),
        },
        ClosedReason::Exception {
            note: "停电".into(),
        },
    ] {
        assert!(!r.code().is_empty() && !r.message_zh().is_empty() && !r.message_en().is_empty());
    }
    assert_eq!(
        ClosedReason::Holiday {
            name: "春节".into()
        }
        .message_zh(),
        "春节假期，暂停办理。"
    );
}

// --- horizon --------------------------------------------------------------------------------

#[test]
fn slot_days_horizon() {
    assert!(slot_days(date!(2025 - 09 - 26), 0, cal()).is_empty());
    assert_eq!(
        slot_days(date!(2025 - 09 - 26), 3, cal()),
        [
            date!(2025 - 09 - 26),
            date!(2025 - 09 - 27),
            date!(2025 - 09 - 28),
            date!(2025 - 09 - 29)
        ]
    );
    // Over National Day: 09-30, the closed 10-01..08, then 10-09 as second working day.
    let v = slot_days(date!(2025 - 09 - 30), 2, cal());
    assert_eq!(v.len(), 10);
    assert_eq!((v[0], v[9]), (date!(2025 - 09 - 30), date!(2025 - 10 - 09)));
    // Starting on a holiday: it does not count.
    let v = slot_days(date!(2025 - 10 - 01), 1, cal());
    assert_eq!(
        (v[0], *v.last().unwrap(), v.len()),
        (date!(2025 - 10 - 01), date!(2025 - 10 - 09), 9)
    );
    // 14 working days from 2026-02-12 (Thu): 12, 13, 14 (Sat make-up), 24..27, 28 (Sat make-up),
    // 03-02..06, 03-09 -> ends 2026-03-09.
    let v = slot_days(date!(2026 - 02 - 12), 14, cal());
    assert_eq!(*v.last().unwrap(), date!(2026 - 03 - 09));
    assert_eq!(v.iter().filter(|d| cal().is_working_day(**d)).count(), 14);
    let with_slots = v
        .iter()
        .filter(|d| !slots_for_day(&standard(), &plan(), **d, cal(), &[]).is_empty())
        .count();
    assert_eq!(with_slots, 14);
}

// --- booking rules --------------------------------------------------------------------------

#[test]
fn bookable_boundaries() {
    let start = datetime!(2025-10-09 09:00);
    assert_eq!(
        check_bookable(start, datetime!(2025-10-09 08:30), 30),
        Ok(())
    );
    assert_eq!(
        check_bookable(start, datetime!(2025-10-09 08:31), 30),
        Err(BookingRuleError::TooLate {
            min_lead_minutes: 30
        })
    );
    assert_eq!(
        check_bookable(start, start, 30),
        Err(BookingRuleError::SlotPast)
    );
    assert_eq!(
        check_bookable(start, datetime!(2025-10-09 10:00), 0),
        Err(BookingRuleError::SlotPast)
    );
    assert_eq!(
        check_bookable(start, datetime!(2025-10-09 08:59), 0),
        Ok(())
    );
    assert!(is_bookable(start, datetime!(2025-10-08 17:00), 30));
    assert!(!is_bookable(start, datetime!(2025-10-09 08:45), 30));
    assert_eq!(check_capacity(5, 6), Ok(()));
    assert_eq!(check_capacity(6, 6).unwrap_err().code(), "slot_full");
    assert_eq!(check_capacity(0, 0).unwrap_err().code(), "slot_full");
}

#[test]
fn cancel_cutoff() {
    let start = datetime!(2025-10-09 09:00);
    assert_eq!(can_cancel(start, datetime!(2025-10-09 07:00), 120), Ok(()));
    assert_eq!(
        can_cancel(start, datetime!(2025-10-09 07:01), 120),
        Err(BookingRuleError::CancelCutoff {
            cutoff_minutes: 120
        })
    );
    assert_eq!(
        can_cancel(start, datetime!(2025-10-09 09:30), 0)
            .unwrap_err()
            .code(),
        "cancel_cutoff"
    );
    assert_eq!(can_cancel(start, start, 0), Ok(()));
    // Across the day boundary.
    assert_eq!(
        can_cancel(start, datetime!(2025-10-08 21:00), 12 * 60),
        Ok(())
    );
    assert!(can_cancel(start, datetime!(2025-10-08 21:01), 12 * 60).is_err());
}

#[test]
fn monthly_suspension() {
    let today = date!(2025 - 12 - 10);
    assert_eq!(check_suspension(2, 0, 3, 3, today), Ok(()));
    let e = check_suspension(3, 0, 3, 3, today).unwrap_err();
    assert_eq!(
        e,
        BookingRuleError::Suspended {
            until: date!(2026 - 01 - 01),
            cancellations: 3,
            no_shows: 0
        }
    );
    assert_eq!(e.code(), "booking_suspended");
    assert_eq!(
        e.message_zh(),
        "本月取消或爽约次数已达上限，2026年1月1日前暂停预约。"
    );
    assert!(e.message_en().contains("2026-01-01"));
    assert!(check_suspension(0, 3, 3, 3, today).is_err());
    assert_eq!(check_suspension(50, 50, 0, 0, today), Ok(())); // 0 = no limit
    assert_eq!(month_key(date!(2025 - 09 - 28)), "2025-09");
    assert_eq!(
        first_of_next_month(date!(2026 - 02 - 28)),
        date!(2026 - 03 - 01)
    );
    let p = BookingPolicy::default();
    assert_eq!(
        p.check_suspension(3, 0, today).unwrap_err().code(),
        "booking_suspended"
    );
    assert_eq!(p.horizon_working_days, 14);
}

#[test]
fn check_in_no_show_and_point_status() {
    let start = datetime!(2025-10-09 09:00);
    assert_eq!(
        check_check_in(start, datetime!(2025-10-09 08:00), 60, 30),
        Ok(())
    );
    assert_eq!(
        check_check_in(start, datetime!(2025-10-09 07:59), 60, 30)
            .unwrap_err()
            .code(),
        "check_in_too_early"
    );
    assert_eq!(
        check_check_in(start, datetime!(2025-10-09 09:30), 60, 30),
        Ok(())
    );
    assert_eq!(
        check_check_in(start, datetime!(2025-10-09 09:31), 60, 30)
            .unwrap_err()
            .code(),
        "check_in_too_late"
    );
    let end = datetime!(2025-10-09 09:30);
    assert!(!is_no_show(end, datetime!(2025-10-09 09:59), 30));
    assert!(is_no_show(end, datetime!(2025-10-09 10:00), 30));

    let now = datetime!(2025-10-09 10:00);
    let today_slot = datetime!(2025-10-09 14:00);
    let tomorrow = datetime!(2025-10-10 09:00);
    assert_eq!(
        check_point_status(PointStatus::Open, None, today_slot, now),
        Ok(())
    );
    assert_eq!(
        check_point_status(PointStatus::Busy, None, today_slot, now),
        Ok(())
    );
    assert_eq!(
        check_point_status(PointStatus::Paused, None, tomorrow, now)
            .unwrap_err()
            .code(),
        "point_paused"
    );
    let until = Some(datetime!(2025-10-09 13:00));
    assert_eq!(
        check_point_status(PointStatus::Paused, until, today_slot, now),
        Ok(())
    );
    assert!(
        check_point_status(PointStatus::Paused, until, datetime!(2025-10-09 12:30), now).is_err()
    );
    assert_eq!(
        check_point_status(PointStatus::Closed, None, today_slot, now)
            .unwrap_err()
            .code(),
        "point_closed"
    );
    assert_eq!(
        check_point_status(PointStatus::Closed, None, tomorrow, now),
        Ok(())
    );
    assert!(
        check_point_status(
            PointStatus::Closed,
            Some(datetime!(2025-10-11 09:00)),
            tomorrow,
            now
        )
        .is_err()
    );
}

#[test]
fn booking_errors_have_codes_and_messages() {
    let all = [
        BookingRuleError::SlotPast,
        BookingRuleError::TooLate {
            min_lead_minutes: 30,
        },
        BookingRuleError::SlotFull,
        BookingRuleError::CancelCutoff {
            cutoff_minutes: 120,
        },
        BookingRuleError::Suspended {
            until: date!(2025 - 11 - 01),
            cancellations: 3,
            no_shows: 0,
        },
        BookingRuleError::CheckInTooEarly { early_minutes: 60 },
        BookingRuleError::CheckInTooLate { late_minutes: 30 },
        BookingRuleError::PointPaused,
        BookingRuleError::PointClosed,
    ];
    let mut codes: Vec<_> = all.iter().map(|e| e.code()).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), all.len());
    for e in &all {
        assert!(
            !e.message_zh().is_empty() && !e.message_en().is_empty() && !e.to_string().is_empty()
        );
    }
    assert_eq!(
        BookingRuleError::CancelCutoff {
            cutoff_minutes: 120
        }
        .message_zh(),
        "距预约时间不足120分钟，已不能取消或改约。"
    );
}
