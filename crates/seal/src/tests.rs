use super::*;
use chrono::NaiveDate;
use murakumo_resident::{Citizenship, EntryReason, Person, ResidentEvent, Sex};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("date")
}

fn resident(birth: NaiveDate) -> Record {
    let ev = ResidentEvent::Entered {
        resident_code: "12345678906".into(),
        household_id: "H1".into(),
        relationship: "世帯主".into(),
        person: Person {
            family_name: "山田".into(),
            given_name: "太郎".into(),
            family_kana: "ヤマダ".into(),
            given_kana: "タロウ".into(),
            romaji: None,
            alias: None,
            birth_date: birth,
            sex: Sex::Male,
            citizenship: Citizenship::Japanese {
                honseki: "北海道深川市".into(),
                hittosha: "山田太郎".into(),
            },
        },
        address: "北海道深川市1条1番1号".into(),
        katagaki: String::new(),
        reason: EntryReason::Birth,
        notified_date: birth,
    };
    murakumo_resident::apply(None, &ev, birth).expect("entered")
}

fn register(number: &str, card: &str) -> SealEvent {
    SealEvent::Registered {
        registration_number: number.into(),
        resident_code: "12345678906".into(),
        card_number: card.into(),
        impression_png: sample_impression(7),
        notified_date: d(2026, 4, 1),
    }
}

fn ctx<'a>(r: Option<&'a Record>) -> Context<'a> {
    Context {
        resident: r,
        registration: None,
        active_of_resident: None,
        card_in_use: false,
        scanned_at_counter: true,
    }
}

#[test]
fn a_resident_of_fifteen_registers_and_the_record_is_active() {
    let r = resident(d(2011, 4, 1));
    let today = d(2026, 4, 1);
    let ev = register("S-1", "C-100");
    assert_eq!(validate(&ev, &ctx(Some(&r)), today, today), Ok(()));
    let rec = apply(None, &ev, today).expect("record");
    assert!(rec.is_active());
    assert_eq!(rec.card_number, "C-100");
}

#[test]
fn under_fifteen_is_refused_until_the_birthday() {
    let r = resident(d(2011, 4, 2));
    let day_before = d(2026, 4, 1);
    let err = validate(
        &register("S-1", "C-1"),
        &ctx(Some(&r)),
        day_before,
        day_before,
    )
    .expect_err("under 15");
    assert!(err.to_string().contains("15歳以上"), "{err}");
    assert_eq!(age_on(d(2011, 4, 2), d(2026, 4, 2)), 15);
}

#[test]
fn one_seal_per_person_and_cards_are_not_shared() {
    let r = resident(d(1980, 1, 1));
    let today = d(2026, 4, 1);
    let existing = apply(None, &register("S-1", "C-1"), today).expect("record");
    let mut c = ctx(Some(&r));
    c.active_of_resident = Some(&existing);
    assert!(matches!(
        validate(&register("S-2", "C-2"), &c, today, today),
        Err(SealError::Conflict(m)) if m.contains("S-1")
    ));
    let mut c = ctx(Some(&r));
    c.card_in_use = true;
    assert!(matches!(
        validate(&register("S-2", "C-1"), &c, today, today),
        Err(SealError::Conflict(_))
    ));
    let mut c = ctx(Some(&r));
    c.registration = Some(&existing);
    assert!(matches!(
        validate(&register("S-1", "C-9"), &c, today, today),
        Err(SealError::Conflict(_))
    ));
}

#[test]
fn unknown_or_removed_residents_cannot_register() {
    let today = d(2026, 4, 1);
    assert!(matches!(
        validate(&register("S-1", "C-1"), &ctx(None), today, today),
        Err(SealError::Invalid {
            field: "resident_code",
            ..
        })
    ));
    let removed = murakumo_resident::apply(
        Some(resident(d(1980, 1, 1))),
        &ResidentEvent::Removed {
            resident_code: "12345678906".into(),
            reason: murakumo_resident::RemovalReason::Died,
            notified_date: today,
        },
        today,
    )
    .expect("removed");
    assert!(validate(&register("S-1", "C-1"), &ctx(Some(&removed)), today, today).is_err());
}

#[test]
fn bad_card_numbers_and_images_are_refused_with_the_field() {
    let r = resident(d(1980, 1, 1));
    let today = d(2026, 4, 1);
    for card in ["", "  ", "カード1", "123456789012345678901"] {
        assert!(matches!(
            validate(&register("S-1", card), &ctx(Some(&r)), today, today),
            Err(SealError::Invalid {
                field: "card_number",
                ..
            })
        ));
    }
    let mut ev = register("S-1", "C-1");
    if let SealEvent::Registered { impression_png, .. } = &mut ev {
        *impression_png = b"GIF89a".to_vec();
    }
    assert!(matches!(
        validate(&ev, &ctx(Some(&r)), today, today),
        Err(SealError::Invalid {
            field: "impression",
            ..
        })
    ));
}

#[test]
fn cancellation_needs_an_active_registration_of_that_resident() {
    let today = d(2026, 4, 1);
    let rec = apply(None, &register("S-1", "C-1"), today).expect("record");
    let cancel = SealEvent::Cancelled {
        registration_number: "S-1".into(),
        resident_code: "12345678906".into(),
        reason: CancelReason::CardLost,
        notified_date: today,
    };
    let mut c = ctx(None);
    assert!(matches!(
        validate(&cancel, &c, today, today),
        Err(SealError::NotFound(_))
    ));
    c.registration = Some(&rec);
    assert_eq!(validate(&cancel, &c, today, today), Ok(()));
    let done = apply(Some(rec.clone()), &cancel, today).expect("record");
    assert_eq!(
        done.status,
        SealStatus::Cancelled {
            date: today,
            reason: CancelReason::CardLost
        }
    );
    c.registration = Some(&done);
    assert!(matches!(
        validate(&cancel, &c, today, today),
        Err(SealError::Conflict(_))
    ));
}

