//! 住民票コード, the 11-digit number of a resident record in the 住民基本台帳ネットワーク.
//!
//! # The check digit (検査数字)
//!
//! 住民基本台帳法施行規則 第1条: a 住民票コード is ten randomly generated digits followed by
//! one 検査数字 computed by a formula the Minister fixes (総務大臣が定める算式). The formula
//! has the same shape as the one for the 個人番号 (施行令 第8条, 総務省令 第85号 第5条), over
//! ten digits instead of eleven:
//!
//! ```text
//! r     = (Σ_{n=1}^{10} Pn × Qn) mod 11
//! check = 0 if r ≤ 1, else 11 − r
//! Pn    = the n-th digit counted from the right of the ten leading digits (n = 1 is the
//!         rightmost, i.e. the digit just before the check digit)
//! Qn    = n + 1 for 1 ≤ n ≤ 6, n − 5 for 7 ≤ n ≤ 10
//! ```
//!
//! The weights are thus 2, 3, 4, 5, 6, 7, 2, 3, 4, 5 from the right, or, read from the left
//! over the ten leading digits, **5, 4, 3, 2, 7, 6, 5, 4, 3, 2**.
//!
//! Worked example: 2472705960 → 2·5 + 4·4 + 7·3 + 2·2 + 7·7 + 0·6 + 5·5 + 9·4 + 6·3 + 0·2
//! = 179; 179 mod 11 = 3; 11 − 3 = 8 → 住民票コード 24727059608.
//!
//! # What the check digit catches
//!
//! Every weight is non-zero modulo 11, so a change of one of the ten leading digits always
//! changes the remainder; it goes unnoticed only when it moves the remainder between 0 and 1
//! (both give check digit 0). A change of the check digit itself is always detected.
//!
//! # Sensitivity
//!
//! Use of the 住民票コード is restricted by law (住民基本台帳法 第30条の38 ff.). Its `Debug`
//! output and every [`CodeError`] about it withhold the digits; `Display` and [`as_str`]
//! give them, for the callers that are allowed to.
//!
//! [`as_str`]: ResidentCode::as_str

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digits;
use crate::error::{CodeError, CodeKind, ShownInput};

const KIND: CodeKind = CodeKind::ResidentCode;

/// A valid 住民票コード: eleven ASCII digits whose last is the 検査数字 of the first ten.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResidentCode([u8; 11]);

/// The 検査数字 for the ten leading digits of a 住民票コード (see the [module docs](self)).
///
/// Leading and trailing ASCII whitespace is ignored.
pub fn check_digit(ten: &str) -> Result<u8, CodeError> {
    let ten = digits::exactly::<10>(KIND, ten, |_| {
        "give the ten leading digits of the 住民票コード, without the check digit".to_owned()
    })?;
    Ok(check_for(&ten))
}

