//! 02-01 印鑑登録: seal events ↔ the items of the layout, the 印影 files
//! beside it, and the checks an import (and the generator) applies — the
//! seal crate's own `validate`, against the resident record as of each
//! 登録日 replayed from 01-02 異動履歴.
//!
//! Like 01-02, reading a record builds the event and writes it back: an item
//! the 処理区分 does not use must be blank, so nothing is silently dropped.

use std::collections::HashMap;

use chrono::NaiveDate;
use murakumo_core::ResidentCode;
use murakumo_resident::{Record, ResidentError};
use murakumo_seal::{CancelReason, Context, SealError, SealEvent, SealRecord};

use crate::convert::{Dated, FieldFault, date8, parse_date8};
use crate::layout::seal::F;

/// The directory (beside the 02-01 file) that holds the 印影 images.
pub const IMAGE_DIR: &str = "02-01_inkan";
/// The municipality's 公印 image (top level of the data set).
pub const OFFICIAL_SEAL_FILE: &str = "koin.png";
/// `layout` of an 印影 image in `manifest.json`.
pub const IMAGE_LAYOUT: &str = "02-01-image";
/// `layout` of the 公印 image in `manifest.json`.
pub const OFFICIAL_SEAL_LAYOUT: &str = "koin";
/// The reason recorded with a 公印 that came in by import.
pub const IMPORTED_OFFICIAL_SEAL_REASON: &str = "移行データから取り込み";

/// A seal event and its 異動日 (登録日 or 廃止日).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatedSeal {
    pub effective: NaiveDate,
    pub event: SealEvent,
}

/// The data set path of a registration's 印影, `02-01_inkan/<number>.png`.
pub fn image_name(registration_number: &str) -> String {
    format!("{IMAGE_DIR}/{registration_number}.png")
}

/// Whether a 印鑑登録番号 can be carried: it names the 印影 file, so it is
/// 1–20 upper-case letters, digits and hyphens, starting with a letter or
/// digit (safe on every file system, case-insensitive ones included).
pub fn check_number(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= 20
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err("a 印鑑登録番号 is 1–20 upper-case letters (A–Z), digits and hyphens, starting with a letter or digit: it names the 印影 file".into())
    }
}

fn hash_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

fn cancel_code(r: &CancelReason) -> &'static str {
    match r {
        CancelReason::Abolished => "11",
        CancelReason::CardLost => "12",
        CancelReason::ExOfficio { .. } => "13",
    }
}

/// The 02-01 row of a seal event.
pub fn seal_row(municipality5: &str, serial: u64, d: &DatedSeal) -> Vec<String> {
    let mut row = vec![String::new(); crate::layout::seal::LAYOUT.fields.len()];
    row[F::Municipality as usize] = municipality5.into();
    row[F::Serial as usize] = format!("{serial:010}");
    row[F::Number as usize] = d.event.registration_number().into();
    row[F::ResidentCode as usize] = d.event.resident_code().into();
    for f in [F::RegisteredDate, F::CancelledDate] {
        row[f as usize] = "00000000".into();
    }
    match &d.event {
        SealEvent::Registered {
            registration_number,
            card_number,
            impression_png,
            notified_date,
            ..
        } => {
            row[F::Event as usize] = "01".into();
            row[F::RegisteredDate as usize] = date8(d.effective);
            row[F::CardNumber as usize] = card_number.clone();
            row[F::Image as usize] = image_name(registration_number);
            row[F::ImageHash as usize] = hash_hex(impression_png);
            row[F::NotifiedDate as usize] = date8(*notified_date);
        }
        SealEvent::Cancelled {
            reason,
            notified_date,
            ..
        } => {
            row[F::Event as usize] = cancel_code(reason).into();
            row[F::CancelledDate as usize] = date8(d.effective);
            row[F::NotifiedDate as usize] = date8(*notified_date);
            if let CancelReason::ExOfficio { reason } = reason {
                row[F::Note as usize] = reason.clone();
            }
        }
    }
    row
}

