//! Records and events ↔ the field values of the layouts.
//!
//! Writing is total: every event and record has one row. Reading an event
//! row builds the event and writes it back; a row that does not come back the
//! same carries something the event cannot hold (a field the 異動事由 does
//! not use, a 年号 that does not match the date …), and is refused with the
//! first field that differs. So whatever is accepted is kept losslessly.

use chrono::NaiveDate;
use murakumo_core::{Era, ResidentCode};
use murakumo_resident::{
    Alias, Citizenship, EntryReason, FormerSurname, Person, Record, RemovalReason, ResidentEvent,
    Sex, Status,
};

use crate::layout::{base, history};

/// A resident event and its 異動日.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dated {
    pub effective: NaiveDate,
    pub event: ResidentEvent,
}

pub(crate) fn date8(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

fn opt_date8(d: Option<NaiveDate>) -> String {
    d.map_or_else(|| "00000000".to_string(), date8)
}

pub(crate) fn parse_date8(s: &str) -> Result<Option<NaiveDate>, String> {
    if s.is_empty() || s == "00000000" {
        return Ok(None);
    }
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a date is written YYYYMMDD (00000000 for none)".into());
    }
    NaiveDate::parse_from_str(s, "%Y%m%d")
        .map(Some)
        .map_err(|_| "not a calendar date".into())
}

fn era_code(d: NaiveDate) -> &'static str {
    match Era::of(d) {
        Some(Era::Meiji) => "01",
        Some(Era::Taisho) => "02",
        Some(Era::Showa) => "03",
        Some(Era::Heisei) => "04",
        Some(Era::Reiwa) => "05",
        None => "00",
    }
}

fn sex_code(s: Sex) -> String {
    s.code().to_string()
}

fn entry_code(r: &EntryReason) -> &'static str {
    match r {
        EntryReason::MoveIn { .. } => "01",
        EntryReason::Birth => "02",
        EntryReason::ExOfficio { .. } => "03",
        EntryReason::MoveInNotice { .. } => "04",
    }
}

fn removal_code(r: &RemovalReason) -> &'static str {
    match r {
        RemovalReason::MovedOut { .. } => "12",
        RemovalReason::Died => "13",
        RemovalReason::ExOfficio { .. } => "14",
    }
}

/// Fills the person fields shared by both layouts.
struct PersonCols {
    family_name: usize,
    given_name: usize,
    family_kana: usize,
    given_kana: usize,
    romaji: usize,
    alias: usize,
    sex: usize,
    era: usize,
    birth: usize,
    kind: usize,
    honseki: usize,
    hittosha: usize,
    nationality: usize,
    residence_status: usize,
    period_until: usize,
}

const BASE_PERSON: PersonCols = PersonCols {
    family_name: base::F::FamilyName as usize,
    given_name: base::F::GivenName as usize,
    family_kana: base::F::FamilyKana as usize,
    given_kana: base::F::GivenKana as usize,
    romaji: base::F::Romaji as usize,
    alias: base::F::Alias as usize,
    sex: base::F::Sex as usize,
    era: base::F::Era as usize,
    birth: base::F::BirthDate as usize,
    kind: base::F::Kind as usize,
    honseki: base::F::Honseki as usize,
    hittosha: base::F::Hittosha as usize,
    nationality: base::F::Nationality as usize,
    residence_status: base::F::ResidenceStatus as usize,
    period_until: base::F::PeriodUntil as usize,
};

const HISTORY_PERSON: PersonCols = PersonCols {
    family_name: history::F::FamilyName as usize,
    given_name: history::F::GivenName as usize,
    family_kana: history::F::FamilyKana as usize,
    given_kana: history::F::GivenKana as usize,
    romaji: history::F::Romaji as usize,
    alias: history::F::Alias as usize,
    sex: history::F::Sex as usize,
    era: history::F::Era as usize,
    birth: history::F::BirthDate as usize,
    kind: history::F::Kind as usize,
    honseki: history::F::Honseki as usize,
    hittosha: history::F::Hittosha as usize,
    nationality: history::F::Nationality as usize,
    residence_status: history::F::ResidenceStatus as usize,
    period_until: history::F::PeriodUntil as usize,
};

