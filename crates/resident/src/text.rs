//! The free texts of a 異動 and their limits: what each may hold, and which of them a
//! certificate prints (those must also be printable in the certificate font, which the
//! server checks with the renderer before recording the 異動).
//!
//! The limits are in characters (an IVS sequence counts as one): the 住民記録システム標準仕様書
//! fixes items, not lengths, so these follow what fits the certificate's cells when shrunk to
//! the smallest legible size and what the migration layout (`中間標準レイアウト`) carries.
//! `docs/conformance.md` records them as an assumption.

use crate::ResidentError;
use crate::event::{Citizenship, EntryReason, Person, RemovalReason, ResidentEvent};

/// One free text of a 異動.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventText<'a> {
    /// The field, as the API names it.
    pub field: &'static str,
    pub value: &'a str,
    /// Longest allowed, in characters.
    pub max_chars: usize,
    /// Printed on a certificate (so it must be printable in the certificate font).
    pub printed: bool,
}

const NAME: usize = 40;
const KANA: usize = 60;
const ROMAJI: usize = 100;
const ADDRESS: usize = 100;
const KATAGAKI: usize = 60;
const RELATIONSHIP: usize = 20;
const SHORT: usize = 30;
const REASON: usize = 200;

fn text<'a>(field: &'static str, value: &'a str, max_chars: usize, printed: bool) -> EventText<'a> {
    EventText {
        field,
        value,
        max_chars,
        printed,
    }
}

fn person_texts<'a>(p: &'a Person, out: &mut Vec<EventText<'a>>) {
    out.push(text("family_name", &p.family_name, NAME, true));
    out.push(text("given_name", &p.given_name, NAME, true));
    out.push(text("family_kana", &p.family_kana, KANA, true));
    out.push(text("given_kana", &p.given_kana, KANA, true));
    if let Some(r) = &p.romaji {
        out.push(text("romaji", r, ROMAJI, true));
    }
    if let Some(a) = &p.alias {
        out.push(text("alias", a, NAME, true));
    }
    match &p.citizenship {
        Citizenship::Japanese { honseki, hittosha } => {
            out.push(text("honseki", honseki, ADDRESS, true));
            out.push(text("hittosha", hittosha, NAME, true));
        }
        Citizenship::Foreign {
            nationality,
            residence_status,
            ..
        } => {
            out.push(text("nationality", nationality, SHORT, true));
            out.push(text("residence_status", residence_status, SHORT, true));
        }
    }
}

/// The limit of a 職権修正 value, by the field it corrects (dates and codes are checked as such).
fn corrected_limit(field: &str) -> usize {
    match field {
        "family_name" | "given_name" | "hittosha" | "alias" => NAME,
        "family_kana" | "given_kana" => KANA,
        "katagaki" => KATAGAKI,
        "relationship" => RELATIONSHIP,
        "nationality" | "residence_status" => SHORT,
        _ => ADDRESS,
    }
}

impl ResidentEvent {
    /// Every free text this 異動 records.
    pub fn texts(&self) -> Vec<EventText<'_>> {
        let mut out = Vec::new();
        match self {
            ResidentEvent::Entered {
                relationship,
                person,
                address,
                katagaki,
                reason,
                ..
            } => {
                person_texts(person, &mut out);
                out.push(text("relationship", relationship, RELATIONSHIP, true));
                out.push(text("address", address, ADDRESS, true));
                out.push(text("katagaki", katagaki, KATAGAKI, true));
                match reason {
                    EntryReason::MoveIn { previous_address }
                    | EntryReason::MoveInNotice {
                        previous_address, ..
                    } => out.push(text("previous_address", previous_address, ADDRESS, true)),
                    EntryReason::ExOfficio { reason } => {
                        out.push(text("reason", reason, REASON, false))
                    }
                    EntryReason::Birth => {}
                }
            }
            ResidentEvent::Relocated {
                address, katagaki, ..
            } => {
                out.push(text("address", address, ADDRESS, true));
                out.push(text("katagaki", katagaki, KATAGAKI, true));
            }
            ResidentEvent::MoveOutPlanned { destination, .. } => {
                out.push(text("destination", destination, ADDRESS, true));
            }
            ResidentEvent::MoveOutCancelled { reason, .. } => {
                out.push(text("reason", reason, REASON, false));
            }
            ResidentEvent::FormerSurnameSet {
                former_surname: Some(f),
                ..
            } => {
                out.push(text("former_surname", &f.name, NAME, true));
                out.push(text("former_surname_kana", &f.kana, KANA, true));
            }
            ResidentEvent::FormerSurnameSet { .. } => {}
            ResidentEvent::AliasSet { alias: Some(a), .. } => {
                out.push(text("alias", &a.name, NAME, true));
                out.push(text("alias_kana", &a.kana, KANA, true));
            }
            ResidentEvent::AliasSet { .. } | ResidentEvent::AddresseeNumberAssigned { .. } => {}
            ResidentEvent::Removed { reason, .. } => match reason {
                RemovalReason::MovedOut { destination } => {
                    out.push(text("destination", destination, ADDRESS, true))
                }
                RemovalReason::ExOfficio { reason } => {
                    out.push(text("reason", reason, REASON, false))
                }
                RemovalReason::Died => {}
            },
            ResidentEvent::HouseholdChanged { relationship, .. } => {
                out.push(text("relationship", relationship, RELATIONSHIP, true));
            }
            ResidentEvent::NameChanged {
                family_name,
                given_name,
                family_kana,
                given_kana,
                ..
            } => {
                out.push(text("family_name", family_name, NAME, true));
                out.push(text("given_name", given_name, NAME, true));
                out.push(text("family_kana", family_kana, KANA, true));
                out.push(text("given_kana", given_kana, KANA, true));
            }
            ResidentEvent::Corrected {
                field,
                value,
                reason,
                ..
            } => {
                out.push(text("value", value, corrected_limit(field), true));
                out.push(text("reason", reason, REASON, false));
            }
            ResidentEvent::ProtectionSet { reason, .. }
            | ResidentEvent::ProtectionLifted { reason, .. } => {
                out.push(text("reason", reason, REASON, false));
            }
        }
        out
    }
}