/// Reads a seal event from a 02-01 row whose items passed the generic
/// checks. `load` reads an 印影 file by its data set path (or says why not).
pub(crate) fn parse_seal(
    row: &[String],
    load: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>,
) -> Result<DatedSeal, FieldFault> {
    let text = |f: F| row[f as usize].clone();
    let number = text(F::Number);
    check_number(&number).map_err(|r| (F::Number as usize, r))?;
    let resident_code = text(F::ResidentCode);
    if let Err(e) = ResidentCode::parse(&resident_code) {
        return Err((F::ResidentCode as usize, e.to_string()));
    }
    let req = |f: F, what: &str| -> Result<NaiveDate, FieldFault> {
        parse_date8(&row[f as usize])
            .map_err(|r| (f as usize, r))?
            .ok_or((f as usize, format!("{what} is required for this 処理区分")))
    };
    let notified_date = req(F::NotifiedDate, "届出日")?;
    let cancelled = |reason: CancelReason| -> Result<DatedSeal, FieldFault> {
        Ok(DatedSeal {
            effective: req(F::CancelledDate, "廃止日")?,
            event: SealEvent::Cancelled {
                registration_number: number.clone(),
                resident_code: resident_code.clone(),
                reason,
                notified_date,
            },
        })
    };
    match row[F::Event as usize].as_str() {
        "01" => {
            let effective = req(F::RegisteredDate, "登録日")?;
            let expected = image_name(&number);
            let name = text(F::Image);
            if name != expected {
                return Err((
                    F::Image as usize,
                    format!(
                        "must be {expected:?}: a registration's 印影 is the file named after its 印鑑登録番号"
                    ),
                ));
            }
            let hash = text(F::ImageHash);
            if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err((
                    F::ImageHash as usize,
                    "a BLAKE3 is 64 lower-case hexadecimal digits".into(),
                ));
            }
            let png = load(&name).map_err(|r| (F::Image as usize, r))?;
            let actual = hash_hex(&png);
            if actual != hash {
                return Err((
                    F::ImageHash as usize,
                    format!(
                        "the file {name} has BLAKE3 {actual}: the image was changed, or is not this registration's"
                    ),
                ));
            }
            Ok(DatedSeal {
                effective,
                event: SealEvent::Registered {
                    registration_number: number,
                    resident_code,
                    card_number: text(F::CardNumber),
                    impression_png: png,
                    notified_date,
                },
            })
        }
        "11" => cancelled(CancelReason::Abolished),
        "12" => cancelled(CancelReason::CardLost),
        "13" => cancelled(CancelReason::ExOfficio {
            reason: text(F::Note),
        }),
        _ => Err((
            F::Event as usize,
            "not a 印鑑登録処理区分 code of this format".into(),
        )),
    }
}

/// The residents' 異動, indexed by 住民票コード, to replay any one of them
/// as of a date.
pub struct Histories<'a> {
    events: &'a [Dated],
    by_code: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Histories<'a> {
    pub fn new(events: &'a [Dated]) -> Histories<'a> {
        let mut by_code: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, d) in events.iter().enumerate() {
            by_code.entry(d.event.resident_code()).or_default().push(i);
        }
        Histories { events, by_code }
    }

    /// The resident's record as of `date` (its 異動 up to that 異動日, in
    /// ledger order); `None` if not a resident by then or not known.
    pub fn as_of(&self, code: &str, date: NaiveDate) -> Result<Option<Record>, ResidentError> {
        let Some(ix) = self.by_code.get(code) else {
            return Ok(None);
        };
        murakumo_resident::replay(
            ix.iter()
                .map(|&i| (&self.events[i].event, self.events[i].effective)),
            date,
        )
    }
}

/// The registrations so far, in the order their events came: what the next
/// event is checked against (like the store's `seals` table at the counter).
#[derive(Debug, Default)]
pub struct SealBook {
    records: HashMap<String, SealRecord>,
    /// 住民票コード → its registration in force.
    active_of_resident: HashMap<String, String>,
    /// 印鑑登録証番号 → the registration in force that uses it.
    active_cards: HashMap<String, String>,
}

impl SealBook {
    pub fn get(&self, number: &str) -> Option<&SealRecord> {
        self.records.get(number)
    }

    pub fn active_of(&self, resident_code: &str) -> Option<&SealRecord> {
        self.active_of_resident
            .get(resident_code)
            .and_then(|n| self.records.get(n))
    }