fn put_person(row: &mut [String], c: &PersonCols, p: &Person) {
    row[c.family_name] = p.family_name.clone();
    row[c.given_name] = p.given_name.clone();
    row[c.family_kana] = p.family_kana.clone();
    row[c.given_kana] = p.given_kana.clone();
    row[c.romaji] = p.romaji.clone().unwrap_or_default();
    row[c.alias] = p.alias.clone().unwrap_or_default();
    row[c.sex] = sex_code(p.sex);
    row[c.era] = era_code(p.birth_date).into();
    row[c.birth] = date8(p.birth_date);
    match &p.citizenship {
        Citizenship::Japanese { honseki, hittosha } => {
            row[c.kind] = "1".into();
            row[c.honseki] = honseki.clone();
            row[c.hittosha] = hittosha.clone();
        }
        Citizenship::Foreign {
            nationality,
            residence_status,
            period_until,
        } => {
            row[c.kind] = "2".into();
            row[c.nationality] = nationality.clone();
            row[c.residence_status] = residence_status.clone();
            row[c.period_until] = opt_date8(*period_until);
        }
    }
}

/// A field that could not be read, by position.
/// The item (its index in the layout) at fault, and why.
pub type FieldFault = (usize, String);

fn get_person(row: &[String], c: &PersonCols) -> Result<Person, FieldFault> {
    let opt = |i: usize| (!row[i].is_empty()).then(|| row[i].clone());
    let birth = parse_date8(&row[c.birth])
        .map_err(|r| (c.birth, r))?
        .ok_or((c.birth, "生年月日 is required".to_string()))?;
    let sex = row[c.sex]
        .parse()
        .ok()
        .and_then(Sex::from_code)
        .ok_or((c.sex, "性別 is 1, 2 or 9".to_string()))?;
    let citizenship = match row[c.kind].as_str() {
        "1" => Citizenship::Japanese {
            honseki: row[c.honseki].clone(),
            hittosha: row[c.hittosha].clone(),
        },
        "2" => Citizenship::Foreign {
            nationality: row[c.nationality].clone(),
            residence_status: row[c.residence_status].clone(),
            period_until: parse_date8(&row[c.period_until]).map_err(|r| (c.period_until, r))?,
        },
        _ => return Err((c.kind, "住民種別 is 1 (日本人) or 2 (外国人)".into())),
    };
    Ok(Person {
        family_name: row[c.family_name].clone(),
        given_name: row[c.given_name].clone(),
        family_kana: row[c.family_kana].clone(),
        given_kana: row[c.given_kana].clone(),
        romaji: opt(c.romaji),
        alias: opt(c.alias),
        birth_date: birth,
        sex,
        citizenship,
    })
}

