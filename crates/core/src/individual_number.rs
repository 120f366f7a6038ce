//! 個人番号 (My Number), the 12-digit number of the マイナンバー法.
//!
//! # The check digit (検査用数字)
//!
//! 行政手続における特定の個人を識別するための番号の利用等に関する法律施行令 第8条, with the
//! formula in 総務省令 第85号 (平成26年) 第5条:
//!
//! ```text
//! r     = (Σ_{n=1}^{11} Pn × Qn) mod 11
//! check = 0 if r ≤ 1, else 11 − r
//! Pn    = the n-th digit counted from the right of the eleven leading digits
//! Qn    = n + 1 for 1 ≤ n ≤ 6, n − 5 for 7 ≤ n ≤ 11
//! ```
//!
//! Read from the left, the weights are 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2. Example:
//! 12345678901 → 1·6 + 2·5 + 3·4 + 4·3 + 5·2 + 6·7 + 7·6 + 8·5 + 9·4 + 0·3 + 1·2 = 212;
//! 212 mod 11 = 3; 11 − 3 = 8 → 123456789018.
//!
//! A single-digit change of the eleven leading digits goes unnoticed only when it moves the
//! remainder between 0 and 1 (both give check digit 0).
//!
//! # Sensitivity
//!
//! A 個人番号 may be collected and kept only where the law allows. `Debug` prints
//! `IndividualNumber(****)` and no [`CodeError`] ever contains the digits, so the number does
//! not leak into logs by accident; `Display`, [`as_str`] and `Serialize` give it, and callers
//! choose when to use them.
//!
//! [`as_str`]: IndividualNumber::as_str

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digits;
use crate::error::{CodeError, CodeKind, ShownInput};

const KIND: CodeKind = CodeKind::IndividualNumber;

/// A valid 個人番号: twelve ASCII digits whose last is the 検査用数字 of the first eleven.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndividualNumber([u8; 12]);

/// The 検査用数字 for the eleven leading digits of a 個人番号 (see the [module docs](self)).
///
/// Leading and trailing ASCII whitespace is ignored.
pub fn check_digit(eleven: &str) -> Result<u8, CodeError> {
    let eleven = digits::exactly::<11>(KIND, eleven, |_| {
        "give the eleven leading digits of the 個人番号, without the check digit".to_owned()
    })?;
    Ok(check_for(&eleven))
}

fn remainder(eleven: &[u8; 11]) -> u32 {
    // P_n is the n-th digit from the right; Q_n = n + 1 (n ≤ 6), n − 5 (n ≥ 7).
    eleven
        .iter()
        .rev()
        .zip(1u32..)
        .map(|(p, n)| {
            let q = if n <= 6 { n + 1 } else { n - 5 };
            digits::value(*p) * q
        })
        .sum::<u32>()
        % 11
}

fn check_from_remainder(r: u32) -> u8 {
    // r < 11, so the result is 0..=9 and fits in u8.
    if r <= 1 { 0 } else { (11 - r) as u8 }
}

fn check_for(eleven: &[u8; 11]) -> u8 {
    check_from_remainder(remainder(eleven))
}

impl IndividualNumber {
    /// Reads a 12-digit 個人番号, ignoring surrounding ASCII whitespace; rejects anything but
    /// half-width digits (including the spaces printed on the 個人番号カード), a wrong number
    /// of digits and a wrong check digit.
    pub fn parse(input: &str) -> Result<IndividualNumber, CodeError> {
        let digits = digits::exactly::<12>(KIND, input, |_| {
            format!(
                "a 個人番号 is eleven digits followed by a check digit; {}",
                KIND.remedy()
            )
        })?;
        let [leading @ .., given] = digits;
        let expected = check_for(&leading);
        let got = digits::value(given) as u8;
        if expected != got {
            return Err(CodeError::WrongCheckDigit {
                kind: KIND,
                input: ShownInput::new(KIND, digits::as_str(&digits)),
                expected,
                got,
            });
        }
        Ok(IndividualNumber(digits))
    }

    /// Builds the number from its eleven leading digits, computing the check digit.
    pub fn from_eleven_digits(eleven: &str) -> Result<IndividualNumber, CodeError> {
        let eleven = digits::exactly::<11>(KIND, eleven, |given| {
            if given.len() == 12 {
                "this looks like a complete 個人番号: read it with IndividualNumber::parse, or \
                 give only its eleven leading digits"
                    .to_owned()
            } else {
                "give the eleven leading digits of the 個人番号, without the check digit".to_owned()
            }
        })?;
        let check = digits::ascii(check_for(&eleven));
        let mut digits = [b'0'; 12];
        digits[..11].copy_from_slice(&eleven);
        digits[11] = check;
        Ok(IndividualNumber(digits))
    }

    /// The twelve digits. Sensitive: see the [module docs](self).
    pub fn as_str(&self) -> &str {
        digits::as_str(&self.0)
    }
}

/// Prints the twelve digits. Sensitive: see the [module docs](self).
impl fmt::Display for IndividualNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Withholds the digits: `IndividualNumber(****)`.
impl fmt::Debug for IndividualNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IndividualNumber(****)")
    }
}

impl FromStr for IndividualNumber {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IndividualNumber::parse(s)
    }
}