    /// Checks an event with `murakumo_seal::validate`: a registration
    /// against the registrant as of its 登録日. On refusal, the 02-01 item
    /// at fault and the reason.
    pub fn check(
        &self,
        histories: &Histories<'_>,
        d: &DatedSeal,
        today: NaiveDate,
    ) -> Result<(), FieldFault> {
        let number = d.event.registration_number();
        let registration = self.records.get(number);
        let (resident, active, card_in_use) = match &d.event {
            SealEvent::Registered {
                resident_code,
                card_number,
                ..
            } => {
                let r = histories.as_of(resident_code, d.effective).map_err(|e| {
                    (
                        F::ResidentCode as usize,
                        format!("the 住民記録 as of the 登録日 does not replay: {e}"),
                    )
                })?;
                (
                    r,
                    self.active_of(resident_code),
                    self.active_cards.contains_key(card_number.trim()),
                )
            }
            SealEvent::Cancelled { .. } => (None, None, false),
        };
        let ctx = Context {
            resident: resident.as_ref(),
            registration,
            active_of_resident: active,
            card_in_use,
            scanned_at_counter: false,
        };
        let registered = matches!(d.event, SealEvent::Registered { .. });
        murakumo_seal::validate(&d.event, &ctx, d.effective, today).map_err(|e| {
            let field = match &e {
                SealError::Invalid { field, .. } => match *field {
                    "effective_date" if registered => F::RegisteredDate,
                    "effective_date" => F::CancelledDate,
                    "resident_code" => F::ResidentCode,
                    "card_number" => F::CardNumber,
                    "impression" => F::Image,
                    _ => F::Number,
                },
                SealError::Conflict(_) if registered && registration.is_none() => {
                    if active.is_some() {
                        F::ResidentCode
                    } else {
                        F::CardNumber
                    }
                }
                SealError::Conflict(_) | SealError::NotFound(_) => F::Number,
            };
            let mut reason = match e {
                // The item is named already.
                SealError::Invalid { reason, .. } => reason,
                other => other.to_string(),
            };
            if registered && resident.is_none() && field == F::ResidentCode {
                reason.push_str(" (as of the 登録日)");
            }
            (field as usize, reason)
        })
    }

    /// Records an event that passed [`SealBook::check`].
    pub fn apply(&mut self, d: &DatedSeal) {
        let number = d.event.registration_number().to_string();
        let current = self.records.remove(&number);
        let Some(r) = murakumo_seal::apply(current, &d.event, d.effective) else {
            return;
        };
        if r.is_active() {
            self.active_of_resident
                .insert(r.resident_code.clone(), number.clone());
            self.active_cards
                .insert(r.card_number.clone(), number.clone());
        } else {
            if self.active_of_resident.get(&r.resident_code) == Some(&number) {
                self.active_of_resident.remove(&r.resident_code);
            }
            if self.active_cards.get(&r.card_number) == Some(&number) {
                self.active_cards.remove(&r.card_number);
            }
        }
        self.records.insert(number, r);
    }

    /// Registrations recorded.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use murakumo_resident::{Citizenship, EntryReason, Person, RemovalReason, ResidentEvent, Sex};
    use murakumo_seal::sample_impression;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    fn code(n: u32) -> String {
        ResidentCode::from_ten_digits(&format!("{:010}", 1_000_000_000 + n))
            .expect("code")
            .as_str()
            .to_string()
    }

    fn entered(code: String, birth: NaiveDate, on: NaiveDate) -> Dated {
        Dated {
            effective: on,
            event: ResidentEvent::Entered {
                resident_code: code,
                household_id: "H1".into(),
                relationship: "世帯主".into(),
                person: Person {
                    family_name: "山田".into(),
                    given_name: "花子".into(),
                    family_kana: "ヤマダ".into(),
                    given_kana: "ハナコ".into(),
                    romaji: None,
                    alias: None,
                    birth_date: birth,
                    sex: Sex::Female,
                    citizenship: Citizenship::Japanese {
                        honseki: "徳島県徳島市幸町1番地".into(),
                        hittosha: "山田　花子".into(),
                    },
                },
                address: "徳島県徳島市幸町1番1号".into(),
                katagaki: String::new(),
                reason: EntryReason::MoveIn {
                    previous_address: "東京都千代田区".into(),
                },
                notified_date: on,
            },
        }
    }

    fn registered(number: &str, who: &str, card: &str, on: NaiveDate) -> DatedSeal {
        DatedSeal {
            effective: on,
            event: SealEvent::Registered {
                registration_number: number.into(),
                resident_code: who.into(),
                card_number: card.into(),
                impression_png: sample_impression(number.len() as u64),
                notified_date: on,
            },
        }
    }

    fn cancelled(number: &str, who: &str, reason: CancelReason, on: NaiveDate) -> DatedSeal {
        DatedSeal {
            effective: on,
            event: SealEvent::Cancelled {
                registration_number: number.into(),
                resident_code: who.into(),
                reason,
                notified_date: on,
            },
        }
    }