/// The 01-01 row of a record (as replayed from its events).
pub fn base_row(municipality5: &str, r: &Record) -> Vec<String> {
    use base::F;
    let mut row = vec![String::new(); base::LAYOUT.fields.len()];
    row[F::Municipality as usize] = municipality5.into();
    row[F::Identity as usize] = r.resident_code.clone();
    row[F::ResidentCode as usize] = r.resident_code.clone();
    row[F::Household as usize] = r.household_id.clone();
    row[F::Relationship as usize] = r.relationship.clone();
    put_person(&mut row, &BASE_PERSON, &r.person);
    row[F::PeriodUntil as usize] = match &r.person.citizenship {
        Citizenship::Foreign { period_until, .. } => opt_date8(*period_until),
        Citizenship::Japanese { .. } => "00000000".into(),
    };
    row[F::Address as usize] = r.address.text.clone();
    row[F::Katagaki as usize] = r.address.katagaki.clone();
    row[F::BecameResident as usize] = date8(r.became_resident);
    row[F::AddressSince as usize] = date8(r.address_since);
    row[F::EntryReason as usize] = entry_code(&r.entry_reason).into();
    match &r.entry_reason {
        EntryReason::MoveIn { previous_address } => {
            row[F::PreviousAddress as usize] = previous_address.clone();
        }
        EntryReason::MoveInNotice {
            previous_address,
            notice_number,
        } => {
            row[F::PreviousAddress as usize] = previous_address.clone();
            row[F::NoticeNumber as usize] = notice_number.clone();
        }
        EntryReason::ExOfficio { reason } => row[F::EntryNote as usize] = reason.clone(),
        EntryReason::Birth => {}
    }
    row[F::MoveOutDate as usize] = "00000000".into();
    row[F::RemovedDate as usize] = "00000000".into();
    row[F::Status as usize] = match &r.status {
        Status::Current => "1".into(),
        Status::MovingOut {
            planned_date,
            destination,
        } => {
            row[F::MoveOutDate as usize] = date8(*planned_date);
            row[F::Destination as usize] = destination.clone();
            "2".into()
        }
        Status::Removed { reason, date } => {
            row[F::RemovedDate as usize] = date8(*date);
            row[F::RemovalReason as usize] = removal_code(reason).into();
            match reason {
                RemovalReason::MovedOut { destination } => {
                    row[F::Destination as usize] = destination.clone();
                    "3".into()
                }
                RemovalReason::Died => "4".into(),
                RemovalReason::ExOfficio { reason } => {
                    row[F::RemovalNote as usize] = reason.clone();
                    "5".into()
                }
            }
        }
    };
    row[F::ProtectedUntil as usize] = opt_date8(r.protection.as_ref().map(|p| p.until));
    row[F::ProtectionReason as usize] = r
        .protection
        .as_ref()
        .map(|p| p.reason.clone())
        .unwrap_or_default();
    row
}