impl Serialize for IndividualNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IndividualNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::serde_str::deserialize(deserializer, "a 12-digit 個人番号")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde_str::capture::{Scalar, scalar};
    use proptest::prelude::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as DeError, StrDeserializer};

    fn eleven(s: &str) -> [u8; 11] {
        <[u8; 11]>::try_from(s.as_bytes()).expect("eleven digits")
    }

    #[test]
    fn worked_example_from_the_docs() {
        assert_eq!(remainder(&eleven("12345678901")), 3);
        assert_eq!(check_digit("12345678901"), Ok(8));
        let number = IndividualNumber::from_eleven_digits("12345678901").expect("digits");
        assert_eq!(number.as_str(), "123456789018");
    }

    #[test]
    fn weights_from_the_left_are_6_5_4_3_2_7_6_5_4_3_2() {
        let weights = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
        for (position, weight) in weights.iter().enumerate() {
            let mut digits = [b'0'; 11];
            digits[position] = b'1';
            assert_eq!(remainder(&digits), *weight, "position {position}");
        }
    }

    #[test]
    fn published_examples_are_valid() {
        // 123456789018 and 023456789013 are the usual test numbers; 123456789000 has r = 1.
        for valid in [
            "123456789018",
            "023456789013",
            "123456789000",
            "983205673214",
        ] {
            let number = IndividualNumber::parse(valid).expect(valid);
            assert_eq!(number.to_string(), valid);
        }
        for invalid in [
            "123456789012",
            "123456789019",
            "123456789001",
            "983205673210",
        ] {
            assert!(
                matches!(
                    IndividualNumber::parse(invalid),
                    Err(CodeError::WrongCheckDigit { .. })
                ),
                "{invalid}"
            );
        }
    }

    #[test]
    fn debug_and_errors_never_show_the_number() {
        let number = IndividualNumber::parse("123456789018").expect("valid");
        assert_eq!(format!("{number:?}"), "IndividualNumber(****)");
        assert_eq!(
            format!("{:?}", Some(number)),
            "Some(IndividualNumber(****))"
        );
        assert_eq!(number.to_string(), "123456789018");
        for input in [
            "123456789019",
            "12345678901",
            "1234567890189",
            "1234 5678 9018",
            "12345678901８",
        ] {
            let err = IndividualNumber::parse(input).expect_err("must be refused");
            for text in [err.to_string(), format!("{err:?}")] {
                assert!(!text.contains("12345678"), "{input}: {text}");
                assert!(!text.contains("1234 5678"), "{input}: {text}");
            }
        }
    }

    #[test]
    fn messages_say_what_to_do() {
        let err = IndividualNumber::parse("123456789019").expect_err("must be refused");
        assert_eq!(
            err.to_string(),
            "individual number (個人番号) has a wrong check digit: expected 8 (got 9); check \
             the number against the 個人番号カード, 通知カード or 個人番号通知書"
        );
        let err = IndividualNumber::parse("1234 5678 9018").expect_err("must be refused");
        assert_eq!(
            err.to_string(),
            "individual number (個人番号) contains ' ' at position 5, but only half-width \
             digits 0–9 are allowed; remove spaces and hyphens between the digits"
        );
        let err = IndividualNumber::parse("12345678901").expect_err("must be refused");
        assert!(matches!(
            err,
            CodeError::WrongLength {
                got: 11,
                expected: 12,
                ..
            }
        ));
        assert!(
            IndividualNumber::from_eleven_digits("123456789018")
                .expect_err("must be refused")
                .to_string()
                .contains("IndividualNumber::parse")
        );
    }

    #[test]
    fn serde_is_a_validated_string() {
        let number = IndividualNumber::parse("123456789018").expect("valid");
        assert_eq!(scalar(&number), Ok(Scalar::Str("123456789018".to_owned())));
        let de: StrDeserializer<'_, DeError> = "123456789018".into_deserializer();
        assert_eq!(IndividualNumber::deserialize(de), Ok(number));
        let de: StrDeserializer<'_, DeError> = "123456789019".into_deserializer();
        let err = IndividualNumber::deserialize(de).expect_err("must be refused");
        assert!(!err.to_string().contains("12345678"), "{err}");
    }

    proptest! {
        #[test]
        fn from_eleven_digits_then_parse_round_trips(base in "[0-9]{11}") {
            let number = IndividualNumber::from_eleven_digits(&base).expect("eleven digits");
            prop_assert_eq!(&number.as_str()[..11], base.as_str());
            prop_assert_eq!(IndividualNumber::parse(number.as_str()), Ok(number));
            prop_assert_eq!(number.to_string().parse::<IndividualNumber>(), Ok(number));
        }

        #[test]
        fn single_digit_changes_are_detected_unless_remainder_moves_between_0_and_1(
            base in "[0-9]{11}",
        ) {
            let base = eleven(&base);
            let r = remainder(&base);
            for position in 0..11 {
                for digit in b'0'..=b'9' {
                    if digit == base[position] {
                        continue;
                    }
                    let mut changed = base;
                    changed[position] = digit;
                    let r2 = remainder(&changed);
                    prop_assert_ne!(r, r2);
                    let same_check = check_from_remainder(r) == check_from_remainder(r2);
                    prop_assert_eq!(same_check, matches!((r, r2), (0, 1) | (1, 0)));
                }
            }
        }

        #[test]
        fn changing_the_check_digit_is_always_detected(base in "[0-9]{11}", wrong in 0u8..10) {
            let right = check_digit(&base).expect("digits");
            prop_assume!(wrong != right);
            let is_wrong_check_digit = matches!(
                IndividualNumber::parse(&format!("{base}{wrong}")),
                Err(CodeError::WrongCheckDigit { .. })
            );
            prop_assert!(is_wrong_check_digit);
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,16}") {
            // Whatever it is given, it answers: a value that prints as
            // something it reads back, or an error that says what is wrong.
            match IndividualNumber::parse(&input) {
                Ok(v) => prop_assert_eq!(IndividualNumber::parse(&v.to_string()), Ok(v)),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