#[test]
fn events_round_trip_and_kinds_are_checked() {
    let ev = register("S-1", "C-1");
    let (kind, version, payload) = ev.encode();
    assert_eq!(kind, "seal.registered");
    assert_eq!(
        SealEvent::decode(kind, version, &payload).expect("decode"),
        Some(ev)
    );
    assert!(SealEvent::decode("seal.cancelled", version, &payload).is_err());
    assert!(SealEvent::decode("seal.unknown", 1, &payload).is_err());
    assert_eq!(
        SealEvent::decode("resident.entered", 1, &payload).ok(),
        Some(None)
    );
}

#[test]
fn sample_impressions_pass_the_check_and_differ_by_seed() {
    assert_eq!(check_impression(&sample_impression(1)), Ok(()));
    assert_ne!(sample_impression(1), sample_impression(2));
    assert_eq!(check_impression(&[]), Err(ImageError::Empty));
    assert!(matches!(
        check_impression(b"\x89PNG\r\n\x1a\nrubbish"),
        Err(ImageError::NotPng(_))
    ));
}

#[test]
fn a_blank_image_is_refused() {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 64, 64);
        enc.set_color(png::ColorType::Grayscale);
        let mut w = enc.write_header().expect("header");
        w.write_image_data(&[255u8; 64 * 64]).expect("data");
    }
    assert_eq!(check_impression(&out), Err(ImageError::Blank));
}

#[test]
fn official_seal_events_are_their_own_kind() {
    let ev = OfficialSealSet {
        png: sample_impression(3),
        reason: "新市長就任".into(),
    };
    let (kind, version, payload) = ev.encode();
    assert_eq!(kind, "official_seal.set");
    assert_eq!(
        OfficialSealSet::decode(kind, version, &payload).expect("decode"),
        Some(ev)
    );
    assert_eq!(SealEvent::decode(kind, version, &payload).ok(), Some(None));
}

#[test]
fn a_certificate_needs_the_registrants_name_and_birth_date_from_the_application() {
    let birth = d(1980, 5, 1);
    let mut r = resident(birth);
    r.person.family_name = "葛\u{E0100}城".into();
    for typed in [
        "葛城太郎",
        "葛城　太郎",
        " 葛\u{E0100}城 太郎 ",
        "ヤマダタロウ",
        "やまだ たろう",
    ] {
        assert_eq!(check_applicant(&r, typed, birth), Ok(()), "{typed}");
    }
    let field = |e: Result<(), SealError>| match e {
        Err(SealError::Invalid { field, reason }) => {
            assert!(
                !reason.contains("葛城"),
                "the registered name is never shown"
            );
            field
        }
        other => panic!("refused expected: {other:?}"),
    };
    assert_eq!(
        field(check_applicant(&r, "葛城次郎", birth)),
        "applicant_name"
    );
    assert_eq!(field(check_applicant(&r, "  ", birth)), "applicant_name");
    assert_eq!(
        field(check_applicant(&r, "葛城太郎", d(1980, 5, 2))),
        "applicant_birth_date"
    );
    // A 通称 is a name the registrant may use.
    r.person.alias = Some("ジョン　スミス".into());
    assert_eq!(check_applicant(&r, "ジョンスミス", birth), Ok(()));
}

/// A 印影 of `side` pixels with a filled square mark of `mark` pixels, recording
/// `pixels_per_metre` (or no resolution).
fn scanned(side: u32, mark: u32, pixels_per_metre: Option<u32>) -> Vec<u8> {
    let mut pixels = vec![255u8; (side * side) as usize];
    for y in 0..mark {
        for x in 0..mark {
            pixels[(y * side + x) as usize] = 0;
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side, side);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_pixel_dims(pixels_per_metre.map(|ppm| png::PixelDimensions {
            xppu: ppm,
            yppu: ppm,
            unit: png::Unit::Meter,
        }));
        let mut w = enc.write_header().expect("header");
        w.write_image_data(&pixels).expect("data");
    }
    out
}

#[test]
fn a_registered_impression_keeps_to_the_seal_ordinance_sizes() {
    // 300 dpi ≈ 11,811 pixels per metre: 118 pixels ≈ 10 mm.
    let dpi300 = Some(11_811);
    assert_eq!(
        check_registered_impression(&scanned(200, 118, dpi300)),
        Ok(())
    );
    assert_eq!(
        check_registered_impression(&sample_impression(4)),
        Ok(()),
        "the sample is a 15 mm seal"
    );
    // 25 mm is allowed, 26 mm is not; 8 mm fits the 8 mm square and is refused.
    assert_eq!(
        check_registered_impression(&scanned(400, 295, dpi300)),
        Ok(())
    );
    assert!(matches!(
        check_registered_impression(&scanned(400, 307, dpi300)),
        Err(ImageError::MarkTooLarge(_))
    ));
    assert!(matches!(
        check_registered_impression(&scanned(200, 94, dpi300)),
        Err(ImageError::MarkTooSmall(_))
    ));
    // Without a recorded resolution the real size is unknown: refused at the counter, while
    // the plain check (公印, imported history) takes it.
    let unknown = scanned(200, 118, None);
    assert_eq!(
        check_registered_impression(&unknown),
        Err(ImageError::NoResolution)
    );
    assert_eq!(check_impression(&unknown), Ok(()));
    assert_eq!(physical_size_mm(&unknown), None);
    let (w, h) = physical_size_mm(&sample_impression(4)).expect("recorded");
    assert!(
        (w - 15.0).abs() < 0.01 && (h - 15.0).abs() < 0.01,
        "{w}×{h}"
    );
}