/// The 01-02 row of an event.
pub fn history_row(municipality5: &str, serial: u64, d: &Dated) -> Vec<String> {
    use history::F;
    let mut row = vec![String::new(); history::LAYOUT.fields.len()];
    let e = &d.event;
    row[F::Municipality as usize] = municipality5.into();
    row[F::Identity as usize] = e.resident_code().into();
    row[F::ResidentCode as usize] = e.resident_code().into();
    row[F::Serial as usize] = format!("{serial:010}");
    row[F::EffectiveDate as usize] = date8(d.effective);
    for f in [F::NotifiedDate, F::BirthDate, F::PeriodUntil, F::Date] {
        row[f as usize] = "00000000".into();
    }
    let notified = |row: &mut [String], n: &NaiveDate| {
        row[F::NotifiedDate as usize] = date8(*n);
    };
    let code = match e {
        ResidentEvent::Entered {
            household_id,
            relationship,
            person,
            address,
            katagaki,
            reason,
            notified_date,
            ..
        } => {
            notified(&mut row, notified_date);
            row[F::Household as usize] = household_id.clone();
            row[F::Relationship as usize] = relationship.clone();
            put_person(&mut row, &HISTORY_PERSON, person);
            row[F::Address as usize] = address.clone();
            row[F::Katagaki as usize] = katagaki.clone();
            match reason {
                EntryReason::MoveIn { previous_address } => {
                    row[F::OtherAddress as usize] = previous_address.clone();
                }
                EntryReason::MoveInNotice {
                    previous_address,
                    notice_number,
                } => {
                    row[F::OtherAddress as usize] = previous_address.clone();
                    row[F::NoticeNumber as usize] = notice_number.clone();
                }
                EntryReason::ExOfficio { reason } => row[F::Note as usize] = reason.clone(),
                EntryReason::Birth => {}
            }
            entry_code(reason)
        }
        ResidentEvent::Relocated {
            address,
            katagaki,
            notified_date,
            ..
        } => {
            notified(&mut row, notified_date);
            row[F::Address as usize] = address.clone();
            row[F::Katagaki as usize] = katagaki.clone();
            "10"
        }
        ResidentEvent::MoveOutPlanned {
            planned_date,
            destination,
            notified_date,
            ..
        } => {
            notified(&mut row, notified_date);
            row[F::Date as usize] = date8(*planned_date);
            row[F::OtherAddress as usize] = destination.clone();
            "11"
        }
        ResidentEvent::Removed {
            reason,
            notified_date,
            ..
        } => {
            notified(&mut row, notified_date);
            match reason {
                RemovalReason::MovedOut { destination } => {
                    row[F::OtherAddress as usize] = destination.clone();
                }
                RemovalReason::ExOfficio { reason } => row[F::Note as usize] = reason.clone(),
                RemovalReason::Died => {}
            }
            removal_code(reason)
        }
        ResidentEvent::HouseholdChanged {
            household_id,
            relationship,
            notified_date,
            ..
        } => {
            notified(&mut row, notified_date);
            row[F::Household as usize] = household_id.clone();
            row[F::Relationship as usize] = relationship.clone();
            "20"
        }
        ResidentEvent::NameChanged {
            family_name,
            given_name,
            family_kana,
            given_kana,
            notified_date,
            ..
        } => {
            notified(&mut row, notified_date);
            row[F::FamilyName as usize] = family_name.clone();
            row[F::GivenName as usize] = given_name.clone();
            row[F::FamilyKana as usize] = family_kana.clone();
            row[F::GivenKana as usize] = given_kana.clone();
            "21"
        }
        ResidentEvent::Corrected {
            field,
            value,
            reason,
            ..
        } => {
            row[F::Item as usize] = field.clone();
            row[F::Value as usize] = value.clone();
            row[F::Note as usize] = reason.clone();
            "30"
        }
        ResidentEvent::ProtectionSet { until, reason, .. } => {
            row[F::Date as usize] = date8(*until);
            row[F::Note as usize] = reason.clone();
            "40"
        }
        ResidentEvent::ProtectionLifted { reason, .. } => {
            row[F::Note as usize] = reason.clone();
            "41"
        }
        ResidentEvent::MoveOutCancelled {
            reason,
            notified_date,
            ..
        } => {
            notified(&mut row, notified_date);
            row[F::Note as usize] = reason.clone();
            "15"
        }
        ResidentEvent::FormerSurnameSet {
            former_surname,
            notified_date,
            ..
        } => {
            notified(&mut row, notified_date);
            match former_surname {
                Some(f) => {
                    row[F::FamilyName as usize] = f.name.clone();
                    row[F::FamilyKana as usize] = f.kana.clone();
                    "22"
                }
                None => "23",
            }
        }
        ResidentEvent::AliasSet {
            alias,
            notified_date,
            ..
        } => {
            notified(&mut row, notified_date);
            match alias {
                Some(a) => {
                    row[F::Alias as usize] = a.name.clone();
                    row[F::FamilyKana as usize] = a.kana.clone();
                    "24"
                }
                None => "25",
            }
        }
        ResidentEvent::AddresseeNumberAssigned {
            addressee_number, ..
        } => {
            row[F::Note as usize] = addressee_number.clone();
            "26"
        }
    };
    row[F::Event as usize] = code.into();
    row
}

