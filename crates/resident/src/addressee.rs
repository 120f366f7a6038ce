//! 宛名番号: the number every business system of the municipality knows a person by (the
//! key the 基本データリスト links them with). Given once, when a person first enters the
//! register, and never reused.
//!
//! Assumption (docs/conformance.md): fifteen digits, the last a check digit by モジュラス11
//! with weights 2 to 7 from the rightmost digit of the body (標準仕様書 §1.1.13: 「M11W2～7」),
//! 0 when the remainder is 0 or 1.

use crate::{ResidentError, ResidentEvent};

/// Digits of a 宛名番号, check digit included.
pub const ADDRESSEE_NUMBER_DIGITS: usize = 15;

/// The check digit of `body` (ASCII digits): モジュラス11, weights 2, 3, 4, 5, 6, 7, 2, 3 …
/// from the rightmost digit.
pub fn m11_check_digit(body: &str) -> u8 {
    let sum: u32 = body
        .bytes()
        .rev()
        .zip((2..=7).cycle())
        .map(|(d, w)| u32::from(d.wrapping_sub(b'0')) * w)
        .sum();
    match sum % 11 {
        0 | 1 => 0,
        r => (11 - r) as u8,
    }
}

/// Whether `number` is a 宛名番号: fifteen ASCII digits whose last is the check digit of the
/// other fourteen.
pub fn check_addressee_number(number: &str) -> Result<(), ResidentError> {
    let invalid = |reason: String| ResidentError::Invalid {
        field: "addressee_number",
        reason,
    };
    if number.len() != ADDRESSEE_NUMBER_DIGITS || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!(
            "宛名番号「{number}」は半角数字{ADDRESSEE_NUMBER_DIGITS}桁(末尾1桁はチェックデジット)で入力してください"
        )));
    }
    let (body, check) = number.split_at(ADDRESSEE_NUMBER_DIGITS - 1);
    let expected = m11_check_digit(body);
    if check != expected.to_string() {
        return Err(invalid(format!(
            "宛名番号「{number}」のチェックデジットが合いません(末尾は {expected} のはずです)。番号を確かめてください"
        )));
    }
    Ok(())
}

/// The 宛名番号 after `highest` (the highest given so far in this municipality, if any): the
/// next body with its check digit; the first is 00000000000001 and its check digit.
pub fn next_addressee_number(highest: Option<&str>) -> String {
    let body = highest
        .and_then(|h| h.get(..ADDRESSEE_NUMBER_DIGITS - 1))
        .and_then(|b| b.parse::<u64>().ok())
        .map_or(1, |b| b + 1);
    let body = format!("{body:0width$}", width = ADDRESSEE_NUMBER_DIGITS - 1);
    format!("{body}{}", m11_check_digit(&body))
}

/// 宛名番号 for the people who enter in `events` (a migration's 異動, in ledger order) without
/// being given one there (a data set of a source system that had none): the numbers after the
/// highest the events give, in the order the people entered.
pub fn numbers_for_those_without<'a>(
    events: impl IntoIterator<Item = &'a ResidentEvent>,
) -> Vec<ResidentEvent> {
    let mut entered: Vec<&str> = Vec::new();
    let mut numbered = std::collections::HashSet::new();
    let mut highest: Option<&str> = None;
    for e in events {
        match e {
            ResidentEvent::Entered { .. } => entered.push(e.resident_code()),
            ResidentEvent::AddresseeNumberAssigned {
                resident_code,
                addressee_number,
            } => {
                numbered.insert(resident_code.as_str());
                if highest.is_none_or(|h| addressee_number.as_str() > h) {
                    highest = Some(addressee_number);
                }
            }
            _ => {}
        }
    }
    let mut next = highest.map(str::to_string);
    let mut seen = std::collections::HashSet::new();
    entered
        .into_iter()
        .filter(|code| !numbered.contains(code) && seen.insert(*code))
        .map(|code| {
            let number = next_addressee_number(next.as_deref());
            next = Some(number.clone());
            ResidentEvent::AddresseeNumberAssigned {
                resident_code: code.to_string(),
                addressee_number: number,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_digit_is_modulus_11_with_weights_2_to_7() {
        // 1×2 = 2; 11 − 2 = 9.
        assert_eq!(m11_check_digit("00000000000001"), 9);
        // 2×2 + 1×3 = 7; 11 − 7 = 4.
        assert_eq!(m11_check_digit("00000000000012"), 4);
        // The weights wrap after 7: the seventh digit from the right weighs 2 again.
        // 1×2 (7th) = 2 → 9; the same digit in 6th place weighs 7: 7 → 4.
        assert_eq!(m11_check_digit("00000001000000"), 9);
        assert_eq!(m11_check_digit("00000000100000"), 4);
        // 5×2 + 3×3 = 19, remainder 8: 3.
        assert_eq!(m11_check_digit("00000000000035"), 3);
        // Remainders 0 and 1 give 0: 1×2 + 3×3 = 11 (remainder 0), 6×2 = 12 (remainder 1).
        assert_eq!(m11_check_digit("00000000000031"), 0);
        assert_eq!(m11_check_digit("00000000000006"), 0);
    }

    #[test]
    fn numbers_are_given_in_order_and_check_themselves() {
        let first = next_addressee_number(None);
        assert_eq!(first, "000000000000019");
        assert_eq!(check_addressee_number(&first), Ok(()));
        let second = next_addressee_number(Some(&first));
        assert_eq!(&second[..14], "00000000000002");
        assert_eq!(check_addressee_number(&second), Ok(()));
        // A typing error in any digit of this number is found (M11 misses a change only
        // between remainders 0 and 1, which share the check digit 0).
        for i in 0..ADDRESSEE_NUMBER_DIGITS {
            let mut typo = second.clone().into_bytes();
            typo[i] = if typo[i] == b'9' { b'8' } else { typo[i] + 1 };
            let typo = String::from_utf8(typo).expect("digits");
            assert!(check_addressee_number(&typo).is_err(), "{typo}");
        }
        assert!(check_addressee_number("12345").is_err());
        assert!(check_addressee_number("00000000000001a").is_err());
    }
}