    #[test]
    fn every_seal_event_round_trips_through_its_row() {
        let who = code(1);
        let png = sample_impression(7);
        let events = [
            DatedSeal {
                effective: d(2020, 1, 2),
                event: SealEvent::Registered {
                    registration_number: "S-0000001".into(),
                    resident_code: who.clone(),
                    card_number: "C-1".into(),
                    impression_png: png.clone(),
                    notified_date: d(2020, 1, 3),
                },
            },
            cancelled("S-0000001", &who, CancelReason::Abolished, d(2021, 1, 1)),
            cancelled("S-0000001", &who, CancelReason::CardLost, d(2021, 1, 1)),
            cancelled(
                "S-0000001",
                &who,
                CancelReason::ExOfficio {
                    reason: "転出".into(),
                },
                d(2021, 1, 1),
            ),
        ];
        for (i, e) in events.iter().enumerate() {
            let row = seal_row("36201", i as u64 + 1, e);
            let mut load = |name: &str| {
                assert_eq!(name, "02-01_inkan/S-0000001.png");
                Ok(png.clone())
            };
            assert_eq!(parse_seal(&row, &mut load).as_ref(), Ok(e));
        }
        // A changed image is caught by its BLAKE3.
        let row = seal_row("36201", 1, &events[0]);
        let mut other = |_: &str| Ok(sample_impression(8));
        let (field, reason) = parse_seal(&row, &mut other).expect_err("changed image");
        assert_eq!(field, F::ImageHash as usize);
        assert!(reason.contains("BLAKE3"), "{reason}");
    }

    #[test]
    fn numbers_that_cannot_name_a_file_are_refused() {
        for ok in ["S-0000001", "12345", "A"] {
            assert_eq!(check_number(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-1", "s-1", "S/1", "..", "S 1", "123456789012345678901"] {
            assert!(check_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registrations_are_checked_as_of_their_date_and_in_order() {
        let (a, b) = (code(1), code(2));
        let events = vec![
            entered(a.clone(), d(1980, 5, 1), d(2000, 1, 1)),
            entered(b.clone(), d(2010, 5, 1), d(2010, 5, 1)),
            Dated {
                effective: d(2024, 3, 31),
                event: ResidentEvent::Removed {
                    resident_code: a.clone(),
                    reason: RemovalReason::MovedOut {
                        destination: "東京都".into(),
                    },
                    notified_date: d(2024, 3, 31),
                },
            },
        ];
        let h = Histories::new(&events);
        let today = d(2026, 11, 23);
        let mut book = SealBook::default();
        // Registered in 2010 while a resident: fine, though 除票 by now.
        let first = registered("S-1", &a, "C-1", d(2010, 6, 1));
        assert_eq!(book.check(&h, &first, today), Ok(()));
        book.apply(&first);
        // One seal per person; one registration in force per card.
        let second = registered("S-2", &a, "C-2", d(2011, 1, 1));
        assert_eq!(
            book.check(&h, &second, today).map_err(|e| e.0),
            Err(F::ResidentCode as usize)
        );
        let card = registered("S-2", &b, "C-1", d(2026, 1, 1));
        assert_eq!(
            book.check(&h, &card, today).map_err(|e| e.0),
            Err(F::CardNumber as usize)
        );
        // Under 15 on the day.
        let young = registered("S-3", &b, "C-3", d(2024, 1, 1));
        assert_eq!(
            book.check(&h, &young, today).map_err(|e| e.0),
            Err(F::ResidentCode as usize)
        );
        // After the 転出 of 2024-03-31 there is no current resident.
        let gone = cancelled("S-1", &a, CancelReason::CardLost, d(2012, 1, 1));
        assert_eq!(book.check(&h, &gone, today), Ok(()));
        book.apply(&gone);
        let late = registered("S-4", &a, "C-4", d(2025, 1, 1));
        let (field, reason) = book.check(&h, &late, today).expect_err("moved out");
        assert_eq!(field, F::ResidentCode as usize);
        assert!(reason.contains("現に住民"), "{reason}");
        // A cancelled registration cannot be cancelled again; an unknown one
        // is not found; the card is free again.
        assert_eq!(
            book.check(&h, &gone, today).map_err(|e| e.0),
            Err(F::Number as usize)
        );
        let unknown = cancelled("S-9", &a, CancelReason::Abolished, d(2012, 1, 1));
        assert_eq!(
            book.check(&h, &unknown, today).map_err(|e| e.0),
            Err(F::Number as usize)
        );
        assert_eq!(book.check(&h, &card, today), Ok(()));
        // A number is used once.
        let reused = registered("S-1", &b, "C-9", d(2026, 1, 1));
        assert_eq!(
            book.check(&h, &reused, today).map_err(|e| e.0),
            Err(F::Number as usize)
        );
    }
}