/// Reads an event from a 01-02 row whose fields passed the generic checks.
pub(crate) fn parse_history(row: &[String]) -> Result<Dated, FieldFault> {
    use history::F;
    let code = row[F::ResidentCode as usize].clone();
    if let Err(e) = ResidentCode::parse(&code) {
        return Err((F::ResidentCode as usize, e.to_string()));
    }
    if row[F::Identity as usize] != code {
        return Err((
            F::Identity as usize,
            "識別番号 must be the 住民票コード in this format version".into(),
        ));
    }
    let date = |f: F| -> Result<Option<NaiveDate>, FieldFault> {
        parse_date8(&row[f as usize]).map_err(|r| (f as usize, r))
    };
    let req = |f: F, what: &str| -> Result<NaiveDate, FieldFault> {
        date(f)?.ok_or((f as usize, format!("{what} is required for this 異動事由")))
    };
    let effective = req(F::EffectiveDate, "異動日")?;
    let text = |f: F| row[f as usize].clone();
    let ev = row[F::Event as usize].as_str();
    let notified = || req(F::NotifiedDate, "届出日");
    let event = match ev {
        "01" | "02" | "03" | "04" => ResidentEvent::Entered {
            resident_code: code,
            household_id: text(F::Household),
            relationship: text(F::Relationship),
            person: get_person(row, &HISTORY_PERSON)?,
            address: text(F::Address),
            katagaki: text(F::Katagaki),
            reason: match ev {
                "01" => EntryReason::MoveIn {
                    previous_address: text(F::OtherAddress),
                },
                "02" => EntryReason::Birth,
                "03" => EntryReason::ExOfficio {
                    reason: text(F::Note),
                },
                _ => EntryReason::MoveInNotice {
                    previous_address: text(F::OtherAddress),
                    notice_number: text(F::NoticeNumber),
                },
            },
            notified_date: notified()?,
        },
        "10" => ResidentEvent::Relocated {
            resident_code: code,
            address: text(F::Address),
            katagaki: text(F::Katagaki),
            notified_date: notified()?,
        },
        "11" => ResidentEvent::MoveOutPlanned {
            resident_code: code,
            planned_date: req(F::Date, "期日 (転出予定日)")?,
            destination: text(F::OtherAddress),
            notified_date: notified()?,
        },
        "12" | "13" | "14" => ResidentEvent::Removed {
            resident_code: code,
            reason: match ev {
                "12" => RemovalReason::MovedOut {
                    destination: text(F::OtherAddress),
                },
                "13" => RemovalReason::Died,
                _ => RemovalReason::ExOfficio {
                    reason: text(F::Note),
                },
            },
            notified_date: notified()?,
        },
        "20" => ResidentEvent::HouseholdChanged {
            resident_code: code,
            household_id: text(F::Household),
            relationship: text(F::Relationship),
            notified_date: notified()?,
        },
        "21" => ResidentEvent::NameChanged {
            resident_code: code,
            family_name: text(F::FamilyName),
            given_name: text(F::GivenName),
            family_kana: text(F::FamilyKana),
            given_kana: text(F::GivenKana),
            notified_date: notified()?,
        },
        "30" => ResidentEvent::Corrected {
            resident_code: code,
            field: text(F::Item),
            value: text(F::Value),
            reason: text(F::Note),
        },
        "40" => ResidentEvent::ProtectionSet {
            resident_code: code,
            until: req(F::Date, "期日 (支援措置期限)")?,
            reason: text(F::Note),
        },
        "41" => ResidentEvent::ProtectionLifted {
            resident_code: code,
            reason: text(F::Note),
        },
        "15" => ResidentEvent::MoveOutCancelled {
            resident_code: code,
            reason: text(F::Note),
            notified_date: notified()?,
        },
        "22" => ResidentEvent::FormerSurnameSet {
            resident_code: code,
            former_surname: Some(FormerSurname {
                name: text(F::FamilyName),
                kana: text(F::FamilyKana),
            }),
            notified_date: notified()?,
        },
        "23" => ResidentEvent::FormerSurnameSet {
            resident_code: code,
            former_surname: None,
            notified_date: notified()?,
        },
        "24" => ResidentEvent::AliasSet {
            resident_code: code,
            alias: Some(Alias {
                name: text(F::Alias),
                kana: text(F::FamilyKana),
            }),
            notified_date: notified()?,
        },
        "25" => ResidentEvent::AliasSet {
            resident_code: code,
            alias: None,
            notified_date: notified()?,
        },
        "26" => ResidentEvent::AddresseeNumberAssigned {
            resident_code: code,
            addressee_number: text(F::Note),
        },
        _ => {
            return Err((
                F::Event as usize,
                "not a 異動事由 code of this format".into(),
            ));
        }
    };
    Ok(Dated { effective, event })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn every_event_kind_round_trips_through_its_row() {
        let code = ResidentCode::from_ten_digits("1000000001")
            .expect("code")
            .as_str()
            .to_string();
        let person = Person {
            family_name: "𠮷田".into(),
            given_name: "葛\u{E0100}子".into(),
            family_kana: "ヨシダ".into(),
            given_kana: "カツコ".into(),
            romaji: None,
            alias: None,
            birth_date: d(1970, 3, 4),
            sex: Sex::Female,
            citizenship: Citizenship::Japanese {
                honseki: "徳島県徳島市幸町二丁目1番地".into(),
                hittosha: "𠮷田　一郎".into(),
            },
        };
        let foreign = Person {
            romaji: Some("WANG LI".into()),
            alias: Some("王".into()),
            citizenship: Citizenship::Foreign {
                nationality: "中国".into(),
                residence_status: "永住者".into(),
                period_until: Some(d(2030, 1, 1)),
            },
            ..person.clone()
        };
        let events = vec![
            ResidentEvent::Entered {
                resident_code: code.clone(),
                household_id: "H1".into(),
                relationship: "世帯主".into(),
                person: person.clone(),
                address: "徳島県徳島市幸町二丁目5番地".into(),
                katagaki: "".into(),
                reason: EntryReason::MoveIn {
                    previous_address: "東京都千代田区".into(),
                },
                notified_date: d(2020, 1, 5),
            },
            ResidentEvent::Entered {
                resident_code: code.clone(),
                household_id: "H1".into(),
                relationship: "妻".into(),
                person: foreign,
                address: "a".into(),
                katagaki: "b".into(),
                reason: EntryReason::MoveInNotice {
                    previous_address: "c".into(),
                    notice_number: "N-1".into(),
                },
                notified_date: d(2020, 1, 5),
            },
            ResidentEvent::Relocated {
                resident_code: code.clone(),
                address: "x".into(),
                katagaki: "y".into(),
                notified_date: d(2021, 1, 1),
            },
            ResidentEvent::MoveOutPlanned {
                resident_code: code.clone(),
                planned_date: d(2022, 1, 1),
                destination: "z".into(),
                notified_date: d(2021, 12, 1),
            },
            ResidentEvent::Removed {
                resident_code: code.clone(),
                reason: RemovalReason::ExOfficio {
                    reason: "実態調査".into(),
                },
                notified_date: d(2022, 1, 1),
            },
            ResidentEvent::HouseholdChanged {
                resident_code: code.clone(),
                household_id: "H2".into(),
                relationship: "世帯主".into(),
                notified_date: d(2022, 2, 1),
            },
            ResidentEvent::NameChanged {
                resident_code: code.clone(),
                family_name: "髙橋".into(),
                given_name: "".into(),
                family_kana: "タカハシ".into(),
                given_kana: "".into(),
                notified_date: d(2022, 2, 1),
            },
            ResidentEvent::Corrected {
                resident_code: code.clone(),
                field: "katagaki".into(),
                value: "".into(),
                reason: "誤記".into(),
            },
            ResidentEvent::ProtectionSet {
                resident_code: code.clone(),
                until: d(2027, 1, 1),
                reason: "DV".into(),
            },
            ResidentEvent::ProtectionLifted {
                resident_code: code.clone(),
                reason: "期間満了".into(),
            },
            ResidentEvent::MoveOutCancelled {
                resident_code: code.clone(),
                reason: "転出を取りやめたため本人申出".into(),
                notified_date: d(2022, 1, 3),
            },
            ResidentEvent::FormerSurnameSet {
                resident_code: code.clone(),
                former_surname: Some(FormerSurname {
                    name: "佐藤".into(),
                    kana: "サトウ".into(),
                }),
                notified_date: d(2022, 1, 4),
            },
            ResidentEvent::FormerSurnameSet {
                resident_code: code.clone(),
                former_surname: None,
                notified_date: d(2022, 1, 5),
            },
            ResidentEvent::AliasSet {
                resident_code: code.clone(),
                alias: Some(Alias {
                    name: "王 太郎".into(),
                    kana: "オウ タロウ".into(),
                }),
                notified_date: d(2022, 1, 6),
            },
            ResidentEvent::AliasSet {
                resident_code: code.clone(),
                alias: None,
                notified_date: d(2022, 1, 7),
            },
            ResidentEvent::AddresseeNumberAssigned {
                resident_code: code.clone(),
                addressee_number: "000000000000019".into(),
            },
        ];
        for (i, event) in events.into_iter().enumerate() {
            let dated = Dated {
                effective: d(2020, 1, 1 + i as u32),
                event,
            };
            let row = history_row("36201", i as u64 + 1, &dated);
            assert_eq!(parse_history(&row), Ok(dated.clone()));
        }
    }
}