/// Characters as a person counts them: a base character and its variation selector (IVS) are
/// one.
pub fn char_count(s: &str) -> usize {
    s.chars()
        .filter(|c| !matches!(*c as u32, 0xFE00..=0xFE0F | 0xE0100..=0xE01EF))
        .count()
}

/// Whether `s` holds a character outside JIS X 0208 (the 常用 set of the older systems and
/// of Shift_JIS), or a variant written with an IVS: a 外字 to the clerk, shown marked so that
/// the printed form is checked against the 届書.
pub fn has_gaiji(s: &str) -> bool {
    let mut buf = [0u8; 4];
    s.chars().any(|c| {
        let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(c.encode_utf8(&mut buf));
        // encoding_rs's Shift_JIS is Windows-31J: its NEC row 13, the IBM extensions and the
        // user-defined area are not JIS X 0208 either.
        unmappable || matches!(bytes.first(), Some(0x87 | 0xED..=0xEE | 0xF0..=0xFC))
    })
}

/// Refuses a 異動 whose text is longer than its field allows.
pub fn check_lengths(event: &ResidentEvent) -> Result<(), ResidentError> {
    for t in event.texts() {
        let n = char_count(t.value);
        if n > t.max_chars {
            return Err(ResidentError::Invalid {
                field: t.field,
                reason: format!(
                    "{} 文字まで入力できます({n} 文字あります)。略さずに入らない場合は、記載の仕方を確認してください",
                    t.max_chars
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relocated(address: &str) -> ResidentEvent {
        ResidentEvent::Relocated {
            resident_code: "12345678901".into(),
            address: address.into(),
            katagaki: String::new(),
            notified_date: chrono::NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
        }
    }

    #[test]
    fn gaiji_are_what_jis_x_0208_lacks_or_an_ivs_selects() {
        assert!(!has_gaiji("山田　花子ヤマダ"));
        assert!(
            has_gaiji("髙橋"),
            "髙 is not in JIS X 0208 (an IBM extension)"
        );
        assert!(has_gaiji("①"), "NEC row 13");
        assert!(has_gaiji("葛\u{E0102}城"), "an IVS variant");
        assert!(has_gaiji("𠮷野"), "outside the BMP");
    }

    #[test]
    fn an_ivs_sequence_counts_as_one_character() {
        assert_eq!(char_count("葛\u{E0102}城"), 2);
        assert_eq!(char_count("やまだ"), 3);
    }

    #[test]
    fn a_text_at_its_limit_passes_and_one_more_is_refused_with_the_field() {
        let at_limit = "一".repeat(ADDRESS);
        assert!(check_lengths(&relocated(&at_limit)).is_ok());
        let over = "一".repeat(ADDRESS + 1);
        match check_lengths(&relocated(&over)) {
            Err(ResidentError::Invalid { field, reason }) => {
                assert_eq!(field, "address");
                assert!(reason.contains("100 文字まで") && reason.contains("101 文字"));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn reasons_are_limited_but_not_printed() {
        let e = ResidentEvent::ProtectionSet {
            resident_code: "12345678901".into(),
            until: chrono::NaiveDate::from_ymd_opt(2027, 4, 1).expect("date"),
            reason: "DV".into(),
        };
        let texts = e.texts();
        assert_eq!(texts.len(), 1);
        assert!(!texts[0].printed);
    }
}