fn remainder(ten: &[u8; 10]) -> u32 {
    // P_n is the n-th digit from the right; Q_n = n + 1 (n ≤ 6), n − 5 (n ≥ 7).
    ten.iter()
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

fn check_for(ten: &[u8; 10]) -> u8 {
    check_from_remainder(remainder(ten))
}

impl ResidentCode {
    /// Reads an 11-digit 住民票コード, ignoring surrounding ASCII whitespace; rejects anything
    /// but half-width digits, a wrong number of digits and a wrong check digit.
    pub fn parse(input: &str) -> Result<ResidentCode, CodeError> {
        let digits = digits::exactly::<11>(KIND, input, |_| {
            format!(
                "a 住民票コード is ten digits followed by a check digit; {}",
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
        Ok(ResidentCode(digits))
    }

    /// Builds the code from its ten leading digits, computing the check digit.
    pub fn from_ten_digits(ten: &str) -> Result<ResidentCode, CodeError> {
        let ten = digits::exactly::<10>(KIND, ten, |given| {
            if given.len() == 11 {
                "this looks like a complete 住民票コード: read it with ResidentCode::parse, or \
                 give only its ten leading digits"
                    .to_owned()
            } else {
                "give the ten leading digits of the 住民票コード, without the check digit"
                    .to_owned()
            }
        })?;
        let check = digits::ascii(check_for(&ten));
        let mut digits = [b'0'; 11];
        digits[..10].copy_from_slice(&ten);
        digits[10] = check;
        Ok(ResidentCode(digits))
    }

    /// The eleven digits.
    pub fn as_str(&self) -> &str {
        digits::as_str(&self.0)
    }
}

impl fmt::Display for ResidentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Withholds the digits: `ResidentCode(****)`.
impl fmt::Debug for ResidentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResidentCode(****)")
    }
}

impl FromStr for ResidentCode {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResidentCode::parse(s)
    }
}

impl Serialize for ResidentCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ResidentCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::serde_str::deserialize(deserializer, "an 11-digit 住民票コード")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde_str::capture::{Scalar, scalar};
    use proptest::prelude::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as DeError, StrDeserializer};

    fn ten(s: &str) -> [u8; 10] {
        <[u8; 10]>::try_from(s.as_bytes()).expect("ten digits")
    }

    #[test]
    fn worked_example_from_the_docs() {
        assert_eq!(remainder(&ten("2472705960")), 3);
        assert_eq!(check_digit("2472705960"), Ok(8));
        let code = ResidentCode::from_ten_digits("2472705960").expect("digits");
        assert_eq!(code.as_str(), "24727059608");
    }

    #[test]
    fn weights_from_the_left_are_5_4_3_2_7_6_5_4_3_2() {
        let weights = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
        for (position, weight) in weights.iter().enumerate() {
            let mut digits = [b'0'; 10];
            digits[position] = b'1';
            assert_eq!(remainder(&digits), *weight % 11, "position {position}");
        }
    }

    #[test]
    fn remainders_0_and_1_give_check_digit_0() {
        assert_eq!(remainder(&ten("0000000014")), 0);
        assert_eq!(check_digit("0000000014"), Ok(0));
        assert_eq!(remainder(&ten("0000000006")), 1);
        assert_eq!(check_digit("0000000006"), Ok(0));
        assert_eq!(remainder(&ten("0000000005")), 10);
        assert_eq!(check_digit("0000000005"), Ok(1));
        assert_eq!(check_digit("1234567890"), Ok(3));
    }

    #[test]
    fn parse_accepts_valid_and_rejects_wrong_check_digits() {
        for valid in ["24727059608", "24846016224", "25208017643", "12345678903"] {
            let code = ResidentCode::parse(valid).expect(valid);
            assert_eq!(code.as_str(), valid);
            assert_eq!(code.to_string(), valid);
            assert_eq!(valid.parse::<ResidentCode>(), Ok(code));
        }
        let err = ResidentCode::parse(" 24727059609 ").expect_err("must be refused");
        assert!(matches!(
            err,
            CodeError::WrongCheckDigit {
                expected: 8,
                got: 9,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "resident record code (住民票コード) has a wrong check digit: expected 8 (got 9); \
             check the number against the 住民票 or the 住基ネット record (住民票コード通知票)"
        );
    }

    #[test]
    fn errors_and_debug_never_show_the_digits() {
        let code = ResidentCode::parse("24727059608").expect("valid");
        assert_eq!(format!("{code:?}"), "ResidentCode(****)");
        for input in [
            "24727059609",
            "2472705960",
            "247270596080",
            "2472705960x",
            "24727 059608",
        ] {
            let err = ResidentCode::parse(input).expect_err("must be refused");
            for text in [err.to_string(), format!("{err:?}")] {
                assert!(!text.contains("2472705"), "{input}: {text}");
            }
        }
    }

    #[test]
    fn wrong_length_and_non_digits() {
        let err = ResidentCode::parse("2472705960").expect_err("must be refused");
        assert!(matches!(
            err,
            CodeError::WrongLength {
                got: 10,
                expected: 11,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "resident record code (住民票コード) has 10 digits, but 11 are required; a \
             住民票コード is ten digits followed by a check digit; check the number against the \
             住民票 or the 住基ネット record (住民票コード通知票)"
        );
        let err = ResidentCode::parse("24727-059608").expect_err("must be refused");
        assert!(matches!(
            err,
            CodeError::NotADigit {
                position: 6,
                found: '-',
                ..
            }
        ));
        assert_eq!(
            ResidentCode::parse(""),
            Err(CodeError::Empty { kind: KIND })
        );
        assert!(
            ResidentCode::from_ten_digits("24727059608")
                .expect_err("must be refused")
                .to_string()
                .contains("ResidentCode::parse")
        );
    }

    #[test]
    fn serde_is_a_validated_string() {
        let code = ResidentCode::parse("24727059608").expect("valid");
        assert_eq!(scalar(&code), Ok(Scalar::Str("24727059608".to_owned())));
        let de: StrDeserializer<'_, DeError> = "24727059608".into_deserializer();
        assert_eq!(ResidentCode::deserialize(de), Ok(code));
        let de: StrDeserializer<'_, DeError> = "24727059609".into_deserializer();
        assert!(ResidentCode::deserialize(de).is_err());
    }

    proptest! {
        #[test]
        fn from_ten_digits_then_parse_round_trips(base in "[0-9]{10}") {
            let code = ResidentCode::from_ten_digits(&base).expect("ten digits");
            prop_assert_eq!(&code.as_str()[..10], base.as_str());
            prop_assert_eq!(ResidentCode::parse(code.as_str()), Ok(code));
        }

        #[test]
        fn single_digit_changes_are_detected_unless_remainder_moves_between_0_and_1(
            base in "[0-9]{10}",
        ) {
            let base = ten(&base);
            let r = remainder(&base);
            for position in 0..10 {
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
        fn changing_the_check_digit_is_always_detected(base in "[0-9]{10}", wrong in 0u8..10) {
            let right = check_digit(&base).expect("digits");
            prop_assume!(wrong != right);
            let is_wrong_check_digit = matches!(
                ResidentCode::parse(&format!("{base}{wrong}")),
                Err(CodeError::WrongCheckDigit { .. })
            );
            prop_assert!(is_wrong_check_digit);
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,14}") {
            // Whatever it is given, it answers: a value that prints as
            // something it reads back, or an error that says what is wrong.
            match ResidentCode::parse(&input) {
                Ok(v) => prop_assert_eq!(ResidentCode::parse(&v.to_string()), Ok(v)),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
